/**
 * `--runonce`: run the static pods once, wait for them to be running, report, exit (upstream
 * pkg/kubelet/runonce.go). The kubelet is the ordinary one, started without servers; this waits
 * on its views instead of driving syncs itself:
 *
 *   start ─▶ static sources listed (readySources; at most RUN_ONCE_MANIFEST_DELAY_MS, else
 *            "no pod manifest update") ─▶ the desired static pods: rejected ones are reported
 *            (not failures, as upstream) ─▶ each admitted pod: running once every container of
 *            its spec is running in its v1 status; checked on every status change, given up
 *            after `maxRetries` delays of `retryDelayMs` doubling each time (upstream's 10 from
 *            1 s: about 17 min in all) ─▶ one line per pod on stdout, exit 0 when all run.
 *
 * Pods keep running after the exit, as upstream leaves them.
 */
import { filter, take, type Observable } from 'rxjs';
import type { Clock, TimerId } from '../kernel/clock.ts';
import type { Logger } from '../kernel/log.ts';
import type { PodStatus } from '../protocols/kube/pod.ts';
import type { DesiredPod } from '../protocols/messages/config.ts';
import type { PodSource } from '../protocols/messages/channels.ts';
import type { Kubelet } from './kubelet.ts';

/** Upstream's runOnceManifestDelay is 1 s from a kubelet already running; ours counts from the end of start, on a busy node. */
const RUN_ONCE_MANIFEST_DELAY_MS = 5000;
/** Upstream runOnceMaxRetries, runOnceRetryDelay, runOnceRetryDelayBackoff. */
const RUN_ONCE_MAX_RETRIES = 10;
const RUN_ONCE_RETRY_DELAY_MS = 1000;
const RUN_ONCE_BACKOFF = 2;

export interface RunPodResult {
  /** namespace/name */
  pod: string;
  uid: string;
  /** Why it failed to run; undefined when running (or rejected: `rejected` says why). */
  error?: string;
  rejected?: string;
  /** Each spec container's state: running, waiting (reason) or terminated (reason). */
  containers: { name: string; state: string }[];
}

export interface RunOnceOptions {
  clock: Clock;
  log: Logger;
  /** The static sources to wait for (file, http). */
  sources: readonly PodSource[];
  retryDelayMs?: number;
  maxRetries?: number;
  manifestDelayMs?: number;
}

const podName = (d: DesiredPod) => `${d.pod.metadata.namespace ?? 'default'}/${d.pod.metadata.name}`;

function containerStates(d: DesiredPod, status: PodStatus | undefined): { name: string; state: string }[] {
  return d.pod.spec.containers.map((c) => {
    const s = status?.containerStatuses?.find((x) => x.name === c.name)?.state;
    const state = s?.running
      ? 'running'
      : s?.terminated
        ? `terminated (${s.terminated.reason ?? `exit ${s.terminated.exitCode}`})`
        : s?.waiting
          ? `waiting (${s.waiting.reason ?? 'no reason'})`
          : 'not created';
    return { name: c.name, state };
  });
}

/** Upstream isPodRunning: every container of the spec is running. */
const isRunning = (d: DesiredPod, status: PodStatus | undefined) =>
  containerStates(d, status).every((c) => c.state === 'running');

/** Waits for the started kubelet's static pods to run; resolves with one result per pod (throws when no manifest came). */
export async function runOnce(k: Kubelet, o: RunOnceOptions): Promise<RunPodResult[]> {
  const port = k.bus.port('runOnce');
  /** Resolves true when `source` emits, false after `ms` on the clock; the loser is cancelled. */
  const within = (source: Observable<unknown>, ms: number) =>
    new Promise<boolean>((resolve) => {
      let done = false;
      let t: TimerId | undefined;
      // a view replays its value at once: the subscription may settle before the timer exists
      const sub = source.pipe(take(1)).subscribe(() => {
        done = true;
        o.clock.clearTimeout(t);
        resolve(true);
      });
      if (!done)
        t = o.clock.setTimeout(() => {
          sub.unsubscribe();
          resolve(false);
        }, ms);
    });
  const manifestDelayMs = o.manifestDelayMs ?? RUN_ONCE_MANIFEST_DELAY_MS;
  if (o.sources.length === 0)
    throw new Error(
      'no pod manifest update: --runonce runs the static pods of --pod-manifest-path or --manifest-url, and neither is set',
    );
  if (
    !(await within(
      port.view('readySources').pipe(filter((ready) => o.sources.every((s) => ready.has(s)))),
      manifestDelayMs,
    ))
  ) {
    throw new Error(
      `no pod manifest update after ${manifestDelayMs / 1000}s (sources: ${o.sources.join(', ') || 'none'})`,
    );
  }
  const desired = [...(port.current('desiredPods') ?? new Map<string, DesiredPod>()).entries()].filter(
    ([, d]) => d.static,
  );
  o.log.info(`processing manifest with ${desired.length} pods`);
  const statusOf = (uid: string) => port.current('podStatuses')?.get(uid);
  const result = (uid: string, d: DesiredPod, more: Partial<RunPodResult> = {}): RunPodResult => ({
    pod: podName(d),
    uid,
    ...more,
    containers: containerStates(d, statusOf(uid)),
  });
  const maxRetries = o.maxRetries ?? RUN_ONCE_MAX_RETRIES;
  const results = await Promise.all(
    desired.map(async ([uid, d]): Promise<RunPodResult> => {
      if (d.rejected) return result(uid, d, { rejected: `${d.rejected.reason}: ${d.rejected.message}` });
      let wait = o.retryDelayMs ?? RUN_ONCE_RETRY_DELAY_MS;
      for (let retry = 0; ; retry++) {
        if (isRunning(d, statusOf(uid))) {
          o.log.info('pod containers running', { pod: podName(d) });
          return result(uid, d);
        }
        if (retry >= maxRetries) {
          return result(uid, d, {
            error: `timeout error: pod "${podName(d)}" containers not running after ${maxRetries} retries`,
          });
        }
        // the next check: after the retry delay, or as soon as the status shows it running
        await within(port.view('podStatuses').pipe(filter((s) => isRunning(d, s.get(uid)))), wait);
        wait *= RUN_ONCE_BACKOFF;
      }
    }),
  );
  o.log.info(`finished processing ${desired.length} pods`, {
    failed: results.filter((r) => r.error).map((r) => r.pod),
  });
  return results;
}

/** One line per pod, as the operator reads them: `default/web: running (app running, sidecar running)`. */
export function formatRunOnce(results: readonly RunPodResult[]): string {
  return results
    .map((r) => {
      const what = r.error ? `failed: ${r.error}` : r.rejected ? `rejected: ${r.rejected}` : 'running';
      return `${r.pod}: ${what} (${r.containers.map((c) => `${c.name} ${c.state}`).join(', ')})`;
    })
    .join('\n');
}
