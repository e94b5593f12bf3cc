// The runtime's podCgroups port (upstream syncPod's pcm.EnsureExists and GetPodCgroupParent): the
// pod cgroup made before RunPodSandbox, the sandbox's cgroup_parent, the node memory behind a
// Burstable container's oom_score_adj, and a failure as FailedCreatePodContainer. FakeCri, VirtualClock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import { podCgroupParent } from '../../protocols/kube/cgroups.ts';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import type { ContainerConfig, PodSandboxConfig } from '../../protocols/cri/types.ts';
import { runtime } from '../../actors/runtime/index.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { silentLogger } from '../../kernel/log.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'registry.local/app:1.0';
const GI = 2 ** 30;
const pod = (uid: string, resources: Record<string, unknown>): Pod =>
  applyPodDefaults(
    PodSchema.parse({
      metadata: { name: uid, namespace: 'default', uid },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE, resources }] },
    }) as Pod,
  );

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

async function sync(fail?: string) {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  cri.addImage(IMAGE);
  const ensured: string[] = [];
  const podCgroups = {
    parent: (p: Pod) => podCgroupParent(p, { driver: 'cgroupfs' as const, cgroupRoot: '/', cgroupsPerQos: true }),
    memoryCapacity: 4 * GI,
    ensure: async (p: Pod) => {
      ensured.push(
        `${p.metadata.uid} before ${cri.calls.filter((c) => c.method === 'RunPodSandbox').length} sandboxes`,
      );
      if (fail) throw new Error(fail);
    },
  };
  const a = await startActor(
    runtime,
    {
      cri,
      images: new ImageManager({ images: cri, clock }),
      nodeName: 'node-a',
      podLogsDir: '/var/log/pods',
      dns: { clusterDns: ['10.96.0.10'], clusterDomain: 'cluster.local', resolvConf: '' },
      podCgroups,
    },
    { clock },
  );
  const events = collect(a.bus, 'events');
  const p = pod('b-1', { requests: { memory: '1Gi' }, limits: { memory: '2Gi' } });
  a.bus.port('podWorkers').send('runtime', { type: 'runtime.syncPod', uid: 'b-1', seq: 1, pod: p });
  await clock.advanceAsync(0, settle);
  const call = (m: string) => cri.calls.find((c) => c.method === m)?.args;
  return {
    a,
    ensured,
    events,
    sandbox: call('RunPodSandbox')?.[0] as PodSandboxConfig | undefined,
    container: call('CreateContainer')?.[1] as ContainerConfig | undefined,
  };
}

describe('runtime: the pod cgroup port', () => {
  it('ensures the pod cgroup before the sandbox, sends it as cgroup_parent, and the Burstable oom_score_adj from the node memory', async () => {
    const { a, ensured, sandbox, container } = await sync();
    assert.deepEqual(ensured, ['b-1 before 0 sandboxes']);
    assert.equal(sandbox?.linux?.cgroupParent, '/kubepods/burstable/podb-1');
    assert.equal(container?.linux?.resources?.oomScoreAdj, 1000 - Math.trunc((1000 * GI) / (4 * GI)));
    assert.equal(container?.linux?.resources?.memoryLimitInBytes, 2 * GI);
    await a.stop();
  });

  it('a pod cgroup that cannot be made: no sandbox, FailedCreatePodContainer, a sync error', async () => {
    const { a, events, sandbox } = await sync(
      'cgroup /kubepods/burstable/podb-1: writing 1 to memory.limit_in_bytes: EBUSY',
    );
    assert.equal(sandbox, undefined);
    const e = events.find((x) => x.reason === 'FailedCreatePodContainer');
    assert.equal(e?.eventType, 'Warning');
    assert.match(
      e?.message ?? '',
      /^unable to ensure pod container exists: cgroup \/kubepods\/burstable\/podb-1: writing 1 to memory\.limit_in_bytes: EBUSY$/,
    );
    await a.stop();
  });
});

describe('the whole kubelet: cgroup names from a recording header (replay), none by default', () => {
  async function kubeletSandbox(recordedCgroups?: {
    settings: { driver: 'cgroupfs' | 'systemd'; cgroupRoot: string; cgroupsPerQos: boolean };
    memoryCapacity: number;
  }) {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const dir = '/etc/kubernetes/manifests';
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(dir);
    fs.writeFile(
      `${dir}/g.json`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'g', namespace: 'default' },
        spec: { containers: [{ name: 'app', image: IMAGE, resources: { limits: { cpu: '1', memory: '1Gi' } } }] },
      }),
    );
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: dir },
      clock,
      log: silentLogger,
      nodeName: 'node-v',
      cri,
      fs,
      random: () => 0.5,
      ...(recordedCgroups ? { recordedCgroups } : {}),
    });
    await k.start();
    await clock.advanceAsync(2000, settle);
    const cfg = cri.calls.find((c) => c.method === 'RunPodSandbox')?.args[0] as PodSandboxConfig | undefined;
    await k.stop();
    return { cfg };
  }

  it('replays the recorded pod cgroup (no cgroups touched: no cgroup port); a kubelet without the cgroup port sends none', async () => {
    const replayed = await kubeletSandbox({
      settings: { driver: 'systemd', cgroupRoot: '/', cgroupsPerQos: true },
      memoryCapacity: 4 * GI,
    });
    assert.match(replayed.cfg?.linux?.cgroupParent ?? '', /^\/kubepods\.slice\/kubepods-pod[0-9a-f]+\.slice$/);
    const plain = await kubeletSandbox();
    assert.ok(plain.cfg, 'the sandbox was created');
    assert.equal(plain.cfg.linux?.cgroupParent, undefined);
  });
});
