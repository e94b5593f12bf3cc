/**
 * View `nodeStats`: the stats provider's latest Summary (upstream's Summary API,
 * k8s.io/kubelet/pkg/apis/stats/v1alpha1, with its JSON names), sampled every housekeeping
 * period (10 s) by the stats actor (actors/stats) from the CRI's ListContainerStats /
 * ListPodSandboxStats and the node's cgroup and file system reads. Written only by the stats
 * actor; readers: the server (`/stats/summary`, `/metrics/resource`) and the eviction manager
 * to come. Times are RFC 3339 strings, as the Summary's JSON has them; every quantity is
 * optional, as upstream's pointers: absent means not known, never 0.
 */

export interface CpuStats {
  time: string;
  /** Average over the last sampling interval (two samples, as upstream's cache). */
  usageNanoCores?: number;
  usageCoreNanoSeconds?: number;
}

export interface MemoryStats {
  time: string;
  /** capacity (or limit) − workingSet; absent without a limit. */
  availableBytes?: number;
  usageBytes?: number;
  /** usage − inactive_file (cAdvisor's). */
  workingSetBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

export interface FsStats {
  time: string;
  availableBytes?: number;
  capacityBytes?: number;
  usedBytes?: number;
  inodesFree?: number;
  inodes?: number;
  inodesUsed?: number;
}

export interface InterfaceStats {
  name: string;
  rxBytes?: number;
  rxErrors?: number;
  txBytes?: number;
  txErrors?: number;
}

export interface NetworkStats extends InterfaceStats {
  time: string;
  interfaces?: InterfaceStats[];
}

export interface RlimitStats {
  time: string;
  /** /proc/sys/kernel/pid_max */
  maxpid?: number;
  /** The kernel's task count (sysinfo's procs, /proc/loadavg). */
  curproc?: number;
}

export interface ContainerStats {
  name: string;
  startTime: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
  /** The container's writable layer (the CRI's writable_layer). */
  rootfs?: FsStats;
  /** The container's log files under the pod's log directory. */
  logs?: FsStats;
}

export interface VolumeStats extends FsStats {
  name: string;
}

export interface PodStats {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerStats[];
  cpu?: CpuStats;
  memory?: MemoryStats;
  network?: NetworkStats;
  volume?: VolumeStats[];
  /** rootfs of its containers + their logs + emptyDir volumes (upstream's ephemeral-storage). */
  'ephemeral-storage'?: FsStats;
  process_stats?: { process_count?: number };
}

export interface NodeStats {
  nodeName: string;
  startTime: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
  network?: NetworkStats;
  /** The file system of the kubelet's --root-dir. */
  fs?: FsStats;
  runtime?: { imageFs?: FsStats; containerFs?: FsStats };
  rlimit?: RlimitStats;
}

export interface Summary {
  node: NodeStats;
  pods: PodStats[];
}

export interface NodeStatsView {
  summary: Summary;
  /** Clock ms of the sample. */
  sampledAt: number;
  /** The sample's partial failures (a pod cgroup not readable, ...), each naming its object; [] when none. */
  errors: string[];
}

/** upstream's `only_cpu_and_memory=true`: the node's and pods' cpu and memory, nothing else. */
export function cpuAndMemoryOnly(s: Summary): Summary {
  return {
    node: { nodeName: s.node.nodeName, startTime: s.node.startTime, cpu: s.node.cpu, memory: s.node.memory },
    pods: s.pods.map((p) => ({
      podRef: p.podRef,
      startTime: p.startTime,
      cpu: p.cpu,
      memory: p.memory,
      containers: p.containers.map((c) => ({ name: c.name, startTime: c.startTime, cpu: c.cpu, memory: c.memory })),
    })),
  };
}
