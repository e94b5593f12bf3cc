/**
 * The supervisor: OTP's rules, as data on each ActorSpec.
 *
 *   start   children in `dependsOn` order (a cycle or an unknown dependency is an error)
 *   crash   a throw in an `on` handler or timer, a rejected `run`, `fail(err)`, a failing start:
 *           the instance is torn down (subscriptions, timers, its bus port) and, per its
 *           `strategy`, it alone (oneForOne), it and every child started after it (restForOne),
 *           or all children (oneForAll) are stopped in reverse order and restarted in order after
 *           a backoff (minMs doubling to maxMs, times a jitter factor; reset after a quiet period)
 *   restart permanent and transient children are restarted after a crash (an actor has no normal
 *           exit, so transient only differs from permanent by intent); temporary ones never are,
 *           not even when a sibling's crash stopped them (OTP)
 *   escalate more than the crashing child's `intensity` restarts of it within its `periodMs`
 *           (sliding window on the clock): `kernel.escalated`, every child stopped in reverse
 *           order, `onEscalate(reason)` once (the daemon exits non-zero, systemd restarts it)
 *   stop    every child in reverse start order; pending restarts are cancelled
 *
 * Start, crash handling, restarts and stop run one at a time on a promise chain, so a crash
 * reported while children are still starting is handled once they have all started.
 *
 * A dead instance can no longer send or publish: whatever its late async callbacks try is
 * dropped, so a restarted actor never races its own ghost.
 */
import type { Observable, Subscription } from 'rxjs';
import { restrictPort, type ActorContext, type ActorInstance, type ChildSpec } from './actor.ts';
import type { Bus, BusPort } from './bus.ts';
import type { Clock, TimerId } from './clock.ts';
import { errText, type Logger } from './log.ts';

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
  /** Set on the first crash or stop: from then on its callbacks, sends and publishes are ignored. */
  dead: boolean;
  subs: Subscription[];
  timers: Set<TimerId>;
  intervals: Set<TimerId>;
  inspect: (() => unknown) | undefined;
  instance: ActorInstance | void;
  /** Marks it dead, unsubscribes everything and clears its timers, synchronously. Idempotent. */
  release(): void;
  /** release(), then the actor's own stop() (a failing stop is logged). Idempotent. */
  teardown(): Promise<void>;
}

/**
 * Builds the context an actor instance runs in. `onCrash` is called at most once, on the
 * first failure, after the instance has been released (subscriptions and timers gone);
 * afterwards the instance is dead and all its callbacks are ignored.
 */
export function createInstance(
  spec: Pick<ChildSpec, 'id' | 'deps' | 'channels'>,
  env: { bus: Bus; clock: Clock; log: Logger },
  onCrash: (err: unknown) => void,
): InstanceHandle {
  const { bus, clock } = env;
  // Only the channels the actor declared (a hand-made child without a declaration gets all).
  const raw = spec.channels ? restrictPort(bus.port(spec.id), spec.id, spec.channels) : bus.port(spec.id);
  let released = false;
  let torn: Promise<void> | undefined;
  const h: InstanceHandle = {
    dead: false,
    subs: [],
    timers: new Set(),
    intervals: new Set(),
    inspect: undefined,
    instance: undefined,
    ctx: undefined as unknown as ActorContext<unknown>,
    release() {
      h.dead = true;
      if (released) return;
      released = true;
      const subs = h.subs;
      h.subs = [];
      for (const s of subs) s.unsubscribe();
      for (const t of h.timers) clock.clearTimeout(t);
      for (const t of h.intervals) clock.clearInterval(t);
      h.timers.clear();
      h.intervals.clear();
    },
    teardown() {
      torn ??= (async () => {
        h.release();
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
    h.release();
    onCrash(err);
  };
  const guarded =
    <A extends unknown[]>(fn: (...a: A) => void) =>
    (...a: A) => {
      if (h.dead) return;
      try {
        fn(...a);
      } catch (e) {
        crash(e);
      }
    };
  // A dead instance's late callbacks must not reach the bus: its replacement owns the channels now.
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
      const sub = source.subscribe({ next: guarded(fn), error: (e: unknown) => crash(e) });
      // A source that replays synchronously may have crashed the instance already.
      if (h.dead) sub.unsubscribe();
      else h.subs.push(sub);
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
  const byId = new Map<string, ChildSpec>();
  for (const c of children) {
    if (byId.has(c.id)) throw new Error(`supervisor: duplicate child id ${c.id}`);
    byId.set(c.id, c);
  }
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
  /** Clock times of recent crashes that led to a restart, for the intensity window. */
  recent: number[];
  /** Consecutive crashes without a quiet period: the backoff exponent. */
  streak: number;
  lastError: string | null;
  lastErrorAt: number | null;
  startedAt: number | null;
  /** The pending restart this child waits for, if any (see #scheduleRestart). */
  restartJob: number | undefined;
}

export class Supervisor {
  readonly #opts: SupervisorOptions;
  /** Declaration order until start(), then start order. */
  #children: Child[];
  readonly #kernel: BusPort;
  /** Pending restarts: job → its backoff timer. A child belongs to at most one job. */
  readonly #jobs = new Map<number, TimerId>();
  #nextJob = 1;
  #phase: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #stopping: Promise<void> | undefined;
  /** Serializes start, crash handling, restarts and stop, so they never interleave. */
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#children = opts.children.map((spec) => ({
      spec,
      state: 'stopped',
      handle: undefined,
      restarts: 0,
      recent: [],
      streak: 0,
      lastError: null,
      lastErrorAt: null,
      startedAt: null,
      restartJob: undefined,
    }));
    this.#kernel = opts.bus.port('kernel');
  }

  /** Child ids: in start order once started. */
  get ids(): string[] {
    return this.#children.map((c) => c.spec.id);
  }

  /**
   * Starts every child in `dependsOn` order, awaiting each start. Rejects on a duplicate id,
   * an unknown dependency or a cycle (before starting anything). A child whose start throws
   * has crashed: it is handled like any crash once the others have started.
   */
  async start(): Promise<void> {
    if (this.#phase !== 'idle') throw new Error('supervisor: already started');
    const order = startOrder(this.#children.map((c) => c.spec));
    this.#children = order.map((spec) => this.#children.find((c) => c.spec === spec)!);
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
      if (this.#phase === 'idle') {
        this.#phase = 'stopped';
        return;
      }
      if (this.#phase === 'running') this.#phase = 'stopping';
      this.#cancelRestarts();
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

  /** The actor tree for the debug socket. */
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
        // It crashed (or was stopped) during start; make sure its own stop() still runs.
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
    const p = c.spec;
    const error = errText(err);
    c.lastError = error;
    c.lastErrorAt = now;
    log.error('actor crashed', { actor: p.id, error, stack: err instanceof Error ? err.stack : undefined });
    void this.#serial(async () => {
      await handle.teardown();
      if (this.#phase !== 'running') return;
      if (p.restart === 'temporary') {
        c.state = 'stopped';
        this.#kernel.send('kernel', {
          type: 'kernel.actorCrashed',
          id: p.id,
          error,
          restarts: c.restarts,
          restarting: false,
        });
        return;
      }
      // Quiet for a whole period: the backoff starts over.
      if (c.startedAt !== null && now - c.startedAt >= p.periodMs) c.streak = 0;
      c.recent = c.recent.filter((t) => now - t < p.periodMs);
      c.recent.push(now);
      if (c.recent.length > p.intensity) {
        c.state = 'failed';
        this.#kernel.send('kernel', {
          type: 'kernel.actorCrashed',
          id: p.id,
          error,
          restarts: c.restarts,
          restarting: false,
        });
        await this.#escalate(
          c,
          `${p.id} crashed ${c.recent.length} times within ${p.periodMs}ms (intensity ${p.intensity}); last error: ${error}`,
        );
        return;
      }
      const i = this.#children.indexOf(c);
      const affected =
        p.strategy === 'oneForAll' ? this.#children : p.strategy === 'restForOne' ? this.#children.slice(i) : [c];
      const others = affected.filter((x) => x !== c);
      await this.#stopChildren(others);
      if (this.#phase !== 'running') return;
      // OTP: a temporary sibling stopped by the cascade is not restarted either.
      const restart = affected.filter((x) => x === c || x.spec.restart !== 'temporary');
      for (const x of restart) x.state = 'restarting';
      const base = Math.min(p.backoff.maxMs, p.backoff.minMs * 2 ** c.streak);
      const jitter = p.backoff.jitter > 0 ? 1 + p.backoff.jitter * (2 * (this.#opts.random ?? Math.random)() - 1) : 1;
      const delay = Math.max(0, Math.round(base * jitter));
      c.streak++;
      this.#kernel.send('kernel', {
        type: 'kernel.actorCrashed',
        id: p.id,
        error,
        restarts: c.restarts,
        restarting: true,
      });
      log.warn('actor restarting', {
        actor: p.id,
        inMs: delay,
        strategy: p.strategy,
        affected: restart.map((x) => x.spec.id),
      });
      this.#scheduleRestart(restart, delay);
    });
  }

  /**
   * Restarts `list` (in start order) after `delay`. Each crash has its own timer, so one
   * actor's long backoff never delays (or hurries) another's; a child already waiting in an
   * earlier job moves to this one, so a cascade restarts its members together and in order.
   */
  #scheduleRestart(list: readonly Child[], delay: number): void {
    const { clock } = this.#opts;
    const job = this.#nextJob++;
    const prior = new Set<number>();
    for (const x of list) {
      if (x.restartJob !== undefined) prior.add(x.restartJob);
      x.restartJob = job;
    }
    for (const j of prior) {
      if (!this.#children.some((x) => x.restartJob === j)) {
        clock.clearTimeout(this.#jobs.get(j));
        this.#jobs.delete(j);
      }
    }
    this.#jobs.set(
      job,
      clock.setTimeout(() => {
        this.#jobs.delete(job);
        void this.#serial(async () => {
          for (const x of this.#children.filter((y) => y.restartJob === job)) {
            if (this.#phase !== 'running') return;
            if (x.restartJob !== job) continue;
            x.restartJob = undefined;
            x.restarts++;
            await this.#startChild(x);
          }
        });
      }, delay),
    );
  }

  #cancelRestarts(): void {
    for (const t of this.#jobs.values()) this.#opts.clock.clearTimeout(t);
    this.#jobs.clear();
    for (const c of this.#children) c.restartJob = undefined;
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
    this.#cancelRestarts();
    await this.#stopChildren(this.#children);
    this.#phase = 'stopped';
    this.#stopping ??= Promise.resolve();
    this.#opts.onEscalate?.(reason);
  }
}
