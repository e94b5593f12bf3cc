/**
 * The runtime actor's ports: the CRI runtime and the image manager (EnsureImageExists), both
 * handed in by the daemon. Structural types, so actors/images' ImageManager fits without this
 * actor importing it.
 */
import type { PodSandboxConfig } from '../../protocols/cri/types.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import type { EventSink } from '../../protocols/messages/events.ts';

export type EnsureImageResult =
  | { ok: true; imageRef: string; pulled: boolean; message: string }
  | { ok: false; reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName'; message: string; retryAt?: number };

export interface ImagePort {
  /** `record` receives upstream's image events (Pulling, Pulled, Failed, BackOff, ...) for this container. */
  ensureImageExists(pod: Pod, container: Container, sandboxConfig?: PodSandboxConfig, record?: EventSink): Promise<EnsureImageResult>;
  /** The pull backoff entries (key `<pod uid>_<image>`), for the runtime's inspection. */
  inspect?(): { backoff: readonly { key: string; delayMs: number; lastUpdate: number }[] };
}
