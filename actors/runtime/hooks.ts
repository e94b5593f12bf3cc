/**
 * One run of a container's lifecycle handler (upstream lifecycle/handlers.go handlerRunner.Run),
 * answering what upstream's Run returns: nothing on success, else the error and the message the
 * runtime logs (and, for a postStart, puts in the PostStartHookError waiting entry; the events
 * carry no message, as upstream, so nothing the handler printed reaches the API).
 *
 * - exec: the command through the runner; a non-zero exit is the error
 *   `command 'CMD' exited with N: STDERR`, the output goes in the message.
 * - httpGet: scheme (lower-cased, default http), host (default the pod's first IP), port (a
 *   number or a container port's name), path, headers. Any answer is success, whatever its
 *   status code (upstream checks only that the request was answered). An HTTPS request that
 *   reached a plain HTTP server is sent again over HTTP without its Authorization header; when
 *   that one is answered the hook succeeded and `fellBack` says where (the LifecycleHTTPFallback
 *   event).
 * - sleep: `seconds` on the kubelet's Clock; ended early by `signal` with upstream's error.
 * - tcpSocket (deprecated, accepted by validation for compatibility) and no handler: an invalid
 *   handler error, as upstream, which never runs a TCP hook.
 */
import type { Clock } from '../../kernel/clock.ts';
import type { LifecycleRunner } from '../../adapters/handlers/lifecycle.ts';
import { joinHostPort, type HttpGetRequest } from '../../adapters/handlers/http.ts';
import { resolveContainerPort } from '../../protocols/kube/handlers.ts';
import type { Container, LifecycleHandler, Pod } from '../../protocols/kube/pod.ts';
import { formatPod } from './compute-pod-actions.ts';

export type HookOutcome = { ok: true; fellBack?: string } | { ok: false; error: string; message: string };

export interface HookTarget {
  containerId: string;
  /** The pod's first IP ('' when it has none yet). */
  podIP: string;
  /** Ends a sleep; an exec or a request goes on, but the caller stops waiting for it. */
  signal?: AbortSignal;
}

function sleep(clock: Clock, seconds: number, signal: AbortSignal | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (error?: string) => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      resolve(error);
    };
    const aborted = () => done('container terminated before sleep hook finished');
    const timer = clock.setTimeout(() => done(), Math.max(0, seconds) * 1000);
    if (signal?.aborted) aborted();
    else signal?.addEventListener('abort', aborted, { once: true });
  });
}

export async function runLifecycleHandler(
  runner: LifecycleRunner,
  clock: Clock,
  pod: Pod,
  container: Container,
  h: LifecycleHandler,
  at: HookTarget,
): Promise<HookOutcome> {
  const where = `for Container ${JSON.stringify(container.name)} in Pod ${JSON.stringify(formatPod(pod))}`;
  if (h.exec) {
    const cmd = h.exec.command ?? [];
    const r = await runner.exec(at.containerId, cmd);
    let error: string | undefined;
    let output = '';
    if (r.kind === 'done') {
      output = r.output;
      if (r.exitCode !== 0) error = `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${r.stderr}`;
    } else error = r.kind === 'timeout' ? `command '${cmd.join(' ')}' timed out` : r.error;
    if (error === undefined) return { ok: true };
    return {
      ok: false,
      error,
      message: `Exec lifecycle hook ([${cmd.join(' ')}]) ${where} failed - error: ${error}, message: ${JSON.stringify(output)}`,
    };
  }
  if (h.httpGet) {
    const g = h.httpGet;
    const fail = (error: string): HookOutcome => ({
      ok: false,
      error,
      message: `HTTP lifecycle hook (${g.path ?? ''}) ${where} failed - error: ${error}`,
    });
    const host = g.host || at.podIP;
    if (host === '') return fail(`failed to find networking container: pod ${formatPod(pod)} has no IP`);
    const port = resolveContainerPort(g.port, container);
    if ('error' in port) return fail(port.error);
    const req: HttpGetRequest = {
      scheme: (g.scheme || 'HTTP').toLowerCase(),
      host,
      port: port.port,
      path: g.path ?? '',
      headers: g.httpHeaders ?? [],
    };
    const r = await runner.httpGet(req, at.signal);
    if (r.kind === 'response') return { ok: true };
    if (r.httpResponseToHttps && req.scheme === 'https') {
      const plain = {
        ...req,
        scheme: 'http',
        headers: req.headers.filter((x) => x.name.toLowerCase() !== 'authorization'),
      };
      const again = await runner.httpGet(plain, at.signal);
      if (again.kind === 'response') return { ok: true, fellBack: joinHostPort(host, port.port) };
    }
    return fail(r.error);
  }
  if (h.sleep) {
    const error = await sleep(clock, h.sleep.seconds, at.signal);
    if (error === undefined) return { ok: true };
    return { ok: false, error, message: `Sleep lifecycle hook (${h.sleep.seconds}) ${where} failed - error: ${error}` };
  }
  const error = h.tcpSocket
    ? 'invalid handler: tcpSocket is deprecated and not supported as a lifecycle handler'
    : 'invalid handler: no exec, httpGet or sleep';
  return { ok: false, error, message: `Cannot run handler: ${error}` };
}
