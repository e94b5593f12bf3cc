// Tier 4: a pod using a field kubelet-ts does not support is not run silently wrong, on real
// containerd. Standalone (a static pod), the refused container is never created in containerd
// and the kubelet's status view (the debug socket's `pod`) shows CreateContainerConfigError naming
// the field; with the API server stand-in, the pod's status in the API says the same and the pod
// has one Warning event. The containers the refusal does not concern run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Event } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { eventually } from '../support/daemon.ts';
import { debugRequest } from '../support/debug-request.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { useNodeFixture } from '../support/node-fixture.ts';

const NODE = 'node-a';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
const PROBE_MESSAGE = 'spec.containers[0].lifecycle.stopSignal: not supported by kubelet-ts';

const node = useNodeFixture({ node: NODE, prefix: 'kts-fields-', daemonArgs: ['--file-check-frequency=1s'] });

interface ContainerLine {
  name: string;
  state: string;
  reason: string | null;
  message: string | null;
}

async function containerNames(podName: string, ns = 'default'): Promise<string[]> {
  const cs = await node.cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': podName, 'io.kubernetes.pod.namespace': ns },
  });
  return cs.map((c) => c.metadata.name).sort();
}

const PROBED_YAML = [
  'apiVersion: v1',
  'kind: Pod',
  'metadata:',
  '  name: probed',
  '  namespace: default',
  'spec:',
  '  terminationGracePeriodSeconds: 1',
  '  containers:',
  '  - name: app',
  `    image: ${BUSYBOX_IMAGE}`,
  `    command: ${JSON.stringify(SLEEP)}`,
  '    lifecycle: {stopSignal: SIGUSR1}',
  '  - name: side',
  `    image: ${BUSYBOX_IMAGE}`,
  `    command: ${JSON.stringify(SLEEP)}`,
  '',
].join('\n');

const VOLUME_YAML = [
  'apiVersion: v1',
  'kind: Pod',
  'metadata:',
  '  name: vol',
  '  namespace: default',
  'spec:',
  '  terminationGracePeriodSeconds: 1',
  '  volumes: [{name: data, nfs: {server: 10.0.0.1, path: /exports}}]',
  '  containers:',
  '  - name: app',
  `    image: ${BUSYBOX_IMAGE}`,
  `    command: ${JSON.stringify(SLEEP)}`,
  '    volumeMounts: [{name: data, mountPath: /data}]',
  '',
].join('\n');

describe('pods using fields kubelet-ts does not support (real containerd)', () => {
  it('standalone: the refused container is never created, the status view names the field, the rest of the pod runs', async () => {
    const dirs = await node.dirs();
    await writeFile(join(dirs.manifests, 'probed.yaml'), PROBED_YAML);
    await writeFile(join(dirs.manifests, 'vol.yaml'), VOLUME_YAML);
    const d = node.daemon(dirs);
    await d.waitForLog(/debug socket listening/);

    // The container without the hook runs in containerd; the other is refused, never created.
    await eventually(async () => (await containerNames(`probed-${NODE}`)).includes('side'), 20_000, 'side created');
    const probed = await eventually(
      async () => {
        const p = await debugRequest<{ phase: string; containers: ContainerLine[] }>(dirs.root, {
          cmd: 'pod',
          pod: `default/probed-${NODE}`,
          id: 1,
        });
        const app = p.containers.find((c) => c.name === 'app');
        return app?.reason === 'CreateContainerConfigError' ? p : undefined;
      },
      20_000,
      "app waiting with CreateContainerConfigError in the kubelet's status",
    );
    assert.deepEqual(
      probed.containers.find((c) => c.name === 'app'),
      {
        ...probed.containers.find((c) => c.name === 'app'),
        state: 'waiting',
        reason: 'CreateContainerConfigError',
        message: PROBE_MESSAGE,
      },
    );
    assert.equal(probed.phase, 'Pending');
    // A pod-level refusal: nothing of the pod is created, the sandbox is (as upstream's config error).
    const vol = await eventually(
      async () => {
        const p = await debugRequest<{ containers: ContainerLine[] }>(dirs.root, {
          cmd: 'pod',
          pod: `default/vol-${NODE}`,
          id: 2,
        });
        return p.containers[0]?.reason === 'CreateContainerConfigError' ? p : undefined;
      },
      20_000,
      'vol waiting',
    );
    assert.equal(vol.containers[0]!.message, 'spec.volumes[0].nfs: not supported by kubelet-ts');

    // Several syncs later: still nothing created, and the refusal was logged (and recorded) once.
    await d.waitForLog(/"msg":"pod uses fields kubelet-ts does not support/);
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await containerNames(`probed-${NODE}`), ['side']);
    assert.deepEqual(await containerNames(`vol-${NODE}`), []);
    const warned = d.lines.filter(
      (l) => l.includes('pod uses fields kubelet-ts does not support') && l.includes(`probed-${NODE}`),
    );
    assert.equal(warned.length, 1, warned.join('\n'));
    const events = d.lines.filter(
      (l) => l.includes('"Event occurred"') && l.includes('"reason":"Failed"') && l.includes(`probed-${NODE}`),
    );
    assert.equal(events.length, 1, events.join('\n'));
    assert.ok(events[0]!.includes(`Error: ${PROBE_MESSAGE}`), events[0]);
  });

  describe('with the API server stand-in', () => {
    let api: ApiServer;
    before(async () => {
      api = await startApiServer({ nodes: [NODE] });
    });
    after(async () => {
      await api?.stop();
    });

    it('the API status shows CreateContainerConfigError naming the field, with one Warning event; the container is not in containerd', async () => {
      const dirs = await node.dirs();
      // (with cluster DNS: a ClusterFirst pod on a node without it also gets a MissingClusterDNS Warning)
      node.daemon(dirs, [
        `--kubeconfig=${api.kubeconfigFor(NODE)}`,
        '--node-status-update-frequency=2s',
        '--cluster-dns=10.96.0.10',
      ]);
      await eventually(() => api.store.get('nodes', NODE) !== undefined, 40_000, 'the Node registered');
      const body = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'probed', namespace: 'default' },
        spec: {
          nodeName: NODE,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: BUSYBOX_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: SLEEP,
              lifecycle: { stopSignal: 'SIGUSR1' },
            },
            { name: 'side', image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent', command: SLEEP },
          ],
        },
      };
      const created = api.store.create('pods', body as unknown as JsonObject) as unknown as Pod;
      const getPod = () => api.store.get('pods', 'default', 'probed') as unknown as Pod | undefined;
      const status = await eventually(
        () => {
          const app = getPod()?.status?.containerStatuses?.find((c) => c.name === 'app');
          return app?.state?.waiting?.reason === 'CreateContainerConfigError' ? getPod()!.status! : undefined;
        },
        20_000,
        'app waiting with CreateContainerConfigError in the API',
      );
      assert.deepEqual(status.containerStatuses!.find((c) => c.name === 'app')!.state, {
        waiting: { reason: 'CreateContainerConfigError', message: PROBE_MESSAGE },
      });
      assert.equal(status.phase, 'Pending');
      await eventually(
        () => getPod()?.status?.containerStatuses?.find((c) => c.name === 'side')?.state?.running,
        20_000,
        'side running',
      );

      const warnings = () =>
        (api.store.list('events', { namespace: 'default' }) as unknown as Event[]).filter(
          (e) => e.involvedObject.uid === created.metadata.uid && e.type === 'Warning',
        );
      const [warning] = await eventually(
        () => (warnings().length > 0 ? warnings() : undefined),
        20_000,
        'a Warning event',
      );
      assert.equal(warning!.reason, 'Failed');
      assert.equal(warning!.message, `Error: ${PROBE_MESSAGE}`);
      assert.equal(warning!.involvedObject.kind, 'Pod');
      assert.equal(warning!.involvedObject.fieldPath, undefined);
      // Later syncs (a status change of side, the resync) add no event and create nothing.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(warnings().length, 1);
      assert.equal(warnings()[0]!.count ?? 1, 1);
      assert.deepEqual(await containerNames('probed'), ['side']);
    });
  });
});
