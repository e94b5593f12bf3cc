// --sync-frequency / KubeletConfiguration syncFrequency: how long after a successful sync a running
// pod's worker asks for the next one (upstream resyncInterval, default 1m). From the flag to the pod
// worker machine, on a VirtualClock with the in-memory runtime.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialTransition, transition } from 'xstate';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { parseFlags, type KubeletFlags } from '../../bin/flags.ts';
import { applyConfigFile } from '../../bin/config-file.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { podWorkerMachine, RESYNC_INTERVAL_MS } from '../../actors/pod-workers/machine.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { PodWorkerEvent as BusPodWorkerEvent, SyncResult } from '../../protocols/messages/channels.ts';
import { FakeCri } from '../support/fake-cri.ts';

const DIR = '/etc/kubernetes/manifests';
const IMAGE = 'kubelet-ts.local/busybox:1.0';
const MANIFEST = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'steady', namespace: 'default' },
  spec: { containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }] },
});

/** Lets every promise chain started by a timer finish before time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Runs one steady static pod for `forMs` of virtual time with `flags`; returns the clock times of
 * the syncLoop's resyncs of it (the `tick.resync` updates: nothing else changes on the node).
 */
async function resyncTimes(flags: KubeletFlags, forMs: number): Promise<number[]> {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  cri.addImage(IMAGE);
  const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
  fs.writeFile(`${DIR}/steady.json`, MANIFEST);
  const k = createKubelet({ flags, clock, log: silentLogger, nodeName: 'node-v', cri, fs, random: () => 0.5 });
  const times: number[] = [];
  const sub = k.bus.observe('podWorker').subscribe((m) => {
    const u = m as BusPodWorkerEvent;
    if (u.type === 'podWorker.update' && u.cause === 'tick.resync') times.push(clock.now() - 1_800_000_000_000);
  });
  try {
    await k.start();
    for (let t = 0; t < forMs; t += 1000) await clock.advanceAsync(1000, settle);
    const running = await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'app' } });
    assert.deepEqual(
      running.map((c) => c.state),
      ['CONTAINER_RUNNING'],
      'the pod runs throughout',
    );
  } finally {
    sub.unsubscribe();
    await k.stop();
  }
  return times;
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('--sync-frequency', () => {
  it('the pod worker machine schedules the resync its input says, 1m without one', () => {
    const pod = {
      metadata: { name: 'web', namespace: 'default', uid: 'u1' },
      spec: { containers: [] },
    } as unknown as Pod;
    const synced = {
      phase: 'Running',
      apiStatus: {},
      actions: [],
      waiting: [],
      status: { uid: 'u1', name: 'web', namespace: 'default', sandboxes: [], containers: [], timestamp: 0 },
    } as unknown as SyncResult;
    const nextSyncAt = (input: { uid: string; resyncIntervalMs?: number }) => {
      let [snap] = initialTransition(podWorkerMachine, input);
      [snap] = transition(podWorkerMachine, snap, {
        type: 'UPDATE',
        now: 0,
        update: { type: 'podWorker.update', uid: 'u1', updateType: 'create', pod, cause: 'spec' },
      });
      [snap] = transition(podWorkerMachine, snap, { type: 'SYNCED', seq: 1, result: synced, now: 1000 });
      return snap.context.nextSyncAt;
    };
    assert.equal(nextSyncAt({ uid: 'u1', resyncIntervalMs: 5000 }), 6000);
    assert.equal(nextSyncAt({ uid: 'u1' }), 1000 + RESYNC_INTERVAL_MS);
    assert.equal(RESYNC_INTERVAL_MS, 60_000);
  });

  it('--sync-frequency 10s: a running pod is resynced every 10s (within the 1s sync tick)', async () => {
    const times = await resyncTimes(parseFlags(['--pod-manifest-path', DIR, '--sync-frequency', '10s']), 45_000);
    assert.ok(times.length >= 3, `resyncs at ${times}`);
    for (const g of gaps(times)) assert.ok(g >= 10_000 && g <= 11_000, `resyncs ${g}ms apart (at ${times})`);
  });

  it('syncFrequency in the KubeletConfiguration file does the same', async () => {
    const path = '/etc/kubelet-ts/config.yaml';
    const file = 'kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nsyncFrequency: 15s\n';
    const { flags } = applyConfigFile(['--config', path, '--pod-manifest-path', DIR], path, () => file);
    const times = await resyncTimes(flags, 50_000);
    assert.ok(times.length >= 2, `resyncs at ${times}`);
    for (const g of gaps(times)) assert.ok(g >= 15_000 && g <= 16_000, `resyncs ${g}ms apart (at ${times})`);
  });

  it('without either, the default 1m: the first resync comes a minute after the pod started', async () => {
    const times = await resyncTimes(parseFlags(['--pod-manifest-path', DIR]), 70_000);
    assert.ok(times.length >= 1 && times[0]! >= 60_000, `resyncs at ${times}`);
  });
});
