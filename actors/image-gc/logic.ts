/**
 * imageGC's pure half (upstream pkg/kubelet/images/image_gc_manager.go): the image records
 * (first detected, last used, size, pinned) kept from each listing, the eviction order (least
 * recently used first, then first detected; never an image in use or pinned), and how much to
 * free (down to the low threshold once usage reaches the high one).
 */
import type { Container, Image } from '../../protocols/cri/types.ts';

export interface ImageRecord {
  /** Clock ms the kubelet first saw the image. */
  firstDetected: number;
  /** Clock ms a container last used it; 0 never (since this kubelet started). */
  lastUsed: number;
  size: number;
  pinned: boolean;
}

export type ImageRecords = ReadonlyMap<string, ImageRecord>;

export interface GcPolicy {
  highThresholdPercent: number;
  lowThresholdPercent: number;
  minAgeMs: number;
  /** 0: off. */
  maxAgeMs: number;
}

/** The images some container (running or not) was created from (image ID and spec), and the sandbox image by name. */
export function imagesInUse(containers: readonly Container[], sandboxImage?: string): Set<string> {
  const out = new Set<string>();
  if (sandboxImage) {
    out.add(sandboxImage);
    // as the runtime tags it: a name without tag or digest means :latest
    if (!/[:@][^/]*$/.test(sandboxImage)) out.add(`${sandboxImage}:latest`);
  }
  for (const c of containers) {
    if (c.imageRef) out.add(c.imageRef);
    if (c.image?.image) out.add(c.image.image);
  }
  return out;
}

const used = (img: Image, inUse: ReadonlySet<string>) =>
  inUse.has(img.id) || img.repoTags.some((t) => inUse.has(t)) || img.repoDigests.some((d) => inUse.has(d));

/** upstream detectImages: records for the images listed now (new ones first detected now, in-use ones used now); gone ones dropped. */
export function detectImages(
  records: ImageRecords,
  images: readonly Image[],
  inUse: ReadonlySet<string>,
  now: number,
): Map<string, ImageRecord> {
  const out = new Map<string, ImageRecord>();
  for (const img of images) {
    const prev = records.get(img.id);
    out.set(img.id, {
      firstDetected: prev?.firstDetected ?? now,
      lastUsed: used(img, inUse) ? now : (prev?.lastUsed ?? 0),
      size: img.size,
      pinned: img.pinned,
    });
  }
  return out;
}

export interface EvictionCandidate extends ImageRecord {
  id: string;
}

/** upstream imagesInEvictionOrder: not in use, not pinned; least recently used first, then first detected. */
export function imagesInEvictionOrder(
  records: ImageRecords,
  images: readonly Image[],
  inUse: ReadonlySet<string>,
): EvictionCandidate[] {
  const inUseIds = new Set(images.filter((i) => used(i, inUse)).map((i) => i.id));
  return [...records]
    .filter(([id, r]) => !inUseIds.has(id) && !inUse.has(id) && !r.pinned)
    .map(([id, r]) => ({ id, ...r }))
    .sort((a, b) => a.lastUsed - b.lastUsed || a.firstDetected - b.firstDetected || (a.id < b.id ? -1 : 1));
}

/** upstream freeOldImages' choice: unused for longer than maxAge, once the kubelet has run that long. */
export function oldImages(
  candidates: readonly EvictionCandidate[],
  policy: GcPolicy,
  now: number,
  began: number,
): EvictionCandidate[] {
  if (policy.maxAgeMs === 0 || now - began <= policy.maxAgeMs) return [];
  return candidates.filter((c) => now - c.lastUsed > policy.maxAgeMs);
}

/** upstream freeSpace's filter: not used at `now` and first detected at least minAge ago. */
export function spaceCandidates(
  candidates: readonly EvictionCandidate[],
  policy: GcPolicy,
  now: number,
): EvictionCandidate[] {
  return candidates.filter((c) => c.lastUsed < now && now - c.firstDetected >= policy.minAgeMs);
}

/**
 * upstream GarbageCollect's arithmetic: usage = 100 − available·100/capacity (integer); at or
 * over the high threshold, the bytes to free to get back to the low one; else 0.
 */
export function bytesToFree(
  capacity: number,
  available: number,
  policy: GcPolicy,
): { usagePercent: number; amount: number } {
  const avail = Math.min(available, capacity);
  const usagePercent = 100 - Math.trunc((avail * 100) / capacity);
  if (usagePercent < policy.highThresholdPercent) return { usagePercent, amount: 0 };
  return { usagePercent, amount: Math.trunc((capacity * (100 - policy.lowThresholdPercent)) / 100) - avail };
}
