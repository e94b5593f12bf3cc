/**
 * systemdNotify: the running daemon's side of a Type=notify systemd unit (deploy/kubelet-ts.service),
 * started only under systemd ($NOTIFY_SOCKET set). READY=1 and STOPPING=1 belong to bin/main.ts
 * (after the supervisor has started every actor; on SIGTERM); this actor sends:
 *
 * - WATCHDOG=1 every half $WATCHDOG_USEC while the syncLoop is healthy, the same judgement as
 *   upstream's `/healthz/syncloop` (syncLoopHealth: an iteration within max(2 × syncFrequency,
 *   5 min)). A wedged syncLoop (its actor crashing over and over, a dispatch that never returns)
 *   stops the pings, says so in STATUS=, and systemd's WatchdogSec kills and restarts the daemon
 *   (Restart=always); pods keep running and the next daemon adopts them.
 * - STATUS= with the number of pods the node should run, when it changes.
 */
import { channels, defaultPolicy, type ActorSpec } from '../../kernel/actor.ts';
import { syncLoopHealth } from '../../protocols/messages/pod-worker.ts';

export interface SystemdNotifyDeps {
  notifier: { notify(vars: readonly string[]): Promise<void>; readonly watchdogMs: number | undefined };
  syncFrequencyMs: number;
}

const io = channels({ consumes: ['syncLoop'], reads: ['desiredPods'] });

export const systemdNotify: ActorSpec<SystemdNotifyDeps, typeof io> = {
  ...defaultPolicy,
  id: 'systemdNotify',
  dependsOn: ['syncLoop'],
  channels: io,
  start(ctx) {
    const { deps, bus, clock, log } = ctx;
    const { notifier } = deps;
    let lastLoopEntry: number | undefined;
    let wedged: string | undefined;
    let pods: number | undefined;
    let pings = 0;
    const status = () =>
      `STATUS=${wedged ? `syncLoop wedged (${wedged}): watchdog pings withheld` : `running ${pods ?? 0} pod(s)`}`;

    ctx.on(bus.events('syncLoop'), () => {
      lastLoopEntry = clock.now();
      if (wedged) {
        wedged = undefined;
        log.info('syncLoop iterating again: watchdog pings resumed');
        void notifier.notify(['WATCHDOG=1', status()]);
      }
    });
    ctx.on(bus.view('desiredPods'), (desired) => {
      if (desired.size === pods) return;
      pods = desired.size;
      void notifier.notify([status()]);
    });
    const watchdog = () => {
      const problem = syncLoopHealth(lastLoopEntry, clock.now(), deps.syncFrequencyMs);
      if (!problem) {
        pings++;
        void notifier.notify(['WATCHDOG=1']);
      } else if (!wedged) {
        wedged = problem;
        log.error('syncLoop wedged: withholding systemd watchdog pings so that systemd restarts kubelet-ts', {
          reason: problem,
          lastLoopEntry,
        });
        void notifier.notify([status()]);
      }
    };
    if (notifier.watchdogMs !== undefined) {
      watchdog();
      ctx.setInterval(watchdog, notifier.watchdogMs / 2);
    }
    ctx.setInspect(() => ({
      watchdogMs: notifier.watchdogMs ?? null,
      pings,
      wedged: wedged ?? null,
      lastLoopEntry: lastLoopEntry ?? null,
    }));
  },
};
