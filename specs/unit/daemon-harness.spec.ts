/**
 * The daemon harness (specs/support/daemon.ts) leaves no daemon behind when the process using it
 * is killed by a signal (a Ctrl-C on scripts/record-trace.ts, a SIGTERM to the test runner): a
 * process that dies of a signal never emits 'exit', so the harness kills its daemons from signal
 * handlers too, and the signal still ends the process, whether or not another handler (the
 * containerd harness's) is installed before or after it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../support/wait.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const dirs: string[] = [];
const pids: number[] = [];
after(() => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Running, not a zombie waiting for a reaper. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

// The process under test: starts one daemon (no runtime behind it: it keeps running, waiting for
// one), prints its pid once the daemon has started and stays alive on the daemon's pipes. `other` stands in for the containerd
// harness's handler: clean up, then re-raise only when no other handler is left.
const SCRIPT = `
import { startDaemon } from ${JSON.stringify(join(ROOT, 'specs', 'support', 'daemon.ts'))};
const [mode, dir] = process.argv.slice(2);
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
function other(sig) {
  for (const s of SIGNALS) process.removeListener(s, other);
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}
if (mode === 'other-first') for (const s of SIGNALS) process.on(s, other);
const d = startDaemon({ endpoint: 'unix://' + dir + '/no-runtime.sock', rootDir: dir + '/root' });
if (mode === 'other-last') for (const s of SIGNALS) process.on(s, other);
// the last line of its start: after it the daemon is quiet (a write to its closed pipes would end it)
await d.waitForLog(/GenericPLEG: Unable to retrieve pods/);
process.stdout.write(d.pid + '\\n');
`;

async function run(mode: 'alone' | 'other-first' | 'other-last', signal: NodeJS.Signals): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-dh-'));
  dirs.push(dir);
  const script = join(dir, 'harness.mts');
  writeFileSync(script, SCRIPT);
  const child = spawn(process.execPath, [script, mode, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  pids.push(child.pid!);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const daemon = await eventually(
    () => Number(out.trim()) || undefined,
    20_000,
    `the daemon pid (${mode}): ${err}`,
    20,
  );
  pids.push(daemon);
  assert.ok(alive(daemon));
  child.kill(signal);
  const [code, sig] = await exited;
  assert.deepEqual([code, sig], [null, signal], `${mode}: the process dies of ${signal}`);
  await eventually(() => !alive(daemon), 5000, `${mode}: daemon ${daemon} killed`, 20);
}

describe('the daemon harness on a signal', () => {
  it('kills its daemons and still dies of the signal, alone or with another handler before or after it', async () => {
    await Promise.all([run('alone', 'SIGTERM'), run('other-first', 'SIGINT'), run('other-last', 'SIGHUP')]);
  });
});
