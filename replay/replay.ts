/**
 * Replay, part one: what a recording (kernel/recorder.ts) says, read once into the facts a replay
 * needs, and the comparison of decisions.
 *
 * Decisions are the mutating CRI calls (DECISION_METHODS) with their arguments. A real run
 * interleaves different pods' calls with real latency, so the order across pods is not a
 * decision: the recording's decisions are split into one stream per pod (sandbox and container
 * ids map to a pod uid through the calls and answers that carry them) and the replay's decisions
 * are matched against each pod's stream in order. The first divergence is the mismatch whose
 * recorded record comes first in the file.
 *
 * Timing is compared too, within a tolerance the recording itself gives (SessionTiming): a matched
 * decision replayed further than the tolerance from its recorded time is a divergence (a changed
 * backoff, a start no longer held), and so is a decision replayed while another pod's decision,
 * recorded more than the tolerance before it, is still to come (the order across pods, where it
 * is not down to latency).
 *
 * Normalisation, and why it is safe: the arguments are compared as JSON (what the recorder
 * wrote: `undefined` dropped in objects, `null` in arrays), redacted as the recorder redacts
 * (protocols/redact.ts: idempotent, so a recorded placeholder stays itself and a credential the
 * replayed kubelet holds becomes the same placeholder), cut to the decision's own
 * parameters. The per-call options (`{ timeoutMs }`, a transport deadline) are not compared;
 * nothing else is ignored. Ids need no normalising because the replay runtime hands out, for a
 * matched RunPodSandbox or CreateContainer, the id recorded in its answer; images are the
 * recorded image ids; the pods themselves are the recorded `config` inputs, so annotations such
 * as kubernetes.io/config.seen are the recorded ones.
 */

import { redactSecrets } from '../protocols/redact.ts';

/** One line of a recording. */
export type RecordLine = Record<string, unknown> & { t: number; n: number; k: string };

/** The CRI calls that change the node: what a replay compares. */
export const DECISION_METHODS: Readonly<Record<string, number>> = {
  // method → how many leading arguments are the decision (the rest are call options)
  runPodSandbox: 2,
  stopPodSandbox: 1,
  removePodSandbox: 1,
  createContainer: 3,
  startContainer: 1,
  stopContainer: 2,
  removeContainer: 1,
  pullImage: 3,
  removeImage: 1,
};

export const NODE_KEY = 'node';

export interface RecordedAnswer {
  t: number;
  /** Position of the answer record in the file. */
  index: number;
  ok: boolean;
  res?: unknown;
  err?: { kind?: string; message?: string };
}

export interface RecordedCall {
  /** Position of the call record in the file (0-based; `n` of a one-session recording). */
  index: number;
  session: number;
  t: number;
  m: string;
  args: unknown[];
  answer?: RecordedAnswer;
}

export interface Decision {
  /** Position of the record in the file (recorded), or of the first record after it (replayed). */
  index: number;
  t: number;
  pod: string;
  m: string;
  args: unknown[];
}

export interface ExpectedDecision extends Decision {
  session: number;
  call: RecordedCall;
}

/**
 * How far a replayed decision may be from its recorded time. The replay runs the kubelet's own
 * timers on virtual time, so a decision waiting for a PLEG relist (an exit seen) or a sync tick (a
 * backoff that expired, a held static pod) can fall one period earlier or later than recorded
 * when the event it waits for lands near a period boundary; and the replay answers reads (List*,
 * *Status) at once where the recorded ones took real time, so it runs ahead by up to that latency.
 */
export interface SessionTiming {
  /** PLEG relist period (header `periods.plegRelistMs`, else the default). */
  relistMs: number;
  /** syncLoop tick (header `periods.syncTickMs`, else the default). */
  tickMs: number;
  /** The longest recorded read of the session (a CRI call that is not a decision, answered). */
  readLatencyMs: number;
  /** max(relistMs, tickMs) + readLatencyMs */
  toleranceMs: number;
}

/** The daemon's defaults (actors/pleg RELIST_PERIOD_MS, kernel/sync-loop syncTickMs) for headers without periods. */
export const DEFAULT_PERIODS = { plegRelistMs: 1000, syncTickMs: 1000 } as const;

export interface Session {
  index: number;
  header: Record<string, unknown>;
  start: number;
  /** When the recorded kubelet first did something (its first record after the header): the replayed one starts then, so its timers tick in the same phase. */
  kubeletStart: number;
  end: number;
  timing: SessionTiming;
  /** The records of this session (header included). */
  records: RecordLine[];
}

/** A container that exited by itself in the recording (not stopped by the kubelet). */
export interface ExitFact {
  /** When a read first showed it exited. */
  seenAt: number;
  /** When the last read before that one still showed it not exited (its answer): it exited after. */
  runningAt?: number;
  /** How long it ran (ns timestamps of its status), when known. */
  ranMs?: number;
  finishedAtMs?: number;
}

export interface Analysis {
  records: RecordLine[];
  /** Leading records not replayed: the tail of a session whose first part (with its header) is missing. */
  skipped: number;
  sessions: Session[];
  calls: RecordedCall[];
  decisions: ExpectedDecision[];
  /** sandbox or container id → pod uid */
  podOfId: Map<string, string>;
  /** pod uid → namespace/name */
  podName: Map<string, string>;
  exits: Map<string, ExitFact>;
  /**
   * sandbox id → when it went NOTREADY behind the kubelet's back (a read showed it so before the
   * kubelet stopped it): just after the last read that still showed it ready.
   */
  sandboxNotReady: Map<string, number>;
  /**
   * container or sandbox id → when it disappeared behind the kubelet's back (a full listing, or
   * a status read answering NotFound, no longer showed it, and the kubelet had not removed it):
   * just after the last read that still showed it.
   */
  removed: Map<string, number>;
  /** container id → its last recorded ContainerStatus answer that shows it exited */
  exitedStatus: Map<string, Record<string, unknown>>;
  /** container id → its last recorded ContainerStatus answer */
  containerStatus: Map<string, Record<string, unknown>>;
  /** sandbox id → its pod IP while ready */
  sandboxIp: Map<string, string>;
  /** image id → the image as the runtime described it */
  images: Map<string, Record<string, unknown>>;
  /** image reference as asked (ImageStatus / PullImage) → image id */
  imageAlias: Map<string, string>;
  /** image ids present before the recording pulled them (or never pulled) */
  imagesAtStart: Set<string>;
}

export function toRecords(parsed: Record<string, unknown>[]): RecordLine[] {
  return parsed.map((r, i) => {
    if (typeof r.t !== 'number' || typeof r.k !== 'string')
      throw new Error(`recording record ${i}: no clock time t or kind k`);
    return r as RecordLine;
  });
}

const uidOf = (labels: unknown): string | undefined =>
  (labels as Record<string, string> | undefined)?.['io.kubernetes.pod.uid'];

/**
 * JSON as the recorder writes it, redacted as the recorder redacts (so a replayed decision
 * compares equal to its recorded twin), cut to the decision's parameters, trailing nulls dropped.
 */
export function normalizeArgs(m: string, args: unknown[]): unknown[] {
  const n = DECISION_METHODS[m] ?? args.length;
  const out = JSON.parse(JSON.stringify(redactSecrets(args.slice(0, n)))) as unknown[];
  while (out.length && out[out.length - 1] === null) out.pop();
  return out;
}

/** Stable JSON (sorted keys) for equality. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  );
}

/** The pod a decision is about: from its arguments, or the ids it names. */
export function podOfDecision(m: string, args: unknown[], podOfId: (id: string) => string | undefined): string {
  const a0 = args[0] as { metadata?: { uid?: string } } | string | undefined;
  switch (m) {
    case 'runPodSandbox':
      return (typeof a0 === 'object' ? a0?.metadata?.uid : undefined) ?? NODE_KEY;
    case 'createContainer':
      return (args[2] as { metadata?: { uid?: string } } | undefined)?.metadata?.uid ?? podOfId(String(a0)) ?? NODE_KEY;
    case 'pullImage':
      return (args[2] as { metadata?: { uid?: string } } | undefined)?.metadata?.uid ?? NODE_KEY;
    case 'removeImage':
      return NODE_KEY;
    default:
      return typeof a0 === 'string' ? (podOfId(a0) ?? NODE_KEY) : NODE_KEY;
  }
}

function nsToMs(v: unknown): number | undefined {
  return typeof v === 'number' && v > 0 ? Math.round(v / 1e6) : undefined;
}

/** The timing tolerance of a session (SessionTiming): its periods from the header, its reads' latency. */
export function sessionTiming(header: Record<string, unknown>, readLatencyMs: number): SessionTiming {
  const periods = (header.periods ?? {}) as { plegRelistMs?: unknown; syncTickMs?: unknown };
  const ms = (v: unknown, fallback: number) => (typeof v === 'number' && v > 0 ? v : fallback);
  const relistMs = ms(periods.plegRelistMs, DEFAULT_PERIODS.plegRelistMs);
  const tickMs = ms(periods.syncTickMs, DEFAULT_PERIODS.syncTickMs);
  return { relistMs, tickMs, readLatencyMs, toleranceMs: Math.max(relistMs, tickMs) + readLatencyMs };
}

/**
 * A header that opens a session. The recorder repeats the session's header, with `part: N` and
 * `continues: true`, at the top of each rotated part: that one opens no session.
 */
export function isSessionHeader(r: Record<string, unknown>): boolean {
  return r.k === 'header' && r.continues !== true;
}

/**
 * Reads a recording (one or more sessions, each starting with its header) into what replay needs.
 * Records before the first session header (the tail of a session whose first part is missing)
 * are not replayed: `skipped` counts them.
 */
export function analyseRecording(records: RecordLine[]): Analysis {
  const skipped = records.findIndex(isSessionHeader);
  if (skipped < 0) {
    throw new Error(
      records.some((r) => r.k === 'header')
        ? 'recording: no session header, only continued parts: the first part of the session is missing'
        : 'recording: no header line: not a recording made with --record, or its beginning is missing',
    );
  }
  const sessions: Session[] = [];
  const calls: RecordedCall[] = [];
  const open = new Map<number, RecordedCall>(); // call id → call, per session
  for (const [index, r] of records.entries()) {
    if (index < skipped) continue;
    if (isSessionHeader(r)) {
      if (typeof r.format === 'number' && r.format > 2)
        throw new Error(`recording: format ${r.format} is newer than this replay (2)`);
      sessions.push({
        index: sessions.length,
        header: r,
        start: r.t,
        kubeletStart: r.t,
        end: r.t,
        records: [],
        timing: sessionTiming(r, 0),
      });
      open.clear();
    }
    const s = sessions.at(-1)!;
    if (s.records.length === 1) s.kubeletStart = Math.max(s.start, r.t);
    s.records.push(r);
    s.end = Math.max(s.end, r.t);
    if (r.k === 'cri') {
      const c: RecordedCall = { index, session: s.index, t: r.t, m: String(r.m), args: (r.args as unknown[]) ?? [] };
      calls.push(c);
      open.set(r.id as number, c);
    } else if (r.k === 'cri.ok' || r.k === 'cri.err') {
      const c = open.get(r.id as number);
      if (c)
        c.answer =
          r.k === 'cri.ok'
            ? { t: r.t, index, ok: true, res: r.res }
            : { t: r.t, index, ok: false, err: r.err as RecordedAnswer['err'] };
    }
  }

  const longestRead = new Map<number, number>();
  for (const c of calls) {
    if (c.m in DECISION_METHODS || !c.answer) continue;
    longestRead.set(c.session, Math.max(longestRead.get(c.session) ?? 0, c.answer.t - c.t));
  }
  for (const s of sessions) s.timing = sessionTiming(s.header, longestRead.get(s.index) ?? 0);

  const a: Analysis = {
    records,
    skipped,
    sessions,
    calls,
    decisions: [],
    podOfId: new Map(),
    podName: new Map(),
    exits: new Map(),
    sandboxNotReady: new Map(),
    removed: new Map(),
    exitedStatus: new Map(),
    containerStatus: new Map(),
    sandboxIp: new Map(),
    images: new Map(),
    imageAlias: new Map(),
    imagesAtStart: new Set(),
  };
  const link = (id: unknown, uid: unknown) => {
    if (typeof id === 'string' && typeof uid === 'string' && uid) a.podOfId.set(id, uid);
  };
  const nameOf = (meta: unknown) => {
    const m = meta as { uid?: string; name?: string; namespace?: string } | undefined;
    if (m?.uid && m.name) a.podName.set(m.uid, `${m.namespace ?? ''}/${m.name}`);
  };
  const pulledAt = new Map<string, number>();
  const seenImage = (img: unknown, t: number, alias?: string) => {
    const i = img as Record<string, unknown> | null;
    if (!i || typeof i.id !== 'string') return;
    a.images.set(i.id, i);
    if (alias) a.imageAlias.set(alias, i.id);
    if (!(pulledAt.get(i.id)! <= t)) a.imagesAtStart.add(i.id);
  };
  const sandboxOf = new Map<string, string>(); // container id → sandbox id
  // first pass: ids → pods and sandboxes, pulls
  for (const c of calls) {
    const res = c.answer?.ok ? c.answer.res : undefined;
    if (c.m === 'createContainer' && typeof res === 'string') sandboxOf.set(res, String(c.args[0]));
    if (c.m === 'listContainers')
      for (const item of (res as Record<string, unknown>[] | undefined) ?? [])
        sandboxOf.set(String(item.id), String(item.podSandboxId));
    if (c.m === 'runPodSandbox') {
      link(res, (c.args[0] as { metadata?: { uid?: string } })?.metadata?.uid);
      nameOf((c.args[0] as { metadata?: unknown })?.metadata);
    }
    if (c.m === 'createContainer')
      link(res, (c.args[2] as { metadata?: { uid?: string } })?.metadata?.uid ?? a.podOfId.get(String(c.args[0])));
    if (c.m === 'pullImage' && typeof res === 'string' && !pulledAt.has(res)) pulledAt.set(res, c.t);
    for (const item of c.m === 'listPodSandbox' || c.m === 'listContainers'
      ? ((res as Record<string, unknown>[] | undefined) ?? [])
      : []) {
      link(item.id, uidOf(item.labels) ?? (item.metadata as { uid?: string } | undefined)?.uid);
      if (c.m === 'listPodSandbox') nameOf(item.metadata);
    }
    if ((c.m === 'podSandboxStatus' || c.m === 'containerStatus') && res) {
      const r = res as Record<string, unknown>;
      link(r.id, uidOf(r.labels) ?? (r.metadata as { uid?: string } | undefined)?.uid);
    }
  }
  // when (record index) the kubelet stopped each container (itself, or its sandbox): records, not
  // times, tell what came first (a virtual-time recording has many records in one millisecond)
  const stoppedAt = new Map<string, number>();
  const stop = (id: string, index: number) => {
    if (!stoppedAt.has(id)) stoppedAt.set(id, index);
  };
  for (const c of calls) {
    if (c.m === 'stopContainer' || c.m === 'removeContainer') stop(String(c.args[0]), c.index);
    if (c.m === 'stopPodSandbox' || c.m === 'removePodSandbox')
      for (const [cid, sid] of sandboxOf) if (sid === c.args[0]) stop(cid, c.index);
  }
  // second pass: the environment (exits, IPs, images), and the decisions
  const runningAt = new Map<string, number>();
  const containerSeen = (id: string, state: unknown, answer: RecordedAnswer) => {
    if (state !== 'CONTAINER_EXITED') {
      if (!a.exits.has(id)) runningAt.set(id, answer.t);
    } else if (!(stoppedAt.get(id)! < answer.index) && !a.exits.has(id)) {
      a.exits.set(id, { seenAt: answer.t, runningAt: runningAt.get(id) });
    }
  };
  for (const c of calls) {
    if (c.m in DECISION_METHODS) {
      a.decisions.push({
        index: c.index,
        t: c.t,
        session: c.session,
        pod: podOfDecision(c.m, c.args, (id) => a.podOfId.get(id)),
        m: c.m,
        args: normalizeArgs(c.m, c.args),
        call: c,
      });
    }
    if (!c.answer?.ok) continue;
    const res = c.answer.res;
    if (c.m === 'listContainers') {
      for (const item of (res as Record<string, unknown>[]) ?? []) containerSeen(String(item.id), item.state, c.answer);
    } else if (c.m === 'containerStatus' && res) {
      const st = res as Record<string, unknown>;
      const id = String(st.id);
      a.containerStatus.set(id, st);
      containerSeen(id, st.state, c.answer);
      if (st.state === 'CONTAINER_EXITED') {
        a.exitedStatus.set(id, st);
        const fact = a.exits.get(id);
        if (fact && fact.finishedAtMs === undefined) {
          const started = nsToMs(st.startedAt);
          fact.finishedAtMs = nsToMs(st.finishedAt);
          if (started !== undefined && fact.finishedAtMs !== undefined)
            fact.ranMs = Math.max(0, fact.finishedAtMs - started);
        }
      }
    } else if (c.m === 'podSandboxStatus' && res) {
      const st = res as { id: string; network?: { ip?: string } | null; metadata?: unknown };
      nameOf(st.metadata);
      if (st.network?.ip && !a.sandboxIp.has(st.id)) a.sandboxIp.set(st.id, st.network.ip);
    } else if (c.m === 'listImages') {
      for (const img of (res as unknown[]) ?? []) seenImage(img, c.answer.t);
    } else if (c.m === 'imageStatus') {
      seenImage(res, c.answer.t, (c.args[0] as { image?: string } | undefined)?.image);
    } else if (c.m === 'pullImage' && typeof res === 'string') {
      const ref = (c.args[0] as { image?: string } | undefined)?.image;
      if (ref) a.imageAlias.set(ref, res);
    }
  }
  outsideChanges(a, calls, sandboxOf);
  return a;
}

const isFullListing = (c: RecordedCall) => {
  const f = c.args[0] as Record<string, unknown> | null | undefined;
  return !f || Object.values(f).every((v) => v === undefined || v === null);
};

/**
 * What changed behind the kubelet's back: a sandbox that went NOTREADY, a container or sandbox
 * that disappeared, where a read showed it and no decision of the kubelet explains it (as
 * exits, above). The change is placed just after the last read that still showed things as
 * before, so that the replay's reads, made about when the recorded ones were, see it as early
 * as the recorded ones first did.
 */
function outsideChanges(a: Analysis, calls: readonly RecordedCall[], sandboxOf: ReadonlyMap<string, string>): void {
  // record index of the kubelet's first stop or removal of a sandbox, of its removal of a container
  const kubeletStopped = new Map<string, number>();
  const kubeletRemoved = new Map<string, number>();
  const first = (m: Map<string, number>, id: string, index: number) => {
    if (!m.has(id)) m.set(id, index);
  };
  for (const c of calls) {
    const id = String(c.args[0]);
    if (c.m === 'stopPodSandbox' || c.m === 'removePodSandbox') first(kubeletStopped, id, c.index);
    if (c.m === 'removeContainer') first(kubeletRemoved, id, c.index);
    if (c.m === 'removePodSandbox') {
      first(kubeletRemoved, id, c.index);
      for (const [cid, sid] of sandboxOf) if (sid === id) first(kubeletRemoved, cid, c.index);
    }
  }
  const lastReady = new Map<string, number>(); // sandbox id → answer time of the last read showing it READY
  const lastSeen = { sandbox: new Map<string, number>(), container: new Map<string, number>() };
  const seen = (kind: keyof typeof lastSeen, id: unknown, t: number) => {
    if (typeof id === 'string') lastSeen[kind].set(id, t);
  };
  /**
   * A read issued at c.t shows `id` changed, and the kubelet had not asked for it before the
   * answer came: the change happened after the last read showing it as before, if there was one.
   */
  const changed = (
    into: Map<string, number>,
    before: ReadonlyMap<string, number>,
    id: string,
    c: RecordedCall,
    byKubelet: ReadonlyMap<string, number>,
  ) => {
    const last = before.get(id);
    if (last === undefined || into.has(id) || byKubelet.get(id)! < c.answer!.index) return;
    into.set(id, Math.min(c.t, last + 1));
  };
  const sandboxSeen = (item: { id?: unknown; state?: unknown }, c: RecordedCall, t: number) => {
    const id = String(item.id);
    seen('sandbox', id, t);
    if (item.state === 'SANDBOX_READY') lastReady.set(id, t);
    else if (item.state === 'SANDBOX_NOTREADY') changed(a.sandboxNotReady, lastReady, id, c, kubeletStopped);
  };
  /** A full listing issued at c.t: what was seen before it was answered and is not in it is gone. */
  const gone = (kind: keyof typeof lastSeen, items: readonly { id?: unknown }[], c: RecordedCall) => {
    const listed = new Set(items.map((i) => String(i.id)));
    for (const [id, t] of lastSeen[kind])
      if (t < c.t && !listed.has(id)) changed(a.removed, lastSeen[kind], id, c, kubeletRemoved);
  };
  for (const c of calls) {
    const ans = c.answer;
    if (!ans) continue;
    if (!ans.ok) {
      const kind = c.m === 'podSandboxStatus' ? 'sandbox' : c.m === 'containerStatus' ? 'container' : undefined;
      if (kind && ans.err?.kind === 'NotFound')
        changed(a.removed, lastSeen[kind], String(c.args[0]), c, kubeletRemoved);
      continue;
    }
    const res = ans.res;
    switch (c.m) {
      case 'runPodSandbox':
        seen('sandbox', res, ans.t);
        if (typeof res === 'string') lastReady.set(res, ans.t);
        break;
      case 'createContainer':
        seen('container', res, ans.t);
        break;
      case 'podSandboxStatus':
        if (res) sandboxSeen(res as { id?: unknown; state?: unknown }, c, ans.t);
        break;
      case 'containerStatus':
        if (res) seen('container', (res as { id?: unknown }).id, ans.t);
        break;
      case 'listPodSandbox': {
        const items = (res as { id?: unknown; state?: unknown }[] | undefined) ?? [];
        if (isFullListing(c)) gone('sandbox', items, c);
        for (const item of items) sandboxSeen(item, c, ans.t);
        break;
      }
      case 'listContainers': {
        const items = (res as { id?: unknown }[] | undefined) ?? [];
        if (isFullListing(c)) gone('container', items, c);
        for (const item of items) seen('container', item.id, ans.t);
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// matching

export interface Divergence {
  /**
   * decision: another decision (method or arguments), or one missing or unexpected; timing: the
   * same decision further than the tolerance from its recorded time; order: the same decision
   * made before another pod's decision that was recorded more than the tolerance before it.
   */
  kind: 'decision' | 'timing' | 'order';
  /** Position in the recording of the expected decision (or, for an unexpected one, of the first record after it). */
  index: number;
  pod: string;
  podName?: string;
  /** The decision recorded at that point for this pod; null when the recording has none. */
  expected: Decision | null;
  /** What the replay decided instead; null when it made no further decision for this pod. */
  actual: Decision | null;
  /** Where they differ (JSON paths), for a person. */
  differences: string[];
}

/** Field paths where two JSON values differ (at most `limit`). */
export function differences(a: unknown, b: unknown, path = '', out: string[] = [], limit = 6): string[] {
  if (out.length >= limit) return out;
  if (canonical(a) === canonical(b)) return out;
  const obj = (v: unknown) => v !== null && typeof v === 'object';
  if (obj(a) && obj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) {
      const p = Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`;
      differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], p, out, limit);
    }
    return out;
  }
  out.push(`${path || '(value)'}: ${JSON.stringify(a) ?? 'absent'} → ${JSON.stringify(b) ?? 'absent'}`);
  return out;
}

/**
 * Matches the replay's decisions, as they happen, against the recorded per-pod streams. A pod
 * whose stream diverged is not matched any further (its later decisions follow from the first).
 */
export class DecisionMatcher {
  readonly #a: Analysis;
  readonly #byPod = new Map<string, ExpectedDecision[]>();
  readonly #cursor = new Map<string, number>();
  readonly #diverged = new Map<string, Divergence>();
  readonly actual: Decision[] = [];
  matched = 0;
  /** Decisions made after the recording of their session had ended, where it had none left: not compared. */
  beyondEnd = 0;

  constructor(a: Analysis) {
    this.#a = a;
    for (const d of a.decisions) {
      const list = this.#byPod.get(d.pod) ?? [];
      list.push(d);
      this.#byPod.set(d.pod, list);
    }
  }

  /** The first record at or after time t (where an unexpected decision would sit in the file). */
  #indexAt(t: number): number {
    const i = this.#a.records.findIndex((r) => r.t > t);
    return i < 0 ? this.#a.records.length : i;
  }

  /**
   * Records a replayed decision; returns the recorded one it matches (same method and arguments),
   * if any, also when its timing diverged (the runtime answers it as recorded all the same).
   */
  observe(m: string, args: unknown[], pod: string, t: number, sessionEnd: number): ExpectedDecision | undefined {
    const d: Decision = { index: this.#indexAt(t), t, pod, m, args: normalizeArgs(m, args) };
    this.actual.push(d);
    if (this.#diverged.has(pod)) return undefined;
    const list = this.#byPod.get(pod) ?? [];
    const i = this.#cursor.get(pod) ?? 0;
    const exp = list[i];
    if (exp && exp.m === m && canonical(exp.args) === canonical(d.args)) {
      this.#cursor.set(pod, i + 1);
      const late = this.#timing(exp, t);
      if (late) this.#diverge(exp, d, 'timing', [late]);
      else {
        const overtaken = this.#overtaken(exp);
        if (overtaken) this.#diverge(exp, d, 'order', [overtaken]);
        else this.matched++;
      }
      return exp;
    }
    if (!exp && t > sessionEnd) {
      this.beyondEnd++;
      return undefined;
    }
    this.#diverge(exp ?? null, d, 'decision');
    return undefined;
  }

  #tolerance(exp: ExpectedDecision): number {
    return this.#a.sessions[exp.session]?.timing.toleranceMs ?? 0;
  }

  /** Why the replayed time t of `exp` is too far from the recorded one, if it is. */
  #timing(exp: ExpectedDecision, t: number): string | undefined {
    const tol = this.#tolerance(exp);
    const off = t - exp.t;
    if (Math.abs(off) <= tol) return undefined;
    return `time: +${this.#at(exp.t)} → +${this.#at(t)} (${Math.abs(off)} ms ${off > 0 ? 'later' : 'earlier'} than recorded; tolerance ${tol} ms)`;
  }

  /** Another pod's decision recorded more than the tolerance before `exp` and not made yet, if any (the earliest). */
  #overtaken(exp: ExpectedDecision): string | undefined {
    const tol = this.#tolerance(exp);
    let first: ExpectedDecision | undefined;
    for (const [pod, list] of this.#byPod) {
      if (pod === exp.pod || this.#diverged.has(pod)) continue;
      const x = list[this.#cursor.get(pod) ?? 0];
      if (x && x.session === exp.session && x.t < exp.t - tol && (!first || x.t < first.t)) first = x;
    }
    if (!first) return undefined;
    const name = this.#a.podName.get(first.pod) ?? first.pod;
    return `order: recorded ${exp.t - first.t} ms after ${first.m} of pod ${name} (+${this.#at(first.t)}, index ${first.index}), replayed before it (tolerance ${tol} ms)`;
  }

  /** Seconds since the recording's start, for messages. */
  #at(t: number): string {
    return `${((t - (this.#a.sessions[0]?.start ?? 0)) / 1000).toFixed(3)}s`;
  }

  #diverge(exp: ExpectedDecision | null, act: Decision | null, kind: Divergence['kind'], diffs?: string[]): void {
    const pod = (exp ?? act)!.pod;
    const strip = (d: Decision | null): Decision | null =>
      d ? { index: d.index, t: d.t, pod: d.pod, m: d.m, args: d.args } : null;
    diffs ??=
      exp && act ? (exp.m !== act.m ? [`method: ${exp.m} → ${act.m}`] : differences(exp.args, act.args, 'args')) : [];
    this.#diverged.set(pod, {
      kind,
      index: exp?.index ?? act!.index,
      pod,
      podName: this.#a.podName.get(pod),
      expected: strip(exp),
      actual: strip(act),
      differences: diffs,
    });
  }

  /** Recorded decisions of `session` not yet matched (pods that have not diverged). */
  pending(session: number): number {
    let n = 0;
    for (const [pod, list] of this.#byPod) {
      if (this.#diverged.has(pod)) continue;
      n += list.slice(this.#cursor.get(pod) ?? 0).filter((d) => d.session === session).length;
    }
    return n;
  }

  /** After the replay: recorded decisions never made are divergences too. The first one, by index. */
  finish(): { first: Divergence | undefined; divergedPods: number } {
    for (const [pod, list] of this.#byPod) {
      const i = this.#cursor.get(pod) ?? 0;
      if (!this.#diverged.has(pod) && i < list.length) this.#diverge(list[i]!, null, 'decision');
    }
    const all = [...this.#diverged.values()].sort((x, y) => x.index - y.index);
    return { first: all[0], divergedPods: all.length };
  }
}
