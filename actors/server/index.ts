/**
 * server: the kubelet's plain-HTTP listeners (upstream cmd/kubelet's healthz server and
 * ListenAndServeKubeletReadOnlyServer). The HTTPS port (10250, authn/authz) is not served yet.
 * - healthz (healthzBindAddress:healthzPort, 127.0.0.1:10248; port 0 disables): `/healthz` and
 *   `/healthz/ping`, as upstream installs them there (the ping check only).
 * - read-only (address:readOnlyPort; off unless readOnlyPort is set): upstream's default
 *   handlers without authentication: `/healthz` with the ping, log and syncloop checks, `/pods`,
 *   `/metrics`.
 * The syncloop check is upstream's: failing once no syncLoop iteration began within
 * max(2 × syncFrequency, 5 min); an iteration is seen as the syncLoop's own tick and
 * housekeeping messages, which stop when the syncLoop actor is down.
 */
import { channels, defaultPolicy, type ActorSpec } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import { listenHttp, type Answer, type Listener } from './adapters.ts';
import { syncLoopHealth } from '../../protocols/messages/pod-worker.ts';
import { healthzRoute, logCheck, ping, type HealthCheck } from './health.ts';
import { createKubeletMetrics, type KubeletMetrics } from './metrics.ts';
import { podList } from './pods.ts';

export interface Endpoint {
  address: string;
  port: number;
}

export interface ServerDeps {
  nodeName: string;
  /** Undefined: no healthz listener (healthzPort 0). */
  healthz?: Endpoint;
  /** Undefined: no read-only listener (readOnlyPort 0, the default). */
  readOnly?: Endpoint;
  syncFrequencyMs: number;
}

const io = channels({ consumes: ['syncLoop', 'status', 'plegRelists'], reads: ['desiredPods', 'podStatuses', 'runtimePods'] });

const text = (status: number, body: string): Answer => ({ status, contentType: 'text/plain; charset=utf-8', body });
/** upstream wait.Until period of the healthz server. */
const HEALTHZ_RETRY_MS = 5000;
const NOT_FOUND = text(404, '404 page not found\n');

export const server: ActorSpec<ServerDeps, typeof io> = {
  ...defaultPolicy,
  id: 'server',
  dependsOn: ['syncLoop'],
  channels: io,
  async start(ctx) {
    const { deps, bus, clock } = ctx;
    let lastLoopEntry: number | undefined;
    ctx.on(bus.events('syncLoop'), () => { lastLoopEntry = clock.now(); });
    const syncloop: HealthCheck = { name: 'syncloop', check: () => syncLoopHealth(lastLoopEntry, clock.now(), deps.syncFrequencyMs) };

    // kubelet_pod_start_duration_seconds: from the first time a pod is desired to its first Running status
    const firstSeen = new Map<string, number>();
    const started = new Set<string>();
    // the first observation or scrape loads prom-client (after start); observations wait for it
    let metrics: KubeletMetrics | undefined;
    let loading: Promise<KubeletMetrics> | undefined;
    const pending: ((m: KubeletMetrics) => void)[] = [];
    const loadMetrics = () => (loading ??= createKubeletMetrics({
      nodeName: deps.nodeName,
      desired: () => bus.current('desiredPods'),
      statuses: () => bus.current('podStatuses'),
      runtimePods: () => bus.current('runtimePods'),
    }).then((x) => { metrics = x; for (const f of pending.splice(0)) f(x); return x; }));
    const observe = (f: (m: KubeletMetrics) => void) => {
      if (metrics) return f(metrics);
      pending.push(f);
      ctx.run(loadMetrics());
    };
    ctx.on(bus.events('plegRelists'), (m) => observe((x) => x.observeRelist(m.durationMs / 1000, m.intervalMs === undefined ? undefined : m.intervalMs / 1000)));
    let known = false;
    ctx.on(bus.view('desiredPods'), (desired) => {
      for (const uid of desired.keys()) {
        if (firstSeen.has(uid)) continue;
        firstSeen.set(uid, clock.now());
        // pods already running when this instance started: their first sight is not ours
        if (!known && bus.current('podStatuses')?.get(uid)?.phase === 'Running') started.add(uid);
      }
      known = true;
      for (const uid of firstSeen.keys()) if (!desired.has(uid)) { firstSeen.delete(uid); started.delete(uid); }
    });
    ctx.on(bus.events('status'), (m) => {
      if (m.type !== 'status.podStatusChanged' || m.status.phase !== 'Running' || started.has(m.uid)) return;
      const seen = firstSeen.get(m.uid);
      if (seen === undefined) return;
      started.add(m.uid);
      const s = (clock.now() - seen) / 1000;
      observe((x) => x.observePodStart(s));
    });

    const getOnly = (method: string, answer: () => Answer | Promise<Answer>): Answer | Promise<Answer> =>
      method === 'GET' || method === 'HEAD' ? answer() : text(405, 'Method Not Allowed\n');
    const health = (checks: HealthCheck[]) => (method: string, url: URL): Answer | Promise<Answer> => {
      const h = healthzRoute(checks, url.pathname, url.searchParams);
      return h ? getOnly(method, () => text(h.status, h.body)) : NOT_FOUND;
    };
    const readOnlyHealth = health([ping, logCheck, syncloop]);
    const readOnly = (method: string, url: URL): Answer | Promise<Answer> => {
      switch (url.pathname) {
        case '/pods': return getOnly(method, () => ({
          status: 200, contentType: 'application/json',
          body: JSON.stringify(podList(bus.current('desiredPods'), bus.current('podStatuses'))),
        }));
        case '/metrics': return getOnly(method, async () => {
          const m = await (await loadMetrics()).scrape();
          return { status: 200, contentType: m.contentType, body: m.body };
        });
        default: return readOnlyHealth(method, url);
      }
    };

    const listeners: Listener[] = [];
    const ports: Record<string, number> = {};
    const opened = (name: string, l: Listener) => {
      if (ctx.stopped) { void l.close(); return; }
      listeners.push(l);
      ports[name] = l.port;
      ctx.log.info('listening', { server: name, port: l.port });
    };
    // upstream retries the healthz server every 5 s when it cannot listen, and goes on meanwhile
    const healthz = deps.healthz;
    const openHealthz = (): Promise<void> => listenHttp('healthz', healthz!.address, healthz!.port, health([ping])).then(
      (l) => opened('healthz', l),
      (e: unknown) => { ctx.log.error('failed to start healthz server: retrying in 5s', { error: errText(e) }); ctx.setTimeout(() => ctx.run(openHealthz()), HEALTHZ_RETRY_MS); },
    );
    if (healthz) await openHealthz();
    // the read-only server cannot listen: a crash (upstream exits)
    const closeAll = async () => { await Promise.all(listeners.splice(0).map((l) => l.close())); };
    if (deps.readOnly) {
      try {
        opened('readOnly', await listenHttp('read-only', deps.readOnly.address, deps.readOnly.port, readOnly));
      } catch (e) {
        await closeAll();
        throw e;
      }
    }
    ctx.setInspect(() => ({ ports, lastLoopEntry, syncloop: syncloop.check() ?? 'ok' }));
    return { stop: closeAll };
  },
};

