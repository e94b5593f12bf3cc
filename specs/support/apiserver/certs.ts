/**
 * The stand-in's PKI, made with the `openssl` CLI once per process and kept in a private temp
 * directory (removed at exit): a CA, a serving certificate for 127.0.0.1/localhost, and client
 * certificates on demand (CN = user, O = groups), all ECDSA P-256 so generation is quick.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  caFile: string;
  ca: string;
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

function subj(cn: string, orgs: string[]): string {
  const esc = (v: string): string => v.replace(/([/=+,\\])/g, '\\$1');
  return `${orgs.map((o) => `/O=${esc(o)}`).join('')}/CN=${esc(cn)}`;
}

async function makeCa(dir: string, name: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run(['req', '-x509', '-new', ...EC, '-keyout', keyFile, '-out', certFile, '-days', '3650', '-subj', `/CN=${name}`], dir);
  return { certFile, keyFile };
}

async function signLeaf(
  dir: string, ca: { certFile: string; keyFile: string }, base: string, subject: string, ext: string,
): Promise<CertPair> {
  const keyFile = join(dir, `${base}.key`);
  const csr = join(dir, `${base}.csr`);
  const certFile = join(dir, `${base}.crt`);
  const extFile = join(dir, `${base}.ext`);
  writeFileSync(extFile, ext);
  await run(['req', '-new', ...EC, '-keyout', keyFile, '-out', csr, '-subj', subject], dir);
  await run([
    'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '365', '-out', certFile, '-extfile', extFile,
  ], dir);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
const SERVER_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';

let pkiPromise: Promise<Pki> | undefined;

/** The process-wide PKI (generated on first use). */
export function getPki(): Promise<Pki> {
  pkiPromise ??= createPki();
  return pkiPromise;
}

async function createPki(): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), 'kubelet-ts-apiserver-pki-'));
  process.once('exit', () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  });
  const ca = await makeCa(dir, 'ca');
  const serving = await signLeaf(dir, ca, 'apiserver', '/CN=kube-apiserver', SERVER_EXT);
  const clients = new Map<string, Promise<CertPair>>();
  let otherCa: Promise<{ certFile: string; keyFile: string }> | undefined;
  let seq = 0;
  return {
    dir,
    caFile: ca.certFile,
    ca: readFileSync(ca.certFile, 'utf8'),
    serving,
    client(user, groups) {
      const k = JSON.stringify([user, groups]);
      let p = clients.get(k);
      if (!p) {
        p = signLeaf(dir, ca, `client-${++seq}`, subj(user, groups), CLIENT_EXT);
        clients.set(k, p);
      }
      return p;
    },
    async untrustedClient(user, groups) {
      otherCa ??= makeCa(dir, 'other-ca');
      return signLeaf(dir, await otherCa, `untrusted-${++seq}`, subj(user, groups), CLIENT_EXT);
    },
  };
}
