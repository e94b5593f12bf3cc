/**
 * The pod and QoS cgroups on the node (upstream podContainerManagerImpl, qosContainerManagerImpl
 * and the node allocatable cgroup), as a plain class: the daemon builds one, hands it to the
 * containerManager actor (QoS tiers, node allocatable, orphan cleanup) and to the runtime as its
 * `podCgroups` port (EnsureExists before the sandbox, as upstream's syncPod does).
 */
import { errText } from '../../kernel/log.ts';
import {
  cgroupPath,
  kubepodsCgroup,
  podCgroup,
  podCgroupParent,
  qosCgroup,
  type CgroupName,
  type CgroupSettings,
} from '../../protocols/kube/cgroups.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { containerOomScoreAdjust } from '../../protocols/kube/qos.ts';
import type { CgroupFs } from './adapters.ts';
import {
  allCgroupDirs,
  cgroupDirs,
  cgroupWrites,
  detectCgroupLayout,
  listingDir,
  podUidOfCgroup,
  resourceConfigForPod,
  subtreeControlWrites,
  type CgroupLayout,
  type PodCgroupOptions,
  type ResourceConfig,
} from './logic.ts';

export interface PodCgroupManagerOptions {
  fs: CgroupFs;
  settings: CgroupSettings;
  pod: PodCgroupOptions;
  /** Node memory capacity (bytes), for the Burstable oom_score_adj. */
  memoryCapacity: number;
}

/** A pod cgroup found on the node. */
export interface FoundPodCgroup {
  uid: string;
  /** The driver's literal path (`/kubepods/besteffort/pod<uid>`). */
  path: string;
}

export class PodCgroupManager {
  readonly settings: CgroupSettings;
  readonly memoryCapacity: number;
  readonly #fs: CgroupFs;
  readonly #pod: PodCgroupOptions;
  #layout: Promise<CgroupLayout> | undefined;
  /** Pod uids whose cgroup this kubelet made or found (Exists, without a stat on every sync). */
  readonly #known = new Set<string>();

  constructor(o: PodCgroupManagerOptions) {
    this.#fs = o.fs;
    this.settings = o.settings;
    this.#pod = o.pod;
    this.memoryCapacity = o.memoryCapacity;
  }

  /** The detected layout (read once; a failed read is tried again next time). */
  layout(): Promise<CgroupLayout> {
    this.#layout ??= this.#fs
      .readMountinfo()
      .then(detectCgroupLayout)
      .catch((e: unknown) => {
        this.#layout = undefined;
        throw new Error(`cgroups: ${errText(e)}`);
      });
    return this.#layout;
  }

  path(name: CgroupName): string {
    return cgroupPath(name, this.settings.driver);
  }

  /** RunPodSandbox's cgroup_parent for the pod (runtime port). */
  parent(pod: Pod): string | undefined {
    return podCgroupParent(pod, this.settings);
  }

  /** Creates cgroup `name` in every hierarchy and writes `config` (v2: controllers enabled down to it). */
  async apply(name: CgroupName, config: ResourceConfig, create = true): Promise<void> {
    const layout = await this.layout();
    const path = this.path(name);
    if (create) {
      if (layout.version === 2) {
        const available = ((await this.#fs.read(`${layout.root}/cgroup.controllers`)) ?? '').trim().split(/\s+/);
        for (const w of subtreeControlWrites(layout, path, available)) {
          await this.#fs.mkdir(w.file.slice(0, w.file.lastIndexOf('/')));
          await this.#fs.write(w.file, w.value);
        }
      }
      for (const dir of cgroupDirs(layout, path)) await this.#fs.mkdir(dir);
    }
    for (const w of cgroupWrites(layout, path, config)) {
      try {
        await this.#fs.write(w.file, w.value);
      } catch (e) {
        throw new Error(`cgroup ${path}: writing ${w.value} to ${w.file}: ${errText(e)}`);
      }
    }
  }

  /** upstream pcm.EnsureExists: the pod's cgroup with ResourceConfigForPod, made once. No-op without cgroupsPerQOS. */
  async ensure(pod: Pod): Promise<void> {
    if (!this.settings.cgroupsPerQos || this.#known.has(pod.metadata.uid)) return;
    const name = podCgroup(pod, this.settings);
    const layout = await this.layout();
    const exists = (await this.#fs.subdirs(listingDir(layout, this.path(name.slice(0, -1))))).includes(
      this.path(name).split('/').pop()!,
    );
    if (!exists) await this.apply(name, resourceConfigForPod(pod, this.#pod));
    this.#known.add(pod.metadata.uid);
  }

  /** The pod cgroups under kubepods and its tiers. */
  async podCgroups(): Promise<FoundPodCgroup[]> {
    const layout = await this.layout();
    const out: FoundPodCgroup[] = [];
    for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as const) {
      const parent = this.path(qosCgroup(this.settings, qos));
      // in every hierarchy: a removal stopped half-way is found again
      const names = new Set<string>();
      for (const dir of allCgroupDirs(layout, parent)) for (const d of await this.#fs.subdirs(dir)) names.add(d);
      for (const d of [...names].sort()) {
        const uid = podUidOfCgroup(d);
        if (uid !== undefined) out.push({ uid, path: `${parent}/${d}` });
      }
    }
    return out;
  }

  /**
   * Removes a pod cgroup in every hierarchy, children first. A cgroup that still holds processes
   * is left (EBUSY): the error names it, and the next cleanup tries again.
   */
  async remove(c: FoundPodCgroup): Promise<void> {
    const layout = await this.layout();
    const walk = async (dir: string): Promise<void> => {
      for (const d of await this.#fs.subdirs(dir)) await walk(`${dir}/${d}`);
      await this.#fs.rmdir(dir);
    };
    // nothing is removed while a process is left in any hierarchy
    const dirs = allCgroupDirs(layout, c.path);
    for (const dir of dirs) {
      const left = await this.#pidsUnder(dir);
      if (left.length)
        throw new Error(
          `pod cgroup ${c.path} of pod ${c.uid}: ${left.length} process(es) left in ${dir} (pid ${left.slice(0, 5).join(', ')})`,
        );
    }
    for (const dir of dirs) {
      try {
        await walk(dir);
      } catch (e) {
        throw new Error(`pod cgroup ${c.path} of pod ${c.uid}: ${errText(e)}`);
      }
    }
    this.#known.delete(c.uid);
  }

  /** The pids in a cgroup and its children (the memory hierarchy on v1). */
  async pids(path: string): Promise<number[]> {
    return this.#pidsUnder(listingDir(await this.layout(), path));
  }

  async #pidsUnder(dir: string): Promise<number[]> {
    const out: number[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const l of ((await this.#fs.read(`${d}/cgroup.procs`)) ?? '').split('\n')) if (l.trim()) out.push(Number(l));
      for (const sub of await this.#fs.subdirs(d)) await walk(`${d}/${sub}`);
    };
    await walk(dir);
    return out;
  }

  /** A process's oom_score_adj; undefined when it is gone. */
  async oomScoreAdj(pid: number): Promise<number | undefined> {
    const v = await this.#fs.read(`/proc/${pid}/oom_score_adj`);
    return v === undefined ? undefined : Number(v.trim());
  }

  /** The lowest oom_score_adj the pod's containers are given (upstream GetContainerOOMScoreAdjust). */
  wantedOomScoreAdj(pod: Pod): number | undefined {
    const adj = pod.spec.containers
      .map((c) => containerOomScoreAdjust(pod, c, this.memoryCapacity))
      .filter((a) => a !== undefined);
    return adj.length ? Math.min(...adj) : undefined;
  }

  kubepods(): CgroupName {
    return kubepodsCgroup(this.settings);
  }
}
