/**
 * probes: upstream's prober manager as an actor. One prober worker (machine.ts) per container
 * and probe type of every desired pod (regular containers and sidecars), driven by its own
 * timer every periodSeconds; the probes run through the ProbeRunner port (adapters.ts).
 *
 * Results, as upstream's three results managers: the `probeResults` view (runtime container id →
 * liveness / readiness / startup) and a `probe.resultChanged` message on 'probe' each time a
 * cached result changes (the view is published first). The syncLoop answers each message with a
 * sync of the pod; the runtime reads the view in computePodActions (a liveness/startup failure
 * kills the container, restarted as restartPolicy and the crash backoff allow) and when it
 * generates the v1 status (ready, started, the ContainersReady and Ready conditions).
 *
 * Lifecycle: workers are added for a desired pod (AddPod), liveness and startup stop when its
 * worker is terminating, every worker stops when it is terminated or the pod is no longer desired
 * (RemovePod / CleanupPods); a worker stops itself for a terminal pod. Timing is jittered as
 * upstream: a worker created within one period of the prober's start waits a random part of its
 * period first, so a kubelet restart does not probe every container at once.
 *
 * Events, as upstream's prober: Unhealthy (Warning) "<Type> probe failed: <output>" and
 * "<Type> probe errored and resulted in unknown state: <error>" (after 3 tries; the result is
 * thrown away), ProbeWarning (Warning) "<Type> probe warning: <output>" (a redirect to another
 * host). A restarted instance resumes from the view: results and the start time are kept.
 */
import { createActor, type Actor } from 'xstate';
import type { ActorSpec } from '../../kernel/actor.ts';
import { channels, defaultPolicy } from '../../kernel/actor.ts';
import { isTerminalPhase, type Container, type Pod } from '../../protocols/kube/pod.ts';
import { containerRef, EventReason, recordEvent } from '../../protocols/messages/events.ts';
import type { ContainerProbeResults, ProbeResult, ProbeType } from '../../protocols/messages/probe.ts';
import { runHandler, type Outcome, type ProbeRunner } from './adapters.ts';
import {
  observe,
  probedContainers,
  probeTiming,
  proberMachine,
  type ProberEmitted,
  type ProbeTiming,
} from './machine.ts';
import type { Probe } from '../../protocols/kube/pod.ts';

export interface ProbesDeps {
  runner: ProbeRunner;
  /** For the start jitter (default Math.random). */
  random?: () => number;
}

/** upstream maxProbeRetries: an errored probe is tried this often before it counts as unknown. */
export const MAX_PROBE_RETRIES = 3;

interface Worker {
  key: string;
  uid: string;
  pod: Pod;
  container: Container;
  probeType: ProbeType;
  probe: Probe;
  timing: ProbeTiming;
  actor: Actor<typeof proberMachine>;
  stopped: boolean;
  probes: number;
}

const TYPE_NAME: Record<ProbeType, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

const io = channels({
  produces: ['probe', 'events', 'probeRuns'],
  reads: ['desiredPods', 'podStatuses', 'podWorkerStates'],
  writes: ['probeResults'],
});

export const probes: ActorSpec<ProbesDeps, typeof io> = {
  ...defaultPolicy,
  id: 'probes',
  dependsOn: ['statusManager'],
  channels: io,
  start(ctx) {
    const { runner } = ctx.deps;
    const random = ctx.deps.random ?? Math.random;
    const previous = ctx.bus.current('probeResults');
    const startedAt = previous?.startedAt ?? ctx.clock.now();
    const results = new Map<string, ContainerProbeResults>(previous?.byContainer ?? []);
    const workers = new Map<string, Worker>();

    const publish = () => ctx.bus.publish('probeResults', { startedAt, byContainer: new Map(results) });

    const setResult = (w: Worker, containerId: string, result: ProbeResult) => {
      results.set(containerId, { ...results.get(containerId), [w.probeType]: result });
      ctx.log.info('probe result', { pod: podName(w.pod), container: w.container.name, probe: w.probeType, result }, 2);
      publish();
      ctx.bus.send('probe', {
        type: 'probe.resultChanged',
        podUid: w.uid,
        containerName: w.container.name,
        containerId,
        probeType: w.probeType,
        result,
      });
    };
    const removeResult = (w: Worker, containerId: string) => {
      const r = results.get(containerId);
      if (!r || r[w.probeType] === undefined) return;
      const { [w.probeType]: _gone, ...rest } = r;
      if (Object.keys(rest).length === 0) results.delete(containerId);
      else results.set(containerId, rest);
      publish();
    };

    const event = (w: Worker, reason: string, message: string) => {
      const list = w.pod.spec?.containers?.some((c) => c.name === w.container.name) ? 'containers' : 'initContainers';
      ctx.bus.send('events', recordEvent(containerRef(w.pod, w.container.name, list), 'Warning', reason, message));
    };

    /** upstream prober.probe: retries on error, events, the worker's result. */
    const runProbe = async (w: Worker, containerId: string) => {
      let o: Outcome = { result: 'unknown', error: '' };
      for (let i = 0; i < MAX_PROBE_RETRIES && !w.stopped; i++) {
        const podIP = ctx.bus.current('podStatuses')?.get(w.uid)?.podIP ?? '';
        o = await runHandler(runner, w.probe, w.container, {
          containerId,
          podIP,
          timeoutSeconds: w.timing.timeoutSeconds,
        });
        if (o.result !== 'unknown') break;
      }
      if (w.stopped) return;
      w.probes++;
      const name = TYPE_NAME[w.probeType];
      ctx.bus.send('probeRuns', {
        type: 'probe.ran',
        podUid: w.uid,
        podName: w.pod.metadata?.name ?? '',
        namespace: w.pod.metadata?.namespace ?? '',
        containerName: w.container.name,
        probeType: w.probeType,
        result: o.result === 'unknown' ? 'unknown' : o.result === 'failure' ? 'failed' : 'successful',
      });
      if (o.result === 'unknown') {
        event(w, EventReason.ContainerUnhealthy, `${name} probe errored and resulted in unknown state: ${o.error}`);
        ctx.log.info(
          'probe errored',
          { pod: podName(w.pod), container: w.container.name, probe: w.probeType, error: o.error },
          1,
        );
        w.actor.send({ type: 'DONE', result: 'failure', error: true });
        return;
      }
      if (o.result === 'warning') event(w, EventReason.ContainerProbeWarning, `${name} probe warning: ${o.output}`);
      if (o.result === 'failure') {
        event(w, EventReason.ContainerUnhealthy, `${name} probe failed: ${o.output}`);
        ctx.log.info(
          'probe failed',
          { pod: podName(w.pod), container: w.container.name, probe: w.probeType, output: o.output },
          1,
        );
      }
      w.actor.send({ type: 'DONE', result: o.result === 'failure' ? 'failure' : 'success' });
    };

    const onEmitted = (w: Worker, e: ProberEmitted) => {
      if (e.type === 'probe.run') ctx.run(runProbe(w, e.containerId));
      else if (e.type === 'result.set') setResult(w, e.containerId, e.result);
      else if (e.type === 'result.remove') removeResult(w, e.containerId);
      else {
        w.stopped = true;
        if (workers.get(w.key) === w) workers.delete(w.key);
      }
    };

    const tick = (w: Worker) => {
      if (w.stopped) return;
      const status = ctx.bus.current('podStatuses')?.get(w.uid);
      w.actor.send({ type: 'TICK', now: ctx.clock.now(), obs: observe(w.pod, status, w.container.name) });
      if (!w.stopped) ctx.setTimeout(() => tick(w), w.timing.periodSeconds * 1000);
    };

    const addPod = (uid: string, pod: Pod) => {
      for (const { container, probeType, probe } of probedContainers(pod)) {
        const key = `${uid}/${container.name}/${probeType}`;
        const existing = workers.get(key);
        if (existing) {
          existing.pod = pod; // probes are immutable; the pod's deletion is not
          continue;
        }
        const timing = probeTiming(probe);
        // a restarted actor picks up the container it was probing, with its result
        const current = ctx.bus.current('podStatuses')?.get(uid);
        const seen = observe(pod, current, container.name).container?.id ?? '';
        const cached = seen ? results.get(seen)?.[probeType] : undefined;
        const actor = createActor(proberMachine, {
          input: {
            probeType,
            timing,
            restartPolicyNever: pod.spec?.restartPolicy === 'Never',
            managerStart: startedAt,
            resume: cached !== undefined ? { containerId: seen, cached } : undefined,
          },
        });
        const w: Worker = { key, uid, pod, container, probeType, probe, timing, actor, stopped: false, probes: 0 };
        workers.set(key, w);
        actor.on('*', (e: ProberEmitted) => onEmitted(w, e));
        actor.start();
        const period = timing.periodSeconds * 1000;
        // upstream: workers started soon after the kubelet wait up to one period, at random
        const delay = ctx.clock.now() - startedAt < period ? Math.floor(random() * period) : 0;
        ctx.setTimeout(() => tick(w), delay);
      }
    };

    const stopWorkers = (uid: string, types: readonly ProbeType[]) => {
      for (const w of [...workers.values()]) {
        if (w.uid === uid && types.includes(w.probeType)) w.actor.send({ type: 'STOP' });
      }
    };

    const reconcile = () => {
      const desired = ctx.bus.current('desiredPods') ?? new Map();
      const states = ctx.bus.current('podWorkerStates') ?? new Map();
      for (const [uid, d] of desired) {
        // upstream ReconcilePod: nothing to probe in a rejected or finished pod
        if (
          d.rejected ||
          isTerminalPhase(d.pod.status?.phase) ||
          isTerminalPhase(ctx.bus.current('podStatuses')?.get(uid)?.phase)
        )
          continue;
        const state = states.get(uid)?.state;
        if (state === 'terminated') stopWorkers(uid, ['liveness', 'readiness', 'startup']);
        else if (state === 'terminating') stopWorkers(uid, ['liveness', 'startup']);
        else addPod(uid, d.pod);
      }
      const uids = new Set([...workers.values()].map((w) => w.uid));
      for (const uid of uids)
        if (!desired.has(uid) || desired.get(uid)!.rejected) stopWorkers(uid, ['liveness', 'readiness', 'startup']);
    };

    ctx.on(ctx.bus.view('desiredPods'), reconcile);
    ctx.on(ctx.bus.view('podWorkerStates'), reconcile);
    if (!previous) publish();

    ctx.setInspect(() => ({
      startedAt,
      results: results.size,
      workers: [...workers.values()].map((w) => {
        const s = w.actor.getSnapshot();
        return {
          pod: podName(w.pod),
          container: w.container.name,
          probe: w.probeType,
          state: s.value,
          containerId: s.context.containerId,
          result: s.context.cached ?? null,
          onHold: s.context.onHold,
          resultRun: s.context.resultRun,
          probes: w.probes,
          periodSeconds: w.timing.periodSeconds,
        };
      }),
    }));

    return {
      stop() {
        for (const w of workers.values()) {
          w.stopped = true;
          w.actor.stop();
        }
        workers.clear();
      },
    };
  },
};

function podName(pod: Pod): string {
  return `${pod.metadata?.namespace}/${pod.metadata?.name}`;
}
