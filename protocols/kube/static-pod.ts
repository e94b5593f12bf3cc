/**
 * What upstream's file and http sources do to a pod they read (pkg/kubelet/config/common.go
 * applyDefaults, and PodConfig's source/first-seen annotations), as one pure function:
 * parse → v1 defaults → static-pod rewrite → validate.
 *
 * The static-pod rewrite, as upstream:
 * - no `metadata.name` is refused before anything else ("name is needed for the pod");
 * - if the manifest has no `metadata.uid`, the UID is an md5 hex derived from the pod and where it
 *   came from (node name and file path, or the URL);
 * - the name gets `-<node name lowercased>` appended; the namespace defaults to `default`;
 * - `spec.nodeName` is the node; annotations `kubernetes.io/config.hash` (= UID),
 *   `kubernetes.io/config.source` and `kubernetes.io/config.seen` are set;
 * - file pods tolerate every NoExecute taint (`{operator: Exists, effect: NoExecute}`), so a
 *   node problem does not evict the control plane;
 * - `status.phase` is Pending.
 *
 * The UID cannot match upstream's bytes: Go hashes its in-memory object with a spew printer.
 * Ours is md5 over the canonical JSON (sorted keys, nulls dropped) of the document as read from
 * the file, then `host:<node>` and `file:<path>` (or `url:<url>`). Like upstream it ignores
 * formatting, comments and key order, and changes with the content, the node or the path.
 * Unlike upstream it hashes the document before defaulting, so a kubelet-ts upgrade that defaults
 * one more field does not change every static pod's UID (and restart the control plane).
 */
import { createHash } from 'node:crypto';
import { applyPodDefaults } from './defaults.ts';
import { dropNulls, type Pod, type Toleration } from './pod.ts';
import { parsePod, validatePod, type FieldError } from './validation.ts';

export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash';
export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source';
export const CONFIG_SEEN_ANNOTATION = 'kubernetes.io/config.seen';
export const CONFIG_MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export type StaticPodSource = 'file' | 'http';

export interface StaticPodOptions {
  nodeName: string;
  source: StaticPodSource;
  /** The manifest's file path (file) or URL (http): part of the UID, as upstream. */
  path: string;
  /** Clock time in ms, for `kubernetes.io/config.seen`. */
  now: number;
}

export type StaticPodResult = { pod: Pod } | { errors: FieldError[] };

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The UID of a static pod that does not carry one (see the file comment). */
export function staticPodUid(raw: unknown, opts: Pick<StaticPodOptions, 'nodeName' | 'source' | 'path'>): string {
  const h = createHash('md5');
  h.update(canonicalJson(dropNulls(raw)));
  if (opts.source === 'file') {
    h.update(`host:${opts.nodeName}`);
    h.update(`file:${opts.path}`);
  } else {
    h.update(`url:${opts.path}`);
  }
  return h.digest('hex');
}

/** Upstream's name for a static pod: unique among nodes. */
export function staticPodName(name: string, nodeName: string): string {
  return `${name}-${nodeName.toLowerCase()}`;
}

/**
 * Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed
 * (`2024-01-02T03:04:05.12Z`, `2024-01-02T03:04:05Z`), what kubetypes.Timestamp prints.
 */
export function rfc3339Nano(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.120Z
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/** helper.AddOrUpdateTolerationInPod: replace a toleration with the same key/operator/value/effect, else append. */
export function addOrUpdateToleration(tolerations: readonly Toleration[] | undefined, t: Toleration): Toleration[] {
  const same = (a: Toleration) =>
    (a.key ?? '') === (t.key ?? '') &&
    (a.operator ?? '') === (t.operator ?? '') &&
    (a.value ?? '') === (t.value ?? '') &&
    (a.effect ?? '') === (t.effect ?? '');
  const list = [...(tolerations ?? [])];
  const i = list.findIndex(same);
  if (i >= 0) list[i] = t;
  else list.push(t);
  return list;
}

function kindErrors(raw: unknown): FieldError[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return [{ field: '', type: 'Invalid', value: raw, message: 'expected a Pod object' }];
  }
  const r = raw as Record<string, unknown>;
  const errs: FieldError[] = [];
  if (r['kind'] === undefined || r['kind'] === '')
    errs.push({ field: 'kind', type: 'Required', message: "Object 'Kind' is missing" });
  else if (r['kind'] !== 'Pod')
    errs.push({ field: 'kind', type: 'Invalid', value: r['kind'], message: 'a static pod manifest must be a Pod' });
  if (r['apiVersion'] === undefined || r['apiVersion'] === '')
    errs.push({ field: 'apiVersion', type: 'Required', message: "Object 'apiVersion' is missing" });
  else if (r['apiVersion'] !== 'v1')
    errs.push({ field: 'apiVersion', type: 'Invalid', value: r['apiVersion'], message: 'a Pod must be apiVersion v1' });
  return errs;
}

/** A document read from a static source, made into the pod the kubelet runs (or every reason not to). */
export function toStaticPod(raw: unknown, opts: StaticPodOptions): StaticPodResult {
  const kind = kindErrors(raw);
  if (kind.length) return { errors: kind };
  const parsed = parsePod(raw);
  if (!parsed.ok) return { errors: parsed.errors };
  if (!parsed.pod.metadata.name) {
    return { errors: [{ field: 'metadata.name', type: 'Required', message: 'name is needed for the pod' }] };
  }
  const d = applyPodDefaults(parsed.pod);
  const uid = d.metadata.uid || staticPodUid(raw, opts);
  const pod: Pod = {
    ...d,
    metadata: {
      ...d.metadata,
      uid,
      name: staticPodName(d.metadata.name, opts.nodeName),
      namespace: d.metadata.namespace || 'default',
      annotations: {
        ...(d.metadata.annotations ?? {}),
        [CONFIG_HASH_ANNOTATION]: uid,
        [CONFIG_SOURCE_ANNOTATION]: opts.source,
        [CONFIG_SEEN_ANNOTATION]: rfc3339Nano(opts.now),
      },
    },
    spec: {
      ...d.spec,
      nodeName: opts.nodeName,
      ...(opts.source === 'file'
        ? { tolerations: addOrUpdateToleration(d.spec.tolerations, { operator: 'Exists', effect: 'NoExecute' }) }
        : {}),
    },
    status: { ...(d.status ?? {}), phase: 'Pending' },
  };
  const errors = validatePod(pod);
  return errors.length ? { errors } : { pod };
}
