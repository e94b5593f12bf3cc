// The runtime's bound on CRI calls in flight (actors/runtime/limiter.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter, mapLimited, unlessAborted } from '../../actors/runtime/limiter.ts';

function gate() {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const p = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { p, open, fail };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Limiter', () => {
  it('runs at most `limit` at once, the rest in FIFO order; a failure frees its slot', async () => {
    const l = new Limiter(2);
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      l.run(async () => {
        started.push(i);
        await g.p;
        return i;
      }),
    );
    await tick();
    assert.deepEqual(started, [0, 1]);
    assert.deepEqual(l.stats(), { limit: 2, active: 2, queued: 2, peak: 2 });
    gates[1]!.fail(new Error('boom'));
    await assert.rejects(runs[1]!, /boom/);
    await tick();
    assert.deepEqual(started, [0, 1, 2]);
    for (const g of gates) g.open();
    assert.deepEqual(await Promise.all([runs[0], runs[2], runs[3]]), [0, 2, 3]);
    assert.deepEqual(l.stats(), { limit: 2, active: 0, queued: 0, peak: 2 });
  });

  it('a waiter whose signal aborts leaves the queue with the reason and never runs', async () => {
    const l = new Limiter(1);
    const g = gate();
    const first = l.run(() => g.p);
    const abort = new AbortController();
    let ran = false;
    const second = l.run(async () => {
      ran = true;
    }, abort.signal);
    abort.abort(new Error('cancelled by a kill'));
    await assert.rejects(second, /cancelled by a kill/);
    assert.equal(l.stats().queued, 0);
    g.open();
    await first;
    assert.equal(ran, false);
    await assert.rejects(
      l.run(async () => {}, abort.signal),
      /cancelled by a kill/,
      'an aborted signal never gets a slot',
    );
    assert.equal(l.stats().active, 0);
  });
});

describe('mapLimited', () => {
  it('keeps order, runs at most `limit` at once, and starts nothing after a failure', async () => {
    let now = 0;
    let peak = 0;
    const out = await mapLimited([1, 2, 3, 4, 5], 2, async (x) => {
      peak = Math.max(peak, ++now);
      await tick();
      now--;
      return x * 10;
    });
    assert.deepEqual(out, [10, 20, 30, 40, 50]);
    assert.equal(peak, 2);
    const seen: number[] = [];
    await assert.rejects(
      mapLimited([1, 2, 3, 4, 5], 1, async (x) => {
        seen.push(x);
        if (x === 2) throw new Error('NotAvailable');
        return x;
      }),
      /NotAvailable/,
    );
    assert.deepEqual(seen, [1, 2]);
  });
});

describe('unlessAborted', () => {
  it('passes the outcome through, or rejects with the reason as soon as the signal aborts', async () => {
    const a = new AbortController();
    assert.equal(await unlessAborted(Promise.resolve(7), a.signal), 7);
    await assert.rejects(unlessAborted(Promise.reject(new Error('pull failed')), a.signal), /pull failed/);
    const g = gate();
    const waiting = unlessAborted(g.p, a.signal);
    a.abort(new Error('killed'));
    await assert.rejects(waiting, /killed/);
    g.fail(new Error('late failure')); // dropped, not an unhandled rejection
    await assert.rejects(unlessAborted(Promise.resolve(1), a.signal), /killed/, 'an aborted signal rejects at once');
  });
});
