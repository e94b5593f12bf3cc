/**
 * syncLoop → podWorkers. Upstream's UpdatePodOptions: one message per pod update; the
 * per-pod slot (one in flight, one pending, latest spec wins, a pending kill is never
 * overwritten) lives in kernel/mailbox.ts and is applied by podWorkers.
 */
import type { Pod } from '../kube/pod.ts';

export type UpdateType = 'create' | 'update' | 'sync' | 'kill';

export interface PodWorkerUpdate {
  type: 'podWorker.update';
  uid: string;
  updateType: UpdateType;
  /** The desired pod; null only for a kill of a pod that is no longer known (orphan). */
  pod: Pod | null;
  /** For kills: the pod was removed from its source; remove its containers after termination. */
  removed?: boolean;
  /** For kills: override of the grace period (seconds). */
  gracePeriodSeconds?: number;
  /** What caused it, for the history and the recorder ("config", "pleg", "tick", ...). */
  cause: string;
}

/** podWorkers → anyone: a pod worker changed state (for status, inspection, specs). */
export interface PodWorkerStateChanged {
  type: 'podWorker.stateChanged';
  uid: string;
  state: 'syncing' | 'terminating' | 'terminated' | 'removed';
}

export type PodWorkerEvent = PodWorkerUpdate | PodWorkerStateChanged;

/** The syncLoop's periodic triggers (kernel timers or a spec send these). */
export interface SyncLoopTick {
  type: 'syncLoop.syncTick';
}
export interface SyncLoopHousekeeping {
  type: 'syncLoop.housekeeping';
}
export type SyncLoopEvent = SyncLoopTick | SyncLoopHousekeeping;

/** View `podWorkerStates`: uid → state summary, written only by podWorkers. */
export interface PodWorkerSummary {
  uid: string;
  name: string;
  namespace: string;
  state: 'syncing' | 'terminating' | 'terminated';
  /**
   * A kill with `removed` reached the worker (or waits in its pending slot): it removes the pod's
   * containers and goes away after termination. Housekeeping re-sends such a kill for a worker
   * whose pod is no longer desired when this is false (the first one was lost).
   */
  removed?: boolean;
  /** Clock ms when the worker next wants a sync (requeue), if scheduled. */
  nextSyncAt?: number;
  lastSyncError?: string;
}
export type PodWorkerStates = ReadonlyMap<string, PodWorkerSummary>;
