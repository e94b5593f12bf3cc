// Tier 2: the whole kubelet on a VirtualClock with the in-memory runtime. Editing a static pod's
// manifest gives the pod a new uid under the same name: the old pod is stopped (within its grace
// period) before the new one gets a sandbox (upstream podWorkers allowStaticPodStart), so the two
// never run side by side. A first start is not delayed by this.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import type { CallOptions } from '../../protocols/cri/types.ts';
import { FakeCri } from '../support/fake-cri.ts';

const DIR = '/etc/kubernetes/manifests';
const IMAGE = 'kubelet-ts.local/busybox:1.0';
/** How long a stop takes here: the container ignores SIGTERM and dies at the end of its grace. */
const GRACE_S = 5;

function manifest(version: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: GRACE_S,
      containers: [
        { name: 'app', image: IMAGE, command: ['sleep', version], ports: [{ containerPort: 80, hostPort: 8080 }] },
      ],
    },
  });
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

describe('editing a static pod manifest', () => {
  it('starts the new version only after the old one stopped; the first start is immediate', async () => {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const stop = cri.stopContainer.bind(cri);
    cri.stopContainer = (id: string, timeoutSeconds: number, opts?: CallOptions) =>
      new Promise<void>((r) => clock.setTimeout(() => r(), timeoutSeconds * 1000)).then(() =>
        stop(id, timeoutSeconds, opts),
      );
    // every RunPodSandbox: when, for which uid, and how many containers of the pod were running then
    const runs: { at: number; uid: string; runningApps: number }[] = [];
    const run = cri.runPodSandbox.bind(cri);
    cri.runPodSandbox = async (config, opts) => {
      const apps = await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'app' } });
      runs.push({
        at: clock.now(),
        uid: config.metadata.uid,
        runningApps: apps.filter((c) => c.state === 'CONTAINER_RUNNING').length,
      });
      return run(config, opts);
    };
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
    fs.writeFile(`${DIR}/web.json`, manifest('1'));
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: DIR },
      clock,
      log: silentLogger,
      nodeName: 'node-v',
      cri,
      fs,
      random: () => 0.5,
    });
    const added: number[] = [];
    k.bus
      .port('spec')
      .events('podManager')
      .subscribe((m) => {
        if (m.op === 'add') added.push(clock.now());
      });
    await k.start();
    await clock.advanceAsync(0, settle);
    try {
      for (let i = 0; i < 50 && runs.length < 1; i++) await clock.advanceAsync(100, settle);
      assert.equal(runs.length, 1);
      assert.equal(added.length, 1);
      // (at the daemon's start the add can precede the syncLoop; the first tick creates it then)
      assert.ok(runs[0]!.at - added[0]! <= 1000, `the first start is not held (${runs[0]!.at - added[0]!}ms)`);
      const oldUid = runs[0]!.uid;

      fs.writeFile(`${DIR}/web.json`, manifest('2'));
      k.bus.port('spec').send('config', { type: 'config.relist' });
      const editedAt = clock.now();
      for (let i = 0; i < 100 && runs.length < 2; i++) await clock.advanceAsync(100, settle);
      assert.equal(runs.length, 2, 'the new version started');
      const second = runs[1]!;
      assert.notEqual(second.uid, oldUid);
      assert.equal(second.runningApps, 0, 'no container of the old version ran when the new sandbox was created');
      assert.ok(
        second.at - editedAt >= GRACE_S * 1000,
        `held for the old pod's grace period (${second.at - editedAt}ms)`,
      );
      assert.ok(
        second.at - editedAt <= GRACE_S * 1000 + 2000,
        `started within a tick or two after (${second.at - editedAt}ms)`,
      );
      await clock.advanceAsync(2000, settle);
      const apps = await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'app' } });
      assert.deepEqual(
        apps.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => c.labels['io.kubernetes.pod.uid']),
        [second.uid],
      );
    } finally {
      await k.stop();
    }
  });
});
