/**
 * What the API-backed volumes hold, as pure functions of the pod and the API objects it
 * references: the files (path, content, mode) upstream's plugins hand to the atomic writer
 * (pkg/volume/configmap MakePayload, pkg/volume/secret MakePayload, pkg/volume/downwardapi
 * CollectData, pkg/volume/projected collectData). atomic-writer.ts writes them; the volume
 * manager (actors/volumes: its plugins import these) mounts (a tmpfs for secret and projected
 * volumes, as upstream) and calls `readVolumeFiles`, which reads the objects through the
 * ConfigDataPort first. Pure but for that read.
 *
 * Failures are VolumeContentError with upstream's messages (the volume manager's
 * `MountVolume.SetUp failed for volume "v" : <message>`):
 *   - a missing object, not optional: `configmap "x" not found` / `secret "x" not found`;
 *   - a missing key in items, not optional: `configmap references non-existent config key: k` /
 *     `references non-existent secret key: k`;
 *   - a downward API field it cannot give: `unsupported fieldPath: x`;
 *   - a projected volume's failures together, as upstream's aggregate (`[a, b]` when several).
 * A missing optional object gives an empty volume; a missing optional key, no file.
 */
import { posix } from 'node:path';
import {
  decodeBytes,
  isNotFound,
  ObjectNotFound,
  type ConfigDataPort,
  type ConfigMap,
  type Secret,
  type TokenRequestSpec,
} from '../../protocols/kube/config-data.ts';
import {
  containerResourceValue,
  extractFieldPathAsString,
  type NodeAllocatable,
  type ResourceFieldRef,
} from '../../protocols/kube/fieldpath.ts';
import type { Pod, Volume } from '../../protocols/kube/pod.ts';

/** One file of a volume, relative to the volume's directory. */
export interface VolumeFile {
  path: string;
  content: Buffer;
  /** Permission bits (e.g. 0o644). */
  mode: number;
}

export class VolumeContentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VolumeContentError';
  }
}

/** upstream's API default for defaultMode (configMap, secret, downwardAPI, projected). */
export const DEFAULT_MODE = 0o644;

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}
export interface ConfigMapSource {
  name?: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}
export interface SecretSource {
  secretName?: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}
export interface DownwardApiFile {
  path: string;
  fieldRef?: { fieldPath: string; apiVersion?: string };
  resourceFieldRef?: ResourceFieldRef;
  mode?: number;
}
export interface DownwardApiSource {
  items?: DownwardApiFile[];
  defaultMode?: number;
}
export interface ServiceAccountTokenProjection {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}
export interface VolumeProjection {
  configMap?: Omit<ConfigMapSource, 'defaultMode'>;
  secret?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items?: DownwardApiFile[] };
  serviceAccountToken?: ServiceAccountTokenProjection;
  clusterTrustBundle?: unknown;
  podCertificate?: unknown;
}
export interface ProjectedSource {
  sources?: VolumeProjection[];
  defaultMode?: number;
}

/** A key's files: every key (no items), or the items' keys mapped to their paths. */
function payload(
  data: ReadonlyMap<string, Buffer>,
  items: readonly KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  missingKey: (k: string) => string,
): VolumeFile[] {
  if (!items || items.length === 0) return [...data].map(([path, content]) => ({ path, content, mode: defaultMode }));
  const out: VolumeFile[] = [];
  for (const ki of items) {
    const content = data.get(ki.key);
    if (content === undefined) {
      if (optional) continue;
      throw new VolumeContentError(missingKey(ki.key));
    }
    out.push({ path: ki.path, content, mode: ki.mode ?? defaultMode });
  }
  return out;
}

function configMapData(cm: ConfigMap | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm?.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm?.binaryData ?? {})) out.set(k, decodeBytes(v));
  return out;
}

function secretData(s: Secret | undefined): Map<string, Buffer> {
  return new Map(Object.entries(s?.data ?? {}).map(([k, v]) => [k, decodeBytes(v)]));
}

/**
 * A configMap volume (or projection) from its ConfigMap; `configMap` undefined: it does not
 * exist (an empty volume when optional).
 */
export function configMapVolumeFiles(
  source: ConfigMapSource,
  configMap: ConfigMap | undefined,
  defaultMode = source.defaultMode ?? DEFAULT_MODE,
): VolumeFile[] {
  const optional = source.optional === true;
  if (!configMap && !optional) throw new VolumeContentError(new ObjectNotFound('configmap', source.name ?? '').message);
  return payload(
    configMapData(configMap),
    source.items,
    defaultMode,
    optional,
    (k) => `configmap references non-existent config key: ${k}`,
  );
}

/** A secret volume (or projection) from its Secret (values decoded); undefined: it does not exist. */
export function secretVolumeFiles(
  source: SecretSource,
  secret: Secret | undefined,
  defaultMode = source.defaultMode ?? DEFAULT_MODE,
): VolumeFile[] {
  const optional = source.optional === true;
  if (!secret && !optional) throw new VolumeContentError(new ObjectNotFound('secret', source.secretName ?? '').message);
  return payload(
    secretData(secret),
    source.items,
    defaultMode,
    optional,
    (k) => `references non-existent secret key: ${k}`,
  );
}

/** Go's filepath.Clean of a relative path. */
function clean(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** upstream's utilerrors.NewAggregate message. */
function aggregate(errors: readonly string[]): string {
  return errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;
}

/**
 * upstream downwardapi CollectData: each item's fieldRef (metadata.name, namespace, uid,
 * labels, annotations, one label or annotation) or resourceFieldRef (of the named container,
 * divided by the divisor and rounded up; a missing limit is the node's allocatable).
 */
export function downwardApiVolumeFiles(
  pod: Pod,
  source: DownwardApiSource,
  allocatable: NodeAllocatable = {},
  defaultMode = source.defaultMode ?? DEFAULT_MODE,
): VolumeFile[] {
  const errors: string[] = [];
  const out: VolumeFile[] = [];
  for (const item of source.items ?? []) {
    let value = '';
    try {
      if (item.fieldRef) value = extractFieldPathAsString(pod, item.fieldRef.fieldPath);
      else if (item.resourceFieldRef)
        value = containerResourceValue(item.resourceFieldRef, pod, undefined, allocatable);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
    out.push({ path: clean(item.path), content: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
  }
  if (errors.length > 0) throw new VolumeContentError(aggregate(errors));
  return out;
}

/** The TokenRequest of a serviceAccountToken projection, as upstream's projected plugin asks it. */
export interface ProjectedTokenRequest {
  /** The file's path in the volume. */
  path: string;
  serviceAccount: string;
  spec: TokenRequestSpec;
}

/** The tokens a projected volume needs, bound to the pod, for the pod's service account. */
export function projectedTokenRequests(pod: Pod, source: ProjectedSource): ProjectedTokenRequest[] {
  const sa = pod.spec.serviceAccountName || pod.spec.serviceAccount || 'default';
  return (source.sources ?? []).flatMap((s) => {
    const tp = s.serviceAccountToken;
    if (!tp) return [];
    const spec: TokenRequestSpec = {
      audiences: tp.audience ? [tp.audience] : [],
      ...(tp.expirationSeconds !== undefined ? { expirationSeconds: tp.expirationSeconds } : {}),
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
    };
    return [{ path: tp.path, serviceAccount: sa, spec }];
  });
}

/** What a projected volume's sources read: objects by name (undefined: not found), tokens by path (or the error). */
export interface ProjectedObjects {
  configMaps: ReadonlyMap<string, ConfigMap | undefined>;
  secrets: ReadonlyMap<string, Secret | undefined>;
  tokens: ReadonlyMap<string, string | Error>;
  /** Read failures other than not found, by `configmap/<name>` or `secret/<name>`. */
  errors?: ReadonlyMap<string, string>;
}

/**
 * upstream projected collectData: every source in order, a later file at the same path winning;
 * the token file gets the volume's defaultMode (0600 with an fsUser or fsGroup, given as
 * `tokenMode`). Failures of all sources together (aggregate).
 */
export function projectedVolumeFiles(
  pod: Pod,
  source: ProjectedSource,
  objects: ProjectedObjects,
  o: { allocatable?: NodeAllocatable; tokenMode?: number } = {},
): VolumeFile[] {
  const defaultMode = source.defaultMode ?? DEFAULT_MODE;
  const errors: string[] = [];
  const files = new Map<string, VolumeFile>();
  const add = (fs: VolumeFile[]) => {
    for (const f of fs) files.set(f.path, f);
  };
  const attempt = (fn: () => VolumeFile[]) => {
    try {
      add(fn());
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  };
  for (const s of source.sources ?? []) {
    if (s.configMap) {
      const name = s.configMap.name ?? '';
      const failed = objects.errors?.get(`configmap/${name}`);
      if (failed) errors.push(failed);
      else attempt(() => configMapVolumeFiles(s.configMap!, objects.configMaps.get(name), defaultMode));
    } else if (s.secret) {
      const name = s.secret.name ?? '';
      const failed = objects.errors?.get(`secret/${name}`);
      if (failed) errors.push(failed);
      else attempt(() => secretVolumeFiles({ ...s.secret!, secretName: name }, objects.secrets.get(name), defaultMode));
    } else if (s.downwardAPI) {
      attempt(() => downwardApiVolumeFiles(pod, s.downwardAPI!, o.allocatable, defaultMode));
    } else if (s.serviceAccountToken) {
      const t = objects.tokens.get(s.serviceAccountToken.path);
      if (t === undefined) errors.push(`no token for ${s.serviceAccountToken.path}`);
      else if (t instanceof Error) errors.push(t.message);
      else
        add([{ path: s.serviceAccountToken.path, content: Buffer.from(t, 'utf8'), mode: o.tokenMode ?? defaultMode }]);
    } else {
      errors.push('projected source not supported by kubelet-ts (clusterTrustBundle, podCertificate)');
    }
  }
  if (errors.length > 0) throw new VolumeContentError(aggregate(errors));
  return [...files.values()];
}

/** The volume's source kind when it is one of these, else undefined. */
export function apiVolumeKind(volume: Volume): 'configMap' | 'secret' | 'downwardAPI' | 'projected' | undefined {
  for (const k of ['configMap', 'secret', 'downwardAPI', 'projected'] as const)
    if (volume[k] !== undefined && volume[k] !== null) return k;
  return undefined;
}

/** Reads an object through the port: undefined when not found, the other errors thrown. */
async function readOrAbsent<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * The files of a configMap, secret, downwardAPI or projected volume of the pod: the objects read
 * through the port (tokens through its token manager), then the pure functions above. Throws
 * VolumeContentError with upstream's message; a read failure other than not found is its own
 * error text (e.g. `failed to sync configmap cache: ...`).
 */
export async function readVolumeFiles(
  pod: Pod,
  volume: Volume,
  port: ConfigDataPort,
  o: { allocatable?: NodeAllocatable; tokenMode?: number } = {},
): Promise<VolumeFile[]> {
  const ns = pod.metadata.namespace;
  const kind = apiVolumeKind(volume);
  const wrap = (e: unknown) => new VolumeContentError(e instanceof Error ? e.message : String(e));
  if (kind === 'configMap') {
    const src = volume.configMap as ConfigMapSource;
    const cm = await readOrAbsent(() => port.getConfigMap(ns, src.name ?? '')).catch((e: unknown) => {
      throw wrap(e);
    });
    return configMapVolumeFiles(src, cm);
  }
  if (kind === 'secret') {
    const src = volume.secret as SecretSource;
    const s = await readOrAbsent(() => port.getSecret(ns, src.secretName ?? '')).catch((e: unknown) => {
      throw wrap(e);
    });
    return secretVolumeFiles(src, s);
  }
  if (kind === 'downwardAPI')
    return downwardApiVolumeFiles(pod, volume.downwardAPI as DownwardApiSource, o.allocatable);
  if (kind === 'projected') {
    const src = volume.projected as ProjectedSource;
    const configMaps = new Map<string, ConfigMap | undefined>();
    const secrets = new Map<string, Secret | undefined>();
    const tokens = new Map<string, string | Error>();
    const errors = new Map<string, string>();
    for (const s of src.sources ?? []) {
      const read = async <T>(key: string, into: Map<string, T | undefined>, name: string, fn: () => Promise<T>) => {
        if (into.has(name) || errors.has(key)) return;
        try {
          into.set(name, await readOrAbsent(fn));
        } catch (e) {
          errors.set(key, e instanceof Error ? e.message : String(e));
        }
      };
      if (s.configMap)
        await read(`configmap/${s.configMap.name ?? ''}`, configMaps, s.configMap.name ?? '', () =>
          port.getConfigMap(ns, s.configMap!.name ?? ''),
        );
      if (s.secret)
        await read(`secret/${s.secret.name ?? ''}`, secrets, s.secret.name ?? '', () =>
          port.getSecret(ns, s.secret!.name ?? ''),
        );
    }
    for (const t of projectedTokenRequests(pod, src)) {
      try {
        tokens.set(t.path, (await port.getServiceAccountToken(ns, t.serviceAccount, t.spec)).token);
      } catch (e) {
        tokens.set(t.path, e instanceof Error ? e : new Error(String(e)));
      }
    }
    return projectedVolumeFiles(pod, src, { configMaps, secrets, tokens, errors }, o);
  }
  throw new VolumeContentError(
    `volume ${JSON.stringify(volume.name)} is not a configMap, secret, downwardAPI or projected volume`,
  );
}
