// Volumes on real containerd (issue 11): the volumeManager's emptyDir (disk and Memory) and
// hostPath, the mounts the runtime passes (readOnly, subPath, subPathExpr), fsGroup, a subPath
// through a symlink out of the volume refused, and the cleanup: deleting the pods, and a
// restarted kubelet finding an orphaned pod directory, leave no mount and no pod directory.
// What the containers see is read from inside them (exec); what the host has from /proc/mounts
// and the root dir.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container } from '../../protocols/cri/types.ts';
import { eventually } from '../support/daemon.ts';
import { useNodeFixture, type NodeDirs } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-v';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

const node = useNodeFixture({ node: NODE, prefix: 'kts-vol-', daemonArgs: ['--file-check-frequency=2s'] });

/** The node's mounts at or below `dir` (this spec's mount namespace is the daemon's). */
async function mountsUnder(dir: string): Promise<{ target: string; fstype: string; options: string }[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [, target = '', fstype = '', options = ''] = l.split(' ');
      return { target: target.replace(/\\040/g, ' '), fstype, options };
    })
    .filter((m) => m.target === dir || m.target.startsWith(`${dir}/`));
}

// whatever a failed test left mounted under the work directory goes (deepest first)
afterEach(async () => {
  for (const m of (await mountsUnder(node.work)).sort((a, b) => b.target.length - a.target.length)) {
    try {
      execFileSync('umount', ['-l', m.target]);
    } catch {
      // already gone
    }
  }
});

type Obj = Record<string, unknown>;

/** A static pod manifest (JSON is YAML). */
function pod(name: string, spec: Obj): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { terminationGracePeriodSeconds: 1, ...spec },
  });
}

const box = (name: string, more: Obj = {}): Obj => ({ name, image: BUSYBOX_IMAGE, command: SLEEP, ...more });

async function start(args: string[] = []) {
  const dirs = await node.dirs();
  const d = node.daemon(dirs, args);
  await d.waitForLog(/kubelet-ts starting/);
  return { dirs, d };
}

async function runningContainer(podName: string, container: string, timeoutMs = 60_000): Promise<Container> {
  return eventually(
    async () =>
      (
        await node.cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': `${podName}-${NODE}`, 'io.kubernetes.container.name': container },
          state: { state: 'CONTAINER_RUNNING' },
        })
      )[0],
    timeoutMs,
    `${podName}/${container} running`,
  );
}

async function exec(
  podName: string,
  container: string,
  cmd: string[],
): Promise<{ code: number; out: string; err: string }> {
  const c = await runningContainer(podName, container);
  const r = await node.cri.execSync(c.id, cmd, 10);
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

async function inside(podName: string, container: string, cmd: string[]): Promise<string> {
  const r = await exec(podName, container, cmd);
  assert.equal(r.code, 0, `${cmd.join(' ')} in ${podName}/${container}: ${r.err}`);
  return r.out;
}

async function podUid(podName: string): Promise<string> {
  return eventually(
    async () =>
      (await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `${podName}-${NODE}` } }))[0]?.labels[
        'io.kubernetes.pod.uid'
      ],
    30_000,
    `${podName}: a sandbox`,
  );
}

/** The daemon logged an event with this reason whose line matches. */
function eventLine(lines: readonly string[], reason: string, re: RegExp): string | undefined {
  return lines.find((l) => l.includes('"Event occurred"') && l.includes(`"reason":"${reason}"`) && re.test(l));
}

/** Deletes the manifests and waits until the root dir has no pod directory and nothing is mounted below it. */
async function deleteAllAndWaitClean(dirs: NodeDirs): Promise<void> {
  for (const f of await readdir(dirs.manifests)) await unlink(join(dirs.manifests, f));
  await eventually(
    async () => {
      const left = await readdir(join(dirs.root, 'pods')).catch(() => []);
      const mounted = await mountsUnder(dirs.root);
      return left.length === 0 && mounted.length === 0 ? true : undefined;
    },
    60_000,
    'no pod directory and no mount left under the root dir',
  );
}

describe('volumes on real containerd', () => {
  it('an init container writes into an emptyDir the main container reads read-only (the shared-volume documentation pages)', async () => {
    const { dirs } = await start();
    await writeFile(
      join(dirs.manifests, 'two.yaml'),
      pod('two-containers', {
        volumes: [{ name: 'shared-data', emptyDir: {} }],
        initContainers: [
          box('writer', {
            command: ['sh', '-c', 'echo Hello from the debian container > /pod-data/index.html'],
            volumeMounts: [{ name: 'shared-data', mountPath: '/pod-data' }],
          }),
        ],
        containers: [
          box('reader', {
            volumeMounts: [{ name: 'shared-data', mountPath: '/usr/share/nginx/html', readOnly: true }],
          }),
        ],
      }),
    );
    assert.equal(
      await inside('two-containers', 'reader', ['cat', '/usr/share/nginx/html/index.html']),
      'Hello from the debian container\n',
    );
    const write = await exec('two-containers', 'reader', ['sh', '-c', 'echo x > /usr/share/nginx/html/other']);
    assert.notEqual(write.code, 0, 'the read-only mount refuses a write');
    assert.match(write.err, /Read-only file system/);
    const uid = await podUid('two-containers');
    const dir = join(dirs.root, 'pods', uid, 'volumes', 'kubernetes.io~empty-dir', 'shared-data');
    assert.equal(await readFile(join(dir, 'index.html'), 'utf8'), 'Hello from the debian container\n');
    assert.equal((await stat(dir)).mode & 0o777, 0o777, 'emptyDir is world-writable as upstream');
    await deleteAllAndWaitClean(dirs);
  });

  it("a Memory emptyDir is a tmpfs of sizeLimit, else of the pod's memory limit; fsGroup gives the group, setgid and the container's group", async () => {
    const { dirs } = await start();
    await writeFile(
      join(dirs.manifests, 'mem.yaml'),
      pod('mem', {
        securityContext: { fsGroup: 2000 },
        volumes: [
          { name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
          { name: 'scratch', emptyDir: { medium: 'Memory' } },
        ],
        containers: [
          box('app', {
            resources: { limits: { memory: '48Mi' } },
            volumeMounts: [
              { name: 'cache', mountPath: '/cache' },
              { name: 'scratch', mountPath: '/scratch' },
            ],
          }),
        ],
      }),
    );
    await runningContainer('mem', 'app');
    const uid = await podUid('mem');
    const base = join(dirs.root, 'pods', uid, 'volumes', 'kubernetes.io~empty-dir');
    const mounts = await mountsUnder(base);
    const cache = mounts.find((m) => m.target === join(base, 'cache'));
    const scratch = mounts.find((m) => m.target === join(base, 'scratch'));
    assert.equal(cache?.fstype, 'tmpfs', JSON.stringify(mounts));
    assert.match(cache!.options, /size=8192k/);
    assert.equal(scratch?.fstype, 'tmpfs');
    assert.match(scratch!.options, /size=49152k/, "no sizeLimit: the pod's memory limit");
    const df = await inside('mem', 'app', ['df', '-k', '/cache']);
    assert.match(df.split('\n')[1] ?? '', /^tmpfs\s+8192\s/, df);
    // fsGroup: the volume's group, setgid, and the container runs with the group
    assert.equal((await stat(join(base, 'cache'))).gid, 2000);
    assert.ok(((await stat(join(base, 'cache'))).mode & 0o2000) !== 0, 'setgid on the volume root');
    assert.match(await inside('mem', 'app', ['id', '-G']), /\b2000\b/);
    await inside('mem', 'app', ['sh', '-c', 'echo hi > /cache/f']);
    assert.equal((await stat(join(base, 'cache', 'f'))).gid, 2000, 'a new file takes the group (setgid)');
    await deleteAllAndWaitClean(dirs);
  });

  it('hostPath: every type checked as upstream, the OrCreate ones made, readOnly honoured; a failed check is a FailedMount naming the cause', async () => {
    const { dirs, d } = await start();
    const host = join(dirs.root, '..', 'host');
    await mkdir(host);
    await writeFile(join(host, 'file'), 'host file\n');
    await writeFile(
      join(dirs.manifests, 'hp.yaml'),
      pod('hp', {
        volumes: [
          { name: 'mkdir', hostPath: { path: join(host, 'made/dir'), type: 'DirectoryOrCreate' } },
          { name: 'touch', hostPath: { path: join(host, 'made-file'), type: 'FileOrCreate' } },
          { name: 'dir', hostPath: { path: host, type: 'Directory' } },
          { name: 'file', hostPath: { path: join(host, 'file'), type: 'File' } },
          { name: 'null', hostPath: { path: '/dev/null', type: 'CharDevice' } },
          { name: 'any', hostPath: { path: join(host, 'file') } },
        ],
        containers: [
          box('app', {
            volumeMounts: [
              { name: 'mkdir', mountPath: '/mkdir' },
              { name: 'touch', mountPath: '/touch' },
              { name: 'dir', mountPath: '/host', readOnly: true },
              { name: 'file', mountPath: '/file' },
              { name: 'null', mountPath: '/mynull' },
              { name: 'any', mountPath: '/any' },
            ],
          }),
        ],
      }),
    );
    assert.equal(await inside('hp', 'app', ['cat', '/host/file']), 'host file\n');
    assert.equal(await inside('hp', 'app', ['cat', '/any']), 'host file\n');
    assert.notEqual(
      (await exec('hp', 'app', ['sh', '-c', 'echo x > /host/new'])).code,
      0,
      'readOnly hostPath refuses writes',
    );
    await inside('hp', 'app', ['sh', '-c', 'echo made > /mkdir/x']);
    assert.equal(await readFile(join(host, 'made/dir/x'), 'utf8'), 'made\n');
    assert.equal((await stat(join(host, 'made/dir'))).mode & 0o777, 0o755);
    assert.equal((await stat(join(host, 'made-file'))).mode & 0o777, 0o644);
    assert.ok((await stat(join(host, 'made-file'))).isFile());

    // the wrong types: each one a FailedMount with upstream's message; the pod's containers are not created
    await writeFile(
      join(dirs.manifests, 'bad.yaml'),
      pod('bad', {
        volumes: [
          { name: 'notdir', hostPath: { path: join(host, 'file'), type: 'Directory' } },
          { name: 'notsock', hostPath: { path: join(host, 'file'), type: 'Socket' } },
          { name: 'notfile', hostPath: { path: host, type: 'File' } },
          { name: 'notblock', hostPath: { path: '/dev/null', type: 'BlockDevice' } },
        ],
        containers: [box('app', { volumeMounts: [{ name: 'notdir', mountPath: '/x' }] })],
      }),
    );
    const want: [string, RegExp][] = [
      ['notdir', new RegExp(`hostPath type check failed: ${join(host, 'file')} is not a directory`)],
      ['notsock', /is not a socket file/],
      ['notfile', new RegExp(`hostPath type check failed: ${host} is not a file`)],
      ['notblock', /hostPath type check failed: \/dev\/null is not a block device/],
    ];
    for (const [vol, re] of want) {
      await eventually(
        () =>
          eventLine(
            d.lines,
            'FailedMount',
            new RegExp(`MountVolume.SetUp failed for volume \\\\"${vol}\\\\" : .*${re.source}`),
          ),
        30_000,
        `FailedMount for ${vol}`,
      );
    }
    const bad = await node.cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': `bad-${NODE}` } });
    assert.deepEqual(bad, [], 'no container of a pod whose volumes are not mounted');
    await deleteAllAndWaitClean(dirs);
    assert.equal(await readFile(join(host, 'file'), 'utf8'), 'host file\n', "the host's files stay");
  });

  it('subPath and subPathExpr bind inside the volume; a subPath through a symlink to /etc is refused with an event and the host is untouched', async () => {
    const { dirs, d } = await start();
    const etcBefore = (await readdir('/etc')).sort();
    await writeFile(
      join(dirs.manifests, 'sub.yaml'),
      pod('sub', {
        volumes: [{ name: 'vol', emptyDir: {} }],
        initContainers: [
          box('prep', {
            command: ['sh', '-c', 'mkdir -p /v/a && echo in-a > /v/a/f && ln -s /etc /v/escape && ln -s a /v/inside'],
            volumeMounts: [{ name: 'vol', mountPath: '/v' }],
          }),
        ],
        containers: [
          box('ok', {
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            volumeMounts: [
              { name: 'vol', mountPath: '/a', subPath: 'a' },
              { name: 'vol', mountPath: '/linked', subPath: 'inside' },
              { name: 'vol', mountPath: '/mine', subPathExpr: 'logs/$(POD_NAME)' },
            ],
          }),
          box('evil', { volumeMounts: [{ name: 'vol', mountPath: '/x', subPath: 'escape' }] }),
        ],
      }),
    );
    assert.equal(await inside('sub', 'ok', ['cat', '/a/f']), 'in-a\n');
    assert.equal(
      await inside('sub', 'ok', ['cat', '/linked/f']),
      'in-a\n',
      'a symlink that stays inside the volume is followed',
    );
    await inside('sub', 'ok', ['sh', '-c', 'echo log > /mine/out']);
    const uid = await podUid('sub');
    const volDir = join(dirs.root, 'pods', uid, 'volumes', 'kubernetes.io~empty-dir', 'vol');
    assert.equal(
      await readFile(join(volDir, 'logs', `sub-${NODE}`, 'out'), 'utf8'),
      'log\n',
      'subPathExpr expanded from the env, the directory made',
    );
    const refused = await eventually(
      () =>
        eventLine(
          d.lines,
          'Failed',
          /failed to prepare subPath for volumeMount \\"vol\\" of container \\"evil\\".*not within volume path/,
        ),
      30_000,
      'the escape refused with an event',
    );
    assert.ok(refused);
    const evil = await node.cri.listContainers({
      labelSelector: { 'io.kubernetes.pod.name': `sub-${NODE}`, 'io.kubernetes.container.name': 'evil' },
    });
    assert.deepEqual(evil, [], 'the container with the escaping subPath is not created');
    assert.ok(
      !(await mountsUnder(join(dirs.root, 'pods', uid, 'volume-subpaths'))).some((m) => m.target.includes('/evil/')),
      'nothing bound for it',
    );
    assert.deepEqual((await readdir('/etc')).sort(), etcBefore, '/etc untouched');
    await deleteAllAndWaitClean(dirs);
  });

  it('a restarted kubelet cleans an orphaned pod directory (its tmpfs unmounted) and never follows a symlink out of the root dir', async () => {
    const first = await start();
    const { dirs } = first;
    await writeFile(
      join(dirs.manifests, 'orphan.yaml'),
      pod('orphan', {
        volumes: [{ name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } }],
        containers: [box('app', { volumeMounts: [{ name: 'm', mountPath: '/m' }] })],
      }),
    );
    await runningContainer('orphan', 'app');
    const uid = await podUid('orphan');
    assert.equal((await mountsUnder(join(dirs.root, 'pods', uid))).length, 1);
    await first.d.stop();
    // while no kubelet runs: the manifest goes, and someone plants a symlink among the pod directories
    await unlink(join(dirs.manifests, 'orphan.yaml'));
    const outside = join(dirs.root, '..', 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'keep\n');
    await symlink(outside, join(dirs.root, 'pods', 'not-a-pod'));
    const second = node.daemon(dirs);
    await second.waitForLog(/kubelet-ts starting/);
    await eventually(
      async () => {
        const left = await readdir(join(dirs.root, 'pods')).catch(() => []);
        return left.length === 0 && (await mountsUnder(dirs.root)).length === 0 ? true : undefined;
      },
      60_000,
      'the orphan killed, its tmpfs unmounted and its directory removed; the symlink removed',
    );
    assert.equal(await readFile(join(outside, 'keep'), 'utf8'), 'keep\n', "the symlink's target untouched");
    assert.ok((await lstat(outside)).isDirectory());
  });

  it('Bidirectional propagation of a container that is not privileged is refused (upstream validation), HostToContainer passed to the runtime', async () => {
    // HostToContainer needs the volume on a shared (or slave) mount, as on a systemd host; this
    // machine's / is private, so the root dir is made a shared mount of its own
    const dirs = await node.dirs();
    await mkdir(dirs.root, { recursive: true });
    execFileSync('mount', ['--bind', dirs.root, dirs.root]);
    execFileSync('mount', ['--make-rshared', dirs.root]);
    const d = node.daemon(dirs);
    await d.waitForLog(/kubelet-ts starting/);
    await writeFile(
      join(dirs.manifests, 'prop.yaml'),
      pod('prop', {
        volumes: [{ name: 'v', emptyDir: {} }],
        containers: [box('app', { volumeMounts: [{ name: 'v', mountPath: '/v', mountPropagation: 'Bidirectional' }] })],
      }),
    );
    await writeFile(
      join(dirs.manifests, 'slave.yaml'),
      pod('slave', {
        volumes: [{ name: 'v', emptyDir: {} }],
        containers: [
          box('app', { volumeMounts: [{ name: 'v', mountPath: '/v', mountPropagation: 'HostToContainer' }] }),
        ],
      }),
    );
    await d.waitForLog(
      /prop\.yaml.*mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers/,
      30_000,
    );
    // inside the container, the volume's mount is a slave of the host's (mountinfo's optional field)
    const info = await inside('slave', 'app', ['cat', '/proc/self/mountinfo']);
    assert.match(info.split('\n').find((l) => l.split(' ')[4] === '/v') ?? '', / master:\d+/, info);
    assert.deepEqual(
      await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `prop-${NODE}` } }),
      [],
    );
    for (const f of await readdir(dirs.manifests)) await unlink(join(dirs.manifests, f));
    await eventually(
      async () =>
        (await readdir(join(dirs.root, 'pods'))).length === 0 && (await mountsUnder(dirs.root)).length === 1
          ? true
          : undefined,
      60_000,
      'no pod directory, nothing mounted but the root dir itself',
    );
    // (the root dir's own bind goes after the test, lazily: the daemon still has files open there)
  });
});
