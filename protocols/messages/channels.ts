/**
 * Every bus channel of kubelet-ts, by name, with its payload type, and CHANNELS: the same names
 * as a table (kind and message types) from which `kubelet-ts inspect channels` and the README's
 * channel map are generated. Types only and one constant: no effects, nothing from kernel/
 * (bin/channels.ts binds these interfaces to the kernel's EventChannels/ViewChannels).
 */
import type { ConfigEvent, DesiredPods, MirrorPods, PodManagerEvent, PodSource } from './config.ts';
import type { EventsEvent } from './events.ts';
import type { KernelEvent } from './kernel.ts';
import type { NodeControl, NodeShutdownView, NodeView } from './node.ts';
import type { PlegEvent, PlegHealth, PlegInput, PlegRelisted, RuntimePods } from './pleg.ts';
import type { PodWorkerEvent, PodWorkerStates, SyncLoopEvent } from './pod-worker.ts';
import type { ProbeEvent, ProbeRan, ProbeResults } from './probe.ts';
import type { RuntimeCommand, RuntimeHealth, RuntimeReply } from './runtime.ts';
import type { PodStatuses, StatusEvent } from './status.ts';
import type { PodVolumesView } from './volumes.ts';
import type { NodeStatsView } from './stats.ts';

/** The kubelet's event channels: name → message union (bin/channels.ts binds them to the kernel's bus). */
export interface KubeletEventChannels {
  /** pod sources → pod-config → pod-manager */
  config: ConfigEvent;
  /** pod-manager → syncLoop */
  podManager: PodManagerEvent;
  /** pleg relist trigger (in) */
  plegControl: PlegInput;
  /** pleg → syncLoop */
  pleg: PlegEvent;
  /** pleg → server: each relist's duration and interval (metrics only) */
  plegRelists: PlegRelisted;
  /** probes → server: every probe run's outcome (prober_probe_total) */
  probeRuns: ProbeRan;
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

/** The kubelet's views: name → value (one writer each). */
export interface KubeletViewChannels {
  desiredPods: DesiredPods;
  mirrorPods: MirrorPods;
  /**
   * pod-manager → syncLoop (housekeeping), mirror-pods, containerGC: the pod sources that have listed
   * once (`config.sourcesReady`, upstream PodConfig's seen sources). A view, so that a reader that
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
  /** volumeManager → runtime: each pod's volumes as set up on the node (./volumes.ts) */
  podVolumes: PodVolumesView;
  /** stats → server, evictionManager: the latest Summary of the node and its pods (./stats.ts) */
  nodeStats: NodeStatsView;
  /** nodeShutdown → node-status: the graceful node shutdown in progress (./node.ts) */
  nodeShutdown: NodeShutdownView;
}

/** What the channel map says about one channel besides who declares it. */
export interface ChannelEntry {
  readonly kind: 'event' | 'view';
  /** An event channel: every `type` of its union; a view: the name of its value type. */
  readonly types: readonly string[];
  /** Writers or readers outside the actors (the kernel's supervisor, operators, taps), in parentheses. */
  readonly external?: { readonly writers?: readonly string[]; readonly readers?: readonly string[] };
}

type EventEntries = {
  readonly [K in keyof KubeletEventChannels]: ChannelEntry & {
    kind: 'event';
    types: readonly KubeletEventChannels[K]['type'][];
  };
};
type ViewEntries = { readonly [K in keyof KubeletViewChannels]: ChannelEntry & { kind: 'view' } };

/**
 * One entry per channel. An event channel lists its message types; tsc checks them against
 * the union (a type that is not in it fails here, and so does one of the union left out: see
 * `everyTypeListed` below).
 */
export const CHANNELS = {
  config: {
    kind: 'event',
    types: [
      'config.podsAdded',
      'config.podsUpdated',
      'config.podsRemoved',
      'config.podsReconciled',
      'config.sourceError',
      'config.sourcesReady',
      'config.relist',
    ],
  },
  podManager: { kind: 'event', types: ['podManager.podChanged'] },
  plegControl: { kind: 'event', types: ['pleg.relist'] },
  pleg: {
    kind: 'event',
    types: ['pleg.containerStarted', 'pleg.containerDied', 'pleg.containerRemoved', 'pleg.containerChanged'],
  },
  plegRelists: { kind: 'event', types: ['pleg.relisted'] },
  probeRuns: { kind: 'event', types: ['probe.ran'] },
  syncLoop: { kind: 'event', types: ['syncLoop.syncTick', 'syncLoop.housekeeping'] },
  podWorker: { kind: 'event', types: ['podWorker.update', 'podWorker.stateChanged'] },
  runtime: { kind: 'event', types: ['runtime.syncPod', 'runtime.cancelSync', 'runtime.killPod', 'runtime.removePod'] },
  runtimeReply: {
    kind: 'event',
    types: ['runtime.podSynced', 'runtime.syncCancelled', 'runtime.podKilled', 'runtime.podRemoved'],
  },
  status: {
    kind: 'event',
    types: ['status.podStatusChanged', 'status.podStatusRemoved'],
    external: { readers: ['(taps)'] },
  },
  kernel: {
    kind: 'event',
    types: ['kernel.actorCrashed', 'kernel.actorStarted', 'kernel.escalated'],
    external: { writers: ['(supervisor)'] },
  },
  events: { kind: 'event', types: ['event.record'] },
  probe: { kind: 'event', types: ['probe.resultChanged'], external: { writers: ['(replay)'] } },
  nodeControl: { kind: 'event', types: ['node.syncStatus', 'node.renewLease'], external: { writers: ['(specs)'] } },
  desiredPods: { kind: 'view', types: ['DesiredPods'] },
  mirrorPods: { kind: 'view', types: ['MirrorPods'] },
  readySources: { kind: 'view', types: ['ReadonlySet<PodSource>'] },
  podWorkerStates: { kind: 'view', types: ['PodWorkerStates'] },
  podStatuses: { kind: 'view', types: ['PodStatuses'] },
  runtimeHealth: { kind: 'view', types: ['RuntimeHealth'] },
  plegHealth: { kind: 'view', types: ['PlegHealth'] },
  runtimePods: { kind: 'view', types: ['RuntimePods'] },
  probeResults: { kind: 'view', types: ['ProbeResults'] },
  node: { kind: 'view', types: ['NodeView'] },
  podVolumes: { kind: 'view', types: ['PodVolumesView'] },
  nodeStats: { kind: 'view', types: ['NodeStatsView'] },
  nodeShutdown: { kind: 'view', types: ['NodeShutdownView'] },
} as const satisfies EventEntries & ViewEntries;

type Unlisted = {
  [K in keyof KubeletEventChannels]: Exclude<KubeletEventChannels[K]['type'], (typeof CHANNELS)[K]['types'][number]>;
}[keyof KubeletEventChannels];
/** Fails to type-check, naming the message type, when a union member is missing from CHANNELS. */
const everyTypeListed: [Unlisted] extends [never] ? true : { missingFromChannels: Unlisted } = true;
void everyTypeListed;

export type * from './config.ts';
export type * from './events.ts';
export type * from './kernel.ts';
export type * from './node.ts';
export type * from './pleg.ts';
export type * from './pod-worker.ts';
export type * from './probe.ts';
export type * from './runtime.ts';
export type * from './status.ts';
export type * from './volumes.ts';
