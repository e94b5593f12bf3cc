import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../kernel/clock.ts';
import { CriError, isCriError } from '../../protocols/cri/errors.ts';
import type { ContainerConfig, PodSandboxConfig } from '../../protocols/cri/types.ts';
import { FakeCri } from '../support/fake-cri.ts';

const UID = 'uid-web';

function sandboxConfig(overrides: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name: 'web', namespace: 'default', uid: UID, attempt: 0 },
    labels: { 'io.kubernetes.pod.uid': UID, 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'default' },
    annotations: { 'kubernetes.io/config.source': 'file' },
    logDirectory: '/var/log/pods/default_web_uid-web',
    ...overrides,
  };
}

function containerConfig(name: string, attempt = 0, image = 'busybox'): ContainerConfig {
  return {
    metadata: { name, attempt },
    image: { image },
    labels: { 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': name },
    annotations: { 'io.kubernetes.container.restartCount': String(attempt) },
    logPath: `${name}/${attempt}.log`,
  };
}

async function setup() {
  const clock = new VirtualClock(1_000);
  const cri = new FakeCri({ clock });
  cri.addImage('busybox');
  const sb = await cri.runPodSandbox(sandboxConfig());
  return { clock, cri, sb };
}

async function rejects(p: Promise<unknown>, kind: CriError['kind'], match?: RegExp): Promise<CriError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isCriError(e, kind), `expected CriError ${kind}, got ${String(e)}`);
    if (match) assert.match(e.message, match);
    return e;
  }
  assert.fail(`expected a ${kind} rejection`);
}

describe('FakeCri', () => {
  it('gives deterministic 64-hex ids, the same for the same sequence of calls', async () => {
    const a = await setup();
    const b = await setup();
    assert.match(a.sb, /^[0-9a-f]{64}$/);
    assert.equal(a.sb, b.sb);
    const ca = await a.cri.createContainer(a.sb, containerConfig('app'), sandboxConfig());
    const cb = await b.cri.createContainer(b.sb, containerConfig('app'), sandboxConfig());
    assert.equal(ca, cb);
    assert.notEqual(ca, a.sb);
  });

  it('runs a sandbox with labels, annotations, an IP from 10.88.0.0/16 and clock timestamps in ns', async () => {
    const { cri, sb, clock } = await setup();
    const st = await cri.podSandboxStatus(sb);
    assert.equal(st.state, 'SANDBOX_READY');
    assert.equal(st.network?.ip, '10.88.0.2');
    assert.equal(st.createdAt, 1_000 * 1_000_000);
    assert.equal(st.labels['io.kubernetes.pod.uid'], UID);
    assert.equal(st.annotations['kubernetes.io/config.source'], 'file');
    clock.advance(5);
    const sb2 = await cri.runPodSandbox(
      sandboxConfig({ metadata: { name: 'db', namespace: 'default', uid: 'uid-db', attempt: 0 } }),
    );
    assert.equal((await cri.podSandboxStatus(sb2)).network?.ip, '10.88.0.3');
    const host = await cri.runPodSandbox(
      sandboxConfig({
        metadata: { name: 'host', namespace: 'default', uid: 'uid-host', attempt: 0 },
        linux: { securityContext: { namespaceOptions: { network: 'NODE' } } },
      }),
    );
    assert.equal((await cri.podSandboxStatus(host)).network?.ip, '');
  });

  it('takes containers through CREATED → RUNNING → EXITED with timestamps, exit code and reason', async () => {
    const { cri, sb, clock } = await setup();
    const id = await cri.createContainer(sb, containerConfig('app'), sandboxConfig());
    let st = await cri.containerStatus(id);
    assert.equal(st.state, 'CONTAINER_CREATED');
    assert.equal(st.startedAt, 0);
    clock.advance(10);
    await cri.startContainer(id);
    st = await cri.containerStatus(id);
    assert.equal(st.state, 'CONTAINER_RUNNING');
    assert.equal(st.startedAt, 1_010 * 1e6);
    assert.equal(st.finishedAt, 0);
    assert.equal(st.image.image, 'docker.io/library/busybox:latest');
    assert.match(st.imageRef, /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
    assert.equal(st.logPath, '/var/log/pods/default_web_uid-web/app/0.log');
    clock.advance(20);
    cri.exitContainer(id, 3);
    st = await cri.containerStatus(id);
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    assert.equal(st.finishedAt, 1_030 * 1e6);

    const ok = await cri.createContainer(sb, containerConfig('ok'), sandboxConfig());
    await cri.startContainer(ok);
    cri.exitContainer(ok, 0);
    assert.equal((await cri.containerStatus(ok)).reason, 'Completed');
    const oom = await cri.createContainer(sb, containerConfig('oom'), sandboxConfig());
    await cri.startContainer(oom);
    cri.exitContainer(oom, 137, 'OOMKilled');
    assert.equal((await cri.containerStatus(oom)).reason, 'OOMKilled');
  });

  it('refuses to start a container twice and to exec in one that is not running', async () => {
    const { cri, sb } = await setup();
    const id = await cri.createContainer(sb, containerConfig('app'), sandboxConfig());
    await rejects(cri.execSync(id, ['true'], 1), 'Unknown', /container is in CONTAINER_CREATED state/);
    await cri.startContainer(id);
    await rejects(cri.startContainer(id), 'Unknown', /container is in CONTAINER_RUNNING state/);
  });

  it('reserves names like containerd: same sandbox attempt or same container attempt is refused', async () => {
    const { cri, sb } = await setup();
    await rejects(
      cri.runPodSandbox(sandboxConfig()),
      'FailedPrecondition',
      /failed to reserve sandbox name "web_default_uid-web_0"/,
    );
    const id = await cri.createContainer(sb, containerConfig('app'), sandboxConfig());
    await rejects(
      cri.createContainer(sb, containerConfig('app'), sandboxConfig()),
      'FailedPrecondition',
      /is reserved for/,
    );
    await cri.createContainer(sb, containerConfig('app', 1), sandboxConfig());
    await cri.removeContainer(id);
    await cri.createContainer(sb, containerConfig('app', 0), sandboxConfig());
  });

  it('needs a ready sandbox and a local image to create a container', async () => {
    const { cri, sb } = await setup();
    await rejects(
      cri.createContainer('0'.repeat(64), containerConfig('app'), sandboxConfig()),
      'NotFound',
      /failed to find sandbox id/,
    );
    await rejects(
      cri.createContainer(sb, containerConfig('app', 0, 'nginx:1.27'), sandboxConfig()),
      'NotFound',
      /failed to resolve image "nginx:1.27"/,
    );
    await cri.stopPodSandbox(sb);
    await rejects(cri.createContainer(sb, containerConfig('app'), sandboxConfig()), 'Unknown', /is not running/);
  });

  it('filters lists by id (or unique prefix), state, sandbox and labels', async () => {
    const { cri, sb } = await setup();
    const sb2 = await cri.runPodSandbox(
      sandboxConfig({
        metadata: { name: 'db', namespace: 'default', uid: 'uid-db', attempt: 0 },
        labels: { 'io.kubernetes.pod.uid': 'uid-db' },
      }),
    );
    const a = await cri.createContainer(sb, containerConfig('a'), sandboxConfig());
    const b = await cri.createContainer(sb, containerConfig('b'), sandboxConfig());
    await cri.startContainer(a);
    const c = await cri.createContainer(
      sb2,
      { ...containerConfig('c'), labels: { 'io.kubernetes.pod.uid': 'uid-db' } },
      sandboxConfig(),
    );
    const ids = (xs: { id: string }[]) => xs.map((x) => x.id);
    assert.deepEqual(ids(await cri.listContainers()), [a, b, c]);
    assert.deepEqual(ids(await cri.listContainers({ id: a })), [a]);
    assert.deepEqual(ids(await cri.listContainers({ id: a.slice(0, 12) })), [a]);
    assert.deepEqual(ids(await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } })), [a]);
    assert.deepEqual(ids(await cri.listContainers({ podSandboxId: sb2 })), [c]);
    assert.deepEqual(ids(await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': 'uid-db' } })), [c]);
    assert.deepEqual(ids(await cri.listContainers({ labelSelector: { 'io.kubernetes.container.name': 'b' } })), [b]);
    assert.deepEqual(ids(await cri.listPodSandbox()), [sb, sb2]);
    assert.deepEqual(ids(await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': 'uid-db' } })), [sb2]);
    await cri.stopPodSandbox(sb2);
    assert.deepEqual(ids(await cri.listPodSandbox({ state: { state: 'SANDBOX_READY' } })), [sb]);
    assert.deepEqual(ids(await cri.listPodSandbox({ id: 'nope' })), []);
    const [listed] = await cri.listContainers({ id: a });
    assert.equal(listed!.labels['io.kubernetes.container.name'], 'a');
    assert.equal(listed!.annotations['io.kubernetes.container.restartCount'], '0');
    assert.equal(listed!.podSandboxId, sb);
  });

  it('NotFound for status of unknown ids; stop and remove of unknown ids are idempotent', async () => {
    const { cri } = await setup();
    const ghost = 'f'.repeat(64);
    await rejects(cri.containerStatus(ghost), 'NotFound', /an error occurred when try to find container/);
    await rejects(cri.podSandboxStatus(ghost), 'NotFound');
    await rejects(cri.startContainer(ghost), 'NotFound');
    await rejects(cri.execSync(ghost, ['true'], 1), 'NotFound');
    await cri.stopContainer(ghost, 10);
    await cri.removeContainer(ghost);
    await cri.stopPodSandbox(ghost);
    await cri.removePodSandbox(ghost);
  });

  it('stopping a sandbox kills its containers and drops its IP; removing it removes them', async () => {
    const { cri, sb } = await setup();
    const a = await cri.createContainer(sb, containerConfig('a'), sandboxConfig());
    await cri.startContainer(a);
    const created = await cri.createContainer(sb, containerConfig('b'), sandboxConfig());
    await cri.stopPodSandbox(sb);
    const st = await cri.podSandboxStatus(sb);
    assert.equal(st.state, 'SANDBOX_NOTREADY');
    assert.equal(st.network?.ip, '');
    const ca = await cri.containerStatus(a);
    assert.equal(ca.state, 'CONTAINER_EXITED');
    assert.equal(ca.exitCode, 137);
    // containerd only stops running containers: a created one stays created
    assert.equal((await cri.containerStatus(created)).state, 'CONTAINER_CREATED');
    await cri.removePodSandbox(sb);
    assert.deepEqual(await cri.listContainers(), []);
    assert.deepEqual(await cri.listPodSandbox(), []);
    // the name is free again
    await cri.runPodSandbox(sandboxConfig());
  });

  it('StopContainer with a grace period gives 143, and removing a running container stops it', async () => {
    const { cri, sb } = await setup();
    const a = await cri.createContainer(sb, containerConfig('a'), sandboxConfig());
    await cri.startContainer(a);
    await cri.stopContainer(a, 30);
    assert.equal((await cri.containerStatus(a)).exitCode, 143);
    const b = await cri.createContainer(sb, containerConfig('b'), sandboxConfig());
    await cri.startContainer(b);
    await cri.removeContainer(b);
    await rejects(cri.containerStatus(b), 'NotFound');
  });

  it('images: status null when absent, resolves any spelling, pulls, fails scripted pulls, removes idempotently', async () => {
    const { cri } = await setup();
    assert.equal(await cri.imageStatus({ image: 'nginx:1.27' }), null);
    const bb = await cri.imageStatus({ image: 'docker.io/library/busybox:latest' });
    assert.ok(bb);
    assert.deepEqual(bb.repoTags, ['docker.io/library/busybox:latest']);
    assert.equal((await cri.imageStatus({ image: 'busybox:latest' }))?.id, bb.id);
    assert.equal((await cri.imageStatus({ image: bb.id }))?.id, bb.id);
    assert.equal((await cri.imageStatus({ image: bb.repoDigests[0]! }))?.id, bb.id);

    const ref = await cri.pullImage({ image: 'nginx:1.27' });
    assert.match(ref, /^sha256:[0-9a-f]{64}$/);
    assert.equal((await cri.imageStatus({ image: 'docker.io/library/nginx:1.27' }))?.id, ref);

    cri.failPull(
      'docker.io/library/nope',
      'failed to pull and unpack image "docker.io/library/nope:latest": not found',
      'NotFound',
    );
    const err = await rejects(cri.pullImage({ image: 'nope' }), 'NotFound', /failed to pull and unpack image/);
    assert.equal(err.method, 'PullImage');
    assert.equal(await cri.imageStatus({ image: 'nope' }), null);
    cri.clearPullFailure('nope');
    await cri.pullImage({ image: 'nope' });

    assert.equal((await cri.listImages()).length, 3);
    await cri.removeImage({ image: 'nginx:1.27' });
    await cri.removeImage({ image: 'nginx:1.27' });
    assert.equal((await cri.listImages()).length, 2);
    const [fs] = await cri.imageFsInfo();
    assert.equal(fs!.usedBytes?.value, 2_000_000);
    await rejects(cri.imageStatus({ image: 'library/Busybox' }), 'Unknown', /failed to parse image reference/);
  });

  it('ExecSync can be scripted', async () => {
    const { cri, sb } = await setup();
    const id = await cri.createContainer(sb, containerConfig('app'), sandboxConfig());
    await cri.startContainer(id);
    assert.equal((await cri.execSync(id, ['true'], 1)).exitCode, 0);
    cri.onExec((cid, cmd) => ({
      exitCode: cmd[0] === 'fail' ? 1 : 0,
      stdout: Buffer.from(`${cid.slice(0, 4)} ${cmd.join(' ')}`),
    }));
    const r = await cri.execSync(id, ['fail', 'now'], 1);
    assert.equal(r.exitCode, 1);
    assert.equal(r.stdout.toString(), `${id.slice(0, 4)} fail now`);
    assert.equal(r.stderr.length, 0);
  });

  it('setDown: every call rejects with Unavailable and is still logged', async () => {
    const { cri } = await setup();
    cri.setDown(true);
    await rejects(cri.version(), 'Unavailable');
    await rejects(cri.listContainers(), 'Unavailable');
    await rejects(cri.imageStatus({ image: 'busybox' }), 'Unavailable');
    cri.setDown(false);
    assert.equal((await cri.version()).runtimeName, 'containerd');
    assert.deepEqual(
      cri.calls.slice(-4).map((c) => c.method),
      ['Version', 'ListContainers', 'ImageStatus', 'Version'],
    );
  });

  it('setHang: calls answer DeadlineExceeded at their deadline on the clock, not before', async () => {
    const { cri, clock } = await setup();
    cri.setHang(true);
    let settled: unknown;
    cri.listPodSandbox(undefined, { timeoutMs: 5_000 }).then(
      () => {
        settled = 'ok';
      },
      (e) => {
        settled = e;
      },
    );
    let settledDefault: unknown;
    cri.version().then(
      () => {
        settledDefault = 'ok';
      },
      (e) => {
        settledDefault = e;
      },
    );
    await clock.advanceAsync(4_999);
    assert.equal(settled, undefined);
    await clock.advanceAsync(1);
    assert.ok(isCriError(settled, 'DeadlineExceeded'));
    assert.equal((settled as CriError).method, 'ListPodSandbox');
    await clock.advanceAsync(120_000 - 5_000 - 1);
    assert.equal(settledDefault, undefined);
    await clock.advanceAsync(1);
    assert.ok(isCriError(settledDefault, 'DeadlineExceeded'));
    cri.setHang(false);
    assert.equal((await cri.status()).status?.conditions[0]?.status, true);
  });

  it('logs every call in order with its arguments, as given', async () => {
    const clock = new VirtualClock();
    const cri = new FakeCri({ clock });
    cri.addImage('busybox');
    const sb = await cri.runPodSandbox(sandboxConfig());
    const cfg = containerConfig('app');
    const id = await cri.createContainer(sb, cfg, sandboxConfig());
    cfg.metadata.name = 'mutated-after-the-call';
    await cri.startContainer(id);
    await cri.stopContainer(id, 30, { timeoutMs: 60_000 });
    await cri.listContainers({ podSandboxId: sb });
    assert.deepEqual(cri.calls, [
      { method: 'RunPodSandbox', args: [sandboxConfig()] },
      { method: 'CreateContainer', args: [sb, containerConfig('app'), sandboxConfig()] },
      { method: 'StartContainer', args: [id] },
      { method: 'StopContainer', args: [id, 30, { timeoutMs: 60_000 }] },
      { method: 'ListContainers', args: [{ podSandboxId: sb }] },
    ]);
  });

  it('Status reports the runtime and network conditions a spec sets', async () => {
    const { cri } = await setup();
    cri.setNetworkReady(false, 'NetworkPluginNotReady', 'cni plugin not initialized');
    const s = await cri.status();
    assert.deepEqual(s.status?.conditions, [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'cni plugin not initialized' },
    ]);
  });

  it('is a CriRuntime: CriError carries the RPC name', async () => {
    const { cri } = await setup();
    const e = await rejects(cri.containerStatus('x'), 'NotFound');
    assert.ok(e instanceof CriError);
    assert.equal(e.method, 'ContainerStatus');
    assert.equal(e.code, 5);
  });
});
