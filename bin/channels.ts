/**
 * Binds the kubelet's channels (protocols/messages/channels.ts) to the kernel's bus: the kernel
 * knows no kubelet channel and protocols/ imports nothing from kernel/, so the composition root
 * does it, as it binds actors to their deps. A global augmentation: every file of the project
 * (tsconfig includes bin/) sees the bus typed.
 */
import type { KubeletEventChannels, KubeletViewChannels } from '../protocols/messages/channels.ts';

declare module '../kernel/bus.ts' {
  // eslint-disable-next-line @typescript-eslint/no-empty-interface
  interface EventChannels extends KubeletEventChannels {}
  // eslint-disable-next-line @typescript-eslint/no-empty-interface
  interface ViewChannels extends KubeletViewChannels {}
}
