/**
 * Safe subPath bind mounts (upstream pkg/volume/util/subpath, subpath_linux.go): the answer to
 * CVE-2017-1002101 and CVE-2021-25741, where a container made a symlink inside a volume and a
 * later subPath mount followed it out onto the host.
 *
 * 1. The subPath is relative and has no `..` (after subPathExpr expansion too).
 * 2. A missing subPath is created as directories, each one made through the directory opened
 *    before it (`/proc/self/fd/N/name`), so nothing a container swapped in meanwhile is followed.
 * 3. The path with symlinks resolved must stay inside the volume, else it is refused
 *    (`subpath "..." not within volume path "..."`, upstream's wording).
 * 4. The resolved path is opened one component at a time, each with O_NOFOLLOW (and O_PATH),
 *    relative to the one before: a symlink met there (swapped in after step 3) is refused.
 * 5. The bind mount's source is the opened descriptor as /proc/<kubelet pid>/fd/N, with `mount
 *    --no-canonicalize` so the binary does not resolve it again: what is mounted is the inode that
 *    was checked. The descriptor stays open until the mount has returned.
 *
 * The bind target is the kubelet's own: `<root-dir>/pods/<uid>/volume-subpaths/<volume>/<container>/<index>`.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, writeFile, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { Mounter } from './mount.ts';

/** Linux's O_PATH (the same on x86_64 and arm64); node:fs does not export it. */
const O_PATH = 0o10000000;
const OPEN_COMPONENT = O_PATH | constants.O_NOFOLLOW;

/** A subPath that is refused: its message says why (a symlink out of the volume, `..`, an absolute path). */
export class SubPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubPathError';
  }
}

/** upstream validation of a (expanded) subPath: relative, no `..` component. Undefined when fine. */
export function subPathProblem(subPath: string): string | undefined {
  if (isAbsolute(subPath)) return `subPath ${JSON.stringify(subPath)} must be a relative path`;
  if (subPath.split('/').includes('..')) return `subPath ${JSON.stringify(subPath)} must not contain '..'`;
  return undefined;
}

/** The path below `root`, or undefined when `path` is outside it. */
function within(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (rel === '') return '';
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel;
}

const components = (rel: string) => rel.split(sep).filter((c) => c !== '' && c !== '.');

/**
 * Opens `root/rel` one component at a time with O_NOFOLLOW: never through a symlink. The caller
 * closes the handle. Missing components are made as directories (mode `mode`) when `create`.
 */
export async function safeOpen(
  root: string,
  rel: string,
  opts: { create?: boolean; mode?: number } = {},
): Promise<FileHandle> {
  let fh = await open(root, OPEN_COMPONENT | constants.O_DIRECTORY);
  try {
    let at = root;
    for (const name of components(rel)) {
      at = join(at, name);
      const next = `/proc/self/fd/${fh.fd}/${name}`;
      let child: FileHandle;
      try {
        child = await open(next, OPEN_COMPONENT);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !opts.create) throw e;
        // made in the directory opened above, whatever its path has become since
        await mkdir(next, { mode: opts.mode ?? 0o750 });
        child = await open(next, OPEN_COMPONENT);
      }
      await fh.close();
      fh = child;
      const st = await fh.stat();
      if (st.isSymbolicLink())
        throw new SubPathError(`subpath ${JSON.stringify(at)} is a symlink: refused (it changed while being checked)`);
    }
    return fh;
  } catch (e) {
    await fh.close().catch(() => {});
    throw e;
  }
}

export interface SubPathRequest {
  /** The volume's directory on the host (the emptyDir's, the hostPath's path). */
  volumePath: string;
  /** The expanded subPath. */
  subPath: string;
  /** Where the bind goes: `<pod dir>/volume-subpaths/<volume>/<container>/<index>`. */
  target: string;
}

/**
 * upstream PrepareSafeSubpath: bind-mounts `volumePath/subPath` on `target` after the checks of
 * this file's header, and returns `target`. Throws SubPathError when the subPath is refused.
 */
export async function prepareSafeSubpath(mounter: Mounter, req: SubPathRequest): Promise<string> {
  const problem = subPathProblem(req.subPath);
  if (problem) throw new SubPathError(problem);
  const root = await realpath(req.volumePath);
  const rel0 = components(req.subPath).join(sep);
  // upstream makeMounts creates a missing subPath first, so that it is not made later through a
  // path a container controls; each directory is made below the one opened before it
  const exists = await lstat(join(root, rel0)).then(
    () => true,
    () => false,
  );
  if (!exists) {
    const mode = (await lstat(root)).mode & 0o7777;
    await (await safeOpen(root, rel0, { create: true, mode })).close();
  }
  let resolved: string;
  try {
    resolved = await realpath(join(root, rel0));
  } catch (e) {
    throw new SubPathError(`subpath ${JSON.stringify(join(root, rel0))}: ${(e as Error).message}`);
  }
  const rel = within(root, resolved);
  if (rel === undefined)
    throw new SubPathError(`subpath ${JSON.stringify(resolved)} not within volume path ${JSON.stringify(root)}`);
  const fh = await safeOpen(root, rel);
  try {
    const st = await fh.stat();
    const mounted = (await mounter.mountPoints()).some((m) => m.target === req.target);
    if (!mounted) {
      if (st.isDirectory()) await mkdir(req.target, { recursive: true, mode: 0o750 });
      else {
        await mkdir(join(req.target, '..'), { recursive: true, mode: 0o750 });
        await writeFile(req.target, '', { flag: 'a', mode: 0o640 });
      }
      await mounter.mount(`/proc/${process.pid}/fd/${fh.fd}`, req.target, { bind: true });
    }
  } finally {
    await fh.close();
  }
  return req.target;
}
