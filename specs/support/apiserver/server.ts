/**
 * The HTTP side: request parsing, the handler chain in kube-apiserver's order (faults stand in for
 * the network; then authentication → authorization → routing → admission/registry), responses
 * as JSON with upstream's status codes, and chunked watch streams.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import YAML from 'yaml';
import { type ApiError, errors, isApiError } from './status.ts';
import type { Json, JsonObject } from './status.ts';
import { isObject } from './patch.ts';
import { setCsrRequester } from './certificates.ts';
import type { Identity, RequestInfo } from './auth.ts';
import {
  admitNodeTokenRequest,
  authenticate,
  authorize,
  forbidden,
  nodeIdentity,
  nodeRestriction,
  OIDC_PATHS,
  parseRequestInfo,
} from './auth.ts';
import type { TokenIssuer } from './tokens.ts';
import type { Faults, FaultSpec, RequestLog, RequestRecord } from './faults.ts';
import type { Change, DeleteOptions, PatchType, Store, Admit } from './store.ts';
import type { ResourceType } from './resources.ts';
import { findResource, gvString, selectableFields, supportedField, RESOURCES } from './resources.ts';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { FieldSelector, LabelSelector } from './selectors.ts';
import type { Extension } from './extension.ts';
import {
  VERSION_INFO,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiV3Doc,
  openApiV3Root,
  toTable,
  wantsTable,
} from './discovery.ts';

export interface CoreOptions {
  store: Store;
  faults: Faults;
  log: RequestLog;
  tokens: ReadonlyMap<string, Identity>;
  authorizeNodeWithSelectors: boolean;
  bookmarkIntervalMs: number;
  serverAddress: () => string;
  now: () => Date;
  /** Answer requests outside the store (reviews, kubelet proxies), tried in order. */
  extensions?: readonly Extension[];
  /** Signs TokenRequest answers and serves the OIDC discovery documents. */
  issuer: TokenIssuer;
}

interface WatchStream {
  resource: ResourceType;
  res: ServerResponse;
  bookmarks: boolean;
  /** Sends a BOOKMARK now (if the client asked for bookmarks). */
  bookmark(): void;
  close(): void;
}

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

const PODS = RESOURCES.find((r) => r.group === '' && r.resource === 'pods')!;
const NODES = RESOURCES.find((r) => r.group === '' && r.resource === 'nodes')!;
const SERVICE_ACCOUNTS = RESOURCES.find((r) => r.group === '' && r.resource === 'serviceaccounts')!;

function mediaType(ct: string | undefined): string {
  return (ct ?? '').split(';')[0]!.trim().toLowerCase();
}

export class ApiServerCore {
  readonly watchers = new Set<WatchStream>();
  /** Responses deliberately never answered (`hang`). */
  readonly hung = new Set<ServerResponse>();
  private readonly o: CoreOptions;

  constructor(o: CoreOptions) {
    this.o = o;
  }

  bookmarkNow(): void {
    for (const w of this.watchers) w.bookmark();
  }

  closeWatches(): void {
    for (const w of [...this.watchers]) w.close();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://apiserver.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const info = parseRequestInfo(method, url.pathname, url.searchParams);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const id = authenticate(req, this.o.tokens);
    const rec = this.o.log.begin({
      time: this.o.now(),
      method,
      path: url.pathname,
      query,
      verb: info.verb,
      apiGroup: info.apiGroup,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
      ...(id ? { user: id.name, groups: id.groups } : {}),
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      watch: info.verb === 'watch',
    });
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch {
      this.o.log.done(rec, 0);
      return;
    }
    let body: unknown;
    let bodyError: ApiError | undefined;
    if (raw.length > 0) {
      try {
        body = decodeBody(raw, req.headers['content-type']);
        rec.body = body;
      } catch (e) {
        bodyError = isApiError(e) ? e : errors.badRequest(String(e));
      }
    }
    const fault = this.o.faults.match(info, id?.name);
    if (fault) {
      rec.fault = fault.mode;
      if (this.applyFault(fault, info, url.searchParams, req, res, rec)) return;
    }
    try {
      if (!id) throw errors.unauthorized();
      const fieldSel = info.isResourceRequest ? safeFieldSelector(url.searchParams.get('fieldSelector')) : [];
      const decision = authorize(
        id,
        info,
        fieldSel,
        { pods: () => this.o.store.peek(PODS) },
        {
          authorizeNodeWithSelectors: this.o.authorizeNodeWithSelectors,
        },
      );
      if (!decision.allowed) throw forbidden(id, info, decision.reason);
      if (bodyError) throw bodyError;
      for (const ext of this.o.extensions ?? []) {
        const send = (code: number, b: unknown) => this.send(res, rec, code, b);
        if (
          await ext({
            info,
            query: url.searchParams,
            body,
            id,
            req,
            res,
            send,
            done: (code) => this.o.log.done(rec, code),
          })
        )
          return;
      }
      if (!info.isResourceRequest) {
        this.serveNonResource(info, res, rec);
        return;
      }
      await this.serveResource(info, url.searchParams, body, req, res, rec, id);
    } catch (e) {
      const err = isApiError(e) ? e : errors.internal(e instanceof Error ? e.message : String(e));
      this.send(res, rec, err.status.code, err.status, err.headers);
    }
  }

  /** Returns true when the fault answered (or swallowed) the request. */
  private applyFault(
    f: FaultSpec,
    info: RequestInfo,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
  ): boolean {
    switch (f.mode) {
      case 'refuse':
        this.o.log.done(rec, 0);
        req.socket.destroy();
        return true;
      case 'hang':
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return true;
      case 'status500': {
        const e = errors.internal('injected fault (apiserver stand-in)');
        this.send(res, rec, 500, e.status);
        return true;
      }
      case 'status429': {
        const e = errors.tooManyRequests(f.retryAfterSeconds ?? 1);
        this.send(res, rec, 429, e.status, e.headers);
        return true;
      }
      case 'gone410': {
        const rv = this.o.store.resourceVersion;
        if (info.verb === 'watch') {
          this.startStream(res, rec);
          const asked = Number(q.get('resourceVersion') ?? '0') || 0;
          const e = errors.expired(`too old resource version: ${asked} (${rv})`);
          res.end(JSON.stringify({ type: 'ERROR', object: e.status }) + '\n');
          return true;
        }
        const e = errors.expired('The resourceVersion for the provided list is too old.');
        this.send(res, rec, 410, e.status);
        return true;
      }
    }
  }

  private send(
    res: ServerResponse,
    rec: RequestRecord,
    code: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    this.o.log.done(rec, code);
    if (res.headersSent || res.destroyed) {
      res.end();
      return;
    }
    const payload = JSON.stringify(body) + '\n';
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Audit-Id': randomUUID(),
      'Content-Length': Buffer.byteLength(payload),
      ...headers,
    });
    res.end(rec.method === 'HEAD' ? undefined : payload);
  }

  private startStream(res: ServerResponse, rec: RequestRecord): void {
    this.o.log.done(rec, 200);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Audit-Id': randomUUID(),
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
  }

  private serveNonResource(info: RequestInfo, res: ServerResponse, rec: RequestRecord): void {
    if (info.verb !== 'get' && info.verb !== 'head') throw errors.methodNotAllowed();
    const p = info.path.replace(/\/+$/, '') || '/';
    const parts = p.split('/').filter(Boolean);
    if (p === '/version') return this.send(res, rec, 200, VERSION_INFO);
    if (p === OIDC_PATHS[0])
      return this.send(res, rec, 200, this.o.issuer.discovery(`https://${this.o.serverAddress()}`));
    if (p === OIDC_PATHS[1]) return this.send(res, rec, 200, this.o.issuer.jwks());
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      this.o.log.done(rec, 200);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end('ok');
      return;
    }
    if (p === '/api') return this.send(res, rec, 200, apiVersions(this.o.serverAddress()));
    if (p === '/openapi/v3') return this.send(res, rec, 200, openApiV3Root());
    if (p.startsWith('/openapi/v3/')) {
      const doc = openApiV3Doc(p.slice('/openapi/v3/'.length));
      if (doc) return this.send(res, rec, 200, doc);
    }
    if (parts[0] === 'api' && parts.length === 2) {
      const list = apiResourceList('', parts[1]!);
      if (list) return this.send(res, rec, 200, list);
    }
    if (p === '/apis') return this.send(res, rec, 200, apiGroupList());
    if (parts[0] === 'apis' && parts.length === 2) {
      const g = apiGroup(parts[1]!);
      if (g) return this.send(res, rec, 200, g);
    }
    if (parts[0] === 'apis' && parts.length === 3) {
      const list = apiResourceList(parts[1]!, parts[2]!);
      if (list) return this.send(res, rec, 200, list);
    }
    throw errors.noSuchPath();
  }

  private admitFor(id: Identity): Admit | undefined {
    const nodeName = nodeIdentity(id);
    if (nodeName === undefined || id.groups.includes('system:masters')) return undefined;
    return (attrs) => nodeRestriction(nodeName, attrs, { node: (n) => this.o.store.tryGet(NODES, '', n) });
  }

  private async serveResource(
    info: RequestInfo,
    q: URLSearchParams,
    body: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    id: Identity,
  ): Promise<void> {
    const r = findResource(info.apiGroup, info.apiVersion, info.resource);
    if (!r) throw errors.noSuchPath();
    const store = this.o.store;
    const isNamespaceObject = info.resource === 'namespaces' && info.apiGroup === '';
    const namespace = r.namespaced ? info.namespace : '';
    // a namespaced path for a cluster-scoped resource is no route (the namespace object itself aside)
    if (!r.namespaced && info.namespace && !isNamespaceObject) throw errors.noSuchPath();
    if (info.subresource && !r.subresources.includes(info.subresource)) throw errors.noSuchPath();
    if (r.namespaced && !info.namespace && info.verb !== 'list' && info.verb !== 'watch') {
      if (info.name) throw errors.noSuchPath();
      throw errors.methodNotAllowed();
    }
    const dryRun = q.getAll('dryRun').includes('All');
    const admit = this.admitFor(id);
    const accept = req.headers.accept;
    const table = wantsTable(accept);
    const includeObject = q.get('includeObject') ?? 'Metadata';
    const name = info.name;
    switch (info.verb) {
      case 'get': {
        if (info.subresource === 'binding' || info.subresource === 'token') throw errors.methodNotAllowed();
        const o = store.get(r, namespace, name);
        if (table)
          return this.send(
            res,
            rec,
            200,
            toTable(
              r,
              [o],
              { resourceVersion: String(o.metadata && (o.metadata as JsonObject).resourceVersion) },
              includeObject,
              this.o.now(),
            ),
          );
        return this.send(res, rec, 200, o);
      }
      case 'list': {
        const limitStr = q.get('limit');
        const limit = limitStr ? Number(limitStr) : 0;
        if (limitStr && !Number.isInteger(limit))
          throw errors.badRequest(`strconv.ParseInt: parsing "${limitStr}": invalid syntax`);
        const rv = q.get('resourceVersion') ?? '';
        if (rv && rv !== '0' && /^\d+$/.test(rv) && Number(rv) > store.resourceVersion && !q.get('continue')) {
          const ok = await store.waitForRv(Number(rv), 3000);
          if (!ok) throw errors.tooLargeResourceVersion(Number(rv), store.resourceVersion);
        }
        const result = store.list(r, {
          namespace,
          labelSelector: q.get('labelSelector') ?? '',
          fieldSelector: q.get('fieldSelector') ?? '',
          limit,
          continue: q.get('continue') ?? '',
          resourceVersion: rv,
          resourceVersionMatch: q.get('resourceVersionMatch') ?? '',
        });
        const listMeta: JsonObject = { resourceVersion: result.resourceVersion };
        if (result.continue) listMeta.continue = result.continue;
        if (result.remainingItemCount !== undefined) listMeta.remainingItemCount = result.remainingItemCount;
        if (table) return this.send(res, rec, 200, toTable(r, result.items, listMeta, includeObject, this.o.now()));
        const items = result.items.map((o) => {
          const { apiVersion: _a, kind: _k, ...rest } = o;
          return rest;
        });
        return this.send(res, rec, 200, { kind: `${r.kind}List`, apiVersion: gvString(r), metadata: listMeta, items });
      }
      case 'watch':
        return this.serveWatch(r, namespace, info, q, req, res, rec, table ? includeObject : undefined);
      case 'create': {
        if (name && info.subresource === 'binding' && r === PODS) {
          if (!id.groups.includes('system:masters')) throw forbidden(id, info, '');
          store.bind(r, namespace, name, body);
          return this.send(res, rec, 201, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            code: 201,
          });
        }
        if (name && info.subresource === 'token' && r === SERVICE_ACCOUNTS) {
          const node = nodeIdentity(id);
          const podOf = (ns: string, n: string) => store.tryGet(PODS, ns, n);
          if (node !== undefined && !id.groups.includes('system:masters'))
            admitNodeTokenRequest(node, namespace, name, body as Json | undefined, podOf);
          const answer = this.o.issuer.request(
            namespace,
            name,
            body,
            {
              serviceAccount: (ns, n) => store.tryGet(SERVICE_ACCOUNTS, ns, n),
              pod: podOf,
              node: (n) => store.tryGet(NODES, '', n),
            },
            this.o.now().getTime(),
          );
          return this.send(res, rec, 201, answer);
        }
        if (name) throw errors.methodNotAllowed();
        if (body === undefined) throw errors.badRequest('the body of the request was empty');
        if (r.resource === 'certificatesigningrequests' && isObject(body)) setCsrRequester(body, id);
        const created = store.create(r, isNamespaceObject ? '' : namespace, body, {
          dryRun,
          ...(admit ? { admit } : {}),
        });
        return this.send(res, rec, 201, created);
      }
      case 'update': {
        if (!name) throw errors.methodNotAllowed();
        if (body === undefined) throw errors.badRequest('the body of the request was empty');
        const { object, created } = store.update(r, isNamespaceObject ? '' : namespace, name, body, info.subresource, {
          dryRun,
          ...(admit ? { admit } : {}),
        });
        return this.send(res, rec, created ? 201 : 200, object);
      }
      case 'patch': {
        if (!name) throw errors.methodNotAllowed();
        const ct = mediaType(req.headers['content-type']);
        const type = PATCH_TYPES[ct];
        if (ct === 'application/apply-patch+yaml' || ct === 'application/apply-patch+cbor') {
          throw errors.unsupportedMediaType(ct, [
            'application/json-patch+json',
            'application/merge-patch+json',
            'application/strategic-merge-patch+json',
          ]);
        }
        if (!type) {
          throw errors.unsupportedMediaType(ct, [
            'application/json-patch+json',
            'application/merge-patch+json',
            'application/apply-patch+yaml',
            'application/strategic-merge-patch+json',
            'application/apply-patch+cbor',
          ]);
        }
        if (body === undefined) throw errors.badRequest('the body of the request was empty');
        const patched = store.patch(r, isNamespaceObject ? '' : namespace, name, type, body, info.subresource, {
          dryRun,
          ...(admit ? { admit } : {}),
        });
        return this.send(res, rec, 200, patched);
      }
      case 'delete': {
        if (info.subresource) throw errors.methodNotAllowed();
        const opts = deleteOptions(body, q);
        const { body: out } = store.delete(r, isNamespaceObject ? '' : namespace, name, {
          ...opts,
          dryRun: dryRun || opts.dryRun === true,
          ...(admit ? { admit } : {}),
        });
        return this.send(res, rec, 200, out);
      }
      case 'deletecollection':
      default:
        throw errors.methodNotAllowed();
    }
  }

  private async serveWatch(
    r: ResourceType,
    namespace: string,
    info: RequestInfo,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    tableInclude: string | undefined,
  ): Promise<void> {
    const store = this.o.store;
    let fieldSelStr = q.get('fieldSelector') ?? '';
    if (info.legacyWatch && info.name && !/metadata\.name/.test(fieldSelStr)) {
      fieldSelStr = fieldSelStr ? `${fieldSelStr},metadata.name=${info.name}` : `metadata.name=${info.name}`;
    }
    const labelSel: LabelSelector = parseLabelSelector(q.get('labelSelector'));
    const fieldSel: FieldSelector = parseFieldSelector(fieldSelStr, supportedField(r));
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const sendInitialParam = q.get('sendInitialEvents');
    const sendInitial = sendInitialParam === 'true' || sendInitialParam === '1';
    const rvMatch = q.get('resourceVersionMatch') ?? '';
    const timeoutStr = q.get('timeoutSeconds');
    const invalid = (field: string, detail: string): ApiError =>
      errors.invalid({ group: 'meta.k8s.io', kind: 'ListOptions' }, '', [{ field, type: 'Forbidden', detail }]);
    if (sendInitialParam !== null) {
      if (rvMatch !== 'NotOlderThan')
        throw invalid(
          'sendInitialEvents',
          'sendInitialEvents is forbidden for watch unless resourceVersionMatch=NotOlderThan',
        );
      if (sendInitial && !bookmarks)
        throw invalid('allowWatchBookmarks', 'sendInitialEvents requires setting allowWatchBookmarks=true');
    } else if (rvMatch) {
      throw invalid(
        'resourceVersionMatch',
        'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
      );
    }
    if (rvParam !== '' && !/^\d+$/.test(rvParam))
      throw errors.badRequest(`invalid resource version: strconv.ParseUint: parsing "${rvParam}": invalid syntax`);
    this.startStream(res, rec);

    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = (): void => {};
    const render = (o: JsonObject): JsonObject =>
      tableInclude !== undefined
        ? toTable(
            r,
            [o],
            { resourceVersion: String((o.metadata as JsonObject).resourceVersion ?? '') },
            tableInclude,
            this.o.now(),
          )
        : o;
    const write = (type: string, object: Json): void => {
      if (closed) return;
      res.write(JSON.stringify({ type, object }) + '\n');
    };
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      for (const t of timers) clearTimeout(t); // clears intervals too
      this.watchers.delete(stream);
      if (!res.writableEnded) res.end();
    };
    const passes = (o: JsonObject): boolean => {
      const m = isObject(o.metadata) ? o.metadata : {};
      if (namespace && m.namespace !== namespace) return false;
      if (!matchLabels(labelSel, m.labels as Record<string, string> | undefined)) return false;
      return matchFields(fieldSel, selectableFields(r, o));
    };
    let lastRv = store.resourceVersion;
    let live = false;
    const rvNum = rvParam === '' ? 0 : Number(rvParam);
    const bookmarkObject = (rv: number, annotations?: Record<string, string>): JsonObject => {
      const metadata: JsonObject = { resourceVersion: String(rv), creationTimestamp: null };
      if (annotations) metadata.annotations = annotations;
      const o: JsonObject = { kind: r.kind, apiVersion: gvString(r), metadata };
      if (r === PODS) {
        o.spec = { containers: null };
        o.status = {};
      } else if (r.hasStatus) {
        o.spec = {};
        o.status = {};
      }
      return o;
    };
    const stream: WatchStream = {
      resource: r,
      res,
      bookmarks,
      bookmark: () => {
        // only once live: a bookmark must not run ahead of the replayed events; and, like any
        // event, only past the resourceVersion the watch started from
        const at = Math.max(lastRv, store.resourceVersion);
        if (bookmarks && live && !closed && at > rvNum) write('BOOKMARK', bookmarkObject(at));
      },
      close,
    };
    const onChange = (c: Change): void => {
      // the cacheWatcher sends only events newer than the watch's resourceVersion
      if (c.storage !== r.storage || closed || c.rv <= rvNum) return;
      lastRv = c.rv;
      const cur = store.toExternal(r, c.object);
      const prev = c.prev ? store.toExternal(r, c.prev) : undefined;
      const curPass = c.type !== 'DELETED' && passes(cur);
      const prevPass = c.type === 'DELETED' ? passes(cur) : prev !== undefined && passes(prev);
      if (c.type === 'DELETED') {
        if (prevPass) write('DELETED', render(cur));
        return;
      }
      if (curPass && !prevPass) write('ADDED', render(cur));
      else if (curPass && prevPass) write('MODIFIED', render(cur));
      else if (!curPass && prevPass && prev) {
        (prev.metadata as JsonObject).resourceVersion = String(c.rv);
        write('DELETED', render(prev));
      }
    };
    req.on('close', close);
    res.on('close', close);
    this.watchers.add(stream);
    if (timeoutStr !== null && Number(timeoutStr) > 0) {
      const t = setTimeout(close, Number(timeoutStr) * 1000);
      t.unref();
      timers.push(t);
    }
    if (bookmarks && this.o.bookmarkIntervalMs > 0) {
      const t = setInterval(() => stream.bookmark(), this.o.bookmarkIntervalMs);
      t.unref();
      timers.push(t);
    }

    // A resourceVersion the store has not reached yet (kube-apiserver's watch cache, 1.34): with
    // sendInitialEvents the watch waits up to 3 s for it, then gets "Too large resource version"
    // as an ERROR event (waitUntilWatchCacheFreshAndForceAllEvents); a plain watch is established
    // at once and simply delivers the changes after that resourceVersion when they come.
    if (sendInitial && rvNum > store.resourceVersion) {
      const ok = await store.waitForRv(rvNum, 3000);
      if (!ok) {
        write('ERROR', errors.tooLargeResourceVersion(rvNum, store.resourceVersion).status as unknown as Json);
        close();
        return;
      }
    }
    if (closed) return;
    // from here on everything is synchronous: replay and subscription see one consistent store
    const initial = sendInitial || (sendInitialParam === null && (rvParam === '' || rvParam === '0'));
    if (initial) {
      for (const o of store.all(r)) if (passes(o)) write('ADDED', render(o));
      lastRv = store.resourceVersion;
      if (sendInitial) {
        write('BOOKMARK', bookmarkObject(store.resourceVersion, { 'k8s.io/initial-events-end': 'true' }));
      }
    } else if (rvParam === '' || rvParam === '0') {
      // sendInitialEvents=false without a resourceVersion: from now on, no replay
      lastRv = store.resourceVersion;
    } else {
      if (rvNum < store.oldestWatchableRv) {
        write(
          'ERROR',
          errors.expired(`too old resource version: ${rvNum} (${store.oldestWatchableRv})`).status as unknown as Json,
        );
        close();
        return;
      }
      for (const c of store.changesSince(r.storage, rvNum)) onChange(c);
      lastRv = Math.max(lastRv, store.resourceVersion);
    }
    unsubscribe = store.subscribe(onChange);
    live = true;
  }
}

function safeFieldSelector(s: string | null): FieldSelector {
  try {
    return parseFieldSelector(s);
  } catch {
    return [];
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('aborted')));
  });
}

function decodeBody(raw: Buffer, contentType: string | undefined): unknown {
  const ct = mediaType(contentType);
  const text = raw.toString('utf8');
  if (ct === 'application/yaml' || ct === 'application/apply-patch+yaml') {
    try {
      return YAML.parse(text) as unknown;
    } catch (e) {
      throw errors.badRequest(`error converting YAML to JSON: ${(e as Error).message}`);
    }
  }
  if (ct === 'application/vnd.kubernetes.protobuf' || ct === 'application/cbor') {
    throw errors.unsupportedMediaType(ct, ['application/json', 'application/yaml']);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw errors.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

/** DeleteOptions from the body, or (only when there is no body, as upstream) from the query. */
function deleteOptions(body: unknown, q: URLSearchParams): Omit<DeleteOptions, 'dryRun'> & { dryRun?: boolean } {
  if (body !== undefined) {
    if (!isObject(body)) throw errors.badRequest('DeleteOptions must be an object');
    const out: Omit<DeleteOptions, 'dryRun'> & { dryRun?: boolean } = {};
    if (typeof body.gracePeriodSeconds === 'number') out.gracePeriodSeconds = body.gracePeriodSeconds;
    if (isObject(body.preconditions)) {
      out.preconditions = {
        ...(typeof body.preconditions.uid === 'string' ? { uid: body.preconditions.uid } : {}),
        ...(typeof body.preconditions.resourceVersion === 'string'
          ? { resourceVersion: body.preconditions.resourceVersion }
          : {}),
      };
    }
    if (typeof body.propagationPolicy === 'string') out.propagationPolicy = body.propagationPolicy;
    if (typeof body.orphanDependents === 'boolean') out.orphanDependents = body.orphanDependents;
    if (Array.isArray(body.dryRun) && body.dryRun.includes('All')) out.dryRun = true;
    return out;
  }
  const out: Omit<DeleteOptions, 'dryRun'> & { dryRun?: boolean } = {};
  const g = q.get('gracePeriodSeconds');
  if (g !== null) {
    if (!/^-?\d+$/.test(g)) throw errors.badRequest(`strconv.ParseInt: parsing "${g}": invalid syntax`);
    out.gracePeriodSeconds = Number(g);
  }
  const pp = q.get('propagationPolicy');
  if (pp !== null) out.propagationPolicy = pp;
  const od = q.get('orphanDependents');
  if (od !== null) out.orphanDependents = od === 'true';
  return out;
}
