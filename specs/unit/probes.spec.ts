// Tier 2: the probes actor in virtual time. Exec probes run through the fake CRI's ExecSync; the
// HTTP and TCP "ports" are a fake network (a table of what answers where) behind the real runner's
// interface. The views it reads (desiredPods, podStatuses, podWorkerStates) are published here as
// their owners would; what it writes (probeResults, 'probe', 'events') is collected.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { probes } from '../../actors/probes/index.ts';
import { probeRunner, type HttpProbeRequest, type Outcome, type ProbeRunner } from '../../actors/probes/adapters.ts';
import type { Container, Pod, PodStatus } from '../../protocols/kube/pod.ts';
import type { ProbeResultChanged } from '../../protocols/messages/channels.ts';
import { FakeCri } from '../support/fake-cri.ts';
import { CriError } from '../../protocols/cri/errors.ts';

const S = 1000;
const T0 = 1_700_000_000_000;
const UID = 'uid-web';

function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function setup(containers: Container[], opts: { random?: number; startAt?: number } = {}) {
  const clock = new VirtualClock(opts.startAt ?? T0);
  const bus = new Bus();
  const cri = new FakeCri({ clock });
  cri.addImage('busybox');
  const sb = await cri.runPodSandbox({
    metadata: { name: 'web', namespace: 'default', uid: UID, attempt: 0 },
    labels: { 'io.kubernetes.pod.uid': UID },
    annotations: {},
    logDirectory: '/tmp',
  });
  const ids = new Map<string, string>();
  for (const c of containers) {
    const id = await cri.createContainer(
      sb,
      {
        metadata: { name: c.name, attempt: 0 },
        image: { image: 'busybox' },
        labels: { 'io.kubernetes.pod.uid': UID },
        annotations: {},
        logPath: 'x.log',
      },
      { metadata: { name: 'web', namespace: 'default', uid: UID, attempt: 0 } } as never,
    );
    await cri.startContainer(id);
    ids.set(c.name, id);
  }
  // the fake network: port → what answers there
  const http = new Map<number, (r: HttpProbeRequest) => Outcome>();
  const tcpOpen = new Set<number>();
  const requests: HttpProbeRequest[] = [];
  const real = probeRunner({ cri, clock, userAgent: 'kube-probe/1.34' });
  const runner: ProbeRunner = {
    ...real,
    httpGet: async (r) => {
      requests.push(r);
      return (
        http.get(r.port)?.(r) ?? {
          result: 'failure',
          output: `Get "http://${r.host}:${r.port}${r.path}": dial tcp ${r.host}:${r.port}: connect: connection refused`,
        }
      );
    },
    tcp: async (host, port) =>
      tcpOpen.has(port)
        ? { result: 'success', output: '' }
        : { result: 'failure', output: `dial tcp ${host}:${port}: connect: connection refused` },
  };
  const pod = { metadata: { name: 'web', namespace: 'default', uid: UID }, spec: { containers } } as unknown as Pod;
  const a = await startActor(probes, { runner, random: () => opts.random ?? 0 }, { bus, clock });
  const results = collect(bus, 'probe') as ProbeResultChanged[];
  const events = collect(bus, 'events');
  const startedAt = new Map<string, number>();
  const status = (
    over: Partial<Record<string, { running?: boolean; started?: boolean; ready?: boolean }>> = {},
  ): PodStatus => ({
    phase: 'Running',
    podIP: '10.88.0.2',
    containerStatuses: containers.map((c) => {
      const o = over[c.name] ?? {};
      const running = o.running ?? true;
      return {
        name: c.name,
        containerID: `containerd://${ids.get(c.name)}`,
        image: 'busybox',
        imageID: '',
        restartCount: 0,
        ready: o.ready ?? false,
        started: o.started ?? running,
        state: running
          ? { running: { startedAt: iso(startedAt.get(c.name) ?? clock.now()) } }
          : { terminated: { exitCode: 1 } },
      };
    }),
  });
  const publishStatus = (s: PodStatus) => bus.port('statusManager').publish('podStatuses', new Map([[UID, s]]));
  const publishPod = (p: Pod = pod) =>
    bus.port('podManager').publish('desiredPods', new Map([[UID, { pod: p, source: 'file' as const, static: true }]]));
  const publishWorker = (state: 'syncing' | 'terminating' | 'terminated') =>
    bus
      .port('podWorkers')
      .publish('podWorkerStates', new Map([[UID, { uid: UID, name: 'web', namespace: 'default', state }]]));
  const settle = async (ms: number) => clock.advanceAsync(ms);
  const view = () => bus.port('x').current('probeResults');
  return {
    a,
    runner,
    bus,
    clock,
    cri,
    ids,
    http,
    tcpOpen,
    requests,
    results,
    events,
    status,
    publishStatus,
    publishPod,
    publishWorker,
    settle,
    view,
    startedAt,
    pod,
  };
}

describe('probes actor: liveness', () => {
  it('exec via ExecSync: three failures 5 s apart after initialDelay set failure once, with Unhealthy events; nothing more until a new container', async (t) => {
    let healthy = true;
    const h = await setup([
      {
        name: 'app',
        image: 'busybox',
        livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, initialDelaySeconds: 5, periodSeconds: 5 },
      },
    ]);
    t.after(() => h.a.stop());
    const execs: { cmd: string[]; timeout: number }[] = [];
    h.cri.onExec((_id, cmd, timeout) => {
      execs.push({ cmd, timeout });
      return healthy
        ? { exitCode: 0 }
        : { exitCode: 1, stderr: Buffer.from("cat: can't open '/tmp/healthy': No such file or directory\n") };
    });
    h.startedAt.set('app', T0);
    h.publishStatus(h.status());
    h.publishPod();
    h.publishWorker('syncing');
    await h.settle(0);
    // seeded success at the first tick (random 0: at once), probing from 5 s on
    assert.deepEqual(
      h.results.map((r) => [r.probeType, r.result]),
      [['liveness', 'success']],
    );
    await h.settle(30 * S);
    assert.equal(execs.length, 6, 'probes at 5, 10, ..., 30 s');
    assert.deepEqual(execs[0], { cmd: ['cat', '/tmp/healthy'], timeout: 1 });
    healthy = false;
    await h.settle(10 * S);
    assert.equal(h.results.length, 1, 'two failures: below the threshold');
    await h.settle(5 * S);
    assert.deepEqual(h.results.at(-1), {
      type: 'probe.resultChanged',
      podUid: UID,
      containerName: 'app',
      containerId: h.ids.get('app'),
      probeType: 'liveness',
      result: 'failure',
    });
    assert.equal(
      h.view()!.byContainer.get(h.ids.get('app')!)!.liveness,
      'failure',
      'the view holds it when the message goes',
    );
    const unhealthy = h.events.filter((e) => e.reason === 'Unhealthy');
    assert.equal(unhealthy.length, 3);
    assert.equal(
      unhealthy[0]!.message,
      "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n",
    );
    assert.equal(unhealthy[0]!.eventType, 'Warning');
    assert.equal(unhealthy[0]!.involvedObject.fieldPath, 'spec.containers{app}');
    const n = execs.length;
    await h.settle(30 * S);
    assert.equal(execs.length, n, 'on hold: the dying container is not probed again');
    assert.deepEqual(h.a.crashes, []);
  });

  it('an exec that times out is a failure ("command ... timed out"); a CRI error is unknown: retried 3 times, an event, the result thrown away', async (t) => {
    const h = await setup([
      {
        name: 'app',
        image: 'busybox',
        livenessProbe: { exec: { command: ['hang'] }, periodSeconds: 10, failureThreshold: 1 },
      },
    ]);
    t.after(() => h.a.stop());
    let mode: 'timeout' | 'error' = 'error';
    let calls = 0;
    h.cri.onExec(() => {
      calls++;
      if (mode === 'error') throw new CriError('Unknown', 2, 'ExecSync', 'failed to exec in container: boom');
      // containerd ends an exec past its timeout with DeadlineExceeded
      throw new CriError('DeadlineExceeded', 4, 'ExecSync', 'timeout 1s exceeded: context deadline exceeded');
    });
    h.publishStatus(h.status());
    h.publishPod();
    await h.settle(0);
    await h.settle(S);
    assert.equal(calls, 3, 'three tries');
    assert.match(h.events.at(-1)!.message, /^Liveness probe errored and resulted in unknown state: /);
    assert.equal(h.results.filter((r) => r.result === 'failure').length, 0);
    mode = 'timeout';
    await h.settle(10 * S);
    await h.settle(5 * S);
    assert.equal(h.results.at(-1)!.result, 'failure');
    assert.equal(h.events.at(-1)!.message, 'Liveness probe failed: command "hang" timed out');
  });
});

describe('probes actor: readiness and startup', () => {
  it('readiness: failure before the first success, a port by name on the pod IP with headers and the user agent; success when it answers', async (t) => {
    const h = await setup([
      {
        name: 'app',
        image: 'busybox',
        ports: [{ name: 'web', containerPort: 8080 }],
        readinessProbe: {
          httpGet: { path: '/ready', port: 'web', scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] },
          periodSeconds: 2,
        },
      },
    ]);
    t.after(() => h.a.stop());
    h.publishStatus(h.status());
    h.publishPod();
    await h.settle(0);
    assert.deepEqual(
      h.results.map((r) => r.result),
      ['failure'],
      'not ready before the first result',
    );
    assert.deepEqual(h.requests[0], {
      scheme: 'http',
      host: '10.88.0.2',
      port: 8080,
      path: '/ready',
      headers: [{ name: 'X-Probe', value: '1' }],
    });
    assert.match(
      h.events[0]!.message,
      /^Readiness probe failed: Get "http:\/\/10\.88\.0\.2:8080\/ready": dial tcp 10\.88\.0\.2:8080: connect: connection refused$/,
    );
    h.http.set(8080, () => ({ result: 'success', output: 'ok' }));
    await h.settle(2 * S);
    assert.deepEqual(
      h.results.map((r) => r.result),
      ['failure', 'success'],
    );
    h.http.set(8080, () => ({ result: 'warning', output: 'Probe terminated redirects, Response body: ' }));
    await h.settle(2 * S);
    assert.equal(h.results.length, 2, 'a warning is a success');
    assert.equal(h.events.at(-1)!.reason, 'ProbeWarning');
    assert.equal(h.events.at(-1)!.message, 'Readiness probe warning: Probe terminated redirects, Response body: ');
  });

  it('startup gates liveness: liveness does not run until the status says started; a startup failure past the threshold is reported', async (t) => {
    const h = await setup([
      {
        name: 'app',
        image: 'busybox',
        startupProbe: { tcpSocket: { port: 9000 }, periodSeconds: 1, failureThreshold: 3 },
        livenessProbe: { tcpSocket: { port: 9001 }, periodSeconds: 1 },
      },
    ]);
    t.after(() => h.a.stop());
    h.publishStatus(h.status({ app: { started: false } }));
    h.publishPod();
    await h.settle(0);
    await h.settle(2 * S);
    assert.deepEqual(
      h.results.map((r) => `${r.probeType}:${r.result}`),
      ['liveness:success', 'startup:failure'],
    );
    assert.equal(h.events.filter((e) => e.message.startsWith('Liveness')).length, 0, 'liveness waits for the start');
    // the prober's startup success makes the status say started: liveness runs from then on
    h.tcpOpen.add(9000);
    h.publishStatus(h.status({ app: { started: true } }));
    await h.settle(S);
    await h.settle(S);
    assert.ok(h.events.some((e) => e.message.startsWith('Liveness probe failed: dial tcp 10.88.0.2:9001')));
  });
});

describe('probes actor: lifecycle and timing', () => {
  it('a worker created within one period of the start waits a random part of the period (jitter); later ones start at once', async (t) => {
    const h = await setup(
      [{ name: 'app', image: 'busybox', readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 10 } }],
      { random: 0.5 },
    );
    t.after(() => h.a.stop());
    h.publishStatus(h.status());
    h.publishPod();
    await h.settle(4 * S);
    assert.equal(h.results.length, 0, 'nothing before 5 s (0.5 of the 10 s period)');
    await h.settle(S);
    assert.equal(h.results.length, 1);
    assert.equal(h.clock.now() - T0, 5 * S);
  });

  it('terminating stops liveness and startup, terminated or gone stops readiness too and removes its results', async (t) => {
    const h = await setup([
      {
        name: 'app',
        image: 'busybox',
        readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1 },
        livenessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1 },
      },
    ]);
    t.after(() => h.a.stop());
    h.publishStatus(h.status());
    h.publishPod();
    h.publishWorker('syncing');
    await h.settle(0);
    const id = h.ids.get('app')!;
    assert.deepEqual(h.view()!.byContainer.get(id), { readiness: 'failure', liveness: 'success' });
    h.publishWorker('terminating');
    assert.deepEqual(h.view()!.byContainer.get(id), { readiness: 'failure' });
    const inspect = () => (h.a.inspect() as { workers: { probe: string }[] }).workers.map((w) => w.probe);
    assert.deepEqual(inspect(), ['readiness']);
    h.bus.port('podManager').publish('desiredPods', new Map());
    assert.equal(h.view()!.byContainer.has(id), false);
    assert.deepEqual(inspect(), []);
  });

  it('a restarted probes actor keeps the results and the start time from its view: no flip of a ready container', async (t) => {
    const h = await setup([
      { name: 'app', image: 'busybox', readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5 } },
    ]);
    h.tcpOpen.add(80);
    h.publishStatus(h.status());
    h.publishPod();
    await h.settle(0);
    await h.settle(5 * S);
    assert.deepEqual(
      h.results.map((r) => r.result),
      ['failure', 'success'],
    );
    const before = h.view()!;
    await h.a.stop();
    await h.settle(60 * S);
    const again = await startActor(probes, { runner: h.runner, random: () => 0 }, { bus: h.bus, clock: h.clock });
    t.after(() => again.stop());
    await h.settle(0);
    await h.settle(10 * S);
    assert.equal(h.view()!.startedAt, before.startedAt);
    assert.deepEqual(
      h.results.map((r) => r.result),
      ['failure', 'success'],
      'no failure seeded for the running container',
    );
    assert.equal(h.view()!.byContainer.get(h.ids.get('app')!)!.readiness, 'success');
  });
});
