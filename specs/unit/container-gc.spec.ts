/**
 * containerGC's pod log directories (upstream evictPodLogsDirectories): the pure choice, then the
 * actor on a FakeCri and a VirtualClock against a real temporary log root, with symlinks planted
 * to lead out of it (they are never followed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { containerGC, evictableLogDirs, podUidOfLogDir } from '../../actors/gc/index.ts';
import { nodePodLogFs } from '../../actors/gc/adapters.ts';
import type { DesiredPod } from '../../protocols/messages/channels.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { FakeCri } from '../support/fake-cri.ts';

describe('containerGC: which pod log directories go (pure)', () => {
  it('parses <namespace>_<name>_<uid> and nothing else', () => {
    assert.equal(podUidOfLogDir('default_web_0b1c'), '0b1c');
    assert.equal(podUidOfLogDir('default_web'), undefined);
    assert.equal(podUidOfLogDir('a_b_c_d'), undefined);
    assert.equal(podUidOfLogDir('default__u'), undefined);
  });

  it('a real directory of a pod neither desired, nor held by a worker, nor in the runtime; never a symlink', () => {
    const entries = [
      { name: 'default_gone_u1', dir: true },
      { name: 'default_wanted_u2', dir: true },
      { name: 'default_stopping_u3', dir: true },
      { name: 'default_leftover_u4', dir: true },
      { name: 'default_link_u5', dir: false },
      { name: 'lost+found', dir: true },
    ];
    assert.deepEqual(
      evictableLogDirs(entries, { desired: new Set(['u2']), workers: new Set(['u3']), runtime: new Set(['u4']) }),
      ['default_gone_u1'],
    );
  });
});

describe('defect 4: containerGC removes the log directories of deleted pods, never following symlinks', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kts-gc-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  // (the timeout only ends a run in which the removal never comes)
  it("once the sources have listed: the gone pod's directory is removed, the running pod's kept, planted symlinks not followed", {
    timeout: 10_000,
  }, async () => {
    const root = join(base, 'pod-logs');
    const outside = join(base, 'outside');
    await mkdir(join(outside, 'victim'), { recursive: true });
    await writeFile(join(outside, 'victim', 'keep.log'), 'precious\n');
    await writeFile(join(outside, 'secret.txt'), 'precious\n');
    // the pod that is gone, with a symlink inside pointing out
    await mkdir(join(root, 'default_gone_uid-gone', 'app'), { recursive: true });
    await writeFile(join(root, 'default_gone_uid-gone', 'app', '0.log'), 'log line\n');
    await symlink(join(outside, 'secret.txt'), join(root, 'default_gone_uid-gone', 'app', 'escape.log'));
    await symlink(outside, join(root, 'default_gone_uid-gone', 'escape-dir'));
    // a symlink in the root named like a pod log directory of no pod, pointing out of it
    await symlink(join(outside, 'victim'), join(root, 'default_planted_uid-planted'));
    // the pod that still runs
    await mkdir(join(root, 'default_web_uid-web', 'app'), { recursive: true });

    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    // the node's own port, observed: each listing and each removal, as it completes
    const real = nodePodLogFs();
    let listings = 0;
    let removedOne!: (path: string) => void;
    const removal = new Promise<string>((r) => {
      removedOne = r;
    });
    const logFs = {
      list: (dir: string) => {
        listings++;
        return real.list(dir);
      },
      removeDir: async (path: string) => {
        await real.removeDir(path);
        removedOne(path);
      },
    };
    const a = await startActor(
      containerGC,
      { cri, podLogsDir: root, logFs, sources: ['file'], periodMs: 1000 },
      { clock },
    );
    const web = {
      pod: { metadata: { name: 'web', namespace: 'default', uid: 'uid-web' } } as Pod,
      source: 'file',
      static: true,
    } as DesiredPod;
    a.bus.port('podManager').publish('desiredPods', new Map([['uid-web', web]]));
    await clock.advanceAsync(3000);
    assert.equal(listings, 0, 'the log root is not even read before every source has listed');
    assert.ok(existsSync(join(root, 'default_gone_uid-gone')));
    a.bus.port('syncLoop').publish('readySources', new Set(['file']));
    await clock.advanceAsync(1000);
    assert.equal(await removal, join(root, 'default_gone_uid-gone'));
    assert.deepEqual((await readdir(root)).sort(), ['default_planted_uid-planted', 'default_web_uid-web']);
    assert.ok(
      (await lstat(join(root, 'default_planted_uid-planted'))).isSymbolicLink(),
      'the planted symlink is left alone',
    );
    assert.equal(await readFile(join(outside, 'victim', 'keep.log'), 'utf8'), 'precious\n');
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'precious\n');
    assert.equal((a.inspect() as { removedLogDirs: number }).removedLogDirs, 1);
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });
});
