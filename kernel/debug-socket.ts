/**
 * The debug socket: inspection of a running kubelet-ts over a unix socket, JSON lines.
 *
 * Security: the socket is created under umask 0177 (so it is never world-accessible, not even
 * between bind and chmod), then chmod 0600: only the daemon's user (root on a node) connects.
 * A stale socket file (nobody answers a connect) is replaced; a live one means another daemon
 * uses the same root dir, which is an error. The file is removed on close.
 *
 * Protocol: one request per line, one JSON response per line.
 *
 *   request   {"cmd":"actors"}                      or  actors
 *             {"cmd":"tail","channel":"<name>"}     or  tail <name>
 *             {"cmd":"graph","machine":"<name>"}    or  graph <name>
 *             {"cmd":"crash","actor":"<id>"}        or  crash <id>
 *               (fault injection for chaos drills: the actor crashes as if it threw and its
 *               supervisor restarts it, or escalates past its restart intensity; answers
 *               {"actor":id,"crashed":true}. `kubelet-ts inspect` does not send it)
 *             and the commands the daemon registers (`commands`: e.g. bin/kubelet.ts's `pod` and
 *             `channels`), {"cmd":C,"<field>":"<arg>"} or C <arg> for one taking an argument
 *             (JSON requests may carry an "id", string or number, echoed in every answer)
 *   response  {"ok":true,"id"?,"result":...}  |  {"ok":false,"id"?,"error":"..."}
 *   tail      first the answer {"ok":true,"id"?,"result":{"channel":C,"subscribed":true}}, then
 *             {"ok":true,"id"?,"channel":C,"at":<clock ms>,"msg":...} per message, until the
 *             client disconnects or shuts down its sending side (EOF ends the session);
 *             {"ok":true,"id"?,"channel":C,"at":..,"dropped":N} after N messages were dropped
 *             because the client did not read fast enough (more than 1 MiB unsent).
 *
 * A bad request (malformed JSON, unknown command, a line over 64 KiB) gets an error line and the
 * connection keeps serving. The socket never writes into the bus and never throws into it: a
 * tail subscriber that failed inside a bus `send` would surface in the sender's call stack.
 */
import { lstat, mkdir, stat, unlink, chmod } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Subscription } from 'rxjs';
import type { AnyStateMachine } from 'xstate';
import type { Bus } from './bus.ts';
import type { Clock } from './clock.ts';
import type { Logger } from './log.ts';
import type { ActorInfo } from './supervisor.ts';

export type { ActorInfo };

/** The supervisor, or anything that reports the actor tree the way it does. */
export interface InspectSource {
  inspect(): readonly ActorInfo[];
  /** Fault injection for chaos drills: crash a running actor as if it threw. */
  crash?(id: string, err?: unknown): void;
}

/** What a registered command may look at. */
export interface DebugCommandEnv {
  /** The actor tree as `actors` reports it (each actor's inspect snapshot included). */
  readonly actors: readonly ActorInfo[];
  /** The latest value of a view (undefined before its first publish). */
  view(name: string): unknown;
  /** Messages sent or published per channel since the bus was created. */
  counts(): ReadonlyMap<string, number>;
  readonly now: number;
}

/**
 * A command the daemon adds to the socket (the kernel knows no kubelet name: the pod view and
 * the channel map are registered by bin/kubelet.ts). `answer` runs synchronously, never writes
 * into the bus, and throws DebugRequestError for a request it cannot answer (that message goes
 * to the client as is).
 */
export interface DebugCommand {
  /** The one argument it takes: the JSON field that carries it and a help line. None: no argument. */
  readonly arg?: { readonly field: string; readonly help: string };
  answer(arg: string | undefined, env: DebugCommandEnv): unknown;
}

/** A request a command cannot answer (unknown name, actor not running): its message is the answer. */
export class DebugRequestError extends Error {}

export interface DebugSocketOptions {
  path: string;
  source: InspectSource;
  bus: Bus;
  /** Commands beyond actors/tail/graph/crash, by name. */
  commands?: Readonly<Record<string, DebugCommand>>;
  /** xstate machines `graph` can render, by name (e.g. `{ podWorker: podWorkerMachine }`). */
  machines?: Record<string, AnyStateMachine>;
  clock: Clock;
  log: Logger;
  /** Longest request line accepted (bytes). Default 64 KiB. */
  maxLineBytes?: number;
  /** A tail client with more than this many bytes unsent gets messages dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
}

export interface DebugSocketStats {
  connections: number;
  /** Live `tail` subscriptions on the bus. */
  tails: number;
  /** Tail messages dropped for slow clients since start. */
  dropped: number;
  /** Requests answered (including errors). */
  requests: number;
}

export interface DebugSocket {
  readonly path: string;
  stats(): DebugSocketStats;
  /** Disconnects every client, ends every tail and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

export type RequestId = string | number;

export type BuiltinRequest =
  | { cmd: 'actors'; id?: RequestId }
  | { cmd: 'tail'; channel: string; id?: RequestId }
  | { cmd: 'graph'; machine: string; id?: RequestId }
  | { cmd: 'crash'; actor: string; id?: RequestId };

/** A registered command's request: its argument under the command's field. */
export interface CommandRequest {
  cmd: string;
  id?: RequestId;
  [field: string]: string | number | undefined;
}

export type DebugRequest = BuiltinRequest | CommandRequest;

export type ParsedRequest = { ok: true; req: DebugRequest } | { ok: false; error: string; id?: RequestId };

/** The socket's file name under the kubelet root dir. */
export const DEBUG_SOCKET_NAME = 'kubelet-ts.sock';
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Unix socket paths are limited by sockaddr_un.sun_path (108 bytes with the NUL on Linux). */
const MAX_SOCKET_PATH_BYTES = 107;

/** The built-in commands that take an argument: its field and help. */
const BUILTIN_ARGS: Readonly<Partial<Record<string, { field: string; help: string }>>> = {
  tail: { field: 'channel', help: 'a channel name, e.g. {"cmd":"tail","channel":"pleg"} or "tail pleg"' },
  graph: { field: 'machine', help: 'a machine name, e.g. {"cmd":"graph","machine":"podWorker"} or "graph podWorker"' },
  crash: { field: 'actor', help: 'an actor id, e.g. {"cmd":"crash","actor":"pleg"} or "crash pleg"' },
};
const BUILTINS = ['actors', 'tail', 'graph', 'crash'];

// ---------------------------------------------------------------------------------------------
// Requests

/**
 * Parses one request line (JSON object or text form), knowing the built-in commands and the
 * registered `commands`. Pure.
 */
export function parseRequest(line: string, commands: Readonly<Record<string, DebugCommand>> = {}): ParsedRequest {
  const TRY = `try ${[...new Set(['actors', ...Object.keys(commands), ...BUILTINS])].join(', ')}`;
  const known = (cmd: string) => Object.hasOwn(commands, cmd) || BUILTINS.includes(cmd);
  // The argument a command takes (undefined: none).
  const argOf = (cmd: string) => (Object.hasOwn(commands, cmd) ? commands[cmd]!.arg : BUILTIN_ARGS[cmd]);
  const text = line.trim();
  if (text === '') return { ok: false, error: `empty request; ${TRY}` };
  const first = text[0];
  if (first === '{' || first === '[' || first === '"') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      return { ok: false, error: `invalid JSON request: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return {
        ok: false,
        error: 'a request must be a JSON object like {"cmd":"actors"} or a text command like "actors"',
      };
    }
    const o = value as Record<string, unknown>;
    let id: RequestId | undefined;
    if (o.id !== undefined) {
      if (typeof o.id !== 'string' && typeof o.id !== 'number')
        return { ok: false, error: '"id" must be a string or a number' };
      id = o.id;
    }
    const withId = <T extends object>(r: T): T & { id?: RequestId } => (id === undefined ? r : { ...r, id });
    if (o.cmd === undefined) return withId({ ok: false as const, error: `request has no "cmd"; ${TRY}` });
    if (typeof o.cmd !== 'string') return withId({ ok: false as const, error: `"cmd" must be a string; ${TRY}` });
    const cmd = o.cmd;
    if (!known(cmd)) return withId({ ok: false as const, error: `unknown command ${JSON.stringify(cmd)}; ${TRY}` });
    const spec = argOf(cmd);
    if (!spec) return { ok: true, req: withId({ cmd } as DebugRequest) };
    const arg = o[spec.field];
    if (typeof arg !== 'string' || arg.trim() === '') {
      return withId({ ok: false as const, error: `${cmd} needs "${spec.field}": ${spec.help}` });
    }
    return { ok: true, req: withId({ cmd, [spec.field]: arg.trim() } as DebugRequest) };
  }
  const words = text.split(/\s+/);
  const cmd = words[0]!;
  const args = words.slice(1);
  if (!known(cmd)) return { ok: false, error: `unknown command ${JSON.stringify(cmd)}; ${TRY}` };
  const spec = argOf(cmd);
  if (!spec) {
    if (args.length > 0) return { ok: false, error: `${cmd} takes no argument` };
    return { ok: true, req: { cmd } as DebugRequest };
  }
  if (args.length !== 1) return { ok: false, error: `${cmd} needs exactly one argument: ${spec.help}` };
  return { ok: true, req: { cmd, [spec.field]: args[0]! } as DebugRequest };
}

// ---------------------------------------------------------------------------------------------
// JSON safety

const MAX_DEPTH = 64;

/**
 * A JSON-safe copy of any bus payload or inspect snapshot: Maps become objects (string/number
 * keys) or [key, value] arrays, Sets arrays, Buffers and typed arrays base64 strings, Errors
 * their message, bigints strings, functions and symbols vanish, cycles become "[Circular]".
 * JSON.stringify of the result never throws.
 */
export function toJsonSafe(value: unknown): unknown {
  const ancestors = new Set<object>();
  const walk = (v: unknown, depth: number): unknown => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        return Number.isFinite(v) ? v : null;
      case 'bigint':
        return v.toString();
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
    }
    if (v === null) return null;
    const o = v as object;
    if (o instanceof Error) return o.message;
    if (o instanceof Date) return Number.isNaN(o.getTime()) ? null : o.toISOString();
    if (ArrayBuffer.isView(o)) return Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('base64');
    if (o instanceof ArrayBuffer) return Buffer.from(o).toString('base64');
    if (o instanceof RegExp) return String(o);
    if (ancestors.has(o)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[MaxDepth]';
    ancestors.add(o);
    try {
      if (Array.isArray(o))
        return o.map((x) => {
          const y = walk(x, depth + 1);
          return y === undefined ? null : y;
        });
      if (o instanceof Set)
        return [...o].map((x) => {
          const y = walk(x, depth + 1);
          return y === undefined ? null : y;
        });
      if (o instanceof Map) {
        const keys = [...o.keys()];
        if (keys.every((k) => typeof k === 'string' || typeof k === 'number')) {
          // A null-prototype object: a "__proto__" key stays a key.
          const out = Object.create(null) as Record<string, unknown>;
          for (const [k, x] of o) out[String(k)] = walk(x, depth + 1);
          return out;
        }
        return [...o].map(([k, x]) => [walk(k, depth + 1) ?? null, walk(x, depth + 1) ?? null]);
      }
      const toJSON = (o as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        let j: unknown;
        try {
          j = toJSON.call(o);
        } catch (e) {
          return `[toJSON failed: ${e instanceof Error ? e.message : String(e)}]`;
        }
        if (j !== o) return walk(j, depth + 1);
      }
      const out = Object.create(null) as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        let x: unknown;
        try {
          x = (o as Record<string, unknown>)[k];
        } catch (e) {
          x = `[getter failed: ${e instanceof Error ? e.message : String(e)}]`;
        }
        out[k] = walk(x, depth + 1);
      }
      return out;
    } finally {
      ancestors.delete(o);
    }
  };
  return walk(value, 0);
}

// ---------------------------------------------------------------------------------------------
// Mermaid

interface GraphNode {
  key: string;
  id: string;
  path: string[];
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  history?: false | 'shallow' | 'deep';
  states: Record<string, GraphNode>;
  initial?: { target?: readonly GraphNode[] };
  transitions: Map<string, readonly GraphTransition[]>;
  always?: readonly GraphTransition[];
  after: readonly (GraphTransition & { delay: unknown })[];
  invoke?: readonly { id: string; src: unknown }[];
}

interface GraphTransition {
  target?: readonly GraphNode[];
  guard?: unknown;
}

function formatDelay(d: unknown): string {
  if (typeof d === 'number') return d % 1000 === 0 && d >= 1000 ? `${d / 1000}s` : `${d}ms`;
  if (typeof d === 'string') return d;
  return 'delay';
}

function guardName(g: unknown): string | undefined {
  if (g === undefined || g === null) return undefined;
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && typeof (g as { type?: unknown }).type === 'string') return (g as { type: string }).type;
  if (typeof g === 'function' && g.name && !/^(check|guard)$/.test(g.name)) return g.name;
  return 'guard';
}

function eventLabel(eventType: string, n: GraphNode): string {
  if (eventType.startsWith('xstate.done.state.')) return 'onDone';
  const actor = /^xstate\.(done|error)\.actor\.(.*)$/.exec(eventType);
  if (actor) {
    // Name the invoked logic, not xstate's generated invoke id ("0.machine.state").
    const inv = (n.invoke ?? []).find((i) => i.id === actor[2]);
    const name = inv && /^\d+\./.test(inv.id) ? (typeof inv.src === 'string' ? inv.src : 'invoke') : actor[2];
    return `${actor[1] === 'done' ? 'done' : 'error'}: ${name}`;
  }
  return eventType;
}

/**
 * The machine as a Mermaid `stateDiagram-v2`: states (nested ones as composite states; the
 * kind of id Mermaid accepts, the xstate key as label), initial (`[*] -->`) and final
 * (`--> [*]`) markers, one edge per event/guard with the guard in brackets, `after Ns` for
 * delayed transitions and `always` for eventless ones. A targetless transition (actions only)
 * is drawn as a self-loop. Each edge is written in the innermost composite holding both ends.
 */
export function machineToMermaid(machine: AnyStateMachine): string {
  const root = machine.root as unknown as GraphNode;
  const mid = (n: GraphNode): string =>
    n.path.length === 0 ? 'root' : n.path.join('_').replace(/[^A-Za-z0-9_]/g, '_');
  const clean = (s: string): string => s.replace(/[#;\n\r]/g, ' ').trim();
  const edges = new Map<string, string[]>(); // scope path (joined) → edge lines

  const addEdge = (from: GraphNode, to: GraphNode, label: string) => {
    const a = from.path.slice(0, -1);
    const b = to.path.slice(0, -1);
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    const scope = a.slice(0, i).join('.');
    const list = edges.get(scope) ?? [];
    list.push(`${mid(from)} --> ${mid(to)} : ${clean(label)}`);
    edges.set(scope, list);
  };

  const collect = (n: GraphNode) => {
    for (const [eventType, ts] of n.transitions) {
      if (eventType.startsWith('xstate.after.')) continue; // drawn from `after` below
      for (const t of ts) {
        const g = guardName(t.guard);
        const label = g ? `${eventLabel(eventType, n)} [${g}]` : eventLabel(eventType, n);
        const targets = t.target && t.target.length > 0 ? t.target : [n];
        for (const to of targets) addEdge(n, to, label);
      }
    }
    for (const t of n.always ?? []) {
      const g = guardName(t.guard);
      for (const to of t.target && t.target.length > 0 ? t.target : [n]) addEdge(n, to, g ? `always [${g}]` : 'always');
    }
    for (const t of n.after) {
      const g = guardName(t.guard);
      const label = `after ${formatDelay(t.delay)}${g ? ` [${g}]` : ''}`;
      for (const to of t.target && t.target.length > 0 ? t.target : [n]) addEdge(n, to, label);
    }
    for (const c of Object.values(n.states)) collect(c);
  };
  collect(root);

  const lines = ['stateDiagram-v2'];
  const body = (n: GraphNode, indent: string) => {
    const children = Object.values(n.states);
    const init = n.initial?.target?.[0];
    if (n.type !== 'parallel' && init) lines.push(`${indent}[*] --> ${mid(init)}`);
    children.forEach((c, i) => {
      if (n.type === 'parallel' && i > 0) lines.push(`${indent}--`);
      const hasChildren = Object.keys(c.states).length > 0;
      if (hasChildren) {
        lines.push(`${indent}state ${mid(c)} {`);
        body(c, indent + '  ');
        lines.push(`${indent}}`);
      } else {
        const label = c.type === 'history' ? (c.history === 'deep' ? 'H*' : 'H') : c.key;
        lines.push(`${indent}state "${clean(label).replace(/"/g, "'")}" as ${mid(c)}`);
      }
      if (c.type === 'final') lines.push(`${indent}${mid(c)} --> [*]`);
    });
    for (const e of edges.get(n.path.join('.')) ?? []) lines.push(indent + e);
  };
  body(root, '  ');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Answers

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// The server

interface Tail {
  channel: string;
  id: RequestId | undefined;
  sub: Subscription | undefined;
  droppedUnreported: number;
  /** Tell the client how many messages it missed, once there is room again. */
  reportDrops(): void;
}

interface Conn {
  socket: Socket;
  pending: Buffer;
  discarding: boolean;
  tails: Set<Tail>;
  /** The client sent EOF: finish its session once its last requests are answered. */
  clientEnded: boolean;
  /** Unsent bytes allowed; never below the socket's high-water mark, or 'drain' might not come. */
  limit: number;
  closed: boolean;
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as NodeJS.ErrnoException).code : undefined;
}

/** Resolves true when something accepts a connection on `path`. */
function isListening(path: string, clock: Clock): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    // A listener that never accepts (backlog full, process stopped) still owns the path.
    const timer = clock.setTimeout(() => {
      s.destroy();
      resolve(true);
    }, 1000);
    s.once('connect', () => {
      clock.clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', (e) => {
      clock.clearTimeout(timer);
      const code = errnoOf(e);
      if (code === 'ECONNREFUSED' || code === 'ENOENT') resolve(false);
      else reject(new Error(`debug socket ${path}: cannot check whether it is in use: ${e.message}`));
    });
  });
}

async function clearStale(path: string, clock: Clock, log: Logger): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new Error(`debug socket ${path}: the path exists and is not a socket; remove it or use another --root-dir`);
  }
  if (await isListening(path, clock)) {
    throw new Error(
      `debug socket ${path}: another process is listening on it (is another kubelet-ts running with the same --root-dir?)`,
    );
  }
  log.info('removing stale debug socket', { path }, 1);
  try {
    await unlink(path);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

export async function startDebugSocket(opts: DebugSocketOptions): Promise<DebugSocket> {
  const { path, source, bus, clock } = opts;
  const log = opts.log;
  const machines = opts.machines ?? {};
  const commands = opts.commands ?? {};
  const maxLine = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const maxBuffered = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const views = bus.port('debugSocket');
  const readView = views.current as unknown as (name: string) => unknown;
  const graphs = new Map<string, string>();

  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `debug socket ${path}: the path is ${bytes} bytes, unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}; use a shorter --root-dir`,
    );
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  await clearStale(path, clock, log);

  const conns = new Set<Conn>();
  let tails = 0;
  let dropped = 0;
  let requests = 0;

  const server: Server = createServer({ allowHalfOpen: true }, (socket) => onConnection(socket));
  server.on('error', (e) => log.error('debug socket server error', { path, error: e }));

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      server.off('listening', onListening);
      const code = errnoOf(e);
      reject(
        code === 'EADDRINUSE'
          ? new Error(
              `debug socket ${path}: another process is listening on it (is another kubelet-ts running with the same --root-dir?)`,
            )
          : new Error(`debug socket ${path}: ${e.message}`),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // bind(2) happens synchronously inside listen(): the socket file is born 0600.
    const old = process.umask(0o177);
    try {
      server.listen(path);
    } finally {
      process.umask(old);
    }
  });
  let ino: number;
  try {
    await chmod(path, 0o600);
    ino = (await stat(path)).ino;
  } catch (e) {
    server.close();
    throw new Error(`debug socket ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  log.info('debug socket listening', { path });

  // -------------------------------------------------------------------------------------------

  const write = (c: Conn, obj: unknown): void => {
    if (c.closed || c.socket.destroyed || !c.socket.writable) return;
    c.socket.write(JSON.stringify(obj) + '\n');
  };

  const answer = (c: Conn, id: RequestId | undefined, result: unknown) =>
    write(
      c,
      id === undefined ? { ok: true, result: toJsonSafe(result) } : { ok: true, id, result: toJsonSafe(result) },
    );

  const fail = (c: Conn, id: RequestId | undefined, error: string) =>
    write(c, id === undefined ? { ok: false, error } : { ok: false, id, error });

  const actorsResult = () => {
    const now = clock.now();
    return {
      at: now,
      actors: source.inspect().map((a) => {
        const ins = a.inspect;
        const depth = isRecord(ins) && typeof ins.mailboxDepth === 'number' ? ins.mailboxDepth : 0;
        return {
          id: a.id,
          state: a.state,
          restarts: a.restarts,
          lastError: a.lastError,
          lastErrorAt: a.lastErrorAt,
          mailboxDepth: depth,
          startedAt: a.startedAt,
          // The supervisor reports 0 for a child that is not running.
          uptimeMs: a.state === 'running' ? a.uptimeMs : null,
          dependsOn: [...a.dependsOn],
          inspect: ins ?? null,
        };
      }),
    };
  };

  const commandResult = (cmd: DebugCommand, arg: string | undefined) =>
    cmd.answer(arg, { actors: source.inspect(), view: readView, counts: () => bus.counts(), now: clock.now() });

  const graphResult = (name: string) => {
    const m = Object.hasOwn(machines, name) ? machines[name] : undefined;
    if (!m) {
      const known = Object.keys(machines);
      throw new DebugRequestError(
        `unknown machine ${JSON.stringify(name)}; ${known.length ? `known machines: ${known.join(', ')}` : 'no machines are registered'}`,
      );
    }
    let text = graphs.get(name);
    if (text === undefined) {
      text = machineToMermaid(m);
      graphs.set(name, text);
    }
    return { machine: name, format: 'mermaid', text };
  };

  const crashResult = (actor: string) => {
    if (!source.crash) throw new DebugRequestError('crash is not supported by this daemon');
    const info = source.inspect().find((a) => a.id === actor);
    if (!info)
      throw new DebugRequestError(
        `unknown actor ${JSON.stringify(actor)}; known actors: ${source
          .inspect()
          .map((a) => a.id)
          .join(', ')}`,
      );
    if (info.state !== 'running') throw new DebugRequestError(`actor ${actor} is ${info.state}, not running`);
    opts.log.warn('debug socket: injecting a crash', { actor });
    source.crash(actor, new Error(`crash injected through the debug socket`));
    return { actor, crashed: true };
  };

  const startTail = (c: Conn, channel: string, id: RequestId | undefined) => {
    const { events, views: viewNames } = bus.channelNames();
    if (!events.includes(channel) && !viewNames.includes(channel)) {
      const known = [...new Set([...events, ...viewNames])].sort();
      throw new DebugRequestError(`unknown channel ${JSON.stringify(channel)}; known channels: ${known.join(', ')}`);
    }
    const base = () => (id === undefined ? { ok: true, channel } : { ok: true, id, channel });
    const tail: Tail = {
      channel,
      id,
      sub: undefined,
      droppedUnreported: 0,
      reportDrops() {
        if (tail.droppedUnreported === 0) return;
        write(c, { ...base(), at: clock.now(), dropped: tail.droppedUnreported });
        tail.droppedUnreported = 0;
      },
    };
    c.tails.add(tail);
    tails++;
    // The answer comes first, so a client knows the subscription is live before any message
    // (a view replays its current value at once).
    answer(c, id, { channel, subscribed: true });
    tail.sub = bus.observe(channel).subscribe((msg) => {
      // Runs inside the sender's bus.send: it must never throw.
      try {
        if (c.closed || c.socket.destroyed) return;
        if (c.socket.writableLength > c.limit) {
          tail.droppedUnreported++;
          dropped++;
          return;
        }
        tail.reportDrops();
        write(c, { ...base(), at: clock.now(), msg: toJsonSafe(msg) });
      } catch (e) {
        log.warn('debug socket: tail write failed', { channel, error: e });
      }
    });
  };

  const endTails = (c: Conn) => {
    for (const t of c.tails) {
      t.sub?.unsubscribe();
      tails--;
    }
    c.tails.clear();
  };

  const handleLine = (c: Conn, raw: Buffer) => {
    const line = raw.toString('utf8').trim();
    if (line === '') return;
    requests++;
    const parsed = parseRequest(line, commands);
    if (!parsed.ok) return fail(c, parsed.id, parsed.error);
    const req = parsed.req;
    try {
      if (Object.hasOwn(commands, req.cmd)) {
        const cmd = commands[req.cmd]!;
        const arg = cmd.arg ? (req as CommandRequest)[cmd.arg.field] : undefined;
        return answer(c, req.id, commandResult(cmd, typeof arg === 'string' ? arg : undefined));
      }
      const b = req as BuiltinRequest;
      switch (b.cmd) {
        case 'actors':
          return answer(c, b.id, actorsResult());
        case 'graph':
          return answer(c, b.id, graphResult(b.machine));
        case 'tail':
          return startTail(c, b.channel, b.id);
        case 'crash':
          return answer(c, b.id, crashResult(b.actor));
      }
    } catch (e) {
      if (e instanceof DebugRequestError) return fail(c, req.id, e.message);
      log.warn('debug socket request failed', { cmd: req.cmd, error: e });
      return fail(c, req.id, `${req.cmd} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  /**
   * Answers every complete line buffered for `c`. It stops while the client has more than
   * maxBuffered bytes of answers unread (and stops reading from it), so a client that sends
   * requests without reading costs bounded memory; 'drain' starts it again.
   */
  const pump = (c: Conn) => {
    const data = c.pending;
    let start = 0;
    let blocked = false;
    for (;;) {
      if (c.closed) return;
      if (c.socket.writableLength > c.limit) {
        blocked = true;
        break;
      }
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      if (c.discarding) {
        // The tail of a line already answered as too long.
        c.discarding = false;
      } else if (nl - start > maxLine) {
        requests++;
        fail(c, undefined, `request line longer than ${maxLine} bytes`);
      } else {
        handleLine(c, data.subarray(start, nl));
      }
      start = nl + 1;
    }
    let rest = data.subarray(start);
    if (!blocked) {
      if (c.discarding) {
        rest = Buffer.alloc(0);
      } else if (rest.length > maxLine) {
        requests++;
        fail(c, undefined, `request line longer than ${maxLine} bytes`);
        c.discarding = true;
        rest = Buffer.alloc(0);
      }
    }
    // Copy: a subarray would keep the whole chunk alive.
    c.pending = start === 0 && rest === data ? data : Buffer.from(rest);
    if (blocked) {
      c.socket.pause();
    } else if (c.clientEnded) {
      // EOF from the client ends its session, tails included, once its requests are answered:
      // a peer that is gone looks the same as one that only shut down its sending side, and a
      // tail kept for a dead peer would hold a bus subscription until a write failed.
      endTails(c);
      c.socket.end();
    }
  };

  const onData = (c: Conn, chunk: Buffer) => {
    c.pending = c.pending.length > 0 ? Buffer.concat([c.pending, chunk]) : chunk;
    pump(c);
  };

  const cleanup = (c: Conn) => {
    if (c.closed) return;
    c.closed = true;
    endTails(c);
    conns.delete(c);
  };

  function onConnection(socket: Socket): void {
    const c: Conn = {
      socket,
      pending: Buffer.alloc(0),
      discarding: false,
      tails: new Set(),
      clientEnded: false,
      closed: false,
      limit: Math.max(maxBuffered, socket.writableHighWaterMark),
    };
    conns.add(c);
    log.info('debug socket client connected', { clients: conns.size }, 4);
    socket.on('data', (chunk: Buffer) => onData(c, chunk));
    socket.on('drain', () => {
      for (const t of c.tails) t.reportDrops();
      pump(c);
      if (socket.isPaused() && socket.writableLength <= c.limit) socket.resume();
    });
    socket.on('end', () => {
      c.clientEnded = true;
      pump(c);
    });
    socket.on('error', (e) => {
      log.info('debug socket client error', { error: e }, 4);
      cleanup(c);
    });
    socket.on('close', () => cleanup(c));
  }

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const c of [...conns]) {
        cleanup(c);
        c.socket.destroy();
      }
    });
    try {
      // libuv already unlinks a pipe it bound; this covers the rest, but never someone else's.
      const st = await lstat(path);
      if (st.ino === ino) await unlink(path);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') log.warn('debug socket: could not remove the socket file', { path, error: e });
    }
    log.info('debug socket closed', { path }, 1);
  };

  return {
    path,
    stats: () => ({ connections: conns.size, tails, dropped, requests }),
    close: () => (closing ??= close()),
  };
}
