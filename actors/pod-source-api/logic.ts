/**
 * The API pod source's pure core (upstream pkg/kubelet/config/apiserver.go feeding PodConfig's
 * merge for the "api" source, and client-go's reflector timing rules).
 *
 *   state ──replace(list items)──▶ state' + [podsRemoved, podsAdded, podsUpdated, podsReconciled, sourcesReady?]
 *   state ──apply(watch event)───▶ state' + [podsAdded | podsUpdated | podsReconciled | podsRemoved]
 *
 * Rules:
 * 1. Mirror pods (annotation kubernetes.io/config.mirror) never go on `config`: they are kept
 *    apart by "namespace/name" for the `mirrorPods` view (upstream's podManager holds them apart).
 * 2. Other pods are diffed by UID against what pod-manager has from us (`emitted`). An update is
 *    emitted only when something the kubelet acts on changed (upstream checkAndUpdatePod /
 *    podsDifferSemantically): spec, labels, annotations other than the kubelet's local ones,
 *    deletionTimestamp, deletionGracePeriodSeconds, ownerReferences. A status-only change is no
 *    update but a reconcile (`config.podsReconciled`, upstream's RECONCILE): pod-manager keeps
 *    the new status (readiness gates are conditions a controller sets) and syncs only when a
 *    gate's condition changed, so the kubelet's own status writes coming back through the watch
 *    cause no sync. Any other difference (a new resourceVersion alone) is nothing. An updated or
 *    reconciled pod keeps its first-seen time.
 * 3. Each pod is parsed with the Pod schema and given the v1 defaults, which are idempotent on
 *    the server-defaulted object and make an API pod look like a file pod to its consumers
 *    (same zero values, same defaulted fields). It gets `kubernetes.io/config.source: api` and
 *    `kubernetes.io/config.seen`, as upstream's PodConfig annotates every pod. It is not
 *    validated: the API server did that. A pod that fails to parse is logged by name and
 *    skipped; if an earlier version of it was emitted, that version stays (removing it would
 *    kill a pod the API still has because of our own parsing). A DELETED event is the exception:
 *    the object is gone from the API whatever its content, so its metadata.uid (or, without
 *    one, its namespace/name, the API's key) still removes the pod and its mirror.
 * 4. A list is the complete set (a relist after a 410 Gone included): what was emitted and is no
 *    longer listed is removed. The first one also yields `config.sourcesReady`.
 *
 * A restarted actor adopts the api pods pod-manager already holds (`adopt`), so its first list
 * emits only the real difference.
 */
import type { Pod } from '../../protocols/kube/pod.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import {
  CONFIG_MIRROR_ANNOTATION,
  CONFIG_SEEN_ANNOTATION,
  CONFIG_SOURCE_ANNOTATION,
  canonicalJson,
  rfc3339Nano,
} from '../../protocols/kube/static-pod.ts';
import { formatFieldErrors, parsePod } from '../../protocols/kube/validation.ts';
import type { ConfigEvent } from '../../protocols/messages/config.ts';
import { ApiError } from '../../protocols/kube/api.ts';

export interface ApiSourceState {
  /** What pod-manager has from us: UID → pod. */
  readonly emitted: ReadonlyMap<string, Pod>;
  /** Mirror pods bound to this node: "namespace/name" → pod (the `mirrorPods` view). */
  readonly mirrors: ReadonlyMap<string, Pod>;
  /** Whether sourcesReady went out. */
  readonly ready: boolean;
}

/** An object that could not be used as a pod (the actor logs it). */
export interface Refusal {
  /** "namespace/name" as far as the object tells. */
  pod: string;
  /** 'listed pod' or the watch event type. */
  what: string;
  reason: string;
  /** An earlier version was emitted and stays. */
  kept: boolean;
  /** A DELETED event: what it named was removed all the same. */
  removed: boolean;
}

export interface Outcome {
  state: ApiSourceState;
  out: ConfigEvent[];
  /** True when `mirrors` changed (publish the view). */
  mirrorsChanged: boolean;
  refused: Refusal[];
}

export function initialState(mirrors: ReadonlyMap<string, Pod> = new Map()): ApiSourceState {
  return { emitted: new Map(), mirrors, ready: false };
}

/** After a restart: take the api pods pod-manager holds as already emitted. */
export function adopt(state: ApiSourceState, pods: Iterable<Pod>): ApiSourceState {
  const emitted = new Map(state.emitted);
  for (const pod of pods) if (pod.metadata.uid && !emitted.has(pod.metadata.uid)) emitted.set(pod.metadata.uid, pod);
  return { ...state, emitted };
}

export const podKey = (p: Pod): string => `${p.metadata.namespace}/${p.metadata.name}`;

export function isMirrorPod(p: Pod): boolean {
  return p.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION] !== undefined;
}

/** Annotations the kubelet sets itself (upstream localAnnotations): never a reason for an update. */
const LOCAL_ANNOTATIONS = [CONFIG_SOURCE_ANNOTATION, CONFIG_MIRROR_ANNOTATION, CONFIG_SEEN_ANNOTATION];

/** What the kubelet acts on; two pods with the same semantic() differ only in status or bookkeeping (upstream podsDifferSemantically). */
export function semantic(p: Pod): string {
  const annotations = { ...(p.metadata.annotations ?? {}) };
  for (const k of LOCAL_ANNOTATIONS) delete annotations[k];
  const m = p.metadata;
  return canonicalJson({
    spec: p.spec,
    labels: m.labels ?? {},
    annotations,
    deletionTimestamp: m.deletionTimestamp ?? null,
    deletionGracePeriodSeconds: m.deletionGracePeriodSeconds ?? null,
    ownerReferences: m.ownerReferences ?? [],
  });
}

/** A readable name for a raw object that may not even be a pod. */
export function describeRaw(raw: unknown): string {
  const { namespace, name } = rawMeta(raw);
  return `${namespace ?? '?'}/${name ?? '?'}`;
}

export type Parsed = { ok: true; pod: Pod; mirror: boolean } | { ok: false; reason: string };

/** One object from the API → the pod the kubelet works with (mirror pods as the API holds them). */
export function parseApiPod(raw: unknown, now: number): Parsed {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'not an object' };
  const r = parsePod(raw);
  if (!r.ok) return { ok: false, reason: formatFieldErrors(r.errors) };
  const p = r.pod;
  if (!p.metadata.uid) return { ok: false, reason: 'metadata.uid: Required value' };
  if (!p.metadata.name) return { ok: false, reason: 'metadata.name: Required value' };
  if (isMirrorPod(p)) return { ok: true, pod: p, mirror: true };
  const d = applyPodDefaults(p);
  const pod: Pod = {
    ...d,
    metadata: {
      ...d.metadata,
      annotations: {
        ...(d.metadata.annotations ?? {}),
        [CONFIG_SOURCE_ANNOTATION]: 'api',
        [CONFIG_SEEN_ANNOTATION]: rfc3339Nano(now),
      },
    },
  };
  return { ok: true, pod, mirror: false };
}

function withSeenOf(p: Pod, old: Pod): Pod {
  const seen = old.metadata.annotations?.[CONFIG_SEEN_ANNOTATION];
  if (seen === undefined) return p;
  return {
    ...p,
    metadata: { ...p.metadata, annotations: { ...(p.metadata.annotations ?? {}), [CONFIG_SEEN_ANNOTATION]: seen } },
  };
}

/**
 * Accumulates one step's changes (a list touches each UID once, an event one pod); `finish`
 * turns them into messages in a fixed order: removed, added, updated, reconciled, sourcesReady.
 */
class Step {
  readonly emitted: Map<string, Pod>;
  readonly mirrors: Map<string, Pod>;
  mirrorsChanged = false;
  readonly added: Pod[] = [];
  readonly updated: Pod[] = [];
  readonly reconciled: Pod[] = [];
  readonly removed: Pod[] = [];
  readonly refused: Refusal[] = [];
  readonly prev: ApiSourceState;
  constructor(prev: ApiSourceState) {
    this.prev = prev;
    this.emitted = new Map(prev.emitted);
    this.mirrors = new Map(prev.mirrors);
  }

  /** A pod as listed or watched (ADDED / MODIFIED). */
  upsert(p: Pod, mirror: boolean): void {
    const uid = p.metadata.uid;
    if (mirror) {
      // A pod never turns into a mirror pod upstream; should one, it is no longer ours to run.
      const old = this.emitted.get(uid);
      if (old) this.remove(old);
      const key = podKey(p);
      const had = this.mirrors.get(key);
      if (!had || canonicalJson(had) !== canonicalJson(p)) {
        this.mirrors.set(key, p);
        this.mirrorsChanged = true;
      }
      return;
    }
    this.dropMirror(p);
    const old = this.emitted.get(uid);
    if (!old) {
      this.emitted.set(uid, p);
      this.added.push(p);
      return;
    }
    const update = semantic(old) !== semantic(p);
    if (!update && canonicalJson(old.status ?? {}) === canonicalJson(p.status ?? {})) return;
    const pod = withSeenOf(p, old);
    this.emitted.set(uid, pod);
    (update ? this.updated : this.reconciled).push(pod);
  }

  remove(p: Pod): void {
    const uid = p.metadata.uid;
    const old = this.emitted.get(uid);
    if (!old) return;
    this.emitted.delete(uid);
    this.removed.push(old);
  }

  /** A DELETED mirror pod, or a pod of that name that is no mirror any more: only if it is that pod. */
  dropMirror(p: Pod): void {
    const key = podKey(p);
    if (this.mirrors.get(key)?.metadata.uid === p.metadata.uid) {
      this.mirrors.delete(key);
      this.mirrorsChanged = true;
    }
  }

  finish(ready: boolean): Outcome {
    const out: ConfigEvent[] = [];
    if (this.removed.length) out.push({ type: 'config.podsRemoved', source: 'api', pods: this.removed });
    if (this.added.length) out.push({ type: 'config.podsAdded', source: 'api', pods: this.added });
    if (this.updated.length) out.push({ type: 'config.podsUpdated', source: 'api', pods: this.updated });
    if (this.reconciled.length) out.push({ type: 'config.podsReconciled', source: 'api', pods: this.reconciled });
    if (ready && !this.prev.ready) out.push({ type: 'config.sourcesReady', source: 'api' });
    return {
      state: { emitted: this.emitted, mirrors: this.mirrors, ready: this.prev.ready || ready },
      out,
      mirrorsChanged: this.mirrorsChanged,
      refused: this.refused,
    };
  }

  refuse(raw: unknown, reason: string, what: string, removed = false): void {
    const uid = rawMeta(raw).uid;
    this.refused.push({
      pod: describeRaw(raw),
      what,
      reason,
      kept: uid !== undefined && this.emitted.has(uid),
      removed,
    });
  }

  /**
   * A DELETED object that cannot be parsed: remove what it names, by uid (a mirror only if the
   * one held under its namespace/name is that uid), or without a uid by namespace/name. True
   * when something was removed.
   */
  removeRaw(raw: unknown): boolean {
    const { uid, namespace, name } = rawMeta(raw);
    const key = namespace !== undefined && name !== undefined ? `${namespace}/${name}` : undefined;
    if (uid === undefined && key === undefined) return false;
    const matches = (p: Pod) => (uid !== undefined ? p.metadata.uid === uid : podKey(p) === key);
    let removed = false;
    for (const p of [...this.emitted.values()]) {
      if (matches(p)) {
        this.remove(p);
        removed = true;
      }
    }
    for (const [k, m] of [...this.mirrors]) {
      if ((key === undefined || k === key) && matches(m)) {
        this.mirrors.delete(k);
        this.mirrorsChanged = true;
        removed = true;
      }
    }
    return removed;
  }
}

/** The identifying metadata of a raw object, as far as it has them (non-empty strings). */
function rawMeta(raw: unknown): {
  uid?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
} {
  const m = (raw as { metadata?: { uid?: unknown; namespace?: unknown; name?: unknown } } | null)?.metadata;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return { uid: str(m?.uid), namespace: str(m?.namespace), name: str(m?.name) };
}

/** A complete list of the pods bound to this node. Pure. */
export function replace(state: ApiSourceState, items: readonly unknown[], now: number): Outcome {
  const step = new Step(state);
  const seen = new Set<string>();
  const mirrorsSeen = new Set<string>();
  for (const raw of items) {
    const r = parseApiPod(raw, now);
    if (!r.ok) {
      step.refuse(raw, r.reason, 'listed pod');
      const uid = (raw as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
      if (typeof uid === 'string') seen.add(uid); // keep its last good version
      continue;
    }
    if (r.mirror) mirrorsSeen.add(podKey(r.pod));
    else seen.add(r.pod.metadata.uid);
    step.upsert(r.pod, r.mirror);
  }
  for (const [uid, pod] of state.emitted) if (!seen.has(uid)) step.remove(pod);
  for (const key of state.mirrors.keys()) {
    if (!mirrorsSeen.has(key)) {
      step.mirrors.delete(key);
      step.mirrorsChanged = true;
    }
  }
  return step.finish(true);
}

export type PodWatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: unknown };

/** One ADDED / MODIFIED / DELETED watch event. Pure. */
export function apply(state: ApiSourceState, ev: PodWatchEvent, now: number): Outcome {
  const step = new Step(state);
  const r = parseApiPod(ev.object, now);
  if (!r.ok) {
    const removed = ev.type === 'DELETED' && step.removeRaw(ev.object);
    step.refuse(ev.object, r.reason, `${ev.type} event`, removed);
    return step.finish(false);
  }
  if (ev.type === 'DELETED') {
    if (r.mirror) step.dropMirror(r.pod);
    else step.remove(r.pod);
  } else {
    step.upsert(r.pod, r.mirror);
  }
  return step.finish(false);
}

// ---------------------------------------------------------------------------------------------
// reflector rules

/** The resourceVersion an event carries, if any (every type, BOOKMARK included). */
export function resourceVersionOf(obj: unknown): string | undefined {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/**
 * A watch ERROR event: 'gone' when the resourceVersion is too old (410, reason Expired or Gone),
 * which only a relist cures; 'error' otherwise (watch again after a backoff).
 */
export function classifyWatchError(obj: unknown): 'gone' | 'error' {
  const s = (obj ?? {}) as { code?: unknown; reason?: unknown };
  return s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone' ? 'gone' : 'error';
}

/** client-go's minWatchTimeout: 5 minutes; each watch asks for it times [1, 2). */
export const MIN_WATCH_TIMEOUT_S = 300;

export function watchTimeoutSeconds(random: () => number): number {
  return Math.floor(MIN_WATCH_TIMEOUT_S * (random() + 1));
}

/**
 * The reflector's backoff manager (wait.NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)):
 * 800 ms doubling, each delay plus up to 100% jitter, back to 800 ms when the previous backoff
 * started more than 2 minutes ago, and (the actor's doing, initialBackoff) after a watch that
 * worked. The cap depends on what failed:
 * - 30 s (client-go's) when the API server answered with an error (429, 5xx, 410, a watch ERROR
 *   event, a watch closed at once without an event): it is there, and a retry costs it work;
 * - 2 s while it does not answer at all (connection refused or reset, no answer in time): a
 *   refused connection costs the server nothing, and the watch must be back within 5 s of the
 *   server answering again (2 s plus jitter: under 4 s), where the 30 s cap with its jitter took
 *   up to a minute (issue 8). A server that is up but failing still gets the full backoff.
 */
export const BACKOFF = {
  initialMs: 800,
  maxMs: 30_000,
  unansweredMaxMs: 2000,
  resetMs: 120_000,
  factor: 2,
  jitter: 1,
} as const;

/** Whether the API server answered the failed request (with an error) or never did. */
export type Failure = 'answered' | 'unanswered';

/**
 * The client's errors for a request without an answer are ApiError code 0 (ConnectionError,
 * Timeout); anything else (an HTTP status, a watch ERROR event, a watch ended at once) was an
 * answer. A kubeconfig that cannot be used is no outage: full backoff.
 */
export function failureOf(err: unknown): Failure {
  return err instanceof ApiError && err.code === 0 && err.reason !== 'InvalidKubeconfig' ? 'unanswered' : 'answered';
}

export interface BackoffState {
  /** The next un-jittered delay. */
  readonly durationMs: number;
  /** When the last backoff started (undefined: never). */
  readonly lastStart: number | undefined;
}

export const initialBackoff = (): BackoffState => ({ durationMs: BACKOFF.initialMs, lastStart: undefined });

export function nextBackoff(
  b: BackoffState,
  now: number,
  random: () => number,
  failure: Failure = 'answered',
): { delayMs: number; state: BackoffState } {
  const capMs = failure === 'unanswered' ? BACKOFF.unansweredMaxMs : BACKOFF.maxMs;
  const base = Math.min(
    b.lastStart === undefined || now - b.lastStart > BACKOFF.resetMs ? BACKOFF.initialMs : b.durationMs,
    capMs,
  );
  const delayMs = Math.round(base * (1 + random() * BACKOFF.jitter));
  return { delayMs, state: { durationMs: Math.min(base * BACKOFF.factor, capMs), lastStart: now } };
}
