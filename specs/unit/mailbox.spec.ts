import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BehaviorSubject, Subject } from 'rxjs';
import { KeyedSlots, PriorityMailbox } from '../../kernel/mailbox.ts';

function sources() {
  const config = new Subject<string>();
  const pleg = new Subject<string>();
  const tick = new Subject<string>();
  const mailbox = new PriorityMailbox<string>([
    { name: 'config', source: config },
    { name: 'pleg', source: pleg },
    { name: 'tick', source: tick },
  ]);
  return { config, pleg, tick, mailbox };
}

describe('PriorityMailbox', () => {
  it('hands each message over at once when idle', () => {
    const { config, pleg, mailbox } = sources();
    const seen: string[] = [];
    const sub = mailbox.messages().subscribe((m) => seen.push(m));
    pleg.next('p1');
    config.next('c1');
    assert.deepEqual(seen, ['p1', 'c1']);
    assert.equal(mailbox.depth(), 0);
    sub.unsubscribe();
  });

  it('takes in priority order, FIFO within a priority, when messages arrive during a drain', () => {
    const { config, pleg, tick, mailbox } = sources();
    const seen: string[] = [];
    mailbox.start((m) => {
      seen.push(m);
      if (m === 'tick0') {
        // All of these arrive while tick0 is being handled.
        tick.next('tick1');
        pleg.next('p1');
        tick.next('tick2');
        config.next('c1');
        pleg.next('p2');
        config.next('c2');
        assert.deepEqual(mailbox.depthBy(), { config: 2, pleg: 2, tick: 2 });
        assert.equal(mailbox.depth(), 6);
      }
    });
    tick.next('tick0');
    assert.deepEqual(seen, ['tick0', 'c1', 'c2', 'p1', 'p2', 'tick1', 'tick2']);
    assert.equal(mailbox.depth(), 0);
    mailbox.stop();
  });

  it('never handles re-entrantly: a send from the handler waits for the current message', () => {
    const { config, pleg, mailbox } = sources();
    const trace: string[] = [];
    mailbox.start((m) => {
      trace.push(`begin ${m}`);
      if (m === 'p1') config.next('c1');
      trace.push(`end ${m}`);
    });
    pleg.next('p1');
    assert.deepEqual(trace, ['begin p1', 'end p1', 'begin c1', 'end c1']);
    mailbox.stop();
  });

  it('orders synchronous replays on subscribe by priority too', () => {
    const config = new BehaviorSubject('c0');
    const pleg = new BehaviorSubject('p0');
    const mailbox = new PriorityMailbox<string>([
      { name: 'pleg', source: pleg },
      { name: 'config', source: config },
    ]);
    const seen: string[] = [];
    mailbox.start((m) => seen.push(m));
    assert.deepEqual(seen, ['p0', 'c0']);
    mailbox.stop();
  });

  it('take() removes the highest priority message first', () => {
    const { config, pleg, tick, mailbox } = sources();
    // Messages only wait while a drain is under way: queue some there and take them by hand.
    let taken: (string | undefined)[] = [];
    mailbox.start((m) => {
      if (m !== 'first') return;
      tick.next('t');
      pleg.next('p');
      config.next('c');
      taken = [mailbox.take(), mailbox.take(), mailbox.take(), mailbox.take()];
    });
    config.next('first');
    assert.deepEqual(taken, ['c', 'p', 't', undefined]);
    mailbox.stop();
  });

  it('has a single consumer, and stop() ends the sources and drops the queue', () => {
    const { config, mailbox } = sources();
    const seen: string[] = [];
    const sub = mailbox.messages().subscribe((m) => seen.push(m));
    assert.throws(() => mailbox.start(() => {}), /single consumer/);
    assert.equal(config.observed, true);
    sub.unsubscribe();
    assert.equal(config.observed, false);
    config.next('lost');
    assert.equal(seen.length, 0);
    // A new consumer may subscribe after the old one left.
    mailbox.start((m) => seen.push(m));
    config.next('c');
    assert.deepEqual(seen, ['c']);
    mailbox.stop();
    mailbox.stop();
  });

  it('a consumer that stops the mailbox mid-drain gets nothing more', () => {
    const { config, pleg, mailbox } = sources();
    const seen: string[] = [];
    mailbox.start((m) => {
      seen.push(m);
      if (m === 'p1') {
        config.next('c1');
        mailbox.stop();
      }
    });
    pleg.next('p1');
    assert.deepEqual(seen, ['p1']);
    assert.equal(mailbox.depth(), 0);
  });
});

interface Update {
  v: number;
  kill?: boolean;
}

describe('KeyedSlots', () => {
  const slots = () => new KeyedSlots<string, Update>({ isKill: (u) => u.kill === true });

  it('starts an update when nothing is in flight, then queues one pending per key', () => {
    const s = slots();
    assert.equal(s.offer('a', { v: 1 }), 'start');
    assert.equal(s.offer('b', { v: 1 }), 'start', 'keys are independent');
    assert.equal(s.offer('a', { v: 2 }), 'queued');
    assert.deepEqual(s.inFlight('a'), { v: 1 });
    assert.deepEqual(s.pending('a'), { v: 2 });
    assert.equal(s.pending('b'), undefined);
    assert.equal(s.size, 2);
  });

  it('latest spec wins: a newer update replaces the pending one', () => {
    const s = slots();
    s.offer('a', { v: 1 });
    s.offer('a', { v: 2 });
    assert.equal(s.offer('a', { v: 3 }), 'replaced');
    assert.deepEqual(s.pending('a'), { v: 3 });
    assert.deepEqual(s.complete('a'), { v: 3 });
  });

  it('a pending kill is never overwritten by a non-kill; a newer kill replaces it', () => {
    const s = slots();
    s.offer('a', { v: 1, kill: true });
    assert.equal(s.offer('a', { v: 2, kill: true }), 'queued', 'a kill behind a kill waits');
    assert.equal(s.offer('a', { v: 3 }), 'dropped');
    assert.deepEqual(s.pending('a'), { v: 2, kill: true });
    assert.equal(s.offer('a', { v: 4, kill: true }), 'replaced', 'a newer kill (e.g. a removal) wins');
    assert.deepEqual(s.pending('a'), { v: 4, kill: true });
  });

  it('a kill never waits behind a non-kill in flight: it preempts it and the pending update is dropped', () => {
    const s = slots();
    s.offer('a', { v: 1 });
    s.offer('a', { v: 2 });
    assert.equal(s.offer('a', { v: 3, kill: true }), 'preempt');
    assert.deepEqual(s.inFlight('a'), { v: 3, kill: true });
    assert.equal(s.pending('a'), undefined);
    // from now on the kill is what is in flight: updates queue behind it as usual
    assert.equal(s.offer('a', { v: 4 }), 'queued');
    assert.equal(s.offer('a', { v: 5, kill: true }), 'replaced');
    assert.equal(s.offer('a', { v: 6 }), 'dropped');
    assert.deepEqual(s.complete('a'), { v: 5, kill: true });
  });

  it('complete() returns the pending update, now in flight, or undefined when idle', () => {
    const s = slots();
    s.offer('a', { v: 1 });
    s.offer('a', { v: 2 });
    assert.deepEqual(s.complete('a'), { v: 2 });
    assert.deepEqual(s.inFlight('a'), { v: 2 });
    assert.equal(s.pending('a'), undefined);
    assert.equal(s.offer('a', { v: 3 }), 'queued', 'the pending one is in flight now');
    assert.deepEqual(s.complete('a'), { v: 3 });
    assert.equal(s.complete('a'), undefined);
    assert.equal(s.inFlight('a'), undefined);
    assert.equal(s.size, 0);
    assert.equal(s.offer('a', { v: 4 }), 'start');
  });

  it('forget() drops both slots', () => {
    const s = slots();
    s.offer('a', { v: 1 });
    s.offer('a', { v: 2, kill: true });
    s.forget('a');
    assert.equal(s.inFlight('a'), undefined);
    assert.equal(s.pending('a'), undefined);
    assert.equal(s.size, 0);
    assert.equal(s.offer('a', { v: 3 }), 'start');
  });
});
