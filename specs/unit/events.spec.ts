/**
 * The events actor on the VirtualClock with a fake EventApi: Event shape (upstream makeEvent),
 * correlation (count patches, aggregation of similar messages, the per-object spam filter),
 * the write rate limit, retries while the API is down, the bounded queue, refusals, and
 * standalone logging.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, startActor } from '../../kernel/testing.ts';
import type { Logger } from '../../kernel/log.ts';
import { ApiError, type Event, type EventApi } from '../../protocols/kube/api.ts';
import '../../protocols/messages/channels.ts';
import { containerRef, EventReason, nodeRef, podRef, recordEvent } from '../../protocols/messages/events.ts';
import { events, type EventsDeps, type EventsStats } from '../../actors/events/index.ts';
import { EventCorrelator, eventName, Lru, makeEvent, metaTime } from '../../actors/events/logic.ts';

const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

interface Call {
  verb: 'create' | 'patch';
  at: number;
  ns: string;
  name: string;
  body: unknown;
}

class FakeEventApi implements EventApi {
  calls: Call[] = [];
  store = new Map<string, Event>();
  rv = 0;
  /** Next failures, consumed one per call. */
  failures: unknown[] = [];
  down = false;
  now: () => number = () => 0;

  #fail(verb: string, path: string): void {
    if (this.down) throw new ApiError(0, 'ConnectionError', verb, path, 'connect ECONNREFUSED 127.0.0.1:6443');
    const f = this.failures.shift();
    if (f) throw f;
  }
  async createEvent(ns: string, event: Event): Promise<Event> {
    this.calls.push({ verb: 'create', at: this.now(), ns, name: event.metadata.name, body: event });
    this.#fail('create', `/api/v1/namespaces/${ns}/events`);
    if (this.store.has(`${ns}/${event.metadata.name}`))
      throw new ApiError(409, 'AlreadyExists', 'create', '/events', 'exists');
    const e = { ...event, metadata: { ...event.metadata, resourceVersion: String(++this.rv) } };
    this.store.set(`${ns}/${e.metadata.name}`, e);
    return e;
  }
  async patchEvent(ns: string, name: string, patch: unknown): Promise<Event> {
    this.calls.push({ verb: 'patch', at: this.now(), ns, name, body: patch });
    this.#fail('patch', `/api/v1/namespaces/${ns}/events/${name}`);
    const cur = this.store.get(`${ns}/${name}`);
    if (!cur) throw new ApiError(404, 'NotFound', 'patch', `/events/${name}`, `events "${name}" not found`);
    const e = {
      ...cur,
      ...(patch as object),
      metadata: { ...cur.metadata, resourceVersion: String(++this.rv) },
    } as Event;
    this.store.set(`${ns}/${name}`, e);
    return e;
  }
}

async function start(deps: Partial<EventsDeps> & { api?: EventApi }, log?: Logger) {
  const a = await startActor(events, { nodeName: 'node-a', random: () => 0.5, ...deps }, log ? { log } : {});
  if (deps.api instanceof FakeEventApi) deps.api.now = () => a.clock.now();
  const send = (...recs: ReturnType<typeof recordEvent>[]) => {
    const port = a.bus.port('spec');
    for (const r of recs) port.send('events', r);
  };
  return { ...a, send, stats: () => a.inspect() as EventsStats & { lastError?: string } };
}

const pod = { metadata: { name: 'web', namespace: 'prod', uid: 'uid-1' } };

describe('events logic (client-go events_cache.go)', () => {
  it('makeEvent: upstream name, namespace, source, reporting fields, timestamps at second precision', () => {
    const e = makeEvent(
      recordEvent(containerRef(pod, 'nginx'), 'Normal', 'Pulling', 'Pulling image "nginx"'),
      { component: 'kubelet', host: 'node-a' },
      1_700_000_000_123,
      7,
    );
    assert.equal(e.metadata.name, `web.${(1_700_000_000_123n * 1_000_000n + 7n).toString(16)}`);
    assert.equal(e.metadata.namespace, 'prod');
    assert.deepEqual(e.involvedObject, {
      kind: 'Pod',
      namespace: 'prod',
      name: 'web',
      apiVersion: 'v1',
      uid: 'uid-1',
      fieldPath: 'spec.containers{nginx}',
    });
    assert.deepEqual(e.source, { component: 'kubelet', host: 'node-a' });
    assert.equal(e.reportingComponent, 'kubelet');
    assert.equal(e.reportingInstance, 'node-a');
    assert.equal(e.firstTimestamp, '2023-11-14T22:13:20Z');
    assert.equal(e.lastTimestamp, e.firstTimestamp);
    assert.equal(e.count, 1);
    const n = makeEvent(
      recordEvent(nodeRef('node-a'), 'Normal', EventReason.StartingKubelet, 'Starting kubelet.'),
      { component: 'kubelet', host: 'node-a' },
      0,
      0,
    );
    assert.equal(n.metadata.namespace, 'default', 'cluster-scoped objects get their events in default');
    assert.deepEqual(n.involvedObject, { kind: 'Node', name: 'node-a', uid: 'node-a', namespace: '' });
    assert.equal(metaTime(1999), '1970-01-01T00:00:01Z');
    assert.ok(eventName('x'.repeat(300), 0, 0).length <= 253);
  });

  it('observe: the same event again is a patch of count, lastTimestamp and message onto the first name', () => {
    const c = new EventCorrelator();
    const src = { component: 'kubelet', host: 'node-a' };
    const rec = recordEvent(podRef(pod), 'Warning', 'BackOff', 'Back-off restarting failed container');
    const r1 = c.correlate(makeEvent(rec, src, 1000, 0), 1000);
    assert.ok(!r1.skip && !r1.patch);
    c.updateState({ ...r1.event, metadata: { ...r1.event.metadata, resourceVersion: '5' } }, r1.key);
    const r2 = c.correlate(makeEvent(rec, src, 61_000, 1), 61_000);
    assert.ok(!r2.skip);
    assert.equal(r2.event.metadata.name, r1.event.metadata.name);
    assert.equal(r2.event.firstTimestamp, r1.event.firstTimestamp);
    assert.equal(r2.event.count, 2);
    assert.deepEqual(r2.patch, {
      count: 2,
      lastTimestamp: '1970-01-01T00:01:01Z',
      message: 'Back-off restarting failed container',
    });
  });

  it('Lru evicts the least recently used', () => {
    const l = new Lru<number>(2);
    l.set('a', 1);
    l.set('b', 2);
    l.get('a');
    l.set('c', 3);
    assert.equal(l.get('b'), undefined);
    assert.equal(l.get('a'), 1);
    assert.equal(l.size, 2);
  });
});

describe('events actor', () => {
  it('writes an Event, then counts repeats onto it with strategic-merge patches', async () => {
    const api = new FakeEventApi();
    const a = await start({ api });
    a.send(recordEvent(containerRef(pod, 'nginx'), 'Normal', EventReason.PullingImage, 'Pulling image "nginx:1.27"'));
    await settle();
    a.clock.advance(5000);
    a.send(recordEvent(containerRef(pod, 'nginx'), 'Normal', EventReason.PullingImage, 'Pulling image "nginx:1.27"'));
    await settle();
    assert.deepEqual(
      api.calls.map((c) => c.verb),
      ['create', 'patch'],
    );
    assert.equal(api.calls[1]!.name, api.calls[0]!.name);
    assert.deepEqual(api.calls[1]!.body, {
      count: 2,
      lastTimestamp: '1970-01-01T00:00:05Z',
      message: 'Pulling image "nginx:1.27"',
    });
    const stored = [...api.store.values()][0]!;
    assert.equal(stored.count, 2);
    assert.equal(stored.firstTimestamp, '1970-01-01T00:00:00Z');
    assert.equal(stored.source.host, 'node-a');
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('an expired Event (404 on the patch) is created again', async () => {
    const api = new FakeEventApi();
    const a = await start({ api });
    const rec = recordEvent(
      podRef(pod),
      'Warning',
      EventReason.BackOffStartContainer,
      'Back-off restarting failed container web in pod web_prod(uid-1)',
    );
    a.send(rec);
    await settle();
    api.store.clear();
    a.send(rec);
    await settle();
    assert.deepEqual(
      api.calls.map((c) => c.verb),
      ['create', 'patch', 'create'],
    );
    assert.equal((api.calls[2]!.body as Event).count, 2);
    assert.equal(
      (api.calls[2]!.body as Event).metadata.resourceVersion,
      undefined,
      'created without a resourceVersion',
    );
    await a.stop();
  });

  it('aggregates 10 similar events (same reason, different messages) into "(combined from similar events)"', async () => {
    const api = new FakeEventApi();
    const a = await start({ api });
    for (let i = 0; i < 12; i++) {
      a.send(recordEvent(podRef(pod), 'Warning', 'FailedMount', `MountVolume.SetUp failed for volume "v${i}"`));
      await settle();
      a.clock.advance(1000);
    }
    const creates = api.calls.filter((c) => c.verb === 'create');
    assert.equal(creates.length, 10, '9 distinct + 1 combined');
    const combined = creates[9]!.body as Event;
    assert.equal(combined.message, '(combined from similar events): MountVolume.SetUp failed for volume "v9"');
    const patches = api.calls.filter((c) => c.verb === 'patch');
    assert.deepEqual(
      patches.map((p) => (p.body as { count: number }).count),
      [2, 3],
    );
    assert.equal(patches[1]!.name, combined.metadata.name);
    assert.equal(
      (patches[1]!.body as { message: string }).message,
      '(combined from similar events): MountVolume.SetUp failed for volume "v11"',
    );
    await a.stop();
  });

  it('spam filter: 25 events per object, then one per 5 minutes', async () => {
    const api = new FakeEventApi();
    const a = await start({ api });
    for (let i = 0; i < 30; i++) a.send(recordEvent(podRef(pod), 'Normal', `Reason${i}`, 'm'));
    await settle(80);
    assert.equal(api.calls.length, 25);
    assert.equal(a.stats().skipped, 5);
    a.send(recordEvent(podRef({ metadata: { name: 'other', namespace: 'prod', uid: 'u2' } }), 'Normal', 'Other', 'm'));
    await settle();
    assert.equal(api.calls.length, 26, 'another object has its own budget');
    a.clock.advance(300_000);
    a.send(recordEvent(podRef(pod), 'Normal', 'Later1', 'm'), recordEvent(podRef(pod), 'Normal', 'Later2', 'm'));
    await settle();
    assert.equal(api.calls.length, 27);
    assert.equal(a.stats().skipped, 6);
    await a.stop();
  });

  it('rate limits writes with the token bucket (qps 1, burst 2)', async () => {
    const api = new FakeEventApi();
    const a = await start({ api, qps: 1, burst: 2 });
    for (let i = 0; i < 5; i++)
      a.send(
        recordEvent(
          podRef({ metadata: { name: `p${i}`, namespace: 'default', uid: `u${i}` } }),
          'Normal',
          'Scheduled',
          'x',
        ),
      );
    await settle();
    assert.equal(api.calls.length, 2);
    await a.clock.advanceAsync(1000);
    assert.equal(api.calls.length, 3);
    await a.clock.advanceAsync(2000);
    assert.equal(api.calls.length, 5);
    assert.deepEqual(
      api.calls.map((c) => c.at),
      [0, 0, 1000, 2000, 3000],
    );
    await a.stop();
  });

  it('API down: retries 12 tries 10s apart (first wait randomized), drops past the bounded queue, never crashes', async () => {
    const api = new FakeEventApi();
    api.down = true;
    const a = await start({ api, queueSize: 3, random: () => 0.25 });
    for (let i = 0; i < 6; i++)
      a.send(
        recordEvent(
          podRef({ metadata: { name: `p${i}`, namespace: 'default', uid: `u${i}` } }),
          'Normal',
          'Started',
          'Started container c',
        ),
      );
    await settle();
    // the first is being written (out of the queue), three wait, two are dropped
    assert.equal(a.stats().dropped, 2);
    assert.equal(a.stats().queued, 3);
    await a.clock.advanceAsync(2500);
    assert.deepEqual(
      api.calls.map((c) => c.at),
      [0, 2500],
      'first retry after 0.25 × 10s',
    );
    await a.clock.advanceAsync(100_000);
    const first = api.calls.filter((c) => c.name.startsWith('p0.'));
    assert.equal(first.length, 12, 'gave up on the first event after 12 tries');
    assert.deepEqual(
      first.map((c) => c.at),
      [0, 2500, ...Array.from({ length: 10 }, (_, i) => 12_500 + i * 10_000)],
    );
    assert.ok(
      api.calls.some((c) => c.name.startsWith('p1.')),
      'then the next one is tried',
    );
    assert.equal(a.stats().failed, 1);
    api.down = false;
    await a.clock.advanceAsync(10_000);
    await settle();
    assert.equal(api.store.size, 3, 'the queued ones are written once the API is back');
    assert.equal(a.stats().created, 3);
    assert.deepEqual(a.crashes, []);
    assert.equal(a.dead, false);
    await a.stop();
  });

  it('an event queued during an outage keeps the time it was recorded (name and timestamps), not the time it was written', async () => {
    const api = new FakeEventApi();
    api.down = true;
    const a = await start({ api, random: () => 0 });
    a.clock.advance(1_000);
    a.send(recordEvent(podRef(pod), 'Normal', 'Pulling', 'Pulling image "nginx"'));
    a.clock.advance(2_000);
    a.send(recordEvent(podRef(pod), 'Normal', 'Pulled', 'Successfully pulled image "nginx"'));
    await settle();
    await a.clock.advanceAsync(30_000);
    api.down = false;
    await a.clock.advanceAsync(10_000);
    await settle();
    const written = [...api.store.values()].sort((x, y) => x.firstTimestamp!.localeCompare(y.firstTimestamp!));
    assert.deepEqual(
      written.map((e) => [e.reason, e.firstTimestamp, e.lastTimestamp]),
      [
        ['Pulling', '1970-01-01T00:00:01Z', '1970-01-01T00:00:01Z'],
        ['Pulled', '1970-01-01T00:00:03Z', '1970-01-01T00:00:03Z'],
      ],
    );
    assert.ok(api.calls.filter((c) => c.verb === 'create').at(-1)!.at >= 40_000, 'written after the outage');
    assert.equal(written[0]!.metadata.name, eventName('web', 1_000, 0));
    assert.equal(written[1]!.metadata.name, eventName('web', 3_000, 1));
    await a.stop();
  });

  it('an event the server refuses (422) is abandoned at once', async () => {
    const api = new FakeEventApi();
    api.failures.push(
      new ApiError(
        422,
        'Invalid',
        'create',
        '/events',
        'Event "x" is invalid: involvedObject.namespace: Invalid value',
      ),
    );
    const a = await start({ api });
    a.send(recordEvent(podRef(pod), 'Normal', 'Started', 'a'), recordEvent(podRef(pod), 'Normal', 'Created', 'b'));
    await settle();
    assert.equal(api.calls.length, 2);
    assert.equal(a.stats().failed, 1);
    assert.equal(a.stats().created, 1);
    assert.match(a.stats().lastError!, /422 Invalid/);
    await a.stop();
  });

  it('standalone (no API): events are logged at -v=2 only', async () => {
    const lines: { msg: string; fields?: Record<string, unknown>; level?: number }[] = [];
    const log: Logger = {
      info: (msg, fields, level) => {
        lines.push({ msg, fields, level });
      },
      warn: () => {},
      error: () => {},
      child: () => log,
    };
    const a = await start({}, log);
    const seen = collect(a.bus, 'events');
    a.send(recordEvent(nodeRef('node-a'), 'Normal', EventReason.StartingKubelet, 'Starting kubelet.'));
    await settle();
    assert.equal(seen.length, 1);
    assert.deepEqual(lines, [
      {
        msg: 'Event occurred',
        fields: {
          object: 'node-a',
          fieldPath: undefined,
          kind: 'Node',
          apiVersion: undefined,
          type: 'Normal',
          reason: 'Starting',
          message: 'Starting kubelet.',
        },
        level: 2,
      },
    ]);
    assert.equal((a.inspect() as { mode: string }).mode, 'log-only');
    await a.stop();
  });
});
