// The runtime's syncPod for a pod that is already finished (upstream SyncPod's early return for a
// terminal phase): nothing is created or started, the reply carries the terminal phase so the
// worker moves on to terminating. On FakeCri and a VirtualClock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import { PodSchema, type Pod, type PodStatus } from '../../protocols/kube/pod.ts';
import type { SyncResult } from '../../protocols/messages/channels.ts';
import { runtime, terminalPhaseOf } from '../../actors/runtime/index.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { FakeCri } from '../support/fake-cri.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';

const IMAGE = 'registry.local/app:1.0';

function mkPod(uid: string, status?: PodStatus): Pod {
  const pod = applyPodDefaults(
    PodSchema.parse({
      metadata: { name: uid, namespace: 'default', uid },
      spec: { restartPolicy: 'Always', terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE }] },
    }) as Pod,
  );
  return status ? { ...pod, status } : pod;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

/** A runtime actor on a FakeCri (a new one, or `o.cri` as a kubelet restarted on the same node). */
async function setup(o: { clock?: VirtualClock; cri?: FakeCri; wrap?: (cri: FakeCri) => CriRuntime } = {}) {
  const clock = o.clock ?? new VirtualClock(1_800_000_000_000);
  const cri = o.cri ?? new FakeCri({ clock });
  if (!o.cri) cri.addImage(IMAGE);
  const images = new ImageManager({ images: cri, clock });
  const a = await startActor(
    runtime,
    { cri: o.wrap ? o.wrap(cri) : cri, images, nodeName: 'node-a', podLogsDir: '/var/log/pods' },
    { clock },
  );
  const replies = collect(a.bus, 'runtimeReply');
  let seq = 0;
  const sync = async (pod: Pod): Promise<SyncResult> => {
    const n = ++seq;
    a.bus.port('podWorkers').send('runtime', { type: 'runtime.syncPod', uid: pod.metadata.uid!, seq: n, pod });
    await clock.advanceAsync(0, settle);
    const r = replies.find((x) => x.seq === n);
    assert.ok(r && r.type === 'runtime.podSynced', `no reply to syncPod #${n}`);
    return r.result;
  };
  const kill = async (pod: Pod) => {
    const n = ++seq;
    a.bus
      .port('podWorkers')
      .send('runtime', { type: 'runtime.killPod', uid: pod.metadata.uid!, seq: n, pod, gracePeriodSeconds: 1 });
    await clock.advanceAsync(0, settle);
    const r = replies.find((x) => x.seq === n);
    assert.ok(r && r.type === 'runtime.podKilled', `no reply to killPod #${n}`);
    return r;
  };
  return { cri, a, clock, sync, kill };
}

describe('runtime syncPod of a finished pod', () => {
  it('an API pod already Failed (evicted, restartPolicy Always, containers gone) gets no sandbox and no container', async (t) => {
    const { cri, a, sync } = await setup();
    t.after(() => a.stop());
    const r = await sync(mkPod('uid-evicted', { phase: 'Failed', reason: 'Evicted', message: 'low on memory' }));
    assert.equal(r.phase, 'Failed', 'the terminal phase moves the worker to terminating');
    assert.deepEqual(r.actions, []);
    assert.equal(r.apiStatus.phase, 'Failed');
    assert.equal(r.apiStatus.reason, 'Evicted');
    assert.deepEqual(await cri.listPodSandbox(), []);
    assert.deepEqual(await cri.listContainers(), []);
  });

  it('a pod the status manager already holds terminal (e.g. Succeeded) is not started again', async (t) => {
    const { cri, a, sync } = await setup();
    t.after(() => a.stop());
    a.bus.port('statusManager').publish('podStatuses', new Map([['uid-done', { phase: 'Succeeded' }]]));
    const r = await sync(mkPod('uid-done'));
    assert.equal(r.phase, 'Succeeded');
    assert.deepEqual(await cri.listPodSandbox(), []);
    // an ordinary pod still starts
    const ok = await sync(mkPod('uid-run'));
    assert.notEqual(ok.phase, 'Succeeded');
    assert.equal((await cri.listContainers()).length, 1);
  });

  it('terminalPhaseOf: the API phase, else the cached one', () => {
    assert.equal(terminalPhaseOf(mkPod('a', { phase: 'Failed' }), { phase: 'Running' }), 'Failed');
    assert.equal(terminalPhaseOf(mkPod('a', { phase: 'Running' }), { phase: 'Succeeded' }), 'Succeeded');
    assert.equal(terminalPhaseOf(mkPod('a', { phase: 'Running' }), undefined), undefined);
  });
});

describe('runtime killPod: the status after the final kill (upstream SyncTerminatingPod, podIsTerminal)', () => {
  it('a restartPolicy Always pod whose containers all exited 0 ends Succeeded, not Running', async (t) => {
    const { cri, a, sync, kill } = await setup();
    t.after(() => a.stop());
    const pod = mkPod('uid-clean');
    await sync(pod);
    const [c] = await cri.listContainers();
    cri.exitContainer(c!.id, 0);
    const r = await kill(pod);
    assert.equal(r.type === 'runtime.podKilled' && r.apiStatus?.phase, 'Succeeded');
  });

  it('one that a kill stopped (exit 143) ends Failed', async (t) => {
    const { a, sync, kill } = await setup();
    t.after(() => a.stop());
    const pod = mkPod('uid-killed');
    await sync(pod);
    const r = await kill(pod);
    assert.equal(r.type === 'runtime.podKilled' && r.apiStatus?.phase, 'Failed');
    assert.equal(
      r.type === 'runtime.podKilled' && r.apiStatus?.containerStatuses?.[0]?.state?.terminated?.exitCode,
      143,
    );
  });

  it('a static pod keeps its phase (upstream TODO 116484)', async (t) => {
    const { cri, a, sync, kill } = await setup();
    t.after(() => a.stop());
    const base = mkPod('uid-static');
    const pod = { ...base, metadata: { ...base.metadata, annotations: { 'kubernetes.io/config.source': 'file' } } };
    await sync(pod);
    const [c] = await cri.listContainers();
    cri.exitContainer(c!.id, 0);
    const r = await kill(pod);
    assert.equal(r.type === 'runtime.podKilled' && r.apiStatus?.phase, 'Running');
  });
});

describe('defect 5: a container created but never started when the kubelet died', () => {
  /** The first kubelet dies between CreateContainer and StartContainer: its StartContainer never returns. */
  const diesBeforeStart = (cri: FakeCri): CriRuntime =>
    new Proxy(cri, {
      get(target, key) {
        if (key === 'startContainer') return () => new Promise<void>(() => {});
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
      },
    });

  async function leftCreated(pod: Pod) {
    const first = await setup({ wrap: diesBeforeStart });
    first.a.bus.port('podWorkers').send('runtime', { type: 'runtime.syncPod', uid: pod.metadata.uid!, seq: 1, pod });
    await first.clock.advanceAsync(0, settle);
    const cs = await first.cri.listContainers();
    assert.deepEqual(
      cs.map((c) => [c.state, c.metadata.attempt]),
      [['CONTAINER_CREATED', 0]],
    );
    await first.a.stop();
    return { cri: first.cri, clock: first.clock, created: cs[0]!.id };
  }

  it('the next kubelet starts that very container: no new one, restartCount 0', async (t) => {
    const pod = mkPod('uid-half');
    const { cri, clock, created } = await leftCreated(pod);
    const next = await setup({ cri, clock });
    t.after(() => next.a.stop());
    const r = await next.sync(pod);
    const cs = await cri.listContainers();
    assert.deepEqual(r.actions, ['start app (attempt 0, created before)']);
    assert.deepEqual(
      cs.map((c) => [c.id, c.state, c.metadata.attempt]),
      [[created, 'CONTAINER_RUNNING', 0]],
    );
    assert.equal(r.apiStatus.containerStatuses?.[0]?.restartCount, 0);
    assert.ok(r.apiStatus.containerStatuses?.[0]?.state?.running, 'running');
    assert.equal(r.apiStatus.containerStatuses?.[0]?.lastState?.terminated, undefined, 'no previous run');
  });

  it('one whose spec changed meanwhile is removed and replaced under the same attempt: restartCount 0', async (t) => {
    const pod = mkPod('uid-edit');
    const { cri, clock, created } = await leftCreated(pod);
    const edited: Pod = {
      ...pod,
      spec: { ...pod.spec, containers: [{ ...pod.spec.containers[0]!, command: ['sleep', '3600'] }] },
    };
    const next = await setup({ cri, clock });
    t.after(() => next.a.stop());
    const r = await next.sync(edited);
    const cs = await cri.listContainers();
    assert.equal(cs.length, 1);
    assert.notEqual(cs[0]!.id, created, 'the stale one is gone');
    assert.deepEqual([cs[0]!.state, cs[0]!.metadata.attempt], ['CONTAINER_RUNNING', 0]);
    assert.equal(r.apiStatus.containerStatuses?.[0]?.restartCount, 0);
  });
});
