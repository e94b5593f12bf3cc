/**
 * Probe benchmark: the kubelet's CPU with N static pods on real containerd, each with one exec
 * liveness probe and one httpGet readiness probe every 10 s (issue 10's target: ≤ 0.05 core for
 * 100 pods on 2 cores). A script that prints, not a spec: nothing is asserted.
 *
 *   npm run bench:probes -- [--pods 100] [--window 60s] [--timeout 300s]
 *
 * The real daemon (bin/kubelet-ts) starts on a private containerd with the N manifests in place;
 * once every container is RUNNING (as the runtime reports it) and every pod is probed (a
 * readiness success in the daemon's log for each), the daemon's user + system CPU
 * (/proc/<pid>/stat) is read over the window and printed in cores, with the probe count in the
 * window. Everything started here is stopped on success, on error and on SIGINT/SIGTERM.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../../kernel/clock.ts';
import { createCriClient } from '../../adapters/cri/client.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const clock = new RealClock();
const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(() => r(), ms));
const CLK_TCK = 100;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const seconds = (s: string) => Number(s.replace(/s$/, '')) * 1000;
const PODS = Number(arg('pods', '100'));
const WINDOW_MS = seconds(arg('window', '60s'));
const TIMEOUT_MS = seconds(arg('timeout', '300s'));

function podYaml(i: number): string {
  const name = `probe-${String(i).padStart(3, '0')}`;
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: ${BUSYBOX_IMAGE}
    command: [sh, -c, "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"]
    livenessProbe: {exec: {command: ["true"]}, periodSeconds: 10}
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 10}
`;
}

async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'kts-bench-probes-'));
  let containerd: ContainerdHandle | undefined;
  let daemon: Daemon | undefined;
  const cleanup = async () => {
    await daemon?.stop().catch(() => undefined);
    if (containerd) {
      const cri = createCriClient(containerd.endpoint, { timeoutMs: 60_000 });
      await removeAllPods(cri).catch(() => undefined);
      cri.close();
      await containerd.stop();
    }
    await rm(work, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      void cleanup().finally(() => process.exit(130));
    });
  try {
    const manifests = join(work, 'manifests');
    await mkdir(manifests);
    for (let i = 0; i < PODS; i++) await writeFile(join(manifests, `probe-${i}.yaml`), podYaml(i));
    containerd = await startContainerd();
    const cri = createCriClient(containerd.endpoint, { timeoutMs: 60_000 });
    // -v=2: the prober logs each result change, which says when every pod has been probed
    daemon = startDaemon({
      endpoint: containerd.endpoint,
      rootDir: join(work, 'root'),
      manifestDir: manifests,
      nodeName: 'bench-node',
      args: ['-v=2'],
    });
    const t0 = clock.now();
    for (;;) {
      const running = (await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } })).length;
      const probed = new Set(
        daemon.lines
          .filter((l) => l.includes('probe result') && l.includes('"readiness"') && l.includes('"success"'))
          .map((l) => /probe-\d+/.exec(l)?.[0]),
      ).size;
      if (running >= PODS && probed >= PODS) break;
      if (clock.now() - t0 > TIMEOUT_MS)
        throw new Error(`after ${TIMEOUT_MS / 1000}s: ${running}/${PODS} running, ${probed}/${PODS} probed ready`);
      await sleep(1000);
    }
    process.stderr.write(
      `all ${PODS} pods running and ready after ${((clock.now() - t0) / 1000).toFixed(1)}s; measuring ${WINDOW_MS / 1000}s\n`,
    );
    await sleep(5000); // let the startup burst (syncs, status writes) pass
    const c0 = await cpuMs(daemon.pid);
    const w0 = clock.now();
    await sleep(WINDOW_MS);
    const c1 = await cpuMs(daemon.pid);
    const elapsed = clock.now() - w0;
    const cores = (c1 - c0) / elapsed;
    const expected = Math.round((PODS * 2 * elapsed) / 10_000);
    process.stdout.write(
      `kubelet CPU with ${PODS} pods × (1 exec + 1 http probe, period 10s): ${cores.toFixed(4)} cores ` +
        `(${(c1 - c0).toFixed(0)} ms CPU over ${(elapsed / 1000).toFixed(1)} s; ~${expected} probes; target ≤ 0.05)\n`,
    );
    cri.close();
  } finally {
    await cleanup();
  }
}

await main();
