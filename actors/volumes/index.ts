/**
 * volumeManager: upstream pkg/kubelet/volumemanager as an actor. The desired state of world comes
 * from the `desiredPods` and `podWorkerStates` views, the actual state of world is what it set up
 * on the node (and, after a restart, the pod directories it finds there); the pure `reconcile`
 * (reconciler.ts) says what to do, one operation at a time through the volume plugins
 * (plugins/index.ts). It publishes the `podVolumes` view, which the runtime waits on before it
 * creates a pod's containers and reads the host paths to bind from.
 *
 * A failed setUp is a state, not a crash: the volume shows `failed` with upstream's message, one
 * Warning `FailedMount` event "MountVolume.SetUp failed for volume "v" : <cause>" per distinct
 * cause, and a retry after upstream's exponential backoff. A pod directory goes once the pod is
 * gone (its volumes unmounted and removed first, tmpfs included; nothing is removed across a mount
 * point or through a symlink); orphaned directories found at start wait for the pod sources to be
 * ready and for the runtime to run nothing of that pod (upstream cleanupOrphanedPodDirs).
 */
import { channels, defaultPolicy, serial, type ActorSpec } from '../../kernel/actor.ts';
import { errText } from '../../kernel/log.ts';
import type { ConfigDataPort } from '../../protocols/kube/config-data.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { EventReason, podRef, recordEvent } from '../../protocols/messages/events.ts';
import type { PodSource } from '../../protocols/messages/channels.ts';
import type { VolumeFs } from './adapters.ts';
import { findPlugin, volumeDir, volumePlugins, type VolumeHost, type VolumePlugin } from './plugins/index.ts';
import {
  backoffMs,
  desiredStateOfWorld,
  nextWakeAt,
  podVolumesView,
  reconcile,
  type ActualVolume,
  type VolumeOp,
} from './reconciler.ts';

export interface VolumeManagerDeps {
  rootDir: string;
  fs: VolumeFs;
  /** The pod sources whose first listing makes a directory of no desired pod an orphan. */
  sources: readonly PodSource[];
  nodeAllocatableMemoryBytes?: number;
  /** Default volumePlugins(remountPeriodMs): emptyDir, hostPath, configMap, secret, downwardAPI, projected. */
  plugins?: readonly VolumePlugin[];
  /**
   * How often a mounted data volume is set up again (its objects read and the files rewritten
   * when they changed); default upstream's sync period, 1 min.
   */
  remountPeriodMs?: number;
  /**
   * The ConfigMaps, Secrets and tokens of data volumes; each pod with such a volume is registered
   * with it before its first read (the runtime unregisters it once the pod is removed).
   */
  configData?: ConfigDataPort;
}

/** A failed teardown or pod directory cleanup is tried again after this. */
const RETRY_MS = 2000;

const io = channels({
  produces: ['events'],
  reads: ['desiredPods', 'podWorkerStates', 'readySources', 'runtimePods'],
  writes: ['podVolumes'],
});

export const volumeManager: ActorSpec<VolumeManagerDeps, typeof io> = {
  ...defaultPolicy,
  id: 'volumeManager',
  dependsOn: ['podManager'],
  channels: io,
  start(ctx) {
    const { rootDir, fs, configData } = ctx.deps;
    const plugins = ctx.deps.plugins ?? volumePlugins(ctx.deps.remountPeriodMs);
    const host: VolumeHost = {
      rootDir,
      fs,
      nodeAllocatableMemoryBytes: ctx.deps.nodeAllocatableMemoryBytes,
      configData,
    };
    const registered = new Set<string>(); // pod UIDs registered with configData
    const actual = new Map<string, ActualVolume>();
    const podDirs = new Set<string>();
    const reported = new Map<string, string>(); // key → the FailedMount cause last recorded
    let scanned = false;
    let wakeAt: number | undefined;
    let published = '';
    const podDir = (uid: string) => `${rootDir}/pods/${uid}`;

    const sourcesReady = () => {
      const ready = ctx.bus.current('readySources');
      return ctx.deps.sources.every((s) => ready?.has(s));
    };

    const publish = () => {
      const view = podVolumesView(ctx.bus.current('desiredPods'), actual, (v) => findPlugin(plugins, v)?.name, podDir);
      // (only when it changed: the loop runs on every change of the views it reads)
      const signature = JSON.stringify([...view]);
      if (signature === published) return;
      published = signature;
      ctx.bus.publish('podVolumes', view);
    };

    async function setUp(key: string, pod: Pod, volumeName: string): Promise<void> {
      const volume = (pod.spec.volumes ?? []).find((v) => v.name === volumeName)!;
      const plugin = findPlugin(plugins, volume)!;
      const uid = pod.metadata.uid;
      const dir = volumeDir(rootDir, uid, plugin.name, volume.name);
      const prev = actual.get(key);
      podDirs.add(uid);
      if (configData && plugin.remountPeriodMs !== undefined && !registered.has(uid)) {
        // upstream: the managers watch what a registered pod references, and refuse other reads
        configData.registerPod(pod);
        registered.add(uid);
      }
      try {
        const m = await plugin.setUp({ pod, volume, dir }, host);
        actual.set(key, {
          key,
          uid,
          name: volume.name,
          plugin: plugin.name,
          specKey: JSON.stringify(volume),
          pod,
          volume,
          failures: 0,
          setUpAt: ctx.clock.now(),
          view: { name: volume.name, plugin: plugin.name, state: 'mounted', ...m },
        });
        reported.delete(key);
        if (prev?.view.state !== 'mounted')
          ctx.log.info(
            'volume set up',
            {
              pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
              volume: volume.name,
              plugin: plugin.name,
              path: m.path,
            },
            2,
          );
      } catch (e) {
        const cause = errText(e);
        const failures = (prev?.view.state === 'failed' ? prev.failures : 0) + 1;
        // a remount (a data volume's refresh) that fails leaves the volume mounted as it was:
        // containers keep what they have, the next period tries again
        const remount = prev?.view.state === 'mounted' && prev.specKey === JSON.stringify(volume);
        if (remount && prev) actual.set(key, { ...prev, setUpAt: ctx.clock.now() });
        else
          actual.set(key, {
            key,
            uid,
            name: volume.name,
            plugin: plugin.name,
            specKey: JSON.stringify(volume),
            pod,
            volume,
            failures,
            retryAt: ctx.clock.now() + backoffMs(failures),
            view: { name: volume.name, plugin: plugin.name, state: 'failed', error: cause },
          });
        if (reported.get(key) !== cause) {
          reported.set(key, cause);
          const message = `MountVolume.SetUp failed for volume ${JSON.stringify(volume.name)} : ${cause}`;
          ctx.log.warn('volume setup failed', {
            pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
            volume: volume.name,
            error: cause,
          });
          ctx.bus.send('events', recordEvent(podRef(pod), 'Warning', EventReason.FailedMountVolume, message));
        }
      }
    }

    async function tearDown(a: ActualVolume): Promise<void> {
      const plugin = plugins.find((p) => p.name === a.plugin);
      const dir = volumeDir(rootDir, a.uid, a.plugin, a.name);
      // upstream CleanSubPaths first: the containers' subPath binds into this volume
      const subPaths = `${podDir(a.uid)}/volume-subpaths/${a.name}`;
      await fs.unmountAll(subPaths);
      await fs.removeAll(subPaths);
      await plugin?.tearDown({ pod: a.pod, volume: a.volume, dir }, host);
      await fs.unmountAll(dir);
      await fs.removeAll(dir);
      actual.delete(a.key);
      reported.delete(a.key);
      ctx.log.info('volume torn down', { uid: a.uid, volume: a.name, plugin: a.plugin }, 2);
    }

    async function cleanupPodDir(uid: string): Promise<void> {
      const dir = podDir(uid);
      const unmounted = await fs.unmountAll(dir);
      await fs.removeAll(dir);
      podDirs.delete(uid);
      registered.delete(uid);
      ctx.log.info('pod directory removed', { uid, dir, unmounted: unmounted.length > 0 ? unmounted : undefined }, 2);
    }

    async function apply(op: VolumeOp): Promise<void> {
      if (op.type === 'cleanupPodDir') return cleanupPodDir(op.uid);
      if (op.type === 'tearDown') return tearDown(actual.get(op.key)!);
      const [uid, name] = [op.key.slice(0, op.key.indexOf('/')), op.key.slice(op.key.indexOf('/') + 1)];
      const pod = ctx.bus.current('desiredPods')?.get(uid)?.pod;
      if (pod) await setUp(op.key, pod, name);
    }

    const loop = serial(
      ctx,
      async () => {
        if (!scanned && sourcesReady()) {
          // after a restart: the directories earlier kubelets left (orphans once no pod wants them)
          for (const uid of await fs.listPodDirs()) podDirs.add(uid);
          scanned = true;
        }
        const workers = ctx.bus.current('podWorkerStates');
        const pods = ctx.bus.current('desiredPods');
        const pluginFor = (v: Parameters<typeof findPlugin>[1]) => findPlugin(plugins, v);
        const running = new Set(ctx.bus.current('runtimePods')?.keys() ?? []);
        for (;;) {
          const desired = desiredStateOfWorld(pods, workers, pluginFor);
          const ops = reconcile({
            desired,
            actual,
            podDirs,
            pods,
            workers,
            running,
            sourcesReady: scanned,
            now: ctx.clock.now(),
          });
          // (a failed cleanup is retried on the next trigger, not in a loop here)
          const op = ops[0];
          if (!op) {
            publish();
            const at = nextWakeAt(desired, actual);
            if (at !== undefined && at !== wakeAt) {
              wakeAt = at;
              ctx.setTimeout(
                () => {
                  if (wakeAt === at) wakeAt = undefined;
                  loop.trigger();
                },
                Math.max(0, at - ctx.clock.now()),
              );
            }
            break;
          }
          try {
            await apply(op);
          } finally {
            publish();
          }
        }
      },
      {
        onError: (e) => {
          // a teardown or a cleanup that failed (a busy mount): tried again in a while
          ctx.log.warn('volume reconcile failed', { error: errText(e), retryInMs: RETRY_MS });
          ctx.setTimeout(() => loop.trigger(), RETRY_MS);
        },
      },
    );

    publish();
    ctx.on(ctx.bus.view('desiredPods'), () => loop.trigger());
    ctx.on(ctx.bus.view('podWorkerStates'), () => loop.trigger());
    ctx.on(ctx.bus.view('readySources'), () => loop.trigger());
    ctx.on(ctx.bus.view('runtimePods'), () => loop.trigger());

    ctx.setInspect(() => ({
      volumes: [...actual.values()].map((a) => ({
        key: a.key,
        ...a.view,
        failures: a.failures || undefined,
        retryAt: a.retryAt,
      })),
      podDirs: [...podDirs],
      orphanScanDone: scanned,
    }));
  },
};
