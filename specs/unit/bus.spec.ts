import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '../../kernel/bus.ts';
import { collect } from '../../kernel/testing.ts';
import type { PlegHealth, SyncLoopEvent } from '../../protocols/messages/channels.ts';

const health = (lastRelist: number): PlegHealth => ({ healthy: true, lastRelist, lastError: '' });

describe('Bus: events', () => {
  it('delivers typed messages synchronously, in send order, to every subscriber', () => {
    const bus = new Bus();
    const a: SyncLoopEvent[] = [];
    const b: string[] = [];
    bus
      .port('x')
      .events('syncLoop')
      .subscribe((m) => a.push(m));
    bus
      .port('y')
      .events('syncLoop')
      .subscribe((m) => b.push(m.type));
    const port = bus.port('syncLoop');
    port.send('syncLoop', { type: 'syncLoop.syncTick' });
    port.send('syncLoop', { type: 'syncLoop.housekeeping' });
    assert.deepEqual(a, [{ type: 'syncLoop.syncTick' }, { type: 'syncLoop.housekeeping' }]);
    assert.deepEqual(b, ['syncLoop.syncTick', 'syncLoop.housekeeping']);
  });

  it('a message sent while another is delivered waits for it: no subscriber sees a reaction before its cause', () => {
    const bus = new Bus();
    const first: string[] = [];
    const second: string[] = [];
    // The first subscriber reacts to a tick by sending housekeeping (a nested send).
    bus
      .port('a')
      .events('syncLoop')
      .subscribe((m) => {
        first.push(m.type);
        if (m.type === 'syncLoop.syncTick') bus.port('a').send('syncLoop', { type: 'syncLoop.housekeeping' });
      });
    bus
      .port('b')
      .events('syncLoop')
      .subscribe((m) => second.push(m.type));
    bus.port('x').send('syncLoop', { type: 'syncLoop.syncTick' });
    // Both subscribers see the tick first, then the reaction; all before send() returned.
    assert.deepEqual(first, ['syncLoop.syncTick', 'syncLoop.housekeeping']);
    assert.deepEqual(second, ['syncLoop.syncTick', 'syncLoop.housekeeping']);
  });

  it('does not replay events to late subscribers', () => {
    const bus = new Bus();
    bus.port('x').send('syncLoop', { type: 'syncLoop.syncTick' });
    const seen: unknown[] = [];
    bus
      .port('y')
      .events('syncLoop')
      .subscribe((m) => seen.push(m));
    assert.deepEqual(seen, []);
  });

  it('keeps channels apart', () => {
    const bus = new Bus();
    const seen: unknown[] = [];
    bus
      .port('x')
      .events('plegControl')
      .subscribe((m) => seen.push(m));
    bus.port('y').send('syncLoop', { type: 'syncLoop.syncTick' });
    assert.deepEqual(seen, []);
  });
});

describe('Bus: views', () => {
  it('replays the latest value to a new subscriber and answers current()', () => {
    const bus = new Bus();
    const pleg = bus.port('pleg');
    assert.equal(pleg.current('plegHealth'), undefined);
    pleg.publish('plegHealth', health(1));
    pleg.publish('plegHealth', health(2));
    const seen: PlegHealth[] = [];
    bus
      .port('reader')
      .view('plegHealth')
      .subscribe((v) => seen.push(v));
    assert.deepEqual(seen, [health(2)]);
    pleg.publish('plegHealth', health(3));
    assert.deepEqual(seen, [health(2), health(3)]);
    assert.deepEqual(bus.port('other').current('plegHealth'), health(3));
  });

  it('refuses a second writer, naming both', () => {
    const bus = new Bus();
    bus.port('pleg').publish('plegHealth', health(1));
    assert.throws(
      () => bus.port('intruder').publish('plegHealth', health(2)),
      /view plegHealth is owned by pleg; intruder may not publish it/,
    );
    assert.deepEqual(bus.port('x').current('plegHealth'), health(1));
    // The owner keeps writing, also from a new port (a restarted actor has the same id).
    bus.port('pleg').publish('plegHealth', health(3));
    assert.deepEqual(bus.port('x').current('plegHealth'), health(3));
  });
});

describe('Bus: taps and observe', () => {
  it('taps see every send and publish with its writer; untap stops them', () => {
    const bus = new Bus();
    const seen: unknown[] = [];
    const untap = bus.tap((kind, channel, payload, writer) => seen.push([kind, channel, payload, writer]));
    bus.port('timer').send('syncLoop', { type: 'syncLoop.syncTick' });
    bus.port('pleg').publish('plegHealth', health(1));
    untap();
    bus.port('timer').send('syncLoop', { type: 'syncLoop.housekeeping' });
    assert.deepEqual(seen, [
      ['event', 'syncLoop', { type: 'syncLoop.syncTick' }, 'timer'],
      ['view', 'plegHealth', health(1), 'pleg'],
    ]);
  });

  it('a tap sees messages in send order even when a subscriber sends re-entrantly', () => {
    const bus = new Bus();
    const port = bus.port('x');
    port.events('syncLoop').subscribe((m) => {
      if (m.type === 'syncLoop.syncTick') port.send('syncLoop', { type: 'syncLoop.housekeeping' });
    });
    const log = collect(bus, 'syncLoop');
    port.send('syncLoop', { type: 'syncLoop.syncTick' });
    assert.deepEqual(
      log.map((m) => m.type),
      ['syncLoop.syncTick', 'syncLoop.housekeeping'],
    );
  });

  it("collect() gathers a view's publishes too", () => {
    const bus = new Bus();
    const values = collect(bus, 'plegHealth');
    bus.port('pleg').publish('plegHealth', health(1));
    bus.port('pleg').publish('plegHealth', health(2));
    assert.deepEqual(values, [health(1), health(2)]);
  });

  it('observe() tails an event channel, and a view (latest first) even before its first publish', () => {
    const bus = new Bus();
    const view: unknown[] = [];
    const events: unknown[] = [];
    const sv = bus.observe('plegHealth').subscribe((v) => view.push(v));
    const se = bus.observe('syncLoop').subscribe((v) => events.push(v));
    bus.port('pleg').publish('plegHealth', health(1));
    bus.port('t').send('syncLoop', { type: 'syncLoop.syncTick' });
    const late: unknown[] = [];
    bus.observe('plegHealth').subscribe((v) => late.push(v));
    sv.unsubscribe();
    se.unsubscribe();
    bus.port('pleg').publish('plegHealth', health(2));
    bus.port('t').send('syncLoop', { type: 'syncLoop.housekeeping' });
    assert.deepEqual(view, [health(1)]);
    assert.deepEqual(events, [{ type: 'syncLoop.syncTick' }]);
    assert.deepEqual(late, [health(1), health(2)]);
  });
});
