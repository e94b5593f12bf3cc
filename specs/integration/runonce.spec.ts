// --runonce on real containerd (upstream pkg/kubelet/runonce.go): the static pods are run once,
// their statuses printed, and the exit code says whether all of them ran. What runs is read from
// the runtime directly; the fixture removes every pod afterwards (runonce leaves them running).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { formatRunOnce, runOnce } from '../../bin/runonce.ts';
import { RealClock } from '../../kernel/clock.ts';
import { createLogger } from '../../kernel/log.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-a';
const SLEEP = '["sh", "-c", "trap \\"exit 0\\" TERM; while true; do sleep 1; done"]';
const pod = (name: string, containers: string[], image = BUSYBOX_IMAGE) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
${containers.map((c) => `  - {name: ${c}, image: "${image}", command: ${SLEEP}}`).join('\n')}
`;

const node = useNodeFixture({ node: NODE, prefix: 'kts-runonce-' });
const running = async (name: string) =>
  (
    await node.cri.listContainers({
      labelSelector: { 'io.kubernetes.pod.name': `${name}-${NODE}` },
      state: { state: 'CONTAINER_RUNNING' },
    })
  )
    .map((c) => c.metadata.name)
    .sort();

describe('--runonce on real containerd', () => {
  it('runs the static pods, prints each one running, exits 0; the containers keep running', async () => {
    const dirs = await node.dirs();
    await writeFile(join(dirs.manifests, 'web.yaml'), pod('web', ['app', 'sidecar']));
    await writeFile(join(dirs.manifests, 'cache.yaml'), pod('cache', ['redis']));
    const d = node.daemon(dirs, ['--runonce']);
    assert.equal(await d.exited, 0, d.lines.slice(-10).join('\n'));
    assert.ok(d.lines.includes('default/web-node-a: running (app running, sidecar running)'), d.lines.join('\n'));
    assert.ok(d.lines.includes('default/cache-node-a: running (redis running)'));
    assert.ok(d.lines.some((l) => /Started kubelet as runonce/.test(l)));
    assert.deepEqual(await running('web'), ['app', 'sidecar']);
    assert.deepEqual(await running('cache'), ['redis']);
  });

  it('a pod that does not run within the bounded retries fails the run (the others still reported); no source at all is an error', async (t) => {
    const dirs = await node.dirs();
    await writeFile(join(dirs.manifests, 'ok.yaml'), pod('ok', ['app']));
    // nothing listens on port 1: the pull fails at once, every time
    await writeFile(join(dirs.manifests, 'bad.yaml'), pod('bad', ['app'], '127.0.0.1:1/nope:1'));
    const clock = new RealClock();
    const log = createLogger({ verbosity: 0, now: () => clock.now(), sink: { write: () => {} } });
    const k = node.track(
      createKubelet({
        flags: {
          ...DEFAULT_FLAGS,
          containerRuntimeEndpoint: node.containerd.endpoint,
          podManifestPath: dirs.manifests,
          rootDir: dirs.root,
          podLogsDir: join(dirs.root, 'logs'),
        },
        clock,
        log,
        nodeName: NODE,
      }),
    );
    t.after(() => k.stop());
    await k.start();
    const results = await runOnce(k, { clock, log, sources: ['file'], retryDelayMs: 200, maxRetries: 3 });
    const byPod = new Map(results.map((r) => [r.pod, r]));
    assert.equal(byPod.get('default/ok-node-a')?.error, undefined);
    assert.equal(
      byPod.get('default/bad-node-a')?.error,
      'timeout error: pod "default/bad-node-a" containers not running after 3 retries',
    );
    assert.match(
      formatRunOnce(results),
      /^default\/bad-node-a: failed: timeout error: .* \(app waiting \((ErrImagePull|ImagePullBackOff)\)\)$/m,
    );
    assert.deepEqual(await running('ok'), ['app']);
    await assert.rejects(runOnce(k, { clock, log, sources: [] }), /no pod manifest update/);
  });
});
