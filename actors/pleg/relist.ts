/**
 * The PLEG's pure half: group one relist (ListPodSandbox + ListContainers, all states) by pod,
 * and diff it against the previous relist with upstream's generic PLEG rules
 * (pkg/kubelet/pleg/generic.go generateEvents).
 *
 * Per container (sandboxes count as containers, flagged `sandbox: true`), old state → new state:
 *
 *   old \ new      running   exited   unknown   non-existent
 *   non-existent   Started   Died     Changed   -
 *   running        -         Died     Changed   Died, Removed
 *   exited         Started   -        Changed   Removed
 *   unknown        Started   Died     -         Died, Removed
 *
 * States: CRI RUNNING → running, EXITED → exited, CREATED and UNKNOWN → unknown (upstream:
 * "kubelet doesn't use the created state yet"); sandbox READY → running, NOTREADY → exited
 * (upstream's SandboxToContainerState).
 *
 * Upstream drops ContainerChanged before sending ("not reliable and no other components use
 * yet"); kubelet-ts sends it, as `pleg.containerChanged`, because a container stuck in CREATED
 * (a failed start) is worth a sync of its pod.
 *
 * Go iterates maps at random; here events are ordered by pod uid, then container id, and for one
 * container Died comes before Removed.
 */
import type { Container, ContainerState, PodSandbox, PodSandboxState } from '../../protocols/cri/types.ts';
import type { PlegEvent, RuntimePodSummary, RuntimePods } from '../../protocols/messages/pleg.ts';

import {
  ANNOTATION_POD_TERMINATION_GRACE_PERIOD,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
} from '../../protocols/cri/labels.ts';

export type PlegState = 'running' | 'exited' | 'unknown' | 'non-existent';

export interface PodRecord {
  uid: string;
  name: string;
  namespace: string;
  gracePeriodSeconds?: number;
  /** id → state, for sandboxes and containers separately. */
  sandboxes: ReadonlyMap<string, PlegState>;
  containers: ReadonlyMap<string, PlegState>;
}

/** One relist, by pod uid. */
export type PodRecords = ReadonlyMap<string, PodRecord>;

export function convertContainerState(s: ContainerState): PlegState {
  switch (s) {
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    case 'CONTAINER_CREATED':
    case 'CONTAINER_UNKNOWN':
      return 'unknown';
  }
}

export function convertSandboxState(s: PodSandboxState): PlegState {
  return s === 'SANDBOX_READY' ? 'running' : 'exited';
}

function parseGrace(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

interface MutablePod {
  uid: string;
  name: string;
  namespace: string;
  gracePeriodSeconds?: number;
  sandboxes: Map<string, PlegState>;
  containers: Map<string, PlegState>;
}

/**
 * Group a relist by pod (upstream GetPods(all=true)): sandboxes and containers by the
 * `io.kubernetes.pod.uid` label (a sandbox falls back to its metadata uid, which upstream uses).
 * Objects with no pod uid were not created by a kubelet (e.g. `ctr run` in the k8s.io
 * namespace) and are left out.
 */
export function groupByPod(sandboxes: readonly PodSandbox[], containers: readonly Container[]): PodRecords {
  const pods = new Map<string, MutablePod>();
  const pod = (uid: string): MutablePod => {
    let p = pods.get(uid);
    if (!p) {
      p = { uid, name: '', namespace: '', sandboxes: new Map(), containers: new Map() };
      pods.set(uid, p);
    }
    return p;
  };
  for (const s of sandboxes) {
    const uid = s.labels?.[LABEL_POD_UID] || s.metadata?.uid || '';
    if (!uid) continue;
    const p = pod(uid);
    p.name ||= s.metadata?.name || s.labels?.[LABEL_POD_NAME] || '';
    p.namespace ||= s.metadata?.namespace || s.labels?.[LABEL_POD_NAMESPACE] || '';
    p.sandboxes.set(s.id, convertSandboxState(s.state));
  }
  for (const c of containers) {
    const uid = c.labels?.[LABEL_POD_UID] || '';
    if (!uid) continue;
    const p = pod(uid);
    p.name ||= c.labels?.[LABEL_POD_NAME] || '';
    p.namespace ||= c.labels?.[LABEL_POD_NAMESPACE] || '';
    p.gracePeriodSeconds ??= parseGrace(c.annotations?.[ANNOTATION_POD_TERMINATION_GRACE_PERIOD]);
    p.containers.set(c.id, convertContainerState(c.state));
  }
  for (const p of pods.values()) {
    if (p.gracePeriodSeconds === undefined) delete p.gracePeriodSeconds;
  }
  return pods;
}

/** Upstream generateEvents for one container. */
export function generateEvents(
  podUid: string,
  containerId: string,
  sandbox: boolean,
  oldState: PlegState,
  newState: PlegState,
): PlegEvent[] {
  if (oldState === newState) return [];
  const ev = (type: PlegEvent['type']): PlegEvent => ({ type, podUid, containerId, sandbox });
  switch (newState) {
    case 'running':
      return [ev('pleg.containerStarted')];
    case 'exited':
      return [ev('pleg.containerDied')];
    case 'unknown':
      return [ev('pleg.containerChanged')];
    case 'non-existent':
      // An exited container already had its Died event.
      return oldState === 'exited'
        ? [ev('pleg.containerRemoved')]
        : [ev('pleg.containerDied'), ev('pleg.containerRemoved')];
  }
}

function stateOf(p: PodRecord | undefined, id: string): { state: PlegState; sandbox: boolean } | undefined {
  if (!p) return undefined;
  const c = p.containers.get(id);
  if (c !== undefined) return { state: c, sandbox: false };
  const s = p.sandboxes.get(id);
  if (s !== undefined) return { state: s, sandbox: true };
  return undefined;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The events between two relists, in deterministic order (pod uid, then id). An empty `prev`
 * (the first relist after a (re)start) reports every running container as started and every
 * exited one as died, as upstream does: the old state of everything is non-existent.
 */
export function computeEvents(prev: PodRecords, next: PodRecords): PlegEvent[] {
  const uids = [...new Set([...prev.keys(), ...next.keys()])].sort(byString);
  const out: PlegEvent[] = [];
  for (const uid of uids) {
    const o = prev.get(uid);
    const n = next.get(uid);
    const ids = new Set<string>();
    for (const p of [o, n]) {
      if (!p) continue;
      for (const id of p.containers.keys()) ids.add(id);
      for (const id of p.sandboxes.keys()) ids.add(id);
    }
    for (const id of [...ids].sort(byString)) {
      const os = stateOf(o, id);
      const ns = stateOf(n, id);
      const sandbox = (ns ?? os)!.sandbox;
      out.push(...generateEvents(uid, id, sandbox, os?.state ?? 'non-existent', ns?.state ?? 'non-existent'));
    }
  }
  return out;
}

/** The `runtimePods` view of one relist: every pod with at least one sandbox or container. */
export function toRuntimePods(records: PodRecords): RuntimePods {
  const out = new Map<string, RuntimePodSummary>();
  for (const uid of [...records.keys()].sort(byString)) {
    const p = records.get(uid)!;
    const summary: RuntimePodSummary = {
      uid,
      name: p.name,
      namespace: p.namespace,
      sandboxIds: [...p.sandboxes.keys()].sort(byString),
      containerIds: [...p.containers.keys()].sort(byString),
    };
    if (p.gracePeriodSeconds !== undefined) summary.gracePeriodSeconds = p.gracePeriodSeconds;
    out.set(uid, summary);
  }
  return out;
}

/** Structural equality of two runtimePods views (publish only on change). */
export function sameRuntimePods(a: RuntimePods | undefined, b: RuntimePods): boolean {
  if (!a || a.size !== b.size) return false;
  for (const [uid, x] of b) {
    const y = a.get(uid);
    if (!y || y.name !== x.name || y.namespace !== x.namespace || y.gracePeriodSeconds !== x.gracePeriodSeconds)
      return false;
    if (y.sandboxIds.join(',') !== x.sandboxIds.join(',') || y.containerIds.join(',') !== x.containerIds.join(','))
      return false;
  }
  return true;
}

/** Go's time.Duration.String for whole milliseconds (`0s`, `250ms`, `3m0s`, `3m1.5s`), for upstream's messages. */
export function goDuration(ms: number): string {
  ms = Math.max(0, Math.trunc(ms));
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const frac = ms % 1000;
  const secs = frac ? `${s}.${String(frac).padStart(3, '0').replace(/0+$/, '')}s` : `${s}s`;
  return h ? `${h}h${m}m${secs}` : m ? `${m}m${secs}` : secs;
}
