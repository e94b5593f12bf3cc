/**
 * Runs the real daemon (`bin/kubelet-ts`) as a child process for integration specs, the way
 * systemd would, and collects its JSON log lines (--logging-format=json). Every process started here is stopped by pid
 * in `stop()`/`kill9()`; any left behind by a failing spec is SIGKILLed synchronously when this
 * process exits, and when it gets SIGINT, SIGTERM or SIGHUP (a process killed by a signal never
 * emits 'exit'). The signal handler follows the containerd harness's protocol: it removes itself
 * and re-raises the signal only when no other handler is left, so the signal still ends the
 * process, and other handlers still see it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PAUSE_IMAGE } from './images.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const live = new Set<ChildProcess>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killAll(): void {
  for (const p of live) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    try {
      p.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  // Default action (the exit status says "killed by SIGTERM") unless another handler takes over.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let exitHook = false;
function installSafetyNet(): void {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', killAll);
  }
  for (const s of SIGNALS) if (!process.listeners(s).includes(onSignal)) process.on(s, onSignal);
}

export interface DaemonOptions {
  endpoint: string;
  manifestDir?: string;
  rootDir: string;
  nodeName?: string;
  args?: string[];
  env?: Record<string, string>;
}

export interface Daemon {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Every stderr line so far (JSON log records, or raw text). */
  readonly lines: string[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Resolves when a log line matching `re` appears (rejects after timeoutMs). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | string>;
  /** SIGKILL (a crash) and wait for the exit. */
  kill9(): Promise<number | string>;
}

export function startDaemon(o: DaemonOptions): Daemon {
  const args = [
    `--container-runtime-endpoint=${o.endpoint}`,
    `--root-dir=${o.rootDir}`,
    `--pod-logs-dir=${join(o.rootDir, 'pod-logs')}`,
    `--hostname-override=${o.nodeName ?? 'node-a'}`,
    '-v=2',
    // JSON lines (logs/json's keys): specs match `"key":"value"` in them; a spec may pass --logging-format=text
    '--logging-format=json',
    ...(o.manifestDir ? [`--pod-manifest-path=${o.manifestDir}`] : []),
    // daemons of a spec (and of specs run side by side) would all want 127.0.0.1:10248; a spec
    // that checks the healthz server gives the port (the last --healthz-port wins)
    '--healthz-port=0',
    // no kubepods hierarchy under the machine's cgroup root, no image GC on the shared disk: a
    // spec about them asks (cgroups.spec.ts gives its own --cgroup-root and removes it)
    '--cgroups-per-qos=false',
    '--enforce-node-allocatable=',
    '--image-gc-high-threshold=100',
    `--pod-infra-container-image=${PAUSE_IMAGE}`,
    // and 10250: a spec of the HTTPS port turns it on with a free port (--enable-server --port=N)
    '--enable-server=false',
    ...(o.args ?? []),
  ];
  const proc = spawn(join(ROOT, 'bin', 'kubelet-ts'), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...o.env },
  });
  live.add(proc);
  installSafetyNet();
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      if (process.env.KTS_SPEC_DEBUG) process.stderr.write(`[daemon ${proc.pid}] ${line}\n`);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  proc.stderr!.on('data', onData);
  proc.stdout!.on('data', onData);
  const exited = once(proc, 'exit').then(([code, signal]) => {
    live.delete(proc);
    return (code ?? signal) as number | string;
  });

  const waitForLog = (re: RegExp, timeoutMs = 20_000) => {
    const hit = lines.find((l) => re.test(l));
    if (hit) return Promise.resolve(hit);
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `daemon log did not show ${re} within ${timeoutMs}ms; last lines:\n${lines.slice(-15).join('\n')}`,
            ),
          ),
        timeoutMs,
      );
      waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  };

  return {
    proc,
    pid: proc.pid!,
    lines,
    exited,
    waitForLog,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
}

export { eventually } from './wait.ts';

/** A port free on the loopback now (the kernel's pick, released at once) for a daemon's listener. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
