// Tier 1: the v1 PodStatus generated from the runtime's view (upstream generateAPIPodStatus).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerHash } from '../../actors/runtime/labels.ts';
import {
  generateApiPodStatus,
  sortPodIps,
  toRfc3339,
  type ApiPodStatusOptions,
} from '../../actors/runtime/pod-status.ts';
import { computePodQos, getPodQos } from '../../protocols/kube/qos.ts';
import type { Container, Pod, PodCondition, PodStatus } from '../../protocols/kube/pod.ts';
import type {
  ContainerWaiting,
  RuntimeContainerStatus,
  RuntimePodStatus,
  RuntimeSandboxStatus,
} from '../../protocols/messages/runtime.ts';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5);
const S = 1000;

function mkPod(
  opts: {
    containers?: Container[];
    init?: Container[];
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    hostNetwork?: boolean;
    status?: PodStatus;
    readinessGates?: Record<string, unknown>[];
  } = {},
): Pod {
  const spec: Pod['spec'] = {
    containers: opts.containers ?? [{ name: 'web', image: 'nginx:1.25' }],
    restartPolicy: opts.restartPolicy ?? 'Always',
  };
  if (opts.init) spec.initContainers = opts.init;
  if (opts.hostNetwork) spec.hostNetwork = true;
  if (opts.readinessGates) spec.readinessGates = opts.readinessGates;
  const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec };
  if (opts.status) pod.status = opts.status;
  return pod;
}

function sandbox(extra: Partial<RuntimeSandboxStatus> = {}): RuntimeSandboxStatus {
  return { id: 's1', state: 'SANDBOX_READY', attempt: 0, createdAt: T0, ip: '10.1.0.7', additionalIps: [], ...extra };
}

function ctr(
  pod: Pod,
  name: string,
  state: RuntimeContainerStatus['state'],
  extra: Partial<RuntimeContainerStatus> = {},
): RuntimeContainerStatus {
  const spec = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === name)!;
  return {
    id: `${name}-id`,
    name,
    state,
    attempt: 0,
    createdAt: T0,
    startedAt: T0 + S,
    finishedAt: state === 'CONTAINER_EXITED' ? T0 + 9 * S : 0,
    exitCode: 0,
    reason: '',
    message: '',
    image: spec.image,
    imageRef: 'sha256:img',
    hash: containerHash(spec),
    restartCount: 0,
    sandboxId: 's1',
    ...extra,
  };
}

function rs(containers: RuntimeContainerStatus[], sandboxes: RuntimeSandboxStatus[] = [sandbox()]): RuntimePodStatus {
  return { uid: 'u1', name: 'p', namespace: 'ns', sandboxes, containers, timestamp: T0 };
}

function gen(pod: Pod, st: RuntimePodStatus, extra: Partial<ApiPodStatusOptions> = {}): PodStatus {
  return generateApiPodStatus(pod, st, { waiting: [], now: T0 + 60 * S, hostIP: '192.168.0.2', ...extra });
}

function cond(s: PodStatus, type: string): PodCondition | undefined {
  return s.conditions?.find((c) => c.type === type);
}

describe('generateApiPodStatus: a new pod', () => {
  const pod = mkPod();
  const s = gen(pod, rs([], []));

  it('is Pending with its containers waiting in ContainerCreating', () => {
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(s.containerStatuses, [
      {
        name: 'web',
        image: 'nginx:1.25',
        imageID: '',
        ready: false,
        restartCount: 0,
        started: false,
        state: { waiting: { reason: 'ContainerCreating' } },
      },
    ]);
    assert.deepEqual(s.initContainerStatuses, []);
  });

  it('has the kubelet conditions in upstream order', () => {
    const at = toRfc3339(T0 + 60 * S);
    assert.deepEqual(s.conditions, [
      { type: 'PodReadyToStartContainers', status: 'False', lastTransitionTime: at },
      { type: 'Initialized', status: 'True', lastTransitionTime: at },
      {
        type: 'Ready',
        status: 'False',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [web]',
        lastTransitionTime: at,
      },
      {
        type: 'ContainersReady',
        status: 'False',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [web]',
        lastTransitionTime: at,
      },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
    ]);
  });

  it('starts now, on this host, BestEffort, no pod IP yet', () => {
    assert.equal(s.startTime, '2024-01-02T03:05:05Z');
    assert.equal(s.hostIP, '192.168.0.2');
    assert.deepEqual(s.hostIPs, [{ ip: '192.168.0.2' }]);
    assert.equal(s.podIP, undefined);
    assert.equal(s.qosClass, 'BestEffort');
  });
});

describe('generateApiPodStatus: running', () => {
  const pod = mkPod({
    containers: [
      { name: 'web', image: 'nginx:1.25' },
      { name: 'a-sidecar', image: 'envoy' },
    ],
  });
  const s = gen(
    pod,
    rs(
      [ctr(pod, 'web', 'CONTAINER_RUNNING', { restartCount: 2 }), ctr(pod, 'a-sidecar', 'CONTAINER_RUNNING')],
      [sandbox({ additionalIps: ['fd00::7'] })],
    ),
  );

  it('is Running and Ready, containers sorted by name', () => {
    assert.equal(s.phase, 'Running');
    assert.deepEqual(
      s.containerStatuses?.map((c) => c.name),
      ['a-sidecar', 'web'],
    );
    assert.equal(cond(s, 'Ready')?.status, 'True');
    assert.equal(cond(s, 'ContainersReady')?.status, 'True');
    assert.equal(cond(s, 'PodReadyToStartContainers')?.status, 'True');
  });

  it('reports the running state like upstream', () => {
    assert.deepEqual(s.containerStatuses?.[1], {
      name: 'web',
      image: 'nginx:1.25',
      imageID: 'sha256:img',
      containerID: 'containerd://web-id',
      restartCount: 2,
      ready: true,
      started: true,
      state: { running: { startedAt: '2024-01-02T03:04:06Z' } },
    });
  });

  it('takes pod IPs from the ready sandbox, node family first', () => {
    assert.equal(s.podIP, '10.1.0.7');
    assert.deepEqual(s.podIPs, [{ ip: '10.1.0.7' }, { ip: 'fd00::7' }]);
    assert.deepEqual(sortPodIps(['fd00::7', '10.1.0.7'], 'fd00::1'), ['fd00::7', '10.1.0.7']);
  });

  it('has no pod IP when the newest sandbox is not ready', () => {
    const dead = gen(pod, rs([], [sandbox({ state: 'SANDBOX_NOTREADY' })]));
    assert.equal(dead.podIP, undefined);
    assert.equal(cond(dead, 'PodReadyToStartContainers')?.status, 'False');
  });

  it('a hostNetwork pod has the host IP', () => {
    const hn = mkPod({ hostNetwork: true });
    const st = gen(hn, rs([ctr(hn, 'web', 'CONTAINER_RUNNING')], [sandbox({ ip: '' })]));
    assert.equal(st.podIP, '192.168.0.2');
  });

  it('the container ID carries the runtime name', () => {
    const st = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_RUNNING')]), { runtimeName: 'cri-o' });
    assert.equal(st.containerStatuses?.find((c) => c.name === 'web')?.containerID, 'cri-o://web-id');
  });
});

describe('generateApiPodStatus: exits', () => {
  it('exit 0 under Never: Succeeded, reason Completed, not ready (PodCompleted)', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 0 })]));
    assert.equal(s.phase, 'Succeeded');
    assert.deepEqual(s.containerStatuses?.[0]?.state, {
      terminated: {
        exitCode: 0,
        reason: 'Completed',
        startedAt: '2024-01-02T03:04:06Z',
        finishedAt: '2024-01-02T03:04:14Z',
        containerID: 'containerd://web-id',
      },
    });
    assert.equal(s.containerStatuses?.[0]?.ready, false);
    assert.equal(s.containerStatuses?.[0]?.started, false);
    assert.deepEqual(cond(s, 'Ready'), {
      type: 'Ready',
      status: 'False',
      reason: 'PodCompleted',
      lastTransitionTime: toRfc3339(T0 + 60 * S),
    });
  });

  it('non-zero exit under Never: Failed, reason Error, message kept; OOMKilled from the runtime', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 2, message: 'bad config' })]));
    assert.equal(s.phase, 'Failed');
    assert.equal(s.containerStatuses?.[0]?.state?.terminated?.reason, 'Error');
    assert.equal(s.containerStatuses?.[0]?.state?.terminated?.message, 'bad config');
    assert.equal(cond(s, 'ContainersReady')?.reason, 'PodFailed');
    const oom = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 137, reason: 'OOMKilled' })]));
    assert.equal(oom.containerStatuses?.[0]?.state?.terminated?.reason, 'OOMKilled');
  });

  it("the previous instance becomes lastState; the restart count is the runtime's", () => {
    const pod = mkPod();
    const s = gen(
      pod,
      rs([
        ctr(pod, 'web', 'CONTAINER_RUNNING', { id: 'new', restartCount: 1, attempt: 1, createdAt: T0 + 20 * S }),
        ctr(pod, 'web', 'CONTAINER_EXITED', { id: 'old', exitCode: 1 }),
      ]),
    );
    const c = s.containerStatuses?.[0];
    assert.equal(c?.restartCount, 1);
    assert.equal(c?.containerID, 'containerd://new');
    assert.equal(c?.state?.running !== undefined, true);
    assert.equal(c?.lastState?.terminated?.exitCode, 1);
    assert.equal(c?.lastState?.terminated?.containerID, 'containerd://old');
  });

  it('a container in backoff shows CrashLoopBackOff with its exit as lastState', () => {
    const pod = mkPod();
    const waiting: ContainerWaiting[] = [
      {
        name: 'web',
        reason: 'CrashLoopBackOff',
        message: 'back-off 10s restarting failed container=web pod=p_ns(u1)',
        retryAt: T0,
      },
    ];
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1, restartCount: 3 })]), { waiting });
    const c = s.containerStatuses?.[0];
    assert.deepEqual(c?.state, {
      waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=web pod=p_ns(u1)' },
    });
    assert.equal(c?.lastState?.terminated?.exitCode, 1);
    assert.equal(c?.restartCount, 3);
    assert.equal(s.phase, 'Running'); // Always: a restarting container keeps the pod Running
  });

  it('a container that never started has no startedAt', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const s = gen(
      pod,
      rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 128, startedAt: 0, reason: 'StartError' })]),
    );
    assert.deepEqual(s.containerStatuses?.[0]?.state, {
      terminated: {
        exitCode: 128,
        reason: 'StartError',
        finishedAt: '2024-01-02T03:04:14Z',
        containerID: 'containerd://web-id',
      },
    });
  });

  it('a waiting reason is ignored for a container that will not be restarted', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1 })]), {
      waiting: [{ name: 'web', reason: 'CrashLoopBackOff', message: 'x' }],
    });
    assert.equal(s.containerStatuses?.[0]?.state?.terminated?.exitCode, 1);
  });

  it('an image pull failure shows on a container that never ran', () => {
    const pod = mkPod();
    const s = gen(pod, rs([]), { waiting: [{ name: 'web', reason: 'ErrImagePull', message: 'not found' }] });
    assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'ErrImagePull', message: 'not found' } });
    assert.equal(s.phase, 'Pending');
  });
});

describe('generateApiPodStatus: init containers', () => {
  const init: Container[] = [
    { name: 'i1', image: 'busybox' },
    { name: 'i2', image: 'busybox' },
  ];

  it('waits in PodInitializing, Initialized False with the incomplete ones', () => {
    const pod = mkPod({ init });
    const s = gen(pod, rs([ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 0 })]));
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(
      s.initContainerStatuses?.map((c) => c.name),
      ['i1', 'i2'],
    );
    assert.equal(s.initContainerStatuses?.[0]?.ready, true);
    assert.deepEqual(s.initContainerStatuses?.[1]?.state, { waiting: { reason: 'PodInitializing' } });
    assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'PodInitializing' } });
    const c = cond(s, 'Initialized');
    assert.equal(c?.status, 'False');
    assert.equal(c?.reason, 'ContainersNotInitialized');
    assert.equal(c?.message, 'containers with incomplete status: [i2]');
  });

  it('Initialized once every init container completed', () => {
    const pod = mkPod({ init });
    const s = gen(
      pod,
      rs([
        ctr(pod, 'web', 'CONTAINER_RUNNING'),
        ctr(pod, 'i2', 'CONTAINER_EXITED'),
        ctr(pod, 'i1', 'CONTAINER_EXITED'),
      ]),
    );
    assert.equal(s.phase, 'Running');
    assert.equal(cond(s, 'Initialized')?.status, 'True');
  });

  it('an init container the runtime no longer has, once a regular container was created, reads as completed (upstream)', () => {
    const pod = mkPod({ init });
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_RUNNING'), ctr(pod, 'i2', 'CONTAINER_EXITED')]));
    assert.deepEqual(s.initContainerStatuses?.[0]?.state, {
      terminated: {
        reason: 'Completed',
        message:
          'Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally',
        exitCode: 0,
      },
    });
    assert.equal(s.initContainerStatuses?.[0]?.ready, true);
    assert.equal(s.phase, 'Running');
    assert.equal(cond(s, 'Initialized')?.status, 'True');
    // not a sidecar (restartPolicy Always): the kubelet starts it again
    const sidecar = mkPod({ init: [{ name: 'i1', image: 'busybox', restartPolicy: 'Always' }] });
    assert.deepEqual(gen(sidecar, rs([ctr(sidecar, 'web', 'CONTAINER_CREATED')])).initContainerStatuses?.[0]?.state, {
      waiting: { reason: 'PodInitializing' },
    });
    // nor before any regular container exists
    assert.deepEqual(gen(pod, rs([])).initContainerStatuses?.[0]?.state, { waiting: { reason: 'PodInitializing' } });
  });

  it('a failed init container under Never fails the pod', () => {
    const pod = mkPod({ init, restartPolicy: 'Never' });
    const s = gen(pod, rs([ctr(pod, 'i1', 'CONTAINER_EXITED', { exitCode: 1 })]));
    assert.equal(s.phase, 'Failed');
  });
});

describe('generateApiPodStatus: sidecars (init containers with restartPolicy Always)', () => {
  const init: Container[] = [
    { name: 'log', image: 'busybox', restartPolicy: 'Always' },
    { name: 'setup', image: 'busybox' },
  ];

  it('a running sidecar is started and ready; Initialized waits for the init container after it', () => {
    const pod = mkPod({ init });
    const s = gen(pod, rs([ctr(pod, 'log', 'CONTAINER_RUNNING')]));
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(
      s.initContainerStatuses?.map((c) => [c.name, c.started, c.ready, Object.keys(c.state ?? {})[0]]),
      [
        ['log', true, true, 'running'],
        ['setup', false, false, 'waiting'],
      ],
    );
    assert.deepEqual(cond(s, 'Initialized'), {
      type: 'Initialized',
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [setup]',
      lastTransitionTime: toRfc3339(T0 + 60 * S),
    });
  });

  it('Initialized once the others completed and the sidecar started; ContainersReady and Ready need the sidecar ready', () => {
    const pod = mkPod({ init });
    const both = rs([
      ctr(pod, 'web', 'CONTAINER_RUNNING'),
      ctr(pod, 'setup', 'CONTAINER_EXITED'),
      ctr(pod, 'log', 'CONTAINER_RUNNING', { restartCount: 2 }),
    ]);
    const s = gen(pod, both);
    assert.equal(s.phase, 'Running');
    for (const type of ['Initialized', 'ContainersReady', 'Ready']) assert.equal(cond(s, type)?.status, 'True', type);
    assert.equal(s.initContainerStatuses?.[0]?.restartCount, 2, "the sidecar's restarts are counted");
    // the sidecar exited (about to restart): the pod stays Running and Initialized, but is not ready
    const exited = gen(
      pod,
      rs([
        ctr(pod, 'web', 'CONTAINER_RUNNING'),
        ctr(pod, 'setup', 'CONTAINER_EXITED'),
        ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 1 }),
      ]),
    );
    assert.equal(exited.phase, 'Running');
    assert.equal(cond(exited, 'Initialized')?.status, 'True');
    assert.deepEqual(
      [cond(exited, 'ContainersReady')?.status, cond(exited, 'ContainersReady')?.message],
      ['False', 'containers with unready status: [log]'],
    );
    assert.equal(cond(exited, 'Ready')?.status, 'False');
  });

  it("a sidecar held in CrashLoopBackOff shows it, whatever the pod's restartPolicy", () => {
    const pod = mkPod({ init, restartPolicy: 'Never' });
    const st = rs([
      ctr(pod, 'web', 'CONTAINER_RUNNING'),
      ctr(pod, 'setup', 'CONTAINER_EXITED'),
      ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 1 }),
    ]);
    const s = gen(pod, st, { waiting: [{ name: 'log', reason: 'CrashLoopBackOff', message: 'back-off 10s' }] });
    assert.deepEqual(s.initContainerStatuses?.[0]?.state, {
      waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s' },
    });
    assert.equal(s.initContainerStatuses?.[0]?.lastState?.terminated?.exitCode, 1);
    assert.equal(s.phase, 'Running');
  });

  it('restartPolicy Never: the finished regular container alone decides the phase once the sidecar is stopped', () => {
    const pod = mkPod({ init, restartPolicy: 'Never' });
    const main = (exitCode: number) => ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode });
    assert.equal(
      gen(pod, rs([main(0), ctr(pod, 'setup', 'CONTAINER_EXITED'), ctr(pod, 'log', 'CONTAINER_RUNNING')])).phase,
      'Running',
      'the sidecar still runs',
    );
    const stopped = (exitCode: number) =>
      rs([
        main(exitCode),
        ctr(pod, 'setup', 'CONTAINER_EXITED'),
        ctr(pod, 'log', 'CONTAINER_EXITED', { exitCode: 143 }),
      ]);
    const ok = gen(pod, stopped(0), { podIsTerminal: true });
    assert.equal(ok.phase, 'Succeeded', "the sidecar's exit 143 does not fail the pod");
    assert.equal(cond(ok, 'ContainersReady')?.reason, 'PodCompleted');
    assert.equal(gen(pod, stopped(3), { podIsTerminal: true }).phase, 'Failed');
  });
});

describe('generateApiPodStatus: phase memory', () => {
  it('a terminal phase never reverts (status manager or API server)', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const running = rs([ctr(pod, 'web', 'CONTAINER_RUNNING')]);
    assert.equal(gen(pod, running, { previous: { phase: 'Succeeded' } }).phase, 'Succeeded');
    assert.equal(gen(mkPod({ status: { phase: 'Failed' } }), running).phase, 'Failed');
    // The API server's terminal phase wins even over a different computed terminal phase.
    const apiFailed = mkPod({ restartPolicy: 'Never', status: { phase: 'Failed' } });
    assert.equal(gen(apiFailed, rs([ctr(apiFailed, 'web', 'CONTAINER_EXITED', { exitCode: 0 })])).phase, 'Failed');
  });

  it('a terminal pod keeps the IP it had once its sandbox is gone', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED')], [sandbox({ state: 'SANDBOX_NOTREADY' })]), {
      previous: { phase: 'Running', podIP: '10.1.0.7', podIPs: [{ ip: '10.1.0.7' }] },
    });
    assert.equal(s.phase, 'Succeeded');
    assert.equal(s.podIP, '10.1.0.7');
  });

  it('the reason and message stay while the phase holds', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_EXITED', { exitCode: 1 })]), {
      previous: { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' },
    });
    assert.equal(s.reason, 'Evicted');
    assert.equal(s.message, 'The node was low on resource: memory.');
  });

  it('startTime is kept from the previous status', () => {
    const pod = mkPod();
    assert.equal(
      gen(pod, rs([]), { previous: { startTime: '2023-05-05T00:00:00Z' } }).startTime,
      '2023-05-05T00:00:00Z',
    );
  });

  it('a running container that is gone reads as terminated, not as never run', () => {
    const pod = mkPod({ restartPolicy: 'Never' });
    const previous: PodStatus = {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'web',
          image: 'nginx:1.25',
          imageID: '',
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: 'x' } },
        },
      ],
    };
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_UNKNOWN')]), { previous });
    assert.equal(s.containerStatuses?.[0]?.state?.terminated?.reason, 'ContainerStatusUnknown');
    assert.equal(s.containerStatuses?.[0]?.state?.terminated?.exitCode, 137);
  });

  const wasRunning = (restartCount: number, lastState?: PodStatus['phase']): PodStatus => ({
    phase: 'Running',
    containerStatuses: [
      {
        name: 'web',
        image: 'nginx:1.25',
        imageID: 'sha256:img',
        containerID: 'containerd://web-id',
        ready: true,
        started: true,
        restartCount,
        state: { running: { startedAt: '2024-01-02T03:04:06Z' } },
        ...(lastState ? { lastState: { terminated: { exitCode: 1, reason: 'Error' } } } : {}),
      },
    ],
  });
  const GONE = {
    reason: 'ContainerStatusUnknown',
    message: 'The container could not be located when the pod was deleted.  The container used to be Running',
    exitCode: 137,
  };

  it('a running container the runtime no longer lists at all stays stopped, not Pending (upstream: waiting, lastState 137, one more restart)', () => {
    const pod = mkPod();
    const s = gen(pod, rs([]), { previous: wasRunning(2) });
    const c = s.containerStatuses?.[0];
    assert.deepEqual(c?.state, { waiting: { reason: 'ContainerCreating' } });
    assert.deepEqual(c?.lastState, { terminated: GONE });
    assert.equal(c?.restartCount, 3);
    assert.equal(s.phase, 'Running');
    // a pod being deleted does not count a restart
    const deleting = { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2024-01-02T03:05:00Z' } };
    assert.equal(gen(deleting, rs([]), { previous: wasRunning(2) }).containerStatuses?.[0]?.restartCount, 2);
    // PodInitializing is the default waiting reason of a pod with init containers
    const withInit = mkPod({ init: [{ name: 'i1', image: 'busybox' }] });
    const si = gen(withInit, rs([ctr(withInit, 'i1', 'CONTAINER_EXITED')]), { previous: wasRunning(0) });
    assert.deepEqual(si.containerStatuses?.[0]?.lastState, { terminated: GONE });
  });

  it("a sync's waiting reason still shows on it; an older termination is kept as it is (upstream)", () => {
    const pod = mkPod();
    const backoff = gen(pod, rs([]), {
      previous: wasRunning(0),
      waiting: [{ name: 'web', reason: 'ErrImagePull', message: 'gone' }],
    });
    assert.deepEqual(backoff.containerStatuses?.[0]?.state, { waiting: { reason: 'ErrImagePull', message: 'gone' } });
    assert.deepEqual(backoff.containerStatuses?.[0]?.lastState, { terminated: GONE });
    const before = gen(pod, rs([]), { previous: wasRunning(1, 'Running') });
    assert.deepEqual(before.containerStatuses?.[0]?.lastState, { terminated: { exitCode: 1, reason: 'Error' } });
    assert.equal(before.containerStatuses?.[0]?.restartCount, 1);
  });

  it('a container only created again (its running instance gone) is waiting like any created one (upstream)', () => {
    const pod = mkPod();
    const s = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_CREATED', { id: 'web-2', restartCount: 1 })]), {
      previous: wasRunning(0),
    });
    assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: {} });
    assert.equal(s.containerStatuses?.[0]?.lastState, undefined);
  });
});

describe('generateApiPodStatus: conditions over time', () => {
  const pod = mkPod();
  const first = gen(pod, rs([]), { now: T0 });

  it("lastTransitionTime is kept while a condition's status holds", () => {
    const again = gen(pod, rs([]), { now: T0 + 30 * S, previous: first });
    assert.equal(cond(again, 'Ready')?.lastTransitionTime, toRfc3339(T0));
    assert.equal(cond(again, 'PodScheduled')?.lastTransitionTime, toRfc3339(T0));
  });

  it('and moves when the status changes', () => {
    const up = gen(pod, rs([ctr(pod, 'web', 'CONTAINER_RUNNING')]), { now: T0 + 30 * S, previous: first });
    assert.equal(cond(up, 'Ready')?.status, 'True');
    assert.equal(cond(up, 'Ready')?.lastTransitionTime, toRfc3339(T0 + 30 * S));
    assert.equal(cond(up, 'PodScheduled')?.lastTransitionTime, toRfc3339(T0));
  });

  it('conditions owned by others are preserved; readiness gates hold Ready back', () => {
    const gated = mkPod({
      readinessGates: [{ conditionType: 'example.com/lb' }],
      status: { conditions: [{ type: 'example.com/lb', status: 'False', lastTransitionTime: '2024-01-01T00:00:00Z' }] },
    });
    const s = gen(gated, rs([ctr(gated, 'web', 'CONTAINER_RUNNING')]));
    assert.deepEqual(s.conditions?.[0], {
      type: 'example.com/lb',
      status: 'False',
      lastTransitionTime: '2024-01-01T00:00:00Z',
    });
    assert.equal(cond(s, 'ContainersReady')?.status, 'True');
    assert.deepEqual(
      { ...cond(s, 'Ready'), lastTransitionTime: undefined },
      {
        type: 'Ready',
        status: 'False',
        reason: 'ReadinessGatesNotReady',
        message: 'the status of pod readiness gate "example.com/lb" is not "True", but False',
        lastTransitionTime: undefined,
      },
    );
  });
});

describe('QoS class', () => {
  const qos = (containers: Container[], init?: Container[]) =>
    computePodQos(mkPod(init ? { containers, init } : { containers }));
  const c = (resources: Container['resources']): Container => ({ name: 'c', image: 'i', resources });

  it('BestEffort without requests or limits (zero counts as none)', () => {
    assert.equal(qos([c(undefined)]), 'BestEffort');
    assert.equal(qos([c({ requests: { cpu: '0' } })]), 'BestEffort');
  });

  it('Guaranteed when every container limits cpu and memory and requests equal limits', () => {
    assert.equal(
      qos([c({ requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })]),
      'Guaranteed',
    );
    assert.equal(qos([c({ limits: { cpu: '500m', memory: '256Mi' } })]), 'Guaranteed'); // requests default to limits
    assert.equal(
      qos([c({ requests: { cpu: '1000m', memory: '1024Mi' }, limits: { cpu: 1, memory: '1Gi' } })]),
      'Guaranteed',
    );
  });

  it('Burstable otherwise', () => {
    assert.equal(qos([c({ requests: { cpu: '100m' } })]), 'Burstable');
    assert.equal(
      qos([c({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } })]),
      'Burstable',
    );
    assert.equal(qos([c({ limits: { cpu: '1' } })]), 'Burstable');
    assert.equal(qos([c({ limits: { cpu: '1', memory: '1Gi' } }), c(undefined)]), 'Burstable');
    assert.equal(qos([c({ limits: { cpu: '1', memory: '1Gi' } })], [c({ requests: { memory: '1Mi' } })]), 'Burstable');
  });

  it('a recorded class is kept', () => {
    assert.equal(getPodQos(mkPod({ status: { qosClass: 'Burstable' } })), 'Burstable');
  });
});

describe('generateApiPodStatus: probes (upstream prober manager UpdatePodStatus)', () => {
  const probe = { tcpSocket: { port: 80 } };
  const results = (
    m: Record<
      string,
      { liveness?: 'success' | 'failure'; readiness?: 'success' | 'failure'; startup?: 'success' | 'failure' }
    >,
    startedAt = T0,
  ) => ({ startedAt, byContainer: new Map(Object.entries(m)) });

  it('a readiness probe: not ready before its first result, ready on success, not ready on failure; the conditions follow', () => {
    const pod = mkPod({ containers: [{ name: 'web', image: 'nginx', readinessProbe: probe }] });
    const st = rs([ctr(pod, 'web', 'CONTAINER_RUNNING')]);
    for (const [probes, ready] of [
      [undefined, false],
      [results({}), false],
      [results({ 'web-id': { readiness: 'failure' } }), false],
      [results({ 'web-id': { readiness: 'success' } }), true],
    ] as const) {
      const s = gen(pod, st, { probes });
      assert.equal(s.containerStatuses![0]!.ready, ready);
      assert.equal(s.containerStatuses![0]!.started, true);
      assert.equal(cond(s, 'ContainersReady')?.status, ready ? 'True' : 'False');
      assert.equal(cond(s, 'Ready')?.status, ready ? 'True' : 'False');
      if (!ready) assert.equal(cond(s, 'Ready')?.message, 'containers with unready status: [web]');
    }
  });

  it('a startup probe: not started (and so not ready) until it succeeds; a container without probes is ready once running', () => {
    const pod = mkPod({
      containers: [
        { name: 'web', image: 'nginx', startupProbe: probe },
        { name: 'plain', image: 'x' },
      ],
    });
    const st = rs([ctr(pod, 'web', 'CONTAINER_RUNNING'), ctr(pod, 'plain', 'CONTAINER_RUNNING')]);
    const before = gen(pod, st, { probes: results({}) });
    const web = (s: PodStatus) => s.containerStatuses!.find((c) => c.name === 'web')!;
    assert.deepEqual([web(before).started, web(before).ready], [false, false]);
    assert.deepEqual(
      [
        before.containerStatuses!.find((c) => c.name === 'plain')!.started,
        before.containerStatuses!.find((c) => c.name === 'plain')!.ready,
      ],
      [true, true],
    );
    const failed = gen(pod, st, { probes: results({ 'web-id': { startup: 'failure' } }) });
    assert.equal(web(failed).started, false);
    const ok = gen(pod, st, { probes: results({ 'web-id': { startup: 'success' } }) });
    assert.deepEqual([web(ok).started, web(ok).ready], [true, true]);
  });

  it('after a kubelet restart (1.35): a container running before the prober started keeps started and ready; with a readiness probe only if the pod was Ready', () => {
    const pod = (ready: boolean, c: Container) =>
      mkPod({
        containers: [c],
        status: {
          conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
          containerStatuses: [
            {
              name: 'web',
              containerID: 'containerd://web-id',
              ready,
              started: true,
              restartCount: 0,
              image: 'nginx',
              imageID: '',
              state: { running: {} },
            },
          ],
        },
      });
    const spec: Container = { name: 'web', image: 'nginx', readinessProbe: probe, startupProbe: probe };
    const later = results({}, T0 + 60 * S); // the prober started a minute after the container
    const st = rs([ctr(pod(true, spec), 'web', 'CONTAINER_RUNNING')]);
    const kept = gen(pod(true, spec), st, { probes: later });
    assert.deepEqual([kept.containerStatuses![0]!.started, kept.containerStatuses![0]!.ready], [true, true]);
    assert.equal(cond(kept, 'Ready')?.status, 'True');
    const wasNotReady = gen(pod(false, spec), st, { probes: later });
    assert.equal(wasNotReady.containerStatuses![0]!.ready, false);
    // a container started after the prober (less 10 s) is new: the usual rules
    const fresh = gen(pod(true, spec), st, { probes: results({}, T0 + 5 * S) });
    assert.equal(fresh.containerStatuses![0]!.ready, false);
  });
});
