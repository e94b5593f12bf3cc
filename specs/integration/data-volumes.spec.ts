// Tier 4: the data volumes on a private real containerd, against the API server stand-in. A
// ConfigMap volume's file is read inside the running container, and an update of the ConfigMap
// reaches it within the remount period (--sync-frequency, short here) by the `..data` swap; a
// Secret volume is a tmpfs with 0644 files; a projected serviceAccountToken volume holds a JWT
// that verifies with the stand-in's JWKS, with the audience asked; kube-api-access's ca.crt and
// namespace beside it. Deleting the pods leaves no mount in /proc/mounts and no pod directory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { Event, Node } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { verifyJwt } from '../support/apiserver/tokens.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-d';
const NS = 'default';
const SECRET = 's3cr3t-v0lume-bytes';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

let containerd: ContainerdHandle;
let cri: CriRuntime;
let api: ApiServer;
let work: string;
let root: string;
let daemon: Daemon;

const getPod = (name: string) => api.store.get('pods', NS, name) as unknown as Pod | undefined;

function createPod(name: string, volumes: JsonObject[], mounts: JsonObject[], extra: JsonObject = {}): void {
  api.store.create('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      nodeName: NODE,
      terminationGracePeriodSeconds: 1,
      volumes,
      ...extra,
      containers: [
        { name: 'app', image: BUSYBOX_IMAGE, imagePullPolicy: 'IfNotPresent', command: SLEEP, volumeMounts: mounts },
      ],
    },
  } as unknown as JsonObject);
}

async function inside(name: string, cmd: string[]): Promise<string> {
  const c = await eventually(
    async () =>
      (
        await cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': name },
          state: { state: 'CONTAINER_RUNNING' },
        })
      )[0],
    60_000,
    `${name} running`,
  );
  const r = await cri.execSync(c.id, cmd, 10);
  assert.equal(r.exitCode, 0, `${cmd.join(' ')} in ${name}: ${Buffer.from(r.stderr).toString()}`);
  return Buffer.from(r.stdout).toString('utf8');
}

/** The node's mounts at or below `dir`. */
async function mountsUnder(dir: string): Promise<{ target: string; fstype: string }[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [, target = '', fstype = ''] = l.split(' ');
      return { target: target.replace(/\\040/g, ' '), fstype };
    })
    .filter((m) => m.target === dir || m.target.startsWith(`${dir}/`));
}

async function running(name: string): Promise<void> {
  try {
    await eventually(() => getPod(name)?.status?.phase === 'Running', 60_000, `${name} Running`);
  } catch (e) {
    // say why: the pod's Warning events and the daemon's warnings about it
    const uid = getPod(name)?.metadata.uid;
    const events = (api.store.list('events', { namespace: NS }) as unknown as Event[])
      .filter((x) => x.involvedObject.uid === uid)
      .map((x) => `${x.reason}: ${x.message}`);
    const logs = daemon.lines.filter((l) => l.includes('"warn"') || l.includes('"error"')).slice(-10);
    throw new Error(`${(e as Error).message}; events: ${events.join(' | ')}; daemon: ${logs.join('\n')}`);
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-datavol-'));
  root = join(work, 'root');
  await mkdir(join(work, 'manifests'));
  containerd = await startContainerd();
  cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  api = await startApiServer({ nodes: [NODE] });
  api.store.create('configmaps', {
    metadata: { name: 'app-config', namespace: NS },
    data: { 'app.conf': 'version=1\n' },
  });
  api.store.create('secrets', {
    metadata: { name: 'creds', namespace: NS },
    data: { password: Buffer.from(SECRET).toString('base64') },
  });
  daemon = startDaemon({
    endpoint: containerd.endpoint,
    rootDir: root,
    manifestDir: join(work, 'manifests'),
    nodeName: NODE,
    // the remount period is the sync period, as upstream's: short, so the update shows soon
    args: [
      `--kubeconfig=${api.kubeconfigFor(NODE)}`,
      '--node-status-update-frequency=2s',
      '--sync-frequency=2s',
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
  // a mount a failed test left behind would keep rm from the work directory
  for (const m of (await mountsUnder(work).catch(() => [])).sort((a, b) => b.target.length - a.target.length)) {
    await import('node:child_process').then((cp) => cp.execFileSync('umount', ['-l', m.target])).catch(() => {});
  }
  await rm(work, { recursive: true, force: true });
});

describe('data volumes (real containerd, API server stand-in)', () => {
  it('a ConfigMap volume: the file is read in the container, and an update reaches it by the ..data swap', async () => {
    createPod(
      'cfg',
      [{ name: 'config', configMap: { name: 'app-config' } }],
      [{ name: 'config', mountPath: '/etc/app' }],
    );
    await running('cfg');
    assert.equal(await inside('cfg', ['cat', '/etc/app/app.conf']), 'version=1\n');
    assert.equal(await inside('cfg', ['readlink', '/etc/app/app.conf']), '..data/app.conf\n');
    const uid = getPod('cfg')!.metadata.uid;
    const dir = join(root, 'pods', uid, 'volumes', 'kubernetes.io~configmap', 'config');
    const before = await readlink(join(dir, '..data'));
    const cm = api.store.get('configmaps', NS, 'app-config')!;
    api.store.update('configmaps', { ...cm, data: { 'app.conf': 'version=2\n' } });
    await eventually(
      async () => (await inside('cfg', ['cat', '/etc/app/app.conf'])) === 'version=2\n',
      30_000,
      'the update in the container',
    );
    const now = await readlink(join(dir, '..data'));
    assert.notEqual(now, before, '..data points at a new version directory');
    assert.match(now, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('..') && n !== '..data'),
      [now],
      'the old version is gone',
    );
    // mounted read-only in the container
    const r = await cri.execSync(
      (
        await cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': 'cfg' },
          state: { state: 'CONTAINER_RUNNING' },
        })
      )[0]!.id,
      ['sh', '-c', 'echo x > /etc/app/new'],
      10,
    );
    assert.notEqual(r.exitCode, 0, 'not writable');
  });

  it('a Secret volume is a tmpfs with 0644 files; the recording holds none of its bytes', async () => {
    createPod('sec', [{ name: 'creds', secret: { secretName: 'creds' } }], [{ name: 'creds', mountPath: '/creds' }]);
    await running('sec');
    assert.equal(await inside('sec', ['cat', '/creds/password']), SECRET);
    assert.equal((await inside('sec', ['stat', '-L', '-c', '%a', '/creds/password'])).trim(), '644');
    const uid = getPod('sec')!.metadata.uid;
    const dir = join(root, 'pods', uid, 'volumes', 'kubernetes.io~secret', 'creds');
    assert.deepEqual(
      (await mountsUnder(dir)).filter((m) => m.target === dir).map((m) => m.fstype),
      ['tmpfs'],
    );
    const text = await readFile(join(work, 'session.jsonl'), 'utf8');
    assert.ok(text.includes('"writeAtomically"'), 'the write is recorded');
    for (const s of [SECRET, Buffer.from(SECRET).toString('base64')])
      assert.ok(!text.includes(s), 'the secret is not in the recording');
  });

  it("a projected token volume holds a JWT that verifies with the stand-in's JWKS, with the audience asked; ca.crt and namespace beside it", async () => {
    createPod(
      'tok',
      [
        {
          name: 'kube-api-access',
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 3600 } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              {
                downwardAPI: {
                  items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
                },
              },
            ],
          },
        },
      ],
      [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
      // (what a real API server's ServiceAccount admission sets; the stand-in's Node authorizer follows it)
      { serviceAccountName: 'default' },
    );
    await running('tok');
    const token = await inside('tok', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']);
    const { claims } = verifyJwt(token, api.serviceAccountIssuer.jwks());
    assert.deepEqual(claims.aud, ['vault']);
    const k8s = claims['kubernetes.io'] as JsonObject;
    assert.equal((k8s.pod as JsonObject).uid, getPod('tok')!.metadata.uid, 'bound to the pod');
    assert.equal((k8s.serviceaccount as JsonObject).name, 'default');
    const ca = api.store.get('configmaps', NS, 'kube-root-ca.crt') as { data: Record<string, string> };
    assert.equal(
      await inside('tok', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt']),
      ca.data['ca.crt'],
    );
    assert.equal(await inside('tok', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/namespace']), NS);
    const text = await readFile(join(work, 'session.jsonl'), 'utf8');
    assert.ok(!text.includes(token), 'the token is not in the recording');
  });

  it('deleting the pods leaves no mount and no pod directory', async () => {
    for (const name of ['cfg', 'sec', 'tok']) api.store.delete('pods', NS, name);
    await eventually(
      async () => {
        const left = await readdir(join(root, 'pods')).catch(() => []);
        return left.length === 0 && (await mountsUnder(join(root, 'pods'))).length === 0 ? true : undefined;
      },
      60_000,
      'the pod directories gone and nothing mounted',
    );
  });
});
