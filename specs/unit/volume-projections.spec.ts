/**
 * The content of the API-backed volumes (adapters/volumes/projections.ts), as upstream's plugins
 * compute it: configMap and secret (every key, or items key → path; defaultMode and per-item
 * mode; optional; upstream's messages for a missing object or key), downwardAPI (fieldRef
 * metadata.*, resourceFieldRef with a divisor, upstream's label formatting), projected (the three
 * sources and serviceAccountToken with audience/expirationSeconds/path), and the kube-api-access
 * volume on the API server stand-in: a token the issuer's key verifies, ca.crt from
 * kube-root-ca.crt, the namespace.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  configMapVolumeFiles,
  downwardApiVolumeFiles,
  projectedTokenRequests,
  projectedVolumeFiles,
  readVolumeFiles,
  secretVolumeFiles,
  VolumeContentError,
  type VolumeFile,
} from '../../adapters/volumes/projections.ts';
import { createKubeApi, type KubeClient } from '../../adapters/kube/client.ts';
import { createConfigData } from '../../adapters/kube/config-data.ts';
import { RealClock } from '../../kernel/clock.ts';
import { ObjectNotFound, type ConfigDataPort, type ConfigMap, type Secret } from '../../protocols/kube/config-data.ts';
import type { Pod, Volume } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { verifyJwt } from '../support/apiserver/tokens.ts';

const meta = (name: string) => ({ name, namespace: 'prod', uid: `u-${name}` });
const cm: ConfigMap = {
  metadata: meta('app'),
  data: { 'app.conf': 'key=value\n', mode: 'fast' },
  binaryData: { blob: Buffer.from([0, 1, 2]).toString('base64') },
};
const secret: Secret = {
  metadata: meta('db'),
  data: { password: Buffer.from('s3cret').toString('base64'), user: Buffer.from('admin').toString('base64') },
};

/** path → [text, mode in octal] */
const view = (files: VolumeFile[]) =>
  Object.fromEntries(files.map((f) => [f.path, [f.content.toString('utf8'), f.mode.toString(8)]]));

const pod: Pod = {
  metadata: {
    name: 'web-0',
    namespace: 'prod',
    uid: 'uid-1',
    labels: { app: 'web', tier: 'front' },
    annotations: { 'example.com/x': 'say "hi"' },
  },
  spec: {
    serviceAccountName: 'builder',
    containers: [
      {
        name: 'app',
        image: 'i',
        resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
      },
    ],
  },
} as Pod;

const contentError = (message: string) => (e: unknown) => {
  assert.ok(e instanceof VolumeContentError, String(e));
  assert.equal(e.message, message);
  return true;
};

describe('configMap volume', () => {
  it('every key (data and binaryData) with defaultMode 0644', () => {
    const files = configMapVolumeFiles({ name: 'app' }, cm);
    assert.deepEqual(view(files), {
      'app.conf': ['key=value\n', '644'],
      mode: ['fast', '644'],
      blob: ['\u0000\u0001\u0002', '644'],
    });
    assert.deepEqual([...files.find((f) => f.path === 'blob')!.content], [0, 1, 2]);
  });

  it('items map keys to paths; a per-item mode wins over defaultMode', () => {
    const files = configMapVolumeFiles(
      {
        name: 'app',
        defaultMode: 0o400,
        items: [
          { key: 'app.conf', path: 'conf/app.conf' },
          { key: 'mode', path: 'm', mode: 0o600 },
        ],
      },
      cm,
    );
    assert.deepEqual(view(files), { 'conf/app.conf': ['key=value\n', '400'], m: ['fast', '600'] });
  });

  it("a missing key or ConfigMap is upstream's error; optional: skipped, an empty volume", () => {
    assert.throws(
      () => configMapVolumeFiles({ name: 'app', items: [{ key: 'nope', path: 'x' }] }, cm),
      contentError('configmap references non-existent config key: nope'),
    );
    assert.throws(() => configMapVolumeFiles({ name: 'gone' }, undefined), contentError('configmap "gone" not found'));
    assert.deepEqual(
      configMapVolumeFiles(
        {
          name: 'app',
          optional: true,
          items: [
            { key: 'nope', path: 'x' },
            { key: 'mode', path: 'm' },
          ],
        },
        cm,
      ).map((f) => f.path),
      ['m'],
    );
    assert.deepEqual(configMapVolumeFiles({ name: 'gone', optional: true }, undefined), []);
  });
});

describe('secret volume', () => {
  it("values decoded; items, modes, optional; upstream's messages", () => {
    assert.deepEqual(view(secretVolumeFiles({ secretName: 'db' }, secret)), {
      password: ['s3cret', '644'],
      user: ['admin', '644'],
    });
    assert.deepEqual(
      view(
        secretVolumeFiles(
          {
            secretName: 'db',
            defaultMode: 0o440,
            items: [
              { key: 'password', path: 'pw', mode: 0o400 },
              { key: 'user', path: 'u' },
            ],
          },
          secret,
        ),
      ),
      { pw: ['s3cret', '400'], u: ['admin', '440'] },
    );
    assert.throws(
      () => secretVolumeFiles({ secretName: 'db', items: [{ key: 'nope', path: 'x' }] }, secret),
      contentError('references non-existent secret key: nope'),
    );
    assert.throws(() => secretVolumeFiles({ secretName: 'gone' }, undefined), contentError('secret "gone" not found'));
    assert.deepEqual(secretVolumeFiles({ secretName: 'gone', optional: true }, undefined), []);
  });
});

describe('downwardAPI volume', () => {
  it('metadata fields as upstream formats them, resources with a divisor rounded up, paths cleaned', () => {
    const files = downwardApiVolumeFiles(
      pod,
      {
        items: [
          { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
          { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } },
          { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' }, mode: 0o600 },
          { path: 'app', fieldRef: { fieldPath: "metadata.labels['app']" } },
          { path: 'cpu_m', resourceFieldRef: { containerName: 'app', resource: 'requests.cpu', divisor: '1m' } },
          { path: 'cpu', resourceFieldRef: { containerName: 'app', resource: 'requests.cpu' } },
          {
            path: 'mem/limit_mi',
            resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' },
          },
          { path: './cpu_limit', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu' } },
        ],
      },
      { cpu: 4 },
    );
    assert.deepEqual(view(files), {
      name: ['web-0', '644'],
      ns: ['prod', '644'],
      uid: ['uid-1', '644'],
      labels: ['app="web"\ntier="front"', '644'],
      annotations: ['example.com/x="say \\"hi\\""', '600'],
      app: ['web', '644'],
      cpu_m: ['250', '644'],
      cpu: ['1', '644'],
      'mem/limit_mi': ['128', '644'],
      cpu_limit: ['4', '644'],
    });
  });

  it("an unsupported field or resource is upstream's error, all of them together", () => {
    assert.throws(
      () => downwardApiVolumeFiles(pod, { items: [{ path: 'x', fieldRef: { fieldPath: 'spec.nodeName' } }] }),
      contentError('unsupported fieldPath: spec.nodeName'),
    );
    assert.throws(
      () =>
        downwardApiVolumeFiles(pod, {
          items: [
            { path: 'x', fieldRef: { fieldPath: 'status.podIP' } },
            { path: 'y', resourceFieldRef: { containerName: 'nope', resource: 'limits.cpu' } },
          ],
        }),
      contentError('[unsupported fieldPath: status.podIP, container nope not found]'),
    );
  });
});

describe('projected volume', () => {
  const sources = {
    defaultMode: 0o440,
    sources: [
      { configMap: { name: 'app', items: [{ key: 'mode', path: 'mode' }] } },
      { secret: { name: 'db', items: [{ key: 'password', path: 'db/password', mode: 0o400 }] } },
      { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      { serviceAccountToken: { audience: 'vault', expirationSeconds: 7200, path: 'vault-token' } },
    ],
  };

  it("the token requests: bound to the pod, the pod's service account, the projection's audience and expiry", () => {
    assert.deepEqual(projectedTokenRequests(pod, sources), [
      {
        path: 'vault-token',
        serviceAccount: 'builder',
        spec: {
          audiences: ['vault'],
          expirationSeconds: 7200,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0', uid: 'uid-1' },
        },
      },
    ]);
    assert.deepEqual(
      projectedTokenRequests(pod, { sources: [{ serviceAccountToken: { path: 't' } }] })[0]!.spec.audiences,
      [],
      "no audience: the API server's",
    );
  });

  it("every source, with the volume's defaultMode; the token file too (0600 with an fsGroup)", () => {
    const objects = {
      configMaps: new Map([['app', cm]]),
      secrets: new Map([['db', secret]]),
      tokens: new Map([['vault-token', 'tok.en.sig']]),
    };
    assert.deepEqual(view(projectedVolumeFiles(pod, sources, objects)), {
      mode: ['fast', '440'],
      'db/password': ['s3cret', '400'],
      labels: ['app="web"\ntier="front"', '440'],
      'vault-token': ['tok.en.sig', '440'],
    });
    assert.equal(
      projectedVolumeFiles(pod, sources, objects, { tokenMode: 0o600 }).find((f) => f.path === 'vault-token')!.mode,
      0o600,
    );
  });

  it('the failures of every source together; an optional missing one is skipped', () => {
    const objects = {
      configMaps: new Map<string, ConfigMap | undefined>([['app', undefined]]),
      secrets: new Map([['db', secret]]),
      tokens: new Map([['vault-token', new Error('failed to fetch token for service account prod/builder: 403')]]),
    };
    assert.throws(
      () => projectedVolumeFiles(pod, sources, objects),
      contentError('[configmap "app" not found, failed to fetch token for service account prod/builder: 403]'),
    );
    const optional = {
      sources: [
        { configMap: { name: 'app', optional: true } },
        { secret: { name: 'db', items: [{ key: 'user', path: 'u' }] } },
      ],
    };
    assert.deepEqual(view(projectedVolumeFiles(pod, optional, objects)), { u: ['admin', '644'] });
  });
});

describe('readVolumeFiles through a ConfigDataPort', () => {
  const port = (): ConfigDataPort => ({
    registerPod() {},
    unregisterPod() {},
    close() {},
    getConfigMap: async (_ns, name) => {
      if (name === 'app') return cm;
      if (name === 'slow') throw new Error('failed to sync configmap cache: timed out waiting for the condition');
      throw new ObjectNotFound('configmap', name);
    },
    getSecret: async (_ns, name) => {
      if (name === 'db') return secret;
      throw new ObjectNotFound('secret', name);
    },
    getServiceAccountToken: async (_ns, sa, spec) => ({
      token: `token-for-${sa}-${spec.audiences.join(',')}`,
      expiresAt: 0,
    }),
  });

  it('each kind; a missing object as upstream; another read failure as its own text', async () => {
    const vol = (v: Record<string, unknown>) => ({ name: 'v', ...v }) as Volume;
    assert.deepEqual(Object.keys(view(await readVolumeFiles(pod, vol({ configMap: { name: 'app' } }), port()))), [
      'app.conf',
      'mode',
      'blob',
    ]);
    assert.deepEqual(
      view(
        await readVolumeFiles(pod, vol({ secret: { secretName: 'db', items: [{ key: 'user', path: 'u' }] } }), port()),
      ),
      { u: ['admin', '644'] },
    );
    await assert.rejects(
      readVolumeFiles(pod, vol({ secret: { secretName: 'gone' } }), port()),
      contentError('secret "gone" not found'),
    );
    await assert.rejects(
      readVolumeFiles(pod, vol({ configMap: { name: 'slow' } }), port()),
      contentError('failed to sync configmap cache: timed out waiting for the condition'),
    );
    const projected = await readVolumeFiles(
      pod,
      vol({
        projected: {
          sources: [
            { serviceAccountToken: { audience: 'a', path: 'token' } },
            { configMap: { name: 'slow', optional: true } },
          ],
        },
      }),
      port(),
    ).catch((e: unknown) => e as Error);
    assert.equal(
      (projected as Error).message,
      'failed to sync configmap cache: timed out waiting for the condition',
      'optional covers not found only',
    );
    assert.deepEqual(
      view(
        await readVolumeFiles(
          pod,
          vol({ projected: { sources: [{ serviceAccountToken: { audience: 'a', path: 'token' } }] } }),
          port(),
        ),
      ),
      { token: ['token-for-builder-a', '644'] },
    );
    await assert.rejects(
      readVolumeFiles(pod, vol({ emptyDir: {} }), port()),
      /is not a configMap, secret, downwardAPI or projected volume/,
    );
  });
});

describe('kube-api-access on the API server stand-in', () => {
  let api: ApiServer;
  let client: KubeClient;
  before(async () => {
    api = await startApiServer({ nodes: ['node-a'], registerNodes: true, bookmarkIntervalMs: 0 });
    client = createKubeApi(api.kubeconfigFor('node-a'), { qps: 0 });
  });
  after(async () => {
    client.close();
    await api.stop();
  });

  it("the ServiceAccount admission's volume: a token bound to the pod (verified with the issuer's key), ca.crt, namespace", async () => {
    // the volume kube-apiserver's ServiceAccount admission adds to every pod
    const access = {
      name: 'kube-api-access-x7k2p',
      projected: {
        defaultMode: 0o644,
        sources: [
          { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          {
            downwardAPI: {
              items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
            },
          },
        ],
      },
    };
    const created = api.store.create('pods', {
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        nodeName: 'node-a',
        serviceAccountName: 'default',
        containers: [{ name: 'c', image: 'busybox' }],
        volumes: [access],
      },
    } as unknown as JsonObject);
    const p = {
      metadata: { name: 'web', namespace: 'default', uid: String((created.metadata as JsonObject).uid) },
      spec: created.spec,
    } as unknown as Pod;
    const port = createConfigData({ api: client, clock: new RealClock(), syncTimeoutMs: 5000 });
    try {
      port.registerPod(p);
      const files = await readVolumeFiles(p, access as unknown as Volume, port);
      const byPath = Object.fromEntries(files.map((f) => [f.path, f.content.toString('utf8')]));
      assert.deepEqual(Object.keys(byPath).sort(), ['ca.crt', 'namespace', 'token']);
      assert.equal(byPath['ca.crt'], api.ca);
      assert.equal(byPath.namespace, 'default');
      const { claims } = verifyJwt(byPath.token!, api.serviceAccountIssuer.jwks());
      assert.deepEqual(claims.aud, ['https://kubernetes.default.svc.cluster.local']);
      assert.equal(Number(claims.exp) - Number(claims.iat), 3607);
      assert.deepEqual((claims['kubernetes.io'] as JsonObject).pod, { name: 'web', uid: p.metadata.uid });
      assert.equal(claims.sub, 'system:serviceaccount:default:default');
    } finally {
      port.close();
    }
  });
});
