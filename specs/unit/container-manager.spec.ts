/**
 * containerManager (upstream pkg/kubelet/cm): cgroup names for both drivers, the cgroup version
 * from mountinfo, the pod / QoS tier / node allocatable configs and how they are written on v1
 * and v2, then the actor and the runtime's port on a fake cgroup v2 tree.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import type { CgroupFs } from '../../actors/container-manager/adapters.ts';
import { containerManager } from '../../actors/container-manager/index.ts';
import {
  cgroupWrites,
  cpuSharesToWeight,
  detectCgroupLayout,
  nodeAllocatableConfig,
  podUidOfCgroup,
  qosTierConfigs,
  resourceConfigForPod,
  subtreeControlWrites,
} from '../../actors/container-manager/logic.ts';
import { PodCgroupManager } from '../../actors/container-manager/manager.ts';
import { parseCgroupRoot, podCgroupParent, toSystemd, type CgroupSettings } from '../../protocols/kube/cgroups.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import { podLimits, podRequests } from '../../protocols/kube/qos.ts';
import type { DesiredPod } from '../../protocols/messages/channels.ts';

const res = (requests?: Record<string, string>, limits?: Record<string, string>) => ({
  ...(requests ? { requests } : {}),
  ...(limits ? { limits } : {}),
});
const c = (name: string, resources?: Container['resources'], extra: Partial<Container> = {}): Container =>
  ({ name, image: 'busybox', ...(resources ? { resources } : {}), ...extra }) as Container;
const pod = (uid: string, containers: Container[], initContainers?: Container[]): Pod =>
  ({
    metadata: { name: uid, namespace: 'default', uid },
    spec: { containers, ...(initContainers ? { initContainers } : {}) },
  }) as Pod;

const guaranteed = pod('1234-abcd', [c('a', res({ cpu: '500m', memory: '64Mi' }, { cpu: '500m', memory: '64Mi' }))]);
const burstable = pod('b-1', [c('a', res({ cpu: '250m', memory: '32Mi' }, { memory: '64Mi' }))]);
const bestEffort = pod('e-1', [c('a')]);
const CGROUPFS: CgroupSettings = { driver: 'cgroupfs', cgroupRoot: '/', cgroupsPerQos: true };
const SYSTEMD: CgroupSettings = { driver: 'systemd', cgroupRoot: '/', cgroupsPerQos: true };
const POD_OPTS = { enforceCpuLimits: true, cpuPeriodUs: 100_000 };

describe('containerManager: cgroup names (pure)', () => {
  it('cgroupfs: kubepods / burstable / besteffort / pod<uid>, under --cgroup-root', () => {
    assert.equal(podCgroupParent(guaranteed, CGROUPFS), '/kubepods/pod1234-abcd');
    assert.equal(podCgroupParent(burstable, CGROUPFS), '/kubepods/burstable/podb-1');
    assert.equal(podCgroupParent(bestEffort, CGROUPFS), '/kubepods/besteffort/pode-1');
    assert.equal(
      podCgroupParent(bestEffort, { ...CGROUPFS, cgroupRoot: '/kts/x' }),
      '/kts/x/kubepods/besteffort/pode-1',
    );
    assert.equal(
      podCgroupParent(bestEffort, { ...CGROUPFS, cgroupsPerQos: false }),
      undefined,
      'without cgroupsPerQOS the runtime chooses',
    );
  });

  it('systemd: nested slices, dashes escaped', () => {
    assert.equal(
      podCgroupParent(burstable, SYSTEMD),
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podb_1.slice',
    );
    assert.equal(podCgroupParent(guaranteed, SYSTEMD), '/kubepods.slice/kubepods-pod1234_abcd.slice');
    assert.deepEqual(parseCgroupRoot('/kubelet.slice', 'systemd'), ['kubelet']);
    assert.equal(
      podCgroupParent(bestEffort, { ...SYSTEMD, cgroupRoot: '/kubelet.slice' }),
      '/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pode_1.slice',
    );
    assert.equal(toSystemd([]), '/');
  });

  it('pod uids back from cgroup names', () => {
    assert.equal(podUidOfCgroup('pod1234-abcd'), '1234-abcd');
    assert.equal(podUidOfCgroup('kubepods-burstable-pod1234_abcd.slice'), '1234-abcd');
    assert.equal(podUidOfCgroup('burstable'), undefined);
  });
});

describe('containerManager: the cgroup version, detected from mountinfo (pure)', () => {
  it('a v1/v2 hybrid (this machine): v1 controllers, the empty unified tree ignored', () => {
    const hybrid = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    const l = detectCgroupLayout(hybrid);
    assert.equal(l.version, 1);
    assert.ok(
      l.version === 1 &&
        l.controllers['cpu'] === '/sys/fs/cgroup/cpu,cpuacct' &&
        l.controllers['memory'] === '/sys/fs/cgroup/memory',
    );
    assert.ok(l.version === 1 && l.unified === '/sys/fs/cgroup/unified' && !('rw' in l.controllers));
  });

  it('unified v2; and a machine without cgroups is an error naming what is missing', () => {
    assert.deepEqual(detectCgroupLayout('30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate'), {
      version: 2,
      root: '/sys/fs/cgroup',
    });
    assert.throws(() => detectCgroupLayout('1 0 0:1 / / rw - ext4 /dev/vda rw'), /no cgroup file system mounted/);
    assert.throws(
      () => detectCgroupLayout('35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'),
      /not mounted: cpu, cpuacct, pids/,
    );
  });
});

describe('containerManager: what the cgroups hold (pure, upstream ResourceConfigForPod and friends)', () => {
  it('Guaranteed: shares, quota and memory; Burstable: only what every container limits; BestEffort: 2 shares', () => {
    assert.deepEqual(resourceConfigForPod(guaranteed, POD_OPTS), {
      cpuShares: 512,
      cpuQuota: 50_000,
      cpuPeriod: 100_000,
      memory: 64 * 2 ** 20,
    });
    assert.deepEqual(resourceConfigForPod(burstable, POD_OPTS), { cpuShares: 256, memory: 64 * 2 ** 20 });
    const twoOneUnlimited = pod('b-2', [
      c('a', res(undefined, { cpu: '1', memory: '1Gi' })),
      c('b', res({ cpu: '100m' })),
    ]);
    assert.deepEqual(resourceConfigForPod(twoOneUnlimited, POD_OPTS), { cpuShares: 1126 });
    assert.deepEqual(resourceConfigForPod(bestEffort, POD_OPTS), { cpuShares: 2 });
    assert.equal(resourceConfigForPod(guaranteed, { ...POD_OPTS, enforceCpuLimits: false }).cpuQuota, -1);
  });

  it('pod requests: the larger of the containers (with sidecars) and the largest init container', () => {
    const p = pod(
      's',
      [c('app', res({ cpu: '200m', memory: '100Mi' }))],
      [
        c('init', res({ cpu: '1', memory: '10Mi' })),
        c('side', res({ cpu: '100m', memory: '50Mi' }), { restartPolicy: 'Always' } as Partial<Container>),
        c('late-init', res({ cpu: '100m', memory: '200Mi' })),
      ],
    );
    assert.deepEqual(podRequests(p), { cpuMilli: 1000, memoryBytes: 250 * 2 ** 20 });
    assert.equal(podLimits(p).cpuDeclared, false);
  });

  it('QoS tiers follow the Burstable pods; node allocatable is capacity minus reserved when enforced', () => {
    assert.deepEqual(qosTierConfigs([guaranteed, burstable, bestEffort, pod('b-3', [c('x', res({ cpu: '1' }))])]), {
      burstable: { cpuShares: 1280 },
      besteffort: { cpuShares: 2 },
    });
    assert.deepEqual(qosTierConfigs([]), { burstable: { cpuShares: 2 }, besteffort: { cpuShares: 2 } });
    const cap = { cpuMilli: 2000, memoryBytes: 8 * 2 ** 30 };
    assert.deepEqual(nodeAllocatableConfig(cap, true, [{ cpu: '500m', memory: '1Gi' }, { memory: '1Gi' }]), {
      cpuShares: 1536,
      memory: 6 * 2 ** 30,
    });
    assert.deepEqual(nodeAllocatableConfig(cap, false, [{ memory: '1Gi' }]), { cpuShares: 2048, memory: 8 * 2 ** 30 });
    assert.deepEqual(nodeAllocatableConfig(cap, true, [{ memory: '9Gi' }]), { cpuShares: 2048, memory: 0 });
  });

  it('v1 files and v2 files', () => {
    const v1 = {
      version: 1 as const,
      controllers: { cpu: '/c/cpu', cpuacct: '/c/cpu', memory: '/c/memory', pids: '/c/pids' },
    };
    assert.deepEqual(
      cgroupWrites(v1, '/kubepods/pod1', { cpuShares: 512, cpuQuota: 50_000, cpuPeriod: 100_000, memory: 1024 }),
      [
        { file: '/c/cpu/kubepods/pod1/cpu.shares', value: '512' },
        { file: '/c/cpu/kubepods/pod1/cpu.cfs_period_us', value: '100000' },
        { file: '/c/cpu/kubepods/pod1/cpu.cfs_quota_us', value: '50000' },
        { file: '/c/memory/kubepods/pod1/memory.limit_in_bytes', value: '1024' },
      ],
    );
    const v2 = { version: 2 as const, root: '/c' };
    assert.deepEqual(
      cgroupWrites(v2, '/kubepods/pod1', { cpuShares: 512, cpuQuota: -1, cpuPeriod: 100_000, memory: 1024 }),
      [
        { file: '/c/kubepods/pod1/cpu.weight', value: '20' },
        { file: '/c/kubepods/pod1/cpu.max', value: 'max 100000' },
        { file: '/c/kubepods/pod1/memory.max', value: '1024' },
      ],
    );
    assert.equal(cpuSharesToWeight(2), 1);
    assert.equal(cpuSharesToWeight(1024), 39);
    assert.equal(cpuSharesToWeight(262144), 10000);
    assert.deepEqual(
      subtreeControlWrites(v2, '/kubepods/burstable', ['cpuset', 'cpu', 'io', 'memory', 'pids']).map(
        (w) => `${w.file} ${w.value}`,
      ),
      ['/c/cgroup.subtree_control +cpu +memory +pids', '/c/kubepods/cgroup.subtree_control +cpu +memory +pids'],
    );
  });
});

/** A cgroup v2 tree in memory: directories, files, and rmdir refusing a cgroup with processes. */
function fakeV2(): CgroupFs & { files: Map<string, string>; dirs: Set<string> } {
  const files = new Map<string, string>([['/sys/fs/cgroup/cgroup.controllers', 'cpuset cpu io memory pids']]);
  const dirs = new Set<string>(['/sys/fs/cgroup']);
  return {
    files,
    dirs,
    readMountinfo: async () => '30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
    mkdir: async (d) => {
      const parts = d.split('/');
      for (let i = 2; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    },
    write: async (f, v) => {
      if (!dirs.has(f.slice(0, f.lastIndexOf('/')))) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
      files.set(f, v);
    },
    read: async (f) => files.get(f),
    subdirs: async (d) =>
      [...dirs]
        .filter((x) => x.startsWith(`${d}/`) && !x.slice(d.length + 1).includes('/'))
        .map((x) => x.slice(d.length + 1)),
    rmdir: async (d) => {
      if ((files.get(`${d}/cgroup.procs`) ?? '').trim())
        throw Object.assign(new Error(`EBUSY: ${d}`), { code: 'EBUSY' });
      dirs.delete(d);
      for (const f of [...files.keys()]) if (f.startsWith(`${d}/`)) files.delete(f);
    },
  };
}

describe('containerManager actor and the runtime port on a cgroup v2 tree', () => {
  it('makes kubepods (node allocatable) and the tiers, the pod cgroup before the sandbox, follows the Burstable pods, removes the cgroups of pods gone', async () => {
    const fs = fakeV2();
    const manager = new PodCgroupManager({
      fs,
      settings: { ...CGROUPFS, cgroupRoot: '/kts' },
      pod: POD_OPTS,
      memoryCapacity: 8 * 2 ** 30,
    });
    const clock = new VirtualClock(1_800_000_000_000);
    const a = await startActor(
      containerManager,
      {
        manager,
        capacity: { cpuMilli: 2000, memoryBytes: 8 * 2 ** 30 },
        enforcePods: true,
        kubeReserved: { memory: '1Gi' },
        systemReserved: { cpu: '500m' },
      },
      { clock },
    );
    await clock.advanceAsync(0);
    const f = (p: string) => fs.files.get(`/sys/fs/cgroup/kts${p}`);
    assert.equal(f('/kubepods/memory.max'), String(7 * 2 ** 30));
    assert.equal(f('/kubepods/cpu.weight'), String(cpuSharesToWeight(1536)));
    assert.equal(f('/kubepods/besteffort/cpu.weight'), '1');
    assert.equal(fs.files.get('/sys/fs/cgroup/kts/kubepods/cgroup.subtree_control'), '+cpu +memory +pids');

    // the runtime's port: the pod cgroup with its limits, made once
    await manager.ensure(guaranteed);
    await manager.ensure(burstable);
    assert.equal(f('/kubepods/pod1234-abcd/memory.max'), String(64 * 2 ** 20));
    assert.equal(f('/kubepods/pod1234-abcd/cpu.max'), '50000 100000');
    assert.equal(f('/kubepods/burstable/podb-1/memory.max'), String(64 * 2 ** 20));
    assert.equal(f('/kubepods/burstable/podb-1/cpu.max'), undefined, 'no quota: not every container limits cpu');

    const desired = (...pods: Pod[]) =>
      new Map(pods.map((p) => [p.metadata.uid, { pod: p, source: 'file', static: true } as DesiredPod]));
    a.bus.port('podManager').publish('desiredPods', desired(guaranteed, burstable));
    await clock.advanceAsync(0);
    assert.equal(f('/kubepods/burstable/cpu.weight'), String(cpuSharesToWeight(256)));

    // the Burstable pod goes; a process still in its cgroup keeps it until it is gone
    fs.files.set('/sys/fs/cgroup/kts/kubepods/burstable/podb-1/cgroup.procs', '4242\n');
    a.bus.port('podManager').publish('desiredPods', desired(guaranteed));
    await clock.advanceAsync(0);
    assert.equal(f('/kubepods/burstable/cpu.weight'), '1');
    assert.ok(fs.dirs.has('/sys/fs/cgroup/kts/kubepods/burstable/podb-1'));
    fs.files.set('/sys/fs/cgroup/kts/kubepods/burstable/podb-1/cgroup.procs', '');
    await clock.advanceAsync(60_000);
    assert.ok(!fs.dirs.has('/sys/fs/cgroup/kts/kubepods/burstable/podb-1'), 'removed once empty');
    assert.ok(fs.dirs.has('/sys/fs/cgroup/kts/kubepods/pod1234-abcd'), 'the desired pod keeps its cgroup');
    assert.equal((a.inspect() as { removed: number }).removed, 1);
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });
});
