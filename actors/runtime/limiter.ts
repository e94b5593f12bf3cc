/**
 * Bounds on how many CRI calls the runtime actor has in flight, so a pod with a thousand
 * containers, or housekeeping after a restart that stops hundreds of orphans, cannot flood the
 * runtime: containerd 1.6 took ~800 StopContainer calls issued at once, let them all run into
 * their deadline (DeadlineExceeded) and stopped answering (issue 8). Upstream issues them all at
 * once (one goroutine per container); its runtimes cope better, ours did not.
 *
 * A Limiter is a FIFO counting semaphore. A caller waiting for a slot can give up (an aborted
 * signal: a sync cancelled by a kill leaves the queue at once, before any CRI call), and a call
 * that fails releases its slot like one that succeeds. No timers: nothing here waits on the clock.
 */

/**
 * StopContainer / RemoveContainer / StopPodSandbox / RemovePodSandbox in flight on the node.
 * 16: every container of an ordinary pod (and of a handful of pods deleted together) is stopped
 * in parallel as upstream does, while a burst of hundreds reaches containerd (and the one shim of
 * a huge pod, which handles every kill and exit of its containers) at most 16 at a time. With
 * more than 16 containers to stop the pod's grace period is a deadline for all of them, so
 * waiting for a slot does not stretch the kill by another grace period per round
 * (actors/runtime/index.ts killPodContainers).
 */
export const STOP_CONCURRENCY = 16;

/**
 * RunPodSandbox / CreateContainer / StartContainer in flight on the node. A pod's containers are
 * created one after the other (upstream SyncPod's loop), so this bounds many pods starting at
 * once (a node reboot) the same way.
 */
export const CREATE_CONCURRENCY = 16;

/** ContainerStatus / PodSandboxStatus calls one status read (getPodStatus) has in flight. */
export const STATUS_READ_CONCURRENCY = 16;

interface Waiter {
  grant: () => void;
  onAbort: () => void;
}

export class Limiter {
  readonly limit: number;
  #active = 0;
  readonly #waiting: Waiter[] = [];
  /** The highest number of calls ever in flight at once (inspection, specs). */
  #peak = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`Limiter: limit ${limit} is not a positive integer`);
    this.limit = limit;
  }

  /** Calls running now, calls waiting for a slot, and the most that ever ran at once. */
  stats(): { limit: number; active: number; queued: number; peak: number } {
    return { limit: this.limit, active: this.#active, queued: this.#waiting.length, peak: this.#peak };
  }

  /**
   * Runs `fn` once a slot is free. Rejects with the signal's reason, without running `fn`, when
   * the signal is aborted before the slot is granted.
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#acquire(signal);
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #acquire(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.#active < this.limit) {
      this.#take();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', w.onAbort);
          this.#take();
          resolve();
        },
        onAbort: () => {
          const i = this.#waiting.indexOf(w);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.#waiting.push(w);
    });
  }

  #take(): void {
    this.#active++;
    if (this.#active > this.#peak) this.#peak = this.#active;
  }

  #release(): void {
    this.#active--;
    const next = this.#waiting.shift();
    if (next) next.grant();
  }
}

/**
 * `fn` over `items`, at most `limit` at a time, results in order (a status read's fan-out). The
 * first failure (or an aborted signal) ends it: no further call is started.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      signal?.throwIfAborted();
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * `p`, or a rejection with the signal's reason as soon as `signal` aborts: the caller stops
 * waiting, `p` runs on and its outcome is dropped (an image pull a cancelled sync waited for).
 */
export function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
