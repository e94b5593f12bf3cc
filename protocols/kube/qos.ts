/**
 * QoS and the resource arithmetic of upstream's cm/helpers_linux.go and qos/policy.go, pure:
 * the pod's QoS class (v1qos.GetPodQOS), the pod's aggregated requests and limits
 * (resource.PodRequests / PodLimits, sidecar-aware), CPU shares and CFS quota
 * (MilliCPUToShares, MilliCPUToQuota) and the containers' oom_score_adj
 * (GetContainerOOMScoreAdjust). Shared by the runtime (the container's linux resources) and the
 * containerManager (the pod and QoS cgroups).
 */
import type { Container, Pod, Quantity } from './pod.ts';
import { parseQuantity } from './quantity.ts';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** A quantity's value in base units; 0 for a missing or malformed one (validation reports those). */
export function quantityOrZero(q: Quantity | undefined): number {
  if (q === undefined) return 0;
  const p = parseQuantity(q);
  return p.ok ? p.value : 0;
}

/** upstream MilliValue(): thousandths, rounded up. */
export function milliValue(q: Quantity | undefined): number {
  return Math.ceil(Number(`${quantityOrZero(q)}e3`));
}

/** upstream Value(): base units rounded up (bytes). */
export function intValue(q: Quantity | undefined): number {
  return Math.ceil(quantityOrZero(q));
}

function positive(q: unknown): number {
  if (typeof q !== 'string' && typeof q !== 'number') return 0;
  const p = parseQuantity(q);
  return p.ok && p.value > 0 ? p.value : 0;
}

/**
 * upstream v1qos.ComputePodQOS over cpu and memory of init and regular containers: no requests
 * or limits anywhere → BestEffort; every container limits cpu and memory and the summed requests
 * equal the summed limits → Guaranteed; otherwise Burstable. A missing request reads as the
 * limit (the API server's defaulting), so an undefaulted pod classifies the same.
 */
export function computePodQos(pod: Pod): QosClass {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let guaranteed = true;
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    const found = new Set<string>();
    for (const name of ['cpu', 'memory']) {
      const lim = positive(c.resources?.limits?.[name]);
      const reqRaw = c.resources?.requests?.[name];
      const req = reqRaw === undefined ? lim : positive(reqRaw);
      if (req > 0) requests.set(name, (requests.get(name) ?? 0) + req);
      if (lim > 0) {
        found.add(name);
        limits.set(name, (limits.get(name) ?? 0) + lim);
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) {
      if (limits.get(name) !== req) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** upstream GetPodQOS: the recorded class (immutable once set), else computed. */
export function getPodQos(pod: Pod): QosClass {
  const recorded = pod.status?.qosClass;
  if (recorded === 'Guaranteed' || recorded === 'Burstable' || recorded === 'BestEffort') return recorded;
  return computePodQos(pod);
}

// ---------------------------------------------------------------------------------------------
// pod requests and limits (component-helpers resource.PodRequests / PodLimits)

/** cpu in millicores, memory in bytes. */
export interface PodResources {
  cpuMilli: number;
  memoryBytes: number;
}

const isSidecar = (c: Container) => (c as { restartPolicy?: string }).restartPolicy === 'Always';

/** A container's request, defaulting to its limit as the API server does. */
function request(c: Container, name: 'cpu' | 'memory'): Quantity | undefined {
  return c.resources?.requests?.[name] ?? c.resources?.limits?.[name];
}

function amount(c: Container, name: 'cpu' | 'memory', kind: 'requests' | 'limits'): number {
  const q = kind === 'requests' ? request(c, name) : c.resources?.limits?.[name];
  return name === 'cpu' ? milliValue(q) : intValue(q);
}

/**
 * upstream AggregateContainerRequests / Limits: the regular containers and the sidecars summed;
 * each plain init container counts with the sidecars started before it; the pod takes the larger
 * of the two, per resource.
 */
function aggregate(pod: Pod, kind: 'requests' | 'limits'): PodResources {
  const out: PodResources = { cpuMilli: 0, memoryBytes: 0 };
  const keys = [
    ['cpu', 'cpuMilli'],
    ['memory', 'memoryBytes'],
  ] as const;
  for (const c of pod.spec.containers) for (const [n, k] of keys) out[k] += amount(c, n, kind);
  const sidecars: PodResources = { cpuMilli: 0, memoryBytes: 0 };
  const init: PodResources = { cpuMilli: 0, memoryBytes: 0 };
  for (const c of pod.spec.initContainers ?? []) {
    for (const [n, k] of keys) {
      const v = amount(c, n, kind);
      if (isSidecar(c)) {
        out[k] += v;
        sidecars[k] += v;
        init[k] = Math.max(init[k], sidecars[k]);
      } else {
        init[k] = Math.max(init[k], v + sidecars[k]);
      }
    }
  }
  for (const [, k] of keys) out[k] = Math.max(out[k], init[k]);
  return out;
}

export function podRequests(pod: Pod): PodResources {
  return aggregate(pod, 'requests');
}

/** The summed limits, and whether every container (init ones too) declares a cpu and a memory limit. */
export function podLimits(pod: Pod): PodResources & { cpuDeclared: boolean; memoryDeclared: boolean } {
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  return {
    ...aggregate(pod, 'limits'),
    cpuDeclared: all.every((c) => milliValue(c.resources?.limits?.['cpu']) > 0),
    memoryDeclared: all.every((c) => intValue(c.resources?.limits?.['memory']) > 0),
  };
}

// ---------------------------------------------------------------------------------------------
// CPU shares and quota (cm/helpers_linux.go)

export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const SHARES_PER_CPU = 1024;
export const QUOTA_PERIOD_US = 100_000;
export const MIN_QUOTA_PERIOD_US = 1000;

/** upstream MilliCPUToShares. */
export function milliCpuToShares(milliCpu: number): number {
  if (milliCpu === 0) return MIN_SHARES;
  const shares = Math.trunc((milliCpu * SHARES_PER_CPU) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** upstream MilliCPUToQuota: 0 (no quota) without a limit, at least 1ms otherwise. */
export function milliCpuToQuota(milliCpu: number, periodUs: number): number {
  if (milliCpu === 0) return 0;
  return Math.max(MIN_QUOTA_PERIOD_US, Math.trunc((milliCpu * periodUs) / 1000));
}

// ---------------------------------------------------------------------------------------------
// oom_score_adj (qos/policy.go)

export const GUARANTEED_OOM_SCORE_ADJ = -997;
const BESTEFFORT_OOM_SCORE_ADJ = 1000;

/** upstream qos.GetContainerOOMScoreAdjust; undefined for Burstable without the node's memory. */
export function containerOomScoreAdjust(pod: Pod, container: Container, memoryCapacity?: number): number | undefined {
  if (pod.spec.priorityClassName === 'system-node-critical') return GUARANTEED_OOM_SCORE_ADJ;
  const qos = getPodQos(pod);
  if (qos === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ;
  if (qos === 'BestEffort') return BESTEFFORT_OOM_SCORE_ADJ;
  if (!memoryCapacity) return undefined;
  const req = intValue(container.resources?.requests?.['memory']);
  const adj = 1000 - Math.trunc((1000 * req) / memoryCapacity);
  if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ) return 1000 + GUARANTEED_OOM_SCORE_ADJ;
  if (adj === BESTEFFORT_OOM_SCORE_ADJ) return adj - 1;
  return adj;
}
