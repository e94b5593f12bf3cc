/**
 * Structured logging: one JSON object per line on stderr (what journald stores well), with
 * klog-style verbosity (`-v N`): info(msg, fields, level) prints only when level <= verbosity.
 */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>, level?: number): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(name: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

export function createLogger(opts: { verbosity: number; now: () => number; sink?: LogSink; name?: string }): Logger {
  const sink = opts.sink ?? { write: (l: string) => process.stderr.write(l + '\n') };
  const now = opts.now;
  const make = (name: string | undefined): Logger => {
    const emit = (level: string, msg: string, fields?: Record<string, unknown>) => {
      const rec: Record<string, unknown> = { ts: new Date(now()).toISOString(), level };
      if (name) rec.actor = name;
      rec.msg = msg;
      if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = v instanceof Error ? v.message : v;
      sink.write(JSON.stringify(rec));
    };
    return {
      info: (msg, fields, level = 0) => { if (level <= opts.verbosity) emit('info', msg, fields); },
      warn: (msg, fields) => emit('warn', msg, fields),
      error: (msg, fields) => emit('error', msg, fields),
      child: (n) => make(name ? `${name}.${n}` : n),
    };
  };
  return make(opts.name);
}

export const silentLogger: Logger = {
  info() {}, warn() {}, error() {}, child() { return silentLogger; },
};

/** An error's message for a log field or a status line (the value itself when it is no Error). */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
