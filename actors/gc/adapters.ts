/**
 * containerGC's file system port: the pod log root (`--pod-logs-dir`), read and pruned without
 * ever following a symlink.
 */
import { lstat, readdir, rm } from 'node:fs/promises';

export interface PodLogEntry {
  name: string;
  /** A real directory (lstat): a symlink, even to a directory, is not. */
  dir: boolean;
}

export interface PodLogFs {
  /** The entries directly under `root` (none when it does not exist). */
  list(root: string): Promise<PodLogEntry[]>;
  /** Removes the real directory `path` and what is in it; symlinks inside are unlinked, never followed. */
  removeDir(path: string): Promise<void>;
}

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

export function nodePodLogFs(): PodLogFs {
  return {
    async list(root) {
      try {
        return (await readdir(root, { withFileTypes: true })).map((d) => ({
          name: d.name,
          dir: d.isDirectory() && !d.isSymbolicLink(),
        }));
      } catch (e) {
        if (code(e) === 'ENOENT') return [];
        throw e;
      }
    },
    async removeDir(path) {
      // checked again right before: what is there now must still be a real directory
      const st = await lstat(path);
      if (!st.isDirectory() || st.isSymbolicLink())
        throw new Error(`pod log directory ${path}: not a directory, left alone`);
      // fs.rm removes a symlink it meets inside, never what it points to
      await rm(path, { recursive: true, force: true });
    },
  };
}
