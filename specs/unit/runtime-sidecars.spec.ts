// The runtime actor with sidecars (init containers with restartPolicy Always) on FakeCri and a
// VirtualClock: the start order across syncs, the restart of an exited sidecar under
// restartPolicy Never, the completion of a Job-like pod, and the termination order (regular
// containers first, then the sidecars one by one in reverse order of declaration).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import type { RuntimeReply, SyncResult } from '../../protocols/messages/channels.ts';
import { runtime } from '../../actors/runtime/index.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { FakeCri } from '../support/fake-cri.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';

const IMAGE = 'registry.local/app:1.0';

function sidecarPod(uid: string, restartPolicy: 'Always' | 'Never' = 'Always'): Pod {
  return applyPodDefaults(
    PodSchema.parse({
      metadata: { name: uid, namespace: 'default', uid },
      spec: {
        restartPolicy,
        terminationGracePeriodSeconds: 5,
        initContainers: [
          { name: 'proxy', image: IMAGE, restartPolicy: 'Always' },
          { name: 'setup', image: IMAGE },
          { name: 'logshipper', image: IMAGE, restartPolicy: 'Always' },
        ],
        containers: [
          { name: 'app', image: IMAGE },
          { name: 'worker', image: IMAGE },
        ],
      },
    }) as Pod,
  );
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

async function setup(wrap?: (cri: FakeCri) => CriRuntime) {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  cri.addImage(IMAGE);
  const images = new ImageManager({ images: cri, clock });
  const a = await startActor(
    runtime,
    { cri: wrap ? wrap(cri) : cri, images, nodeName: 'node-a', podLogsDir: '/var/log/pods' },
    { clock },
  );
  const replies = collect(a.bus, 'runtimeReply');
  let seq = 0;
  const send = (cmd: { type: 'runtime.syncPod'; pod: Pod } | { type: 'runtime.killPod'; pod: Pod }) => {
    const n = ++seq;
    const uid = cmd.pod.metadata.uid!;
    if (cmd.type === 'runtime.syncPod')
      a.bus.port('podWorkers').send('runtime', { type: cmd.type, uid, seq: n, pod: cmd.pod });
    else a.bus.port('podWorkers').send('runtime', { type: cmd.type, uid, seq: n, pod: cmd.pod, gracePeriodSeconds: 5 });
    return n;
  };
  const reply = (n: number): RuntimeReply | undefined => replies.find((x) => x.seq === n);
  const sync = async (pod: Pod): Promise<SyncResult> => {
    const n = send({ type: 'runtime.syncPod', pod });
    await clock.advanceAsync(0, settle);
    const r = reply(n);
    assert.ok(r && r.type === 'runtime.podSynced', `no reply to syncPod #${n}`);
    return r.result;
  };
  /** name → [state, attempt] of the newest instance, as the runtime has them. */
  const containers = async () => {
    const out: Record<string, [string, number]> = {};
    for (const c of await cri.listContainers()) {
      const prev = out[c.metadata.name];
      if (!prev || prev[1] < c.metadata.attempt) out[c.metadata.name] = [c.state, c.metadata.attempt];
    }
    return out;
  };
  const idOf = async (name: string) =>
    (await cri.listContainers())
      .filter((c) => c.metadata.name === name)
      .sort((x, y) => y.metadata.attempt - x.metadata.attempt)[0]!.id;
  return { cri, a, clock, send, reply, sync, containers, idOf };
}

const started = (cri: FakeCri) =>
  cri.calls
    .filter((c) => c.method === 'CreateContainer')
    .map((c) => (c.args[1] as { metadata: { name: string } }).metadata.name);

describe('runtime: sidecars', () => {
  it('start in order, each init container after the sidecar before it runs, the regular containers last', async (t) => {
    const { cri, a, sync, containers } = await setup();
    t.after(() => a.stop());
    const pod = sidecarPod('uid-order');
    await sync(pod);
    assert.deepEqual(started(cri), ['proxy'], 'first sync: the sandbox and the first sidecar only');
    await sync(pod);
    assert.deepEqual(started(cri), ['proxy', 'setup'], 'the sidecar runs: the next init container');
    assert.equal((await sync(pod)).apiStatus.phase, 'Pending', 'setup still runs: nothing else starts');
    assert.deepEqual(started(cri), ['proxy', 'setup']);
    cri.exitContainer((await cri.listContainers()).find((c) => c.metadata.name === 'setup')!.id, 0);
    await sync(pod);
    assert.deepEqual(started(cri), ['proxy', 'setup', 'logshipper']);
    const s = (await sync(pod)).apiStatus;
    assert.deepEqual(started(cri), ['proxy', 'setup', 'logshipper', 'app', 'worker']);
    assert.deepEqual(await containers(), {
      proxy: ['CONTAINER_RUNNING', 0],
      setup: ['CONTAINER_EXITED', 0],
      logshipper: ['CONTAINER_RUNNING', 0],
      app: ['CONTAINER_RUNNING', 0],
      worker: ['CONTAINER_RUNNING', 0],
    });
    assert.equal(s.phase, 'Running');
    assert.deepEqual(
      s.initContainerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})[0], c.ready]),
      [
        ['proxy', 'running', true],
        ['setup', 'terminated', true],
        ['logshipper', 'running', true],
      ],
    );
    for (const type of ['Initialized', 'ContainersReady', 'Ready'])
      assert.equal(s.conditions?.find((c) => c.type === type)?.status, 'True', type);
  });

  async function running(pod: Pod) {
    const env = await setup();
    await env.sync(pod);
    await env.sync(pod);
    env.cri.exitContainer(await env.idOf('setup'), 0);
    await env.sync(pod);
    await env.sync(pod);
    return env;
  }

  it('an exited sidecar is restarted under restartPolicy Never, with a restart counted', async (t) => {
    const pod = sidecarPod('uid-restart', 'Never');
    const { cri, a, sync, containers, idOf, clock } = await running(pod);
    t.after(() => a.stop());
    // (time passes between instances: the newest is the one created last, as in containerd)
    await clock.advanceAsync(1000, settle);
    cri.exitContainer(await idOf('proxy'), 1);
    await sync(pod);
    assert.deepEqual((await containers()).proxy, ['CONTAINER_RUNNING', 1]);
    // again, inside the crash-loop backoff: held, then restarted once it expired
    await clock.advanceAsync(1000, settle);
    cri.exitContainer(await idOf('proxy'), 1);
    const held = await sync(pod);
    assert.deepEqual(
      held.waiting.map((w) => [w.name, w.reason]),
      [['proxy', 'CrashLoopBackOff']],
    );
    await clock.advanceAsync(20_000, settle);
    const s = await sync(pod);
    assert.deepEqual((await containers()).proxy, ['CONTAINER_RUNNING', 2]);
    assert.equal(s.apiStatus.initContainerStatuses?.[0]?.restartCount, 2);
    assert.equal(s.apiStatus.phase, 'Running');
  });

  it('a Job-like pod (restartPolicy Never) completes when its regular containers finished; its sidecars are stopped', async (t) => {
    const pod = sidecarPod('uid-job', 'Never');
    const { cri, a, sync, containers, idOf } = await running(pod);
    t.after(() => a.stop());
    cri.exitContainer(await idOf('app'), 0);
    cri.exitContainer(await idOf('worker'), 0);
    const r = await sync(pod);
    assert.ok(r.actions.includes('killPod'), `the pod is killed: ${r.actions.join(', ')}`);
    const now = await containers();
    assert.deepEqual([now.proxy?.[0], now.logshipper?.[0]], ['CONTAINER_EXITED', 'CONTAINER_EXITED']);
    assert.equal(r.phase, 'Succeeded', "the sidecars' SIGTERM exits do not count");
  });

  it('on termination the regular containers stop first, then the sidecars one by one in reverse order', async (t) => {
    // StopContainer of `app` does not return until released: nothing after it may be stopped meanwhile
    let release!: () => void;
    const appStopped = new Promise<void>((r) => {
      release = r;
    });
    let appId = '';
    const gated = (cri: FakeCri): CriRuntime =>
      new Proxy(cri, {
        get(target, key) {
          if (key === 'stopContainer') {
            return async (id: string, timeout: number, opts?: object) => {
              const p = target.stopContainer(id, timeout, opts);
              if (id === appId) await appStopped;
              return p;
            };
          }
          const v = Reflect.get(target, key, target) as unknown;
          return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
        },
      });
    const pod = sidecarPod('uid-kill');
    const env = await setup(gated);
    t.after(() => env.a.stop());
    await env.sync(pod);
    await env.sync(pod);
    env.cri.exitContainer(await env.idOf('setup'), 0);
    await env.sync(pod);
    await env.sync(pod);
    appId = await env.idOf('app');
    const names = new Map((await env.cri.listContainers()).map((c) => [c.id, c.metadata.name]));
    const stops = () =>
      env.cri.calls.filter((c) => c.method === 'StopContainer').map((c) => names.get(c.args[0] as string));
    const n = env.send({ type: 'runtime.killPod', pod });
    await env.clock.advanceAsync(0, settle);
    assert.deepEqual(stops().sort(), ['app', 'worker'], 'the regular containers together; no sidecar while app stops');
    assert.equal(env.reply(n), undefined);
    // app takes its whole grace period (5 s) to stop
    await env.clock.advanceAsync(5000, settle);
    release();
    await env.clock.advanceAsync(0, settle);
    assert.deepEqual(stops().slice(2), ['logshipper', 'proxy'], 'then the sidecars, the last declared first');
    const timeouts = env.cri.calls.filter((c) => c.method === 'StopContainer').map((c) => c.args[1]);
    assert.deepEqual(timeouts, [5, 5, 2, 2], 'the grace is one deadline; a sidecar still gets 2 s (upstream minimum)');
    const r = env.reply(n);
    assert.ok(r && r.type === 'runtime.podKilled' && r.error === undefined);
  });
});
