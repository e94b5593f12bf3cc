/**
 * The CRI configs kubelet-ts sends with RunPodSandbox and CreateContainer, built from the v1 Pod
 * the way upstream builds them (kuberuntime_sandbox.go generatePodSandboxConfig,
 * kuberuntime_sandbox_linux.go, kuberuntime_container.go generateContainerConfig,
 * kuberuntime_container_linux.go, kubelet_pods.go makeEnvironmentVariables, and
 * third_party/forked/golang/expansion for `$(VAR)`). Pure: whatever needs I/O (DNS from
 * resolv.conf, ConfigMap/Secret values, volume mounts, service links) is resolved by the caller
 * and passed in.
 */
import type {
  ContainerConfig, DNSConfig, KeyValue, KeyValueMap, LinuxContainerResources, LinuxContainerSecurityContext,
  LinuxPodSandboxConfig, Mount, NamespaceOption, PodSandboxConfig, PortMapping, Protocol,
} from '../../protocols/cri/types.ts';
import type { Container, Pod, Quantity } from '../../protocols/kube/pod.ts';
import {
  containerOomScoreAdjust, intValue, milliCpuToQuota, milliCpuToShares, milliValue, QUOTA_PERIOD_US, quantityOrZero,
} from '../../protocols/kube/qos.ts';
import { networkNamespaceForPod } from './compute-pod-actions.ts';
import { ETC_HOSTS_PATH, nodenameForKernel, podHostnameAndDomain } from './etc-hosts.ts';
import { newContainerAnnotations, newContainerLabels, newPodAnnotations, newPodLabels } from './labels.ts';

// ---------------------------------------------------------------------------------------------
// $(VAR) expansion (third_party/forked/golang/expansion)

/** A mapping that leaves unknown references as they were written, `$(NAME)`. */
export function mappingFuncFor(...contexts: ReadonlyArray<Readonly<Record<string, string>>>): (name: string) => string {
  return (name) => {
    for (const vars of contexts) if (Object.hasOwn(vars, name)) return vars[name]!;
    return `$(${name})`;
  };
}

/**
 * upstream expansion.Expand: `$(NAME)` is replaced through `mapping`; `$$` is an escaped `$`;
 * a `$` not followed by `(` or `$`, and an unclosed `$(`, are kept as written.
 */
export function expand(input: string, mapping: (name: string) => string): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') {
      out += '$';
    } else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close >= 1) {
        out += mapping(rest.slice(1, close));
        advance = close + 1;
      } else {
        out += '$(';
      }
    } else {
      out += `$${rest[0]}`;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

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
  /** envFrom sources already read by the caller, in container.envFrom order, prefixes applied. */
  envFrom?: KeyValue[];
  /** Values of env vars whose valueFrom is a configMapKeyRef/secretKeyRef, by env var name. */
  envValues?: Readonly<Record<string, string>>;
  /** Service link variables (`FOO_SERVICE_HOST`, ...) when spec.enableServiceLinks. */
  serviceEnv?: Readonly<Record<string, string>>;
  /** Node allocatable (cores, bytes) for resourceFieldRef on a container without that limit. */
  nodeAllocatable?: { cpu?: number; memory?: number; 'ephemeral-storage'?: number };
}

function formatMap(m: Record<string, string> | undefined): string {
  // upstream fieldpath.FormatMap: sorted `key="value"` lines, values %q-quoted.
  return Object.keys(m ?? {}).sort().map((k) => `${k}=${JSON.stringify(m![k])}`).join('\n');
}

/** upstream podFieldSelectorRuntimeValue + fieldpath.ExtractFieldPathAsString. */
export function podFieldValue(fieldPath: string, pod: Pod, opts: EnvOptions): string {
  const podIPs = opts.podIPs && opts.podIPs.length > 0 ? opts.podIPs : opts.podIP ? [opts.podIP] : [];
  const hostIPs = opts.hostIPs && opts.hostIPs.length > 0 ? opts.hostIPs : opts.hostIP ? [opts.hostIP] : [];
  const m = pod.metadata;
  switch (fieldPath) {
    case 'spec.nodeName': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? pod.spec.serviceAccount ?? '';
    case 'status.hostIP': return hostIPs[0] ?? '';
    case 'status.hostIPs': return hostIPs.join(',');
    case 'status.podIP': return podIPs[0] ?? '';
    case 'status.podIPs': return podIPs.join(',');
    case 'metadata.name': return m.name;
    case 'metadata.namespace': return m.namespace;
    case 'metadata.uid': return m.uid;
    case 'metadata.labels': return formatMap(m.labels);
    case 'metadata.annotations': return formatMap(m.annotations);
  }
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) return (sub[1] === 'labels' ? m.labels : m.annotations)?.[sub[2]!] ?? '';
  throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`);
}

/** upstream containerResourceRuntimeValue: ceil(value / divisor), limits defaulting to allocatable. */
export function containerResourceValue(
  ref: { containerName?: string; resource?: string; divisor?: Quantity }, pod: Pod, container: Container, opts: EnvOptions,
): string {
  const target = ref.containerName
    ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName)
    : container;
  if (!target) throw new ContainerConfigError(`container ${ref.containerName} not found`);
  const resource = ref.resource ?? '';
  const m = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.exec(resource);
  if (!m) throw new ContainerConfigError(`unsupported container resource : ${resource}`);
  const kind = m[1] as 'limits' | 'requests';
  const name = m[2] as 'cpu' | 'memory' | 'ephemeral-storage';
  const divisor = ref.divisor === undefined || quantityOrZero(ref.divisor) === 0 ? 1 : quantityOrZero(ref.divisor);
  const q = target.resources?.[kind]?.[name];
  let value: number;
  if (q === undefined && kind === 'limits') {
    // upstream defaultPodLimitsForDownwardAPI: no limit means the node's allocatable.
    value = opts.nodeAllocatable?.[name] ?? 0;
  } else {
    value = quantityOrZero(q);
  }
  if (name === 'cpu') {
    return String(Math.ceil(Math.ceil(Number(`${value}e3`)) / Math.ceil(Number(`${divisor}e3`))));
  }
  return String(Math.ceil(Math.ceil(value) / Math.ceil(divisor)));
}

/**
 * The container's environment, in a stable order: envFrom entries, then `env` in spec order
 * (a later duplicate keeps the first position, takes the new value), then service links not
 * already defined. Each `env` value is expanded against the variables defined before it and the
 * service links; valueFrom sources are resolved (fieldRef, resourceFieldRef here, the others by
 * the caller through `envValues`).
 */
export function makeEnvironmentVariables(pod: Pod, container: Container, opts: EnvOptions = {}): KeyValue[] {
  const env = new Map<string, string>();
  for (const e of opts.envFrom ?? []) env.set(e.key, e.value);
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
        value = containerResourceValue(from['resourceFieldRef'] as { resource?: string }, pod, container, opts);
      } else if (from['configMapKeyRef'] || from['secretKeyRef']) {
        const ref = (from['configMapKeyRef'] ?? from['secretKeyRef'])!;
        const resolved = opts.envValues?.[v.name];
        if (resolved !== undefined) value = resolved;
        else if (ref['optional'] === true) continue;
        else {
          const kind = from['configMapKeyRef'] ? 'ConfigMap' : 'Secret';
          throw new ContainerConfigError(`couldn't find key ${String(ref['key'])} in ${kind} ${pod.metadata.namespace}/${String(ref['name'])}`);
        }
      }
    }
    env.set(v.name, value);
  }
  for (const [k, val] of Object.entries(serviceEnv)) if (!env.has(k)) env.set(k, val);
  return [...env].map(([key, value]) => ({ key, value }));
}

/** upstream ExpandContainerCommandAndArgs: `$(VAR)` in command and args from the final env. */
export function expandCommandAndArgs(container: Container, envs: readonly KeyValue[]): { command?: string[]; args?: string[] } {
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
export function generateLinuxContainerResources(pod: Pod, container: Container, opts: ResourceOptions = {}): LinuxContainerResources {
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  const cpuLimitMilli = milliValue(limits['cpu']);
  const cpuShares = requests['cpu'] === undefined && cpuLimitMilli !== 0
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

/** upstream determineEffectiveSecurityContext + convertToRuntimeSecurityContext (Linux subset). */
export function containerSecurityContext(pod: Pod, container: Container): LinuxContainerSecurityContext {
  const psc = pod.spec.securityContext ?? {};
  const csc = container.securityContext ?? {};
  const out: LinuxContainerSecurityContext = { namespaceOptions: namespacesForPod(pod) };
  const runAsUser = csc.runAsUser ?? psc.runAsUser;
  if (runAsUser !== undefined) out.runAsUser = { value: runAsUser };
  const runAsGroup = csc.runAsGroup ?? psc.runAsGroup;
  if (runAsGroup !== undefined) out.runAsGroup = { value: runAsGroup };
  if (csc.privileged) out.privileged = true;
  if (csc.readOnlyRootFilesystem) out.readonlyRootfs = true;
  // upstream AddNoNewPrivileges: only an explicit allowPrivilegeEscalation: false sets it.
  if (csc.allowPrivilegeEscalation === false) out.noNewPrivs = true;
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
  };
  if (psc.runAsUser !== undefined) securityContext.runAsUser = { value: psc.runAsUser };
  const groups = [...(psc.fsGroup !== undefined ? [psc.fsGroup] : []), ...(psc.supplementalGroups ?? [])];
  if (groups.length > 0) securityContext.supplementalGroups = groups;
  const sysctls: KeyValueMap = {};
  // upstream ConvertPodSysctlsVariableToDotsSeparator: runc wants dots, "a/b.c" means "a.b/c".
  for (const s of psc.sysctls ?? []) sysctls[convertSysctlVariableToDotsSeparator(s.name)] = s.value;
  const out: LinuxPodSandboxConfig = { securityContext, sysctls };
  if (cgroupParent) out.cgroupParent = cgroupParent;
  return out;
}

/** upstream sysctl.ConvertSysctlVariableToDotsSeparator: swap '.' and '/' when '/' is used. */
export function convertSysctlVariableToDotsSeparator(name: string): string {
  if (!name.includes('/')) return name;
  return [...name].map((ch) => (ch === '.' ? '/' : ch === '/' ? '.' : ch)).join('');
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

export interface ContainerConfigOptions extends EnvOptions, ResourceOptions {
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
 * CreateContainerConfigError) when an env var's source cannot be resolved.
 */
export function generateContainerConfig(pod: Pod, container: Container, opts: ContainerConfigOptions): ContainerConfig {
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
      securityContext: containerSecurityContext(pod, container),
    },
  };
  if (command) config.command = command;
  if (args) config.args = args;
  if (container.workingDir) config.workingDir = container.workingDir;
  return config;
}
