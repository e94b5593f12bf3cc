// The podWorkers actor's view: `removed` says a removing kill reached the worker or waits in its
// pending slot, so housekeeping re-sends one only when it was really lost.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import '../../protocols/messages/channels.ts';
import { collect, startActor } from '../../kernel/testing.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { PodWorkerUpdate } from '../../protocols/messages/channels.ts';
import { podWorkers } from '../../actors/pod-workers/index.ts';

const pod = { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { containers: [] } } as unknown as Pod;

describe('podWorkers view', () => {
  it('removed: false until a removing kill arrives, true while it waits behind a kill, true once it runs', async (t) => {
    const a = await startActor(podWorkers, {});
    t.after(() => a.stop());
    const commands = collect(a.bus, 'runtime');
    const send = (u: Omit<PodWorkerUpdate, 'type' | 'uid' | 'pod'>) =>
      a.bus.port('syncLoop').send('podWorker', { type: 'podWorker.update', uid: 'u1', pod, ...u });
    const view = () => a.bus.port('x').current('podWorkerStates')!.get('u1');
    send({ updateType: 'create', cause: 'config.add' });
    assert.equal(commands.at(-1)!.type, 'runtime.syncPod');
    assert.equal(view()!.removed, false);
    const sync = commands.at(-1)!;
    // a plain kill (API deletion) while the sync is in flight: it cancels the sync, not a removal
    send({ updateType: 'kill', cause: 'config.delete' });
    assert.deepEqual([commands.at(-1)!.type, commands.at(-1)!.seq], ['runtime.cancelSync', sync.seq]);
    assert.equal(view()!.removed, false);
    // the removal waits behind that kill: the view says so at once
    send({ updateType: 'kill', removed: true, cause: 'config.remove' });
    assert.equal(view()!.removed, true);
    // the sync ends (it had finished before the cancel reached it); the kill runs
    a.bus.port('runtime').send('runtimeReply', {
      type: 'runtime.podSynced',
      uid: 'u1',
      seq: sync.seq,
      result: {
        phase: 'Running',
        apiStatus: {},
        actions: [],
        waiting: [],
        status: { uid: 'u1', name: 'web', namespace: 'default', sandboxes: [], containers: [], timestamp: 0 },
      },
    });
    assert.equal(commands.at(-1)!.type, 'runtime.killPod');
    assert.equal(view()!.state, 'terminating');
    assert.equal(view()!.removed, true);
  });
});
