// Tier 4: sidecar containers (init containers with restartPolicy Always, issue 10 point 4) on a
// private real containerd, the real daemon against the API server stand-in. The Kubernetes
// documentation's "Sidecar Containers" examples (a Job and a Deployment with a `logshipper`
// sidecar), retargeted to the local busybox: the documentation's sidecar tails a file in a shared
// emptyDir, and volumes are not mounted yet (issue 11), so the sidecars here are sleep loops.
// Order is read from containerd (each container's startedAt / finishedAt), phases and statuses
// from the API server's store, never from the kubelet.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerStatus } from '../../protocols/cri/types.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { JsonObject } from '../support/apiserver/index.ts';
import { useCluster } from '../support/cluster-node.ts';
import { eventually } from '../support/daemon.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-a';
const NS = 'default';

// containerd, the CRI client and the daemons (stopped after each test, then every pod removed)
const node = useNodeFixture({ node: NODE, prefix: 'kts-sidecars-' });
const cluster = useCluster(node, NODE);

const getPod = (name: string) => cluster.api.store.get('pods', NS, name) as unknown as Pod | undefined;
const cond = (p: Pod | undefined, type: string) => p?.status?.conditions?.find((c) => c.type === type);

/** Exits 0 on SIGTERM (within a second: the loop's sleep ends first). */
const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

interface C {
  name: string;
  command: string[];
  restartPolicy?: 'Always';
}
function createPod(name: string, init: C[], containers: C[], restartPolicy: 'Always' | 'Never'): Pod {
  const c = (x: C) => ({
    name: x.name,
    image: BUSYBOX_IMAGE,
    imagePullPolicy: 'IfNotPresent',
    command: x.command,
    ...(x.restartPolicy ? { restartPolicy: x.restartPolicy } : {}),
  });
  const body = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      nodeName: NODE,
      restartPolicy,
      terminationGracePeriodSeconds: 10,
      initContainers: init.map(c),
      containers: containers.map(c),
    },
  };
  return cluster.api.store.create('pods', body as unknown as JsonObject) as unknown as Pod;
}

/** Every instance of the pod's containers as containerd reports them, by name, oldest attempt first. */
async function runtimeContainers(podName: string): Promise<Map<string, ContainerStatus[]>> {
  const list = await node.cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': podName, 'io.kubernetes.pod.namespace': NS },
  });
  const out = new Map<string, ContainerStatus[]>();
  for (const c of list.sort((a, b) => a.metadata.attempt - b.metadata.attempt)) {
    const st = await node.cri.containerStatus(c.id);
    out.set(c.metadata.name, [...(out.get(c.metadata.name) ?? []), st]);
  }
  return out;
}
const only = (m: Map<string, ContainerStatus[]>, name: string): ContainerStatus => {
  const l = m.get(name) ?? [];
  assert.equal(l.length, 1, `${name}: one instance in containerd`);
  return l[0]!;
};

describe('sidecar containers (real containerd, API server stand-in)', () => {
  it('the Job example (restartPolicy Never): the main container starts after the sidecars started, the pod Succeeds although they run, and they are stopped after it, in reverse order', async () => {
    await cluster.kubelet();
    createPod(
      'myjob',
      [
        { name: 'logshipper', command: LOOP, restartPolicy: 'Always' },
        { name: 'proxy', command: LOOP, restartPolicy: 'Always' },
      ],
      [{ name: 'myjob', command: ['sh', '-c', 'echo "logging" ; sleep 2'] }],
      'Never',
    );
    const pod = await eventually(
      () => {
        const p = getPod('myjob');
        return p?.status?.phase === 'Succeeded' ? p : undefined;
      },
      60_000,
      'myjob Succeeded in the API',
    );

    const rc = await runtimeContainers('myjob');
    const [shipper, proxy, main] = ['logshipper', 'proxy', 'myjob'].map((n) => only(rc, n));
    // started in order: each after the one before it
    assert.ok(shipper!.startedAt < proxy!.startedAt, 'proxy started after logshipper');
    assert.ok(proxy!.startedAt < main!.startedAt, 'the main container started after both sidecars');
    // the main container finished by itself; then the sidecars were stopped, the last declared first
    assert.equal(main!.exitCode, 0);
    for (const s of [shipper!, proxy!]) assert.equal(s.state, 'CONTAINER_EXITED', `${s.metadata.name} stopped`);
    assert.ok(main!.finishedAt < proxy!.finishedAt, 'proxy stopped after the main container');
    assert.ok(proxy!.finishedAt < shipper!.finishedAt, 'logshipper (declared first) stopped last');
    const [sb] = await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'myjob' } });
    assert.equal(sb?.state, 'SANDBOX_NOTREADY', 'the sandbox is stopped');

    // the API: the regular container decides the phase; the sidecars show their termination
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.deepEqual(
      pod.status?.initContainerStatuses?.map((s) => [s.name, s.state?.terminated !== undefined, s.restartCount]),
      [
        ['logshipper', true, 0],
        ['proxy', true, 0],
      ],
    );
    assert.equal(cond(pod, 'Initialized')?.status, 'True');
  });

  it('the Deployment example (restartPolicy Always): Running and Ready with the sidecars running; on deletion the main container stops first, then the sidecars in reverse order', async () => {
    await cluster.kubelet();
    // the main container takes a second to stop: the sidecars must wait for it
    createPod(
      'myapp',
      [
        { name: 'logshipper', command: LOOP, restartPolicy: 'Always' },
        { name: 'proxy', command: LOOP, restartPolicy: 'Always' },
      ],
      [{ name: 'myapp', command: ['sh', '-c', 'trap "sleep 1; exit 0" TERM; while true; do sleep 1; done'] }],
      'Always',
    );
    const pod = await eventually(
      () => {
        const p = getPod('myapp');
        return p?.status?.phase === 'Running' && cond(p, 'Ready')?.status === 'True' ? p : undefined;
      },
      30_000,
      'myapp Running and Ready in the API',
    );
    assert.equal(cond(pod, 'Initialized')?.status, 'True');
    assert.equal(cond(pod, 'ContainersReady')?.status, 'True');
    assert.deepEqual(
      pod.status?.initContainerStatuses?.map((s) => [s.name, s.state?.running !== undefined, s.started, s.ready]),
      [
        ['logshipper', true, true, true],
        ['proxy', true, true, true],
      ],
    );
    const before = await runtimeContainers('myapp');
    assert.ok(
      only(before, 'proxy').startedAt < only(before, 'myapp').startedAt,
      'the main container started after the sidecars',
    );

    // the kubelet's own DELETE (after the final status) fails until cleared: the pod stays
    // configured, so its stopped containers stay in containerd to be read
    const hold = cluster.api.faults.set({
      mode: 'status500',
      resource: 'pods',
      verb: 'delete',
      user: `system:node:${NODE}`,
    });
    try {
      cluster.api.store.delete('pods', NS, 'myapp');
      const rc = await eventually(
        async () => {
          const m = await runtimeContainers('myapp');
          return ['logshipper', 'proxy', 'myapp'].every((n) => m.get(n)?.[0]?.state === 'CONTAINER_EXITED')
            ? m
            : undefined;
        },
        30_000,
        'every container of myapp stopped',
      );
      const [shipper, proxy, main] = ['logshipper', 'proxy', 'myapp'].map((n) => only(rc, n));
      assert.equal(main!.exitCode, 0, 'the main container got its SIGTERM and the time to handle it');
      assert.ok(main!.finishedAt < proxy!.finishedAt, 'proxy stopped after the main container');
      assert.ok(proxy!.finishedAt < shipper!.finishedAt, 'logshipper (declared first) stopped last');
      for (const s of [shipper!, proxy!])
        assert.equal(s.exitCode, 0, `${s.metadata.name} stopped by its SIGTERM, not killed`);
    } finally {
      hold.clear();
    }
    await eventually(() => getPod('myapp') === undefined, 30_000, 'myapp deleted once the kubelet may delete it');
  });

  it('a sidecar that exits is restarted, under restartPolicy Never too; the main container is left running', async () => {
    await cluster.kubelet();
    createPod(
      'flaky',
      [{ name: 'crashy', command: ['sh', '-c', 'sleep 1; exit 1'], restartPolicy: 'Always' }],
      [{ name: 'main', command: LOOP }],
      'Never',
    );
    const rc = await eventually(
      async () => {
        const m = await runtimeContainers('flaky');
        return (m.get('crashy')?.length ?? 0) >= 2 ? m : undefined;
      },
      30_000,
      'a second instance of the crashed sidecar',
    );
    const main = only(rc, 'main');
    assert.equal(main.state, 'CONTAINER_RUNNING', 'the main container still runs (attempt 0)');
    assert.deepEqual(
      rc
        .get('crashy')!
        .map((c) => c.metadata.attempt)
        .slice(0, 2),
      [0, 1],
    );
    assert.equal(rc.get('crashy')![0]!.exitCode, 1);
    const p = await eventually(
      () => {
        const x = getPod('flaky');
        return (x?.status?.initContainerStatuses?.[0]?.restartCount ?? 0) >= 1 ? x : undefined;
      },
      20_000,
      "the sidecar's restartCount in the API",
    );
    assert.equal(p.status?.phase, 'Running');
    cluster.api.store.delete('pods', NS, 'flaky', { gracePeriodSeconds: 0 });
  });
});
