/**
 * containerGC (upstream kuberuntime_gc.go with the kubelet's defaults: MinAge 0,
 * MaxPerPodContainer 1, MaxContainers -1). Every minute: for each (pod, container name) keep the
 * running instance and the newest exited one (its exit code and reason feed `lastState`),
 * remove older exited instances; remove exited sandboxes of a pod except the newest one.
 * Pods that are gone entirely are removed by their pod worker; orphans by housekeeping.
 * A runtime error is a state (logged, retried next period), not a crash.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import { LABEL_CONTAINER_NAME, LABEL_POD_UID } from '../../protocols/cri/labels.ts';
import type { Container, PodSandbox, RuntimeService } from '../../protocols/cri/types.ts';

export interface GcDeps {
  cri: Pick<RuntimeService, 'listContainers' | 'listPodSandbox' | 'removeContainer' | 'removePodSandbox'>;
  /** Upstream ContainerGCPeriod: 1 minute. */
  periodMs?: number;
  /** Dead instances kept per (pod, container name): upstream MaxPerPodContainer 1. */
  maxPerPodContainer?: number;
}

/** What to remove, given the runtime's lists. Pure. */
export function evictable(containers: readonly Container[], sandboxes: readonly PodSandbox[], keep = 1): { containers: string[]; sandboxes: string[] } {
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
const io = channels({});

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
          ctx.log.info('garbage collected', { containers: victims.containers.length, sandboxes: victims.sandboxes.length }, 2);
        }
        lastError = '';
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
    ctx.setInspect(() => ({ removed, lastError, lastRun }));
  },
};
