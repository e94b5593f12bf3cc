/**
 * Helpers for specs of a single actor, without a supervisor around it.
 *
 * `startActor` runs the actor in the very context the supervisor builds (createInstance), so a
 * spec sees what production sees: a crash (a throw in an `on` handler or timer, a rejected
 * `run`, `fail`, a throwing start) kills the instance at once, its subscriptions and timers are
 * gone and whatever it sends afterwards is dropped. Nothing restarts it: the crash is recorded
 * in `crashes` for the spec to assert on.
 */
import type { ActorContext, ActorInstance, ActorSpec, Channels, ChildSpec } from './actor.ts';
import { Bus, type EventChannels, type EventName, type ViewChannels, type ViewName } from './bus.ts';
import { VirtualClock } from './clock.ts';
import { silentLogger, type Logger } from './log.ts';
import { createInstance, type InstanceHandle } from './supervisor.ts';

export interface StartedActor<Deps> {
  readonly bus: Bus;
  readonly clock: VirtualClock;
  readonly ctx: ActorContext<Deps>;
  /** What start() returned (undefined when it threw). */
  readonly instance: ActorInstance | void;
  /** Every error the instance crashed with (at most one: a crash kills it). */
  readonly crashes: unknown[];
  /** True once the instance crashed or was stopped. */
  readonly dead: boolean;
  /** What the actor's setInspect function returns now. */
  inspect(): unknown;
  /** Stops the instance as the supervisor would: subscriptions, timers, then its stop(). */
  stop(): Promise<void>;
}

export interface StartActorOptions {
  bus?: Bus;
  clock?: VirtualClock;
  log?: Logger;
  /** Defaults to the spec's id (it names the bus writer, so view ownership follows it). */
  id?: string;
}

/** Starts one actor on a real ActorContext, with a fresh Bus and VirtualClock unless given. */
export async function startActor<Deps>(
  spec: ActorSpec<Deps, Channels> | ChildSpec,
  deps: Deps,
  opts: StartActorOptions = {},
): Promise<StartedActor<Deps>> {
  const bus = opts.bus ?? new Bus();
  const clock = opts.clock ?? new VirtualClock();
  const crashes: unknown[] = [];
  const id = opts.id ?? spec.id;
  let started = false;
  const handle: InstanceHandle = createInstance(
    { id, deps, channels: spec.channels },
    { bus, clock, log: opts.log ?? silentLogger },
    (err) => {
      crashes.push(err);
      // As under the supervisor, the dead instance's own stop() runs (once start has returned it).
      if (started) void handle.teardown();
    },
  );
  const ctx = handle.ctx as ActorContext<Deps>;
  const start = spec.start as (ctx: ActorContext<Deps>) => ActorInstance | void | Promise<ActorInstance | void>;
  try {
    handle.instance = await start(ctx);
  } catch (err) {
    ctx.fail(err);
  }
  started = true;
  if (handle.dead) await handle.teardown();
  return {
    bus,
    clock,
    ctx,
    instance: handle.instance,
    crashes,
    get dead() {
      return handle.dead;
    },
    inspect: () => handle.inspect?.(),
    stop: () => handle.teardown(),
  };
}

/** Every message sent on event channel `name` from now on, in send order (any writer). */
export function collect<K extends EventName>(bus: Bus, name: K): EventChannels[K][];
/** Every value published on view `name` from now on (not the one it already holds). */
export function collect<K extends ViewName>(bus: Bus, name: K): ViewChannels[K][];
export function collect(bus: Bus, name: string): unknown[] {
  const out: unknown[] = [];
  bus.tap((_kind, channel, payload) => {
    if (channel === name) out.push(payload);
  });
  return out;
}
