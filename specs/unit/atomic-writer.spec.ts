/**
 * The atomic writer (adapters/volumes/atomic-writer.ts) on a temporary directory: upstream's
 * layout (a timestamped version directory, `..data` pointing to it, user-visible links through
 * `..data`), files with their modes, nothing rewritten when nothing changed, an update replacing
 * everything at once (removed keys gone, the old and any stale version removed), invalid paths
 * refused, and readers that never see a half-written file or a mix of two versions while it
 * writes.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AtomicWriteError,
  invalidPayloadPath,
  timestampPrefix,
  writeAtomically,
} from '../../adapters/volumes/atomic-writer.ts';
import type { VolumeFile } from '../../adapters/volumes/projections.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const file = (path: string, text: string | Buffer, mode = 0o644): VolumeFile => ({
  path,
  content: Buffer.isBuffer(text) ? text : Buffer.from(text),
  mode,
});

describe('atomic writer', () => {
  let dir: string;
  let now = T0;
  const opts = { now: () => now };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-atomic-'));
    now = T0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("upstream's layout: a timestamped version, ..data, user-visible links; files with their modes", async () => {
    const r = await writeAtomically(
      dir,
      [file('app.conf', 'key=value\n'), file('conf/nested/a', 'A', 0o400), file('token', 'secret', 0o600)],
      opts,
    );
    assert.equal(r.written, true);
    assert.match(r.dataDir, /^\.\.2026_03_01_10_00_00\..+$/);
    assert.equal(await readlink(join(dir, '..data')), r.dataDir);
    assert.deepEqual((await readdir(dir)).sort(), ['..data', r.dataDir, 'app.conf', 'conf', 'token'].sort());
    assert.equal(await readlink(join(dir, 'app.conf')), '..data/app.conf');
    assert.equal(await readlink(join(dir, 'conf')), '..data/conf');
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'key=value\n');
    assert.equal(await readFile(join(dir, 'conf/nested/a'), 'utf8'), 'A');
    assert.equal((await stat(join(dir, 'conf/nested/a'))).mode & 0o777, 0o400);
    assert.equal((await stat(join(dir, 'token'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'app.conf'))).mode & 0o777, 0o644);
    assert.equal((await stat(join(dir, r.dataDir))).mode & 0o777, 0o755);
  });

  it('the same files again: nothing written; a changed mode is a change', async () => {
    const first = await writeAtomically(dir, [file('a', '1'), file('b', '2')], opts);
    now += 5000;
    assert.deepEqual(await writeAtomically(dir, [file('b', '2'), file('a', '1')], opts), {
      written: false,
      dataDir: first.dataDir,
    });
    const again = await writeAtomically(dir, [file('a', '1', 0o600), file('b', '2')], opts);
    assert.equal(again.written, true);
    assert.notEqual(again.dataDir, first.dataDir);
  });

  it('an update replaces everything at once: new values, removed keys gone, the old version and a stale one removed', async () => {
    const first = await writeAtomically(dir, [file('keep', 'v1'), file('gone', 'x'), file('sub/f', 'old')], opts);
    // what a crash between writing a version and swapping it in leaves behind
    await mkdir(join(dir, '..2026_02_28_09_00_00.stale1'));
    now += 60_000;
    const second = await writeAtomically(dir, [file('keep', 'v2'), file('new', 'n')], opts);
    assert.match(second.dataDir, /^\.\.2026_03_01_10_01_00\./);
    assert.deepEqual((await readdir(dir)).sort(), ['..data', second.dataDir, 'keep', 'new'].sort());
    assert.equal(await readFile(join(dir, 'keep'), 'utf8'), 'v2');
    assert.equal(await readFile(join(dir, 'new'), 'utf8'), 'n');
    await assert.rejects(lstat(join(dir, 'gone')), /ENOENT/);
    await assert.rejects(lstat(join(dir, first.dataDir)), /ENOENT/);
    // an empty payload: only ..data and an empty version
    const third = await writeAtomically(dir, [], opts);
    assert.deepEqual((await readdir(dir)).sort(), ['..data', third.dataDir].sort());
  });

  it('invalid paths are refused before anything is written', async () => {
    assert.equal(invalidPayloadPath('/etc/passwd'), 'must be relative path');
    assert.equal(invalidPayloadPath('a/../../b'), "must not contain '..'");
    assert.equal(invalidPayloadPath('..data'), "must not start with '..'");
    assert.equal(invalidPayloadPath(''), 'must not be empty');
    assert.equal(invalidPayloadPath(`${'x'.repeat(256)}`), 'must not contain a file name longer than 255 characters');
    assert.equal(invalidPayloadPath('a/b.c'), undefined);
    await assert.rejects(
      writeAtomically(dir, [file('ok', '1'), file('../escape', 'x')], opts),
      (e: unknown) =>
        e instanceof AtomicWriteError && e.message === `volume ${dir}: invalid path "../escape": must not contain '..'`,
    );
    assert.deepEqual(await readdir(dir), []);
  });

  it('a reader never sees a half-written file or a mix of two versions', async () => {
    const size = 1 << 20;
    const version = (n: number) => [
      file('big', Buffer.alloc(size, 0x41 + (n % 26))),
      file('tag', String.fromCharCode(0x41 + (n % 26))),
    ];
    await writeAtomically(dir, version(0), opts);
    let writing = true;
    const seen = new Set<string>();
    const reader = (async () => {
      let reads = 0;
      while (writing || reads < 20) {
        // through the user-visible link, as a container reads it
        const big = await readFile(join(dir, 'big'));
        assert.equal(big.length, size, 'a whole file');
        const first = big[0]!;
        assert.ok(big.equals(Buffer.alloc(size, first)), 'one version only');
        seen.add(String.fromCharCode(first));
        reads++;
      }
    })();
    for (let n = 1; n <= 20; n++) {
      now += 1000;
      await writeAtomically(dir, version(n), opts);
    }
    writing = false;
    await reader;
    assert.ok(seen.size >= 2, `the reader saw several versions (${[...seen].join('')})`);
    assert.equal(await readFile(join(dir, 'tag'), 'utf8'), 'U');
  });

  it("the version prefix is upstream's UTC format", () => {
    assert.equal(timestampPrefix(Date.parse('2026-12-07T23:05:09.999Z')), '..2026_12_07_23_05_09.');
  });
});
