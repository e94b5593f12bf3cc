/**
 * The Node object and its heartbeats: node-status registers the Node and writes its status,
 * node-lease renews the Lease in kube-node-lease (both only when a kubeconfig is given).
 */
import type { Node } from '../kube/api.ts';

/**
 * View `node`: this kubelet's Node as the API server last returned it (after registration, a
 * status write, or the periodic GET), so readers see labels, taints and spec changes made by
 * others within one nodeStatusUpdateFrequency. Absent until the first registration succeeds.
 * Written only by node-status. Readers: pod admission (status.allocatable, labels, taints),
 * node-lease (metadata.uid for the Lease's owner reference).
 */
export type NodeView = Node;

/**
 * Commands on the `nodeControl` channel. Their timers send nothing on the bus (the actors run
 * their own cadence); a spec or another actor sends these to ask for the work now.
 */
/** anyone → node-status: compute the status now and write it if it changed (or the report is due). */
export interface NodeSyncStatus {
  type: 'node.syncStatus';
}

/** anyone → node-lease: renew the Lease now. */
export interface NodeRenewLease {
  type: 'node.renewLease';
}

export type NodeControl = NodeSyncStatus | NodeRenewLease;

/** upstream's ShutdownStatus error, a reason the node is not Ready while it shuts down. */
export const NODE_SHUTTING_DOWN = 'node is shutting down';
/** The status of a pod terminated by a graceful node shutdown (upstream nodeshutdown manager). */
export const NODE_SHUTDOWN_REASON = 'Terminated';
export const NODE_SHUTDOWN_MESSAGE = 'Pod was terminated in response to imminent node shutdown.';

/**
 * View `nodeShutdown`: the graceful node shutdown in progress, written only by nodeShutdown
 * (only with shutdownGracePeriod > 0). `killing` holds each pod told to terminate so far, by uid,
 * with the grace (seconds) it is killed with: min(its group's share of the grace period, its own
 * terminationGracePeriodSeconds). Readers: node-status (Ready False with "node is shutting down"
 * while `shuttingDown`), pod-manager's admission (NodeShutdown), the syncLoop (the kills on its
 * tick), the statusManager (the pods' Failed status).
 */
export interface NodeShutdownView {
  shuttingDown: boolean;
  killing: ReadonlyMap<string, number>;
}
