/**
 * The syncLoop (upstream kubelet.syncLoopIteration), as a supervised actor owned by the kernel.
 *
 * Go's `select` picks among ready channels at random; here the sources are merged in a fixed
 * priority into a FIFO mailbox (kernel/mailbox.ts), so the same inputs always produce the same
 * dispatches:
 *   0 podManager  config changes (add / update / remove)
 *   1 pleg        container lifecycle events
 *   2 probes      a probe result changed: a liveness failure, any readiness or startup
 *                 change syncs the pod (upstream handleProbeSync)
 *   3 syncTick    every second: pods whose worker asked for a resync by now (--sync-frequency
 *                 after its last sync, or a backoff expiry), and desired pods without a worker
 *                 (e.g. after podWorkers restarted, or a static pod whose namesake has now
 *                 terminated: staticStartHeld)
 *   4 housekeeping every 2s: pods running on the node that no source wants any more, and
 *                 workers of undesired pods that were never told to remove them; nothing
 *                 until every configured source has listed once (pod-manager's readySources)
 * Each message becomes zero or more `podWorker.update`s (`dispatch`, a pure function); the
 * per-pod slot discipline is applied by podWorkers.
 */
import { filter, type Observable } from 'rxjs';
import type { ActorSpec } from './actor.ts';
import { channels, defaultPolicy } from './actor.ts';
import { PriorityMailbox } from './mailbox.ts';
import { isTerminalPhase, type Pod } from '../protocols/kube/pod.ts';
import type {
  DesiredPod,
  DesiredPods,
  PlegEvent,
  PodSource,
  PodManagerEvent,
  PodWorkerStates,
  PodWorkerUpdate,
  ProbeEvent,
  RuntimePods,
  SyncLoopEvent,
} from '../protocols/messages/channels.ts';

export type SyncLoopInput = PodManagerEvent | PlegEvent | ProbeEvent | SyncLoopEvent;

export interface SyncLoopViews {
  desired: DesiredPods;
  workers: PodWorkerStates;
  runtimePods: RuntimePods;
  sourcesReady: boolean;
  now: number;
  /** The nodeShutdown view's pods to terminate for a graceful node shutdown: uid → grace (seconds). */
  shutdownKills?: ReadonlyMap<string, number>;
}

/**
 * A pod the API server already shows finished (phase Succeeded or Failed: evicted, completed,
 * rejected before a restart). Upstream's pod worker treats it as terminating from its first
 * update and never starts it again; here it gets a kill instead of a create/update/sync.
 */
export function isTerminalPod(pod: Pod): boolean {
  return isTerminalPhase(pod.status?.phase);
}

/**
 * upstream allowStaticPodStart: a static pod without a worker does not start while another
 * worker for the same full name (namespace/name: the previous version of an edited manifest,
 * which has another uid) has not terminated, so the two never run side by side (same host ports,
 * same data directories). Nothing is sent for it meanwhile; the syncTick creates it once the old
 * worker is terminated or gone. A first start (no namesake worker) is never held.
 */
export function staticStartHeld(uid: string, d: DesiredPod | undefined, v: SyncLoopViews): boolean {
  if (!d?.static || v.workers.has(uid)) return false;
  const { name, namespace } = d.pod.metadata ?? {};
  for (const [other, w] of v.workers) {
    if (other !== uid && w.name === name && w.namespace === namespace && w.state !== 'terminated') return true;
  }
  return false;
}

/** Upstream HandlePodCleanups' PodTerminationGracePeriodSecondsOverride for orphaned runtime pods. */
export const ORPHAN_GRACE_SECONDS = 1;

/**
 * What one mailbox message asks of the pod workers. Pure. During a graceful node shutdown every
 * kill of a pod it terminates carries its shutdown grace (the pod may come back terminal, its
 * Failed status set by the statusManager, before the tick's kill).
 */
export function dispatch(msg: SyncLoopInput, v: SyncLoopViews): PodWorkerUpdate[] {
  const out = dispatchOne(msg, v);
  const kills = v.shutdownKills;
  if (!kills?.size) return out;
  return out.map((u) =>
    u.updateType === 'kill' && u.gracePeriodSeconds === undefined && kills.has(u.uid)
      ? { ...u, gracePeriodSeconds: kills.get(u.uid)! }
      : u,
  );
}

function dispatchOne(msg: SyncLoopInput, v: SyncLoopViews): PodWorkerUpdate[] {
  switch (msg.type) {
    case 'podManager.podChanged': {
      const uid = msg.pod.metadata?.uid ?? '';
      if (msg.op === 'remove') {
        return [
          { type: 'podWorker.update', uid, updateType: 'kill', pod: msg.pod, removed: true, cause: 'config.remove' },
        ];
      }
      // Rejected by admission: never started (the status manager reports it Failed).
      if (v.desired.get(uid)?.rejected) return [];
      // Deleted in the API (upstream HandlePodUpdates → deletionTimestamp): terminate within the
      // API's grace period; the object goes away (and the worker with it) once the status
      // manager has written the final status and deleted it.
      if (msg.pod.metadata?.deletionTimestamp) {
        return [{ type: 'podWorker.update', uid, updateType: 'kill', pod: msg.pod, cause: 'config.delete' }];
      }
      // Finished in the API (e.g. after a restart): stop whatever still runs, start nothing.
      if (isTerminalPod(msg.pod)) {
        return [{ type: 'podWorker.update', uid, updateType: 'kill', pod: msg.pod, cause: 'config.terminal' }];
      }
      if (staticStartHeld(uid, v.desired.get(uid), v)) return [];
      return [
        {
          type: 'podWorker.update',
          uid,
          updateType: msg.op === 'add' ? 'create' : 'update',
          pod: msg.pod,
          cause: `config.${msg.op}`,
        },
      ];
    }
    case 'pleg.containerStarted':
    case 'pleg.containerDied':
    case 'pleg.containerRemoved':
    case 'pleg.containerChanged': {
      const desired = v.desired.get(msg.podUid);
      // Events of pods no source wants are housekeeping's business, not a sync.
      if (!desired || desired.rejected || staticStartHeld(msg.podUid, desired, v)) return [];
      return [{ type: 'podWorker.update', uid: msg.podUid, updateType: 'sync', pod: desired.pod, cause: msg.type }];
    }
    case 'probe.resultChanged': {
      // upstream syncLoopIteration: a liveness success needs nothing; the rest syncs the pod
      if (msg.probeType === 'liveness' && msg.result === 'success') return [];
      const desired = v.desired.get(msg.podUid);
      if (!desired || desired.rejected || !v.workers.has(msg.podUid)) return [];
      return [
        {
          type: 'podWorker.update',
          uid: msg.podUid,
          updateType: 'sync',
          pod: desired.pod,
          cause: `probe.${msg.probeType}`,
        },
      ];
    }
    case 'syncLoop.syncTick': {
      const out: PodWorkerUpdate[] = [];
      for (const [uid, d] of v.desired) {
        if (d.rejected) continue;
        const w = v.workers.get(uid);
        const shutdownGrace = v.shutdownKills?.get(uid);
        // a graceful node shutdown: the pod terminates within its share of the grace period, and is not started again
        if (shutdownGrace !== undefined) {
          if (w?.state === 'syncing')
            out.push({
              type: 'podWorker.update',
              uid,
              updateType: 'kill',
              pod: d.pod,
              gracePeriodSeconds: shutdownGrace,
              cause: 'tick.nodeShutdown',
            });
          continue;
        }
        if (!w) {
          const kill = d.pod.metadata?.deletionTimestamp !== undefined || isTerminalPod(d.pod);
          if (!kill && staticStartHeld(uid, d, v)) continue;
          out.push({
            type: 'podWorker.update',
            uid,
            updateType: kill ? 'kill' : 'create',
            pod: d.pod,
            cause: 'tick.noWorker',
          });
        } else if (w.state === 'syncing' && w.nextSyncAt !== undefined && w.nextSyncAt <= v.now) {
          out.push({ type: 'podWorker.update', uid, updateType: 'sync', pod: d.pod, cause: 'tick.resync' });
        }
      }
      return out;
    }
    case 'syncLoop.housekeeping': {
      // Until every source has listed once, an unknown pod may simply not be read yet.
      if (!v.sourcesReady) return [];
      const out: PodWorkerUpdate[] = [];
      for (const uid of v.runtimePods.keys()) {
        if ((v.desired.has(uid) && !v.desired.get(uid)!.rejected) || v.workers.has(uid)) continue;
        // Upstream HandlePodCleanups kills such a pod aggressively, with a 1 s grace period
        // override rather than the grace its containers' labels carry: every source has listed,
        // so nobody wants it (a pod force-deleted in the API, a manifest removed while the
        // kubelet was down).
        out.push({
          type: 'podWorker.update',
          uid,
          updateType: 'kill',
          pod: null,
          removed: true,
          gracePeriodSeconds: ORPHAN_GRACE_SECONDS,
          cause: 'housekeeping.orphan',
        });
      }
      // Any worker whose pod is no longer desired and that was never told so (its removing kill
      // was lost, e.g. the syncLoop restarted in between): terminating and terminated ones too,
      // else a terminated worker and its stopped containers stay forever.
      for (const [uid, w] of v.workers) {
        if (!v.desired.has(uid) && !w.removed) {
          out.push({
            type: 'podWorker.update',
            uid,
            updateType: 'kill',
            pod: null,
            removed: true,
            cause: 'housekeeping.undesired',
          });
        }
      }
      return out;
    }
  }
}

export interface SyncLoopDeps {
  /**
   * The configured pod sources, exactly (upstream registers a source only when it is configured:
   * file with a manifest path, http with a manifest URL, api with a kubeconfig); housekeeping
   * waits until each has listed once. Empty: nothing to wait for.
   */
  sources: readonly PodSource[];
  /** Upstream's syncTicker period: 1s. */
  syncTickMs?: number;
  /** Upstream's housekeeping period: 2s. */
  housekeepingMs?: number;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['pleg', 'podManager', 'probe', 'syncLoop'],
  produces: ['podWorker', 'syncLoop'],
  reads: ['desiredPods', 'nodeShutdown', 'podWorkerStates', 'readySources', 'runtimePods'],
});

export const syncLoop: ActorSpec<SyncLoopDeps, typeof io> = {
  ...defaultPolicy,
  id: 'syncLoop',
  dependsOn: ['podManager', 'podWorkers', 'pleg'],
  channels: io,
  start(ctx) {
    const empty = new Map();
    // Readiness is pod-manager's readySources view, read when it is needed: a source that
    // listed before this instance subscribed (the file source at start, or while the syncLoop
    // restarted) is not lost, as a one-shot sourcesReady event heard too late would be.
    const waitingFor = (): PodSource[] => {
      const ready = ctx.bus.current('readySources');
      return ctx.deps.sources.filter((s) => !ready?.has(s));
    };
    const ticks = ctx.bus.events('syncLoop');
    const mailbox = new PriorityMailbox<SyncLoopInput>([
      { name: 'podManager', source: ctx.bus.events('podManager') as Observable<SyncLoopInput> },
      { name: 'pleg', source: ctx.bus.events('pleg') as Observable<SyncLoopInput> },
      { name: 'probes', source: ctx.bus.events('probe') as Observable<SyncLoopInput> },
      {
        name: 'syncTick',
        source: ticks.pipe(filter((m) => m.type === 'syncLoop.syncTick')) as Observable<SyncLoopInput>,
      },
      {
        name: 'housekeeping',
        source: ticks.pipe(filter((m) => m.type === 'syncLoop.housekeeping')) as Observable<SyncLoopInput>,
      },
    ]);
    let dispatched = 0;
    const handle = (msg: SyncLoopInput) => {
      const updates = dispatch(msg, {
        desired: ctx.bus.current('desiredPods') ?? empty,
        workers: ctx.bus.current('podWorkerStates') ?? empty,
        runtimePods: ctx.bus.current('runtimePods') ?? empty,
        sourcesReady: waitingFor().length === 0,
        now: ctx.clock.now(),
        shutdownKills: ctx.bus.current('nodeShutdown')?.killing,
      });
      for (const u of updates) {
        dispatched++;
        ctx.bus.send('podWorker', u);
      }
    };
    ctx.on(mailbox.messages(), handle);
    ctx.setInterval(() => ctx.bus.send('syncLoop', { type: 'syncLoop.syncTick' }), ctx.deps.syncTickMs ?? 1000);
    ctx.setInterval(() => ctx.bus.send('syncLoop', { type: 'syncLoop.housekeeping' }), ctx.deps.housekeepingMs ?? 2000);
    ctx.setInspect(() => ({
      mailboxDepth: mailbox.depth(),
      mailbox: mailbox.depthBy(),
      dispatched,
      sourcesReady: waitingFor().length === 0,
      waitingFor: waitingFor(),
    }));
    return { stop: () => mailbox.stop() };
  },
};
