/**
 * What a recording (`--record`) must never hold, and the one function that takes it out of a
 * record: every recorded input, CRI call and answer, API write and answer, and the header pass
 * through `redactSecrets` (kernel/recorder.ts), and replay compares the replayed decisions through
 * it too (replay/replay.ts normalizeArgs), so the kubelet's decisions still compare equal.
 *
 * Replaced by REDACTED, wherever they sit in a record (the shapes, not the message types, are
 * recognised, so a new message carrying a pod is covered without a change here):
 *   - env values: a v1 EnvVar's `value` (an array under `env`: pod specs in config inputs, pod
 *     workers' and mirror pods' copies) and a CRI KeyValue's `value` under `envs`
 *     (CreateContainer: values resolved from Secrets, ConfigMaps and the downward API alike);
 *   - the same values where they get copied: command and args (the kubelet expands $(VAR) in
 *     them), annotation values (a pod's annotations are copied onto its sandbox), messages
 *     (events, statuses) — in the same record, and with the recorder's `learned` set in every
 *     later record of the session — when at least MIN_SCRUB characters long (a shorter value
 *     would match by accident: `1` in `sleep 10`). Not elsewhere: an env value that names the
 *     image must not rewrite the image the replayed kubelet pulls;
 *   - the annotation kubectl.kubernetes.io/last-applied-configuration (a whole object, env
 *     values included), also in a CRI sandbox's annotations;
 *   - Secret and ConfigMap contents: the values of `data`, `stringData` and `binaryData` (keys
 *     stay: which key a pod uses is not a secret);
 *   - the files of a volume (adapters/volumes' VolumeFile: `{ path, content, mode }`, what the
 *     atomic writer is handed): the content (a Buffer or a string), path and mode kept;
 *   - credentials by field name: a registry AuthConfig's password / auth / identityToken /
 *     registryToken, a token (TokenRequest status, projected service account token), a
 *     bearerToken, an Authorization header, a kubeconfig's client-key-data, the values of
 *     `--manifest-url-header` (the header's flags; names stay), the password of a URL
 *     (`https://user:password@host/`, in any string).
 *
 * Pure, deterministic (always the same placeholder) and idempotent (a redacted record redacts to
 * itself). The input is never modified: what changed is copied, the rest is shared.
 */

export const REDACTED = '<redacted>';

/** Env values shorter than this are not searched for in the record's other strings. */
export const MIN_SCRUB = 6;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Field names (lower case) whose string value, or list of strings, is a credential. */
const CREDENTIAL_FIELDS = new Set([
  'password',
  'auth',
  'identitytoken',
  'registrytoken',
  'token',
  'bearertoken',
  'authorization',
  'client-key-data',
  'clientkeydata',
]);

/** Maps of header name → values: every value is a credential (bearer tokens, basic auth). */
const HEADER_MAPS = new Set(['manifestUrlHeader', 'headers']);

/** Secret / ConfigMap contents; the map's values are replaced, its keys kept. */
const DATA_FIELDS = new Set(['stringData', 'binaryData']);

/** `scheme://user:password@`: the password of a URL (a --manifest-url with basic auth). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*:)[^\s/?#@]+@/gi;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  !(v instanceof Map) &&
  !(v instanceof Set) &&
  !ArrayBuffer.isView(v);

/** A string's replacement: REDACTED unless empty (nothing to hide, and upstream's '' is meaningful). */
const hide = (v: unknown): unknown =>
  typeof v === 'string' ? (v === '' ? v : REDACTED) : v === undefined || v === null ? v : REDACTED;

function hideValues(m: unknown): unknown {
  if (!isObj(m)) return m;
  let out: Obj | undefined;
  for (const [k, v] of Object.entries(m)) {
    const h = Array.isArray(v) ? v.map(hide) : hide(v);
    if (Array.isArray(v) ? (h as unknown[]).some((x, i) => x !== v[i]) : h !== v) (out ??= { ...m })[k] = h;
  }
  return out ?? m;
}

/** A Secret or a ConfigMap (also without `kind`, as list items come): its `data` is hidden. */
function isSecretLike(o: Obj): boolean {
  if (o.kind === 'Secret' || o.kind === 'ConfigMap') return true;
  return (
    o.kind === undefined &&
    isObj(o.metadata) &&
    isObj(o.data) &&
    Object.values(o.data).every((x) => typeof x === 'string')
  );
}

/** Env value arrays: v1 EnvVar (`env`, name/value) and CRI KeyValue (`envs`, key/value). */
function hideEnv(list: unknown, found: Set<string>): unknown {
  if (!Array.isArray(list)) return list;
  let out: unknown[] | undefined;
  list.forEach((e, i) => {
    if (!isObj(e) || typeof e.value !== 'string' || e.value === '' || e.value === REDACTED) return;
    found.add(e.value);
    (out ??= [...list])[i] = { ...e, value: REDACTED };
  });
  return out ?? list;
}

/**
 * Runs `fn` on an object or array not already being walked (a cyclic value is left as it is:
 * the recorder's JSON.stringify then reports it).
 */
function guarded(v: object, path: Set<object>, fn: () => unknown): unknown {
  if (path.has(v)) return v;
  path.add(v);
  try {
    return fn();
  } finally {
    path.delete(v);
  }
}

/** First pass: the structural rules; `found` collects the env values taken out. */
function structural(v: unknown, found: Set<string>, path = new Set<object>()): unknown {
  if (typeof v === 'string') return v.includes('@') ? v.replace(URL_USERINFO, `$1${REDACTED}@`) : v;
  if (v instanceof Map) return structural(Object.fromEntries(v), found, path);
  if (v instanceof Set) return structural([...v], found, path);
  if (Array.isArray(v)) {
    return guarded(v, path, () => {
      let out: unknown[] | undefined;
      v.forEach((x, i) => {
        const y = structural(x, found, path);
        if (y !== x) (out ??= [...v])[i] = y;
      });
      return out ?? v;
    });
  }
  if (!isObj(v)) return v;
  return guarded(v, path, () => structuralObj(v, found, path));
}

/** A volume's file as the atomic writer gets it: its content is a Secret's or a token. */
const isVolumeFile = (o: Obj): boolean =>
  typeof o.path === 'string' &&
  typeof o.mode === 'number' &&
  'content' in o &&
  (typeof o.content === 'string' || ArrayBuffer.isView(o.content));

function structuralObj(v: Obj, found: Set<string>, path: Set<object>): unknown {
  if (isVolumeFile(v) && v.content !== REDACTED) return { ...v, content: REDACTED };
  let out: Obj | undefined;
  const set = (k: string, y: unknown) => {
    if (y !== v[k]) (out ??= { ...v })[k] = y;
  };
  const secretLike = isSecretLike(v);
  for (const [k, x] of Object.entries(v)) {
    if (CREDENTIAL_FIELDS.has(k.toLowerCase()) && (typeof x === 'string' || Array.isArray(x))) {
      set(k, Array.isArray(x) ? x.map(hide) : hide(x));
    } else if (HEADER_MAPS.has(k) || DATA_FIELDS.has(k) || (k === 'data' && secretLike)) {
      set(k, hideValues(x));
    } else if ((k === 'env' || k === 'envs') && Array.isArray(x)) {
      set(k, structural(hideEnv(x, found), found, path));
    } else if (k === 'annotations' && isObj(x) && typeof x[LAST_APPLIED] === 'string' && x[LAST_APPLIED] !== REDACTED) {
      set(k, structural({ ...x, [LAST_APPLIED]: REDACTED }, found, path));
    } else {
      set(k, structural(x, found, path));
    }
  }
  return out ?? v;
}

/** Where a value taken out of `env` is looked for again (second pass). */
const COPY_LISTS = new Set(['command', 'args']);
const COPY_MAPS = new Set(['annotations']);
const COPY_STRINGS = new Set(['message', 'note']);

/** Replaces the copies of secrets in one string. */
type Scrubber = (s: string) => string;

const escapeRe = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One regular expression for all the values (longest first: a value containing another is
 * replaced whole), and a memo: a relist repeats the same strings thousands of times.
 */
function scrubberFor(values: readonly string[]): Scrubber {
  const re = new RegExp(
    [...values]
      .sort((a, b) => b.length - a.length)
      .map(escapeRe)
      .join('|'),
    'g',
  );
  const memo = new Map<string, string>();
  return (s) => {
    let r = memo.get(s);
    if (r === undefined) {
      r = s.replace(re, REDACTED);
      if (memo.size >= 50_000) memo.clear();
      memo.set(s, r);
    }
    return r;
  };
}

/** A list or map whose strings are copies: each string is searched, anything else walked on. */
function scrubAll(v: unknown, sc: Scrubber, path: Set<object>): unknown {
  if (typeof v === 'string') return sc(v);
  if (Array.isArray(v)) {
    return guarded(v, path, () => {
      const out = v.map((x) => (typeof x === 'string' ? sc(x) : scrub(x, sc, path)));
      return out.some((x, i) => x !== v[i]) ? out : v;
    });
  }
  if (!isObj(v)) return v;
  return guarded(v, path, () => {
    let out: Obj | undefined;
    for (const [k, x] of Object.entries(v)) {
      const y = typeof x === 'string' ? sc(x) : scrub(x, sc, path);
      if (y !== x) (out ??= { ...v })[k] = y;
    }
    return out ?? v;
  });
}

/** Second pass: the env values, where the kubelet or a person copies them (COPY_*). */
function scrub(v: unknown, sc: Scrubber, path = new Set<object>()): unknown {
  if (Array.isArray(v)) {
    return guarded(v, path, () => {
      let out: unknown[] | undefined;
      v.forEach((x, i) => {
        const y = scrub(x, sc, path);
        if (y !== x) (out ??= [...v])[i] = y;
      });
      return out ?? v;
    });
  }
  if (!isObj(v)) return v;
  return guarded(v, path, () => {
    let out: Obj | undefined;
    for (const [k, x] of Object.entries(v)) {
      const y =
        COPY_LISTS.has(k) || COPY_MAPS.has(k) || (COPY_STRINGS.has(k) && typeof x === 'string')
          ? scrubAll(x, sc, path)
          : scrub(x, sc, path);
      if (y !== x) (out ??= { ...v })[k] = y;
    }
    return out ?? v;
  });
}

/** At most this many env values are remembered across records (`learned`); then it starts over. */
export const MAX_LEARNED = 1000;

/**
 * `value` (a record, a call's arguments, an answer) with its secrets replaced by REDACTED.
 * `learned`, when given (the recorder's, one per session), collects the env values taken out,
 * so that a later record that repeats one (a sandbox's copy of the pod's annotations) has it
 * taken out too; without it (replay's comparison) only the record's own values are looked for.
 */
export function redactSecrets<T>(value: T, learned?: Set<string>): T {
  const found = new Set<string>();
  const out = structural(value, found);
  const long = [...found].filter((x) => x.length >= MIN_SCRUB);
  let sc: Scrubber | undefined;
  if (learned) {
    const fresh = long.filter((x) => !learned.has(x));
    if (fresh.length > 0) {
      if (learned.size + fresh.length > MAX_LEARNED) learned.clear();
      for (const x of fresh) learned.add(x);
      scrubbers.delete(learned);
    }
    if (learned.size > 0) {
      sc = scrubbers.get(learned);
      if (!sc) scrubbers.set(learned, (sc = scrubberFor([...learned])));
    }
  } else if (long.length > 0) {
    sc = scrubberFor(long);
  }
  return (sc ? scrub(out, sc) : out) as T;
}

/** The scrubber of a `learned` set, rebuilt when the set grows. */
const scrubbers = new WeakMap<Set<string>, Scrubber>();
