/**
 * The syncLoop's pure dispatch (upstream syncLoopIteration's handlers) and its wait for every
 * configured pod source before housekeeping kills anything.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../kernel/clock.ts';
import { startActor } from '../../kernel/testing.ts';
import { dispatch, syncLoop, type SyncLoopViews } from '../../kernel/sync-loop.ts';
import type { DesiredPod, PodWorkerUpdate, RuntimePods } from '../../protocols/messages/channels.ts';
import type { Pod } from '../../protocols/kube/pod.ts';

function pod(uid: string, meta: Partial<Pod['metadata']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: uid, namespace: 'default', uid, ...meta },
    spec: { containers: [] },
  } as unknown as Pod;
}

function views(desired: DesiredPod[], extra: Partial<SyncLoopViews> = {}): SyncLoopViews {
  return {
    desired: new Map(desired.map((d) => [d.pod.metadata.uid!, d])),
    workers: new Map(),
    runtimePods: new Map(),
    sourcesReady: true,
    now: 0,
    ...extra,
  };
}

const brief = (us: PodWorkerUpdate[]) => us.map((u) => [u.uid, u.updateType, u.cause, u.removed ?? false]);

describe('syncLoop dispatch', () => {
  it('config add / update / remove become create / update / removing kill', () => {
    const p = pod('a');
    const v = views([{ pod: p, source: 'api', static: false }]);
    assert.deepEqual(brief(dispatch({ type: 'podManager.podChanged', op: 'add', pod: p }, v)), [
      ['a', 'create', 'config.add', false],
    ]);
    assert.deepEqual(brief(dispatch({ type: 'podManager.podChanged', op: 'update', pod: p }, v)), [
      ['a', 'update', 'config.update', false],
    ]);
    assert.deepEqual(brief(dispatch({ type: 'podManager.podChanged', op: 'remove', pod: p }, views([]))), [
      ['a', 'kill', 'config.remove', true],
    ]);
  });

  it('an update carrying a deletionTimestamp is a kill that keeps the pod (the API object still exists)', () => {
    const p = pod('a', { deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 5 });
    const v = views([{ pod: p, source: 'api', static: false }]);
    const [u] = dispatch({ type: 'podManager.podChanged', op: 'update', pod: p }, v);
    assert.equal(u!.updateType, 'kill');
    assert.equal(u!.removed, undefined);
    assert.equal(u!.pod, p, 'the pod travels with it: its deletionGracePeriodSeconds sets the grace');
    // after a restart (no worker yet) the tick kills it instead of creating it
    assert.deepEqual(brief(dispatch({ type: 'syncLoop.syncTick' }, v)), [['a', 'kill', 'tick.noWorker', false]]);
  });

  it('a rejected pod gets no worker: not on add, not on PLEG events, not on the tick; housekeeping kills its leftovers', () => {
    const p = pod('r');
    const v = views([{ pod: p, source: 'api', static: false, rejected: { reason: 'OutOfcpu', message: 'no' } }], {
      runtimePods: new Map([
        ['r', { uid: 'r', name: 'r', namespace: 'default', sandboxes: [], containers: [] }],
      ]) as unknown as RuntimePods,
    });
    assert.deepEqual(dispatch({ type: 'podManager.podChanged', op: 'add', pod: p }, v), []);
    assert.deepEqual(dispatch({ type: 'pleg.containerStarted', podUid: 'r', containerId: 'c' } as never, v), []);
    assert.deepEqual(dispatch({ type: 'syncLoop.syncTick' }, v), []);
    assert.deepEqual(brief(dispatch({ type: 'syncLoop.housekeeping' }, v)), [
      ['r', 'kill', 'housekeeping.orphan', true],
    ]);
  });

  it('a pod the API already shows Succeeded or Failed (e.g. after a restart) is killed, never created', () => {
    for (const phase of ['Failed', 'Succeeded']) {
      const p = { ...pod('done'), status: { phase, reason: 'Evicted' } } as Pod;
      const v = views([{ pod: p, source: 'api', static: false }]);
      for (const op of ['add', 'update'] as const) {
        const us = dispatch({ type: 'podManager.podChanged', op, pod: p }, v);
        assert.deepEqual(brief(us), [['done', 'kill', 'config.terminal', false]], `${phase} ${op}`);
        assert.equal(us[0]!.pod, p);
      }
      // the tick's pods without a worker: a kill too (a restarted podWorkers)
      assert.deepEqual(brief(dispatch({ type: 'syncLoop.syncTick' }, v)), [['done', 'kill', 'tick.noWorker', false]]);
    }
    // a running pod is unaffected
    const r = { ...pod('run'), status: { phase: 'Running' } } as Pod;
    assert.deepEqual(
      brief(
        dispatch(
          { type: 'podManager.podChanged', op: 'add', pod: r },
          views([{ pod: r, source: 'api', static: false }]),
        ),
      ),
      [['run', 'create', 'config.add', false]],
    );
  });

  it("an edited static pod (new uid, same name) is not started while the old one's worker has not terminated; the tick starts it after", () => {
    const old = pod('old', { name: 'web' });
    const neu = pod('new', { name: 'web' });
    const d = { pod: neu, source: 'file' as const, static: true };
    const worker = (state: 'syncing' | 'terminating' | 'terminated') =>
      new Map([['old', { uid: 'old', name: 'web', namespace: 'default', state }]]);
    for (const state of ['syncing', 'terminating'] as const) {
      const v = views([d], { workers: worker(state) });
      assert.deepEqual(dispatch({ type: 'podManager.podChanged', op: 'add', pod: neu }, v), [], state);
      assert.deepEqual(dispatch({ type: 'podManager.podChanged', op: 'update', pod: neu }, v), [], state);
      assert.deepEqual(
        dispatch({ type: 'pleg.containerStarted', podUid: 'new', containerId: 'c', sandbox: false }, v),
        [],
        state,
      );
      assert.deepEqual(dispatch({ type: 'syncLoop.syncTick' }, v), [], state);
      // the old one is still killed / removed as usual
      assert.deepEqual(brief(dispatch({ type: 'podManager.podChanged', op: 'remove', pod: old }, v)), [
        ['old', 'kill', 'config.remove', true],
      ]);
    }
    assert.deepEqual(brief(dispatch({ type: 'syncLoop.syncTick' }, views([d], { workers: worker('terminated') }))), [
      ['new', 'create', 'tick.noWorker', false],
    ]);
    assert.deepEqual(brief(dispatch({ type: 'syncLoop.syncTick' }, views([d]))), [
      ['new', 'create', 'tick.noWorker', false],
    ]);
    // a first start, an API pod of the same name, another namespace: not held
    assert.deepEqual(brief(dispatch({ type: 'podManager.podChanged', op: 'add', pod: neu }, views([d]))), [
      ['new', 'create', 'config.add', false],
    ]);
    assert.equal(
      dispatch(
        { type: 'podManager.podChanged', op: 'add', pod: neu },
        views([{ ...d, static: false }], { workers: worker('syncing') }),
      ).length,
      1,
    );
    const other = pod('new', { name: 'web', namespace: 'kube-system' });
    assert.equal(
      dispatch(
        { type: 'podManager.podChanged', op: 'add', pod: other },
        views([{ ...d, pod: other }], { workers: worker('syncing') }),
      ).length,
      1,
    );
  });

  it('housekeeping: every worker of an undesired pod that was never told to remove it gets a removing kill, whatever its state', () => {
    const w = (uid: string, state: 'syncing' | 'terminating' | 'terminated', removed?: boolean) =>
      [uid, { uid, name: uid, namespace: 'default', state, ...(removed === undefined ? {} : { removed }) }] as const;
    const v = views([{ pod: pod('kept'), source: 'api', static: false }], {
      workers: new Map([
        w('kept', 'terminated'), // still desired (e.g. finished, not deleted): stays
        w('lost', 'terminated', false), // its removing kill was lost: leaked forever before
        w('stopping', 'terminating'),
        w('running', 'syncing'),
        w('going', 'terminated', true), // already removing
      ]),
    });
    assert.deepEqual(brief(dispatch({ type: 'syncLoop.housekeeping' }, v)), [
      ['lost', 'kill', 'housekeeping.undesired', true],
      ['stopping', 'kill', 'housekeeping.undesired', true],
      ['running', 'kill', 'housekeeping.undesired', true],
    ]);
  });

  it('housekeeping does nothing until every source has listed once', () => {
    const v = views([], {
      sourcesReady: false,
      runtimePods: new Map([
        ['x', { uid: 'x', name: 'x', namespace: 'default', sandboxes: [], containers: [] }],
      ]) as unknown as RuntimePods,
    });
    assert.deepEqual(dispatch({ type: 'syncLoop.housekeeping' }, v), []);
    assert.equal(dispatch({ type: 'syncLoop.housekeeping' }, { ...v, sourcesReady: true }).length, 1);
  });
});

describe('syncLoop actor: sources', () => {
  it("is ready only when each configured source is in pod-manager's readySources view", async () => {
    const clock = new VirtualClock(0);
    const h = await startActor(syncLoop, { sources: ['file', 'api'] }, { clock });
    const ready = () => (h.inspect() as { sourcesReady: boolean }).sourcesReady;
    const pm = h.bus.port('podManager');
    assert.equal(ready(), false);
    pm.publish('readySources', new Set(['file'] as const));
    assert.equal(ready(), false, 'the API source has not listed yet');
    pm.publish('readySources', new Set(['file', 'api'] as const));
    assert.equal(ready(), true);
    await h.stop();
    // a restarted syncLoop (same bus) does not wait again: no source says sourcesReady twice
    const again = await startActor(syncLoop, { sources: ['file', 'api'] }, { bus: h.bus, clock });
    assert.equal((again.inspect() as { sourcesReady: boolean }).sourcesReady, true);
    await again.stop();
  });

  it('with no configured source there is nothing to wait for', async () => {
    const h = await startActor(syncLoop, { sources: [] }, { clock: new VirtualClock(0) });
    assert.equal((h.inspect() as { sourcesReady: boolean }).sourcesReady, true);
    await h.stop();
  });
});

describe('syncLoop dispatch: probe results (upstream handleProbeSync)', () => {
  const pod = {
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: { containers: [] },
  } as unknown as Pod;
  const v = (workers = true) => ({
    desired: new Map([['u1', { pod, source: 'file' as const, static: true }]]),
    workers: new Map(
      workers ? [['u1', { uid: 'u1', name: 'web', namespace: 'default', state: 'syncing' as const }]] : [],
    ),
    runtimePods: new Map(),
    sourcesReady: true,
    now: 0,
  });
  const msg = (probeType: 'liveness' | 'readiness' | 'startup', result: 'success' | 'failure') => ({
    type: 'probe.resultChanged' as const,
    podUid: 'u1',
    containerName: 'c',
    containerId: 'id',
    probeType,
    result,
  });

  it('a liveness failure, and any readiness or startup change, syncs the pod; a liveness success does nothing', () => {
    for (const [t, r] of [
      ['liveness', 'failure'],
      ['readiness', 'success'],
      ['readiness', 'failure'],
      ['startup', 'success'],
      ['startup', 'failure'],
    ] as const) {
      assert.deepEqual(
        dispatch(msg(t, r), v()),
        [{ type: 'podWorker.update', uid: 'u1', updateType: 'sync', pod, cause: `probe.${t}` }],
        `${t} ${r}`,
      );
    }
    assert.deepEqual(dispatch(msg('liveness', 'success'), v()), []);
  });

  it('nothing for a pod without a worker or not desired', () => {
    assert.deepEqual(dispatch(msg('liveness', 'failure'), v(false)), []);
    assert.deepEqual(dispatch({ ...msg('liveness', 'failure'), podUid: 'other' }, v()), []);
  });
});
