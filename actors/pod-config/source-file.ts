/**
 * The static pod directory (upstream `--pod-manifest-path`, pkg/kubelet/config/file.go): read
 * every manifest once, per relist, into one result per file. No state here; logic.ts merges.
 *
 * As upstream: names starting with '.' are skipped, subdirectories are not entered, entries are
 * taken in sorted order (which decides who wins a duplicate), a missing path is an empty set, and
 * the path may also name a single manifest file. Each file holds ONE pod, as YAML or JSON, at most
 * 10 MiB (upstream maxConfigLength).
 *
 * Stricter than upstream, on purpose:
 * - several YAML documents in one file is an error (upstream silently reads the first);
 * - a symlink that resolves outside the directory is refused (upstream follows anything): a
 *   manifest directory is trusted input, what it points to elsewhere is not;
 * - errors carry a line number where the YAML can give one.
 *
 * The text → pod part (YAML 1.1 as go-yaml v2 reads it, line numbers, toStaticPod) lives in
 * protocols/kube/manifest.ts, shared with the manifest URL source.
 *
 * Unchanged files are not read again (upstream re-reads and re-parses every manifest every 20 s):
 * a ManifestCache keeps, per path, the stat it read at (inode, size, mtime, ctime, and for a
 * symlink its target) and what that text parsed to. A relist stats every entry and reads only
 * those whose stat changed; a path no longer listed leaves the cache. A file changed within
 * RACY_MS of being read is read again next time even if its stat is the same (git's "racily
 * clean" rule: a rewrite inside one timestamp tick, same size, keeps the stat).
 *
 * A provisional read (the first fs event after a quiet spell, acted on at once) may catch a file
 * half-written: a freshly read file it refuses is `pending`, neither reported nor cached, and the
 * read that follows the quiet period decides.
 */
import * as nodePath from 'node:path';
import type { Pod } from '../../protocols/kube/pod.ts';
import { MAX_MANIFEST_BYTES, parseManifestDocument, staticPodFromDocument } from '../../protocols/kube/manifest.ts';
import { errnoCode, type FsStat, type StaticPodFs } from './adapters.ts';

export { MAX_MANIFEST_BYTES };

export type ManifestResult =
  /** A valid pod. */
  | { path: string; kind: 'pod'; pod: Pod }
  /** A manifest refused for its content or its link: the pod it described keeps its last good spec. */
  | { path: string; kind: 'error'; field?: string; reason: string }
  /**
   * Not a manifest (a subdirectory, a socket, a dangling symlink): no pod. `warn` ones are
   * reported as source errors, the others only logged at high verbosity.
   */
  | { path: string; kind: 'skip'; reason: string; warn: boolean }
  /**
   * A provisional read refused a file it had just read (it may be half-written): keep what the
   * path had, report nothing, wait for the read after the quiet period.
   */
  | { path: string; kind: 'pending'; reason: string };

export type Listing =
  | { kind: 'listed'; results: ManifestResult[] }
  /** The path does not exist: upstream reports an empty set (and counts the source as seen). */
  | { kind: 'missing'; reason: string }
  /** The path could not be read at all: nothing changes, the source is not seen. */
  | { kind: 'unreadable'; reason: string };

export interface ParseOptions {
  nodeName: string;
  /** Clock time (ms) for kubernetes.io/config.seen. */
  now: number;
}

export interface ListOptions extends ParseOptions {
  /** Reuse what an unchanged file parsed to; updated in place. */
  cache?: ManifestCache;
  /** Refused freshly read files become `pending` (see the file comment). */
  provisional?: boolean;
}

/** A file whose mtime or ctime is this close to the read is not trusted to be unchanged later. */
export const RACY_MS = 2_000;

interface CachedManifest {
  /** inode, size, mtime, ctime (and symlink target) at the read. */
  stamp: string;
  result: ManifestResult;
  /** False when the file was changed within RACY_MS of the read: read it again next time. */
  trusted: boolean;
}

/** Per path: what its manifest parsed to, at which stat. Owned by one pod-config instance. */
export class ManifestCache {
  readonly #entries = new Map<string, CachedManifest>();

  get size(): number {
    return this.#entries.size;
  }

  lookup(path: string, stamp: string): ManifestResult | undefined {
    const e = this.#entries.get(path);
    return e && e.trusted && e.stamp === stamp ? e.result : undefined;
  }

  store(path: string, stamp: string, result: ManifestResult, trusted: boolean): void {
    this.#entries.set(path, { stamp, result, trusted });
  }

  /** Forget every path not in `listed` (removed files, or a directory that went away). */
  retain(listed: ReadonlySet<string>): void {
    for (const path of [...this.#entries.keys()]) if (!listed.has(path)) this.#entries.delete(path);
  }
}

const stampOf = (st: FsStat, target: string | undefined) =>
  `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}${target !== undefined ? `:${target}` : ''}`;

/** One manifest's text → a pod or the reason it is refused (protocols/kube/manifest.ts). Pure. */
export function parseManifest(path: string, text: string, opts: ParseOptions): ManifestResult {
  const doc = parseManifestDocument(text, 'file');
  if (doc.kind === 'empty')
    return { path, kind: 'error', reason: 'file is empty: a static pod manifest holds one Pod' };
  if (doc.kind === 'error') return { path, kind: 'error', reason: doc.reason };
  const r = staticPodFromDocument(doc, { nodeName: opts.nodeName, source: 'file', path, now: opts.now });
  return 'pod' in r ? { path, kind: 'pod', pod: r.pod } : { path, kind: 'error', ...r };
}

function isInside(dir: string, p: string): boolean {
  const rel = nodePath.relative(dir, p);
  return rel !== '' && !rel.startsWith('..') && !nodePath.isAbsolute(rel);
}

function describeError(err: unknown): string {
  const code = errnoCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  return code && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
}

async function readOne(
  fs: StaticPodFs,
  realDir: string | undefined,
  path: string,
  opts: ListOptions,
): Promise<ManifestResult | undefined> {
  let st = await fs.lstat(path);
  let target: string | undefined;
  if (st.kind === 'symlink') {
    try {
      target = await fs.realpath(path);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT')
        return { path, kind: 'skip', reason: 'dangling symlink: its target does not exist', warn: true };
      throw err;
    }
    if (realDir !== undefined && !isInside(realDir, target)) {
      return {
        path,
        kind: 'error',
        reason: `symlink resolves to ${target}, outside the manifest directory ${realDir}: refused`,
      };
    }
    st = await fs.stat(path);
  }
  if (st.kind === 'directory')
    return { path, kind: 'skip', reason: 'is a directory: not recursing into it', warn: false };
  if (st.kind !== 'file')
    return { path, kind: 'skip', reason: 'is neither a regular file nor a directory', warn: true };
  const tooBig = (n?: number) => ({
    path,
    kind: 'error' as const,
    reason: `file ${n !== undefined ? `is ${n} bytes, ` : ''}over the ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB limit for a static pod manifest: refused`,
  });
  const stamp = stampOf(st, target);
  const cached = opts.cache?.lookup(path, stamp);
  if (cached) return cached;
  let result: ManifestResult;
  if (st.size > MAX_MANIFEST_BYTES) {
    result = tooBig(st.size);
  } else {
    try {
      result = parseManifest(path, await fs.readFile(path, MAX_MANIFEST_BYTES), opts);
    } catch (err) {
      if (errnoCode(err) !== 'EFBIG') throw err;
      result = tooBig();
    }
  }
  if (result.kind === 'error' && opts.provisional) return { path, kind: 'pending', reason: result.reason };
  opts.cache?.store(path, stamp, result, opts.now - Math.max(st.mtimeMs, st.ctimeMs) >= RACY_MS);
  return result;
}

/** One result per entry, sorted by path; I/O failures become results, never rejections. */
export async function listManifests(fs: StaticPodFs, manifestPath: string, opts: ListOptions): Promise<Listing> {
  const listing = await listAll(fs, manifestPath, opts);
  // Only a listing says which paths are gone; an unreadable directory changes nothing.
  if (listing.kind === 'listed') opts.cache?.retain(new Set(listing.results.map((r) => r.path)));
  else if (listing.kind === 'missing') opts.cache?.retain(new Set());
  return listing;
}

async function listAll(fs: StaticPodFs, manifestPath: string, opts: ListOptions): Promise<Listing> {
  let top;
  try {
    top = await fs.stat(manifestPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT')
      return { kind: 'missing', reason: `path ${manifestPath} does not exist, ignoring` };
    return { kind: 'unreadable', reason: `cannot read ${manifestPath}: ${describeError(err)}` };
  }
  if (top.kind === 'file') {
    // Upstream also accepts a single manifest file as the path.
    const r = await guarded(() => readOne(fs, undefined, manifestPath, opts), manifestPath);
    return { kind: 'listed', results: r ? [r] : [] };
  }
  if (top.kind !== 'directory')
    return { kind: 'unreadable', reason: `path ${manifestPath} is not a directory or file` };

  let names: string[];
  let realDir: string;
  try {
    names = await fs.readdir(manifestPath);
    realDir = await fs.realpath(manifestPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT')
      return { kind: 'missing', reason: `path ${manifestPath} does not exist, ignoring` };
    return { kind: 'unreadable', reason: `cannot read ${manifestPath}: ${describeError(err)}` };
  }
  const results: ManifestResult[] = [];
  for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
    const path = nodePath.join(manifestPath, name);
    const r = await guarded(() => readOne(fs, realDir, path, opts), path);
    if (r) results.push(r);
  }
  return { kind: 'listed', results };
}

/** A file that vanished mid-read is simply not there; any other I/O error refuses the file. */
async function guarded(
  read: () => Promise<ManifestResult | undefined>,
  path: string,
): Promise<ManifestResult | undefined> {
  try {
    return await read();
  } catch (err) {
    const code = errnoCode(err);
    if (code === undefined) throw err;
    if (code === 'ENOENT') return undefined;
    return { path, kind: 'error', reason: `cannot read: ${describeError(err)}` };
  }
}
