/**
 * Image garbage collection (upstream image_gc_manager.go): the pure records, order and
 * arithmetic, then the imageGC actor on a FakeCri and a VirtualClock with a file system whose
 * free space follows the images present.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { imageGC } from '../../actors/image-gc/index.ts';
import {
  bytesToFree,
  detectImages,
  imagesInEvictionOrder,
  imagesInUse,
  oldImages,
  spaceCandidates,
  type GcPolicy,
} from '../../actors/image-gc/logic.ts';
import type { Container, Image } from '../../protocols/cri/types.ts';
import { FakeCri } from '../support/fake-cri.ts';

const MB = 1_000_000;
const POLICY: GcPolicy = { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 120_000, maxAgeMs: 0 };
const img = (id: string, size: number, pinned = false): Image => ({
  id,
  repoTags: [`${id}:tag`],
  repoDigests: [],
  size,
  uid: null,
  username: '',
  spec: null,
  pinned,
});
const ctr = (imageRef: string, state: Container['state'] = 'CONTAINER_EXITED') =>
  ({
    id: `c-${imageRef}`,
    podSandboxId: 's',
    metadata: { name: 'c', attempt: 0 },
    image: { image: imageRef },
    imageRef,
    state,
    createdAt: 0,
    labels: {},
    annotations: {},
  }) as Container;

describe('imageGC: records, order and arithmetic (pure)', () => {
  it('keeps first detection, stamps last use from any container (running or not), drops images gone', () => {
    const inUse = imagesInUse([ctr('b')]);
    let r = detectImages(new Map(), [img('a', 1), img('b', 2)], inUse, 1000);
    assert.deepEqual(r.get('a'), { firstDetected: 1000, lastUsed: 0, size: 1, pinned: false });
    assert.deepEqual(r.get('b'), { firstDetected: 1000, lastUsed: 1000, size: 2, pinned: false });
    r = detectImages(r, [img('b', 2)], new Set(), 5000);
    assert.deepEqual([...r.keys()], ['b']);
    assert.deepEqual(
      r.get('b'),
      { firstDetected: 1000, lastUsed: 1000, size: 2, pinned: false },
      'last use kept when no longer used',
    );
  });

  it('evicts least recently used first, then first detected; never an image in use or pinned', () => {
    const images = [img('new', 1), img('old', 1), img('used', 1), img('pin', 1, true), img('lru', 1)];
    const records = new Map([
      ['new', { firstDetected: 50, lastUsed: 0, size: 1, pinned: false }],
      ['old', { firstDetected: 10, lastUsed: 0, size: 1, pinned: false }],
      ['used', { firstDetected: 10, lastUsed: 900, size: 1, pinned: false }],
      ['pin', { firstDetected: 1, lastUsed: 0, size: 1, pinned: true }],
      ['lru', { firstDetected: 1, lastUsed: 300, size: 1, pinned: false }],
    ]);
    assert.deepEqual(
      imagesInEvictionOrder(records, images, imagesInUse([ctr('used', 'CONTAINER_RUNNING')])).map((c) => c.id),
      ['old', 'new', 'lru'],
    );
    // by tag as well as by id; the sandbox image by name
    assert.deepEqual(
      imagesInEvictionOrder(records, images, new Set(['lru:tag', 'used'])).map((c) => c.id),
      ['old', 'new'],
    );
    assert.deepEqual(
      imagesInEvictionOrder(records, images, imagesInUse([], 'old:tag')).map((c) => c.id),
      ['new', 'lru', 'used'],
    );
  });

  it('minimum age and maximum age', () => {
    const c = [
      { id: 'a', firstDetected: 0, lastUsed: 0, size: 1, pinned: false },
      { id: 'b', firstDetected: 100_000, lastUsed: 0, size: 1, pinned: false },
    ];
    assert.deepEqual(
      spaceCandidates(c, POLICY, 150_000).map((x) => x.id),
      ['a'],
    );
    const aged = { ...POLICY, maxAgeMs: 60_000 };
    assert.deepEqual(oldImages(c, aged, 50_000, 0), [], 'not before the kubelet ran for maxAge');
    assert.deepEqual(
      oldImages(c, aged, 70_000, 0).map((x) => x.id),
      ['a', 'b'],
    );
    assert.deepEqual(oldImages(c, POLICY, 10_000_000, 0), [], 'maxAge 0 is off');
  });

  it('frees down to the low threshold once usage reaches the high one', () => {
    assert.deepEqual(bytesToFree(1000, 160, POLICY), { usagePercent: 84, amount: 0 });
    assert.deepEqual(bytesToFree(1000, 150, POLICY), { usagePercent: 85, amount: 50 });
    assert.deepEqual(
      bytesToFree(1000, 2000, POLICY),
      { usagePercent: 0, amount: 0 },
      'available is capped at capacity',
    );
  });
});

describe('imageGC actor on the fake runtime', () => {
  async function setup(policy = POLICY) {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    const ids = {
      old: cri.addImage('docker.io/library/old:1', { size: 300 * MB }),
      used: cri.addImage('docker.io/library/used:1', { size: 300 * MB }),
    };
    const sandbox = { metadata: { name: 'p', namespace: 'default', uid: 'u1', attempt: 0 } };
    const sb = await cri.runPodSandbox(sandbox);
    const use = (image: string, name: string) =>
      cri.createContainer(sb, { metadata: { name, attempt: 0 }, image: { image } }, sandbox);
    await use(ids.used, 'c');
    // 1000 MB: `other` taken by other things, the rest by the images present
    const disk = { other: 100 * MB };
    const fs = {
      statfs: async () => {
        const used = (await cri.listImages()).reduce((n, i) => n + i.size, 0);
        return { capacity: 1000 * MB, available: Math.max(0, 1000 * MB - disk.other - used) };
      },
    };
    const a = await startActor(
      imageGC,
      { images: cri, cri, fs, nodeName: 'node-a', policy, periodMs: 300_000 },
      { clock },
    );
    return { clock, cri, ids, a, disk, use, events: collect(a.bus, 'events') };
  }

  it('over the high threshold: removes unused images old enough, least recently used first, never one in use; FreeDiskSpaceFailed, then ImageGCFailed', async () => {
    const { clock, cri, ids, a, disk, use, events } = await setup();
    const present = async () => (await cri.listImages()).map((i) => i.id).sort();
    const reasons = () => events.map((e) => (e.type === 'event.record' ? e.reason : ''));
    await clock.advanceAsync(0);
    assert.deepEqual(reasons(), [], '70% used: nothing to do');
    // a pull takes it to 90%: 100 MB to free at the next run; `old` (seen 5 min ago, never used)
    // goes, `late` is first seen by that run (younger than imageMinimumGCAge) and stays
    const late = cri.addImage('docker.io/library/late:1', { size: 200 * MB });
    await clock.advanceAsync(300_000);
    assert.deepEqual(await present(), [ids.used, late].sort());
    // another pull: 90% again; now `late` is old enough, `young` is not
    const young = cri.addImage('docker.io/library/young:1', { size: 300 * MB });
    await clock.advanceAsync(300_000);
    assert.deepEqual(await present(), [ids.used, young].sort());
    assert.equal((a.inspect() as { removed: number }).removed, 2);
    assert.deepEqual(reasons(), []);
    // every image left is in use and the disk fills with other things: nothing may go
    await use(young, 'd');
    disk.other = 400 * MB;
    await clock.advanceAsync(300_000);
    assert.deepEqual(await present(), [ids.used, young].sort(), 'images in use are never removed');
    assert.deepEqual(reasons(), ['FreeDiskSpaceFailed'], 'one failed run is no ImageGCFailed');
    const e = events[0]!;
    assert.equal(e.involvedObject.kind, 'Node');
    assert.equal(e.eventType, 'Warning');
    assert.equal(
      e.message,
      `Failed to garbage collect required amount of images. Attempted to free ${200 * MB} bytes, but only found 0 bytes eligible to free.`,
    );
    await clock.advanceAsync(300_000);
    assert.deepEqual(reasons(), ['FreeDiskSpaceFailed', 'FreeDiskSpaceFailed', 'ImageGCFailed']);
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('a high threshold of 100 disables image GC', async () => {
    const { clock, cri, ids, a, disk } = await setup({ ...POLICY, highThresholdPercent: 100 });
    disk.other = 400 * MB;
    await clock.advanceAsync(900_000);
    assert.deepEqual(a.inspect(), { disabled: true });
    assert.ok((await cri.listImages()).some((i) => i.id === ids.old));
    await a.stop();
  });
});
