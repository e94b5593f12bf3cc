// The runtime actor with probe results (the probeResults view the probes actor owns): a liveness
// or startup failure kills the container with upstream's Killing message and the probe's own
// terminationGracePeriodSeconds, and restarts it unless restartPolicy is Never; ready/started in
// the reply's status follow the results. FakeCri, VirtualClock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import type { ContainerProbeResults, RuntimeReply } from '../../protocols/messages/channels.ts';
import { runtime } from '../../actors/runtime/index.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'registry.local/app:1.0';

function mkPod(spec: Record<string, unknown>, container: Record<string, unknown>): Pod {
  return applyPodDefaults(
    PodSchema.parse({
      metadata: { name: 'web', namespace: 'default', uid: 'uid-web' },
      spec: { terminationGracePeriodSeconds: 30, containers: [{ name: 'app', image: IMAGE, ...container }], ...spec },
    }) as Pod,
  );
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

async function setup() {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  const images = new ImageManager({ images: cri, clock });
  const a = await startActor(runtime, { cri, images, nodeName: 'node-a', podLogsDir: '/var/log/pods' }, { clock });
  const events = collect(a.bus, 'events');
  const replies = collect(a.bus, 'runtimeReply');
  let seq = 0;
  const sync = async (pod: Pod): Promise<Extract<RuntimeReply, { type: 'runtime.podSynced' }>> => {
    const n = ++seq;
    a.bus.port('podWorkers').send('runtime', { type: 'runtime.syncPod', uid: pod.metadata.uid!, seq: n, pod });
    await clock.advanceAsync(0, settle);
    const r = replies.find((x) => x.seq === n);
    assert.ok(r?.type === 'runtime.podSynced');
    return r;
  };
  const results = (m: Record<string, ContainerProbeResults>) =>
    a.bus.port('probes').publish('probeResults', { startedAt: 0, byContainer: new Map(Object.entries(m)) });
  return { a, cri, events, sync, results };
}

describe('runtime with probe results', () => {
  it('a liveness failure: Killing "Container app failed liveness probe, will be restarted" with the probe\'s grace, and a new container', async (t) => {
    const { a, cri, events, sync, results } = await setup();
    t.after(() => a.stop());
    const pod = mkPod({}, { livenessProbe: { exec: { command: ['true'] }, terminationGracePeriodSeconds: 3 } });
    const first = await sync(pod);
    const id = first.result.status.containers[0]!.id;
    results({ [id]: { liveness: 'failure' } });
    const r = await sync(pod);
    const killing = events.filter((e) => e.reason === 'Killing');
    assert.deepEqual(
      killing.map((e) => e.message),
      ['Container app failed liveness probe, will be restarted'],
    );
    const stop = cri.calls.find((c) => c.method === 'StopContainer');
    assert.deepEqual(stop?.args.slice(0, 2), [id, 3], "the probe's terminationGracePeriodSeconds, not the pod's 30");
    const running = r.result.status.containers.filter((c) => c.state === 'CONTAINER_RUNNING');
    assert.equal(running.length, 1);
    assert.notEqual(running[0]!.id, id);
    assert.equal(running[0]!.attempt, 1);
  });

  it('restartPolicy Never: a startup failure kills the container without a restart (the whole pod: nothing is left to run, one Killing)', async (t) => {
    const { a, events, sync, results } = await setup();
    t.after(() => a.stop());
    const pod = mkPod({ restartPolicy: 'Never' }, { startupProbe: { exec: { command: ['true'] } } });
    const id = (await sync(pod)).result.status.containers[0]!.id;
    results({ [id]: { startup: 'failure' } });
    const r = await sync(pod);
    // upstream: nothing to keep, nothing to start → KillPod, whose kill says "Stopping container"
    assert.deepEqual(
      events.filter((e) => e.reason === 'Killing').map((e) => e.message),
      ['Stopping container app'],
    );
    assert.equal(r.result.status.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length, 0);
  });

  it("a readiness result drives ready and the Ready condition in the reply's status", async (t) => {
    const { a, sync, results } = await setup();
    t.after(() => a.stop());
    const pod = mkPod({}, { readinessProbe: { tcpSocket: { port: 80 } } });
    const first = await sync(pod);
    assert.equal(first.result.apiStatus.containerStatuses![0]!.ready, false, 'not ready before a result');
    results({ [first.result.status.containers[0]!.id]: { readiness: 'success' } });
    const r = await sync(pod);
    assert.equal(r.result.apiStatus.containerStatuses![0]!.ready, true);
    assert.equal(r.result.apiStatus.conditions!.find((c) => c.type === 'Ready')?.status, 'True');
  });
});
