// Tier 4: the walking skeleton on real containerd. The daemon runs as a child process, exactly as
// under systemd; every assertion about pods reads the runtime directly over CRI, never the
// kubelet's own view.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container } from '../../protocols/cri/types.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';
import { useNodeFixture, type NodeDirs } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE, BUSYBOX_IMAGE_2 } from '../support/images.ts';

const NODE = 'node-a';

function podYaml(
  name: string,
  containers: { name: string; image?: string; command: string[]; env?: Record<string, string> }[],
  extra = '',
): string {
  const cs = containers.map((c) =>
    [
      `  - name: ${c.name}`,
      `    image: ${c.image ?? BUSYBOX_IMAGE}`,
      `    command: ${JSON.stringify(c.command)}`,
      ...(c.env ? ['    env:', ...Object.entries(c.env).map(([k, v]) => `    - {name: ${k}, value: "${v}"}`)] : []),
    ].join('\n'),
  );
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\nspec:\n  terminationGracePeriodSeconds: 2\n${extra}  containers:\n${cs.join('\n')}\n`;
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

async function containersOf(podName: string, running = false): Promise<Container[]> {
  const list = await node.cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': `${podName}-${NODE}` },
    ...(running ? { state: { state: 'CONTAINER_RUNNING' as const } } : {}),
  });
  return list.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name) || a.metadata.attempt - b.metadata.attempt);
}

async function sandboxesOf(podName: string) {
  return node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `${podName}-${NODE}` } });
}

const node = useNodeFixture({ node: NODE, prefix: 'kts-static-', daemonArgs: ['--file-check-frequency=2s'] });
const newDirs = () => node.dirs();
const daemon = (dirs: NodeDirs, args: string[] = []): Daemon => node.daemon(dirs, args);

describe('static pods on real containerd', () => {
  it('runs a two-container pod within seconds of its file appearing', async () => {
    const dirs = await newDirs();
    const d = daemon(dirs);
    await d.waitForLog(/kubelet-ts starting/);
    const t0 = Date.now();
    await writeFile(
      join(dirs.manifests, 'web.yaml'),
      podYaml('web', [
        { name: 'app', command: SLEEP },
        { name: 'sidecar', command: SLEEP },
      ]),
    );
    const running = await eventually(
      async () => {
        const cs = await containersOf('web', true);
        return cs.length === 2 ? cs : undefined;
      },
      15_000,
      'both containers running',
    );
    assert.deepEqual(
      running.map((c) => c.metadata.name),
      ['app', 'sidecar'],
    );
    const sandboxes = await sandboxesOf('web');
    assert.equal(sandboxes.length, 1);
    assert.equal(sandboxes[0]!.state, 'SANDBOX_READY');
    const status = await node.cri.podSandboxStatus(sandboxes[0]!.id);
    assert.match(status.network?.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'the pod has an IP from the CNI bridge');
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0}ms`);
  });

  it('replaces containers when the manifest changes and removes the pod when the file goes', async () => {
    const dirs = await newDirs();
    const file = join(dirs.manifests, 'edit.yaml');
    await writeFile(file, podYaml('edit', [{ name: 'app', command: SLEEP, env: { COLOR: 'blue' } }]));
    daemon(dirs);
    const first = await eventually(async () => (await containersOf('edit', true))[0], 15_000, 'first container');

    await writeFile(file, podYaml('edit', [{ name: 'app', command: SLEEP, env: { COLOR: 'green' } }]));
    const second = await eventually(
      async () => {
        const cs = await containersOf('edit', true);
        return cs.length === 1 && cs[0]!.id !== first.id ? cs[0] : undefined;
      },
      20_000,
      'container replaced after an env change',
    );
    // The edit gave the pod a new UID (the content changed): the old pod is terminated within
    // its grace period and then removed from the runtime.
    await eventually(
      async () => !(await containersOf('edit')).some((c) => c.id === first.id),
      15_000,
      'the old container removed',
    );
    const st = await node.cri.containerStatus(second.id);
    assert.equal(st.state, 'CONTAINER_RUNNING');

    await writeFile(
      file,
      podYaml('edit', [{ name: 'app', image: BUSYBOX_IMAGE_2, command: SLEEP, env: { COLOR: 'green' } }]),
    );
    const image2 = (await node.cri.imageStatus({ image: BUSYBOX_IMAGE_2 }))!.id;
    const third = await eventually(
      async () => {
        const cs = await containersOf('edit', true);
        return cs.length === 1 && cs[0]!.id !== second.id ? cs[0] : undefined;
      },
      20_000,
      'container replaced after an image change',
    );
    // The runtime reports the image by ID: the new container runs busybox 2.0.
    assert.equal((await node.cri.containerStatus(third.id)).imageRef, image2);

    await unlink(file);
    await eventually(
      async () => (await containersOf('edit')).length === 0 && (await sandboxesOf('edit')).length === 0,
      20_000,
      'containers and sandbox removed after the file is deleted',
    );
  });

  it('restarts per restartPolicy: Always restarts with growing attempts, Never leaves it, OnFailure only on non-zero', async () => {
    const dirs = await newDirs();
    await writeFile(
      join(dirs.manifests, 'always.yaml'),
      podYaml('always', [{ name: 'crash', command: ['sh', '-c', 'sleep 0.3; exit 3'] }]),
    );
    await writeFile(
      join(dirs.manifests, 'never.yaml'),
      podYaml('never', [{ name: 'once', command: ['sh', '-c', 'exit 1'] }], '  restartPolicy: Never\n'),
    );
    await writeFile(
      join(dirs.manifests, 'onfail-ok.yaml'),
      podYaml('onfail-ok', [{ name: 'ok', command: ['sh', '-c', 'exit 0'] }], '  restartPolicy: OnFailure\n'),
    );
    await writeFile(
      join(dirs.manifests, 'onfail-bad.yaml'),
      podYaml(
        'onfail-bad',
        [{ name: 'bad', command: ['sh', '-c', 'sleep 0.3; exit 2'] }],
        '  restartPolicy: OnFailure\n',
      ),
    );
    daemon(dirs);

    // The first restart is immediate; the next waits out the 10s crash-loop backoff.
    const attempts = await eventually(
      async () => {
        const cs = await containersOf('always');
        const max = Math.max(-1, ...cs.map((c) => c.metadata.attempt));
        return max >= 2 ? max : undefined;
      },
      40_000,
      'Always: attempt 2 (after one backoff)',
    );
    assert.ok(attempts >= 2);
    await eventually(
      async () => Math.max(-1, ...(await containersOf('onfail-bad')).map((c) => c.metadata.attempt)) >= 1,
      20_000,
      'OnFailure restarts a non-zero exit',
    );

    // Let several relists and syncs pass, then check the others stayed exited at attempt 0.
    await new Promise((r) => setTimeout(r, 4000));
    for (const name of ['never', 'onfail-ok']) {
      const cs = await containersOf(name);
      assert.equal(cs.length, 1, `${name}: exactly one container, never restarted`);
      assert.equal(cs[0]!.metadata.attempt, 0);
      const st = await node.cri.containerStatus(cs[0]!.id);
      assert.equal(st.state, 'CONTAINER_EXITED');
      assert.equal(st.exitCode, name === 'never' ? 1 : 0);
    }
  });

  it('reports a malformed manifest by file and field path; other pods and a broken-then-good pod keep running', async () => {
    const dirs = await newDirs();
    const good = join(dirs.manifests, 'good.yaml');
    const flaky = join(dirs.manifests, 'flaky.yaml');
    await writeFile(good, podYaml('good', [{ name: 'app', command: SLEEP }]));
    await writeFile(flaky, podYaml('flaky', [{ name: 'app', command: SLEEP }]));
    const d = daemon(dirs);
    const before = await eventually(
      async () => {
        const a = await containersOf('good', true);
        const b = await containersOf('flaky', true);
        return a.length === 1 && b.length === 1 ? [a[0]!.id, b[0]!.id] : undefined;
      },
      15_000,
      'both pods running',
    );

    // A new file with a field error: reported with the file and the field path.
    await writeFile(
      join(dirs.manifests, 'bad.yaml'),
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: app\n',
    );
    await d.waitForLog(/bad\.yaml.*spec\.containers\[0\]\.image/, 10_000);
    // A good file turning invalid (YAML syntax): its pod stays on the last good spec.
    await writeFile(flaky, 'apiVersion: v1\nkind: Pod\nmetadata: {name: flaky\nspec: [\n');
    await d.waitForLog(/flaky\.yaml/, 10_000);
    // Refused with a reason: a dotfile is ignored, a symlink out of the directory, a file over 10 MiB.
    await writeFile(join(dirs.manifests, '.hidden.yaml'), podYaml('hidden', [{ name: 'app', command: SLEEP }]));
    const outside = join(dirs.manifests, '..', 'outside.yaml');
    await writeFile(outside, podYaml('outside', [{ name: 'app', command: SLEEP }]));
    await symlink(outside, join(dirs.manifests, 'escape.yaml'));
    await writeFile(
      join(dirs.manifests, 'huge.yaml'),
      podYaml('huge', [{ name: 'app', command: SLEEP }]) + '#'.repeat(11 * 1024 * 1024),
    );
    await d.waitForLog(/escape\.yaml.*outside/i, 10_000);
    await d.waitForLog(/huge\.yaml.*(10 ?MiB|too large|exceeds)/i, 10_000);

    await new Promise((r) => setTimeout(r, 3000));
    const now = [(await containersOf('good', true))[0]?.id, (await containersOf('flaky', true))[0]?.id];
    assert.deepEqual(now, before, 'running pods untouched: same container ids');
    for (const name of ['bad', 'hidden', 'outside', 'huge']) {
      assert.equal((await sandboxesOf(name)).length, 0, `${name} must not run`);
    }
  });

  it('adopts running pods after kill -9 and restart: same container ids', async () => {
    const dirs = await newDirs();
    await writeFile(
      join(dirs.manifests, 'keep.yaml'),
      podYaml('keep', [
        { name: 'a', command: SLEEP },
        { name: 'b', command: SLEEP },
      ]),
    );
    const d1 = daemon(dirs);
    const ids = await eventually(
      async () => {
        const cs = await containersOf('keep', true);
        return cs.length === 2 ? cs.map((c) => c.id) : undefined;
      },
      15_000,
      'pod running',
    );
    const sandbox = (await sandboxesOf('keep'))[0]!.id;
    await d1.kill9();
    assert.deepEqual(
      (await containersOf('keep', true)).map((c) => c.id),
      ids,
      'pods survive the daemon',
    );

    const d2 = daemon(dirs);
    await d2.waitForLog(/kubelet-ts starting/);
    // Give it several relists and syncs to (wrongly) restart anything.
    await eventually(() => d2.lines.some((l) => /"podWorkers"|actor started|actorStarted/.test(l)) || true, 5000);
    await new Promise((r) => setTimeout(r, 5000));
    assert.deepEqual(
      (await containersOf('keep', true)).map((c) => c.id),
      ids,
    );
    assert.deepEqual(
      (await sandboxesOf('keep')).map((s) => s.id),
      [sandbox],
    );
    assert.equal((await containersOf('keep')).length, 2, 'no new containers were created');
  });

  it('SIGTERM stops the daemon with exit 0 and leaves pods running', async () => {
    const dirs = await newDirs();
    await writeFile(join(dirs.manifests, 'stay.yaml'), podYaml('stay', [{ name: 'a', command: SLEEP }]));
    const d = daemon(dirs);
    const id = await eventually(async () => (await containersOf('stay', true))[0]?.id, 15_000, 'pod running');
    assert.equal(await d.stop(), 0);
    assert.equal((await containersOf('stay', true))[0]?.id, id);
  });

  it('rejects bad flags with exit 2 naming the flag', async () => {
    const d = startDaemon({
      endpoint: node.containerd.endpoint,
      rootDir: join(node.work, 'x'),
      args: ['--no-such-flag=1'],
    });
    node.track(d);
    assert.equal(await d.exited, 2);
    assert.ok(
      d.lines.some((l) => l.includes('unknown flag: --no-such-flag')),
      d.lines.join('\n'),
    );
    const k = startDaemon({
      endpoint: node.containerd.endpoint,
      rootDir: join(node.work, 'y'),
      args: ['--kubeconfig=/nonexistent/kubelet.conf'],
    });
    node.track(k);
    assert.equal(await k.exited, 1);
    assert.ok(
      k.lines.some((l) => l.includes('kubeconfig /nonexistent/kubelet.conf: no such file')),
      k.lines.join('\n'),
    );
  });
});
