/**
 * Replay benchmark: how much faster than the recorded session `kubelet-ts replay` runs each
 * trace (issue target: at least 100×). A script that prints figures, not a spec.
 *
 *   npm run bench:replay -- [--runs 5] [--json] [FILE...]   (default: specs/replay/traces/*)
 *
 * Per trace: one untimed warm-up replay (the first replay in a process also compiles the kernel
 * and actors), then --runs timed replays; printed are the recorded duration, the median and the
 * worst replay time, the speedup at the median and at the worst, and whether every replay was
 * identical. A fresh `kubelet-ts replay FILE` process prints its own (cold) figure too.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readRecording, replayRecording } from '../../bin/replay.ts';

const TARGET = 100;
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } },
});
const runs = Math.max(1, Number(values.runs));
const dir = join(import.meta.dirname, '..', 'replay', 'traces');
const files =
  positionals.length > 0
    ? positionals
    : readdirSync(dir)
        .filter((f) => /\.jsonl(\.gz)?$/.test(f))
        .sort()
        .map((f) => join(dir, f));

interface Row {
  trace: string;
  decisions: number;
  recordedS: number;
  medianMs: number;
  worstMs: number;
  medianX: number;
  worstX: number;
  identical: boolean;
}
const rows: Row[] = [];
for (const file of files) {
  const recs = readRecording(file);
  const warm = await replayRecording(recs);
  const times: number[] = [];
  let identical = warm.identical;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await replayRecording(recs);
    times.push(performance.now() - t0);
    identical &&= r.identical;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const worst = times.at(-1)!;
  rows.push({
    trace: file.split('/').pop()!,
    decisions: warm.decisions,
    recordedS: warm.recordedMs / 1000,
    medianMs: median,
    worstMs: worst,
    medianX: warm.recordedMs / median,
    worstX: warm.recordedMs / worst,
    identical,
  });
}

if (values.json) {
  console.log(JSON.stringify({ target: TARGET, runs, rows }, null, 2));
} else {
  console.log(`replay speed, ${runs} timed runs per trace after a warm-up (target ≥${TARGET}×)`);
  console.log('trace                          decisions  recorded   median    worst   ×median   ×worst  identical');
  for (const r of rows) {
    console.log(
      `${r.trace.padEnd(30)} ${String(r.decisions).padStart(9)} ${r.recordedS.toFixed(1).padStart(8)}s ${r.medianMs.toFixed(0).padStart(7)}ms ${r.worstMs.toFixed(0).padStart(6)}ms ${Math.round(r.medianX).toString().padStart(8)}× ${Math.round(r.worstX).toString().padStart(7)}×  ${r.identical ? 'yes' : 'NO'}`,
    );
  }
  const below = rows.filter((r) => r.worstX < TARGET);
  console.log(
    below.length === 0
      ? `every trace replayed ≥${TARGET}× faster than recorded, also at its worst run`
      : `below ${TARGET}× at the worst run: ${below.map((r) => r.trace).join(', ')}`,
  );
}
