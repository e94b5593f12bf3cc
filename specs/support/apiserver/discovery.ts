/**
 * Discovery documents (legacy, non-aggregated: clients fall back to them when the aggregated
 * content type is not answered) and the server-side Table rendering kubectl asks for.
 */
import type { Json, JsonObject } from './status.ts';
import { isObject } from './patch.ts';
import type { ResourceType } from './resources.ts';
import { GROUPS, RESOURCES, gvString } from './resources.ts';

export const VERSION_INFO = {
  major: '1',
  minor: '34',
  emulationMajor: '1',
  emulationMinor: '34',
  minCompatibilityMajor: '1',
  minCompatibilityMinor: '33',
  gitVersion: 'v1.34.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-08-27T00:00:00Z',
  goVersion: 'go1.24.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string): JsonObject {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDoc(g: { name: string; version: string }): JsonObject {
  const gv = { groupVersion: `${g.name}/${g.version}`, version: g.version };
  return { name: g.name, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): JsonObject {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.map(groupDoc) };
}

export function apiGroup(name: string): JsonObject | undefined {
  const g = GROUPS.find((x) => x.name === name);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g) } : undefined;
}

const SUBRESOURCE_VERBS: Record<string, { kind: string; verbs: string[]; group?: string; version?: string }> = {
  status: { kind: '', verbs: ['get', 'patch', 'update'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  // (another group's kind, which upstream's discovery names)
  token: { kind: 'TokenRequest', verbs: ['create'], group: 'authentication.k8s.io', version: 'v1' },
};

export function apiResourceList(group: string, version: string): JsonObject | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  const resources: Json[] = [];
  for (const r of rs) {
    const entry: JsonObject = {
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
    };
    if (r.shortNames.length) entry.shortNames = r.shortNames;
    if (r.resource === 'pods' || r.resource === 'services') entry.categories = ['all'];
    resources.push(entry);
    for (const sub of r.subresources) {
      const sv = SUBRESOURCE_VERBS[sub]!;
      const gv: JsonObject = sv.group ? { group: sv.group, version: sv.version ?? 'v1' } : {};
      resources.push({
        name: `${r.resource}/${sub}`,
        singularName: '',
        namespaced: r.namespaced,
        ...gv,
        kind: sv.kind || r.kind,
        verbs: sv.verbs,
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

// ---------------------------------------------------------------------------------------------
// OpenAPI v3: just enough for kubectl to see that every PATCH/POST accepts `fieldValidation` and
// so validate server-side (it then needs no schemas). The documents carry no schemas.

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Root(): JsonObject {
  const paths: JsonObject = {};
  for (const r of RESOURCES) {
    const p = gvPath(r.group, r.version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=0` };
  }
  return { paths };
}

export function openApiV3Doc(path: string): JsonObject | undefined {
  const rs = RESOURCES.filter((r) => gvPath(r.group, r.version) === path);
  if (rs.length === 0) return undefined;
  const fv = { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } };
  const paths: JsonObject = {};
  for (const r of rs) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const base = `/${path}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    const op = (verb: string): JsonObject => ({
      operationId: `${verb}${r.kind}`,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': gvk,
      parameters: [fv],
      responses: { '200': { description: 'OK' } },
    });
    paths[base] = { post: op('post') };
    paths[`${base}/{name}`] = { put: op('put'), patch: op('patch') };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion },
    paths,
    components: { schemas: {} },
  };
}

// ---------------------------------------------------------------------------------------------
// Tables (Accept: application/json;as=Table;v=v1;g=meta.k8s.io)

export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

function age(ts: Json | undefined, now: Date): string {
  if (typeof ts !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

type Column = { name: string; type: string; format: string; description: string; priority: number };

const col = (name: string, type = 'string', format = '', priority = 0): Column => ({
  name,
  type,
  format,
  description: name,
  priority,
});

function columns(r: ResourceType): Column[] {
  if (r.group === '' && r.resource === 'pods') {
    return [
      col('Name', 'string', 'name'),
      col('Ready'),
      col('Status'),
      col('Restarts'),
      col('Age'),
      col('IP', 'string', '', 1),
      col('Node', 'string', '', 1),
    ];
  }
  if (r.group === '' && r.resource === 'nodes') {
    return [col('Name', 'string', 'name'), col('Status'), col('Roles'), col('Age'), col('Version')];
  }
  return [
    col('Name', 'string', 'name'),
    {
      ...col('Created At', 'date'),
      description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
    },
  ];
}

function cells(r: ResourceType, o: JsonObject, now: Date): Json[] {
  const m = isObject(o.metadata) ? o.metadata : {};
  if (r.group === '' && r.resource === 'pods') {
    const spec = isObject(o.spec) ? o.spec : {};
    const st = isObject(o.status) ? o.status : {};
    const total = Array.isArray(spec.containers) ? spec.containers.length : 0;
    const statuses = Array.isArray(st.containerStatuses) ? st.containerStatuses.filter(isObject) : [];
    const ready = statuses.filter((c) => c.ready === true).length;
    const restarts = statuses.reduce((n, c) => n + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0);
    let status = typeof st.phase === 'string' ? st.phase : '';
    if (typeof st.reason === 'string' && st.reason) status = st.reason;
    for (const c of statuses) {
      const w = isObject(c.state) && isObject(c.state.waiting) ? c.state.waiting : undefined;
      const t = isObject(c.state) && isObject(c.state.terminated) ? c.state.terminated : undefined;
      if (w && typeof w.reason === 'string' && w.reason) status = w.reason;
      else if (t && typeof t.reason === 'string' && t.reason) status = t.reason;
    }
    if (m.deletionTimestamp) status = 'Terminating';
    return [
      m.name ?? '',
      `${ready}/${total}`,
      status,
      restarts,
      age(m.creationTimestamp, now),
      st.podIP ?? '<none>',
      spec.nodeName ?? '<none>',
    ];
  }
  if (r.group === '' && r.resource === 'nodes') {
    const st = isObject(o.status) ? o.status : {};
    const conds = Array.isArray(st.conditions) ? st.conditions.filter(isObject) : [];
    const readyCond = conds.find((c) => c.type === 'Ready');
    const status = readyCond ? (readyCond.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown';
    const info = isObject(st.nodeInfo) ? st.nodeInfo : {};
    return [m.name ?? '', status, '<none>', age(m.creationTimestamp, now), info.kubeletVersion ?? ''];
  }
  return [m.name ?? '', m.creationTimestamp ?? null];
}

export function toTable(
  r: ResourceType,
  objs: JsonObject[],
  listMeta: JsonObject,
  includeObject: string,
  now: Date,
): JsonObject {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: columns(r) as unknown as Json[],
    rows: objs.map((o) => {
      const row: JsonObject = { cells: cells(r, o, now) };
      if (includeObject === 'Object') row.object = { ...o, apiVersion: gvString(r), kind: r.kind };
      else if (includeObject !== 'None') {
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: isObject(o.metadata) ? o.metadata : {},
        };
      }
      return row;
    }),
  };
}
