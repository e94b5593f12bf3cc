// Tier 2: the whole kubelet (every actor, the supervisor, the syncLoop) on a VirtualClock with the
// in-memory runtime and filesystem. Minutes of node time run in milliseconds, so crash-loop
// backoff (10s doubling to 300s) is checked to the second, without sleeping.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';

const DIR = '/etc/kubernetes/manifests';
const IMAGE = 'kubelet-ts.local/busybox:1.0';

function manifest(name: string, restartPolicy: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      restartPolicy,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: IMAGE, command: ['false'] }],
    },
  });
}

/** Lets every promise chain started by a timer finish before time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

async function node(pods: Record<string, string>) {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  cri.addImage(IMAGE);
  const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
  for (const [file, text] of Object.entries(pods)) fs.writeFile(`${DIR}/${file}`, text);
  const k = createKubelet({
    flags: { ...DEFAULT_FLAGS, podManifestPath: DIR },
    clock,
    log: silentLogger,
    nodeName: 'node-v',
    cri,
    fs,
    random: () => 0.5,
  });
  await k.start();
  await clock.advanceAsync(0, settle);
  const containers = async () =>
    (await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'app' } })).sort(
      (a, b) => a.metadata.attempt - b.metadata.attempt,
    );
  return { clock, cri, k, containers };
}

describe('the kubelet on virtual time', () => {
  it('runs a static pod, then restarts a crashing container with backoff 10s, 20s, 40s ... capped at 300s', async () => {
    const { clock, cri, k, containers } = await node({ 'crash.json': manifest('crash', 'Always') });
    await clock.advanceAsync(2000, settle);
    const first = await containers();
    assert.equal(first.length, 1);
    assert.equal(first[0]!.state, 'CONTAINER_RUNNING');

    // Each time the newest attempt is running, it exits at once; measure exit → next start.
    const gaps: number[] = [];
    let exitedAt = 0;
    let lastAttempt = -1;
    for (let t = 0; t < 1500 && gaps.length < 8; t++) {
      const cs = await containers();
      const newest = cs.at(-1)!;
      if (newest.metadata.attempt !== lastAttempt && newest.state === 'CONTAINER_RUNNING') {
        if (lastAttempt >= 0) gaps.push(Math.round((clock.now() - exitedAt) / 1000));
        lastAttempt = newest.metadata.attempt;
        cri.exitContainer(newest.id, 1);
        exitedAt = clock.now();
      }
      await clock.advanceAsync(1000, settle);
    }
    // Upstream: the first restart is immediate (next relist), then the delay doubles from 10s
    // and stays at 5m. A restart happens within a relist (1s) of the backoff expiring.
    const expected = [0, 10, 20, 40, 80, 160, 300, 300];
    assert.equal(gaps.length, expected.length, `gaps ${gaps}`);
    gaps.forEach((g, i) =>
      assert.ok(
        g >= expected[i]! && g <= expected[i]! + 2,
        `restart ${i + 1}: ${g}s after the exit, expected ~${expected[i]}s (all: ${gaps})`,
      ),
    );
    // Every attempt got the next restart count (the container name's metadata.attempt).
    const attempts = (await containers()).map((c) => c.metadata.attempt);
    assert.deepEqual(
      attempts,
      attempts.map((_, i) => attempts[0]! + i),
    );
    assert.equal(attempts.at(-1), 8);
    // Container GC (every minute) keeps only the newest exited instance (attempt 8 is waiting
    // out its 300s backoff), whose exit feeds lastState.
    await clock.advanceAsync(60_000, settle);
    const left = await containers();
    assert.deepEqual(
      left.map((c) => [c.metadata.attempt, c.state]),
      [[8, 'CONTAINER_EXITED']],
    );
    await k.stop();
  });

  it('never restarts under Never, and restarts only failures under OnFailure', async () => {
    const { clock, cri, k } = await node({
      'never.json': manifest('never', 'Never'),
      'ok.json': manifest('ok', 'OnFailure'),
      'bad.json': manifest('bad', 'OnFailure'),
    });
    await clock.advanceAsync(2000, settle);
    const byPod = async (pod: string) =>
      cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': `${pod}-node-v` } });
    cri.exitContainer((await byPod('never'))[0]!.id, 1);
    cri.exitContainer((await byPod('ok'))[0]!.id, 0);
    cri.exitContainer((await byPod('bad'))[0]!.id, 2);
    await clock.advanceAsync(120_000, settle);
    assert.equal((await byPod('never')).length, 1);
    assert.equal((await byPod('ok')).length, 1);
    assert.ok((await byPod('bad')).length >= 2, 'OnFailure restarts a non-zero exit');
    // The finished pods reached a terminal phase, and it sticks.
    const statuses = k.bus.port('spec').current('podStatuses')!;
    assert.deepEqual([...statuses.values()].map((s) => s.phase).sort(), ['Failed', 'Running', 'Succeeded']);
    await k.stop();
  });

  it('activeDeadlineSeconds: past it the pod is Failed with DeadlineExceeded, its containers killed, an event recorded', async () => {
    const pod = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'deadline', namespace: 'default' },
      spec: {
        activeDeadlineSeconds: 30,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }],
      },
    });
    const { clock, k, containers } = await node({ 'deadline.json': pod });
    const events: { reason: string; message: string }[] = [];
    k.bus
      .port('spec')
      .events('events')
      .subscribe((e) => events.push(e as unknown as { reason: string; message: string }));
    await clock.advanceAsync(2000, settle);
    const status = () => [...k.bus.port('spec').current('podStatuses')!.values()][0]!;
    assert.equal(status().phase, 'Running');
    const startedAt = Date.parse(status().startTime!);
    // 28 s in: still running
    await clock.advanceAsync(26_000, settle);
    assert.equal(status().phase, 'Running');
    assert.equal((await containers())[0]!.state, 'CONTAINER_RUNNING');
    // the deadline passes: Failed within a sync tick, the container stopped
    for (let i = 0; i < 10 && status().phase !== 'Failed'; i++) await clock.advanceAsync(1000, settle);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'DeadlineExceeded');
    assert.equal(status().message, 'Pod was active on the node longer than the specified deadline');
    assert.ok(
      clock.now() - startedAt >= 30_000 && clock.now() - startedAt <= 32_000,
      `failed ${(clock.now() - startedAt) / 1000}s after the start`,
    );
    await clock.advanceAsync(3000, settle);
    assert.deepEqual(
      (await containers()).map((c) => c.state),
      ['CONTAINER_EXITED'],
    );
    const ev = events.find((e) => JSON.stringify(e).includes('DeadlineExceeded'));
    assert.ok(ev, 'a DeadlineExceeded event');
    assert.equal(status().reason, 'DeadlineExceeded', 'the reason stays while the pod is Failed');
    await k.stop();
  });

  it('activeDeadlineSeconds across a kubelet restart: the deadline still counts from the first start', async () => {
    const pod = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'deadline', namespace: 'default' },
      spec: {
        activeDeadlineSeconds: 60,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: 'app', image: IMAGE, command: ['sleep', '3600'] }],
      },
    });
    const first = await node({ 'deadline.json': pod });
    const { clock, cri, containers } = first;
    await clock.advanceAsync(2000, settle);
    const begun = clock.now();
    await clock.advanceAsync(20_000, settle);
    await first.k.stop();
    // a new kubelet (no status manager state, a static pod the API never saw) on the same runtime
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
    fs.writeFile(`${DIR}/deadline.json`, pod);
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: DIR },
      clock,
      log: silentLogger,
      nodeName: 'node-v',
      cri,
      fs,
      random: () => 0.5,
    });
    await k.start();
    const status = () => [...(k.bus.port('spec').current('podStatuses')?.values() ?? [])][0];
    await clock.advanceAsync(5000, settle);
    assert.equal(status()?.phase, 'Running');
    assert.equal((await containers()).length, 1, 'the running container was adopted, not replaced');
    for (let i = 0; i < 60 && status()?.phase !== 'Failed'; i++) await clock.advanceAsync(1000, settle);
    assert.equal(status()?.reason, 'DeadlineExceeded');
    assert.ok(
      clock.now() - begun <= 62_000,
      `failed ${(clock.now() - begun) / 1000}s after the first start, not 60s after the restart`,
    );
    await k.stop();
  });
});
