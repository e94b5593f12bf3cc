/**
 * TLS bootstrap pieces: the PKCS#10 request built with node:crypto (openssl verifies it), the
 * stand-in's signer (node:crypto verifies what it issues), the cert store's layout, the rotation
 * deadline, and loadClientCert against the API server stand-in with a bootstrap token: the CSR
 * it creates, approval modes (auto, deny, manual), the kubeconfig it writes, and the reuse of a
 * valid kubelet-client-current.pem without a new CSR.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { RealClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { nextRotationDeadline, csrOutcome, KUBELET_CLIENT_SIGNER } from '../../protocols/kube/certificates.ts';
import { createCsrPem, digestedCsrName, generateEcKeyPem } from '../../adapters/kube/csr.ts';
import { createCertStore } from '../../adapters/kube/cert-store.ts';
import {
  clientCertRotation,
  currentServingPair,
  loadClientCert,
  servingCertRotation,
} from '../../adapters/kube/bootstrap.ts';
import { createKubeApi, type KubeClient } from '../../adapters/kube/client.ts';
import { issue, parseCsr } from '../support/apiserver/certificates.ts';
import { startApiServer, type ApiServer } from '../support/apiserver/index.ts';
import { getPki } from '../support/apiserver/certs.ts';

const TOKEN = 'abcdef.0123456789abcdef';
const clock = new RealClock();

describe('the kubelet CSR (node:crypto + DER)', () => {
  it('is a PKCS#10 request openssl verifies: O then CN, ecdsa-with-SHA256, SANs in an extensionRequest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-csr-'));
    try {
      const key = generateEcKeyPem();
      assert.match(key, /BEGIN EC PRIVATE KEY/);
      const pemText = createCsrPem(key, {
        commonName: 'system:node:n1',
        organizations: ['system:nodes'],
        dnsNames: ['n1'],
        ipAddresses: ['10.1.2.3', '2001:db8::7'],
      });
      writeFileSync(join(dir, 'r.csr'), pemText);
      const out = execFileSync('openssl', ['req', '-in', join(dir, 'r.csr'), '-verify', '-noout', '-text'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.match(out, /Subject: O\s?=\s?system:nodes, CN\s?=\s?system:node:n1/);
      assert.match(out, /ecdsa-with-SHA256/);
      assert.match(out, /DNS:n1, IP Address:10\.1\.2\.3, IP Address:2001:DB8:0:0:0:0:0:7/);
      const parsed = parseCsr(pemText);
      assert.equal(parsed.commonName, 'system:node:n1');
      assert.deepEqual(parsed.organizations, ['system:nodes']);
      // a client CSR has no attributes at all
      const plain = parseCsr(createCsrPem(key, { commonName: 'system:node:n1', organizations: ['system:nodes'] }));
      assert.equal(plain.sanDer, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is refused by the signer when its signature does not verify', () => {
    const pemText = createCsrPem(generateEcKeyPem(), { commonName: 'x', organizations: [] });
    const der = Buffer.from(pemText.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5]! ^= 0xff; // inside the signature
    const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(() => parseCsr(bad), /signature|DER|ASN/i);
  });

  it('names the bootstrap CSR from the key, subject and usages (the same key gives the same name)', () => {
    const key = generateEcKeyPem();
    const a = digestedCsrName(key, 'system:node:n1', ['system:nodes'], ['digital signature', 'client auth']);
    assert.match(a, /^node-csr-[A-Za-z0-9_-]{43}$/);
    assert.equal(digestedCsrName(key, 'system:node:n1', ['system:nodes'], ['digital signature', 'client auth']), a);
    assert.notEqual(digestedCsrName(key, 'system:node:n2', ['system:nodes'], ['digital signature', 'client auth']), a);
    assert.notEqual(
      digestedCsrName(generateEcKeyPem(), 'system:node:n1', ['system:nodes'], ['digital signature', 'client auth']),
      a,
    );
  });

  it("the stand-in's signer issues a v3 certificate the CA verifies, with the CSR's subject, key and usages", async () => {
    const pki = await getPki();
    const key = generateEcKeyPem();
    const parsed = parseCsr(createCsrPem(key, { commonName: 'system:node:n1', organizations: ['system:nodes'] }));
    const t0 = Date.UTC(2030, 0, 2, 3, 4, 5);
    const certPem = issue(
      { certPem: pki.ca, keyPem: pki.caKey },
      parsed,
      ['digital signature', 'client auth'],
      t0,
      t0 + 30_000,
    );
    const cert = new X509Certificate(certPem);
    assert.ok(cert.verify(new X509Certificate(pki.ca).publicKey));
    assert.equal(cert.subject, 'O=system:nodes\nCN=system:node:n1');
    assert.equal(Date.parse(cert.validFrom), t0);
    assert.equal(Date.parse(cert.validTo), t0 + 30_000);
    assert.ok(cert.checkPrivateKey(createPublicKey(key) && (await import('node:crypto')).createPrivateKey(key)));
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.ca, false);
  });
});

describe('nextRotationDeadline (client-go certificate manager)', () => {
  it('is 70% of the lifetime after notBefore at the lowest jitter and under 90% at the highest', () => {
    const nb = 1_000_000;
    const na = nb + 100_000;
    assert.equal(nextRotationDeadline(nb, na, 0), nb + 70_000);
    assert.equal(nextRotationDeadline(nb, na, 0.5), nb + 80_000);
    assert.ok(nextRotationDeadline(nb, na, 0.999999) < nb + 90_000);
    assert.ok(nextRotationDeadline(nb, na, 0.999999) >= nb + 89_999);
  });
});

describe('the certificate store (client-go FileStore layout)', () => {
  it('writes dated pairs and points kubelet-client-current.pem at the newest; a regular current file is refused', async () => {
    const pki = await getPki();
    const dir = mkdtempSync(join(tmpdir(), 'kts-store-'));
    try {
      let t = Date.UTC(2026, 11, 7, 23, 40, 1);
      const store = createCertStore(dir, 'kubelet-client', () => t);
      assert.equal(store.current(), undefined);
      const mint = () => {
        const key = generateEcKeyPem();
        const cert = issue(
          { certPem: pki.ca, keyPem: pki.caKey },
          parseCsr(createCsrPem(key, { commonName: 'system:node:n1', organizations: ['system:nodes'] })),
          ['digital signature', 'client auth'],
          clock.now(),
          clock.now() + 3_600_000,
        );
        return { key, cert };
      };
      const a = mint();
      const first = store.update(a.cert, a.key);
      assert.equal(first.file, join(dir, 'kubelet-client-2026-12-07-23-40-01.pem'));
      assert.ok(lstatSync(store.currentPath).isSymbolicLink());
      assert.equal(readlinkSync(store.currentPath), first.file);
      assert.equal(lstatSync(first.file).mode & 0o777, 0o600);
      assert.equal(store.current()?.keyPem.trim(), a.key.trim());
      // a second one within the same second does not overwrite the first
      const b = mint();
      const second = store.update(b.cert, b.key);
      assert.notEqual(second.file, first.file);
      t += 60_000;
      const c = mint();
      const third = store.update(c.cert, c.key);
      assert.equal(readlinkSync(store.currentPath), third.file);
      assert.deepEqual(readdirSync(dir).sort(), [
        'kubelet-client-2026-12-07-23-40-01.1.pem',
        'kubelet-client-2026-12-07-23-40-01.pem',
        'kubelet-client-2026-12-07-23-41-01.pem',
        'kubelet-client-current.pem',
      ]);
      // a key that is not the certificate's is refused before anything is written
      assert.throws(() => store.update(c.cert, a.key), /does not match/);
      rmSync(store.currentPath);
      writeFileSync(store.currentPath, c.cert + c.key);
      assert.throws(() => store.update(c.cert, c.key), /not a symlink/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadClientCert against the stand-in (bootstrap token, certificates API)', () => {
  let api: ApiServer;
  let dir: string;
  const clients: KubeClient[] = [];
  const bootstrapApi = (p: string) => {
    const c = createKubeApi(p, { clock });
    clients.push(c);
    return c;
  };
  before(async () => {
    api = await startApiServer({ nodes: [], bootstrapTokens: [TOKEN] });
    dir = mkdtempSync(join(tmpdir(), 'kts-boot-'));
    api.writeBootstrapKubeconfig(join(dir, 'bootstrap-kubelet.conf'), TOKEN);
  });
  after(async () => {
    for (const c of clients) c.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const opts = (sub: string, node: string) => ({
    kubeconfigPath: join(dir, sub, 'kubelet.conf'),
    bootstrapKubeconfigPath: join(dir, 'bootstrap-kubelet.conf'),
    certDir: join(dir, sub, 'pki'),
    nodeName: node,
    clock,
    log: silentLogger,
    bootstrapApi,
  });
  const csrsOf = (node: string) =>
    api.store.list('certificatesigningrequests').filter((c) => {
      const spec = c.spec as { request: string };
      return parseCsr(Buffer.from(spec.request, 'base64').toString('utf8')).commonName === `system:node:${node}`;
    });

  it('auto approval: a CSR from system:bootstrap:abcdef, the pair in the cert dir, a kubeconfig the node then uses', async () => {
    const o = opts('auto', 'node-boot');
    assert.equal(await loadClientCert(o), 'bootstrapped');
    const [csr] = csrsOf('node-boot');
    assert.ok(csr);
    const spec = csr.spec as Record<string, unknown>;
    assert.match(String((csr.metadata as { name: string }).name), /^node-csr-/);
    assert.equal(spec.signerName, KUBELET_CLIENT_SIGNER);
    assert.deepEqual(spec.usages, ['digital signature', 'client auth']);
    assert.equal(spec.username, 'system:bootstrap:abcdef');
    assert.ok((spec.groups as string[]).includes('system:bootstrappers'));
    assert.equal(csrOutcome(csr as never).state, 'issued');
    const current = join(o.certDir, 'kubelet-client-current.pem');
    assert.ok(lstatSync(current).isSymbolicLink());
    assert.match(readlinkSync(current), /kubelet-client-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$/);
    assert.ok(!existsSync(join(o.certDir, 'kubelet-client.key.tmp')));
    const kc = YAML.parse(readFileSync(o.kubeconfigPath, 'utf8'));
    assert.equal(kc.users[0].user['client-certificate'], current);
    assert.equal(kc.users[0].user['client-key'], current);
    assert.equal(kc.clusters[0].cluster.server, api.url);
    // the node's own identity now: it may register its Node
    const node = createKubeApi(o.kubeconfigPath, { clock });
    clients.push(node);
    await node.createNode({ metadata: { name: 'node-boot' } } as Parameters<typeof node.createNode>[0]);
    assert.equal(api.requests.find({ verb: 'create', resource: 'nodes' })?.user, 'system:node:node-boot');
  });

  it('reuses a valid kubelet-client-current.pem without a new CSR, and a valid kubeconfig without touching anything', async () => {
    const o = opts('auto', 'node-boot');
    const before = api.store.list('certificatesigningrequests').length;
    assert.equal(await loadClientCert(o), 'kubeconfig');
    rmSync(o.kubeconfigPath);
    assert.equal(await loadClientCert(o), 'cert-dir');
    assert.ok(existsSync(o.kubeconfigPath));
    assert.equal(api.store.list('certificatesigningrequests').length, before);
  });

  it('rotation: a csr-<random> CSR signed with the current certificate (self node client), a new dated pair, the client switched', async () => {
    const o = opts('auto', 'node-boot');
    const node = createKubeApi(o.kubeconfigPath, { clock });
    clients.push(node);
    await node.getNode('node-boot');
    const oldTarget = readlinkSync(join(o.certDir, 'kubelet-client-current.pem'));
    const rot = clientCertRotation({
      kubeconfigPath: o.kubeconfigPath,
      certDir: o.certDir,
      nodeName: 'node-boot',
      api: node,
      clock,
      reload: () => node.reloadCredentials(),
    });
    assert.equal(rot.current()?.file, oldTarget);
    const pair = await rot.rotate();
    assert.match(pair.csr, /^csr-/);
    const csr = api.store.get('certificatesigningrequests', pair.csr)!;
    assert.equal((csr.spec as { username: string }).username, 'system:node:node-boot');
    assert.equal(csrOutcome(csr as never).state, 'issued');
    assert.notEqual(pair.file, oldTarget);
    assert.equal(readlinkSync(join(o.certDir, 'kubelet-client-current.pem')), pair.file);
    assert.equal(node.stats().certRotations, 1);
    await node.getNode('node-boot');
    // a kubeconfig whose certificate is not the cert dir's is not this manager's to rotate
    const other = clientCertRotation({
      kubeconfigPath: api.kubeconfigFor('x', 'token'),
      certDir: o.certDir,
      nodeName: 'node-boot',
      api: node,
      clock,
      reload: async () => {},
    });
    assert.equal(other.current(), undefined);
  });

  it('serverTLSBootstrap: a kubelet-serving CSR with the hostname and IPs as SANs, kubelet-server-current.pem', async () => {
    const o = opts('auto', 'node-boot');
    const node = createKubeApi(o.kubeconfigPath, { clock });
    clients.push(node);
    api.csr.approveServing = true;
    try {
      const rot = servingCertRotation({
        certDir: o.certDir,
        nodeName: 'node-boot',
        api: node,
        clock,
        addresses: () => [
          { type: 'InternalIP', address: '10.0.0.5' },
          { type: 'Hostname', address: 'node-boot' },
        ],
      });
      assert.equal(rot.requestWhenMissing, true);
      assert.equal(rot.current(), undefined);
      assert.equal(currentServingPair(o.certDir), undefined);
      const pair = await rot.rotate();
      const csr = api.store.get('certificatesigningrequests', pair.csr)!;
      assert.equal((csr.spec as { signerName: string }).signerName, 'kubernetes.io/kubelet-serving');
      assert.deepEqual((csr.spec as { usages: string[] }).usages, ['digital signature', 'server auth']);
      assert.equal(lstatSync(join(o.certDir, 'kubelet-server-current.pem')).isSymbolicLink(), true);
      const served = currentServingPair(o.certDir);
      assert.ok(served);
      const cert = new X509Certificate(served.certPem);
      assert.equal(cert.subjectAltName, 'DNS:node-boot, IP Address:10.0.0.5');
      assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      assert.equal(cert.subject, 'O=system:nodes\nCN=system:node:node-boot');
      assert.equal(rot.current()?.file, pair.file);
    } finally {
      api.csr.approveServing = false;
    }
  });

  it('a denied CSR fails naming the CSR and the reason', async () => {
    api.csr.mode = 'deny';
    try {
      await assert.rejects(
        loadClientCert(opts('deny', 'node-deny')),
        /CertificateSigningRequest node-csr-\S+ was denied: AutoDenied/,
      );
      assert.ok(!existsSync(opts('deny', 'node-deny').kubeconfigPath));
    } finally {
      api.csr.mode = 'auto';
    }
  });

  it('manual approval: it waits (watching the CSR) until an operator approves; a restarted bootstrap finds the same CSR', async () => {
    api.csr.mode = 'manual';
    try {
      const o = opts('manual', 'node-man');
      const pending = loadClientCert(o);
      let csrs: ReturnType<typeof csrsOf> = [];
      for (let i = 0; i < 20_000 && csrs.length === 0; i++) {
        await new Promise<void>((r) => setImmediate(r));
        csrs = csrsOf('node-man');
      }
      assert.equal(csrs.length, 1);
      const name = String((csrs[0]!.metadata as { name: string }).name);
      await api.requests.waitFor({ verb: 'watch', resource: 'certificatesigningrequests' });
      // a bootstrap started again meanwhile (a restarted daemon) has the same key in
      // kubelet-client.key.tmp, so the same node-csr name: it waits on that CSR, makes no second one
      const again = loadClientCert(o);
      await api.requests.waitFor({ verb: 'get', resource: 'certificatesigningrequests', name, status: 200 });
      assert.equal(csrsOf('node-man').length, 1);
      api.csr.decide(name, true);
      assert.equal(await pending, 'bootstrapped');
      assert.equal(await again, 'bootstrapped');
      assert.equal(csrsOf('node-man').length, 1);
      assert.ok(
        api.requests.find({ verb: 'create', resource: 'certificatesigningrequests', status: 409 }),
        'the second create met the first CSR',
      );
    } finally {
      api.csr.mode = 'auto';
    }
  });
});
