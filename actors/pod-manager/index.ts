/**
 * podManager: the node's desired pods (upstream pod_manager.go). It applies pod-config's
 * ADD / UPDATE / REMOVE to the `desiredPods` view (its single writer) and only then tells the
 * syncLoop (`podManager.podChanged`), so a sync never looks up a pod the view lacks.
 * Mirror pods join here with the API source. It also owns the `readySources` view: the sources
 * that have sent `config.sourcesReady` (housekeeping waits for every configured one).
 *
 * Admission (upstream HandlePodAdditions → canAdmitPod): each ADDED pod, oldest first, is checked
 * (admission.ts) against the `node` view and the pods already admitted and still active. A
 * rejected pod stays in the view with `rejected` set (the syncLoop never starts it, the status
 * manager writes it Failed), its podChanged is still sent, and a Warning event carries the
 * reason and message. Updates never re-admit: a rejected pod stays rejected, an admitted one
 * stays admitted.
 *
 * Active pods (upstream filterOutInactivePods): admitted, not known terminated by its worker, and
 * not terminal (the API's phase or the status manager's: upstream isAdmittedPodTerminal) unless
 * its worker is still terminating. Right after a restart the status cache and the workers are
 * empty, so the API's phase is what keeps finished pods from counting against the node.
 *
 * Pods with a deletionTimestamp or a terminal phase in the API skip admission: nothing will run
 * them, and a rejection would leave a deleted pod without a worker to finish it.
 *
 * Restart: upstream re-admits every pod of the first ADD, oldest first, each against the ones
 * admitted before it. kubelet-ts keeps that order and counting, with one deliberate difference:
 * a pod that already runs on this node (the runtime holds its containers or sandbox, or a pod
 * worker knows it) is admitted without checks (DESIGN: a restart never disturbs running pods;
 * upstream may reject it, and then kills it), and such pods are admitted first within their
 * batch, so every new pod is checked against everything that holds resources on the node now.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import type { ConfigEvent, DesiredPod, PodSource } from '../../protocols/messages/channels.ts';
import { podRef, recordEvent } from '../../protocols/messages/events.ts';
import { isTerminalPhase, type Pod } from '../../protocols/kube/pod.ts';
import { admitPod, type AdmittedPod } from './admission.ts';
import type { SysctlAllowlist } from '../../protocols/kube/security.ts';
import { readinessGatesChanged } from './readiness.ts';

export interface PodManagerDeps {
  /** The node name spec.nodeName is checked against while there is no `node` view (standalone). */
  nodeName?: string;
  /** --max-pods, the pod limit while the Node does not give one (default 110). */
  maxPods?: number;
  /**
   * Cluster mode: a new pod from the API waits for the `node` view (allocatable, labels, taints)
   * before it is admitted, instead of being admitted unchecked in the moments between the first
   * pod list and the Node's registration. Pods already running here are never held.
   */
  waitForNode?: boolean;
  /** The safe sysctls and --allowed-unsafe-sysctls (default: the safe set). */
  sysctls?: SysctlAllowlist;
  /** Why the node cannot enforce AppArmor; undefined when it can (bin/kubelet.ts reads the kernel's flag). */
  appArmorHostError?: string;
}

function isStaticSource(source: PodSource): boolean {
  return source === 'file' || source === 'http';
}

/** Upstream sorts additions by creation time before admitting them one by one. */
function byCreation(a: Pod, b: Pod): number {
  const ta = a.metadata?.creationTimestamp ?? '';
  const tb = b.metadata?.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['config'],
  produces: ['events', 'podManager'],
  reads: ['node', 'nodeShutdown', 'podStatuses', 'podWorkerStates', 'runtimeHealth', 'runtimePods'],
  writes: ['desiredPods', 'readySources'],
});

export const podManager: ActorSpec<PodManagerDeps, typeof io> = {
  ...defaultPolicy,
  id: 'podManager',
  dependsOn: [],
  channels: io,
  start(ctx) {
    // A restarted instance resumes from the view it published before (it is the only writer).
    const pods = new Map<string, DesiredPod>(ctx.bus.current('desiredPods') ?? []);
    const publish = () => ctx.bus.publish('desiredPods', new Map(pods));
    let rejectedCount = 0;

    /** Upstream filterOutInactivePods: admitted, not known terminated, not terminal (unless terminating). */
    const activePods = (except: string): AdmittedPod[] => {
      const statuses = ctx.bus.current('podStatuses');
      const workers = ctx.bus.current('podWorkerStates');
      const out: AdmittedPod[] = [];
      for (const [uid, d] of pods) {
        if (uid === except || d.rejected) continue;
        const worker = workers?.get(uid)?.state;
        if (worker === 'terminated') continue;
        const terminal = isTerminalPhase(d.pod.status?.phase) || isTerminalPhase(statuses?.get(uid)?.phase);
        if (terminal && worker !== 'terminating') continue;
        out.push({ pod: d.pod, static: d.static });
      }
      return out;
    };

    /** Already on this node: containers or a sandbox in the runtime, or a pod worker for it. */
    const runsHere = (uid: string): boolean => {
      if (ctx.bus.current('podWorkerStates')?.has(uid)) return true;
      const rp = ctx.bus.current('runtimePods')?.get(uid);
      return rp !== undefined && rp.containerIds.length + rp.sandboxIds.length > 0;
    };

    const admit = (entry: DesiredPod, uid: string): DesiredPod => {
      const pod = entry.pod;
      const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      // Being deleted or already finished (upstream admits only pods whose termination nobody
      // requested): never rejected, the syncLoop stops whatever of it runs. A pod rejected
      // before a restart comes back Failed and stays that way, with its reason.
      if (pod.metadata?.deletionTimestamp || isTerminalPhase(pod.status?.phase)) return entry;
      if (runsHere(uid)) {
        ctx.log.info('pod already running on this node admitted without checks', { pod: name, uid }, 2);
        return entry;
      }
      const result = admitPod({
        pod,
        static: entry.static,
        node: ctx.bus.current('node'),
        others: activePods(uid),
        shuttingDown: ctx.bus.current('nodeShutdown')?.shuttingDown === true,
        nodeName: ctx.deps.nodeName,
        maxPods: ctx.deps.maxPods,
        sysctls: ctx.deps.sysctls,
        appArmorHostError: ctx.deps.appArmorHostError,
        supplementalGroupsPolicy: ctx.bus.current('runtimeHealth')?.features?.supplementalGroupsPolicy ?? false,
      });
      if (result.admit) {
        if (result.overcommitted) {
          ctx.log.warn(
            'critical pod admitted over insufficient resources (no preemption: the node is over-committed)',
            { pod: name, uid, reasons: result.overcommitted },
          );
        }
        return entry;
      }
      rejectedCount++;
      ctx.log.warn('pod rejected by admission', { pod: name, uid, reason: result.reason, message: result.message });
      ctx.bus.send('events', recordEvent(podRef(pod), 'Warning', result.reason, result.message));
      return { ...entry, rejected: { reason: result.reason, message: result.message } };
    };

    // New API pods held until the Node is known (waitForNode), by uid: the newest spec of each.
    const held = new Map<string, Pod>();
    const mustWait = (source: PodSource, pod: Pod): boolean => {
      const uid = pod.metadata?.uid ?? '';
      if (held.has(uid)) return true;
      if (!ctx.deps.waitForNode || source !== 'api' || ctx.bus.current('node') !== undefined) return false;
      if (pods.has(uid) || runsHere(uid)) return false;
      return !pod.metadata?.deletionTimestamp && !isTerminalPhase(pod.status?.phase);
    };

    const apply = (m: ConfigEvent) => {
      if (m.type !== 'config.podsAdded' && m.type !== 'config.podsUpdated' && m.type !== 'config.podsRemoved') return;
      const changes: { op: 'add' | 'update' | 'remove'; pod: Pod }[] = [];
      let incoming = m.pods.filter((pod) => {
        if (!mustWait(m.source, pod)) return true;
        const uid = pod.metadata.uid!;
        if (m.type === 'config.podsRemoved') held.delete(uid);
        else {
          if (!held.has(uid))
            ctx.log.info(
              'pod waits for the Node before admission',
              { pod: `${pod.metadata.namespace}/${pod.metadata.name}`, uid },
              2,
            );
          held.set(uid, pod);
        }
        return false;
      });
      if (m.type === 'config.podsAdded') {
        // Oldest first (upstream); pods already running here before the rest (see above).
        const sorted = [...incoming].sort(byCreation);
        const here = sorted.filter((p) => p.metadata?.uid && !pods.has(p.metadata.uid) && runsHere(p.metadata.uid));
        incoming = [...here, ...sorted.filter((p) => !here.includes(p))];
      }
      for (const pod of incoming) {
        const uid = pod.metadata?.uid;
        if (!uid) {
          ctx.log.warn('pod without uid ignored', { source: m.source, pod: pod.metadata?.name });
          continue;
        }
        if (m.type === 'config.podsRemoved') {
          if (pods.delete(uid)) changes.push({ op: 'remove', pod });
          continue;
        }
        const prev = pods.get(uid);
        const entry: DesiredPod = { pod, source: m.source, static: isStaticSource(m.source) };
        if (prev) {
          if (prev.rejected) entry.rejected = prev.rejected;
          pods.set(uid, entry);
          changes.push({ op: 'update', pod });
        } else {
          pods.set(uid, admit(entry, uid));
          changes.push({ op: 'add', pod });
        }
      }
      if (changes.length === 0) return;
      publish();
      for (const c of changes) ctx.bus.send('podManager', { type: 'podManager.podChanged', op: c.op, pod: c.pod });
    };

    ctx.on(ctx.bus.events('config'), apply);

    // The sources that have delivered their first complete set (upstream PodConfig's seen
    // sources), as a view: the syncLoop and mirror-pods read it whenever they start, so a source
    // that became ready before they subscribed (or while they restarted) is never lost. A
    // restarted instance resumes from the view it published before.
    const ready = new Set<PodSource>(ctx.bus.current('readySources') ?? []);
    ctx.on(ctx.bus.events('config'), (m) => {
      if (m.type !== 'config.sourcesReady' || ready.has(m.source)) return;
      ready.add(m.source);
      ctx.log.info('pod source ready (it has listed once)', { source: m.source }, 2);
      ctx.bus.publish('readySources', new Set(ready));
    });
    // The Node is known: the held pods are admitted now, oldest first, as one batch.
    ctx.on(ctx.bus.view('node'), () => {
      if (held.size === 0) return;
      const batch = [...held.values()];
      held.clear();
      apply({ type: 'config.podsAdded', source: 'api', pods: batch });
    });

    // Status-only changes (upstream HandlePodReconcile): the stored pod takes the new status,
    // which later syncs read; a sync now only when a readiness gate's condition changed.
    ctx.on(ctx.bus.events('config'), (m) => {
      if (m.type !== 'config.podsReconciled') return;
      const synced: Pod[] = [];
      let stored = false;
      for (const pod of m.pods) {
        const prev = pods.get(pod.metadata?.uid ?? '');
        if (!prev) continue;
        pods.set(pod.metadata.uid, { ...prev, pod });
        stored = true;
        if (readinessGatesChanged(prev.pod, pod)) synced.push(pod);
      }
      if (stored) publish();
      for (const pod of synced) ctx.bus.send('podManager', { type: 'podManager.podChanged', op: 'update', pod });
    });
    ctx.setInspect(() => ({
      readySources: [...ready],
      rejectedTotal: rejectedCount,
      waitingForNode: [...held.values()].map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      pods: [...pods.values()].map((d) => ({
        uid: d.pod.metadata?.uid,
        name: `${d.pod.metadata?.namespace}/${d.pod.metadata?.name}`,
        source: d.source,
        static: d.static,
        ...(d.rejected ? { rejected: d.rejected } : {}),
      })),
    }));
    publish();
  },
};
