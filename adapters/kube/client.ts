/**
 * The KubeApi port (protocols/kube/api.ts) over HTTPS, the way client-go's REST client talks to
 * kube-apiserver: JSON bodies, the three PATCH content types, DELETE with DeleteOptions
 * (grace period, uid / resourceVersion preconditions), chunked watch streams, Status bodies
 * turned into ApiError(code, reason, verb, path, message), a client-side token bucket
 * (upstream kubelet: kubeAPIQPS 50, kubeAPIBurst 100), per-request timeouts and a user agent.
 *
 * Credentials come from @kubernetes/client-node's KubeConfig (loadFromFile resolves relative
 * paths, inline *-data, bearer tokens, exec and auth-provider plugins); the requests themselves
 * go through node:https with one keep-alive agent built from that TLS material. The generated
 * CoreV1Api is not used: it cannot pick the patch content type per call, send a DELETE body
 * with preconditions, or hand back the Status of a failure without re-parsing.
 *
 * Two things client-go does that KubeConfig does not are added here: the standard `tokenFile` user
 * key (KubeConfig reads only a non-standard `token-file`, so such a kubeconfig went out anonymous
 * and every request was 401) is read, and read again about every minute so a rotated token is
 * used; and client certificate/key files are checked at most once a minute for a rotation, which
 * rebuilds the agent and closes the old connections.
 *
 * @kubernetes/client-node takes about a second to import, so it is loaded lazily on first use:
 * standalone kubelets never pay for it, and `ready()` lets the daemon fail fast at start on a
 * kubeconfig it cannot use.
 *
 * Failures that never reached the server (connection refused or reset, TLS, timeouts) are
 * ApiError with code 0 and reason `ConnectionError` or `Timeout`: callers retry those like 5xx.
 * A 429 is retried here after its Retry-After (at most `maxRetries` times), as client-go does.
 * Time (throttling waits, timeouts, Retry-After) comes from the injected Clock.
 *
 * An open watch has a watchdog: a connection dropped without FIN or RST (a NAT or load balancer
 * forgetting it, a peer that vanished) would otherwise be noticed only by TCP keepalive, minutes
 * later, while the watch silently delivers nothing. The server ends a watch by timeoutSeconds,
 * so no data at all (no event, no bookmark) for timeoutSeconds + WATCH_IDLE_MARGIN_MS means the
 * connection is dead: the watch is ended with ApiError(0, 'Timeout') and its caller resumes
 * (client-go bounds a watch by its timeoutSeconds on the client side too). Without timeoutSeconds
 * the limit is WATCH_IDLE_LIMIT_MS, the longest watch an apiserver grants by default.
 */
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { arch, platform } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { RealClock, type Clock } from '../../kernel/clock.ts';
import { errText, silentLogger, type Logger } from '../../kernel/log.ts';
import { ApiError } from '../../protocols/kube/api.ts';
import type {
  ConfigDataApi,
  Event,
  KubeApi,
  Lease,
  ListResult,
  Node,
  ObjectListWatch,
  PatchType,
  SubjectAccessReviewStatus,
  TokenReviewStatus,
  WatchEvent,
  WatchHandle,
} from '../../protocols/kube/api.ts';
import type { ConfigMap, Secret, TokenRequest } from '../../protocols/kube/config-data.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { CertificateSigningRequest, CsrApi } from '../../protocols/kube/certificates.ts';

const PACKAGE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** The Kubernetes minor this kubelet speaks (API fields, defaults, upstream behaviour it follows). */
export const KUBERNETES_VERSION = 'v1.34.0';

/**
 * What the Node reports as status.nodeInfo.kubeletVersion: the Kubernetes version it follows,
 * with kubelet-ts and its own version as a semver pre-release, so nobody mistakes it for
 * the upstream binary (and version-skew checks still see 1.34).
 */
export const KUBELET_VERSION = `${KUBERNETES_VERSION}-kubelet-ts.${PACKAGE_VERSION}`;

/** Go's GOARCH names (upstream labels, nodeInfo.architecture). */
export function goArch(a: string = arch()): string {
  switch (a) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'arm':
      return 'arm';
    case 'arm64':
      return 'arm64';
    case 'ppc64':
      return 'ppc64le';
    case 's390x':
      return 's390x';
    case 'riscv64':
      return 'riscv64';
    default:
      return a;
  }
}

/** Go's GOOS names. */
export function goOs(p: string = platform()): string {
  return p === 'win32' ? 'windows' : p;
}

/** Like upstream's `kubelet/v1.34.0 (linux/amd64) kubernetes/<commit>`. */
export function defaultUserAgent(): string {
  return `kubelet-ts/v${PACKAGE_VERSION} (${goOs()}/${goArch()}) kubernetes/${KUBERNETES_VERSION}`;
}

// ---------------------------------------------------------------------------------------------
// token bucket

/**
 * client-go's flowcontrol token bucket (golang.org/x/time/rate underneath): starts full with
 * `burst` tokens, refills `qps` per second. `reserve()` always takes a token, going into debt
 * if need be, and says how long to wait before using it, so waiters are served in order.
 */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  #now: () => number;

  constructor(qps: number, burst: number, now: () => number) {
    if (!(qps > 0)) throw new Error(`token bucket: qps must be positive, got ${qps}`);
    this.qps = qps;
    this.burst = Math.max(1, Math.floor(burst));
    this.#tokens = this.burst;
    this.#now = now;
    this.#last = now();
  }

  #refill(): void {
    const now = this.#now();
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.qps) / 1000);
      this.#last = now;
    }
  }

  /** Tokens available now (may be negative while reservations are outstanding). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Takes a token if one is available now. */
  tryAccept(): boolean {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /** Takes a token; returns the milliseconds to wait before acting on it (0 = now). */
  reserve(): number {
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.qps);
  }
}

// ---------------------------------------------------------------------------------------------
// the client

/** How much longer than its timeoutSeconds a watch may go without data before it is presumed dead. */
export const WATCH_IDLE_MARGIN_MS = 30_000;

/**
 * The silence allowed (plus the margin) for a watch without timeoutSeconds: kube-apiserver then
 * ends it after minRequestTimeout (1800 s) times [1, 2), so at most an hour.
 */
export const WATCH_IDLE_LIMIT_MS = 3_600_000;

export interface KubeApiOptions {
  /** Client-side rate limit (upstream kubeAPIQPS 50); 0 or less disables it (upstream: QPS -1, the heartbeat client). */
  qps?: number;
  /** Upstream kubeAPIBurst 100. */
  burst?: number;
  userAgent?: string;
  clock?: Clock;
  /** Deadline of each request, watches excepted once their stream is open (default 30s; 0 = none). */
  timeoutMs?: number;
  /** Retries of a 429 after its Retry-After (default 3). */
  maxRetries?: number;
  /** Credential trouble after start (an unreadable token file, a rotated certificate that cannot be used). */
  log?: Logger;
}

export interface KubeClientStats {
  requests: number;
  failures: number;
  throttled: number;
  throttledMs: number;
  retries429: number;
  openWatches: number;
  /** Times the client certificate changed on disk and the connections were rebuilt with the new one. */
  certRotations: number;
}

export interface KubeClient extends KubeApi, CsrApi, ConfigDataApi {
  /**
   * Reads the kubeconfig's credentials again now (the certificate manager wrote a new client
   * pair) instead of at the next minute's check: new connections use the new pair, the old ones
   * are closed (open watches end and their callers resume).
   */
  reloadCredentials(): Promise<void>;
  /** Resolves once the kubeconfig is loaded and usable; rejects with the reason otherwise. */
  ready(): Promise<void>;
  /** The API server URL (empty until ready). */
  readonly server: string;
  stats(): KubeClientStats;
  /** Ends open watches and idle connections. */
  close(): void;
}

interface Transport {
  server: URL;
  agent: http.Agent;
  headers(): Promise<Record<string, string>>;
  /** The client certificate and key files (absolute), and fileStamp() of them when they were read. */
  certFiles: string[];
  certStamp: string;
}

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

/** Turns a non-2xx answer into an ApiError with the Status's code, reason and message. */
export function apiErrorFrom(status: number, body: string, verb: string, path: string): ApiError {
  let reason = REASONS[status] ?? (status >= 500 ? 'InternalError' : 'Unknown');
  let message = body.trim() || http.STATUS_CODES[status] || `HTTP ${status}`;
  try {
    const s = JSON.parse(body) as { kind?: string; reason?: string; message?: string; code?: number };
    if (s && s.kind === 'Status') {
      if (s.reason) reason = s.reason;
      if (s.message) message = s.message;
    }
  } catch {
    // not JSON: keep the text (truncated, an HTML error page says little more)
    if (message.length > 300) message = message.slice(0, 300) + '…';
  }
  return new ApiError(status, reason, verb, path, message);
}

const enc = encodeURIComponent;
const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function query(params: Record<string, string | number | boolean | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== '') parts.push(`${enc(k)}=${enc(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * client-go's file token source: a token read from `tokenFile` counts for a minute less a 10 s
 * leeway, so the file is read again at most every 50 s (a projected service-account token or a
 * login helper rewrites it before the old one expires).
 */
export const TOKEN_FILE_REFRESH_MS = 50_000;

/**
 * How often the client certificate and key files are checked for a rotation (their inode, size
 * and mtime): at most once a minute, on the injected clock, when a request is made.
 */
export const CERT_CHECK_MS = 60_000;

function readToken(path: string): string {
  const t = readFileSync(path, 'utf8').trim();
  if (!t) throw new Error(`token file ${path} is empty`);
  return t;
}

/**
 * The `tokenFile` of the kubeconfig user `userName`, absolute (relative paths are relative to the
 * kubeconfig, as clientcmd resolves them). @kubernetes/client-node knows only the non-standard
 * `token-file` key and drops this one, so the raw file is read here.
 */
function tokenFileOf(kubeconfigPath: string, userName: string | undefined): string | undefined {
  const doc = YAML.parse(readFileSync(kubeconfigPath, 'utf8')) as {
    users?: { name?: unknown; user?: { tokenFile?: unknown } }[];
  } | null;
  const users = Array.isArray(doc?.users) ? doc.users : [];
  const f = users.find((u) => u?.name === userName)?.user?.tokenFile;
  if (typeof f !== 'string' || !f) return undefined;
  return isAbsolute(f) ? f : join(dirname(kubeconfigPath), f);
}

/**
 * client-go's bearer round tripper with a token file: the file wins whenever it can be read, and is
 * read again once TOKEN_FILE_REFRESH_MS have passed; when it cannot, the last token read (or the
 * inline `token`) is kept. Without an inline token the file must be readable now.
 */
function tokenFileSource(path: string, inline: string | undefined, now: () => number, log: Logger): () => string {
  let token: string | undefined;
  let readAt = -Infinity;
  let failing = false;
  const read = (): void => {
    token = readToken(path);
    readAt = now();
    failing = false;
  };
  if (inline === undefined) read();
  return () => {
    if (now() - readAt >= TOKEN_FILE_REFRESH_MS) {
      try {
        read();
      } catch (e) {
        if (!failing)
          log.warn('cannot read the kubeconfig token file: keeping the last token', { path, err: errText(e) });
        failing = true;
      }
    }
    return token ?? inline ?? '';
  };
}

/** What identifies the content of `files` on disk now. */
function fileStamp(files: string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? 'unreadable';
      }
    })
    .join('|');
}

async function loadTransport(kubeconfigPath: string, clock: Clock, log: Logger): Promise<Transport> {
  const { KubeConfig: KC } = await import('@kubernetes/client-node');
  const kc: KubeConfig = new KC();
  try {
    kc.loadFromFile(kubeconfigPath);
  } catch (e) {
    throw new Error(`kubeconfig ${kubeconfigPath}: ${errText(e)}`);
  }
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster)
    throw new Error(`kubeconfig ${kubeconfigPath}: no cluster in the current context "${kc.getCurrentContext()}"`);
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new Error(`kubeconfig ${kubeconfigPath}: cluster ${cluster.name}: invalid server URL "${cluster.server}"`);
  }
  // stamped before they are read: a rotation racing with this load is seen at the next check
  const certFiles = [user?.certFile, user?.keyFile].filter((f): f is string => Boolean(f));
  const certStamp = fileStamp(certFiles);
  const opts: https.RequestOptions = {};
  let tokenOf: (() => string) | undefined;
  try {
    await kc.applyToHTTPSOptions(opts);
    const tokenFile = tokenFileOf(kubeconfigPath, user?.name);
    if (tokenFile) tokenOf = tokenFileSource(tokenFile, user?.token || undefined, () => clock.now(), log);
    // a certificate that does not match its key would fail every connection: say so now
    if (opts.cert && opts.key) createSecureContext({ cert: opts.cert, key: opts.key, passphrase: opts.passphrase });
  } catch (e) {
    throw new Error(`kubeconfig ${kubeconfigPath}: ${errText(e)}`);
  }
  const tls: https.AgentOptions = { keepAlive: true, maxSockets: 32 };
  for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'] as const) {
    if (opts[k] !== undefined) (tls as Record<string, unknown>)[k] = opts[k];
  }
  const agent =
    server.protocol === 'http:' ? new http.Agent({ keepAlive: true, maxSockets: 32 }) : new https.Agent(tls);
  const flatten = (h: https.RequestOptions['headers']): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(h ?? {}))
      if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
    if (opts.auth) out.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return out;
  };
  const staticHeaders = flatten(opts.headers);
  // exec and auth-provider credentials expire: ask the KubeConfig again for each request
  // (it caches them until they do).
  const dynamic = Boolean(user?.exec || user?.authProvider);
  const current = async (): Promise<Record<string, string>> => {
    if (!dynamic) return staticHeaders;
    const o: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    (o.agent as http.Agent | undefined)?.destroy();
    return flatten(o.headers);
  };
  return {
    server,
    agent,
    certFiles,
    certStamp,
    headers: async () => {
      const h = await current();
      return tokenOf ? { ...h, Authorization: `Bearer ${tokenOf()}` } : h;
    },
  };
}

/**
 * A KubeApi for the cluster in `kubeconfigPath` (its current context). The file must exist
 * now (a missing kubeconfig is an error at once); it is parsed on first use or `ready()`.
 */
export function createKubeApi(kubeconfigPath: string, opts: KubeApiOptions = {}): KubeClient {
  try {
    readFileSync(kubeconfigPath); // fail now, naming the path, if it cannot be read
  } catch (e) {
    throw new Error(
      `kubeconfig ${kubeconfigPath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errText(e)}`,
    );
  }
  const clock = opts.clock ?? new RealClock();
  const qps = opts.qps ?? 50;
  const bucket = qps > 0 ? new TokenBucket(qps, opts.burst ?? 100, () => clock.now()) : undefined;
  const userAgent = opts.userAgent ?? defaultUserAgent();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxRetries = opts.maxRetries ?? 3;
  const log = opts.log ?? silentLogger;
  const stats: KubeClientStats = {
    requests: 0,
    failures: 0,
    throttled: 0,
    throttledMs: 0,
    retries429: 0,
    openWatches: 0,
    certRotations: 0,
  };
  const watches = new Set<http.ClientRequest>();
  let transport: Promise<Transport> | undefined;
  let serverUrl = '';
  let closed = false;
  let certCheckedAt = 0;

  const load = (): Promise<Transport> =>
    loadTransport(kubeconfigPath, clock, log).then((t) => {
      serverUrl = t.server.origin + t.server.pathname.replace(/\/$/, '');
      return t;
    });

  /**
   * A client certificate rotated on disk (the kubelet's own rotation, or a tool renewing it) is
   * picked up like client-go's dynamicClientCert does: a new agent with the new pair, and every
   * connection of the old one closed (open watches end and their callers resume). A pair that
   * cannot be used (a key written after its certificate) keeps the old one until the next check.
   */
  const rotateIfChanged = (t: Transport): Promise<Transport> | Transport => {
    if (closed || t.certFiles.length === 0 || fileStamp(t.certFiles) === t.certStamp) return t;
    return load().then(
      (next) => {
        stats.certRotations++;
        log.info('client certificate changed on disk: reconnecting with it', { files: t.certFiles });
        t.agent.destroy();
        return next;
      },
      (e: unknown) => {
        log.warn('client certificate changed on disk but cannot be used: keeping the current one', { err: errText(e) });
        return t;
      },
    );
  };

  const reloadCredentials = async (): Promise<void> => {
    if (transport === undefined) return;
    certCheckedAt = clock.now();
    transport = transport.then(rotateIfChanged);
    await transport;
  };

  const getTransport = (): Promise<Transport> => {
    if (transport === undefined) {
      certCheckedAt = clock.now();
      transport = load();
    } else if (clock.now() - certCheckedAt >= CERT_CHECK_MS) {
      certCheckedAt = clock.now();
      transport = transport.then(rotateIfChanged);
    }
    return transport;
  };

  const sleep = (ms: number) => new Promise<void>((r) => clock.setTimeout(() => r(), ms));

  const throttle = async (): Promise<void> => {
    if (!bucket) return;
    const wait = bucket.reserve();
    if (wait > 0) {
      stats.throttled++;
      stats.throttledMs += wait;
      await sleep(wait);
    }
  };

  const fail = (verb: string, path: string, e: unknown, timedOut: boolean): ApiError => {
    if (e instanceof ApiError) return e;
    if (timedOut) return new ApiError(0, 'Timeout', verb, path, `no answer within ${timeoutMs}ms`);
    return new ApiError(0, 'ConnectionError', verb, path, errText(e));
  };

  /** One HTTP exchange, body buffered; throws ApiError(0, …) when it never got an answer. */
  const exchange = async (
    verb: string,
    method: string,
    path: string,
    body: string | undefined,
    contentType?: string,
  ): Promise<Raw> => {
    if (closed) throw new ApiError(0, 'ConnectionError', verb, path, 'client closed');
    let t: Transport;
    try {
      t = await getTransport();
    } catch (e) {
      throw new ApiError(0, 'InvalidKubeconfig', verb, path, errText(e));
    }
    const headers: Record<string, string> = {
      ...(await t.headers()),
      Accept: 'application/json',
      'User-Agent': userAgent,
    };
    if (body !== undefined) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const url = new URL(t.server.pathname.replace(/\/$/, '') + path, t.server);
    return new Promise<Raw>((resolve, reject) => {
      let timedOut = false;
      let timer: number | undefined;
      const done = (err: unknown, raw?: Raw) => {
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
        if (raw) resolve(raw);
        else reject(fail(verb, path, err, timedOut));
      };
      const mod = url.protocol === 'http:' ? http : https;
      const req = mod.request(url, { method, agent: t.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          done(undefined, {
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (e) => done(e));
      });
      req.on('error', (e) => done(e));
      if (timeoutMs > 0) {
        timer = clock.setTimeout(() => {
          timedOut = true;
          req.destroy(new Error('timeout'));
        }, timeoutMs);
      }
      req.end(body);
    });
  };

  /** A JSON request with throttling, 429 retries and Status → ApiError. */
  const request = async <T>(
    verb: string,
    method: string,
    path: string,
    payload?: unknown,
    contentType?: string,
  ): Promise<T> => {
    const body = payload === undefined ? undefined : JSON.stringify(payload);
    for (let attempt = 0; ; attempt++) {
      await throttle();
      stats.requests++;
      let raw: Raw;
      try {
        raw = await exchange(verb, method, path, body, contentType);
      } catch (e) {
        stats.failures++;
        throw e;
      }
      if (raw.status >= 200 && raw.status < 300) {
        if (!raw.body) return undefined as T;
        try {
          return JSON.parse(raw.body) as T;
        } catch (e) {
          stats.failures++;
          throw new ApiError(raw.status, 'InvalidResponse', verb, path, `response is not JSON: ${errText(e)}`);
        }
      }
      if (raw.status === 429 && attempt < maxRetries) {
        const after = Number(raw.headers['retry-after']);
        stats.retries429++;
        await sleep(Math.min(Number.isFinite(after) && after > 0 ? after : 1, 10) * 1000);
        continue;
      }
      stats.failures++;
      throw apiErrorFrom(raw.status, raw.body, verb, path);
    }
  };

  const podsPath = (ns?: string) => (ns ? `/api/v1/namespaces/${enc(ns)}/pods` : '/api/v1/pods');
  const leasePath = (ns: string, name?: string) =>
    `/apis/coordination.k8s.io/v1/namespaces/${enc(ns)}/leases${name !== undefined ? `/${enc(name)}` : ''}`;
  const eventsPath = (ns: string, name?: string) =>
    `/api/v1/namespaces/${enc(ns)}/events${name !== undefined ? `/${enc(name)}` : ''}`;

  const watch = async <T>(
    path: string,
    timeoutSeconds: number | undefined,
    onEvent: (e: WatchEvent<T>) => void,
    done: (err?: unknown) => void,
  ): Promise<WatchHandle> => {
    const verb = 'watch';
    await throttle();
    stats.requests++;
    if (closed) throw new ApiError(0, 'ConnectionError', verb, path, 'client closed');
    let t: Transport;
    try {
      t = await getTransport();
    } catch (e) {
      throw new ApiError(0, 'InvalidKubeconfig', verb, path, errText(e));
    }
    const headers = { ...(await t.headers()), Accept: 'application/json', 'User-Agent': userAgent };
    const url = new URL(t.server.pathname.replace(/\/$/, '') + path, t.server);
    return new Promise<WatchHandle>((resolve, reject) => {
      let established = false;
      let ended = false;
      let aborted = false;
      let timedOut = false;
      let idle = false;
      let timer: number | undefined;
      const idleMs =
        (timeoutSeconds !== undefined && timeoutSeconds > 0 ? timeoutSeconds * 1000 : WATCH_IDLE_LIMIT_MS) +
        WATCH_IDLE_MARGIN_MS;
      const clear = () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
      };
      /** The watchdog of an open watch: restarted by every chunk of data. */
      const watchdog = () => {
        clear();
        timer = clock.setTimeout(() => {
          idle = true;
          req.destroy(new Error('idle'));
          finish();
        }, idleMs);
      };
      const finish = (err?: unknown) => {
        clear();
        if (ended) return;
        if (idle)
          err = new ApiError(
            0,
            'Timeout',
            verb,
            path,
            `no data for ${idleMs}ms (timeoutSeconds ${timeoutSeconds ?? 'unset'} + margin): the connection is presumed dead`,
          );
        ended = true;
        watches.delete(req);
        stats.openWatches = watches.size;
        if (!established) {
          stats.failures++;
          reject(fail(verb, path, err, timedOut));
          return;
        }
        if (err !== undefined && !aborted) {
          stats.failures++;
          done(fail(verb, path, err, false));
        } else {
          done();
        }
      };
      const mod = url.protocol === 'http:' ? http : https;
      const req = mod.request(url, { method: 'GET', agent: t.agent, headers }, (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => finish(apiErrorFrom(status, Buffer.concat(chunks).toString('utf8'), verb, path)));
          res.on('error', (e) => finish(e));
          return;
        }
        watchdog();
        established = true;
        watches.add(req);
        stats.openWatches = watches.size;
        resolve({
          abort: () => {
            if (ended) return;
            aborted = true;
            req.destroy();
            finish();
          },
        });
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (!ended) watchdog();
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (!line || aborted || ended) continue;
            let ev: WatchEvent<T>;
            try {
              ev = JSON.parse(line) as WatchEvent<T>;
            } catch (e) {
              req.destroy();
              finish(new ApiError(status, 'InvalidResponse', verb, path, `watch event is not JSON: ${errText(e)}`));
              return;
            }
            onEvent(ev);
          }
        });
        res.on('end', () => finish());
        res.on('error', (e) => finish(e));
        res.on('close', () => finish(aborted ? undefined : new Error('watch stream closed')));
      });
      req.on('error', (e) => finish(e));
      if (timeoutMs > 0) {
        timer = clock.setTimeout(() => {
          timedOut = true;
          req.destroy(new Error('timeout'));
        }, timeoutMs);
      }
      req.end();
    });
  };

  const listWatch = <T>(resource: string): ObjectListWatch<T> => {
    const base = (ns: string) => `/api/v1/namespaces/${enc(ns)}/${resource}`;
    return {
      list: async (ns, o) => {
        const list = await request<{ items?: T[]; metadata?: { resourceVersion?: string } }>(
          'list',
          'GET',
          base(ns) + query({ fieldSelector: o.fieldSelector, resourceVersion: o.resourceVersion }),
        );
        return {
          items: list.items ?? [],
          resourceVersion: list.metadata?.resourceVersion ?? '',
        } satisfies ListResult<T>;
      },
      watch: (ns, o, onEvent, done) =>
        watch<T>(
          base(ns) +
            query({
              watch: 'true',
              resourceVersion: o.resourceVersion,
              fieldSelector: o.fieldSelector,
              allowWatchBookmarks: o.allowWatchBookmarks ? 'true' : undefined,
              timeoutSeconds: o.timeoutSeconds,
            }),
          o.timeoutSeconds,
          onEvent,
          done,
        ),
    };
  };

  const api: KubeClient = {
    get server() {
      return serverUrl;
    },
    ready: async () => {
      await getTransport();
    },
    stats: () => ({ ...stats }),
    reloadCredentials,
    close() {
      closed = true;
      for (const r of watches) r.destroy();
      watches.clear();
      void transport?.then(
        (t) => t.agent.destroy(),
        () => {},
      );
    },

    // pods
    listPods: async (o) => {
      const path =
        podsPath(o.namespace) +
        query({ fieldSelector: o.fieldSelector, labelSelector: o.labelSelector, resourceVersion: o.resourceVersion });
      const list = await request<{ items?: Pod[]; metadata?: { resourceVersion?: string } }>('list', 'GET', path);
      return {
        items: list.items ?? [],
        resourceVersion: list.metadata?.resourceVersion ?? '',
      } satisfies ListResult<Pod>;
    },
    watchPods: (o, onEvent, done) =>
      watch<Pod>(
        podsPath(o.namespace) +
          query({
            watch: 'true',
            resourceVersion: o.resourceVersion,
            fieldSelector: o.fieldSelector,
            allowWatchBookmarks: o.allowWatchBookmarks ? 'true' : undefined,
            timeoutSeconds: o.timeoutSeconds,
          }),
        o.timeoutSeconds,
        onEvent,
        done,
      ),
    getPod: (ns, name) => request<Pod>('get', 'GET', `${podsPath(ns)}/${enc(name)}`),
    createPod: (ns, pod) => request<Pod>('create', 'POST', podsPath(ns), pod),
    deletePod: async (ns, name, o = {}) => {
      const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
      if (o.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = o.gracePeriodSeconds;
      if (o.uid !== undefined || o.resourceVersion !== undefined) {
        body.preconditions = {
          ...(o.uid !== undefined ? { uid: o.uid } : {}),
          ...(o.resourceVersion !== undefined ? { resourceVersion: o.resourceVersion } : {}),
        };
      }
      await request<unknown>('delete', 'DELETE', `${podsPath(ns)}/${enc(name)}`, body);
    },
    patchPodStatus: (ns, name, patch, type) =>
      request<Pod>('patch', 'PATCH', `${podsPath(ns)}/${enc(name)}/status`, patch, PATCH_CONTENT_TYPES[type]),

    // nodes
    getNode: (name, o = {}) =>
      request<Node>('get', 'GET', `/api/v1/nodes/${enc(name)}` + query({ resourceVersion: o.resourceVersion })),
    createNode: (node) => request<Node>('create', 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', ...node }),
    patchNodeStatus: (name, patch, type) =>
      request<Node>('patch', 'PATCH', `/api/v1/nodes/${enc(name)}/status`, patch, PATCH_CONTENT_TYPES[type]),
    patchNode: (name, patch, type) =>
      request<Node>('patch', 'PATCH', `/api/v1/nodes/${enc(name)}`, patch, PATCH_CONTENT_TYPES[type]),

    // leases
    getLease: (ns, name) => request<Lease>('get', 'GET', leasePath(ns, name)),
    createLease: (ns, lease) =>
      request<Lease>('create', 'POST', leasePath(ns), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        ...lease,
      }),
    updateLease: (ns, lease) =>
      request<Lease>('update', 'PUT', leasePath(ns, lease.metadata.name ?? ''), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        ...lease,
      }),

    // certificates.k8s.io/v1
    createCsr: (csr) =>
      request<CertificateSigningRequest>('create', 'POST', CSR_PATH, {
        apiVersion: 'certificates.k8s.io/v1',
        kind: 'CertificateSigningRequest',
        ...csr,
      }),
    getCsr: (name) => request<CertificateSigningRequest>('get', 'GET', `${CSR_PATH}/${enc(name)}`),
    watchCsr: (name, resourceVersion, onEvent, done) =>
      watch<CertificateSigningRequest>(
        CSR_PATH +
          query({ watch: 'true', fieldSelector: `metadata.name=${name}`, resourceVersion, timeoutSeconds: 300 }),
        300,
        onEvent,
        done,
      ),

    // events
    createEvent: (ns, event) =>
      request<Event>('create', 'POST', eventsPath(ns), { apiVersion: 'v1', kind: 'Event', ...event }),
    patchEvent: (ns, name, patch, type) =>
      request<Event>('patch', 'PATCH', eventsPath(ns, name), patch, PATCH_CONTENT_TYPES[type]),

    // reviews
    createTokenReview: async (token) =>
      (
        await request<{ status?: TokenReviewStatus }>('create', 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token },
        })
      ).status ?? {},
    createSubjectAccessReview: async (spec) =>
      (
        await request<{ status?: SubjectAccessReviewStatus }>(
          'create',
          'POST',
          '/apis/authorization.k8s.io/v1/subjectaccessreviews',
          { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
        )
      ).status ?? { allowed: false },
    // configuration data (upstream's configmap, secret and token managers)
    getConfigMap: (ns, name) =>
      request<ConfigMap>('get', 'GET', `/api/v1/namespaces/${enc(ns)}/configmaps/${enc(name)}`),
    getSecret: (ns, name) => request<Secret>('get', 'GET', `/api/v1/namespaces/${enc(ns)}/secrets/${enc(name)}`),
    configMaps: listWatch<ConfigMap>('configmaps'),
    secrets: listWatch<Secret>('secrets'),
    createServiceAccountToken: (ns, name, tr) =>
      request<TokenRequest>('create', 'POST', `/api/v1/namespaces/${enc(ns)}/serviceaccounts/${enc(name)}/token`, tr),
  };
  return api;
}

/** Transient failures worth retrying: no answer, throttled, or the server's own trouble. */
export function isRetryableApiError(e: unknown): boolean {
  if (!(e instanceof ApiError)) return true;
  return e.code === 0 || e.code === 429 || e.code >= 500;
}
