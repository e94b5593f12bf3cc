/**
 * The recorder: a node session as JSON lines, for replay and for turning a bug seen on a node
 * into a spec.
 *
 * Line kinds (each with `t`, the Clock time in ms, and `n`, a sequence number):
 *   {"k":"header", ...}                      format version, node name, start time
 *   {"k":"header", ..., "part":N, "continues":true}   the same session's header again, first line
 *                                            of each rotated part (N = 1, 2, ... in the session)
 *   {"k":"in","ch":C,"msg":M}                every syncLoop mailbox input (config, PLEG, ticks)
 *   {"k":"cri","id":I,"m":METHOD,"args":[...]}          a decision: a CRI call issued
 *   {"k":"cri.ok","id":I,"res":R} / {"k":"cri.err","id":I,"err":{kind,message}}   its answer
 *   {"k":"api","id":I,"m":METHOD,"args":[...]} + api.ok / api.err  a write to the API server
 *   {"k":"view","ch":V,"v":VALUE}            a view the replay cannot rebuild (the daemon's list:
 *                                            the Node admission checks pods against), when changed
 * Every record, the header included, passes through the daemon's `redact` before it is written
 * (bin/record-redaction.ts: env values, Secret and ConfigMap data, tokens and credentials never
 * reach the file). Which channels and views are recorded and what a secret is are the daemon's
 * to say (bin/kubelet.ts): the kernel knows no kubelet channel, CRI message or pod field.
 *
 * Writes are buffered and flushed asynchronously (never on the hot path); the file rotates at
 * `maxBytes` (FILE → FILE.1 … FILE.<keep>; an existing file is appended to and its size counts),
 * and `close()` flushes what is left. Only a regular file rotates (never /dev/stdout or a FIFO).
 *
 * The recorder never affects the kubelet: it runs inside bus taps and CRI/API calls, so it never
 * throws. A write error (a full disk, a failed rotation, a record that cannot be serialised)
 * is logged once and ends the recording. When the disk stalls and more than `maxQueuedBytes`
 * wait unwritten, records are dropped (their `n` leaves a gap), counted in `stats().dropped` and
 * logged once, so memory stays bounded.
 */
import {
  createWriteStream,
  existsSync,
  fstatSync,
  openSync,
  closeSync,
  renameSync,
  rmSync,
  type WriteStream,
} from 'node:fs';
import { finished } from 'node:stream';
import type { Bus } from './bus.ts';
import type { Clock } from './clock.ts';
import { errText, type Logger } from './log.ts';

/** 2: views (the daemon's recorded views: the Node) are recorded; replay feeds them back. */
export const RECORDING_FORMAT = 2;

/** Records kept in memory before `open()` (deferOpen); beyond it they are dropped and counted. */
const MAX_EARLY_RECORDS = 10_000;

export interface RecorderOptions {
  path: string;
  clock: Clock;
  header?: Record<string, unknown>;
  /** Rotate when the file reaches this size. Default 64 MiB. */
  maxBytes?: number;
  /** Rotated files kept. Default 3. */
  keep?: number;
  /** Where the recorder reports that it stopped or dropped records (once each). Default: silent. */
  log?: Logger;
  /** Unwritten bytes allowed (a stalled disk) before records are dropped. Default 16 MiB. */
  maxQueuedBytes?: number;
  /**
   * Touch the file only at `open()` (the daemon opens it once it owns the root dir). Records
   * written before are kept in memory (bounded) and written after the header.
   */
  deferOpen?: boolean;
  /**
   * The daemon's redaction of each record before it is written (a copy; the caller's objects stay
   * as they are). It may keep state for the session (values learned, hashes rewritten): one
   * function per recorder. Default: records are written as they are.
   */
  redact?: (rec: Record<string, unknown>) => Record<string, unknown>;
}

export interface RecorderStats {
  /** Records written (headers included). */
  records: number;
  /** Size of the current part, what was in the file before included. */
  bytes: number;
  rotations: number;
  /** Records dropped because the disk did not keep up (or before open, past the cap). */
  dropped: number;
  /** Bytes accepted and not yet written (bounded by maxQueuedBytes). */
  queued: number;
  /** Why the recording stopped early (a write error), else null. */
  error: string | null;
}

export interface Recorder {
  /** Appends one record (a JSON-able object); `t` and `n` are added. Never throws. */
  write(rec: Record<string, unknown>): void;
  /**
   * Opens the file and writes the header (and what was written before). Idempotent; a no-op
   * unless `deferOpen`. Throws when the file cannot be opened (the caller fails its start).
   */
  open(): void;
  /**
   * Records every message sent on the event channels named, and each new value of the views
   * named (an unchanged value republished is left out). Returns the untap.
   */
  tapBus(bus: Bus, channels: readonly string[], views?: readonly string[]): () => void;
  /** A proxy that records every call of `target`'s methods, its arguments and its answer. */
  wrap<T extends object>(target: T, prefix?: string, methods?: readonly string[]): T;
  stats(): RecorderStats;
  close(): Promise<void>;
}

function jsonSafe(_key: string, v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries(v);
  if (v instanceof Set) return [...v];
  if (typeof v === 'bigint') return v.toString();
  if (
    v &&
    typeof v === 'object' &&
    (v as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((v as { data?: unknown }).data)
  ) {
    return { base64: Buffer.from((v as { data: number[] }).data).toString('base64') };
  }
  return v;
}

/** One record's line: `t` and `n` first, then the record's own fields (`body`, its JSON). */
function recordLine(t: number, n: number, body: string): string {
  const fields = body.slice(1, -1);
  return `{"t":${JSON.stringify(t)},"n":${n}${fields ? ',' + fields : ''}}\n`;
}

export function createRecorder(opts: RecorderOptions): Recorder {
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const keep = Math.max(1, opts.keep ?? 3);
  const maxQueued = opts.maxQueuedBytes ?? 16 * 1024 * 1024;
  const log = opts.log;
  const redact = opts.redact ?? ((rec: Record<string, unknown>) => rec);
  const session: Record<string, unknown> = redact({ k: 'header', format: RECORDING_FORMAT, ...opts.header });
  // The header carries the creation time: whatever is written before open() comes after it.
  const createdAt = opts.clock.now();
  let seq = 0;

  let stream: WriteStream | undefined;
  let early: { t: number; body: string }[] | undefined = [];
  let rotatable = false;
  const draining = new Set<WriteStream>();
  const ends: Promise<void>[] = [];
  let bytes = 0;
  let records = 0;
  let rotations = 0;
  let dropped = 0;
  let part = 0;
  let callId = 0;
  let closed = false;
  let failure: string | null = null;

  const fail = (e: unknown) => {
    if (failure !== null) return;
    failure = errText(e);
    log?.error(`recording stopped: cannot write ${opts.path}: ${failure}; the kubelet carries on without recording`, {
      path: opts.path,
      error: failure,
      records,
      dropped,
    });
    early = undefined;
    // What was written before stays readable: a healthy stream is flushed, not thrown away.
    for (const s of [stream, ...draining]) if (s && !s.destroyed && !s.writableEnded) s.end();
  };

  const drop = (why: string) => {
    if (dropped++ === 0)
      log?.warn(`recording ${opts.path}: ${why}: dropping records; the recording has gaps`, { path: opts.path });
  };

  // The file is opened synchronously so it exists at once: rotation renames it while the old
  // stream (its fd follows the renamed file) drains in the background.
  const openStream = (flags: 'a' | 'w'): WriteStream => {
    const fd = openSync(opts.path, flags, 0o600);
    let s: WriteStream;
    try {
      const st = fstatSync(fd);
      rotatable = st.isFile();
      bytes = flags === 'a' && st.isFile() ? st.size : 0;
      s = createWriteStream('', { fd });
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    s.on('error', fail);
    ends.push(new Promise<void>((resolve) => finished(s, () => resolve())));
    return s;
  };

  const queued = (): number => {
    let n = stream?.writableLength ?? 0;
    for (const s of draining) n += s.writableLength;
    return n;
  };

  const rotate = (nextIsHeader: boolean) => {
    const old = stream!;
    draining.add(old);
    old.end(() => draining.delete(old));
    for (let i = keep; i >= 1; i--) {
      const from = i === 1 ? opts.path : `${opts.path}.${i - 1}`;
      if (!existsSync(from)) continue;
      if (i === keep && existsSync(`${opts.path}.${keep}`)) rmSync(`${opts.path}.${keep}`);
      renameSync(from, `${opts.path}.${i}`);
    }
    stream = openStream('w');
    rotations++;
    // A part read alone still says which session it belongs to (replay: a continuation).
    if (!nextIsHeader)
      emit(opts.clock.now(), JSON.stringify({ ...session, part: ++part, continues: true }, jsonSafe), true);
  };

  /**
   * One record into the current part, numbered in file order (a rotation's header comes first);
   * headers are never dropped.
   */
  const emit = (t: number, body: string, header: boolean) => {
    let line = recordLine(t, seq, body);
    let len = Buffer.byteLength(line);
    if (rotatable && bytes > 0 && bytes + len > maxBytes) {
      rotate(header);
      line = recordLine(t, seq, body);
      len = Buffer.byteLength(line);
    }
    seq++;
    if (!header && queued() > maxQueued)
      return drop(`the disk does not keep up (more than ${maxQueued} bytes unwritten)`);
    // Buffered by the stream: a slow disk costs memory (up to maxQueued), not latency.
    stream!.write(line);
    bytes += len;
    records++;
  };

  const write = (rec: Record<string, unknown>) => {
    if (closed || failure !== null) return;
    try {
      const body = JSON.stringify(redact(rec), jsonSafe);
      if (stream) emit(opts.clock.now(), body, false);
      else if (early && early.length < MAX_EARLY_RECORDS) early.push({ t: opts.clock.now(), body });
      else drop(`more than ${MAX_EARLY_RECORDS} records before the file was opened`);
    } catch (e) {
      fail(e);
    }
  };

  const open = () => {
    if (stream || closed || failure !== null) return;
    try {
      stream = openStream('a');
    } catch (e) {
      failure = errText(e);
      throw new Error(`recording ${opts.path}: cannot open: ${failure}`);
    }
    try {
      emit(createdAt, JSON.stringify(session, jsonSafe), true);
      for (const r of early ?? []) emit(r.t, r.body, false);
      early = undefined;
    } catch (e) {
      fail(e);
    }
  };

  if (!opts.deferOpen) open();

  return {
    write,
    open,
    tapBus(bus, channels, viewChannels = []) {
      const watched = new Set(channels);
      const views = new Set(viewChannels);
      const last = new Map<string, string>();
      return bus.tap((kind, ch, msg) => {
        if (kind === 'event' && watched.has(ch)) write({ k: 'in', ch, msg });
        else if (kind === 'view' && views.has(ch)) {
          // a republished, unchanged value (a heartbeat) is no news for the replay
          let text: string;
          try {
            text = JSON.stringify(msg, jsonSafe);
          } catch (e) {
            return fail(e);
          }
          if (last.get(ch) === text) return;
          last.set(ch, text);
          write({ k: 'view', ch, v: msg });
        }
      });
    },
    wrap<T extends object>(target: T, prefix = 'cri', methods?: readonly string[]): T {
      const only = methods ? new Set(methods) : undefined;
      return new Proxy(target, {
        get(obj, prop, receiver) {
          const v = Reflect.get(obj, prop, receiver) as unknown;
          if (typeof v !== 'function' || typeof prop !== 'string' || prop === 'close') return v;
          if (only && !only.has(prop)) return (v as (...a: unknown[]) => unknown).bind(obj);
          return (...args: unknown[]) => {
            const id = ++callId;
            write({ k: prefix, id, m: prop, args });
            const out = (v as (...a: unknown[]) => unknown).apply(obj, args);
            if (out instanceof Promise) {
              return out.then(
                (res: unknown) => {
                  write({ k: `${prefix}.ok`, id, res });
                  return res;
                },
                (err: unknown) => {
                  const e = err as { kind?: string; message?: string };
                  write({ k: `${prefix}.err`, id, err: { kind: e?.kind, message: e?.message ?? String(err) } });
                  throw err;
                },
              );
            }
            return out;
          };
        },
      });
    },
    stats: () => ({ records, bytes, rotations, dropped, queued: queued(), error: failure }),
    close() {
      if (closed) return Promise.all(ends).then(() => {});
      closed = true;
      early = undefined;
      if (stream && failure === null) stream.end();
      return Promise.all(ends).then(() => {
        if (dropped > 0 && failure === null)
          log?.warn(`recording ${opts.path} closed with ${dropped} record(s) dropped (the disk did not keep up)`, {
            path: opts.path,
            dropped,
          });
      });
    },
  };
}

export interface ParseRecordingOptions {
  /**
   * A final line cut short (no newline after it and not JSON: the daemon was killed while its
   * buffered writes were on their way) is dropped and reported here.
   */
  onTruncated?: (info: { line: number; text: string }) => void;
}

/**
 * Reads a recording back (all rotated parts in order when given the base path's parts). A bad
 * line throws with its line number, except a truncated last line (see `onTruncated`).
 */
export function parseRecording(text: string, opts: ParseRecordingOptions = {}): Record<string, unknown>[] {
  const lines = text.split('\n');
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      if (i === lines.length - 1) {
        opts.onTruncated?.({ line: i + 1, text: l });
        continue;
      }
      throw new Error(`recording line ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      throw new Error(`recording line ${i + 1}: not a JSON object`);
    out.push(v as Record<string, unknown>);
  }
  return out;
}
