/**
 * pod-config's pure core: fold one relist of the static pod directory into the state and say
 * what to emit (upstream PodConfig's merge for a SET from the file source, incremental mode).
 *
 *   state ──relist(listing)──▶ state' + [sourceError…, podsRemoved, podsAdded, podsUpdated, sourcesReady?] + log lines
 *
 * Rules, in the order they apply:
 * 1. A good file replaces its path's last good pod. A refused file (bad YAML, schema, validation,
 *    size, symlink escape) keeps its path's last good pod — a deliberate deviation from upstream,
 *    which drops it: a botched edit of a control-plane manifest must not kill the control plane.
 *    A path that is no longer listed (deleted, or now a directory) loses its pod.
 * 2. Paths are taken in sorted order; a second pod with the same namespace/name (or UID) is a
 *    duplicate: refused and reported, the first one stays (upstream filterInvalidPods).
 * 3. The set is diffed by UID against what was emitted. A pod whose content is unchanged except
 *    for `kubernetes.io/config.seen` is not an update, and an updated pod keeps its first-seen
 *    time (upstream checkAndUpdatePod). For a file pod the UID hashes the content, so an edit is
 *    normally a remove plus an add; an update only happens when the manifest pins `metadata.uid`.
 * 4. Each error text is reported (message + log) once, and again only when it changes. A
 *    `pending` file (refused by a provisional read, maybe half-written) is treated as refused but
 *    reported nothing: the authoritative read after the quiet period decides.
 * 5. `config.sourcesReady` goes out after the first listing that produced a set (a missing path
 *    counts, an unreadable one does not), as upstream marks the file source seen.
 *
 * A restarted pod-config adopts the file pods pod-manager already holds (`adopt`), so it diffs
 * against them instead of re-adding them. Their paths are unknown until a file claims their UID;
 * while any file is refused, unclaimed adopted pods are kept (it may be theirs, broken), and they
 * are removed once every file reads cleanly.
 */
import type { ConfigEvent, ConfigSourceError } from '../../protocols/messages/config.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { keepFirstSeen, staticPodContent } from '../../protocols/kube/manifest.ts';
import { CONFIG_SEEN_ANNOTATION } from '../../protocols/kube/static-pod.ts';
import type { Listing } from './source-file.ts';

export interface EmittedPod {
  pod: Pod;
  /** The manifest it came from; undefined for a pod adopted after a restart and not yet claimed. */
  path: string | undefined;
}

export interface PodConfigState {
  /** Last good pod per manifest path. */
  readonly lastGood: ReadonlyMap<string, Pod>;
  /** Text last reported per report key (`file:<path>`, `dup:<path>`, `dir`), for report-once. */
  readonly reported: ReadonlyMap<string, string>;
  /** What pod-manager has from us: UID → pod. */
  readonly emitted: ReadonlyMap<string, EmittedPod>;
  /** Whether sourcesReady went out. */
  readonly ready: boolean;
}

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  /** klog-style verbosity for info lines. */
  v?: number;
  msg: string;
  fields: Record<string, unknown>;
}

export interface RelistOutcome {
  state: PodConfigState;
  out: ConfigEvent[];
  logs: LogLine[];
}

export function initialState(): PodConfigState {
  return { lastGood: new Map(), reported: new Map(), emitted: new Map(), ready: false };
}

/** After a restart: take the file pods pod-manager holds as already emitted. */
export function adopt(state: PodConfigState, pods: Iterable<Pod>): PodConfigState {
  const emitted = new Map(state.emitted);
  for (const pod of pods) if (!emitted.has(pod.metadata.uid)) emitted.set(pod.metadata.uid, { pod, path: undefined });
  return { ...state, emitted };
}

const podKey = (p: Pod) => `${p.metadata.namespace}/${p.metadata.name}`;

class Reporter {
  readonly reported: Map<string, string>;
  readonly touched = new Set<string>();
  readonly out: ConfigSourceError[] = [];
  readonly logs: LogLine[] = [];
  constructor(prev: ReadonlyMap<string, string>) {
    this.reported = new Map(prev);
  }

  /** Report under `key` unless the same text was reported last time. */
  report(
    key: string,
    e: Omit<ConfigSourceError, 'type' | 'source'>,
    log: Omit<LogLine, 'fields'> & { fields?: Record<string, unknown> },
    send = true,
  ): void {
    this.touched.add(key);
    const text = `${e.field ?? ''}\0${e.reason}`;
    if (this.reported.get(key) === text) return;
    this.reported.set(key, text);
    if (send) this.out.push({ type: 'config.sourceError', source: 'file', ...e });
    this.logs.push({
      ...log,
      fields: { path: e.path, ...(e.field ? { field: e.field } : {}), reason: e.reason, ...(log.fields ?? {}) },
    });
  }

  /** Leave `key` as it was reported (or not) and do not count it as recovered. */
  keep(key: string): void {
    this.touched.add(key);
  }

  /** Forget keys with the given prefix that were not reported this round, logging the recovery. */
  settle(prefix: string, recovered: (key: string) => LogLine | undefined): void {
    for (const key of [...this.reported.keys()]) {
      if (!key.startsWith(prefix) || this.touched.has(key)) continue;
      this.reported.delete(key);
      const line = recovered(key);
      if (line) this.logs.push(line);
    }
  }
}

/** Fold one listing of `manifestPath` into the state. Pure. */
export function relist(state: PodConfigState, listing: Listing, manifestPath: string): RelistOutcome {
  const rep = new Reporter(state.reported);

  if (listing.kind === 'unreadable') {
    rep.report(
      'dir',
      { path: manifestPath, reason: listing.reason },
      { level: 'error', msg: `static pod path ${manifestPath}: ${listing.reason}` },
    );
    return { state: { ...state, reported: rep.reported }, out: rep.out, logs: rep.logs };
  }

  // 1. last good pod per path
  const lastGood = new Map<string, Pod>();
  let refused = false;
  if (listing.kind === 'missing') {
    rep.report(
      'dir',
      { path: manifestPath, reason: listing.reason },
      { level: 'warn', msg: `static pod path ${manifestPath}: ${listing.reason}` },
      false,
    );
  } else {
    for (const r of listing.results) {
      const key = `file:${r.path}`;
      if (r.kind === 'pod') {
        lastGood.set(r.path, r.pod);
      } else if (r.kind === 'pending') {
        // Maybe half-written: as refused, but nothing reported (an earlier report stands).
        refused = true;
        const prev = state.lastGood.get(r.path);
        if (prev) lastGood.set(r.path, prev);
        rep.keep(key);
      } else if (r.kind === 'error') {
        refused = true;
        const prev = state.lastGood.get(r.path);
        if (prev) lastGood.set(r.path, prev);
        rep.report(
          key,
          { path: r.path, ...(r.field ? { field: r.field } : {}), reason: r.reason },
          {
            level: 'error',
            msg: `static pod ${r.path}: ${r.reason}${prev ? ` (keeping the last good spec of ${podKey(prev)})` : ''}`,
          },
        );
      } else {
        rep.report(
          key,
          { path: r.path, reason: r.reason },
          r.warn
            ? { level: 'warn', msg: `static pod ${r.path}: ${r.reason}` }
            : { level: 'info', v: 4, msg: `static pod ${r.path}: ${r.reason}` },
          r.warn,
        );
      }
    }
  }
  rep.settle('file:', (key) =>
    lastGood.has(key.slice(5))
      ? { level: 'info', msg: `static pod ${key.slice(5)}: valid again`, fields: { path: key.slice(5) } }
      : undefined,
  );
  rep.settle('dir', () => ({
    level: 'info',
    msg: `static pod path ${manifestPath}: readable again`,
    fields: { path: manifestPath },
  }));

  // 2. duplicates, first path wins
  const next = new Map<string, EmittedPod>();
  const byName = new Map<string, string>();
  for (const [path, pod] of [...lastGood].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const name = podKey(pod);
    const first = byName.get(name) ?? (next.has(pod.metadata.uid) ? next.get(pod.metadata.uid)!.path : undefined);
    if (first !== undefined) {
      const what = byName.has(name)
        ? `duplicate pod name ${JSON.stringify(pod.metadata.name)} in namespace ${JSON.stringify(pod.metadata.namespace)}`
        : `duplicate pod UID ${pod.metadata.uid}`;
      rep.report(
        `dup:${path}`,
        {
          path,
          field: byName.has(name) ? 'metadata.name' : 'metadata.uid',
          reason: `${what}: already defined by ${first}, ignoring this file`,
        },
        {
          level: 'error',
          msg: `static pod ${path}: ${what}: already defined by ${first}, ignoring this file`,
        },
      );
      continue;
    }
    byName.set(name, path);
    next.set(pod.metadata.uid, { pod, path });
  }
  rep.settle('dup:', () => undefined);

  // Adopted pods nobody claimed: kept while some file is refused (it may be theirs).
  for (const [uid, e] of state.emitted) {
    if (e.path === undefined && !next.has(uid) && refused) next.set(uid, e);
  }

  // 3. diff by UID
  const added: Pod[] = [];
  const updated: Pod[] = [];
  const removed: Pod[] = [];
  for (const [uid, e] of next) {
    const old = state.emitted.get(uid);
    if (!old) {
      added.push(e.pod);
      continue;
    }
    if (staticPodContent(old.pod) === staticPodContent(e.pod)) {
      next.set(uid, { pod: old.pod, path: e.path });
    } else {
      const pod = keepFirstSeen(e.pod, old.pod.metadata.annotations?.[CONFIG_SEEN_ANNOTATION]);
      next.set(uid, { pod, path: e.path });
      updated.push(pod);
    }
  }
  for (const [uid, e] of state.emitted) if (!next.has(uid)) removed.push(e.pod);

  const out: ConfigEvent[] = [...rep.out];
  const logs = [...rep.logs];
  const names = (ps: Pod[]) => ps.map(podKey);
  if (removed.length) {
    out.push({ type: 'config.podsRemoved', source: 'file', pods: removed });
    logs.push({ level: 'info', v: 2, msg: 'static pods removed', fields: { pods: names(removed) } });
  }
  if (added.length) {
    out.push({ type: 'config.podsAdded', source: 'file', pods: added });
    logs.push({ level: 'info', v: 2, msg: 'static pods added', fields: { pods: names(added) } });
  }
  if (updated.length) {
    out.push({ type: 'config.podsUpdated', source: 'file', pods: updated });
    logs.push({ level: 'info', v: 2, msg: 'static pods updated', fields: { pods: names(updated) } });
  }
  if (!state.ready) out.push({ type: 'config.sourcesReady', source: 'file' });

  return { state: { lastGood, reported: rep.reported, emitted: next, ready: true }, out, logs };
}
