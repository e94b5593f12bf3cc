// Tier 1: the pod worker machine's transitions, pure (xstate `transition`), no timers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import {
  podWorkerMachine,
  RESYNC_INTERVAL_MS,
  SYNC_ERROR_BACKOFF_MS,
  type PodWorkerEvent,
} from '../../actors/pod-workers/machine.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { PodWorkerUpdate, SyncResult } from '../../protocols/messages/channels.ts';

type Snap = SnapshotFrom<typeof podWorkerMachine>;

const pod: Pod = {
  metadata: { name: 'web', namespace: 'default', uid: 'u1' },
  spec: { containers: [{ name: 'c', image: 'busybox' }], terminationGracePeriodSeconds: 7 },
} as Pod;

function update(updateType: PodWorkerUpdate['updateType'], extra: Partial<PodWorkerUpdate> = {}): PodWorkerEvent {
  return {
    type: 'UPDATE',
    update: { type: 'podWorker.update', uid: 'u1', updateType, pod, cause: 'spec', ...extra },
    now: 0,
  };
}

function result(extra: Partial<SyncResult> = {}): SyncResult {
  return {
    phase: 'Running',
    apiStatus: { phase: 'Running' },
    actions: [],
    waiting: [],
    status: { uid: 'u1', name: 'web', namespace: 'default', sandboxes: [], containers: [], timestamp: 0 },
    ...extra,
  } as SyncResult;
}

/** Runs events in order; returns the final snapshot and every emitted event. */
function run(
  events: PodWorkerEvent[],
  from?: Snap,
): { snap: Snap; emitted: { type: string; seq?: number; gracePeriodSeconds?: number }[] } {
  let snap: Snap;
  const emitted: { type: string; seq?: number }[] = [];
  const collect = (actions: { type: string; params?: unknown }[]) => {
    for (const a of actions)
      if (a.type === 'xstate.emit') emitted.push((a.params as { event: { type: string; seq?: number } }).event);
  };
  if (from) snap = from;
  else {
    const [s, a] = initialTransition(podWorkerMachine, { uid: 'u1' });
    snap = s;
    collect(a as { type: string }[]);
  }
  for (const e of events) {
    const [s, a] = transition(podWorkerMachine, snap, e);
    snap = s;
    collect(a as { type: string }[]);
  }
  return { snap, emitted };
}

describe('pod worker machine', () => {
  it('starts idle in SyncPod', () => {
    const { snap, emitted } = run([]);
    assert.deepEqual(snap.value, { syncing: 'idle' });
    assert.deepEqual(emitted, []);
  });

  it('an update issues runtime.syncPod with a fresh seq and waits', () => {
    const { snap, emitted } = run([update('create')]);
    assert.deepEqual(snap.value, { syncing: 'working' });
    assert.deepEqual(
      emitted.map((e) => [e.type, e.seq]),
      [['runtime.syncPod', 1]],
    );
  });

  it('a successful sync goes idle, schedules the resync and hands the worker back', () => {
    const { snap, emitted } = run([update('create'), { type: 'SYNCED', seq: 1, result: result(), now: 1000 }]);
    assert.deepEqual(snap.value, { syncing: 'idle' });
    assert.equal(snap.context.nextSyncAt, 1000 + RESYNC_INTERVAL_MS);
    assert.equal(emitted.at(-1)?.type, 'worker.idle');
  });

  it('a backoff expiry earlier than the resync wins', () => {
    const { snap } = run([
      update('create'),
      { type: 'SYNCED', seq: 1, result: result({ retryAt: 11_000 }), now: 1000 },
    ]);
    assert.equal(snap.context.nextSyncAt, 11_000);
  });

  it('a failed sync records the error and retries after the backoff period', () => {
    const { snap } = run([
      update('create'),
      { type: 'SYNCED', seq: 1, result: result({ error: 'runtime down' }), now: 500 },
    ]);
    assert.equal(snap.context.lastSyncError, 'runtime down');
    assert.equal(snap.context.nextSyncAt, 500 + SYNC_ERROR_BACKOFF_MS);
  });

  it('a reply for an older seq is ignored', () => {
    const { snap, emitted } = run([update('create'), { type: 'SYNCED', seq: 0, result: result(), now: 0 }]);
    assert.deepEqual(snap.value, { syncing: 'working' });
    assert.equal(emitted.length, 1);
  });

  it('RESEND re-issues the in-flight command with a new seq; the old reply no longer counts', () => {
    const { snap, emitted } = run([
      update('create'),
      { type: 'RESEND' },
      { type: 'SYNCED', seq: 1, result: result(), now: 0 },
    ]);
    assert.deepEqual(
      emitted.map((e) => [e.type, e.seq]),
      [
        ['runtime.syncPod', 1],
        ['runtime.syncPod', 2],
      ],
    );
    assert.deepEqual(snap.value, { syncing: 'working' });
    const after = run([{ type: 'SYNCED', seq: 2, result: result(), now: 0 }], snap);
    assert.deepEqual(after.snap.value, { syncing: 'idle' });
  });

  it('a terminal phase moves the pod to TerminatingPod with the spec grace period', () => {
    const { snap, emitted } = run([
      update('create'),
      { type: 'SYNCED', seq: 1, result: result({ phase: 'Succeeded' }), now: 0 },
    ]);
    assert.deepEqual(snap.value, { terminating: 'killing' });
    assert.equal(snap.context.terminalPhase, 'Succeeded');
    const kill = emitted.at(-1)!;
    assert.equal(kill.type, 'runtime.killPod');
    assert.equal(kill.gracePeriodSeconds, 7);
  });

  it('a kill from idle terminates; an explicit grace period wins', () => {
    const { snap, emitted } = run([update('kill', { gracePeriodSeconds: 2 })]);
    assert.deepEqual(snap.value, { terminating: 'killing' });
    assert.equal(emitted[0]!.type, 'runtime.killPod');
    assert.equal(emitted[0]!.gracePeriodSeconds, 2);
  });

  it('the deletion grace period wins over the spec', () => {
    const deleting = { ...pod, metadata: { ...pod.metadata, deletionGracePeriodSeconds: 3 } } as Pod;
    const { emitted } = run([update('kill', { pod: deleting })]);
    assert.equal(emitted[0]!.gracePeriodSeconds, 3);
  });

  it('a failed kill waits in retryWait (timer-driven), never returns to SyncPod', () => {
    const { snap } = run([update('kill'), { type: 'KILLED', seq: 1, error: 'unavailable', now: 0 }]);
    assert.deepEqual(snap.value, { terminating: 'retryWait' });
    assert.equal(snap.context.lastSyncError, 'unavailable');
    // Updates other than a removal are not accepted while terminating.
    const after = run([update('update')], snap);
    assert.deepEqual(after.snap.value, { terminating: 'retryWait' });
  });

  it('a finished kill ends in TerminatedPod and hands the worker back', () => {
    const { snap, emitted } = run([update('kill'), { type: 'KILLED', seq: 1, now: 0 }]);
    assert.deepEqual(snap.value, { terminated: 'idle' });
    assert.equal(emitted.at(-1)!.type, 'worker.idle');
  });

  it('updates to a terminated pod change nothing', () => {
    const { snap: t } = run([update('kill'), { type: 'KILLED', seq: 1, now: 0 }]);
    const { snap, emitted } = run([update('update')], t);
    assert.deepEqual(snap.value, { terminated: 'idle' });
    assert.deepEqual(
      emitted.map((e) => e.type),
      ['worker.idle'],
    );
  });

  it('a removal after termination removes the pod from the runtime and finishes', () => {
    const { snap: t } = run([update('kill'), { type: 'KILLED', seq: 1, now: 0 }]);
    const { snap, emitted } = run([update('kill', { removed: true })], t);
    assert.deepEqual(snap.value, { terminated: 'removing' });
    assert.deepEqual(
      emitted.map((e) => [e.type, e.seq]),
      [['runtime.removePod', 2]],
    );
    const done = run([{ type: 'REMOVED', seq: 2, now: 0 }], snap);
    assert.equal(done.snap.status, 'done');
    assert.deepEqual(
      done.emitted.map((e) => e.type),
      ['worker.idle'],
    );
  });

  it('a removing kill goes straight through termination to removal', () => {
    const { snap, emitted } = run([update('kill', { removed: true }), { type: 'KILLED', seq: 1, now: 0 }]);
    assert.deepEqual(snap.value, { terminated: 'removing' });
    assert.deepEqual(
      emitted.map((e) => e.type),
      ['runtime.killPod', 'runtime.removePod'],
    );
  });

  // issue 8, defect 1: a kill does not interrupt a sync in flight
  it('a kill does not interrupt a sync in flight (fixed): it cancels the sync (runtime.cancelSync, its seq) and waits in cancelling', () => {
    const { snap, emitted } = run([update('create'), update('kill', { gracePeriodSeconds: 4 })]);
    assert.deepEqual(snap.value, { terminating: 'cancelling' });
    assert.deepEqual(
      emitted.map((e) => [e.type, e.seq]),
      [
        ['runtime.syncPod', 1],
        ['runtime.cancelSync', 1],
      ],
    );
    assert.equal(snap.context.gracePeriodSeconds, 4);
    assert.equal(snap.context.nextSyncAt, undefined);
  });

  it('the cancelled sync stopping (CANCELLED) starts the kill with a fresh seq', () => {
    const { snap, emitted } = run([update('create'), update('kill'), { type: 'CANCELLED', seq: 1, now: 0 }]);
    assert.deepEqual(snap.value, { terminating: 'killing' });
    assert.deepEqual(
      emitted.map((e) => [e.type, e.seq]),
      [
        ['runtime.syncPod', 1],
        ['runtime.cancelSync', 1],
        ['runtime.killPod', 2],
      ],
    );
  });

  it('a sync that finished before the cancel reached it (SYNCED) starts the kill too; its result is ignored', () => {
    const { snap, emitted } = run([
      update('create'),
      update('kill'),
      { type: 'SYNCED', seq: 1, result: result({ phase: 'Succeeded', error: 'x' }), now: 0 },
    ]);
    assert.deepEqual(snap.value, { terminating: 'killing' });
    assert.equal(snap.context.lastSyncError, undefined);
    assert.equal(snap.context.terminalPhase, undefined);
    assert.equal(emitted.at(-1)!.type, 'runtime.killPod');
  });

  it('in cancelling, a reply for an older seq is ignored; a runtime restart (RESEND) goes straight to the kill', () => {
    const { snap: c } = run([update('create'), { type: 'RESEND' }, update('kill')]);
    const stale = run([{ type: 'CANCELLED', seq: 1, now: 0 }], c);
    assert.deepEqual(stale.snap.value, { terminating: 'cancelling' });
    assert.deepEqual(stale.emitted, []);
    const resent = run([{ type: 'RESEND' }], c);
    assert.deepEqual(resent.snap.value, { terminating: 'killing' });
    assert.deepEqual(
      resent.emitted.map((e) => [e.type, e.seq]),
      [['runtime.killPod', 3]],
    );
  });

  it('a removing kill that cancels a sync ends in removal', () => {
    const { snap, emitted } = run([
      update('create'),
      update('kill', { removed: true }),
      { type: 'CANCELLED', seq: 1, now: 0 },
      { type: 'KILLED', seq: 2, now: 0 },
    ]);
    assert.deepEqual(snap.value, { terminated: 'removing' });
    assert.deepEqual(
      emitted.map((e) => e.type),
      ['runtime.syncPod', 'runtime.cancelSync', 'runtime.killPod', 'runtime.removePod'],
    );
  });

  it('a failed removal waits and keeps the error', () => {
    const { snap } = run([
      update('kill', { removed: true }),
      { type: 'KILLED', seq: 1, now: 0 },
      { type: 'REMOVED', seq: 2, error: 'busy', now: 0 },
    ]);
    assert.deepEqual(snap.value, { terminated: 'retryWait' });
    assert.equal(snap.context.lastSyncError, 'busy');
  });
});
