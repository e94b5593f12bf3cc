/**
 * The subresources kube-apiserver proxies to a pod's kubelet: `pods/log` (GET) to
 * `https://<node address>:<kubeletEndpoint port>/containerLogs/<ns>/<pod>/<container>`, with the
 * apiserver's kubelet client certificate (kubeadm's `kube-apiserver-kubelet-client`, here in
 * system:masters) and without checking the kubelet's serving certificate (no
 * --kubelet-certificate-authority), as pod/rest/log.go and LogLocation do:
 * - the container defaults to the pod's only one; with several, 400 naming them;
 * - the node address is the first of InternalIP, Hostname, ExternalIP in the Node's status;
 * - a 2xx from the kubelet streams through; a 400 becomes a BadRequest Status with the kubelet's
 *   text, a 500 an InternalError, anything else a Status with its code (GenericHttpResponseChecker).
 */
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Extension } from './extension.ts';
import type { ResourceType } from './resources.ts';
import { errors } from './status.ts';
import type { JsonObject } from './status.ts';
import type { Store } from './store.ts';

export interface KubeletClient {
  cert: string;
  key: string;
}

const LOG_PARAMS = ['follow', 'previous', 'sinceSeconds', 'sinceTime', 'timestamps', 'tailLines', 'limitBytes'];

/** The Node's address and kubelet port a proxied request goes to. */
function kubeletLocation(store: Store, nodes: ResourceType, nodeName: string): { host: string; port: number } {
  const node = store.tryGet(nodes, '', nodeName);
  if (!node) throw errors.badRequest(`node "${nodeName}" not found`);
  const status = (node.status ?? {}) as JsonObject;
  const addrs = (Array.isArray(status.addresses) ? status.addresses : []) as { type?: string; address?: string }[];
  const pick = ['InternalIP', 'Hostname', 'ExternalIP']
    .map((t) => addrs.find((a) => a.type === t)?.address)
    .find(Boolean);
  const port = Number(
    (((status.daemonEndpoints ?? {}) as JsonObject).kubeletEndpoint as JsonObject | undefined)?.Port ?? 0,
  );
  if (!pick || !port) throw errors.badRequest(`node "${nodeName}" has no address or kubelet port in its status`);
  return { host: pick, port };
}

export function kubeletProxy(store: Store, pods: ResourceType, nodes: ResourceType, client: KubeletClient): Extension {
  const agent = new Agent({ cert: client.cert, key: client.key, rejectUnauthorized: false, keepAlive: false });
  return async ({ info, query, req, res, send, done }) => {
    if (info.resource !== 'pods' || info.subresource !== 'log' || info.verb !== 'get' || info.apiGroup !== '')
      return false;
    const pod = store.tryGet(pods, info.namespace, info.name);
    if (!pod) throw errors.notFound({ group: '', resource: 'pods' }, info.name);
    const spec = (pod.spec ?? {}) as JsonObject;
    const names = ((spec.containers ?? []) as JsonObject[]).map((c) => String(c.name));
    let container = query.get('container') ?? '';
    if (!container) {
      if (names.length !== 1) {
        throw errors.badRequest(
          `a container name must be specified for pod ${info.name}, choose one of: [${names.join(' ')}]`,
        );
      }
      container = names[0]!;
    }
    const nodeName = typeof spec.nodeName === 'string' ? spec.nodeName : '';
    if (!nodeName) throw errors.badRequest(`pod ${info.name} does not have a host assigned`);
    const { host, port } = kubeletLocation(store, nodes, nodeName);
    const params = new URLSearchParams();
    for (const k of LOG_PARAMS) {
      const v = query.get(k);
      if (v !== null) params.set(k, v);
    }
    const path = `/containerLogs/${encodeURIComponent(info.namespace)}/${encodeURIComponent(info.name)}/${encodeURIComponent(container)}`;
    const q = params.toString();
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = request({ host, port, path: q ? `${path}?${q}` : path, method: 'GET', agent }, resolve);
      r.on('error', (e) => reject(errors.internal(`error dialing backend: ${e.message}`)));
      req.on('close', () => r.destroy());
      r.end();
    });
    const code = upstream.statusCode ?? 0;
    if (code < 200 || code > 206) {
      let body = '';
      for await (const c of upstream) body += String(c);
      if (code === 400) throw errors.badRequest(body);
      if (code === 500) throw errors.internal(body);
      send(code, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: body,
        reason: code === 404 ? 'NotFound' : code === 403 ? 'Forbidden' : 'Unknown',
        code,
      });
      return true;
    }
    done(200);
    res.writeHead(200, {
      'Content-Type': upstream.headers['content-type'] ?? 'text/plain',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    res.on('close', () => upstream.destroy());
    upstream.pipe(res);
    return true;
  };
}

/**
 * `pods/exec`, `pods/attach` and `pods/portforward` upgrades (WebSocket or SPDY), proxied as kube-apiserver's upgrade-aware proxy does:
 * the client is authenticated and authorized as for any request, the request replayed on the
 * kubelet's `/exec|attach/<ns>/<pod>/<container>?command=...&input=1&output=1&error=1&tty=1` or
 * `/portForward/<ns>/<pod>?port=...` with the
 * kubelet client certificate, then both directions piped byte for byte.
 */
export function kubeletUpgrade(
  store: Store,
  pods: ResourceType,
  nodes: ResourceType,
  client: KubeletClient,
  check: (
    req: IncomingMessage,
  ) => { info: import('./auth.ts').RequestInfo; query: URLSearchParams } | { status: number; message: string },
): (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const refuse = (status: number, message: string) => {
      const body = JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        code: status,
      });
      socket.end(
        `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const c = check(req);
      if ('status' in c) return refuse(c.status, c.message);
      const { info, query } = c;
      const sub = info.subresource;
      if (info.resource !== 'pods' || !['exec', 'attach', 'portforward'].includes(sub))
        return refuse(404, 'the server could not find the requested resource');
      const pod = store.tryGet(pods, info.namespace, info.name);
      if (!pod) return refuse(404, `pods "${info.name}" not found`);
      const spec = (pod.spec ?? {}) as JsonObject;
      const names = ((spec.containers ?? []) as JsonObject[]).map((x) => String(x.name));
      const container = query.get('container') || (names.length === 1 ? names[0]! : '');
      if (!container && sub !== 'portforward')
        return refuse(
          400,
          `a container name must be specified for pod ${info.name}, choose one of: [${names.join(' ')}]`,
        );
      const { host, port } = kubeletLocation(store, nodes, String(spec.nodeName ?? ''));
      const params = new URLSearchParams();
      for (const cmd of query.getAll('command')) params.append('command', cmd);
      for (const p of query.getAll('ports')) params.append('port', p);
      for (const [from, to] of [
        ['stdin', 'input'],
        ['stdout', 'output'],
        ['stderr', 'error'],
        ['tty', 'tty'],
      ] as const) {
        if (query.get(from) === 'true' || query.get(from) === '1') params.set(to, '1');
      }
      const pod0 = `${encodeURIComponent(info.namespace)}/${encodeURIComponent(info.name)}`;
      const path =
        sub === 'portforward'
          ? `/portForward/${pod0}?${params}`
          : `/${sub}/${pod0}/${encodeURIComponent(container)}?${params}`;
      let head0 = `${req.method} ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n`;
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        if (/^(host|authorization)$/i.test(req.rawHeaders[i]!)) continue;
        head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      }
      void import('node:tls').then(({ connect }) => {
        const up = connect({ host, port, cert: client.cert, key: client.key, rejectUnauthorized: false }, () => {
          up.write(`${head0}\r\n`);
          if (head.length) up.write(head);
          up.pipe(socket);
          socket.pipe(up);
        });
        const end = () => {
          up.destroy();
          socket.destroy();
        };
        up.on('error', end);
        socket.on('error', end);
        up.on('close', end);
        socket.on('close', end);
      });
    } catch (e) {
      refuse(500, e instanceof Error ? e.message : String(e));
    }
  };
}
