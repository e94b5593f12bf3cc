/** kernel/actor.ts `serial`: one run at a time, triggers meanwhile collapse into one more run. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serial } from '../../kernel/actor.ts';

function fakeCtx() {
  const runs: Promise<unknown>[] = [];
  return {
    stopped: false,
    run: (p: Promise<unknown>) => {
      runs.push(p);
    },
    runs,
  };
}

describe('serial', () => {
  it('runs once per trigger when idle; triggers during a run collapse into exactly one more', async () => {
    const ctx = fakeCtx();
    const gates: (() => void)[] = [];
    let calls = 0;
    let idle = 0;
    const s = serial(
      ctx,
      () => {
        calls++;
        return new Promise<void>((r) => gates.push(r));
      },
      { onError: (e) => assert.fail(String(e)), onIdle: () => idle++ },
    );
    s.trigger();
    assert.equal(calls, 1);
    assert.equal(s.running, true);
    s.trigger();
    s.trigger();
    s.trigger();
    assert.equal(calls, 1, 'nothing starts while a run is in progress');
    gates.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 2, 'one more run for the three triggers');
    gates.shift()!();
    await Promise.all(ctx.runs);
    assert.equal(calls, 2);
    assert.equal(idle, 1, 'onIdle once, when nothing more was asked');
    assert.equal(s.running, false);
  });

  it('a throw goes to onError and a pending trigger still runs; nothing runs once stopped', async () => {
    const ctx = fakeCtx();
    const errors: unknown[] = [];
    let calls = 0;
    const s = serial(
      ctx,
      async () => {
        calls++;
        if (calls === 1) {
          s.trigger();
          throw new Error('boom');
        }
      },
      { onError: (e) => errors.push(e) },
    );
    s.trigger();
    await Promise.all(ctx.runs);
    assert.equal(calls, 2);
    assert.equal((errors[0] as Error).message, 'boom');
    ctx.stopped = true;
    s.trigger();
    assert.equal(calls, 2);
  });
});
