/**
 * The image manager: upstream's images.imageManager.EnsureImageExists as a plain class. The
 * daemon builds one and hands it to the runtime actor as its `images` port (actors/runtime/
 * adapters.ts ImagePort). It has no bus: the caller passes an EventSink bound to the container
 * and the manager records upstream's events through it, at the moment upstream does (Pulling
 * before the pull is queued, not after it ends):
 *   Pulled (Normal)            "Container image \"x\" already present on machine" /
 *                              "Successfully pulled image \"x\" in 1.2s (1.5s including waiting). Image size: N bytes."
 *   Pulling (Normal)           "Pulling image \"x\""
 *   Failed (Warning)           "Failed to pull image \"x\": rpc error: code = NotFound desc = ..."
 *   BackOff (Normal)           "Back-off pulling image \"x\""
 *   ErrImageNeverPull (Warning), InspectFailed (Warning) for a bad name or a failing ImageStatus.
 *
 * For one container of one pod:
 *   1. apply the default tag (`busybox` → `busybox:latest`; an unparsable name is
 *      InvalidImageName),
 *   2. ask the runtime whether the image is present (ImageStatus → imageRef = image id),
 *   3. decide by pull policy: Never (absent → ErrImageNeverPull), IfNotPresent (pull only when
 *      absent), Always (always pull),
 *   4. refuse while the pod+image key is in back-off (ImagePullBackOff, with retryAt),
 *   5. pull (serialized by default, like upstream's serializeImagePulls), then read the image
 *      size (best effort, as upstream's puller does),
 *   6. a failed pull is ErrImagePull with the runtime's message and moves the key's back-off
 *      10s → 20s → 40s … capped at 300s (flowcontrol.Backoff with kubelet's image settings).
 *
 * Divergences from upstream, on purpose:
 * - A successful pull clears the key's back-off. Upstream leaves the entry to flowcontrol's GC
 *   (2 × max idle), so a failure soon after a success resumes from the old delay; a success
 *   proves the registry answers, so we start again from the initial delay.
 * - An ImageStatus failure (upstream's ImageInspectError) is thrown: the result union has no
 *   such reason and, in practice, it means the runtime is not answering, which the runtime
 *   actor reports as a sync error and retries.
 * - The serial queue is unbounded (upstream blocks callers once 10 requests are queued).
 * - Pull secrets and credential providers are not modelled yet (no AuthConfig is sent).
 */
import type { Clock } from '../../kernel/clock.ts';
import { criDesc, criErrorText } from '../../protocols/cri/errors.ts';
import type {
  AuthConfig,
  CallOptions,
  Image,
  ImageService,
  ImageSpec,
  PodSandboxConfig,
} from '../../protocols/cri/types.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import { EventReason, type EventSink } from '../../protocols/messages/events.ts';

// ---------------------------------------------------------------------------------------------
// image references (github.com/distribution/reference, as upstream's parsers.ParseImageName
// uses it)

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_LENGTH_MAX = 255;

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const host = `(?:${domainNameComponent}(?:\\.${domainNameComponent})*|\\[[a-fA-F0-9:]+\\])`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const namePat = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;

export interface ParsedImageName {
  /** Fully qualified repository: `docker.io/library/busybox`. */
  repo: string;
  /** The tag; `latest` when the name has neither tag nor digest (upstream ParseImageName). */
  tag: string;
  /** `sha256:…` when the name carries one, else ''. */
  digest: string;
}

/** distribution/reference.Parse's errors, with its wording. */
function parseReference(s: string): { name: string; tag: string; digest: string } {
  const m = REFERENCE.exec(s);
  if (!m) {
    if (s === '') throw new Error('repository name must have at least one component');
    if (REFERENCE.exec(s.toLowerCase())) throw new Error('repository name must be lowercase');
    throw new Error('invalid reference format');
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX)
    throw new Error(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  return { name, tag: m[2] ?? '', digest: m[3] ?? '' };
}

function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Upstream's parsers.ParseImageName: normalise (docker.io/library default) and split; the tag
 * defaults to `latest` when there is neither tag nor digest. Throws with upstream's message.
 */
export function parseImageName(image: string): ParsedImageName {
  try {
    if (IDENTIFIER.test(image)) {
      throw new Error(`invalid repository name (${image}), cannot specify 64-byte hexadecimal strings`);
    }
    const { domain, remainder } = splitDockerDomain(image);
    const tagSep = remainder.indexOf(':');
    const remoteName = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
    if (remoteName.toLowerCase() !== remoteName) {
      throw new Error(`invalid reference format: repository name (${remoteName}) must be lowercase`);
    }
    const ref = parseReference(`${domain}/${remainder}`);
    const tag = ref.tag === '' && ref.digest === '' ? 'latest' : ref.tag;
    return { repo: ref.name, tag, digest: ref.digest };
  } catch (e) {
    throw new Error(`couldn't parse image name ${goQuote(image)}: ${(e as Error).message}`);
  }
}

/**
 * The fully qualified reference a runtime stores for `image`: `docker.io/library/busybox:latest`,
 * or `repo@digest` when there is a digest (containerd's ParseDockerRef drops the tag then).
 */
export function normalizeImageRef(image: string): string {
  const p = parseImageName(image);
  return p.digest ? `${p.repo}@${p.digest}` : `${p.repo}:${p.tag}`;
}

/**
 * Upstream's applyDefaultImageTag: append `:latest` when the name has no tag and no digest,
 * without qualifying the name (the CRI stays agnostic of default registries).
 */
export function applyDefaultImageTag(image: string): string {
  const { tag, digest } = parseImageName(image);
  if (digest === '' && tag !== '' && !image.endsWith(`:${tag}`)) return `${image}:${tag}`;
  return image;
}

/** Upstream's SetDefaults_Container for imagePullPolicy: Always for `:latest` (or no tag). */
export function defaultPullPolicy(image: string): PullPolicy {
  let tag = '';
  try {
    tag = parseImageName(image).tag;
  } catch {
    // upstream ignores the parse error here; EnsureImageExists reports it
  }
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Go's %q for the strings we quote (no control characters in image names). */
function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Go's time.Duration.String for a whole number of milliseconds (`0s`, `250ms`, `1.5s`, `2m3.04s`). */
export function formatGoDuration(ms: number): string {
  ms = Math.trunc(ms);
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = `${rest}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = Math.floor(rest / 1000);
    const frac = rest - s * 1000;
    const secs = frac ? `${s}.${String(frac).padStart(3, '0').replace(/0+$/, '')}s` : `${s}s`;
    out = h ? `${h}h${m}m${secs}` : m ? `${m}m${secs}` : secs;
  }
  return neg ? `-${out}` : out;
}

// ---------------------------------------------------------------------------------------------
// back-off (client-go flowcontrol.Backoff, without jitter: kubelet builds it without)

export interface BackoffConfig {
  initialMs: number;
  maxMs: number;
}

interface BackoffEntry {
  delayMs: number;
  lastUpdate: number;
}

/** Per-key exponential back-off; an entry idle for more than 2 × max starts over (hasExpired). */
export class PullBackoff {
  readonly #cfg: BackoffConfig;
  readonly #entries = new Map<string, BackoffEntry>();

  constructor(cfg: BackoffConfig) {
    this.#cfg = cfg;
  }

  #expired(now: number, e: BackoffEntry): boolean {
    return now - e.lastUpdate > 2 * this.#cfg.maxMs;
  }

  /** Record a failure at `now`; returns the new delay. */
  next(key: string, now: number): number {
    const e = this.#entries.get(key);
    const delayMs = !e || this.#expired(now, e) ? this.#cfg.initialMs : Math.min(e.delayMs * 2, this.#cfg.maxMs);
    this.#entries.set(key, { delayMs, lastUpdate: now });
    return delayMs;
  }

  /** IsInBackOffSinceUpdate: the clock time the key may be tried again, or undefined if now. */
  blockedUntil(key: string, now: number): number | undefined {
    const e = this.#entries.get(key);
    if (!e || this.#expired(now, e)) return undefined;
    return now - e.lastUpdate < e.delayMs ? e.lastUpdate + e.delayMs : undefined;
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }

  /** Drop entries idle for more than 2 × max. */
  gc(now: number): void {
    for (const [k, e] of this.#entries) if (this.#expired(now, e)) this.#entries.delete(k);
  }

  get size(): number {
    return this.#entries.size;
  }

  entries(): { key: string; delayMs: number; lastUpdate: number }[] {
    return [...this.#entries].map(([key, e]) => ({ key, ...e }));
  }
}

// ---------------------------------------------------------------------------------------------
// the manager

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** The image's configured user as ImageStatus reports it (a numeric uid, or a name); neither means root. */
interface ImageUser {
  uid?: number;
  username?: string;
}

function imageUser(image: Image | null | undefined): ImageUser | undefined {
  if (!image) return undefined;
  if (image.uid) return { uid: image.uid.value };
  return image.username ? { username: image.username } : {};
}

export type EnsureImageResult =
  /** `user`: undefined when the runtime reported no status for the image after a pull. */
  | { ok: true; imageRef: string; pulled: boolean; message: string; user?: ImageUser }
  | {
      ok: false;
      reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName';
      message: string;
      retryAt?: number;
    };

export interface ImageManagerOptions {
  images: ImageService;
  clock: Clock;
  /** kubelet: 10s initial, MaxContainerBackOff 300s. */
  backoff?: BackoffConfig;
  /** Upstream serializeImagePulls, default true: one PullImage at a time, FIFO. */
  serializeImagePulls?: boolean;
  /** When not serialized: at most this many pulls at once (upstream maxParallelImagePulls); unlimited if unset. */
  maxParallelImagePulls?: number;
  /** Deadline for PullImage; upstream sets none (pulls take as long as they take), so neither do we by default. */
  pullTimeoutMs?: number;
}

interface PullOutcome {
  imageRef: string;
  size: number;
  user: ImageUser | undefined;
  pullMs: number;
}

/** The gRPC status text upstream shows (`rpc error: code = NotFound desc = …`). */
const REGISTRY_UNAVAILABLE = 'RegistryUnavailable';
const SIGNATURE_VALIDATION_FAILED = 'SignatureValidationFailed';

export class ImageManager {
  readonly #images: ImageService;
  readonly #clock: Clock;
  readonly #backoff: PullBackoff;
  readonly #serial: boolean;
  readonly #maxParallel: number;
  readonly #pullOpts: CallOptions | undefined;
  /** Pulls waiting for a slot, FIFO. */
  readonly #queue: (() => void)[] = [];
  #active = 0;
  #pulls = 0;
  #failures = 0;

  constructor(opts: ImageManagerOptions) {
    this.#images = opts.images;
    this.#clock = opts.clock;
    this.#backoff = new PullBackoff(opts.backoff ?? { initialMs: 10_000, maxMs: 300_000 });
    this.#serial = opts.serializeImagePulls ?? true;
    this.#maxParallel = this.#serial
      ? 1
      : opts.maxParallelImagePulls && opts.maxParallelImagePulls > 0
        ? opts.maxParallelImagePulls
        : Infinity;
    this.#pullOpts = opts.pullTimeoutMs !== undefined ? { timeoutMs: opts.pullTimeoutMs } : undefined;
  }

  /** Upstream's back-off key: one per pod and image as written in the spec. */
  static backoffKey(pod: Pod, container: Container): string {
    return `${pod.metadata?.uid ?? ''}_${container.image}`;
  }

  async ensureImageExists(
    pod: Pod,
    container: Container,
    sandboxConfig?: PodSandboxConfig,
    record: EventSink = () => {},
  ): Promise<EnsureImageResult> {
    const imgRef = container.image;
    let image: string;
    try {
      image = applyDefaultImageTag(imgRef);
    } catch (e) {
      const message = `Failed to apply default image tag ${goQuote(imgRef)}: ${(e as Error).message}`;
      record('Warning', EventReason.FailedToInspectImage, message);
      return { ok: false, reason: 'InvalidImageName', message };
    }
    const annotations = pod.metadata?.annotations;
    const spec: ImageSpec =
      annotations && Object.keys(annotations).length ? { image, annotations: { ...annotations } } : { image };

    // GetImageRef: the image id when present. A failure here is the runtime not answering.
    let status;
    try {
      status = await this.#images.imageStatus(spec);
    } catch (e) {
      record(
        'Warning',
        EventReason.FailedToInspectImage,
        `Failed to inspect image ${goQuote(imgRef)}: ${criErrorText(e)}`,
      );
      throw e;
    }
    const presentRef = status?.id ?? '';
    const policy = (container.imagePullPolicy as PullPolicy | undefined) || defaultPullPolicy(imgRef);

    const shouldPull = policy === 'Always' || (policy === 'IfNotPresent' && presentRef === '');
    if (!shouldPull) {
      if (presentRef !== '') {
        const message = `Container image ${goQuote(imgRef)} already present on machine`;
        record('Normal', EventReason.PulledImage, message);
        return { ok: true, imageRef: presentRef, pulled: false, message, user: imageUser(status) };
      }
      const message = `Container image ${goQuote(imgRef)} is not present with pull policy of Never`;
      record('Warning', EventReason.ErrImageNeverPullPolicy, message);
      return { ok: false, reason: 'ErrImageNeverPull', message };
    }

    const key = ImageManager.backoffKey(pod, container);
    const blocked = this.#backoff.blockedUntil(key, this.#clock.now());
    if (blocked !== undefined) {
      const message = `Back-off pulling image ${goQuote(imgRef)}`;
      record('Normal', EventReason.BackOffPullImage, message);
      return { ok: false, reason: 'ImagePullBackOff', message, retryAt: blocked };
    }

    record('Normal', EventReason.PullingImage, `Pulling image ${goQuote(imgRef)}`);
    const queuedAt = this.#clock.now();
    let outcome: PullOutcome;
    try {
      outcome = await this.#withSlot(() => this.#pull(spec, sandboxConfig));
    } catch (e) {
      this.#failures++;
      const now = this.#clock.now();
      record('Warning', EventReason.FailedToPullImage, `Failed to pull image ${goQuote(imgRef)}: ${criErrorText(e)}`);
      const delay = this.#backoff.next(key, now);
      return { ok: false, reason: 'ErrImagePull', message: evalPullError(imgRef, e), retryAt: now + delay };
    }
    const now = this.#clock.now();
    this.#backoff.reset(key);
    this.#backoff.gc(now);
    const message = `Successfully pulled image ${goQuote(imgRef)} in ${formatGoDuration(outcome.pullMs)} (${formatGoDuration(now - queuedAt)} including waiting). Image size: ${outcome.size} bytes.`;
    record('Normal', EventReason.PulledImage, message);
    return { ok: true, imageRef: outcome.imageRef, pulled: true, message, user: outcome.user };
  }

  async #pull(spec: ImageSpec, sandboxConfig: PodSandboxConfig | undefined): Promise<PullOutcome> {
    const start = this.#clock.now();
    this.#pulls++;
    const auth: AuthConfig | undefined = undefined;
    const imageRef = await this.#images.pullImage(spec, auth, sandboxConfig, this.#pullOpts);
    let size = 0;
    let user: ImageUser | undefined;
    if (imageRef !== '') {
      // Best effort, as upstream's GetImageSize: the pull itself succeeded.
      try {
        const status = await this.#images.imageStatus(spec);
        size = status?.size ?? 0;
        user = imageUser(status);
      } catch {
        size = 0;
      }
    }
    return { imageRef, size, user, pullMs: this.#clock.now() - start };
  }

  async #withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#maxParallel) {
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter (FIFO), or free it.
      const next = this.#queue.shift();
      if (next) next();
      else this.#active--;
    }
  }

  /** For the debug socket. */
  inspect(): {
    serialized: boolean;
    activePulls: number;
    queuedPulls: number;
    pulls: number;
    failures: number;
    backoff: { key: string; delayMs: number; lastUpdate: number }[];
  } {
    return {
      serialized: this.#serial,
      activePulls: this.#active,
      queuedPulls: this.#queue.length,
      pulls: this.#pulls,
      failures: this.#failures,
      backoff: this.#backoff.entries(),
    };
  }
}

/** Upstream evalCRIPullErr: registry-unavailable and signature failures get their own wording. */
function evalPullError(imgRef: string, e: unknown): string {
  const desc = criDesc(e);
  if (desc.startsWith(REGISTRY_UNAVAILABLE)) {
    return `image pull failed for ${imgRef} because the registry is unavailable${desc.slice(REGISTRY_UNAVAILABLE.length)}`;
  }
  if (desc.startsWith(SIGNATURE_VALIDATION_FAILED)) {
    return `image pull failed for ${imgRef} because the signature validation failed${desc.slice(SIGNATURE_VALIDATION_FAILED.length)}`;
  }
  return criErrorText(e);
}
