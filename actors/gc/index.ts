/**
 * containerGC (upstream kuberuntime_gc.go with the kubelet's defaults: MinAge 0,
 * MaxPerPodContainer 1, MaxContainers -1). Every minute: for each (pod, container name) keep the
 * running instance and the newest exited one (its exit code and reason feed `lastState`),
 * remove older exited instances; remove exited sandboxes of a pod except the newest one.
 * Pods that are gone entirely are removed by their pod worker; orphans by housekeeping.
 * Then (upstream evictPodLogsDirectories), once every configured pod source has listed: each
 * pod log directory `<pod-logs-dir>/<namespace>_<name>_<uid>` whose pod is not desired, has no
 * pod worker and has no sandbox or container left in the runtime is removed. Only real
 * directories directly under the log root are touched: a symlink there is left alone, and one
 * inside a removed directory is unlinked, never followed. (kubelet-ts writes no legacy
 * /var/log/containers symlinks, so there are none to prune.)
 * A runtime or file system error is a state (logged, retried next period), not a crash.
 */
import { join } from 'node:path';
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import { LABEL_CONTAINER_NAME, LABEL_POD_UID } from '../../protocols/cri/labels.ts';
import type { Container, PodSandbox, RuntimeService } from '../../protocols/cri/types.ts';
import type { PodSource } from '../../protocols/messages/config.ts';
import type {} from '../../protocols/messages/channels.ts';
import type { PodLogEntry, PodLogFs } from './adapters.ts';

export interface GcDeps {
  cri: Pick<RuntimeService, 'listContainers' | 'listPodSandbox' | 'removeContainer' | 'removePodSandbox'>;
  /** Upstream ContainerGCPeriod: 1 minute. */
  periodMs?: number;
  /** Dead instances kept per (pod, container name): upstream MaxPerPodContainer 1. */
  maxPerPodContainer?: number;
  /** --pod-logs-dir and the port to prune it; without both, pod log directories are left alone. */
  podLogsDir?: string;
  logFs?: PodLogFs;
  /** The configured pod sources: log directories are removed only once each has listed. Default: file. */
  sources?: readonly PodSource[];
}

/** The pod uid of a pod log directory name `<namespace>_<name>_<uid>`; undefined for any other name. */
export function podUidOfLogDir(name: string): string | undefined {
  const parts = name.split('_');
  return parts.length === 3 && parts.every((p) => p !== '') ? parts[2] : undefined;
}

/**
 * The pod log directories to remove (upstream evictPodLogsDirectories with ShouldPodContentBeRemoved):
 * real directories of pods that are neither desired nor held by a pod worker and of which the
 * runtime lists no sandbox or container. Pure.
 */
export function evictableLogDirs(
  entries: readonly PodLogEntry[],
  keep: { desired: ReadonlySet<string>; workers: ReadonlySet<string>; runtime: ReadonlySet<string> },
): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const uid = podUidOfLogDir(e.name);
    if (!e.dir || uid === undefined) continue;
    if (keep.desired.has(uid) || keep.workers.has(uid) || keep.runtime.has(uid)) continue;
    out.push(e.name);
  }
  return out.sort();
}

/** What to remove, given the runtime's lists. Pure. */
export function evictable(
  containers: readonly Container[],
  sandboxes: readonly PodSandbox[],
  keep = 1,
): { containers: string[]; sandboxes: string[] } {
  const groups = new Map<string, Container[]>();
  for (const c of containers) {
    if (c.state !== 'CONTAINER_EXITED') continue;
    const uid = c.labels[LABEL_POD_UID];
    if (!uid) continue; // not ours
    const key = `${uid}/${c.labels[LABEL_CONTAINER_NAME] ?? c.metadata.name}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(c);
  }
  const outC: string[] = [];
  for (const g of groups.values()) {
    g.sort((a, b) => b.createdAt - a.createdAt || b.metadata.attempt - a.metadata.attempt);
    outC.push(...g.slice(keep).map((c) => c.id));
  }
  const byPod = new Map<string, PodSandbox[]>();
  for (const s of sandboxes) {
    const uid = s.labels[LABEL_POD_UID];
    if (!uid) continue;
    let g = byPod.get(uid);
    if (!g) byPod.set(uid, (g = []));
    g.push(s);
  }
  const outS: string[] = [];
  const withContainers = new Set(containers.filter((c) => !outC.includes(c.id)).map((c) => c.podSandboxId));
  for (const g of byPod.values()) {
    g.sort((a, b) => b.createdAt - a.createdAt);
    for (const s of g.slice(1)) if (s.state === 'SANDBOX_NOTREADY' && !withContainers.has(s.id)) outS.push(s.id);
  }
  return { containers: outC.sort(), sandboxes: outS.sort() };
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ reads: ['desiredPods', 'podWorkerStates', 'readySources'] });

export const containerGC: ActorSpec<GcDeps, typeof io> = {
  ...defaultPolicy,
  id: 'containerGC',
  dependsOn: ['runtime'],
  channels: io,
  start(ctx) {
    const { cri } = ctx.deps;
    let running = false;
    let removed = 0;
    let lastError = '';
    let lastRun = 0;
    let removedLogDirs = 0;
    const sources = ctx.deps.sources ?? ['file'];
    const sourcesReady = () => {
      const ready = ctx.bus.current('readySources');
      return sources.every((s) => ready?.has(s));
    };

    /** upstream evictPodLogsDirectories, from the runtime lists read this period. */
    const collectLogDirs = async (cs: readonly Container[], ss: readonly PodSandbox[]) => {
      const { podLogsDir, logFs } = ctx.deps;
      if (!podLogsDir || !logFs || !sourcesReady()) return;
      const uids = (xs: Iterable<string | undefined>) => new Set([...xs].filter((u): u is string => u !== undefined));
      const dirs = evictableLogDirs(await logFs.list(podLogsDir), {
        desired: uids(ctx.bus.current('desiredPods')?.keys() ?? []),
        workers: uids(ctx.bus.current('podWorkerStates')?.keys() ?? []),
        runtime: uids([...cs, ...ss].map((x) => x.labels[LABEL_POD_UID])),
      });
      for (const name of dirs) {
        const path = join(podLogsDir, name);
        try {
          await logFs.removeDir(path);
          removedLogDirs++;
          ctx.log.info('removed pod log directory', { path }, 2);
        } catch (e) {
          lastError = `removing pod log directory ${path}: ${errText(e)}`;
          ctx.log.warn('failed to remove pod log directory', { path, error: errText(e) });
        }
      }
    };

    const collect = async () => {
      if (running) return;
      running = true;
      try {
        const [cs, ss] = await Promise.all([cri.listContainers(), cri.listPodSandbox()]);
        const victims = evictable(cs, ss, ctx.deps.maxPerPodContainer ?? 1);
        for (const id of victims.containers) await cri.removeContainer(id);
        for (const id of victims.sandboxes) await cri.removePodSandbox(id);
        removed += victims.containers.length + victims.sandboxes.length;
        if (victims.containers.length + victims.sandboxes.length > 0) {
          ctx.log.info(
            'garbage collected',
            { containers: victims.containers.length, sandboxes: victims.sandboxes.length },
            2,
          );
        }
        lastError = '';
        try {
          await collectLogDirs(cs, ss);
        } catch (e) {
          lastError = `reading pod log root ${ctx.deps.podLogsDir}: ${errText(e)}`;
          ctx.log.warn('pod log garbage collection failed', { path: ctx.deps.podLogsDir, error: errText(e) });
        }
      } catch (e) {
        if (!isCriError(e)) throw e;
        lastError = e.message;
        ctx.log.warn('container garbage collection failed', { error: e.message });
      } finally {
        running = false;
        lastRun = ctx.clock.now();
      }
    };
    ctx.setInterval(() => ctx.run(collect()), ctx.deps.periodMs ?? 60_000);
    ctx.setInspect(() => ({ removed, removedLogDirs, lastError, lastRun }));
  },
};
