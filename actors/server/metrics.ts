/**
 * `/metrics`: upstream kubelet metric names, types, help and buckets for what this kubelet
 * knows, with prom-client's default collectors (`process_*`, and Node's own `nodejs_*` where
 * upstream has Go's `go_*`). prom-client is imported on the first scrape, never on the startup path.
 */
import type { DesiredPods, PodStatuses, RuntimePods } from '../../protocols/messages/channels.ts';
import type { ContainerStatus } from '../../protocols/kube/pod.ts';

/** Upstream PodStartDuration's buckets (seconds). */
export const POD_START_BUCKETS = [
  0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600,
];

/** Prometheus' DefBuckets (seconds), upstream's for the PLEG relist histograms. */
export const DEF_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the gauges are read from at scrape time (the views the server actor reads). */
export interface MetricsSource {
  nodeName: string;
  desired(): DesiredPods | undefined;
  statuses(): PodStatuses | undefined;
  runtimePods(): RuntimePods | undefined;
}

/** upstream's container_state values of kubelet_running_containers. */
export type ContainerStateLabel = 'created' | 'running' | 'exited' | 'unknown';

/** The state label of one container as its status shows it; undefined for one not created yet. */
export function containerStateLabel(s: ContainerStatus): ContainerStateLabel | undefined {
  if (s.state?.running) return 'running';
  if (s.state?.terminated) return 'exited';
  if (s.state?.waiting) return s.containerID ? 'created' : undefined;
  return 'unknown';
}

/** kubelet_running_containers by state: every container of the node's pods that the runtime has. */
export function countContainers(statuses: PodStatuses | undefined): Map<ContainerStateLabel, number> {
  const out = new Map<ContainerStateLabel, number>();
  for (const st of statuses?.values() ?? []) {
    for (const c of [
      ...(st.initContainerStatuses ?? []),
      ...(st.containerStatuses ?? []),
      ...(st.ephemeralContainerStatuses ?? []),
    ]) {
      const l = containerStateLabel(c);
      if (l) out.set(l, (out.get(l) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * kubelet_running_pods: pods that have a sandbox in the runtime and are not finished (upstream:
 * a running sandbox; the runtimePods view lists sandboxes without their state, so a finished
 * pod's kept sandbox is told apart by its phase).
 */
export function countRunningPods(runtimePods: RuntimePods | undefined, statuses: PodStatuses | undefined): number {
  let n = 0;
  for (const [uid, p] of runtimePods ?? []) {
    const phase = statuses?.get(uid)?.phase;
    if (p.sandboxIds.length > 0 && phase !== 'Succeeded' && phase !== 'Failed') n++;
  }
  return n;
}

export interface KubeletMetrics {
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** kubelet_pod_start_duration_seconds. */
  observePodStart(seconds: number): void;
  /** kubelet_pleg_relist_duration_seconds and, with an interval, kubelet_pleg_relist_interval_seconds. */
  observeRelist(durationS: number, intervalS: number | undefined): void;
  /** kubelet_started_pods_total (a sandbox created) and kubelet_started_containers_total by container_type. */
  observeStarted(pods: number, containers: readonly ContainerType[]): void;
  /** prober_probe_total. */
  observeProbe(labels: ProbeLabels): void;
}

/** upstream's container_type label values. */
export type ContainerType = 'container' | 'init_container' | 'ephemeral_container';

export interface ProbeLabels {
  probe_type: 'Liveness' | 'Readiness' | 'Startup';
  result: 'successful' | 'failed' | 'unknown';
  container: string;
  pod: string;
  namespace: string;
  pod_uid: string;
}

/**
 * What one sync started, from its actions (`createSandbox(attempt N)`, `start <name> (attempt N...)`):
 * the sandboxes and each container's type in the pod spec.
 */
export function startedBy(
  actions: readonly string[],
  spec: { initContainers?: { name: string }[]; ephemeralContainers?: { name: string }[] } | undefined,
): { pods: number; containers: ContainerType[] } {
  let pods = 0;
  const containers: ContainerType[] = [];
  for (const a of actions) {
    if (a.startsWith('createSandbox(')) pods++;
    const m = /^start (\S+) \(attempt/.exec(a);
    if (!m) continue;
    const name = m[1]!;
    if (spec?.initContainers?.some((c) => c.name === name)) containers.push('init_container');
    else if (spec?.ephemeralContainers?.some((c) => c.name === name)) containers.push('ephemeral_container');
    else containers.push('container');
  }
  return { pods, containers };
}

/** Loads prom-client and registers the kubelet's metrics on a registry of their own. */
export async function createKubeletMetrics(src: MetricsSource): Promise<KubeletMetrics> {
  const prom = await import('prom-client');
  const register = new prom.Registry();
  prom.collectDefaultMetrics({ register });
  // gauges named like counters: `promtool check metrics` rejects them (and upstream has no such names)
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    register.removeSingleMetric(name);
  new prom.Gauge({
    name: 'kubelet_node_name',
    help: "[ALPHA] The node's name. The count is always 1.",
    labelNames: ['node'],
    registers: [register],
    collect() {
      this.set({ node: src.nodeName }, 1);
    },
  });
  new prom.Gauge({
    name: 'kubelet_running_pods',
    help: '[ALPHA] Number of pods that have a running pod sandbox',
    registers: [register],
    collect() {
      this.set(countRunningPods(src.runtimePods(), src.statuses()));
    },
  });
  new prom.Gauge({
    name: 'kubelet_running_containers',
    help: '[ALPHA] Number of containers currently running',
    labelNames: ['container_state'],
    registers: [register],
    collect() {
      this.reset();
      for (const [state, n] of countContainers(src.statuses())) this.set({ container_state: state }, n);
    },
  });
  const podStart = new prom.Histogram({
    name: 'kubelet_pod_start_duration_seconds',
    help: '[ALPHA] Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
    buckets: POD_START_BUCKETS,
    registers: [register],
  });
  const relistDuration = new prom.Histogram({
    name: 'kubelet_pleg_relist_duration_seconds',
    help: '[ALPHA] Duration in seconds for relisting pods in PLEG.',
    buckets: DEF_BUCKETS,
    registers: [register],
  });
  const relistInterval = new prom.Histogram({
    name: 'kubelet_pleg_relist_interval_seconds',
    help: '[ALPHA] Interval in seconds between relisting in PLEG.',
    buckets: DEF_BUCKETS,
    registers: [register],
  });
  const startedPods = new prom.Counter({
    name: 'kubelet_started_pods_total',
    help: '[ALPHA] Cumulative number of pods started',
    registers: [register],
  });
  const startedContainers = new prom.Counter({
    name: 'kubelet_started_containers_total',
    help: '[ALPHA] Cumulative number of containers started',
    labelNames: ['container_type'],
    registers: [register],
  });
  const probes = new prom.Counter({
    name: 'prober_probe_total',
    help: '[ALPHA] Cumulative number of a liveness, readiness or startup probe for a container by result.',
    labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'],
    registers: [register],
  });
  return {
    observeStarted: (pods, containers) => {
      if (pods) startedPods.inc(pods);
      for (const t of containers) startedContainers.inc({ container_type: t });
    },
    observeProbe: (l) => probes.inc({ ...l }),
    observeRelist: (d, i) => {
      relistDuration.observe(d);
      if (i !== undefined) relistInterval.observe(i);
    },
    scrape: async () => ({ contentType: register.contentType, body: await register.metrics() }),
    observePodStart: (s) => podStart.observe(s),
  };
}
