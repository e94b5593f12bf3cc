/**
 * The ActorSpec contract: what every module under actors/ exports (exactly one, from index.ts).
 *
 * An actor is started by the supervisor with an ActorContext. It reads the bus through
 * `ctx.bus`, writes with `ctx.bus.send`/`publish` — only on the channels its spec declares
 * (`channels`) — and uses only the typed ports (`deps`) it declared. Every subscription and timer goes through the context, so when the actor fails the
 * supervisor can tear all of it down and start a fresh instance: a throw inside `ctx.on`
 * handlers, a rejected promise passed to `ctx.run`, or an explicit `ctx.fail(err)` is a crash.
 *
 * Validation is not failure: a rejected pod, a failed probe or a missing image is a message,
 * never a throw.
 */
import type { Observable } from 'rxjs';
import type { Clock } from './clock.ts';
import type { BusPort, EventChannels, EventName, ViewChannels, ViewName } from './bus.ts';
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

/**
 * The bus channels an actor uses, by name: the events it consumes (subscribes to) and produces
 * (sends), the views it reads and the views it writes (publishes; one writer per view). Its
 * context's bus is narrowed to exactly these, in the type (`ChannelPort`) and at run time (the
 * kernel's port throws naming the actor and the channel). Build one with `channels({...})`.
 */
export interface Channels<
  C extends EventName = EventName,
  P extends EventName = EventName,
  R extends ViewName = ViewName,
  W extends ViewName = ViewName,
> {
  readonly consumes: readonly C[];
  readonly produces: readonly P[];
  readonly reads: readonly R[];
  readonly writes: readonly W[];
}

/**
 * An actor's channel declaration, names inferred as literals (no `as const` needed); a list
 * left out is empty:
 *   const io = channels({ consumes: ['podWorker'], produces: ['runtime'], writes: ['podWorkerStates'] });
 *   export const podWorkers: ActorSpec<PodWorkersDeps, typeof io> = { ..., channels: io, start(ctx) { ... } };
 */
export function channels<
  const C extends EventName = never,
  const P extends EventName = never,
  const R extends ViewName = never,
  const W extends ViewName = never,
>(decl: {
  consumes?: readonly C[];
  produces?: readonly P[];
  reads?: readonly R[];
  writes?: readonly W[];
}): Channels<C, P, R, W> {
  return {
    consumes: decl.consumes ?? [],
    produces: decl.produces ?? [],
    reads: decl.reads ?? [],
    writes: decl.writes ?? [],
  };
}

/** The bus as one actor may use it: only the channels it declared. A view it writes it may read too. */
export interface ChannelPort<Ch extends Channels> {
  events<K extends Ch['consumes'][number]>(name: K): Observable<EventChannels[K]>;
  send<K extends Ch['produces'][number]>(name: K, msg: EventChannels[K]): void;
  view<K extends Ch['reads'][number] | Ch['writes'][number]>(name: K): Observable<ViewChannels[K]>;
  current<K extends Ch['reads'][number] | Ch['writes'][number]>(name: K): ViewChannels[K] | undefined;
  publish<K extends Ch['writes'][number]>(name: K, value: ViewChannels[K]): void;
}

/**
 * The run-time half of the contract: `port` restricted to what `actor` declared. Using any other
 * channel throws (a crash of the actor, which names actor, channel and the declaration).
 */
export function restrictPort(port: BusPort, actor: string, ch: Channels): BusPort {
  const check = (list: readonly string[], also: readonly string[], name: string, what: string, field: string) => {
    if (!list.includes(name) && !also.includes(name)) {
      throw new Error(
        `actor ${actor} ${what} ${JSON.stringify(name)}, which is not in its channels.${field} [${[...list, ...also].join(', ')}]`,
      );
    }
  };
  return {
    events: (name) => {
      check(ch.consumes, [], name, 'subscribes to event channel', 'consumes');
      return port.events(name);
    },
    send: (name, msg) => {
      check(ch.produces, [], name, 'sends on event channel', 'produces');
      port.send(name, msg);
    },
    view: (name) => {
      check(ch.reads, ch.writes, name, 'reads view', 'reads/writes');
      return port.view(name);
    },
    current: (name) => {
      check(ch.reads, ch.writes, name, 'reads view', 'reads/writes');
      return port.current(name);
    },
    publish: (name, value) => {
      check(ch.writes, [], name, 'publishes view', 'writes');
      port.publish(name, value);
    },
  };
}

export interface ActorContext<Deps, Ch extends Channels = Channels> {
  readonly id: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly bus: ChannelPort<Ch>;
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

/**
 * What an actor module exports. `Ch` is its channel declaration (`typeof` the `channels(...)`
 * value in `channels`): the context's bus is narrowed to it. Code that takes any actor writes
 * `ActorSpec<D, Channels>`.
 */
export interface ActorSpec<Deps, Ch extends Channels> extends SupervisionPolicy {
  readonly id: string;
  readonly dependsOn: readonly string[];
  readonly channels: Ch;
  start(ctx: ActorContext<Deps, Ch>): ActorInstance | void | Promise<ActorInstance | void>;
}

/** A spec bound to its deps, ready for the supervisor. */
export interface ChildSpec extends SupervisionPolicy {
  readonly id: string;
  readonly dependsOn: readonly string[];
  /** Absent only for hand-made children (kernel specs): their port is not restricted. */
  readonly channels?: Channels;
  start(ctx: ActorContext<unknown>): ActorInstance | void | Promise<ActorInstance | void>;
  readonly deps: unknown;
}

export function child<Deps, Ch extends Channels>(spec: ActorSpec<Deps, Ch>, deps: Deps): ChildSpec {
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
    ctx.run(
      (async () => {
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
      })(),
    );
  };
  return {
    trigger,
    get running() {
      return running;
    },
  };
}
