/**
 * The gRPC client for a CRI runtime (containerd, CRI-O) speaking runtime.v1 over a unix socket.
 *
 * Wire plumbing only: every call gets a deadline, every gRPC failure becomes a CriError naming
 * the method, and every response is reshaped into the types.ts contract so that callers (and the
 * in-memory fake) never see proto-loader's nulls and Longs.
 *
 * Timing follows upstream kubelet's remote runtime: a default per-call deadline of 2 minutes
 * (--runtime-request-timeout); StopContainer and ExecSync get that plus their own timeout, since
 * the runtime is allowed to spend the whole grace period / exec timeout before answering.
 * Calls never wait for the channel to become ready: a missing or refusing socket fails the call
 * at once with Unavailable instead of queueing it until the deadline.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { RealClock } from '../../kernel/clock.ts';
import { CriError, type CriErrorKind } from '../../protocols/cri/errors.ts';
import type {
  AuthConfig,
  CallOptions,
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerMetadata,
  ContainerStatus,
  CriRuntime,
  CriStats,
  CriStreaming,
  ContainerStats,
  CpuUsage,
  MemoryUsage,
  NetworkInterfaceUsage,
  PodSandboxStats,
  ExecSyncResponse,
  FilesystemUsage,
  Image,
  ImageSpec,
  KeyValueMap,
  Mount,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxMetadata,
  PodSandboxNetworkStatus,
  PodSandboxStatus,
  StatusResponse,
  VersionResponse,
} from '../../protocols/cri/types.ts';

/** Upstream kubelet's default --runtime-request-timeout. */
export const DEFAULT_CRI_TIMEOUT_MS = 2 * 60 * 1000;

/** Upstream kubelet's max gRPC message size for the CRI connection (16 MiB). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** The CRI API version this client speaks (VersionRequest.version). */
const CRI_API_VERSION = 'v1';

export interface CriClientOptions {
  /** Default deadline per call; CallOptions.timeoutMs overrides it for one call. */
  timeoutMs?: number;
}

const PROTO_PATH = join(import.meta.dirname, '..', '..', 'protocols', 'cri', 'runtime.proto');

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

type UnaryCallback = (err: grpc.ServiceError | null, res: unknown) => void;
type UnaryMethod = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: UnaryCallback,
) => grpc.ClientUnaryCall;
type ServiceClient = grpc.Client & Record<string, UnaryMethod>;
type ServiceCtor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => ServiceClient;

let servicesCache: { runtime: ServiceCtor; image: ServiceCtor } | undefined;

/** The proto is parsed once per process; every client shares the generated constructors. */
function services(): { runtime: ServiceCtor; image: ServiceCtor } {
  if (servicesCache) return servicesCache;
  const definition = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } };
  };
  servicesCache = { runtime: pkg.runtime.v1.RuntimeService, image: pkg.runtime.v1.ImageService };
  return servicesCache;
}

/**
 * `unix:///run/containerd/containerd.sock`, `unix:/path`, a bare absolute path, or host:port.
 * Returns the gRPC target string.
 */
export function criTarget(endpoint: string): string {
  const e = endpoint.trim();
  if (e.startsWith('unix:')) return e;
  if (e.startsWith('/')) return `unix://${e}`;
  if (e.startsWith('tcp://')) return e.slice('tcp://'.length);
  return e;
}

/**
 * The one place the client turns a relative timeout into the absolute gRPC deadline. gRPC
 * deadlines are wall-clock time on the wire, whatever clock drives the actors, so this reads
 * the RealClock.
 */
const wallClock = new RealClock();
function deadlineAfter(ms: number): Date {
  return new Date(wallClock.now() + ms);
}

const KIND_BY_CODE: Partial<Record<number, CriErrorKind>> = {
  [grpc.status.INVALID_ARGUMENT]: 'InvalidArgument',
  [grpc.status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [grpc.status.NOT_FOUND]: 'NotFound',
  [grpc.status.ALREADY_EXISTS]: 'AlreadyExists',
  [grpc.status.FAILED_PRECONDITION]: 'FailedPrecondition',
  [grpc.status.UNIMPLEMENTED]: 'Unimplemented',
  [grpc.status.UNAVAILABLE]: 'Unavailable',
};

function toCriError(err: unknown, method: string, target: string, timeoutMs: number): CriError {
  const e = err as Partial<grpc.ServiceError> | undefined;
  const code = typeof e?.code === 'number' ? e.code : grpc.status.UNKNOWN;
  const kind = KIND_BY_CODE[code] ?? 'Unknown';
  // grpc-js appends an empty "Resolution note:" to connection failures; drop the noise
  const details = (e?.details || e?.message || String(err)).replace(/\s*Resolution note:\s*$/, '').trim();
  let message = details;
  if (kind === 'Unavailable') message = `runtime at ${target} is unavailable: ${details}`;
  else if (kind === 'DeadlineExceeded')
    message = `runtime at ${target} did not answer within ${timeoutMs}ms: ${details}`;
  return new CriError(kind, code, method, message);
}

// ---- response shaping --------------------------------------------------------------------------
// proto-loader with defaults: true fills scalars, lists and maps, but leaves absent sub-messages
// null; these helpers give callers the exact types.ts shapes.

type Raw = Record<string, unknown> | null | undefined;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) || 0 : 0);
const bool = (v: unknown): boolean => v === true;
const map = (v: unknown): KeyValueMap => (v && typeof v === 'object' ? { ...(v as KeyValueMap) } : {});
const list = (v: unknown): Raw[] => (Array.isArray(v) ? (v as Raw[]) : []);
const strList = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
const wrapped = (v: Raw): { value: number } | null => (v ? { value: num(v.value) } : null);
function buf(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  return Buffer.alloc(0);
}

function sandboxMetadata(r: Raw): PodSandboxMetadata {
  return { name: str(r?.name), uid: str(r?.uid), namespace: str(r?.namespace), attempt: num(r?.attempt) };
}

function containerMetadata(r: Raw): ContainerMetadata {
  return { name: str(r?.name), attempt: num(r?.attempt) };
}

function imageSpec(r: Raw): ImageSpec {
  return { image: str(r?.image), annotations: map(r?.annotations) };
}

function mount(r: Raw): Mount {
  return {
    containerPath: str(r?.containerPath),
    hostPath: str(r?.hostPath),
    readonly: bool(r?.readonly),
    selinuxRelabel: bool(r?.selinuxRelabel),
    propagation: (str(r?.propagation) || 'PROPAGATION_PRIVATE') as Mount['propagation'],
  };
}

function network(r: Raw): PodSandboxNetworkStatus | null {
  if (!r) return null;
  return { ip: str(r.ip), additionalIps: list(r.additionalIps).map((p) => ({ ip: str(p?.ip) })) };
}

function podSandboxStatus(r: Raw): PodSandboxStatus {
  return {
    id: str(r?.id),
    metadata: sandboxMetadata(r?.metadata as Raw),
    state: (str(r?.state) || 'SANDBOX_NOTREADY') as PodSandboxStatus['state'],
    createdAt: num(r?.createdAt),
    network: network(r?.network as Raw),
    labels: map(r?.labels),
    annotations: map(r?.annotations),
    runtimeHandler: str(r?.runtimeHandler),
  };
}

function podSandbox(r: Raw): PodSandbox {
  return {
    id: str(r?.id),
    metadata: sandboxMetadata(r?.metadata as Raw),
    state: (str(r?.state) || 'SANDBOX_NOTREADY') as PodSandbox['state'],
    createdAt: num(r?.createdAt),
    labels: map(r?.labels),
    annotations: map(r?.annotations),
    runtimeHandler: str(r?.runtimeHandler),
  };
}

function container(r: Raw): Container {
  return {
    id: str(r?.id),
    podSandboxId: str(r?.podSandboxId),
    metadata: containerMetadata(r?.metadata as Raw),
    image: imageSpec(r?.image as Raw),
    imageRef: str(r?.imageRef),
    state: (str(r?.state) || 'CONTAINER_UNKNOWN') as Container['state'],
    createdAt: num(r?.createdAt),
    labels: map(r?.labels),
    annotations: map(r?.annotations),
  };
}

function containerStatus(r: Raw): ContainerStatus {
  return {
    id: str(r?.id),
    metadata: containerMetadata(r?.metadata as Raw),
    state: (str(r?.state) || 'CONTAINER_UNKNOWN') as ContainerStatus['state'],
    createdAt: num(r?.createdAt),
    startedAt: num(r?.startedAt),
    finishedAt: num(r?.finishedAt),
    exitCode: num(r?.exitCode),
    image: imageSpec(r?.image as Raw),
    imageRef: str(r?.imageRef),
    reason: str(r?.reason),
    message: str(r?.message),
    labels: map(r?.labels),
    annotations: map(r?.annotations),
    mounts: list(r?.mounts).map(mount),
    logPath: str(r?.logPath),
  };
}

function image(r: Raw): Image {
  return {
    id: str(r?.id),
    repoTags: strList(r?.repoTags),
    repoDigests: strList(r?.repoDigests),
    size: num(r?.size),
    uid: wrapped(r?.uid as Raw),
    username: str(r?.username),
    spec: r?.spec ? imageSpec(r.spec as Raw) : null,
    pinned: bool(r?.pinned),
  };
}

function filesystemUsage(r: Raw): FilesystemUsage {
  const fsId = r?.fsId as Raw;
  return {
    timestamp: num(r?.timestamp),
    fsId: fsId ? { mountpoint: str(fsId.mountpoint) } : null,
    usedBytes: wrapped(r?.usedBytes as Raw),
    inodesUsed: wrapped(r?.inodesUsed as Raw),
  };
}

function cpuUsage(r: Raw): CpuUsage | null {
  if (!r) return null;
  return {
    timestamp: num(r.timestamp),
    usageCoreNanoSeconds: wrapped(r.usageCoreNanoSeconds as Raw),
    usageNanoCores: wrapped(r.usageNanoCores as Raw),
  };
}

function memoryUsage(r: Raw): MemoryUsage | null {
  if (!r) return null;
  return {
    timestamp: num(r.timestamp),
    workingSetBytes: wrapped(r.workingSetBytes as Raw),
    availableBytes: wrapped(r.availableBytes as Raw),
    usageBytes: wrapped(r.usageBytes as Raw),
    rssBytes: wrapped(r.rssBytes as Raw),
    pageFaults: wrapped(r.pageFaults as Raw),
    majorPageFaults: wrapped(r.majorPageFaults as Raw),
  };
}

function containerStats(r: Raw): ContainerStats {
  const a = r?.attributes as Raw;
  return {
    attributes: {
      id: str(a?.id),
      metadata: containerMetadata(a?.metadata as Raw),
      labels: map(a?.labels),
      annotations: map(a?.annotations),
    },
    cpu: cpuUsage(r?.cpu as Raw),
    memory: memoryUsage(r?.memory as Raw),
    writableLayer: r?.writableLayer ? filesystemUsage(r.writableLayer as Raw) : null,
  };
}

function netIf(r: Raw): NetworkInterfaceUsage {
  return {
    name: str(r?.name),
    rxBytes: wrapped(r?.rxBytes as Raw),
    rxErrors: wrapped(r?.rxErrors as Raw),
    txBytes: wrapped(r?.txBytes as Raw),
    txErrors: wrapped(r?.txErrors as Raw),
  };
}

function podSandboxStats(r: Raw): PodSandboxStats {
  const a = r?.attributes as Raw;
  const l = r?.linux as Raw;
  const n = l?.network as Raw;
  const p = l?.process as Raw;
  return {
    attributes: {
      id: str(a?.id),
      metadata: sandboxMetadata(a?.metadata as Raw),
      labels: map(a?.labels),
      annotations: map(a?.annotations),
    },
    linux: l
      ? {
          cpu: cpuUsage(l.cpu as Raw),
          memory: memoryUsage(l.memory as Raw),
          network: n
            ? {
                timestamp: num(n.timestamp),
                defaultInterface: n.defaultInterface ? netIf(n.defaultInterface as Raw) : null,
                interfaces: list(n.interfaces).map(netIf),
              }
            : null,
          process: p ? { timestamp: num(p.timestamp), processCount: wrapped(p.processCount as Raw) } : null,
          containers: list(l.containers).map(containerStats),
        }
      : null,
  };
}

// ---- the client ----------------------------------------------------------------------------

/**
 * A CRI client for `endpoint` (e.g. `unix:///run/containerd/containerd.sock` or a bare socket
 * path). Creating it does not connect; the first call does.
 */
/** The `url` of a streaming call's answer; none is an error naming the call and the object. */
function streamingUrl(call: string, r: { url?: unknown } | null | undefined, of: string): string {
  const url = typeof r?.url === 'string' ? r.url : '';
  if (!url) throw new CriError('Unknown', grpc.status.UNKNOWN, call, `runtime returned no streaming URL for ${of}`);
  return url;
}

export function createCriClient(endpoint: string, opts: CriClientOptions = {}): CriRuntime & CriStreaming & CriStats {
  const target = criTarget(endpoint);
  const defaultTimeoutMs = opts.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS;
  const { runtime: RuntimeCtor, image: ImageCtor } = services();
  const channelOptions: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // After a runtime restart the channel must come back within seconds, not grpc's 2 minutes.
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2000,
  };
  const runtimeClient = new RuntimeCtor(target, grpc.credentials.createInsecure(), channelOptions);
  // Share the runtime client's channel: one connection to the socket, like upstream.
  const imageClient = new ImageCtor(target, grpc.credentials.createInsecure(), {
    ...channelOptions,
    channelOverride: runtimeClient.getChannel(),
  });

  function call<T = Raw>(
    client: ServiceClient,
    method: string,
    req: object,
    callOpts: CallOptions | undefined,
    extraMs = 0,
  ): Promise<T> {
    const timeoutMs = callOpts?.timeoutMs ?? defaultTimeoutMs + extraMs;
    return new Promise<T>((resolve, reject) => {
      const fn = client[method.charAt(0).toLowerCase() + method.slice(1)];
      if (typeof fn !== 'function') {
        reject(
          new CriError('Unimplemented', grpc.status.UNIMPLEMENTED, method, `method ${method} is not in runtime.proto`),
        );
        return;
      }
      try {
        fn.call(
          client,
          req,
          new grpc.Metadata(),
          { deadline: deadlineAfter(timeoutMs), waitForReady: false },
          (err, res) => {
            if (err) reject(toCriError(err, method, target, timeoutMs));
            else resolve(res as T);
          },
        );
      } catch (err) {
        // Serialization failures (a bad enum name, a wrong type) surface synchronously.
        reject(toCriError(err, method, target, timeoutMs));
      }
    });
  }

  const rt = (method: string, req: object, o?: CallOptions, extraMs?: number) =>
    call<Raw>(runtimeClient, method, req, o, extraMs);
  const img = (method: string, req: object, o?: CallOptions) => call<Raw>(imageClient, method, req, o);

  return {
    async version(o) {
      const r = await rt('Version', { version: CRI_API_VERSION }, o);
      const res: VersionResponse = {
        version: str(r?.version),
        runtimeName: str(r?.runtimeName),
        runtimeVersion: str(r?.runtimeVersion),
        runtimeApiVersion: str(r?.runtimeApiVersion),
      };
      return res;
    },

    async status(o) {
      const r = await rt('Status', { verbose: false }, o);
      const status = r?.status as Raw;
      const res: StatusResponse = {
        status: status
          ? {
              conditions: list(status.conditions).map((c) => ({
                type: str(c?.type),
                status: bool(c?.status),
                reason: str(c?.reason),
                message: str(c?.message),
              })),
            }
          : null,
        info: map(r?.info),
      };
      return res;
    },

    async runPodSandbox(config: PodSandboxConfig, runtimeHandler = '', o) {
      const r = await rt('RunPodSandbox', { config, runtimeHandler }, o);
      return str(r?.podSandboxId);
    },

    async stopPodSandbox(podSandboxId, o) {
      await rt('StopPodSandbox', { podSandboxId }, o);
    },

    async removePodSandbox(podSandboxId, o) {
      await rt('RemovePodSandbox', { podSandboxId }, o);
    },

    async podSandboxStatus(podSandboxId, o) {
      const r = await rt('PodSandboxStatus', { podSandboxId, verbose: false }, o);
      if (!r?.status) {
        throw new CriError(
          'NotFound',
          grpc.status.NOT_FOUND,
          'PodSandboxStatus',
          `runtime returned no status for sandbox ${podSandboxId}`,
        );
      }
      return podSandboxStatus(r.status as Raw);
    },

    async listPodSandbox(filter?: PodSandboxFilter, o?: CallOptions) {
      const r = await rt('ListPodSandbox', filter ? { filter } : {}, o);
      return list(r?.items).map(podSandbox);
    },

    async createContainer(
      podSandboxId: string,
      config: ContainerConfig,
      sandboxConfig: PodSandboxConfig,
      o?: CallOptions,
    ) {
      const r = await rt('CreateContainer', { podSandboxId, config, sandboxConfig }, o);
      return str(r?.containerId);
    },

    async startContainer(containerId, o) {
      await rt('StartContainer', { containerId }, o);
    },

    async stopContainer(containerId, timeoutSeconds, o) {
      const timeout = Math.max(0, Math.floor(timeoutSeconds));
      await rt('StopContainer', { containerId, timeout }, o, timeout * 1000);
    },

    async removeContainer(containerId, o) {
      await rt('RemoveContainer', { containerId }, o);
    },

    async listContainers(filter?: ContainerFilter, o?: CallOptions) {
      const r = await rt('ListContainers', filter ? { filter } : {}, o);
      return list(r?.containers).map(container);
    },

    async containerStatus(containerId, o) {
      const r = await rt('ContainerStatus', { containerId, verbose: false }, o);
      if (!r?.status) {
        throw new CriError(
          'NotFound',
          grpc.status.NOT_FOUND,
          'ContainerStatus',
          `runtime returned no status for container ${containerId}`,
        );
      }
      return containerStatus(r.status as Raw);
    },

    async execSync(containerId, cmd, timeoutSeconds, o) {
      const timeout = Math.max(0, Math.floor(timeoutSeconds));
      const r = await rt('ExecSync', { containerId, cmd, timeout }, o, timeout * 1000);
      const res: ExecSyncResponse = { stdout: buf(r?.stdout), stderr: buf(r?.stderr), exitCode: num(r?.exitCode) };
      return res;
    },

    async exec(req, o) {
      return streamingUrl('Exec', await rt('Exec', { ...req }, o), req.containerId);
    },
    async attach(req, o) {
      return streamingUrl('Attach', await rt('Attach', { ...req }, o), req.containerId);
    },
    async portForward(podSandboxId, port, o) {
      return streamingUrl('PortForward', await rt('PortForward', { podSandboxId, port }, o), podSandboxId);
    },

    async listContainerStats(filter, o) {
      const r = await rt('ListContainerStats', filter ? { filter } : {}, o);
      return list(r?.stats).map(containerStats);
    },
    async listPodSandboxStats(filter, o) {
      const r = await rt('ListPodSandboxStats', filter ? { filter } : {}, o);
      return list(r?.stats).map(podSandboxStats);
    },

    async listImages(filter?: { image?: ImageSpec }, o?: CallOptions) {
      const r = await img('ListImages', filter ? { filter } : {}, o);
      return list(r?.images).map(image);
    },

    async imageStatus(spec: ImageSpec, o?: CallOptions) {
      const r = await img('ImageStatus', { image: spec, verbose: false }, o);
      const raw = r?.image as Raw;
      // The runtime answers an absent image with an empty response, not NotFound.
      if (!raw || str(raw.id) === '') return null;
      return image(raw);
    },

    async pullImage(spec: ImageSpec, auth?: AuthConfig, sandboxConfig?: PodSandboxConfig, o?: CallOptions) {
      const req: Record<string, unknown> = { image: spec };
      if (auth) req.auth = auth;
      if (sandboxConfig) req.sandboxConfig = sandboxConfig;
      const r = await img('PullImage', req, o);
      return str(r?.imageRef);
    },

    async removeImage(spec: ImageSpec, o?: CallOptions) {
      await img('RemoveImage', { image: spec }, o);
    },

    async imageFsInfo(o?: CallOptions) {
      const r = await img('ImageFsInfo', {}, o);
      return list(r?.imageFilesystems).map(filesystemUsage);
    },

    close() {
      imageClient.close();
      runtimeClient.close();
    },
  };
}
