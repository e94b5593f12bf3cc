/**
 * The debug socket's `pod` command (`kubelet-ts inspect pod <uid|ns/name>`): one pod worker's
 * state, pending update, next sync, containers, backoff deadlines and transition history, read
 * from the podWorkers and runtime actors' inspect snapshots and the podStatuses view. Kubelet
 * names, so it lives here and bin/kubelet.ts registers it; the kernel's socket only runs it.
 */
import { DebugRequestError, type DebugCommand, type DebugCommandEnv } from '../kernel/debug-socket.ts';

/** The actors whose inspect snapshots `pod` reads, and the view (absent ones are skipped). */
const POD_WORKERS_ID = 'podWorkers';
const RUNTIME_ID = 'runtime';
const POD_STATUSES_VIEW = 'podStatuses';

interface PodWorkerInspect {
  uid: string;
  pod: string | null;
  state: string;
  seq: number;
  inFlight: string | null;
  pending: string | null;
  nextSyncAt: number | null;
  lastSyncError: string | null;
  history: { at: number; state: string; cause: string }[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface ContainerLine {
  name: string;
  kind: 'init' | 'app';
  state: 'waiting' | 'running' | 'terminated' | 'unknown';
  reason: string | null;
  message: string | null;
  restartCount: number;
  ready: boolean;
}

interface BackoffLine {
  container: string | null;
  kind: string;
  image: string | null;
  delayMs: number | null;
  retryAt: number | null;
  retryInMs: number | null;
}

/** The runtime's backoff entries for one pod (its inspect `backoff[uid]`), deadlines against `now`. */
function backoffLines(runtimeInspect: unknown, uid: string, now: number): BackoffLine[] {
  if (!isRecord(runtimeInspect) || !isRecord(runtimeInspect.backoff) || !Object.hasOwn(runtimeInspect.backoff, uid))
    return [];
  const list = runtimeInspect.backoff[uid];
  if (!Array.isArray(list)) return [];
  return list.filter(isRecord).map((b) => ({
    container: typeof b.container === 'string' ? b.container : null,
    kind: typeof b.kind === 'string' ? b.kind : 'unknown',
    image: typeof b.image === 'string' ? b.image : null,
    delayMs: typeof b.delayMs === 'number' ? b.delayMs : null,
    retryAt: typeof b.retryAt === 'number' ? b.retryAt : null,
    retryInMs: typeof b.retryAt === 'number' ? b.retryAt - now : null,
  }));
}

function containerLines(status: unknown): { phase: string | null; containers: ContainerLine[] } | null {
  if (!isRecord(status)) return null;
  const out: ContainerLine[] = [];
  const add = (list: unknown, kind: 'init' | 'app') => {
    if (!Array.isArray(list)) return;
    for (const c of list) {
      if (!isRecord(c)) continue;
      const st = isRecord(c.state) ? c.state : {};
      const which = (['waiting', 'running', 'terminated'] as const).find((k) => isRecord(st[k])) ?? 'waiting';
      const detail = isRecord(st[which]) ? st[which] : {};
      out.push({
        name: typeof c.name === 'string' ? c.name : '',
        kind,
        state: which,
        reason: typeof detail.reason === 'string' ? detail.reason : null,
        message: typeof detail.message === 'string' ? detail.message : null,
        restartCount: typeof c.restartCount === 'number' ? c.restartCount : 0,
        ready: c.ready === true,
      });
    }
  };
  add(status.initContainerStatuses, 'init');
  add(status.containerStatuses, 'app');
  return { phase: typeof status.phase === 'string' ? status.phase : null, containers: out };
}

/** The `pod` answer for a uid, namespace/name or (when unambiguous) a bare name. */
export function podAnswer(query: string, env: DebugCommandEnv): unknown {
  const actors = env.actors;
  const pw = actors.find((a) => a.id === POD_WORKERS_ID);
  if (!pw) throw new DebugRequestError(`no ${POD_WORKERS_ID} actor in the tree`);
  const ins = pw.inspect;
  if (!isRecord(ins) || !Array.isArray(ins.workers)) {
    throw new DebugRequestError(`${POD_WORKERS_ID} is ${pw.state}: its pod workers cannot be inspected now`);
  }
  const workers = ins.workers as PodWorkerInspect[];
  let w = workers.find((x) => x.uid === query) ?? workers.find((x) => x.pod === query);
  if (!w && !query.includes('/')) {
    const byName = workers.filter((x) => x.pod?.split('/')[1] === query);
    if (byName.length === 1) w = byName[0];
    else if (byName.length > 1) {
      throw new DebugRequestError(
        `pod name ${JSON.stringify(query)} is ambiguous: ${byName.map((x) => x.pod).join(', ')}; use namespace/name or the uid`,
      );
    }
  }
  if (!w) {
    const known = workers.map((x) => x.pod ?? x.uid);
    throw new DebugRequestError(
      `no pod worker for ${JSON.stringify(query)} (by uid or namespace/name); ${known.length ? `known: ${known.join(', ')}` : 'there are no pod workers'}`,
    );
  }
  const now = env.now;
  const rt = actors.find((a) => a.id === RUNTIME_ID)?.inspect;
  const busy =
    isRecord(rt) && isRecord(rt.busy) && typeof rt.busy[w.uid] === 'string' ? (rt.busy[w.uid] as string) : null;
  const statuses = env.view(POD_STATUSES_VIEW);
  const status = statuses instanceof Map ? statuses.get(w.uid) : undefined;
  const cs = containerLines(status);
  return {
    at: now,
    uid: w.uid,
    pod: w.pod,
    state: w.state,
    seq: w.seq,
    inFlight: w.inFlight,
    pending: w.pending,
    nextSyncAt: w.nextSyncAt,
    nextSyncInMs: typeof w.nextSyncAt === 'number' ? w.nextSyncAt - now : null,
    lastSyncError: w.lastSyncError,
    runtime: { busy },
    phase: cs?.phase ?? null,
    containers: cs?.containers ?? [],
    // crash-loop and image-pull backoff per container: delay and next retry
    backoff: backoffLines(rt, w.uid, now),
    history: w.history,
  };
}

export const podCommand: DebugCommand = {
  arg: {
    field: 'pod',
    help: 'a pod uid or namespace/name, e.g. {"cmd":"pod","pod":"default/web"} or "pod default/web"',
  },
  answer: (query, env) => podAnswer(query ?? '', env),
};
