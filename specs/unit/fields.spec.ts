/**
 * The pod field support table (protocols/kube/fields.ts): every field of the v1 PodSpec schema is
 * classified (walked from @kubernetes/client-node's V1PodSpec through every referenced V1* type),
 * the table names no field the schema lacks, `unsupportedFields` finds what real pods use, the
 * pods the project ships and tests with are not refused, and the README's list is the table's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import {
  flattenFieldTable,
  formatUnsupportedField,
  formatUnsupportedFields,
  POD_SPEC_FIELDS,
  refusedContainers,
  unsupportedFields,
  unsupportedFieldsMarkdown,
  type FieldRule,
  type UnsupportedField,
} from '../../protocols/kube/fields.ts';
import { PodSchema, type Pod } from '../../protocols/kube/pod.ts';
import { toStaticPod } from '../../protocols/kube/static-pod.ts';
import { admitPodCreate, defaultPod, preparePodForCreate } from '../support/apiserver/defaults.ts';
import type { JsonObject } from '../support/apiserver/status.ts';

const ROOT = join(import.meta.dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// the schema

interface Attribute {
  baseName: string;
  type: string;
}
const models = k8s as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>;

/**
 * Every JSON field path under V1PodSpec (`spec.containers.livenessProbe.exec`): `list` for a list
 * of objects, `children` for an object type (a list of strings or a map is a leaf, as in the table).
 */
function schemaPaths(
  type = 'V1PodSpec',
  prefix = 'spec',
  seen: string[] = [],
): Map<string, { children: boolean; list: boolean }> {
  const out = new Map<string, { children: boolean; list: boolean }>();
  const model = models[type]?.attributeTypeMap;
  assert.ok(model, `client-node model ${type}`);
  assert.ok(!seen.includes(type), `recursive schema at ${prefix} (${type})`);
  for (const a of model) {
    const list = /^Array<(.+)>$/.exec(a.type);
    const inner = list ? list[1]! : a.type;
    const isModel = models[inner]?.attributeTypeMap !== undefined;
    const path = `${prefix}.${a.baseName}`;
    out.set(path, { children: isModel, list: list !== null && isModel });
    if (isModel) for (const [p, v] of schemaPaths(inner, path, [...seen, type])) out.set(p, v);
  }
  return out;
}

const schema = schemaPaths();
const flat = flattenFieldTable();
/** A table path without the list marks, as the schema map keys it. */
const bare = (path: string) => path.replaceAll('[]', '');
const rules = new Map(flat.map((f) => [bare(f.path), f.rule]));

function parentsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('.'); i >= 0; i = path.indexOf('.', i + 1)) out.push(path.slice(0, i));
  return out.slice(1);
}

/** How a schema path is classified: its own rule, or an ancestor that decides for its subtree. */
function classification(path: string): { rule: FieldRule; by: string } | undefined {
  const own = rules.get(path);
  if (own) return { rule: own, by: path };
  for (const p of parentsOf(path).reverse()) {
    const r = rules.get(p);
    if (r && (r.support !== 'honoured' || r.whole)) return { rule: r, by: p };
  }
  return undefined;
}

describe('the pod field support table', () => {
  it("classifies every field of the v1 PodSpec schema (walked from client-node's V1PodSpec)", () => {
    assert.ok(schema.size > 1000, `the schema walk found ${schema.size} paths`);
    const missing = [...schema.keys()].filter((p) => !classification(p));
    assert.deepEqual(
      missing,
      [],
      `fields in neither list (add them to protocols/kube/fields.ts):\n${missing.join('\n')}`,
    );
  });

  it('names no field the schema lacks, and lists sub-fields exactly where the schema has them', () => {
    const unknown = flat.map((f) => bare(f.path)).filter((p) => !schema.has(p));
    assert.deepEqual(unknown, [], 'table paths that are not v1 PodSpec fields');
    // An honoured object field either lists its sub-fields or declares the subtree someone else's.
    const opaque = flat.filter(
      (f) => f.rule.support === 'honoured' && schema.get(bare(f.path))?.children && !f.rule.fields && !f.rule.whole,
    );
    assert.deepEqual(
      opaque.map((f) => f.path),
      [],
    );
    const fieldsOnLeaf = flat.filter((f) => f.rule.fields && !schema.get(bare(f.path))?.children);
    assert.deepEqual(
      fieldsOnLeaf.map((f) => f.path),
      [],
    );
    // Sub-fields of a list apply to each element: the rule says it is a list exactly when it is one.
    const listMismatch = flat.filter((f) => f.rule.fields && (f.rule.list === true) !== schema.get(bare(f.path))?.list);
    assert.deepEqual(
      listMismatch.map((f) => f.path),
      [],
    );
  });

  it('gives every rule a note; probes of regular containers are honoured (the probeManager), of init containers only on sidecars', () => {
    for (const f of flat) assert.ok(f.rule.note.trim().length > 0, `${f.path} has a note`);
    for (const k of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      assert.equal(rules.get(`spec.containers.${k}`)?.support, 'honoured', k);
      assert.equal(rules.get(`spec.initContainers.${k}`)?.support, 'honoured', k);
      assert.ok(rules.get(`spec.initContainers.${k}`)?.refuse, `${k} refused on a plain init container`);
      for (const sub of [
        'exec.command',
        'httpGet.port',
        'httpGet.httpHeaders.name',
        'tcpSocket.host',
        'grpc.service',
        'terminationGracePeriodSeconds',
      ]) {
        assert.equal(rules.get(`spec.containers.${k}.${sub}`)?.support, 'honoured', `${k}.${sub}`);
      }
    }
    for (const k of [
      'lifecycle.postStart.exec.command',
      'lifecycle.preStop.httpGet.scheme',
      'lifecycle.preStop.sleep.seconds',
      'lifecycle.postStart.tcpSocket.port',
    ]) {
      assert.equal(rules.get(`spec.containers.${k}`)?.support, 'honoured', k);
      assert.equal(rules.get(`spec.initContainers.${k}`)?.support, 'honoured', k);
    }
    assert.equal(rules.get('spec.containers.lifecycle.stopSignal')?.support, 'unsupported');
    assert.equal(rules.get('spec.initContainers.lifecycle.stopSignal')?.support, 'unsupported');
    // the volumeManager (issue 11): emptyDir, hostPath, the data volumes and the mounts
    for (const f of [
      'volumeMounts',
      'volumeMounts.subPath',
      'volumeMounts.subPathExpr',
      'volumeMounts.readOnly',
      'volumeMounts.mountPropagation',
    ]) {
      assert.equal(rules.get(`spec.containers.${f}`)?.support, 'honoured', f);
      assert.equal(rules.get(`spec.initContainers.${f}`)?.support, 'honoured', f);
    }
    for (const f of ['emptyDir', 'emptyDir.medium', 'emptyDir.sizeLimit', 'hostPath', 'hostPath.type'])
      assert.equal(rules.get(`spec.volumes.${f}`)?.support, 'honoured', f);
    for (const f of ['configMap', 'secret', 'downwardAPI', 'projected', 'projected.sources.serviceAccountToken']) {
      assert.equal(rules.get(`spec.volumes.${f}`)?.support, 'honoured', f);
    }
    assert.equal(rules.get('spec.volumes.projected.sources.clusterTrustBundle')?.support, 'unsupported');
    for (const f of ['fsGroup', 'fsGroupChangePolicy'])
      assert.equal(rules.get(`spec.securityContext.${f}`)?.support, 'honoured', f);
    // sidecars are run (restartPolicy Always on an init container), with their probes
    assert.equal(rules.get('spec.initContainers.restartPolicy')?.support, 'honoured');
    assert.match(
      rules.get('spec.initContainers.startupProbe')?.note ?? '',
      /on a sidecar \(restartPolicy Always\) only/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// unsupportedFields on pods

const pod = (spec: Record<string, unknown>): Pod =>
  PodSchema.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec,
  }) as Pod;
const app = (more: Record<string, unknown> = {}) => ({
  name: 'app',
  image: 'busybox',
  command: ['sleep', '1000'],
  ...more,
});
const paths = (fs: readonly UnsupportedField[]) => fs.map((f) => f.path);

/** A static pod as the file source makes it: parsed, defaulted, rewritten, validated. */
function staticPod(raw: unknown, path: string): Pod {
  const r = toStaticPod(raw, { nodeName: 'node-a', source: 'file', path, now: 0 });
  assert.ok('pod' in r, `${path}: ${JSON.stringify('errors' in r ? r.errors : '')}`);
  return r.pod;
}

/** A pod as the API server stand-in stores it: decoded with its defaults and create-time admission. */
function apiPod(raw: Record<string, unknown>): Pod {
  const obj = structuredClone(raw) as JsonObject;
  defaultPod(obj);
  admitPodCreate(obj);
  preparePodForCreate(obj);
  return PodSchema.parse(obj) as Pod;
}

describe('unsupportedFields', () => {
  it('finds nothing in a plain pod, static or from the API', () => {
    const raw = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'plain', namespace: 'default' },
      spec: { containers: [app({ env: [{ name: 'A', value: 'b' }], ports: [{ containerPort: 80 }] })] },
    };
    assert.deepEqual(unsupportedFields(staticPod(raw, '/etc/kubernetes/manifests/plain.yaml')), []);
    assert.deepEqual(unsupportedFields(apiPod({ ...raw, spec: { ...raw.spec, nodeName: 'node-a' } })), []);
  });

  it("names a container's lifecycle, and only that container is refused; its probes are not refused", () => {
    const probe = { httpGet: { path: '/', port: 'web', httpHeaders: [{ name: 'X', value: 'y' }] }, periodSeconds: 3 };
    const p = pod({
      containers: [
        app({ lifecycle: { stopSignal: 'SIGUSR1' }, livenessProbe: { exec: { command: ['true'] } } }),
        app({ name: 'side', readinessProbe: probe, startupProbe: { grpc: { port: 9 } } }),
      ],
    });
    const fields = unsupportedFields(p);
    assert.deepEqual(fields, [{ path: 'spec.containers[0].lifecycle.stopSignal', container: 'app' }]);
    assert.equal(
      formatUnsupportedField(fields[0]!),
      'spec.containers[0].lifecycle.stopSignal: not supported by kubelet-ts',
    );
    assert.deepEqual([...refusedContainers(p).keys()], ['app']);
  });

  it('a pod-level field (a volume) refuses every container, init containers included', () => {
    const p = pod({
      initContainers: [app({ name: 'init' })],
      containers: [
        app({ volumeMounts: [{ name: 'data', mountPath: '/data', recursiveReadOnly: 'Enabled' }] }),
        app({ name: 'side' }),
      ],
      volumes: [
        { name: 'data', emptyDir: {} },
        {
          name: 'ctb',
          projected: { sources: [{ configMap: { name: 'c' } }, { clusterTrustBundle: { signerName: 's' } }] },
        },
      ],
    });
    assert.deepEqual(paths(unsupportedFields(p)), [
      'spec.containers[0].volumeMounts[0].recursiveReadOnly',
      'spec.volumes[1].projected.sources[1].clusterTrustBundle',
    ]);
    const refused = refusedContainers(p);
    assert.deepEqual([...refused.keys()], ['init', 'app', 'side']);
    assert.deepEqual(paths(refused.get('side')!), ['spec.volumes[1].projected.sources[1].clusterTrustBundle']);
    assert.deepEqual(paths(refused.get('app')!), [
      'spec.volumes[1].projected.sources[1].clusterTrustBundle',
      'spec.containers[0].volumeMounts[0].recursiveReadOnly',
    ]);
    // emptyDir (a volume without any source is one, as upstream), hostPath and their mounts are honoured
    const honouredPod = pod({
      securityContext: { fsGroup: 2000, fsGroupChangePolicy: 'OnRootMismatch' },
      containers: [
        app({
          volumeMounts: [
            { name: 'v', mountPath: '/v', subPath: 'a', readOnly: true },
            { name: 'h', mountPath: '/h', subPathExpr: '$(POD)', mountPropagation: 'HostToContainer' },
          ],
        }),
      ],
      volumes: [
        { name: 'v' },
        { name: 'm', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
        { name: 'h', hostPath: { path: '/srv', type: 'DirectoryOrCreate' } },
      ],
    });
    assert.deepEqual(paths(unsupportedFields(honouredPod)), []);
    assert.deepEqual(
      paths(
        unsupportedFields(pod({ containers: [app()], volumes: [{ name: 'v', emptyDir: { medium: 'HugePages' } }] })),
      ),
      ['spec.volumes[0].emptyDir.medium'],
    );
  });

  it('refuses a stop signal, but not envFrom, ConfigMap/Secret values, a sidecar, fieldRef or a limited resourceFieldRef', () => {
    const p = pod({
      initContainers: [app({ name: 'sidecar', restartPolicy: 'Always' })],
      containers: [
        app({
          lifecycle: { stopSignal: 'SIGUSR1' },
          envFrom: [{ configMapRef: { name: 'cm' } }, { prefix: 'S_', secretRef: { name: 's', optional: true } }],
          resources: { limits: { memory: '64Mi' } },
          env: [
            { name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'B', valueFrom: { secretKeyRef: { name: 's', key: 'k', optional: true } } },
            { name: 'C', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
            { name: 'D', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
          ],
        }),
      ],
    });
    assert.deepEqual(paths(unsupportedFields(p)).sort(), [
      'spec.containers[0].env[3].valueFrom.resourceFieldRef',
      'spec.containers[0].lifecycle.stopSignal',
    ]);
    assert.match(
      formatUnsupportedFields(unsupportedFields(p).filter((f) => f.path.includes('env[3]'))),
      /^spec\.containers\[0\]\.env\[3\]\.valueFrom\.resourceFieldRef: not supported by kubelet-ts \(limits\.cpu of a container without that limit/,
    );
  });

  it('is value-sensitive where the table says so', () => {
    const refusedPaths = (spec: Record<string, unknown>) =>
      paths(unsupportedFields(pod({ containers: [app()], ...spec })));
    assert.deepEqual(refusedPaths({ securityContext: { seccompProfile: { type: 'Unconfined' } } }), []);
    assert.deepEqual(refusedPaths({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } } }), []);
    assert.deepEqual(
      refusedPaths({ securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } } }),
      [],
    );
    assert.deepEqual(refusedPaths({ securityContext: { seccompProfile: { type: 'Bogus' } } }), [
      'spec.securityContext.seccompProfile',
    ]);
    assert.deepEqual(refusedPaths({ securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } }), []);
    assert.deepEqual(refusedPaths({ securityContext: { appArmorProfile: { type: 'Bogus' } } }), [
      'spec.securityContext.appArmorProfile',
    ]);
    assert.deepEqual(refusedPaths({ securityContext: { runAsNonRoot: false, runAsUser: 1000 } }), []);
    assert.deepEqual(
      refusedPaths({ securityContext: { runAsNonRoot: true, supplementalGroups: [4000], fsGroup: undefined } }),
      [],
    );
    assert.deepEqual(refusedPaths({ securityContext: { supplementalGroupsPolicy: 'Strict' } }), []);
    assert.deepEqual(refusedPaths({ securityContext: { supplementalGroupsPolicy: 'Loose' } }), [
      'spec.securityContext.supplementalGroupsPolicy',
    ]);
    assert.deepEqual(refusedPaths({ securityContext: { seLinuxOptions: { level: 's0:c123,c456' } } }), []);
    assert.deepEqual(refusedPaths({ securityContext: { windowsOptions: { runAsUserName: 'x' } } }), []);
    // unsafe sysctls are admission's (SysctlForbidden), not a refused field
    assert.deepEqual(
      refusedPaths({
        securityContext: {
          sysctls: [
            { name: 'net.ipv4.tcp_syncookies', value: '1' },
            { name: 'kernel/msgmax', value: '1' },
          ],
        },
      }),
      [],
    );
    assert.deepEqual(refusedPaths({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'] } }), []);
    assert.deepEqual(
      refusedPaths({ dnsPolicy: 'ClusterFirst', dnsConfig: { options: [{ name: 'ndots', value: '2' }] } }),
      [],
    );
    assert.deepEqual(
      refusedPaths({ hostname: 'h', subdomain: 's', hostAliases: [{ ip: '10.1.2.3', hostnames: ['a', 'b'] }] }),
      [],
    );
    assert.deepEqual(
      refusedPaths({ dnsPolicy: 'Default', hostNetwork: true, hostPID: true, shareProcessNamespace: false }),
      [],
    );
    assert.deepEqual(refusedPaths({ hostUsers: true, setHostnameAsFQDN: false }), []);
    assert.deepEqual(refusedPaths({ hostUsers: false, setHostnameAsFQDN: true }), ['spec.hostUsers']);
    const res = (resources: unknown) => paths(unsupportedFields(pod({ containers: [app({ resources })] })));
    assert.deepEqual(
      res({
        requests: { cpu: '100m', memory: '1Gi', 'ephemeral-storage': '1Gi' },
        limits: { cpu: '1', memory: '1Gi' },
      }),
      [],
    );
    assert.deepEqual(res({ limits: { 'ephemeral-storage': '1Gi' } }), ['spec.containers[0].resources.limits']);
    assert.deepEqual(res({ requests: { 'nvidia.com/gpu': '1' } }), ['spec.containers[0].resources.requests']);
    const caps = (capabilities: unknown) =>
      paths(unsupportedFields(pod({ containers: [app({ securityContext: { capabilities, privileged: false } })] })));
    assert.deepEqual(caps({}), []);
    assert.deepEqual(caps({ drop: [] }), []);
    assert.deepEqual(caps({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] }), []);
    const sc = (securityContext: unknown) => paths(unsupportedFields(pod({ containers: [app({ securityContext })] })));
    assert.deepEqual(
      sc({
        procMount: 'Default',
        seLinuxOptions: { type: 't' },
        appArmorProfile: { type: 'Localhost', localhostProfile: 'p' },
      }),
      [],
    );
    assert.deepEqual(sc({ procMount: 'Unmasked' }), ['spec.containers[0].securityContext.procMount']);
  });

  it("an ephemeral container is refused on its own: the pod's containers are not held", () => {
    const p = pod({
      containers: [app()],
      ephemeralContainers: [{ name: 'debugger', image: 'busybox', targetContainerName: 'app' }],
    });
    assert.deepEqual(unsupportedFields(p), [{ path: 'spec.ephemeralContainers[0]', container: 'debugger' }]);
    assert.deepEqual([...refusedContainers(p).keys()], []);
  });

  it("refuses a field the table does not know (a typo, or a newer API's field)", () => {
    const fields = unsupportedFields(pod({ containers: [app({ comand: ['x'] })], shinyNewField: true }));
    assert.deepEqual(fields, [
      { path: 'spec.containers[0].comand', detail: 'unknown field', container: 'app' },
      { path: 'spec.shinyNewField', detail: 'unknown field' },
    ]);
    assert.equal(formatUnsupportedField(fields[1]!), 'spec.shinyNewField: not supported by kubelet-ts (unknown field)');
  });

  it('lists at most ten fields in one message', () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ path: `spec.volumes[${i}].emptyDir` }));
    const text = formatUnsupportedFields(many);
    assert.match(text, /^spec\.volumes\[0\]\.emptyDir: not supported by kubelet-ts; /);
    assert.match(text, /spec\.volumes\[9\]\.emptyDir: not supported by kubelet-ts; and 2 more$/);
  });

  it("honours what a real kube-apiserver's ServiceAccount admission adds (the kube-api-access volume)", () => {
    // The stand-in does not run that plugin; a real cluster does, on every pod that mounts a token.
    const p = pod({
      containers: [
        app({
          volumeMounts: [
            { name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
          ],
        }),
      ],
      volumes: [
        {
          name: 'kube-api-access-x',
          projected: {
            defaultMode: 420,
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
        },
      ],
    });
    assert.deepEqual(paths(unsupportedFields(p)), []);
  });
});

// ---------------------------------------------------------------------------------------------
// the pods the project runs

function manifests(dir: string): { file: string; raw: unknown }[] {
  const out: { file: string; raw: unknown }[] = [];
  for (const f of readdirSync(join(ROOT, dir)).sort()) {
    if (!/\.(ya?ml|json)$/.test(f)) continue;
    out.push({ file: `${dir}/${f}`, raw: YAML.parse(readFileSync(join(ROOT, dir, f), 'utf8')) });
  }
  return out;
}

describe('the pods the project ships are supported', () => {
  it('examples/manifests and deploy/manifests need nothing kubelet-ts refuses', () => {
    const all = [...manifests('examples/manifests'), ...manifests('deploy/manifests')];
    assert.ok(all.length >= 4, `found ${all.map((m) => m.file).join(', ')}`);
    for (const { file, raw } of all) assert.deepEqual(unsupportedFields(staticPod(raw, file)), [], file);
  });

  it("the stand-in API server's defaults (tolerations, priority, dnsPolicy, enableServiceLinks, ...) are not refused", () => {
    const p = apiPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'w', namespace: 'default' },
      spec: { nodeName: 'node-a', containers: [app({ resources: { limits: { cpu: '1', memory: '64Mi' } } })] },
    });
    assert.equal(p.spec.enableServiceLinks, true);
    assert.equal(p.spec.containers[0]!.terminationMessagePath, '/dev/termination-log');
    assert.ok((p.spec.tolerations ?? []).length >= 2);
    assert.deepEqual(unsupportedFields(p), []);
  });
});

// ---------------------------------------------------------------------------------------------
// the README

const BEGIN = '<!-- BEGIN generated by protocols/kube/fields.ts (bash scripts/node.sh scripts/readme-fields.ts) -->';
const END = '<!-- END generated by protocols/kube/fields.ts -->';

describe('the README lists what the table refuses', () => {
  it('its section is exactly the generated text (regenerate with scripts/readme-fields.ts)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    assert.ok(start >= 0 && end > start, 'the README has the generated section markers');
    const section = readme.slice(start + BEGIN.length, end).trim();
    assert.equal(section, unsupportedFieldsMarkdown());
  });

  it('the generated text lists every unsupported field, every refused value and every gap', () => {
    const md = unsupportedFieldsMarkdown();
    for (const f of flat) {
      const under = parentsOf(bare(f.path)).some((p) => rules.get(p)?.support === 'unsupported');
      if ((f.rule.support !== 'honoured' || f.rule.refuse) && !under) assert.ok(md.includes(`\`${f.path}\``), f.path);
    }
    assert.ok(!md.includes('`spec.containers[].name`'), 'honoured fields are not listed');
    assert.equal(POD_SPEC_FIELDS.volumes!.support, 'honoured');
  });
});
