/**
 * The Node object, pure: upstream's initialNode (kubelet_node_status.go) and the status setters
 * (pkg/kubelet/nodestatus/setters.go), the change test that decides whether a status write is
 * due, the strategic-merge patch that writes it, and the reconciliation of an existing Node at
 * registration. No I/O and no clock: measurements and `now` come in as arguments.
 *
 * Setter order is upstream's: addresses, machine info (capacity, allocatable), version info,
 * daemon endpoints, OS/arch, MemoryPressure, DiskPressure, PIDPressure, and Ready last.
 */
import type { Node, NodeAddress, NodeCondition, NodeSystemInfo, Taint } from '../../protocols/kube/api.ts';
import { parseQuantity } from '../../protocols/kube/quantity.ts';
import type { PlegHealth, RuntimeHealth } from '../../protocols/messages/channels.ts';
import { NODE_SHUTTING_DOWN } from '../../protocols/messages/node.ts';

// ---------------------------------------------------------------------------------------------
// labels and annotations (k8s.io/api/core/v1 well-known labels)

export const LABEL_HOSTNAME = 'kubernetes.io/hostname';
export const LABEL_OS = 'kubernetes.io/os';
export const LABEL_ARCH = 'kubernetes.io/arch';
export const LEGACY_LABEL_OS = 'beta.kubernetes.io/os';
export const LEGACY_LABEL_ARCH = 'beta.kubernetes.io/arch';
export const LABEL_INSTANCE_TYPE = 'node.kubernetes.io/instance-type';
export const LABEL_ZONE = 'topology.kubernetes.io/zone';
export const LABEL_REGION = 'topology.kubernetes.io/region';
/** The attach/detach controller owns volume attachment (kubelet default enableControllerAttachDetach). */
export const ANNOTATION_CONTROLLER_MANAGED_ATTACH = 'volumes.kubernetes.io/controller-managed-attach-detach';
/** --cloud-provider=external: the Node waits for the cloud controller to initialise it (upstream TaintExternalCloudProvider). */
export const TAINT_EXTERNAL_CLOUD_PROVIDER = 'node.cloudprovider.kubernetes.io/uninitialized';
/** --cloud-provider=external with --node-ip: the IPs the kubelet was given, for the cloud controller (upstream AnnotationAlphaNodeIPs). */
const ANNOTATION_PROVIDED_NODE_IP = 'alpha.kubernetes.io/provided-node-ip';

/** The labels upstream's updateDefaultLabels reconciles on an existing Node. */
export const DEFAULT_LABELS = [
  LABEL_HOSTNAME,
  LABEL_ZONE,
  LABEL_REGION,
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  LABEL_INSTANCE_TYPE,
  'beta.kubernetes.io/instance-type',
  LABEL_OS,
  LABEL_ARCH,
  LEGACY_LABEL_OS,
  LEGACY_LABEL_ARCH,
];

// ---------------------------------------------------------------------------------------------
// inputs

export interface HugePages {
  /** e.g. 2097152 for hugepages-2Mi. */
  pageSizeBytes: number;
  /** Pages preallocated (nr_hugepages). */
  count: number;
}

/** What cAdvisor's MachineInfo and the host files tell upstream. */
export interface MachineInfo {
  numCores: number;
  /** MemTotal from /proc/meminfo, in bytes (a multiple of 1024). */
  memoryCapacityBytes: number;
  hugePages: HugePages[];
  /** Capacity of the filesystem holding the kubelet root dir. */
  ephemeralStorageBytes: number;
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  /** GOOS / GOARCH names: linux, amd64 / arm64. */
  operatingSystem: string;
  architecture: string;
}

/** The signals the eviction manager compares with the hard thresholds. Undefined = not measured. */
export interface Measurements {
  memoryAvailableBytes?: number;
  nodefsAvailableBytes?: number;
  nodefsCapacityBytes?: number;
  nodefsInodesFree?: number;
  nodefsInodes?: number;
  pidAvailable?: number;
  pidMax?: number;
}

export interface NodeConfig {
  nodeName: string;
  /** The host's name (kubernetes.io/hostname and the Hostname address): --hostname-override or the hostname. */
  hostname: string;
  /** --node-labels, applied at registration. */
  nodeLabels: Record<string, string>;
  /** --register-with-taints. */
  registerWithTaints: Taint[];
  /** --provider-id: spec.providerID at registration ("" or absent for none). */
  providerID?: string;
  /** --cloud-provider=external: register with the uninitialized taint (and the provided-node-ip annotation). */
  externalCloudProvider?: boolean;
  /** --node-ip as given (one IP or a dual-stack pair), for the provided-node-ip annotation. */
  nodeIPs?: string[];
  maxPods: number;
  /** --kube-reserved / --system-reserved: resource name → quantity. */
  kubeReserved: Record<string, string>;
  systemReserved: Record<string, string>;
  /** --eviction-hard: signal → quantity or percentage ("100Mi", "10%"). */
  evictionHard: Record<string, string>;
  kubeletVersion: string;
  kubeletPort: number;
}

export interface StatusInputs {
  now: number;
  machine: MachineInfo;
  addresses: NodeAddress[];
  measurements: Measurements;
  runtime: RuntimeHealth | undefined;
  pleg: PlegHealth | undefined;
  /** A graceful node shutdown is in progress (the nodeShutdown view). */
  shuttingDown?: boolean;
  /**
   * The pressure to report, as the eviction manager holds it (holdPressure); without it the
   * measurements against the hard thresholds, as they are now.
   */
  pressure?: Pressure;
}

/** An event upstream's setters record about the node ("Node <name> status is now: <reason>"). */
export interface NodeStatusEvent {
  eventType: 'Normal' | 'Warning';
  reason: string;
}

/** Upstream's defaults on Linux (pkg/kubelet/eviction/defaults_linux.go). */
export const DEFAULT_EVICTION_HARD: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
};

// ---------------------------------------------------------------------------------------------
// quantities

const BINARY_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** resource.Quantity's canonical BinarySI form of an integer: the largest exact suffix ("24684092Ki", "100Mi", "1536"). */
export function formatBinarySI(bytes: number): string {
  let v = Math.max(0, Math.floor(bytes));
  if (v === 0) return '0';
  let i = 0;
  while (i < BINARY_SUFFIXES.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${BINARY_SUFFIXES[i]}`;
}

/** DecimalSI for CPU: whole cores as "2", otherwise millicores "1900m". */
export function formatCpuMilli(milli: number): string {
  const m = Math.max(0, Math.round(milli));
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

function qty(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  const p = parseQuantity(q);
  return p.ok ? p.value : undefined;
}

/** A threshold value: an absolute quantity, or a percentage of `capacity`. */
export function thresholdValue(value: string, capacity: number | undefined): number | undefined {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(value.trim());
  if (pct) return capacity === undefined ? undefined : Math.floor((capacity * Number(pct[1])) / 100);
  return qty(value);
}

const HUGEPAGES_PREFIX = 'hugepages-';

export function hugePagesResourceName(pageSizeBytes: number): string {
  return HUGEPAGES_PREFIX + formatBinarySI(pageSizeBytes);
}

/** status.capacity from the machine (upstream MachineInfo setter). */
export function computeCapacity(machine: MachineInfo, maxPods: number): Record<string, string> {
  const cap: Record<string, string> = {
    cpu: String(machine.numCores),
    'ephemeral-storage': formatBinarySI(machine.ephemeralStorageBytes),
    memory: formatBinarySI(machine.memoryCapacityBytes),
    pods: String(maxPods),
  };
  for (const hp of machine.hugePages)
    cap[hugePagesResourceName(hp.pageSizeBytes)] = formatBinarySI(hp.pageSizeBytes * hp.count);
  return cap;
}

/**
 * status.allocatable: capacity − kubeReserved − systemReserved − the hard eviction thresholds
 * (memory.available against memory, nodefs.available against ephemeral-storage), never below
 * zero; preallocated huge pages also come out of memory (upstream GetNodeAllocatableAbsolute and
 * the MachineInfo setter).
 */
export function computeAllocatable(
  capacity: Record<string, string>,
  cfg: Pick<NodeConfig, 'kubeReserved' | 'systemReserved' | 'evictionHard'>,
): Record<string, string> {
  const reserved = new Map<string, number>();
  const add = (name: string, v: number | undefined) => {
    if (v !== undefined && v > 0) reserved.set(name, (reserved.get(name) ?? 0) + v);
  };
  for (const src of [cfg.kubeReserved, cfg.systemReserved]) {
    for (const [k, v] of Object.entries(src)) add(k, qty(v));
  }
  const mem = cfg.evictionHard['memory.available'];
  if (mem !== undefined) add('memory', thresholdValue(mem, qty(capacity.memory)));
  const nodefs = cfg.evictionHard['nodefs.available'];
  if (nodefs !== undefined) add('ephemeral-storage', thresholdValue(nodefs, qty(capacity['ephemeral-storage'])));
  for (const [k, v] of Object.entries(capacity)) {
    if (k.startsWith(HUGEPAGES_PREFIX)) add('memory', qty(v));
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(capacity)) {
    const value = (qty(v) ?? 0) - (reserved.get(k) ?? 0);
    if (k === 'cpu') out[k] = formatCpuMilli(value * 1000);
    else if (k === 'pods') out[k] = String(Math.max(0, Math.floor(value)));
    else out[k] = formatBinarySI(value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// pressure

export interface Pressure {
  memory: boolean;
  disk: boolean;
  pid: boolean;
  /** Which signals crossed their threshold, for logs and inspection. */
  signals: string[];
}

/** The hard thresholds against the measurements (operator "<", as eviction-hard uses). Unmeasured signals never press. */
export function evaluatePressure(
  evictionHard: Record<string, string>,
  m: Measurements,
  memoryCapacity: number,
): Pressure {
  const signals: string[] = [];
  const below = (signal: string, available: number | undefined, capacity: number | undefined) => {
    const t = evictionHard[signal];
    if (t === undefined || available === undefined) return false;
    const v = thresholdValue(t, capacity);
    if (v === undefined || !(available < v)) return false;
    signals.push(`${signal}<${t}`);
    return true;
  };
  const memory = below('memory.available', m.memoryAvailableBytes, memoryCapacity);
  const diskBytes = below('nodefs.available', m.nodefsAvailableBytes, m.nodefsCapacityBytes);
  const diskInodes = below('nodefs.inodesFree', m.nodefsInodesFree, m.nodefsInodes);
  const pid = below('pid.available', m.pidAvailable, m.pidMax);
  return { memory, disk: diskBytes || diskInodes, pid, signals };
}

/** Upstream's --eviction-pressure-transition-period default. */
export const DEFAULT_PRESSURE_TRANSITION_PERIOD_MS = 300_000;

export type PressureKind = 'memory' | 'disk' | 'pid';

/** When each pressure was last observed (the eviction manager's nodeConditionsLastObservedAt). */
export type PressureObservedAt = Partial<Record<PressureKind, number>>;

/**
 * The eviction manager's hysteresis: a pressure observed now is reported, and so is one last
 * observed less than `periodMs` ago (nodeConditionsObservedSince; unlike upstream, a zero period
 * still reports what is observed now), so a signal hovering around
 * its threshold does not flip the condition, and the scheduler's taint, at every reading.
 * Returns the pressure to report and the observation times to keep for the next call.
 */
export function holdPressure(
  observed: Pressure,
  lastObservedAt: PressureObservedAt,
  now: number,
  periodMs: number,
): { pressure: Pressure; observedAt: PressureObservedAt } {
  const observedAt: PressureObservedAt = { ...lastObservedAt };
  const held = { ...observed, signals: [...observed.signals] };
  for (const k of ['memory', 'disk', 'pid'] as const) {
    if (observed[k]) observedAt[k] = now;
    const at = observedAt[k];
    held[k] = observed[k] || (at !== undefined && now - at < periodMs);
  }
  return { pressure: held, observedAt };
}

// ---------------------------------------------------------------------------------------------
// Ready

/** "v1.6.20" / "1.6.20~ds1" → "1.6.20" (utilversion.ParseSemantic, else ParseGeneric keeps only the numbers). */
export function normalizeRuntimeVersion(v: string): string {
  const s = v.trim().replace(/^v/, '');
  if (/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(s)) return s;
  const m = /^(\d+(?:\.\d+)+)/.exec(s);
  return m ? m[1]! : s;
}

/** nodeInfo.containerRuntimeVersion: "<runtimeName>://<version>" ("containerd://1.6.20"); undefined until Version answered. */
export function containerRuntimeVersion(rt: RuntimeHealth | undefined): string | undefined {
  if (!rt || !rt.runtimeName) return undefined;
  return `${rt.runtimeName}://${normalizeRuntimeVersion(rt.runtimeVersion)}`;
}

const REQUIRED_CAPACITIES = ['cpu', 'memory', 'pods', 'ephemeral-storage'];

/** The reasons the node is not ready (upstream runtimeState.runtimeErrors + networkErrors + missing capacity). */
export function readyErrors(
  rt: RuntimeHealth | undefined,
  pleg: PlegHealth | undefined,
  capacity: Record<string, string> | undefined,
): string[] {
  const errs: string[] = [];
  if (!rt || (!rt.ready && rt.lastOk === 0 && !rt.runtimeName)) {
    errs.push('container runtime status check may not have completed yet');
  } else if (!rt.ready) {
    if (/^runtime not ready:/.test(rt.reason))
      errs.push(`container runtime not ready: ${rt.reason.replace(/^runtime not ready:\s*/, '')}`);
    else errs.push('container runtime is down');
  }
  if (!pleg) errs.push('PLEG is not healthy: pleg has yet to be successful');
  else if (!pleg.healthy) errs.push(`PLEG is not healthy: ${pleg.lastError || 'pleg has yet to be successful'}`);
  if (rt && rt.ready && !rt.networkReady) {
    errs.push(
      `container runtime network not ready: NetworkReady=false ${rt.reason.replace(/^network not ready:\s*/, '')}`.trim(),
    );
  }
  const missing = REQUIRED_CAPACITIES.filter((r) => capacity?.[r] === undefined);
  if (missing.length) errs.push(`Missing node capacity for resources: ${missing.join(', ')}`);
  return errs;
}

/** utilerrors.NewAggregate(errs).Error(): one error as itself, several as "[a, b]". */
export function aggregateMessage(errs: string[]): string {
  const uniq = [...new Set(errs)];
  return uniq.length === 1 ? uniq[0]! : `[${uniq.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------
// setters

/** metav1.Time: RFC 3339, second precision. */
export function metaTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

interface PressureSpec {
  type: string;
  pressed: { reason: string; message: string; event: string };
  fine: { reason: string; message: string; event: string };
}

const PRESSURE: Record<'memory' | 'disk' | 'pid', PressureSpec> = {
  memory: {
    type: 'MemoryPressure',
    pressed: {
      reason: 'KubeletHasInsufficientMemory',
      message: 'kubelet has insufficient memory available',
      event: 'NodeHasInsufficientMemory',
    },
    fine: {
      reason: 'KubeletHasSufficientMemory',
      message: 'kubelet has sufficient memory available',
      event: 'NodeHasSufficientMemory',
    },
  },
  disk: {
    type: 'DiskPressure',
    pressed: { reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure', event: 'NodeHasDiskPressure' },
    fine: {
      reason: 'KubeletHasNoDiskPressure',
      message: 'kubelet has no disk pressure',
      event: 'NodeHasNoDiskPressure',
    },
  },
  pid: {
    type: 'PIDPressure',
    pressed: {
      reason: 'KubeletHasInsufficientPID',
      message: 'kubelet has insufficient PID available',
      event: 'NodeHasInsufficientPID',
    },
    fine: {
      reason: 'KubeletHasSufficientPID',
      message: 'kubelet has sufficient PID available',
      event: 'NodeHasSufficientPID',
    },
  },
};

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * Applies every setter to a copy of `node` (what the API server last returned, or the initial
 * Node) and returns it with the node events the transitions call for.
 */
export function setNodeStatus(
  node: Node,
  cfg: NodeConfig,
  inp: StatusInputs,
): { node: Node; events: NodeStatusEvent[] } {
  const n = clone(node);
  const events: NodeStatusEvent[] = [];
  const status = (n.status ??= {});
  const now = metaTime(inp.now);

  // NodeAddress
  status.addresses = clone(inp.addresses);

  // MachineInfo
  status.capacity = computeCapacity(inp.machine, cfg.maxPods);
  status.allocatable = computeAllocatable(status.capacity, cfg);

  // VersionInfo + MachineInfo's nodeInfo fields + GoRuntime
  const prev: Partial<NodeSystemInfo> = status.nodeInfo ?? {};
  status.nodeInfo = {
    machineID: inp.machine.machineID,
    systemUUID: inp.machine.systemUUID,
    bootID: inp.machine.bootID,
    kernelVersion: inp.machine.kernelVersion,
    osImage: inp.machine.osImage,
    containerRuntimeVersion: containerRuntimeVersion(inp.runtime) ?? prev.containerRuntimeVersion ?? '',
    kubeletVersion: cfg.kubeletVersion,
    kubeProxyVersion: '',
    operatingSystem: inp.machine.operatingSystem,
    architecture: inp.machine.architecture,
  };

  // DaemonEndpoints
  status.daemonEndpoints = { kubeletEndpoint: { Port: cfg.kubeletPort } };

  const conditions = (status.conditions ??= []);

  // MemoryPressure, DiskPressure, PIDPressure
  const pressure =
    inp.pressure ?? evaluatePressure(cfg.evictionHard, inp.measurements, inp.machine.memoryCapacityBytes);
  for (const key of ['memory', 'disk', 'pid'] as const) {
    const spec = PRESSURE[key];
    let c = conditions.find((x) => x.type === spec.type);
    if (!c) {
      c = { type: spec.type, status: 'Unknown' };
      conditions.push(c);
    }
    c.lastHeartbeatTime = now;
    const want = pressure[key] ? 'True' : 'False';
    if (c.status !== want) {
      const s = pressure[key] ? spec.pressed : spec.fine;
      c.status = want;
      c.reason = s.reason;
      c.message = s.message;
      c.lastTransitionTime = now;
      events.push({ eventType: 'Normal', reason: s.event });
    }
  }

  // Ready (last in the list; upstream issue 16961)
  const errs = readyErrors(inp.runtime, inp.pleg, status.capacity);
  if (inp.shuttingDown) errs.push(NODE_SHUTTING_DOWN);
  const ready: NodeCondition =
    errs.length === 0
      ? {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now,
        }
      : {
          type: 'Ready',
          status: 'False',
          reason: 'KubeletNotReady',
          message: aggregateMessage(errs),
          lastHeartbeatTime: now,
        };
  const i = conditions.findIndex((x) => x.type === 'Ready');
  if (i >= 0) {
    const old = conditions[i]!;
    if (old.status === ready.status) {
      ready.lastTransitionTime = old.lastTransitionTime;
    } else {
      ready.lastTransitionTime = now;
      events.push({ eventType: 'Normal', reason: ready.status === 'True' ? 'NodeReady' : 'NodeNotReady' });
    }
    conditions[i] = ready;
  } else {
    ready.lastTransitionTime = now;
    conditions.push(ready);
  }
  return { node: n, events };
}

/** upstream initialNode: name, default labels + --node-labels, taints, the attach/detach annotation, and the status. */
export function initialNode(cfg: NodeConfig, inp: StatusInputs): { node: Node; events: NodeStatusEvent[] } {
  const labels: Record<string, string> = {
    [LABEL_HOSTNAME]: cfg.hostname,
    [LABEL_OS]: inp.machine.operatingSystem,
    [LABEL_ARCH]: inp.machine.architecture,
    [LEGACY_LABEL_OS]: inp.machine.operatingSystem,
    [LEGACY_LABEL_ARCH]: inp.machine.architecture,
    ...cfg.nodeLabels,
  };
  const node: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: cfg.nodeName,
      labels,
      annotations: {
        [ANNOTATION_CONTROLLER_MANAGED_ATTACH]: 'true',
        ...(cfg.externalCloudProvider && cfg.nodeIPs?.length
          ? { [ANNOTATION_PROVIDED_NODE_IP]: cfg.nodeIPs.join(',') }
          : {}),
      },
    } as unknown as Node['metadata'],
    spec: {},
  };
  const taints = [
    ...clone(cfg.registerWithTaints),
    ...(cfg.externalCloudProvider
      ? [{ key: TAINT_EXTERNAL_CLOUD_PROVIDER, value: 'true', effect: 'NoSchedule' as const }]
      : []),
  ];
  if (taints.length) node.spec!.taints = taints;
  if (cfg.providerID) node.spec!.providerID = cfg.providerID;
  return setNodeStatus(node, cfg, inp);
}

/**
 * tryRegisterWithAPIServer on 409 AlreadyExists: the existing Node keeps everything but the
 * default labels (which follow this kubelet) and the attach/detach annotation. Returns the
 * merge patch for the Node, or undefined when it already agrees.
 */
export function reconcileExistingNode(
  initial: Node,
  existing: Node,
): { metadata: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> } } | undefined {
  const labels: Record<string, string | null> = {};
  const want = initial.metadata.labels ?? {};
  const have = existing.metadata.labels ?? {};
  for (const l of DEFAULT_LABELS) {
    if (!(l in want)) continue;
    if (have[l] !== want[l]) labels[l] = want[l] === '' ? null : want[l]!;
  }
  const annotations: Record<string, string | null> = {};
  const a = initial.metadata.annotations?.[ANNOTATION_CONTROLLER_MANAGED_ATTACH];
  const b = existing.metadata.annotations?.[ANNOTATION_CONTROLLER_MANAGED_ATTACH];
  if (a !== b) annotations[ANNOTATION_CONTROLLER_MANAGED_ATTACH] = a ?? null;
  if (!Object.keys(labels).length && !Object.keys(annotations).length) return undefined;
  return {
    metadata: {
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// change detection and the patch

function sameQuantities(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  if (ka.join('\u0000') !== kb.join('\u0000')) return false;
  return ka.every((k) => {
    const x = a![k]!;
    const y = b![k]!;
    return x === y || (qty(x) !== undefined && qty(x) === qty(y));
  });
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

const conditionKey = (c: NodeCondition) =>
  JSON.stringify([c.type, c.status, c.reason ?? '', c.message ?? '', c.lastTransitionTime ?? '']);

/** upstream nodeConditionsHaveChanged: same types, statuses, reasons, messages, transition times (heartbeats ignored). */
export function nodeConditionsHaveChanged(a: NodeCondition[] = [], b: NodeCondition[] = []): boolean {
  if (a.length !== b.length) return true;
  const byType = new Map(a.map((c) => [c.type, conditionKey(c)]));
  return b.some((c) => byType.get(c.type) !== conditionKey(c));
}

/** upstream nodeStatusHasChanged: anything but the conditions' heartbeats differs. */
export function nodeStatusHasChanged(original: Node['status'], updated: Node['status']): boolean {
  const o = original ?? {};
  const u = updated ?? {};
  if (nodeConditionsHaveChanged(o.conditions, u.conditions)) return true;
  if (!sameQuantities(o.capacity, u.capacity) || !sameQuantities(o.allocatable, u.allocatable)) return true;
  if (
    !sameJson(o.addresses, u.addresses) ||
    !sameJson(o.nodeInfo, u.nodeInfo) ||
    !sameJson(o.daemonEndpoints, u.daemonEndpoints)
  )
    return true;
  const rest = (s: NonNullable<Node['status']>) => {
    const {
      conditions: _c,
      capacity: _ca,
      allocatable: _a,
      addresses: _ad,
      nodeInfo: _n,
      daemonEndpoints: _d,
      ...r
    } = s;
    return r;
  };
  return !sameJson(rest(o), rest(u));
}

function mapPatch(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
): Record<string, string | null> | undefined {
  const out: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(b ?? {})) if (a?.[k] !== v) out[k] = v;
  for (const k of Object.keys(a ?? {})) if (!(k in (b ?? {}))) out[k] = null;
  return Object.keys(out).length ? out : undefined;
}

/**
 * The strategic-merge patch of the status subresource from `original` to `updated`
 * (upstream PatchNodeStatus computes a two-way merge patch): changed conditions merge by type
 * with `$setElementOrder/conditions`; addresses, which also merge by type, are replaced whole
 * when they change, so a vanished address goes; resource maps carry null for removed names.
 */
export function statusPatch(original: Node, updated: Node): { status: Record<string, unknown> } {
  const o = original.status ?? {};
  const u = updated.status ?? {};
  const p: Record<string, unknown> = {};
  const oc = new Map((o.conditions ?? []).map((c) => [c.type, JSON.stringify(c)]));
  const changed = (u.conditions ?? []).filter((c) => oc.get(c.type) !== JSON.stringify(c));
  if (changed.length) {
    p['$setElementOrder/conditions'] = (u.conditions ?? []).map((c) => ({ type: c.type }));
    p.conditions = changed;
  }
  if (!sameJson(o.addresses, u.addresses)) p.addresses = [...(u.addresses ?? []), { $patch: 'replace' }];
  const cap = mapPatch(o.capacity, u.capacity);
  if (cap) p.capacity = cap;
  const alloc = mapPatch(o.allocatable, u.allocatable);
  if (alloc) p.allocatable = alloc;
  if (!sameJson(o.nodeInfo, u.nodeInfo)) p.nodeInfo = u.nodeInfo;
  if (!sameJson(o.daemonEndpoints, u.daemonEndpoints)) p.daemonEndpoints = u.daemonEndpoints;
  return { status: p };
}

/** The node without what changes at every heartbeat, to publish the `node` view only when it means something new. */
export function viewKey(node: Node): string {
  const n = clone(node);
  delete n.metadata.resourceVersion;
  delete (n.metadata as Record<string, unknown>).managedFields;
  for (const c of n.status?.conditions ?? []) delete c.lastHeartbeatTime;
  return JSON.stringify(n);
}
