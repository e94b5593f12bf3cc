/**
 * The kubelet's channel map: every actor the daemon can wire (bin/kubelet.ts starts some of them
 * only in a cluster or with --manifest-url) against the channel table of protocols/messages.
 * `kubelet-ts inspect channels` (through the debug socket, with live message counts) and the
 * README's channel map (scripts/gen-channel-map.ts) are both rendered from `kubeletChannelMap`.
 */
import './channels.ts';
import { channelMap, channelMapMarkdown, type ChannelRow, type DeclaredActor } from '../kernel/channel-map.ts';
import type { DebugCommand } from '../kernel/debug-socket.ts';
import { syncLoop } from '../kernel/sync-loop.ts';
import { CHANNELS } from '../protocols/messages/channels.ts';
import { events } from '../actors/events/index.ts';
import { containerManager } from '../actors/container-manager/index.ts';
import { containerGC } from '../actors/gc/index.ts';
import { imageGC } from '../actors/image-gc/index.ts';
import { images } from '../actors/images/index.ts';
import { mirrorPods } from '../actors/mirror-pods/index.ts';
import { nodeLease } from '../actors/node-lease/index.ts';
import { nodeStatus } from '../actors/node-status/index.ts';
import { pleg } from '../actors/pleg/index.ts';
import { podConfig } from '../actors/pod-config/index.ts';
import { podManager } from '../actors/pod-manager/index.ts';
import { podSourceApi } from '../actors/pod-source-api/index.ts';
import { podSourceHttp } from '../actors/pod-source-http/index.ts';
import { podWorkers } from '../actors/pod-workers/index.ts';
import { probes } from '../actors/probes/index.ts';
import { runtime } from '../actors/runtime/index.ts';
import { server } from '../actors/server/index.ts';
import { certificateManager } from '../actors/certificates/index.ts';
import { stats } from '../actors/stats/index.ts';
import { statusManager } from '../actors/status/index.ts';
import { systemdNotify } from '../actors/systemd-notify/index.ts';
import { nodeShutdown } from '../actors/node-shutdown/index.ts';
import { volumeManager } from '../actors/volumes/index.ts';

/** Every actor bin/kubelet.ts may start (a new actor is added here and in createKubelet). */
export const KUBELET_ACTORS: readonly DeclaredActor[] = [
  events,
  statusManager,
  podManager,
  podConfig,
  podSourceHttp,
  podSourceApi,
  runtime,
  images,
  imageGC,
  containerManager,
  containerGC,
  pleg,
  podWorkers,
  probes,
  syncLoop,
  nodeStatus,
  nodeLease,
  mirrorPods,
  server,
  certificateManager,
  systemdNotify,
  nodeShutdown,
  volumeManager,
  stats,
];

export const CHANNEL_TABLE = CHANNELS;

export function kubeletChannelMap(): ChannelRow[] {
  return channelMap(KUBELET_ACTORS, CHANNEL_TABLE);
}

export const README_BEGIN = '<!-- channel-map:begin (generated: bash scripts/node.sh scripts/gen-channel-map.ts) -->';
export const README_END = '<!-- channel-map:end -->';

/** `readme` with the text between the markers replaced by the current map. Throws without the markers. */
export function withChannelMap(readme: string): string {
  const b = readme.indexOf(README_BEGIN);
  const e = readme.indexOf(README_END);
  if (b < 0 || e < b) throw new Error(`README.md: no channel map section (${README_BEGIN} … ${README_END})`);
  return readme.slice(0, b + README_BEGIN.length) + '\n' + channelMapMarkdown(kubeletChannelMap()) + readme.slice(e);
}

/**
 * The debug socket's `channels` command: the map with each channel's message count on the live
 * bus, and the kubelet actors this daemon did not start (their rows still name them).
 */
export function channelsCommand(wired: readonly string[]): DebugCommand {
  return {
    answer: (_arg, env) => {
      const counts = env.counts();
      return {
        at: env.now,
        channels: kubeletChannelMap().map((r) => ({ ...r, count: counts.get(r.name) ?? 0 })),
        notWired: KUBELET_ACTORS.map((a) => a.id).filter((id) => !wired.includes(id)),
      };
    },
  };
}
