/**
 * The prober's effects (upstream pkg/probe/{exec,http,tcp,grpc}): one call per probe, each bounded
 * by the probe's timeout on the kubelet's Clock, each answering an Outcome, never throwing.
 *
 * - exec: CRI ExecSync with the timeout; exit 0 success, else failure; a timeout is a failure
 *   ("command ... timed out"); any other CRI error is unknown (the prober could not tell).
 *   Output: stdout then stderr, at most 10 KiB.
 * - httpGet: the handlers' HTTP client (adapters/handlers/http.ts, shared with the lifecycle
 *   hooks: no connection reuse, TLS without verification, same-host redirects followed, at most
 *   10, the body read up to 10 KiB). 200–399 success; a 3xx that ends the redirects (another
 *   host) is a warning (success with a ProbeWarning event). Transport errors are failures.
 * - tcpSocket: a connection within the timeout is success, closed at once.
 * - grpc: grpc.health.v1 Health/Check with the service name; SERVING is success.
 */
import * as grpc from '@grpc/grpc-js';
import { connect } from 'node:net';
import type { Clock } from '../../kernel/clock.ts';
import { dialError, httpGetter, joinHostPort, type HttpGetRequest } from '../../adapters/handlers/http.ts';
import { execInContainer } from '../../adapters/handlers/exec.ts';
import type { RuntimeService } from '../../protocols/cri/types.ts';
import { expandCommandOnlyStatic } from '../../protocols/kube/expansion.ts';
import type { Container, Probe } from '../../protocols/kube/pod.ts';
import { resolveContainerPort } from '../../protocols/kube/handlers.ts';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  HEALTH_CHECK_METHOD,
  type ServingStatus,
} from '../../protocols/grpc/health.ts';

/** upstream probe.Result. `unknown` carries the error: the result is thrown away. */
export type Outcome =
  | { result: 'success' | 'warning' | 'failure'; output: string }
  | { result: 'unknown'; error: string };

export type HttpProbeRequest = HttpGetRequest;

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

export function probeRunner(deps: ProbeRunnerDeps): ProbeRunner {
  const { cri, clock, userAgent } = deps;
  // upstream: InsecureSkipVerify for HTTPS probes; keep-alives off (each request closes: reset)
  const http = httpGetter(clock);

  async function exec(containerId: string, cmd: readonly string[], timeoutSeconds: number): Promise<Outcome> {
    const r = await execInContainer(cri, containerId, cmd, timeoutSeconds);
    if (r.kind === 'done') return { result: r.exitCode === 0 ? 'success' : 'failure', output: r.output };
    if (r.kind === 'timeout')
      return { result: 'failure', output: `command ${JSON.stringify(cmd.join(' '))} timed out` };
    return { result: 'unknown', error: r.error };
  }

  async function httpGet(req: HttpProbeRequest, timeoutMs: number): Promise<Outcome> {
    const r = await http.get(req, { userAgent, timeoutMs });
    if (r.kind === 'error') return { result: 'failure', output: r.error };
    if (r.code >= 200 && r.code < 400) {
      if (r.code >= 300) return { result: 'warning', output: `Probe terminated redirects, Response body: ${r.body}` };
      return { result: 'success', output: r.body };
    }
    // upstream: the message must not carry the body (#99425)
    return { result: 'failure', output: `HTTP probe failed with statuscode: ${r.code}` };
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
    close: () => http.close(),
  };
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
  if (p.exec)
    return runner.exec(at.containerId, expandCommandOnlyStatic(p.exec.command ?? [], c.env), at.timeoutSeconds);
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
