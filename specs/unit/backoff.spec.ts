// Tier 1: the crash-loop backoff (upstream flowcontrol.Backoff as kubelet configures it), pure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CRASH_BACKOFF,
  CrashBackoff,
  backoffGc,
  backoffGet,
  backoffKey,
  backoffNext,
  backoffView,
  formatGoDuration,
  isInBackOffSince,
  type BackoffState,
} from '../../actors/runtime/backoff.ts';
import { containerHash } from '../../actors/runtime/labels.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';

const S = 1000;

describe('backoff: next', () => {
  it('starts at 10s and doubles to the 300s cap', () => {
    let state: BackoffState = new Map();
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      state = backoffNext(state, 'k', i * S);
      seen.push(backoffGet(state, 'k'));
    }
    assert.deepEqual(
      seen,
      [10, 20, 40, 80, 160, 300, 300, 300].map((x) => x * S),
    );
  });

  it('records now as lastUpdate and never mutates its argument', () => {
    const before: BackoffState = new Map();
    const after = backoffNext(before, 'k', 1234);
    assert.equal(before.size, 0);
    assert.deepEqual(after.get('k'), { delayMs: 10 * S, lastUpdate: 1234 });
  });

  it('starts over when the event comes more than 2×max after the last update', () => {
    let state = backoffNext(new Map(), 'k', 0);
    state = backoffNext(state, 'k', 1);
    assert.equal(backoffGet(state, 'k'), 20 * S);
    state = backoffNext(state, 'k', 601 * S + 2, 601 * S + 2);
    assert.equal(backoffGet(state, 'k'), 10 * S);
  });

  it('keys are independent', () => {
    let state = backoffNext(new Map(), 'a', 0);
    state = backoffNext(state, 'a', 0);
    state = backoffNext(state, 'b', 0);
    assert.equal(backoffGet(state, 'a'), 20 * S);
    assert.equal(backoffGet(state, 'b'), 10 * S);
    assert.equal(backoffGet(state, 'c'), 0);
  });
});

describe('backoff: isInBackOffSince', () => {
  const state = backoffNext(new Map(), 'k', 100 * S); // delay 10s

  it('is false for an unknown key', () => {
    assert.equal(isInBackOffSince(state, 'other', 100 * S, 101 * S), false);
  });

  it('is true while now - eventTime < delay, false from then on', () => {
    assert.equal(isInBackOffSince(state, 'k', 100 * S, 100 * S), true);
    assert.equal(isInBackOffSince(state, 'k', 100 * S, 109_999), true);
    assert.equal(isInBackOffSince(state, 'k', 100 * S, 110 * S), false);
  });

  it('is false once the entry has expired (event 2×max after the last update)', () => {
    assert.equal(isInBackOffSince(state, 'k', 701 * S, 701 * S), false);
  });
});

describe('backoff: gc', () => {
  it('drops entries quiet for more than 2×max', () => {
    let state = backoffNext(new Map(), 'old', 0);
    state = backoffNext(state, 'new', 500 * S);
    const kept = backoffGc(state, 600 * S + 1);
    assert.deepEqual([...kept.keys()], ['new']);
    assert.equal(backoffGc(state, 600 * S).size, 2);
  });
});

describe('backoff: CrashBackoff holder', () => {
  it('behaves as the functions do and exposes size and state', () => {
    const b = new CrashBackoff();
    b.next('k', 0);
    b.next('k', 5 * S, 4 * S);
    assert.equal(b.get('k'), 20 * S);
    assert.equal(b.size, 1);
    assert.equal(b.isInBackOffSince('k', 10 * S, 29 * S), true);
    assert.equal(b.isInBackOffSince('k', 10 * S, 30 * S), false);
    b.reset('k');
    assert.equal(b.size, 0);
    b.next('x', 0);
    b.gc(CRASH_BACKOFF.maxMs * 2 + 1);
    assert.equal(b.size, 0);
  });

  it('a view over a state reads the same', () => {
    const v = backoffView(backoffNext(new Map(), 'k', 0));
    assert.equal(v.get('k'), 10 * S);
    assert.equal(v.isInBackOffSince('k', 0, 9 * S), true);
  });
});

describe('backoff: key and message formatting', () => {
  it('keys like upstream getStableKey: pod_namespace_uid_container_hash', () => {
    const container: Container = { name: 'web', image: 'nginx:1.25' };
    const pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u-1' }, spec: { containers: [container] } } as Pod;
    assert.equal(backoffKey(pod, container), `p_ns_u-1_web_${containerHash(container)}`);
  });

  it('formats durations as Go does', () => {
    assert.equal(formatGoDuration(0), '0s');
    assert.equal(formatGoDuration(500), '500ms');
    assert.equal(formatGoDuration(1500), '1.5s');
    assert.equal(formatGoDuration(10 * S), '10s');
    assert.equal(formatGoDuration(40 * S), '40s');
    assert.equal(formatGoDuration(80 * S), '1m20s');
    assert.equal(formatGoDuration(160 * S), '2m40s');
    assert.equal(formatGoDuration(300 * S), '5m0s');
    assert.equal(formatGoDuration(3600 * S), '1h0m0s');
  });
});
