/**
 * imageGC (upstream realImageGCManager with kubelet's StartGarbageCollection loop): every
 * 5 minutes, and once at start,
 *   1. detect: list the images and every container (running or not), and keep per image when it
 *      was first seen and last used by a container (upstream imageRecords);
 *   2. with imageMaximumGCAge set, once the kubelet has run that long: remove the images unused
 *      for longer (freeOldImages);
 *   3. read the image file system (CRI ImageFsInfo for its mount point, statfs there for capacity
 *      and free space); at or over imageGCHighThresholdPercent, remove unused images least
 *      recently used first (never an image in use or pinned, never one first seen less than
 *      imageMinimumGCAge ago) until usage is back at imageGCLowThresholdPercent.
 * The --pod-infra-container-image counts as in use: containerd 1.6 does not report its sandbox
 * image as pinned (1.7 does), and upstream kept that image for the same reason before pinning.
 * Not reaching the target is a Warning FreeDiskSpaceFailed on the node; a second failed run in a
 * row also an ImageGCFailed (upstream: the first may be stats not being ready yet). A high
 * threshold of 100 disables image GC, as upstream.
 */
import { channels, serial, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import type { ImageService, RuntimeService } from '../../protocols/cri/types.ts';
import { EventReason, nodeRef, recordEvent } from '../../protocols/messages/events.ts';
import type { ImageFsStats } from './adapters.ts';
import {
  bytesToFree,
  detectImages,
  imagesInEvictionOrder,
  imagesInUse,
  oldImages,
  spaceCandidates,
  type EvictionCandidate,
  type GcPolicy,
  type ImageRecord,
} from './logic.ts';

export interface ImageGcDeps {
  images: Pick<ImageService, 'listImages' | 'removeImage' | 'imageFsInfo'>;
  cri: Pick<RuntimeService, 'listContainers'>;
  fs: ImageFsStats;
  nodeName: string;
  policy: GcPolicy;
  /** --pod-infra-container-image: kept as if in use (a runtime that does not pin its sandbox image, as containerd 1.6). */
  sandboxImage?: string;
  /** upstream ImageGCPeriod: 5 minutes. */
  periodMs?: number;
}

export const IMAGE_GC_PERIOD_MS = 300_000;

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ produces: ['events'] });

export const imageGC: ActorSpec<ImageGcDeps, typeof io> = {
  ...defaultPolicy,
  id: 'imageGC',
  dependsOn: ['runtime'],
  channels: io,
  start(ctx) {
    const { images, cri, fs, policy } = ctx.deps;
    const began = ctx.clock.now();
    let records = new Map<string, ImageRecord>();
    let prevFailed = false;
    let lastRun = 0;
    let lastError = '';
    let removed = 0;
    let freedBytes = 0;
    let usage: { usagePercent: number; capacity: number; available: number; mountpoint: string } | undefined;
    const warn = (reason: string, message: string) =>
      ctx.bus.send('events', recordEvent(nodeRef(ctx.deps.nodeName), 'Warning', reason, message));

    /** upstream freeImage: a removal that fails is kept for the error, the others go on. */
    const remove = async (
      victims: readonly EvictionCandidate[],
      why: 'age' | 'space',
      enough = Infinity,
    ): Promise<{ freed: number; errors: string[] }> => {
      let freed = 0;
      const errors: string[] = [];
      for (const v of victims) {
        if (freed >= enough) break;
        ctx.log.info(
          why === 'age' ? 'removing image: unused for longer than imageMaximumGCAge' : 'removing image to free bytes',
          { imageID: v.id, size: v.size, lastUsed: v.lastUsed },
          2,
        );
        try {
          await images.removeImage({ image: v.id });
        } catch (e) {
          errors.push(`${v.id}: ${errText(e)}`);
          continue;
        }
        records.delete(v.id);
        removed++;
        freed += v.size;
        freedBytes += v.size;
      }
      return { freed, errors };
    };

    const garbageCollect = async () => {
      const now = ctx.clock.now();
      const [list, containers] = await Promise.all([images.listImages(), cri.listContainers()]);
      const inUse = imagesInUse(containers, ctx.deps.sandboxImage);
      records = detectImages(records, list, inUse, now);
      const order = () => imagesInEvictionOrder(records, list, inUse);
      const old = await remove(oldImages(order(), policy, now, began), 'age');
      if (old.errors.length)
        throw new Error(`failed to remove images unused for longer than imageMaximumGCAge: ${old.errors.join('; ')}`);

      const fsInfo = (await images.imageFsInfo())[0];
      const mountpoint = fsInfo?.fsId?.mountpoint ?? '';
      if (!mountpoint) throw new Error('the runtime reports no image file system (ImageFsInfo has no mount point)');
      const { capacity, available } = await fs.statfs(mountpoint);
      if (capacity === 0) {
        const msg = 'invalid capacity 0 on image filesystem';
        warn(EventReason.InvalidDiskCapacity, msg);
        throw new Error(msg);
      }
      const need = bytesToFree(capacity, available, policy);
      usage = { usagePercent: need.usagePercent, capacity, available, mountpoint };
      if (need.amount <= 0) return;
      ctx.log.info(
        'disk usage on image filesystem is over the high threshold, trying to free bytes down to the low threshold',
        {
          usage: need.usagePercent,
          highThreshold: policy.highThresholdPercent,
          amountToFree: need.amount,
          lowThreshold: policy.lowThresholdPercent,
        },
      );
      const got = await remove(spaceCandidates(order(), policy, now), 'space', need.amount);
      if (got.errors.length) {
        throw new Error(
          `wanted to free ${need.amount} bytes, but freed ${got.freed} bytes space with errors in image deletion: ${got.errors.join('; ')}`,
        );
      }
      if (got.freed < need.amount) {
        const msg = `Failed to garbage collect required amount of images. Attempted to free ${need.amount} bytes, but only found ${got.freed} bytes eligible to free.`;
        warn(EventReason.FreeDiskSpaceFailed, msg);
        throw new Error(msg);
      }
    };

    const run = serial(
      ctx,
      async () => {
        lastRun = ctx.clock.now();
        await garbageCollect();
        if (prevFailed) ctx.log.info('image garbage collection succeeded again');
        prevFailed = false;
        lastError = '';
      },
      {
        onError: (e) => {
          lastError = errText(e);
          if (prevFailed) {
            ctx.log.error('image garbage collection failed multiple times in a row', { error: lastError });
            warn(EventReason.ImageGCFailed, lastError);
          } else {
            ctx.log.warn('image garbage collection failed once; stats initialization may not have completed yet', {
              error: lastError,
            });
          }
          prevFailed = true;
        },
      },
    );

    if (policy.highThresholdPercent >= 100) {
      ctx.log.info('imageGCHighThresholdPercent is 100: image garbage collection disabled', {}, 2);
      ctx.setInspect(() => ({ disabled: true }));
      return;
    }
    run.trigger();
    ctx.setInterval(() => run.trigger(), ctx.deps.periodMs ?? IMAGE_GC_PERIOD_MS);
    ctx.setInspect(() => ({
      policy,
      lastRun,
      lastError,
      removed,
      freedBytes,
      usage,
      images: [...records].map(([id, r]) => ({ id, ...r })),
    }));
  },
};
