/**
 * Env from the API (actors/runtime/env-from-api.ts, then cri-config's makeEnvironmentVariables):
 * configMapKeyRef, secretKeyRef (values decoded), envFrom with prefix and optional, invalid
 * names skipped with upstream's InvalidEnvironmentVariableNames warning, and upstream's
 * CreateContainerConfigError messages for a missing object or key and for a kubelet without an
 * API client.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerConfigError, makeEnvironmentVariables } from '../../actors/runtime/cri-config.ts';
import { isEnvVarName, resolveApiEnv } from '../../actors/runtime/env-from-api.ts';
import { ObjectNotFound, type ConfigDataPort, type ConfigMap, type Secret } from '../../protocols/kube/config-data.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function port(
  configMaps: Record<string, Record<string, string>>,
  secrets: Record<string, Record<string, string>>,
): ConfigDataPort & { reads: string[] } {
  const reads: string[] = [];
  const meta = (name: string) => ({ name, namespace: 'prod', uid: `u-${name}` });
  return {
    reads,
    registerPod() {},
    unregisterPod() {},
    async getConfigMap(_ns, name): Promise<ConfigMap> {
      reads.push(`cm/${name}`);
      if (!configMaps[name]) throw new ObjectNotFound('configmap', name);
      return { metadata: meta(name), data: configMaps[name] };
    },
    async getSecret(_ns, name): Promise<Secret> {
      reads.push(`secret/${name}`);
      if (!secrets[name]) throw new ObjectNotFound('secret', name);
      return {
        metadata: meta(name),
        data: Object.fromEntries(Object.entries(secrets[name]).map(([k, v]) => [k, b64(v)])),
      };
    },
    async getServiceAccountToken() {
      throw new Error('unused');
    },
    close() {},
  };
}

const pod = (c: Container): Pod =>
  ({ metadata: { name: 'web', namespace: 'prod', uid: 'uid-1' }, spec: { containers: [c] } }) as Pod;

async function envOf(c: Container, p: ConfigDataPort | undefined) {
  const apiEnv = await resolveApiEnv(pod(c), c, p);
  return {
    env: Object.fromEntries(makeEnvironmentVariables(pod(c), c, { apiEnv }).map((e) => [e.key, e.value])),
    warnings: apiEnv.warnings,
  };
}

const configError = (message: string) => (e: unknown) => {
  assert.ok(e instanceof ContainerConfigError, String(e));
  assert.equal(e.reason, 'CreateContainerConfigError');
  assert.equal(e.message, message);
  return true;
};

describe('env from ConfigMaps and Secrets', () => {
  const api = () =>
    port(
      { app: { MODE: 'fast', 'log.level': 'debug', '1bad': 'x', 'has space': 'y' } },
      { db: { password: 's3cret', user: 'admin' } },
    );

  it('configMapKeyRef and secretKeyRef (decoded); envFrom with a prefix; env overrides envFrom', async () => {
    const p = api();
    const c: Container = {
      name: 'c',
      image: 'i',
      envFrom: [{ configMapRef: { name: 'app' } }, { prefix: 'DB_', secretRef: { name: 'db' } }],
      env: [
        { name: 'MODE', value: 'overridden' },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'log.level' } } },
        { name: 'URL', value: 'postgres://$(DB_user):$(PW)@db' },
      ],
    };
    const { env, warnings } = await envOf(c, p);
    assert.deepEqual(env, {
      MODE: 'overridden',
      'log.level': 'debug',
      DB_password: 's3cret',
      DB_user: 'admin',
      PW: 's3cret',
      LEVEL: 'debug',
      URL: 'postgres://admin:s3cret@db',
    });
    assert.deepEqual(p.reads, ['cm/app', 'secret/db'], 'each object read once per container');
    assert.deepEqual(warnings, [
      {
        reason: 'InvalidEnvironmentVariableNames',
        message:
          'Keys [1bad, has space] from the EnvFrom configMap prod/app were skipped since they are considered invalid environment variable names.',
      },
    ]);
  });

  it("a prefix can make a key valid; invalid names from a Secret are reported as the secret's", async () => {
    const p = port({ app: { '1bad': 'x' } }, { s: { 'a=b': 'v' } });
    const c: Container = {
      name: 'c',
      image: 'i',
      envFrom: [{ prefix: 'P_', configMapRef: { name: 'app' } }, { secretRef: { name: 's' } }],
    };
    const { env, warnings } = await envOf(c, p);
    assert.deepEqual(env, { P_1bad: 'x' });
    assert.equal(
      warnings[0]?.message,
      'Keys [a=b] from the EnvFrom secret prod/s were skipped since they are considered invalid environment variable names.',
    );
  });

  it('optional: a missing object or key is left out', async () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      envFrom: [{ configMapRef: { name: 'nope', optional: true } }],
      env: [
        { name: 'A', valueFrom: { configMapKeyRef: { name: 'app', key: 'missing', optional: true } } },
        { name: 'B', valueFrom: { secretKeyRef: { name: 'gone', key: 'k', optional: true } } },
        { name: 'C', value: 'kept' },
      ],
    };
    assert.deepEqual((await envOf(c, api())).env, { C: 'kept' });
  });

  it("a missing object or key is upstream's CreateContainerConfigError", async () => {
    const ref = (kind: 'configMapKeyRef' | 'secretKeyRef', name: string, key: string): Container => ({
      name: 'c',
      image: 'i',
      env: [{ name: 'X', valueFrom: { [kind]: { name, key } } }],
    });
    await assert.rejects(
      envOf(ref('configMapKeyRef', 'app', 'nope'), api()),
      configError("couldn't find key nope in ConfigMap prod/app"),
    );
    await assert.rejects(
      envOf(ref('secretKeyRef', 'db', 'nope'), api()),
      configError("couldn't find key nope in Secret prod/db"),
    );
    await assert.rejects(
      envOf(ref('configMapKeyRef', 'absent', 'k'), api()),
      configError('configmap "absent" not found'),
    );
    await assert.rejects(envOf(ref('secretKeyRef', 'absent', 'k'), api()), configError('secret "absent" not found'));
    await assert.rejects(
      envOf({ name: 'c', image: 'i', envFrom: [{ secretRef: { name: 'absent' } }] }, api()),
      configError('secret "absent" not found'),
    );
  });

  it('standalone (no API client): the error says so, optional or not', async () => {
    await assert.rejects(
      envOf(
        {
          name: 'c',
          image: 'i',
          env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app', key: 'k', optional: true } } }],
        },
        undefined,
      ),
      configError("couldn't get configMap prod/app, no kubeClient defined"),
    );
    await assert.rejects(
      envOf({ name: 'c', image: 'i', envFrom: [{ secretRef: { name: 'db' } }] }, undefined),
      configError("couldn't get secret prod/db, no kubeClient defined"),
    );
    assert.deepEqual(
      (await envOf({ name: 'c', image: 'i', env: [{ name: 'A', value: 'b' }] }, undefined)).env,
      { A: 'b' },
      'nothing from the API: no client needed',
    );
  });

  it("another read failure is the container's config error, naming it", async () => {
    const p = api();
    p.getConfigMap = async () => {
      throw new Error('failed to sync configmap cache: timed out waiting for the condition');
    };
    await assert.rejects(
      envOf({ name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'app' } }] }, p),
      configError('failed to sync configmap cache: timed out waiting for the condition'),
    );
  });

  it('upstream IsEnvVarName', () => {
    for (const ok of ['A', '_a', 'a.b', 'a-b', '.x', 'x1']) assert.ok(isEnvVarName(ok), ok);
    for (const bad of ['', '1a', 'a b', 'a=b', 'é']) assert.ok(!isEnvVarName(bad), bad);
  });
});
