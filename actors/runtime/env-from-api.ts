/**
 * The part of upstream's makeEnvironmentVariables (kubelet_pods.go) that reads the API: envFrom
 * (configMapRef, secretRef, with prefix and optional) and env valueFrom configMapKeyRef /
 * secretKeyRef, through the kubelet's ConfigDataPort. What it returns is handed to the pure
 * makeEnvironmentVariables (cri-config.ts `apiEnv`); what fails is a ContainerConfigError with
 * upstream's message (the container waits with reason CreateContainerConfigError):
 *   - no API server (standalone): `couldn't get configMap <ns>/<name>, no kubeClient defined`
 *     (`secret` likewise), for an optional reference too, as upstream;
 *   - a missing object: the manager's `configmap "<name>" not found`, unless optional;
 *   - a missing key: `couldn't find key <key> in ConfigMap <ns>/<name>` (Secret likewise),
 *     unless optional;
 *   - any other read failure: its own text.
 * envFrom keys that are not valid env var names are skipped, and reported as upstream's Warning
 * InvalidEnvironmentVariableNames (returned in `warnings`, the caller records them).
 */
import type { KeyValue } from '../../protocols/cri/types.ts';
import {
  decodeBytes,
  isNotFound,
  type ConfigDataPort,
  type ConfigMap,
  type Secret,
} from '../../protocols/kube/config-data.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import { ContainerConfigError } from './cri-config.ts';

export interface ApiEnv {
  /** envFrom variables in order (prefix applied, invalid names skipped). */
  envFrom: KeyValue[];
  /** configMapKeyRef / secretKeyRef values by env var name (an optional one that is missing is absent). */
  values: Record<string, string>;
  /** Warning events to record for the pod. */
  warnings: { reason: 'InvalidEnvironmentVariableNames'; message: string }[];
}

/** upstream validation.IsEnvVarName (the C identifier, with '-' and '.' allowed). */
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function isEnvVarName(name: string): boolean {
  return ENV_VAR_NAME.test(name);
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Does the container read anything from the API for its environment? */
export function needsApiEnv(container: Container): boolean {
  if ((container.envFrom ?? []).length > 0) return true;
  return (container.env ?? []).some((e) => {
    const from = obj(e.valueFrom);
    return from['configMapKeyRef'] !== undefined || from['secretKeyRef'] !== undefined;
  });
}

const secretValues = (s: Secret): Record<string, string> =>
  Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, decodeBytes(v).toString('utf8')]));

/** Reads the container's API env sources; throws ContainerConfigError as upstream fails. */
export async function resolveApiEnv(pod: Pod, container: Container, port: ConfigDataPort | undefined): Promise<ApiEnv> {
  const ns = pod.metadata.namespace;
  const out: ApiEnv = { envFrom: [], values: {}, warnings: [] };
  if (!needsApiEnv(container)) return out;
  // one read per object and container, as upstream's local maps
  const configMaps = new Map<string, Record<string, string> | null>();
  const secrets = new Map<string, Record<string, string> | null>();
  const read = async (
    kind: 'configMap' | 'secret',
    name: string,
    optional: boolean,
  ): Promise<Record<string, string> | null> => {
    const cache = kind === 'configMap' ? configMaps : secrets;
    if (cache.has(name)) return cache.get(name)!;
    if (!port) throw new ContainerConfigError(`couldn't get ${kind} ${ns}/${name}, no kubeClient defined`);
    let data: Record<string, string> | null;
    try {
      data =
        kind === 'configMap'
          ? (((await port.getConfigMap(ns, name)) as ConfigMap).data ?? {})
          : secretValues(await port.getSecret(ns, name));
    } catch (e) {
      if (isNotFound(e) && optional) data = null;
      else throw new ContainerConfigError(e instanceof Error ? e.message : String(e));
    }
    cache.set(name, data);
    return data;
  };

  for (const ef of container.envFrom ?? []) {
    const prefix = str(ef['prefix']);
    const ref = obj(ef['configMapRef'] ?? ef['secretRef']);
    const kind = ef['configMapRef'] !== undefined ? 'configMap' : ef['secretRef'] !== undefined ? 'secret' : undefined;
    if (!kind) continue;
    const name = str(ref['name']);
    const data = await read(kind, name, ref['optional'] === true);
    if (data === null) continue;
    const invalid: string[] = [];
    for (const [k, v] of Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const key = prefix + k;
      if (!isEnvVarName(key)) {
        invalid.push(key);
        continue;
      }
      out.envFrom.push({ key, value: v });
    }
    if (invalid.length > 0) {
      out.warnings.push({
        reason: 'InvalidEnvironmentVariableNames',
        message: `Keys [${invalid.sort().join(', ')}] from the EnvFrom ${kind} ${ns}/${name} were skipped since they are considered invalid environment variable names.`,
      });
    }
  }

  for (const e of container.env ?? []) {
    if (e.value) continue;
    const from = obj(e.valueFrom);
    const kind =
      from['configMapKeyRef'] !== undefined ? 'configMap' : from['secretKeyRef'] !== undefined ? 'secret' : undefined;
    if (!kind) continue;
    const ref = obj(from[kind === 'configMap' ? 'configMapKeyRef' : 'secretKeyRef']);
    const name = str(ref['name']);
    const key = str(ref['key']);
    const optional = ref['optional'] === true;
    const data = await read(kind, name, optional);
    if (data === null) continue;
    if (!Object.hasOwn(data, key)) {
      if (optional) continue;
      throw new ContainerConfigError(
        `couldn't find key ${key} in ${kind === 'configMap' ? 'ConfigMap' : 'Secret'} ${ns}/${name}`,
      );
    }
    out.values[e.name] = data[key]!;
  }
  return out;
}
