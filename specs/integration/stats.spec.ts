// Tier 4: the stats provider on real containerd (runc, cgroupfs driver, the QoS hierarchy under
// a cgroup root of its own). A busybox pod keeps 24 MiB in a shell variable and then sleeps;
// /stats/summary over the read-only port is compared with the container's cgroup files read
// directly on the cgroup version this machine has (v1: memory.usage_in_bytes −
// total_inactive_file and cpuacct.usage; v2: memory.current − inactive_file and cpu.stat
// usage_usec). /metrics/resource passes promtool. Every cgroup the spec's kubelet made is
// removed at the end, also when a test fails.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { detectCgroupLayout } from '../../actors/container-manager/logic.ts';
import type { Summary } from '../../protocols/messages/stats.ts';
import { eventually, freePort } from '../support/daemon.ts';
import { removeCgroupRootAfter } from '../support/cgroups.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-stats';
const ROOT = `/kts-st-${randomBytes(4).toString('hex')}`;
const layout = detectCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
const MI = 2 ** 20;
// 24 MiB of 'a' held by the shell, then idle: the working set stays put between two reads
const HOLD = [
  'sh',
  '-c',
  'x=$(head -c 25165824 /dev/zero | tr "\\0" a); trap "exit 0" TERM; while true; do sleep 1; done',
];

const node = useNodeFixture({ node: NODE, prefix: 'kts-st-' });
removeCgroupRootAfter(layout, ROOT);

const flat = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v)]),
  );

/** The container's working set and CPU time from its own cgroup files (the runtime's view, not the kubelet's). */
function cgroupOf(path: string): { workingSet: number; cpuNs: number } {
  if (layout.version === 2) {
    const dir = `${layout.root}${path}`;
    const usage = Number(readFileSync(`${dir}/memory.current`, 'utf8'));
    const inactive = flat(readFileSync(`${dir}/memory.stat`, 'utf8'))['inactive_file'] ?? 0;
    return {
      workingSet: usage - inactive,
      cpuNs: (flat(readFileSync(`${dir}/cpu.stat`, 'utf8'))['usage_usec'] ?? 0) * 1000,
    };
  }
  const mem = `${layout.controllers['memory']}${path}`;
  const usage = Number(readFileSync(`${mem}/memory.usage_in_bytes`, 'utf8'));
  const inactive = flat(readFileSync(`${mem}/memory.stat`, 'utf8'))['total_inactive_file'] ?? 0;
  return {
    workingSet: usage - inactive,
    cpuNs: Number(readFileSync(`${layout.controllers['cpuacct']}${path}/cpuacct.usage`, 'utf8')),
  };
}

describe(`stats on real containerd (cgroup v${layout.version})`, () => {
  it("/stats/summary: the container's working set and CPU time match its cgroup files; usageNanoCores from two samples; /metrics/resource passes promtool", async (t) => {
    const dirs = await node.dirs();
    const port = await freePort();
    node.daemon(dirs, [
      '--cgroups-per-qos=true',
      `--cgroup-root=${ROOT}`,
      `--read-only-port=${port}`,
      '--address=127.0.0.1',
    ]);
    await writeFile(
      join(dirs.manifests, 'hog.yaml'),
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata:\n  name: hog\n  namespace: default',
        'spec:',
        '  terminationGracePeriodSeconds: 1',
        '  containers:',
        '  - name: app',
        `    image: ${BUSYBOX_IMAGE}`,
        `    command: ${JSON.stringify(HOLD)}`,
        '',
      ].join('\n'),
    );
    const ctr = await eventually(
      async () => {
        const cs = await node.cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': `hog-${NODE}` },
          state: { state: 'CONTAINER_RUNNING' },
        });
        return cs[0];
      },
      60_000,
      'hog running',
    );
    const sb = (await node.cri.listPodSandbox({ id: ctr.podSandboxId }))[0]!;
    const cgroup = `${ROOT}/kubepods/besteffort/pod${sb.metadata.uid}/${ctr.id}`;
    // the shell has its 24 MiB once the cgroup says so (the first stats sample may predate it)
    await eventually(() => cgroupOf(cgroup).workingSet > 24 * MI, 30_000, 'the container holds 24 MiB');
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: await r.text() };
    };
    // a summary sampled after the allocation, with a CPU rate (a second sample of the container)
    const summary = await eventually(
      async () => {
        const r = await get('/stats/summary');
        if (r.status !== 200) return undefined;
        const s = JSON.parse(r.body) as Summary;
        const c = s.pods.find((p) => p.podRef.name === `hog-${NODE}`)?.containers.find((x) => x.name === 'app');
        return c?.cpu?.usageNanoCores !== undefined && (c.memory?.workingSetBytes ?? 0) > 24 * MI ? s : undefined;
      },
      60_000,
      "a summary with the container's CPU rate and its 24 MiB",
    );
    const direct = cgroupOf(cgroup);
    const readAt = Date.now();
    const pod = summary.pods.find((p) => p.podRef.name === `hog-${NODE}`)!;
    const c = pod.containers.find((x) => x.name === 'app')!;
    // memory: the container is idle after its allocation (a sleep a second, nothing else), so
    // the working set differs between the sample and this read only by the kernel's per-cpu
    // charge batching and a sleep's few pages: 1 MiB
    assert.ok(
      Math.abs(c.memory!.workingSetBytes! - direct.workingSet) < MI,
      `working set ${c.memory!.workingSetBytes} ~ cgroup ${direct.workingSet}`,
    );
    // cpu: a counter; the sample is older than this read, by at most (readAt − sample time), in
    // which the container could use at most every core: the read is between the two
    const sampledAt = Date.parse(c.cpu!.time);
    const cpuNs = c.cpu!.usageCoreNanoSeconds!;
    const slackNs = Math.max(0, readAt - sampledAt) * 1e6 * cpus().length;
    assert.ok(
      direct.cpuNs >= cpuNs && direct.cpuNs <= cpuNs + slackNs,
      `cpu ${cpuNs} ns ≤ cgroup ${direct.cpuNs} ns ≤ +${slackNs}`,
    );
    assert.ok(
      c.cpu!.usageNanoCores! < 0.5e9,
      `an idle container's rate ${c.cpu!.usageNanoCores} is well under half a core`,
    );
    assert.ok(pod.memory!.workingSetBytes! >= c.memory!.workingSetBytes!, 'the pod cgroup holds the container');
    // the pod's figures against the pod cgroup (the sandbox's pause process and the container), same bound
    const podDirect = cgroupOf(`${ROOT}/kubepods/besteffort/pod${sb.metadata.uid}`);
    assert.ok(
      Math.abs(pod.memory!.workingSetBytes! - podDirect.workingSet) < MI,
      `pod working set ${pod.memory!.workingSetBytes} ~ cgroup ${podDirect.workingSet}`,
    );
    assert.ok(
      podDirect.cpuNs >= pod.cpu!.usageCoreNanoSeconds! &&
        podDirect.cpuNs <= pod.cpu!.usageCoreNanoSeconds! + slackNs + (Date.now() - readAt) * 1e6 * cpus().length,
      'pod cpu',
    );
    assert.ok(summary.node.memory!.workingSetBytes! > pod.memory!.workingSetBytes!, 'the node holds the pod');
    assert.ok(
      (summary.node.fs?.capacityBytes ?? 0) > 0 && (summary.node.runtime?.imageFs?.capacityBytes ?? 0) > 0,
      'nodefs and imagefs',
    );
    assert.ok((summary.node.rlimit?.maxpid ?? 0) > 0 && (summary.node.rlimit?.curproc ?? 0) > 0, 'pid rlimit');

    // which way the pod figures came (the runtime's ListPodSandboxStats carries the pod's network)
    t.diagnostic(
      `pod stats from ${pod.network ? 'ListPodSandboxStats' : 'the pod cgroup'}; pod working set ${pod.memory!.workingSetBytes}, container ${c.memory!.workingSetBytes}`,
    );
    const only = JSON.parse((await get('/stats/summary?only_cpu_and_memory=true')).body) as Summary;
    assert.equal(only.node.fs, undefined);
    assert.ok(only.pods.some((p) => p.podRef.name === `hog-${NODE}` && p.memory?.workingSetBytes !== undefined));

    const metrics = await get('/metrics/resource');
    assert.equal(metrics.status, 200);
    assert.match(
      metrics.body,
      new RegExp(`container_memory_working_set_bytes\\{container="app",namespace="default",pod="hog-${NODE}"\\} \\d+`),
    );
    assert.match(metrics.body, /^scrape_error 0$/m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
    assert.ifError(promtool.error);
    assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  });
});
