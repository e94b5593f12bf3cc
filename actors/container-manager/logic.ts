/**
 * containerManager's pure half: what the node's cgroups should hold (upstream cm/
 * helpers_linux.go ResourceConfigForPod, qos_container_manager_linux.go setCPUCgroupConfig,
 * node_container_manager_linux.go getCgroupConfig over the node allocatable) and how that is
 * written on the cgroup version this machine has (detected from /proc/self/mountinfo, never
 * assumed: a hybrid machine mounts v1 controllers under /sys/fs/cgroup and an empty v2 tree at
 * /sys/fs/cgroup/unified, and runc then uses v1, as kubelet's libcontainer does).
 */
import type { Pod } from '../../protocols/kube/pod.ts';
import {
  getPodQos,
  intValue,
  milliCpuToQuota,
  milliCpuToShares,
  milliValue,
  MIN_SHARES,
  podLimits,
  podRequests,
} from '../../protocols/kube/qos.ts';

/** upstream ResourceConfig (the parameters kubelet sets on its cgroups). */
export interface ResourceConfig {
  cpuShares?: number;
  /** µs per period; -1 for no limit. */
  cpuQuota?: number;
  cpuPeriod?: number;
  /** bytes */
  memory?: number;
}

export interface PodCgroupOptions {
  /** --cpu-cfs-quota (default true): without it the quota is -1. */
  enforceCpuLimits: boolean;
  /** µs; upstream QuotaPeriod 100ms. */
  cpuPeriodUs: number;
}

/** upstream ResourceConfigForPod (no hugepages, no pod-level resources, no memory QoS). */
export function resourceConfigForPod(pod: Pod, opts: PodCgroupOptions): ResourceConfig {
  const reqs = podRequests(pod);
  const limits = podLimits(pod);
  const cpuShares = milliCpuToShares(reqs.cpuMilli);
  const cpuQuota = opts.enforceCpuLimits ? milliCpuToQuota(limits.cpuMilli, opts.cpuPeriodUs) : -1;
  switch (getPodQos(pod)) {
    case 'Guaranteed':
      return { cpuShares, cpuQuota, cpuPeriod: opts.cpuPeriodUs, memory: limits.memoryBytes };
    case 'Burstable': {
      const out: ResourceConfig = { cpuShares };
      if (limits.cpuDeclared) {
        out.cpuQuota = cpuQuota;
        out.cpuPeriod = opts.cpuPeriodUs;
      }
      if (limits.memoryDeclared) out.memory = limits.memoryBytes;
      return out;
    }
    case 'BestEffort':
      return { cpuShares: MIN_SHARES };
  }
}

/**
 * upstream setCPUCgroupConfig: the burstable tier's shares are the summed CPU requests of the
 * Burstable pods, besteffort always 2. (Memory QoS reservation is off by default upstream: none.)
 */
export function qosTierConfigs(activePods: readonly Pod[]): { burstable: ResourceConfig; besteffort: ResourceConfig } {
  let burstableMilli = 0;
  for (const p of activePods) if (getPodQos(p) === 'Burstable') burstableMilli += podRequests(p).cpuMilli;
  return { burstable: { cpuShares: milliCpuToShares(burstableMilli) }, besteffort: { cpuShares: MIN_SHARES } };
}

export interface NodeCapacity {
  cpuMilli: number;
  memoryBytes: number;
}

/**
 * upstream getNodeAllocatableInternalAbsolute + getCgroupConfig: with `pods` enforced, capacity
 * minus kube- and system-reserved (never negative); otherwise the capacity.
 */
export function nodeAllocatableConfig(
  capacity: NodeCapacity,
  enforcePods: boolean,
  reserved: readonly Record<string, string>[],
): ResourceConfig {
  let cpu = capacity.cpuMilli;
  let mem = capacity.memoryBytes;
  if (enforcePods) {
    for (const r of reserved) {
      cpu -= milliValue(r['cpu']);
      mem -= intValue(r['memory']);
    }
  }
  return { cpuShares: milliCpuToShares(Math.max(0, cpu)), memory: Math.max(0, mem) };
}

// ---------------------------------------------------------------------------------------------
// the cgroup file system

export type CgroupLayout =
  | {
      version: 1;
      /** controller → its hierarchy's mount point */
      controllers: Readonly<Record<string, string>>;
      /** A hybrid's cgroup2 mount (/sys/fs/cgroup/unified): no controllers, but runc makes its cgroups there too. */
      unified?: string;
    }
  | { version: 2; root: string };

const CGROUP_ROOT = '/sys/fs/cgroup';
/** The v1 controllers kubelet's cgroups are made in (runc makes the rest with the sandbox). */
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;

/**
 * The cgroup version of this machine from /proc/self/mountinfo: v2 when /sys/fs/cgroup itself is
 * a cgroup2 mount (unified), otherwise v1 with each controller's mount point (a hybrid's
 * /sys/fs/cgroup/unified holds no controllers and is not used). Throws naming what is missing.
 */
export function detectCgroupLayout(mountinfo: string): CgroupLayout {
  const controllers: Record<string, string> = {};
  let unified: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    const mountpoint = left[4] ?? '';
    if (fstype === 'cgroup2' && mountpoint === CGROUP_ROOT) return { version: 2, root: mountpoint };
    if (fstype === 'cgroup2') unified ??= mountpoint;
    if (fstype !== 'cgroup') continue;
    for (const opt of superOpts.split(','))
      if (opt !== 'rw' && opt !== 'ro' && !(opt in controllers)) controllers[opt] = mountpoint;
  }
  const missing = V1_CONTROLLERS.filter((c) => !(c in controllers));
  if (missing.length === V1_CONTROLLERS.length)
    throw new Error(
      `no cgroup file system mounted (no cgroup2 at ${CGROUP_ROOT}, no cgroup v1 controllers in /proc/self/mountinfo)`,
    );
  if (missing.length)
    throw new Error(`cgroup v1 controllers not mounted: ${missing.join(', ')} (from /proc/self/mountinfo)`);
  return unified ? { version: 1, controllers, unified } : { version: 1, controllers };
}

/** The directories a cgroup has, one per v1 hierarchy (deduplicated) or one on v2. */
export function cgroupDirs(layout: CgroupLayout, path: string): string[] {
  if (layout.version === 2) return [`${layout.root}${path}`];
  return [...new Set(V1_CONTROLLERS.map((c) => layout.controllers[c]!))].map((m) => `${m}${path}`);
}

/** Every directory a cgroup can have on this machine (all v1 hierarchies and a hybrid's unified one: runc makes it in each). */
export function allCgroupDirs(layout: CgroupLayout, path: string): string[] {
  if (layout.version === 2) return [`${layout.root}${path}`];
  return [...new Set([...Object.values(layout.controllers), ...(layout.unified ? [layout.unified] : [])])].map(
    (m) => `${m}${path}`,
  );
}

/** The directory a cgroup's pod children are listed in (the memory hierarchy on v1). */
export function listingDir(layout: CgroupLayout, path: string): string {
  return layout.version === 2 ? `${layout.root}${path}` : `${layout.controllers['memory']}${path}`;
}

/** runc's CpuSharesToCpuWeight (the runc on this machine converts containers' shares the same way). */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.trunc(((shares - 2) * 9999) / 262142);
}

export interface CgroupWrite {
  file: string;
  value: string;
}

/**
 * The files to write for `config` on cgroup `path`, in order: v1 cpu.shares, cpu.cfs_period_us
 * before cpu.cfs_quota_us, memory.limit_in_bytes; v2 cpu.weight, cpu.max, memory.max.
 */
export function cgroupWrites(layout: CgroupLayout, path: string, config: ResourceConfig): CgroupWrite[] {
  const out: CgroupWrite[] = [];
  if (layout.version === 1) {
    const cpu = `${layout.controllers['cpu']}${path}`;
    const mem = `${layout.controllers['memory']}${path}`;
    if (config.cpuShares !== undefined) out.push({ file: `${cpu}/cpu.shares`, value: String(config.cpuShares) });
    if (config.cpuPeriod !== undefined) out.push({ file: `${cpu}/cpu.cfs_period_us`, value: String(config.cpuPeriod) });
    if (config.cpuQuota !== undefined)
      out.push({ file: `${cpu}/cpu.cfs_quota_us`, value: String(config.cpuQuota === 0 ? -1 : config.cpuQuota) });
    if (config.memory !== undefined)
      out.push({ file: `${mem}/memory.limit_in_bytes`, value: config.memory > 0 ? String(config.memory) : '-1' });
    return out;
  }
  const dir = `${layout.root}${path}`;
  if (config.cpuShares !== undefined)
    out.push({ file: `${dir}/cpu.weight`, value: String(cpuSharesToWeight(config.cpuShares)) });
  if (config.cpuQuota !== undefined || config.cpuPeriod !== undefined) {
    const quota = config.cpuQuota === undefined || config.cpuQuota <= 0 ? 'max' : String(config.cpuQuota);
    out.push({ file: `${dir}/cpu.max`, value: `${quota} ${config.cpuPeriod ?? 100_000}` });
  }
  if (config.memory !== undefined)
    out.push({ file: `${dir}/memory.max`, value: config.memory > 0 ? String(config.memory) : 'max' });
  return out;
}

/** v2: the cgroup.subtree_control files to enable cpu, memory and pids in, from the root down to the parent of `path`. */
export function subtreeControlWrites(layout: CgroupLayout, path: string, available: readonly string[]): CgroupWrite[] {
  if (layout.version === 1) return [];
  const wanted = ['cpu', 'memory', 'pids'].filter((c) => available.includes(c));
  if (wanted.length === 0) return [];
  const parts = path.split('/').filter((p) => p !== '');
  const out: CgroupWrite[] = [];
  for (let i = 0; i < parts.length; i++) {
    const dir = `${layout.root}${i === 0 ? '' : `/${parts.slice(0, i).join('/')}`}`;
    out.push({ file: `${dir}/cgroup.subtree_control`, value: wanted.map((c) => `+${c}`).join(' ') });
  }
  return out;
}

/** The pod uid of a pod cgroup directory name (`pod<uid>` on cgroupfs, `…-pod<uid_>.slice` on systemd). */
export function podUidOfCgroup(name: string): string | undefined {
  const m = /(?:^|-)pod([0-9a-zA-Z_-]+?)(?:\.slice)?$/.exec(name);
  if (!m) return undefined;
  return name.endsWith('.slice') ? m[1]!.replaceAll('_', '-') : m[1];
}
