/**
 * actors/server's HTTPS port: upstream's request attributes, 401/403 bodies and webhook caches
 * (pure, on a virtual clock), and the listener itself against the API server stand-in's
 * TokenReview and SubjectAccessReview: every endpoint × {no credentials, a certificate of another
 * CA, a valid certificate without permission, a token the SubjectAccessReview denies, allowed}
 * gives 401/401/403/403/200; TLS settings and the self-signed serving certificate.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import '../../bin/channels.ts';
import { createKubeApi } from '../../adapters/kube/client.ts';
import {
  bearerToken,
  createAuthenticator,
  createAuthorizer,
  forbiddenBody,
  requestAttributes,
  TtlCache,
  type UserInfo,
} from '../../actors/server/auth.ts';
import { server, type SecureServer, type ServerDeps } from '../../actors/server/index.ts';
import { parseExec, portForwardSandbox, replayedRequest } from '../../actors/server/streaming.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startActor } from '../../kernel/testing.ts';
import { RealClock, VirtualClock } from '../../kernel/clock.ts';
import type { SubjectAccessReviewSpec } from '../../protocols/kube/api.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';

const NODE = 'node-s';

describe('server auth: upstream attributes and answers (pure)', () => {
  it('verb from the method, resource nodes, subresource per path with the proxy fallback of 1.33', () => {
    const subs = (method: string, path: string) =>
      requestAttributes(method, path, NODE).map((a) => `${a.verb}:${a.subresource}`);
    assert.deepEqual(subs('GET', '/stats/summary'), ['get:stats']);
    assert.deepEqual(subs('GET', '/metrics'), ['get:metrics']);
    assert.deepEqual(subs('GET', '/metrics/cadvisor'), ['get:metrics']);
    assert.deepEqual(subs('GET', '/logs/'), ['get:log']);
    assert.deepEqual(subs('GET', '/pods'), ['get:pods', 'get:proxy']);
    assert.deepEqual(subs('GET', '/runningpods/'), ['get:pods', 'get:proxy']);
    assert.deepEqual(subs('GET', '/healthz/syncloop'), ['get:healthz', 'get:proxy']);
    assert.deepEqual(subs('GET', '/configz'), ['get:configz', 'get:proxy']);
    assert.deepEqual(subs('GET', '/containerLogs/default/web/app'), ['get:proxy']);
    assert.deepEqual(subs('POST', '/exec/default/web/app'), ['create:proxy']);
    assert.deepEqual(subs('PUT', '/x'), ['update:proxy']);
    assert.deepEqual(subs('PATCH', '/x'), ['patch:proxy']);
    assert.deepEqual(subs('DELETE', '/x'), ['delete:proxy']);
    // not a subpath: /podsx, /metricsfoo
    assert.deepEqual(subs('GET', '/podsx'), ['get:proxy']);
    assert.deepEqual(subs('GET', '/metricsfoo'), ['get:proxy']);
    assert.deepEqual(requestAttributes('GET', '/pods', NODE)[0], {
      verb: 'get',
      resource: 'nodes',
      subresource: 'pods',
      name: NODE,
    });
    const u: UserInfo = { name: 'alice', groups: [] };
    assert.equal(
      forbiddenBody(u, requestAttributes('GET', '/pods', NODE)),
      'Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[pods proxy])\n',
    );
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer abc'), 'abc');
    assert.equal(bearerToken('Basic abc'), undefined);
    assert.equal(bearerToken('Bearer'), undefined);
  });

  it('TtlCache entries expire on the clock', () => {
    const clock = new VirtualClock();
    const c = new TtlCache<number>(() => clock.now());
    c.set('a', 1, 1000);
    c.set('b', 2, 0);
    clock.advance(999);
    assert.equal(c.get('a'), 1);
    assert.equal(c.get('b'), undefined);
    clock.advance(1);
    assert.equal(c.get('a'), undefined);
  });

  it('TokenReview answers are cached for cacheTTL (authenticated or not); a failed review is not', async () => {
    const clock = new VirtualClock();
    let calls = 0;
    let fail = false;
    const authn = createAuthenticator({
      x509: false,
      anonymous: false,
      now: () => clock.now(),
      webhook: {
        cacheTtlMs: 120_000,
        api: {
          createTokenReview: async (t) => {
            calls++;
            if (fail) throw new Error('connection refused');
            return t === 'good' ? { authenticated: true, user: { username: 'bob', groups: ['g'] } } : {};
          },
        },
      },
    });
    assert.deepEqual(await authn({ authorization: 'Bearer good' }), {
      ok: true,
      user: { name: 'bob', uid: undefined, groups: ['g', 'system:authenticated'], extra: undefined },
    });
    await authn({ authorization: 'Bearer good' });
    assert.equal((await authn({ authorization: 'Bearer bad' })).ok, false);
    await authn({ authorization: 'Bearer bad' });
    assert.equal(calls, 2);
    clock.advance(120_000);
    fail = true;
    assert.match(JSON.stringify(await authn({ authorization: 'Bearer good' })), /token review: connection refused/);
    assert.equal((await authn({ authorization: 'Bearer good' })).ok, false);
    assert.equal(calls, 4);
    // nothing presented: anonymous only when enabled
    assert.deepEqual(await authn({}), { ok: false, reason: 'no credentials' });
    const anon = createAuthenticator({ x509: true, anonymous: true, now: () => 0 });
    assert.deepEqual(await anon({}), {
      ok: true,
      user: { name: 'system:anonymous', groups: ['system:unauthenticated'] },
    });
    // a certificate that does not verify is an error: 401 even with anonymous on
    assert.equal((await anon({ peer: { verified: false, reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } })).ok, false);
  });

  it('SubjectAccessReview: allowed cached 5 min, denied 30 s; the first allowed attribute set wins; errors are 500', async () => {
    const clock = new VirtualClock();
    const asked: SubjectAccessReviewSpec[] = [];
    let allow = new Set(['proxy']);
    let fail = false;
    const authz = createAuthorizer({
      mode: 'Webhook',
      allowedTtlMs: 300_000,
      deniedTtlMs: 30_000,
      now: () => clock.now(),
      api: {
        createSubjectAccessReview: async (spec) => {
          if (fail) throw new Error('boom');
          asked.push(spec);
          return { allowed: allow.has(spec.resourceAttributes.subresource ?? '') };
        },
      },
    });
    const u: UserInfo = { name: 'carol', groups: ['system:authenticated'] };
    const pods = requestAttributes('GET', '/pods', NODE);
    assert.deepEqual(await authz(u, pods), { allowed: true });
    assert.deepEqual(
      asked.map((s) => s.resourceAttributes.subresource),
      ['pods', 'proxy'],
    );
    assert.deepEqual(asked[0], {
      user: 'carol',
      groups: ['system:authenticated'],
      resourceAttributes: { verb: 'get', version: 'v1', resource: 'nodes', subresource: 'pods', name: NODE },
    });
    allow = new Set();
    await authz(u, pods);
    assert.equal(asked.length, 2, 'both answers cached');
    clock.advance(30_000);
    // the denial of pods expired, the allowed proxy not yet
    assert.deepEqual(await authz(u, pods), { allowed: true });
    assert.equal(asked.length, 3);
    clock.advance(270_000);
    assert.deepEqual(await authz(u, pods), {
      allowed: false,
      status: 403,
      body: 'Forbidden (user=carol, verb=get, resource=nodes, subresource(s)=[pods proxy])\n',
    });
    fail = true;
    clock.advance(30_000);
    assert.deepEqual(await authz(u, requestAttributes('GET', '/metrics', NODE)), {
      allowed: false,
      status: 500,
      body: 'Authorization error (user=carol, verb=get, resource=nodes, subresource=metrics)',
    });
    assert.deepEqual(
      await createAuthorizer({ mode: 'AlwaysAllow', allowedTtlMs: 1, deniedTtlMs: 1, now: () => 0 })(u, pods),
      { allowed: true },
    );
  });
});

interface Creds {
  cert?: string;
  key?: string;
  token?: string;
}

function hget(
  port: number,
  path: string,
  creds: Creds = {},
  opts: { method?: string; ca?: string; servername?: string; maxVersion?: 'TLSv1.2'; upgrade?: boolean } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        cert: creds.cert,
        key: creds.key,
        ca: opts.ca,
        rejectUnauthorized: opts.ca !== undefined,
        servername: opts.servername,
        maxVersion: opts.maxVersion,
        agent: false,
        headers: {
          ...(creds.token ? { Authorization: `Bearer ${creds.token}` } : {}),
          ...(opts.upgrade
            ? {
                Connection: 'Upgrade',
                Upgrade: 'websocket',
                'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
                'Sec-WebSocket-Version': '13',
              }
            : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('server actor: the HTTPS port against the API server stand-in', () => {
  let api: ApiServer;
  let dir: string;
  const allowedUser = 'metrics-reader';
  const deniedUser = 'nobody';
  let allowedCert: Creds;
  let deniedCert: Creds;
  let untrusted: Creds;
  const deniedToken = 'denied-token.0123456789';
  let kube: ReturnType<typeof createKubeApi>;

  before(async () => {
    api = await startApiServer({ nodes: [NODE], tokens: { [deniedToken]: { name: 'token-user', groups: [] } } });
    dir = mkdtempSync(join(tmpdir(), 'kts-server-auth-'));
    const a = await api.clientCert(allowedUser, ['readers']);
    const d = await api.clientCert(deniedUser, []);
    const u = await api.untrustedCert(allowedUser, ['readers']);
    [allowedCert, deniedCert, untrusted] = [a, d, u].map((c) => ({ cert: c.cert, key: c.key }));
    // the policy: the readers group may use every subresource of this node
    api.reviews.policy = (r) => ({
      allowed:
        r.groups.includes('readers') && r.resourceAttributes.resource === 'nodes' && r.resourceAttributes.name === NODE,
    });
    kube = createKubeApi(api.kubeconfigFor(NODE), { qps: 0 });
  });
  after(async () => {
    kube.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const secure = (over: Partial<SecureServer> = {}): SecureServer => ({
    address: '127.0.0.1',
    port: 0,
    certDir: join(dir, 'pki'),
    clientCaFile: api.caFile,
    tlsCipherSuites: [],
    anonymous: false,
    tokenWebhook: { cacheTtlMs: 120_000 },
    authorization: { mode: 'Webhook', allowedTtlMs: 300_000, deniedTtlMs: 30_000 },
    reviews: kube,
    logs: { podLogsDir: dir, containerLogPath: async () => join(dir, 'app.log') },
    configz: () => ({ port: 10250 }),
    ...over,
  });
  const deps = (over: Partial<SecureServer> = {}): ServerDeps => ({
    nodeName: NODE,
    syncFrequencyMs: 60_000,
    secure: secure(over),
  });

  it('every endpoint × {none, bad cert, cert without permission, token denied, allowed} → 401/401/403/403/200', async (t) => {
    const a = await startActor(server, deps());
    t.after(() => a.stop());
    assert.deepEqual(a.crashes, []);
    const pod = {
      metadata: { name: 'web', namespace: 'default', uid: 'u1' },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    };
    a.bus.port('podManager').publish('desiredPods', new Map([['u1', { pod, source: 'api', static: false }]]));
    a.bus.port('status').publish(
      'podStatuses',
      new Map([
        [
          'u1',
          {
            phase: 'Running',
            containerStatuses: [
              {
                name: 'app',
                image: 'busybox',
                imageID: '',
                ready: true,
                restartCount: 0,
                containerID: 'containerd://c1',
                state: { running: { startedAt: 'x' } },
              },
            ],
          },
        ],
      ]),
    );
    a.bus
      .port('pleg')
      .publish(
        'runtimePods',
        new Map([['u1', { uid: 'u1', name: 'web', namespace: 'default', sandboxIds: ['s1'], containerIds: ['c1'] }]]),
      );
    writeFileSync(join(dir, 'app.log'), '2026-01-01T00:00:00Z stdout F hello\n');
    const { ports } = a.inspect() as { ports: { secure: number } };
    const endpoints = [
      '/healthz',
      '/healthz/ping',
      '/healthz/syncloop',
      '/pods',
      '/metrics',
      '/runningpods/',
      '/configz',
      '/containerLogs/default/web/app',
    ];
    const cases: [string, Creds, number][] = [
      ['no credentials', {}, 401],
      ['a certificate of another CA', untrusted, 401],
      ['a valid certificate without permission', deniedCert, 403],
      ['a token the SubjectAccessReview denies', { token: deniedToken }, 403],
      ['allowed', allowedCert, 200],
    ];
    for (const path of endpoints) {
      for (const [what, creds, want] of cases) {
        const r = await hget(ports.secure, path, creds);
        assert.equal(r.status, want, `${path} with ${what}: ${r.status} ${r.body}`);
        if (want === 401) assert.equal(r.body, 'Unauthorized');
      }
    }
    assert.equal((await hget(ports.secure, '/containerLogs/default/web/app', allowedCert)).body, 'hello\n');
    assert.deepEqual(JSON.parse((await hget(ports.secure, '/configz', allowedCert)).body), {
      kubeletconfig: { port: 10250 },
    });
    const running = JSON.parse((await hget(ports.secure, '/runningpods/', allowedCert)).body);
    assert.deepEqual(running.items, [
      {
        metadata: { name: 'web', namespace: 'default', uid: 'u1' },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      },
    ]);
    assert.equal(
      (await hget(ports.secure, '/containerLogs/default/nope/app', allowedCert)).body,
      'pod "nope" does not exist\n',
    );
    // an exec upgrade is authenticated and authorized like any request: 401, 403, then the runtime is asked
    const up = (creds: Creds) =>
      hget(ports.secure, '/exec/default/web/app?command=ls&output=1', creds, { upgrade: true });
    assert.deepEqual(await up({}), { status: 401, body: 'Unauthorized' });
    assert.deepEqual(await up(deniedCert), {
      status: 403,
      body: `Forbidden (user=${deniedUser}, verb=get, resource=nodes, subresource(s)=[proxy])\n`,
    });
    assert.deepEqual(await up(allowedCert), { status: 500, body: 'streaming is not available on this kubelet' });
    const denied = await hget(ports.secure, '/pods', deniedCert);
    assert.equal(
      denied.body,
      `Forbidden (user=${deniedUser}, verb=get, resource=nodes, subresource(s)=[pods proxy])\n`,
    );
    const byToken = await hget(ports.secure, '/metrics', { token: deniedToken });
    assert.equal(byToken.body, 'Forbidden (user=token-user, verb=get, resource=nodes, subresource(s)=[metrics])\n');
    // the SubjectAccessReviews carried upstream's attributes and the user's groups
    const review = api.reviews.accessReviews.find((r) => r.user === 'token-user');
    assert.deepEqual(review, {
      user: 'token-user',
      groups: ['system:authenticated'],
      resourceAttributes: { verb: 'get', version: 'v1', resource: 'nodes', subresource: 'healthz', name: NODE },
    });
    // a token that no authenticator knows: 401; the denied token was reviewed once (cached 2 min)
    assert.equal((await hget(ports.secure, '/healthz', { token: 'unknown.token' })).status, 401);
    assert.equal(api.reviews.tokenReviews.filter((x) => x === deniedToken).length, 1);
    // an admin token: system:masters in the default policy's spirit is denied here by ours
    assert.equal((await hget(ports.secure, '/healthz', { token: api.tokenFor('admin') })).status, 403);
  });

  it('anonymous when enabled is system:anonymous; AlwaysAllow lets every authenticated request through', async (t) => {
    const a = await startActor(server, deps({ anonymous: true }));
    t.after(() => a.stop());
    const { ports } = a.inspect() as { ports: { secure: number } };
    const r = await hget(ports.secure, '/healthz');
    assert.deepEqual(r, {
      status: 403,
      body: 'Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[healthz proxy])\n',
    });
    assert.equal((await hget(ports.secure, '/healthz', untrusted)).status, 401);
    const b = await startActor(
      server,
      deps({
        authorization: { mode: 'AlwaysAllow', allowedTtlMs: 0, deniedTtlMs: 0 },
        tokenWebhook: undefined,
        reviews: undefined,
      }),
    );
    t.after(() => b.stop());
    const pb = (b.inspect() as { ports: { secure: number } }).ports.secure;
    assert.deepEqual(await hget(pb, '/healthz', deniedCert), { status: 200, body: 'ok' });
    assert.equal((await hget(pb, '/healthz')).status, 401);
    assert.equal(
      (await hget(pb, '/healthz', { token: deniedToken })).status,
      401,
      'no token webhook: a token authenticates nobody',
    );
  });

  it('a self-signed serving certificate for the node in certDir, kept across starts; tlsMinVersion honoured', async (t) => {
    const certDir = join(dir, 'pki-own');
    // the certificate's validity starts at the clock's now: a virtual clock from the real one's now
    const a = await startActor(server, deps({ certDir, tlsMinVersion: 'VersionTLS13' }), {
      clock: new VirtualClock(new RealClock().now()),
    });
    t.after(() => a.stop());
    const port = (a.inspect() as { ports: { secure: number } }).ports.secure;
    const pem = readFileSync(join(certDir, 'kubelet.crt'), 'utf8');
    const x = new X509Certificate(pem);
    assert.equal(x.checkHost(NODE), NODE);
    assert.match(x.subject, new RegExp(`CN=${NODE}@\\d+`));
    // the client trusts exactly that certificate, for the node's name
    assert.equal((await hget(port, '/healthz', allowedCert, { ca: pem, servername: NODE })).status, 200);
    await assert.rejects(hget(port, '/healthz', allowedCert, { maxVersion: 'TLSv1.2' }), /version|protocol|alert/i);
    await a.stop();
    const b = await startActor(server, deps({ certDir }));
    t.after(() => b.stop());
    assert.equal(readFileSync(join(certDir, 'kubelet.crt'), 'utf8'), pem);
  });

  it('webhooks without an API client leave the port closed, saying why; a missing client CA file crashes naming it', async (t) => {
    const a = await startActor(server, deps({ reviews: undefined }));
    t.after(() => a.stop());
    assert.deepEqual(a.crashes, []);
    assert.equal((a.inspect() as { ports: { secure?: number } }).ports.secure, undefined);
    const b = await startActor(server, deps({ clientCaFile: join(dir, 'nope.crt') }));
    t.after(() => b.stop());
    assert.match(String(b.crashes[0]), /client CA file .*nope\.crt: no such file/);
  });
});

describe('server: /exec (pure)', () => {
  it("the path and upstream's input/output/error/tty options; the request replayed without the client's credentials", () => {
    assert.deepEqual(
      parseExec(
        '/exec/default/web/app',
        new URLSearchParams('command=sh&command=-c&command=exit 3&input=1&output=1&error=1'),
      ),
      {
        ok: true,
        value: {
          namespace: 'default',
          pod: 'web',
          container: 'app',
          request: { cmd: ['sh', '-c', 'exit 3'], stdin: true, stdout: true, stderr: true, tty: false },
        },
      },
    );
    assert.deepEqual(parseExec('/exec/default/web/u1/app', new URLSearchParams('command=sh&output=1&error=1&tty=1')), {
      ok: true,
      value: {
        namespace: 'default',
        pod: 'web',
        uid: 'u1',
        container: 'app',
        request: { cmd: ['sh'], stdin: false, stdout: true, stderr: false, tty: true },
      },
    });
    assert.deepEqual(parseExec('/exec/default/web/app', new URLSearchParams('output=1')), {
      ok: false,
      status: 400,
      body: 'you must specify at least 1 command',
    });
    // attach takes no command
    assert.deepEqual(parseExec('/attach/default/web/app', new URLSearchParams('output=1'), true), {
      ok: true,
      value: {
        namespace: 'default',
        pod: 'web',
        container: 'app',
        request: { cmd: [], stdin: false, stdout: true, stderr: false, tty: false },
      },
    });
    const web = { metadata: { name: 'web', namespace: 'default', uid: 'u1' } } as Pod;
    assert.deepEqual(
      portForwardSandbox('/portForward/default/web', [web], () => ['s0', 's1']),
      { ok: true, value: 's1' },
    );
    assert.deepEqual(
      portForwardSandbox('/portForward/default/web/u2', [web], () => ['s1']),
      { ok: false, status: 404, body: 'pod does not exist' },
    );
    assert.deepEqual(
      portForwardSandbox('/portForward/default/web', [web], () => []),
      { ok: false, status: 404, body: 'pod "web" has no sandbox' },
    );
    assert.deepEqual(parseExec('/exec/default/web/app', new URLSearchParams('command=ls')), {
      ok: false,
      status: 400,
      body: 'you must specify at least 1 of stdin, stdout, stderr',
    });
    assert.equal(
      replayedRequest('GET', new URL('http://127.0.0.1:3456/exec/tok'), [
        'Host',
        'kubelet:10250',
        'Authorization',
        'Bearer x',
        'Upgrade',
        'websocket',
        'Sec-WebSocket-Protocol',
        'v5.channel.k8s.io',
      ]),
      'GET /exec/tok HTTP/1.1\r\nHost: 127.0.0.1:3456\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n',
    );
  });
});

describe('server: HTTPS flags and config fields', () => {
  it('v1beta1 defaults; flags and the authentication/authorization fields are read; bad values refused', async () => {
    const { DEFAULT_FLAGS, parseFlags } = await import('../../bin/flags.ts');
    const { parseKubeletConfig } = await import('../../bin/config-file.ts');
    const d = DEFAULT_FLAGS;
    assert.deepEqual(
      [
        d.enableServer,
        d.port,
        d.anonymousAuth,
        d.authenticationTokenWebhook,
        d.authenticationTokenWebhookCacheTtlMs,
        d.authorizationMode,
        d.authorizationWebhookCacheAuthorizedTtlMs,
        d.authorizationWebhookCacheUnauthorizedTtlMs,
      ],
      [true, 10250, false, true, 120_000, 'Webhook', 300_000, 30_000],
    );
    const f = parseFlags([
      '--port=11250',
      '--tls-cert-file=/c.crt',
      '--tls-private-key-file=/c.key',
      '--tls-min-version=VersionTLS13',
      '--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256',
      '--client-ca-file=/ca.crt',
      '--anonymous-auth',
      '--authentication-token-webhook=false',
      '--authorization-mode=AlwaysAllow',
      '--authorization-webhook-cache-authorized-ttl=1m',
    ]);
    assert.deepEqual(
      [
        f.port,
        f.tlsCertFile,
        f.tlsPrivateKeyFile,
        f.tlsMinVersion,
        f.tlsCipherSuites,
        f.clientCaFile,
        f.anonymousAuth,
        f.authenticationTokenWebhook,
        f.authorizationMode,
        f.authorizationWebhookCacheAuthorizedTtlMs,
      ],
      [
        11250,
        '/c.crt',
        '/c.key',
        'VersionTLS13',
        ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_AES_128_GCM_SHA256'],
        '/ca.crt',
        true,
        false,
        'AlwaysAllow',
        60_000,
      ],
    );
    assert.throws(() => parseFlags(['--port=0']), /"--port" flag: must be between 1 and 65535/);
    assert.equal(parseFlags(['--port=0', '--enable-server=false']).port, 0);
    assert.throws(
      () => parseFlags(['--tls-cert-file=/c.crt']),
      /--tls-cert-file and --tls-private-key-file go together/,
    );
    assert.throws(
      () => parseFlags(['--tls-min-version=TLS12']),
      /"--tls-min-version" flag: supported values: VersionTLS10/,
    );
    assert.throws(() => parseFlags(['--tls-cipher-suites=TLS_NOPE']), /unsupported cipher suite\(s\): TLS_NOPE/);
    assert.throws(() => parseFlags(['--authorization-mode=RBAC']), /supported values: AlwaysAllow, Webhook/);
    const kc = (body: string) =>
      parseKubeletConfig(
        `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n${body}`,
        '/etc/kubernetes/k.yaml',
      );
    const c = kc(
      [
        'port: 11250',
        'tlsCertFile: pki/k.crt',
        'tlsPrivateKeyFile: /k.key',
        'tlsMinVersion: VersionTLS12',
        'tlsCipherSuites: [TLS_AES_128_GCM_SHA256]',
        'authentication:',
        '  x509: {clientCAFile: ca.crt}',
        '  webhook: {enabled: false, cacheTTL: 30s}',
        '  anonymous: {enabled: true}',
        '  colour: blue',
        'authorization:',
        '  mode: AlwaysAllow',
        '  webhook: {cacheAuthorizedTTL: 1m, cacheUnauthorizedTTL: 10s, size: 3}',
        '',
      ].join('\n'),
    );
    assert.deepEqual(c.values, {
      port: 11250,
      tlsCertFile: '/etc/kubernetes/pki/k.crt',
      tlsPrivateKeyFile: '/k.key',
      tlsMinVersion: 'VersionTLS12',
      tlsCipherSuites: ['TLS_AES_128_GCM_SHA256'],
      clientCaFile: '/etc/kubernetes/ca.crt',
      authenticationTokenWebhook: false,
      authenticationTokenWebhookCacheTtlMs: 30_000,
      anonymousAuth: true,
      authorizationMode: 'AlwaysAllow',
      authorizationWebhookCacheAuthorizedTtlMs: 60_000,
      authorizationWebhookCacheUnauthorizedTtlMs: 10_000,
    });
    assert.deepEqual(c.ignored, []);
    assert.deepEqual(
      c.warnings.map((w) => w.message),
      ['unknown field "authentication.colour"', 'unknown field "authorization.webhook.size"'],
    );
    assert.throws(
      () => kc('authorization: {mode: RBAC}\n'),
      /authorization\.mode.*supported values: "AlwaysAllow", "Webhook"/,
    );
    // /configz: the configuration in effect, durations as Go prints them
    const { configzOf, goDuration } = await import('../../bin/config-file.ts');
    assert.deepEqual([0, 500, 20_000, 60_000, 90_000, 3_600_000].map(goDuration), [
      '0s',
      '500ms',
      '20s',
      '1m0s',
      '1m30s',
      '1h0m0s',
    ]);
    const z = configzOf(DEFAULT_FLAGS);
    assert.equal(z.syncFrequency, '1m0s');
    assert.equal(z.port, 10250);
    assert.deepEqual(z.authorization, {
      mode: 'Webhook',
      webhook: { cacheAuthorizedTTL: '5m0s', cacheUnauthorizedTTL: '30s' },
    });
  });
});
