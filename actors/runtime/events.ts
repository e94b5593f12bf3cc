/**
 * The events the runtime records (upstream kuberuntime_manager.go / kuberuntime_container.go and
 * the image manager), with upstream's reasons and wording:
 *
 *   pod        SandboxChanged (Normal)  "Pod sandbox changed, it will be killed and re-created."
 *              FailedCreatePodSandBox   "Failed to create pod sandbox: rpc error: code = ... desc = ..."
 *              FailedPodSandBoxStatus   "Unable to get pod sandbox status: ..."
 *              FailedKillPod            "error killing pod: ..."
 *   container  Created (Normal)         "Created container: NAME"
 *              Started (Normal)         "Started container NAME"
 *              Killing (Normal)         "Stopping container NAME", or computePodActions' reason
 *                                       ("Container NAME definition changed, will be restarted")
 *              BackOff (Warning)        "Back-off restarting failed container NAME in pod NAME_NS(UID)"
 *              Failed (Warning)         "Error: <cause>" for image, config, create and start failures
 *              FailedPostStartHook, FailedPreStopHook (Warning)  "PostStartHook failed", "PreStopHook failed"
 *   pod        LifecycleHTTPFallback (Warning)  "request to HTTPS lifecycle hook H:P got HTTP response, retry with HTTP succeeded"
 *              + the image events (Pulling, Pulled, Failed, BackOff, ...) via the ImageManager's sink.
 *
 * Container events carry fieldPath spec.containers{NAME} (or initContainers); for a container
 * of a pod no longer known (an orphan killed from its labels) upstream falls back to
 * "implicitly required container NAME".
 */
import type { ObjectReference } from '../../protocols/kube/api.ts';
import {
  containerRef,
  EventReason,
  podRef,
  recordEvent,
  type EventRecord,
  type EventSink,
  type EventType,
} from '../../protocols/messages/events.ts';

/** Enough of a pod to refer to it; orphans are rebuilt from their container labels. */
export interface PodLike {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  spec?: { containers?: readonly { name: string }[]; initContainers?: readonly { name: string }[] };
}

const IMPLICIT_CONTAINER_PREFIX = 'implicitly required container ';

/** upstream GenerateContainerRef. */
export function containerRefIn(pod: PodLike, name: string): ObjectReference {
  if (pod.spec?.containers?.some((c) => c.name === name)) return containerRef(pod, name, 'containers');
  if (pod.spec?.initContainers?.some((c) => c.name === name)) return containerRef(pod, name, 'initContainers');
  return { ...podRef(pod), fieldPath: `${IMPLICIT_CONTAINER_PREFIX}${name}` };
}

export function backOffRestartingMessage(pod: PodLike, container: string): string {
  const m = pod.metadata ?? {};
  return `Back-off restarting failed container ${container} in pod ${m.name}_${m.namespace}(${m.uid})`;
}

/** The runtime's recorder: pod and container events onto the `events` channel. */
export interface RuntimeRecorder {
  pod(pod: PodLike, type: EventType, reason: string, message: string): void;
  container(pod: PodLike, name: string, type: EventType, reason: string, message: string): void;
  /** A sink bound to one container, for the ImageManager. */
  sink(pod: PodLike, name: string): EventSink;
  killing(pod: PodLike, name: string, message?: string): void;
}

export function runtimeRecorder(send: (r: EventRecord) => void): RuntimeRecorder {
  const container = (pod: PodLike, name: string, type: EventType, reason: string, message: string) =>
    send(recordEvent(containerRefIn(pod, name), type, reason, message));
  return {
    pod: (pod, type, reason, message) => send(recordEvent(podRef(pod), type, reason, message)),
    container,
    sink: (pod, name) => (type, reason, message) => container(pod, name, type, reason, message),
    killing: (pod, name, message) =>
      container(pod, name, 'Normal', EventReason.KillingContainer, message || `Stopping container ${name}`),
  };
}
