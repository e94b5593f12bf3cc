/**
 * statusManager, the API half, on the VirtualClock with a fake PodStatusApi that applies the
 * strategic merge patch as the API server stand-in does (containerStatuses atomic, conditions by
 * type): the patch with the uid and whole lists, coalescing (one request in flight, latest
 * wins), no write when unchanged, backoff after failures and catching up within 5s of recovery,
 * 409 re-read, 404 and a replaced pod stop the writes, static pods written to their mirror,
 * terminal phases kept, rejected pods Failed, the final delete (grace 0, uid) only after the
 * worker terminated and the terminal status was accepted. Then the same against the stand-in
 * with the real client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startActor, collect, type StartedActor } from '../../kernel/testing.ts';
import '../../protocols/messages/channels.ts';
import { ApiError, type PodStatusApi } from '../../protocols/kube/api.ts';
import type { ContainerStatus, Pod, PodStatus } from '../../protocols/kube/pod.ts';
import type { DesiredPod, PodWorkerSummary, SyncResult } from '../../protocols/messages/channels.ts';
import { statusManager, type StatusDeps } from '../../actors/status/index.ts';
import {
  apiShows,
  finalStatus,
  hasPodInitialized,
  retryDelay,
  statusForApi,
  statusPatch,
  terminatedStatus,
} from '../../actors/status/logic.ts';
import { podSchema, strategicMergePatch } from '../support/apiserver/patch.ts';
import type { JsonObject } from '../support/apiserver/index.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';
import { createKubeApi, type KubeClient } from '../../adapters/kube/client.ts';

const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

// ---------------------------------------------------------------------------------------------
// fixtures

const NS = 'default';

function apiPod(name: string, uid: string, status: PodStatus = {}): Pod {
  return {
    metadata: { name, namespace: NS, uid, resourceVersion: '1' },
    spec: { nodeName: 'node-a', restartPolicy: 'Always', containers: [{ name: 'c', image: 'busybox' }] },
    status: {
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'True' }],
      qosClass: 'BestEffort',
      ...status,
    },
  } as unknown as Pod;
}

function container(
  restartCount: number,
  state: ContainerStatus['state'] = { running: { startedAt: '2025-01-01T00:00:01Z' } },
): ContainerStatus {
  return {
    name: 'c',
    image: 'busybox',
    imageID: 'sha256:1',
    containerID: 'containerd://c1',
    ready: state?.running !== undefined,
    started: state?.running !== undefined,
    restartCount,
    state,
  };
}

/** What the runtime would compute for a running pod (restartCount marks the version). */
function running(restartCount = 0, extra: Partial<PodStatus> = {}): PodStatus {
  return {
    phase: 'Running',
    conditions: [
      { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' },
      { type: 'Initialized', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' },
      { type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:01Z' },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: '2025-01-01T00:00:01Z' },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' },
    ],
    hostIP: '192.0.2.1',
    hostIPs: [{ ip: '192.0.2.1' }],
    podIP: '10.88.0.5',
    podIPs: [{ ip: '10.88.0.5' }],
    startTime: '2025-01-01T00:00:00Z',
    initContainerStatuses: [],
    containerStatuses: [container(restartCount)],
    qosClass: 'BestEffort',
    ...extra,
  };
}

/** The status after the containers were stopped (exit 0 after a kill: upstream's Succeeded rule is the runtime's). */
function stopped(): PodStatus {
  return running(0, {
    phase: 'Running',
    containerStatuses: [
      container(0, {
        terminated: {
          exitCode: 137,
          reason: 'Error',
          startedAt: '2025-01-01T00:00:01Z',
          finishedAt: '2025-01-01T00:00:09Z',
          containerID: 'containerd://c1',
        },
      }),
    ],
  });
}

function apiErr(code: number, verb: string, reason: string): ApiError {
  return new ApiError(code, reason, verb, `/api/v1/namespaces/${NS}/pods/x`, reason);
}

interface Call {
  verb: 'get' | 'patch' | 'delete';
  at: number;
  name: string;
  body?: unknown;
}

/** Pods by name; patches applied with the stand-in's strategic merge for Pod. */
class FakePodApi implements PodStatusApi {
  pods = new Map<string, Pod>();
  calls: Call[] = [];
  failures: Partial<Record<Call['verb'], ApiError[]>> = {};
  /** While true, every request fails as a refused connection. */
  down = false;
  /** Patches wait for this gate while it is set. */
  gate: Promise<void> | undefined;
  rv = 10;
  now: () => number = () => 0;

  #fail(verb: Call['verb']): void {
    if (this.down) throw apiErr(0, verb, 'ConnectionError');
    const f = this.failures[verb]?.shift();
    if (f) throw f;
  }
  #notFound(verb: string, name: string): ApiError {
    return new ApiError(404, 'NotFound', verb, `/api/v1/namespaces/${NS}/pods/${name}`, `pods "${name}" not found`);
  }
  add(pod: Pod): Pod {
    const p = structuredClone(pod);
    p.metadata.resourceVersion = String(++this.rv);
    this.pods.set(p.metadata.name, p);
    return structuredClone(p);
  }
  async getPod(_ns: string, name: string): Promise<Pod> {
    this.calls.push({ verb: 'get', at: this.now(), name });
    this.#fail('get');
    const p = this.pods.get(name);
    if (!p) throw this.#notFound('get', name);
    return structuredClone(p);
  }
  async patchPodStatus(_ns: string, name: string, patch: unknown, type: string): Promise<Pod> {
    assert.equal(type, 'strategic');
    this.calls.push({ verb: 'patch', at: this.now(), name, body: structuredClone(patch) });
    if (this.gate) await this.gate;
    this.#fail('patch');
    const p = this.pods.get(name);
    if (!p) throw this.#notFound('patch', name);
    const uid = (patch as { metadata?: { uid?: string } }).metadata?.uid;
    if (uid && uid !== p.metadata.uid)
      throw new ApiError(422, 'Invalid', 'patch', `/pods/${name}/status`, 'metadata.uid: field is immutable');
    const merged = strategicMergePatch(
      p as unknown as JsonObject,
      { status: (patch as { status: unknown }).status },
      podSchema,
    ) as unknown as Pod;
    merged.metadata.resourceVersion = String(++this.rv);
    this.pods.set(name, merged);
    return structuredClone(merged);
  }
  async deletePod(_ns: string, name: string, opts?: { gracePeriodSeconds?: number; uid?: string }): Promise<void> {
    this.calls.push({ verb: 'delete', at: this.now(), name, body: opts });
    this.#fail('delete');
    const p = this.pods.get(name);
    if (!p) throw this.#notFound('delete', name);
    if (opts?.uid && opts.uid !== p.metadata.uid)
      throw new ApiError(409, 'Conflict', 'delete', `/pods/${name}`, 'uid precondition');
    this.pods.delete(name);
  }
  verbs(): string[] {
    return this.calls.map((c) => c.verb);
  }
  patches(): { at: number; status: PodStatus & Record<string, unknown>; uid: string }[] {
    return this.calls
      .filter((c) => c.verb === 'patch')
      .map((c) => {
        const b = c.body as { metadata: { uid: string }; status: PodStatus & Record<string, unknown> };
        return { at: c.at, status: b.status, uid: b.metadata.uid };
      });
  }
}

type Env = StartedActor<StatusDeps> & {
  desired(pods: DesiredPod[]): void;
  workers(states: [string, PodWorkerSummary['state']][]): void;
  mirrors(pods: Pod[]): void;
  synced(uid: string, status: PodStatus): Promise<void>;
  stateChanged(uid: string, state: 'syncing' | 'terminating' | 'terminated' | 'removed'): Promise<void>;
  write(uid: string): {
    version: number;
    lastWritten: number;
    inFlight: string | null;
    retries: number;
    lastError: string | null;
    state: string;
  };
};

async function start(
  api: FakePodApi | undefined,
  desired: DesiredPod[] = [],
  deps: Partial<StatusDeps> = {},
): Promise<Env> {
  const a = await startActor(statusManager, { ...(api ? { api } : {}), random: () => 0, ...deps });
  if (api) api.now = () => a.clock.now();
  const pm = a.bus.port('podManager');
  const pw = a.bus.port('podWorkers');
  const src = a.bus.port('podSourceApi');
  const rt = a.bus.port('runtime');
  let seq = 0;
  const env = Object.assign(a, {
    desired: (pods: DesiredPod[]) => pm.publish('desiredPods', new Map(pods.map((d) => [d.pod.metadata.uid, d]))),
    workers: (states: [string, PodWorkerSummary['state']][]) =>
      pw.publish(
        'podWorkerStates',
        new Map(states.map(([uid, state]) => [uid, { uid, name: '', namespace: NS, state }])),
      ),
    mirrors: (pods: Pod[]) =>
      src.publish('mirrorPods', new Map(pods.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]))),
    synced: async (uid: string, status: PodStatus) => {
      rt.send('runtimeReply', {
        type: 'runtime.podSynced',
        uid,
        seq: ++seq,
        result: { apiStatus: status } as unknown as SyncResult,
      });
      await settle();
    },
    stateChanged: async (uid: string, state: 'syncing' | 'terminating' | 'terminated' | 'removed') => {
      pw.send('podWorker', { type: 'podWorker.stateChanged', uid, state });
      await settle();
    },
    write: (uid: string) => {
      const w = (a.inspect() as { writes: ({ uid: string } & ReturnType<Env['write']>)[] }).writes.find(
        (x) => x.uid === uid,
      );
      assert.ok(w, `no writer state for ${uid}`);
      return w;
    },
  });
  env.desired(desired);
  await settle();
  return env;
}

const fromApi = (pod: Pod): DesiredPod => ({ pod, source: 'api', static: false });

/** The usual start: one API pod default/web (uid-web) on the fake API. */
async function startWeb(): Promise<{ api: FakePodApi; a: Env }> {
  const api = new FakePodApi();
  const a = await start(api, [fromApi(api.add(apiPod('web', 'uid-web')))]);
  return { api, a };
}

// ---------------------------------------------------------------------------------------------

describe('status logic', () => {
  it('the patch carries metadata.uid, the kubelet conditions only, whole lists, IP lists that replace, nulls for what is gone', () => {
    const p = statusPatch('u1', {
      ...running(1),
      conditions: [{ type: 'Ready', status: 'True' }],
      podIP: undefined,
      podIPs: undefined,
      reason: undefined,
    });
    assert.deepEqual(p.metadata, { uid: 'u1' });
    assert.deepEqual(p.status.containerStatuses, [container(1)]);
    assert.deepEqual(p.status.hostIPs, [{ ip: '192.0.2.1' }, { $patch: 'replace' }]);
    assert.equal(p.status.podIP, null);
    assert.equal(p.status.podIPs, null);
    assert.equal(p.status.reason, null);
  });

  it('statusForApi: the API terminal phase wins, a terminal phase waits for the containers, a terminal pod is not Ready', () => {
    const api: PodStatus = { phase: 'Failed', reason: 'Evicted', message: 'out of disk' };
    const kept = statusForApi({ local: running(), api, couldHaveRunningContainers: true, now: 'T' });
    assert.equal(kept.phase, 'Failed');
    assert.equal(kept.reason, 'Evicted');
    const held = statusForApi({
      local: { ...running(), phase: 'Succeeded' },
      api: { phase: 'Running' },
      couldHaveRunningContainers: true,
      now: 'T',
    });
    assert.equal(held.phase, 'Running');
    const done = statusForApi({
      local: {
        ...running(),
        phase: 'Succeeded',
        conditions: [
          ...running().conditions!,
          { type: 'DisruptionTarget', status: 'True' },
          { type: 'Custom', status: 'True' },
        ],
      },
      api: { phase: 'Running' },
      couldHaveRunningContainers: false,
      now: 'T',
    });
    assert.equal(done.phase, 'Succeeded');
    assert.deepEqual(
      done.conditions!.find((c) => c.type === 'Ready'),
      { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: 'T' },
    );
    assert.ok(done.conditions!.some((c) => c.type === 'DisruptionTarget'));
    assert.ok(!done.conditions!.some((c) => c.type === 'Custom'), "others' conditions are not ours to send");
  });

  it("apiShows ignores others' conditions, empty lists and a qosClass we do not have", () => {
    const api = {
      ...running(),
      conditions: [...running().conditions!, { type: 'Custom', status: 'True' }],
      initContainerStatuses: undefined,
    };
    assert.equal(apiShows(api, { ...running(), qosClass: undefined }), true);
    assert.equal(apiShows(api, running(1)), false);
  });

  it('TerminatePod: unknown containers terminated 137, a non-static pod Failed, a static pod keeps its phase', () => {
    const pod = apiPod('p', 'u');
    const s = terminatedStatus(pod, running(), false);
    assert.equal(s.phase, 'Failed');
    assert.deepEqual(s.containerStatuses![0]!.state, {
      terminated: {
        reason: 'ContainerStatusUnknown',
        message: 'The container could not be located when the pod was terminated',
        exitCode: 137,
      },
    });
    assert.equal(terminatedStatus(pod, running(), true).phase, 'Running');
    assert.equal(terminatedStatus(pod, { ...running(), phase: 'Succeeded' }, false).phase, 'Succeeded');
    const withInit = { ...pod, spec: { ...pod.spec, initContainers: [{ name: 'i', image: 'busybox' }] } } as Pod;
    assert.equal(
      hasPodInitialized(withInit, { containerStatuses: [container(0, { waiting: { reason: 'PodInitializing' } })] }),
      false,
    );
  });

  it('TerminatePod and init containers: one that ever started counts (a crash loop too), the first always does; the never-started tail stays waiting', () => {
    const base = apiPod('p', 'u');
    const pod = {
      ...base,
      spec: {
        ...base.spec,
        initContainers: [
          { name: 'i1', image: 'busybox' },
          { name: 'i2', image: 'busybox' },
          { name: 'i3', image: 'busybox' },
        ],
      },
    } as Pod;
    const init = (
      name: string,
      state: ContainerStatus['state'],
      lastState?: ContainerStatus['lastState'],
    ): ContainerStatus => ({
      name,
      image: 'busybox',
      imageID: '',
      ready: false,
      restartCount: lastState ? 4 : 0,
      state,
      ...(lastState ? { lastState } : {}),
    });
    const gone = {
      terminated: {
        reason: 'ContainerStatusUnknown',
        message: 'The container could not be located when the pod was terminated',
        exitCode: 137,
      },
    };
    const initializing = { waiting: { reason: 'PodInitializing' } };
    const crashLoop = init(
      'i2',
      { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } },
      { terminated: { exitCode: 1, reason: 'Error' } },
    );
    const s = terminatedStatus(
      pod,
      {
        phase: 'Pending',
        initContainerStatuses: [
          init('i1', { terminated: { exitCode: 0, reason: 'Completed' } }),
          crashLoop,
          init('i3', initializing),
        ],
        containerStatuses: [container(0, initializing)],
      },
      false,
    );
    assert.equal(s.phase, 'Failed');
    assert.deepEqual(
      s.initContainerStatuses!.map((c) => c.state),
      [{ terminated: { exitCode: 0, reason: 'Completed' } }, gone, initializing],
    );
    assert.deepEqual(s.initContainerStatuses![1]!.lastState, crashLoop.lastState);
    assert.deepEqual(
      s.containerStatuses![0]!.state,
      initializing,
      'the pod never initialized: its containers never started',
    );
    // none ever started: the first one still ends terminated
    const none = terminatedStatus(
      pod,
      { phase: 'Pending', initContainerStatuses: ['i1', 'i2', 'i3'].map((n) => init(n, initializing)) },
      false,
    );
    assert.deepEqual(
      none.initContainerStatuses!.map((c) => c.state),
      [gone, initializing, initializing],
    );
    // the last init container completed before (lastState exit 0) and is running again: initialized
    const again = {
      phase: 'Running',
      initContainerStatuses: [
        init('i1', { terminated: { exitCode: 0 } }),
        init('i2', { terminated: { exitCode: 0 } }),
        init('i3', { running: {} }, { terminated: { exitCode: 0 } }),
      ],
      containerStatuses: [container(0, initializing)],
    };
    assert.equal(hasPodInitialized(pod, again), true);
    assert.deepEqual(terminatedStatus(pod, again, false).containerStatuses![0]!.state, gone);
    // what the API server shows counts too (upstream reads only that)
    const apiInitialized = { ...pod, status: { phase: 'Running', containerStatuses: [container(0)] } } as Pod;
    const cached = { phase: 'Pending', containerStatuses: [container(0, initializing)] };
    assert.deepEqual(terminatedStatus(apiInitialized, cached, false).containerStatuses![0]!.state, gone);
    assert.deepEqual(terminatedStatus(pod, cached, false).containerStatuses![0]!.state, initializing);
  });

  it("defect 8: finalStatus: the API's terminal status is taken as it is, once; not over a running status of ours", () => {
    const api: PodStatus = { phase: 'Failed', reason: 'OutOfmemory', message: 'Pod was rejected: no memory' };
    assert.deepEqual(finalStatus(api, undefined), api);
    assert.notEqual(finalStatus(api, undefined), api, 'a copy');
    assert.equal(finalStatus(api, { ...api }), 'kept');
    assert.equal(finalStatus(api, running(0)), undefined, 'ours runs: mergePodStatus decides');
    assert.equal(finalStatus({ phase: 'Running' }, undefined), undefined);
    assert.equal(finalStatus(undefined, undefined), undefined);
  });

  it('retry delays: 500ms doubling to 4s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 9].map((n) => retryDelay(n, 0)),
      [500, 1000, 2000, 4000, 4000, 4000],
    );
    assert.equal(retryDelay(1, 1), 400);
  });
});

describe('statusManager writing to the API', () => {
  it("patches pods/status with the uid, whole containerStatuses and the kubelet conditions; others' conditions stay", async () => {
    const api = new FakePodApi();
    const pod = api.add(
      apiPod('web', 'uid-web', {
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'example.com/Gate', status: 'False' },
        ],
      }),
    );
    const a = await start(api, [fromApi(pod)]);
    a.workers([['uid-web', 'syncing']]);
    await a.synced('uid-web', running(0));
    assert.deepEqual(api.verbs(), ['patch']);
    const [p] = api.patches();
    assert.equal(p!.uid, 'uid-web');
    assert.deepEqual(p!.status.containerStatuses, [container(0)]);
    assert.deepEqual(p!.status.conditions!.map((c) => c.type).sort(), [
      'ContainersReady',
      'Initialized',
      'PodReadyToStartContainers',
      'PodScheduled',
      'Ready',
    ]);
    const stored = api.pods.get('web')!;
    assert.equal(stored.status!.phase, 'Running');
    assert.ok(stored.status!.conditions!.some((c) => c.type === 'example.com/Gate'));
    // a restart: the list is replaced whole, not merged
    await a.synced('uid-web', running(1));
    assert.deepEqual(api.pods.get('web')!.status!.containerStatuses, [container(1)]);
    assert.deepEqual(a.write('uid-web'), {
      ...a.write('uid-web'),
      version: 2,
      lastWritten: 2,
      inFlight: null,
      state: 'synced',
    });
    await a.stop();
  });

  it('coalesces: one request in flight, later changes replace the pending one (2 requests for 4 statuses, the last the newest)', async () => {
    const { api, a } = await startWeb();
    let release!: () => void;
    api.gate = new Promise<void>((r) => {
      release = r;
    });
    await a.synced('uid-web', running(0));
    assert.equal(a.write('uid-web').inFlight, 'patch');
    await a.synced('uid-web', running(1));
    await a.synced('uid-web', running(2));
    await a.synced('uid-web', running(3));
    assert.equal(api.patches().length, 1, 'nothing else while one hangs');
    api.gate = undefined;
    release();
    await settle();
    const patches = api.patches();
    assert.equal(patches.length, 2);
    assert.equal(patches[1]!.status.containerStatuses![0]!.restartCount, 3);
    assert.equal(api.pods.get('web')!.status!.containerStatuses![0]!.restartCount, 3);
    const w = a.write('uid-web');
    assert.equal(w.version, 4);
    assert.equal(w.lastWritten, 4);
    await a.stop();
  });

  it('sends nothing for an unchanged status, nor for one the API already shows (after a restart)', async () => {
    const api = new FakePodApi();
    const pod = api.add(apiPod('web', 'uid-web', running(0)));
    const a = await start(api, [fromApi(pod)]);
    await a.synced('uid-web', running(0));
    assert.deepEqual(api.calls, [], 'the API already shows it');
    assert.equal(a.write('uid-web').lastWritten, 1);
    await a.synced('uid-web', running(1));
    await a.synced('uid-web', running(1));
    assert.equal(api.patches().length, 1);
    await a.clock.advanceAsync(30_000);
    assert.equal(api.patches().length, 1, 'the reconcile finds nothing to do');
    await a.stop();
  });

  it('retries a 500 after 500ms, then backs off 500ms doubling to 4s while refused; the API matches within 5s of recovery', async () => {
    const { api, a } = await startWeb();
    api.failures.patch = [apiErr(500, 'patch', 'InternalError')];
    await a.synced('uid-web', running(0));
    assert.equal(api.patches().length, 1);
    await a.clock.advanceAsync(499);
    assert.equal(api.patches().length, 1);
    await a.clock.advanceAsync(1);
    assert.equal(api.patches().length, 2);
    assert.equal(api.pods.get('web')!.status!.phase, 'Running');

    // an outage of 2 minutes; the status changes during it
    api.down = true;
    const t0 = a.clock.now();
    await a.synced('uid-web', running(1));
    await a.clock.advanceAsync(20_000);
    const gaps = api
      .patches()
      .slice(2)
      .map((p) => p.at - t0);
    assert.deepEqual(gaps.slice(0, 6), [0, 500, 1500, 3500, 7500, 11500]);
    await a.synced('uid-web', running(2));
    await a.clock.advanceAsync(100_000);
    assert.ok(a.write('uid-web').retries > 10);
    assert.match(a.write('uid-web').lastError!, /ConnectionError/);
    api.down = false;
    const recovered = a.clock.now();
    await a.clock.advanceAsync(5_000);
    assert.equal(api.pods.get('web')!.status!.containerStatuses![0]!.restartCount, 2);
    const landed = api.patches().at(-1)!.at;
    assert.ok(landed - recovered <= 5_000, `landed ${landed - recovered}ms after recovery`);
    assert.equal(a.write('uid-web').retries, 0);
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('409 Conflict: re-reads the pod and writes again', async () => {
    const { api, a } = await startWeb();
    api.failures.patch = [apiErr(409, 'patch', 'Conflict')];
    await a.synced('uid-web', running(0));
    assert.deepEqual(api.verbs(), ['patch', 'get', 'patch']);
    assert.equal(api.pods.get('web')!.status!.phase, 'Running');
    assert.equal((a.inspect() as { totals: { conflicts: number } }).totals.conflicts, 1);
    await a.stop();
  });

  it('404: the pod is gone, nothing more is written to it', async () => {
    const { api, a } = await startWeb();
    api.pods.delete('web');
    await a.synced('uid-web', running(0));
    await a.synced('uid-web', running(1));
    await a.clock.advanceAsync(30_000);
    assert.deepEqual(api.verbs(), ['patch']);
    assert.equal(a.write('uid-web').state, 'gone');
    await a.stop();
  });

  it('a pod deleted and recreated under the same name (another uid) is not written', async () => {
    const { api, a } = await startWeb();
    api.add(apiPod('web', 'uid-other'));
    await a.synced('uid-web', running(0));
    await a.synced('uid-web', running(1));
    assert.deepEqual(api.verbs(), ['patch', 'get']);
    assert.equal(api.pods.get('web')!.status!.phase, 'Pending', 'the new pod is untouched');
    assert.equal(a.write('uid-web').state, 'gone');
    await a.stop();
  });

  it("a static pod's status goes to its mirror pod (its uid), once the mirror exists", async () => {
    const api = new FakePodApi();
    const staticPod = apiPod('etcd-node-a', 'static-uid');
    const a = await start(api, [{ pod: staticPod, source: 'file', static: true }]);
    await a.synced('static-uid', running(0));
    assert.deepEqual(api.calls, [], 'no mirror yet');
    const mirror = api.add({
      ...apiPod('etcd-node-a', 'mirror-uid'),
      metadata: {
        ...apiPod('etcd-node-a', 'mirror-uid').metadata,
        annotations: { 'kubernetes.io/config.mirror': 'x' },
      },
    });
    a.mirrors([mirror]);
    await settle();
    assert.deepEqual(api.verbs(), ['patch']);
    assert.equal(api.patches()[0]!.uid, 'mirror-uid');
    assert.equal(api.pods.get('etcd-node-a')!.status!.phase, 'Running');
    // the mirror is recreated: the status goes to the new one
    const again = api.add(apiPod('etcd-node-a', 'mirror-uid-2'));
    a.mirrors([again]);
    await settle();
    assert.equal(api.patches().at(-1)!.uid, 'mirror-uid-2');
    assert.equal(api.pods.get('etcd-node-a')!.status!.phase, 'Running');
    await a.stop();
  });

  it("a terminal phase is never reverted: not in the cache, not over the API's", async () => {
    const api = new FakePodApi();
    const pod = api.add(apiPod('job', 'uid-job'));
    const evicted = api.add(
      apiPod('evicted', 'uid-ev', {
        phase: 'Failed',
        reason: 'Evicted',
        message: 'The node was low on resource: memory.',
      }),
    );
    const a = await start(api, [fromApi(pod), fromApi(evicted)]);
    await a.synced('uid-job', { ...stopped(), phase: 'Succeeded' });
    assert.equal(api.pods.get('job')!.status!.phase, 'Succeeded');
    await a.synced('uid-job', running(1));
    assert.equal(a.bus.port('x').current('podStatuses')!.get('uid-job')!.phase, 'Succeeded');
    assert.equal(api.pods.get('job')!.status!.phase, 'Succeeded');
    await a.synced('uid-ev', running(0));
    const st = api.pods.get('evicted')!.status!;
    assert.equal(st.phase, 'Failed');
    assert.equal(st.reason, 'Evicted');
    await a.stop();
  });

  it('a pod rejected by admission is written Failed with its reason; PodScheduled is kept', async () => {
    const api = new FakePodApi();
    const pod = api.add(apiPod('big', 'uid-big'));
    const a = await start(api, []);
    const changes = collect(a.bus, 'status');
    a.desired([
      {
        ...fromApi(pod),
        rejected: {
          reason: 'OutOfcpu',
          message: "Node didn't have enough resource: cpu, requested: 8000, used: 0, capacity: 4000",
        },
      },
    ]);
    await settle();
    const st = api.pods.get('big')!.status!;
    assert.equal(st.phase, 'Failed');
    assert.equal(st.reason, 'OutOfcpu');
    assert.equal(
      st.message,
      "Pod was rejected: Node didn't have enough resource: cpu, requested: 8000, used: 0, capacity: 4000",
    );
    assert.deepEqual(st.conditions, [{ type: 'PodScheduled', status: 'True' }]);
    assert.equal(changes.length, 1);
    // it leaves the node: its state goes
    a.desired([]);
    await settle();
    assert.equal(a.bus.port('x').current('podStatuses')!.has('uid-big'), false);
    await a.stop();
  });

  it('defect 8: a pod rejected before a restart (Failed, OutOfmemory) keeps its status byte-identical: no write after its syncs, kill and termination', async () => {
    const api = new FakePodApi();
    const rejectedBefore: PodStatus = {
      phase: 'Failed',
      reason: 'OutOfmemory',
      message:
        "Pod was rejected: Node didn't have enough resource: memory, requested: 966367641600000, used: 0, capacity: 4000000000",
      conditions: [{ type: 'PodScheduled', status: 'True' }],
      startTime: '2025-01-01T00:00:00Z',
      qosClass: 'Burstable',
    };
    const pod = api.add(apiPod('huge', 'uid-huge', rejectedBefore));
    const before = structuredClone(api.pods.get('huge')!.status);
    // the restarted kubelet: admission skips a terminal pod, so a worker runs it to termination
    const a = await start(api, [fromApi(pod)]);
    a.workers([['uid-huge', 'syncing']]);
    const waiting = running(0, {
      phase: 'Failed',
      reason: 'OutOfmemory',
      message: rejectedBefore.message,
      containerStatuses: [container(0, { waiting: { reason: 'ContainerCreating' } })],
    });
    await a.synced('uid-huge', waiting);
    a.workers([['uid-huge', 'terminating']]);
    a.bus
      .port('runtime')
      .send('runtimeReply', { type: 'runtime.podKilled', uid: 'uid-huge', seq: 9, status: null, apiStatus: waiting });
    await settle();
    a.workers([['uid-huge', 'terminated']]);
    await a.stateChanged('uid-huge', 'terminated');
    await a.clock.advanceAsync(30_000);
    assert.deepEqual(api.verbs(), [], 'nothing is written');
    assert.deepEqual(api.pods.get('huge')!.status, before);
    assert.deepEqual(a.bus.port('x').current('podStatuses')!.get('uid-huge'), before);
    await a.stop();
  });

  it('a rejected pod someone deletes is deleted (grace 0, uid) once its Failed status is accepted: it never had a worker', async () => {
    const api = new FakePodApi();
    const pod = api.add(apiPod('big', 'uid-big'));
    const rejected = { reason: 'OutOfcpu', message: 'no cpu' };
    let release!: () => void;
    api.gate = new Promise<void>((r) => {
      release = r;
    });
    const deleting = {
      ...pod,
      metadata: { ...pod.metadata, deletionTimestamp: '2025-01-01T00:01:00Z', deletionGracePeriodSeconds: 30 },
    };
    const a = await start(api, [{ ...fromApi(deleting), rejected }]);
    assert.deepEqual(api.verbs(), ['patch']);
    assert.ok(!api.verbs().includes('delete'), 'not before the Failed status is accepted');
    api.gate = undefined;
    release();
    await settle();
    assert.equal(api.patches()[0]!.status.phase, 'Failed');
    assert.deepEqual(
      api.calls.filter((c) => c.verb === 'delete').map((c) => c.body),
      [{ gracePeriodSeconds: 0, uid: 'uid-big' }],
    );
    assert.equal(api.pods.has('big'), false);
    await a.stop();
  });

  it('deletion: only once the worker terminated and the terminal status was accepted, DELETE with grace 0 and the uid', async () => {
    const { api, a } = await startWeb();
    a.workers([['uid-web', 'syncing']]);
    await a.synced('uid-web', running(0));
    // deleted in the API: the worker kills the containers
    const deleting = api.add({
      ...api.pods.get('web')!,
      metadata: {
        ...api.pods.get('web')!.metadata,
        deletionTimestamp: '2025-01-01T00:01:00Z',
        deletionGracePeriodSeconds: 30,
      },
    });
    a.desired([fromApi(deleting)]);
    a.workers([['uid-web', 'terminating']]);
    await settle();
    // the runtime already calls it Failed; the API does not hear it while the worker may still run containers
    a.bus.port('runtime').send('runtimeReply', {
      type: 'runtime.podKilled',
      uid: 'uid-web',
      seq: 9,
      status: null,
      apiStatus: { ...stopped(), phase: 'Failed' },
    });
    await settle();
    assert.equal(api.patches().at(-1)!.status.containerStatuses![0]!.state!.terminated!.exitCode, 137);
    assert.equal(
      api.pods.get('web')!.status!.phase,
      'Running',
      'not terminal while the worker could still run containers',
    );
    assert.ok(!api.verbs().includes('delete'));
    // the worker is done: the final status goes out (Failed), and it has to land before the delete
    let release!: () => void;
    api.gate = new Promise<void>((r) => {
      release = r;
    });
    a.workers([['uid-web', 'terminated']]);
    await a.stateChanged('uid-web', 'terminated');
    assert.equal(api.patches().at(-1)!.status.phase, 'Failed');
    assert.ok(!api.verbs().includes('delete'), 'not before the final status is accepted');
    api.failures.delete = [apiErr(503, 'delete', 'ServiceUnavailable')];
    api.gate = undefined;
    release();
    await settle();
    assert.equal(api.verbs().at(-1), 'delete');
    await a.clock.advanceAsync(500);
    const deletes = api.calls.filter((c) => c.verb === 'delete');
    assert.equal(deletes.length, 2, 'a failed delete is retried');
    assert.deepEqual(deletes[1]!.body, { gracePeriodSeconds: 0, uid: 'uid-web' });
    assert.equal(api.pods.has('web'), false);
    assert.equal(a.write('uid-web').state, 'deleted');
    await a.clock.advanceAsync(30_000);
    assert.equal(api.calls.filter((c) => c.verb === 'delete').length, 2);
    // the source drops it, the worker goes: the state goes
    await a.stateChanged('uid-web', 'removed');
    assert.equal((a.inspect() as { writes: unknown[] }).writes.length, 0);
    await a.stop();
  });

  it('a deleted pod the API already shows Failed is not deleted before its worker terminated', async () => {
    const api = new FakePodApi();
    const pod = api.add(apiPod('web', 'uid-web', { ...stopped(), phase: 'Failed', reason: 'Evicted' }));
    const deleting = api.add({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2025-01-01T00:01:00Z' } });
    const a = await start(api, [fromApi(deleting)]);
    a.workers([['uid-web', 'terminating']]);
    await a.synced('uid-web', { ...stopped(), phase: 'Failed', reason: 'Evicted' });
    await a.clock.advanceAsync(20_000);
    // the API showed it Ready: that one write, no delete
    assert.deepEqual(api.verbs(), ['patch']);
    assert.equal(api.pods.get('web')!.status!.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
    a.workers([['uid-web', 'terminated']]);
    await a.stateChanged('uid-web', 'terminated');
    await a.clock.advanceAsync(20_000);
    assert.deepEqual(api.verbs(), ['patch', 'delete']);
    await a.stop();
  });

  it('a pod that is not being deleted is not deleted when its worker terminates', async () => {
    const api = new FakePodApi();
    const pod = api.add(apiPod('job', 'uid-job'));
    const a = await start(api, [fromApi(pod)]);
    await a.synced('uid-job', { ...stopped(), phase: 'Succeeded' });
    await a.stateChanged('uid-job', 'terminated');
    assert.ok(!api.verbs().includes('delete'));
    assert.equal(api.pods.get('job')!.status!.phase, 'Succeeded');
    await a.stop();
  });

  it('a restarted instance drops, at its 10s reconcile, the entries of pods neither desired nor held by a worker', async () => {
    const api = new FakePodApi();
    const web = api.add(apiPod('web', 'uid-web'));
    const first = await start(api, [fromApi(web)]);
    await first.synced('uid-web', running(0));
    await first.synced('uid-gone', running(0));
    await first.synced('uid-stopping', running(0));
    await first.stop();
    // meanwhile uid-gone left the node (its 'removed' fact went to nobody); uid-stopping is undesired but its worker still runs
    const bus = first.bus;
    bus
      .port('podWorkers')
      .publish(
        'podWorkerStates',
        new Map([
          ['uid-stopping', { uid: 'uid-stopping', name: 'stopping', namespace: NS, state: 'terminating' as const }],
        ]),
      );
    const again = await startActor(statusManager, { api, random: () => 0 }, { bus, clock: first.clock });
    const removed = collect(bus, 'status');
    const uids = () => [...bus.port('x').current('podStatuses')!.keys()].sort();
    assert.deepEqual(uids(), ['uid-gone', 'uid-stopping', 'uid-web'], 'reloaded from the view');
    await again.clock.advanceAsync(10_000, settle);
    assert.deepEqual(uids(), ['uid-stopping', 'uid-web']);
    assert.deepEqual(
      removed.filter((m) => m.type === 'status.podStatusRemoved').map((m) => m.uid),
      ['uid-gone'],
    );
    assert.ok(!(again.inspect() as { writes: { uid: string }[] }).writes.some((w) => w.uid === 'uid-gone'));
    // without an API client too
    await again.stop();
    const local = await startActor(statusManager, {}, { bus, clock: first.clock });
    bus.port('podWorkers').publish('podWorkerStates', new Map());
    await local.clock.advanceAsync(10_000, settle);
    assert.deepEqual(uids(), ['uid-web']);
    await local.stop();
  });

  it('without an API client it is the local cache only', async () => {
    const a = await start(undefined, [fromApi(apiPod('web', 'uid-web'))]);
    await a.synced('uid-web', running(0));
    assert.equal(a.bus.port('x').current('podStatuses')!.get('uid-web')!.phase, 'Running');
    assert.equal((a.inspect() as { writer: string }).writer, 'none');
    await a.stop();
  });
});

describe('statusManager against the API server stand-in', () => {
  let server: ApiServer;
  let node: KubeClient;
  let admin: KubeClient;
  before(async () => {
    server = await startApiServer({ nodes: ['node-a'] });
    node = createKubeApi(server.kubeconfigFor('node-a'), { qps: 0 });
    admin = createKubeApi(server.adminKubeconfig, { qps: 0 });
  });
  after(async () => {
    node?.close();
    admin?.close();
    await server?.stop();
  });

  /** Yields to real I/O until `pred` holds. */
  async function until(pred: () => boolean | Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 5000; i++) {
      if (await pred()) return;
      await new Promise<void>((r) => setImmediate(r));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  it('the status lands in the stored pod; after termination the pod is deleted with the uid precondition', async () => {
    const created = await admin.createPod(NS, {
      metadata: { name: 'web', namespace: NS },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    } as unknown as Pod);
    const uid = created.metadata.uid;
    const a = await startActor(statusManager, { api: node, random: () => 0 });
    try {
      const pm = a.bus.port('podManager');
      const pw = a.bus.port('podWorkers');
      pm.publish('desiredPods', new Map([[uid, fromApi(created)]]));
      pw.publish('podWorkerStates', new Map([[uid, { uid, name: 'web', namespace: NS, state: 'syncing' as const }]]));
      a.bus.port('runtime').send('runtimeReply', {
        type: 'runtime.podSynced',
        uid,
        seq: 1,
        result: { apiStatus: running(0, { qosClass: created.status?.qosClass }) } as unknown as SyncResult,
      });
      await until(async () => (await admin.getPod(NS, 'web')).status?.phase === 'Running', 'the status');
      const stored = await admin.getPod(NS, 'web');
      assert.deepEqual(stored.status!.containerStatuses, [container(0)]);
      assert.equal(stored.status!.podIP, '10.88.0.5');
      const patch = server.requests.last({ verb: 'patch', subresource: 'status' })!;
      assert.equal(patch.user, 'system:node:node-a');
      assert.equal(patch.contentType, 'application/strategic-merge-patch+json');

      // an admin deletes it: graceful, it stays until the kubelet is done
      await admin.deletePod(NS, 'web', {});
      const deleting = await admin.getPod(NS, 'web');
      assert.ok(deleting.metadata.deletionTimestamp);
      pm.publish('desiredPods', new Map([[uid, fromApi(deleting)]]));
      a.bus.port('runtime').send('runtimeReply', {
        type: 'runtime.podKilled',
        uid,
        seq: 2,
        status: null,
        apiStatus: { ...stopped(), qosClass: created.status?.qosClass },
      });
      pw.publish(
        'podWorkerStates',
        new Map([[uid, { uid, name: 'web', namespace: NS, state: 'terminated' as const }]]),
      );
      pw.send('podWorker', { type: 'podWorker.stateChanged', uid, state: 'terminated' });
      await until(
        () =>
          server.requests.count({ verb: 'delete', user: 'system:node:node-a' }) > 0 &&
          server.requests.last({ verb: 'delete', user: 'system:node:node-a' })!.status !== undefined,
        'the delete',
      );
      const del = server.requests.last({ verb: 'delete', user: 'system:node:node-a' })!;
      assert.deepEqual(del.body, {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 0,
        preconditions: { uid },
      });
      await assert.rejects(admin.getPod(NS, 'web'), (e: unknown) => e instanceof ApiError && e.code === 404);
      const lastPatch = server.requests.last({ verb: 'patch', subresource: 'status' })!;
      assert.equal((lastPatch.body as { status: PodStatus }).status.phase, 'Failed');
      assert.deepEqual(a.crashes, []);
    } finally {
      await a.stop();
    }
  });

  it('a condition that turns True loses the reason and message it had while False (conditions merge by type)', async () => {
    const created = await admin.createPod(NS, {
      metadata: { name: 'flip', namespace: NS },
      spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
    } as unknown as Pod);
    const uid = created.metadata.uid;
    const a = await startActor(statusManager, { api: node, random: () => 0 });
    try {
      a.bus.port('podManager').publish('desiredPods', new Map([[uid, fromApi(created)]]));
      a.bus
        .port('podWorkers')
        .publish('podWorkerStates', new Map([[uid, { uid, name: 'flip', namespace: NS, state: 'syncing' as const }]]));
      const rt = a.bus.port('runtime');
      const unready = running(0, {
        qosClass: created.status?.qosClass,
        containerStatuses: [container(0, { waiting: { reason: 'ContainerCreating' } })],
        conditions: running().conditions!.map((c) =>
          c.type === 'Ready' || c.type === 'ContainersReady'
            ? {
                ...c,
                status: 'False',
                reason: 'ContainersNotReady',
                message: 'containers with unready status: [c]',
                lastProbeTime: '2025-01-01T00:00:00Z',
              }
            : c,
        ),
      });
      rt.send('runtimeReply', {
        type: 'runtime.podSynced',
        uid,
        seq: 1,
        result: { apiStatus: unready } as unknown as SyncResult,
      });
      const ready = async () => (await admin.getPod(NS, 'flip')).status?.conditions?.find((c) => c.type === 'Ready');
      await until(async () => (await ready())?.reason === 'ContainersNotReady', 'Ready False');
      rt.send('runtimeReply', {
        type: 'runtime.podSynced',
        uid,
        seq: 2,
        result: { apiStatus: running(1, { qosClass: created.status?.qosClass }) } as unknown as SyncResult,
      });
      await until(async () => (await ready())?.status === 'True', 'Ready True');
      const stored = (await admin.getPod(NS, 'flip')).status!.conditions!;
      for (const type of ['Ready', 'ContainersReady']) {
        assert.deepEqual(
          stored.find((c) => c.type === type),
          running().conditions!.find((c) => c.type === type),
          type,
        );
      }
      assert.deepEqual(a.crashes, []);
    } finally {
      await a.stop();
    }
  });
});
