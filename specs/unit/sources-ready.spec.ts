/**
 * Issue 8, defect 2: in cluster mode without --pod-manifest-path the syncLoop waited for the
 * `file` source forever (the source that was off said sourcesReady once, at its start, before the
 * syncLoop subscribed), so housekeeping never ran and a pod force-deleted in the API while the
 * kubelet was down kept running after the restart. Now the sources housekeeping waits for are
 * exactly the configured ones, and readiness is pod-manager's `readySources` view, which no
 * subscription order can lose. Actors on a VirtualClock; the whole kubelet with the in-memory
 * runtime and an in-memory API server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { createKubelet, type Kubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS, type KubeletFlags } from '../../bin/flags.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock, type Clock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { syncLoop } from '../../kernel/sync-loop.ts';
import { podManager } from '../../actors/pod-manager/index.ts';
import { NEVER } from 'rxjs';
import { MemoryStaticPodFs, type StaticPodFs } from '../../actors/pod-config/adapters.ts';
import { ApiError, type KubeApi } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { PodSource, RuntimePods } from '../../protocols/messages/channels.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'kubelet-ts.local/busybox:1.0';
const NODE = 'node-v';

/** A static pod directory whose reads never finish: the file source stays unready. */
const never = () => new Promise<never>(() => {});
const silentFs: StaticPodFs = {
  readdir: never,
  lstat: never,
  stat: never,
  realpath: never,
  readFile: never,
  watch: () => NEVER,
};

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

const syncLoopInspect = (k: Kubelet) =>
  k.supervisor.inspect().find((a) => a.id === 'syncLoop')!.inspect as {
    sourcesReady: boolean;
    waitingFor: PodSource[];
  };

describe('defect 2: readiness of the pod sources is a view (pod-manager), not an event heard in time', () => {
  it('a source that listed before the syncLoop subscribed still counts: housekeeping runs', async () => {
    const bus = new Bus();
    const clock = new VirtualClock(0);
    const pm = await startActor(podManager, {}, { bus, clock });
    // the source is ready before the syncLoop exists (the file source at start, a fast first fetch)
    bus.port('podConfig').send('config', { type: 'config.sourcesReady', source: 'file' });
    const sl = await startActor(syncLoop, { sources: ['file'] }, { bus, clock });
    assert.deepEqual(sl.inspect(), { ...(sl.inspect() as object), sourcesReady: true, waitingFor: [] });
    // and housekeeping acts: an orphan in the runtime gets its kill
    const updates = collect(bus, 'podWorker');
    bus
      .port('pleg')
      .publish(
        'runtimePods',
        new Map([
          ['orphan', { uid: 'orphan', name: 'x', namespace: 'default', sandboxIds: ['s'], containerIds: ['c'] }],
        ]) as RuntimePods,
      );
    bus.port('spec').send('syncLoop', { type: 'syncLoop.housekeeping' });
    await clock.advanceAsync(0, settle);
    assert.deepEqual(
      updates.map((u) => u.type === 'podWorker.update' && [u.uid, u.updateType, u.cause, u.gracePeriodSeconds]),
      [['orphan', 'kill', 'housekeeping.orphan', 1]],
    );
    await sl.stop();
    await pm.stop();
  });

  it('waits for every configured source; a restarted pod-manager or syncLoop keeps what was heard', async () => {
    const bus = new Bus();
    const clock = new VirtualClock(0);
    const pm = await startActor(podManager, {}, { bus, clock });
    const sl = await startActor(syncLoop, { sources: ['http', 'api'] }, { bus, clock });
    const waiting = (a: typeof sl) => (a.inspect() as { waitingFor: PodSource[] }).waitingFor;
    assert.deepEqual(waiting(sl), ['http', 'api']);
    bus.port('podSourceHttp').send('config', { type: 'config.sourcesReady', source: 'http' });
    assert.deepEqual(waiting(sl), ['api']);
    // pod-manager restarts (same bus): it resumes from its view and adds to it
    await pm.stop();
    const pm2 = await startActor(podManager, {}, { bus, clock });
    bus.port('podSourceApi').send('config', { type: 'config.sourcesReady', source: 'api' });
    assert.deepEqual(waiting(sl), []);
    assert.deepEqual([...bus.port('spec').current('readySources')!].sort(), ['api', 'http']);
    // the syncLoop restarts: no source says sourcesReady twice, and it does not wait again
    await sl.stop();
    const sl2 = await startActor(syncLoop, { sources: ['http', 'api'] }, { bus, clock });
    assert.equal((sl2.inspect() as { sourcesReady: boolean }).sourcesReady, true);
    await sl2.stop();
    await pm2.stop();
  });
});

/**
 * An API server in memory, on the virtual clock: the pods bound to the node (by uid, changed by
 * the spec), listed at once; watches stay open without events; the Node and its Lease are kept
 * once created; other writes are accepted.
 */
function memoryApiServer(): KubeApi & { pods: Map<string, Pod> } {
  const pods = new Map<string, Pod>();
  const kept = new Map<string, unknown>();
  const notFound = (what: string) => Promise.reject(new ApiError(404, 'NotFound', 'GET', what, `${what} not found`));
  const get = (key: string) => (kept.has(key) ? Promise.resolve(structuredClone(kept.get(key))) : notFound(key));
  const put = <T>(key: string, obj: T): Promise<T> => {
    kept.set(key, obj);
    return Promise.resolve(structuredClone(obj));
  };
  const byName = (name: string) => [...pods.values()].find((p) => p.metadata.name === name);
  const api = {
    pods,
    listPods: () =>
      Promise.resolve({ items: [...pods.values()].map((p) => structuredClone(p)), resourceVersion: '10' }),
    watchPods: (_o: unknown, _e: unknown, done: (err?: unknown) => void) => Promise.resolve({ abort: () => done() }),
    getPod: (_ns: string, name: string) => {
      const p = byName(name);
      return p ? Promise.resolve(structuredClone(p)) : notFound(`pods/${name}`);
    },
    createPod: (_ns: string, pod: Pod) => Promise.resolve(pod),
    deletePod: (_ns: string, name: string) => {
      const p = byName(name);
      if (p) pods.delete(p.metadata.uid!);
      return Promise.resolve();
    },
    patchPodStatus: (_ns: string, name: string) => {
      const p = byName(name);
      return p ? Promise.resolve(structuredClone(p)) : notFound(`pods/${name}`);
    },
    getNode: (name: string) => get(`nodes/${name}`),
    createNode: (node: { metadata: { name: string } }) =>
      put(`nodes/${node.metadata.name}`, { ...node, metadata: { ...node.metadata, uid: 'node-uid' } }),
    patchNodeStatus: (name: string) => get(`nodes/${name}`),
    patchNode: (name: string) => get(`nodes/${name}`),
    getLease: (_ns: string, name: string) => get(`leases/${name}`),
    createLease: (_ns: string, lease: { metadata: { name: string } }) => put(`leases/${lease.metadata.name}`, lease),
    updateLease: (_ns: string, lease: { metadata: { name: string } }) => put(`leases/${lease.metadata.name}`, lease),
    createEvent: (_ns: string, event: unknown) => Promise.resolve(event),
    patchEvent: (_ns: string, name: string) => Promise.resolve({ metadata: { name } }),
  };
  return api as unknown as KubeApi & { pods: Map<string, Pod> };
}

function apiPod(name: string, uid: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid, resourceVersion: '7', creationTimestamp: '2027-01-15T08:00:00Z' },
    // a long grace period: the orphan is killed with upstream's 1 s override, not this
    spec: {
      nodeName: NODE,
      terminationGracePeriodSeconds: 30,
      containers: [{ name: 'app', image: IMAGE, command: ['sleep', '1000'] }],
    },
    status: { phase: 'Pending' },
  } as unknown as Pod;
}

describe('defect 2: the whole kubelet, restarted (cluster mode without --pod-manifest-path, and standalone)', () => {
  const node = (clock: Clock, cri: FakeCri, api: KubeApi | undefined, flags: Partial<KubeletFlags> = {}) =>
    createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: undefined, nodeIp: '198.51.100.7', ...flags },
      clock,
      log: silentLogger,
      nodeName: NODE,
      cri,
      fs: silentFs,
      random: () => 0.5,
      manifestFetcher: { get: () => new Promise(() => {}) },
      ...(api ? { kubeApi: api } : {}),
    });

  it('housekeeping waits for exactly the configured sources', async () => {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    const cases: [Partial<KubeletFlags>, boolean, PodSource[]][] = [
      [{}, false, []],
      [{}, true, ['api']],
      [{ podManifestPath: '/etc/kubernetes/manifests' }, false, ['file']],
      [{ manifestUrl: 'http://manifests.invalid/pods' }, true, ['http', 'api']],
    ];
    for (const [flags, cluster, expected] of cases) {
      const api = cluster ? memoryApiServer() : undefined;
      // sources that never answer stay unready: an API list, a manifest fetch, a directory read
      if (api) api.listPods = () => new Promise(() => {});
      const k = node(clock, cri, api, flags);
      await k.start();
      await clock.advanceAsync(3000, settle);
      assert.deepEqual(syncLoopInspect(k).waitingFor, expected, JSON.stringify(flags));
      await k.stop();
    }
  });

  it('a pod force-deleted in the API while the kubelet was down is stopped within 10 s of the restart', async () => {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const api = memoryApiServer();
    const web = apiPod('web', '6f1c2b8e-0000-4000-8000-000000000002');
    api.pods.set(web.metadata.uid!, web);
    const running = async () =>
      cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': 'web' }, state: { state: 'CONTAINER_RUNNING' } });

    const k1 = node(clock, cri, api);
    await k1.start();
    await clock.advanceAsync(5000, settle);
    assert.equal((await running()).length, 1, 'the API pod runs');
    await k1.stop();

    api.pods.delete(web.metadata.uid!); // force-deleted (grace 0) while the kubelet is down
    const k2 = node(clock, cri, api);
    const restartedAt = clock.now();
    await k2.start();
    let stoppedAfter: number | undefined;
    while (clock.now() - restartedAt < 30_000) {
      await clock.advanceAsync(500, settle);
      if ((await running()).length === 0) {
        stoppedAfter = clock.now() - restartedAt;
        break;
      }
    }
    assert.deepEqual(syncLoopInspect(k2).waitingFor, [], 'no source left to wait for');
    assert.ok(
      stoppedAfter !== undefined && stoppedAfter <= 10_000,
      `the orphan stopped ${stoppedAfter ?? 'never'} ms after the restart`,
    );
    const stop = cri.calls.find((c) => c.method === 'StopContainer');
    assert.equal(stop?.args[1], 1, "upstream's 1 s grace override for an orphan");
    await clock.advanceAsync(5000, settle);
    assert.equal(
      (
        await cri.listPodSandbox({
          labelSelector: { 'io.kubernetes.pod.name': 'web' },
          state: { state: 'SANDBOX_READY' },
        })
      ).length,
      0,
      'its sandbox stopped too',
    );
    await k2.stop();
  });

  it('standalone, the same for a static pod whose manifest was removed while the kubelet was down', async () => {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const dir = '/etc/kubernetes/manifests';
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(dir);
    fs.writeFile(
      `${dir}/web.json`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [{ name: 'app', image: IMAGE, command: ['sleep', '1000'] }],
        },
      }),
    );
    const running = async () =>
      cri.listContainers({
        labelSelector: { 'io.kubernetes.pod.name': `web-${NODE}` },
        state: { state: 'CONTAINER_RUNNING' },
      });
    const standalone = () =>
      createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: dir },
        clock,
        log: silentLogger,
        nodeName: NODE,
        cri,
        fs,
        random: () => 0.5,
      });
    const k1 = standalone();
    await k1.start();
    await clock.advanceAsync(3000, settle);
    assert.equal((await running()).length, 1, 'the static pod runs');
    await k1.stop();
    fs.remove(`${dir}/web.json`);
    const k2 = standalone();
    const restartedAt = clock.now();
    await k2.start();
    while ((await running()).length > 0 && clock.now() - restartedAt < 30_000) await clock.advanceAsync(500, settle);
    assert.ok(clock.now() - restartedAt <= 10_000, `stopped ${clock.now() - restartedAt} ms after the restart`);
    await k2.stop();
  });
});
