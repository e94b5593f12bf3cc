/**
 * podWorkers: one xstate machine per pod UID (machine.ts), fed by the syncLoop one update at a
 * time through KeyedSlots (one in flight, one pending, latest spec wins, a pending kill is never
 * overwritten, a kill preempts a sync in flight and cancels it), talking to the runtime actor by
 * message.
 *
 * Publishes the view `podWorkerStates` (what the syncLoop reads to requeue syncs) and
 * `podWorker.stateChanged` facts. A restarted instance starts empty: the syncLoop's next tick
 * sees desired pods without a worker and dispatches `create` for them, and since syncPod is
 * level-triggered against the runtime, running pods are adopted, not restarted.
 */
import { createActor, type Actor } from 'xstate';
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { KeyedSlots } from '../../kernel/mailbox.ts';
import type { PodWorkerSummary, PodWorkerUpdate, RuntimeReply } from '../../protocols/messages/channels.ts';
import { podWorkerMachine, type PodWorkerEmitted } from './machine.ts';

const HISTORY_LIMIT = 50;

interface Worker {
  actor: Actor<typeof podWorkerMachine>;
  history: { at: number; state: string; cause: string }[];
  lastState: string;
}

export interface PodWorkersDeps {
  /** --sync-frequency: a running pod's worker asks for a resync this long after its last sync (default 1m). */
  resyncIntervalMs?: number;
}

function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value as Record<string, unknown>)[0]!;
  return `${k}.${stateName(v)}`;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['kernel', 'podWorker', 'runtimeReply'],
  produces: ['podWorker', 'runtime'],
  writes: ['podWorkerStates'],
});

export const podWorkers: ActorSpec<PodWorkersDeps, typeof io> = {
  ...defaultPolicy,
  id: 'podWorkers',
  dependsOn: ['runtime'],
  channels: io,
  start(ctx) {
    const workers = new Map<string, Worker>();
    const slots = new KeyedSlots<string, PodWorkerUpdate>({ isKill: (u) => u.updateType === 'kill' });

    const publish = () => {
      const view = new Map<string, PodWorkerSummary>();
      for (const [uid, w] of workers) {
        const snap = w.actor.getSnapshot();
        const top = stateName(snap.value).split('.')[0];
        if (top === 'done') continue;
        const pod = snap.context.pod;
        view.set(uid, {
          uid,
          name: pod?.metadata?.name ?? '',
          namespace: pod?.metadata?.namespace ?? '',
          state: top as PodWorkerSummary['state'],
          removed: snap.context.removed || slots.pending(uid)?.removed === true,
          nextSyncAt:
            top === 'syncing' && stateName(snap.value) === 'syncing.idle' ? snap.context.nextSyncAt : undefined,
          lastSyncError: snap.context.lastSyncError,
        });
      }
      ctx.bus.publish('podWorkerStates', view);
    };

    const lastCause = new Map<string, string>();

    const deliver = (uid: string, update: PodWorkerUpdate) => {
      let w = workers.get(uid);
      if (!w) {
        const actor = createActor(podWorkerMachine, {
          input: { uid, resyncIntervalMs: ctx.deps.resyncIntervalMs },
          clock: ctx.clock,
        });
        const worker: Worker = { actor, history: [], lastState: '' };
        w = worker;
        workers.set(uid, worker);
        actor.on('*', (ev: PodWorkerEmitted) => onEmitted(uid, ev));
        actor.subscribe((snap) => {
          const state = stateName(snap.value);
          if (state === worker.lastState) return;
          const top = state.split('.')[0]!;
          const prevTop = worker.lastState.split('.')[0];
          worker.lastState = state;
          worker.history.push({ at: ctx.clock.now(), state, cause: lastCause.get(uid) ?? '' });
          if (worker.history.length > HISTORY_LIMIT) worker.history.shift();
          if (top !== prevTop) {
            ctx.bus.send('podWorker', {
              type: 'podWorker.stateChanged',
              uid,
              state: top === 'done' ? 'removed' : (top as 'syncing' | 'terminating' | 'terminated'),
            });
          }
        });
        actor.start();
      }
      lastCause.set(uid, `${update.updateType}:${update.cause}`);
      w.actor.send({ type: 'UPDATE', update, now: ctx.clock.now() });
      publish();
    };

    const onEmitted = (uid: string, ev: PodWorkerEmitted) => {
      if (ev.type === 'worker.idle') {
        const w = workers.get(uid);
        if (w && w.actor.getSnapshot().status === 'done') {
          w.actor.stop();
          workers.delete(uid);
          lastCause.delete(uid);
          // Anything still pending was for a pod that no longer exists here; a new create
          // for the same UID would start a fresh worker.
          const next = slots.complete(uid);
          slots.forget(uid);
          publish();
          if (next && next.updateType !== 'kill') {
            if (slots.offer(uid, next) === 'start') deliver(uid, next);
          }
          return;
        }
        const next = slots.complete(uid);
        if (next) deliver(uid, next);
        else publish();
        return;
      }
      ctx.bus.send('runtime', ev);
    };

    const onReply = (r: RuntimeReply) => {
      const w = workers.get(r.uid);
      if (!w) return;
      const now = ctx.clock.now();
      if (r.type === 'runtime.podSynced') w.actor.send({ type: 'SYNCED', seq: r.seq, result: r.result, now });
      else if (r.type === 'runtime.syncCancelled') w.actor.send({ type: 'CANCELLED', seq: r.seq, now });
      else if (r.type === 'runtime.podKilled') w.actor.send({ type: 'KILLED', seq: r.seq, error: r.error, now });
      else w.actor.send({ type: 'REMOVED', seq: r.seq, error: r.error, now });
      publish();
    };

    ctx.on(ctx.bus.events('podWorker'), (m) => {
      if (m.type !== 'podWorker.update') return;
      const offered = slots.offer(m.uid, m);
      // A kill that preempts a sync in flight goes to the worker now: it cancels that sync.
      if (offered === 'start' || offered === 'preempt') deliver(m.uid, m);
      else if (m.removed && workers.has(m.uid)) publish(); // the view says removal is on its way
    });
    ctx.on(ctx.bus.events('runtimeReply'), onReply);
    ctx.on(ctx.bus.events('kernel'), (m) => {
      // The runtime actor restarted: replies to commands in flight will never come.
      if (m.type === 'kernel.actorStarted' && m.id === 'runtime' && m.restarts > 0) {
        for (const w of workers.values()) w.actor.send({ type: 'RESEND' });
      }
    });

    ctx.setInspect(() => ({
      workers: [...workers.entries()].map(([uid, w]) => {
        const snap = w.actor.getSnapshot();
        return {
          uid,
          pod: snap.context.pod ? `${snap.context.pod.metadata?.namespace}/${snap.context.pod.metadata?.name}` : null,
          state: stateName(snap.value),
          seq: snap.context.seq,
          inFlight: slots.inFlight(uid)?.updateType ?? null,
          pending: slots.pending(uid)?.updateType ?? null,
          nextSyncAt: snap.context.nextSyncAt ?? null,
          lastSyncError: snap.context.lastSyncError ?? null,
          history: w.history,
        };
      }),
    }));
    publish();

    return {
      stop() {
        for (const w of workers.values()) w.actor.stop();
        workers.clear();
      },
    };
  },
};
