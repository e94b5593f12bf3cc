/**
 * mirrorPods: every static pod of this node (file or http source) has a mirror pod in the API
 * server, so the cluster sees it (upstream mirror_client.go, with the mirror handling of
 * kubelet.go syncPod and HandlePodCleanups). logic.ts decides; this actor reads the views, runs
 * the API calls and remembers its own writes.
 *
 * A reconcile runs when `desiredPods`, `mirrorPods` or `node` change and every resyncMs (10 s);
 * one is in flight at a time, and triggers meanwhile collapse into one more after it. It reads:
 * - `desiredPods` for the static pods (rejected ones get no mirror);
 * - `mirrorPods` (the API pod source's view) for what the API server holds; until that view is
 *   published (after the source's first successful list), a LIST of this node's pods
 *   (fieldSelector spec.nodeName) stands in for it;
 * - `node` for the owner reference's uid: creates wait for it;
 * - `podWorkerStates`: an orphaned mirror stays until its static pod's worker has terminated.
 * Orphans are deleted only once every configured source has listed (`config.sourcesReady`), as
 * upstream cleans up only when its sources are ready: a kubelet starting up must not delete the
 * mirrors of static pods it has not read yet. A restarted instance takes the sources that have
 * listed from the syncLoop's `readySources` view.
 *
 * Every API error is logged and the next reconcile retries (a refused create backs off, its
 * cause said once: logic.ts); a 409 AlreadyExists on create and a
 * 404 / 409 (uid precondition) on delete are the view lagging behind, not errors.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy, serial } from '../../kernel/actor.ts';
import { ApiError, type MirrorPodApi } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { MirrorPods, PodSource } from '../../protocols/messages/config.ts';
import type {} from '../../protocols/messages/channels.ts';
import {
  created,
  createFailed,
  deleted,
  initialState,
  mirrorPodsOf,
  plan,
  notTerminatedNames,
  type MirrorAction,
  type MirrorState,
} from './logic.ts';
import { errText } from '../../kernel/log.ts';

/** Periodic reconcile (the kubelet's housekeeping syncs mirrors at least this often). */
export const DEFAULT_RESYNC_MS = 10_000;

export interface MirrorPodsDeps {
  api: MirrorPodApi;
  nodeName: string;
  /** The configured pod sources; orphans are deleted once each has listed. Default: file. */
  sources?: readonly PodSource[];
  resyncMs?: number;
}

const isCode = (e: unknown, ...codes: number[]): boolean => e instanceof ApiError && codes.includes(e.code);

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['config'],
  reads: ['desiredPods', 'mirrorPods', 'node', 'podWorkerStates', 'readySources'],
});

export const mirrorPods: ActorSpec<MirrorPodsDeps, typeof io> = {
  ...defaultPolicy,
  id: 'mirrorPods',
  dependsOn: ['podManager'],
  channels: io,
  start(ctx) {
    const { api, nodeName } = ctx.deps;
    const waitingFor = new Set<PodSource>(ctx.deps.sources ?? ['file']);
    let state: MirrorState = initialState();
    let holding: string | undefined;
    let retryScheduledAt: number | undefined;
    const stats = { reconciles: 0, creates: 0, deletes: 0, failures: 0, lastError: '', lastReconcileAt: -1 };

    const fail = (what: string, pod: string, e: unknown) => {
      stats.failures++;
      stats.lastError = `${what} ${pod}: ${errText(e)}`;
      ctx.log.warn(`failed ${what} mirror pod, will retry`, { pod, error: errText(e) });
    };

    /** POST the mirror; a 409 AlreadyExists counts as done (the view will show what holds the name). */
    const create = async (key: string, hash: string, pod: Pod): Promise<void> => {
      try {
        await api.createPod(pod.metadata.namespace, pod);
        stats.creates++;
        ctx.log.info('created mirror pod', { pod: key, hash }, 2);
      } catch (e) {
        if (!isCode(e, 409)) return createRefused(key, hash, e);
        ctx.log.info('mirror pod already exists', { pod: key }, 4);
      }
      state = created(state, key, hash, ctx.clock.now());
    };

    /** A failed create: backed off when refused (logic.createFailed), said once per cause. */
    const createRefused = (key: string, hash: string, e: unknown): void => {
      const refused = e instanceof ApiError && e.code >= 400 && e.code < 500 && e.code !== 429;
      const r = createFailed(state, key, hash, errText(e), refused, ctx.clock.now());
      state = r.state;
      stats.failures++;
      stats.lastError = `creating ${key}: ${errText(e)}`;
      const retryInMs = r.retryAt - ctx.clock.now();
      if (r.report)
        ctx.log.warn('failed creating mirror pod, will retry', {
          pod: key,
          error: errText(e),
          ...(refused ? { retryInMs } : {}),
        });
      else
        ctx.log.info(
          'failed creating mirror pod again',
          { pod: key, error: errText(e), ...(refused ? { retryInMs } : {}) },
          4,
        );
    };

    /** DELETE with the uid precondition and grace 0; true when that object is gone. */
    const remove = async (a: Extract<MirrorAction, { type: 'delete' }>): Promise<boolean> => {
      try {
        await api.deletePod(a.namespace, a.name, { gracePeriodSeconds: 0, uid: a.uid });
        stats.deletes++;
        ctx.log.info('deleted mirror pod', { pod: a.key, uid: a.uid, reason: a.reason }, 2);
      } catch (e) {
        // 409: the uid precondition failed, a newer mirror holds the name: the view will show it
        if (isCode(e, 409)) return false;
        if (!isCode(e, 404)) {
          fail('deleting', a.key, e);
          return false;
        }
      }
      state = deleted(state, a.key, a.uid, ctx.clock.now());
      return true;
    };

    const currentMirrors = async (): Promise<MirrorPods | undefined> => {
      const view = ctx.bus.current('mirrorPods');
      if (view) return view;
      try {
        const list = await api.listPods({ fieldSelector: `spec.nodeName=${nodeName}` });
        return mirrorPodsOf(list.items, nodeName);
      } catch (e) {
        fail('listing', `pods of node ${nodeName}`, e);
        return undefined;
      }
    };

    const reconcile = async (): Promise<void> => {
      const mirrors = await currentMirrors();
      if (!mirrors || ctx.stopped) return;
      const sourcesReady = waitingFor.size === 0;
      const p = plan(state, {
        nodeName,
        desired: ctx.bus.current('desiredPods') ?? new Map(),
        mirrors,
        node: ctx.bus.current('node'),
        terminating: notTerminatedNames(ctx.bus.current('podWorkerStates')?.values()),
        now: ctx.clock.now(),
      });
      state = p.state;
      stats.reconciles++;
      stats.lastReconcileAt = ctx.clock.now();
      if (p.nextRetryAt !== undefined && p.nextRetryAt !== retryScheduledAt) {
        // a backed-off create is due then, which may fall between two resyncs
        retryScheduledAt = p.nextRetryAt;
        ctx.setTimeout(run, p.nextRetryAt - ctx.clock.now());
      }
      if (p.holding !== holding) {
        if (p.holding) ctx.log.info(`not creating mirror pods: ${p.holding}`, {}, 2);
        holding = p.holding;
      }
      for (const a of p.actions) {
        if (ctx.stopped) return;
        if (a.type === 'create') {
          await create(a.key, a.hash, a.pod);
          continue;
        }
        if (a.reason === 'orphaned' && !sourcesReady) continue;
        const gone = await remove(a);
        if (gone && a.thenCreate && !ctx.stopped) await create(a.key, a.thenCreate.hash, a.thenCreate.pod);
      }
    };

    // reconcile handles API errors; anything else is logged and retried at the next resync
    const reconciler = serial(ctx, reconcile, { onError: (e) => fail('reconciling', nodeName, e) });
    const run = reconciler.trigger;

    const sourceReady = (source: PodSource) => {
      if (waitingFor.delete(source) && waitingFor.size === 0) run();
    };
    ctx.on(ctx.bus.events('config'), (m) => {
      if (m.type === 'config.sourcesReady') sourceReady(m.source);
    });
    // the syncLoop's record of who has listed: a restarted instance does not wait for a
    // sourcesReady no source sends again
    ctx.on(ctx.bus.view('readySources'), (ready) => ready.forEach(sourceReady));
    ctx.on(ctx.bus.view('desiredPods'), run);
    ctx.on(ctx.bus.view('mirrorPods'), run);
    ctx.on(ctx.bus.view('node'), run);
    ctx.setInterval(run, ctx.deps.resyncMs ?? DEFAULT_RESYNC_MS);

    ctx.setInspect(() => ({
      ...stats,
      running: reconciler.running,
      holding: holding ?? null,
      waitingForSources: [...waitingFor],
      mirrorsFromView: ctx.bus.current('mirrorPods') !== undefined,
      pendingCreates: Object.fromEntries([...state.created].map(([k, e]) => [k, e.hash])),
      pendingDeletes: Object.fromEntries([...state.deleted].map(([uid, e]) => [uid, e.key])),
      failedCreates: Object.fromEntries(
        [...(state.failedCreates ?? [])].map(([k, f]) => [
          k,
          { cause: f.cause, refusals: f.refusals, retryAt: f.retryAt },
        ]),
      ),
    }));

    run();
  },
};
