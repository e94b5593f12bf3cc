// Tier 4: joining a cluster. The real daemon (bin/kubelet-ts --kubeconfig ...) on a private real
// containerd, against the API server stand-in with the Node authorizer and NodeRestriction: the
// Node registers Ready with what this host really has, the Lease renews, events arrive, and a
// Node deleted by an admin is registered again. What the kubelet did is read from the API
// server's store, not from the kubelet.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event, Lease, Node } from '../../protocols/kube/api.ts';
import { formatBinarySI } from '../../actors/node-status/logic.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';
import { startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';

const NODE = 'node-a';

let containerd: ContainerdHandle;
let api: ApiServer;
let work: string;
let daemon: Daemon;

const getNode = () => api.store.get('nodes', NODE) as unknown as Node | undefined;
const getLease = () => api.store.get('leases', 'kube-node-lease', NODE) as unknown as Lease | undefined;
const ready = (n: Node | undefined) => n?.status?.conditions?.find((c) => c.type === 'Ready');

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-node-'));
  containerd = await startContainerd();
  api = await startApiServer({ nodes: [NODE] });
  daemon = startDaemon({
    endpoint: containerd.endpoint,
    rootDir: join(work, 'root'),
    nodeName: NODE,
    args: [
      `--kubeconfig=${api.kubeconfigFor(NODE)}`,
      '--node-status-update-frequency=2s',
      '--node-labels=node.kubernetes.io/pool=spec',
      // what kubeadm and cloud setups pass: a provider ID, registration taints, a dual-stack --node-ip
      '--provider-id=kubelet-ts://spec/node-a',
      '--register-with-taints=dedicated=spec:NoSchedule',
      '--node-ip=127.0.0.1,::1',
      '--pod-infra-container-image=registry.k8s.io/pause:3.10',
    ],
  });
});

after(async () => {
  await daemon?.stop();
  await api?.stop();
  await containerd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('joining a cluster (real containerd, API server stand-in)', () => {
  it("registers the Node Ready, with this host's capacity and node info", async () => {
    const node = await eventually(
      () => (ready(getNode())?.status === 'True' ? getNode() : undefined),
      30_000,
      'the Node Ready',
    );
    const r = ready(node)!;
    assert.equal(r.reason, 'KubeletReady');
    assert.equal(r.message, 'kubelet is posting ready status');
    const meminfo = await readFile('/proc/meminfo', 'utf8');
    const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)![1]);
    const cap = node.status!.capacity!;
    assert.equal(cap.cpu, String(cpus().length));
    // MemTotal kB as a Ki quantity (canonical: a whole number of MiB would print as Mi)
    assert.equal(cap.memory, formatBinarySI(memKb * 1024));
    assert.equal(cap.pods, '110');
    assert.ok(cap['ephemeral-storage']);
    const alloc = node.status!.allocatable!;
    assert.equal(alloc.cpu, cap.cpu);
    assert.equal(
      alloc.memory,
      formatBinarySI((memKb - 100 * 1024) * 1024),
      'capacity − the 100Mi hard eviction threshold',
    );
    const info = node.status!.nodeInfo!;
    assert.match(info.containerRuntimeVersion, /^containerd:\/\/1\.6\.\d+$/);
    assert.match(info.kubeletVersion, /^v1\.34\.0-kubelet-ts\./);
    assert.equal(info.operatingSystem, 'linux');
    assert.equal(info.machineID, (await readFile('/etc/machine-id', 'utf8')).trim());
    assert.equal(info.bootID, (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
    assert.ok(info.osImage.length > 0);
    assert.deepEqual(
      node.status!.conditions!.map((c) => [c.type, c.status, c.reason]),
      [
        ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
        ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
        ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
        ['Ready', 'True', 'KubeletReady'],
      ],
    );
    assert.deepEqual(node.status!.addresses, [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'InternalIP', address: '::1' },
      { type: 'Hostname', address: NODE },
    ]);
    assert.equal(node.spec?.providerID, 'kubelet-ts://spec/node-a');
    assert.deepEqual(node.spec?.taints, [{ key: 'dedicated', value: 'spec', effect: 'NoSchedule' }]);
    assert.equal(node.status!.daemonEndpoints!.kubeletEndpoint!.Port, 10250);
    assert.equal(node.metadata.labels!['kubernetes.io/hostname'], NODE);
    assert.equal(node.metadata.labels!['kubernetes.io/os'], 'linux');
    assert.equal(node.metadata.labels!['node.kubernetes.io/pool'], 'spec');
    // as the node itself, through the Node authorizer
    const create = api.requests.find({ verb: 'create', resource: 'nodes' })!;
    assert.equal(create.user, `system:node:${NODE}`);
    assert.match(create.userAgent!, /^kubelet-ts\//);
  });

  it('records events for the node (Starting kubelet., NodeHas...) in default', async () => {
    const evs = await eventually(
      () => {
        const l = api.store.list('events', { namespace: 'default' }) as unknown as Event[];
        return l.some((e) => e.reason === 'Starting') && l.some((e) => e.reason === 'NodeHasSufficientMemory')
          ? l
          : undefined;
      },
      20_000,
      'node events',
    );
    const starting = evs.find((e) => e.reason === 'Starting')!;
    assert.equal(starting.message, 'Starting kubelet.');
    assert.deepEqual(starting.source, { component: 'kubelet', host: NODE });
    assert.equal(starting.involvedObject.kind, 'Node');
    assert.equal(starting.involvedObject.name, NODE);
  });

  it('holds the node Lease and renews it (renewTime advances), owned by the Node', async () => {
    const first = await eventually(getLease, 20_000, 'the Lease');
    assert.equal(first.spec.holderIdentity, NODE);
    assert.equal(first.spec.leaseDurationSeconds, 40);
    const uid = getNode()!.metadata.uid;
    await eventually(() => getLease()?.metadata.ownerReferences?.[0]?.uid === uid, 20_000, 'the owner reference');
    const before = getLease()!.spec.renewTime!;
    const later = await eventually(
      () => {
        const l = getLease();
        return l && l.spec.renewTime! > before ? l : undefined;
      },
      25_000,
      'a renewal',
    );
    assert.ok(Date.parse(later.spec.renewTime!) - Date.parse(before) >= 9_000, `${before} → ${later.spec.renewTime}`);
    assert.deepEqual(later.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid }]);
  });

  it('a Node deleted by an admin is registered again', async () => {
    const old = getNode()!;
    const { deleted } = api.store.delete('nodes', '', NODE);
    assert.ok(deleted);
    assert.equal(getNode(), undefined);
    const again = await eventually(
      () => {
        const n = getNode();
        return n && n.metadata.uid !== old.metadata.uid && ready(n)?.status === 'True' ? n : undefined;
      },
      20_000,
      'the Node registered again',
    );
    assert.equal(again.metadata.labels!['kubernetes.io/hostname'], NODE);
    await daemon.waitForLog(/Node not found: registering it again/, 1_000);
    assert.equal(daemon.proc.exitCode, null, 'the daemon kept running');
  });
});
