/**
 * podManager: the node's desired pods (upstream pod_manager.go). It applies pod-config's
 * ADD / UPDATE / REMOVE to the `desiredPods` view (its single writer) and only then tells the
 * syncLoop (`podManager.podChanged`), so a sync never looks up a pod the view lacks.
 * Mirror pods join here with the API source.
 */
import type { ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import type { ConfigEvent, DesiredPod, PodSource } from '../../protocols/messages/channels.ts';
import type { Pod } from '../../protocols/kube/pod.ts';

export type PodManagerDeps = Record<string, never>;

function isStaticSource(source: PodSource): boolean {
  return source === 'file' || source === 'http';
}

export const podManager: ActorSpec<PodManagerDeps> = {
  ...defaultPolicy,
  id: 'podManager',
  dependsOn: [],
  start(ctx) {
    // A restarted instance resumes from the view it published before (it is the only writer).
    const pods = new Map<string, DesiredPod>(ctx.bus.current('desiredPods') ?? []);
    const publish = () => ctx.bus.publish('desiredPods', new Map(pods));

    const apply = (m: ConfigEvent) => {
      if (m.type !== 'config.podsAdded' && m.type !== 'config.podsUpdated' && m.type !== 'config.podsRemoved') return;
      const changes: { op: 'add' | 'update' | 'remove'; pod: Pod }[] = [];
      for (const pod of m.pods) {
        const uid = pod.metadata?.uid;
        if (!uid) {
          ctx.log.warn('pod without uid ignored', { source: m.source, pod: pod.metadata?.name });
          continue;
        }
        if (m.type === 'config.podsRemoved') {
          if (pods.delete(uid)) changes.push({ op: 'remove', pod });
          continue;
        }
        const op = pods.has(uid) ? 'update' : 'add';
        pods.set(uid, { pod, source: m.source, static: isStaticSource(m.source) });
        changes.push({ op, pod });
      }
      if (changes.length === 0) return;
      publish();
      for (const c of changes) ctx.bus.send('podManager', { type: 'podManager.podChanged', op: c.op, pod: c.pod });
    };

    ctx.on(ctx.bus.events('config'), apply);
    ctx.setInspect(() => ({
      pods: [...pods.values()].map((d) => ({
        uid: d.pod.metadata?.uid, name: `${d.pod.metadata?.namespace}/${d.pod.metadata?.name}`, source: d.source, static: d.static,
      })),
    }));
    publish();
  },
};
