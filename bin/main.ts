/**
 * The daemon entry: `kubelet-ts [flags]`.
 *
 * Exit codes: 0 after SIGTERM/SIGINT (actors stopped in reverse order, pods left running, as
 * upstream leaves them); 1 when the root supervisor escalates (restart intensity exceeded), so
 * systemd's Restart=on-failure brings the daemon back; 1 also for a configuration it cannot run
 * with (a --config file that does not load, an unreadable kubeconfig, a TLS bootstrap whose CSR is
 * denied, fails or is never answered), before any actor starts;
 * 2 for bad flags.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../kernel/clock.ts';
import { DEBUG_SOCKET_NAME } from '../kernel/debug-socket.ts';
import { createLogger, parseVModule, streamSink, type Logger, type LoggerOptions } from '../kernel/log.ts';
import { applyConfigFile, ConfigFileError, reportConfigFile, type LoadedConfig } from './config-file.ts';
import { certDirOf, DEFAULT_FLAGS, FlagError, parseFlags, usage, type KubeletFlags } from './flags.ts';
import { formatRunOnce, runOnce } from './runonce.ts';
import { createKubelet, type Kubelet } from './kubelet.ts';
import { reportUnsupported } from './parity.ts';
import { systemdNotifier } from '../adapters/systemd/notify.ts';
import { createKubeApi, KUBELET_VERSION, KUBERNETES_VERSION } from '../adapters/kube/client.ts';
import { loadClientCert } from '../adapters/kube/bootstrap.ts';
import { nodeCgroupFs } from '../actors/container-manager/adapters.ts';
import { nodeImageFsStats } from '../actors/image-gc/adapters.ts';
import { nodeStatsFs } from '../actors/stats/adapters.ts';

/** The daemon's logger: --logging-format, --vmodule and the split stream of that format, to stderr/stdout. */
function loggerOptions(flags: KubeletFlags, now: () => number, verbosity: number): LoggerOptions {
  const format = flags.loggingFormat === 'json' ? 'json' : 'text';
  const split = format === 'json' ? flags.logJsonSplitStream : flags.logTextSplitStream;
  return { verbosity, now, format, vmodule: parseVModule(flags.vmodule), sink: streamSink(split) };
}

async function main(argv: string[]): Promise<number> {
  const clock = new RealClock();
  let flags;
  let configFile: LoadedConfig | undefined;
  try {
    flags = parseFlags(argv);
    if (flags.help) {
      process.stdout.write(usage() + '\n');
      return 0;
    }
    if (flags.version) {
      // kubeadm's preflight reads the first line ("Kubernetes vX.Y.Z")
      process.stdout.write(`Kubernetes ${KUBERNETES_VERSION}\nkubelet-ts ${KUBELET_VERSION}\n`);
      return 0;
    }
    // --config: the file over the defaults, then the command line again over the file
    if (flags.config) ({ flags, file: configFile } = applyConfigFile(argv, flags.config));
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`Error: ${e.message}\n${usage()}\n`);
      return 2;
    }
    if (e instanceof ConfigFileError) {
      // the format of the command line (the file's is unread)
      createLogger(loggerOptions(flags ?? DEFAULT_FLAGS, () => clock.now(), 0)).error('kubelet-ts cannot start', {
        error: e.message,
      });
      return 1;
    }
    throw e;
  }
  const log = createLogger(loggerOptions(flags, () => clock.now(), flags.verbosity));
  if (flags.runOnce && flags.kubeconfig !== undefined) {
    log.error('kubelet-ts cannot start', {
      error:
        '--runonce runs the static pods only: kubelet-ts does not implement it against the API server (--kubeconfig)',
    });
    return 1;
  }
  if (configFile) reportConfigFile(log, configFile);
  reportUnsupported(log, flags, configFile);
  const nodeName = (flags.hostnameOverride ?? hostname()).trim().toLowerCase();
  // TLS bootstrap (adapters/kube/bootstrap.ts): a missing or expired --kubeconfig is made from
  // the cert dir's current pair or a CSR with the --bootstrap-kubeconfig credentials
  if (flags.bootstrapKubeconfig !== undefined) {
    try {
      if (flags.kubeconfig === undefined)
        throw new Error('--bootstrap-kubeconfig needs --kubeconfig: the file TLS bootstrap writes');
      await loadClientCert({
        kubeconfigPath: flags.kubeconfig,
        bootstrapKubeconfigPath: flags.bootstrapKubeconfig,
        certDir: certDirOf(flags),
        nodeName,
        clock,
        log: log.child('bootstrap'),
        bootstrapApi: (path) => createKubeApi(path, { clock, log: log.child('bootstrap') }),
      });
    } catch (e) {
      log.error('kubelet-ts cannot start', { error: e instanceof Error ? e.message : String(e) });
      return 1;
    }
  }

  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  let kubelet: Kubelet;
  // under systemd (Type=notify): nothing is spawned for it otherwise
  const notifier = flags.runOnce ? undefined : systemdNotifier(process.env, { log: log.child('systemd') });
  const stopNotice = (why: string) => void notifier?.notify(['STOPPING=1', `STATUS=stopping: ${why}`]);
  try {
    kubelet = createKubelet({
      flags,
      clock,
      log,
      nodeName,
      notifier,
      debugSocketPath: join(flags.rootDir, DEBUG_SOCKET_NAME),
      // --runonce: no listeners (upstream: exclusive with the server)
      serve: !flags.runOnce,
      // the node's cgroups (containerManager) and image file system (imageGC)
      cgroupFs: nodeCgroupFs(),
      imageFs: nodeImageFsStats(),
      statsFs: nodeStatsFs(),
      onEscalate: (reason) => {
        log.error('supervisor escalated: stopping kubelet-ts', { reason });
        exitCode = 1;
        stopNotice(`supervisor escalated: ${reason}`);
        stopping ??= kubelet.stop();
      },
    });
  } catch (e) {
    // A configuration the daemon cannot run with (an unreadable kubeconfig, ...): say why, once.
    log.error('kubelet-ts cannot start', { error: e instanceof Error ? e.message : String(e) });
    return 1;
  }

  const onSignal = (sig: NodeJS.Signals) => {
    log.info('signal received: stopping actors in reverse order; pods keep running', { signal: sig });
    if (!stopping) stopNotice(`${sig} received`);
    stopping ??= kubelet.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  log.info('kubelet-ts starting', {
    nodeName,
    runtime: flags.containerRuntimeEndpoint,
    manifests: flags.podManifestPath ?? null,
    rootDir: flags.rootDir,
    config: flags.config ?? null,
  });
  try {
    await kubelet.start();
  } catch (e) {
    log.error('kubelet-ts failed to start', { error: e });
    await kubelet.stop();
    return 1;
  }
  if (flags.runOnce) return runOnceAndExit(kubelet, flags, clock, log);
  // every actor is up: systemd may order the units after us now
  if (!stopping) log.info('kubelet-ts running: every actor started', { systemd: notifier !== undefined });
  if (!stopping) void notifier?.notify(['READY=1', `STATUS=kubelet-ts ${KUBELET_VERSION} running on node ${nodeName}`]);
  await kubelet.stopped;
  await stopping;
  await notifier?.flush();
  log.info('kubelet-ts stopped', { exitCode });
  return exitCode;
}

/** --runonce: the static pods once, their statuses on stdout, exit 0 when all run (pods keep running). */
async function runOnceAndExit(kubelet: Kubelet, flags: KubeletFlags, clock: RealClock, log: Logger): Promise<number> {
  const sources = [
    ...(flags.podManifestPath !== undefined ? ['file' as const] : []),
    ...(flags.manifestUrl ? ['http' as const] : []),
  ];
  let code = 0;
  try {
    const results = await runOnce(kubelet, { clock, log: log.child('runOnce'), sources });
    if (results.length) process.stdout.write(`${formatRunOnce(results)}\n`);
    const failed = results.filter((r) => r.error).map((r) => r.pod);
    if (failed.length) {
      log.error('runonce failed', { error: `error running pods: [${failed.join(' ')}]` });
      code = 1;
    } else log.info('Started kubelet as runonce', { pods: results.length });
  } catch (e) {
    log.error('runonce failed', { error: e instanceof Error ? e.message : String(e) });
    code = 1;
  }
  await kubelet.stop();
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kubelet-ts: fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
