/**
 * The CRI client against a real containerd (the private one from specs/support/containerd.ts).
 * Facts are checked against the runtime itself where it matters: ctr's view of tasks and
 * containers, the bridge's addresses, process liveness.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient } from '../../adapters/cri/client.ts';
import { CriError, isCriError } from '../../protocols/cri/errors.ts';
import type { ContainerConfig, ContainerStatus, PodSandboxConfig } from '../../protocols/cri/types.ts';
import { cleanupStaleInstances, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { BUSYBOX_IMAGE, BUSYBOX_IMAGE_2, PAUSE_IMAGE, builtImage } from '../support/images.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function ipInSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const toInt = (s: string) => s.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (toInt(ip) & mask) >>> 0 === (toInt(net) & mask) >>> 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

let n = 0;
function sandboxConfig(h: ContainerdHandle, name = `pod-${++n}`): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}-${process.pid}`, namespace: 'default', attempt: 0 },
    hostname: name,
    logDirectory: join(h.dir, 'pod-logs', name),
    labels: { 'kubelet-ts.test/pod': name },
    linux: {},
  };
}

function containerConfig(name: string, command: string[], image = BUSYBOX_IMAGE): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    command,
    envs: [{ key: 'GREETING', value: 'hello from kubelet-ts' }],
    labels: { 'kubelet-ts.test/container': name },
    logPath: `${name}/0.log`,
  };
}

async function waitForState(
  h: ContainerdHandle,
  id: string,
  state: ContainerStatus['state'],
  timeoutMs = 10_000,
): Promise<ContainerStatus> {
  const t0 = performance.now();
  for (;;) {
    const st = await h.cri.containerStatus(id);
    if (st.state === state) return st;
    if (performance.now() - t0 > timeoutMs)
      assert.fail(`container ${id} is ${st.state}, not ${state}, after ${timeoutMs}ms`);
    await sleep(50);
  }
}

/** `ctr tasks ls` as id -> { pid, status }: the runtime's own view, not the CRI's. */
async function tasks(h: ContainerdHandle): Promise<Map<string, { pid: number; status: string }>> {
  const out = await h.ctr(['tasks', 'ls']);
  const m = new Map<string, { pid: number; status: string }>();
  for (const line of out.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id) m.set(id, { pid: Number(pid), status });
  }
  return m;
}

describe('CRI client on a real containerd', () => {
  let h: ContainerdHandle;
  let startMs = 0;

  before(async () => {
    const t0 = performance.now();
    h = await startContainerd();
    startMs = performance.now() - t0;
  });

  after(async () => {
    await h?.stop();
  });

  it('starts a private containerd quickly and answers Version and Status', async () => {
    assert.ok(startMs < 15_000, `startContainerd took ${Math.round(startMs)}ms`);
    const v = await h.cri.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
    assert.match(v.runtimeVersion, /\d+\.\d+/);
    const st = await h.cri.status();
    const byType = new Map(st.status?.conditions.map((c) => [c.type, c.status]));
    assert.equal(byType.get('RuntimeReady'), true);
    assert.equal(byType.get('NetworkReady'), true);
  });

  it('sees the locally built images, and null for an absent one', async () => {
    const img = await h.cri.imageStatus({ image: BUSYBOX_IMAGE });
    assert.ok(img, 'busybox image present');
    assert.equal(img.id, builtImage(h.images, BUSYBOX_IMAGE).configDigest);
    assert.ok(img.repoTags.includes(BUSYBOX_IMAGE));
    assert.ok(img.size > 1_000_000, `size ${img.size}`);
    const img2 = await h.cri.imageStatus({ image: BUSYBOX_IMAGE_2 });
    assert.ok(img2);
    assert.notEqual(img2.id, img.id, 'busybox 2.0 is a different image');
    const all = (await h.cri.listImages()).flatMap((i) => i.repoTags);
    for (const name of [BUSYBOX_IMAGE, BUSYBOX_IMAGE_2, PAUSE_IMAGE]) assert.ok(all.includes(name), `${name} listed`);
    assert.equal(await h.cri.imageStatus({ image: 'kubelet-ts.local/absent:0.0' }), null);
    const fs = await h.cri.imageFsInfo();
    assert.ok(fs.length >= 1);
    assert.ok(fs[0].fsId?.mountpoint.startsWith(h.dir), `image fs ${fs[0].fsId?.mountpoint} is private`);
  });

  it('runs a pod with a sleeping container, execs in it, and tears it down', async () => {
    const cfg = sandboxConfig(h);
    const sandboxId = await h.cri.runPodSandbox(cfg);
    assert.match(sandboxId, /^[0-9a-f]{64}$/);

    const sb = await h.cri.podSandboxStatus(sandboxId);
    assert.equal(sb.state, 'SANDBOX_READY');
    assert.deepEqual(sb.metadata, cfg.metadata);
    assert.ok(sb.network?.ip, 'pod has an IP');
    assert.ok(ipInSubnet(sb.network.ip, h.cniSubnet), `${sb.network.ip} in ${h.cniSubnet}`);
    // the runtime really plumbed the private bridge, with the gateway of our subnet
    const bridgeAddr = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', h.bridge], { encoding: 'utf8' });
    const gw = /inet (\d+\.\d+\.\d+\.\d+)/.exec(bridgeAddr)?.[1] ?? '';
    assert.ok(ipInSubnet(gw, h.cniSubnet), `bridge ${h.bridge} has ${gw}`);

    const listed = await h.cri.listPodSandbox({ labelSelector: { 'kubelet-ts.test/pod': cfg.metadata.name } });
    assert.deepEqual(
      listed.map((s) => s.id),
      [sandboxId],
    );

    const containerId = await h.cri.createContainer(sandboxId, containerConfig('sleeper', ['sleep', '3600']), cfg);
    assert.equal((await h.cri.containerStatus(containerId)).state, 'CONTAINER_CREATED');
    await h.cri.startContainer(containerId);

    const st = await h.cri.containerStatus(containerId);
    assert.equal(st.state, 'CONTAINER_RUNNING');
    assert.equal(st.metadata.name, 'sleeper');
    assert.equal(st.imageRef, builtImage(h.images, BUSYBOX_IMAGE).configDigest);
    assert.ok(st.startedAt > 0 && st.finishedAt === 0);
    const inPod = await h.cri.listContainers({ podSandboxId: sandboxId });
    assert.deepEqual(
      inPod.map((c) => [c.id, c.state]),
      [[containerId, 'CONTAINER_RUNNING']],
    );
    const running = await h.cri.listContainers({
      state: { state: 'CONTAINER_RUNNING' },
      labelSelector: { 'kubelet-ts.test/container': 'sleeper' },
    });
    assert.deepEqual(
      running.map((c) => c.id),
      [containerId],
    );

    // containerd's own view: both the pause and the app task run, with live processes
    const t = await tasks(h);
    assert.equal(t.get(sandboxId)?.status, 'RUNNING');
    assert.equal(t.get(containerId)?.status, 'RUNNING');
    const appPid = t.get(containerId)!.pid;
    assert.ok(pidAlive(appPid));
    assert.match(readFileSync(`/proc/${appPid}/cmdline`, 'utf8'), /^sleep\u00003600/);

    const hi = await h.cri.execSync(containerId, ['echo', 'hi'], 10);
    assert.ok(Buffer.isBuffer(hi.stdout));
    assert.equal(hi.stdout.toString(), 'hi\n');
    assert.equal(hi.exitCode, 0);
    const env = await h.cri.execSync(
      containerId,
      ['sh', '-c', 'printf %s "$GREETING"; cat /etc/kubelet-ts-image >&2; exit 7'],
      10,
    );
    assert.equal(env.stdout.toString(), 'hello from kubelet-ts');
    assert.equal(env.stderr.toString(), 'busybox 1.0\n');
    assert.equal(env.exitCode, 7);

    const t0 = performance.now();
    await h.cri.stopContainer(containerId, 10);
    assert.ok(performance.now() - t0 < 5000, 'sleep stops on SIGTERM');
    const stopped = await h.cri.containerStatus(containerId);
    assert.equal(stopped.state, 'CONTAINER_EXITED');
    assert.ok(!pidAlive(appPid));
    await h.cri.removeContainer(containerId);
    await assert.rejects(
      h.cri.containerStatus(containerId),
      (e: unknown) => isCriError(e, 'NotFound') && e.method === 'ContainerStatus',
    );

    const tStop = performance.now();
    await h.cri.stopPodSandbox(sandboxId);
    assert.ok(performance.now() - tStop < 5000, 'the pause image exits promptly on SIGTERM');
    assert.equal((await h.cri.podSandboxStatus(sandboxId)).state, 'SANDBOX_NOTREADY');
    await h.cri.removePodSandbox(sandboxId);
    const left = (await h.ctr(['containers', 'ls', '-q'])).split('\n').filter(Boolean);
    assert.ok(!left.includes(sandboxId) && !left.includes(containerId), `containerd still has ${left.join(', ')}`);
    assert.equal((await h.cri.listPodSandbox({ id: sandboxId })).length, 0);
  });

  it('reports the exit code and reason of containers that exit', async () => {
    const cfg = sandboxConfig(h);
    const sandboxId = await h.cri.runPodSandbox(cfg);
    const failing = await h.cri.createContainer(
      sandboxId,
      containerConfig('failing', ['sh', '-c', 'echo bye; exit 3']),
      cfg,
    );
    const ok = await h.cri.createContainer(sandboxId, containerConfig('done', ['true'], BUSYBOX_IMAGE_2), cfg);
    await h.cri.startContainer(failing);
    await h.cri.startContainer(ok);
    const f = await waitForState(h, failing, 'CONTAINER_EXITED');
    assert.equal(f.exitCode, 3);
    assert.equal(f.reason, 'Error');
    // containerd stamps startedAt after Start returns, so a fast exit may finish "before" it started
    assert.ok(f.startedAt > 0 && f.finishedAt > 0);
    assert.match(readFileSync(f.logPath, 'utf8'), /stdout F bye/);
    const d = await waitForState(h, ok, 'CONTAINER_EXITED');
    assert.equal(d.exitCode, 0);
    assert.equal(d.reason, 'Completed');
    assert.equal(d.imageRef, builtImage(h.images, BUSYBOX_IMAGE_2).configDigest);
    await h.cri.stopPodSandbox(sandboxId);
    await h.cri.removePodSandbox(sandboxId);
  });

  it('carries nested config fields over the wire: user, resources, mounts, env, args, workdir', async () => {
    const cfg = sandboxConfig(h);
    cfg.dnsConfig = { servers: ['10.0.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] };
    const sandboxId = await h.cri.runPodSandbox(cfg);
    const hostDir = mkdtempSync(join(h.dir, 'hostpath-'));
    chmodSync(hostDir, 0o755); // readable by the container's non-root user
    writeFileSync(join(hostDir, 'data.txt'), 'from the host\n');
    const id = await h.cri.createContainer(
      sandboxId,
      {
        ...containerConfig('configured', ['sh', '-c']),
        args: ['sleep 3600'],
        workingDir: '/tmp',
        envs: [
          { key: 'A', value: 'one' },
          { key: 'B', value: 'two words' },
        ],
        mounts: [{ containerPath: '/data', hostPath: hostDir, readonly: true }],
        linux: {
          resources: { memoryLimitInBytes: 64 * 1024 * 1024, cpuShares: 512, cpuPeriod: 100_000, cpuQuota: 50_000 },
          securityContext: { runAsUser: { value: 65534 }, runAsGroup: { value: 65534 } },
        },
      },
      cfg,
    );
    await h.cri.startContainer(id);
    const sh = async (script: string) => {
      const r = await h.cri.execSync(id, ['sh', '-c', script], 10);
      return { out: r.stdout.toString().trim(), code: r.exitCode };
    };
    assert.equal((await sh('id -u; id -g')).out, '65534\n65534');
    assert.equal((await sh('pwd')).out, '/tmp');
    assert.equal((await sh('echo "$A|$B"')).out, 'one|two words');
    assert.equal((await sh('cat /data/data.txt')).out, 'from the host');
    assert.notEqual((await sh('echo x > /data/new.txt')).code, 0, 'the read-only mount rejects writes');
    const resolv = (await sh('cat /etc/resolv.conf')).out;
    assert.match(resolv, /^nameserver 10\.0\.0\.10$/m);
    assert.match(resolv, /^search default\.svc\.cluster\.local$/m);
    assert.match(resolv, /^options ndots:5$/m);
    assert.equal((await sh('hostname')).out, cfg.metadata.name);
    const st = await h.cri.containerStatus(id);
    assert.deepEqual(
      st.mounts.map((m) => [m.containerPath, m.hostPath, m.readonly]),
      [['/data', hostDir, true]],
    );
    // the limits reached the kernel: read the container's cgroup on the host
    const pid = (await tasks(h)).get(id)!.pid;
    const memCgroup = /:memory:(\S+)/.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
    if (memCgroup && existsSync(`/sys/fs/cgroup/memory${memCgroup}/memory.limit_in_bytes`)) {
      assert.equal(
        readFileSync(`/sys/fs/cgroup/memory${memCgroup}/memory.limit_in_bytes`, 'utf8').trim(),
        String(64 * 1024 * 1024),
      );
    }
    const cpuCgroup = /:cpu(?:,cpuacct)?:(\S+)/.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
    if (cpuCgroup && existsSync(`/sys/fs/cgroup/cpu${cpuCgroup}/cpu.shares`)) {
      assert.equal(readFileSync(`/sys/fs/cgroup/cpu${cpuCgroup}/cpu.shares`, 'utf8').trim(), '512');
      assert.equal(readFileSync(`/sys/fs/cgroup/cpu${cpuCgroup}/cpu.cfs_quota_us`, 'utf8').trim(), '50000');
    }
    await h.cri.stopPodSandbox(sandboxId);
    await h.cri.removePodSandbox(sandboxId);
  });

  it('maps runtime failures to CriError', async () => {
    await assert.rejects(h.cri.podSandboxStatus('0000000000000000'), (e: unknown) => isCriError(e, 'NotFound'));
    await assert.rejects(
      h.cri.startContainer('no-such-container'),
      (e: unknown) => isCriError(e, 'NotFound') && e.method === 'StartContainer',
    );
    // a pull from an unreachable registry is an error the caller can handle, not a crash
    await assert.rejects(
      h.cri.pullImage({ image: '127.0.0.1:1/kubelet-ts/unreachable:1.0' }, undefined, undefined, { timeoutMs: 60_000 }),
      (e: unknown) => {
        assert.ok(e instanceof CriError, String(e));
        assert.equal(e.method, 'PullImage');
        assert.match(e.message, /unreachable|connect|refused/);
        return true;
      },
    );
    const cfg = sandboxConfig(h);
    await assert.rejects(
      h.cri.createContainer('no-such-sandbox', containerConfig('orphan', ['true']), cfg),
      (e: unknown) => isCriError(e, 'NotFound') && e.method === 'CreateContainer',
    );
  });

  it('fails fast with Unavailable when the socket does not exist', async () => {
    const missing = join(h.dir, 'no-such.sock');
    const c = createCriClient(`unix://${missing}`);
    try {
      const t0 = performance.now();
      await assert.rejects(c.version(), (e: unknown) => {
        assert.ok(isCriError(e, 'Unavailable'), String(e));
        assert.equal(e.method, 'Version');
        assert.ok(e.message.includes(missing), e.message);
        return true;
      });
      assert.ok(performance.now() - t0 < 2000, `took ${Math.round(performance.now() - t0)}ms`);
      // a bare path works as an endpoint too
      await assert.rejects(createCriClient(missing).listContainers(), (e: unknown) => isCriError(e, 'Unavailable'));
    } finally {
      c.close();
    }
  });

  it('enforces per-call deadlines', async () => {
    const cfg = sandboxConfig(h);
    const sandboxId = await h.cri.runPodSandbox(cfg);
    const id = await h.cri.createContainer(sandboxId, containerConfig('slow', ['sleep', '3600']), cfg);
    await h.cri.startContainer(id);
    const t0 = performance.now();
    await assert.rejects(h.cri.execSync(id, ['sleep', '5'], 0, { timeoutMs: 300 }), (e: unknown) => {
      assert.ok(isCriError(e, 'DeadlineExceeded'), String(e));
      assert.equal(e.method, 'ExecSync');
      return true;
    });
    assert.ok(performance.now() - t0 < 2000);
    await h.cri.stopPodSandbox(sandboxId);
    await h.cri.removePodSandbox(sandboxId);
  });

  it('survives a containerd outage: containers keep running, the client reconnects', async () => {
    const cfg = sandboxConfig(h);
    const sandboxId = await h.cri.runPodSandbox(cfg);
    const id = await h.cri.createContainer(sandboxId, containerConfig('survivor', ['sleep', '3600']), cfg);
    await h.cri.startContainer(id);
    const pid = (await tasks(h)).get(id)!.pid;
    const oldDaemon = h.pid;

    await h.stopDaemonOnly();
    assert.equal(h.running(), false);
    assert.ok(!pidAlive(oldDaemon));
    await assert.rejects(h.cri.listContainers(undefined, { timeoutMs: 5000 }), (e: unknown) =>
      isCriError(e, 'Unavailable'),
    );
    assert.ok(pidAlive(pid), 'the container outlives its runtime daemon');

    await h.restartDaemon();
    assert.notEqual(h.pid, oldDaemon);
    // the same client object recovers without being recreated
    let st: ContainerStatus | undefined;
    for (let i = 0; i < 50 && !st; i++) {
      try {
        st = await h.cri.containerStatus(id, { timeoutMs: 5000 });
      } catch (e) {
        if (!isCriError(e, 'Unavailable')) throw e;
        await sleep(100);
      }
    }
    assert.equal(st?.state, 'CONTAINER_RUNNING');
    assert.equal((await tasks(h)).get(id)?.pid, pid);
    assert.equal((await h.cri.execSync(id, ['echo', 'still here'], 5)).stdout.toString(), 'still here\n');
    // leave the pod running: stop() must clean it up
  });
});

describe('containerd harness cleanup', () => {
  const here = import.meta.dirname;
  let scratch = '';
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'kubelet-ts-spec-'));
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  interface ChildInfo {
    dir: string;
    bridge: string;
    socket: string;
    networkName: string;
  }

  /** A child process that starts the harness with a running pod, prints its dir, then `ending`. */
  function childScript(ending: string): string {
    const file = join(scratch, `child-${Math.random().toString(16).slice(2)}.ts`);
    writeFileSync(
      file,
      `import { startContainerd } from ${JSON.stringify(join(here, '..', 'support', 'containerd.ts'))};
const h = await startContainerd();
const hostPort = 20000 + Math.floor(Math.random() * 10000);
const cfg = { metadata: { name: 'leak', uid: 'leak-uid', namespace: 'default', attempt: 0 }, portMappings: [{ protocol: 'TCP' as const, containerPort: 80, hostPort }], linux: {} };
const sb = await h.cri.runPodSandbox(cfg);
const c = await h.cri.createContainer(sb, { metadata: { name: 'c', attempt: 0 }, image: { image: 'kubelet-ts.local/busybox:1.0' }, command: ['sleep', '3600'] }, cfg);
await h.cri.startContainer(c);
console.log(JSON.stringify({ dir: h.dir, bridge: h.bridge, socket: h.socket, networkName: h.networkName }));
${ending}
`,
    );
    return file;
  }

  function runChild(file: string, onReady?: (child: ReturnType<typeof spawn>, info: { dir: string }) => void) {
    return new Promise<{ code: number | null; signal: NodeJS.Signals | null; info: ChildInfo }>((res, rej) => {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', file], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let info: ChildInfo | undefined;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line && !info) {
          info = JSON.parse(line) as ChildInfo;
          onReady?.(child, info);
        }
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', rej);
      child.on('exit', (code, signal) => {
        if (!info) rej(new Error(`child never started: ${code} ${signal}\n${err}`));
        else res({ code, signal, info });
      });
    });
  }

  function assertNothingLeft(info: ChildInfo) {
    assert.ok(!existsSync(info.dir), `${info.dir} removed`);
    assert.ok(!existsSync(`/sys/class/net/${info.bridge}`), `bridge ${info.bridge} removed`);
    const live: string[] = [];
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if ((cmdline.includes(info.socket) || cmdline.includes(info.dir)) && pidAlive(Number(pid)))
          live.push(`${pid} ${cmdline}`);
      } catch {
        // exited while we looked
      }
    }
    assert.deepEqual(live, [], 'no containerd or shim of the instance survives');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(info.dir), 'no mounts left');
    const cniCache = existsSync('/var/lib/cni/results') ? readdirSync('/var/lib/cni/results') : [];
    assert.deepEqual(
      cniCache.filter((f) => f.startsWith(`${info.networkName}-`)),
      [],
      'no CNI cache entries left',
    );
    const nat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
    assert.ok(!nat.includes(info.networkName), 'no portmap rules of the instance left');
  }

  it('cleans up when the owning process crashes', async () => {
    const r = await runChild(childScript(`throw new Error('spec crashed');`));
    assert.equal(r.code, 1);
    assertNothingLeft(r.info);
  });

  it('cleans up on SIGTERM', async () => {
    const r = await runChild(childScript(`setInterval(() => {}, 1000);`), (child) => child.kill('SIGTERM'));
    assert.equal(r.signal, 'SIGTERM');
    assertNothingLeft(r.info);
  });

  it('sweeps an instance whose owner was SIGKILLed', async () => {
    const r = await runChild(childScript(`setInterval(() => {}, 1000);`), (child) => child.kill('SIGKILL'));
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(existsSync(r.info.dir), 'a SIGKILLed owner cannot clean up itself');
    cleanupStaleInstances();
    // another spec process sweeping at the same moment may be the one that takes it
    for (let i = 0; i < 200 && existsSync(r.info.dir); i++) await sleep(50);
    assertNothingLeft(r.info);
  });
});
