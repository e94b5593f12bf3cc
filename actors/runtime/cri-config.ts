/**
 * The CRI configs kubelet-ts sends with RunPodSandbox and CreateContainer, built from the v1 Pod
 * the way upstream builds them (kuberuntime_sandbox.go generatePodSandboxConfig,
 * kuberuntime_sandbox_linux.go, kuberuntime_container.go generateContainerConfig,
 * kuberuntime_container_linux.go, kubelet_pods.go makeEnvironmentVariables, and
 * third_party/forked/golang/expansion for `$(VAR)`). Pure: whatever needs I/O (DNS from
 * resolv.conf, ConfigMap/Secret values, volume mounts, service links) is resolved by the caller
 * and passed in.
 */
import { posix } from 'node:path';
import type {
  ContainerConfig,
  DNSConfig,
  KeyValue,
  KeyValueMap,
  LinuxContainerResources,
  LinuxContainerSecurityContext,
  LinuxPodSandboxConfig,
  Mount,
  NamespaceOption,
  PodSandboxConfig,
  PortMapping,
  Protocol,
  SecurityProfile,
  SELinuxOption,
} from '../../protocols/cri/types.ts';
import {
  containerResourceValue,
  extractFieldPathAsString,
  FieldPathError,
  type NodeAllocatable,
  type ResourceFieldRef,
} from '../../protocols/kube/fieldpath.ts';
import type { Container, Pod, SeccompProfile, SecurityContext } from '../../protocols/kube/pod.ts';
import { expand, mappingFuncFor } from '../../protocols/kube/expansion.ts';
import { appArmorProfileOf, normalizeSysctlName } from '../../protocols/kube/security.ts';
import {
  containerOomScoreAdjust,
  intValue,
  milliCpuToQuota,
  milliCpuToShares,
  milliValue,
  QUOTA_PERIOD_US,
} from '../../protocols/kube/qos.ts';
import { networkNamespaceForPod } from './compute-pod-actions.ts';
import { ETC_HOSTS_PATH, nodenameForKernel, podHostnameAndDomain } from './etc-hosts.ts';
import { newContainerAnnotations, newContainerLabels, newPodAnnotations, newPodLabels } from './labels.ts';

// ---------------------------------------------------------------------------------------------
// environment (upstream makeEnvironmentVariables)

/** Raised when a container's config cannot be built: upstream's CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  readonly reason = 'CreateContainerConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

export interface EnvOptions {
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
  hostIPs?: string[];
  /**
   * What the container's envFrom, configMapKeyRef and secretKeyRef read from the API
   * (env-from-api.ts resolveApiEnv): the envFrom variables in order, prefixes applied, and the
   * values by env var name. A configMapKeyRef/secretKeyRef without a value here is an optional
   * one whose object or key is missing: it is left out, as upstream.
   */
  apiEnv?: { envFrom: KeyValue[]; values: Readonly<Record<string, string>> };
  /** Service link variables (`FOO_SERVICE_HOST`, ...) when spec.enableServiceLinks. */
  serviceEnv?: Readonly<Record<string, string>>;
  /** Node allocatable (cores, bytes) for resourceFieldRef on a container without that limit. */
  nodeAllocatable?: NodeAllocatable;
}

/** upstream podFieldSelectorRuntimeValue + fieldpath.ExtractFieldPathAsString. */
export function podFieldValue(fieldPath: string, pod: Pod, opts: EnvOptions): string {
  const podIPs = opts.podIPs && opts.podIPs.length > 0 ? opts.podIPs : opts.podIP ? [opts.podIP] : [];
  const hostIPs = opts.hostIPs && opts.hostIPs.length > 0 ? opts.hostIPs : opts.hostIP ? [opts.hostIP] : [];
  switch (fieldPath) {
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? pod.spec.serviceAccount ?? '';
    case 'status.hostIP':
      return hostIPs[0] ?? '';
    case 'status.hostIPs':
      return hostIPs.join(',');
    case 'status.podIP':
      return podIPs[0] ?? '';
    case 'status.podIPs':
      return podIPs.join(',');
  }
  return asConfigError(() => extractFieldPathAsString(pod, fieldPath));
}

/** A downward API failure as upstream's CreateContainerConfigError. */
function asConfigError(fn: () => string): string {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FieldPathError) throw new ContainerConfigError(e.message);
    throw e;
  }
}

/**
 * The container's environment, in a stable order: envFrom entries, then `env` in spec order
 * (a later duplicate keeps the first position, takes the new value), then service links not
 * already defined. Each `env` value is expanded against the variables defined before it and the
 * service links; valueFrom sources are resolved (fieldRef, resourceFieldRef here; configMapKeyRef
 * and secretKeyRef from `apiEnv`, read by the caller).
 */
export function makeEnvironmentVariables(pod: Pod, container: Container, opts: EnvOptions = {}): KeyValue[] {
  const env = new Map<string, string>();
  for (const e of opts.apiEnv?.envFrom ?? []) env.set(e.key, e.value);
  const serviceEnv = opts.serviceEnv ?? {};
  for (const v of container.env ?? []) {
    let value = v.value ?? '';
    if (value !== '') {
      value = expand(value, mappingFuncFor(Object.fromEntries(env), serviceEnv));
    } else if (v.valueFrom) {
      const from = v.valueFrom as Record<string, Record<string, unknown> | undefined>;
      if (from['fieldRef']) {
        value = podFieldValue(String(from['fieldRef']['fieldPath'] ?? ''), pod, opts);
      } else if (from['resourceFieldRef']) {
        const ref = from['resourceFieldRef'] as ResourceFieldRef;
        value = asConfigError(() => containerResourceValue(ref, pod, container, opts.nodeAllocatable));
      } else if (from['configMapKeyRef'] || from['secretKeyRef']) {
        const resolved = opts.apiEnv?.values[v.name];
        if (resolved === undefined) continue;
        value = resolved;
      }
    }
    env.set(v.name, value);
  }
  for (const [k, val] of Object.entries(serviceEnv)) if (!env.has(k)) env.set(k, val);
  return [...env].map(([key, value]) => ({ key, value }));
}

/** upstream ExpandContainerCommandAndArgs: `$(VAR)` in command and args from the final env. */
export function expandCommandAndArgs(
  container: Container,
  envs: readonly KeyValue[],
): { command?: string[]; args?: string[] } {
  const mapping = mappingFuncFor(Object.fromEntries(envs.map((e) => [e.key, e.value])));
  const out: { command?: string[]; args?: string[] } = {};
  if (container.command && container.command.length > 0) out.command = container.command.map((c) => expand(c, mapping));
  if (container.args && container.args.length > 0) out.args = container.args.map((a) => expand(a, mapping));
  return out;
}

// ---------------------------------------------------------------------------------------------
// resources (kuberuntime_container_linux.go, cm/helpers_linux.go, qos/policy.go)

export interface ResourceOptions {
  /** Enforce CPU limits with CFS quota (kubelet --cpu-cfs-quota, default true). */
  cpuCfsQuota?: boolean;
  /** cpu.cfs_period_us (default 100000). */
  cpuCfsQuotaPeriodUs?: number;
  /** Node memory capacity (bytes), for the Burstable OOM score. */
  memoryCapacity?: number;
}

/**
 * upstream generateLinuxContainerResources / calculateLinuxResources: shares from the CPU request
 * (the limit when there is no request), quota from the CPU limit, memory limit in bytes.
 */
export function generateLinuxContainerResources(
  pod: Pod,
  container: Container,
  opts: ResourceOptions = {},
): LinuxContainerResources {
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  const cpuLimitMilli = milliValue(limits['cpu']);
  const cpuShares =
    requests['cpu'] === undefined && cpuLimitMilli !== 0
      ? milliCpuToShares(cpuLimitMilli)
      : milliCpuToShares(milliValue(requests['cpu']));
  const out: LinuxContainerResources = { cpuShares };
  const memLimit = intValue(limits['memory']);
  if (memLimit !== 0) out.memoryLimitInBytes = memLimit;
  if (opts.cpuCfsQuota ?? true) {
    const period = opts.cpuCfsQuotaPeriodUs ?? QUOTA_PERIOD_US;
    out.cpuPeriod = period;
    out.cpuQuota = milliCpuToQuota(cpuLimitMilli, period);
  }
  const oom = containerOomScoreAdjust(pod, container, opts.memoryCapacity);
  if (oom !== undefined) out.oomScoreAdj = oom;
  return out;
}

// ---------------------------------------------------------------------------------------------
// namespaces and security contexts

/** upstream NamespacesForPod (without user namespaces). */
export function namespacesForPod(pod: Pod): NamespaceOption {
  return {
    network: networkNamespaceForPod(pod),
    pid: pod.spec.hostPID ? 'NODE' : pod.spec.shareProcessNamespace ? 'POD' : 'CONTAINER',
    ipc: pod.spec.hostIPC ? 'NODE' : 'POD',
  };
}

/** The merged v1 SecurityContext of a container (upstream securitycontext.DetermineEffectiveSecurityContext). */
export function effectiveSecurityContext(pod: Pod, container: Container): SecurityContext {
  const psc = pod.spec.securityContext;
  const out: SecurityContext = {};
  // the pod's fields that a container's security context also has; the container's own win
  if (psc?.seLinuxOptions !== undefined) out.seLinuxOptions = { ...psc.seLinuxOptions };
  if (psc?.runAsUser !== undefined) out.runAsUser = psc.runAsUser;
  if (psc?.runAsGroup !== undefined) out.runAsGroup = psc.runAsGroup;
  if (psc?.runAsNonRoot !== undefined) out.runAsNonRoot = psc.runAsNonRoot;
  const csc = container.securityContext ?? {};
  for (const k of [
    'seLinuxOptions',
    'capabilities',
    'privileged',
    'runAsUser',
    'runAsGroup',
    'runAsNonRoot',
    'readOnlyRootFilesystem',
    'allowPrivilegeEscalation',
    'procMount',
  ] as const) {
    if (csc[k] !== undefined) (out as Record<string, unknown>)[k] = csc[k];
  }
  return out;
}

/** The image's user as ImageStatus reports it: a numeric uid, a user name, or neither (root). */
export interface ImageUser {
  uid?: number;
  username?: string;
}

/**
 * upstream verifyRunAsNonRoot (security_context_others.go): with runAsNonRoot true, a runAsUser
 * of 0, an image running as root, or an image user that is a name (it cannot be checked) keep the
 * container from being created. Throws ContainerConfigError with upstream's wording.
 */
export function verifyRunAsNonRoot(pod: Pod, container: Container, user: ImageUser): void {
  const sc = effectiveSecurityContext(pod, container);
  if (sc.runAsNonRoot !== true) return;
  const where = `(pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${container.name})`;
  if (sc.runAsUser !== undefined) {
    if (sc.runAsUser === 0) throw new ContainerConfigError(`container's runAsUser breaks non-root policy ${where}`);
    return;
  }
  if (user.uid === undefined && user.username) {
    throw new ContainerConfigError(
      `container has runAsNonRoot and image has non-numeric user (${user.username}), cannot verify user is non-root ${where}`,
    );
  }
  const uid = user.uid ?? 0;
  if (uid === 0) throw new ContainerConfigError(`container has runAsNonRoot and image will run as root ${where}`);
  if (uid < 0 || uid > 2147483647) {
    throw new ContainerConfigError(
      `container has runAsNonRoot and image has an invalid user id (${uid}). (Must be 1-(2147483647)): must be between 0 and 2147483647, inclusive ${where}`,
    );
  }
}

export interface SecurityOptions {
  /** --seccomp-default / seccompDefault: RuntimeDefault for a container without a seccomp profile. */
  seccompDefault?: boolean;
  /** <root-dir>/seccomp: Localhost profiles are relative to it. */
  seccompProfileRoot?: string;
}

/** upstream's default seccomp root, under the default --root-dir. */
export const DEFAULT_SECCOMP_PROFILE_ROOT = '/var/lib/kubelet/seccomp';

function fieldSeccompProfile(profile: SeccompProfile | undefined, opts: SecurityOptions): SecurityProfile {
  if (profile === undefined) return { profileType: opts.seccompDefault ? 'RuntimeDefault' : 'Unconfined' };
  if (profile.type === 'RuntimeDefault') return { profileType: 'RuntimeDefault' };
  if (profile.type === 'Localhost') {
    // fail closed: a Localhost profile without a file would otherwise run unconfined
    if (!profile.localhostProfile) {
      throw new ContainerConfigError('localhostProfile must be set if seccompProfile type is Localhost.');
    }
    const root = (opts.seccompProfileRoot ?? DEFAULT_SECCOMP_PROFILE_ROOT).replace(/\/+$/, '');
    return { profileType: 'Localhost', localhostRef: posix.join(root, profile.localhostProfile) };
  }
  return { profileType: 'Unconfined' };
}

/** upstream getSeccompProfile: the container's profile, else the pod's, else seccompDefault's. */
export function seccompProfileFor(pod: Pod, container: Container, opts: SecurityOptions = {}): SecurityProfile {
  const own = container.securityContext?.seccompProfile ?? pod.spec.securityContext?.seccompProfile;
  return fieldSeccompProfile(own, opts);
}

/** upstream getAppArmorProfile: the CRI profile and the deprecated string beside it. */
export function appArmorFor(
  pod: Pod,
  container: Container,
): { apparmor: SecurityProfile; apparmorProfile: string } | undefined {
  const p = appArmorProfileOf(pod, container);
  if (p === undefined) return undefined;
  switch (p.type) {
    case 'RuntimeDefault':
      return { apparmor: { profileType: 'RuntimeDefault' }, apparmorProfile: 'runtime/default' };
    case 'Unconfined':
      return { apparmor: { profileType: 'Unconfined' }, apparmorProfile: 'unconfined' };
    case 'Localhost':
      if (p.localhostProfile === undefined) throw new ContainerConfigError('missing localhost apparmor profile name');
      return {
        apparmor: { profileType: 'Localhost', localhostRef: p.localhostProfile },
        apparmorProfile: `localhost/${p.localhostProfile}`,
      };
  }
  throw new ContainerConfigError(`unknown apparmor profile type: "${p.type}"`);
}

/** upstream securitycontext defaultMaskedPaths / defaultReadonlyPaths (kept in step with moby's). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

function seLinuxOption(o: SecurityContext['seLinuxOptions']): SELinuxOption | undefined {
  if (o === undefined) return undefined;
  return { user: o.user ?? '', role: o.role ?? '', type: o.type ?? '', level: o.level ?? '' };
}

/** The pod's supplementary groups (fsGroup first, then supplementalGroups), as upstream orders them. */
function podSupplementalGroups(pod: Pod): number[] {
  const psc = pod.spec.securityContext ?? {};
  return [...(psc.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc.supplementalGroups ?? [])];
}

/**
 * upstream determineEffectiveSecurityContext + convertToRuntimeSecurityContext (Linux): the
 * merged security context, the seccomp and AppArmor profiles, the image's user when no runAsUser
 * is given, the pod's groups, no_new_privs for an explicit allowPrivilegeEscalation: false, and
 * the masked and read-only /proc paths.
 */
export function containerSecurityContext(
  pod: Pod,
  container: Container,
  user: ImageUser = {},
  opts: SecurityOptions = {},
): LinuxContainerSecurityContext {
  const sc = effectiveSecurityContext(pod, container);
  const out: LinuxContainerSecurityContext = {};
  if (sc.capabilities !== undefined) {
    out.capabilities = {
      addCapabilities: [...(sc.capabilities.add ?? [])],
      dropCapabilities: [...(sc.capabilities.drop ?? [])],
    };
  }
  const selinux = seLinuxOption(sc.seLinuxOptions);
  if (selinux) out.selinuxOptions = selinux;
  if (sc.runAsUser !== undefined) out.runAsUser = { value: sc.runAsUser };
  if (sc.runAsGroup !== undefined) out.runAsGroup = { value: sc.runAsGroup };
  if (sc.privileged) out.privileged = true;
  if (sc.readOnlyRootFilesystem) out.readonlyRootfs = true;
  out.seccomp = seccompProfileFor(pod, container, opts);
  const apparmor = appArmorFor(pod, container);
  if (apparmor) Object.assign(out, apparmor);
  if (out.runAsUser === undefined) {
    // upstream: the image's uid (0 for an image without a user), or its user name for the runtime to resolve
    if (user.uid !== undefined) out.runAsUser = { value: user.uid };
    else if (user.username) out.runAsUsername = user.username;
    else out.runAsUser = { value: 0 };
  }
  out.namespaceOptions = namespacesForPod(pod);
  const groups = podSupplementalGroups(pod);
  if (groups.length > 0) out.supplementalGroups = groups;
  out.supplementalGroupsPolicy = pod.spec.securityContext?.supplementalGroupsPolicy === 'Strict' ? 'Strict' : 'Merge';
  // upstream AddNoNewPrivileges: only an explicit allowPrivilegeEscalation: false sets it.
  if (sc.allowPrivilegeEscalation === false) out.noNewPrivs = true;
  // Unmasked is refused (fields.ts): it needs a user namespace upstream.
  out.maskedPaths = [...DEFAULT_MASKED_PATHS];
  out.readonlyPaths = [...DEFAULT_READONLY_PATHS];
  return out;
}

// ---------------------------------------------------------------------------------------------
// sandbox

/**
 * The sandbox's hostname (upstream GeneratePodHostNameAndDomain + GetNodenameForKernel): the
 * short hostname, or the FQDN with setHostnameAsFQDN and a subdomain. Throws PodHostnameError for
 * an FQDN over 64 characters: upstream then fails the sandbox.
 */
export function podHostname(pod: Pod, clusterDomain = ''): string {
  const { hostname, domain } = podHostnameAndDomain(pod, clusterDomain);
  return nodenameForKernel(hostname, domain, (pod.spec as { setHostnameAsFQDN?: boolean }).setHostnameAsFQDN);
}

function toRuntimeProtocol(p: string | undefined): Protocol {
  return p === 'UDP' || p === 'SCTP' ? p : 'TCP';
}

/** upstream MakePortMappings over every container (duplicates by name or shape dropped). */
export function podPortMappings(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec.containers) {
    const seen = new Set<string>();
    for (const p of c.ports ?? []) {
      const protocol = toRuntimeProtocol(p.protocol);
      const family = !p.hostIP ? 'any' : p.hostIP.includes(':') ? 'v6' : 'v4';
      const name = p.name || `${family}-${protocol}-${p.hostIP ?? ''}:${p.containerPort}:${p.hostPort ?? 0}`;
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ protocol, containerPort: p.containerPort, hostPort: p.hostPort ?? 0, hostIp: p.hostIP ?? '' });
    }
  }
  return out;
}

export interface SandboxConfigOptions {
  /** /var/log/pods/<namespace>_<name>_<uid> */
  logDir: string;
  /** The pod's cgroup (from the container manager). */
  cgroupParent?: string;
  /** DNS for the sandbox (dns.ts getPodDns, from the pod's dnsPolicy and dnsConfig). */
  dnsConfig?: DNSConfig;
  /** --cluster-domain, for the FQDN (subdomain, setHostnameAsFQDN). */
  clusterDomain?: string;
}

export function generatePodSandboxLinuxConfig(pod: Pod, cgroupParent?: string): LinuxPodSandboxConfig {
  const psc = pod.spec.securityContext ?? {};
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const securityContext: NonNullable<LinuxPodSandboxConfig['securityContext']> = {
    namespaceOptions: namespacesForPod(pod),
    privileged: all.some((c) => c.securityContext?.privileged === true),
    // upstream runs every sandbox under runtime/default, so that pods can use least-privileged profiles
    seccomp: { profileType: 'RuntimeDefault' },
  };
  if (psc.runAsUser !== undefined) securityContext.runAsUser = { value: psc.runAsUser };
  if (psc.runAsGroup !== undefined) securityContext.runAsGroup = { value: psc.runAsGroup };
  const groups = podSupplementalGroups(pod);
  if (groups.length > 0) securityContext.supplementalGroups = groups;
  securityContext.supplementalGroupsPolicy = psc.supplementalGroupsPolicy === 'Strict' ? 'Strict' : 'Merge';
  const selinux = seLinuxOption(psc.seLinuxOptions);
  if (selinux) securityContext.selinuxOptions = selinux;
  const sysctls: KeyValueMap = {};
  // upstream ConvertPodSysctlsVariableToDotsSeparator: runc wants dots, "a/b.c" means "a.b/c".
  for (const s of psc.sysctls ?? []) sysctls[normalizeSysctlName(s.name)] = s.value;
  const out: LinuxPodSandboxConfig = { securityContext, sysctls };
  if (cgroupParent) out.cgroupParent = cgroupParent;
  return out;
}

/** upstream generatePodSandboxConfig. */
export function generatePodSandboxConfig(pod: Pod, attempt: number, opts: SandboxConfigOptions): PodSandboxConfig {
  const config: PodSandboxConfig = {
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid, attempt },
    labels: newPodLabels(pod),
    annotations: newPodAnnotations(pod),
    logDirectory: opts.logDir,
    linux: generatePodSandboxLinuxConfig(pod, opts.cgroupParent),
  };
  // An empty DNS config is left out: the runtime treats both alike (containerd copies the node's resolv.conf).
  const dns = opts.dnsConfig;
  if (dns && dns.servers.length + dns.searches.length + dns.options.length > 0) config.dnsConfig = dns;
  // With the host's network the sandbox keeps the node's hostname.
  if (!pod.spec.hostNetwork) config.hostname = podHostname(pod, opts.clusterDomain);
  const ports = podPortMappings(pod);
  if (ports.length > 0) config.portMappings = ports;
  return config;
}

// ---------------------------------------------------------------------------------------------
// container

/** upstream makeHostsMount: the managed hosts file at /etc/hosts, read-write, relabelled. */
export function etcHostsMount(hostPath: string | undefined): Mount[] {
  return hostPath ? [{ containerPath: ETC_HOSTS_PATH, hostPath, readonly: false, selinuxRelabel: true }] : [];
}

/** upstream buildContainerLogsPath: relative to the sandbox's log directory. */
export function containerLogPath(containerName: string, restartCount: number): string {
  return `${containerName}/${restartCount}.log`;
}

export interface ContainerConfigOptions extends EnvOptions, ResourceOptions, SecurityOptions {
  /** The image's user (ImageStatus uid / username); neither means root, as upstream. */
  imageUser?: ImageUser;
  /** 0 for the first start; the attempt and the log file number. */
  restartCount: number;
  /** The image as the runtime knows it (the image ID from EnsureImageExists). */
  imageRef: string;
  /** Mounts from the volume manager (and the termination message file). */
  mounts?: Mount[];
  /** The pod's kubelet-managed hosts file (`<root-dir>/pods/<uid>/etc-hosts`), when it is mounted (etc-hosts.ts shouldMountHostsFile). */
  etcHostsPath?: string;
  /** Annotations from device plugins and the like; kubelet's own win. */
  annotations?: KeyValueMap;
}

/**
 * upstream generateContainerConfig. Throws ContainerConfigError (upstream's
 * CreateContainerConfigError) when runAsNonRoot is not met, a seccomp or AppArmor profile is
 * incomplete, or an env var's source cannot be resolved.
 */
export function generateContainerConfig(pod: Pod, container: Container, opts: ContainerConfigOptions): ContainerConfig {
  const user = opts.imageUser ?? {};
  verifyRunAsNonRoot(pod, container, user);
  const envs = makeEnvironmentVariables(pod, container, opts);
  const { command, args } = expandCommandAndArgs(container, envs);
  const config: ContainerConfig = {
    metadata: { name: container.name, attempt: opts.restartCount },
    image: { image: opts.imageRef },
    labels: newContainerLabels(container, pod),
    annotations: newContainerAnnotations(container, pod, opts.restartCount, opts.annotations),
    logPath: containerLogPath(container.name, opts.restartCount),
    envs,
    mounts: [...(opts.mounts ?? []), ...etcHostsMount(opts.etcHostsPath)],
    stdin: container.stdin ?? false,
    stdinOnce: container.stdinOnce ?? false,
    tty: container.tty ?? false,
    linux: {
      resources: generateLinuxContainerResources(pod, container, opts),
      securityContext: containerSecurityContext(pod, container, user, opts),
    },
  };
  if (command) config.command = command;
  if (args) config.args = args;
  if (container.workingDir) config.workingDir = container.workingDir;
  return config;
}
