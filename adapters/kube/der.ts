/**
 * The few pieces of ASN.1 DER (X.690) a PKCS#10 certificate request and an X.509 certificate are
 * made of: enough to build the kubelet's CSR with node:crypto alone (adapters/kube/csr.ts) and for
 * the API server stand-in's signer to read it back and issue a certificate. Definite lengths
 * only, as DER requires; no BER, no indefinite forms, no tags above 30.
 */

/** A tag-length-value with `tag` (class and constructed bits included) around `content`. */
export function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) {
    len = Buffer.from([n]);
  } else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
/** A SET OF, its elements sorted by their encoding as DER wants. */
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
export const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
/** A context-specific tag [n], constructed (EXPLICIT, or an IMPLICIT SET/SEQUENCE). */
export const ctx = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);
/** A context-specific primitive [n] (IMPLICIT over a primitive type, e.g. a GeneralName). */
export const ctxPrim = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** A non-negative INTEGER from a big-endian magnitude (a leading 0 added when the top bit is set). */
export function uint(v: number | Buffer): Buffer {
  let hex = typeof v === 'number' ? v.toString(16) : '';
  if (hex.length % 2) hex = `0${hex}`;
  let b = typeof v === 'number' ? Buffer.from(hex, 'hex') : v;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  b = b.subarray(i);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

/** A BIT STRING of whole bytes (0 unused bits). */
export const bits = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isInteger(a) || a < 0)) throw new Error(`invalid OID ${dotted}`);
  const out: number[] = [];
  const push = (v: number): void => {
    const b: number[] = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Buffer.from(out));
}

/** The dotted form of an OBJECT IDENTIFIER's content. */
export function oidText(content: Buffer): string {
  const arcs: number[] = [];
  let v = 0;
  for (const byte of content) {
    v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(Math.min(2, Math.floor(v / 40)), v - Math.min(2, Math.floor(v / 40)) * 40);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/**
 * A KeyUsage BIT STRING: `bitsSet` are bit numbers (0 = digitalSignature, 2 = keyEncipherment,
 * 5 = keyCertSign), trailing zero bits dropped as DER wants.
 */
export function keyUsageBits(bitsSet: number[]): Buffer {
  const max = Math.max(...bitsSet);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bitsSet) bytes[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  const unused = 7 - (max % 8);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}

/** UTCTime (years 1950–2049) or GeneralizedTime after, at whole seconds, as RFC 5280 wants. */
export function time(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-12-07T23:40:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = Number(iso.slice(0, 4));
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${digits}Z`));
}

/** One decoded element: its tag, content, and the whole encoding (tag and length included). */
export interface Der {
  tag: number;
  content: Buffer;
  raw: Buffer;
}

/** The element at the start of `b` (throws on a truncated or non-DER length). */
export function read(b: Buffer, at = 0): Der {
  if (at + 2 > b.length) throw new Error('DER: truncated');
  const tag = b[at]!;
  let len = b[at + 1]!;
  let off = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length form');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[off + i]!;
    off += n;
  }
  if (off + len > b.length) throw new Error('DER: truncated');
  return { tag, content: b.subarray(off, off + len), raw: b.subarray(at, off + len) };
}

/** The elements of a constructed element's content, in order. */
export function children(content: Buffer): Der[] {
  const out: Der[] = [];
  for (let at = 0; at < content.length; ) {
    const d = read(content, at);
    out.push(d);
    at += d.raw.length;
  }
  return out;
}
