/**
 * The prober's results (upstream pkg/kubelet/prober/results): one cache per probe type, keyed by
 * runtime container id, and an update each time a cached result changes.
 */

/** Upstream's probeType: which probe of a container. */
export type ProbeType = 'liveness' | 'readiness' | 'startup';

/** Upstream results.Result: the cached outcome of a container's probe (after the thresholds). */
export type ProbeResult = 'success' | 'failure';

/**
 * probes → syncLoop (and anyone): the cached result of one container's probe changed (upstream
 * results.Update; never sent when the value stays). The `probeResults` view already holds the new
 * value when this arrives. The syncLoop answers every update with a sync of the pod (upstream
 * handleProbeSync): the sync kills a container that failed liveness/startup and regenerates
 * `ready`/`started` and the Ready conditions. No retry: a lost update is caught by the next sync.
 */
export interface ProbeResultChanged {
  type: 'probe.resultChanged';
  podUid: string;
  containerName: string;
  /** The runtime's container id (no `containerd://` prefix). */
  containerId: string;
  probeType: ProbeType;
  result: ProbeResult;
}

export type ProbeEvent = ProbeResultChanged;

/**
 * probes → server (prober_probe_total), on `probeRuns`: one probe run and its raw outcome
 * (before the thresholds; a warning counts as a success, an error as unknown, as upstream's
 * ProberResults). Sent after every run; dropped when nobody listens.
 */
export interface ProbeRan {
  type: 'probe.ran';
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
  probeType: ProbeType;
  result: 'successful' | 'failed' | 'unknown';
}

/** A container's cached results; a type without an entry has no result yet (or no probe). */
export interface ContainerProbeResults {
  liveness?: ProbeResult;
  readiness?: ProbeResult;
  startup?: ProbeResult;
}

/**
 * View `probeResults`, written only by probes: the results managers' caches, and which containers
 * have a probe worker of each type. The runtime reads it for computePodActions (liveness/startup
 * failures) and the v1 status (ready, started); a restarted probes actor resumes from it.
 */
export interface ProbeResults {
  /** Clock ms the prober first started in this kubelet (upstream manager.start): the restart rule. */
  startedAt: number;
  /** runtime container id → its cached results. */
  byContainer: ReadonlyMap<string, ContainerProbeResults>;
}
