/**
 * Structured logging as upstream's kubelet does it (k8s.io/component-base/logs): klog's text
 * format or the JSON format of logs/json, with klog's verbosity (`-v N`: info(msg, fields, level)
 * prints only when level <= verbosity) and `--vmodule` (pattern=N per logger name, see below).
 *
 * Text, one line per record (multi-line string values span lines as klog writes them):
 *   I1208 01:23:45.678901   12345 podWorkers] "message" key="value" n=3
 * Severity letter (I, W, E), month+day, local time to the microsecond, the process id padded to 7,
 * then where klog has file:line the logger's name (kubelet-ts keeps no caller information: a
 * stack trace per line is too dear), the message quoted and the key/value pairs as klog's
 * structured logging writes them.
 *
 * JSON, one object per line: {"ts":1733621025.678,"logger":"podWorkers","msg":"...","v":0,...}
 * with `ts` in seconds since the epoch, `v` the verbosity of info records, `err` for an error's
 * cause and the key/value pairs at top level (no `caller`, for the same reason).
 *
 * A field named `error` is written as `err`, upstream's key. Both formats write one stream
 * (stderr) unless split, when info goes to stdout and errors to stderr (a warning is info to
 * logr's backends, as it is upstream).
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>, level?: number): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(name: string): Logger;
}

/** klog's severity letters: info, warning, error. */
export type Severity = 'I' | 'W' | 'E';

export interface LogSink {
  write(line: string, severity: Severity): void;
}

export type LogFormat = 'text' | 'json';

/** One `--vmodule` entry: loggers whose name matches `pattern` log up to `verbosity`. */
export interface VModule {
  pattern: string;
  verbosity: number;
}

export interface LoggerOptions {
  verbosity: number;
  now: () => number;
  sink?: LogSink;
  name?: string;
  /** Default json (the programmatic default, that specs parse); the daemon passes --logging-format. */
  format?: LogFormat;
  vmodule?: readonly VModule[];
  /** The id in the text header (klog's thread id, the process id); default process.pid. */
  pid?: number;
}

export function createLogger(opts: LoggerOptions): Logger {
  const sink = opts.sink ?? streamSink(false);
  const now = opts.now;
  const format = opts.format ?? 'json';
  const pid = opts.pid ?? process.pid;
  const vmodule = (opts.vmodule ?? []).map((m) => ({ re: globRegExp(m.pattern), verbosity: m.verbosity }));
  const make = (name: string | undefined): Logger => {
    const verbosity = Math.max(opts.verbosity, vmoduleLevel(vmodule, name) ?? 0);
    const emit = (severity: Severity, msg: string, fields: Record<string, unknown> | undefined, v: number) => {
      const t = now();
      const kv = Object.entries(fields ?? {}).map(([k, val]) => [k === 'error' ? 'err' : k, val] as const);
      sink.write(
        format === 'json' ? jsonLine(t, name, severity, msg, kv, v) : textLine(t, pid, name, severity, msg, kv),
        severity,
      );
    };
    return {
      info: (msg, fields, level = 0) => {
        if (level <= verbosity) emit('I', msg, fields, level);
      },
      warn: (msg, fields) => emit('W', msg, fields, 0),
      error: (msg, fields) => emit('E', msg, fields, 0),
      child: (n) => make(name ? `${name}.${n}` : n),
    };
  };
  return make(opts.name);
}

/** process.stdout/stderr with an 'error' handler of ours, and those whose reader went away. */
const guarded = new Set<NodeJS.WriteStream>();
const broken = new Set<NodeJS.WriteStream>();

/**
 * Lines to stderr, or with `split` info to stdout and errors to stderr. A stream whose reader went
 * away (EPIPE, `kubelet-ts | head -1`) is no longer written to; the daemon keeps running.
 */
export function streamSink(split: boolean): LogSink {
  for (const s of [process.stdout, process.stderr]) {
    if (!guarded.has(s)) {
      guarded.add(s);
      s.on('error', () => broken.add(s));
    }
  }
  return {
    write(line, severity) {
      const s = split && severity !== 'E' ? process.stdout : process.stderr;
      if (broken.has(s) || s.destroyed) return;
      try {
        s.write(line + '\n');
      } catch {
        broken.add(s);
      }
    },
  };
}

/**
 * `--vmodule` "pattern=N,...": klog's syntax. klog matches a pattern against the source file's
 * name without `.go`; kubelet-ts matches it against the logger's name (the actor id, `.child` for a
 * child logger: `podWorkers`, `pod-source-api.watch`) and every dotted prefix of it, so
 * `podWorkers=4` covers the actor and its children. `*` and `?` are globs; the first match wins.
 */
export function parseVModule(spec: string): VModule[] {
  if (spec.trim() === '') return [];
  return spec.split(',').map((part) => {
    const m = /^([^=]+)=(\d+)$/.exec(part.trim());
    if (!m)
      throw new Error(`invalid --vmodule entry "${part}": syntax error: expect comma-separated list of pattern=N`);
    return { pattern: m[1]!, verbosity: Number(m[2]) };
  });
}

function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function vmoduleLevel(
  mods: readonly { re: RegExp; verbosity: number }[],
  name: string | undefined,
): number | undefined {
  if (!name || mods.length === 0) return undefined;
  const parts = name.split('.');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('.'));
  for (const m of mods) if (prefixes.some((p) => m.re.test(p))) return m.verbosity;
  return undefined;
}

function jsonValue(v: unknown): unknown {
  return v instanceof Error ? v.message : typeof v === 'bigint' ? v.toString() : v;
}

function jsonLine(
  t: number,
  name: string | undefined,
  severity: Severity,
  msg: string,
  kv: readonly (readonly [string, unknown])[],
  v: number,
): string {
  const rec: Record<string, unknown> = { ts: t / 1000 };
  if (name) rec.logger = name;
  rec.msg = msg;
  if (severity === 'E') {
    const err = kv.find(([k]) => k === 'err');
    if (err) rec.err = jsonValue(err[1]);
  } else rec.v = v;
  for (const [k, val] of kv) if (!(k in rec)) rec[k] = jsonValue(val);
  return JSON.stringify(rec);
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

function textLine(
  t: number,
  pid: number,
  name: string | undefined,
  severity: Severity,
  msg: string,
  kv: readonly (readonly [string, unknown])[],
): string {
  const d = new Date(t);
  const micros = pad(Math.floor((((t % 1000) + 1000) % 1000) * 1000), 6);
  const header =
    `${severity}${pad(d.getMonth() + 1, 2)}${pad(d.getDate(), 2)} ` +
    `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${micros} ` +
    `${String(pid).padStart(7, ' ')} ${name ?? 'kubelet'}] `;
  let line = header + goQuote(msg);
  for (const [k, v] of kv) {
    if (v === undefined) continue;
    line += ` ${k}${textValue(v)}`;
  }
  return line;
}

/** `=value` as klog's text logger writes it; a string with line breaks as `=<` + tab-indented lines + ` >`. */
function textValue(v: unknown): string {
  if (v instanceof Error) v = v.message;
  if (typeof v === 'string') {
    if (!v.includes('\n')) return `=${goQuote(v)}`;
    const lines = v.split('\n');
    const last = lines.pop()!;
    let out = '=<\n';
    for (const l of lines) out += `\t${l}\n`;
    return last === '' ? `${out} >` : `${out}\t${last}\n >`;
  }
  if (v === null) return '=<nil>';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `=${String(v)}`;
  return `=${JSON.stringify(v)}`;
}

/** A string quoted as Go's strconv.Quote (%q) does. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else if ((c >= 0x80 && c <= 0x9f) || c === 0xad || c === 0x2028 || c === 0x2029 || c === 0xfeff)
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** An error's message for a log field or a status line (the value itself when it is no Error). */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
