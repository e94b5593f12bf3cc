/**
 * The typed bus: named channels, the only way actors talk.
 *
 * Two kinds of channel:
 * - events: facts and commands (an RxJS Subject per name).
 * Delivery is synchronous and in global send order: a message sent while another is being
 * delivered (a subscriber reacting) is queued and delivered right after it, to every subscriber,
 * so no subscriber ever sees a reaction before the message it reacts to. A send from outside any
 * delivery is delivered before `send` returns. Same inputs, same order: a run is deterministic.
 * - views: the latest state one actor owns and publishes (a BehaviorSubject-like replay of the
 *   last value). One writer per view: a second actor publishing to it is a programming error.
 *
 * The kernel knows no kubelet channel: bin/channels.ts augments EventChannels and
 * ViewChannels below with `declare module` (from protocols/messages), so every name and
 * payload is typed.
 * A bus subject is never errored or completed; failures travel as messages.
 */
import { Observable, ReplaySubject, Subject } from 'rxjs';

// Augmented by bin/channels.ts with the kubelet's channels (protocols/messages/channels.ts).
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface EventChannels {}
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface ViewChannels {}

export type EventName = keyof EventChannels & string;
export type ViewName = keyof ViewChannels & string;

export interface BusPort {
  events<K extends EventName>(name: K): Observable<EventChannels[K]>;
  send<K extends EventName>(name: K, msg: EventChannels[K]): void;
  view<K extends ViewName>(name: K): Observable<ViewChannels[K]>;
  current<K extends ViewName>(name: K): ViewChannels[K] | undefined;
  publish<K extends ViewName>(name: K, value: ViewChannels[K]): void;
}

/** Something that watches all traffic: the recorder and the debug socket's `tail`. */
export type BusTap = (kind: 'event' | 'view', channel: string, payload: unknown, writer: string) => void;

export class Bus {
  #events = new Map<string, Subject<unknown>>();
  #views = new Map<string, ReplaySubject<unknown>>();
  #latest = new Map<string, unknown>();
  #viewWriters = new Map<string, string>();
  #taps = new Set<BusTap>();
  #counts = new Map<string, number>();
  #queue: (() => void)[] = [];
  #delivering = false;

  /** Runs deliveries one at a time, in the order they were asked for (a trampoline). */
  #deliver(fn: () => void): void {
    this.#queue.push(fn);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) next();
    } finally {
      this.#delivering = false;
    }
  }

  #event(name: string): Subject<unknown> {
    let s = this.#events.get(name);
    if (!s) {
      s = new Subject();
      this.#events.set(name, s);
    }
    return s;
  }

  #view(name: string): ReplaySubject<unknown> {
    let s = this.#views.get(name);
    if (!s) {
      s = new ReplaySubject(1);
      this.#views.set(name, s);
    }
    return s;
  }

  tap(fn: BusTap): () => void {
    this.#taps.add(fn);
    return () => this.#taps.delete(fn);
  }

  /** Messages sent (events) or values published (views) per channel since the bus was created. */
  counts(): ReadonlyMap<string, number> {
    return new Map(this.#counts);
  }

  #count(name: string): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + 1);
  }

  channelNames(): { events: string[]; views: string[] } {
    return { events: [...this.#events.keys()], views: [...this.#views.keys()] };
  }

  /**
   * Raw, untyped observation of any channel (debug socket `tail`): a view's latest value first,
   * then every send or publish on `name`. Works for a view nobody has published yet (it used
   * to pick the event subject then, and missed the view's values) and creates no channel.
   */
  observe(name: string): Observable<unknown> {
    return new Observable<unknown>((sub) => {
      if (this.#latest.has(name)) sub.next(this.#latest.get(name));
      const untap = this.tap((_kind, channel, payload) => {
        if (channel === name) sub.next(payload);
      });
      return () => {
        untap();
      };
    });
  }

  /** A port for one writer; views it publishes become its own. */
  port(writer: string): BusPort {
    return {
      events: <K extends EventName>(name: K) => this.#event(name).asObservable() as Observable<EventChannels[K]>,
      send: <K extends EventName>(name: K, msg: EventChannels[K]) => {
        this.#count(name);
        this.#deliver(() => {
          for (const t of [...this.#taps]) t('event', name, msg, writer);
          this.#event(name).next(msg);
        });
      },
      view: <K extends ViewName>(name: K) => this.#view(name).asObservable() as Observable<ViewChannels[K]>,
      current: <K extends ViewName>(name: K) => this.#latest.get(name) as ViewChannels[K] | undefined,
      publish: <K extends ViewName>(name: K, value: ViewChannels[K]) => {
        const owner = this.#viewWriters.get(name);
        if (owner !== undefined && owner !== writer) {
          throw new Error(`view ${name} is owned by ${owner}; ${writer} may not publish it`);
        }
        this.#viewWriters.set(name, writer);
        // `current` answers the new value at once; subscribers get it in delivery order.
        this.#latest.set(name, value);
        this.#count(name);
        this.#deliver(() => {
          for (const t of [...this.#taps]) t('view', name, value, writer);
          this.#view(name).next(value);
        });
      },
    };
  }
}
