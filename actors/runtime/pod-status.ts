/**
 * The v1 PodStatus kubelet reports, computed from the runtime's view (upstream kubelet_pods.go
 * generateAPIPodStatus / convertStatusToAPIStatus / convertToAPIContainerStatuses, the
 * condition generators of pkg/kubelet/status/generate.go, the probe manager's ready/started
 * rules without probes, the status manager's lastTransitionTime/startTime rules, and
 * v1qos.ComputePodQOS). Pure: the time is `now`; the previous status is passed in.
 *
 * Rules worth knowing:
 * - A container's state is its newest runtime instance's; `lastState` is the instance before.
 *   Exited: reason from the runtime (containerd: Completed / Error / OOMKilled), else Completed
 *   for exit 0 and Error otherwise. Created or unknown: waiting. Never seen: waiting with
 *   ContainerCreating (PodInitializing when the pod has init containers); if it was running
 *   before, with lastState terminated ContainerStatusUnknown 137 and one more restart.
 * - A container the next sync will (re)start and that the sync reported waiting
 *   (CrashLoopBackOff, ErrImagePull, ...) shows that waiting reason, its exit moved to lastState.
 * - An init container without any instance, once a regular container was created, completed
 *   (its instance was removed); unless it is a sidecar.
 * - ready and started: the prober's results as upstream's UpdatePodStatus (applyProbeResults);
 *   without probes, running means started and ready; init containers are ready once they exited 0.
 * - Sidecars: Initialized once every other init container completed and every sidecar started;
 *   ContainersReady and Ready need the sidecars ready too (named before the regular containers,
 *   as upstream); a sidecar's restartCount is its runtime attempt, like a regular container's.
 * - Phase: upstream getPhase; a terminal phase (previous status or the API's) never reverts.
 * - Conditions keep their lastTransitionTime while their status does not change.
 * - podIP/podIPs: the newest sandbox's, when it is ready (primary family first). A pod in a
 *   terminal phase keeps the IPs it had (kubelet-ts choice: the sandbox is gone, the IP was real).
 */
import {
  CONTAINER_GONE_AT_TERMINATION,
  CONTAINER_STATUS_UNKNOWN,
  isTerminalPhase,
  KUBELET_OWNED_CONDITIONS,
  type ContainerState,
  type ContainerStatus,
  type Pod,
  type PodCondition,
  type PodIP,
  type PodStatus,
} from '../../protocols/kube/pod.ts';
import { getPodQos } from '../../protocols/kube/qos.ts';
import type { Container } from '../../protocols/kube/pod.ts';
import type { ProbeResults } from '../../protocols/messages/probe.ts';
import type { ContainerWaiting, RuntimeContainerStatus, RuntimePodStatus } from '../../protocols/messages/runtime.ts';
import {
  findContainerStatus,
  hasAnyActiveRegularContainerStarted,
  hasAnyRegularContainerCreated,
  isRestartableInitContainer,
  podPhaseFromStatuses,
  podSandboxChanged,
  shouldContainerBeRestarted,
  type PodPhase,
} from './compute-pod-actions.ts';

// upstream pkg/kubelet/status/generate.go reasons
export const POD_COMPLETED = 'PodCompleted';
export const POD_FAILED = 'PodFailed';
export const CONTAINERS_NOT_READY = 'ContainersNotReady';
export const CONTAINERS_NOT_INITIALIZED = 'ContainersNotInitialized';
export const READINESS_GATES_NOT_READY = 'ReadinessGatesNotReady';

// ---------------------------------------------------------------------------------------------
// time

/** metav1.Time as JSON: RFC 3339, second precision, UTC. */
export function toRfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------------------------
// container statuses

export interface ContainerStatusOptions {
  /** `containerd` unless told otherwise: containerID is `<runtimeName>://<id>`. */
  runtimeName?: string;
}

/** The exit reason: the runtime's, else Completed for exit 0 and Error otherwise. */
export function terminatedReason(cs: RuntimeContainerStatus): string {
  if (cs.reason) return cs.reason;
  return cs.exitCode === 0 ? 'Completed' : 'Error';
}

function apiImage(cs: RuntimeContainerStatus, spec: Container | undefined): string {
  // We create containers from the image ID; show the name the user asked for.
  if (!cs.image || cs.image.startsWith('sha256:') || cs.image === cs.imageRef) return spec?.image ?? cs.image;
  return cs.image;
}

/** upstream convertContainerStatus: one runtime instance as a v1 ContainerStatus. */
export function convertContainerStatus(
  cs: RuntimeContainerStatus,
  old: ContainerStatus | undefined,
  spec: Container | undefined,
  runtimeName = 'containerd',
): ContainerStatus {
  const containerID = `${runtimeName}://${cs.id}`;
  const status: ContainerStatus = {
    name: cs.name,
    restartCount: cs.restartCount,
    image: apiImage(cs, spec),
    imageID: cs.imageRef,
    containerID,
    ready: false,
    state: {},
  };
  switch (cs.state) {
    case 'CONTAINER_RUNNING':
      status.state = { running: cs.startedAt > 0 ? { startedAt: toRfc3339(cs.startedAt) } : {} };
      break;
    case 'CONTAINER_EXITED': {
      const terminated: NonNullable<ContainerState['terminated']> = {
        exitCode: cs.exitCode,
        reason: terminatedReason(cs),
      };
      if (cs.message) terminated.message = cs.message;
      // A zero time is null in the API (a container that never started has no startedAt).
      if (cs.startedAt > 0) terminated.startedAt = toRfc3339(cs.startedAt);
      if (cs.finishedAt > 0) terminated.finishedAt = toRfc3339(cs.finishedAt);
      terminated.containerID = containerID;
      status.state = { terminated };
      break;
    }
    case 'CONTAINER_UNKNOWN':
      if (old?.state?.running) {
        // It ran and is gone: "ran and failed", not "never ran" (a run-once pod must not rerun).
        status.state = {
          terminated: {
            reason: CONTAINER_STATUS_UNKNOWN,
            message: CONTAINER_GONE_AT_TERMINATION,
            exitCode: 137,
          },
        };
        status.restartCount = old.restartCount + 1;
        break;
      }
      status.state = { waiting: {} };
      break;
    default:
      // Created but not started: waiting to run.
      status.state = { waiting: {} };
  }
  return status;
}

const INIT_STATUS_LOST =
  'Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally';

export interface ConvertOptions extends ContainerStatusOptions {
  /** Waiting reasons from the last sync (upstream's reasonCache), by container name. */
  waiting?: readonly ContainerWaiting[];
  /** The prober's results (view `probeResults`); absent: no probe has a result yet. */
  probes?: ProbeResults;
}

/** upstream kubeletRestartGracePeriod: a container running 10 s before the prober started was found after a restart. */
const RESTART_GRACE_MS = 10_000;

/**
 * upstream prober manager UpdatePodStatus for one container: `started` and `ready` from the probe
 * results. Started: running, and the startup probe succeeded (or there is none, or the status
 * already said started for this very container: a kubelet restart, upstream 1.35). Ready: started
 * and running, and the readiness probe succeeded (or there is none). A container found running
 * after a kubelet restart, with no readiness result yet, keeps being ready unless it has a
 * readiness probe and the pod was not Ready in the API (upstream setReadyStateOnKubeletRestart).
 * A regular init container is started while running and ready once it exited 0.
 */
function applyProbeResults(
  pod: Pod,
  c: Container,
  s: ContainerStatus,
  old: ContainerStatus | undefined,
  isInit: boolean,
  probes: ProbeResults | undefined,
): void {
  const running = s.state?.running !== undefined;
  if (isInit && c.restartPolicy !== 'Always') {
    s.started = running;
    s.ready = s.state?.terminated?.exitCode === 0;
    return;
  }
  const id = s.containerID ? s.containerID.slice(s.containerID.indexOf('://') + 3) : '';
  const r = id ? probes?.byContainer.get(id) : undefined;
  let started: boolean;
  if (!running) started = false;
  else if (r?.startup !== undefined) started = r.startup === 'success';
  else if (old?.started === true && old.containerID === s.containerID) started = true;
  else started = c.startupProbe === undefined;
  s.started = started;
  if (!started) {
    s.ready = false;
    return;
  }
  let ready = r?.readiness === 'success' || c.readinessProbe === undefined;
  const startedAt = s.state?.running?.startedAt ? Date.parse(s.state.running.startedAt) : Number.NaN;
  if (!ready && probes && startedAt < probes.startedAt - RESTART_GRACE_MS) {
    if (r?.readiness === undefined) ready = true;
    const podReady = pod.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') === true;
    if (c.readinessProbe !== undefined && !podReady) ready = false;
  }
  s.ready = ready;
}

/** upstream convertToAPIContainerStatuses for one list (regular or init containers). */
export function convertToApiContainerStatuses(
  pod: Pod,
  status: RuntimePodStatus,
  previous: readonly ContainerStatus[],
  containers: readonly Container[],
  hasInitContainers: boolean,
  isInitContainer: boolean,
  opts: ConvertOptions = {},
): ContainerStatus[] {
  const runtimeName = opts.runtimeName ?? 'containerd';
  const oldStatuses = new Map(previous.map((s) => [s.name, s]));
  const defaultWaiting = { waiting: { reason: hasInitContainers ? 'PodInitializing' : 'ContainerCreating' } };
  const statuses = new Map<string, ContainerStatus>();
  const specByName = new Map(containers.map((c) => [c.name, c]));

  for (const c of containers) {
    const old = oldStatuses.get(c.name);
    let s: ContainerStatus = {
      name: c.name,
      image: c.image,
      imageID: '',
      ready: false,
      restartCount: 0,
      state: structuredClone(defaultWaiting),
    };
    if (old) {
      if (old.state?.terminated) s = structuredClone(old);
      else {
        s.restartCount = old.restartCount;
        if (old.lastState) s.lastState = old.lastState;
      }
    }
    statuses.set(c.name, s);
  }

  // A container that was running and of which the runtime lists no instance at all (removed
  // behind our back, or lost): it still shows waiting, but with an unknown termination as
  // lastState, which reads as stopped, so the pod does not fall back to Pending. Not when it
  // already has a termination on record, or a sync gave it another waiting reason (upstream).
  for (const c of containers) {
    if (status.containers.some((cs) => cs.name === c.name)) continue;
    const old = oldStatuses.get(c.name);
    if (!old || old.state?.terminated || !old.state?.running) continue;
    const s = statuses.get(c.name)!;
    if (s.state?.waiting?.reason !== defaultWaiting.waiting.reason) continue;
    if (s.lastState?.terminated) continue;
    s.lastState = {
      terminated: {
        reason: CONTAINER_STATUS_UNKNOWN,
        message: 'The container could not be located when the pod was deleted.  The container used to be Running',
        exitCode: 137,
      },
    };
    // Not being deleted: it will be started again, which is a restart.
    if (!pod.metadata.deletionTimestamp) s.restartCount += 1;
  }

  // Newest instance first (the runtime status already is): the newest is the state, the one
  // before is lastState.
  const seen = new Map<string, number>();
  for (const cs of status.containers) {
    const base = statuses.get(cs.name);
    if (!base) continue;
    const n = seen.get(cs.name) ?? 0;
    if (n >= 2) continue;
    const converted = convertContainerStatus(cs, oldStatuses.get(cs.name), specByName.get(cs.name), runtimeName);
    if (n === 0) statuses.set(cs.name, converted);
    else base.lastState = converted.state ?? {};
    seen.set(cs.name, n + 1);
  }

  // Containers the next sync will (re)start show why they are not running yet.
  const waitingByName = new Map((opts.waiting ?? []).map((w) => [w.name, w]));
  const regularCreated = isInitContainer && hasAnyRegularContainerCreated(pod, status);
  for (const c of containers) {
    if (isInitContainer) {
      const s = findContainerStatus(status, c.name);
      if (s && s.state === 'CONTAINER_EXITED' && s.exitCode === 0) continue;
      // Its instance is gone (garbage collected, or our status lost over a restart) but a
      // regular container exists, so it completed; a sidecar is started again instead.
      const shown = statuses.get(c.name)!;
      if (!s && regularCreated && !isRestartableInitContainer(c) && shown.state?.waiting) {
        shown.state = { terminated: { reason: 'Completed', message: INIT_STATUS_LOST, exitCode: 0 } };
        continue;
      }
    }
    if (!shouldContainerBeRestarted(c, pod, status)) continue;
    const w = waitingByName.get(c.name);
    if (!w) continue;
    const s = statuses.get(c.name)!;
    if (s.state?.terminated) s.lastState = s.state;
    s.state = { waiting: { reason: w.reason, message: w.message } };
  }

  for (const c of containers)
    applyProbeResults(pod, c, statuses.get(c.name)!, oldStatuses.get(c.name), isInitContainer, opts.probes);

  if (isInitContainer) return containers.map((c) => statuses.get(c.name)!);
  return [...statuses.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// conditions (pkg/kubelet/status/generate.go)

/** Go's %s of a []string: `[a b]`. */
function goList(names: string[]): string {
  return `[${names.join(' ')}]`;
}

export function generateContainersReadyCondition(
  pod: Pod,
  statuses: readonly ContainerStatus[],
  phase: PodPhase,
): PodCondition {
  const byName = new Map(statuses.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const unready: string[] = [];
  const sidecars = (pod.spec.initContainers ?? []).filter(isRestartableInitContainer);
  for (const c of [...sidecars, ...pod.spec.containers]) {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0)
    return { type: 'ContainersReady', status: 'False', reason: POD_COMPLETED };
  if (phase === 'Failed') return { type: 'ContainersReady', status: 'False', reason: POD_FAILED };
  const messages: string[] = [];
  if (unknown.length > 0) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (unready.length > 0) messages.push(`containers with unready status: ${goList(unready)}`);
  if (messages.length > 0) {
    return { type: 'ContainersReady', status: 'False', reason: CONTAINERS_NOT_READY, message: messages.join(', ') };
  }
  return { type: 'ContainersReady', status: 'True' };
}

export function generatePodReadyCondition(
  pod: Pod,
  conditions: readonly PodCondition[],
  statuses: readonly ContainerStatus[],
  phase: PodPhase,
): PodCondition {
  const cr = generateContainersReadyCondition(pod, statuses, phase);
  if (cr.status !== 'True') {
    const out: PodCondition = { type: 'Ready', status: cr.status };
    if (cr.reason) out.reason = cr.reason;
    if (cr.message) out.message = cr.message;
    return out;
  }
  const messages: string[] = [];
  for (const gate of pod.spec.readinessGates ?? []) {
    const type = String(gate['conditionType'] ?? '');
    const c = conditions.find((x) => x.type === type);
    if (!c) messages.push(`corresponding condition of pod readiness gate "${type}" does not exist.`);
    else if (c.status !== 'True')
      messages.push(`the status of pod readiness gate "${type}" is not "True", but ${c.status}`);
  }
  if (messages.length > 0) {
    return { type: 'Ready', status: 'False', reason: READINESS_GATES_NOT_READY, message: messages.join(', ') };
  }
  return { type: 'Ready', status: 'True' };
}

export function generatePodInitializedCondition(
  pod: Pod,
  statuses: readonly ContainerStatus[],
  phase: PodPhase,
): PodCondition {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return { type: 'Initialized', status: 'True' };
  const byName = new Map(statuses.map((s) => [s.name, s]));
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const c of inits) {
    const s = byName.get(c.name);
    if (!s) unknown.push(c.name);
    else if (isRestartableInitContainer(c)) {
      // a sidecar needs to have started, not completed
      if (s.started !== true) incomplete.push(c.name);
    } else if (!s.state?.terminated || s.state.terminated.exitCode !== 0) incomplete.push(c.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0)
    return { type: 'Initialized', status: 'True', reason: POD_COMPLETED };
  // A regular container that ran means initialisation completed before.
  const regular = new Set(pod.spec.containers.map((c) => c.name));
  if (statuses.some((s) => regular.has(s.name) && (s.state?.running || s.state?.terminated))) {
    return { type: 'Initialized', status: 'True' };
  }
  const messages: string[] = [];
  if (unknown.length > 0) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (incomplete.length > 0) messages.push(`containers with incomplete status: ${goList(incomplete)}`);
  if (messages.length > 0) {
    return { type: 'Initialized', status: 'False', reason: CONTAINERS_NOT_INITIALIZED, message: messages.join(', ') };
  }
  return { type: 'Initialized', status: 'True' };
}

/** upstream GeneratePodReadyToStartContainersCondition: a usable sandbox exists. */
export function generatePodReadyToStartContainersCondition(pod: Pod, status: RuntimePodStatus): PodCondition {
  return { type: 'PodReadyToStartContainers', status: podSandboxChanged(pod, status).changed ? 'False' : 'True' };
}

/** The status manager's rule: a condition keeps its lastTransitionTime while its status holds. */
function withTransitionTimes(conditions: PodCondition[], old: readonly PodCondition[], now: number): PodCondition[] {
  return conditions.map((c) => {
    if (c.lastTransitionTime) return c;
    const prev = old.find((o) => o.type === c.type);
    const lastTransitionTime =
      prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : toRfc3339(now);
    return { ...c, lastTransitionTime };
  });
}

// ---------------------------------------------------------------------------------------------
// pod IPs

function isIPv6(ip: string): boolean {
  return ip.includes(':');
}

/** upstream sortPodIPs: the first IP of the node's family, then the first of the other. */
export function sortPodIps(ips: readonly string[], hostIP?: string): string[] {
  const v6first = hostIP !== undefined && isIPv6(hostIP);
  const primary = ips.find((ip) => isIPv6(ip) === v6first);
  const secondary = ips.find((ip) => isIPv6(ip) !== v6first);
  return [primary, secondary].filter((ip): ip is string => ip !== undefined && ip !== '');
}

/** The newest sandbox's IPs when it is ready (upstream GetPodStatus + determinePodSandboxIPs). */
export function runtimePodIps(status: RuntimePodStatus): string[] {
  const s = status.sandboxes[0];
  if (!s || s.state !== 'SANDBOX_READY') return [];
  return [s.ip, ...s.additionalIps].filter((ip) => ip !== '');
}

// ---------------------------------------------------------------------------------------------
// generateApiPodStatus

export interface ApiPodStatusOptions extends ContainerStatusOptions {
  /** Waiting reasons the last sync produced (CrashLoopBackOff, ErrImagePull, ...). */
  waiting: readonly ContainerWaiting[];
  now: number;
  hostIP?: string;
  hostIPs?: string[];
  /** The status manager's last status for the pod; pod.status when absent. */
  previous?: PodStatus;
  /** The pod worker has decided the pod is finished (upstream podIsTerminal). */
  podIsTerminal?: boolean;
  /** The prober's results: ready and started (absent: no probe result yet). */
  probes?: ProbeResults;
}

export function generateApiPodStatus(pod: Pod, runtimeStatus: RuntimePodStatus, opts: ApiPodStatusOptions): PodStatus {
  const apiStatus: PodStatus = pod.status ?? {};
  const old: PodStatus = opts.previous ?? apiStatus;
  const hasInit = (pod.spec.initContainers ?? []).length > 0;
  const convert: ConvertOptions = { waiting: opts.waiting, probes: opts.probes };
  if (opts.runtimeName) convert.runtimeName = opts.runtimeName;

  const containerStatuses = convertToApiContainerStatuses(
    pod,
    runtimeStatus,
    old.containerStatuses ?? [],
    pod.spec.containers,
    hasInit,
    false,
    convert,
  );
  const initContainerStatuses = convertToApiContainerStatuses(
    pod,
    runtimeStatus,
    old.initContainerStatuses ?? [],
    pod.spec.initContainers ?? [],
    hasInit,
    true,
    convert,
  );
  const all = [...containerStatuses, ...initContainerStatuses];

  let phase = podPhaseFromStatuses(
    pod,
    all,
    opts.podIsTerminal ?? false,
    hasAnyActiveRegularContainerStarted(pod, runtimeStatus),
  );
  // A terminal phase never reverts: the status manager's, then the API server's.
  if (!isTerminalPhase(phase)) {
    if (isTerminalPhase(old.phase)) phase = old.phase as PodPhase;
    else if (isTerminalPhase(apiStatus.phase)) phase = apiStatus.phase as PodPhase;
  }
  if (isTerminalPhase(apiStatus.phase) && phase !== apiStatus.phase) phase = apiStatus.phase as PodPhase;

  const s: PodStatus = { phase };
  if (phase === old.phase) {
    // The reason and message belong to the phase (e.g. Evicted): keep them while it holds.
    const reason = old.reason || apiStatus.reason;
    const message = old.message || apiStatus.message;
    if (reason) s.reason = reason;
    if (message) s.message = message;
  }

  // Conditions: those owned by others are preserved, the kubelet's regenerated.
  const conditions: PodCondition[] = (apiStatus.conditions ?? []).filter(
    (c) => !KUBELET_OWNED_CONDITIONS.includes(c.type),
  );
  const disruption = (old.conditions ?? []).find((c) => c.type === 'DisruptionTarget');
  if (disruption) {
    const i = conditions.findIndex((c) => c.type === 'DisruptionTarget');
    if (i >= 0) conditions[i] = disruption;
    else conditions.push(disruption);
  }
  const allForConditions = [...initContainerStatuses, ...containerStatuses];
  const owned: PodCondition[] = [
    generatePodReadyToStartContainersCondition(pod, runtimeStatus),
    generatePodInitializedCondition(pod, allForConditions, phase),
    generatePodReadyCondition(pod, conditions, allForConditions, phase),
    generateContainersReadyCondition(pod, allForConditions, phase),
    { type: 'PodScheduled', status: 'True' },
  ];
  s.conditions = [...conditions, ...withTransitionTimes(owned, old.conditions ?? [], opts.now)];

  // Host and pod IPs.
  const hostIPs = opts.hostIPs && opts.hostIPs.length > 0 ? opts.hostIPs : opts.hostIP ? [opts.hostIP] : [];
  if (hostIPs.length > 0) {
    s.hostIP = hostIPs[0]!;
    s.hostIPs = hostIPs.map((ip) => ({ ip }));
  }
  let podIPs = sortPodIps(runtimePodIps(runtimeStatus), hostIPs[0]);
  if (podIPs.length === 0 && pod.spec.hostNetwork) podIPs = hostIPs.slice(0, 1);
  if (podIPs.length === 0 && isTerminalPhase(phase)) {
    podIPs = (old.podIPs ?? []).map((p: PodIP) => p.ip).filter((ip) => ip !== '');
    if (podIPs.length === 0 && old.podIP) podIPs = [old.podIP];
  }
  if (podIPs.length > 0) {
    s.podIP = podIPs[0]!;
    s.podIPs = podIPs.map((ip) => ({ ip }));
  }

  // Neither the status manager nor the API knows it (a kubelet restarted under a static pod in
  // standalone mode): the oldest sandbox's creation, not the restart, so activeDeadlineSeconds holds.
  const sandboxTimes = runtimeStatus.sandboxes.map((sb) => sb.createdAt).filter((t) => t > 0);
  s.startTime =
    old.startTime || apiStatus.startTime || toRfc3339(sandboxTimes.length > 0 ? Math.min(...sandboxTimes) : opts.now);
  s.initContainerStatuses = initContainerStatuses;
  s.containerStatuses = containerStatuses;
  s.qosClass = getPodQos(pod);
  return s;
}
