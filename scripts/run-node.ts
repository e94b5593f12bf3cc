/**
 * `npm run node`: a private containerd (the spec harness) plus kubelet-ts serving the example
 * static pods, until Ctrl-C. kubelet-ts stops first (pods keep running, as on a real node), then
 * the harness removes the pods and stops the containerd it started.
 *
 *   bash scripts/node.sh scripts/run-node.ts [--manifests DIR] [-- extra kubelet-ts flags]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startContainerd } from '../specs/support/containerd.ts';

const ROOT = resolve(import.meta.dirname, '..');

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const sep = argv.indexOf('--');
  const extra = sep >= 0 ? argv.slice(sep + 1) : [];
  const own = sep >= 0 ? argv.slice(0, sep) : argv;
  const mi = own.indexOf('--manifests');
  const manifests = resolve(mi >= 0 && own[mi + 1] ? own[mi + 1]! : join(ROOT, 'examples', 'manifests'));

  const containerd = await startContainerd({ signalHandlers: false });
  const rootDir = await mkdtemp(join(tmpdir(), 'kubelet-ts-root-'));
  process.stdout.write(
    `containerd ${containerd.endpoint} (pid ${containerd.pid}, pods on ${containerd.cniSubnet})\n` +
      `  inspect pods: ctr --address ${containerd.socket} -n k8s.io containers ls\n` +
      `kubelet-ts serving ${manifests}; Ctrl-C to stop\n`,
  );
  const kubelet = spawn(
    join(ROOT, 'bin', 'kubelet-ts'),
    [
      `--container-runtime-endpoint=${containerd.endpoint}`,
      `--pod-manifest-path=${manifests}`,
      `--root-dir=${rootDir}`,
      `--pod-logs-dir=${join(rootDir, 'pod-logs')}`,
      '--file-check-frequency=5s',
      '-v=2',
      ...extra,
    ],
    { stdio: 'inherit' },
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    kubelet.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const [code] = await once(kubelet, 'exit');
  process.stdout.write(`kubelet-ts exited (${code}); removing pods and stopping containerd\n`);
  await containerd.stop();
  return typeof code === 'number' ? code : 1;
}

main().then(
  (c) => process.exit(c),
  (e: unknown) => {
    process.stderr.write(`run-node: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
