// The recorder: a whole kubelet session on virtual time, recorded with --record, read back.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { createRecorder, parseRecording } from '../../kernel/recorder.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'kubelet-ts.local/busybox:1.0';

// Every temp dir is removed after the file's specs, passed or failed.
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kts-rec-'));
  dirs.push(d);
  return d;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

describe('recorder', () => {
  it('records the syncLoop inputs and every CRI call with its answer, in order, with clock times', async () => {
    const dir = tempDir();
    const path = join(dir, 'session.jsonl');
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const fs = new MemoryStaticPodFs().mkdir('/m').writeFile('/m/web.json', JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' },
      spec: { containers: [{ name: 'app', image: IMAGE }] },
    }));
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: '/m', record: path }, clock, log: silentLogger, nodeName: 'node-r', cri, fs,
    });
    await k.start();
    await clock.advanceAsync(3000, settle);
    await k.stop();

    const recs = parseRecording(readFileSync(path, 'utf8'));
    assert.equal(recs[0]!.k, 'header');
    assert.equal(recs[0]!.node, 'node-r');
    // Sequence numbers are dense and times never go back.
    recs.forEach((r, i) => assert.equal(r.n, i));
    for (let i = 1; i < recs.length; i++) assert.ok((recs[i]!.t as number) >= (recs[i - 1]!.t as number));
    // The inputs: the static pod arrived through config and podManager, PLEG saw it start.
    const inputs = recs.filter((r) => r.k === 'in');
    assert.ok(inputs.some((r) => r.ch === 'config' && (r.msg as { type: string }).type === 'config.podsAdded'));
    assert.ok(inputs.some((r) => r.ch === 'podManager'));
    assert.ok(inputs.some((r) => r.ch === 'pleg' && (r.msg as { type: string }).type === 'pleg.containerStarted'));
    // The decisions: what the runtime was asked, matching FakeCri's own log call for call.
    const calls = recs.filter((r) => r.k === 'cri');
    const names = calls.map((r) => r.m as string);
    for (const m of ['runPodSandbox', 'createContainer', 'startContainer']) assert.ok(names.includes(m), `${m} recorded`);
    assert.equal(calls.length, cri.calls.length, 'every CRI call is recorded');
    // Every call has exactly one answer, and the sandbox id answered is the one FakeCri made.
    const answers = new Map(recs.filter((r) => r.k === 'cri.ok' || r.k === 'cri.err').map((r) => [r.id, r]));
    for (const c of calls) assert.ok(answers.has(c.id), `answer for call ${c.id} (${c.m})`);
    const run = calls.find((r) => r.m === 'runPodSandbox')!;
    assert.deepEqual([answers.get(run.id)!.res], cri.sandboxIds());
  });

  it('rotates at the size cap, keeping the newest parts', async () => {
    const dir = tempDir();
    const path = join(dir, 'r.jsonl');
    const rec = createRecorder({ path, clock: new VirtualClock(0), maxBytes: 2000, keep: 2 });
    for (let i = 0; i < 200; i++) rec.write({ k: 'in', ch: 'x', msg: { i, pad: 'x'.repeat(50) } });
    await rec.close();
    assert.ok(rec.stats().rotations >= 3);
    assert.deepEqual(readdirSync(dir).sort(), ['r.jsonl', 'r.jsonl.1', 'r.jsonl.2']);
    const last = parseRecording(readFileSync(path, 'utf8'));
    assert.equal((last.at(-1)!.msg as { i: number }).i, 199);
    const older = parseRecording(readFileSync(`${path}.1`, 'utf8'));
    assert.ok((older.at(-1)!.n as number) < (last[0]!.n as number), 'parts are in order');
  });

  it('wrap with a method list records only those calls (API writes), others pass through untouched', async () => {
    const dir = tempDir();
    const path = join(dir, 'api.jsonl');
    const clock = new VirtualClock(0);
    const rec = createRecorder({ path, clock });
    const target = {
      base: 'pods',
      async getPod(name: string) { return { path: `${this.base}/${name}` }; },
      async patchPodStatus(name: string, patch: unknown) { return { path: `${this.base}/${name}`, patch }; },
      async deletePod(name: string) { throw new Error(`${this.base}/${name}: 404 NotFound`); },
    };
    const api = rec.wrap(target, 'api', ['patchPodStatus', 'deletePod']);
    assert.deepEqual(await api.getPod('a'), { path: 'pods/a' }, 'an unrecorded method keeps its this');
    assert.deepEqual(await api.patchPodStatus('a', { status: { phase: 'Running' } }), { path: 'pods/a', patch: { status: { phase: 'Running' } } });
    await assert.rejects(api.deletePod('b'), /404/);
    await rec.close();
    const recs = parseRecording(readFileSync(path, 'utf8')).slice(1);
    assert.deepEqual(recs.map((r) => [r.k, r.m ?? null]), [['api', 'patchPodStatus'], ['api.ok', null], ['api', 'deletePod'], ['api.err', null]]);
    assert.deepEqual(recs[0]!.args, ['a', { status: { phase: 'Running' } }]);
    assert.match((recs[3]!.err as { message: string }).message, /404 NotFound/);
  });
});
