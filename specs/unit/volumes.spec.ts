// Tier 1 and 2: the volumeManager's pure reconcile, the emptyDir and hostPath plugins and the
// subPath safety on a tmp dir (the mounts faked: what would be mounted is recorded, and checked
// while the descriptor is open), the runtime's makeMounts, and the whole kubelet on virtual time
// waiting for volumes (upstream's 2 minutes, then FailedMount naming them).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { makeMounts, expandSubPathExpr } from '../../actors/runtime/mounts.ts';
import { ContainerConfigError } from '../../actors/runtime/cri-config.ts';
import { inertVolumeFs, nodeVolumeFs, type VolumeFs } from '../../actors/volumes/adapters.ts';
import { emptyDirMemorySize, emptyDirPlugin, podMemoryLimit } from '../../actors/volumes/plugins/empty-dir.ts';
import { hostPathPlugin } from '../../actors/volumes/plugins/host-path.ts';
import { volumeDir, type VolumeHost } from '../../actors/volumes/plugins/index.ts';
import {
  backoffMs,
  desiredStateOfWorld,
  podVolumesView,
  reconcile,
  type ActualVolume,
} from '../../actors/volumes/reconciler.ts';
import { parseMountInfo, type Mounter, type MountPoint } from '../../adapters/volumes/mount.ts';
import { prepareSafeSubpath, SubPathError } from '../../adapters/volumes/subpath.ts';
import type { Pod, Volume } from '../../protocols/kube/pod.ts';
import type { DesiredPods, PodVolumes, PodWorkerStates } from '../../protocols/messages/channels.ts';
import { unmountedVolumesMessage, volumesSpecKey } from '../../protocols/messages/volumes.ts';
import { FakeCri } from '../support/fake-cri.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kts-vol-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = async () => {
  const d = join(tmp, `t${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};

function mkPod(uid: string, volumes: Volume[], extra: Partial<Pod['spec']> = {}): Pod {
  return {
    metadata: { name: `p-${uid}`, namespace: 'default', uid },
    spec: { containers: [{ name: 'app', image: 'i' }], volumes, ...extra },
  };
}

/** A Mounter that mounts nothing: it records the calls (and, for binds, what the fd source pointed at while it was open). */
function fakeMounter(): Mounter & {
  calls: { source: string; target: string; resolved?: string; options?: readonly string[] }[];
  table: MountPoint[];
} {
  const table: MountPoint[] = [];
  const calls: { source: string; target: string; resolved?: string; options?: readonly string[] }[] = [];
  return {
    calls,
    table,
    async mount(source, target, opts) {
      const resolved = source.startsWith('/proc/') ? await readlink(source) : undefined;
      calls.push({ source, target, resolved, options: opts.options });
      table.push({ target, fstype: opts.fstype ?? 'bind', source, options: [...(opts.options ?? [])] });
    },
    async unmount(target) {
      const i = table.findLastIndex((m) => m.target === target);
      if (i >= 0) table.splice(i, 1);
    },
    async mountPoints() {
      return [...table];
    },
  };
}

describe('reconcile (the desired and actual state of world)', () => {
  const pods = (...ps: Pod[]): DesiredPods =>
    new Map(ps.map((p) => [p.metadata.uid, { pod: p, source: 'file' as const, static: true }]));
  const plugins = (v: Volume) =>
    v.emptyDir !== undefined
      ? { name: 'kubernetes.io/empty-dir' }
      : v.hostPath
        ? { name: 'kubernetes.io/host-path' }
        : undefined;
  const mounted = (uid: string, v: Volume, more: Partial<ActualVolume> = {}): [string, ActualVolume] => [
    `${uid}/${v.name}`,
    {
      key: `${uid}/${v.name}`,
      uid,
      name: v.name,
      plugin: 'kubernetes.io/empty-dir',
      specKey: JSON.stringify(v),
      pod: mkPod(uid, [v]),
      volume: v,
      failures: 0,
      view: { name: v.name, plugin: 'kubernetes.io/empty-dir', state: 'mounted', path: '/x' },
      ...more,
    },
  ];
  const base = {
    podDirs: new Set<string>(),
    workers: undefined,
    running: new Set<string>(),
    sourcesReady: true,
    now: 1000,
  };
  const ed: Volume = { name: 'data', emptyDir: {} };

  it('sets up what a pod wants, and nothing a terminated or rejected pod wants', () => {
    const a = mkPod('a', [ed]);
    const b = mkPod('b', [ed]);
    const c = mkPod('c', [ed]);
    const desiredPods: DesiredPods = new Map([
      ...pods(a, b),
      ['c', { pod: c, source: 'file', static: true, rejected: { reason: 'OutOfmemory', message: '' } }],
    ]);
    const workers: PodWorkerStates = new Map([['b', { uid: 'b', name: '', namespace: '', state: 'terminated' }]]);
    const desired = desiredStateOfWorld(desiredPods, workers, plugins);
    assert.deepEqual([...desired.keys()], ['a/data']);
    assert.deepEqual(reconcile({ ...base, desired, actual: new Map(), pods: desiredPods, workers }), [
      { type: 'setUp', key: 'a/data' },
    ]);
  });

  it('tears down what is no longer desired, and a changed source before setting the new one up; then the pod directory goes', () => {
    const p = mkPod('a', [ed]);
    const desired = desiredStateOfWorld(pods(p), undefined, plugins);
    const changed: Volume = { name: 'data', emptyDir: { medium: 'Memory' } };
    assert.deepEqual(reconcile({ ...base, desired, actual: new Map([mounted('a', changed)]), pods: pods(p) }), [
      { type: 'tearDown', key: 'a/data' },
      { type: 'setUp', key: 'a/data' },
    ]);
    // the pod is gone: its volume is torn down first, the directory only once nothing is set up
    const gone = { ...base, desired: new Map(), pods: pods(), podDirs: new Set(['a']) };
    assert.deepEqual(reconcile({ ...gone, actual: new Map([mounted('a', ed)]) }), [
      { type: 'tearDown', key: 'a/data' },
    ]);
    assert.deepEqual(reconcile({ ...gone, actual: new Map() }), [{ type: 'cleanupPodDir', uid: 'a' }]);
    // not while a worker still runs it, nor while the runtime has containers of it
    const live: PodWorkerStates = new Map([['a', { uid: 'a', name: '', namespace: '', state: 'terminating' }]]);
    assert.deepEqual(reconcile({ ...gone, actual: new Map(), workers: live }), []);
    assert.deepEqual(reconcile({ ...gone, actual: new Map(), running: new Set(['a']) }), []);
    // an orphan found at start waits for the sources
    assert.deepEqual(reconcile({ ...gone, actual: new Map(), sourcesReady: false }), []);
  });

  it("retries a failed setUp after upstream's exponential backoff (500 ms doubling to 2 min 2 s)", () => {
    assert.deepEqual([1, 2, 3, 4, 10, 20].map(backoffMs), [500, 1000, 2000, 4000, 122_000, 122_000]);
    const p = mkPod('a', [ed]);
    const desired = desiredStateOfWorld(pods(p), undefined, plugins);
    const failed = mounted('a', ed, {
      failures: 2,
      retryAt: 2000,
      view: { name: 'data', plugin: 'kubernetes.io/empty-dir', state: 'failed', error: 'x' },
    });
    assert.deepEqual(reconcile({ ...base, desired, actual: new Map([failed]), pods: pods(p), now: 1999 }), []);
    assert.deepEqual(reconcile({ ...base, desired, actual: new Map([failed]), pods: pods(p), now: 2000 }), [
      { type: 'setUp', key: 'a/data' },
    ]);
  });

  it('a data plugin with remountPeriodMs is set up again once the period is over (the hook for configMap/secret)', () => {
    const p = mkPod('a', [ed]);
    const desired = desiredStateOfWorld(pods(p), undefined, () => ({
      name: 'kubernetes.io/empty-dir',
      remountPeriodMs: 60_000,
    }));
    const m = mounted('a', ed, { setUpAt: 0 });
    assert.deepEqual(reconcile({ ...base, desired, actual: new Map([m]), pods: pods(p), now: 59_999 }), []);
    assert.deepEqual(reconcile({ ...base, desired, actual: new Map([m]), pods: pods(p), now: 60_000 }), [
      { type: 'setUp', key: 'a/data' },
    ]);
  });

  it('the podVolumes view: ready once every volume a plugin mounts is mounted for this spec; an unsupported source does not hold it', () => {
    const cm: Volume = { name: 'cm', configMap: { name: 'c' } };
    const p = mkPod('a', [ed, cm]);
    const name = (v: Volume) => plugins(v)?.name;
    const dir = (uid: string) => `/r/pods/${uid}`;
    const pending = podVolumesView(pods(p), new Map(), name, dir).get('a')!;
    assert.equal(pending.ready, false);
    assert.deepEqual(
      pending.volumes.map((v) => v.state),
      ['pending', 'unsupported'],
    );
    const ready = podVolumesView(pods(p), new Map([mounted('a', ed)]), name, dir).get('a')!;
    assert.equal(ready.ready, true);
    assert.equal(ready.specKey, volumesSpecKey(p.spec.volumes));
    // a pod that is gone, its volume still set up: listed, never ready
    const gone = podVolumesView(pods(), new Map([mounted('b', ed)]), name, dir).get('b')!;
    assert.deepEqual([gone.ready, gone.volumes.map((v) => v.name)], [false, ['data']]);
  });

  it("upstream's FailedMount message names the unmounted volumes, sorted", () => {
    const vols: Volume[] = [
      { name: 'zeta', emptyDir: {} },
      { name: 'alpha', hostPath: { path: '/x' } },
      { name: 'ok', emptyDir: {} },
    ];
    const view = new Map<string, PodVolumes>([
      [
        'u',
        {
          uid: 'u',
          podDir: '/p',
          ready: false,
          specKey: volumesSpecKey(vols),
          volumes: [
            { name: 'ok', plugin: '', state: 'mounted' },
            { name: 'alpha', plugin: '', state: 'failed' },
          ],
        },
      ],
    ]);
    assert.equal(
      unmountedVolumesMessage(view, 'u', vols),
      'Unable to attach or mount volumes: unmounted volumes=[alpha zeta], unattached volumes=[], failed to process volumes=[]: context deadline exceeded',
    );
  });
});

describe('emptyDir', () => {
  it("the Memory size: sizeLimit, else the pod's memory limit when every container has one, else the node's allocatable (upstream 1.32)", () => {
    const mem = (limit?: string) => ({
      name: 'c',
      image: 'i',
      ...(limit ? { resources: { limits: { memory: limit } } } : {}),
    });
    const vol = (sizeLimit?: string): Volume => ({
      name: 'm',
      emptyDir: { medium: 'Memory', ...(sizeLimit ? { sizeLimit } : {}) },
    });
    const pod = (containers: ReturnType<typeof mem>[], init: ReturnType<typeof mem>[] = []) =>
      mkPod('u', [], { containers, initContainers: init });
    const GiB = 1024 ** 3;
    assert.equal(podMemoryLimit(pod([mem('64Mi'), mem('32Mi')])), 96 * 1024 ** 2);
    assert.equal(podMemoryLimit(pod([mem('64Mi'), mem()])), undefined, 'a container without a limit: no pod limit');
    assert.equal(podMemoryLimit(pod([mem('64Mi')], [mem('128Mi')])), 128 * 1024 ** 2, 'the largest init container');
    assert.equal(emptyDirMemorySize(pod([mem()]), vol(), 4 * GiB), 4 * GiB);
    assert.equal(emptyDirMemorySize(pod([mem('64Mi')]), vol(), 4 * GiB), 64 * 1024 ** 2);
    assert.equal(emptyDirMemorySize(pod([mem('64Mi')]), vol('8Mi'), 4 * GiB), 8 * 1024 ** 2);
    assert.equal(
      emptyDirMemorySize(pod([mem('64Mi')]), vol('1Gi'), 4 * GiB),
      64 * 1024 ** 2,
      'a sizeLimit above the pod limit is not used',
    );
  });

  it('sets up a directory (0777) on disk and a tmpfs for Memory, with fsGroup ownership; tears the tmpfs down', async () => {
    const root = await fresh();
    const mounter = fakeMounter();
    const host: VolumeHost = {
      rootDir: root,
      fs: nodeVolumeFs(root, mounter, () => 0),
      nodeAllocatableMemoryBytes: 1024 ** 3,
    };
    const disk: Volume = { name: 'd', emptyDir: { sizeLimit: '1Gi' } };
    const pod = mkPod('u1', [disk], { securityContext: { fsGroup: 4321 } });
    const dir = volumeDir(root, 'u1', emptyDirPlugin.name, 'd');
    assert.equal(dir, `${root}/pods/u1/volumes/kubernetes.io~empty-dir/d`);
    const m = await emptyDirPlugin.setUp({ pod, volume: disk, dir }, host);
    assert.deepEqual(m, { path: dir, selinuxRelabel: true, medium: '', sizeLimitBytes: 1024 ** 3 });
    const st = await stat(dir);
    assert.equal(st.gid, 4321);
    assert.equal(st.mode & 0o7777, 0o2777, 'world-writable, setgid for fsGroup');
    const memory: Volume = { name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } };
    const mdir = volumeDir(root, 'u1', emptyDirPlugin.name, 'm');
    assert.equal((await emptyDirPlugin.setUp({ pod, volume: memory, dir: mdir }, host)).sizeLimitBytes, 16 * 1024 ** 2);
    assert.deepEqual(
      mounter.calls.map((c) => [c.source, c.target, c.options]),
      [['tmpfs', mdir, [`size=${16 * 1024 ** 2}`]]],
    );
    // idempotent: a tmpfs already there is not mounted twice
    await emptyDirPlugin.setUp({ pod, volume: memory, dir: mdir }, host);
    assert.equal(mounter.calls.length, 1);
    await emptyDirPlugin.tearDown({ pod, volume: memory, dir: mdir }, host);
    assert.deepEqual(mounter.table, []);
    await host.fs.removeAll(`${root}/pods/u1`);
    await assert.rejects(stat(`${root}/pods/u1`), /ENOENT/);
  });

  it('OnRootMismatch leaves a volume whose root already has the group alone', async () => {
    const root = await fresh();
    const fs = nodeVolumeFs(root, fakeMounter(), () => 0);
    await mkdir(join(root, 'v'));
    assert.equal(await fs.setVolumeOwnership(join(root, 'v'), 4321, 'OnRootMismatch'), 'changed');
    assert.equal(await fs.setVolumeOwnership(join(root, 'v'), 4321, 'OnRootMismatch'), 'skipped');
    assert.equal(await fs.setVolumeOwnership(join(root, 'v'), 4321, 'Always'), 'changed');
  });

  it('removal never follows a symlink and never crosses a mount point', async () => {
    const root = await fresh();
    const mounter = fakeMounter();
    const fs = nodeVolumeFs(root, mounter, () => 0);
    const outside = join(root, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'x');
    await mkdir(join(root, 'pods', 'u', 'volumes'), { recursive: true });
    await symlink(outside, join(root, 'pods', 'u', 'volumes', 'link'));
    await symlink(outside, join(root, 'pods', 'evil'));
    mounter.table.push({
      target: join(root, 'pods', 'u', 'volumes', 'busy'),
      fstype: 'tmpfs',
      source: 'tmpfs',
      options: [],
    });
    await assert.rejects(fs.removeAll(join(root, 'pods', 'u')), /still mounted below it/);
    assert.deepEqual(await fs.unmountAll(join(root, 'pods', 'u')), [join(root, 'pods', 'u', 'volumes', 'busy')]);
    await fs.removeAll(join(root, 'pods', 'u'));
    await fs.removeAll(join(root, 'pods', 'evil'));
    assert.deepEqual(await fs.listPodDirs(), []);
    assert.ok((await stat(join(outside, 'keep'))).isFile(), 'the target stays');
  });
});

describe('hostPath', () => {
  it("checks every type as upstream, creates the OrCreate ones, and answers upstream's errors", async () => {
    const root = await fresh();
    const host: VolumeHost = { rootDir: root, fs: nodeVolumeFs(root, fakeMounter(), () => 0) };
    const file = join(root, 'file');
    await writeFile(file, 'x');
    const sock = join(root, 'sock');
    const server = createServer();
    await new Promise<void>((r) => server.listen(sock, r));
    const setUp = (path: string, type?: string) => {
      const volume: Volume = { name: 'h', hostPath: { path, ...(type !== undefined ? { type } : {}) } };
      return hostPathPlugin.setUp({ pod: mkPod('u', [volume]), volume, dir: '' }, host);
    };
    try {
      assert.deepEqual(await setUp(root, 'Directory'), { path: root, selinuxRelabel: false });
      await setUp(file, 'File');
      await setUp(sock, 'Socket');
      await setUp('/dev/null', 'CharDevice');
      await setUp(join(root, 'nothing-here'));
      await setUp(join(root, 'nothing-here'), '');
      await setUp(join(root, 'a/b/c'), 'DirectoryOrCreate');
      assert.equal((await stat(join(root, 'a/b/c'))).mode & 0o777, 0o755);
      await setUp(join(root, 'new-file'), 'FileOrCreate');
      assert.equal((await stat(join(root, 'new-file'))).mode & 0o777, 0o644);
      await assert.rejects(setUp(file, 'Directory'), {
        message: `hostPath type check failed: ${file} is not a directory`,
      });
      await assert.rejects(setUp(file, 'DirectoryOrCreate'), {
        message: `hostPath type check failed: ${file} is not a directory`,
      });
      await assert.rejects(setUp(root, 'File'), { message: `hostPath type check failed: ${root} is not a file` });
      await assert.rejects(setUp(root, 'FileOrCreate'), {
        message: `hostPath type check failed: ${root} is not a file`,
      });
      await assert.rejects(setUp(file, 'Socket'), {
        message: `hostPath type check failed: ${file} is not a socket file`,
      });
      await assert.rejects(setUp(file, 'CharDevice'), {
        message: `hostPath type check failed: ${file} is not a character device`,
      });
      await assert.rejects(setUp('/dev/null', 'BlockDevice'), {
        message: 'hostPath type check failed: /dev/null is not a block device',
      });
      await assert.rejects(setUp(join(root, 'missing'), 'Directory'), /is not a directory/);
      await assert.rejects(setUp(root, 'Dir'), { message: 'Dir is an invalid volume type' });
    } finally {
      server.close();
    }
  });
});

describe('subPath safety (CVE-2017-1002101, CVE-2021-25741)', () => {
  async function volume() {
    const root = await fresh();
    const vol = join(root, 'vol');
    await mkdir(join(vol, 'a', 'b'), { recursive: true });
    await writeFile(join(vol, 'a', 'f'), 'f');
    const outside = join(root, 'outside');
    await mkdir(outside);
    await symlink('/etc', join(vol, 'etc'));
    await symlink(outside, join(vol, 'a', 'out'));
    await symlink('b', join(vol, 'a', 'in'));
    await symlink('../../..', join(vol, 'a', 'b', 'up'));
    return {
      root,
      vol,
      outside,
      target: (i: number) => join(root, 'pods', 'u', 'volume-subpaths', 'vol', 'app', String(i)),
    };
  }

  it('binds the opened descriptor of a path inside the volume (the fd open while mounting), a symlink that stays inside included', async () => {
    const { vol, target } = await volume();
    const mounter = fakeMounter();
    assert.equal(await prepareSafeSubpath(mounter, { volumePath: vol, subPath: 'a/f', target: target(0) }), target(0));
    await prepareSafeSubpath(mounter, { volumePath: vol, subPath: 'a/in', target: target(1) });
    assert.deepEqual(
      mounter.calls.map((c) => c.resolved),
      [join(vol, 'a', 'f'), join(vol, 'a', 'b')],
    );
    assert.match(mounter.calls[0]!.source, new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
    assert.ok((await stat(target(0))).isFile(), 'a file target for a file');
    assert.ok((await stat(target(1))).isDirectory(), 'a directory target for a directory');
  });

  it('refuses a symlink out of the volume (to /etc, to a sibling, up with ..) and .. or absolute subPaths; mounts nothing', async () => {
    const { vol, target } = await volume();
    const mounter = fakeMounter();
    for (const sub of ['etc', 'a/out', 'a/b/up', 'etc/passwd']) {
      await assert.rejects(
        prepareSafeSubpath(mounter, { volumePath: vol, subPath: sub, target: target(9) }),
        (e: Error) => e instanceof SubPathError && /not within volume path/.test(e.message),
        sub,
      );
    }
    await assert.rejects(
      prepareSafeSubpath(mounter, { volumePath: vol, subPath: '../x', target: target(9) }),
      /must not contain '\.\.'/,
    );
    await assert.rejects(
      prepareSafeSubpath(mounter, { volumePath: vol, subPath: '/etc', target: target(9) }),
      /must be a relative path/,
    );
    assert.deepEqual(mounter.calls, []);
  });

  it("creates a missing subPath as directories inside the volume (the volume's mode), never through a symlink", async () => {
    const { vol, outside, target } = await volume();
    const mounter = fakeMounter();
    await prepareSafeSubpath(mounter, { volumePath: vol, subPath: 'logs/pod-1', target: target(2) });
    assert.ok((await stat(join(vol, 'logs', 'pod-1'))).isDirectory());
    // a missing path below a symlink out of the volume is not made there
    await assert.rejects(prepareSafeSubpath(mounter, { volumePath: vol, subPath: 'a/out/new', target: target(3) }));
    await assert.rejects(stat(join(outside, 'new')), /ENOENT/);
  });

  it('parses /proc/self/mountinfo (escaped spaces, super block options)', () => {
    const text = '36 35 98:0 / /mnt/my\\040dir rw,noatime master:1 - tmpfs tmpfs rw,size=8192k\n';
    assert.deepEqual(parseMountInfo(text), [
      { target: '/mnt/my dir', fstype: 'tmpfs', source: 'tmpfs', options: ['rw', 'noatime', 'rw', 'size=8192k'] },
    ]);
  });
});

describe("makeMounts (the runtime's CRI mounts)", () => {
  const view: PodVolumes = {
    uid: 'u',
    podDir: '/root/pods/u',
    ready: true,
    specKey: '',
    volumes: [
      {
        name: 'data',
        plugin: 'kubernetes.io/empty-dir',
        state: 'mounted',
        path: '/root/pods/u/volumes/kubernetes.io~empty-dir/data',
        selinuxRelabel: true,
      },
      { name: 'host', plugin: 'kubernetes.io/host-path', state: 'mounted', path: '/srv', selinuxRelabel: false },
    ],
  };
  const c = (volumeMounts: NonNullable<Pod['spec']['containers'][number]['volumeMounts']>, privileged = false) => ({
    name: 'app',
    image: 'i',
    volumeMounts,
    securityContext: { privileged },
  });

  it('readOnly, selinux_relabel and propagation as upstream; Bidirectional only for a privileged container', () => {
    const mounts = makeMounts(
      c([
        { name: 'data', mountPath: '/d' },
        { name: 'host', mountPath: '/h', readOnly: true, mountPropagation: 'HostToContainer' },
      ]),
      view,
      [],
    );
    assert.deepEqual(
      mounts.map((m) => m.mount),
      [
        {
          containerPath: '/d',
          hostPath: view.volumes[0]!.path,
          readonly: false,
          selinuxRelabel: true,
          propagation: 'PROPAGATION_PRIVATE',
        },
        {
          containerPath: '/h',
          hostPath: '/srv',
          readonly: true,
          selinuxRelabel: false,
          propagation: 'PROPAGATION_HOST_TO_CONTAINER',
        },
      ],
    );
    assert.throws(
      () => makeMounts(c([{ name: 'host', mountPath: '/h', mountPropagation: 'Bidirectional' }]), view, []),
      (e: Error) =>
        e instanceof ContainerConfigError &&
        e.message === 'Bidirectional mount propagation is available only to privileged containers',
    );
    assert.equal(
      makeMounts(c([{ name: 'host', mountPath: '/h', mountPropagation: 'Bidirectional' }], true), view, [])[0]!.mount
        .propagation,
      'PROPAGATION_BIDIRECTIONAL',
    );
    assert.throws(
      () => makeMounts(c([{ name: 'nope', mountPath: '/n' }]), view, []),
      /cannot find volume "nope" to mount into container "app"/,
    );
  });

  it('subPath and subPathExpr ($(VAR) from the env) become binds under volume-subpaths/<volume>/<container>/<index>', () => {
    const mounts = makeMounts(
      c([
        { name: 'data', mountPath: '/d' },
        { name: 'data', mountPath: '/s', subPath: 'a/b' },
        { name: 'host', mountPath: '/e', subPathExpr: 'logs/$(POD)' },
      ]),
      view,
      [{ key: 'POD', value: 'web-0' }],
    );
    assert.deepEqual(mounts[1], {
      mount: {
        containerPath: '/s',
        hostPath: '/root/pods/u/volume-subpaths/data/app/1',
        readonly: false,
        selinuxRelabel: true,
        propagation: 'PROPAGATION_PRIVATE',
      },
      subPath: { volumePath: view.volumes[0]!.path, subPath: 'a/b', target: '/root/pods/u/volume-subpaths/data/app/1' },
    });
    assert.equal(mounts[2]!.subPath?.subPath, 'logs/web-0');
    assert.equal(expandSubPathExpr('$(A)/$$(B)', [{ key: 'A', value: 'x' }]), 'x/$(B)');
    assert.throws(
      () =>
        expandSubPathExpr('$(B)/$(A)/$(C)', [
          { key: 'A', value: 'x' },
          { key: 'C', value: '' },
        ]),
      /missing value for B, C/,
    );
  });
});

describe('the kubelet waits for volumes (virtual time)', () => {
  const DIR = '/etc/kubernetes/manifests';
  const IMAGE = 'kubelet-ts.local/busybox:1.0';
  async function settle(): Promise<void> {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
  }

  it("holds the pod's containers until the volumes are mounted; after 2 min a FailedMount names the unmounted volume", async () => {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
    fs.writeFile(
      `${DIR}/p.json`,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'default' },
        spec: {
          containers: [
            {
              name: 'app',
              image: IMAGE,
              command: ['sleep', '1d'],
              volumeMounts: [
                { name: 'gone', mountPath: '/g' },
                { name: 'scratch', mountPath: '/s' },
              ],
            },
          ],
          volumes: [
            { name: 'gone', hostPath: { path: '/no/such/dir', type: 'Directory' } },
            { name: 'scratch', emptyDir: {} },
          ],
        },
      }),
    );
    const volumeFs: VolumeFs = {
      ...inertVolumeFs,
      fileType: (p) => Promise.resolve(p === '/no/such/dir' ? 'Missing' : 'Directory'),
    };
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: DIR },
      clock,
      log: silentLogger,
      nodeName: 'node-v',
      cri,
      fs,
      random: () => 0.5,
      volumeFs,
    });
    const events: { reason: string; message: string }[] = [];
    k.bus.observe('events').subscribe((e) => events.push(e as { reason: string; message: string }));
    await k.start();
    try {
      await clock.advanceAsync(5000, settle);
      assert.deepEqual(await cri.listPodSandbox(), [], 'nothing created while a volume is not mounted');
      assert.ok(
        events.some(
          (e) =>
            e.reason === 'FailedMount' &&
            e.message ===
              'MountVolume.SetUp failed for volume "gone" : hostPath type check failed: /no/such/dir is not a directory',
        ),
        JSON.stringify(events),
      );
      const setUpFailures = events.filter((e) => e.reason === 'FailedMount').length;
      await clock.advanceAsync(120_000, settle);
      assert.ok(
        events.some(
          (e) =>
            e.reason === 'FailedMount' &&
            e.message ===
              'Unable to attach or mount volumes: unmounted volumes=[gone], unattached volumes=[], failed to process volumes=[]: context deadline exceeded',
        ),
        JSON.stringify(events),
      );
      assert.equal(
        events.filter((e) => e.reason === 'FailedMount' && e.message.startsWith('MountVolume')).length,
        setUpFailures,
        'the same cause is recorded once',
      );
      const status = k.bus.port('spec').current('podStatuses');
      const waiting = [...(status?.values() ?? [])][0]?.containerStatuses?.[0]?.state?.waiting;
      assert.equal(waiting?.reason, 'ContainerCreating');
      assert.deepEqual(await cri.listPodSandbox(), []);
    } finally {
      await k.stop();
    }
  });
});
