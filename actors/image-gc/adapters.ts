/** imageGC's file system port: the size and free space of the file system an image store lives on (statfs). */
import { statfs } from 'node:fs/promises';

export interface ImageFsStats {
  /** Bytes of the file system holding `path`, and how many an unprivileged writer may still use. */
  statfs(path: string): Promise<{ capacity: number; available: number }>;
}

export function nodeImageFsStats(): ImageFsStats {
  return {
    async statfs(path) {
      const s = await statfs(path);
      return { capacity: s.blocks * s.bsize, available: s.bavail * s.bsize };
    },
  };
}
