/**
 * FakeCri: an in-memory CRI runtime (RuntimeService + ImageService) that answers the way
 * containerd's CRI plugin does for the subset kubelet-ts uses. Every actor spec runs against it;
 * replay specs compare its `calls` log.
 *
 * What it keeps from containerd (internal/cri/server):
 * - ids are 64 hex digits (here sha256 of a counter, so a replay gets the same ids), and any
 *   unique prefix of an id is accepted where containerd accepts one (truncindex);
 * - names are reserved like containerd's registrar: a second RunPodSandbox with the same
 *   metadata (name_namespace_uid_attempt), or CreateContainer with the same container name and
 *   attempt in the same pod, fails with `failed to reserve … name … is reserved for …`
 *   (FailedPrecondition) until the holder is removed;
 * - Status/inspection of an unknown id is NotFound; Stop* and Remove* of an unknown id succeed
 *   (both are idempotent in the CRI spec and in containerd);
 * - StopContainer only acts on RUNNING/UNKNOWN containers; StopPodSandbox kills the sandbox's
 *   containers (timeout 0, exit 137) and the sandbox becomes NOTREADY and loses its IP;
 *   RemovePodSandbox stops it, then removes its containers; RemoveContainer of a running
 *   container stops it first;
 * - CreateContainer / StartContainer need a READY sandbox (`sandbox container "…" is not
 *   running`), StartContainer a CREATED container (`container is in CONTAINER_RUNNING state`),
 *   ExecSync a RUNNING one; CreateContainer needs the image locally (`failed to resolve image`);
 * - an exited container's reason defaults to Completed (exit 0) or Error;
 * - ImageStatus of an absent image is an empty answer (null); images resolve by id or by the
 *   normalised reference (`busybox` → `docker.io/library/busybox:latest`); RemoveImage of an
 *   absent image succeeds; ListImages ignores its filter (containerd does);
 * - pod IPs come from the default bridge network 10.88.0.0/16 (first pod 10.88.0.2); a
 *   host-network sandbox (namespaceOptions.network NODE) has no IP.
 * Times are the injected clock's, in nanoseconds.
 *
 * Test controls: addImage, failPull, setPullDelay, onExec, exitContainer, setDown (every call
 * rejects with Unavailable), setHang (every call waits for its deadline, then DeadlineExceeded),
 * setRuntimeReady / setNetworkReady, and `calls`, the ordered log of every call made.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../kernel/clock.ts';
import { CriError } from '../../protocols/cri/errors.ts';
import type { CriErrorKind } from '../../protocols/cri/errors.ts';
import type {
  AuthConfig,
  CallOptions,
  Container,
  ContainerConfig,
  ContainerFilter,
  ContainerState,
  ContainerStatus,
  CriRuntime,
  ExecSyncResponse,
  FilesystemUsage,
  Image,
  ImageSpec,
  KeyValueMap,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxState,
  PodSandboxStatus,
  StatusResponse,
  VersionResponse,
} from '../../protocols/cri/types.ts';
import { normalizeImageRef, parseImageName } from '../../actors/images/manager.ts';

/** One call as the caller made it: the CRI RPC name and the arguments (trailing undefined dropped). */
export interface CriCall {
  method: string;
  args: unknown[];
}

export interface FakeCriOptions {
  clock: Clock;
  /** The deadline of a call made without `timeoutMs` (kubelet's runtime-request-timeout: 2m). */
  defaultTimeoutMs?: number;
  /** Size (bytes) of images added without one. */
  defaultImageSize?: number;
}

export type ExecHandler = (
  containerId: string,
  cmd: string[],
  timeoutSeconds: number,
) => Partial<ExecSyncResponse> | Promise<Partial<ExecSyncResponse>>;

interface SandboxRecord {
  id: string;
  name: string;
  config: PodSandboxConfig;
  state: PodSandboxState;
  createdAt: number;
  ip: string;
  runtimeHandler: string;
}

interface ContainerRecord {
  id: string;
  name: string;
  sandboxId: string;
  config: ContainerConfig;
  sandboxConfig: PodSandboxConfig;
  imageId: string;
  state: ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
}

interface ImageRecord {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

const UNAVAILABLE =
  'connection error: desc = "transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"';
const SNAPSHOTTER_MOUNT = '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs';

function hex(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

function q(s: string): string {
  return JSON.stringify(s);
}

function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

function matchesLabels(labels: KeyValueMap, selector: KeyValueMap | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function notFound(method: string, what: string, id: string): CriError {
  return new CriError('NotFound', 5, method, `an error occurred when try to find ${what} ${q(id)}: not found`);
}

function unknown(method: string, message: string): CriError {
  return new CriError('Unknown', 2, method, message);
}

export class FakeCri implements CriRuntime {
  /** Every call, in the order it was made (down and hung calls included). */
  readonly calls: CriCall[] = [];

  readonly #clock: Clock;
  readonly #defaultTimeoutMs: number;
  readonly #defaultImageSize: number;
  #seq = 0;
  #ipSeq = 0;
  readonly #sandboxes = new Map<string, SandboxRecord>();
  readonly #containers = new Map<string, ContainerRecord>();
  readonly #images = new Map<string, ImageRecord>();
  /** Reserved names (containerd's registrar): name → id. */
  readonly #names = new Map<string, string>();
  readonly #pullFailures = new Map<string, { message: string; kind: CriErrorKind }>();
  #pullDelayMs = 0;
  #exec: ExecHandler = () => ({ exitCode: 0 });
  #down = false;
  #hang = false;
  #runtimeReady = { status: true, reason: '', message: '' };
  #networkReady = { status: true, reason: '', message: '' };

  constructor(opts: FakeCriOptions) {
    this.#clock = opts.clock;
    this.#defaultTimeoutMs = opts.defaultTimeoutMs ?? 120_000;
    this.#defaultImageSize = opts.defaultImageSize ?? 1_000_000;
  }

  // -------------------------------------------------------------------------------------------
  // test controls

  /** Make an image present (as if pulled). Returns its id (`sha256:…`). */
  addImage(name: string, opts: { size?: number } = {}): string {
    return this.#storeImage(name, opts.size ?? this.#defaultImageSize).id;
  }

  /** PullImage of `name` (any spelling of the same reference) fails with `message` until cleared. */
  failPull(name: string, message: string, kind: CriErrorKind = 'Unknown'): void {
    this.#pullFailures.set(normalizeImageRef(name), { message, kind });
  }

  clearPullFailure(name: string): void {
    this.#pullFailures.delete(normalizeImageRef(name));
  }

  /** Every PullImage takes this long on the clock (0: answers at once). */
  setPullDelay(ms: number): void {
    this.#pullDelayMs = ms;
  }

  /** Script ExecSync (probes, hooks). The default exits 0 with no output. */
  onExec(fn: ExecHandler): void {
    this.#exec = fn;
  }

  /** The container's process exits on its own. */
  exitContainer(id: string, exitCode: number, reason?: string, message = ''): void {
    const c = this.#containers.get(this.#resolve(this.#containers, id) ?? id);
    if (!c) throw new Error(`FakeCri.exitContainer: no container ${id}`);
    if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_UNKNOWN') {
      throw new Error(`FakeCri.exitContainer: container ${id} is ${c.state}`);
    }
    this.#exitContainer(c, exitCode, reason ?? '', message);
  }

  /** While down, every call rejects with Unavailable (the socket refuses connections). */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** While hung, every call waits until its deadline on the clock, then rejects with DeadlineExceeded. */
  setHang(hang: boolean): void {
    this.#hang = hang;
  }

  setRuntimeReady(status: boolean, reason = '', message = ''): void {
    this.#runtimeReady = { status, reason, message };
  }

  setNetworkReady(status: boolean, reason = 'NetworkPluginNotReady', message = ''): void {
    this.#networkReady = { status, reason: status ? '' : reason, message: status ? '' : message };
  }

  /** Ids currently known, for specs that look behind the API. */
  sandboxIds(): string[] {
    return [...this.#sandboxes.keys()];
  }

  containerIds(): string[] {
    return [...this.#containers.keys()];
  }

  // -------------------------------------------------------------------------------------------
  // call plumbing

  #call<T>(method: string, args: unknown[], opts: CallOptions | undefined, fn: () => T | Promise<T>): Promise<T> {
    const logged = [...args];
    while (logged.length && logged[logged.length - 1] === undefined) logged.pop();
    this.calls.push({ method, args: logged.map(clone) });
    if (this.#down) return Promise.reject(new CriError('Unavailable', 14, method, UNAVAILABLE));
    if (this.#hang) {
      const ms = opts?.timeoutMs ?? this.#defaultTimeoutMs;
      return new Promise<T>((_, reject) => {
        this.#clock.setTimeout(
          () => reject(new CriError('DeadlineExceeded', 4, method, 'context deadline exceeded')),
          ms,
        );
      });
    }
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #newId(kind: string): string {
    return hex(`fake-cri/${kind}/${++this.#seq}`);
  }

  #nowNs(): number {
    return this.#clock.now() * 1_000_000;
  }

  /** Exact id or a unique prefix of one (containerd's truncindex). */
  #resolve<V>(map: Map<string, V>, id: string): string | undefined {
    if (!id) return undefined;
    if (map.has(id)) return id;
    let found: string | undefined;
    for (const k of map.keys()) {
      if (k.startsWith(id)) {
        if (found !== undefined) return undefined;
        found = k;
      }
    }
    return found;
  }

  #reserve(method: string, what: string, name: string, id: string): void {
    const holder = this.#names.get(name);
    if (holder !== undefined && holder !== id) {
      throw new CriError(
        'FailedPrecondition',
        9,
        method,
        `failed to reserve ${what} name ${q(name)}: name ${q(name)} is reserved for ${q(holder)}`,
      );
    }
    this.#names.set(name, id);
  }

  #exitContainer(c: ContainerRecord, exitCode: number, reason: string, message: string): void {
    c.state = 'CONTAINER_EXITED';
    c.finishedAt = this.#nowNs();
    c.exitCode = exitCode;
    c.reason = reason;
    c.message = message;
  }

  #stopContainer(c: ContainerRecord, timeoutSeconds: number): void {
    if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_UNKNOWN') return;
    // SIGTERM left unhandled exits 143; after the grace period (or with none) SIGKILL gives 137.
    this.#exitContainer(c, timeoutSeconds > 0 ? 143 : 137, '', '');
  }

  #stopSandbox(s: SandboxRecord): void {
    for (const c of this.#containers.values()) if (c.sandboxId === s.id) this.#stopContainer(c, 0);
    s.state = 'SANDBOX_NOTREADY';
    s.ip = '';
  }

  #removeContainer(c: ContainerRecord): void {
    this.#stopContainer(c, 0);
    this.#containers.delete(c.id);
    if (this.#names.get(c.name) === c.id) this.#names.delete(c.name);
  }

  #storeImage(name: string, size: number): ImageRecord {
    const p = parseImageName(name);
    const ref = p.digest ? `${p.repo}@${p.digest}` : `${p.repo}:${p.tag}`;
    const existing = this.#lookupImage(name);
    if (existing) return existing;
    const contentDigest = p.digest || `sha256:${hex(`fake-cri/manifest/${ref}`)}`;
    const img: ImageRecord = {
      id: `sha256:${hex(`fake-cri/image/${ref}`)}`,
      repoTags: p.digest ? [] : [ref],
      repoDigests: [`${p.repo}@${contentDigest}`],
      size,
    };
    this.#images.set(img.id, img);
    return img;
  }

  /** containerd's LocalResolve: by id (with or without `sha256:`), else by normalised reference. */
  #lookupImage(ref: string): ImageRecord | undefined {
    if (/^sha256:[0-9a-f]{64}$/.test(ref)) return this.#images.get(ref);
    if (/^[0-9a-f]{64}$/.test(ref)) return this.#images.get(`sha256:${ref}`);
    const normalized = normalizeImageRef(ref);
    for (const img of this.#images.values()) {
      if (img.repoTags.includes(normalized) || img.repoDigests.includes(normalized)) return img;
    }
    return undefined;
  }

  #resolveImage(method: string, ref: string): ImageRecord | undefined {
    try {
      return this.#lookupImage(ref);
    } catch (e) {
      throw unknown(method, `failed to parse image reference ${q(ref)}: ${(e as Error).message}`);
    }
  }

  #toImage(img: ImageRecord): Image {
    return {
      id: img.id,
      repoTags: [...img.repoTags],
      repoDigests: [...img.repoDigests],
      size: img.size,
      uid: null,
      username: '',
      spec: null,
      pinned: false,
    };
  }

  #toSandbox(s: SandboxRecord): PodSandbox {
    return {
      id: s.id,
      metadata: { ...s.config.metadata },
      state: s.state,
      createdAt: s.createdAt,
      labels: { ...s.config.labels },
      annotations: { ...s.config.annotations },
      runtimeHandler: s.runtimeHandler,
    };
  }

  #toContainer(c: ContainerRecord): Container {
    return {
      id: c.id,
      podSandboxId: c.sandboxId,
      metadata: { ...c.config.metadata },
      image: { ...c.config.image },
      imageRef: c.imageId,
      state: c.state,
      createdAt: c.createdAt,
      labels: { ...c.config.labels },
      annotations: { ...c.config.annotations },
    };
  }

  // -------------------------------------------------------------------------------------------
  // RuntimeService

  version(opts?: CallOptions): Promise<VersionResponse> {
    return this.#call('Version', [opts], opts, () => ({
      version: '0.1.0',
      runtimeName: 'containerd',
      runtimeVersion: 'v2.0.0-fake',
      runtimeApiVersion: 'v1',
    }));
  }

  status(opts?: CallOptions): Promise<StatusResponse> {
    return this.#call('Status', [opts], opts, () => ({
      status: {
        conditions: [
          { type: 'RuntimeReady', ...this.#runtimeReady },
          { type: 'NetworkReady', ...this.#networkReady },
        ],
      },
      info: {},
    }));
  }

  runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string, opts?: CallOptions): Promise<string> {
    return this.#call('RunPodSandbox', [config, runtimeHandler, opts], opts, () => {
      const m = config.metadata;
      const name = [m.name, m.namespace, m.uid, String(m.attempt)].join('_');
      const id = this.#newId('sandbox');
      this.#reserve('RunPodSandbox', 'sandbox', name, id);
      const hostNetwork = config.linux?.securityContext?.namespaceOptions?.network === 'NODE';
      let ip = '';
      if (!hostNetwork) {
        const n = 2 + this.#ipSeq++;
        ip = `10.88.${Math.floor(n / 256)}.${n % 256}`;
      }
      this.#sandboxes.set(id, {
        id,
        name,
        config: clone(config),
        state: 'SANDBOX_READY',
        createdAt: this.#nowNs(),
        ip,
        runtimeHandler: runtimeHandler ?? '',
      });
      return id;
    });
  }

  stopPodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    return this.#call('StopPodSandbox', [podSandboxId, opts], opts, () => {
      const id = this.#resolve(this.#sandboxes, podSandboxId);
      if (id === undefined) return; // idempotent
      this.#stopSandbox(this.#sandboxes.get(id)!);
    });
  }

  removePodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    return this.#call('RemovePodSandbox', [podSandboxId, opts], opts, () => {
      const id = this.#resolve(this.#sandboxes, podSandboxId);
      if (id === undefined) return; // idempotent
      const s = this.#sandboxes.get(id)!;
      this.#stopSandbox(s);
      for (const c of [...this.#containers.values()]) if (c.sandboxId === id) this.#removeContainer(c);
      this.#sandboxes.delete(id);
      if (this.#names.get(s.name) === id) this.#names.delete(s.name);
    });
  }

  podSandboxStatus(podSandboxId: string, opts?: CallOptions): Promise<PodSandboxStatus> {
    return this.#call('PodSandboxStatus', [podSandboxId, opts], opts, () => {
      const id = this.#resolve(this.#sandboxes, podSandboxId);
      if (id === undefined) throw notFound('PodSandboxStatus', 'sandbox', podSandboxId);
      const s = this.#sandboxes.get(id)!;
      return { ...this.#toSandbox(s), network: { ip: s.ip, additionalIps: [] } };
    });
  }

  listPodSandbox(filter?: PodSandboxFilter, opts?: CallOptions): Promise<PodSandbox[]> {
    return this.#call('ListPodSandbox', [filter, opts], opts, () => {
      const wantId = filter?.id ? (this.#resolve(this.#sandboxes, filter.id) ?? filter.id) : undefined;
      const out: PodSandbox[] = [];
      for (const s of this.#sandboxes.values()) {
        if (wantId !== undefined && s.id !== wantId) continue;
        if (filter?.state && filter.state.state !== s.state) continue;
        if (!matchesLabels(s.config.labels ?? {}, filter?.labelSelector)) continue;
        out.push(this.#toSandbox(s));
      }
      return out;
    });
  }

  createContainer(
    podSandboxId: string,
    config: ContainerConfig,
    sandboxConfig: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    return this.#call('CreateContainer', [podSandboxId, config, sandboxConfig, opts], opts, () => {
      const sid = this.#resolve(this.#sandboxes, podSandboxId);
      if (sid === undefined) {
        throw new CriError('NotFound', 5, 'CreateContainer', `failed to find sandbox id ${q(podSandboxId)}: not found`);
      }
      const s = this.#sandboxes.get(sid)!;
      if (s.state !== 'SANDBOX_READY') throw unknown('CreateContainer', `sandbox container ${q(sid)} is not running`);
      const m = s.config.metadata;
      const name = [config.metadata.name, m.name, m.namespace, m.uid, String(config.metadata.attempt)].join('_');
      const id = this.#newId('container');
      this.#reserve('CreateContainer', 'container', name, id);
      const img = this.#resolveImage('CreateContainer', config.image.image);
      if (!img) {
        this.#names.delete(name);
        throw new CriError(
          'NotFound',
          5,
          'CreateContainer',
          `failed to resolve image ${q(config.image.image)}: not found`,
        );
      }
      this.#containers.set(id, {
        id,
        name,
        sandboxId: sid,
        config: clone(config),
        sandboxConfig: clone(sandboxConfig),
        imageId: img.id,
        state: 'CONTAINER_CREATED',
        createdAt: this.#nowNs(),
        startedAt: 0,
        finishedAt: 0,
        exitCode: 0,
        reason: '',
        message: '',
      });
      return id;
    });
  }

  startContainer(containerId: string, opts?: CallOptions): Promise<void> {
    return this.#call('StartContainer', [containerId, opts], opts, () => {
      const id = this.#resolve(this.#containers, containerId);
      if (id === undefined) throw notFound('StartContainer', 'container', containerId);
      const c = this.#containers.get(id)!;
      if (c.state !== 'CONTAINER_CREATED')
        throw unknown(
          'StartContainer',
          `failed to set starting state for container ${q(id)}: container is in ${c.state} state`,
        );
      const s = this.#sandboxes.get(c.sandboxId);
      if (!s || s.state !== 'SANDBOX_READY')
        throw unknown('StartContainer', `sandbox container ${q(c.sandboxId)} is not running`);
      c.state = 'CONTAINER_RUNNING';
      c.startedAt = this.#nowNs();
    });
  }

  stopContainer(containerId: string, timeoutSeconds: number, opts?: CallOptions): Promise<void> {
    return this.#call('StopContainer', [containerId, timeoutSeconds, opts], opts, () => {
      const id = this.#resolve(this.#containers, containerId);
      if (id === undefined) return; // idempotent
      this.#stopContainer(this.#containers.get(id)!, timeoutSeconds);
    });
  }

  removeContainer(containerId: string, opts?: CallOptions): Promise<void> {
    return this.#call('RemoveContainer', [containerId, opts], opts, () => {
      const id = this.#resolve(this.#containers, containerId);
      if (id === undefined) return; // idempotent
      this.#removeContainer(this.#containers.get(id)!);
    });
  }

  listContainers(filter?: ContainerFilter, opts?: CallOptions): Promise<Container[]> {
    return this.#call('ListContainers', [filter, opts], opts, () => {
      const wantId = filter?.id ? (this.#resolve(this.#containers, filter.id) ?? filter.id) : undefined;
      const wantSandbox = filter?.podSandboxId
        ? (this.#resolve(this.#sandboxes, filter.podSandboxId) ?? filter.podSandboxId)
        : undefined;
      const out: Container[] = [];
      for (const c of this.#containers.values()) {
        if (wantId !== undefined && c.id !== wantId) continue;
        if (wantSandbox !== undefined && c.sandboxId !== wantSandbox) continue;
        if (filter?.state && filter.state.state !== c.state) continue;
        if (!matchesLabels(c.config.labels ?? {}, filter?.labelSelector)) continue;
        out.push(this.#toContainer(c));
      }
      return out;
    });
  }

  containerStatus(containerId: string, opts?: CallOptions): Promise<ContainerStatus> {
    return this.#call('ContainerStatus', [containerId, opts], opts, () => {
      const id = this.#resolve(this.#containers, containerId);
      if (id === undefined) throw notFound('ContainerStatus', 'container', containerId);
      const c = this.#containers.get(id)!;
      const img = this.#images.get(c.imageId);
      let reason = c.reason;
      if (c.state === 'CONTAINER_EXITED' && reason === '') reason = c.exitCode === 0 ? 'Completed' : 'Error';
      const running = c.state === 'CONTAINER_RUNNING';
      const done = c.state === 'CONTAINER_EXITED' || c.state === 'CONTAINER_UNKNOWN';
      const logDir = c.sandboxConfig.logDirectory ?? '';
      const logPath = c.config.logPath
        ? logDir
          ? `${logDir.replace(/\/$/, '')}/${c.config.logPath}`
          : c.config.logPath
        : '';
      return {
        id: c.id,
        metadata: { ...c.config.metadata },
        state: c.state,
        createdAt: c.createdAt,
        startedAt: running || done ? c.startedAt : 0,
        finishedAt: done ? c.finishedAt : 0,
        exitCode: c.exitCode,
        image: img?.repoTags[0] ? { image: img.repoTags[0] } : { ...c.config.image },
        imageRef: img?.repoDigests[0] ?? c.imageId,
        reason,
        message: c.message,
        labels: { ...c.config.labels },
        annotations: { ...c.config.annotations },
        mounts: clone(c.config.mounts ?? []),
        logPath,
      };
    });
  }

  execSync(containerId: string, cmd: string[], timeoutSeconds: number, opts?: CallOptions): Promise<ExecSyncResponse> {
    return this.#call('ExecSync', [containerId, cmd, timeoutSeconds, opts], opts, async () => {
      const id = this.#resolve(this.#containers, containerId);
      if (id === undefined) throw notFound('ExecSync', 'container', containerId);
      const c = this.#containers.get(id)!;
      if (c.state !== 'CONTAINER_RUNNING')
        throw unknown('ExecSync', `failed to exec in container: container is in ${c.state} state`);
      const r = await this.#exec(id, [...cmd], timeoutSeconds);
      return { stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr ?? Buffer.alloc(0), exitCode: r.exitCode ?? 0 };
    });
  }

  // -------------------------------------------------------------------------------------------
  // ImageService

  listImages(filter?: { image?: ImageSpec }, opts?: CallOptions): Promise<Image[]> {
    return this.#call('ListImages', [filter, opts], opts, () =>
      [...this.#images.values()].map((i) => this.#toImage(i)),
    );
  }

  imageStatus(image: ImageSpec, opts?: CallOptions): Promise<Image | null> {
    return this.#call('ImageStatus', [image, opts], opts, () => {
      const img = this.#resolveImage('ImageStatus', image.image);
      return img ? this.#toImage(img) : null;
    });
  }

  pullImage(
    image: ImageSpec,
    auth?: AuthConfig,
    sandboxConfig?: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    return this.#call('PullImage', [image, auth, sandboxConfig, opts], opts, () => {
      let ref: string;
      try {
        ref = normalizeImageRef(image.image);
      } catch (e) {
        throw unknown(
          'PullImage',
          `failed to pull and unpack image ${q(image.image)}: failed to resolve reference ${q(image.image)}: ${(e as Error).message}`,
        );
      }
      const finish = (): string => {
        const failure = this.#pullFailures.get(ref);
        if (failure) throw new CriError(failure.kind, codeOf(failure.kind), 'PullImage', failure.message);
        return this.#storeImage(image.image, this.#defaultImageSize).id;
      };
      if (this.#pullDelayMs <= 0) return finish();
      return new Promise<string>((resolve, reject) => {
        this.#clock.setTimeout(() => {
          try {
            resolve(finish());
          } catch (e) {
            reject(e);
          }
        }, this.#pullDelayMs);
      });
    });
  }

  removeImage(image: ImageSpec, opts?: CallOptions): Promise<void> {
    return this.#call('RemoveImage', [image, opts], opts, () => {
      const img = this.#resolveImage('RemoveImage', image.image);
      if (img) this.#images.delete(img.id); // absent: idempotent
    });
  }

  imageFsInfo(opts?: CallOptions): Promise<FilesystemUsage[]> {
    return this.#call('ImageFsInfo', [opts], opts, () => {
      let used = 0;
      for (const i of this.#images.values()) used += i.size;
      return [
        {
          timestamp: this.#nowNs(),
          fsId: { mountpoint: SNAPSHOTTER_MOUNT },
          usedBytes: { value: used },
          inodesUsed: { value: this.#images.size * 100 },
        },
      ];
    });
  }

  close(): void {}
}

function codeOf(kind: CriErrorKind): number {
  switch (kind) {
    case 'NotFound':
      return 5;
    case 'AlreadyExists':
      return 6;
    case 'DeadlineExceeded':
      return 4;
    case 'Unavailable':
      return 14;
    case 'Unimplemented':
      return 12;
    case 'InvalidArgument':
      return 3;
    case 'FailedPrecondition':
      return 9;
    case 'Unknown':
      return 2;
  }
}
