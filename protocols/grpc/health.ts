/**
 * grpc.health.v1 (the gRPC health checking protocol), wire-compatible and hand-encoded: the two
 * messages have one field each, so no .proto loader is needed.
 *
 *   service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }
 *   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
 */

export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';

export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatus = (typeof SERVING_STATUS)[number];

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

function readVarint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    if (i >= b.length) throw new Error('grpc.health.v1: truncated varint');
    const byte = b[i++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [v, i];
    shift += 7;
  }
}

/** Walks the fields of a message; `fn` gets (field number, wire type, varint value or bytes). */
function fields(b: Buffer, fn: (field: number, value: number | Buffer) => void): void {
  let i = 0;
  while (i < b.length) {
    const [key, j] = readVarint(b, i);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [v, k] = readVarint(b, j);
      fn(field, v);
      i = k;
    } else if (wire === 2) {
      const [len, k] = readVarint(b, j);
      fn(field, b.subarray(k, k + len));
      i = k + len;
    } else if (wire === 5) i = j + 4;
    else if (wire === 1) i = j + 8;
    else throw new Error(`grpc.health.v1: unsupported wire type ${wire}`);
  }
}

export function encodeHealthCheckRequest(r: { service: string }): Buffer {
  if (r.service === '') return Buffer.alloc(0);
  const s = Buffer.from(r.service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a, ...varint(s.length)]), s]);
}

export function decodeHealthCheckRequest(b: Buffer): { service: string } {
  let service = '';
  fields(b, (f, v) => {
    if (f === 1 && Buffer.isBuffer(v)) service = v.toString('utf8');
  });
  return { service };
}

export function encodeHealthCheckResponse(r: { status: ServingStatus }): Buffer {
  const n = SERVING_STATUS.indexOf(r.status);
  return n <= 0 ? Buffer.alloc(0) : Buffer.from([0x08, ...varint(n)]);
}

export function decodeHealthCheckResponse(b: Buffer): { status: ServingStatus } {
  let n = 0;
  fields(b, (f, v) => {
    if (f === 1 && typeof v === 'number') n = v;
  });
  return { status: SERVING_STATUS[n] ?? 'UNKNOWN' };
}
