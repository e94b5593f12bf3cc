import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RealClock, VirtualClock } from '../../kernel/clock.ts';

describe('VirtualClock', () => {
  it('fires nothing until time moves, then timers in due order, ties in the order set', () => {
    const c = new VirtualClock(1_000);
    const fired: string[] = [];
    c.setTimeout(() => fired.push(`b@${c.now()}`), 20);
    c.setTimeout(() => fired.push(`a@${c.now()}`), 10);
    c.setTimeout(() => fired.push(`c@${c.now()}`), 20);
    c.setTimeout(() => fired.push(`zero@${c.now()}`), 0);
    assert.deepEqual(fired, []);
    assert.equal(c.pending(), 4);
    assert.equal(c.nextAt(), 1_000);
    c.advance(15);
    assert.deepEqual(fired, ['zero@1000', 'a@1010']);
    assert.equal(c.now(), 1_015);
    c.advance(5);
    assert.deepEqual(fired, ['zero@1000', 'a@1010', 'b@1020', 'c@1020']);
    assert.equal(c.pending(), 0);
    assert.equal(c.nextAt(), undefined);
  });

  it('fires timers set by timers within the same advance, at their own due time', () => {
    const c = new VirtualClock();
    const fired: number[] = [];
    c.setTimeout(() => {
      fired.push(c.now());
      c.setTimeout(() => fired.push(c.now()), 5);
    }, 10);
    c.advance(100);
    assert.deepEqual(fired, [10, 15]);
    assert.equal(c.now(), 100);
  });

  it('repeats intervals and interleaves them with timeouts', () => {
    const c = new VirtualClock();
    const fired: string[] = [];
    const id = c.setInterval(() => fired.push(`i@${c.now()}`), 10);
    c.setTimeout(() => fired.push(`t@${c.now()}`), 25);
    c.advance(30);
    assert.deepEqual(fired, ['i@10', 'i@20', 't@25', 'i@30']);
    c.clearInterval(id);
    c.advance(100);
    assert.equal(fired.length, 4);
  });

  it('an interval may clear itself from its callback', () => {
    const c = new VirtualClock();
    let n = 0;
    const id = c.setInterval(() => {
      if (++n === 3) c.clearInterval(id);
    }, 1);
    c.advance(10);
    assert.equal(n, 3);
    assert.equal(c.pending(), 0);
  });

  it('clears timeouts, and clearing an unknown or undefined id is harmless', () => {
    const c = new VirtualClock();
    let fired = false;
    const id = c.setTimeout(() => {
      fired = true;
    }, 5);
    c.clearTimeout(id);
    c.clearTimeout(undefined);
    c.clearTimeout(12_345);
    c.advance(10);
    assert.equal(fired, false);
  });

  it('treats negative and NaN delays as zero', () => {
    const c = new VirtualClock();
    const fired: string[] = [];
    c.setTimeout(() => fired.push('nan'), Number.NaN);
    c.setTimeout(() => fired.push('neg'), -5);
    c.setTimeout(() => fired.push('later'), 10);
    c.advance(0);
    assert.deepEqual(fired, ['nan', 'neg']);
    assert.equal(c.nextAt(), 10);
  });

  it('advanceTo never moves time backwards', () => {
    const c = new VirtualClock(50);
    c.advanceTo(10);
    assert.equal(c.now(), 50);
  });

  it('advanceAsync lets promise chains started by a timer settle before the next timer', async () => {
    const c = new VirtualClock();
    const trace: string[] = [];
    c.setTimeout(() => {
      trace.push('t1');
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => trace.push('t1 settled'));
    }, 10);
    c.setTimeout(() => trace.push('t2'), 10);
    await c.advanceAsync(10);
    assert.deepEqual(trace, ['t1', 't1 settled', 't2']);
  });
});

describe('RealClock', () => {
  it('reads wall-clock time and runs a timer', async () => {
    const c = new RealClock();
    assert.ok(c.now() > Date.UTC(2024, 0, 1), 'milliseconds since the Unix epoch');
    await new Promise<void>((resolve) => c.setTimeout(() => resolve(), 1));
    let fired = false;
    const id = c.setTimeout(() => {
      fired = true;
    }, 1);
    c.clearTimeout(id);
    const iv = c.setInterval(() => {}, 1_000);
    c.clearInterval(iv);
    await new Promise<void>((resolve) => c.setTimeout(() => resolve(), 5));
    assert.equal(fired, false);
  });
});
