/**
 * The kube-apiserver stand-in, checked through @kubernetes/client-node (what the kubelet will
 * use) and raw HTTPS (to see status codes, headers and watch framing exactly).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { startApiServer } from '../support/apiserver/index.ts';
import { strategicMergePatch, nodeSchema, podSchema } from '../support/apiserver/patch.ts';
import type { ApiServer, JsonObject } from '../support/apiserver/index.ts';
import { RawWatch, apiRequest as call } from '../support/apiserver/client.ts';

// ---------------------------------------------------------------------------------------------
// helpers

function pod(
  name: string,
  o: { node?: string; labels?: Record<string, string>; ns?: string; image?: string; extra?: JsonObject } = {},
): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'default', ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      ...(o.node ? { nodeName: o.node } : {}),
      containers: [{ name: 'app', image: o.image ?? 'busybox:1.36' }],
      ...(o.extra ?? {}),
    },
  };
}

function clientFor(path: string): { core: k8s.CoreV1Api; coord: k8s.CoordinationV1Api; kc: k8s.KubeConfig } {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api), coord: kc.makeApiClient(k8s.CoordinationV1Api) };
}

/** The ApiException of a rejected client-node call, with its Status body parsed. */
async function apiError(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: number; body?: unknown };
    assert.equal(typeof err.code, 'number', `expected an ApiException, got ${String(e)}`);
    const status = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code!, status };
  }
  assert.fail('expected the call to fail');
}

const SMP = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const JSONPATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

// ---------------------------------------------------------------------------------------------

describe('apiserver stand-in', () => {
  let api: ApiServer;
  let admin: ReturnType<typeof clientFor>;
  let nodeA: ReturnType<typeof clientFor>;

  before(async () => {
    api = await startApiServer({ nodes: ['node-a', 'node-b'], bookmarkIntervalMs: 0 });
    admin = clientFor(api.adminKubeconfig);
    nodeA = clientFor(api.kubeconfigFor('node-a'));
  });
  after(async () => {
    await api.stop();
  });

  describe('authentication', () => {
    it('accepts a node client certificate and a node bearer token', async () => {
      const byCert = await call(api, 'GET', '/api/v1/nodes/node-a', { who: 'node-a' });
      assert.equal(byCert.status, 404, 'authorized (own Node), not found yet');
      const byToken = clientFor(api.kubeconfigFor('node-a', 'token'));
      const e = await apiError(byToken.core.readNode({ name: 'node-a' }));
      assert.equal(e.code, 404);
      const rec = api.requests.last({ path: '/api/v1/nodes/node-a' });
      assert.equal(rec?.user, 'system:node:node-a');
      assert.deepEqual(rec?.groups, ['system:nodes', 'system:authenticated']);
    });

    it('refuses anonymous requests, unknown tokens and untrusted certificates with a 401 Status', async () => {
      const expected = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      };
      const anon = await call(api, 'GET', '/api/v1/namespaces/default/pods', { who: 'anonymous' });
      assert.equal(anon.status, 401);
      assert.deepEqual(anon.body, expected);
      const bad = await call(api, 'GET', '/api', { who: { token: 'not-a-token' } });
      assert.equal(bad.status, 401);
      assert.deepEqual(bad.body, expected);
      const untrusted = await api.untrustedCert('system:node:node-a', ['system:nodes']);
      const u = await call(api, 'GET', '/api', { who: { cert: untrusted.cert, key: untrusted.key } });
      assert.equal(u.status, 401);
    });

    it('writes kubeconfigs client-node and kubectl-style loaders accept, inline or by path', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'apiserver-spec-'));
      try {
        const p = join(dir, 'embedded.kubeconfig');
        api.writeKubeconfig(p, { user: 'node-b', auth: 'cert', embed: true });
        const c = clientFor(p);
        assert.equal(c.kc.getCurrentUser()?.name, 'system:node:node-b');
        const e = await apiError(c.core.readNode({ name: 'node-b' }));
        assert.equal(e.code, 404);
        const list = await admin.core.listNamespace();
        assert.deepEqual(
          list.items.map((n) => n.metadata?.name),
          ['default', 'kube-node-lease', 'kube-public', 'kube-system'],
        );
        assert.equal(list.items[0]!.metadata?.labels?.['kubernetes.io/metadata.name'], 'default');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('serves discovery to any authenticated user', async () => {
      const apiDoc = await call(api, 'GET', '/api', { who: 'node-a' });
      assert.equal(apiDoc.body.kind, 'APIVersions');
      assert.deepEqual(apiDoc.body.versions, ['v1']);
      const v1 = await call(api, 'GET', '/api/v1', { who: 'node-a' });
      const names = v1.body.resources.map((r: { name: string }) => r.name);
      for (const n of ['pods', 'pods/status', 'nodes', 'nodes/status', 'events', 'namespaces', 'configmaps', 'secrets'])
        assert.ok(names.includes(n), n);
      const groups = await call(api, 'GET', '/apis', { who: 'node-a' });
      assert.ok(groups.body.groups.some((g: { name: string }) => g.name === 'coordination.k8s.io'));
      const coord = await call(api, 'GET', '/apis/coordination.k8s.io/v1', { who: 'node-a' });
      assert.deepEqual(
        coord.body.resources.map((r: { name: string }) => r.name),
        ['leases'],
      );
      const version = await call(api, 'GET', '/version', { who: 'node-a' });
      assert.equal(version.body.major, '1');
      const nope = await call(api, 'GET', '/apis/example.com/v1/widgets');
      assert.equal(nope.status, 404);
      assert.equal(nope.body.message, 'the server could not find the requested resource');
    });
  });

  describe('CRUD', () => {
    it('creates with uid, resourceVersion, creationTimestamp, generation 1, defaults and a Pending status', async () => {
      const rvBefore = api.store.resourceVersion;
      const created = await admin.core.createNamespacedPod({
        namespace: 'default',
        body: pod('crud-1', { node: 'node-a' }) as k8s.V1Pod,
      });
      assert.match(created.metadata!.uid!, /^[0-9a-f-]{36}$/);
      assert.equal(Number(created.metadata!.resourceVersion), rvBefore + 1);
      assert.ok(created.metadata!.creationTimestamp instanceof Date);
      assert.equal(created.metadata!.generation, 1);
      assert.equal(created.spec!.restartPolicy, 'Always');
      assert.equal(created.spec!.terminationGracePeriodSeconds, 30);
      assert.equal(created.spec!.containers[0]!.imagePullPolicy, 'IfNotPresent');
      assert.equal(created.spec!.containers[0]!.terminationMessagePath, '/dev/termination-log');
      assert.equal(created.status!.phase, 'Pending');
      assert.equal(created.status!.qosClass, 'BestEffort');
      const raw = await call(api, 'GET', '/api/v1/namespaces/default/pods/crud-1');
      assert.equal(raw.status, 200);
      assert.equal(raw.body.kind, 'Pod');
      assert.equal(raw.body.apiVersion, 'v1');
      assert.equal(raw.body.metadata.resourceVersion, created.metadata!.resourceVersion);
      assert.match(raw.body.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it('answers 409 AlreadyExists, 404 NotFound and 404 for a missing namespace with upstream Status objects', async () => {
      const dup = await call(api, 'POST', '/api/v1/namespaces/default/pods', { body: pod('crud-1') });
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods "crud-1" already exists',
        reason: 'AlreadyExists',
        details: { name: 'crud-1', kind: 'pods' },
        code: 409,
      });
      const missing = await apiError(admin.core.readNamespacedPod({ namespace: 'default', name: 'nope' }));
      assert.equal(missing.code, 404);
      assert.deepEqual(missing.status, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods "nope" not found',
        reason: 'NotFound',
        details: { name: 'nope', kind: 'pods' },
        code: 404,
      });
      const lease = await apiError(admin.coord.readNamespacedLease({ namespace: 'kube-node-lease', name: 'nope' }));
      assert.equal(lease.status.message, 'leases.coordination.k8s.io "nope" not found');
      assert.deepEqual(lease.status.details, { name: 'nope', group: 'coordination.k8s.io', kind: 'leases' });
      const noNs = await call(api, 'POST', '/api/v1/namespaces/ghost/pods', { body: pod('x', { ns: 'ghost' }) });
      assert.equal(noNs.status, 404);
      assert.equal(noNs.body.message, 'namespaces "ghost" not found');
    });

    it('rejects a stale resourceVersion on PUT with 409 Conflict and upstream message', async () => {
      const cur = await admin.core.readNamespacedPod({ namespace: 'default', name: 'crud-1' });
      const stale = {
        ...cur,
        metadata: { ...cur.metadata, resourceVersion: String(Number(cur.metadata!.resourceVersion) - 1) },
      };
      const e = await apiError(admin.core.replaceNamespacedPod({ namespace: 'default', name: 'crud-1', body: stale }));
      assert.equal(e.code, 409);
      assert.deepEqual(e.status, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'Operation cannot be fulfilled on pods "crud-1": the object has been modified; please apply your changes to the latest version and try again',
        reason: 'Conflict',
        details: { name: 'crud-1', kind: 'pods' },
        code: 409,
      });
      const wrongUid = { ...cur, metadata: { ...cur.metadata, uid: '00000000-0000-0000-0000-000000000000' } };
      const u = await apiError(
        admin.core.replaceNamespacedPod({ namespace: 'default', name: 'crud-1', body: wrongUid }),
      );
      assert.equal(u.code, 409);
      assert.equal(
        u.status.message,
        `Operation cannot be fulfilled on pods "crud-1": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: ${cur.metadata!.uid}`,
      );
    });

    it('bumps generation on a pod spec change, rejects immutable spec changes, keeps the resourceVersion on a no-op', async () => {
      const cur = await admin.core.readNamespacedPod({ namespace: 'default', name: 'crud-1' });
      const same = await admin.core.replaceNamespacedPod({ namespace: 'default', name: 'crud-1', body: cur });
      assert.equal(same.metadata!.resourceVersion, cur.metadata!.resourceVersion);
      cur.spec!.containers[0]!.image = 'busybox:1.37';
      const updated = await admin.core.replaceNamespacedPod({ namespace: 'default', name: 'crud-1', body: cur });
      assert.equal(updated.metadata!.generation, 2);
      assert.ok(Number(updated.metadata!.resourceVersion) > Number(cur.metadata!.resourceVersion));
      updated.spec!.restartPolicy = 'Never';
      const e = await apiError(
        admin.core.replaceNamespacedPod({ namespace: 'default', name: 'crud-1', body: updated }),
      );
      assert.equal(e.code, 422);
      assert.equal(e.status.reason, 'Invalid');
      assert.match(
        e.status.message,
        /^Pod "crud-1" is invalid: spec: Forbidden: pod updates may not change fields other than/,
      );
      const invalid = await call(api, 'POST', '/api/v1/namespaces/default/pods', {
        body: { metadata: { name: 'Bad_Name' }, spec: { containers: [{ name: 'a', image: 'x' }] } },
      });
      assert.equal(invalid.status, 422);
      assert.match(
        invalid.body.message,
        /^Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
      );
    });

    it('requires a resourceVersion to update a Lease (AllowUnconditionalUpdate false)', async () => {
      await admin.coord.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: { metadata: { name: 'crud-lease' }, spec: { holderIdentity: 'x' } },
      });
      const e = await apiError(
        admin.coord.replaceNamespacedLease({
          namespace: 'kube-node-lease',
          name: 'crud-lease',
          body: { metadata: { name: 'crud-lease' }, spec: { holderIdentity: 'y' } },
        }),
      );
      assert.equal(e.code, 422);
      assert.equal(
        e.status.message,
        'leases.coordination.k8s.io "crud-lease" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
      );
    });

    it('validates Lease specs (ValidateLeaseSpec): leaseDurationSeconds > 0, leaseTransitions >= 0, on create and update', async () => {
      const zero = await apiError(
        admin.coord.createNamespacedLease({
          namespace: 'kube-node-lease',
          body: { metadata: { name: 'bad-lease' }, spec: { holderIdentity: 'x', leaseDurationSeconds: 0 } },
        }),
      );
      assert.equal(zero.code, 422);
      assert.equal(
        zero.status.message,
        'Lease.coordination.k8s.io "bad-lease" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
      );
      assert.deepEqual(zero.status.details.causes, [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 0: must be greater than 0',
          field: 'spec.leaseDurationSeconds',
        },
      ]);
      const ok = await admin.coord.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: { metadata: { name: 'good-lease' }, spec: { holderIdentity: 'x', leaseDurationSeconds: 40 } },
      });
      ok.spec!.leaseDurationSeconds = -5;
      ok.spec!.leaseTransitions = -1;
      const upd = await apiError(
        admin.coord.replaceNamespacedLease({ namespace: 'kube-node-lease', name: 'good-lease', body: ok }),
      );
      assert.equal(
        upd.status.message,
        'Lease.coordination.k8s.io "good-lease" is invalid: [spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]',
      );
    });

    it('validates Event namespaces (legacyValidateEvent): the involved object\'s, or "" / default for a cluster-scoped one', async () => {
      const ev = (ns: string, involvedNs: string | undefined, extra: JsonObject = {}) => ({
        metadata: { name: `ev-${ns}-${involvedNs ?? 'none'}`, namespace: ns },
        involvedObject: {
          kind: involvedNs ? 'Pod' : 'Node',
          name: 'x',
          ...(involvedNs ? { namespace: involvedNs } : {}),
        },
        reason: 'R',
        message: 'm',
        type: 'Normal',
        source: { component: 'kubelet' },
        ...extra,
      });
      api.store.create('namespace', { metadata: { name: 'ev-a' } });
      const wrong = await apiError(
        admin.core.createNamespacedEvent({ namespace: 'default', body: ev('default', 'ev-a') as never }),
      );
      assert.equal(wrong.code, 422);
      assert.equal(
        wrong.status.message,
        'Event "ev-default-ev-a" is invalid: involvedObject.namespace: Invalid value: "ev-a": does not match event.namespace',
      );
      const cluster = await apiError(
        admin.core.createNamespacedEvent({ namespace: 'kube-system', body: ev('kube-system', undefined) as never }),
      );
      assert.equal(
        cluster.status.message,
        'Event "ev-kube-system-none" is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace',
      );
      // accepted: the involved object's namespace; a cluster-scoped object in default; with eventTime also in kube-system
      await admin.core.createNamespacedEvent({ namespace: 'ev-a', body: ev('ev-a', 'ev-a') as never });
      await admin.core.createNamespacedEvent({ namespace: 'default', body: ev('default', undefined) as never });
      const t = await call(api, 'POST', '/api/v1/namespaces/kube-system/events', {
        body: ev('kube-system', undefined, {
          eventTime: '2025-01-01T00:00:00.000000Z',
          reportingComponent: 'x',
          reportingInstance: 'y',
          action: 'A',
        }),
      });
      assert.equal(t.status, 201);
      // a patch that moves the involved object out of the namespace is refused too
      const moved = await call(api, 'PATCH', '/api/v1/namespaces/ev-a/events/ev-ev-a-ev-a', {
        body: { involvedObject: { namespace: 'default' } },
        contentType: 'application/merge-patch+json',
      });
      assert.equal(moved.status, 422);
    });

    it('populates a new namespace (kube-root-ca.crt, default ServiceAccount) and binds pods like the scheduler', async () => {
      await admin.core.createNamespace({ body: { metadata: { name: 'fresh' } } });
      const cm = await admin.core.readNamespacedConfigMap({ namespace: 'fresh', name: 'kube-root-ca.crt' });
      assert.equal(cm.data!['ca.crt'], api.ca);
      assert.equal(
        (await admin.core.readNamespacedServiceAccount({ namespace: 'fresh', name: 'default' })).metadata!.name,
        'default',
      );
      api.store.create('pods', pod('unbound', { ns: 'fresh' }));
      await admin.core.createNamespacedPodBinding({
        namespace: 'fresh',
        name: 'unbound',
        body: { metadata: { name: 'unbound' }, target: { kind: 'Node', name: 'node-a' } },
      });
      assert.equal((api.store.get('pods', 'fresh', 'unbound')!.spec as JsonObject).nodeName, 'node-a');
      const again = await call(api, 'POST', '/api/v1/namespaces/fresh/pods/unbound/binding', {
        body: { target: { name: 'node-b' } },
      });
      assert.equal(again.status, 409);
      assert.equal(
        again.body.message,
        'Operation cannot be fulfilled on pods/binding "unbound": pod unbound is already assigned to node "node-a"',
      );
    });

    it('deletes a Node with a Success Status (nodes do not return the object)', async () => {
      await admin.core.createNode({ body: { metadata: { name: 'gone-node' } } });
      const res = await call(api, 'DELETE', '/api/v1/nodes/gone-node');
      assert.equal(res.status, 200);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.status, 'Success');
      assert.equal(res.body.details.name, 'gone-node');
      assert.equal(res.body.details.kind, 'nodes');
      assert.equal(api.store.get('nodes', 'gone-node'), undefined);
    });
  });

  describe('PATCH', () => {
    before(async () => {
      api.store.create(
        'pods',
        pod('patchy', {
          node: 'node-a',
          extra: {
            containers: [
              { name: 'a', image: 'x:1' },
              { name: 'b', image: 'x:1' },
            ],
          },
        }),
      );
      api.store.patch(
        'pods',
        'default',
        'patchy',
        {
          status: {
            conditions: [
              { type: 'PodScheduled', status: 'True' },
              { type: 'Initialized', status: 'True' },
              { type: 'Ready', status: 'False' },
            ],
            containerStatuses: [
              {
                name: 'a',
                ready: false,
                restartCount: 0,
                image: 'x:1',
                imageID: '',
                started: false,
                state: { waiting: { reason: 'ContainerCreating' } },
              },
              {
                name: 'b',
                ready: false,
                restartCount: 0,
                image: 'x:1',
                imageID: '',
                started: false,
                state: { waiting: { reason: 'ContainerCreating' } },
              },
            ],
          },
        },
        'strategic',
        'status',
      );
    });

    it('strategic merge: conditions merge by type, containerStatuses are replaced (atomic upstream)', async () => {
      const out = await nodeA.core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'patchy',
          body: {
            status: {
              conditions: [{ type: 'Ready', status: 'True', reason: '' }],
              containerStatuses: [
                {
                  name: 'a',
                  ready: true,
                  restartCount: 0,
                  image: 'x:1',
                  imageID: 'sha',
                  started: true,
                  state: { running: { startedAt: '2024-01-01T00:00:00Z' } },
                },
              ],
            },
          },
        },
        SMP,
      );
      assert.deepEqual(
        out.status!.conditions!.map((c) => [c.type, c.status]),
        [
          ['PodScheduled', 'True'],
          ['Initialized', 'True'],
          ['Ready', 'True'],
        ],
      );
      assert.deepEqual(
        out.status!.containerStatuses!.map((c) => c.name),
        ['a'],
      );
      const rec = api.requests.last((r) => r.verb === 'patch' && r.subresource === 'status');
      assert.equal(rec?.contentType, 'application/strategic-merge-patch+json');
      assert.equal(rec?.user, 'system:node:node-a');
    });

    it('strategic merge: $setElementOrder, $patch: delete and $patch: replace', async () => {
      const reordered = await nodeA.core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'patchy',
          body: {
            status: {
              '$setElementOrder/conditions': [{ type: 'Ready' }, { type: 'Initialized' }, { type: 'PodScheduled' }],
              conditions: [
                { type: 'ContainersReady', status: 'True' },
                { type: 'Initialized', $patch: 'delete' },
              ],
            },
          },
        },
        SMP,
      );
      assert.deepEqual(
        reordered.status!.conditions!.map((c) => c.type),
        ['Ready', 'PodScheduled', 'ContainersReady'],
      );
      const replaced = await nodeA.core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'patchy',
          body: { status: { conditions: [{ $patch: 'replace' }, { type: 'Ready', status: 'False' }] } },
        },
        SMP,
      );
      assert.deepEqual(
        replaced.status!.conditions!.map((c) => [c.type, c.status]),
        [['Ready', 'False']],
      );
      const labels = await admin.core.patchNamespacedPod(
        { namespace: 'default', name: 'patchy', body: { metadata: { labels: { a: '1', b: '2' } } } },
        SMP,
      );
      assert.deepEqual(labels.metadata!.labels, { a: '1', b: '2' });
      const dropped = await admin.core.patchNamespacedPod(
        { namespace: 'default', name: 'patchy', body: { metadata: { labels: { a: null } } } },
        SMP,
      );
      assert.deepEqual(dropped.metadata!.labels, { b: '2' });
    });

    it('merge patch replaces lists wholesale', async () => {
      const out = await nodeA.core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'patchy',
          body: { status: { conditions: [{ type: 'PodScheduled', status: 'True' }] } },
        },
        MERGE,
      );
      assert.deepEqual(
        out.status!.conditions!.map((c) => c.type),
        ['PodScheduled'],
      );
    });

    it('JSON patch: applies operations, and a failing test op is a 422 with the reason in causes', async () => {
      const out = await nodeA.core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'patchy',
          body: [
            { op: 'test', path: '/status/phase', value: 'Pending' },
            { op: 'replace', path: '/status/phase', value: 'Running' },
          ],
        },
        JSONPATCH,
      );
      assert.equal(out.status!.phase, 'Running');
      const failed = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/patchy/status', {
        who: 'node-a',
        contentType: 'application/json-patch+json',
        body: [{ op: 'test', path: '/status/phase', value: 'Pending' }],
      });
      assert.equal(failed.status, 422);
      assert.equal(failed.body.reason, 'Invalid');
      assert.deepEqual(failed.body.details.causes, [
        { reason: 'UnexpectedServerResponse', message: 'testing value /status/phase failed: test failed' },
      ]);
    });

    it('rejects an unknown patch content type (415) and a patched uid that does not match (422)', async () => {
      const bad = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/patchy', {
        contentType: 'application/json',
        body: {},
      });
      assert.equal(bad.status, 415);
      assert.equal(bad.body.reason, 'UnsupportedMediaType');
      const uid = await call(api, 'PATCH', '/api/v1/namespaces/default/pods/patchy/status', {
        who: 'node-a',
        contentType: 'application/strategic-merge-patch+json',
        body: { metadata: { uid: 'other-uid' }, status: { phase: 'Failed' } },
      });
      assert.equal(uid.status, 422, 'a PATCH carries no storage precondition: the uid fails validation');
      assert.equal(
        uid.body.message,
        'Pod "patchy" is invalid: metadata.uid: Invalid value: "other-uid": field is immutable',
      );
    });

    it('an unchanged patch keeps the resourceVersion', async () => {
      const cur = api.store.get('pods', 'default', 'patchy')!;
      const out = await nodeA.core.patchNamespacedPodStatus(
        { namespace: 'default', name: 'patchy', body: { status: { phase: 'Running' } } },
        SMP,
      );
      assert.equal(out.metadata!.resourceVersion, (cur.metadata as JsonObject).resourceVersion);
    });
  });

  describe('status subresource', () => {
    it('main-resource writes ignore status; status writes ignore spec (pods and nodes)', async () => {
      api.store.create('pods', pod('iso', { node: 'node-a' }));
      const cur = await admin.core.readNamespacedPod({ namespace: 'default', name: 'iso' });
      cur.status = { phase: 'Failed' };
      cur.spec!.activeDeadlineSeconds = 100;
      const afterMain = await admin.core.replaceNamespacedPod({ namespace: 'default', name: 'iso', body: cur });
      assert.equal(afterMain.status!.phase, 'Pending');
      assert.equal(afterMain.spec!.activeDeadlineSeconds, 100);
      afterMain.status = { phase: 'Running' };
      afterMain.spec!.activeDeadlineSeconds = 5;
      const afterStatus = await admin.core.replaceNamespacedPodStatus({
        namespace: 'default',
        name: 'iso',
        body: afterMain,
      });
      assert.equal(afterStatus.status!.phase, 'Running');
      assert.equal(afterStatus.status!.qosClass, 'BestEffort', 'qosClass backfilled');
      assert.equal(afterStatus.spec!.activeDeadlineSeconds, 100);
      assert.equal(afterStatus.metadata!.generation, 2, 'status writes do not bump generation');

      const node = await admin.core.createNode({
        body: { metadata: { name: 'iso-node' }, spec: { podCIDR: '10.0.0.0/24' }, status: { capacity: { cpu: '4' } } },
      });
      assert.deepEqual(node.status!.allocatable, { cpu: '4' }, 'allocatable defaults to capacity');
      const n2 = await admin.core.patchNode(
        { name: 'iso-node', body: { spec: { unschedulable: true }, status: { capacity: { cpu: '8' } } } },
        SMP,
      );
      assert.equal(n2.spec!.unschedulable, true);
      assert.deepEqual(n2.status!.capacity, { cpu: '4' });
      const n3 = await admin.core.patchNodeStatus(
        { name: 'iso-node', body: { spec: { unschedulable: false }, status: { capacity: { cpu: '8' } } } },
        SMP,
      );
      assert.equal(n3.spec!.unschedulable, true);
      assert.deepEqual(n3.status!.capacity, { cpu: '8' });
    });

    it('validates status writes: no way back from terminated under restartPolicy Never; podIP/podIPs kept consistent', async () => {
      api.store.create('pods', pod('never', { node: 'node-a', extra: { restartPolicy: 'Never' } }));
      const cs = (state: JsonObject): JsonObject => ({
        name: 'app',
        ready: false,
        restartCount: 0,
        image: 'busybox:1.36',
        imageID: '',
        state,
      });
      const ok = await nodeA.core.patchNamespacedPodStatus(
        {
          namespace: 'default',
          name: 'never',
          body: {
            status: {
              podIP: '10.88.0.7',
              containerStatuses: [cs({ terminated: { exitCode: 0, reason: 'Completed' } })],
            },
          },
        },
        SMP,
      );
      assert.deepEqual(
        ok.status!.podIPs!.map((p) => p.ip),
        ['10.88.0.7'],
        'podIPs filled from podIP',
      );
      const back = await apiError(
        nodeA.core.patchNamespacedPodStatus(
          {
            namespace: 'default',
            name: 'never',
            body: { status: { containerStatuses: [cs({ running: {} })] } },
          },
          SMP,
        ),
      );
      assert.equal(back.code, 422);
      assert.equal(
        back.status.message,
        'Pod "never" is invalid: status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state',
      );
      const twoV4 = await apiError(
        nodeA.core.patchNamespacedPodStatus(
          {
            namespace: 'default',
            name: 'never',
            body: { status: { podIP: '10.88.0.7', podIPs: [{ ip: '10.88.0.7' }, { ip: '10.88.0.8' }] } },
          },
          SMP,
        ),
      );
      assert.match(
        twoV4.status.message,
        /status.podIPs: Invalid value: may specify no more than one IP for each IP family/,
      );
    });
  });

  describe('selectors and paging', () => {
    before(() => {
      api.store.create('namespace', { metadata: { name: 'sel' } });
      api.store.create('pods', pod('s1', { ns: 'sel', node: 'node-a', labels: { app: 'web', tier: 'front' } }));
      api.store.create('pods', pod('s2', { ns: 'sel', node: 'node-b', labels: { app: 'web' } }));
      api.store.create('pods', pod('s3', { ns: 'sel', labels: { app: 'db', tier: 'back' } }));
      api.store.create('pods', pod('s4', { ns: 'sel', node: 'node-a' }));
    });
    const names = async (q: { fieldSelector?: string; labelSelector?: string }): Promise<string[]> =>
      (await admin.core.listNamespacedPod({ namespace: 'sel', ...q })).items.map((p) => p.metadata!.name!);

    it('filters by field selector', async () => {
      assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=node-a' }), ['s1', 's4']);
      assert.deepEqual(await names({ fieldSelector: 'spec.nodeName!=node-a' }), ['s2', 's3']);
      assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=' }), ['s3']);
      assert.deepEqual(await names({ fieldSelector: 'metadata.name=s2' }), ['s2']);
      assert.deepEqual(await names({ fieldSelector: 'metadata.namespace==sel,spec.nodeName=node-b' }), ['s2']);
      const e = await apiError(admin.core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'spec.bogus=1' }));
      assert.equal(e.code, 400);
      assert.equal(e.status.message, 'field label not supported: spec.bogus');
    });

    it('filters by label selector (equality and set-based)', async () => {
      assert.deepEqual(await names({ labelSelector: 'app=web' }), ['s1', 's2']);
      assert.deepEqual(await names({ labelSelector: 'app!=web' }), ['s3', 's4']);
      assert.deepEqual(await names({ labelSelector: 'app in (web,db),tier' }), ['s1', 's3']);
      assert.deepEqual(await names({ labelSelector: 'app notin (web)' }), ['s3', 's4']);
      assert.deepEqual(await names({ labelSelector: '!tier' }), ['s2', 's4']);
      assert.deepEqual(await names({ labelSelector: 'tier,app==web' }), ['s1']);
      const e = await apiError(admin.core.listNamespacedPod({ namespace: 'sel', labelSelector: 'app in web' }));
      assert.equal(e.code, 400);
    });

    it('pages with limit/continue over a consistent snapshot, and a compacted continue is 410', async () => {
      const p1 = await admin.core.listNamespacedPod({ namespace: 'sel', limit: 3 });
      assert.deepEqual(
        p1.items.map((p) => p.metadata!.name),
        ['s1', 's2', 's3'],
      );
      assert.ok(p1.metadata!._continue);
      assert.equal(p1.metadata!.remainingItemCount, 1);
      api.store.create('pods', pod('s5', { ns: 'sel' }));
      api.store.delete('pods', 'sel', 's4');
      const p2 = await admin.core.listNamespacedPod({ namespace: 'sel', limit: 3, _continue: p1.metadata!._continue });
      assert.deepEqual(
        p2.items.map((p) => p.metadata!.name),
        ['s4'],
        'the snapshot of the first page',
      );
      assert.equal(p2.metadata!._continue, undefined);
      assert.equal(p2.metadata!.resourceVersion, p1.metadata!.resourceVersion);
      api.store.compact();
      const expired = await call(api, 'GET', `/api/v1/namespaces/sel/pods?limit=3&continue=${p1.metadata!._continue}`);
      assert.equal(expired.status, 410);
      assert.equal(expired.body.reason, 'Expired');
      assert.match(expired.body.message, /^The provided continue parameter is too old/);
    });

    it('lists with resourceVersionMatch=Exact from history, 410 once compacted; NotOlderThan serves current data', async () => {
      const before = await admin.core.listNamespacedPod({ namespace: 'sel' });
      const rv = before.metadata!.resourceVersion!;
      api.store.create('pods', pod('s6', { ns: 'sel' }));
      const exact = await call(
        api,
        'GET',
        `/api/v1/namespaces/sel/pods?resourceVersion=${rv}&resourceVersionMatch=Exact`,
      );
      assert.equal(exact.status, 200);
      assert.equal(exact.body.metadata.resourceVersion, rv);
      assert.equal(exact.body.items.length, before.items.length);
      assert.equal(exact.body.items[0].kind, undefined, 'list items carry no kind/apiVersion');
      const newer = await call(
        api,
        'GET',
        `/api/v1/namespaces/sel/pods?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`,
      );
      assert.equal(newer.body.items.length, before.items.length + 1);
      api.store.compact();
      const gone = await call(
        api,
        'GET',
        `/api/v1/namespaces/sel/pods?resourceVersion=${rv}&resourceVersionMatch=Exact`,
      );
      assert.equal(gone.status, 410);
      assert.equal(gone.body.message, 'The resourceVersion for the provided list is too old.');
      const stillOk = await call(
        api,
        'GET',
        `/api/v1/namespaces/sel/pods?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`,
      );
      assert.equal(stillOk.status, 200);
    });
  });

  describe('watch', () => {
    before(() => {
      api.store.create('namespace', { metadata: { name: 'w' } });
    });

    it('replays from a list resourceVersion: ADDED, MODIFIED, DELETED as chunked JSON lines', async () => {
      api.store.create('pods', pod('w0', { ns: 'w', node: 'node-a' }));
      const list = await admin.core.listNamespacedPod({ namespace: 'w' });
      api.store.create('pods', pod('w1', { ns: 'w', node: 'node-a' }));
      api.store.patch('pods', 'w', 'w1', { metadata: { labels: { x: 'y' } } });
      api.store.delete('pods', 'w', 'w1', { gracePeriodSeconds: 0 });
      const w = new RawWatch(
        api,
        `/api/v1/namespaces/w/pods?watch=1&resourceVersion=${list.metadata!.resourceVersion}`,
      );
      const evs = await w.next(4);
      assert.equal(w.status, 200);
      assert.equal(w.headers['content-type'], 'application/json');
      assert.equal(w.headers['transfer-encoding'], 'chunked');
      assert.deepEqual(
        evs.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'w1'],
          ['MODIFIED', 'w1'],
          ['MODIFIED', 'w1'],
          ['DELETED', 'w1'],
        ],
      );
      assert.ok(evs[2]!.object.metadata.deletionTimestamp, 'grace-0 delete first marks the pod (upstream does too)');
      assert.equal(evs[0]!.object.kind, 'Pod');
      const rvs = evs.map((e) => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(
        [...rvs].sort((a, b) => a - b),
        rvs,
        'resourceVersions increase',
      );
      api.store.create('pods', pod('w2', { ns: 'w', node: 'node-a' }));
      const [live] = await w.next();
      assert.equal(live!.type, 'ADDED');
      assert.equal(live!.object.metadata.name, 'w2');
      assert.equal(api.watchersCount(), 1);
      w.close();
      await w.ended;
    });

    it('starts with synthetic ADDED events when no resourceVersion is given', async () => {
      const w = new RawWatch(api, '/api/v1/namespaces/w/pods?watch=true');
      const evs = await w.next(2);
      assert.deepEqual(
        evs.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'w0'],
          ['ADDED', 'w2'],
        ],
      );
      w.close();
    });

    it('filters watch events by selectors: an object that stops matching is DELETED to that watcher', async () => {
      api.store.create('pods', pod('sel-w', { ns: 'w', node: 'node-a', labels: { role: 'x' } }));
      const rv = String(api.store.resourceVersion);
      const w = new RawWatch(api, `/api/v1/namespaces/w/pods?watch=1&resourceVersion=${rv}&labelSelector=role%3Dx`);
      api.store.patch('pods', 'w', 'sel-w', { metadata: { labels: { role: 'y' } } });
      api.store.create('pods', pod('other', { ns: 'w', labels: { role: 'y' } }));
      api.store.patch('pods', 'w', 'sel-w', { metadata: { labels: { role: 'x' } } });
      const evs = await w.next(2);
      assert.deepEqual(
        evs.map((e) => e.type),
        ['DELETED', 'ADDED'],
      );
      assert.equal(evs[0]!.object.metadata.labels.role, 'x', 'the DELETED event carries the last matching state');
      assert.equal(
        Number(evs[0]!.object.metadata.resourceVersion),
        Number(rv) + 1,
        '...with the resourceVersion of the change',
      );
      w.close();
    });

    it('sends an ERROR event with a 410 Expired Status for a resourceVersion older than the history', async () => {
      const old = api.store.resourceVersion;
      api.store.create('configmaps', { metadata: { name: 'cm-old', namespace: 'w' } });
      api.store.compact();
      const w = new RawWatch(api, `/api/v1/namespaces/w/configmaps?watch=1&resourceVersion=${old - 1}`);
      const [ev] = await w.next();
      await w.ended;
      assert.equal(w.status, 200);
      assert.equal(ev!.type, 'ERROR');
      assert.deepEqual(ev!.object, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${old - 1} (${api.store.resourceVersion})`,
        reason: 'Expired',
        code: 410,
      });
    });

    it('a watch from a resourceVersion not reached yet: established at once, then only later changes (sendInitialEvents: 3 s, then Too large)', async () => {
      const rv = api.store.resourceVersion;
      const w = new RawWatch(
        api,
        `/api/v1/namespaces/w/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=${rv + 2}`,
      );
      const initial = new RawWatch(
        api,
        `/api/v1/namespaces/w/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=${rv + 1000}`,
      );
      // kube-apiserver's watch cache waits for the resourceVersion only when initial events are asked for
      const [err] = await initial.next(1, 5000);
      await initial.ended;
      assert.equal(initial.status, 200);
      assert.equal(err!.type, 'ERROR');
      assert.equal(err!.object.code, 504);
      assert.equal(err!.object.reason, 'Timeout');
      assert.match(err!.object.message, new RegExp(`^Too large resource version: ${rv + 1000}, current: \\d+$`));
      // the plain one is still open after those 3 s, with nothing sent (not even a bookmark)
      assert.equal(w.status, 200);
      api.bookmarkNow();
      api.store.create('configmaps', { metadata: { name: 'fut-1', namespace: 'w' } });
      api.store.create('configmaps', { metadata: { name: 'fut-2', namespace: 'w' } });
      api.store.create('configmaps', { metadata: { name: 'fut-3', namespace: 'w' } });
      const [first] = await w.next();
      assert.equal(first!.type, 'ADDED');
      assert.equal(first!.object.metadata.name, 'fut-3', 'changes up to the requested resourceVersion are not sent');
      assert.equal(w.events.length, 1);
      w.close();
    });

    it('sends BOOKMARK events when allowed (on demand and periodically) and honours timeoutSeconds', async () => {
      const rv = String(api.store.resourceVersion);
      const w = new RawWatch(
        api,
        `/api/v1/namespaces/w/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`,
      );
      const noBookmarks = new RawWatch(api, `/api/v1/namespaces/w/pods?watch=1&resourceVersion=${rv}`);
      await api.requests.waitFor((r) => r.watch && r.query.allowWatchBookmarks === 'true' && r.status === 200);
      await api.requests.waitFor(
        (r) =>
          r.watch && r.query.allowWatchBookmarks === undefined && r.query.resourceVersion === rv && r.status === 200,
      );
      api.store.create('configmaps', { metadata: { name: 'cm-bm', namespace: 'w' } });
      api.bookmarkNow();
      const [bm] = await w.next();
      assert.equal(bm!.type, 'BOOKMARK');
      assert.equal(bm!.object.kind, 'Pod');
      assert.equal(bm!.object.metadata.resourceVersion, String(api.store.resourceVersion));
      await w.ended;
      assert.equal(noBookmarks.events.length, 0);
      noBookmarks.close();

      const periodic = await startApiServer({ nodes: [], bookmarkIntervalMs: 50 });
      try {
        const pw = new RawWatch(periodic, '/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=1');
        const evs = await pw.next(2);
        assert.deepEqual(
          evs.map((e) => e.type),
          ['BOOKMARK', 'BOOKMARK'],
        );
        pw.close();
      } finally {
        await periodic.stop();
      }
    });

    it('sendInitialEvents: initial ADDED events, then a BOOKMARK marking their end', async () => {
      const n = api.store.list('pods', { namespace: 'w' }).length;
      const w = new RawWatch(
        api,
        '/api/v1/namespaces/w/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true',
      );
      const evs = await w.next(n + 1);
      assert.deepEqual(
        evs.map((e) => e.type),
        [...Array(n).fill('ADDED'), 'BOOKMARK'],
      );
      assert.equal(evs[n]!.object.metadata.annotations['k8s.io/initial-events-end'], 'true');
      assert.equal(evs[n]!.object.metadata.resourceVersion, String(api.store.resourceVersion));
      w.close();
      const bad = await call(api, 'GET', '/api/v1/namespaces/w/pods?watch=1&sendInitialEvents=true');
      assert.equal(bad.status, 422);
    });

    it('works with client-node Watch and informers', async () => {
      const seen: string[] = [];
      const watch = new k8s.Watch(admin.kc);
      let done!: () => void;
      const gotIt = new Promise<void>((r) => (done = r));
      const ctl = await watch.watch(
        '/api/v1/namespaces/w/configmaps',
        { resourceVersion: String(api.store.resourceVersion) },
        (phase, obj) => {
          seen.push(`${phase}:${obj.metadata.name}`);
          if (obj.metadata.name === 'cm-watch') done();
        },
        () => {},
      );
      api.store.create('configmaps', { metadata: { name: 'cm-watch', namespace: 'w' }, data: { a: 'b' } });
      await gotIt;
      ctl.abort();
      assert.deepEqual(seen, ['ADDED:cm-watch']);

      // a node's informer needs the spec.nodeName selector on the watch too (Node authorizer)
      const informer = new k8s.ListWatch<k8s.V1Pod>(
        '/api/v1/pods',
        new k8s.Watch(nodeA.kc),
        () => nodeA.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a' }),
        false,
        undefined,
        'spec.nodeName=node-a',
      );
      const added: string[] = [];
      let sawNew!: () => void;
      const newPod = new Promise<void>((r) => (sawNew = r));
      informer.on('add', (p) => {
        added.push(p.metadata!.name!);
        if (p.metadata!.name === 'inf-new') sawNew();
      });
      await informer.start();
      api.store.create('pods', pod('inf-new', { ns: 'w', node: 'node-a' }));
      api.store.create('pods', pod('inf-other', { ns: 'w', node: 'node-b' }));
      await newPod;
      await informer.stop();
      assert.ok(added.includes('w0'));
      assert.ok(added.includes('inf-new'));
      assert.ok(!added.includes('inf-other'), 'the informer only lists its own pods');
    });
  });

  describe('DELETE', () => {
    it('a bound pod gets deletionTimestamp + deletionGracePeriodSeconds and stays until deleted with grace 0', async () => {
      const p = await admin.core.createNamespacedPod({
        namespace: 'default',
        body: pod('del-1', { node: 'node-a' }) as k8s.V1Pod,
      });
      const rv = p.metadata!.resourceVersion!;
      const w = new RawWatch(
        api,
        `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${rv}&fieldSelector=metadata.name%3Ddel-1`,
      );
      const first = await call(api, 'DELETE', '/api/v1/namespaces/default/pods/del-1');
      assert.equal(first.status, 200);
      assert.equal(first.body.kind, 'Pod');
      assert.equal(first.body.metadata.deletionGracePeriodSeconds, 30, 'spec.terminationGracePeriodSeconds');
      assert.ok(first.body.metadata.deletionTimestamp);
      assert.equal(first.body.metadata.generation, 2);
      const [mod] = await w.next();
      assert.equal(mod!.type, 'MODIFIED');
      // a second, longer grace period changes nothing; a shorter one shortens
      const again = await admin.core.deleteNamespacedPod({
        namespace: 'default',
        name: 'del-1',
        gracePeriodSeconds: 60,
      });
      assert.equal(again.metadata!.resourceVersion, first.body.metadata.resourceVersion);
      const shorter = await admin.core.deleteNamespacedPod({
        namespace: 'default',
        name: 'del-1',
        gracePeriodSeconds: 10,
      });
      assert.equal(shorter.metadata!.deletionGracePeriodSeconds, 10);
      assert.ok(api.store.get('pods', 'default', 'del-1'), 'still there');
      const wrong = await apiError(
        nodeA.core.deleteNamespacedPod({
          namespace: 'default',
          name: 'del-1',
          gracePeriodSeconds: 0,
          body: { preconditions: { uid: 'not-the-uid' } },
        }),
      );
      assert.equal(wrong.code, 409);
      assert.equal(wrong.status.reason, 'Conflict');
      assert.equal(
        wrong.status.message,
        `Operation cannot be fulfilled on Pod "del-1": the UID in the precondition (not-the-uid) does not match the UID in record (${p.metadata!.uid}). The object might have been deleted and then recreated`,
      );
      const gone = await nodeA.core.deleteNamespacedPod({
        namespace: 'default',
        name: 'del-1',
        body: { gracePeriodSeconds: 0, preconditions: { uid: p.metadata!.uid! } },
      });
      assert.equal(gone.metadata!.name, 'del-1');
      assert.equal(api.store.get('pods', 'default', 'del-1'), undefined);
      const evs = await w.next(3);
      assert.deepEqual(
        evs.map((e) => e.type),
        ['MODIFIED', 'MODIFIED', 'DELETED'],
      );
      const rec = api.requests.last((r) => r.method === 'DELETE' && r.name === 'del-1' && r.status === 200);
      assert.equal(rec?.user, 'system:node:node-a');
      assert.deepEqual((rec?.body as JsonObject | undefined)?.preconditions, { uid: p.metadata!.uid });
      assert.equal((rec?.body as JsonObject | undefined)?.gracePeriodSeconds, 0);
      w.close();
    });

    it('deletes an unscheduled pod at once, and takes gracePeriodSeconds from the query when there is no body', async () => {
      api.store.create('pods', pod('del-unsched'));
      const res = await call(api, 'DELETE', '/api/v1/namespaces/default/pods/del-unsched?gracePeriodSeconds=30');
      assert.equal(res.status, 200);
      assert.equal(res.body.metadata.deletionGracePeriodSeconds, 0);
      assert.equal(api.store.get('pods', 'default', 'del-unsched'), undefined);
      api.store.create('pods', pod('del-q', { node: 'node-a' }));
      const q = await call(api, 'DELETE', '/api/v1/namespaces/default/pods/del-q?gracePeriodSeconds=5');
      assert.equal(q.body.metadata.deletionGracePeriodSeconds, 5);
      const q0 = await call(api, 'DELETE', '/api/v1/namespaces/default/pods/del-q?gracePeriodSeconds=0');
      assert.equal(q0.status, 200);
      assert.equal(api.store.get('pods', 'default', 'del-q'), undefined);
    });

    it('keeps an object with finalizers until the last one is removed', async () => {
      api.store.create('configmaps', {
        metadata: { name: 'fin', namespace: 'default', finalizers: ['example.com/x'] },
      });
      const res = await call(api, 'DELETE', '/api/v1/namespaces/default/configmaps/fin');
      assert.equal(res.body.kind, 'Status');
      const held = api.store.get('configmaps', 'default', 'fin')!;
      assert.ok((held.metadata as JsonObject).deletionTimestamp);
      api.store.patch('configmaps', 'default', 'fin', { metadata: { finalizers: null } }, 'merge');
      assert.equal(api.store.get('configmaps', 'default', 'fin'), undefined);
    });
  });

  describe('Node authorizer and NodeRestriction', () => {
    let nodeUid = '';
    before(async () => {
      const n = await nodeA.core.createNode({
        body: { metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a' } } },
      });
      nodeUid = n.metadata!.uid!;
      api.store.create(
        'pods',
        pod('on-a', { node: 'node-a', extra: { volumes: [{ name: 's', secret: { secretName: 'a-secret' } }] } }),
      );
      api.store.create('pods', pod('on-b', { node: 'node-b' }));
      api.store.create('secrets', { metadata: { name: 'a-secret', namespace: 'default' }, stringData: { k: 'v' } });
      api.store.create('secrets', { metadata: { name: 'b-secret', namespace: 'default' } });
    });

    it('lets a node update status only of pods bound to it', async () => {
      const ok = await nodeA.core.patchNamespacedPodStatus(
        { namespace: 'default', name: 'on-a', body: { status: { phase: 'Running' } } },
        SMP,
      );
      assert.equal(ok.status!.phase, 'Running');
      const e = await apiError(
        nodeA.core.patchNamespacedPodStatus(
          { namespace: 'default', name: 'on-b', body: { status: { phase: 'Running' } } },
          SMP,
        ),
      );
      assert.equal(e.code, 403);
      assert.deepEqual(e.status, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'pods "on-b" is forbidden: node "node-a" can only update pod status for pods with spec.nodeName set to itself',
        reason: 'Forbidden',
        details: { name: 'on-b', kind: 'pods' },
        code: 403,
      });
      const spec = await apiError(
        nodeA.core.patchNamespacedPod(
          { namespace: 'default', name: 'on-a', body: { metadata: { labels: { x: 'y' } } } },
          SMP,
        ),
      );
      assert.equal(spec.code, 403);
      assert.equal(
        spec.status.message,
        'pods "on-a" is forbidden: User "system:node:node-a" cannot patch resource "pods" in API group "" in the namespace "default"',
      );
    });

    it('reads only bound pods and the secrets they reference', async () => {
      assert.equal((await nodeA.core.readNamespacedPod({ namespace: 'default', name: 'on-a' })).metadata!.name, 'on-a');
      const other = await apiError(nodeA.core.readNamespacedPod({ namespace: 'default', name: 'on-b' }));
      assert.equal(other.code, 403);
      assert.equal(
        other.status.message,
        `pods "on-b" is forbidden: User "system:node:node-a" cannot get resource "pods" in API group "" in the namespace "default": no relationship found between node 'node-a' and this object`,
      );
      assert.equal(
        (await nodeA.core.readNamespacedSecret({ namespace: 'default', name: 'a-secret' })).metadata!.name,
        'a-secret',
      );
      assert.equal(
        (await apiError(nodeA.core.readNamespacedSecret({ namespace: 'default', name: 'b-secret' }))).code,
        403,
      );
      const all = await apiError(nodeA.core.listNode());
      assert.equal(
        all.status.message,
        `nodes is forbidden: User "system:node:node-a" cannot list resource "nodes" in API group "" at the cluster scope: node 'node-a' cannot read all nodes, only its own Node object`,
      );
      const own = await nodeA.core.listNode({ fieldSelector: 'metadata.name=node-a' });
      assert.deepEqual(
        own.items.map((n) => n.metadata!.name),
        ['node-a'],
      );
    });

    it('lets a node create and delete only mirror pods bound to itself', async () => {
      const mirror = (name: string, owner: JsonObject): JsonObject => ({
        metadata: {
          name,
          namespace: 'default',
          annotations: { 'kubernetes.io/config.mirror': 'hash', 'kubernetes.io/config.source': 'file' },
          ownerReferences: [owner],
        },
        spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'busybox' }] },
      });
      const owner = { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: nodeUid, controller: true };
      const created = await nodeA.core.createNamespacedPod({
        namespace: 'default',
        body: mirror('static-web-node-a', owner) as k8s.V1Pod,
      });
      assert.equal(created.metadata!.name, 'static-web-node-a');
      const plain = await apiError(
        nodeA.core.createNamespacedPod({ namespace: 'default', body: pod('sneaky', { node: 'node-a' }) as k8s.V1Pod }),
      );
      assert.equal(
        plain.status.message,
        'pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "node-a" can only create mirror pods',
      );
      const noOwner = await apiError(
        nodeA.core.createNamespacedPod({
          namespace: 'default',
          body: mirror('m2', { ...owner, uid: 'wrong' }) as k8s.V1Pod,
        }),
      );
      assert.equal(noOwner.code, 403);
      assert.match(noOwner.status.message, /UID mismatch/);
      const delOther = await apiError(nodeA.core.deleteNamespacedPod({ namespace: 'default', name: 'on-b' }));
      assert.equal(
        delOther.status.message,
        'pods "on-b" is forbidden: node "node-a" can only delete pods with spec.nodeName set to itself',
      );
      const del = await nodeA.core.deleteNamespacedPod({
        namespace: 'default',
        name: 'static-web-node-a',
        gracePeriodSeconds: 0,
      });
      assert.equal(del.metadata!.name, 'static-web-node-a');
    });

    it('lets a node write only its own Node and its own Lease', async () => {
      const n = await nodeA.core.patchNodeStatus(
        { name: 'node-a', body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } },
        SMP,
      );
      assert.equal(n.status!.conditions![0]!.type, 'Ready');
      const other = await apiError(nodeA.core.createNode({ body: { metadata: { name: 'node-b' } } }));
      assert.equal(
        other.status.message,
        'nodes "node-b" is forbidden: node "node-a" is not allowed to modify node "node-b"',
      );
      const taints = await apiError(
        nodeA.core.patchNode({ name: 'node-a', body: { spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } } }, SMP),
      );
      assert.equal(taints.status.message, 'nodes "node-a" is forbidden: node "node-a" is not allowed to modify taints');
      const del = await apiError(nodeA.core.deleteNode({ name: 'node-a' }));
      assert.equal(del.code, 403);

      const lease = await nodeA.coord.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: { metadata: { name: 'node-a' }, spec: { holderIdentity: 'node-a', leaseDurationSeconds: 40 } },
      });
      lease.spec!.renewTime = new k8s.V1MicroTime();
      const renewed = await nodeA.coord.replaceNamespacedLease({
        namespace: 'kube-node-lease',
        name: 'node-a',
        body: lease,
      });
      assert.ok(Number(renewed.metadata!.resourceVersion) > Number(lease.metadata!.resourceVersion));
      const foreign = await apiError(
        nodeA.coord.createNamespacedLease({ namespace: 'kube-node-lease', body: { metadata: { name: 'node-b' } } }),
      );
      assert.equal(
        foreign.status.message,
        'leases.coordination.k8s.io "node-b" is forbidden: can only access node lease with the same name as the requesting node',
      );
      const elsewhere = await apiError(nodeA.coord.readNamespacedLease({ namespace: 'default', name: 'node-a' }));
      assert.match(elsewhere.status.message, /can only access leases in the "kube-node-lease" system namespace$/);
    });

    it('lets a node create and patch events but not read them', async () => {
      const ev = await nodeA.core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { name: 'node-a.1' },
          involvedObject: { kind: 'Node', name: 'node-a', uid: 'node-a' },
          reason: 'Starting',
          message: 'Starting kubelet.',
          type: 'Normal',
          count: 1,
          source: { component: 'kubelet', host: 'node-a' },
        },
      });
      const patched = await nodeA.core.patchNamespacedEvent(
        { namespace: 'default', name: ev.metadata!.name!, body: { count: 2 } },
        SMP,
      );
      assert.equal(patched.count, 2);
      assert.equal((await apiError(nodeA.core.listNamespacedEvent({ namespace: 'default' }))).code, 403);
      const v1 = await call(
        api,
        'GET',
        '/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=reason%3DStarting',
      );
      assert.equal(v1.body.items[0].note, 'Starting kubelet.');
      assert.equal(v1.body.items[0].regarding.name, 'node-a');
    });
  });
});

describe('strategic merge patch (as the kubelet sends it)', () => {
  it('node status: partial conditions by type, $setElementOrder for conditions and addresses, maps merged', () => {
    const node: JsonObject = {
      metadata: { name: 'n', finalizers: ['a', 'b'] },
      status: {
        capacity: { cpu: '4', memory: '8Gi' },
        conditions: [
          { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: 't0' },
          { type: 'Ready', status: 'False', lastHeartbeatTime: 't0', reason: 'KubeletNotReady' },
        ],
        addresses: [
          { type: 'InternalIP', address: '10.0.0.1' },
          { type: 'Hostname', address: 'n' },
        ],
        images: [{ names: ['a'] }, { names: ['b'] }],
      },
    };
    const out = strategicMergePatch(
      node,
      {
        metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] },
        status: {
          '$setElementOrder/conditions': [{ type: 'MemoryPressure' }, { type: 'DiskPressure' }, { type: 'Ready' }],
          conditions: [
            { type: 'DiskPressure', status: 'False', lastHeartbeatTime: 't1' },
            { type: 'Ready', status: 'True', lastHeartbeatTime: 't1', reason: 'KubeletReady' },
          ],
          '$setElementOrder/addresses': [{ type: 'Hostname' }, { type: 'InternalIP' }],
          capacity: { memory: '16Gi', pods: '110' },
          images: [{ names: ['c'] }],
        },
      },
      nodeSchema,
    ) as any;
    assert.deepEqual(out.metadata.finalizers, ['b']);
    assert.deepEqual(
      out.status.conditions.map((c: JsonObject) => [c.type, c.status, c.lastHeartbeatTime]),
      [
        ['MemoryPressure', 'False', 't0'],
        ['DiskPressure', 'False', 't1'],
        ['Ready', 'True', 't1'],
      ],
    );
    assert.deepEqual(
      out.status.addresses.map((a: JsonObject) => a.type),
      ['Hostname', 'InternalIP'],
    );
    assert.deepEqual(out.status.capacity, { cpu: '4', memory: '16Gi', pods: '110' });
    assert.deepEqual(out.status.images, [{ names: ['c'] }], 'images is atomic');
  });

  it('pod spec: containers and env merge by name, volumes honour $retainKeys', () => {
    const p: JsonObject = {
      spec: {
        containers: [
          { name: 'a', image: 'x', env: [{ name: 'A', value: '1' }] },
          { name: 'b', image: 'y' },
        ],
        volumes: [{ name: 'v', emptyDir: {} }],
      },
    };
    const out = strategicMergePatch(
      p,
      {
        spec: {
          containers: [
            { name: 'a', env: [{ name: 'B', value: '2' }] },
            { name: 'b', $patch: 'delete' },
          ],
          volumes: [{ name: 'v', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/x' } }],
        },
      },
      podSchema,
    ) as any;
    assert.deepEqual(out.spec.containers, [
      {
        name: 'a',
        image: 'x',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
      },
    ]);
    assert.deepEqual(out.spec.volumes, [{ name: 'v', hostPath: { path: '/x' } }]);
  });
});

describe('apiserver stand-in and kubectl', () => {
  let hasKubectl = true;
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
  } catch {
    hasKubectl = false;
  }
  it('serves kubectl: discovery, tables, create with server-side field validation', {
    skip: !hasKubectl && 'kubectl not installed',
  }, async () => {
    const api = await startApiServer({ nodes: [] });
    try {
      const kubectl = (...args: string[]): Promise<string> =>
        new Promise((resolve, reject) =>
          execFile(
            'kubectl',
            ['--kubeconfig', api.adminKubeconfig, ...args],
            { encoding: 'utf8', timeout: 20000 },
            (e, out, err) => (e ? reject(new Error(`${e.message}: ${err}`)) : resolve(out)),
          ),
        );
      api.store.create('pods', pod('shown', { node: 'node-a' }));
      const table = await kubectl('get', 'pods', '-o', 'wide');
      assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
      assert.match(table, /shown\s+0\/1\s+Pending\s+0/);
      const dir = mkdtempSync(join(tmpdir(), 'apiserver-kubectl-'));
      try {
        const file = join(dir, 'cm.json');
        writeFileSync(
          file,
          JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-kubectl' }, data: { a: 'b' } }),
        );
        assert.match(await kubectl('create', '-f', file), /configmap\/from-kubectl created/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      assert.deepEqual(api.store.get('configmaps', 'default', 'from-kubectl')?.data, { a: 'b' });
      assert.equal(api.requests.last({ verb: 'create' })?.query.fieldValidation, 'Strict');
    } finally {
      await api.stop();
    }
  });
});

describe('apiserver stand-in faults', () => {
  let api: ApiServer;
  let admin: ReturnType<typeof clientFor>;
  before(async () => {
    api = await startApiServer({ nodes: ['node-a'], bookmarkIntervalMs: 0 });
    admin = clientFor(api.adminKubeconfig);
  });
  after(async () => {
    await api.stop();
  });

  it('refuse: stops listening (ECONNREFUSED) until cleared', async () => {
    api.faults.set({ mode: 'refuse' });
    await assert.rejects(call(api, 'GET', '/api'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    api.faults.clear();
    const ok = await retryUntil(() => call(api, 'GET', '/api'));
    assert.equal(ok.status, 200);
  });

  it('refuse with a filter and a count: resets matching requests only, then expires', async () => {
    const h = api.faults.set({ mode: 'refuse', verb: 'list', resource: 'pods', count: 1 });
    await assert.rejects(
      call(api, 'GET', '/api/v1/namespaces/default/pods'),
      (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET',
    );
    assert.equal((await call(api, 'GET', '/api/v1/namespaces/default/configmaps')).status, 200);
    assert.equal((await call(api, 'GET', '/api/v1/namespaces/default/pods')).status, 200);
    assert.equal(h.hits, 1);
  });

  it('hang: never answers', async () => {
    api.faults.set({ mode: 'hang', path: /^\/api\/v1\/namespaces\/default\/pods$/ });
    await assert.rejects(call(api, 'GET', '/api/v1/namespaces/default/pods', { timeoutMs: 200 }), /client timeout/);
    const rec = api.requests.last((r) => r.path === '/api/v1/namespaces/default/pods');
    assert.equal(rec?.status, undefined);
    assert.equal(rec?.fault, 'hang');
    api.faults.clear();
    assert.equal((await call(api, 'GET', '/api/v1/namespaces/default/pods')).status, 200);
  });

  it('status500 and status429 (with Retry-After), filtered by verb and resource', async () => {
    api.faults.set({ mode: 'status500', verb: 'create', resource: 'configmaps', count: 1 });
    const e500 = await apiError(
      admin.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f1' } } }),
    );
    assert.equal(e500.code, 500);
    assert.equal(e500.status.reason, 'InternalError');
    assert.equal(
      (await admin.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f1' } } }))
        .metadata!.name,
      'f1',
    );
    api.faults.set({ mode: 'status429', resource: 'configmaps', retryAfterSeconds: 3, count: 1 });
    const r429 = await call(api, 'GET', '/api/v1/namespaces/default/configmaps/f1');
    assert.equal(r429.status, 429);
    assert.equal(r429.headers['retry-after'], '3');
    assert.deepEqual(r429.body.details, { retryAfterSeconds: 3 });
    assert.equal((await call(api, 'GET', '/api/v1/namespaces/default/configmaps/f1')).status, 200);
  });

  it('gone410: lists answer 410, watches an ERROR event with a 410 Status', async () => {
    api.faults.set({ mode: 'gone410', resource: 'pods', count: 2 });
    const list = await call(api, 'GET', '/api/v1/namespaces/default/pods');
    assert.equal(list.status, 410);
    assert.equal(list.body.reason, 'Expired');
    const w = new RawWatch(api, '/api/v1/namespaces/default/pods?watch=1&resourceVersion=1');
    const [ev] = await w.next();
    await w.ended;
    assert.equal(ev!.type, 'ERROR');
    assert.equal(ev!.object.code, 410);
    assert.equal((await call(api, 'GET', '/api/v1/namespaces/default/pods')).status, 200);
  });

  it('stop() ends open watch streams and closes the server', async () => {
    const other = await startApiServer({ nodes: [] });
    const w = new RawWatch(other, '/api/v1/pods?watch=1');
    await other.requests.waitFor({ verb: 'watch', status: 200 });
    assert.equal(other.watchersCount(), 1);
    await other.stop();
    await w.ended;
    assert.equal(other.watchersCount(), 0);
    await assert.rejects(call(other, 'GET', '/api'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });
});

/** Re-listening after a cleared `refuse` completes asynchronously; retry the first request briefly. */
async function retryUntil<T>(fn: () => Promise<T>, tries = 20): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setImmediate(r));
    }
  }
}
