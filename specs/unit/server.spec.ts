/**
 * actors/server: upstream's healthz answers and syncloop check (pure), and the actor's healthz
 * and read-only listeners on free loopback ports, in virtual time (the syncloop check reads the
 * clock), with `/pods` from the views, `/stats/summary` and `/metrics/resource` from nodeStats, and
 * `/metrics` and `/metrics/resource` checked by promtool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import '../../bin/channels.ts';
import { server, type ServerDeps } from '../../actors/server/index.ts';
import { healthzAnswer, logCheck, ping, type HealthCheck } from '../../actors/server/health.ts';
import { SYNC_LOOP_MIN_MS, syncLoopHealth } from '../../protocols/messages/pod-worker.ts';
import { startActor } from '../../kernel/testing.ts';
import type { DesiredPods, PodStatuses, RuntimePods } from '../../protocols/messages/channels.ts';

const failing: HealthCheck = { name: 'syncloop', check: () => 'sync Loop took longer than expected' };

describe('server: healthz answers (upstream healthz package)', () => {
  it('syncloop fails only after max(2 × syncFrequency, 5 min) without an iteration, and never before the first', () => {
    assert.equal(syncLoopHealth(undefined, 10 * SYNC_LOOP_MIN_MS, 60_000), undefined);
    assert.equal(syncLoopHealth(1000, 1000 + SYNC_LOOP_MIN_MS, 60_000), undefined);
    assert.equal(syncLoopHealth(1000, 1001 + SYNC_LOOP_MIN_MS, 60_000), 'sync Loop took longer than expected');
    // a 10 min syncFrequency: 20 min
    assert.equal(syncLoopHealth(0, 20 * 60_000, 600_000), undefined);
    assert.equal(syncLoopHealth(0, 20 * 60_000 + 1, 600_000), 'sync Loop took longer than expected');
  });

  it('/healthz: "ok", the verbose listing, a failed check withheld with a 500, exclusions', () => {
    const q = (s: string) => new URLSearchParams(s);
    assert.deepEqual(healthzAnswer([ping, logCheck], q('')), { status: 200, body: 'ok' });
    assert.deepEqual(healthzAnswer([ping, logCheck], q('verbose')), {
      status: 200,
      body: '[+]ping ok\n[+]log ok\nhealthz check passed\n',
    });
    assert.deepEqual(healthzAnswer([ping, logCheck, failing], q('')), {
      status: 500,
      body: '[+]ping ok\n[+]log ok\n[-]syncloop failed: reason withheld\nhealthz check failed\n',
    });
    assert.deepEqual(healthzAnswer([ping, failing], q('exclude=syncloop&exclude=nope')), {
      status: 200,
      body: 'ok',
    });
    assert.deepEqual(healthzAnswer([ping, failing], q('exclude=syncloop&exclude=nope&verbose')), {
      status: 200,
      body: '[+]ping ok\n[+]syncloop excluded: ok\nwarn: some health checks cannot be excluded: no matches for "nope"\nhealthz check passed\n',
    });
  });
});

const UID = 'uid-web';
const pod = {
  metadata: { name: 'web', namespace: 'default', uid: UID },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
};
const desired: DesiredPods = new Map([[UID, { pod, source: 'file', static: true }]]);
const statuses: PodStatuses = new Map([
  [
    UID,
    {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'c',
          image: 'busybox',
          imageID: '',
          ready: true,
          restartCount: 0,
          containerID: 'containerd://c1',
          state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
        },
      ],
    },
  ],
]);
const runtimePods: RuntimePods = new Map([
  [UID, { uid: UID, name: 'web', namespace: 'default', sandboxIds: ['s1'], containerIds: ['c1'] }],
]);

async function get(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string; type: string | null }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
}

describe('server actor: listeners', () => {
  const deps: ServerDeps = {
    nodeName: 'node-s',
    syncFrequencyMs: 60_000,
    healthz: { address: '127.0.0.1', port: 0 },
    readOnly: { address: '127.0.0.1', port: 0 },
  };

  it('healthz serves ping only; read-only serves healthz with syncloop, /pods and /metrics', async (t) => {
    const a = await startActor(server, deps);
    t.after(() => a.stop());
    assert.deepEqual(a.crashes, []);
    const { ports } = a.inspect() as { ports: { healthz: number; readOnly: number } };
    const w = a.bus.port('podManager');
    w.publish('desiredPods', desired);
    a.bus.port('status').publish('podStatuses', statuses);
    a.bus.port('pleg').publish('runtimePods', runtimePods);
    a.bus.port('syncLoop').send('syncLoop', { type: 'syncLoop.syncTick' });

    assert.deepEqual(await get(ports.healthz, '/healthz'), {
      status: 200,
      body: 'ok',
      type: 'text/plain; charset=utf-8',
    });
    assert.equal((await get(ports.healthz, '/healthz/ping')).body, 'ok');
    assert.equal((await get(ports.healthz, '/healthz/syncloop')).status, 404);
    assert.equal((await get(ports.healthz, '/pods')).status, 404);
    assert.equal(
      (await get(ports.readOnly, '/healthz?verbose')).body,
      '[+]ping ok\n[+]log ok\n[+]syncloop ok\nhealthz check passed\n',
    );
    assert.equal((await get(ports.readOnly, '/healthz', 'POST')).status, 405);

    const pods = JSON.parse((await get(ports.readOnly, '/pods')).body);
    assert.equal(pods.kind, 'PodList');
    assert.deepEqual(
      pods.items.map((p: { metadata: { name: string } }) => p.metadata.name),
      ['web'],
    );
    assert.equal(pods.items[0].status.phase, 'Running');

    const m = await get(ports.readOnly, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^kubelet_running_pods 1$/m);
    assert.match(m.body, /^kubelet_running_containers\{container_state="running"\} 1$/m);
    assert.match(m.body, /^kubelet_node_name\{node="node-s"\} 1$/m);
    assert.match(m.body, /^# TYPE kubelet_pod_start_duration_seconds histogram$/m);
    assert.match(m.body, /^process_cpu_seconds_total /m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: m.body, encoding: 'utf8' });
    if (promtool.error) t.skip(`promtool not installed (Debian's prometheus package): ${promtool.error.message}`);
    else assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);

    // the syncLoop stops iterating: after 5 min the check fails, with upstream's bodies
    a.clock.advance(SYNC_LOOP_MIN_MS + 1);
    assert.deepEqual(await get(ports.readOnly, '/healthz/syncloop'), {
      status: 500,
      body: 'internal server error: sync Loop took longer than expected\n',
      type: 'text/plain; charset=utf-8',
    });
    assert.equal(
      (await get(ports.readOnly, '/healthz')).body,
      '[+]ping ok\n[+]log ok\n[-]syncloop failed: reason withheld\nhealthz check failed\n',
    );
    assert.equal((await get(ports.healthz, '/healthz')).body, 'ok');
    a.bus.port('syncLoop').send('syncLoop', { type: 'syncLoop.housekeeping' });
    assert.equal((await get(ports.readOnly, '/healthz/syncloop')).body, 'ok');
  });

  it('/stats/summary (503 before a sample, only_cpu_and_memory) and /metrics/resource from the nodeStats view; promtool passes', async (t) => {
    const a = await startActor(server, { ...deps, healthz: undefined });
    t.after(() => a.stop());
    const { ports } = a.inspect() as { ports: { readOnly: number } };
    assert.equal((await get(ports.readOnly, '/stats/summary')).status, 503);
    assert.match((await get(ports.readOnly, '/metrics/resource')).body, /^scrape_error 1$/m);
    const time = '2027-01-01T00:00:10.000Z';
    a.bus.port('stats').publish('nodeStats', {
      sampledAt: 0,
      errors: [],
      summary: {
        node: {
          nodeName: 'node-a',
          startTime: time,
          cpu: { time, usageCoreNanoSeconds: 3e9 },
          memory: { time, workingSetBytes: 1000 },
          fs: { time, usedBytes: 5 },
        },
        pods: [
          {
            podRef: { name: 'web', namespace: 'default', uid: UID },
            startTime: time,
            cpu: { time, usageCoreNanoSeconds: 2e9 },
            memory: { time, workingSetBytes: 600 },
            containers: [
              {
                name: 'app',
                startTime: time,
                cpu: { time, usageCoreNanoSeconds: 1e9 },
                memory: { time, workingSetBytes: 500 },
                logs: { time, usedBytes: 1 },
              },
            ],
          },
        ],
      },
    });
    const full = JSON.parse((await get(ports.readOnly, '/stats/summary')).body);
    assert.equal(full.node.fs.usedBytes, 5);
    assert.equal(full.pods[0].containers[0].logs.usedBytes, 1);
    const only = JSON.parse((await get(ports.readOnly, '/stats/summary?only_cpu_and_memory=true')).body);
    assert.equal(only.node.fs, undefined);
    assert.equal(only.pods[0].containers[0].logs, undefined);
    assert.equal(only.pods[0].containers[0].memory.workingSetBytes, 500);
    const m = await get(ports.readOnly, '/metrics/resource');
    assert.match(m.body, /^container_cpu_usage_seconds_total\{container="app",namespace="default",pod="web"\} 1 \d+$/m);
    assert.match(m.body, /^scrape_error 0$/m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: m.body, encoding: 'utf8' });
    if (promtool.error)
      return t.skip(`promtool not installed (Debian's prometheus package): ${promtool.error.message}`);
    assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  });

  it('observes kubelet_pod_start_duration_seconds from first sight to the first Running status', async (t) => {
    const a = await startActor(server, { ...deps, healthz: undefined });
    t.after(() => a.stop());
    const { ports } = a.inspect() as { ports: { readOnly: number } };
    a.bus.port('podManager').publish('desiredPods', desired);
    a.clock.advance(2500);
    a.bus.port('status').send('status', { type: 'status.podStatusChanged', uid: UID, status: statuses.get(UID)! });
    a.bus.port('status').send('status', { type: 'status.podStatusChanged', uid: UID, status: statuses.get(UID)! });
    const body = (await get(ports.readOnly, '/metrics')).body;
    assert.match(body, /^kubelet_pod_start_duration_seconds_count 1$/m);
    assert.match(body, /^kubelet_pod_start_duration_seconds_sum 2\.5$/m);
    assert.match(body, /^kubelet_pod_start_duration_seconds_bucket\{le="2"\} 0$/m);
    assert.match(body, /^kubelet_pod_start_duration_seconds_bucket\{le="3"\} 1$/m);
  });

  it('observes the PLEG relist duration and interval (upstream DefBuckets) from pleg.relisted', async (t) => {
    const a = await startActor(server, { ...deps, healthz: undefined });
    t.after(() => a.stop());
    const { ports } = a.inspect() as { ports: { readOnly: number } };
    const pleg = a.bus.port('pleg');
    pleg.send('plegRelists', { type: 'pleg.relisted', durationMs: 30 });
    pleg.send('plegRelists', { type: 'pleg.relisted', durationMs: 7, intervalMs: 1000 });
    const body = (await get(ports.readOnly, '/metrics')).body;
    assert.match(body, /^kubelet_pleg_relist_duration_seconds_count 2$/m);
    assert.match(body, /^kubelet_pleg_relist_duration_seconds_bucket\{le="0\.01"\} 1$/m);
    assert.match(body, /^kubelet_pleg_relist_duration_seconds_bucket\{le="0\.05"\} 2$/m);
    assert.match(body, /^kubelet_pleg_relist_interval_seconds_count 1$/m);
    assert.match(body, /^kubelet_pleg_relist_interval_seconds_sum 1$/m);
  });

  it('counts kubelet_started_pods_total, kubelet_started_containers_total by type and prober_probe_total; promtool passes', async (t) => {
    const a = await startActor(server, { ...deps, healthz: undefined });
    t.after(() => a.stop());
    const { ports } = a.inspect() as { ports: { readOnly: number } };
    const initPod = {
      ...pod,
      spec: { initContainers: [{ name: 'init', image: 'busybox' }], containers: [{ name: 'c', image: 'busybox' }] },
    };
    a.bus.port('podManager').publish('desiredPods', new Map([[UID, { pod: initPod, source: 'file', static: true }]]));
    const synced = (actions: string[]) => ({
      type: 'runtime.podSynced' as const,
      uid: UID,
      seq: 1,
      result: {
        phase: 'Running',
        apiStatus: {},
        actions,
        waiting: [],
        status: {},
      } as unknown as import('../../protocols/messages/runtime.ts').SyncResult,
    });
    a.bus.port('runtime').send('runtimeReply', synced(['createSandbox(attempt 0)', 'start init (attempt 0)']));
    a.bus
      .port('runtime')
      .send('runtimeReply', synced(['start c (attempt 0)', 'kill c: x', 'start c (attempt 1, created before)']));
    a.bus.port('probes').send('probeRuns', {
      type: 'probe.ran',
      podUid: UID,
      podName: 'web',
      namespace: 'default',
      containerName: 'c',
      probeType: 'readiness',
      result: 'successful',
    });
    const body = (await get(ports.readOnly, '/metrics')).body;
    assert.match(body, /^kubelet_started_pods_total 1$/m);
    assert.match(body, /^kubelet_started_containers_total\{container_type="init_container"\} 1$/m);
    assert.match(body, /^kubelet_started_containers_total\{container_type="container"\} 2$/m);
    assert.match(
      body,
      /^prober_probe_total\{probe_type="Readiness",result="successful",container="c",pod="web",namespace="default",pod_uid="uid-web"\} 1$/m,
    );
    assert.match(body, /^kubelet_node_name\{node="node-s"\} 1$/m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    if (promtool.error) t.skip(`promtool not installed (Debian's prometheus package): ${promtool.error.message}`);
    else assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  });

  it('a read-only port in use crashes the instance naming the address; nothing stays open', async (t) => {
    const first = await startActor(server, { ...deps, healthz: undefined });
    t.after(() => first.stop());
    const { ports } = first.inspect() as { ports: { readOnly: number } };
    const second = await startActor(server, { ...deps, readOnly: { address: '127.0.0.1', port: ports.readOnly } });
    assert.equal(second.crashes.length, 1);
    assert.match(
      String(second.crashes[0]),
      new RegExp(`read-only server on 127\\.0\\.0\\.1:${ports.readOnly}: .*EADDRINUSE`),
    );
  });
});

describe('server: flags and config fields', () => {
  it('upstream defaults: healthz on 127.0.0.1:10248, the read-only port off; 0 disables healthz; bad values are refused', async () => {
    const { DEFAULT_FLAGS, parseFlags } = await import('../../bin/flags.ts');
    const { parseKubeletConfig } = await import('../../bin/config-file.ts');
    assert.deepEqual(
      [DEFAULT_FLAGS.healthzPort, DEFAULT_FLAGS.healthzBindAddress, DEFAULT_FLAGS.readOnlyPort, DEFAULT_FLAGS.address],
      [10248, '127.0.0.1', 0, '0.0.0.0'],
    );
    const f = parseFlags([
      '--healthz-port=0',
      '--read-only-port',
      '10255',
      '--address=127.0.0.1',
      '--healthz-bind-address=::1',
    ]);
    assert.deepEqual([f.healthzPort, f.readOnlyPort, f.address, f.healthzBindAddress], [0, 10255, '127.0.0.1', '::1']);
    assert.throws(() => parseFlags(['--read-only-port=70000']), /"--read-only-port" flag: must be between 0 and 65535/);
    assert.throws(
      () => parseFlags(['--healthz-bind-address=localhost']),
      /"localhost" for "--healthz-bind-address" flag: not an IP address/,
    );
    // a pointer upstream: an explicit 0 in the file is kept (no healthz server); readOnlyPort 0 is the default
    const kc = (body: string) =>
      parseKubeletConfig(
        `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n${body}`,
        '/etc/k.yaml',
      );
    assert.deepEqual(kc('healthzPort: 0\nreadOnlyPort: 0\nhealthzBindAddress: ""\n').values, { healthzPort: 0 });
    assert.deepEqual(kc('healthzPort: 0\n').ignored, []);
  });
});
