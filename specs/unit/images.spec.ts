import { startActor as startKernelActor } from '../../kernel/testing.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ActorSpec, Channels } from '../../kernel/actor.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import { PodSchema } from '../../protocols/kube/pod.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import { images } from '../../actors/images/index.ts';
import {
  ImageManager,
  applyDefaultImageTag,
  defaultPullPolicy,
  formatGoDuration,
  normalizeImageRef,
  parseImageName,
} from '../../actors/images/manager.ts';
import type { EnsureImageResult, ImageManagerOptions } from '../../actors/images/manager.ts';
import type { ImagePort } from '../../actors/runtime/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';

function pod(
  uid: string,
  image: string,
  imagePullPolicy?: string,
  annotations?: Record<string, string>,
): { pod: Pod; container: Container } {
  const p = PodSchema.parse({
    metadata: { name: `pod-${uid}`, namespace: 'default', uid, annotations },
    spec: { containers: [{ name: 'app', image, imagePullPolicy }] },
  }) as Pod;
  return { pod: p, container: p.spec!.containers[0]! };
}

function setup(opts: Partial<ImageManagerOptions> = {}) {
  const clock = new VirtualClock(0);
  const cri = new FakeCri({ clock });
  const mgr = new ImageManager({ images: cri, clock, ...opts });
  const ensure = (uid: string, image: string, policy?: string) => {
    const { pod: p, container } = pod(uid, image, policy);
    return mgr.ensureImageExists(p, container);
  };
  const pulls = () => cri.calls.filter((c) => c.method === 'PullImage').length;
  return { clock, cri, mgr, ensure, pulls };
}

function failed(r: EnsureImageResult): Extract<EnsureImageResult, { ok: false }> {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  return r as Extract<EnsureImageResult, { ok: false }>;
}

function succeeded(r: EnsureImageResult): Extract<EnsureImageResult, { ok: true }> {
  assert.equal(r.ok, true, `expected success, got ${JSON.stringify(r)}`);
  return r as Extract<EnsureImageResult, { ok: true }>;
}

describe('image references (upstream parsers.ParseImageName / applyDefaultImageTag)', () => {
  it('normalises short names to docker.io/library and defaults the tag to latest', () => {
    assert.deepEqual(parseImageName('busybox'), { repo: 'docker.io/library/busybox', tag: 'latest', digest: '' });
    assert.deepEqual(parseImageName('busybox:1.36'), { repo: 'docker.io/library/busybox', tag: '1.36', digest: '' });
    assert.deepEqual(parseImageName('bitnami/redis:7'), { repo: 'docker.io/bitnami/redis', tag: '7', digest: '' });
    assert.deepEqual(parseImageName('index.docker.io/foo/bar'), {
      repo: 'docker.io/foo/bar',
      tag: 'latest',
      digest: '',
    });
    assert.deepEqual(parseImageName('quay.io/coreos/etcd:v3.5'), {
      repo: 'quay.io/coreos/etcd',
      tag: 'v3.5',
      digest: '',
    });
    assert.deepEqual(parseImageName('localhost:5000/app'), { repo: 'localhost:5000/app', tag: 'latest', digest: '' });
    assert.deepEqual(parseImageName('localhost/app:dev'), { repo: 'localhost/app', tag: 'dev', digest: '' });
    const d = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseImageName(`busybox@${d}`), { repo: 'docker.io/library/busybox', tag: '', digest: d });
    assert.deepEqual(parseImageName(`busybox:1.36@${d}`), {
      repo: 'docker.io/library/busybox',
      tag: '1.36',
      digest: d,
    });
    assert.equal(normalizeImageRef('busybox'), 'docker.io/library/busybox:latest');
    assert.equal(normalizeImageRef(`busybox:1@${d}`), `docker.io/library/busybox@${d}`);
  });

  it('rejects malformed names with upstream wording', () => {
    assert.throws(() => parseImageName('Busybox'), {
      message:
        'couldn\'t parse image name "Busybox": invalid reference format: repository name (library/Busybox) must be lowercase',
    });
    assert.throws(() => parseImageName(''), /couldn't parse image name "": invalid reference format/);
    assert.throws(() => parseImageName('busybox:'), /invalid reference format/);
    assert.throws(() => parseImageName('a'.repeat(64)), /cannot specify 64-byte hexadecimal strings/);
    assert.throws(() => parseImageName('busy box'), /invalid reference format/);
  });

  it('appends :latest only when there is neither tag nor digest, without qualifying the name', () => {
    assert.equal(applyDefaultImageTag('busybox'), 'busybox:latest');
    assert.equal(applyDefaultImageTag('busybox:1.36'), 'busybox:1.36');
    assert.equal(applyDefaultImageTag('localhost:5000/app'), 'localhost:5000/app:latest');
    const d = `busybox@sha256:${'b'.repeat(64)}`;
    assert.equal(applyDefaultImageTag(d), d);
  });

  it('defaults the pull policy like SetDefaults_Container', () => {
    assert.equal(defaultPullPolicy('busybox'), 'Always');
    assert.equal(defaultPullPolicy('busybox:latest'), 'Always');
    assert.equal(defaultPullPolicy('busybox:1.36'), 'IfNotPresent');
    assert.equal(defaultPullPolicy(`busybox@sha256:${'c'.repeat(64)}`), 'IfNotPresent');
  });

  it('formats durations like Go', () => {
    assert.equal(formatGoDuration(0), '0s');
    assert.equal(formatGoDuration(7), '7ms');
    assert.equal(formatGoDuration(1500), '1.5s');
    assert.equal(formatGoDuration(61_000), '1m1s');
  });
});

describe('ImageManager.ensureImageExists', () => {
  it("fits the runtime actor's ImagePort", () => {
    const { mgr } = setup();
    const port: ImagePort = mgr;
    assert.ok(port);
  });

  it('IfNotPresent with the image present: no pull, the image id as imageRef', async () => {
    const { cri, ensure } = setup();
    const id = cri.addImage('nginx:1.27');
    const r = succeeded(await ensure('u1', 'nginx:1.27'));
    assert.deepEqual(r, {
      ok: true,
      imageRef: id,
      pulled: false,
      message: 'Container image "nginx:1.27" already present on machine',
      user: {},
    });
    assert.deepEqual(cri.calls, [{ method: 'ImageStatus', args: [{ image: 'nginx:1.27' }] }]);
  });

  it('IfNotPresent with the image absent: pulls (with the default tag, pod annotations and sandbox config), then reads its size', async () => {
    const { cri, mgr, clock } = setup();
    cri.setPullDelay(1500);
    const { pod: p, container } = pod('u1', 'docker.io/library/nginx', 'IfNotPresent', { team: 'web' });
    const sandboxConfig = { metadata: { name: 'pod-u1', namespace: 'default', uid: 'u1', attempt: 0 } };
    const pending = mgr.ensureImageExists(p, container, sandboxConfig);
    await clock.advanceAsync(1500);
    const r = succeeded(await pending);
    assert.equal(r.pulled, true);
    assert.match(r.imageRef, /^sha256:[0-9a-f]{64}$/);
    assert.equal(
      r.message,
      'Successfully pulled image "docker.io/library/nginx" in 1.5s (1.5s including waiting). Image size: 1000000 bytes.',
    );
    const spec = { image: 'docker.io/library/nginx:latest', annotations: { team: 'web' } };
    assert.deepEqual(cri.calls, [
      { method: 'ImageStatus', args: [spec] },
      { method: 'PullImage', args: [spec, undefined, sandboxConfig] },
      { method: 'ImageStatus', args: [spec] },
    ]);
  });

  it('Always pulls even when the image is present; the default policy for :latest is Always', async () => {
    const { cri, ensure, pulls } = setup();
    cri.addImage('busybox');
    succeeded(await ensure('u1', 'busybox:1.36', 'Always'));
    assert.equal(pulls(), 1);
    const r = succeeded(await ensure('u1', 'busybox'));
    assert.equal(r.pulled, true);
    assert.equal(pulls(), 2);
    succeeded(await ensure('u1', 'busybox:1.36'));
    assert.equal(pulls(), 2, 'a pinned tag defaults to IfNotPresent');
  });

  it('Never: ErrImageNeverPull when absent (no pull), the local image when present', async () => {
    const { cri, ensure, pulls } = setup();
    const r = failed(await ensure('u1', 'app:v1', 'Never'));
    assert.deepEqual(r, {
      ok: false,
      reason: 'ErrImageNeverPull',
      message: 'Container image "app:v1" is not present with pull policy of Never',
    });
    assert.equal(pulls(), 0);
    const id = cri.addImage('app:v1');
    assert.deepEqual(await ensure('u1', 'app:v1', 'Never'), {
      ok: true,
      imageRef: id,
      pulled: false,
      message: 'Container image "app:v1" already present on machine',
      user: {},
    });
  });

  it('InvalidImageName for a name that does not parse, without asking the runtime', async () => {
    const { cri, ensure } = setup();
    const r = failed(await ensure('u1', 'Nginx:1.27'));
    assert.equal(r.reason, 'InvalidImageName');
    assert.equal(
      r.message,
      'Failed to apply default image tag "Nginx:1.27": couldn\'t parse image name "Nginx:1.27": invalid reference format: repository name (library/Nginx) must be lowercase',
    );
    assert.deepEqual(cri.calls, []);
  });

  it("a failed pull is ErrImagePull with the runtime's message; then ImagePullBackOff until retryAt", async () => {
    const { cri, ensure, pulls, clock } = setup();
    cri.failPull('nope', 'failed to pull and unpack image "docker.io/library/nope:latest": not found', 'NotFound');
    const r1 = failed(await ensure('u1', 'nope'));
    assert.deepEqual(r1, {
      ok: false,
      reason: 'ErrImagePull',
      retryAt: 10_000,
      message:
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nope:latest": not found',
    });
    clock.advance(9_999);
    const r2 = failed(await ensure('u1', 'nope'));
    assert.deepEqual(r2, {
      ok: false,
      reason: 'ImagePullBackOff',
      message: 'Back-off pulling image "nope"',
      retryAt: 10_000,
    });
    assert.equal(pulls(), 1, 'no pull while backing off');
    clock.advance(1);
    const r3 = failed(await ensure('u1', 'nope'));
    assert.equal(r3.reason, 'ErrImagePull');
    assert.equal(r3.retryAt, 10_000 + 20_000);
    assert.equal(pulls(), 2);
  });

  it('back-off grows 10 → 20 → 40 → 80 → 160 → 300 → 300 s on the clock', async () => {
    const { cri, ensure, clock, pulls } = setup();
    cri.failPull('nope:1', 'not found', 'NotFound');
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = failed(await ensure('u1', 'nope:1'));
      assert.equal(r.reason, 'ErrImagePull', `attempt ${i + 1}`);
      const delay = r.retryAt! - clock.now();
      delays.push(delay / 1000);
      clock.advance(delay - 1);
      assert.equal(failed(await ensure('u1', 'nope:1')).reason, 'ImagePullBackOff');
      clock.advance(1);
    }
    assert.deepEqual(delays, [10, 20, 40, 80, 160, 300, 300]);
    assert.equal(pulls(), 7);
  });

  it('the back-off is per pod and image (upstream key uid_image)', async () => {
    const { cri, ensure } = setup();
    cri.failPull('nope', 'not found');
    assert.equal(failed(await ensure('u1', 'nope')).reason, 'ErrImagePull');
    assert.equal(failed(await ensure('u1', 'nope')).reason, 'ImagePullBackOff');
    assert.equal(failed(await ensure('u2', 'nope')).reason, 'ErrImagePull', 'another pod is not held back');
    assert.equal(failed(await ensure('u1', 'nope:latest')).reason, 'ErrImagePull', 'the key is the image as written');
    assert.equal((await ensure('u1', 'other:1')).ok, true, 'another image of the same pod is not held back');
  });

  it('a successful pull clears the back-off', async () => {
    const { cri, ensure, clock } = setup();
    cri.failPull('flaky:1', 'i/o timeout');
    failed(await ensure('u1', 'flaky:1'));
    clock.advance(10_000);
    failed(await ensure('u1', 'flaky:1')); // now 20s
    clock.advance(20_000);
    cri.clearPullFailure('flaky:1');
    succeeded(await ensure('u1', 'flaky:1', 'Always'));
    cri.failPull('flaky:1', 'i/o timeout');
    const r = failed(await ensure('u1', 'flaky:1', 'Always'));
    assert.equal(r.retryAt! - clock.now(), 10_000, 'starts over from the initial delay');
  });

  it('an idle back-off expires after 2 × max (flowcontrol hasExpired)', async () => {
    const { cri, ensure, clock } = setup();
    cri.failPull('nope:1', 'not found');
    for (let i = 0; i < 3; i++) {
      const r = failed(await ensure('u1', 'nope:1'));
      clock.advance(r.retryAt! - clock.now());
    }
    clock.advance(600_001);
    const r = failed(await ensure('u1', 'nope:1'));
    assert.equal(r.retryAt! - clock.now(), 10_000);
  });

  it('a custom back-off is honoured', async () => {
    const { cri, ensure, clock } = setup({ backoff: { initialMs: 1000, maxMs: 3000 } });
    cri.failPull('nope:1', 'not found');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = failed(await ensure('u1', 'nope:1'));
      delays.push(r.retryAt! - clock.now());
      clock.advance(r.retryAt! - clock.now());
    }
    assert.deepEqual(delays, [1000, 2000, 3000, 3000]);
  });

  it('says so when the registry is unavailable (upstream evalCRIPullErr)', async () => {
    const { cri, ensure } = setup();
    cri.failPull('nope:1', 'RegistryUnavailable: dial tcp: lookup registry-1.docker.io: no such host');
    const r = failed(await ensure('u1', 'nope:1'));
    assert.equal(r.reason, 'ErrImagePull');
    assert.equal(
      r.message,
      'image pull failed for nope:1 because the registry is unavailable: dial tcp: lookup registry-1.docker.io: no such host',
    );
  });

  it('an unanswered ImageStatus (runtime down) is thrown, not a pull state, and starts no back-off', async () => {
    const { cri, ensure, mgr } = setup();
    cri.addImage('busybox');
    cri.setDown(true);
    await assert.rejects(ensure('u1', 'busybox:1.36'), (e: unknown) => isCriError(e, 'Unavailable'));
    assert.equal(mgr.inspect().backoff.length, 0);
  });

  it('serializes pulls by default: one PullImage at a time, first come first served', async () => {
    const { cri, ensure, pulls, clock, mgr } = setup();
    cri.setPullDelay(1000);
    const results: EnsureImageResult[] = [];
    const order: string[] = [];
    const go = (uid: string, image: string) =>
      ensure(uid, image).then((r) => {
        results.push(r);
        order.push(image);
      });
    const all = Promise.all([go('u1', 'a:1'), go('u2', 'b:1'), go('u3', 'c:1')]);
    await clock.advanceAsync(0);
    assert.equal(pulls(), 1);
    assert.equal(mgr.inspect().queuedPulls, 2);
    await clock.advanceAsync(1000);
    assert.equal(pulls(), 2);
    await clock.advanceAsync(1000);
    assert.equal(pulls(), 3);
    await clock.advanceAsync(1000);
    await all;
    assert.deepEqual(order, ['a:1', 'b:1', 'c:1']);
    assert.deepEqual(
      results.map((r) => r.message),
      [
        'Successfully pulled image "a:1" in 1s (1s including waiting). Image size: 1000000 bytes.',
        'Successfully pulled image "b:1" in 1s (2s including waiting). Image size: 1000000 bytes.',
        'Successfully pulled image "c:1" in 1s (3s including waiting). Image size: 1000000 bytes.',
      ],
    );
    assert.deepEqual(mgr.inspect().queuedPulls, 0);
    assert.deepEqual(mgr.inspect().activePulls, 0);
  });

  it('a failed pull frees the queue for the next one', async () => {
    const { cri, ensure, clock } = setup();
    cri.setPullDelay(1000);
    cri.failPull('bad:1', 'not found');
    const p1 = ensure('u1', 'bad:1');
    const p2 = ensure('u2', 'good:1');
    await clock.advanceAsync(2000);
    assert.equal(failed(await p1).reason, 'ErrImagePull');
    assert.equal(succeeded(await p2).pulled, true);
  });

  it('parallel pulls when serializeImagePulls is false, bounded by maxParallelImagePulls', async () => {
    const unbounded = setup({ serializeImagePulls: false });
    unbounded.cri.setPullDelay(1000);
    const u = Promise.all(['a:1', 'b:1', 'c:1'].map((img, i) => unbounded.ensure(`u${i}`, img)));
    await unbounded.clock.advanceAsync(0);
    assert.equal(unbounded.pulls(), 3);
    await unbounded.clock.advanceAsync(1000);
    assert.ok((await u).every((r) => r.ok));

    const bounded = setup({ serializeImagePulls: false, maxParallelImagePulls: 2 });
    bounded.cri.setPullDelay(1000);
    const b = Promise.all(['a:1', 'b:1', 'c:1'].map((img, i) => bounded.ensure(`u${i}`, img)));
    await bounded.clock.advanceAsync(0);
    assert.equal(bounded.pulls(), 2);
    await bounded.clock.advanceAsync(1000);
    assert.equal(bounded.pulls(), 3);
    await bounded.clock.advanceAsync(1000);
    assert.ok((await b).every((r) => r.ok));
  });
});

// ---------------------------------------------------------------------------------------------
// the images actor

/** One actor on the virtual clock, as the supervisor would run it (kernel/testing). */
async function startActor<D>(spec: ActorSpec<D, Channels>, deps: D, clock: VirtualClock) {
  const a = await startKernelActor(spec, deps, { clock });
  return { crashes: a.crashes, inspect: () => a.inspect() as Record<string, unknown>, stop: () => a.stop() };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe('images actor', () => {
  it('reports image filesystem usage and the image list in its inspect state, every period', async () => {
    const clock = new VirtualClock(5_000);
    const cri = new FakeCri({ clock });
    cri.addImage('busybox', { size: 4_000_000 });
    const a = await startActor(images, { images: cri, refreshPeriodMs: 30_000 }, clock);
    await settle();
    let i = a.inspect();
    assert.deepEqual(i.imageFs, [
      {
        mountpoint: '/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs',
        usedBytes: 4_000_000,
        inodesUsed: 100,
        timestamp: 5_000 * 1e6,
      },
    ]);
    assert.equal(i.images, 1);
    assert.equal(i.imageBytes, 4_000_000);
    assert.equal(i.lastOk, 5_000);
    cri.addImage('nginx:1.27', { size: 1_000 });
    await clock.advanceAsync(30_000);
    i = a.inspect();
    assert.equal(i.images, 2);
    assert.equal(i.lastOk, 35_000);
    assert.deepEqual(
      cri.calls.map((c) => c.method),
      ['ImageFsInfo', 'ListImages', 'ImageFsInfo', 'ListImages'],
    );
    a.stop();
  });

  it('a runtime that does not answer is a lastError, not a crash, and it recovers', async () => {
    const clock = new VirtualClock();
    const cri = new FakeCri({ clock });
    cri.setDown(true);
    const a = await startActor(images, { images: cri }, clock);
    await settle();
    assert.match(String(a.inspect().lastError), /Unavailable/);
    cri.setDown(false);
    await clock.advanceAsync(30_000);
    assert.equal(a.inspect().lastError, '');
    assert.deepEqual(a.crashes, []);
    a.stop();
  });

  it('does not stack refreshes when the runtime hangs', async () => {
    const clock = new VirtualClock();
    const cri = new FakeCri({ clock, defaultTimeoutMs: 100_000 });
    cri.setHang(true);
    const a = await startActor(images, { images: cri, refreshPeriodMs: 30_000 }, clock);
    await clock.advanceAsync(90_000);
    assert.equal(cri.calls.length, 1, 'three periods passed, still the one hung refresh');
    assert.equal(a.inspect().refreshing, true);
    cri.setHang(false);
    await clock.advanceAsync(10_000);
    assert.match(String(a.inspect().lastError), /DeadlineExceeded/);
    assert.equal(a.inspect().refreshing, false);
    await clock.advanceAsync(20_000);
    assert.equal(a.inspect().lastError, '');
    assert.deepEqual(a.crashes, []);
    a.stop();
  });
});
