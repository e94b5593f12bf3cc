/**
 * node-status: registers this kubelet's Node and keeps its status current (upstream
 * registerWithAPIServer + syncNodeStatus in kubelet_node_status.go), and publishes the view
 * `node`.
 *
 *   registering ──create──▶ registered ◀─────────────── every nodeStatusUpdateFrequency (10s),
 *     │  409 AlreadyExists: get, reconcile           │   on a readiness change, on node.syncStatus:
 *     │  default labels + annotation (merge patch)   │   GET the Node, run the setters, PATCH the status
 *     │  other errors: retry 200ms doubling to 7s    │   when it changed, or when the last write is
 *     ▼                                              │   nodeStatusReportFrequency (5m) old
 *   (the Node is gone: 404 on the GET or the PATCH) ─┘──▶ registering again
 *
 * Upstream keeps a deleted Node deleted until the kubelet restarts; kubelet-ts registers it again
 * at once, since nothing can be scheduled on a node without its Node object.
 *
 * The GET of a status update's first try carries resourceVersion=0, so the apiserver answers from
 * its watch cache instead of a quorum read of etcd every 10 s; the retries read from etcd.
 *
 * API failures are states, not crashes: a failed status update is tried 5 times in a row
 * (upstream nodeStatusUpdateRetry) and then waits for the next period; registration retries with
 * backoff; the last error is in `inspect`. The node events upstream's setters record
 * (NodeHasSufficientMemory, NodeReady, ...) are sent on `events` once the status carrying the
 * transition is written, plus "Starting kubelet." when the first instance starts.
 *
 * Without an API (standalone), the Node is computed locally every period and only published.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy, serial } from '../../kernel/actor.ts';
import { ApiError, type Node, type NodeApi } from '../../protocols/kube/api.ts';
import { EventReason, nodeRef, recordEvent } from '../../protocols/messages/events.ts';
import type { HostPort } from './adapters.ts';
import {
  containerRuntimeVersion,
  DEFAULT_PRESSURE_TRANSITION_PERIOD_MS,
  evaluatePressure,
  holdPressure,
  initialNode,
  nodeStatusHasChanged,
  readyErrors,
  reconcileExistingNode,
  setNodeStatus,
  statusPatch,
  viewKey,
  type NodeConfig,
  type NodeStatusEvent,
  type PressureObservedAt,
  type StatusInputs,
} from './logic.ts';
import { errText } from '../../kernel/log.ts';

export interface NodeStatusDeps {
  /** Absent in standalone mode: the Node is computed and published, never written. */
  api?: NodeApi;
  host: HostPort;
  config: NodeConfig;
  /** --register-node (default true): create the Node when it does not exist. */
  registerNode?: boolean;
  /** --node-ip: the InternalIP to report instead of the default route's. */
  nodeIP?: string;
  /** --node-status-update-frequency (default 10s). */
  updateFrequencyMs?: number;
  /** --node-status-report-frequency (default 5m). */
  reportFrequencyMs?: number;
  /** --eviction-pressure-transition-period (default 5m): how long a pressure condition stays True after its signal cleared. */
  pressureTransitionPeriodMs?: number;
}

/** Upstream nodeStatusUpdateRetry. */
const NODE_STATUS_UPDATE_RETRY = 5;
const REGISTER_MAX_BACKOFF_MS = 7000;

const isNotFound = (e: unknown) => e instanceof ApiError && e.code === 404;

type State = 'registering' | 'registered' | 'standalone';

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['nodeControl'],
  produces: ['events'],
  reads: ['nodeShutdown', 'plegHealth', 'runtimeHealth'],
  writes: ['node'],
});

export const nodeStatus: ActorSpec<NodeStatusDeps, typeof io> = {
  ...defaultPolicy,
  id: 'nodeStatus',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { api, host, config: cfg } = ctx.deps;
    const nodeName = cfg.nodeName;
    const registerNode = ctx.deps.registerNode ?? true;
    const updateEvery = ctx.deps.updateFrequencyMs ?? 10_000;
    const reportEvery = ctx.deps.reportFrequencyMs ?? 300_000;
    const transitionPeriod = ctx.deps.pressureTransitionPeriodMs ?? DEFAULT_PRESSURE_TRANSITION_PERIOD_MS;

    const firstInstance = ctx.bus.current('node') === undefined;
    let state: State = api ? (registerNode ? 'registering' : 'registered') : 'standalone';
    let known: Node | undefined = ctx.bus.current('node');
    let publishedKey = known ? viewKey(known) : '';
    let lastReport = -Infinity;
    let registerDelay = 100;
    let backoffPending = false;
    let readySignature = '';
    // a restarted instance goes on holding the pressures the Node reports (from their last heartbeat)
    const pressureObservedAt: PressureObservedAt = {};
    for (const [k, type] of [
      ['memory', 'MemoryPressure'],
      ['disk', 'DiskPressure'],
      ['pid', 'PIDPressure'],
    ] as const) {
      const c = known?.status?.conditions?.find((x) => x.type === type);
      const at = c?.status === 'True' && c.lastHeartbeatTime ? Date.parse(c.lastHeartbeatTime) : NaN;
      if (Number.isFinite(at)) pressureObservedAt[k] = at;
    }
    const stats = { registrations: 0, gets: 0, patches: 0, skipped: 0, failures: 0, lastError: '', lastWrite: '' };

    const sendEvent = (e: NodeStatusEvent) => {
      ctx.bus.send(
        'events',
        recordEvent(nodeRef(nodeName), e.eventType, e.reason, `Node ${nodeName} status is now: ${e.reason}`),
      );
    };

    const publish = (n: Node) => {
      known = n;
      const key = viewKey(n);
      if (key === publishedKey) return;
      publishedKey = key;
      ctx.bus.publish('node', n);
    };

    /** The inputs of the setters; each call is one observation of the eviction signals. */
    const inputs = (): StatusInputs => {
      const now = ctx.clock.now();
      const machine = host.machineInfo();
      const measurements = host.measure();
      const observed = evaluatePressure(cfg.evictionHard, measurements, machine.memoryCapacityBytes);
      const held = holdPressure(observed, pressureObservedAt, now, transitionPeriod);
      Object.assign(pressureObservedAt, held.observedAt);
      return {
        now,
        machine,
        addresses: host.addresses(cfg.hostname, ctx.deps.nodeIP),
        measurements,
        runtime: ctx.bus.current('runtimeHealth'),
        pleg: ctx.bus.current('plegHealth'),
        shuttingDown: ctx.bus.current('nodeShutdown')?.shuttingDown === true,
        pressure: held.pressure,
      };
    };

    const failed = (what: string, e: unknown) => {
      stats.failures++;
      stats.lastError = `${what}: ${errText(e)}`;
    };

    /** One registration attempt; true when the Node exists and agrees with us. */
    const tryRegister = async (a: NodeApi): Promise<boolean> => {
      const { node: init, events } = initialNode(cfg, inputs());
      ctx.log.info('Attempting to register node', { node: nodeName });
      try {
        const created = await a.createNode(init);
        stats.registrations++;
        lastReport = ctx.clock.now();
        stats.lastWrite = new Date(lastReport).toISOString();
        ctx.log.info('Successfully registered node', { node: nodeName });
        for (const e of events) sendEvent(e);
        publish(created);
        return true;
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 409)) {
          failed('Unable to register node with API server', e);
          ctx.log.warn('Unable to register node with API server', { node: nodeName, error: errText(e) });
          return false;
        }
      }
      try {
        let existing = await a.getNode(nodeName);
        ctx.log.info('Node was previously registered', { node: nodeName });
        const patch = reconcileExistingNode(init, existing);
        if (patch) existing = await a.patchNode(nodeName, patch, 'merge');
        stats.registrations++;
        publish(existing);
        return true;
      } catch (e) {
        failed('Unable to reconcile node with API server', e);
        ctx.log.warn('Unable to register node with API server: error getting or updating the existing node', {
          node: nodeName,
          error: errText(e),
        });
        return false;
      }
    };

    /** tryUpdateNodeStatus, up to 5 times; 'gone' when the Node no longer exists. */
    const updateNodeStatus = async (a: NodeApi): Promise<'ok' | 'gone' | 'failed'> => {
      for (let i = 0; i < NODE_STATUS_UPDATE_RETRY; i++) {
        let original: Node;
        try {
          // the first try reads from the apiserver's cache, the retries a quorum read (upstream FromApiserverCache)
          original = await (i === 0 ? a.getNode(nodeName, { resourceVersion: '0' }) : a.getNode(nodeName));
          stats.gets++;
        } catch (e) {
          if (isNotFound(e)) return 'gone';
          failed(`error getting node "${nodeName}"`, e);
          ctx.log.info('Error updating node status, will retry', { error: stats.lastError }, 2);
          continue;
        }
        const { node: updated, events } = setNodeStatus(original, cfg, inputs());
        const now = ctx.clock.now();
        if (now - lastReport < reportEvery && !nodeStatusHasChanged(original.status, updated.status)) {
          stats.skipped++;
          publish(original);
          return 'ok';
        }
        try {
          const written = await a.patchNodeStatus(nodeName, statusPatch(original, updated), 'strategic');
          stats.patches++;
          lastReport = now;
          stats.lastWrite = new Date(now).toISOString();
          for (const e of events) sendEvent(e);
          publish(written);
          return 'ok';
        } catch (e) {
          if (isNotFound(e)) return 'gone';
          failed(`error patching node "${nodeName}" status`, e);
          ctx.log.info('Error updating node status, will retry', { error: stats.lastError }, 2);
        }
      }
      ctx.log.warn('Unable to update node status: update node status exceeds retry count', {
        node: nodeName,
        error: stats.lastError,
      });
      return 'failed';
    };

    const syncOnce = async (): Promise<void> => {
      if (!api) {
        const base = known ?? initialNode(cfg, inputs()).node;
        publish(setNodeStatus(base, cfg, inputs()).node);
        return;
      }
      if (state === 'registering') {
        if (backoffPending) return;
        if (!(await tryRegister(api))) {
          backoffPending = true;
          registerDelay = Math.min(registerDelay * 2, REGISTER_MAX_BACKOFF_MS);
          ctx.setTimeout(() => {
            backoffPending = false;
            run();
          }, registerDelay);
          return;
        }
        registerDelay = 100;
        state = 'registered';
      }
      const r = await updateNodeStatus(api);
      if (r === 'gone') {
        if (registerNode) {
          ctx.log.warn('Node not found: registering it again', { node: nodeName });
          state = 'registering';
          syncer.trigger(); // runs again right after this sync
        } else {
          failed(`node "${nodeName}" not found`, new Error('--register-node=false: waiting for it to be created'));
        }
      }
    };

    // setters and adapters do not throw on bad input; should one, the next period tries again
    const syncer = serial(ctx, syncOnce, {
      onError: (e) => {
        failed('node status sync', e);
        ctx.log.error('node status sync failed', { error: errText(e) });
      },
    });
    const run = syncer.trigger;

    // a change of readiness is written at once, not at the next period
    const onHealth = () => {
      const rt = ctx.bus.current('runtimeHealth');
      const sig = JSON.stringify([
        readyErrors(rt, ctx.bus.current('plegHealth'), { cpu: '', memory: '', pods: '', 'ephemeral-storage': '' }),
        containerRuntimeVersion(rt),
      ]);
      if (sig === readySignature) return;
      readySignature = sig;
      if (known || state === 'standalone') run();
    };
    ctx.on(ctx.bus.view('runtimeHealth'), onHealth);
    ctx.on(ctx.bus.view('plegHealth'), onHealth);
    ctx.on(ctx.bus.events('nodeControl'), (m) => {
      if (m.type === 'node.syncStatus') run();
    });
    ctx.setInterval(run, updateEvery);

    ctx.setInspect(() => {
      const ready = known?.status?.conditions?.find((c) => c.type === 'Ready');
      return {
        state,
        ...stats,
        lastError: stats.lastError || undefined,
        lastReport: Number.isFinite(lastReport) ? new Date(lastReport).toISOString() : null,
        uid: known?.metadata.uid ?? null,
        ready: ready ? `${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}` : null,
        registerBackoffMs: backoffPending ? registerDelay : 0,
        pressureLastObserved: Object.fromEntries(
          Object.entries(pressureObservedAt).map(([k, at]) => [k, new Date(at).toISOString()]),
        ),
      };
    });

    if (firstInstance && api)
      ctx.bus.send(
        'events',
        recordEvent(nodeRef(nodeName), 'Normal', EventReason.StartingKubelet, 'Starting kubelet.'),
      );
    run();
  },
};
