// Tier 4: liveness, readiness and startup probes on real containerd, with the real daemon against
// the API server stand-in. The pods are the Kubernetes documentation's examples (Configure
// Liveness, Readiness and Startup Probes) on the local busybox: exec, http and tcp liveness
// restart the container at the documented time (±1 probe period), read from containerd (the new
// instance's attempt) and from the events; a grpc liveness probe talks to a health server this
// spec runs on the host, reached through a hostNetwork pod (the probe dials the pod IP, which for
// such a pod is the node's); a readiness probe on a closed port keeps Ready False in the API
// until the port opens; and a kubelet restart does not flip a ready container to NotReady.
// All the pods start at once (they are independent), each test waits for its own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { Container as CriContainer, CriRuntime } from '../../protocols/cri/types.ts';
import type { Event } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  HEALTH_CHECK_METHOD,
  type ServingStatus,
} from '../../protocols/grpc/health.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-a';
const NS = 'default';

let containerd: ContainerdHandle;
let cri: CriRuntime;
let api: ApiServer;
let work: string;
let daemon: Daemon;
let health: {
  server: grpc.Server;
  port: number;
  status: ServingStatus;
  checks: { service: string; userAgent: string }[];
};

const getPod = (name: string) => api.store.get('pods', NS, name) as unknown as Pod | undefined;
const cond = (p: Pod | undefined, type: string) => p?.status?.conditions?.find((c) => c.type === type);
const events = (name: string) =>
  (api.store.list('events', { namespace: NS }) as unknown as Event[]).filter((e) => e.involvedObject.name === name);

function createPod(name: string, spec: Record<string, unknown>): void {
  api.store.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName: NODE, ...spec },
  } as unknown as JsonObject);
}

function container(extra: Record<string, unknown>) {
  return { image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent', ...extra };
}

async function instances(name: string): Promise<CriContainer[]> {
  const l = await cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': NS },
  });
  return l.sort((a, b) => a.metadata.attempt - b.metadata.attempt);
}

// Every container instance of the spec's pods as first seen in containerd (polled every 500 ms
// from before() on): the garbage collector removes old exited instances, and the tests run one
// after the other while the pods run side by side.
const seen = new Map<string, Map<number, { id: string; startedAt: number }>>();
let poller: ReturnType<typeof setInterval> | undefined;
async function poll(): Promise<void> {
  for (const c of await cri.listContainers().catch(() => [])) {
    const name = c.labels['io.kubernetes.pod.name'] ?? '';
    const byAttempt = seen.get(name) ?? new Map();
    seen.set(name, byAttempt);
    if (byAttempt.get(c.metadata.attempt)?.startedAt) continue;
    const st = await cri.containerStatus(c.id).catch(() => undefined);
    if (st && st.startedAt > 0) byAttempt.set(c.metadata.attempt, { id: c.id, startedAt: st.startedAt / 1_000_000 });
  }
}

/** The first instance's start, when the kubelet decided to kill it (the Killing event), the second's start. */
async function restartTiming(
  name: string,
  probe: string,
): Promise<{ startedAt: number; killedAt: number; restartedAt: number }> {
  const second = await eventually(() => seen.get(name)?.get(1), 150_000, `${name} restarted (attempt 1 in containerd)`);
  const first = seen.get(name)?.get(0);
  assert.ok(first, `${name}: the first instance was seen`);
  const killing = await eventually(
    () => events(name).find((e) => e.reason === 'Killing' && e.message?.includes(`failed ${probe} probe`)),
    10_000,
    `${name}: Killing event`,
  );
  assert.equal(killing.type, 'Normal');
  assert.match(killing.message!, new RegExp(`^Container app failed ${probe} probe, will be restarted$`));
  const unhealthy = events(name).find((e) => e.reason === 'Unhealthy');
  assert.ok(unhealthy, `${name}: an Unhealthy event`);
  assert.equal(unhealthy.type, 'Warning');
  assert.equal(unhealthy.involvedObject.fieldPath, 'spec.containers{app}');
  return {
    startedAt: first.startedAt,
    killedAt: Date.parse(killing.firstTimestamp ?? ''),
    restartedAt: second.startedAt,
  };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-probes-'));
  containerd = await startContainerd();
  cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  api = await startApiServer({ nodes: [NODE] });

  // the gRPC health server: on the host, so on the hostNetwork pod's IP
  const server = new grpc.Server();
  health = { server, port: 0, status: 'SERVING', checks: [] };
  server.register(
    HEALTH_CHECK_METHOD,
    (
      call: grpc.ServerUnaryCall<{ service: string }, { status: ServingStatus }>,
      cb: grpc.sendUnaryData<{ status: ServingStatus }>,
    ) => {
      health.checks.push({
        service: call.request.service,
        userAgent: String(call.metadata.get('user-agent')[0] ?? ''),
      });
      cb(null, { status: health.status });
    },
    encodeHealthCheckResponse,
    decodeHealthCheckRequest,
    'unary',
  );
  health.port = await new Promise<number>((res, rej) =>
    server.bindAsync('0.0.0.0:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );

  daemon = startDaemon({
    endpoint: containerd.endpoint,
    rootDir: join(work, 'root'),
    nodeName: NODE,
    args: [`--kubeconfig=${api.kubeconfigFor(NODE)}`, '--node-status-update-frequency=2s'],
  });
  await eventually(
    () => cond(api.store.get('nodes', NODE) as unknown as Pod, 'Ready')?.status === 'True',
    40_000,
    'the Node Ready',
  );

  let polling = false;
  poller = setInterval(() => {
    if (polling) return;
    polling = true;
    void poll().finally(() => {
      polling = false;
    });
  }, 500);

  // Configure Liveness...: "Define a liveness command", verbatim but the image
  createPod('liveness-exec', {
    containers: [
      container({
        name: 'app',
        args: ['/bin/sh', '-c', 'touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600'],
        livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, initialDelaySeconds: 5, periodSeconds: 5 },
      }),
    ],
  });
  // "Define a liveness HTTP request": /healthz answers for 10 s, then not (busybox httpd, the file
  // removed: 404); the probe's own terminationGracePeriodSeconds shortens the kill
  createPod('liveness-http', {
    containers: [
      container({
        name: 'app',
        command: [
          'sh',
          '-c',
          'mkdir -p /www && echo ok > /www/healthz && httpd -p 8080 -h /www && sleep 10 && rm /www/healthz && exec sleep 600',
        ],
        ports: [{ name: 'liveness-port', containerPort: 8080 }],
        livenessProbe: {
          httpGet: {
            path: '/healthz',
            port: 'liveness-port',
            httpHeaders: [{ name: 'Custom-Header', value: 'Awesome' }],
          },
          initialDelaySeconds: 3,
          periodSeconds: 3,
          terminationGracePeriodSeconds: 2,
        },
      }),
    ],
  });
  // "Define a TCP liveness probe": the port listens for 15 s, then closes
  createPod('liveness-tcp', {
    terminationGracePeriodSeconds: 2,
    containers: [
      container({
        name: 'app',
        command: ['sh', '-c', 'httpd -f -p 8080 & sleep 15; kill $!; exec sleep 600'],
        livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 5, periodSeconds: 5 },
      }),
    ],
  });
  // "Define a gRPC liveness probe", against the spec's health server
  createPod('liveness-grpc', {
    hostNetwork: true,
    containers: [
      container({
        name: 'app',
        command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
        livenessProbe: {
          grpc: { port: health.port, service: 'kts' },
          periodSeconds: 2,
          failureThreshold: 2,
          terminationGracePeriodSeconds: 1,
        },
      }),
    ],
  });
  // a readiness probe on a port that opens after 12 s
  createPod('readiness-tcp', {
    terminationGracePeriodSeconds: 2,
    containers: [
      container({
        name: 'app',
        command: ['sh', '-c', 'sleep 12; exec httpd -f -p 8080'],
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2 },
      }),
    ],
  });
});

after(async () => {
  if (poller) clearInterval(poller);
  await daemon?.stop();
  if (cri) await removeAllPods(cri);
  cri?.close();
  health?.server.forceShutdown();
  await api?.stop();
  await containerd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('probes (real containerd, API server stand-in)', () => {
  it('readiness: Ready False in the API while the port is closed (ContainersNotReady, started true), True once it opens; no Ready True before', async () => {
    const failed = await eventually(
      () => events('readiness-tcp').find((e) => e.reason === 'Unhealthy'),
      30_000,
      'a readiness failure',
    );
    assert.match(failed.message!, /^Readiness probe failed: dial tcp [0-9.]+:8080: connect: connection refused$/);
    const notReady = await eventually(
      () => {
        const p = getPod('readiness-tcp');
        return p?.status?.phase === 'Running' && cond(p, 'Ready')?.status === 'False' ? p : undefined;
      },
      10_000,
      'Running and not Ready in the API',
    );
    assert.equal(cond(notReady, 'ContainersReady')?.reason, 'ContainersNotReady');
    assert.equal(notReady.status!.containerStatuses![0]!.ready, false);
    assert.equal(notReady.status!.containerStatuses![0]!.started, true);
    const ready = await eventually(
      () => {
        const p = getPod('readiness-tcp');
        return cond(p, 'Ready')?.status === 'True' ? p : undefined;
      },
      30_000,
      'Ready True once the port opens',
    );
    assert.equal(ready.status!.containerStatuses![0]!.ready, true);
    assert.equal(cond(ready, 'ContainersReady')?.status, 'True');
    // the port opened 12 s after the start: never Ready before (from the container's own start)
    const startedAt = seen.get('readiness-tcp')!.get(0)!.startedAt;
    const readyAt = Date.parse(cond(ready, 'Ready')!.lastTransitionTime!);
    assert.ok(readyAt - startedAt >= 11_000, `Ready ${(readyAt - startedAt) / 1000}s after the start`);
  });

  it('exec liveness: cat /tmp/healthy fails once the file is gone (30 s); the container is killed after 3 failures 5 s apart and restarted', async () => {
    const t = await restartTiming('liveness-exec', 'liveness');
    const killedAfter = (t.killedAt - t.startedAt) / 1000;
    // documented: the probe fails after 30 s, the third failure 10 s later (±1 period of 5 s)
    assert.ok(killedAfter > 30 && killedAfter <= 50, `killed ${killedAfter}s after the start`);
    const unhealthy = events('liveness-exec').find((e) => e.reason === 'Unhealthy')!;
    assert.match(
      unhealthy.message!,
      /^Liveness probe failed: cat: can't open '\/tmp\/healthy': No such file or directory/,
    );
    const p = await eventually(
      () => {
        const x = getPod('liveness-exec');
        return (x?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? x : undefined;
      },
      20_000,
      'restartCount 1 in the API',
    );
    assert.equal(p.status!.containerStatuses![0]!.lastState?.terminated !== undefined, true);
  });

  it("http liveness: /healthz by port name stops answering after 10 s; killed after 3 failures 3 s apart with the probe's grace period, restarted", async () => {
    const t = await restartTiming('liveness-http', 'liveness');
    const killedAfter = (t.killedAt - t.startedAt) / 1000;
    assert.ok(killedAfter > 10 && killedAfter <= 22, `killed ${killedAfter}s after the start`);
    const unhealthy = events('liveness-http').find((e) => e.reason === 'Unhealthy')!;
    assert.equal(unhealthy.message, 'Liveness probe failed: HTTP probe failed with statuscode: 404');
    // `sleep` as PID 1 ignores SIGTERM: only the probe's 2 s (not the pod's 30 s) before SIGKILL
    const gap = (t.restartedAt - t.killedAt) / 1000;
    assert.ok(gap < 15, `restarted ${gap}s after the kill`);
  });

  it('tcp liveness: the port closes after 15 s; killed after 3 failures 5 s apart, restarted', async () => {
    const t = await restartTiming('liveness-tcp', 'liveness');
    const killedAfter = (t.killedAt - t.startedAt) / 1000;
    assert.ok(killedAfter > 15 && killedAfter <= 35, `killed ${killedAfter}s after the start`);
    const unhealthy = events('liveness-tcp').find((e) => e.reason === 'Unhealthy')!;
    assert.match(unhealthy.message!, /^Liveness probe failed: dial tcp [0-9.]+:8080: connect: connection refused$/);
  });

  it('grpc liveness: Health/Check with the service name and kube-probe/<version>; NOT_SERVING kills and restarts the container', async () => {
    await eventually(() => health.checks.length >= 2, 30_000, 'two health checks from the kubelet');
    assert.equal(health.checks[0]!.service, 'kts');
    assert.match(health.checks[0]!.userAgent, /^kube-probe\/1\.\d+/);
    assert.equal((await instances('liveness-grpc')).length, 1, 'not restarted while SERVING');
    health.status = 'NOT_SERVING';
    const flippedAt = Date.now();
    const t = await restartTiming('liveness-grpc', 'liveness');
    const took = (t.killedAt - flippedAt) / 1000;
    // 2 failures 2 s apart (+1 period, and the event's second precision)
    assert.ok(took <= 7, `killed ${took}s after NOT_SERVING`);
    const unhealthy = events('liveness-grpc').find((e) => e.reason === 'Unhealthy')!;
    assert.equal(unhealthy.message, 'Liveness probe failed: service unhealthy (responded with "NOT_SERVING")');
    health.status = 'SERVING';
  });

  it('a kubelet restart keeps a ready container Ready: no NotReady write, the readiness probe resumes', async () => {
    await eventually(() => cond(getPod('readiness-tcp'), 'Ready')?.status === 'True', 60_000, 'readiness-tcp Ready');
    // the container must have run 10 s before the new kubelet starts (upstream's grace)
    const startedAt = seen.get('readiness-tcp')!.get(0)!.startedAt;
    await eventually(() => Date.now() - startedAt > 11_000, 20_000, 'the container running for 11 s');
    await daemon.stop();
    const restartedAt = Date.now();
    daemon = startDaemon({
      endpoint: containerd.endpoint,
      rootDir: join(work, 'root'),
      nodeName: NODE,
      args: [`--kubeconfig=${api.kubeconfigFor(NODE)}`, '--node-status-update-frequency=2s'],
    });
    await daemon.waitForLog(/probe result.*readiness-tcp.*readiness.*success/, 60_000);
    const patches = api.requests.filter(
      (r) =>
        r.verb === 'patch' &&
        r.resource === 'pods' &&
        r.subresource === 'status' &&
        r.name === 'readiness-tcp' &&
        r.time.getTime() >= restartedAt,
    );
    for (const p of patches) {
      const conds =
        (p.body as { status?: { conditions?: { type: string; status: string }[] } })?.status?.conditions ?? [];
      assert.ok(
        !conds.some((x) => x.type === 'Ready' && x.status === 'False'),
        `a NotReady write after the restart: ${JSON.stringify(conds)}`,
      );
    }
    assert.equal(cond(getPod('readiness-tcp'), 'Ready')?.status, 'True');
    assert.equal((await instances('readiness-tcp')).length, 1, 'the container was not restarted');
  });
});
