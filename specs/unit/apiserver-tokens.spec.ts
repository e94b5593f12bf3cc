/**
 * The stand-in's TokenRequest subresource, OIDC documents and the Node authorizer's rules for
 * the configuration data a node reads (ConfigMaps, Secrets, service account tokens): signed
 * ES256 JWTs a relying party verifies with /openid/v1/jwks, upstream's bound-token claims,
 * NodeRestriction's pod binding, 403 for objects no pod on the node references, list+watch of
 * one object by name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer } from '../support/apiserver/index.ts';
import type { ApiServer, JsonObject } from '../support/apiserver/index.ts';
import { RawWatch, apiRequest as call } from '../support/apiserver/client.ts';
import { verifyJwt } from '../support/apiserver/tokens.ts';

const T0 = Date.parse('2026-03-01T10:00:00Z');

function podUsing(name: string, node: string, extra: JsonObject = {}): JsonObject {
  return {
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: node,
      serviceAccountName: 'default',
      containers: [{ name: 'app', image: 'busybox:1.36', ...extra }],
    },
  };
}

const tokenRequest = (pod: JsonObject | undefined, spec: JsonObject = {}): JsonObject => ({
  apiVersion: 'authentication.k8s.io/v1',
  kind: 'TokenRequest',
  spec: {
    audiences: ['vault'],
    expirationSeconds: 3600,
    ...spec,
    ...(pod
      ? {
          boundObjectRef: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: (pod.metadata as JsonObject).name,
            uid: (pod.metadata as JsonObject).uid,
          },
        }
      : {}),
  },
});

describe('apiserver stand-in: configuration data and service account tokens', () => {
  let api: ApiServer;
  let web: JsonObject;
  let other: JsonObject;

  before(async () => {
    api = await startApiServer({
      nodes: ['node-a', 'node-b'],
      registerNodes: true,
      bookmarkIntervalMs: 0,
      now: () => new Date(T0),
    });
    api.store.create('configmaps', { metadata: { name: 'web-config', namespace: 'default' }, data: { mode: 'fast' } });
    api.store.create('configmaps', { metadata: { name: 'unrelated', namespace: 'default' }, data: { x: '1' } });
    api.store.create('secrets', {
      metadata: { name: 'db', namespace: 'default' },
      data: { password: Buffer.from('s3cret').toString('base64') },
    });
    web = api.store.create(
      'pods',
      podUsing('web', 'node-a', {
        env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'web-config', key: 'mode' } } }],
        envFrom: [{ secretRef: { name: 'db' } }],
      }),
    );
    other = api.store.create('pods', podUsing('other', 'node-b'));
  });
  after(async () => {
    await api.stop();
  });

  describe('the Node authorizer', () => {
    it('a node reads the ConfigMaps and Secrets its pods reference, nothing else (403 naming why)', async () => {
      const cm = await call(api, 'GET', '/api/v1/namespaces/default/configmaps/web-config', { who: 'node-a' });
      assert.equal(cm.status, 200);
      assert.deepEqual(cm.body.data, { mode: 'fast' });
      const sec = await call(api, 'GET', '/api/v1/namespaces/default/secrets/db', { who: 'node-a' });
      assert.equal(sec.status, 200);
      const denied = await call(api, 'GET', '/api/v1/namespaces/default/configmaps/unrelated', { who: 'node-a' });
      assert.equal(denied.status, 403);
      assert.equal(
        denied.body.message,
        'configmaps "unrelated" is forbidden: User "system:node:node-a" cannot get resource "configmaps" in API group "" in the namespace "default": no relationship found between node \'node-a\' and this object',
      );
      const otherNode = await call(api, 'GET', '/api/v1/namespaces/default/secrets/db', { who: 'node-b' });
      assert.equal(otherNode.status, 403);
      const all = await call(api, 'GET', '/api/v1/namespaces/default/configmaps', { who: 'node-a' });
      assert.equal(all.status, 403, 'no listing of every ConfigMap');
    });

    it('list and watch of one referenced object by name (metadata.name field selector)', async () => {
      const list = await call(
        api,
        'GET',
        '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dweb-config',
        { who: 'node-a' },
      );
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.items.map((i: JsonObject) => (i.metadata as JsonObject).name),
        ['web-config'],
      );
      const w = new RawWatch(
        api,
        `/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dweb-config&resourceVersion=${list.body.metadata.resourceVersion}`,
        'node-a',
      );
      try {
        api.store.patch('configmaps', 'default', 'web-config', { data: { mode: 'slow' } }, 'merge');
        api.store.patch('configmaps', 'default', 'unrelated', { data: { x: '2' } }, 'merge');
        const [ev] = await w.next();
        assert.equal(ev!.type, 'MODIFIED');
        assert.deepEqual((ev!.object as JsonObject).data, { mode: 'slow' });
      } finally {
        w.close();
      }
    });
  });

  describe('TokenRequest', () => {
    it("a node gets a token bound to its pod: ES256, verified with /openid/v1/jwks, upstream's claims", async () => {
      const r = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: tokenRequest(web),
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.kind, 'TokenRequest');
      assert.equal(r.body.status.expirationTimestamp, '2026-03-01T11:00:00Z');
      // a relying party reads the issuer's keys (the documents are the service accounts'; admin here)
      const jwks = await call(api, 'GET', '/openid/v1/jwks');
      assert.equal(jwks.status, 200);
      const { header, claims } = verifyJwt(r.body.status.token, jwks.body);
      assert.equal(header.alg, 'ES256');
      const sa = api.store.get('serviceaccounts', 'default', 'default')!;
      const node = api.store.get('nodes', 'node-a')!;
      const { jti, ...rest } = claims;
      assert.match(String(jti), /^[0-9a-f-]{36}$/);
      assert.deepEqual(rest, {
        aud: ['vault'],
        exp: T0 / 1000 + 3600,
        iat: T0 / 1000,
        nbf: T0 / 1000,
        iss: 'https://kubernetes.default.svc.cluster.local',
        sub: 'system:serviceaccount:default:default',
        'kubernetes.io': {
          namespace: 'default',
          serviceaccount: { name: 'default', uid: (sa.metadata as JsonObject).uid },
          pod: { name: 'web', uid: (web.metadata as JsonObject).uid },
          node: { name: 'node-a', uid: (node.metadata as JsonObject).uid },
        },
      });
      const disc = await call(api, 'GET', '/.well-known/openid-configuration');
      assert.equal(disc.body.issuer, 'https://kubernetes.default.svc.cluster.local');
      assert.equal(disc.body.jwks_uri, `${api.url}/openid/v1/jwks`);
      assert.deepEqual(api.serviceAccountIssuer.jwks(), jwks.body);
    });

    it('a token signed by another key, or altered, does not verify', async () => {
      const r = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: tokenRequest(web),
      });
      const [h, b, s] = String(r.body.status.token).split('.');
      const forged = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(b!, 'base64url').toString()), sub: 'system:admin' }),
      ).toString('base64url');
      assert.throws(() => verifyJwt(`${h}.${forged}.${s}`, api.serviceAccountIssuer.jwks()), /bad signature/);
      const other = await startApiServer({ nodes: ['node-a'] });
      try {
        assert.throws(() => verifyJwt(r.body.status.token, other.serviceAccountIssuer.jwks()), /no key with kid/);
      } finally {
        await other.stop();
      }
    });

    it("no audience: the issuer's; no expirationSeconds: 3600; under 10 minutes is Invalid", async () => {
      const r = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: {
          ...tokenRequest(web),
          spec: { boundObjectRef: tokenRequest(web).spec && (tokenRequest(web).spec as JsonObject).boundObjectRef },
        },
      });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body.spec.audiences, ['https://kubernetes.default.svc.cluster.local']);
      assert.equal(r.body.spec.expirationSeconds, 3600);
      const short = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: tokenRequest(web, { expirationSeconds: 60 }),
      });
      assert.equal(short.status, 422);
      assert.match(
        short.body.message,
        /spec\.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes/,
      );
    });

    it("NodeRestriction: a node's token must be bound to a pod on that node, with its uid", async () => {
      const unbound = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: tokenRequest(undefined),
      });
      assert.equal(unbound.status, 403);
      assert.equal(
        unbound.body.message,
        'serviceaccounts "default" is forbidden: node requested token not bound to a pod',
      );
      const elsewhere = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: tokenRequest(other),
      });
      assert.equal(elsewhere.status, 403);
      assert.equal(
        elsewhere.body.message,
        'serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node',
      );
      const stale = tokenRequest(web);
      ((stale.spec as JsonObject).boundObjectRef as JsonObject).uid = 'not-the-uid';
      const wrongUid = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/default/token', {
        who: 'node-a',
        body: stale,
      });
      assert.equal(wrongUid.status, 403);
      assert.match(
        wrongUid.body.message,
        /the UID in the bound object reference \(not-the-uid\) does not match the UID in record/,
      );
      const noSa = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/builder/token', {
        who: 'node-a',
        body: tokenRequest(web),
      });
      assert.equal(noSa.status, 403, 'the Node authorizer: no pod on node-a runs as builder');
      assert.match(noSa.body.message, /no relationship found between node 'node-a' and this object/);
      const missingSa = await call(api, 'POST', '/api/v1/namespaces/default/serviceaccounts/builder/token', {
        body: tokenRequest(undefined),
      });
      assert.equal(missingSa.status, 404);
      assert.equal(missingSa.body.message, 'serviceaccounts "builder" not found');
    });

    it("the nodes may not read the OIDC documents (the service accounts' role); GET of the subresource is not allowed", async () => {
      const jwks = await call(api, 'GET', '/openid/v1/jwks', { who: 'node-a' });
      assert.equal(jwks.status, 403);
      const get = await call(api, 'GET', '/api/v1/namespaces/default/serviceaccounts/default/token');
      assert.equal(get.status, 405);
    });
  });
});
