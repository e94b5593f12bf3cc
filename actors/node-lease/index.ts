/**
 * node-lease: the node heartbeat, upstream's lease controller
 * (component-helpers/apimachinery/lease/controller.go) with the kubelet's owner-reference hook.
 *
 * The Lease kube-node-lease/<node> has holderIdentity <node>, leaseDurationSeconds 40, and its
 * spec.renewTime is set to now every renewInterval (0.25 × 40s = 10s, plus up to 4% jitter,
 * measured from the end of the previous sync: wait.JitterUntil sliding).
 *
 * One sync:
 *   latest lease known ─▶ update it (PUT with its resourceVersion) ──ok──▶ done
 *          │ no / failed 5 times
 *          ▼
 *   ensure: GET ── 404 ─▶ CREATE (with the owner reference) ─▶ done (just created = renewed)
 *          │ found                 (owner unknown: do not create; next interval)
 *          ▼
 *   update up to 5 times; a 409 Conflict re-reads the lease (ensure) before the next try.
 * Ensure itself retries on any error after 200ms, doubling to 7s, until it succeeds.
 *
 * The owner reference (apiVersion v1, kind Node, name, uid) makes the Lease go away with the
 * Node; it needs the Node's uid, read with a GET of the Node as upstream's setNodeOwnerFunc does
 * (the `node` view can still hold a Node deleted moments ago: a Lease owned by it would be
 * garbage-collected with it), the view's uid only when the GET gets no answer about the Node
 * (no connection, 5xx, 403; a 404 means there is no Node to own it). It is set whenever the
 * lease has none, "until successful" as upstream says. Failing to learn the uid blocks a
 * CREATE but never an UPDATE.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy, serial } from '../../kernel/actor.ts';
import { ApiError, type Lease, type LeaseApi, type NodeApi } from '../../protocols/kube/api.ts';
import { errText } from '../../kernel/log.ts';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** Upstream maxUpdateRetries. */
const MAX_UPDATE_RETRIES = 5;
/** Upstream maxBackoff. */
const MAX_BACKOFF_MS = 7000;
/** wait.JitterUntil's factor in the kubelet's lease controller. */
const JITTER = 0.04;

export interface NodeLeaseDeps {
  api: LeaseApi & Pick<NodeApi, 'getNode'>;
  nodeName: string;
  /** Upstream nodeLeaseDurationSeconds (default 40). */
  leaseDurationSeconds?: number;
  /** Default 0.25 × the lease duration (upstream NodeLeaseRenewIntervalFraction). */
  renewIntervalMs?: number;
  random?: () => number;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ consumes: ['nodeControl'], reads: ['node'] });

export const nodeLease: ActorSpec<NodeLeaseDeps, typeof io> = {
  ...defaultPolicy,
  id: 'nodeLease',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { api, nodeName } = ctx.deps;
    const duration = ctx.deps.leaseDurationSeconds ?? 40;
    const renewInterval = ctx.deps.renewIntervalMs ?? duration * 250;
    const random = ctx.deps.random ?? Math.random;

    let latest: Lease | undefined;
    let nextTimer = false;
    const stats = {
      renewals: 0,
      creates: 0,
      conflicts: 0,
      failures: 0,
      lastRenew: '',
      lastError: '',
      state: 'starting',
    };

    const sleep = (ms: number) => new Promise<void>((r) => ctx.setTimeout(r, ms));

    /** The Node's uid for the owner reference: a live GET, else the `node` view (undefined when neither knows). */
    const nodeUid = async (): Promise<string | undefined> => {
      try {
        return (await api.getNode(nodeName)).metadata.uid || undefined;
      } catch (e) {
        const fromView = e instanceof ApiError && e.code === 404 ? undefined : ctx.bus.current('node')?.metadata.uid;
        ctx.log.info(
          'Failed to get node when trying to set owner ref to the node lease',
          { node: nodeName, error: errText(e), fallback: fromView ? 'node view' : 'none' },
          2,
        );
        return fromView || undefined;
      }
    };

    /** newLease: a fresh lease or a copy of `base`, renewed now, with the owner reference when it can be had. */
    const newLease = async (base: Lease | undefined): Promise<{ lease: Lease; ownerOk: boolean }> => {
      const lease: Lease = base
        ? { ...base, metadata: { ...base.metadata }, spec: { ...base.spec } }
        : {
            metadata: { name: nodeName, namespace: NODE_LEASE_NAMESPACE } as Lease['metadata'],
            spec: { holderIdentity: nodeName, leaseDurationSeconds: duration },
          };
      lease.spec.renewTime = microTime(ctx.clock.now());
      let ownerOk = true;
      if (!lease.metadata.ownerReferences?.length) {
        const uid = await nodeUid();
        if (uid) lease.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid }];
        else ownerOk = false;
      }
      return { lease, ownerOk };
    };

    /** ensureLease: the current lease, creating it when missing. Throws on API errors. */
    const ensureLease = async (): Promise<{ lease?: Lease; created: boolean }> => {
      try {
        return { lease: await api.getLease(NODE_LEASE_NAMESPACE, nodeName), created: false };
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
      const { lease, ownerOk } = await newLease(undefined);
      if (!ownerOk) return { created: false }; // retried at the next interval
      const created = await api.createLease(NODE_LEASE_NAMESPACE, lease);
      stats.creates++;
      return { lease: created, created: true };
    };

    const backoffEnsureLease = async (): Promise<{ lease?: Lease; created: boolean }> => {
      let delay = 100;
      for (;;) {
        try {
          return await ensureLease();
        } catch (e) {
          delay = Math.min(2 * delay, MAX_BACKOFF_MS);
          stats.failures++;
          stats.lastError = errText(e);
          stats.state = 'backoff';
          ctx.log.warn('failed to ensure lease exists, will retry', { retryInMs: delay, error: stats.lastError });
          await sleep(delay);
        }
      }
    };

    const retryUpdateLease = async (first: Lease): Promise<boolean> => {
      let base: Lease | undefined = first;
      for (let i = 0; i < MAX_UPDATE_RETRIES; i++) {
        if (!base) return false;
        const { lease } = await newLease(base);
        try {
          latest = await api.updateLease(NODE_LEASE_NAMESPACE, lease);
          stats.renewals++;
          return true;
        } catch (e) {
          stats.failures++;
          stats.lastError = errText(e);
          ctx.log.info('failed to update lease', { error: stats.lastError }, 2);
          if (e instanceof ApiError && e.code === 409) {
            // another writer (or a stale copy): re-read before trying again
            stats.conflicts++;
            base = (await backoffEnsureLease()).lease;
          }
        }
      }
      ctx.log.warn(`failed ${MAX_UPDATE_RETRIES} attempts to update lease`, {
        error: stats.lastError,
        retryInMs: renewInterval,
      });
      return false;
    };

    const sync = async (): Promise<void> => {
      if (latest && (await retryUpdateLease(latest))) return;
      if (latest)
        ctx.log.info(
          'failed to update lease using latest lease, fallback to ensure lease',
          { error: stats.lastError },
          2,
        );
      const { lease, created } = await backoffEnsureLease();
      latest = lease;
      if (lease && !created) await retryUpdateLease(lease);
    };

    const schedule = () => {
      if (ctx.stopped || nextTimer) return;
      nextTimer = true;
      ctx.setTimeout(
        () => {
          nextTimer = false;
          run();
        },
        renewInterval * (1 + random() * JITTER),
      );
    };

    // sync handles API errors itself; anything else is logged, and the next interval tries again
    const renewer = serial(
      ctx,
      async () => {
        stats.state = 'renewing';
        try {
          await sync();
        } finally {
          stats.lastRenew = latest?.spec.renewTime ?? stats.lastRenew;
          stats.state = latest ? 'renewed' : 'failing';
        }
      },
      {
        onError: (e) => {
          stats.failures++;
          stats.lastError = errText(e);
          ctx.log.error('node lease sync failed', { error: stats.lastError });
        },
        onIdle: () => schedule(),
      },
    );
    const run = renewer.trigger;

    ctx.on(ctx.bus.events('nodeControl'), (m) => {
      if (m.type === 'node.renewLease') run();
    });

    ctx.setInspect(() => ({
      ...stats,
      lease: latest
        ? {
            resourceVersion: latest.metadata.resourceVersion,
            renewTime: latest.spec.renewTime,
            owner: latest.metadata.ownerReferences?.[0]?.uid ?? null,
          }
        : null,
      renewIntervalMs: renewInterval,
    }));

    run();
  },
};
