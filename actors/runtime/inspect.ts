/**
 * What the runtime actor shows the debug socket about backoff: per pod and container, the
 * crash-loop backoff (upstream's flowcontrol.Backoff keyed by backoffKey) and the image-pull
 * backoff (the ImageManager's, keyed `<uid>_<image>`), each with its current delay and the time
 * the held-back container may be tried again. Pure: the actor hands in its state and the time.
 */
import type { Pod } from '../../protocols/kube/pod.ts';
import type { ContainerWaiting } from '../../protocols/messages/channels.ts';
import type { BackoffState } from './backoff.ts';

export interface ContainerBackoff {
  /** The container's name; null for an image-pull entry no container of the pod uses now. */
  container: string | null;
  kind: 'crashLoop' | 'imagePull';
  /** The image (imagePull only). */
  image?: string;
  /** The current delay (ms): the wait after the next failure is computed from it. */
  delayMs: number;
  /** Clock ms the held-back container may be tried again; null when it is not held back now. */
  retryAt: number | null;
}

export interface BackoffInputs {
  now: number;
  /** The crash-loop backoff state (CrashBackoff.state). */
  crash: BackoffState;
  /** The image manager's pull backoff entries (ImageManager.inspect().backoff). */
  pulls: readonly { key: string; delayMs: number; lastUpdate: number }[];
  /** uid → the containers its last sync held back (CrashLoopBackOff with retryAt, ...). */
  held: ReadonlyMap<string, readonly ContainerWaiting[]>;
  /** uid → the pod, to name the containers of an image (desiredPods). */
  pod(uid: string): Pod | undefined;
}

/** uid → its containers' backoff entries, crash loop first, by container name. */
export function backoffByPod(i: BackoffInputs): Record<string, ContainerBackoff[]> {
  const out: Record<string, ContainerBackoff[]> = {};
  const add = (uid: string, b: ContainerBackoff) => (out[uid] ??= []).push(b);
  const crashRetryAt = (uid: string, container: string) =>
    i.held.get(uid)?.find((w) => w.name === container && w.reason === 'CrashLoopBackOff')?.retryAt ?? null;

  // backoffKey: <pod>_<namespace>_<uid>_<container>_<hash>; uid, container and hash have no '_'.
  // A changed spec (new hash) starts a new entry: the newest one per container is the live one.
  const newest = new Map<string, { uid: string; container: string; delayMs: number; lastUpdate: number }>();
  for (const [key, e] of i.crash) {
    const parts = key.split('_');
    if (parts.length < 5) continue;
    const uid = parts[parts.length - 3]!;
    const container = parts[parts.length - 2]!;
    const prev = newest.get(`${uid}/${container}`);
    if (!prev || e.lastUpdate >= prev.lastUpdate) newest.set(`${uid}/${container}`, { uid, container, ...e });
  }
  for (const e of newest.values()) {
    add(e.uid, {
      container: e.container,
      kind: 'crashLoop',
      delayMs: e.delayMs,
      retryAt: crashRetryAt(e.uid, e.container),
    });
  }

  for (const p of i.pulls) {
    const cut = p.key.indexOf('_');
    if (cut <= 0) continue;
    const uid = p.key.slice(0, cut);
    const image = p.key.slice(cut + 1);
    const spec = i.pod(uid)?.spec;
    const names = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]
      .filter((c) => c.image === image)
      .map((c) => c.name);
    // upstream IsInBackOffSinceUpdate: blocked while less than the delay has passed since the failure
    const retryAt = i.now - p.lastUpdate < p.delayMs ? p.lastUpdate + p.delayMs : null;
    for (const container of names.length > 0 ? names : [null]) {
      add(uid, { container, kind: 'imagePull', image, delayMs: p.delayMs, retryAt });
    }
  }

  for (const list of Object.values(out)) {
    list.sort((a, b) =>
      a.kind === b.kind ? (a.container ?? '').localeCompare(b.container ?? '') : a.kind === 'crashLoop' ? -1 : 1,
    );
  }
  return out;
}
