/**
 * The supervisor: OTP's rules, as data on each ActorSpec.
 *
 *   start   children in `dependsOn` order (a cycle or an unknown dependency is an error)
 *   crash   a throw in an `on` handler or timer, a rejected `run`, `fail(err)`, a failing start:
 *           the instance is torn down (subscriptions, timers, its bus port) and, per its
 *           `strategy`, it alone (oneForOne), it and every child started after it (restForOne),
 *           or all children (oneForAll) are stopped in reverse order and restarted in order after
 *           a backoff (minMs doubling to maxMs, times a jitter factor; reset after a quiet period)
 *   restart permanent and transient children are restarted; temporary ones are not
 *   escalate more than `intensity` restarts within `periodMs`: `kernel.escalated`, every child
 *           stopped in reverse order, `onEscalate(reason)` (the daemon exits non-zero)
 *   stop    every child in reverse start order; pending restarts are cancelled
 *
 * A dead instance can no longer send or publish: whatever its late async callbacks try is
 * dropped, so a restarted actor never races its own ghost.
 */
import type { Observable, Subscription } from 'rxjs';
import type { ActorContext, ActorInstance, ChildSpec } from './actor.ts';
import type { Bus, BusPort } from './bus.ts';
import type { Clock, TimerId } from './clock.ts';
import type { Logger } from './log.ts';

export type ChildState = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

export interface ActorInfo {
  id: string;
  state: ChildState;
  restarts: number;
  lastError: string | null;
  lastErrorAt: number | null;
  startedAt: number | null;
  uptimeMs: number;
  dependsOn: readonly string[];
  inspect: unknown;
}

export interface SupervisorOptions {
  bus: Bus;
  clock: Clock;
  log: Logger;
  children: readonly ChildSpec[];
  /** Source of jitter; specs pass a fixed one. */
  random?: () => number;
  onEscalate?: (reason: string) => void;
}

/** One live instance of an actor: everything that must go when it dies. */
export interface InstanceHandle {
  readonly ctx: ActorContext<unknown>;
  dead: boolean;
  subs: Subscription[];
  timers: Set<TimerId>;
  intervals: Set<TimerId>;
  inspect: (() => unknown) | undefined;
  instance: ActorInstance | void;
  /** Tear down subscriptions and timers, then call the actor's stop(). Idempotent. */
  teardown(): Promise<void>;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Builds the context an actor instance runs in. `onCrash` is called at most once, on the
 * first failure; afterwards the instance is dead and all its callbacks are ignored.
 */
export function createInstance(
  spec: Pick<ChildSpec, 'id' | 'deps'>,
  env: { bus: Bus; clock: Clock; log: Logger },
  onCrash: (err: unknown) => void,
): InstanceHandle {
  const { bus, clock } = env;
  const raw = bus.port(spec.id);
  let torn: Promise<void> | undefined;
  const h: InstanceHandle = {
    dead: false,
    subs: [],
    timers: new Set(),
    intervals: new Set(),
    inspect: undefined,
    instance: undefined,
    ctx: undefined as unknown as ActorContext<unknown>,
    teardown() {
      torn ??= (async () => {
        h.dead = true;
        for (const s of h.subs) s.unsubscribe();
        h.subs = [];
        for (const t of h.timers) clock.clearTimeout(t);
        for (const t of h.intervals) clock.clearInterval(t);
        h.timers.clear();
        h.intervals.clear();
        try {
          await h.instance?.stop?.();
        } catch (e) {
          env.log.warn('actor stop failed', { actor: spec.id, error: errText(e) });
        }
      })();
      return torn;
    },
  };
  const crash = (err: unknown) => {
    if (h.dead) return;
    h.dead = true;
    onCrash(err);
  };
  const guarded = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
    if (h.dead) return;
    try {
      fn(...a);
    } catch (e) {
      crash(e);
    }
  };
  const port: BusPort = {
    events: raw.events,
    view: raw.view,
    current: raw.current,
    send: (name, msg) => {
      if (!h.dead) raw.send(name, msg);
    },
    publish: (name, value) => {
      if (!h.dead) raw.publish(name, value);
    },
  };
  const ctx: ActorContext<unknown> = {
    id: spec.id,
    clock,
    log: env.log.child(spec.id),
    bus: port,
    deps: spec.deps,
    on<T>(source: Observable<T>, fn: (value: T) => void) {
      if (h.dead) return;
      h.subs.push(source.subscribe({ next: guarded(fn), error: (e: unknown) => crash(e) }));
    },
    run(work: Promise<unknown>) {
      work.catch((e: unknown) => crash(e));
    },
    setTimeout(fn: () => void, ms: number) {
      if (h.dead) return;
      const id: TimerId = clock.setTimeout(() => {
        h.timers.delete(id);
        guarded(fn)();
      }, ms);
      h.timers.add(id);
    },
    setInterval(fn: () => void, ms: number) {
      if (h.dead) return;
      h.intervals.add(clock.setInterval(guarded(fn), ms));
    },
    fail: crash,
    setInspect(fn: () => unknown) {
      h.inspect = fn;
    },
    get stopped() {
      return h.dead;
    },
  };
  (h as { ctx: ActorContext<unknown> }).ctx = ctx;
  return h;
}

/** Orders children so each comes after everything it depends on (stable otherwise). */
export function startOrder(children: readonly ChildSpec[]): ChildSpec[] {
  const byId = new Map(children.map((c) => [c.id, c]));
  if (byId.size !== children.length) throw new Error('supervisor: duplicate child id');
  const out: ChildSpec[] = [];
  const mark = new Map<string, 'visiting' | 'done'>();
  const visit = (c: ChildSpec, path: string[]) => {
    const m = mark.get(c.id);
    if (m === 'done') return;
    if (m === 'visiting') throw new Error(`supervisor: dependency cycle: ${[...path, c.id].join(' -> ')}`);
    mark.set(c.id, 'visiting');
    for (const d of c.dependsOn) {
      const dep = byId.get(d);
      if (!dep) throw new Error(`supervisor: ${c.id} depends on unknown actor ${d}`);
      visit(dep, [...path, c.id]);
    }
    mark.set(c.id, 'done');
    out.push(c);
  };
  for (const c of children) visit(c, []);
  return out;
}

interface Child {
  spec: ChildSpec;
  state: ChildState;
  handle: InstanceHandle | undefined;
  restarts: number;
  /** Clock times of recent restarts, for the intensity window. */
  recent: number[];
  /** Consecutive crashes without a quiet period: the backoff exponent. */
  streak: number;
  lastError: string | null;
  lastErrorAt: number | null;
  startedAt: number | null;
}

export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #children: Child[];
  readonly #kernel: BusPort;
  #restartTimer: TimerId | undefined;
  #restartQueue = new Set<Child>();
  #phase: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #stopping: Promise<void> | undefined;
  /** Serializes crash handling, restarts and stop, so they never interleave. */
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#children = startOrder(opts.children).map((spec) => ({
      spec, state: 'stopped', handle: undefined, restarts: 0, recent: [], streak: 0,
      lastError: null, lastErrorAt: null, startedAt: null,
    }));
    this.#kernel = opts.bus.port('kernel');
  }

  get ids(): string[] {
    return this.#children.map((c) => c.spec.id);
  }

  async start(): Promise<void> {
    if (this.#phase !== 'idle') throw new Error('supervisor: already started');
    this.#phase = 'running';
    await this.#serial(async () => {
      for (const c of this.#children) {
        if (this.#phase !== 'running') return;
        await this.#startChild(c);
      }
    });
  }

  /** Stops every child in reverse start order. Idempotent; no restart happens afterwards. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#phase = 'stopping';
      this.#opts.clock.clearTimeout(this.#restartTimer);
      this.#restartQueue.clear();
      await this.#serial(() => this.#stopChildren(this.#children));
      this.#phase = 'stopped';
    })();
    return this.#stopping;
  }

  /** Inject a crash into a running child, as if it threw (specs, fault injection). */
  crash(id: string, err: unknown = new Error(`injected crash of ${id}`)): void {
    const c = this.#children.find((x) => x.spec.id === id);
    if (!c) throw new Error(`supervisor: no actor ${id}`);
    if (c.handle && !c.handle.dead) c.handle.ctx.fail(err);
  }

  inspect(): ActorInfo[] {
    const now = this.#opts.clock.now();
    return this.#children.map((c) => {
      let inspect: unknown;
      try {
        inspect = c.handle && !c.handle.dead ? c.handle.inspect?.() : undefined;
      } catch (e) {
        inspect = { error: errText(e) };
      }
      return {
        id: c.spec.id,
        state: c.state,
        restarts: c.restarts,
        lastError: c.lastError,
        lastErrorAt: c.lastErrorAt,
        startedAt: c.startedAt,
        uptimeMs: c.state === 'running' && c.startedAt !== null ? now - c.startedAt : 0,
        dependsOn: c.spec.dependsOn,
        inspect,
      };
    });
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch((e: unknown) => this.#opts.log.error('supervisor internal error', { error: errText(e) }));
    return next;
  }

  async #startChild(c: Child): Promise<void> {
    const { bus, clock, log } = this.#opts;
    c.state = 'starting';
    const handle = createInstance(c.spec, { bus, clock, log }, (err) => this.#onCrash(c, handle, err));
    c.handle = handle;
    try {
      const inst = await c.spec.start(handle.ctx);
      handle.instance = inst;
      if (handle.dead) {
        // It crashed during start; #onCrash has it. Make sure its stop() still runs.
        await handle.teardown();
        return;
      }
    } catch (e) {
      handle.ctx.fail(e);
      return;
    }
    c.state = 'running';
    c.startedAt = clock.now();
    this.#kernel.send('kernel', { type: 'kernel.actorStarted', id: c.spec.id, restarts: c.restarts });
    log.info('actor started', { actor: c.spec.id, restarts: c.restarts }, 1);
  }

  #onCrash(c: Child, handle: InstanceHandle, err: unknown): void {
    if (this.#phase !== 'running' || c.handle !== handle) return;
    const { clock, log } = this.#opts;
    const now = clock.now();
    c.lastError = errText(err);
    c.lastErrorAt = now;
    log.error('actor crashed', { actor: c.spec.id, error: c.lastError, stack: err instanceof Error ? err.stack : undefined });
    void this.#serial(async () => {
      await handle.teardown();
      if (this.#phase !== 'running') return;
      const p = c.spec;
      if (p.restart === 'temporary') {
        c.state = 'stopped';
        this.#kernel.send('kernel', { type: 'kernel.actorCrashed', id: p.id, error: c.lastError!, restarts: c.restarts, restarting: false });
        return;
      }
      // Quiet for a whole period: the backoff starts over.
      if (c.startedAt !== null && now - c.startedAt >= p.periodMs) c.streak = 0;
      c.recent = c.recent.filter((t) => now - t < p.periodMs);
      c.recent.push(now);
      if (c.recent.length > p.intensity) {
        c.state = 'failed';
        this.#kernel.send('kernel', { type: 'kernel.actorCrashed', id: p.id, error: c.lastError!, restarts: c.restarts, restarting: false });
        await this.#escalate(c, `${p.id} crashed ${c.recent.length} times within ${p.periodMs}ms (intensity ${p.intensity}); last error: ${c.lastError}`);
        return;
      }
      const i = this.#children.indexOf(c);
      const affected = p.strategy === 'oneForAll' ? this.#children
        : p.strategy === 'restForOne' ? this.#children.slice(i) : [c];
      const others = affected.filter((x) => x !== c);
      await this.#stopChildren(others);
      c.state = 'restarting';
      for (const x of others) x.state = 'restarting';
      const base = Math.min(p.backoff.maxMs, p.backoff.minMs * 2 ** c.streak);
      const jitter = p.backoff.jitter > 0 ? 1 + p.backoff.jitter * (2 * (this.#opts.random ?? Math.random)() - 1) : 1;
      const delay = Math.max(0, Math.round(base * jitter));
      c.streak++;
      this.#kernel.send('kernel', { type: 'kernel.actorCrashed', id: p.id, error: c.lastError!, restarts: c.restarts, restarting: true });
      log.warn('actor restarting', { actor: p.id, inMs: delay, strategy: p.strategy, affected: affected.map((x) => x.spec.id) });
      for (const x of affected) this.#restartQueue.add(x);
      this.#scheduleRestart(delay);
    });
  }

  #scheduleRestart(delay: number): void {
    const { clock } = this.#opts;
    clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = clock.setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#serial(async () => {
        if (this.#phase !== 'running') return;
        // Restart in start order whatever is queued (a cascade may have queued several).
        const queued = this.#children.filter((x) => this.#restartQueue.has(x));
        this.#restartQueue.clear();
        for (const x of queued) {
          if (this.#phase !== 'running') return;
          x.restarts++;
          await this.#startChild(x);
        }
      });
    }, delay);
  }

  async #stopChildren(list: readonly Child[]): Promise<void> {
    for (const c of [...list].reverse()) {
      const h = c.handle;
      c.handle = undefined;
      if (c.state !== 'failed') c.state = 'stopped';
      if (h) await h.teardown();
    }
  }

  async #escalate(c: Child, reason: string): Promise<void> {
    this.#opts.log.error('restart intensity exceeded: stopping', { actor: c.spec.id, reason });
    this.#kernel.send('kernel', { type: 'kernel.escalated', id: c.spec.id, reason });
    this.#phase = 'stopping';
    this.#opts.clock.clearTimeout(this.#restartTimer);
    this.#restartQueue.clear();
    await this.#stopChildren(this.#children);
    this.#phase = 'stopped';
    this.#stopping = Promise.resolve();
    this.#opts.onEscalate?.(reason);
  }
}
