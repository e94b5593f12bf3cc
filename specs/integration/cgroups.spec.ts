// Tier 4: pod cgroups on real containerd (runc, cgroupfs driver). The daemon runs with the QoS
// hierarchy under a cgroup root of its own; each assertion reads the cgroup files directly, on
// the cgroup version this machine has (detected from /proc/self/mountinfo as the kubelet does).
// Every cgroup the spec's kubelet made is removed at the end, also when a test fails.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  allCgroupDirs,
  cpuSharesToWeight,
  detectCgroupLayout,
  listingDir,
} from '../../actors/container-manager/logic.ts';
import type { PodSandbox } from '../../protocols/cri/types.ts';
import { eventually } from '../support/daemon.ts';
import { removeCgroupRootAfter } from '../support/cgroups.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-cg';
const ROOT = `/kts-cg-${randomBytes(4).toString('hex')}`;
const layout = detectCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

const node = useNodeFixture({ node: NODE, prefix: 'kts-cg-' });
removeCgroupRootAfter(layout, ROOT);

function podYaml(
  name: string,
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> },
): string {
  const r = resources
    ? [
        '    resources:',
        ...(['requests', 'limits'] as const).flatMap((k) =>
          resources[k] ? [`      ${k}: ${JSON.stringify(resources[k])}`] : [],
        ),
      ]
    : [];
  return [
    'apiVersion: v1',
    'kind: Pod',
    `metadata:\n  name: ${name}\n  namespace: default`,
    'spec:',
    '  terminationGracePeriodSeconds: 1',
    '  containers:',
    '  - name: app',
    `    image: ${BUSYBOX_IMAGE}`,
    `    command: ${JSON.stringify(SLEEP)}`,
    ...r,
    '',
  ].join('\n');
}

async function runningSandbox(name: string): Promise<PodSandbox> {
  return eventually(
    async () => {
      const cs = await node.cri.listContainers({
        labelSelector: { 'io.kubernetes.pod.name': `${name}-${NODE}` },
        state: { state: 'CONTAINER_RUNNING' },
      });
      if (cs.length !== 1) return undefined;
      return (await node.cri.listPodSandbox({ id: cs[0]!.podSandboxId }))[0];
    },
    30_000,
    `${name} running`,
  );
}

/** A cgroup file of `path` (cgroupfs name) in the hierarchy that holds it. */
function read(controller: 'cpu' | 'memory', path: string, file: string): string {
  const base = layout.version === 2 ? layout.root : layout.controllers[controller]!;
  return readFileSync(`${base}${path}/${file}`, 'utf8').trim();
}
const memLimit = (path: string) => read('memory', path, layout.version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
const cpuShares = (path: string, shares: number) =>
  layout.version === 2
    ? read('cpu', path, 'cpu.weight') === String(cpuSharesToWeight(shares))
    : read('cpu', path, 'cpu.shares') === String(shares);
const MI = 2 ** 20;

describe(`pod cgroups on real containerd (cgroup v${layout.version}, cgroupfs driver, root ${ROOT})`, () => {
  it("Guaranteed in kubepods/pod<uid>, Burstable and BestEffort in their tiers, with the pod limits; the tiers follow the pods; a removed pod's cgroup goes", async () => {
    const dirs = await node.dirs();
    const d = node.daemon(dirs, [
      '--cgroups-per-qos=true',
      `--cgroup-root=${ROOT}`,
      '--enforce-node-allocatable=pods',
      '--kube-reserved=memory=256Mi',
    ]);
    await writeFile(join(dirs.manifests, 'g.yaml'), podYaml('g', { limits: { cpu: '200m', memory: '64Mi' } }));
    await writeFile(
      join(dirs.manifests, 'b.yaml'),
      podYaml('b', { requests: { cpu: '100m', memory: '16Mi' }, limits: { memory: '128Mi' } }),
    );
    await writeFile(join(dirs.manifests, 'e.yaml'), podYaml('e'));
    const [g, b, e] = [await runningSandbox('g'), await runningSandbox('b'), await runningSandbox('e')];
    const kubepods = `${ROOT}/kubepods`;
    const paths = {
      g: `${kubepods}/pod${g.metadata.uid}`,
      b: `${kubepods}/burstable/pod${b.metadata.uid}`,
      e: `${kubepods}/besteffort/pod${e.metadata.uid}`,
    };
    // each sandbox's cgroup (runc's, named by the sandbox id) is inside its pod cgroup
    for (const [sb, path] of [
      [g, paths.g],
      [b, paths.b],
      [e, paths.e],
    ] as const) {
      assert.ok(existsSync(`${listingDir(layout, path)}/${sb.id}`), `sandbox ${sb.metadata.name} in ${path}`);
    }
    // the pod cgroups carry the pod limits (ResourceConfigForPod)
    assert.equal(memLimit(paths.g), String(64 * MI));
    assert.ok(cpuShares(paths.g, 204), 'Guaranteed: shares from 200m');
    if (layout.version === 1) assert.equal(read('cpu', paths.g, 'cpu.cfs_quota_us'), '20000');
    else assert.equal(read('cpu', paths.g, 'cpu.max'), '20000 100000');
    assert.equal(memLimit(paths.b), String(128 * MI), 'Burstable: every container limits memory');
    assert.ok(cpuShares(paths.b, 102));
    if (layout.version === 1) assert.equal(read('cpu', paths.b, 'cpu.cfs_quota_us'), '-1', 'no CPU limit: no quota');
    assert.ok(cpuShares(paths.e, 2), 'BestEffort: 2 shares');
    // kubepods holds the node allocatable, the tiers the Burstable requests and 2 shares
    const memTotal = Number(/MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
    const allocatable = memTotal - 256 * MI;
    assert.ok(
      Math.abs(Number(memLimit(kubepods)) - allocatable) < 4096,
      `kubepods memory ${memLimit(kubepods)} ~ ${allocatable}`,
    );
    await eventually(
      () => cpuShares(`${kubepods}/burstable`, 102),
      10_000,
      'burstable tier shares = the Burstable requests',
    );
    assert.ok(cpuShares(`${kubepods}/besteffort`, 2));
    // restrict_oom_score_adj (the harness's containerd) keeps Guaranteed containers at containerd's own 0
    await d.waitForLog(/did not lower oom_score_adj for Guaranteed containers/, 30_000);

    // the Burstable pod goes: its cgroup is removed, the tier falls back to 2 shares
    await unlink(join(dirs.manifests, 'b.yaml'));
    await eventually(
      () => allCgroupDirs(layout, paths.b).every((dir) => !existsSync(dir)),
      40_000,
      "the removed pod's cgroup removed in every hierarchy",
    );
    await eventually(() => cpuShares(`${kubepods}/burstable`, 2), 70_000, 'burstable tier back to 2 shares');
    assert.ok(existsSync(listingDir(layout, paths.g)), 'the other pods keep theirs');
  });
});
