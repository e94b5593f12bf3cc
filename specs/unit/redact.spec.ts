// Recordings never hold secrets (issue 8, defect 3): protocols/redact.ts redactSecrets on every
// shape a secret travels in, deterministic and idempotent, never touching its input; the
// daemon's container-hash rewrite (bin/record-redaction.ts) and its restoration at replay; the
// recorder applying both to every record and the header.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../bin/channels.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { createRecorder, parseRecording } from '../../kernel/recorder.ts';
import { normalizeArgs } from '../../replay/replay.ts';
import { REDACTED, redactSecrets } from '../../protocols/redact.ts';
import { containerHash } from '../../actors/runtime/labels.ts';
import { RECORDED_CHANNELS, RECORDED_VIEWS } from '../../bin/kubelet.ts';
import { containerHashRewrite, recordRedaction, restoreHashes } from '../../bin/record-redaction.ts';
import type { Container } from '../../protocols/kube/pod.ts';

const SECRET = 'pl4nted-s3cret-value';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function pod(env: unknown[], annotations: Record<string, string> = {}) {
  return {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', annotations },
    spec: { containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', `echo $(PASSWORD) ${SECRET}`], env }] },
  };
}

describe('redactSecrets', () => {
  it('env values of pod specs and CRI configs, and where they were copied within the record', () => {
    const input = {
      k: 'in',
      ch: 'config',
      msg: {
        type: 'config.podsAdded',
        pods: [
          pod(
            [
              { name: 'PASSWORD', value: SECRET },
              { name: 'EMPTY', value: '' },
              { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            ],
            { note: `copy of ${SECRET}` },
          ),
        ],
      },
    };
    const before = structuredClone(input);
    const out = redactSecrets(input);
    assert.deepEqual(input, before, 'the input is not touched');
    const text = JSON.stringify(out);
    assert.ok(!text.includes(SECRET), text);
    const c = out.msg.pods[0]!.spec.containers[0]!;
    assert.deepEqual(c.env, [
      { name: 'PASSWORD', value: REDACTED },
      { name: 'EMPTY', value: '' },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
    ]);
    assert.deepEqual(c.command, ['sh', '-c', `echo $(PASSWORD) ${REDACTED}`], 'the value copied into the command');
    assert.equal(out.msg.pods[0]!.metadata.annotations.note, `copy of ${REDACTED}`, 'and into an annotation');
    assert.deepEqual(out.msg.pods[0]!.metadata, {
      ...input.msg.pods[0]!.metadata,
      annotations: { note: `copy of ${REDACTED}` },
    });

    const cri = {
      k: 'cri',
      m: 'createContainer',
      args: [
        'sb1',
        {
          metadata: { name: 'app' },
          envs: [
            { key: 'PASSWORD', value: SECRET },
            { key: 'N', value: '1' },
          ],
          args: [`--pw=${SECRET}`, 'sleep 10'],
        },
      ],
    };
    const redacted = redactSecrets(cri);
    assert.deepEqual(
      redacted.args[1],
      {
        metadata: { name: 'app' },
        envs: [
          { key: 'PASSWORD', value: REDACTED },
          { key: 'N', value: REDACTED },
        ],
        args: [`--pw=${REDACTED}`, 'sleep 10'],
      },
      'a value too short to search for (N=1) is redacted where it is, not searched for ("sleep 10" stays)',
    );
  });

  it('last-applied-configuration, Secret and ConfigMap data, tokens, registry auth, bearer headers', () => {
    const lastApplied = JSON.stringify(pod([{ name: 'P', value: 'x' }]));
    const out = redactSecrets({
      sandbox: { annotations: { [LAST_APPLIED]: lastApplied, 'kubernetes.io/config.source': 'api' } },
      secret: {
        kind: 'Secret',
        metadata: { name: 's' },
        type: 'Opaque',
        data: { password: 'cDRzcw==' },
        stringData: { token: 'abc' },
      },
      configMap: {
        kind: 'ConfigMap',
        metadata: { name: 'c' },
        data: { 'app.conf': 'key=value' },
        binaryData: { blob: 'AAEC' },
      },
      list: { items: [{ metadata: { name: 's2' }, data: { k: 'djE=' } }] },
      tokenRequest: {
        kind: 'TokenRequest',
        spec: { audiences: ['api'] },
        status: { token: 'eyJhbGciOi.payload.sig', expirationTimestamp: '2027-01-01T00:00:00Z' },
      },
      auth: {
        username: 'bob',
        password: 'pw',
        auth: 'Ym9iOnB3',
        identityToken: 'id',
        registryToken: 'reg',
        serverAddress: 'registry.example',
      },
      kubeconfig: { user: { token: 'kc-token', 'client-key-data': 'LS0t' } },
      flags: { manifestUrlHeader: { Authorization: ['Bearer abc'], 'X-Trace': ['1', '2'] } },
      request: { headers: { Authorization: 'Bearer abc' } },
      other: { data: [1, 2, 3], token: 42 },
      url: {
        manifestUrl: 'https://bob:pw%40x@example.com/pods.yaml',
        plain: 'https://example.com/a@b',
        mail: 'me@example.com',
      },
    });
    assert.deepEqual(out, {
      sandbox: { annotations: { [LAST_APPLIED]: REDACTED, 'kubernetes.io/config.source': 'api' } },
      secret: {
        kind: 'Secret',
        metadata: { name: 's' },
        type: 'Opaque',
        data: { password: REDACTED },
        stringData: { token: REDACTED },
      },
      configMap: {
        kind: 'ConfigMap',
        metadata: { name: 'c' },
        data: { 'app.conf': REDACTED },
        binaryData: { blob: REDACTED },
      },
      list: { items: [{ metadata: { name: 's2' }, data: { k: REDACTED } }] },
      tokenRequest: {
        kind: 'TokenRequest',
        spec: { audiences: ['api'] },
        status: { token: REDACTED, expirationTimestamp: '2027-01-01T00:00:00Z' },
      },
      auth: {
        username: 'bob',
        password: REDACTED,
        auth: REDACTED,
        identityToken: REDACTED,
        registryToken: REDACTED,
        serverAddress: 'registry.example',
      },
      kubeconfig: { user: { token: REDACTED, 'client-key-data': REDACTED } },
      flags: { manifestUrlHeader: { Authorization: [REDACTED], 'X-Trace': [REDACTED, REDACTED] } },
      request: { headers: { Authorization: REDACTED } },
      other: { data: [1, 2, 3], token: 42 },
      url: {
        manifestUrl: `https://bob:${REDACTED}@example.com/pods.yaml`,
        plain: 'https://example.com/a@b',
        mail: 'me@example.com',
      },
    });
  });

  it('the config data reads of a session (bin/kubelet.ts CONFIG_DATA_READS): Secrets and ConfigMaps as listed or got, tokens', () => {
    const got = {
      k: 'configData.ok',
      id: 3,
      res: { kind: 'Secret', metadata: { name: 'db', namespace: 'default', uid: 'u' }, data: { password: 'cDRzcw==' } },
    };
    const listed = {
      k: 'configData.ok',
      id: 4,
      res: {
        metadata: { name: 'settings', namespace: 'default', uid: 'u2', resourceVersion: '9' },
        data: { mode: 'fast' },
      },
    };
    const token = {
      k: 'configData.ok',
      id: 5,
      res: { token: 'eyJhbGciOiJFUzI1NiJ9.e30.sig', expiresAt: 1_800_000_000_000 },
    };
    assert.deepEqual(redactSecrets(got).res.data, { password: REDACTED });
    assert.deepEqual(redactSecrets(listed).res.data, { mode: REDACTED });
    assert.deepEqual(redactSecrets(token).res, { token: REDACTED, expiresAt: 1_800_000_000_000 });
    // what a recorded volume port would be handed: the files the atomic writer writes
    const write = {
      k: 'volumes',
      id: 6,
      m: 'writeAtomically',
      args: [
        '/var/lib/kubelet/pods/u/volumes/kubernetes.io~secret/db',
        [
          { path: 'password', content: Buffer.from('s3cret'), mode: 0o400 },
          { path: 'token', content: 'eyJhbGciOi.x.y', mode: 0o644 },
        ],
      ],
    };
    assert.deepEqual(redactSecrets(write).args[1], [
      { path: 'password', content: REDACTED, mode: 0o400 },
      { path: 'token', content: REDACTED, mode: 0o644 },
    ]);
    assert.ok(!JSON.stringify(redactSecrets(write)).includes(JSON.stringify([...Buffer.from('s3cret')]).slice(1, -1)));
  });

  it('deterministic and idempotent; a record without secrets comes back as it was (the same object)', () => {
    const rec = {
      k: 'in',
      msg: { pods: [pod([{ name: 'P', value: SECRET }], { [LAST_APPLIED]: '{}' })] },
      m: new Map([['a', { env: [{ name: 'X', value: SECRET }] }]]),
    };
    const once = redactSecrets(rec);
    assert.deepEqual(redactSecrets(rec), once);
    assert.deepEqual(redactSecrets(once), once);
    assert.ok(!JSON.stringify(once).includes(SECRET), 'a Map is walked too');
    const clean = { k: 'cri', m: 'startContainer', args: ['c1'], nested: { env: [{ name: 'A', valueFrom: {} }] } };
    assert.equal(redactSecrets(clean), clean);
  });

  it('replay compares decisions through it: a replayed CreateContainer with the secret equals its recorded, redacted twin', () => {
    const replayed = ['sb1', { envs: [{ key: 'P', value: SECRET }], command: [SECRET] }, { metadata: { uid: 'u1' } }];
    const recorded = redactSecrets(replayed);
    assert.deepEqual(normalizeArgs('createContainer', replayed), normalizeArgs('createContainer', recorded));
    assert.ok(!JSON.stringify(normalizeArgs('createContainer', replayed)).includes(SECRET));
  });
});

describe('container hashes in a redacted recording (bin/record-redaction.ts)', () => {
  const container = (value: string): Container =>
    ({ name: 'app', image: 'busybox', env: [{ name: 'P', value }] }) as Container;
  const HASH = 'io.kubernetes.container.hash';

  it("a hash is written as the hash of the redacted spec; one seen before its pod as a token the pod's record resolves", () => {
    const real = containerHash(container(SECRET));
    const redacted = containerHash(container(REDACTED));
    assert.notEqual(real, redacted);
    const rewrite = containerHashRewrite();
    const write = (r: Record<string, unknown>) => rewrite(r, redactSecrets(r));
    // a listing before the pod came (a restart's first relist)
    const early = write({ k: 'cri.ok', res: [{ id: 'c1', annotations: { [HASH]: real } }] });
    assert.deepEqual(early.res, [{ id: 'c1', annotations: { [HASH]: '<hash#1>' } }]);
    const input = write({
      k: 'in',
      ch: 'config',
      msg: { pods: [{ metadata: { uid: 'u1' }, spec: { containers: [container(SECRET)] } }] },
    });
    assert.deepEqual(input.rehash, { '<hash#1>': redacted });
    const create = write({ k: 'cri', m: 'createContainer', args: ['sb1', { annotations: { [HASH]: real } }] });
    assert.deepEqual(create.args, ['sb1', { annotations: { [HASH]: redacted } }]);
    const text = JSON.stringify([early, input, create]);
    assert.ok(!text.includes(real) && !text.includes(SECRET), text);

    // replay: tokens are resolved within their session only
    const restored = restoreHashes([
      { k: 'header' },
      early,
      input,
      create,
      { k: 'header' },
      { k: 'cri.ok', res: [{ annotations: { [HASH]: '<hash#1>' } }] },
    ]);
    assert.deepEqual(restored[1]!.res, [{ id: 'c1', annotations: { [HASH]: redacted } }]);
    assert.deepEqual(
      restored[5]!.res,
      [{ annotations: { [HASH]: '<hash#1>' } }],
      "the next session's token #1 is another container",
    );
  });

  it('without env values the hash stays what it was', () => {
    const c = { name: 'app', image: 'busybox', command: ['sleep', '1'] } as Container;
    const rewrite = containerHashRewrite();
    const write = (r: Record<string, unknown>) => rewrite(r, redactSecrets(r));
    write({ k: 'in', msg: { pods: [{ spec: { containers: [c] } }] } });
    assert.deepEqual(write({ k: 'cri', args: [{ annotations: { [HASH]: containerHash(c) } }] }).args, [
      { annotations: { [HASH]: containerHash(c) } },
    ]);
  });
});

describe('the recorder redacts every record', () => {
  it('inputs, CRI and API calls and answers, the Node view, the header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-redact-'));
    try {
      const path = join(dir, 'r.jsonl');
      const rec = createRecorder({
        path,
        clock: new VirtualClock(0),
        redact: recordRedaction(),
        header: { flags: { manifestUrlHeader: { Authorization: [`Bearer ${SECRET}`] } } },
      });
      const bus = new Bus();
      const untap = rec.tapBus(bus, RECORDED_CHANNELS, RECORDED_VIEWS);
      bus.port('podConfig').send('config', {
        type: 'config.podsAdded',
        source: 'api',
        pods: [pod([{ name: 'P', value: SECRET }]) as never],
      });
      bus
        .port('nodeStatus')
        .publish('node', { metadata: { name: 'n', annotations: { [LAST_APPLIED]: SECRET } } } as never);
      const api = rec.wrap(
        {
          async createPod(_ns: string, p: unknown) {
            return p;
          },
        },
        'api',
      );
      await api.createPod('default', pod([{ name: 'P', value: SECRET }]));
      const cri = rec.wrap({
        async pullImage(..._a: unknown[]) {
          return 'sha256:1';
        },
        async runPodSandbox(..._a: unknown[]) {
          return 'sb1';
        },
      });
      await cri.pullImage({ image: 'x' }, { username: 'u', password: SECRET });
      // a later record that repeats the value, without the env it came from: the session learned it
      await cri.runPodSandbox({ metadata: { name: 'web' }, annotations: { note: `copy of ${SECRET}` } });
      untap();
      await rec.close();
      const text = readFileSync(path, 'utf8');
      assert.ok(!text.includes(SECRET), text);
      const kinds = parseRecording(text).map((r) => r.k);
      assert.deepEqual(kinds, ['header', 'in', 'view', 'api', 'api.ok', 'cri', 'cri.ok', 'cri', 'cri.ok']);
      assert.deepEqual(parseRecording(text)[7]!.args, [
        { metadata: { name: 'web' }, annotations: { note: `copy of ${REDACTED}` } },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
