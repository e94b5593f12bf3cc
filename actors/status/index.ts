/**
 * statusManager: the single owner of every pod's v1 status on this node (upstream
 * pkg/kubelet/status/status_manager.go), and with `api` its only writer to the API server.
 *
 * The cache: the runtime actor computes a status after each sync/kill; this actor keeps the
 * latest per pod, publishes the `podStatuses` view and `status.podStatusChanged` only when
 * something changed, never lets a terminal phase revert, marks pods rejected by admission Failed
 * (rejectPod), and finalises a pod whose worker terminated (TerminatePod). Each change bumps the
 * pod's version.
 *
 * The writer (cluster mode), per pod:
 *   version > lastWritten ──▶ merge with the API's status (logic.statusForApi)
 *        │  equal to what the API shows ──▶ lastWritten = version (nothing sent)
 *        ▼
 *   PATCH pods/<name>/status (strategic, metadata.uid) to the pod, or a static pod's mirror
 *        ├─ ok ──────────────▶ lastWritten = the version sent; newer versions go next (latest wins)
 *        ├─ 0/429/5xx ───────▶ retry after 500ms doubling to 4s
 *        ├─ 409 / 422 ───────▶ GET: another uid or 404 → stop for that object; 409 → write again
 *        └─ 404 ─────────────▶ stop for that object (a static pod resumes on a new mirror)
 *   lastWritten = version, deletionTimestamp, worker terminated, API phase terminal
 *        ──▶ DELETE with grace 0 and the uid precondition (404 = done) ──▶ nothing more
 * One request per pod at a time; a change while one is in flight is sent after it. Every 10s a
 * reconcile retries what failed or was refused and rewrites what someone else changed, and drops
 * the entries of pods that are neither desired nor held by a worker (upstream
 * RemoveOrphanedStatuses; with or without `api`).
 * Client-side rate limiting is the API client's (kubeAPIQPS/Burst).
 */
import { isDeepStrictEqual } from 'node:util';
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import type { PodStatusApi } from '../../protocols/kube/api.ts';
import { isTerminalPhase, type Pod, type PodStatus } from '../../protocols/kube/pod.ts';
import type { DesiredPods } from '../../protocols/messages/config.ts';
import {
  apiShows,
  canBeDeleted,
  classify,
  finalStatus,
  newestPod,
  RECONCILE_MS,
  rejectedStatus,
  retryDelay,
  statusForApi,
  shutdownStatus,
  statusPatch,
  terminatedStatus,
  viewIsNewer,
  writeTarget,
  type Failure,
  type WriteTarget,
} from './logic.ts';
import { errText } from '../../kernel/log.ts';

export interface StatusDeps {
  /** The API client; without it the actor is the local cache only. */
  api?: PodStatusApi;
  /** Jitter of the retry backoff (default Math.random). */
  random?: () => number;
}

/** One pod's writer state. */
interface PodWrite {
  /** Bumped on each change of the cached status. */
  version: number;
  /** The version the API server holds (written, or found equal). */
  lastWritten: number;
  /** Compare with the API even if the version was written (worker finished, someone else wrote). */
  force: boolean;
  /** A version the server refused (4xx): not sent again until it changes or the reconcile. */
  refusedVersion?: number;
  inFlight: 'patch' | 'get' | 'delete' | null;
  busy: boolean;
  retryPending: boolean;
  retryGen: number;
  retries: number;
  conflictStreak: number;
  lastError: string;
  /** The uid of the object written to; a change (new mirror pod) starts over. */
  targetUid?: string;
  /** The API's latest answer for that object. */
  answered?: Pod;
  /** The object is gone or was replaced: nothing more is written to this uid. */
  goneUid?: string;
  deleted: boolean;
}

/** metav1.Time: RFC 3339, second precision. */
function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['podWorker', 'runtimeReply'],
  produces: ['status'],
  reads: ['desiredPods', 'mirrorPods', 'nodeShutdown', 'podWorkerStates'],
  writes: ['podStatuses'],
});

export const statusManager: ActorSpec<StatusDeps, typeof io> = {
  ...defaultPolicy,
  id: 'statusManager',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { api } = ctx.deps;
    const random = ctx.deps.random ?? Math.random;
    const statuses = new Map<string, PodStatus>(ctx.bus.current('podStatuses') ?? []);
    const writes = new Map<string, PodWrite>();
    /** Pods whose worker reached terminated (upstream podIsFinished). */
    const finished = new Set<string>();
    /** Pods we marked Failed for admission; their state goes when they leave desiredPods. */
    const rejected = new Set<string>();
    const totals = { patches: 0, unchanged: 0, failures: 0, conflicts: 0, retries: 0, deletes: 0, reconciles: 0 };
    const empty = new Map();
    const desired = (): DesiredPods => ctx.bus.current('desiredPods') ?? empty;
    const now = () => rfc3339(ctx.clock.now());

    const publish = () => ctx.bus.publish('podStatuses', new Map(statuses));
    const writeOf = (uid: string): PodWrite => {
      let w = writes.get(uid);
      if (!w) {
        w = {
          version: 1,
          lastWritten: 0,
          force: false,
          inFlight: null,
          busy: false,
          retryPending: false,
          retryGen: 0,
          retries: 0,
          conflictStreak: 0,
          lastError: '',
          deleted: false,
        };
        writes.set(uid, w);
      }
      return w;
    };

    /** Told to terminate by a graceful node shutdown, and the kill has reached its worker (upstream: the kill's status function). */
    const shutdownKilled = (uid: string) => {
      if (!ctx.bus.current('nodeShutdown')?.killing.has(uid)) return false;
      const w = ctx.bus.current('podWorkerStates')?.get(uid);
      return w !== undefined && w.state !== 'syncing';
    };
    const set = (uid: string, proposed: PodStatus) => {
      const prev = statuses.get(uid);
      const d = desired().get(uid);
      const final = finalStatus(writeTarget(d, ctx.bus.current('mirrorPods'))?.viewPod.status, prev);
      if (final === 'kept') return;
      let next = final ?? proposed;
      if (!final && prev && isTerminalPhase(prev.phase) && !isTerminalPhase(next.phase)) {
        ctx.log.info('terminal phase kept', { uid, phase: prev.phase, proposed: next.phase }, 2);
        next = { ...next, phase: prev.phase };
      }
      if (!final && finished.has(uid) && d) next = terminatedStatus(d.pod, next, d.static);
      if (!final && shutdownKilled(uid)) next = shutdownStatus(next, now());
      if (prev && isDeepStrictEqual(prev, next)) return;
      statuses.set(uid, next);
      const w = writes.get(uid);
      if (w) w.version++;
      else writeOf(uid);
      publish();
      ctx.bus.send('status', { type: 'status.podStatusChanged', uid, status: next });
      kick(uid);
    };

    const drop = (uid: string) => {
      writes.delete(uid);
      finished.delete(uid);
      rejected.delete(uid);
      if (statuses.delete(uid)) {
        publish();
        ctx.bus.send('status', { type: 'status.podStatusRemoved', uid });
      }
    };

    // -------------------------------------------------------------------------------------------
    // the writer

    /**
     * upstream podIsFinished: the worker terminated. A pod rejected by admission never had a
     * worker nor a container, so it is finished as soon as it is marked Failed.
     */
    const isFinished = (uid: string): boolean =>
      finished.has(uid) || (rejected.has(uid) && !ctx.bus.current('podWorkerStates')?.has(uid));

    const couldHaveRunningContainers = (uid: string): boolean => {
      if (finished.has(uid)) return false;
      const s = ctx.bus.current('podWorkerStates')?.get(uid)?.state;
      return s !== undefined && s !== 'terminated';
    };

    const scheduleRetry = (uid: string, w: PodWrite) => {
      w.retries++;
      totals.retries++;
      w.retryPending = true;
      const gen = ++w.retryGen;
      const delay = retryDelay(w.retries, random());
      ctx.setTimeout(() => {
        if (writes.get(uid) !== w || w.retryGen !== gen) return;
        w.retryPending = false;
        kick(uid);
      }, delay);
      return delay;
    };

    type Step = { kind: 'patch'; target: WriteTarget; status: PodStatus } | { kind: 'delete'; target: WriteTarget };

    /** What this pod needs next, if anything (updates the bookkeeping of skipped writes). */
    const nextStep = (uid: string, w: PodWrite): Step | undefined => {
      const status = statuses.get(uid);
      if (!status || w.deleted) return undefined;
      const d = desired().get(uid);
      const target = writeTarget(d, ctx.bus.current('mirrorPods'));
      if (!target || target.uid === w.goneUid) return undefined;
      if (w.targetUid !== target.uid) {
        // A first write, or a new mirror pod: start over against that object.
        w.targetUid = target.uid;
        w.answered = undefined;
        w.lastWritten = 0;
        w.refusedVersion = undefined;
      }
      const known = newestPod(w.answered, target.viewPod);
      if ((w.lastWritten !== w.version || w.force) && w.refusedVersion !== w.version) {
        const toWrite = statusForApi({
          local: status,
          api: known?.status,
          couldHaveRunningContainers: couldHaveRunningContainers(uid),
          now: now(),
        });
        if (!apiShows(known?.status, toWrite)) return { kind: 'patch', target, status: toWrite };
        if (w.lastWritten !== w.version) totals.unchanged++;
        w.lastWritten = w.version;
        w.force = false;
      }
      if (
        w.lastWritten === w.version &&
        canBeDeleted(target, d?.pod.metadata.deletionTimestamp, isFinished(uid), known?.status?.phase)
      ) {
        return { kind: 'delete', target };
      }
      return undefined;
    };

    /** After a 409 or 422: the object as it is now. False when it is gone or another object. */
    const reread = async (uid: string, w: PodWrite, target: WriteTarget): Promise<'same' | 'stop'> => {
      w.inFlight = 'get';
      try {
        const pod = await api!.getPod(target.namespace, target.name);
        if (writes.get(uid) !== w) return 'stop';
        if (pod.metadata.uid !== target.uid) {
          ctx.log.info(
            'Pod was deleted and then recreated, skipping status update',
            { pod: `${target.namespace}/${target.name}`, oldPodUID: target.uid, podUID: pod.metadata.uid },
            2,
          );
          w.goneUid = target.uid;
          return 'stop';
        }
        w.answered = pod;
        return 'same';
      } catch (e) {
        w.lastError = errText(e);
        if (classify(e) === 'gone') {
          ctx.log.info(
            'Pod does not exist on the server',
            { pod: `${target.namespace}/${target.name}`, podUID: target.uid },
            3,
          );
          w.goneUid = target.uid;
        } else {
          scheduleRetry(uid, w);
        }
        return 'stop';
      }
    };

    /** Records a failed request; undefined when the pod's state went meanwhile. */
    const failed = (uid: string, w: PodWrite, e: unknown): Failure | undefined => {
      if (writes.get(uid) !== w) return undefined;
      w.lastError = errText(e);
      totals.failures++;
      return classify(e);
    };

    /** One request; true when the loop should look for more work at once. */
    const perform = async (uid: string, w: PodWrite, step: Step): Promise<boolean> => {
      const { target } = step;
      const ref = `${target.namespace}/${target.name}`;
      if (step.kind === 'delete') {
        w.inFlight = 'delete';
        try {
          await api!.deletePod(target.namespace, target.name, { gracePeriodSeconds: 0, uid: target.uid });
          ctx.log.info('Pod fully terminated and removed from etcd', { pod: ref, podUID: target.uid }, 3);
          totals.deletes++;
          w.deleted = true;
          return false;
        } catch (e) {
          const kind = failed(uid, w, e);
          if (!kind) return false;
          if (kind === 'gone') {
            w.deleted = true;
          } else if (kind === 'conflict') {
            // the uid precondition failed: this name is another pod now
            w.goneUid = target.uid;
          } else {
            const delay = scheduleRetry(uid, w);
            ctx.log.info(
              'Failed to delete status for pod',
              { pod: ref, podUID: target.uid, error: w.lastError, retryInMs: delay },
              2,
            );
          }
          return false;
        }
      }

      const sent = w.version;
      w.force = false;
      w.inFlight = 'patch';
      try {
        const pod = await api!.patchPodStatus(
          target.namespace,
          target.name,
          statusPatch(target.uid, step.status),
          'strategic',
        );
        if (writes.get(uid) !== w) return false;
        totals.patches++;
        w.answered = pod;
        w.lastWritten = sent;
        w.retries = 0;
        w.conflictStreak = 0;
        w.lastError = '';
        ctx.log.info(
          'Status for pod updated successfully',
          { pod: ref, podUID: target.uid, statusVersion: sent, phase: step.status.phase },
          3,
        );
        return true;
      } catch (e) {
        const kind = failed(uid, w, e);
        if (!kind) return false;
        ctx.log.info('Failed to update status for pod', { pod: ref, podUID: target.uid, error: w.lastError, kind }, 2);
        switch (kind) {
          case 'retry':
            w.force = true;
            scheduleRetry(uid, w);
            return false;
          case 'gone':
            w.goneUid = target.uid;
            return false;
          case 'conflict':
          case 'invalid': {
            if ((await reread(uid, w, target)) === 'stop') return false;
            if (kind === 'invalid') {
              ctx.log.warn('status refused by the API server; retried at the next reconcile', {
                pod: ref,
                error: w.lastError,
              });
              w.refusedVersion = sent;
              return true;
            }
            totals.conflicts++;
            w.force = true;
            if (++w.conflictStreak <= 3) return true;
            scheduleRetry(uid, w);
            return false;
          }
          case 'refused':
            ctx.log.warn('status refused by the API server; retried at the next reconcile', {
              pod: ref,
              error: w.lastError,
            });
            w.refusedVersion = sent;
            return true;
        }
      }
    };

    const drive = async (uid: string, w: PodWrite): Promise<void> => {
      w.busy = true;
      try {
        for (;;) {
          if (ctx.stopped || writes.get(uid) !== w || w.retryPending) return;
          const step = nextStep(uid, w);
          if (!step) return;
          if (!(await perform(uid, w, step))) return;
        }
      } catch (e) {
        w.lastError = errText(e);
        ctx.log.error('status writer failed', { uid, error: w.lastError });
      } finally {
        w.busy = false;
        w.inFlight = null;
      }
    };

    function kick(uid: string): void {
      if (!api) return;
      const w = writes.get(uid);
      if (!w || w.busy || w.retryPending) return;
      ctx.run(drive(uid, w));
    }

    const kickAll = () => {
      for (const uid of writes.keys()) kick(uid);
    };

    /**
     * upstream RemoveOrphanedStatuses (housekeeping): an entry for a pod no source wants and no
     * worker holds is dropped. The 'removed' fact normally does it; this catches the entries a
     * restarted instance reloaded from its view for pods that went meanwhile.
     */
    const dropOrphans = () => {
      const workers = ctx.bus.current('podWorkerStates');
      for (const uid of new Set([...statuses.keys(), ...writes.keys()])) {
        if (!desired().has(uid) && !workers?.has(uid)) drop(uid);
      }
    };

    const reconcile = () => {
      totals.reconciles++;
      const mirrors = ctx.bus.current('mirrorPods');
      for (const [uid, w] of writes) {
        w.refusedVersion = undefined;
        const target = writeTarget(desired().get(uid), mirrors);
        // Someone else wrote the object since our last answer, or we never had one: compare again.
        if (
          target &&
          target.uid === w.targetUid &&
          (w.answered === undefined || viewIsNewer(w.answered, target.viewPod))
        )
          w.force = true;
        kick(uid);
      }
    };

    // -------------------------------------------------------------------------------------------
    // inputs

    const onDesired = (pods: DesiredPods) => {
      const workers = ctx.bus.current('podWorkerStates');
      for (const [uid, d] of pods) {
        if (!d.rejected || workers?.has(uid)) continue;
        rejected.add(uid);
        set(uid, rejectedStatus(d.pod, d.rejected, statuses.get(uid), now()));
      }
      for (const uid of rejected) {
        if (!pods.has(uid) && !workers?.has(uid)) drop(uid);
      }
      kickAll();
    };

    const onFinished = (uid: string) => {
      finished.add(uid);
      const d = desired().get(uid);
      const base = statuses.get(uid) ?? d?.pod.status;
      if (d && base) set(uid, base);
      const w = writes.get(uid);
      if (w) w.force = true;
      kick(uid);
    };

    ctx.on(ctx.bus.events('runtimeReply'), (r) => {
      if (r.type === 'runtime.podSynced') set(r.uid, r.result.apiStatus);
      else if (r.type === 'runtime.podKilled' && r.apiStatus) set(r.uid, r.apiStatus);
    });
    ctx.on(ctx.bus.events('podWorker'), (m) => {
      if (m.type !== 'podWorker.stateChanged') return;
      if (m.state === 'removed') drop(m.uid);
      else if (m.state === 'terminated') onFinished(m.uid);
      else finished.delete(m.uid);
      const s = statuses.get(m.uid);
      if (m.state === 'terminating' && s && ctx.bus.current('nodeShutdown')?.killing.has(m.uid)) set(m.uid, s);
    });
    for (const [uid, s] of ctx.bus.current('podWorkerStates') ?? []) {
      if (s.state === 'terminated') finished.add(uid);
    }
    for (const uid of statuses.keys()) writeOf(uid);
    ctx.on(ctx.bus.view('desiredPods'), onDesired);
    // a graceful node shutdown: the pods it terminates are Failed once their kill is under way (upstream's killPodFunc status)
    ctx.on(ctx.bus.view('nodeShutdown'), (v) => {
      for (const uid of v.killing.keys()) {
        const s = statuses.get(uid);
        if (s) set(uid, s);
      }
    });
    if (api) ctx.on(ctx.bus.view('mirrorPods'), kickAll);
    ctx.setInterval(() => {
      dropOrphans();
      if (api) reconcile();
    }, RECONCILE_MS);

    ctx.setInspect(() => ({
      pods: statuses.size,
      writer: api ? 'api' : 'none',
      totals,
      writes: [...writes].map(([uid, w]) => ({
        uid,
        version: w.version,
        lastWritten: w.lastWritten,
        inFlight: w.inFlight,
        retries: w.retries,
        lastError: w.lastError || null,
        target: w.targetUid ?? null,
        finished: isFinished(uid),
        state: w.deleted
          ? 'deleted'
          : w.goneUid && w.goneUid === w.targetUid
            ? 'gone'
            : w.retryPending
              ? 'backoff'
              : w.lastWritten === w.version
                ? 'synced'
                : 'pending',
      })),
    }));
    publish();
    kickAll();
  },
};
