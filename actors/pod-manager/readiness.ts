/**
 * When a status-only change of an API pod needs a sync (upstream kubelet.go HandlePodReconcile →
 * NeedToReconcilePodReadiness): only when the Ready condition the kubelet would now generate may
 * differ, i.e. a condition one of the pod's readiness gates names changed (set by a controller,
 * such as a load balancer's). The kubelet's own status writes touch no gate condition, so they
 * come back through the watch without causing a sync.
 */
import type { Pod } from '../../protocols/kube/pod.ts';

/** The status of each gate's condition ('' when absent), in spec.readinessGates order. */
function gateStatuses(gates: readonly Record<string, unknown>[], pod: Pod): string[] {
  const conditions = pod.status?.conditions ?? [];
  return gates.map((g) => String(conditions.find((c) => c.type === String(g['conditionType'] ?? ''))?.status ?? ''));
}

/** True when a condition named by `next`'s readiness gates appeared, went or changed status. Pure. */
export function readinessGatesChanged(prev: Pod, next: Pod): boolean {
  const gates = next.spec.readinessGates ?? [];
  if (gates.length === 0) return false;
  const a = gateStatuses(gates, prev);
  const b = gateStatuses(gates, next);
  return a.some((s, i) => s !== b[i]);
}
