/**
 * What admission and the runtime both need of a pod's security settings. Pure.
 *
 * AppArmor (upstream pkg/security/apparmor): a container's profile is its own field, else the
 * deprecated `container.apparmor.security.beta.kubernetes.io/<name>` annotation, else the pod's
 * field; a node without AppArmor rejects a pod that needs a profile (reason AppArmor).
 *
 * Sysctl admission (upstream pkg/kubelet/sysctl: allowlist.go, safe_sysctls.go, and
 * component-helpers' sysctl namespaces): a pod's sysctls must be in the safe set or match
 * --allowed-unsafe-sysctls (a name, or a prefix ending in `*`), and must not be of the network or
 * IPC namespace when the pod shares the host's. A pod that fails is rejected at admission with
 * reason SysctlForbidden.
 */
import type { AppArmorProfile, Container, Pod } from './pod.ts';

/** The deprecated per-container AppArmor annotation (still read, as upstream). */
export const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** upstream apparmor.GetProfile: the container's field, the deprecated annotation, the pod's field. */
export function appArmorProfileOf(pod: Pod, container: Container): AppArmorProfile | undefined {
  const own = container.securityContext?.appArmorProfile;
  if (own !== undefined) return own;
  const ann = pod.metadata?.annotations?.[APPARMOR_ANNOTATION_PREFIX + container.name];
  if (ann !== undefined) {
    if (ann === 'runtime/default') return { type: 'RuntimeDefault' };
    if (ann === 'unconfined') return { type: 'Unconfined' };
    if (ann.startsWith('localhost/')) return { type: 'Localhost', localhostProfile: ann.slice('localhost/'.length) };
    // an invalid annotation is ignored, as upstream
  }
  return pod.spec?.securityContext?.appArmorProfile;
}

/** upstream's AppArmor admission reason. */
export const APPARMOR_REASON = 'AppArmor';

/**
 * upstream's AppArmor validator: undefined when the pod may run, else the cause (the admission
 * message is `Cannot enforce AppArmor: <cause>`). `hostError` is why the node cannot enforce
 * AppArmor (not enabled in the kernel), undefined when it can.
 */
export function appArmorAdmissionError(pod: Pod, hostError: string | undefined): string | undefined {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const confined = (p: AppArmorProfile | undefined) => p !== undefined && p.type !== 'Unconfined';
  const required =
    confined(pod.spec?.securityContext?.appArmorProfile) ||
    containers.some((c) => confined(c.securityContext?.appArmorProfile)) ||
    Object.entries(pod.metadata?.annotations ?? {}).some(
      ([k, v]) => k.startsWith(APPARMOR_ANNOTATION_PREFIX) && v !== 'unconfined',
    );
  if (!required) return undefined;
  if (hostError) return hostError;
  for (const c of containers) {
    const p = appArmorProfileOf(pod, c);
    if (p?.type === 'Localhost' && (p.localhostProfile ?? '').trim() === '') {
      return `invalid empty AppArmor profile name: ${JSON.stringify(p)}`;
    }
  }
  return undefined;
}

/** upstream SafeSysctlAllowlist: namespaced and isolated (every kernel here is past the 4.15 the last needs). */
export const SAFE_SYSCTLS: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
];

/** upstream's rejection reason. */
export const SYSCTL_FORBIDDEN_REASON = 'SysctlForbidden';

type Namespace = 'IPC' | 'Net';

/**
 * upstream NormalizeName: a name whose first separator is `/` is in slash form
 * (`net/ipv4/conf/eno2.100/rp_filter`); `.` and `/` swap to give the dotted form.
 */
export function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first === -1 || name[first] === '.') return name;
  return [...name].map((ch) => (ch === '.' ? '/' : ch === '/' ? '.' : ch)).join('');
}

/** upstream GetNamespace: the namespace a sysctl lives in, undefined when it is not namespaced. */
function sysctlNamespace(name: string): Namespace | undefined {
  const n = normalizeSysctlName(name);
  if (n === 'kernel.sem') return 'IPC';
  if (n.startsWith('kernel.shm') || n.startsWith('kernel.msg') || n.startsWith('fs.mqueue.')) return 'IPC';
  if (n.startsWith('net.')) return 'Net';
  return undefined;
}

const PATTERN_SEGMENT = '([a-z0-9][-_a-z0-9]*)?[a-z0-9*]';
const PATTERN = new RegExp(`^(${PATTERN_SEGMENT}[\\./])*${PATTERN_SEGMENT}$`);
const SYSCTL_MAX_LENGTH = 253;

export interface SysctlAllowlist {
  sysctls: ReadonlyMap<string, Namespace>;
  prefixes: ReadonlyMap<string, Namespace>;
}

/**
 * upstream NewAllowlist over the safe set and the allowed unsafe patterns. Throws (the kubelet
 * does not start) for a pattern that is malformed or not namespaced, with upstream's wording.
 */
export function newSysctlAllowlist(allowedUnsafe: readonly string[] = []): SysctlAllowlist {
  const sysctls = new Map<string, Namespace>();
  const prefixes = new Map<string, Namespace>();
  for (const s of [...SAFE_SYSCTLS, ...allowedUnsafe]) {
    if (s.length > SYSCTL_MAX_LENGTH || !PATTERN.test(s)) {
      throw new Error(
        `sysctl "${s}" must have at most ${SYSCTL_MAX_LENGTH} characters and match regex ${`(${PATTERN_SEGMENT}[\\./])*${PATTERN_SEGMENT}`}`,
      );
    }
    if (s.endsWith('*')) {
      const prefix = s.slice(0, -1);
      const ns = sysctlNamespace(prefix);
      if (!ns) throw new Error(`the sysctls "${s}" are not known to be namespaced`);
      prefixes.set(prefix, ns);
    } else {
      const ns = sysctlNamespace(s);
      if (!ns) throw new Error(`the sysctl "${s}" are not known to be namespaced`);
      sysctls.set(s, ns);
    }
  }
  return { sysctls, prefixes };
}

function validateSysctl(list: SysctlAllowlist, name: string, hostNet: boolean, hostIPC: boolean): string | undefined {
  const n = normalizeSysctlName(name);
  const check = (ns: Namespace): string | undefined => {
    if (ns === 'IPC' && hostIPC) return `"${n}" not allowed with host ${ns} enabled`;
    if (ns === 'Net' && hostNet) return `"${n}" not allowed with host ${ns} enabled`;
    return undefined;
  };
  const exact = list.sysctls.get(n);
  if (exact) return check(exact);
  for (const [p, ns] of list.prefixes) if (n.startsWith(p)) return check(ns);
  return `"${n}" not allowlisted`;
}

/** upstream patternAllowlist.Admit: undefined when admitted, else upstream's message. */
export function forbiddenSysctl(
  list: SysctlAllowlist,
  spec: { hostNetwork?: boolean; hostIPC?: boolean; securityContext?: { sysctls?: { name: string }[] } },
): string | undefined {
  for (const s of spec.securityContext?.sysctls ?? []) {
    const err = validateSysctl(list, s.name, spec.hostNetwork ?? false, spec.hostIPC ?? false);
    if (err) return `forbidden sysctl: ${err}`;
  }
  return undefined;
}
