/**
 * The resources the stand-in serves, each with the registry strategy upstream gives it: scope,
 * status subresource, create-on-update, unconditional update, graceful deletion, whether DELETE
 * returns the object or a Status, selectable fields, patch schema, defaults and validation.
 */
import type { JsonObject, Json } from './status.ts';
import { errors } from './status.ts';
import type { PatchSchema } from './patch.ts';
import { deepEqual, isObject, metaOnlySchema, namespaceSchema, nodeSchema, podSchema, serviceSchema } from './patch.ts';
import {
  admitPodCreate,
  defaultNamespace,
  defaultNode,
  defaultPod,
  defaultSecret,
  defaultService,
  prepareNamespaceForCreate,
  preparePodForCreate,
  validateEvent,
  validateLease,
  validatePod,
  validatePodStatusUpdate,
  validatePodUpdate,
} from './defaults.ts';
import { csrStrategy, validateCsr } from './certificates.ts';

export interface DeleteOptionsLike {
  gracePeriodSeconds?: number | null;
}

export interface ResourceType {
  group: string;
  version: string;
  /** Plural resource name, as in URLs. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  subresources: string[];
  /** Has a status subresource: main-resource writes keep the old status, status writes keep the rest. */
  hasStatus: boolean;
  nameStyle: 'subdomain' | 'label' | 'path';
  schema: PatchSchema;
  allowCreateOnUpdate: boolean;
  allowUnconditionalUpdate: boolean;
  returnDeletedObject: boolean;
  /** Objects of another resource with the same storage (events.k8s.io events live in core events). */
  storage: string;
  /** Selectable fields beyond metadata.name/metadata.namespace. */
  fields?: (o: JsonObject) => Record<string, string>;
  /** CheckGracefulDelete: the grace period to use, or undefined when the strategy is not graceful. */
  gracefulDelete?: (o: JsonObject, opts: DeleteOptionsLike) => number;
  defaults?: (o: JsonObject) => void;
  /** Mutating admission on create. */
  admitCreate?: (o: JsonObject) => void;
  prepareForCreate?: (o: JsonObject) => void;
  prepareForUpdate?: (n: JsonObject, o: JsonObject) => void;
  prepareForStatusUpdate?: (n: JsonObject, o: JsonObject) => void;
  /** A PUT of another subresource (a CSR's approval). */
  prepareForSubresourceUpdate?: (subresource: string, n: JsonObject, o: JsonObject) => void;
  validate?: (o: JsonObject, name: string) => void;
  validateUpdate?: (n: JsonObject, o: JsonObject, name: string) => void;
  validateStatusUpdate?: (n: JsonObject, o: JsonObject, name: string) => void;
  /** Storage form → this resource's wire form, and back (only for resources sharing storage). */
  toExternal?: (stored: JsonObject) => JsonObject;
  toStorage?: (external: JsonObject) => JsonObject;
}

export function gvString(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export function resourceKey(r: Pick<ResourceType, 'group' | 'resource'>): string {
  return `${r.group}/${r.resource}`;
}

const str = (v: Json | undefined): string =>
  v === undefined || v === null ? '' : typeof v === 'string' ? v : String(v);
const o = (v: Json | undefined): JsonObject => (isObject(v) ? v : {});

const RW = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function base(
  p: Partial<ResourceType> & Pick<ResourceType, 'group' | 'version' | 'resource' | 'singular' | 'kind' | 'namespaced'>,
): ResourceType {
  return {
    shortNames: [],
    verbs: RW,
    subresources: [],
    hasStatus: false,
    nameStyle: 'subdomain',
    schema: metaOnlySchema,
    allowCreateOnUpdate: false,
    allowUnconditionalUpdate: true,
    returnDeletedObject: false,
    storage: `${p.group}/${p.resource}`,
    ...p,
  };
}

const pods = base({
  group: '',
  version: 'v1',
  resource: 'pods',
  singular: 'pod',
  kind: 'Pod',
  namespaced: true,
  shortNames: ['po'],
  subresources: ['status', 'binding'],
  hasStatus: true,
  schema: podSchema,
  returnDeletedObject: true,
  fields: (p) => {
    const spec = o(p.spec);
    const status = o(p.status);
    return {
      'spec.nodeName': str(spec.nodeName),
      'spec.restartPolicy': str(spec.restartPolicy),
      'spec.schedulerName': str(spec.schedulerName),
      'spec.serviceAccountName': str(spec.serviceAccountName),
      'spec.hostNetwork': spec.hostNetwork === true ? 'true' : 'false',
      'status.phase': str(status.phase),
      'status.podIP': str(status.podIP),
      'status.nominatedNodeName': str(status.nominatedNodeName),
    };
  },
  gracefulDelete: (p, opts) => {
    const spec = o(p.spec);
    let period = 0;
    if (opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds !== null) period = opts.gracePeriodSeconds;
    else if (typeof spec.terminationGracePeriodSeconds === 'number') period = spec.terminationGracePeriodSeconds;
    if (!spec.nodeName) period = 0;
    const phase = o(p.status).phase;
    if (phase === 'Failed' || phase === 'Succeeded') period = 0;
    if (period < 0) period = 1;
    return period;
  },
  defaults: defaultPod,
  admitCreate: admitPodCreate,
  prepareForCreate: preparePodForCreate,
  prepareForUpdate: (n, old) => {
    n.status = old.status ?? {};
    const meta = n.metadata as JsonObject;
    const oldGen = typeof o(old.metadata).generation === 'number' ? (o(old.metadata).generation as number) : 0;
    meta.generation = deepEqual(n.spec, old.spec) ? oldGen : oldGen + 1;
  },
  prepareForStatusUpdate: (n, old) => {
    n.spec = old.spec ?? {};
    const meta = n.metadata as JsonObject;
    const oldMeta = o(old.metadata);
    if (oldMeta.ownerReferences !== undefined) meta.ownerReferences = oldMeta.ownerReferences;
    else delete meta.ownerReferences;
    const st = isObject(n.status) ? n.status : (n.status = {});
    const oldSt = o(old.status);
    if (!st.qosClass && oldSt.qosClass) st.qosClass = oldSt.qosClass;
    if (!st.observedGeneration && oldSt.observedGeneration) st.observedGeneration = oldSt.observedGeneration;
  },
  validate: validatePod,
  validateUpdate: validatePodUpdate,
  validateStatusUpdate: validatePodStatusUpdate,
});

const nodes = base({
  group: '',
  version: 'v1',
  resource: 'nodes',
  singular: 'node',
  kind: 'Node',
  namespaced: false,
  shortNames: ['no'],
  subresources: ['status'],
  hasStatus: true,
  schema: nodeSchema,
  fields: (n) => ({ 'spec.unschedulable': o(n.spec).unschedulable === true ? 'true' : 'false' }),
  defaults: defaultNode,
  prepareForUpdate: (n, old) => {
    n.status = old.status ?? {};
  },
  prepareForStatusUpdate: (n, old) => {
    n.spec = old.spec ?? {};
  },
});

const namespaces = base({
  group: '',
  version: 'v1',
  resource: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  namespaced: false,
  shortNames: ['ns'],
  subresources: ['status'],
  hasStatus: true,
  nameStyle: 'label',
  schema: namespaceSchema,
  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  fields: (n) => ({ 'status.phase': str(o(n.status).phase) }),
  defaults: defaultNamespace,
  prepareForCreate: prepareNamespaceForCreate,
  prepareForUpdate: (n, old) => {
    n.status = old.status ?? {};
    (n.spec as JsonObject).finalizers = o(old.spec).finalizers ?? [];
  },
  prepareForStatusUpdate: (n, old) => {
    n.spec = old.spec ?? {};
  },
});

const coreEventFields = (e: JsonObject): Record<string, string> => {
  const io = o(e.involvedObject);
  const src = o(e.source);
  return {
    'involvedObject.kind': str(io.kind),
    'involvedObject.namespace': str(io.namespace),
    'involvedObject.name': str(io.name),
    'involvedObject.uid': str(io.uid),
    'involvedObject.apiVersion': str(io.apiVersion),
    'involvedObject.resourceVersion': str(io.resourceVersion),
    'involvedObject.fieldPath': str(io.fieldPath),
    reason: str(e.reason),
    reportingComponent: str(e.reportingComponent),
    source: str(src.component),
    type: str(e.type),
  };
};

const events = base({
  group: '',
  version: 'v1',
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  allowCreateOnUpdate: true,
  nameStyle: 'subdomain',
  fields: coreEventFields,
  validate: validateEvent,
  validateUpdate: (n, _old, name) => validateEvent(n, name),
});

const RENAMES: Array<[string, string]> = [
  ['involvedObject', 'regarding'],
  ['message', 'note'],
  ['reportingComponent', 'reportingController'],
  ['source', 'deprecatedSource'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'],
  ['lastTimestamp', 'deprecatedLastTimestamp'],
  ['count', 'deprecatedCount'],
];

/** An Event in the other API's form: core/v1 names to events.k8s.io/v1 ones (toV1) or back. */
function renameEvent(e: JsonObject, apiVersion: string, toV1: boolean): JsonObject {
  const out: JsonObject = { ...e, apiVersion, kind: 'Event' };
  for (const [core, v1] of RENAMES) {
    const [from, to] = toV1 ? [core, v1] : [v1, core];
    if (from in out) {
      out[to] = out[from]!;
      delete out[from];
    }
  }
  return out;
}
const eventToStorage = (ext: JsonObject): JsonObject => renameEvent(ext, 'v1', false);

const eventsV1 = base({
  group: 'events.k8s.io',
  version: 'v1',
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  allowCreateOnUpdate: true,
  storage: '/events',
  fields: (e) => {
    const r = o(e.regarding);
    return {
      'regarding.kind': str(r.kind),
      'regarding.namespace': str(r.namespace),
      'regarding.name': str(r.name),
      'regarding.uid': str(r.uid),
      'regarding.apiVersion': str(r.apiVersion),
      'regarding.resourceVersion': str(r.resourceVersion),
      'regarding.fieldPath': str(r.fieldPath),
      reason: str(e.reason),
      reportingController: str(e.reportingController),
      type: str(e.type),
    };
  },
  toExternal: (stored) => renameEvent(stored, 'events.k8s.io/v1', true),
  toStorage: eventToStorage,
  validate: (e, name) => validateEvent(eventToStorage(e), name),
  validateUpdate: (n, _old, name) => validateEvent(eventToStorage(n), name),
});

const configmaps = base({
  group: '',
  version: 'v1',
  resource: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  namespaced: true,
  shortNames: ['cm'],
});

const secrets = base({
  group: '',
  version: 'v1',
  resource: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  namespaced: true,
  fields: (s) => ({ type: str(s.type) }),
  defaults: defaultSecret,
});

const services = base({
  group: '',
  version: 'v1',
  resource: 'services',
  singular: 'service',
  kind: 'Service',
  namespaced: true,
  shortNames: ['svc'],
  subresources: ['status'],
  hasStatus: true,
  nameStyle: 'label',
  schema: serviceSchema,
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  fields: (s) => ({ 'spec.clusterIP': str(o(s.spec).clusterIP), 'spec.type': str(o(s.spec).type) }),
  defaults: defaultService,
  prepareForUpdate: (n, old) => {
    n.status = old.status ?? {};
  },
  prepareForStatusUpdate: (n, old) => {
    n.spec = old.spec ?? {};
  },
});

const serviceaccounts = base({
  group: '',
  version: 'v1',
  resource: 'serviceaccounts',
  singular: 'serviceaccount',
  kind: 'ServiceAccount',
  namespaced: true,
  shortNames: ['sa'],
  subresources: ['token'],
});

const leases = base({
  group: 'coordination.k8s.io',
  version: 'v1',
  resource: 'leases',
  singular: 'lease',
  kind: 'Lease',
  namespaced: true,
  allowUnconditionalUpdate: false,
  validate: validateLease,
  validateUpdate: (n, _old, name) => validateLease(n, name),
});

const runtimeclasses = base({
  group: 'node.k8s.io',
  version: 'v1',
  resource: 'runtimeclasses',
  singular: 'runtimeclass',
  kind: 'RuntimeClass',
  namespaced: false,
  validate: (rc, name) => {
    if (typeof rc.handler !== 'string' || rc.handler === '') {
      throw errors.invalid({ group: 'node.k8s.io', kind: 'RuntimeClass' }, name, [
        { field: 'handler', type: 'Required value', detail: '' },
      ]);
    }
  },
});

const csidrivers = base({
  group: 'storage.k8s.io',
  version: 'v1',
  resource: 'csidrivers',
  singular: 'csidriver',
  kind: 'CSIDriver',
  namespaced: false,
});

// certificates.k8s.io/v1: the strategy in certificates.ts (status and approval keep the rest)
const certificatesigningrequests = base({
  group: 'certificates.k8s.io',
  version: 'v1',
  resource: 'certificatesigningrequests',
  singular: 'certificatesigningrequest',
  kind: 'CertificateSigningRequest',
  namespaced: false,
  shortNames: ['csr'],
  subresources: ['status', 'approval'],
  hasStatus: true,
  // ValidateCertificateRequestName is a path segment check: bootstrap names are base64url (node-csr-AbC_…)
  nameStyle: 'path',
  fields: (c) => ({ 'spec.signerName': str(o(c.spec).signerName) }),
  validate: validateCsr,
  ...csrStrategy,
});

export const RESOURCES: ResourceType[] = [
  pods,
  nodes,
  namespaces,
  events,
  configmaps,
  secrets,
  services,
  serviceaccounts,
  leases,
  eventsV1,
  runtimeclasses,
  csidrivers,
  certificatesigningrequests,
];

/** Groups in the order /apis lists them (each with one served version). */
export const GROUPS: Array<{ name: string; version: string }> = [
  { name: 'events.k8s.io', version: 'v1' },
  { name: 'coordination.k8s.io', version: 'v1' },
  { name: 'node.k8s.io', version: 'v1' },
  { name: 'storage.k8s.io', version: 'v1' },
  { name: 'certificates.k8s.io', version: 'v1' },
];

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** Resolves what specs pass to the in-process store: "pods", "pod", "Pod", "po", "leases.coordination.k8s.io". */
export function resolveResource(name: string): ResourceType {
  const [res, ...groupParts] = name.split('.');
  const group = groupParts.join('.');
  const lower = res!.toLowerCase();
  const matches = RESOURCES.filter(
    (r) =>
      (group ? r.group === group : true) &&
      (r.resource === lower || r.singular === lower || r.kind.toLowerCase() === lower || r.shortNames.includes(lower)),
  );
  // prefer the core group for an unqualified name (events)
  const chosen = matches.find((r) => r.group === '') ?? matches[0];
  if (!chosen) throw new Error(`apiserver stand-in: unknown resource ${JSON.stringify(name)}`);
  return chosen;
}

/** Fields every object of a resource can be selected on (metadata.name, metadata.namespace for namespaced ones). */
export function selectableFields(r: ResourceType, obj: JsonObject): Record<string, string> {
  const meta = o(obj.metadata);
  const f: Record<string, string> = { 'metadata.name': str(meta.name) };
  if (r.namespaced) f['metadata.namespace'] = str(meta.namespace);
  if (r.fields) Object.assign(f, r.fields(obj));
  return f;
}

export function supportedField(r: ResourceType): (field: string) => boolean {
  const sample = selectableFields(r, { metadata: {} });
  return (field) => field in sample;
}
