/**
 * docker-compose.yml and deploy/, checked without a Docker engine: the services exist, every
 * image is pinned and the control plane is one Kubernetes version (the one kubelet-ts follows),
 * the API server runs the Node authorizer and NodeRestriction, the kubelet is privileged with
 * its kubeconfig mounted, every file the setup references exists, the scripts parse, and
 * deploy/gen-certs.sh really produces a PKI and kubeconfigs @kubernetes/client-node accepts,
 * with the node identity (system:node:<node>, system:nodes) the kubelet's hostname matches.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { KUBERNETES_VERSION } from '../../adapters/kube/client.ts';
import { toStaticPod } from '../../protocols/kube/static-pod.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  privileged?: boolean;
  init?: boolean;
  hostname?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
}

const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
const doc = YAML.parse(text, { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const svc = (name: string): Service => {
  const s = doc.services[name];
  assert.ok(s, `service ${name} exists`);
  return s;
};
const flag = (s: Service, name: string): string | undefined =>
  s.command?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe('docker-compose.yml', () => {
  it('has the control plane, the one-shot certs service and the kubelet-ts node', () => {
    assert.deepEqual(Object.keys(doc.services).sort(), [
      'certs',
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kubelet',
    ]);
  });

  it('pins every image; the control plane is upstream, at the Kubernetes version kubelet-ts follows', () => {
    for (const [name, s] of Object.entries(doc.services)) {
      assert.ok(s.image, `${name} names its image`);
      assert.match(s.image, /^[a-z0-9./-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$/, `${name}: ${s.image}`);
      assert.doesNotMatch(s.image, /:(latest|stable|main)$/, `${name} is pinned`);
      assert.match(s.image, /:v?\d+\.\d+\.\d+(-\d+)?$|@sha256:/, `${name}: a version tag`);
    }
    const minor = KUBERNETES_VERSION.replace(/\.\d+$/, '');
    for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      assert.match(svc(name).image!, new RegExp(`^registry\\.k8s\\.io/${name}:${minor.replace('.', '\\.')}\\.\\d+$`));
    }
    assert.equal(
      new Set(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((n) => svc(n).image!.split(':')[1]))
        .size,
      1,
      'one version',
    );
    // etcd 3.6 for Kubernetes 1.34 (kubeadm's pairing)
    assert.match(svc('etcd').image!, /^registry\.k8s\.io\/etcd:3\.6\.\d+-\d+$/);
    const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
    const from = /^FROM\s+(\S+)/m.exec(dockerfile)![1]!;
    assert.match(from, /^debian:\d+\.\d+(-slim)?$/, `the node image's base is pinned: ${from}`);
  });

  it('the API server authorizes nodes with the Node authorizer and admits them through NodeRestriction', () => {
    const api = svc('kube-apiserver');
    assert.ok(flag(api, 'authorization-mode')!.split(',').includes('Node'));
    assert.ok(flag(api, 'authorization-mode')!.split(',').includes('RBAC'));
    assert.ok(flag(api, 'enable-admission-plugins')!.split(',').includes('NodeRestriction'));
    assert.equal(flag(api, 'client-ca-file'), '/etc/kubernetes/pki/ca.crt');
    assert.ok(flag(api, 'etcd-servers')!.includes('etcd:2379'));
    assert.deepEqual(api.ports, ['127.0.0.1:6443:6443']);
    assert.equal(api.depends_on?.certs?.condition, 'service_completed_successfully');
  });

  it('the kubelet is privileged, built from deploy/, with its kubeconfig mounted and a CRI of its own', () => {
    const k = svc('kubelet');
    assert.equal(k.privileged, true);
    assert.equal(k.init, true, 'an init reaps the containerd shims');
    assert.deepEqual(k.build, { context: '.', dockerfile: 'deploy/Dockerfile' });
    const kubeconfig = k.environment?.KUBECONFIG_PATH;
    assert.ok(kubeconfig);
    const mount = k.volumes!.map((v) => v.split(':')).find(([, target]) => kubeconfig.startsWith(`${target}/`));
    assert.ok(mount, `a volume holds ${kubeconfig}`);
    assert.equal(mount[0], 'pki');
    assert.equal(mount[2], 'ro');
    assert.ok(
      k.volumes!.some((v) => v.startsWith('containerd-data:/var/lib/containerd')),
      'containerd on a volume, not on overlayfs',
    );
    assert.equal(k.depends_on?.certs?.condition, 'service_completed_successfully');
    assert.ok(k.depends_on?.['kube-apiserver']);
    // the node name everywhere is the one the certificate is issued for
    const node = k.environment!.NODE_NAME!;
    assert.equal(k.hostname, node);
    assert.equal(svc('certs').entrypoint!.at(-1), node);
    const entry = readFileSync(join(ROOT, 'deploy/entrypoint.sh'), 'utf8');
    assert.match(entry, /--kubeconfig="\$kubeconfig"/);
    assert.match(entry, /--hostname-override="\$node_name"/);
    assert.match(entry, /bash scripts\/setup\.sh/);
    assert.match(entry, /containerd --config deploy\/containerd\.toml/);
  });

  it('every file it references exists: bind mounts, the Dockerfile, the entrypoint, the containerd and CNI config', () => {
    const refs = new Set<string>();
    for (const s of Object.values(doc.services)) {
      for (const v of s.volumes ?? []) if (v.startsWith('./')) refs.add(v.split(':')[0]!);
      if (s.build) refs.add(join(s.build.context, s.build.dockerfile));
    }
    const entry = readFileSync(join(ROOT, 'deploy/entrypoint.sh'), 'utf8');
    for (const m of entry.matchAll(/\b(deploy\/[\w./-]+)/g)) refs.add(m[1]!);
    const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
    for (const m of dockerfile.matchAll(/\/opt\/kubelet-ts\/(deploy\/[\w./-]+)/g)) refs.add(m[1]!);
    for (const m of dockerfile.matchAll(/^COPY\s+(.+)\s+\S+$/gm))
      for (const src of m[1]!.split(/\s+/)) if (src !== '.') refs.add(src);
    assert.ok(refs.size >= 8, [...refs].join(', '));
    for (const r of refs) assert.ok(existsSync(join(ROOT, r)), `${r} exists`);
    for (const named of ['pki', 'etcd-data', 'containerd-data', 'kubelet-data'])
      assert.ok(named in doc.volumes, `volume ${named} declared`);
    const cni = JSON.parse(readFileSync(join(ROOT, 'deploy/cni/10-kubelet-ts.conflist'), 'utf8')) as {
      plugins: { type: string }[];
    };
    assert.deepEqual(
      cni.plugins.map((p) => p.type),
      ['bridge', 'portmap'],
    );
    const toml = readFileSync(join(ROOT, 'deploy/containerd.toml'), 'utf8');
    assert.match(toml, /bin_dir = "\/usr\/lib\/cni"/);
    assert.match(toml, /address = "\/run\/containerd\/containerd.sock"/);
  });

  it('the example static pod is a valid manifest', () => {
    const raw = YAML.parse(readFileSync(join(ROOT, 'deploy/manifests/hello.yaml'), 'utf8')) as unknown;
    const r = toStaticPod(raw, {
      nodeName: 'kubelet-ts-node',
      source: 'file',
      path: '/etc/kubernetes/manifests/hello.yaml',
      now: 0,
    });
    assert.ok('pod' in r, JSON.stringify(r));
    assert.equal(r.pod.metadata.name, 'hello-kubelet-ts-node');
  });

  it('the scripts parse (bash -n)', () => {
    for (const f of ['deploy/gen-certs.sh', 'deploy/entrypoint.sh']) {
      execFileSync('bash', ['-n', join(ROOT, f)]);
      assert.ok(statSync(join(ROOT, f)).mode & 0o100, `${f} is executable`);
    }
  });
});

describe('deploy/gen-certs.sh', () => {
  let dir: string;
  const hasOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kts-pki-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the PKI and kubeconfigs; the kubelet is system:node:<node> in system:nodes; a second run changes nothing', {
    skip: !hasOpenssl && 'no openssl',
  }, () => {
    const pki = join(dir, 'pki');
    execFileSync('bash', [join(ROOT, 'deploy/gen-certs.sh'), pki, 'kubelet-ts-node'], { stdio: 'pipe' });
    for (const f of [
      'ca.crt',
      'ca.key',
      'apiserver.crt',
      'apiserver.key',
      'sa.key',
      'sa.pub',
      'admin.conf',
      'kubelet.conf',
      'controller-manager.conf',
      'scheduler.conf',
      'apiserver-kubelet-client.crt',
    ]) {
      assert.ok(existsSync(join(pki, f)), f);
    }
    const subject = execFileSync(
      'openssl',
      ['x509', '-in', join(pki, 'kubelet.crt'), '-noout', '-subject', '-nameopt', 'RFC2253'],
      { encoding: 'utf8' },
    );
    assert.match(subject, /CN=system:node:kubelet-ts-node/);
    assert.match(subject, /O=system:nodes/);
    execFileSync('openssl', [
      'verify',
      '-CAfile',
      join(pki, 'ca.crt'),
      join(pki, 'apiserver.crt'),
      join(pki, 'kubelet.crt'),
    ]);
    const san = execFileSync(
      'openssl',
      ['x509', '-in', join(pki, 'apiserver.crt'), '-noout', '-ext', 'subjectAltName'],
      { encoding: 'utf8' },
    );
    for (const name of [
      'DNS:kube-apiserver',
      'DNS:kubernetes.default.svc',
      'IP Address:127.0.0.1',
      'IP Address:10.96.0.1',
    ])
      assert.ok(san.includes(name), name);
    const kc = new KubeConfig();
    kc.loadFromFile(join(pki, 'kubelet.conf'));
    assert.equal(kc.getCurrentCluster()!.server, 'https://kube-apiserver:6443');
    assert.equal(kc.getCurrentUser()!.name, 'system:node:kubelet-ts-node');
    assert.ok(kc.getCurrentUser()!.certData && kc.getCurrentUser()!.keyData);
    const admin = new KubeConfig();
    admin.loadFromFile(join(pki, 'admin.conf'));
    assert.equal(admin.getCurrentCluster()!.server, 'https://127.0.0.1:6443');
    assert.equal(statSync(join(pki, 'kubelet.key')).mode & 0o077, 0, 'keys are private');
    const before = readFileSync(join(pki, 'ca.crt'), 'utf8');
    const out = execFileSync('bash', [join(ROOT, 'deploy/gen-certs.sh'), pki], { encoding: 'utf8' });
    assert.match(out, /already present/);
    assert.equal(readFileSync(join(pki, 'ca.crt'), 'utf8'), before);
  });
});
