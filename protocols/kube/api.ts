/**
 * The Kubernetes API as the kubelet uses it: the one port every cluster-facing actor gets
 * (each declares the narrow slice it needs with Pick<KubeApi, ...>). The implementation
 * (adapters/kube/client.ts) sits on @kubernetes/client-node's KubeConfig (kubeconfig loading,
 * client certificates, bearer tokens); specs run it against the API server stand-in in
 * specs/support/apiserver/.
 *
 * Every failure is an ApiError carrying the HTTP code and the Status reason, so callers match
 * on `code === 409` (Conflict / AlreadyExists), `404`, `410` (Gone: relist), `429`/`5xx` (retry).
 */
import type { ConfigMap, Secret, TokenRequest } from './config-data.ts';
import type { ObjectMeta, Pod } from './pod.ts';

export interface NodeAddress {
  type: string;
  address: string;
}
export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}
export interface NodeSystemInfo {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  containerRuntimeVersion: string;
  kubeletVersion: string;
  kubeProxyVersion: string;
  operatingSystem: string;
  architecture: string;
}
export interface Node {
  apiVersion?: 'v1';
  kind?: 'Node';
  metadata: ObjectMeta;
  spec?: { podCIDR?: string; podCIDRs?: string[]; providerID?: string; unschedulable?: boolean; taints?: Taint[] };
  status?: {
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    conditions?: NodeCondition[];
    addresses?: NodeAddress[];
    daemonEndpoints?: { kubeletEndpoint?: { Port: number } };
    nodeInfo?: NodeSystemInfo;
    images?: { names: string[]; sizeBytes: number }[];
  };
}
export interface Lease {
  apiVersion?: 'coordination.k8s.io/v1';
  kind?: 'Lease';
  metadata: ObjectMeta;
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    renewTime?: string;
    acquireTime?: string;
    leaseTransitions?: number;
  };
}
export interface ObjectReference {
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}
export interface Event {
  apiVersion?: 'v1';
  kind?: 'Event';
  metadata: ObjectMeta;
  involvedObject: ObjectReference;
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  source: { component: string; host?: string };
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
  reportingComponent?: string;
  reportingInstance?: string;
}

export type PatchType = 'merge' | 'strategic' | 'json';

/** authentication.k8s.io/v1 UserInfo (a TokenReview's answer; a SubjectAccessReview's subject). */
export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}
/** authentication.k8s.io/v1 TokenReviewStatus. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: UserInfo;
  audiences?: string[];
  error?: string;
}
/** authorization.k8s.io/v1 ResourceAttributes. */
export interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}
/** authorization.k8s.io/v1 SubjectAccessReviewSpec (resource requests only: what the kubelet asks). */
export interface SubjectAccessReviewSpec {
  user: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  resourceAttributes: ResourceAttributes;
}
/** authorization.k8s.io/v1 SubjectAccessReviewStatus. */
export interface SubjectAccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: { metadata: { resourceVersion: string } } }
  | { type: 'ERROR'; object: { code?: number; reason?: string; message?: string } };

export interface WatchHandle {
  /** Ends the watch (no further callbacks except `done`). */
  abort(): void;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly verb: string;
  readonly path: string;
  constructor(code: number, reason: string, verb: string, path: string, message: string) {
    super(`${verb} ${path}: ${code} ${reason}: ${message}`);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.verb = verb;
    this.path = path;
  }
}

export interface KubeApi {
  // pods
  listPods(opts: {
    namespace?: string;
    fieldSelector?: string;
    labelSelector?: string;
    resourceVersion?: string;
  }): Promise<ListResult<Pod>>;
  /** Streams events after `resourceVersion`; `done` is called once when the stream ends (err on failure). */
  watchPods(
    opts: {
      namespace?: string;
      fieldSelector?: string;
      resourceVersion: string;
      allowWatchBookmarks?: boolean;
      timeoutSeconds?: number;
    },
    onEvent: (e: WatchEvent<Pod>) => void,
    done: (err?: unknown) => void,
  ): Promise<WatchHandle>;
  getPod(namespace: string, name: string): Promise<Pod>;
  createPod(namespace: string, pod: Pod): Promise<Pod>;
  /** DELETE with optional grace period and uid / resourceVersion preconditions. */
  deletePod(
    namespace: string,
    name: string,
    opts?: { gracePeriodSeconds?: number; uid?: string; resourceVersion?: string },
  ): Promise<void>;
  patchPodStatus(namespace: string, name: string, patch: unknown, type: PatchType): Promise<Pod>;
  // nodes
  /**
   * A quorum read by default; `resourceVersion: '0'` lets the apiserver answer from its watch cache
   * (cheaper, possibly a little stale), as upstream's first try of a node status update does.
   */
  getNode(name: string, opts?: { resourceVersion?: string }): Promise<Node>;
  createNode(node: Node): Promise<Node>;
  patchNodeStatus(name: string, patch: unknown, type: PatchType): Promise<Node>;
  patchNode(name: string, patch: unknown, type: PatchType): Promise<Node>;
  // leases
  getLease(namespace: string, name: string): Promise<Lease>;
  createLease(namespace: string, lease: Lease): Promise<Lease>;
  /** PUT: fails with 409 when lease.metadata.resourceVersion is stale. */
  updateLease(namespace: string, lease: Lease): Promise<Lease>;
  // events
  createEvent(namespace: string, event: Event): Promise<Event>;
  patchEvent(namespace: string, name: string, patch: unknown, type: PatchType): Promise<Event>;
  // reviews: the kubelet server's webhook authentication and authorization (nothing is stored)
  /** POST a TokenReview of `token`; its status. */
  createTokenReview(token: string): Promise<TokenReviewStatus>;
  /** POST a SubjectAccessReview; its status. */
  createSubjectAccessReview(spec: SubjectAccessReviewSpec): Promise<SubjectAccessReviewStatus>;
}

/** For pod status writes: what the status manager needs (the update is a strategic merge patch). */
export type PodStatusApi = Pick<KubeApi, 'getPod' | 'patchPodStatus' | 'deletePod'>;
export type PodSourceApi = Pick<KubeApi, 'listPods' | 'watchPods'>;
export type MirrorPodApi = Pick<KubeApi, 'getPod' | 'createPod' | 'deletePod' | 'listPods'>;
export type NodeApi = Pick<KubeApi, 'getNode' | 'createNode' | 'patchNodeStatus' | 'patchNode'>;
export type LeaseApi = Pick<KubeApi, 'getLease' | 'createLease' | 'updateLease'>;
export type EventApi = Pick<KubeApi, 'createEvent' | 'patchEvent'>;
export type ReviewApi = Pick<KubeApi, 'createTokenReview' | 'createSubjectAccessReview'>;

/** One namespaced object list+watch, by name (a metadata.name field selector: what the Node authorizer allows). */
export interface ObjectListWatch<T> {
  list(namespace: string, opts: { fieldSelector?: string; resourceVersion?: string }): Promise<ListResult<T>>;
  watch(
    namespace: string,
    opts: { fieldSelector?: string; resourceVersion: string; allowWatchBookmarks?: boolean; timeoutSeconds?: number },
    onEvent: (e: WatchEvent<T>) => void,
    done: (err?: unknown) => void,
  ): Promise<WatchHandle>;
}

/**
 * What upstream's configmap, secret and token managers read (adapters/kube/config-data.ts and
 * token-manager.ts): a get, a list+watch per kind, and the TokenRequest subresource.
 */
export interface ConfigDataApi {
  getConfigMap(namespace: string, name: string): Promise<ConfigMap>;
  getSecret(namespace: string, name: string): Promise<Secret>;
  configMaps: ObjectListWatch<ConfigMap>;
  secrets: ObjectListWatch<Secret>;
  /** POST serviceaccounts/<name>/token. */
  createServiceAccountToken(namespace: string, name: string, request: TokenRequest): Promise<TokenRequest>;
}
