/**
 * The stand-in's PKI, made with the `openssl` CLI (ECDSA P-256, so generation is quick): a CA, a
 * serving certificate for 127.0.0.1/localhost, and client certificates on demand (CN = user,
 * O = groups).
 *
 * Generated once and cached for later runs and parallel spec processes under
 * `$TMPDIR/kubelet-ts-apiserver-pki-v1-<uid>/`: the CA and serving pair are published by renaming
 * a complete directory into place, each client pair by renaming one PEM file (certificate and key
 * together, so a reader never sees a certificate with another process's key). A cache that is
 * incomplete or expires within a day is regenerated. Each process copies what it uses into a
 * private directory, removed at exit, and points kubeconfigs there.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';

export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Pki {
  /** This process's private directory (files kubeconfigs point at). */
  dir: string;
  caFile: string;
  ca: string;
  /** The CA's private key (the stand-in's CSR signer issues with it). */
  caKey: string;
  serving: CertPair;
  /** A client certificate for `user` with `groups` as organizations (cached per identity). */
  client(user: string, groups: string[]): Promise<CertPair>;
  /** A certificate signed by a different CA (for "untrusted client cert" tests). */
  untrustedClient(user: string, groups: string[]): Promise<CertPair>;
}

function run(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')}: ${stderr || err.message}`));
      else resolve();
    });
  });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const CLIENT_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
const SERVER_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';
const CACHE = join(tmpdir(), `kubelet-ts-apiserver-pki-v1-${process.getuid?.() ?? 'user'}`);
const DAY_MS = 86_400_000;

function subj(cn: string, orgs: string[]): string {
  const esc = (v: string): string => v.replace(/([/=+,\\])/g, '\\$1');
  return `${orgs.map((o) => `/O=${esc(o)}`).join('')}/CN=${esc(cn)}`;
}

function pemBlocks(pem: string): { cert: string; key: string } {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
  const key = /-----BEGIN (?:EC |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |)PRIVATE KEY-----\n?/.exec(pem)?.[0];
  if (!cert || !key) throw new Error('PEM without a certificate and a key');
  return { cert, key };
}

/** Still valid for at least a day. */
function fresh(certPem: string): boolean {
  try {
    return Date.parse(new X509Certificate(certPem).validTo) > Date.now() + DAY_MS;
  } catch {
    return false;
  }
}

function readIfFresh(file: string): { cert: string; key: string } | undefined {
  try {
    const pair = pemBlocks(readFileSync(file, 'utf8'));
    return fresh(pair.cert) ? pair : undefined;
  } catch {
    return undefined;
  }
}

async function makeCa(dir: string, name: string): Promise<void> {
  await run(
    [
      'req',
      '-x509',
      '-new',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      `/CN=kubelet-ts-${name}`,
    ],
    dir,
  );
}

/** Signs a new pair with the CA in `caDir`; returns the combined PEM. */
async function signLeaf(workDir: string, caDir: string, caName: string, subject: string, ext: string): Promise<string> {
  const base = `leaf-${randomBytes(6).toString('hex')}`;
  writeFileSync(join(workDir, `${base}.ext`), ext);
  await run(['req', '-new', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject], workDir);
  await run(
    [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      join(caDir, `${caName}.crt`),
      '-CAkey',
      join(caDir, `${caName}.key`),
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '825',
      '-out',
      `${base}.crt`,
      '-extfile',
      `${base}.ext`,
    ],
    workDir,
  );
  const pem = readFileSync(join(workDir, `${base}.crt`), 'utf8') + readFileSync(join(workDir, `${base}.key`), 'utf8');
  for (const ext of ['ext', 'key', 'csr', 'crt']) rmSync(join(workDir, `${base}.${ext}`), { force: true });
  return pem;
}

function cacheUsable(): boolean {
  if (!existsSync(join(CACHE, 'ca.key')) || !existsSync(join(CACHE, 'clients'))) return false;
  try {
    return (
      fresh(readFileSync(join(CACHE, 'ca.crt'), 'utf8')) && readIfFresh(join(CACHE, 'apiserver.pem')) !== undefined
    );
  } catch {
    return false;
  }
}

/** The shared cache directory with a usable CA and serving pair, created if needed. */
async function ensureCache(): Promise<void> {
  if (cacheUsable()) return;
  const tmp = mkdtempSync(`${CACHE}.tmp-`);
  try {
    await makeCa(tmp, 'ca');
    writeFileSync(join(tmp, 'apiserver.pem'), await signLeaf(tmp, tmp, 'ca', '/CN=kube-apiserver', SERVER_EXT));
    mkdirSync(join(tmp, 'clients'));
    if (!cacheUsable()) {
      rmSync(CACHE, { recursive: true, force: true });
      renameSync(tmp, CACHE);
    }
  } catch (e) {
    // another process published a cache meanwhile: use it
    if (!cacheUsable()) throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

let pkiPromise: Promise<Pki> | undefined;

/** The process-wide PKI (from the cache, generated on first use). */
export function getPki(): Promise<Pki> {
  pkiPromise ??= createPki();
  return pkiPromise;
}

async function createPki(): Promise<Pki> {
  await ensureCache();
  const dir = mkdtempSync(join(tmpdir(), 'kubelet-ts-apiserver-pki-'));
  process.once('exit', () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  });
  const ca = readFileSync(join(CACHE, 'ca.crt'), 'utf8');
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca);
  let seq = 0;
  const materialize = (pair: { cert: string; key: string }, name: string): CertPair => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(certFile, pair.cert);
    writeFileSync(keyFile, pair.key, { mode: 0o600 });
    return { certFile, keyFile, cert: pair.cert, key: pair.key };
  };
  const serving = materialize(pemBlocks(readFileSync(join(CACHE, 'apiserver.pem'), 'utf8')), 'apiserver');
  const clients = new Map<string, Promise<CertPair>>();
  let otherCa: Promise<string> | undefined;
  return {
    dir,
    caFile,
    ca,
    caKey: readFileSync(join(CACHE, 'ca.key'), 'utf8'),
    serving,
    client(user, groups) {
      const id = createHash('sha256')
        .update(JSON.stringify([user, groups]))
        .digest('hex')
        .slice(0, 20);
      let p = clients.get(id);
      if (!p) {
        p = (async () => {
          const shared = join(CACHE, 'clients', `${id}.pem`);
          let pair = readIfFresh(shared);
          if (!pair) {
            const pem = await signLeaf(dir, CACHE, 'ca', subj(user, groups), CLIENT_EXT);
            const tmp = `${shared}.tmp-${randomBytes(6).toString('hex')}`;
            writeFileSync(tmp, pem, { mode: 0o600 });
            renameSync(tmp, shared);
            pair = pemBlocks(pem);
          }
          return materialize(pair, `client-${++seq}`);
        })();
        clients.set(id, p);
      }
      return p;
    },
    async untrustedClient(user, groups) {
      otherCa ??= (async () => {
        const d = join(dir, 'other-ca');
        mkdirSync(d);
        await makeCa(d, 'ca');
        return d;
      })();
      const caDir = await otherCa;
      return materialize(
        pemBlocks(await signLeaf(dir, caDir, 'ca', subj(user, groups), CLIENT_EXT)),
        `untrusted-${++seq}`,
      );
    },
  };
}
