/**
 * pod-source-http (--manifest-url): the actor on the VirtualClock with a fake fetcher (first good
 * fetch → added + ready, changed body → updated / removed, a bad answer → one sourceError and the
 * pods kept, adoption after a restart), the shared parsing of a Pod or a v1 PodList, the real
 * fetcher against a local node:http server (headers, status, timeout, size cap), and the flags.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VirtualClock } from '../../kernel/clock.ts';
import { Bus } from '../../kernel/bus.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { parseManifestDocument, staticPodsFromDocument } from '../../protocols/kube/manifest.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { CONFIG_SEEN_ANNOTATION, CONFIG_SOURCE_ANNOTATION, staticPodUid } from '../../protocols/kube/static-pod.ts';
import type { ConfigEvent, DesiredPod } from '../../protocols/messages/channels.ts';
import '../../protocols/messages/channels.ts';
import {
  httpManifestFetcher,
  type FetchResponse,
  type HeaderMap,
  type ManifestFetcher,
} from '../../actors/pod-source-http/adapters.ts';
import { podSourceHttp } from '../../actors/pod-source-http/index.ts';
import { FlagError, parseFlags } from '../../bin/flags.ts';

const URL_ = 'http://config.example/pods';
const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

const podYaml = (name: string, image = 'busybox', extra = '') =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n${extra}spec:\n  containers:\n  - name: c\n    image: ${image}\n`;
const podList = (...items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items });
const item = (name: string, image = 'busybox', uid?: string) => ({
  metadata: { name, ...(uid ? { uid } : {}) },
  spec: { containers: [{ name: 'c', image }] },
});

/** Answers from a script; each get takes the next answer (the last one repeats). */
class FakeFetcher implements ManifestFetcher {
  answers: (FetchResponse | Error)[] = [];
  calls: { url: string; headers: HeaderMap }[] = [];
  async get(url: string, headers: HeaderMap): Promise<FetchResponse> {
    this.calls.push({ url, headers });
    const a = this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!;
    if (a instanceof Error) throw a;
    return a;
  }
}
const ok = (body: string): FetchResponse => ({ status: 200, statusText: 'OK', body });

async function start(answers: (FetchResponse | Error)[], opts: { bus?: Bus; headers?: HeaderMap } = {}) {
  const fetcher = new FakeFetcher();
  fetcher.answers = answers;
  const bus = opts.bus ?? new Bus();
  const config = collect(bus, 'config');
  const a = await startActor(
    podSourceHttp,
    { url: URL_, headers: opts.headers ?? {}, nodeName: 'node-a', fetcher },
    { bus },
  );
  await settle();
  return { a, fetcher, config };
}

const summary = (msgs: ConfigEvent[]) =>
  msgs.map((m) => {
    if (m.type === 'config.podsAdded' || m.type === 'config.podsUpdated' || m.type === 'config.podsRemoved') {
      return `${m.type.slice(7)}:${m.source}:${m.pods.map((p) => p.metadata.name).join(',')}`;
    }
    if (m.type === 'config.sourceError') return `error:${m.source}`;
    if (m.type === 'config.sourcesReady') return `ready:${m.source}`;
    return m.type;
  });

describe('pod-source-http actor (fake fetcher, virtual clock)', () => {
  it('first good fetch: the pods as static http pods, then sourcesReady; fetched again every 20s', async () => {
    const { a, fetcher, config } = await start([ok(podYaml('web'))]);
    assert.deepEqual(summary(config), ['podsAdded:http:web-node-a', 'ready:http']);
    const pod = (config[0] as { pods: Pod[] }).pods[0]!;
    assert.equal(pod.metadata.namespace, 'default');
    assert.equal(pod.spec.nodeName, 'node-a');
    assert.equal(pod.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION], 'http');
    const raw = parseManifestDocument(podYaml('web'), 'body');
    assert.ok(raw.kind === 'document');
    assert.equal(
      pod.metadata.uid,
      staticPodUid(raw.raw, { nodeName: 'node-a', source: 'http', path: URL_ }),
      'UID hashes the content and the URL',
    );
    assert.equal(pod.spec.tolerations, undefined, 'only file pods tolerate every NoExecute taint');
    await a.clock.advanceAsync(19_999);
    assert.equal(fetcher.calls.length, 1);
    await a.clock.advanceAsync(1);
    await a.clock.advanceAsync(20_000);
    assert.equal(fetcher.calls.length, 3);
    assert.deepEqual(summary(config), ['podsAdded:http:web-node-a', 'ready:http'], 'the same body changes nothing');
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('a changed body: an edited pod with a pinned uid is an update (first-seen kept), a changed one is remove + add, a dropped one removed', async () => {
    const { a, fetcher, config } = await start([
      ok(podList(item('web', 'busybox:1', 'pinned-uid'), item('db'), item('cache'))),
    ]);
    assert.deepEqual(summary(config), ['podsAdded:http:web-node-a,db-node-a,cache-node-a', 'ready:http']);
    const firstSeen = (config[0] as { pods: Pod[] }).pods[0]!.metadata.annotations?.[CONFIG_SEEN_ANNOTATION];
    config.length = 0;
    fetcher.answers = [ok(podList(item('web', 'busybox:2', 'pinned-uid'), item('db', 'postgres')))];
    await a.clock.advanceAsync(20_000);
    assert.deepEqual(summary(config), [
      'podsRemoved:http:db-node-a,cache-node-a',
      'podsAdded:http:db-node-a',
      'podsUpdated:http:web-node-a',
    ]);
    const web = (config[2] as { pods: Pod[] }).pods[0]!;
    assert.equal(web.spec.containers[0]!.image, 'busybox:2');
    assert.equal(web.metadata.annotations?.[CONFIG_SEEN_ANNOTATION], firstSeen);
    await a.stop();
  });

  it('HTTP 500, garbage, an invalid pod, a failed request: one sourceError naming the URL and cause each, the pods kept', async () => {
    const { a, fetcher, config } = await start([ok(podYaml('web'))]);
    config.length = 0;
    const step = async (answer: FetchResponse | Error) => {
      fetcher.answers = [answer];
      await a.clock.advanceAsync(20_000);
      const errs = config.filter((m) => m.type === 'config.sourceError');
      assert.ok(
        config.every((m) => m.type === 'config.sourceError'),
        `only errors: ${summary(config).join()}`,
      );
      config.length = 0;
      return errs;
    };
    const [e500] = await step({ status: 500, statusText: 'Internal Server Error', body: 'oops' });
    assert.deepEqual(e500, {
      type: 'config.sourceError',
      source: 'http',
      path: URL_,
      reason: 'HTTP 500 Internal Server Error: expected 200 OK',
    });
    assert.deepEqual(
      await step({ status: 500, statusText: 'Internal Server Error', body: 'oops' }),
      [],
      'reported once',
    );
    const [garbage] = await step(ok('apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n'));
    assert.match(garbage!.reason, /^line \d+, column \d+: /);
    const [invalid] = await step(ok(podYaml('web', '""')));
    assert.equal(invalid!.field, 'spec.containers[0].image');
    assert.match(invalid!.reason, /^line 8: spec\.containers\[0\]\.image: Required value/);
    const [badList] = await step(ok(podList(item('a'), item('b', ''))));
    assert.equal(badList!.field, 'items[1].spec.containers[0].image');
    const [dup] = await step(ok(podList(item('a'), item('a', 'other'))));
    assert.match(
      dup!.reason,
      /items\[1\]: duplicate pod name "a-node-a" in namespace "default": already defined by items\[0\]/,
    );
    const [kind] = await step(ok('apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n'));
    assert.match(kind!.reason, /^line 2: kind: Invalid value: "Deployment": expected a Pod or a v1 PodList/);
    const [net] = await step(new Error('connect ECONNREFUSED 127.0.0.1:80'));
    assert.equal(net!.reason, 'cannot fetch: connect ECONNREFUSED 127.0.0.1:80');
    const [empty] = await step(ok(''));
    assert.match(empty!.reason, /zero-length body/);
    // the last good set is still what pod-manager has; recovering with it changes nothing
    fetcher.answers = [ok(podYaml('web'))];
    await a.clock.advanceAsync(20_000);
    assert.deepEqual(config, []);
    assert.equal((a.inspect() as { error: string | null }).error, null);
    assert.deepEqual(
      (a.inspect() as { pods: { name: string }[] }).pods.map((p) => p.name),
      ['web-node-a'],
    );
    await a.stop();
  });

  it('not ready before a good fetch; a zero-length body counts as seen (upstream), with an error and no pods', async () => {
    const { a, fetcher, config } = await start([{ status: 404, statusText: 'Not Found', body: '' }]);
    assert.deepEqual(summary(config), ['error:http']);
    fetcher.answers = [ok('')];
    await a.clock.advanceAsync(20_000);
    assert.deepEqual(summary(config), ['error:http', 'error:http', 'ready:http']);
    fetcher.answers = [ok(podList())];
    await a.clock.advanceAsync(20_000);
    assert.deepEqual(
      summary(config),
      ['error:http', 'error:http', 'ready:http'],
      'an empty PodList: no pods, no error, ready once',
    );
    await a.stop();
  });

  it('a restarted instance adopts the http pods pod-manager holds: no re-add, and removes what the server dropped', async () => {
    const first = await start([ok(podList(item('web'), item('db')))]);
    const pods = (first.config[0] as { pods: Pod[] }).pods;
    await first.a.stop();
    const bus = new Bus();
    bus
      .port('podManager')
      .publish(
        'desiredPods',
        new Map<string, DesiredPod>(pods.map((p) => [p.metadata.uid, { pod: p, source: 'http', static: true }])),
      );
    const again = await start([ok(podList(item('web')))], { bus });
    assert.deepEqual(summary(again.config), ['podsRemoved:http:db-node-a', 'ready:http']);
    await again.a.stop();
  });

  it('sends the configured headers', async () => {
    const headers = { a: ['hello'], b: ['again', 'beautiful'] };
    const { a, fetcher } = await start([ok(podYaml('web'))], { headers });
    assert.deepEqual(fetcher.calls, [{ url: URL_, headers }]);
    assert.deepEqual(
      (a.inspect() as { headers: string[] }).headers,
      ['a', 'b'],
      'names only: values may be credentials',
    );
    await a.stop();
  });
});

describe('staticPodsFromDocument (protocols/kube/manifest.ts)', () => {
  const opts = { nodeName: 'node-a', source: 'http' as const, path: URL_, now: 0 };
  const read = (text: string) => {
    const d = parseManifestDocument(text, 'body');
    assert.ok(d.kind === 'document', JSON.stringify(d));
    return staticPodsFromDocument(d, opts);
  };
  it('a YAML PodList whose items omit kind/apiVersion; an empty list', () => {
    const r = read(
      'apiVersion: v1\nkind: PodList\nitems:\n- metadata:\n    name: a\n  spec:\n    containers:\n    - name: c\n      image: busybox\n',
    );
    assert.ok('pods' in r);
    assert.deepEqual(
      r.pods.map((p) => p.metadata.name),
      ['a-node-a'],
    );
    assert.deepEqual(read(podList()), { pods: [] });
  });
  it('refuses a PodList of another apiVersion and an item missing its name, naming the item', () => {
    assert.match(
      JSON.stringify(read(JSON.stringify({ apiVersion: 'v2', kind: 'PodList', items: [] }))),
      /a PodList must be apiVersion v1/,
    );
    const r = read(podList(item('a'), { spec: { containers: [{ name: 'c', image: 'x' }] } }));
    assert.ok(!('pods' in r));
    assert.equal(r.field, 'items[1].metadata.name');
    assert.match(r.reason, /items\[1\]\.metadata\.name: Required value: name is needed for the pod/);
  });
});

describe('httpManifestFetcher against a local HTTP server', () => {
  let server: Server;
  let base: string;
  let seen: IncomingHttpHeaders[] = [];
  let rawHeaders: string[][] = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      rawHeaders.push(req.rawHeaders);
      if (req.url === '/pods') {
        res.writeHead(200, { 'content-type': 'application/yaml' }).end(podYaml('web'));
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/pods' }).end();
      } else if (req.url === '/big') {
        res.writeHead(200);
        res.write('x'.repeat(2048));
        res.end('x'.repeat(2048));
      } else if (req.url === '/hang') {
        // never answers; the fetcher's deadline must end it
      } else {
        res.writeHead(404, 'Not Found').end('no such thing');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('GETs with every header value, follows a redirect, passes the status through', async () => {
    seen = [];
    rawHeaders = [];
    const f = httpManifestFetcher({ clock: new VirtualClock() });
    const res = await f.get(`${base}/moved`, { 'X-Token': ['abc'], b: ['again', 'beautiful'] });
    assert.equal(res.status, 200);
    assert.equal(res.body, podYaml('web'));
    assert.equal(seen.at(-1)!['x-token'], 'abc');
    assert.equal(seen.at(-1)!['b'], 'again, beautiful');
    const missing = await f.get(`${base}/nope`, {});
    assert.deepEqual([missing.status, missing.statusText, missing.body], [404, 'Not Found', 'no such thing']);
  });

  it('rejects on the clock deadline, over the size cap, and when nothing listens', async () => {
    const clock = new VirtualClock();
    const f = httpManifestFetcher({ clock, timeoutMs: 10_000, maxBytes: 3000 });
    const hang = f.get(`${base}/hang`, {});
    await settle(50);
    clock.advance(10_000);
    await assert.rejects(hang, /no answer within 10s/);
    await assert.rejects(f.get(`${base}/big`, {}), /body over the .* MiB limit/);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(f.get(`http://127.0.0.1:${port}/`, {}), /fetch failed: .*ECONNREFUSED|ECONNREFUSED/);
    assert.equal(clock.pending(), 0, 'every deadline timer cleared');
  });

  it('the actor end to end: the pods the server serves, with sourcesReady', async () => {
    const bus = new Bus();
    const config = collect(bus, 'config');
    const clock = new VirtualClock();
    const a = await startActor(
      podSourceHttp,
      {
        url: `${base}/pods`,
        headers: { a: ['1'] },
        nodeName: 'node-a',
        fetcher: httpManifestFetcher({ clock }),
        checkIntervalMs: 20_000,
      },
      { bus, clock },
    );
    try {
      for (let i = 0; i < 5000 && config.length < 2; i++) await new Promise<void>((r) => setImmediate(r));
      assert.deepEqual(summary(config), ['podsAdded:http:web-node-a', 'ready:http']);
    } finally {
      await a.stop();
    }
  });
});

describe('--manifest-url flags', () => {
  it("parses upstream's header format, repeated flags adding values", () => {
    const f = parseFlags([
      '--manifest-url',
      'https://cfg/pods',
      '--manifest-url-header',
      'a:hello,b:again,c:world',
      '--manifest-url-header=b:beautiful',
      '--http-check-frequency=5s',
    ]);
    assert.equal(f.manifestUrl, 'https://cfg/pods');
    assert.deepEqual(f.manifestUrlHeader, { a: ['hello'], b: ['again', 'beautiful'], c: ['world'] });
    assert.equal(f.httpCheckFrequencyMs, 5000);
    assert.deepEqual(parseFlags([]).manifestUrlHeader, {});
    assert.equal(parseFlags([]).httpCheckFrequencyMs, 20_000);
    assert.deepEqual(parseFlags(['--manifest-url-header', 'Authorization:Bearer a:b']).manifestUrlHeader, {
      Authorization: ['Bearer a:b'],
    });
  });
  it('refuses a malformed header pair and a URL that is not http(s)', () => {
    assert.throws(
      () => parseFlags(['--manifest-url-header', 'novalue']),
      (e: unknown) => e instanceof FlagError && /malformed pair "novalue"/.test(e.message),
    );
    assert.throws(() => parseFlags(['--manifest-url', 'file:///etc/pods']), /expected an http:\/\/ or https:\/\/ URL/);
    assert.throws(() => parseFlags(['--http-check-frequency', '0']), /must be positive/);
  });
});
