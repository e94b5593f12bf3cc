import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import { applyPodDefaults, defaultImagePullPolicy, imageTag } from '../../protocols/kube/defaults.ts';
import {
  formatFieldError,
  formatFieldErrors,
  parseFieldPath,
  parsePod,
  validatePod,
  type FieldError,
} from '../../protocols/kube/validation.ts';
import { parseQuantity, toMilli } from '../../protocols/kube/quantity.ts';
import { canonicalJson, rfc3339Nano, toStaticPod, type StaticPodOptions } from '../../protocols/kube/static-pod.ts';

function pod(
  spec: Record<string, unknown> = {},
  metadata: Record<string, unknown> = { name: 'web', namespace: 'default' },
): Pod {
  return PodSchema.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { containers: [{ name: 'app', image: 'nginx:1.25' }], ...spec },
  }) as Pod;
}

const errorsOf = (p: Pod) => validatePod(applyPodDefaults(p)).map(formatFieldError);

describe('PodSchema', () => {
  it('keeps fields it does not model, at every level', () => {
    const p = PodSchema.parse({
      metadata: { name: 'x', futureMeta: 1 },
      spec: {
        containers: [{ name: 'a', image: 'i', futureField: { deep: true } }],
        affinity: { nodeAffinity: { x: 1 } },
        futureSpec: 'y',
      },
    });
    assert.deepEqual((p.spec.containers[0] as Record<string, unknown>)['futureField'], { deep: true });
    assert.equal((p.spec as Record<string, unknown>)['futureSpec'], 'y');
    assert.equal((p.metadata as Record<string, unknown>)['futureMeta'], 1);
    assert.deepEqual(p.spec.affinity, { nodeAffinity: { x: 1 } });
  });

  it('treats null as unset, like Go (kubeadm writes creationTimestamp: null)', () => {
    const p = PodSchema.parse({
      metadata: { name: 'x', creationTimestamp: null },
      spec: { containers: null },
      status: {},
    });
    assert.equal(p.metadata.creationTimestamp, undefined);
    assert.deepEqual(p.spec.containers, []);
  });

  it('decodes missing identity strings to Go zero values', () => {
    const p = PodSchema.parse({ spec: { containers: [{}] } });
    assert.equal(p.metadata.name, '');
    assert.equal(p.metadata.uid, '');
    assert.equal(p.spec.containers[0]!.image, '');
  });

  it('types only the known fields (a typo does not compile)', () => {
    const p = pod();
    // @ts-expect-error: not a PodSpec field
    assert.equal(p.spec.contianers, undefined);
    const labels: Record<string, string> | undefined = p.metadata.labels;
    assert.equal(labels, undefined);
  });
});

describe('applyPodDefaults', () => {
  it('fills in the spec defaults and does not touch its argument', () => {
    const p = pod();
    const before = structuredClone(p);
    const d = applyPodDefaults(p);
    assert.deepEqual(p, before);
    assert.equal(d.spec.restartPolicy, 'Always');
    assert.equal(d.spec.dnsPolicy, 'ClusterFirst');
    assert.equal(d.spec.terminationGracePeriodSeconds, 30);
    assert.equal(d.spec.schedulerName, 'default-scheduler');
    assert.deepEqual(d.spec.securityContext, {});
    assert.equal(d.spec.enableServiceLinks, true);
    const c = d.spec.containers[0]!;
    assert.equal(c.terminationMessagePath, '/dev/termination-log');
    assert.equal(c.terminationMessagePolicy, 'File');
    assert.equal(c.imagePullPolicy, 'IfNotPresent');
  });

  it('keeps what the user set', () => {
    const d = applyPodDefaults(
      pod({ restartPolicy: 'Never', terminationGracePeriodSeconds: 0, enableServiceLinks: false }),
    );
    assert.equal(d.spec.restartPolicy, 'Never');
    assert.equal(d.spec.terminationGracePeriodSeconds, 0);
    assert.equal(d.spec.enableServiceLinks, false);
  });

  it('pulls Always for :latest or no tag, IfNotPresent for a tag or a digest', () => {
    assert.equal(defaultImagePullPolicy('nginx'), 'Always');
    assert.equal(defaultImagePullPolicy('nginx:latest'), 'Always');
    assert.equal(defaultImagePullPolicy('registry:5000/nginx'), 'Always');
    assert.equal(defaultImagePullPolicy('nginx:1.25'), 'IfNotPresent');
    assert.equal(defaultImagePullPolicy('registry:5000/team/nginx:1.0'), 'IfNotPresent');
    assert.equal(defaultImagePullPolicy('nginx@sha256:' + 'a'.repeat(64)), 'IfNotPresent');
    assert.equal(defaultImagePullPolicy('nginx:latest@sha256:' + 'a'.repeat(64)), 'Always');
    assert.equal(imageTag('registry:5000/nginx'), '');
  });

  it('defaults probes, handlers, ports and resources', () => {
    const d = applyPodDefaults(
      pod({
        hostNetwork: true,
        containers: [
          {
            name: 'app',
            image: 'i:1',
            ports: [{ containerPort: 80 }],
            livenessProbe: { httpGet: { port: 80 } },
            readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 0, failureThreshold: 5 },
            resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } },
          },
        ],
      }),
    );
    const c = d.spec.containers[0]!;
    assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'TCP', hostPort: 80 }]);
    assert.deepEqual(c.livenessProbe, {
      httpGet: { port: 80, path: '/', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.equal(c.readinessProbe!.periodSeconds, 10);
    assert.equal(c.readinessProbe!.failureThreshold, 5);
    assert.deepEqual(c.resources!.requests, { cpu: '500m', memory: '1Gi' });
  });

  it('makes a volume without a source an emptyDir and gives secret/configMap a 0644 mode', () => {
    const d = applyPodDefaults(
      pod({
        volumes: [
          { name: 'scratch' },
          { name: 's', secret: { secretName: 'x' } },
          { name: 'h', hostPath: { path: '/x' } },
        ],
      }),
    );
    assert.deepEqual(d.spec.volumes, [
      { name: 'scratch', emptyDir: {} },
      { name: 's', secret: { secretName: 'x', defaultMode: 0o644 } },
      { name: 'h', hostPath: { path: '/x', type: '' } },
    ]);
  });
});

describe('validatePod', () => {
  it('accepts a defaulted valid pod', () => {
    assert.deepEqual(errorsOf(pod()), []);
  });

  it('reports every error with upstream paths and wording', () => {
    const errs = errorsOf(
      pod(
        {
          restartPolicy: 'Sometimes',
          terminationGracePeriodSeconds: -1,
          volumes: [
            { name: 'data', emptyDir: {} },
            { name: 'data', emptyDir: {} },
          ],
          containers: [
            {
              name: 'app',
              image: '',
              ports: [{ containerPort: 70000 }, { containerPort: 0 }],
              volumeMounts: [{ name: 'nope', mountPath: '/x' }],
            },
            { name: 'app', image: 'x:1', imagePullPolicy: 'Sometimes', env: [{ name: '' }, { name: 'A=B' }] },
            { name: 'Bad_Name', image: 'x:1' },
          ],
        },
        { name: 'Web', namespace: 'default' },
      ),
    );
    for (const want of [
      'metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters',
      'spec.volumes[1].name: Duplicate value: "data"',
      'spec.containers[0].image: Required value',
      'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
      'spec.containers[0].ports[1].containerPort: Required value',
      'spec.containers[0].volumeMounts[0].name: Not found: "nope"',
      'spec.containers[1].name: Duplicate value: "app"',
      'spec.containers[1].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
      'spec.containers[1].env[0].name: Required value',
      'spec.containers[1].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than \'=\'',
      'spec.containers[2].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label',
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
      'spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0',
    ]) {
      assert.ok(
        errs.some((e) => e.startsWith(want)),
        `missing: ${want}\n got:\n${errs.join('\n')}`,
      );
    }
    assert.ok(!errs.some((e) => e.includes('postStart')), 'a zero sleep is valid');
  });

  it('requires at least one container and names', () => {
    const errs = errorsOf(pod({ containers: [] }, {}));
    assert.deepEqual(errs, [
      'metadata.name: Required value: name or generateName is required',
      'metadata.namespace: Required value',
      'spec.containers: Required value',
    ]);
  });

  it('checks resources, probes and tolerations', () => {
    const errs = errorsOf(
      pod({
        containers: [
          {
            name: 'a',
            image: 'i:1',
            resources: { limits: { cpu: '1', gpu: '1' }, requests: { cpu: '2', memory: 'lots' } },
            livenessProbe: { successThreshold: 2 },
            lifecycle: { preStop: { sleep: { seconds: 40 } }, postStart: { sleep: { seconds: 0 } } },
          },
        ],
        tolerations: [
          { operator: 'Equal', value: 'x' },
          { key: 'k', operator: 'Exists', value: 'v' },
          { key: 'k', effect: 'Sometimes' },
        ],
      }),
    );
    for (const want of [
      'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
      'spec.containers[0].resources.requests[memory]: Invalid value: "lots": quantities must match the regular expression',
      'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1',
      'spec.containers[0].livenessProbe: Required value: must specify a handler type',
      'spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1',
      'spec.containers[0].lifecycle.preStop.sleep: Invalid value: 40: must be non-negative and less than terminationGracePeriodSeconds (30)',
      'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty',
      'spec.tolerations[1].operator: Invalid value: {"key":"k","operator":"Exists","value":"v"}: value must be empty when `operator` is \'Exists\'',
      'spec.tolerations[2].effect: Unsupported value: "Sometimes"',
    ]) {
      assert.ok(
        errs.some((e) => e.startsWith(want)),
        `missing: ${want}\n got:\n${errs.join('\n')}`,
      );
    }
    assert.ok(!errs.some((e) => e.includes('postStart')), 'a zero sleep is valid');
  });

  it('formats a list of errors like upstream aggregates', () => {
    const a: FieldError = { field: 'spec.x', type: 'Required', message: '' };
    assert.equal(formatFieldErrors([a]), 'spec.x: Required value');
    assert.equal(formatFieldErrors([a, a]), '[spec.x: Required value, spec.x: Required value]');
  });

  it('parses field paths back into segments', () => {
    assert.deepEqual(parseFieldPath('spec.containers[0].resources.limits[nvidia.com/gpu]'), [
      'spec',
      'containers',
      0,
      'resources',
      'limits',
      'nvidia.com/gpu',
    ]);
  });
});

describe('parsePod (schema errors as FieldErrors)', () => {
  it('a string where a list belongs', () => {
    const r = parsePod({ metadata: { name: 'x' }, spec: { containers: 'nginx' } });
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.deepEqual(r.errors.map(formatFieldError), [
        'spec.containers: Invalid value: "nginx": expected a list, got a string',
      ]);
  });

  it('a missing required field, a union and an int', () => {
    const r = parsePod({
      spec: {
        priority: 1.5,
        containers: [{ name: 'a', livenessProbe: { httpGet: {} }, readinessProbe: { tcpSocket: { port: true } } }],
      },
    });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.deepEqual(r.errors.map(formatFieldError).sort(), [
        'spec.containers[0].livenessProbe.httpGet.port: Required value',
        'spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: true: expected a number or a string, got a boolean',
        'spec.priority: Invalid value: 1.5: expected an integer, got a number',
      ]);
    }
  });

  it('map keys print in brackets', () => {
    const r = parsePod({ metadata: { labels: { 'app.kubernetes.io/name': 3 } } });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.errors[0]!.field, 'metadata.labels[app.kubernetes.io/name]');
  });
});

describe('quantity', () => {
  it('parses decimal, binary and exponent suffixes', () => {
    const v = (q: string | number) => {
      const p = parseQuantity(q);
      assert.ok(p.ok, String(q));
      return p.value;
    };
    assert.equal(v('100m'), 0.1);
    assert.equal(v('1Gi'), 2 ** 30);
    assert.equal(v('1.5Ki'), 1536);
    assert.equal(v('2k'), 2000);
    assert.equal(v('1e3'), 1000);
    assert.equal(v(0.5), 0.5);
    assert.equal(toMilli('250m'), 250);
    assert.equal(toMilli('0.0001'), 1);
    for (const bad of ['', 'lots', '1.2.3', '1Gb', ' 1', '1 ']) assert.equal(parseQuantity(bad).ok, false, bad);
  });
});

describe('toStaticPod', () => {
  const opts: StaticPodOptions = {
    nodeName: 'Node-A',
    source: 'file',
    path: '/etc/kubernetes/manifests/web.yaml',
    now: Date.UTC(2024, 0, 2, 3, 4, 5, 120),
  };
  const nodeOpts = { ...opts, nodeName: 'node-a' };
  const raw = () => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', creationTimestamp: null, labels: { app: 'web' } },
    spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] },
  });
  const ok = (r: ReturnType<typeof toStaticPod>): Pod => {
    if ('errors' in r) assert.fail(formatFieldErrors(r.errors));
    return r.pod;
  };

  it('names, namespaces, annotates and schedules the pod like upstream', () => {
    const p = ok(toStaticPod(raw(), nodeOpts));
    assert.equal(p.metadata.name, 'web-node-a');
    assert.equal(p.metadata.namespace, 'default');
    assert.match(p.metadata.uid, /^[0-9a-f]{32}$/);
    assert.equal(p.metadata.annotations!['kubernetes.io/config.hash'], p.metadata.uid);
    assert.equal(p.metadata.annotations!['kubernetes.io/config.source'], 'file');
    assert.equal(p.metadata.annotations!['kubernetes.io/config.seen'], '2024-01-02T03:04:05.12Z');
    assert.equal(p.spec.nodeName, 'node-a');
    assert.deepEqual(p.spec.tolerations, [{ operator: 'Exists', effect: 'NoExecute' }]);
    assert.equal(p.status!.phase, 'Pending');
    assert.equal(p.spec.restartPolicy, 'Always');
  });

  it('lowercases the node name in the pod name only', () => {
    const p = ok(toStaticPod(raw(), { ...opts, nodeName: 'node-a' }));
    assert.equal(p.metadata.name, 'web-node-a');
    const r = toStaticPod(raw(), opts);
    // spec.nodeName keeps the node's own name, which must then be a valid subdomain, as upstream.
    assert.ok('errors' in r && r.errors[0]!.field === 'spec.nodeName');
  });

  it('derives a stable UID from content, node and path, not from formatting or time', () => {
    const a = ok(toStaticPod(raw(), nodeOpts)).metadata.uid;
    const reordered = {
      spec: raw().spec,
      metadata: { labels: { app: 'web' }, name: 'web' },
      kind: 'Pod',
      apiVersion: 'v1',
    };
    assert.equal(ok(toStaticPod(reordered, { ...nodeOpts, now: 99 })).metadata.uid, a);
    const changed = raw();
    changed.spec.containers[0]!.image = 'nginx:1.26';
    assert.notEqual(ok(toStaticPod(changed, nodeOpts)).metadata.uid, a);
    assert.notEqual(ok(toStaticPod(raw(), { ...nodeOpts, nodeName: 'node-b' })).metadata.uid, a);
    assert.notEqual(
      ok(toStaticPod(raw(), { ...nodeOpts, path: '/etc/kubernetes/manifests/other.yaml' })).metadata.uid,
      a,
    );
  });

  it('keeps a UID the manifest gives', () => {
    const r = raw() as ReturnType<typeof raw> & { metadata: { uid?: string } };
    r.metadata.uid = 'my-uid';
    const p = ok(toStaticPod(r, nodeOpts));
    assert.equal(p.metadata.uid, 'my-uid');
    assert.equal(p.metadata.annotations!['kubernetes.io/config.hash'], 'my-uid');
  });

  it('replaces a matching NoExecute toleration instead of adding a second', () => {
    const r = {
      ...raw(),
      spec: {
        ...raw().spec,
        tolerations: [
          { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
          { key: 'a', operator: 'Exists' },
        ],
      },
    };
    assert.deepEqual(ok(toStaticPod(r, nodeOpts)).spec.tolerations, [
      { operator: 'Exists', effect: 'NoExecute' },
      { key: 'a', operator: 'Exists' },
    ]);
  });

  it('refuses a nameless pod, another kind, a missing apiVersion', () => {
    const nameless = toStaticPod({ ...raw(), metadata: {} }, nodeOpts);
    assert.ok('errors' in nameless);
    assert.equal(formatFieldErrors(nameless.errors), 'metadata.name: Required value: name is needed for the pod');
    const dep = toStaticPod({ ...raw(), kind: 'Deployment', apiVersion: 'apps/v1' }, nodeOpts);
    assert.ok('errors' in dep);
    assert.deepEqual(
      dep.errors.map((e) => e.field),
      ['kind', 'apiVersion'],
    );
    const nov = toStaticPod({ kind: 'Pod', metadata: { name: 'x' } }, nodeOpts);
    assert.ok('errors' in nov && nov.errors[0]!.field === 'apiVersion');
  });

  it('validates after the rewrite (the suffixed name must still be valid)', () => {
    const r = toStaticPod({ ...raw(), metadata: { name: 'x'.repeat(250) } }, nodeOpts);
    assert.ok('errors' in r);
    assert.match(
      formatFieldError(r.errors[0]!),
      /^metadata\.name: Invalid value: "x+-node-a": must be no more than 253 characters/,
    );
  });

  it('helpers', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
    assert.equal(rfc3339Nano(Date.UTC(2024, 0, 1)), '2024-01-01T00:00:00Z');
    assert.equal(rfc3339Nano(Date.UTC(2024, 0, 1, 0, 0, 0, 5)), '2024-01-01T00:00:00.005Z');
  });
});
