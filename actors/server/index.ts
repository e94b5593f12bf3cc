/**
 * server: the kubelet's listeners (upstream cmd/kubelet's healthz server,
 * ListenAndServeKubeletServer and ListenAndServeKubeletReadOnlyServer).
 * - HTTPS (address:port, 10250; off with enableServer false): every request authenticated and
 *   authorized as upstream (auth.ts), then the default handlers and the authorized ones.
 * - healthz (healthzBindAddress:healthzPort, 127.0.0.1:10248; port 0 disables): `/healthz` and
 *   `/healthz/ping`, as upstream installs them there (the ping check only).
 * - read-only (address:readOnlyPort; off unless readOnlyPort is set): upstream's default
 *   handlers without authentication: `/healthz` with the ping, log and syncloop checks, `/pods`,
 *   `/metrics`, `/metrics/resource` and `/stats/summary` (the stats actor's nodeStats view).
 * The syncloop check is upstream's: failing once no syncLoop iteration began within
 * max(2 × syncFrequency, 5 min); an iteration is seen as the syncLoop's own tick and
 * housekeeping messages, which stop when the syncLoop actor is down.
 */
import { channels, defaultPolicy, type ActorSpec } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import type { CriStreaming } from '../../protocols/cri/types.ts';
import type { ReviewApi } from '../../protocols/kube/api.ts';
import { syncLoopHealth } from '../../protocols/messages/pod-worker.ts';
import {
  listenHttp,
  listenHttps,
  openLogFile,
  pipeUpgrade,
  readPem,
  servingPair,
  type Answer,
  type Listener,
  type SecureRequest,
  type UpgradeHandler,
} from './adapters.ts';
import { execContainerId, parseExec, portForwardSandbox, rawResponse, replayedRequest } from './streaming.ts';
import { configz, containerLogs, runningPods, type AuthorizedDeps } from './authorized.ts';
import { createAuthenticator, createAuthorizer, requestAttributes, type AuthorizationMode } from './auth.ts';
import { healthzRoute, logCheck, ping, type HealthCheck } from './health.ts';
import { createKubeletMetrics, startedBy, type KubeletMetrics } from './metrics.ts';
import { podList } from './pods.ts';
import { resourceMetrics } from './resource-metrics.ts';
import { cpuAndMemoryOnly } from '../../protocols/messages/stats.ts';
import { opensslCiphers, selfSignedCert, TLS_VERSIONS } from './tls.ts';

export interface Endpoint {
  address: string;
  port: number;
}

/** The HTTPS port's settings (the flags' and config file's). */
export interface SecureServer extends Endpoint {
  /** Both or neither; neither: a self-signed pair in certDir. */
  certFile?: string;
  keyFile?: string;
  certDir: string;
  /** x509 client certificates verified against this bundle; undefined: none asked for. */
  clientCaFile?: string;
  /** Go's name (VersionTLS12); undefined: TLS 1.2. */
  tlsMinVersion?: string;
  tlsCipherSuites: readonly string[];
  anonymous: boolean;
  /** Bearer tokens through TokenReview; undefined: authentication.webhook off. */
  tokenWebhook?: { cacheTtlMs: number };
  authorization: { mode: AuthorizationMode; allowedTtlMs: number; deniedTtlMs: number };
  /** The API's TokenReview and SubjectAccessReview (cluster mode); needed by the webhooks. */
  reviews?: ReviewApi;
  /** /containerLogs: the pod log root and the CRI's log path of a container. */
  logs?: { podLogsDir: string; containerLogPath(containerId: string): Promise<string> };
  /** /configz: the KubeletConfiguration in effect (v1beta1 JSON). */
  configz?: () => Record<string, unknown>;
  /** /exec: the CRI's Exec (the runtime's streaming URL). */
  streaming?: CriStreaming;
}

export interface ServerDeps {
  nodeName: string;
  /** Undefined: no healthz listener (healthzPort 0). */
  healthz?: Endpoint;
  /** Undefined: no read-only listener (readOnlyPort 0, the default). */
  readOnly?: Endpoint;
  /** Undefined: no HTTPS port (enableServer false). */
  secure?: SecureServer;
  syncFrequencyMs: number;
}

const io = channels({
  consumes: ['syncLoop', 'status', 'plegRelists', 'probeRuns', 'runtimeReply'],
  reads: ['desiredPods', 'podStatuses', 'runtimePods', 'nodeStats'],
});

const text = (status: number, body: string): Answer => ({ status, contentType: 'text/plain; charset=utf-8', body });
/** upstream wait.Until period of the healthz server. */
const HEALTHZ_RETRY_MS = 5000;
const NOT_FOUND = text(404, '404 page not found\n');
/** How often a followed log is read again while its container runs. */
const LOG_FOLLOW_POLL_MS = 200;

export const server: ActorSpec<ServerDeps, typeof io> = {
  ...defaultPolicy,
  id: 'server',
  dependsOn: ['syncLoop'],
  channels: io,
  async start(ctx) {
    const { deps, bus, clock } = ctx;
    let lastLoopEntry: number | undefined;
    ctx.on(bus.events('syncLoop'), () => {
      lastLoopEntry = clock.now();
    });
    const syncloop: HealthCheck = {
      name: 'syncloop',
      check: () => syncLoopHealth(lastLoopEntry, clock.now(), deps.syncFrequencyMs),
    };

    // kubelet_pod_start_duration_seconds: from the first time a pod is desired to its first Running status
    const firstSeen = new Map<string, number>();
    const started = new Set<string>();
    // the first observation or scrape loads prom-client (after start); observations wait for it
    let metrics: KubeletMetrics | undefined;
    let loading: Promise<KubeletMetrics> | undefined;
    const pending: ((m: KubeletMetrics) => void)[] = [];
    const loadMetrics = () =>
      (loading ??= createKubeletMetrics({
        nodeName: deps.nodeName,
        desired: () => bus.current('desiredPods'),
        statuses: () => bus.current('podStatuses'),
        runtimePods: () => bus.current('runtimePods'),
      }).then((x) => {
        metrics = x;
        for (const f of pending.splice(0)) f(x);
        return x;
      }));
    const observe = (f: (m: KubeletMetrics) => void) => {
      if (metrics) return f(metrics);
      pending.push(f);
      ctx.run(loadMetrics());
    };
    ctx.on(bus.events('plegRelists'), (m) =>
      observe((x) =>
        x.observeRelist(m.durationMs / 1000, m.intervalMs === undefined ? undefined : m.intervalMs / 1000),
      ),
    );
    ctx.on(bus.events('runtimeReply'), (m) => {
      if (m.type !== 'runtime.podSynced') return;
      const started = startedBy(
        m.result.actions,
        bus.current('desiredPods')?.get(m.uid)?.pod.spec as Parameters<typeof startedBy>[1],
      );
      if (started.pods || started.containers.length) observe((x) => x.observeStarted(started.pods, started.containers));
    });
    const PROBE_TYPE = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' } as const;
    ctx.on(bus.events('probeRuns'), (m) =>
      observe((x) =>
        x.observeProbe({
          probe_type: PROBE_TYPE[m.probeType],
          result: m.result,
          container: m.containerName,
          pod: m.podName,
          namespace: m.namespace,
          pod_uid: m.podUid,
        }),
      ),
    );
    let known = false;
    ctx.on(bus.view('desiredPods'), (desired) => {
      for (const uid of desired.keys()) {
        if (firstSeen.has(uid)) continue;
        firstSeen.set(uid, clock.now());
        // pods already running when this instance started: their first sight is not ours
        if (!known && bus.current('podStatuses')?.get(uid)?.phase === 'Running') started.add(uid);
      }
      known = true;
      for (const uid of firstSeen.keys())
        if (!desired.has(uid)) {
          firstSeen.delete(uid);
          started.delete(uid);
        }
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
    const health =
      (checks: HealthCheck[]) =>
      (method: string, url: URL): Answer | Promise<Answer> => {
        const h = healthzRoute(checks, url.pathname, url.searchParams);
        return h ? getOnly(method, () => text(h.status, h.body)) : NOT_FOUND;
      };
    const readOnlyHealth = health([ping, logCheck, syncloop]);
    const readOnly = (method: string, url: URL): Answer | Promise<Answer> => {
      switch (url.pathname) {
        case '/pods':
          return getOnly(method, () => ({
            status: 200,
            contentType: 'application/json',
            body: JSON.stringify(podList(bus.current('desiredPods'), bus.current('podStatuses'))),
          }));
        case '/metrics':
          return getOnly(method, async () => {
            const m = await (await loadMetrics()).scrape();
            return { status: 200, contentType: m.contentType, body: m.body };
          });
        // upstream's summary (metrics-server's source) and resource metrics: 503 until the first sample
        case '/stats/summary':
          return getOnly(method, () => {
            const v = bus.current('nodeStats');
            if (!v) return text(503, 'stats not ready: no sample yet\n');
            const only = url.searchParams.get('only_cpu_and_memory') === 'true';
            return {
              status: 200,
              contentType: 'application/json',
              body: JSON.stringify(only ? cpuAndMemoryOnly(v.summary) : v.summary),
            };
          });
        case '/metrics/resource':
          return getOnly(method, () => ({
            status: 200,
            contentType: 'text/plain; version=0.0.4; charset=utf-8',
            body: resourceMetrics(bus.current('nodeStats')),
          }));
        default:
          return readOnlyHealth(method, url);
      }
    };

    /** The HTTPS port's routes: the read-only port's and the authorized ones. */
    const sec0 = deps.secure;
    const logs = sec0?.logs;
    const authorized: AuthorizedDeps = {
      desired: () => bus.current('desiredPods'),
      statuses: () => bus.current('podStatuses'),
      runtimePods: () => bus.current('runtimePods'),
      logs: logs
        ? { containerLogPath: (id) => logs.containerLogPath(id), open: (path) => openLogFile(logs.podLogsDir, path) }
        : undefined,
      configz: sec0?.configz,
      now: () => clock.now(),
      wait: () =>
        new Promise<void>((r) => {
          ctx.setTimeout(() => r(), LOG_FOLLOW_POLL_MS);
        }),
    };
    const secureRoutes = (req: SecureRequest): Answer | Promise<Answer> => {
      const p = req.url.pathname;
      if (p.startsWith('/containerLogs/'))
        return getOnly(req.method, () => containerLogs(authorized, p, req.url.searchParams, req.signal));
      if (p === '/runningpods' || p === '/runningpods/') return getOnly(req.method, () => runningPods(authorized));
      if (p === '/configz') return getOnly(req.method, () => configz(authorized));
      return readOnly(req.method, req.url);
    };

    const openSecure = async (
      sec: SecureServer,
      routes: (req: SecureRequest) => Answer | Promise<Answer>,
    ): Promise<Listener | undefined> => {
      // upstream fails to start without an API client for the webhooks; here the port stays closed
      const needs = [
        sec.tokenWebhook ? 'authentication.webhook' : '',
        sec.authorization.mode === 'Webhook' ? 'authorization mode Webhook' : '',
      ].filter(Boolean);
      if (needs.length && !sec.reviews) {
        ctx.log.error('HTTPS port not served: its webhooks need the API server (--kubeconfig)', {
          port: sec.port,
          needs,
        });
        return undefined;
      }
      const pair = await servingPair({
        certFile: sec.certFile,
        keyFile: sec.keyFile,
        certDir: sec.certDir,
        host: deps.nodeName,
        nowMs: clock.now(),
        generate: selfSignedCert,
      });
      if (pair.generated) ctx.log.info('using a self-signed serving certificate', { cert: pair.generated });
      const clientCa = sec.clientCaFile ? await readPem('client CA file', sec.clientCaFile) : undefined;
      const now = () => clock.now();
      const authenticate = createAuthenticator({
        x509: clientCa !== undefined,
        anonymous: sec.anonymous,
        now,
        webhook:
          sec.tokenWebhook && sec.reviews ? { api: sec.reviews, cacheTtlMs: sec.tokenWebhook.cacheTtlMs } : undefined,
      });
      const authorize = createAuthorizer({ ...sec.authorization, api: sec.reviews, now });
      /** undefined when the request may go on, else the answer refusing it. */
      const check = async (req: SecureRequest): Promise<Answer | undefined> => {
        const who = await authenticate({ peer: req.peer, authorization: req.headers.authorization });
        if (!who.ok) {
          ctx.log.info('unauthorized request', { path: req.url.pathname, reason: who.reason }, 4);
          return text(401, 'Unauthorized');
        }
        const attrs = requestAttributes(req.method, req.url.pathname, deps.nodeName);
        const z = await authorize(who.user, attrs);
        if (!z.allowed) {
          ctx.log.info('forbidden request', { path: req.url.pathname, user: who.user.name, status: z.status }, 2);
          return text(z.status, z.body);
        }
        return undefined;
      };
      const handler = async (req: SecureRequest): Promise<Answer> => (await check(req)) ?? routes(req);
      const upgrade: UpgradeHandler = (req, raw, socket, head) => {
        const refuse = (status: number, body: string) => {
          socket.end(rawResponse(status, body));
        };
        const run = async () => {
          const denied = await check(req);
          if (denied) return refuse(denied.status, typeof denied.body === 'string' ? denied.body : '');
          const p = req.url.pathname;
          const pods = [...(bus.current('desiredPods')?.values() ?? [])].map((d) => d.pod);
          const cri = sec.streaming;
          let target: string;
          if (p.startsWith('/exec/') || p.startsWith('/attach/')) {
            const attach = p.startsWith('/attach/');
            const t = parseExec(p, req.url.searchParams, attach);
            if (!t.ok) return refuse(t.status, t.body);
            const id = execContainerId(pods, bus.current('podStatuses'), t.value);
            if (!id.ok) return refuse(id.status, id.body);
            if (!cri) return refuse(500, 'streaming is not available on this kubelet');
            const { cmd, ...io } = t.value.request;
            target = attach
              ? await cri.attach({ containerId: id.value, ...io })
              : await cri.exec({ containerId: id.value, cmd, ...io });
          } else if (p.startsWith('/portForward/')) {
            const sb = portForwardSandbox(p, pods, (uid) => bus.current('runtimePods')?.get(uid)?.sandboxIds);
            if (!sb.ok) return refuse(sb.status, sb.body);
            if (!cri) return refuse(500, 'streaming is not available on this kubelet');
            const ports = req.url.searchParams
              .getAll('port')
              .map(Number)
              .filter((n) => Number.isInteger(n) && n > 0);
            target = await cri.portForward(sb.value, ports);
          } else {
            return refuse(404, '404 page not found\n');
          }
          const url = new URL(target);
          await pipeUpgrade(url, replayedRequest(raw.method ?? 'GET', url, raw.rawHeaders), head, socket);
        };
        run().catch((e: unknown) => refuse(500, errText(e)));
      };
      return listenHttps(
        'kubelet',
        sec.address,
        sec.port,
        {
          cert: pair.cert,
          key: pair.key,
          clientCa,
          minVersion: TLS_VERSIONS[sec.tlsMinVersion ?? 'VersionTLS12'] ?? 'TLSv1.2',
          ciphers: opensslCiphers(sec.tlsCipherSuites),
        },
        handler,
        upgrade,
      );
    };

    const listeners: Listener[] = [];
    const ports: Record<string, number> = {};
    const opened = (name: string, l: Listener) => {
      if (ctx.stopped) {
        void l.close();
        return;
      }
      listeners.push(l);
      ports[name] = l.port;
      ctx.log.info('listening', { server: name, port: l.port });
    };
    // upstream retries the healthz server every 5 s when it cannot listen, and goes on meanwhile
    const healthz = deps.healthz;
    const openHealthz = (): Promise<void> =>
      listenHttp('healthz', healthz!.address, healthz!.port, health([ping])).then(
        (l) => opened('healthz', l),
        (e: unknown) => {
          ctx.log.error('failed to start healthz server: retrying in 5s', { error: errText(e) });
          ctx.setTimeout(() => ctx.run(openHealthz()), HEALTHZ_RETRY_MS);
        },
      );
    if (healthz) await openHealthz();
    // the read-only server cannot listen: a crash (upstream exits)
    const closeAll = async () => {
      await Promise.all(listeners.splice(0).map((l) => l.close()));
    };
    if (deps.readOnly) {
      try {
        opened('readOnly', await listenHttp('read-only', deps.readOnly.address, deps.readOnly.port, readOnly));
      } catch (e) {
        await closeAll();
        throw e;
      }
    }
    const sec = deps.secure;
    if (sec) {
      try {
        const l = await openSecure(sec, (req) => secureRoutes(req));
        if (l) opened('secure', l);
      } catch (e) {
        await closeAll();
        throw e;
      }
    }
    ctx.setInspect(() => ({ ports, lastLoopEntry, syncloop: syncloop.check() ?? 'ok' }));
    return { stop: closeAll };
  },
};
