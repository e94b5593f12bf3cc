// The runtime actor's lifecycle hooks on FakeCri and a VirtualClock: postStart after
// StartContainer with the sync waiting for it, a failing postStart (FailedPostStartHook, the kill,
// PostStartHookError, the restart), preStop before every stop with its time counted against the
// grace and upstream's 2 s floor after it, sidecars' hooks at the start of the kill and their
// stops in their turn, a preStop on a kill within a sync, and the handlers' messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import type { RuntimeReply, SyncResult } from '../../protocols/messages/channels.ts';
import { runtime } from '../../actors/runtime/index.ts';
import { runLifecycleHandler } from '../../actors/runtime/hooks.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { lifecycleRunner, type LifecycleRunner } from '../../adapters/handlers/lifecycle.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'registry.local/app:1.0';
const IMAGE2 = 'registry.local/app:2.0';

function mkPod(uid: string, spec: Record<string, unknown>): Pod {
  return applyPodDefaults(PodSchema.parse({ metadata: { name: uid, namespace: 'default', uid }, spec }) as Pod);
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

/** A promise and its resolver: a hook held until the spec lets it go. */
function held<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function setup(hooks?: LifecycleRunner) {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  cri.addImage(IMAGE);
  cri.addImage(IMAGE2);
  const images = new ImageManager({ images: cri, clock });
  const a = await startActor(
    runtime,
    { cri, images, nodeName: 'node-a', podLogsDir: '/var/log/pods', ...(hooks ? { hooks } : {}) },
    { clock },
  );
  const replies = collect(a.bus, 'runtimeReply');
  const events = collect(a.bus, 'events');
  let seq = 0;
  const send = (type: 'runtime.syncPod' | 'runtime.killPod', pod: Pod, grace = 10) => {
    const n = ++seq;
    const uid = pod.metadata.uid!;
    if (type === 'runtime.syncPod') a.bus.port('podWorkers').send('runtime', { type, uid, seq: n, pod });
    else a.bus.port('podWorkers').send('runtime', { type, uid, seq: n, pod, gracePeriodSeconds: grace });
    return n;
  };
  const reply = (n: number): RuntimeReply | undefined => replies.find((x) => x.seq === n);
  const sync = async (pod: Pod): Promise<SyncResult> => {
    const n = send('runtime.syncPod', pod);
    await clock.advanceAsync(0, settle);
    const r = reply(n);
    assert.ok(r && r.type === 'runtime.podSynced', `no reply to syncPod #${n}`);
    return r.result;
  };
  /** The CRI calls that change something, as `Method name [timeout]`. */
  const decisions = () =>
    cri.calls.flatMap((c) => {
      if (c.method === 'StartContainer') return [`StartContainer ${names.get(c.args[0] as string)}`];
      if (c.method === 'StopContainer') return [`StopContainer ${names.get(c.args[0] as string)} ${c.args[1]}`];
      if (c.method === 'ExecSync')
        return [`ExecSync ${names.get(c.args[0] as string)} ${(c.args[1] as string[]).join(' ')}`];
      return [];
    });
  const names = new Map<string, string>();
  const refreshNames = async () => {
    for (const c of await cri.listContainers()) names.set(c.id, c.metadata.name);
  };
  const calls = async () => {
    await refreshNames();
    return decisions();
  };
  const hookEvents = () =>
    events
      .filter((e) => /Hook|Killing|Started|LifecycleHTTPFallback/.test(e.reason))
      .map((e) => `${e.reason} ${e.involvedObject.fieldPath ?? ''}: ${e.message}`);
  return { cri, a, clock, send, reply, sync, calls, events, hookEvents };
}

describe('runtime: postStart hooks', () => {
  it('run right after StartContainer; the sync waits for the hook before it answers', async (t) => {
    const { cri, a, clock, send, reply, calls, hookEvents } = await setup();
    t.after(() => a.stop());
    const hook = held<{ exitCode: number }>();
    cri.onExec(() => hook.promise);
    const pod = mkPod('uid-ps', {
      containers: [
        { name: 'app', image: IMAGE, lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo hi > /msg'] } } } },
      ],
    });
    const n = send('runtime.syncPod', pod);
    await clock.advanceAsync(0, settle);
    assert.equal(reply(n), undefined, 'no answer while postStart runs: the container is not reported running');
    assert.deepEqual(await calls(), ['StartContainer app', 'ExecSync app sh -c echo hi > /msg']);
    assert.deepEqual(hookEvents(), ['Started spec.containers{app}: Started container app']);
    hook.resolve({ exitCode: 0 });
    await clock.advanceAsync(0, settle);
    const r = reply(n);
    assert.ok(r?.type === 'runtime.podSynced');
    assert.deepEqual(r.result.waiting, []);
    assert.ok(r.result.apiStatus.containerStatuses?.[0]?.state?.running, 'running once the hook is done');
    assert.equal(r.result.phase, 'Running');
  });

  it('a failing one: FailedPostStartHook, the container killed and held as PostStartHookError, then restarted', async (t) => {
    const { cri, a, sync, calls, hookEvents } = await setup();
    t.after(() => a.stop());
    cri.onExec(() => ({ exitCode: 1, stderr: Buffer.from('no such file') }));
    const pod = mkPod('uid-fail', {
      terminationGracePeriodSeconds: 7,
      containers: [{ name: 'app', image: IMAGE, lifecycle: { postStart: { exec: { command: ['cat', '/nope'] } } } }],
    });
    const r = await sync(pod);
    assert.deepEqual(await calls(), ['StartContainer app', 'ExecSync app cat /nope', 'StopContainer app 7']);
    assert.deepEqual(hookEvents(), [
      'Started spec.containers{app}: Started container app',
      'FailedPostStartHook spec.containers{app}: PostStartHook failed',
      'Killing spec.containers{app}: FailedPostStartHook',
    ]);
    const message =
      'Exec lifecycle hook ([cat /nope]) for Container "app" in Pod "uid-fail_default(uid-fail)" failed - error: ' +
      'command \'cat /nope\' exited with 1: no such file, message: "no such file"';
    assert.deepEqual(r.waiting, [{ name: 'app', reason: 'PostStartHookError', message }]);
    const s = r.apiStatus.containerStatuses![0]!;
    assert.deepEqual(s.state, { waiting: { reason: 'PostStartHookError', message } });
    assert.equal(s.lastState?.terminated?.exitCode, 143);
    // restartPolicy Always: the next sync starts it again (attempt 1), the hook runs again
    await sync(pod);
    const attempts = (await cri.listContainers()).map((c) => c.metadata.attempt).sort();
    assert.deepEqual(attempts, [0, 1]);
    // then the crash-loop backoff holds it
    const third = await sync(pod);
    assert.equal(third.waiting[0]?.reason, 'CrashLoopBackOff');
  });

  it('an HTTPS hook answered in plain HTTP: sent again over HTTP, a LifecycleHTTPFallback Warning on the pod', async (t) => {
    const sent: string[] = [];
    const runner: LifecycleRunner = {
      exec: () => Promise.reject(new Error('unused')),
      httpGet: (req) => {
        sent.push(`${req.scheme}://${req.host}:${req.port}${req.path}`);
        return Promise.resolve(
          req.scheme === 'https'
            ? {
                kind: 'error',
                url: '',
                error: 'Get "https://10.88.0.2:8443/up": http: server gave HTTP response to HTTPS client',
                httpResponseToHttps: true,
              }
            : { kind: 'response', url: '', code: 204, body: '' },
        );
      },
      close: () => Promise.resolve(),
    };
    const { a, sync, events } = await setup(runner);
    t.after(() => a.stop());
    const pod = mkPod('uid-tls', {
      containers: [
        {
          name: 'app',
          image: IMAGE,
          lifecycle: { postStart: { httpGet: { scheme: 'HTTPS', port: 8443, path: '/up' } } },
        },
      ],
    });
    const r = await sync(pod);
    assert.deepEqual(r.waiting, []);
    assert.deepEqual(sent, ['https://10.88.0.2:8443/up', 'http://10.88.0.2:8443/up'], 'the pod IP by default');
    const fallback = events.find((e) => e.reason === 'LifecycleHTTPFallback');
    assert.equal(fallback?.eventType, 'Warning');
    assert.equal(fallback?.involvedObject.kind, 'Pod');
    assert.equal(
      fallback?.message,
      'request to HTTPS lifecycle hook 10.88.0.2:8443 got HTTP response, retry with HTTP succeeded',
    );
  });

  it('a tcpSocket hook is not run, as upstream: it fails', async (t) => {
    const { a, sync } = await setup();
    t.after(() => a.stop());
    const pod = mkPod('uid-tcp', {
      containers: [{ name: 'app', image: IMAGE, lifecycle: { postStart: { tcpSocket: { port: 80 } } } }],
    });
    const r = await sync(pod);
    assert.equal(r.waiting[0]?.reason, 'PostStartHookError');
    assert.match(r.waiting[0]!.message, /^Cannot run handler: invalid handler: tcpSocket/);
  });
});

describe('runtime: preStop hooks', () => {
  it("run before StopContainer; the hook's time is counted against the grace period", async (t) => {
    const { a, clock, send, reply, sync, calls, hookEvents } = await setup();
    t.after(() => a.stop());
    const pod = mkPod('uid-stop', {
      containers: [{ name: 'app', image: IMAGE, lifecycle: { preStop: { sleep: { seconds: 3 } } } }],
    });
    await sync(pod);
    const n = send('runtime.killPod', pod, 10);
    await clock.advanceAsync(0, settle);
    assert.deepEqual(
      hookEvents().slice(1),
      ['Killing spec.containers{app}: Stopping container app'],
      'Killing comes before the hook',
    );
    assert.deepEqual(await calls(), ['StartContainer app'], 'no stop while the hook sleeps');
    await clock.advanceAsync(2999, settle);
    assert.equal(reply(n), undefined);
    await clock.advanceAsync(1, settle);
    assert.deepEqual(await calls(), ['StartContainer app', 'StopContainer app 7']);
    assert.ok(reply(n)?.type === 'runtime.podKilled');
  });

  it('a hook that outlasts the grace period is left behind: the container still gets 2 s', async (t) => {
    const { cri, a, clock, send, reply, sync, calls, hookEvents } = await setup();
    t.after(() => a.stop());
    cri.onExec(() => new Promise(() => {}));
    const pod = mkPod('uid-slow', {
      containers: [{ name: 'app', image: IMAGE, lifecycle: { preStop: { exec: { command: ['sleep', '1000'] } } } }],
    });
    await sync(pod);
    const n = send('runtime.killPod', pod, 5);
    await clock.advanceAsync(4999, settle);
    assert.deepEqual(await calls(), ['StartContainer app', 'ExecSync app sleep 1000']);
    await clock.advanceAsync(1, settle);
    assert.deepEqual((await calls()).at(-1), 'StopContainer app 2', 'upstream minimumGracePeriodInSeconds');
    assert.ok(reply(n)?.type === 'runtime.podKilled');
    assert.ok(!hookEvents().some((e) => e.startsWith('FailedPreStopHook')), 'abandoned, not failed');
  });

  it('a failing hook: FailedPreStopHook, and the container is stopped with what is left', async (t) => {
    const { cri, a, clock, send, sync, calls, hookEvents } = await setup();
    t.after(() => a.stop());
    cri.onExec(() => ({ exitCode: 2 }));
    const pod = mkPod('uid-bad', {
      containers: [{ name: 'app', image: IMAGE, lifecycle: { preStop: { exec: { command: ['false'] } } } }],
    });
    await sync(pod);
    send('runtime.killPod', pod, 30);
    await clock.advanceAsync(0, settle);
    assert.deepEqual((await calls()).slice(1), ['ExecSync app false', 'StopContainer app 30']);
    assert.deepEqual(hookEvents().slice(1), [
      'Killing spec.containers{app}: Stopping container app',
      'FailedPreStopHook spec.containers{app}: PreStopHook failed',
    ]);
  });

  it('a force delete (grace 0) runs no hook', async (t) => {
    const { cri, a, clock, send, sync, calls } = await setup();
    t.after(() => a.stop());
    cri.onExec(() => new Promise(() => {}));
    const pod = mkPod('uid-force', {
      containers: [{ name: 'app', image: IMAGE, lifecycle: { preStop: { exec: { command: ['sleep', '9'] } } } }],
    });
    await sync(pod);
    send('runtime.killPod', pod, 0);
    await clock.advanceAsync(0, settle);
    assert.deepEqual((await calls()).slice(1), ['StopContainer app 0']);
  });

  it('sidecars: every hook starts as the kill begins; each container is stopped in its turn, after its hook', async (t) => {
    const { cri, a, clock, send, reply, sync, calls } = await setup();
    t.after(() => a.stop());
    const proxyHook = held<{ exitCode: number }>();
    cri.onExec(() => proxyHook.promise);
    const pod = mkPod('uid-side', {
      initContainers: [
        {
          name: 'proxy',
          image: IMAGE,
          restartPolicy: 'Always',
          lifecycle: { preStop: { exec: { command: ['drain'] } } },
        },
      ],
      containers: [{ name: 'app', image: IMAGE, lifecycle: { preStop: { sleep: { seconds: 2 } } } }],
    });
    await sync(pod);
    await sync(pod);
    const n = send('runtime.killPod', pod, 10);
    await clock.advanceAsync(0, settle);
    assert.deepEqual(
      (await calls()).slice(2),
      ['ExecSync proxy drain'],
      "the sidecar's hook runs from the start, with the app's sleep",
    );
    await clock.advanceAsync(2000, settle);
    assert.deepEqual(
      (await calls()).slice(2),
      ['ExecSync proxy drain', 'StopContainer app 8'],
      'the app after its hook; the sidecar waits for its own',
    );
    await clock.advanceAsync(3000, settle);
    proxyHook.resolve({ exitCode: 0 });
    await clock.advanceAsync(0, settle);
    assert.deepEqual((await calls()).slice(2), [
      'ExecSync proxy drain',
      'StopContainer app 8',
      'StopContainer proxy 5',
    ]);
    assert.ok(reply(n)?.type === 'runtime.podKilled');
  });

  it('an orphan (its pod no longer known) gets the hook its annotations kept, as upstream restores it', async (t) => {
    const { a, clock, reply, sync, calls, hookEvents } = await setup();
    t.after(() => a.stop());
    const pod = mkPod('uid-orphan', {
      containers: [{ name: 'app', image: IMAGE, lifecycle: { preStop: { sleep: { seconds: 1 } } } }],
    });
    await sync(pod);
    a.bus
      .port('podWorkers')
      .send('runtime', { type: 'runtime.killPod', uid: 'uid-orphan', seq: 99, pod: null, gracePeriodSeconds: 4 });
    await clock.advanceAsync(0, settle);
    assert.deepEqual(await calls(), ['StartContainer app'], 'the hook sleeps first');
    await clock.advanceAsync(1000, settle);
    assert.deepEqual(await calls(), ['StartContainer app', 'StopContainer app 3']);
    assert.ok(reply(99)?.type === 'runtime.podKilled');
    assert.equal(hookEvents().at(-1), 'Killing implicitly required container app: Stopping container app');
  });

  it('a kill within a sync (the definition changed) runs the hook before the stop', async (t) => {
    const { a, clock, send, reply, sync, calls } = await setup();
    t.after(() => a.stop());
    const spec = (image: string) => ({
      containers: [{ name: 'app', image, lifecycle: { preStop: { sleep: { seconds: 4 } } } }],
      terminationGracePeriodSeconds: 5,
    });
    await sync(mkPod('uid-change', spec(IMAGE)));
    const n = send('runtime.syncPod', mkPod('uid-change', spec(IMAGE2)));
    await clock.advanceAsync(3999, settle);
    assert.deepEqual(await calls(), ['StartContainer app']);
    await clock.advanceAsync(1, settle);
    assert.deepEqual(await calls(), ['StartContainer app', 'StopContainer app 2', 'StartContainer app']);
    assert.ok(reply(n)?.type === 'runtime.podSynced');
  });
});

describe('lifecycle handlers (runLifecycleHandler)', () => {
  const clock = new VirtualClock(0);
  const pod = mkPod('uid-h', {
    containers: [{ name: 'web', image: IMAGE, ports: [{ name: 'http', containerPort: 8080 }] }],
  });
  const web = pod.spec.containers[0]!;

  it("httpGet: the pod IP and a named port by default; any answer is success; no answer fails with Go's words", async () => {
    const seen: unknown[] = [];
    const runner: LifecycleRunner = {
      exec: () => Promise.reject(new Error('unused')),
      httpGet: (req) => {
        seen.push(req);
        return Promise.resolve(
          req.port === 8080
            ? { kind: 'response', url: '', code: 500, body: '' }
            : {
                kind: 'error',
                url: '',
                error: 'Get "http://10.0.0.9:81/x": dial tcp 10.0.0.9:81: connect: connection refused',
                httpResponseToHttps: false,
              },
        );
      },
      close: () => Promise.resolve(),
    };
    assert.deepEqual(
      await runLifecycleHandler(
        runner,
        clock,
        pod,
        web,
        { httpGet: { port: 'http', path: '/hook' } },
        { containerId: 'c', podIP: '10.0.0.9' },
      ),
      { ok: true },
    );
    assert.deepEqual(seen[0], { scheme: 'http', host: '10.0.0.9', port: 8080, path: '/hook', headers: [] });
    assert.deepEqual(
      await runLifecycleHandler(
        runner,
        clock,
        pod,
        web,
        { httpGet: { port: 81, path: '/x' } },
        { containerId: 'c', podIP: '10.0.0.9' },
      ),
      {
        ok: false,
        error: 'Get "http://10.0.0.9:81/x": dial tcp 10.0.0.9:81: connect: connection refused',
        message:
          'HTTP lifecycle hook (/x) for Container "web" in Pod "uid-h_default(uid-h)" failed - error: Get "http://10.0.0.9:81/x": dial tcp 10.0.0.9:81: connect: connection refused',
      },
    );
    const noPort = await runLifecycleHandler(
      runner,
      clock,
      pod,
      web,
      { httpGet: { port: 'nope', path: '/' } },
      { containerId: 'c', podIP: '10.0.0.9' },
    );
    assert.ok(!noPort.ok && noPort.error === 'port nope not found');
  });

  it('httpGet HTTPS answered in plain HTTP: sent again over HTTP, headers kept but Authorization, and the fallback said (real server)', async (t) => {
    const got: { auth?: string; x?: string }[] = [];
    const server = createServer((req, res) => {
      got.push({ auth: req.headers.authorization, x: req.headers['x-hook'] as string | undefined });
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const runner = lifecycleRunner({ cri: { execSync: () => Promise.reject(new Error('unused')) }, clock });
    t.after(() => runner.close());
    const o = await runLifecycleHandler(
      runner,
      clock,
      pod,
      web,
      {
        httpGet: {
          scheme: 'HTTPS',
          host: '127.0.0.1',
          port,
          path: '/pre',
          httpHeaders: [
            { name: 'Authorization', value: 'Bearer x' },
            { name: 'X-Hook', value: 'y' },
          ],
        },
      },
      { containerId: 'c', podIP: '' },
    );
    assert.deepEqual(o, { ok: true, fellBack: `127.0.0.1:${port}` });
    assert.deepEqual(got, [{ auth: undefined, x: 'y' }]);
  });

  it("sleep: on the clock; ended early by the signal with upstream's error", async () => {
    const c = new VirtualClock(0);
    const runner = {} as LifecycleRunner;
    const done = runLifecycleHandler(runner, c, pod, web, { sleep: { seconds: 5 } }, { containerId: 'c', podIP: '' });
    let finished = false;
    void done.then(() => {
      finished = true;
    });
    await c.advanceAsync(4999, settle);
    assert.equal(finished, false);
    await c.advanceAsync(1, settle);
    assert.deepEqual(await done, { ok: true });
    const ac = new AbortController();
    const cut = runLifecycleHandler(
      runner,
      c,
      pod,
      web,
      { sleep: { seconds: 5 } },
      { containerId: 'c', podIP: '', signal: ac.signal },
    );
    ac.abort();
    assert.deepEqual(await cut, {
      ok: false,
      error: 'container terminated before sleep hook finished',
      message:
        'Sleep lifecycle hook (5) for Container "web" in Pod "uid-h_default(uid-h)" failed - error: container terminated before sleep hook finished',
    });
  });
});
