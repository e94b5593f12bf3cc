/**
 * The statusManager's local cache: the v1 PodStatus of every pod this node runs, and the facts of
 * its changes. In cluster mode the statusManager also writes each status to the API server
 * (actors/status); these are the node-local side: the `podStatuses` view (read by the runtime for
 * the previous status, pod-manager's admission for terminal pods, the debug socket's `pod`) and
 * the `status` channel.
 */
import type { PodStatus } from '../kube/pod.ts';

/**
 * statusManager → anyone (server: pod start durations; specs and `inspect tail status`): the v1
 * status of a pod changed. Sent after the `podStatuses` view holds it, never when equal, in change
 * order per pod; a fact, not retried.
 */
export interface StatusPodStatusChanged {
  type: 'status.podStatusChanged';
  uid: string;
  status: PodStatus;
}

/**
 * statusManager → anyone (as podStatusChanged): a pod's status entry was dropped (the pod is gone
 * from the node: neither desired nor held by a worker). Sent after the view lost the entry.
 */
export interface StatusPodStatusRemoved {
  type: 'status.podStatusRemoved';
  uid: string;
}

export type StatusEvent = StatusPodStatusChanged | StatusPodStatusRemoved;

/** View `podStatuses`: uid → v1 PodStatus, written only by the status actor. */
export type PodStatuses = ReadonlyMap<string, PodStatus>;
