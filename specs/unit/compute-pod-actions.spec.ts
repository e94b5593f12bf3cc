// Tier 1: computePodActions and getPhase against upstream's semantics, pure data in and out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CrashBackoff, backoffKey } from '../../actors/runtime/backoff.ts';
import {
  computePodActions,
  getPhase,
  hasAnyActiveRegularContainerStarted,
  nextRestartCount,
  podPhaseFromStatuses,
  podSandboxChanged,
  shouldPodBeTerminal,
  terminationStages,
  type PodActions,
} from '../../actors/runtime/compute-pod-actions.ts';
import { containerHash } from '../../actors/runtime/labels.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import type {
  RuntimeContainerStatus,
  RuntimePodStatus,
  RuntimeSandboxStatus,
} from '../../protocols/messages/runtime.ts';

const S = 1000;
const NOW = 1_000_000;

function mkPod(
  opts: {
    containers?: Container[];
    init?: Container[];
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    hostNetwork?: boolean;
    deleting?: boolean;
  } = {},
): Pod {
  const spec: Pod['spec'] = {
    containers: opts.containers ?? [{ name: 'web', image: 'nginx:1.25' }],
    restartPolicy: opts.restartPolicy ?? 'Always',
  };
  if (opts.init) spec.initContainers = opts.init;
  if (opts.hostNetwork) spec.hostNetwork = true;
  const metadata: Pod['metadata'] = { name: 'p', namespace: 'ns', uid: 'u1' };
  if (opts.deleting) metadata.deletionTimestamp = '2024-01-01T00:00:00Z';
  return { metadata, spec };
}

function sandbox(
  id: string,
  state: RuntimeSandboxStatus['state'] = 'SANDBOX_READY',
  attempt = 0,
  createdAt = 0,
): RuntimeSandboxStatus {
  return { id, state, attempt, createdAt, ip: '10.0.0.5', additionalIps: [] };
}

function specOf(pod: Pod, name: string): Container {
  return [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === name)!;
}

function ctr(
  pod: Pod,
  name: string,
  state: RuntimeContainerStatus['state'],
  extra: Partial<RuntimeContainerStatus> = {},
): RuntimeContainerStatus {
  return {
    id: `${name}-${extra.attempt ?? 0}`,
    name,
    state,
    attempt: 0,
    createdAt: 1,
    startedAt: 1,
    finishedAt: state === 'CONTAINER_EXITED' ? NOW - 60 * S : 0,
    exitCode: 0,
    reason: '',
    message: '',
    image: specOf(pod, name).image,
    imageRef: 'sha256:abc',
    hash: containerHash(specOf(pod, name)),
    restartCount: extra.attempt ?? 0,
    sandboxId: 's1',
    ...extra,
  };
}

function status(sandboxes: RuntimeSandboxStatus[], containers: RuntimeContainerStatus[]): RuntimePodStatus {
  return { uid: 'u1', name: 'p', namespace: 'ns', sandboxes, containers, timestamp: NOW };
}

function compute(pod: Pod, st: RuntimePodStatus, backoff = new CrashBackoff(), now = NOW): PodActions {
  return computePodActions(pod, st, { now, backoff });
}

/** The fields that decide what happens, for compact assertions. */
function plan(a: PodActions) {
  return {
    killPod: a.killPod,
    createSandbox: a.createSandbox,
    attempt: a.attempt,
    sandboxId: a.sandboxId,
    init: a.initContainersToStart,
    start: a.containersToStart,
    kill: Object.keys(a.containersToKill),
  };
}

describe('computePodActions: sandbox', () => {
  it('a fresh pod gets a sandbox (attempt 0) and all its containers', () => {
    const pod = mkPod({
      containers: [
        { name: 'a', image: 'x' },
        { name: 'b', image: 'y' },
      ],
    });
    assert.deepEqual(plan(compute(pod, status([], []))), {
      killPod: true,
      createSandbox: true,
      attempt: 0,
      sandboxId: '',
      init: [],
      start: [0, 1],
      kill: [],
    });
  });

  it('everything running as specified: nothing to do', () => {
    const pod = mkPod();
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_RUNNING')]));
    assert.deepEqual(plan(a), {
      killPod: false,
      createSandbox: false,
      attempt: 0,
      sandboxId: 's1',
      init: [],
      start: [],
      kill: [],
    });
    assert.deepEqual(a.waiting, []);
  });

  it('a dead sandbox: kill the pod, recreate with attempt+1', () => {
    const pod = mkPod();
    const a = compute(
      pod,
      status([sandbox('s1', 'SANDBOX_NOTREADY', 2)], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 137 })]),
    );
    assert.deepEqual(plan(a), {
      killPod: true,
      createSandbox: true,
      attempt: 3,
      sandboxId: 's1',
      init: [],
      start: [0],
      kill: [],
    });
    assert.match(a.reason, /No ready sandbox/);
  });

  it('two ready sandboxes: kill and reconcile into a new one', () => {
    const pod = mkPod();
    const a = compute(pod, status([sandbox('s2', 'SANDBOX_READY', 1, 20), sandbox('s1', 'SANDBOX_READY', 0, 10)], []));
    assert.deepEqual(plan(a), {
      killPod: true,
      createSandbox: true,
      attempt: 2,
      sandboxId: 's2',
      init: [],
      start: [0],
      kill: [],
    });
    assert.match(a.reason, /Multiple sandboxes/);
  });

  it('an exited older sandbox next to a ready newest one is fine', () => {
    const pod = mkPod();
    const st = status(
      [sandbox('s2', 'SANDBOX_READY', 1, 20), sandbox('s1', 'SANDBOX_NOTREADY', 0, 10)],
      [ctr(pod, 'web', 'CONTAINER_RUNNING')],
    );
    assert.equal(compute(pod, st).killPod, false);
  });

  it('hostNetwork changed: a new sandbox, the old id is not reused', () => {
    const pod = mkPod({ hostNetwork: true });
    const sb = { ...sandbox('s1'), networkMode: 'POD' as const };
    const change = podSandboxChanged(pod, status([sb], []));
    assert.deepEqual(
      { changed: change.changed, attempt: change.attempt, sandboxId: change.sandboxId },
      { changed: true, attempt: 1, sandboxId: '' },
    );
    assert.equal(podSandboxChanged(pod, status([{ ...sb, networkMode: 'NODE' }], [])).changed, false);
  });

  it('restartPolicy Never and the containers already ran: no new sandbox, just kill', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const a = compute(
      pod,
      status([sandbox('s1', 'SANDBOX_NOTREADY')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 0 })]),
    );
    assert.deepEqual(plan(a), {
      killPod: true,
      createSandbox: false,
      attempt: 1,
      sandboxId: 's1',
      init: [],
      start: [],
      kill: [],
    });
  });

  it('restartPolicy Never with no container yet: the sandbox is retried', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const a = compute(pod, status([sandbox('s1', 'SANDBOX_NOTREADY')], []));
    assert.equal(a.createSandbox, true);
    assert.deepEqual(a.containersToStart, [0]);
  });

  it('OnFailure with every container succeeded: no new sandbox', () => {
    const pod = mkPod({ restartPolicy: 'OnFailure' });
    const a = compute(
      pod,
      status([sandbox('s1', 'SANDBOX_NOTREADY')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 0 })]),
    );
    assert.equal(a.createSandbox, false);
    assert.deepEqual(a.containersToStart, []);
  });

  it('OnFailure: a recreated sandbox restarts only the containers that did not succeed', () => {
    const pod = mkPod({
      restartPolicy: 'OnFailure',
      containers: [
        { name: 'a', image: 'x' },
        { name: 'b', image: 'y' },
      ],
    });
    const st = status(
      [sandbox('s1', 'SANDBOX_NOTREADY')],
      [ctr(pod, 'a', 'CONTAINER_EXITED', { exitCode: 0 }), ctr(pod, 'b', 'CONTAINER_EXITED', { exitCode: 2 })],
    );
    const a = compute(pod, st);
    assert.equal(a.createSandbox, true);
    assert.deepEqual(a.containersToStart, [1]);
  });

  it('a recreated sandbox reruns the init containers from the first', () => {
    const pod = mkPod({
      init: [
        { name: 'i1', image: 'x' },
        { name: 'i2', image: 'x' },
      ],
    });
    const st = status(
      [sandbox('s1', 'SANDBOX_NOTREADY')],
      [
        ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1 }),
        ctr(pod, 'i2', 'CONTAINER_EXITED'),
        ctr(pod, 'i1', 'CONTAINER_EXITED'),
      ],
    );
    const a = compute(pod, st);
    assert.deepEqual(plan(a), {
      killPod: true,
      createSandbox: true,
      attempt: 1,
      sandboxId: 's1',
      init: [0],
      start: [],
      kill: [],
    });
  });
});

describe('computePodActions: restart policy on exited containers', () => {
  const cases: Array<[policy: 'Always' | 'OnFailure' | 'Never', exitCode: number, restarted: boolean]> = [
    ['Always', 0, true],
    ['Always', 1, true],
    ['OnFailure', 0, false],
    ['OnFailure', 1, true],
    ['Never', 0, false],
    ['Never', 1, false],
  ];
  for (const [policy, exitCode, restarted] of cases) {
    it(`${policy}, exit ${exitCode}: ${restarted ? 'restarted' : 'left alone, pod killed'}`, () => {
      const pod = mkPod({ restartPolicy: policy });
      const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode })]));
      assert.deepEqual(a.containersToStart, restarted ? [0] : []);
      // Nothing kept and nothing to start: the sandbox is stopped too (upstream).
      assert.equal(a.killPod, !restarted);
      assert.equal(a.createSandbox, false);
    });
  }

  it('a finished container next to a running one: only the policy decides, the pod lives', () => {
    const pod = mkPod({
      restartPolicy: 'Never',
      containers: [
        { name: 'a', image: 'x' },
        { name: 'b', image: 'y' },
      ],
    });
    const a = compute(
      pod,
      status([sandbox('s1')], [ctr(pod, 'a', 'CONTAINER_EXITED'), ctr(pod, 'b', 'CONTAINER_RUNNING')]),
    );
    assert.deepEqual(plan(a).start, []);
    assert.equal(a.killPod, false);
  });

  it('a created-but-not-started container is started again', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_CREATED')]));
    assert.deepEqual(a.containersToStart, [0]);
  });

  it('a container in unknown state is killed before it is restarted', () => {
    const pod = mkPod();
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_UNKNOWN', { id: 'c9' })]));
    assert.deepEqual(a.containersToStart, [0]);
    assert.deepEqual(a.containersToKill, {
      c9: { name: 'web', message: 'Container is in "unknown" state, try killing it before restart', reason: 'Unknown' },
    });
  });

  it('a pod being deleted restarts nothing', () => {
    const pod = mkPod({ deleting: true });
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1 })]));
    assert.deepEqual(a.containersToStart, []);
    assert.equal(a.killPod, true);
  });

  it("the next restart count follows the newest instance's", () => {
    const pod = mkPod();
    assert.equal(nextRestartCount(status([], []), 'web'), 0);
    const st = status(
      [sandbox('s1')],
      [
        ctr(pod, 'web', 'CONTAINER_EXITED', { restartCount: 4 }),
        ctr(pod, 'web', 'CONTAINER_EXITED', { restartCount: 3 }),
      ],
    );
    assert.equal(nextRestartCount(st, 'web'), 5);
  });

  it('only the newest instance of a container counts', () => {
    const pod = mkPod({ restartPolicy: 'OnFailure' });
    const st = status(
      [sandbox('s1')],
      [
        ctr(pod, 'web', 'CONTAINER_EXITED', { id: 'new', exitCode: 0, attempt: 1 }),
        ctr(pod, 'web', 'CONTAINER_EXITED', { id: 'old', exitCode: 1 }),
      ],
    );
    assert.deepEqual(compute(pod, st).containersToStart, []);
  });
});

describe('computePodActions: spec changes and probes', () => {
  it('a running container whose hash changed is killed and restarted', () => {
    const pod = mkPod();
    const running = ctr(pod, 'web', 'CONTAINER_RUNNING', { id: 'c1', hash: 'deadbeef' });
    const a = compute(pod, status([sandbox('s1')], [running]));
    assert.deepEqual(a.containersToStart, [0]);
    assert.deepEqual(a.containersToKill, {
      c1: { name: 'web', message: 'Container web definition changed, will be restarted', reason: 'DefinitionChanged' },
    });
    assert.equal(a.killPod, false);
  });

  it('a definition change restarts even under Never', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_RUNNING', { id: 'c1', hash: '0' })]));
    assert.deepEqual(a.containersToStart, [0]);
    assert.equal(a.killPod, false);
  });

  it('the image is part of the hash', () => {
    const pod = mkPod();
    const old = ctr(pod, 'web', 'CONTAINER_RUNNING', { id: 'c1' });
    const updated = mkPod({ containers: [{ name: 'web', image: 'nginx:1.26' }] });
    assert.deepEqual(compute(updated, status([sandbox('s1')], [old])).containersToStart, [0]);
  });

  it('a failed liveness probe kills; the policy decides the restart', () => {
    const pod = mkPod();
    const st = status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_RUNNING', { id: 'c1' })]);
    const a = computePodActions(pod, st, { now: NOW, backoff: new CrashBackoff(), probeFailures: { c1: 'liveness' } });
    assert.equal(a.containersToKill['c1']?.message, 'Container web failed liveness probe, will be restarted');
    assert.deepEqual(a.containersToStart, [0]);

    const never = mkPod({ restartPolicy: 'Never' });
    const b = computePodActions(never, st, { now: NOW, backoff: new CrashBackoff(), probeFailures: { c1: 'startup' } });
    assert.deepEqual(b.containersToKill['c1'], {
      name: 'web',
      message: 'Container web failed startup probe',
      reason: 'StartupProbe',
    });
    assert.deepEqual(b.containersToStart, []);
  });
});

describe('computePodActions: crash-loop backoff', () => {
  it('the first restart after a crash is immediate and listed for the backoff', () => {
    const pod = mkPod();
    const st = status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: NOW - 1 })]);
    const a = compute(pod, st);
    assert.deepEqual(a.containersToStart, [0]);
    assert.deepEqual(a.restarts, [{ name: 'web', key: backoffKey(pod, specOf(pod, 'web')), finishedAt: NOW - 1 }]);
    assert.deepEqual(a.waiting, []);
  });

  it('in backoff: CrashLoopBackOff with upstream wording and retryAt; the sandbox stays', () => {
    const pod = mkPod();
    const backoff = new CrashBackoff();
    backoff.next(backoffKey(pod, specOf(pod, 'web')), NOW - 30 * S);
    const st = status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: NOW - 4 * S })]);
    const a = compute(pod, st, backoff);
    assert.deepEqual(a.containersToStart, []);
    assert.equal(a.killPod, false);
    assert.deepEqual(a.waiting, [
      {
        name: 'web',
        reason: 'CrashLoopBackOff',
        message: 'back-off 10s restarting failed container=web pod=p_ns(u1)',
        retryAt: NOW + 6 * S,
      },
    ]);
    assert.deepEqual(a.restarts, []);
  });

  it('after the delay the container is started again', () => {
    const pod = mkPod();
    const backoff = new CrashBackoff();
    backoff.next(backoffKey(pod, specOf(pod, 'web')), NOW - 30 * S);
    const st = status(
      [sandbox('s1')],
      [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: NOW - 10 * S })],
    );
    assert.deepEqual(compute(pod, st, backoff).containersToStart, [0]);
  });

  it('a crash-looping container waits 10s, 20s, 40s, ... capped at 5m0s', () => {
    const pod = mkPod();
    const backoff = new CrashBackoff();
    let now = NOW;
    const delays: string[] = [];
    for (let attempt = 0; attempt < 9; attempt++) {
      // The container crashed right now.
      const st = status(
        [sandbox('s1')],
        [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: now, attempt })],
      );
      const held = compute(pod, st, backoff, now);
      if (held.waiting.length > 0) {
        delays.push(held.waiting[0]!.message.split(' ')[1]!);
        now = held.waiting[0]!.retryAt!;
      }
      const go = compute(pod, st, backoff, now);
      assert.deepEqual(go.containersToStart, [0], `attempt ${attempt} restarts at ${now}`);
      for (const r of go.restarts) backoff.next(r.key, now, r.finishedAt);
      now += 1; // it crashes again at once
    }
    assert.deepEqual(delays, ['10s', '20s', '40s', '1m20s', '2m40s', '5m0s', '5m0s', '5m0s']);
  });

  it('a changed spec (new hash) starts without the old crash history', () => {
    const pod = mkPod();
    const backoff = new CrashBackoff();
    backoff.next(backoffKey(pod, specOf(pod, 'web')), NOW);
    const fixed = mkPod({ containers: [{ name: 'web', image: 'nginx:fixed' }] });
    const st = status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: NOW })]);
    assert.deepEqual(compute(fixed, st, backoff).containersToStart, [0]);
  });
});

describe('computePodActions: init containers', () => {
  const init = [
    { name: 'i1', image: 'x' },
    { name: 'i2', image: 'x' },
  ];

  it('run in order, one at a time, before the regular containers', () => {
    const pod = mkPod({ init });
    const sb = [sandbox('s1')];
    assert.deepEqual(compute(pod, status(sb, [])).initContainersToStart, [0]);
    const running = compute(pod, status(sb, [ctr(pod, 'i1', 'CONTAINER_RUNNING')]));
    assert.deepEqual(plan(running), {
      killPod: false,
      createSandbox: false,
      attempt: 0,
      sandboxId: 's1',
      init: [],
      start: [],
      kill: [],
    });
    const second = compute(pod, status(sb, [ctr(pod, 'i1', 'CONTAINER_EXITED')]));
    assert.deepEqual(second.initContainersToStart, [1]);
    assert.deepEqual(second.containersToStart, []);
    const done = compute(pod, status(sb, [ctr(pod, 'i2', 'CONTAINER_EXITED'), ctr(pod, 'i1', 'CONTAINER_EXITED')]));
    assert.deepEqual(done.initContainersToStart, []);
    assert.deepEqual(done.containersToStart, [0]);
  });

  it('a failed init container is restarted under Always and OnFailure', () => {
    for (const restartPolicy of ['Always', 'OnFailure'] as const) {
      const pod = mkPod({ init, restartPolicy });
      const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 3 })]));
      assert.deepEqual(a.initContainersToStart, [0], restartPolicy);
      assert.equal(a.killPod, false);
    }
  });

  it('an OOMKilled init container counts as failed', () => {
    const pod = mkPod({ init });
    const st = status([sandbox('s1')], [ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 0, reason: 'OOMKilled' })]);
    assert.deepEqual(compute(pod, st).initContainersToStart, [0]);
    assert.equal(compute(mkPod({ init, restartPolicy: 'Never' }), st).killPod, true);
  });

  it('a failed init container fails the pod under Never', () => {
    const pod = mkPod({ init, restartPolicy: 'Never' });
    const st = status([sandbox('s1')], [ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 3 })]);
    const a = compute(pod, st);
    assert.equal(a.killPod, true);
    assert.deepEqual(a.initContainersToStart, []);
    assert.equal(getPhase(pod, st), 'Failed');
  });

  it('a failed init container in backoff waits with CrashLoopBackOff', () => {
    const pod = mkPod({ init });
    const backoff = new CrashBackoff();
    backoff.next(backoffKey(pod, specOf(pod, 'i1')), NOW);
    const a = compute(
      pod,
      status([sandbox('s1')], [ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: NOW })]),
      backoff,
    );
    assert.deepEqual(a.initContainersToStart, []);
    assert.equal(a.waiting[0]?.reason, 'CrashLoopBackOff');
    assert.equal(a.waiting[0]?.name, 'i1');
  });

  it('an init container in unknown state is killed before its restart', () => {
    const pod = mkPod({ init });
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'i1', 'CONTAINER_UNKNOWN', { id: 'x1' })]));
    assert.deepEqual(a.initContainersToStart, [0]);
    assert.equal(
      a.containersToKill['x1']?.message,
      'Init container is in "unknown" state, try killing it before restart',
    );
  });

  it('a running regular container means initialisation is done, even if init containers were removed', () => {
    const pod = mkPod({ init });
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_RUNNING')]));
    assert.deepEqual(a.initContainersToStart, []);
    assert.deepEqual(plan(a).start, []);
    assert.equal(a.killPod, false);
  });
});

describe('computePodActions: fields kubelet-ts does not support', () => {
  const hook = { stopSignal: 'SIGUSR1' };

  it('a container with a stop signal is not started but keeps the sandbox; the others start', () => {
    const pod = mkPod({
      containers: [
        { name: 'a', image: 'x', lifecycle: hook },
        { name: 'b', image: 'y' },
      ],
    });
    const a = compute(pod, status([], []));
    assert.deepEqual(plan(a), {
      killPod: true,
      createSandbox: true,
      attempt: 0,
      sandboxId: '',
      init: [],
      start: [1],
      kill: [],
    });
    assert.deepEqual(a.waiting, [
      {
        name: 'a',
        reason: 'CreateContainerConfigError',
        message: 'spec.containers[0].lifecycle.stopSignal: not supported by kubelet-ts',
      },
    ]);
    assert.deepEqual(a.unsupported, [{ path: 'spec.containers[0].lifecycle.stopSignal', container: 'a' }]);
    // the only container refused: it still counts as to start, so the pod is not killed
    const alone = mkPod({ containers: [{ name: 'a', image: 'x', lifecycle: hook }] });
    assert.deepEqual(plan(compute(alone, status([sandbox('s1')], []))), {
      killPod: false,
      createSandbox: false,
      attempt: 0,
      sandboxId: 's1',
      init: [],
      start: [],
      kill: [],
    });
  });

  it('a pod-level field holds the next init container and every container behind it, with the reason', () => {
    const pod = mkPod({ init: [{ name: 'i', image: 'x' }], containers: [{ name: 'a', image: 'x' }] });
    (pod.spec as Record<string, unknown>).resourceClaims = [{ name: 'gpu' }];
    const a = compute(pod, status([sandbox('s1')], []));
    assert.deepEqual(a.initContainersToStart, []);
    assert.deepEqual(
      a.waiting.map((w) => [w.name, w.reason, w.message]),
      [
        ['i', 'CreateContainerConfigError', 'spec.resourceClaims: not supported by kubelet-ts'],
        ['a', 'CreateContainerConfigError', 'spec.resourceClaims: not supported by kubelet-ts'],
      ],
    );
  });

  it('a refused container already running (adopted) is left running and not listed as waiting', () => {
    const pod = mkPod({ containers: [{ name: 'web', image: 'nginx:1.25', lifecycle: hook }] });
    const a = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_RUNNING')]));
    assert.deepEqual(plan(a), {
      killPod: false,
      createSandbox: false,
      attempt: 0,
      sandboxId: 's1',
      init: [],
      start: [],
      kill: [],
    });
    assert.deepEqual(a.waiting, []);
    assert.equal(a.unsupported.length, 1, 'still reported, for the event');
    // once it exits it is not started again
    const exited = compute(pod, status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1 })]));
    assert.deepEqual(exited.containersToStart, []);
    assert.deepEqual(exited.restarts, [], 'the crash-loop backoff is not advanced for a container never started');
    assert.equal(exited.waiting[0]?.reason, 'CreateContainerConfigError');
  });
});

describe('getPhase', () => {
  const sb = [sandbox('s1')];

  it('Pending before anything ran', () => {
    assert.equal(getPhase(mkPod(), status([], [])), 'Pending');
  });

  it('Running while a container runs', () => {
    const pod = mkPod();
    assert.equal(getPhase(pod, status(sb, [ctr(pod, 'web', 'CONTAINER_RUNNING')])), 'Running');
  });

  it('Pending while another container has not started yet', () => {
    const pod = mkPod({
      containers: [
        { name: 'a', image: 'x' },
        { name: 'b', image: 'x' },
      ],
    });
    assert.equal(getPhase(pod, status(sb, [ctr(pod, 'a', 'CONTAINER_RUNNING')])), 'Pending');
  });

  const exits: Array<[policy: 'Always' | 'OnFailure' | 'Never', exitCode: number, phase: string]> = [
    ['Always', 0, 'Running'],
    ['Always', 1, 'Running'],
    ['OnFailure', 0, 'Succeeded'],
    ['OnFailure', 1, 'Running'],
    ['Never', 0, 'Succeeded'],
    ['Never', 1, 'Failed'],
  ];
  for (const [restartPolicy, exitCode, phase] of exits) {
    it(`${restartPolicy}, all exited ${exitCode}: ${phase}`, () => {
      const pod = mkPod({ restartPolicy });
      const st = status(sb, [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode })]);
      assert.equal(getPhase(pod, st), phase);
      assert.equal(shouldPodBeTerminal(pod, st), phase === 'Succeeded' || phase === 'Failed');
    });
  }

  it('a terminal pod (decided by the pod worker) is Succeeded/Failed whatever the policy', () => {
    const pod = mkPod({ restartPolicy: 'Always' });
    assert.equal(getPhase(pod, status(sb, [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 0 })]), true), 'Succeeded');
    assert.equal(getPhase(pod, status(sb, [ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 2 })]), true), 'Failed');
  });

  it('Pending during initialisation, Failed when an init container fails under Never', () => {
    const pod = mkPod({ init: [{ name: 'i1', image: 'x' }] });
    assert.equal(getPhase(pod, status(sb, [ctr(pod, 'i1', 'CONTAINER_RUNNING')])), 'Pending');
    assert.equal(getPhase(pod, status(sb, [ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 1 })])), 'Pending');
    const never = mkPod({ init: [{ name: 'i1', image: 'x' }], restartPolicy: 'Never' });
    assert.equal(getPhase(never, status(sb, [ctr(never, 'i1', 'CONTAINER_EXITED', { exitCode: 1 })])), 'Failed');
  });

  it('a restarting container (created after an exit) counts as stopped, not waiting', () => {
    const pod = mkPod({ restartPolicy: 'OnFailure' });
    const st = status(sb, [
      ctr(pod, 'web', 'CONTAINER_CREATED', { id: 'new', attempt: 1 }),
      ctr(pod, 'web', 'CONTAINER_EXITED', { id: 'old', exitCode: 1 }),
    ]);
    assert.equal(getPhase(pod, st), 'Running');
  });
});

describe('computePodActions: defect 5, an instance created but never started (the kubelet died in between)', () => {
  it('in the current sandbox with the current spec: started as it is, no restart counted', () => {
    const pod = mkPod();
    const st = status([sandbox('s1')], [ctr(pod, 'web', 'CONTAINER_CREATED', { id: 'c0', startedAt: 0 })]);
    const a = compute(pod, st);
    assert.deepEqual(plan(a).start, [0]);
    assert.deepEqual(a.createdToStart, { web: 'c0' });
    assert.deepEqual(a.createdToRemove, []);
    assert.equal(nextRestartCount(st, 'web'), 0);
  });

  it('after a run and an exit, the never-started next attempt keeps its number', () => {
    const pod = mkPod();
    const st = status(
      [sandbox('s1')],
      [
        ctr(pod, 'web', 'CONTAINER_CREATED', { id: 'c1', attempt: 1, startedAt: 0, createdAt: 2 }),
        ctr(pod, 'web', 'CONTAINER_EXITED', { id: 'c0', exitCode: 1 }),
      ],
    );
    assert.equal(nextRestartCount(st, 'web'), 1);
    assert.deepEqual(compute(pod, st).createdToStart, { web: 'c1' });
  });

  it('of another spec, or in a sandbox being replaced: removed first, its replacement takes its attempt', () => {
    const pod = mkPod();
    const stale = status(
      [sandbox('s1')],
      [ctr(pod, 'web', 'CONTAINER_CREATED', { id: 'c0', hash: 'old', startedAt: 0 })],
    );
    const a = compute(pod, stale);
    assert.deepEqual([a.createdToStart, a.createdToRemove, plan(a).start], [{}, ['c0'], [0]]);
    assert.equal(nextRestartCount(stale, 'web'), 0);
    const gone = status(
      [sandbox('s1', 'SANDBOX_NOTREADY')],
      [ctr(pod, 'web', 'CONTAINER_CREATED', { id: 'c0', startedAt: 0 })],
    );
    const b = compute(pod, gone);
    assert.equal(b.createSandbox, true);
    assert.deepEqual([b.createdToStart, b.createdToRemove], [{}, ['c0']]);
  });
});

describe('computePodActions: sidecars (init containers with restartPolicy Always, upstream computeInitContainerActions)', () => {
  const side = (name: string, extra: Partial<Container> = {}): Container => ({
    name,
    image: 'x',
    restartPolicy: 'Always',
    ...extra,
  });
  const sb = [sandbox('s1')];

  it('start in order: the next init container once the sidecar runs, the regular containers once initialised', () => {
    const pod = mkPod({ init: [side('log'), { name: 'setup', image: 'x' }] });
    assert.deepEqual(compute(pod, status([], [])).initContainersToStart, [0], 'a new sandbox starts from the first');
    assert.deepEqual(plan(compute(pod, status(sb, []))), {
      killPod: false,
      createSandbox: false,
      attempt: 0,
      sandboxId: 's1',
      init: [0],
      start: [],
      kill: [],
    });
    // the sidecar runs: the next init container's turn, the regular containers still wait
    const running = compute(pod, status(sb, [ctr(pod, 'log', 'CONTAINER_RUNNING')]));
    assert.deepEqual([running.initContainersToStart, running.containersToStart], [[1], []]);
    // the next one runs: wait for it to complete, the sidecar is left alone
    const setup = compute(
      pod,
      status(sb, [ctr(pod, 'setup', 'CONTAINER_RUNNING'), ctr(pod, 'log', 'CONTAINER_RUNNING')]),
    );
    assert.deepEqual(plan(setup), {
      killPod: false,
      createSandbox: false,
      attempt: 0,
      sandboxId: 's1',
      init: [],
      start: [],
      kill: [],
    });
    // it completed: the regular containers start while the sidecar keeps running
    const done = compute(
      pod,
      status(sb, [ctr(pod, 'setup', 'CONTAINER_EXITED'), ctr(pod, 'log', 'CONTAINER_RUNNING')]),
    );
    assert.deepEqual([done.initContainersToStart, done.containersToStart, done.killPod], [[], [0], false]);
  });

  it('a running sidecar as the last init container initialises the pod', () => {
    const pod = mkPod({ init: [side('log')] });
    const a = compute(pod, status(sb, [ctr(pod, 'log', 'CONTAINER_RUNNING')]));
    assert.deepEqual([a.initContainersToStart, a.containersToStart], [[], [0]]);
  });

  it('a sidecar with a startupProbe: the next one waits for the started signal; a startup failure restarts it', () => {
    const pod = mkPod({
      init: [side('log', { startupProbe: { exec: { command: ['true'] } } }), { name: 'setup', image: 'x' }],
    });
    const st = status(sb, [ctr(pod, 'log', 'CONTAINER_RUNNING', { id: 'log-0' })]);
    assert.deepEqual(compute(pod, st).initContainersToStart, [], 'running is not started: no probe result yet');
    const started = computePodActions(pod, st, {
      now: NOW,
      backoff: new CrashBackoff(),
      startupSucceeded: new Set(['log-0']),
    });
    assert.deepEqual(started.initContainersToStart, [1]);
    const failed = computePodActions(pod, st, {
      now: NOW,
      backoff: new CrashBackoff(),
      probeFailures: { 'log-0': 'startup' },
    });
    assert.deepEqual(failed.containersToKill['log-0'], {
      name: 'log',
      message: 'Init container log failed startup probe',
      reason: 'StartupProbe',
    });
    // the failed sidecar is killed and its new instance started in the same sync
    assert.deepEqual(failed.initContainersToStart, [0]);
    assert.deepEqual(failed.unsupported, []);
    const plain = mkPod({ init: [{ name: 'setup', image: 'x', startupProbe: { exec: { command: ['true'] } } }] });
    assert.deepEqual(
      compute(plain, status(sb, [])).unsupported,
      [
        {
          path: 'spec.initContainers[0].startupProbe',
          detail:
            'a probe on an init container that is not a sidecar (restartPolicy Always): upstream validation forbids it',
          container: 'setup',
        },
      ],
      'a probe on a plain init container is refused',
    );
  });

  it("an exited sidecar is restarted whatever the pod's restartPolicy, in the sync that keeps the regular containers", () => {
    for (const restartPolicy of ['Always', 'OnFailure', 'Never'] as const) {
      const pod = mkPod({ init: [side('log')], restartPolicy });
      for (const exitCode of [0, 1]) {
        const a = compute(
          pod,
          status(sb, [ctr(pod, 'web', 'CONTAINER_RUNNING'), ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode })]),
        );
        assert.deepEqual(
          plan(a),
          { killPod: false, createSandbox: false, attempt: 0, sandboxId: 's1', init: [0], start: [], kill: [] },
          `${restartPolicy} exit ${exitCode}`,
        );
        assert.deepEqual(
          a.restarts.map((r) => r.name),
          ['log'],
          'its backoff advances',
        );
      }
    }
  });

  it('a crash-looping sidecar waits in CrashLoopBackOff; the regular containers are not held by it', () => {
    const pod = mkPod({ init: [side('log')] });
    const backoff = new CrashBackoff();
    backoff.next(backoffKey(pod, specOf(pod, 'log')), NOW);
    const a = compute(
      pod,
      status(sb, [
        ctr(pod, 'web', 'CONTAINER_RUNNING'),
        ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 1, finishedAt: NOW }),
      ]),
      backoff,
    );
    assert.deepEqual(a.initContainersToStart, []);
    assert.deepEqual(
      a.waiting.map((w) => [w.name, w.reason]),
      [['log', 'CrashLoopBackOff']],
    );
    assert.equal(a.killPod, false);
  });

  it('a sidecar the runtime no longer has, after initialisation, is started again; a plain init container is not', () => {
    const pod = mkPod({ init: [side('log'), { name: 'setup', image: 'x' }] });
    const a = compute(pod, status(sb, [ctr(pod, 'web', 'CONTAINER_RUNNING')]));
    assert.deepEqual([a.initContainersToStart, a.containersToStart], [[0], []]);
  });

  it('a changed or unknown sidecar is killed and started again', () => {
    const pod = mkPod({ init: [side('log')] });
    const changed = compute(
      pod,
      status(sb, [
        ctr(pod, 'web', 'CONTAINER_RUNNING'),
        ctr(pod, 'log', 'CONTAINER_RUNNING', { id: 'l0', hash: 'old' }),
      ]),
    );
    assert.deepEqual(
      [changed.initContainersToStart, changed.containersToKill['l0']?.message],
      [[0], 'Init container log definition changed'],
    );
    const unknown = compute(
      pod,
      status(sb, [ctr(pod, 'web', 'CONTAINER_RUNNING'), ctr(pod, 'log', 'CONTAINER_UNKNOWN', { id: 'l0' })]),
    );
    assert.deepEqual([unknown.initContainersToStart, unknown.containersToKill['l0']?.reason], [[0], 'Unknown']);
  });

  it('does not keep a pod alive: restartPolicy Never, the main container finished, the pod is killed and no sidecar restarted', () => {
    const pod = mkPod({ init: [side('log')], restartPolicy: 'Never' });
    const running = status(sb, [ctr(pod, 'web', 'CONTAINER_EXITED'), ctr(pod, 'log', 'CONTAINER_RUNNING')]);
    const a = compute(pod, running);
    assert.deepEqual([a.killPod, a.initContainersToStart], [true, []]);
    // both exited: the pod is terminal by its phase already (the worker terminates it, no sync)
    assert.equal(
      shouldPodBeTerminal(
        pod,
        status(sb, [ctr(pod, 'web', 'CONTAINER_EXITED'), ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 1 })]),
      ),
      true,
    );
    // the sidecar still runs: Running; once it is stopped, the main container alone decides
    assert.equal(getPhase(pod, running), 'Running');
    const stopped = status(sb, [
      ctr(pod, 'web', 'CONTAINER_EXITED'),
      ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 143 }),
    ]);
    assert.equal(getPhase(pod, stopped), 'Succeeded');
    assert.equal(shouldPodBeTerminal(pod, stopped), true);
    const failedMain = status(sb, [
      ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 2 }),
      ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 0 }),
    ]);
    assert.equal(getPhase(pod, failedMain), 'Failed');
  });

  it('getPhase: Pending until the sidecar has started, Running with it and the regular containers', () => {
    const pod = mkPod({ init: [side('log')] });
    assert.equal(getPhase(pod, status(sb, [])), 'Pending');
    assert.equal(
      getPhase(pod, status(sb, [ctr(pod, 'log', 'CONTAINER_RUNNING')])),
      'Pending',
      'the regular container has not started',
    );
    assert.equal(
      getPhase(pod, status(sb, [ctr(pod, 'web', 'CONTAINER_RUNNING'), ctr(pod, 'log', 'CONTAINER_RUNNING')])),
      'Running',
    );
    // a running sidecar not started yet (its startup probe): Pending unless the pod initialised before
    const base = { ready: false, restartCount: 0, image: 'x', imageID: '' };
    const statuses = [
      { ...base, name: 'log', started: false, state: { running: {} } },
      { ...base, name: 'web', state: { running: {} } },
    ];
    assert.equal(podPhaseFromStatuses(pod, statuses, false, true), 'Running');
    assert.equal(podPhaseFromStatuses(pod, statuses, false, false), 'Pending');
    // initialised: a regular container has an instance in the newest sandbox (not in an old one)
    assert.equal(hasAnyActiveRegularContainerStarted(pod, status(sb, [ctr(pod, 'web', 'CONTAINER_EXITED')])), true);
    assert.equal(
      hasAnyActiveRegularContainerStarted(
        pod,
        status([sandbox('s2'), sandbox('s1', 'SANDBOX_NOTREADY')], [ctr(pod, 'web', 'CONTAINER_EXITED')]),
      ),
      false,
    );
    // a restarting sidecar (exited, about to start again) does not make the pod Pending
    assert.equal(
      getPhase(
        pod,
        status(sb, [ctr(pod, 'web', 'CONTAINER_RUNNING'), ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 1 })]),
      ),
      'Running',
    );
  });
});

describe('terminationStages (upstream newTerminationOrdering)', () => {
  const side = (name: string): Container => ({ name, image: 'x', restartPolicy: 'Always' });
  const pod = mkPod({
    init: [side('a'), { name: 'setup', image: 'x' }, side('b'), side('c')],
    containers: [
      { name: 'web', image: 'x' },
      { name: 'api', image: 'x' },
    ],
  });
  const names = (stages: { name: string }[][]) => stages.map((s) => s.map((c) => c.name));

  it('the regular containers together first, then the sidecars one by one in reverse order', () => {
    const live = ['a', 'web', 'b', 'c', 'api', 'setup'].map((name) => ({ name }));
    assert.deepEqual(names(terminationStages(pod, live)), [['web', 'api', 'setup'], ['c'], ['b'], ['a']]);
  });

  it('skips what is not live; without the pod (an orphan) or without sidecars: one stage', () => {
    assert.deepEqual(names(terminationStages(pod, [{ name: 'a' }, { name: 'c' }])), [['c'], ['a']]);
    assert.deepEqual(names(terminationStages(null, [{ name: 'a' }, { name: 'web' }])), [['a', 'web']]);
    assert.deepEqual(names(terminationStages(mkPod(), [{ name: 'web' }])), [['web']]);
    assert.deepEqual(terminationStages(pod, []), []);
  });
});
