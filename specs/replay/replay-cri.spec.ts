// The recording-driven runtime (replay/replay-cri.ts) on small hand-made recordings and a virtual
// clock: what a matched or unmatched decision is answered, reads from its own state, and the
// environment (exits, sandboxes and containers changed from outside, a restart's runtime, images,
// runtime health) as the recording shows it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../kernel/clock.ts';
import { analyseRecording } from '../../replay/replay.ts';
import { ReplayCri } from '../../replay/replay-cri.ts';
import { CriError } from '../../protocols/cri/errors.ts';
import type { ContainerConfig, PodSandboxConfig } from '../../protocols/cri/types.ts';
import { containerConfig, podStart, recording, sandboxConfig, T0, type HandCall } from './hand-made.ts';

const ns = (msAfterT0: number) => (T0 + msAfterT0) * 1_000_000;
const sandbox = (uid: string) => sandboxConfig(uid) as unknown as PodSandboxConfig;
const container = (uid: string) => containerConfig(uid) as unknown as ContainerConfig;

/** The runtime for `calls` (one session), on a clock at T0. */
function runtime(calls: HandCall[], header: Record<string, unknown> = {}) {
  const clock = new VirtualClock(T0);
  const cri = new ReplayCri(analyseRecording(recording({ header, calls })), clock);
  cri.beginSession(0);
  const at = (msAfterT0: number) => clock.advanceAsync(T0 + msAfterT0 - clock.now());
  /** A decision answered at once (recorded latency 0: its answer still comes from a timer). */
  const now = async <T>(p: Promise<T>): Promise<T> => {
    await clock.advanceAsync(0);
    return p;
  };
  return { clock, cri, at, now };
}

/** Runs pod `uid`'s recorded start (podStart) at the recorded times; resolves with its ids. */
async function startPod(
  cri: ReplayCri,
  at: (ms: number) => Promise<void>,
  uid: string,
  t: number,
): Promise<{ sandboxId: string; containerId: string }> {
  await at(t);
  const sandboxId = cri.runPodSandbox(sandbox(uid));
  await at(t + 10);
  const containerId = cri.createContainer(await sandboxId, container(uid), sandbox(uid));
  await at(t + 20);
  const started = cri.startContainer(await containerId);
  await at(t + 25);
  await started;
  return { sandboxId: await sandboxId, containerId: await containerId };
}

describe('ReplayCri: decisions', () => {
  it('a matched decision gets the recorded answer after the recorded latency; an unmatched one runtime semantics at once, with a fresh id', async () => {
    const { cri, at } = runtime([
      { at: 100, m: 'runPodSandbox', args: [sandboxConfig('a')], res: 'sandbox-recorded', latency: 250 },
    ]);
    await at(100);
    let id: string | undefined;
    void cri.runPodSandbox(sandbox('a')).then((x) => {
      id = x;
    });
    await at(349);
    assert.equal(id, undefined, 'not before the recorded latency');
    await at(350);
    assert.equal(id, 'sandbox-recorded');
    assert.deepEqual(
      (await cri.listPodSandbox()).map((s) => [s.id, s.state]),
      [['sandbox-recorded', 'SANDBOX_READY']],
    );

    const fresh = await cri.runPodSandbox(sandbox('b'));
    assert.match(fresh, /^replay-sandbox-\d+$/);
    assert.equal(cri.matcher.matched, 1);
    assert.equal(cri.matcher.finish().first!.actual!.pod, 'b', 'the unrecorded one is a divergence');
  });

  it('a recorded error is answered as that error; a call the recording never saw answered stays unanswered', async () => {
    const { cri, at } = runtime([
      {
        at: 100,
        m: 'runPodSandbox',
        args: [sandboxConfig('a')],
        err: { kind: 'Unavailable', message: 'CRI runPodSandbox: Unavailable: connection refused' },
        latency: 20,
      },
      { at: 200, m: 'runPodSandbox', args: [sandboxConfig('b')], unanswered: true },
    ]);
    await at(100);
    const failed = assert.rejects(
      cri.runPodSandbox(sandbox('a')),
      (e: unknown) =>
        e instanceof CriError &&
        e.kind === 'Unavailable' &&
        e.message === 'CRI runPodSandbox: Unavailable: connection refused',
    );
    await at(120);
    await failed;
    await at(200);
    let settled = false;
    void cri.runPodSandbox(sandbox('b')).finally(() => {
      settled = true;
    });
    await at(100_000);
    assert.equal(settled, false);
    assert.deepEqual(await cri.listPodSandbox(), [], 'neither sandbox exists');
  });

  it("reads answer from the runtime's own state; stopping and removing change it as a runtime would", async () => {
    const { cri, at, now } = runtime([
      ...podStart('a', 100),
      {
        at: 130,
        m: 'podSandboxStatus',
        args: ['sandbox-a'],
        res: {
          id: 'sandbox-a',
          metadata: sandboxConfig('a').metadata,
          state: 'SANDBOX_READY',
          network: { ip: '10.88.0.7' },
        },
      },
      { at: 300, m: 'stopContainer', args: ['ctr-a', 30] },
      { at: 400, m: 'stopPodSandbox', args: ['sandbox-a'] },
      { at: 500, m: 'removePodSandbox', args: ['sandbox-a'] },
    ]);
    const { sandboxId, containerId } = await startPod(cri, at, 'a', 100);
    assert.equal((await cri.podSandboxStatus(sandboxId)).network?.ip, '10.88.0.7', 'the recorded pod IP');
    const running = await cri.containerStatus(containerId);
    assert.equal(running.state, 'CONTAINER_RUNNING');
    assert.equal(running.startedAt, ns(125), 'when StartContainer was answered');
    assert.deepEqual(
      (await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': 'a' } })).map((c) => c.id),
      ['ctr-a'],
    );
    assert.deepEqual(await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': 'b' } }), []);

    await at(300);
    await now(cri.stopContainer(containerId, 30));
    const stopped = await cri.containerStatus(containerId);
    assert.deepEqual(
      [stopped.state, stopped.exitCode, stopped.finishedAt],
      ['CONTAINER_EXITED', 143, ns(300)],
      'SIGTERM',
    );
    await at(400);
    await now(cri.stopPodSandbox(sandboxId));
    const notReady = await cri.podSandboxStatus(sandboxId);
    assert.deepEqual([notReady.state, notReady.network?.ip], ['SANDBOX_NOTREADY', '']);
    await at(500);
    await now(cri.removePodSandbox(sandboxId));
    assert.deepEqual([await cri.listPodSandbox(), await cri.listContainers()], [[], []]);
    await assert.rejects(
      cri.containerStatus(containerId),
      (e: unknown) => e instanceof CriError && e.kind === 'NotFound',
    );
    assert.equal(cri.matcher.matched, 6);
  });
});

describe('ReplayCri: the environment, as recorded', () => {
  it('a container that exited by itself exits after as long as it ran, with the recorded exit, never while a recorded read saw it running', async () => {
    const exited = {
      id: 'ctr-a',
      metadata: { name: 'app', attempt: 0 },
      state: 'CONTAINER_EXITED',
      startedAt: ns(125),
      finishedAt: ns(425),
      exitCode: 3,
      reason: 'Error',
      message: 'boom',
      labels: { 'io.kubernetes.pod.uid': 'a' },
    };
    const { cri, at } = runtime([
      ...podStart('a', 100),
      // the recorded kubelet saw it running at 1000 (a slow relist), exited at 2000
      {
        at: 1000,
        m: 'listContainers',
        args: [],
        res: [{ id: 'ctr-a', podSandboxId: 'sandbox-a', state: 'CONTAINER_RUNNING' }],
      },
      {
        at: 2000,
        m: 'listContainers',
        args: [],
        res: [{ id: 'ctr-a', podSandboxId: 'sandbox-a', state: 'CONTAINER_EXITED' }],
      },
      { at: 2010, m: 'containerStatus', args: ['ctr-a'], res: exited },
    ]);
    const { containerId } = await startPod(cri, at, 'a', 100);
    await at(1000);
    assert.equal(
      (await cri.containerStatus(containerId)).state,
      'CONTAINER_RUNNING',
      'ran 300 ms, but a read at 1000 saw it running',
    );
    await at(1001);
    const st = await cri.containerStatus(containerId);
    assert.deepEqual(
      [st.state, st.exitCode, st.reason, st.message, st.finishedAt],
      ['CONTAINER_EXITED', 3, 'Error', 'boom', ns(1001)],
    );
  });

  it("a sandbox gone NOTREADY and a container removed behind the kubelet's back: just after the last read that saw them as before", async () => {
    const listed = (state: string) => [
      { id: 'sandbox-a', metadata: sandboxConfig('a').metadata, state, labels: sandboxConfig('a').labels },
    ];
    const { cri, at } = runtime([
      ...podStart('a', 100),
      ...podStart('b', 200),
      {
        at: 1000,
        m: 'listPodSandbox',
        args: [],
        res: [...listed('SANDBOX_READY'), { id: 'sandbox-b', state: 'SANDBOX_READY' }],
      },
      {
        at: 1005,
        m: 'listContainers',
        args: [],
        res: [
          { id: 'ctr-a', state: 'CONTAINER_RUNNING' },
          { id: 'ctr-b', state: 'CONTAINER_RUNNING' },
        ],
      },
      {
        at: 2000,
        m: 'listPodSandbox',
        args: [],
        res: [...listed('SANDBOX_NOTREADY'), { id: 'sandbox-b', state: 'SANDBOX_READY' }],
      },
      { at: 2005, m: 'listContainers', args: [], res: [{ id: 'ctr-a', state: 'CONTAINER_RUNNING' }] },
      // what the kubelet does itself is no outside change
      { at: 3000, m: 'stopPodSandbox', args: ['sandbox-b'] },
      {
        at: 4000,
        m: 'listPodSandbox',
        args: [],
        res: [...listed('SANDBOX_NOTREADY'), { id: 'sandbox-b', state: 'SANDBOX_NOTREADY' }],
      },
    ]);
    await startPod(cri, at, 'a', 100);
    await startPod(cri, at, 'b', 200);
    await at(1000);
    assert.deepEqual(
      (await cri.listPodSandbox()).map((s) => s.state),
      ['SANDBOX_READY', 'SANDBOX_READY'],
    );
    await at(1001);
    assert.deepEqual(
      (await cri.listPodSandbox()).map((s) => [s.id, s.state]),
      [
        ['sandbox-a', 'SANDBOX_NOTREADY'],
        ['sandbox-b', 'SANDBOX_READY'],
      ],
    );
    await at(1005);
    assert.equal((await cri.listContainers()).length, 2);
    await at(1006);
    assert.deepEqual(
      (await cri.listContainers()).map((c) => c.id),
      ['ctr-a'],
      'ctr-b is gone just after the last listing that showed it',
    );
    await at(5000);
    assert.equal(
      (await cri.podSandboxStatus('sandbox-b')).state,
      'SANDBOX_READY',
      "only the kubelet's StopPodSandbox would stop it",
    );
  });

  it('a restarted kubelet finds what the runtime held: the first full listing of its session', async () => {
    const clock = new VirtualClock(T0);
    const a = analyseRecording(
      recording(
        { calls: [...podStart('a', 100)] },
        {
          at: 5000,
          calls: [
            {
              at: 5010,
              m: 'listPodSandbox',
              args: [],
              res: [
                {
                  id: 'sandbox-a',
                  metadata: sandboxConfig('a').metadata,
                  state: 'SANDBOX_READY',
                  labels: sandboxConfig('a').labels,
                  createdAt: ns(100),
                },
                {
                  id: 'sandbox-old',
                  metadata: sandboxConfig('old').metadata,
                  state: 'SANDBOX_NOTREADY',
                  labels: sandboxConfig('old').labels,
                  createdAt: 1,
                },
              ],
            },
            {
              at: 5010,
              m: 'listContainers',
              args: [],
              res: [
                {
                  id: 'ctr-a',
                  podSandboxId: 'sandbox-a',
                  metadata: { name: 'app', attempt: 0 },
                  image: { image: 'sha256:img' },
                  state: 'CONTAINER_RUNNING',
                  labels: containerConfig('a').labels,
                  createdAt: ns(110),
                },
              ],
            },
          ],
        },
      ),
    );
    const cri = new ReplayCri(a, clock);
    cri.beginSession(0);
    // the first session never ran pod a here: the second finds it, and what no one here made
    await clock.advanceAsync(5000);
    cri.beginSession(1);
    assert.deepEqual(
      (await cri.listPodSandbox()).map((s) => [s.id, s.state]),
      [
        ['sandbox-a', 'SANDBOX_READY'],
        ['sandbox-old', 'SANDBOX_NOTREADY'],
      ],
    );
    assert.deepEqual(
      (await cri.listContainers()).map((c) => [c.id, c.state]),
      [['ctr-a', 'CONTAINER_RUNNING']],
    );
  });

  it('images present from the start, pulled ones with their recorded ids, found by the reference asked; runtime health as last recorded', async () => {
    const image = (id: string, tag: string) => ({
      id,
      repoTags: [tag],
      repoDigests: [],
      size: 10,
      uid: null,
      username: '',
      spec: null,
      pinned: false,
    });
    const { cri, at } = runtime([
      { at: 10, m: 'listImages', args: [], res: [image('sha256:pause', 'registry.k8s.io/pause:3.10')] },
      {
        at: 20,
        m: 'status',
        args: [],
        res: { status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }] }, info: {} },
      },
      {
        at: 100,
        m: 'pullImage',
        args: [{ image: 'busybox:1.36' }, null, sandboxConfig('a')],
        res: 'sha256:busybox',
        latency: 50,
      },
      {
        at: 160,
        m: 'imageStatus',
        args: [{ image: 'busybox:1.36' }],
        res: image('sha256:busybox', 'docker.io/library/busybox:1.36'),
      },
      {
        at: 900,
        m: 'status',
        args: [],
        res: {
          status: { conditions: [{ type: 'RuntimeReady', status: false, reason: 'Down', message: '' }] },
          info: {},
        },
      },
    ]);
    assert.deepEqual(
      (await cri.listImages()).map((i) => i.id),
      ['sha256:pause'],
      'busybox is pulled later',
    );
    assert.equal(await cri.imageStatus({ image: 'busybox:1.36' }), null);
    await at(100);
    const pulled = cri.pullImage({ image: 'busybox:1.36' }, undefined, sandbox('a'));
    await at(150);
    assert.equal(await pulled, 'sha256:busybox');
    assert.equal((await cri.imageStatus({ image: 'busybox:1.36' }))!.id, 'sha256:busybox');
    assert.deepEqual((await cri.imageStatus({ image: 'sha256:busybox' }))!.repoTags, [
      'docker.io/library/busybox:1.36',
    ]);
    assert.equal((await cri.status()).status!.conditions[0]!.status, true);
    await at(900);
    assert.equal(
      (await cri.status()).status!.conditions[0]!.reason,
      'Down',
      'the latest recorded answer at or before now',
    );
  });
});
