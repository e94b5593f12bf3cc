/**
 * The one Clock. Nothing else in kubelet-ts calls setTimeout, setInterval or Date.now():
 * actors, RxJS timing and xstate delays all go through a Clock, so a VirtualClock can drive
 * unit specs and replay without sleeping.
 *
 * The shape is a superset of xstate v5's `clock` option ({ setTimeout, clearTimeout }), so a
 * Clock can be handed to `createActor(machine, { clock })` as it is.
 */
export type TimerId = number;

export interface Clock {
  /** Milliseconds since the Unix epoch (real) or since the virtual origin (virtual). */
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId;
  clearTimeout(id: TimerId | undefined): void;
  setInterval(fn: () => void, ms: number): TimerId;
  clearInterval(id: TimerId | undefined): void;
}

/** Wall-clock time and Node's timers. The only place that touches them. */
export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId {
    return setTimeout(fn, ms) as unknown as TimerId;
  }
  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) clearTimeout(id as unknown as NodeJS.Timeout);
  }
  setInterval(fn: () => void, ms: number): TimerId {
    return setInterval(fn, ms) as unknown as TimerId;
  }
  clearInterval(id: TimerId | undefined): void {
    if (id !== undefined) clearInterval(id as unknown as NodeJS.Timeout);
  }
}

interface VirtualTimer {
  id: TimerId;
  at: number;
  seq: number;
  fn: () => void;
  everyMs?: number;
}

/**
 * Virtual time for unit specs and replay: nothing fires until `advance`, `advanceTo` or
 * `advanceAsync` moves time forward; timers due at the same instant fire in the order they were set.
 */
export class VirtualClock implements Clock {
  #now: number;
  #nextId = 1;
  #seq = 0;
  #timers = new Map<TimerId, VirtualTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: (...args: unknown[]) => void, ms: number): TimerId {
    const id = this.#nextId++;
    // Like Node, a NaN delay means "as soon as possible" (a NaN due time would fire at once
    // on every advance and sort nowhere).
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    this.#timers.set(id, { id, at: this.#now + delay, seq: this.#seq++, fn: () => fn() });
    return id;
  }

  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  setInterval(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    const every = Number.isNaN(ms) ? 1 : Math.max(1, ms);
    this.#timers.set(id, { id, at: this.#now + every, seq: this.#seq++, fn, everyMs: every });
    return id;
  }

  clearInterval(id: TimerId | undefined): void {
    this.clearTimeout(id);
  }

  /** Number of timers waiting. */
  pending(): number {
    return this.#timers.size;
  }

  /** Clock time of the next timer, or undefined when none is set. */
  nextAt(): number | undefined {
    const t = this.#next();
    return t?.at;
  }

  #next(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.#timers.values()) {
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  advanceTo(target: number): void {
    while (this.#fireNext(target));
    this.#now = Math.max(this.#now, target);
  }

  /**
   * Like advance, but yields to the microtask/macrotask queue after every timer so that
   * promise chains started by a timer settle before the next one fires (for async actors).
   */
  async advanceAsync(
    ms: number,
    settle: () => Promise<void> = () => new Promise((r) => setImmediate(r)),
  ): Promise<void> {
    const target = this.#now + ms;
    await settle();
    while (this.#fireNext(target)) await settle();
    this.#now = Math.max(this.#now, target);
  }

  /** Fires the next timer due by `target` (moving time to it); false when none is due. */
  #fireNext(target: number): boolean {
    const t = this.#next();
    if (!t || t.at > target) return false;
    this.#now = Math.max(this.#now, t.at);
    if (t.everyMs !== undefined) {
      t.at += t.everyMs;
      t.seq = this.#seq++;
    } else {
      this.#timers.delete(t.id);
    }
    t.fn();
    return true;
  }
}
