/**
 * The data volumes (upstream pkg/volume/configmap, secret, downwardapi, projected): their files
 * come from the API (through the ConfigDataPort on VolumeHost) or from the pod itself (the
 * downward API), computed by adapters/volumes/projections.ts and written with the atomic writer
 * through VolumeFs (`writeAtomically`: one rename swaps `..data`, so a container never sees a
 * half-written file or a mix of two versions).
 *
 * As upstream, each wraps an emptyDir: configMap and downwardAPI on the node's disk, secret and
 * projected on a tmpfs mounted before anything is written (a Secret's bytes or a token never
 * reach the disk: the write is not attempted when the mount fails). The directory is world
 * traversable (0777, emptyDir's), the files get defaultMode (0644) or their item's mode, then
 * with fsGroup the group (SetVolumeOwnership). Containers mount them read-only.
 *
 * Every `remountPeriodMs` the volumeManager sets them up again, which reads the objects (and the
 * pod: labels and annotations of a downwardAPI volume) anew and rewrites the files when they
 * changed: upstream's sync-period refresh of mounted ConfigMaps and Secrets.
 */
import {
  downwardApiVolumeFiles,
  readVolumeFiles,
  type DownwardApiSource,
} from '../../../adapters/volumes/projections.ts';
import type { ConfigDataPort } from '../../../protocols/kube/config-data.ts';
import type { Volume } from '../../../protocols/kube/pod.ts';
import { emptyDirMemorySize } from './empty-dir.ts';
import type { VolumeHost, VolumePlugin } from './index.ts';

/** upstream: mounted ConfigMaps and Secrets follow the API within the sync period (1 min). */
export const DATA_VOLUME_REMOUNT_MS = 60_000;

/** The wrapped emptyDir's permissions. */
const DIR_PERM = 0o777;
/** upstream projected: a token file is 0600 when the volume gets an fsGroup. */
const TOKEN_MODE_WITH_FS_GROUP = 0o600;

type DataKind = 'configMap' | 'secret' | 'downwardAPI' | 'projected';

/** A port for a kubelet without an API server: every read fails naming that. */
const noClient: ConfigDataPort = {
  registerPod: () => {},
  unregisterPod: () => {},
  getConfigMap: (ns, name) => Promise.reject(new Error(`couldn't get configmap ${ns}/${name}, no kubeClient defined`)),
  getSecret: (ns, name) => Promise.reject(new Error(`couldn't get secret ${ns}/${name}, no kubeClient defined`)),
  getServiceAccountToken: (ns, sa) =>
    Promise.reject(new Error(`couldn't get a token for serviceaccount ${ns}/${sa}, no kubeClient defined`)),
  close: () => {},
};

function dataPlugin(kind: DataKind, name: string, tmpfs: boolean, remountPeriodMs: number): VolumePlugin {
  return {
    name,
    remountPeriodMs,
    canSupport: (v: Volume) => v[kind] !== undefined && v[kind] !== null,
    async setUp({ pod, volume, dir }, host: VolumeHost) {
      await host.fs.mkdirAll(dir, 0o750);
      if (tmpfs && (await host.fs.mountedType(dir)) !== 'tmpfs') {
        // upstream wraps an emptyDir of medium Memory: sized as one
        await host.fs.mountTmpfs(
          dir,
          emptyDirMemorySize(
            pod,
            { name: volume.name, emptyDir: { medium: 'Memory' } },
            host.nodeAllocatableMemoryBytes,
          ),
        );
      }
      await host.fs.chmod(dir, DIR_PERM);
      const fsGroup = pod.spec.securityContext?.fsGroup;
      const allocatable = { memory: host.nodeAllocatableMemoryBytes };
      const files =
        kind === 'downwardAPI'
          ? downwardApiVolumeFiles(pod, volume.downwardAPI as DownwardApiSource, allocatable)
          : await readVolumeFiles(pod, volume, host.configData ?? noClient, {
              allocatable,
              ...(fsGroup !== undefined ? { tokenMode: TOKEN_MODE_WITH_FS_GROUP } : {}),
            });
      await host.fs.writeAtomically(dir, files);
      if (fsGroup !== undefined)
        await host.fs.setVolumeOwnership(dir, fsGroup, pod.spec.securityContext?.fsGroupChangePolicy ?? 'Always');
      return { path: dir, readOnly: true, selinuxRelabel: true, ...(tmpfs ? { medium: 'Memory' as const } : {}) };
    },
    async tearDown({ dir }, host) {
      await host.fs.unmountAll(dir);
    },
  };
}

/** configMap, secret, downwardAPI and projected, refreshed every `remountPeriodMs`. */
export function dataVolumePlugins(remountPeriodMs = DATA_VOLUME_REMOUNT_MS): VolumePlugin[] {
  return [
    dataPlugin('configMap', 'kubernetes.io/configmap', false, remountPeriodMs),
    dataPlugin('secret', 'kubernetes.io/secret', true, remountPeriodMs),
    dataPlugin('downwardAPI', 'kubernetes.io/downward-api', false, remountPeriodMs),
    dataPlugin('projected', 'kubernetes.io/projected', true, remountPeriodMs),
  ];
}
