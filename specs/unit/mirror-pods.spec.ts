/**
 * mirror-pods: the pure plan (create / outdated / deleting / orphan / view lag), the actor on the
 * VirtualClock with a fake MirrorPodApi (create with the mirror annotation and the Node owner
 * reference, waiting for the Node uid, manifest change → delete + create, static pod removed →
 * delete once sources are ready, a mirror deleted by someone comes back, errors retried), and
 * the actor against the API server stand-in as the node itself (NodeRestriction lets it create
 * and delete its mirror pods).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../kernel/bus.ts';
import { createLogger, type Logger } from '../../kernel/log.ts';
import { startActor, type StartedActor } from '../../kernel/testing.ts';
import { ApiError, type ListResult, type MirrorPodApi, type Node } from '../../protocols/kube/api.ts';
import { createKubeApi, type KubeClient } from '../../adapters/kube/client.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import {
  CONFIG_HASH_ANNOTATION,
  CONFIG_MIRROR_ANNOTATION,
  CONFIG_SOURCE_ANNOTATION,
  toStaticPod,
} from '../../protocols/kube/static-pod.ts';
import type { DesiredPod, PodWorkerSummary } from '../../protocols/messages/channels.ts';
import '../../protocols/messages/channels.ts';
import { mirrorPods, type MirrorPodsDeps } from '../../actors/mirror-pods/index.ts';
import { podSourceApi } from '../../actors/pod-source-api/index.ts';
import {
  EXPECTATION_TTL_MS,
  created,
  deleted,
  initialState,
  mirrorPodFor,
  notTerminatedNames,
  plan,
  type PlanInputs,
} from '../../actors/mirror-pods/logic.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';

const settle = async (n = 30) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/** A static pod as the file source makes it (name gets -node-a, hash annotation = uid). */
function staticPod(name: string, image = 'busybox', node = 'node-a'): Pod {
  const r = toStaticPod(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: name } },
      spec: { containers: [{ name: 'c', image }] },
    },
    { nodeName: node, source: 'file', path: `/etc/kubernetes/manifests/${name}.yaml`, now: 0 },
  );
  assert.ok('pod' in r, JSON.stringify(r));
  return r.pod;
}

const theNode = { metadata: { name: 'node-a', uid: 'node-uid-1' } } as unknown as Node;
const desiredOf = (...pods: (Pod | DesiredPod)[]): Map<string, DesiredPod> =>
  new Map(
    pods.map((p) =>
      'pod' in p ? [p.pod.metadata.uid, p] : [p.metadata.uid, { pod: p, source: 'file' as const, static: true }],
    ),
  );

/** A mirror as the API server holds it. */
function stored(p: Pod, uid: string, extra: Partial<Pod['metadata']> = {}): Pod {
  const m = mirrorPodFor(p, { name: 'node-a', uid: 'node-uid-1' });
  return { ...m, metadata: { ...m.metadata, uid, resourceVersion: '1', ...extra } };
}

describe('mirror-pods plan (pure)', () => {
  const base = (o: Partial<PlanInputs>): PlanInputs => ({
    nodeName: 'node-a',
    desired: new Map(),
    mirrors: new Map(),
    node: theNode,
    terminating: new Set(),
    now: 0,
    ...o,
  });
  const web = staticPod('web');
  const key = 'default/web-node-a';

  it('builds the mirror as upstream: annotations + config.mirror = config.hash, one controller owner ref to the Node, no server fields', () => {
    const m = mirrorPodFor(web, { name: 'node-a', uid: 'node-uid-1' });
    assert.equal(m.metadata.name, 'web-node-a');
    assert.equal(m.metadata.namespace, 'default');
    assert.equal(m.metadata.uid, '');
    assert.deepEqual(m.metadata.labels, { app: 'web' });
    assert.equal(
      m.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION],
      web.metadata.annotations?.[CONFIG_HASH_ANNOTATION],
    );
    assert.equal(m.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION], 'file');
    assert.deepEqual(m.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'node-uid-1', controller: true },
    ]);
    assert.deepEqual(m.spec, web.spec);
    assert.equal(m.spec.nodeName, 'node-a');
    assert.equal(m.status, undefined);
    assert.equal(m.metadata.resourceVersion, undefined);
  });

  it('creates a missing mirror; nothing for a matching one; holds creates without the Node uid or while the Node is deleted', () => {
    const p = plan(initialState(), base({ desired: desiredOf(web) }));
    assert.deepEqual(
      p.actions.map((a) => [a.type, a.key]),
      [['create', key]],
    );
    assert.equal(p.holding, undefined);
    assert.deepEqual(
      plan(initialState(), base({ desired: desiredOf(web), mirrors: new Map([[key, stored(web, 'm1')]]) })).actions,
      [],
    );
    const noNode = plan(initialState(), base({ desired: desiredOf(web), node: undefined }));
    assert.deepEqual(noNode.actions, []);
    assert.match(noNode.holding!, /waiting for the Node node-a/);
    const dying = { metadata: { ...theNode.metadata, deletionTimestamp: '2024-01-01T00:00:00Z' } } as Node;
    assert.match(plan(initialState(), base({ desired: desiredOf(web), node: dying })).holding!, /being deleted/);
    assert.equal(plan(initialState(), base({ node: undefined })).holding, undefined, 'nothing to create: nothing held');
  });

  it('an outdated or deleting mirror is deleted then recreated; without the Node only deleted', () => {
    const old = stored(web, 'm1', { annotations: { [CONFIG_MIRROR_ANNOTATION]: 'old-hash' } });
    const [a] = plan(initialState(), base({ desired: desiredOf(web), mirrors: new Map([[key, old]]) })).actions;
    assert.equal(a?.type, 'delete');
    assert.ok(a?.type === 'delete');
    assert.deepEqual([a.uid, a.reason, a.thenCreate?.hash], ['m1', 'outdated', web.metadata.uid]);
    const dying = stored(web, 'm2', { deletionTimestamp: '2024-01-01T00:00:00Z' });
    const [b] = plan(initialState(), base({ desired: desiredOf(web), mirrors: new Map([[key, dying]]) })).actions;
    assert.ok(b?.type === 'delete' && b.reason === 'deleting' && b.thenCreate);
    const [c] = plan(
      initialState(),
      base({ desired: desiredOf(web), mirrors: new Map([[key, old]]), node: undefined }),
    ).actions;
    assert.ok(c?.type === 'delete' && c.thenCreate === undefined);
  });

  it('orphans are deleted unless their pod is still terminating; rejected and non-static pods get no mirror', () => {
    const orphan = stored(staticPod('gone'), 'm9');
    const mirrors = new Map([['default/gone-node-a', orphan]]);
    assert.deepEqual(plan(initialState(), base({ mirrors })).actions, [
      {
        type: 'delete',
        key: 'default/gone-node-a',
        namespace: 'default',
        name: 'gone-node-a',
        uid: 'm9',
        reason: 'orphaned',
      },
    ]);
    assert.deepEqual(
      plan(initialState(), base({ mirrors, terminating: new Set(['default/gone-node-a']) })).actions,
      [],
    );
    const rejected: DesiredPod = {
      pod: web,
      source: 'file',
      static: true,
      rejected: { reason: 'OutOfcpu', message: 'no cpu' },
    };
    assert.deepEqual(plan(initialState(), base({ desired: desiredOf(rejected) })).actions, []);
    assert.deepEqual(
      plan(initialState(), base({ desired: desiredOf(rejected), mirrors: new Map([[key, stored(web, 'm1')]]) }))
        .actions,
      [],
      'not an orphan',
    );
    const apiPod: DesiredPod = { pod: web, source: 'api', static: false };
    assert.deepEqual(plan(initialState(), base({ desired: desiredOf(apiPod) })).actions, []);
  });

  it('a worker that has not terminated yet keeps the mirror, syncing included (it has not heard of the removal yet)', () => {
    const w = (state: 'syncing' | 'terminating' | 'terminated') => [
      { namespace: 'default', name: 'gone-node-a', state },
    ];
    assert.deepEqual([...notTerminatedNames(w('syncing'))], ['default/gone-node-a']);
    assert.deepEqual([...notTerminatedNames(w('terminating'))], ['default/gone-node-a']);
    assert.deepEqual([...notTerminatedNames(w('terminated'))], []);
    assert.deepEqual([...notTerminatedNames(undefined)], []);
  });

  it('expectations bridge the view lag: no repeated create or delete until the view catches up or the TTL passes', () => {
    const hash = web.metadata.uid;
    let s = created(initialState(), key, hash, 0);
    assert.deepEqual(
      plan(s, base({ desired: desiredOf(web), now: 1000 })).actions,
      [],
      'created, view not yet showing it',
    );
    // the view shows it, then someone deletes it: the create comes again at once
    s = plan(s, base({ desired: desiredOf(web), mirrors: new Map([[key, stored(web, 'm1')]]), now: 2000 })).state;
    assert.equal(s.created.size, 0, 'confirmed');
    assert.deepEqual(
      plan(s, base({ desired: desiredOf(web), now: 3000 })).actions.map((a) => a.type),
      ['create'],
    );
    // never seen by the view: recreated after the TTL
    s = created(initialState(), key, hash, 0);
    assert.deepEqual(plan(s, base({ desired: desiredOf(web), now: EXPECTATION_TTL_MS - 1 })).actions, []);
    assert.deepEqual(
      plan(s, base({ desired: desiredOf(web), now: EXPECTATION_TTL_MS })).actions.map((a) => a.type),
      ['create'],
    );
    // an outdated mirror we deleted and replaced, still in the view: nothing more to do
    const old = stored(web, 'm1', { annotations: { [CONFIG_MIRROR_ANNOTATION]: 'old-hash' } });
    s = created(deleted(initialState(), key, 'm1', 0), key, hash, 0);
    const lag = plan(s, base({ desired: desiredOf(web), mirrors: new Map([[key, old]]), now: 10 }));
    assert.deepEqual(lag.actions, []);
    assert.equal(lag.state.created.size, 1, 'the old mirror in the view does not confirm the new one');
    // a deleted orphan still in the view is not deleted again
    const orphan = stored(staticPod('gone'), 'm9');
    assert.deepEqual(
      plan(
        deleted(initialState(), 'default/gone-node-a', 'm9', 0),
        base({ mirrors: new Map([['default/gone-node-a', orphan]]), now: 10 }),
      ).actions,
      [],
    );
  });
});

/** The API server as far as mirror pods go, with failure injection. */
class FakeMirrorApi implements MirrorPodApi {
  pods = new Map<string, Pod>();
  calls: { verb: string; key: string; at: number; body?: Pod; opts?: unknown }[] = [];
  failures: Partial<Record<'create' | 'delete' | 'list', unknown[]>> = {};
  now: () => number = () => 0;
  #uid = 0;
  #fail(verb: 'create' | 'delete' | 'list'): void {
    const f = this.failures[verb]?.shift();
    if (f) throw f;
  }
  async getPod(ns: string, name: string): Promise<Pod> {
    const p = this.pods.get(`${ns}/${name}`);
    if (!p)
      throw new ApiError(404, 'NotFound', 'get', `/api/v1/namespaces/${ns}/pods/${name}`, `pods "${name}" not found`);
    return structuredClone(p);
  }
  /** Answers every create it returns an error for (a refusal that does not go away by itself). */
  refuseCreate: ((pod: Pod) => ApiError | undefined) | undefined;
  async createPod(ns: string, pod: Pod): Promise<Pod> {
    const key = `${ns}/${pod.metadata.name}`;
    this.calls.push({ verb: 'create', key, at: this.now(), body: structuredClone(pod) });
    this.#fail('create');
    const refused = this.refuseCreate?.(pod);
    if (refused) throw refused;
    if (this.pods.has(key))
      throw new ApiError(
        409,
        'AlreadyExists',
        'create',
        `/api/v1/namespaces/${ns}/pods`,
        `pods "${pod.metadata.name}" already exists`,
      );
    const p = {
      ...structuredClone(pod),
      metadata: { ...structuredClone(pod.metadata), uid: `mirror-${++this.#uid}`, resourceVersion: '1' },
    };
    this.pods.set(key, p);
    return structuredClone(p);
  }
  async deletePod(ns: string, name: string, opts?: { gracePeriodSeconds?: number; uid?: string }): Promise<void> {
    const key = `${ns}/${name}`;
    this.calls.push({ verb: 'delete', key, at: this.now(), opts });
    this.#fail('delete');
    const p = this.pods.get(key);
    if (!p)
      throw new ApiError(
        404,
        'NotFound',
        'delete',
        `/api/v1/namespaces/${ns}/pods/${name}`,
        `pods "${name}" not found`,
      );
    if (opts?.uid && opts.uid !== p.metadata.uid)
      throw new ApiError(409, 'Conflict', 'delete', `/api/v1/namespaces/${ns}/pods/${name}`, 'uid precondition');
    this.pods.delete(key);
  }
  async listPods(o: { fieldSelector?: string }): Promise<ListResult<Pod>> {
    this.calls.push({ verb: 'list', key: o.fieldSelector ?? '', at: this.now() });
    this.#fail('list');
    return { items: [...this.pods.values()].map((p) => structuredClone(p)), resourceVersion: '1' };
  }
}

interface Harness {
  a: StartedActor<MirrorPodsDeps>;
  api: FakeMirrorApi;
  /** As the API pod source would: publish the mirrors the fake holds. */
  syncView(): Promise<void>;
  setDesired(...pods: (Pod | DesiredPod)[]): Promise<void>;
}

async function start(
  opts: { node?: Node | undefined; pods?: Pod[]; view?: boolean; ready?: boolean; log?: Logger } = {},
): Promise<Harness> {
  const api = new FakeMirrorApi();
  const bus = new Bus();
  const source = bus.port('podSourceApi');
  const manager = bus.port('podManager');
  // the views the actor reads exist before it starts, as in the daemon
  if (opts.view !== false) source.publish('mirrorPods', new Map());
  if ('node' in opts ? opts.node : true) bus.port('nodeStatus').publish('node', opts.node ?? theNode);
  manager.publish('desiredPods', desiredOf(...(opts.pods ?? [])));
  const a = await startActor(mirrorPods, { api, nodeName: 'node-a' }, { bus, ...(opts.log ? { log: opts.log } : {}) });
  api.now = () => a.clock.now();
  const h: Harness = {
    a,
    api,
    syncView: async () => {
      source.publish('mirrorPods', new Map(api.pods));
      await settle();
    },
    setDesired: async (...pods) => {
      manager.publish('desiredPods', desiredOf(...pods));
      await settle();
    },
  };
  if (opts.ready !== false) a.bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
  await settle();
  return h;
}

const verbs = (api: FakeMirrorApi) => api.calls.map((c) => `${c.verb} ${c.key}`);

describe('mirror-pods actor (fake API, virtual clock)', () => {
  it('creates the mirror of a static pod with the mirror annotation and the Node owner reference', async () => {
    const web = staticPod('web');
    const h = await start({ pods: [web] });
    assert.deepEqual(verbs(h.api), ['create default/web-node-a']);
    const body = h.api.calls[0]!.body!;
    assert.equal(
      body.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION],
      web.metadata.annotations?.[CONFIG_HASH_ANNOTATION],
    );
    assert.deepEqual(body.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'node-uid-1', controller: true },
    ]);
    assert.equal(body.spec.nodeName, 'node-a');
    // the view catches up; periodic reconciles change nothing
    await h.syncView();
    await h.a.clock.advanceAsync(30_000);
    assert.deepEqual(verbs(h.api), ['create default/web-node-a']);
    assert.deepEqual(h.a.crashes, []);
    await h.a.stop();
  });

  it('waits for the node view (its uid) before creating', async () => {
    const h = await start({ node: undefined, pods: [staticPod('web')] });
    await h.a.clock.advanceAsync(20_000);
    assert.deepEqual(verbs(h.api), []);
    assert.match(String((h.a.inspect() as { holding: string }).holding), /waiting for the Node node-a/);
    h.a.bus.port('nodeStatus').publish('node', theNode);
    await settle();
    assert.deepEqual(verbs(h.api), ['create default/web-node-a'], 'at once when the node view arrives');
    await h.a.stop();
  });

  it('a changed manifest: the old mirror is deleted (uid precondition) and the new one created', async () => {
    const v1 = staticPod('web', 'busybox:1');
    const h = await start({ pods: [v1] });
    await h.syncView();
    const oldUid = h.api.pods.get('default/web-node-a')!.metadata.uid;
    const v2 = staticPod('web', 'busybox:2');
    assert.notEqual(v2.metadata.uid, v1.metadata.uid);
    await h.setDesired(v2);
    assert.deepEqual(verbs(h.api).slice(1), ['delete default/web-node-a', 'create default/web-node-a']);
    assert.deepEqual(h.api.calls[1]!.opts, { gracePeriodSeconds: 0, uid: oldUid });
    const now = h.api.pods.get('default/web-node-a')!;
    assert.equal(now.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION], v2.metadata.uid);
    assert.equal(now.spec.containers[0]!.image, 'busybox:2');
    // the view lags behind (still the old mirror): no second delete or create
    await h.a.clock.advanceAsync(10_000);
    assert.equal(h.api.calls.length, 3);
    await h.syncView();
    await h.a.clock.advanceAsync(10_000);
    assert.equal(h.api.calls.length, 3);
    await h.a.stop();
  });

  it('a mirror being deleted is replaced', async () => {
    const web = staticPod('web');
    const h = await start({ pods: [web] });
    const m = h.api.pods.get('default/web-node-a')!;
    h.api.pods.set('default/web-node-a', {
      ...m,
      metadata: { ...m.metadata, deletionTimestamp: '2024-01-01T00:00:00Z' },
    });
    await h.syncView();
    assert.deepEqual(verbs(h.api), [
      'create default/web-node-a',
      'delete default/web-node-a',
      'create default/web-node-a',
    ]);
    assert.equal(h.api.pods.get('default/web-node-a')!.metadata.deletionTimestamp, undefined);
    await h.a.stop();
  });

  it('a static pod removed: its mirror is deleted with grace 0, once every source has listed, not before its worker has terminated', async () => {
    const web = staticPod('web');
    const h = await start({ pods: [web], ready: false });
    await h.syncView();
    await h.setDesired();
    await h.a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(h.api), ['create default/web-node-a'], 'sources not ready: no orphan cleanup');
    h.a.bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
    // still terminating
    const workers = new Map<string, PodWorkerSummary>([
      [web.metadata.uid, { uid: web.metadata.uid, namespace: 'default', name: 'web-node-a', state: 'terminating' }],
    ]);
    h.a.bus.port('podWorkers').publish('podWorkerStates', workers);
    await h.a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(h.api), ['create default/web-node-a']);
    // the static pod is gone from desiredPods but its worker has not heard yet: still syncing
    h.a.bus
      .port('podWorkers')
      .publish(
        'podWorkerStates',
        new Map([[web.metadata.uid, { ...workers.get(web.metadata.uid)!, state: 'syncing' }]]),
      );
    await h.a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(h.api), ['create default/web-node-a'], 'not while its worker is syncing');
    h.a.bus
      .port('podWorkers')
      .publish(
        'podWorkerStates',
        new Map([[web.metadata.uid, { ...workers.get(web.metadata.uid)!, state: 'terminated' }]]),
      );
    await h.a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(h.api), ['create default/web-node-a', 'delete default/web-node-a']);
    assert.equal(h.api.pods.size, 0);
    assert.equal((h.api.calls[1]!.opts as { gracePeriodSeconds: number }).gracePeriodSeconds, 0);
    await h.a.stop();
  });

  it('a restarted instance takes the sources that have listed from the readySources view', async () => {
    const bus = new Bus();
    bus.port('podSourceApi').publish('mirrorPods', new Map([['default/gone-node-a', stored(staticPod('gone'), 'm9')]]));
    bus.port('podManager').publish('desiredPods', new Map());
    bus.port('nodeStatus').publish('node', theNode);
    const api = new FakeMirrorApi();
    api.pods.set('default/gone-node-a', stored(staticPod('gone'), 'm9'));
    const waiting = await startActor(mirrorPods, { api, nodeName: 'node-a', sources: ['file', 'http'] }, { bus });
    bus.port('syncLoop').publish('readySources', new Set(['file'] as const));
    await settle();
    assert.deepEqual(verbs(api), [], 'http has not listed yet');
    await waiting.stop();
    bus.port('syncLoop').publish('readySources', new Set(['file', 'http'] as const));
    const restarted = await startActor(mirrorPods, { api, nodeName: 'node-a', sources: ['file', 'http'] }, { bus });
    await settle();
    assert.deepEqual(verbs(api), ['delete default/gone-node-a']);
    await restarted.stop();
  });

  it('a mirror deleted by someone comes back', async () => {
    const h = await start({ pods: [staticPod('web')] });
    await h.syncView();
    const first = h.api.pods.get('default/web-node-a')!.metadata.uid;
    h.api.pods.delete('default/web-node-a');
    await h.syncView();
    assert.deepEqual(verbs(h.api), ['create default/web-node-a', 'create default/web-node-a']);
    assert.notEqual(h.api.pods.get('default/web-node-a')!.metadata.uid, first);
    await h.a.stop();
  });

  it('errors are logged and retried at the next reconcile; 409 AlreadyExists is fine; never a crash', async () => {
    const h = await start({ view: true });
    h.api.failures.create = [
      new ApiError(500, 'InternalError', 'create', '/pods', 'etcd down'),
      new Error('socket hang up'),
    ];
    await h.setDesired(staticPod('web'));
    assert.equal(h.api.pods.size, 0);
    assert.match((h.a.inspect() as { lastError: string }).lastError, /etcd down/);
    await h.a.clock.advanceAsync(10_000);
    assert.equal(h.api.pods.size, 0);
    assert.match((h.a.inspect() as { lastError: string }).lastError, /socket hang up/);
    await h.a.clock.advanceAsync(10_000);
    assert.equal(h.api.pods.size, 1);
    assert.deepEqual(
      h.api.calls.map((c) => c.at),
      [0, 10_000, 20_000],
    );
    // someone else already holds the name: 409, and no retry storm while the view catches up
    const other = await start({ view: true });
    other.api.pods.set('default/web-node-a', stored(staticPod('web'), 'theirs'));
    await other.setDesired(staticPod('web'));
    await other.a.clock.advanceAsync(20_000);
    assert.deepEqual(verbs(other.api), ['create default/web-node-a']);
    assert.equal((other.a.inspect() as { failures: number }).failures, 0);
    // delete errors are retried too
    other.api.failures.delete = [new ApiError(503, 'ServiceUnavailable', 'delete', '/pods', 'try later')];
    await other.syncView();
    await other.setDesired();
    assert.equal(other.api.pods.size, 1);
    await other.a.clock.advanceAsync(10_000);
    assert.equal(other.api.pods.size, 0);
    assert.deepEqual([h.a.crashes, other.a.crashes], [[], []]);
    await h.a.stop();
    await other.a.stop();
  });

  it('defect 8: a refused mirror pod (403, it references a ConfigMap) backs off 10 s doubling to 5 min, and is warned about once per cause', async () => {
    const lines: { severity: string; msg: string; err?: string }[] = [];
    let t = 0;
    const log = createLogger({
      verbosity: 0,
      now: () => t,
      sink: { write: (l, severity) => lines.push({ ...(JSON.parse(l) as (typeof lines)[number]), severity }) },
    });
    const h = await start({ view: true, log });
    const warnings = () => lines.filter((l) => l.severity === 'W');
    const creates = () => h.api.calls.filter((c) => c.verb === 'create').map((c) => c.at);
    // as NodeRestriction answers a mirror pod that references a ConfigMap
    let because = 'configmaps';
    h.api.refuseCreate = (pod) =>
      JSON.stringify(pod.spec).includes('configMapKeyRef')
        ? new ApiError(
            403,
            'Forbidden',
            'create',
            '/api/v1/namespaces/default/pods',
            `pods "${pod.metadata.name}" is forbidden: node "node-a" can not create pods that reference ${because}`,
          )
        : undefined;
    const web = staticPod('web');
    web.spec.containers[0]!.env = [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }];
    await h.setDesired(web);
    for (let i = 0; i < 300; i++) {
      await h.a.clock.advanceAsync(1000);
      t = h.a.clock.now();
    }
    // 5 minutes: attempts at 0, 10, 30, 70 and 150 s (the next one is due at 310 s), one warning
    assert.deepEqual(creates(), [0, 10_000, 30_000, 70_000, 150_000]);
    assert.equal(warnings().length, 1, JSON.stringify(warnings()));
    assert.match(warnings()[0]!.err!, /can not create pods that reference configmaps/);
    await h.a.clock.advanceAsync(10_000);
    assert.deepEqual(creates().slice(5), [310_000]);
    // the backoff stays at 5 minutes; a new cause is said once more
    because = 'secrets';
    await h.a.clock.advanceAsync(300_000);
    assert.deepEqual(creates().slice(6), [610_000]);
    assert.equal(warnings().length, 2);
    assert.match(warnings()[1]!.err!, /reference secrets/);
    // once it is accepted, the same refusal later is news again
    h.api.refuseCreate = undefined;
    await h.a.clock.advanceAsync(300_000);
    assert.equal(h.api.pods.size, 1);
    h.api.pods.clear();
    await h.syncView();
    h.api.refuseCreate = () =>
      new ApiError(403, 'Forbidden', 'create', '/pods', 'can not create pods that reference secrets');
    // (recreated once the expectation of our own create times out)
    await h.a.clock.advanceAsync(EXPECTATION_TTL_MS + 10_000);
    assert.equal(warnings().length, 3);
    assert.deepEqual(h.a.crashes, []);
    await h.a.stop();
  });

  it("without a mirrorPods view it lists the node's pods itself (and retries a failed list)", async () => {
    const web = staticPod('web');
    const h = await start({ view: false });
    h.api.pods.set('default/old-node-a', stored(staticPod('old'), 'm-old'));
    h.api.pods.set('default/web-node-a', stored(web, 'm-web'));
    h.api.failures.list = [new ApiError(500, 'InternalError', 'list', '/pods', 'boom')];
    await h.setDesired(web);
    await h.a.clock.advanceAsync(10_000);
    assert.ok(
      verbs(h.api).every((v) => v === 'list spec.nodeName=node-a' || v === 'delete default/old-node-a'),
      verbs(h.api).join(),
    );
    assert.ok(verbs(h.api).includes('delete default/old-node-a'));
    assert.deepEqual([...h.api.pods.keys()], ['default/web-node-a']);
    await h.a.stop();
  });
});

describe('mirror-pods with the API pod source on a first start', () => {
  it('while the pod source has not listed yet there is no view: mirror-pods lists itself and leaves an existing mirror alone (no POST, no 409)', async () => {
    const web = staticPod('web');
    const api = new FakeMirrorApi();
    api.pods.set('default/web-node-a', stored(web, 'm-web'));
    const bus = new Bus();
    bus.port('nodeStatus').publish('node', theNode);
    bus.port('podManager').publish('desiredPods', desiredOf(web));
    // a slow API server: the pod source's first list has not answered
    const slow = { listPods: () => new Promise<never>(() => {}), watchPods: () => new Promise<never>(() => {}) };
    const source = await startActor(podSourceApi, { api: slow, nodeName: 'node-a', random: () => 0 }, { bus });
    const a = await startActor(mirrorPods, { api, nodeName: 'node-a' }, { bus, clock: source.clock });
    api.now = () => a.clock.now();
    bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
    await settle();
    await a.clock.advanceAsync(20_000);
    await settle();
    assert.ok(verbs(api).length > 0 && verbs(api).every((v) => v === 'list spec.nodeName=node-a'), verbs(api).join());
    assert.equal((a.inspect() as { failures: number }).failures, 0);
    assert.deepEqual([a.crashes, source.crashes], [[], []]);
    await a.stop();
    await source.stop();
  });
});

describe('mirror-pods against the API server stand-in (NodeRestriction)', () => {
  let server: ApiServer;
  let client: KubeClient;
  before(async () => {
    server = await startApiServer({ nodes: ['node-a'], registerNodes: true });
    client = createKubeApi(server.kubeconfigFor('node-a'), { qps: 0 });
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  async function until(pred: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 20_000 && !pred(); i++) await new Promise<void>((r) => setImmediate(r));
    assert.ok(pred(), `timed out waiting for ${what}`);
  }

  it('the node creates its mirror pod (annotation, owner reference to its Node) and deletes it when the static pod goes', async () => {
    const node = await client.getNode('node-a');
    const web = staticPod('web');
    const a = await startActor(mirrorPods, { api: client, nodeName: 'node-a' });
    try {
      a.bus.port('nodeStatus').publish('node', node);
      a.bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
      a.bus.port('podManager').publish('desiredPods', desiredOf(web));
      const stats = () => a.inspect() as { creates: number; deletes: number; failures: number; lastError: string };
      await until(() => stats().creates === 1 || stats().failures > 0, 'the mirror pod');
      assert.deepEqual([stats().creates, stats().failures], [1, 0], stats().lastError);
      const m = server.store.get('pods', 'default', 'web-node-a') as unknown as Pod;
      assert.equal(m.metadata.annotations?.[CONFIG_MIRROR_ANNOTATION], web.metadata.uid);
      assert.deepEqual(m.metadata.ownerReferences, [
        { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: node.metadata.uid, controller: true },
      ]);
      assert.equal(m.spec.nodeName, 'node-a');
      assert.notEqual(m.metadata.uid, web.metadata.uid, 'the server assigns the mirror its own uid');

      a.bus.port('podManager').publish('desiredPods', new Map());
      await until(() => stats().deletes === 1 || stats().failures > 0, 'the orphan deleted');
      assert.equal(stats().failures, 0, stats().lastError);
      assert.equal(server.store.get('pods', 'default', 'web-node-a'), undefined);
      assert.deepEqual(a.crashes, []);
    } finally {
      await a.stop();
    }
  });

  it('defect 8: NodeRestriction refuses the mirror of a static pod that references a ConfigMap (403): a refusal, backed off, not retried at each resync', async () => {
    const node = await client.getNode('node-a');
    const cfg = staticPod('cfg');
    cfg.spec.containers[0]!.env = [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }];
    const a = await startActor(mirrorPods, { api: client, nodeName: 'node-a' });
    try {
      a.bus.port('nodeStatus').publish('node', node);
      a.bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
      a.bus.port('podManager').publish('desiredPods', desiredOf(cfg));
      type Stats = {
        creates: number;
        failures: number;
        lastError: string;
        failedCreates: Record<string, { refusals: number; retryAt: number }>;
      };
      const stats = () => a.inspect() as Stats;
      await until(() => stats().failures > 0 || stats().creates > 0, 'the refusal');
      assert.equal(stats().creates, 0);
      assert.match(stats().lastError, /forbidden: node "node-a" can not create pods that reference configmaps/);
      const f = stats().failedCreates['default/cfg-node-a']!;
      assert.deepEqual(
        [f.refusals, f.retryAt],
        [1, a.clock.now() + 10_000],
        'a refusal: the next attempt in 10 s, not at the next resync',
      );
      assert.equal(server.store.get('pods', 'default', 'cfg-node-a'), undefined);
    } finally {
      await a.stop();
    }
  });
});
