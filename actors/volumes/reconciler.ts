/**
 * The volumeManager's pure logic (upstream pkg/kubelet/volumemanager): the desired state of world
 * from the pods, the actual state of world as set up on the node, and `reconcile`, which says the
 * next operations. No effects, no clock: `now` is an argument.
 *
 * One volume of one pod, keyed `<uid>/<name>`, moves through:
 *
 *   (absent) --setUp ok--> mounted --tearDown--> (absent)
 *   (absent) --setUp failed--> failed --retryAt reached: setUp--> mounted | failed (backoff doubled)
 *   mounted  --remountPeriodMs elapsed: setUp again--> mounted | failed
 *   mounted | failed --source changed in the spec--> tearDown, then setUp of the new source
 *
 * Desired: every volume of a desired, admitted pod whose worker is not terminated (upstream's
 * desired state populator drops terminated pods: their containers are stopped, the volumes go).
 * A pod directory goes (`cleanupPodDir`) once its pod is neither desired nor has a worker that
 * is not terminated, and none of its volumes is still set up. Orphaned directories found at start
 * (upstream cleanupOrphanedPodDirs) are cleaned the same way once the pod sources are ready and no
 * container of that pod runs.
 */
import type { Pod, Volume } from '../../protocols/kube/pod.ts';
import type {
  DesiredPods,
  PodVolume,
  PodVolumes,
  PodVolumesView,
  PodWorkerStates,
} from '../../protocols/messages/channels.ts';
import { volumesSpecKey } from '../../protocols/messages/volumes.ts';

export interface DesiredVolume {
  key: string;
  uid: string;
  pod: Pod;
  volume: Volume;
  /** The plugin's name; undefined when no plugin supports the volume (it stays unmounted). */
  plugin?: string;
  /** JSON of the volume: a change of source is a different volume. */
  specKey: string;
  remountPeriodMs?: number;
}

export interface ActualVolume {
  key: string;
  uid: string;
  name: string;
  plugin: string;
  specKey: string;
  /** What the view shows (state, path, error). */
  view: PodVolume;
  /** The volume as the plugin was last asked to set it up (what tearDown is asked with). */
  pod: Pod;
  volume: Volume;
  failures: number;
  retryAt?: number;
  setUpAt?: number;
}

export type VolumeOp =
  | { type: 'setUp'; key: string }
  | { type: 'tearDown'; key: string }
  | { type: 'cleanupPodDir'; uid: string };

/** upstream nestedpendingoperations' exponential backoff: 500 ms doubling to 2 min 2 s. */
export const INITIAL_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 122_000;

export function backoffMs(failures: number): number {
  return Math.min(INITIAL_BACKOFF_MS * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
}

/** True when a worker may still run containers of the pod (upstream CouldHaveRunningContainers). */
function workerLive(workers: PodWorkerStates | undefined, uid: string): boolean {
  const w = workers?.get(uid);
  return w !== undefined && w.state !== 'terminated';
}

/** The desired state of world: every volume the pods want mounted now. */
export function desiredStateOfWorld(
  pods: DesiredPods | undefined,
  workers: PodWorkerStates | undefined,
  pluginFor: (v: Volume) => { name: string; remountPeriodMs?: number } | undefined,
): Map<string, DesiredVolume> {
  const out = new Map<string, DesiredVolume>();
  for (const [uid, d] of pods ?? []) {
    if (d.rejected) continue;
    if (workers?.get(uid)?.state === 'terminated') continue;
    for (const volume of d.pod.spec.volumes ?? []) {
      const p = pluginFor(volume);
      const key = `${uid}/${volume.name}`;
      out.set(key, {
        key,
        uid,
        pod: d.pod,
        volume,
        plugin: p?.name,
        specKey: JSON.stringify(volume),
        remountPeriodMs: p?.remountPeriodMs,
      });
    }
  }
  return out;
}

export interface ReconcileInput {
  desired: ReadonlyMap<string, DesiredVolume>;
  actual: ReadonlyMap<string, ActualVolume>;
  /** Pod directories the volumeManager made or found, by uid. */
  podDirs: ReadonlySet<string>;
  pods: DesiredPods | undefined;
  workers: PodWorkerStates | undefined;
  /** uids with a sandbox or container in the runtime (an orphan's directory waits until none). */
  running: ReadonlySet<string>;
  /** The pod sources have listed once: a directory of no desired pod is an orphan. */
  sourcesReady: boolean;
  now: number;
}

/**
 * The next operations, in order: tear down what is no longer desired (or changed), set up what
 * is desired and not mounted (failed ones once their backoff is over, mounted data volumes once
 * their remount period is over), then remove the directories of pods that are gone.
 */
export function reconcile(i: ReconcileInput): VolumeOp[] {
  const ops: VolumeOp[] = [];
  for (const [key, a] of i.actual) {
    const d = i.desired.get(key);
    if (!d || d.specKey !== a.specKey) ops.push({ type: 'tearDown', key });
  }
  for (const [key, d] of i.desired) {
    if (d.plugin === undefined) continue;
    const a = i.actual.get(key);
    if (!a || a.specKey !== d.specKey) {
      if (!a || ops.some((o) => o.type === 'tearDown' && o.key === key)) ops.push({ type: 'setUp', key });
      continue;
    }
    if (a.view.state === 'failed' && (a.retryAt ?? 0) <= i.now) ops.push({ type: 'setUp', key });
    else if (
      a.view.state === 'mounted' &&
      d.remountPeriodMs !== undefined &&
      (a.setUpAt ?? 0) + d.remountPeriodMs <= i.now
    )
      ops.push({ type: 'setUp', key });
  }
  for (const uid of i.podDirs) {
    if (i.pods?.has(uid) || workerLive(i.workers, uid) || i.running.has(uid)) continue;
    if (!i.sourcesReady && !i.workers?.has(uid)) continue;
    if ([...i.actual.values()].some((a) => a.uid === uid)) continue;
    ops.push({ type: 'cleanupPodDir', uid });
  }
  return ops;
}

/** When `reconcile` next has something to do by time alone (a retry, a remount), if ever. */
export function nextWakeAt(
  desired: ReadonlyMap<string, DesiredVolume>,
  actual: ReadonlyMap<string, ActualVolume>,
): number | undefined {
  let at: number | undefined;
  const min = (t: number) => {
    at = at === undefined ? t : Math.min(at, t);
  };
  for (const [key, a] of actual) {
    const d = desired.get(key);
    if (!d || d.specKey !== a.specKey) continue;
    if (a.view.state === 'failed' && a.retryAt !== undefined) min(a.retryAt);
    if (a.view.state === 'mounted' && d.remountPeriodMs !== undefined) min((a.setUpAt ?? 0) + d.remountPeriodMs);
  }
  return at;
}

/**
 * The `podVolumes` view: every desired, admitted pod with volumes (each volume as set up, pending,
 * or unsupported when no plugin mounts it; ready once every supported one is mounted for this
 * spec), then the pods whose volumes are still being torn down (never ready).
 */
export function podVolumesView(
  pods: DesiredPods | undefined,
  actual: ReadonlyMap<string, ActualVolume>,
  pluginName: (v: Volume) => string | undefined,
  podDir: (uid: string) => string,
): PodVolumesView {
  const view = new Map<string, PodVolumes>();
  for (const [uid, d] of pods ?? []) {
    const vols = d.pod.spec.volumes ?? [];
    if (d.rejected || vols.length === 0) continue;
    const volumes = vols.map((v): PodVolume => {
      const plugin = pluginName(v);
      if (plugin === undefined) return { name: v.name, plugin: '', state: 'unsupported' };
      const a = actual.get(`${uid}/${v.name}`);
      return a && a.specKey === JSON.stringify(v) ? a.view : { name: v.name, plugin, state: 'pending' };
    });
    const ready = volumes.every((v) => v.state === 'mounted' || v.state === 'unsupported');
    view.set(uid, { uid, podDir: podDir(uid), ready, specKey: volumesSpecKey(vols), volumes });
  }
  for (const a of actual.values()) {
    const v = view.get(a.uid) ?? { uid: a.uid, podDir: podDir(a.uid), ready: false, specKey: '', volumes: [] };
    if (!view.has(a.uid)) view.set(a.uid, v);
    if (v.specKey === '') v.volumes.push(a.view);
  }
  return view;
}
