// Tier 4: env from ConfigMaps and Secrets. The real daemon on a private real containerd, against
// the API server stand-in (Node authorizer: the node reads only what its pods reference): a pod
// with configMapKeyRef, secretKeyRef and envFrom (with a prefix) sees the values (busybox `env`
// in the running container, over CRI exec); a pod whose key is missing, or whose ConfigMap does
// not exist, waits with CreateContainerConfigError and upstream's message in its API status, and
// starts once the ConfigMap is created (the watch delivers it). No secret reaches the recording.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { Event, Node } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-a';
const NS = 'default';
const SECRET = 'pl4nted-db-passw0rd';

let containerd: ContainerdHandle;
let cri: CriRuntime;
let api: ApiServer;
let work: string;
let daemon: Daemon;

const getPod = (name: string) => api.store.get('pods', NS, name) as unknown as Pod | undefined;
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function createPod(name: string, container: Record<string, unknown>): void {
  api.store.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      nodeName: NODE,
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: 'app', image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent', command: SLEEP, ...container },
      ],
    },
  } as unknown as JsonObject);
}

const waiting = (name: string) => getPod(name)?.status?.containerStatuses?.[0]?.state?.waiting;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-envapi-'));
  await mkdir(join(work, 'manifests'));
  containerd = await startContainerd();
  cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  api = await startApiServer({ nodes: [NODE] });
  api.store.create('configmaps', {
    metadata: { name: 'settings', namespace: NS },
    data: { mode: 'fast', 'log.level': 'debug', '1bad': 'x' },
  });
  api.store.create('secrets', {
    metadata: { name: 'db', namespace: NS },
    data: { password: Buffer.from(SECRET).toString('base64'), user: Buffer.from('admin').toString('base64') },
  });
  daemon = startDaemon({
    endpoint: containerd.endpoint,
    rootDir: join(work, 'root'),
    manifestDir: join(work, 'manifests'),
    nodeName: NODE,
    args: [
      `--kubeconfig=${api.kubeconfigFor(NODE)}`,
      '--node-status-update-frequency=2s',
      '--sync-frequency=3s',
      `--record=${join(work, 'session.jsonl')}`,
    ],
  });
  await eventually(
    () =>
      (api.store.get('nodes', NODE) as unknown as Node | undefined)?.status?.conditions?.some(
        (c) => c.type === 'Ready' && c.status === 'True',
      ),
    40_000,
    'the Node Ready',
  );
});

after(async () => {
  await daemon?.stop();
  if (cri) await removeAllPods(cri);
  cri?.close();
  await api?.stop();
  await containerd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('env from ConfigMaps and Secrets (real containerd, API server stand-in)', () => {
  it('configMapKeyRef, secretKeyRef and envFrom: the container sees the values', async () => {
    createPod('envs', {
      envFrom: [{ configMapRef: { name: 'settings' } }, { prefix: 'DB_', secretRef: { name: 'db' } }],
      env: [
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'OPTIONAL', valueFrom: { secretKeyRef: { name: 'db', key: 'nope', optional: true } } },
        { name: 'URL', value: 'postgres://$(DB_user):$(PASSWORD)@db' },
      ],
    });
    await eventually(() => getPod('envs')?.status?.phase === 'Running', 30_000, 'envs Running');
    const [c] = await cri.listContainers({
      labelSelector: { 'io.kubernetes.pod.name': 'envs' },
      state: { state: 'CONTAINER_RUNNING' },
    });
    assert.ok(c, 'running in containerd');
    const out = await cri.execSync(c.id, ['env'], 10);
    const env = Object.fromEntries(
      Buffer.from(out.stdout)
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(env.MODE, 'fast');
    assert.equal(env['log.level'], 'debug');
    assert.equal(env.PASSWORD, SECRET);
    assert.equal(env.DB_password, SECRET);
    assert.equal(env.DB_user, 'admin');
    assert.equal(env.URL, `postgres://admin:${SECRET}@db`);
    assert.equal(env['1bad'], undefined, 'not a variable name: skipped');
    assert.equal(env.OPTIONAL, undefined);
    const uid = getPod('envs')!.metadata.uid;
    const ev = await eventually(
      () =>
        (api.store.list('events', { namespace: NS }) as unknown as Event[]).find(
          (e) => e.involvedObject.uid === uid && e.reason === 'InvalidEnvironmentVariableNames',
        ),
      10_000,
      'the warning',
    );
    assert.equal(
      ev.message,
      'Keys [1bad] from the EnvFrom configMap default/settings were skipped since they are considered invalid environment variable names.',
    );
    assert.equal(ev.type, 'Warning');
    // the node read them by list+watch of each object, as node-a
    assert.ok(
      api.requests.find({ verb: 'watch', resource: 'secrets', user: `system:node:${NODE}` }),
      'a watch of the secret',
    );
  });

  it("a missing key, or a missing ConfigMap, is CreateContainerConfigError with upstream's message in the API status", async () => {
    createPod('nokey', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nope' } } }] });
    createPod('nocm', { envFrom: [{ configMapRef: { name: 'later' } }] });
    const w1 = await eventually(
      () => waiting('nokey')?.reason === 'CreateContainerConfigError' && waiting('nokey'),
      30_000,
      'nokey held',
    );
    assert.equal(w1.message, "couldn't find key nope in ConfigMap default/settings");
    const w2 = await eventually(
      () => waiting('nocm')?.reason === 'CreateContainerConfigError' && waiting('nocm'),
      30_000,
      'nocm held',
    );
    assert.equal(w2.message, 'configmap "later" not found');
    assert.equal(getPod('nokey')?.status?.phase, 'Pending');
    assert.equal(
      (await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': 'nokey' } })).length,
      0,
      'no container created',
    );
    // the ConfigMap created: the watch delivers it, the next sync starts the container
    api.store.create('configmaps', { metadata: { name: 'later', namespace: NS }, data: { LATE: 'yes' } });
    await eventually(
      () => getPod('nocm')?.status?.phase === 'Running',
      30_000,
      'nocm Running once its ConfigMap exists',
    );
  });

  it('no secret value reaches the recording', async () => {
    const text = await readFile(join(work, 'session.jsonl'), 'utf8');
    for (const s of [SECRET, Buffer.from(SECRET).toString('base64')])
      assert.ok(!text.includes(s), 'the secret is not in the recording');
    assert.ok(text.includes('"k":"configData"'), 'the reads are recorded');
  });
});
