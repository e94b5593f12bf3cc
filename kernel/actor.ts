/**
 * The ActorSpec contract: what every module under actors/ exports (exactly one, from index.ts).
 *
 * An actor is started by the supervisor with an ActorContext. It reads the bus through
 * `ctx.bus`, writes with `ctx.bus.send`/`publish`, and uses only the typed ports (`deps`) it
 * declared. Every subscription and timer goes through the context, so when the actor fails the
 * supervisor can tear all of it down and start a fresh instance: a throw inside `ctx.on`
 * handlers, a rejected promise passed to `ctx.run`, or an explicit `ctx.fail(err)` is a crash.
 *
 * Validation is not failure: a rejected pod, a failed probe or a missing image is a message,
 * never a throw.
 */
import type { Observable } from 'rxjs';
import type { Clock } from './clock.ts';
import type { BusPort } from './bus.ts';
import type { Logger } from './log.ts';

export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'oneForOne' | 'restForOne' | 'oneForAll';

export interface Backoff {
  minMs: number;
  maxMs: number;
  /** 0..1: each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

export interface SupervisionPolicy {
  restart: RestartType;
  /** How this child's crash affects its siblings. */
  strategy: Strategy;
  /** At most `intensity` restarts within `periodMs`; one more escalates. */
  intensity: number;
  periodMs: number;
  backoff: Backoff;
}

export interface ActorContext<Deps> {
  readonly id: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly bus: BusPort;
  readonly deps: Deps;
  /** Subscribe for the lifetime of this instance; a throw in `fn` crashes the actor. */
  on<T>(source: Observable<T>, fn: (value: T) => void): void;
  /** Run async work owned by this instance; a rejection crashes the actor. */
  run(work: Promise<unknown>): void;
  /** Clock timers owned by this instance, cleared when it stops or crashes. */
  setTimeout(fn: () => void, ms: number): void;
  setInterval(fn: () => void, ms: number): void;
  /** Crash this instance (the supervisor decides what happens next). */
  fail(err: unknown): void;
  /** Publish a JSON-able snapshot of internal state for the debug socket. */
  setInspect(fn: () => unknown): void;
  /** True once the supervisor has begun stopping this instance. */
  readonly stopped: boolean;
}

export interface ActorInstance {
  /** Graceful stop. Subscriptions/timers made through the context are cleaned up regardless. */
  stop?(): Promise<void> | void;
}

export interface ActorSpec<Deps = Record<string, never>> extends SupervisionPolicy {
  readonly id: string;
  readonly dependsOn: readonly string[];
  start(ctx: ActorContext<Deps>): ActorInstance | void | Promise<ActorInstance | void>;
}

/** A spec bound to its deps, ready for the supervisor. */
export interface ChildSpec extends SupervisionPolicy {
  readonly id: string;
  readonly dependsOn: readonly string[];
  start(ctx: ActorContext<unknown>): ActorInstance | void | Promise<ActorInstance | void>;
  readonly deps: unknown;
}

export function child<Deps>(spec: ActorSpec<Deps>, deps: Deps): ChildSpec {
  return { ...spec, deps, start: spec.start as ChildSpec['start'] };
}

export const defaultPolicy: SupervisionPolicy = {
  restart: 'permanent',
  strategy: 'oneForOne',
  intensity: 5,
  periodMs: 60_000,
  backoff: { minMs: 100, maxMs: 10_000, jitter: 0.2 },
};

/** A unit of async work an actor runs one at a time (see `serial`). */
export interface SerialWork {
  /** Start the work now, or once more after the run in progress (requests meanwhile collapse into one). */
  trigger(): void;
  readonly running: boolean;
}

/**
 * One run of `work` at a time, owned by the actor: a trigger while it runs asks for exactly one
 * more run after it (a reconcile loop's "dirty" flag). A throw is handed to `onError` and the
 * loop goes on; `onIdle` runs when the loop ends with nothing more asked (e.g. to arm the next
 * periodic run). Nothing runs once the actor is stopping.
 */
export function serial(
  ctx: Pick<ActorContext<unknown>, 'run' | 'stopped'>,
  work: () => Promise<void>,
  opts: { onError: (e: unknown) => void; onIdle?: () => void },
): SerialWork {
  let running = false;
  let again = false;
  const trigger = () => {
    if (ctx.stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    ctx.run((async () => {
      do {
        again = false;
        try {
          await work();
        } catch (e) {
          opts.onError(e);
        }
      } while (again && !ctx.stopped);
      running = false;
      if (!ctx.stopped) opts.onIdle?.();
    })());
  };
  return { trigger, get running() { return running; } };
}
