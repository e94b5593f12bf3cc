/**
 * Upstream's v1 defaulting (SetDefaults_Pod, _PodSpec, _Container, _ContainerPort, _Probe,
 * _HTTPGetAction, _Volume, _SecretVolumeSource, ...) for the fields kubelet-ts models.
 * Pure: `applyPodDefaults` returns a new pod and never touches its argument.
 *
 * As upstream, a zero value counts as unset where Go compares against zero (a probe's
 * `periodSeconds: 0` becomes 10).
 */
import type { Container, ContainerPort, Pod, PodSpec, Probe, Volume } from './pod.ts';

export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';
export const TERMINATION_MESSAGE_PATH_DEFAULT = '/dev/termination-log';
/** 0644: the file mode of secret/configMap/projected/downwardAPI volumes. */
export const DEFAULT_VOLUME_MODE = 0o644;

/** Volume source keys v1 knows; a volume with none of them becomes an emptyDir (SetDefaults_Volume). */
const VOLUME_SOURCE_KEYS = [
  'hostPath',
  'emptyDir',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'persistentVolumeClaim',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'downwardAPI',
  'fc',
  'azureFile',
  'configMap',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'projected',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'csi',
  'ephemeral',
  'image',
] as const;

/**
 * The tag of an image reference, or '' when it has none. `registry:5000/app` has no tag (the colon
 * is in the host part); `app@sha256:...` has none either (only a digest).
 */
export function imageTag(image: string): string {
  const noDigest = image.split('@')[0]!;
  const lastSlash = noDigest.lastIndexOf('/');
  const lastColon = noDigest.lastIndexOf(':');
  return lastColon > lastSlash ? noDigest.slice(lastColon + 1) : '';
}

/** True when the image reference pins a digest (`name@sha256:...`). */
export function imageHasDigest(image: string): boolean {
  return image.includes('@');
}

/**
 * SetDefaults_Container's pull policy: Always for `:latest` or for an untagged image without a
 * digest (it means `:latest`), IfNotPresent otherwise.
 */
export function defaultImagePullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const tag = imageTag(image);
  if (tag === 'latest') return 'Always';
  if (tag === '' && !imageHasDigest(image)) return 'Always';
  return 'IfNotPresent';
}

function defaultProbe(p: Probe | undefined): Probe | undefined {
  if (!p) return p;
  const out: Probe = {
    ...p,
    timeoutSeconds: p.timeoutSeconds || 1,
    periodSeconds: p.periodSeconds || 10,
    successThreshold: p.successThreshold || 1,
    failureThreshold: p.failureThreshold || 3,
  };
  if (p.httpGet) out.httpGet = { ...p.httpGet, path: p.httpGet.path || '/', scheme: p.httpGet.scheme || 'HTTP' };
  if (p.grpc) out.grpc = { ...p.grpc, service: p.grpc.service ?? '' };
  return out;
}

function defaultLifecycle(l: Container['lifecycle']): Container['lifecycle'] {
  if (!l) return l;
  const out = { ...l };
  for (const k of ['postStart', 'preStop'] as const) {
    const h = l[k];
    if (h?.httpGet)
      out[k] = { ...h, httpGet: { ...h.httpGet, path: h.httpGet.path || '/', scheme: h.httpGet.scheme || 'HTTP' } };
  }
  return out;
}

function defaultPorts(ports: ContainerPort[] | undefined, hostNetwork: boolean): ContainerPort[] | undefined {
  if (!ports) return ports;
  return ports.map((p) => ({
    ...p,
    protocol: p.protocol || 'TCP',
    // defaultHostNetworkPorts: with the host's network the container port is the host port.
    ...(hostNetwork && !p.hostPort ? { hostPort: p.containerPort } : {}),
  }));
}

function defaultEnv(env: Container['env']): Container['env'] {
  if (!env) return env;
  return env.map((e) => {
    const fieldRef = e.valueFrom?.['fieldRef'];
    if (fieldRef && typeof fieldRef === 'object' && !(fieldRef as Record<string, unknown>)['apiVersion']) {
      // SetDefaults_ObjectFieldSelector
      return { ...e, valueFrom: { ...e.valueFrom, fieldRef: { ...fieldRef, apiVersion: 'v1' } } };
    }
    return e;
  });
}

/** SetDefaults_Pod's copy of limits into unset requests, per resource. */
function defaultResources(r: Container['resources']): Container['resources'] {
  if (!r?.limits) return r;
  const requests = { ...(r.requests ?? {}) };
  for (const [k, v] of Object.entries(r.limits)) if (!(k in requests)) requests[k] = v;
  return { ...r, requests };
}

export function applyContainerDefaults(c: Container, hostNetwork = false): Container {
  const out: Container = {
    ...c,
    imagePullPolicy: c.imagePullPolicy || defaultImagePullPolicy(c.image),
    terminationMessagePath: c.terminationMessagePath || TERMINATION_MESSAGE_PATH_DEFAULT,
    terminationMessagePolicy: c.terminationMessagePolicy || 'File',
  };
  const set = <K extends keyof Container>(k: K, v: Container[K]) => {
    if (v !== undefined) out[k] = v;
  };
  set('ports', defaultPorts(c.ports, hostNetwork));
  set('env', defaultEnv(c.env));
  set('resources', defaultResources(c.resources));
  set('livenessProbe', defaultProbe(c.livenessProbe));
  set('readinessProbe', defaultProbe(c.readinessProbe));
  set('startupProbe', defaultProbe(c.startupProbe));
  set('lifecycle', defaultLifecycle(c.lifecycle));
  return out;
}

export function applyVolumeDefaults(v: Volume): Volume {
  const raw = v as Record<string, unknown>;
  if (!VOLUME_SOURCE_KEYS.some((k) => raw[k] !== undefined)) return { ...v, emptyDir: {} };
  const out: Volume = { ...v };
  if (v.hostPath) out.hostPath = { ...v.hostPath, type: v.hostPath.type ?? '' };
  if (v.secret) out.secret = { ...v.secret, defaultMode: v.secret.defaultMode ?? DEFAULT_VOLUME_MODE };
  if (v.configMap) out.configMap = { ...v.configMap, defaultMode: v.configMap.defaultMode ?? DEFAULT_VOLUME_MODE };
  for (const k of ['projected', 'downwardAPI'] as const) {
    const src = v[k];
    if (src && src['defaultMode'] === undefined) out[k] = { ...src, defaultMode: DEFAULT_VOLUME_MODE };
  }
  return out;
}

export function applyPodSpecDefaults(spec: PodSpec): PodSpec {
  const hostNetwork = spec.hostNetwork === true;
  const out: PodSpec = {
    ...spec,
    containers: spec.containers.map((c) => applyContainerDefaults(c, hostNetwork)),
    restartPolicy: spec.restartPolicy || 'Always',
    dnsPolicy: spec.dnsPolicy || 'ClusterFirst',
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
    securityContext: spec.securityContext ?? {},
    schedulerName: spec.schedulerName || DEFAULT_SCHEDULER_NAME,
    enableServiceLinks: spec.enableServiceLinks ?? true,
  };
  if (spec.initContainers) out.initContainers = spec.initContainers.map((c) => applyContainerDefaults(c, hostNetwork));
  if (spec.volumes) out.volumes = spec.volumes.map(applyVolumeDefaults);
  return out;
}

/** SetDefaults for a whole v1 Pod: a new object, the argument is left as it was. */
export function applyPodDefaults(pod: Pod): Pod {
  return { ...pod, metadata: { ...pod.metadata }, spec: applyPodSpecDefaults(pod.spec) };
}
