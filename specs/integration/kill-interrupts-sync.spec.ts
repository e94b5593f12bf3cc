// Tier 4, issue 8 defect 1: "A kill does not interrupt a sync in flight", on real containerd.
// A static pod of 1,000 busybox `sleep` containers (PID 1 ignores SIGTERM, so every stop takes
// the grace period unless it is a deadline) is still being created when its file is removed,
// 10 s after it appeared. The kill must stop that sync at its next CRI call and stop what runs:
// nothing of the pod may run 60 s later, and the pod is then removed from the runtime. Every
// check reads the runtime through the harness's own CRI client, never the kubelet's view; the
// fixture stops the daemon and removes every sandbox after the test, also when it fails.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually } from '../support/daemon.ts';
import { useNodeFixture } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { sleep } from '../support/wait.ts';

const NODE = 'node-k';
const CONTAINERS = 1000;
const GRACE_SECONDS = 10;

function hugePodYaml(name: string): string {
  const cs = Array.from(
    { length: CONTAINERS },
    (_, i) => `  - name: c${i}\n    image: ${BUSYBOX_IMAGE}\n    command: ["sleep", "3600"]`,
  );
  return (
    `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n` +
    `  terminationGracePeriodSeconds: ${GRACE_SECONDS}\n  containers:\n${cs.join('\n')}\n`
  );
}

const node = useNodeFixture({ node: NODE, prefix: 'kts-kill-', daemonArgs: ['--file-check-frequency=2s'] });

const selector = (running: boolean) => ({
  labelSelector: { 'io.kubernetes.pod.name': `huge-${NODE}` },
  ...(running ? { state: { state: 'CONTAINER_RUNNING' as const } } : {}),
});

describe('a kill does not interrupt a sync in flight (issue 8, defect 1), on real containerd', () => {
  it('a static pod of 1,000 containers whose file is removed 10 s after it appeared leaves nothing running within 60 s', async (t) => {
    const dirs = await node.dirs();
    const d = node.daemon(dirs);
    await d.waitForLog(/container runtime is ready/, 30_000);
    const file = join(dirs.manifests, 'huge.yaml');
    await writeFile(file, hugePodYaml('huge'));
    await eventually(
      async () => (await node.cri.listContainers(selector(true))).length > 0,
      30_000,
      'the first container running',
    );
    // the scenario's delay: the file goes 10 s after it appeared
    await sleep(10_000);
    const atRemoval = (await node.cri.listContainers(selector(false))).length;
    assert.ok(
      atRemoval < CONTAINERS,
      `the sync is still creating containers when the file goes (${atRemoval} created)`,
    );
    await unlink(file);
    const removedAt = performance.now();

    let running = -1;
    await eventually(
      async () => {
        running = (await node.cri.listContainers(selector(true))).length;
        return running === 0;
      },
      60_000,
      `nothing of the pod running (created when the file went: ${atRemoval})`,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; still running: ${running}`);
    });
    t.diagnostic(
      `${atRemoval} containers created when the file went; nothing running ${Math.round(performance.now() - removedAt)} ms later`,
    );
    // The removal that follows takes every container and the sandbox out of the runtime.
    await eventually(
      async () =>
        (await node.cri.listContainers(selector(false))).length === 0 &&
        (await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `huge-${NODE}` } })).length === 0,
      60_000,
      'the pod removed from the runtime',
      500,
    );
    t.diagnostic(`pod removed from the runtime ${Math.round(performance.now() - removedAt)} ms after its file`);
    assert.ok(d.proc.exitCode === null && d.proc.signalCode === null, 'the daemon is still running');
  });
});
