/**
 * A kube-apiserver stand-in for the requests a kubelet makes, faithful where the kubelet can tell:
 * HTTPS with client-certificate and bearer-token authentication, the Node authorizer and the
 * NodeRestriction admission plugin, a global resourceVersion, optimistic concurrency, the three
 * PATCH types, graceful pod deletion, list paging, and watches with bookmarks, selectors and 410s
 * (a watch from a resourceVersion not reached yet waits for it, as the watch cache does).
 *
 *   const api = await startApiServer({ nodes: ['node-a'] });
 *   const kc = new KubeConfig(); kc.loadFromFile(api.kubeconfigFor('node-a'));
 *   api.store.create('pods', { metadata: { name: 'web', namespace: 'default' }, spec: { nodeName: 'node-a', containers: [...] } });
 *   api.faults.set({ mode: 'status500', verb: 'patch', resource: 'pods/status', count: 1 });
 *   await api.requests.waitFor({ verb: 'patch', subresource: 'status', status: 200 });
 *   await api.stop();
 *
 * Start state: namespaces default, kube-system, kube-public and kube-node-lease exist, each (and
 * every namespace created later) with the `kube-root-ca.crt` ConfigMap and the `default`
 * ServiceAccount, as the root-CA publisher and service-account controllers make them; no Node
 * objects (the kubelet registers its own) unless `registerNodes: true`. There is no scheduler:
 * create pods with spec.nodeName set, or bind them (POST pods/<name>/binding as admin).
 *
 * What a node may do is what a 1.34 cluster allows (Node authorizer with AuthorizeNodeWithSelectors,
 * NodeRestriction): get only pods bound to it (a pod on another node, or one already gone, is 403
 * "no relationship found", not 404), list/watch pods only with `fieldSelector=spec.nodeName=<node>`,
 * read only its own Node (`metadata.name=<node>` for list/watch), read secrets/configmaps only when
 * a pod bound to it references them, write status only of its pods, create/delete only mirror pods
 * (and delete pods) bound to it, write only its own Node and kube-node-lease/<node> Lease, create
 * and patch core/v1 events. `authorizeNodeWithSelectors: false` restores the pre-1.32 reads.
 *
 * Layout: status.ts (Status errors), selectors.ts, patch.ts (JSON/merge/strategic patch and the
 * per-kind patch schemas), defaults.ts (defaulting, admission mutations, validation),
 * resources.ts (per-resource strategies), store.ts (MVCC store and registry rules), auth.ts
 * (authn, Node authorizer, NodeRestriction), server.ts (HTTP, watches), discovery.ts,
 * faults.ts (fault switches, request log), certs.ts (PKI), client.ts (raw HTTPS helpers for specs),
 * extension.ts (requests answered outside the store): review.ts (TokenReview, SubjectAccessReview
 * with a policy a spec sets: `api.reviews.policy`) and proxy.ts (pods/log, and pods/exec upgrades,
 * proxied to the kubelet with the apiserver's kubelet client certificate, CN
 * kube-apiserver-kubelet-client).
 *
 * Not modelled (each would answer differently on a real cluster): server-side apply (415),
 * protobuf/CBOR, managedFields, the ServiceAccount admission plugin (pods get no token volume),
 * TokenReview and tokens bound to Secrets or Nodes (TokenRequest bound to a pod is: tokens.ts), garbage collection, the pod-GC and node-lifecycle controllers, namespace
 * termination (a deleted namespace and its contents vanish at once), deletecollection, field
 * validation beyond the pod, Lease and Event-namespace checks (unknown fields are stored as sent),
 * Warning headers, APF.
 */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { getPki } from './certs.ts';
import type { CertPair, Pki } from './certs.ts';
import type { Identity } from './auth.ts';
import { Faults, RequestLog } from './faults.ts';
import { Store } from './store.ts';
import type { DeleteOptions, ListOptions, PatchType } from './store.ts';
import { resolveResource } from './resources.ts';
import { startCsrControllers, type ApproverMode, type CsrControllers } from './certificates.ts';
import { ApiServerCore } from './server.ts';
import { Reviews } from './review.ts';
import { kubeletProxy, kubeletUpgrade } from './proxy.ts';
import { authenticate, authorize, parseRequestInfo } from './auth.ts';
import { TokenIssuer } from './tokens.ts';
import type { JsonObject, Status } from './status.ts';

export type { Status, JsonObject } from './status.ts';
export { Faults, RequestLog } from './faults.ts';
export type { Identity } from './auth.ts';
export type { ListOptions, DeleteOptions, PatchType } from './store.ts';

export interface ApiServerOptions {
  /** Node identities to prepare credentials for (default ['node-a']). */
  nodes?: string[];
  /** Also create a Node object for each (default false: the kubelet registers itself). */
  registerNodes?: boolean;
  /** Extra bearer tokens: token → identity. */
  tokens?: Record<string, Identity>;
  /** Upstream's AuthorizeNodeWithSelectors (default true, as since 1.32): nodes may read only their own Node and bound pods. */
  authorizeNodeWithSelectors?: boolean;
  /** Period of BOOKMARK events on watches that allow them (default 60000, upstream's ~1 minute; 0 = only bookmarkNow()). */
  bookmarkIntervalMs?: number;
  /** Changes kept for watch replay (default 10000). */
  historyLimit?: number;
  /** Clock for object timestamps (default: real time). */
  now?: () => Date;
  /** Bootstrap tokens (`abcdef.0123456789abcdef`): user system:bootstrap:<id>, groups system:bootstrappers(:kubeadm:default-node-token). */
  bootstrapTokens?: string[];
  /** The CSR approver (certificates.ts): 'auto' as csrapproving for kubelet client CSRs (default), 'deny', 'manual'. */
  csrApprover?: ApproverMode;
  /** Validity of issued certificates without spec.expirationSeconds (default 1 year, as --cluster-signing-duration). */
  csrSigningDurationSeconds?: number;
}

export type AuthKind = 'cert' | 'token';

export interface KubeconfigOptions {
  /** A node name, or 'admin' for the system:masters identity. */
  user: string;
  auth?: AuthKind;
  /** Inline certificate data (…-data fields) instead of file paths. */
  embed?: boolean;
}

/** Admin-level access to the stored objects, bypassing HTTP (no authorization, same registry rules). */
export interface StoreApi {
  /**
   * The object, or undefined: (kind, namespace, name), or (kind, name) for a cluster-scoped kind
   * (a namespaced kind with two arguments looks in "default").
   */
  get(kind: string, namespaceOrName: string, name?: string): JsonObject | undefined;
  list(kind: string, opts?: ListOptions): JsonObject[];
  /** Creates; the namespace comes from metadata.namespace (default "default"). */
  create(kind: string, obj: JsonObject): JsonObject;
  /** PUT of the main resource (metadata.resourceVersion optional: unconditional where allowed). */
  update(kind: string, obj: JsonObject): JsonObject;
  /** PUT of the status subresource. */
  updateStatus(kind: string, obj: JsonObject): JsonObject;
  patch(
    kind: string,
    namespace: string,
    name: string,
    patch: unknown,
    type?: PatchType,
    subresource?: '' | 'status',
  ): JsonObject;
  /** DELETE with upstream semantics (grace periods, preconditions, finalizers). */
  delete(
    kind: string,
    namespace: string,
    name: string,
    opts?: DeleteOptions,
  ): { body: JsonObject | Omit<Status, 'code'>; deleted: boolean };
  /** The current global resourceVersion. */
  readonly resourceVersion: number;
  /** Forget the change log up to `rv` (default now): watches and continues from older versions get 410. */
  compact(rv?: number): void;
}

export interface ApiServer {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  /** PEM file of the CA that signed the serving and client certificates. */
  caFile: string;
  ca: string;
  /** Path of a kubeconfig for node `node` (system:node:<node>, group system:nodes). */
  kubeconfigFor(node: string, auth?: AuthKind): string;
  /** Path of a kubeconfig for the admin (group system:masters), with a client certificate. */
  adminKubeconfig: string;
  writeKubeconfig(path: string, opts: KubeconfigOptions): void;
  /** Bearer token of a node (created on first use) or of 'admin'. */
  tokenFor(user: string): string;
  /** Client certificate of a declared node or of 'admin'. */
  certFor(user: string): CertPair;
  /** A client certificate for any identity (for tests of authentication itself). */
  clientCert(user: string, groups: string[]): Promise<CertPair>;
  /** A certificate for `user` signed by a CA the server does not trust. */
  untrustedCert(user: string, groups: string[]): Promise<CertPair>;
  store: StoreApi;
  /** The CSR approver: its mode (settable) and manual decisions. */
  csr: CsrControllers;
  /** Writes a kubeconfig with bootstrap token `token` (declare it in bootstrapTokens), as kubeadm's bootstrap-kubelet.conf. */
  writeBootstrapKubeconfig(path: string, token: string): void;
  faults: Faults;
  requests: RequestLog;
  /** TokenReview and SubjectAccessReview: the policy a kubelet's webhook authorization gets, and every review made. */
  reviews: Reviews;
  /** The service account token issuer: its JWKS (as /openid/v1/jwks serves it) verifies the tokens it signs. */
  serviceAccountIssuer: { issuer: string; jwks(): JsonObject };
  watchersCount(): number;
  /** Sends a BOOKMARK now on every watch that allows bookmarks. */
  bookmarkNow(): void;
  /** Ends every open watch stream cleanly (as an apiserver restart or timeout does). */
  closeWatches(): void;
  /** Closes every socket and watch stream and stops listening. */
  stop(): Promise<void>;
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const pki: Pki = await getPki();
  const nodes = opts.nodes ?? ['node-a'];
  const now = opts.now ?? (() => new Date());
  const dir = mkdtempSync(join(tmpdir(), 'kubelet-ts-apiserver-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);

  const certs = new Map<string, CertPair>();
  certs.set('admin', await pki.client('kubernetes-admin', ['system:masters']));
  for (const n of nodes) certs.set(n, await pki.client(`system:node:${n}`, ['system:nodes']));

  const tokens = new Map<string, Identity>();
  const tokenOf = new Map<string, string>();
  const addToken = (user: string, id: Identity): string => {
    const t = `${user.replace(/[^a-z0-9-]/gi, '-')}.${randomBytes(16).toString('hex')}`;
    tokens.set(t, id);
    tokenOf.set(user, t);
    return t;
  };
  addToken('admin', { name: 'kubernetes-admin', groups: ['system:masters'] });
  for (const n of nodes) addToken(n, { name: `system:node:${n}`, groups: ['system:nodes'] });
  for (const [t, id] of Object.entries(opts.tokens ?? {})) tokens.set(t, id);
  for (const t of opts.bootstrapTokens ?? []) {
    const m = /^([a-z0-9]{6})\.[a-z0-9]{16}$/.exec(t);
    if (!m) throw new Error(`apiserver stand-in: bootstrap token ${JSON.stringify(t)} is not [a-z0-9]{6}.[a-z0-9]{16}`);
    tokens.set(t, {
      name: `system:bootstrap:${m[1]}`,
      groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token'],
    });
  }
  const tokenFor = (user: string): string =>
    tokenOf.get(user) ?? addToken(user, { name: `system:node:${user}`, groups: ['system:nodes'] });

  const store = new Store({ now, ...(opts.historyLimit !== undefined ? { historyLimit: opts.historyLimit } : {}) });
  const nsRes = resolveResource('namespaces');
  // the controllers every cluster runs for a new namespace: the root-CA publisher and the
  // service-account controller (asynchronous upstream too: a moment after the namespace)
  const cmRes = resolveResource('configmaps');
  const saRes = resolveResource('serviceaccounts');
  const populate = (ns: string): void => {
    if (!store.tryGet(nsRes, '', ns)) return;
    if (!store.tryGet(cmRes, ns, 'kube-root-ca.crt')) {
      store.create(cmRes, ns, {
        metadata: {
          name: 'kube-root-ca.crt',
          annotations: {
            'kubernetes.io/description':
              'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
          },
        },
        data: { 'ca.crt': pki.ca },
      });
    }
    if (!store.tryGet(saRes, ns, 'default')) store.create(saRes, ns, { metadata: { name: 'default' } });
  };
  store.subscribe((c) => {
    if (c.storage === '/namespaces' && c.type === 'ADDED') {
      const name = String((c.object.metadata as JsonObject).name);
      queueMicrotask(() => populate(name));
    }
  });
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.create(nsRes, '', { metadata: { name: ns } });
    populate(ns);
  }
  if (opts.registerNodes) {
    const nodeRes = resolveResource('nodes');
    for (const n of nodes)
      store.create(nodeRes, '', { metadata: { name: n, labels: { 'kubernetes.io/hostname': n } } });
  }

  const csrRes = resolveResource('certificatesigningrequests');
  const csr = startCsrControllers(
    {
      onCsr: (fn) =>
        store.subscribe((c) => {
          if (c.storage === csrRes.storage && c.type !== 'DELETED') fn(c.object);
        }),
      get: (name) => store.tryGet(csrRes, '', name),
      put: (obj, sub) => {
        store.update(csrRes, '', String((obj.metadata as JsonObject).name), obj, sub);
      },
    },
    {
      ca: { certPem: pki.ca, keyPem: pki.caKey },
      defaultDurationSeconds: opts.csrSigningDurationSeconds ?? 365 * 86_400,
      now: () => now().getTime(),
    },
    opts.csrApprover ?? 'auto',
  );

  const faults = new Faults();
  const requests = new RequestLog();
  const tokenIssuer = new TokenIssuer();
  let port = 0;
  const reviews = new Reviews();
  // kube-apiserver's client certificate towards kubelets (kubeadm's apiserver-kubelet-client)
  const kubeletClient = await pki.client('kube-apiserver-kubelet-client', ['system:masters']);
  const core = new ApiServerCore({
    issuer: tokenIssuer,
    store,
    faults,
    log: requests,
    tokens,
    extensions: [
      reviews.extension(tokens),
      kubeletProxy(store, resolveResource('pods'), resolveResource('nodes'), kubeletClient),
    ],
    authorizeNodeWithSelectors: opts.authorizeNodeWithSelectors ?? true,
    bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60000,
    serverAddress: () => `127.0.0.1:${port}`,
    now,
  });

  const sockets = new Set<Socket>();
  const server: Server = createServer({
    key: pki.serving.key,
    cert: pki.serving.cert,
    ca: pki.ca,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('request', (req, res) => {
    core.handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: String(e),
            reason: 'InternalError',
            code: 500,
          }),
        );
      } else {
        res.destroy();
      }
    });
  });
  server.on('tlsClientError', () => {});
  // pods/exec upgrades: authenticated and authorized as any request, then proxied to the kubelet
  server.on(
    'upgrade',
    kubeletUpgrade(store, resolveResource('pods'), resolveResource('nodes'), kubeletClient, (req) => {
      const url = new URL(req.url ?? '/', 'https://apiserver.invalid');
      const info = parseRequestInfo((req.method ?? 'GET').toUpperCase(), url.pathname, url.searchParams);
      // kube-apiserver authorizes these as create on the subresource, whatever the method (pod/rest/authorize.go)
      info.verb = 'create';
      const id = authenticate(req, tokens);
      if (!id) return { status: 401, message: 'Unauthorized' };
      const d = authorize(
        id,
        info,
        [],
        { pods: () => store.list(resolveResource('pods'), {}).items },
        { authorizeNodeWithSelectors: opts.authorizeNodeWithSelectors ?? true },
      );
      if (!d.allowed)
        return {
          status: 403,
          message: `pods "${info.name}" is forbidden: User "${id.name}" cannot create resource "pods/${info.subresource}"`,
        };
      return { info, query: url.searchParams };
    }),
  );

  let listening = false;
  let stopped = false;
  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(e);
      server.once('error', onErr);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', onErr);
        listening = true;
        resolve();
      });
    });
  await listen(0);
  port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;

  const dropAll = (): void => {
    core.closeWatches();
    for (const s of sockets) s.destroy();
  };
  faults.onChange = () => {
    if (stopped) return;
    if (faults.refusingAll && listening) {
      listening = false;
      server.close();
      dropAll();
    } else if (!faults.refusingAll && !listening) {
      listen(port).catch(() => {
        /* the port was taken meanwhile: the server stays down */
      });
    }
  };

  const kubeconfigYaml = (o: KubeconfigOptions): string => {
    const auth = o.auth ?? 'cert';
    const userEntry: JsonObject = {};
    if (auth === 'token') {
      userEntry.token = tokenFor(o.user);
    } else {
      const c = certs.get(o.user);
      if (!c)
        throw new Error(
          `apiserver stand-in: no client certificate for ${JSON.stringify(o.user)}; declare it in startApiServer({ nodes })`,
        );
      if (o.embed) {
        userEntry['client-certificate-data'] = Buffer.from(c.cert).toString('base64');
        userEntry['client-key-data'] = Buffer.from(c.key).toString('base64');
      } else {
        userEntry['client-certificate'] = c.certFile;
        userEntry['client-key'] = c.keyFile;
      }
    }
    const cluster: JsonObject = { server: url };
    if (o.embed) cluster['certificate-authority-data'] = Buffer.from(pki.ca).toString('base64');
    else cluster['certificate-authority'] = pki.caFile;
    const userName = o.user === 'admin' ? 'kubernetes-admin' : `system:node:${o.user}`;
    return YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kubelet-ts-test', cluster }],
      users: [{ name: userName, user: userEntry }],
      contexts: [{ name: `${userName}@kubelet-ts-test`, context: { cluster: 'kubelet-ts-test', user: userName } }],
      'current-context': `${userName}@kubelet-ts-test`,
      preferences: {},
    });
  };
  const writeKubeconfig = (path: string, o: KubeconfigOptions): void => {
    writeFileSync(path, kubeconfigYaml(o), { mode: 0o600 });
  };
  const kubeconfigFor = (node: string, auth: AuthKind = 'cert'): string => {
    const p = join(dir, `${node}-${auth}.kubeconfig`);
    writeKubeconfig(p, { user: node, auth });
    return p;
  };
  const adminKubeconfig = join(dir, 'admin.kubeconfig');
  writeKubeconfig(adminKubeconfig, { user: 'admin', auth: 'cert' });

  const nsOf = (o: JsonObject): string => {
    const m = (o.metadata ?? {}) as JsonObject;
    return typeof m.namespace === 'string' && m.namespace ? m.namespace : 'default';
  };
  const nameOf = (o: JsonObject): string => String(((o.metadata ?? {}) as JsonObject).name ?? '');
  const storeApi: StoreApi = {
    get(kind, a, b) {
      const r = resolveResource(kind);
      const [ns, name] = b === undefined ? [r.namespaced ? 'default' : '', a] : [a, b];
      return store.tryGet(r, r.namespaced ? ns : '', name);
    },
    list(kind, o) {
      return store.list(resolveResource(kind), o ?? {}).items;
    },
    create(kind, obj) {
      const r = resolveResource(kind);
      return store.create(r, r.namespaced ? nsOf(obj) : '', obj);
    },
    update(kind, obj) {
      const r = resolveResource(kind);
      return store.update(r, r.namespaced ? nsOf(obj) : '', nameOf(obj), obj).object;
    },
    updateStatus(kind, obj) {
      const r = resolveResource(kind);
      return store.update(r, r.namespaced ? nsOf(obj) : '', nameOf(obj), obj, 'status').object;
    },
    patch(kind, ns, name, patch, type = 'strategic', subresource = '') {
      const r = resolveResource(kind);
      return store.patch(r, r.namespaced ? ns : '', name, type, patch, subresource);
    },
    delete(kind, ns, name, o) {
      const r = resolveResource(kind);
      return store.delete(r, r.namespaced ? ns : '', name, o ?? {});
    },
    get resourceVersion() {
      return store.resourceVersion;
    },
    compact(rv) {
      store.compact(rv);
    },
  };

  return {
    url,
    port,
    caFile: pki.caFile,
    ca: pki.ca,
    kubeconfigFor,
    adminKubeconfig,
    writeKubeconfig,
    tokenFor,
    certFor(user) {
      const c = certs.get(user);
      if (!c)
        throw new Error(
          `apiserver stand-in: no client certificate for ${JSON.stringify(user)}; declare it in startApiServer({ nodes })`,
        );
      return c;
    },
    clientCert: (user, groups) => pki.client(user, groups),
    untrustedCert: (user, groups) => pki.untrustedClient(user, groups),
    store: storeApi,
    csr,
    writeBootstrapKubeconfig(path, token) {
      writeFileSync(
        path,
        YAML.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'kubernetes',
              cluster: { server: url, 'certificate-authority-data': Buffer.from(pki.ca).toString('base64') },
            },
          ],
          users: [{ name: 'tls-bootstrap-token-user', user: { token } }],
          contexts: [
            {
              name: 'tls-bootstrap-token-user@kubernetes',
              context: { cluster: 'kubernetes', user: 'tls-bootstrap-token-user' },
            },
          ],
          'current-context': 'tls-bootstrap-token-user@kubernetes',
        }),
        { mode: 0o600 },
      );
    },
    faults,
    requests,
    reviews,
    serviceAccountIssuer: { issuer: tokenIssuer.issuer, jwks: () => tokenIssuer.jwks() },
    watchersCount: () => core.watchers.size,
    bookmarkNow: () => core.bookmarkNow(),
    closeWatches: () => core.closeWatches(),
    async stop() {
      if (stopped) return;
      stopped = true;
      core.closeWatches();
      for (const res of core.hung) res.destroy();
      const closed = listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      listening = false;
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      await closed;
      process.off('exit', removeDir);
      removeDir();
    },
  };
}
