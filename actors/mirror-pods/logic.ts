/**
 * mirror-pods' pure core: compare the static pods this node runs with the mirror pods the API
 * server holds and say what to create and delete (upstream kubelet.go tryReconcileMirrorPods
 * for each static pod, deleteOrphanedMirrorPods in HandlePodCleanups, and mirror_client.go).
 *
 *   (desired static pods, mirror pods, node, expectations) ──plan──▶ expectations' + actions
 *
 * Per static pod S (key "namespace/name", hash = S's kubernetes.io/config.hash):
 * - no mirror                              → create (needs the Node's uid; held until it is known,
 *                                             skipped while the Node is being deleted)
 * - a mirror being deleted, or one whose
 *   kubernetes.io/config.mirror ≠ hash     → delete it (uid precondition, grace 0), then create
 * - a mirror with the same hash            → nothing
 * A rejected static pod (admission) gets no mirror, and its existing mirror is left alone:
 * upstream never syncs a rejected pod, yet keeps it in the pod manager (so it is no orphan).
 *
 * Per mirror M with no static pod of its name: an orphan, deleted (uid precondition, grace 0) —
 * unless a pod worker of that name has not terminated yet, syncing included (upstream keeps the
 * mirror until the static pod has stopped; here the kill may not have reached the worker yet). Upstream deletes orphans without a uid precondition; ours carries
 * one, so a mirror recreated meanwhile is never deleted by a stale decision.
 *
 * A create the API server refuses (4xx: NodeRestriction's 403 for a static pod that references a
 * ConfigMap or a Secret, a 422) would be refused again: the next attempt for that spec waits 10 s,
 * doubling on each refusal up to 5 minutes (upstream's MaxContainerBackOff; upstream itself retries
 * at every sync), and the cause is said once, again only when it changes or after a success. A
 * transient failure (no answer, 429, 5xx) is retried at the next reconcile. A changed manifest
 * (a new hash) is tried at once.
 *
 * Expectations cover the lag of the mirror pods view behind our own writes: after a create (or a
 * 409 AlreadyExists) the name is expected to hold a mirror of that hash, after a delete (or a
 * 404) the uid is expected gone. An expectation is dropped once the view confirms it, or after
 * EXPECTATION_TTL_MS — so a mirror deleted by someone before the view ever showed it still
 * comes back. Without them every view update racing our writes would repeat them (harmless,
 * 404 / 409, but noisy).
 */
import type { DesiredPods, MirrorPods } from '../../protocols/messages/config.ts';
import type { Node } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { CONFIG_HASH_ANNOTATION, CONFIG_MIRROR_ANNOTATION } from '../../protocols/kube/static-pod.ts';

/** How long a write of ours may stay invisible in the view before we stop trusting it. */
export const EXPECTATION_TTL_MS = 30_000;

/** The first wait after a create the API server refused, doubling on each refusal. */
export const CREATE_BACKOFF_MIN_MS = 10_000;
/** The longest wait between two attempts (upstream's MaxContainerBackOff, 5 minutes). */
export const CREATE_BACKOFF_MAX_MS = 300_000;

/** The creates that failed at "namespace/name": for the backoff and for saying each cause once. */
export interface CreateFailure {
  /** The static pod's hash that was refused: a changed manifest is tried again at once. */
  hash: string;
  /** The error of the last failure (its text): a new cause is reported, a repeated one is not. */
  cause: string;
  /** Consecutive refusals (the backoff's exponent); transient failures do not count. */
  refusals: number;
  /** No create before this time (clock ms). */
  retryAt: number;
}

export interface MirrorState {
  /** "namespace/name" → the hash of the mirror we created (or found existing) there. */
  readonly created: ReadonlyMap<string, { hash: string; until: number }>;
  /** uid → "namespace/name" of a mirror we deleted. */
  readonly deleted: ReadonlyMap<string, { key: string; until: number }>;
  /** "namespace/name" → its last failed create, until a create there succeeds. */
  readonly failedCreates?: ReadonlyMap<string, CreateFailure>;
}

export interface PlanInputs {
  nodeName: string;
  desired: DesiredPods;
  mirrors: MirrorPods;
  /** This kubelet's Node (the `node` view); undefined until registered. */
  node: Node | undefined;
  /** "namespace/name" of pods whose worker has not terminated yet (syncing or terminating). */
  terminating: ReadonlySet<string>;
  now: number;
}

export type DeleteReason = 'orphaned' | 'outdated' | 'deleting';

export type MirrorAction =
  | { type: 'create'; key: string; hash: string; pod: Pod }
  | {
      type: 'delete';
      key: string;
      namespace: string;
      name: string;
      uid: string;
      reason: DeleteReason;
      /** The mirror to create once the delete went through (404 counts); absent when the Node is unknown. */
      thenCreate?: { hash: string; pod: Pod };
    };

export interface Plan {
  state: MirrorState;
  actions: MirrorAction[];
  /** Why creates are held (no Node uid yet, Node being deleted); undefined when they are not. */
  holding?: string;
  /** The earliest time a create held back by its backoff may be tried (a reconcile is due then). */
  nextRetryAt?: number;
}

export function initialState(): MirrorState {
  return { created: new Map(), deleted: new Map() };
}

export const podKey = (p: Pod): string => `${p.metadata.namespace}/${p.metadata.name}`;

/** The hash a static pod's mirror must carry (upstream getPodHash). */
export function staticPodHash(pod: Pod): string {
  return pod.metadata.annotations?.[CONFIG_HASH_ANNOTATION] ?? pod.metadata.uid;
}

/** The mirror's copy of that hash; undefined for a pod that is not a mirror pod. */
export function mirrorHash(pod: Pod): string | undefined {
  return pod.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION];
}

/**
 * The mirror pod of a static pod (upstream CreateMirrorPod): the same name, namespace, labels,
 * annotations and spec, plus `kubernetes.io/config.mirror` = the static pod's hash and one
 * controller owner reference to this Node, as NodeRestriction demands (no blockOwnerDeletion).
 * Server-set metadata (uid, resourceVersion, timestamps) and the status are left out: the API
 * server assigns them.
 */
export function mirrorPodFor(pod: Pod, node: { name: string; uid: string }): Pod {
  const m = pod.metadata;
  const hash = staticPodHash(pod);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: '', // Go's zero value: the API server assigns it
      ...(m.generateName !== undefined ? { generateName: m.generateName } : {}),
      ...(m.labels ? { labels: { ...m.labels } } : {}),
      annotations: { ...(m.annotations ?? {}), [CONFIG_MIRROR_ANNOTATION]: hash },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid, controller: true }],
    },
    spec: structuredClone(pod.spec),
  };
}

/** The mirror pods of `nodeName` among listed pods (when no mirrorPods view is published yet). */
export function mirrorPodsOf(pods: readonly Pod[], nodeName: string): Map<string, Pod> {
  const out = new Map<string, Pod>();
  for (const p of pods) {
    if (mirrorHash(p) !== undefined && p.spec.nodeName === nodeName) out.set(podKey(p), p);
  }
  return out;
}

/**
 * "namespace/name" of pod workers that have not terminated yet (from the podWorkerStates view).
 * A worker still `syncing` counts: the static pod left desiredPods before the syncLoop's kill
 * reached its worker, and its containers still run.
 */
export function notTerminatedNames(
  states: Iterable<{ namespace: string; name: string; state: string }> | undefined,
): Set<string> {
  const out = new Set<string>();
  for (const s of states ?? []) if (s.state !== 'terminated') out.add(`${s.namespace}/${s.name}`);
  return out;
}

/** Drop expectations the view confirmed or that timed out (failed creates stay). */
function settle(state: MirrorState, mirrors: MirrorPods, now: number): MirrorState {
  // a deleted uid is confirmed once the view no longer holds it
  const deleted = new Map(
    [...state.deleted].filter(([uid, e]) => e.until > now && mirrors.get(e.key)?.metadata.uid === uid),
  );
  // a create is confirmed once the view holds a mirror there that we did not delete
  const created = new Map(
    [...state.created].filter(([key, e]) => {
      const m = mirrors.get(key);
      return e.until > now && (m === undefined || deleted.has(m.metadata.uid));
    }),
  );
  return { created, deleted, ...(state.failedCreates ? { failedCreates: state.failedCreates } : {}) };
}

/** What to do now. Pure. */
export function plan(prev: MirrorState, inp: PlanInputs): Plan {
  const state: { -readonly [K in keyof MirrorState]: MirrorState[K] } = settle(prev, inp.mirrors, inp.now);
  const actions: MirrorAction[] = [];

  const nodeUid = inp.node?.metadata.uid;
  const cannotCreate =
    !inp.node || !nodeUid
      ? `waiting for the Node ${inp.nodeName} to be registered (its uid is the mirror pods' owner)`
      : inp.node.metadata.deletionTimestamp
        ? `the Node ${inp.nodeName} is being deleted`
        : undefined;
  const ownerNode = cannotCreate === undefined ? { name: inp.nodeName, uid: nodeUid! } : undefined;
  let held = 0;
  let nextRetryAt: number | undefined;

  // The mirror the view shows, unless we deleted that very object already.
  const mirrorAt = (key: string): Pod | undefined => {
    const m = inp.mirrors.get(key);
    return m && !state.deleted.has(m.metadata.uid) ? m : undefined;
  };

  const statics = new Map<string, { pod: Pod; rejected: boolean }>();
  for (const d of inp.desired.values()) {
    if (!d.static) continue;
    const key = podKey(d.pod);
    if (!statics.has(key)) statics.set(key, { pod: d.pod, rejected: d.rejected !== undefined });
  }

  // a static pod that went takes its failures with it
  if (state.failedCreates && [...state.failedCreates.keys()].some((k) => !statics.has(k))) {
    state.failedCreates = new Map([...state.failedCreates].filter(([k]) => statics.has(k)));
  }

  for (const [key, s] of statics) {
    if (s.rejected) continue;
    const hash = staticPodHash(s.pod);
    const mirror = mirrorAt(key);
    const reason: DeleteReason | undefined = !mirror
      ? undefined
      : mirror.metadata.deletionTimestamp
        ? 'deleting'
        : mirrorHash(mirror) !== hash
          ? 'outdated'
          : undefined;
    if (mirror && reason === undefined) continue;
    if (!mirror && state.created.get(key)?.hash === hash) continue;
    // a refused create of this very spec waits out its backoff (a delete first still goes)
    const failure = state.failedCreates?.get(key);
    if (!mirror && failure?.hash === hash && failure.retryAt > inp.now) {
      nextRetryAt = Math.min(nextRetryAt ?? Infinity, failure.retryAt);
      continue;
    }
    const create = ownerNode ? { hash, pod: mirrorPodFor(s.pod, ownerNode) } : undefined;
    if (!create) held++;
    if (mirror) {
      const { namespace, name, uid } = mirror.metadata;
      actions.push({
        type: 'delete',
        key,
        namespace,
        name,
        uid,
        reason: reason!,
        ...(create ? { thenCreate: create } : {}),
      });
    } else if (create) {
      actions.push({ type: 'create', key, ...create });
    }
  }

  for (const [key, m] of inp.mirrors) {
    if (statics.has(key) || inp.terminating.has(key) || !mirrorAt(key)) continue;
    const { namespace, name, uid } = m.metadata;
    actions.push({ type: 'delete', key, namespace, name, uid, reason: 'orphaned' });
  }

  return {
    state,
    actions,
    ...(held > 0 && cannotCreate ? { holding: cannotCreate } : {}),
    ...(nextRetryAt !== undefined ? { nextRetryAt } : {}),
  };
}

/** After a create (or a 409 AlreadyExists): the view will show a mirror of this hash at `key`. Pure. */
export function created(state: MirrorState, key: string, hash: string, now: number): MirrorState {
  const next: MirrorState = {
    ...state,
    created: new Map(state.created).set(key, { hash, until: now + EXPECTATION_TTL_MS }),
  };
  if (!state.failedCreates?.has(key)) return next;
  const failedCreates = new Map(state.failedCreates);
  failedCreates.delete(key);
  return { ...next, failedCreates };
}

/**
 * After a failed create at `key`. A refusal (`refused`: the API server answered 4xx, which the
 * same request will get again, e.g. NodeRestriction's 403 for a pod that references a ConfigMap)
 * backs the next attempt off 10 s, doubling, at most 5 minutes; a transient failure (no answer,
 * 429, 5xx) leaves the next reconcile to try again. `report` is true when this cause differs
 * from the previous failure's (or there was none since the last success): it is said once. Pure.
 */
export function createFailed(
  state: MirrorState,
  key: string,
  hash: string,
  cause: string,
  refused: boolean,
  now: number,
): { state: MirrorState; report: boolean; retryAt: number } {
  const prev = state.failedCreates?.get(key);
  const refusals = refused ? (prev?.hash === hash ? prev.refusals : 0) + 1 : 0;
  const retryAt = refused ? now + Math.min(CREATE_BACKOFF_MAX_MS, CREATE_BACKOFF_MIN_MS * 2 ** (refusals - 1)) : now;
  const failedCreates = new Map(state.failedCreates).set(key, { hash, cause, refusals, retryAt });
  return { state: { ...state, failedCreates }, report: prev?.cause !== cause, retryAt };
}

/** After a delete (or a 404): the view will drop this uid. Pure. */
export function deleted(state: MirrorState, key: string, uid: string, now: number): MirrorState {
  return { ...state, deleted: new Map(state.deleted).set(uid, { key, until: now + EXPECTATION_TTL_MS }) };
}
