/**
 * The prober's effects (upstream pkg/probe/{exec,http,tcp,grpc}): one call per probe, each bounded
 * by the probe's timeout on the kubelet's Clock, each answering an Outcome, never throwing.
 *
 * - exec: CRI ExecSync with the timeout; exit 0 success, else failure; a timeout is a failure
 *   ("command ... timed out"); any other CRI error is unknown (the prober could not tell).
 *   Output: stdout then stderr, at most 10 KiB.
 * - httpGet: undici, GET, no connection reuse (upstream DisableKeepAlives), TLS without
 *   verification for HTTPS (as upstream). 200–399 success; a 3xx that ends the redirects
 *   (another host) is a warning (success with a ProbeWarning event); same-host redirects are
 *   followed, at most 10. The body is read up to 10 KiB. Transport errors are failures.
 * - tcpSocket: a connection within the timeout is success, closed at once.
 * - grpc: grpc.health.v1 Health/Check with the service name; SERVING is success.
 */
import * as grpc from '@grpc/grpc-js';
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import type { Clock } from '../../kernel/clock.ts';
import { errText } from '../../kernel/log.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import type { RuntimeService } from '../../protocols/cri/types.ts';
import { expandCommandOnlyStatic } from '../../protocols/kube/expansion.ts';
import type { Container, Probe } from '../../protocols/kube/pod.ts';
import { resolveContainerPort } from './machine.ts';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  HEALTH_CHECK_METHOD,
  type ServingStatus,
} from '../../protocols/grpc/health.ts';

/** upstream maxReadLength / maxRespBodyLength. */
export const MAX_OUTPUT_BYTES = 10 * 1024;
/** upstream: Go's default client stops after 10 redirects. */
export const MAX_REDIRECTS = 10;

/** upstream probe.Result. `unknown` carries the error: the result is thrown away. */
export type Outcome =
  | { result: 'success' | 'warning' | 'failure'; output: string }
  | { result: 'unknown'; error: string };

export interface HttpProbeRequest {
  /** http or https */
  scheme: string;
  host: string;
  port: number;
  path: string;
  /** In order; a repeated name is sent repeatedly. `Host` sets the request's host. */
  headers: readonly { name: string; value: string }[];
}

export interface ProbeRunner {
  exec(containerId: string, cmd: readonly string[], timeoutSeconds: number): Promise<Outcome>;
  httpGet(req: HttpProbeRequest, timeoutMs: number): Promise<Outcome>;
  tcp(host: string, port: number, timeoutMs: number): Promise<Outcome>;
  grpc(host: string, port: number, service: string, timeoutMs: number): Promise<Outcome>;
  close(): Promise<void>;
}

export interface ProbeRunnerDeps {
  cri: Pick<RuntimeService, 'execSync'>;
  clock: Clock;
  /** kube-probe/<major>.<minor> */
  userAgent: string;
}

/** Go's net.JoinHostPort. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** upstream formatURL: scheme://host:port + path (a path without a leading slash gets one). */
export function probeUrl(r: Pick<HttpProbeRequest, 'scheme' | 'host' | 'port' | 'path'>): string {
  const path = r.path.startsWith('/') ? r.path : `/${r.path}`;
  return `${r.scheme}://${joinHostPort(r.host, r.port)}${path}`;
}

function cap(b: Buffer): string {
  return (b.length > MAX_OUTPUT_BYTES ? b.subarray(0, MAX_OUTPUT_BYTES) : b).toString('utf8');
}

/** A deadline on the Clock: `signal` aborts when it passes. */
function deadline(clock: Clock, ms: number): { signal: AbortSignal; expired: () => boolean; clear: () => void } {
  const ac = new AbortController();
  let expired = false;
  const id = clock.setTimeout(() => {
    expired = true;
    ac.abort(new Error('timeout'));
  }, ms);
  return { signal: ac.signal, expired: () => expired, clear: () => clock.clearTimeout(id) };
}

/** Go's dial error text for a Node socket error. */
function dialError(addr: string, e: unknown, timedOut: boolean): string {
  if (timedOut) return `dial tcp ${addr}: i/o timeout`;
  const code = (e as { code?: string })?.code ?? (e as { cause?: { code?: string } })?.cause?.code;
  if (code === 'ECONNREFUSED') return `dial tcp ${addr}: connect: connection refused`;
  if (code === 'EHOSTUNREACH') return `dial tcp ${addr}: connect: no route to host`;
  if (code === 'ENETUNREACH') return `dial tcp ${addr}: connect: network is unreachable`;
  return `dial tcp ${addr}: ${errText((e as { cause?: unknown })?.cause ?? e)}`;
}

export function probeRunner(deps: ProbeRunnerDeps): ProbeRunner {
  const { cri, clock, userAgent } = deps;
  // upstream: InsecureSkipVerify for HTTPS probes; keep-alives off (each request closes: reset)
  const agent = new Agent({ connect: { rejectUnauthorized: false } });

  async function exec(containerId: string, cmd: readonly string[], timeoutSeconds: number): Promise<Outcome> {
    try {
      const r = await cri.execSync(containerId, [...cmd], timeoutSeconds);
      const output = cap(Buffer.concat([r.stdout, r.stderr]));
      return { result: r.exitCode === 0 ? 'success' : 'failure', output };
    } catch (e) {
      if (isCriError(e, 'DeadlineExceeded'))
        return { result: 'failure', output: `command ${JSON.stringify(cmd.join(' '))} timed out` };
      return { result: 'unknown', error: errText(e) };
    }
  }

  async function httpGet(req: HttpProbeRequest, timeoutMs: number): Promise<Outcome> {
    const headers: [string, string][] = [];
    const has = (n: string) => req.headers.some((h) => h.name.toLowerCase() === n);
    if (!has('user-agent')) headers.push(['user-agent', userAgent]);
    if (!has('accept')) headers.push(['accept', '*/*']);
    for (const h of req.headers) {
      // upstream: an explicitly empty Accept removes the default
      if (h.name.toLowerCase() === 'accept' && h.value === '') continue;
      headers.push([h.name.toLowerCase() === 'host' ? 'host' : h.name, h.value]);
    }
    const d = deadline(clock, timeoutMs);
    let url = probeUrl(req);
    const firstHost = new URL(url).hostname;
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
          if (d.expired())
            return {
              result: 'failure',
              output: `Get ${JSON.stringify(url)}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
            };
          return { result: 'failure', output: `Get ${JSON.stringify(url)}: ${dialError(addr, e, false)}` };
        }
        const code = res.statusCode;
        const location = res.headers.location;
        if (code >= 300 && code < 400 && typeof location === 'string' && location !== '' && code !== 304) {
          const next = new URL(location, url);
          if (next.hostname === firstHost) {
            await res.body.dump();
            if (redirects + 1 >= MAX_REDIRECTS)
              return { result: 'failure', output: `Get ${JSON.stringify(next.href)}: stopped after 10 redirects` };
            url = next.href;
            continue;
          }
          // another host: the redirect ends here (upstream ErrUseLastResponse)
        }
        const body = await readAtMost(res.body, MAX_OUTPUT_BYTES);
        if (code >= 200 && code < 400) {
          if (code >= 300) return { result: 'warning', output: `Probe terminated redirects, Response body: ${body}` };
          return { result: 'success', output: body };
        }
        // upstream: the message must not carry the body (#99425)
        return { result: 'failure', output: `HTTP probe failed with statuscode: ${code}` };
      }
    } catch (e) {
      if (d.expired())
        return {
          result: 'failure',
          output: `Get ${JSON.stringify(url)}: context deadline exceeded (Client.Timeout exceeded while reading body)`,
        };
      return { result: 'failure', output: `Get ${JSON.stringify(url)}: ${errText(e)}` };
    } finally {
      d.clear();
    }
  }

  function tcp(host: string, port: number, timeoutMs: number): Promise<Outcome> {
    const addr = joinHostPort(host, port);
    return new Promise((resolve) => {
      let done = false;
      const socket = connect({ host, port });
      const finish = (o: Outcome) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        socket.destroy();
        resolve(o);
      };
      const timer = clock.setTimeout(
        () => finish({ result: 'failure', output: dialError(addr, undefined, true) }),
        timeoutMs,
      );
      socket.once('connect', () => finish({ result: 'success', output: '' }));
      socket.once('error', (e) => finish({ result: 'failure', output: dialError(addr, e, false) }));
    });
  }

  function grpcCheck(host: string, port: number, service: string, timeoutMs: number): Promise<Outcome> {
    const addr = joinHostPort(host, port);
    return new Promise((resolve) => {
      const client = new grpc.Client(addr, grpc.credentials.createInsecure(), { 'grpc.primary_user_agent': userAgent });
      let done = false;
      const finish = (o: Outcome) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        client.close();
        resolve(o);
      };
      const call = client.makeUnaryRequest(
        HEALTH_CHECK_METHOD,
        encodeHealthCheckRequest,
        decodeHealthCheckResponse,
        { service },
        new grpc.Metadata(),
        {},
        (err: grpc.ServiceError | null, res?: { status: ServingStatus }) => {
          if (err) {
            if (err.code === grpc.status.UNIMPLEMENTED) {
              finish({
                result: 'failure',
                output: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.details}`,
              });
            } else finish({ result: 'failure', output: `error: health rpc probe failed: ${err.message}` });
            return;
          }
          const status = res?.status ?? 'UNKNOWN';
          if (status !== 'SERVING')
            finish({ result: 'failure', output: `service unhealthy (responded with ${JSON.stringify(status)})` });
          else finish({ result: 'success', output: 'service is healthy' });
        },
      );
      const timer = clock.setTimeout(() => {
        finish({ result: 'failure', output: `timeout: health rpc did not complete within ${timeoutMs / 1000}s` });
        call.cancel();
      }, timeoutMs);
    });
  }

  return {
    exec,
    httpGet,
    tcp,
    grpc: grpcCheck,
    close: () => agent.close(),
  };
}

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
  return cap(Buffer.concat(chunks));
}

/**
 * One try of a probe's handler against its container (upstream prober.runProbe): the request
 * built from the spec (host default the pod IP, a port by number or container port name), run
 * through the runner. A port that does not resolve is unknown (the prober could not tell).
 */
export function runHandler(
  runner: ProbeRunner,
  p: Probe,
  c: Container,
  at: { containerId: string; podIP: string; timeoutSeconds: number },
): Promise<Outcome> {
  const timeoutMs = at.timeoutSeconds * 1000;
  if (p.exec) return runner.exec(at.containerId, expandCommandOnlyStatic(p.exec.command ?? [], c.env), at.timeoutSeconds);
  if (p.httpGet) {
    const port = resolveContainerPort(p.httpGet.port, c);
    if ('error' in port) return Promise.resolve({ result: 'unknown', error: port.error });
    const req: HttpProbeRequest = {
      scheme: (p.httpGet.scheme || 'HTTP').toLowerCase(),
      host: p.httpGet.host || at.podIP,
      port: port.port,
      path: p.httpGet.path ?? '',
      headers: p.httpGet.httpHeaders ?? [],
    };
    return runner.httpGet(req, timeoutMs);
  }
  if (p.tcpSocket) {
    const port = resolveContainerPort(p.tcpSocket.port, c);
    if ('error' in port) return Promise.resolve({ result: 'unknown', error: port.error });
    return runner.tcp(p.tcpSocket.host || at.podIP, port.port, timeoutMs);
  }
  if (p.grpc) return runner.grpc(at.podIP, p.grpc.port, p.grpc.service ?? '', timeoutMs);
  return Promise.resolve({ result: 'unknown', error: 'missing probe handler' });
}
