// Issue 8, defect 1: "A kill does not interrupt a sync in flight". The whole kubelet on a
// VirtualClock with a runtime whose calls take time (slowCri: 50 ms a call, StopContainer of a
// running container its whole grace period, as busybox `sleep` ignoring SIGTERM), so what is in
// flight when the kill comes, and how many stops run at once, can be read off a timeline.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { createKubelet, type Kubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { CREATE_CONCURRENCY, STOP_CONCURRENCY } from '../../actors/runtime/limiter.ts';
import { FakeCri } from '../support/fake-cri.ts';
import { slowCri, type SlowCri } from '../support/slow-cri.ts';

const DIR = '/etc/kubernetes/manifests';
const IMAGE = 'kubelet-ts.local/busybox:1.0';
const CALL_MS = 50;
const CREATES = ['runPodSandbox', 'createContainer', 'startContainer'];
const STOPS = ['stopContainer', 'removeContainer', 'stopPodSandbox', 'removePodSandbox'];

function manifest(name: string, containers: number, grace: number): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: grace,
      containers: Array.from({ length: containers }, (_, i) => ({
        name: `c${i}`,
        image: IMAGE,
        command: ['sleep', '3600'],
      })),
    },
  });
}

/** Lets every promise chain started by a timer finish before time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

interface Node {
  clock: VirtualClock;
  fake: FakeCri;
  slow: SlowCri;
  fs: MemoryStaticPodFs;
  kubelet(): Promise<Kubelet>;
  running(): Promise<number>;
  /** Advances in 100 ms steps until `done` holds (or `limitMs` of virtual time passed); the time it held. */
  until(done: () => Promise<boolean> | boolean, limitMs: number): Promise<number | undefined>;
}

function node(fake?: FakeCri, clock = new VirtualClock(1_800_000_000_000)): Node {
  const f = fake ?? new FakeCri({ clock });
  f.addImage(IMAGE);
  const slow = slowCri(f, clock, { callMs: CALL_MS });
  const fs = new MemoryStaticPodFs().mkdir(DIR);
  const n: Node = {
    clock,
    fake: f,
    slow,
    fs,
    async kubelet() {
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri: slow.cri,
        fs,
        random: () => 0.5,
      });
      // the kill reaching the pod worker, and the kill command it issues, go into the timeline
      k.bus.tap((_kind, channel, payload) => {
        const m = payload as { type?: string; updateType?: string };
        if (channel === 'podWorker' && m.type === 'podWorker.update' && m.updateType === 'kill') slow.mark('kill');
        if (channel === 'runtime' && m.type === 'runtime.killPod') slow.mark('runtime.killPod');
      });
      await k.start();
      await clock.advanceAsync(0, settle);
      return k;
    },
    async running() {
      return (await f.listContainers({ state: { state: 'CONTAINER_RUNNING' } })).length;
    },
    async until(done, limitMs) {
      const end = clock.now() + limitMs;
      while (clock.now() < end) {
        if (await done()) return clock.now();
        await clock.advanceAsync(100, settle);
      }
      return (await done()) ? clock.now() : undefined;
    },
  };
  return n;
}

describe('a kill does not interrupt a sync in flight (issue 8, defect 1)', () => {
  it('a static pod of 200 containers removed 10 s after it appeared: the sync stops at the next CRI call, the kill starts within 1 s, stops stay within the limit', async (t) => {
    const grace = 5;
    const n = node();
    n.fs.writeFile(`${DIR}/wide.json`, manifest('wide', 200, grace));
    const k = await n.kubelet();
    t.after(() => k.stop());
    const stops = n.slow.watchPeak('stopContainer');
    const removes = n.slow.watchPeak('removeContainer');
    const creates = n.slow.watchPeak('createContainer');

    await n.clock.advanceAsync(10_000, settle);
    const runningAtKill = await n.running();
    assert.ok(
      runningAtKill >= 20 && runningAtKill < 200,
      `the sync is still creating containers when the file goes (${runningAtKill} running)`,
    );
    n.fs.remove(`${DIR}/wide.json`);
    const gone = await n.until(async () => (await n.running()) === 0, 120_000);

    const tl = n.slow.timeline;
    const kill = tl.findIndex((e) => e.what === 'kill');
    assert.ok(kill >= 0, 'the removal reached the pod worker as a kill');
    const killedAt = tl[kill]!.at;
    const after = tl.slice(kill + 1);
    // The sync was between two calls (or in one) when the kill came; from there on nothing new
    // is created or started.
    const late = after.filter((e) => CREATES.includes(e.what));
    assert.deepEqual(
      late.map((e) => `${e.what} at +${e.at - killedAt}ms`),
      [],
      'no CreateContainer/StartContainer after the kill',
    );
    // The kill starts promptly: its command, then its first StopContainer.
    const killCmd = after.find((e) => e.what === 'runtime.killPod');
    const firstStop = after.find((e) => e.what === 'stopContainer');
    assert.ok(
      killCmd && killCmd.at - killedAt <= 1000,
      `runtime.killPod ${killCmd ? killCmd.at - killedAt : '(never)'} ms after the kill`,
    );
    assert.ok(
      firstStop && firstStop.at - killedAt <= 1000,
      `first StopContainer ${firstStop ? firstStop.at - killedAt : '(never)'} ms after the kill`,
    );
    // Bounded fan-out, yet in parallel; the grace period is a deadline for the whole pod.
    assert.ok(
      stops.max <= STOP_CONCURRENCY,
      `${stops.max} StopContainer calls in flight at once (limit ${STOP_CONCURRENCY})`,
    );
    assert.ok(stops.max > 1, 'containers are stopped in parallel');
    assert.equal(creates.max, 1, 'a pod creates its containers one at a time');
    assert.ok(
      gone !== undefined && gone - killedAt <= grace * 1000 + 3000,
      `nothing running ${gone === undefined ? 'never' : `${gone - killedAt} ms`} after the kill (grace ${grace}s)`,
    );
    // ... and the removal that follows removes everything, within the same bound.
    const empty = await n.until(
      async () => n.fake.containerIds().length === 0 && n.fake.sandboxIds().length === 0,
      30_000,
    );
    assert.ok(
      empty !== undefined,
      `left in the runtime: ${n.fake.containerIds().length} containers, ${n.fake.sandboxIds().length} sandboxes`,
    );
    assert.ok(
      removes.max > 1 && removes.max <= STOP_CONCURRENCY,
      `${removes.max} RemoveContainer calls in flight at once`,
    );
  });

  it('after a restart, housekeeping stops 200 orphaned containers at most STOP_CONCURRENCY at a time, within their grace period', async (t) => {
    const n = node();
    for (let i = 0; i < 20; i++) n.fs.writeFile(`${DIR}/p${i}.json`, manifest(`p${i}`, 10, 30));
    const first = await n.kubelet();
    const up = await n.until(async () => (await n.running()) === 200, 120_000);
    assert.ok(up !== undefined, `all 200 containers running (${await n.running()})`);
    await first.stop(); // SIGTERM leaves the pods running
    for (let i = 0; i < 20; i++) n.fs.remove(`${DIR}/p${i}.json`);
    const stops = n.slow.watchPeak(...STOPS);
    const second = await n.kubelet();
    t.after(() => second.stop());
    // The file source's readiness can be lost to the syncLoop's subscription order after a
    // restart (issue 8, defect 2, fixed elsewhere): say it here as the source does.
    second.bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
    const t0 = n.clock.now();
    const gone = await n.until(async () => (await n.running()) === 0, 120_000);
    assert.ok(gone !== undefined, `orphans still running: ${await n.running()}`);
    assert.ok(
      stops.max <= STOP_CONCURRENCY,
      `${stops.max} stop/remove calls in flight at once (limit ${STOP_CONCURRENCY})`,
    );
    assert.ok(stops.max > 1, 'orphans are stopped in parallel');
    // housekeeping runs every 2 s once the sources are ready; then one grace period (30 s) for all
    assert.ok(gone - t0 <= 30_000 + 10_000, `orphans stopped ${gone - t0} ms after the restart`);
  });

  it('a kill during a slow image pull starts at once; the sync creates nothing afterwards', async (t) => {
    const n = node();
    n.fake.setPullDelay(120_000);
    const slow = JSON.parse(manifest('pulling', 1, 5)) as { spec: { containers: { image: string }[] } };
    slow.spec.containers[0]!.image = 'kubelet-ts.local/slow:1.0';
    n.fs.writeFile(`${DIR}/pulling.json`, JSON.stringify(slow));
    const k = await n.kubelet();
    t.after(() => k.stop());
    await n.clock.advanceAsync(5_000, settle);
    assert.ok(n.slow.inFlight('pullImage') === 1, 'the pull is in flight');
    n.fs.remove(`${DIR}/pulling.json`);
    const killed = await n.until(() => n.slow.timeline.some((e) => e.what === 'runtime.killPod'), 5_000);
    const tl = n.slow.timeline;
    const kill = tl.find((e) => e.what === 'kill')!;
    assert.ok(
      killed !== undefined && killed - kill.at <= 1000,
      `runtime.killPod ${killed === undefined ? 'never' : `${killed - kill.at} ms`} after the kill`,
    );
    await n.clock.advanceAsync(130_000, settle); // the pull finishes on its own
    assert.deepEqual(
      tl.filter((e) => CREATES.includes(e.what) && e.what !== 'runPodSandbox').map((e) => e.what),
      [],
      'nothing created for the killed pod',
    );
  });

  it('forty pods appearing at once create sandboxes and containers at most CREATE_CONCURRENCY at a time', async (t) => {
    const n = node();
    const creates = n.slow.watchPeak(...CREATES);
    for (let i = 0; i < 40; i++) n.fs.writeFile(`${DIR}/p${i}.json`, manifest(`p${i}`, 2, 1));
    const k = await n.kubelet();
    t.after(() => k.stop());
    const up = await n.until(async () => (await n.running()) === 80, 60_000);
    assert.ok(up !== undefined, `all 80 containers running (${await n.running()})`);
    assert.ok(
      creates.max <= CREATE_CONCURRENCY,
      `${creates.max} create calls in flight at once (limit ${CREATE_CONCURRENCY})`,
    );
    assert.ok(creates.max > 1, 'pods start in parallel');
  });
});
