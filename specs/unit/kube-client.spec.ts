/**
 * adapters/kube/client.ts against the API server stand-in (real HTTPS, client certificates and
 * tokens, the Node authorizer): every KubeApi call, Status → ApiError, the patch content types,
 * DELETE preconditions, watches, 429 retries, timeouts, refused connections; and the token
 * bucket on the VirtualClock.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { VirtualClock } from '../../kernel/clock.ts';
import { ApiError, type Event, type Lease, type Node, type WatchEvent } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import {
  apiErrorFrom,
  CERT_CHECK_MS,
  createKubeApi,
  defaultUserAgent,
  isRetryableApiError,
  KUBELET_VERSION,
  TOKEN_FILE_REFRESH_MS,
  TokenBucket,
  WATCH_IDLE_LIMIT_MS,
  WATCH_IDLE_MARGIN_MS,
  type KubeClient,
} from '../../adapters/kube/client.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';

const settle = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/** Yields to I/O until `pred` holds (real sockets, no timers: the Clock rule). */
async function until(pred: () => boolean, what: string, rounds = 20_000): Promise<void> {
  for (let i = 0; i < rounds && !pred(); i++) await new Promise<void>((r) => setImmediate(r));
  assert.ok(pred(), `timed out waiting for ${what}`);
}

async function rejects(p: Promise<unknown>, code: number, reason: string | RegExp): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof reason === 'string') assert.equal(e.reason, reason, e.message);
    else assert.match(e.reason, reason);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('TokenBucket (client-go flowcontrol semantics) on virtual time', () => {
  it('starts full with burst tokens, then refills qps per second', () => {
    const clock = new VirtualClock(1000);
    const b = new TokenBucket(2, 3, () => clock.now());
    assert.equal(b.tryAccept(), true);
    assert.equal(b.tryAccept(), true);
    assert.equal(b.tryAccept(), true);
    assert.equal(b.tryAccept(), false);
    clock.advance(499);
    assert.equal(b.tryAccept(), false);
    clock.advance(1);
    assert.equal(b.tryAccept(), true);
    clock.advance(10_000);
    assert.equal(b.tokens, 3, 'never more than burst');
  });

  it('reserve() queues waiters in order: 0, 0, then 1/qps apart', () => {
    const clock = new VirtualClock();
    const b = new TokenBucket(50, 2, () => clock.now());
    assert.deepEqual([b.reserve(), b.reserve(), b.reserve(), b.reserve(), b.reserve()], [0, 0, 20, 40, 60]);
    clock.advance(40);
    assert.equal(b.reserve(), 40);
  });

  it('rejects a non-positive qps (the client disables throttling instead)', () => {
    assert.throws(() => new TokenBucket(0, 1, () => 0), /qps must be positive/);
  });
});

describe('apiErrorFrom / isRetryableApiError', () => {
  it('takes code, reason and message from a Status body', () => {
    const e = apiErrorFrom(
      409,
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'AlreadyExists',
        message: 'nodes "a" already exists',
        code: 409,
      }),
      'create',
      '/api/v1/nodes',
    );
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'AlreadyExists');
    assert.equal(e.message, 'create /api/v1/nodes: 409 AlreadyExists: nodes "a" already exists');
  });
  it('falls back to the HTTP status for a body that is not a Status', () => {
    const e = apiErrorFrom(503, '<html>down</html>', 'get', '/api/v1/nodes/a');
    assert.equal(e.reason, 'ServiceUnavailable');
    assert.match(e.message, /down/);
  });
  it('retries transport failures, 429 and 5xx, not 4xx', () => {
    assert.equal(isRetryableApiError(new ApiError(0, 'ConnectionError', 'get', '/', 'x')), true);
    assert.equal(isRetryableApiError(new ApiError(429, 'TooManyRequests', 'get', '/', 'x')), true);
    assert.equal(isRetryableApiError(new ApiError(500, 'InternalError', 'get', '/', 'x')), true);
    assert.equal(isRetryableApiError(new ApiError(409, 'Conflict', 'get', '/', 'x')), false);
    assert.equal(isRetryableApiError(new ApiError(404, 'NotFound', 'get', '/', 'x')), false);
  });
});

describe('createKubeApi against the API server stand-in', () => {
  let api: ApiServer;
  let node: KubeClient;
  let admin: KubeClient;
  const clients: KubeClient[] = [];
  const mk = (path: string, opts: Parameters<typeof createKubeApi>[1] = {}) => {
    const c = createKubeApi(path, opts);
    clients.push(c);
    return c;
  };

  before(async () => {
    api = await startApiServer({ nodes: ['node-a', 'node-b'] });
    node = mk(api.kubeconfigFor('node-a'));
    admin = mk(api.adminKubeconfig);
  });
  after(async () => {
    for (const c of clients) c.close();
    await api.stop();
  });

  it('fails at once, naming the path, when the kubeconfig is missing', () => {
    assert.throws(() => createKubeApi('/nonexistent/kubelet.kubeconfig'), /nonexistent\/kubelet\.kubeconfig/);
  });

  it('ready() rejects for a kubeconfig without a usable cluster', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-kc-'));
    const p = join(dir, 'bad.kubeconfig');
    writeFileSync(p, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    const c = mk(p);
    await assert.rejects(c.ready(), /kubeconfig .*bad\.kubeconfig/);
    await rejects(c.getNode('node-a'), 0, 'InvalidKubeconfig');
  });

  it('registers a Node with the client certificate: create, 409 AlreadyExists, get, 404 for a missing one', async () => {
    await node.ready();
    assert.equal(node.server, api.url);
    const created = await node.createNode({
      metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a' } },
    } as unknown as Node);
    assert.equal(created.metadata.name, 'node-a');
    assert.ok(created.metadata.uid);
    const e = await rejects(node.createNode({ metadata: { name: 'node-a' } } as unknown as Node), 409, 'AlreadyExists');
    assert.equal(e.verb, 'create');
    assert.equal(e.path, '/api/v1/nodes');
    const cached = await node.getNode('node-a', { resourceVersion: '0' });
    assert.equal(cached.metadata.uid, created.metadata.uid);
    assert.deepEqual(
      api.requests.last({ verb: 'get', resource: 'nodes' })!.query,
      { resourceVersion: '0' },
      'served from the cache',
    );
    const got = await node.getNode('node-a');
    assert.equal(got.metadata.uid, created.metadata.uid);
    const rec = api.requests.last({ verb: 'get', resource: 'nodes' })!;
    assert.deepEqual(rec.query, {}, 'a quorum read');
    assert.equal(rec.user, 'system:node:node-a');
    assert.equal(rec.userAgent, defaultUserAgent());
    assert.match(rec.userAgent!, /^kubelet-ts\/v\d+\.\d+\.\d+ \(linux\/(amd64|arm64)\) kubernetes\/v1\.34\.0$/);
    assert.match(KUBELET_VERSION, /^v1\.34\.0-kubelet-ts\.\d+\.\d+\.\d+$/);
    await rejects(admin.getNode('nope'), 404, 'NotFound');
  });

  it("the Node authorizer answers 403 Forbidden for another node's object", async () => {
    await rejects(node.getNode('node-b'), 403, 'Forbidden');
  });

  it('patches node status with the strategic-merge content type: conditions merge by type', async () => {
    await node.patchNodeStatus(
      'node-a',
      { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] } },
      'strategic',
    );
    const n = await node.patchNodeStatus(
      'node-a',
      { status: { conditions: [{ type: 'MemoryPressure', status: 'False' }] } },
      'strategic',
    );
    assert.deepEqual(n.status?.conditions?.map((c) => c.type).sort(), ['MemoryPressure', 'Ready']);
    assert.equal(
      api.requests.last({ verb: 'patch', subresource: 'status' })!.contentType,
      'application/strategic-merge-patch+json',
    );
    await node.patchNode('node-a', { metadata: { labels: { 'kubernetes.io/os': 'linux' } } }, 'merge');
    assert.equal(
      api.requests.last({ verb: 'patch', resource: 'nodes', subresource: '' })!.contentType,
      'application/merge-patch+json',
    );
    const j = await node.patchNode(
      'node-a',
      [{ op: 'add', path: '/metadata/labels/kubernetes.io~1arch', value: 'amd64' }],
      'json',
    );
    assert.equal(j.metadata.labels?.['kubernetes.io/arch'], 'amd64');
    assert.equal(
      api.requests.last({ verb: 'patch', resource: 'nodes', subresource: '' })!.contentType,
      'application/json-patch+json',
    );
  });

  it('leases: 404, create, update, 409 Conflict on a stale resourceVersion', async () => {
    await rejects(node.getLease('kube-node-lease', 'node-a'), 404, 'NotFound');
    const lease: Lease = {
      metadata: { name: 'node-a', namespace: 'kube-node-lease' } as Lease['metadata'],
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40, renewTime: '2025-01-01T00:00:00.000000Z' },
    };
    const created = await node.createLease('kube-node-lease', lease);
    assert.ok(created.metadata.resourceVersion);
    const updated = await node.updateLease('kube-node-lease', {
      ...created,
      spec: { ...created.spec, renewTime: '2025-01-01T00:00:10.000000Z' },
    });
    assert.equal(updated.spec.renewTime, '2025-01-01T00:00:10.000000Z');
    assert.equal(api.requests.last({ verb: 'update' })!.method, 'PUT');
    await rejects(node.updateLease('kube-node-lease', created), 409, 'Conflict');
    await rejects(
      node.createLease('kube-node-lease', { ...lease, metadata: { ...lease.metadata, name: 'node-b' } }),
      403,
      'Forbidden',
    );
  });

  it('events: create, then patch count and lastTimestamp', async () => {
    const ev: Event = {
      metadata: { name: 'node-a.17f0000000000001', namespace: 'default' } as Event['metadata'],
      involvedObject: { kind: 'Node', name: 'node-a', uid: 'node-a' },
      reason: 'Starting',
      message: 'Starting kubelet.',
      type: 'Normal',
      source: { component: 'kubelet', host: 'node-a' },
      firstTimestamp: '2025-01-01T00:00:00Z',
      lastTimestamp: '2025-01-01T00:00:00Z',
      count: 1,
    };
    const c = await node.createEvent('default', ev);
    assert.equal(c.count, 1);
    const p = await node.patchEvent(
      'default',
      c.metadata.name,
      { count: 2, lastTimestamp: '2025-01-01T00:00:05Z', message: 'Starting kubelet.' },
      'strategic',
    );
    assert.equal(p.count, 2);
    assert.equal(p.lastTimestamp, '2025-01-01T00:00:05Z');
    await rejects(node.patchEvent('default', 'missing', { count: 2 }, 'strategic'), 404, 'NotFound');
  });

  it('pods: list with a field selector, watch from its resourceVersion, abort calls done once', async () => {
    admin.createPod('default', {
      metadata: { name: 'p0', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    } as unknown as Pod);
    await settle();
    const list = await node.listPods({ fieldSelector: 'spec.nodeName=node-a' });
    assert.ok(list.resourceVersion);
    const seen: WatchEvent<Pod>[] = [];
    let doneCalls = 0;
    const h = await node.watchPods(
      { fieldSelector: 'spec.nodeName=node-a', resourceVersion: list.resourceVersion, allowWatchBookmarks: true },
      (e) => seen.push(e),
      () => {
        doneCalls++;
      },
    );
    await admin.createPod('default', {
      metadata: { name: 'p1', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    } as unknown as Pod);
    await admin.createPod('default', {
      metadata: { name: 'other', namespace: 'default' },
      spec: { nodeName: 'node-b', containers: [{ name: 'c', image: 'busybox' }] },
    } as unknown as Pod);
    await until(() => seen.some((e) => e.type === 'ADDED'), 'the ADDED event');
    const added = seen.filter((e) => e.type === 'ADDED').map((e) => (e.object as Pod).metadata?.name);
    assert.deepEqual(added, ['p1']);
    assert.equal(node.stats().openWatches, 1);
    h.abort();
    h.abort();
    assert.equal(doneCalls, 1);
    assert.equal(node.stats().openWatches, 0);
  });

  it('a watch that cannot be established rejects (410 Expired for a compacted resourceVersion is an ERROR event)', async () => {
    await rejects(
      node.watchPods(
        { namespace: 'default', resourceVersion: '1' },
        () => {},
        () => {},
      ),
      403,
      'Forbidden',
    );
    api.store.compact();
    const events: WatchEvent<Pod>[] = [];
    const ended = new Promise<unknown>((resolve) => {
      void node.watchPods(
        { fieldSelector: 'spec.nodeName=node-a', resourceVersion: '1' },
        (e) => events.push(e),
        resolve,
      );
    });
    assert.equal(await ended, undefined);
    assert.equal(events[0]?.type, 'ERROR');
    assert.equal((events[0]!.object as { code?: number }).code, 410);
  });

  it('a watch that stops sending (a connection dropped without FIN/RST) ends with a Timeout after timeoutSeconds + a margin without data', async () => {
    const clock = new VirtualClock(0);
    const c = mk(api.kubeconfigFor('node-a'), { clock, qps: 0 });
    const pod = (name: string) =>
      ({
        metadata: { name, namespace: 'default' },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      }) as unknown as Pod;
    const rv = (await c.listPods({ fieldSelector: 'spec.nodeName=node-a' })).resourceVersion;
    const seen: WatchEvent<Pod>[] = [];
    const ends: unknown[] = [];
    await c.watchPods(
      { fieldSelector: 'spec.nodeName=node-a', resourceVersion: rv, timeoutSeconds: 30 },
      (e) => seen.push(e),
      (err) => ends.push(err),
    );
    assert.equal(c.stats().openWatches, 1);
    clock.advance(30_000 + WATCH_IDLE_MARGIN_MS - 1);
    await settle();
    assert.equal(ends.length, 0, 'still within timeoutSeconds + the margin');
    // data resets the watchdog
    await admin.createPod('default', pod('idle-1'));
    await until(() => seen.length === 1, 'the ADDED event');
    clock.advance(30_000 + WATCH_IDLE_MARGIN_MS - 1);
    await settle();
    assert.equal(ends.length, 0, 'the event restarted the count');
    // then nothing more arrives (the server sends nothing: as good as a dropped connection)
    clock.advance(1);
    await until(() => ends.length === 1, 'the watchdog');
    const e = ends[0];
    assert.ok(e instanceof ApiError, String(e));
    assert.deepEqual([e.code, e.reason, e.verb], [0, 'Timeout', 'watch']);
    assert.match(e.message, /no data for 60000ms/);
    assert.equal(c.stats().openWatches, 0);
    await until(() => api.watchersCount() === 0, 'the server to see the connection closed');

    // without timeoutSeconds: the longest watch an apiserver grants by default, plus the margin
    const ends2: unknown[] = [];
    const rv2 = (await c.listPods({ fieldSelector: 'spec.nodeName=node-a' })).resourceVersion;
    await c.watchPods(
      { fieldSelector: 'spec.nodeName=node-a', resourceVersion: rv2 },
      () => {},
      (err) => ends2.push(err),
    );
    clock.advance(WATCH_IDLE_LIMIT_MS + WATCH_IDLE_MARGIN_MS - 1);
    await settle();
    assert.equal(ends2.length, 0);
    clock.advance(1);
    await until(() => ends2.length === 1, 'the watchdog without timeoutSeconds');
    assert.equal((ends2[0] as ApiError).reason, 'Timeout');
  });

  it('deletePod sends DeleteOptions: a uid precondition that does not match is 409 Conflict', async () => {
    const p = await admin.getPod('default', 'p1');
    await rejects(admin.deletePod('default', 'p1', { uid: 'not-the-uid' }), 409, 'Conflict');
    await admin.deletePod('default', 'p1', { gracePeriodSeconds: 0, uid: p.metadata!.uid });
    const body = api.requests.last({ verb: 'delete' })!.body as Record<string, unknown>;
    assert.deepEqual(body, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      gracePeriodSeconds: 0,
      preconditions: { uid: p.metadata!.uid },
    });
    await rejects(admin.getPod('default', 'p1'), 404, 'NotFound');
  });

  it("500 is an ApiError with the server's reason; a 429 is retried after Retry-After", async () => {
    api.faults.set({ mode: 'status500', verb: 'get', resource: 'nodes', count: 1 });
    await rejects(node.getNode('node-a'), 500, 'InternalError');
    const clock = new VirtualClock(0);
    const c = mk(api.kubeconfigFor('node-a'), { clock, timeoutMs: 0 });
    api.faults.set({ mode: 'status429', verb: 'get', resource: 'nodes', count: 1, retryAfterSeconds: 2 });
    const before = api.requests.count({ verb: 'get', resource: 'nodes' });
    const pending = c.getNode('node-a');
    await until(() => c.stats().retries429 === 1, 'the 429');
    clock.advance(1999);
    await settle();
    assert.equal(api.requests.count({ verb: 'get', resource: 'nodes' }) - before, 1, 'waits for Retry-After');
    clock.advance(1);
    const n = await pending;
    assert.equal(n.metadata.name, 'node-a');
    assert.equal(api.requests.count({ verb: 'get', resource: 'nodes' }) - before, 2);
  });

  it('a hung request times out (code 0, Timeout); a refused connection is code 0, ConnectionError', async () => {
    const clock = new VirtualClock(0);
    const quick = mk(api.kubeconfigFor('node-a'), { timeoutMs: 300, clock });
    const hang = api.faults.set({ mode: 'hang', verb: 'get', resource: 'nodes', count: 1 });
    const hung = quick.getNode('node-a');
    await until(() => hang.hits === 1, 'the hung request');
    clock.advance(300);
    const e = await rejects(hung, 0, 'Timeout');
    assert.match(e.message, /300ms/);
    hang.clear();
    const refuse = api.faults.set({ mode: 'refuse', verb: 'get', resource: 'leases', count: 1 });
    await rejects(quick.getLease('kube-node-lease', 'node-a'), 0, 'ConnectionError');
    refuse.clear();
    assert.ok((await quick.getLease('kube-node-lease', 'node-a')).metadata.name);
  });

  it('bearer tokens work too', async () => {
    const tok = mk(api.kubeconfigFor('node-a', 'token'));
    assert.equal((await tok.getNode('node-a')).metadata.name, 'node-a');
    assert.equal(api.requests.last({ verb: 'get', resource: 'nodes' })!.user, 'system:node:node-a');
  });

  /** A kubeconfig in a fresh directory for node-a's cluster with `user` as its user entry. */
  const kubeconfigWith = (user: Record<string, string>): { dir: string; path: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-kc-'));
    const path = join(dir, 'kubelet.kubeconfig');
    writeFileSync(
      path,
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: api.url, 'certificate-authority': api.caFile } }],
        users: [{ name: 'u', user }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    return { dir, path };
  };
  /** Who the server saw making a request of `c` (node-a's Node: 200 for node-a, 403 for another node). */
  const who = async (c: KubeClient): Promise<string | undefined> => {
    await c.getNode('node-a').catch(() => {});
    return api.requests.last({ verb: 'get', resource: 'nodes' })!.user;
  };

  it('tokenFile (relative to the kubeconfig) authenticates, and a rotated token is used within a minute', async () => {
    const clock = new VirtualClock(0);
    const { dir, path } = kubeconfigWith({ tokenFile: 'token' });
    writeFileSync(join(dir, 'token'), `${api.tokenFor('node-a')}\n`);
    const c = mk(path, { clock, timeoutMs: 0 });
    assert.equal((await c.getNode('node-a')).metadata.name, 'node-a');
    assert.equal(await who(c), 'system:node:node-a');
    // rotated: the cached token is used until the file is due again (client-go: a minute less 10 s)
    writeFileSync(join(dir, 'token'), api.tokenFor('node-b'));
    clock.advance(TOKEN_FILE_REFRESH_MS - 1);
    assert.equal(await who(c), 'system:node:node-a');
    clock.advance(1);
    assert.equal(await who(c), 'system:node:node-b');
    // a file that cannot be read keeps the last token
    rmSync(join(dir, 'token'));
    clock.advance(TOKEN_FILE_REFRESH_MS);
    assert.equal(await who(c), 'system:node:node-b');
  });

  it('a tokenFile that cannot be read, without an inline token, fails ready() naming the file', async () => {
    const { path } = kubeconfigWith({ tokenFile: '/nonexistent/token' });
    await assert.rejects(mk(path).ready(), /\/nonexistent\/token/);
  });

  it('client certificate files rotated on disk are used after the next check (at most a minute); a mismatched pair is not', async () => {
    const clock = new VirtualClock(0);
    const { dir, path } = kubeconfigWith({ 'client-certificate': 'client.crt', 'client-key': 'client.key' });
    const a = api.certFor('node-a');
    const b = api.certFor('node-b');
    writeFileSync(join(dir, 'client.crt'), a.cert);
    writeFileSync(join(dir, 'client.key'), a.key);
    const c = mk(path, { clock, timeoutMs: 0 });
    assert.equal(await who(c), 'system:node:node-a');
    // a half-written rotation (new certificate, old key) cannot be used: the old pair stays
    writeFileSync(join(dir, 'client.crt'), b.cert);
    clock.advance(CERT_CHECK_MS);
    assert.equal(await who(c), 'system:node:node-a');
    writeFileSync(join(dir, 'client.key'), b.key);
    clock.advance(CERT_CHECK_MS - 1);
    assert.equal(await who(c), 'system:node:node-a', 'not checked again within the minute');
    assert.equal(c.stats().certRotations, 0);
    clock.advance(1);
    assert.equal(await who(c), 'system:node:node-b');
    assert.equal(c.stats().certRotations, 1);
  });

  it('throttles client-side with the token bucket on the injected clock (qps 1, burst 2)', async () => {
    const clock = new VirtualClock(0);
    const slow = mk(api.kubeconfigFor('node-a'), { qps: 1, burst: 2, clock, timeoutMs: 0 });
    await slow.ready();
    const before = api.requests.count({ verb: 'get', resource: 'nodes', user: 'system:node:node-a' });
    const calls = [slow.getNode('node-a'), slow.getNode('node-a'), slow.getNode('node-a')];
    await Promise.all(calls.slice(0, 2));
    await settle();
    assert.equal(
      api.requests.count({ verb: 'get', resource: 'nodes', user: 'system:node:node-a' }) - before,
      2,
      'the third waits',
    );
    assert.equal(slow.stats().throttled, 1);
    clock.advance(1000);
    await calls[2];
    assert.equal(api.requests.count({ verb: 'get', resource: 'nodes', user: 'system:node:node-a' }) - before, 3);
    // qps 0 disables throttling (upstream's heartbeat client, QPS -1)
    const free = mk(api.kubeconfigFor('node-a'), { qps: 0, clock });
    await Promise.all(Array.from({ length: 5 }, () => free.getNode('node-a')));
    assert.equal(free.stats().throttled, 0);
  });
});
