/**
 * containerManager (upstream pkg/kubelet/cm): the node's cgroups for pods. At start it detects
 * the cgroup version (/proc/self/mountinfo), then with --cgroups-per-qos makes the hierarchy
 *   <cgroup-root>/kubepods                  node allocatable: capacity − kube/system-reserved
 *                                           (enforceNodeAllocatable [pods]), Guaranteed pods
 *   <cgroup-root>/kubepods/burstable        cpu.shares = the Burstable pods' summed CPU requests
 *   <cgroup-root>/kubepods/besteffort       cpu.shares = 2
 * (systemd driver: kubepods.slice/kubepods-burstable.slice/…), and keeps the tiers' shares in
 * step as pods come and go (and every minute, as upstream's periodic UpdateCgroups). Each pod's
 * own cgroup (pod<uid>, with ResourceConfigForPod) is made by the runtime through the
 * PodCgroupManager port before the sandbox; this actor removes the pod cgroups of pods that are
 * gone (not desired, no pod worker, nothing left in the runtime: upstream
 * cleanupOrphanedPodCgroups). It also checks once that Guaranteed pods really got their low
 * oom_score_adj: a runtime with restrict_oom_score_adj (or a kubelet without CAP_SYS_RESOURCE)
 * clamps it, which is said once.
 *
 * Failures are states: a cgroup that cannot be written is logged and tried again next period.
 */
import { channels, serial, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import { qosCgroup } from '../../protocols/kube/cgroups.ts';
import { isTerminalPhase, type Pod } from '../../protocols/kube/pod.ts';
import { getPodQos, GUARANTEED_OOM_SCORE_ADJ } from '../../protocols/kube/qos.ts';
import { nodeAllocatableConfig, qosTierConfigs, type NodeCapacity } from './logic.ts';
import type { PodCgroupManager } from './manager.ts';

export interface ContainerManagerDeps {
  manager: PodCgroupManager;
  capacity: NodeCapacity;
  /** --enforce-node-allocatable includes `pods`. */
  enforcePods: boolean;
  kubeReserved: Record<string, string>;
  systemReserved: Record<string, string>;
  /** upstream periodicQOSCgroupUpdateInterval: 1 minute. */
  periodMs?: number;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ reads: ['desiredPods', 'podWorkerStates', 'runtimePods'] });

export const containerManager: ActorSpec<ContainerManagerDeps, typeof io> = {
  ...defaultPolicy,
  id: 'containerManager',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { manager } = ctx.deps;
    const perQos = manager.settings.cgroupsPerQos;
    let layout = '';
    let nodeReady = false;
    let lastError = '';
    let removed = 0;
    let tiers = {};
    let oomChecked = false;
    let oomRefused = '';

    const activePods = (): Pod[] =>
      [...(ctx.bus.current('desiredPods')?.values() ?? [])]
        .filter((d) => !d.rejected && !isTerminalPhase(d.pod.status?.phase))
        .map((d) => d.pod);

    /** upstream createNodeAllocatableCgroups + qosContainerManager.Start: kubepods and its two tiers. */
    const setupNode = async () => {
      const l = await manager.layout();
      layout =
        l.version === 2
          ? `cgroup v2 at ${l.root}`
          : `cgroup v1 (${Object.entries(l.controllers)
              .filter(([c]) => ['cpu', 'memory'].includes(c))
              .map(([c, m]) => `${c} at ${m}`)
              .join(', ')})`;
      const reserved = [ctx.deps.kubeReserved, ctx.deps.systemReserved];
      const config = nodeAllocatableConfig(ctx.deps.capacity, ctx.deps.enforcePods, reserved);
      await manager.apply(manager.kubepods(), config);
      const t = qosTierConfigs(activePods());
      await manager.apply(qosCgroup(manager.settings, 'Burstable'), t.burstable);
      await manager.apply(qosCgroup(manager.settings, 'BestEffort'), t.besteffort);
      ctx.log.info('pod cgroups ready', {
        layout,
        driver: manager.settings.driver,
        kubepods: manager.path(manager.kubepods()),
        nodeAllocatable: { cpuShares: config.cpuShares, memoryBytes: config.memory },
        enforceNodeAllocatable: ctx.deps.enforcePods ? ['pods'] : [],
      });
      nodeReady = true;
    };

    /** upstream UpdateCgroups: the tiers' shares from the active pods. */
    const updateTiers = async () => {
      const t = qosTierConfigs(activePods());
      await manager.apply(qosCgroup(manager.settings, 'Burstable'), t.burstable, false);
      await manager.apply(qosCgroup(manager.settings, 'BestEffort'), t.besteffort, false);
      tiers = { burstableCpuShares: t.burstable.cpuShares, besteffortCpuShares: t.besteffort.cpuShares };
    };

    /** upstream cleanupOrphanedPodCgroups, without killing: a pod's processes are its worker's to stop. */
    const cleanupOrphans = async () => {
      const keep = new Set<string>([
        ...(ctx.bus.current('desiredPods')?.keys() ?? []),
        ...(ctx.bus.current('podWorkerStates')?.keys() ?? []),
        ...(ctx.bus.current('runtimePods')?.keys() ?? []),
      ]);
      for (const c of await manager.podCgroups()) {
        if (keep.has(c.uid)) continue;
        try {
          await manager.remove(c);
          removed++;
          ctx.log.info('removed the cgroup of a pod that is gone', { uid: c.uid, cgroup: c.path }, 2);
        } catch (e) {
          ctx.log.warn('orphaned pod cgroup not removed yet', { uid: c.uid, cgroup: c.path, error: errText(e) });
        }
      }
    };

    /** Once: a running Guaranteed pod whose processes all kept a higher oom_score_adj than -997. */
    const checkOomScoreAdj = async () => {
      if (oomChecked) return;
      const running = ctx.bus.current('runtimePods');
      for (const pod of activePods()) {
        if (getPodQos(pod) !== 'Guaranteed' || !running?.get(pod.metadata.uid)?.containerIds.length) continue;
        const path = manager.parent(pod);
        if (!path) continue;
        const adj = (await Promise.all((await manager.pids(path)).map((p) => manager.oomScoreAdj(p)))).filter(
          (a) => a !== undefined,
        );
        if (adj.length < 2) continue; // the sandbox alone: its containers are not running yet
        oomChecked = true;
        const lowest = Math.min(...adj);
        if (lowest > GUARANTEED_OOM_SCORE_ADJ + 1) {
          oomRefused = `pod ${pod.metadata.namespace}/${pod.metadata.name}: lowest oom_score_adj ${lowest}, wanted ${GUARANTEED_OOM_SCORE_ADJ}`;
          ctx.log.warn(
            'the runtime did not lower oom_score_adj for Guaranteed containers (containerd restrict_oom_score_adj, or no CAP_SYS_RESOURCE): they are no better protected from the OOM killer than the runtime itself',
            {
              pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
              wanted: GUARANTEED_OOM_SCORE_ADJ,
              found: lowest,
            },
          );
        }
        return;
      }
    };

    const reconcile = serial(
      ctx,
      async () => {
        if (!perQos) {
          await checkOomScoreAdj();
          return;
        }
        if (!nodeReady) await setupNode();
        await updateTiers();
        await cleanupOrphans();
        await checkOomScoreAdj();
        if (lastError) ctx.log.info('pod cgroups can be written again');
        lastError = '';
      },
      {
        onError: (e) => {
          const msg = errText(e);
          if (msg !== lastError) ctx.log.error('pod cgroups: update failed, trying again next period', { error: msg });
          lastError = msg;
        },
      },
    );

    reconcile.trigger();
    ctx.on(ctx.bus.view('desiredPods'), () => reconcile.trigger());
    ctx.on(ctx.bus.view('podWorkerStates'), () => reconcile.trigger());
    ctx.on(ctx.bus.view('runtimePods'), () => reconcile.trigger());
    ctx.setInterval(() => reconcile.trigger(), ctx.deps.periodMs ?? 60_000);
    ctx.setInspect(() => ({
      cgroupsPerQos: perQos,
      driver: manager.settings.driver,
      cgroupRoot: manager.settings.cgroupRoot,
      layout,
      nodeReady,
      tiers,
      removed,
      lastError,
      oomScoreAdjRefused: oomRefused || undefined,
    }));
  },
};
