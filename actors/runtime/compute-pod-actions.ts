/**
 * computePodActions: what the runtime must do to make a pod's containers match its spec, as
 * plain data (upstream kuberuntime_manager.go computePodActions, with the crash-loop check of
 * SyncPod's doBackOff folded in). The runtime actor executes the result in upstream's order:
 * kill the pod (or the listed containers), create the sandbox, start the next init container,
 * start the listed containers.
 *
 * Decisions, as upstream:
 * - The sandbox must be (re)created when there is none, when more than one is ready, when the
 *   newest is not ready, or when its network namespace no longer matches hostNetwork. Recreating
 *   it kills the whole pod and restarts the init containers from the first one. A pod with
 *   restartPolicy Never whose containers already ran gets no new sandbox; neither does a pod
 *   with nothing left to start.
 * - Init containers run one at a time, in order, each to completion, before any regular
 *   container (upstream computeInitContainerActions). A failed one (non-zero exit, OOMKilled,
 *   unknown state) is restarted under Always/OnFailure and fails the pod (killPod) under Never.
 * - A sidecar (an init container with restartPolicy Always) is started in its turn, and the next
 *   init container starts once it has started: it runs and, when it has a startupProbe, the
 *   probeManager reported the probe passed (`startupSucceeded`). It is never waited for to
 *   complete: it is restarted whenever it exits (unknown state: killed first; definition changed
 *   or liveness/startup failure: killed and restarted), whatever the pod's restartPolicy, also
 *   once the pod has initialised (then in the same sync as the regular containers). It does not
 *   keep a pod alive: once no regular container is kept or to start, the pod is killed and no
 *   sidecar restarted.
 * - A regular container that is not running is started when ShouldContainerBeRestarted says
 *   so: never ran; created/unknown; exited under Always; exited non-zero under OnFailure.
 *   An instance created but never started (the kubelet died between CreateContainer and
 *   StartContainer) did not run: it is started as it is when it matches the spec and the
 *   sandbox, else removed and replaced under its own attempt; either way no restart is counted.
 *   A running container whose hash changed is killed and restarted whatever the policy; one that
 *   failed its liveness/startup probe is killed, and restarted unless the policy is Never.
 * - Nothing to keep and nothing to start: kill the pod (stop the sandbox).
 * - A container to be restarted whose last exit is still inside its crash-loop backoff is not
 *   started: it becomes a CrashLoopBackOff waiting entry with upstream's message and the time the
 *   backoff expires. It still counts as "to start" for the kill-the-pod rule, as upstream (where
 *   the backoff check happens only at start time), so a crash-looping pod keeps its sandbox.
 * - A container using a field kubelet-ts does not support (protocols/kube/fields.ts; a pod-level
 *   field refuses every container) is never created: it becomes a CreateContainerConfigError
 *   waiting entry naming the fields, as upstream holds a container whose config it cannot build.
 *   Like a backed-off one it still counts as "to start"; one already running is left running.
 *
 * Not modelled yet: ephemeral containers, in-place
 * resize, and the "sandbox has no IP" rule (RuntimeSandboxStatus cannot tell a missing network
 * status from an empty IP).
 */
import type { NamespaceMode } from '../../protocols/cri/types.ts';
import {
  formatUnsupportedFields,
  refusedContainers,
  unsupportedFields,
  type UnsupportedField,
} from '../../protocols/kube/fields.ts';
import { isTerminalPhase, type Container, type ContainerStatus, type Pod } from '../../protocols/kube/pod.ts';
import type {
  ContainerWaiting,
  RuntimeContainerStatus,
  RuntimePodStatus,
  SyncResult,
} from '../../protocols/messages/runtime.ts';
import { backoffKey, formatGoDuration, type BackoffView } from './backoff.ts';
import { containerHash } from './labels.ts';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PodPhase = SyncResult['phase'];

/** Why a container is killed (upstream containerKillReason, plus the definition change). */
export type KillReason = 'DefinitionChanged' | 'LivenessProbe' | 'StartupProbe' | 'Unknown';

export interface ContainerToKill {
  /** The container's name. */
  name: string;
  /** upstream's wording, e.g. "Container web definition changed, will be restarted". */
  message: string;
  reason: KillReason;
}

/** A container about to be restarted after an exit: the actor records it in the backoff. */
export interface BackoffRestart {
  name: string;
  /** backoffKey(pod, container). */
  key: string;
  /** Finish time (ms) of the exit being restarted: pass as `eventTime` to CrashBackoff.next. */
  finishedAt: number;
}

export interface PodActions {
  /** Stop every container and sandbox of the pod first. */
  killPod: boolean;
  /** Create a new sandbox (after the kill) with `attempt`. */
  createSandbox: boolean;
  /** The sandbox to start containers in when no new one is created ('' if none). */
  sandboxId: string;
  /** The sandbox attempt: the existing one's, or the next one when creating. */
  attempt: number;
  /**
   * Indices into pod.spec.initContainers to start, in spec order: the next init container, and
   * sidecars to (re)start (upstream InitContainersToStart). Started before `containersToStart`.
   */
  initContainersToStart: number[];
  /** Indices into pod.spec.containers to start, in spec order. */
  containersToStart: number[];
  /** Containers to kill, by runtime container id (ignored when killPod). */
  containersToKill: Record<string, ContainerToKill>;
  /** Containers held back: by their crash-loop backoff, or by a field kubelet-ts does not support. */
  waiting: ContainerWaiting[];
  /** Every field of the pod kubelet-ts does not support (empty for a supported pod): the runtime's event. */
  unsupported: UnsupportedField[];
  /** For each container to start that exited before: the backoff entry to advance. */
  restarts: BackoffRestart[];
  /**
   * Containers to start (by name) whose newest instance was created and never started (the
   * kubelet stopped between CreateContainer and StartContainer): that instance is started as it
   * is (its id), no new one created, so no restart is counted for a container that never ran.
   */
  createdToStart: Record<string, string>;
  /**
   * Never-started instances that cannot be started as they are (another spec hash, another
   * sandbox): removed before their replacement is created, which takes over their attempt.
   */
  createdToRemove: string[];
  /** Why the sandbox is (re)created, or why the pod is killed ('' if neither). */
  reason: string;
}

export interface ComputePodActionsContext {
  now: number;
  backoff: BackoffView;
  /** Probe failures by runtime container id (from the prober); absent means none. */
  probeFailures?: Readonly<Record<string, 'liveness' | 'startup'>>;
  /**
   * Runtime container ids whose startup probe passed (the probeManager's startup results). A
   * running sidecar with a startupProbe and no result has not started: the init containers after
   * it wait. Absent: no container with a startupProbe has started.
   */
  startupSucceeded?: ReadonlySet<string>;
}

// ---------------------------------------------------------------------------------------------
// helpers (upstream names)

export function restartPolicyOf(pod: Pod): RestartPolicy {
  const p = pod.spec.restartPolicy;
  return p === 'OnFailure' || p === 'Never' ? p : 'Always';
}

/** upstream shouldRestartOnFailure: anything but Never. */
export function shouldRestartOnFailure(pod: Pod): boolean {
  return restartPolicyOf(pod) !== 'Never';
}

/** upstream format.Pod: `name_namespace(uid)`. */
export function formatPod(pod: Pod): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/** upstream FindContainerStatusByName: the newest instance (statuses are newest first). */
export function findContainerStatus(status: RuntimePodStatus, name: string): RuntimeContainerStatus | undefined {
  return status.containers.find((c) => c.name === name);
}

/**
 * The restart count (CRI attempt, log file number) for the next start of a container: the newest
 * instance's count + 1, or 0 when the runtime has none (upstream startContainer; upstream then
 * also looks at the log directory, which needs I/O). A newest instance that was created and never
 * started did not run: its replacement (created once it is removed) keeps its count.
 */
export function nextRestartCount(status: RuntimePodStatus, name: string): number {
  const s = findContainerStatus(status, name);
  if (!s) return 0;
  return s.state === 'CONTAINER_CREATED' ? s.restartCount : s.restartCount + 1;
}

/** upstream NetworkNamespaceForPod. */
export function networkNamespaceForPod(pod: Pod): NamespaceMode {
  return pod.spec.hostNetwork ? 'NODE' : 'POD';
}

export interface SandboxChange {
  changed: boolean;
  /** Attempt for the new sandbox when changed, else the current one's. */
  attempt: number;
  /** The newest sandbox's id ('' when there is none, or when the namespace changed). */
  sandboxId: string;
  reason: string;
}

/** upstream runtimeutil.PodSandboxChanged (less the no-IP rule, see the file comment). */
export function podSandboxChanged(pod: Pod, status: RuntimePodStatus): SandboxChange {
  const newest = status.sandboxes[0];
  if (!newest)
    return {
      changed: true,
      attempt: 0,
      sandboxId: '',
      reason: 'No sandbox for pod can be found. Need to start a new one',
    };
  const ready = status.sandboxes.filter((s) => s.state === 'SANDBOX_READY').length;
  if (ready > 1) {
    return {
      changed: true,
      attempt: newest.attempt + 1,
      sandboxId: newest.id,
      reason: 'Multiple sandboxes are ready for Pod. Need to reconcile them',
    };
  }
  if (newest.state !== 'SANDBOX_READY') {
    return {
      changed: true,
      attempt: newest.attempt + 1,
      sandboxId: newest.id,
      reason: 'No ready sandbox for pod can be found. Need to start a new one',
    };
  }
  if (newest.networkMode !== undefined && newest.networkMode !== networkNamespaceForPod(pod)) {
    return {
      changed: true,
      attempt: newest.attempt + 1,
      sandboxId: '',
      reason: 'Sandbox for pod has changed. Need to start a new one',
    };
  }
  return { changed: false, attempt: newest.attempt, sandboxId: newest.id, reason: '' };
}

/** upstream IsRestartableInitContainer: an init container with restartPolicy Always, a sidecar. */
export function isRestartableInitContainer(c: Container): boolean {
  return c.restartPolicy === 'Always';
}

/**
 * upstream ShouldContainerBeRestarted; a container's own restartPolicy (a sidecar's Always) wins
 * over the pod's.
 */
export function shouldContainerBeRestarted(container: Container, pod: Pod, status: RuntimePodStatus): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  const s = findContainerStatus(status, container.name);
  if (!s) return true;
  if (s.state === 'CONTAINER_RUNNING') return false;
  if (s.state === 'CONTAINER_UNKNOWN' || s.state === 'CONTAINER_CREATED') return true;
  if (container.restartPolicy === 'Always') return true;
  const policy = restartPolicyOf(pod);
  if (policy === 'Never') return false;
  if (policy === 'OnFailure' && s.exitCode === 0) return false;
  return true;
}

/** upstream containerSucceeded: the newest instance is not running and exited 0. */
function containerSucceeded(c: Container, status: RuntimePodStatus): boolean {
  const s = findContainerStatus(status, c.name);
  if (!s || s.state === 'CONTAINER_RUNNING') return false;
  return s.exitCode === 0;
}

/** upstream isInitContainerFailed. */
export function isInitContainerFailed(s: RuntimeContainerStatus): boolean {
  if (s.reason === 'OOMKilled') return true;
  if (s.state === 'CONTAINER_EXITED' && s.exitCode !== 0) return true;
  return s.state === 'CONTAINER_UNKNOWN';
}

/** upstream hasAnyRegularContainerCreated: a regular container has an instance that was created, runs or exited. */
export function hasAnyRegularContainerCreated(pod: Pod, status: RuntimePodStatus): boolean {
  return pod.spec.containers.some((c) => {
    const s = findContainerStatus(status, c.name);
    return s !== undefined && s.state !== 'CONTAINER_UNKNOWN';
  });
}

/**
 * upstream computeInitContainerActions: fills `initContainersToStart`, and `containersToKill` for
 * init containers to replace, or sets killPod (a failed init container under Never). Returns
 * whether the pod has initialised, i.e. whether its regular containers are to be looked at.
 *
 * It walks the init containers from the last one back: the completed ones may have been removed
 * from the runtime, so the last one with an instance says how far initialisation got. The
 * sidecars before that point are kept running (restarted when they exited or are gone).
 */
function computeInitContainerActions(
  pod: Pod,
  status: RuntimePodStatus,
  ctx: ComputePodActionsContext,
  actions: PodActions,
): boolean {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return true;
  // A created or running regular container: initialisation finished before (its init containers
  // may have been garbage collected since). Not an exited one: after a reboot every container has
  // exited, and the new sandbox must run its init containers again.
  let podHasInitialized = pod.spec.containers.some((c) => {
    const state = findContainerStatus(status, c.name)?.state;
    return state === 'CONTAINER_CREATED' || state === 'CONTAINER_RUNNING';
  });
  let previouslyInitialized = podHasInitialized;
  const toStart: number[] = [];
  const kill = (s: RuntimeContainerStatus, message: string, reason: KillReason) => {
    actions.containersToKill[s.id] = { name: s.name, message, reason };
  };
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i]!;
    const sidecar = isRestartableInitContainer(c);
    const s = findContainerStatus(status, c.name);
    if (!s) {
      // Gone after initialisation: a sidecar is started again, an init container has done its part.
      if (previouslyInitialized && sidecar) toStart.push(i);
      continue;
    }
    if (previouslyInitialized && !sidecar) continue;
    switch (s.state) {
      case 'CONTAINER_CREATED':
        // Created, never started (the kubelet stopped in between): start it (adoptCreated).
        toStart.push(i);
        break;
      case 'CONTAINER_RUNNING': {
        if (!sidecar) break; // an init container: wait for it to finish
        const startupFailed = ctx.probeFailures?.[s.id] === 'startup';
        if (c.startupProbe && !startupFailed && !ctx.startupSucceeded?.has(s.id)) break; // not started yet
        if (startupFailed) {
          kill(s, `Init container ${c.name} failed startup probe`, 'StartupProbe');
          toStart.push(i);
          break;
        }
        if (i === inits.length - 1) podHasInitialized = true;
        else if (!previouslyInitialized) toStart.push(i + 1); // started: the next one's turn
        if (s.hash !== containerHash(c)) {
          kill(s, `Init container ${c.name} definition changed`, 'DefinitionChanged');
          toStart.push(i);
        } else if (ctx.probeFailures?.[s.id] === 'liveness') {
          kill(s, `Init container ${c.name} failed liveness probe`, 'LivenessProbe');
          toStart.push(i);
        }
        break;
      }
      case 'CONTAINER_EXITED':
        if (sidecar) toStart.push(i);
        else if (isInitContainerFailed(s)) {
          if (!shouldRestartOnFailure(pod)) {
            actions.killPod = true;
            actions.reason = `Init container ${c.name} failed and the pod's restartPolicy is Never`;
            actions.initContainersToStart = [];
            return false;
          }
          toStart.push(i);
        } else if (i === inits.length - 1) podHasInitialized = true;
        else toStart.push(i + 1);
        break;
      default:
        // Unknown: it may still run; kill it so that two never run at once, then start it again.
        if (!sidecar && !shouldRestartOnFailure(pod)) {
          actions.killPod = true;
          actions.reason = `Init container ${c.name} failed and the pod's restartPolicy is Never`;
          actions.initContainersToStart = [];
          return false;
        }
        kill(s, `Init container is in "${kubeStateName(s.state)}" state, try killing it before restart`, 'Unknown');
        toStart.push(i);
    }
    previouslyInitialized = true;
  }
  // Nothing ran yet: the first one.
  if (!previouslyInitialized) toStart.push(0);
  actions.initContainersToStart = [...new Set(toStart)].sort((a, b) => a - b);
  return podHasInitialized;
}

/** upstream's kubecontainer.State strings, for messages that quote them. */
function kubeStateName(state: RuntimeContainerStatus['state']): string {
  switch (state) {
    case 'CONTAINER_CREATED':
      return 'created';
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** The CrashLoopBackOff message, in upstream doBackOff's words. */
export function crashLoopBackOffMessage(pod: Pod, containerName: string, delayMs: number): string {
  return `back-off ${formatGoDuration(delayMs)} restarting failed container=${containerName} pod=${formatPod(pod)}`;
}

// ---------------------------------------------------------------------------------------------
// computePodActions

export function computePodActions(pod: Pod, status: RuntimePodStatus, ctx: ComputePodActionsContext): PodActions {
  const sandbox = podSandboxChanged(pod, status);
  const actions: PodActions = {
    killPod: sandbox.changed,
    createSandbox: sandbox.changed,
    sandboxId: sandbox.sandboxId,
    attempt: sandbox.attempt,
    initContainersToStart: [],
    containersToStart: [],
    containersToKill: {},
    waiting: [],
    unsupported: [],
    restarts: [],
    createdToStart: {},
    createdToRemove: [],
    reason: sandbox.reason,
  };
  const containers = pod.spec.containers;
  const inits = pod.spec.initContainers ?? [];

  if (sandbox.changed) {
    if (!shouldRestartOnFailure(pod) && sandbox.attempt !== 0 && status.containers.length !== 0) {
      // restartPolicy Never and the containers already ran: nothing would run in a new sandbox.
      actions.createSandbox = false;
      return actions;
    }
    const toStart: number[] = [];
    containers.forEach((c, i) => {
      if (restartPolicyOf(pod) === 'OnFailure' && containerSucceeded(c, status)) return;
      toStart.push(i);
    });
    // Nothing to start and initialisation done (a regular container exists): no new sandbox.
    if (toStart.length === 0 && hasAnyRegularContainerCreated(pod, status)) {
      actions.createSandbox = false;
      return actions;
    }
    if (inits.length > 0) {
      actions.initContainersToStart = [0];
    } else {
      actions.containersToStart = toStart;
    }
    return applyBackoff(pod, status, ctx, holdUnsupported(pod, status, actions));
  }

  if (!computeInitContainerActions(pod, status, ctx, actions) || actions.killPod) {
    // Initialisation failed or is in progress: regular containers wait.
    return applyBackoff(pod, status, ctx, holdUnsupported(pod, status, actions));
  }

  let keepCount = 0;
  containers.forEach((container, idx) => {
    const s = findContainerStatus(status, container.name);
    if (!s || s.state !== 'CONTAINER_RUNNING') {
      if (shouldContainerBeRestarted(container, pod, status)) {
        actions.containersToStart.push(idx);
        if (s?.state === 'CONTAINER_UNKNOWN') {
          // We cannot tell whether it still runs: kill it first so two never run at once.
          actions.containersToKill[s.id] = {
            name: s.name,
            message: `Container is in "${kubeStateName(s.state)}" state, try killing it before restart`,
            reason: 'Unknown',
          };
        }
      }
      return;
    }
    let message: string;
    let reason: KillReason;
    let restart = shouldRestartOnFailure(pod);
    const probe = ctx.probeFailures?.[s.id];
    if (s.hash !== containerHash(container)) {
      message = `Container ${container.name} definition changed`;
      reason = 'DefinitionChanged';
      // The spec changed: restart whatever the policy.
      restart = true;
    } else if (probe === 'liveness') {
      message = `Container ${container.name} failed liveness probe`;
      reason = 'LivenessProbe';
    } else if (probe === 'startup') {
      message = `Container ${container.name} failed startup probe`;
      reason = 'StartupProbe';
    } else {
      keepCount++;
      return;
    }
    if (restart) {
      message = `${message}, will be restarted`;
      actions.containersToStart.push(idx);
    }
    actions.containersToKill[s.id] = { name: s.name, message, reason };
  });

  if (keepCount === 0 && actions.containersToStart.length === 0) {
    actions.killPod = true;
    actions.reason = 'All containers of the pod have exited and none is to be restarted';
    // Sidecars do not keep a pod alive: none is restarted.
    actions.initContainersToStart = [];
  }
  return applyBackoff(pod, status, ctx, holdUnsupported(pod, status, actions));
}

/**
 * Containers with a field kubelet-ts does not support leave the start lists and wait with
 * CreateContainerConfigError; so does every refused container not running (a regular container
 * behind a refused init container shows why too).
 */
function holdUnsupported(pod: Pod, status: RuntimePodStatus, actions: PodActions): PodActions {
  const fields = unsupportedFields(pod);
  if (fields.length === 0) return actions;
  actions.unsupported = fields;
  const refused = refusedContainers(pod, fields);
  const inits = pod.spec.initContainers ?? [];
  actions.initContainersToStart = actions.initContainersToStart.filter((i) => !refused.has(inits[i]!.name));
  actions.containersToStart = actions.containersToStart.filter((i) => !refused.has(pod.spec.containers[i]!.name));
  for (const [name, why] of refused) {
    if (findContainerStatus(status, name)?.state === 'CONTAINER_RUNNING') continue;
    actions.waiting.push({ name, reason: 'CreateContainerConfigError', message: formatUnsupportedFields(why) });
  }
  return actions;
}

/**
 * upstream doBackOff for every container about to start: the newest exited instance's finish
 * time against the crash-loop backoff. Held-back containers move to `waiting`; the others that
 * exited before are listed in `restarts` for the actor to advance the backoff.
 */
function applyBackoff(
  pod: Pod,
  status: RuntimePodStatus,
  ctx: ComputePodActionsContext,
  actions: PodActions,
): PodActions {
  const check = (container: Container): boolean => {
    const exited = status.containers.find((c) => c.name === container.name && c.state === 'CONTAINER_EXITED');
    if (!exited) return true;
    const key = backoffKey(pod, container);
    if (ctx.backoff.isInBackOffSince(key, exited.finishedAt, ctx.now)) {
      const delay = ctx.backoff.get(key);
      actions.waiting.push({
        name: container.name,
        reason: 'CrashLoopBackOff',
        message: crashLoopBackOffMessage(pod, container.name, delay),
        retryAt: exited.finishedAt + delay,
      });
      return false;
    }
    actions.restarts.push({ name: container.name, key, finishedAt: exited.finishedAt });
    return true;
  };
  const inits = pod.spec.initContainers ?? [];
  actions.initContainersToStart = actions.initContainersToStart.filter((i) => check(inits[i]!));
  actions.containersToStart = actions.containersToStart.filter((i) => check(pod.spec.containers[i]!));
  const starting = [
    ...actions.initContainersToStart.map((i) => inits[i]!),
    ...actions.containersToStart.map((i) => pod.spec.containers[i]!),
  ];
  for (const c of starting) adoptCreated(c, status, actions);
  return actions;
}

/**
 * A container about to start whose newest instance was created but never started: started as it
 * is when it belongs to the sandbox the containers start in and to the current spec, else
 * removed first (its replacement keeps its attempt, see nextRestartCount).
 */
function adoptCreated(c: Container, status: RuntimePodStatus, actions: PodActions): void {
  const s = findContainerStatus(status, c.name);
  if (s?.state !== 'CONTAINER_CREATED') return;
  if (!actions.createSandbox && s.sandboxId === actions.sandboxId && s.hash === containerHash(c))
    actions.createdToStart[c.name] = s.id;
  else actions.createdToRemove.push(s.id);
}

// ---------------------------------------------------------------------------------------------
// phase (upstream kubelet_pods.go getPhase)

/**
 * upstream getPhase over v1 container statuses (init and regular together, matched by name).
 * `podIsTerminal` is set when the pod worker has decided the pod is finished (its containers
 * will not be restarted whatever the policy). `podHasInitialized`: a regular container has an
 * instance in the newest sandbox (upstream HasAnyActiveRegularContainerStarted).
 *
 * Sidecars count apart: one not started yet keeps the pod Pending until it has initialised; a
 * running one counts as running (a pod whose regular containers all exited stays Running while
 * a sidecar runs: the next sync kills the pod); an exited one does not count at all, so the
 * regular containers alone decide Succeeded or Failed.
 */
export function podPhaseFromStatuses(
  pod: Pod,
  statuses: readonly ContainerStatus[],
  podIsTerminal = false,
  podHasInitialized = false,
): PodPhase {
  const byName = new Map<string, ContainerStatus>();
  for (const s of statuses) if (!byName.has(s.name)) byName.set(s.name, s);
  let pendingInit = 0;
  let failedInit = 0;
  let pendingSidecars = 0;
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of pod.spec.initContainers ?? []) {
    const s = byName.get(c.name);
    if (isRestartableInitContainer(c)) {
      const st = s?.state;
      if (!s) unknown++;
      else if (st?.running) {
        if (s.started !== true) pendingSidecars++;
        running++;
      } else if (st?.terminated) {
        // an exited sidecar does not count
      } else if (st?.waiting) {
        if (!s.lastState?.terminated) {
          pendingSidecars++;
          waiting++;
        }
      } else {
        pendingSidecars++;
        unknown++;
      }
      continue;
    }
    if (!s?.state) {
      pendingInit++;
      continue;
    }
    if (s.state.running) pendingInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.lastState?.terminated) {
      if (s.lastState.terminated.exitCode !== 0) failedInit++;
    } else pendingInit++;
  }

  for (const c of pod.spec.containers) {
    const s = byName.get(c.name);
    if (!s) {
      unknown++;
      continue;
    }
    const st = s.state ?? { waiting: {} };
    if (st.running) running++;
    else if (st.terminated) {
      stopped++;
      if (st.terminated.exitCode === 0) succeeded++;
    } else if (st.waiting) {
      if (s.lastState?.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }

  const policy = restartPolicyOf(pod);
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if (pendingInit > 0 || (pendingSidecars > 0 && !podHasInitialized)) return 'Pending';
  if (waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (podIsTerminal && !isStaticPod(pod)) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

/** upstream kubetypes.IsStaticPod: the config source annotation is not the API server. */
export function isStaticPod(pod: Pod): boolean {
  const source = pod.metadata.annotations?.['kubernetes.io/config.source'];
  return source !== undefined && source !== 'api';
}

/**
 * The minimal v1 view of one container that getPhase reads, straight from the runtime: the newest
 * instance's state, and the previous instance's termination.
 */
function phaseStatusOf(status: RuntimePodStatus, name: string): ContainerStatus {
  const instances = status.containers.filter((c) => c.name === name);
  const base = { name, ready: false, restartCount: 0, image: '', imageID: '' };
  const [latest, previous] = instances;
  const lastState =
    previous?.state === 'CONTAINER_EXITED' ? { terminated: { exitCode: previous.exitCode } } : undefined;
  if (!latest) return { ...base, state: { waiting: {} } };
  switch (latest.state) {
    case 'CONTAINER_RUNNING':
      // started: running (startup probe results are not read here)
      return { ...base, started: true, state: { running: {} } };
    case 'CONTAINER_EXITED':
      return { ...base, state: { terminated: { exitCode: latest.exitCode } } };
    default:
      return lastState ? { ...base, state: { waiting: {} }, lastState } : { ...base, state: { waiting: {} } };
  }
}

/** getPhase straight from the runtime's view (what a sync reports as SyncResult.phase). */
export function getPhase(pod: Pod, status: RuntimePodStatus, podIsTerminal = false): PodPhase {
  const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name);
  return podPhaseFromStatuses(
    pod,
    names.map((n) => phaseStatusOf(status, n)),
    podIsTerminal,
    hasAnyActiveRegularContainerStarted(pod, status),
  );
}

/**
 * upstream HasAnyActiveRegularContainerStarted: a regular container has an instance (in any state)
 * in the newest sandbox, so initialisation completed in it.
 */
export function hasAnyActiveRegularContainerStarted(pod: Pod, status: RuntimePodStatus): boolean {
  const sandbox = status.sandboxes[0]?.id;
  if (sandbox === undefined) return false;
  const regular = new Set(pod.spec.containers.map((c) => c.name));
  return status.containers.some((c) => regular.has(c.name) && c.sandboxId === sandbox);
}

/**
 * Whether the pod has reached a terminal phase by its own containers (restartPolicy decides):
 * the pod worker then moves it to terminating instead of syncing it again.
 */
export function shouldPodBeTerminal(pod: Pod, status: RuntimePodStatus): boolean {
  return isTerminalPhase(getPhase(pod, status));
}

// ---------------------------------------------------------------------------------------------
// termination order (upstream newTerminationOrdering)

/**
 * The order in which a pod's live containers are stopped, as stages: each stage is stopped in
 * parallel, once the stage before has stopped. First every container that is not a sidecar
 * (regular containers, a running init container, instances the spec no longer names), then
 * the sidecars one at a time in reverse order of declaration: upstream's sidecars wait for every
 * regular container, and each for the sidecar declared after it. Without the pod (an orphan) or
 * without a live sidecar: one stage (none when nothing is live).
 */
export function terminationStages<T extends { name: string }>(pod: Pod | null, live: readonly T[]): T[][] {
  const sidecars = (pod?.spec.initContainers ?? []).filter(isRestartableInitContainer).map((c) => c.name);
  const isSidecar = new Set(sidecars);
  const stages = [
    live.filter((c) => !isSidecar.has(c.name)),
    ...sidecars.reverse().map((name) => live.filter((c) => c.name === name)),
  ];
  return stages.filter((stage) => stage.length > 0);
}
