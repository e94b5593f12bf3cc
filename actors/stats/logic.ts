/**
 * The stats provider's pure half (upstream pkg/kubelet/stats cri_stats_provider.go and
 * summary.go, with cAdvisor's reading of cgroups): which cgroup files hold a cgroup's CPU and
 * memory on the detected cgroup version, how they become the Summary's CPUStats and
 * MemoryStats (working set = usage − inactive_file, as cAdvisor), the CPU rate from two samples
 * (upstream's cache of the previous sample per container and pod), and the node's figures from
 * /proc when the root cgroup has none (cgroup v2).
 */
import type { CpuStats, FsStats, MemoryStats } from '../../protocols/messages/stats.ts';

/** The detected cgroup layout (the containerManager's detection, handed in by the daemon). */
export type StatsCgroupLayout =
  | { version: 1; controllers: Readonly<Record<string, string>> }
  | { version: 2; root: string };

/** A cumulative CPU reading: ns of CPU time at a clock time (ms). */
export interface CpuSample {
  atMs: number;
  usageCoreNanoSeconds: number;
}

/** `key value` lines (memory.stat, cpu.stat) as numbers. */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** The files a cgroup's CPU and memory are read from. */
export interface CgroupStatFiles {
  cpu: string;
  memoryUsage: string;
  memoryStat: string;
}

/** v1: cpuacct.usage and the memory hierarchy's files; v2: cpu.stat, memory.current, memory.stat. */
export function cgroupStatFiles(layout: StatsCgroupLayout, path: string): CgroupStatFiles {
  if (layout.version === 2) {
    const dir = `${layout.root}${path}`;
    return { cpu: `${dir}/cpu.stat`, memoryUsage: `${dir}/memory.current`, memoryStat: `${dir}/memory.stat` };
  }
  const cpuacct = layout.controllers['cpuacct'] ?? layout.controllers['cpu'];
  const mem = layout.controllers['memory'];
  return {
    cpu: `${cpuacct}${path}/cpuacct.usage`,
    memoryUsage: `${mem}${path}/memory.usage_in_bytes`,
    memoryStat: `${mem}${path}/memory.stat`,
  };
}

export interface CgroupUsage {
  usageCoreNanoSeconds?: number;
  usageBytes?: number;
  workingSetBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

/**
 * A cgroup's usage from its files' text (undefined: the file is not there). cAdvisor's working
 * set: usage − inactive_file (v1: total_inactive_file, the hierarchy's), never below 0.
 */
export function cgroupUsage(
  version: 1 | 2,
  files: { cpu?: string; memoryUsage?: string; memoryStat?: string },
): CgroupUsage {
  const out: CgroupUsage = {};
  if (files.cpu !== undefined) {
    if (version === 2) {
      const usec = parseFlatKeyed(files.cpu)['usage_usec'];
      if (usec !== undefined) out.usageCoreNanoSeconds = usec * 1000;
    } else if (/^\d+/.test(files.cpu.trim())) {
      out.usageCoreNanoSeconds = Number(files.cpu.trim());
    }
  }
  if (files.memoryUsage !== undefined && /^\d+/.test(files.memoryUsage.trim())) {
    const usage = Number(files.memoryUsage.trim());
    const stat = parseFlatKeyed(files.memoryStat);
    const inactive = (version === 2 ? stat['inactive_file'] : stat['total_inactive_file']) ?? 0;
    out.usageBytes = usage;
    out.workingSetBytes = Math.max(0, usage - inactive);
    const rss = version === 2 ? stat['anon'] : stat['total_rss'];
    if (rss !== undefined) out.rssBytes = rss;
    const pf = version === 2 ? stat['pgfault'] : stat['total_pgfault'];
    const mpf = version === 2 ? stat['pgmajfault'] : stat['total_pgmajfault'];
    if (pf !== undefined) out.pageFaults = pf;
    if (mpf !== undefined) out.majorPageFaults = mpf;
  }
  return out;
}

/** USER_HZ: /proc/stat counts in 1/100 s on Linux. */
const USER_HZ = 100;

/** The node's CPU time from /proc/stat's `cpu` line (user nice system idle iowait irq softirq steal): the busy part, in ns. */
export function procStatCpuNs(procStat: string): number | undefined {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) * (1e9 / USER_HZ);
}

/** /proc/meminfo (kB) → bytes by key. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

/** The node's memory from /proc/meminfo (the root cgroup has no memory.current on v2): usage MemTotal − MemFree, as libcontainer's root. */
export function meminfoUsage(meminfo: string): CgroupUsage & { capacityBytes?: number } {
  const m = parseMeminfo(meminfo);
  const total = m['MemTotal'];
  const free = m['MemFree'];
  if (total === undefined || free === undefined) return {};
  const usage = total - free;
  return {
    capacityBytes: total,
    usageBytes: usage,
    workingSetBytes: Math.max(0, usage - (m['Inactive(file)'] ?? 0)),
    rssBytes: m['AnonPages'],
  };
}

/**
 * upstream getAndUpdateContainerUsageNanoCores: the rate between the cached sample and this
 * one; undefined for the first sample, or when time did not move or the counter went back
 * (a restarted container).
 */
export function usageNanoCores(prev: CpuSample | undefined, cur: CpuSample): number | undefined {
  if (!prev) return undefined;
  const dtNs = (cur.atMs - prev.atMs) * 1e6;
  const du = cur.usageCoreNanoSeconds - prev.usageCoreNanoSeconds;
  if (dtNs <= 0 || du < 0) return undefined;
  return Math.round((du / dtNs) * 1e9);
}

export function cpuStats(
  time: string,
  usageCoreNanoSeconds: number | undefined,
  nanoCores: number | undefined,
): CpuStats | undefined {
  if (usageCoreNanoSeconds === undefined && nanoCores === undefined) return undefined;
  return { time, usageNanoCores: nanoCores, usageCoreNanoSeconds };
}

/** MemoryStats with availableBytes = limit − working set where a limit is known (upstream: only then). */
export function memoryStats(time: string, u: CgroupUsage, limitBytes?: number): MemoryStats | undefined {
  if (u.usageBytes === undefined && u.workingSetBytes === undefined) return undefined;
  const out: MemoryStats = {
    time,
    usageBytes: u.usageBytes,
    workingSetBytes: u.workingSetBytes,
    rssBytes: u.rssBytes,
    pageFaults: u.pageFaults,
    majorPageFaults: u.majorPageFaults,
  };
  if (limitBytes !== undefined && u.workingSetBytes !== undefined)
    out.availableBytes = Math.max(0, limitBytes - u.workingSetBytes);
  return out;
}

/** A statfs answer (bytes and inodes). */
export interface StatfsResult {
  capacity: number;
  /** What an unprivileged writer may still use (bavail). */
  available: number;
  /** Free blocks incl. the reserved ones (bfree). */
  free: number;
  inodes: number;
  inodesFree: number;
}

/** FsStats of a whole file system; `usedBytes` given (the CRI's image usage) or capacity − free. */
export function fsStats(time: string, s: StatfsResult, usedBytes?: number, inodesUsed?: number): FsStats {
  return {
    time,
    availableBytes: s.available,
    capacityBytes: s.capacity,
    usedBytes: usedBytes ?? s.capacity - s.free,
    inodesFree: s.inodesFree,
    inodes: s.inodes,
    inodesUsed: inodesUsed ?? s.inodes - s.inodesFree,
  };
}

/** A directory's usage on a file system (upstream's per-volume du: capacity and free from the fs it sits on). */
export function dirFsStats(
  time: string,
  fs: StatfsResult | undefined,
  used: { bytes: number; inodes: number } | undefined,
): FsStats {
  return {
    time,
    usedBytes: used?.bytes,
    inodesUsed: used?.inodes,
    availableBytes: fs?.available,
    capacityBytes: fs?.capacity,
    inodesFree: fs?.inodesFree,
    inodes: fs?.inodes,
  };
}

/** The sum of some FsStats' used bytes and inodes over a file system (upstream's ephemeral-storage). */
export function sumFs(time: string, parts: readonly (FsStats | undefined)[], fs: StatfsResult | undefined): FsStats {
  let bytes = 0;
  let inodes = 0;
  for (const p of parts) {
    bytes += p?.usedBytes ?? 0;
    inodes += p?.inodesUsed ?? 0;
  }
  return dirFsStats(time, fs, { bytes, inodes });
}

/** /proc/loadavg's `running/total` (the kernel's task count, sysinfo's procs). */
export function taskCount(loadavg: string): number | undefined {
  const m = /\s\d+\/(\d+)\s/.exec(loadavg);
  return m ? Number(m[1]) : undefined;
}
