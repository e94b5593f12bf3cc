/**
 * The statusManager's local cache: the v1 PodStatus of every pod this node runs. Writing it to
 * the API server comes later; for now the view is what specs and the debug socket read.
 */
import type { PodStatus } from '../kube/pod.ts';

/** status → anyone: the computed v1 status of a pod changed (not sent when equal). */
export interface StatusPodStatusChanged {
  type: 'status.podStatusChanged';
  uid: string;
  status: PodStatus;
}

/** status → anyone: a pod's status entry was dropped (pod removed from the node). */
export interface StatusPodStatusRemoved {
  type: 'status.podStatusRemoved';
  uid: string;
}

export type StatusEvent = StatusPodStatusChanged | StatusPodStatusRemoved;

/** View `podStatuses`: uid → v1 PodStatus, written only by the status actor. */
export type PodStatuses = ReadonlyMap<string, PodStatus>;
