/**
 * Container hashes in a redacted recording. The kubelet hashes a container's spec, env values
 * included (actors/runtime/labels.ts containerHash), into `io.kubernetes.container.hash`; a
 * recording holds redacted env values (protocols/redact.ts), so the replayed kubelet hashes the
 * redacted spec and would see every recorded container with env values as changed. And the real
 * hash, a 32-bit digest of the env values among the rest, would let anyone who reads the
 * recording test guesses of them.
 *
 * So the recorder writes, for every hash it knows, the hash of the redacted spec instead: it
 * learns the pair from each pod that passes through a record (a config input precedes every
 * container the kubelet creates for it). A hash seen before its pod (the first relist after a
 * restart lists containers of pods not yet received) is written as a token `<hash#N>`; when the
 * pod comes, the record that brought it carries `rehash: { "<hash#N>": H }`, and replay
 * (`restoreHashes`) puts H in place of the token throughout the session before it replays.
 */
import { ANNOTATION_CONTAINER_HASH } from '../protocols/cri/labels.ts';
import type { Container } from '../protocols/kube/pod.ts';
import { redactSecrets } from '../protocols/redact.ts';
import { containerHash } from '../actors/runtime/labels.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Fields that hold a container hash: the CRI annotation, and the runtime's parsed `hash`. */
const HASH_FIELDS = new Set([ANNOTATION_CONTAINER_HASH, 'hash']);

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

/** Walks `a` and its redacted twin `b` together, calling `pair` on each pod spec (an object with a containers list). */
function eachSpec(
  a: unknown,
  b: unknown,
  pair: (real: Container, redacted: Container) => void,
  path = new Set<unknown>(),
): void {
  if (path.has(a)) return; // a cyclic value: the recorder reports it when it serialises the record
  if (Array.isArray(a) && Array.isArray(b)) {
    path.add(a);
    a.forEach((x, i) => eachSpec(x, b[i], pair, path));
    path.delete(a);
    return;
  }
  if (a instanceof Map && isObj(b)) return eachSpec(Object.fromEntries(a), b, pair, path);
  if (!isObj(a) || !isObj(b)) return;
  if (Array.isArray(a.containers)) {
    for (const list of CONTAINER_LISTS) {
      const ra = a[list];
      const rb = b[list];
      if (!Array.isArray(ra) || !Array.isArray(rb)) continue;
      ra.forEach((c, i) => {
        if (isObj(c) && isObj(rb[i])) pair(c as unknown as Container, rb[i] as unknown as Container);
      });
    }
  }
  path.add(a);
  for (const k of Object.keys(a)) eachSpec(a[k], b[k], pair, path);
  path.delete(a);
}

function replaceHashes(v: unknown, swap: (h: string) => string, path = new Set<unknown>()): unknown {
  if (v === null || typeof v !== 'object' || path.has(v)) return v;
  path.add(v);
  try {
    return replaceIn(v, swap, path);
  } finally {
    path.delete(v);
  }
}

function replaceIn(v: unknown, swap: (h: string) => string, path: Set<unknown>): unknown {
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    v.forEach((x, i) => {
      const y = replaceHashes(x, swap, path);
      if (y !== x) (out ??= [...v])[i] = y;
    });
    return out ?? v;
  }
  if (!isObj(v)) return v;
  let out: Obj | undefined;
  for (const [k, x] of Object.entries(v)) {
    const y = HASH_FIELDS.has(k) && typeof x === 'string' ? swap(x) : replaceHashes(x, swap, path);
    if (y !== x) (out ??= { ...v })[k] = y;
  }
  return out ?? v;
}

/**
 * The recorder's `redact` (kernel/recorder.ts) for one session: protocols/redact.ts's
 * redactSecrets, with the env values it learned in this session, then the container hashes
 * rewritten over the redacted specs.
 */
export function recordRedaction(): (rec: Obj) => Obj {
  const learned = new Set<string>();
  const rewrite = containerHashRewrite();
  return (rec) => rewrite(rec, redactSecrets(rec, learned));
}

/** Hashes over redacted specs, for one session (the second half of recordRedaction). */
export function containerHashRewrite(): (original: Obj, redacted: Obj) => Obj {
  const known = new Map<string, string>(); // real hash → redacted spec's hash
  const tokens = new Map<string, string>(); // real hash → token written before its pod came
  const MAX = 100_000; // a bound on what a long session remembers
  let issued = 0;
  return (original, redacted) => {
    const rehash: Record<string, string> = {};
    eachSpec(original, redacted, (real, red) => {
      const h = containerHash(real);
      if (known.has(h)) return;
      if (known.size >= MAX) known.clear();
      known.set(h, containerHash(red));
      const t = tokens.get(h);
      if (t !== undefined) {
        rehash[t] = known.get(h)!;
        tokens.delete(h);
      }
    });
    const out = replaceHashes(redacted, (h) => {
      if (h.startsWith('<hash#')) return h;
      const k = known.get(h);
      if (k !== undefined) return k;
      let t = tokens.get(h);
      if (t === undefined) {
        if (tokens.size >= MAX) tokens.clear();
        tokens.set(h, (t = `<hash#${++issued}>`));
      }
      return t;
    }) as Obj;
    return Object.keys(rehash).length ? { ...out, rehash } : out;
  };
}

/**
 * A recording's tokens (`<hash#N>`) replaced by the hashes their session's later records give
 * them (`rehash`); tokens never given one (a container whose pod never came) stay. Sessions
 * start at each header that opens one.
 */
export function restoreHashes(records: readonly Obj[]): Obj[] {
  const out: Obj[] = [];
  let start = 0;
  const flush = (end: number) => {
    const map = new Map<string, string>();
    for (let i = start; i < end; i++) {
      const r = records[i]!.rehash;
      if (isObj(r)) for (const [t, h] of Object.entries(r)) if (typeof h === 'string') map.set(t, h);
    }
    for (let i = start; i < end; i++)
      out.push(map.size ? (replaceHashes(records[i], (h) => map.get(h) ?? h) as Obj) : records[i]!);
    start = end;
  };
  records.forEach((r, i) => {
    if (i > start && r.k === 'header' && r.continues !== true) flush(i);
  });
  flush(records.length);
  return out;
}
