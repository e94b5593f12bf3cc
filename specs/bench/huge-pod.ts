/**
 * Huge-pod benchmark (issue 8): one static pod with N busybox `sleep` containers (default
 * 10,000) is written for the real daemon, and its file removed 10 s after it appeared. Reported:
 * how many containers the sync had created by then, how long until nothing of the pod runs and
 * until it is gone from the runtime (as the runtime itself reports it: ListContainers through
 * this script's own CRI client, never the kubelet's view), whether the daemon is still alive
 * and answering, and its VmRSS / VmHWM over time. A script that prints, not a spec.
 *
 *   npm run bench:huge-pod -- [--containers 10000] [--remove-after 10s] [--grace 10]
 *                             [--timeout 15m] [--sample 1s] [--json]   (root; --help)
 *
 * It runs its own private containerd (specs/support/containerd.ts) and stops everything it
 * started by pid or through the harness, on success, on error and on SIGINT/SIGTERM/SIGHUP.
 * Time comes from kernel/clock.ts's RealClock (the one clock; specs/ may not call Date.now()).
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { RealClock } from '../../kernel/clock.ts';
import { LABEL_POD_NAME } from '../../protocols/cri/labels.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import { startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { parseDurationMs, rssKb, runWithCleanup } from './support.ts';

const clock = new RealClock();
const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(() => r(), ms));
const NODE = 'bench-node';
const POD = 'huge';

interface Options {
  containers: number;
  removeAfterMs: number;
  grace: number;
  timeoutMs: number;
  sampleMs: number;
  json: boolean;
}

const USAGE = `Usage: npm run bench:huge-pod -- [options]
  --containers N      containers in the one static pod (default 10000)
  --remove-after DUR  remove the manifest this long after it was written (default 10s)
  --grace S           the pod's terminationGracePeriodSeconds (default 10)
  --timeout DUR       give up waiting for the pod to go after DUR (default 15m)
  --sample DUR        RSS and runtime sampling period (default 1s)
  --json              print one JSON line on stdout (progress still goes to stderr)`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    containers: 10_000,
    removeAfterMs: 10_000,
    grace: 10,
    timeoutMs: 15 * 60_000,
    sampleMs: 1000,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/s.exec(argv[i]!);
    if (!m) throw new Error(`unexpected argument "${argv[i]}"\n${USAGE}`);
    const value = (): string => {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new Error(`--${m[1]} needs a value`);
      return v;
    };
    const int = (): number => {
      const v = value();
      if (!/^\d+$/.test(v)) throw new Error(`--${m[1]}: "${v}" is not a non-negative integer`);
      return Number(v);
    };
    switch (m[1]) {
      case 'containers':
        o.containers = Math.max(1, int());
        break;
      case 'remove-after':
        o.removeAfterMs = parseDurationMs(value());
        break;
      case 'grace':
        o.grace = int();
        break;
      case 'timeout':
        o.timeoutMs = parseDurationMs(value());
        break;
      case 'sample':
        o.sampleMs = Math.max(100, parseDurationMs(value()));
        break;
      case 'json':
        o.json = true;
        break;
      case 'help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option --${m[1]}\n${USAGE}`);
    }
  }
  return o;
}

function podYaml(o: Options): string {
  const cs = Array.from(
    { length: o.containers },
    (_, i) => `  - name: c${i}\n    image: ${BUSYBOX_IMAGE}\n    command: ["sleep", "3600"]`,
  );
  return (
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${POD}\n  namespace: default\nspec:\n` +
    `  terminationGracePeriodSeconds: ${o.grace}\n  containers:\n${cs.join('\n')}\n`
  );
}

interface Sample {
  t: number;
  phase: 'up' | 'removed';
  running: number;
  created: number;
  rssKb: number;
  hwmKb: number;
}

/** The pod's containers (all, and running) and sandboxes, as the runtime reports them. */
async function podInRuntime(cri: CriRuntime): Promise<{ created: number; running: number; sandboxes: number }> {
  const label = `${POD}-${NODE}`;
  const [all, sandboxes] = await Promise.all([cri.listContainers(), cri.listPodSandbox()]);
  const mine = all.filter((c) => c.labels[LABEL_POD_NAME] === label);
  return {
    created: mine.length,
    running: mine.filter((c) => c.state === 'CONTAINER_RUNNING').length,
    sandboxes: sandboxes.filter((s) => s.labels[LABEL_POD_NAME] === label).length,
  };
}

/** The daemon's debug socket answers `actors`: how many actors run, and their restarts so far. */
function askActors(root: string): Promise<{ running: number; actors: number; restarts: number }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(join(root, 'kubelet-ts.sock'));
    let buf = '';
    const timer = clock.setTimeout(() => {
      sock.destroy();
      reject(new Error('the debug socket did not answer within 10 s'));
    }, 10_000);
    sock.on('error', (e) => {
      clock.clearTimeout(timer);
      reject(e);
    });
    sock.on('connect', () => sock.write('actors\n'));
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clock.clearTimeout(timer);
      sock.destroy();
      try {
        const r = JSON.parse(buf.slice(0, nl)) as {
          ok: boolean;
          result?: { actors: { state: string; restarts: number }[] };
          error?: string;
        };
        if (!r.ok || !r.result) throw new Error(`debug socket: ${r.error ?? 'no result'}`);
        const actors = r.result.actors;
        resolve({
          running: actors.filter((a) => a.state === 'running').length,
          actors: actors.length,
          restarts: actors.reduce((n, a) => n + a.restarts, 0),
        });
      } catch (e) {
        reject(e);
      }
    });
  });
}

function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

async function run(
  o: Options,
  cri: CriRuntime,
  containerd: ContainerdHandle,
  work: string,
  track: (d: Daemon) => void,
) {
  const manifests = join(work, 'manifests');
  const staging = join(work, 'staging');
  await mkdir(manifests);
  await mkdir(staging);
  const d = startDaemon({
    endpoint: containerd.endpoint,
    manifestDir: manifests,
    rootDir: join(work, 'root'),
    nodeName: NODE,
    args: ['-v=0', '--file-check-frequency=2s'],
  });
  track(d);
  const exited = d.exited.then((code) => {
    throw new Error(`the daemon exited with ${code}; last lines:\n${d.lines.slice(-10).join('\n')}`);
  });
  await Promise.race([d.waitForLog(/container runtime is ready/, 30_000), exited]);
  await sleep(1000);
  const idle = await rssKb(d.pid);
  await writeFile(join(staging, `${POD}.yaml`), podYaml(o));
  const samples: Sample[] = [];
  const t0 = clock.now();
  // rename(2) in one filesystem: the manifest appears whole
  await rename(join(staging, `${POD}.yaml`), join(manifests, `${POD}.yaml`));
  progress(`${o.containers}-container manifest written; removing it in ${o.removeAfterMs} ms`);
  const sample = async (phase: Sample['phase']) => {
    const [p, m] = await Promise.all([podInRuntime(cri), rssKb(d.pid)]);
    const s = { t: clock.now() - t0, phase, running: p.running, created: p.created, rssKb: m.rss, hwmKb: m.hwm };
    samples.push(s);
    return { ...s, sandboxes: p.sandboxes };
  };
  for (let k = 1; clock.now() - t0 < o.removeAfterMs; k++) {
    await Promise.race([sample('up'), exited]);
    await sleep(Math.max(0, t0 + k * o.sampleMs - clock.now()));
  }
  await rm(join(manifests, `${POD}.yaml`));
  const removedAt = clock.now();
  const atRemoval = await sample('removed');
  progress(
    `manifest removed at +${removedAt - t0} ms: ${atRemoval.created} containers created, ${atRemoval.running} running, RSS ${(atRemoval.rssKb / 1024).toFixed(0)} MiB`,
  );
  let noneRunningMs: number | undefined;
  let goneMs: number | undefined;
  for (let k = 1; goneMs === undefined; k++) {
    const s = await Promise.race([sample('removed'), exited]);
    const since = clock.now() - removedAt;
    if (s.running === 0 && noneRunningMs === undefined) {
      noneRunningMs = since;
      progress(`nothing of the pod running ${since} ms after the removal`);
    }
    if (s.created === 0 && s.sandboxes === 0) goneMs = since;
    else if (since > o.timeoutMs)
      throw new Error(
        `after ${o.timeoutMs} ms: ${s.running} running, ${s.created} containers, ${s.sandboxes} sandboxes left`,
      );
    if (k % 10 === 0)
      progress(
        `+${since} ms: ${s.running} running, ${s.created} containers left, RSS ${(s.rssKb / 1024).toFixed(0)} MiB`,
      );
    await sleep(Math.max(0, removedAt + k * o.sampleMs - clock.now()));
  }
  // alive: the process is there and its debug socket answers with every actor running
  const actors = await askActors(join(work, 'root'));
  const alive = d.proc.exitCode === null && d.proc.signalCode === null && actors.running === actors.actors;
  const end = await rssKb(d.pid);
  return { idle, atRemoval, noneRunningMs, goneMs, alive, actors, end, samples, daemon: d };
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  let work: string | undefined;
  let containerd: ContainerdHandle | undefined;
  let daemon: Daemon | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      if (daemon) await daemon.stop().catch(() => {});
      if (containerd) await containerd.stop().catch(() => {}); // removes every sandbox it ran
      if (work) await rm(work, { recursive: true, force: true }).catch(() => {});
    })());
  return runWithCleanup(
    async () => {
      work = await mkdtemp(join(tmpdir(), 'kts-bench-huge-'));
      progress('starting a private containerd');
      containerd = await startContainerd({ signalHandlers: false });
      const version = await containerd.cri.version();
      const r = await run(o, containerd.cri, containerd, work, (d) => {
        daemon = d;
      });
      const peakHwm = Math.max(...r.samples.map((s) => s.hwmKb), r.end.hwm);
      const mib = (kb: number) => (kb / 1024).toFixed(0);
      const result = {
        bench: 'huge-pod',
        containers: o.containers,
        removeAfterMs: o.removeAfterMs,
        grace: o.grace,
        runtime: `${version.runtimeName} ${version.runtimeVersion}`,
        node: process.version,
        createdAtRemoval: r.atRemoval.created,
        runningAtRemoval: r.atRemoval.running,
        noneRunningMs: r.noneRunningMs,
        goneMs: r.goneMs,
        daemonAlive: r.alive,
        actors: r.actors,
        rssIdleKb: r.idle.rss,
        rssAtRemovalKb: r.atRemoval.rssKb,
        rssEndKb: r.end.rss,
        hwmKb: peakHwm,
        samples: r.samples,
      };
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        const every = Math.max(1, Math.ceil(r.samples.length / 20));
        process.stdout.write(
          [
            '',
            `huge-pod: one static pod of ${o.containers} containers, removed after ${o.removeAfterMs} ms, grace ${o.grace}s; ${result.runtime}, node ${result.node}`,
            `  created when the file went    ${result.createdAtRemoval} (${result.runningAtRemoval} running)`,
            `  removal → nothing running     ${result.noneRunningMs} ms`,
            `  removal → gone from runtime   ${result.goneMs} ms`,
            `  daemon alive afterwards       ${result.daemonAlive} (${r.actors.running}/${r.actors.actors} actors running, ${r.actors.restarts} restarts)`,
            `  daemon VmRSS idle / at removal / end   ${mib(result.rssIdleKb)} / ${mib(result.rssAtRemovalKb)} / ${mib(result.rssEndKb)} MiB`,
            `  daemon VmHWM (peak RSS)       ${mib(peakHwm)} MiB (+${mib(peakHwm - result.rssIdleKb)} MiB over idle)`,
            '  over time (ms since the manifest appeared: running / created, VmRSS MiB):',
            ...r.samples
              .filter((_, i) => i % every === 0 || i === r.samples.length - 1)
              .map(
                (s) =>
                  `    +${String(s.t).padStart(7)} ${s.phase.padEnd(7)} ${String(s.running).padStart(5)} / ${String(s.created).padStart(5)}  ${mib(s.rssKb)}`,
              ),
            '',
          ].join('\n'),
        );
      }
      return r.alive ? 0 : 1;
    },
    cleanup,
    progress,
  );
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: fatal: ${String(e)}\n`);
    process.exit(1);
  },
);
