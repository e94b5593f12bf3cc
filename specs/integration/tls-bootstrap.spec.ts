// Tier 4: TLS bootstrap and client certificate rotation on the real daemon, real containerd and
// the API server stand-in (bootstrap token, certificates API, its approver and signer). The node
// starts from a bootstrap kubeconfig alone: the CSR is created by system:bootstrap:abcdef and
// approved, the pair written as kubelet-client-current.pem, the kubeconfig written, the Node
// registered by system:node:<name>. Certificates live 30 s, so the daemon rotates them (a CSR
// signed by the node itself) while a pod runs: the pod keeps its sandbox and container (same IDs,
// never restarted, checked in containerd) and no request is refused, also once the first
// certificate has expired. With serverTLSBootstrap the serving pair comes from the kubelet-serving
// signer with the node name and IP as SANs. A denied CSR stops the daemon with an error naming it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { Node } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { eventually } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { useNodeFixture } from '../support/node-fixture.ts';

const NODE = 'node-tls';
const TOKEN = 'abcdef.0123456789abcdef';
const node = useNodeFixture({ node: NODE, prefix: 'kts-tls-' });

type Csr = {
  metadata: { name: string };
  spec: { username: string; signerName: string; usages: string[] };
  status?: { certificate?: string };
};

describe('TLS bootstrap and rotation (real daemon, real containerd, stand-in)', () => {
  it('bootstraps from a token, registers the Node, and rotates a 30 s certificate with the pod untouched', async (t) => {
    const api = await startApiServer({ nodes: [], bootstrapTokens: [TOKEN], csrSigningDurationSeconds: 30 });
    t.after(() => api.stop());
    const dirs = await node.dirs();
    const bootstrap = join(dirs.root, '..', 'bootstrap-kubelet.conf');
    const kubeconfig = join(dirs.root, '..', 'kubelet.conf');
    api.writeBootstrapKubeconfig(bootstrap, TOKEN);
    const d = node.daemon(dirs, [
      `--bootstrap-kubeconfig=${bootstrap}`,
      `--kubeconfig=${kubeconfig}`,
      '--rotate-certificates',
      '--node-status-update-frequency=2s',
    ]);
    const csrs = () => api.store.list('certificatesigningrequests') as unknown as Csr[];
    const getNode = () => api.store.get('nodes', NODE) as unknown as Node | undefined;
    await eventually(
      () => getNode()?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
      60_000,
      'the Node Ready',
    );

    // bootstrap: one CSR by the bootstrap token, issued; the pair and the kubeconfig on disk
    const [first] = csrs();
    assert.ok(first);
    assert.match(first.metadata.name, /^node-csr-/);
    assert.equal(first.spec.username, 'system:bootstrap:abcdef');
    assert.equal(first.spec.signerName, 'kubernetes.io/kube-apiserver-client-kubelet');
    assert.deepEqual(first.spec.usages, ['digital signature', 'client auth']);
    const current = join(dirs.root, 'pki', 'kubelet-client-current.pem');
    assert.ok(lstatSync(current).isSymbolicLink());
    const firstFile = readlinkSync(current);
    const firstCert = new X509Certificate(readFileSync(current, 'utf8'));
    assert.equal(firstCert.subject, 'O=system:nodes\nCN=system:node:node-tls');
    const kc = YAML.parse(readFileSync(kubeconfig, 'utf8'));
    assert.equal(kc.users[0].user['client-certificate'], current);
    assert.equal(api.requests.find({ verb: 'create', resource: 'nodes' })?.user, `system:node:${NODE}`);

    // a pod runs
    api.store.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        nodeName: NODE,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'app',
            image: BUSYBOX_IMAGE,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
          },
        ],
      },
    } as unknown as JsonObject);
    const running = async () =>
      node.cri.listContainers({
        labelSelector: { 'io.kubernetes.pod.name': 'web' },
        state: { state: 'CONTAINER_RUNNING' },
      });
    const [before] = await eventually(
      async () => ((await running()).length === 1 ? running() : undefined),
      60_000,
      'web running in containerd',
    );
    const sandboxes = await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'web' } });
    assert.equal(sandboxes.length, 1);

    // rotation: a second CSR, made by the node with its current certificate, issued and in use
    const rotated = await eventually(
      () => csrs().find((c) => c.metadata.name.startsWith('csr-') && c.status?.certificate),
      60_000,
      'a rotation CSR issued',
    );
    assert.equal(rotated.spec.username, `system:node:${NODE}`);
    await d.waitForLog(/client certificate rotated/, 20_000);
    assert.notEqual(readlinkSync(current), firstFile);
    assert.ok(existsSync(firstFile), 'the old dated pair stays, as upstream');
    const rotatedAt = Date.now();
    // by the deadline math the rotation came at 70–90% of the first certificate's life
    const life = Date.parse(firstCert.validTo) - Date.parse(firstCert.validFrom);
    const at = (d.lines.find((l) => l.includes('Rotating certificates')) ?? '').match(/"ts":([\d.]+)/)?.[1];
    assert.ok(at, 'the rotation was logged');
    const frac = (Number(at) * 1000 - Date.parse(firstCert.validFrom)) / life;
    assert.ok(frac >= 0.69 && frac <= 0.95, `rotated at ${frac.toFixed(2)} of the lifetime`);

    // past the first certificate's expiry the node still talks to the API (new connections, new pair)
    const expiry = Date.parse(firstCert.validTo);
    await eventually(
      () =>
        api.requests.all.some(
          (r) =>
            r.user === `system:node:${NODE}` &&
            r.status === 200 &&
            r.time.getTime() > expiry + 2_000 &&
            r.resource === 'leases',
        ),
      60_000,
      'a lease renewal after the first certificate expired',
    );
    assert.ok(rotatedAt < expiry + 60_000);
    const refused = api.requests.all.filter((r) => r.status === 401 || r.status === 403);
    assert.deepEqual(
      refused.map((r) => `${r.method} ${r.path} ${r.status} ${r.user ?? 'anonymous'}`),
      [],
    );

    // the pod was not disturbed: the same sandbox and container, still running, never restarted
    const [after] = await running();
    assert.equal(after?.id, before!.id);
    assert.deepEqual(
      (await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'web' } })).map((s) => s.id),
      sandboxes.map((s) => s.id),
    );
    const pod = api.store.get('pods', 'default', 'web') as unknown as Pod;
    assert.equal(pod.status?.containerStatuses?.[0]?.restartCount, 0);
    assert.equal(pod.status?.phase, 'Running');
  });

  it('serverTLSBootstrap: the serving pair from the kubelet-serving signer, with the node name and its IP as SANs', async (t) => {
    const api = await startApiServer({ nodes: [], bootstrapTokens: [TOKEN] });
    t.after(() => api.stop());
    api.csr.approveServing = true;
    const dirs = await node.dirs();
    const bootstrap = join(dirs.root, '..', 'bootstrap-kubelet.conf');
    const config = join(dirs.root, '..', 'config.yaml');
    api.writeBootstrapKubeconfig(bootstrap, TOKEN);
    writeFileSync(
      config,
      'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: true\nserverTLSBootstrap: true\n',
    );
    const d = node.daemon(dirs, [
      `--config=${config}`,
      `--bootstrap-kubeconfig=${bootstrap}`,
      `--kubeconfig=${join(dirs.root, '..', 'kubelet.conf')}`,
    ]);
    await d.waitForLog(/serving certificate issued/, 60_000);
    const serving = readFileSync(join(dirs.root, 'pki', 'kubelet-server-current.pem'), 'utf8');
    const cert = new X509Certificate(serving);
    assert.equal(cert.subject, `O=system:nodes\nCN=system:node:${NODE}`);
    assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${NODE}`));
    assert.match(cert.subjectAltName ?? '', /IP Address:\d+\.\d+\.\d+\.\d+/);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    const csr = (api.store.list('certificatesigningrequests') as unknown as Csr[]).find(
      (c) => c.spec.signerName === 'kubernetes.io/kubelet-serving',
    );
    assert.equal(csr?.spec.username, `system:node:${NODE}`);
  });

  it('a denied CSR: the daemon exits 1 naming the CSR', async (t) => {
    const api = await startApiServer({ nodes: [], bootstrapTokens: [TOKEN], csrApprover: 'deny' });
    t.after(() => api.stop());
    const dirs = await node.dirs();
    const bootstrap = join(dirs.root, '..', 'bootstrap-kubelet.conf');
    api.writeBootstrapKubeconfig(bootstrap, TOKEN);
    const d = node.daemon(dirs, [
      `--bootstrap-kubeconfig=${bootstrap}`,
      `--kubeconfig=${join(dirs.root, '..', 'kubelet.conf')}`,
    ]);
    assert.equal(await d.exited, 1);
    assert.ok(
      d.lines.some((l) => /CertificateSigningRequest node-csr-\S+ was denied: AutoDenied/.test(l)),
      d.lines.slice(-5).join('\n'),
    );
    assert.ok(!existsSync(join(dirs.root, '..', 'kubelet.conf')));
  });
});
