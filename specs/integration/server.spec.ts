// Tier 4: the kubelet's healthz and read-only ports (actors/server) on the real daemon and real
// containerd: /healthz answers "ok", /pods lists the static pod the runtime runs, /metrics passes
// promtool and counts it in kubelet_running_pods.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, freePort } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { useNodeFixture } from '../support/node-fixture.ts';

const NODE = 'node-srv';
const node = useNodeFixture({ node: NODE, prefix: 'kts-server-' });

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

const POD = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ${BUSYBOX_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`;

describe('healthz and read-only ports on real containerd', () => {
  it('/healthz is ok, /pods lists the running pod, /metrics passes promtool with kubelet_running_pods 1', async () => {
    const dirs = await node.dirs();
    const [healthz, readOnly] = [await freePort(), await freePort()];
    await writeFile(join(dirs.manifests, 'web.yaml'), POD);
    const d = node.daemon(dirs, [`--healthz-port=${healthz}`, `--read-only-port=${readOnly}`, '--address=127.0.0.1']);
    await d.waitForLog(/"server":"readOnly"/);
    assert.deepEqual(await get(healthz, '/healthz'), { status: 200, body: 'ok' });
    assert.deepEqual(await get(readOnly, '/healthz'), { status: 200, body: 'ok' });

    // the runtime runs the pod (checked in containerd), then the kubelet reports it
    await eventually(
      async () => {
        const cs = await node.cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': `web-${NODE}` },
          state: { state: 'CONTAINER_RUNNING' },
        });
        return cs.length === 1;
      },
      30_000,
      'the container running in containerd',
    );
    const pods = await eventually(
      async () => {
        const list = JSON.parse((await get(readOnly, '/pods')).body) as {
          kind: string;
          items: { metadata: { name: string }; status?: { phase?: string } }[];
        };
        return list.items.some((p) => p.status?.phase === 'Running') ? list : undefined;
      },
      30_000,
      '/pods showing the pod Running',
    );
    assert.equal(pods.kind, 'PodList');
    assert.deepEqual(
      pods.items.map((p) => p.metadata.name),
      [`web-${NODE}`],
    );

    const metrics = await eventually(
      async () => {
        const m = await get(readOnly, '/metrics');
        return /^kubelet_running_pods 1$/m.test(m.body) ? m : undefined;
      },
      20_000,
      'kubelet_running_pods 1',
    );
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, new RegExp(`^kubelet_node_name\\{node="${NODE}"\\} 1$`, 'm'));
    assert.match(metrics.body, /^kubelet_running_containers\{container_state="running"\} 1$/m);
    assert.match(metrics.body, /^kubelet_pleg_relist_duration_seconds_count [1-9]\d*$/m);
    assert.match(metrics.body, /^kubelet_pod_start_duration_seconds_count 1$/m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics.body, encoding: 'utf8' });
    assert.ifError(promtool.error);
    assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  });
});
