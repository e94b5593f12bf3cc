// systemd integration: the systemdNotify actor's watchdog follows the syncLoop's health (virtual
// time), the notifier speaks through systemd-notify only under $NOTIFY_SOCKET, and the unit and
// kubeadm drop-in in deploy/ pass systemd-analyze verify.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemdNotify } from '../../actors/systemd-notify/index.ts';
import { systemdNotifier } from '../../adapters/systemd/notify.ts';
import { startActor } from '../../kernel/testing.ts';
import { silentLogger } from '../../kernel/log.ts';
import { SYNC_LOOP_MIN_MS } from '../../protocols/messages/pod-worker.ts';
import '../../bin/channels.ts';

const ROOT = join(import.meta.dirname, '..', '..');

function fakeNotifier(watchdogMs: number | undefined) {
  const sent: string[][] = [];
  return {
    sent,
    notifier: {
      watchdogMs,
      notify: async (vars: readonly string[]) => {
        sent.push([...vars]);
      },
    },
  };
}

describe('systemdNotify actor', () => {
  it('pings WATCHDOG=1 every half interval while the syncLoop iterates; a wedged syncLoop stops the pings until it iterates again', async (t) => {
    const { sent, notifier } = fakeNotifier(10_000);
    const a = await startActor(systemdNotify, { notifier, syncFrequencyMs: 60_000 });
    t.after(() => a.stop());
    const pings = () => sent.filter((v) => v.includes('WATCHDOG=1')).length;
    assert.equal(pings(), 1, 'a ping at start');
    const loop = a.bus.port('syncLoop');
    for (let i = 0; i < 10; i++) {
      loop.send('syncLoop', { type: 'syncLoop.syncTick' });
      a.clock.advance(5000);
    }
    assert.equal(pings(), 11);
    // the syncLoop goes silent: pings go on until upstream's syncloop limit, then stop
    a.clock.advance(SYNC_LOOP_MIN_MS);
    const before = pings();
    a.clock.advance(60_000);
    assert.equal(pings(), before, "no pings while wedged: systemd's WatchdogSec restarts the daemon");
    assert.ok(
      sent.some((v) => v.some((x) => /^STATUS=syncLoop wedged \(sync Loop took longer than expected\)/.test(x))),
    );
    loop.send('syncLoop', { type: 'syncLoop.housekeeping' });
    a.clock.advance(5000);
    assert.ok(pings() > before, 'pings resume once the syncLoop iterates');
    assert.deepEqual(a.crashes, []);
  });

  it('no WATCHDOG_USEC: no pings; STATUS= follows the number of desired pods', async (t) => {
    const { sent, notifier } = fakeNotifier(undefined);
    const a = await startActor(systemdNotify, { notifier, syncFrequencyMs: 60_000 });
    t.after(() => a.stop());
    const pm = a.bus.port('podManager');
    pm.publish('desiredPods', new Map());
    pm.publish('desiredPods', new Map([['u1', {} as never]]));
    pm.publish('desiredPods', new Map([['u1', {} as never]]));
    a.clock.advance(600_000);
    assert.deepEqual(sent, [['STATUS=running 0 pod(s)'], ['STATUS=running 1 pod(s)']]);
  });
});

describe('systemd notifier', () => {
  it('is nothing without NOTIFY_SOCKET; reads WATCHDOG_USEC for this pid only', () => {
    assert.equal(systemdNotifier({}, { log: silentLogger }), undefined);
    assert.equal(
      systemdNotifier({ NOTIFY_SOCKET: '/run/s', WATCHDOG_USEC: '30000000' }, { log: silentLogger, pid: 7 })
        ?.watchdogMs,
      30_000,
    );
    assert.equal(
      systemdNotifier(
        { NOTIFY_SOCKET: '/run/s', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' },
        { log: silentLogger, pid: 7 },
      )?.watchdogMs,
      undefined,
    );
    assert.equal(
      systemdNotifier(
        { NOTIFY_SOCKET: '/run/s', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' },
        { log: silentLogger, pid: 7 },
      )?.watchdogMs,
      30_000,
    );
  });

  it('runs the helper with the variables as arguments, one at a time and in order; a queued ping is not doubled', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-notify-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'calls');
    const helper = join(dir, 'systemd-notify');
    writeFileSync(helper, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> ${out}\n`, { mode: 0o755 });
    const n = systemdNotifier(
      { NOTIFY_SOCKET: '/run/test.sock', PATH: process.env.PATH },
      { log: silentLogger, command: helper },
    )!;
    void n.notify(['READY=1', 'STATUS=up']);
    void n.notify(['WATCHDOG=1']);
    void n.notify(['WATCHDOG=1']);
    await n.notify(['STOPPING=1']);
    assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), [
      '/run/test.sock READY=1 STATUS=up',
      '/run/test.sock WATCHDOG=1',
      '/run/test.sock STOPPING=1',
    ]);
  });
});

describe('deploy/kubelet-ts.service and deploy/10-kubeadm.conf', () => {
  const unit = readFileSync(join(ROOT, 'deploy', 'kubelet-ts.service'), 'utf8');
  const dropin = readFileSync(join(ROOT, 'deploy', '10-kubeadm.conf'), 'utf8');

  it('Type=notify with NotifyAccess=all (the helper sends), Restart=always, a watchdog', () => {
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'Restart=always',
      'WatchdogSec=60s',
      'ExecStart=/usr/bin/kubelet',
    ]) {
      assert.match(unit, new RegExp(`^${line}$`, 'm'), line);
    }
    assert.match(
      dropin,
      /^ExecStart=\/usr\/bin\/kubelet \$KUBELET_KUBECONFIG_ARGS \$KUBELET_CONFIG_ARGS \$KUBELET_KUBEADM_ARGS \$KUBELET_EXTRA_ARGS$/m,
    );
  });

  it('systemd-analyze verify passes, with the drop-in (only /usr/bin/kubelet, not installed here, points at this checkout)', (t) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      t.skip(`systemd-analyze is not installed: ${probe.error.message}`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'kts-unit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'usr', 'bin'), { recursive: true });
    symlinkSync(join(ROOT, 'bin', 'kubelet-ts'), join(dir, 'usr', 'bin', 'kubelet'));
    const units = join(dir, 'units');
    mkdirSync(join(units, 'kubelet.service.d'), { recursive: true });
    const installed = (text: string) => text.replaceAll('/usr/bin/kubelet', join(dir, 'usr', 'bin', 'kubelet'));
    writeFileSync(join(units, 'kubelet.service'), installed(unit));
    writeFileSync(join(units, 'kubelet.service.d', '10-kubeadm.conf'), installed(dropin));
    const r = spawnSync('systemd-analyze', ['verify', 'kubelet.service'], {
      encoding: 'utf8',
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${units}:` },
    });
    assert.equal(r.status, 0, `systemd-analyze verify: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  });
});
