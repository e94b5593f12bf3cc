// Tier 3: node sessions recorded on real containerd (scripts/record-trace.ts), replayed by the
// same kernel and actors on virtual time against the recording-driven runtime. Every trace must
// replay with identical decisions, deterministically; a trace with one decision changed must
// fail, at that decision. How much faster than recorded is measured by `npm run bench:replay`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DECISION_METHODS } from '../../replay/replay.ts';
import { formatResult, readRecording, replayRecording, type ReplayResult } from '../../bin/replay.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const TRACES = join(import.meta.dirname, 'traces');
const traces = readdirSync(TRACES)
  .filter((f) => /\.jsonl(\.gz)?$/.test(f))
  .sort();
const SCENARIOS = [
  'pod-start',
  'crash-loop',
  'manifest-edit',
  'deletion',
  'restart-adoption',
  'cluster-admission',
  'volumes',
  'data-volumes',
];

type Line = Record<string, unknown>;
const load = (name: string): Line[] => readRecording(join(TRACES, traces.find((f) => f.startsWith(`${name}.jsonl`))!));
const decisionsOf = (recs: Line[], m: string) =>
  recs.map((r, i) => ({ r, i })).filter(({ r }) => r.k === 'cri' && r.m === m);

/** The result without the wall-clock fields. */
const stable = (r: ReplayResult) => ({ ...r, replayMs: 0, speedup: 0 });

describe('replay of recorded node sessions', () => {
  it('has a trace for every scenario', () => {
    for (const s of SCENARIOS)
      assert.ok(
        traces.some((f) => f.startsWith(`${s}.jsonl`)),
        `specs/replay/traces/${s}.jsonl(.gz)`,
      );
  });

  for (const file of traces) {
    it(`${file}: the same decisions, deterministically`, async () => {
      const recs = readRecording(join(TRACES, file));
      const first = await replayRecording(recs);
      assert.ok(first.identical, formatResult(first));
      assert.ok(first.decisions > 0, 'the trace holds decisions');
      assert.equal(first.matched, first.decisions);
      const second = await replayRecording(recs);
      assert.deepEqual(stable(second), stable(first), 'two replays decide the same at the same virtual times');
    });
  }

  it('restart-adoption holds two sessions, and the second kubelet adopts the pod without a decision', async () => {
    const recs = load('restart-adoption');
    const headers = recs.map((r, i) => ({ r, i })).filter(({ r }) => r.k === 'header');
    assert.equal(headers.length, 2);
    const second = headers[1]!.i;
    const mutating = recs
      .slice(second)
      .filter(
        (r) =>
          r.k === 'cri' &&
          ['runPodSandbox', 'createContainer', 'startContainer', 'stopContainer', 'stopPodSandbox'].includes(
            r.m as string,
          ),
      );
    assert.deepEqual(mutating, [], 'the recorded second session starts nothing and stops nothing');
    const r = await replayRecording(recs);
    assert.ok(r.identical, formatResult(r));
    assert.equal(r.sessions, 2);
  });

  it('data-volumes: the files the recorded kubelet wrote are in the trace without their content, and replay the same', async () => {
    const recs = load('data-volumes');
    const text = recs.map((r) => JSON.stringify(r)).join('\n');
    const secret = 'trace-secret-value';
    for (const s of [secret, Buffer.from(secret).toString('base64'), 'eyJhbGci'])
      assert.ok(!text.includes(s), `${s} is not in the trace`);
    const writes = recs.filter((r) => r.k === 'volumes' && r.m === 'writeAtomically');
    assert.ok(writes.length >= 3, 'the three volumes written (and the ConfigMap rewritten)');
    for (const w of writes)
      for (const f of (w.args as [string, { content: unknown }[]])[1]) assert.equal(f.content, '<redacted>');
    const r = await replayRecording(recs);
    assert.ok(r.identical, formatResult(r));
  });

  it('cluster-admission (issue 8, defect 7): the pod the recorded kubelet rejected OutOfmemory is rejected in the replay too, from the recorded Node', async () => {
    const recs = load('cluster-admission');
    const uidOf = (name: string) => {
      const pod = recs
        .flatMap((r) =>
          r.k === 'in' && r.ch === 'config'
            ? ((r.msg as { pods?: { metadata: { name: string; uid: string } }[] }).pods ?? [])
            : [],
        )
        .find((p) => p.metadata.name === name);
      return pod!.metadata.uid;
    };
    const huge = uidOf('huge');
    const failed = recs.find(
      (r) => r.k === 'api' && r.m === 'patchPodStatus' && JSON.stringify(r.args).includes('"reason":"OutOfmemory"'),
    );
    assert.ok(
      failed && JSON.stringify(failed.args).includes(huge),
      'the recorded kubelet wrote huge Failed, OutOfmemory',
    );
    assert.ok(
      !decisionsOf(recs, 'runPodSandbox').some(({ r }) => JSON.stringify(r.args).includes(huge)),
      'and never started it',
    );
    assert.ok(
      recs.some((r) => r.k === 'view' && r.ch === 'node'),
      'the Node admission read is recorded',
    );
    const r = await replayRecording(recs);
    assert.ok(r.identical, formatResult(r));
    assert.ok(r.decisions >= 3, 'fits: sandbox, container, start');

    // without the recorded Node (a recording of before), the replay admits and starts huge
    const before = recs.filter((x) => x.k !== 'view').map((x, i) => (i === 0 ? { ...x, format: 1 } : x));
    const old = await replayRecording(before);
    assert.equal(old.identical, false);
    assert.equal(old.divergence?.pod, huge, formatResult(old));
    assert.equal(old.divergence?.actual?.m, 'runPodSandbox');
  });

  it('volumes (issue 11): the volume decisions are in the trace and answered from it; a subPath bind that failed there creates no app container here', async () => {
    const recs = load('volumes');
    const calls = recs.filter((r) => r.k === 'volumes' || r.k === 'subpaths').map((r) => r.m);
    for (const m of ['mkdirAll', 'mountTmpfs', 'listPodDirs', 'unmountAll', 'removeAll', 'prepare'])
      assert.ok(calls.includes(m), `${m} recorded`);
    const tmpfs = recs.find((r) => r.k === 'volumes' && r.m === 'mountTmpfs');
    assert.equal(((tmpfs?.args ?? []) as unknown[])[1], 4 * 1024 * 1024, 'the Memory emptyDir of sizeLimit 4Mi');
    const app = recs.find(
      (r) => r.k === 'cri' && r.m === 'createContainer' && JSON.stringify(r.args).includes('"name":"app"'),
    );
    assert.match(
      JSON.stringify(app?.args),
      /volume-subpaths\/data\/app\/0","readonly":true/,
      'the subPath bind reaches CreateContainer read-only',
    );
    assert.ok((await replayRecording(recs)).identical);
    // the bind answered as failed: the replayed runtime holds the app container, the recorded one created it
    const prepare = recs.find((r) => r.k === 'subpaths' && r.m === 'prepare')!;
    const failed = recs.map((r) =>
      r.k === 'subpaths.ok' && r.id === prepare.id
        ? { ...r, k: 'subpaths.err', err: { message: 'subpath refused' }, res: undefined }
        : r,
    );
    const r = await replayRecording(failed);
    assert.equal(r.identical, false);
    assert.equal(r.divergence?.expected?.m, 'createContainer', formatResult(r));
  });

  it('crash-loop: the recorded exits drive the restarts (attempts 1, 2, 3 after backoff)', async () => {
    const recs = load('crash-loop');
    const attempts = decisionsOf(recs, 'createContainer').map(
      ({ r }) => ((r.args as Line[])[1]!.metadata as { attempt: number }).attempt,
    );
    assert.deepEqual(attempts.slice(0, 4), [0, 1, 2, 3]);
    const r = await replayRecording(recs);
    assert.ok(r.identical, formatResult(r));
  });

  it('a changed command in a recorded CreateContainer is reported at that record, with expected and actual', async () => {
    const recs = structuredClone(load('manifest-edit'));
    const creates = decisionsOf(recs, 'createContainer');
    const { r: target, i: index } = creates.at(-1)!;
    const config = (target.args as Line[])[1] as { command: string[] };
    const original = config.command;
    config.command = ['sh', '-c', 'echo mutated'];
    const res = await replayRecording(recs);
    assert.equal(res.identical, false);
    const d = res.divergence!;
    assert.equal(d.index, index);
    assert.equal(d.expected!.m, 'createContainer');
    assert.deepEqual((d.expected!.args[1] as { command: string[] }).command, ['sh', '-c', 'echo mutated']);
    assert.equal(d.actual!.m, 'createContainer');
    assert.deepEqual((d.actual!.args[1] as { command: string[] }).command, original);
    assert.ok(
      d.differences.some((x) => x.startsWith('args[1].command')),
      d.differences.join('\n'),
    );
    // every decision recorded before it was matched
    assert.ok(
      res.matched >= recs.slice(0, index).filter((r) => r.k === 'cri' && (r.m as string) in DECISION_METHODS).length,
    );
    assert.match(formatResult(res), new RegExp(`^divergence at index ${index} \\(line ${index + 1}\\)`));
    // deterministic in failure too
    assert.deepEqual(stable(await replayRecording(recs)), stable(res));
  });

  it('a removed StartContainer is reported where the recording goes on without it', async () => {
    const recs = structuredClone(load('crash-loop'));
    const { r: start, i: at } = decisionsOf(recs, 'startContainer')[0]!;
    const answerAt = recs.findIndex((r, i) => i > at && (r.k === 'cri.ok' || r.k === 'cri.err') && r.id === start.id);
    assert.ok(answerAt > at);
    const mutated = recs.filter((_, i) => i !== at && i !== answerAt);
    const next = decisionsOf(mutated, 'createContainer')[1]!; // attempt 1: what the recording does next for this pod
    const res = await replayRecording(mutated);
    assert.equal(res.identical, false);
    const d = res.divergence!;
    assert.equal(d.index, next.i);
    assert.equal(d.expected!.m, 'createContainer');
    assert.equal(d.actual!.m, 'startContainer');
    assert.deepEqual(d.actual!.args, (start.args as unknown[]).slice(0, 1));
  });

  it('a recording whose crash backoff was 12s, not 10s, diverges in timing at the restart after it', async () => {
    // The recording is shifted as a kubelet with a 12s initial backoff would have made it: from
    // the second restart on, everything happens 2s later.
    const recs = structuredClone(load('crash-loop'));
    const { r: attempt2, i: index } = decisionsOf(recs, 'createContainer')[2]!;
    assert.equal(((attempt2.args as Line[])[1]!.metadata as { attempt: number }).attempt, 2);
    for (const r of recs.slice(index)) (r as { t: number }).t += 2000;
    const res = await replayRecording(recs);
    assert.equal(res.identical, false);
    const d = res.divergence!;
    assert.equal(d.kind, 'timing');
    assert.equal(d.index, index);
    assert.equal(d.expected!.m, 'createContainer');
    assert.deepEqual(d.actual!.args, d.expected!.args, 'the same decision, at another time');
    assert.ok(d.expected!.t - d.actual!.t > 1500, `replayed ${d.expected!.t - d.actual!.t} ms early`);
    assert.match(
      d.differences[0]!,
      /^time: \+\d+\.\d+s → \+\d+\.\d+s \(\d+ ms earlier than recorded; tolerance \d+ ms\)$/,
    );
    assert.match(formatResult(res), new RegExp(`^timing divergence at index ${index} \\(line ${index + 1}\\)`));
  });

  it('a manifest edit recorded with the new static pod starting alongside the old one diverges: the kubelet holds it until the old one is gone', async () => {
    // The new version's decisions (and their answers) moved to when the old container was being
    // stopped, as a kubelet without the static-pod start hold would have made them.
    const recs = structuredClone(load('manifest-edit'));
    const creates = decisionsOf(recs, 'runPodSandbox');
    assert.equal(creates.length, 2);
    const newUid = ((creates[1]!.r.args as Line[])[0]!.metadata as { uid: string }).uid;
    const stopAt = decisionsOf(recs, 'stopContainer')[0]!;
    // its sandbox, container and start: each names what the answer before it returned
    const answer = (id: unknown) => recs.find((r) => r.k === 'cri.ok' && r.id === id)!.res;
    const sandbox = answer(creates[1]!.r.id);
    const create = decisionsOf(recs, 'createContainer').find(({ r }) => (r.args as unknown[])[0] === sandbox)!.r;
    const start = decisionsOf(recs, 'startContainer').find(
      ({ r }) => (r.args as unknown[])[0] === answer(create.id),
    )!.r;
    const ids = new Set([creates[1]!.r.id, create.id, start.id]);
    const moved = recs.filter((r) => (r.k === 'cri' || r.k === 'cri.ok') && ids.has(r.id));
    const shift = (creates[1]!.r.t as number) - (stopAt.r.t as number) - 5;
    for (const r of moved) (r as { t: number }).t -= shift;
    const rest = recs.filter((r) => !moved.includes(r));
    const at = rest.indexOf(stopAt.r) + 1;
    const mutated = [...rest.slice(0, at), ...moved, ...rest.slice(at)];
    const res = await replayRecording(mutated);
    assert.equal(res.identical, false, 'the new pod is not started while the old one stops');
    const d = res.divergence!;
    assert.equal(d.kind, 'timing');
    assert.equal(d.pod, newUid);
    assert.equal(d.expected!.m, 'runPodSandbox');
    assert.equal(d.index, at);
    assert.ok(d.actual!.t - d.expected!.t > 1000, `replayed ${d.actual!.t - d.expected!.t} ms later`);
  });

  it('kubelet-ts replay prints the verdict and exits 0, or the divergence and exits 1; --json for machines', () => {
    const bin = join(ROOT, 'bin', 'kubelet-ts');
    const file = join(TRACES, traces.find((f) => f.startsWith('pod-start'))!);
    const ok = spawnSync(bin, ['replay', file], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^identical \(\d+ decisions, recorded [\d.]+s, replayed in \d+ms, \d+× faster\)\n$/);

    const dir = mkdtempSync(join(tmpdir(), 'kts-replay-'));
    try {
      const recs = load('pod-start');
      const { r } = decisionsOf(recs, 'createContainer')[0]!;
      ((r.args as Line[])[1]!.image as { image: string }).image = 'sha256:0000';
      const bad = join(dir, 'bad.jsonl');
      writeFileSync(bad, recs.map((x) => JSON.stringify(x)).join('\n') + '\n');
      const fail = spawnSync(bin, ['replay', bad], { encoding: 'utf8' });
      assert.equal(fail.status, 1, fail.stderr);
      assert.match(fail.stdout, /^divergence at index \d+ \(line \d+\), pod default\/web-node-r/);
      assert.match(fail.stdout, /expected: createContainer .*sha256:0000/);
      assert.match(fail.stdout, /args\[1\]\.image\.image: "sha256:0000" → "sha256:/);
      const json = spawnSync(bin, ['replay', bad, '--json'], { encoding: 'utf8' });
      assert.equal(json.status, 1);
      const out = JSON.parse(json.stdout) as ReplayResult;
      assert.equal(out.identical, false);
      assert.equal(out.divergence!.expected!.m, 'createContainer');

      const missing = spawnSync(bin, ['replay', join(dir, 'nope.jsonl')], { encoding: 'utf8' });
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /nope\.jsonl: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kubelet-ts replay on a file it cannot use exits 2 with one line naming it; a last line cut short is left out with a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-replay-'));
    try {
      const text =
        load('pod-start')
          .map((x) => JSON.stringify(x))
          .join('\n') + '\n';
      const [header, ...rest] = text.split('\n');
      const files: Record<string, string> = {
        empty: '',
        noHeader: rest.join('\n'),
        nullLine: `${header}\nnull\n${rest.join('\n')}`,
        noTime: `${header}\n{"k":"in"}\n`,
        headerOnly: `${header}\n`,
        // SIGKILL with writes buffered: the last line ends half-way
        cut: text + rest.at(-2)!.slice(0, 40),
      };
      for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, `${name}.jsonl`), body);
      const run = promisify(execFile);
      const results = await Promise.all(
        Object.keys(files).map(async (name) => {
          const file = join(dir, `${name}.jsonl`);
          try {
            const { stdout, stderr } = await run(join(ROOT, 'bin', 'kubelet-ts'), ['replay', file], {
              encoding: 'utf8',
            });
            return [name, { code: 0, stdout, stderr, file }] as const;
          } catch (e) {
            const { code, stdout, stderr } = e as { code: number; stdout: string; stderr: string };
            return [name, { code, stdout, stderr, file }] as const;
          }
        }),
      );
      const out = Object.fromEntries(results);
      const refused: Record<string, RegExp> = {
        empty:
          /^kubelet-ts replay: \S+empty\.jsonl: empty: no records \(was the kubelet killed before its first write reached the disk\?\)\n$/,
        noHeader:
          /^kubelet-ts replay: \S+noHeader\.jsonl line 1: not a header, and no header follows: not a recording made with --record, or its beginning is missing\n$/,
        nullLine: /^kubelet-ts replay: \S+nullLine\.jsonl line 2: not a JSON object\n$/,
        noTime: /^kubelet-ts replay: \S+noTime\.jsonl line 2: not a recording record \(no clock time t or kind k\)\n$/,
        headerOnly:
          /^kubelet-ts replay: \S+headerOnly\.jsonl: only a header: the kubelet recorded nothing after it started, so there is nothing to replay\n$/,
      };
      for (const [name, message] of Object.entries(refused)) {
        assert.equal(out[name]!.code, 2, `${name}: ${out[name]!.stderr}`);
        assert.match(out[name]!.stderr, message, name);
        assert.equal(out[name]!.stdout, '', name);
      }
      const cut = out.cut!;
      assert.equal(cut.code, 0, cut.stderr);
      assert.match(cut.stdout, /^identical \(\d+ decisions/);
      assert.match(
        cut.stderr,
        new RegExp(
          `^kubelet-ts replay: warning: \\S+cut\\.jsonl line ${rest.length + 1}: cut short \\(40 bytes without an end; the kubelet was killed while writing\\?\\): left out\\n$`,
        ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
