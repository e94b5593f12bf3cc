/**
 * node-lease on the VirtualClock with a fake LeaseApi: create when missing (with the Node owner
 * reference), renew every 10s, 409 → re-read and retry, ensure backoff 200ms doubling to 7s,
 * no CREATE while the Node uid is unknown, a deleted Lease is created again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../kernel/bus.ts';
import { startActor } from '../../kernel/testing.ts';
import { ApiError, type Lease, type LeaseApi, type Node, type NodeApi } from '../../protocols/kube/api.ts';
import '../../protocols/messages/channels.ts';
import { microTime, nodeLease, type NodeLeaseDeps } from '../../actors/node-lease/index.ts';

const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

class FakeLeaseApi implements LeaseApi, Pick<NodeApi, 'getNode'> {
  lease: Lease | undefined;
  node: Node | undefined;
  rv = 0;
  calls: { verb: string; at: number; body?: Lease }[] = [];
  failures: Partial<Record<'get' | 'create' | 'update' | 'getNode', unknown[]>> = {};
  now: () => number = () => 0;

  #fail(verb: 'get' | 'create' | 'update' | 'getNode'): void {
    const f = this.failures[verb]?.shift();
    if (f) throw f;
  }
  async getLease(ns: string, name: string): Promise<Lease> {
    this.calls.push({ verb: 'get', at: this.now() });
    this.#fail('get');
    if (!this.lease)
      throw new ApiError(
        404,
        'NotFound',
        'get',
        `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
        `leases.coordination.k8s.io "${name}" not found`,
      );
    return structuredClone(this.lease);
  }
  async createLease(_ns: string, lease: Lease): Promise<Lease> {
    this.calls.push({ verb: 'create', at: this.now(), body: structuredClone(lease) });
    this.#fail('create');
    if (this.lease) throw new ApiError(409, 'AlreadyExists', 'create', '/leases', 'exists');
    this.lease = {
      ...structuredClone(lease),
      metadata: { ...lease.metadata, uid: 'lease-uid', resourceVersion: String(++this.rv) },
    };
    return structuredClone(this.lease);
  }
  async updateLease(_ns: string, lease: Lease): Promise<Lease> {
    this.calls.push({ verb: 'update', at: this.now(), body: structuredClone(lease) });
    this.#fail('update');
    if (!this.lease) throw new ApiError(404, 'NotFound', 'update', '/leases', 'not found');
    if (lease.metadata.resourceVersion !== this.lease.metadata.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        'update',
        '/leases/node-a',
        'Operation cannot be fulfilled on leases.coordination.k8s.io "node-a": the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    this.lease = { ...structuredClone(lease), metadata: { ...lease.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }
  async getNode(name: string): Promise<Node> {
    this.calls.push({ verb: 'getNode', at: this.now() });
    this.#fail('getNode');
    if (!this.node) throw new ApiError(404, 'NotFound', 'get', `/api/v1/nodes/${name}`, `nodes "${name}" not found`);
    return structuredClone(this.node);
  }
}

const theNode = { metadata: { name: 'node-a', uid: 'node-uid-1' } } as unknown as Node;

/** `nodeView` is published after the start, `nodeViewBefore` before it. */
async function start(
  api: FakeLeaseApi,
  deps: Partial<NodeLeaseDeps> = {},
  opts: { nodeView?: Node; nodeViewBefore?: Node } = {},
) {
  const bus = new Bus();
  if (opts.nodeViewBefore) bus.port('nodeStatus').publish('node', opts.nodeViewBefore);
  const a = await startActor(nodeLease, { api, nodeName: 'node-a', random: () => 0, ...deps }, { bus });
  api.now = () => a.clock.now();
  if (opts.nodeView) a.bus.port('nodeStatus').publish('node', opts.nodeView);
  await settle();
  return a;
}

const verbs = (api: FakeLeaseApi) => api.calls.map((c) => c.verb);

describe('node-lease', () => {
  it('creates kube-node-lease/<node> with holder, duration 40 and the Node owner reference, then renews every 10s', async () => {
    const api = new FakeLeaseApi();
    api.node = theNode;
    const a = await start(api);
    assert.deepEqual(verbs(api), ['get', 'getNode', 'create']);
    const created = api.calls[2]!.body!;
    assert.equal(created.metadata.name, 'node-a');
    assert.equal(created.metadata.namespace, 'kube-node-lease');
    assert.deepEqual(created.spec, {
      holderIdentity: 'node-a',
      leaseDurationSeconds: 40,
      renewTime: '1970-01-01T00:00:00.000000Z',
    });
    assert.deepEqual(created.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'node-uid-1' },
    ]);
    await a.clock.advanceAsync(9_999);
    assert.equal(api.calls.length, 3, 'a fresh lease is not renewed at once');
    await a.clock.advanceAsync(1);
    await a.clock.advanceAsync(10_000);
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api).slice(3), ['update', 'update', 'update'], 'PUT of the latest lease, no GET');
    assert.deepEqual(
      api.calls.slice(3).map((c) => c.at),
      [10_000, 20_000, 30_000],
    );
    assert.equal(api.lease!.spec.renewTime, microTime(30_000));
    assert.equal(api.lease!.spec.renewTime, '1970-01-01T00:00:30.000000Z');
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('owner uid from a live GET of the Node, not from a node view still holding a just-deleted Node', async () => {
    const api = new FakeLeaseApi();
    api.node = { metadata: { name: 'node-a', uid: 'node-uid-2' } } as unknown as Node;
    const a = await start(api, {}, { nodeViewBefore: theNode });
    assert.ok(api.lease);
    assert.equal(api.lease.metadata.ownerReferences?.[0]?.uid, 'node-uid-2');
    await a.stop();
  });

  it("the node view's uid only when the GET of the Node fails without an answer about it; a 404 creates nothing", async () => {
    const api = new FakeLeaseApi();
    const a = await start(api, {}, { nodeView: theNode });
    await a.clock.advanceAsync(10_000);
    assert.equal(api.lease, undefined, 'the GET answered 404: no Node, no Lease (though the view still has one)');
    api.failures.getNode = [
      new ApiError(503, 'ServiceUnavailable', 'get', '/api/v1/nodes/node-a', 'etcd leader changed'),
    ];
    await a.clock.advanceAsync(10_000);
    const lease = api.lease as Lease | undefined; // (narrowed to undefined above)
    assert.ok(lease);
    assert.equal(lease.metadata.ownerReferences?.[0]?.uid, 'node-uid-1');
    await a.stop();
  });

  it('does not create the lease while the Node uid is unknown; creates it once the Node exists', async () => {
    const api = new FakeLeaseApi();
    const a = await start(api);
    assert.deepEqual(verbs(api), ['get', 'getNode']);
    assert.equal(api.lease, undefined);
    api.node = theNode;
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api), ['get', 'getNode', 'get', 'getNode', 'create']);
    await a.stop();
  });

  it('adds the owner reference to an existing lease that lacks it', async () => {
    const api = new FakeLeaseApi();
    api.node = theNode;
    api.lease = {
      metadata: { name: 'node-a', namespace: 'kube-node-lease', resourceVersion: '7' } as Lease['metadata'],
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40 },
    };
    api.rv = 7;
    const a = await start(api);
    assert.deepEqual(verbs(api), ['get', 'getNode', 'update']);
    assert.equal(api.lease.metadata.ownerReferences?.[0]?.uid, 'node-uid-1');
    await a.stop();
  });

  it('409 Conflict: re-reads the lease and retries the update at once', async () => {
    const api = new FakeLeaseApi();
    api.node = theNode;
    const a = await start(api);
    // someone else bumps the lease
    api.lease!.metadata.resourceVersion = String(++api.rv);
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api).slice(3), ['update', 'get', 'update']);
    assert.equal(api.calls.at(-1)!.at, 10_000);
    assert.equal(api.lease!.spec.renewTime, microTime(10_000));
    assert.equal((a.inspect() as { conflicts: number }).conflicts, 1);
    await a.stop();
  });

  it('API failures: ensure backs off 200ms doubling up to 7s, then renews on the regular interval', async () => {
    const api = new FakeLeaseApi();
    api.node = theNode;
    const down = () => new ApiError(0, 'ConnectionError', 'get', '/leases', 'connect ECONNREFUSED');
    api.failures.get = Array.from({ length: 8 }, down);
    const a = await start(api);
    await a.clock.advanceAsync(60_000);
    const gets = api.calls.filter((c) => c.verb === 'get').map((c) => c.at);
    const gaps = gets.slice(1).map((t, i) => t - gets[i]!);
    assert.deepEqual(gaps.slice(0, 8), [200, 400, 800, 1600, 3200, 6400, 7000, 7000]);
    const created = api.calls.find((c) => c.verb === 'create')!;
    assert.equal(created.at, gets[8]);
    const updates = api.calls.filter((c) => c.verb === 'update').map((c) => c.at);
    assert.equal(created.at, 26_600);
    assert.deepEqual(updates, [36_600, 46_600, 56_600]);
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('a deleted lease: 5 failed updates (404), then ensure creates it again', async () => {
    const api = new FakeLeaseApi();
    api.node = theNode;
    const a = await start(api);
    api.lease = undefined;
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api).slice(3), [
      'update',
      'update',
      'update',
      'update',
      'update',
      'get',
      'getNode',
      'create',
    ]);
    assert.ok(api.lease);
    await a.stop();
  });

  it('node.renewLease renews now; jitter stretches the interval by up to 4%', async () => {
    const api = new FakeLeaseApi();
    api.node = theNode;
    const a = await start(api, { random: () => 1 });
    await a.clock.advanceAsync(3_000);
    a.bus.port('spec').send('nodeControl', { type: 'node.renewLease' });
    await settle();
    assert.equal(api.calls.at(-1)!.verb, 'update');
    assert.equal(api.calls.at(-1)!.at, 3_000);
    await a.clock.advanceAsync(7_400);
    assert.equal(
      api.calls.filter((c) => c.verb === 'update').at(-1)!.at,
      10_400,
      'the pending interval still fires at 10.4s',
    );
    await a.stop();
  });
});
