/**
 * Records a node session on real containerd as a replay trace: the real daemon (bin/kubelet-ts)
 * runs with `--record` against a private containerd (specs/support/containerd.ts) and the
 * locally built busybox/pause images, while this script drives one scenario through the static
 * pod directory (or, in a cluster, through the API server stand-in). The recorder writes JSON lines; the trace lands gzipped (a 30 s session is about
 * 250 KB of JSON, 12 KB gzipped) in specs/replay/traces/<scenario>.jsonl.gz, or in --out=FILE
 * (gzipped when FILE ends in .gz). `kubelet-ts replay` reads both forms.
 *
 *   bash scripts/node.sh scripts/record-trace.ts SCENARIO|all [--out=FILE]
 *
 * Scenarios (each short, so the trace stays small):
 *   pod-start         a one-container pod starts and runs for a few seconds
 *   crash-loop        restartPolicy Always, the container exits 1: restarts after 0s, 10s, 20s backoff
 *   manifest-edit     the manifest's image and command change: the pod's container is replaced
 *   deletion          the manifest is removed: the pod is killed and removed
 *   restart-adoption  the kubelet stops; a new one on the same runtime and root dir adopts the
 *                     running pod without restarting it (both sessions in one file: the recorder
 *                     appends, the second header line starts the second session)
 *   cluster-admission in a cluster (the API server stand-in, specs/support/apiserver): two API
 *                     pods, one admitted and run, one asking for 900Gi of memory rejected
 *                     OutOfmemory against the Node's allocatable (recorded as the `node` view)
 *   volumes           a pod with an emptyDir an init container writes and the app mounts by subPath, and a
 *                     Memory emptyDir; then the manifest is removed: the volumes and the pod directory go
 *   data-volumes      in a cluster: a pod with a configMap, a secret and a projected token volume; the
 *                     ConfigMap is updated and the running container sees it (--sync-frequency=2s),
 *                     then the pod is deleted: the volumes and the pod directory go
 *   all               every scenario, one after the other
 *
 * Everything it starts (containerd, the daemons, the pods, the work directory) is removed at the
 * end, also when a scenario fails or the script is interrupted (the containerd harness installs
 * the signal handlers).
 */
import { mkdtemp, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Container, CriRuntime } from '../protocols/cri/types.ts';
import { startApiServer, type JsonObject } from '../specs/support/apiserver/index.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../specs/support/containerd.ts';
import { startDaemon, type Daemon } from '../specs/support/daemon.ts';
import { BUSYBOX_IMAGE, BUSYBOX_IMAGE_2 } from '../specs/support/images.ts';
import { eventually, sleep } from '../specs/support/wait.ts';

const ROOT = resolve(import.meta.dirname, '..');
const NODE = 'node-r';
const SCENARIOS = [
  'pod-start',
  'crash-loop',
  'manifest-edit',
  'deletion',
  'restart-adoption',
  'cluster-admission',
  'volumes',
  'data-volumes',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function podYaml(name: string, opts: { image?: string; command: string[]; restartPolicy?: string }): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    `metadata:\n  name: ${name}\n  namespace: default`,
    'spec:',
    '  terminationGracePeriodSeconds: 2',
    ...(opts.restartPolicy ? [`  restartPolicy: ${opts.restartPolicy}`] : []),
    '  containers:',
    '  - name: app',
    `    image: ${opts.image ?? BUSYBOX_IMAGE}`,
    `    command: ${JSON.stringify(opts.command)}`,
    '',
  ].join('\n');
}

interface Run {
  containerd: ContainerdHandle;
  cri: CriRuntime;
  manifests: string;
  rootDir: string;
  out: string;
  daemons: Daemon[];
}

async function daemon(r: Run, args: string[] = []): Promise<Daemon> {
  const d = startDaemon({
    endpoint: r.containerd.endpoint,
    manifestDir: r.manifests,
    rootDir: r.rootDir,
    nodeName: NODE,
    args: [`--record=${r.out}`, ...args],
  });
  r.daemons.push(d);
  await d.waitForLog(/container runtime is ready/, 30_000);
  return d;
}

async function containers(r: Run, pod: string): Promise<Container[]> {
  const list = await r.cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': `${pod}-${NODE}` } });
  return list.sort((a, b) => a.metadata.attempt - b.metadata.attempt);
}

const running = (r: Run, pod: string) =>
  eventually(
    async () => (await containers(r, pod)).find((c) => c.state === 'CONTAINER_RUNNING'),
    30_000,
    `${pod} running`,
  );

/** Writes the pod's manifest, starts a recording daemon, waits until the pod runs. */
async function startPod(r: Run, pod: string, yaml: string): Promise<{ d: Daemon; c: Container }> {
  await writeFile(join(r.manifests, `${pod}.yaml`), yaml);
  const d = await daemon(r);
  return { d, c: await running(r, pod) };
}

const scenarios: Record<Scenario, (r: Run) => Promise<string>> = {
  async 'pod-start'(r) {
    const { d, c } = await startPod(r, 'web', podYaml('web', { command: SLEEP }));
    await sleep(15_000);
    await d.stop();
    return `container ${c.id.slice(0, 12)} running`;
  },

  async 'crash-loop'(r) {
    await writeFile(
      join(r.manifests, 'crash.yaml'),
      podYaml('crash', { command: ['sh', '-c', 'exit 1'], restartPolicy: 'Always' }),
    );
    const d = await daemon(r);
    // attempt 1 at once, 2 after 10s, 3 after 20s of backoff
    const cs = await eventually(
      async () => {
        const all = await containers(r, 'crash');
        return all.some((c) => c.metadata.attempt >= 3) && all;
      },
      60_000,
      'restart attempt 3',
      500,
    );
    await sleep(2000);
    await d.stop();
    return `attempts ${cs.map((c) => c.metadata.attempt).join(',')}`;
  },

  async 'manifest-edit'(r) {
    const { d, c: first } = await startPod(r, 'edit', podYaml('edit', { command: SLEEP }));
    await sleep(5000);
    await writeFile(
      join(r.manifests, 'edit.yaml'),
      podYaml('edit', {
        image: BUSYBOX_IMAGE_2,
        command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 2; done'],
      }),
    );
    const second = await eventually(
      async () => {
        const all = await containers(r, 'edit');
        return !all.some((c) => c.id === first.id) && all.find((c) => c.state === 'CONTAINER_RUNNING');
      },
      30_000,
      'the container replaced',
    );
    await sleep(8000);
    await d.stop();
    return `${first.id.slice(0, 12)} (${first.image.image}) → ${second.id.slice(0, 12)} (${second.image.image})`;
  },

  async deletion(r) {
    const { d } = await startPod(r, 'gone', podYaml('gone', { command: SLEEP }));
    await sleep(5000);
    await unlink(join(r.manifests, 'gone.yaml'));
    await eventually(
      async () =>
        (await containers(r, 'gone')).length === 0 &&
        (await r.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `gone-${NODE}` } })).length === 0,
      30_000,
      'the pod removed',
    );
    await sleep(8000);
    await d.stop();
    return 'pod removed';
  },

  async 'restart-adoption'(r) {
    const { d: d1, c: before } = await startPod(r, 'keep', podYaml('keep', { command: SLEEP }));
    await sleep(6000);
    await d1.stop();
    await sleep(1000);
    const d2 = await daemon(r);
    await sleep(10_000);
    await d2.stop();
    const after = await containers(r, 'keep');
    if (after.length !== 1 || after[0]!.id !== before.id || after[0]!.state !== 'CONTAINER_RUNNING') {
      throw new Error(
        `restart-adoption: the pod was disturbed: ${JSON.stringify(after.map((c) => [c.id.slice(0, 12), c.metadata.attempt, c.state]))}`,
      );
    }
    return `container ${before.id.slice(0, 12)} adopted, not restarted`;
  },

  async volumes(r) {
    const { d } = await startPod(r, 'vols', volumesPod());
    await sleep(5000);
    await unlink(join(r.manifests, 'vols.yaml'));
    await eventually(
      async () => (await readdir(join(r.rootDir, 'pods')).catch(() => [])).length === 0,
      30_000,
      'the pod directory removed',
    );
    await sleep(3000);
    await d.stop();
    return 'volumes set up, the app ran, the pod and its directory removed';
  },

  async 'cluster-admission'(r) {
    const api = await startApiServer({ nodes: [NODE] });
    try {
      const d = await daemon(r, [`--kubeconfig=${api.kubeconfigFor(NODE)}`, '--node-status-update-frequency=2s']);
      const pod = (name: string, memory: string) =>
        api.store.create('pods', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'default' },
          spec: {
            nodeName: NODE,
            terminationGracePeriodSeconds: 2,
            containers: [
              {
                name: 'app',
                image: BUSYBOX_IMAGE,
                imagePullPolicy: 'IfNotPresent',
                command: SLEEP,
                resources: { requests: { memory } },
              },
            ],
          },
        } as unknown as JsonObject);
      pod('fits', '16Mi');
      pod('huge', '900Gi');
      const phase = (name: string) =>
        (api.store.get('pods', 'default', name) as { status?: { phase?: string; reason?: string } } | undefined)
          ?.status;
      await eventually(() => phase('fits')?.phase === 'Running', 30_000, 'fits Running');
      const rejected = await eventually(
        () => (phase('huge')?.phase === 'Failed' ? phase('huge') : undefined),
        30_000,
        'huge Failed',
      );
      if (rejected!.reason !== 'OutOfmemory')
        throw new Error(`cluster-admission: huge was rejected ${rejected!.reason}, not OutOfmemory`);
      const huge = await r.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'huge' } });
      if (huge.length > 0) throw new Error('cluster-admission: the rejected pod has a sandbox');
      await sleep(5000);
      await d.stop();
      return 'fits Running, huge Failed OutOfmemory';
    } finally {
      for (const d of r.daemons) await d.stop();
      await api.stop();
    }
  },

  async 'data-volumes'(r) {
    const api = await startApiServer({ nodes: [NODE] });
    try {
      api.store.create('configmaps', {
        metadata: { name: 'app-config', namespace: 'default' },
        data: { 'app.conf': 'version=1' },
      });
      api.store.create('secrets', {
        metadata: { name: 'creds', namespace: 'default' },
        data: { password: Buffer.from('trace-secret-value').toString('base64') },
      });
      const d = await daemon(r, [
        `--kubeconfig=${api.kubeconfigFor(NODE)}`,
        '--node-status-update-frequency=2s',
        '--sync-frequency=2s',
      ]);
      api.store.create('pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'data', namespace: 'default' },
        spec: {
          nodeName: NODE,
          terminationGracePeriodSeconds: 2,
          serviceAccountName: 'default',
          volumes: [
            { name: 'config', configMap: { name: 'app-config' } },
            { name: 'creds', secret: { secretName: 'creds' } },
            { name: 'token', projected: { sources: [{ serviceAccountToken: { path: 'token', audience: 'vault' } }] } },
          ],
          containers: [
            {
              name: 'app',
              image: BUSYBOX_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: SLEEP,
              volumeMounts: [
                { name: 'config', mountPath: '/etc/app' },
                { name: 'creds', mountPath: '/creds' },
                { name: 'token', mountPath: '/token' },
              ],
            },
          ],
        },
      } as unknown as JsonObject);
      const c = await eventually(
        async () =>
          (
            await r.cri.listContainers({
              labelSelector: { 'io.kubernetes.pod.name': 'data' },
              state: { state: 'CONTAINER_RUNNING' },
            })
          )[0],
        30_000,
        'data running',
      );
      const read = async () =>
        Buffer.from((await r.cri.execSync(c.id, ['cat', '/etc/app/app.conf'], 10)).stdout).toString();
      if ((await read()) !== 'version=1') throw new Error('data-volumes: the ConfigMap file is not in the container');
      const cm = api.store.get('configmaps', 'default', 'app-config')!;
      api.store.update('configmaps', { ...cm, data: { 'app.conf': 'version=2' } });
      await eventually(
        async () => ((await read()) === 'version=2' ? true : undefined),
        30_000,
        'the update in the container',
      );
      api.store.delete('pods', 'default', 'data');
      await eventually(
        async () => (await readdir(join(r.rootDir, 'pods')).catch(() => [])).length === 0,
        30_000,
        'the pod directory removed',
      );
      await sleep(3000);
      await d.stop();
      return 'configMap, secret and token volumes set up, the ConfigMap update seen in the container, the pod and its directory removed';
    } finally {
      for (const d of r.daemons) await d.stop();
      await api.stop();
    }
  },
};

/** The volumes scenario's pod (JSON is YAML). */
function volumesPod(): string {
  const box = (name: string, command: string[], volumeMounts: unknown[]) => ({
    name,
    image: BUSYBOX_IMAGE,
    command,
    volumeMounts,
  });
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'vols', namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 2,
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } },
      ],
      initContainers: [
        box(
          'prep',
          ['sh', '-c', 'mkdir -p /data/conf && echo hello > /data/conf/greeting'],
          [{ name: 'data', mountPath: '/data' }],
        ),
      ],
      containers: [
        box('app', SLEEP, [
          { name: 'data', mountPath: '/conf', subPath: 'conf', readOnly: true },
          { name: 'cache', mountPath: '/cache' },
        ]),
      ],
    },
  });
}

async function record(containerd: ContainerdHandle, scenario: Scenario, out: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'kts-trace-'));
  const r: Run = {
    containerd,
    cri: containerd.cri,
    manifests: join(work, 'manifests'),
    rootDir: join(work, 'root'),
    out: join(work, 'trace.jsonl'),
    daemons: [],
  };
  await mkdir(r.manifests);
  const started = Date.now();
  try {
    const what = await scenarios[scenario](r);
    for (const d of r.daemons) await d.stop(); // the recorder has flushed and closed
    const text = await readFile(r.out);
    await writeFile(out, out.endsWith('.gz') ? gzipSync(text, { level: 9 }) : text);
    const size = (await stat(out)).size;
    process.stdout.write(
      `${scenario}: ${what}; ${((Date.now() - started) / 1000).toFixed(1)}s, ${text.length} bytes recorded → ${out} (${size} bytes)\n`,
    );
  } finally {
    for (const d of r.daemons) await d.stop();
    await removeAllPods(r.cri);
    await rm(work, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const args = argv.filter((a) => !a.startsWith('--'));
  const outFlag = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);
  const which = args[0];
  if (!which || (which !== 'all' && !SCENARIOS.includes(which as Scenario))) {
    process.stderr.write(`usage: record-trace.ts <${SCENARIOS.join('|')}|all> [--out=FILE]\n`);
    return 2;
  }
  const list: Scenario[] = which === 'all' ? [...SCENARIOS] : [which as Scenario];
  if (outFlag && list.length > 1) {
    process.stderr.write('--out takes one scenario\n');
    return 2;
  }
  const containerd = await startContainerd();
  try {
    for (const s of list)
      await record(containerd, s, resolve(outFlag ?? join(ROOT, 'specs', 'replay', 'traces', `${s}.jsonl.gz`)));
  } finally {
    await containerd.stop();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`record-trace: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
