/**
 * The kubelet's cgroup names (upstream cm/cgroup_manager_linux.go CgroupName, ToCgroupfs,
 * ToSystemd, and cm/pod_container_manager_linux.go GetPodContainerName), pure: a cgroup is a
 * list of components (`['kubepods', 'burstable', 'pod<uid>']`) under the --cgroup-root, written
 * for the cgroupfs driver as a path (`/kubepods/burstable/pod<uid>`) and for the systemd driver
 * as nested slices (`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice`,
 * a `-` in a component escaped as `_`). The runtime sends the pod's name as the sandbox's
 * cgroup_parent; the containerManager creates the same cgroups on the node.
 */
import type { Pod } from './pod.ts';
import { getPodQos, type QosClass } from './qos.ts';

export type CgroupDriver = 'cgroupfs' | 'systemd';

/** What the pod cgroups depend on: --cgroup-driver, --cgroup-root, --cgroups-per-qos. */
export interface CgroupSettings {
  driver: CgroupDriver;
  /** `/` by default; a slice (`/foo.slice` or `foo.slice`) with the systemd driver. */
  cgroupRoot: string;
  cgroupsPerQos: boolean;
}

export type CgroupName = readonly string[];

/** upstream defaultNodeAllocatableCgroupName. */
export const KUBEPODS = 'kubepods';
const SYSTEMD_SUFFIX = '.slice';

/** upstream ParseCgroupfsToCgroupName / ParseSystemdToCgroupName for --cgroup-root. */
export function parseCgroupRoot(root: string, driver: CgroupDriver): CgroupName {
  if (driver === 'cgroupfs') return root.split('/').filter((p) => p !== '');
  const base =
    root
      .split('/')
      .filter((p) => p !== '')
      .pop() ?? '';
  if (base === '' || base === '-.slice') return [];
  const name = base.endsWith(SYSTEMD_SUFFIX) ? base.slice(0, -SYSTEMD_SUFFIX.length) : base;
  return name.split('-').map((p) => p.replaceAll('_', '-'));
}

/** upstream CgroupName.ToCgroupfs. */
export function toCgroupfs(name: CgroupName): string {
  return `/${name.join('/')}`;
}

/** upstream CgroupName.ToSystemd (systemd's ExpandSlice of the escaped, dash-joined name). */
export function toSystemd(name: CgroupName): string {
  if (name.length === 0 || (name.length === 1 && name[0] === '')) return '/';
  const parts = name.map((p) => p.replaceAll('-', '_'));
  let path = '';
  let prefix = '';
  for (const p of parts) {
    prefix = prefix ? `${prefix}-${p}` : p;
    path += `/${prefix}${SYSTEMD_SUFFIX}`;
  }
  return path;
}

/** The driver's literal name of a cgroup (what the CRI takes, and the path under each hierarchy). */
export function cgroupPath(name: CgroupName, driver: CgroupDriver): string {
  return driver === 'systemd' ? toSystemd(name) : toCgroupfs(name);
}

/** The kubepods cgroup (node allocatable, and the Guaranteed pods' parent). */
export function kubepodsCgroup(s: CgroupSettings): CgroupName {
  return [...parseCgroupRoot(s.cgroupRoot, s.driver), KUBEPODS];
}

/** upstream qosContainersInfo: Guaranteed pods sit in kubepods itself, the others in a tier under it. */
export function qosCgroup(s: CgroupSettings, qos: QosClass): CgroupName {
  const root = kubepodsCgroup(s);
  return qos === 'Guaranteed' ? root : [...root, qos.toLowerCase()];
}

/** upstream GetPodCgroupNameSuffix: `pod<uid>`. */
export function podCgroupSuffix(uid: string): string {
  return `pod${uid}`;
}

/** The pod's cgroup under its QoS tier. */
export function podCgroup(pod: Pod, s: CgroupSettings): CgroupName {
  return [...qosCgroup(s, getPodQos(pod)), podCgroupSuffix(pod.metadata.uid)];
}

/**
 * upstream GetPodCgroupParent: the pod cgroup's literal name for RunPodSandbox's cgroup_parent;
 * undefined without --cgroups-per-qos (the runtime's own default then, as upstream sends none).
 */
export function podCgroupParent(pod: Pod, s: CgroupSettings | undefined): string | undefined {
  if (!s?.cgroupsPerQos) return undefined;
  return cgroupPath(podCgroup(pod, s), s.driver);
}
