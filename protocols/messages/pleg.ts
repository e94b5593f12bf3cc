/**
 * PLEG: the pod lifecycle event generator relists the runtime every second and reports what
 * changed since the previous relist. Events for one pod are emitted in container order; the
 * syncLoop turns each into a sync of that pod.
 */

/** Sent by the pleg actor's own timer (or a spec) to force a relist now. */
export interface PlegRelist {
  type: 'pleg.relist';
}

/** A container (or sandbox, with `sandbox: true`) was seen running that was not before. */
export interface PlegContainerStarted {
  type: 'pleg.containerStarted';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/** A container or sandbox is now exited / not ready. */
export interface PlegContainerDied {
  type: 'pleg.containerDied';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/** A container or sandbox disappeared from the runtime. */
export interface PlegContainerRemoved {
  type: 'pleg.containerRemoved';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

/** Some other state change (created, unknown) that warrants a sync. */
export interface PlegContainerChanged {
  type: 'pleg.containerChanged';
  podUid: string;
  containerId: string;
  sandbox: boolean;
}

export type PlegEvent = PlegContainerStarted | PlegContainerDied | PlegContainerRemoved | PlegContainerChanged;
export type PlegInput = PlegRelist;

/** View `plegHealth`: unhealthy when no relist completed within 3 minutes (upstream threshold). */
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

/** View `runtimePods`: uid → pod seen in the runtime at the last relist; written only by pleg. */
export type RuntimePods = ReadonlyMap<string, RuntimePodSummary>;
