/**
 * The stats provider's file system port: cgroup and /proc files, statfs of a file system and
 * the usage of a directory tree (du: 512-byte blocks of every file, symlinks not followed,
 * inodes counted). Specs hand in a fake tree; the daemon gets the node's.
 */
import { lstat, readdir, readFile, statfs } from 'node:fs/promises';
import type { StatfsResult } from './logic.ts';

export interface StatsFs {
  /** The file's text; undefined when it does not exist. */
  read(file: string): Promise<string | undefined>;
  statfs(path: string): Promise<StatfsResult>;
  /** The names in `dir`; [] when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** Bytes on disk and inodes under `dir`; undefined when it does not exist. */
  du(dir: string): Promise<{ bytes: number; inodes: number } | undefined>;
}

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
const gone = (e: unknown) => code(e) === 'ENOENT' || code(e) === 'ESRCH' || code(e) === 'ENODEV';

export function nodeStatsFs(): StatsFs {
  return {
    async read(file) {
      try {
        return await readFile(file, 'utf8');
      } catch (e) {
        if (gone(e)) return undefined;
        throw e;
      }
    },
    async statfs(path) {
      const s = await statfs(path);
      return {
        capacity: s.blocks * s.bsize,
        available: s.bavail * s.bsize,
        free: s.bfree * s.bsize,
        inodes: s.files,
        inodesFree: s.ffree,
      };
    },
    async list(dir) {
      try {
        return await readdir(dir);
      } catch (e) {
        if (gone(e)) return [];
        throw e;
      }
    },
    async du(dir) {
      let bytes = 0;
      let inodes = 0;
      const seen = new Set<number>();
      const walk = async (p: string): Promise<void> => {
        let st;
        try {
          st = await lstat(p);
        } catch (e) {
          if (gone(e)) return;
          throw e;
        }
        if (st.nlink > 1 && seen.has(st.ino)) return;
        seen.add(st.ino);
        inodes++;
        bytes += st.blocks * 512;
        if (!st.isDirectory()) return;
        let names: string[];
        try {
          names = await readdir(p);
        } catch (e) {
          if (gone(e)) return;
          throw e;
        }
        for (const n of names) await walk(`${p}/${n}`);
      };
      try {
        await lstat(dir);
      } catch (e) {
        if (gone(e)) return undefined;
        throw e;
      }
      await walk(dir);
      return { bytes, inodes };
    },
  };
}
