/**
 * The ConfigDataPort (protocols/kube/config-data.ts) over the API server: upstream's configmap
 * and secret managers (pkg/kubelet/configmap, pkg/kubelet/secret, pkg/kubelet/util/manager)
 * with the three `configMapAndSecretChangeDetectionStrategy` values, and the token manager.
 *
 * - `Watch` (upstream's default): every object a registered pod references gets its own
 *   reflector, a list then a watch of that one object (a `metadata.name` field selector: what
 *   the Node authorizer lets a node read), resumed from its resourceVersion when the watch ends
 *   and listed again after a 410 or a failure (backoff 1 s doubling to 30 s). A read is served
 *   from the reflector once it has listed (waiting up to 1 s for that, as upstream), so a change
 *   reaches the kubelet as the watch delivers it. An immutable object's reflector stops once it
 *   has the object (upstream: nothing can change). The last pod unregistered stops it.
 * - `Cache`: a GET, kept for the TTL (default one minute, upstream's defaultTTL); registering a
 *   pod drops the cached copies of what it references, so a new pod sees fresh data.
 * - `Get`: a GET on every read.
 *
 * A read of an object no registered pod references fails (`object "ns"/"name" not registered`)
 * under Watch and Cache, as upstream; a missing object is ObjectNotFound with upstream's message.
 * Time is the injected Clock.
 */
import type { Clock, TimerId } from '../../kernel/clock.ts';
import { errText, silentLogger, type Logger } from '../../kernel/log.ts';
import { ApiError, type ConfigDataApi, type ObjectListWatch, type WatchHandle } from '../../protocols/kube/api.ts';
import {
  ObjectNotFound,
  podReferences,
  type ConfigDataPort,
  type ConfigMap,
  type Secret,
  type ServiceAccountToken,
  type TokenRequestSpec,
} from '../../protocols/kube/config-data.ts';
import { TokenManager } from './token-manager.ts';

export type ChangeDetectionStrategy = 'Watch' | 'Cache' | 'Get';

export interface ConfigDataOptions {
  api: ConfigDataApi;
  clock: Clock;
  /** KubeletConfiguration configMapAndSecretChangeDetectionStrategy (default Watch). */
  strategy?: ChangeDetectionStrategy;
  /** Cache: how long a read object is served (default 60 s). */
  ttlMs?: number;
  /** Watch: how long a read waits for the object's first list (default 1 s, upstream's). */
  syncTimeoutMs?: number;
  log?: Logger;
  /** The token manager's jitter. */
  random?: () => number;
}

const DEFAULT_TTL_MS = 60_000;
const DEFAULT_SYNC_TIMEOUT_MS = 1000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** Watch timeouts (upstream's reflector: 5 to 10 minutes). */
const WATCH_TIMEOUT_S = 300;

type Kind = 'configmap' | 'secret';
type Obj = ConfigMap | Secret;

/** One object's list+watch (upstream's objectCacheItem with its reflector). */
class Reflector {
  synced = false;
  object: Obj | undefined;
  lastError: string | undefined;
  refs = 0;
  #rv = '';
  #handle: WatchHandle | undefined;
  #timer: TimerId | undefined;
  #stopped = false;
  #delay = RETRY_MIN_MS;
  #waiters = new Set<() => void>();
  readonly #lw: ObjectListWatch<Obj>;
  readonly #ns: string;
  readonly #selector: string;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(lw: ObjectListWatch<Obj>, ns: string, name: string, clock: Clock, log: Logger) {
    this.#lw = lw;
    this.#ns = ns;
    this.#selector = `metadata.name=${name}`;
    this.#clock = clock;
    this.#log = log;
    void this.#list();
  }

  /** Resolves once listed (true), or after `ms` (false). */
  waitSynced(ms: number): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        this.#clock.clearTimeout(t);
        this.#waiters.delete(done);
        resolve(this.synced);
      };
      const t = this.#clock.setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  #set(o: Obj | undefined): void {
    this.object = o;
    // upstream: an immutable object cannot change, its watch is no longer needed
    if (o?.immutable === true) this.#stopWatching();
  }

  async #list(): Promise<void> {
    if (this.#stopped) return;
    try {
      const l = await this.#lw.list(this.#ns, { fieldSelector: this.#selector });
      if (this.#stopped) return;
      this.#rv = l.resourceVersion;
      this.lastError = undefined;
      this.synced = true;
      this.#delay = RETRY_MIN_MS;
      this.#set(l.items[0]);
      for (const w of [...this.#waiters]) w();
      await this.#watch();
    } catch (e) {
      this.#retry(e, () => this.#list());
    }
  }

  async #watch(): Promise<void> {
    if (this.#stopped || this.object?.immutable === true) return;
    let relist = false;
    try {
      this.#handle = await this.#lw.watch(
        this.#ns,
        {
          fieldSelector: this.#selector,
          resourceVersion: this.#rv,
          allowWatchBookmarks: true,
          timeoutSeconds: WATCH_TIMEOUT_S,
        },
        (ev) => {
          if (ev.type === 'ERROR') {
            relist = true;
            return;
          }
          const rv = ev.object.metadata?.resourceVersion;
          if (rv) this.#rv = rv;
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.#set(ev.object as Obj);
          else if (ev.type === 'DELETED') this.#set(undefined);
        },
        (err) => {
          this.#handle = undefined;
          if (this.#stopped) return;
          if (err !== undefined || relist) this.#retry(err ?? 'watch ended with an ERROR event', () => this.#list());
          else void this.#watch();
        },
      );
    } catch (e) {
      // 410: the resourceVersion is gone, list again
      this.#retry(e, () => (e instanceof ApiError && e.code === 410 ? this.#list() : this.#watch()));
    }
  }

  #retry(e: unknown, then: () => Promise<void>): void {
    if (this.#stopped) return;
    this.lastError = errText(e);
    this.#log.warn('list/watch failed: retrying', {
      object: `${this.#ns}/${this.#selector}`,
      error: this.lastError,
      retryInMs: this.#delay,
    });
    this.#timer = this.#clock.setTimeout(() => void then(), this.#delay);
    this.#delay = Math.min(this.#delay * 2, RETRY_MAX_MS);
  }

  #stopWatching(): void {
    this.#handle?.abort();
    this.#handle = undefined;
  }

  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#stopWatching();
    for (const w of [...this.#waiters]) w();
  }
}

/** The kubelet's ConfigDataPort on the API server. */
export function createConfigData(
  o: ConfigDataOptions,
): ConfigDataPort & { readonly tokens: TokenManager; watching(): number } {
  const strategy = o.strategy ?? 'Watch';
  const log = o.log ?? silentLogger;
  const ttl = o.ttlMs ?? DEFAULT_TTL_MS;
  const syncTimeout = o.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
  const tokens = new TokenManager({ api: o.api, clock: o.clock, log, random: o.random });
  // uid → the keys its pod references
  const pods = new Map<string, string[]>();
  const refs = new Map<string, number>();
  const reflectors = new Map<string, Reflector>();
  const cached = new Map<string, { object: Obj; at: number }>();
  const key = (kind: Kind, ns: string, name: string) => `${kind}/${ns}/${name}`;

  const ref = (k: string) => {
    refs.set(k, (refs.get(k) ?? 0) + 1);
    if (strategy === 'Cache') cached.delete(k);
    if (strategy !== 'Watch' || reflectors.has(k)) return;
    const [kind, ns, ...rest] = k.split('/');
    const lw = (kind === 'configmap' ? o.api.configMaps : o.api.secrets) as ObjectListWatch<Obj>;
    reflectors.set(k, new Reflector(lw, ns!, rest.join('/'), o.clock, log));
  };
  const unref = (k: string) => {
    const n = (refs.get(k) ?? 0) - 1;
    if (n > 0) {
      refs.set(k, n);
      return;
    }
    refs.delete(k);
    cached.delete(k);
    reflectors.get(k)?.stop();
    reflectors.delete(k);
  };

  const get = async (kind: Kind, ns: string, name: string): Promise<Obj> => {
    const k = key(kind, ns, name);
    const fetch = async () => {
      try {
        return await (kind === 'configmap' ? o.api.getConfigMap(ns, name) : o.api.getSecret(ns, name));
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) throw new ObjectNotFound(kind, name);
        throw e;
      }
    };
    if (strategy === 'Get') return fetch();
    if (!refs.has(k)) throw new Error(`object ${JSON.stringify(ns)}/${JSON.stringify(name)} not registered`);
    if (strategy === 'Cache') {
      const c = cached.get(k);
      if (c && o.clock.now() - c.at < ttl) return c.object;
      const object = await fetch();
      if (refs.has(k)) cached.set(k, { object, at: o.clock.now() });
      return object;
    }
    const r = reflectors.get(k)!;
    if (!(await r.waitSynced(syncTimeout))) {
      throw new Error(`failed to sync ${kind} cache: ${r.lastError ?? 'timed out waiting for the condition'}`);
    }
    if (!r.object) throw new ObjectNotFound(kind, name);
    return r.object;
  };

  return {
    tokens,
    watching: () => reflectors.size,
    registerPod(pod) {
      const ns = pod.metadata.namespace;
      const r = podReferences(pod);
      const next = [
        ...[...r.configMaps].map((n) => key('configmap', ns, n)),
        ...[...r.secrets].map((n) => key('secret', ns, n)),
      ];
      const prev = pods.get(pod.metadata.uid) ?? [];
      // the new references first: an object both reference keeps its reflector
      for (const k of next) ref(k);
      for (const k of prev) unref(k);
      pods.set(pod.metadata.uid, next);
    },
    unregisterPod(uid) {
      for (const k of pods.get(uid) ?? []) unref(k);
      pods.delete(uid);
      tokens.deleteServiceAccountTokens(uid);
    },
    getConfigMap: (ns, name) => get('configmap', ns, name) as Promise<ConfigMap>,
    getSecret: (ns, name) => get('secret', ns, name) as Promise<Secret>,
    getServiceAccountToken: (ns: string, sa: string, spec: TokenRequestSpec): Promise<ServiceAccountToken> =>
      tokens.getServiceAccountToken(ns, sa, spec),
    close() {
      for (const r of reflectors.values()) r.stop();
      reflectors.clear();
      refs.clear();
      pods.clear();
      cached.clear();
      tokens.close();
    },
  };
}
