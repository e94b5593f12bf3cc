/**
 * activeDeadlineSeconds (upstream pkg/kubelet/active_deadline.go): a pod active on the node for
 * longer than its deadline, counted from status.startTime, is failed with reason DeadlineExceeded
 * and its containers are killed. Pure.
 *
 * The start is the status manager's startTime, else the API's, else (a kubelet restarted with
 * neither: a static pod in standalone mode) the creation of the pod's oldest sandbox the runtime
 * still has, so a restart does not grant the pod a fresh deadline.
 */
import type { Pod, PodStatus } from '../../protocols/kube/pod.ts';
import type { RuntimePodStatus } from '../../protocols/messages/runtime.ts';

export const DEADLINE_EXCEEDED_REASON = 'DeadlineExceeded';
export const DEADLINE_EXCEEDED_MESSAGE = 'Pod was active on the node longer than the specified deadline';

/** The clock time (ms) the pod's deadline passes; undefined without a deadline or a start. */
export function activeDeadlineAt(
  pod: Pod,
  previous: PodStatus | undefined,
  runtime: RuntimePodStatus | undefined,
): number | undefined {
  const seconds = pod.spec?.activeDeadlineSeconds;
  if (seconds === undefined) return undefined;
  const recorded = previous?.startTime || pod.status?.startTime;
  let start = recorded ? Date.parse(recorded) : Number.NaN;
  if (Number.isNaN(start)) {
    const sandboxes = (runtime?.sandboxes ?? []).map((s) => s.createdAt).filter((t) => t > 0);
    if (sandboxes.length === 0) return undefined;
    start = Math.min(...sandboxes);
  }
  return start + seconds * 1000;
}

/** upstream pastActiveDeadline: the deadline reached (duration >= allowed). */
export function pastActiveDeadline(
  pod: Pod,
  previous: PodStatus | undefined,
  runtime: RuntimePodStatus | undefined,
  now: number,
): boolean {
  const at = activeDeadlineAt(pod, previous, runtime);
  return at !== undefined && now >= at;
}
