/**
 * The volume plugin interface (upstream pkg/volume's VolumePlugin / Mounter / Unmounter, cut
 * down to what a kubelet without attach/detach needs), and the registry the volumeManager asks.
 *
 * A plugin is registered by adding it to volumePlugins below (or by passing a list in the
 * volumeManager's deps: `plugins`). For each volume of a pod the volumeManager takes the first
 * plugin whose `canSupport(volume)` is true, and:
 *
 * - `setUp(req, host)` makes the volume ready in `req.dir`
 *   (`<root-dir>/pods/<uid>/volumes/<escaped plugin name>/<volume name>`, escaped = `/` → `~`,
 *   as upstream: `kubernetes.io~empty-dir`), or wherever the volume lives (hostPath: the host's
 *   path), and answers the MountedVolume: the host path containers bind, whether it is read-only
 *   whatever the volumeMount says, whether the runtime relabels it, and for the eviction manager
 *   the medium and size limit. It throws an Error whose message is upstream's cause
 *   (`hostPath type check failed: /x is not a directory`); the volumeManager records
 *   `FailedMount` "MountVolume.SetUp failed for volume "v" : <message>" and retries with
 *   exponential backoff (500 ms doubling to 2 min 2 s, upstream's). It must be idempotent: it is
 *   called again after a failure, after a kubelet restart (the directory may hold what an earlier
 *   kubelet made, a tmpfs may still be mounted), and every `remountPeriodMs`.
 * - `tearDown(req, host)` undoes it once the pod is terminated or gone; what is left under
 *   `req.dir` (and the directory itself) is removed by the volumeManager afterwards, never across
 *   a mount point and never through a symlink. Idempotent too.
 * - `remountPeriodMs` (optional): data volumes (configMap, secret, downwardAPI, projected) whose
 *   content follows the API set it (upstream's RequiresRemount plus the sync period); the
 *   volumeManager then calls `setUp` again on a mounted volume that often, which rewrites the
 *   content (with the atomic writer: the update is one rename) and answers the same path.
 *
 * Plugins do their effects through `host` only (VolumeHost: the recorded port of the node's file
 * system and mounts), never node:fs directly, so a recording holds every volume decision and a
 * replay answers them: a plugin that needs more (an API read, the atomic writer) adds a port to
 * VolumeHost rather than importing one.
 */
import type { ConfigDataPort } from '../../../protocols/kube/config-data.ts';
import type { Pod, Volume } from '../../../protocols/kube/pod.ts';
import type { VolumeFs } from '../adapters.ts';
import { dataVolumePlugins } from './data.ts';
import { emptyDirPlugin } from './empty-dir.ts';
import { hostPathPlugin } from './host-path.ts';

/** What a plugin is asked to set up or tear down. */
export interface VolumeRequest {
  pod: Pod;
  volume: Volume;
  /** `<root-dir>/pods/<uid>/volumes/<escaped plugin name>/<volume name>`. */
  dir: string;
}

/** The volume as set up: what the runtime mounts and the view shows. */
export interface MountedVolume {
  /** The host path containers bind (`dir`, or the hostPath's path). */
  path: string;
  /** Read-only whatever the volumeMount says (a secret, a configMap: upstream mounts them read-only). */
  readOnly?: boolean;
  /** The runtime relabels it for SELinux (upstream's GetAttributes().SELinuxRelabel). */
  selinuxRelabel: boolean;
  /** emptyDir: '' (node disk) or 'Memory' (tmpfs). */
  medium?: '' | 'Memory';
  /** emptyDir.sizeLimit in bytes (the tmpfs size for Memory), for the eviction manager. */
  sizeLimitBytes?: number;
}

/** The node, as plugins may touch it. */
export interface VolumeHost {
  /** --root-dir. */
  rootDir: string;
  /** The node's allocatable memory (capacity without reservations), for a Memory emptyDir without limits. */
  nodeAllocatableMemoryBytes?: number;
  fs: VolumeFs;
  /**
   * ConfigMaps, Secrets and service account tokens for the data volumes (the kubelet's managers,
   * recorded as `configData` reads); absent standalone, where such a volume fails naming that.
   */
  configData?: ConfigDataPort;
}

export interface VolumePlugin {
  /** upstream's plugin name, e.g. `kubernetes.io/empty-dir`. */
  readonly name: string;
  canSupport(volume: Volume): boolean;
  setUp(req: VolumeRequest, host: VolumeHost): Promise<MountedVolume>;
  tearDown(req: VolumeRequest, host: VolumeHost): Promise<void>;
  remountPeriodMs?: number;
}

/**
 * The plugins kubelet-ts mounts with, first match wins; the data volumes (plugins/data.ts)
 * refreshed every `remountPeriodMs` (default upstream's sync period, 1 min).
 */
export function volumePlugins(remountPeriodMs?: number): VolumePlugin[] {
  return [emptyDirPlugin, hostPathPlugin, ...dataVolumePlugins(remountPeriodMs)];
}

/** upstream EscapeQualifiedName: `kubernetes.io/empty-dir` → `kubernetes.io~empty-dir`. */
export const escapePluginName = (name: string) => name.replaceAll('/', '~');

/** upstream's volume directory of a plugin's volume. */
export function volumeDir(rootDir: string, uid: string, plugin: string, volumeName: string): string {
  return `${rootDir}/pods/${uid}/volumes/${escapePluginName(plugin)}/${volumeName}`;
}

/** The plugin for `volume`: the first that supports it. */
export function findPlugin(plugins: readonly VolumePlugin[], volume: Volume): VolumePlugin | undefined {
  return plugins.find((p) => p.canSupport(volume));
}
