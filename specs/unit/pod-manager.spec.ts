/**
 * pod-manager's reconcile of status-only changes (upstream HandlePodReconcile): the stored pod
 * takes the new status (desiredPods, which later syncs read), and the syncLoop hears an update
 * only when a readiness gate's condition changed (upstream NeedToReconcilePodReadiness), so the
 * kubelet's own status writes coming back never cause a sync.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, startActor } from '../../kernel/testing.ts';
import type { Pod, PodCondition } from '../../protocols/kube/pod.ts';
import type { ConfigEvent, DesiredPod } from '../../protocols/messages/channels.ts';
import { podManager } from '../../actors/pod-manager/index.ts';
import { readinessGatesChanged } from '../../actors/pod-manager/readiness.ts';

const GATE = 'example.com/lb-ready';

function mkPod(
  name: string,
  o: { gates?: string[]; conditions?: PodCondition[]; phase?: string; rv?: string } = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      resourceVersion: o.rv ?? '1',
      creationTimestamp: '2024-01-01T00:00:00Z',
    },
    spec: {
      nodeName: 'node-a',
      containers: [{ name: 'c', image: 'busybox' }],
      ...(o.gates ? { readinessGates: o.gates.map((conditionType) => ({ conditionType })) } : {}),
    },
    status: { phase: o.phase ?? 'Running', ...(o.conditions ? { conditions: o.conditions } : {}) },
  } as unknown as Pod;
}

const ready = (status: 'True' | 'False'): PodCondition => ({ type: 'Ready', status });
const gate = (status: 'True' | 'False', type = GATE): PodCondition => ({ type, status });

describe('readinessGatesChanged (pure)', () => {
  it('only the status of a condition a readiness gate names counts, its appearing or going included', () => {
    const base = mkPod('web', { gates: [GATE], conditions: [ready('False')] });
    const withGate = (s: 'True' | 'False') => mkPod('web', { gates: [GATE], conditions: [ready('False'), gate(s)] });
    assert.equal(readinessGatesChanged(base, withGate('True')), true, 'appeared');
    assert.equal(readinessGatesChanged(withGate('True'), withGate('False')), true, 'flipped');
    assert.equal(readinessGatesChanged(withGate('False'), base), true, 'gone');
    assert.equal(
      readinessGatesChanged(
        withGate('True'),
        mkPod('web', { gates: [GATE], conditions: [ready('True'), gate('True')] }),
      ),
      false,
      "the kubelet's own Ready is no gate",
    );
    const other = mkPod('web', { gates: [GATE], conditions: [ready('False'), gate('True', 'example.com/other')] });
    assert.equal(readinessGatesChanged(base, other), false, 'a condition no gate names');
    assert.equal(
      readinessGatesChanged(mkPod('web'), mkPod('web', { conditions: [gate('True')] })),
      false,
      'no readiness gates at all',
    );
  });
});

describe('podManager: config.podsReconciled', () => {
  async function setup() {
    const a = await startActor(podManager, { nodeName: 'node-a' });
    const changed = collect(a.bus, 'podManager');
    const views = collect(a.bus, 'desiredPods');
    const send = (m: ConfigEvent) => a.bus.port('podSourceApi').send('config', m);
    const desired = (name: string): DesiredPod | undefined =>
      a.bus.port('x').current('desiredPods')!.get(`uid-${name}`);
    return { a, changed, views, send, desired };
  }

  it("stores the new status without a sync; a readiness gate's condition changing is an update for the syncLoop", async (t) => {
    const { a, changed, views, send, desired } = await setup();
    t.after(() => a.stop());
    send({
      type: 'config.podsAdded',
      source: 'api',
      pods: [mkPod('web', { gates: [GATE], conditions: [ready('False')] })],
    });
    assert.deepEqual(
      changed.map((c) => `${c.op} ${c.pod.metadata.name}`),
      ['add web'],
    );
    const published = views.length;

    // the kubelet's own status write coming back: stored, no sync
    send({
      type: 'config.podsReconciled',
      source: 'api',
      pods: [mkPod('web', { gates: [GATE], conditions: [ready('False')], phase: 'Running', rv: '2' })],
    });
    assert.equal(desired('web')?.pod.metadata.resourceVersion, '2');
    assert.equal(views.length, published + 1, 'desiredPods published');
    assert.equal(changed.length, 1, 'no podChanged');

    // a controller sets the gate: stored, and the syncLoop hears an update with that pod
    const gated = mkPod('web', { gates: [GATE], conditions: [ready('False'), gate('True')], rv: '3' });
    send({ type: 'config.podsReconciled', source: 'api', pods: [gated] });
    assert.deepEqual(desired('web')?.pod.status?.conditions, [ready('False'), gate('True')]);
    assert.deepEqual(
      changed.map((c) => `${c.op} ${c.pod.metadata.name}`),
      ['add web', 'update web'],
    );
    assert.equal(changed[1]!.pod.metadata.resourceVersion, '3');

    // the kubelet then writes Ready True: no further sync
    send({
      type: 'config.podsReconciled',
      source: 'api',
      pods: [mkPod('web', { gates: [GATE], conditions: [ready('True'), gate('True')], rv: '4' })],
    });
    assert.equal(changed.length, 2);
    assert.equal(desired('web')?.pod.metadata.resourceVersion, '4');
    assert.equal(a.crashes.length, 0);
  });

  it("keeps the entry's admission verdict and source; a pod it does not hold is ignored", async (t) => {
    const { a, changed, views, send, desired } = await setup();
    t.after(() => a.stop());
    a.bus.port('podConfig').send('config', { type: 'config.podsAdded', source: 'api', pods: [mkPod('web')] });
    const before = desired('web')!;
    const n = views.length;
    send({ type: 'config.podsReconciled', source: 'api', pods: [mkPod('ghost', { conditions: [gate('True')] })] });
    assert.equal(views.length, n, 'nothing stored, nothing published');
    assert.equal(desired('ghost'), undefined);
    send({ type: 'config.podsReconciled', source: 'api', pods: [mkPod('web', { phase: 'Succeeded', rv: '9' })] });
    assert.deepEqual({ ...desired('web')!, pod: undefined }, { ...before, pod: undefined });
    assert.equal(desired('web')?.pod.status?.phase, 'Succeeded');
    assert.equal(changed.length, 1);
  });
});
