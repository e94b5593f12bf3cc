/**
 * runtime: upstream's kubeGenericRuntimeManager as an actor. It answers podWorkers' commands
 * (`runtime.syncPod` / `killPod` / `removePod`) by reading the pod's state from the CRI,
 * deciding with the pure computePodActions, and issuing the CRI calls; every reply carries the
 * runtime status and the v1 status computed from it. It also watches the runtime's health
 * (Status every 5s, backing off while it does not answer) and publishes `runtimeHealth`.
 *
 * Failures of the runtime are answers, not crashes: a CRI error becomes the reply's `error`
 * (podWorkers retries with backoff) or a container's waiting reason. Commands for different pods
 * run concurrently; podWorkers guarantees one command per pod at a time, except that a kill first
 * sends `runtime.cancelSync` for the sync in flight: that sync stops before its next CRI call
 * (upstream cancels its context) and answers `runtime.syncCancelled`, and only then does the kill
 * come. The CRI calls that stop, remove and create are bounded node-wide (limiter.ts), and a
 * status read issues at most STATUS_READ_CONCURRENCY status calls at a time.
 *
 * Along the way it records upstream's Kubernetes events on the `events` channel (events.ts):
 * Pulling/Pulled/Failed/BackOff for images, Created, Started, Killing, Failed "Error: ..." and
 * BackOff for containers, FailedPostStartHook and FailedPreStopHook for the lifecycle hooks
 * (hooks.ts: postStart after StartContainer, the sync waiting for it; preStop before every stop,
 * within the grace) and LifecycleHTTPFallback, SandboxChanged, FailedCreatePodSandBox and FailedKillPod for pods,
 * MissingClusterDNS and DNSConfigForming while forming a pod's DNS (CheckLimitsForResolvConf on
 * the node at start), and one Warning `Failed` "Error: <fields>" per pod and list of fields
 * kubelet-ts does not support (said once, not on every sync: the list is a property of the spec,
 * and repeats would spend the pod's event budget).
 */
import { channels, type ActorContext, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { criDesc, criErrorText, isCriError } from '../../protocols/cri/errors.ts';
import type {
  ContainerStatus as CriContainerStatus,
  CriRuntime,
  PodSandboxConfig,
  PodSandboxStatus,
} from '../../protocols/cri/types.ts';
import { isTerminalPhase, type Pod, type PodStatus } from '../../protocols/kube/pod.ts';
import type {
  ContainerWaiting,
  ProbeResults,
  RuntimeCommand,
  RuntimeContainerStatus,
  RuntimeHealth,
  RuntimePodStatus,
  RuntimeReply,
  SyncResult,
} from '../../protocols/messages/channels.ts';
import type { ImagePort, PodCgroupsPort, PodNetworkFiles } from './adapters.ts';
import { CrashBackoff } from './backoff.ts';
import {
  computePodActions,
  getPhase,
  nextRestartCount,
  terminationStages,
  type ContainerToKill,
} from './compute-pod-actions.ts';
import {
  activeDeadlineAt,
  DEADLINE_EXCEEDED_MESSAGE,
  DEADLINE_EXCEEDED_REASON,
  pastActiveDeadline,
} from './active-deadline.ts';
import {
  ContainerConfigError,
  generateContainerConfig,
  generatePodSandboxConfig,
  makeEnvironmentVariables,
  type SecurityOptions,
} from './cri-config.ts';
import { makeMounts } from './mounts.ts';
import { unmountedVolumesMessage, volumesReady } from '../../protocols/messages/volumes.ts';
import type { Mount } from '../../protocols/cri/types.ts';
import { resolveApiEnv } from './env-from-api.ts';
import type { ConfigDataPort } from '../../protocols/kube/config-data.ts';
import { EventReason, nodeRef, recordEvent } from '../../protocols/messages/events.ts';
import { checkLimitsForResolvConf, getPodDns, type DnsSettings } from './dns.ts';
import { podHostsFileContent, shouldMountHostsFile } from './etc-hosts.ts';
import { backOffRestartingMessage, runtimeRecorder, type PodLike, type RuntimeRecorder } from './events.ts';
import { LABEL_POD_UID, runtimePodStatusFromCri } from './labels.ts';
import {
  CREATE_CONCURRENCY,
  Limiter,
  mapLimited,
  STATUS_READ_CONCURRENCY,
  STOP_CONCURRENCY,
  unlessAborted,
} from './limiter.ts';
import { backoffByPod } from './inspect.ts';
import { generateApiPodStatus, runtimePodIps, sortPodIps } from './pod-status.ts';
import { errText } from '../../kernel/log.ts';
import { formatUnsupportedFields } from '../../protocols/kube/fields.ts';
import { lifecycleRunner, type LifecycleRunner } from '../../adapters/handlers/lifecycle.ts';
import { runLifecycleHandler } from './hooks.ts';
import type { Container } from '../../protocols/kube/pod.ts';

export interface RuntimeDeps {
  cri: CriRuntime;
  images: ImagePort;
  nodeName: string;
  /** Root of container logs: <podLogsDir>/<ns>_<name>_<uid>/<container>/<n>.log */
  podLogsDir: string;
  hostIP?: string;
  /** --cluster-dns, --cluster-domain, --resolv-conf (default: none, none, /etc/resolv.conf). */
  dns?: DnsSettings;
  /**
   * The resolver file, the node's /etc/hosts and the pods' managed hosts files. Without it (specs
   * on the fake runtime) the resolver file reads as empty and no hosts file is written or mounted.
   */
  networkFiles?: PodNetworkFiles;
  /** Upstream checks runtime health every 5s. */
  statusPeriodMs?: number;
  /** The lifecycle hooks' exec and HTTP effects; default: ExecSync on `cri` and the handlers' HTTP client. */
  hooks?: LifecycleRunner;
  /** --seccomp-default and <root-dir>/seccomp (Localhost profiles). */
  security?: SecurityOptions;
  /**
   * The safe subPath binds (adapters/volumes/subpath.ts prepareSafeSubpath); without it (the fake
   * runtime) a container with a subPath mount is held with CreateContainerConfigError.
   */
  subPaths?: SubPathPort;
  /** How long a sync waits for the pod's volumes (upstream podAttachAndMountTimeout, 2 min). */
  volumeMountTimeoutMs?: number;
  /** The pod cgroups (cgroup_parent, EnsureExists) and the node memory for oom_score_adj; none: the runtime's defaults. */
  podCgroups?: PodCgroupsPort;
  /**
   * ConfigMaps and Secrets for env (configMapKeyRef, secretKeyRef, envFrom); absent standalone,
   * where such a reference is a CreateContainerConfigError saying there is no API client. A pod
   * is registered with it on every sync and unregistered once removed.
   */
  configData?: ConfigDataPort;
}

/** Makes the bind of one subPath mount and answers its target; rejects (SubPathError) when the subPath is refused. */
export interface SubPathPort {
  prepare(req: { volumePath: string; subPath: string; target: string }): Promise<string>;
}

const VOLUME_MOUNT_TIMEOUT_MS = 120_000;

const HEALTH_MAX_BACKOFF_MS = 30_000;
const DEFAULT_DNS: DnsSettings = { clusterDns: [], clusterDomain: '', resolvConf: '/etc/resolv.conf' };
/**
 * upstream minimumGracePeriodInSeconds: what a container is left to stop after its preStop hook,
 * and what a sidecar stopped after the regular containers gets (never more than the grace there).
 */
const MIN_GRACE_SECONDS = 2;

/**
 * upstream killContainer with its preStop hook: the hook (if the container has one and runs)
 * within `grace` seconds, then the stop. Answers whether a hook ran: its time was counted against
 * the grace, and the container gets at least MIN_GRACE_SECONDS after it.
 */
type PreStop = (
  target: PreStopTarget | undefined,
  c: HookedContainer,
  grace: number,
  podIP: string,
  signal?: AbortSignal,
) => Promise<boolean>;

interface PreStopTarget {
  pod: Pod;
  spec: Container;
}

/** A container to kill: its runtime status, or what a sync knows of it. */
interface HookedContainer {
  id: string;
  name: string;
  state: string;
  preStop?: RuntimeContainerStatus['preStop'];
}

/**
 * The pod and container a preStop runs for: the pod's spec, or for an orphan (no pod) what its
 * annotations kept (upstream restoreSpecsFromContainerLabels). Undefined without a hook.
 */
function preStopTarget(
  pod: Pod | null,
  c: HookedContainer,
  status: Pick<RuntimePodStatus, 'uid' | 'name' | 'namespace'>,
): PreStopTarget | undefined {
  if (pod) {
    const spec = specOf(pod, c.name);
    return spec?.lifecycle?.preStop ? { pod, spec } : undefined;
  }
  if (!c.preStop) return undefined;
  const spec = {
    name: c.name,
    image: '',
    ports: c.preStop.ports,
    lifecycle: { preStop: c.preStop.handler },
  } as Container;
  // (as upstream's restored pod, it lists no container: its events name an implicit one)
  const restored = {
    metadata: { name: status.name, namespace: status.namespace, uid: status.uid },
    spec: { containers: [] },
  } as unknown as Pod;
  return { pod: restored, spec };
}

/** The runtime's node-wide bounds on CRI calls (limiter.ts), shared by every command. */
interface CriLimits {
  /** StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox. */
  stops: Limiter;
  /** RunPodSandbox, CreateContainer, StartContainer. */
  creates: Limiter;
}

/** Why a sync ended early: a kill arrived (runtime.cancelSync). Not a failure: nothing is logged as one. */
export class SyncCancelled extends Error {
  constructor(uid: string, seq: number) {
    super(`sync ${seq} of pod ${uid} cancelled: the pod is being killed`);
    this.name = 'SyncCancelled';
  }
}

function podLogDir(root: string, pod: Pod): string {
  const m = pod.metadata ?? {};
  return `${root}/${m.namespace}_${m.name}_${m.uid}`;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['runtime'],
  produces: ['events', 'runtimeReply'],
  reads: ['desiredPods', 'podStatuses', 'probeResults', 'podVolumes'],
  writes: ['runtimeHealth'],
});

export const runtime: ActorSpec<RuntimeDeps, typeof io> = {
  ...defaultPolicy,
  id: 'runtime',
  dependsOn: ['statusManager'],
  channels: io,
  start(ctx) {
    const { cri, images } = ctx.deps;
    const backoff = new CrashBackoff();
    const limits: CriLimits = { stops: new Limiter(STOP_CONCURRENCY), creates: new Limiter(CREATE_CONCURRENCY) };
    const busy = new Map<string, string>(); // uid → command in progress (inspection)
    // uid → the sync in flight, so runtime.cancelSync can stop it at its next CRI call
    const syncs = new Map<string, { seq: number; abort: AbortController }>();
    const held = new Map<string, ContainerWaiting[]>(); // uid → what its last sync held back (inspection)
    const refusals = new Map<string, string>(); // uid → the unsupported fields last reported
    let health: RuntimeHealth = {
      ready: false,
      networkReady: false,
      runtimeName: '',
      runtimeVersion: '',
      reason: 'not checked yet',
      lastOk: 0,
    };
    ctx.bus.publish('runtimeHealth', health);

    const events = runtimeRecorder((r) => ctx.bus.send('events', r));
    const hookRunner = ctx.deps.hooks ?? lifecycleRunner({ cri, clock: ctx.clock });

    /** upstream: the LifecycleHTTPFallback event, a Warning on the pod. */
    const fellBack = (pod: Pod, where: string) =>
      events.pod(
        pod,
        'Warning',
        EventReason.LifecycleHTTPFallback,
        `request to HTTPS lifecycle hook ${where} got HTTP response, retry with HTTP succeeded`,
      );

    /**
     * upstream executePreStopHook: the hook runs for at most `grace` seconds (then it is left
     * behind and the stop goes on); its failure is a FailedPreStopHook Warning without the
     * handler's output. `signal` (a cancelled sync) stops the wait at once.
     */
    const preStop: PreStop = async (target, c, grace, podIP, signal) => {
      const h = target?.spec.lifecycle?.preStop;
      if (!target || !h || grace <= 0 || c.state !== 'CONTAINER_RUNNING') return false;
      const { pod, spec } = target;
      const who = { pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: c.name, containerID: c.id };
      const giveUp = new AbortController();
      let abandoned = false;
      const hook = runLifecycleHandler(hookRunner, ctx.clock, pod, spec, h, {
        containerId: c.id,
        podIP,
        signal: giveUp.signal,
      }).then((o) => {
        if (abandoned) return;
        if (o.ok && o.fellBack) fellBack(pod, o.fellBack);
        if (o.ok) return;
        ctx.log.warn('PreStop hook failed', { ...who, error: o.message });
        events.container(pod, c.name, 'Warning', EventReason.FailedPreStopHook, 'PreStopHook failed');
      });
      let timer: ReturnType<typeof ctx.clock.setTimeout> | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        timer = ctx.clock.setTimeout(() => resolve('expired'), grace * 1000);
      });
      try {
        const first = await (signal
          ? unlessAborted(Promise.race([hook, expired]), signal)
          : Promise.race([hook, expired]));
        if (first === 'expired') {
          abandoned = true;
          ctx.log.info('PreStop hook not completed in grace period', { ...who, gracePeriod: grace }, 2);
        }
      } finally {
        ctx.clock.clearTimeout(timer!);
        if (abandoned || signal?.aborted) giveUp.abort();
      }
      return true;
    };

    /** upstream killContainer: the preStop hook within the grace, then StopContainer with what is left. */
    const killContainer = async (pod: Pod, c: HookedContainer, grace: number, podIP: string, signal?: AbortSignal) => {
      const began = ctx.clock.now();
      const ran = await preStop(preStopTarget(pod, c, pod.metadata), c, grace, podIP, signal);
      const left = ran ? Math.max(MIN_GRACE_SECONDS, grace - Math.floor((ctx.clock.now() - began) / 1000)) : grace;
      await limits.stops.run(() => cri.stopContainer(c.id, left), signal);
    };

    const reply = (r: RuntimeReply) => {
      if (!ctx.stopped) ctx.bus.send('runtimeReply', r);
    };

    const readStatus = (uid: string, name = '', namespace = '', signal?: AbortSignal) =>
      getPodStatus(ctx, cri, uid, name, namespace, signal);

    const previousStatus = (uid: string): PodStatus | undefined => ctx.bus.current('podStatuses')?.get(uid);

    const apiStatus = (pod: Pod, status: RuntimePodStatus, waiting: ContainerWaiting[], podIsTerminal = false) =>
      generateApiPodStatus(pod, status, {
        waiting,
        now: ctx.clock.now(),
        hostIP: ctx.deps.hostIP,
        previous: previousStatus(status.uid),
        podIsTerminal,
        probes: ctx.bus.current('probeResults'),
      });

    const dns = ctx.deps.dns ?? DEFAULT_DNS;
    const files = ctx.deps.networkFiles;

    /**
     * upstream generatePodSandboxConfig with GetPodDNS: the resolver file read and the DNS config
     * formed (its events recorded), the hostname checked. Throws what keeps the sandbox from being
     * created (an unreadable resolver file, an FQDN too long).
     */
    async function sandboxConfigFor(pod: Pod, attempt: number): Promise<PodSandboxConfig> {
      const hostResolvConf = dns.resolvConf !== '' && files ? await files.readResolvConf(dns.resolvConf) : '';
      const formed = getPodDns(pod, { ...dns, nodeIPs: ctx.deps.hostIP ? [ctx.deps.hostIP] : [] }, hostResolvConf);
      for (const e of formed.events) {
        if (e.on === 'pod') events.pod(pod, 'Warning', e.reason, e.message);
        else ctx.bus.send('events', recordEvent(nodeRef(ctx.deps.nodeName), 'Warning', e.reason, e.message));
      }
      return generatePodSandboxConfig(pod, attempt, {
        logDir: podLogDir(ctx.deps.podLogsDir, pod),
        dnsConfig: formed.config,
        clusterDomain: dns.clusterDomain,
        cgroupParent: ctx.deps.podCgroups?.parent(pod),
      });
    }

    /**
     * upstream makeHostsMount: the pod's managed hosts file written (again) for a container that
     * gets it, and its path; undefined when the container does not.
     */
    async function etcHostsFor(
      pod: Pod,
      container: Pod['spec']['containers'][number],
      podIPs: readonly string[],
    ): Promise<string | undefined> {
      if (!files || !shouldMountHostsFile(container, podIPs)) return undefined;
      const nodeHosts = pod.spec.hostNetwork ? await files.readNodeHosts() : '';
      return files.writePodHostsFile(pod.metadata.uid, podHostsFileContent(pod, podIPs, dns.clusterDomain, nodeHosts));
    }

    /**
     * upstream WaitForAttachAndMount: resolves once the volumeManager has every volume of this
     * spec mounted, or with upstream's error naming the unmounted volumes after the timeout;
     * rejects with the signal's reason when a kill cancels the sync meanwhile.
     */
    function waitForVolumes(pod: Pod, signal: AbortSignal): Promise<string | undefined> {
      const uid = pod.metadata.uid;
      const vols = pod.spec.volumes ?? [];
      if (vols.length === 0 || volumesReady(ctx.bus.current('podVolumes'), uid, vols))
        return Promise.resolve(undefined);
      return new Promise((resolve, reject) => {
        let done = false;
        let timer: number | undefined;
        let sub: { unsubscribe(): void } | undefined;
        const finish = (then: () => void) => {
          if (done) return;
          done = true;
          sub?.unsubscribe();
          ctx.clock.clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          then();
        };
        const onAbort = () => finish(() => reject(signal.reason));
        signal.addEventListener('abort', onAbort);
        timer = ctx.clock.setTimeout(
          () => finish(() => resolve(unmountedVolumesMessage(ctx.bus.current('podVolumes'), uid, vols))),
          ctx.deps.volumeMountTimeoutMs ?? VOLUME_MOUNT_TIMEOUT_MS,
        );
        sub = ctx.bus.view('podVolumes').subscribe((v) => {
          if (volumesReady(v, uid, vols)) finish(() => resolve(undefined));
        });
        if (done) sub.unsubscribe();
      });
    }

    /**
     * upstream makeMounts: the container's volumeMounts as CRI Mounts, each subPath bound safely
     * first. Throws ContainerConfigError naming the mount and the cause.
     */
    async function mountsFor(
      pod: Pod,
      container: Pod['spec']['containers'][number],
      podIP: string,
      podIPs: readonly string[],
    ): Promise<Mount[]> {
      if (!container.volumeMounts?.length) return [];
      const envs = makeEnvironmentVariables(pod, container, { podIP, podIPs: [...podIPs], hostIP: ctx.deps.hostIP });
      const planned = makeMounts(container, ctx.bus.current('podVolumes')?.get(pod.metadata.uid), envs);
      const out: Mount[] = [];
      for (const p of planned) {
        if (p.subPath) {
          const failed = (cause: string) =>
            new ContainerConfigError(
              `failed to prepare subPath for volumeMount ${JSON.stringify(p.subPath!.target.split('/').at(-3))} of container ${JSON.stringify(container.name)}: ${cause}`,
            );
          if (!ctx.deps.subPaths) throw failed("this kubelet has no access to the node's mounts");
          await ctx.deps.subPaths.prepare(p.subPath).catch((e: unknown) => {
            throw failed(errText(e));
          });
        }
        out.push(p.mount);
      }
      return out;
    }

    /**
     * Throws SyncCancelled (out of syncPod, past its error handling) once a kill cancelled the sync:
     * called before every CRI call, and every create waits for its slot with the signal.
     */
    async function syncPod(uid: string, pod: Pod, signal: AbortSignal): Promise<SyncResult> {
      const name = pod.metadata?.name ?? '';
      const namespace = pod.metadata?.namespace ?? '';
      const performed: string[] = [];
      const waiting: ContainerWaiting[] = [];
      let error: string | undefined;
      const boundary = () => signal.throwIfAborted();
      const create = <T>(call: () => Promise<T>) => limits.creates.run(call, signal);
      let status = await readStatus(uid, name, namespace, signal);
      // upstream SyncPod returns early for a pod whose phase is terminal (the API's, or the status
      // manager's): nothing is created or started; the reply's terminal phase moves the worker on
      // to terminating, which stops what still runs.
      const terminal = terminalPhaseOf(pod, previousStatus(uid));
      if (terminal) {
        return { phase: terminal, apiStatus: apiStatus(pod, status, []), actions: [], waiting: [], status };
      }
      // upstream's activeDeadlineHandler (ShouldEvict): past the deadline the pod fails; the
      // terminal phase moves the worker on to terminating, which kills its containers.
      if (pastActiveDeadline(pod, previousStatus(uid), status, ctx.clock.now())) {
        events.pod(pod, 'Normal', DEADLINE_EXCEEDED_REASON, DEADLINE_EXCEEDED_MESSAGE);
        ctx.log.info('pod past its activeDeadlineSeconds: failing it', {
          pod: `${namespace}/${name}`,
          uid,
          activeDeadlineSeconds: pod.spec.activeDeadlineSeconds,
        });
        const failed = {
          ...apiStatus(pod, status, []),
          phase: 'Failed' as const,
          reason: DEADLINE_EXCEEDED_REASON,
          message: DEADLINE_EXCEEDED_MESSAGE,
        };
        return { phase: 'Failed', apiStatus: failed, actions: ['activeDeadline'], waiting: [], status };
      }
      if ((pod.spec.volumes ?? []).length > 0 && !volumesReady(ctx.bus.current('podVolumes'), uid, pod.spec.volumes)) {
        const unmounted = await waitForVolumes(pod, signal);
        status = await readStatus(uid, name, namespace, signal);
        if (unmounted !== undefined) {
          events.pod(pod, 'Warning', EventReason.FailedMountVolume, unmounted);
          ctx.log.warn('volumes not mounted in time', { pod: `${namespace}/${name}`, uid, error: unmounted });
          const notRunning = [...(pod.spec.initContainers ?? []), ...pod.spec.containers]
            .filter((c) => !status.containers.some((s) => s.name === c.name && s.state === 'CONTAINER_RUNNING'))
            .map((c): ContainerWaiting => ({ name: c.name, reason: 'ContainerCreating', message: unmounted }));
          return {
            phase: getPhase(pod, status),
            apiStatus: apiStatus(pod, status, notRunning),
            actions: [],
            waiting: notRunning,
            error: unmounted,
            status,
          };
        }
      }
      const probed = ctx.bus.current('probeResults');
      const actions = computePodActions(pod, status, {
        now: ctx.clock.now(),
        backoff,
        probeFailures: probeFailures(probed),
        startupSucceeded: startupSucceeded(probed),
      });
      waiting.push(...actions.waiting);
      if (actions.unsupported.length === 0) refusals.delete(uid);
      else {
        const fields = formatUnsupportedFields(actions.unsupported);
        if (refusals.get(uid) !== fields) {
          refusals.set(uid, fields);
          events.pod(pod, 'Warning', EventReason.FailedToCreateContainer, `Error: ${fields}`);
          ctx.log.warn('pod uses fields kubelet-ts does not support: the containers using them are not created', {
            pod: `${namespace}/${name}`,
            uid,
            fields,
          });
        }
      }
      const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
      // upstream's pod manager registers a pod with the configmap and secret managers
      ctx.deps.configData?.registerPod(pod);
      try {
        if (actions.createSandbox && actions.sandboxId !== '') {
          events.pod(
            pod,
            'Normal',
            EventReason.SandboxChanged,
            'Pod sandbox changed, it will be killed and re-created.',
          );
        }
        if (actions.killPod) {
          boundary();
          performed.push('killPod');
          await killPodContainers(ctx, cri, limits, status, grace, pod, events, preStop);
        }
        let sandboxId = actions.sandboxId;
        // upstream SyncPod: the pod's IPs as its status has them (a host-network pod's are the node's)
        let podIPs = sortPodIps(runtimePodIps(status), ctx.deps.hostIP);
        let sandboxConfig: PodSandboxConfig | undefined;
        // upstream syncPod: the pod cgroup exists, with its limits, before anything runs in it
        if (
          ctx.deps.podCgroups?.ensure &&
          (actions.createSandbox || actions.containersToStart.length + actions.initContainersToStart.length > 0)
        ) {
          try {
            await ctx.deps.podCgroups.ensure(pod);
          } catch (e) {
            events.pod(
              pod,
              'Warning',
              EventReason.FailedToCreatePodContainer,
              `unable to ensure pod container exists: ${errText(e)}`,
            );
            throw e;
          }
        }
        if (actions.createSandbox) {
          performed.push(`createSandbox(attempt ${actions.attempt})`);
          try {
            const cfg = await sandboxConfigFor(pod, actions.attempt);
            sandboxConfig = cfg;
            sandboxId = await create(() => cri.runPodSandbox(cfg));
          } catch (e) {
            if (e instanceof SyncCancelled) throw e;
            events.pod(
              pod,
              'Warning',
              EventReason.FailedCreatePodSandBox,
              `Failed to create pod sandbox: ${criErrorText(e)}`,
            );
            throw e;
          }
          boundary();
          try {
            const s = await cri.podSandboxStatus(sandboxId);
            const ips = [s.network?.ip ?? '', ...(s.network?.additionalIps ?? []).map((a) => a.ip)].filter(
              (ip) => ip !== '',
            );
            if (!pod.spec.hostNetwork) podIPs = sortPodIps(ips, ctx.deps.hostIP);
          } catch (e) {
            events.pod(
              pod,
              'Warning',
              EventReason.FailedStatusPodSandBox,
              `Unable to get pod sandbox status: ${criErrorText(e)}`,
            );
            throw e;
          }
        }
        if (podIPs.length === 0 && pod.spec.hostNetwork && ctx.deps.hostIP) podIPs = [ctx.deps.hostIP];
        const podIP = podIPs[0] ?? '';
        // upstream SyncPod: killing the pod already stopped every container (no second kill, no second event)
        for (const [id, why] of actions.killPod ? [] : Object.entries(actions.containersToKill)) {
          performed.push(`kill ${why.name}: ${why.message}`);
          boundary();
          events.killing(pod, why.name, why.message);
          const state = status.containers.find((c) => c.id === id)?.state ?? '';
          await killContainer(pod, { id, name: why.name, state }, killGrace(pod, why, grace), podIP, signal);
        }
        if (sandboxId) {
          const toStart = [
            ...actions.initContainersToStart.map((i) => ({ container: pod.spec!.initContainers![i]!, init: true })),
            ...actions.containersToStart.map((i) => ({ container: pod.spec!.containers[i]!, init: false })),
          ];
          // upstream doBackOff records this on every sync that finds the container held back.
          for (const w of actions.waiting) {
            if (w.reason === 'CrashLoopBackOff')
              events.container(
                pod,
                w.name,
                'Warning',
                EventReason.BackOffStartContainer,
                backOffRestartingMessage(pod, w.name),
              );
          }
          const failed = (name: string, cause: string) =>
            events.container(pod, name, 'Warning', EventReason.FailedToCreateContainer, `Error: ${cause}`);
          const start = async (container: Container, id: string): Promise<void> => {
            const name = container.name;
            try {
              // A container created just before the kill came is left created, never started;
              // the kill stops it (it counts CONTAINER_CREATED as running).
              await create(() => cri.startContainer(id));
            } catch (e) {
              if (e instanceof SyncCancelled) throw e;
              events.container(pod, name, 'Warning', EventReason.FailedToStartContainer, `Error: ${criDesc(e)}`);
              if (!isCriError(e) || e.kind === 'Unavailable' || e.kind === 'DeadlineExceeded') throw e;
              waiting.push({ name, reason: 'RunContainerError', message: errText(e) });
              return;
            }
            events.container(pod, name, 'Normal', EventReason.StartedContainer, `Started container ${name}`);
            const hook = container.lifecycle?.postStart;
            if (!hook) return;
            // upstream: the sync waits for the hook, so the container is not reported running before it ends
            performed.push(`postStart ${name}`);
            const o = await unlessAborted(
              runLifecycleHandler(hookRunner, ctx.clock, pod, container, hook, { containerId: id, podIP, signal }),
              signal,
            );
            if (o.ok && o.fellBack) fellBack(pod, o.fellBack);
            if (o.ok) return;
            ctx.log.warn('Failed to execute PostStartHook', {
              pod: `${namespace}/${pod.metadata.name}`,
              uid,
              container: name,
              containerID: id,
              error: o.message,
            });
            events.container(pod, name, 'Warning', EventReason.FailedPostStartHook, 'PostStartHook failed');
            events.killing(pod, name, 'FailedPostStartHook');
            performed.push(`kill ${name}: FailedPostStartHook`);
            try {
              await killContainer(pod, { id, name, state: 'CONTAINER_RUNNING' }, grace, podIP, signal);
            } catch (e) {
              if (e instanceof SyncCancelled) throw e;
              ctx.log.warn('Failed to kill container', {
                pod: `${namespace}/${pod.metadata.name}`,
                uid,
                container: name,
                containerID: id,
                error: errText(e),
              });
            }
            waiting.push({ name, reason: 'PostStartHookError', message: o.message });
          };
          // (the config the sandbox was created with, or the pod's as it is now: upstream forms it on every sync)
          if (toStart.length > 0) sandboxConfig ??= await sandboxConfigFor(pod, actions.attempt);
          for (const { container } of toStart) {
            const restartCount = nextRestartCount(status, container.name);
            const created = actions.createdToStart[container.name];
            if (created !== undefined) {
              // created before the kubelet stopped, never started: start that one (no restart)
              performed.push(`start ${container.name} (attempt ${restartCount}, created before)`);
              await start(container, created);
              continue;
            }
            for (const id of actions.createdToRemove) {
              if (status.containers.find((c) => c.id === id)?.name !== container.name) continue;
              // never started and not usable as it is: its replacement takes over its attempt
              performed.push(`remove ${container.name} (created, never started)`);
              boundary();
              await limits.stops.run(() => cri.removeContainer(id), signal);
            }
            // A pull can take minutes: a kill does not wait for it (the pull itself goes on).
            const img = await unlessAborted(
              images.ensureImageExists(pod, container, sandboxConfig!, events.sink(pod, container.name)),
              signal,
            );
            if (!img.ok) {
              failed(container.name, img.reason);
              waiting.push({ name: container.name, reason: img.reason, message: img.message, retryAt: img.retryAt });
              continue;
            }
            const restart = actions.restarts.find((r) => r.name === container.name);
            if (restart) backoff.next(restart.key, ctx.clock.now(), restart.finishedAt);
            let containerId: string | undefined;
            let config;
            try {
              const etcHostsPath = await etcHostsFor(pod, container, podIPs).catch((e: unknown) => {
                throw new ContainerConfigError(errText(e));
              });
              // upstream getImageUser: an image the runtime no longer reports cannot be checked
              if (!img.user) throw new ContainerConfigError(`image "${img.imageRef}" not found`);
              const mounts = await mountsFor(pod, container, podIP, podIPs);
              const apiEnv = await resolveApiEnv(pod, container, ctx.deps.configData);
              for (const w of apiEnv.warnings) events.pod(pod, 'Warning', w.reason, w.message);
              config = generateContainerConfig(pod, container, {
                restartCount,
                imageRef: img.imageRef,
                imageUser: img.user,
                podIP,
                podIPs,
                hostIP: ctx.deps.hostIP,
                etcHostsPath,
                mounts,
                apiEnv,
                memoryCapacity: ctx.deps.podCgroups?.memoryCapacity,
                ...ctx.deps.security,
              });
            } catch (e) {
              if (!(e instanceof ContainerConfigError)) throw e;
              failed(container.name, e.message);
              waiting.push({ name: container.name, reason: 'CreateContainerConfigError', message: e.message });
              continue;
            }
            boundary();
            try {
              containerId = await create(() => cri.createContainer(sandboxId, config, sandboxConfig!));
            } catch (e) {
              if (e instanceof SyncCancelled) throw e;
              failed(container.name, criDesc(e));
              if (!isCriError(e) || e.kind === 'Unavailable' || e.kind === 'DeadlineExceeded') throw e;
              waiting.push({ name: container.name, reason: 'CreateContainerError', message: errText(e) });
              continue;
            }
            events.container(
              pod,
              container.name,
              'Normal',
              EventReason.CreatedContainer,
              `Created container: ${container.name}`,
            );
            performed.push(`start ${container.name} (attempt ${restartCount})`);
            await start(container, containerId);
          }
        }
      } catch (e) {
        if (e instanceof SyncCancelled) throw e;
        error = errText(e);
        ctx.log.warn('syncPod failed', { pod: `${namespace}/${name}`, uid, error });
      }
      boundary();
      try {
        status = await readStatus(uid, name, namespace);
      } catch (e) {
        error ??= errText(e);
      }
      const retryAts = waiting.map((w) => w.retryAt).filter((t): t is number => t !== undefined);
      const phase = getPhase(pod, status);
      const synced = apiStatus(pod, status, waiting);
      // the next sync comes no later than the active deadline (upstream: its ShouldSync on every tick)
      const deadlineAt = activeDeadlineAt(pod, synced, status);
      if (deadlineAt !== undefined) retryAts.push(deadlineAt);
      return {
        phase,
        apiStatus: synced,
        actions: performed,
        waiting,
        error,
        status,
        retryAt: retryAts.length ? Math.min(...retryAts) : undefined,
      };
    }

    async function handle(cmd: Exclude<RuntimeCommand, { type: 'runtime.cancelSync' }>): Promise<void> {
      busy.set(cmd.uid, cmd.type);
      const sync = cmd.type === 'runtime.syncPod' ? { seq: cmd.seq, abort: new AbortController() } : undefined;
      if (sync) syncs.set(cmd.uid, sync);
      try {
        if (cmd.type === 'runtime.syncPod') {
          let result: SyncResult;
          try {
            result = await syncPod(cmd.uid, cmd.pod, sync!.abort.signal);
          } catch (e) {
            if (e instanceof SyncCancelled) {
              ctx.log.info(
                'sync cancelled: the pod is being killed',
                { pod: `${cmd.pod.metadata?.namespace}/${cmd.pod.metadata?.name}`, uid: cmd.uid, seq: cmd.seq },
                2,
              );
              reply({ type: 'runtime.syncCancelled', uid: cmd.uid, seq: cmd.seq });
              return;
            }
            // Reading the status failed: the runtime is not answering.
            const empty: RuntimePodStatus = {
              uid: cmd.uid,
              name: cmd.pod.metadata?.name ?? '',
              namespace: cmd.pod.metadata?.namespace ?? '',
              sandboxes: [],
              containers: [],
              timestamp: ctx.clock.now(),
            };
            const prev = previousStatus(cmd.uid);
            result = {
              phase: (prev?.phase as SyncResult['phase'] | undefined) ?? 'Pending',
              apiStatus: prev ?? apiStatus(cmd.pod, empty, []),
              actions: [],
              waiting: [],
              error: errText(e),
              status: empty,
            };
          }
          if (result.waiting.length > 0) held.set(cmd.uid, result.waiting);
          else held.delete(cmd.uid);
          reply({ type: 'runtime.podSynced', uid: cmd.uid, seq: cmd.seq, result });
        } else if (cmd.type === 'runtime.killPod') {
          let error: string | undefined;
          let status: RuntimePodStatus | null = null;
          try {
            status = await readStatus(cmd.uid);
            await killPodContainers(ctx, cri, limits, status, cmd.gracePeriodSeconds, cmd.pod, events, preStop);
            status = await readStatus(cmd.uid);
          } catch (e) {
            error = errText(e);
            // upstream SyncTerminatingPod; an orphan (no pod) is housekeeping's, without an event.
            if (cmd.pod) events.pod(cmd.pod, 'Warning', EventReason.FailedToKillPod, `error killing pod: ${error}`);
          }
          // upstream SyncTerminatingPod: killPod only ever ends the pod (a sandbox restart is
          // syncPod's), so the stopped containers decide Succeeded or Failed (podIsTerminal).
          const api = cmd.pod && status ? apiStatus(cmd.pod, status, [], true) : null;
          reply({ type: 'runtime.podKilled', uid: cmd.uid, seq: cmd.seq, error, status, apiStatus: api });
        } else {
          let error: string | undefined;
          try {
            await removePod(cri, limits, cmd.uid);
            await files?.removePodHostsFile(cmd.uid);
            ctx.deps.configData?.unregisterPod(cmd.uid);
          } catch (e) {
            error = errText(e);
          }
          reply({ type: 'runtime.podRemoved', uid: cmd.uid, seq: cmd.seq, error });
        }
      } finally {
        busy.delete(cmd.uid);
        // (a restarted podWorkers may have started another sync of the pod meanwhile)
        if (sync) {
          if (syncs.get(cmd.uid) === sync) syncs.delete(cmd.uid);
        } else held.delete(cmd.uid);
        if (cmd.type === 'runtime.removePod') refusals.delete(cmd.uid);
      }
    }

    /** A kill came while the sync `seq` runs: it stops at its next CRI call boundary. */
    const cancelSync = (uid: string, seq: number) => {
      const sync = syncs.get(uid);
      if (!sync || sync.seq !== seq || sync.abort.signal.aborted) return;
      sync.abort.abort(new SyncCancelled(uid, seq));
      busy.set(uid, 'runtime.syncPod (cancelling)');
    };

    ctx.on(ctx.bus.events('runtime'), (cmd) => {
      if (cmd.type === 'runtime.cancelSync') cancelSync(cmd.uid, cmd.seq);
      else ctx.run(handle(cmd));
    });

    // upstream checks the host's resolver file once as the syncLoop starts: a Warning on the node
    if (files && dns.resolvConf !== '') {
      const path = dns.resolvConf;
      ctx.run(
        files
          .readResolvConf(path)
          .then(
            (text) => ({ text }),
            (e: unknown) => ({ error: errText(e) }),
          )
          .then((read) => {
            const problem = checkLimitsForResolvConf(path, read, dns.clusterDomain);
            if (problem === undefined) return;
            ctx.log.warn('the resolver file is not fit for pods', { path, problem });
            ctx.bus.send(
              'events',
              recordEvent(nodeRef(ctx.deps.nodeName), 'Warning', 'CheckLimitsForResolvConf', problem),
            );
          }),
      );
    }

    // Runtime health: Status every period; while failing, retry with doubling backoff.
    const period = ctx.deps.statusPeriodMs ?? 5000;
    let failDelay = 1000;
    const checkHealth = async () => {
      let next = period;
      try {
        const [v, s] = await Promise.all([cri.version({ timeoutMs: 5000 }), cri.status({ timeoutMs: 5000 })]);
        const cond = (t: string) => s.status?.conditions.find((c) => c.type === t);
        const rr = cond('RuntimeReady');
        const nr = cond('NetworkReady');
        health = {
          ready: rr?.status === true,
          networkReady: nr?.status === true,
          runtimeName: v.runtimeName,
          runtimeVersion: v.runtimeVersion,
          reason:
            rr?.status === true
              ? nr?.status === true
                ? ''
                : `network not ready: ${nr?.reason ?? ''} ${nr?.message ?? ''}`.trim()
              : `runtime not ready: ${rr?.reason ?? 'no RuntimeReady condition'} ${rr?.message ?? ''}`.trim(),
          lastOk: ctx.clock.now(),
          features: { supplementalGroupsPolicy: s.features?.supplementalGroupsPolicy === true },
        };
        failDelay = 1000;
      } catch (e) {
        const was = health.ready;
        health = { ...health, ready: false, networkReady: false, reason: `container runtime is down: ${errText(e)}` };
        if (was || failDelay === 1000)
          ctx.log.warn('container runtime not ready', { reason: health.reason, retryInMs: failDelay });
        next = failDelay;
        failDelay = Math.min(failDelay * 2, HEALTH_MAX_BACKOFF_MS);
      }
      backoff.gc(ctx.clock.now());
      const prev = ctx.bus.current('runtimeHealth');
      if (
        !prev ||
        prev.ready !== health.ready ||
        prev.reason !== health.reason ||
        prev.runtimeVersion !== health.runtimeVersion
      ) {
        if (health.ready && !prev?.ready) {
          ctx.log.info('container runtime is ready', {
            runtime: `${health.runtimeName} ${health.runtimeVersion}`,
            after: prev?.reason || undefined,
          });
        }
        ctx.bus.publish('runtimeHealth', health);
      }
      if (!ctx.stopped) ctx.setTimeout(() => ctx.run(checkHealth()), next);
    };
    ctx.run(checkHealth());

    // backoff: uid → per container the crash-loop and image-pull backoff (delay, next retry)
    // limits: per bound, the CRI calls in flight, waiting, and the most ever in flight at once
    ctx.setInspect(() => ({
      health,
      busy: Object.fromEntries(busy),
      limits: { stops: limits.stops.stats(), creates: limits.creates.stats() },
      backoff: backoffByPod({
        now: ctx.clock.now(),
        crash: backoff.state,
        pulls: images.inspect?.().backoff ?? [],
        held,
        pod: (uid) => ctx.bus.current('desiredPods')?.get(uid)?.pod,
      }),
    }));
  },
};

/**
 * The terminal phase a pod already has, if any: the API server's (status.phase) or the status
 * manager's cached one (upstream isAdmittedPodTerminal / the pod worker's terminal check).
 */
export function terminalPhaseOf(pod: Pod, cached: PodStatus | undefined): 'Succeeded' | 'Failed' | undefined {
  for (const phase of [pod.status?.phase, cached?.phase]) {
    if (isTerminalPhase(phase)) return phase;
  }
  return undefined;
}

/** The containers whose liveness or startup probe failed, from the prober's results (upstream's results managers). */
export function probeFailures(results: ProbeResults | undefined): Record<string, 'liveness' | 'startup'> {
  const out: Record<string, 'liveness' | 'startup'> = {};
  for (const [id, r] of results?.byContainer ?? []) {
    if (r.liveness === 'failure') out[id] = 'liveness';
    else if (r.startup === 'failure') out[id] = 'startup';
  }
  return out;
}

/** The containers whose startupProbe passed: a sidecar's gates the next init container. */
export function startupSucceeded(results: ProbeResults | undefined): Set<string> {
  const out = new Set<string>();
  for (const [id, r] of results?.byContainer ?? []) if (r.startup === 'success') out.add(id);
  return out;
}

/** A container of the pod by name: a regular one or an init container (a sidecar). */
function specOf(pod: Pod, name: string): Container | undefined {
  return [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === name);
}

/** upstream killContainer: a probe's own terminationGracePeriodSeconds wins for the kill it causes. */
export function killGrace(pod: Pod, why: ContainerToKill, podGrace: number): number {
  const c = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === why.name);
  const probe =
    why.reason === 'LivenessProbe' ? c?.livenessProbe : why.reason === 'StartupProbe' ? c?.startupProbe : undefined;
  return probe?.terminationGracePeriodSeconds ?? podGrace;
}

/**
 * The pod's sandboxes and containers as the CRI reports them (upstream GetPodStatus). The status
 * calls go STATUS_READ_CONCURRENCY at a time (upstream reads them one by one), and stop early,
 * with the signal's reason, once `signal` is aborted.
 */
export async function getPodStatus(
  ctx: ActorContext<RuntimeDeps, typeof io>,
  cri: CriRuntime,
  uid: string,
  name: string,
  namespace: string,
  signal?: AbortSignal,
): Promise<RuntimePodStatus> {
  const selector = { labelSelector: { [LABEL_POD_UID]: uid } };
  const [sandboxes, containers] = await Promise.all([cri.listPodSandbox(selector), cri.listContainers(selector)]);
  const notFoundIsGone = <T>(p: Promise<T>): Promise<T | null> =>
    p.catch((e: unknown) => {
      if (isCriError(e, 'NotFound')) return null;
      throw e;
    });
  const sandboxStatuses = (
    await mapLimited(sandboxes, STATUS_READ_CONCURRENCY, (s) => notFoundIsGone(cri.podSandboxStatus(s.id)), signal)
  ).filter((s): s is PodSandboxStatus => s !== null);
  const containerStatuses = (
    await mapLimited(containers, STATUS_READ_CONCURRENCY, (c) => notFoundIsGone(cri.containerStatus(c.id)), signal)
  ).filter((c): c is CriContainerStatus => c !== null);
  // (ContainerStatus does not say the sandbox; the listing does)
  const sandboxOf = Object.fromEntries(containers.map((c) => [c.id, c.podSandboxId]));
  const status = runtimePodStatusFromCri(uid, sandboxStatuses, containerStatuses, ctx.clock.now(), sandboxOf);
  return { ...status, name: status.name || name, namespace: status.namespace || namespace };
}

/**
 * Stop every running container (in parallel as upstream, at most STOP_CONCURRENCY at a time on
 * the node, each with a Killing event as its StopContainer is issued), then every sandbox.
 * Sidecars stop last, one after the other in reverse order (terminationStages), each with at
 * least 2 s of what is left.
 * The grace period is a deadline for the whole pod, as when upstream stops them all at once: a
 * container that waited for a slot gets what is left of it (down to 0, SIGKILL at once), so a pod
 * of 1,000 containers that ignore SIGTERM takes one grace period plus the SIGKILLs, not 63 grace
 * periods. Without the pod (an orphan) its identity comes from the labels. Every running
 * container's preStop hook starts at once as the kill begins (upstream's killContainer runs it
 * before the container waits for its turn), within the grace; the container's stop waits for it.
 */
async function killPodContainers(
  ctx: ActorContext<RuntimeDeps, typeof io>,
  cri: CriRuntime,
  limits: CriLimits,
  status: RuntimePodStatus,
  grace: number,
  pod: Pod | null,
  events: RuntimeRecorder,
  preStop: PreStop,
): Promise<void> {
  const running = status.containers.filter(
    (c) => c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED' || c.state === 'CONTAINER_UNKNOWN',
  );
  const who: PodLike = pod ?? { metadata: { name: status.name, namespace: status.namespace, uid: status.uid } };
  const deadline = ctx.clock.now() + grace * 1000;
  const podIP =
    sortPodIps(runtimePodIps(status), ctx.deps.hostIP)[0] ?? (pod?.spec.hostNetwork ? (ctx.deps.hostIP ?? '') : '');
  // upstream: every container's preStop hook starts as the kill begins (its Killing event first),
  // a sidecar's too; each container then waits for its turn (terminationStages) and is stopped
  const hooks = new Map(
    running.map((c) => {
      const target = preStopTarget(pod, c, status);
      if (target && c.state === 'CONTAINER_RUNNING' && grace > 0) events.killing(who, c.name);
      return [c.id, preStop(target, c, grace, podIP)] as const;
    }),
  );
  let failed: unknown;
  for (const [i, stage] of terminationStages(pod, running).entries()) {
    // a sidecar that waited for its turn still gets upstream's 2 s minimum (never more than the grace);
    // a container whose preStop hook ran gets at least 2 s after it, as upstream
    await allSettled(
      stage.map(async (c) => {
        const ran = await hooks.get(c.id)!;
        const floor = ran ? MIN_GRACE_SECONDS : i > 0 ? Math.min(MIN_GRACE_SECONDS, grace) : 0;
        await limits.stops.run(async () => {
          const left = Math.max(floor, Math.ceil((deadline - ctx.clock.now()) / 1000));
          if (!ran) events.killing(who, c.name);
          try {
            await cri.stopContainer(c.id, left, { timeoutMs: (left + 30) * 1000 });
          } catch (e) {
            if (!isCriError(e, 'NotFound')) throw e;
          }
        });
      }),
    ).catch((e: unknown) => {
      failed ??= e;
    });
  }
  if (failed !== undefined) throw failed;
  for (const s of status.sandboxes) {
    try {
      await limits.stops.run(() => cri.stopPodSandbox(s.id));
    } catch (e) {
      if (!isCriError(e, 'NotFound')) throw e;
    }
  }
  if (running.length + status.sandboxes.length > 0) {
    ctx.log.info(
      'pod killed',
      { pod: `${status.namespace}/${status.name}`, uid: status.uid, containers: running.length, grace },
      2,
    );
  }
}

/**
 * Waits for every call, then throws the first failure: a failed kill is retried only once all of
 * its stops have ended, so a retry never queues the same stops a second time.
 */
async function allSettled(calls: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(calls)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Remove every container (in parallel, within STOP_CONCURRENCY) and sandbox of a terminated pod. */
async function removePod(cri: CriRuntime, limits: CriLimits, uid: string): Promise<void> {
  const selector = { labelSelector: { [LABEL_POD_UID]: uid } };
  // by ID: the runtime's list order is its map order, and a recorded session must replay in the same order
  const containers = (await cri.listContainers(selector)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  await allSettled(containers.map((c) => limits.stops.run(() => cri.removeContainer(c.id))));
  for (const s of await cri.listPodSandbox(selector)) {
    await limits.stops.run(() => cri.stopPodSandbox(s.id));
    await limits.stops.run(() => cri.removePodSandbox(s.id));
  }
}
