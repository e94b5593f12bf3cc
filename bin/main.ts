/**
 * The daemon entry: `kubelet-ts [flags]`.
 *
 * Exit codes: 0 after SIGTERM/SIGINT (actors stopped in reverse order, pods left running, as
 * upstream leaves them); 1 when the root supervisor escalates (restart intensity exceeded), so
 * systemd's Restart=on-failure brings the daemon back; 1 also for a configuration it cannot run
 * with (a --config file that does not load, an unreadable kubeconfig), before any actor starts;
 * 2 for bad flags.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../kernel/clock.ts';
import { DEBUG_SOCKET_NAME } from '../kernel/debug-socket.ts';
import { createLogger } from '../kernel/log.ts';
import { applyConfigFile, ConfigFileError, reportConfigFile, type LoadedConfig } from './config-file.ts';
import { FlagError, parseFlags, usage } from './flags.ts';
import { createKubelet, type Kubelet } from './kubelet.ts';
import { KUBELET_VERSION, KUBERNETES_VERSION } from '../adapters/kube/client.ts';
import { nodeCgroupFs } from '../actors/container-manager/adapters.ts';
import { nodeImageFsStats } from '../actors/image-gc/adapters.ts';

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
      createLogger({ verbosity: 0, now: () => clock.now() }).error('kubelet-ts cannot start', { error: e.message });
      return 1;
    }
    throw e;
  }
  const log = createLogger({ verbosity: flags.verbosity, now: () => clock.now() });
  if (flags.bootstrapKubeconfig !== undefined && (flags.kubeconfig === undefined || !existsSync(flags.kubeconfig))) {
    log.error('kubelet-ts cannot start', { error: `--kubeconfig ${flags.kubeconfig ?? '(not given)'} does not exist and TLS bootstrap from --bootstrap-kubeconfig ${flags.bootstrapKubeconfig} is not implemented yet` });
    return 1;
  }
  if (configFile) reportConfigFile(log, configFile);
  const nodeName = (flags.hostnameOverride ?? hostname()).trim().toLowerCase();

  let exitCode = 0;
  let stopping: Promise<void> | undefined;
  let kubelet: Kubelet;
  try {
    kubelet = createKubelet({
      flags, clock, log, nodeName,
      debugSocketPath: join(flags.rootDir, DEBUG_SOCKET_NAME),
      serve: true,
      // the node's cgroups (containerManager) and image file system (imageGC)
      cgroupFs: nodeCgroupFs(),
      imageFs: nodeImageFsStats(),
      onEscalate: (reason) => {
        log.error('supervisor escalated: stopping kubelet-ts', { reason });
        exitCode = 1;
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
    stopping ??= kubelet.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  log.info('kubelet-ts starting', {
    nodeName, runtime: flags.containerRuntimeEndpoint, manifests: flags.podManifestPath ?? null, rootDir: flags.rootDir,
    config: flags.config ?? null,
  });
  try {
    await kubelet.start();
  } catch (e) {
    log.error('kubelet-ts failed to start', { error: e });
    await kubelet.stop();
    return 1;
  }
  await kubelet.stopped;
  await stopping;
  log.info('kubelet-ts stopped', { exitCode });
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kubelet-ts: fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
