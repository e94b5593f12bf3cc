/**
 * One prober worker: one probe (liveness, readiness or startup) of one container of one pod
 * (upstream pkg/kubelet/prober/worker.go). The actor sends TICK every periodSeconds with what the
 * status manager shows of the container at that moment; the machine decides whether to probe.
 *
 *   idle ──TICK (running, past initialDelay, startup gate open)──▶ probing ──DONE──▶ idle
 *    │  └─TICK (new container id) ▶ forget the old id's result, seed the new one, resume
 *    │  └─TICK (not running) ▶ result failure; stop if it exited and restartPolicy is Never
 *    │  └─TICK (pod terminal, or deleting for liveness/startup) ▶ stopped
 *    └─ liveness/startup failure past the threshold ▶ onHold (no probing until a new container id)
 *   any ──STOP──▶ stopped (final): the container's result is removed
 *
 * Thresholds: a result is cached once it was seen successThreshold (success) or
 * failureThreshold (failure) times in a row. A probe that errored (not a failure: the prober
 * could not tell) is thrown away. The cache seeds a new container with upstream's initial
 * values: readiness failure, liveness success, startup none (unknown) — except a container that
 * was already running 10 s before the prober started (a kubelet restart, upstream 1.35): it gets
 * no seed, so the status keeps what it showed instead of flipping to not ready.
 *
 * Pure: every effect is an emitted event (`probe.run`, `result.set`, `result.remove`) the actor
 * carries out; the clock time comes in the events.
 */
import { emit, enqueueActions, setup } from 'xstate';
import type { Container, ContainerStatus, Pod, PodStatus, Probe } from '../../protocols/kube/pod.ts';
import type { ProbeResult, ProbeType } from '../../protocols/messages/probe.ts';

/** upstream kubeletRestartGracePeriod: running 10 s before the prober started = found after a restart. */
export const RESTART_GRACE_MS = 10_000;

/** The probe fields that drive timing, defaulted (upstream SetDefaults_Probe). */
export interface ProbeTiming {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** What the status manager shows of the probed container at a tick. */
export interface ContainerObservation {
  /** Runtime container id ('' none yet). */
  id: string;
  running: boolean;
  /** Clock ms of state.running.startedAt (0 unknown). */
  startedAt: number;
  terminated: boolean;
  /** The status's `started` (the startup gate). */
  started: boolean;
}

export interface Observation {
  /** No status for the pod yet (not created, or already gone). */
  found: boolean;
  phase?: string;
  deleting: boolean;
  container?: ContainerObservation;
}

export interface ProberInput {
  probeType: ProbeType;
  timing: ProbeTiming;
  restartPolicyNever: boolean;
  /** Clock ms the prober manager started (the kubelet restart rule). */
  managerStart: number;
  /** A restarted probes actor resumes a container's worker from the probeResults view. */
  resume?: { containerId: string; cached: ProbeResult | undefined };
}

export interface ProberContext extends ProberInput {
  containerId: string;
  onHold: boolean;
  lastResult: ProbeResult | undefined;
  resultRun: number;
  /** What this worker last cached for containerId (undefined: nothing). */
  cached: ProbeResult | undefined;
}

export type ProberEvent =
  | { type: 'TICK'; now: number; obs: Observation }
  /** The probe finished: `error` = the prober could not tell (result thrown away). */
  | { type: 'DONE'; result: ProbeResult; error?: boolean }
  | { type: 'STOP' };

export type ProberEmitted =
  | { type: 'probe.run'; containerId: string }
  | { type: 'result.set'; containerId: string; result: ProbeResult }
  | { type: 'result.remove'; containerId: string }
  | { type: 'worker.stopped' };

/** What a TICK in idle leads to (upstream doProbe up to the probe call). Pure. */
export type TickDecision = { kind: 'wait' } | { kind: 'stop' } | { kind: 'probe' };

function initialValue(t: ProbeType): ProbeResult | undefined {
  return t === 'readiness' ? 'failure' : t === 'liveness' ? 'success' : undefined;
}

/** The context after a TICK's bookkeeping, the results to emit, and what to do next. */
export function onTick(
  c: ProberContext,
  now: number,
  obs: Observation,
): { ctx: ProberContext; emits: ProberEmitted[]; next: TickDecision } {
  const emits: ProberEmitted[] = [];
  let ctx = c;
  const set = (result: ProbeResult) => {
    if (ctx.cached === result) return;
    ctx = { ...ctx, cached: result };
    emits.push({ type: 'result.set', containerId: ctx.containerId, result });
  };
  if (!obs.found) return { ctx, emits, next: { kind: 'wait' } };
  if (obs.phase === 'Succeeded' || obs.phase === 'Failed') return { ctx, emits, next: { kind: 'stop' } };
  const k = obs.container;
  if (!k || k.id === '') return { ctx, emits, next: { kind: 'wait' } };
  if (k.id !== ctx.containerId) {
    if (ctx.containerId !== '' && ctx.cached !== undefined)
      emits.push({ type: 'result.remove', containerId: ctx.containerId });
    ctx = { ...ctx, containerId: k.id, cached: undefined, onHold: false };
    const foundAfterRestart = k.running && k.startedAt > 0 && k.startedAt < ctx.managerStart - RESTART_GRACE_MS;
    const seed = initialValue(ctx.probeType);
    if (!foundAfterRestart && seed !== undefined) set(seed);
  }
  if (ctx.onHold) return { ctx, emits, next: { kind: 'wait' } };
  if (!k.running) {
    set('failure');
    return { ctx, emits, next: { kind: k.terminated && ctx.restartPolicyNever ? 'stop' : 'wait' } };
  }
  if (obs.deleting && (ctx.probeType === 'liveness' || ctx.probeType === 'startup')) {
    set('success');
    return { ctx, emits, next: { kind: 'stop' } };
  }
  if (Math.trunc((now - k.startedAt) / 1000) < ctx.timing.initialDelaySeconds)
    return { ctx, emits, next: { kind: 'wait' } };
  // startup gates the others; a started container's startup worker idles (a restart resumes it)
  if (k.started ? ctx.probeType === 'startup' : ctx.probeType !== 'startup')
    return { ctx, emits, next: { kind: 'wait' } };
  return { ctx, emits, next: { kind: 'probe' } };
}

/** The context after a probe's result (thresholds, onHold), and the result to emit. Pure. */
export function onResult(c: ProberContext, result: ProbeResult): { ctx: ProberContext; emits: ProberEmitted[] } {
  const resultRun = c.lastResult === result ? c.resultRun + 1 : 1;
  let ctx: ProberContext = { ...c, lastResult: result, resultRun };
  const threshold = result === 'failure' ? ctx.timing.failureThreshold : ctx.timing.successThreshold;
  if (resultRun < threshold) return { ctx, emits: [] };
  const emits: ProberEmitted[] = [];
  if (ctx.cached !== result) emits.push({ type: 'result.set', containerId: ctx.containerId, result });
  ctx = { ...ctx, cached: result };
  if (result === 'failure' && (ctx.probeType === 'liveness' || ctx.probeType === 'startup')) {
    // the container will be killed: stop probing it (upstream #21751) until a new one appears
    ctx = { ...ctx, onHold: true, resultRun: 0 };
  }
  return { ctx, emits };
}

function pick(c: ProberContext): Partial<ProberContext> {
  return {
    containerId: c.containerId,
    onHold: c.onHold,
    lastResult: c.lastResult,
    resultRun: c.resultRun,
    cached: c.cached,
  };
}

export const proberMachine = setup({
  types: {
    context: {} as ProberContext,
    events: {} as ProberEvent,
    input: {} as ProberInput,
    emitted: {} as ProberEmitted,
  },
  guards: {
    tickProbes: ({ context, event }) =>
      event.type === 'TICK' && onTick(context, event.now, event.obs).next.kind === 'probe',
    tickStops: ({ context, event }) =>
      event.type === 'TICK' && onTick(context, event.now, event.obs).next.kind === 'stop',
    errored: ({ event }) => event.type === 'DONE' && event.error === true,
  },
  actions: {
    tick: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'TICK') return;
      const r = onTick(context, event.now, event.obs);
      enqueue.assign(pick(r.ctx));
      for (const e of r.emits) enqueue.emit(e);
    }),
    result: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'DONE') return;
      const r = onResult(context, event.result);
      enqueue.assign(pick(r.ctx));
      for (const e of r.emits) enqueue.emit(e);
    }),
    emitRun: emit(({ context }): ProberEmitted => ({ type: 'probe.run', containerId: context.containerId })),
    stopped: enqueueActions(({ context, enqueue }) => {
      if (context.containerId !== '' && context.cached !== undefined)
        enqueue.emit({ type: 'result.remove', containerId: context.containerId });
      enqueue.emit({ type: 'worker.stopped' });
    }),
  },
}).createMachine({
  id: 'prober',
  context: ({ input }) => ({
    ...input,
    containerId: input.resume?.containerId ?? '',
    onHold: false,
    lastResult: undefined,
    resultRun: 0,
    cached: input.resume?.cached,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        TICK: [
          { guard: 'tickStops', target: 'stopped', actions: 'tick' },
          { guard: 'tickProbes', target: 'probing', actions: 'tick' },
          { actions: 'tick' },
        ],
      },
    },
    probing: {
      entry: 'emitRun',
      on: {
        // one probe at a time: a tick while one runs is dropped (Go's ticker drops it too)
        DONE: [
          { guard: 'errored', target: 'idle' },
          { target: 'idle', actions: 'result' },
        ],
      },
    },
    stopped: { type: 'final', entry: 'stopped' },
  },
  on: { STOP: '.stopped' },
});

// ---------------------------------------------------------------------------------------------
// what a worker needs from the pod (pure helpers for the actor)

/** upstream SetDefaults_Probe (a zero counts as unset); period 10 s, timeout 1 s, thresholds 1 / 3. */
export function probeTiming(p: Probe): ProbeTiming {
  return {
    initialDelaySeconds: Math.max(0, p.initialDelaySeconds ?? 0),
    periodSeconds: p.periodSeconds || 10,
    timeoutSeconds: p.timeoutSeconds || 1,
    successThreshold: p.successThreshold || 1,
    failureThreshold: p.failureThreshold || 3,
  };
}

/** The probes a pod's workers run: regular containers and sidecars (restartable init containers). */
export function probedContainers(pod: Pod): { container: Container; probeType: ProbeType; probe: Probe }[] {
  const out: { container: Container; probeType: ProbeType; probe: Probe }[] = [];
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  for (const c of [...(pod.spec?.containers ?? []), ...sidecars]) {
    for (const [probeType, probe] of [
      ['startup', c.startupProbe],
      ['readiness', c.readinessProbe],
      ['liveness', c.livenessProbe],
    ] as const) {
      if (probe) out.push({ container: c, probeType, probe });
    }
  }
  return out;
}

/** The runtime id in a v1 containerID (`containerd://<id>`). */
export function runtimeContainerId(containerID: string | undefined): string {
  if (!containerID) return '';
  const i = containerID.indexOf('://');
  return i < 0 ? containerID : containerID.slice(i + 3);
}

/** What the status manager's cached status shows of one container (upstream doProbe's reads). */
export function observe(pod: Pod, status: PodStatus | undefined, containerName: string): Observation {
  const deleting = pod.metadata?.deletionTimestamp !== undefined;
  if (!status) return { found: false, deleting };
  const byName = (l: readonly ContainerStatus[] | undefined) =>
    l?.find((s) => s.name === containerName && s.containerID);
  const cs = byName(status.containerStatuses) ?? byName(status.initContainerStatuses);
  const obs: Observation = { found: true, phase: status.phase, deleting };
  if (!cs) return obs;
  const startedAt = cs.state?.running?.startedAt ? Date.parse(cs.state.running.startedAt) : 0;
  obs.container = {
    id: runtimeContainerId(cs.containerID),
    running: cs.state?.running !== undefined,
    startedAt: Number.isNaN(startedAt) ? 0 : startedAt,
    terminated: cs.state?.terminated !== undefined,
    started: cs.started === true,
  };
  return obs;
}
