/**
 * Assembles kubelet-ts: one bus, one clock, the actors bound to their ports, and the root
 * supervisor. The daemon (main.ts) and the in-process integration specs both build it here, so
 * what the specs run is what the daemon runs.
 */
import './channels.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { child, type ChildSpec } from '../kernel/actor.ts';
import { Bus } from '../kernel/bus.ts';
import type { Clock } from '../kernel/clock.ts';
import { startDebugSocket, type DebugSocket } from '../kernel/debug-socket.ts';
import type { Logger } from '../kernel/log.ts';
import { createRecorder } from '../kernel/recorder.ts';
import { Supervisor } from '../kernel/supervisor.ts';
import { syncLoop } from '../kernel/sync-loop.ts';
import { createCriClient } from '../adapters/cri/client.ts';
import type { KubeApi } from '../protocols/kube/api.ts';
import { newSysctlAllowlist } from '../protocols/kube/security.ts';
import { createKubeApi, KUBELET_VERSION, KUBERNETES_VERSION, type KubeClient } from '../adapters/kube/client.ts';
import { createConfigData } from '../adapters/kube/config-data.ts';
import type { ConfigDataPort } from '../protocols/kube/config-data.ts';
import type { CriRuntime, CriStats, CriStreaming } from '../protocols/cri/types.ts';
import { events } from '../actors/events/index.ts';
import type { CgroupFs } from '../actors/container-manager/adapters.ts';
import { containerManager } from '../actors/container-manager/index.ts';
import { PodCgroupManager } from '../actors/container-manager/manager.ts';
import type { ImageFsStats } from '../actors/image-gc/adapters.ts';
import { imageGC } from '../actors/image-gc/index.ts';
import type { StatsFs } from '../actors/stats/adapters.ts';
import { stats } from '../actors/stats/index.ts';
import { podCgroupParent, type CgroupSettings } from '../protocols/kube/cgroups.ts';
import type { Pod } from '../protocols/kube/pod.ts';
import { containerGC } from '../actors/gc/index.ts';
import { nodePodLogFs, type PodLogFs } from '../actors/gc/adapters.ts';
import { images } from '../actors/images/index.ts';
import { mirrorPods } from '../actors/mirror-pods/index.ts';
import { nodeLease } from '../actors/node-lease/index.ts';
import { hostInfo } from '../actors/node-status/adapters.ts';
import { nodeStatus } from '../actors/node-status/index.ts';
import { ImageManager } from '../actors/images/manager.ts';
import { pleg } from '../actors/pleg/index.ts';
import { nodeStaticPodFs, type StaticPodFs } from '../actors/pod-config/adapters.ts';
import { podConfig } from '../actors/pod-config/index.ts';
import { podManager } from '../actors/pod-manager/index.ts';
import { httpManifestFetcher, type ManifestFetcher } from '../actors/pod-source-http/adapters.ts';
import { podSourceHttp } from '../actors/pod-source-http/index.ts';
import { podSourceApi } from '../actors/pod-source-api/index.ts';
import { podWorkers } from '../actors/pod-workers/index.ts';
import { podWorkerMachine } from '../actors/pod-workers/machine.ts';
import { probeRunner, type ProbeRunner } from '../actors/probes/adapters.ts';
import { lifecycleRunner, type LifecycleRunner } from '../adapters/handlers/lifecycle.ts';
import { probes } from '../actors/probes/index.ts';
import { nodePodNetworkFiles, type PodNetworkFiles } from '../actors/runtime/adapters.ts';
import { runtime } from '../actors/runtime/index.ts';
import { server, type SecureServer } from '../actors/server/index.ts';
import { certificateManager } from '../actors/certificates/index.ts';
import { clientCertRotation, servingCertRotation } from '../adapters/kube/bootstrap.ts';
import { systemdNotify, type SystemdNotifyDeps } from '../actors/systemd-notify/index.ts';
import { nodeShutdown, type LogindPort } from '../actors/node-shutdown/index.ts';
import { inertVolumeFs, nodeVolumeFs, VOLUME_FS_METHODS, type VolumeFs } from '../actors/volumes/adapters.ts';
import { volumeManager } from '../actors/volumes/index.ts';
import { nodeMounter } from '../adapters/volumes/mount.ts';
import { prepareSafeSubpath } from '../adapters/volumes/subpath.ts';
import type { SubPathPort } from '../actors/runtime/index.ts';
import { statusManager } from '../actors/status/index.ts';
import { certDirOf, nodeIps, SANDBOX_IMAGE, type KubeletFlags } from './flags.ts';
import { configzOf } from './config-file.ts';
import { channelsCommand } from './channel-map.ts';
import { podCommand } from './debug-pod.ts';
import { recordRedaction } from './record-redaction.ts';
import type { PodSource } from '../protocols/messages/channels.ts';

export interface KubeletOptions {
  flags: KubeletFlags;
  clock: Clock;
  log: Logger;
  nodeName: string;
  /** Injected by specs (the in-memory fake, a recording runtime); default: the gRPC client. */
  cri?: CriRuntime;
  fs?: StaticPodFs;
  /** --manifest-url's HTTP client; replay injects one that never answers (the recorded inputs stand in). */
  manifestFetcher?: ManifestFetcher;
  /**
   * The probes' effects; null runs no probes actor (replay: the recorded probe results stand in,
   * fed by the caller as the `probeResults` view and `probe` messages).
   */
  prober?: ProbeRunner | null;
  /**
   * The lifecycle hooks' effects, given the kubelet's CRI client (recorded with --record, so exec
   * hooks are CRI calls); replay injects one answering httpGet hooks from the recording.
   */
  hooks?: (cri: CriRuntime) => LifecycleRunner;
  /** For jitter; specs pass a fixed one. */
  random?: () => number;
  onEscalate?: (reason: string) => void;
  /** Extra per-actor overrides (e.g. a faster relist in specs). */
  periods?: {
    plegRelistMs?: number;
    syncTickMs?: number;
    housekeepingMs?: number;
    runtimeStatusMs?: number;
    containerGcMs?: number;
    imageGcMs?: number;
    /** How often mounted data volumes (configMap, secret, downwardAPI, projected) are refreshed; default --sync-frequency. */
    volumeRemountMs?: number;
    statsMs?: number;
  };
  /** containerGC's access to --pod-logs-dir; default the node's file system, none when `fs` is injected. */
  podLogFs?: PodLogFs;
  /** The runtime's resolver file, node /etc/hosts and pod hosts files; default the node's, none when `fs` is injected. */
  networkFiles?: PodNetworkFiles;
  /**
   * The volumeManager's file system and mounts; default the node's under --root-dir, an inert one
   * (no effects) when `fs` is injected. Replay passes one answering from the recording.
   */
  volumeFs?: VolumeFs;
  /** The runtime's subPath binds; default the node's, none when `fs` is injected. */
  subPaths?: SubPathPort;
  /** The node memory a Memory emptyDir without limits gets; default the machine's; replay passes the recorded one. */
  nodeAllocatableMemoryBytes?: number;
  /** How long a sync waits for a pod's volumes (default upstream's 2 min). */
  volumeMountTimeoutMs?: number;
  /** Where the debug socket listens (main.ts: `<rootDir>/kubelet-ts.sock`); none when unset. */
  debugSocketPath?: string;
  /** Injected by specs instead of the clients built from --kubeconfig (implies cluster mode). */
  kubeApi?: KubeApi;
  /**
   * ConfigMaps, Secrets and tokens for the pods (env now, volumes with the volume manager);
   * default: upstream's watch-based managers on the --kubeconfig client; none standalone (a
   * reference to one is then a CreateContainerConfigError), nor with an injected kubeApi unless
   * given. Replay passes one answering from the recording.
   */
  configData?: ConfigDataPort;
  /** The pod sources the syncLoop waits for; replay passes the recorded ones. Default: file with --pod-manifest-path, http with --manifest-url, api in cluster mode. */
  sources?: readonly PodSource[];
  /**
   * Start actors/server (healthz and read-only listeners, per the flags): main.ts does; a replay
   * and specs that do not ask for it listen on nothing (DEFAULT_FLAGS name fixed ports).
   */
  serve?: boolean;
  /** New API pods wait for the `node` view before admission; replay passes the recorded mode. Default: in cluster mode. */
  waitForNode?: boolean;
  /** With shutdownGracePeriod > 0: how nodeShutdown reaches logind (default: the system bus, dbus-next loaded lazily). */
  logind?: () => Promise<LogindPort>;
  /** Under systemd ($NOTIFY_SOCKET): the systemdNotify actor's port (watchdog pings, STATUS=). */
  notifier?: SystemdNotifyDeps['notifier'];
  /** Why the node cannot enforce AppArmor ('' when it can); default: read from the kernel (hostAppArmorError). */
  appArmorHostError?: string;
  /**
   * The node's cgroup trees: with it the containerManager runs (pod and QoS cgroups per the
   * --cgroup-* flags) and the runtime puts sandboxes in their pod cgroups. main.ts passes the
   * node's; a kubelet without it leaves cgroups to the runtime's defaults.
   */
  cgroupFs?: CgroupFs;
  /** Replay: the recorded kubelet's cgroup names and node memory (header `podCgroups`), without touching cgroups. */
  recordedCgroups?: RecordedCgroups;
  /** statfs of the image file system: with it imageGC runs (main.ts passes the node's). */
  imageFs?: ImageFsStats;
  /** The node's /proc, statfs and du: with it (and a CRI with stats calls) the stats actor runs (main.ts passes the node's). */
  statsFs?: StatsFs;
  /** The stats calls of an injected `cri` (the real client has them). */
  criStats?: CriStats;
}

/** What a recording's header says about the pod cgroups its runtime named (bin/replay.ts). */
export interface RecordedCgroups {
  settings: CgroupSettings;
  memoryCapacity: number;
}

/** upstream apparmor validateHost: the kernel's own flag says whether AppArmor is enabled. */
function hostAppArmorError(): string | undefined {
  try {
    if (readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim().startsWith('Y')) return undefined;
  } catch {
    // no module: not enabled
  }
  return 'AppArmor is not enabled on the host';
}

export interface Kubelet {
  readonly bus: Bus;
  readonly supervisor: Supervisor;
  readonly cri: CriRuntime;
  /** The API server client (--kubeconfig, qps/burst from the flags); undefined when standalone. */
  readonly kube: KubeApi | undefined;
  start(): Promise<void>;
  /** Stops the actors in reverse order; pods keep running. Idempotent. */
  stop(): Promise<void>;
  /** Resolves once stop() has finished (after a signal or an escalation). */
  readonly stopped: Promise<void>;
}

/** The event channels --record writes: the syncLoop's mailbox inputs and their sources, and the pod workers' traffic. */
export const RECORDED_CHANNELS: readonly string[] = [
  'config',
  'podManager',
  'pleg',
  'probe',
  'syncLoop',
  'podWorker',
  'runtime',
  'runtimeReply',
];
/**
 * Views whose writer does not run in a replay (it talks to the API server) and that the replayed
 * kubelet's decisions depend on: the Node (podManager's admission: allocatable, labels, taints;
 * and its wait for the Node in cluster mode). Recorded when their value changes (format 2).
 */
export const RECORDED_VIEWS: readonly string[] = ['node'];

/** The KubeApi methods that change something on the API server (recorded with --record). */
const API_WRITES: readonly (keyof KubeApi)[] = [
  'createPod',
  'deletePod',
  'patchPodStatus',
  'createNode',
  'patchNodeStatus',
  'patchNode',
  'createLease',
  'updateLease',
  'createEvent',
  'patchEvent',
];

/** The ConfigDataPort reads --record writes with their answers (bin/replay.ts answers them again). */
export const CONFIG_DATA_READS: readonly (keyof ConfigDataPort)[] = [
  'getConfigMap',
  'getSecret',
  'getServiceAccountToken',
];

/** upstream: probes identify as kube-probe/<major>.<minor>. */
export function probeUserAgent(): string {
  const [major, minor] = KUBERNETES_VERSION.replace(/^v/, '').split('.');
  return `kube-probe/${major}.${minor}`;
}

/** The HTTPS port's settings from the flags; the API client answers its reviews. */
function secureServer(
  flags: KubeletFlags,
  kube: KubeApi | undefined,
  cri: CriRuntime,
  streaming: CriStreaming | undefined,
): SecureServer {
  return {
    address: flags.address,
    port: flags.port,
    certFile: flags.tlsCertFile,
    keyFile: flags.tlsPrivateKeyFile,
    certDir: certDirOf(flags),
    clientCaFile: flags.clientCaFile,
    tlsMinVersion: flags.tlsMinVersion,
    tlsCipherSuites: flags.tlsCipherSuites,
    anonymous: flags.anonymousAuth,
    tokenWebhook: flags.authenticationTokenWebhook
      ? { cacheTtlMs: flags.authenticationTokenWebhookCacheTtlMs }
      : undefined,
    authorization: {
      mode: flags.authorizationMode === 'AlwaysAllow' ? 'AlwaysAllow' : 'Webhook',
      allowedTtlMs: flags.authorizationWebhookCacheAuthorizedTtlMs,
      deniedTtlMs: flags.authorizationWebhookCacheUnauthorizedTtlMs,
    },
    reviews: kube,
    logs: { podLogsDir: flags.podLogsDir, containerLogPath: async (id) => (await cri.containerStatus(id)).logPath },
    configz: () => configzOf(flags),
    streaming,
  };
}

export function createKubelet(opts: KubeletOptions): Kubelet {
  const { flags, clock, log, nodeName } = opts;
  const bus = new Bus();
  // upstream NewMainKubelet: a --cluster-dns entry that is not an IP is skipped, with a log line
  const clusterDns = flags.clusterDns.filter((ip) => {
    if (isIP(ip) !== 0) return true;
    log.warn('invalid clusterDNS IP: skipped', { ip, flag: '--cluster-dns' });
    return false;
  });
  const host = hostInfo({ rootDir: flags.rootDir });
  // The pod cgroups: made by containerManager (and before each sandbox through the runtime's
  // port) when the daemon hands in the cgroup trees; a replay only names them as recorded.
  const machine = opts.cgroupFs ? host.machineInfo() : undefined;
  const cgroupSettings: CgroupSettings = {
    driver: flags.cgroupDriver,
    cgroupRoot: flags.cgroupRoot,
    cgroupsPerQos: flags.cgroupsPerQos,
  };
  const podCgroupManager =
    opts.cgroupFs && machine
      ? new PodCgroupManager({
          fs: opts.cgroupFs,
          settings: cgroupSettings,
          pod: { enforceCpuLimits: true, cpuPeriodUs: 100_000 },
          memoryCapacity: machine.memoryCapacityBytes,
        })
      : undefined;
  const recordedCgroups: RecordedCgroups | undefined = podCgroupManager
    ? { settings: cgroupSettings, memoryCapacity: podCgroupManager.memoryCapacity }
    : opts.recordedCgroups;
  const podCgroups =
    podCgroupManager ??
    (recordedCgroups && {
      parent: (pod: Pod) => podCgroupParent(pod, recordedCgroups.settings),
      memoryCapacity: recordedCgroups.memoryCapacity,
    });
  const criClient = opts.cri
    ? undefined
    : createCriClient(flags.containerRuntimeEndpoint, { timeoutMs: flags.runtimeRequestTimeoutMs });
  const rawCri: CriRuntime = opts.cri ?? criClient!;
  // the stats calls stay out of a recording: they decide nothing a replay checks
  const statsCri: CriStats | undefined = criClient ?? opts.criStats;
  // --record: every syncLoop input and every CRI call with its answer, as JSON lines. The file is
  // opened by start() once the debug socket is ours (a daemon refused because another one serves
  // the root dir must not write into that one's recording); what comes before waits in memory.
  // the runtime's resolver file, node /etc/hosts and pod hosts files (none for a kubelet on injected pod sources)
  const filesPort = opts.networkFiles ?? (opts.fs ? undefined : nodePodNetworkFiles(flags.rootDir));
  // the node's memory for a Memory emptyDir without limits (upstream: allocatable; here the capacity)
  const nodeAllocatableMemoryBytes =
    opts.nodeAllocatableMemoryBytes ??
    (opts.fs ? undefined : hostInfo({ rootDir: flags.rootDir }).machineInfo().memoryCapacityBytes);
  const recorder = flags.record
    ? createRecorder({
        path: flags.record,
        clock,
        maxBytes: flags.recordMaxBytes,
        log: log.child('recorder'),
        deferOpen: true,
        redact: recordRedaction(),
        header: {
          node: nodeName,
          manifests: flags.podManifestPath ?? null,
          // what `kubelet-ts replay` needs to rebuild the same kubelet (bin/replay.ts); the
          // recorder redacts it like every record (--manifest-url-header values)
          flags: { ...flags, record: undefined },
          periods: opts.periods ?? {},
          // the runtime read node files (its resolver file reads are recorded: bin/replay.ts recordedNetworkFiles)
          podNetworkFiles: filesPort !== undefined,
          // the volume decisions are recorded (`volumes` and `subpaths` records) and the memory a tmpfs was sized from
          volumes: { nodeAllocatableMemoryBytes },
          // the pod cgroups the runtime named and the node memory of Burstable oom_score_adj (bin/replay.ts)
          podCgroups: recordedCgroups ?? null,
          // ConfigMaps and Secrets were read from the API (recorded: bin/replay.ts recordedConfigData)
          configData: opts.configData !== undefined || (opts.kubeApi === undefined && flags.kubeconfig !== undefined),
        },
      })
    : undefined;
  const untapRecorder = recorder?.tapBus(bus, RECORDED_CHANNELS, RECORDED_VIEWS);
  // --record: each resolver file read with what it returned, for replay
  const networkFiles = filesPort && recorder ? recorder.wrap(filesPort, 'files', ['readResolvConf']) : filesPort;
  const cri = recorder ? recorder.wrap(rawCri) : rawCri;
  const rawVolumeFs =
    opts.volumeFs ?? (opts.fs ? inertVolumeFs : nodeVolumeFs(flags.rootDir, nodeMounter, () => clock.now()));
  const volumeFs = recorder ? recorder.wrap(rawVolumeFs, 'volumes', VOLUME_FS_METHODS) : rawVolumeFs;
  const rawSubPaths =
    opts.subPaths ??
    (opts.fs
      ? undefined
      : { prepare: (req: Parameters<SubPathPort['prepare']>[0]) => prepareSafeSubpath(nodeMounter, req) });
  const subPaths = rawSubPaths && recorder ? recorder.wrap(rawSubPaths, 'subpaths', ['prepare']) : rawSubPaths;
  const imageManager = new ImageManager({ images: cri, clock });
  // --record: each httpGet hook's answer, for replay (its exec hooks are CRI calls, recorded as such)
  const rawHooks = opts.hooks ? opts.hooks(cri) : lifecycleRunner({ cri, clock });
  const hooks = recorder ? recorder.wrap(rawHooks, 'hooks', ['httpGet']) : rawHooks;
  const prober =
    opts.prober === null ? undefined : (opts.prober ?? probeRunner({ cri, clock, userAgent: probeUserAgent() }));

  // Cluster mode: like upstream, one client for the kubelet's own requests (kubeAPIQPS/Burst),
  // one for heartbeats (node status and lease: no throttling, a timeout below the lease
  // duration) and one for events (throttled by the events actor at eventRecordQPS/Burst).
  const clients: KubeClient[] = [];
  const client = (o: Parameters<typeof createKubeApi>[1]): KubeClient => {
    const c = createKubeApi(flags.kubeconfig!, { clock, log: log.child('kubeClient'), ...o });
    clients.push(c);
    return c;
  };
  const clusterMode = opts.kubeApi !== undefined || flags.kubeconfig !== undefined;
  // --record: every write to the API server too (reads and watches are inputs seen on `config`)
  const recorded = (api: KubeApi | undefined) => (api && recorder ? recorder.wrap(api, 'api', API_WRITES) : api);
  const mainClient = opts.kubeApi
    ? undefined
    : flags.kubeconfig
      ? client({ qps: flags.kubeApiQps, burst: flags.kubeApiBurst })
      : undefined;
  const kube = recorded(opts.kubeApi ?? mainClient);
  // upstream's configmap/secret managers (configMapAndSecretChangeDetectionStrategy Watch) and
  // token manager, on the main client; --record: each read with its (redacted) answer, for replay
  const rawConfigData =
    opts.configData ??
    (mainClient
      ? createConfigData({
          api: mainClient,
          clock,
          log: log.child('configData'),
          random: opts.random,
          strategy: flags.configMapAndSecretChangeDetectionStrategy,
        })
      : undefined);
  const configData =
    rawConfigData && recorder ? recorder.wrap(rawConfigData, 'configData', CONFIG_DATA_READS) : rawConfigData;
  const heartbeatApi = recorded(
    opts.kubeApi ??
      (flags.kubeconfig
        ? client({ qps: 0, timeoutMs: Math.min(flags.nodeStatusUpdateFrequencyMs, 40_000) })
        : undefined),
  );
  const eventApi = recorded(opts.kubeApi ?? (flags.kubeconfig ? client({ qps: 0 }) : undefined));

  // The node's InternalIP (--node-ip, else the default route's), reported as the pods' hostIP.
  const hostIP = host.addresses(nodeName, flags.nodeIp).find((a) => a.type === 'InternalIP')?.address;

  // The pod sources the syncLoop waits for, exactly the configured ones as upstream registers
  // them (each sends config.sourcesReady after its first listing; pod-manager keeps the view):
  // file with a manifest path, http with a manifest URL, api with a kubeconfig.
  const staticSources: PodSource[] = [
    ...(flags.podManifestPath !== undefined ? ['file' as const] : []),
    ...(flags.manifestUrl ? ['http' as const] : []),
  ];
  const podSources: readonly PodSource[] = opts.sources ?? [...staticSources, ...(kube ? ['api' as const] : [])];

  const children: ChildSpec[] = [
    // first, so that it hears what the others record from their start on
    child(events, { api: eventApi, nodeName, qps: flags.eventQps, burst: flags.eventBurst, random: opts.random }),
    // cluster mode: the single writer of pods/status (and the final delete), on the main client
    child(statusManager, { api: kube, random: opts.random }),
    // in a cluster, new API pods are admitted once node-status has the Node (allocatable, labels, taints)
    child(podManager, {
      nodeName,
      maxPods: flags.maxPods,
      waitForNode: opts.waitForNode ?? (clusterMode && heartbeatApi !== undefined),
      // validated with the flags (bin/flags.ts): the safe set and --allowed-unsafe-sysctls
      sysctls: newSysctlAllowlist(flags.allowedUnsafeSysctls),
      appArmorHostError:
        opts.appArmorHostError !== undefined ? opts.appArmorHostError || undefined : hostAppArmorError(),
    }),
    child(podConfig, {
      manifestDir: flags.podManifestPath,
      nodeName,
      fs: opts.fs ?? nodeStaticPodFs(),
      checkIntervalMs: flags.fileCheckFrequencyMs,
    }),
    // --manifest-url: static pods from a URL
    ...(flags.manifestUrl
      ? [
          child(podSourceHttp, {
            url: flags.manifestUrl,
            headers: flags.manifestUrlHeader,
            nodeName,
            fetcher: opts.manifestFetcher ?? httpManifestFetcher({ clock }),
            checkIntervalMs: flags.httpCheckFrequencyMs,
          }),
        ]
      : []),
    // volumes: the pods' volumes set up before their containers (the runtime waits on podVolumes)
    child(volumeManager, {
      rootDir: flags.rootDir,
      fs: volumeFs,
      sources: podSources,
      nodeAllocatableMemoryBytes,
      configData,
      // upstream remounts data volumes when a pod is synced again: within --sync-frequency
      remountPeriodMs: opts.periods?.volumeRemountMs ?? flags.syncFrequencyMs,
    }),
    child(runtime, {
      cri,
      subPaths,
      volumeMountTimeoutMs: opts.volumeMountTimeoutMs,
      images: imageManager,
      nodeName,
      hostIP,
      dns: { clusterDns, clusterDomain: flags.clusterDomain, resolvConf: flags.resolvConf },
      networkFiles,
      configData,
      podLogsDir: flags.podLogsDir,
      statusPeriodMs: opts.periods?.runtimeStatusMs,
      hooks,
      security: { seccompDefault: flags.seccompDefault, seccompProfileRoot: join(flags.rootDir, 'seccomp') },
      podCgroups,
    }),
    child(images, { images: cri }),
    // kubepods, the QoS tiers and the cleanup of pod cgroups (the daemon's: opts.cgroupFs)
    ...(podCgroupManager && machine
      ? [
          child(containerManager, {
            manager: podCgroupManager,
            capacity: { cpuMilli: machine.numCores * 1000, memoryBytes: machine.memoryCapacityBytes },
            enforcePods: flags.enforceNodeAllocatable.includes('pods'),
            kubeReserved: flags.kubeReserved,
            systemReserved: flags.systemReserved,
          }),
        ]
      : []),
    // unused images removed when the image file system fills up (the daemon's: opts.imageFs)
    ...(opts.imageFs
      ? [
          child(imageGC, {
            images: cri,
            cri,
            fs: opts.imageFs,
            nodeName,
            sandboxImage: flags.podInfraContainerImage ?? SANDBOX_IMAGE,
            policy: {
              highThresholdPercent: flags.imageGcHighThresholdPercent,
              lowThresholdPercent: flags.imageGcLowThresholdPercent,
              minAgeMs: flags.imageMinimumGcAgeMs,
              maxAgeMs: flags.imageMaximumGcAgeMs,
            },
            periodMs: opts.periods?.imageGcMs,
          }),
        ]
      : []),
    // the Summary (nodeStats view) every housekeeping period: node, pods, containers, volumes
    ...(opts.statsFs && statsCri
      ? [
          child(stats, {
            cri: {
              listPodSandbox: (f) => rawCri.listPodSandbox(f),
              listContainers: (f) => rawCri.listContainers(f),
              listContainerStats: (f) => statsCri.listContainerStats(f),
              listPodSandboxStats: (f) => statsCri.listPodSandboxStats(f),
            },
            images: rawCri,
            fs: opts.statsFs,
            nodeName,
            rootDir: flags.rootDir,
            podLogsDir: flags.podLogsDir,
            cgroups: podCgroupManager
              ? { layout: () => podCgroupManager.layout(), podCgroup: (pod) => podCgroupManager.parent(pod) }
              : undefined,
            periodMs: opts.periods?.statsMs,
          }),
        ]
      : []),
    // pod log directories of pods that are gone; a kubelet on injected pod sources (replay, specs)
    // leaves the log root alone unless given the port
    child(containerGC, {
      cri,
      podLogsDir: flags.podLogsDir,
      logFs: opts.podLogFs ?? (opts.fs ? undefined : nodePodLogFs()),
      sources: podSources,
      periodMs: opts.periods?.containerGcMs,
    }),
    child(pleg, { cri, relistPeriodMs: opts.periods?.plegRelistMs }),
    child(podWorkers, { resyncIntervalMs: flags.syncFrequencyMs }),
    // liveness, readiness and startup probes; results on 'probe' and the probeResults view
    ...(prober ? [child(probes, { runner: prober, random: opts.random })] : []),
    child(syncLoop, {
      sources: podSources,
      syncTickMs: opts.periods?.syncTickMs,
      housekeepingMs: opts.periods?.housekeepingMs,
    }),
    // healthz (10248) and the read-only port: the daemon's (opts.serve), never a replay's
    ...(!opts.serve || (flags.healthzPort === 0 && flags.readOnlyPort === 0 && !flags.enableServer)
      ? []
      : [
          child(server, {
            nodeName,
            syncFrequencyMs: flags.syncFrequencyMs,
            healthz: flags.healthzPort > 0 ? { address: flags.healthzBindAddress, port: flags.healthzPort } : undefined,
            readOnly: flags.readOnlyPort > 0 ? { address: flags.address, port: flags.readOnlyPort } : undefined,
            // the server's CRI calls (log paths, exec URLs) stay out of a recording: they decide nothing
            secure: flags.enableServer ? secureServer(flags, kube, rawCri, criClient) : undefined,
          }),
        ]),
  ];
  // systemd's watchdog, fed by the syncLoop's health (main.ts sends READY=1 and STOPPING=1)
  if (opts.notifier)
    children.push(child(systemdNotify, { notifier: opts.notifier, syncFrequencyMs: flags.syncFrequencyMs }));
  // graceful node shutdown: a logind inhibitor lock, only when asked for (upstream: shutdownGracePeriod > 0)
  if (flags.shutdownGracePeriodMs > 0) {
    children.push(
      child(nodeShutdown, {
        gracePeriodMs: flags.shutdownGracePeriodMs,
        criticalPodsGracePeriodMs: flags.shutdownGracePeriodCriticalPodsMs,
        connect: opts.logind ?? (async () => (await import('../adapters/systemd/logind.ts')).connectLogind()),
        saveState: (state) =>
          writeFileSync(join(flags.rootDir, 'graceful_node_shutdown_state'), `${JSON.stringify(state)}\n`),
      }),
    );
  }
  if (clusterMode && heartbeatApi) {
    children.push(
      child(nodeStatus, {
        api: heartbeatApi,
        host,
        config: {
          nodeName,
          hostname: nodeName,
          nodeLabels: flags.nodeLabels,
          registerWithTaints: flags.registerWithTaints,
          maxPods: flags.maxPods,
          providerID: flags.providerId,
          externalCloudProvider: flags.cloudProvider === 'external',
          nodeIPs: nodeIps(flags),
          kubeReserved: flags.kubeReserved,
          systemReserved: flags.systemReserved,
          evictionHard: flags.evictionHard,
          kubeletVersion: KUBELET_VERSION,
          kubeletPort: flags.port,
        },
        registerNode: flags.registerNode,
        nodeIP: flags.nodeIp,
        updateFrequencyMs: flags.nodeStatusUpdateFrequencyMs,
        pressureTransitionPeriodMs: flags.evictionPressureTransitionPeriodMs,
        reportFrequencyMs: flags.nodeStatusReportFrequencyMs,
      }),
      child(nodeLease, { api: heartbeatApi, nodeName, random: opts.random }),
      // static pods' mirrors; orphans wait for the static sources (file, http) to have listed
      ...(kube ? [child(mirrorPods, { api: kube, nodeName, sources: staticSources })] : []),
    );
  }

  // rotateCertificates: the client pair in --cert-dir renewed before it expires, every client switched to it
  const ownClient = clients[0];
  if (flags.rotateCertificates && ownClient && flags.kubeconfig) {
    children.push(
      child(certificateManager, {
        ...clientCertRotation({
          kubeconfigPath: flags.kubeconfig,
          certDir: certDirOf(flags),
          nodeName,
          api: ownClient,
          clock,
          reload: async () => {
            for (const c of clients) await c.reloadCredentials();
          },
        }),
        random: opts.random,
      }),
    );
  }
  // serverTLSBootstrap: the serving pair (kubelet-server-current.pem) from the kubelet-serving signer
  if (flags.serverTlsBootstrap && ownClient) {
    children.push(
      child(
        { ...certificateManager, id: 'servingCertificateManager' },
        {
          ...servingCertRotation({
            certDir: certDirOf(flags),
            nodeName,
            api: ownClient,
            clock,
            addresses: () => host.addresses(nodeName, flags.nodeIp),
          }),
          pair: 'serving',
          random: opts.random,
        },
      ),
    );
  }

  // The API pod source: pods bound to this node on `config`, mirror pods in the mirrorPods view.
  if (kube) children.push(child(podSourceApi, { api: kube, nodeName, random: opts.random }));

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  let stopping: Promise<void> | undefined;

  const supervisor = new Supervisor({
    bus,
    clock,
    log,
    children,
    random: opts.random,
    onEscalate: (reason) => {
      // The supervisor has already stopped every child in reverse order.
      opts.onEscalate?.(reason);
      stopping ??= finish();
    },
  });

  // Opened before the actors start: a daemon already serving this root dir fails the start
  // here, before it could touch any pod.
  let debugSocket: DebugSocket | undefined;
  async function startDebug(): Promise<void> {
    if (opts.debugSocketPath === undefined) return;
    const ds = await startDebugSocket({
      path: opts.debugSocketPath,
      source: supervisor,
      bus,
      clock,
      log: log.child('debugSocket'),
      machines: { podWorker: podWorkerMachine },
      commands: { pod: podCommand, channels: channelsCommand(children.map((c) => c.id)) },
    });
    if (stopping) await ds.close();
    else debugSocket = ds;
  }

  async function finish(): Promise<void> {
    await supervisor.stop();
    await debugSocket?.close();
    untapRecorder?.();
    await recorder?.close();
    await prober?.close();
    if (!opts.configData) rawConfigData?.close();
    if (!opts.cri) rawCri.close();
    for (const c of clients) c.close();
    resolveStopped();
  }

  return {
    bus,
    supervisor,
    cri,
    kube,
    start: async () => {
      // a kubeconfig that cannot be used fails the start, before any actor runs
      for (const c of clients) await c.ready();
      await startDebug();
      if (!stopping) recorder?.open();
      await supervisor.start();
    },
    stop: () => (stopping ??= finish()),
    stopped,
  };
}
