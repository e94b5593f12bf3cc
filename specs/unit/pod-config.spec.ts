import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { Bus } from '../../kernel/bus.ts';
import { RealClock, VirtualClock } from '../../kernel/clock.ts';
import type { ConfigEvent, DesiredPod } from '../../protocols/messages/channels.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { podConfig, type PodConfigDeps } from '../../actors/pod-config/index.ts';
import { MemoryStaticPodFs, nodeStaticPodFs, errnoCode } from '../../actors/pod-config/adapters.ts';
import { adopt, initialState, relist, type PodConfigState } from '../../actors/pod-config/logic.ts';
import { listManifests, parseManifest, MAX_MANIFEST_BYTES, type Listing } from '../../actors/pod-config/source-file.ts';
import { startTestActor, type TestActor } from '../support/actor-context.ts';

const DIR = '/etc/kubernetes/manifests';
const NODE = 'node-a';

function manifest(
  name: string,
  opts: { image?: string; uid?: string; namespace?: string; extra?: string } = {},
): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    ...(opts.namespace ? [`  namespace: ${opts.namespace}`] : []),
    ...(opts.uid ? [`  uid: ${opts.uid}`] : []),
    '  creationTimestamp: null',
    'spec:',
    '  containers:',
    '  - name: app',
    `    image: ${opts.image ?? 'nginx:1.25'}`,
    ...(opts.extra ? [opts.extra] : []),
    '',
  ].join('\n');
}

const names = (pods: Pod[]) => pods.map((p) => p.metadata.name).sort();

function byType(out: ConfigEvent[]) {
  const pick = (t: ConfigEvent['type']) => out.filter((m) => m.type === t);
  const pods = (t: 'config.podsAdded' | 'config.podsUpdated' | 'config.podsRemoved') =>
    pick(t).flatMap((m) => ('pods' in m ? m.pods : []));
  return {
    added: pods('config.podsAdded'),
    updated: pods('config.podsUpdated'),
    removed: pods('config.podsRemoved'),
    errors: pick('config.sourceError').map((m) => m as Extract<ConfigEvent, { type: 'config.sourceError' }>),
    ready: pick('config.sourcesReady').length,
  };
}

/** Run the pure core over the memory fs: what a relist would emit. */
async function step(fs: MemoryStaticPodFs, state: PodConfigState, now = 0) {
  const listing = await listManifests(fs, DIR, { nodeName: NODE, now });
  const r = relist(state, listing, DIR);
  return { ...r, ...byType(r.out) };
}

describe('pod-config logic (relist → diff)', () => {
  it('adds, keeps quiet when nothing changed, removes on delete; sourcesReady once', async () => {
    const fs = new MemoryStaticPodFs()
      .mkdir(DIR)
      .writeFile(`${DIR}/web.yaml`, manifest('web'))
      .writeFile(
        `${DIR}/db.json`,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'db' },
          spec: { containers: [{ name: 'db', image: 'postgres:16' }] },
        }),
      );
    let s = await step(fs, initialState());
    assert.deepEqual(names(s.added), ['db-node-a', 'web-node-a']);
    assert.equal(s.ready, 1);
    assert.deepEqual(
      s.out.map((m) => m.type),
      ['config.podsAdded', 'config.sourcesReady'],
    );

    s = await step(fs, s.state, 20_000); // config.seen differs; nothing else does
    assert.deepEqual(s.out, []);

    fs.remove(`${DIR}/db.json`);
    s = await step(fs, s.state);
    assert.deepEqual(names(s.removed), ['db-node-a']);
    assert.equal(s.added.length + s.updated.length + s.ready, 0);
  });

  it('an edit is a remove plus an add (the UID hashes the content), as upstream', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    let s = await step(fs, initialState());
    const uid = s.added[0]!.metadata.uid;
    fs.writeFile(`${DIR}/web.yaml`, manifest('web', { image: 'nginx:1.26' }));
    s = await step(fs, s.state);
    assert.deepEqual(
      s.removed.map((p) => p.metadata.uid),
      [uid],
    );
    assert.equal(s.added.length, 1);
    assert.notEqual(s.added[0]!.metadata.uid, uid);
    assert.deepEqual(
      s.out.map((m) => m.type),
      ['config.podsRemoved', 'config.podsAdded'],
    );
  });

  it('a pinned metadata.uid makes an edit an update that keeps the first-seen time', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web', { uid: 'pinned' }));
    let s = await step(fs, initialState(), 1000);
    const seen = s.added[0]!.metadata.annotations!['kubernetes.io/config.seen'];
    fs.writeFile(`${DIR}/web.yaml`, manifest('web', { uid: 'pinned', image: 'nginx:1.26' }));
    s = await step(fs, s.state, 50_000);
    assert.equal(s.updated.length, 1);
    assert.equal(s.updated[0]!.spec.containers[0]!.image, 'nginx:1.26');
    assert.equal(s.updated[0]!.metadata.annotations!['kubernetes.io/config.seen'], seen);
  });

  it('an invalid edit keeps the last good spec and reports path, field and line — once', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    let s = await step(fs, initialState());
    const good = s.added[0]!;

    fs.writeFile(`${DIR}/web.yaml`, manifest('web', { image: '""' }));
    s = await step(fs, s.state);
    assert.equal(s.added.length + s.removed.length + s.updated.length, 0);
    assert.equal(s.errors.length, 1);
    assert.equal(s.errors[0]!.path, `${DIR}/web.yaml`);
    assert.equal(s.errors[0]!.field, 'spec.containers[0].image');
    assert.equal(s.errors[0]!.reason, 'line 9: spec.containers[0].image: Required value');
    assert.match(s.logs.find((l) => l.level === 'error')!.msg, /keeping the last good spec of default\/web-node-a/);
    assert.deepEqual(
      [...s.state.emitted.values()].map((e) => e.pod),
      [good],
    );

    s = await step(fs, s.state); // same error: not reported again
    assert.deepEqual(s.out, []);
    assert.equal(s.logs.length, 0);

    fs.writeFile(`${DIR}/web.yaml`, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: [\n');
    s = await step(fs, s.state); // a different error is reported
    assert.equal(s.errors.length, 1);
    assert.equal(s.errors[0]!.field, undefined);
    assert.match(s.errors[0]!.reason, /^line \d+, column \d+: /);

    fs.remove(`${DIR}/web.yaml`); // deleting the file does remove the pod
    s = await step(fs, s.state);
    assert.deepEqual(s.removed, [good]);
  });

  it('a new invalid file changes nothing but the report', async () => {
    const fs = new MemoryStaticPodFs().writeFile(
      `${DIR}/bad.yaml`,
      'kind: Pod\napiVersion: v1\nmetadata:\n  name: bad\nspec:\n  containers: nginx\n',
    );
    const s = await step(fs, initialState());
    assert.deepEqual(
      s.out.map((m) => m.type),
      ['config.sourceError', 'config.sourcesReady'],
    );
    assert.equal(s.errors[0]!.field, 'spec.containers');
    assert.equal(s.errors[0]!.reason, 'line 6: spec.containers: Invalid value: "nginx": expected a list, got a string');
  });

  it('duplicates: the first file in sorted order wins, the second is reported', async () => {
    const fs = new MemoryStaticPodFs()
      .writeFile(`${DIR}/a.yaml`, manifest('web'))
      .writeFile(`${DIR}/b.yaml`, manifest('web', { image: 'other:1' }));
    let s = await step(fs, initialState());
    assert.equal(s.added.length, 1);
    assert.equal(s.added[0]!.spec.containers[0]!.image, 'nginx:1.25');
    assert.equal(s.errors.length, 1);
    assert.equal(s.errors[0]!.path, `${DIR}/b.yaml`);
    assert.equal(s.errors[0]!.field, 'metadata.name');
    assert.match(
      s.errors[0]!.reason,
      /duplicate pod name "web-node-a" in namespace "default": already defined by \/etc\/kubernetes\/manifests\/a\.yaml/,
    );

    s = await step(fs, s.state);
    assert.deepEqual(s.out, []);

    fs.remove(`${DIR}/a.yaml`); // now b's pod takes over
    s = await step(fs, s.state);
    assert.equal(s.removed.length, 1);
    assert.equal(s.added[0]!.spec.containers[0]!.image, 'other:1');
  });

  it('a missing path is an empty set (pods removed, source ready); an unreadable one changes nothing', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    let s = await step(fs, initialState());
    fs.remove(DIR);
    s = await step(fs, s.state);
    assert.equal(s.removed.length, 1);
    assert.equal(s.errors.length, 0);
    assert.match(s.logs[0]!.msg, /does not exist, ignoring/);

    const fresh = new MemoryStaticPodFs();
    const missing = await step(fresh, initialState());
    assert.equal(missing.ready, 1);

    const locked = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web')).fail(DIR, 'EACCES');
    const u = await step(locked, initialState());
    assert.equal(u.ready, 0);
    assert.equal(u.errors.length, 1);
    assert.match(u.errors[0]!.reason, /EACCES/);
  });

  it('after a restart, adopts the pods pod-manager holds instead of re-adding them', async () => {
    const fs = new MemoryStaticPodFs()
      .writeFile(`${DIR}/web.yaml`, manifest('web'))
      .writeFile(`${DIR}/db.yaml`, manifest('db'));
    const first = await step(fs, initialState());
    const held = first.added;

    // Restart: db.yaml is broken and web.yaml went away while pod-config was down.
    fs.writeFile(`${DIR}/db.yaml`, 'not: [valid');
    fs.remove(`${DIR}/web.yaml`);
    let s = await step(fs, adopt(initialState(), held));
    assert.equal(s.added.length, 0);
    // Neither adopted pod is claimed by a file; one file is broken, so both are kept for now.
    assert.equal(s.removed.length, 0);

    fs.writeFile(`${DIR}/db.yaml`, manifest('db'));
    s = await step(fs, s.state);
    assert.deepEqual(names(s.removed), ['web-node-a']); // db's file claimed its UID again
    assert.equal(s.added.length, 0);
    assert.equal(s.updated.length, 0);
  });
});

describe('pod-config source (files)', () => {
  const opts = { nodeName: NODE, now: 0 };

  it('refuses several documents, an empty file and another kind, naming the line', () => {
    const two = parseManifest('/m/two.yaml', manifest('a') + '---\n' + manifest('b'), opts);
    assert.equal(two.kind, 'error');
    assert.match(
      two.kind === 'error' ? two.reason : '',
      /^line 11: file holds 2 YAML documents: a static pod manifest holds exactly one Pod$/,
    );
    const leading = parseManifest('/m/one.yaml', '---\n' + manifest('a') + '---\n', opts);
    assert.equal(leading.kind, 'pod');
    const empty = parseManifest('/m/e.yaml', '# nothing\n', opts);
    assert.equal(empty.kind === 'error' && empty.reason, 'file is empty: a static pod manifest holds one Pod');
    const dep = parseManifest('/m/d.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n', opts);
    assert.equal(dep.kind === 'error' && dep.field, 'kind');
    assert.match(
      dep.kind === 'error' ? dep.reason : '',
      /^line 2: kind: Invalid value: "Deployment": a static pod manifest must be a Pod/,
    );
  });

  it('reads YAML like go-yaml v2: octal modes, timestamps as strings', () => {
    const r = parseManifest(
      '/m/v.yaml',
      manifest('v', {
        extra: '  volumes:\n  - name: s\n    secret:\n      secretName: s\n      defaultMode: 0600\n',
      }).replace('creationTimestamp: null', 'creationTimestamp: 2024-01-01T00:00:00Z'),
      opts,
    );
    assert.equal(r.kind, 'pod');
    if (r.kind === 'pod') {
      assert.equal(r.pod.spec.volumes![0]!.secret!.defaultMode, 0o600);
      assert.equal(r.pod.metadata.creationTimestamp, '2024-01-01T00:00:00Z');
    }
  });

  it('skips dotfiles and subdirectories, refuses >10 MiB without reading it, refuses a symlink out, follows one in', async () => {
    const fs = new MemoryStaticPodFs()
      .writeFile(`${DIR}/.web.yaml.swp`, 'garbage')
      .writeFile(`${DIR}/web.yaml`, manifest('web'))
      .mkdir(`${DIR}/backup`)
      .writeFile(`${DIR}/backup/old.yaml`, manifest('old'))
      .writeFile(`${DIR}/huge.yaml`, 'x'.repeat(MAX_MANIFEST_BYTES + 1))
      .writeFile('/etc/passwd', 'root:x:0:0')
      .symlink('/etc/passwd', `${DIR}/escape.yaml`)
      .symlink('../../../etc/passwd', `${DIR}/escape-rel.yaml`)
      .writeFile(`${DIR}/real/api.yaml`, manifest('api'))
      .symlink('real/api.yaml', `${DIR}/api.yaml`)
      .symlink('/nowhere', `${DIR}/dangling.yaml`)
      .special(`${DIR}/sock`);
    const listing = await listManifests(fs, DIR, opts);
    assert.equal(listing.kind, 'listed');
    const results = listing.kind === 'listed' ? listing.results : [];
    const by = new Map(results.map((r) => [nodePath.basename(r.path), r]));
    assert.deepEqual(
      [...by.keys()],
      [
        'api.yaml',
        'backup',
        'dangling.yaml',
        'escape-rel.yaml',
        'escape.yaml',
        'huge.yaml',
        'real',
        'sock',
        'web.yaml',
      ],
    );
    assert.equal(by.get('web.yaml')!.kind, 'pod');
    assert.equal(by.get('api.yaml')!.kind, 'pod');
    assert.equal(by.get('backup')!.kind, 'skip');
    for (const n of ['escape.yaml', 'escape-rel.yaml']) {
      const r = by.get(n)!;
      assert.equal(r.kind, 'error');
      assert.match(
        r.kind === 'error' ? r.reason : '',
        /^symlink resolves to \/etc\/passwd, outside the manifest directory \/etc\/kubernetes\/manifests: refused$/,
      );
    }
    const huge = by.get('huge.yaml')!;
    assert.equal(
      huge.kind === 'error' && huge.reason,
      `file is ${MAX_MANIFEST_BYTES + 1} bytes, over the 10 MiB limit for a static pod manifest: refused`,
    );
    assert.ok(!fs.reads.includes(`${DIR}/huge.yaml`), 'the oversized file is not read');
    assert.ok(!fs.reads.some((p) => p.includes('.web.yaml.swp') || p === '/etc/passwd'));
    assert.equal(by.get('dangling.yaml')!.kind, 'skip');
    assert.equal(by.get('sock')!.kind, 'skip');

    const s = relist(initialState(), listing as Listing, DIR);
    const t = byType(s.out);
    assert.deepEqual(names(t.added), ['api-node-a', 'web-node-a']);
    assert.deepEqual(
      t.errors.map((e) => nodePath.basename(e.path)),
      ['dangling.yaml', 'escape-rel.yaml', 'escape.yaml', 'huge.yaml', 'sock'],
    );
  });

  it('accepts a single manifest file as the path, as upstream', async () => {
    const fs = new MemoryStaticPodFs().writeFile('/etc/kubelet/pod.yaml', manifest('solo'));
    const listing = await listManifests(fs, '/etc/kubelet/pod.yaml', opts);
    assert.equal(listing.kind === 'listed' && listing.results[0]!.kind, 'pod');
  });
});

// ---------------------------------------------------------------------------------------------
// the actor, on a virtual clock

async function idle(t: TestActor<unknown>): Promise<void> {
  for (let n = -1; n !== t.running.length; ) {
    n = t.running.length;
    await Promise.all(t.running);
  }
}

async function startPodConfig(deps: Partial<PodConfigDeps> & { fs: PodConfigDeps['fs'] }, bus = new Bus()) {
  const seen: ConfigEvent[] = [];
  bus
    .port('spec')
    .events('config')
    .subscribe((m) => seen.push(m));
  const clock = new VirtualClock(Date.UTC(2024, 0, 1));
  const t = await startTestActor(podConfig, { deps: { manifestDir: DIR, nodeName: NODE, ...deps }, clock, bus });
  await idle(t as TestActor<unknown>);
  const take = () => {
    const out = seen.splice(0).filter((m) => m.type !== 'config.relist');
    return { out, ...byType(out) };
  };
  return { t, clock, bus, seen, take };
}

/** The relists sent from now on (take() drops them from `seen`). */
function watchRelists(bus: Bus) {
  const out: Extract<ConfigEvent, { type: 'config.relist' }>[] = [];
  bus
    .port('spec')
    .events('config')
    .subscribe((m) => {
      if (m.type === 'config.relist') out.push(m);
    });
  return () => out;
}

/** A podConfig actor on an empty manifest directory with a 100 ms debounce, its first output taken, its relists watched. */
async function startDebounced(stops: (() => Promise<void>)[]) {
  const fs = new MemoryStaticPodFs().mkdir(DIR);
  const { t, clock, bus, take } = await startPodConfig({ fs, debounceMs: 100 });
  stops.push(t.stop);
  take();
  return { fs, t, bus, take, relists: watchRelists(bus), vc: clock as VirtualClock };
}

describe('podConfig actor', () => {
  let stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stops) await s();
    stops = [];
  });

  it('lists at start, then after fs events and on each config.relist', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    const { t, clock, bus, take } = await startPodConfig({ fs });
    stops.push(t.stop);
    let m = take();
    assert.deepEqual(names(m.added), ['web-node-a']);
    assert.equal(m.ready, 1);
    assert.equal(m.added[0]!.metadata.annotations!['kubernetes.io/config.seen'], '2024-01-01T00:00:00Z');

    // A new file: the watcher sees it, the debounce fires, a relist picks it up.
    fs.writeFile(`${DIR}/db.yaml`, manifest('db'));
    await (clock as VirtualClock).advanceAsync(150);
    await idle(t as TestActor<unknown>);
    m = take();
    assert.deepEqual(names(m.added), ['db-node-a']);

    // Without the watcher, a relist sent directly does the same.
    fs.breakWatch(DIR);
    fs.remove(`${DIR}/db.yaml`);
    bus.port('spec').send('config', { type: 'config.relist' });
    await idle(t as TestActor<unknown>);
    assert.deepEqual(names(take().removed), ['db-node-a']);
    assert.deepEqual(t.failures, []);
  });

  it('re-lists every checkIntervalMs even without fs events', async () => {
    const fs = new MemoryStaticPodFs().mkdir(DIR);
    const { t, clock, take } = await startPodConfig({ fs, checkIntervalMs: 20_000 });
    stops.push(t.stop);
    take();
    fs.breakWatch(DIR); // no more fs events
    fs.writeFile(`${DIR}/web.yaml`, manifest('web'));
    await (clock as VirtualClock).advanceAsync(19_999);
    assert.equal(take().added.length, 0);
    await (clock as VirtualClock).advanceAsync(1);
    await idle(t as TestActor<unknown>);
    assert.deepEqual(names(take().added), ['web-node-a']);
    assert.equal(fs.watcherCount(DIR), 1, 'the watch is re-established after a relist');
  });

  it('drops the watch when the directory disappears and watches it again when it is back', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    const { t, clock, bus, take } = await startPodConfig({ fs });
    stops.push(t.stop);
    take();
    const vc = clock as VirtualClock;
    assert.equal(fs.watcherCount(DIR), 1);
    fs.remove(DIR);
    await vc.advanceAsync(200);
    await idle(t as TestActor<unknown>);
    assert.deepEqual(names(take().removed), ['web-node-a']);
    assert.equal(fs.watcherCount(DIR), 0);

    fs.mkdir(DIR);
    bus.port('spec').send('config', { type: 'config.relist' });
    await idle(t as TestActor<unknown>);
    assert.equal(fs.watcherCount(DIR), 1);
    fs.writeFile(`${DIR}/web.yaml`, manifest('web'));
    await vc.advanceAsync(200);
    await idle(t as TestActor<unknown>);
    assert.deepEqual(names(take().added), ['web-node-a']);
  });

  it('reads an unchanged manifest once over many periods; a touched one is read again; the pods stay the same', async () => {
    const fs = new MemoryStaticPodFs().mkdir(DIR);
    fs.writeFile(`${DIR}/web.yaml`, manifest('web'));
    fs.writeFile(`${DIR}/db.yaml`, manifest('db'));
    const { t, clock, take } = await startPodConfig({ fs, checkIntervalMs: 20_000 });
    stops.push(t.stop);
    assert.deepEqual(names(take().added).sort(), ['db-node-a', 'web-node-a']);
    const vc = clock as VirtualClock;
    const readsOf = (f: string) => fs.reads.filter((p) => p === `${DIR}/${f}`).length;
    const before = { web: readsOf('web.yaml'), db: readsOf('db.yaml') };
    for (let i = 0; i < 10; i++) {
      await vc.advanceAsync(20_000);
      await idle(t as TestActor<unknown>);
    }
    assert.deepEqual({ web: readsOf('web.yaml'), db: readsOf('db.yaml') }, before, 'ten periods: no file read again');
    assert.deepEqual(take().out, [], 'and nothing emitted');
    fs.touch(`${DIR}/web.yaml`);
    await vc.advanceAsync(20_000);
    await idle(t as TestActor<unknown>);
    assert.ok(readsOf('web.yaml') > before.web, 'the touched file is read again');
    assert.equal(readsOf('db.yaml'), before.db, 'the other one is not');
    assert.deepEqual(take().out, [], 'the same pod: no change emitted');
  });

  it('acts on a lone fs event at once (a provisional relist), with no trailing read when nothing followed', async () => {
    const { fs, t, take, relists, vc } = await startDebounced(stops);
    fs.writeFile(`${DIR}/web.yaml`, manifest('web'));
    await idle(t as TestActor<unknown>); // no virtual time passes
    assert.deepEqual(relists(), [{ type: 'config.relist', provisional: true }]);
    assert.deepEqual(names(take().added), ['web-node-a'], 'added without waiting for the debounce window');
    await vc.advanceAsync(1_000);
    await idle(t as TestActor<unknown>);
    assert.equal(relists().length, 1, 'the file read cleanly and no event followed: no second read');
    assert.deepEqual(take().out, []);
  });

  it('coalesces a burst of 100 fs events: one provisional relist at the first, one full relist after the quiet period', async () => {
    const { fs, t, take, relists, vc } = await startDebounced(stops);
    for (let i = 0; i < 100; i++) {
      fs.writeFile(`${DIR}/p${String(i).padStart(3, '0')}.yaml`, manifest(`p${i}`));
      await vc.advanceAsync(5); // 100 events over 500 ms, never 100 ms apart
    }
    await idle(t as TestActor<unknown>);
    assert.deepEqual(relists(), [{ type: 'config.relist', provisional: true }], 'one relist so far: the leading edge');
    await vc.advanceAsync(94);
    assert.equal(relists().length, 1, 'still inside the quiet period');
    await vc.advanceAsync(1);
    await idle(t as TestActor<unknown>);
    assert.deepEqual(
      relists().map((m) => m.provisional ?? false),
      [true, false],
    );
    const m = take();
    assert.equal(m.added.length, 100);
    assert.equal(new Set(m.added.map((p) => p.metadata.uid)).size, 100);
    assert.equal(m.errors.length, 0);
  });

  it('a half-written file seen by the provisional relist is held back, not reported, and the full relist decides', async () => {
    const { fs, t, take, relists, vc } = await startDebounced(stops);
    fs.writeFile(`${DIR}/web.yaml`, 'apiVersion: v1\n'); // half-written: read at once
    await idle(t as TestActor<unknown>);
    assert.deepEqual(take().out, [], 'neither a pod nor an error from the half-written file');
    await vc.advanceAsync(60);
    fs.writeFile(`${DIR}/web.yaml`, manifest('web')); // finished 60 ms later
    await vc.advanceAsync(99);
    assert.equal(relists().length, 1, 'still inside the quiet period');
    await vc.advanceAsync(1);
    await idle(t as TestActor<unknown>);
    const m = take();
    assert.deepEqual(names(m.added), ['web-node-a']);
    assert.equal(m.errors.length, 0, 'the half-written state was never reported');
  });

  it('a broken file written in one go is reported by the full relist after the quiet period, once', async () => {
    const fs = new MemoryStaticPodFs().mkdir(DIR);
    const { t, clock, bus, take } = await startPodConfig({ fs, debounceMs: 100, checkIntervalMs: 20_000 });
    stops.push(t.stop);
    take();
    const relists = watchRelists(bus);
    const vc = clock as VirtualClock;
    fs.writeFile(`${DIR}/bad.yaml`, 'kind: Pod\napiVersion: v1\nmetadata:\n  name: bad\nspec:\n  containers: nginx\n');
    await idle(t as TestActor<unknown>);
    assert.deepEqual(take().out, [], 'held back by the provisional relist');
    await vc.advanceAsync(100);
    await idle(t as TestActor<unknown>);
    assert.deepEqual(
      relists().map((m) => m.provisional ?? false),
      [true, false],
    );
    const m = take();
    assert.equal(m.errors.length, 1);
    assert.equal(m.errors[0]!.path, `${DIR}/bad.yaml`);
    await vc.advanceAsync(100_000); // five periods
    await idle(t as TestActor<unknown>);
    assert.deepEqual(take().out, [], 'an unchanged broken file is not reported again');
  });

  it('collapses relists that arrive during a read into one more read', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    const { t, bus, take } = await startPodConfig({ fs });
    stops.push(t.stop);
    take();
    const relists = () => (t.inspect() as { relists: number }).relists;
    const before = relists();
    const port = bus.port('spec');
    for (let i = 0; i < 5; i++) port.send('config', { type: 'config.relist' });
    await idle(t as TestActor<unknown>);
    assert.equal(relists() - before, 2, 'one read, then one more for the relists it missed');
    assert.deepEqual(take().out, []);
  });

  it('adopts file pods from the desiredPods view on (re)start', async () => {
    const fs = new MemoryStaticPodFs().writeFile(`${DIR}/web.yaml`, manifest('web'));
    const first = await startPodConfig({ fs });
    const pods = first.take().added;
    await first.t.stop();

    const bus = new Bus();
    bus
      .port('podManager')
      .publish(
        'desiredPods',
        new Map<string, DesiredPod>(pods.map((p) => [p.metadata.uid, { pod: p, source: 'file', static: true }])),
      );
    const second = await startPodConfig({ fs }, bus);
    stops.push(second.t.stop);
    const m = second.take();
    assert.equal(m.added.length, 0);
    assert.equal(m.ready, 1);
    assert.deepEqual((second.t.inspect() as { pods: unknown[] }).pods.length, 1);
  });

  it('without a manifest path, the source is off: it says nothing, not even sourcesReady (nothing waits for it)', async () => {
    const fs = new MemoryStaticPodFs();
    const { t, take } = await startPodConfig({ fs, manifestDir: undefined });
    stops.push(t.stop);
    assert.deepEqual(take().out, []);
  });
});

// ---------------------------------------------------------------------------------------------
// the real filesystem

describe('nodeStaticPodFs (real temp dir)', () => {
  it('bounded reads, symlinks and realpath', async () => {
    const root = await fsp.realpath(await fsp.mkdtemp(nodePath.join(os.tmpdir(), 'pod-config-')));
    try {
      const fs = nodeStaticPodFs();
      await fsp.writeFile(nodePath.join(root, 'a.yaml'), '0123456789');
      await fsp.symlink('a.yaml', nodePath.join(root, 'link.yaml'));
      assert.equal(await fs.readFile(nodePath.join(root, 'a.yaml'), 10), '0123456789');
      await assert.rejects(fs.readFile(nodePath.join(root, 'a.yaml'), 9), (e) => errnoCode(e) === 'EFBIG');
      const raw = await fsp.lstat(nodePath.join(root, 'link.yaml'));
      assert.deepEqual(await fs.lstat(nodePath.join(root, 'link.yaml')), {
        kind: 'symlink',
        size: raw.size,
        ino: raw.ino,
        mtimeMs: raw.mtimeMs,
        ctimeMs: raw.ctimeMs,
      });
      assert.equal((await fs.stat(nodePath.join(root, 'link.yaml'))).kind, 'file');
      assert.equal(await fs.realpath(nodePath.join(root, 'link.yaml')), nodePath.join(root, 'a.yaml'));
      assert.deepEqual((await fs.readdir(root)).sort(), ['a.yaml', 'link.yaml']);
      await assert.rejects(fs.stat(nodePath.join(root, 'nope')), (e) => errnoCode(e) === 'ENOENT');
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });

  it('fs.watch triggers a relist: a file written into the directory becomes a pod', async () => {
    const root = await fsp.realpath(await fsp.mkdtemp(nodePath.join(os.tmpdir(), 'pod-config-')));
    const clock = new RealClock();
    const bus = new Bus();
    const seen: ConfigEvent[] = [];
    const waiters: { pred: (m: ConfigEvent) => boolean; resolve: (m: ConfigEvent) => void }[] = [];
    bus
      .port('spec')
      .events('config')
      .subscribe((m) => {
        seen.push(m);
        for (const w of [...waiters])
          if (w.pred(m)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
      });
    const waitFor = (pred: (m: ConfigEvent) => boolean, what: string) => {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise<ConfigEvent>((resolve, reject) => {
        const timer = clock.setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
        waiters.push({
          pred,
          resolve: (m) => {
            clock.clearTimeout(timer);
            resolve(m);
          },
        });
      });
    };
    // The periodic relist is an hour away: only the watcher can make this pass in time.
    const t = await startTestActor(podConfig, {
      deps: { manifestDir: root, nodeName: NODE, fs: nodeStaticPodFs(), checkIntervalMs: 3_600_000, debounceMs: 50 },
      clock,
      bus,
    });
    try {
      await waitFor((m) => m.type === 'config.sourcesReady', 'sourcesReady');
      await fsp.writeFile(nodePath.join(root, 'web.yaml'), manifest('web'));
      const added = await waitFor((m) => m.type === 'config.podsAdded', 'podsAdded');
      assert.deepEqual(added.type === 'config.podsAdded' && names(added.pods), ['web-node-a']);
      await fsp.rm(nodePath.join(root, 'web.yaml'));
      const removed = await waitFor((m) => m.type === 'config.podsRemoved', 'podsRemoved');
      assert.deepEqual(removed.type === 'config.podsRemoved' && names(removed.pods), ['web-node-a']);
      assert.deepEqual(t.failures, []);
    } finally {
      await t.stop();
      await fsp.rm(root, { recursive: true, force: true });
    }
  });
});
