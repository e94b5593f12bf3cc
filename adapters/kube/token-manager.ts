/**
 * upstream's token manager (pkg/kubelet/token/token_manager.go): service account tokens from
 * the TokenRequest API, cached per (service account, audiences, expirationSeconds, bound
 * object), and fetched again when the cached one
 *   - is older than 24 h (maxTTL), or
 *   - is within 20 % of its lifetime of expiring (refreshed at 80 %),
 * each threshold brought forward by a random jitter of up to 10 s so the tokens of many pods do
 * not all refresh at once. A refresh that fails while the cached token is still valid returns
 * the cached one (logged); an expired one is never handed out. Expired entries are dropped every
 * minute; a pod's tokens are dropped when it goes (`deleteServiceAccountTokens(uid)`).
 *
 * Time is the injected Clock (virtual in specs): nothing here reads the wall clock.
 */
import type { Clock, TimerId } from '../../kernel/clock.ts';
import { errText, silentLogger, type Logger } from '../../kernel/log.ts';
import type { ConfigDataApi } from '../../protocols/kube/api.ts';
import type { ServiceAccountToken, TokenRequest, TokenRequestSpec } from '../../protocols/kube/config-data.ts';

/** upstream maxTTL: a token is refreshed after a day whatever its expiry. */
export const TOKEN_MAX_TTL_MS = 24 * 3600_000;
/** upstream maxJitter. */
export const TOKEN_MAX_JITTER_MS = 10_000;
/** upstream gcPeriod. */
export const TOKEN_GC_PERIOD_MS = 60_000;

export interface TokenManagerOptions {
  api: Pick<ConfigDataApi, 'createServiceAccountToken'>;
  clock: Clock;
  log?: Logger;
  /** For the jitter (default Math.random); specs pass a fixed one. */
  random?: () => number;
}

interface Cached {
  token: ServiceAccountToken;
  spec: TokenRequestSpec;
  /** Issued at: the expiry minus the lifetime asked for. */
  issuedAt: number;
}

/** upstream keyFunc: everything that makes two requests different. */
export function tokenCacheKey(namespace: string, name: string, spec: TokenRequestSpec): string {
  const ref = spec.boundObjectRef;
  return JSON.stringify([
    name,
    namespace,
    spec.audiences,
    spec.expirationSeconds ?? null,
    ref ? [ref.kind, ref.name, ref.uid ?? ''] : null,
  ]);
}

export class TokenManager {
  readonly #o: TokenManagerOptions;
  readonly #cache = new Map<string, Cached>();
  readonly #log: Logger;
  readonly #random: () => number;
  #gc: TimerId | undefined;

  constructor(o: TokenManagerOptions) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#random = o.random ?? Math.random;
    this.#gc = o.clock.setInterval(() => this.cleanup(), TOKEN_GC_PERIOD_MS);
  }

  /** upstream GetServiceAccountToken. */
  async getServiceAccountToken(namespace: string, name: string, spec: TokenRequestSpec): Promise<ServiceAccountToken> {
    const key = tokenCacheKey(namespace, name, spec);
    const cached = this.#cache.get(key);
    if (cached && !this.#requiresRefresh(cached)) return cached.token;
    const request: TokenRequest = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec };
    let answer: TokenRequest;
    try {
      answer = await this.#o.api.createServiceAccountToken(namespace, name, request);
      if (!answer.status?.token) throw new Error('the TokenRequest answer has no token');
    } catch (e) {
      if (cached && !this.#expired(cached)) {
        this.#log.warn("couldn't refresh the service account token: the cached one is still valid", {
          serviceAccount: `${namespace}/${name}`,
          error: errText(e),
        });
        return cached.token;
      }
      throw new Error(`failed to fetch token for service account ${namespace}/${name}: ${errText(e)}`);
    }
    const expiresAt = Date.parse(answer.status.expirationTimestamp);
    if (!Number.isFinite(expiresAt))
      throw new Error(
        `failed to fetch token for service account ${namespace}/${name}: bad expirationTimestamp ${JSON.stringify(answer.status.expirationTimestamp)}`,
      );
    const lifetime = (answer.spec?.expirationSeconds ?? spec.expirationSeconds ?? 0) * 1000;
    const token = { token: answer.status.token, expiresAt };
    this.#cache.set(key, {
      token,
      spec: {
        ...spec,
        ...(answer.spec?.expirationSeconds !== undefined ? { expirationSeconds: answer.spec.expirationSeconds } : {}),
      },
      issuedAt: expiresAt - lifetime,
    });
    return token;
  }

  /** upstream requiresRefresh: past 24 h since issue, or within 20 % of the lifetime of the expiry (minus jitter). */
  #requiresRefresh(c: Cached): boolean {
    if (c.spec.expirationSeconds === undefined) return false;
    const now = this.#o.clock.now();
    const jitter = Math.floor(this.#random() * (TOKEN_MAX_JITTER_MS / 1000)) * 1000;
    if (now > c.issuedAt + TOKEN_MAX_TTL_MS - jitter) return true;
    return now > c.token.expiresAt - Math.floor((c.spec.expirationSeconds * 20) / 100) * 1000 - jitter;
  }

  #expired(c: Cached): boolean {
    return this.#o.clock.now() > c.token.expiresAt;
  }

  /** upstream cleanup: expired tokens are dropped. */
  cleanup(): void {
    for (const [k, c] of this.#cache) if (this.#expired(c)) this.#cache.delete(k);
  }

  /** upstream DeleteServiceAccountToken: the tokens bound to a pod that is gone. */
  deleteServiceAccountTokens(podUid: string): void {
    for (const [k, c] of this.#cache) if (c.spec.boundObjectRef?.uid === podUid) this.#cache.delete(k);
  }

  /** Cached entries (inspection, specs). */
  get size(): number {
    return this.#cache.size;
  }

  close(): void {
    this.#o.clock.clearInterval(this.#gc);
    this.#gc = undefined;
    this.#cache.clear();
  }
}
