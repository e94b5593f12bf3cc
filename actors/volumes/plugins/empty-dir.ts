/**
 * emptyDir (upstream pkg/volume/emptydir): a directory under the pod's volumes, on the node's
 * disk or, with `medium: Memory`, a tmpfs. The tmpfs size is upstream 1.32's
 * calculateEmptyDirMemorySize: the node's allocatable memory, lowered to the pod's memory limit
 * when every container has one, lowered to `sizeLimit` when that is smaller still. With fsGroup
 * the directory gets the group and setgid (SetVolumeOwnership, fsGroupChangePolicy honoured).
 */
import type { Pod, Volume } from '../../../protocols/kube/pod.ts';
import { quantityValue } from '../../../protocols/kube/quantity.ts';
import type { VolumePlugin } from './index.ts';

/** upstream's emptyDir permissions: world-writable, the container decides. */
const EMPTY_DIR_PERM = 0o777;

/** A container's memory limit in bytes, or undefined without one. */
const memoryLimit = (c: { resources?: { limits?: Record<string, unknown> } }): number | undefined => {
  const q = c.resources?.limits?.['memory'];
  return q === undefined ? undefined : quantityValue(q as string | number);
};

/**
 * upstream ResourceConfigForPod's memory limit: defined only when every container has one; the
 * larger of the regular containers' (and sidecars') sum and the largest init container's, plus
 * the pod's overhead.
 */
export function podMemoryLimit(pod: Pod): number | undefined {
  const init = pod.spec.initContainers ?? [];
  const sidecars = init.filter((c) => c.restartPolicy === 'Always');
  const plain = init.filter((c) => c.restartPolicy !== 'Always');
  const regular = [...pod.spec.containers, ...sidecars].map(memoryLimit);
  const inits = plain.map(memoryLimit);
  if ([...regular, ...inits].some((v) => v === undefined)) return undefined;
  const sum = (regular as number[]).reduce((a, b) => a + b, 0);
  const overhead = pod.spec.overhead?.['memory'];
  return (
    Math.max(sum, ...(inits as number[])) + (overhead === undefined ? 0 : quantityValue(overhead as string | number))
  );
}

/** upstream calculateEmptyDirMemorySize (SizeMemoryBackedVolumes, on since 1.22). */
export function emptyDirMemorySize(pod: Pod, volume: Volume, nodeAllocatable: number | undefined): number | undefined {
  let size = nodeAllocatable;
  const podLimit = podMemoryLimit(pod);
  if (podLimit !== undefined && podLimit > 0 && (size === undefined || podLimit <= size)) size = podLimit;
  const limit = volume.emptyDir?.sizeLimit;
  const v = limit === undefined ? undefined : quantityValue(limit);
  if (v !== undefined && v > 0 && (size === undefined || v <= size)) size = v;
  return size;
}

export const emptyDirPlugin: VolumePlugin = {
  name: 'kubernetes.io/empty-dir',
  // upstream: a volume without a source is an emptyDir (the API server defaults it)
  canSupport: (v) => v.emptyDir !== undefined || Object.keys(v).every((k) => k === 'name'),
  async setUp({ pod, volume, dir }, host) {
    const medium = volume.emptyDir?.medium ?? '';
    if (medium !== '' && medium !== 'Memory')
      throw new Error(`emptyDir medium ${JSON.stringify(medium)} is not supported by kubelet-ts`);
    const limit = volume.emptyDir?.sizeLimit;
    let sizeLimitBytes = limit === undefined ? undefined : quantityValue(limit);
    await host.fs.mkdirAll(dir, 0o750);
    if (medium === 'Memory') {
      sizeLimitBytes = emptyDirMemorySize(pod, volume, host.nodeAllocatableMemoryBytes);
      const mounted = await host.fs.mountedType(dir);
      if (mounted !== 'tmpfs') await host.fs.mountTmpfs(dir, sizeLimitBytes);
    }
    await host.fs.chmod(dir, EMPTY_DIR_PERM);
    const fsGroup = pod.spec.securityContext?.fsGroup;
    if (fsGroup !== undefined)
      await host.fs.setVolumeOwnership(dir, fsGroup, pod.spec.securityContext?.fsGroupChangePolicy ?? 'Always');
    return { path: dir, selinuxRelabel: true, medium, ...(sizeLimitBytes !== undefined ? { sizeLimitBytes } : {}) };
  },
  async tearDown({ dir }, host) {
    await host.fs.unmountAll(dir);
  },
};
