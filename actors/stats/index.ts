/**
 * stats (upstream pkg/kubelet/stats: the CRI stats provider and the summary provider, with
 * cAdvisor's node figures read here): every housekeeping period (10 s) one sample of
 *   node   cpu (root cgroup's cpuacct.usage on v1, /proc/stat on v2), memory (root cgroup's
 *          usage − total_inactive_file on v1, /proc/meminfo on v2; available = capacity −
 *          working set), fs (statfs of --root-dir), runtime.imageFs (the CRI's ImageFsInfo mount
 *          point: statfs, and the CRI's own used bytes), rlimit (pid_max, the task count);
 *   pods   from ListPodSandboxStats where the runtime has it; when it answers Unimplemented
 *          (or fails this once), as upstream's CRI provider with cAdvisor, the pod cgroup is read
 *          and, without one, the containers summed; containers from ListContainerStats (cpu,
 *          memory working set, writable layer), their logs (du of the pod log directory) and
 *          the pod's emptyDir volumes (du of <root-dir>/pods/<uid>/volumes/kubernetes.io~empty-dir)
 *          making up ephemeral-storage.
 * usageNanoCores, where the runtime gives none, comes from this sample and the cached previous
 * one (upstream getAndUpdateContainerUsageNanoCores). The Summary is published as the
 * `nodeStats` view; a failed read leaves its figure out and names itself in `errors`; a failed
 * CRI listing keeps the previous view and is tried again next period.
 */
import { channels, defaultPolicy, serial, type ActorSpec } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import { CriError } from '../../protocols/cri/errors.ts';
import {
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
} from '../../protocols/cri/labels.ts';
import type {
  ContainerStats as CriContainerStats,
  CriStats,
  ImageService,
  PodSandboxStats,
  RuntimeService,
} from '../../protocols/cri/types.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type {
  ContainerStats,
  FsStats,
  NodeStatsView,
  PodStats,
  Summary,
  VolumeStats,
} from '../../protocols/messages/stats.ts';
import type { StatsFs } from './adapters.ts';
import {
  cgroupStatFiles,
  cgroupUsage,
  cpuStats,
  dirFsStats,
  fsStats,
  meminfoUsage,
  memoryStats,
  procStatCpuNs,
  sumFs,
  taskCount,
  usageNanoCores,
  type CgroupUsage,
  type CpuSample,
  type StatsCgroupLayout,
} from './logic.ts';

export interface StatsDeps {
  cri: CriStats & Pick<RuntimeService, 'listPodSandbox' | 'listContainers'>;
  images: Pick<ImageService, 'imageFsInfo'>;
  fs: StatsFs;
  /** The detected cgroup layout and a pod's cgroup path (the containerManager's); undefined: node figures from /proc, pods summed from containers. */
  cgroups?: { layout(): Promise<StatsCgroupLayout>; podCgroup(pod: Pod): string | undefined };
  nodeName: string;
  rootDir: string;
  podLogsDir: string;
  /** upstream's housekeeping period: 10 s. */
  periodMs?: number;
  /** /proc (specs: a fake tree's). */
  procDir?: string;
}

export const STATS_PERIOD_MS = 10_000;

const io = channels({ reads: ['desiredPods'], writes: ['nodeStats'] });

const iso = (ms: number) => new Date(ms).toISOString();
const w = (v: { value: number } | null | undefined) => v?.value;

export const stats: ActorSpec<StatsDeps, typeof io> = {
  ...defaultPolicy,
  id: 'stats',
  dependsOn: ['runtime'],
  channels: io,
  start(ctx) {
    const { cri, fs, nodeName } = ctx.deps;
    const proc = ctx.deps.procDir ?? '/proc';
    const startTime = iso(ctx.clock.now());
    let cpuCache = new Map<string, CpuSample>();
    let sandboxStatsSupported = true;
    let lastError = '';
    let samples = 0;

    const sample = async () => {
      const now = ctx.clock.now();
      const time = iso(now);
      const errors: string[] = [];
      const nextCache = new Map<string, CpuSample>();
      const rate = (key: string, ns: number | undefined): number | undefined => {
        if (ns === undefined) return undefined;
        const cur = { atMs: now, usageCoreNanoSeconds: ns };
        nextCache.set(key, cur);
        return usageNanoCores(cpuCache.get(key), cur);
      };
      const tryRead = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
        try {
          return await f();
        } catch (e) {
          errors.push(`${what}: ${errText(e)}`);
          return undefined;
        }
      };
      const layout = ctx.deps.cgroups ? await tryRead('cgroup layout', () => ctx.deps.cgroups!.layout()) : undefined;
      const readCgroup = async (path: string): Promise<CgroupUsage> => {
        const f = cgroupStatFiles(layout!, path);
        const [cpu, memoryUsage, memoryStat] = await Promise.all([
          fs.read(f.cpu),
          fs.read(f.memoryUsage),
          fs.read(f.memoryStat),
        ]);
        return cgroupUsage(layout!.version, { cpu, memoryUsage, memoryStat });
      };

      const [sandboxes, containers, cstats] = await Promise.all([
        cri.listPodSandbox(),
        cri.listContainers(),
        cri.listContainerStats(),
      ]);
      let sbStats: PodSandboxStats[] = [];
      if (sandboxStatsSupported) {
        try {
          sbStats = await cri.listPodSandboxStats();
        } catch (e) {
          // Unimplemented (a runtime without it): for good; another failure: this sample only
          if (e instanceof CriError && e.kind === 'Unimplemented') {
            sandboxStatsSupported = false;
            ctx.log.info(
              'the runtime has no ListPodSandboxStats: pod stats from the pod cgroups and their containers',
              {},
              2,
            );
          } else {
            errors.push(`ListPodSandboxStats: ${errText(e)} (pod stats from the pod cgroups this time)`);
          }
        }
      }

      // ---- node
      const meminfo = await tryRead('/proc/meminfo', async () =>
        meminfoUsage((await fs.read(`${proc}/meminfo`)) ?? ''),
      );
      let nodeUsage: CgroupUsage = {};
      if (layout?.version === 1) {
        nodeUsage = (await tryRead('root cgroup', () => readCgroup(''))) ?? {};
      } else {
        const ps = await tryRead('/proc/stat', async () => (await fs.read(`${proc}/stat`)) ?? '');
        nodeUsage = { ...meminfo, usageCoreNanoSeconds: ps ? procStatCpuNs(ps) : undefined };
      }
      const rootFs = await tryRead(`statfs ${ctx.deps.rootDir}`, () => fs.statfs(ctx.deps.rootDir));
      const imageFsInfo = (await tryRead('ImageFsInfo', () => ctx.deps.images.imageFsInfo()))?.[0];
      const imageMount = imageFsInfo?.fsId?.mountpoint;
      const imageStatfs = imageMount ? await tryRead(`statfs ${imageMount}`, () => fs.statfs(imageMount)) : undefined;
      const imageFs = imageStatfs
        ? fsStats(time, imageStatfs, w(imageFsInfo?.usedBytes), w(imageFsInfo?.inodesUsed))
        : undefined;
      const [pidMax, loadavg] = await Promise.all([fs.read(`${proc}/sys/kernel/pid_max`), fs.read(`${proc}/loadavg`)]);

      // ---- pods
      const desired = ctx.bus.current('desiredPods');
      const byId = new Map(cstats.map((s) => [s.attributes.id, s]));
      const sbById = new Map(sbStats.map((s) => [s.attributes.id, s]));
      const pods: PodStats[] = [];
      const ready = sandboxes.filter((s) => s.state === 'SANDBOX_READY');
      // one sandbox per pod: the newest (upstream removeTerminatedPods keeps the latest)
      const latest = new Map<string, (typeof ready)[number]>();
      for (const s of ready) {
        const uid = s.labels[LABEL_POD_UID] ?? s.metadata.uid;
        const seen = latest.get(uid);
        if (!seen || seen.createdAt < s.createdAt) latest.set(uid, s);
      }
      for (const [uid, sb] of latest) {
        const name = sb.labels[LABEL_POD_NAME] ?? sb.metadata.name;
        const namespace = sb.labels[LABEL_POD_NAMESPACE] ?? sb.metadata.namespace;
        const pod = desired?.get(uid)?.pod;
        const podLogDir = `${ctx.deps.podLogsDir}/${namespace}_${name}_${uid}`;
        const cs: ContainerStats[] = [];
        const sum = { cpu: 0, ws: 0, usage: 0, rss: 0, any: false };
        const rootfsParts: (FsStats | undefined)[] = [];
        for (const c of containers) {
          if (c.podSandboxId !== sb.id || c.state !== 'CONTAINER_RUNNING') continue;
          const st: CriContainerStats | undefined = byId.get(c.id);
          const cname = c.labels[LABEL_CONTAINER_NAME] ?? c.metadata.name;
          const coreNs = w(st?.cpu?.usageCoreNanoSeconds);
          const nano = w(st?.cpu?.usageNanoCores) ?? rate(`c:${c.id}`, coreNs);
          if (w(st?.cpu?.usageNanoCores) !== undefined && coreNs !== undefined)
            nextCache.set(`c:${c.id}`, { atMs: now, usageCoreNanoSeconds: coreNs });
          const mem = st?.memory;
          const rootfs = st?.writableLayer
            ? dirFsStats(time, imageStatfs, {
                bytes: w(st.writableLayer.usedBytes) ?? 0,
                inodes: w(st.writableLayer.inodesUsed) ?? 0,
              })
            : undefined;
          const logs = dirFsStats(
            time,
            rootFs,
            await tryRead(`logs of ${namespace}/${name}/${cname}`, () => fs.du(`${podLogDir}/${cname}`)),
          );
          rootfsParts.push(rootfs, logs);
          if (coreNs !== undefined) sum.cpu += coreNs;
          if (w(mem?.workingSetBytes) !== undefined) {
            sum.any = true;
            sum.ws += w(mem?.workingSetBytes)!;
            sum.usage += w(mem?.usageBytes) ?? 0;
            sum.rss += w(mem?.rssBytes) ?? 0;
          }
          cs.push({
            name: cname,
            startTime: iso(c.createdAt / 1e6),
            cpu: cpuStats(time, coreNs, nano),
            memory: mem
              ? {
                  time,
                  availableBytes: w(mem.availableBytes),
                  usageBytes: w(mem.usageBytes),
                  workingSetBytes: w(mem.workingSetBytes),
                  rssBytes: w(mem.rssBytes),
                  pageFaults: w(mem.pageFaults),
                  majorPageFaults: w(mem.majorPageFaults),
                }
              : undefined,
            rootfs,
            logs,
          });
        }
        cs.sort((a, b) => a.name.localeCompare(b.name));

        const psb = sbById.get(sb.id)?.linux;
        let podUsage: CgroupUsage | undefined;
        if (psb?.cpu || psb?.memory) {
          podUsage = {
            usageCoreNanoSeconds: w(psb.cpu?.usageCoreNanoSeconds),
            usageBytes: w(psb.memory?.usageBytes),
            workingSetBytes: w(psb.memory?.workingSetBytes),
            rssBytes: w(psb.memory?.rssBytes),
          };
        } else {
          const path = pod && layout ? ctx.deps.cgroups!.podCgroup(pod) : undefined;
          if (path) podUsage = await tryRead(`pod ${namespace}/${name}: cgroup ${path}`, () => readCgroup(path));
          if (!podUsage || podUsage.usageCoreNanoSeconds === undefined) {
            podUsage = cs.length
              ? {
                  usageCoreNanoSeconds: sum.cpu,
                  ...(sum.any ? { usageBytes: sum.usage, workingSetBytes: sum.ws, rssBytes: sum.rss } : {}),
                }
              : undefined;
          }
        }

        // emptyDir volumes (Memory ones are tmpfs: memory, not ephemeral storage)
        const edDir = `${ctx.deps.rootDir}/pods/${uid}/volumes/kubernetes.io~empty-dir`;
        const volume: VolumeStats[] = [];
        const ephemeral: (FsStats | undefined)[] = [...rootfsParts];
        for (const v of (await tryRead(`pod ${namespace}/${name}: emptyDir volumes`, () => fs.list(edDir))) ?? []) {
          const used = await tryRead(`pod ${namespace}/${name}: emptyDir ${v}`, () => fs.du(`${edDir}/${v}`));
          const vs: VolumeStats = { name: v, ...dirFsStats(time, rootFs, used) };
          volume.push(vs);
          const medium = pod?.spec.volumes?.find((x) => x.name === v)?.emptyDir?.medium;
          if (medium !== 'Memory') ephemeral.push(vs);
        }
        const net = psb?.network?.defaultInterface;
        pods.push({
          podRef: { name, namespace, uid },
          startTime: iso(sb.createdAt / 1e6),
          containers: cs,
          cpu: podUsage
            ? cpuStats(
                time,
                podUsage.usageCoreNanoSeconds,
                w(psb?.cpu?.usageNanoCores) ?? rate(`p:${uid}`, podUsage.usageCoreNanoSeconds),
              )
            : undefined,
          memory: podUsage ? memoryStats(time, podUsage) : undefined,
          network: net
            ? {
                time,
                name: net.name,
                rxBytes: w(net.rxBytes),
                rxErrors: w(net.rxErrors),
                txBytes: w(net.txBytes),
                txErrors: w(net.txErrors),
              }
            : undefined,
          volume: volume.length ? volume : undefined,
          'ephemeral-storage': sumFs(time, ephemeral, rootFs),
          process_stats: psb?.process ? { process_count: w(psb.process.processCount) } : undefined,
        });
      }
      pods.sort((a, b) =>
        `${a.podRef.namespace}/${a.podRef.name}`.localeCompare(`${b.podRef.namespace}/${b.podRef.name}`),
      );

      const summary: Summary = {
        node: {
          nodeName,
          startTime,
          cpu: cpuStats(time, nodeUsage.usageCoreNanoSeconds, rate('node', nodeUsage.usageCoreNanoSeconds)),
          memory: memoryStats(time, nodeUsage, meminfo?.capacityBytes),
          fs: rootFs ? fsStats(time, rootFs) : undefined,
          runtime: imageFs ? { imageFs, containerFs: imageFs } : undefined,
          rlimit: {
            time,
            maxpid: pidMax && /^\d+/.test(pidMax.trim()) ? Number(pidMax.trim()) : undefined,
            curproc: loadavg ? taskCount(loadavg) : undefined,
          },
        },
        pods,
      };
      cpuCache = nextCache;
      samples++;
      const view: NodeStatsView = { summary, sampledAt: now, errors };
      ctx.bus.publish('nodeStats', view);
    };

    const run = serial(
      ctx,
      async () => {
        await sample();
        if (lastError) ctx.log.info('stats: sampling works again');
        lastError = '';
      },
      {
        onError: (e) => {
          const msg = errText(e);
          if (msg !== lastError)
            ctx.log.warn('stats: sampling failed, the previous sample stays; trying again next period', { error: msg });
          lastError = msg;
        },
      },
    );
    run.trigger();
    ctx.setInterval(() => run.trigger(), ctx.deps.periodMs ?? STATS_PERIOD_MS);
    ctx.setInspect(() => ({
      samples,
      lastError,
      sandboxStatsSupported,
      errors: ctx.bus.current('nodeStats')?.errors,
    }));
  },
};
