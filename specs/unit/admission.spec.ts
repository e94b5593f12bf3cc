import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, startActor } from '../../kernel/testing.ts';
import type { Logger } from '../../kernel/log.ts';
import type { Node } from '../../protocols/kube/api.ts';
import type { Pod, PodStatus } from '../../protocols/kube/pod.ts';
import type { DesiredPod } from '../../protocols/messages/channels.ts';
import {
  admitPod,
  matchesNodeAffinity,
  podRequests,
  type AdmissionInput,
  type AdmittedPod,
} from '../../actors/pod-manager/admission.ts';
import { podManager } from '../../actors/pod-manager/index.ts';
import { newSysctlAllowlist } from '../../protocols/kube/security.ts';

const NODE = 'node-a';

interface PodOpts {
  uid?: string;
  requests?: Record<string, string>;
  init?: { requests: Record<string, string>; sidecar?: boolean }[];
  spec?: Record<string, unknown>;
  labels?: Record<string, string>;
  created?: string;
}

function mkPod(name: string, o: PodOpts = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'default',
      uid: o.uid ?? `uid-${name}`,
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.created ? { creationTimestamp: o.created } : {}),
    },
    spec: {
      nodeName: NODE,
      containers: [{ name: 'app', image: 'nginx', ...(o.requests ? { resources: { requests: o.requests } } : {}) }],
      ...(o.init
        ? {
            initContainers: o.init.map((c, i) => ({
              name: `init${i}`,
              image: 'busybox',
              resources: { requests: c.requests },
              ...(c.sidecar ? { restartPolicy: 'Always' } : {}),
            })),
          }
        : {}),
      ...o.spec,
    },
  } as unknown as Pod;
}

function mkNode(
  o: {
    allocatable?: Record<string, string>;
    labels?: Record<string, string>;
    taints?: Node['spec'] extends infer S ? (S extends { taints?: infer T } ? T : never) : never;
  } = {},
): Node {
  return {
    metadata: {
      name: NODE,
      namespace: '',
      uid: 'node-uid',
      labels: { 'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', ...o.labels },
    },
    spec: { taints: o.taints ?? [] },
    status: { allocatable: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi', pods: '110', ...o.allocatable } },
  } as Node;
}

const others = (...pods: Pod[]): AdmittedPod[] => pods.map((pod) => ({ pod, static: false }));

function check(pod: Pod, over: Partial<AdmissionInput> = {}) {
  return admitPod({ pod, static: false, node: mkNode(), others: [], ...over });
}

describe('admission: effective pod requests (upstream PodRequests)', () => {
  it('sums app containers, takes the max with each init container, adds sidecars and overhead', () => {
    const p = mkPod('p', {
      requests: { cpu: '500m', memory: '100Mi' },
      init: [{ requests: { cpu: '1500m', memory: '10Mi' } }],
      spec: { overhead: { cpu: '100m' } },
    });
    assert.deepEqual(podRequests(p), { cpu: 1600, memory: 100 * 2 ** 20 });

    // A sidecar runs next to the app and next to every init container started after it.
    const s = mkPod('s', {
      requests: { cpu: '500m' },
      init: [{ requests: { cpu: '200m' }, sidecar: true }, { requests: { cpu: '1' } }],
    });
    assert.deepEqual(podRequests(s), { cpu: 1200 });
    const s2 = mkPod('s2', {
      requests: { cpu: '500m' },
      init: [{ requests: { cpu: '200m' }, sidecar: true }, { requests: { cpu: '100m' } }],
    });
    assert.deepEqual(podRequests(s2), { cpu: 700 });
  });
});

describe('admission: resources against allocatable', () => {
  it('OutOfcpu / OutOfmemory / OutOfephemeral-storage with upstream messages and units', () => {
    const running = mkPod('running', { requests: { cpu: '1500m', memory: '1Gi' } });
    assert.deepEqual(check(mkPod('p', { requests: { cpu: '600m' } }), { others: others(running) }), {
      admit: false,
      reason: 'OutOfcpu',
      message: "Node didn't have enough resource: cpu, requested: 600, used: 1500, capacity: 2000",
    });
    assert.deepEqual(check(mkPod('p', { requests: { memory: '3073Mi' } }), { others: others(running) }), {
      admit: false,
      reason: 'OutOfmemory',
      message: `Node didn't have enough resource: memory, requested: ${3073 * 2 ** 20}, used: ${2 ** 30}, capacity: ${4 * 2 ** 30}`,
    });
    const r = check(mkPod('p', { requests: { 'ephemeral-storage': '11Gi' } }));
    assert.equal(r.admit, false);
    assert.equal(!r.admit && r.reason, 'OutOfephemeral-storage');
    // Exactly what is left fits.
    assert.deepEqual(check(mkPod('p', { requests: { cpu: '500m', memory: '3Gi' } }), { others: others(running) }), {
      admit: true,
    });
  });

  it('the first failing resource is the reason (pods, cpu, memory, ...), extended resources too', () => {
    const full = mkNode({ allocatable: { pods: '1', 'example.com/gpu': '1' } });
    const r = check(mkPod('p', { requests: { cpu: '3', memory: '8Gi' } }), { node: full, others: others(mkPod('q')) });
    assert.equal(!r.admit && r.reason, 'OutOfpods');
    assert.equal(!r.admit && r.message, "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1");
    const mem = check(mkPod('p', { requests: { cpu: '1', memory: '8Gi' } }));
    assert.equal(!mem.admit && mem.reason, 'OutOfmemory');
    const gpu = check(mkPod('p', { requests: { 'example.com/gpu': '2' } }), { node: full });
    assert.equal(!gpu.admit && gpu.reason, 'OutOfexample.com/gpu');
    // An extended resource the node does not advertise is not the kubelet's to check.
    assert.deepEqual(check(mkPod('p', { requests: { 'other.io/fpga': '4' } })), { admit: true });
  });

  it('a pod with no requests fits whatever is used (only the pod count applies)', () => {
    assert.deepEqual(check(mkPod('p'), { others: others(mkPod('big', { requests: { cpu: '2', memory: '4Gi' } })) }), {
      admit: true,
    });
  });
});

describe('admission: node affinity, node name, ports, taints', () => {
  const node = mkNode({ labels: { zone: 'a', gen: '5' } });
  const affinity = (...terms: unknown[]) => ({
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } },
  });
  const expr = (key: string, operator: string, values?: string[]) => ({
    matchExpressions: [{ key, operator, ...(values ? { values } : {}) }],
  });
  const matches = (spec: Record<string, unknown>) => matchesNodeAffinity(mkPod('p', { spec }), node);

  it('nodeSelector must match every label', () => {
    assert.equal(matches({ nodeSelector: { zone: 'a' } }), true);
    assert.equal(matches({ nodeSelector: { zone: 'a', disk: 'ssd' } }), false);
    assert.deepEqual(check(mkPod('p', { spec: { nodeSelector: { zone: 'b' } } }), { node }), {
      admit: false,
      reason: 'NodeAffinity',
      message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
    });
  });

  it('matchExpressions In / NotIn / Exists / DoesNotExist / Gt / Lt; terms are ORed, an empty term matches nothing', () => {
    assert.equal(matches(affinity(expr('zone', 'In', ['a', 'b']))), true);
    assert.equal(matches(affinity(expr('zone', 'In', ['b']))), false);
    assert.equal(matches(affinity(expr('zone', 'NotIn', ['b']))), true);
    assert.equal(matches(affinity(expr('missing', 'NotIn', ['b']))), true);
    assert.equal(matches(affinity(expr('zone', 'Exists'))), true);
    assert.equal(matches(affinity(expr('zone', 'DoesNotExist'))), false);
    assert.equal(matches(affinity(expr('missing', 'DoesNotExist'))), true);
    assert.equal(matches(affinity(expr('gen', 'Gt', ['4']))), true);
    assert.equal(matches(affinity(expr('gen', 'Gt', ['5']))), false);
    assert.equal(matches(affinity(expr('gen', 'Lt', ['6']))), true);
    assert.equal(matches(affinity(expr('zone', 'Gt', ['1']))), false, 'a non-integer label never compares');
    assert.equal(matches(affinity(expr('zone', 'In', []))), false, 'a malformed requirement fails its term');
    assert.equal(matches(affinity(expr('zone', 'In', ['b']), expr('gen', 'Exists'))), true);
    assert.equal(matches(affinity({})), false);
    // nodeSelector and affinity must both hold.
    assert.equal(matches({ nodeSelector: { zone: 'b' }, ...affinity(expr('zone', 'Exists')) }), false);
  });

  it('matchFields metadata.name', () => {
    assert.equal(matches(affinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: [NODE] }] })), true);
    assert.equal(
      matches(affinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] })),
      false,
    );
    assert.equal(
      matches(affinity({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['node-b'] }] })),
      true,
    );
  });

  it('spec.nodeName of another node', () => {
    assert.deepEqual(check(mkPod('p', { spec: { nodeName: 'node-b' } })), {
      admit: false,
      reason: 'NodeName',
      message: "Predicate NodeName failed: node(s) didn't match the requested node name",
    });
  });

  it('host ports in use by an active pod (0.0.0.0 conflicts with any address)', () => {
    const withPort = (name: string, hostIP?: string, protocol?: string) =>
      mkPod(name, {
        spec: {
          containers: [
            {
              name: 'app',
              image: 'x',
              ports: [
                { containerPort: 80, hostPort: 8080, ...(hostIP ? { hostIP } : {}), ...(protocol ? { protocol } : {}) },
              ],
            },
          ],
        },
      });
    const r = check(withPort('p', '10.0.0.1'), { others: others(withPort('q')) });
    assert.deepEqual(r, {
      admit: false,
      reason: 'NodePorts',
      message: "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports",
    });
    assert.deepEqual(check(withPort('p', '10.0.0.1'), { others: others(withPort('q', '10.0.0.2')) }), { admit: true });
    assert.deepEqual(check(withPort('p', undefined, 'UDP'), { others: others(withPort('q')) }), { admit: true });
  });

  it("untolerated NoExecute taints reject; NoSchedule is the scheduler's business; static pods are exempt", () => {
    const tainted = mkNode({ taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] });
    assert.deepEqual(check(mkPod('p'), { node: tainted }), {
      admit: false,
      reason: 'TaintToleration',
      message: "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate",
    });
    assert.deepEqual(
      check(
        mkPod('p', {
          spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoExecute' }] },
        }),
        { node: tainted },
      ),
      { admit: true },
    );
    assert.deepEqual(check(mkPod('p', { spec: { tolerations: [{ operator: 'Exists' }] } }), { node: tainted }), {
      admit: true,
    });
    const r = check(mkPod('p', { spec: { tolerations: [{ key: 'dedicated', value: 'web' }] } }), { node: tainted });
    assert.equal(!r.admit && r.reason, 'TaintToleration');
    assert.deepEqual(check(mkPod('p'), { node: mkNode({ taints: [{ key: 'k', effect: 'NoSchedule' }] }) }), {
      admit: true,
    });
    assert.deepEqual(check(mkPod('p'), { node: tainted, static: true }), { admit: true });
  });

  it('the pod OS: a kubernetes.io/os label or spec.os other than linux', () => {
    const r = check(mkPod('p', { labels: { 'kubernetes.io/os': 'windows' } }));
    assert.equal(!r.admit && r.reason, 'PodOSSelectorNodeLabelDoesNotMatch');
    const o = check(mkPod('p', { spec: { os: { name: 'windows' } } }));
    assert.equal(!o.admit && o.reason, 'PodOSNotSupported');
  });

  it('resources are reported before affinity (upstream order: only the first reason is kept)', () => {
    const r = check(mkPod('p', { requests: { cpu: '4' }, spec: { nodeSelector: { zone: 'z' } } }), { node });
    assert.equal(!r.admit && r.reason, 'OutOfcpu');
  });
});

describe('admission: critical pods and standalone mode', () => {
  it('a static pod over its resources is admitted when preemptable pods would free enough', () => {
    const victim = mkPod('victim', { requests: { cpu: '1500m' } });
    const r = admitPod({
      pod: mkPod('etcd', { requests: { cpu: '1' } }),
      static: true,
      node: mkNode(),
      others: others(victim),
    });
    assert.equal(r.admit, true);
    assert.deepEqual(r.admit && r.overcommitted, [
      "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000",
    ]);
    // Priority >= system-critical makes an API pod critical too.
    const prio = admitPod({
      pod: mkPod('dns', { requests: { cpu: '1' }, spec: { priority: 2_000_000_000 } }),
      static: false,
      node: mkNode(),
      others: others(victim),
    });
    assert.equal(prio.admit, true);
  });

  it('a critical pod is rejected when even evicting every preemptable pod would not free enough', () => {
    const otherStatic: AdmittedPod = { pod: mkPod('apiserver', { requests: { cpu: '1500m' } }), static: true };
    const r = admitPod({
      pod: mkPod('etcd', { requests: { cpu: '1' } }),
      static: true,
      node: mkNode(),
      others: [otherStatic],
    });
    assert.deepEqual(r, {
      admit: false,
      reason: 'UnexpectedAdmissionError',
      message:
        'Unexpected error while attempting to recover from admission failure: preemption: error finding a set of pods to preempt: no set of running pods found to reclaim resources: [(res: cpu, q: 500), ]',
    });
  });

  it('a critical pod still fails for non-resource reasons, reported instead of the resources', () => {
    const r = admitPod({
      pod: mkPod('etcd', { requests: { cpu: '4' }, spec: { nodeName: 'node-b' } }),
      static: true,
      node: mkNode(),
      others: [],
    });
    assert.equal(!r.admit && r.reason, 'NodeName');
  });

  it('without a Node: only maxPods, the configured node name and ports are checked', () => {
    const none = { node: undefined };
    assert.deepEqual(check(mkPod('p', { requests: { cpu: '64' }, spec: { nodeSelector: { zone: 'z' } } }), none), {
      admit: true,
    });
    const r = check(mkPod('p'), { ...none, maxPods: 2, others: others(mkPod('a'), mkPod('b')) });
    assert.equal(!r.admit && r.message, "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2");
    const full = check(mkPod('p'), {
      ...none,
      others: others(...Array.from({ length: 110 }, (_, i) => mkPod(`o${i}`))),
    });
    assert.equal(!full.admit && full.reason, 'OutOfpods', 'maxPods defaults to 110');
    assert.equal(check(mkPod('p', { spec: { nodeName: 'node-b' } }), { ...none, nodeName: NODE }).admit, false);
    assert.equal(
      check(mkPod('p', { spec: { nodeName: 'node-b' } }), none).admit,
      true,
      'no node name known: nothing to compare',
    );
  });
});

describe('podManager admission (actor)', () => {
  function capture(): { log: Logger; lines: { msg: string; fields?: Record<string, unknown> }[] } {
    const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
    const log: Logger = {
      info: () => {},
      error: (msg, fields) => lines.push({ msg, fields }),
      warn: (msg, fields) => lines.push({ msg, fields }),
      child: () => log,
    };
    return { log, lines };
  }

  async function setup(node?: Node) {
    const { log, lines } = capture();
    const a = await startActor(podManager, { nodeName: NODE }, { log });
    if (node) a.bus.port('nodeStatus').publish('node', node);
    const changed = collect(a.bus, 'podManager');
    const events = collect(a.bus, 'events');
    const add = (...pods: Pod[]) =>
      a.bus.port('podConfig').send('config', { type: 'config.podsAdded', source: 'api', pods });
    const desired = (name: string): DesiredPod | undefined =>
      a.bus.port('x').current('desiredPods')!.get(`uid-${name}`);
    return { a, lines, changed, events, add, desired };
  }

  it('rejects a pod that does not fit: stored with rejected, podChanged sent, Warning event, log line', async (t) => {
    const { a, lines, changed, events, add, desired } = await setup(mkNode());
    t.after(() => a.stop());
    add(
      mkPod('small', { requests: { cpu: '1' }, created: '2024-01-01T00:00:00Z' }),
      mkPod('big', { requests: { cpu: '1500m' }, created: '2024-01-01T00:00:01Z' }),
    );
    assert.equal(desired('small')?.rejected, undefined);
    const msg = "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000";
    assert.deepEqual(desired('big')?.rejected, { reason: 'OutOfcpu', message: msg });
    assert.deepEqual(
      changed.map((c) => `${c.op} ${c.pod.metadata.name}`),
      ['add small', 'add big'],
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]!.eventType, 'Warning');
    assert.equal(events[0]!.reason, 'OutOfcpu');
    assert.equal(events[0]!.message, msg);
    assert.deepEqual(events[0]!.involvedObject, {
      kind: 'Pod',
      apiVersion: 'v1',
      namespace: 'default',
      name: 'big',
      uid: 'uid-big',
    });
    const line = lines.find((l) => l.msg.includes('rejected'));
    assert.deepEqual(line?.fields, { pod: 'default/big', uid: 'uid-big', reason: 'OutOfcpu', message: msg });
    assert.equal(a.crashes.length, 0);
  });

  it('cluster mode: new API pods wait for the Node, then are admitted against it oldest first; file pods and removed pods do not wait', async (t) => {
    const { log } = capture();
    const a = await startActor(podManager, { nodeName: NODE, waitForNode: true }, { log });
    t.after(() => a.stop());
    const changed = collect(a.bus, 'podManager');
    const cfg = a.bus.port('podConfig');
    const desired = (name: string): DesiredPod | undefined =>
      a.bus.port('x').current('desiredPods')!.get(`uid-${name}`);
    cfg.send('config', {
      type: 'config.podsAdded',
      source: 'api',
      pods: [
        mkPod('newer', { requests: { cpu: '1500m' }, created: '2024-01-02T00:00:00Z' }),
        mkPod('gone', { created: '2024-01-01T00:00:02Z' }),
      ],
    });
    cfg.send('config', {
      type: 'config.podsAdded',
      source: 'file',
      pods: [mkPod('static', { created: '2024-01-01T00:00:00Z' })],
    });
    cfg.send('config', {
      type: 'config.podsAdded',
      source: 'api',
      pods: [mkPod('older', { requests: { cpu: '1500m' }, created: '2024-01-01T00:00:00Z' })],
    });
    cfg.send('config', { type: 'config.podsRemoved', source: 'api', pods: [mkPod('gone')] });
    assert.deepEqual(
      changed.map((c) => `${c.op} ${c.pod.metadata.name}`),
      ['add static'],
      'only the file pod went on before the Node was known',
    );
    assert.equal(desired('newer'), undefined);
    assert.deepEqual((a.inspect() as { waitingForNode: string[] }).waitingForNode.sort(), [
      'default/newer',
      'default/older',
    ]);
    a.bus.port('nodeStatus').publish('node', mkNode());
    assert.deepEqual(
      changed.map((c) => `${c.op} ${c.pod.metadata.name}`),
      ['add static', 'add older', 'add newer'],
    );
    assert.equal(desired('older')?.rejected, undefined);
    assert.equal(desired('newer')?.rejected?.reason, 'OutOfcpu', 'checked against the Node, not admitted unchecked');
    assert.equal(desired('gone'), undefined, 'a pod removed while it waited never arrives');
    assert.deepEqual((a.inspect() as { waitingForNode: string[] }).waitingForNode, []);
  });

  it('admits oldest first, whatever order the batch came in', async (t) => {
    const { a, add, desired } = await setup(mkNode());
    t.after(() => a.stop());
    add(
      mkPod('newer', { requests: { cpu: '1500m' }, created: '2024-01-02T00:00:00Z' }),
      mkPod('older', { requests: { cpu: '1500m' }, created: '2024-01-01T00:00:00Z' }),
    );
    assert.equal(desired('older')?.rejected, undefined);
    assert.equal(desired('newer')?.rejected?.reason, 'OutOfcpu');
  });

  it('an update never re-admits: a rejected pod stays rejected, an admitted one stays admitted', async (t) => {
    const { a, add, desired, events } = await setup(mkNode({ labels: { zone: 'a' } }));
    t.after(() => a.stop());
    const bad = mkPod('bad', { spec: { nodeSelector: { zone: 'b' } } });
    add(bad, mkPod('good'));
    assert.equal(desired('bad')?.rejected?.reason, 'NodeAffinity');
    const send = (pods: Pod[]) =>
      a.bus.port('podConfig').send('config', { type: 'config.podsUpdated', source: 'api', pods });
    send([
      mkPod('bad', { spec: { nodeSelector: { zone: 'a' } } }),
      mkPod('good', { spec: { nodeSelector: { zone: 'b' } } }),
    ]);
    assert.equal(desired('bad')?.rejected?.reason, 'NodeAffinity');
    assert.deepEqual(desired('bad')?.pod.spec.nodeSelector, { zone: 'a' }, 'the new spec is stored');
    assert.equal(desired('good')?.rejected, undefined);
    assert.equal(events.length, 1);
  });

  it('terminal pods and rejected pods do not count against the node', async (t) => {
    const { a, add, desired } = await setup(mkNode({ allocatable: { pods: '2' } }));
    t.after(() => a.stop());
    add(mkPod('a'), mkPod('b'));
    add(mkPod('c'));
    assert.equal(desired('c')?.rejected?.reason, 'OutOfpods');
    a.bus
      .port('status')
      .publish('podStatuses', new Map<string, PodStatus>([['uid-a', { phase: 'Succeeded' } as PodStatus]]));
    add(mkPod('d'));
    assert.equal(desired('d')?.rejected, undefined, 'a (Succeeded) and c (rejected) are not active');
  });

  it('right after a restart (no statuses, no workers) pods the API shows finished do not count against the node', async (t) => {
    const { a, add, desired } = await setup(mkNode({ allocatable: { pods: '2' } }));
    t.after(() => a.stop());
    const finished = (name: string, phase: string): Pod => ({ ...mkPod(name), status: { phase } }) as Pod;
    add(
      finished('evicted', 'Failed'),
      finished('done', 'Succeeded'),
      mkPod('web', { created: '2024-01-01T00:00:00Z' }),
    );
    add(mkPod('db'));
    assert.equal(desired('web')?.rejected, undefined);
    assert.equal(desired('db')?.rejected, undefined, 'only web is active: db is the second of 2');
    add(mkPod('more'));
    assert.equal(desired('more')?.rejected?.reason, 'OutOfpods');
  });

  it('a pod already running on this node (runtime or pod worker) is admitted without checks, before the new ones of its batch', async (t) => {
    const { a, add, desired, events } = await setup(mkNode());
    t.after(() => a.stop());
    a.bus.port('pleg').publish(
      'runtimePods',
      new Map([
        [
          'uid-running',
          {
            uid: 'uid-running',
            name: 'running',
            namespace: 'default',
            sandboxIds: ['s1'],
            containerIds: ['c1'],
          },
        ],
      ]),
    );
    // newcomer is older: upstream would admit it first and then reject the pod that runs
    add(
      mkPod('newcomer', { requests: { cpu: '1500m' }, created: '2024-01-01T00:00:00Z' }),
      mkPod('running', { requests: { cpu: '1500m' }, created: '2024-01-02T00:00:00Z' }),
    );
    assert.equal(desired('running')?.rejected, undefined);
    assert.equal(desired('newcomer')?.rejected?.reason, 'OutOfcpu', 'checked against the pod that holds the cpu');
    assert.equal(events.length, 1);
    // a pod a worker knows (e.g. re-added by its source) is not checked either
    a.bus
      .port('podWorkers')
      .publish(
        'podWorkerStates',
        new Map([['uid-known', { uid: 'uid-known', name: 'known', namespace: 'default', state: 'syncing' as const }]]),
      );
    add(mkPod('known', { requests: { cpu: '1' } }));
    assert.equal(desired('known')?.rejected, undefined);
  });

  it('a pod being deleted or already finished is never rejected (a rejected pod from before a restart stays as the API shows it)', async (t) => {
    const { a, add, desired, events } = await setup(mkNode({ allocatable: { pods: '1' } }));
    t.after(() => a.stop());
    add(mkPod('web'));
    const deleting = mkPod('deleting');
    deleting.metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
    const rejectedBefore = {
      ...mkPod('big', { requests: { cpu: '64' } }),
      status: { phase: 'Failed', reason: 'OutOfcpu', message: 'Pod was rejected: ...' },
    } as Pod;
    add(deleting, rejectedBefore);
    assert.equal(desired('deleting')?.rejected, undefined, 'would be OutOfpods, but it is being deleted');
    assert.equal(desired('big')?.rejected, undefined, 'not admitted again: the syncLoop kills it (config.terminal)');
    assert.equal(events.length, 0);
    add(mkPod('more'));
    assert.equal(
      desired('more')?.rejected?.reason,
      'OutOfpods',
      'the one being deleted still counts, the Failed one does not',
    );
  });

  it('standalone (no node view): checks maxPods and the node name only', async (t) => {
    const { a, add, desired } = await setup();
    t.after(() => a.stop());
    add(mkPod('huge', { requests: { cpu: '128' } }), mkPod('elsewhere', { spec: { nodeName: 'node-b' } }));
    assert.equal(desired('huge')?.rejected, undefined);
    assert.equal(desired('elsewhere')?.rejected?.reason, 'NodeName');
  });
});

describe('admission: sysctls, AppArmor, supplementalGroupsPolicy (upstream admit handlers)', () => {
  const sysctlPod = (names: string[], spec: Record<string, unknown> = {}) =>
    mkPod('s', { spec: { securityContext: { sysctls: names.map((name) => ({ name, value: '1' })) }, ...spec } });
  const admit = (pod: Pod, more: Partial<AdmissionInput> = {}) =>
    admitPod({ pod, static: false, node: mkNode(), others: [], ...more });

  it('safe sysctls are admitted; an unsafe one is SysctlForbidden unless --allowed-unsafe-sysctls names it', () => {
    assert.deepEqual(admit(sysctlPod(['kernel.shm_rmid_forced', 'net/ipv4/tcp_syncookies'])), { admit: true });
    assert.deepEqual(admit(sysctlPod(['net.core.somaxconn'])), {
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "net.core.somaxconn" not allowlisted',
    });
    const list = newSysctlAllowlist(['kernel.msg*', 'net.core.somaxconn']);
    assert.deepEqual(admit(sysctlPod(['net.core.somaxconn', 'kernel.msgmax', 'kernel/msgmnb']), { sysctls: list }), {
      admit: true,
    });
    assert.deepEqual(admit(sysctlPod(['kernel.sem']), { sysctls: list }).admit, false);
  });

  it('a network sysctl with hostNetwork, an IPC one with hostIPC: forbidden even when safe', () => {
    assert.deepEqual(admit(sysctlPod(['net.ipv4.tcp_syncookies'], { hostNetwork: true })), {
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host Net enabled',
    });
    assert.deepEqual(admit(sysctlPod(['kernel.shm_rmid_forced'], { hostIPC: true })), {
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host IPC enabled',
    });
  });

  it('allowed-unsafe patterns must be namespaced and well formed (the kubelet does not start otherwise)', () => {
    assert.throws(
      () => newSysctlAllowlist(['vm.swappiness']),
      /the sysctl "vm.swappiness" are not known to be namespaced/,
    );
    assert.throws(() => newSysctlAllowlist(['kernel.*']), /the sysctls "kernel.\*" are not known to be namespaced/);
    assert.throws(() => newSysctlAllowlist(['Net.Core']), /must have at most 253 characters and match regex/);
    newSysctlAllowlist(['net.*', 'fs.mqueue.*', 'kernel.sem']);
  });

  it('an AppArmor profile on a node without AppArmor: rejected with reason AppArmor', () => {
    const host = 'AppArmor is not enabled on the host';
    const field = mkPod('a', { spec: { securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } } });
    assert.deepEqual(admit(field, { appArmorHostError: host }), {
      admit: false,
      reason: 'AppArmor',
      message: `Cannot enforce AppArmor: ${host}`,
    });
    assert.deepEqual(admit(field), { admit: true });
    const unconfined = mkPod('u', { spec: { securityContext: { appArmorProfile: { type: 'Unconfined' } } } });
    assert.deepEqual(admit(unconfined, { appArmorHostError: host }), { admit: true });
    const annotated = {
      ...mkPod('n'),
      metadata: {
        ...mkPod('n').metadata,
        annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'runtime/default' },
      },
    };
    assert.equal(admit(annotated, { appArmorHostError: host }).admit, false);
    const empty = mkPod('e', {
      spec: { securityContext: { appArmorProfile: { type: 'Localhost', localhostProfile: ' ' } } },
    });
    assert.match(
      (admit(empty) as { message: string }).message,
      /^Cannot enforce AppArmor: invalid empty AppArmor profile name/,
    );
  });

  it('supplementalGroupsPolicy Strict needs the runtime to report it', () => {
    const strict = mkPod('g', { spec: { securityContext: { supplementalGroupsPolicy: 'Strict' } } });
    assert.deepEqual(admit(strict), {
      admit: false,
      reason: 'SupplementalGroupsPolicyNotSupported',
      message: 'SupplementalGroupsPolicy=Strict is not supported in this node',
    });
    assert.deepEqual(admit(strict, { supplementalGroupsPolicy: true }), { admit: true });
  });
});
