// The actors' channel contracts: the wiring of every actor the daemon can start is sound (one
// writer per view, every consumed event produced, every produced event consumed), the channel
// table agrees with the messages a whole kubelet sends, the README's channel map is current, the
// kernel's port refuses an undeclared channel naming actor and channel, and tsc refuses an actor
// sending on one (a small file compiled with the project's tsc).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channels, defaultPolicy, type ActorSpec } from '../../kernel/actor.ts';
import { channelMap, channelProblems, type ChannelInfo, type DeclaredActor } from '../../kernel/channel-map.ts';
import { startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import {
  CHANNEL_TABLE,
  KUBELET_ACTORS,
  README_BEGIN,
  README_END,
  channelsCommand,
  kubeletChannelMap,
  withChannelMap,
} from '../../bin/channel-map.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';

const ROOT = join(import.meta.dirname, '..', '..');

const decl = (id: string, c: Parameters<typeof channels>[0]): DeclaredActor => ({ id, channels: channels(c) });
const table: Record<string, ChannelInfo> = {
  ask: { kind: 'event', types: ['x.ask'] },
  told: { kind: 'event', types: ['x.told'] },
  state: { kind: 'view', types: ['State'] },
};

describe('channel contracts of the kubelet', () => {
  it('every actor the daemon can start declares its channels, and the wiring has no problem', () => {
    assert.ok(KUBELET_ACTORS.length >= 15);
    assert.deepEqual(channelProblems(KUBELET_ACTORS, CHANNEL_TABLE), []);
  });

  it('the map knows every actor there is (each actors/*/index.ts ActorSpec and the syncLoop) and each declares channels', async () => {
    const ids = new Set(KUBELET_ACTORS.map((a) => a.id));
    const found: string[] = ['syncLoop'];
    for (const dir of readdirSync(join(ROOT, 'actors'))) {
      const mod = (await import(join(ROOT, 'actors', dir, 'index.ts'))) as Record<string, unknown>;
      for (const v of Object.values(mod)) {
        const spec = v as { id?: unknown; start?: unknown; channels?: unknown };
        if (spec && typeof spec === 'object' && typeof spec.start === 'function' && typeof spec.id === 'string') {
          found.push(spec.id);
          assert.ok(
            spec.channels && typeof spec.channels === 'object',
            `actors/${dir}: ${spec.id} declares its channels`,
          );
        }
      }
    }
    for (const id of found) assert.ok(ids.has(id), `${id} is in KUBELET_ACTORS (bin/channel-map.ts)`);
    assert.equal(found.length, ids.size);
  });

  it('every channel of the table has a writer and a reader; each view exactly one writer', () => {
    for (const r of kubeletChannelMap()) {
      assert.ok(r.writers.length > 0, `${r.name} has no writer`);
      assert.ok(r.readers.length > 0, `${r.name} has no reader`);
      if (r.kind === 'view') assert.equal(r.writers.length, 1, `${r.name}: ${r.writers.join(', ')}`);
    }
    const rt = kubeletChannelMap().find((r) => r.name === 'runtime')!;
    assert.deepEqual([rt.writers, rt.readers], [['podWorkers'], ['runtime']]);
  });

  it('finds two writers of a view, an event nobody produces or consumes, and names unknown to the table', () => {
    const problems = channelProblems(
      [
        decl('a', { writes: ['state' as never], consumes: ['ask' as never] }),
        decl('b', { writes: ['state' as never], produces: ['told' as never, 'nope' as never] }),
      ],
      table,
    );
    assert.deepEqual(problems, [
      'actor b produces nope, which is not in the channel table',
      'event ask is consumed by a but nobody produces it',
      'event told is produced by b but nobody consumes it',
      'view state has 2 writers: a, b (one writer per view)',
      'view state (written by a, b) has no reader',
    ]);
    assert.deepEqual(
      channelProblems([decl('a', { reads: ['ask' as never] })], table)[0],
      'actor a reads ask, which is an event channel',
    );
  });

  it('counts an external writer or reader from the table as one', () => {
    const t = {
      ...table,
      told: { ...table.told!, external: { readers: ['(taps)'] } },
      ask: { ...table.ask!, external: { writers: ['(specs)'] } },
    };
    const actors = [
      decl('a', { consumes: ['ask' as never], writes: ['state' as never] }),
      decl('b', { produces: ['told' as never], reads: ['state' as never] }),
    ];
    assert.deepEqual(channelProblems(actors, t), []);
    assert.deepEqual(
      channelMap(actors, t).map((r) => [r.name, r.writers, r.readers]),
      [
        ['ask', ['(specs)'], ['a']],
        ['told', ['b'], ['(taps)']],
        ['state', ['a'], ['b']],
      ],
    );
  });

  it('the README channel map is the one the declarations generate (bash scripts/node.sh scripts/gen-channel-map.ts)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.ok(readme.includes(README_BEGIN) && readme.includes(README_END), 'README.md has the channel map markers');
    assert.equal(
      readme,
      withChannelMap(readme),
      'README.md channel map is stale: run bash scripts/node.sh scripts/gen-channel-map.ts',
    );
    for (const r of kubeletChannelMap()) assert.ok(readme.includes(`| \`${r.name}\` | ${r.kind} |`), r.name);
  });

  it('the table lists every message type a whole kubelet sends, on the channel it is sent on', async () => {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage('kubelet-ts.local/busybox:1.0');
    const dir = '/etc/kubernetes/manifests';
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(dir);
    fs.writeFile(
      `${dir}/crash.json`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'crash', namespace: 'default' },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'app', image: 'kubelet-ts.local/busybox:1.0', command: ['false'] }],
        },
      }),
    );
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: dir },
      clock,
      log: silentLogger,
      nodeName: 'node-c',
      cri,
      fs,
      random: () => 0.5,
    });
    const seen = new Map<string, Set<string>>();
    const wrong: string[] = [];
    k.bus.tap((kind, channel, payload) => {
      const info = Object.hasOwn(CHANNEL_TABLE, channel)
        ? (CHANNEL_TABLE as Record<string, ChannelInfo>)[channel]
        : undefined;
      if (!info) {
        wrong.push(`${channel}: not in the table`);
        return;
      }
      if (info.kind !== kind) wrong.push(`${channel}: a ${kind}, the table says ${info.kind}`);
      if (kind !== 'event') return;
      const type = (payload as { type?: unknown }).type;
      if (typeof type !== 'string' || !info.types.includes(type))
        wrong.push(`${channel}: ${String(type)} is not listed`);
      else (seen.get(channel) ?? seen.set(channel, new Set()).get(channel)!).add(type);
    });
    const settle = async () => {
      for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
    };
    await k.start();
    await clock.advanceAsync(0, settle);
    await clock.advanceAsync(5000, settle);
    fs.remove(`${dir}/crash.json`);
    await clock.advanceAsync(30_000, settle);
    const counts = (
      channelsCommand([]).answer(undefined, {
        actors: [],
        view: () => undefined,
        counts: () => k.bus.counts(),
        now: clock.now(),
      }) as {
        channels: { name: string; count: number }[];
      }
    ).channels;
    await k.stop();
    assert.deepEqual(wrong, []);
    // The run covered the main flow: each of these was sent and counted.
    for (const t of [
      'config.podsAdded',
      'config.podsRemoved',
      'podManager.podChanged',
      'pleg.containerDied',
      'podWorker.update',
      'runtime.syncPod',
      'runtime.killPod',
      'runtime.podSynced',
      'kernel.actorStarted',
    ]) {
      assert.ok(
        [...seen.values()].some((s) => s.has(t)),
        `${t} sent`,
      );
    }
    for (const ch of ['config', 'pleg', 'runtime', 'desiredPods'])
      assert.ok(counts.find((c) => c.name === ch)!.count > 0, `${ch} counted`);
  });
});

describe('the kernel holds an actor to its declaration', () => {
  const io = channels({ consumes: ['syncLoop'], produces: ['syncLoop'] });
  const spec = (start: ActorSpec<unknown, typeof io>['start']): ActorSpec<unknown, typeof io> => ({
    ...defaultPolicy,
    id: 'narrow',
    dependsOn: [],
    channels: io,
    start,
  });

  it('lets it use what it declared', async () => {
    const a = await startActor(
      spec((ctx) => {
        ctx.on(ctx.bus.events('syncLoop'), () => {});
        ctx.bus.send('syncLoop', { type: 'syncLoop.syncTick' });
      }),
      undefined,
    );
    assert.deepEqual(a.crashes, []);
  });

  it('crashes it, naming actor and channel, when it sends, subscribes, reads or publishes another', async () => {
    const cases: [string, ActorSpec<unknown, typeof io>['start'], RegExp][] = [
      // Casts: the type system refuses these calls (see the tsc spec below); the port must too.
      [
        'send',
        (ctx) => {
          (ctx.bus as { send(n: string, m: unknown): void }).send('pleg', { type: 'pleg.relist' });
        },
        /actor narrow sends on event channel "pleg", which is not in its channels\.produces \[syncLoop\]/,
      ],
      [
        'events',
        (ctx) => {
          (ctx.bus as { events(n: string): unknown }).events('config');
        },
        /actor narrow subscribes to event channel "config", which is not in its channels\.consumes \[syncLoop\]/,
      ],
      [
        'current',
        (ctx) => {
          (ctx.bus as { current(n: string): unknown }).current('desiredPods');
        },
        /actor narrow reads view "desiredPods", which is not in its channels\.reads\/writes \[\]/,
      ],
      [
        'publish',
        (ctx) => {
          (ctx.bus as { publish(n: string, v: unknown): void }).publish('node', {});
        },
        /actor narrow publishes view "node", which is not in its channels\.writes \[\]/,
      ],
    ];
    for (const [what, start, re] of cases) {
      const a = await startActor(spec(start), undefined);
      assert.equal(a.crashes.length, 1, what);
      assert.match(String((a.crashes[0] as Error).message), re, what);
      assert.deepEqual(
        a.bus.channelNames().events.filter((n) => n !== 'syncLoop'),
        [],
        `${what}: nothing reached the bus`,
      );
    }
  });
});

describe('tsc refuses an actor that uses an undeclared channel', () => {
  it('compiles a declared actor clean and reports each undeclared use at its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-channels-'));
    try {
      const head = [
        `import { channels, defaultPolicy, type ActorSpec } from '${ROOT}/kernel/actor.ts';`,
        "const io = channels({ consumes: ['pleg'], produces: ['syncLoop'], reads: ['desiredPods'] });",
      ];
      const good = [
        ...head,
        "export const ok: ActorSpec<{}, typeof io> = { ...defaultPolicy, id: 'ok', dependsOn: [], channels: io, start(ctx) {",
        "  ctx.on(ctx.bus.events('pleg'), () => ctx.bus.send('syncLoop', { type: 'syncLoop.syncTick' }));",
        "  ctx.bus.current('desiredPods');",
        '} };',
        '',
      ].join('\n');
      const bad = [
        ...head,
        "export const bad: ActorSpec<{}, typeof io> = { ...defaultPolicy, id: 'bad', dependsOn: [], channels: io, start(ctx) {",
        "  ctx.bus.send('runtime', { type: 'runtime.removePod', uid: 'u' });", // line 4: not produced
        "  ctx.bus.events('config');", // line 5: not consumed
        "  ctx.bus.publish('desiredPods', new Map());", // line 6: read, not written
        '} };',
        '',
      ].join('\n');
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
      writeFileSync(join(dir, 'good.ts'), good);
      writeFileSync(join(dir, 'bad.ts'), bad);
      const base = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
        compilerOptions: Record<string, unknown>;
      };
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { ...base.compilerOptions, typeRoots: [join(ROOT, 'node_modules', '@types')] },
          files: ['good.ts', 'bad.ts', join(ROOT, 'bin', 'channels.ts')],
        }),
      );
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
        { cwd: dir, encoding: 'utf8' },
      );
      const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
      assert.deepEqual(
        errors.filter((l) => !l.startsWith('bad.ts')),
        [],
        r.stdout + r.stderr,
      );
      assert.deepEqual(
        errors.map((l) => /^bad\.ts\((\d+),/.exec(l)?.[1]),
        ['4', '5', '6'],
        r.stdout,
      );
      assert.match(errors[0]!, /"runtime"' is not assignable to parameter of type '"syncLoop"'/);
      assert.match(errors[1]!, /"config"' is not assignable to parameter of type '"pleg"'/);
      assert.match(errors[2]!, /"desiredPods"' is not assignable to parameter of type 'never'/);
      assert.notEqual(r.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
