// The decision matcher (replay/replay.ts) on small hand-made recordings: per-pod streams compared
// in order, what a divergence says, what is not compared, the timing tolerance a recording gives
// and the order across pods beyond it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyseRecording,
  DecisionMatcher,
  DEFAULT_PERIODS,
  NODE_KEY,
  normalizeArgs,
  podOfDecision,
  sessionTiming,
} from '../../replay/replay.ts';
import { RELIST_PERIOD_MS } from '../../actors/pleg/index.ts';
import { containerConfig, podStart, recording as sessions, sandboxConfig, T0, type HandCall } from './hand-made.ts';

/** A one-session recording. */
const recording = (calls: HandCall[], header: Record<string, unknown> = {}) => sessions({ header, calls });
const sandbox = (uid: string) => sandboxConfig(uid);
const run = (at: number, uid: string): HandCall => ({
  at,
  m: 'runPodSandbox',
  args: [sandbox(uid)],
  res: `sandbox-${uid}`,
});

describe('DecisionMatcher: timing and order', () => {
  it('the tolerance is the longer of the relist period and the sync tick, plus the longest recorded read', () => {
    assert.equal(DEFAULT_PERIODS.plegRelistMs, RELIST_PERIOD_MS, "the defaults are the daemon's");
    const a = analyseRecording(
      recording(
        [
          { at: 10, m: 'listPodSandbox', args: [], res: [], latency: 40 },
          { at: 20, m: 'listContainers', args: [], res: [], latency: 75 },
          run(100, 'a'),
        ],
        { periods: { plegRelistMs: 500, syncTickMs: 2000 } },
      ),
    );
    assert.deepEqual(a.sessions[0]!.timing, { relistMs: 500, tickMs: 2000, readLatencyMs: 75, toleranceMs: 2075 });
    assert.deepEqual(sessionTiming({}, 0), { relistMs: 1000, tickMs: 1000, readLatencyMs: 0, toleranceMs: 1000 });
    // decisions' own latency is replayed as recorded: it widens nothing
    assert.equal(
      analyseRecording(recording([{ ...run(100, 'a'), latency: 900 }])).sessions[0]!.timing.toleranceMs,
      1000,
    );
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
    assert.deepEqual(first!.differences, [
      'order: recorded 1500 ms after runPodSandbox of pod default/a (+1.000s, index 1), replayed before it (tolerance 1000 ms)',
    ]);

    // c before b (0.5s apart when recorded): latency may do that
    const close = new DecisionMatcher(a);
    for (const [pod, at] of [
      ['a', 1100],
      ['c', 2600],
      ['b', 2700],
    ] as const) {
      assert.ok(close.observe('runPodSandbox', [sandbox(pod)], pod, T0 + at, T0 + 5000));
    }
    assert.equal(close.finish().first, undefined);
    assert.equal(close.matched, 3);
  });
});

describe('DecisionMatcher: what is compared', () => {
  const END = T0 + 10_000;
  /** Replays `a`'s decisions of pod `uid` as recorded (same times), through `m`. */
  const replayPod = (m: DecisionMatcher, a: ReturnType<typeof analyseRecording>, uid: string) => {
    for (const d of a.decisions.filter((x) => x.pod === uid)) m.observe(d.m, d.call.args, d.pod, d.t, END);
  };

  it("reads each pod's decisions from the recording: ids name their pod through the answers that carried them", () => {
    const a = analyseRecording(
      recording([
        ...podStart('a', 100),
        ...podStart('b', 110),
        { at: 500, m: 'stopContainer', args: ['ctr-a', 30, { timeoutMs: 32_000 }] },
      ]),
    );
    assert.deepEqual(
      a.decisions.map((d) => `${d.m}:${d.pod}`),
      [
        'runPodSandbox:a',
        'createContainer:a',
        'runPodSandbox:b',
        'startContainer:a',
        'createContainer:b',
        'startContainer:b',
        'stopContainer:a',
      ],
    );
    assert.equal(a.podName.get('a'), 'default/a');
    // the call options are no decision; trailing holes are dropped
    assert.deepEqual(a.decisions.at(-1)!.args, ['ctr-a', 30]);
    assert.deepEqual(normalizeArgs('runPodSandbox', [sandbox('a'), undefined]), [sandbox('a')]);
    const podOf = (id: string) => a.podOfId.get(id);
    assert.equal(podOfDecision('createContainer', ['sandbox-a', containerConfig('a'), sandbox('a')], podOf), 'a');
    assert.equal(podOfDecision('removeContainer', ['ctr-b'], podOf), 'b');
    assert.equal(podOfDecision('removeImage', [{ image: 'x' }], podOf), NODE_KEY);
  });

  it('each pod in its own order: pods may interleave differently than recorded', () => {
    const a = analyseRecording(recording([...podStart('a', 100), ...podStart('b', 110)]));
    const m = new DecisionMatcher(a);
    replayPod(m, a, 'b');
    replayPod(m, a, 'a');
    assert.equal(m.matched, 6);
    assert.deepEqual(m.finish(), { first: undefined, divergedPods: 0 });
  });

  it('a decision with other arguments diverges at that record, naming where they differ; the pod is compared no further, the others are', () => {
    const a = analyseRecording(recording([...podStart('a', 100), ...podStart('b', 1000)]));
    const m = new DecisionMatcher(a);
    const changed = { ...sandbox('a'), metadata: { ...sandbox('a').metadata, attempt: 1 } };
    assert.equal(m.observe('runPodSandbox', [changed], 'a', T0 + 100, END), undefined, 'not answered as recorded');
    assert.equal(
      m.observe('createContainer', ['replay-sandbox-1', containerConfig('a'), changed], 'a', T0 + 110, END),
      undefined,
    );
    replayPod(m, a, 'b');
    assert.equal(m.matched, 3);
    const { first, divergedPods } = m.finish();
    assert.equal(divergedPods, 1);
    assert.equal(first!.kind, 'decision');
    assert.equal(first!.index, 1);
    assert.equal(first!.podName, 'default/a');
    assert.deepEqual(first!.differences, ['args[0].metadata.attempt: 0 → 1']);
    assert.equal(first!.expected!.m, 'runPodSandbox');
    assert.deepEqual(first!.actual!.args, [changed]);
  });

  it('a recorded decision never made, and one made that was never recorded, diverge; after the recording ended, nothing is compared', () => {
    const a = analyseRecording(
      recording([...podStart('a', 100), { at: 2000, m: 'stopContainer', args: ['ctr-a', 30] }]),
    );
    const missing = new DecisionMatcher(a);
    for (const d of a.decisions.slice(0, 3)) missing.observe(d.m, d.call.args, d.pod, d.t, END);
    const gone = missing.finish().first!;
    assert.equal(gone.expected!.m, 'stopContainer');
    assert.equal(gone.actual, null);

    const end = a.sessions[0]!.end;
    const extra = new DecisionMatcher(a);
    replayPod(extra, a, 'a');
    extra.observe('removeContainer', ['ctr-a'], 'a', end + 1, end);
    assert.equal(extra.beyondEnd, 1, 'after the end: not compared');
    assert.equal(extra.finish().first, undefined);
    extra.observe('stopPodSandbox', ['sandbox-x'], NODE_KEY, end, end);
    const unexpected = extra.finish().first!;
    assert.equal(unexpected.expected, null);
    assert.equal(unexpected.actual!.m, 'stopPodSandbox');
  });

  it('the first divergence is the one recorded first, not the one found first', () => {
    const a = analyseRecording(recording([...podStart('a', 100), ...podStart('b', 1000)]));
    const m = new DecisionMatcher(a);
    m.observe('runPodSandbox', [sandbox('x')], 'b', T0 + 1000, END); // b's diverges first, at a later record
    m.observe('runPodSandbox', [sandbox('y')], 'a', T0 + 1001, END);
    const { first, divergedPods } = m.finish();
    assert.equal(divergedPods, 2);
    assert.equal(first!.pod, 'a');
  });
});
