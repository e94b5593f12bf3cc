/**
 * images: the image side of the node, as an actor. For now it only keeps what image GC will
 * need in its inspect state: the image filesystem usage (CRI ImageFsInfo) and the image list
 * (upstream's image GC manager refreshes its image cache every 30s). Image GC comes later.
 *
 * Pulling is not here: EnsureImageExists (manager.ts) is a port the daemon hands to the runtime
 * actor. A runtime that does not answer is recorded as lastError and retried next period, never
 * a crash; a refresh that is still running when the next one is due is not doubled.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import type { ImageService } from '../../protocols/cri/types.ts';

export interface ImagesDeps {
  images: ImageService;
  /** How often to read ImageFsInfo and ListImages; upstream refreshes its image cache every 30s. */
  refreshPeriodMs?: number;
}

export const IMAGE_REFRESH_PERIOD_MS = 30_000;

export interface ImageFsSnapshot {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  /** Runtime timestamp of the sample (ns). */
  timestamp: number;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({});

export const images: ActorSpec<ImagesDeps, typeof io> = {
  ...defaultPolicy,
  id: 'images',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { images: svc } = ctx.deps;
    const period = ctx.deps.refreshPeriodMs ?? IMAGE_REFRESH_PERIOD_MS;
    let imageFs: ImageFsSnapshot[] = [];
    let imageCount = 0;
    let imageBytes = 0;
    let lastOk = 0;
    let lastError = '';
    let refreshing = false;

    const refresh = async () => {
      if (refreshing) return;
      refreshing = true;
      try {
        const fs = await svc.imageFsInfo();
        const list = await svc.listImages();
        if (ctx.stopped) return;
        imageFs = fs.map((f) => ({
          mountpoint: f.fsId?.mountpoint ?? '',
          usedBytes: f.usedBytes?.value ?? 0,
          inodesUsed: f.inodesUsed?.value ?? 0,
          timestamp: f.timestamp,
        }));
        imageCount = list.length;
        imageBytes = list.reduce((n, i) => n + (i.size || 0), 0);
        if (lastError) ctx.log.info('image filesystem info available again');
        lastError = '';
        lastOk = ctx.clock.now();
      } catch (e) {
        if (!isCriError(e)) throw e;
        if (!lastError) ctx.log.warn('failed to get image filesystem info', { error: e.message });
        lastError = e.message;
      } finally {
        refreshing = false;
      }
    };

    ctx.run(refresh());
    ctx.setInterval(() => ctx.run(refresh()), period);
    ctx.setInspect(() => ({
      imageFs,
      images: imageCount,
      imageBytes,
      lastOk,
      lastError,
      refreshing,
      refreshPeriodMs: period,
    }));
  },
};
