/**
 * nodeShutdown: graceful node shutdown, as upstream's nodeshutdown manager
 * (pkg/kubelet/nodeshutdown/nodeshutdown_manager_linux.go), started only with
 * shutdownGracePeriod > 0. It holds a logind "delay" inhibitor lock on shutdown (raising logind's
 * InhibitDelayMaxSec when it is below the grace period) and, on PrepareForShutdown(true), runs the
 * episode machine (./machine.ts): the regular pods are told to terminate, then the critical ones,
 * each group within its share of the grace period; then the lock is released and the shutdown
 * goes on. Meanwhile the node is not Ready ("node is shutting down"). The episode's start and end
 * are written to the root dir's graceful_node_shutdown_state, as upstream does.
 *
 * Without a system bus or logind it logs once and the kubelet carries on without graceful
 * shutdown (upstream logs "Failed to start node shutdown manager" and goes on).
 */
import { createActor } from 'xstate';
import { channels, defaultPolicy, type ActorSpec } from '../../kernel/actor.ts';
import type { Logind } from '../../adapters/systemd/logind.ts';
import { isTerminalPhase } from '../../protocols/kube/pod.ts';
import type { NodeShutdownView } from '../../protocols/messages/node.ts';
import { groupOf, podPriority, podShutdownGrace, shutdownGroups, shutdownMachine } from './machine.ts';

/** The logind calls nodeShutdown makes (a type only: the adapter module is imported lazily by bin/kubelet.ts). */
export type LogindPort = Logind;

export interface NodeShutdownDeps {
  gracePeriodMs: number;
  criticalPodsGracePeriodMs: number;
  /** Connect to logind (dbus-next is loaded here, lazily). */
  connect(): Promise<LogindPort>;
  /** Write the episode's times (upstream's graceful_node_shutdown_state in the root dir). */
  saveState(state: { startTime: string; endTime?: string }): void;
}

const io = channels({ produces: ['nodeControl'], reads: ['desiredPods', 'podWorkerStates'], writes: ['nodeShutdown'] });

export const nodeShutdown: ActorSpec<NodeShutdownDeps, typeof io> = {
  ...defaultPolicy,
  id: 'nodeShutdown',
  dependsOn: ['podManager', 'podWorkers'],
  channels: io,
  start(ctx) {
    const { deps, log, clock, bus } = ctx;
    const groups = shutdownGroups(deps.gracePeriodMs, deps.criticalPodsGracePeriodMs);
    const machine = createActor(shutdownMachine, { input: { groups } });
    let logind: LogindPort | undefined;
    let fd: number | undefined;
    let view: NodeShutdownView = { shuttingDown: false, killing: new Map() };
    let group: { index: number; uids: string[] } | undefined;
    let startTime = '';
    const publish = (next: NodeShutdownView) => {
      view = next;
      bus.publish('nodeShutdown', view);
    };
    const iso = () => new Date(clock.now()).toISOString();

    const lock = async () => {
      try {
        fd = await logind!.inhibitShutdown();
        machine.send({ type: 'LOCKED' });
      } catch (e) {
        log.error('failed to take the logind inhibitor lock: the node shutdown will not wait for pods', {
          err: String(e),
        });
        machine.send({ type: 'LOCK_FAILED' });
      }
    };
    const groupDone = () => {
      if (!group) return;
      const workers = bus.current('podWorkerStates');
      if (
        group.uids.every((uid) => {
          const w = workers?.get(uid);
          return !w || w.state === 'terminated';
        })
      ) {
        group = undefined;
        machine.send({ type: 'GROUP_DONE', now: clock.now() });
      }
    };

    machine.on('nodeShuttingDown', (e) => {
      publish({ ...view, shuttingDown: e.shuttingDown });
      bus.send('nodeControl', { type: 'node.syncStatus' });
    });
    machine.on('killGroup', (e) => {
      const killing = new Map(view.killing);
      const uids: string[] = [];
      for (const [uid, d] of bus.current('desiredPods') ?? new Map()) {
        if (isTerminalPhase(d.pod.status?.phase) || groupOf(groups, podPriority(d.pod.spec)) !== e.group) continue;
        const grace = podShutdownGrace(groups[e.group]!, d.pod.spec?.terminationGracePeriodSeconds);
        killing.set(uid, grace);
        uids.push(uid);
        log.info('shutdown manager killing pod with gracePeriod', {
          pod: `${d.pod.metadata?.namespace}/${d.pod.metadata?.name}`,
          gracePeriod: grace,
        });
      }
      group = { index: e.group, uids };
      publish({ ...view, killing });
      ctx.setTimeout(() => {
        if (group?.index !== e.group) return;
        group = undefined;
        log.info('shutdown manager pod killing time out', { gracePeriod: e.graceSeconds });
        machine.send({ type: 'TIMEOUT', now: clock.now() });
      }, e.until - clock.now());
      groupDone();
    });
    machine.on('release', () => {
      if (fd !== undefined) logind?.release(fd);
      fd = undefined;
      log.info('shutdown manager completed processing shutdown event, node will shutdown shortly');
      deps.saveState({ startTime, endTime: iso() });
    });
    machine.on('lock', () => ctx.run(lock()));
    machine.start();
    publish(view);
    ctx.on(bus.view('podWorkerStates'), groupDone);

    ctx.run(
      (async () => {
        try {
          logind = await deps.connect();
        } catch (e) {
          log.error(
            'failed to start node shutdown manager: no logind on the system bus; graceful node shutdown is off',
            { err: String(e) },
          );
          machine.send({ type: 'LOCK_FAILED' });
          return;
        }
        const current = await logind.inhibitDelayMaxMs();
        if (deps.gracePeriodMs > current) {
          let updated = current;
          try {
            await logind.raiseInhibitDelayMax(deps.gracePeriodMs);
            updated = await logind.inhibitDelayMaxMs();
          } catch (e) {
            log.error('failed to raise logind InhibitDelayMaxSec', { err: String(e) });
          }
          if (deps.gracePeriodMs > updated) {
            log.error(
              `node shutdown manager was unable to update logind InhibitDelayMaxSec to ${deps.gracePeriodMs / 1000}s (ShutdownGracePeriod), ` +
                `current value of InhibitDelayMaxSec (${updated / 1000}s) is less than requested ShutdownGracePeriod`,
            );
          }
        }
        logind.onPrepareForShutdown((active) => {
          log.info('shutdown manager detected new shutdown event', { isNodeShuttingDownNow: active });
          if (active) {
            startTime = iso();
            deps.saveState({ startTime });
            machine.send({ type: 'SHUTDOWN', now: clock.now() });
          } else machine.send({ type: 'CANCELLED' });
        });
        await lock();
      })(),
    );

    ctx.setInspect(() => ({
      state: machine.getSnapshot().value,
      locked: fd !== undefined,
      shuttingDown: view.shuttingDown,
      killing: Object.fromEntries(view.killing),
    }));
    return {
      stop() {
        machine.stop();
        if (fd !== undefined) logind?.release(fd);
        logind?.disconnect();
      },
    };
  },
};
