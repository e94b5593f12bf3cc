/**
 * The stand-in's storage and registry: one global, monotonically increasing resourceVersion (as
 * etcd's revision), a bounded change log that watches replay from (and that makes a too-old
 * resourceVersion a 410), and upstream's generic-registry rules for create / update / patch /
 * delete (pkg/registry/generic/registry/store.go, pkg/api/rest/{create,update,delete}.go):
 *
 * - create: decode defaults → mutating admission → PrepareForCreate, uid, creationTimestamp,
 *   generateName → validation → AlreadyExists;
 * - update: NotFound unless the strategy allows create-on-update; a PUT whose `metadata.uid` does
 *   not match is a Conflict "Precondition failed: UID in precondition: …" (a PATCH that changes the
 *   uid is Invalid: "field is immutable"); an empty resourceVersion is
 *   an unconditional update where the strategy allows it (else Invalid), a stale one a Conflict;
 *   status subresource writes keep everything but status (and metadata where upstream lets it
 *   through), main writes keep status; an update that changes nothing keeps the resourceVersion
 *   and emits no event; removing the last finalizer of an object being deleted with no grace
 *   left deletes it;
 * - delete: preconditions (uid, resourceVersion) → graceful deletion (pods: the grace period from
 *   the options or spec.terminationGracePeriodSeconds, 0 when unscheduled or terminal; a second
 *   delete may only shorten it) → finalizers → removal. A graceful delete sets deletionTimestamp
 *   and deletionGracePeriodSeconds, bumps generation, and leaves the object in place: like the real
 *   apiserver, only a later delete with grace 0 (the kubelet's) removes it.
 */
import { randomUUID } from 'node:crypto';
import { errors, grString, successStatus } from './status.ts';
import type { Json, JsonObject, Status } from './status.ts';
import { deepClone, deepEqual, isObject, jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import type { ResourceType } from './resources.ts';
import { RESOURCES, gvString, resourceKey, selectableFields, supportedField } from './resources.ts';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { validateName } from './defaults.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change, in storage form. For DELETED, `object` is the last state with the deletion's resourceVersion. */
export interface Change {
  rv: number;
  storage: string;
  type: ChangeType;
  key: string;
  object: JsonObject;
  prev?: JsonObject;
}

export interface AdmissionAttributes {
  operation: 'create' | 'update' | 'delete';
  resource: ResourceType;
  subresource: string;
  namespace: string;
  name: string;
  /** The object as it will be written (create/update), in the resource's wire form. */
  object?: JsonObject;
  /** The stored object (update/delete). */
  oldObject?: JsonObject;
}

/** Admission control run by the caller's identity (NodeRestriction for nodes); throws an ApiError to deny. */
export type Admit = (attrs: AdmissionAttributes) => void;

export interface WriteOptions {
  dryRun?: boolean;
  admit?: Admit;
}

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number | null;
  preconditions?: { uid?: string | null; resourceVersion?: string | null } | null;
  propagationPolicy?: string | null;
  orphanDependents?: boolean | null;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: JsonObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export type PatchType = 'json' | 'merge' | 'strategic';

export interface StoreOptions {
  /** The wall clock for creationTimestamp/deletionTimestamp (default: real time). */
  now?: () => Date;
  /** How many changes the log keeps for watches (default 10000); older resourceVersions get 410. */
  historyLimit?: number;
}

const OPTIMISTIC_LOCK = 'the object has been modified; please apply your changes to the latest version and try again';
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function meta(o: JsonObject): JsonObject {
  if (!isObject(o.metadata)) o.metadata = {};
  return o.metadata as JsonObject;
}

function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function parseRv(v: Json | undefined): number {
  const s = str(v);
  if (s === '') return 0;
  if (!/^\d+$/.test(s))
    throw errors.badRequest(`invalid resource version: strconv.ParseUint: parsing "${s}": invalid syntax`);
  return Number(s);
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

function encodeContinue(rv: number, startKey: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: `${startKey}\u0000` })).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    return t;
  } catch {
    throw errors.badRequest(
      'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
}

export class Store {
  private readonly data = new Map<string, Map<string, JsonObject>>();
  private log: Change[] = [];
  private rvCounter = 0;
  /** Changes with rv <= this are no longer in the log. */
  private compactedThrough = 0;
  private readonly listeners = new Set<(c: Change) => void>();
  private readonly now: () => Date;
  private readonly historyLimit: number;

  constructor(opts: StoreOptions = {}) {
    this.now = opts.now ?? (() => new Date());
    this.historyLimit = opts.historyLimit ?? 10000;
  }

  get resourceVersion(): number {
    return this.rvCounter;
  }

  /** The oldest resourceVersion a watch can still start from. */
  get oldestWatchableRv(): number {
    return this.compactedThrough;
  }

  /** Drops the change log up to `rv` (default: now): a watch or continue from an older rv gets 410. */
  compact(rv = this.rvCounter): void {
    this.log = this.log.filter((c) => c.rv > rv);
    this.compactedThrough = Math.max(this.compactedThrough, rv);
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Changes of one storage after `rv` (callers check `oldestWatchableRv` first). */
  changesSince(storage: string, rv: number): Change[] {
    return this.log.filter((c) => c.storage === storage && c.rv > rv);
  }

  private bucket(storage: string): Map<string, JsonObject> {
    let b = this.data.get(storage);
    if (!b) {
      b = new Map();
      this.data.set(storage, b);
    }
    return b;
  }

  private commit(r: ResourceType, type: ChangeType, key: string, obj: JsonObject, prev?: JsonObject): JsonObject {
    const rv = ++this.rvCounter;
    const stored = this.toStorage(r, obj);
    meta(stored).resourceVersion = String(rv);
    const bucket = this.bucket(r.storage);
    if (type === 'DELETED') bucket.delete(key);
    else bucket.set(key, stored);
    const change: Change = { rv, storage: r.storage, type, key, object: stored };
    if (prev) change.prev = prev;
    this.log.push(change);
    if (this.log.length > this.historyLimit) {
      const dropped = this.log.splice(0, this.log.length - this.historyLimit);
      this.compactedThrough = dropped[dropped.length - 1]!.rv;
    }
    for (const l of [...this.listeners]) l(change);
    return this.toExternal(r, stored);
  }

  private storageResource(r: ResourceType): ResourceType {
    return RESOURCES.find((x) => resourceKey(x) === r.storage) ?? r;
  }

  toExternal(r: ResourceType, stored: JsonObject): JsonObject {
    const copy = deepClone(stored);
    if (r.toExternal) return r.toExternal(copy);
    return { ...copy, apiVersion: gvString(r), kind: r.kind };
  }

  private toStorage(r: ResourceType, obj: JsonObject): JsonObject {
    const copy = deepClone(obj);
    if (r.toStorage) return r.toStorage(copy);
    return copy;
  }

  private gr(r: ResourceType): { group: string; resource: string } {
    return { group: r.group, resource: r.resource };
  }

  private storedGet(r: ResourceType, namespace: string, name: string): JsonObject | undefined {
    return this.bucket(r.storage).get(objectKey(r.namespaced ? namespace : '', name));
  }

  /** GET: the object in the resource's wire form, or a 404 ApiError. */
  get(r: ResourceType, namespace: string, name: string): JsonObject {
    const s = this.storedGet(r, namespace, name);
    if (!s) throw errors.notFound(this.gr(r), name);
    return this.toExternal(r, s);
  }

  tryGet(r: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const s = this.storedGet(r, namespace, name);
    return s ? this.toExternal(r, s) : undefined;
  }

  /** The stored objects of a resource, uncopied: read-only use (authorizer graph, admission lookups). */
  peek(r: ResourceType): Iterable<JsonObject> {
    return this.bucket(r.storage).values();
  }

  /** All stored objects of a resource (wire form), sorted by namespace/name as etcd orders keys. */
  all(r: ResourceType): JsonObject[] {
    return this.snapshot(r.storage, this.rvCounter).map(([, o]) => this.toExternal(r, o));
  }

  /** The state of one storage as of `rv`, rebuilt by undoing later changes. */
  private snapshot(storage: string, rv: number): Array<[string, JsonObject]> {
    const state = new Map(this.bucket(storage));
    if (rv < this.rvCounter) {
      for (let i = this.log.length - 1; i >= 0; i--) {
        const c = this.log[i]!;
        if (c.rv <= rv) break;
        if (c.storage !== storage) continue;
        if (c.type === 'ADDED') state.delete(c.key);
        else if (c.prev) state.set(c.key, c.prev);
      }
    }
    return [...state.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Resolves when the global resourceVersion reaches `rv`, or false after `timeoutMs`. */
  waitForRv(rv: number, timeoutMs: number): Promise<boolean> {
    if (this.rvCounter >= rv) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      timer.unref?.();
      const off = this.subscribe(() => {
        if (this.rvCounter >= rv) {
          clearTimeout(timer);
          off();
          resolve(true);
        }
      });
    });
  }

  /**
   * LIST with upstream's resourceVersion semantics: unset/"0"/NotOlderThan → the current state
   * (callers wait for a future rv first); Exact (or an rv with a limit and no match, the legacy
   * rule) → the state at that rv, 410 if compacted; limit/continue paging over a consistent
   * snapshot, the continue token carrying its rv.
   */
  list(r: ResourceType, opts: ListOptions = {}): ListResult {
    const labelSel = parseLabelSelector(opts.labelSelector);
    const fieldSel = parseFieldSelector(opts.fieldSelector, supportedField(r));
    const rvParam = opts.resourceVersion ?? '';
    const match = opts.resourceVersionMatch ?? '';
    if (match && rvParam === '') {
      throw errors.invalid({ group: 'meta.k8s.io', kind: 'ListOptions' }, '', [
        {
          field: 'resourceVersionMatch',
          type: 'Forbidden',
          detail: 'resourceVersionMatch is forbidden unless resourceVersion is provided',
        },
      ]);
    }
    if (match && match !== 'Exact' && match !== 'NotOlderThan') {
      throw errors.invalid({ group: 'meta.k8s.io', kind: 'ListOptions' }, '', [
        {
          field: 'resourceVersionMatch',
          type: 'Unsupported value',
          detail: `"${match}": supported values: "Exact", "NotOlderThan", ""`,
        },
      ]);
    }
    if (opts.continue && rvParam !== '' && rvParam !== '0') {
      throw errors.invalid({ group: 'meta.k8s.io', kind: 'ListOptions' }, '', [
        {
          field: 'resourceVersion',
          type: 'Forbidden',
          detail: 'specifying resource version is not allowed when using continue',
        },
      ]);
    }
    let atRv = this.rvCounter;
    let startAfter = '';
    if (opts.continue) {
      const tok = decodeContinue(opts.continue);
      if (tok.rv < this.compactedThrough && tok.rv < this.rvCounter) {
        const e = errors.expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
        e.status.metadata.continue = encodeContinue(-1, tok.start.replace(/\u0000$/, ''));
        throw e;
      }
      atRv = tok.rv < 0 ? this.rvCounter : tok.rv;
      startAfter = tok.start.replace(/\u0000$/, '');
    } else if (rvParam !== '' && rvParam !== '0') {
      const n = parseRv(rvParam);
      const exact = match === 'Exact' || (match === '' && (opts.limit ?? 0) > 0);
      if (n > this.rvCounter) throw errors.tooLargeResourceVersion(n, this.rvCounter);
      if (exact) {
        if (n < this.compactedThrough) throw errors.expired('The resourceVersion for the provided list is too old.');
        atRv = n;
      }
    }
    const nsFilter = r.namespaced ? (opts.namespace ?? '') : '';
    const entries = this.snapshot(r.storage, atRv).filter(([key]) => startAfter === '' || key > startAfter);
    const items: Array<[string, JsonObject]> = [];
    for (const [key, stored] of entries) {
      const ext = this.toExternal(r, stored);
      const m = meta(ext);
      if (nsFilter && m.namespace !== nsFilter) continue;
      if (!matchLabels(labelSel, m.labels as Record<string, string> | undefined)) continue;
      if (!matchFields(fieldSel, selectableFields(r, ext))) continue;
      items.push([key, ext]);
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const result: ListResult = { items: [], resourceVersion: String(atRv) };
    if (limit && items.length > limit) {
      const page = items.slice(0, limit);
      result.items = page.map(([, o]) => o);
      result.continue = encodeContinue(atRv, page[page.length - 1]![0]);
      if (labelSel.length === 0 && fieldSel.length === 0) result.remainingItemCount = items.length - limit;
    } else {
      result.items = items.map(([, o]) => o);
    }
    return result;
  }

  private namespaceExists(name: string): boolean {
    return this.bucket('/namespaces').has(objectKey('', name));
  }

  private prepareIncoming(r: ResourceType, body: unknown, namespace: string): JsonObject {
    if (!isObject(body)) throw errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
    const obj = deepClone(body);
    if (obj.kind !== undefined && obj.kind !== r.kind) {
      throw errors.badRequest(
        `${str(obj.kind)} in version "${str(obj.apiVersion)}" cannot be handled as a ${r.kind}: the object provided is unrecognized (must be of type ${r.kind})`,
      );
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== gvString(r)) {
      throw errors.badRequest(
        `the API version in the data (${str(obj.apiVersion)}) does not match the expected API version (${gvString(r)})`,
      );
    }
    obj.apiVersion = gvString(r);
    obj.kind = r.kind;
    const m = meta(obj);
    if (r.namespaced) {
      if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace) {
        throw errors.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      m.namespace = namespace;
    } else {
      delete m.namespace;
    }
    r.defaults?.(obj);
    return obj;
  }

  /** POST. */
  create(r: ResourceType, namespace: string, body: unknown, opts: WriteOptions = {}): JsonObject {
    const obj = this.prepareIncoming(r, body, namespace);
    const m = meta(obj);
    if (r.namespaced && !this.namespaceExists(namespace))
      throw errors.notFound({ group: '', resource: 'namespaces' }, namespace);
    r.admitCreate?.(obj);
    if (!m.name && typeof m.generateName === 'string' && m.generateName) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += NAME_CHARS[Math.floor(Math.random() * NAME_CHARS.length)];
      m.name = `${m.generateName}${suffix}`;
    }
    const name = str(m.name);
    opts.admit?.({ operation: 'create', resource: r, subresource: '', namespace, name, object: obj });
    if (str(m.resourceVersion) !== '')
      throw errors.internal('resourceVersion should not be set on objects to be created');
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.selfLink;
    r.prepareForCreate?.(obj);
    m.uid = randomUUID();
    m.creationTimestamp = rfc3339(this.now());
    if (!name) {
      throw errors.invalid({ group: r.group, kind: r.kind }, '', [
        { field: 'metadata.name', type: 'Required value', detail: 'name or generateName is required' },
      ]);
    }
    r.validate?.(obj, name);
    const bad = validateName(name, r.nameStyle);
    if (bad)
      throw errors.invalid({ group: r.group, kind: r.kind }, name, [
        { field: 'metadata.name', type: 'Invalid value', detail: `${JSON.stringify(name)}: ${bad}` },
      ]);
    const key = objectKey(r.namespaced ? namespace : '', name);
    if (this.bucket(r.storage).has(key)) throw errors.alreadyExists(this.gr(r), name);
    if (opts.dryRun) return obj;
    return this.commit(r, 'ADDED', key, obj);
  }

  /** PUT (subresource '' or 'status'). Returns the object and whether it was created. */
  update(
    r: ResourceType,
    namespace: string,
    name: string,
    body: unknown,
    subresource = '',
    opts: WriteOptions = {},
  ): { object: JsonObject; created: boolean } {
    const obj = this.prepareIncoming(r, body, namespace);
    const m = meta(obj);
    if (m.name !== undefined && m.name !== '' && m.name !== name) {
      throw errors.badRequest(`the name of the object (${str(m.name)}) does not match the name on the URL (${name})`);
    }
    m.name = name;
    const existingStored = this.storedGet(r, namespace, name);
    if (!existingStored) {
      if (!r.allowCreateOnUpdate || subresource !== '') throw errors.notFound(this.gr(r), name);
      delete m.resourceVersion;
      return { object: this.create(r, namespace, obj, opts), created: true };
    }
    const existing = this.toExternal(r, existingStored);
    return { object: this.applyUpdate(r, namespace, name, obj, existing, subresource, opts), created: false };
  }

  /**
   * The shared update path. A PUT body's metadata.uid is a storage precondition, checked first
   * (409 "Precondition failed: UID in precondition: …"); a PATCH has none, so a uid the patch
   * changes fails metadata validation instead (422 "field is immutable"), as upstream.
   */
  private applyUpdate(
    r: ResourceType,
    namespace: string,
    name: string,
    obj: JsonObject,
    existing: JsonObject,
    subresource: string,
    opts: WriteOptions,
    viaPatch = false,
  ): JsonObject {
    const m = meta(obj);
    const old = meta(existing);
    if (!viaPatch && str(m.uid) !== '' && m.uid !== old.uid) {
      throw errors.conflict(
        this.gr(r),
        name,
        `Precondition failed: UID in precondition: ${str(m.uid)}, UID in object meta: ${str(old.uid)}`,
      );
    }
    opts.admit?.({ operation: 'update', resource: r, subresource, namespace, name, object: obj, oldObject: existing });
    const newRv = parseRv(m.resourceVersion);
    if (newRv === 0) {
      if (!r.allowUnconditionalUpdate) {
        throw errors.invalid({ group: r.group, kind: r.resource }, name, [
          { field: 'metadata.resourceVersion', type: 'Invalid value', detail: '0x0: must be specified for an update' },
        ]);
      }
    } else if (newRv !== parseRv(old.resourceVersion)) {
      throw errors.conflict(this.gr(r), name, OPTIMISTIC_LOCK);
    }
    if (subresource === 'status') r.prepareForStatusUpdate?.(obj, existing);
    else if (subresource === '') r.prepareForUpdate?.(obj, existing);
    else r.prepareForSubresourceUpdate?.(subresource, obj, existing);
    // rest.BeforeUpdate: system fields are not the client's to change
    if (str(m.uid) !== '' && m.uid !== old.uid) {
      throw errors.invalid({ group: r.group, kind: r.kind }, name, [
        { field: 'metadata.uid', type: 'Invalid value', detail: `${JSON.stringify(str(m.uid))}: field is immutable` },
      ]);
    }
    m.uid = old.uid ?? null;
    m.creationTimestamp = old.creationTimestamp ?? null;
    if (old.deletionTimestamp !== undefined) m.deletionTimestamp = old.deletionTimestamp;
    else delete m.deletionTimestamp;
    if (old.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
    else delete m.deletionGracePeriodSeconds;
    if (r.resource !== 'pods' || subresource === 'status') {
      if (old.generation !== undefined) m.generation = old.generation;
      else delete m.generation;
    }
    if (m.namespace === undefined && r.namespaced) m.namespace = namespace;
    if (subresource === '') r.validateUpdate?.(obj, existing, name);
    else r.validateStatusUpdate?.(obj, existing, name);
    m.resourceVersion = old.resourceVersion ?? null;
    const key = objectKey(r.namespaced ? namespace : '', name);
    const prevStored = this.storedGet(r, namespace, name)!;
    // removing the last finalizer of an object whose deletion has no grace left deletes it
    const finalizers = Array.isArray(m.finalizers) ? m.finalizers : [];
    if (finalizers.length === 0 && old.deletionTimestamp !== undefined && !old.deletionGracePeriodSeconds) {
      if (opts.dryRun) return obj;
      this.commit(r, 'DELETED', key, obj, prevStored);
      return obj;
    }
    if (deepEqual(this.toStorage(r, obj), prevStored)) return existing;
    if (opts.dryRun) return obj;
    return this.commit(r, 'MODIFIED', key, obj, prevStored);
  }

  /** PATCH (subresource '' or 'status'). Never creates. */
  patch(
    r: ResourceType,
    namespace: string,
    name: string,
    type: PatchType,
    patchBody: unknown,
    subresource = '',
    opts: WriteOptions = {},
  ): JsonObject {
    const existing = this.get(r, namespace, name);
    let patched: Json;
    switch (type) {
      case 'json':
        patched = jsonPatch(existing, patchBody);
        break;
      case 'merge':
        if (!isObject(patchBody)) throw errors.badRequest('Invalid JSON Patch');
        patched = mergePatch(existing, patchBody);
        break;
      case 'strategic':
        patched = strategicMergePatch(existing, patchBody, this.storageResource(r).schema);
        break;
    }
    if (!isObject(patched)) throw errors.badRequest('the patched object is not a JSON object');
    const m = meta(patched);
    if (m.name !== name)
      throw errors.badRequest(`the name of the object (${str(m.name)}) does not match the name on the URL (${name})`);
    if (r.namespaced && m.namespace !== namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const obj = this.prepareIncoming(r, patched, namespace);
    return this.applyUpdate(r, namespace, name, obj, existing, subresource, opts, true);
  }

  /**
   * DELETE. Returns what the apiserver answers: the object (for resources that return it, pods)
   * or a Success Status, and whether it is gone.
   */
  delete(
    r: ResourceType,
    namespace: string,
    name: string,
    opts: DeleteOptions = {},
  ): { body: JsonObject | Omit<Status, 'code'>; deleted: boolean } {
    const storedExisting = this.storedGet(r, namespace, name);
    if (!storedExisting) throw errors.notFound(this.gr(r), name);
    const existing = this.toExternal(r, storedExisting);
    const old = meta(existing);
    const kindGr = { group: r.group, resource: r.kind };
    const pre = opts.preconditions;
    if (pre?.uid !== undefined && pre?.uid !== null && pre.uid !== old.uid) {
      throw errors.conflict(
        kindGr,
        name,
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${str(old.uid)}). The object might have been deleted and then recreated`,
      );
    }
    if (
      pre?.resourceVersion !== undefined &&
      pre?.resourceVersion !== null &&
      pre.resourceVersion !== old.resourceVersion
    ) {
      throw errors.conflict(
        kindGr,
        name,
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${str(old.resourceVersion)}). The object might have been modified`,
      );
    }
    if (
      opts.propagationPolicy !== undefined &&
      opts.propagationPolicy !== null &&
      !['Foreground', 'Background', 'Orphan'].includes(opts.propagationPolicy)
    ) {
      throw errors.invalid({ group: 'meta.k8s.io', kind: 'DeleteOptions' }, '', [
        {
          field: 'propagationPolicy',
          type: 'Unsupported value',
          detail: `"${opts.propagationPolicy}": supported values: "Foreground", "Background", "Orphan", "nil"`,
        },
      ]);
    }
    let grace = opts.gracePeriodSeconds;
    if (typeof grace === 'number' && grace < 0) grace = 1;
    opts.admit?.({ operation: 'delete', resource: r, subresource: '', namespace, name, oldObject: existing });
    const key = objectKey(r.namespaced ? namespace : '', name);
    const answer = (
      o: JsonObject,
      deleted: boolean,
    ): { body: JsonObject | Omit<Status, 'code'>; deleted: boolean } => ({
      body: r.returnDeletedObject
        ? o
        : successStatus({ name, ...(r.group ? { group: r.group } : {}), kind: r.resource, uid: str(old.uid) }),
      deleted,
    });
    const finalizers = Array.isArray(old.finalizers) ? old.finalizers : [];
    const nowDate = this.now();
    let updated: JsonObject | undefined;
    let deleteNow = true;
    if (r.gracefulDelete) {
      if (old.deletionTimestamp !== undefined && old.deletionTimestamp !== null) {
        const current = typeof old.deletionGracePeriodSeconds === 'number' ? old.deletionGracePeriodSeconds : 0;
        if (current === 0) {
          deleteNow = finalizers.length === 0;
        } else if (typeof grace === 'number' && grace < current) {
          let period = grace;
          let ts = Date.parse(str(old.deletionTimestamp)) - current * 1000 + period * 1000;
          if (ts < nowDate.getTime()) {
            ts = nowDate.getTime();
            if (period !== 0) period = 1;
          }
          updated = deepClone(existing);
          meta(updated).deletionTimestamp = rfc3339(new Date(ts));
          meta(updated).deletionGracePeriodSeconds = period;
          deleteNow = period === 0 && finalizers.length === 0;
        } else {
          return answer(existing, false); // graceful deletion pending: nothing changes
        }
      } else {
        const period = r.gracefulDelete(existing, { gracePeriodSeconds: grace ?? null });
        updated = deepClone(existing);
        const um = meta(updated);
        um.deletionTimestamp = rfc3339(new Date(nowDate.getTime() + period * 1000));
        um.deletionGracePeriodSeconds = period;
        if (typeof um.generation === 'number' && um.generation > 0) um.generation += 1;
        deleteNow = period === 0 && finalizers.length === 0;
      }
    } else if (finalizers.length > 0) {
      updated = deepClone(existing);
      const um = meta(updated);
      if (um.deletionTimestamp === undefined && typeof um.generation === 'number' && um.generation > 0)
        um.generation += 1;
      if (um.deletionTimestamp === undefined || Date.parse(str(um.deletionTimestamp)) > nowDate.getTime()) {
        um.deletionTimestamp = rfc3339(nowDate);
      }
      um.deletionGracePeriodSeconds = 0;
      deleteNow = false;
    }
    if (opts.dryRun) return answer(updated ?? existing, deleteNow);
    let last = existing;
    if (updated) {
      let prevStored = this.storedGet(r, namespace, name)!;
      if (!deepEqual(this.toStorage(r, updated), prevStored)) {
        last = this.commit(r, 'MODIFIED', key, updated, prevStored);
        prevStored = this.storedGet(r, namespace, name)!;
      }
      if (!deleteNow) return answer(last, false);
    }
    if (!deleteNow) return answer(last, false);
    if (r.group === '' && r.resource === 'namespaces') this.purgeNamespace(name);
    const prevStored = this.storedGet(r, namespace, name)!;
    this.commit(r, 'DELETED', key, last, prevStored);
    return answer(last, true);
  }

  /** POST pods/<name>/binding: sets spec.nodeName once, as the scheduler's binding does. */
  bind(r: ResourceType, namespace: string, name: string, body: unknown): void {
    const target = isObject(body) && isObject(body.target) ? body.target : undefined;
    const nodeName = target ? str(target.name) : '';
    const existing = this.get(r, namespace, name);
    const spec = isObject(existing.spec) ? existing.spec : {};
    if (str(spec.nodeName) !== '') {
      throw errors.conflict(
        { group: '', resource: 'pods/binding' },
        name,
        `pod ${name} is already assigned to node "${str(spec.nodeName)}"`,
      );
    }
    if (meta(existing).deletionTimestamp !== undefined) {
      throw errors.conflict(
        { group: '', resource: 'pods/binding' },
        name,
        `pod ${name} is being deleted, cannot be assigned to a host`,
      );
    }
    const updated = deepClone(existing);
    (updated.spec as JsonObject).nodeName = nodeName;
    const key = objectKey(namespace, name);
    this.commit(r, 'MODIFIED', key, updated, this.storedGet(r, namespace, name)!);
  }

  /** Removes a namespace and everything in it at once (the namespace controller, instantly). */
  purgeNamespace(namespace: string): void {
    for (const r of RESOURCES) {
      if (!r.namespaced || resourceKey(r) !== r.storage) continue;
      for (const [key, stored] of [...this.bucket(r.storage).entries()]) {
        if (!key.startsWith(`${namespace}/`)) continue;
        this.commit(r, 'DELETED', key, this.toExternal(r, stored), stored);
      }
    }
  }

  describe(r: ResourceType): string {
    return grString(this.gr(r));
  }
}
