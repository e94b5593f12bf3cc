/**
 * Static pod manifests as text → pods, shared by the file source (actors/pod-config: one Pod per
 * file) and the manifest URL source (actors/pod-source-http: a Pod or a v1 PodList per body).
 * Pure: no I/O, no clock (the caller passes `now`).
 *
 * The text is one YAML (or JSON, which is YAML) document, read with the 1.1 schema as upstream's
 * go-yaml v2 does (`defaultMode: 0644` is octal, `yes` is true), except that timestamps and
 * sexagesimal numbers stay strings: go-yaml hands upstream those as strings too, and
 * `creationTimestamp` must not become a Date. Several documents are refused (upstream silently
 * reads the first). Errors carry the line of the offending field where the YAML can give one.
 */
import { LineCounter, parseAllDocuments, isNode, isScalar, type Document } from 'yaml';
import type { Pod } from './pod.ts';
import { CONFIG_SEEN_ANNOTATION, canonicalJson, toStaticPod, type StaticPodOptions } from './static-pod.ts';
import { formatFieldError, parseFieldPath, type FieldError } from './validation.ts';

/** Upstream maxConfigLength: 10 MiB, for a manifest file or a manifest URL's body. */
export const MAX_MANIFEST_BYTES = 10 * 1024 * 1024;

/** Why a manifest text gave no pod: the field path if one is to blame, and the reason. */
export interface ManifestError {
  field?: string;
  reason: string;
}

export type ManifestDocument =
  | { kind: 'document'; raw: unknown; lineOf(field: string | undefined): number | undefined }
  /** Nothing but comments or whitespace. */
  | { kind: 'empty' }
  | { kind: 'error'; reason: string };

const YAML_OPTIONS = {
  version: '1.1' as const,
  customTags: (tags: unknown[]) =>
    tags.filter((t) => {
      const tag = t as { tag?: string; format?: string };
      return tag.tag !== 'tag:yaml.org,2002:timestamp' && tag.format !== 'TIME';
    }) as never,
};

function firstLine(msg: string): string {
  return msg
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .trim();
}

/** Line of the node at `field`, or of its nearest ancestor that exists in the document. */
function lineIn(doc: Document, lc: LineCounter, field: string | undefined): number | undefined {
  if (field === undefined) return undefined;
  const path = parseFieldPath(field);
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/**
 * The one document in `text`, as plain data. `holder` names what held it in the message about
 * several documents ("file holds 2 YAML documents: ...").
 */
export function parseManifestDocument(text: string, holder: string): ManifestDocument {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter: lc });
  if (!Array.isArray(docs)) return { kind: 'error', reason: 'cannot parse YAML' };
  for (const d of docs) {
    const e = d.errors[0];
    if (e) {
      const pos = e.linePos?.[0];
      return { kind: 'error', reason: `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${firstLine(e.message)}` };
    }
  }
  // A `---` with nothing after it yields a document holding a null scalar: not a document for us.
  const nonEmpty = docs.filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null));
  if (nonEmpty.length === 0) return { kind: 'empty' };
  if (nonEmpty.length > 1) {
    const second = nonEmpty[1]!.contents;
    const line = isNode(second) && second.range ? lc.linePos(second.range[0]).line : undefined;
    return {
      kind: 'error',
      reason: `${line ? `line ${line}: ` : ''}${holder} holds ${nonEmpty.length} YAML documents: a static pod manifest holds exactly one Pod`,
    };
  }
  const doc = nonEmpty[0]!;
  try {
    return { kind: 'document', raw: doc.toJS({ maxAliasCount: 100 }), lineOf: (field) => lineIn(doc, lc, field) };
  } catch (err) {
    return { kind: 'error', reason: firstLine((err as Error).message) };
  }
}

/** Field errors as one reason, each with its line (`line 7: spec.containers[0].image: Required value`). */
export function describeFieldErrors(
  errors: readonly FieldError[],
  lineOf: (field: string | undefined) => number | undefined,
): string {
  return errors
    .map((e) => {
      const line = lineOf(e.field || undefined);
      return `${line ? `line ${line}: ` : ''}${formatFieldError(e)}`;
    })
    .join('; ');
}

/** A document already read, as one static pod (the file source: one Pod per file). */
export function staticPodFromDocument(
  doc: Extract<ManifestDocument, { kind: 'document' }>,
  opts: StaticPodOptions,
): { pod: Pod } | ManifestError {
  const r = toStaticPod(doc.raw, opts);
  if ('pod' in r) return r;
  return {
    ...(r.errors[0]?.field ? { field: r.errors[0].field } : {}),
    reason: describeFieldErrors(r.errors, doc.lineOf),
  };
}

const key = (p: Pod) => `${p.metadata.namespace}/${p.metadata.name}`;

/**
 * A document already read, as the static pods it holds: a Pod, or a v1 PodList (the manifest
 * URL source, upstream http.go). Any refused item refuses the whole document, and so does a
 * second pod with the same namespace/name or UID.
 */
export function staticPodsFromDocument(
  doc: Extract<ManifestDocument, { kind: 'document' }>,
  opts: StaticPodOptions,
): { pods: Pod[] } | ManifestError {
  const raw = doc.raw as { kind?: unknown; apiVersion?: unknown; items?: unknown } | null;
  const kind = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw.kind : undefined;
  if (kind !== 'PodList') {
    if (kind !== undefined && kind !== 'Pod') {
      const line = doc.lineOf('kind');
      return {
        field: 'kind',
        reason: `${line ? `line ${line}: ` : ''}kind: Invalid value: ${JSON.stringify(kind)}: expected a Pod or a v1 PodList`,
      };
    }
    const one = staticPodFromDocument(doc, opts);
    return 'pod' in one ? { pods: [one.pod] } : one;
  }
  if (raw!.apiVersion !== 'v1') {
    const line = doc.lineOf('apiVersion');
    return {
      field: 'apiVersion',
      reason: `${line ? `line ${line}: ` : ''}apiVersion: Invalid value: ${JSON.stringify(raw!.apiVersion ?? '')}: a PodList must be apiVersion v1`,
    };
  }
  const items = raw!.items ?? [];
  if (!Array.isArray(items)) return { field: 'items', reason: 'items: Invalid value: a PodList holds a list of Pods' };
  const pods: Pod[] = [];
  const names = new Map<string, number>();
  const uids = new Map<string, number>();
  for (const [i, item] of items.entries()) {
    const prefix = `items[${i}].`;
    // upstream decodes PodList items without kind/apiVersion: a missing one is the list's own
    const typed =
      item !== null && typeof item === 'object' && !Array.isArray(item)
        ? { kind: 'Pod', apiVersion: 'v1', ...(item as Record<string, unknown>) }
        : item;
    const r = toStaticPod(typed, opts);
    if (!('pod' in r)) {
      const errors = r.errors.map((e) => ({ ...e, field: e.field ? `${prefix}${e.field}` : prefix.slice(0, -1) }));
      return { field: errors[0]!.field, reason: describeFieldErrors(errors, doc.lineOf) };
    }
    const dupOf = names.get(key(r.pod)) ?? uids.get(r.pod.metadata.uid);
    if (dupOf !== undefined) {
      const what = names.has(key(r.pod))
        ? `duplicate pod name ${JSON.stringify(r.pod.metadata.name)} in namespace ${JSON.stringify(r.pod.metadata.namespace)}`
        : `duplicate pod UID ${r.pod.metadata.uid}`;
      const line = doc.lineOf(`${prefix}metadata`);
      return {
        field: `${prefix}metadata`,
        reason: `${line ? `line ${line}: ` : ''}items[${i}]: ${what}: already defined by items[${dupOf}]`,
      };
    }
    names.set(key(r.pod), i);
    uids.set(r.pod.metadata.uid, i);
    pods.push(r.pod);
  }
  return { pods };
}

/**
 * What matters when a source re-reads a pod: everything but the first-seen time, so a pod read
 * again unchanged is no update (upstream checkAndUpdatePod).
 */
export function staticPodContent(p: Pod): string {
  const annotations = { ...(p.metadata.annotations ?? {}) };
  delete annotations[CONFIG_SEEN_ANNOTATION];
  return canonicalJson({ ...p, metadata: { ...p.metadata, annotations } });
}

/** An updated pod keeps the first-seen time of the pod it replaces (when that had one). */
export function keepFirstSeen(p: Pod, seen: string | undefined): Pod {
  if (seen === undefined) return p;
  return {
    ...p,
    metadata: { ...p.metadata, annotations: { ...(p.metadata.annotations ?? {}), [CONFIG_SEEN_ANNOTATION]: seen } },
  };
}
