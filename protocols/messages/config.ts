/**
 * Pod sources → pod-config → pod-manager → syncLoop.
 *
 * Each source (pod-config for the static pod directory, pod-source-http for --manifest-url,
 * pod-source-api for the API server) reads its complete set of pods and emits the difference to its
 * previous set as ADD / UPDATE / REMOVE, like upstream's PodConfig in incremental mode. pod-manager applies them to the
 * `desiredPods` view and then re-emits them as `podManager.*` for the syncLoop, so the syncLoop
 * never sees a pod the view does not have yet.
 */
import type { Pod } from '../kube/pod.ts';

export type PodSource = 'file' | 'http' | 'api';

/** a pod source (pod-config, pod-source-http, pod-source-api) → pod-manager: pods that appeared. */
export interface ConfigPodsAdded {
  type: 'config.podsAdded';
  source: PodSource;
  pods: Pod[];
}

/** a pod source → pod-manager: pods whose spec changed (same UID). */
export interface ConfigPodsUpdated {
  type: 'config.podsUpdated';
  source: PodSource;
  pods: Pod[];
}

/**
 * a pod source → pod-manager: pods that are gone from their source. Within one listing a source
 * sends podsRemoved, then podsAdded, then podsUpdated (an edited static pod: the old uid goes first).
 */
export interface ConfigPodsRemoved {
  type: 'config.podsRemoved';
  source: PodSource;
  pods: Pod[];
}

/**
 * API pod source → pod-manager: pods whose status alone changed (upstream's RECONCILE; the
 * kubelet's own status writes come back this way too). pod-manager stores the new status in
 * `desiredPods` without a sync, and tells the syncLoop (`podManager.podChanged` op 'update')
 * only when a condition one of the pod's readiness gates names changed (upstream
 * NeedToReconcilePodReadiness). Sent after podsUpdated of the same step; pods it does not hold
 * are ignored.
 */
export interface ConfigPodsReconciled {
  type: 'config.podsReconciled';
  source: PodSource;
  pods: Pod[];
}

/**
 * pod-config, pod-source-http → anyone (the sender logs it; no actor consumes it today; recordings
 * keep it): a source item was refused. The pod it described (if any) keeps its last good spec.
 * `path` is the file or URL, `field` the field path if known. Sent once per refusal (again only
 * when its text changes), before the listing's pod messages.
 */
export interface ConfigSourceError {
  type: 'config.sourceError';
  source: PodSource;
  path: string;
  field?: string;
  reason: string;
}

/**
 * A pod source → pod-manager: this source has delivered its first complete set (upstream
 * sourcesReady), sent once per source instance, after that set's podsAdded. pod-manager keeps
 * the sources heard in the `readySources` view, which the syncLoop's housekeeping and mirror-pods
 * read (a reader started after the event finds it there). A source that is not configured
 * (the file source without a manifest path) sends nothing.
 */
export interface ConfigSourcesReady {
  type: 'config.sourcesReady';
  /** The source that has listed once; housekeeping waits for every configured source. */
  source: PodSource;
}

/**
 * pod-config → itself (its timer and its debounced fs.watch) or a spec: re-list the static pod
 * directory now. Relists that arrive during a read collapse into one more read after it (a full
 * one if any of them was full).
 */
export interface ConfigRelist {
  type: 'config.relist';
  /**
   * The leading edge of a burst of fs events, acted on at once: a file it refuses may be
   * half-written, so its error waits for the full relist after the quiet period.
   */
  provisional?: true;
}

export type ConfigEvent =
  | ConfigPodsAdded
  | ConfigPodsUpdated
  | ConfigPodsRemoved
  | ConfigPodsReconciled
  | ConfigSourceError
  | ConfigSourcesReady
  | ConfigRelist;

/** pod-manager → syncLoop (mailbox, priority 0): a desired pod was added, updated or removed. */
export interface PodManagerPodChanged {
  type: 'podManager.podChanged';
  op: 'add' | 'update' | 'remove';
  pod: Pod;
}

export type PodManagerEvent = PodManagerPodChanged;

/** A pod the node should run, as pod-manager holds it. */
export interface DesiredPod {
  pod: Pod;
  source: PodSource;
  /** Static pods come from the file or http source; they get mirror pods (actors/mirror-pods). */
  static: boolean;
  /**
   * Set by pod-manager's admission (upstream canAdmitPod) when the pod may not run here: the
   * syncLoop never starts a worker for it, the status manager writes phase Failed with this
   * reason and message (OutOfcpu, OutOfmemory, OutOfpods, NodeAffinity, NodeName, Taint...).
   */
  rejected?: { reason: string; message: string };
}

/** View `desiredPods`: uid → desired pod; written only by pod-manager. */
export type DesiredPods = ReadonlyMap<string, DesiredPod>;

/**
 * View `mirrorPods`: "namespace/name" → the mirror pod the API server holds for a static pod of
 * this node (a pod bound here with the kubernetes.io/config.mirror annotation). Written only by
 * the API pod source, which keeps mirror pods out of `config` (they are never run: upstream's
 * podManager holds them apart). Readers: mirror-pods (create, recreate, delete), status (static
 * pods' status is written to their mirror pod).
 */
export type MirrorPods = ReadonlyMap<string, Pod>;
