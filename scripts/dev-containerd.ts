/**
 * Runs a private containerd for a local kubelet-ts node until SIGINT/SIGTERM:
 *
 *   bash scripts/node.sh scripts/dev-containerd.ts [--dir D] [--log] [--json]
 *
 * Prints the CRI endpoint to point kubelet-ts at (--container-runtime-endpoint), then waits.
 * On SIGINT/SIGTERM it removes every pod, the daemon, its shims, mounts and bridge, and exits 0.
 * With --dir the instance lives in D (a second run on the same D picks up its state);
 * without it, in a fresh /tmp/kts-XXXXXX. Needs root.
 */
import { parseArgs } from 'node:util';
import { startContainerd } from '../specs/support/containerd.ts';
import { LOCAL_IMAGES } from '../specs/support/images.ts';

const usage = 'usage: scripts/dev-containerd.ts [--dir DIR] [--log] [--json]';

async function main(): Promise<number> {
  let values: { dir?: string; log?: boolean; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        dir: { type: 'string' },
        log: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }

  const t0 = performance.now();
  // The harness's own signal handlers would clean up synchronously and re-raise; here a signal
  // means "stop nicely", so this script handles signals and calls stop() itself.
  const h = await startContainerd({ dir: values.dir, log: values.log, signalHandlers: false });
  const info = {
    endpoint: h.endpoint,
    socket: h.socket,
    dir: h.dir,
    pid: h.pid,
    podSubnet: h.cniSubnet,
    bridge: h.bridge,
    snapshotter: h.snapshotter,
    log: h.logPath,
    images: LOCAL_IMAGES,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
  } else {
    process.stdout.write(
      [
        `containerd ready in ${Math.round(performance.now() - t0)}ms (pid ${h.pid})`,
        `  endpoint:   ${h.endpoint}`,
        `  dir:        ${h.dir}`,
        `  pod subnet: ${h.cniSubnet} on bridge ${h.bridge}`,
        `  images:     ${LOCAL_IMAGES.join(', ')}`,
        `  log:        ${h.logPath}`,
        `  ctr:        ctr --address ${h.socket} -n k8s.io tasks ls`,
        `run the node with: --container-runtime-endpoint=${h.endpoint}`,
        'Ctrl-C stops containerd and removes everything it ran.',
        '',
      ].join('\n'),
    );
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (why: string, code: number) => {
      if (stopping) {
        // a second signal: exit now; the harness's exit handler still cleans up synchronously
        process.stderr.write('dev-containerd: forced exit\n');
        process.exit(130);
      }
      stopping = true;
      clearInterval(watch);
      process.stderr.write(`dev-containerd: ${why}; stopping containerd and removing its pods\n`);
      h.stop().then(
        () => resolve(code),
        (e: unknown) => {
          process.stderr.write(`dev-containerd: cleanup failed: ${(e as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => shutdown('SIGINT', 0));
    process.on('SIGTERM', () => shutdown('SIGTERM', 0));
    process.on('SIGHUP', () => shutdown('SIGHUP', 0));
    const watch = setInterval(() => {
      if (!h.running()) shutdown(`containerd exited unexpectedly; last log lines:\n${h.logTail(15)}\n`, 1);
    }, 1000);
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`dev-containerd: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
