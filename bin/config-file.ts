/**
 * `--config FILE`: a KubeletConfiguration (kubelet.config.k8s.io/v1beta1), YAML or JSON, loaded
 * as upstream's kubelet loads it (cmd/kubelet/app/server.go loadConfigFile, then
 * kubeletConfigFlagPrecedence):
 *
 * - precedence: defaults < the file < flags given on the command line (the command line is parsed
 *   again over the loaded file; a repeatable flag's first use replaces the file's map);
 * - v1beta1 defaulting: a field left at its Go zero value (`maxPods: 0`, `syncFrequency: "0s"`,
 *   `""`) takes the default, except the pointer fields (`kubeAPIQPS`, `eventRecordQPS`,
 *   `registerNode`, `resolvConf`) where an explicit 0/false/"" is kept;
 *   `nodeStatusReportFrequency` defaults to `nodeStatusUpdateFrequency` when only that one is set;
 *   `evictionHard`, when given, replaces the default thresholds unless
 *   `mergeDefaultEvictionSettings: true`;
 * - relative paths (`staticPodPath`, `podLogsDir`, `resolvConf`, and our `record.path`) are
 *   relative to the file's directory (KubeletConfigurationPathRefs);
 * - lenient decoding: an unknown or duplicated field is a warning naming it (upstream: "using
 *   lenient decoding as strict decoding failed"), and loading carries on; a file that does not
 *   parse, a wrong kind/apiVersion or a field of the wrong type is an error naming the file, the
 *   line and the field.
 *
 * `authentication` (x509.clientCAFile, webhook.enabled/cacheTTL, anonymous.enabled) and
 * `authorization` (mode, webhook.cacheAuthorizedTTL/cacheUnauthorizedTTL) map onto their flags
 * (a relative clientCAFile is relative to the file too). Upstream fields that kubelet-ts does not
 * implement (cpuManagerPolicy, tlsCurvePreferences, ...) are accepted and listed as ignored. One kubelet-ts extension: `record: {path, maxBytes}`,
 * the file form of --record / --record-max-bytes (upstream would warn about it as unknown).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { z } from 'zod';
import { parseVModule, type Logger } from '../kernel/log.ts';
import { parseQuantity } from '../protocols/kube/quantity.ts';
import { formatFieldError, type FieldErrorType } from '../protocols/kube/validation.ts';
import { DEFAULT_FLAGS, parseDuration, parseFlags, taintProblems, type KubeletFlags } from './flags.ts';

export const KUBELET_CONFIG_KIND = 'KubeletConfiguration';
export const KUBELET_CONFIG_API_VERSION = 'kubelet.config.k8s.io/v1beta1';

/** The file cannot be used: the daemon exits 1 before any actor starts. */
export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
}

/** How a field is typed upstream and read here. */
type FieldType =
  | 'string'
  | 'path'
  | 'pathptr'
  | 'strings'
  | 'url'
  | 'duration'
  | 'int32'
  | 'int32ptr'
  | 'bool'
  | 'boolptr'
  | 'quantities'
  | 'thresholds'
  | 'headers'
  | 'taints';

export interface MappedField {
  /** The v1beta1 JSON name. */
  field: string;
  key: keyof KubeletFlags;
  type: FieldType;
}

/** Every v1beta1 field that has a kubelet-ts flag (the flag: FLAGS entry with the same key). */
export const CONFIG_FIELDS: readonly MappedField[] = [
  { field: 'staticPodPath', key: 'podManifestPath', type: 'path' },
  { field: 'staticPodURL', key: 'manifestUrl', type: 'url' },
  { field: 'staticPodURLHeader', key: 'manifestUrlHeader', type: 'headers' },
  { field: 'fileCheckFrequency', key: 'fileCheckFrequencyMs', type: 'duration' },
  { field: 'httpCheckFrequency', key: 'httpCheckFrequencyMs', type: 'duration' },
  { field: 'syncFrequency', key: 'syncFrequencyMs', type: 'duration' },
  { field: 'runtimeRequestTimeout', key: 'runtimeRequestTimeoutMs', type: 'duration' },
  { field: 'containerRuntimeEndpoint', key: 'containerRuntimeEndpoint', type: 'string' },
  { field: 'podLogsDir', key: 'podLogsDir', type: 'path' },
  { field: 'nodeStatusUpdateFrequency', key: 'nodeStatusUpdateFrequencyMs', type: 'duration' },
  { field: 'nodeStatusReportFrequency', key: 'nodeStatusReportFrequencyMs', type: 'duration' },
  { field: 'registerNode', key: 'registerNode', type: 'boolptr' },
  { field: 'rotateCertificates', key: 'rotateCertificates', type: 'boolptr' },
  { field: 'maxPods', key: 'maxPods', type: 'int32' },
  { field: 'kubeAPIQPS', key: 'kubeApiQps', type: 'int32ptr' },
  { field: 'kubeAPIBurst', key: 'kubeApiBurst', type: 'int32' },
  { field: 'eventRecordQPS', key: 'eventQps', type: 'int32ptr' },
  { field: 'eventBurst', key: 'eventBurst', type: 'int32' },
  { field: 'kubeReserved', key: 'kubeReserved', type: 'quantities' },
  { field: 'systemReserved', key: 'systemReserved', type: 'quantities' },
  { field: 'evictionHard', key: 'evictionHard', type: 'thresholds' },
  { field: 'evictionPressureTransitionPeriod', key: 'evictionPressureTransitionPeriodMs', type: 'duration' },
  { field: 'clusterDNS', key: 'clusterDns', type: 'strings' },
  { field: 'clusterDomain', key: 'clusterDomain', type: 'string' },
  // a pointer upstream: an explicit "" (no resolver file) is kept, not defaulted
  { field: 'resolvConf', key: 'resolvConf', type: 'pathptr' },
  // a pointer upstream: an explicit 0 disables the healthz server
  { field: 'healthzPort', key: 'healthzPort', type: 'int32ptr' },
  { field: 'healthzBindAddress', key: 'healthzBindAddress', type: 'string' },
  { field: 'readOnlyPort', key: 'readOnlyPort', type: 'int32' },
  { field: 'address', key: 'address', type: 'string' },
  { field: 'providerID', key: 'providerId', type: 'string' },
  { field: 'registerWithTaints', key: 'registerWithTaints', type: 'taints' },
  { field: 'runOnce', key: 'runOnce', type: 'bool' },
  { field: 'serverTLSBootstrap', key: 'serverTlsBootstrap', type: 'bool' },
  { field: 'seccompDefault', key: 'seccompDefault', type: 'boolptr' },
  { field: 'allowedUnsafeSysctls', key: 'allowedUnsafeSysctls', type: 'strings' },
  { field: 'cgroupDriver', key: 'cgroupDriver', type: 'string' },
  { field: 'cgroupRoot', key: 'cgroupRoot', type: 'string' },
  // pointers upstream: an explicit false / 0 is kept
  { field: 'cgroupsPerQOS', key: 'cgroupsPerQos', type: 'boolptr' },
  { field: 'enforceNodeAllocatable', key: 'enforceNodeAllocatable', type: 'strings' },
  { field: 'imageGCHighThresholdPercent', key: 'imageGcHighThresholdPercent', type: 'int32ptr' },
  { field: 'imageGCLowThresholdPercent', key: 'imageGcLowThresholdPercent', type: 'int32ptr' },
  { field: 'imageMinimumGCAge', key: 'imageMinimumGcAgeMs', type: 'duration' },
  { field: 'imageMaximumGCAge', key: 'imageMaximumGcAgeMs', type: 'duration' },
  { field: 'shutdownGracePeriod', key: 'shutdownGracePeriodMs', type: 'duration' },
  { field: 'shutdownGracePeriodCriticalPods', key: 'shutdownGracePeriodCriticalPodsMs', type: 'duration' },
  { field: 'enableServer', key: 'enableServer', type: 'boolptr' },
  { field: 'port', key: 'port', type: 'int32' },
  { field: 'tlsCertFile', key: 'tlsCertFile', type: 'path' },
  { field: 'tlsPrivateKeyFile', key: 'tlsPrivateKeyFile', type: 'path' },
  { field: 'tlsMinVersion', key: 'tlsMinVersion', type: 'string' },
  { field: 'tlsCipherSuites', key: 'tlsCipherSuites', type: 'strings' },
];

/**
 * Mapped fields without a flag of their own: `logging.verbosity` (-v), `mergeDefaultEvictionSettings`
 * and `configMapAndSecretChangeDetectionStrategy`.
 */
const LOGGING_FIELDS = ['format', 'flushFrequency', 'verbosity', 'vmodule', 'options'];
const RECORD_FIELDS = ['path', 'maxBytes'];

const MAPPED = new Set([
  ...CONFIG_FIELDS.map((f) => f.field),
  'logging',
  'mergeDefaultEvictionSettings',
  'authentication',
  'authorization',
  'configMapAndSecretChangeDetectionStrategy',
]);
/** The nested fields of authentication and authorization, each with its flag. */
const AUTH_FIELDS: Record<'authentication' | 'authorization', Record<string, string[]>> = {
  authentication: { x509: ['clientCAFile'], webhook: ['enabled', 'cacheTTL'], anonymous: ['enabled'] },
  authorization: { mode: [], webhook: ['cacheAuthorizedTTL', 'cacheUnauthorizedTTL'] },
};
/** Map-valued fields: their keys print as `evictionHard[memory.available]`, as upstream's field paths do. */
const MAP_FIELDS = new Set(
  CONFIG_FIELDS.filter((f) => ['quantities', 'thresholds', 'headers'].includes(f.type)).map((f) => f.field),
);

// ---------------------------------------------------------------------------------------------
// the schema of the mapped fields (issue messages are the "expected ..." half of an error)

const expected = (what: string) => ({
  error: (iss: { code: string }) => (iss.code === 'too_big' ? `${what} that fits in an int32` : what),
});

const str = z.string(expected('expected a string'));
const int32 = z.int32(expected('expected an integer')).min(0, 'must not be a negative number');
const bool = z.boolean(expected('expected a boolean (true or false)'));
const duration = z.string(expected('expected a duration string such as "20s" or "1m0s"')).transform((s, ctx) => {
  try {
    return parseDuration(s);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'not a duration: use Go duration syntax such as "20s", "1m0s" or "500ms"',
    });
    return z.NEVER;
  }
});
const url = str.superRefine((s, ctx) => {
  if (s !== '' && !/^https?:\/\/[^/]/i.test(s))
    ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL' });
});
const quantity = z
  .string(expected('expected a quantity string such as "100m" or "256Mi" (quote numbers)'))
  .superRefine((s, ctx) => {
    const q = parseQuantity(s);
    if (!q.ok) ctx.addIssue({ code: 'custom', message: q.message });
    else if (q.value < 0) ctx.addIssue({ code: 'custom', message: 'must not be negative' });
  });
const threshold = z
  .string(expected('expected a quantity or a percentage string such as "100Mi" or "10%"'))
  .superRefine((s, ctx) => {
    if (s.endsWith('%')) {
      const p = Number(s.slice(0, -1));
      if (s.length < 2 || !Number.isFinite(p) || p < 0 || p > 100)
        ctx.addIssue({ code: 'custom', message: 'a percentage must be between 0% and 100%' });
      return;
    }
    const q = parseQuantity(s);
    if (!q.ok) ctx.addIssue({ code: 'custom', message: q.message });
  });
const map = <T extends z.ZodType>(value: T, what: string) => z.record(z.string(), value, expected(`expected ${what}`));
const taints = z.array(
  z
    .object(
      {
        key: str,
        value: str.optional(),
        effect: str,
        timeAdded: str.optional(),
      },
      expected('expected a taint {key, value, effect}'),
    )
    .superRefine((t, ctx) => {
      for (const message of taintProblems(t)) ctx.addIssue({ code: 'custom', message });
    }),
  expected('expected a list of taints'),
);

const TYPE_SCHEMAS: Record<FieldType, z.ZodType> = {
  string: str,
  path: str,
  pathptr: str,
  strings: z.array(str, expected('expected a list of strings')),
  url,
  duration,
  int32,
  int32ptr: int32,
  bool,
  boolptr: bool,
  taints,
  quantities: map(quantity, 'a map of resource name to quantity'),
  thresholds: map(threshold, 'a map of eviction signal to threshold'),
  headers: map(z.array(str, expected('expected a list of strings')), 'a map of header name to a list of values'),
};

const int64 = z.int(expected('expected an integer'));
const signed32 = z.int32(expected('expected an integer'));
/** A string among `values` (or "", v1beta1's unset, when `orEmpty`), as upstream's validation lists them. */
const oneOf = (values: readonly string[], orEmpty = false) =>
  str.superRefine((v, ctx) => {
    if (!(orEmpty && v === '') && !values.includes(v))
      ctx.addIssue({ code: 'custom', message: `supported values: "${values.join('", "')}"` });
  });
const obj = <S extends z.ZodRawShape>(shape: S) => z.object(shape, expected('expected a map'));
const strMap = map(str, 'a map of strings');
const boolMap = map(bool, 'a map of feature names to booleans');
/** logging.flushFrequency: a duration string, or an integer of nanoseconds (kubeadm writes 0). */
const durationOrNanos = z.union(
  [duration, z.int()],
  expected('expected a duration string such as "5s" or an integer of nanoseconds'),
);

/**
 * The other v1beta1 fields: valid upstream, not implemented by kubelet-ts. They are type-checked
 * as upstream decodes them (a wrong type is an error, as for any field) and then ignored, each
 * with one warning (reportConfigFile) unless it holds its zero value, which v1beta1 reads as unset.
 */
export const UNSUPPORTED_FIELDS: Readonly<Record<string, z.ZodType>> = {
  tlsCurvePreferences: z.array(signed32, expected('expected a list of integers')),
  registryPullQPS: int32,
  registryBurst: int32,
  imagePullCredentialsVerificationPolicy: oneOf(
    ['NeverVerify', 'NeverVerifyPreloadedImages', 'NeverVerifyAllowlistedImages', 'AlwaysVerify'],
    true,
  ),
  preloadedImagesVerificationAllowlist: z.array(str),
  enableDebuggingHandlers: bool,
  enableContentionProfiling: bool,
  oomScoreAdj: signed32.min(-1000, 'must be between -1000 and 1000').max(1000, 'must be between -1000 and 1000'),
  streamingConnectionIdleTimeout: duration,
  nodeLeaseDurationSeconds: int32,
  volumeStatsAggPeriod: duration,
  kubeletCgroups: str,
  systemCgroups: str,
  cpuManagerPolicy: str,
  singleProcessOOMKill: bool,
  cpuManagerPolicyOptions: strMap,
  cpuManagerReconcilePeriod: duration,
  draManagerReconcilePeriod: duration,
  memoryManagerPolicy: oneOf(['None', 'Static'], true),
  topologyManagerPolicy: oneOf(['none', 'best-effort', 'restricted', 'single-numa-node'], true),
  topologyManagerScope: oneOf(['container', 'pod'], true),
  topologyManagerPolicyOptions: strMap,
  qosReserved: strMap,
  hairpinMode: oneOf(['promiscuous-bridge', 'hairpin-veth', 'none'], true),
  podCIDR: str,
  podPidsLimit: int64,
  cpuCFSQuota: bool,
  cpuCFSQuotaPeriod: duration,
  nodeStatusMaxImages: signed32,
  maxOpenFiles: int64,
  contentType: str,
  serializeImagePulls: bool,
  maxParallelImagePulls: int32,
  evictionSoft: map(threshold, 'a map of eviction signal to threshold'),
  evictionSoftGracePeriod: strMap,
  evictionMaxPodGracePeriod: signed32,
  evictionMinimumReclaim: strMap,
  podsPerCore: int32,
  enableControllerAttachDetach: bool,
  protectKernelDefaults: bool,
  makeIPTablesUtilChains: bool,
  iptablesMasqueradeBit: int32,
  iptablesDropBit: int32,
  featureGates: boolMap,
  failSwapOn: bool,
  memorySwap: obj({ swapBehavior: str.optional() }),
  containerLogMaxSize: str,
  containerLogMaxFiles: int32,
  containerLogMaxWorkers: int32,
  containerLogMonitorInterval: duration,
  reservedSystemCPUs: str,
  showHiddenMetricsForVersion: str,
  systemReservedCgroup: str,
  kubeReservedCgroup: str,
  volumePluginDir: str,
  kernelMemcgNotification: bool,
  enableSystemLogHandler: bool,
  enableSystemLogQuery: bool,
  shutdownGracePeriodByPodPriority: z.array(
    obj({ priority: signed32, shutdownGracePeriodSeconds: int64 }),
    expected('expected a list'),
  ),
  crashLoopBackOff: obj({ maxContainerRestartPeriod: duration.optional() }),
  reservedMemory: z.array(
    obj({ numaNode: signed32, limits: map(quantity, 'a map of resource name to quantity') }),
    expected('expected a list'),
  ),
  enableProfilingHandler: bool,
  enableDebugFlagsHandler: bool,
  memoryThrottlingFactor: z.number(expected('expected a number')),
  memoryReservationPolicy: oneOf(['None', 'TieredReservation'], true),
  tracing: obj({ endpoint: str.optional(), samplingRatePerMillion: signed32.optional() }),
  localStorageCapacityIsolation: bool,
  imageServiceEndpoint: str,
  failCgroupV1: bool,
  userNamespaces: obj({ idsPerPod: int64.optional() }),
};

const ConfigSchema = z.object({
  ...Object.fromEntries(Object.entries(UNSUPPORTED_FIELDS).map(([k, v]) => [k, v.optional()])),
  ...Object.fromEntries(CONFIG_FIELDS.map((f) => [f.field, TYPE_SCHEMAS[f.type].optional()])),
  mergeDefaultEvictionSettings: bool.optional(),
  configMapAndSecretChangeDetectionStrategy: z
    .enum(['Watch', 'Cache', 'Get'], expected('expected one of Watch, Cache, Get'))
    .optional(),
  logging: z
    .object(
      {
        verbosity: int32.max(10, 'must be at most 10').optional(),
        format: oneOf(['text', 'json']).optional(),
        flushFrequency: durationOrNanos.optional(),
        vmodule: z
          .array(obj({ filePattern: str, verbosity: int32 }), expected('expected a list of {filePattern, verbosity}'))
          .optional(),
        options: obj({
          text: obj({
            splitStream: bool.optional(),
            infoBufferSize: z.union([quantity, z.int()]).optional(),
          }).optional(),
          json: obj({
            splitStream: bool.optional(),
            infoBufferSize: z.union([quantity, z.int()]).optional(),
          }).optional(),
        }).optional(),
      },
      expected('expected a map'),
    )
    .optional(),
  authentication: z
    .object(
      {
        x509: z.object({ clientCAFile: str.optional() }, expected('expected a map')).optional(),
        webhook: z
          .object({ enabled: bool.optional(), cacheTTL: duration.optional() }, expected('expected a map'))
          .optional(),
        anonymous: z.object({ enabled: bool.optional() }, expected('expected a map')).optional(),
      },
      expected('expected a map'),
    )
    .optional(),
  authorization: z
    .object(
      {
        mode: z
          .enum(['AlwaysAllow', 'Webhook'], { error: () => 'supported values: "AlwaysAllow", "Webhook"' })
          .optional(),
        webhook: z
          .object(
            { cacheAuthorizedTTL: duration.optional(), cacheUnauthorizedTTL: duration.optional() },
            expected('expected a map'),
          )
          .optional(),
      },
      expected('expected a map'),
    )
    .optional(),
  record: z
    .object(
      {
        path: str.optional(),
        maxBytes: z.int(expected('expected an integer')).min(0, 'must not be a negative number').optional(),
      },
      expected('expected a map'),
    )
    .optional(),
});
type ParsedFields = z.infer<typeof ConfigSchema> & Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// reading

export interface ConfigWarning {
  /** `fooBar`, `logging.colour` */
  field: string;
  line?: number;
  /** Upstream's strict-decoding wording: `unknown field "fooBar"`, `duplicate field "maxPods"`. */
  message: string;
}

export interface LoadedConfig {
  /** The path as given to --config. */
  path: string;
  /** Values the file sets (after v1beta1 defaulting of zero values), as flags. */
  values: Partial<KubeletFlags>;
  warnings: ConfigWarning[];
  /** Upstream fields present in the file that kubelet-ts does not implement. */
  ignored: string[];
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a timestamp';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const [i, seg] of path.entries()) {
    if (typeof seg === 'number' || (i > 0 && MAP_FIELDS.has(String(path[0])))) out += `[${String(seg)}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const seg of path)
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[seg] : undefined;
  return cur;
}

/** Line of the node at `path`, or of its nearest ancestor in the document. */
function lineIn(doc: Document, lc: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

function problem(
  line: number | undefined,
  field: string,
  type: FieldErrorType,
  value: unknown,
  message: string,
): string {
  return `${line ? `line ${line}: ` : ''}${formatFieldError({ field, type, value, message })}`;
}

/** Keys that appear twice in one map, anywhere in the document, as field paths. */
function duplicateKeys(doc: Document, lc: LineCounter): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  const walk = (node: unknown, path: string[]) => {
    if (!isMap(node)) return;
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const field = path.length ? fieldPath([...path, key]) : key;
      if (seen.has(key)) {
        const line = isNode(pair.key) && pair.key.range ? lc.linePos(pair.key.range[0]).line : undefined;
        out.push({ field, ...(line ? { line } : {}), message: `duplicate field "${field}"` });
      }
      seen.add(key);
      walk(pair.value, [...path, key]);
    }
  };
  walk(doc.contents, []);
  return out;
}

/** The first line of a YAML parser message, without its position (given separately). */
const firstLine = (msg: string) =>
  msg
    .split('\n')[0]!
    .replace(/ at line \d+, column \d+:?$/, '')
    .trim();

/**
 * A Go zero value, which v1beta1 reads as "unset" ("", 0, "0s", "0", false, empty lists and maps,
 * maps of zero values): kubeadm writes many such fields, and ignoring them changes nothing.
 */
/**
 * The logging fields kubelet-ts does not honour (set to a non-zero value): flushFrequency (lines
 * are written unbuffered) and options.{text,json}.infoBufferSize (no buffering either).
 */
function ignoredLogging(key: string, v: unknown): string[] {
  if (key === 'flushFrequency') return isZero(v) ? [] : ['logging.flushFrequency'];
  if (key !== 'options' || v === null || typeof v !== 'object' || Array.isArray(v)) return [];
  return Object.entries(v).flatMap(([format, o]) =>
    o !== null && typeof o === 'object' && !isZero((o as Record<string, unknown>).infoBufferSize)
      ? [`logging.options.${format}.infoBufferSize`]
      : [],
  );
}

function isZero(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === false || v === '0' || v === '0s') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v).every(isZero);
  return false;
}

/** Go's JSON decoder leaves a field unset for `null`: drop null-valued keys of an object. */
function withoutNulls(o: unknown): unknown {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return o;
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

/**
 * Parse a KubeletConfiguration's text (pure: no I/O). `path` names the file in errors and anchors
 * relative paths. Throws ConfigFileError with every problem found.
 */
export function parseKubeletConfig(text: string, path: string): LoadedConfig {
  const fail = (reasons: string[]): never => {
    throw new ConfigFileError(`failed to load kubelet config file ${path}: ${reasons.join('; ')}`);
  };
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', lineCounter: lc });
  if (!Array.isArray(docs)) return fail(['cannot parse YAML']);
  const syntax = docs.flatMap((d) => d.errors.filter((e) => e.code !== 'DUPLICATE_KEY'));
  if (syntax.length) {
    return fail(
      syntax.slice(0, 3).map((e) => {
        const pos = e.linePos?.[0];
        return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${firstLine(e.message)}`;
      }),
    );
  }
  const nonEmpty = docs.filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null));
  if (nonEmpty.length > 1)
    fail([
      `the file holds ${nonEmpty.length} YAML documents: a kubelet config file holds exactly one ${KUBELET_CONFIG_KIND}`,
    ]);
  const doc = nonEmpty[0];
  if (!doc)
    return fail([`the file is empty: expected a ${KUBELET_CONFIG_KIND} (apiVersion ${KUBELET_CONFIG_API_VERSION})`]);
  const line = (p: readonly PropertyKey[]) => lineIn(doc, lc, p);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail([firstLine((e as Error).message)]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fail([`expected a ${KUBELET_CONFIG_KIND} object, got ${describe(raw)}`]);
  }
  const obj = raw as Record<string, unknown>;

  // kind and apiVersion first: a file of another kind is not checked field by field
  const typeErrors: string[] = [];
  for (const [field, want] of [
    ['kind', KUBELET_CONFIG_KIND],
    ['apiVersion', KUBELET_CONFIG_API_VERSION],
  ] as const) {
    const got = obj[field];
    if (got === undefined || got === null || got === '')
      typeErrors.push(problem(undefined, field, 'Required', undefined, `expected "${want}"`));
    else if (got !== want)
      typeErrors.push(problem(line([field]), field, 'NotSupported', got, `supported values: "${want}"`));
  }
  if (typeErrors.length) fail(typeErrors);

  // lenient decoding: unknown and duplicated fields are warnings
  const warnings = duplicateKeys(doc, lc);
  const ignored: string[] = [];
  const unknown = (field: string, p: readonly PropertyKey[]) => {
    const l = line(p);
    warnings.push({ field, ...(l ? { line: l } : {}), message: `unknown field "${field}"` });
  };
  for (const key of Object.keys(obj)) {
    if (key === 'kind' || key === 'apiVersion' || MAPPED.has(key) || key === 'record') continue;
    if (key in UNSUPPORTED_FIELDS) {
      if (!isZero(obj[key])) ignored.push(key);
    } else unknown(key, [key]);
  }
  for (const parent of ['authentication', 'authorization'] as const) {
    const sub = obj[parent];
    if (sub === null || typeof sub !== 'object' || Array.isArray(sub)) continue;
    for (const [key, v] of Object.entries(sub)) {
      const known = AUTH_FIELDS[parent][key];
      if (!known) unknown(`${parent}.${key}`, [parent, key]);
      else if (known.length && v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const k of Object.keys(v)) if (!known.includes(k)) unknown(`${parent}.${key}.${k}`, [parent, key, k]);
      }
    }
  }
  for (const [parent, known] of [
    ['logging', LOGGING_FIELDS],
    ['record', RECORD_FIELDS],
  ] as const) {
    const sub = obj[parent];
    if (sub === null || typeof sub !== 'object' || Array.isArray(sub)) continue;
    for (const key of Object.keys(sub)) {
      if (!known.includes(key)) unknown(`${parent}.${key}`, [parent, key]);
      else if (parent === 'logging') ignored.push(...ignoredLogging(key, (sub as Record<string, unknown>)[key]));
    }
  }

  const input = Object.fromEntries(
    Object.entries(obj)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, k === 'logging' || k === 'record' ? withoutNulls(v) : v]),
  );
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const byLine = parsed.error.issues
      .map((issue) => ({ issue, at: line(issue.path) ?? 0 }))
      .sort((a, b) => a.at - b.at);
    fail(
      byLine.map(({ issue, at }) => {
        const value = valueAt(input, issue.path);
        const msg = issue.code === 'invalid_type' ? `${issue.message}, got ${describe(value)}` : issue.message;
        return problem(at, fieldPath(issue.path), 'Invalid', value, msg);
      }),
    );
  }
  const values = toFlagValues(parsed.data as ParsedFields, dirname(resolve(path)));
  return { path, values, warnings: warnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)), ignored };
}

/** The parsed fields as flag values, with v1beta1 defaulting of zero values. */
function toFlagValues(c: ParsedFields, dir: string): Partial<KubeletFlags> {
  const out: Record<string, unknown> = {};
  const inDir = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  for (const f of CONFIG_FIELDS) {
    const v = c[f.field];
    if (v === undefined) continue;
    // Go zero values mean "not set" (SetDefaults_KubeletConfiguration), except behind pointers
    if ((v === '' || v === 0 || v === false) && f.type !== 'int32ptr' && f.type !== 'pathptr' && f.type !== 'boolptr')
      continue;
    out[f.key] = (f.type === 'path' || f.type === 'pathptr') && v !== '' ? inDir(v as string) : v;
  }
  if (out.nodeStatusReportFrequencyMs === undefined && out.nodeStatusUpdateFrequencyMs !== undefined) {
    out.nodeStatusReportFrequencyMs = out.nodeStatusUpdateFrequencyMs;
  }
  if (c.mergeDefaultEvictionSettings) {
    out.evictionHard = { ...DEFAULT_FLAGS.evictionHard, ...(out.evictionHard as Record<string, string> | undefined) };
  }
  if (c.logging?.verbosity !== undefined) out.verbosity = c.logging.verbosity;
  if (c.logging?.format) out.loggingFormat = c.logging.format;
  if (c.logging?.vmodule?.length)
    out.vmodule = c.logging.vmodule.map((m) => `${m.filePattern}=${m.verbosity}`).join(',');
  if (c.logging?.options?.text?.splitStream !== undefined) out.logTextSplitStream = c.logging.options.text.splitStream;
  if (c.logging?.options?.json?.splitStream !== undefined) out.logJsonSplitStream = c.logging.options.json.splitStream;
  // authentication and authorization: zero values take the v1beta1 defaults, except the pointers (enabled)
  const authn = c.authentication;
  if (authn?.x509?.clientCAFile) out.clientCaFile = inDir(authn.x509.clientCAFile);
  if (authn?.webhook?.enabled !== undefined) out.authenticationTokenWebhook = authn.webhook.enabled;
  if (authn?.webhook?.cacheTTL) out.authenticationTokenWebhookCacheTtlMs = authn.webhook.cacheTTL;
  if (authn?.anonymous?.enabled !== undefined) out.anonymousAuth = authn.anonymous.enabled;
  const authz = c.authorization;
  if (authz?.mode) out.authorizationMode = authz.mode;
  if (authz?.webhook?.cacheAuthorizedTTL)
    out.authorizationWebhookCacheAuthorizedTtlMs = authz.webhook.cacheAuthorizedTTL;
  if (authz?.webhook?.cacheUnauthorizedTTL)
    out.authorizationWebhookCacheUnauthorizedTtlMs = authz.webhook.cacheUnauthorizedTTL;
  if (c.configMapAndSecretChangeDetectionStrategy)
    out.configMapAndSecretChangeDetectionStrategy = c.configMapAndSecretChangeDetectionStrategy;
  if (c.record?.path) out.record = inDir(c.record.path);
  if (c.record?.maxBytes) out.recordMaxBytes = c.record.maxBytes;
  return out as Partial<KubeletFlags>;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
};

/** Read and parse the file at `path`. */
export function loadKubeletConfig(
  path: string,
  read: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): LoadedConfig {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigFileError(
      `failed to load kubelet config file ${path}: ${(code && ERRNO_TEXT[code]) ?? (e as Error).message}`,
    );
  }
  return parseKubeletConfig(text, path);
}

/**
 * The flags in effect with `--config`: the file over the defaults, then the command line parsed
 * again over that (upstream's kubeletConfigFlagPrecedence). `argv` is the whole command line.
 */
export function applyConfigFile(
  argv: readonly string[],
  path: string,
  read?: (p: string) => string,
): { flags: KubeletFlags; file: LoadedConfig } {
  const file = loadKubeletConfig(path, read);
  return { flags: parseFlags(argv, { ...DEFAULT_FLAGS, ...file.values }), file };
}

/** Log each lenient-decoding warning of the file (its ignored fields: bin/parity.ts reportUnsupported). */
export function reportConfigFile(log: Logger, file: LoadedConfig): void {
  for (const w of file.warnings) {
    log.warn('kubelet config file: using lenient decoding as strict decoding failed', {
      path: file.path,
      field: w.field,
      ...(w.line ? { line: w.line } : {}),
      err: `strict decoding error: ${w.message}`,
    });
  }
}

/** Go's time.Duration String() of a whole number of milliseconds ("1m0s", "20s", "500ms", "0s"). */
export function goDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** `/configz`: the KubeletConfiguration in effect (v1beta1 names and types) for the mapped fields. */
export function configzOf(flags: KubeletFlags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const v = flags[f.key];
    if (v === undefined) continue;
    out[f.field] = f.type === 'duration' ? goDuration(v as number) : v;
  }
  out.authentication = {
    x509: flags.clientCaFile ? { clientCAFile: flags.clientCaFile } : {},
    webhook: {
      enabled: flags.authenticationTokenWebhook,
      cacheTTL: goDuration(flags.authenticationTokenWebhookCacheTtlMs),
    },
    anonymous: { enabled: flags.anonymousAuth },
  };
  out.authorization = {
    mode: flags.authorizationMode,
    webhook: {
      cacheAuthorizedTTL: goDuration(flags.authorizationWebhookCacheAuthorizedTtlMs),
      cacheUnauthorizedTTL: goDuration(flags.authorizationWebhookCacheUnauthorizedTtlMs),
    },
  };
  out.logging = {
    format: flags.loggingFormat,
    verbosity: flags.verbosity,
    ...(flags.vmodule
      ? { vmodule: parseVModule(flags.vmodule).map((m) => ({ filePattern: m.pattern, verbosity: m.verbosity })) }
      : {}),
    options: { text: { splitStream: flags.logTextSplitStream }, json: { splitStream: flags.logJsonSplitStream } },
  };
  return out;
}
