/**
 * The three PATCH types kube-apiserver applies for built-in resources:
 * - application/json-patch+json (RFC 6902, incl. `test`; errors worded like evanphx/json-patch),
 * - application/merge-patch+json (RFC 7386),
 * - application/strategic-merge-patch+json (k8s.io/apimachinery/pkg/util/strategicpatch, applied the
 *   way the apiserver does: MergeParallelList, IgnoreUnmatchedNulls), driven by a per-kind schema of
 *   patch strategies and merge keys taken from the upstream Go struct tags. Lists without a
 *   strategy are atomic (replaced), which is what upstream does for e.g. status.containerStatuses.
 *   Directives: `$patch: replace|delete|merge` (maps and list items), `$retainKeys`,
 *   `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`.
 */
import { errors } from './status.ts';
import type { Json, JsonObject } from './status.ts';

/** Patch metadata for one node of a type tree. */
export interface PatchSchema {
  /** Struct fields. */
  fields?: Record<string, PatchSchema>;
  /** The element schema of a list, or the value schema of a map. */
  items?: PatchSchema;
  /** patchStrategy of a list field: merge (by mergeKey, or a set of primitives) or atomic (default). */
  strategy?: 'merge' | 'atomic';
  mergeKey?: string;
  /** patchStrategy "retainKeys" (on a list's items, e.g. volumes, or on a struct). */
  retainKeys?: boolean;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepClone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386 JSON merge patch

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return deepClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// RFC 6902 JSON patch

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function decodePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`JSON pointer must be empty or start with a "/": ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = {
  get(k: string): Json | undefined;
  set(k: string, v: Json): void;
  add(k: string, v: Json): void;
  remove(k: string): void;
  has(k: string): boolean;
};

function container(doc: Json, tokens: string[], path: string, opName: string): { parent: Json; key: string } {
  let cur: Json = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    if (Array.isArray(cur)) {
      const idx = parseIndex(t, cur.length - 1, path);
      cur = cur[idx]!;
    } else if (isObject(cur)) {
      if (!(t in cur))
        throw new Error(`${opName} operation does not apply: doc is missing path: "${path}": missing value`);
      cur = cur[t]!;
    } else {
      throw new Error(`${opName} operation does not apply: doc is missing path: "${path}": missing value`);
    }
  }
  if (cur === null || typeof cur !== 'object') {
    throw new Error(`${opName} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function parseIndex(t: string, max: number, path: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(t))
    throw new Error(`Unable to access invalid index: ${t}: invalid index referenced: ${path}`);
  const i = Number(t);
  if (i > max) throw new Error(`Unable to access invalid index: ${i}: invalid index referenced: ${path}`);
  return i;
}

function access(parent: Json, key: string, path: string): Container {
  if (Array.isArray(parent)) {
    return {
      get: (k) => (/^(0|[1-9][0-9]*)$/.test(k) ? parent[Number(k)] : undefined),
      has: (k) => /^(0|[1-9][0-9]*)$/.test(k) && Number(k) < parent.length,
      set: (k, v) => {
        parent[parseIndex(k, parent.length - 1, path)] = v;
      },
      add: (k, v) => {
        if (k === '-') parent.push(v);
        else parent.splice(parseIndex(k, parent.length, path), 0, v);
      },
      remove: (k) => {
        parent.splice(parseIndex(k, parent.length - 1, path), 1);
      },
    };
  }
  const o = parent as JsonObject;
  void key;
  return {
    get: (k) => o[k],
    has: (k) => Object.hasOwn(o, k),
    set: (k, v) => {
      o[k] = v;
    },
    add: (k, v) => {
      o[k] = v;
    },
    remove: (k) => {
      delete o[k];
    },
  };
}

/** Applies an RFC 6902 patch. Throws ApiError 400 for a malformed patch, 422 when an operation fails. */
export function jsonPatch(doc: Json, patch: unknown): Json {
  if (!Array.isArray(patch))
    throw errors.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let out = deepClone(doc);
  for (const raw of patch as JsonPatchOp[]) {
    if (!isObject(raw as unknown) || typeof raw.op !== 'string') throw errors.badRequest('unexpected kind: missing op');
    try {
      out = applyOp(out, raw);
    } catch (e) {
      if (e instanceof Error && !('status' in e)) throw errors.unprocessable(e.message);
      throw e;
    }
  }
  return out;
}

function applyOp(doc: Json, op: JsonPatchOp): Json {
  const path = op.path;
  if (typeof path !== 'string') throw new Error(`${op.op} operation does not apply: missing path`);
  const tokens = decodePointer(path);
  switch (op.op) {
    case 'add': {
      if (!('value' in op)) throw new Error('add operation does not apply: missing value');
      if (tokens.length === 0) return deepClone(op.value!);
      const { parent, key } = container(doc, tokens, path, 'add');
      access(parent, key, path).add(key, deepClone(op.value!));
      return doc;
    }
    case 'remove': {
      if (tokens.length === 0) return null;
      const { parent, key } = container(doc, tokens, path, 'remove');
      const c = access(parent, key, path);
      if (!c.has(key)) throw new Error(`remove operation does not apply: doc is missing key: ${path}: missing value`);
      c.remove(key);
      return doc;
    }
    case 'replace': {
      if (!('value' in op)) throw new Error('replace operation does not apply: missing value');
      if (tokens.length === 0) return deepClone(op.value!);
      const { parent, key } = container(doc, tokens, path, 'replace');
      const c = access(parent, key, path);
      if (!c.has(key)) throw new Error(`replace operation does not apply: doc is missing key: ${path}: missing value`);
      c.set(key, deepClone(op.value!));
      return doc;
    }
    case 'move':
    case 'copy': {
      if (typeof op.from !== 'string') throw new Error(`${op.op} operation does not apply: missing from`);
      const fromTokens = decodePointer(op.from);
      const src = container(doc, fromTokens, op.from, op.op);
      const sc = access(src.parent, src.key, op.from);
      if (!sc.has(src.key))
        throw new Error(`${op.op} operation does not apply: doc is missing from path: ${op.from}: missing value`);
      const value = deepClone(sc.get(src.key)!);
      if (op.op === 'move') sc.remove(src.key);
      if (tokens.length === 0) return value;
      const dst = container(doc, tokens, path, op.op);
      access(dst.parent, dst.key, path).add(dst.key, value);
      return doc;
    }
    case 'test': {
      let actual: Json | undefined;
      if (tokens.length === 0) actual = doc;
      else {
        try {
          const { parent, key } = container(doc, tokens, path, 'test');
          const c = access(parent, key, path);
          actual = c.has(key) ? c.get(key) : undefined;
        } catch {
          actual = undefined;
        }
      }
      const expected = op.value;
      if (actual === undefined) {
        if (expected === undefined || expected === null) return doc;
        throw new Error(`testing value ${path} failed: test failed`);
      }
      if (!deepEqual(actual, expected === undefined ? null : expected))
        throw new Error(`testing value ${path} failed: test failed`);
      return doc;
    }
    default:
      throw new Error(`Unexpected kind: ${op.op}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';
const SET_ORDER = '$setElementOrder/';

function smpBad(msg: string): never {
  throw errors.badRequest(msg);
}

/** Applies a strategic merge patch to `original` (not modified) with the given schema. */
export function strategicMergePatch(original: JsonObject, patch: unknown, schema: PatchSchema | undefined): JsonObject {
  if (!isObject(patch)) smpBad('invalid JSON document');
  const out = mergeMap(deepClone(original), deepClone(patch), schema);
  return out ?? {};
}

function mergeMap(original: JsonObject, patch: JsonObject, schema: PatchSchema | undefined): JsonObject {
  const directive = patch[DIRECTIVE];
  if (directive !== undefined) {
    delete patch[DIRECTIVE];
    if (directive === 'replace') return stripDirectives(patch) as JsonObject;
    if (directive === 'delete') return {};
    if (directive !== 'merge') smpBad(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);
  }
  const retain = patch[RETAIN_KEYS];
  if (retain !== undefined) {
    delete patch[RETAIN_KEYS];
    if (!Array.isArray(retain)) smpBad('invalid patch: $retainKeys must be a list');
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
  }
  const orders: Array<[string, Json[]]> = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      if (!Array.isArray(v)) smpBad('invalid patch: $deleteFromPrimitiveList must be a list');
      const cur = original[field];
      if (Array.isArray(cur)) {
        const del = v.map((x) => JSON.stringify(x));
        original[field] = cur.filter((x) => !del.includes(JSON.stringify(x)));
      }
      continue;
    }
    if (k.startsWith(SET_ORDER)) {
      if (!Array.isArray(v)) smpBad('invalid patch: $setElementOrder must be a list');
      orders.push([k.slice(SET_ORDER.length), v]);
      continue;
    }
    const fieldSchema = schema?.fields?.[k];
    if (v === null) {
      delete original[k];
      continue;
    }
    if (!(k in original) || original[k] === null) {
      if (Array.isArray(v) && isDeleteOnlyList(v)) continue;
      original[k] = stripDirectives(discardNulls(v));
      continue;
    }
    const ov = original[k]!;
    if (isObject(ov) && isObject(v)) {
      original[k] = mergeMap(ov, v, fieldSchema);
    } else if (Array.isArray(ov) && Array.isArray(v)) {
      original[k] = mergeList(ov, v, fieldSchema);
    } else {
      original[k] = stripDirectives(discardNulls(v));
    }
  }
  for (const [field, order] of orders) {
    const fieldSchema = schema?.fields?.[field];
    const cur = original[field];
    if (!Array.isArray(cur)) continue;
    original[field] = applyElementOrder(cur, order, fieldSchema?.mergeKey);
  }
  return original;
}

function isDeleteOnlyList(v: Json[]): boolean {
  return v.length > 0 && v.every((x) => isObject(x) && x[DIRECTIVE] === 'delete');
}

function discardNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map(discardNulls);
  if (isObject(v)) {
    const o: JsonObject = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) o[k] = discardNulls(x);
    return o;
  }
  return v;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) {
    return v
      .filter((x) => !(isObject(x) && x[DIRECTIVE] !== undefined && Object.keys(x).length === 1))
      .map(stripDirectives);
  }
  if (isObject(v)) {
    const o: JsonObject = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE)) continue;
      o[k] = stripDirectives(x);
    }
    return o;
  }
  return v;
}

function mergeList(original: Json[], patch: Json[], schema: PatchSchema | undefined): Json[] {
  // a `{"$patch": "replace"}` element replaces the whole list with the other elements
  const replaceIdx = patch.findIndex((x) => isObject(x) && x[DIRECTIVE] === 'replace');
  if (replaceIdx >= 0) {
    return stripDirectives(patch.filter((_, i) => i !== replaceIdx)) as Json[];
  }
  if (schema?.strategy !== 'merge') return stripDirectives(discardNulls(patch)) as Json[];
  const mergeKey = schema.mergeKey;
  if (!mergeKey) {
    // a set of primitives: union, original order first
    const out = [...original];
    const seen = new Set(original.map((x) => JSON.stringify(x)));
    for (const x of patch) {
      if (isObject(x) || Array.isArray(x))
        smpBad('merging lists cannot yet be specified for lists of maps without a mergeKey');
      const s = JSON.stringify(x);
      if (!seen.has(s)) {
        seen.add(s);
        out.push(x);
      }
    }
    return out;
  }
  const out = [...original];
  for (const item of patch) {
    if (!isObject(item)) smpBad(`invalid list element for mergeKey ${mergeKey}: ${JSON.stringify(item)}`);
    const key = item[mergeKey];
    if (key === undefined) smpBad(`map: ${JSON.stringify(item)} does not contain declared merge key: ${mergeKey}`);
    const idx = out.findIndex((x) => isObject(x) && deepEqual(x[mergeKey], key));
    const directive = item[DIRECTIVE];
    if (directive === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      // upstream deletes every element with that key
      for (let i = out.length - 1; i >= 0; i--) {
        const x = out[i];
        if (isObject(x) && deepEqual(x[mergeKey], key)) out.splice(i, 1);
      }
      continue;
    }
    if (directive === 'replace') {
      const rep = stripDirectives(item);
      if (idx >= 0) out[idx] = rep;
      else out.push(rep);
      continue;
    }
    if (idx >= 0) {
      out[idx] = mergeMap(out[idx] as JsonObject, item, schema.items);
    } else {
      out.push(stripDirectives(discardNulls(item)));
    }
  }
  return out;
}

function elemKey(x: Json, mergeKey: string | undefined): string | undefined {
  if (mergeKey) return isObject(x) && x[mergeKey] !== undefined ? JSON.stringify(x[mergeKey]) : undefined;
  return isObject(x) || Array.isArray(x) ? undefined : JSON.stringify(x);
}

/**
 * normalizeElementOrder + mergeSortedSlice: the items named in `$setElementOrder` come in that
 * order; the other (server-only) items keep their relative order and are interleaved by their
 * position in the live list.
 */
function applyElementOrder(merged: Json[], order: Json[], mergeKey: string | undefined): Json[] {
  const orderKeys = order.map((o) => elemKey(o, mergeKey)).filter((k): k is string => k !== undefined);
  const inOrder = new Set(orderKeys);
  const serverOrder = merged.map((x) => elemKey(x, mergeKey));
  const patchItems: Json[] = [];
  for (const k of orderKeys) {
    const found = merged.find((x) => elemKey(x, mergeKey) === k);
    if (found !== undefined && !patchItems.includes(found)) patchItems.push(found);
  }
  const serverOnly = merged.filter((x) => {
    const k = elemKey(x, mergeKey);
    return k === undefined || !inOrder.has(k);
  });
  const idx = (x: Json): number => serverOrder.indexOf(elemKey(x, mergeKey));
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < patchItems.length) {
    if (i >= serverOnly.length) out.push(patchItems[j++]!);
    else if (j >= patchItems.length) out.push(serverOnly[i++]!);
    else {
      const li = idx(serverOnly[i]!);
      const ri = idx(patchItems[j]!);
      if (li >= 0 && ri >= 0 && li < ri) out.push(serverOnly[i++]!);
      else out.push(patchItems[j++]!);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Patch schemas of the built-in kinds (from the patchStrategy/patchMergeKey struct tags)

const merge = (mergeKey?: string, items?: PatchSchema, retainKeys?: boolean): PatchSchema => {
  const s: PatchSchema = { strategy: 'merge' };
  if (mergeKey) s.mergeKey = mergeKey;
  if (items) s.items = items;
  if (retainKeys) s.retainKeys = true;
  return s;
};

export const objectMetaSchema: PatchSchema = {
  fields: {
    finalizers: merge(),
    ownerReferences: merge('uid'),
  },
};

const containerSchema: PatchSchema = {
  fields: {
    ports: merge('containerPort'),
    env: merge('name'),
    volumeMounts: merge('mountPath'),
    volumeDevices: merge('devicePath'),
  },
};

const podSpecSchema: PatchSchema = {
  fields: {
    volumes: merge('name', undefined, true),
    initContainers: merge('name', containerSchema),
    containers: merge('name', containerSchema),
    ephemeralContainers: merge('name', containerSchema),
    imagePullSecrets: merge('name'),
    hostAliases: merge('ip'),
    topologySpreadConstraints: merge('topologyKey'),
    schedulingGates: merge('name'),
    resourceClaims: merge('name', undefined, true),
  },
};

export const podSchema: PatchSchema = {
  fields: {
    metadata: objectMetaSchema,
    spec: podSpecSchema,
    status: {
      fields: {
        conditions: merge('type'),
        podIPs: merge('ip'),
        hostIPs: merge('ip'),
        resourceClaimStatuses: merge('name', undefined, true),
        // containerStatuses / initContainerStatuses / ephemeralContainerStatuses: atomic upstream
      },
    },
  },
};

export const nodeSchema: PatchSchema = {
  fields: {
    metadata: objectMetaSchema,
    spec: { fields: { podCIDRs: merge() } },
    status: {
      fields: {
        conditions: merge('type'),
        addresses: merge('type'),
      },
    },
  },
};

export const namespaceSchema: PatchSchema = {
  fields: { metadata: objectMetaSchema, status: { fields: { conditions: merge('type') } } },
};

export const serviceSchema: PatchSchema = {
  fields: {
    metadata: objectMetaSchema,
    spec: { fields: { ports: merge('port') } },
    status: { fields: { conditions: merge('type') } },
  },
};

export const metaOnlySchema: PatchSchema = { fields: { metadata: objectMetaSchema } };
