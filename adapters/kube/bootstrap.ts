/**
 * TLS bootstrap, as upstream's pkg/kubelet/certificate/bootstrap (LoadClientCert) does it, before
 * any actor starts:
 *
 * 1. the --kubeconfig file exists and its client certificate (if it has one) has not expired:
 *    nothing to do;
 * 2. else --cert-dir holds a kubelet-client-current.pem that is still valid: a kubeconfig pointing
 *    at it is written (no new CSR);
 * 3. else, with the --bootstrap-kubeconfig credentials (a bootstrap token): an ECDSA P-256 key,
 *    kept in kubelet-client.key.tmp until the certificate arrives so a restarted bootstrap asks
 *    again with the same key; a CertificateSigningRequest named from that key (node-csr-<digest>:
 *    after a restart the pending one is found again, not duplicated), signer
 *    kubernetes.io/kube-apiserver-client-kubelet, CN system:node:<node>, O system:nodes, usages
 *    digital signature and client auth; a watch until it is issued, denied or failed; the pair
 *    written to the cert store and the kubeconfig written pointing at kubelet-client-current.pem.
 *
 * The kubeconfig is upstream's shape: the bootstrap kubeconfig's cluster (server, CA), user
 * default-auth with client-certificate and client-key both the current pair's symlink, so the
 * certificate manager's rotations (actors/certificates) need no kubeconfig rewrite.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import YAML from 'yaml';
import type { Clock } from '../../kernel/clock.ts';
import { errText, type Logger } from '../../kernel/log.ts';
import { ApiError } from '../../protocols/kube/api.ts';
import {
  csrOutcome,
  KUBELET_CLIENT_SIGNER,
  KUBELET_CLIENT_USAGES,
  KUBELET_SERVING_SIGNER,
  KUBELET_SERVING_USAGES,
  type CertificateSigningRequest,
  type CsrApi,
  type KeyUsage,
} from '../../protocols/kube/certificates.ts';
import { createCertStore, type CertStore } from './cert-store.ts';
import { createCsrPem, csrPublicKeyDer, digestedCsrName, generateEcKeyPem, type CsrSubject } from './csr.ts';

/** client-go's certificateWaitTimeout: how long a CSR may stay unanswered. */
export const CERTIFICATE_WAIT_TIMEOUT_MS = 15 * 60_000;

export interface CertificateRequest {
  keyPem: string;
  subject: CsrSubject;
  signerName: string;
  usages: readonly KeyUsage[];
  /** A fixed name (the bootstrap's digest); otherwise generateName csr-. */
  name?: string;
  expirationSeconds?: number;
}

/**
 * csr.RequestCertificate: creates the CSR; with a fixed name that already exists, the existing
 * one is used if it asks for the same key and signer (a restarted bootstrap), else it is an error.
 */
export async function requestCertificate(api: CsrApi, r: CertificateRequest): Promise<CertificateSigningRequest> {
  const request = createCsrPem(r.keyPem, r.subject);
  const csr: CertificateSigningRequest = {
    metadata: r.name ? { name: r.name } : { generateName: 'csr-' },
    spec: {
      request: Buffer.from(request).toString('base64'),
      signerName: r.signerName,
      usages: [...r.usages],
      ...(r.expirationSeconds !== undefined ? { expirationSeconds: r.expirationSeconds } : {}),
    },
  };
  try {
    return await api.createCsr(csr);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 409 && r.name)) throw e;
    const found = await api.getCsr(r.name);
    const same =
      found.spec.signerName === r.signerName &&
      csrPublicKeyDer(Buffer.from(found.spec.request, 'base64').toString('utf8')).equals(csrPublicKeyDer(request));
    if (!same) throw new Error(`CertificateSigningRequest ${r.name} exists and asks for another key or signer`);
    return found;
  }
}

/**
 * csr.WaitForCertificate: the certificate of CSR `name` once it is approved and issued; a Denied
 * or Failed CSR, or none after `timeoutMs`, rejects naming the CSR and the reason. Watches the one
 * CSR (its watch resumed from the last resourceVersion when it ends).
 */
export function waitForCertificate(
  api: CsrApi,
  name: string,
  clock: Clock,
  timeoutMs = CERTIFICATE_WAIT_TIMEOUT_MS,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    let handle: { abort(): void } | undefined;
    const finish = (err: Error | undefined, cert?: string) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      handle?.abort();
      if (err) reject(err);
      else resolve(cert!);
    };
    const timer = clock.setTimeout(
      () =>
        finish(
          new Error(
            `CertificateSigningRequest ${name}: no certificate within ${Math.round(timeoutMs / 1000)}s (not approved or not signed)`,
          ),
        ),
      timeoutMs,
    );
    /** True when `csr` settles it. */
    const judge = (csr: CertificateSigningRequest): boolean => {
      const out = csrOutcome(csr);
      if (out.state === 'issued') finish(undefined, out.certificatePem);
      else if (out.state !== 'pending') {
        finish(
          new Error(
            `CertificateSigningRequest ${name} was ${out.state}: ${out.reason || 'no reason'}${out.message ? `: ${out.message}` : ''}`,
          ),
        );
      }
      return out.state !== 'pending';
    };
    const round = async (): Promise<void> => {
      while (!settled) {
        let rv: string | undefined;
        try {
          const csr = await api.getCsr(name);
          if (judge(csr)) return;
          rv = csr.metadata.resourceVersion;
          const ended = new Promise<void>((r) => {
            void api
              .watchCsr(
                name,
                rv,
                (ev) => {
                  if (ev.type === 'ADDED' || ev.type === 'MODIFIED') judge(ev.object);
                },
                () => r(),
              )
              .then(
                (h) => {
                  handle = h;
                  if (settled) h.abort();
                },
                () => r(),
              );
          });
          await ended;
        } catch (e) {
          if (e instanceof ApiError && e.code === 404) {
            finish(new Error(`CertificateSigningRequest ${name} was deleted before it was issued`));
            return;
          }
          // the API server is away: try again in a moment
          await new Promise<void>((r) => clock.setTimeout(() => r(), 2000));
        }
      }
    };
    void round();
  });
}

export interface BootstrapOptions {
  kubeconfigPath: string;
  bootstrapKubeconfigPath: string | undefined;
  certDir: string;
  nodeName: string;
  clock: Clock;
  log: Logger;
  /** A CSR client for the bootstrap credentials (main.ts: createKubeApi on the bootstrap kubeconfig). */
  bootstrapApi: (path: string) => CsrApi & { close(): void };
  timeoutMs?: number;
}

export type BootstrapResult = 'kubeconfig' | 'cert-dir' | 'bootstrapped';

/** The client certificate of a kubeconfig's current user (inline or file), if it has one. */
function kubeconfigCert(path: string): string | undefined {
  const doc = YAML.parse(readFileSync(path, 'utf8')) as KubeconfigDoc | null;
  const ctxName = doc?.['current-context'];
  const ctx = doc?.contexts?.find((c) => c.name === ctxName)?.context;
  const user = doc?.users?.find((u) => u.name === ctx?.user)?.user;
  if (!user) return undefined;
  if (typeof user['client-certificate-data'] === 'string')
    return Buffer.from(user['client-certificate-data'], 'base64').toString('utf8');
  const f = user['client-certificate'];
  if (typeof f !== 'string') return undefined;
  return readFileSync(isAbsolute(f) ? f : join(dirname(path), f), 'utf8');
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name?: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name?: string; cluster?: Record<string, unknown> }[];
  users?: { name?: string; user?: Record<string, unknown> }[];
}

/** Why the kubeconfig cannot be used as it is (isClientConfigStillValid), or undefined. */
function kubeconfigInvalid(path: string, now: number): string | undefined {
  if (!existsSync(path)) return 'does not exist';
  try {
    const pemText = kubeconfigCert(path);
    if (pemText === undefined) return undefined;
    const cert = new X509Certificate(pemText);
    if (Date.parse(cert.validTo) <= now)
      return `its client certificate expired at ${new Date(cert.validTo).toISOString()}`;
    return undefined;
  } catch (e) {
    return `cannot be read: ${errText(e)}`;
  }
}

/** writeKubeconfigFromBootstrapping: the bootstrap kubeconfig's cluster, the current pair as the user. */
function writeKubeconfig(path: string, bootstrapPath: string, pairPath: string): void {
  const doc = YAML.parse(readFileSync(bootstrapPath, 'utf8')) as KubeconfigDoc | null;
  const ctxName = doc?.['current-context'];
  const clusterName = doc?.contexts?.find((c) => c.name === ctxName)?.context?.cluster;
  const cluster = { ...(doc?.clusters?.find((c) => c.name === clusterName)?.cluster ?? {}) };
  if (typeof cluster.server !== 'string')
    throw new Error(
      `bootstrap kubeconfig ${bootstrapPath}: no cluster server in the current context "${ctxName ?? ''}"`,
    );
  const ca = cluster['certificate-authority'];
  if (typeof ca === 'string' && !isAbsolute(ca)) cluster['certificate-authority'] = join(dirname(bootstrapPath), ca);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'default-cluster', cluster }],
      contexts: [
        {
          name: 'default-context',
          context: { cluster: 'default-cluster', namespace: 'default', user: 'default-auth' },
        },
      ],
      'current-context': 'default-context',
      users: [{ name: 'default-auth', user: { 'client-certificate': pairPath, 'client-key': pairPath } }],
    }),
    { mode: 0o600 },
  );
}

/** A usable current pair in the store, or undefined (an unusable one is logged). */
function validCurrent(store: CertStore, now: number, log: Logger): boolean {
  try {
    const pair = store.current();
    if (!pair) return false;
    if (pair.notAfterMs <= now) {
      log.info('the client certificate in the cert dir has expired: bootstrapping a new one', {
        file: store.currentPath,
      });
      return false;
    }
    return true;
  } catch (e) {
    log.warn('the client certificate in the cert dir cannot be used: bootstrapping a new one', { err: errText(e) });
    return false;
  }
}

/** LoadClientCert. Throws an Error naming the file or the CSR and the cause. */
export async function loadClientCert(o: BootstrapOptions): Promise<BootstrapResult> {
  const { clock, log } = o;
  const why = kubeconfigInvalid(o.kubeconfigPath, clock.now());
  if (why === undefined) return 'kubeconfig';
  if (o.bootstrapKubeconfigPath === undefined)
    throw new Error(`kubeconfig ${o.kubeconfigPath} ${why} and no --bootstrap-kubeconfig was given`);
  log.info('TLS bootstrap: the kubeconfig cannot be used as it is', { kubeconfig: o.kubeconfigPath, reason: why });
  if (!existsSync(o.bootstrapKubeconfigPath))
    throw new Error(`bootstrap kubeconfig ${o.bootstrapKubeconfigPath}: no such file`);
  const store = createCertStore(o.certDir, 'kubelet-client', () => clock.now());
  if (validCurrent(store, clock.now(), log)) {
    writeKubeconfig(o.kubeconfigPath, o.bootstrapKubeconfigPath, store.currentPath);
    log.info('TLS bootstrap: using the client certificate in the cert dir', {
      file: store.currentPath,
      kubeconfig: o.kubeconfigPath,
    });
    return 'cert-dir';
  }
  mkdirSync(o.certDir, { recursive: true, mode: 0o755 });
  const keyPath = join(o.certDir, 'kubelet-client.key.tmp');
  let keyPem: string;
  try {
    keyPem = readFileSync(keyPath, 'utf8');
  } catch {
    keyPem = generateEcKeyPem();
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
  }
  const subject = { commonName: `system:node:${o.nodeName}`, organizations: ['system:nodes'] };
  const name = digestedCsrName(keyPem, subject.commonName, subject.organizations, KUBELET_CLIENT_USAGES);
  const api = o.bootstrapApi(o.bootstrapKubeconfigPath);
  try {
    let csr: CertificateSigningRequest;
    try {
      csr = await requestCertificate(api, {
        keyPem,
        subject,
        signerName: KUBELET_CLIENT_SIGNER,
        usages: KUBELET_CLIENT_USAGES,
        name,
      });
    } catch (e) {
      throw new Error(
        `TLS bootstrap: cannot create CertificateSigningRequest ${name} with ${o.bootstrapKubeconfigPath}: ${errText(e)}`,
      );
    }
    log.info('TLS bootstrap: CertificateSigningRequest created, waiting for its approval and certificate', {
      csr: csr.metadata.name,
      signer: KUBELET_CLIENT_SIGNER,
    });
    const certPem = await waitForCertificate(api, csr.metadata.name ?? name, clock, o.timeoutMs);
    const pair = store.update(certPem, keyPem);
    rmSync(keyPath, { force: true });
    writeKubeconfig(o.kubeconfigPath, o.bootstrapKubeconfigPath, store.currentPath);
    log.info('TLS bootstrap: client certificate issued', {
      csr: csr.metadata.name,
      file: pair.file,
      notAfter: new Date(pair.notAfterMs).toISOString(),
      kubeconfig: o.kubeconfigPath,
    });
    return 'bootstrapped';
  } finally {
    api.close();
  }
}

export interface ClientRotationOptions {
  kubeconfigPath: string;
  certDir: string;
  nodeName: string;
  /** The kubelet's own client (its current certificate signs the request: the self-node-client case). */
  api: CsrApi;
  clock: Clock;
  /** Switches every API client to the new pair (KubeClient.reloadCredentials). */
  reload: () => Promise<void>;
  timeoutMs?: number;
}

/** What the certificateManager actor gets for one pair (the structural twin of its deps). */
export interface PairRotation {
  current(): { notBeforeMs: number; notAfterMs: number; file: string } | undefined;
  rotate(): Promise<{ notBeforeMs: number; notAfterMs: number; file: string; csr: string }>;
  /** No pair yet: request one at once (the serving pair) instead of idling. */
  requestWhenMissing?: boolean;
}

/** One rotation of a pair in `store`: a new key, a csr-<random> CSR, the certificate, the store. */
function rotateInto(
  store: CertStore,
  api: CsrApi,
  clock: Clock,
  req: Omit<CertificateRequest, 'keyPem'>,
  timeoutMs: number | undefined,
) {
  return async () => {
    const keyPem = generateEcKeyPem();
    const csr = await requestCertificate(api, { ...req, keyPem });
    const name = csr.metadata.name ?? '';
    const certPem = await waitForCertificate(api, name, clock, timeoutMs);
    const pair = store.update(certPem, keyPem);
    return { notBeforeMs: pair.notBeforeMs, notAfterMs: pair.notAfterMs, file: pair.file, csr: name };
  };
}

const validity = (store: CertStore) => {
  const pair = store.current();
  return pair && { notBeforeMs: pair.notBeforeMs, notAfterMs: pair.notAfterMs, file: pair.file };
};

/**
 * The client pair's rotation: the current pair's validity (only when the kubeconfig uses the cert
 * dir's kubelet-client-current.pem, as a bootstrapped one does) and one rotation, after which
 * every API client is switched to the new pair.
 */
export function clientCertRotation(o: ClientRotationOptions): PairRotation {
  const store = createCertStore(o.certDir, 'kubelet-client', () => o.clock.now());
  const subject = { commonName: `system:node:${o.nodeName}`, organizations: ['system:nodes'] };
  const once = rotateInto(
    store,
    o.api,
    o.clock,
    { subject, signerName: KUBELET_CLIENT_SIGNER, usages: KUBELET_CLIENT_USAGES },
    o.timeoutMs,
  );
  return {
    current() {
      const doc = YAML.parse(readFileSync(o.kubeconfigPath, 'utf8')) as KubeconfigDoc | null;
      const ctx = doc?.contexts?.find((c) => c.name === doc['current-context'])?.context;
      const f = doc?.users?.find((u) => u.name === ctx?.user)?.user?.['client-certificate'];
      const file = typeof f === 'string' ? (isAbsolute(f) ? f : join(dirname(o.kubeconfigPath), f)) : undefined;
      return file === store.currentPath ? validity(store) : undefined;
    },
    async rotate() {
      const pair = await once();
      await o.reload();
      return pair;
    },
  };
}

export interface ServingRotationOptions {
  certDir: string;
  nodeName: string;
  api: CsrApi;
  clock: Clock;
  /** The node's addresses: Hostname ones become DNS SANs, the IPs IP SANs (upstream's server cert template). */
  addresses: () => { type: string; address: string }[];
  timeoutMs?: number;
}

/**
 * serverTLSBootstrap: the serving pair kubelet-server-current.pem, requested at start when there
 * is none and rotated like the client's: signer kubernetes.io/kubelet-serving, CN
 * system:node:<node>, O system:nodes, the node's hostname and IPs as SANs, usages digital
 * signature and server auth (DefaultKubeletServingGetUsages for an ECDSA key). The 10250 server
 * reads it with currentServingPair.
 */
export function servingCertRotation(o: ServingRotationOptions): PairRotation {
  const store = createCertStore(o.certDir, 'kubelet-server', () => o.clock.now());
  return {
    requestWhenMissing: true,
    current: () => validity(store),
    rotate() {
      const addrs = o.addresses();
      const dnsNames = [
        ...new Set(
          addrs
            .filter((a) => a.type === 'Hostname' || a.type === 'InternalDNS' || a.type === 'ExternalDNS')
            .map((a) => a.address),
        ),
      ];
      const ipAddresses = [
        ...new Set(addrs.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address)),
      ];
      const subject = {
        commonName: `system:node:${o.nodeName}`,
        organizations: ['system:nodes'],
        dnsNames,
        ipAddresses,
      };
      return rotateInto(
        store,
        o.api,
        o.clock,
        { subject, signerName: KUBELET_SERVING_SIGNER, usages: KUBELET_SERVING_USAGES },
        o.timeoutMs,
      )();
    },
  };
}

/** The current serving pair in `certDir` (PEM certificate chain and key), undefined until one is issued. */
export function currentServingPair(certDir: string): { certPem: string; keyPem: string } | undefined {
  const pair = createCertStore(certDir, 'kubelet-server', () => 0).current();
  return pair && { certPem: pair.certPem, keyPem: pair.keyPem };
}
