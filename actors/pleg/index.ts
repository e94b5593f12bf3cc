/**
 * pleg: upstream's GenericPLEG as an actor. Every relistPeriodMs (1s) its own timer sends
 * `pleg.relist` on 'plegControl' (a spec sends it directly); a relist lists every sandbox and
 * container (all states), groups them by pod, diffs against the previous relist (relist.ts) and
 * sends the events on 'pleg' in a fixed order. It owns two views:
 * - `runtimePods`: the pods the last relist saw (published when it changes),
 * - `plegHealth`: unhealthy until the first relist succeeds and when none succeeded within the
 *   relist threshold (3 minutes, upstream's relistThreshold).
 *
 * Relists never overlap: a request while one is in flight is coalesced into one more relist
 * right after it. A CRI error is not a crash: the cache is kept, the error is recorded in
 * `plegHealth.lastError` and the next period retries (upstream logs and returns). Anything else
 * thrown is a bug and crashes the actor.
 *
 * After a (re)start the cache is empty, so the first relist reports every running container and
 * sandbox as started and every exited one as died, exactly as upstream's first relist does (the
 * old state of everything is "non-existent"). The syncLoop drops events for pods no source
 * wants, and a sync of a pod that is already in the desired state is a no-op, so this is safe.
 * A restarted instance does carry over `lastRelist` from the `plegHealth` view it owns, so a
 * quick restart does not flip the node's PLEG health.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import type { RuntimeService } from '../../protocols/cri/types.ts';
import type { PlegHealth } from '../../protocols/messages/channels.ts';
import { computeEvents, goDuration, groupByPod, sameRuntimePods, toRuntimePods } from './relist.ts';
import type { PodRecords } from './relist.ts';

export interface PlegDeps {
  cri: RuntimeService;
  /** Upstream's relist period: 1s. */
  relistPeriodMs?: number;
  /** Upstream's relistThreshold: 3 minutes without a successful relist is unhealthy. */
  relistThresholdMs?: number;
}

export const RELIST_PERIOD_MS = 1000;
export const RELIST_THRESHOLD_MS = 3 * 60_000;
/** While healthy, `plegHealth.lastRelist` is republished at most this often (the view is not a heartbeat). */
const HEALTH_REFRESH_MS = 10_000;

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({
  consumes: ['plegControl'],
  produces: ['pleg', 'plegControl', 'plegRelists'],
  writes: ['plegHealth', 'runtimePods'],
});

export const pleg: ActorSpec<PlegDeps, typeof io> = {
  ...defaultPolicy,
  id: 'pleg',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { cri } = ctx.deps;
    const period = ctx.deps.relistPeriodMs ?? RELIST_PERIOD_MS;
    const threshold = ctx.deps.relistThresholdMs ?? RELIST_THRESHOLD_MS;

    let records: PodRecords = new Map();
    const previous = ctx.bus.current('plegHealth');
    // Clock ms of the last successful relist; undefined until one succeeds (or carried over).
    let lastRelist: number | undefined =
      previous && (previous.healthy || previous.lastRelist > 0) ? previous.lastRelist : undefined;
    let relistError = '';
    let lastFailureAt = 0;
    let consecutiveFailures = 0;
    let relists = 0;
    let eventsSent = 0;
    let inFlight = false;
    let again = false;
    let published: PlegHealth | undefined;
    let everHealthy = false;

    const health = (): PlegHealth => {
      if (lastRelist === undefined) {
        return { healthy: false, lastRelist: 0, lastError: relistError || 'pleg has yet to be successful' };
      }
      const elapsed = ctx.clock.now() - lastRelist;
      if (elapsed > threshold) {
        return {
          healthy: false,
          lastRelist,
          lastError:
            relistError ||
            `pleg was last seen active ${goDuration(elapsed)} ago; threshold is ${goDuration(threshold)}`,
        };
      }
      return { healthy: true, lastRelist, lastError: relistError };
    };

    const publishHealth = () => {
      const h = health();
      const p = published;
      const changed =
        !p ||
        p.healthy !== h.healthy ||
        (h.healthy ? p.lastError !== h.lastError : relistError !== '' && p.lastError !== h.lastError) ||
        (h.healthy && h.lastRelist - p.lastRelist >= HEALTH_REFRESH_MS);
      if (!changed) return;
      if (p && p.healthy && !h.healthy) ctx.log.warn('PLEG is not healthy', { reason: h.lastError });
      if (p && !p.healthy && h.healthy && everHealthy) ctx.log.info('PLEG is healthy again');
      if (h.healthy) everHealthy = true;
      published = h;
      ctx.bus.publish('plegHealth', h);
    };

    const relistOnce = async () => {
      const timestamp = ctx.clock.now();
      // upstream's relist metrics: the interval since the last successful relist began, and this one's duration
      const since = lastRelist;
      const relisted = () =>
        ctx.bus.send('plegRelists', {
          type: 'pleg.relisted',
          durationMs: ctx.clock.now() - timestamp,
          ...(since !== undefined ? { intervalMs: timestamp - since } : {}),
        });
      let sandboxes;
      let containers;
      try {
        // Sequential, like upstream's GetPods: sandboxes first, then containers.
        sandboxes = await cri.listPodSandbox();
        containers = await cri.listContainers();
      } catch (e) {
        if (!isCriError(e)) throw e;
        if (ctx.stopped) return;
        if (consecutiveFailures === 0) ctx.log.warn('GenericPLEG: Unable to retrieve pods', { error: e.message });
        consecutiveFailures++;
        relistError = e.message;
        lastFailureAt = ctx.clock.now();
        publishHealth();
        relisted();
        return;
      }
      if (ctx.stopped) return;
      if (consecutiveFailures > 0)
        ctx.log.info('GenericPLEG: relist succeeded again', { failures: consecutiveFailures });
      consecutiveFailures = 0;
      relistError = '';
      lastRelist = timestamp;
      relists++;
      const next = groupByPod(sandboxes, containers);
      const events = computeEvents(records, next);
      records = next;
      const pods = toRuntimePods(next);
      if (!sameRuntimePods(ctx.bus.current('runtimePods'), pods)) ctx.bus.publish('runtimePods', pods);
      for (const ev of events) {
        ctx.log.info(
          'GenericPLEG',
          { podUID: ev.podUid, containerID: ev.containerId, event: ev.type, sandbox: ev.sandbox },
          4,
        );
        eventsSent++;
        ctx.bus.send('pleg', ev);
      }
      publishHealth();
      relisted();
    };

    const relist = async () => {
      inFlight = true;
      try {
        do {
          again = false;
          await relistOnce();
        } while (again && !ctx.stopped);
      } finally {
        inFlight = false;
      }
    };

    ctx.on(ctx.bus.events('plegControl'), (msg) => {
      if (msg.type !== 'pleg.relist') return;
      if (inFlight) {
        again = true;
        return;
      }
      ctx.run(relist());
    });

    ctx.setInterval(() => {
      publishHealth();
      ctx.bus.send('plegControl', { type: 'pleg.relist' });
    }, period);

    ctx.setInspect(() => {
      let containers = 0;
      let sandboxes = 0;
      for (const p of records.values()) {
        containers += p.containers.size;
        sandboxes += p.sandboxes.size;
      }
      const h = health();
      return {
        healthy: h.healthy,
        pods: records.size,
        sandboxes,
        containers,
        lastRelist: lastRelist ?? null,
        lastError: relistError,
        lastFailureAt,
        consecutiveFailures,
        relists,
        eventsSent,
        inFlight,
        relistPeriodMs: period,
      };
    });

    publishHealth();
    // Upstream's wait.Until runs the first relist at once.
    ctx.bus.send('plegControl', { type: 'pleg.relist' });
  },
};
