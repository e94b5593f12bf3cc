/**
 * client-go's certificate FileStore (util/certificate/certificate_store.go) as the kubelet lays it
 * out in --cert-dir: each issued pair is written, certificate then key, to
 * `<prefix>-<YYYY-MM-DD-HH-MM-SS>.pem` (mode 0600), and `<prefix>-current.pem` is a symlink to
 * the newest one. The switch is atomic: a `<prefix>-updated.pem` symlink is made first and
 * renamed over `-current`, so a reader (the kube client, the serving listener) sees the old
 * pair or the new one, never none. A `-current.pem` that is a regular file is left alone and
 * refused, as upstream refuses it.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** A certificate (chain) and its key, with the leaf's validity. */
export interface CertPair {
  certPem: string;
  keyPem: string;
  notBeforeMs: number;
  notAfterMs: number;
  /** The leaf's subject as node:crypto prints it ("O=system:nodes\nCN=system:node:n1"). */
  subject: string;
  /** The file it was read from (the dated file behind -current). */
  file: string;
}

export interface CertStore {
  /** `<dir>/<prefix>-current.pem`: what kubeconfigs and listeners point at. */
  readonly currentPath: string;
  /** The current pair, or undefined when there is none; throws when it exists but cannot be used. */
  current(): CertPair | undefined;
  /** Writes a new dated pair and makes it current; returns it. */
  update(certPem: string, keyPem: string): CertPair;
}

const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;
const KEY_RE = /-----BEGIN (?:EC |RSA |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |RSA |)PRIVATE KEY-----\n?/;

/** Parses a combined PEM (certificates then key) and checks that the key is the leaf's. */
export function parsePair(text: string, file: string): CertPair {
  const certs = text.match(CERT_RE);
  const key = KEY_RE.exec(text)?.[0];
  if (!certs?.length) throw new Error(`${file}: no certificate`);
  if (!key) throw new Error(`${file}: no private key`);
  const leaf = new X509Certificate(certs[0]!);
  const pub = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' });
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(pub))
    throw new Error(`${file}: the private key does not match the certificate`);
  return {
    certPem: certs.join(''),
    keyPem: key,
    file,
    notBeforeMs: Date.parse(leaf.validFrom),
    notAfterMs: Date.parse(leaf.validTo),
    subject: leaf.subject,
  };
}

/** Go's "2006-01-02-15-04-05" of `ms`, UTC. */
export function pairTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace(/[T:]/g, '-');
}

export function createCertStore(dir: string, prefix: string, now: () => number): CertStore {
  const currentPath = join(dir, `${prefix}-current.pem`);
  const updatedPath = join(dir, `${prefix}-updated.pem`);
  return {
    currentPath,
    current() {
      let text: string;
      try {
        text = readFileSync(currentPath, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`certificate store ${currentPath}: ${(e as Error).message}`);
      }
      let file = currentPath;
      try {
        file = realpathSync(currentPath);
      } catch {
        // replaced meanwhile: name the link
      }
      return parsePair(text, file);
    },
    update(certPem, keyPem) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      try {
        if (!lstatSync(currentPath).isSymbolicLink()) {
          throw new Error(`certificate store: ${currentPath} exists and is not a symlink: not replacing it`);
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const body = `${certPem.trimEnd()}\n${keyPem.trimEnd()}\n`;
      let file = join(dir, `${prefix}-${pairTimestamp(now())}.pem`);
      // two rotations within a second (a spec's short certificates) must not overwrite the current file
      for (let i = 1; exists(file); i++) file = join(dir, `${prefix}-${pairTimestamp(now())}.${i}.pem`);
      const pair = parsePair(body, file);
      writeFileSync(file, body, { mode: 0o600 });
      rmSync(updatedPath, { force: true });
      symlinkSync(file, updatedPath);
      renameSync(updatedPath, currentPath);
      return pair;
    },
  };
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
