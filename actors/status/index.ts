/**
 * statusManager (local half): the single owner of every pod's v1 status on this node. The
 * runtime actor computes a status after each sync/kill; this actor keeps the latest per pod,
 * publishes the `podStatuses` view and `status.podStatusChanged` only when something changed,
 * and never lets a terminal phase (Succeeded/Failed) revert, as upstream's status manager
 * guards. Writing to the API server joins here later (coalesced, one writer per pod).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import type { PodStatus } from '../../protocols/kube/pod.ts';

export type StatusDeps = Record<string, never>;

function isTerminal(phase: string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

export const statusManager: ActorSpec<StatusDeps> = {
  ...defaultPolicy,
  id: 'statusManager',
  dependsOn: [],
  start(ctx) {
    const statuses = new Map<string, PodStatus>(ctx.bus.current('podStatuses') ?? []);
    const publish = () => ctx.bus.publish('podStatuses', new Map(statuses));

    const set = (uid: string, next: PodStatus) => {
      const prev = statuses.get(uid);
      if (prev && isTerminal(prev.phase) && !isTerminal(next.phase)) {
        ctx.log.info('terminal phase kept', { uid, phase: prev.phase, proposed: next.phase }, 2);
        next = { ...next, phase: prev.phase };
      }
      if (prev && isDeepStrictEqual(prev, next)) return;
      statuses.set(uid, next);
      publish();
      ctx.bus.send('status', { type: 'status.podStatusChanged', uid, status: next });
    };

    ctx.on(ctx.bus.events('runtimeReply'), (r) => {
      if (r.type === 'runtime.podSynced') set(r.uid, r.result.apiStatus);
      else if (r.type === 'runtime.podKilled' && r.apiStatus) set(r.uid, r.apiStatus);
    });
    ctx.on(ctx.bus.events('podWorker'), (m) => {
      if (m.type === 'podWorker.stateChanged' && m.state === 'removed' && statuses.delete(m.uid)) {
        publish();
        ctx.bus.send('status', { type: 'status.podStatusRemoved', uid: m.uid });
      }
    });
    ctx.setInspect(() => ({ pods: statuses.size }));
    publish();
  },
};
