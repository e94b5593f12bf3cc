/**
 * node-status's effects on the host, behind the HostPort: what cAdvisor and the kubelet's
 * setters read upstream.
 *
 * - cpu: os.cpus().length (cAdvisor's NumCores);
 * - memory: MemTotal of /proc/meminfo in kB, times 1024 (so it prints as "<n>Ki", like upstream);
 * - hugepages-<size>: /sys/kernel/mm/hugepages/hugepages-<n>kB/nr_hugepages;
 * - ephemeral-storage: statfs of the kubelet root dir (its nearest existing ancestor), blocks × bsize;
 * - nodeInfo: os.release() (kernelVersion), PRETTY_NAME of /etc/os-release (osImage),
 *   /etc/machine-id (machineID), /proc/sys/kernel/random/boot_id (bootID),
 *   /sys/class/dmi/id/product_uuid (systemUUID; empty where there is no DMI);
 * - addresses: --node-ip, else the IPv4 of the default route's interface (upstream
 *   ResolveBindAddress / ChooseHostInterface), else the first non-loopback IPv4; then Hostname;
 * - measurements: memory.available from MemAvailable (upstream takes capacity − the root
 *   cgroup's working set; MemAvailable is the kernel's own estimate of the same), nodefs from
 *   statfs (bavail, ffree), pid.available from /proc/sys/kernel/pid_max − the task count in
 *   /proc/loadavg.
 * Files that cannot be read give empty strings or undefined measurements, never a throw.
 */
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { cpus, networkInterfaces, release } from 'node:os';
import { dirname } from 'node:path';
import type { NodeAddress } from '../../protocols/kube/api.ts';
import { goArch, goOs } from '../../adapters/kube/client.ts';
import type { HugePages, MachineInfo, Measurements } from './logic.ts';

export interface HostPort {
  machineInfo(): MachineInfo;
  addresses(hostname: string, nodeIP?: string): NodeAddress[];
  measure(): Measurements;
}

export interface HostFiles {
  read(path: string): string | undefined;
  list(path: string): string[];
  statfs(path: string): { bsize: number; blocks: number; bavail: number; files: number; ffree: number } | undefined;
}

export const realFiles: HostFiles = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  list(path) {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  statfs(path) {
    let p = path;
    while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
    try {
      const s = statfsSync(p);
      return { bsize: s.bsize, blocks: s.blocks, bavail: s.bavail, files: s.files, ffree: s.ffree };
    } catch {
      return undefined;
    }
  },
};

/** "MemTotal:       24684092 kB" → bytes. */
export function meminfoBytes(meminfo: string | undefined, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s*kB`, 'm').exec(meminfo ?? '');
  return m ? Number(m[1]) * 1024 : undefined;
}

export function osReleasePrettyName(text: string | undefined): string {
  const m = /^PRETTY_NAME=(.*)$/m.exec(text ?? '');
  if (!m) return 'Linux';
  return m[1]!
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .replace(/^'(.*)'$/, '$1');
}

/** The interface of the IPv4 default route, from /proc/net/route. */
export function defaultRouteInterface(route: string | undefined): string | undefined {
  for (const line of (route ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 7 && f[1] === '00000000' && f[7] === '00000000') return f[0];
  }
  return undefined;
}

type Ifaces = ReturnType<typeof networkInterfaces>;

/** The node's InternalIP: the IPv4 of the default route's interface, else the first non-loopback IPv4. */
export function chooseHostIP(ifaces: Ifaces, defaultIface: string | undefined): string | undefined {
  const v4 = (name: string) => (ifaces[name] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
  if (defaultIface) {
    const ip = v4(defaultIface);
    if (ip) return ip;
  }
  for (const name of Object.keys(ifaces)) {
    const ip = v4(name);
    if (ip) return ip;
  }
  return undefined;
}

export function hostInfo(opts: {
  rootDir: string;
  files?: HostFiles;
  numCores?: () => number;
  kernel?: () => string;
  ifaces?: () => Ifaces;
}): HostPort {
  const files = opts.files ?? realFiles;
  const numCores = opts.numCores ?? (() => cpus().length);
  const kernel = opts.kernel ?? release;
  const ifaces = opts.ifaces ?? networkInterfaces;
  const trim = (p: string) => (files.read(p) ?? '').trim();

  const hugePages = (): HugePages[] => {
    const out: HugePages[] = [];
    for (const d of files.list('/sys/kernel/mm/hugepages')) {
      const m = /^hugepages-(\d+)kB$/.exec(d);
      if (!m) continue;
      const count = Number(trim(`/sys/kernel/mm/hugepages/${d}/nr_hugepages`) || '0');
      out.push({ pageSizeBytes: Number(m[1]) * 1024, count: Number.isFinite(count) ? count : 0 });
    }
    return out.sort((a, b) => a.pageSizeBytes - b.pageSizeBytes);
  };

  return {
    machineInfo() {
      const fs = files.statfs(opts.rootDir);
      return {
        numCores: numCores(),
        memoryCapacityBytes: meminfoBytes(files.read('/proc/meminfo'), 'MemTotal') ?? 0,
        hugePages: hugePages(),
        ephemeralStorageBytes: fs ? fs.blocks * fs.bsize : 0,
        machineID: trim('/etc/machine-id'),
        systemUUID: trim('/sys/class/dmi/id/product_uuid'),
        bootID: trim('/proc/sys/kernel/random/boot_id'),
        kernelVersion: kernel(),
        osImage: osReleasePrettyName(files.read('/etc/os-release')),
        operatingSystem: goOs(),
        architecture: goArch(),
      };
    },
    addresses(hostname, nodeIP) {
      // --node-ip: one IP or a dual-stack pair (each an InternalIP, in the order given); "::" and
      // "0.0.0.0" ask for the default route's address, as none does
      const given = (nodeIP ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '' && s !== '::' && s !== '0.0.0.0');
      const ips = given.length
        ? given
        : [chooseHostIP(ifaces(), defaultRouteInterface(files.read('/proc/net/route')))].filter(
            (ip): ip is string => !!ip,
          );
      const out: NodeAddress[] = [];
      for (const ip of ips) out.push({ type: 'InternalIP', address: ip });
      out.push({ type: 'Hostname', address: hostname });
      return out;
    },
    measure() {
      const m: Measurements = {};
      m.memoryAvailableBytes = meminfoBytes(files.read('/proc/meminfo'), 'MemAvailable');
      const fs = files.statfs(opts.rootDir);
      if (fs) {
        m.nodefsAvailableBytes = fs.bavail * fs.bsize;
        m.nodefsCapacityBytes = fs.blocks * fs.bsize;
        if (fs.files > 0) {
          m.nodefsInodesFree = fs.ffree;
          m.nodefsInodes = fs.files;
        }
      }
      const pidMax = Number(trim('/proc/sys/kernel/pid_max'));
      const tasks = Number(/^\S+ \S+ \S+ \d+\/(\d+)/.exec(trim('/proc/loadavg'))?.[1]);
      if (pidMax > 0 && Number.isFinite(tasks)) {
        m.pidMax = pidMax;
        m.pidAvailable = pidMax - tasks;
      }
      return m;
    },
  };
}
