/**
 * The `events` channel: how any actor records a Kubernetes Event (upstream's
 * `recorder.Eventf(ref, eventtype, reason, message)`). The events actor (actors/events/) turns
 * each record into a core/v1 Event with source {component: kubelet, host: <node>}, correlates
 * repeats the way client-go's EventCorrelator does (same object + reason + message → count and
 * lastTimestamp patched onto one Event; more than 10 similar messages in 10 minutes →
 * "(combined from similar events): ..."; at most 25 per object, then one per 5 minutes),
 * throttles writes (eventRecordQPS 50 / eventBurst 100) and drops, counting, when its bounded
 * queue is full. Recording never fails and never blocks the sender; without a kubeconfig the
 * events are only logged (at -v=2).
 *
 * For senders:
 *
 *   ctx.bus.send('events', recordEvent(containerRef(pod, 'web'), 'Normal', EventReason.Pulling,
 *     `Pulling image "${image}"`));
 *
 * Use upstream's reasons and message wording (pkg/kubelet/events and the call sites), so
 * `kubectl describe` and anything matching on reasons read the same as with the upstream kubelet.
 */
import type { ObjectReference } from '../kube/api.ts';

export type EventType = 'Normal' | 'Warning';

/**
 * anyone → events: record one Event about `involvedObject`. Fire and forget: no reply, no
 * ordering guarantee against the API beyond "in send order", dropped (and counted) only when
 * 1000 are already waiting.
 */
export interface EventRecord {
  type: 'event.record';
  involvedObject: ObjectReference;
  eventType: EventType;
  /** UpperCamelCase, short and stable (see EventReason). */
  reason: string;
  /** For people; a repeat with the same message is counted onto the same Event. */
  message: string;
}

export type EventsEvent = EventRecord;

/**
 * A recorder bound to one involved object, for helpers that are not actors (the ImageManager is
 * a port the runtime actor calls): the caller builds the reference and sends the record, as
 * upstream hands the image manager an ObjectReference and its recorder.
 */
export type EventSink = (eventType: EventType, reason: string, message: string) => void;

export function recordEvent(
  involvedObject: ObjectReference,
  eventType: EventType,
  reason: string,
  message: string,
): EventRecord {
  return { type: 'event.record', involvedObject, eventType, reason, message };
}

/** The reasons upstream's kubelet records (pkg/kubelet/events/event.go). */
export const EventReason = {
  // containers
  CreatedContainer: 'Created',
  StartedContainer: 'Started',
  FailedToCreateContainer: 'Failed',
  FailedToStartContainer: 'Failed',
  KillingContainer: 'Killing',
  PreemptContainer: 'Preempting',
  BackOffStartContainer: 'BackOff',
  ExceededGracePeriod: 'ExceededGracePeriod',
  FailedPostStartHook: 'FailedPostStartHook',
  FailedPreStopHook: 'FailedPreStopHook',
  // upstream records it from the lifecycle handler runner, on the pod
  LifecycleHTTPFallback: 'LifecycleHTTPFallback',
  // pods
  FailedToKillPod: 'FailedKillPod',
  FailedToCreatePodContainer: 'FailedCreatePodContainer',
  NetworkNotReady: 'NetworkNotReady',
  FailedValidation: 'FailedValidation',
  // images
  PullingImage: 'Pulling',
  PulledImage: 'Pulled',
  FailedToPullImage: 'Failed',
  FailedToInspectImage: 'InspectFailed',
  ErrImageNeverPullPolicy: 'ErrImageNeverPull',
  BackOffPullImage: 'BackOff',
  // the node
  StartingKubelet: 'Starting',
  KubeletSetupFailed: 'KubeletSetupFailed',
  NodeReady: 'NodeReady',
  NodeNotReady: 'NodeNotReady',
  NodeSchedulable: 'NodeSchedulable',
  NodeNotSchedulable: 'NodeNotSchedulable',
  NodeRebooted: 'Rebooted',
  NodeShutdown: 'Shutdown',
  NodeHasSufficientMemory: 'NodeHasSufficientMemory',
  NodeHasInsufficientMemory: 'NodeHasInsufficientMemory',
  NodeHasNoDiskPressure: 'NodeHasNoDiskPressure',
  NodeHasDiskPressure: 'NodeHasDiskPressure',
  NodeHasSufficientPID: 'NodeHasSufficientPID',
  NodeHasInsufficientPID: 'NodeHasInsufficientPID',
  InvalidDiskCapacity: 'InvalidDiskCapacity',
  FreeDiskSpaceFailed: 'FreeDiskSpaceFailed',
  ContainerGCFailed: 'ContainerGCFailed',
  ImageGCFailed: 'ImageGCFailed',
  SuccessfulNodeAllocatableEnforcement: 'NodeAllocatableEnforced',
  // sandboxes
  SandboxChanged: 'SandboxChanged',
  FailedCreatePodSandBox: 'FailedCreatePodSandBox',
  FailedStatusPodSandBox: 'FailedPodSandBoxStatus',
  // probes
  ContainerUnhealthy: 'Unhealthy',
  ContainerProbeWarning: 'ProbeWarning',
  // volumes
  FailedMountVolume: 'FailedMount',
  SuccessfulMountVolume: 'SuccessfulMountVolume',
} as const;

/** A pod, as upstream's ref.GetReference makes it (kind Pod, apiVersion v1). */
export function podRef(pod: {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}): ObjectReference {
  const m = pod.metadata ?? {};
  const ref: ObjectReference = { kind: 'Pod', namespace: m.namespace ?? '', name: m.name ?? '', apiVersion: 'v1' };
  if (m.uid) ref.uid = m.uid;
  if (m.resourceVersion) ref.resourceVersion = m.resourceVersion;
  return ref;
}

/**
 * A container of a pod: fieldPath `spec.containers{name}` (or initContainers / ephemeralContainers),
 * as upstream's kubecontainer.GenerateContainerRef does.
 */
export function containerRef(
  pod: { metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string } },
  container: string,
  list: 'containers' | 'initContainers' | 'ephemeralContainers' = 'containers',
): ObjectReference {
  return { ...podRef(pod), fieldPath: `spec.${list}{${container}}` };
}

/** The node itself: upstream's kubelet nodeRef uses the node name as the UID. */
export function nodeRef(nodeName: string): ObjectReference {
  return { kind: 'Node', name: nodeName, uid: nodeName, namespace: '' };
}
