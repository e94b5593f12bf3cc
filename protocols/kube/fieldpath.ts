/**
 * The downward API's values, shared by env vars (actors/runtime/cri-config.ts) and downwardAPI
 * volume files (actors/volumes/projections.ts): upstream's pkg/fieldpath
 * (ExtractFieldPathAsString, FormatMap) and pkg/api/v1/resource
 * (ExtractContainerResourceValue, with the node's allocatable for a missing limit).
 *
 * Pure: no effects, nothing from kernel/ or actors/.
 */
import type { Container, Pod, Quantity } from './pod.ts';
import { quantityOrZero } from './qos.ts';

/** A field path or resource the downward API does not know: the caller words the failure. */
export class FieldPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FieldPathError';
  }
}

/** upstream fieldpath.FormatMap: sorted `key="value"` lines, values %q-quoted. */
export function formatMap(m: Readonly<Record<string, string>> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/**
 * upstream fieldpath.ExtractFieldPathAsString over a pod's metadata: name, namespace, uid,
 * labels, annotations, and one label or annotation by key. Throws FieldPathError
 * (`unsupported fieldPath: X`) for anything else.
 */
export function extractFieldPathAsString(pod: Pod, fieldPath: string): string {
  const m = pod.metadata;
  switch (fieldPath) {
    case 'metadata.name':
      return m.name;
    case 'metadata.namespace':
      return m.namespace;
    case 'metadata.uid':
      return m.uid;
    case 'metadata.labels':
      return formatMap(m.labels);
    case 'metadata.annotations':
      return formatMap(m.annotations);
  }
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) return (sub[1] === 'labels' ? m.labels : m.annotations)?.[sub[2]!] ?? '';
  throw new FieldPathError(`unsupported fieldPath: ${fieldPath}`);
}

/** The node's allocatable (cores, bytes), for a `limits.*` of a container without that limit. */
export interface NodeAllocatable {
  cpu?: number;
  memory?: number;
  'ephemeral-storage'?: number;
}

export interface ResourceFieldRef {
  containerName?: string;
  resource?: string;
  divisor?: Quantity;
}

/**
 * upstream ExtractContainerResourceValue: ceil(value / divisor) (cpu in millicores first), a
 * missing limit being the node's allocatable. `container` is the one a ref without
 * containerName means (an env var's own container); throws FieldPathError for an unknown
 * container or resource.
 */
export function containerResourceValue(
  ref: ResourceFieldRef,
  pod: Pod,
  container: Container | undefined,
  allocatable: NodeAllocatable = {},
): string {
  const target = ref.containerName
    ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName)
    : container;
  if (!target) throw new FieldPathError(`container ${ref.containerName ?? ''} not found`);
  const resource = ref.resource ?? '';
  const m = /^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.exec(resource);
  if (!m) throw new FieldPathError(`unsupported container resource : ${resource}`);
  const kind = m[1] as 'limits' | 'requests';
  const name = m[2] as 'cpu' | 'memory' | 'ephemeral-storage';
  const divisor = ref.divisor === undefined || quantityOrZero(ref.divisor) === 0 ? 1 : quantityOrZero(ref.divisor);
  const q = target.resources?.[kind]?.[name];
  // upstream defaultPodLimitsForDownwardAPI: no limit means the node's allocatable.
  const value = q === undefined && kind === 'limits' ? (allocatable[name] ?? 0) : quantityOrZero(q);
  if (name === 'cpu') return String(Math.ceil(Math.ceil(Number(`${value}e3`)) / Math.ceil(Number(`${divisor}e3`))));
  return String(Math.ceil(Math.ceil(value) / Math.ceil(divisor)));
}
