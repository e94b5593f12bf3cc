/**
 * Startup benchmark: how long kubelet-ts takes to get N static pods RUNNING on real containerd,
 * against a baseline that issues the same CRI calls directly. A script that prints, not a spec.
 *
 *   npm run bench:startup -- [--pods 30] [--containers-per-pod 1] [--runs 3] [--record] [--json]
 *                            [--v 0] [--cpu-prof DIR] [--daemon-log DIR] [--containerd-log FILE]
 *                            [--no-cold] [--timeout 120s]   (--help lists them all)
 *
 * Per run, in an order that rotates from run to run so no variant always goes first:
 *   kubelet  the real daemon (bin/kubelet-ts, a child process as under systemd) is started on an
 *            empty manifest dir and left to go idle; then the N manifests are renamed into the
 *            dir at once and the clock runs until every container is RUNNING *as the runtime
 *            reports it* (ListContainers every 50ms; the kubelet's own view is not consulted).
 *            Also measured: spawn → idle, and the daemon's VmRSS idle and with N pods running.
 *   cold     the manifests are in place before the daemon starts: spawn → all running
 *            (a node reboot). Skipped with --no-cold.
 *   baseline the same CRI calls in the same shape as actors/runtime/index.ts syncPod, issued
 *            straight from here: for each pod, all pods at once (podWorkers runs one worker per
 *            pod, all concurrent; calls within a pod are sequential): RunPodSandbox,
 *            PodSandboxStatus, then per container ImageStatus (through the same ImageManager),
 *            CreateContainer, StartContainer, with configs from the same builders
 *            (actors/runtime/cri-config.ts) and pods parsed by the same static-pod code, so
 *            labels, annotations and log paths are identical. Not issued (the kubelet does
 *            them): the getPodStatus reads before and after (ListPodSandbox, ListContainers,
 *            *Status for each), which the baseline has no need for.
 *   record   (with --record, when bin/flags.ts has a `record` flag) the kubelet run again with
 *            `--record=<tmpfile>`: the recorder's overhead.
 * Between runs the daemon is stopped (SIGTERM) and every sandbox is stopped and removed. One
 * untimed warm-up (a few baseline pods) goes first: the first sandbox creates the CNI bridge.
 * Also printed: the daemon's CPU time over the measured interval (/proc/<pid>/stat), against
 * this process's own CPU for the baseline (which includes the poller, so it flatters neither).
 *
 * For a profile: `--cpu-prof DIR` (V8 .cpuprofile per daemon, via NODE_OPTIONS), `--v 4
 * --daemon-log DIR` for the daemon's timestamps, `--containerd-log FILE` for containerd's
 * (RunPodSandbox/CreateContainer/StartContainer calls and returns); samples in --json carry
 * `at`, the wall-clock start of each interval, to line them up.
 *
 * Everything started here is stopped by pid or through the containerd harness, on success,
 * on error and on SIGINT/SIGTERM/SIGHUP.
 *
 * Time comes from kernel/clock.ts's RealClock (the one clock; specs/ may not call Date.now()).
 */
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../../kernel/clock.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { parseManifest } from '../../actors/pod-config/source-file.ts';
import { generateContainerConfig, generatePodSandboxConfig } from '../../actors/runtime/cri-config.ts';
import { FLAGS } from '../../bin/flags.ts';
import { createCriClient } from '../../adapters/cri/client.ts';
import { LABEL_POD_NAME } from '../../protocols/cri/labels.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { parseDurationMs, rssKb, runWithCleanup } from './support.ts';

const clock = new RealClock();
const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(() => r(), ms));

// ---------------------------------------------------------------------------------------------
// options

interface Options {
  pods: number;
  containersPerPod: number;
  runs: number;
  record: boolean;
  json: boolean;
  verbosity: number;
  cpuProfDir: string | undefined;
  daemonLogDir: string | undefined;
  containerdLog: string | undefined;
  cold: boolean;
  timeoutMs: number;
  pollMs: number;
  settleMs: number;
}

const USAGE = `Usage: npm run bench:startup -- [options]
  --pods N                 static pods per run (default 30)
  --containers-per-pod C   containers in each pod (default 1)
  --runs R                 runs of each variant, alternating (default 3)
  --record                 also run the daemon with --record=<tmpfile> and print the overhead
  --json                   print one JSON line on stdout (progress still goes to stderr)
  --v N                    the daemon's -v (default 0, as in production)
  --cpu-prof DIR           write a V8 CPU profile of each daemon into DIR (open in Chrome DevTools)
  --daemon-log DIR         keep each daemon's log as DIR/<variant>-<run>.log
  --containerd-log FILE    copy containerd's log (every CRI call, timestamped) to FILE at the end
  --no-cold                skip the cold start (manifests in place before the daemon starts)
  --timeout DUR            give up on a run after DUR (default 120s)
  --poll-ms MS             runtime poll period (default 50)
  --settle-ms MS           idle time before the write and before reading RSS (default 1000)`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    pods: 30,
    containersPerPod: 1,
    runs: 3,
    record: false,
    json: false,
    verbosity: 0,
    cpuProfDir: undefined,
    daemonLogDir: undefined,
    containerdLog: undefined,
    cold: true,
    timeoutMs: 120_000,
    pollMs: 50,
    settleMs: 1000,
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/s.exec(argv[i]!);
    if (!m) throw new Error(`unexpected argument "${argv[i]}"\n${USAGE}`);
    const name = m[1]!;
    const value = (): string => {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new Error(`--${name} needs a value`);
      return v;
    };
    const int = (min: number): number => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`--${name}: "${v}" is not an integer >= ${min}`);
      return Number(v);
    };
    switch (name) {
      case 'pods':
        o.pods = int(1);
        break;
      case 'containers-per-pod':
        o.containersPerPod = int(1);
        break;
      case 'runs':
        o.runs = int(1);
        break;
      case 'record':
        o.record = m[2] === undefined || m[2] === 'true';
        break;
      case 'json':
        o.json = true;
        break;
      case 'v':
        o.verbosity = int(0);
        break;
      case 'cpu-prof':
        o.cpuProfDir = value();
        break;
      case 'daemon-log':
        o.daemonLogDir = value();
        break;
      case 'containerd-log':
        o.containerdLog = value();
        break;
      case 'no-cold':
        o.cold = false;
        break;
      case 'timeout':
        o.timeoutMs = parseDurationMs(value());
        break;
      case 'poll-ms':
        o.pollMs = int(1);
        break;
      case 'settle-ms':
        o.settleMs = int(0);
        break;
      case 'help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option --${name}\n${USAGE}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// pods

const NODE = 'bench-node';
/** Exits at once on SIGTERM, so stopping a sandbox does not wait for the kill timeout. */
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function podName(i: number): string {
  return `bench-${String(i).padStart(3, '0')}`;
}

function podYaml(name: string, containers: number): string {
  const cs = Array.from(
    { length: containers },
    (_, c) => `  - name: c${c}\n    image: ${BUSYBOX_IMAGE}\n    command: ${JSON.stringify(SLEEP)}`,
  );
  return (
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n` +
    `  terminationGracePeriodSeconds: 2\n  containers:\n${cs.join('\n')}\n`
  );
}

async function writeManifests(dir: string, o: Options): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < o.pods; i++) {
    const f = join(dir, `${podName(i)}.yaml`);
    await writeFile(f, podYaml(podName(i), o.containersPerPod));
    files.push(f);
  }
  return files;
}

/** The CRI pod-name label of every benchmark pod (`<name>-<node>`). */
function expectedPodLabels(o: Options): Set<string> {
  return new Set(Array.from({ length: o.pods }, (_, i) => `${podName(i)}-${NODE}`));
}

// ---------------------------------------------------------------------------------------------
// measuring

/** Resolves with the clock time at which every benchmark container was seen RUNNING. */
async function waitAllRunning(cri: CriRuntime, o: Options, t0: number, abort: { aborted: boolean }): Promise<number> {
  const want = o.pods * o.containersPerPod;
  const labels = expectedPodLabels(o);
  let seen = 0;
  for (let k = 1; ; k++) {
    if (abort.aborted) throw new Error('aborted');
    const list = await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } });
    const now = clock.now();
    seen = list.filter((c) => labels.has(c.labels[LABEL_POD_NAME] ?? '')).length;
    if (seen >= want) return now;
    if (now - t0 > o.timeoutMs) throw new Error(`only ${seen}/${want} containers RUNNING after ${o.timeoutMs}ms`);
    const next = t0 + k * o.pollMs;
    await sleep(Math.max(0, next - clock.now()));
  }
}

/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat utime + stime). */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the parenthesised command name; utime and stime are fields 14 and 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const CLK_TCK = 100; // USER_HZ: 100 on every Linux architecture Node runs on

/** Stops and removes every sandbox (and so every container) in the runtime, then checks. */
async function removeAllPods(cri: CriRuntime): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const sandboxes = await cri.listPodSandbox();
    if (sandboxes.length === 0) return;
    await Promise.all(
      sandboxes.map(async (s) => {
        await cri.stopPodSandbox(s.id).catch(() => {});
        await cri.removePodSandbox(s.id).catch(() => {});
      }),
    );
  }
  const left = await cri.listPodSandbox();
  if (left.length > 0) throw new Error(`cleanup: ${left.length} sandboxes still in the runtime`);
}

// ---------------------------------------------------------------------------------------------
// the variants

type Variant = 'kubelet' | 'cold' | 'baseline' | 'record';

interface Sample {
  variant: Variant;
  run: number;
  /** Wall-clock start of the measured interval (ISO), to line up with daemon and containerd logs. */
  at: string;
  /** Manifests in place (kubelet, record), daemon spawned (cold), first call (baseline) → all RUNNING. */
  ms: number;
  /** kubelet/record: spawn → "container runtime is ready" logged. */
  daemonReadyMs?: number;
  /** kubelet/record/cold: the daemon's CPU time (user + system) over `ms`. */
  cpuMs?: number;
  /** baseline: this process's CPU time over `ms` (the calls and the 50ms poller). */
  clientCpuMs?: number;
  rssIdleKb?: number;
  rssRunningKb?: number;
  hwmKb?: number;
  /** baseline: when the last StartContainer returned. */
  callsDoneMs?: number;
}

interface Ctx {
  o: Options;
  containerd: ContainerdHandle;
  cri: CriRuntime;
  work: string;
  abort: { aborted: boolean };
  recordSupported: boolean;
  /** The daemon of the run in progress, for the signal handler. */
  daemon: Daemon | undefined;
  /** The baseline's CRI calls in flight: after a signal, let them settle before the harness removes pods. */
  inflight: Promise<unknown> | undefined;
}

function daemonEnv(c: Ctx, label: string): Record<string, string> | undefined {
  if (!c.o.cpuProfDir) return undefined;
  const opts = [
    process.env.NODE_OPTIONS ?? '',
    '--cpu-prof',
    `--cpu-prof-dir=${c.o.cpuProfDir}`,
    `--cpu-prof-name=${label}.cpuprofile`,
  ];
  return { NODE_OPTIONS: opts.join(' ').trim() };
}

async function saveDaemonLog(c: Ctx, d: Daemon, label: string): Promise<void> {
  if (!c.o.daemonLogDir) return;
  await mkdir(c.o.daemonLogDir, { recursive: true });
  await writeFile(join(c.o.daemonLogDir, `${label}.log`), d.lines.join('\n') + '\n');
}

async function stopDaemon(c: Ctx, d: Daemon, label: string): Promise<void> {
  const code = await d.stop();
  c.daemon = undefined;
  await saveDaemonLog(c, d, label);
  if (code !== 0)
    throw new Error(`${label}: the daemon exited with ${code}; last lines:\n${d.lines.slice(-10).join('\n')}`);
}

async function runKubelet(c: Ctx, run: number, variant: 'kubelet' | 'cold' | 'record'): Promise<Sample> {
  const { o } = c;
  const label = `${variant}-${run}`;
  const base = await mkdtemp(join(c.work, `${variant}-`));
  const manifests = join(base, 'manifests');
  const staging = join(base, 'staging');
  const root = join(base, 'root');
  await mkdir(manifests);
  await mkdir(staging);
  const args = [`-v=${o.verbosity}`];
  if (variant === 'record') args.push(`--record=${join(base, 'record.jsonl')}`);
  const sample: Sample = { variant, run, at: '', ms: NaN };
  try {
    if (variant === 'cold') {
      await writeManifests(manifests, o);
      const t0 = clock.now();
      sample.at = new Date(t0).toISOString();
      const d = (c.daemon = startDaemon({
        endpoint: c.containerd.endpoint,
        manifestDir: manifests,
        rootDir: root,
        nodeName: NODE,
        args,
        env: daemonEnv(c, label),
      }));
      const t1 = await Promise.race([
        waitAllRunning(c.cri, o, t0, c.abort),
        d.exited.then((code) => {
          throw new Error(`daemon exited with ${code}`);
        }),
      ]);
      sample.ms = t1 - t0;
      sample.cpuMs = await cpuMsOf(d.pid);
      await sleep(o.settleMs);
      const mem = await rssKb(d.pid);
      sample.rssRunningKb = mem.rss;
      sample.hwmKb = mem.hwm;
      await stopDaemon(c, d, label);
    } else {
      const files = await writeManifests(staging, o);
      const spawnedAt = clock.now();
      const d = (c.daemon = startDaemon({
        endpoint: c.containerd.endpoint,
        manifestDir: manifests,
        rootDir: root,
        nodeName: NODE,
        args,
        env: daemonEnv(c, label),
      }));
      await Promise.race([
        d.waitForLog(/container runtime is ready/, 30_000),
        d.exited.then((code) => {
          throw new Error(`daemon exited with ${code}: ${d.lines.slice(-10).join('\n')}`);
        }),
      ]);
      sample.daemonReadyMs = clock.now() - spawnedAt;
      await sleep(o.settleMs);
      sample.rssIdleKb = (await rssKb(d.pid)).rss;
      const cpu0 = await cpuMsOf(d.pid);
      // Same directory, so rename(2) is atomic: each manifest appears whole, all within ~1ms.
      const t0 = clock.now();
      sample.at = new Date(t0).toISOString();
      for (const f of files) await rename(f, join(manifests, f.slice(staging.length + 1)));
      const t1 = await Promise.race([
        waitAllRunning(c.cri, o, t0, c.abort),
        d.exited.then((code) => {
          throw new Error(`daemon exited with ${code}`);
        }),
      ]);
      sample.ms = t1 - t0;
      sample.cpuMs = (await cpuMsOf(d.pid)) - cpu0;
      await sleep(o.settleMs);
      const mem = await rssKb(d.pid);
      sample.rssRunningKb = mem.rss;
      sample.hwmKb = mem.hwm;
      await stopDaemon(c, d, label);
    }
  } finally {
    if (c.daemon) {
      const d = c.daemon;
      await d.stop().catch(() => {});
      c.daemon = undefined;
      await saveDaemonLog(c, d, label).catch(() => {});
    }
    // after a signal, the harness's stop() removes the pods (two removers would collide)
    if (!c.abort.aborted) await removeAllPods(c.cri);
    await rm(base, { recursive: true, force: true });
  }
  return sample;
}

async function runBaseline(c: Ctx, run: number, podCount = c.o.pods): Promise<Sample> {
  const o = { ...c.o, pods: podCount };
  const base = await mkdtemp(join(c.work, 'baseline-'));
  const manifests = join(base, 'manifests');
  // the daemon's --pod-logs-dir as specs/support/daemon.ts sets it
  const podLogsDir = join(base, 'root', 'pod-logs');
  // Pods exactly as the static pod source builds them (defaults, UID, annotations).
  const pods: Pod[] = [];
  for (let i = 0; i < o.pods; i++) {
    const path = join(manifests, `${podName(i)}.yaml`);
    const r = parseManifest(path, podYaml(podName(i), o.containersPerPod), { nodeName: NODE, now: clock.now() });
    if (r.kind !== 'pod') throw new Error(`baseline: ${path}: ${r.reason}`);
    pods.push(r.pod);
  }
  // Its own connection, warmed up, as the daemon's is by its health checks.
  const cri = createCriClient(c.containerd.endpoint, { timeoutMs: 120_000 });
  const images = new ImageManager({ images: cri, clock });
  let callsDone = 0;
  try {
    await cri.version();
    const cpu0 = process.cpuUsage();
    const t0 = clock.now();
    const syncPod = async (pod: Pod) => {
      const m = pod.metadata;
      const sandboxConfig = generatePodSandboxConfig(pod, 0, {
        logDir: `${podLogsDir}/${m.namespace}_${m.name}_${m.uid}`,
      });
      const sandboxId = await cri.runPodSandbox(sandboxConfig);
      const podIP = (await cri.podSandboxStatus(sandboxId)).network?.ip ?? '';
      for (const container of pod.spec.containers) {
        const img = await images.ensureImageExists(pod, container, sandboxConfig);
        if (!img.ok) throw new Error(`baseline: ${m.name}/${container.name}: ${img.reason}: ${img.message}`);
        const config = generateContainerConfig(pod, container, { restartCount: 0, imageRef: img.imageRef, podIP });
        const id = await cri.createContainer(sandboxId, config, sandboxConfig);
        await cri.startContainer(id);
      }
    };
    const calls = Promise.all(pods.map(syncPod)).then(() => {
      callsDone = clock.now();
    });
    c.inflight = calls.catch(() => {});
    // a failing call ends the wait at once instead of at the timeout
    const t1 = await Promise.race([
      waitAllRunning(c.cri, o, t0, c.abort),
      calls.then(() => new Promise<never>(() => {})),
    ]);
    const cpu = process.cpuUsage(cpu0);
    await calls;
    return {
      variant: 'baseline',
      run,
      at: new Date(t0).toISOString(),
      ms: t1 - t0,
      callsDoneMs: callsDone - t0,
      clientCpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    await c.inflight;
    c.inflight = undefined;
    cri.close();
    if (!c.abort.aborted) await removeAllPods(c.cri);
    await rm(base, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// report

interface Stats {
  min: number;
  median: number;
  max: number;
  n: number;
}

function stats(xs: number[]): Stats | undefined {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, n: s.length };
}

function progress(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

const VARIANT_LABEL: Record<Variant, string> = {
  kubelet: 'kubelet-ts (manifests → running)',
  cold: 'kubelet-ts cold (spawn → running)',
  record: 'kubelet-ts --record',
  baseline: 'raw CRI baseline',
};

function report(o: Options, samples: Sample[], env: Record<string, unknown>, recordSupported: boolean): void {
  const by = (v: Variant, k: keyof Sample = 'ms') =>
    stats(samples.filter((s) => s.variant === v).map((s) => s[k] as number));
  const kub = by('kubelet');
  const bas = by('baseline');
  const rec = by('record');
  const cold = by('cold');
  const ratio = kub && bas ? kub.median / bas.median : undefined;
  const recordRatio = rec && kub ? rec.median / kub.median : undefined;
  const idle = by('kubelet', 'rssIdleKb');
  const running = by('kubelet', 'rssRunningKb');
  const perPod = stats(
    samples
      .filter((s) => s.variant === 'kubelet' && s.rssIdleKb && s.rssRunningKb)
      .map((s) => (s.rssRunningKb! - s.rssIdleKb!) / o.pods),
  );
  const ready = by('kubelet', 'daemonReadyMs');
  const calls = by('baseline', 'callsDoneMs');
  const cpu = by('kubelet', 'cpuMs');
  const coldCpu = by('cold', 'cpuMs');
  const clientCpu = by('baseline', 'clientCpuMs');

  if (o.json) {
    process.stdout.write(
      JSON.stringify({
        bench: 'startup',
        ...env,
        pods: o.pods,
        containersPerPod: o.containersPerPod,
        runs: o.runs,
        kubelet: kub,
        baseline: bas,
        cold,
        record: rec,
        ratio,
        recordRatio,
        recordSupported,
        daemonReadyMs: ready,
        baselineCallsDoneMs: calls,
        daemonCpuMs: cpu,
        coldDaemonCpuMs: coldCpu,
        baselineClientCpuMs: clientCpu,
        rssIdleKb: idle,
        rssRunningKb: running,
        rssPerPodKb: perPod,
        samples,
      }) + '\n',
    );
    return;
  }
  const f = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const row = (name: string, s: Stats | undefined, unit = 'ms') =>
    `  ${name.padEnd(36)} ${f(s?.min).padStart(8)} ${f(s?.median).padStart(8)} ${f(s?.max).padStart(8)}  ${unit}`;
  const lines = [
    '',
    `startup: ${o.pods} pods × ${o.containersPerPod} container(s), ${o.runs} run(s) each, ${env['cpus']} CPUs, node ${env['node']}, ${env['runtime']}`,
    `  ${''.padEnd(36)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'max'.padStart(8)}`,
    row(VARIANT_LABEL.kubelet, kub),
    row(VARIANT_LABEL.baseline, bas),
    ...(cold ? [row(VARIANT_LABEL.cold, cold)] : []),
    ...(rec ? [row(VARIANT_LABEL.record, rec)] : []),
    row('daemon spawn → idle (runtime ready)', ready),
    row('baseline: last StartContainer returned', calls),
    '',
    row('daemon CPU (user+sys) over the run', cpu),
    ...(coldCpu ? [row('daemon CPU over the cold run', coldCpu)] : []),
    row('baseline client CPU (calls + poller)', clientCpu),
    '',
    `  ratio kubelet-ts / baseline (medians): ${f(ratio, 2)}`,
    ...(o.record
      ? [
          recordSupported
            ? `  ratio --record / no record (medians):  ${f(recordRatio, 2)}`
            : '  --record: bin/flags.ts has no `record` flag yet; skipped',
        ]
      : []),
    '',
    row(
      'daemon VmRSS idle',
      idle ? { ...idle, min: idle.min / 1024, median: idle.median / 1024, max: idle.max / 1024 } : undefined,
      'MiB',
    ),
    row(
      `daemon VmRSS with ${o.pods} pods running`,
      running
        ? { ...running, min: running.min / 1024, median: running.median / 1024, max: running.max / 1024 }
        : undefined,
      'MiB',
    ),
    row('daemon RSS growth per pod', perPod, 'KiB'),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// main, with cleanup on every path

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const recordSupported = FLAGS.some((f) => f.name === 'record');
  const abort = { aborted: false };
  let c: Ctx | undefined;
  let work: string | undefined;
  let containerd: ContainerdHandle | undefined;
  let cleaning: Promise<void> | undefined;

  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      abort.aborted = true;
      const d = c?.daemon;
      if (d) await d.stop().catch(() => {});
      if (c?.inflight) await Promise.race([c.inflight, sleep(15_000)]);
      if (containerd && o.containerdLog) await copyFile(containerd.logPath, o.containerdLog).catch(() => {});
      if (containerd) await containerd.stop().catch(() => {}); // removes every sandbox it ran
      if (work) await rm(work, { recursive: true, force: true }).catch(() => {});
    })());

  return runWithCleanup(
    async () => {
      work = await mkdtemp(join(tmpdir(), 'kts-bench-'));
      progress('starting a private containerd');
      containerd = await startContainerd({ signalHandlers: false });
      const version = await containerd.cri.version();
      c = { o, containerd, cri: containerd.cri, work, abort, recordSupported, daemon: undefined, inflight: undefined };
      if (o.cpuProfDir) await mkdir(o.cpuProfDir, { recursive: true });

      // Untimed warm-up: the first sandbox creates the CNI bridge, the first container unpacks
      // the image's snapshot; neither should count against whichever variant goes first.
      progress('warm-up (untimed)');
      await runBaseline(c, 0, Math.min(o.pods, 4));

      const variants: Variant[] = [
        'kubelet',
        'baseline',
        ...(o.cold ? ['cold' as const] : []),
        ...(o.record && recordSupported ? ['record' as const] : []),
      ];
      if (o.record && !recordSupported)
        progress('--record: bin/flags.ts has no `record` flag yet; the record variant is skipped');
      const samples: Sample[] = [];
      for (let run = 1; run <= o.runs; run++) {
        const k = (run - 1) % variants.length;
        const order = [...variants.slice(k), ...variants.slice(0, k)];
        for (const v of order) {
          if (abort.aborted) throw new Error('aborted');
          const s = v === 'baseline' ? await runBaseline(c, run) : await runKubelet(c, run, v);
          samples.push(s);
          progress(
            `run ${run}/${o.runs} ${v.padEnd(8)} ${s.ms.toFixed(0).padStart(6)} ms` +
              (s.daemonReadyMs !== undefined ? `  (spawn → idle ${s.daemonReadyMs} ms)` : '') +
              (s.callsDoneMs !== undefined ? `  (calls done ${s.callsDoneMs} ms)` : '') +
              (s.rssRunningKb !== undefined ? `  RSS ${(s.rssRunningKb / 1024).toFixed(1)} MiB` : ''),
          );
        }
      }
      const env = {
        cpus: (await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((l) => l.startsWith('processor')).length,
        node: process.version,
        runtime: `${version.runtimeName} ${version.runtimeVersion}`,
      };
      report(o, samples, env, recordSupported);
      return 0;
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
