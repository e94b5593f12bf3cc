/**
 * View `podVolumes`: the volumeManager's actual state of world, uid → the pod's volumes as set
 * up on the node. Written only by the volumeManager (actors/volumes) after every operation.
 * Readers: the runtime, which waits until `ready` before it creates a pod's sandbox and
 * containers (upstream WaitForAttachAndMount, 2 min) and binds `path` for each volumeMount; the
 * eviction manager to come (`sizeLimitBytes`, `medium`).
 */
export interface PodVolume {
  name: string;
  /** The plugin's upstream name (`kubernetes.io/empty-dir`). */
  plugin: string;
  /**
   * mounted: ready for containers; failed: the last setUp failed (`error`), retried with backoff;
   * pending: not set up yet; unsupported: no plugin mounts this source (the pod is refused by the
   * field table, protocols/kube/fields.ts, so nothing waits for it).
   */
  state: 'mounted' | 'failed' | 'pending' | 'unsupported';
  /** The host path containers bind (mounted). */
  path?: string;
  readOnly?: boolean;
  selinuxRelabel?: boolean;
  medium?: '' | 'Memory';
  sizeLimitBytes?: number;
  error?: string;
}

export interface PodVolumes {
  uid: string;
  /** `<root-dir>/pods/<uid>`: subPath binds go below it (volume-subpaths/). */
  podDir: string;
  /** Every volume of the pod's current spec that a plugin mounts is mounted (the spec's volumes, by name and source). */
  ready: boolean;
  /** The spec the volumes were set up for, as JSON of `spec.volumes`: `ready` is for that spec only. */
  specKey: string;
  volumes: PodVolume[];
}

export type PodVolumesView = ReadonlyMap<string, PodVolumes>;

/** The key of a spec's volumes in PodVolumes.specKey. */
export const volumesSpecKey = (volumes: readonly unknown[] | undefined): string => JSON.stringify(volumes ?? []);

/** The view says every volume of this spec of the pod is mounted. */
export function volumesReady(
  view: PodVolumesView | undefined,
  uid: string,
  volumes: readonly unknown[] | undefined,
): boolean {
  const v = view?.get(uid);
  return v !== undefined && v.ready && v.specKey === volumesSpecKey(volumes);
}

/**
 * upstream WaitForAttachAndMount's error once its 2 min are over, as the FailedMount event and
 * the waiting containers' message say it: the volumes of the spec not mounted, sorted.
 */
export function unmountedVolumesMessage(
  view: PodVolumesView | undefined,
  uid: string,
  volumes: readonly { name: string }[] | undefined,
): string {
  const v = view?.get(uid);
  const mounted = new Set(
    v && v.specKey === volumesSpecKey(volumes) ? v.volumes.filter((x) => x.state === 'mounted').map((x) => x.name) : [],
  );
  const unmounted = (volumes ?? [])
    .map((x) => x.name)
    .filter((n) => !mounted.has(n))
    .sort();
  return `Unable to attach or mount volumes: unmounted volumes=[${unmounted.join(' ')}], unattached volumes=[], failed to process volumes=[]: context deadline exceeded`;
}
