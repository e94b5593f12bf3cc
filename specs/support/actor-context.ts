/**
 * A minimal ActorContext for actor specs, without the supervisor: a bus port, a clock, a logger,
 * and bookkeeping so a spec can see crashes (`failures`), the inspect snapshot, and stop the
 * instance (which unsubscribes everything and clears its timers, as the supervisor would).
 */
import type { Subscription } from 'rxjs';
import {
  restrictPort,
  type ActorContext,
  type ActorInstance,
  type ActorSpec,
  type Channels,
} from '../../kernel/actor.ts';
import { Bus } from '../../kernel/bus.ts';
import type { Clock, TimerId } from '../../kernel/clock.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger, type Logger } from '../../kernel/log.ts';
import type {} from '../../protocols/messages/channels.ts';

export interface TestActor<Deps> {
  ctx: ActorContext<Deps>;
  bus: Bus;
  clock: Clock;
  /** Errors the instance crashed with (throw in `on`, rejected `run`, `fail`). */
  failures: unknown[];
  inspect(): unknown;
  /** Promises handed to ctx.run, settled or not. */
  running: Promise<unknown>[];
  instance: ActorInstance | void;
  stop(): Promise<void>;
}

export interface TestContextOptions<Deps> {
  deps: Deps;
  bus?: Bus;
  clock?: Clock;
  log?: Logger;
  id?: string;
  /** The actor's channel declaration: its port is restricted to it, as the kernel's is. */
  channels?: Channels;
}

export function createTestContext<Deps>(
  id: string,
  opts: TestContextOptions<Deps>,
): Omit<TestActor<Deps>, 'instance' | 'stop'> & { teardown(): void } {
  const bus = opts.bus ?? new Bus();
  const clock = opts.clock ?? new VirtualClock();
  const subs: Subscription[] = [];
  const timeouts = new Set<TimerId>();
  const intervals = new Set<TimerId>();
  const failures: unknown[] = [];
  const running: Promise<unknown>[] = [];
  let inspectFn: () => unknown = () => undefined;
  let stopped = false;

  const fail = (err: unknown) => {
    if (!stopped) failures.push(err);
  };
  const ctx: ActorContext<Deps> = {
    id,
    clock,
    log: opts.log ?? silentLogger,
    bus: opts.channels ? restrictPort(bus.port(id), id, opts.channels) : bus.port(id),
    deps: opts.deps,
    on(source, fn) {
      subs.push(
        source.subscribe({
          next: (v) => {
            if (stopped) return;
            try {
              fn(v);
            } catch (err) {
              fail(err);
            }
          },
          error: fail,
        }),
      );
    },
    run(work) {
      running.push(work.catch((err) => fail(err)));
    },
    setTimeout(fn, ms) {
      const t: TimerId = clock.setTimeout(() => {
        timeouts.delete(t);
        if (!stopped) fn();
      }, ms);
      timeouts.add(t);
    },
    setInterval(fn, ms) {
      intervals.add(
        clock.setInterval(() => {
          if (!stopped) fn();
        }, ms),
      );
    },
    fail,
    setInspect(fn) {
      inspectFn = fn;
    },
    get stopped() {
      return stopped;
    },
  };
  const teardown = () => {
    stopped = true;
    for (const s of subs) s.unsubscribe();
    for (const t of timeouts) clock.clearTimeout(t);
    for (const t of intervals) clock.clearInterval(t);
  };
  return { ctx, bus, clock, failures, running, inspect: () => inspectFn(), teardown };
}

/** Start `spec` on a fresh test context. */
export async function startTestActor<Deps>(
  spec: ActorSpec<Deps, Channels>,
  opts: TestContextOptions<Deps>,
): Promise<TestActor<Deps>> {
  const t = createTestContext(opts.id ?? spec.id, { channels: spec.channels, ...opts });
  let instance: ActorInstance | void = undefined;
  try {
    instance = await spec.start(t.ctx);
  } catch (err) {
    t.failures.push(err);
  }
  return {
    ...t,
    instance,
    async stop() {
      t.teardown();
      if (instance && instance.stop) await instance.stop();
    },
  };
}
