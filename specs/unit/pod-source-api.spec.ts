/**
 * The API pod source (actors/pod-source-api) on the VirtualClock with a fake PodSourceApi: list →
 * podsAdded + sourcesReady, watch ADDED / MODIFIED / DELETED, status-only changes reconciled, resume
 * from the last resourceVersion (bookmarks included), reflector backoff, 410 → relist and diff,
 * mirror pods in the view only, restart adoption, bad input logged and skipped. Then the same
 * actor with the real client against the API server stand-in.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../kernel/bus.ts';
import { createLogger } from '../../kernel/log.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import {
  ApiError,
  type ListResult,
  type PodSourceApi,
  type WatchEvent,
  type WatchHandle,
} from '../../protocols/kube/api.ts';
import { createKubeApi, type KubeClient } from '../../adapters/kube/client.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { ConfigEvent, DesiredPod, MirrorPods } from '../../protocols/messages/channels.ts';
import { podSourceApi, type PodSourceApiDeps } from '../../actors/pod-source-api/index.ts';
import {
  failureOf,
  nextBackoff,
  initialBackoff,
  semantic,
  watchTimeoutSeconds,
} from '../../actors/pod-source-api/logic.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';

const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

const MIRROR = 'kubernetes.io/config.mirror';

function mkPod(
  name: string,
  o: { uid?: string; node?: string; image?: string; mirror?: boolean; ns?: string } = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      uid: o.uid ?? `uid-${name}`,
      ...(o.mirror ? { annotations: { [MIRROR]: 'hash-1' } } : {}),
    },
    spec: { nodeName: o.node ?? 'node-a', containers: [{ name: 'c', image: o.image ?? 'busybox:1.36' }] },
    status: { phase: 'Pending' },
  } as unknown as Pod;
}

interface FakeWatch {
  opts: Parameters<PodSourceApi['watchPods']>[0];
  at: number;
  onEvent: (e: WatchEvent<Pod>) => void;
  done: (err?: unknown) => void;
  ended: boolean;
  aborted: boolean;
}

/** A server of the pods bound to node-a: lists the current set, feeds events to the open watch. */
class FakePodApi implements PodSourceApi {
  pods = new Map<string, Pod>();
  rv = 100;
  lists: { at: number; opts: Parameters<PodSourceApi['listPods']>[0] }[] = [];
  watches: FakeWatch[] = [];
  listFailures: unknown[] = [];
  watchFailures: unknown[] = [];
  /** Until this clock time every request is refused (the server does not listen), as the client reports it. */
  refusedUntil = -Infinity;
  now: () => number = () => 0;

  #refused(verb: string): ApiError | undefined {
    return this.now() < this.refusedUntil
      ? new ApiError(0, 'ConnectionError', verb, '/api/v1/pods', 'connect ECONNREFUSED 127.0.0.1:6443')
      : undefined;
  }

  async listPods(opts: Parameters<PodSourceApi['listPods']>[0]): Promise<ListResult<Pod>> {
    this.lists.push({ at: this.now(), opts });
    const f = this.#refused('list') ?? this.listFailures.shift();
    if (f) throw f;
    return { items: [...this.pods.values()].map((p) => structuredClone(p)), resourceVersion: String(this.rv) };
  }

  async watchPods(
    opts: FakeWatch['opts'],
    onEvent: FakeWatch['onEvent'],
    done: FakeWatch['done'],
  ): Promise<WatchHandle> {
    const w: FakeWatch = { opts, at: this.now(), onEvent, done, ended: false, aborted: false };
    this.watches.push(w);
    const f = this.#refused('watch') ?? this.watchFailures.shift();
    if (f) {
      w.ended = true;
      throw f;
    }
    return {
      abort: () => {
        if (w.ended) return;
        w.ended = true;
        w.aborted = true;
        done();
      },
    };
  }

  get watch(): FakeWatch {
    const w = this.watches.at(-1);
    assert.ok(w && !w.ended, 'an open watch');
    return w;
  }

  send(e: WatchEvent<Pod>): void {
    this.watch.onEvent(e);
  }

  /** The server ends the open watch (cleanly, or with an error). */
  end(err?: unknown): void {
    const w = this.watch;
    w.ended = true;
    w.done(err);
  }

  /** Store a pod (new resourceVersion), optionally telling the open watch. */
  put(pod: Pod, tell = true): Pod {
    const type = this.pods.has(pod.metadata.uid) ? 'MODIFIED' : 'ADDED';
    const p = structuredClone(pod);
    p.metadata.resourceVersion = String(++this.rv);
    this.pods.set(p.metadata.uid, p);
    if (tell) this.send({ type, object: structuredClone(p) });
    return p;
  }

  remove(uid: string, tell = true): void {
    const p = this.pods.get(uid)!;
    this.pods.delete(uid);
    const gone = { ...structuredClone(p), metadata: { ...p.metadata, resourceVersion: String(++this.rv) } };
    if (tell) this.send({ type: 'DELETED', object: gone });
  }
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    verbosity: 0,
    now: () => 0,
    sink: {
      write: (l, s) =>
        lines.push({
          ...(JSON.parse(l) as Record<string, unknown>),
          level: ({ I: 'info', W: 'warn', E: 'error' } as const)[s],
        }),
    },
  });
  return { log, lines };
}

async function start(api: FakePodApi, o: { deps?: Partial<PodSourceApiDeps>; bus?: Bus } = {}) {
  const bus = o.bus ?? new Bus();
  const config = collect(bus, 'config');
  const mirrors = collect(bus, 'mirrorPods');
  const { log, lines } = capture();
  const a = await startActor(podSourceApi, { api, nodeName: 'node-a', random: () => 0, ...o.deps }, { bus, log });
  api.now = () => a.clock.now();
  await settle();
  return { a, config, mirrors, lines };
}

const names = (ps: Pod[]) => ps.map((p) => p.metadata.name);
/** The config messages as [type, names] (sourcesReady as [type]). */
function summary(msgs: ConfigEvent[]): unknown[] {
  return msgs.map((m) => ('pods' in m ? [m.type, names(m.pods)] : [m.type]));
}

describe('pod-source-api: reflector rules (pure)', () => {
  it('watch timeouts are 5 to 10 minutes, like client-go', () => {
    assert.equal(
      watchTimeoutSeconds(() => 0),
      300,
    );
    assert.equal(
      watchTimeoutSeconds(() => 0.5),
      450,
    );
    assert.equal(
      watchTimeoutSeconds(() => 0.9999),
      599,
    );
  });

  it('backoff: 800 ms doubling to 30 s, up to 100% jitter, reset 2 minutes after the last one started', () => {
    let b = initialBackoff();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      const n = nextBackoff(b, i * 1000, () => 0);
      delays.push(n.delayMs);
      b = n.state;
    }
    assert.deepEqual(delays, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    assert.equal(nextBackoff(b, 7000 + 120_000, () => 0).delayMs, 30000, 'exactly 2 minutes: not reset yet');
    assert.equal(nextBackoff(b, 7000 + 120_001, () => 0).delayMs, 800);
    assert.equal(nextBackoff(initialBackoff(), 0, () => 0.5).delayMs, 1200);
  });

  it('backoff while the API server does not answer (refused, reset, timed out) is capped at 2 s plus jitter; an answered failure doubles on to 30 s', () => {
    const refused = new ApiError(0, 'ConnectionError', 'watch', '/api/v1/pods', 'connect ECONNREFUSED 127.0.0.1:6443');
    assert.equal(failureOf(refused), 'unanswered');
    assert.equal(
      failureOf(new ApiError(0, 'Timeout', 'list', '/api/v1/pods', 'no answer within 60000ms')),
      'unanswered',
    );
    for (const answered of [
      new ApiError(500, 'InternalError', 'watch', '/p', 'boom'),
      new ApiError(429, 'TooManyRequests', 'watch', '/p', 'slow'),
      new ApiError(410, 'Expired', 'watch', '/p', 'too old'),
      new ApiError(0, 'InvalidKubeconfig', 'list', '/p', 'no server'),
      new Error('very short watch'),
    ]) {
      assert.equal(failureOf(answered), 'answered', answered.message);
    }
    for (const jitter of [0, 0.5, 0.9999]) {
      let b = initialBackoff();
      const delays: number[] = [];
      for (let i = 0; i < 8; i++) {
        const n = nextBackoff(b, i * 1000, () => jitter, 'unanswered');
        delays.push(n.delayMs);
        b = n.state;
      }
      assert.deepEqual(
        delays.map((d) => Math.round(d / (1 + jitter))),
        [800, 1600, 2000, 2000, 2000, 2000, 2000, 2000],
      );
      assert.ok(Math.max(...delays) <= 4000, `every retry within 4 s (jitter ${jitter}): ${delays}`);
      // the server answers again, with errors: the backoff doubles on from there to 30 s
      const answered: number[] = [];
      for (let i = 0; i < 6; i++) {
        const n = nextBackoff(b, 10_000 + i * 1000, () => 0, 'answered');
        answered.push(n.delayMs);
        b = n.state;
      }
      assert.deepEqual(answered, [2000, 4000, 8000, 16000, 30000, 30000]);
    }
  });

  it("semantic(): status, resourceVersion and the kubelet's own annotations are not what the kubelet acts on", () => {
    const a = mkPod('a');
    const b = structuredClone(a);
    b.status = { phase: 'Running' };
    b.metadata.resourceVersion = '7';
    b.metadata.annotations = { 'kubernetes.io/config.seen': 'x', 'kubernetes.io/config.source': 'api' };
    assert.equal(semantic(a), semantic(b));
    b.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u' }];
    assert.notEqual(semantic(a), semantic(b));
  });
});

describe('pod-source-api actor on virtual time', () => {
  it('lists the pods bound to the node, emits podsAdded then sourcesReady once, and watches from the list resourceVersion', async () => {
    const api = new FakePodApi();
    api.put(mkPod('web'), false);
    api.put(mkPod('db'), false);
    const { a, config } = await start(api, { deps: { random: () => 0.5 } });
    assert.deepEqual(
      api.lists.map((l) => l.opts),
      [{ fieldSelector: 'spec.nodeName=node-a' }],
    );
    assert.deepEqual(summary(config), [['config.podsAdded', ['web', 'db']], ['config.sourcesReady']]);
    const added = (config[0] as { pods: Pod[] }).pods[0]!;
    assert.equal(added.metadata.annotations?.['kubernetes.io/config.source'], 'api');
    assert.ok(added.metadata.annotations?.['kubernetes.io/config.seen']);
    assert.equal(added.spec.containers[0]!.imagePullPolicy, 'IfNotPresent', 'v1 defaults applied');
    assert.equal(added.spec.terminationGracePeriodSeconds, 30);
    assert.equal(config[1]!.type === 'config.sourcesReady' && config[1]!.source, 'api');
    assert.deepEqual(api.watch.opts, {
      fieldSelector: 'spec.nodeName=node-a',
      resourceVersion: '102',
      allowWatchBookmarks: true,
      timeoutSeconds: 450,
    });
    const ins = a.inspect() as Record<string, unknown>;
    assert.equal(ins.resourceVersion, '102');
    assert.equal(ins.watching, true);
    assert.equal(ins.lists, 1);
    assert.equal(ins.watches, 1);
    assert.equal(ins.pods, 2);
    assert.equal(ins.mirrorPods, 0);
    await a.stop();
    assert.equal(api.watches[0]!.aborted, true, 'stop aborts the watch');
  });

  it('an empty node is ready too', async () => {
    const api = new FakePodApi();
    const { a, config } = await start(api);
    assert.deepEqual(summary(config), [['config.sourcesReady']]);
    await a.stop();
  });

  it('watch ADDED / MODIFIED (spec) / DELETED become podsAdded / podsUpdated / podsRemoved; the RV follows every event', async () => {
    const api = new FakePodApi();
    const { a, config } = await start(api);
    config.length = 0;
    api.put(mkPod('web'));
    const changed = mkPod('web', { image: 'busybox:1.37' });
    api.put(changed);
    api.remove('uid-web');
    assert.deepEqual(summary(config), [
      ['config.podsAdded', ['web']],
      ['config.podsUpdated', ['web']],
      ['config.podsRemoved', ['web']],
    ]);
    const upd = (config[1] as { pods: Pod[] }).pods[0]!;
    assert.equal(upd.spec.containers[0]!.image, 'busybox:1.37');
    assert.equal(
      upd.metadata.annotations?.['kubernetes.io/config.seen'],
      (config[0] as { pods: Pod[] }).pods[0]!.metadata.annotations?.['kubernetes.io/config.seen'],
      'an update keeps the first-seen time',
    );
    assert.equal((a.inspect() as { resourceVersion: string }).resourceVersion, '103');
    await a.stop();
  });

  it('a status-only MODIFIED is no update but a reconcile (upstream RECONCILE) with the new status; nothing for an unchanged status; deletionTimestamp, labels and grace are updates', async () => {
    const api = new FakePodApi();
    api.put(mkPod('web'), false);
    const { a, config } = await start(api);
    const seen = (config[0] as { pods: Pod[] }).pods[0]!.metadata.annotations?.['kubernetes.io/config.seen'];
    config.length = 0;
    a.clock.advance(5000);
    const p = structuredClone(api.pods.get('uid-web')!);
    p.status = {
      phase: 'Running',
      podIP: '10.0.0.5',
      conditions: [{ type: 'Ready', status: 'True' }],
    } as Pod['status'];
    api.put(p);
    assert.deepEqual(summary(config), [['config.podsReconciled', ['web']]]);
    const rec = (config[0] as { pods: Pod[] }).pods[0]!;
    assert.deepEqual(rec.status, p.status, 'the new status');
    assert.equal(rec.metadata.resourceVersion, '102');
    assert.equal(rec.metadata.annotations?.['kubernetes.io/config.seen'], seen, 'first-seen time kept');
    assert.equal(rec.metadata.annotations?.['kubernetes.io/config.source'], 'api');
    assert.equal((a.inspect() as { resourceVersion: string }).resourceVersion, '102');
    config.length = 0;
    api.put(structuredClone(api.pods.get('uid-web')!)); // a new resourceVersion, same status
    assert.deepEqual(config, [], 'nothing changed that the kubelet keeps');

    const l = structuredClone(api.pods.get('uid-web')!);
    l.metadata.labels = { app: 'web' };
    api.put(l);
    const d = structuredClone(api.pods.get('uid-web')!);
    d.metadata.deletionTimestamp = '2025-01-01T00:00:30Z';
    d.metadata.deletionGracePeriodSeconds = 30;
    api.put(d);
    assert.deepEqual(summary(config), [
      ['config.podsUpdated', ['web']],
      ['config.podsUpdated', ['web']],
    ]);
    const last = (config[1] as { pods: Pod[] }).pods[0]!;
    assert.equal(last.metadata.deletionTimestamp, '2025-01-01T00:00:30Z');
    assert.equal(last.metadata.deletionGracePeriodSeconds, 30);
    await a.stop();
  });

  it("a watch that ends cleanly is resumed from the last resourceVersion, a bookmark's included, without a relist", async () => {
    const api = new FakePodApi();
    const { a } = await start(api);
    assert.equal(api.watch.opts.resourceVersion, '100');
    api.put(mkPod('web'));
    a.clock.advance(60_000);
    api.rv = 250; // other objects changed meanwhile: the bookmark carries the newest resourceVersion
    api.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '250' } } });
    api.end();
    await settle();
    assert.equal(api.watches.length, 2);
    assert.equal(api.watch.opts.resourceVersion, '250');
    assert.equal(api.watch.at, 60_000, 'at once, no backoff');
    api.put(mkPod('db'));
    a.clock.advance(300_000);
    api.end();
    await settle();
    assert.equal(api.watch.opts.resourceVersion, '251');
    assert.equal(api.lists.length, 1, 'never relisted');
    await a.stop();
  });

  it('a watch that ends at once without an event counts as a failure (no hot loop)', async () => {
    const api = new FakePodApi();
    const { a } = await start(api);
    api.end();
    await settle();
    assert.equal(api.watches.length, 1, 'backing off');
    await a.clock.advanceAsync(800);
    await settle();
    assert.equal(api.watches.length, 2);
    assert.equal(api.watch.opts.resourceVersion, '100');
    await a.stop();
  });

  it('failures back off 800 ms doubling to 30 s and retry from the last resourceVersion; a list failure retries the list', async () => {
    const api = new FakePodApi();
    api.listFailures.push(
      new ApiError(0, 'ConnectionError', 'list', '/api/v1/pods', 'connect ECONNREFUSED 127.0.0.1:6443'),
    );
    const { a, config, lines } = await start(api);
    assert.equal(api.lists.length, 1);
    assert.deepEqual(config, []);
    assert.match(String(lines.find((l) => l.level === 'warn')?.msg), /list pods failed/);
    await a.clock.advanceAsync(799);
    assert.equal(api.lists.length, 1);
    await a.clock.advanceAsync(1);
    await settle();
    assert.equal(api.lists.length, 2);
    assert.deepEqual(summary(config), [['config.sourcesReady']]);

    api.put(mkPod('web')); // rv 101
    const t0 = a.clock.now();
    api.watchFailures.push(
      new ApiError(500, 'InternalError', 'watch', '/api/v1/pods', 'boom'),
      new ApiError(429, 'TooManyRequests', 'watch', '/api/v1/pods', 'slow down'),
      new ApiError(0, 'Timeout', 'watch', '/api/v1/pods', 'no answer'),
      new ApiError(0, 'ConnectionError', 'watch', '/api/v1/pods', 'ECONNRESET'),
      new ApiError(503, 'ServiceUnavailable', 'watch', '/api/v1/pods', 'down'),
      new ApiError(500, 'InternalError', 'watch', '/api/v1/pods', 'boom'),
      new ApiError(500, 'InternalError', 'watch', '/api/v1/pods', 'boom'),
    );
    a.clock.advance(130_000); // a healthy watch of over 2 minutes (the backoff resets), then the server goes away
    api.end(new ApiError(0, 'ConnectionError', 'watch', '/api/v1/pods', 'watch stream closed'));
    for (let i = 0; i < 10; i++) await a.clock.advanceAsync(1000);
    for (let i = 0; i < 120; i++) await a.clock.advanceAsync(1000);
    const attempts = api.watches.slice(1).map((w) => w.at - t0 - 130_000);
    // stream lost (no answer) → 0.8s → (500) 1.6s → (429) 3.2s → (timeout: no answer, capped) 2s →
    // (ECONNRESET, capped) 2s → (503: answered again, doubling on) 2s → (500) 4s → (500) 8s → open
    assert.deepEqual(attempts.slice(0, 8), [800, 2400, 5600, 7600, 9600, 11600, 15600, 23600]);
    assert.ok(
      api.watches.slice(1).every((w) => w.opts.resourceVersion === '101'),
      'always from the last resourceVersion',
    );
    assert.equal(api.lists.length, 2, 'no relist for transient failures');
    assert.match(String((a.inspect() as { lastError: string }).lastError), /500 InternalError/);
    assert.equal(a.crashes.length, 0);

    // after 2 minutes without a failure the backoff starts again at 800 ms
    a.clock.advance(200_000);
    api.end(new ApiError(0, 'ConnectionError', 'watch', '/api/v1/pods', 'closed'));
    const n = api.watches.length;
    await a.clock.advanceAsync(800);
    await settle();
    assert.equal(api.watches.length, n + 1);
    await a.stop();
  });

  it('defect 6: after the API server refused every request for 65 s, the watch is back within 5 s of it answering', async () => {
    for (const jitter of [0, 0.5, 0.9999]) {
      const api = new FakePodApi();
      api.put(mkPod('web'), false);
      const { a, config } = await start(api, { deps: { random: () => jitter } });
      api.put(mkPod('db')); // the watch works
      const down = a.clock.now();
      api.refusedUntil = down + 65_000;
      api.end(new ApiError(0, 'ConnectionError', 'watch', '/api/v1/pods', 'socket hang up'));
      while (a.clock.now() < api.refusedUntil) await a.clock.advanceAsync(100);
      const n = api.watches.length;
      while (api.watches.length === n && a.clock.now() < api.refusedUntil + 120_000) await a.clock.advanceAsync(100);
      const back = api.watch;
      assert.ok(
        back.at - api.refusedUntil <= 5000,
        `the watch is back ${back.at - api.refusedUntil} ms after the API server answers (jitter ${jitter})`,
      );
      assert.ok(n > 15, `retried all along (${n} watches; jitter ${jitter})`);
      assert.equal(back.opts.resourceVersion, '102', 'from the last resourceVersion, no relist');
      assert.equal(api.lists.length, 1);
      // and it works: a pod bound after the outage arrives
      api.put(mkPod('late'));
      assert.deepEqual(summary(config).at(-1), ['config.podsAdded', ['late']]);
      await a.stop();
    }
  });

  it('a watch that worked starts the backoff over; a list that works before a watch that fails at once does not (no relist storm)', async () => {
    const api = new FakePodApi();
    const { a, lines } = await start(api);
    const gone = (): WatchEvent<Pod> => ({
      type: 'ERROR',
      object: { code: 410, reason: 'Expired', message: 'too old' },
    });
    // 410 at once, five times: list, 410, backoff, list, ... keeps doubling
    const listedAt: number[] = [];
    for (let i = 0; i < 5; i++) {
      api.send(gone());
      const lists = api.lists.length;
      while (api.lists.length === lists) await a.clock.advanceAsync(100);
      listedAt.push(api.lists.at(-1)!.at);
      await settle();
    }
    const gaps = listedAt.slice(1).map((t, i) => t - listedAt[i]!);
    assert.deepEqual(
      gaps.map((g) => Math.floor(g / 100) * 100),
      [1600, 3200, 6400, 12800],
    );
    // the watch works (an event), then fails: 800 ms again
    api.put(mkPod('web'));
    const w = api.watches.length;
    const t = a.clock.now();
    api.end(new ApiError(500, 'InternalError', 'watch', '/api/v1/pods', 'boom'));
    while (api.watches.length === w) await a.clock.advanceAsync(100);
    assert.equal(api.watch.at - t, 800);
    // warned once per cause; its repeats at -v=2 only (not written at -v=0)
    const warns = lines.filter((l) => l.level === 'warn').map((l) => `${String(l.msg)} ${String(l.err)}`);
    assert.equal(warns.filter((m) => /410 Gone/.test(m)).length, 1, warns.join('\n'));
    assert.equal(warns.filter((m) => /boom/.test(m)).length, 1);
    await a.stop();
  });

  it('410 Gone relists from scratch and emits the difference: a pod deleted meanwhile is removed', async () => {
    const api = new FakePodApi();
    api.put(mkPod('keep'), false);
    api.put(mkPod('vanish'), false);
    const { a, config } = await start(api);
    config.length = 0;
    // while the watch missed them: one pod deleted, one created, one changed only in status
    api.remove('uid-vanish', false);
    api.put(mkPod('new'), false);
    const k = structuredClone(api.pods.get('uid-keep')!);
    k.status = { phase: 'Running' };
    api.put(k, false);
    api.send({
      type: 'ERROR',
      object: { code: 410, reason: 'Expired', message: 'too old resource version: 102 (150)' },
    });
    await settle();
    assert.equal(api.watches[0]!.aborted, true, 'the watch is stopped on its ERROR');
    assert.equal(api.lists.length, 1, 'relist waits for the backoff');
    await a.clock.advanceAsync(800);
    await settle();
    assert.equal(api.lists.length, 2);
    assert.deepEqual(
      api.lists[1]!.opts,
      { fieldSelector: 'spec.nodeName=node-a' },
      'a consistent list, not from the old resourceVersion',
    );
    assert.deepEqual(summary(config), [
      ['config.podsRemoved', ['vanish']],
      ['config.podsAdded', ['new']],
      ['config.podsReconciled', ['keep']],
    ]);
    assert.equal((config[2] as { pods: Pod[] }).pods[0]!.status?.phase, 'Running');
    assert.equal(api.watch.opts.resourceVersion, String(api.rv), 'watching from the new list');

    // a 410 when the watch is opened also relists (backoff 1.6 s: the second in 2 minutes)
    api.watchFailures.push(new ApiError(410, 'Gone', 'watch', '/api/v1/pods', 'gone'));
    a.clock.advance(5000);
    api.end();
    await settle();
    await a.clock.advanceAsync(1600);
    await settle();
    assert.equal(api.lists.length, 3);
    assert.equal((a.inspect() as { relistsAfterGone: number }).relistsAfterGone, 2);
    await a.stop();
  });

  it('a watch ERROR that is not 410 backs off and watches again from the last resourceVersion', async () => {
    const api = new FakePodApi();
    const { a } = await start(api);
    api.put(mkPod('web'));
    api.send({ type: 'ERROR', object: { code: 500, reason: 'InternalError', message: 'etcd hiccup' } });
    await settle();
    await a.clock.advanceAsync(800);
    await settle();
    assert.equal(api.watches.length, 2);
    assert.equal(api.watch.opts.resourceVersion, '101');
    assert.equal(api.lists.length, 1);
    await a.stop();
  });

  it('mirror pods go to the mirrorPods view only ("namespace/name"), never on config', async () => {
    const api = new FakePodApi();
    const bus = new Bus();
    const views = collect(bus, 'mirrorPods');
    api.put(mkPod('etcd-node-a', { mirror: true, ns: 'kube-system' }), false);
    api.put(mkPod('web'), false);
    const { a, config } = await start(api, { bus });
    assert.deepEqual(
      views.map((v) => [...v.keys()]),
      [['kube-system/etcd-node-a']],
      'published once, from the first list',
    );
    const cur = () => bus.port('spec').current('mirrorPods') as MirrorPods;
    assert.deepEqual([...cur().keys()], ['kube-system/etcd-node-a']);
    assert.deepEqual(summary(config), [['config.podsAdded', ['web']], ['config.sourcesReady']]);
    config.length = 0;
    api.put(mkPod('api-node-a', { mirror: true, ns: 'kube-system' }));
    assert.deepEqual([...cur().keys()].sort(), ['kube-system/api-node-a', 'kube-system/etcd-node-a']);
    api.remove('uid-etcd-node-a');
    assert.deepEqual([...cur().keys()], ['kube-system/api-node-a']);
    assert.deepEqual(config, []);
    assert.equal((a.inspect() as { mirrorPods: number }).mirrorPods, 1);
    await a.stop();
  });

  it('no mirrorPods view before the first list succeeds (mirror-pods must not read "no mirrors"); an empty list publishes an empty one', async () => {
    const api = new FakePodApi();
    api.put(mkPod('etcd', { mirror: true }), false);
    api.listFailures.push(new ApiError(503, 'ServiceUnavailable', 'list', '/api/v1/pods', 'down'));
    const bus = new Bus();
    const { a } = await start(api, { bus });
    assert.equal(bus.port('spec').current('mirrorPods'), undefined, 'the list failed: no view yet');
    await a.clock.advanceAsync(800);
    await settle();
    assert.deepEqual([...(bus.port('spec').current('mirrorPods') ?? new Map()).keys()], ['default/etcd']);
    await a.stop();

    const empty = new FakePodApi();
    const bus2 = new Bus();
    const second = await start(empty, { bus: bus2 });
    assert.equal(bus2.port('spec').current('mirrorPods')?.size, 0, 'listed: the node has no mirror pods');
    await second.a.stop();
  });

  it('a restarted instance adopts the api pods in desiredPods: its first list emits only the real difference', async () => {
    const api = new FakePodApi();
    const first = await start(api);
    api.put(mkPod('stay'));
    api.put(mkPod('gone'));
    api.put(mkPod('etcd', { mirror: true }));
    // pod-manager's view as it would be, plus a file pod that is not ours
    const bus = first.a.bus;
    const desired = new Map<string, DesiredPod>();
    for (const m of first.config)
      if (m.type === 'config.podsAdded')
        for (const p of m.pods) desired.set(p.metadata.uid, { pod: p, source: 'api', static: false });
    desired.set('file-uid', { pod: mkPod('static-web', { uid: 'file-uid' }), source: 'file', static: true });
    bus.port('podManager').publish('desiredPods', desired);
    await first.a.stop();

    api.remove('uid-gone', false);
    api.put(mkPod('fresh'), false);
    const s = structuredClone(api.pods.get('uid-stay')!);
    s.status = { phase: 'Running' };
    api.put(s, false);
    const mirrorViews = collect(bus, 'mirrorPods');
    const second = await start(api, { bus });
    assert.deepEqual(summary(second.config), [
      ['config.podsRemoved', ['gone']],
      ['config.podsAdded', ['fresh']],
      ['config.podsReconciled', ['stay']],
      ['config.sourcesReady'],
    ]);
    assert.ok(
      mirrorViews.every((v) => v.has('default/etcd')),
      'the mirror view never blinks empty',
    );
    await second.a.stop();
  });

  it('a pod that cannot be parsed is logged by name and skipped; the others are unaffected; odd events never crash it', async () => {
    const api = new FakePodApi();
    const bad = mkPod('bad') as unknown as { spec: { containers: unknown } };
    bad.spec.containers = 'not-a-list';
    api.pods.set('uid-bad', bad as unknown as Pod);
    api.put(mkPod('good'), false);
    const { a, config, lines } = await start(api);
    assert.deepEqual(summary(config), [['config.podsAdded', ['good']], ['config.sourcesReady']]);
    const err = lines.find((l) => l.level === 'error');
    assert.match(String(err?.msg), /api pod default\/bad: .*spec\.containers/);
    config.length = 0;

    // a good pod turning bad keeps its last good spec; odd events are skipped
    const broken = structuredClone(api.pods.get('uid-good')!) as unknown as { spec: { containers: unknown } };
    broken.spec.containers = 42;
    api.put(broken as unknown as Pod);
    api.send({ type: 'WHATEVER', object: {} } as unknown as WatchEvent<Pod>);
    api.send(null as unknown as WatchEvent<Pod>);
    api.send({ type: 'MODIFIED', object: 'garbage' } as unknown as WatchEvent<Pod>);
    api.put(mkPod('later'));
    assert.deepEqual(summary(config), [['config.podsAdded', ['later']]]);
    assert.match(
      String(lines.filter((l) => l.level === 'error').at(1)?.msg),
      /default\/good: .*keeping its last good spec/,
    );
    assert.equal(a.crashes.length, 0);
    assert.equal(a.dead, false);
    await a.stop();
  });
});

describe('pod-source-api: a DELETED event whose object cannot be parsed', () => {
  const broken = (p: Pod): Pod => {
    const b = structuredClone(p) as unknown as { spec: { containers: unknown } };
    b.spec.containers = 42;
    return b as unknown as Pod;
  };

  it('still removes the pod by its uid (it must not keep running) and says so', async () => {
    const api = new FakePodApi();
    api.put(mkPod('web'), false);
    api.put(mkPod('db'), false);
    const { a, config, lines } = await start(api);
    config.length = 0;
    const gone = api.pods.get('uid-web')!;
    api.pods.delete('uid-web');
    api.send({ type: 'DELETED', object: { ...broken(gone), metadata: { ...gone.metadata, resourceVersion: '150' } } });
    assert.deepEqual(summary(config), [['config.podsRemoved', ['web']]]);
    assert.equal(
      (config[0] as { pods: Pod[] }).pods[0]!.spec.containers[0]!.image,
      'busybox:1.36',
      'the version pod-manager holds',
    );
    assert.match(
      String(lines.filter((l) => l.level === 'error').at(-1)?.msg),
      /default\/web: DELETED event cannot be used: .*spec\.containers.*removed/,
    );
    assert.equal((a.inspect() as { resourceVersion: string }).resourceVersion, '150');
    assert.equal((a.inspect() as { pods: number }).pods, 1);
    // the watch goes on: a later pod of the same name is a new pod
    api.put(mkPod('web', { uid: 'uid-web-2' }));
    assert.deepEqual(summary(config).at(-1), ['config.podsAdded', ['web']]);
    await a.stop();
  });

  it('removes a mirror pod from the view by namespace/name when its uid matches', async () => {
    const api = new FakePodApi();
    api.put(mkPod('etcd', { mirror: true, ns: 'kube-system' }), false);
    const bus = new Bus();
    const { a, config } = await start(api, { bus });
    const cur = () => bus.port('spec').current('mirrorPods') as MirrorPods;
    assert.deepEqual([...cur().keys()], ['kube-system/etcd']);
    // a DELETED of another object of that name (a stale uid) leaves the mirror alone
    api.send({ type: 'DELETED', object: broken(mkPod('etcd', { mirror: true, ns: 'kube-system', uid: 'older' })) });
    assert.deepEqual([...cur().keys()], ['kube-system/etcd']);
    const m = api.pods.get('uid-etcd')!;
    api.pods.delete('uid-etcd');
    api.send({ type: 'DELETED', object: broken(m) });
    assert.deepEqual([...cur().keys()], []);
    assert.deepEqual(summary(config), [['config.sourcesReady']], 'mirror pods never reach config');
    await a.stop();
  });

  it('without a uid, by namespace/name; with neither, skipped', async () => {
    const api = new FakePodApi();
    api.put(mkPod('web'), false);
    const { a, config, lines } = await start(api);
    config.length = 0;
    api.send({ type: 'DELETED', object: { metadata: {} } } as unknown as WatchEvent<Pod>);
    api.send({ type: 'DELETED', object: 'garbage' } as unknown as WatchEvent<Pod>);
    assert.deepEqual(config, []);
    api.send({
      type: 'DELETED',
      object: { metadata: { namespace: 'default', name: 'web' }, spec: 7 },
    } as unknown as WatchEvent<Pod>);
    assert.deepEqual(summary(config), [['config.podsRemoved', ['web']]]);
    assert.equal(a.crashes.length, 0);
    assert.ok(lines.some((l) => /DELETED event cannot be used: .*skipped/.test(String(l.msg))));
    await a.stop();
  });
});

describe('pod-source-api with the real client against the API server stand-in', () => {
  let server: ApiServer;
  let client: KubeClient;
  before(async () => {
    server = await startApiServer({ nodes: ['node-a', 'node-b'], bookmarkIntervalMs: 0 });
    client = createKubeApi(server.kubeconfigFor('node-a'));
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  /** Yields to I/O until `pred` holds (real sockets; the actor's own time is virtual). */
  async function until(pred: () => boolean, what: string, rounds = 20_000): Promise<void> {
    for (let i = 0; i < rounds && !pred(); i++) await new Promise<void>((r) => setImmediate(r));
    assert.ok(pred(), `timed out waiting for ${what}`);
  }
  const podObj = (name: string, node: string, mirror = false) => ({
    metadata: { name, namespace: 'default', ...(mirror ? { annotations: { [MIRROR]: 'h' } } : {}) },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] },
  });

  it("pods bound to the node arrive, other nodes' never; a closed watch resumes without a relist; a compacted history relists", async () => {
    server.store.create('pods', podObj('p1', 'node-a'));
    server.store.create('pods', podObj('x1', 'node-b'));
    server.store.create('pods', podObj('static-node-a', 'node-a', true));
    const bus = new Bus();
    const config = collect(bus, 'config');
    const a = await startActor(podSourceApi, { api: client, nodeName: 'node-a', random: () => 0 }, { bus });
    try {
      const seen = () => config.flatMap((m) => (m.type === 'config.podsAdded' ? names(m.pods) : []));
      const removed = () => config.flatMap((m) => (m.type === 'config.podsRemoved' ? names(m.pods) : []));
      await until(() => config.some((m) => m.type === 'config.sourcesReady'), 'sourcesReady');
      assert.deepEqual(seen(), ['p1']);
      assert.deepEqual([...(bus.port('spec').current('mirrorPods') ?? new Map()).keys()], ['default/static-node-a']);
      await until(() => server.watchersCount() === 1, 'the watch');

      server.store.create('pods', podObj('p2', 'node-a'));
      server.store.create('pods', podObj('x2', 'node-b'));
      await until(() => seen().includes('p2'), 'p2');
      server.bookmarkNow();
      await until(
        () => (a.inspect() as { resourceVersion: string }).resourceVersion === String(server.store.resourceVersion),
        'the bookmark',
      );

      // the apiserver closes the watch: watch again from the last resourceVersion, no list
      const rvBefore = (a.inspect() as { resourceVersion: string }).resourceVersion;
      server.closeWatches();
      await until(
        () => server.requests.count({ verb: 'watch' }) === 2 && server.watchersCount() === 1,
        'the second watch',
      );
      assert.equal(server.requests.last({ verb: 'watch' })!.query.resourceVersion, rvBefore);
      assert.equal(server.requests.count({ verb: 'list' }), 1);
      server.store.create('pods', podObj('p3', 'node-a'));
      await until(() => seen().includes('p3'), 'p3');

      // watches refused while p1 is deleted, p4 created and the history compacted: 410 → relist
      const refuse = server.faults.set({ mode: 'refuse', verb: 'watch' });
      server.closeWatches();
      await until(() => (a.inspect() as { phase: string }).phase === 'backoff', 'the backoff');
      server.store.delete('pods', 'default', 'p1', { gracePeriodSeconds: 0 });
      server.store.create('pods', podObj('p4', 'node-a'));
      server.store.compact();
      refuse.clear();
      for (let i = 0; i < 10 && server.requests.count({ verb: 'list' }) < 2; i++) {
        await a.clock.advanceAsync(2000);
        await settle(200);
      }
      await until(() => seen().includes('p4'), 'p4 after the relist');
      assert.equal(server.requests.count({ verb: 'list' }), 2);
      assert.equal((a.inspect() as { relistsAfterGone: number }).relistsAfterGone, 1, 'through a 410');
      assert.deepEqual(removed(), ['p1']);
      assert.deepEqual(seen(), ['p1', 'p2', 'p3', 'p4'], 'p2 and p3 not added again; nothing from node-b');
      assert.equal(a.crashes.length, 0);
    } finally {
      await a.stop();
    }
  });
});
