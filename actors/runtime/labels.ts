/**
 * The labels and annotations upstream kubelet writes on CRI sandboxes and containers
 * (pkg/kubelet/kuberuntime/labels.go, pkg/kubelet/types/labels.go), so that a restarted kubelet,
 * or upstream kubelet itself, recognises the objects kubelet-ts created. Keys are upstream's,
 * byte for byte; values use upstream's encodings (hash in hex, counts in decimal, ports as JSON).
 *
 * Also the container hash (what makes a spec change visible on a running container) and the
 * conversion of raw CRI statuses into a RuntimePodStatus (upstream GetPodStatus's sorting and
 * label parsing). Everything here is pure.
 *
 * Upstream's kuberuntime does not label the sandbox with `io.kubernetes.container.name=POD`
 * (that was dockershim's infra container); neither do we.
 */
import type {
  ContainerStatus as CriContainerStatus,
  KeyValueMap,
  NamespaceMode,
  PodSandboxStatus,
} from '../../protocols/cri/types.ts';
import type { Container, ContainerPort, LifecycleHandler, Pod } from '../../protocols/kube/pod.ts';
import type {
  RuntimeContainerStatus,
  RuntimePodStatus,
  RuntimeSandboxStatus,
} from '../../protocols/messages/runtime.ts';

import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_CONTAINER_PORTS,
  ANNOTATION_CONTAINER_RESTART_COUNT,
  ANNOTATION_CONTAINER_TYPE,
  ANNOTATION_POD_DELETION_GRACE_PERIOD,
  ANNOTATION_POD_TERMINATION_GRACE_PERIOD,
  ANNOTATION_PRESTOP_HANDLER,
  ANNOTATION_TERMINATION_MESSAGE_PATH,
  ANNOTATION_TERMINATION_MESSAGE_POLICY,
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
} from '../../protocols/cri/labels.ts';

export * from '../../protocols/cri/labels.ts';

/** Values of `io.kubernetes.container.type`. */
export type ContainerType = 'init' | 'container' | 'ephemeral';

const POD_IDENTITY_LABELS = new Set([LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID]);

// ---------------------------------------------------------------------------------------------
// writing

/** Sandbox labels (upstream newPodLabels): the pod's own labels plus name/namespace/uid. */
export function newPodLabels(pod: Pod): KeyValueMap {
  return {
    ...(pod.metadata.labels ?? {}),
    [LABEL_POD_NAME]: pod.metadata.name,
    [LABEL_POD_NAMESPACE]: pod.metadata.namespace,
    [LABEL_POD_UID]: pod.metadata.uid,
  };
}

/** Sandbox annotations (upstream newPodAnnotations): the pod's annotations as they are. */
export function newPodAnnotations(pod: Pod): KeyValueMap {
  return { ...(pod.metadata.annotations ?? {}) };
}

/** Container labels (upstream newContainerLabels): pod identity and the container name only. */
export function newContainerLabels(container: Container, pod: Pod): KeyValueMap {
  return {
    [LABEL_POD_NAME]: pod.metadata.name,
    [LABEL_POD_NAMESPACE]: pod.metadata.namespace,
    [LABEL_POD_UID]: pod.metadata.uid,
    [LABEL_CONTAINER_NAME]: container.name,
  };
}

/** The container's kind in the pod, by name, as upstream's HasContainer checks (init first). */
export function containerTypeOf(pod: Pod, name: string): ContainerType | undefined {
  if ((pod.spec.initContainers ?? []).some((c) => c.name === name)) return 'init';
  if (pod.spec.containers.some((c) => c.name === name)) return 'container';
  if ((pod.spec.ephemeralContainers ?? []).some((c) => c['name'] === name)) return 'ephemeral';
  return undefined;
}

/**
 * Container annotations (upstream newContainerAnnotations). `extra` are annotations from device
 * plugins and the like; kubelet's own keys win over them, as upstream.
 */
export function newContainerAnnotations(
  container: Container,
  pod: Pod,
  restartCount: number,
  extra: KeyValueMap = {},
): KeyValueMap {
  const a: KeyValueMap = { ...extra };
  a[ANNOTATION_CONTAINER_HASH] = containerHash(container);
  a[ANNOTATION_CONTAINER_RESTART_COUNT] = String(restartCount);
  a[ANNOTATION_TERMINATION_MESSAGE_PATH] = container.terminationMessagePath ?? '';
  a[ANNOTATION_TERMINATION_MESSAGE_POLICY] = container.terminationMessagePolicy ?? '';
  if (pod.metadata.deletionGracePeriodSeconds !== undefined) {
    a[ANNOTATION_POD_DELETION_GRACE_PERIOD] = String(pod.metadata.deletionGracePeriodSeconds);
  }
  if (pod.spec.terminationGracePeriodSeconds !== undefined) {
    a[ANNOTATION_POD_TERMINATION_GRACE_PERIOD] = String(pod.spec.terminationGracePeriodSeconds);
  }
  if (container.lifecycle?.preStop) a[ANNOTATION_PRESTOP_HANDLER] = JSON.stringify(container.lifecycle.preStop);
  if (container.ports && container.ports.length > 0) a[ANNOTATION_CONTAINER_PORTS] = JSON.stringify(container.ports);
  const type = containerTypeOf(pod, container.name);
  if (type) a[ANNOTATION_CONTAINER_TYPE] = type;
  return a;
}

// ---------------------------------------------------------------------------------------------
// reading back

export interface SandboxInfo {
  podName: string;
  podNamespace: string;
  podUid: string;
  /** The pod's own labels (identity labels removed). */
  labels: KeyValueMap;
}

/** upstream getPodSandboxInfoFromLabels. Missing labels read as ''. */
export function parseSandboxLabels(labels: KeyValueMap): SandboxInfo {
  const own: KeyValueMap = {};
  for (const [k, v] of Object.entries(labels)) if (!POD_IDENTITY_LABELS.has(k)) own[k] = v;
  return {
    podName: labels[LABEL_POD_NAME] ?? '',
    podNamespace: labels[LABEL_POD_NAMESPACE] ?? '',
    podUid: labels[LABEL_POD_UID] ?? '',
    labels: own,
  };
}

export interface ContainerInfo {
  podName: string;
  podNamespace: string;
  podUid: string;
  containerName: string;
  /** Hex string as written; '' for a container without the annotation (upstream reads 0). */
  hash: string;
  /** 0 when missing or malformed, as upstream. */
  restartCount: number;
  terminationMessagePath: string;
  terminationMessagePolicy: string;
  podDeletionGracePeriod?: number;
  podTerminationGracePeriod?: number;
  preStopHandler?: LifecycleHandler;
  containerPorts?: ContainerPort[];
  containerType: string;
}

function intOr(value: string | undefined, fallback: number): number {
  if (value === undefined || !/^[+-]?\d+$/.test(value)) return fallback;
  return Number(value);
}

function optionalInt(value: string | undefined): number | undefined {
  return value === undefined || !/^[+-]?\d+$/.test(value) ? undefined : Number(value);
}

function jsonOr<T>(value: string | undefined): T | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as T;
  } catch {
    // upstream logs and ignores a malformed annotation
    return undefined;
  }
}

/** upstream getContainerInfoFromLabels + getContainerInfoFromAnnotations, in one. */
export function parseContainerLabels(labels: KeyValueMap, annotations: KeyValueMap): ContainerInfo {
  const info: ContainerInfo = {
    podName: labels[LABEL_POD_NAME] ?? '',
    podNamespace: labels[LABEL_POD_NAMESPACE] ?? '',
    podUid: labels[LABEL_POD_UID] ?? '',
    containerName: labels[LABEL_CONTAINER_NAME] ?? '',
    hash: annotations[ANNOTATION_CONTAINER_HASH] ?? '',
    restartCount: intOr(annotations[ANNOTATION_CONTAINER_RESTART_COUNT], 0),
    terminationMessagePath: annotations[ANNOTATION_TERMINATION_MESSAGE_PATH] ?? '',
    terminationMessagePolicy: annotations[ANNOTATION_TERMINATION_MESSAGE_POLICY] ?? '',
    containerType: annotations[ANNOTATION_CONTAINER_TYPE] ?? '',
  };
  const del = optionalInt(annotations[ANNOTATION_POD_DELETION_GRACE_PERIOD]);
  if (del !== undefined) info.podDeletionGracePeriod = del;
  const term = optionalInt(annotations[ANNOTATION_POD_TERMINATION_GRACE_PERIOD]);
  if (term !== undefined) info.podTerminationGracePeriod = term;
  const preStop = jsonOr<LifecycleHandler>(annotations[ANNOTATION_PRESTOP_HANDLER]);
  if (preStop) info.preStopHandler = preStop;
  const ports = jsonOr<ContainerPort[]>(annotations[ANNOTATION_CONTAINER_PORTS]);
  if (Array.isArray(ports)) info.containerPorts = ports;
  return info;
}

// ---------------------------------------------------------------------------------------------
// the container hash

/**
 * The fields whose change requires a new container, in the order they are hashed.
 *
 * Upstream (since 1.31) hashes only `name` and `image`, because the API server makes every other
 * container field immutable; older upstream hashed the whole spec, which restarted every container
 * on a kubelet upgrade that added a field. kubelet-ts sits between the two: static pods can change
 * any field in place, so every field that is baked into the CRI container at creation is hashed:
 * what the process runs (image, command, args, workingDir, env, envFrom), what it sees (ports,
 * volumeMounts, volumeDevices, securityContext, stdin/stdinOnce/tty) and where its termination
 * message goes. Left out, because kubelet reads them live from the spec or can apply them without
 * a restart: resources (in-place resize), probes, lifecycle hooks, imagePullPolicy, resizePolicy,
 * restartPolicy. Defaulted fields are normalised (a port without protocol is TCP, an empty list is
 * no list), so the same container defaulted or not hashes the same.
 */
export const HASHED_CONTAINER_FIELDS = [
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  'env',
  'envFrom',
  'ports',
  'volumeMounts',
  'volumeDevices',
  'securityContext',
  'stdin',
  'stdinOnce',
  'tty',
  'terminationMessagePath',
  'terminationMessagePolicy',
] as const;

const HASH_DEFAULTS: Partial<Record<(typeof HASHED_CONTAINER_FIELDS)[number], unknown>> = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
  stdin: false,
  stdinOnce: false,
  tty: false,
  workingDir: '',
};

/** JSON with object keys sorted and empty values dropped: one text per meaning. */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || x === null) continue;
        if (Array.isArray(x) && x.length === 0) continue;
        if (typeof x === 'object' && !Array.isArray(x) && Object.keys(x as object).length === 0) continue;
        out[k] = norm(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(value)) ?? 'null';
}

/** 32-bit FNV-1a over the UTF-8 bytes (upstream uses fnv32a too), as unsigned. */
export function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The picked, normalised fields of a container that `containerHash` hashes. */
export function containerHashInput(container: Container): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const f of HASHED_CONTAINER_FIELDS) {
    let v: unknown = container[f];
    if (v === '') v = undefined;
    if (v !== undefined && HASH_DEFAULTS[f] === v) v = undefined;
    if (f === 'ports' && Array.isArray(v)) {
      v = (v as ContainerPort[]).map((p) => ({
        ...p,
        protocol: p.protocol || 'TCP',
        hostPort: p.hostPort || undefined,
      }));
    }
    if (f === 'env' && Array.isArray(v)) {
      // SetDefaults_ObjectFieldSelector adds apiVersion v1 to a fieldRef: the same variable.
      v = (v as NonNullable<Container['env']>).map((e) => {
        const ref = e.valueFrom?.['fieldRef'] as Record<string, unknown> | undefined;
        if (ref?.['apiVersion'] !== 'v1') return e;
        const { apiVersion: _drop, ...rest } = ref;
        return { ...e, valueFrom: { ...e.valueFrom, fieldRef: rest } };
      });
    }
    if (f === 'volumeMounts' && Array.isArray(v)) {
      v = (v as NonNullable<Container['volumeMounts']>).map((m) => ({
        ...m,
        readOnly: m.readOnly || undefined,
        mountPropagation: m.mountPropagation === 'None' ? undefined : m.mountPropagation,
        subPath: m.subPath || undefined,
      }));
    }
    if (v !== undefined) picked[f] = v;
  }
  return picked;
}

/** The hash written as `io.kubernetes.container.hash`: lowercase hex, like strconv.FormatUint(h, 16). */
export function containerHash(container: Container): string {
  return fnv32a(canonicalJson(containerHashInput(container))).toString(16);
}

// ---------------------------------------------------------------------------------------------
// CRI statuses → RuntimePodStatus

/** CRI nanoseconds → clock milliseconds (0 stays 0: "never"). */
export function nsToMs(ns: number): number {
  return ns > 0 ? Math.floor(ns / 1e6) : 0;
}

/**
 * The sandbox's network namespace mode, when the runtime reports it. protocols/cri/types.ts does
 * not model PodSandboxStatus.linux yet; containerd sends it (linux.namespaces.options.network).
 */
function sandboxNetworkMode(s: PodSandboxStatus): NamespaceMode | undefined {
  const linux = (
    s as PodSandboxStatus & {
      linux?: { namespaces?: { options?: { network?: NamespaceMode } | null } | null } | null;
    }
  ).linux;
  return linux?.namespaces?.options?.network ?? undefined;
}

export function runtimeSandboxFromCri(s: PodSandboxStatus): RuntimeSandboxStatus {
  const out: RuntimeSandboxStatus = {
    id: s.id,
    state: s.state,
    attempt: s.metadata?.attempt ?? 0,
    createdAt: nsToMs(s.createdAt),
    ip: s.network?.ip ?? '',
    additionalIps: (s.network?.additionalIps ?? []).map((a) => a.ip).filter((ip) => ip !== ''),
  };
  const mode = sandboxNetworkMode(s);
  if (mode) out.networkMode = mode;
  return out;
}

export function runtimeContainerFromCri(c: CriContainerStatus, sandboxId = ''): RuntimeContainerStatus {
  const info = parseContainerLabels(c.labels ?? {}, c.annotations ?? {});
  return {
    id: c.id,
    name: c.metadata?.name || info.containerName,
    state: c.state,
    attempt: c.metadata?.attempt ?? 0,
    createdAt: nsToMs(c.createdAt),
    startedAt: nsToMs(c.startedAt),
    finishedAt: nsToMs(c.finishedAt),
    exitCode: c.exitCode,
    reason: c.reason ?? '',
    message: c.message ?? '',
    image: c.image?.image ?? '',
    imageRef: c.imageRef ?? '',
    hash: info.hash,
    restartCount: info.restartCount,
    sandboxId,
    ...(info.preStopHandler ? { preStop: { handler: info.preStopHandler, ports: info.containerPorts ?? [] } } : {}),
  };
}

/**
 * upstream GetPodStatus after the CRI calls: sandboxes and containers of pod `uid`, each list
 * newest first (by creation time; ties keep the runtime's order). Objects labelled with another
 * pod's uid are dropped. Name and namespace come from the newest sandbox, else from a container.
 * A container's sandbox id is not in CRI ContainerStatus: `sandboxOf` (container id → sandbox id,
 * from ListContainers) fills it when the caller has it.
 */
export function runtimePodStatusFromCri(
  uid: string,
  sandboxStatuses: readonly PodSandboxStatus[],
  containerStatuses: readonly CriContainerStatus[],
  now: number,
  sandboxOf: Readonly<Record<string, string>> = {},
): RuntimePodStatus {
  const sandboxes = sandboxStatuses
    .filter((s) => (s.metadata?.uid || s.labels?.[LABEL_POD_UID] || uid) === uid)
    .map((s, i) => ({ s, i }))
    .sort((a, b) => b.s.createdAt - a.s.createdAt || a.i - b.i)
    .map(({ s }) => s);
  const containers = containerStatuses
    .filter((c) => (c.labels?.[LABEL_POD_UID] ?? uid) === uid)
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.createdAt - a.c.createdAt || a.i - b.i)
    .map(({ c }) => c);
  const first = sandboxes[0];
  const firstC = containers[0] ? parseContainerLabels(containers[0].labels ?? {}, {}) : undefined;
  return {
    uid,
    name: first?.metadata?.name || firstC?.podName || '',
    namespace: first?.metadata?.namespace || firstC?.podNamespace || '',
    sandboxes: sandboxes.map(runtimeSandboxFromCri),
    containers: containers.map((c) => runtimeContainerFromCri(c, sandboxOf[c.id] ?? '')),
    timestamp: now,
  };
}
