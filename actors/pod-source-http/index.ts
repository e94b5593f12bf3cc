/**
 * podSourceHttp: static pods from a URL (upstream `--manifest-url`, pkg/kubelet/config/http.go).
 * The URL is fetched at start and every checkIntervalMs (20 s, `--http-check-frequency`) with the
 * `--manifest-url-header` headers; logic.ts turns each answer into ADD / UPDATE / REMOVE with
 * source 'http' on the `config` channel (pod-manager takes http pods as static), or into one
 * `config.sourceError` while the last good set stays. One fetch is in flight at a time; a period
 * that comes while it runs is skipped.
 *
 * On restart the instance adopts the http pods already in the `desiredPods` view, so it neither
 * re-adds them nor forgets to remove one the server dropped while it was down. Header values may
 * be credentials: only their names are logged or inspected.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import type {} from '../../protocols/messages/channels.ts';
import type { HeaderMap, ManifestFetcher } from './adapters.ts';
import { adopt, fetched, initialState, type FetchOutcome, type HttpSourceState } from './logic.ts';

/** Upstream httpCheckFrequency. */
export const DEFAULT_HTTP_CHECK_INTERVAL_MS = 20_000;

export interface PodSourceHttpDeps {
  url: string;
  headers: HeaderMap;
  nodeName: string;
  fetcher: ManifestFetcher;
  checkIntervalMs?: number;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ produces: ['config'], reads: ['desiredPods'] });

export const podSourceHttp: ActorSpec<PodSourceHttpDeps, typeof io> = {
  ...defaultPolicy,
  id: 'podSourceHttp',
  dependsOn: ['podManager'],
  channels: io,
  start(ctx) {
    const { url, headers, nodeName, fetcher } = ctx.deps;
    let state: HttpSourceState = initialState();
    const held = ctx.bus.current('desiredPods');
    if (held)
      state = adopt(
        state,
        [...held.values()].filter((d) => d.source === 'http').map((d) => d.pod),
      );

    let fetching = false;
    const stats = { fetches: 0, lastFetchAt: -1, lastStatus: '' };

    const poll = async () => {
      let outcome: FetchOutcome;
      try {
        const res = await fetcher.get(url, headers);
        outcome = { kind: 'response', ...res };
        stats.lastStatus = `${res.status}`;
      } catch (e) {
        outcome = { kind: 'failed', reason: e instanceof Error ? e.message : String(e) };
        stats.lastStatus = 'failed';
      }
      if (ctx.stopped) return;
      stats.fetches++;
      stats.lastFetchAt = ctx.clock.now();
      const r = fetched(state, outcome, { url, nodeName, now: ctx.clock.now() });
      state = r.state;
      for (const l of r.logs) {
        if (l.level === 'info') ctx.log.info(l.msg, l.fields, l.v ?? 0);
        else ctx.log.error(l.msg, l.fields);
      }
      for (const msg of r.out) ctx.bus.send('config', msg);
    };

    const tick = () => {
      if (fetching) return;
      fetching = true;
      ctx.run(
        poll().finally(() => {
          fetching = false;
        }),
      );
    };

    ctx.log.info('manifest URL source', { url, headers: Object.keys(headers) }, 1);
    ctx.setInterval(tick, ctx.deps.checkIntervalMs ?? DEFAULT_HTTP_CHECK_INTERVAL_MS);
    ctx.setInspect(() => ({
      url,
      headers: Object.keys(headers),
      ready: state.ready,
      fetching,
      ...stats,
      error: state.reported?.replace('\0', ' ').trim() ?? null,
      pods: [...state.emitted].map(([uid, p]) => ({ uid, namespace: p.metadata.namespace, name: p.metadata.name })),
    }));
    tick();
  },
};
