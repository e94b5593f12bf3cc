/**
 * upstream's AtomicWriter (pkg/volume/util/atomic_writer.go): a volume's files replaced all at
 * once, so a reader never sees a half-written file or a mix of two versions. The layout, in the
 * volume's directory:
 *
 *   ..2026_03_01_10_00_00.a1B2c3/   one timestamped directory per version, the files in it
 *   ..data -> ..2026_03_01_10_00_00.a1B2c3
 *   app.conf -> ..data/app.conf     a user-visible symlink per top-level name
 *   conf -> ..data/conf
 *
 * A write: the paths validated (relative, no `..` element, not starting with `..`, upstream's
 * length limits); nothing done when the files (content and mode) are those of the current
 * version; else a new timestamped directory with every file written with its mode, the
 * user-visible links made, then `..data_tmp` pointing to the new directory renamed over `..data`
 * (the one atomic step), the links of names no longer there removed, and the old version (and any
 * timestamped directory a crash left behind) removed.
 *
 * Where secrets go is the caller's business: the volume manager (actors/volumes) mounts a tmpfs
 * there first, as upstream does for secret and projected volumes. Time comes from the caller's
 * clock.
 */
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { VolumeFile } from './projections.ts';

export const DATA_DIR_NAME = '..data';
const DATA_DIR_TMP_NAME = '..data_tmp';
/** upstream maxFileNameLength, maxPathLength. */
const MAX_FILE_NAME_LENGTH = 255;
const MAX_PATH_LENGTH = 4096;

export class AtomicWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AtomicWriteError';
  }
}

export interface AtomicWriteResult {
  /** false: the files were already there, nothing was written. */
  written: boolean;
  /** The timestamped directory `..data` points to. */
  dataDir: string;
}

/** upstream validatePath: the reason a payload path is refused, or undefined. */
export function invalidPayloadPath(p: string): string | undefined {
  if (p === '') return 'must not be empty';
  if (p.length > MAX_PATH_LENGTH) return `must be less than or equal to ${MAX_PATH_LENGTH} characters`;
  if (posix.isAbsolute(p)) return 'must be relative path';
  const parts = p.split('/');
  if (parts.some((x) => x.length > MAX_FILE_NAME_LENGTH))
    return `must not contain a file name longer than ${MAX_FILE_NAME_LENGTH} characters`;
  if (parts.includes('..')) return "must not contain '..'";
  if (p.startsWith('..')) return "must not start with '..'";
  return undefined;
}

function clean(p: string): string {
  const n = posix.normalize(p);
  return n.endsWith('/') ? n.slice(0, -1) : n;
}

/** `..YYYY_MM_DD_HH_MM_SS.` of the clock's time (UTC), upstream's prefix of a version's directory. */
export function timestampPrefix(now: number): string {
  const d = new Date(now);
  const p = (n: number) => String(n).padStart(2, '0');
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.`;
}

const isTimestampDir = (name: string) => /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./.test(name);

const errCode = (e: unknown) => (e as NodeJS.ErrnoException).code;

async function currentVersion(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, DATA_DIR_NAME));
  } catch (e) {
    if (errCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Every file under `root`, relative paths. */
async function listFiles(root: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, rel)));
    else out.push(rel);
  }
  return out;
}

/** upstream shouldWritePayload: a file differs, is missing, or is extra (here the mode counts too). */
async function sameAsCurrent(versionDir: string, files: ReadonlyMap<string, VolumeFile>): Promise<boolean> {
  try {
    const existing = await listFiles(versionDir);
    if (existing.length !== files.size) return false;
    for (const [path, f] of files) {
      const full = join(versionDir, path);
      const [content, st] = await Promise.all([readFile(full), stat(full)]);
      if ((st.mode & 0o7777) !== f.mode || !content.equals(f.content)) return false;
    }
    return true;
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return false;
    throw e;
  }
}

/**
 * Replaces the files of the volume at `dir` (which exists) with `files`, atomically.
 * Rejects with AtomicWriteError naming the path and the cause.
 */
export async function writeAtomically(
  dir: string,
  files: readonly VolumeFile[],
  opts: { now: () => number },
): Promise<AtomicWriteResult> {
  const payload = new Map<string, VolumeFile>();
  for (const f of files) {
    const why = invalidPayloadPath(f.path);
    if (why) throw new AtomicWriteError(`volume ${dir}: invalid path ${JSON.stringify(f.path)}: ${why}`);
    const path = clean(f.path);
    payload.set(path, { ...f, path });
  }
  const fail = (what: string, e: unknown): never => {
    throw new AtomicWriteError(`volume ${dir}: ${what}: ${e instanceof Error ? e.message : String(e)}`);
  };
  const old = await currentVersion(dir).catch((e: unknown) => fail(`reading ${DATA_DIR_NAME}`, e));
  const oldPaths = old ? await listFiles(join(dir, old)).catch(() => []) : [];
  const topLevel = (paths: Iterable<string>) => new Set([...paths].map((p) => p.split('/')[0]!));
  const newTop = topLevel(payload.keys());
  const toRemove = [...topLevel(oldPaths)].filter((n) => !newTop.has(n));
  if (old && toRemove.length === 0 && (await sameAsCurrent(join(dir, old), payload)))
    return { written: false, dataDir: old };

  // the new version, complete before anyone can see it
  const versionPath = await mkdtemp(join(dir, timestampPrefix(opts.now()))).catch((e: unknown) =>
    fail('creating the version directory', e),
  );
  const version = basename(versionPath);
  try {
    await chmod(versionPath, 0o755);
    for (const f of payload.values()) {
      const full = join(versionPath, f.path);
      await mkdir(dirname(full), { recursive: true, mode: 0o755 });
      await writeFile(full, f.content, { mode: f.mode });
      await chmod(full, f.mode); // (the umask)
    }
    // user-visible links first: they point through ..data, so they show the new version only once it is swapped in
    for (const name of newTop) {
      const link = join(dir, name);
      try {
        await lstat(link);
      } catch (e) {
        if (errCode(e) !== 'ENOENT') throw e;
        await symlink(join(DATA_DIR_NAME, name), link);
      }
    }
    const tmp = join(dir, DATA_DIR_TMP_NAME);
    await rm(tmp, { force: true });
    await symlink(version, tmp);
    await rename(tmp, join(dir, DATA_DIR_NAME));
  } catch (e) {
    await rm(versionPath, { recursive: true, force: true });
    fail(`writing version ${version}`, e);
  }
  for (const name of toRemove) await unlink(join(dir, name)).catch(() => {});
  // the old version, and any a crash left behind
  for (const e of await readdir(dir)) {
    if (e !== version && isTimestampDir(e)) await rm(join(dir, e), { recursive: true, force: true });
  }
  return { written: true, dataDir: version };
}
