/** `/pods`: the pods this kubelet manages as a v1 PodList (upstream Kubelet.GetPods). */
import type { Pod } from '../../protocols/kube/pod.ts';
import type { DesiredPods, PodStatuses } from '../../protocols/messages/channels.ts';

export interface PodList {
  kind: 'PodList';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  items: Pod[];
}

/**
 * Every desired pod, in uid order; a static pod carries the status manager's status (the source
 * has none), an API pod the status the API server holds, as upstream.
 */
export function podList(desired: DesiredPods | undefined, statuses: PodStatuses | undefined): PodList {
  const items: Pod[] = [];
  for (const uid of [...(desired?.keys() ?? [])].sort()) {
    const d = desired!.get(uid)!;
    const status = d.static ? statuses?.get(uid) : undefined;
    items.push(status ? { ...d.pod, status } : d.pod);
  }
  return { kind: 'PodList', apiVersion: 'v1', metadata: {}, items };
}
