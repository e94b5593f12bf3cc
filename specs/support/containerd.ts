/**
 * A private containerd for one spec file (or the dev node), with the CRI plugin, a private CNI
 * bridge network and the local images imported. Nothing is shared with a system containerd:
 * root, state, sockets, runc root, CNI config, IPAM data and network-namespace mounts all live
 * under one directory, and the bridge name and subnet are unique per instance.
 *
 * Cleanup is the point of this file. stop() removes everything it started, by id:
 *   1. every pod sandbox, through the CRI (that tears down CNI networking and the netns);
 *   2. the containerd process it spawned (SIGTERM, then SIGKILL);
 *   3. any runc container and containerd-shim-runc-v2 still tied to THIS instance (found by the
 *      instance's private runc root and by `-address <our socket>` in the shim's cmdline);
 *   4. mounts under the instance dir, the shims' sockets, portmap iptables rules, the bridge;
 *   5. the directory.
 * Steps 2-5 are synchronous so the same code runs from a process 'exit' handler and signal
 * handlers (a crashed spec does not leak), and from the next run's sweep of instances whose
 * owning process died without cleaning up (SIGKILL, OOM).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createCriClient } from '../../adapters/cri/client.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import { buildImages, PAUSE_IMAGE, type BuiltImages } from './images.ts';

export type Snapshotter = 'overlayfs' | 'native';

export interface StartContainerdOptions {
  /** Instance directory; default a fresh /tmp/kts-XXXXXX. An existing dir keeps its state. */
  dir?: string;
  /** Copy containerd's log to stderr (it always goes to <dir>/containerd.log). */
  log?: boolean;
  /** How long to wait for the CRI to answer after spawning containerd; default 20s. */
  readyTimeoutMs?: number;
  /** Import the local images (default true). */
  importImages?: boolean;
  /**
   * Install SIGINT/SIGTERM/SIGHUP handlers that clean up and re-raise (default true). A caller
   * that handles signals itself (the dev command) passes false and calls stop().
   */
  signalHandlers?: boolean;
}

export interface ContainerdHandle {
  readonly dir: string;
  /** The containerd gRPC socket path. */
  readonly socket: string;
  /** `unix://<socket>`: what the kubelet's --container-runtime-endpoint takes. */
  readonly endpoint: string;
  /** The running containerd's pid (changes after restartDaemon; 0 while stopped). */
  readonly pid: number;
  /** The pod subnet of the private bridge network, e.g. 10.213.7.0/24. */
  readonly cniSubnet: string;
  /** The Linux bridge CNI attaches pods to (created by the bridge plugin with the first pod). */
  readonly bridge: string;
  /** The CNI network name. */
  readonly networkName: string;
  readonly snapshotter: Snapshotter;
  readonly logPath: string;
  readonly images: BuiltImages;
  /** A CRI client for this instance (30s default deadline), closed by stop(). */
  readonly cri: CriRuntime;
  /** Runs `ctr --address <socket> --namespace k8s.io ...args`; resolves to stdout. */
  ctr(args: string[]): Promise<string>;
  /** The last lines of the containerd log. */
  logTail(lines?: number): string;
  /** Whether the containerd process is running. */
  running(): boolean;
  /** Stops only the containerd process; shims, containers and state stay (a runtime outage). */
  stopDaemonOnly(): Promise<void>;
  /** Starts containerd again on the same root/state and waits until the CRI answers. */
  restartDaemon(): Promise<void>;
  /** Removes everything this instance started. Idempotent; never throws for cleanup hiccups. */
  stop(): Promise<void>;
}

/** What a later process needs to clean up an instance: persisted as <dir>/instance.json. */
interface InstanceRecord {
  version: 1;
  ownerPid: number;
  containerdPid: number;
  dir: string;
  /** True when the harness created dir (then it removes all of it). */
  createdDir: boolean;
  socket: string;
  config: string;
  bridge: string;
  networkName: string;
  subnet: string;
}

const NAMESPACE = 'k8s.io';
const TMP_PREFIX = 'kts-';
const DEFAULT_READY_TIMEOUT_MS = 20_000;
const TERM_GRACE_MS = 5_000;
/** Per-call deadline for the harness's own CRI calls. */
const CRI_CALL_MS = 30_000;
/** Subpaths the harness creates inside an instance dir (removed even when the dir was given). */
const OWNED_ENTRIES = [
  'config.toml',
  'containerd.sock',
  'containerd.sock.ttrpc',
  'containerd.log',
  'instance.json',
  'root',
  'state',
  'runc',
  'opt',
  'cni',
  'certs.d',
  'sweep.lock',
];

// ---- small sync helpers (usable from 'exit' handlers) -------------------------------------------

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function run(cmd: string, args: string[], timeoutMs = 10_000): { ok: boolean; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, stdout, stderr: '' };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message?: string };
    return { ok: false, stdout: err.stdout ?? '', stderr: (err.stderr || err.message || '').toString() };
  }
}

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null; // a zombie is already gone for our purposes
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((s) => s !== '');
    return { pid, ppid: Number(rest[1]), argv };
  } catch {
    return null;
  }
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.push(p);
  }
  return out;
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return readProc(pid) !== null;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Whether pid is the containerd started with this config (guards against pid reuse). */
function isOurContainerd(pid: number, config: string): boolean {
  const p = readProc(pid);
  return !!p && p.argv.some((a) => a.endsWith('containerd')) && p.argv.includes(config);
}

function mountsUnder(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const mp = fields[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(prefix)) out.push(mp);
  }
  // deepest first, so nested mounts go before their parents
  return out.sort((a, b) => b.length - a.length);
}

function unmountAll(dir: string): string[] {
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return [];
    for (const m of mounts) {
      if (!run('umount', [m]).ok) run('umount', ['-l', m]);
    }
  }
  return mountsUnder(dir);
}

/** Socket paths (from /proc/net/unix) held open by the given processes. */
function unixSocketsOf(pids: number[]): string[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  if (inodes.size === 0) return [];
  const paths = new Set<string>();
  try {
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8 && inodes.has(f[6]) && f[7].startsWith('/')) paths.add(f[7]);
    }
  } catch {
    // no /proc/net/unix: leave the sockets
  }
  return [...paths];
}

function iptablesCleanup(networkName: string): void {
  const saved = run('iptables-save', ['-t', 'nat']);
  // portmap tags its rules with a comment naming the network (`dnat name: \"<net>\" id: ...`,
  // quotes escaped in iptables-save's output); delete those rules and flush and remove the
  // per-container chains they jump to. The shared CNI-HOSTPORT-* chains stay, as upstream.
  const tagged = (line: string) => line.includes(`\\"${networkName}\\"`) || line.includes(`"${networkName}"`);
  if (!saved.ok || !saved.stdout.split('\n').some(tagged)) return;
  const deletes: string[] = [];
  const chains = new Set<string>();
  for (const line of saved.stdout.split('\n')) {
    if (!line.startsWith('-A ') || !tagged(line)) continue;
    deletes.push(`-D ${line.slice(3)}`);
    const jump = /\s-j\s+(CNI-DN-[0-9a-f]+)/.exec(line);
    if (jump) chains.add(jump[1]);
  }
  const script = ['*nat', ...deletes, ...[...chains].flatMap((c) => [`-F ${c}`, `-X ${c}`]), 'COMMIT', ''].join('\n');
  try {
    execFileSync('iptables-restore', ['--noflush'], {
      input: script,
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: 10_000,
    });
  } catch {
    // best effort: a stale NAT rule for a dead pod IP is harmless
  }
}

/**
 * Synchronous teardown of everything an instance may have left: safe to call repeatedly, from an
 * 'exit' handler, or for an instance whose owner died. Returns the problems it could not fix.
 */
function cleanupInstanceSync(rec: InstanceRecord, opts: { removeDir: boolean }): string[] {
  const problems: string[] = [];
  // containerd first, so it does not restart tasks or recreate mounts while we tear down
  if (isOurContainerd(rec.containerdPid, rec.config)) {
    kill(rec.containerdPid, 'SIGKILL');
    for (let i = 0; i < 100 && alive(rec.containerdPid); i++) sleepSync(20);
  }
  for (const p of processes()) {
    if (p.argv.includes(rec.config) && p.argv.some((a) => a.endsWith('containerd'))) kill(p.pid, 'SIGKILL');
  }

  // shims of this instance, and what they hold
  const procs = processes();
  const shims = procs.filter((p) => (p.argv[0] ?? '').includes('containerd-shim') && p.argv.includes(rec.socket));
  const shimPids = new Set(shims.map((s) => s.pid));
  const netnsInodes = new Set<number>();
  for (const p of procs) {
    if (!shimPids.has(p.ppid)) continue;
    try {
      const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${p.pid}/ns/net`));
      if (m) netnsInodes.add(Number(m[1]));
    } catch {
      // exited meanwhile
    }
  }
  const shimSockets = unixSocketsOf([...shimPids]).filter((s) => !s.startsWith(rec.dir));

  // containers: runc kills every process in the container's cgroup and removes the cgroup
  const runcRoot = join(rec.dir, 'runc', NAMESPACE);
  if (existsSync(runcRoot)) {
    const listed = run('runc', ['--root', runcRoot, 'list', '--quiet']);
    for (const id of listed.stdout
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const del = run('runc', ['--root', runcRoot, 'delete', '--force', id], 15_000);
      if (!del.ok && !/not exist|not found/i.test(del.stderr)) problems.push(`runc delete ${id}: ${del.stderr.trim()}`);
    }
  }
  for (const s of shims) kill(s.pid, 'SIGKILL');
  for (const s of shims) {
    for (let i = 0; i < 100 && alive(s.pid); i++) sleepSync(20);
    if (alive(s.pid)) problems.push(`shim pid ${s.pid} survived SIGKILL`);
  }
  for (const sock of shimSockets) {
    try {
      unlinkSync(sock);
    } catch {
      // gone already
    }
  }

  // libcni's result cache is global (/var/lib/cni/results); a CNI DEL that never ran leaves
  // "<network>-<sandbox id>-eth0" and the loopback's "cni-loopback-<sandbox id>-lo" behind
  const cniCache = '/var/lib/cni/results';
  try {
    for (const f of readdirSync(cniCache)) {
      if (!f.startsWith(`${rec.networkName}-`)) continue;
      const sandboxId = f.slice(rec.networkName.length + 1).split('-')[0];
      for (const stale of [f, `cni-loopback-${sandboxId}-lo`]) rmSync(join(cniCache, stale), { force: true });
    }
  } catch {
    // no cache dir: nothing ran
  }

  // network namespaces of our pods that live outside the dir (normally they are under state/)
  if (netnsInodes.size > 0) {
    for (const base of ['/run/netns', '/var/run/netns']) {
      let names: string[] = [];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      for (const n of names) {
        const path = join(base, n);
        try {
          if (!netnsInodes.has(statSync(path).ino)) continue;
        } catch {
          continue;
        }
        if (!run('umount', [path]).ok) run('umount', ['-l', path]);
        try {
          unlinkSync(path);
        } catch {
          // gone already
        }
      }
    }
  }

  const stuck = unmountAll(rec.dir);
  if (stuck.length > 0) problems.push(`still mounted: ${stuck.join(', ')}`);

  iptablesCleanup(rec.networkName);

  if (existsSync(`/sys/class/net/${rec.bridge}`)) {
    const del = run('ip', ['link', 'del', rec.bridge]);
    if (!del.ok) problems.push(`ip link del ${rec.bridge}: ${del.stderr.trim()}`);
  }

  if (opts.removeDir && stuck.length === 0) {
    try {
      if (rec.createdDir) rmSync(rec.dir, { recursive: true, force: true, maxRetries: 3 });
      else {
        for (const e of OWNED_ENTRIES) rmSync(join(rec.dir, e), { recursive: true, force: true, maxRetries: 3 });
        try {
          rmdirSync(rec.dir); // only when nothing else is in it
        } catch {
          // the caller's other files stay
        }
      }
    } catch (e) {
      problems.push(`rm ${rec.dir}: ${(e as Error).message}`);
    }
  }
  return problems;
}

// ---- the safety net ---------------------------------------------------------------------------

const live = new Map<string, InstanceRecord>();
let safetyNetInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function cleanupAllSync(): void {
  for (const rec of [...live.values()]) {
    live.delete(rec.dir);
    try {
      cleanupInstanceSync(rec, { removeDir: true });
    } catch {
      // exiting anyway
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  // Re-raise with the default action when nobody else handles the signal, so the exit status
  // still says "killed by SIGTERM".
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installSafetyNet(signals: boolean): void {
  if (!safetyNetInstalled) {
    safetyNetInstalled = true;
    process.on('exit', cleanupAllSync);
  }
  if (signals) {
    for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
  }
}

/** The base dir for harness-created instances (swept for dead owners). */
function instancesBase(): string {
  return process.env.KTS_CONTAINERD_TMP ?? tmpdir();
}

function readRecord(dir: string): InstanceRecord | null {
  try {
    const rec = JSON.parse(readFileSync(join(dir, 'instance.json'), 'utf8')) as InstanceRecord;
    return rec.version === 1 ? rec : null;
  } catch {
    return null;
  }
}

/**
 * Cleans up harness instances under the temp dir whose owning process died without running its
 * exit handler (SIGKILL, OOM kill). startContainerd calls it; returns the dirs it cleaned.
 */
export function cleanupStaleInstances(): string[] {
  const base = instancesBase();
  let names: string[] = [];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(TMP_PREFIX));
  } catch {
    return [];
  }
  const cleaned: string[] = [];
  for (const n of names) {
    const dir = join(base, n);
    const rec = readRecord(dir);
    if (!rec || rec.dir !== dir || alive(rec.ownerPid) || live.has(dir)) continue;
    // Several spec processes may sweep at once: one of them takes the instance.
    if (!takeSweepLock(dir)) continue;
    cleanupInstanceSync(rec, { removeDir: rec.createdDir });
    rmSync(join(dir, SWEEP_LOCK), { force: true });
    cleaned.push(dir);
  }
  return cleaned;
}

const SWEEP_LOCK = 'sweep.lock';

function takeSweepLock(dir: string): boolean {
  const lock = join(dir, SWEEP_LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return false; // the dir is gone
      let holder = 0;
      try {
        holder = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // released meanwhile: retry
      }
      if (alive(holder)) return false;
      rmSync(lock, { force: true }); // its sweeper died too: take over
    }
  }
  return false;
}

// ---- environment probes -----------------------------------------------------------------------

let snapshotterCache: Snapshotter | undefined;

/** overlayfs when an overlay mount works on the instance filesystem here, else native. */
function probeSnapshotter(base: string): Snapshotter {
  if (process.env.KTS_SNAPSHOTTER === 'native' || process.env.KTS_SNAPSHOTTER === 'overlayfs') {
    return process.env.KTS_SNAPSHOTTER;
  }
  if (snapshotterCache) return snapshotterCache;
  const probe = mkdtempSync(join(base, 'kts-overlay-probe-'));
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(probe, d));
  let result: Snapshotter = 'native';
  try {
    for (const d of [lower, upper, work, merged]) mkdirSync(d);
    writeFileSync(join(lower, 'f'), 'x');
    const m = run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
    if (m.ok) {
      if (existsSync(join(merged, 'f'))) result = 'overlayfs';
      run('umount', [merged]);
    }
  } finally {
    if (mountsUnder(probe).length === 0) rmSync(probe, { recursive: true, force: true });
  }
  snapshotterCache = result;
  return result;
}

function parseCidr(cidr: string): { base: number; bits: number } | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr);
  if (!m) return null;
  const base = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
  return { base, bits: m[5] === undefined ? 32 : Number(m[5]) };
}

function overlaps(a: { base: number; bits: number }, b: { base: number; bits: number }): boolean {
  const bits = Math.min(a.bits, b.bits);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** A /24 in 10.160.0.0-10.250.255.0 that no interface, route or other live instance uses. */
function pickSubnet(): string {
  const used: { base: number; bits: number }[] = [];
  for (const args of [
    ['-4', '-o', 'addr', 'show'],
    ['-4', 'route', 'show', 'table', 'all'],
  ]) {
    const r = run('ip', args);
    for (const m of r.stdout.matchAll(/(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)/g)) {
      const c = parseCidr(m[1]);
      if (c && c.bits > 0) used.push(c);
    }
  }
  try {
    for (const n of readdirSync(instancesBase())) {
      if (!n.startsWith(TMP_PREFIX)) continue;
      const rec = readRecord(join(instancesBase(), n));
      const c = rec && parseCidr(rec.subnet);
      if (c) used.push(c);
    }
  } catch {
    // no base dir yet
  }
  for (let i = 0; i < 200; i++) {
    const cand = `10.${160 + Math.floor(Math.random() * 91)}.${Math.floor(Math.random() * 256)}.0/24`;
    const c = parseCidr(cand)!;
    if (!used.some((u) => overlaps(u, c))) return cand;
  }
  throw new Error('containerd harness: found no free 10.x.y.0/24 for the pod network');
}

// ---- config ---------------------------------------------------------------------------------

function tomlString(s: string): string {
  return JSON.stringify(s); // TOML basic strings share JSON's escapes for what we write
}

function containerdConfig(p: {
  dir: string;
  socket: string;
  snapshotter: Snapshotter;
  cniConfDir: string;
  logLevel: string;
}): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `# generated by kubelet-ts specs/support/containerd.ts
version = 2
root = ${tomlString(join(p.dir, 'root'))}
state = ${tomlString(join(p.dir, 'state'))}
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${tomlString(p.socket)}

[ttrpc]
  address = ${tomlString(`${p.socket}.ttrpc`)}

[debug]
  address = ""
  level = ${tomlString(p.logLevel)}

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${tomlString(join(p.dir, 'opt'))}

  [${cri}]
    sandbox_image = ${tomlString(PAUSE_IMAGE)}
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    disable_tcp_service = true
    stats_collect_period = 10

    [${cri}.containerd]
      snapshotter = ${tomlString(p.snapshotter)}
      default_runtime_name = "runc"
      disable_snapshot_annotations = true

      [${cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [${cri}.containerd.runtimes.runc.options]
          BinaryName = "runc"
          Root = ${tomlString(join(p.dir, 'runc'))}
          SystemdCgroup = false

    [${cri}.cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = ${tomlString(p.cniConfDir)}
      max_conf_num = 1

    [${cri}.registry]
      config_path = ${tomlString(join(p.dir, 'certs.d'))}
`;
}

function cniConflist(p: { networkName: string; bridge: string; subnet: string; ipamDir: string }): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: p.networkName,
      plugins: [
        {
          type: 'bridge',
          bridge: p.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: p.subnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: p.ipamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

function tailFile(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text.split('\n').filter(Boolean).slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- the harness ----------------------------------------------------------------------------

/**
 * Starts a private containerd and waits until its CRI answers and the local images are visible
 * to it. Throws with the cause and the last log lines when it cannot; nothing is left behind then.
 */
export async function startContainerd(opts: StartContainerdOptions = {}): Promise<ContainerdHandle> {
  if (process.getuid?.() !== 0) throw new Error('containerd harness: needs root (it runs containerd, runc and CNI)');
  for (const bin of ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2']) {
    if (!run('sh', ['-c', `command -v ${bin}`]).ok)
      throw new Error(`containerd harness: ${bin} is not installed (run scripts/setup.sh)`);
  }
  for (const plugin of ['bridge', 'host-local', 'portmap', 'loopback']) {
    if (!existsSync(`/usr/lib/cni/${plugin}`))
      throw new Error(
        `containerd harness: CNI plugin /usr/lib/cni/${plugin} is missing (apt-get install containernetworking-plugins)`,
      );
  }

  cleanupStaleInstances();

  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let createdDir = false;
  let dir: string;
  if (opts.dir) {
    dir = resolve(opts.dir);
    if (Buffer.byteLength(join(dir, 'containerd.sock.ttrpc')) > 100) {
      throw new Error(
        `containerd harness: ${dir} is too long for a unix socket path (max ~80 characters); use a shorter dir`,
      );
    }
    if (live.has(dir)) throw new Error(`containerd harness: this process already runs an instance in ${dir}`);
    mkdirSync(dir, { recursive: true });
  } else {
    mkdirSync(instancesBase(), { recursive: true });
    dir = mkdtempSync(join(instancesBase(), TMP_PREFIX));
    createdDir = true;
  }
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  const logPath = join(dir, 'containerd.log');
  const cniConfDir = join(dir, 'cni', 'net.d');

  // A reused dir keeps its network identity, so pods that survived keep a consistent config.
  const previous = readRecord(dir);
  if (previous && alive(previous.ownerPid) && previous.ownerPid !== process.pid) {
    throw new Error(`containerd harness: ${dir} is in use by process ${previous.ownerPid}`);
  }
  if (previous && isOurContainerd(previous.containerdPid, config)) {
    // its owner died: stop the orphaned daemon so the new one can open the same root
    kill(previous.containerdPid, 'SIGKILL');
    for (let i = 0; i < 100 && alive(previous.containerdPid); i++) await sleep(20);
  }
  const id = randomBytes(3).toString('hex');
  const rec: InstanceRecord = {
    version: 1,
    ownerPid: process.pid,
    containerdPid: 0,
    dir,
    createdDir: previous?.createdDir ?? createdDir,
    socket,
    config,
    bridge: previous?.bridge ?? `kts${id}`,
    networkName: previous?.networkName ?? `kts-${id}`,
    subnet: previous?.subnet ?? pickSubnet(),
  };
  const saveRecord = () => writeFileSync(join(dir, 'instance.json'), `${JSON.stringify(rec, null, 2)}\n`);
  saveRecord();
  live.set(dir, rec);
  installSafetyNet(opts.signalHandlers ?? true);

  const snapshotter = probeSnapshotter(dir);
  mkdirSync(cniConfDir, { recursive: true });
  mkdirSync(join(dir, 'certs.d'), { recursive: true });
  writeFileSync(
    config,
    containerdConfig({
      dir,
      socket,
      snapshotter,
      cniConfDir,
      logLevel: process.env.KTS_CONTAINERD_LOG_LEVEL ?? (opts.log ? 'debug' : 'info'),
    }),
  );
  writeFileSync(
    join(cniConfDir, '10-kubelet-ts.conflist'),
    cniConflist({
      networkName: rec.networkName,
      bridge: rec.bridge,
      subnet: rec.subnet,
      ipamDir: join(dir, 'cni', 'ipam'),
    }),
  );

  const cri = createCriClient(`unix://${socket}`, { timeoutMs: CRI_CALL_MS });
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let exitInfo = '';

  function spawnDaemon(): void {
    const logFd = openSync(logPath, 'a');
    try {
      const c = spawn('containerd', ['--config', config], {
        detached: true, // its own process group: a terminal ^C reaches us, and we stop it in order
        stdio: ['ignore', logFd, opts.log ? 'pipe' : logFd],
      });
      if (opts.log && c.stderr) {
        c.stderr.on('data', (chunk: Buffer) => {
          process.stderr.write(chunk);
          try {
            writeFileSync(logPath, chunk, { flag: 'a' });
          } catch {
            // the dir is being removed
          }
        });
        (c.stderr as unknown as { unref?: () => void }).unref?.();
      }
      exitInfo = '';
      exited = new Promise<void>((res) => {
        c.once('exit', (code, signal) => {
          exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
          if (child === c) child = null;
          res();
        });
        c.once('error', (err) => {
          exitInfo = `could not be started: ${err.message}`;
          if (child === c) child = null;
          res();
        });
      });
      c.unref(); // a spec that forgets stop() must not hang the test runner; 'exit' still cleans up
      child = c;
      rec.containerdPid = c.pid ?? 0;
      saveRecord();
    } finally {
      closeSync(logFd);
    }
  }

  function readLog(): string {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  }

  async function waitReady(): Promise<void> {
    const started = performance.now();
    let lastErr = '';
    while (performance.now() - started < readyTimeoutMs) {
      if (!child) {
        throw new Error(
          `containerd harness: containerd ${exitInfo || 'exited'} before its CRI answered on unix://${socket}; last log lines:\n${tailFile(logPath, 25)}`,
        );
      }
      try {
        await cri.version({ timeoutMs: 2000 });
        return;
      } catch (e) {
        lastErr = (e as Error).message;
        // containerd serves only after loading every plugin: "unknown service" is final
        if (isCriError(e, 'Unimplemented')) {
          const why = readLog()
            .split('\n')
            .filter((l) => /failed to load plugin/.test(l));
          throw new Error(
            `containerd harness: containerd at unix://${socket} runs without its CRI plugin (${lastErr}); plugin errors:\n${why.join('\n') || tailFile(logPath, 25)}`,
          );
        }
      }
      await sleep(50);
    }
    throw new Error(
      `containerd harness: containerd did not answer on unix://${socket} within ${Math.round(readyTimeoutMs / 1000)}s (${lastErr}); last log lines:\n${tailFile(logPath, 25)}`,
    );
  }

  async function waitConditions(): Promise<void> {
    const started = performance.now();
    let last = '';
    while (performance.now() - started < readyTimeoutMs) {
      const st = await cri.status({ timeoutMs: 5000 });
      const conds = st.status?.conditions ?? [];
      const notReady = conds.filter((c) => !c.status);
      if (conds.length > 0 && notReady.length === 0) return;
      last = notReady.map((c) => `${c.type}=false (${c.reason}: ${c.message})`).join('; ');
      await sleep(50);
    }
    throw new Error(
      `containerd harness: CRI status not ready within ${Math.round(readyTimeoutMs / 1000)}s: ${last}; last log lines:\n${tailFile(logPath, 25)}`,
    );
  }

  async function terminateDaemon(): Promise<void> {
    const c = child;
    if (!c) return;
    const pid = c.pid ?? 0;
    kill(pid, 'SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(TERM_GRACE_MS).then(() => false)]);
    if (!done) {
      kill(pid, 'SIGKILL');
      await Promise.race([exited, sleep(TERM_GRACE_MS)]);
    }
    child = null;
  }

  async function ctr(args: string[]): Promise<string> {
    return new Promise((res, rej) => {
      execFile(
        'ctr',
        ['--address', socket, '--namespace', NAMESPACE, ...args],
        { encoding: 'utf8', timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) rej(new Error(`ctr ${args.join(' ')}: ${(stderr || err.message).trim()}`));
          else res(stdout);
        },
      );
    });
  }

  let stopping: Promise<void> | null = null;

  async function stop(): Promise<void> {
    if (stopping) return stopping;
    stopping = (async () => {
      const problems: string[] = [];
      if (!child && existsSync(config)) {
        // containerd is down (stopDaemonOnly, or it crashed): bring it back so that the CRI can
        // tear pods down properly; the sync cleanup below covers the case where it cannot.
        try {
          spawnDaemon();
          await waitReady();
        } catch (e) {
          problems.push(`restart for cleanup: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      if (child) {
        try {
          const sandboxes = await cri.listPodSandbox(undefined, { timeoutMs: 10_000 });
          await Promise.all(
            sandboxes.map(async (s) => {
              try {
                await cri.stopPodSandbox(s.id, { timeoutMs: CRI_CALL_MS });
                await cri.removePodSandbox(s.id, { timeoutMs: CRI_CALL_MS });
              } catch (e) {
                problems.push(`sandbox ${s.id}: ${(e as Error).message}`);
              }
            }),
          );
        } catch (e) {
          problems.push(`list sandboxes: ${(e as Error).message}`);
        }
      }
      cri.close();
      await terminateDaemon();
      problems.push(...cleanupInstanceSync(rec, { removeDir: true }));
      live.delete(dir); // only now: a forced exit mid-stop still runs the sync cleanup
      if (problems.length > 0 && process.env.KTS_HARNESS_QUIET !== '1') {
        process.stderr.write(`containerd harness: cleanup of ${dir} reported:\n  ${problems.join('\n  ')}\n`);
      }
    })();
    return stopping;
  }

  let images: BuiltImages;
  try {
    const built = buildImages();
    spawnDaemon();
    await waitReady();
    images = await built;
    if (opts.importImages ?? true) {
      await ctr(['images', 'import', '--snapshotter', snapshotter, images.archive]);
      // the CRI learns about images from containerd's event stream: wait until it sees the pause
      const t0 = performance.now();
      while (!(await cri.imageStatus({ image: PAUSE_IMAGE }, { timeoutMs: 5000 }))) {
        if (performance.now() - t0 > readyTimeoutMs)
          throw new Error(`containerd harness: the CRI does not list ${PAUSE_IMAGE} after import`);
        await sleep(25);
      }
    }
    await waitConditions();
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }

  const handle: ContainerdHandle = {
    dir,
    socket,
    endpoint: `unix://${socket}`,
    get pid() {
      return child?.pid ?? 0;
    },
    cniSubnet: rec.subnet,
    bridge: rec.bridge,
    networkName: rec.networkName,
    snapshotter,
    logPath,
    images,
    cri,
    ctr,
    logTail: (lines = 25) => tailFile(logPath, lines),
    running: () => child !== null,
    async stopDaemonOnly() {
      if (stopping) throw new Error('containerd harness: stopDaemonOnly after stop');
      await terminateDaemon();
      rec.containerdPid = 0;
      saveRecord();
    },
    async restartDaemon() {
      if (stopping) throw new Error('containerd harness: restartDaemon after stop');
      if (child) await terminateDaemon();
      spawnDaemon();
      await waitReady();
      await waitConditions();
    },
    stop,
  };
  return handle;
}

/**
 * Stops and removes every pod sandbox (and so every container) in the runtime: pods outlive the
 * kubelet by design, so specs clean up between tests through the runtime itself.
 */
export async function removeAllPods(
  cri: Pick<CriRuntime, 'listPodSandbox' | 'stopPodSandbox' | 'removePodSandbox'>,
): Promise<void> {
  for (const s of await cri.listPodSandbox()) {
    await cri.stopPodSandbox(s.id).catch(() => {});
    await cri.removePodSandbox(s.id).catch(() => {});
  }
}
