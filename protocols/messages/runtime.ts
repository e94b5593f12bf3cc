/**
 * The runtime's view of a pod (upstream kubecontainer.PodStatus), and the commands and facts
 * exchanged between podWorkers and the runtime actor.
 *
 * Commands (`runtime`, podWorkers → runtime) and replies (`runtimeReply`, runtime → podWorkers and
 * the statusManager) are recorded by --record. Per pod one command is in flight at a time (the pod
 * worker's slot); commands for different pods run concurrently. Each reply carries its command's
 * uid and seq; a pod worker ignores a reply to an older seq. Nothing is retried on the bus: a
 * failed sync is a reply with `error` (the worker resyncs after its backoff), a failed kill or
 * removal a reply with `error` (retried after 10 s); when the runtime actor restarts, podWorkers
 * re-sends the command in flight under a new seq (kernel.actorStarted).
 */
import type { ContainerState, NamespaceMode, PodSandboxState } from '../cri/types.ts';
import type { ContainerPort, LifecycleHandler, Pod, PodStatus } from '../kube/pod.ts';

/** One container as the runtime reports it (CRI ContainerStatus + the labels kubelet-ts wrote). */
export interface RuntimeContainerStatus {
  id: string;
  name: string;
  state: ContainerState;
  /** CRI metadata.attempt: 0 for the first start, +1 per restart. */
  attempt: number;
  createdAt: number; // ms
  startedAt: number; // ms, 0 if never started
  finishedAt: number; // ms, 0 if not exited
  exitCode: number;
  reason: string;
  message: string;
  image: string;
  imageRef: string;
  /** The container hash annotation written at creation: a spec change shows as a new hash. */
  hash: string;
  /** The pod-level restart count annotation. */
  restartCount: number;
  sandboxId: string;
  /**
   * The preStop handler and ports the container was created with (its annotations), when it has
   * a hook: what upstream's restoreSpecsFromContainerLabels gives the kill of an orphan.
   */
  preStop?: { handler: LifecycleHandler; ports: ContainerPort[] };
}

export interface RuntimeSandboxStatus {
  id: string;
  state: PodSandboxState;
  attempt: number;
  createdAt: number; // ms
  ip: string;
  additionalIps: string[];
  /**
   * The sandbox's network namespace mode (CRI status linux.namespaces.options.network), when the
   * runtime reports it: a pod switched to or from hostNetwork needs a new sandbox.
   */
  networkMode?: NamespaceMode;
}

/** Everything the runtime knows about one pod, newest sandbox first. */
export interface RuntimePodStatus {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: RuntimeSandboxStatus[];
  containers: RuntimeContainerStatus[];
  /** Clock time (ms) the status was read. */
  timestamp: number;
}

/** Upstream's waiting reasons that are states, not crashes. */
export type WaitingReason =
  | 'ContainerCreating'
  | 'PodInitializing'
  | 'CrashLoopBackOff'
  | 'ErrImagePull'
  | 'ImagePullBackOff'
  | 'ErrImageNeverPull'
  | 'InvalidImageName'
  | 'CreateContainerConfigError'
  | 'CreateContainerError'
  | 'RunContainerError'
  /** A postStart hook failed: the container was killed (upstream ErrPostStartHook). */
  | 'PostStartHookError';

export interface ContainerWaiting {
  name: string;
  reason: WaitingReason;
  message: string;
  /** For backoff reasons: when the next attempt is allowed (clock ms). */
  retryAt?: number;
}

/** The outcome of one syncPod, as the runtime actor reports it. */
export interface SyncResult {
  /** The pod phase computed after the sync (upstream getPhase). */
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  /** The v1 status computed from the runtime after the sync; the status actor caches it. */
  apiStatus: PodStatus;
  /** Human-readable actions taken, in order ("createSandbox", "start web", "kill sidecar"). */
  actions: string[];
  /** Containers that could not be started and why: these are states, not failures. */
  waiting: ContainerWaiting[];
  /** A sync error (runtime unreachable, sandbox failed); the worker retries with backoff. */
  error?: string;
  status: RuntimePodStatus;
  /** The earliest clock time (ms) another sync could make progress (backoff expiry), if any. */
  retryAt?: number;
}

/** podWorkers → runtime: make the runtime match `pod` (upstream SyncPod). `seq` correlates the reply. */
export interface RuntimeSyncPod {
  type: 'runtime.syncPod';
  uid: string;
  seq: number;
  pod: Pod;
}

/**
 * podWorkers → runtime: a kill arrived while the sync `seq` of the pod is in flight (upstream
 * cancels the sync's context). The runtime stops that sync before its next CRI call and answers
 * `runtime.syncCancelled`, or `runtime.podSynced` if it had already finished; a cancel for a seq
 * that is not running is ignored.
 */
export interface RuntimeCancelSync {
  type: 'runtime.cancelSync';
  uid: string;
  seq: number;
}

/** podWorkers → runtime: stop every container and the sandbox of the pod (upstream KillPod). */
export interface RuntimeKillPod {
  type: 'runtime.killPod';
  uid: string;
  seq: number;
  pod: Pod | null;
  /** Seconds containers get between SIGTERM and SIGKILL. */
  gracePeriodSeconds: number;
}

/** podWorkers → runtime: remove the pod's exited containers and sandboxes (after termination). */
export interface RuntimeRemovePod {
  type: 'runtime.removePod';
  uid: string;
  seq: number;
}

/** runtime → podWorkers, status: reply to runtime.syncPod (same uid and seq). */
export interface RuntimePodSynced {
  type: 'runtime.podSynced';
  uid: string;
  seq: number;
  result: SyncResult;
}

/** runtime → podWorkers, status: reply to runtime.killPod (same uid and seq). */
export interface RuntimePodKilled {
  type: 'runtime.podKilled';
  uid: string;
  seq: number;
  error?: string;
  status: RuntimePodStatus | null;
  /** The v1 status after termination (null for an orphan with no desired pod). */
  apiStatus: PodStatus | null;
}

/**
 * runtime → podWorkers: the sync `seq` stopped at a CRI call boundary after runtime.cancelSync;
 * what it had done so far stays (the kill that follows stops it). It carries no status: the
 * status actor waits for the kill's reply.
 */
export interface RuntimeSyncCancelled {
  type: 'runtime.syncCancelled';
  uid: string;
  seq: number;
}

/** runtime → podWorkers: reply to runtime.removePod. */
export interface RuntimePodRemoved {
  type: 'runtime.podRemoved';
  uid: string;
  seq: number;
  error?: string;
}

export type RuntimeCommand = RuntimeSyncPod | RuntimeCancelSync | RuntimeKillPod | RuntimeRemovePod;
export type RuntimeReply = RuntimePodSynced | RuntimeSyncCancelled | RuntimePodKilled | RuntimePodRemoved;

/** The runtime's health, published by the runtime actor (view `runtimeHealth`). */
export interface RuntimeHealth {
  ready: boolean;
  networkReady: boolean;
  /** e.g. "containerd 1.6.20" once Version answered. */
  runtimeName: string;
  runtimeVersion: string;
  /** Why not ready: the last error, naming the endpoint. */
  reason: string;
  /** Clock ms of the last successful Status call. */
  lastOk: number;
  /** The CRI Status features (admission refuses supplementalGroupsPolicy Strict without it). */
  features?: { supplementalGroupsPolicy: boolean };
}
