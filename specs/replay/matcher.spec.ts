// The decision matcher (kernel/replay.ts) on small hand-made recordings: per-pod streams compared
// in order, the timing tolerance a recording gives, and the order across pods beyond it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyseRecording, DecisionMatcher, DEFAULT_PERIODS, sessionTiming, toRecords, type RecordLine } from '../../kernel/replay.ts';
import { RELIST_PERIOD_MS } from '../../actors/pleg/index.ts';

const T0 = 1_800_000_000_000;

/** A one-session recording: the header, then each call (and its answer `latency` ms later) at T0 + at. */
function recording(calls: { at: number; m: string; args: unknown[]; res?: unknown; latency?: number }[], header: Record<string, unknown> = {}): RecordLine[] {
  const lines: Record<string, unknown>[] = [{ t: T0, k: 'header', format: 1, node: 'n', ...header }];
  calls.forEach((c, i) => {
    lines.push({ t: T0 + c.at, k: 'cri', id: i + 1, m: c.m, args: c.args });
    lines.push({ t: T0 + c.at + (c.latency ?? 0), k: 'cri.ok', id: i + 1, res: c.res });
  });
  lines.sort((a, b) => (a.t as number) - (b.t as number));
  return toRecords(lines.map((l, n) => ({ ...l, n })));
}

const sandbox = (uid: string, name = uid) => ({ metadata: { name, namespace: 'default', uid, attempt: 0 } });
const run = (at: number, uid: string) => ({ at, m: 'runPodSandbox', args: [sandbox(uid)], res: `sandbox-${uid}` });

describe('DecisionMatcher: timing and order', () => {
  it('the tolerance is the longer of the relist period and the sync tick, plus the longest recorded read', () => {
    assert.equal(DEFAULT_PERIODS.plegRelistMs, RELIST_PERIOD_MS, 'the defaults are the daemon\'s');
    const a = analyseRecording(recording([
      { at: 10, m: 'listPodSandbox', args: [], res: [], latency: 40 },
      { at: 20, m: 'listContainers', args: [], res: [], latency: 75 },
      run(100, 'a'),
    ], { periods: { plegRelistMs: 500, syncTickMs: 2000 } }));
    assert.deepEqual(a.sessions[0]!.timing, { relistMs: 500, tickMs: 2000, readLatencyMs: 75, toleranceMs: 2075 });
    assert.deepEqual(sessionTiming({}, 0), { relistMs: 1000, tickMs: 1000, readLatencyMs: 0, toleranceMs: 1000 });
    // decisions' own latency is replayed as recorded: it widens nothing
    assert.equal(analyseRecording(recording([{ ...run(100, 'a'), latency: 900 }])).sessions[0]!.timing.toleranceMs, 1000);
  });

  it('a matched decision within the tolerance of its recorded time matches; beyond it, a timing divergence', () => {
    const a = analyseRecording(recording([run(1000, 'a')]));
    const ok = new DecisionMatcher(a);
    assert.ok(ok.observe('runPodSandbox', [sandbox('a')], 'a', T0 + 1000 + 1000, T0 + 5000));
    assert.equal(ok.matched, 1);
    assert.equal(ok.finish().first, undefined);

    const late = new DecisionMatcher(a);
    const exp = late.observe('runPodSandbox', [sandbox('a')], 'a', T0 + 1000 + 1001, T0 + 5000);
    assert.ok(exp, 'still answered as recorded');
    assert.equal(late.matched, 0);
    const d = late.finish().first!;
    assert.equal(d.kind, 'timing');
    assert.equal(d.index, 1);
    assert.deepEqual(d.differences, ['time: +1.000s → +2.001s (1001 ms later than recorded; tolerance 1000 ms)']);

    const early = new DecisionMatcher(a);
    early.observe('runPodSandbox', [sandbox('a')], 'a', T0 - 1, T0 + 5000);
    assert.match(early.finish().first!.differences[0]!, /1001 ms earlier than recorded/);
  });

  it('across pods: decisions recorded further apart than the tolerance keep their order; closer ones may swap', () => {
    // a at +1s, b at +2.5s (1.5s apart), c at +3s (0.5s after b)
    const a = analyseRecording(recording([run(1000, 'a'), run(2500, 'b'), run(3000, 'c')]));

    // b before a, each within the tolerance of its own time: an order divergence, at b
    const swapped = new DecisionMatcher(a);
    swapped.observe('runPodSandbox', [sandbox('b')], 'b', T0 + 1800, T0 + 5000);
    swapped.observe('runPodSandbox', [sandbox('a')], 'a', T0 + 1900, T0 + 5000);
    swapped.observe('runPodSandbox', [sandbox('c')], 'c', T0 + 3000, T0 + 5000);
    const { first, divergedPods } = swapped.finish();
    assert.equal(divergedPods, 1);
    assert.equal(first!.kind, 'order');
    assert.equal(first!.pod, 'b');
    assert.deepEqual(first!.differences, ['order: recorded 1500 ms after runPodSandbox of pod default/a (+1.000s, index 1), replayed before it (tolerance 1000 ms)']);

    // c before b (0.5s apart when recorded): latency may do that
    const close = new DecisionMatcher(a);
    for (const [pod, at] of [['a', 1100], ['c', 2600], ['b', 2700]] as const) {
      assert.ok(close.observe('runPodSandbox', [sandbox(pod)], pod, T0 + at, T0 + 5000));
    }
    assert.equal(close.finish().first, undefined);
    assert.equal(close.matched, 3);
  });
});
