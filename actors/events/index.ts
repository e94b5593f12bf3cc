/**
 * events: the kubelet's event recorder (client-go's EventBroadcaster + EventCorrelator +
 * recordToSink, as the upstream kubelet wires them).
 *
 * Every `event.record` on the `events` channel is stamped with the time it was recorded (its name,
 * firstTimestamp and lastTimestamp, as upstream's recorder makes the Event in Eventf) and queued
 * (at most 1000, upstream's
 * maxQueuedEvents; beyond that the new event is dropped and counted, never blocking the sender),
 * then written one at a time: correlated (logic.ts), throttled by a token bucket
 * (eventRecordQPS 50 / eventBurst 100, upstream's event client limits), and created or patched.
 *
 * Upstream's retry rules: a transport failure (no answer: ApiError code 0, or anything that is
 * not an ApiError) is retried up to 12 tries, 10s apart (the first wait randomized), holding the
 * queue; an answer from the server that refuses the event (any Status: 4xx, 5xx, 429 after the
 * client's own retries) abandons it, logged; a 404 on a patch (the Event expired) creates it anew.
 *
 * Without an API (standalone) events are only logged, at -v=2.
 */
import { channels, type ActorSpec } from '../../kernel/actor.ts';
import { defaultPolicy } from '../../kernel/actor.ts';
import { ApiError, type Event, type EventApi } from '../../protocols/kube/api.ts';
import { TokenBucket } from '../../adapters/kube/client.ts';
import type { EventRecord } from '../../protocols/messages/events.ts';
import { EventCorrelator, makeEvent } from './logic.ts';
import { errText } from '../../kernel/log.ts';

export interface EventsDeps {
  /** Absent in standalone mode: events are logged only. */
  api?: EventApi;
  nodeName: string;
  /** Upstream eventRecordQPS (default 50); 0 = no limit. */
  qps?: number;
  /** Upstream eventBurst (default 100). */
  burst?: number;
  /** Upstream maxQueuedEvents (default 1000). */
  queueSize?: number;
  /** Upstream maxTriesPerEvent (default 12). */
  maxTries?: number;
  /** Upstream defaultSleepDuration between tries (default 10s; the first is randomized). */
  retryDelayMs?: number;
  random?: () => number;
}

export interface EventsStats {
  received: number;
  created: number;
  patched: number;
  /** Over the per-object spam budget (25, then one per 5 minutes). */
  skipped: number;
  /** The queue was full. */
  dropped: number;
  /** Refused by the server, or retry limit exceeded. */
  failed: number;
  retries: number;
  queued: number;
}

/** A Status from the server: the event will never be accepted as it is. */
const isRefusal = (e: unknown): e is ApiError => e instanceof ApiError && e.code > 0;

/** The bus channels it uses (its context is narrowed to them). */
const io = channels({ consumes: ['events'] });

export const events: ActorSpec<EventsDeps, typeof io> = {
  ...defaultPolicy,
  id: 'events',
  dependsOn: [],
  channels: io,
  start(ctx) {
    const { api, nodeName } = ctx.deps;
    const source = { component: 'kubelet', host: nodeName };
    const queueSize = ctx.deps.queueSize ?? 1000;
    const maxTries = ctx.deps.maxTries ?? 12;
    const retryDelayMs = ctx.deps.retryDelayMs ?? 10_000;
    const random = ctx.deps.random ?? Math.random;
    const qps = ctx.deps.qps ?? 50;
    const bucket = qps > 0 ? new TokenBucket(qps, ctx.deps.burst ?? 100, () => ctx.clock.now()) : undefined;
    const correlator = new EventCorrelator();
    const stats: EventsStats = {
      received: 0,
      created: 0,
      patched: 0,
      skipped: 0,
      dropped: 0,
      failed: 0,
      retries: 0,
      queued: 0,
    };
    /** Records with the time they were recorded: after an API outage they still say when they happened. */
    const queue: { rec: EventRecord; at: number; seq: number }[] = [];
    let seq = 0;
    let pumping = false;
    let lastError = '';
    let lastDropLog = -Infinity;

    const sleep = (ms: number) => new Promise<void>((r) => ctx.setTimeout(r, ms));

    const logEvent = (rec: EventRecord, level: number) => {
      const o = rec.involvedObject;
      ctx.log.info(
        'Event occurred',
        {
          object: o.namespace ? `${o.namespace}/${o.name}` : o.name,
          fieldPath: o.fieldPath,
          kind: o.kind,
          apiVersion: o.apiVersion,
          type: rec.eventType,
          reason: rec.reason,
          message: rec.message,
        },
        level,
      );
    };

    /** One try; true when done with this event (written or abandoned), false to retry. */
    const tryWrite = async (api: EventApi, event: Event, key: string, patch: object | undefined): Promise<boolean> => {
      const ns = event.metadata.namespace || 'default';
      const throttle = async () => {
        const wait = bucket?.reserve() ?? 0;
        if (wait > 0) await sleep(wait);
      };
      try {
        let written: Event | undefined;
        if (patch && (event.count ?? 1) > 1) {
          await throttle();
          try {
            written = await api.patchEvent(ns, event.metadata.name, patch, 'strategic');
            stats.patched++;
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 404)) throw e;
          }
        }
        if (!written) {
          await throttle();
          const { resourceVersion: _rv, ...metadata } = event.metadata;
          written = await api.createEvent(ns, { ...event, metadata: metadata as Event['metadata'] });
          stats.created++;
        }
        correlator.updateState(written, key);
        return true;
      } catch (e) {
        lastError = errText(e);
        if (isRefusal(e)) {
          stats.failed++;
          if (e.code === 409 && e.reason === 'AlreadyExists')
            ctx.log.info(
              'Server rejected event (will not retry!)',
              { event: event.metadata.name, error: lastError },
              5,
            );
          else
            ctx.log.warn('Server rejected event (will not retry!)', {
              event: event.metadata.name,
              reason: event.reason,
              error: lastError,
            });
          return true;
        }
        ctx.log.info(
          'Unable to write event (may retry after sleeping)',
          { event: event.metadata.name, error: lastError },
          2,
        );
        return false;
      }
    };

    const writeOne = async (api: EventApi, rec: EventRecord, at: number, n: number) => {
      // correlation runs on the time it happens, as upstream's recordToSink does
      const result = correlator.correlate(makeEvent(rec, source, at, n), ctx.clock.now());
      if (result.skip) {
        stats.skipped++;
        return;
      }
      for (let tries = 1; ; tries++) {
        if (await tryWrite(api, result.event, result.key, result.patch)) return;
        if (tries >= maxTries) {
          stats.failed++;
          ctx.log.warn('Unable to write event (retry limit exceeded!)', {
            event: result.event.metadata.name,
            reason: rec.reason,
            error: lastError,
          });
          return;
        }
        stats.retries++;
        // the first wait is randomized so that kubelets do not all come back at once
        await sleep(tries === 1 ? Math.floor(retryDelayMs * random()) : retryDelayMs);
      }
    };

    const pump = async () => {
      if (pumping || !api) return;
      pumping = true;
      try {
        while (queue.length > 0 && !ctx.stopped) {
          const { rec, at, seq: n } = queue.shift()!;
          stats.queued = queue.length;
          try {
            await writeOne(api, rec, at, n);
          } catch (e) {
            // a bug in correlation must not take the recorder down with the event
            stats.failed++;
            lastError = errText(e);
            ctx.log.error('event recorder: could not process event', { reason: rec.reason, error: lastError });
          }
        }
      } finally {
        pumping = false;
      }
    };

    ctx.on(ctx.bus.events('events'), (rec) => {
      if (rec.type !== 'event.record') return;
      stats.received++;
      if (!api) {
        logEvent(rec, 2);
        return;
      }
      logEvent(rec, 3);
      if (queue.length >= queueSize) {
        stats.dropped++;
        // log a flood of drops once a minute, not once per event
        if (ctx.clock.now() - lastDropLog >= 60_000) {
          lastDropLog = ctx.clock.now();
          ctx.log.warn('Unable to record event: too many queued events, dropped event', {
            reason: rec.reason,
            object: rec.involvedObject.name,
            dropped: stats.dropped,
          });
        }
        return;
      }
      queue.push({ rec, at: ctx.clock.now(), seq: seq++ });
      stats.queued = queue.length;
      ctx.run(pump());
    });

    ctx.setInspect(() => ({
      ...stats,
      queued: queue.length,
      lastError: lastError || undefined,
      correlator: correlator.sizes(),
      mode: api ? 'api' : 'log-only',
    }));
  },
};
