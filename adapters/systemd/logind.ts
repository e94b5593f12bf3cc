/**
 * systemd-logind over D-Bus, the calls upstream's kubelet makes for graceful node shutdown
 * (pkg/kubelet/nodeshutdown/systemd/inhibit_linux.go): a "delay" inhibitor lock on "shutdown",
 * logind's InhibitDelayMaxUSec (raised with a logind.conf drop-in and a SIGHUP to logind when it
 * is below the grace period), and the PrepareForShutdown signal.
 *
 * dbus-next is imported lazily (only a kubelet with shutdownGracePeriod > 0 connects). The bus is
 * the system bus, at $DBUS_SYSTEM_BUS_ADDRESS when set (specs point it at a private dbus-daemon).
 */
import { closeSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LOGIND = 'org.freedesktop.login1';
const LOGIND_PATH = '/org/freedesktop/login1';
const LOGIND_MANAGER = 'org.freedesktop.login1.Manager';
/** Upstream's drop-in, in the directory logind reads its overrides from. */
export const LOGIND_DROP_IN = '99-kubelet.conf';
export const LOGIND_CONF_DIR = '/etc/systemd/logind.conf.d';

export interface Logind {
  /** logind's InhibitDelayMaxUSec, in ms. */
  inhibitDelayMaxMs(): Promise<number>;
  /** Write the drop-in raising InhibitDelayMaxSec to `ms` and make logind reload it (SIGHUP). */
  raiseInhibitDelayMax(ms: number): Promise<void>;
  /** Take a delay lock on shutdown; resolves to the lock's fd (the lock holds while it is open). */
  inhibitShutdown(): Promise<number>;
  /** Close the lock's fd: logind lets the shutdown go on. */
  release(fd: number): void;
  /** PrepareForShutdown(active): true when a shutdown starts, false when it is cancelled. */
  onPrepareForShutdown(listener: (active: boolean) => void): void;
  disconnect(): void;
}

interface ProxyIface {
  [method: string]: (...args: unknown[]) => Promise<unknown>;
}
interface SignalIface {
  on(signal: string, listener: (...args: unknown[]) => void): void;
}

/** Connect to logind on the system bus; rejects when there is no bus or no logind on it. */
export async function connectLogind(opts: { confDir?: string; busAddress?: string } = {}): Promise<Logind> {
  const dbus = (await import('dbus-next')).default;
  const busAddress =
    opts.busAddress ?? process.env.DBUS_SYSTEM_BUS_ADDRESS ?? 'unix:path=/var/run/dbus/system_bus_socket';
  // sessionBus() is dbus-next's client for any address; the address is the system bus's
  // negotiateUnixFd (the lock is an fd) is in dbus-next's code, not in its types
  const bus = dbus.sessionBus({ negotiateUnixFd: true, busAddress } as Parameters<typeof dbus.sessionBus>[0]);
  // a bus that is not there fails the connection as an 'error' event: turn it into the rejection below
  const failed = new Promise<never>((_, reject) => bus.on('error', reject));
  failed.catch(() => {});
  try {
    const obj = await Promise.race([bus.getProxyObject(LOGIND, LOGIND_PATH), failed]);
    const manager = obj.getInterface(LOGIND_MANAGER) as unknown as ProxyIface & SignalIface;
    const props = obj.getInterface('org.freedesktop.DBus.Properties') as unknown as ProxyIface;
    return {
      async inhibitDelayMaxMs() {
        const v = (await props.Get!(LOGIND_MANAGER, 'InhibitDelayMaxUSec')) as { value: bigint | number };
        return Number(v.value) / 1000;
      },
      async raiseInhibitDelayMax(ms) {
        const dir = opts.confDir ?? LOGIND_CONF_DIR;
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          join(dir, LOGIND_DROP_IN),
          `# Kubelet logind override\n[Login]\nInhibitDelayMaxSec=${Math.ceil(ms / 1000)}\n`,
        );
        const systemd = await bus.getProxyObject('org.freedesktop.systemd1', '/org/freedesktop/systemd1');
        const units = systemd.getInterface('org.freedesktop.systemd1.Manager') as unknown as ProxyIface;
        await units.KillUnit!('systemd-logind.service', 'all', 1 /* SIGHUP */);
      },
      async inhibitShutdown() {
        return (await manager.Inhibit!(
          'shutdown',
          'kubelet',
          'Kubelet needs time to handle node shutdown',
          'delay',
        )) as number;
      },
      release(fd) {
        closeSync(fd);
      },
      onPrepareForShutdown(listener) {
        manager.on('PrepareForShutdown', (active) => listener(active === true));
      },
      disconnect() {
        bus.disconnect();
      },
    };
  } catch (e) {
    bus.disconnect();
    throw e;
  }
}
