// Graceful node shutdown: the episode machine (actors/node-shutdown/machine.ts) and the logind
// adapter (adapters/systemd/logind.ts) against a fake logind on a private dbus-daemon.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor } from 'xstate';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS, parseFlags } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';
import { connectLogind, LOGIND_DROP_IN } from '../../adapters/systemd/logind.ts';
import {
  groupOf,
  podPriority,
  podShutdownGrace,
  shutdownGroups,
  shutdownMachine,
  type ShutdownEmitted,
  type ShutdownEvent,
} from '../../actors/node-shutdown/machine.ts';

describe('node shutdown: groups and grace as upstream', () => {
  it('two groups from shutdownGracePeriod and shutdownGracePeriodCriticalPods; none when off', () => {
    assert.deepEqual(shutdownGroups(30_000, 10_000), [
      { priority: 0, graceSeconds: 20 },
      { priority: 2_000_000_000, graceSeconds: 10 },
    ]);
    assert.deepEqual(shutdownGroups(0, 0), []);
  });
  it('critical: priority >= 2000000000, or a built-in critical class without a resolved priority', () => {
    const groups = shutdownGroups(30_000, 10_000);
    assert.equal(groupOf(groups, podPriority({})), 0);
    assert.equal(groupOf(groups, podPriority({ priority: 1_999_999_999 })), 0);
    assert.equal(groupOf(groups, podPriority({ priority: -5 })), 0);
    assert.equal(groupOf(groups, podPriority({ priority: 2_000_000_000 })), 1);
    assert.equal(groupOf(groups, podPriority({ priorityClassName: 'system-node-critical' })), 1);
    assert.equal(groupOf(groups, podPriority({ priorityClassName: 'system-cluster-critical' })), 1);
  });
  it('a pod is killed with the group period, or its own terminationGracePeriodSeconds when shorter', () => {
    assert.equal(podShutdownGrace({ priority: 0, graceSeconds: 20 }, undefined), 20);
    assert.equal(podShutdownGrace({ priority: 0, graceSeconds: 20 }, 5), 5);
    assert.equal(podShutdownGrace({ priority: 0, graceSeconds: 20 }, 60), 20);
  });
});

describe('node shutdown: the episode machine', () => {
  const run = () => {
    const emitted: ShutdownEmitted[] = [];
    const actor = createActor(shutdownMachine, { input: { groups: shutdownGroups(30_000, 10_000) } });
    for (const t of ['killGroup', 'nodeShuttingDown', 'release', 'lock'] as const)
      actor.on(t, (e) => emitted.push(e as ShutdownEmitted));
    actor.start();
    const send = (e: ShutdownEvent) => {
      actor.send(e);
      return actor.getSnapshot().value;
    };
    return { emitted, send };
  };
  it('idle → inhibited → regular → critical → done: regular pods first, then critical, then the lock is released', () => {
    const { emitted, send } = run();
    assert.equal(send({ type: 'LOCKED' }), 'inhibited');
    assert.deepEqual(send({ type: 'SHUTDOWN', now: 1000 }), { shuttingDown: 'regular' });
    assert.deepEqual(send({ type: 'GROUP_DONE', now: 4000 }), { shuttingDown: 'critical' });
    assert.equal(send({ type: 'TIMEOUT', now: 14_000 }), 'done');
    assert.deepEqual(emitted, [
      { type: 'nodeShuttingDown', shuttingDown: true },
      { type: 'killGroup', group: 0, graceSeconds: 20, until: 21_000 },
      { type: 'killGroup', group: 1, graceSeconds: 10, until: 14_000 },
      { type: 'release' },
    ]);
  });
  it('a cancelled shutdown (PrepareForShutdown false) takes the lock again and the node is no longer shutting down', () => {
    const { emitted, send } = run();
    send({ type: 'LOCKED' });
    send({ type: 'SHUTDOWN', now: 0 });
    assert.equal(send({ type: 'CANCELLED' }), 'idle');
    assert.deepEqual(emitted.slice(-2), [{ type: 'nodeShuttingDown', shuttingDown: false }, { type: 'lock' }]);
    assert.equal(send({ type: 'LOCKED' }), 'inhibited');
  });
  it('without logind the machine stays idle', () => {
    const { emitted, send } = run();
    assert.equal(send({ type: 'LOCK_FAILED' }), 'idle');
    assert.equal(send({ type: 'SHUTDOWN', now: 0 }), 'idle');
    assert.deepEqual(emitted, []);
  });
});

const KDIR = '/etc/kubernetes/manifests';
const KIMAGE = 'kubelet-ts.local/busybox:1.0';
const kettle = async () => {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
};
const hasDaemon = spawnSync('dbus-daemon', ['--version']).status === 0;
/** dbus-next passes fds only through usocket, a native addon that must be built for this Node. */
const usocketError = (() => {
  try {
    createRequire(import.meta.url)('usocket');
    return '';
  } catch (e) {
    return `usocket does not load (${(e as Error).message.split('\n')[0]}): rebuild it for this Node`;
  }
})();

/** A private bus: a dbus-daemon with an allow-all policy on a socket in `dir`; killed in t.after. */
async function privateBus(t: TestContext, dir: string): Promise<string> {
  const config = join(dir, 'bus.conf');
  writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${join(dir, 'bus')}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>\n`,
  );
  const daemon = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (daemon.pid) process.kill(daemon.pid);
  });
  return new Promise((resolve, reject) => {
    daemon.once('error', reject);
    daemon.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
  });
}

/**
 * A fake logind: org.freedesktop.login1.Manager with Inhibit (answering the write end of a fifo,
 * so the read end sees EOF once every copy of the lock is closed), InhibitDelayMaxUSec and the
 * PrepareForShutdown signal.
 */
async function fakeLogind(t: TestContext, address: string, dir: string, delayMaxUSec: bigint) {
  const dbus = (await import('dbus-next')).default;
  const calls: unknown[][] = [];
  const handedOut: number[] = [];
  const fifo = join(dir, 'lock');
  spawnSync('mkfifo', [fifo]);
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const lockClosed = new Promise<void>((resolve) => {
    const s = new Socket({ fd: readFd, readable: true, writable: false });
    s.on('data', () => {});
    s.on('end', () => resolve());
    t.after(() => s.destroy());
  });
  class Manager extends dbus.interface.Interface {
    get InhibitDelayMaxUSec() {
      return delayMaxUSec;
    }
    Inhibit(what: string, who: string, why: string, mode: string) {
      calls.push([what, who, why, mode]);
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      handedOut.push(fd);
      return fd;
    }
    PrepareForShutdown(active: boolean) {
      return active;
    }
  }
  (Manager as unknown as { configureMembers(m: object): void }).configureMembers({
    properties: { InhibitDelayMaxUSec: { signature: 't', access: 'read' } },
    methods: { Inhibit: { inSignature: 'ssss', outSignature: 'h' } },
    signals: { PrepareForShutdown: { signature: 'b' } },
  });
  const bus = dbus.sessionBus({ busAddress: address, negotiateUnixFd: true } as Parameters<typeof dbus.sessionBus>[0]);
  const manager = new Manager('org.freedesktop.login1.Manager');
  bus.export('/org/freedesktop/login1', manager);
  await bus.requestName('org.freedesktop.login1', 0);
  t.after(() => bus.disconnect());
  // logind keeps no copy of a lock it handed out: close ours once the reply has been received
  const dropCopies = () => {
    for (const fd of handedOut.splice(0)) closeSync(fd);
  };
  return { calls, lockClosed, dropCopies, prepareForShutdown: (active: boolean) => manager.PrepareForShutdown(active) };
}

describe('node shutdown: logind over a real D-Bus (private dbus-daemon, fake logind)', {
  skip: (!hasDaemon && 'no dbus-daemon') || usocketError || false,
}, () => {
  it('takes the delay lock as upstream, reads InhibitDelayMaxUSec, hears PrepareForShutdown and closes the lock', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kubelet-ts-logind-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const address = await privateBus(t, dir);
    const logind = await fakeLogind(t, address, dir, 5_000_000n);
    const client = await connectLogind({ busAddress: address, confDir: join(dir, 'logind.conf.d') });
    t.after(() => client.disconnect());

    assert.equal(await client.inhibitDelayMaxMs(), 5000);
    const fd = await client.inhibitShutdown();
    logind.dropCopies();
    assert.deepEqual(logind.calls, [['shutdown', 'kubelet', 'Kubelet needs time to handle node shutdown', 'delay']]);
    const heard = new Promise<boolean>((resolve) => client.onPrepareForShutdown(resolve));
    // the match rule is in place once a round trip after subscribing has come back
    await client.inhibitDelayMaxMs();
    logind.prepareForShutdown(true);
    assert.equal(await heard, true);
    client.release(fd);
    await logind.lockClosed;

    // no systemd1 on this bus: the drop-in is written, the reload fails naming the cause
    await assert.rejects(client.raiseInhibitDelayMax(30_000), /systemd1/);
    assert.match(
      readFileSync(join(dir, 'logind.conf.d', LOGIND_DROP_IN), 'utf8'),
      /\[Login\]\nInhibitDelayMaxSec=30\n/,
    );
  });

  it('the whole kubelet on that bus: takes the lock at start, stops its pod on PrepareForShutdown(true) and closes the lock', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kubelet-ts-logind-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const address = await privateBus(t, dir);
    const logind = await fakeLogind(t, address, dir, 60_000_000n);
    let closed = false;
    void logind.lockClosed.then(() => (closed = true));
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(KIMAGE);
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(KDIR);
    fs.writeFile(
      `${KDIR}/web.json`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default' },
        spec: { containers: [{ name: 'app', image: KIMAGE, command: ['sleep', '1d'] }] },
      }),
    );
    const flags = {
      ...DEFAULT_FLAGS,
      podManifestPath: KDIR,
      rootDir: dir,
      shutdownGracePeriodMs: 30_000,
      shutdownGracePeriodCriticalPodsMs: 10_000,
    };
    const k = createKubelet({
      flags,
      clock,
      log: silentLogger,
      nodeName: 'node-d',
      cri,
      fs,
      random: () => 0.5,
      logind: () => connectLogind({ busAddress: address, confDir: join(dir, 'logind.conf.d') }),
    });
    t.after(() => k.stop());
    await k.start();
    const until = async (done: () => boolean, what: string) => {
      for (let i = 0; i < 300 && !done(); i++) await clock.advanceAsync(100, kettle);
      assert.ok(done(), what);
    };
    await until(
      () => logind.calls.length === 1 && cri.calls.some((c) => c.method === 'StartContainer'),
      'the lock is taken and the pod started',
    );
    logind.dropCopies();
    assert.equal(closed, false);
    logind.prepareForShutdown(true);
    await until(() => closed, 'the lock is closed once the pods are done');
    assert.deepEqual(
      cri.calls.filter((c) => c.method === 'StopContainer').map((c) => c.args[1]),
      [20],
    );
    assert.equal([...k.bus.port('spec').current('podStatuses')!.values()][0]?.reason, 'Terminated');
  });

  it('no logind on the bus: connecting fails with the cause', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kubelet-ts-logind-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const address = await privateBus(t, dir);
    await assert.rejects(connectLogind({ busAddress: address }), /login1/);
    await assert.rejects(connectLogind({ busAddress: `unix:path=${join(dir, 'none')}` }), /ENOENT/);
  });
});

describe('node shutdown: the whole kubelet on virtual time (fake CRI, in-memory logind)', () => {
  const DIR = '/etc/kubernetes/manifests';
  const IMAGE = 'kubelet-ts.local/busybox:1.0';
  const pod = (name: string, extra: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: {
        terminationGracePeriodSeconds: 30,
        containers: [{ name: 'app', image: IMAGE, command: ['sleep', '1d'] }],
        ...extra,
      },
    });
  const settle = async () => {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
  };

  it('PrepareForShutdown(true): regular pods stop first, then critical ones, with capped grace; Failed/Terminated with DisruptionTarget; lock released', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'kubelet-ts-shutdown-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
    fs.writeFile(`${DIR}/web.json`, pod('web', {}));
    fs.writeFile(`${DIR}/quick.json`, pod('quick', { terminationGracePeriodSeconds: 3 }));
    fs.writeFile(`${DIR}/dns.json`, pod('dns', { priority: 2_000_001_000 }));
    let listener: (active: boolean) => void = () => {};
    const lock = { taken: 0, released: [] as number[], delayMaxMs: 30_000 };
    const logind = {
      inhibitDelayMaxMs: async () => lock.delayMaxMs,
      raiseInhibitDelayMax: async () => {},
      inhibitShutdown: async () => ++lock.taken + 100,
      release: (fd: number) => void lock.released.push(fd),
      onPrepareForShutdown: (l: (active: boolean) => void) => void (listener = l),
      disconnect: () => {},
    };
    const flags = {
      ...DEFAULT_FLAGS,
      podManifestPath: DIR,
      rootDir: root,
      shutdownGracePeriodMs: 30_000,
      shutdownGracePeriodCriticalPodsMs: 10_000,
    };
    const k = createKubelet({
      flags,
      clock,
      log: silentLogger,
      nodeName: 'node-s',
      cri,
      fs,
      random: () => 0.5,
      logind: async () => logind,
    });
    t.after(() => k.stop());
    await k.start();
    await clock.advanceAsync(3000, settle);
    assert.equal(lock.taken, 1, 'the inhibitor lock is taken at start');
    assert.equal(cri.calls.filter((c) => c.method === 'StartContainer').length, 3);

    const since = cri.calls.length;
    listener(true);
    await clock.advanceAsync(5000, settle);
    const stops = cri.calls
      .slice(since)
      .filter((c) => c.method === 'StopContainer')
      .map((c) => c.args[1]);
    // web: min(20s, 30s); quick: its own 3s; then dns (critical): min(10s, 30s)
    assert.deepEqual(stops.slice(0, 2).sort(), [20, 3].sort());
    assert.equal(stops[2], 10);
    assert.deepEqual(lock.released, [101], 'the lock is released once every group is done');
    const statuses = [...k.bus.port('spec').current('podStatuses')!.values()];
    assert.equal(statuses.length, 3);
    assert.equal(k.bus.port('spec').current('nodeShutdown')?.killing.size, 3);
    for (const s of statuses) {
      assert.equal(s.phase, 'Failed');
      assert.equal(s.reason, 'Terminated');
      assert.equal(s.message, 'Pod was terminated in response to imminent node shutdown.');
      const c = s.conditions?.find((x) => x.type === 'DisruptionTarget');
      assert.equal(c?.status, 'True');
      assert.equal(c?.reason, 'TerminationByKubelet');
    }
    assert.equal(k.bus.port('spec').current('nodeShutdown')?.shuttingDown, true);
    const state = JSON.parse(readFileSync(join(root, 'graceful_node_shutdown_state'), 'utf8')) as {
      startTime: string;
      endTime: string;
    };
    assert.ok(state.startTime && state.endTime >= state.startTime);
    // nothing is started again while the node shuts down, and a new pod is rejected (upstream's admit handler)
    fs.writeFile(`${DIR}/late.json`, pod('late', {}));
    await clock.advanceAsync(25_000, settle);
    assert.equal(cri.calls.filter((c) => c.method === 'StartContainer').length, 3);
    const late = [...k.bus.port('spec').current('podStatuses')!.values()].find((s) => s.reason === 'NodeShutdown');
    // upstream's rejectPod prefix over its handler's message, doubled as upstream writes it
    assert.equal(late?.message, 'Pod was rejected: Pod was rejected as the node is shutting down.');

    // a cancelled shutdown takes the lock again and the node is no longer shutting down
    listener(false);
    await clock.advanceAsync(1000, settle);
    assert.equal(lock.taken, 2);
    assert.equal(k.bus.port('spec').current('nodeShutdown')?.shuttingDown, false);
  });

  it('shutdownGracePeriodCriticalPods must not exceed shutdownGracePeriod', () => {
    assert.throws(
      () => parseFlags(['--shutdown-grace-period=10s', '--shutdown-grace-period-critical-pods=20s']),
      /shutdownGracePeriodCriticalPods 20s must be <= shutdownGracePeriod 10s/,
    );
  });
});
