/**
 * One pod worker: the lifecycle of one pod UID on this node (upstream pod_workers.go).
 *
 *   syncing.idle ──update──▶ syncing.working ──synced──▶ syncing.idle
 *        │                         │  └─synced(terminal phase)──▶ terminating.killing
 *        │                         └─kill / emit runtime.cancelSync(seq)──▶ terminating.cancelling
 *        │                                                                        │
 *        │          synced(seq) | cancelled(seq) | resend ◀───────────────────────┘
 *        │                              ▼
 *        └──kill──────────────▶ terminating.killing ──killed──▶ terminated.settling
 *                                      └─killed(error)──▶ terminating.retryWait ──10s──▶ killing
 *   terminated.settling ──(removed)──▶ terminated.removing; otherwise ──▶ terminated.idle
 *   terminated.idle ──kill(removed)──▶ terminated.removing ──removed──▶ done (final)
 *           terminated.removing ──removed(error)──▶ terminated.retryWait ──10s──▶ terminated.removing
 *
 * Every state: syncing.idle (waiting for an update or the resync), syncing.working (a syncPod in
 * flight), terminating.cancelling (a kill came while a syncPod was in flight: waiting for the runtime
 * to stop that sync at its next CRI call), terminating.killing (a killPod in flight), terminating.retryWait (the kill failed: 10s
 * pause), terminated.settling (momentary: decides between removing and idle), terminated.idle
 * (stopped, kept until the pod is removed from config), terminated.removing (a removePod in
 * flight), terminated.retryWait (the removal failed: 10s pause), done (final: the actor drops the
 * worker). SyncPod / TerminatingPod / TerminatedPod are upstream's names for the three top states.
 *
 * The machine is pure: it never awaits. Every runtime command is an emitted event
 * (`runtime.syncPod`, `runtime.cancelSync`, `runtime.killPod`, `runtime.removePod`) that the actor
 * forwards to the bus; replies come back as SYNCED / CANCELLED / KILLED / REMOVED with the seq
 * they answer, and a reply for an older seq is ignored (its request was superseded or re-sent
 * after a runtime restart).
 *
 * A kill never waits for a sync in flight to finish (a pod with thousands of containers would
 * keep creating them for minutes): as upstream cancels the sync's context, the worker asks the
 * runtime to stop that sync at its next CRI call boundary and waits in `cancelling` only until
 * the runtime says it has stopped (or finished) it, so the kill's StopContainer calls never race
 * the sync's last CreateContainer. What the cancelled sync reports is ignored.
 *
 * The machine sees at most one update at a time: the one-in-flight / one-pending discipline
 * (latest spec wins, a pending kill is never overwritten, a kill preempts a sync in flight) is
 * kernel/mailbox.ts's KeyedSlots, applied by the actor. When the machine is done with an update
 * it emits `worker.idle`, and the actor hands it the pending one, if any.
 */
import { assign, emit, setup } from 'xstate';
import { isTerminalPhase, type Pod } from '../../protocols/kube/pod.ts';
import type { PodWorkerUpdate, RuntimeCommand, SyncResult } from '../../protocols/messages/channels.ts';

/**
 * Upstream: a successful sync is repeated after resyncInterval to converge; the kubelet sets it
 * from --sync-frequency / KubeletConfiguration syncFrequency (default 1m), the input's resyncIntervalMs.
 */
export const RESYNC_INTERVAL_MS = 60_000;
/** Upstream backOffPeriod: a failed sync is retried after 10s. */
export const SYNC_ERROR_BACKOFF_MS = 10_000;
/** Upstream's default terminationGracePeriodSeconds when the pod does not say. */
export const DEFAULT_GRACE_SECONDS = 30;

export interface PodWorkerContext {
  uid: string;
  pod: Pod | null;
  seq: number;
  /** The pod was removed from config: after termination, remove its containers and sandbox. */
  removed: boolean;
  gracePeriodSeconds: number;
  lastSyncError: string | undefined;
  /** Clock ms at which the worker wants the next sync (upstream's work queue). */
  nextSyncAt: number | undefined;
  /** Set when the pod reached a terminal phase by itself (restartPolicy Never/OnFailure). */
  terminalPhase: 'Succeeded' | 'Failed' | undefined;
  /** How long after a successful sync the next one is due (--sync-frequency). */
  resyncIntervalMs: number;
}

export interface PodWorkerInput {
  uid: string;
  /** --sync-frequency in ms; default RESYNC_INTERVAL_MS. */
  resyncIntervalMs?: number;
}

export type PodWorkerEvent =
  | { type: 'UPDATE'; update: PodWorkerUpdate; now: number }
  | { type: 'SYNCED'; seq: number; result: SyncResult; now: number }
  /** The runtime stopped the sync `seq` after runtime.cancelSync. */
  | { type: 'CANCELLED'; seq: number; now: number }
  | { type: 'KILLED'; seq: number; error?: string; now: number }
  | { type: 'REMOVED'; seq: number; error?: string; now: number }
  /** The runtime actor restarted: whatever it was doing for us is lost; ask again. */
  | { type: 'RESEND' };

export type PodWorkerEmitted = RuntimeCommand | { type: 'worker.idle' };

function graceOf(pod: Pod | null, override: number | undefined): number {
  if (override !== undefined) return Math.max(0, override);
  const fromDeletion = pod?.metadata?.deletionGracePeriodSeconds;
  if (typeof fromDeletion === 'number') return Math.max(0, fromDeletion);
  const fromSpec = pod?.spec?.terminationGracePeriodSeconds;
  return typeof fromSpec === 'number' ? Math.max(0, fromSpec) : DEFAULT_GRACE_SECONDS;
}

export const podWorkerMachine = setup({
  types: {
    context: {} as PodWorkerContext,
    events: {} as PodWorkerEvent,
    input: {} as PodWorkerInput,
    emitted: {} as PodWorkerEmitted,
  },
  guards: {
    isKill: ({ event }) => event.type === 'UPDATE' && event.update.updateType === 'kill',
    isRemovingKill: ({ event }) =>
      event.type === 'UPDATE' && event.update.updateType === 'kill' && event.update.removed === true,
    currentSeq: ({ context, event }) =>
      (event.type === 'SYNCED' || event.type === 'CANCELLED' || event.type === 'KILLED' || event.type === 'REMOVED') &&
      event.seq === context.seq,
    terminalResult: ({ context, event }) =>
      event.type === 'SYNCED' && event.seq === context.seq && isTerminalPhase(event.result.phase),
    failedReply: ({ context, event }) =>
      (event.type === 'KILLED' || event.type === 'REMOVED') && event.seq === context.seq && event.error !== undefined,
  },
  actions: {
    takeUpdate: assign(({ context, event }) => {
      if (event.type !== 'UPDATE') return {};
      const u = event.update;
      return {
        pod: u.pod ?? context.pod,
        removed: context.removed || u.removed === true,
      };
    }),
    takeKill: assign(({ context, event }) => {
      if (event.type !== 'UPDATE') return {};
      const u = event.update;
      const pod = u.pod ?? context.pod;
      return {
        pod,
        removed: context.removed || u.removed === true,
        gracePeriodSeconds: graceOf(pod, u.gracePeriodSeconds),
        nextSyncAt: undefined,
      };
    }),
    /** Termination that the pod reached by itself (terminal phase) uses the spec's grace. */
    startTerminalKill: assign(({ context }) => ({ gracePeriodSeconds: graceOf(context.pod, undefined) })),
    emitSync: emit(
      ({ context }): PodWorkerEmitted => ({
        type: 'runtime.syncPod',
        uid: context.uid,
        seq: context.seq,
        pod: context.pod as Pod,
      }),
    ),
    emitCancel: emit(
      ({ context }): PodWorkerEmitted => ({ type: 'runtime.cancelSync', uid: context.uid, seq: context.seq }),
    ),
    emitKill: emit(
      ({ context }): PodWorkerEmitted => ({
        type: 'runtime.killPod',
        uid: context.uid,
        seq: context.seq,
        pod: context.pod,
        gracePeriodSeconds: context.gracePeriodSeconds,
      }),
    ),
    emitRemove: emit(
      ({ context }): PodWorkerEmitted => ({ type: 'runtime.removePod', uid: context.uid, seq: context.seq }),
    ),
    emitIdle: emit({ type: 'worker.idle' } as PodWorkerEmitted),
    recordSync: assign(({ context, event }) => {
      if (event.type !== 'SYNCED') return {};
      const r = event.result;
      if (r.error !== undefined) {
        return { lastSyncError: r.error, nextSyncAt: event.now + SYNC_ERROR_BACKOFF_MS };
      }
      const resync = event.now + context.resyncIntervalMs;
      return { lastSyncError: undefined, nextSyncAt: r.retryAt !== undefined ? Math.min(r.retryAt, resync) : resync };
    }),
    recordTerminal: assign(({ event }) => {
      if (event.type !== 'SYNCED') return {};
      const phase = event.result.phase;
      return { terminalPhase: isTerminalPhase(phase) ? phase : undefined, lastSyncError: undefined };
    }),
    recordReplyError: assign(({ event }) =>
      event.type === 'KILLED' || event.type === 'REMOVED' ? { lastSyncError: event.error } : {},
    ),
    bumpSeq: assign(({ context }) => ({ seq: context.seq + 1 })),
  },
}).createMachine({
  id: 'podWorker',
  context: ({ input }) => ({
    uid: input.uid,
    pod: null,
    seq: 0,
    removed: false,
    gracePeriodSeconds: DEFAULT_GRACE_SECONDS,
    lastSyncError: undefined,
    nextSyncAt: undefined,
    terminalPhase: undefined,
    resyncIntervalMs: input.resyncIntervalMs ?? RESYNC_INTERVAL_MS,
  }),
  initial: 'syncing',
  states: {
    syncing: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            UPDATE: [
              { guard: 'isKill', target: '#podWorker.terminating', actions: 'takeKill' },
              { target: 'working', actions: 'takeUpdate' },
            ],
          },
        },
        working: {
          entry: ['bumpSeq', 'emitSync'],
          on: {
            SYNCED: [
              {
                guard: 'terminalResult',
                target: '#podWorker.terminating',
                actions: ['recordTerminal', 'startTerminalKill'],
              },
              { guard: 'currentSeq', target: 'idle', actions: ['recordSync', 'emitIdle'] },
            ],
            RESEND: { actions: ['bumpSeq', 'emitSync'] },
            // podWorkers delivers a kill here at once (KeyedSlots 'preempt'), never a non-kill.
            UPDATE: {
              guard: 'isKill',
              target: '#podWorker.terminating.cancelling',
              actions: ['takeKill', 'emitCancel'],
            },
          },
        },
      },
    },
    terminating: {
      initial: 'killing',
      states: {
        // The sync that was in flight when the kill came is being stopped at its next CRI call.
        cancelling: {
          on: {
            SYNCED: { guard: 'currentSeq', target: 'killing' },
            CANCELLED: { guard: 'currentSeq', target: 'killing' },
            // The runtime restarted: the sync died with it.
            RESEND: { target: 'killing' },
            UPDATE: { guard: 'isRemovingKill', actions: assign({ removed: true }) },
          },
        },
        killing: {
          entry: ['bumpSeq', 'emitKill'],
          on: {
            // A kill that failed (runtime down) is retried after a pause: a pod being
            // terminated never goes back to running, and termination finishes before cleanup.
            KILLED: [
              { guard: 'failedReply', target: 'retryWait', actions: 'recordReplyError' },
              { guard: 'currentSeq', target: '#podWorker.terminated', actions: 'recordReplyError' },
            ],
            RESEND: { actions: ['bumpSeq', 'emitKill'] },
            // A later kill only adds "removed from config"; the running kill stands (upstream
            // lets it shorten the grace period; that arrives with API deletions).
            UPDATE: { guard: 'isRemovingKill', actions: assign({ removed: true }) },
          },
        },
        retryWait: {
          after: { [SYNC_ERROR_BACKOFF_MS]: 'killing' },
          on: { UPDATE: { guard: 'isRemovingKill', actions: assign({ removed: true }) } },
        },
      },
    },
    terminated: {
      initial: 'settling',
      states: {
        // The kill finished: hand the worker back so a pending update (the removal) can run.
        settling: {
          always: [
            { guard: ({ context }) => context.removed, target: 'removing' },
            { target: 'idle', actions: 'emitIdle' },
          ],
        },
        idle: {
          on: {
            UPDATE: [
              { guard: 'isRemovingKill', target: 'removing', actions: assign({ removed: true }) },
              // Updates to a terminated pod change nothing (upstream); finish them at once.
              { actions: 'emitIdle' },
            ],
          },
        },
        removing: {
          entry: ['bumpSeq', 'emitRemove'],
          on: {
            REMOVED: [
              { guard: 'failedReply', target: 'retryWait', actions: 'recordReplyError' },
              { guard: 'currentSeq', target: '#podWorker.done' },
            ],
            RESEND: { actions: ['bumpSeq', 'emitRemove'] },
          },
        },
        retryWait: { after: { [SYNC_ERROR_BACKOFF_MS]: 'removing' } },
      },
    },
    done: { type: 'final', entry: 'emitIdle' },
  },
});
