/**
 * `kubelet-ts inspect`: the debug socket (kernel/debug-socket.ts) for people.
 *
 *   kubelet-ts inspect [actors | pod <uid|ns/name> | channels | tail <channel> | graph <machine>]
 *                      [--root-dir DIR | --socket PATH] [--json] [--watch]
 *
 * `actors` (the default) prints the supervision tree, `pod` one pod worker with its transition
 * history, `channels` the channel map (writers, readers, message types, live counts), `tail` every message on a bus channel as it is sent, `graph` an xstate machine as
 * Mermaid text. `--json` prints the daemon's JSON lines as they come; `--watch` redraws actors
 * or pod every second. Exit codes: 0 ok (also when the reader of stdout goes away, as with
 * `| head`), 1 the daemon answered an error or cannot be reached, 2 bad arguments. Rendering
 * code may use real timers (for --watch); the daemon never does.
 */
import { createConnection, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { DEBUG_SOCKET_NAME } from '../kernel/debug-socket.ts';

export const DEFAULT_ROOT_DIR = '/var/lib/kubelet';
export const SOCKET_NAME = DEBUG_SOCKET_NAME;
const WATCH_MS = 1000;

export type InspectCmd = 'actors' | 'pod' | 'channels' | 'tail' | 'graph';

export interface InspectArgs {
  cmd: InspectCmd;
  arg: string | undefined;
  socket: string;
  /** The root dir the socket path came from (for error messages). */
  rootDir: string | undefined;
  json: boolean;
  watch: boolean;
  help: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function inspectUsage(): string {
  return [
    'Usage: kubelet-ts inspect [actors | pod <uid|namespace/name> | channels | tail <channel> | graph <machine>] [flags]',
    '',
    'Commands:',
    '  actors            the actor tree: state, restarts, last error, mailbox depth, uptime (default)',
    '  pod X             one pod worker: machine state, in-flight/pending update, next sync, backoff, history',
    '  channels          every bus channel: kind, messages sent, writers, readers, message types',
    '  tail C            every message on bus channel C, as it is sent (Ctrl-C to stop)',
    '  graph M           xstate machine M (e.g. podWorker) as a Mermaid stateDiagram-v2',
    '',
    'Flags:',
    `  --root-dir DIR    the daemon's --root-dir; the socket is DIR/${SOCKET_NAME} (default ${DEFAULT_ROOT_DIR})`,
    '  --socket PATH     the debug socket itself',
    "  --json            print the daemon's JSON lines unchanged",
    '  --watch           redraw actors, pod or channels every second',
    '  -h, --help        show this help',
  ].join('\n');
}

export function parseInspectArgs(argv: readonly string[]): InspectArgs {
  const positional: string[] = [];
  let socket: string | undefined;
  let rootDir: string | undefined;
  let json = false;
  let watch = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq >= 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    const inline = eq >= 0 ? a.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) throw new UsageError(`flag --${name} needs a value`);
      i++;
      return next;
    };
    const bool = (): boolean => {
      if (inline === undefined) return true;
      if (inline === 'true') return true;
      if (inline === 'false') return false;
      throw new UsageError(`flag --${name} takes true or false, not "${inline}"`);
    };
    switch (name) {
      case 'root-dir':
        rootDir = value();
        break;
      case 'socket':
        socket = value();
        break;
      case 'json':
        json = bool();
        break;
      case 'watch':
      case 'w':
        watch = bool();
        break;
      case 'help':
      case 'h':
        help = bool();
        break;
      default:
        throw new UsageError(`unknown flag ${a}`);
    }
  }
  if (socket !== undefined && rootDir !== undefined)
    throw new UsageError('use either --root-dir or --socket, not both');
  const cmdText = positional[0] ?? 'actors';
  if (
    cmdText !== 'actors' &&
    cmdText !== 'pod' &&
    cmdText !== 'channels' &&
    cmdText !== 'tail' &&
    cmdText !== 'graph'
  ) {
    throw new UsageError(`unknown command "${cmdText}"; try actors, pod, channels, tail, graph`);
  }
  const cmd: InspectCmd = cmdText;
  const args = positional.slice(1);
  if ((cmd === 'actors' || cmd === 'channels') && args.length > 0) throw new UsageError(`${cmd} takes no argument`);
  if (cmd !== 'actors' && cmd !== 'channels' && args.length !== 1 && !help) {
    const what =
      cmd === 'pod'
        ? 'a pod uid or namespace/name'
        : cmd === 'tail'
          ? 'a channel name'
          : 'a machine name (e.g. podWorker)';
    throw new UsageError(`${cmd} needs exactly one argument: ${what}`);
  }
  if (watch && (cmd === 'tail' || cmd === 'graph'))
    throw new UsageError(
      `--watch works with actors, pod and channels; ${cmd} ${cmd === 'tail' ? 'streams already' : 'does not change'}`,
    );
  const root = rootDir ?? (socket === undefined ? DEFAULT_ROOT_DIR : undefined);
  return {
    cmd,
    arg: args[0],
    socket: socket ?? join(root!, SOCKET_NAME),
    rootDir: root,
    json,
    watch,
    help,
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  let out: string;
  if (s < 60) out = Math.abs(ms) < 1000 ? `${Math.abs(Math.round(ms))}ms` : `${s}s`;
  else {
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    out = d > 0 ? `${d}d${h}h` : h > 0 ? `${h}h${m}m` : `${m}m${s}s`;
  }
  return neg ? `-${out}` : out;
}

/** Daemon clock ms as local wall time, HH:MM:SS.mmm. */
export function formatTime(at: unknown): string {
  if (typeof at !== 'number' || !Number.isFinite(at)) return '-';
  const d = new Date(at);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '<none>';
  return String(v).replace(/\s+/g, ' ');
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

/** Columns padded like kubectl's tables: three spaces between columns, last column unpadded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

interface ActorRow {
  id: string;
  state: string;
  restarts: number;
  lastError: string | null;
  lastErrorAt: number | null;
  mailboxDepth: number;
  uptimeMs: number | null;
}

export function renderActors(result: { at?: number; actors: ActorRow[] }): string {
  const at = result.at;
  const rows = result.actors.map((a) => {
    let err = a.lastError ? truncate(cell(a.lastError), 60) : '<none>';
    if (a.lastError && typeof a.lastErrorAt === 'number' && typeof at === 'number')
      err += ` (${formatDuration(at - a.lastErrorAt)} ago)`;
    return [a.id, a.state, String(a.restarts), err, String(a.mailboxDepth ?? 0), formatDuration(a.uptimeMs)];
  });
  return table(['ID', 'STATE', 'RESTARTS', 'LAST ERROR', 'MAILBOX', 'UPTIME'], rows);
}

interface ChannelsResult {
  at?: number;
  channels: { name: string; kind: string; count: number; writers: string[]; readers: string[]; types: string[] }[];
  notWired?: string[];
}

/** The channel map; a last line names the kubelet actors this daemon did not start. */
export function renderChannels(r: ChannelsResult): string {
  const list = (xs: readonly string[]) => (xs.length ? xs.join(',') : '<none>');
  const rows = r.channels.map((c) => [
    c.name,
    c.kind,
    String(c.count),
    list(c.writers),
    list(c.readers),
    list(c.types),
  ]);
  const out = table(['CHANNEL', 'KIND', 'MSGS', 'WRITERS', 'READERS', 'MESSAGE TYPES'], rows);
  return r.notWired?.length ? `${out}\n\nnot started by this daemon: ${r.notWired.join(', ')}` : out;
}

interface PodResult {
  at: number;
  uid: string;
  pod: string | null;
  state: string;
  seq: number;
  inFlight: string | null;
  pending: string | null;
  nextSyncAt: number | null;
  nextSyncInMs: number | null;
  lastSyncError: string | null;
  runtime?: { busy: string | null };
  phase?: string | null;
  containers?: {
    name: string;
    kind: string;
    state: string;
    reason: string | null;
    message: string | null;
    restartCount: number;
    ready: boolean;
  }[];
  backoff?: {
    container: string | null;
    kind: string;
    image: string | null;
    delayMs: number | null;
    retryAt: number | null;
    retryInMs: number | null;
  }[];
  history: { at: number; state: string; cause: string }[];
}

/** A deadline: its time, and how far off it is (or overdue). */
function deadline(at: number | null | undefined, inMs: number | null | undefined): string {
  if (at === null || at === undefined) return '<none>';
  const d = inMs ?? 0;
  return `${formatTime(at)} (${d >= 0 ? `in ${formatDuration(d)}` : `${formatDuration(-d)} overdue`})`;
}

export function renderPod(r: PodResult): string {
  const next = deadline(r.nextSyncAt, r.nextSyncInMs);
  const fields: [string, string][] = [
    ['POD', cell(r.pod)],
    ['UID', cell(r.uid)],
    ['STATE', cell(r.state)],
    ['PHASE', cell(r.phase)],
    ['SEQ', String(r.seq)],
    ['IN FLIGHT', cell(r.inFlight)],
    ['PENDING', cell(r.pending)],
    ['NEXT SYNC', next],
    ['LAST ERROR', cell(r.lastSyncError)],
    ['RUNTIME', r.runtime?.busy ? `busy: ${r.runtime.busy}` : 'idle'],
  ];
  const w = Math.max(...fields.map(([k]) => k.length));
  const out = fields.map(([k, v]) => `${(k + ':').padEnd(w + 2)}${v}`);
  const containers = r.containers ?? [];
  if (containers.length > 0) {
    out.push('', 'CONTAINERS');
    out.push(
      table(
        ['NAME', 'STATE', 'REASON', 'RESTARTS', 'READY', 'MESSAGE'],
        containers.map((c) => [
          c.kind === 'init' ? `${c.name} (init)` : c.name,
          c.state,
          cell(c.reason),
          String(c.restartCount),
          String(c.ready),
          truncate(cell(c.message), 80),
        ]),
      ),
    );
  }
  const backoff = r.backoff ?? [];
  if (backoff.length > 0) {
    out.push('', 'BACKOFF');
    out.push(
      table(
        ['CONTAINER', 'KIND', 'DELAY', 'NEXT RETRY'],
        backoff.map((b) => [
          cell(b.container),
          b.kind === 'crashLoop'
            ? 'crash loop'
            : b.kind === 'imagePull'
              ? `image pull ${b.image ?? ''}`.trim()
              : b.kind,
          formatDuration(b.delayMs),
          deadline(b.retryAt, b.retryInMs),
        ]),
      ),
    );
  }
  out.push('', 'HISTORY');
  out.push(
    table(
      ['TIME', 'AGO', 'STATE', 'CAUSE'],
      r.history.map((h) => [formatTime(h.at), formatDuration(r.at - h.at), h.state, cell(h.cause)]),
    ),
  );
  return out.join('\n');
}

/** One tail line for people: time, channel, message type, the rest as compact JSON. */
export function renderTailLine(
  line: { channel: string; at: number; msg?: unknown; dropped?: number },
  width?: number,
): string {
  const head = `${formatTime(line.at)}  ${line.channel}`;
  if (line.dropped !== undefined) return `${head}  … ${line.dropped} message(s) dropped: this client read too slowly`;
  const msg = line.msg;
  let text: string;
  if (
    msg !== null &&
    typeof msg === 'object' &&
    !Array.isArray(msg) &&
    typeof (msg as { type?: unknown }).type === 'string'
  ) {
    const { type, ...rest } = msg as Record<string, unknown>;
    text = `${String(type)}  ${JSON.stringify(rest)}`;
  } else {
    text = JSON.stringify(msg) ?? 'null';
  }
  const full = `${head}  ${text}`;
  return width !== undefined && width > 20 ? truncate(full, width) : full;
}

// ---------------------------------------------------------------------------------------------
// Talking to the daemon

export interface InspectIo {
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(s: string): unknown };
  /** Resolves when the user asks to stop (SIGINT); default: process signals. */
  interrupted?: Promise<void>;
}

function connectError(e: NodeJS.ErrnoException, a: InspectArgs): string {
  const path = a.socket;
  const root = a.rootDir ?? dirname(path);
  switch (e.code) {
    case 'ENOENT':
      return `no kubelet-ts debug socket at ${path}: is the daemon running with --root-dir ${root}?`;
    case 'ECONNREFUSED':
      return `debug socket ${path} exists but nobody is listening: the daemon is not running (it replaces a stale socket when it starts)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path}: the debug socket is mode 0600 and belongs to the daemon's user; run kubelet-ts inspect as that user (e.g. with sudo)`;
    case 'ENOTSOCK':
      return `${path} is not a socket`;
    default:
      return `cannot connect to the debug socket ${path}: ${e.message}`;
  }
}

class Fatal extends Error {}

/** A line-oriented connection: `next()` resolves with the next line, or null once it closed. */
class LineConn {
  #socket: Socket;
  #buf = '';
  #lines: string[] = [];
  #waiters: ((l: string | null) => void)[] = [];
  #closed = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buf += chunk;
      let nl;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        const w = this.#waiters.shift();
        if (w) w(line);
        else this.#lines.push(line);
      }
    });
    const done = () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w(null);
    };
    socket.on('close', done);
    socket.on('error', done);
  }

  static open(a: InspectArgs): Promise<LineConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection(a.socket);
      s.once('connect', () => {
        s.off('error', onErr);
        resolve(new LineConn(s));
      });
      const onErr = (e: NodeJS.ErrnoException) => reject(new Fatal(connectError(e, a)));
      s.once('error', onErr);
    });
  }

  send(obj: unknown): void {
    this.#socket.write(JSON.stringify(obj) + '\n');
  }

  next(): Promise<string | null> {
    const l = this.#lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((r) => this.#waiters.push(r));
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }
}

interface Reply {
  ok: boolean;
  id?: number | string;
  error?: string;
  result?: unknown;
  channel?: string;
  at?: number;
  msg?: unknown;
  dropped?: number;
}

function parseReply(line: string): Reply {
  try {
    const v = JSON.parse(line) as unknown;
    if (v !== null && typeof v === 'object' && typeof (v as Reply).ok === 'boolean') return v as Reply;
  } catch {
    /* below */
  }
  throw new Fatal(`the daemon sent a line that is not a debug socket reply: ${truncate(line, 200)}`);
}

function request(a: InspectArgs, id: number): Record<string, unknown> {
  switch (a.cmd) {
    case 'actors':
      return { cmd: 'actors', id };
    case 'pod':
      return { cmd: 'pod', pod: a.arg, id };
    case 'channels':
      return { cmd: 'channels', id };
    case 'tail':
      return { cmd: 'tail', channel: a.arg, id };
    case 'graph':
      return { cmd: 'graph', machine: a.arg, id };
  }
}

function render(a: InspectArgs, result: unknown): string {
  switch (a.cmd) {
    case 'actors':
      return renderActors(result as Parameters<typeof renderActors>[0]);
    case 'pod':
      return renderPod(result as PodResult);
    case 'channels':
      return renderChannels(result as ChannelsResult);
    case 'graph':
      return String((result as { text?: unknown }).text ?? '').replace(/\n$/, '');
    case 'tail':
      return JSON.stringify(result);
  }
}

const CLEAR = '\x1b[H\x1b[2J\x1b[3J';

function defaultInterrupt(): Promise<void> {
  return new Promise((resolve) => {
    const on = () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve();
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}

export async function runInspect(argv: readonly string[], io: InspectIo): Promise<number> {
  let a: InspectArgs;
  try {
    a = parseInspectArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`kubelet-ts inspect: ${e.message}\n\n${inspectUsage()}\n`);
      return 2;
    }
    throw e;
  }
  if (a.help) {
    io.stdout.write(inspectUsage() + '\n');
    return 0;
  }
  let conn: LineConn | undefined;
  let stopped = false;
  const interrupted = (io.interrupted ?? defaultInterrupt()).then(() => {
    stopped = true;
    conn?.close();
  });
  void interrupted;
  try {
    conn = await LineConn.open(a);
    let id = 1;
    const once = async (): Promise<Reply> => {
      conn!.send(request(a, id++));
      const line = await conn!.next();
      if (line === null) throw new Fatal(`the daemon closed the connection on ${a.socket}`);
      const r = parseReply(line);
      if (!r.ok) throw new Fatal(r.error ?? 'the daemon answered an error');
      if (a.json) io.stdout.write(line + '\n');
      return r;
    };

    if (a.cmd === 'tail') {
      conn.send(request(a, id++));
      for (;;) {
        const line = await conn.next();
        if (line === null) {
          if (stopped) return 0;
          throw new Fatal(`the daemon closed the connection on ${a.socket}`);
        }
        const r = parseReply(line);
        if (!r.ok) throw new Fatal(r.error ?? 'the daemon answered an error');
        if (a.json) io.stdout.write(line + '\n');
        else if (r.result !== undefined)
          continue; // the subscription's answer
        else
          io.stdout.write(
            renderTailLine(r as { channel: string; at: number }, io.stdout.isTTY ? io.stdout.columns : undefined) +
              '\n',
          );
      }
    }

    if (!a.watch) {
      const r = await once();
      if (!a.json) io.stdout.write(render(a, r.result) + '\n');
      return 0;
    }

    for (;;) {
      let r: Reply;
      try {
        r = await once();
      } catch (e) {
        if (stopped) return 0;
        throw e;
      }
      if (!a.json) {
        const title = `Every ${(WATCH_MS / 1000).toFixed(1)}s: kubelet-ts inspect ${a.cmd}${a.arg ? ' ' + a.arg : ''}   ${formatTime((r.result as { at?: number }).at)}`;
        io.stdout.write(`${io.stdout.isTTY ? CLEAR : ''}${title}\n\n${render(a, r.result)}\n`);
      }
      await new Promise<void>((res) => {
        const t = setTimeout(res, WATCH_MS);
        void interrupted.then(() => {
          clearTimeout(t);
          res();
        });
      });
      if (stopped) return 0;
    }
  } catch (e) {
    if (e instanceof Fatal) {
      io.stderr.write(`kubelet-ts inspect: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    conn?.close();
  }
}

if (import.meta.main) {
  // The reader of stdout went away (`kubelet-ts inspect tail pleg | head -2`): a normal end, exit
  // 0 without a word, like other unix tools. Any other stdout error is one line and exit 1.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') process.stderr.write(`kubelet-ts inspect: cannot write to stdout: ${e.message}\n`);
    process.exit(e.code === 'EPIPE' ? 0 : 1);
  });
  runInspect(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`kubelet-ts inspect: fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
