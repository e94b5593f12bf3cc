/**
 * The CRI runtime.v1 subset kubelet-ts speaks, as TypeScript types.
 *
 * Field names are the proto field names in lowerCamelCase (what @grpc/proto-loader produces with
 * keepCase: false); enums travel as their proto names (enums: String); int64 as JS numbers
 * (nanosecond timestamps lose sub-microsecond precision, which nothing here needs).
 * runtime.proto in this folder is the wire contract; this file must agree with it.
 *
 * Both the gRPC client (client.ts) and the in-memory fake (specs/support/fake-cri.ts) implement
 * RuntimeService and ImageService, so every actor is tested against the same port.
 */

export type KeyValueMap = Record<string, string>;

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface RuntimeCondition {
  type: string; // RuntimeReady | NetworkReady
  status: boolean;
  reason: string;
  message: string;
}

export interface StatusResponse {
  status: { conditions: RuntimeCondition[] } | null;
  info: Record<string, string>;
  /** What the runtime implements (containerd 2.0 reports supplementalGroupsPolicy; 1.6 sends none). */
  features?: { supplementalGroupsPolicy?: boolean } | null;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PortMapping {
  protocol?: Protocol;
  containerPort: number;
  hostPort?: number;
  hostIp?: string;
}

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  selinuxRelabel?: boolean;
  propagation?: MountPropagation;
}

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export type SupplementalGroupsPolicy = 'Merge' | 'Strict';

export interface SELinuxOption {
  user?: string;
  role?: string;
  type?: string;
  level?: string;
}

/** seccomp: localhostRef is an absolute path; AppArmor: the profile's name. */
export interface SecurityProfile {
  profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostRef?: string;
}

export interface Capability {
  addCapabilities?: string[];
  dropCapabilities?: string[];
  addAmbientCapabilities?: string[];
}

export interface LinuxSandboxSecurityContext {
  namespaceOptions?: NamespaceOption;
  selinuxOptions?: SELinuxOption;
  runAsUser?: { value: number } | null;
  runAsGroup?: { value: number } | null;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: SupplementalGroupsPolicy;
  privileged?: boolean;
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
}

export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
}

export interface LinuxPodSandboxConfig {
  cgroupParent?: string;
  securityContext?: LinuxSandboxSecurityContext;
  sysctls?: KeyValueMap;
}

export interface DNSConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: DNSConfig;
  portMappings?: PortMapping[];
  labels?: KeyValueMap;
  annotations?: KeyValueMap;
  linux?: LinuxPodSandboxConfig;
}

export interface PodSandboxNetworkStatus {
  ip: string;
  additionalIps: { ip: string }[];
}

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  createdAt: number; // ns
  network: PodSandboxNetworkStatus | null;
  labels: KeyValueMap;
  annotations: KeyValueMap;
  runtimeHandler: string;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  createdAt: number; // ns
  labels: KeyValueMap;
  annotations: KeyValueMap;
  runtimeHandler: string;
}

export interface PodSandboxFilter {
  id?: string;
  state?: { state: PodSandboxState } | null;
  labelSelector?: KeyValueMap;
}

export interface ImageSpec {
  image: string;
  annotations?: KeyValueMap;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface ContainerMetadata {
  name: string;
  attempt: number;
}

export interface LinuxContainerSecurityContext {
  capabilities?: Capability;
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  selinuxOptions?: SELinuxOption;
  runAsUser?: { value: number } | null;
  runAsGroup?: { value: number } | null;
  runAsUsername?: string;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: SupplementalGroupsPolicy;
  noNewPrivs?: boolean;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
  /** Deprecated upstream (`runtime/default`, `unconfined`, `localhost/<name>`); sent beside `apparmor`. */
  apparmorProfile?: string;
}

export interface LinuxContainerConfig {
  resources?: LinuxContainerResources;
  securityContext?: LinuxContainerSecurityContext;
}

export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: ImageSpec;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: KeyValue[];
  mounts?: Mount[];
  labels?: KeyValueMap;
  annotations?: KeyValueMap;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: LinuxContainerConfig;
}

export interface Container {
  id: string;
  podSandboxId: string;
  metadata: ContainerMetadata;
  image: ImageSpec;
  imageRef: string;
  state: ContainerState;
  createdAt: number; // ns
  labels: KeyValueMap;
  annotations: KeyValueMap;
}

export interface ContainerFilter {
  id?: string;
  state?: { state: ContainerState } | null;
  podSandboxId?: string;
  labelSelector?: KeyValueMap;
}

export interface ContainerStatus {
  id: string;
  metadata: ContainerMetadata;
  state: ContainerState;
  createdAt: number; // ns
  startedAt: number; // ns
  finishedAt: number; // ns
  exitCode: number;
  image: ImageSpec;
  imageRef: string;
  reason: string;
  message: string;
  labels: KeyValueMap;
  annotations: KeyValueMap;
  mounts: Mount[];
  logPath: string;
}

export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  uid: { value: number } | null;
  username: string;
  spec: ImageSpec | null;
  pinned: boolean;
}

export interface FilesystemUsage {
  timestamp: number;
  fsId: { mountpoint: string } | null;
  usedBytes: { value: number } | null;
  inodesUsed: { value: number } | null;
}

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

/** Per-call options. Every call carries a deadline; the default is the client's. */
export interface CallOptions {
  timeoutMs?: number;
}

export interface RuntimeService {
  version(opts?: CallOptions): Promise<VersionResponse>;
  status(opts?: CallOptions): Promise<StatusResponse>;
  runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string, opts?: CallOptions): Promise<string>;
  stopPodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void>;
  removePodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void>;
  podSandboxStatus(podSandboxId: string, opts?: CallOptions): Promise<PodSandboxStatus>;
  listPodSandbox(filter?: PodSandboxFilter, opts?: CallOptions): Promise<PodSandbox[]>;
  createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string>;
  startContainer(containerId: string, opts?: CallOptions): Promise<void>;
  stopContainer(containerId: string, timeoutSeconds: number, opts?: CallOptions): Promise<void>;
  removeContainer(containerId: string, opts?: CallOptions): Promise<void>;
  listContainers(filter?: ContainerFilter, opts?: CallOptions): Promise<Container[]>;
  containerStatus(containerId: string, opts?: CallOptions): Promise<ContainerStatus>;
  execSync(containerId: string, cmd: string[], timeoutSeconds: number, opts?: CallOptions): Promise<ExecSyncResponse>;
}

export interface ImageService {
  listImages(filter?: { image?: ImageSpec }, opts?: CallOptions): Promise<Image[]>;
  /** null when the image is not present (the runtime answers with an empty status). */
  imageStatus(image: ImageSpec, opts?: CallOptions): Promise<Image | null>;
  pullImage(image: ImageSpec, auth?: AuthConfig, sandboxConfig?: PodSandboxConfig, opts?: CallOptions): Promise<string>;
  removeImage(image: ImageSpec, opts?: CallOptions): Promise<void>;
  imageFsInfo(opts?: CallOptions): Promise<FilesystemUsage[]>;
}

/** CRI Exec: the streaming URL of a command in a container (the kubelet server proxies to it). */
export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** The CRI's streaming calls (only the real client has them: specs' fakes do not stream). */
export interface CriStreaming {
  exec(req: ExecRequest, opts?: CallOptions): Promise<string>;
  attach(req: Omit<ExecRequest, 'cmd'>, opts?: CallOptions): Promise<string>;
  portForward(podSandboxId: string, ports: number[], opts?: CallOptions): Promise<string>;
}

/** A uint64 wrapper's value (null: the runtime did not say). */
type Wrapped = { value: number } | null;

/** CRI CpuUsage: cumulative core-nanoseconds and the runtime's own rate, if any. */
export interface CpuUsage {
  timestamp: number;
  usageCoreNanoSeconds: Wrapped;
  usageNanoCores: Wrapped;
}

/** CRI MemoryUsage (bytes). */
export interface MemoryUsage {
  timestamp: number;
  workingSetBytes: Wrapped;
  availableBytes: Wrapped;
  usageBytes: Wrapped;
  rssBytes: Wrapped;
  pageFaults: Wrapped;
  majorPageFaults: Wrapped;
}

/** CRI ContainerStats (ListContainerStats). */
export interface ContainerStats {
  attributes: { id: string; metadata: ContainerMetadata; labels: KeyValueMap; annotations: KeyValueMap };
  cpu: CpuUsage | null;
  memory: MemoryUsage | null;
  writableLayer: FilesystemUsage | null;
}

export interface NetworkInterfaceUsage {
  name: string;
  rxBytes: Wrapped;
  rxErrors: Wrapped;
  txBytes: Wrapped;
  txErrors: Wrapped;
}

/** CRI PodSandboxStats (ListPodSandboxStats), linux only. */
export interface PodSandboxStats {
  attributes: { id: string; metadata: PodSandboxMetadata; labels: KeyValueMap; annotations: KeyValueMap };
  linux: {
    cpu: CpuUsage | null;
    memory: MemoryUsage | null;
    network: {
      timestamp: number;
      defaultInterface: NetworkInterfaceUsage | null;
      interfaces: NetworkInterfaceUsage[];
    } | null;
    process: { timestamp: number; processCount: Wrapped } | null;
    containers: ContainerStats[];
  } | null;
}

/**
 * The CRI's stats calls. ListPodSandboxStats may be Unimplemented (containerd 1.6): the stats
 * provider then sums the containers and reads the pod cgroup, as upstream's CRI stats provider.
 */
export interface CriStats {
  listContainerStats(filter?: { id?: string; podSandboxId?: string }, opts?: CallOptions): Promise<ContainerStats[]>;
  listPodSandboxStats(filter?: { id?: string }, opts?: CallOptions): Promise<PodSandboxStats[]>;
}

export interface CriRuntime extends RuntimeService, ImageService {
  close(): void;
}
