/**
 * The ConfigDataPort (adapters/kube/config-data.ts) and the token manager
 * (adapters/kube/token-manager.ts):
 *   - Watch: one list+watch per referenced object, reads served from it, changes seen as the
 *     watch delivers them, relist after a failure with backoff, immutable objects no longer
 *     watched, unregistered objects refused, the last unregister stops the watch;
 *   - Cache: a TTL, dropped when a pod registers; Get: a read every time;
 *   - tokens in virtual time against the API server stand-in (signatures verified with its JWKS):
 *     cached, refreshed at 80 % of the lifetime and after 24 h, the cached one kept while a
 *     refresh fails, dropped when expired or when its pod goes;
 *   - the whole port on the stand-in through the real client, as node-a.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConfigData } from '../../adapters/kube/config-data.ts';
import { createKubeApi, type KubeClient } from '../../adapters/kube/client.ts';
import { TOKEN_GC_PERIOD_MS, TokenManager } from '../../adapters/kube/token-manager.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { ApiError, type ConfigDataApi, type ObjectListWatch, type WatchEvent } from '../../protocols/kube/api.ts';
import { isNotFound, podReferences, type ConfigMap, type Secret } from '../../protocols/kube/config-data.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { verifyJwt } from '../support/apiserver/tokens.ts';
import { eventually } from '../support/wait.ts';

const meta = (name: string) => ({ name, namespace: 'default', uid: `uid-${name}` });
const flush = () => new Promise<void>((r) => setImmediate(r));

function mkPod(uid: string, env: Record<string, unknown>[] = [], volumes: Record<string, unknown>[] = []): Pod {
  return {
    metadata: { name: `pod-${uid}`, namespace: 'default', uid },
    spec: {
      containers: [{ name: 'c', image: 'busybox', env: env as Pod['spec']['containers'][number]['env'] }],
      volumes: volumes as Pod['spec']['volumes'],
    },
  } as Pod;
}
const cmRef = (name: string, key = 'k') => ({ name: `V_${name}`, valueFrom: { configMapKeyRef: { name, key } } });

/** An in-memory list/watch of one kind: the spec pushes watch events and fails lists at will. */
function fakeKind<T extends { metadata: { name: string; resourceVersion?: string } }>() {
  const objects = new Map<string, T>();
  const watches: {
    selector: string;
    onEvent: (e: WatchEvent<T>) => void;
    done: (err?: unknown) => void;
    aborted: boolean;
  }[] = [];
  let failLists = 0;
  let lists = 0;
  let rv = 1;
  const lw: ObjectListWatch<T> = {
    list: async (_ns, o) => {
      lists++;
      if (failLists > 0) {
        failLists--;
        throw new ApiError(500, 'InternalError', 'list', '/x', 'injected');
      }
      const name = (o.fieldSelector ?? '').replace('metadata.name=', '');
      const obj = objects.get(name);
      return { items: obj ? [obj] : [], resourceVersion: String(rv) };
    },
    watch: async (_ns, o, onEvent, done) => {
      const w = { selector: o.fieldSelector ?? '', onEvent, done, aborted: false };
      watches.push(w);
      return {
        abort: () => {
          w.aborted = true;
        },
      };
    },
  };
  return {
    lw,
    objects,
    watches,
    get lists() {
      return lists;
    },
    failNextLists(n: number) {
      failLists = n;
    },
    put(obj: T, type: 'ADDED' | 'MODIFIED' = 'MODIFIED') {
      obj.metadata.resourceVersion = String(++rv);
      objects.set(obj.metadata.name, obj);
      for (const w of watches)
        if (!w.aborted && w.selector === `metadata.name=${obj.metadata.name}`) w.onEvent({ type, object: obj });
    },
    remove(name: string) {
      const obj = objects.get(name)!;
      objects.delete(name);
      for (const w of watches)
        if (!w.aborted && w.selector === `metadata.name=${name}`) w.onEvent({ type: 'DELETED', object: obj });
    },
    open: () => watches.filter((w) => !w.aborted).length,
  };
}

function fakeApi() {
  const cms = fakeKind<ConfigMap>();
  const secrets = fakeKind<Secret>();
  let gets = 0;
  const api: ConfigDataApi = {
    configMaps: cms.lw,
    secrets: secrets.lw,
    getConfigMap: async (_ns, name) => {
      gets++;
      const o = cms.objects.get(name);
      if (!o)
        throw new ApiError(
          404,
          'NotFound',
          'get',
          `/api/v1/namespaces/default/configmaps/${name}`,
          `configmaps "${name}" not found`,
        );
      return structuredClone(o);
    },
    getSecret: async (_ns, name) => {
      const o = secrets.objects.get(name);
      if (!o) throw new ApiError(404, 'NotFound', 'get', '/x', 'not found');
      return o;
    },
    createServiceAccountToken: async () => {
      throw new Error('unused');
    },
  };
  return { api, cms, secrets, gets: () => gets };
}

describe('podReferences', () => {
  it('env, envFrom of every container kind, configMap/secret/projected volumes, imagePullSecrets', () => {
    const pod = {
      metadata: { name: 'p', namespace: 'default', uid: 'u' },
      spec: {
        imagePullSecrets: [{ name: 'regcred' }],
        initContainers: [
          {
            name: 'i',
            image: 'x',
            envFrom: [{ configMapRef: { name: 'init-cm' } }, { secretRef: { name: 'init-s' } }],
          },
        ],
        containers: [
          {
            name: 'c',
            image: 'x',
            env: [
              cmRef('a'),
              { name: 'S', valueFrom: { secretKeyRef: { name: 'b', key: 'k' } } },
              { name: 'P', value: 'plain' },
            ],
          },
        ],
        volumes: [
          { name: 'v1', configMap: { name: 'vol-cm' } },
          { name: 'v2', secret: { secretName: 'vol-s' } },
          {
            name: 'v3',
            projected: {
              sources: [
                { configMap: { name: 'p-cm' } },
                { secret: { name: 'p-s' } },
                { serviceAccountToken: { path: 't' } },
              ],
            },
          },
        ],
      },
    } as unknown as Pod;
    const r = podReferences(pod);
    assert.deepEqual([...r.configMaps].sort(), ['a', 'init-cm', 'p-cm', 'vol-cm']);
    assert.deepEqual([...r.secrets].sort(), ['b', 'init-s', 'p-s', 'regcred', 'vol-s']);
  });
});

describe('config data: the Watch strategy', () => {
  it('one list+watch per referenced object; reads from it; changes and deletion as the watch says', async () => {
    const clock = new VirtualClock(0);
    const f = fakeApi();
    f.cms.objects.set('web', { metadata: meta('web'), data: { k: 'v1' } });
    const port = createConfigData({ api: f.api, clock });
    port.registerPod(mkPod('u1', [cmRef('web'), cmRef('missing')]));
    port.registerPod(mkPod('u2', [cmRef('web')]));
    assert.equal(port.watching(), 2, 'one reflector per object, shared by the pods');
    await flush();
    assert.deepEqual((await port.getConfigMap('default', 'web')).data, { k: 'v1' });
    await assert.rejects(
      port.getConfigMap('default', 'missing'),
      (e: unknown) => isNotFound(e) && (e as Error).message === 'configmap "missing" not found',
    );
    f.cms.put({ metadata: meta('web'), data: { k: 'v2' } });
    assert.deepEqual(
      (await port.getConfigMap('default', 'web')).data,
      { k: 'v2' },
      'no new request: the watch delivered it',
    );
    f.cms.put({ metadata: meta('missing'), data: { k: 'now' } }, 'ADDED');
    assert.deepEqual((await port.getConfigMap('default', 'missing')).data, { k: 'now' });
    f.cms.remove('web');
    await assert.rejects(port.getConfigMap('default', 'web'), /configmap "web" not found/);
    assert.equal(f.gets(), 0, 'never a GET');
    await assert.rejects(port.getConfigMap('default', 'other'), /object "default"\/"other" not registered/);
    // the last pod that references an object stops its watch
    port.unregisterPod('u1');
    assert.equal(port.watching(), 1);
    port.unregisterPod('u2');
    assert.equal(port.watching(), 0);
    assert.equal(f.cms.open(), 0);
    port.close();
  });

  it('a failed list is retried with backoff; a read meanwhile fails after 1 s naming the cause', async () => {
    const clock = new VirtualClock(0);
    const f = fakeApi();
    f.cms.objects.set('web', { metadata: meta('web'), data: { k: 'v' } });
    f.cms.failNextLists(2);
    const port = createConfigData({ api: f.api, clock });
    port.registerPod(mkPod('u1', [cmRef('web')]));
    await flush();
    const read = port.getConfigMap('default', 'web');
    clock.advance(1000);
    await assert.rejects(read, /failed to sync configmap cache: list \/x: 500 InternalError: injected/);
    assert.equal(f.cms.lists, 2, 'the retry after 1 s failed too');
    clock.advance(2000);
    await flush();
    assert.equal(f.cms.lists, 3, 'then 2 s later');
    assert.deepEqual((await port.getConfigMap('default', 'web')).data, { k: 'v' });
    port.close();
  });

  it('a watch that ends is resumed; one that fails is followed by a new list', async () => {
    const clock = new VirtualClock(0);
    const f = fakeApi();
    f.cms.objects.set('web', { metadata: meta('web'), data: { k: 'v' } });
    const port = createConfigData({ api: f.api, clock });
    port.registerPod(mkPod('u1', [cmRef('web')]));
    await flush();
    f.cms.watches[0]!.done();
    await flush();
    assert.equal(f.cms.watches.length, 2, 'resumed at once');
    assert.equal(f.cms.lists, 1);
    f.cms.watches[1]!.done(new Error('connection reset'));
    clock.advance(1000);
    await flush();
    assert.equal(f.cms.lists, 2, 'listed again after the backoff');
    port.close();
  });

  it('an immutable object is no longer watched once read', async () => {
    const clock = new VirtualClock(0);
    const f = fakeApi();
    f.secrets.objects.set('db', { metadata: meta('db'), data: { p: 'eA==' }, immutable: true });
    const port = createConfigData({ api: f.api, clock });
    port.registerPod(mkPod('u1', [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'p' } } }]));
    await flush();
    assert.deepEqual((await port.getSecret('default', 'db')).data, { p: 'eA==' });
    assert.equal(f.secrets.watches.length, 0, 'no watch for an immutable secret');
    port.close();
  });
});

describe('config data: the Cache and Get strategies', () => {
  it('Cache: a GET kept for the TTL, dropped when a pod registers', async () => {
    const clock = new VirtualClock(0);
    const f = fakeApi();
    f.cms.objects.set('web', { metadata: meta('web'), data: { k: 'v1' } });
    const port = createConfigData({ api: f.api, clock, strategy: 'Cache', ttlMs: 60_000 });
    port.registerPod(mkPod('u1', [cmRef('web')]));
    assert.equal((await port.getConfigMap('default', 'web')).data?.k, 'v1');
    f.cms.objects.set('web', { metadata: meta('web'), data: { k: 'v2' } });
    clock.advance(59_000);
    assert.equal((await port.getConfigMap('default', 'web')).data?.k, 'v1', 'within the TTL');
    clock.advance(1000);
    assert.equal((await port.getConfigMap('default', 'web')).data?.k, 'v2');
    f.cms.objects.set('web', { metadata: meta('web'), data: { k: 'v3' } });
    port.registerPod(mkPod('u2', [cmRef('web')]));
    assert.equal((await port.getConfigMap('default', 'web')).data?.k, 'v3', 'a new pod reads fresh data');
    assert.equal(f.gets(), 3);
    await assert.rejects(port.getConfigMap('default', 'nope'), /not registered/);
    port.close();
  });

  it("Get: every read is a GET; a 404 is upstream's NotFound", async () => {
    const f = fakeApi();
    const port = createConfigData({ api: f.api, clock: new VirtualClock(0), strategy: 'Get' });
    await assert.rejects(
      port.getConfigMap('default', 'nope'),
      (e: unknown) => isNotFound(e) && (e as Error).message === 'configmap "nope" not found',
    );
    port.close();
  });
});

describe('token manager in virtual time, against the stand-in', () => {
  const T0 = Date.parse('2026-03-01T10:00:00Z');
  let clock: VirtualClock;
  let api: ApiServer;
  let client: KubeClient;
  let pod: JsonObject;
  const boundTo = () => ({
    kind: 'Pod' as const,
    apiVersion: 'v1' as const,
    name: 'web',
    uid: String((pod.metadata as JsonObject).uid),
  });

  before(async () => {
    clock = new VirtualClock(T0);
    api = await startApiServer({ nodes: ['node-a'], bookmarkIntervalMs: 0, now: () => new Date(clock.now()) });
    pod = api.store.create('pods', {
      metadata: { name: 'web', namespace: 'default' },
      spec: { nodeName: 'node-a', serviceAccountName: 'default', containers: [{ name: 'c', image: 'busybox' }] },
    });
    client = createKubeApi(api.kubeconfigFor('node-a'), { qps: 0, timeoutMs: 0, clock });
  });
  after(async () => {
    client.close();
    await api.stop();
  });

  const tokenRequests = () => api.requests.filter({ subresource: 'token', status: 201 }).length;

  it("cached until 80 % of its lifetime, then fetched again; each one verifies with the issuer's key", async () => {
    const tm = new TokenManager({ api: client, clock, random: () => 0 });
    const spec = { audiences: ['vault'], expirationSeconds: 3600, boundObjectRef: boundTo() };
    const before = tokenRequests();
    const t1 = await tm.getServiceAccountToken('default', 'default', spec);
    const { claims } = verifyJwt(t1.token, api.serviceAccountIssuer.jwks());
    assert.deepEqual(claims.aud, ['vault']);
    assert.equal(claims.exp, (clock.now() + 3600_000) / 1000);
    assert.equal(t1.expiresAt, clock.now() + 3600_000);
    clock.advance(2880_000); // exactly 80 %: still cached
    assert.equal((await tm.getServiceAccountToken('default', 'default', spec)).token, t1.token);
    assert.equal(tokenRequests() - before, 1);
    clock.advance(1000);
    const t2 = await tm.getServiceAccountToken('default', 'default', spec);
    assert.notEqual(t2.token, t1.token);
    assert.equal(tokenRequests() - before, 2);
    assert.equal(verifyJwt(t2.token, api.serviceAccountIssuer.jwks()).claims.iat, clock.now() / 1000);
    // another audience is another token
    await tm.getServiceAccountToken('default', 'default', { ...spec, audiences: ['other'] });
    assert.equal(tm.size, 2);
    tm.close();
  });

  it('a long-lived token is refreshed after 24 h; the jitter brings it forward up to 10 s', async () => {
    const tm = new TokenManager({ api: client, clock, random: () => 0.99 });
    const spec = { audiences: [], expirationSeconds: 7 * 24 * 3600, boundObjectRef: boundTo() };
    const t1 = await tm.getServiceAccountToken('default', 'default', spec);
    clock.advance(24 * 3600_000 - 10_000);
    assert.equal(
      (await tm.getServiceAccountToken('default', 'default', spec)).token,
      t1.token,
      '24 h less the jitter (9 s): not yet',
    );
    clock.advance(1001);
    assert.notEqual((await tm.getServiceAccountToken('default', 'default', spec)).token, t1.token);
    tm.close();
  });

  it('a failed refresh keeps the valid cached token; an expired one is an error; expired entries are dropped', async () => {
    clock.advanceTo(Math.ceil(clock.now() / 1000) * 1000); // (the API's timestamps are whole seconds)
    const tm = new TokenManager({ api: client, clock, random: () => 0 });
    const spec = { audiences: ['vault'], expirationSeconds: 600, boundObjectRef: boundTo() };
    const t1 = await tm.getServiceAccountToken('default', 'default', spec);
    clock.advance(500_000);
    api.faults.set({ mode: 'status500', verb: 'create', resource: 'serviceaccounts/token', count: 2 });
    assert.equal(
      (await tm.getServiceAccountToken('default', 'default', spec)).token,
      t1.token,
      'still valid: the cached one',
    );
    clock.advance(101_000);
    await assert.rejects(
      tm.getServiceAccountToken('default', 'default', spec),
      /failed to fetch token for service account default\/default: .*500/,
    );
    assert.equal(tm.size, 1);
    clock.advance(TOKEN_GC_PERIOD_MS);
    assert.equal(tm.size, 0, 'the gc dropped the expired one');
    await tm.getServiceAccountToken('default', 'default', spec);
    tm.deleteServiceAccountTokens(boundTo().uid);
    assert.equal(tm.size, 0, 'dropped with its pod');
    tm.close();
  });
});

describe('config data on the stand-in through the real client (node-a)', () => {
  let api: ApiServer;
  let client: KubeClient;
  before(async () => {
    api = await startApiServer({ nodes: ['node-a'], bookmarkIntervalMs: 0 });
    client = createKubeApi(api.kubeconfigFor('node-a'), { qps: 0 });
  });
  after(async () => {
    client.close();
    await api.stop();
  });

  it('watches what its pods reference: a change reaches the read; an unreferenced object is 403', async () => {
    api.store.create('configmaps', { metadata: meta('web'), data: { k: 'v1' } });
    api.store.create('secrets', { metadata: meta('db'), data: { p: Buffer.from('pw').toString('base64') } });
    const spec = {
      nodeName: 'node-a',
      containers: [
        {
          name: 'c',
          image: 'busybox',
          env: [cmRef('web'), { name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'p' } } }],
        },
      ],
    };
    const created = api.store.create('pods', { metadata: { name: 'web', namespace: 'default' }, spec });
    const port = createConfigData({
      api: client,
      clock: new (await import('../../kernel/clock.ts')).RealClock(),
      syncTimeoutMs: 5000,
    });
    try {
      port.registerPod({
        metadata: { name: 'web', namespace: 'default', uid: String((created.metadata as JsonObject).uid) },
        spec,
      } as unknown as Pod);
      assert.equal((await port.getConfigMap('default', 'web')).data?.k, 'v1');
      assert.equal(Buffer.from((await port.getSecret('default', 'db')).data!.p!, 'base64').toString(), 'pw');
      api.store.patch('configmaps', 'default', 'web', { data: { k: 'v2' } }, 'merge');
      await eventually(
        async () => (await port.getConfigMap('default', 'web')).data?.k === 'v2',
        5000,
        'the watched change',
      );
      assert.equal(api.requests.filter({ verb: 'get', resource: 'configmaps' }).length, 0, 'list and watch only');
      const denied = createConfigData({
        api: client,
        clock: new (await import('../../kernel/clock.ts')).RealClock(),
        strategy: 'Get',
      });
      await assert.rejects(denied.getConfigMap('default', 'kube-root-ca.crt'), /403 Forbidden.*no relationship found/);
      denied.close();
    } finally {
      port.close();
    }
  });
});
