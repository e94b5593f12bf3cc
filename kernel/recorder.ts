/**
 * The recorder: a node session as JSON lines, for replay and for turning a bug seen on a node
 * into a spec.
 *
 * Line kinds (each with `t`, the Clock time in ms, and `n`, a sequence number):
 *   {"k":"header", ...}                      format version, node name, start time
 *   {"k":"in","ch":C,"msg":M}                every syncLoop mailbox input (config, PLEG, ticks)
 *   {"k":"cri","id":I,"m":METHOD,"args":[...]}          a decision: a CRI call issued
 *   {"k":"cri.ok","id":I,"res":R} / {"k":"cri.err","id":I,"err":{kind,message}}   its answer
 *   {"k":"api","id":I,"m":METHOD,"args":[...]} + api.ok / api.err  a write to the API server
 * Writes are buffered and flushed asynchronously (never on the hot path); the file rotates at
 * `maxBytes` (FILE → FILE.1 … FILE.<keep>), and `close()` flushes what is left.
 */
import { createWriteStream, existsSync, openSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import type { Bus } from './bus.ts';
import type { Clock } from './clock.ts';

export const RECORDING_FORMAT = 1;

/** Channels whose messages are syncLoop mailbox inputs or their sources. */
export const RECORDED_CHANNELS: readonly string[] = ['config', 'podManager', 'pleg', 'syncLoop', 'podWorker', 'runtime', 'runtimeReply'];

export interface RecorderOptions {
  path: string;
  clock: Clock;
  header?: Record<string, unknown>;
  /** Rotate when the file reaches this size. Default 64 MiB. */
  maxBytes?: number;
  /** Rotated files kept. Default 3. */
  keep?: number;
}

export interface Recorder {
  /** Appends one record (a JSON-able object); `t` and `n` are added. */
  write(rec: Record<string, unknown>): void;
  /** Records every message of the recorded channels. Returns the untap. */
  tapBus(bus: Bus): () => void;
  /** A proxy that records every call of `target`'s methods, its arguments and its answer. */
  wrap<T extends object>(target: T, prefix?: string, methods?: readonly string[]): T;
  stats(): { records: number; bytes: number; rotations: number };
  close(): Promise<void>;
}

function jsonSafe(_key: string, v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries(v);
  if (v instanceof Set) return [...v];
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return { base64: Buffer.from((v as { data: number[] }).data).toString('base64') };
  }
  return v;
}

export function createRecorder(opts: RecorderOptions): Recorder {
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const keep = Math.max(1, opts.keep ?? 3);
  // The file is opened synchronously so it exists at once: rotation renames it while the old
  // stream (its fd follows the renamed file) drains in the background.
  const open = (flags: string): WriteStream => createWriteStream('', { fd: openSync(opts.path, flags, 0o600) });
  let stream: WriteStream = open('a');
  let bytes = 0;
  let records = 0;
  let rotations = 0;
  let seq = 0;
  let callId = 0;
  let closed = false;
  const draining: Promise<void>[] = [];

  const rotate = () => {
    const old = stream;
    draining.push(new Promise<void>((r) => old.end(r)));
    for (let i = keep; i >= 1; i--) {
      const from = i === 1 ? opts.path : `${opts.path}.${i - 1}`;
      if (!existsSync(from)) continue;
      if (i === keep && existsSync(`${opts.path}.${keep}`)) rmSync(`${opts.path}.${keep}`);
      renameSync(from, `${opts.path}.${i}`);
    }
    stream = open('w');
    bytes = 0;
    rotations++;
  };

  const write = (rec: Record<string, unknown>) => {
    if (closed) return;
    const line = JSON.stringify({ t: opts.clock.now(), n: seq++, ...rec }, jsonSafe) + '\n';
    if (bytes + line.length > maxBytes && bytes > 0) rotate();
    bytes += Buffer.byteLength(line);
    records++;
    // Buffered by the stream; a slow disk costs memory, not latency.
    stream.write(line);
  };

  write({ k: 'header', format: RECORDING_FORMAT, ...opts.header });

  return {
    write,
    tapBus(bus) {
      const watched = new Set(RECORDED_CHANNELS);
      return bus.tap((kind, ch, msg) => {
        if (kind === 'event' && watched.has(ch)) write({ k: 'in', ch, msg });
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
                (res: unknown) => { write({ k: `${prefix}.ok`, id, res }); return res; },
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
    stats: () => ({ records, bytes, rotations }),
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return Promise.all([...draining, new Promise<void>((resolve) => stream.end(resolve))]).then(() => {});
    },
  };
}

/** Reads a recording back (all rotated parts in order when given the base path's parts). */
export function parseRecording(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`recording line ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}
