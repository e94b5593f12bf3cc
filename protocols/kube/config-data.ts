/**
 * The API-backed configuration data a kubelet reads for its pods: ConfigMaps, Secrets and
 * service account tokens (TokenRequest), the port that serves them (`ConfigDataPort`, one for
 * the whole kubelet: adapters/kube/config-data.ts caches them as upstream's configmap and secret
 * managers do, adapters/kube/token-manager.ts caches the tokens as upstream's token manager), and
 * the pure helpers every consumer shares: which objects a pod references (what the Node
 * authorizer lets the node read, and what the watch-based manager watches), and the errors with
 * upstream's messages.
 *
 * Consumers: the runtime (env: configMapKeyRef, secretKeyRef, envFrom) and the volume manager
 * (configMap, secret, projected volumes).
 *
 * Pure types and functions: no effects, nothing from kernel/ or actors/.
 */
import type { ObjectMeta, Pod } from './pod.ts';

export interface ConfigMap {
  apiVersion?: 'v1';
  kind?: 'ConfigMap';
  metadata: ObjectMeta;
  data?: Record<string, string>;
  /** base64, as the API serialises []byte. */
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

export interface Secret {
  apiVersion?: 'v1';
  kind?: 'Secret';
  metadata: ObjectMeta;
  /** base64, as the API serialises []byte. */
  data?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}

/** authentication.k8s.io/v1 TokenRequestSpec, as the kubelet sends it. */
export interface TokenRequestSpec {
  /** Empty: the API server's own audience (its issuer). */
  audiences: string[];
  expirationSeconds?: number;
  boundObjectRef?: { kind: 'Pod' | 'Secret' | 'Node'; apiVersion: 'v1'; name: string; uid?: string };
}

export interface TokenRequest {
  apiVersion: 'authentication.k8s.io/v1';
  kind: 'TokenRequest';
  metadata?: Partial<ObjectMeta>;
  spec: TokenRequestSpec;
  status?: { token: string; expirationTimestamp: string };
}

/** A token with its expiry (ms since the epoch) and the request it answers. */
export interface ServiceAccountToken {
  token: string;
  /** status.expirationTimestamp, in ms. */
  expiresAt: number;
}

/**
 * One kubelet's reads of ConfigMaps, Secrets and tokens. `registerPod` / `unregisterPod` are
 * upstream's Manager.RegisterPod / UnregisterPod: with the Watch strategy the objects a
 * registered pod references are watched (one list+watch per object), and a read of an object no
 * registered pod references fails as upstream's does. Registering the same pod (by uid) again
 * replaces its references; both the runtime and the volume manager may register a pod.
 */
export interface ConfigDataPort {
  registerPod(pod: Pod): void;
  unregisterPod(uid: string): void;
  /** Rejects with ObjectNotFound (`configmap "x" not found`) or another error naming the cause. */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap>;
  getSecret(namespace: string, name: string): Promise<Secret>;
  /** TokenRequest for the service account, cached and refreshed as upstream's token manager. */
  getServiceAccountToken(
    namespace: string,
    serviceAccount: string,
    spec: TokenRequestSpec,
  ): Promise<ServiceAccountToken>;
  /** Ends every watch and timer. */
  close(): void;
}

/**
 * upstream's apierrors.NewNotFound with the managers' group resources (`configmap`, `secret`):
 * `configmap "web-config" not found`.
 */
export class ObjectNotFound extends Error {
  readonly notFound = true;
  readonly resource: 'configmap' | 'secret';
  readonly objectName: string;
  constructor(resource: 'configmap' | 'secret', name: string) {
    super(`${resource} "${name}" not found`);
    this.name = 'ObjectNotFound';
    this.resource = resource;
    this.objectName = name;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ObjectNotFound || (e instanceof Error && (e as { notFound?: unknown }).notFound === true);
}

/** Decodes a base64 value of Secret.data / ConfigMap.binaryData. */
export function decodeBytes(b64: string): Buffer {
  return Buffer.from(b64, 'base64');
}

// ---------------------------------------------------------------------------------------------
// what a pod references

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const s = (v: unknown): string => (typeof v === 'string' ? v : '');

export interface PodReferences {
  configMaps: Set<string>;
  secrets: Set<string>;
}

/**
 * upstream podutil.VisitPodConfigmapNames / VisitPodSecretNames over the fields a kubelet reads
 * (env, envFrom of every container kind, configMap/secret/projected volumes, imagePullSecrets):
 * the objects its managers register for the pod.
 */
export function podReferences(pod: Pod): PodReferences {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const add = (set: Set<string>, name: string) => {
    if (name) set.add(name);
  };
  const spec = obj(pod.spec);
  for (const r of arr(spec['imagePullSecrets'])) add(secrets, s(obj(r)['name']));
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const c of arr(spec[list])) {
      for (const e of arr(obj(c)['env'])) {
        const from = obj(obj(e)['valueFrom']);
        add(configMaps, s(obj(from['configMapKeyRef'])['name']));
        add(secrets, s(obj(from['secretKeyRef'])['name']));
      }
      for (const ef of arr(obj(c)['envFrom'])) {
        add(configMaps, s(obj(obj(ef)['configMapRef'])['name']));
        add(secrets, s(obj(obj(ef)['secretRef'])['name']));
      }
    }
  }
  for (const v of arr(spec['volumes'])) {
    const vol = obj(v);
    add(configMaps, s(obj(vol['configMap'])['name']));
    add(secrets, s(obj(vol['secret'])['secretName']));
    for (const src of arr(obj(vol['projected'])['sources'])) {
      add(configMaps, s(obj(obj(src)['configMap'])['name']));
      add(secrets, s(obj(obj(src)['secret'])['name']));
    }
  }
  return { configMaps, secrets };
}
