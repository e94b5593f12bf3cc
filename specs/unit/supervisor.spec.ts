import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  channels,
  type ActorContext,
  type ActorSpec,
  type ChildSpec,
  type SupervisionPolicy,
} from '../../kernel/actor.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { Supervisor, startOrder } from '../../kernel/supervisor.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import type { KernelEvent } from '../../protocols/messages/channels.ts';

const policy: SupervisionPolicy = {
  restart: 'permanent',
  strategy: 'oneForOne',
  intensity: 10,
  periodMs: 10_000,
  backoff: { minMs: 100, maxMs: 1_000, jitter: 0 },
};

interface ActorOpts extends Partial<SupervisionPolicy> {
  dependsOn?: string[];
  /** Runs in start(), each instance. */
  setup?: (ctx: ActorContext<unknown>, instance: number) => void | Promise<void>;
  /** Throw from start() on these instance numbers (1-based). */
  failStart?: number[];
  failStop?: boolean;
}

/** A world of test actors that log their starts and stops, with clock times. */
function world(opts: { random?: () => number } = {}) {
  const bus = new Bus();
  const clock = new VirtualClock();
  const log: string[] = [];
  const starts: Array<{ id: string; at: number }> = [];
  const contexts = new Map<string, ActorContext<unknown>[]>();
  const escalations: string[] = [];
  const kernel = collect(bus, 'kernel');
  const actor = (id: string, o: ActorOpts = {}): ChildSpec => {
    const { dependsOn = [], setup, failStart = [], failStop = false, ...p } = o;
    let n = 0;
    return {
      ...policy,
      ...p,
      id,
      dependsOn,
      deps: undefined,
      async start(ctx) {
        n++;
        const list = contexts.get(id) ?? [];
        list.push(ctx);
        contexts.set(id, list);
        if (failStart.includes(n)) {
          log.push(`start-failed:${id}`);
          throw new Error(`${id} cannot start`);
        }
        log.push(`start:${id}`);
        starts.push({ id, at: clock.now() });
        await setup?.(ctx, n);
        return {
          stop() {
            log.push(`stop:${id}`);
            if (failStop) throw new Error(`${id} stop failed`);
          },
        };
      },
    };
  };
  const supervisor = (children: ChildSpec[]) =>
    new Supervisor({
      bus,
      clock,
      log: silentLogger,
      children,
      random: opts.random ?? (() => 0.5),
      onEscalate: (reason) => escalations.push(reason),
    });
  /** Let the supervisor's promise chain settle, then move virtual time. */
  const tick = (ms = 0) => clock.advanceAsync(ms);
  const ctxOf = (id: string, i = -1) => contexts.get(id)!.at(i)!;
  const state = (sup: Supervisor) => Object.fromEntries(sup.inspect().map((a) => [a.id, a.state]));
  return { bus, clock, log, starts, kernel, escalations, actor, supervisor, tick, ctxOf, state };
}

const types = (k: KernelEvent[]) => k.map((e) => `${e.type.slice('kernel.'.length)}:${e.id}`);

describe('supervisor: start and stop order', () => {
  it('starts children in dependsOn order and stops them in reverse', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('c', { dependsOn: ['b'] }),
      w.actor('b', { dependsOn: ['a'] }),
      w.actor('d'),
      w.actor('a'),
    ]);
    await sup.start();
    assert.deepEqual(w.log, ['start:a', 'start:b', 'start:c', 'start:d']);
    assert.deepEqual(sup.ids, ['a', 'b', 'c', 'd']);
    assert.deepEqual(types(w.kernel), ['actorStarted:a', 'actorStarted:b', 'actorStarted:c', 'actorStarted:d']);
    assert.deepEqual(w.state(sup), { a: 'running', b: 'running', c: 'running', d: 'running' });
    w.log.length = 0;
    await sup.stop();
    assert.deepEqual(w.log, ['stop:d', 'stop:c', 'stop:b', 'stop:a']);
    assert.deepEqual(w.state(sup), { a: 'stopped', b: 'stopped', c: 'stopped', d: 'stopped' });
  });

  it('awaits each start before the next', async () => {
    const w = world();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const sup = w.supervisor([w.actor('a', { setup: () => gate }), w.actor('b', { dependsOn: ['a'] })]);
    const started = sup.start();
    await w.tick();
    assert.deepEqual(w.log, ['start:a']);
    assert.equal(w.state(sup).a, 'starting');
    release();
    await started;
    assert.deepEqual(w.log, ['start:a', 'start:b']);
  });

  it('rejects a dependency cycle, naming it, and starts nothing', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a', { dependsOn: ['c'] }),
      w.actor('b', { dependsOn: ['a'] }),
      w.actor('c', { dependsOn: ['b'] }),
      w.actor('x'),
    ]);
    await assert.rejects(sup.start(), /dependency cycle: a -> c -> b -> a/);
    assert.deepEqual(w.log, []);
  });

  it('rejects an unknown dependency, naming both actors', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a'), w.actor('b', { dependsOn: ['nope'] })]);
    await assert.rejects(sup.start(), /b depends on unknown actor nope/);
    assert.deepEqual(w.log, []);
  });

  it('rejects duplicate ids', () => {
    const w = world();
    assert.throws(() => startOrder([w.actor('a'), w.actor('a')]), /duplicate child id a/);
  });

  it('stop is idempotent and a failing stop() is not fatal', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a'), w.actor('b', { failStop: true }), w.actor('c')]);
    await sup.start();
    const p1 = sup.stop();
    const p2 = sup.stop();
    assert.equal(p1, p2);
    await p1;
    await sup.stop();
    assert.deepEqual(
      w.log.filter((l) => l.startsWith('stop')),
      ['stop:c', 'stop:b', 'stop:a'],
    );
  });
});

describe('supervisor: crashes and strategies', () => {
  it('a throw in an on handler restarts only that actor (oneForOne), after the jittered backoff', async () => {
    // jitter 0.2, random 0.75 → factor 1 + 0.2 * (2 * 0.75 - 1) = 1.1 → 100ms * 1.1 = 110ms
    const w = world({ random: () => 0.75 });
    const sup = w.supervisor([
      w.actor('a'),
      w.actor('b', {
        dependsOn: ['a'],
        backoff: { minMs: 100, maxMs: 1_000, jitter: 0.2 },
        setup: (ctx) =>
          ctx.on(ctx.bus.events('syncLoop'), (m) => {
            if (m.type === 'syncLoop.housekeeping') throw new Error('boom');
          }),
      }),
      w.actor('c', { dependsOn: ['b'] }),
    ]);
    await sup.start();
    w.log.length = 0;
    w.kernel.length = 0;
    w.bus.port('spec').send('syncLoop', { type: 'syncLoop.housekeeping' });
    await w.tick();
    assert.deepEqual(w.log, ['stop:b']);
    assert.equal(w.state(sup).b, 'restarting');
    assert.deepEqual(w.kernel, [
      { type: 'kernel.actorCrashed', id: 'b', error: 'boom', restarts: 0, restarting: true },
    ]);
    const info = sup.inspect().find((a) => a.id === 'b')!;
    assert.equal(info.lastError, 'boom');
    assert.equal(info.lastErrorAt, 0);

    await w.tick(109);
    assert.deepEqual(w.log, ['stop:b']);
    await w.tick(1);
    assert.deepEqual(w.log, ['stop:b', 'start:b']);
    assert.deepEqual(w.starts.at(-1), { id: 'b', at: 110 });
    assert.deepEqual(w.kernel.at(-1), { type: 'kernel.actorStarted', id: 'b', restarts: 1 });
    assert.deepEqual(w.state(sup), { a: 'running', b: 'running', c: 'running' });
    assert.equal(sup.inspect().find((a) => a.id === 'b')!.restarts, 1);

    // The new instance handles the same message again (and crashes again).
    w.bus.port('spec').send('syncLoop', { type: 'syncLoop.housekeeping' });
    await w.tick();
    assert.deepEqual(w.kernel.at(-1), {
      type: 'kernel.actorCrashed',
      id: 'b',
      error: 'boom',
      restarts: 1,
      restarting: true,
    });
    await sup.stop();
  });

  it('a rejected run(), fail(), a throwing timer and a throwing start are all crashes', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('run', {
        setup: (ctx, n) => {
          if (n === 1) ctx.run(Promise.reject(new Error('rejected')));
        },
      }),
      w.actor('fail', {
        setup: (ctx, n) => {
          if (n === 1) ctx.fail(new Error('failed'));
        },
      }),
      w.actor('timer', {
        setup: (ctx, n) => {
          if (n === 1)
            ctx.setTimeout(() => {
              throw new Error('timer');
            }, 50);
        },
      }),
      w.actor('start', { failStart: [1] }),
    ]);
    await sup.start();
    await w.tick(50);
    const crashed = w.kernel.filter((k) => k.type === 'kernel.actorCrashed');
    assert.deepEqual(crashed.map((k) => [k.id, k.type === 'kernel.actorCrashed' && k.error]).sort(), [
      ['fail', 'failed'],
      ['run', 'rejected'],
      ['start', 'start cannot start'],
      ['timer', 'timer'],
    ]);
    await w.tick(1_000);
    assert.deepEqual(w.state(sup), { run: 'running', fail: 'running', timer: 'running', start: 'running' });
    await sup.stop();
  });

  it('restForOne restarts the crashing actor and every actor started after it', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a'),
      w.actor('b', { dependsOn: ['a'], strategy: 'restForOne' }),
      w.actor('c', { dependsOn: ['b'] }),
      w.actor('d', { dependsOn: ['c'] }),
    ]);
    await sup.start();
    w.log.length = 0;
    sup.crash('b', new Error('b broke'));
    await w.tick();
    assert.deepEqual(w.log, ['stop:b', 'stop:d', 'stop:c']);
    assert.deepEqual(w.state(sup), { a: 'running', b: 'restarting', c: 'restarting', d: 'restarting' });
    await w.tick(100);
    assert.deepEqual(w.log, ['stop:b', 'stop:d', 'stop:c', 'start:b', 'start:c', 'start:d']);
    assert.deepEqual(w.state(sup), { a: 'running', b: 'running', c: 'running', d: 'running' });
    assert.deepEqual(
      sup.inspect().map((a) => a.restarts),
      [0, 1, 1, 1],
    );
    await sup.stop();
  });

  it('oneForAll restarts every child, stopped in reverse and started in order', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a'),
      w.actor('b', { dependsOn: ['a'], strategy: 'oneForAll' }),
      w.actor('c', { dependsOn: ['b'] }),
    ]);
    await sup.start();
    w.log.length = 0;
    sup.crash('b');
    await w.tick(100);
    assert.deepEqual(w.log, ['stop:b', 'stop:c', 'stop:a', 'start:a', 'start:b', 'start:c']);
    assert.deepEqual(w.state(sup), { a: 'running', b: 'running', c: 'running' });
    await sup.stop();
  });

  it("a temporary child is never restarted, not even by a sibling's oneForAll", async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a', { strategy: 'oneForAll' }),
      w.actor('t', { restart: 'temporary' }),
      w.actor('u', { restart: 'temporary' }),
    ]);
    await sup.start();
    w.log.length = 0;
    sup.crash('t', new Error('t broke'));
    await w.tick(60_000);
    assert.deepEqual(w.log, ['stop:t']);
    assert.deepEqual(w.kernel.at(-1), {
      type: 'kernel.actorCrashed',
      id: 't',
      error: 't broke',
      restarts: 0,
      restarting: false,
    });
    assert.equal(w.state(sup).t, 'stopped');

    sup.crash('a');
    await w.tick(60_000);
    assert.deepEqual(w.log, ['stop:t', 'stop:a', 'stop:u', 'start:a']);
    assert.deepEqual(w.state(sup), { a: 'running', t: 'stopped', u: 'stopped' });
    await sup.stop();
  });

  it('transient children are restarted after a crash', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a', { restart: 'transient' })]);
    await sup.start();
    sup.crash('a');
    await w.tick(100);
    assert.deepEqual(w.log, ['start:a', 'stop:a', 'start:a']);
    await sup.stop();
  });
});

describe('supervisor: a dead instance', () => {
  it('cannot send or publish after it crashed; its replacement can', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a')]);
    const sent = collect(w.bus, 'syncLoop');
    await sup.start();
    const old = w.ctxOf('a');
    old.bus.publish('plegHealth', { healthy: true, lastRelist: 1, lastError: '' });
    sup.crash('a');
    assert.equal(old.stopped, true);
    old.bus.send('syncLoop', { type: 'syncLoop.syncTick' });
    old.bus.publish('plegHealth', { healthy: false, lastRelist: 2, lastError: 'ghost' });
    await w.tick(100);
    old.bus.send('syncLoop', { type: 'syncLoop.syncTick' });
    assert.deepEqual(sent, []);
    assert.equal(w.bus.port('x').current('plegHealth')?.lastError, '');
    const fresh = w.ctxOf('a');
    assert.notEqual(fresh, old);
    fresh.bus.send('syncLoop', { type: 'syncLoop.housekeeping' });
    fresh.bus.publish('plegHealth', { healthy: true, lastRelist: 3, lastError: '' });
    assert.deepEqual(sent, [{ type: 'syncLoop.housekeeping' }]);
    assert.equal(w.bus.port('x').current('plegHealth')?.lastRelist, 3);
    await sup.stop();
  });

  it('ignores late async callbacks: a rejection after death is not a second crash', async () => {
    const w = world();
    let reject!: (e: unknown) => void;
    const sup = w.supervisor([
      w.actor('a', {
        setup: (ctx, n) => {
          if (n === 1)
            ctx.run(
              new Promise((_r, j) => {
                reject = j;
              }),
            );
        },
      }),
    ]);
    await sup.start();
    sup.crash('a', new Error('first'));
    await w.tick();
    reject(new Error('late'));
    await w.tick(100);
    const crashes = w.kernel.filter((k) => k.type === 'kernel.actorCrashed');
    assert.equal(crashes.length, 1);
    assert.equal(w.state(sup).a, 'running');
    await sup.stop();
  });

  it("a throw on a view's synchronous replay crashes it during start, leaving no subscription", async () => {
    const w = world();
    let calls = 0;
    w.bus.port('pleg').publish('plegHealth', { healthy: false, lastRelist: 0, lastError: 'x' });
    const sup = w.supervisor([
      w.actor('a', {
        setup: (ctx, n) =>
          ctx.on(ctx.bus.view('plegHealth'), () => {
            calls++;
            if (n === 1) throw new Error('bad view');
          }),
      }),
    ]);
    await sup.start();
    assert.equal(calls, 1);
    await w.tick();
    assert.equal(w.state(sup).a, 'restarting');
    w.bus.port('pleg').publish('plegHealth', { healthy: true, lastRelist: 1, lastError: '' });
    assert.equal(calls, 1);
    await w.tick(100);
    assert.equal(calls, 2, 'the new instance rebuilds from the view');
    assert.equal(w.state(sup).a, 'running');
    await sup.stop();
  });

  it('has its subscriptions and timers cleared at once', async () => {
    const w = world();
    let fired = 0;
    let seen = 0;
    const sup = w.supervisor([
      w.actor('a', {
        setup: (ctx, n) => {
          if (n !== 1) return;
          ctx.setInterval(() => fired++, 10);
          ctx.setTimeout(() => fired++, 1_000);
          ctx.on(ctx.bus.events('syncLoop'), () => seen++);
        },
      }),
    ]);
    await sup.start();
    await w.tick(25);
    assert.equal(fired, 2);
    assert.equal(w.clock.pending(), 2);
    sup.crash('a');
    assert.equal(w.clock.pending(), 0, 'cleared synchronously, before the supervisor handles the crash');
    w.bus.port('spec').send('syncLoop', { type: 'syncLoop.syncTick' });
    assert.equal(seen, 0);
    await w.tick();
    assert.equal(w.clock.pending(), 1, 'only the restart timer');
    await w.tick(5_000);
    assert.equal(fired, 2);
    await sup.stop();
  });
});

describe('supervisor: backoff', () => {
  it('doubles up to maxMs and starts over after a quiet period', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a', { backoff: { minMs: 100, maxMs: 400, jitter: 0 }, periodMs: 5_000 })]);
    await sup.start();
    const delays: number[] = [];
    const crashAndWait = async () => {
      const at = w.clock.now();
      const n = w.starts.length;
      sup.crash('a');
      while (w.starts.length === n) await w.tick(1);
      delays.push(w.starts.at(-1)!.at - at);
    };
    for (let i = 0; i < 5; i++) await crashAndWait();
    assert.deepEqual(delays, [100, 200, 400, 400, 400]);
    await w.tick(5_000);
    await crashAndWait();
    await crashAndWait();
    assert.deepEqual(delays.slice(5), [100, 200]);
    await sup.stop();
  });

  it('jitter spans [1 - jitter, 1 + jitter]', async () => {
    for (const [r, expected] of [
      [0, 50],
      [1, 150],
      [0.5, 100],
    ] as const) {
      const w = world({ random: () => r });
      const sup = w.supervisor([w.actor('a', { backoff: { minMs: 100, maxMs: 1_000, jitter: 0.5 } })]);
      await sup.start();
      sup.crash('a');
      await w.tick(expected - 1);
      assert.equal(w.starts.length, 1, `random ${r}: not before ${expected}ms`);
      await w.tick(1);
      assert.equal(w.starts.length, 2, `random ${r}: at ${expected}ms`);
      await sup.stop();
    }
  });

  it('gives each crash its own timer: a long backoff never delays another actor', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('slow', { backoff: { minMs: 1_000, maxMs: 1_000, jitter: 0 } }),
      w.actor('fast', { backoff: { minMs: 10, maxMs: 10, jitter: 0 } }),
    ]);
    await sup.start();
    sup.crash('slow');
    await w.tick();
    sup.crash('fast');
    await w.tick(10);
    assert.deepEqual(
      w.starts.map((s) => `${s.id}@${s.at}`),
      ['slow@0', 'fast@0', 'fast@10'],
    );
    await w.tick(990);
    assert.deepEqual(
      w.starts.map((s) => `${s.id}@${s.at}`),
      ['slow@0', 'fast@0', 'fast@10', 'slow@1000'],
    );
    await sup.stop();
  });

  it("a cascade takes over a sibling's pending restart, so the group restarts together and in order", async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a', { strategy: 'oneForAll', backoff: { minMs: 100, maxMs: 100, jitter: 0 } }),
      w.actor('b', { dependsOn: ['a'], backoff: { minMs: 1_000, maxMs: 1_000, jitter: 0 } }),
    ]);
    await sup.start();
    sup.crash('b');
    await w.tick();
    sup.crash('a');
    await w.tick();
    assert.equal(w.clock.pending(), 1, "b's own timer was cancelled");
    await w.tick(100);
    assert.deepEqual(
      w.starts.map((s) => `${s.id}@${s.at}`),
      ['a@0', 'b@0', 'a@100', 'b@100'],
    );
    await w.tick(5_000);
    assert.equal(w.starts.length, 4);
    await sup.stop();
  });

  it('supervisor.stop() cancels pending restarts', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a'), w.actor('b')]);
    await sup.start();
    sup.crash('a');
    await w.tick();
    assert.equal(w.clock.pending(), 1);
    await sup.stop();
    assert.equal(w.clock.pending(), 0);
    await w.tick(60_000);
    assert.deepEqual(w.log, ['start:a', 'start:b', 'stop:a', 'stop:b']);
    assert.deepEqual(w.state(sup), { a: 'stopped', b: 'stopped' });
    sup.crash('b');
    await w.tick(60_000);
    assert.equal(w.kernel.filter((k) => k.type === 'kernel.actorCrashed').length, 1);
  });
});

describe('supervisor: restart intensity', () => {
  it('escalates on one restart more than intensity within periodMs: all stopped in reverse, onEscalate once', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a'),
      w.actor('b', { dependsOn: ['a'], intensity: 2, periodMs: 1_000 }),
      w.actor('c', { dependsOn: ['b'] }),
    ]);
    await sup.start();
    for (let i = 0; i < 2; i++) {
      sup.crash('b', new Error(`crash ${i}`));
      await w.tick(300); // crashes at 0 and 300, restarts at 100 and 500
    }
    assert.equal(w.state(sup).b, 'running');
    assert.deepEqual(w.escalations, []);
    w.log.length = 0;
    sup.crash('b', new Error('third'));
    await w.tick();
    assert.deepEqual(w.log, ['stop:b', 'stop:c', 'stop:a']);
    assert.equal(w.escalations.length, 1);
    assert.match(w.escalations[0]!, /b crashed 3 times within 1000ms \(intensity 2\); last error: third/);
    const esc = w.kernel.filter((k) => k.type === 'kernel.escalated');
    assert.equal(esc.length, 1);
    assert.equal(esc[0]!.id, 'b');
    assert.deepEqual(w.kernel.at(-2), {
      type: 'kernel.actorCrashed',
      id: 'b',
      error: 'third',
      restarts: 2,
      restarting: false,
    });
    assert.deepEqual(w.state(sup), { a: 'stopped', b: 'failed', c: 'stopped' });
    assert.equal(w.clock.pending(), 0);
    await w.tick(60_000);
    await sup.stop();
    assert.deepEqual(w.log, ['stop:b', 'stop:c', 'stop:a']);
    assert.equal(w.escalations.length, 1);
  });

  it('counts restarts in a sliding window: crashes spread wider than periodMs never escalate', async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a', { intensity: 2, periodMs: 1_000, backoff: { minMs: 10, maxMs: 10, jitter: 0 } }),
    ]);
    await sup.start();
    for (let i = 0; i < 10; i++) {
      sup.crash('a');
      await w.tick(501);
    }
    assert.deepEqual(w.escalations, []);
    assert.equal(w.state(sup).a, 'running');
    assert.equal(sup.inspect()[0]!.restarts, 10);
    await sup.stop();
  });

  it('a child crashing during start() counts too', async () => {
    const w = world();
    const sup = w.supervisor([w.actor('a'), w.actor('b', { failStart: [1, 2, 3], intensity: 2 })]);
    await sup.start();
    await w.tick(10_000);
    assert.equal(w.escalations.length, 1);
    assert.deepEqual(w.log, ['start:a', 'start-failed:b', 'start-failed:b', 'start-failed:b', 'stop:a']);
  });
});

describe('supervisor: inspect', () => {
  it("reports state, restarts, last error, uptime, dependencies and the actor's own snapshot", async () => {
    const w = world();
    const sup = w.supervisor([
      w.actor('a', { setup: (ctx, n) => ctx.setInspect(() => ({ instance: n })) }),
      w.actor('b', { dependsOn: ['a'] }),
    ]);
    await sup.start();
    await w.tick(1_000);
    sup.crash('a', new Error('bad'));
    await w.tick(100);
    await w.tick(50);
    assert.deepEqual(sup.inspect(), [
      {
        id: 'a',
        state: 'running',
        restarts: 1,
        lastError: 'bad',
        lastErrorAt: 1_000,
        startedAt: 1_100,
        uptimeMs: 50,
        dependsOn: [],
        inspect: { instance: 2 },
      },
      {
        id: 'b',
        state: 'running',
        restarts: 0,
        lastError: null,
        lastErrorAt: null,
        startedAt: 0,
        uptimeMs: 1_150,
        dependsOn: ['a'],
        inspect: undefined,
      },
    ]);
    await sup.stop();
  });
});

describe('kernel/testing: startActor', () => {
  interface PingDeps {
    every: number;
  }
  const stops: string[] = [];
  const pingChannels = channels({ consumes: ['plegControl', 'syncLoop'], produces: ['syncLoop'] });
  const ping: ActorSpec<PingDeps, typeof pingChannels> = {
    ...policy,
    id: 'ping',
    dependsOn: [],
    channels: pingChannels,
    start(ctx) {
      let n = 0;
      ctx.setInterval(() => ctx.bus.send('syncLoop', { type: 'syncLoop.syncTick' }), ctx.deps.every);
      ctx.on(ctx.bus.events('plegControl'), () => {
        throw new Error('no relist here');
      });
      ctx.on(ctx.bus.events('syncLoop'), () => {
        n++;
      });
      ctx.setInspect(() => ({ n }));
      return {
        stop: () => {
          stops.push('ping');
        },
      };
    },
  };

  it('runs the actor in a real context on a virtual clock', async () => {
    const t = await startActor(ping, { every: 10 });
    const ticks = collect(t.bus, 'syncLoop');
    t.clock.advance(35);
    assert.equal(ticks.length, 3);
    assert.deepEqual(t.inspect(), { n: 3 });
    assert.equal(t.ctx.deps.every, 10);
    await t.stop();
    assert.equal(t.dead, true);
    assert.equal(t.clock.pending(), 0);
  });

  it('a crash kills the instance as under the supervisor, and is recorded', async () => {
    stops.length = 0;
    const t = await startActor(ping, { every: 10 });
    const ticks = collect(t.bus, 'syncLoop');
    t.bus.port('spec').send('plegControl', { type: 'pleg.relist' });
    assert.equal(t.crashes.length, 1);
    assert.match(String(t.crashes[0]), /no relist here/);
    assert.equal(t.dead, true);
    await t.clock.advanceAsync(100);
    assert.deepEqual(ticks, [], 'its timers are gone');
    assert.deepEqual(stops, ['ping'], 'its stop() ran');
    t.ctx.bus.send('syncLoop', { type: 'syncLoop.syncTick' });
    assert.deepEqual(ticks, [], 'and it can no longer send');
  });

  it('a throwing start is a crash; a ChildSpec and a shared bus and clock work too', async () => {
    const bus = new Bus();
    const clock = new VirtualClock(500);
    const bad: ChildSpec = {
      ...policy,
      id: 'bad',
      dependsOn: [],
      deps: 7,
      start() {
        throw new Error('nope');
      },
    };
    const t = await startActor(bad, 7, { bus, clock });
    assert.equal(t.bus, bus);
    assert.equal(t.clock, clock);
    assert.equal(t.instance, undefined);
    assert.match(String(t.crashes[0]), /nope/);
  });
});
