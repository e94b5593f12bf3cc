import { startActor as startKernelActor } from '../../kernel/testing.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ActorSpec, Channels } from '../../kernel/actor.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import type { Container, PodSandbox } from '../../protocols/cri/types.ts';
import type { PlegEvent, PlegHealth } from '../../protocols/messages/channels.ts';
import { pleg } from '../../actors/pleg/index.ts';
import {
  computeEvents,
  convertContainerState,
  convertSandboxState,
  generateEvents,
  goDuration,
  groupByPod,
  toRuntimePods,
} from '../../actors/pleg/relist.ts';
import type { PlegState, PodRecords } from '../../actors/pleg/relist.ts';
import { FakeCri } from '../support/fake-cri.ts';

// ---------------------------------------------------------------------------------------------
// a minimal actor harness (until kernel/testing.ts lands)

/** One actor on the virtual clock, as the supervisor would run it (kernel/testing). */
function startActor<D>(spec: ActorSpec<D, Channels>, deps: D, bus: Bus, clock: VirtualClock) {
  return startKernelActor(spec, deps, { bus, clock });
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

// ---------------------------------------------------------------------------------------------
// pure diff

describe('pleg relist: generateEvents (upstream generic.go), every old → new pair', () => {
  const states: PlegState[] = ['non-existent', 'running', 'exited', 'unknown'];
  const expected: Record<PlegState, Record<PlegState, string[]>> = {
    'non-existent': {
      'non-existent': [],
      running: ['pleg.containerStarted'],
      exited: ['pleg.containerDied'],
      unknown: ['pleg.containerChanged'],
    },
    running: {
      'non-existent': ['pleg.containerDied', 'pleg.containerRemoved'],
      running: [],
      exited: ['pleg.containerDied'],
      unknown: ['pleg.containerChanged'],
    },
    exited: {
      'non-existent': ['pleg.containerRemoved'],
      running: ['pleg.containerStarted'],
      exited: [],
      unknown: ['pleg.containerChanged'],
    },
    unknown: {
      'non-existent': ['pleg.containerDied', 'pleg.containerRemoved'],
      running: ['pleg.containerStarted'],
      exited: ['pleg.containerDied'],
      unknown: [],
    },
  };
  for (const from of states) {
    for (const to of states) {
      it(`${from} → ${to}: ${expected[from][to].join(', ') || 'nothing'}`, () => {
        for (const sandbox of [false, true]) {
          const evs = generateEvents('uid-1', 'c1', sandbox, from, to);
          assert.deepEqual(
            evs.map((e) => e.type),
            expected[from][to],
          );
          for (const e of evs)
            assert.deepEqual(
              { podUid: e.podUid, containerId: e.containerId, sandbox: e.sandbox },
              { podUid: 'uid-1', containerId: 'c1', sandbox },
            );
        }
      });
    }
  }

  it('maps CRI states like upstream: CREATED and UNKNOWN are unknown; NOTREADY sandboxes are exited', () => {
    assert.equal(convertContainerState('CONTAINER_CREATED'), 'unknown');
    assert.equal(convertContainerState('CONTAINER_RUNNING'), 'running');
    assert.equal(convertContainerState('CONTAINER_EXITED'), 'exited');
    assert.equal(convertContainerState('CONTAINER_UNKNOWN'), 'unknown');
    assert.equal(convertSandboxState('SANDBOX_READY'), 'running');
    assert.equal(convertSandboxState('SANDBOX_NOTREADY'), 'exited');
  });
});

function sb(id: string, uid: string, state: PodSandbox['state'] = 'SANDBOX_READY', labelled = true): PodSandbox {
  return {
    id,
    metadata: { name: `pod-${uid}`, namespace: 'ns', uid, attempt: 0 },
    state,
    createdAt: 0,
    labels: labelled ? { 'io.kubernetes.pod.uid': uid } : {},
    annotations: {},
    runtimeHandler: '',
  };
}

function ctr(
  id: string,
  uid: string | undefined,
  state: Container['state'],
  annotations: Record<string, string> = {},
): Container {
  return {
    id,
    podSandboxId: 's',
    metadata: { name: id, attempt: 0 },
    image: { image: 'busybox' },
    imageRef: 'sha256:x',
    state,
    createdAt: 0,
    labels: uid
      ? { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.pod.name': `pod-${uid}`, 'io.kubernetes.pod.namespace': 'ns' }
      : {},
    annotations,
  };
}

describe('pleg relist: grouping and diffing whole relists', () => {
  it('groups by the pod uid label (sandboxes fall back to metadata.uid) and skips objects with none', () => {
    const recs = groupByPod(
      [sb('s1', 'a'), sb('s2', 'b', 'SANDBOX_NOTREADY', false)],
      [
        ctr('c1', 'a', 'CONTAINER_RUNNING', { 'io.kubernetes.pod.terminationGracePeriod': '45' }),
        ctr('c2', 'b', 'CONTAINER_CREATED'),
        ctr('stray', undefined, 'CONTAINER_RUNNING'),
      ],
    );
    assert.deepEqual([...recs.keys()], ['a', 'b']);
    assert.deepEqual([...recs.get('a')!.containers], [['c1', 'running']]);
    assert.deepEqual([...recs.get('a')!.sandboxes], [['s1', 'running']]);
    assert.deepEqual([...recs.get('b')!.containers], [['c2', 'unknown']]);
    assert.deepEqual([...recs.get('b')!.sandboxes], [['s2', 'exited']]);
    const pods = toRuntimePods(recs);
    assert.deepEqual(pods.get('a'), {
      uid: 'a',
      name: 'pod-a',
      namespace: 'ns',
      gracePeriodSeconds: 45,
      sandboxIds: ['s1'],
      containerIds: ['c1'],
    });
    assert.deepEqual(pods.get('b'), {
      uid: 'b',
      name: 'pod-b',
      namespace: 'ns',
      sandboxIds: ['s2'],
      containerIds: ['c2'],
    });
  });

  it('orders events by pod uid, then id, Died before Removed; sandboxes are flagged', () => {
    const prev = groupByPod(
      [sb('s-b', 'b')],
      [ctr('c-b2', 'b', 'CONTAINER_RUNNING'), ctr('c-b1', 'b', 'CONTAINER_EXITED')],
    );
    const next = groupByPod(
      [sb('s-a', 'a'), sb('s-b', 'b', 'SANDBOX_NOTREADY')],
      [ctr('c-a2', 'a', 'CONTAINER_RUNNING'), ctr('c-a1', 'a', 'CONTAINER_CREATED')],
    );
    assert.deepEqual(computeEvents(prev, next), [
      { type: 'pleg.containerChanged', podUid: 'a', containerId: 'c-a1', sandbox: false },
      { type: 'pleg.containerStarted', podUid: 'a', containerId: 'c-a2', sandbox: false },
      { type: 'pleg.containerStarted', podUid: 'a', containerId: 's-a', sandbox: true },
      { type: 'pleg.containerRemoved', podUid: 'b', containerId: 'c-b1', sandbox: false },
      { type: 'pleg.containerDied', podUid: 'b', containerId: 'c-b2', sandbox: false },
      { type: 'pleg.containerRemoved', podUid: 'b', containerId: 'c-b2', sandbox: false },
      { type: 'pleg.containerDied', podUid: 'b', containerId: 's-b', sandbox: true },
    ]);
  });

  it('the first relist (empty cache) reports running as started and exited as died', () => {
    const empty: PodRecords = new Map();
    const next = groupByPod([sb('s', 'a')], [ctr('c1', 'a', 'CONTAINER_RUNNING'), ctr('c2', 'a', 'CONTAINER_EXITED')]);
    assert.deepEqual(
      computeEvents(empty, next).map((e) => `${e.type} ${e.containerId}`),
      ['pleg.containerStarted c1', 'pleg.containerDied c2', 'pleg.containerStarted s'],
    );
    assert.deepEqual(computeEvents(next, next), []);
  });

  it('formats durations like Go', () => {
    assert.equal(goDuration(0), '0s');
    assert.equal(goDuration(250), '250ms');
    assert.equal(goDuration(180_000), '3m0s');
    assert.equal(goDuration(181_500), '3m1.5s');
    assert.equal(goDuration(3_723_040), '1h2m3.04s');
  });
});

// ---------------------------------------------------------------------------------------------
// the actor, against the fake runtime

const UID = 'uid-web';

async function runPod(cri: FakeCri, uid = UID, name = 'web'): Promise<{ sandbox: string; container: string }> {
  const sbConfig = {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'default' },
  };
  const sandbox = await cri.runPodSandbox(sbConfig);
  const container = await cri.createContainer(
    sandbox,
    {
      metadata: { name: 'app', attempt: 0 },
      image: { image: 'busybox' },
      labels: {
        'io.kubernetes.pod.uid': uid,
        'io.kubernetes.pod.name': name,
        'io.kubernetes.pod.namespace': 'default',
        'io.kubernetes.container.name': 'app',
      },
      annotations: { 'io.kubernetes.pod.terminationGracePeriod': '30' },
    },
    sbConfig,
  );
  await cri.startContainer(container);
  return { sandbox, container };
}

async function setup(opts: { bus?: Bus; clock?: VirtualClock; cri?: FakeCri } = {}) {
  const clock = opts.clock ?? new VirtualClock(1_000_000);
  const bus = opts.bus ?? new Bus();
  const cri = opts.cri ?? new FakeCri({ clock });
  cri.addImage('busybox');
  const events: PlegEvent[] = [];
  const health: PlegHealth[] = [];
  const watcher = bus.port('spec');
  const subs = [
    watcher.events('pleg').subscribe((e) => events.push(e)),
    watcher.view('plegHealth').subscribe((h) => health.push(h)),
  ];
  const actor = await startActor(pleg, { cri, relistPeriodMs: 1000 }, bus, clock);
  await settle();
  const relist = async () => {
    watcher.send('plegControl', { type: 'pleg.relist' });
    await settle();
  };
  const lists = () => cri.calls.filter((c) => c.method === 'ListPodSandbox').length;
  const take = () => events.splice(0).map((e) => `${e.type} ${e.sandbox ? 'sandbox' : 'container'} ${e.containerId}`);
  return {
    clock,
    bus,
    cri,
    actor,
    events,
    health,
    relist,
    lists,
    take,
    watcher,
    done: () => subs.forEach((s) => s.unsubscribe()),
  };
}

describe('pleg actor', () => {
  it('relists at once on start, then every period from its own timer', async () => {
    const t = await setup();
    assert.equal(t.lists(), 1);
    assert.deepEqual(t.cri.calls.slice(0, 2), [
      { method: 'ListPodSandbox', args: [] },
      { method: 'ListContainers', args: [] },
    ]);
    await t.clock.advanceAsync(1000);
    assert.equal(t.lists(), 2);
    await t.clock.advanceAsync(3000);
    assert.equal(t.lists(), 5);
    const h = t.bus.port('x').current('plegHealth');
    assert.deepEqual(h, { healthy: true, lastRelist: 1_000_000, lastError: '' });
    assert.deepEqual(t.actor.crashes, []);
    await t.actor.stop();
  });

  it('reports each relist, failed or not, on plegRelists: its duration and the interval since the last successful one began', async () => {
    const clock = new VirtualClock(5000);
    const cri = new FakeCri({ clock });
    const bus = new Bus();
    const relisted: unknown[] = [];
    const sub = bus
      .port('spec')
      .events('plegRelists')
      .subscribe((m) => relisted.push(m));
    const t = await setup({ clock, cri, bus });
    await t.clock.advanceAsync(1000);
    cri.setDown(true);
    await t.clock.advanceAsync(1000);
    cri.setDown(false);
    await t.clock.advanceAsync(1000);
    sub.unsubscribe();
    assert.deepEqual(
      relisted.map((m) => ({ ...(m as object), durationMs: 0 })),
      [
        { type: 'pleg.relisted', durationMs: 0 },
        { type: 'pleg.relisted', durationMs: 0, intervalMs: 1000 },
        // the failed one: since the last successful relist; the next one: since that same relist
        { type: 'pleg.relisted', durationMs: 0, intervalMs: 1000 },
        { type: 'pleg.relisted', durationMs: 0, intervalMs: 2000 },
      ],
    );
    assert.ok(relisted.every((m) => (m as { durationMs: number }).durationMs >= 0));
    await t.actor.stop();
  });

  it('start → exit → remove produce the right events, in order', async () => {
    const t = await setup();
    const { sandbox, container } = await runPod(t.cri);
    await t.relist();
    const startedOrder = [sandbox, container].sort();
    assert.deepEqual(
      t.take(),
      startedOrder.map((id) => `pleg.containerStarted ${id === sandbox ? 'sandbox' : 'container'} ${id}`),
    );
    assert.deepEqual(t.events, []);

    await t.relist();
    assert.deepEqual(t.take(), [], 'nothing changed, nothing sent');

    t.cri.exitContainer(container, 1);
    await t.relist();
    assert.deepEqual(t.take(), [`pleg.containerDied container ${container}`]);

    await t.cri.removeContainer(container);
    await t.relist();
    assert.deepEqual(t.take(), [`pleg.containerRemoved container ${container}`]);

    await t.cri.stopPodSandbox(sandbox);
    await t.relist();
    assert.deepEqual(t.take(), [`pleg.containerDied sandbox ${sandbox}`]);

    await t.cri.removePodSandbox(sandbox);
    await t.relist();
    assert.deepEqual(t.take(), [`pleg.containerRemoved sandbox ${sandbox}`]);
    assert.equal(t.bus.port('x').current('runtimePods')?.size, 0);
    assert.deepEqual(t.actor.crashes, []);
    await t.actor.stop();
  });

  it('a running container removed between relists is reported died, then removed; a created one is changed', async () => {
    const t = await setup();
    const { sandbox, container } = await runPod(t.cri);
    await t.relist();
    t.take();
    const created = await t.cri.createContainer(
      sandbox,
      {
        metadata: { name: 'side', attempt: 0 },
        image: { image: 'busybox' },
        labels: { 'io.kubernetes.pod.uid': UID },
      },
      { metadata: { name: 'web', namespace: 'default', uid: UID, attempt: 0 } },
    );
    await t.cri.removeContainer(container);
    await t.relist();
    assert.deepEqual(t.take(), [
      ...[container, created]
        .sort()
        .flatMap((id) =>
          id === container
            ? [`pleg.containerDied container ${id}`, `pleg.containerRemoved container ${id}`]
            : [`pleg.containerChanged container ${id}`],
        ),
    ]);
    await t.actor.stop();
  });

  it('orders events of several pods by pod uid', async () => {
    const t = await setup();
    const b = await runPod(t.cri, 'uid-b', 'b');
    const a = await runPod(t.cri, 'uid-a', 'a');
    await t.relist();
    const pods = t.events.map((e) => e.podUid);
    assert.deepEqual(pods, ['uid-a', 'uid-a', 'uid-b', 'uid-b']);
    const view = t.bus.port('x').current('runtimePods')!;
    assert.deepEqual([...view.keys()], ['uid-a', 'uid-b']);
    assert.deepEqual(view.get('uid-a'), {
      uid: 'uid-a',
      name: 'a',
      namespace: 'default',
      gracePeriodSeconds: 30,
      sandboxIds: [a.sandbox],
      containerIds: [a.container],
    });
    assert.deepEqual(view.get('uid-b')!.containerIds, [b.container]);
    await t.actor.stop();
  });

  it('runtime down: no crash, cache kept, plegHealth shows the error, unhealthy after 3 minutes, recovers', async () => {
    const t = await setup();
    const { container } = await runPod(t.cri);
    await t.relist();
    t.take();
    const port = t.bus.port('x');
    const okAt = t.clock.now();

    t.cri.setDown(true);
    t.cri.exitContainer(container, 2); // happens while the kubelet cannot see it
    await t.clock.advanceAsync(1000);
    let h = port.current('plegHealth')!;
    assert.equal(h.healthy, true, 'within the threshold PLEG is still healthy');
    assert.match(h.lastError, /Unavailable/);
    assert.equal(h.lastRelist, okAt);
    assert.deepEqual(t.events, []);
    assert.equal(port.current('runtimePods')?.size, 1, 'the cache survives failures');

    await t.clock.advanceAsync(180_000);
    h = port.current('plegHealth')!;
    assert.equal(h.healthy, false);
    assert.match(h.lastError, /Unavailable/);
    assert.equal(h.lastRelist, okAt);
    const insp = t.actor.inspect() as { consecutiveFailures: number; pods: number };
    assert.ok(insp.consecutiveFailures >= 180);
    assert.equal(insp.pods, 1);

    t.cri.setDown(false);
    await t.clock.advanceAsync(1000);
    h = port.current('plegHealth')!;
    assert.equal(h.healthy, true);
    assert.equal(h.lastError, '');
    assert.equal(h.lastRelist, t.clock.now());
    assert.deepEqual(
      t.take(),
      [`pleg.containerDied container ${container}`],
      'what changed while down is reported after',
    );
    assert.deepEqual(t.actor.crashes, []);
    await t.actor.stop();
  });

  it('reports "yet to be successful" until the first relist succeeds', async () => {
    const clock = new VirtualClock();
    const cri = new FakeCri({ clock });
    cri.setDown(true);
    const t = await setup({ clock, cri });
    const h = t.bus.port('x').current('plegHealth')!;
    assert.equal(h.healthy, false);
    assert.match(h.lastError, /Unavailable/);
    assert.equal(t.health[0]!.lastError, 'pleg has yet to be successful');
    cri.setDown(false);
    await clock.advanceAsync(1000);
    assert.deepEqual(t.bus.port('x').current('plegHealth'), { healthy: true, lastRelist: 1000, lastError: '' });
    await t.actor.stop();
  });

  it('relists never overlap: requests during a hung relist coalesce into one more', async () => {
    const clock = new VirtualClock(1_000_000);
    // A deadline off the 1s tick grid, so the coalesced relist is seen on its own.
    const cri = new FakeCri({ clock, defaultTimeoutMs: 120_500 });
    const t = await setup({ clock, cri });
    t.cri.setHang(true);
    await t.relist();
    assert.equal(t.lists(), 2);
    await t.relist();
    await t.relist();
    await t.clock.advanceAsync(10_000);
    assert.equal(t.lists(), 2, 'still the one hung relist, despite 2 requests and 10 ticks');
    assert.equal((t.actor.inspect() as { inFlight: boolean }).inFlight, true);
    t.cri.setHang(false);
    await t.clock.advanceAsync(110_499);
    assert.equal(t.lists(), 2);
    // The deadline fails it; the coalesced request runs right after, before the next tick.
    await t.clock.advanceAsync(1);
    assert.equal(t.lists(), 3);
    const h = t.bus.port('x').current('plegHealth')!;
    assert.equal(h.healthy, true);
    assert.equal(h.lastError, '');
    assert.equal(h.lastRelist, t.clock.now());
    await t.clock.advanceAsync(500);
    assert.equal(t.lists(), 4);
    assert.deepEqual(t.actor.crashes, []);
    await t.actor.stop();
  });

  it('a hung runtime turns PLEG unhealthy after 3 minutes with the deadline error', async () => {
    const t = await setup();
    t.cri.setHang(true);
    await t.clock.advanceAsync(181_000);
    const h = t.bus.port('x').current('plegHealth')!;
    assert.equal(h.healthy, false);
    assert.match(h.lastError, /DeadlineExceeded/);
    await t.actor.stop();
  });

  it('a restarted instance re-reports running containers on its first relist, keeping health', async () => {
    const t = await setup();
    const { sandbox, container } = await runPod(t.cri);
    const exited = await t.cri.createContainer(
      sandbox,
      {
        metadata: { name: 'init', attempt: 0 },
        image: { image: 'busybox' },
        labels: { 'io.kubernetes.pod.uid': UID },
      },
      { metadata: { name: 'web', namespace: 'default', uid: UID, attempt: 0 } },
    );
    await t.cri.startContainer(exited);
    t.cri.exitContainer(exited, 0);
    await t.relist();
    t.take();
    await t.actor.stop();
    const healthCount = t.health.length;

    const second = await startActor(pleg, { cri: t.cri }, t.bus, t.clock);
    await settle();
    const expected = [sandbox, container, exited]
      .sort()
      .map((id) =>
        id === exited
          ? `pleg.containerDied container ${id}`
          : `pleg.containerStarted ${id === sandbox ? 'sandbox' : 'container'} ${id}`,
      );
    assert.deepEqual(t.take(), expected);
    assert.ok(
      t.health.slice(healthCount).every((h) => h.healthy),
      'no unhealthy blip across the restart',
    );
    await second.stop();
  });

  it('stops cleanly: no relist or event after stop', async () => {
    const t = await setup();
    await t.actor.stop();
    const n = t.lists();
    await runPod(t.cri);
    await t.clock.advanceAsync(5000);
    assert.equal(t.lists(), n);
    assert.deepEqual(t.events, []);
  });

  it('publishes its inspect state', async () => {
    const t = await setup();
    await runPod(t.cri);
    await t.relist();
    const i = t.actor.inspect() as Record<string, unknown>;
    assert.equal(i.pods, 1);
    assert.equal(i.containers, 1);
    assert.equal(i.sandboxes, 1);
    assert.equal(i.lastError, '');
    assert.equal(i.healthy, true);
    assert.equal(i.eventsSent, 2);
    await t.actor.stop();
  });
});
