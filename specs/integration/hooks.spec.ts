// Tier 4: container lifecycle hooks (issue 10 point 3) on a private real containerd, the real
// daemon against the API server stand-in. The Kubernetes documentation's "Attach Handlers to
// Container Lifecycle Events" example, retargeted to the local busybox: the postStart handler
// writes /usr/share/message, which the container itself prints and `cat` reads through ExecSync
// (the page's `kubectl exec ... cat /usr/share/message`); its preStop handler writes a marker
// that the container's own TERM trap looks for, so the container's log says whether SIGTERM came
// after the hook. A failing postStart gives FailedPostStartHook and a restart. What happened is
// read from containerd (attempts, the container's log file) and the API's store, not the kubelet.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Event } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { JsonObject } from '../support/apiserver/index.ts';
import { useCluster } from '../support/cluster-node.ts';
import { eventually } from '../support/daemon.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-a';
const NS = 'default';

const node = useNodeFixture({ node: NODE, prefix: 'kts-hooks-' });
const cluster = useCluster(node, NODE);

const getPod = (name: string) => cluster.api.store.get('pods', NS, name) as unknown as Pod | undefined;
const events = (name: string) =>
  (cluster.api.store.list('events', { namespace: NS }) as unknown as Event[]).filter(
    (e) => e.involvedObject.name === name,
  );

function createPod(name: string, spec: Record<string, unknown>): void {
  cluster.api.store.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName: NODE, ...spec },
  } as unknown as JsonObject);
}

async function instances(name: string) {
  const l = await node.cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': NS },
  });
  return l.sort((a, b) => a.metadata.attempt - b.metadata.attempt);
}

/** The lines a container wrote, from its CRI log file (`<time> stdout F <line>`). */
async function logLines(containerId: string): Promise<string[]> {
  const st = await node.cri.containerStatus(containerId);
  const text = await readFile(st.logPath, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' ').slice(3).join(' '));
}

/**
 * Deletes the pod and answers its container's final status and log once stopped. The kubelet's
 * own DELETE (after the final status) fails meanwhile, so the pod stays configured and its
 * stopped container stays in containerd to be read; then the pod may go.
 */
async function deleteAndRead(pod: string, id: string) {
  const hold = cluster.api.faults.set({
    mode: 'status500',
    resource: 'pods',
    verb: 'delete',
    user: `system:node:${NODE}`,
  });
  try {
    cluster.api.store.delete('pods', NS, pod);
    const st = await eventually(
      async () => {
        const x = await node.cri.containerStatus(id);
        return x.state === 'CONTAINER_EXITED' ? x : undefined;
      },
      40_000,
      `${pod}: the container stopped`,
    );
    return { st, lines: await logLines(id) };
  } finally {
    hold.clear();
  }
}

describe('lifecycle hooks (real containerd, API server stand-in)', () => {
  it("the documentation's lifecycle-demo: postStart writes /usr/share/message before the container is reported running; preStop runs before SIGTERM", async () => {
    await cluster.kubelet();
    // the main process prints the message once it is there, and on TERM says whether the preStop marker exists
    const main = [
      'trap \'if [ -f /tmp/prestop-ran ]; then echo "TERM after preStop"; else echo "TERM before preStop"; fi; exit 0\' TERM',
      'while [ ! -f /usr/share/message ]; do sleep 0.2; done',
      'cat /usr/share/message',
      'while true; do sleep 0.2; done',
    ].join('; ');
    createPod('lifecycle-demo', {
      terminationGracePeriodSeconds: 20,
      containers: [
        {
          name: 'lifecycle-demo-container',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', main],
          lifecycle: {
            // the page's handler, after a pause: the API must not show the container running before it ends
            postStart: {
              exec: {
                command: [
                  '/bin/sh',
                  '-c',
                  'sleep 3; mkdir -p /usr/share; echo Hello from the postStart handler > /usr/share/message',
                ],
              },
            },
            preStop: { exec: { command: ['/bin/sh', '-c', 'echo ran > /tmp/prestop-ran; sleep 1'] } },
          },
        },
      ],
    });
    const running = await eventually(
      () => {
        const p = getPod('lifecycle-demo');
        return p?.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
      },
      60_000,
      'lifecycle-demo running in the API',
    );
    const [c] = await instances('lifecycle-demo');
    assert.ok(c, 'the container in containerd');
    // the moment the API first shows it running, the hook's file is there
    const cat = await node.cri.execSync(c.id, ['cat', '/usr/share/message'], 10);
    assert.equal(cat.exitCode, 0, `cat: ${cat.stderr.toString()}`);
    assert.equal(cat.stdout.toString(), 'Hello from the postStart handler\n');
    assert.equal(running.status?.phase, 'Running');
    await eventually(
      async () => (await logLines(c.id)).includes('Hello from the postStart handler'),
      10_000,
      'the container printed the message',
    );

    const { st, lines } = await deleteAndRead('lifecycle-demo', c.id);
    assert.equal(st.exitCode, 0, 'the TERM trap ran: the container was stopped with SIGTERM, not killed');
    assert.ok(
      lines.includes('TERM after preStop'),
      `the container saw the preStop marker when TERM came: ${JSON.stringify(lines)}`,
    );
    const killing = events('lifecycle-demo').find((e) => e.reason === 'Killing');
    assert.equal(killing?.message, 'Stopping container lifecycle-demo-container');
    assert.ok(!events('lifecycle-demo').some((e) => /Hook/.test(e.reason)), 'no hook failed');
  });

  it('an httpGet preStop reaches the container on the pod IP and a named port before it is stopped', async () => {
    await cluster.kubelet();
    createPod('prestop-http', {
      // httpd as PID 1 ignores SIGTERM: the grace ends with SIGKILL
      terminationGracePeriodSeconds: 3,
      containers: [
        {
          name: 'web',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          // busybox httpd in the foreground, logging each request (-vv) to the container's log
          command: ['sh', '-c', 'mkdir -p /www && echo bye > /www/bye && exec httpd -f -vv -p 8080 -h /www'],
          ports: [{ name: 'http', containerPort: 8080 }],
          lifecycle: {
            preStop: { httpGet: { path: '/bye', port: 'http', httpHeaders: [{ name: 'X-Reason', value: 'prestop' }] } },
          },
        },
      ],
    });
    await eventually(
      () => getPod('prestop-http')?.status?.containerStatuses?.[0]?.state?.running,
      60_000,
      'prestop-http running in the API',
    );
    const [c] = await instances('prestop-http');
    assert.ok(c);
    const { lines } = await deleteAndRead('prestop-http', c.id);
    assert.ok(
      lines.some((l) => l.includes('/bye')),
      `the hook's request is in the server's log: ${JSON.stringify(lines)}`,
    );
    assert.ok(!events('prestop-http').some((e) => e.reason === 'FailedPreStopHook'), 'the hook succeeded');
  });

  it('a failing postStart: FailedPostStartHook, the container killed and restarted', async () => {
    await cluster.kubelet();
    createPod('poststart-fails', {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'],
          lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo no > /dev/stderr; exit 3'] } } },
        },
      ],
    });
    const failed = await eventually(
      () => events('poststart-fails').find((e) => e.reason === 'FailedPostStartHook'),
      60_000,
      'a FailedPostStartHook event',
    );
    assert.equal(failed.type, 'Warning');
    assert.equal(failed.message, 'PostStartHook failed');
    assert.equal(failed.involvedObject.fieldPath, 'spec.containers{app}');
    const killing = await eventually(
      () => events('poststart-fails').find((e) => e.reason === 'Killing'),
      10_000,
      'its Killing event',
    );
    assert.equal(killing.message, 'FailedPostStartHook');
    await eventually(
      async () => (await instances('poststart-fails')).some((c) => c.metadata.attempt >= 1),
      60_000,
      'restarted (attempt 1 in containerd)',
    );
    const [first] = await instances('poststart-fails');
    assert.equal(first?.state, 'CONTAINER_EXITED', 'the failed instance was stopped');
    const p = await eventually(
      () => {
        const x = getPod('poststart-fails');
        return (x?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? x : undefined;
      },
      30_000,
      'restartCount 1 in the API',
    );
    assert.notEqual(p.status?.containerStatuses?.[0]?.ready, true);
  });
});
