// Tier 1: the prober worker machine (actors/probes/machine.ts), pure transitions, no timers:
// upstream worker.doProbe's gates, thresholds, seeds, onHold, and the pure helpers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { resolveContainerPort } from '../../protocols/kube/handlers.ts';
import {
  observe,
  probedContainers,
  probeTiming,
  proberMachine,
  RESTART_GRACE_MS,
  type ContainerObservation,
  type ProberEmitted,
  type ProberEvent,
  type ProberInput,
} from '../../actors/probes/machine.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';

type Snap = SnapshotFrom<typeof proberMachine>;
const S = 1000;
const T0 = 1_000_000;

function input(extra: Partial<ProberInput> = {}): ProberInput {
  return {
    probeType: 'liveness',
    restartPolicyNever: false,
    managerStart: T0,
    timing: { initialDelaySeconds: 5, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    ...extra,
  };
}

function c(extra: Partial<ContainerObservation> = {}): ContainerObservation {
  return { id: 'c1', running: true, startedAt: T0, terminated: false, started: true, ...extra };
}

const tick = (
  now: number,
  container?: ContainerObservation,
  more: { phase?: string; deleting?: boolean; found?: boolean } = {},
): ProberEvent => ({
  type: 'TICK',
  now,
  obs: { found: more.found ?? true, phase: more.phase ?? 'Running', deleting: more.deleting ?? false, container },
});
const done = (result: 'success' | 'failure', error?: boolean): ProberEvent => ({ type: 'DONE', result, error });

function run(inp: ProberInput, events: ProberEvent[]): { snap: Snap; emitted: ProberEmitted[] } {
  const emitted: ProberEmitted[] = [];
  const collect = (actions: unknown[]) => {
    for (const a of actions as { type: string; params?: { event: ProberEmitted } }[])
      if (a.type === 'xstate.emit') emitted.push(a.params!.event);
  };
  let [snap, a] = initialTransition(proberMachine, inp);
  collect(a);
  for (const e of events) {
    [snap, a] = transition(proberMachine, snap, e);
    collect(a);
  }
  return { snap, emitted };
}

describe('prober worker machine: gates (upstream doProbe)', () => {
  it('waits without a pod status or without the container; seeds liveness success / readiness failure / startup nothing on a new container', () => {
    for (const [probeType, seed] of [
      ['liveness', 'success'],
      ['readiness', 'failure'],
      ['startup', undefined],
    ] as const) {
      const r = run(input({ probeType }), [
        tick(T0, undefined, { found: false }),
        tick(T0),
        tick(T0 + S, c({ started: probeType !== 'startup' })),
      ]);
      assert.equal(r.snap.value, 'idle', probeType);
      assert.deepEqual(r.emitted, seed ? [{ type: 'result.set', containerId: 'c1', result: seed }] : [], probeType);
    }
  });

  it('probes only after initialDelaySeconds (whole seconds since the start, as upstream)', () => {
    const early = run(input(), [tick(T0 + 4_999, c())]);
    assert.equal(early.snap.value, 'idle');
    const onTime = run(input(), [tick(T0 + 5_000, c())]);
    assert.equal(onTime.snap.value, 'probing');
    assert.deepEqual(onTime.emitted.at(-1), { type: 'probe.run', containerId: 'c1' });
  });

  it("startup gates liveness and readiness; a started container's startup worker idles", () => {
    assert.equal(run(input({ probeType: 'liveness' }), [tick(T0 + 10 * S, c({ started: false }))]).snap.value, 'idle');
    assert.equal(run(input({ probeType: 'readiness' }), [tick(T0 + 10 * S, c({ started: false }))]).snap.value, 'idle');
    assert.equal(
      run(input({ probeType: 'startup' }), [tick(T0 + 10 * S, c({ started: false }))]).snap.value,
      'probing',
    );
    assert.equal(run(input({ probeType: 'startup' }), [tick(T0 + 10 * S, c({ started: true }))]).snap.value, 'idle');
  });

  it('a container not running is a failure; the worker stops when it exited under restartPolicy Never, and for a terminal pod', () => {
    const r = run(input({ probeType: 'readiness' }), [
      tick(T0 + 10 * S, c()),
      done('success'),
      tick(T0 + 15 * S, c({ running: false, terminated: true })),
    ]);
    assert.equal(r.snap.value, 'idle');
    assert.deepEqual(
      r.emitted.filter((e) => e.type === 'result.set').map((e) => (e as { result: string }).result),
      ['failure', 'success', 'failure'],
    );
    const never = run(input({ restartPolicyNever: true }), [
      tick(T0 + 10 * S, c({ running: false, terminated: true })),
    ]);
    assert.equal(never.snap.status, 'done');
    const terminal = run(input(), [tick(T0 + 10 * S, c(), { phase: 'Succeeded' })]);
    assert.equal(terminal.snap.status, 'done');
  });

  it('a deleting pod: liveness and startup report success and stop; readiness keeps probing', () => {
    const l = run(input(), [tick(T0 + 10 * S, c()), done('failure'), tick(T0 + 15 * S, c(), { deleting: true })]);
    assert.equal(l.snap.status, 'done');
    assert.deepEqual(l.emitted.at(-1), { type: 'worker.stopped' });
    const r = run(input({ probeType: 'readiness' }), [tick(T0 + 10 * S, c(), { deleting: true })]);
    assert.equal(r.snap.value, 'probing');
  });
});

describe('prober worker machine: thresholds and onHold', () => {
  it('liveness: failureThreshold failures in a row set failure once, then nothing is probed until a new container', () => {
    const events: ProberEvent[] = [
      tick(T0 + 5 * S, c()),
      done('failure'),
      tick(T0 + 10 * S, c()),
      done('success'),
      tick(T0 + 15 * S, c()),
      done('failure'),
      tick(T0 + 20 * S, c()),
      done('failure'),
      tick(T0 + 25 * S, c()),
    ];
    const before = run(input(), events);
    assert.equal(before.snap.value, 'probing', 'two failures: below the threshold');
    const r = run(input(), [...events, done('failure'), tick(T0 + 30 * S, c())]);
    assert.deepEqual(
      r.emitted.filter((e) => e.type === 'result.set'),
      [
        { type: 'result.set', containerId: 'c1', result: 'success' },
        { type: 'result.set', containerId: 'c1', result: 'failure' },
      ],
    );
    assert.equal(r.snap.value, 'idle');
    assert.equal(r.snap.context.onHold, true);
    // a new container: the old result goes, the new one is seeded and probed again
    const n = run(input(), [
      ...events,
      done('failure'),
      tick(T0 + 30 * S, c({ id: 'c2', startedAt: T0 + 29 * S })),
      tick(T0 + 35 * S, c({ id: 'c2', startedAt: T0 + 29 * S })),
    ]);
    assert.deepEqual(n.emitted.slice(-3), [
      { type: 'result.remove', containerId: 'c1' },
      { type: 'result.set', containerId: 'c2', result: 'success' },
      { type: 'probe.run', containerId: 'c2' },
    ]);
  });

  it('readiness: successThreshold successes in a row before ready; a failure is cached without onHold', () => {
    const inp = input({
      probeType: 'readiness',
      timing: { ...probeTiming({}), initialDelaySeconds: 0, successThreshold: 2, failureThreshold: 1 },
    });
    const r = run(inp, [
      tick(T0, c()),
      done('success'),
      tick(T0 + 10 * S, c()),
      done('success'),
      tick(T0 + 20 * S, c()),
      done('failure'),
      tick(T0 + 30 * S, c()),
    ]);
    assert.deepEqual(
      r.emitted.filter((e) => e.type === 'result.set').map((e) => (e as { result: string }).result),
      ['failure', 'success', 'failure'],
    );
    assert.equal(r.snap.value, 'probing', 'readiness is never on hold');
  });

  it('an errored probe is thrown away: it neither counts nor changes the result', () => {
    const r = run(input({ timing: { ...probeTiming({}), failureThreshold: 2 } }), [
      tick(T0, c()),
      done('failure'),
      tick(T0 + 10 * S, c()),
      done('failure', true),
      tick(T0 + 20 * S, c()),
      done('success'),
    ]);
    assert.deepEqual(
      r.emitted.filter((e) => e.type === 'result.set').map((e) => (e as { result: string }).result),
      ['success'],
    );
    assert.equal(r.snap.context.resultRun, 1);
  });

  it('STOP removes the cached result and ends the worker', () => {
    const r = run(input({ probeType: 'readiness' }), [tick(T0, c()), { type: 'STOP' }]);
    assert.equal(r.snap.status, 'done');
    assert.deepEqual(r.emitted.slice(-2), [{ type: 'result.remove', containerId: 'c1' }, { type: 'worker.stopped' }]);
  });
});

describe('prober worker machine: after a kubelet restart (upstream 1.35)', () => {
  it('a container running since before the prober started (less 10 s) gets no seed: readiness does not flip to failure', () => {
    const old = c({ startedAt: T0 - RESTART_GRACE_MS - S });
    const r = run(input({ probeType: 'readiness', timing: { ...probeTiming({}), initialDelaySeconds: 0 } }), [
      tick(T0, old),
    ]);
    assert.deepEqual(r.emitted, [{ type: 'probe.run', containerId: 'c1' }]);
    // one started within the grace is new: seeded
    const fresh = run(input({ probeType: 'readiness' }), [tick(T0, c({ startedAt: T0 - RESTART_GRACE_MS + S }))]);
    assert.deepEqual(fresh.emitted[0], { type: 'result.set', containerId: 'c1', result: 'failure' });
  });

  it('a restarted probes actor resumes the container it probed, with its result (no reseed)', () => {
    const r = run(input({ probeType: 'readiness', resume: { containerId: 'c1', cached: 'success' } }), [
      tick(T0 + 10 * S, c()),
      done('success'),
    ]);
    assert.deepEqual(r.emitted, [{ type: 'probe.run', containerId: 'c1' }]);
  });
});

describe('prober helpers', () => {
  const container = { name: 'app', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] } as Container;

  it('probeTiming: upstream defaults, a zero counts as unset', () => {
    assert.deepEqual(probeTiming({}), {
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.deepEqual(
      probeTiming({ periodSeconds: 0, timeoutSeconds: 0, initialDelaySeconds: 7, failureThreshold: 1 }).periodSeconds,
      10,
    );
  });

  it('resolveContainerPort: number, port name, number as a string; unknown names and bad numbers are errors', () => {
    assert.deepEqual(resolveContainerPort(81, container), { port: 81 });
    assert.deepEqual(resolveContainerPort('http', container), { port: 8080 });
    assert.deepEqual(resolveContainerPort('9090', container), { port: 9090 });
    assert.deepEqual(resolveContainerPort('metrics', container), { error: 'port metrics not found' });
    assert.deepEqual(resolveContainerPort(70000, container), { error: 'invalid port number: 70000' });
  });

  it('probedContainers: regular containers and sidecars, not regular init containers', () => {
    const pod = {
      metadata: { name: 'p', namespace: 'd', uid: 'u' },
      spec: {
        initContainers: [
          { name: 'init', image: 'x', livenessProbe: { exec: { command: ['true'] } } },
          { name: 'side', image: 'x', restartPolicy: 'Always', startupProbe: { exec: { command: ['true'] } } },
        ],
        containers: [
          {
            name: 'app',
            image: 'x',
            readinessProbe: { tcpSocket: { port: 1 } },
            livenessProbe: { tcpSocket: { port: 1 } },
          },
        ],
      },
    } as unknown as Pod;
    assert.deepEqual(
      probedContainers(pod).map((p) => `${p.container.name}/${p.probeType}`),
      ['app/readiness', 'app/liveness', 'side/startup'],
    );
  });

  it("observe: the status manager's container status as the worker reads it", () => {
    const pod = { metadata: { name: 'p', namespace: 'd', uid: 'u' }, spec: { containers: [] } } as unknown as Pod;
    assert.deepEqual(observe(pod, undefined, 'app'), { found: false, deleting: false });
    const obs = observe(
      pod,
      {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'app',
            containerID: 'containerd://abc',
            ready: false,
            restartCount: 0,
            image: '',
            imageID: '',
            started: true,
            state: { running: { startedAt: '2026-01-01T00:00:05Z' } },
          },
        ],
      },
      'app',
    );
    assert.deepEqual(obs.container, {
      id: 'abc',
      running: true,
      startedAt: Date.parse('2026-01-01T00:00:05Z'),
      terminated: false,
      started: true,
    });
  });
});
