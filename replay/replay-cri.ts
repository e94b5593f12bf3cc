/**
 * Replay, part two: a container runtime that answers from a recording.
 *
 * It is stateful, like the real one: sandboxes, containers and images live in memory and every
 * read (List*, *Status) is answered from that state, so a replayed decision that comes a little
 * earlier or later than recorded still sees a consistent runtime. What the kubelet cannot decide,
 * the recording supplies:
 * - the outcome of a decision: when a replayed decision matches the recorded one, its recorded
 *   answer (the sandbox/container id, the pulled image id, or the error) is given after the
 *   recorded latency on the clock; an unmatched decision gets runtime semantics and a fresh id;
 * - the environment: a container that exited by itself in the recording (a read showed it exited
 *   before the kubelet stopped it) exits here after as long as it ran there, with the recorded
 *   exit code, reason and message; a sandbox that went NOTREADY, and a container or sandbox that
 *   disappeared, behind the kubelet's back do so here at the recorded time (Analysis
 *   sandboxNotReady, removed); exit codes of containers the kubelet stopped are the recorded
 *   ones; pod IPs, image ids and image details are the recorded ones;
 * - runtime health (Version, Status, ImageFsInfo) and ExecSync: the latest recorded answer;
 * - a session that starts on a runtime holding pods (a kubelet started after another one) gets
 *   the sandboxes and containers of the session's first full listing that it does not hold yet.
 */
import type { Clock } from '../kernel/clock.ts';
import { CriError, type CriErrorKind } from '../protocols/cri/errors.ts';
import type {
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
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxState,
  PodSandboxStatus,
  StatusResponse,
  VersionResponse,
} from '../protocols/cri/types.ts';
import {
  DecisionMatcher,
  podOfDecision,
  type Analysis,
  type ExitFact,
  type RecordedAnswer,
  type RecordedCall,
} from './replay.ts';

const GRPC_CODE: Record<CriErrorKind, number> = {
  NotFound: 5,
  AlreadyExists: 6,
  DeadlineExceeded: 4,
  Unavailable: 14,
  Unimplemented: 12,
  InvalidArgument: 3,
  FailedPrecondition: 9,
  Unknown: 2,
};

interface SandboxRec {
  id: string;
  config: PodSandboxConfig;
  state: PodSandboxState;
  createdAt: number;
  runtimeHandler: string;
}

interface ContainerRec {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  state: ContainerState;
  /** clock times, ns (0: not yet) */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
}

const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));

function matches(labels: Record<string, string> | undefined, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

function criError(method: string, err: RecordedAnswer['err']): CriError {
  const kind = (err?.kind && err.kind in GRPC_CODE ? err.kind : 'Unknown') as CriErrorKind;
  // The recorder keeps CriError's message, which already carries "CRI <method>: <kind>: ".
  const message = (err?.message ?? '').replace(/^CRI \w+: \w+: /, '');
  return new CriError(kind, GRPC_CODE[kind], method, message);
}

function notFound(method: string, id: string): CriError {
  return new CriError('NotFound', 5, method, `an error occurred when try to find ${JSON.stringify(id)}: not found`);
}

export class ReplayCri implements CriRuntime {
  readonly matcher: DecisionMatcher;
  readonly #a: Analysis;
  readonly #clock: Clock;
  readonly #sandboxes = new Map<string, SandboxRec>();
  readonly #containers = new Map<string, ContainerRec>();
  readonly #images = new Map<string, Image>();
  /** Recorded answers of the reads answered "as recorded", by method, in time order. */
  readonly #latest = new Map<string, RecordedCall[]>();
  #session = 0;
  #fresh = 0;

  constructor(a: Analysis, clock: Clock) {
    this.#a = a;
    this.#clock = clock;
    this.matcher = new DecisionMatcher(a);
    for (const id of a.imagesAtStart) this.#images.set(id, this.#image(id));
    for (const c of a.calls) {
      if (!['version', 'status', 'imageFsInfo', 'execSync'].includes(c.m) || !c.answer) continue;
      const list = this.#latest.get(c.m) ?? [];
      list.push(c);
      this.#latest.set(c.m, list);
    }
  }

  /** Enters a session: the sandboxes and containers its first full listing shows, if not held yet. */
  beginSession(index: number): void {
    this.#session = index;
    const calls = this.#a.calls.filter(
      (c) => c.session === index && c.answer?.ok && (c.args[0] === undefined || c.args[0] === null),
    );
    const first = (m: string) =>
      (calls.find((c) => c.m === m)?.answer?.res as Record<string, unknown>[] | undefined) ?? [];
    for (const s of first('listPodSandbox') as unknown as PodSandbox[]) {
      if (this.#sandboxes.has(s.id)) continue;
      this.#sandboxes.set(s.id, {
        id: s.id,
        state: s.state,
        createdAt: s.createdAt,
        runtimeHandler: s.runtimeHandler ?? '',
        config: { metadata: s.metadata, labels: s.labels, annotations: s.annotations },
      });
      this.#scheduleOutside(s.id);
    }
    for (const c of first('listContainers') as unknown as Container[]) {
      if (this.#containers.has(c.id)) continue;
      const st = this.#a.containerStatus.get(c.id) as Partial<ContainerStatus> | undefined;
      const rec: ContainerRec = {
        id: c.id,
        sandboxId: c.podSandboxId,
        state: c.state,
        createdAt: c.createdAt,
        config: { metadata: c.metadata, image: c.image, labels: c.labels, annotations: c.annotations },
        startedAt: st?.startedAt ?? 0,
        finishedAt: 0,
        exitCode: 0,
        reason: '',
        message: '',
      };
      if (c.state === 'CONTAINER_EXITED') this.#exit(rec, 0);
      this.#containers.set(c.id, rec);
      this.#scheduleOutside(c.id);
      const fact = this.#a.exits.get(c.id);
      if (fact && c.state === 'CONTAINER_RUNNING')
        this.#scheduleExit(rec, fact, (fact.finishedAtMs ?? fact.seenAt) - this.#clock.now());
    }
  }

  /** The end of the current session on the recording's clock. */
  #sessionEnd(): number {
    return this.#a.sessions[this.#session]?.end ?? Number.POSITIVE_INFINITY;
  }

  #image(id: string): Image {
    const i = this.#a.images.get(id) as Partial<Image> | undefined;
    return {
      id,
      repoTags: i?.repoTags ?? [],
      repoDigests: i?.repoDigests ?? [],
      size: i?.size ?? 0,
      uid: i?.uid ?? null,
      username: i?.username ?? '',
      spec: i?.spec ?? null,
      pinned: i?.pinned ?? false,
    };
  }

  #nowNs(): number {
    return this.#clock.now() * 1_000_000;
  }

  /** The container stops: with the recorded exit (code, reason, message) when there is one. */
  #exit(c: ContainerRec, fallbackCode: number): void {
    const st = this.#a.exitedStatus.get(c.id) as Partial<ContainerStatus> | undefined;
    c.state = 'CONTAINER_EXITED';
    c.finishedAt = this.#nowNs();
    c.exitCode = st?.exitCode ?? fallbackCode;
    c.reason = st?.reason ?? (c.exitCode === 0 ? 'Completed' : 'Error');
    c.message = st?.message ?? '';
  }

  /** Exits `c` after `afterMs`, but never where a recorded read still saw it running. */
  #scheduleExit(c: ContainerRec, fact: ExitFact, afterMs: number): void {
    const notBefore = fact.runningAt === undefined ? 0 : fact.runningAt + 1 - this.#clock.now();
    this.#clock.setTimeout(
      () => {
        if (this.#containers.get(c.id) === c && c.state === 'CONTAINER_RUNNING') this.#exit(c, 1);
      },
      Math.max(0, afterMs, notBefore),
    );
  }

  /** What the recording shows happening to sandbox or container `id` behind the kubelet's back, at its recorded time. */
  #scheduleOutside(id: string): void {
    const at = (t: number | undefined, change: () => void) => {
      if (t !== undefined) this.#clock.setTimeout(change, Math.max(0, t - this.#clock.now()));
    };
    const sandbox = this.#sandboxes.get(id);
    at(this.#a.sandboxNotReady.get(id), () => {
      if (sandbox && this.#sandboxes.get(id) === sandbox) sandbox.state = 'SANDBOX_NOTREADY';
    });
    const container = this.#containers.get(id);
    at(this.#a.removed.get(id), () => {
      if (sandbox && this.#sandboxes.get(id) === sandbox) this.#sandboxes.delete(id);
      if (container && this.#containers.get(id) === container) this.#containers.delete(id);
    });
  }

  #podOf(id: string): string | undefined {
    const c = this.#containers.get(id);
    const sandbox = this.#sandboxes.get(c ? c.sandboxId : id);
    return sandbox?.config.metadata.uid ?? this.#a.podOfId.get(id);
  }

  /**
   * A decision: compared with the recording; a match is answered as recorded (after the recorded
   * latency), anything else with runtime semantics at once. `apply` makes the change given the
   * id the runtime answered (recorded or fresh).
   */
  #decide<T>(m: string, args: unknown[], apply: (recordedRes: unknown) => T): Promise<T> {
    const pod = podOfDecision(m, args, (id) => this.#podOf(id));
    const exp = this.matcher.observe(m, args, pod, this.#clock.now(), this.#sessionEnd());
    if (!exp) {
      try {
        return Promise.resolve(apply(undefined));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const answer = exp.call.answer;
    // A call the recording never saw answered stays unanswered.
    if (!answer) return new Promise<T>(() => {});
    return new Promise<T>((resolve, reject) => {
      this.#clock.setTimeout(
        () => {
          if (!answer.ok) return reject(criError(m, answer.err));
          try {
            resolve(apply(answer.res));
          } catch (e) {
            reject(e);
          }
        },
        Math.max(0, answer.t - exp.t),
      );
    });
  }

  #freshId(kind: string): string {
    return `replay-${kind}-${++this.#fresh}`;
  }

  // -------------------------------------------------------------------------------------------
  // decisions

  runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string): Promise<string> {
    return this.#decide('runPodSandbox', [config, runtimeHandler], (res) => {
      const id = typeof res === 'string' ? res : this.#freshId('sandbox');
      this.#sandboxes.set(id, {
        id,
        config: clone(config),
        state: 'SANDBOX_READY',
        createdAt: this.#nowNs(),
        runtimeHandler: runtimeHandler ?? '',
      });
      this.#scheduleOutside(id);
      return id;
    });
  }

  stopPodSandbox(podSandboxId: string): Promise<void> {
    return this.#decide('stopPodSandbox', [podSandboxId], () => {
      const s = this.#sandboxes.get(podSandboxId);
      if (!s) return;
      for (const c of this.#containers.values())
        if (c.sandboxId === s.id && c.state === 'CONTAINER_RUNNING') this.#exit(c, 137);
      s.state = 'SANDBOX_NOTREADY';
    });
  }

  removePodSandbox(podSandboxId: string): Promise<void> {
    return this.#decide('removePodSandbox', [podSandboxId], () => {
      for (const c of [...this.#containers.values()]) if (c.sandboxId === podSandboxId) this.#containers.delete(c.id);
      this.#sandboxes.delete(podSandboxId);
    });
  }

  createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return this.#decide('createContainer', [podSandboxId, config, sandboxConfig], (res) => {
      const id = typeof res === 'string' ? res : this.#freshId('container');
      this.#containers.set(id, {
        id,
        sandboxId: podSandboxId,
        config: clone(config),
        state: 'CONTAINER_CREATED',
        createdAt: this.#nowNs(),
        startedAt: 0,
        finishedAt: 0,
        exitCode: 0,
        reason: '',
        message: '',
      });
      this.#scheduleOutside(id);
      return id;
    });
  }

  startContainer(containerId: string): Promise<void> {
    return this.#decide('startContainer', [containerId], () => {
      const c = this.#containers.get(containerId);
      if (!c) throw notFound('StartContainer', containerId);
      c.state = 'CONTAINER_RUNNING';
      c.startedAt = this.#nowNs();
      const fact = this.#a.exits.get(containerId);
      if (fact) this.#scheduleExit(c, fact, fact.ranMs ?? 0);
    });
  }

  stopContainer(containerId: string, timeoutSeconds: number): Promise<void> {
    return this.#decide('stopContainer', [containerId, timeoutSeconds], () => {
      const c = this.#containers.get(containerId);
      if (c && (c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_UNKNOWN'))
        this.#exit(c, timeoutSeconds > 0 ? 143 : 137);
    });
  }

  removeContainer(containerId: string): Promise<void> {
    return this.#decide('removeContainer', [containerId], () => {
      this.#containers.delete(containerId);
    });
  }

  pullImage(image: ImageSpec, auth?: unknown, sandboxConfig?: PodSandboxConfig): Promise<string> {
    return this.#decide('pullImage', [image, auth, sandboxConfig], (res) => {
      const id =
        typeof res === 'string' ? res : (this.#a.imageAlias.get(image.image) ?? `sha256:${this.#freshId('image')}`);
      const img = this.#image(id);
      if (img.repoTags.length === 0 && img.repoDigests.length === 0) img.repoTags = [image.image];
      this.#images.set(id, img);
      return id;
    });
  }

  removeImage(image: ImageSpec): Promise<void> {
    return this.#decide('removeImage', [image], () => {
      const img = this.#findImage(image.image);
      if (img) this.#images.delete(img.id);
    });
  }

  // -------------------------------------------------------------------------------------------
  // reads, from the state

  #findImage(ref: string): Image | undefined {
    const id = this.#images.has(ref) ? ref : this.#a.imageAlias.get(ref);
    if (id && this.#images.has(id)) return this.#images.get(id);
    for (const img of this.#images.values())
      if (img.repoTags.includes(ref) || img.repoDigests.includes(ref)) return img;
    return undefined;
  }

  #toSandbox(s: SandboxRec): PodSandbox {
    return {
      id: s.id,
      metadata: clone(s.config.metadata),
      state: s.state,
      createdAt: s.createdAt,
      labels: clone(s.config.labels ?? {}),
      annotations: clone(s.config.annotations ?? {}),
      runtimeHandler: s.runtimeHandler,
    };
  }

  #recordedStatus(id: string): Partial<ContainerStatus> | undefined {
    return this.#a.containerStatus.get(id) as Partial<ContainerStatus> | undefined;
  }

  #toContainer(c: ContainerRec): Container {
    return {
      id: c.id,
      podSandboxId: c.sandboxId,
      metadata: clone(c.config.metadata),
      image: clone(c.config.image),
      imageRef: this.#recordedStatus(c.id)?.imageRef ?? c.config.image.image,
      state: c.state,
      createdAt: c.createdAt,
      labels: clone(c.config.labels ?? {}),
      annotations: clone(c.config.annotations ?? {}),
    };
  }

  listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]> {
    return Promise.resolve(
      [...this.#sandboxes.values()]
        .filter(
          (s) =>
            (!filter?.id || s.id.startsWith(filter.id)) &&
            (!filter?.state || filter.state.state === s.state) &&
            matches(s.config.labels, filter?.labelSelector),
        )
        .map((s) => this.#toSandbox(s)),
    );
  }

  podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus> {
    const s = this.#sandboxes.get(podSandboxId);
    if (!s) return Promise.reject(notFound('PodSandboxStatus', podSandboxId));
    const ip = s.state === 'SANDBOX_READY' ? (this.#a.sandboxIp.get(s.id) ?? '') : '';
    return Promise.resolve({ ...this.#toSandbox(s), network: { ip, additionalIps: [] } });
  }

  listContainers(filter?: ContainerFilter): Promise<Container[]> {
    return Promise.resolve(
      [...this.#containers.values()]
        .filter(
          (c) =>
            (!filter?.id || c.id.startsWith(filter.id)) &&
            (!filter?.podSandboxId || c.sandboxId === filter.podSandboxId) &&
            (!filter?.state || filter.state.state === c.state) &&
            matches(c.config.labels, filter?.labelSelector),
        )
        .map((c) => this.#toContainer(c)),
    );
  }

  containerStatus(containerId: string): Promise<ContainerStatus> {
    const c = this.#containers.get(containerId);
    if (!c) return Promise.reject(notFound('ContainerStatus', containerId));
    const rec = this.#recordedStatus(c.id);
    const done = c.state === 'CONTAINER_EXITED';
    return Promise.resolve({
      ...this.#toContainer(c),
      startedAt: c.state === 'CONTAINER_CREATED' ? 0 : c.startedAt,
      finishedAt: done ? c.finishedAt : 0,
      exitCode: done ? c.exitCode : 0,
      image: clone(rec?.image ?? c.config.image),
      reason: done ? c.reason : '',
      message: done ? c.message : '',
      mounts: clone(rec?.mounts ?? c.config.mounts ?? []),
      logPath: rec?.logPath ?? '',
    });
  }

  /** The latest recorded answer of `m` at or before now (else the first), as recorded. */
  #asRecorded<T>(m: string, fallback: T, pick?: (c: RecordedCall) => boolean): Promise<T> {
    const list = (this.#latest.get(m) ?? []).filter((c) => !pick || pick(c));
    const now = this.#clock.now();
    let best = list[0];
    for (const c of list) if (c.t <= now) best = c;
    const ans = best?.answer;
    if (!ans) return Promise.resolve(fallback);
    return ans.ok ? Promise.resolve(clone(ans.res as T)) : Promise.reject(criError(m, ans.err));
  }

  version(): Promise<VersionResponse> {
    return this.#asRecorded('version', {
      version: '0.1.0',
      runtimeName: 'replay',
      runtimeVersion: 'replay',
      runtimeApiVersion: 'v1',
    });
  }

  status(): Promise<StatusResponse> {
    return this.#asRecorded('status', {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: true, reason: '', message: '' },
        ],
      },
      info: {},
    });
  }

  imageFsInfo(): Promise<FilesystemUsage[]> {
    return this.#asRecorded('imageFsInfo', []);
  }

  async execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResponse> {
    const key = JSON.stringify([containerId, cmd, timeoutSeconds]);
    const r = await this.#asRecorded<Record<string, unknown>>(
      'execSync',
      { exitCode: 0 },
      (c) => JSON.stringify(c.args.slice(0, 3)) === key,
    );
    const buf = (v: unknown) => Buffer.from((v as { base64?: string } | undefined)?.base64 ?? '', 'base64');
    return { stdout: buf(r.stdout), stderr: buf(r.stderr), exitCode: Number(r.exitCode ?? 0) };
  }

  listImages(): Promise<Image[]> {
    return Promise.resolve([...this.#images.values()].map(clone));
  }

  imageStatus(image: ImageSpec): Promise<Image | null> {
    const img = this.#findImage(image.image);
    return Promise.resolve(img ? clone(img) : null);
  }

  close(): void {}
}
