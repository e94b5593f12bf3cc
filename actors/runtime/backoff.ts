/**
 * The crash-loop backoff: upstream's flowcontrol.Backoff (client-go/util/flowcontrol/backoff.go)
 * as kubelet uses it for container restarts (initial 10s, cap 300s, no jitter), as pure data.
 *
 * Semantics, as upstream:
 * - `next(key, now, eventTime)`: the first call (or the first after 2×max of quiet, measured from
 *   `eventTime` to the entry's last update) sets the delay to the initial 10s; each later call
 *   doubles it, capped at 300s. `lastUpdate` is `now`.
 * - `isInBackOffSince(key, eventTime, now)`: true while `now - eventTime < delay`, unless the
 *   entry has expired (eventTime more than 2×max after its last update).
 * - `gc(now)`: drops entries not updated for more than 2×max.
 *
 * kubelet calls IsInBackOffSince with the finish time of the container's last exit, and Next
 * just before restarting it: the first restart after a crash is immediate, the next waits 10s,
 * then 20s, 40s, ... 300s.
 *
 * The functions take and return immutable state; `CrashBackoff` holds one state for the runtime
 * actor (its methods are deterministic too: the time is always an argument).
 */
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import { containerHash } from './labels.ts';

export interface BackoffEntry {
  /** Current delay (ms). */
  delayMs: number;
  /** Clock ms of the last `next`. */
  lastUpdate: number;
}

export type BackoffState = ReadonlyMap<string, BackoffEntry>;

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** kubelet's container restart backoff (upstream backOffPeriod / MaxContainerBackOff). */
export const CRASH_BACKOFF: BackoffPolicy = { initialMs: 10_000, maxMs: 300_000 };

/** upstream hasExpired: stable for twice the max delay, the entry starts over. */
function hasExpired(eventTime: number, lastUpdate: number, policy: BackoffPolicy): boolean {
  return eventTime - lastUpdate > policy.maxMs * 2;
}

export function backoffNext(
  state: BackoffState,
  key: string,
  now: number,
  eventTime: number = now,
  policy: BackoffPolicy = CRASH_BACKOFF,
): BackoffState {
  const entry = state.get(key);
  const delayMs =
    !entry || hasExpired(eventTime, entry.lastUpdate, policy)
      ? policy.initialMs
      : Math.min(entry.delayMs * 2, policy.maxMs);
  const out = new Map(state);
  out.set(key, { delayMs, lastUpdate: now });
  return out;
}

/** The current delay for `key` (ms), 0 when there is none (upstream Get). */
export function backoffGet(state: BackoffState, key: string): number {
  return state.get(key)?.delayMs ?? 0;
}

export function isInBackOffSince(
  state: BackoffState,
  key: string,
  eventTime: number,
  now: number,
  policy: BackoffPolicy = CRASH_BACKOFF,
): boolean {
  const entry = state.get(key);
  if (!entry) return false;
  if (hasExpired(eventTime, entry.lastUpdate, policy)) return false;
  return now - eventTime < entry.delayMs;
}

/** upstream GC: forget entries not updated for more than 2×max. */
export function backoffGc(state: BackoffState, now: number, policy: BackoffPolicy = CRASH_BACKOFF): BackoffState {
  const out = new Map<string, BackoffEntry>();
  for (const [k, e] of state) if (now - e.lastUpdate <= policy.maxMs * 2) out.set(k, e);
  return out;
}

/** Forget one key (upstream Reset). */
export function backoffReset(state: BackoffState, key: string): BackoffState {
  if (!state.has(key)) return state;
  const out = new Map(state);
  out.delete(key);
  return out;
}

/**
 * upstream getStableKey: `<pod>_<namespace>_<uid>_<container>_<hash>`. The hash is part of the
 * key, so a fixed spec (new image) starts without the old crash history.
 */
export function backoffKey(pod: Pod, container: Container): string {
  const m = pod.metadata;
  return `${m.name}_${m.namespace}_${m.uid}_${container.name}_${containerHash(container)}`;
}

/** What computePodActions reads: the backoff, never written. */
export interface BackoffView {
  get(key: string): number;
  isInBackOffSince(key: string, eventTime: number, now: number): boolean;
}

/** Read-only view over a state value (for pure callers and specs). */
export function backoffView(state: BackoffState, policy: BackoffPolicy = CRASH_BACKOFF): BackoffView {
  return {
    get: (key) => backoffGet(state, key),
    isInBackOffSince: (key, eventTime, now) => isInBackOffSince(state, key, eventTime, now, policy),
  };
}

/** One backoff state held for the runtime actor; every method takes the time as an argument. */
export class CrashBackoff implements BackoffView {
  #state: BackoffState = new Map();
  readonly policy: BackoffPolicy;

  constructor(policy: BackoffPolicy = CRASH_BACKOFF, state: BackoffState = new Map()) {
    this.policy = policy;
    this.#state = state;
  }

  /** Record a restart. `eventTime` is the finish time of the exit being restarted (default `now`). */
  next(key: string, now: number, eventTime: number = now): void {
    this.#state = backoffNext(this.#state, key, now, eventTime, this.policy);
  }

  get(key: string): number {
    return backoffGet(this.#state, key);
  }

  isInBackOffSince(key: string, eventTime: number, now: number): boolean {
    return isInBackOffSince(this.#state, key, eventTime, now, this.policy);
  }

  gc(now: number): void {
    this.#state = backoffGc(this.#state, now, this.policy);
  }

  reset(key: string): void {
    this.#state = backoffReset(this.#state, key);
  }

  get size(): number {
    return this.#state.size;
  }

  /** The state as a value (inspection, recorder). */
  get state(): BackoffState {
    return this.#state;
  }
}

/**
 * A duration as Go's time.Duration.String() prints it ("10s", "1m20s", "5m0s", "1.5s", "500ms"):
 * upstream's CrashLoopBackOff message embeds it.
 */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Number((rest / 1000).toFixed(9));
  let out = sign;
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  return `${out}${s}s`;
}
