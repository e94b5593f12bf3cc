/**
 * PLEG: the pod lifecycle event generator relists the runtime every second and reports what
 * changed since the previous relist. Events for one pod are emitted in container order; the
 * syncLoop turns each into a sync of that pod.
 *
 * The `pleg` channel's events: pleg → syncLoop (mailbox priority 1; recorded by --record). One
 * relist sends its events after it has published the `runtimePods` view they belong to. They are
 * facts, never re-sent: a failed relist sends nothing and the next successful one compares with the
 * last successful one, so no change is lost; an event nobody received (the syncLoop restarting) is
 * made up for by the worker's resync and the syncLoop's tick.
 */

/**
 * pleg → itself (at start, then every relist period) or a spec, on `plegControl`: relist now. One
 * relist runs at a time; any number arriving during it collapse into one more relist after it.
 */
export interface PlegRelist {
  type: 'pleg.relist';
}

/** pleg → syncLoop: a container (or sandbox, with `sandbox: true`) was seen running that was not before. */
export interface PlegContainerStarted {
  type: 'pleg.containerStarted';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/** pleg → syncLoop: a container or sandbox is now exited / not ready. */
export interface PlegContainerDied {
  type: 'pleg.containerDied';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/**
 * pleg → syncLoop: a container or sandbox disappeared from the runtime; one that was not exited
 * before gets a containerDied first.
 */
export interface PlegContainerRemoved {
  type: 'pleg.containerRemoved';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/** pleg → syncLoop: some other state change (created, unknown) that warrants a sync. */
export interface PlegContainerChanged {
  type: 'pleg.containerChanged';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/**
 * pleg → server (kubelet_pleg_relist_duration_seconds / _interval_seconds), on `plegRelists`: one
 * relist ended, successful or not, after its events were sent. A fact for metrics only: nothing
 * decides on it, it is not recorded, and a lost one is a missing sample.
 */
export interface PlegRelisted {
  type: 'pleg.relisted';
  /** Clock ms from the relist's start to its end. */
  durationMs: number;
  /** Clock ms from the start of the last successful relist to this one's start; absent before the first. */
  intervalMs?: number;
}

export type PlegEvent = PlegContainerStarted | PlegContainerDied | PlegContainerRemoved | PlegContainerChanged;
export type PlegInput = PlegRelist;

/**
 * View `plegHealth`, written only by pleg, read by node-status (the Ready condition): unhealthy
 * when no relist completed within 3 minutes (upstream threshold).
 */
export interface PlegHealth {
  healthy: boolean;
  lastRelist: number; // clock ms of the last completed relist
  lastError: string;
}

/** One pod as the last relist saw it in the runtime (by the io.kubernetes.pod.* labels). */
export interface RuntimePodSummary {
  uid: string;
  name: string;
  namespace: string;
  /** From the io.kubernetes.pod.terminationGracePeriod annotation, when present. */
  gracePeriodSeconds?: number;
  sandboxIds: string[];
  containerIds: string[];
}

/**
 * View `runtimePods`: uid → pod seen in the runtime at the last relist; written only by pleg (when
 * it changed). Readers: the syncLoop's housekeeping (orphans to kill), pod-manager's admission
 * (a pod already running here).
 */
export type RuntimePods = ReadonlyMap<string, RuntimePodSummary>;
