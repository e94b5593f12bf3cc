/**
 * Pod admission: may this node run the pod? Upstream's predicateAdmitHandler
 * (pkg/kubelet/lifecycle/predicate.go), the scheduler checks it calls (scheduler.AdmissionCheck:
 * NodeResourcesFit, NodeAffinity, NodeName, NodePorts; then TaintToleration) and the
 * CriticalPodAdmissionHandler (pkg/kubelet/preemption). Pure: no clock, no bus.
 *
 * Order and wording follow upstream, because only the FIRST failure becomes the pod's reason:
 *   0. the admit handlers upstream runs before the predicates: SysctlForbidden (a sysctl neither
 *      safe nor in --allowed-unsafe-sysctls, or of the host's network/IPC namespace), AppArmor (a
 *      profile on a node without AppArmor: "Cannot enforce AppArmor: ..."),
 *      SupplementalGroupsPolicyNotSupported (Strict on a runtime that does not report it);
 *   1. PodOSSelectorNodeLabelDoesNotMatch: the pod's `kubernetes.io/os` LABEL differs from linux;
 *   2. PodOSNotSupported: spec.os.name is set and not linux;
 *   3. resources (OutOfpods, OutOfcpu, OutOfmemory, OutOfephemeral-storage, OutOf<extended>):
 *      "Node didn't have enough resource: cpu, requested: 2000, used: 500, capacity: 2000"
 *      (cpu in millicores, the rest in bytes / counts);
 *   4. NodeAffinity (nodeSelector + required node affinity), 5. NodeName, 6. NodePorts:
 *      "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector";
 *   7. TaintToleration, for NoExecute taints only and never for static pods (upstream's kubelet
 *      ignores NoSchedule: the scheduler already honoured it, and a pod bound by hand or a static
 *      pod is meant to run regardless).
 *
 * The effective request of a pod is upstream's PodRequests: the sum over app containers and
 * sidecars (init containers with restartPolicy Always), the max with each ordinary init container
 * (plus the sidecars started before it), plus spec.overhead.
 *
 * Critical pods (static pods, and priority >= 2000000000) cannot fail for resources: upstream
 * evicts lower-priority pods to make room. The simplest faithful form here: when the only
 * failures are resources, and the pods upstream could preempt would free enough, the pod is
 * admitted with `overcommitted` set (the caller logs it). Evicting those pods needs a kill path
 * pod-manager does not own, so the node stays over-committed instead.
 * When even evicting all of them would not free enough, the pod is rejected as upstream does:
 * UnexpectedAdmissionError, "... no set of running pods found to reclaim resources: ...".
 *
 * Without a Node (standalone mode, or before the first registration) upstream builds one from
 * local machine info; pod-manager does not have that, so only what needs no Node is checked:
 * the OS checks, the pod count against maxPods, spec.nodeName against the configured node name
 * (when known), and host ports. Resources, affinity and taints are skipped (a standalone Node
 * has no taints, and its labels are only the kubelet's defaults).
 */
import type { Node, Taint } from '../../protocols/kube/api.ts';
import type { Pod, Quantity } from '../../protocols/kube/pod.ts';
import { parseQuantity } from '../../protocols/kube/quantity.ts';
import {
  APPARMOR_REASON,
  appArmorAdmissionError,
  forbiddenSysctl,
  newSysctlAllowlist,
  SYSCTL_FORBIDDEN_REASON,
  type SysctlAllowlist,
} from '../../protocols/kube/security.ts';

/** Upstream's rejection reasons (lifecycle/predicate.go and the scheduler plugin names). */
export const AdmissionReason = {
  OutOfCpu: 'OutOfcpu',
  OutOfMemory: 'OutOfmemory',
  OutOfEphemeralStorage: 'OutOfephemeral-storage',
  OutOfPods: 'OutOfpods',
  NodeAffinity: 'NodeAffinity',
  NodeName: 'NodeName',
  NodePorts: 'NodePorts',
  TaintToleration: 'TaintToleration',
  PodOSSelectorNodeLabelDoesNotMatch: 'PodOSSelectorNodeLabelDoesNotMatch',
  PodOSNotSupported: 'PodOSNotSupported',
  UnexpectedAdmissionError: 'UnexpectedAdmissionError',
  SupplementalGroupsPolicyNotSupported: 'SupplementalGroupsPolicyNotSupported',
} as const;

const DEFAULT_SYSCTLS = newSysctlAllowlist();

const ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
const ERR_NODE_NAME = "node(s) didn't match the requested node name";
const ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports";
const ERR_TAINTS = "node(s) had taints that the pod didn't tolerate";

/** Upstream's SystemCriticalPriority: pods at or above it are critical. */
export const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;
/** KubeletConfiguration maxPods default. */
export const DEFAULT_MAX_PODS = 110;
const NODE_OS = 'linux';
const LABEL_OS = 'kubernetes.io/os';

/** A pod already running here (static pods are critical: never preempted by another critical pod). */
export interface AdmittedPod {
  pod: Pod;
  static: boolean;
}

export interface AdmissionInput {
  pod: Pod;
  /** A graceful node shutdown is in progress (the nodeShutdown view): upstream's shutdown manager admit handler refuses every new pod. */
  shuttingDown?: boolean;
  /** Static pods are critical and exempt from the taint check. */
  static: boolean;
  /** The `node` view; undefined in standalone mode. */
  node: Node | undefined;
  /** The admitted, still active pods (the new one excluded). */
  others: readonly AdmittedPod[];
  /** The node name to check spec.nodeName against when there is no Node. */
  nodeName?: string;
  /** Allowed pods when the Node does not say (standalone): --max-pods, default 110. */
  maxPods?: number;
  /** The safe sysctls and --allowed-unsafe-sysctls (default: the safe set alone). */
  sysctls?: SysctlAllowlist;
  /** Why this node cannot enforce AppArmor (no AppArmor in the kernel); undefined when it can. */
  appArmorHostError?: string;
  /** The runtime reports SupplementalGroupsPolicy support (CRI Status features); false until it says so. */
  supplementalGroupsPolicy?: boolean;
}

export type AdmissionResult =
  /** `overcommitted`: a critical pod admitted over its resource failures (upstream would preempt). */
  { admit: true; overcommitted?: string[] } | { admit: false; reason: string; message: string };

interface Insufficient {
  kind: 'resource';
  resource: string;
  requested: number;
  used: number;
  capacity: number;
}
interface PredicateFailure {
  kind: 'predicate';
  name: string;
  desc: string;
}
type Failure = Insufficient | PredicateFailure;

// ---------------------------------------------------------------------------------------------
// requests

/** Base units, except cpu in millicores; integers rounded up as Quantity.Value/MilliValue do. */
export type ResourceList = Record<string, number>;

function toUnits(name: string, q: Quantity): number {
  const p = parseQuantity(q);
  if (!p.ok) return 0; // validation refused malformed quantities before the pod got here
  return name === 'cpu' ? Math.ceil(Number(`${p.value}e3`)) : Math.ceil(p.value);
}

function listOf(raw: Record<string, Quantity> | undefined): ResourceList {
  const out: ResourceList = {};
  for (const [k, v] of Object.entries(raw ?? {})) out[k] = toUnits(k, v);
  return out;
}

function add(into: ResourceList, more: ResourceList): void {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v;
}

function max(into: ResourceList, other: ResourceList): void {
  for (const [k, v] of Object.entries(other)) into[k] = Math.max(into[k] ?? 0, v);
}

/** Upstream resourcehelper.PodRequests (with sidecars and overhead). */
export function podRequests(pod: Pod): ResourceList {
  const reqs: ResourceList = {};
  for (const c of pod.spec?.containers ?? []) add(reqs, listOf(c.resources?.requests));
  const sidecars: ResourceList = {};
  const initMax: ResourceList = {};
  for (const c of pod.spec?.initContainers ?? []) {
    const own = listOf(c.resources?.requests);
    if (c.restartPolicy === 'Always') {
      add(reqs, own);
      add(sidecars, own);
      max(initMax, sidecars);
    } else {
      const during = { ...own };
      add(during, sidecars);
      max(initMax, during);
    }
  }
  max(reqs, initMax);
  add(reqs, listOf(pod.spec?.overhead));
  return reqs;
}

/** Extended resources (example.com/gpu) and hugepages are checked like upstream's scalar resources. */
function isScalar(name: string): boolean {
  if (name.startsWith('hugepages-')) return true;
  return isExtended(name);
}

function isExtended(name: string): boolean {
  return name.includes('/') && !name.includes('kubernetes.io/') && !name.startsWith('requests.');
}

// ---------------------------------------------------------------------------------------------
// the checks

function fitsResources(
  pod: Pod,
  node: Node | undefined,
  others: readonly AdmittedPod[],
  maxPods: number,
): Insufficient[] {
  const out: Insufficient[] = [];
  const alloc = node?.status?.allocatable;
  const allowedPods = alloc?.pods !== undefined ? toUnits('pods', alloc.pods) : maxPods;
  if (others.length + 1 > allowedPods) {
    out.push({ kind: 'resource', resource: 'pods', requested: 1, used: others.length, capacity: allowedPods });
  }
  if (!node) return out;
  const allocatable = listOf(alloc);
  const requested: ResourceList = {};
  for (const o of others) add(requested, podRequests(o.pod));
  const want = podRequests(pod);
  // Extended resources the node does not advertise are cluster-level (or DRA): not ours to check.
  for (const k of Object.keys(want)) if (isExtended(k) && !(k in allocatable)) delete want[k];
  const names = ['cpu', 'memory', 'ephemeral-storage', ...Object.keys(want).filter(isScalar).sort()];
  for (const name of names) {
    const r = want[name] ?? 0;
    const cap = allocatable[name] ?? 0;
    const used = requested[name] ?? 0;
    if (r > 0 && r > cap - used) out.push({ kind: 'resource', resource: name, requested: r, used, capacity: cap });
  }
  return out;
}

interface SelectorRequirement {
  key?: unknown;
  operator?: unknown;
  values?: unknown;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** One label requirement; undefined when malformed (the whole term then fails, as upstream). */
function matchLabel(req: SelectorRequirement, labels: Record<string, string>): boolean | undefined {
  const key = typeof req.key === 'string' ? req.key : '';
  if (!key) return undefined;
  const values = strings(req.values);
  const has = Object.hasOwn(labels, key);
  switch (req.operator) {
    case 'In':
      return values.length === 0 ? undefined : has && values.includes(labels[key]!);
    case 'NotIn':
      return values.length === 0 ? undefined : !has || !values.includes(labels[key]!);
    case 'Exists':
      return values.length !== 0 ? undefined : has;
    case 'DoesNotExist':
      return values.length !== 0 ? undefined : !has;
    case 'Gt':
    case 'Lt': {
      if (values.length !== 1 || !/^[+-]?\d+$/.test(values[0]!)) return undefined;
      if (!has || !/^[+-]?\d+$/.test(labels[key]!)) return false;
      const a = BigInt(labels[key]!);
      const b = BigInt(values[0]!);
      return req.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return undefined;
  }
}

/** matchFields: only metadata.name, In / NotIn with exactly one value. */
function matchField(req: SelectorRequirement, node: Node): boolean | undefined {
  const values = strings(req.values);
  if (values.length !== 1) return undefined;
  const field = req.key === 'metadata.name' ? (node.metadata.name ?? '') : '';
  if (req.operator === 'In') return field === values[0];
  if (req.operator === 'NotIn') return field !== values[0];
  return undefined;
}

function matchTerm(term: unknown, node: Node, labels: Record<string, string>): boolean {
  if (typeof term !== 'object' || term === null) return false;
  const t = term as { matchExpressions?: unknown; matchFields?: unknown };
  const exprs = Array.isArray(t.matchExpressions) ? (t.matchExpressions as SelectorRequirement[]) : [];
  const fields = Array.isArray(t.matchFields) ? (t.matchFields as SelectorRequirement[]) : [];
  // An empty term matches no node.
  if (exprs.length === 0 && fields.length === 0) return false;
  return (
    exprs.every((e) => matchLabel(e ?? {}, labels) === true) && fields.every((f) => matchField(f ?? {}, node) === true)
  );
}

/** nodeSelector AND requiredDuringSchedulingIgnoredDuringExecution (terms ORed). */
export function matchesNodeAffinity(pod: Pod, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const affinity = pod.spec?.affinity as
    | { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: unknown } } }
    | undefined;
  const required = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  const terms = Array.isArray(required.nodeSelectorTerms) ? required.nodeSelectorTerms : [];
  return terms.some((t) => matchTerm(t, node, labels));
}

interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

function hostPorts(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  // App containers and sidecars: the ones that keep running (and holding their ports).
  const containers = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
  ];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      out.push({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort });
    }
  }
  return out;
}

/** Upstream HostPortInfo.CheckConflict: 0.0.0.0 conflicts with every address on the same port. */
function portsFit(pod: Pod, others: readonly AdmittedPod[]): boolean {
  const want = hostPorts(pod);
  if (want.length === 0) return true;
  const used = others.flatMap((o) => hostPorts(o.pod));
  return !want.some((w) =>
    used.some(
      (u) =>
        u.protocol === w.protocol && u.port === w.port && (u.ip === w.ip || u.ip === '0.0.0.0' || w.ip === '0.0.0.0'),
    ),
  );
}

/** Upstream v1.Toleration.ToleratesTaint. */
export function toleratesTaint(
  t: { key?: string; operator?: string; value?: string; effect?: string },
  taint: Taint,
): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  switch (t.operator ?? '') {
    case '':
    case 'Equal':
      return (t.value ?? '') === (taint.value ?? '');
    case 'Exists':
      return true;
    default:
      return false;
  }
}

function untoleratedNoExecute(pod: Pod, node: Node): boolean {
  const tolerations = pod.spec?.tolerations ?? [];
  return (node.spec?.taints ?? []).some(
    (taint) => taint.effect === 'NoExecute' && !tolerations.some((t) => toleratesTaint(t, taint)),
  );
}

/** Upstream types.IsCriticalPod for a pod pod-manager holds (mirror pods never reach it). */
export function isCriticalPod(pod: Pod, isStatic: boolean): boolean {
  if (isStatic) return true;
  const prio = pod.spec?.priority;
  return prio !== undefined && prio >= SYSTEM_CRITICAL_PRIORITY;
}

/** The scheduler's general predicates as the kubelet runs them, every failure in upstream's order. */
function generalFilter(input: AdmissionInput, maxPods: number): Failure[] {
  const { pod, node, others } = input;
  const failures: Failure[] = [...fitsResources(pod, node, others, maxPods)];
  if (node && !matchesNodeAffinity(pod, node))
    failures.push({ kind: 'predicate', name: AdmissionReason.NodeAffinity, desc: ERR_NODE_AFFINITY });
  const nodeName = node?.metadata.name ?? input.nodeName;
  const wanted = pod.spec?.nodeName ?? '';
  if (nodeName !== undefined && wanted !== '' && wanted !== nodeName)
    failures.push({ kind: 'predicate', name: AdmissionReason.NodeName, desc: ERR_NODE_NAME });
  if (!portsFit(pod, others))
    failures.push({ kind: 'predicate', name: AdmissionReason.NodePorts, desc: ERR_NODE_PORTS });
  if (node && !input.static && untoleratedNoExecute(pod, node))
    failures.push({ kind: 'predicate', name: AdmissionReason.TaintToleration, desc: ERR_TAINTS });
  return failures;
}

function reasonFor(f: Failure): { reason: string; message: string } {
  if (f.kind === 'predicate') return { reason: f.name, message: `Predicate ${f.name} failed: ${f.desc}` };
  return {
    reason: `OutOf${f.resource}`,
    message: `Node didn't have enough resource: ${f.resource}, requested: ${f.requested}, used: ${f.used}, capacity: ${f.capacity}`,
  };
}

// --- critical pods: upstream's preemption feasibility (getPodsToPreempt's first step) ----------

function resourceRequest(pod: Pod, name: string): number {
  // GetResourceRequest counts a pod as 1 for `pods`.
  return name === 'pods' ? 1 : (podRequests(pod)[name] ?? 0);
}

function unmetAfterEvicting(
  requirements: { resource: string; quantity: number }[],
  victims: readonly Pod[],
): { resource: string; quantity: number }[] {
  const out: { resource: string; quantity: number }[] = [];
  for (const req of requirements) {
    let q = req.quantity;
    for (const v of victims) {
      q -= resourceRequest(v, req.resource);
      if (q <= 0) break;
    }
    if (q > 0) out.push({ resource: req.resource, quantity: q });
  }
  return out;
}

/** Upstream kubetypes.Preemptable. */
function preemptable(preemptor: Pod, preemptorCritical: boolean, preemptee: Pod, preempteeCritical: boolean): boolean {
  if (preemptorCritical && !preempteeCritical) return true;
  const a = preemptor.spec?.priority;
  const b = preemptee.spec?.priority;
  return a !== undefined && b !== undefined && a > b;
}

/** Decide whether `input.pod` may run here. */
export function admitPod(input: AdmissionInput): AdmissionResult {
  const { pod } = input;
  if (input.shuttingDown)
    return { admit: false, reason: 'NodeShutdown', message: 'Pod was rejected as the node is shutting down.' };
  // upstream's admit handlers before the predicates: sysctls, AppArmor, the runtime's features
  const sysctl = forbiddenSysctl(input.sysctls ?? DEFAULT_SYSCTLS, pod.spec ?? {});
  if (sysctl) return { admit: false, reason: SYSCTL_FORBIDDEN_REASON, message: sysctl };
  const appArmor = appArmorAdmissionError(pod, input.appArmorHostError);
  if (appArmor) return { admit: false, reason: APPARMOR_REASON, message: `Cannot enforce AppArmor: ${appArmor}` };
  if (pod.spec?.securityContext?.supplementalGroupsPolicy === 'Strict' && !input.supplementalGroupsPolicy) {
    return {
      admit: false,
      reason: AdmissionReason.SupplementalGroupsPolicyNotSupported,
      message: 'SupplementalGroupsPolicy=Strict is not supported in this node',
    };
  }
  if ((pod.metadata?.labels?.[LABEL_OS] ?? NODE_OS) !== NODE_OS) {
    return {
      admit: false,
      reason: AdmissionReason.PodOSSelectorNodeLabelDoesNotMatch,
      message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label",
    };
  }
  if (pod.spec?.os && pod.spec.os.name !== NODE_OS) {
    return {
      admit: false,
      reason: AdmissionReason.PodOSNotSupported,
      message: "Failed to admit pod as the OS field doesn't match node OS",
    };
  }
  const failures = generalFilter(input, input.maxPods ?? DEFAULT_MAX_PODS);
  if (failures.length === 0) return { admit: true };

  const critical = isCriticalPod(pod, input.static);
  if (!critical) return { admit: false, ...reasonFor(failures[0]!) };
  const nonResource = failures.filter((f) => f.kind === 'predicate');
  if (nonResource.length > 0) return { admit: false, ...reasonFor(nonResource[0]!) };

  // Only resources: upstream evicts preemptable pods; admit when they would free enough.
  const candidates = input.others
    .filter((o) => preemptable(pod, true, o.pod, isCriticalPod(o.pod, o.static)))
    .map((o) => o.pod);
  const requirements = (failures as Insufficient[]).map((f) => ({
    resource: f.resource,
    quantity: f.requested - (f.capacity - f.used),
  }));
  const unmet = unmetAfterEvicting(requirements, candidates);
  if (unmet.length > 0) {
    const list = `[${unmet.map((r) => `(res: ${r.resource}, q: ${r.quantity}), `).join('')}]`;
    return {
      admit: false,
      reason: AdmissionReason.UnexpectedAdmissionError,
      message: `Unexpected error while attempting to recover from admission failure: preemption: error finding a set of pods to preempt: no set of running pods found to reclaim resources: ${list}`,
    };
  }
  return { admit: true, overcommitted: failures.map((f) => reasonFor(f).message) };
}
