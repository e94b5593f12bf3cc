/**
 * syncLoop → podWorkers. Upstream's UpdatePodOptions: one message per pod update; the
 * per-pod slot (one in flight, one pending, latest spec wins, a pending kill is never
 * overwritten) lives in kernel/mailbox.ts and is applied by podWorkers.
 */
import type { Pod } from '../kube/pod.ts';

export type UpdateType = 'create' | 'update' | 'sync' | 'kill';

/**
 * syncLoop → podWorkers (on `podWorker`; recorded by --record): one update of one pod, made by the
 * syncLoop's dispatch from a config change, a PLEG event, the sync tick (`create` for a desired pod
 * without a worker, `sync` once the worker's nextSyncAt passed) or housekeeping (a removing `kill`
 * for an orphan or an undesired worker). Only the syncLoop sends it.
 *
 * Ordering: per pod one update in flight and one pending (KeyedSlots); a newer update replaces the
 * pending one, except that a pending kill is never replaced by a non-kill (that one is dropped).
 * A terminating worker takes nothing from an update but `removed` (a removing kill); an update to a
 * terminated worker other than a removing kill finishes at once. Retry: none per message. A lost
 * update is made up for from the views: the tick re-creates desired pods without a worker (a
 * restarted podWorkers starts empty), and housekeeping re-sends a removing kill while
 * `podWorkerStates` does not show `removed`.
 */
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

/**
 * podWorkers → statusManager (and specs, `inspect tail podWorker`): a pod worker's top state
 * changed, sent on each change in order; `removed` when the worker is done and dropped. The
 * statusManager finalises a pod's status on `terminated` and drops it on `removed`. A fact, never
 * re-sent: the `podWorkerStates` view holds the current states.
 */
export interface PodWorkerStateChanged {
  type: 'podWorker.stateChanged';
  uid: string;
  state: 'syncing' | 'terminating' | 'terminated' | 'removed';
}

export type PodWorkerEvent = PodWorkerUpdate | PodWorkerStateChanged;

/**
 * The syncLoop's periodic triggers: syncLoop → itself (its own timers: syncTick every second,
 * housekeeping every 2 s) or a spec, on `syncLoop` (mailbox priorities 2 and 3; recorded).
 */
export interface SyncLoopTick {
  type: 'syncLoop.syncTick';
}
export interface SyncLoopHousekeeping {
  type: 'syncLoop.housekeeping';
}
export type SyncLoopEvent = SyncLoopTick | SyncLoopHousekeeping;

/**
 * View `podWorkerStates`: uid → state summary, written only by podWorkers (after every change).
 * Readers: the syncLoop (resyncs, workers to create or to tell of a removal), the statusManager,
 * pod-manager's admission, mirror-pods.
 */
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

/** Upstream's minimum for the syncloop health check: 5 minutes, or twice the resync interval when longer. */
export const SYNC_LOOP_MIN_MS = 5 * 60_000;

/**
 * What a reader of `syncLoop` may conclude from its silence (upstream syncLoopHealthCheck): the
 * syncLoop is unhealthy once it has not started an iteration (a tick or housekeeping) within
 * max(2 × syncFrequency, 5 min). Before its first iteration it is healthy. Read by the server's
 * `/healthz/syncloop` and the systemd watchdog.
 */
export function syncLoopHealth(
  lastEntryMs: number | undefined,
  nowMs: number,
  syncFrequencyMs: number,
): string | undefined {
  if (lastEntryMs === undefined) return undefined;
  const limit = Math.max(2 * syncFrequencyMs, SYNC_LOOP_MIN_MS);
  return nowMs > lastEntryMs + limit ? 'sync Loop took longer than expected' : undefined;
}
