// Tier 4: pods of a cluster. The real daemon on a private real containerd, against the API server
// stand-in (Node authorizer, NodeRestriction): pods bound to the node run and report status,
// deletion goes SIGTERM → SIGKILL → final status → DELETE with a uid precondition, a pod that
// does not fit is rejected with upstream's reason, static pods get mirror pods, and faults of the
// API server (refused for 60 s, hung, 500, 429, 410) disturb no pod. Pod state is read from
// containerd over CRI and from the API server's store, never from the kubelet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatResult, replayRecording } from '../../bin/replay.ts';
import { parseRecording } from '../../kernel/recorder.ts';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { Event, Lease, Node } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { sleep } from '../support/wait.ts';

const NODE = 'node-a';
const NS = 'default';

let containerd: ContainerdHandle;
let cri: CriRuntime;
let api: ApiServer;
let work: string;
let manifests: string;
let daemon: Daemon;

const getPod = (name: string, ns = NS) => api.store.get('pods', ns, name) as unknown as Pod | undefined;
const getNode = () => api.store.get('nodes', NODE) as unknown as Node | undefined;
const getLease = () => api.store.get('leases', 'kube-node-lease', NODE) as unknown as Lease | undefined;
const cond = (p: Pod | undefined, type: string) => p?.status?.conditions?.find((c) => c.type === type);

interface C {
  name: string;
  command: string[];
  resources?: unknown;
}
function createPod(name: string, containers: C[], spec: Record<string, unknown> = {}): Pod {
  const body = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      nodeName: NODE,
      terminationGracePeriodSeconds: 2,
      ...spec,
      containers: containers.map((c) => ({
        name: c.name,
        image: BUSYBOX_IMAGE,
        imagePullPolicy: 'IfNotPresent',
        command: c.command,
        ...(c.resources ? { resources: c.resources } : {}),
      })),
    },
  };
  return api.store.create('pods', body as unknown as JsonObject) as unknown as Pod;
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

async function runtimeContainers(podName: string, ns = NS) {
  return cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': podName, 'io.kubernetes.pod.namespace': ns },
  });
}
async function runtimeSandboxes(podName: string, ns = NS) {
  return cri.listPodSandbox({
    labelSelector: { 'io.kubernetes.pod.name': podName, 'io.kubernetes.pod.namespace': ns },
  });
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-cluster-'));
  manifests = join(work, 'manifests');
  await mkdir(manifests);
  containerd = await startContainerd();
  cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  api = await startApiServer({ nodes: [NODE] });
  daemon = startDaemon({
    endpoint: containerd.endpoint,
    rootDir: join(work, 'root'),
    manifestDir: manifests,
    nodeName: NODE,
    args: [
      `--kubeconfig=${api.kubeconfigFor(NODE)}`,
      '--node-status-update-frequency=2s',
      '--file-check-frequency=2s',
      `--record=${join(work, 'session.jsonl')}`,
    ],
  });
  await eventually(() => cond(getNode() as unknown as Pod, 'Ready')?.status === 'True', 40_000, 'the Node Ready');
});

after(async () => {
  api?.faults.clear();
  await daemon?.stop();
  if (cri) await removeAllPods(cri);
  cri?.close();
  await api?.stop();
  await containerd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('pods of a cluster (real containerd, API server stand-in)', () => {
  it('a pod created in the API is Running with its pod IP in the API status within 5 seconds', async () => {
    const t0 = Date.now();
    createPod('web', [{ name: 'app', command: SLEEP }]);
    const pod = await eventually(
      () => {
        const p = getPod('web');
        return p?.status?.phase === 'Running' && p.status.podIP ? p : undefined;
      },
      5_000,
      'web Running with an IP in the API',
    );
    const took = Date.now() - t0;
    assert.ok(took <= 5_000, `took ${took}ms`);
    const [sb] = await runtimeSandboxes('web');
    assert.ok(sb, 'a sandbox in containerd');
    const sbs = await cri.podSandboxStatus(sb.id);
    assert.equal(pod.status!.podIP, sbs.network?.ip, 'the API pod IP is the sandbox IP');
    assert.deepEqual(pod.status!.podIPs, [{ ip: sbs.network!.ip }]);
    assert.ok(pod.status!.hostIP, 'hostIP');
    assert.ok(pod.status!.startTime, 'startTime');
    assert.equal(pod.status!.qosClass, 'BestEffort');
    const [cs] = pod.status!.containerStatuses!;
    const [rc] = await runtimeContainers('web');
    assert.equal(cs.containerID, `containerd://${rc.id}`);
    assert.ok(cs.state?.running?.startedAt, 'running.startedAt');
    assert.equal(cs.restartCount, 0);
    assert.equal(cs.image, BUSYBOX_IMAGE);
    assert.ok(cs.imageID);
    await eventually(() => cond(getPod('web'), 'Ready')?.status === 'True', 10_000, 'Ready True');
    for (const t of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) {
      assert.ok(cond(getPod('web'), t), `condition ${t}`);
    }
    // written by the node itself, as a strategic merge patch of the status subresource
    const w = api.requests.find({ verb: 'patch', resource: 'pods', subresource: 'status', name: 'web' });
    assert.ok(w, 'a status patch');
    assert.equal(w.user, `system:node:${NODE}`);
  });

  it("records the pod's events in its namespace: Pulled, Created, Started, with the container as fieldPath", async () => {
    const uid = getPod('web')!.metadata.uid;
    const evs = await eventually(
      () => {
        const l = (api.store.list('events', { namespace: NS }) as unknown as Event[]).filter(
          (e) => e.involvedObject.uid === uid,
        );
        return ['Pulled', 'Created', 'Started'].every((r) => l.some((e) => e.reason === r)) ? l : undefined;
      },
      10_000,
      'the events of web',
    );
    const started = evs.find((e) => e.reason === 'Started')!;
    assert.equal(started.message, 'Started container app');
    assert.equal(started.type, 'Normal');
    assert.deepEqual(started.source, { component: 'kubelet', host: NODE });
    assert.equal(started.involvedObject.kind, 'Pod');
    assert.equal(started.involvedObject.name, 'web');
    assert.equal(started.involvedObject.fieldPath, 'spec.containers{app}');
    assert.match(evs.find((e) => e.reason === 'Pulled')!.message, /already present on machine/);
  });

  it('a container that exited shows its exitCode and reason in the API', async () => {
    createPod('once', [{ name: 'job', command: ['sh', '-c', 'exit 3'] }], { restartPolicy: 'Never' });
    const pod = await eventually(
      () => (getPod('once')?.status?.phase === 'Failed' ? getPod('once') : undefined),
      20_000,
      'once Failed',
    );
    const t = pod.status!.containerStatuses![0].state?.terminated;
    assert.equal(t?.exitCode, 3);
    assert.equal(t?.reason, 'Error');
    assert.ok(t?.finishedAt);
    assert.match(pod.status!.containerStatuses![0].containerID!, /^containerd:\/\//);
  });

  it('deleting a pod: SIGTERM, SIGKILL after the grace period, final status, then the object is gone', async () => {
    createPod(
      'doomed',
      [
        { name: 'polite', command: ['sh', '-c', 'trap "exit 7" TERM; while true; do sleep 1; done'] },
        { name: 'stubborn', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 1; done'] },
      ],
      { terminationGracePeriodSeconds: 3 },
    );
    const live = await eventually(
      () => (getPod('doomed')?.status?.phase === 'Running' ? getPod('doomed') : undefined),
      20_000,
      'doomed Running',
    );
    const uid = live.metadata.uid!;
    const t0 = Date.now();
    api.store.delete('pods', NS, 'doomed');
    assert.ok(getPod('doomed')?.metadata.deletionTimestamp, 'graceful: the object stays with a deletionTimestamp');
    await eventually(() => getPod('doomed') === undefined, 30_000, 'the pod object gone');
    const took = Date.now() - t0;
    assert.ok(took >= 3_000, `gone after ${took}ms, before the 3s grace period ran out`);
    // the last status the kubelet wrote: polite got SIGTERM (exit 7), stubborn SIGKILL (137)
    const patches = api.requests.filter({
      verb: 'patch',
      resource: 'pods',
      subresource: 'status',
      name: 'doomed',
      status: 200,
    });
    const final = patches.at(-1)!.body as { status: Pod['status'] };
    const term = (n: string) => final.status!.containerStatuses!.find((c) => c.name === n)?.state?.terminated;
    assert.equal(term('polite')?.exitCode, 7);
    assert.equal(term('stubborn')?.exitCode, 137);
    assert.equal(
      final.status!.phase,
      'Failed',
      'a container exited non-zero: the deleted pod ends Failed (Succeeded only if all exit 0)',
    );
    // then DELETE by the node with grace 0 and the uid as precondition
    const del = api.requests
      .filter({ verb: 'delete', resource: 'pods', name: 'doomed' })
      .find((r) => r.user === `system:node:${NODE}`);
    assert.ok(del, 'the kubelet deleted the object');
    const opts = del.body as { gracePeriodSeconds?: number; preconditions?: { uid?: string } } | undefined;
    assert.equal(opts?.gracePeriodSeconds ?? Number(del.query.gracePeriodSeconds), 0);
    assert.equal(opts?.preconditions?.uid, uid);
    assert.ok(del.seq > patches.at(-1)!.seq, 'final status before the delete');
    await eventually(async () => (await runtimeContainers('doomed')).length === 0, 20_000, 'containers removed');
    const killing = (api.store.list('events', { namespace: NS }) as unknown as Event[])
      .filter((e) => e.involvedObject.uid === uid && e.reason === 'Killing')
      .map((e) => e.message)
      .sort();
    assert.deepEqual(killing, ['Stopping container polite', 'Stopping container stubborn']);
  });

  it("a pod that does not fit is rejected with upstream's reason and never started", async () => {
    createPod('huge', [{ name: 'app', command: SLEEP, resources: { requests: { cpu: '1000' } } }]);
    const pod = await eventually(
      () => (getPod('huge')?.status?.phase === 'Failed' ? getPod('huge') : undefined),
      10_000,
      'huge Failed',
    );
    assert.equal(pod.status!.reason, 'OutOfcpu');
    assert.match(pod.status!.message ?? '', /cpu/);
    createPod('picky', [{ name: 'app', command: SLEEP }], { nodeSelector: { disk: 'ssd' } });
    const picky = await eventually(
      () => (getPod('picky')?.status?.phase === 'Failed' ? getPod('picky') : undefined),
      10_000,
      'picky Failed',
    );
    assert.equal(picky.status!.reason, 'NodeAffinity');
    assert.equal((await runtimeSandboxes('huge')).length, 0);
    assert.equal((await runtimeSandboxes('picky')).length, 0);
  });

  it('a static pod has a mirror pod (annotation, owner Node, status), recreated when deleted, removed with the static pod', async () => {
    await writeFile(
      join(manifests, 'static.yaml'),
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata:',
        '  name: static',
        '  namespace: default',
        'spec:',
        '  terminationGracePeriodSeconds: 1',
        '  containers:',
        '  - name: app',
        `    image: ${BUSYBOX_IMAGE}`,
        `    command: ${JSON.stringify(SLEEP)}`,
        '',
      ].join('\n'),
    );
    const name = `static-${NODE}`;
    const mirror = await eventually(
      () => (getPod(name)?.status?.phase === 'Running' ? getPod(name) : undefined),
      30_000,
      'the mirror pod Running',
    );
    assert.ok(mirror.metadata.annotations?.['kubernetes.io/config.mirror'], 'config.mirror annotation');
    const node = getNode()!;
    assert.deepEqual(
      mirror.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['Node', NODE, node.metadata.uid]],
    );
    assert.equal(mirror.spec?.nodeName, NODE);
    const [sb] = await runtimeSandboxes(name);
    api.store.delete('pods', NS, name, { gracePeriodSeconds: 0 });
    const again = await eventually(
      () => {
        const p = getPod(name);
        return p && p.metadata.uid !== mirror.metadata.uid ? p : undefined;
      },
      20_000,
      'the mirror pod recreated',
    );
    assert.ok(again.metadata.annotations?.['kubernetes.io/config.mirror']);
    const [sb2] = await runtimeSandboxes(name);
    assert.equal(sb2.id, sb.id, 'the static pod itself was not disturbed');
    await unlink(join(manifests, 'static.yaml'));
    await eventually(() => getPod(name) === undefined, 30_000, 'the mirror pod removed with the static pod');
  });

  it('fault 410: a watch from a too-old resourceVersion relists, and new pods still arrive', async () => {
    const gone = api.faults.set({ mode: 'gone410', resource: 'pods', verb: ['list', 'watch'], count: 2 });
    api.closeWatches();
    await eventually(() => gone.hits >= 1, 10_000, 'the kubelet hit the 410');
    createPod('after-410', [{ name: 'app', command: SLEEP }]);
    await eventually(() => getPod('after-410')?.status?.phase === 'Running', 20_000, 'after-410 Running');
    gone.clear();
  });

  it('faults 500 and 429 on status writes: retried until the status lands', async () => {
    const f500 = api.faults.set({ mode: 'status500', resource: 'pods/status', count: 2 });
    const f429 = api.faults.set({ mode: 'status429', resource: 'pods/status', count: 2, retryAfterSeconds: 1 });
    createPod('retried', [{ name: 'app', command: SLEEP }]);
    await eventually(() => getPod('retried')?.status?.phase === 'Running', 20_000, 'retried Running in the API');
    assert.equal(f500.hits, 2);
    assert.equal(f429.hits, 2);
    f500.clear();
    f429.clear();
  });

  it('fault hang: a lease renewal that is never answered times out and the lease renews after it', async () => {
    const hang = api.faults.set({ mode: 'hang', resource: 'leases', verb: 'update', count: 1 });
    await eventually(() => hang.hits === 1, 20_000, 'a renewal hung');
    const before = getLease()!.spec.renewTime!;
    await eventually(() => (getLease()?.spec.renewTime ?? '') > before, 20_000, 'a renewal after the hung one');
    hang.clear();
  });

  it('API server refusing every request for 60 s: no pod disturbed, daemon up, status caught up within 5 s', async () => {
    createPod('steady', [{ name: 'app', command: SLEEP }]);
    createPod('finisher', [{ name: 'job', command: ['sh', '-c', 'sleep 20; exit 0'] }], { restartPolicy: 'Never' });
    await eventually(
      () => getPod('steady')?.status?.phase === 'Running' && getPod('finisher')?.status?.phase === 'Running',
      20_000,
      'both Running',
    );
    const idsBefore = [...(await runtimeContainers('steady')), ...(await runtimeSandboxes('steady'))]
      .map((c) => c.id)
      .sort();
    const webBefore = (await runtimeContainers('web')).map((c) => c.id).sort();
    api.faults.set({ mode: 'refuse' });
    await sleep(60_000);
    assert.equal(daemon.proc.exitCode, null, 'the daemon is still running');
    api.faults.clear();
    const t0 = Date.now();
    // finisher exited during the outage: the API learns it within 5 s of recovery
    const fin = await eventually(
      () => (getPod('finisher')?.status?.phase === 'Succeeded' ? getPod('finisher') : undefined),
      5_000,
      'finisher Succeeded in the API',
    );
    assert.ok(Date.now() - t0 <= 5_000);
    assert.equal(fin.status!.containerStatuses![0].state?.terminated?.exitCode, 0);
    const idsAfter = [...(await runtimeContainers('steady')), ...(await runtimeSandboxes('steady'))]
      .map((c) => c.id)
      .sort();
    assert.deepEqual(idsAfter, idsBefore, 'steady: same sandbox and container');
    assert.deepEqual((await runtimeContainers('web')).map((c) => c.id).sort(), webBefore, 'web: same container');
    assert.equal(getPod('steady')?.status?.phase, 'Running');
  });

  it("--record: the session holds the kubelet's writes to the API server with their answers", async () => {
    await daemon.stop();
    const recs = parseRecording(await readFile(join(work, 'session.jsonl'), 'utf8'));
    const writes = recs.filter((r) => r.k === 'api');
    const methods = new Set(writes.map((r) => r.m));
    for (const m of [
      'createNode',
      'patchNodeStatus',
      'createLease',
      'updateLease',
      'patchPodStatus',
      'deletePod',
      'createPod',
      'createEvent',
    ]) {
      assert.ok(methods.has(m), `${m} recorded`);
    }
    const del = writes.find((r) => r.m === 'deletePod' && (r.args as unknown[])[1] === 'doomed')!;
    assert.equal((del.args as [string, string, { gracePeriodSeconds: number }])[2].gracePeriodSeconds, 0);
    // every write has its answer: ok, or the error (the 60 s outage refused many)
    const answered = new Set(recs.filter((r) => r.k === 'api.ok' || r.k === 'api.err').map((r) => r.id));
    assert.ok(
      writes.every((w) => answered.has(w.id)),
      'each write answered',
    );
    assert.ok(
      recs.some((r) => r.k === 'api.err'),
      'the refused writes are recorded as errors',
    );
    // the whole cluster session replays: the rejected pods are rejected again (the recorded Node)
    const replayed = await replayRecording(recs);
    assert.ok(replayed.identical, formatResult(replayed));
  });
});
