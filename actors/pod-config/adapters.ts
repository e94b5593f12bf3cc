/**
 * The filesystem port of pod-config: just what the static pod directory source needs
 * (readdir, lstat/stat, realpath, a bounded readFile, a directory watch), so unit specs run on
 * MemoryStaticPodFs and the daemon on nodeStaticPodFs.
 *
 * Failures are thrown as errors carrying a Node-style `code` (ENOENT, ENOTDIR, EACCES, EFBIG),
 * which the source turns into per-file results; only a bug escapes as a crash.
 * The watch is an Observable so the actor context owns it: unsubscribing (actor stop or crash)
 * closes the watcher. It never errors; a watcher failure arrives as `{ type: 'error' }` and then
 * the stream completes.
 */
import * as fsp from 'node:fs/promises';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import * as nodePath from 'node:path';
import { Observable, Subject } from 'rxjs';

export type FsEntryKind = 'file' | 'directory' | 'symlink' | 'other';

export interface FsStat {
  kind: FsEntryKind;
  size: number;
  /** Inode number: a file replaced by rename (editors, atomic writers) has a new one. */
  ino: number;
  /** Modification and status-change times, ms since the epoch (fractional on the real fs). */
  mtimeMs: number;
  ctimeMs: number;
}

export type FsWatchEvent = { type: 'change'; filename?: string } | { type: 'error'; message: string };

export interface StaticPodFs {
  /** Entry names in `dir` (not paths), any order. */
  readdir(dir: string): Promise<string[]>;
  /** Does not follow a final symlink. */
  lstat(path: string): Promise<FsStat>;
  /** Follows symlinks. */
  stat(path: string): Promise<FsStat>;
  realpath(path: string): Promise<string>;
  /** UTF-8 text; throws code EFBIG when the file holds more than `maxBytes` bytes. */
  readFile(path: string, maxBytes: number): Promise<string>;
  /** Changes in `dir` (not recursive). */
  watch(dir: string): Observable<FsWatchEvent>;
}

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function fsError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

function kindOf(s: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): FsEntryKind {
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  return 'other';
}

function statOf(s: import('node:fs').Stats): FsStat {
  return { kind: kindOf(s), size: s.size, ino: s.ino, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
}

/** The real filesystem. */
export function nodeStaticPodFs(): StaticPodFs {
  return {
    readdir: (dir) => fsp.readdir(dir),
    lstat: async (p) => statOf(await fsp.lstat(p)),
    stat: async (p) => statOf(await fsp.stat(p)),
    realpath: (p) => fsp.realpath(p),
    async readFile(p, maxBytes) {
      const fh = await fsp.open(p, 'r');
      try {
        // Count what is actually read rather than trusting a size that may change meanwhile.
        const chunks: Buffer[] = [];
        let total = 0;
        for (;;) {
          const buf = Buffer.alloc(64 * 1024);
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          total += bytesRead;
          if (total > maxBytes) throw fsError('EFBIG', `${p} is larger than ${maxBytes} bytes`);
          chunks.push(buf.subarray(0, bytesRead));
        }
        return Buffer.concat(chunks).toString('utf8');
      } finally {
        await fh.close();
      }
    },
    watch: (dir) =>
      new Observable<FsWatchEvent>((sub) => {
        let w: FSWatcher | undefined;
        try {
          // Not persistent: the daemon's clock timers keep it alive; a watcher alone must not.
          w = fsWatch(dir, { persistent: false }, (_event, filename) => {
            sub.next(filename ? { type: 'change', filename: String(filename) } : { type: 'change' });
          });
          w.on('error', (err) => {
            sub.next({ type: 'error', message: err.message });
            w?.close();
            sub.complete();
          });
        } catch (err) {
          sub.next({ type: 'error', message: (err as Error).message });
          sub.complete();
        }
        return () => w?.close();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// In memory, for specs (and for any spec that wants pod-config without a disk).

type MemNode =
  | { kind: 'file'; data: string }
  | { kind: 'directory' }
  | { kind: 'symlink'; target: string }
  | { kind: 'other' };
type MemEntry = MemNode & { ino: number; mtimeMs: number; ctimeMs: number };

/**
 * An in-memory POSIX-ish tree with symlinks. Mutations notify watchers of the parent directory,
 * synchronously. `fail(path, code)` makes every access to `path` throw `code`.
 *
 * Times come from `opts.now` (hand it the spec's clock: a rewrite within the same millisecond then
 * keeps its mtime, as on a real fs with coarse timestamps); without it each mutation is one tick
 * later than the last. Every write is a new inode, like a tmp file renamed into place.
 */
export class MemoryStaticPodFs implements StaticPodFs {
  readonly #now: () => number;
  #tick = 0;
  #ino = 1;
  readonly #entries = new Map<string, MemEntry>();
  readonly #watchers = new Map<string, Set<Subject<FsWatchEvent>>>();
  readonly #failures = new Map<string, string>();
  /** Paths read by readFile, in order (for specs that check what was not read). */
  readonly reads: string[] = [];

  constructor(opts: { now?: () => number } = {}) {
    this.#now = opts.now ?? (() => ++this.#tick);
    this.#entries.set('/', { kind: 'directory', ...this.#times() });
  }

  #times(): { ino: number; mtimeMs: number; ctimeMs: number } {
    const t = this.#now();
    return { ino: this.#ino++, mtimeMs: t, ctimeMs: t };
  }

  /** `touch`: new mtime and ctime, same inode and content (a watch sees an attribute change). */
  touch(path: string): this {
    const p = nodePath.posix.resolve(path);
    const e = this.#entries.get(p);
    if (!e) throw fsError('ENOENT', path);
    const t = this.#now();
    this.#entries.set(p, { ...e, mtimeMs: t, ctimeMs: t });
    this.#notify(nodePath.posix.dirname(p), nodePath.posix.basename(p));
    return this;
  }

  mkdir(path: string): this {
    const parts = nodePath.posix.resolve(path).split('/').filter(Boolean);
    let cur = '';
    for (const part of parts) {
      cur += '/' + part;
      if (!this.#entries.has(cur)) this.#set(cur, { kind: 'directory' });
    }
    return this;
  }

  writeFile(path: string, data: string): this {
    this.mkdir(nodePath.posix.dirname(path));
    this.#set(nodePath.posix.resolve(path), { kind: 'file', data });
    return this;
  }

  symlink(target: string, path: string): this {
    this.mkdir(nodePath.posix.dirname(path));
    this.#set(nodePath.posix.resolve(path), { kind: 'symlink', target });
    return this;
  }

  /** A socket, fifo or device: neither file nor directory. */
  special(path: string): this {
    this.mkdir(nodePath.posix.dirname(path));
    this.#set(nodePath.posix.resolve(path), { kind: 'other' });
    return this;
  }

  remove(path: string): this {
    const p = nodePath.posix.resolve(path);
    for (const k of [...this.#entries.keys()]) if (k === p || k.startsWith(p + '/')) this.#entries.delete(k);
    this.#notify(nodePath.posix.dirname(p), nodePath.posix.basename(p));
    // A watched directory that goes away tells its own watchers too (inotify IN_DELETE_SELF).
    for (const dir of [...this.#watchers.keys()])
      if (dir === p || dir.startsWith(p + '/')) this.#notify(dir, nodePath.posix.basename(dir));
    return this;
  }

  fail(path: string, code: string | undefined): this {
    if (code) this.#failures.set(nodePath.posix.resolve(path), code);
    else this.#failures.delete(nodePath.posix.resolve(path));
    return this;
  }

  /** Make every current watcher of `dir` report an error and stop, as a deleted directory would. */
  breakWatch(dir: string, message = 'watcher failed'): void {
    const subs = this.#watchers.get(nodePath.posix.resolve(dir));
    for (const s of [...(subs ?? [])]) {
      s.next({ type: 'error', message });
      s.complete();
    }
  }

  watcherCount(dir: string): number {
    return this.#watchers.get(nodePath.posix.resolve(dir))?.size ?? 0;
  }

  #set(path: string, e: MemNode): void {
    this.#entries.set(path, { ...e, ...this.#times() });
    this.#notify(nodePath.posix.dirname(path), nodePath.posix.basename(path));
  }

  #notify(dir: string, name: string): void {
    for (const s of [...(this.#watchers.get(dir) ?? [])]) s.next({ type: 'change', filename: name });
  }

  #check(path: string): void {
    const code = this.#failures.get(path);
    if (code) throw fsError(code, path);
  }

  /** Resolve symlinks in every component; the final one only when `followLast`. */
  #resolve(path: string, followLast: boolean, depth = 0): string {
    if (depth > 40) throw fsError('ELOOP', path);
    const parts = nodePath.posix.resolve(path).split('/').filter(Boolean);
    let cur = '/';
    for (let i = 0; i < parts.length; i++) {
      const next = nodePath.posix.join(cur, parts[i]!);
      this.#check(next);
      const e = this.#entries.get(next);
      const last = i === parts.length - 1;
      if (e?.kind === 'symlink' && (!last || followLast)) {
        const target = nodePath.posix.resolve(cur, e.target);
        cur = this.#resolve(target, true, depth + 1);
      } else {
        if (!last && e && e.kind !== 'directory') throw fsError('ENOTDIR', path);
        cur = next;
      }
    }
    return cur;
  }

  #get(path: string, followLast: boolean): { path: string; entry: MemEntry } {
    const p = this.#resolve(path, followLast);
    const entry = this.#entries.get(p);
    if (!entry) throw fsError('ENOENT', path);
    return { path: p, entry };
  }

  async readdir(dir: string): Promise<string[]> {
    const { path, entry } = this.#get(dir, true);
    if (entry.kind !== 'directory') throw fsError('ENOTDIR', dir);
    const prefix = path === '/' ? '/' : path + '/';
    return [...this.#entries.keys()]
      .filter((k) => k.startsWith(prefix) && k.length > prefix.length && !k.slice(prefix.length).includes('/'))
      .map((k) => k.slice(prefix.length));
  }

  async lstat(path: string): Promise<FsStat> {
    return memStat(this.#get(path, false).entry);
  }

  async stat(path: string): Promise<FsStat> {
    return memStat(this.#get(path, true).entry);
  }

  async realpath(path: string): Promise<string> {
    return this.#get(path, true).path;
  }

  async readFile(path: string, maxBytes: number): Promise<string> {
    const { entry } = this.#get(path, true);
    if (entry.kind === 'directory') throw fsError('EISDIR', path);
    if (entry.kind !== 'file') throw fsError('EINVAL', path);
    this.reads.push(nodePath.posix.resolve(path));
    if (Buffer.byteLength(entry.data) > maxBytes) throw fsError('EFBIG', path);
    return entry.data;
  }

  watch(dir: string): Observable<FsWatchEvent> {
    return new Observable<FsWatchEvent>((sub) => {
      let p: string;
      try {
        p = this.#get(dir, true).path;
      } catch (err) {
        sub.next({ type: 'error', message: (err as Error).message });
        sub.complete();
        return undefined;
      }
      const s = new Subject<FsWatchEvent>();
      const inner = s.subscribe(sub);
      let set = this.#watchers.get(p);
      if (!set) {
        set = new Set();
        this.#watchers.set(p, set);
      }
      set.add(s);
      return () => {
        inner.unsubscribe();
        set.delete(s);
      };
    });
  }
}

function memStat(e: MemEntry): FsStat {
  return {
    kind: e.kind,
    size: e.kind === 'file' ? Buffer.byteLength(e.data) : 0,
    ino: e.ino,
    mtimeMs: e.mtimeMs,
    ctimeMs: e.ctimeMs,
  };
}
