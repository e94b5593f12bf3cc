/**
 * Who may use the kubelet's HTTPS port, decided as upstream's kubelet decides it
 * (cmd/kubelet/app/auth.go BuildAuth, pkg/kubelet/server/auth.go, server.go InstallAuthFilter):
 *
 * - authentication, in order: an x509 client certificate verified against clientCAFile (user =
 *   CN, groups = O), or a bearer token through the API's TokenReview (authentication.webhook,
 *   answers cached for cacheTTL, 2 min, authenticated or not); every authenticated user is in
 *   system:authenticated. A certificate that does not verify, or a token the review rejects, is an
 *   error: 401 even with anonymous on. With nothing presented, anonymous (off by default) gives
 *   system:anonymous in system:unauthenticated; else 401.
 * - authorization: AlwaysAllow, or Webhook: one SubjectAccessReview per attribute set (resource
 *   nodes, name = the node, subresource from the path, verb from the method), cached 5 min when
 *   allowed and 30 s when not. With 1.33's fine-grained authz, /pods, /runningpods, /healthz and
 *   /configz ask for their own subresource first and fall back to proxy.
 *
 * Pure except for the review calls (the ReviewApi port) and the clock the caches read.
 */
import { createHash } from 'node:crypto';
import type { ReviewApi, SubjectAccessReviewSpec } from '../../protocols/kube/api.ts';

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** One attribute set to authorize (upstream authorizer.AttributesRecord, resource requests only). */
export interface NodeAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
}

/** upstream isSubpath: `path` itself or below it. */
function isSubpath(subpath: string, path: string): boolean {
  const p = path.replace(/\/$/, '');
  return subpath === p || (subpath.startsWith(p) && subpath[p.length] === '/');
}

/** upstream's verb of an HTTP method (HEAD and others get none). */
export function apiVerb(method: string): string {
  switch (method) {
    case 'POST':
      return 'create';
    case 'GET':
      return 'get';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return '';
  }
}

/** Paths with a subresource of their own before the proxy fallback (KubeletFineGrainedAuthz, on since 1.33). */
const FINE_GRAINED: readonly [string, string][] = [
  ['/pods', 'pods'],
  ['/runningpods', 'pods'],
  ['/healthz', 'healthz'],
  ['/configz', 'configz'],
];
const OWN: readonly [string, string][] = [
  ['/stats', 'stats'],
  ['/metrics', 'metrics'],
  ['/logs', 'log'],
  ['/checkpoint', 'checkpoint'],
];

/** upstream GetRequestAttributes: the attribute sets tried in order; the first allowed wins. */
export function requestAttributes(method: string, path: string, nodeName: string): NodeAttributes[] {
  const verb = apiVerb(method);
  const attrs = (subresource: string): NodeAttributes => ({ verb, resource: 'nodes', subresource, name: nodeName });
  for (const [p, sub] of OWN) if (isSubpath(path, p)) return [attrs(sub)];
  for (const [p, sub] of FINE_GRAINED) if (isSubpath(path, p)) return [attrs(sub), attrs('proxy')];
  return [attrs('proxy')];
}

/** The 403 body (upstream's, with Go's %v of the subresources tried). */
export function forbiddenBody(user: UserInfo, attrs: readonly NodeAttributes[]): string {
  const a = attrs[0]!;
  return `Forbidden (user=${user.name}, verb=${a.verb}, resource=${a.resource}, subresource(s)=[${attrs.map((x) => x.subresource).join(' ')}])\n`;
}

/** The 500 body when a review could not be made. */
export function authorizationErrorBody(user: UserInfo, a: NodeAttributes): string {
  return `Authorization error (user=${user.name}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`;
}

/** A map whose entries expire `ttl` ms after they were set, read on a clock. */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #now: () => number;
  readonly #max: number;
  constructor(now: () => number, max = 4096) {
    this.#now = now;
    this.#max = max;
  }

  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    // bounded: the oldest entry goes first
    if (this.#entries.size >= this.#max && !this.#entries.has(key))
      this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.#now() + ttlMs });
  }
}

/** What the TLS layer saw of the client's certificate. */
export type PeerCert =
  | { verified: true; commonName: string; organizations: string[] }
  | { verified: false; reason: string };

export interface AuthRequest {
  /** Undefined: the client presented no certificate (or x509 authentication is off). */
  peer?: PeerCert;
  authorization?: string;
}

export type AuthnResult = { ok: true; user: UserInfo } | { ok: false; reason: string };

export interface AuthenticationConfig {
  /** Client certificates are verified (clientCAFile given). */
  x509: boolean;
  /** Bearer tokens through TokenReview; undefined when authentication.webhook is off. */
  webhook?: { api: Pick<ReviewApi, 'createTokenReview'>; cacheTtlMs: number };
  anonymous: boolean;
  now: () => number;
}

const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

/** upstream bearertoken: "Bearer <token>"; anything else is no token (not an error). */
export function bearerToken(header: string | undefined): string | undefined {
  const parts = (header ?? '').trim().split(' ');
  if (parts.length < 2 || parts[0]!.toLowerCase() !== 'bearer' || parts[1] === '') return undefined;
  return parts[1];
}

const withAuthenticated = (u: UserInfo): UserInfo =>
  u.groups.includes('system:authenticated') ? u : { ...u, groups: [...u.groups, 'system:authenticated'] };

export function createAuthenticator(cfg: AuthenticationConfig): (req: AuthRequest) => Promise<AuthnResult> {
  const tokens = new TtlCache<AuthnResult>(cfg.now);
  const review = async (token: string): Promise<AuthnResult> => {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = tokens.get(key);
    if (hit) return hit;
    // a failed review is not cached: the next request asks again
    const st = await cfg.webhook!.api.createTokenReview(token);
    const res: AuthnResult =
      st.authenticated && st.user?.username
        ? {
            ok: true,
            user: { name: st.user.username, uid: st.user.uid, groups: st.user.groups ?? [], extra: st.user.extra },
          }
        : { ok: false, reason: `invalid bearer token${st.error ? `: ${st.error}` : ''}` };
    tokens.set(key, res, cfg.webhook!.cacheTtlMs);
    return res;
  };
  return async (req) => {
    const errs: string[] = [];
    // union of x509 and the token webhook: the first that authenticates wins
    if (cfg.x509 && req.peer) {
      if (req.peer.verified)
        return { ok: true, user: withAuthenticated({ name: req.peer.commonName, groups: req.peer.organizations }) };
      errs.push(`x509: ${req.peer.reason}`);
    }
    const token = cfg.webhook ? bearerToken(req.authorization) : undefined;
    if (token !== undefined) {
      try {
        const r = await review(token);
        if (r.ok) return { ok: true, user: withAuthenticated(r.user) };
        errs.push(r.reason);
      } catch (e) {
        errs.push(`token review: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (errs.length) return { ok: false, reason: errs.join('; ') };
    return cfg.anonymous ? { ok: true, user: ANONYMOUS } : { ok: false, reason: 'no credentials' };
  };
}

export type AuthorizationMode = 'AlwaysAllow' | 'Webhook';

export interface AuthorizationConfig {
  mode: AuthorizationMode;
  api?: Pick<ReviewApi, 'createSubjectAccessReview'>;
  allowedTtlMs: number;
  deniedTtlMs: number;
  now: () => number;
}

export type AuthzResult = { allowed: true } | { allowed: false; status: 403 | 500; body: string };

/** The SubjectAccessReview spec of one attribute set (empty strings left out, as Go's omitempty). */
export function accessReviewSpec(user: UserInfo, a: NodeAttributes): SubjectAccessReviewSpec {
  return {
    user: user.name,
    ...(user.uid ? { uid: user.uid } : {}),
    ...(user.groups.length ? { groups: user.groups } : {}),
    ...(user.extra && Object.keys(user.extra).length ? { extra: user.extra } : {}),
    resourceAttributes: {
      ...(a.verb ? { verb: a.verb } : {}),
      version: 'v1',
      resource: a.resource,
      subresource: a.subresource,
      name: a.name,
    },
  };
}

export function createAuthorizer(
  cfg: AuthorizationConfig,
): (user: UserInfo, attrs: readonly NodeAttributes[]) => Promise<AuthzResult> {
  const decisions = new TtlCache<boolean>(cfg.now);
  const decide = async (spec: SubjectAccessReviewSpec): Promise<boolean> => {
    const key = JSON.stringify(spec);
    const hit = decisions.get(key);
    if (hit !== undefined) return hit;
    const st = await cfg.api!.createSubjectAccessReview(spec);
    const allowed = st.allowed === true && st.denied !== true;
    decisions.set(key, allowed, allowed ? cfg.allowedTtlMs : cfg.deniedTtlMs);
    return allowed;
  };
  return async (user, attrs) => {
    if (cfg.mode === 'AlwaysAllow') return { allowed: true };
    for (const a of attrs) {
      try {
        if (await decide(accessReviewSpec(user, a))) return { allowed: true };
      } catch {
        return { allowed: false, status: 500, body: authorizationErrorBody(user, a) };
      }
    }
    return { allowed: false, status: 403, body: forbiddenBody(user, attrs) };
  };
}
