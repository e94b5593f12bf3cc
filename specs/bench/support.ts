/**
 * What the benchmark scripts share: durations on the command line, a process's memory, and the
 * signal handling that stops what a benchmark started before it exits.
 */
import { readFile } from 'node:fs/promises';

/** "90s", "2m", "500ms", "10" (seconds) → ms. */
export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s);
  if (!m) throw new Error(`bad duration "${s}" (e.g. 90s, 2m, 500ms)`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 } as const)[(m[2] ?? 's') as 'ms' | 's' | 'm'];
}

/** VmRSS and VmHWM (peak RSS) of a process, in KiB (/proc/<pid>/status). */
export async function rssKb(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * Runs a benchmark's body with `cleanup` on every path, and resolves with the exit code: the
 * body's, 1 when it failed, 130/143/129 after SIGINT/SIGTERM/SIGHUP. The signal handlers are our
 * own (the harness's would re-raise before the daemon is stopped): the first signal runs
 * `cleanup` and exits; a second exits at once (the 'exit' hooks of the harness and daemon.ts
 * still kill by pid).
 */
export async function runWithCleanup(
  body: () => Promise<number>,
  cleanup: () => Promise<void>,
  progress: (msg: string) => void,
): Promise<number> {
  let signalExit: number | undefined;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (signalExit !== undefined) process.exit(signalExit);
      signalExit = sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129;
      progress(`${sig}: stopping the daemon and containerd`);
      void cleanup().finally(() => process.exit(signalExit));
    });
  }
  try {
    return await body();
  } catch (e) {
    if (signalExit !== undefined) return signalExit;
    process.stderr.write(`bench: failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}
