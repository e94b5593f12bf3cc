/**
 * upstream makeMounts (pkg/kubelet/kubelet_pods.go), the pure part: a container's volumeMounts
 * as CRI Mounts, from the volumes the volumeManager set up (the `podVolumes` view). A mount with
 * subPath or subPathExpr (expanded from the container's environment, as upstream) comes with the
 * request for its safe bind (adapters/volumes/subpath.ts), which the runtime makes through its
 * port before CreateContainer. Throws ContainerConfigError, upstream's CreateContainerConfigError,
 * naming the mount and the cause.
 */
import type { KeyValue, Mount, MountPropagation } from '../../protocols/cri/types.ts';
import type { Container, VolumeMount } from '../../protocols/kube/pod.ts';
import type { PodVolumes } from '../../protocols/messages/channels.ts';
import { ContainerConfigError } from './cri-config.ts';
import { expand } from '../../protocols/kube/expansion.ts';

/** A Mount whose host path is a subPath's bind, made before the container is created. */
export interface PlannedMount {
  mount: Mount;
  subPath?: { volumePath: string; subPath: string; target: string };
}

/** upstream translateMountPropagation: Bidirectional only for a privileged container. */
export function mountPropagation(vm: VolumeMount, privileged: boolean): MountPropagation {
  const mode = vm.mountPropagation ?? 'None';
  if (mode === 'None') return 'PROPAGATION_PRIVATE';
  if (mode === 'HostToContainer') return 'PROPAGATION_HOST_TO_CONTAINER';
  if (mode === 'Bidirectional') {
    if (!privileged)
      throw new ContainerConfigError('Bidirectional mount propagation is available only to privileged containers');
    return 'PROPAGATION_BIDIRECTIONAL';
  }
  throw new ContainerConfigError(`invalid MountPropagation mode: ${JSON.stringify(mode)}`);
}

/** upstream ExpandContainerVolumeMounts: $(VAR) from the container's environment; an unset or empty one is an error. */
export function expandSubPathExpr(expr: string, envs: readonly KeyValue[]): string {
  const env = new Map(envs.map((e) => [e.key, e.value]));
  const missing = new Set<string>();
  const out = expand(expr, (k) => {
    const v = env.get(k);
    if (!v) missing.add(k);
    return v ?? '';
  });
  if (missing.size > 0) throw new ContainerConfigError(`missing value for ${[...missing].sort().join(', ')}`);
  return out;
}

export function makeMounts(
  container: Container,
  volumes: PodVolumes | undefined,
  envs: readonly KeyValue[],
): PlannedMount[] {
  const privileged = container.securityContext?.privileged === true;
  return (container.volumeMounts ?? []).map((vm, index) => {
    const vol = volumes?.volumes.find((v) => v.name === vm.name);
    if (!vol || vol.state !== 'mounted' || vol.path === undefined) {
      throw new ContainerConfigError(
        `cannot find volume ${JSON.stringify(vm.name)} to mount into container ${JSON.stringify(container.name)}`,
      );
    }
    const propagation = mountPropagation(vm, privileged);
    const readonly = vm.readOnly === true || vol.readOnly === true;
    const mount: Mount = {
      containerPath: vm.mountPath,
      hostPath: vol.path,
      readonly,
      selinuxRelabel: vol.selinuxRelabel === true,
      propagation,
    };
    let sub = vm.subPath ?? '';
    if (vm.subPathExpr) {
      try {
        sub = expandSubPathExpr(vm.subPathExpr, envs);
      } catch (e) {
        throw new ContainerConfigError(
          `failed to prepare subPath for volumeMount ${JSON.stringify(vm.name)} of container ${JSON.stringify(container.name)}: ${(e as Error).message}`,
        );
      }
    }
    if (sub === '') return { mount };
    const target = `${volumes!.podDir}/volume-subpaths/${vm.name}/${container.name}/${index}`;
    return { mount: { ...mount, hostPath: target }, subPath: { volumePath: vol.path, subPath: sub, target } };
  });
}
