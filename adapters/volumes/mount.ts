/**
 * Mounting on the node: the `mount` and `umount` binaries (util-linux), never a native addon, and
 * the mount table as /proc/self/mountinfo lists it. Used by the volumeManager (tmpfs for
 * `emptyDir.medium: Memory`, bind mounts of subPaths) and by the runtime (subPath binds at
 * container creation), both through the ports they declare.
 *
 * Every error names the mount and the binary's own message (`mount -t tmpfs ... /x: exit 32:
 * mount: /x: permission denied.`).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface MountPoint {
  /** The mount point, unescaped (mountinfo writes a space as \040). */
  target: string;
  /** The file system type (tmpfs, ext4, ...). */
  fstype: string;
  /** The source as mountinfo gives it (tmpfs, /dev/sda1, ...). */
  source: string;
  /** The per-mount options (rw, nosuid, ...) and the super block's (size=...). */
  options: string[];
}

export interface Mounter {
  /** `mount [-t fstype] [-o options] source target`; `bind` uses --bind with --no-canonicalize (the source may be a /proc/<pid>/fd/N path). */
  mount(
    source: string,
    target: string,
    opts: { fstype?: string; options?: readonly string[]; bind?: boolean },
  ): Promise<void>;
  /** `umount target`; a target that is not mounted is not an error. */
  unmount(target: string): Promise<void>;
  /** The node's mount table (this process's mount namespace). */
  mountPoints(): Promise<MountPoint[]>;
}

function run(bin: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = typeof err.code === 'number' ? `exit ${err.code}` : String(err.code ?? err.message);
      reject(new Error(`${bin} ${args.join(' ')}: ${code}: ${String(stderr).trim() || err.message}`));
    });
  });
}

/** mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
const unescapeOctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Parses /proc/<pid>/mountinfo (proc(5)): `id parent major:minor root target opts [tags] - fstype source superopts`. */
export function parseMountInfo(text: string): MountPoint[] {
  const out: MountPoint[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const head = line.slice(0, sep).split(' ');
    const tail = line.slice(sep + 3).split(' ');
    if (head.length < 6 || tail.length < 2) continue;
    out.push({
      target: unescapeOctal(head[4]!),
      fstype: tail[0]!,
      source: unescapeOctal(tail[1]!),
      options: [...head[5]!.split(','), ...(tail[2] ?? '').split(',').filter((o) => o !== '')],
    });
  }
  return out;
}

export const nodeMounter: Mounter = {
  async mount(source, target, opts) {
    const args = opts.bind ? ['--no-canonicalize', '--bind'] : [];
    if (opts.fstype) args.push('-t', opts.fstype);
    if (opts.options && opts.options.length > 0) args.push('-o', opts.options.join(','));
    await run('mount', [...args, source, target]);
  },
  async unmount(target) {
    const mounted = (await this.mountPoints()).some((m) => m.target === target);
    if (!mounted) return;
    await run('umount', [target]);
  },
  async mountPoints() {
    return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  },
};

/** The mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(mounts: readonly MountPoint[], dir: string): MountPoint[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return mounts
    .filter((m) => m.target === dir || m.target.startsWith(prefix))
    .sort((a, b) => b.target.length - a.target.length);
}
