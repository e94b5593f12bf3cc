/**
 * The status manager's pure decisions (upstream pkg/kubelet/status/status_manager.go and
 * status/generate.go): what the cache holds after a pod's worker terminated or after admission
 * rejected it, what goes to the API server, whether that write can be skipped, where it goes
 * (the pod itself or a static pod's mirror), when the pod object may be deleted, and how long to
 * wait before a retry. No clock, no I/O: `now` and `random` are passed in.
 *
 * Rules worth knowing:
 * - The kubelet owns these status fields and sends them whole: phase, reason, message, its own
 *   conditions (merged by type on the server, so others' conditions stay; within one, the
 *   optional keys we lack are sent null so none lingers), containerStatuses and
 *   initContainerStatuses (atomic lists), podIP(s), hostIP(s) (replaced with `$patch: replace`,
 *   so a stale IP never lingers next to a new one), startTime, qosClass. A field we no longer
 *   have is sent as null (deleted), except phase, startTime and qosClass, which we never clear.
 * - mergePodStatus: a terminal phase the API already holds wins over ours; a transition to a
 *   terminal phase waits until the pod could have no running containers (its worker terminated);
 *   a terminal pod is never reported Ready.
 * - finalStatus: a pod the API shows terminal keeps that status (after a restart too); nothing we
 *   compute later rewrites it.
 * - TerminatePod (when the worker reached terminated): every container without a terminated
 *   state is reported terminated with ContainerStatusUnknown / 137 (regular containers only once
 *   the pod initialized; init containers except the trailing never-started ones, the first one
 *   always, a crash-looping one counting as started), and a pod
 *   that is not static ends Failed unless it is already Succeeded/Failed (upstream since 1.27).
 *   Such a container is also not ready and not started (upstream leaves both as they were).
 * - canBeDeleted: an API pod with a deletionTimestamp, not a mirror, whose worker terminated and
 *   whose terminal phase the API server accepted.
 */
import { isDeepStrictEqual } from 'node:util';
import { ApiError } from '../../protocols/kube/api.ts';
import {
  CONTAINER_GONE_AT_TERMINATION,
  CONTAINER_STATUS_UNKNOWN,
  isTerminalPhase,
  KUBELET_OWNED_CONDITIONS,
  type ContainerStatus,
  type Pod,
  type PodCondition,
  type PodStatus,
} from '../../protocols/kube/pod.ts';
import type { DesiredPod, MirrorPods } from '../../protocols/messages/config.ts';
import { NODE_SHUTDOWN_MESSAGE, NODE_SHUTDOWN_REASON } from '../../protocols/messages/node.ts';

/** upstream PodConditionSharedByKubelet: written only when the pod turns terminal. */
export const DISRUPTION_TARGET = 'DisruptionTarget';

export const POD_COMPLETED = 'PodCompleted';
export const POD_FAILED = 'PodFailed';

/** Backoff of failed writes: 500ms doubling, capped so that the API catches up within 5s of recovery. */
export const RETRY_MIN_MS = 500;
export const RETRY_MAX_MS = 4000;
/** Upstream syncPeriod: the full reconcile (syncBatch). */
export const RECONCILE_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// comparing statuses

/**
 * The JSON the API server would answer for a value: nulls, empty strings, empty lists and empty
 * objects are omitted (Go's omitempty), except the container state variants, where `running: {}`
 * differs from `waiting: {}`.
 */
function canonical(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) {
    const out = v.map((x) => canonical(x)).filter((x) => x !== undefined);
    return out.length === 0 ? undefined : out;
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const c = canonical((v as Record<string, unknown>)[k], k);
      if (c !== undefined) out[k] = c;
    }
    if (Object.keys(out).length > 0) return out;
    return key === 'running' || key === 'waiting' || key === 'terminated' ? {} : undefined;
  }
  if (v === null || v === '') return undefined;
  return v;
}

function ownedConditions(
  conditions: readonly PodCondition[] | undefined,
  extra: readonly string[] = [],
): PodCondition[] {
  return (conditions ?? []).filter((c) => KUBELET_OWNED_CONDITIONS.includes(c.type) || extra.includes(c.type));
}

/** The fields the kubelet owns, in canonical form (conditions by type). */
export function ownedStatus(
  s: PodStatus | undefined,
  extraConditions: readonly string[] = [],
): Record<string, unknown> {
  if (!s) return {};
  const conditions = ownedConditions(s.conditions, extraConditions)
    .slice()
    .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  const owned = {
    phase: s.phase,
    reason: s.reason,
    message: s.message,
    conditions,
    containerStatuses: s.containerStatuses,
    initContainerStatuses: s.initContainerStatuses,
    podIP: s.podIP,
    podIPs: s.podIPs,
    hostIP: s.hostIP,
    hostIPs: s.hostIPs,
    startTime: s.startTime,
    qosClass: s.qosClass,
  };
  return (canonical(owned) ?? {}) as Record<string, unknown>;
}

/**
 * Whether the API already shows `toWrite` (upstream isPodStatusByKubeletEqual, on every owned
 * field). startTime and qosClass we do not have are not a difference: we never clear them.
 */
export function apiShows(api: PodStatus | undefined, toWrite: PodStatus): boolean {
  const extra = toWrite.conditions?.some((c) => c.type === DISRUPTION_TARGET) ? [DISRUPTION_TARGET] : [];
  const a = ownedStatus(api, extra);
  const w = ownedStatus(toWrite, extra);
  if (w.startTime === undefined) delete a.startTime;
  if (w.qosClass === undefined) delete a.qosClass;
  if (w.phase === undefined) delete a.phase;
  return isDeepStrictEqual(a, w);
}

// ---------------------------------------------------------------------------------------------
// what goes to the API

/**
 * Sets Ready / ContainersReady False for a terminal phase (upstream issue 108594); the API's
 * False condition is kept as it is, so its transition time does not move on every write.
 */
function notReadyWhenTerminal(status: PodStatus, api: PodStatus | undefined, now: string): PodStatus {
  if (!isTerminalPhase(status.phase) || !status.conditions) return status;
  const reason = status.phase === 'Succeeded' ? POD_COMPLETED : POD_FAILED;
  let changed = false;
  const conditions = status.conditions.map((c) => {
    if ((c.type !== 'Ready' && c.type !== 'ContainersReady') || c.status !== 'True') return c;
    changed = true;
    const known = api?.conditions?.find((x) => x.type === c.type && x.status === 'False' && x.reason === reason);
    return known ?? { type: c.type, status: 'False' as const, reason, lastTransitionTime: now };
  });
  return changed ? { ...status, conditions } : status;
}

export interface MergeInput {
  /** The cache's status (what the runtime computed, after the cache's own guards). */
  local: PodStatus;
  /** The newest status the API server is known to hold for the target object. */
  api: PodStatus | undefined;
  /** upstream PodCouldHaveRunningContainers: the pod's worker has not terminated. */
  couldHaveRunningContainers: boolean;
  now: string;
}

/**
 * upstream mergePodStatus, restricted to the fields the kubelet owns: the status to write.
 * Conditions are the kubelet's own (plus DisruptionTarget once the pod turns terminal).
 */
export function statusForApi(m: MergeInput): PodStatus {
  let s: PodStatus = { ...m.local };
  const apiPhase = m.api?.phase;
  if (isTerminalPhase(apiPhase) && s.phase !== apiPhase) {
    // The API's terminal phase never reverts, nor turns into the other terminal phase.
    s.phase = apiPhase;
    if (m.api?.reason) s.reason = m.api.reason;
    else delete s.reason;
    if (m.api?.message) s.message = m.api.message;
    else delete s.message;
  }
  const toTerminal = !isTerminalPhase(apiPhase) && isTerminalPhase(s.phase);
  if (toTerminal && m.couldHaveRunningContainers) {
    // Never report terminal while containers may still hold the pod's resources.
    s.phase = apiPhase ?? 'Pending';
    if (m.api?.reason) s.reason = m.api.reason;
    else delete s.reason;
    if (m.api?.message) s.message = m.api.message;
    else delete s.message;
  }
  const extra = toTerminal && !m.couldHaveRunningContainers ? [DISRUPTION_TARGET] : [];
  s.conditions = ownedConditions(s.conditions, extra);
  s = notReadyWhenTerminal(s, m.api, m.now);
  return s;
}

/** A list merged by key on the server, sent so that it replaces the stored one. */
function replacing<T>(list: readonly T[] | undefined): unknown {
  return list && list.length > 0 ? [...list, { $patch: 'replace' }] : null;
}

/**
 * A condition as the patch element that replaces the stored one: the server merges conditions
 * by type, key by key, so an optional key we do not have is sent as null (deleted), or a Ready
 * that turned True would keep the reason and message it had while False (upstream sends a
 * two-way diff, which nulls them the same way).
 */
function wholeCondition(c: PodCondition): Record<string, unknown> {
  return { ...c, reason: c.reason || null, message: c.message || null, lastProbeTime: c.lastProbeTime || null };
}

/**
 * The strategic merge patch for pods/status: metadata.uid (as upstream, so the write can only
 * land on this very object) and the owned fields whole.
 */
export function statusPatch(uid: string, s: PodStatus): { metadata: { uid: string }; status: Record<string, unknown> } {
  const status: Record<string, unknown> = {};
  if (s.phase !== undefined) status.phase = s.phase;
  status.reason = s.reason || null;
  status.message = s.message || null;
  if (s.conditions && s.conditions.length > 0) status.conditions = s.conditions.map(wholeCondition);
  status.containerStatuses = s.containerStatuses ?? null;
  status.initContainerStatuses = s.initContainerStatuses ?? null;
  status.podIP = s.podIP || null;
  status.podIPs = replacing(s.podIPs);
  status.hostIP = s.hostIP || null;
  status.hostIPs = replacing(s.hostIPs);
  if (s.startTime) status.startTime = s.startTime;
  if (s.qosClass) status.qosClass = s.qosClass;
  return { metadata: { uid }, status };
}

// ---------------------------------------------------------------------------------------------
// the cache's own transitions

function goneContainer(s: ContainerStatus): ContainerStatus {
  return {
    ...s,
    ready: false,
    started: false,
    state: { terminated: { reason: CONTAINER_STATUS_UNKNOWN, message: CONTAINER_GONE_AT_TERMINATION, exitCode: 137 } },
  };
}

/**
 * upstream hasPodInitialized: no init containers, a regular container that left waiting (or
 * ever terminated), or the last init container completed (now or before its restart; a sidecar:
 * running and started).
 */
export function hasPodInitialized(pod: Pod, status: PodStatus): boolean {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return true;
  for (const c of status.containerStatuses ?? []) {
    if (c.lastState?.terminated || !c.state?.waiting) return true;
  }
  const last = status.initContainerStatuses?.at(-1);
  if (!last) return false;
  const spec = inits.find((c) => c.name === last.name);
  if (!spec) return false;
  if (spec.restartPolicy === 'Always') return last.state?.running !== undefined && last.started === true; // a sidecar: started
  return last.lastState?.terminated?.exitCode === 0 || last.state?.terminated?.exitCode === 0;
}

/**
 * upstream initializedContainers: how many init containers (from the first) ever tried to start:
 * all but the trailing ones still waiting with no termination on record (a crash-looping one,
 * waiting with a terminated lastState, did start); at least the first.
 */
export function startedInitContainers(statuses: readonly ContainerStatus[]): number {
  for (let i = statuses.length - 1; i >= 0; i--) {
    const c = statuses[i]!;
    if (!c.state?.waiting || c.lastState?.terminated) return i + 1;
  }
  return Math.min(1, statuses.length);
}

/**
 * upstream TerminatePod: the status once the pod's worker terminated. `isStatic` pods keep their
 * phase (upstream TODO 116484). Whether the pod initialized is read from our status and from the
 * API's (upstream reads only the API's; ours is at least as new).
 */
export function terminatedStatus(pod: Pod, status: PodStatus, isStatic: boolean): PodStatus {
  const s: PodStatus = { ...status };
  const initialized = hasPodInitialized(pod, status) || hasPodInitialized(pod, pod.status ?? {});
  if (initialized && s.containerStatuses) {
    s.containerStatuses = s.containerStatuses.map((c) => (c.state?.terminated ? c : goneContainer(c)));
  }
  if (s.initContainerStatuses) {
    const started = startedInitContainers(s.initContainerStatuses);
    s.initContainerStatuses = s.initContainerStatuses.map((c, i) =>
      i >= started || c.state?.terminated ? c : goneContainer(c),
    );
  }
  if (!isStatic && !isTerminalPhase(s.phase)) s.phase = 'Failed';
  return s;
}

/**
 * A pod terminated by a graceful node shutdown (upstream nodeshutdown manager's killPodFunc status
 * function): phase Failed, reason Terminated, its message, and the DisruptionTarget condition
 * (reason TerminationByKubelet) added once.
 */
export function shutdownStatus(status: PodStatus, now: string): PodStatus {
  const conditions = (status.conditions ?? []).filter((c) => c.type !== DISRUPTION_TARGET);
  const had = status.conditions?.find((c) => c.type === DISRUPTION_TARGET && c.status === 'True');
  conditions.push(
    had ?? {
      type: DISRUPTION_TARGET,
      status: 'True',
      reason: 'TerminationByKubelet',
      message: NODE_SHUTDOWN_MESSAGE,
      lastTransitionTime: now,
    },
  );
  return { ...status, phase: 'Failed', reason: NODE_SHUTDOWN_REASON, message: NODE_SHUTDOWN_MESSAGE, conditions };
}

/**
 * A pod the API already shows in a terminal phase has its final status there (upstream: a
 * terminal pod's status is never rewritten; a pod rejected before a restart comes back Failed with
 * its reason and no container statuses, and no status computed after the restart may change it).
 * Unless the cache holds a non-terminal status of ours (someone else ended a pod that still runs:
 * statusForApi keeps their phase and our containers go on), the cache takes the API's status as
 * it is, once: `'kept'` when it already has a terminal one, undefined when the rule does not apply.
 */
export function finalStatus(api: PodStatus | undefined, cached: PodStatus | undefined): PodStatus | 'kept' | undefined {
  if (!api || !isTerminalPhase(api.phase) || (cached && !isTerminalPhase(cached.phase))) return undefined;
  return cached ? 'kept' : structuredClone(api);
}

/**
 * upstream rejectPod: phase Failed, the admission reason, "Pod was rejected: <message>"; the
 * PodScheduled condition and the start time the pod already had are kept.
 */
export function rejectedStatus(
  pod: Pod,
  rejected: { reason: string; message: string },
  previous: PodStatus | undefined,
  now: string,
): PodStatus {
  const api = pod.status ?? {};
  const s: PodStatus = { phase: 'Failed', reason: rejected.reason, message: `Pod was rejected: ${rejected.message}` };
  const scheduled = (previous?.conditions ?? api.conditions ?? []).find((c) => c.type === 'PodScheduled');
  if (scheduled) s.conditions = [scheduled];
  s.startTime = previous?.startTime || api.startTime || now;
  if (api.qosClass) s.qosClass = api.qosClass;
  return s;
}

// ---------------------------------------------------------------------------------------------
// where, and when to delete

export interface WriteTarget {
  namespace: string;
  name: string;
  /** The uid the write is conditioned on: the pod's, or its mirror pod's. */
  uid: string;
  mirror: boolean;
  /** The object as the views last showed it (its status is the API's, as of its resourceVersion). */
  viewPod: Pod;
}

/**
 * Where the status of desired pod `d` goes: an API pod's own object, a static pod's mirror pod
 * (when the API source has seen one), nowhere otherwise.
 */
export function writeTarget(d: DesiredPod | undefined, mirrors: MirrorPods | undefined): WriteTarget | undefined {
  if (!d) return undefined;
  const { namespace, name, uid } = d.pod.metadata;
  if (d.source === 'api') return uid ? { namespace, name, uid, mirror: false, viewPod: d.pod } : undefined;
  if (!d.static) return undefined;
  const mirror = mirrors?.get(`${namespace}/${name}`);
  if (!mirror?.metadata.uid) return undefined;
  return { namespace, name, uid: mirror.metadata.uid, mirror: true, viewPod: mirror };
}

function rv(p: Pod | undefined): number {
  const n = Number(p?.metadata.resourceVersion);
  return Number.isFinite(n) ? n : -1;
}

/** The newest of two copies of the same object (by resourceVersion; the API's answer on a tie). */
export function newestPod(answered: Pod | undefined, view: Pod | undefined): Pod | undefined {
  if (!answered) return view;
  if (!view || view.metadata.uid !== answered.metadata.uid) return answered;
  return rv(view) > rv(answered) ? view : answered;
}

/** Whether `view` is a change to the object made after `answered` (someone else wrote it). */
export function viewIsNewer(answered: Pod | undefined, view: Pod): boolean {
  return answered !== undefined && view.metadata.uid === answered.metadata.uid && rv(view) > rv(answered);
}

/**
 * upstream canBeDeleted: an API pod (never a mirror) being deleted, whose worker finished, and
 * whose object the API server last showed in a terminal phase.
 */
export function canBeDeleted(
  target: WriteTarget | undefined,
  deletionTimestamp: string | undefined,
  finished: boolean,
  apiPhase: string | undefined,
): boolean {
  return (
    target !== undefined && !target.mirror && deletionTimestamp !== undefined && finished && isTerminalPhase(apiPhase)
  );
}

// ---------------------------------------------------------------------------------------------
// failures

/**
 * What a failed request means for the pod:
 *   retry     transport failure, timeout, 429, 5xx: back off and write again
 *   conflict  409: re-read the object and write again
 *   gone      404: the object no longer exists
 *   invalid   422: the server refuses this status (or our uid is not the object's: re-read decides)
 *   refused   any other 4xx: logged; the periodic reconcile tries again
 */
export type Failure = 'retry' | 'conflict' | 'gone' | 'invalid' | 'refused';

export function classify(e: unknown): Failure {
  if (!(e instanceof ApiError)) return 'retry';
  if (e.code === 0 || e.code === 429 || e.code >= 500) return 'retry';
  if (e.code === 409) return 'conflict';
  if (e.code === 404) return 'gone';
  if (e.code === 422) return 'invalid';
  return 'refused';
}

/** The wait before retry `attempt` (1-based): 500ms doubling, at most 4s, up to 20% shorter by jitter. */
export function retryDelay(attempt: number, random: number): number {
  const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - 0.2 * random));
}
