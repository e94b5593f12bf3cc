/**
 * Who is asking and what they may do, as kube-apiserver decides it with
 * `--anonymous-auth=false --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction`
 * and no RBAC bindings beyond the bootstrap ones:
 *
 * - authentication: a client certificate verified against the CA (user = CN, groups = O), else a
 *   bearer token from the token table; anything else is 401 Unauthorized;
 * - authorization: group system:masters may do anything; every authenticated user may read the
 *   discovery paths (system:discovery); a node (user system:node:<name> in group system:nodes) is
 *   judged by the Node authorizer (plugin/pkg/auth/authorizer/node, AuthorizeNodeWithSelectors on
 *   as since 1.32, or the static system:node rules when `authorizeNodeWithSelectors: false`);
 *   everyone else is denied;
 * - admission: NodeRestriction (plugin/pkg/admission/noderestriction) for pods, pods/status, nodes,
 *   leases and serviceaccounts/token.
 *
 * Denials carry upstream's messages (responsewriters.forbiddenMessage + the authorizer's reason;
 * admission.NewForbidden).
 */
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import { errors } from './status.ts';
import type { ApiError, Json, JsonObject } from './status.ts';
import { isObject, deepEqual } from './patch.ts';
import type { AdmissionAttributes } from './store.ts';
import type { FieldSelector } from './selectors.ts';

export interface Identity {
  name: string;
  groups: string[];
}

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  /** Resource verbs (get list watch create update patch delete deletecollection) or the lowercased HTTP method. */
  verb: string;
  apiPrefix: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** The request came through the deprecated /watch/ path prefix. */
  legacyWatch: boolean;
}

/** k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory, for the /api and /apis prefixes. */
export function parseRequestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    legacyWatch: false,
  };
  let parts = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((p) => p !== '');
  if (parts.length < 1 || (parts[0] !== 'api' && parts[0] !== 'apis')) return info;
  info.apiPrefix = parts[0]!;
  parts = parts.slice(1);
  if (info.apiPrefix === 'apis') {
    if (parts.length < 3) return info; // /apis, /apis/<group>, /apis/<group>/<version>: discovery
    info.apiGroup = parts[0]!;
    parts = parts.slice(1);
  } else if (parts.length < 2) {
    return info; // /api, /api/v1
  }
  info.apiVersion = parts[0]!;
  parts = parts.slice(1);
  info.isResourceRequest = true;
  if (parts[0] === 'watch') {
    info.verb = 'watch';
    info.legacyWatch = true;
    parts = parts.slice(1);
  } else {
    switch (method) {
      case 'POST':
        info.verb = 'create';
        break;
      case 'GET':
      case 'HEAD':
        info.verb = 'get';
        break;
      case 'PUT':
        info.verb = 'update';
        break;
      case 'PATCH':
        info.verb = 'patch';
        break;
      case 'DELETE':
        info.verb = 'delete';
        break;
      default:
        info.verb = '';
    }
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1]!;
      // /namespaces/<ns>/status and /finalize are subresources of the namespace itself
      if (parts.length > 2 && parts[2] !== 'status' && parts[2] !== 'finalize') parts = parts.slice(2);
    }
  }
  info.resource = parts[0] ?? '';
  info.name = parts[1] ?? '';
  info.subresource = parts[2] ?? '';
  if (info.name === '' && info.verb === 'get') {
    const w = query.get('watch');
    info.verb = w === 'true' || w === '1' ? 'watch' : 'list';
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  if ((info.verb === 'list' || info.verb === 'watch') && info.name === '') {
    // a metadata.name field selector names the object (and authorizes like a get of it)
    const fs = query.get('fieldSelector') ?? '';
    const m = /(?:^|,)metadata\.name==?([^,]+)(?:,|$)/.exec(fs);
    if (m && !m[1]!.includes('\\')) info.name = m[1]!;
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// authentication

export function authenticate(req: IncomingMessage, tokens: ReadonlyMap<string, Identity>): Identity | undefined {
  const sock = req.socket as TLSSocket;
  if (sock.authorized && typeof sock.getPeerCertificate === 'function') {
    const cert = sock.getPeerCertificate();
    const subject = cert?.subject as unknown as Record<string, string | string[]> | undefined;
    if (subject && subject.CN) {
      const cn = Array.isArray(subject.CN) ? subject.CN[0]! : subject.CN;
      const o = subject.O === undefined ? [] : Array.isArray(subject.O) ? subject.O : [subject.O];
      return { name: cn, groups: [...o, 'system:authenticated'] };
    }
  }
  const auth = req.headers.authorization;
  if (auth && /^bearer\s+/i.test(auth)) {
    const token = auth.replace(/^bearer\s+/i, '').trim();
    const id = tokens.get(token);
    if (id) return { name: id.name, groups: [...new Set([...id.groups, 'system:authenticated'])] };
  }
  return undefined;
}

/** nodeidentifier.NewDefaultNodeIdentifier: system:node:<name> in group system:nodes. */
export function nodeIdentity(id: Identity): string | undefined {
  if (!id.name.startsWith('system:node:')) return undefined;
  if (!id.groups.includes('system:nodes')) return undefined;
  return id.name.slice('system:node:'.length);
}

// ---------------------------------------------------------------------------------------------
// authorization

export interface Decision {
  allowed: boolean;
  reason: string;
}

/** What the Node authorizer's graph knows: pods by node and what they reference. */
export interface GraphView {
  pods(): Iterable<JsonObject>;
}

const DISCOVERY_PATHS = [
  /^\/livez/,
  /^\/readyz/,
  /^\/healthz/,
  /^\/version\/?$/,
  /^\/openapi(\/.*)?$/,
  /^\/api(\/.*)?$/,
  /^\/apis(\/.*)?$/,
];

const READ = ['get', 'list', 'watch'];

/** The OIDC discovery documents of the service account issuer. */
export const OIDC_PATHS = ['/.well-known/openid-configuration', '/openid/v1/jwks'];

type Rule = { groups: string[]; resources: string[]; verbs: string[] };

/** bootstrappolicy.NodeRules() for what the Node authorizer does not subdivide. */
const NODE_RULES: Rule[] = [
  { groups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  {
    groups: ['authorization.k8s.io'],
    resources: ['subjectaccessreviews', 'localsubjectaccessreviews'],
    verbs: ['create'],
  },
  { groups: [''], resources: ['services'], verbs: READ },
  { groups: [''], resources: ['nodes'], verbs: ['create', 'get', 'list', 'watch'] },
  { groups: [''], resources: ['nodes/status'], verbs: ['update', 'patch'] },
  { groups: [''], resources: ['nodes'], verbs: ['update', 'patch'] },
  { groups: [''], resources: ['events'], verbs: ['create', 'update', 'patch'] },
  { groups: [''], resources: ['pods'], verbs: READ },
  { groups: [''], resources: ['pods'], verbs: ['create', 'delete'] },
  { groups: [''], resources: ['pods/status'], verbs: ['update', 'patch'] },
  { groups: [''], resources: ['pods/eviction'], verbs: ['create'] },
  { groups: [''], resources: ['secrets', 'configmaps'], verbs: READ },
  { groups: [''], resources: ['persistentvolumeclaims', 'persistentvolumes'], verbs: ['get'] },
  { groups: [''], resources: ['endpoints'], verbs: ['get'] },
  {
    groups: ['certificates.k8s.io'],
    resources: ['certificatesigningrequests'],
    verbs: ['create', 'get', 'list', 'watch'],
  },
  { groups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch', 'delete'] },
  { groups: ['storage.k8s.io'], resources: ['volumeattachments'], verbs: ['get'] },
  { groups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
  { groups: ['storage.k8s.io'], resources: ['csidrivers'], verbs: ['get', 'watch', 'list'] },
  { groups: ['storage.k8s.io'], resources: ['csinodes'], verbs: ['get', 'create', 'update', 'patch', 'delete'] },
  { groups: ['node.k8s.io'], resources: ['runtimeclasses'], verbs: ['get', 'list', 'watch'] },
];

function rulesAllow(info: RequestInfo): boolean {
  const res = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  return NODE_RULES.some(
    (r) => r.groups.includes(info.apiGroup) && r.resources.includes(res) && r.verbs.includes(info.verb),
  );
}

const obj = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});
const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const s = (v: Json | undefined): string => (typeof v === 'string' ? v : '');

/** Names of secrets / configmaps a pod references (podutil.VisitPodSecretNames / VisitPodConfigmapNames). */
export function podReferences(pod: JsonObject): {
  secrets: Set<string>;
  configMaps: Set<string>;
  serviceAccount: string;
} {
  const spec = obj(pod.spec);
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  for (const ips of arr(spec.imagePullSecrets)) if (s(obj(ips).name)) secrets.add(s(obj(ips).name));
  const containers = [...arr(spec.containers), ...arr(spec.initContainers), ...arr(spec.ephemeralContainers)];
  for (const c of containers) {
    for (const e of arr(obj(c).env)) {
      const vf = obj(obj(e).valueFrom);
      if (s(obj(vf.secretKeyRef).name)) secrets.add(s(obj(vf.secretKeyRef).name));
      if (s(obj(vf.configMapKeyRef).name)) configMaps.add(s(obj(vf.configMapKeyRef).name));
    }
    for (const ef of arr(obj(c).envFrom)) {
      if (s(obj(obj(ef).secretRef).name)) secrets.add(s(obj(obj(ef).secretRef).name));
      if (s(obj(obj(ef).configMapRef).name)) configMaps.add(s(obj(obj(ef).configMapRef).name));
    }
  }
  for (const v of arr(spec.volumes)) {
    const vol = obj(v);
    if (s(obj(vol.secret).secretName)) secrets.add(s(obj(vol.secret).secretName));
    if (s(obj(vol.configMap).name)) configMaps.add(s(obj(vol.configMap).name));
    for (const src of arr(obj(vol.projected).sources)) {
      if (s(obj(obj(src).secret).name)) secrets.add(s(obj(obj(src).secret).name));
      if (s(obj(obj(src).configMap).name)) configMaps.add(s(obj(obj(src).configMap).name));
    }
    for (const k of ['azureFile', 'cephfs', 'cinder', 'flexVolume', 'iscsi', 'rbd', 'scaleIO', 'storageos', 'csi']) {
      const src = obj(vol[k]);
      const ref = s(obj(src.secretRef).name) || s(obj(src.nodePublishSecretRef).name) || s(src.secretName);
      if (ref) secrets.add(ref);
    }
  }
  return { secrets, configMaps, serviceAccount: s(spec.serviceAccountName) };
}

function related(
  graph: GraphView,
  nodeName: string,
  kind: 'pod' | 'secret' | 'configmap' | 'serviceaccount',
  namespace: string,
  name: string,
): boolean {
  for (const pod of graph.pods()) {
    const m = obj(pod.metadata);
    if (s(obj(pod.spec).nodeName) !== nodeName) continue;
    if (s(m.namespace) !== namespace) continue;
    if (kind === 'pod' && s(m.name) === name) return true;
    if (kind === 'pod') continue;
    const refs = podReferences(pod);
    if (kind === 'secret' && refs.secrets.has(name)) return true;
    if (kind === 'configmap' && refs.configMaps.has(name)) return true;
    if (kind === 'serviceaccount' && refs.serviceAccount === name) return true;
  }
  return false;
}

export interface AuthorizerOptions {
  authorizeNodeWithSelectors: boolean;
}

export function authorize(
  id: Identity,
  info: RequestInfo,
  fieldSelector: FieldSelector,
  graph: GraphView,
  opts: AuthorizerOptions,
): Decision {
  if (id.groups.includes('system:masters')) return { allowed: true, reason: '' };
  if (!info.isResourceRequest) {
    // system:service-account-issuer-discovery is bound to the service accounts only
    const oidc = OIDC_PATHS.includes(info.path) && id.groups.includes('system:serviceaccounts');
    const ok = info.verb === 'get' && (oidc || DISCOVERY_PATHS.some((re) => re.test(info.path)));
    return { allowed: ok, reason: '' };
  }
  // kubeadm binds bootstrap tokens' group to system:node-bootstrapper: CSRs only
  if (id.groups.includes('system:bootstrappers')) {
    const ok =
      info.apiGroup === 'certificates.k8s.io' &&
      info.resource === 'certificatesigningrequests' &&
      !info.subresource &&
      ['create', 'get', 'list', 'watch'].includes(info.verb);
    return { allowed: ok, reason: '' };
  }
  const nodeName = nodeIdentity(id);
  if (nodeName === undefined) return { allowed: false, reason: '' };
  if (nodeName === '') return { allowed: false, reason: `unknown node for user "${id.name}"` };
  return nodeAuthorize(nodeName, info, fieldSelector, graph, opts);
}

function nodeAuthorize(
  nodeName: string,
  info: RequestInfo,
  fieldSelector: FieldSelector,
  graph: GraphView,
  opts: AuthorizerOptions,
): Decision {
  const allow: Decision = { allowed: true, reason: '' };
  const deny = (reason: string): Decision => ({ allowed: false, reason });
  const noRelation = deny(`no relationship found between node '${nodeName}' and this object`);
  const graphCheck = (kind: 'pod' | 'secret' | 'configmap' | 'serviceaccount'): Decision => {
    if (!info.name) return deny('No Object name found');
    return related(graph, nodeName, kind, info.namespace, info.name) ? allow : noRelation;
  };
  const gr = `${info.apiGroup}/${info.resource}`;
  const verb = info.verb;
  switch (gr) {
    case '/secrets':
    case '/configmaps':
      if (!READ.includes(verb)) return deny('can only read resources of this type');
      if (info.subresource) return deny('cannot read subresource');
      if (!info.namespace) return deny('can only read namespaced object of this type');
      return graphCheck(info.resource === 'secrets' ? 'secret' : 'configmap');
    case '/persistentvolumeclaims':
    case '/persistentvolumes':
      if (verb !== 'get') return deny('can only get individual resources of this type');
      if (info.subresource) return deny('cannot get subresource');
      return info.name ? noRelation : deny('No Object name found');
    case '/serviceaccounts':
      if (verb !== 'create' || !info.name) return deny('can only create tokens for individual service accounts');
      if (info.subresource !== 'token') return deny('can only create token subresource of serviceaccount');
      return related(graph, nodeName, 'serviceaccount', info.namespace, info.name) ? allow : noRelation;
    case 'coordination.k8s.io/leases':
      if (!['get', 'create', 'update', 'patch', 'delete'].includes(verb))
        return deny('can only get, create, update, patch, or delete a node lease');
      if (info.namespace !== 'kube-node-lease')
        return deny('can only access leases in the "kube-node-lease" system namespace');
      if (verb !== 'create' && info.name !== nodeName)
        return deny('can only access node lease with the same name as the requesting node');
      return allow;
    case 'storage.k8s.io/csinodes':
      if (!['get', 'create', 'update', 'patch', 'delete'].includes(verb))
        return deny('can only get, create, update, patch, or delete a CSINode');
      if (info.subresource) return deny('cannot authorize CSINode subresources');
      if (verb !== 'create' && info.name !== nodeName)
        return deny('can only access CSINode with the same name as the requesting node');
      return allow;
    case '/nodes':
      if (!opts.authorizeNodeWithSelectors) break;
      if (info.subresource === '') {
        if (['create', 'update', 'patch'].includes(verb)) return allow;
        if (READ.includes(verb)) {
          if (info.name === nodeName) return allow;
          if (info.name === '') return deny(`node '${nodeName}' cannot read all nodes, only its own Node object`);
          return deny(`node '${nodeName}' cannot read '${info.name}', only its own Node object`);
        }
      } else if (info.subresource === 'status' && (verb === 'update' || verb === 'patch')) {
        return allow;
      }
      return deny('');
    case '/pods':
      if (!opts.authorizeNodeWithSelectors) break;
      if (info.subresource === '') {
        if (verb === 'get') return graphCheck('pod');
        if (verb === 'list' || verb === 'watch') {
          if (fieldSelector.some((r) => r.field === 'spec.nodeName' && r.op === 'eq' && r.value === nodeName))
            return allow;
          if (info.name) return graphCheck('pod');
          return deny('can only list/watch pods with spec.nodeName field selector');
        }
        if (verb === 'create' || verb === 'delete') return allow;
      } else if (info.subresource === 'status' && (verb === 'update' || verb === 'patch')) {
        return allow;
      } else if (info.subresource === 'eviction' && verb === 'create') {
        return allow;
      }
      return deny('');
  }
  return rulesAllow(info) ? allow : deny('');
}

/** responsewriters.Forbidden: the 403 for a denied request. */
export function forbidden(id: Identity, info: RequestInfo, reason: string): ApiError {
  let msg: string;
  if (!info.isResourceRequest) {
    msg = `User "${id.name}" cannot ${info.verb} path "${info.path}"`;
  } else {
    const res = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    msg = info.namespace
      ? `User "${id.name}" cannot ${info.verb} resource "${res}" in API group "${info.apiGroup}" in the namespace "${info.namespace}"`
      : `User "${id.name}" cannot ${info.verb} resource "${res}" in API group "${info.apiGroup}" at the cluster scope`;
  }
  if (reason) msg = `${msg}: ${reason}`;
  if (!info.isResourceRequest) {
    const e = errors.forbidden({ group: '', resource: '' }, '', msg);
    e.status.message = `forbidden: ${msg}`;
    e.status.details = {};
    return e;
  }
  return errors.forbidden({ group: info.apiGroup, resource: info.resource }, info.name, msg);
}

// ---------------------------------------------------------------------------------------------
// NodeRestriction admission

const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'node.kubernetes.io/windows-build',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
]);

function labelNamespace(key: string): string {
  const i = key.indexOf('/');
  return i >= 0 ? key.slice(0, i) : '';
}

function isKubeletLabel(key: string): boolean {
  if (KUBELET_LABELS.has(key)) return true;
  const ns = labelNamespace(key);
  return ['kubelet.kubernetes.io', 'node.kubernetes.io'].some((a) => ns === a || ns.endsWith(`.${a}`));
}

function forbiddenLabels(modified: Set<string>): string[] {
  const out = new Set<string>();
  for (const label of modified) {
    const ns = labelNamespace(label);
    if (ns === 'node-restriction.kubernetes.io' || ns.endsWith('.node-restriction.kubernetes.io')) out.add(label);
    const isK8s = ns === 'kubernetes.io' || ns.endsWith('.kubernetes.io') || ns === 'k8s.io' || ns.endsWith('.k8s.io');
    if (isK8s && !isKubeletLabel(label)) out.add(label);
  }
  return [...out].sort();
}

function modifiedLabels(a: Record<string, Json>, b: Record<string, Json>): Set<string> {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(a)) if (!(k in b) || b[k] !== v) out.add(k);
  for (const [k, v] of Object.entries(b)) if (!(k in a) || a[k] !== v) out.add(k);
  return out;
}

export interface AdmissionContext {
  node(name: string): JsonObject | undefined;
}

/**
 * NodeRestriction's admitServiceAccount: a node's TokenRequest must be bound to a pod (with its
 * uid) scheduled on that node; throws the 403 (or the pod's 404) it would return.
 */
export function admitNodeTokenRequest(
  nodeName: string,
  namespace: string,
  name: string,
  body: Json | undefined,
  pod: (ns: string, name: string) => JsonObject | undefined,
): void {
  const deny = (msg: string): never => {
    throw errors.forbidden({ group: '', resource: 'serviceaccounts' }, name, msg);
  };
  const ref = obj(obj(obj(body).spec).boundObjectRef);
  if (ref.apiVersion !== 'v1' || ref.kind !== 'Pod' || !s(ref.name)) deny('node requested token not bound to a pod');
  if (!s(ref.uid)) deny('node requested token with a pod binding without a uid');
  const p = pod(namespace, s(ref.name));
  if (!p) throw errors.notFound({ group: '', resource: 'pods' }, s(ref.name));
  if (s(obj(p.metadata).uid) !== s(ref.uid)) {
    deny(
      `the UID in the bound object reference (${s(ref.uid)}) does not match the UID in record. The object might have been deleted and then recreated`,
    );
  }
  if (s(obj(p.spec).nodeName) !== nodeName) deny('node requested token bound to a pod scheduled on a different node');
}

/** NodeRestriction's Admit for one node identity; throws the 403 (or 404) it would return. */
export function nodeRestriction(nodeName: string, a: AdmissionAttributes, ctx: AdmissionContext): void {
  const r = a.resource;
  const gr = { group: r.group, resource: r.resource };
  const name = a.name || s(obj(a.object?.metadata).name) || s(obj(a.object?.metadata).generateName) || 'Unknown';
  const deny = (msg: string): never => {
    throw errors.forbidden(gr, name, msg);
  };
  const key = `${r.group}/${r.resource}`;
  if (key === '/pods') {
    if (a.subresource === '') {
      if (a.operation === 'create') {
        const pod = a.object!;
        const m = obj(pod.metadata);
        const spec = obj(pod.spec);
        if (!Object.hasOwn(obj(m.annotations), 'kubernetes.io/config.mirror')) {
          deny(
            `pod does not have "kubernetes.io/config.mirror" annotation, node "${nodeName}" can only create mirror pods`,
          );
        }
        if (s(spec.nodeName) !== nodeName)
          deny(`node "${nodeName}" can only create pods with spec.nodeName set to itself`);
        const owners = arr(m.ownerReferences);
        if (owners.length > 1)
          deny(`node "${nodeName}" can only create pods with a single owner reference set to itself`);
        if (owners.length === 0) deny(`node "${nodeName}" can only create pods with an owner reference set to itself`);
        const owner = obj(owners[0]);
        if (owner.apiVersion !== 'v1' || owner.kind !== 'Node' || owner.name !== nodeName) {
          deny(`node "${nodeName}" can only create pods with an owner reference set to itself`);
        }
        if (owner.controller !== true)
          deny(`node "${nodeName}" can only create pods with a controller owner reference set to itself`);
        if (owner.blockOwnerDeletion === true)
          deny(`node "${nodeName}" must not set blockOwnerDeletion on an owner reference`);
        const node = ctx.node(nodeName);
        if (!node) throw errors.notFound({ group: '', resource: 'nodes' }, nodeName);
        const uid = s(obj(node.metadata).uid);
        if (s(owner.uid) !== uid) deny(`node ${nodeName} UID mismatch: expected ${s(owner.uid)} got ${uid}`);
        if (s(spec.serviceAccountName) !== '')
          deny(`node "${nodeName}" can not create pods that reference a service account`);
        const refs = podReferences(pod);
        if (refs.secrets.size > 0) deny(`node "${nodeName}" can not create pods that reference secrets`);
        if (refs.configMaps.size > 0) deny(`node "${nodeName}" can not create pods that reference configmaps`);
        for (const v of arr(spec.volumes)) {
          for (const src of arr(obj(obj(v).projected).sources)) {
            if (obj(src).clusterTrustBundle !== undefined)
              deny(`node "${nodeName}" can not create pods that reference clustertrustbundles`);
          }
        }
        for (const v of arr(spec.volumes)) {
          if (obj(v).persistentVolumeClaim !== undefined)
            deny(`node "${nodeName}" can not create pods that reference persistentvolumeclaims`);
        }
        return;
      }
      if (a.operation === 'delete') {
        if (s(obj(a.oldObject?.spec).nodeName) !== nodeName)
          deny(`node "${nodeName}" can only delete pods with spec.nodeName set to itself`);
        return;
      }
      deny(`unexpected operation "UPDATE", node "${nodeName}" can only create and delete mirror pods`);
    }
    if (a.subresource === 'status') {
      if (a.operation !== 'update') deny(`unexpected operation "${a.operation.toUpperCase()}"`);
      const oldPod = a.oldObject!;
      if (s(obj(oldPod.spec).nodeName) !== nodeName)
        deny(`node "${nodeName}" can only update pod status for pods with spec.nodeName set to itself`);
      const oldLabels = obj(obj(oldPod.metadata).labels);
      const newLabels = obj(obj(a.object!.metadata).labels);
      if (!deepEqual(oldLabels, newLabels)) deny(`node "${nodeName}" cannot update labels through pod status`);
      return;
    }
    deny(`unexpected pod subresource "${a.subresource}", only 'status' and 'eviction' are allowed`);
  }
  if (key === '/nodes') {
    if (a.name !== nodeName) deny(`node "${nodeName}" is not allowed to modify node "${a.name}"`);
    if (a.operation === 'create') {
      const node = a.object!;
      if (obj(node.spec).configSource !== undefined && obj(node.spec).configSource !== null) {
        deny(`node "${nodeName}" is not allowed to create pods with a non-nil configSource`);
      }
      const bad = forbiddenLabels(modifiedLabels(obj(obj(node.metadata).labels), {}));
      if (bad.length) deny(`node "${nodeName}" is not allowed to set the following labels: ${bad.join(', ')}`);
    }
    if (a.operation === 'update') {
      const node = a.object!;
      const old = a.oldObject!;
      const cs = obj(node.spec).configSource;
      if (cs !== undefined && cs !== null && !deepEqual(cs, obj(old.spec).configSource ?? null)) {
        deny(`node "${nodeName}" is not allowed to update configSource to a new non-nil configSource`);
      }
      if (!deepEqual(obj(node.spec).taints ?? null, obj(old.spec).taints ?? null))
        deny(`node "${nodeName}" is not allowed to modify taints`);
      const bad = forbiddenLabels(modifiedLabels(obj(obj(node.metadata).labels), obj(obj(old.metadata).labels)));
      if (bad.length) deny(`is not allowed to modify labels: ${bad.join(', ')}`);
    }
    return;
  }
  if (key === 'coordination.k8s.io/leases') {
    if (a.namespace !== 'kube-node-lease') deny('can only access leases in the "kube-node-lease" system namespace');
    const leaseName = a.operation === 'create' ? s(obj(a.object?.metadata).name) : a.name;
    if (leaseName !== nodeName) deny('can only access node lease with the same name as the requesting node');
    return;
  }
}
