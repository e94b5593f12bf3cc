/**
 * `/exec/{namespace}/{pod}[/{uid}]/{container}` on the HTTPS port: upstream's getExec with
 * streaming proxied, never redirected. The request (an HTTP/1.1 upgrade: WebSocket
 * v5.channel.k8s.io/v4..., or SPDY) is authenticated and authorized like every other, the CRI's
 * Exec gives the runtime's streaming URL, and the upgrade is replayed there byte for byte, both
 * directions piped (upstream's UpgradeAwareHandler): the protocol is the client's and the
 * runtime's, so exit codes and stdin pass through untouched.
 */
import type { Pod } from '../../protocols/kube/pod.ts';
import type { ExecRequest } from '../../protocols/cri/types.ts';
import type { PodStatuses } from '../../protocols/messages/channels.ts';
import type { Parsed } from './logs.ts';

export interface ExecTarget {
  namespace: string;
  pod: string;
  uid?: string;
  container: string;
  request: Omit<ExecRequest, 'containerId'>;
}

/**
 * The path and query of an exec (or, with `attach`, an attach) request: upstream's remotecommand
 * options, input/output/error/tty = "1".
 */
export function parseExec(path: string, q: URLSearchParams, attach = false): Parsed<ExecTarget> {
  const parts = path
    .slice(attach ? '/attach/'.length : '/exec/'.length)
    .split('/')
    .map(decodeURIComponent);
  if (parts.length !== 3 && parts.length !== 4) return { ok: false, status: 404, body: '404 page not found\n' };
  const [namespace, pod] = parts as [string, string];
  const container = parts[parts.length - 1]!;
  const uid = parts.length === 4 ? parts[2] : undefined;
  const cmd = q.getAll('command');
  if (cmd.length === 0 && !attach) return { ok: false, status: 400, body: 'you must specify at least 1 command' };
  const on = (k: string) => q.get(k) === '1' || q.get(k) === 'true';
  const request = { cmd, stdin: on('input'), stdout: on('output'), stderr: on('error'), tty: on('tty') };
  if (!request.stdin && !request.stdout && !request.stderr)
    return { ok: false, status: 400, body: 'you must specify at least 1 of stdin, stdout, stderr' };
  // a tty merges stderr into stdout (upstream NewOptions)
  if (request.tty) request.stderr = false;
  return { ok: true, value: { namespace, pod, ...(uid ? { uid } : {}), container, request } };
}

/** The running container an exec goes to, with upstream's errors (pod not found 404, not running 400). */
export function execContainerId(pods: Iterable<Pod>, statuses: PodStatuses | undefined, t: ExecTarget): Parsed<string> {
  const pod = [...pods].find(
    (p) => p.metadata?.namespace === t.namespace && p.metadata?.name === t.pod && (!t.uid || p.metadata?.uid === t.uid),
  );
  if (!pod) return { ok: false, status: 404, body: `pod does not exist` };
  const st = statuses?.get(pod.metadata?.uid ?? '');
  const cs = [
    ...(st?.initContainerStatuses ?? []),
    ...(st?.containerStatuses ?? []),
    ...(st?.ephemeralContainerStatuses ?? []),
  ].find((c) => c.name === t.container);
  if (!cs?.containerID || !cs.state?.running)
    return { ok: false, status: 400, body: `container not found ("${t.container}")` };
  return { ok: true, value: cs.containerID.replace(/^[a-z]+:\/\//, '') };
}

/** `/portForward/{namespace}/{pod}[/{uid}]`: the pod's newest sandbox (404 when it has none). */
export function portForwardSandbox(
  path: string,
  pods: Iterable<Pod>,
  runtimeSandboxes: (uid: string) => readonly string[] | undefined,
): Parsed<string> {
  const parts = path.slice('/portForward/'.length).split('/').map(decodeURIComponent);
  if (parts.length !== 2 && parts.length !== 3) return { ok: false, status: 404, body: '404 page not found\n' };
  const [namespace, name, uid] = parts;
  const pod = [...pods].find(
    (p) => p.metadata?.namespace === namespace && p.metadata?.name === name && (!uid || p.metadata?.uid === uid),
  );
  if (!pod) return { ok: false, status: 404, body: 'pod does not exist' };
  const sandboxes = runtimeSandboxes(pod.metadata?.uid ?? '') ?? [];
  const last = sandboxes[sandboxes.length - 1];
  return last ? { ok: true, value: last } : { ok: false, status: 404, body: `pod "${name}" has no sandbox` };
}

/** An HTTP/1.1 response written on a socket that was asked to upgrade (then closed). */
export function rawResponse(status: number, body: string): string {
  const reason: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
  };
  return `HTTP/1.1 ${status} ${reason[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** The upgrade request replayed to `target` (path and Host replaced; the client's credentials left out). */
export function replayedRequest(method: string, target: URL, rawHeaders: readonly string[]): string {
  let out = `${method} ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!;
    if (/^(host|authorization)$/i.test(k)) continue;
    out += `${k}: ${rawHeaders[i + 1]}\r\n`;
  }
  return `${out}\r\n`;
}
