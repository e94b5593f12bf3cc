/**
 * sd_notify for a Type=notify unit: READY=1, STATUS=..., WATCHDOG=1, STOPPING=1 to $NOTIFY_SOCKET.
 *
 * Node has no AF_UNIX datagram sockets, and the npm packages that add them are native addons
 * (a compiler at install time, an ABI to keep up with) for what is one datagram now and then.
 * So each notification runs systemd's own `systemd-notify VAR=VALUE...` (systemd 252: the
 * variables as arguments; no --no-block, so it waits on its BARRIER=1 until the manager has
 * read the message: without that the sender can exit before systemd looks up its cgroup, and the
 * message is dropped). systemd-notify is not our main PID, so the unit says NotifyAccess=all.
 *
 * None of this runs without $NOTIFY_SOCKET (systemdNotifier returns undefined): the daemon's start
 * outside systemd spawns nothing. Notifications are sent one at a time, in order; a watchdog ping
 * asked for while one waits is dropped (the next one comes a half-interval later). A failure is
 * logged once per kind and never stops the daemon.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../../kernel/log.ts';

export interface Notifier {
  /** Send `VAR=VALUE` lines in one datagram, after the ones before it. */
  notify(vars: readonly string[]): Promise<void>;
  /** Resolves once every notification asked for so far has been sent (before the process exits). */
  flush(): Promise<void>;
  /** The watchdog interval systemd asked for ($WATCHDOG_USEC, for this process), in ms; undefined for none. */
  readonly watchdogMs: number | undefined;
}

export interface NotifierOptions {
  log: Logger;
  pid?: number;
  /** The helper: default `systemd-notify` from $PATH. */
  command?: string;
}

export function systemdNotifier(env: NodeJS.ProcessEnv, opts: NotifierOptions): Notifier | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  const pid = opts.pid ?? process.pid;
  const usec = Number(env.WATCHDOG_USEC);
  // WATCHDOG_PID names the process the watchdog is for: not us when it is another one's
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  const watchdogMs = forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : undefined;
  const command = opts.command ?? 'systemd-notify';
  const childEnv = { PATH: env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket };
  const failed = new Set<string>();
  let chain = Promise.resolve();
  let pingQueued = false;

  const send = (vars: readonly string[]) =>
    new Promise<void>((resolve) => {
      execFile(command, [...vars], { env: childEnv, timeout: 10_000 }, (err, _out, stderr) => {
        const kind = vars[0]!.split('=')[0]!;
        if (err && !failed.has(kind)) {
          failed.add(kind);
          opts.log.warn('systemd notification failed', {
            vars: vars.map((v) => v.split('=')[0]),
            socket,
            error: stderr.trim() || err.message,
          });
        }
        resolve();
      });
    });

  return {
    watchdogMs,
    flush: () => chain,
    notify(vars) {
      const ping = vars.length === 1 && vars[0] === 'WATCHDOG=1';
      if (ping && pingQueued) return chain;
      if (ping) pingQueued = true;
      chain = chain.then(() => {
        if (ping) pingQueued = false;
        return send(vars);
      });
      return chain;
    },
  };
}
