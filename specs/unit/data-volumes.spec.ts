// Tier 1: the data volume plugins (configMap, secret, downwardAPI, projected) on a tmp dir, the
// mounts faked (what would be mounted is recorded), the API objects from a fake ConfigDataPort;
// and a recording of a secret volume's setUp holds no byte of the Secret.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeVolumeFs, VOLUME_FS_METHODS, type VolumeFs } from '../../actors/volumes/adapters.ts';
import { dataVolumePlugins } from '../../actors/volumes/plugins/data.ts';
import { volumeDir, type VolumeHost, type VolumePlugin } from '../../actors/volumes/plugins/index.ts';
import type { Mounter, MountPoint } from '../../adapters/volumes/mount.ts';
import { recordRedaction } from '../../bin/record-redaction.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { createRecorder } from '../../kernel/recorder.ts';
import { ObjectNotFound, type ConfigDataPort, type ConfigMap, type Secret } from '../../protocols/kube/config-data.ts';
import type { Pod, Volume } from '../../protocols/kube/pod.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kts-datavol-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = async () => {
  const d = join(tmp, `t${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};

function fakeMounter(): Mounter & { table: MountPoint[] } {
  const table: MountPoint[] = [];
  return {
    table,
    mount: async (source, target, o) => {
      table.push({ target, fstype: o.fstype ?? 'bind', source, options: [...(o.options ?? [])] });
    },
    unmount: async (target) => {
      const i = table.findLastIndex((m) => m.target === target);
      if (i >= 0) table.splice(i, 1);
    },
    mountPoints: async () => [...table],
  };
}

function fakeConfigData() {
  const configMaps = new Map<string, ConfigMap>();
  const secrets = new Map<string, Secret>();
  const registered: string[] = [];
  const port: ConfigDataPort = {
    registerPod: (p) => void registered.push(p.metadata.uid),
    unregisterPod: () => {},
    getConfigMap: async (ns, name) => {
      const cm = configMaps.get(`${ns}/${name}`);
      if (!cm) throw new ObjectNotFound('configmap', name);
      return cm;
    },
    getSecret: async (ns, name) => {
      const s = secrets.get(`${ns}/${name}`);
      if (!s) throw new ObjectNotFound('secret', name);
      return s;
    },
    getServiceAccountToken: async (_ns, sa, spec) => ({
      token: `token-for-${sa}-${spec.audiences.join(',')}`,
      expiresAt: 0,
    }),
    close: () => {},
  };
  return { port, configMaps, secrets, registered };
}

const mkPod = (
  uid: string,
  volumes: Volume[],
  extra: Partial<Pod['spec']> = {},
  labels?: Record<string, string>,
): Pod =>
  ({
    metadata: { name: `p-${uid}`, namespace: 'ns', uid, ...(labels ? { labels } : {}) },
    spec: { containers: [{ name: 'c', image: 'busybox' }], volumes, ...extra },
  }) as Pod;

const plugin = (name: string): VolumePlugin => dataVolumePlugins(1000).find((p) => p.name === name)!;

/** A VolumeFs that logs the methods called, in order. */
function logged(fs: VolumeFs, log: string[]): VolumeFs {
  return Object.fromEntries(
    VOLUME_FS_METHODS.map((m) => [
      m,
      (...a: unknown[]) => {
        log.push(m);
        return (fs[m] as (...x: unknown[]) => Promise<unknown>)(...a);
      },
    ]),
  ) as unknown as VolumeFs;
}

describe('data volume plugins', () => {
  it('configMap: every key a file through ..data, read-only; an update rewrites it atomically (..data swapped)', async () => {
    const root = await fresh();
    const api = fakeConfigData();
    api.configMaps.set('ns/app', {
      metadata: { name: 'app', namespace: 'ns', uid: 'c1' },
      data: { 'app.conf': 'v1', other: 'x' },
    });
    const host: VolumeHost = { rootDir: root, fs: nodeVolumeFs(root, fakeMounter(), () => 0), configData: api.port };
    const volume: Volume = { name: 'cfg', configMap: { name: 'app' } };
    const p = plugin('kubernetes.io/configmap');
    assert.equal(p.remountPeriodMs, 1000);
    const dir = volumeDir(root, 'u1', p.name, 'cfg');
    const m = await p.setUp({ pod: mkPod('u1', [volume]), volume, dir }, host);
    assert.deepEqual(m, { path: dir, readOnly: true, selinuxRelabel: true });
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'v1');
    assert.equal(await readlink(join(dir, 'app.conf')), '..data/app.conf');
    assert.equal((await stat(join(dir, 'app.conf'))).mode & 0o777, 0o644);
    const first = await readlink(join(dir, '..data'));
    api.configMaps.set('ns/app', { metadata: { name: 'app', namespace: 'ns', uid: 'c1' }, data: { 'app.conf': 'v2' } });
    await p.setUp({ pod: mkPod('u1', [volume]), volume, dir }, host);
    assert.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'v2');
    assert.notEqual(await readlink(join(dir, '..data')), first, 'a new version directory');
    await assert.rejects(lstat(join(dir, 'other')), /ENOENT/, "a removed key's link goes");
    await assert.rejects(lstat(join(dir, first)), /ENOENT/, 'the old version goes');
  });

  it("secret: a tmpfs mounted before anything is written, files 0644 (defaultMode), an item's own mode", async () => {
    const root = await fresh();
    const api = fakeConfigData();
    api.secrets.set('ns/s', {
      metadata: { name: 's', namespace: 'ns', uid: 's1' },
      data: { user: Buffer.from('admin').toString('base64'), pw: Buffer.from('hunter2').toString('base64') },
    });
    const mounter = fakeMounter();
    const calls: string[] = [];
    const host: VolumeHost = {
      rootDir: root,
      fs: logged(
        nodeVolumeFs(root, mounter, () => 0),
        calls,
      ),
      configData: api.port,
    };
    const volume: Volume = {
      name: 'sec',
      secret: {
        secretName: 's',
        items: [
          { key: 'user', path: 'user' },
          { key: 'pw', path: 'pw', mode: 0o400 },
        ],
      },
    };
    const p = plugin('kubernetes.io/secret');
    const dir = volumeDir(root, 'u2', p.name, 'sec');
    const m = await p.setUp({ pod: mkPod('u2', [volume]), volume, dir }, host);
    assert.equal(m.medium, 'Memory');
    assert.deepEqual(
      mounter.table.map((t) => [t.target, t.fstype]),
      [[dir, 'tmpfs']],
    );
    assert.ok(calls.indexOf('mountTmpfs') < calls.indexOf('writeAtomically'), calls.join(' '));
    assert.equal(await readFile(join(dir, 'user'), 'utf8'), 'admin');
    assert.equal((await stat(join(dir, 'user'))).mode & 0o777, 0o644);
    assert.equal((await stat(join(dir, 'pw'))).mode & 0o777, 0o400);
    // idempotent: the tmpfs is there, not mounted again
    await p.setUp({ pod: mkPod('u2', [volume]), volume, dir }, host);
    assert.equal(mounter.table.length, 1);
    await p.tearDown({ pod: mkPod('u2', [volume]), volume, dir }, host);
    assert.deepEqual(mounter.table, []);
  });

  it('a secret whose tmpfs cannot be mounted is never written', async () => {
    const root = await fresh();
    const api = fakeConfigData();
    api.secrets.set('ns/s', { metadata: { name: 's', namespace: 'ns', uid: 's1' }, data: { k: 'dmFsdWU=' } });
    const calls: string[] = [];
    const broken: Mounter = { ...fakeMounter(), mount: () => Promise.reject(new Error('mount: permission denied')) };
    const host: VolumeHost = {
      rootDir: root,
      fs: logged(
        nodeVolumeFs(root, broken, () => 0),
        calls,
      ),
      configData: api.port,
    };
    const volume: Volume = { name: 'sec', secret: { secretName: 's' } };
    const p = plugin('kubernetes.io/secret');
    await assert.rejects(
      p.setUp({ pod: mkPod('u3', [volume]), volume, dir: volumeDir(root, 'u3', p.name, 'sec') }, host),
      /permission denied/,
    );
    assert.ok(!calls.includes('writeAtomically'));
  });

  it("missing objects: upstream's messages, optional ones an empty volume; standalone names the missing client", async () => {
    const root = await fresh();
    const api = fakeConfigData();
    const host: VolumeHost = { rootDir: root, fs: nodeVolumeFs(root, fakeMounter(), () => 0), configData: api.port };
    const p = plugin('kubernetes.io/configmap');
    const setUp = (volume: Volume, h = host) =>
      p.setUp({ pod: mkPod('u4', [volume]), volume, dir: volumeDir(root, 'u4', p.name, volume.name) }, h);
    await assert.rejects(setUp({ name: 'a', configMap: { name: 'nope' } }), /configmap "nope" not found/);
    await setUp({ name: 'b', configMap: { name: 'nope', optional: true } });
    await assert.rejects(
      setUp({ name: 'c', configMap: { name: 'x' } }, { ...host, configData: undefined }),
      /couldn't get configmap ns\/x, no kubeClient defined/,
    );
  });

  it('downwardAPI: labels follow the pod at each setUp; projected kube-api-access: token, ca.crt, namespace', async () => {
    const root = await fresh();
    const api = fakeConfigData();
    api.configMaps.set('ns/kube-root-ca.crt', {
      metadata: { name: 'kube-root-ca.crt', namespace: 'ns', uid: 'r' },
      data: { 'ca.crt': 'PEM' },
    });
    const host: VolumeHost = { rootDir: root, fs: nodeVolumeFs(root, fakeMounter(), () => 0), configData: api.port };
    const dapi: Volume = {
      name: 'info',
      downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] },
    };
    const d = plugin('kubernetes.io/downward-api');
    const ddir = volumeDir(root, 'u5', d.name, 'info');
    await d.setUp({ pod: mkPod('u5', [dapi], {}, { app: 'a' }), volume: dapi, dir: ddir }, host);
    assert.equal(await readFile(join(ddir, 'labels'), 'utf8'), 'app="a"');
    await d.setUp({ pod: mkPod('u5', [dapi], {}, { app: 'b', tier: 'x' }), volume: dapi, dir: ddir }, host);
    assert.equal(await readFile(join(ddir, 'labels'), 'utf8'), 'app="b"\ntier="x"');
    const access: Volume = {
      name: 'kube-api-access',
      projected: {
        sources: [
          { serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 3600 } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    };
    const pr = plugin('kubernetes.io/projected');
    const pdir = volumeDir(root, 'u5', pr.name, 'kube-api-access');
    const m = await pr.setUp(
      { pod: mkPod('u5', [access], { serviceAccountName: 'robot' }), volume: access, dir: pdir },
      host,
    );
    assert.equal(m.medium, 'Memory');
    assert.equal(await readFile(join(pdir, 'token'), 'utf8'), 'token-for-robot-vault');
    assert.equal(await readFile(join(pdir, 'ca.crt'), 'utf8'), 'PEM');
    assert.equal(await readFile(join(pdir, 'namespace'), 'utf8'), 'ns');
  });

  it("a recording of a secret volume's setUp holds none of the Secret's bytes", async () => {
    const root = await fresh();
    const api = fakeConfigData();
    const value = 'correct-horse-battery-staple';
    api.secrets.set('ns/s', {
      metadata: { name: 's', namespace: 'ns', uid: 's1' },
      data: { pw: Buffer.from(value).toString('base64') },
    });
    const path = join(root, 'rec.jsonl');
    const rec = createRecorder({ path, clock: new VirtualClock(0), redact: recordRedaction() });
    const host: VolumeHost = {
      rootDir: root,
      fs: rec.wrap(
        nodeVolumeFs(root, fakeMounter(), () => 0),
        'volumes',
        VOLUME_FS_METHODS,
      ),
      configData: rec.wrap(api.port, 'configData', ['getSecret']),
    };
    const volume: Volume = { name: 'sec', secret: { secretName: 's' } };
    const p = plugin('kubernetes.io/secret');
    const dir = volumeDir(root, 'u6', p.name, 'sec');
    await p.setUp({ pod: mkPod('u6', [volume]), volume, dir }, host);
    await rec.close();
    assert.equal(await readFile(join(dir, 'pw'), 'utf8'), value, 'the volume holds it');
    const text = await readFile(path, 'utf8');
    assert.match(text, /"writeAtomically"/);
    for (const needle of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')])
      assert.ok(!text.includes(needle), needle);
    // nor as the recorder's Buffer encoding of the bytes
    assert.ok(!text.includes(JSON.stringify([...Buffer.from(value)]).slice(1, -1)));
  });
});
