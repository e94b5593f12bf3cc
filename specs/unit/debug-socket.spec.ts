/**
 * The debug socket on a real unix socket in a temp dir, with a real Bus, a fake supervisor
 * (inspect snapshots as data) and the real podWorker machine for `graph`. Time comes from a
 * VirtualClock; the only waiting is on socket I/O.
 */
import { eventually, sleep } from '../support/wait.ts';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import {
  machineToMermaid,
  parseRequest,
  startDebugSocket,
  toJsonSafe,
  type ActorInfo,
  type DebugSocket,
} from '../../kernel/debug-socket.ts';
import { fromPromise, setup } from 'xstate';
import { podWorkerMachine } from '../../actors/pod-workers/machine.ts';
import { renderActors, renderChannels, renderPod, runInspect, parseInspectArgs } from '../../bin/inspect.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { podCommand } from '../../bin/debug-pod.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** What bin/kubelet.ts registers besides the kernel's commands (channels is specified in channels.spec.ts). */
const COMMANDS = { pod: podCommand };

// ---------------------------------------------------------------------------------------------
// Fixtures

const WEB_UID = 'uid-web-1';

/** The runtime's backoff for the web pod: its container crash-looping, its image pull backing off. */
function fakeBackoff(now: number) {
  return {
    [WEB_UID]: [
      { container: 'web', kind: 'crashLoop', delayMs: 40_000, retryAt: now + 25_000 },
      { container: 'web', kind: 'imagePull', image: 'nginx', delayMs: 20_000, retryAt: null },
    ],
  };
}

function fakeActors(clock: VirtualClock): ActorInfo[] {
  const now = clock.now();
  return [
    {
      id: 'statusManager',
      state: 'running',
      restarts: 0,
      lastError: null,
      lastErrorAt: null,
      startedAt: 0,
      uptimeMs: now,
      dependsOn: [],
      inspect: { pods: 1 },
    },
    {
      id: 'runtime',
      state: 'running',
      restarts: 2,
      lastError: 'CRI Unavailable: connection refused',
      lastErrorAt: now - 5000,
      startedAt: now - 3000,
      uptimeMs: 3000,
      dependsOn: [],
      inspect: { health: 'ok', busy: { [WEB_UID]: 'runtime.syncPod' }, backoff: fakeBackoff(now) },
    },
    {
      id: 'podWorkers',
      state: 'running',
      restarts: 0,
      lastError: null,
      lastErrorAt: null,
      startedAt: 0,
      uptimeMs: now,
      dependsOn: ['runtime'],
      inspect: {
        workers: [
          {
            uid: WEB_UID,
            pod: 'default/web',
            state: 'syncing.working',
            seq: 3,
            inFlight: 'sync',
            pending: 'update',
            nextSyncAt: now + 10_000,
            lastSyncError: 'ImagePullBackOff',
            history: [
              { at: now - 2000, state: 'syncing.working', cause: 'create:config.add' },
              { at: now - 1000, state: 'syncing.idle', cause: 'create:config.add' },
              { at: now, state: 'syncing.working', cause: 'sync:tick.resync' },
            ],
          },
          {
            uid: 'uid-db-1',
            pod: 'kube-system/db',
            state: 'terminated.idle',
            seq: 7,
            inFlight: null,
            pending: null,
            nextSyncAt: null,
            lastSyncError: null,
            history: [],
          },
        ],
      },
    },
    {
      id: 'syncLoop',
      state: 'restarting',
      restarts: 1,
      lastError: 'boom',
      lastErrorAt: now,
      startedAt: null,
      uptimeMs: 0,
      dependsOn: ['podWorkers'],
      inspect: { mailboxDepth: 4, dispatched: 9 },
    },
  ];
}

class Client {
  readonly socket: Socket;
  #buf = '';
  #lines: string[] = [];
  #waiters: ((l: string) => void)[] = [];
  readonly closed: Promise<void>;

  constructor(path: string) {
    this.socket = createConnection(path);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (c: string) => {
      this.#buf += c;
      let nl;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const l = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        const w = this.#waiters.shift();
        if (w) w(l);
        else this.#lines.push(l);
      }
    });
    this.closed = once(this.socket, 'close').then(() => undefined);
  }

  async ready(): Promise<this> {
    await once(this.socket, 'connect');
    return this;
  }

  send(text: string): void {
    this.socket.write(text);
  }

  line(): Promise<string> {
    const l = this.#lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      this.#waiters.push(resolve);
      this.socket.once('close', () => reject(new Error('closed before a line arrived')));
    });
  }

  async json(): Promise<Record<string, unknown>> {
    return JSON.parse(await this.line()) as Record<string, unknown>;
  }

  async ask(text: string): Promise<Record<string, unknown>> {
    this.send(text.endsWith('\n') ? text : text + '\n');
    return this.json();
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Socket I/O is real: wait (bounded) for the server to observe it. */
async function until(cond: () => boolean, what: string): Promise<void> {
  await eventually(() => cond(), 2000, what, 5);
}

interface Fixture {
  dir: string;
  path: string;
  bus: Bus;
  clock: VirtualClock;
  actors: ActorInfo[];
  crashed: string[];
  ds: DebugSocket;
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kts-dbg-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function fixture(extra: { maxBufferedBytes?: number } = {}): Promise<Fixture> {
  const dir = await tempDir();
  const path = join(dir, 'kubelet-ts.sock');
  const bus = new Bus();
  const clock = new VirtualClock(1_700_000_000_000);
  const f = { dir, path, bus, clock, actors: fakeActors(clock), crashed: [] as string[] } as Fixture;
  // Channels exist once someone uses them, as in the daemon.
  bus
    .port('test')
    .events('pleg')
    .subscribe(() => {});
  bus.port('status').publish(
    'podStatuses',
    new Map([
      [
        WEB_UID,
        {
          phase: 'Pending',
          containerStatuses: [
            {
              name: 'web',
              ready: false,
              restartCount: 3,
              image: 'nginx',
              imageID: '',
              state: {
                waiting: {
                  reason: 'CrashLoopBackOff',
                  message: 'back-off 40s restarting failed container=web pod=web_default(uid-web-1)',
                },
              },
            },
          ],
        },
      ],
    ]) as never,
  );
  f.ds = await startDebugSocket({
    path,
    bus,
    clock,
    log: silentLogger,
    source: {
      inspect: () => f.actors,
      crash: (id: string) => {
        f.crashed.push(id);
      },
    },
    machines: { podWorker: podWorkerMachine },
    commands: COMMANDS,
    ...extra,
  });
  return f;
}

const open: DebugSocket[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});
async function started(extra: { maxBufferedBytes?: number } = {}): Promise<Fixture> {
  const f = await fixture(extra);
  open.push(f.ds);
  return f;
}

// ---------------------------------------------------------------------------------------------

describe('parseRequest', () => {
  it('accepts both syntaxes and keeps the id', () => {
    assert.deepEqual(parseRequest('actors', COMMANDS), { ok: true, req: { cmd: 'actors' } });
    assert.deepEqual(parseRequest('  pod default/web \r', COMMANDS), {
      ok: true,
      req: { cmd: 'pod', pod: 'default/web' },
    });
    assert.deepEqual(parseRequest('{"cmd":"tail","channel":"pleg","id":7}', COMMANDS), {
      ok: true,
      req: { cmd: 'tail', channel: 'pleg', id: 7 },
    });
    assert.deepEqual(parseRequest('{"cmd":"graph","machine":"podWorker","id":"g"}', COMMANDS), {
      ok: true,
      req: { cmd: 'graph', machine: 'podWorker', id: 'g' },
    });
  });

  it('names what is wrong', () => {
    assert.deepEqual(parseRequest('foo', COMMANDS), {
      ok: false,
      error: 'unknown command "foo"; try actors, pod, tail, graph, crash',
    });
    assert.deepEqual(parseRequest('{"cmd":"foo","id":1}', COMMANDS), {
      ok: false,
      id: 1,
      error: 'unknown command "foo"; try actors, pod, tail, graph, crash',
    });
    assert.match((parseRequest('{"cmd":', COMMANDS) as { error: string }).error, /^invalid JSON request: /);
    assert.match((parseRequest('[1,2]', COMMANDS) as { error: string }).error, /must be a JSON object/);
    assert.match((parseRequest('"actors"', COMMANDS) as { error: string }).error, /must be a JSON object/);
    assert.match((parseRequest('{"id":3}', COMMANDS) as { error: string }).error, /no "cmd"/);
    assert.match((parseRequest('{"cmd":"pod"}', COMMANDS) as { error: string }).error, /pod needs "pod"/);
    assert.match(
      (parseRequest('{"cmd":"actors","id":{}}', COMMANDS) as { error: string }).error,
      /"id" must be a string or a number/,
    );
    assert.match((parseRequest('pod', COMMANDS) as { error: string }).error, /pod needs exactly one argument/);
    assert.match((parseRequest('tail a b', COMMANDS) as { error: string }).error, /tail needs exactly one argument/);
    assert.match((parseRequest('actors now', COMMANDS) as { error: string }).error, /actors takes no argument/);
  });

  it('knows only the built-in commands and the registered ones', () => {
    assert.deepEqual(parseRequest('pod default/web'), {
      ok: false,
      error: 'unknown command "pod"; try actors, tail, graph, crash',
    });
    const commands = { ...COMMANDS, channels: { answer: () => 1 } };
    assert.deepEqual(parseRequest('channels', commands), { ok: true, req: { cmd: 'channels' } });
    assert.deepEqual(parseRequest('{"cmd":"channels","id":2}', commands), {
      ok: true,
      req: { cmd: 'channels', id: 2 },
    });
    assert.match((parseRequest('channels now', commands) as { error: string }).error, /channels takes no argument/);
    assert.equal(
      (parseRequest('x', commands) as { error: string }).error,
      'unknown command "x"; try actors, pod, channels, tail, graph, crash',
    );
  });
});

describe('toJsonSafe', () => {
  it('turns any payload into JSON', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    const shared = { x: 1 };
    const v = toJsonSafe({
      map: new Map([
        ['a', 1],
        ['__proto__', 2],
      ]),
      objKeys: new Map([[{ k: 1 }, 'v']]),
      set: new Set(['s']),
      buf: Buffer.from('hello'),
      u8: new Uint8Array([1, 2, 3]),
      err: new Error('disk full'),
      big: 12n,
      nan: Number.NaN,
      date: new Date(0),
      fn: () => 1,
      undef: undefined,
      arr: [undefined, () => 1, 1],
      cyclic,
      twice: [shared, shared],
    });
    const round = JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
    assert.deepEqual(round, {
      map: { a: 1, ['__proto__']: 2 },
      objKeys: [[{ k: 1 }, 'v']],
      set: ['s'],
      buf: Buffer.from('hello').toString('base64'),
      u8: 'AQID',
      err: 'disk full',
      big: '12',
      nan: null,
      date: '1970-01-01T00:00:00.000Z',
      arr: [null, null, 1],
      cyclic: { n: 1, self: '[Circular]' },
      twice: [{ x: 1 }, { x: 1 }],
    });
  });
});

describe('machineToMermaid', () => {
  it('renders the podWorker machine: nesting, initial, final, guards, after, always', () => {
    const text = machineToMermaid(podWorkerMachine);
    const lines = text.split('\n').map((l) => l.trim());
    assert.equal(lines[0], 'stateDiagram-v2');
    for (const expected of [
      '[*] --> syncing',
      'state syncing {',
      '[*] --> syncing_idle',
      'state "idle" as syncing_idle',
      'syncing_idle --> syncing_working : UPDATE',
      'syncing_idle --> terminating : UPDATE [isKill]',
      'syncing_working --> syncing_idle : SYNCED [currentSeq]',
      'syncing_working --> terminating : SYNCED [terminalResult]',
      'syncing_working --> syncing_working : RESEND',
      'terminating_retryWait --> terminating_killing : after 10s',
      'terminated_settling --> terminated_idle : always',
      'terminated_settling --> terminated_removing : always [guard]',
      'terminated_removing --> done : REMOVED [currentSeq]',
      'done --> [*]',
    ])
      assert.ok(lines.includes(expected), `missing line: ${expected}\n${text}`);
    // Edges inside one composite are written inside it; cross-composite ones at the top level.
    const inner = text.indexOf('    syncing_idle --> syncing_working : UPDATE');
    assert.ok(inner > 0 && inner < text.indexOf('state terminating {'));
    assert.ok(text.indexOf('  syncing_idle --> terminating : UPDATE [isKill]') > text.lastIndexOf('}'));
    // Balanced braces, no internal xstate.after event names leak.
    assert.equal((text.match(/\{/g) ?? []).length, (text.match(/\}/g) ?? []).length);
    assert.doesNotMatch(text, /xstate\./);
  });
});

describe('machineToMermaid on other shapes', () => {
  it('renders parallel regions, history, onDone, invoke results, named and numeric delays, wildcards', () => {
    const m = setup({
      delays: { slow: 5000 },
      actors: { fetcher: fromPromise(async () => 1) },
      guards: { ok: () => true },
    }).createMachine({
      id: 'demo',
      initial: 'a',
      states: {
        a: { on: { GO: 'b', '*': { target: 'c' } }, after: { slow: 'c', 250: { target: 'b', guard: 'ok' } } },
        b: {
          type: 'parallel',
          states: {
            left: { initial: 'l1', states: { l1: { on: { NEXT: 'l2' } }, l2: { type: 'final' } } },
            right: {
              initial: 'r1',
              states: {
                r1: { invoke: { src: 'fetcher', onDone: 'r2', onError: 'r1' } },
                r2: { type: 'final' },
                hist: { type: 'history', history: 'deep' },
              },
            },
          },
          onDone: 'c',
        },
        c: { type: 'final' },
      },
    });
    const text = machineToMermaid(m);
    const lines = text.split('\n').map((l) => l.trim());
    for (const expected of [
      '[*] --> a',
      'state b {',
      'state b_left {',
      '--',
      'state b_right {',
      '[*] --> b_right_r1',
      'b_left_l2 --> [*]',
      'state "H*" as b_right_hist',
      'b_left_l1 --> b_left_l2 : NEXT',
      'b_right_r1 --> b_right_r2 : done: fetcher',
      'b_right_r1 --> b_right_r1 : error: fetcher',
      'a --> b : GO',
      'a --> c : *',
      'a --> b : after 250ms [ok]',
      'a --> c : after slow',
      'b --> c : onDone',
      'c --> [*]',
    ])
      assert.ok(lines.includes(expected), `missing line: ${expected}\n${text}`);
    // A parallel state has no initial arrow of its own.
    assert.ok(!lines.includes('[*] --> b_left'));
  });
});

describe('debug socket', () => {
  it('answers actors in both syntaxes, echoing the id, with mailbox depth', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    const text = await c.ask('actors');
    assert.equal(text.ok, true);
    assert.equal('id' in text, false);
    const r = await c.ask('{"cmd":"actors","id":"a1"}');
    assert.equal(r.ok, true);
    assert.equal(r.id, 'a1');
    assert.deepEqual(text.result, r.result);
    const result = r.result as { at: number; actors: Record<string, unknown>[] };
    assert.equal(result.at, f.clock.now());
    assert.deepEqual(
      result.actors.map((a) => [a.id, a.state, a.restarts, a.mailboxDepth]),
      [
        ['statusManager', 'running', 0, 0],
        ['runtime', 'running', 2, 0],
        ['podWorkers', 'running', 0, 0],
        ['syncLoop', 'restarting', 1, 4],
      ],
    );
    const rt = result.actors[1]!;
    assert.equal(rt.lastError, 'CRI Unavailable: connection refused');
    assert.equal(rt.uptimeMs, 3000);
    assert.deepEqual(result.actors[2]!.dependsOn, ['runtime']);
    assert.deepEqual(rt.inspect, {
      health: 'ok',
      busy: { [WEB_UID]: 'runtime.syncPod' },
      backoff: fakeBackoff(f.clock.now()),
    });
    c.close();
  });

  it('injects a crash into a running actor; an unknown or stopped actor is an error line', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    assert.deepEqual(await c.ask('{"cmd":"crash","actor":"runtime","id":9}'), {
      ok: true,
      id: 9,
      result: { actor: 'runtime', crashed: true },
    });
    assert.deepEqual(f.crashed, ['runtime']);
    const unknown = await c.ask('crash nope');
    assert.equal(unknown.ok, false);
    assert.match(String(unknown.error), /unknown actor "nope"; known actors: statusManager, runtime/);
    const restarting = await c.ask('crash syncLoop');
    assert.match(String(restarting.error), /syncLoop is restarting, not running/);
    assert.deepEqual(f.crashed, ['runtime']);
    c.close();
  });

  it('answers pod by uid, by namespace/name and by a unique name; an unknown pod is an error line', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    const byUid = await c.ask(`pod ${WEB_UID}`);
    const byName = await c.ask('{"cmd":"pod","pod":"default/web","id":2}');
    const byShort = await c.ask('pod web');
    assert.equal(byName.id, 2);
    assert.deepEqual(byUid.result, byName.result);
    assert.deepEqual(byUid.result, byShort.result);
    const p = byUid.result as Record<string, unknown>;
    assert.equal(p.uid, WEB_UID);
    assert.equal(p.pod, 'default/web');
    assert.equal(p.state, 'syncing.working');
    assert.equal(p.seq, 3);
    assert.equal(p.inFlight, 'sync');
    assert.equal(p.pending, 'update');
    assert.equal(p.nextSyncAt, f.clock.now() + 10_000);
    assert.equal(p.nextSyncInMs, 10_000);
    assert.equal(p.lastSyncError, 'ImagePullBackOff');
    assert.deepEqual(p.runtime, { busy: 'runtime.syncPod' });
    assert.equal(p.phase, 'Pending');
    assert.deepEqual(p.containers, [
      {
        name: 'web',
        kind: 'app',
        state: 'waiting',
        reason: 'CrashLoopBackOff',
        message: 'back-off 40s restarting failed container=web pod=web_default(uid-web-1)',
        restartCount: 3,
        ready: false,
      },
    ]);
    // The backoff deadlines, against the daemon's clock.
    assert.deepEqual(p.backoff, [
      {
        container: 'web',
        kind: 'crashLoop',
        image: null,
        delayMs: 40_000,
        retryAt: f.clock.now() + 25_000,
        retryInMs: 25_000,
      },
      { container: 'web', kind: 'imagePull', image: 'nginx', delayMs: 20_000, retryAt: null, retryInMs: null },
    ]);
    assert.equal((p.history as unknown[]).length, 3);
    assert.deepEqual((p.history as Record<string, unknown>[])[0], {
      at: f.clock.now() - 2000,
      state: 'syncing.working',
      cause: 'create:config.add',
    });

    // Time moves: the deadline is reported against the daemon's clock.
    f.clock.advance(4000);
    const later = (await c.ask('pod default/web')).result as Record<string, unknown>;
    assert.equal(later.nextSyncInMs, 6000);

    const db = (await c.ask('pod kube-system/db')).result as Record<string, unknown>;
    assert.deepEqual(
      [db.state, db.runtime, db.containers, db.phase, db.backoff],
      ['terminated.idle', { busy: null }, [], null, []],
    );

    const missing = await c.ask('{"cmd":"pod","pod":"default/nope","id":9}');
    assert.equal(missing.ok, false);
    assert.equal(missing.id, 9);
    assert.match(String(missing.error), /no pod worker for "default\/nope".*known: default\/web, kube-system\/db/);
    c.close();
  });

  it('pod explains a podWorkers actor that is not running', async () => {
    const f = await started();
    f.actors = f.actors.map((a) => (a.id === 'podWorkers' ? { ...a, state: 'restarting', inspect: undefined } : a));
    const c = await new Client(f.path).ready();
    const r = await c.ask('pod default/web');
    assert.deepEqual(r, { ok: false, error: 'podWorkers is restarting: its pod workers cannot be inspected now' });
    c.close();
  });

  it('answers graph with Mermaid; an unknown machine is an error naming the known ones', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    const r = await c.ask('graph podWorker');
    assert.equal(r.ok, true);
    const g = r.result as { machine: string; format: string; text: string };
    assert.equal(g.machine, 'podWorker');
    assert.equal(g.format, 'mermaid');
    assert.equal(g.text, machineToMermaid(podWorkerMachine));
    const bad = await c.ask('{"cmd":"graph","machine":"nope","id":1}');
    assert.deepEqual(bad, { ok: false, id: 1, error: 'unknown machine "nope"; known machines: podWorker' });
    c.close();
  });

  it('answers malformed and unknown input with an error line, then serves the next request', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    const errors = [
      ['{"cmd": "actors"', /^invalid JSON request/],
      ['[1]', /must be a JSON object/],
      ['null', /unknown command "null"/],
      ['{"id":5}', /no "cmd"/],
      ['{"cmd":"tail"}', /tail needs "channel"/],
      ['{"cmd":"foo"}', /^unknown command "foo"; try actors, pod, tail, graph, crash$/],
      ['foo bar', /^unknown command "foo"; try actors, pod, tail, graph, crash$/],
    ] as const;
    for (const [input, re] of errors) {
      const r = await c.ask(input);
      assert.equal(r.ok, false, input);
      assert.match(String(r.error), re, input);
    }
    // Empty lines are ignored, not answered.
    c.send('\n\r\n');
    assert.equal((await c.ask('actors')).ok, true);
    assert.equal(f.ds.stats().requests, errors.length + 1);
    c.close();
  });

  it('caps a request line at 64 KiB: a 1 MB line without newline gets one error, then the connection serves on', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    c.send('x'.repeat(1024 * 1024));
    const r = await c.json();
    assert.deepEqual(r, { ok: false, error: 'request line longer than 65536 bytes' });
    // More of the same line, its end, then a real request.
    c.send('y'.repeat(100_000) + '\nactors\n');
    const next = await c.json();
    assert.equal(next.ok, true);
    assert.ok(Array.isArray((next.result as { actors: unknown[] }).actors));
    // A long line that arrives whole in one write is refused too.
    c.send('{"cmd":"pod","pod":"' + 'p'.repeat(70_000) + '"}\npod default/web\n');
    assert.deepEqual(await c.json(), { ok: false, error: 'request line longer than 65536 bytes' });
    assert.equal((await c.json()).ok, true);
    c.close();
  });

  it('serves many clients at once', async () => {
    const f = await started();
    const clients = await Promise.all(Array.from({ length: 40 }, () => new Client(f.path).ready()));
    const answers = await Promise.all(
      clients.map(async (c, i) => {
        c.send(`{"cmd":"actors","id":${i}}\n{"cmd":"graph","machine":"podWorker","id":${i}}\npod default/web\n`);
        return [await c.json(), await c.json(), await c.json()];
      }),
    );
    answers.forEach(([a, g, p], i) => {
      assert.equal(a!.id, i);
      assert.equal(a!.ok, true);
      assert.equal(g!.id, i);
      assert.equal(p!.ok, true);
    });
    assert.equal(f.ds.stats().connections, 40);
    for (const c of clients) c.close();
    await until(() => f.ds.stats().connections === 0, 'all clients to be gone');
  });

  it('tails a channel: every message, JSON-safe, stamped with clock time; unsubscribes when the client leaves', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    // The answer says the subscription is live; messages follow.
    assert.deepEqual(await c.ask('{"cmd":"tail","channel":"pleg","id":"t"}'), {
      ok: true,
      id: 't',
      result: { channel: 'pleg', subscribed: true },
    });
    assert.equal(f.ds.stats().tails, 1);
    const port = f.bus.port('pleg');
    port.send('pleg', { type: 'pleg.containerDied', podUid: WEB_UID, containerId: 'c1' } as never);
    f.clock.advance(1500);
    port.send('pleg', {
      type: 'pleg.containerStarted',
      podUid: WEB_UID,
      containerId: 'c2',
      extra: new Map([['k', Buffer.from('v')]]),
    } as never);
    const first = await c.json();
    const second = await c.json();
    assert.deepEqual(first, {
      ok: true,
      id: 't',
      channel: 'pleg',
      at: 1_700_000_000_000,
      msg: { type: 'pleg.containerDied', podUid: WEB_UID, containerId: 'c1' },
    });
    assert.deepEqual(second, {
      ok: true,
      id: 't',
      channel: 'pleg',
      at: 1_700_000_001_500,
      msg: { type: 'pleg.containerStarted', podUid: WEB_UID, containerId: 'c2', extra: { k: 'dg==' } },
    });
    // Other requests still work on a tailing connection.
    assert.equal((await c.ask('actors')).id, undefined);

    c.close();
    await until(() => f.ds.stats().tails === 0, 'the tail to unsubscribe');
    assert.equal(f.ds.stats().connections, 0);
    // Sending after the client left reaches nobody and breaks nothing.
    port.send('pleg', { type: 'pleg.containerDied', podUid: WEB_UID, containerId: 'c3' } as never);
  });

  it('tails a view from its current value; an unknown channel is an error listing the known ones', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    assert.deepEqual(await c.ask('tail podStatuses'), {
      ok: true,
      result: { channel: 'podStatuses', subscribed: true },
    });
    const v = await c.json();
    assert.equal(v.channel, 'podStatuses');
    assert.equal((v.msg as Record<string, { phase: string }>)[WEB_UID]!.phase, 'Pending');
    const bad = await c.ask('tail nope');
    assert.deepEqual(bad, { ok: false, error: 'unknown channel "nope"; known channels: pleg, podStatuses' });
    c.close();
  });

  it('many tail clients each get every message; half of them leaving leaks no subscription', async () => {
    const f = await started();
    const clients = await Promise.all(Array.from({ length: 20 }, () => new Client(f.path).ready()));
    for (const c of await Promise.all(clients.map((c) => c.ask('tail pleg')))) assert.equal(c.ok, true);
    assert.equal(f.ds.stats().tails, 20);
    const port = f.bus.port('pleg');
    port.send('pleg', { type: 'pleg.containerDied', podUid: 'u', containerId: 'a' } as never);
    for (const c of clients) assert.equal(((await c.json()).msg as { containerId: string }).containerId, 'a');
    for (const c of clients.slice(0, 10)) c.close();
    await until(() => f.ds.stats().tails === 10, '10 tails');
    port.send('pleg', { type: 'pleg.containerDied', podUid: 'u', containerId: 'b' } as never);
    for (const c of clients.slice(10)) assert.equal(((await c.json()).msg as { containerId: string }).containerId, 'b');
    for (const c of clients.slice(10)) c.close();
    await until(() => f.ds.stats().tails === 0 && f.ds.stats().connections === 0, 'no tails');
  });

  it('drops tail messages for a client that stops reading, counts them, and tells it later', async () => {
    const f = await started({ maxBufferedBytes: 64 * 1024 });
    const c = await new Client(f.path).ready();
    assert.equal((await c.ask('tail pleg')).ok, true);
    c.socket.pause();
    const port = f.bus.port('pleg');
    const big = 'z'.repeat(8 * 1024);
    const total = 2000; // 16 MB if it were all buffered
    for (let i = 0; i < total; i++)
      port.send('pleg', { type: 'pleg.containerChanged', podUid: 'u', containerId: String(i), big } as never);
    const dropped = f.ds.stats().dropped;
    assert.ok(dropped > total / 2, `dropped ${dropped} of ${total}`);
    c.socket.resume();
    let got = 0;
    let notice: Record<string, unknown> | undefined;
    while (!notice) {
      const l = await c.json();
      if ('dropped' in l) notice = l;
      else got++;
    }
    assert.equal(got + (notice.dropped as number), total);
    assert.equal(notice.channel, 'pleg');
    // Once caught up, delivery resumes.
    port.send('pleg', { type: 'pleg.containerChanged', podUid: 'u', containerId: 'last' } as never);
    assert.equal(((await c.json()).msg as { containerId: string }).containerId, 'last');
    c.close();
  });

  it('stops reading requests from a client that does not read its answers, and resumes when it does', async () => {
    const f = await started({ maxBufferedBytes: 64 * 1024 });
    const c = await new Client(f.path).ready();
    c.socket.pause();
    const total = 3000; // ~5 MB of graph answers
    c.send('graph podWorker\n'.repeat(total));
    await sleep(200); // real socket backpressure needs real time to build up
    const served = f.ds.stats().requests;
    assert.ok(served < total, `served ${served} of ${total} while the client read nothing`);
    c.socket.resume();
    for (let i = 0; i < total; i++) assert.equal((await c.json()).ok, true);
    assert.equal(f.ds.stats().requests, total);
    c.close();
  });

  it('answers what a client sent before its EOF, then ends the session (tails included)', async () => {
    const f = await started();
    const c = await new Client(f.path).ready();
    c.socket.end('actors\ngraph podWorker\ntail pleg\n');
    assert.equal(((await c.json()).result as { actors: unknown[] }).actors.length, 4);
    assert.equal(((await c.json()).result as { machine: string }).machine, 'podWorker');
    assert.deepEqual(await c.json(), { ok: true, result: { channel: 'pleg', subscribed: true } });
    await c.closed;
    await until(() => f.ds.stats().connections === 0, 'the session to end');
    assert.equal(f.ds.stats().tails, 0);
  });

  it('creates the socket 0600 and removes it on close; close ends live tails and is idempotent', async () => {
    const umask = process.umask(0o022);
    const f = await fixture();
    // The 0177 umask used around bind(2) does not leak into the daemon.
    assert.equal(process.umask(umask), 0o022);
    const st = await stat(f.path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid!());
    const c = await new Client(f.path).ready();
    assert.equal((await c.ask('tail pleg')).ok, true);
    assert.equal(f.ds.stats().tails, 1);
    await f.ds.close();
    await c.closed;
    assert.equal(f.ds.stats().tails, 0);
    assert.equal(existsSync(f.path), false);
    await f.ds.close();
  });

  it('replaces a stale socket left by a dead daemon', async () => {
    const dir = await tempDir();
    const path = join(dir, 'kubelet-ts.sock');
    // A daemon that dies by SIGKILL leaves its socket file behind.
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await once(child.stdout!, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok((await stat(path)).isSocket());
    const ds = await startDebugSocket({
      path,
      bus: new Bus(),
      clock: new VirtualClock(),
      log: silentLogger,
      source: { inspect: () => [] },
    });
    open.push(ds);
    const c = await new Client(path).ready();
    assert.deepEqual(await c.ask('actors'), { ok: true, result: { at: 0, actors: [] } });
    c.close();
  });

  it('refuses to start when another daemon listens on the path, or a non-socket is in the way', async () => {
    const f = await started();
    await assert.rejects(
      startDebugSocket({
        path: f.path,
        bus: new Bus(),
        clock: new VirtualClock(),
        log: silentLogger,
        source: { inspect: () => [] },
      }),
      (e: Error) => e.message.includes(f.path) && /another process is listening/.test(e.message),
    );
    // The first one is untouched.
    const c = await new Client(f.path).ready();
    assert.equal((await c.ask('actors')).ok, true);
    c.close();

    const file = join(f.dir, 'not-a-socket');
    await writeFile(file, 'x');
    await assert.rejects(
      startDebugSocket({
        path: file,
        bus: new Bus(),
        clock: new VirtualClock(),
        log: silentLogger,
        source: { inspect: () => [] },
      }),
      /not-a-socket: the path exists and is not a socket/,
    );
    await assert.rejects(
      startDebugSocket({
        path: join(f.dir, 'x'.repeat(120)),
        bus: new Bus(),
        clock: new VirtualClock(),
        log: silentLogger,
        source: { inspect: () => [] },
      }),
      /unix sockets allow at most 107/,
    );
  });

  const setpriv = spawnSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).stdout.trim();
  const asRoot = process.getuid?.() === 0;
  it('refuses another user (EACCES)', { skip: !asRoot || !setpriv ? 'needs root and setpriv' : false }, async (t) => {
    const nobody = (cmd: string, args: string[]) =>
      spawnSync(setpriv, ['--reuid=nobody', '--regid=nogroup', '--clear-groups', cmd, ...args], { encoding: 'utf8' });
    // The checkout (and node) must be readable by nobody for its client to run at all.
    if (
      nobody(process.execPath, [
        '-e',
        `require('fs').accessSync(${JSON.stringify(join(ROOT, 'bin', 'inspect.ts'))}, 4)`,
      ]).status !== 0
    ) {
      t.skip('nobody cannot run node or read this checkout');
      return;
    }
    const f = await started();
    // The directory is open to all, so only the socket's own mode keeps `nobody` out.
    await chmod(f.dir, 0o755);
    const script = `const s = require('net').createConnection(${JSON.stringify(f.path)});
      s.on('connect', () => { console.log('CONNECTED'); s.destroy(); });
      s.on('error', (e) => console.log(e.code));`;
    const res = nobody(process.execPath, ['-e', script]);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.trim(), 'EACCES');
    // And the same client as root gets in.
    const ok = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(ok.stdout.trim(), 'CONNECTED');
    // The CLI says what to do about it.
    const cli = nobody(join(ROOT, 'bin', 'kubelet-ts'), ['inspect', '--socket', f.path]);
    assert.equal(cli.status, 1);
    assert.equal(
      cli.stderr,
      `kubelet-ts inspect: permission denied on ${f.path}: the debug socket is mode 0600 and belongs to the daemon's user; run kubelet-ts inspect as that user (e.g. with sudo)\n`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('pod backoff deadlines on a whole kubelet', () => {
  it('the runtime reports crash-loop and image-pull backoff per container: delay and next retry', async () => {
    const dir = await tempDir();
    const IMAGE = 'kubelet-ts.local/busybox:1.0';
    const MISSING = 'kubelet-ts.local/missing:1.0';
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    cri.failPull(MISSING, 'manifest unknown', 'NotFound');
    const pod = (name: string, image: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: {
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'app', image, command: ['false'] }],
        },
      });
    const fs = new MemoryStaticPodFs()
      .mkdir('/m')
      .writeFile('/m/crash.json', pod('crash', IMAGE))
      .writeFile('/m/pull.json', pod('pull', MISSING));
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: '/m' },
      clock,
      log: silentLogger,
      nodeName: 'node-b',
      cri,
      fs,
      random: () => 0.5,
      debugSocketPath: join(dir, 'kubelet-ts.sock'),
    });
    const settle = async () => {
      for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
    };
    await k.start();
    const c = await new Client(join(dir, 'kubelet-ts.sock')).ready();
    try {
      await clock.advanceAsync(2000, settle);
      const pulledAt = clock.now() - 2000;
      const app = async () =>
        (await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': 'crash-node-b' } }))
          .sort((a, b) => a.metadata.attempt - b.metadata.attempt)
          .at(-1)!;
      // the first exit restarts at once; the second is held back for 10s from its exit
      cri.exitContainer((await app()).id, 1);
      await clock.advanceAsync(2000, settle);
      assert.equal((await app()).metadata.attempt, 1);
      cri.exitContainer((await app()).id, 1);
      const exitedAt = clock.now();
      await clock.advanceAsync(2000, settle);

      const crash = (await c.ask('pod default/crash-node-b')).result as { backoff: Record<string, unknown>[] };
      assert.deepEqual(crash.backoff, [
        {
          container: 'app',
          kind: 'crashLoop',
          image: null,
          delayMs: 10_000,
          retryAt: exitedAt + 10_000,
          retryInMs: exitedAt + 10_000 - clock.now(),
        },
      ]);
      const pull = (await c.ask('pod default/pull-node-b')).result as { backoff: Record<string, unknown>[] };
      assert.equal(pull.backoff.length, 1, JSON.stringify(pull.backoff));
      const entry = pull.backoff[0]!;
      assert.deepEqual([entry.container, entry.kind, entry.image], ['app', 'imagePull', MISSING]);
      assert.ok((entry.delayMs as number) >= 10_000, `delay ${entry.delayMs}`);
      assert.ok(
        (entry.retryAt as number) > clock.now() &&
          (entry.retryAt as number) <= pulledAt + 2000 + (entry.delayMs as number),
        `retryAt ${entry.retryAt}`,
      );
      assert.equal(entry.retryInMs, (entry.retryAt as number) - clock.now());

      // once the crashing container runs again, it is no longer held back: the delay stays, no deadline
      await clock.advanceAsync(10_000, settle);
      assert.equal((await app()).state, 'CONTAINER_RUNNING');
      const again = (await c.ask('pod default/crash-node-b')).result as { backoff: Record<string, unknown>[] };
      assert.deepEqual(
        again.backoff.map((b) => [b.kind, b.delayMs, b.retryAt]),
        [['crashLoop', 20_000, null]],
      );
    } finally {
      c.close();
      await k.stop();
    }
  });
});

describe('kubelet-ts inspect', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      io: {
        stdout: { write: (s: string) => out.push(s) },
        stderr: { write: (s: string) => err.push(s) },
        interrupted: new Promise<void>(() => {}),
      },
      out: () => out.join(''),
      err: () => err.join(''),
    };
  };

  it('parses its arguments', () => {
    assert.deepEqual(parseInspectArgs([]), {
      cmd: 'actors',
      arg: undefined,
      socket: '/var/lib/kubelet/kubelet-ts.sock',
      rootDir: '/var/lib/kubelet',
      json: false,
      watch: false,
      help: false,
    });
    const a = parseInspectArgs(['pod', 'default/web', '--root-dir=/r', '--json', '--watch']);
    assert.deepEqual(
      [a.cmd, a.arg, a.socket, a.json, a.watch],
      ['pod', 'default/web', '/r/kubelet-ts.sock', true, true],
    );
    assert.equal(parseInspectArgs(['tail', 'pleg', '--socket', '/s.sock']).socket, '/s.sock');
    assert.throws(() => parseInspectArgs(['pod']), /pod needs exactly one argument/);
    assert.throws(() => parseInspectArgs(['bogus']), /unknown command "bogus"/);
    assert.throws(() => parseInspectArgs(['--nope']), /unknown flag --nope/);
    assert.throws(() => parseInspectArgs(['tail', 'x', '--watch']), /--watch works with actors, pod and channels/);
    assert.deepEqual(
      [parseInspectArgs(['channels', '--watch']).cmd, parseInspectArgs(['channels']).arg],
      ['channels', undefined],
    );
    assert.throws(() => parseInspectArgs(['channels', 'pleg']), /channels takes no argument/);
    assert.throws(() => parseInspectArgs(['--socket=/a', '--root-dir=/b']), /either --root-dir or --socket/);
  });

  it('renders the channel map with counts and the actors not started', () => {
    const text = renderChannels({
      at: 0,
      notWired: ['nodeStatus'],
      channels: [
        {
          name: 'pleg',
          kind: 'event',
          count: 12,
          writers: ['pleg'],
          readers: ['syncLoop'],
          types: ['pleg.containerStarted', 'pleg.containerDied'],
        },
        { name: 'node', kind: 'view', count: 0, writers: ['nodeStatus'], readers: [], types: ['NodeView'] },
      ],
    });
    assert.equal(
      text,
      [
        'CHANNEL   KIND    MSGS   WRITERS      READERS    MESSAGE TYPES',
        'pleg      event   12     pleg         syncLoop   pleg.containerStarted,pleg.containerDied',
        'node      view    0      nodeStatus   <none>     NodeView',
        '',
        'not started by this daemon: nodeStatus',
      ].join('\n'),
    );
  });

  it('renders actors and pod tables', () => {
    const clock = new VirtualClock(1_700_000_000_000);
    const actors = fakeActors(clock).map((a) => ({
      id: a.id,
      state: a.state,
      restarts: a.restarts,
      lastError: a.lastError,
      lastErrorAt: a.lastErrorAt,
      uptimeMs: a.state === 'running' ? a.uptimeMs : null,
      mailboxDepth: a.id === 'syncLoop' ? 4 : 0,
    }));
    const text = renderActors({ at: clock.now(), actors });
    const lines = text.split('\n');
    assert.match(lines[0]!, /^ID\s+STATE\s+RESTARTS\s+LAST ERROR\s+MAILBOX\s+UPTIME$/);
    assert.match(lines[2]!, /^runtime\s+running\s+2\s+CRI Unavailable: connection refused \(5s ago\)\s+0\s+3s$/);
    assert.match(lines[4]!, /^syncLoop\s+restarting\s+1\s+boom \(0ms ago\)\s+4\s+-$/);

    const pod = renderPod({
      at: 10_000,
      uid: 'u1',
      pod: 'default/web',
      state: 'syncing.idle',
      seq: 2,
      inFlight: null,
      pending: 'kill',
      nextSyncAt: 70_000,
      nextSyncInMs: 60_000,
      lastSyncError: null,
      runtime: { busy: null },
      phase: 'Running',
      containers: [
        { name: 'web', kind: 'app', state: 'running', reason: null, message: null, restartCount: 0, ready: true },
      ],
      backoff: [
        { container: 'web', kind: 'crashLoop', image: null, delayMs: 40_000, retryAt: 35_000, retryInMs: 25_000 },
        { container: 'web', kind: 'imagePull', image: 'nginx:1', delayMs: 20_000, retryAt: null, retryInMs: null },
      ],
      history: [{ at: 9000, state: 'syncing.idle', cause: 'create:config.add' }],
    });
    assert.match(pod, /^POD:\s+default\/web$/m);
    assert.match(pod, /^PENDING:\s+kill$/m);
    assert.match(pod, /^NEXT SYNC:\s+\S+ \(in 1m0s\)$/m);
    assert.match(pod, /^RUNTIME:\s+idle$/m);
    assert.match(
      pod,
      /^CONTAINERS\nNAME\s+STATE\s+REASON\s+RESTARTS\s+READY\s+MESSAGE\nweb\s+running\s+<none>\s+0\s+true\s+<none>$/m,
    );
    assert.match(pod, /^HISTORY\nTIME\s+AGO\s+STATE\s+CAUSE\n\S+\s+1s\s+syncing\.idle\s+create:config\.add$/m);
    assert.match(
      pod,
      /^BACKOFF\nCONTAINER\s+KIND\s+DELAY\s+NEXT RETRY\nweb\s+crash loop\s+40s\s+\S+ \(in 25s\)\nweb\s+image pull nginx:1\s+20s\s+<none>$/m,
    );
    // no backoff, no section
    assert.doesNotMatch(
      renderPod({
        at: 0,
        uid: 'u2',
        pod: 'default/db',
        state: 'syncing.idle',
        seq: 1,
        inFlight: null,
        pending: null,
        nextSyncAt: null,
        nextSyncInMs: null,
        lastSyncError: null,
        history: [],
      }),
      /BACKOFF/,
    );
  });

  it('talks to the socket: tables, --json, graph, daemon errors, a missing socket', async () => {
    const f = await started();
    let cap = capture();
    assert.equal(await runInspect(['actors', '--socket', f.path], cap.io), 0);
    assert.match(cap.out(), /^ID\s+STATE\s+RESTARTS\s+LAST ERROR\s+MAILBOX\s+UPTIME\n/);
    assert.match(cap.out(), /^podWorkers\s+running/m);

    cap = capture();
    assert.equal(await runInspect(['pod', 'default/web', '--socket', f.path, '--json'], cap.io), 0);
    const raw = JSON.parse(cap.out()) as { ok: boolean; id: number; result: { uid: string } };
    assert.deepEqual([raw.ok, raw.id, raw.result.uid], [true, 1, WEB_UID]);

    cap = capture();
    assert.equal(await runInspect(['graph', 'podWorker', `--root-dir=${f.dir}`], cap.io), 0);
    assert.equal(cap.out(), machineToMermaid(podWorkerMachine));

    cap = capture();
    assert.equal(await runInspect(['pod', 'default/ghost', '--socket', f.path], cap.io), 1);
    assert.match(cap.err(), /^kubelet-ts inspect: no pod worker for "default\/ghost"/);
    assert.equal(cap.out(), '');

    cap = capture();
    const gone = join(f.dir, 'elsewhere');
    assert.equal(await runInspect(['--root-dir', gone], cap.io), 1);
    assert.equal(
      cap.err(),
      `kubelet-ts inspect: no kubelet-ts debug socket at ${gone}/kubelet-ts.sock: is the daemon running with --root-dir ${gone}?\n`,
    );

    cap = capture();
    assert.equal(await runInspect(['frobnicate'], cap.io), 2);
    assert.match(cap.err(), /unknown command "frobnicate"/);
  });

  it('tails until interrupted; a tail of an unknown channel fails', async () => {
    const f = await started();
    let stop!: () => void;
    const cap = capture();
    const io = {
      ...cap.io,
      interrupted: new Promise<void>((r) => {
        stop = r;
      }),
    };
    const run = runInspect(['tail', 'pleg', '--socket', f.path], io);
    await until(() => f.ds.stats().tails === 1, 'the CLI tail');
    f.bus.port('pleg').send('pleg', { type: 'pleg.containerDied', podUid: 'u', containerId: 'c9' } as never);
    await until(() => cap.out().includes('c9'), 'the tail line');
    assert.match(
      cap.out(),
      /^\d\d:\d\d:\d\d\.\d{3} {2}pleg {2}pleg\.containerDied {2}\{"podUid":"u","containerId":"c9"\}\n$/,
    );
    stop();
    assert.equal(await run, 0);
    await until(() => f.ds.stats().tails === 0, 'the CLI tail to end');

    const bad = capture();
    assert.equal(await runInspect(['tail', 'nope', '--socket', f.path], bad.io), 1);
    assert.match(bad.err(), /unknown channel "nope"; known channels: /);
  });

  it('a reader that goes away (inspect … | head -2) ends the CLI quietly with exit 0', async () => {
    const f = await started();
    const pleg = f.bus.port('pleg');
    let n = 0;
    // The CLI runs until it writes into the closed pipe; the bus keeps sending until it is gone.
    const run = async (args: string[], send: boolean) => {
      const child = spawn(join(ROOT, 'bin', 'kubelet-ts'), ['inspect', ...args, '--socket', f.path], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
      });
      const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
      let lines = 0;
      await new Promise<void>((resolve) => {
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          lines = out.split('\n').length - 1;
          if (lines >= 2) {
            child.stdout!.destroy();
            resolve();
          }
        });
      });
      let done = false;
      const pump = (async () => {
        for (; !done; await sleep(20))
          if (send) pleg.send('pleg', { type: 'pleg.containerDied', podUid: 'u', containerId: `c${n++}` } as never);
      })();
      try {
        const [code, signal] = await exited;
        assert.deepEqual([code, signal, err], [0, null, ''], `inspect ${args.join(' ')}`);
      } finally {
        done = true;
        await pump;
      }
    };
    const tail = run(['tail', 'pleg'], true);
    await until(() => f.ds.stats().tails === 1, 'the CLI tail');
    for (let i = 0; i < 3; i++)
      pleg.send('pleg', { type: 'pleg.containerDied', podUid: 'u', containerId: `first${i}` } as never);
    await tail;
    const json = run(['tail', 'pleg', '--json'], true);
    await until(() => f.ds.stats().tails === 1, 'the CLI tail --json');
    pleg.send('pleg', { type: 'pleg.containerDied', podUid: 'u', containerId: 'j' } as never);
    await json;
    await run(['actors', '--watch'], false);
  });

  it('bin/kubelet-ts inspect dispatches to the inspect CLI', async () => {
    const f = await started();
    const child = spawn(join(ROOT, 'bin', 'kubelet-ts'), ['inspect', 'actors', '--socket', f.path, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, err);
    const line = JSON.parse(out) as { ok: boolean; result: { actors: { id: string }[] } };
    assert.equal(line.result.actors.length, 4);
  });
});
