/**
 * The HTTP GET of a container's handlers (upstream pkg/probe/http and the kubelet's lifecycle
 * client): probes and lifecycle hooks share this one client path.
 *
 * - undici, GET, no connection reuse (each request closes), TLS without certificate
 *   verification for HTTPS (upstream InsecureSkipVerify: the kubelet cannot verify a pod's
 *   certificate).
 * - User-Agent `kube-<fragment>/<major>.<minor>` and `Accept: *\/*` unless given; an explicitly
 *   empty Accept removes the default; a `Host` header sets the request's host.
 * - Redirects to the same host are followed, at most 10 (Go's client); a redirect to another
 *   host ends there and its 3xx is the answer (upstream RedirectChecker(false)).
 * - The body is read up to 10 KiB (upstream maxRespBodyLength).
 * - Failures carry Go's wording (`Get "URL": dial tcp HOST:PORT: connect: connection refused`),
 *   and say when an HTTPS request reached a plain HTTP server (Go's "server gave HTTP response
 *   to HTTPS client"): the lifecycle hooks fall back to HTTP then, as upstream.
 */
import { Agent, request } from 'undici';
import type { Clock } from '../../kernel/clock.ts';
import { errText } from '../../kernel/log.ts';

/** upstream maxReadLength / maxRespBodyLength. */
export const MAX_OUTPUT_BYTES = 10 * 1024;
/** upstream: Go's default client stops after 10 redirects. */
export const MAX_REDIRECTS = 10;

export interface HttpGetRequest {
  /** http or https */
  scheme: string;
  host: string;
  port: number;
  path: string;
  /** In order; a repeated name is sent repeatedly. `Host` sets the request's host. */
  headers: readonly { name: string; value: string }[];
}

export type HttpGetResult =
  /** An answer (any status code): the last one when redirects were followed. */
  | { kind: 'response'; url: string; code: number; body: string }
  /** No answer: `error` in Go's words; `httpResponseToHttps` when TLS met a plain HTTP server. */
  | { kind: 'error'; url: string; error: string; httpResponseToHttps: boolean };

export interface HttpGetOptions {
  /** e.g. kube-probe/1.34, kube-lifecycle/1.34 */
  userAgent: string;
  /** A deadline on the Clock; none when absent (upstream's lifecycle client has none). */
  timeoutMs?: number;
  /** Ends the request early (the hook's container is being killed). */
  signal?: AbortSignal;
}

export interface HttpGetter {
  get(req: HttpGetRequest, o: HttpGetOptions): Promise<HttpGetResult>;
  close(): Promise<void>;
}

/** Go's net.JoinHostPort. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** upstream formatURL: scheme://host:port + path (a path without a leading slash gets one). */
export function handlerUrl(r: Pick<HttpGetRequest, 'scheme' | 'host' | 'port' | 'path'>): string {
  const path = r.path.startsWith('/') ? r.path : `/${r.path}`;
  return `${r.scheme}://${joinHostPort(r.host, r.port)}${path}`;
}

/** The first MAX_OUTPUT_BYTES of `b` as text. */
export function capOutput(b: Buffer): string {
  return (b.length > MAX_OUTPUT_BYTES ? b.subarray(0, MAX_OUTPUT_BYTES) : b).toString('utf8');
}

/** A deadline on the Clock: `signal` aborts when it passes (never without `ms`), or when `outer` does. */
function deadline(clock: Clock, ms: number | undefined, outer: AbortSignal | undefined) {
  const ac = new AbortController();
  let expired = false;
  const id =
    ms === undefined
      ? undefined
      : clock.setTimeout(() => {
          expired = true;
          ac.abort(new Error('timeout'));
        }, ms);
  const onAbort = () => ac.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: ac.signal,
    expired: () => expired,
    clear: () => {
      if (id !== undefined) clock.clearTimeout(id);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

const codeOf = (e: unknown): string | undefined =>
  (e as { code?: string })?.code ?? (e as { cause?: { code?: string } })?.cause?.code;

/** Go's dial error text for a Node socket error. */
export function dialError(addr: string, e: unknown, timedOut: boolean): string {
  if (timedOut) return `dial tcp ${addr}: i/o timeout`;
  const code = codeOf(e);
  if (code === 'ECONNREFUSED') return `dial tcp ${addr}: connect: connection refused`;
  if (code === 'EHOSTUNREACH') return `dial tcp ${addr}: connect: no route to host`;
  if (code === 'ENETUNREACH') return `dial tcp ${addr}: connect: network is unreachable`;
  return `dial tcp ${addr}: ${errText((e as { cause?: unknown })?.cause ?? e)}`;
}

/** OpenSSL's answer to a plain HTTP reply on a TLS connection. */
const isHttpResponseToHttps = (e: unknown): boolean => codeOf(e) === 'ERR_SSL_WRONG_VERSION_NUMBER';

/** upstream ReadAtMost: the body up to `limit` bytes; the rest is not read. */
async function readAtMost(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= limit) {
      body.destroy();
      break;
    }
  }
  return capOutput(Buffer.concat(chunks));
}

export function httpGetter(clock: Clock): HttpGetter {
  const agent = new Agent({ connect: { rejectUnauthorized: false } });

  async function get(req: HttpGetRequest, o: HttpGetOptions): Promise<HttpGetResult> {
    const headers: [string, string][] = [];
    const has = (n: string) => req.headers.some((h) => h.name.toLowerCase() === n);
    if (!has('user-agent')) headers.push(['user-agent', o.userAgent]);
    if (!has('accept')) headers.push(['accept', '*/*']);
    for (const h of req.headers) {
      // upstream: an explicitly empty Accept removes the default
      if (h.name.toLowerCase() === 'accept' && h.value === '') continue;
      headers.push([h.name.toLowerCase() === 'host' ? 'host' : h.name, h.value]);
    }
    const d = deadline(clock, o.timeoutMs, o.signal);
    let url = handlerUrl(req);
    const firstHost = new URL(url).hostname;
    const failed = (error: string, httpResponseToHttps = false): HttpGetResult => ({
      kind: 'error',
      url,
      error: `Get ${JSON.stringify(url)}: ${error}`,
      httpResponseToHttps,
    });
    try {
      for (let redirects = 0; ; redirects++) {
        let res;
        try {
          res = await request(url, {
            method: 'GET',
            headers: headers.flat(),
            dispatcher: agent,
            signal: d.signal,
            reset: true,
          });
        } catch (e) {
          const u = new URL(url);
          const addr = joinHostPort(
            u.hostname.replace(/^\[|\]$/g, ''),
            Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
          );
          if (d.expired()) return failed('context deadline exceeded (Client.Timeout exceeded while awaiting headers)');
          if (o.signal?.aborted) return failed('context canceled');
          if (isHttpResponseToHttps(e)) return failed('http: server gave HTTP response to HTTPS client', true);
          return failed(dialError(addr, e, false));
        }
        const code = res.statusCode;
        const location = res.headers.location;
        if (code >= 300 && code < 400 && typeof location === 'string' && location !== '' && code !== 304) {
          const next = new URL(location, url);
          if (next.hostname === firstHost) {
            await res.body.dump();
            url = next.href;
            if (redirects + 1 >= MAX_REDIRECTS) return failed('stopped after 10 redirects');
            continue;
          }
          // another host: the redirect ends here (upstream ErrUseLastResponse)
        }
        return { kind: 'response', url, code, body: await readAtMost(res.body, MAX_OUTPUT_BYTES) };
      }
    } catch (e) {
      if (d.expired()) return failed('context deadline exceeded (Client.Timeout exceeded while reading body)');
      return failed(errText(e));
    } finally {
      d.clear();
    }
  }

  return { get, close: () => agent.close() };
}
