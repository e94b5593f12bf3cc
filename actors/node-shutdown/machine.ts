/**
 * One graceful node shutdown episode, as upstream's nodeshutdown manager runs it
 * (pkg/kubelet/nodeshutdown/nodeshutdown_manager_linux.go):
 *
 *   idle ──LOCKED──▶ inhibited ──SHUTDOWN──▶ shuttingDown.regular ──GROUP_DONE|TIMEOUT──▶
 *        shuttingDown.critical ──GROUP_DONE|TIMEOUT──▶ done
 *   inhibited|shuttingDown|done ──CANCELLED──▶ idle (the lock is taken again)
 *   idle ──LOCK_FAILED──▶ idle (logged once by the actor; no graceful shutdown)
 *
 * Each group's pods are killed at the group's entry with a grace of min(the group's period, the
 * pod's terminationGracePeriodSeconds); the group ends when its pods are terminated or when its
 * period passes. Leaving shuttingDown releases the lock (the `release` effect). Pure: the clock
 * time comes in the events; the effects are emitted and the actor carries them out.
 */
import { emit, enqueueActions, setup } from 'xstate';

/** scheduling.SystemCriticalPriority: priorities at or above it are critical pods. */
export const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;
/** The priorities the Priority admission plugin gives the two built-in classes. */
const CLASS_PRIORITY: Record<string, number> = {
  'system-cluster-critical': 2_000_000_000,
  'system-node-critical': 2_000_001_000,
};

export interface ShutdownGroup {
  priority: number;
  graceSeconds: number;
}

/**
 * Upstream migrateConfig: without shutdownGracePeriodByPodPriority, two groups, the regular pods
 * (priority 0 up) with shutdownGracePeriod - shutdownGracePeriodCriticalPods and the critical
 * ones with shutdownGracePeriodCriticalPods. Empty when graceful shutdown is off.
 */
export function shutdownGroups(gracePeriodMs: number, criticalMs: number): ShutdownGroup[] {
  if (gracePeriodMs <= 0) return [];
  return [
    { priority: 0, graceSeconds: Math.floor((gracePeriodMs - criticalMs) / 1000) },
    { priority: SYSTEM_CRITICAL_PRIORITY, graceSeconds: Math.floor(criticalMs / 1000) },
  ];
}

/** The pod's priority: spec.priority, else its built-in class's, else 0. */
export function podPriority(spec: { priority?: number; priorityClassName?: string } | undefined): number {
  return spec?.priority ?? CLASS_PRIORITY[spec?.priorityClassName ?? ''] ?? 0;
}

/**
 * upstream groupByPriority: the group whose priority is the highest at or below the pod's (below
 * the lowest: the lowest; above the highest: the highest).
 */
export function groupOf(groups: readonly ShutdownGroup[], priority: number): number {
  let index = 0;
  groups.forEach((g, i) => {
    if (g.priority <= priority) index = i;
  });
  return index;
}

/** The grace a pod is killed with: the group's period, or the pod's own when shorter. */
export function podShutdownGrace(group: ShutdownGroup, terminationGracePeriodSeconds: number | undefined): number {
  return terminationGracePeriodSeconds !== undefined && terminationGracePeriodSeconds <= group.graceSeconds
    ? terminationGracePeriodSeconds
    : group.graceSeconds;
}

export interface ShutdownContext {
  groups: ShutdownGroup[];
  /** The group being terminated (in shuttingDown). */
  group: number;
}

export type ShutdownEvent =
  | { type: 'LOCKED' }
  | { type: 'LOCK_FAILED' }
  | { type: 'SHUTDOWN'; now: number }
  | { type: 'GROUP_DONE'; now: number }
  | { type: 'TIMEOUT'; now: number }
  | { type: 'CANCELLED' };

export type ShutdownEmitted =
  | { type: 'killGroup'; group: number; graceSeconds: number; until: number }
  | { type: 'nodeShuttingDown'; shuttingDown: boolean }
  | { type: 'release' }
  | { type: 'lock' };

export const shutdownMachine = setup({
  types: {
    context: {} as ShutdownContext,
    events: {} as ShutdownEvent,
    input: {} as { groups: ShutdownGroup[] },
    emitted: {} as ShutdownEmitted,
  },
  actions: {
    killGroup: enqueueActions(({ context, event, enqueue }, params: { group: number }) => {
      if (!('now' in event)) return;
      const g = context.groups[params.group]!;
      enqueue.assign({ group: params.group });
      enqueue.emit({
        type: 'killGroup',
        group: params.group,
        graceSeconds: g.graceSeconds,
        until: event.now + g.graceSeconds * 1000,
      });
    }),
    shuttingDown: emit({ type: 'nodeShuttingDown', shuttingDown: true } as ShutdownEmitted),
    notShuttingDown: emit({ type: 'nodeShuttingDown', shuttingDown: false } as ShutdownEmitted),
    release: emit({ type: 'release' } as ShutdownEmitted),
    lock: emit({ type: 'lock' } as ShutdownEmitted),
  },
}).createMachine({
  id: 'nodeShutdown',
  context: ({ input }) => ({ groups: input.groups, group: 0 }),
  initial: 'idle',
  states: {
    idle: {
      on: { LOCKED: 'inhibited', LOCK_FAILED: 'idle' },
    },
    inhibited: {
      on: {
        SHUTDOWN: { target: 'shuttingDown', actions: 'shuttingDown' },
        CANCELLED: { target: 'idle', actions: 'lock' },
      },
    },
    shuttingDown: {
      initial: 'regular',
      on: { CANCELLED: { target: 'idle', actions: ['notShuttingDown', 'lock'] } },
      states: {
        regular: {
          entry: { type: 'killGroup', params: { group: 0 } },
          on: { GROUP_DONE: 'critical', TIMEOUT: 'critical' },
        },
        critical: {
          entry: { type: 'killGroup', params: { group: 1 } },
          on: { GROUP_DONE: '#nodeShutdown.done', TIMEOUT: '#nodeShutdown.done' },
        },
      },
    },
    done: {
      entry: 'release',
      on: { CANCELLED: { target: 'idle', actions: ['notShuttingDown', 'lock'] } },
    },
  },
});
