/**
 * hostPath (upstream pkg/volume/hostpath): the host's path itself, checked against `type` as
 * upstream's checkTypeInternal does (following symlinks, as os.Stat): DirectoryOrCreate makes
 * the directory (0755) when missing, FileOrCreate an empty file (0644); Directory, File, Socket,
 * CharDevice and BlockDevice must be there and be that; unset checks nothing. Nothing is torn
 * down: the host's files stay.
 */
import type { VolumePlugin } from './index.ts';

const NOT: Record<string, string> = {
  Directory: 'a directory',
  File: 'a file',
  Socket: 'a socket file',
  CharDevice: 'a character device',
  BlockDevice: 'a block device',
};

export const hostPathPlugin: VolumePlugin = {
  name: 'kubernetes.io/host-path',
  canSupport: (v) => v.hostPath !== undefined,
  async setUp({ volume }, host) {
    const path = volume.hostPath?.path ?? '';
    const type = volume.hostPath?.type ?? '';
    if (!path.startsWith('/')) throw new Error(`hostPath ${JSON.stringify(path)} must be an absolute path`);
    let want = type;
    if (type === 'DirectoryOrCreate' || type === 'FileOrCreate') {
      const found = await host.fs.fileType(path);
      if (found === 'Missing') {
        if (type === 'DirectoryOrCreate') await host.fs.mkdirAll(path, 0o755);
        else await host.fs.createFile(path, 0o644);
      }
      want = type === 'DirectoryOrCreate' ? 'Directory' : 'File';
    }
    if (want !== '') {
      const not = NOT[want];
      if (not === undefined) throw new Error(`${want} is an invalid volume type`);
      if ((await host.fs.fileType(path)) !== want) throw new Error(`hostPath type check failed: ${path} is not ${not}`);
    }
    return { path, selinuxRelabel: false };
  },
  async tearDown() {},
};
