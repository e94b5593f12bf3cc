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
  const pick = ['InternalIP', 'Hostname', 'ExternalIP'].map((t) => addrs.find((a) => a.type === t)?.address).find(Boolean);
  const port = Number((((status.daemonEndpoints ?? {}) as JsonObject).kubeletEndpoint as JsonObject | undefined)?.Port ?? 0);
  if (!pick || !port) throw errors.badRequest(`node "${nodeName}" has no address or kubelet port in its status`);
  return { host: pick, port };
}

export function kubeletProxy(store: Store, pods: ResourceType, nodes: ResourceType, client: KubeletClient): Extension {
  const agent = new Agent({ cert: client.cert, key: client.key, rejectUnauthorized: false, keepAlive: false });
  return async ({ info, query, req, res, send, done }) => {
    if (info.resource !== 'pods' || info.subresource !== 'log' || info.verb !== 'get' || info.apiGroup !== '') return false;
    const pod = store.tryGet(pods, info.namespace, info.name);
    if (!pod) throw errors.notFound({ group: '', resource: 'pods' }, info.name);
    const spec = (pod.spec ?? {}) as JsonObject;
    const names = ((spec.containers ?? []) as JsonObject[]).map((c) => String(c.name));
    let container = query.get('container') ?? '';
    if (!container) {
      if (names.length !== 1) {
        throw errors.badRequest(`a container name must be specified for pod ${info.name}, choose one of: [${names.join(' ')}]`);
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
      send(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: body, reason: code === 404 ? 'NotFound' : code === 403 ? 'Forbidden' : 'Unknown', code });
      return true;
    }
    done(200);
    res.writeHead(200, { 'Content-Type': upstream.headers['content-type'] ?? 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    res.on('close', () => upstream.destroy());
    upstream.pipe(res);
    return true;
  };
}
