/**
 * Test controls: injected faults and the request log.
 *
 * Faults (first matching rule wins; a rule with `count` expires after that many hits):
 * - `refuse`: with no filter and no count the server stops listening and drops every connection
 *   (clients see ECONNREFUSED) until cleared; with a filter or count, each matching request has
 *   its connection destroyed (ECONNRESET / "socket hang up");
 * - `hang`: the request is accepted and never answered (its socket is released by stop());
 * - `status500`: 500 InternalError Status;
 * - `status429`: 429 TooManyRequests Status with Retry-After (default 1s);
 * - `gone410`: lists answer 410 Expired; watches answer 200 then an ERROR event carrying the 410
 *   Status and end, as the apiserver's watch cache does for a too-old resourceVersion.
 */
import type { RequestInfo } from './auth.ts';

export type FaultMode = 'refuse' | 'hang' | 'status500' | 'status429' | 'gone410';

export interface FaultSpec {
  mode: FaultMode;
  /** Only requests with this verb (get, list, watch, create, update, patch, delete, ...). */
  verb?: string | string[];
  /** Only this resource, optionally with a subresource: "pods", "pods/status", "leases". */
  resource?: string | string[];
  /** Only request paths (without the query) matching this. */
  path?: RegExp;
  /** Only requests made by this user name (e.g. "system:node:node-a"); unauthenticated requests never match. */
  user?: string;
  /** Expire after this many matching requests (default: until cleared). */
  count?: number;
  /** For status429: the Retry-After seconds (default 1). */
  retryAfterSeconds?: number;
}

export interface FaultHandle {
  readonly spec: FaultSpec;
  /** How many requests this rule has caught. */
  readonly hits: number;
  /** Removes this rule only. */
  clear(): void;
}

interface Rule {
  spec: FaultSpec;
  hits: number;
  remaining: number;
}

export class Faults {
  private rules: Rule[] = [];
  /** Called when a listener-level refusal starts or ends. */
  onChange: () => void = () => {};

  /** Adds a rule; returns a handle to inspect or remove it. */
  set(spec: FaultSpec): FaultHandle {
    const rule: Rule = { spec, hits: 0, remaining: spec.count ?? Infinity };
    this.rules.push(rule);
    this.onChange();
    return {
      spec,
      get hits() {
        return rule.hits;
      },
      clear: () => {
        this.rules = this.rules.filter((r) => r !== rule);
        this.onChange();
      },
    };
  }

  /** Removes every rule (a refused listener starts listening again). */
  clear(): void {
    this.rules = [];
    this.onChange();
  }

  get active(): readonly FaultSpec[] {
    return this.rules.map((r) => r.spec);
  }

  /** True while an unfiltered, uncounted `refuse` rule is active: the server does not listen. */
  get refusingAll(): boolean {
    return this.rules.some((r) => r.spec.mode === 'refuse' && isUnfiltered(r.spec) && r.spec.count === undefined);
  }

  /** The fault for one request, counting the hit. */
  match(info: RequestInfo, user: string | undefined): FaultSpec | undefined {
    for (const rule of this.rules) {
      if (rule.remaining <= 0) continue;
      if (!matches(rule.spec, info, user)) continue;
      rule.hits++;
      rule.remaining--;
      if (rule.remaining <= 0) {
        this.rules = this.rules.filter((r) => r !== rule);
        queueMicrotask(() => this.onChange());
      }
      return rule.spec;
    }
    return undefined;
  }
}

function isUnfiltered(s: FaultSpec): boolean {
  return s.verb === undefined && s.resource === undefined && s.path === undefined && s.user === undefined;
}

function matches(s: FaultSpec, info: RequestInfo, user: string | undefined): boolean {
  if (s.verb !== undefined) {
    const verbs = Array.isArray(s.verb) ? s.verb : [s.verb];
    if (!verbs.includes(info.verb)) return false;
  }
  if (s.resource !== undefined) {
    const want = Array.isArray(s.resource) ? s.resource : [s.resource];
    const res = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
    if (!want.some((w) => w === res || (!w.includes('/') && w === info.resource && !info.subresource))) return false;
  }
  if (s.path !== undefined && !s.path.test(info.path)) return false;
  if (s.user !== undefined && s.user !== user) return false;
  return true;
}

/** One request as the server saw it. */
export interface RequestRecord {
  seq: number;
  time: Date;
  method: string;
  path: string;
  query: Record<string, string>;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The authenticated user, or undefined (401 / refused before authentication). */
  user?: string;
  groups?: string[];
  /** The request's Content-Type header. */
  contentType?: string;
  userAgent?: string;
  /** The parsed JSON body, when there was one. */
  body?: unknown;
  /** The response status (undefined while in flight or hung; 0 when the connection was dropped). */
  status?: number;
  /** The fault that caught it. */
  fault?: FaultMode;
  watch: boolean;
}

export type RecordFilter =
  | Partial<
      Pick<
        RequestRecord,
        | 'method'
        | 'path'
        | 'verb'
        | 'resource'
        | 'subresource'
        | 'namespace'
        | 'name'
        | 'user'
        | 'status'
        | 'contentType'
      >
    >
  | ((r: RequestRecord) => boolean);

function toPred(f: RecordFilter | undefined): (r: RequestRecord) => boolean {
  if (f === undefined) return () => true;
  if (typeof f === 'function') return f;
  return (r) => Object.entries(f).every(([k, v]) => (r as unknown as Record<string, unknown>)[k] === v);
}

export class RequestLog {
  private readonly records: RequestRecord[] = [];
  private readonly waiters = new Set<{ pred: (r: RequestRecord) => boolean; resolve: (r: RequestRecord) => void }>();
  private seq = 0;

  /** Every request so far, oldest first. */
  get all(): readonly RequestRecord[] {
    return this.records;
  }

  /** @internal */
  begin(r: Omit<RequestRecord, 'seq'>): RequestRecord {
    const rec = { seq: ++this.seq, ...r } as RequestRecord;
    this.records.push(rec);
    return rec;
  }

  /** @internal the response status is known */
  done(rec: RequestRecord, status: number): void {
    if (rec.status !== undefined) return;
    rec.status = status;
    for (const w of [...this.waiters]) {
      if (w.pred(rec)) {
        this.waiters.delete(w);
        w.resolve(rec);
      }
    }
  }

  filter(f?: RecordFilter): RequestRecord[] {
    return this.records.filter(toPred(f));
  }

  find(f?: RecordFilter): RequestRecord | undefined {
    return this.records.find(toPred(f));
  }

  last(f?: RecordFilter): RequestRecord | undefined {
    const p = toPred(f);
    for (let i = this.records.length - 1; i >= 0; i--) if (p(this.records[i]!)) return this.records[i];
    return undefined;
  }

  count(f?: RecordFilter): number {
    return this.filter(f).length;
  }

  /**
   * Resolves with the first answered request (past or future) matching `f`; rejects after
   * `timeoutMs` (default 5000).
   */
  waitFor(f: RecordFilter, timeoutMs = 5000): Promise<RequestRecord> {
    const pred = toPred(f);
    const hit = this.records.find((r) => r.status !== undefined && pred(r));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (r: RequestRecord) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(
          new Error(
            `apiserver stand-in: no request matching ${typeof f === 'function' ? 'predicate' : JSON.stringify(f)} within ${timeoutMs}ms`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  clear(): void {
    this.records.length = 0;
  }
}
