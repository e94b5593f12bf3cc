/**
 * pod-source-http's pure core: fold one fetch of the manifest URL into the state and say what to
 * emit (upstream pkg/kubelet/config/http.go, a SET from the http source into PodConfig).
 *
 *   state ──fetched(outcome)──▶ state' + [sourceError | podsRemoved, podsAdded, podsUpdated] + [sourcesReady?] + log lines
 *
 * - A 200 whose body is a Pod or a v1 PodList (YAML or JSON; protocols/kube/manifest.ts makes
 *   them static pods: name `<name>-<node>`, UID hashed from the content and the URL) is the new
 *   complete set, diffed by UID against what was emitted. A pod unchanged but for its
 *   `kubernetes.io/config.seen` is no update, and an updated pod keeps its first-seen time.
 * - Anything else is refused as a whole — a failed request, a status other than 200, a body that
 *   does not parse, an invalid pod or a duplicate in a list — and the last good set stays.
 *   Upstream drops an invalid pod and empties the set on a zero-length body; keeping the last good
 *   set is the same deliberate deviation the file source makes: a botched edit on the server, or
 *   a truncated answer, must not kill the pods.
 * - Each refusal text is reported (`config.sourceError` + log) once, and again only when it
 *   changes; the first good fetch after one logs the recovery.
 * - `config.sourcesReady` goes out after the first good fetch, and also after a zero-length body,
 *   which upstream counts as the source seen (a server that serves nothing does not hold back
 *   the kubelet's housekeeping).
 */
import {
  keepFirstSeen,
  parseManifestDocument,
  staticPodContent,
  staticPodsFromDocument,
} from '../../protocols/kube/manifest.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { CONFIG_SEEN_ANNOTATION } from '../../protocols/kube/static-pod.ts';
import type { ConfigEvent } from '../../protocols/messages/config.ts';

export interface HttpSourceState {
  /** What pod-manager has from us: UID → pod. */
  readonly emitted: ReadonlyMap<string, Pod>;
  /** The refusal text last reported, until a good fetch. */
  readonly reported: string | undefined;
  readonly ready: boolean;
}

export type FetchOutcome =
  | { kind: 'response'; status: number; statusText: string; body: string }
  | { kind: 'failed'; reason: string };

export interface LogLine {
  level: 'info' | 'error';
  /** klog-style verbosity for info lines. */
  v?: number;
  msg: string;
  fields: Record<string, unknown>;
}

export interface FetchedResult {
  state: HttpSourceState;
  out: ConfigEvent[];
  logs: LogLine[];
}

export interface FetchContext {
  url: string;
  nodeName: string;
  /** Clock ms, for kubernetes.io/config.seen. */
  now: number;
}

export function initialState(): HttpSourceState {
  return { emitted: new Map(), reported: undefined, ready: false };
}

/** After a restart: the http pods pod-manager holds count as emitted. */
export function adopt(state: HttpSourceState, pods: Iterable<Pod>): HttpSourceState {
  const emitted = new Map(state.emitted);
  for (const p of pods) emitted.set(p.metadata.uid, p);
  return { ...state, emitted };
}

type Refusal = { field?: string; reason: string; seen?: boolean };

/** The pods a response carries, or why it is refused. */
function read(outcome: FetchOutcome, ctx: FetchContext): { pods: Pod[] } | Refusal {
  if (outcome.kind === 'failed') return { reason: `cannot fetch: ${outcome.reason}` };
  if (outcome.status !== 200)
    return { reason: `HTTP ${outcome.status}${outcome.statusText ? ` ${outcome.statusText}` : ''}: expected 200 OK` };
  const doc = parseManifestDocument(outcome.body, 'body');
  if (doc.kind === 'empty') return { reason: 'zero-length body: expected a Pod or a v1 PodList', seen: true };
  if (doc.kind === 'error') return { reason: doc.reason };
  return staticPodsFromDocument(doc, { nodeName: ctx.nodeName, source: 'http', path: ctx.url, now: ctx.now });
}

const names = (ps: Pod[]) => ps.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);

/** Fold one fetch into the state. Pure. */
export function fetched(state: HttpSourceState, outcome: FetchOutcome, ctx: FetchContext): FetchedResult {
  const r = read(outcome, ctx);
  const out: ConfigEvent[] = [];
  const logs: LogLine[] = [];

  if (!('pods' in r)) {
    const text = `${r.field ?? ''}\0${r.reason}`;
    let reported = state.reported;
    if (reported !== text) {
      reported = text;
      out.push({
        type: 'config.sourceError',
        source: 'http',
        path: ctx.url,
        ...(r.field ? { field: r.field } : {}),
        reason: r.reason,
      });
      logs.push({
        level: 'error',
        msg: `manifest URL ${ctx.url}: ${r.reason} (keeping the last good set of ${state.emitted.size} pod${state.emitted.size === 1 ? '' : 's'})`,
        fields: { url: ctx.url, ...(r.field ? { field: r.field } : {}), reason: r.reason },
      });
    }
    const ready = state.ready || r.seen === true;
    if (ready && !state.ready) out.push({ type: 'config.sourcesReady', source: 'http' });
    return { state: { ...state, reported, ready }, out, logs };
  }

  if (state.reported !== undefined)
    logs.push({ level: 'info', msg: `manifest URL ${ctx.url}: valid again`, fields: { url: ctx.url } });
  const next = new Map<string, Pod>();
  const added: Pod[] = [];
  const updated: Pod[] = [];
  for (const pod of r.pods) {
    const old = state.emitted.get(pod.metadata.uid);
    if (!old) {
      added.push(pod);
      next.set(pod.metadata.uid, pod);
    } else if (staticPodContent(old) === staticPodContent(pod)) {
      next.set(pod.metadata.uid, old);
    } else {
      const p = keepFirstSeen(pod, old.metadata.annotations?.[CONFIG_SEEN_ANNOTATION]);
      updated.push(p);
      next.set(pod.metadata.uid, p);
    }
  }
  const removed = [...state.emitted].filter(([uid]) => !next.has(uid)).map(([, p]) => p);

  if (removed.length) {
    out.push({ type: 'config.podsRemoved', source: 'http', pods: removed });
    logs.push({
      level: 'info',
      v: 2,
      msg: 'manifest URL pods removed',
      fields: { url: ctx.url, pods: names(removed) },
    });
  }
  if (added.length) {
    out.push({ type: 'config.podsAdded', source: 'http', pods: added });
    logs.push({ level: 'info', v: 2, msg: 'manifest URL pods added', fields: { url: ctx.url, pods: names(added) } });
  }
  if (updated.length) {
    out.push({ type: 'config.podsUpdated', source: 'http', pods: updated });
    logs.push({
      level: 'info',
      v: 2,
      msg: 'manifest URL pods updated',
      fields: { url: ctx.url, pods: names(updated) },
    });
  }
  if (!state.ready) out.push({ type: 'config.sourcesReady', source: 'http' });
  return { state: { emitted: next, reported: undefined, ready: true }, out, logs };
}
