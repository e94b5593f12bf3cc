/**
 * The kubelet's key pairs and PKCS#10 certificate requests, with node:crypto and the DER pieces of
 * der.ts (no X.509 library): an ECDSA P-256 key as upstream's keyutil makes it ("EC PRIVATE
 * KEY"), a request signed with ecdsa-with-SHA256 whose subject is O=<orgs> then CN (Go's pkix.Name
 * order), with DNS and IP subject alternative names in an extensionRequest attribute as
 * x509.CreateCertificateRequest puts them; and the CSR name the TLS bootstrap derives from the key
 * (bootstrap.go digestedName), so a restarted bootstrap finds its own pending request again.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bits, children, ctx, ctxPrim, octets, oid, read, seq, set, uint, utf8 } from './der.ts';

const OID_ORG = '2.5.4.10';
const OID_CN = '2.5.4.3';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SAN = '2.5.29.17';

export interface CsrSubject {
  commonName: string;
  organizations: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
}

/** A new ECDSA P-256 private key, PEM ("EC PRIVATE KEY", SEC 1). */
export function generateEcKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'sec1', format: 'pem' }) as string;
}

/** An X.501 Name: one RDN per organization, then the common name. */
export function nameDer(commonName: string, organizations: string[]): Buffer {
  const rdn = (type: string, value: string) => set(seq(oid(type), utf8(value)));
  return seq(...organizations.map((o) => rdn(OID_ORG, o)), rdn(OID_CN, commonName));
}

/** An IP address's bytes (4 or 16), for an iPAddress GeneralName. */
export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  if (isIP(ip) !== 6) throw new Error(`not an IP address: ${ip}`);
  const [head, tail = ''] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  let h = groups(head);
  let t = groups(tail);
  // an embedded IPv4 tail (::ffff:1.2.3.4) is two groups
  const v4 = (g: string[]) => {
    const last = g[g.length - 1];
    if (last?.includes('.')) {
      const b = last.split('.').map(Number);
      g.splice(g.length - 1, 1, ((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16));
    }
    return g;
  };
  if (ip.includes('::')) t = v4(t);
  else h = v4(h);
  const all = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.concat(all.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

/** The SubjectAltName extension value: DNS names ([2]) and IP addresses ([7]). */
export function sanDer(dnsNames: string[], ipAddresses: string[]): Buffer {
  return seq(
    ...dnsNames.map((d) => ctxPrim(2, Buffer.from(d, 'ascii'))),
    ...ipAddresses.map((ip) => ctxPrim(7, ipBytes(ip))),
  );
}

/** The PEM "CERTIFICATE REQUEST" for `subject`, signed by `keyPem`. */
export function createCsrPem(keyPem: string, subject: CsrSubject): string {
  const key: KeyObject = createPrivateKey(keyPem);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const dns = subject.dnsNames ?? [];
  const ips = subject.ipAddresses ?? [];
  const attributes =
    dns.length || ips.length
      ? ctx(0, seq(oid(OID_EXTENSION_REQUEST), set(seq(seq(oid(OID_SAN), octets(sanDer(dns, ips))))))) // [0] IMPLICIT SET OF Attribute
      : ctx(0, Buffer.alloc(0));
  const info = seq(uint(0), nameDer(subject.commonName, subject.organizations), spki, attributes);
  const signature = sign('sha256', info, key); // DER Ecdsa-Sig-Value
  const der = seq(info, seq(oid(OID_ECDSA_SHA256)), bits(signature));
  return pem('CERTIFICATE REQUEST', der);
}

/** PEM armour around DER. */
export function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The DER inside the first PEM block labelled `label`. */
export function pemDer(text: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(text);
  if (!m) throw new Error(`no ${label} PEM block`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/**
 * bootstrap.go digestedName: "node-csr-" and the unpadded base64url SHA-512/256 of the public key,
 * the subject and the usages, each base64url-encoded and '|'-terminated so no two inputs collide.
 */
export function digestedCsrName(
  keyPem: string,
  commonName: string,
  organizations: string[],
  usages: readonly string[],
): string {
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  const h = createHash('sha512-256');
  const write = (b: Buffer) => {
    h.update(b.toString('base64url'));
    h.update('|');
  };
  write(spki);
  write(Buffer.from(commonName));
  for (const o of organizations) write(Buffer.from(o));
  for (const u of usages) write(Buffer.from(u));
  return `node-csr-${h.digest('base64url')}`;
}

/** The subject public key of a PEM CSR (for checking that a found CSR is ours). */
export function csrPublicKeyDer(csrPem: string): Buffer {
  const [info] = children(read(pemDer(csrPem, 'CERTIFICATE REQUEST')).content);
  return children(info!.content)[2]!.raw;
}
