/**
 * The v1 Pod, as far as kubelet-ts reads or writes it: zod schemas first, TS types inferred.
 *
 * Field names are exactly the Kubernetes JSON API names. Every object is a loose object: fields
 * this file does not model are kept as they are (a user's `affinity` or a future field is never
 * lost on the way through), but the exported TS types list only the known fields, so a typo like
 * `pod.spec.contianers` is a compile error rather than an `unknown`.
 *
 * Missing values follow Go's zero values where upstream's types are non-pointer and consumers
 * key on them: `metadata.name/namespace/uid`, `container.name/image` decode to '' and
 * `spec.containers` to [], so "required" is reported by validation (validation.ts) with
 * upstream's message and field path instead of as a schema failure. Everything defaulted by
 * upstream's SetDefaults_* stays optional here; defaults.ts fills it in.
 *
 * Like Go's JSON decoder, `null` for an object field means "not set" (kubeadm manifests carry
 * `creationTimestamp: null` and `resources: {}`): PodSchema drops null-valued keys before parsing.
 */
import { z } from 'zod';

/**
 * The inferred type of a loose object carries `[k: string]: unknown`; drop it wherever the object
 * also has known keys (maps such as `labels` keep theirs), recursively.
 */
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: 0 };
export type Known<T> = T extends readonly (infer U)[]
  ? Known<U>[]
  : T extends object
    ? [KnownKeys<T>] extends [never]
      ? T
      : { [K in keyof T as string extends K ? never : number extends K ? never : K]: Known<T[K]> }
    : T;

/** Anything we pass through untouched (affinity, valueFrom, seLinuxOptions, ...). */
const Passthrough = z.record(z.string(), z.unknown());
const StringMap = z.record(z.string(), z.string());
/** RFC 3339 timestamp as the API serialises it (`2024-01-02T03:04:05Z`). */
const Time = z.string();
/** int32 fields (Go int32); int64 fields use z.int(). */
const Int32 = z.int32();
/** A port given by number or by name (IntOrString). */
const IntOrString = z.union([z.int32(), z.string()]);
/** A resource.Quantity as written: `"100m"`, `"1Gi"`, `2`, `0.5`. Parsed by quantity.ts. */
export const QuantitySchema = z.union([z.string(), z.number()]);
export type Quantity = z.infer<typeof QuantitySchema>;

// ---------------------------------------------------------------------------------------------
// metadata

export const OwnerReferenceSchema = z.looseObject({
  apiVersion: z.string().default(''),
  kind: z.string().default(''),
  name: z.string().default(''),
  uid: z.string().default(''),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = Known<z.infer<typeof OwnerReferenceSchema>>;

export const ObjectMetaSchema = z.looseObject({
  name: z.string().default(''),
  generateName: z.string().optional(),
  namespace: z.string().default(''),
  uid: z.string().default(''),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: Time.optional(),
  deletionTimestamp: Time.optional(),
  deletionGracePeriodSeconds: z.int().optional(),
  labels: StringMap.optional(),
  annotations: StringMap.optional(),
  ownerReferences: z.array(OwnerReferenceSchema).optional(),
  finalizers: z.array(z.string()).optional(),
});
export type ObjectMeta = Known<z.infer<typeof ObjectMetaSchema>>;

// ---------------------------------------------------------------------------------------------
// container pieces

export const EnvVarSchema = z.looseObject({
  name: z.string().default(''),
  value: z.string().optional(),
  /** fieldRef / resourceFieldRef / configMapKeyRef / secretKeyRef: passed through. */
  valueFrom: Passthrough.optional(),
});
export type EnvVar = Known<z.infer<typeof EnvVarSchema>>;

export const ContainerPortSchema = z.looseObject({
  name: z.string().optional(),
  containerPort: Int32.default(0),
  hostPort: Int32.optional(),
  /** TCP (default), UDP, SCTP. */
  protocol: z.string().optional(),
  hostIP: z.string().optional(),
});
export type ContainerPort = Known<z.infer<typeof ContainerPortSchema>>;

export const ResourceRequirementsSchema = z.looseObject({
  limits: z.record(z.string(), QuantitySchema).optional(),
  requests: z.record(z.string(), QuantitySchema).optional(),
  claims: z.array(Passthrough).optional(),
});
export type ResourceRequirements = Known<z.infer<typeof ResourceRequirementsSchema>>;

export const ExecActionSchema = z.looseObject({ command: z.array(z.string()).optional() });
export type ExecAction = Known<z.infer<typeof ExecActionSchema>>;

export const HTTPHeaderSchema = z.looseObject({ name: z.string().default(''), value: z.string().default('') });
export type HTTPHeader = Known<z.infer<typeof HTTPHeaderSchema>>;

export const HTTPGetActionSchema = z.looseObject({
  path: z.string().optional(),
  port: IntOrString,
  host: z.string().optional(),
  /** HTTP (default) or HTTPS. */
  scheme: z.string().optional(),
  httpHeaders: z.array(HTTPHeaderSchema).optional(),
});
export type HTTPGetAction = Known<z.infer<typeof HTTPGetActionSchema>>;

export const TCPSocketActionSchema = z.looseObject({ port: IntOrString, host: z.string().optional() });
export type TCPSocketAction = Known<z.infer<typeof TCPSocketActionSchema>>;

export const GRPCActionSchema = z.looseObject({ port: Int32, service: z.string().optional() });
export type GRPCAction = Known<z.infer<typeof GRPCActionSchema>>;

export const SleepActionSchema = z.looseObject({ seconds: z.int() });
export type SleepAction = Known<z.infer<typeof SleepActionSchema>>;

export const ProbeSchema = z.looseObject({
  exec: ExecActionSchema.optional(),
  httpGet: HTTPGetActionSchema.optional(),
  tcpSocket: TCPSocketActionSchema.optional(),
  grpc: GRPCActionSchema.optional(),
  initialDelaySeconds: Int32.optional(),
  timeoutSeconds: Int32.optional(),
  periodSeconds: Int32.optional(),
  successThreshold: Int32.optional(),
  failureThreshold: Int32.optional(),
  terminationGracePeriodSeconds: z.int().optional(),
});
export type Probe = Known<z.infer<typeof ProbeSchema>>;

export const LifecycleHandlerSchema = z.looseObject({
  exec: ExecActionSchema.optional(),
  httpGet: HTTPGetActionSchema.optional(),
  tcpSocket: TCPSocketActionSchema.optional(),
  sleep: SleepActionSchema.optional(),
});
export type LifecycleHandler = Known<z.infer<typeof LifecycleHandlerSchema>>;

export const LifecycleSchema = z.looseObject({
  postStart: LifecycleHandlerSchema.optional(),
  preStop: LifecycleHandlerSchema.optional(),
  stopSignal: z.string().optional(),
});
export type Lifecycle = Known<z.infer<typeof LifecycleSchema>>;

export const VolumeMountSchema = z.looseObject({
  name: z.string().default(''),
  mountPath: z.string().default(''),
  readOnly: z.boolean().optional(),
  subPath: z.string().optional(),
  subPathExpr: z.string().optional(),
  /** None (default), HostToContainer, Bidirectional. */
  mountPropagation: z.string().optional(),
  recursiveReadOnly: z.string().optional(),
});
export type VolumeMount = Known<z.infer<typeof VolumeMountSchema>>;

export const CapabilitiesSchema = z.looseObject({
  add: z.array(z.string()).optional(),
  drop: z.array(z.string()).optional(),
});
export type Capabilities = Known<z.infer<typeof CapabilitiesSchema>>;

export const SeccompProfileSchema = z.looseObject({
  /** RuntimeDefault, Unconfined, Localhost. */
  type: z.string().default(''),
  localhostProfile: z.string().optional(),
});
export type SeccompProfile = Known<z.infer<typeof SeccompProfileSchema>>;

/** The same shape as seccompProfile (for AppArmor, localhostProfile is a profile name). */
const AppArmorProfileSchema = SeccompProfileSchema;
export type AppArmorProfile = Known<z.infer<typeof AppArmorProfileSchema>>;

export const SELinuxOptionsSchema = z.looseObject({
  user: z.string().optional(),
  role: z.string().optional(),
  type: z.string().optional(),
  level: z.string().optional(),
});

/** Container-level securityContext (v1.SecurityContext). */
export const SecurityContextSchema = z.looseObject({
  privileged: z.boolean().optional(),
  capabilities: CapabilitiesSchema.optional(),
  runAsUser: z.int().optional(),
  runAsGroup: z.int().optional(),
  runAsNonRoot: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  procMount: z.string().optional(),
  seccompProfile: SeccompProfileSchema.optional(),
  appArmorProfile: AppArmorProfileSchema.optional(),
  seLinuxOptions: SELinuxOptionsSchema.optional(),
  windowsOptions: Passthrough.optional(),
});
export type SecurityContext = Known<z.infer<typeof SecurityContextSchema>>;

/** Pod-level securityContext (v1.PodSecurityContext). */
export const PodSecurityContextSchema = z.looseObject({
  runAsUser: z.int().optional(),
  runAsGroup: z.int().optional(),
  runAsNonRoot: z.boolean().optional(),
  fsGroup: z.int().optional(),
  fsGroupChangePolicy: z.string().optional(),
  supplementalGroups: z.array(z.int()).optional(),
  supplementalGroupsPolicy: z.string().optional(),
  sysctls: z.array(z.looseObject({ name: z.string().default(''), value: z.string().default('') })).optional(),
  seccompProfile: SeccompProfileSchema.optional(),
  appArmorProfile: AppArmorProfileSchema.optional(),
  seLinuxOptions: SELinuxOptionsSchema.optional(),
  windowsOptions: Passthrough.optional(),
});
export type PodSecurityContext = Known<z.infer<typeof PodSecurityContextSchema>>;

export const ContainerSchema = z.looseObject({
  name: z.string().default(''),
  image: z.string().default(''),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  workingDir: z.string().optional(),
  ports: z.array(ContainerPortSchema).optional(),
  env: z.array(EnvVarSchema).optional(),
  /** configMapRef / secretRef sources: passed through. */
  envFrom: z.array(Passthrough).optional(),
  resources: ResourceRequirementsSchema.optional(),
  resizePolicy: z.array(Passthrough).optional(),
  /** Only on init containers: `Always` makes it a sidecar. */
  restartPolicy: z.string().optional(),
  volumeMounts: z.array(VolumeMountSchema).optional(),
  volumeDevices: z.array(Passthrough).optional(),
  livenessProbe: ProbeSchema.optional(),
  readinessProbe: ProbeSchema.optional(),
  startupProbe: ProbeSchema.optional(),
  lifecycle: LifecycleSchema.optional(),
  terminationMessagePath: z.string().optional(),
  /** File (default) or FallbackToLogsOnError. */
  terminationMessagePolicy: z.string().optional(),
  /** Always, IfNotPresent, Never. */
  imagePullPolicy: z.string().optional(),
  securityContext: SecurityContextSchema.optional(),
  stdin: z.boolean().optional(),
  stdinOnce: z.boolean().optional(),
  tty: z.boolean().optional(),
});
export type Container = Known<z.infer<typeof ContainerSchema>>;

// ---------------------------------------------------------------------------------------------
// volumes

export const KeyToPathSchema = z.looseObject({
  key: z.string().default(''),
  path: z.string().default(''),
  mode: Int32.optional(),
});
export type KeyToPath = Known<z.infer<typeof KeyToPathSchema>>;

export const EmptyDirVolumeSourceSchema = z.looseObject({
  /** '' (node disk) or Memory. */
  medium: z.string().optional(),
  sizeLimit: QuantitySchema.optional(),
});
export const HostPathVolumeSourceSchema = z.looseObject({
  path: z.string().default(''),
  /** '', DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice. */
  type: z.string().optional(),
});
export const ConfigMapVolumeSourceSchema = z.looseObject({
  name: z.string().optional(),
  items: z.array(KeyToPathSchema).optional(),
  defaultMode: Int32.optional(),
  optional: z.boolean().optional(),
});
export const SecretVolumeSourceSchema = z.looseObject({
  secretName: z.string().optional(),
  items: z.array(KeyToPathSchema).optional(),
  defaultMode: Int32.optional(),
  optional: z.boolean().optional(),
});

/** A volume: the four sources kubelet-ts mounts are modelled; any other source passes through. */
export const VolumeSchema = z.looseObject({
  name: z.string().default(''),
  emptyDir: EmptyDirVolumeSourceSchema.optional(),
  hostPath: HostPathVolumeSourceSchema.optional(),
  configMap: ConfigMapVolumeSourceSchema.optional(),
  secret: SecretVolumeSourceSchema.optional(),
  projected: Passthrough.optional(),
  downwardAPI: Passthrough.optional(),
  persistentVolumeClaim: Passthrough.optional(),
});
export type Volume = Known<z.infer<typeof VolumeSchema>>;

// ---------------------------------------------------------------------------------------------
// spec

export const TolerationSchema = z.looseObject({
  key: z.string().optional(),
  /** Exists or Equal (default). */
  operator: z.string().optional(),
  value: z.string().optional(),
  /** NoSchedule, PreferNoSchedule, NoExecute; empty matches all. */
  effect: z.string().optional(),
  tolerationSeconds: z.int().optional(),
});
export type Toleration = Known<z.infer<typeof TolerationSchema>>;

export const PodSpecSchema = z.looseObject({
  containers: z.array(ContainerSchema).default([]),
  initContainers: z.array(ContainerSchema).optional(),
  ephemeralContainers: z.array(Passthrough).optional(),
  volumes: z.array(VolumeSchema).optional(),
  /** Always (default), OnFailure, Never. */
  restartPolicy: z.string().optional(),
  terminationGracePeriodSeconds: z.int().optional(),
  activeDeadlineSeconds: z.int().optional(),
  /** ClusterFirst (default), ClusterFirstWithHostNet, Default, None. */
  dnsPolicy: z.string().optional(),
  dnsConfig: Passthrough.optional(),
  nodeSelector: StringMap.optional(),
  serviceAccountName: z.string().optional(),
  /** Deprecated alias of serviceAccountName. */
  serviceAccount: z.string().optional(),
  automountServiceAccountToken: z.boolean().optional(),
  nodeName: z.string().optional(),
  hostNetwork: z.boolean().optional(),
  hostPID: z.boolean().optional(),
  hostIPC: z.boolean().optional(),
  shareProcessNamespace: z.boolean().optional(),
  securityContext: PodSecurityContextSchema.optional(),
  imagePullSecrets: z.array(z.looseObject({ name: z.string().optional() })).optional(),
  hostname: z.string().optional(),
  subdomain: z.string().optional(),
  affinity: Passthrough.optional(),
  schedulerName: z.string().optional(),
  tolerations: z.array(TolerationSchema).optional(),
  hostAliases: z.array(Passthrough).optional(),
  priorityClassName: z.string().optional(),
  priority: Int32.optional(),
  preemptionPolicy: z.string().optional(),
  runtimeClassName: z.string().optional(),
  enableServiceLinks: z.boolean().optional(),
  overhead: z.record(z.string(), QuantitySchema).optional(),
  readinessGates: z.array(Passthrough).optional(),
  topologySpreadConstraints: z.array(Passthrough).optional(),
  os: z.looseObject({ name: z.string().default('') }).optional(),
  hostUsers: z.boolean().optional(),
});
export type PodSpec = Known<z.infer<typeof PodSpecSchema>>;

// ---------------------------------------------------------------------------------------------
// status

export const ContainerStateWaitingSchema = z.looseObject({
  reason: z.string().optional(),
  message: z.string().optional(),
});
export const ContainerStateRunningSchema = z.looseObject({
  startedAt: Time.optional(),
});
export const ContainerStateTerminatedSchema = z.looseObject({
  exitCode: Int32.default(0),
  signal: Int32.optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  startedAt: Time.optional(),
  finishedAt: Time.optional(),
  containerID: z.string().optional(),
});
/** At most one of waiting/running/terminated is set; none means waiting. */
export const ContainerStateSchema = z.looseObject({
  waiting: ContainerStateWaitingSchema.optional(),
  running: ContainerStateRunningSchema.optional(),
  terminated: ContainerStateTerminatedSchema.optional(),
});
export type ContainerStateWaiting = Known<z.infer<typeof ContainerStateWaitingSchema>>;
export type ContainerStateRunning = Known<z.infer<typeof ContainerStateRunningSchema>>;
export type ContainerStateTerminated = Known<z.infer<typeof ContainerStateTerminatedSchema>>;
export type ContainerState = Known<z.infer<typeof ContainerStateSchema>>;

export const ContainerStatusSchema = z.looseObject({
  name: z.string().default(''),
  state: ContainerStateSchema.optional(),
  lastState: ContainerStateSchema.optional(),
  ready: z.boolean().default(false),
  restartCount: Int32.default(0),
  image: z.string().default(''),
  imageID: z.string().default(''),
  /** `<runtime>://<id>`, e.g. `containerd://0123...`. */
  containerID: z.string().optional(),
  started: z.boolean().optional(),
  allocatedResources: z.record(z.string(), QuantitySchema).optional(),
  resources: ResourceRequirementsSchema.optional(),
  user: Passthrough.optional(),
  volumeMounts: z.array(Passthrough).optional(),
  stopSignal: z.string().optional(),
});
export type ContainerStatus = Known<z.infer<typeof ContainerStatusSchema>>;

export const PodConditionSchema = z.looseObject({
  /** PodScheduled, PodReadyToStartContainers, Initialized, ContainersReady, Ready, ... */
  type: z.string().default(''),
  /** True, False, Unknown. */
  status: z.string().default(''),
  observedGeneration: z.int().optional(),
  lastProbeTime: Time.optional(),
  lastTransitionTime: Time.optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
});
export type PodCondition = Known<z.infer<typeof PodConditionSchema>>;

export const PodIPSchema = z.looseObject({ ip: z.string().default('') });
export type PodIP = Known<z.infer<typeof PodIPSchema>>;

/** Condition types the kubelet owns and writes (upstream PodConditionsByKubelet, with PodReadyToStartContainers); others are preserved. */
export const KUBELET_OWNED_CONDITIONS: readonly string[] = [
  'PodScheduled',
  'Ready',
  'Initialized',
  'ContainersReady',
  'PodReadyToStartContainers',
];

/** A container the runtime no longer has, reported terminated (exit 137) when its pod was terminated (upstream). */
export const CONTAINER_STATUS_UNKNOWN = 'ContainerStatusUnknown';
export const CONTAINER_GONE_AT_TERMINATION = 'The container could not be located when the pod was terminated';

/** Succeeded or Failed: a pod in a terminal phase never runs again. */
export function isTerminalPhase(phase: string | undefined): phase is 'Succeeded' | 'Failed' {
  return phase === 'Succeeded' || phase === 'Failed';
}

export const PodStatusSchema = z.looseObject({
  /** Pending, Running, Succeeded, Failed, Unknown. */
  phase: z.string().optional(),
  observedGeneration: z.int().optional(),
  conditions: z.array(PodConditionSchema).optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  nominatedNodeName: z.string().optional(),
  hostIP: z.string().optional(),
  hostIPs: z.array(PodIPSchema).optional(),
  podIP: z.string().optional(),
  podIPs: z.array(PodIPSchema).optional(),
  startTime: Time.optional(),
  initContainerStatuses: z.array(ContainerStatusSchema).optional(),
  containerStatuses: z.array(ContainerStatusSchema).optional(),
  ephemeralContainerStatuses: z.array(ContainerStatusSchema).optional(),
  /** Guaranteed, Burstable, BestEffort. */
  qosClass: z.string().optional(),
  resize: z.string().optional(),
});
export type PodStatus = Known<z.infer<typeof PodStatusSchema>>;

// ---------------------------------------------------------------------------------------------
// pod

/** Go's decoder treats `"field": null` as "not set"; so do we (object keys only, recursively). */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v);
    return out;
  }
  return value;
}

export const PodObjectSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: ObjectMetaSchema.prefault({}),
  spec: PodSpecSchema.prefault({}),
  status: PodStatusSchema.optional(),
});

/** Parse any v1 Pod JSON (API object or manifest). Nulls are dropped first, as Go would. */
export const PodSchema = z.preprocess(dropNulls, PodObjectSchema);
export type Pod = Known<z.infer<typeof PodObjectSchema>>;
