// Tier 4: faults on real node.containerd. The runtime goes away or stops answering; actors crash.
// Pods are checked in the runtime directly (container IDs must not change).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet, type Kubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { RealClock } from '../../kernel/clock.ts';
import { createLogger } from '../../kernel/log.ts';
import type { KernelEvent } from '../../protocols/messages/kernel.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { eventually } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-r';

const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ${BUSYBOX_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`;

async function runningIds(name: string): Promise<string[]> {
  const cs = await node.cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': `${name}-${NODE}` },
    state: { state: 'CONTAINER_RUNNING' },
  });
  return cs.map((c) => c.id).sort();
}

const node = useNodeFixture({ node: NODE, prefix: 'kts-resilience-' });
const dirs = () => node.dirs();

describe('runtime faults', () => {
  it('starts without a runtime, reports it not ready, retries, and runs the pod when containerd comes back', async () => {
    const d0 = await dirs();
    await writeFile(join(d0.manifests, 'late.yaml'), pod('late'));
    await node.containerd.stopDaemonOnly();
    const d = node.daemon(d0);
    await d.waitForLog(/container runtime not ready.*container runtime is down/, 15_000);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(d.proc.exitCode, null, 'the daemon is still up');
    await node.containerd.restartDaemon();
    await eventually(
      async () => (await runningIds('late')).length === 1,
      40_000,
      'pod running after containerd came back',
    );
    await d.waitForLog(/container runtime is ready/, 10_000);
    assert.equal(d.proc.exitCode, null);
  });

  it('a runtime that stops answering (SIGSTOP) costs nothing: pods untouched, the daemon recovers on SIGCONT', async () => {
    const d0 = await dirs();
    await writeFile(join(d0.manifests, 'steady.yaml'), pod('steady'));
    const d = node.daemon(d0, ['--runtime-request-timeout=2s']);
    const ids = await eventually(
      async () => {
        const x = await runningIds('steady');
        return x.length === 1 ? x : undefined;
      },
      20_000,
      'pod running',
    );
    process.kill(node.containerd.pid, 'SIGSTOP');
    try {
      await d.waitForLog(/container runtime not ready/, 20_000);
      assert.equal(d.proc.exitCode, null, 'the daemon is still up');
    } finally {
      process.kill(node.containerd.pid, 'SIGCONT');
    }
    await d.waitForLog(/container runtime is ready/, 40_000);
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await runningIds('steady'), ids, 'same container, never restarted');
  });
});

describe('supervision on real containerd', () => {
  function inProcess(manifests: string, onEscalate?: (r: string) => void): Kubelet {
    const clock = new RealClock();
    const k = createKubelet({
      flags: {
        ...DEFAULT_FLAGS,
        podManifestPath: manifests,
        containerRuntimeEndpoint: node.containerd.endpoint,
        fileCheckFrequencyMs: 2000,
        podLogsDir: join(node.work, 'logs'),
      },
      clock,
      log: createLogger({ verbosity: 0, now: () => clock.now(), sink: { write: () => {} } }),
      nodeName: NODE,
      onEscalate,
    });
    node.track(k);
    return k;
  }

  it('an actor that throws is restarted by its supervisor while every pod keeps running', async () => {
    const d0 = await dirs();
    await writeFile(join(d0.manifests, 'a.yaml'), pod('calm'));
    const k = inProcess(d0.manifests);
    const kernel: KernelEvent[] = [];
    k.bus.observe('kernel').subscribe((m) => kernel.push(m as KernelEvent));
    await k.start();
    const ids = await eventually(
      async () => {
        const x = await runningIds('calm');
        return x.length === 1 ? x : undefined;
      },
      20_000,
      'pod running',
    );
    for (const id of ['pleg', 'podWorkers', 'runtime', 'podConfig', 'syncLoop']) {
      k.supervisor.crash(id, new Error(`boom in ${id}`));
      await eventually(
        () => kernel.some((m) => m.type === 'kernel.actorStarted' && m.id === id && m.restarts === 1),
        10_000,
        `${id} restarted`,
      );
    }
    const info = k.supervisor.inspect();
    for (const id of ['pleg', 'podWorkers', 'runtime', 'podConfig', 'syncLoop']) {
      const a = info.find((x) => x.id === id)!;
      assert.equal(a.state, 'running');
      assert.equal(a.restarts, 1);
      assert.match(a.lastError ?? '', new RegExp(`boom in ${id}`));
    }
    // Several syncs after the restarts: the same container, nothing recreated.
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(await runningIds('calm'), ids);
    const all = await node.cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': `calm-${NODE}` } });
    assert.equal(all.length, 1);
    // And the restarted actors still work: a new pod starts.
    await writeFile(join(d0.manifests, 'b.yaml'), pod('fresh'));
    await eventually(async () => (await runningIds('fresh')).length === 1, 20_000, 'a new pod after the restarts');
  });

  it('exceeding restart intensity stops everything cleanly and escalates', async () => {
    const d0 = await dirs();
    await writeFile(join(d0.manifests, 'a.yaml'), pod('esc'));
    let reason: string | undefined;
    const k = inProcess(d0.manifests, (r) => {
      reason = r;
    });
    await k.start();
    const ids = await eventually(
      async () => {
        const x = await runningIds('esc');
        return x.length === 1 ? x : undefined;
      },
      20_000,
      'pod running',
    );
    // pleg allows 5 restarts per minute: the sixth crash escalates.
    const pleg = () => k.supervisor.inspect().find((a) => a.id === 'pleg')!;
    for (let i = 0; i < 6; i++) {
      await eventually(
        () => pleg().state === 'running' && pleg().restarts === i,
        15_000,
        `pleg running after ${i} restarts`,
      );
      k.supervisor.crash('pleg', new Error(`crash ${i}`));
    }
    await k.stopped;
    assert.match(reason ?? '', /pleg crashed 6 times/);
    assert.ok(k.supervisor.inspect().every((a) => a.state === 'stopped' || a.state === 'failed'));
    assert.deepEqual(await runningIds('esc'), ids, 'pods outlive the stopped kubelet');
  });

  it('the daemon exits non-zero when an actor exceeds its restart intensity (crashes injected through the debug socket)', async () => {
    const d0 = await dirs();
    await writeFile(join(d0.manifests, 'a.yaml'), pod('survivor'));
    const d = node.daemon(d0);
    const ids = await eventually(
      async () => {
        const x = await runningIds('survivor');
        return x.length === 1 ? x : undefined;
      },
      20_000,
      'pod running',
    );
    const ask = (line: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const sock = createConnection(join(d0.root, 'kubelet-ts.sock'));
        let buf = '';
        sock.on('data', (b) => {
          buf += b.toString();
          const i = buf.indexOf('\n');
          if (i >= 0) {
            sock.end();
            resolve(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
          }
        });
        sock.on('error', reject);
        sock.write(line + '\n');
      });
    const plegRestarts = async () => {
      const r = await ask('actors');
      const a = (r.result as { actors: { id: string; state: string; restarts: number }[] }).actors.find(
        (x) => x.id === 'pleg',
      )!;
      return a.state === 'running' ? a.restarts : -1;
    };
    assert.equal((await ask('crash nosuchactor')).ok, false);
    for (let i = 0; i < 6; i++) {
      await eventually(async () => (await plegRestarts()) === i, 15_000, `pleg running after ${i} restarts`);
      assert.equal((await ask('{"cmd":"crash","actor":"pleg"}')).ok, true);
    }
    assert.equal(await d.exited, 1, 'exit 1 so that systemd restarts the daemon');
    await d.waitForLog(/restart intensity exceeded/);
    assert.deepEqual(await runningIds('survivor'), ids, 'pods outlive the daemon');
  });
});
