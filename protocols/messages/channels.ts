/**
 * Every bus channel of kubelet-ts, by name: the kernel's EventChannels/ViewChannels augmented
 * with the kubelet's message families. Importing this module (bin/ and specs do) types the bus.
 */
import type { ConfigEvent, DesiredPods, MirrorPods, PodManagerEvent, PodSource } from './config.ts';
import type { EventsEvent } from './events.ts';
import type { KernelEvent } from './kernel.ts';
import type { NodeControl, NodeView } from './node.ts';
import type { PlegEvent, PlegHealth, PlegInput, RuntimePods } from './pleg.ts';
import type { PodWorkerEvent, PodWorkerStates, SyncLoopEvent } from './pod-worker.ts';
import type { ProbeEvent, ProbeResults } from './probe.ts';
import type { RuntimeCommand, RuntimeHealth, RuntimeReply } from './runtime.ts';
import type { PodStatuses, StatusEvent } from './status.ts';

declare module '../../kernel/bus.ts' {
  interface EventChannels {
    /** pod sources → pod-config → pod-manager */
    config: ConfigEvent;
    /** pod-manager → syncLoop */
    podManager: PodManagerEvent;
    /** pleg relist trigger (in) */
    plegControl: PlegInput;
    /** pleg → syncLoop */
    pleg: PlegEvent;
    /** syncLoop timers → syncLoop */
    syncLoop: SyncLoopEvent;
    /** syncLoop → podWorkers, podWorkers → anyone */
    podWorker: PodWorkerEvent;
    /** podWorkers → runtime */
    runtime: RuntimeCommand;
    /** runtime → podWorkers, status */
    runtimeReply: RuntimeReply;
    /** status → anyone */
    status: StatusEvent;
    /** supervisor → anyone */
    kernel: KernelEvent;
    /**
     * anyone → events: `event.record` {involvedObject, eventType Normal|Warning, reason, message};
     * the events actor writes core/v1 Events (aggregated, rate limited, never blocking the sender).
     * Build them with recordEvent/podRef/containerRef/nodeRef and EventReason from ./events.ts.
     */
    events: EventsEvent;
    /** probes → syncLoop: `probe.resultChanged` (a cached liveness/readiness/startup result changed) */
    probe: ProbeEvent;
    /** anyone → node-status / node-lease: `node.syncStatus`, `node.renewLease` (do it now) */
    nodeControl: NodeControl;
  }
  interface ViewChannels {
    desiredPods: DesiredPods;
    mirrorPods: MirrorPods;
    /**
     * pod-manager → syncLoop (housekeeping), mirror-pods: the pod sources that have listed once
     * (`config.sourcesReady`, upstream PodConfig's seen sources). A view, so that a reader that
     * subscribes after a source became ready, or restarts, still knows it.
     */
    readySources: ReadonlySet<PodSource>;
    podWorkerStates: PodWorkerStates;
    podStatuses: PodStatuses;
    runtimeHealth: RuntimeHealth;
    plegHealth: PlegHealth;
    runtimePods: RuntimePods;
    /** probes → runtime (computePodActions, ready/started): the probe results caches */
    probeResults: ProbeResults;
    /** node-status → admission, node-lease: this kubelet's Node as the API server last returned it */
    node: NodeView;
  }
}

export type * from './config.ts';
export type * from './events.ts';
export type * from './kernel.ts';
export type * from './node.ts';
export type * from './pleg.ts';
export type * from './pod-worker.ts';
export type * from './probe.ts';
export type * from './runtime.ts';
export type * from './status.ts';
