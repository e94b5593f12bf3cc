/**
 * The volumeManager's effects: the node's file system and mounts under --root-dir, behind
 * VolumeFs. Every method takes and answers JSON values, so the daemon's recorder can wrap the
 * port (`volumes` records) and a replay answer from the recording (bin/replay.ts).
 *
 * Removal never follows a symlink and never crosses a mount point: what is mounted below a
 * directory is unmounted first (deepest first), and a walk that still meets another device
 * stops with an error naming it (upstream removeall.RemoveDirsOneFilesystem).
 */
import { constants } from 'node:fs';
import { chmod, lchown, lstat, mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically, type AtomicWriteResult } from '../../adapters/volumes/atomic-writer.ts';
import { mountsUnder, type Mounter } from '../../adapters/volumes/mount.ts';
import type { VolumeFile } from '../../adapters/volumes/projections.ts';

/** What is at a path, following symlinks as upstream's os.Stat does. */
export type FileType = 'Directory' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice' | 'Other' | 'Missing';

export interface VolumeFs {
  fileType(path: string): Promise<FileType>;
  /** MkdirAll with `mode` (before the umask, as Go's). */
  mkdirAll(path: string, mode: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Creates an empty file (O_CREAT, `mode`) when there is none. */
  createFile(path: string, mode: number): Promise<void>;
  /** The file system type mounted at `path` exactly, or '' when it is no mount point. */
  mountedType(path: string): Promise<string>;
  /** `mount -t tmpfs -o size=<bytes> tmpfs <dir>` (no size option without a size). */
  mountTmpfs(dir: string, sizeBytes?: number): Promise<void>;
  /** Unmounts everything at or below `dir`, deepest first; answers the targets unmounted. */
  unmountAll(dir: string): Promise<string[]>;
  /**
   * upstream SetVolumeOwnership: group `fsGroup` on everything below `dir` (symlinks themselves,
   * never their targets), group read-write (execute on directories) and setgid on directories.
   * With policy OnRootMismatch nothing changes when the root already has that group and those
   * bits. Answers whether anything was walked.
   */
  setVolumeOwnership(dir: string, fsGroup: number, policy: string): Promise<'changed' | 'skipped'>;
  /** Removes `dir` and what is below it on its own file system, after unmountAll; no error when absent. */
  removeAll(dir: string): Promise<void>;
  /** The names under `<root-dir>/pods` (pod UIDs), symlinks included (they are removed, never followed). */
  listPodDirs(): Promise<string[]>;
  /**
   * A data volume's files replaced all at once in `dir` (adapters/volumes/atomic-writer.ts: a
   * timestamped version directory, `..data` swapped by one rename, links through it); nothing
   * written when they are already there. The recorder redacts the files' content.
   */
  writeAtomically(dir: string, files: VolumeFile[]): Promise<AtomicWriteResult>;
}

function fileTypeOf(st: Awaited<ReturnType<typeof stat>>): FileType {
  if (st.isDirectory()) return 'Directory';
  if (st.isFile()) return 'File';
  if (st.isSocket()) return 'Socket';
  if (st.isCharacterDevice()) return 'CharDevice';
  if (st.isBlockDevice()) return 'BlockDevice';
  return 'Other';
}

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** upstream's group bits: rw for files, rwx plus setgid for directories. */
const GROUP_RW = 0o060;
const GROUP_X = 0o010;
const SETGID = 0o2000;

async function walkRemove(path: string, dev: number): Promise<void> {
  const st = await lstat(path);
  if (!st.isDirectory()) return unlink(path);
  if (st.dev !== dev) throw new Error(`${path} is on another file system (a mount point): not removed`);
  for (const name of await readdir(path)) await walkRemove(join(path, name), dev);
  await rmdir(path);
}

async function walkOwnership(path: string, gid: number): Promise<void> {
  const st = await lstat(path);
  await lchown(path, -1, gid);
  if (st.isSymbolicLink()) return;
  const mode = st.mode & 0o7777;
  const want = st.isDirectory() ? mode | GROUP_RW | GROUP_X | SETGID : mode | GROUP_RW;
  if (want !== mode) await chmod(path, want);
  if (st.isDirectory()) for (const name of await readdir(path)) await walkOwnership(join(path, name), gid);
}

/** The node's VolumeFs; `now` (the kubelet's clock) names the atomic writer's version directories. */
export function nodeVolumeFs(rootDir: string, mounter: Mounter, now: () => number): VolumeFs {
  return {
    async fileType(path) {
      try {
        return fileTypeOf(await stat(path));
      } catch (e) {
        if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return 'Missing';
        throw e;
      }
    },
    async mkdirAll(path, mode) {
      await mkdir(path, { recursive: true, mode });
    },
    chmod: (path, mode) => chmod(path, mode),
    async createFile(path, mode) {
      const fh = await open(path, constants.O_CREAT | constants.O_WRONLY | constants.O_NOFOLLOW, mode);
      await fh.close();
    },
    async mountedType(path) {
      return (await mounter.mountPoints()).findLast((m) => m.target === path)?.fstype ?? '';
    },
    async mountTmpfs(dir, sizeBytes) {
      await mounter.mount('tmpfs', dir, {
        fstype: 'tmpfs',
        options: sizeBytes !== undefined && sizeBytes > 0 ? [`size=${sizeBytes}`] : [],
      });
    },
    async unmountAll(dir) {
      const done: string[] = [];
      // a target mounted twice is listed twice: each umount takes one off
      for (const m of mountsUnder(await mounter.mountPoints(), dir)) {
        await mounter.unmount(m.target);
        done.push(m.target);
      }
      return done;
    },
    async setVolumeOwnership(dir, fsGroup, policy) {
      const st = await stat(dir);
      const need = GROUP_RW | GROUP_X | SETGID;
      if (policy === 'OnRootMismatch' && st.gid === fsGroup && (st.mode & need) === need) return 'skipped';
      await walkOwnership(dir, fsGroup);
      return 'changed';
    },
    async removeAll(dir) {
      let st;
      try {
        st = await lstat(dir);
      } catch (e) {
        if (code(e) === 'ENOENT') return;
        throw e;
      }
      const left = mountsUnder(await mounter.mountPoints(), dir);
      if (left.length > 0)
        throw new Error(`${dir}: still mounted below it (${left.map((m) => m.target).join(', ')}): not removed`);
      await walkRemove(dir, st.dev);
    },
    async listPodDirs() {
      try {
        return (await readdir(join(rootDir, 'pods'))).sort();
      } catch (e) {
        if (code(e) === 'ENOENT') return [];
        throw e;
      }
    },
    writeAtomically: (dir, files) => writeAtomically(dir, files, { now }),
  };
}

/**
 * A VolumeFs with no effects, for a kubelet on injected pod sources (the fake runtime's specs):
 * every path is a directory, nothing is mounted, every change succeeds.
 */
export const inertVolumeFs: VolumeFs = {
  fileType: () => Promise.resolve('Directory'),
  mkdirAll: () => Promise.resolve(),
  chmod: () => Promise.resolve(),
  createFile: () => Promise.resolve(),
  mountedType: () => Promise.resolve(''),
  mountTmpfs: () => Promise.resolve(),
  unmountAll: () => Promise.resolve([]),
  setVolumeOwnership: () => Promise.resolve('changed'),
  removeAll: () => Promise.resolve(),
  listPodDirs: () => Promise.resolve([]),
  writeAtomically: (dir) => Promise.resolve({ written: true, dataDir: `${dir}/..data` }),
};

/** The VolumeFs methods, for the recorder (every one is a volume decision with its answer). */
export const VOLUME_FS_METHODS: readonly (keyof VolumeFs)[] = [
  'fileType',
  'mkdirAll',
  'chmod',
  'createFile',
  'mountedType',
  'mountTmpfs',
  'unmountAll',
  'setVolumeOwnership',
  'removeAll',
  'listPodDirs',
  'writeAtomically',
];
