/**
 * client-go's event correlation (tools/record/events_cache.go), pure: no I/O, time passed in.
 *
 *   record ──makeEvent──▶ Event ──aggregate──▶ ──observe──▶ ──spam filter──▶ create | patch | skip
 *
 * - aggregate (EventAggregator): events alike but for the message (same source, object, type,
 *   reason, reporting controller/instance) seen with 10 distinct messages within 10 minutes are
 *   folded into one "(combined from similar events): <latest message>" event;
 * - observe (eventLogger): an event seen before under the same key (source, object incl. fieldPath,
 *   type, reason, message) becomes a PATCH of {count, lastTimestamp, message} onto the Event
 *   created the first time, keeping its name and firstTimestamp;
 * - spam filter (EventSourceObjectSpamFilter): per source+object a token bucket of 25, refilled
 *   one every 5 minutes; an event over budget is skipped (not written at all).
 * Every cache is an LRU of 4096 entries, as upstream.
 */
import type { Event, ObjectReference } from '../../protocols/kube/api.ts';
import { TokenBucket } from '../../adapters/kube/client.ts';
import type { EventRecord } from '../../protocols/messages/events.ts';

export const MAX_LRU_ENTRIES = 4096;
export const AGGREGATE_MAX_EVENTS = 10;
export const AGGREGATE_INTERVAL_MS = 600_000;
export const SPAM_BURST = 25;
export const SPAM_QPS = 1 / 300;
export const COMBINED_PREFIX = '(combined from similar events): ';

export interface EventSource {
  component: string;
  host: string;
}

/** metav1.Time: RFC 3339 with second precision. */
export function metaTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Upstream names events `<object>.<unix nanoseconds in hex>`; `seq` keeps names unique within one millisecond. */
export function eventName(refName: string, ms: number, seq: number): string {
  const nanos = BigInt(Math.floor(ms)) * 1_000_000n + BigInt(seq % 1_000_000);
  const suffix = `.${nanos.toString(16)}`;
  // a DNS subdomain is at most 253 characters
  return refName.slice(0, 253 - suffix.length) + suffix;
}

/** record.makeEvent plus the source and reporting fields the recorder sets. */
export function makeEvent(rec: EventRecord, source: EventSource, ms: number, seq: number): Event {
  const ref: ObjectReference = rec.involvedObject;
  const t = metaTime(ms);
  return {
    metadata: { name: eventName(ref.name, ms, seq), namespace: ref.namespace || 'default' } as Event['metadata'],
    involvedObject: ref,
    reason: rec.reason,
    message: rec.message,
    type: rec.eventType,
    source: { component: source.component, host: source.host },
    firstTimestamp: t,
    lastTimestamp: t,
    count: 1,
    reportingComponent: source.component,
    reportingInstance: source.host,
  };
}

const objectKey = (r: ObjectReference) => [r.kind, r.namespace ?? '', r.name, r.uid ?? '', r.apiVersion ?? ''];

export function getEventKey(e: Event): string {
  const r = e.involvedObject;
  return [
    e.source.component,
    e.source.host ?? '',
    r.kind,
    r.namespace ?? '',
    r.name,
    r.fieldPath ?? '',
    r.uid ?? '',
    r.apiVersion ?? '',
    e.type,
    e.reason,
    e.message,
  ].join('\u0000');
}

export function getSpamKey(e: Event): string {
  return [e.source.component, e.source.host ?? '', ...objectKey(e.involvedObject)].join('\u0000');
}

function aggregateKeys(e: Event): { aggregateKey: string; localKey: string } {
  return {
    aggregateKey: [
      e.source.component,
      e.source.host ?? '',
      ...objectKey(e.involvedObject),
      e.type,
      e.reason,
      e.reportingComponent ?? '',
      e.reportingInstance ?? '',
    ].join('\u0000'),
    localKey: e.message,
  };
}

/** A Map used as an LRU: get refreshes, set evicts the least recently used past `max`. */
export class Lru<V> {
  #m = new Map<string, V>();
  readonly max: number;
  constructor(max = MAX_LRU_ENTRIES) {
    this.max = max;
  }
  get(k: string): V | undefined {
    const v = this.#m.get(k);
    if (v !== undefined) {
      this.#m.delete(k);
      this.#m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.#m.delete(k);
    this.#m.set(k, v);
    if (this.#m.size > this.max) this.#m.delete(this.#m.keys().next().value!);
  }
  get size(): number {
    return this.#m.size;
  }
}

interface AggregateRecord {
  localKeys: Set<string>;
  lastTimestamp: number;
}

interface EventLog {
  count: number;
  firstTimestamp: string;
  name: string;
  resourceVersion?: string;
}

export type CorrelateResult =
  | { skip: true }
  | { skip: false; event: Event; key: string; patch?: { count: number; lastTimestamp: string; message: string } };

export class EventCorrelator {
  #aggregates = new Lru<AggregateRecord>();
  #logs = new Lru<EventLog>();
  #spam = new Lru<TokenBucket>();
  #nowForBuckets = 0;

  correlate(newEvent: Event, now: number): CorrelateResult {
    this.#nowForBuckets = now;
    const { event: aggregated, key } = this.#aggregate(newEvent, now);
    const { event, patch } = this.#observe(aggregated, key);
    if (this.#filter(event)) return { skip: true };
    return patch ? { skip: false, event, key, patch } : { skip: false, event, key };
  }

  /** The server's answer (name, resourceVersion, count) for the key the event was written under. */
  updateState(written: Event, key: string): void {
    this.#logs.set(key, {
      count: written.count ?? 1,
      firstTimestamp: written.firstTimestamp ?? '',
      name: written.metadata.name,
      resourceVersion: written.metadata.resourceVersion,
    });
  }

  #aggregate(e: Event, now: number): { event: Event; key: string } {
    const eventKey = getEventKey(e);
    const { aggregateKey, localKey } = aggregateKeys(e);
    let rec = this.#aggregates.get(aggregateKey);
    if (!rec || now - rec.lastTimestamp > AGGREGATE_INTERVAL_MS) rec = { localKeys: new Set(), lastTimestamp: 0 };
    rec.localKeys.add(localKey);
    rec.lastTimestamp = now;
    this.#aggregates.set(aggregateKey, rec);
    if (rec.localKeys.size < AGGREGATE_MAX_EVENTS) return { event: e, key: eventKey };
    // do not grow the set past the maximum (upstream PopAny)
    rec.localKeys.delete(rec.localKeys.values().next().value!);
    const t = metaTime(now);
    // Upstream's aggregate copy carries no reporting fields; the correlation key is the aggregate's.
    const combined: Event = {
      metadata: {
        name: eventName(e.involvedObject.name, now, 0),
        namespace: e.metadata.namespace,
      } as Event['metadata'],
      involvedObject: e.involvedObject,
      reason: e.reason,
      message: COMBINED_PREFIX + e.message,
      type: e.type,
      source: e.source,
      firstTimestamp: t,
      lastTimestamp: t,
      count: 1,
    };
    return { event: combined, key: aggregateKey };
  }

  #observe(e: Event, key: string): { event: Event; patch?: { count: number; lastTimestamp: string; message: string } } {
    const last = this.#logs.get(key);
    let event = e;
    let patch: { count: number; lastTimestamp: string; message: string } | undefined;
    if (last && last.count > 0) {
      event = {
        ...e,
        metadata: {
          ...e.metadata,
          name: last.name,
          ...(last.resourceVersion ? { resourceVersion: last.resourceVersion } : {}),
        },
        firstTimestamp: last.firstTimestamp,
        count: last.count + 1,
      };
      patch = { count: event.count!, lastTimestamp: event.lastTimestamp!, message: event.message };
    }
    this.#logs.set(key, {
      count: event.count ?? 1,
      firstTimestamp: event.firstTimestamp ?? '',
      name: event.metadata.name,
      resourceVersion: event.metadata.resourceVersion,
    });
    return patch ? { event, patch } : { event };
  }

  #filter(e: Event): boolean {
    const key = getSpamKey(e);
    let bucket = this.#spam.get(key);
    if (!bucket) {
      bucket = new TokenBucket(SPAM_QPS, SPAM_BURST, () => this.#nowForBuckets);
      this.#spam.set(key, bucket);
    }
    return !bucket.tryAccept();
  }

  sizes(): { aggregates: number; logs: number; spam: number } {
    return { aggregates: this.#aggregates.size, logs: this.#logs.size, spam: this.#spam.size };
  }
}
