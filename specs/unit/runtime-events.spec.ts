// The Kubernetes events the runtime actor records while it syncs and kills pods (upstream
// kuberuntime + image manager reasons and wording), on FakeCri and a VirtualClock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { CriError } from '../../protocols/cri/errors.ts';
import { applyPodDefaults } from '../../protocols/kube/defaults.ts';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import type { EventRecord, RuntimeReply } from '../../protocols/messages/channels.ts';
import { runtime } from '../../actors/runtime/index.ts';
import { ImageManager } from '../../actors/images/manager.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'registry.local/app:1.0';
const UID = 'uid-web';

function mkPod(name: string, uid: string, spec: Record<string, unknown> = {}): Pod {
  return applyPodDefaults(
    PodSchema.parse({
      metadata: { name, namespace: 'default', uid },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE }], ...spec },
    }) as Pod,
  );
}

const webPod = () => mkPod('web', UID);

/** A node with cluster DNS: these pods' DNS needs no fallback (no MissingClusterDNS events here). */
const CLUSTER_DNS = { clusterDns: ['10.96.0.10'], clusterDomain: 'cluster.local', resolvConf: '' };

/** Lets the actor's promise chains run to their end. */
async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

async function setup() {
  const clock = new VirtualClock(1_800_000_000_000);
  const cri = new FakeCri({ clock });
  const images = new ImageManager({ images: cri, clock });
  const a = await startActor(
    runtime,
    { cri, images, nodeName: 'node-a', podLogsDir: '/var/log/pods', dns: CLUSTER_DNS },
    { clock },
  );
  const events = collect(a.bus, 'events');
  const replies = collect(a.bus, 'runtimeReply');
  const port = a.bus.port('podWorkers');
  let seq = 0;
  const command = async (
    cmd: { type: 'runtime.syncPod'; pod: Pod } | { type: 'runtime.killPod'; pod: Pod | null; uid?: string },
  ): Promise<RuntimeReply> => {
    const n = ++seq;
    const uid = cmd.pod?.metadata.uid ?? ('uid' in cmd ? cmd.uid! : '');
    if (cmd.type === 'runtime.syncPod') port.send('runtime', { type: 'runtime.syncPod', uid, seq: n, pod: cmd.pod });
    else port.send('runtime', { type: 'runtime.killPod', uid, seq: n, pod: cmd.pod, gracePeriodSeconds: 1 });
    await clock.advanceAsync(0, settle);
    const r = replies.find((x) => x.seq === n);
    assert.ok(r, `no reply to ${cmd.type} #${n}`);
    return r;
  };
  /** The events recorded since the last call, as "Type Reason: message". */
  let seen = 0;
  const take = (): string[] => {
    const out = events.slice(seen).map((e) => `${e.eventType} ${e.reason}: ${e.message}`);
    seen = events.length;
    return out;
  };
  const running = async () =>
    (await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'app' } })).filter(
      (c) => c.state === 'CONTAINER_RUNNING',
    );
  return { clock, cri, a, events, command, take, running };
}

const onApp = (e: EventRecord) => e.involvedObject.fieldPath === 'spec.containers{app}';

describe('runtime events', () => {
  it('a first start: Pulling, Pulled, Created, Started on spec.containers{app}; the next pod finds the image present', async (t) => {
    const { a, events, command, take } = await setup();
    t.after(() => a.stop());
    const r = await command({ type: 'runtime.syncPod', pod: webPod() });
    assert.equal(r.type === 'runtime.podSynced' && r.result.error, undefined);
    const got = take();
    assert.equal(got.length, 4, got.join('\n'));
    assert.equal(got[0], `Normal Pulling: Pulling image "${IMAGE}"`);
    assert.match(
      got[1]!,
      new RegExp(
        `^Normal Pulled: Successfully pulled image "${IMAGE.replace(/[.]/g, '\\.')}" in 0s \\(0s including waiting\\)\\. Image size: \\d+ bytes\\.$`,
      ),
    );
    assert.deepEqual(got.slice(2), ['Normal Created: Created container: app', 'Normal Started: Started container app']);
    assert.ok(events.every(onApp), 'every event names the container');
    assert.deepEqual(events[0]!.involvedObject, {
      kind: 'Pod',
      apiVersion: 'v1',
      namespace: 'default',
      name: 'web',
      uid: UID,
      fieldPath: 'spec.containers{app}',
    });

    const other = mkPod('db', 'uid-db', { initContainers: [{ name: 'setup', image: IMAGE }] });
    await command({ type: 'runtime.syncPod', pod: other });
    assert.deepEqual(take(), [
      `Normal Pulled: Container image "${IMAGE}" already present on machine`,
      'Normal Created: Created container: setup',
      'Normal Started: Started container setup',
    ]);
    assert.equal(events.at(-1)!.involvedObject.fieldPath, 'spec.initContainers{setup}');
  });

  it('a crash loop: the first restart is immediate, the next sync inside the back-off records BackOff', async (t) => {
    const { cri, a, events, command, take, running } = await setup();
    t.after(() => a.stop());
    cri.addImage(IMAGE);
    const pod = webPod();
    await command({ type: 'runtime.syncPod', pod });
    take();
    cri.exitContainer((await running())[0]!.id, 1);
    await command({ type: 'runtime.syncPod', pod });
    assert.deepEqual(take(), [
      `Normal Pulled: Container image "${IMAGE}" already present on machine`,
      'Normal Created: Created container: app',
      'Normal Started: Started container app',
    ]);
    cri.exitContainer((await running())[0]!.id, 1);
    const r = await command({ type: 'runtime.syncPod', pod });
    assert.deepEqual(take(), [`Warning BackOff: Back-off restarting failed container app in pod web_default(${UID})`]);
    assert.ok(onApp(events.at(-1)!));
    assert.equal(r.type === 'runtime.podSynced' && r.result.waiting[0]?.reason, 'CrashLoopBackOff');
  });

  it('a kill: Killing "Stopping container app"; an orphan is named from its labels; a failing stop is FailedKillPod', async (t) => {
    const { cri, a, events, command, take } = await setup();
    t.after(() => a.stop());
    cri.addImage(IMAGE);
    await command({ type: 'runtime.syncPod', pod: webPod() });
    take();
    await command({ type: 'runtime.killPod', pod: webPod() });
    assert.deepEqual(take(), ['Normal Killing: Stopping container app']);
    assert.ok(onApp(events.at(-1)!));

    const orphan = mkPod('old', 'uid-old');
    await command({ type: 'runtime.syncPod', pod: orphan });
    take();
    await command({ type: 'runtime.killPod', pod: null, uid: 'uid-old' });
    assert.deepEqual(take(), ['Normal Killing: Stopping container app']);
    assert.deepEqual(events.at(-1)!.involvedObject, {
      kind: 'Pod',
      apiVersion: 'v1',
      namespace: 'default',
      name: 'old',
      uid: 'uid-old',
      fieldPath: 'implicitly required container app',
    });

    await command({ type: 'runtime.syncPod', pod: webPod() });
    take();
    cri.stopContainer = () => Promise.reject(new CriError('Unknown', 2, 'StopContainer', 'cannot stop'));
    const r = await command({ type: 'runtime.killPod', pod: webPod() });
    assert.equal(r.type === 'runtime.podKilled' && r.error, 'CRI StopContainer: Unknown: cannot stop');
    assert.deepEqual(take(), [
      'Normal Killing: Stopping container app',
      'Warning FailedKillPod: error killing pod: CRI StopContainer: Unknown: cannot stop',
    ]);
    assert.equal(events.at(-1)!.involvedObject.fieldPath, undefined, 'FailedKillPod is about the pod');
  });

  it('a pull failure: Pulling, Failed with the runtime error, Failed "Error: ErrImagePull"; then BackOff and "Error: ImagePullBackOff"', async (t) => {
    const { cri, a, events, command, take } = await setup();
    t.after(() => a.stop());
    cri.failPull(IMAGE, `failed to resolve reference "${IMAGE}": not found`, 'NotFound');
    const pod = webPod();
    await command({ type: 'runtime.syncPod', pod });
    assert.deepEqual(take(), [
      `Normal Pulling: Pulling image "${IMAGE}"`,
      `Warning Failed: Failed to pull image "${IMAGE}": rpc error: code = NotFound desc = failed to resolve reference "${IMAGE}": not found`,
      'Warning Failed: Error: ErrImagePull',
    ]);
    await command({ type: 'runtime.syncPod', pod });
    assert.deepEqual(take(), [
      `Normal BackOff: Back-off pulling image "${IMAGE}"`,
      'Warning Failed: Error: ImagePullBackOff',
    ]);
    assert.ok(events.every(onApp));
  });

  it('sandboxes: SandboxChanged when the sandbox died, FailedCreatePodSandBox when the runtime refuses one', async (t) => {
    const { cri, a, events, command, take } = await setup();
    t.after(() => a.stop());
    cri.addImage(IMAGE);
    const pod = webPod();
    await command({ type: 'runtime.syncPod', pod });
    take();
    await cri.stopPodSandbox(cri.sandboxIds()[0]!);
    await command({ type: 'runtime.syncPod', pod });
    const got = take();
    assert.equal(got[0], 'Normal SandboxChanged: Pod sandbox changed, it will be killed and re-created.');
    assert.equal(events.at(-got.length)!.involvedObject.fieldPath, undefined);
    assert.deepEqual(got.slice(-2), [
      'Normal Created: Created container: app',
      'Normal Started: Started container app',
    ]);

    const fresh = mkPod('net', 'uid-net');
    cri.runPodSandbox = () =>
      Promise.reject(
        new CriError('Unknown', 2, 'RunPodSandbox', 'failed to setup network for sandbox "abc": cni not initialized'),
      );
    const r = await command({ type: 'runtime.syncPod', pod: fresh });
    assert.ok(r.type === 'runtime.podSynced' && r.result.error);
    assert.deepEqual(take(), [
      'Warning FailedCreatePodSandBox: Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "abc": cni not initialized',
    ]);
  });

  it('a container the runtime will not create or start: Failed "Error: <runtime message>"', async (t) => {
    const { cri, a, command, take } = await setup();
    t.after(() => a.stop());
    cri.addImage(IMAGE);
    const create = cri.createContainer.bind(cri);
    cri.createContainer = () => Promise.reject(new CriError('Unknown', 2, 'CreateContainer', 'no such device'));
    await command({ type: 'runtime.syncPod', pod: webPod() });
    assert.deepEqual(take().slice(1), ['Warning Failed: Error: no such device']);
    cri.createContainer = create;
    cri.startContainer = () =>
      Promise.reject(new CriError('Unknown', 2, 'StartContainer', 'exec: "nope": executable file not found'));
    await command({ type: 'runtime.syncPod', pod: webPod() });
    assert.deepEqual(take().slice(1), [
      'Normal Created: Created container: app',
      'Warning Failed: Error: exec: "nope": executable file not found',
    ]);
  });

  it('a pod using a field kubelet-ts does not support: the container is never created, waits with CreateContainerConfigError naming the field, and the pod gets one Warning', async (t) => {
    const { cri, a, events, command, take } = await setup();
    t.after(() => a.stop());
    cri.addImage(IMAGE);
    const pod = mkPod('probed', 'uid-probed', {
      containers: [
        { name: 'app', image: IMAGE, lifecycle: { stopSignal: 'SIGUSR1' } },
        { name: 'plain', image: IMAGE },
      ],
    });
    for (let i = 0; i < 3; i++) {
      const r = await command({ type: 'runtime.syncPod', pod });
      assert.ok(r.type === 'runtime.podSynced');
      assert.equal(r.result.error, undefined);
      assert.deepEqual(r.result.waiting, [
        {
          name: 'app',
          reason: 'CreateContainerConfigError',
          message: 'spec.containers[0].lifecycle.stopSignal: not supported by kubelet-ts',
        },
      ]);
      const app = r.result.apiStatus.containerStatuses!.find((c) => c.name === 'app')!;
      assert.deepEqual(app.state, {
        waiting: {
          reason: 'CreateContainerConfigError',
          message: 'spec.containers[0].lifecycle.stopSignal: not supported by kubelet-ts',
        },
      });
      assert.equal(r.result.apiStatus.phase, 'Pending');
    }
    const created = cri.calls
      .filter((c) => c.method === 'CreateContainer')
      .map((c) => (c.args[1] as { metadata: { name: string } }).metadata.name);
    assert.deepEqual(created, ['plain'], 'only the supported container was created');
    const warnings = events.filter((e) => e.eventType === 'Warning');
    assert.equal(warnings.length, 1, take().join('\n'));
    assert.deepEqual(warnings[0]!.involvedObject, {
      kind: 'Pod',
      apiVersion: 'v1',
      namespace: 'default',
      name: 'probed',
      uid: 'uid-probed',
    });
    assert.equal(warnings[0]!.reason, 'Failed');
    assert.equal(warnings[0]!.message, 'Error: spec.containers[0].lifecycle.stopSignal: not supported by kubelet-ts');

    // A pod-level field holds every container, and a new list of fields is said again.
    const withVolume = mkPod('probed', 'uid-probed', {
      containers: [
        { name: 'app', image: IMAGE },
        { name: 'plain', image: IMAGE },
      ],
      resourceClaims: [{ name: 'gpu' }],
    });
    take();
    const r = await command({ type: 'runtime.syncPod', pod: withVolume });
    assert.ok(r.type === 'runtime.podSynced');
    assert.deepEqual(
      r.result.waiting.map((w) => [w.name, w.reason, w.message]),
      [['app', 'CreateContainerConfigError', 'spec.resourceClaims: not supported by kubelet-ts']],
      'plain keeps running; app is held',
    );
    assert.deepEqual(take(), ['Warning Failed: Error: spec.resourceClaims: not supported by kubelet-ts']);
  });
});
