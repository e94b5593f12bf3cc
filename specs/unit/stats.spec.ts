/**
 * The stats provider (upstream pkg/kubelet/stats): the pure cgroup and /proc arithmetic, then
 * the stats actor on a FakeCri (with ListContainerStats answered from a table and
 * ListPodSandboxStats Unimplemented, as containerd 1.6), a fake cgroup and /proc tree for
 * cgroup v1 and v2, and a VirtualClock: the Summary published as `nodeStats`, usageNanoCores
 * from two samples, emptyDir and log usage in ephemeral-storage; then the server's rendering
 * of it (`/metrics/resource`, `only_cpu_and_memory`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { stats } from '../../actors/stats/index.ts';
import type { StatsFs } from '../../actors/stats/adapters.ts';
import {
  cgroupStatFiles,
  cgroupUsage,
  meminfoUsage,
  procStatCpuNs,
  taskCount,
  usageNanoCores,
  type StatsCgroupLayout,
} from '../../actors/stats/logic.ts';
import { resourceMetrics } from '../../actors/server/resource-metrics.ts';
import { CriError } from '../../protocols/cri/errors.ts';
import type { ContainerStats, CriStats } from '../../protocols/cri/types.ts';
import { cpuAndMemoryOnly, type NodeStatsView } from '../../protocols/messages/stats.ts';
import { FakeCri } from '../support/fake-cri.ts';

const MiB = 1024 * 1024;
const V1: StatsCgroupLayout = {
  version: 1,
  controllers: { cpu: '/cg/cpu,cpuacct', cpuacct: '/cg/cpu,cpuacct', memory: '/cg/memory' },
};
const V2: StatsCgroupLayout = { version: 2, root: '/cg' };

describe('stats: cgroup and /proc arithmetic (pure)', () => {
  it("reads the version's files: working set = usage − inactive_file, cpu in ns", () => {
    assert.deepEqual(cgroupStatFiles(V1, '/kubepods/podx'), {
      cpu: '/cg/cpu,cpuacct/kubepods/podx/cpuacct.usage',
      memoryUsage: '/cg/memory/kubepods/podx/memory.usage_in_bytes',
      memoryStat: '/cg/memory/kubepods/podx/memory.stat',
    });
    assert.deepEqual(cgroupStatFiles(V2, '/kubepods/podx'), {
      cpu: '/cg/kubepods/podx/cpu.stat',
      memoryUsage: '/cg/kubepods/podx/memory.current',
      memoryStat: '/cg/kubepods/podx/memory.stat',
    });
    assert.deepEqual(
      cgroupUsage(1, {
        cpu: '5000\n',
        memoryUsage: `${30 * MiB}\n`,
        memoryStat: `inactive_file 999\ntotal_inactive_file ${10 * MiB}\ntotal_rss ${15 * MiB}\ntotal_pgfault 7\ntotal_pgmajfault 1\n`,
      }),
      {
        usageCoreNanoSeconds: 5000,
        usageBytes: 30 * MiB,
        workingSetBytes: 20 * MiB,
        rssBytes: 15 * MiB,
        pageFaults: 7,
        majorPageFaults: 1,
      },
    );
    assert.deepEqual(
      cgroupUsage(2, {
        cpu: 'usage_usec 12\nuser_usec 10\n',
        memoryUsage: '100\n',
        memoryStat: 'anon 40\ninactive_file 150\n',
      }),
      {
        usageCoreNanoSeconds: 12_000,
        usageBytes: 100,
        workingSetBytes: 0,
        rssBytes: 40,
      },
      'never below 0',
    );
    assert.deepEqual(cgroupUsage(1, {}), {}, 'no files: nothing known');
  });

  it('node figures from /proc; the CPU rate from two samples only', () => {
    assert.equal(procStatCpuNs('cpu  100 5 50 9000 3 1 2 0 0 0\ncpu0 1 1 1 1\n'), 158 * 10_000_000);
    assert.deepEqual(meminfoUsage('MemTotal: 1000 kB\nMemFree: 400 kB\nInactive(file): 100 kB\nAnonPages: 200 kB\n'), {
      capacityBytes: 1_024_000,
      usageBytes: 614_400,
      workingSetBytes: 512_000,
      rssBytes: 204_800,
    });
    assert.equal(taskCount('0.10 0.20 0.30 2/345 6789\n'), 345);
    assert.equal(usageNanoCores(undefined, { atMs: 10_000, usageCoreNanoSeconds: 1 }), undefined);
    assert.equal(
      usageNanoCores({ atMs: 0, usageCoreNanoSeconds: 0 }, { atMs: 10_000, usageCoreNanoSeconds: 5e9 }),
      500_000_000,
      '5 s of CPU in 10 s: half a core',
    );
    assert.equal(
      usageNanoCores({ atMs: 0, usageCoreNanoSeconds: 9 }, { atMs: 10_000, usageCoreNanoSeconds: 1 }),
      undefined,
      'a counter gone back (restart)',
    );
  });
});

/** A file tree in a map, with statfs and du answers per directory. */
function fakeFs(files: Map<string, string>, du: Map<string, { bytes: number; inodes: number }>): StatsFs {
  return {
    read: async (f) => files.get(f),
    statfs: async (p) => ({
      capacity: 100 * MiB * 1024,
      available: 60 * MiB * 1024,
      free: 64 * MiB * 1024,
      inodes: 1000,
      inodesFree: 600,
      ...(p === '/images' ? { capacity: 50 * MiB * 1024 } : {}),
    }),
    list: async (d) => [
      ...new Set([...du.keys()].filter((k) => k.startsWith(`${d}/`)).map((k) => k.slice(d.length + 1).split('/')[0]!)),
    ],
    du: async (d) => du.get(d),
  };
}

async function setup(layout: StatsCgroupLayout) {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  cri.addImage('docker.io/library/busybox:1');
  const sandbox = {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 0 },
    labels: {
      'io.kubernetes.pod.name': 'web',
      'io.kubernetes.pod.namespace': 'default',
      'io.kubernetes.pod.uid': 'u1',
    },
  };
  const sb = await cri.runPodSandbox(sandbox);
  const cid = await cri.createContainer(
    sb,
    {
      metadata: { name: 'app', attempt: 0 },
      image: { image: 'docker.io/library/busybox:1' },
      labels: { 'io.kubernetes.container.name': 'app' },
    },
    sandbox,
  );
  await cri.startContainer(cid);
  const usage = { cpuNs: 1e9, ws: 20 * MiB };
  const criStats: CriStats = {
    listContainerStats: async () =>
      (await cri.listContainers()).map(
        (c): ContainerStats => ({
          attributes: { id: c.id, metadata: c.metadata, labels: c.labels, annotations: {} },
          cpu: { timestamp: 0, usageCoreNanoSeconds: { value: usage.cpuNs }, usageNanoCores: null },
          memory: {
            timestamp: 0,
            workingSetBytes: { value: usage.ws },
            availableBytes: null,
            usageBytes: { value: usage.ws + MiB },
            rssBytes: { value: usage.ws },
            pageFaults: null,
            majorPageFaults: null,
          },
          writableLayer: {
            timestamp: 0,
            fsId: { mountpoint: '/images' },
            usedBytes: { value: 4096 },
            inodesUsed: { value: 3 },
          },
        }),
      ),
    listPodSandboxStats: async () => {
      throw new CriError('Unimplemented', 12, 'ListPodSandboxStats', 'unknown method ListPodSandboxStats');
    },
  };
  const files = new Map<string, string>([
    [
      '/proc/meminfo',
      `MemTotal: ${4 * 1024 * 1024} kB\nMemFree: ${3 * 1024 * 1024} kB\nInactive(file): ${256 * 1024} kB\n`,
    ],
    ['/proc/stat', 'cpu  1000 0 1000 50000 0 0 0 0 0 0\n'],
    ['/proc/sys/kernel/pid_max', '4194304\n'],
    ['/proc/loadavg', '0.00 0.01 0.05 1/321 999\n'],
  ]);
  const pod = `/kubepods/besteffort/podu1`;
  const put = (path: string, cpuNs: number, usageBytes: number, inactive: number) => {
    const f = cgroupStatFiles(layout, path);
    files.set(f.cpu, layout.version === 2 ? `usage_usec ${cpuNs / 1000}\n` : `${cpuNs}\n`);
    files.set(f.memoryUsage, `${usageBytes}\n`);
    files.set(f.memoryStat, layout.version === 2 ? `inactive_file ${inactive}\n` : `total_inactive_file ${inactive}\n`);
  };
  put('', 40e9, 2048 * MiB, 1024 * MiB);
  put(pod, 1.5e9, 30 * MiB, 5 * MiB);
  const du = new Map([
    ['/var/log/pods/default_web_u1/app', { bytes: 8192, inodes: 2 }],
    ['/var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/cache', { bytes: 10 * MiB, inodes: 5 }],
  ]);
  const podObj = {
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: { containers: [{ name: 'app', image: 'busybox' }], volumes: [{ name: 'cache', emptyDir: {} }] },
  };
  const a = await startActor(
    stats,
    {
      cri: { listPodSandbox: (f) => cri.listPodSandbox(f), listContainers: (f) => cri.listContainers(f), ...criStats },
      images: {
        imageFsInfo: async () => [
          { timestamp: 0, fsId: { mountpoint: '/images' }, usedBytes: { value: 300 * MiB }, inodesUsed: { value: 40 } },
        ],
      },
      fs: fakeFs(files, du),
      nodeName: 'node-a',
      rootDir: '/var/lib/kubelet',
      podLogsDir: '/var/log/pods',
      cgroups: { layout: async () => layout, podCgroup: (p) => (p.metadata.uid === 'u1' ? pod : undefined) },
      periodMs: 10_000,
    },
    { clock },
  );
  a.bus.port('podManager').publish('desiredPods', new Map([['u1', { pod: podObj, rejected: false }]]) as never);
  return { clock, a, views: collect(a.bus, 'nodeStats'), usage, put, pod, files, du };
}

for (const layout of [V1, V2]) {
  describe(`stats actor on the fake runtime, cgroup v${layout.version}`, () => {
    it('publishes the Summary every period: node, pod (from its cgroup), container (from the CRI); usageNanoCores from two samples', async () => {
      const { clock, a, views, usage, put, pod } = await setup(layout);
      await clock.advanceAsync(0);
      const first = views.at(-1)!;
      assert.deepEqual(first.errors, []);
      const s = first.summary;
      assert.equal(s.node.nodeName, 'node-a');
      assert.equal(s.node.cpu?.usageNanoCores, undefined, 'one sample: no rate yet');
      if (layout.version === 1) {
        assert.equal(s.node.cpu?.usageCoreNanoSeconds, 40e9, 'v1: the root cgroup');
        assert.equal(s.node.memory?.workingSetBytes, 1024 * MiB);
      } else {
        assert.equal(s.node.cpu?.usageCoreNanoSeconds, 2000 * 1e7, 'v2: /proc/stat');
        assert.equal(s.node.memory?.workingSetBytes, (1024 - 256) * MiB, 'v2: /proc/meminfo');
      }
      assert.equal(
        s.node.memory?.availableBytes,
        4096 * MiB - s.node.memory!.workingSetBytes!,
        'available = capacity − working set',
      );
      assert.deepEqual(s.node.rlimit && { maxpid: s.node.rlimit.maxpid, curproc: s.node.rlimit.curproc }, {
        maxpid: 4194304,
        curproc: 321,
      });
      assert.equal(s.node.fs?.capacityBytes, 100 * MiB * 1024);
      assert.equal(s.node.fs?.usedBytes, 36 * MiB * 1024, 'capacity − free');
      assert.equal(s.node.runtime?.imageFs?.usedBytes, 300 * MiB, "the CRI's own image usage");
      assert.equal(s.node.runtime?.imageFs?.capacityBytes, 50 * MiB * 1024, 'statfs of the ImageFsInfo mount point');
      assert.equal(s.pods.length, 1);
      const p = s.pods[0]!;
      assert.deepEqual(p.podRef, { name: 'web', namespace: 'default', uid: 'u1' });
      assert.equal(p.memory?.workingSetBytes, 25 * MiB, 'ListPodSandboxStats Unimplemented: the pod cgroup');
      assert.equal(p.cpu?.usageCoreNanoSeconds, 1.5e9);
      assert.equal(p.containers.length, 1);
      const c = p.containers[0]!;
      assert.equal(c.name, 'app');
      assert.equal(c.memory?.workingSetBytes, 20 * MiB);
      assert.equal(c.cpu?.usageCoreNanoSeconds, 1e9);
      assert.equal(c.rootfs?.usedBytes, 4096);
      assert.equal(c.logs?.usedBytes, 8192);
      assert.deepEqual(
        p.volume?.map((v) => [v.name, v.usedBytes]),
        [['cache', 10 * MiB]],
      );
      assert.equal(p['ephemeral-storage']?.usedBytes, 4096 + 8192 + 10 * MiB, 'rootfs + logs + emptyDir');
      assert.equal(p['ephemeral-storage']?.inodesUsed, 3 + 2 + 5);

      // a second sample 10 s later: half a core in the container, a quarter in the rest of the pod
      usage.cpuNs += 5e9;
      put(pod, 1.5e9 + 7.5e9, 30 * MiB, 5 * MiB);
      await clock.advanceAsync(10_000);
      const second = views.at(-1)!.summary;
      assert.equal(second.pods[0]!.containers[0]!.cpu?.usageNanoCores, 500_000_000);
      assert.equal(second.pods[0]!.cpu?.usageNanoCores, 750_000_000);
      assert.equal(second.node.cpu?.usageNanoCores, 0, "the node's counter did not move");
      assert.equal((a.inspect() as { sandboxStatsSupported: boolean }).sandboxStatsSupported, false);
      assert.deepEqual(a.crashes, []);
      await a.stop();
    });
  });
}

describe('stats actor: failures', () => {
  it("a cgroup file missing leaves the figure to the containers' sum; a CRI failure keeps the previous view", async () => {
    const { clock, a, views, files, pod } = await setup(V1);
    files.delete(cgroupStatFiles(V1, pod).cpu);
    await clock.advanceAsync(0);
    const p = views.at(-1)!.summary.pods[0]!;
    assert.equal(p.cpu?.usageCoreNanoSeconds, 1e9, 'summed from the containers');
    assert.equal(p.memory?.workingSetBytes, 20 * MiB);
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });
});

describe('server rendering of the Summary', () => {
  const view: NodeStatsView = {
    sampledAt: 0,
    errors: [],
    summary: {
      node: {
        nodeName: 'n',
        startTime: '2027-01-01T00:00:00.000Z',
        cpu: { time: '2027-01-01T00:00:10.000Z', usageCoreNanoSeconds: 2.5e9, usageNanoCores: 1 },
        memory: { time: '2027-01-01T00:00:10.000Z', workingSetBytes: 100 },
        fs: { time: 't', usedBytes: 1 },
      },
      pods: [
        {
          podRef: { name: 'web', namespace: 'default', uid: 'u1' },
          startTime: '2027-01-01T00:00:01.000Z',
          cpu: { time: '2027-01-01T00:00:10.000Z', usageCoreNanoSeconds: 1e9 },
          memory: { time: '2027-01-01T00:00:10.000Z', workingSetBytes: 50 },
          containers: [
            {
              name: 'app',
              startTime: '2027-01-01T00:00:02.000Z',
              cpu: { time: '2027-01-01T00:00:10.000Z', usageCoreNanoSeconds: 5e8 },
              memory: { time: '2027-01-01T00:00:10.000Z', workingSetBytes: 40 },
              rootfs: { time: 't', usedBytes: 3 },
            },
          ],
          'ephemeral-storage': { time: 't', usedBytes: 9 },
        },
      ],
    },
  };
  it("/metrics/resource: upstream's names and labels, with the samples' timestamps", () => {
    const t = Date.parse('2027-01-01T00:00:10.000Z');
    const lines = resourceMetrics(view).split('\n');
    for (const want of [
      `node_cpu_usage_seconds_total 2.5 ${t}`,
      `node_memory_working_set_bytes 100 ${t}`,
      `container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 0.5 ${t}`,
      `container_memory_working_set_bytes{container="app",namespace="default",pod="web"} 40 ${t}`,
      `container_start_time_seconds{container="app",namespace="default",pod="web"} ${Date.parse('2027-01-01T00:00:02.000Z') / 1000} ${t}`,
      `pod_cpu_usage_seconds_total{namespace="default",pod="web"} 1 ${t}`,
      `pod_memory_working_set_bytes{namespace="default",pod="web"} 50 ${t}`,
      'scrape_error 0',
      '# TYPE node_cpu_usage_seconds_total counter',
    ])
      assert.ok(lines.includes(want), want);
    assert.ok(resourceMetrics(undefined).split('\n').includes('scrape_error 1'), 'no sample yet');
  });
  it('only_cpu_and_memory keeps cpu and memory only', () => {
    const s = cpuAndMemoryOnly(view.summary);
    assert.deepEqual(Object.keys(s.node).sort(), ['cpu', 'memory', 'nodeName', 'startTime']);
    assert.deepEqual(Object.keys(s.pods[0]!).sort(), ['containers', 'cpu', 'memory', 'podRef', 'startTime']);
    assert.deepEqual(Object.keys(s.pods[0]!.containers[0]!).sort(), ['cpu', 'memory', 'name', 'startTime']);
  });
});
