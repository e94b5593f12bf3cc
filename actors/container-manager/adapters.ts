/**
 * containerManager's file system port: the node's cgroup trees under /sys/fs/cgroup and the
 * processes' oom_score_adj. Specs on other machines (or for cgroup v2 on this v1 one) hand in a
 * fake; the daemon gets the node's.
 */
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';

export interface CgroupFs {
  readMountinfo(): Promise<string>;
  /** mkdir -p */
  mkdir(dir: string): Promise<void>;
  write(file: string, value: string): Promise<void>;
  /** The file's text; undefined when it does not exist. */
  read(file: string): Promise<string | undefined>;
  /** The sub-directories of `dir` (child cgroups); [] when `dir` does not exist. */
  subdirs(dir: string): Promise<string[]>;
  /** Removes the empty cgroup `dir`; no error when it is already gone. */
  rmdir(dir: string): Promise<void>;
}

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

export function nodeCgroupFs(): CgroupFs {
  return {
    readMountinfo: () => readFile('/proc/self/mountinfo', 'utf8'),
    mkdir: async (dir) => {
      await mkdir(dir, { recursive: true });
    },
    write: (file, value) => writeFile(file, value),
    async read(file) {
      try {
        return await readFile(file, 'utf8');
      } catch (e) {
        if (code(e) === 'ENOENT' || code(e) === 'ESRCH') return undefined;
        throw e;
      }
    },
    async subdirs(dir) {
      try {
        return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
      } catch (e) {
        if (code(e) === 'ENOENT') return [];
        throw e;
      }
    },
    async rmdir(dir) {
      try {
        await rmdir(dir);
      } catch (e) {
        if (code(e) !== 'ENOENT') throw e;
      }
    },
  };
}
