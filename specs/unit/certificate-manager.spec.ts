/**
 * Client certificate rotation: the pure machine (deadline, backoff, the new deadline after a
 * rotation) and the certificateManager actor in virtual time (it rotates exactly at the jittered
 * deadline, retries a failed rotation 2 s, 4 s, … later, and a year-long certificate is not
 * renewed early by a timer overflow).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createActor } from 'xstate';
import { VirtualClock } from '../../kernel/clock.ts';
import { certificateManager, type CertificateManagerDeps, type RotatedPair } from '../../actors/certificates/index.ts';
import { rotationBackoffMs, rotationMachine, type RotationEmitted } from '../../actors/certificates/machine.ts';
import { startTestActor } from '../support/actor-context.ts';

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
};

describe('rotation machine', () => {
  it('waits for the 70–90% deadline, rotates, backs off 2 s doubling to 32 s, and takes the new deadline', () => {
    const emitted: RotationEmitted[] = [];
    const a = createActor(rotationMachine, { input: { notBeforeMs: 0, notAfterMs: 100_000, random: 0.5 } });
    a.on('*', (e: RotationEmitted) => emitted.push(e));
    a.start();
    assert.equal(a.getSnapshot().value, 'waiting');
    assert.deepEqual(emitted, [{ type: 'timer.set', at: 80_000 }]);
    a.send({ type: 'DEADLINE' });
    assert.equal(a.getSnapshot().value, 'rotating');
    assert.deepEqual(emitted.at(-1), { type: 'rotate' });
    a.send({ type: 'FAILED', now: 80_000, error: 'connection refused' });
    assert.equal(a.getSnapshot().value, 'backoff');
    assert.deepEqual(emitted.at(-1), { type: 'timer.set', at: 82_000 });
    assert.equal(a.getSnapshot().context.lastError, 'connection refused');
    a.send({ type: 'RETRY' });
    a.send({ type: 'FAILED', now: 82_000, error: 'again' });
    assert.deepEqual(emitted.at(-1), { type: 'timer.set', at: 86_000 });
    a.send({ type: 'RETRY' });
    a.send({ type: 'ROTATED', notBeforeMs: 90_000, notAfterMs: 190_000, random: 0 });
    assert.equal(a.getSnapshot().value, 'waiting');
    assert.equal(a.getSnapshot().context.failures, 0);
    assert.deepEqual(emitted.at(-1), { type: 'timer.set', at: 160_000 });
    a.send({ type: 'STOP' });
    assert.equal(a.getSnapshot().status, 'done');
    assert.deepEqual([1, 2, 3, 4, 5, 6, 9].map(rotationBackoffMs), [2000, 4000, 8000, 16_000, 32_000, 32_000, 32_000]);
  });
});

function fakeDeps(clock: VirtualClock, lifetimeMs: number, failures = 0) {
  let fail = failures;
  const rotations: number[] = [];
  const deps: CertificateManagerDeps = {
    current: () => ({ notBeforeMs: 0, notAfterMs: lifetimeMs, file: '/pki/kubelet-client-1.pem' }),
    rotate: async (): Promise<RotatedPair> => {
      rotations.push(clock.now());
      if (fail > 0) {
        fail--;
        throw new Error('CertificateSigningRequest csr-x was denied: no');
      }
      const nb = clock.now();
      return { notBeforeMs: nb, notAfterMs: nb + lifetimeMs, file: `/pki/kubelet-client-${nb}.pem`, csr: `csr-${nb}` };
    },
    random: () => 0,
  };
  return { deps, rotations };
}

describe('certificateManager actor (virtual time)', () => {
  it('rotates at 70% of the lifetime (jitter 0) and then at 70% of the new one', async () => {
    const clock = new VirtualClock();
    const { deps, rotations } = fakeDeps(clock, 100_000);
    const a = await startTestActor(certificateManager, { deps, clock });
    await settle();
    await clock.advanceAsync(69_999, settle);
    assert.deepEqual(rotations, []);
    await clock.advanceAsync(1, settle);
    assert.deepEqual(rotations, [70_000]);
    await clock.advanceAsync(70_000, settle);
    assert.deepEqual(rotations, [70_000, 140_000]);
    assert.deepEqual((a.inspect() as { rotations: number }).rotations, 2);
    assert.deepEqual(a.failures, []);
    await a.stop();
  });

  it('a failed rotation keeps the current pair and is retried after 2 s, then 4 s', async () => {
    const clock = new VirtualClock();
    const { deps, rotations } = fakeDeps(clock, 100_000, 2);
    const a = await startTestActor(certificateManager, { deps, clock });
    await settle();
    await clock.advanceAsync(70_000, settle);
    await clock.advanceAsync(2_000, settle);
    await clock.advanceAsync(4_000, settle);
    assert.deepEqual(rotations, [70_000, 72_000, 76_000]);
    const s = a.inspect() as { rotations: number; failures: number; lastError: string; state: string };
    assert.equal(s.rotations, 1);
    assert.equal(s.failures, 2);
    assert.match(s.lastError, /csr-x was denied/);
    assert.equal(s.state, 'waiting');
    await a.stop();
  });

  it('a year-long certificate is not renewed before its deadline (timers longer than 24.8 days are re-armed)', async () => {
    const clock = new VirtualClock();
    const year = 365 * 86_400_000;
    const { deps, rotations } = fakeDeps(clock, year);
    const a = await startTestActor(certificateManager, { deps, clock });
    await settle();
    for (let d = 0; d < 255; d += 5) await clock.advanceAsync(5 * 86_400_000, settle);
    assert.deepEqual(rotations, []);
    await clock.advanceAsync(0.7 * year - 255 * 86_400_000, settle);
    assert.deepEqual(rotations, [0.7 * year]);
    await a.stop();
  });

  it('the serving pair: without one it is requested at once, then rotated at its deadline', async () => {
    const clock = new VirtualClock();
    const { deps, rotations } = fakeDeps(clock, 100_000);
    const a = await startTestActor(certificateManager, {
      deps: { ...deps, current: () => undefined, requestWhenMissing: true, pair: 'serving' },
      clock,
    });
    await settle();
    assert.deepEqual(rotations, [0]);
    await clock.advanceAsync(70_000, settle);
    assert.deepEqual(rotations, [0, 70_000]);
    await a.stop();
  });

  it('without a current pair in the cert dir it idles', async () => {
    const clock = new VirtualClock();
    const a = await startTestActor(certificateManager, {
      deps: { current: () => undefined, rotate: () => Promise.reject(new Error('no')) },
      clock,
    });
    await clock.advanceAsync(86_400_000, settle);
    assert.equal((a.inspect() as { rotations: number }).rotations, 0);
    assert.deepEqual(a.failures, []);
    await a.stop();
  });
});
