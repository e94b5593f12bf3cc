/**
 * podSourceApi: the pods the API server binds to this node (upstream
 * pkg/kubelet/config/apiserver.go: a reflector on pods with fieldSelector spec.nodeName=<node>),
 * as `config.podsAdded / podsUpdated / podsRemoved` with source 'api' (status-only changes as
 * `config.podsReconciled`), and mirror pods in the `mirrorPods` view (its only writer).
 * logic.ts holds the diffing and the reflector's rules.
 *
 *   list ──ok──▶ watch(from RV) ──ends cleanly──────────────▶ watch(from last RV)
 *    ▲  │            │ fails (refused, 5xx, 429, timeout, ERROR) ─▶ backoff ─▶ watch(from last RV)
 *    │  └─fails─▶ backoff ─▶ list
 *    └── backoff ◀── 410 Gone (an ApiError, or an ERROR event Expired/Gone): relist from scratch
 *
 * As client-go's reflector: the list's resourceVersion starts the first watch, every event
 * (BOOKMARK included) moves it on; each watch asks allowWatchBookmarks and a timeoutSeconds of
 * 5–10 minutes; a watch that ends within a second without a single event counts as a failure
 * (no hot loop against a server that closes at once); backoff 800 ms doubling to 30 s with
 * jitter, reset after 2 minutes without one, and after a watch that worked (it delivered an
 * event, or ran its course). While the server does not answer at all (refused, reset, timed
 * out) the backoff is capped at 2 s, so the watch is back within 5 s of it answering again
 * (logic.ts BACKOFF). A failure is logged as a warning once per cause, its repeats at -v=2.
 * The list is a consistent read (no resourceVersion):
 * after a 410 the whole set is diffed against what was emitted, so a pod deleted meanwhile is
 * removed. A bad event is logged and skipped, never a crash.
 *
 * `config.sourcesReady {source:'api'}` goes out after the first successful list, and the
 * `mirrorPods` view is first published then (not before: an empty view would say "no mirror
 * pods"). A restarted instance adopts the api pods in `desiredPods` and the mirror pods in
 * `mirrorPods`, so its first list emits only the real difference and the view never blinks empty.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { ApiError, type PodSourceApi, type WatchEvent, type WatchHandle } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type {} from '../../protocols/messages/channels.ts';
import {
  adopt,
  apply,
  classifyWatchError,
  failureOf,
  initialBackoff,
  initialState,
  nextBackoff,
  podKey,
  replace,
  resourceVersionOf,
  watchTimeoutSeconds,
  type ApiSourceState,
  type BackoffState,
  type Outcome,
} from './logic.ts';
import { errText } from '../../kernel/log.ts';

export interface PodSourceApiDeps {
  api: PodSourceApi;
  nodeName: string;
  /** For the watch timeout and backoff jitter; specs pass a fixed one. */
  random?: () => number;
}

/** client-go: a watch shorter than this with no event is an error ("very short watch"). */
const SHORT_WATCH_MS = 1000;

type WatchFailure = { kind: 'gone'; reason: string } | { kind: 'failed'; error: unknown };
/** How a watch ended; `worked`: it delivered an event other than ERROR (the server serves it). */
type WatchEnd = (WatchFailure | { kind: 'ended' }) & { worked: boolean };

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ produces: ['config'], reads: ['desiredPods'], writes: ['mirrorPods'] });

export const podSourceApi: ActorSpec<PodSourceApiDeps, typeof io> = {
  ...defaultPolicy,
  id: 'podSourceApi',
  // pod-manager must hear the first list; adoption reads its view
  dependsOn: ['podManager'],
  channels: io,
  start(ctx) {
    const { api, nodeName } = ctx.deps;
    const random = ctx.deps.random ?? Math.random;
    const fieldSelector = `spec.nodeName=${nodeName}`;

    // The mirrorPods view exists only once a list has succeeded (a restarted instance finds the
    // one it published before): an empty view before that would read as "no mirror pods" and
    // make mirror-pods POST a create for every static pod. Until then readers go without it.
    const heldMirrors = ctx.bus.current('mirrorPods');
    let mirrorsPublished = heldMirrors !== undefined;
    let state: ApiSourceState = initialState(new Map(heldMirrors ?? []));
    const held = ctx.bus.current('desiredPods');
    if (held)
      state = adopt(
        state,
        [...held.values()].filter((d) => d.source === 'api').map((d) => d.pod),
      );

    let resourceVersion = '';
    let needList = true;
    let backoff: BackoffState = initialBackoff();
    let current: WatchHandle | undefined;
    const stats = {
      phase: 'starting' as 'starting' | 'listing' | 'watching' | 'backoff',
      watching: false,
      lists: 0,
      watches: 0,
      relistsAfterGone: 0,
      events: 0,
      badEvents: 0,
      lastError: '',
      backoffMs: 0,
      nextAttemptAt: undefined as number | undefined,
      /** Failures since the last watch that worked. */
      failures: 0,
    };
    // The cause last logged as a warning: its repeats are logged at -v=2 only.
    let warned = '';

    const emit = (o: Outcome) => {
      state = o.state;
      for (const r of o.refused) {
        ctx.log.error(
          `api pod ${r.pod}: ${r.what} cannot be used: ${r.reason}; ${r.removed ? 'removed all the same (it is gone from the API)' : r.kept ? 'keeping its last good spec' : 'skipped'}`,
          { pod: r.pod, reason: r.reason },
        );
      }
      for (const m of o.out) {
        // reconciles are mostly our own status writes coming back: only at high verbosity
        if ('pods' in m)
          ctx.log.info(
            `api pods ${m.type.slice('config.pods'.length).toLowerCase()}`,
            { pods: m.pods.map(podKey) },
            m.type === 'config.podsReconciled' ? 4 : 2,
          );
        ctx.bus.send('config', m);
      }
      if (o.mirrorsChanged && mirrorsPublished) ctx.bus.publish('mirrorPods', new Map(state.mirrors));
    };

    const sleep = (ms: number) => new Promise<void>((r) => ctx.setTimeout(r, ms));

    const backOff = async (what: string, err: unknown) => {
      const failure = failureOf(err);
      const next = nextBackoff(backoff, ctx.clock.now(), random, failure);
      backoff = next.state;
      stats.lastError = `${what}: ${errText(err)}`;
      stats.backoffMs = next.delayMs;
      stats.nextAttemptAt = ctx.clock.now() + next.delayMs;
      stats.phase = 'backoff';
      stats.failures++;
      const fields = {
        error: errText(err),
        retryInMs: next.delayMs,
        resourceVersion,
        failures: stats.failures,
        answered: failure === 'answered',
      };
      if (stats.lastError !== warned) ctx.log.warn(`api pod source: ${what} failed, retrying`, fields);
      else ctx.log.info(`api pod source: ${what} failed again, retrying`, fields, 2);
      warned = stats.lastError;
      await sleep(next.delayMs);
      stats.nextAttemptAt = undefined;
    };

    /** A watch worked: the next failure is warned about (and backs off from the start, see loop). */
    const succeeded = () => {
      if (stats.failures > 0)
        ctx.log.info('api pod source: watching again', { failures: stats.failures, resourceVersion }, 1);
      stats.failures = 0;
      warned = '';
    };

    /** One event; returns how the watch must end when it is an ERROR. Never throws. */
    const onEvent = (ev: WatchEvent<Pod>): WatchFailure | undefined => {
      stats.events++;
      try {
        const type = (ev as { type?: unknown } | null)?.type;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
          case 'DELETED':
            emit(apply(state, { type, object: ev.object }, ctx.clock.now()));
            break;
          case 'BOOKMARK':
            break;
          case 'ERROR': {
            const s = (ev.object ?? {}) as { code?: number; reason?: string; message?: string };
            const text = `${s.code ?? '?'} ${s.reason ?? ''}: ${s.message ?? ''}`.trim();
            return classifyWatchError(s) === 'gone'
              ? { kind: 'gone', reason: text }
              : { kind: 'failed', error: new Error(`watch ERROR event ${text}`) };
          }
          default:
            stats.badEvents++;
            ctx.log.error('api pod source: watch event of unknown type skipped', { type: String(type) });
            return undefined;
        }
        const rv = resourceVersionOf(ev.object);
        if (rv !== undefined) resourceVersion = rv;
      } catch (e) {
        stats.badEvents++;
        ctx.log.error('api pod source: bad watch event skipped', { error: errText(e) });
      }
      return undefined;
    };

    const watchOnce = (): Promise<WatchEnd> =>
      new Promise<WatchEnd>((resolve) => {
        let settled = false;
        let ending: WatchFailure | undefined;
        let worked = false;
        let handle: WatchHandle | undefined;
        const startedAt = ctx.clock.now();
        let count = 0;
        const settle = (r: WatchEnd) => {
          if (settled) return;
          settled = true;
          current = undefined;
          stats.watching = false;
          resolve(r);
        };
        const done = (err?: unknown) => {
          if (ending) return settle({ ...ending, worked });
          if (err !== undefined) return settle({ kind: 'failed', error: err, worked });
          if (count === 0 && ctx.clock.now() - startedAt < SHORT_WATCH_MS) {
            return settle({
              kind: 'failed',
              error: new Error('very short watch: ended at once without an event'),
              worked,
            });
          }
          settle({ kind: 'ended', worked });
        };
        const event = (ev: WatchEvent<Pod>) => {
          if (settled || ending || ctx.stopped) return;
          count++;
          const end = onEvent(ev);
          if (end) {
            ending = end;
            handle?.abort(); // done() follows; without a handle yet, aborted when it arrives
          } else if (!worked) {
            worked = true;
            succeeded();
          }
        };
        stats.watches++;
        api
          .watchPods(
            { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds(random) },
            event,
            done,
          )
          .then(
            (h) => {
              if (settled) return;
              handle = h;
              current = h;
              stats.watching = true;
              if (ending || ctx.stopped) h.abort();
            },
            (err: unknown) => settle({ kind: 'failed', error: err, worked: false }),
          );
      });

    const isGone = (e: unknown) => e instanceof ApiError && e.code === 410;

    const loop = async () => {
      while (!ctx.stopped) {
        if (needList) {
          stats.phase = 'listing';
          let list;
          try {
            list = await api.listPods({ fieldSelector });
          } catch (e) {
            if (ctx.stopped) return;
            await backOff('list pods', e);
            continue;
          }
          if (ctx.stopped) return;
          stats.lists++;
          emit(replace(state, list.items, ctx.clock.now()));
          if (!mirrorsPublished) {
            mirrorsPublished = true;
            ctx.bus.publish('mirrorPods', new Map(state.mirrors));
          }
          resourceVersion = list.resourceVersion;
          needList = false;
          ctx.log.info(
            'api pod source: listed',
            { pods: state.emitted.size, mirrorPods: state.mirrors.size, resourceVersion },
            2,
          );
        }
        stats.phase = 'watching';
        const end = await watchOnce();
        if (ctx.stopped) return;
        // A watch that worked is the success after which client-go's backoff starts over (a list
        // alone is not: a list that works and a watch that fails at once, again and again, must
        // keep backing off, or it becomes a relist storm).
        if (end.worked || end.kind === 'ended') backoff = initialBackoff();
        if (end.kind === 'ended') {
          ctx.log.info('api pod source: watch ended, watching again', { resourceVersion }, 4);
          continue;
        }
        if (end.kind === 'gone' || isGone(end.error)) {
          // Only a relist can cure a resourceVersion the server no longer has; the reflector
          // waits its backoff before it lists again.
          needList = true;
          stats.relistsAfterGone++;
          ctx.log.info(
            'api pod source: resourceVersion too old, relisting',
            {
              resourceVersion,
              reason: end.kind === 'gone' ? end.reason : errText(end.error),
            },
            2,
          );
          await backOff('watch pods (410 Gone)', end.kind === 'gone' ? new Error(end.reason) : end.error);
          continue;
        }
        await backOff('watch pods', end.error);
      }
    };

    ctx.setInspect(() => ({
      ...stats,
      resourceVersion,
      ready: state.ready,
      pods: state.emitted.size,
      mirrorPods: state.mirrors.size,
      fieldSelector,
    }));

    ctx.run(loop());
    return {
      stop() {
        current?.abort();
      },
    };
  },
};
