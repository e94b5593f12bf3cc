/**
 * The syncLoop's mailbox, and the per-key slot discipline of upstream's pod workers.
 *
 * PriorityMailbox: Go's `select` picks a ready channel at random; this merges its sources in a
 * fixed priority (index 0 first) with FIFO order inside each source, and drains synchronously:
 * a message that arrives while another is being handled is queued and taken in priority order
 * in the same drain, never handled re-entrantly. Same inputs, same order of handling.
 *
 * KeyedSlots: per key (pod UID) at most one update in flight and one pending; a newer update
 * replaces the pending one (latest spec wins), except that a pending kill is never overwritten by
 * a non-kill, and a kill does not wait behind a non-kill in flight: it preempts it (upstream
 * pod_workers.go cancels the running sync's context when the pod becomes terminating, and drops
 * the pending update).
 */
import { Observable, type Subscription } from 'rxjs';

export interface MailboxSource<T> {
  name: string;
  source: Observable<T>;
}

export class PriorityMailbox<T> {
  readonly #sources: readonly MailboxSource<T>[];
  readonly #queues: T[][];
  #subs: Subscription[] = [];
  #draining = false;
  #handler: ((msg: T) => void) | undefined;

  constructor(sources: readonly MailboxSource<T>[]) {
    this.#sources = sources;
    this.#queues = sources.map(() => []);
  }

  /**
   * Messages in mailbox order. Subscribing starts the sources; unsubscribing (or stop) ends
   * them. One subscriber at a time: the mailbox has a single consumer, the syncLoop.
   */
  messages(): Observable<T> {
    return new Observable<T>((sub) => {
      this.#attach((m) => sub.next(m));
      return () => this.stop();
    });
  }

  /** Starts the sources and hands every message, in mailbox order, to `handler`. */
  start(handler: (msg: T) => void): void {
    this.#attach(handler);
  }

  #attach(handler: (msg: T) => void): void {
    if (this.#handler) throw new Error('PriorityMailbox has a single consumer');
    this.#handler = handler;
    // Sources that emit on subscribe (views replaying their latest value) are queued, not
    // handled, until every source is subscribed: the first drain already follows priority.
    this.#draining = true;
    try {
      this.#subs = this.#sources.map((s, i) =>
        s.source.subscribe((m) => {
          this.#queues[i]!.push(m);
          this.#drain();
        }),
      );
    } finally {
      this.#draining = false;
    }
    this.#drain();
  }

  /** The next message in priority order, removed from the mailbox. */
  take(): T | undefined {
    for (const q of this.#queues) if (q.length > 0) return q.shift();
    return undefined;
  }

  depth(): number {
    return this.#queues.reduce((n, q) => n + q.length, 0);
  }

  depthBy(): Record<string, number> {
    return Object.fromEntries(this.#sources.map((s, i) => [s.name, this.#queues[i]!.length]));
  }

  /** Unsubscribes the sources and drops whatever is queued. Idempotent. */
  stop(): void {
    const subs = this.#subs;
    this.#subs = [];
    this.#handler = undefined;
    for (const s of subs) s.unsubscribe();
    for (const q of this.#queues) q.length = 0;
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#handler && this.depth() > 0) {
        // A throwing handler stops this drain; the rest stays queued for the next one.
        this.#handler(this.take() as T);
      }
    } finally {
      this.#draining = false;
    }
  }
}

export type OfferResult = 'start' | 'queued' | 'replaced' | 'dropped' | 'preempt';

export class KeyedSlots<K, U> {
  readonly #isKill: (u: U) => boolean;
  readonly #inFlight = new Map<K, U>();
  readonly #pending = new Map<K, U>();

  constructor(opts: { isKill: (u: U) => boolean }) {
    this.#isKill = opts.isKill;
  }

  /**
   * 'start': nothing was in flight, `update` is now in flight and the caller starts it.
   * 'queued': it waits in the empty pending slot. 'replaced': it replaced the pending one.
   * 'dropped': a pending kill stays and this non-kill is dropped.
   * 'preempt': a kill, and a non-kill was in flight: the kill is in flight now (the pending
   * slot is emptied) and the caller hands it over at once, cancelling the one it displaced.
   */
  offer(key: K, update: U): OfferResult {
    const current = this.#inFlight.get(key);
    if (current === undefined) {
      this.#inFlight.set(key, update);
      return 'start';
    }
    if (this.#isKill(update) && !this.#isKill(current)) {
      this.#inFlight.set(key, update);
      this.#pending.delete(key);
      return 'preempt';
    }
    const pending = this.#pending.get(key);
    if (pending === undefined) {
      this.#pending.set(key, update);
      return 'queued';
    }
    if (this.#isKill(pending) && !this.#isKill(update)) return 'dropped';
    this.#pending.set(key, update);
    return 'replaced';
  }

  /** The in-flight update finished: the pending one (now in flight) or undefined (idle). */
  complete(key: K): U | undefined {
    const next = this.#pending.get(key);
    this.#pending.delete(key);
    if (next === undefined) this.#inFlight.delete(key);
    else this.#inFlight.set(key, next);
    return next;
  }

  inFlight(key: K): U | undefined {
    return this.#inFlight.get(key);
  }

  pending(key: K): U | undefined {
    return this.#pending.get(key);
  }

  forget(key: K): void {
    this.#inFlight.delete(key);
    this.#pending.delete(key);
  }

  get size(): number {
    return this.#inFlight.size;
  }
}
