/**
 * Pod validation as upstream's ValidatePodCreate does it, for the fields kubelet-ts models, with
 * upstream's field paths (`spec.containers[1].name`, `metadata.labels`) and messages, returning
 * every error rather than the first. Also `parsePod`: a zod parse whose issues come back in the
 * same FieldError shape and path style, so a caller sees one kind of error for "not a list" and
 * for "not a DNS label".
 *
 * A FieldError prints like upstream's field.Error:
 *   spec.containers[0].image: Required value
 *   spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"
 *
 * Validation runs on a defaulted pod (defaults.ts): upstream never validates an undefaulted one,
 * so e.g. an empty `imagePullPolicy` is reported as Required, not silently accepted.
 */
import type { z } from 'zod';
import {
  PodSchema,
  type Container,
  type ContainerPort,
  type ObjectMeta,
  type Pod,
  type Probe,
  type Quantity,
  type Toleration,
  type Volume,
} from './pod.ts';
import { parseQuantity } from './quantity.ts';

export type FieldErrorType =
  | 'Required'
  | 'Invalid'
  | 'Duplicate'
  | 'NotSupported'
  | 'TooLong'
  | 'Forbidden'
  | 'NotFound';

export interface FieldError {
  /** Upstream-style path: `spec.containers[0].ports[1].containerPort`, `metadata.labels[app]`. */
  field: string;
  type: FieldErrorType;
  /** The offending value, when upstream prints one (Invalid, Duplicate, NotSupported, NotFound). */
  value?: unknown;
  /** Upstream's detail text ('' when there is none). */
  message: string;
}

const TYPE_TEXT: Record<FieldErrorType, string> = {
  Required: 'Required value',
  Invalid: 'Invalid value',
  Duplicate: 'Duplicate value',
  NotSupported: 'Unsupported value',
  TooLong: 'Too long',
  Forbidden: 'Forbidden',
  NotFound: 'Not found',
};

function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 200 ? s.slice(0, 197) + '...' : s;
}

/** One error, worded as upstream's field.Error.Error(). */
export function formatFieldError(e: FieldError): string {
  let body = TYPE_TEXT[e.type];
  if (e.type !== 'Required' && e.type !== 'Forbidden' && e.type !== 'TooLong' && e.value !== undefined) {
    body += `: ${formatValue(e.value)}`;
  }
  if (e.message) body += `: ${e.message}`;
  return e.field ? `${e.field}: ${body}` : body;
}

/** All errors, as upstream's aggregate prints them: `[a, b]` when more than one. */
export function formatFieldErrors(errs: readonly FieldError[]): string {
  const parts = errs.map(formatFieldError);
  return parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------
// paths

/** Children whose keys are map keys: printed `limits[memory]` like upstream's Path.Key. */
const MAP_FIELDS = new Set([
  'labels',
  'annotations',
  'limits',
  'requests',
  'nodeSelector',
  'overhead',
  'allocatedResources',
]);

/** `['spec','containers',0,'image']` → `spec.containers[0].image`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  let prev: PropertyKey | undefined;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof prev === 'string' && MAP_FIELDS.has(prev)) out += `[${String(seg)}]`;
    else out += out ? `.${String(seg)}` : String(seg);
    prev = seg;
  }
  return out;
}

/** The inverse of formatFieldPath: `spec.containers[0].image` → `['spec','containers',0,'image']`. */
export function parseFieldPath(field: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]/g;
  for (let m = re.exec(field); m; m = re.exec(field)) {
    if (m[1] !== undefined) out.push(m[1]);
    else out.push(/^\d+$/.test(m[2]!) ? Number(m[2]) : m[2]!);
  }
  return out;
}

class Path {
  readonly segs: readonly PropertyKey[];
  constructor(segs: readonly PropertyKey[] = []) {
    this.segs = segs;
  }
  child(...names: string[]): Path {
    return new Path([...this.segs, ...names]);
  }
  index(i: number): Path {
    return new Path([...this.segs, i]);
  }
  key(k: string): Path {
    return new Path([...this.segs, k]);
  }
  toString(): string {
    return formatFieldPath(this.segs);
  }
}

const required = (p: Path, message = ''): FieldError => ({ field: String(p), type: 'Required', message });
const invalid = (p: Path, value: unknown, message: string): FieldError => ({
  field: String(p),
  type: 'Invalid',
  value,
  message,
});
const duplicate = (p: Path, value: unknown): FieldError => ({
  field: String(p),
  type: 'Duplicate',
  value,
  message: '',
});
const notFound = (p: Path, value: unknown): FieldError => ({ field: String(p), type: 'NotFound', value, message: '' });
const forbidden = (p: Path, message: string): FieldError => ({ field: String(p), type: 'Forbidden', message });
const notSupported = (p: Path, value: unknown, valid: readonly string[]): FieldError => ({
  field: String(p),
  type: 'NotSupported',
  value,
  message: `supported values: ${valid.map((v) => JSON.stringify(v)).join(', ')}`,
});
const tooLong = (p: Path, max: number): FieldError => ({
  field: String(p),
  type: 'TooLong',
  message: `must have at most ${max} bytes`,
});

// ---------------------------------------------------------------------------------------------
// name rules (k8s.io/apimachinery/pkg/util/validation)

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let s = msg + ' (e.g. ';
  examples.forEach((e, i) => {
    s += (i > 0 ? ' or ' : '') + `'${e}', `;
  });
  return s + `regex used for validation is '${fmt}')`;
}
const maxLenError = (n: number) => `must be no more than ${n} characters`;
const rangeError = (lo: number, hi: number) => `must be between ${lo} and ${hi}, inclusive`;
const NONNEGATIVE = 'must be greater than or equal to 0';

const DNS1123_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FMT = `${DNS1123_LABEL_FMT}(\\.${DNS1123_LABEL_FMT})*`;
const DNS1123_LABEL = new RegExp(`^${DNS1123_LABEL_FMT}$`);
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_SUBDOMAIN_FMT}$`);
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const QUALIFIED_NAME = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const QUALIFIED_NAME_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const LABEL_VALUE = new RegExp(`^${LABEL_VALUE_FMT}$`);

export function isDNS1123Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!DNS1123_LABEL.test(v)) {
    if (DNS1123_SUBDOMAIN.test(v)) errs.push('must not contain dots');
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          DNS1123_LABEL_FMT,
          'my-name',
          '123-abc',
        ),
      );
  }
  return errs;
}

export function isDNS1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 253) errs.push(maxLenError(253));
  if (!DNS1123_SUBDOMAIN.test(v)) {
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FMT,
        'example.com',
      ),
    );
  }
  return errs;
}

export function isQualifiedName(v: string): string[] {
  const errs: string[] = [];
  const parts = v.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => 'prefix part ' + m));
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part ' + maxLenError(63));
  if (!QUALIFIED_NAME.test(name))
    errs.push('name part ' + regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc'));
  return errs;
}

export function isValidLabelValue(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!LABEL_VALUE.test(v)) {
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        LABEL_VALUE_FMT,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errs;
}

export function isValidPortNum(p: number): string[] {
  return p >= 1 && p <= 65535 ? [] : [rangeError(1, 65535)];
}

export function isValidPortName(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(v)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(v)) errs.push('must contain at least one letter (a-z)');
  if (v.includes('--')) errs.push('must not contain consecutive hyphens');
  if (v.length > 0 && (v.startsWith('-') || v.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

/** Upstream's relaxed rule (RelaxedEnvironmentVariableValidation, on by default since 1.32). */
export function isEnvVarName(v: string): string[] {
  for (const ch of v) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c > 0x7e || ch === '=') {
      return ["a valid environment variable name must consist only of printable ASCII characters other than '='"];
    }
  }
  return [];
}

const each = (p: Path, value: unknown, msgs: string[]) => msgs.map((m) => invalid(p, value, m));

// ---------------------------------------------------------------------------------------------
// metadata

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

function validateLabels(labels: Record<string, string> | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    errs.push(...each(p, k, isQualifiedName(k)));
    errs.push(...each(p, v, isValidLabelValue(v)));
  }
  return errs;
}

function validateAnnotations(annotations: Record<string, string> | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    errs.push(...each(p, k, isQualifiedName(k.toLowerCase())));
    size += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(tooLong(p, TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

export function validateObjectMeta(meta: ObjectMeta, p = new Path(['metadata'])): FieldError[] {
  const errs: FieldError[] = [];
  if (meta.generateName)
    errs.push(
      ...each(p.child('generateName'), meta.generateName, isDNS1123Subdomain(meta.generateName.replace(/-$/, 'a'))),
    );
  if (!meta.name) {
    if (!meta.generateName) errs.push(required(p.child('name'), 'name or generateName is required'));
  } else {
    errs.push(...each(p.child('name'), meta.name, isDNS1123Subdomain(meta.name)));
  }
  if (!meta.namespace) errs.push(required(p.child('namespace')));
  else errs.push(...each(p.child('namespace'), meta.namespace, isDNS1123Label(meta.namespace)));
  if (meta.generation !== undefined && meta.generation < 0)
    errs.push(invalid(p.child('generation'), meta.generation, NONNEGATIVE));
  errs.push(...validateLabels(meta.labels, p.child('labels')));
  errs.push(...validateAnnotations(meta.annotations, p.child('annotations')));
  return errs;
}

// ---------------------------------------------------------------------------------------------
// volumes

const HOST_PATH_TYPES = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
];

function validateVolumes(volumes: readonly Volume[], p: Path): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  volumes.forEach((vol, i) => {
    const ip = p.index(i);
    const np = ip.child('name');
    if (!vol.name) errs.push(required(np));
    else errs.push(...each(np, vol.name, isDNS1123Label(vol.name)));
    if (vol.name && names.has(vol.name)) errs.push(duplicate(np, vol.name));
    else if (vol.name) names.add(vol.name);

    const sources = Object.keys(vol).filter((k) => k !== 'name' && (vol as Record<string, unknown>)[k] !== undefined);
    if (sources.length === 0) errs.push(required(ip, 'must specify a volume type'));
    for (const extra of sources.slice(1))
      errs.push(forbidden(ip.child(extra), 'may not specify more than 1 volume type'));

    if (vol.hostPath) {
      const hp = ip.child('hostPath');
      if (!vol.hostPath.path) errs.push(required(hp.child('path')));
      else if (vol.hostPath.path.split('/').includes('..'))
        errs.push(invalid(hp.child('path'), vol.hostPath.path, "must not contain '..'"));
      const t = vol.hostPath.type ?? '';
      if (!HOST_PATH_TYPES.includes(t)) errs.push(notSupported(hp.child('type'), t, HOST_PATH_TYPES));
    }
    if (vol.emptyDir) {
      const ep = ip.child('emptyDir');
      const m = vol.emptyDir.medium ?? '';
      if (m !== '' && m !== 'Memory' && !m.startsWith('HugePages'))
        errs.push(notSupported(ep.child('medium'), m, ['', 'Memory', 'HugePages']));
      if (vol.emptyDir.sizeLimit !== undefined)
        errs.push(...validateQuantity(vol.emptyDir.sizeLimit, ep.child('sizeLimit')));
    }
    if (vol.configMap) {
      if (!vol.configMap.name) errs.push(required(ip.child('configMap', 'name')));
      errs.push(...validateMode(vol.configMap.defaultMode, ip.child('configMap', 'defaultMode')));
    }
    if (vol.secret) {
      if (!vol.secret.secretName) errs.push(required(ip.child('secret', 'secretName')));
      errs.push(...validateMode(vol.secret.defaultMode, ip.child('secret', 'defaultMode')));
    }
  });
  return { errs, names };
}

function validateMode(mode: number | undefined, p: Path): FieldError[] {
  if (mode === undefined || (mode >= 0 && mode <= 0o777)) return [];
  return [invalid(p, mode, 'must be a number between 0 and 0777 (octal), both inclusive')];
}

// ---------------------------------------------------------------------------------------------
// containers

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const PROPAGATION = ['Bidirectional', 'HostToContainer', 'None'];
const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

function validateQuantity(q: Quantity, p: Path): FieldError[] {
  const parsed = parseQuantity(q);
  if (!parsed.ok) return [invalid(p, q, parsed.message)];
  if (parsed.value < 0) return [invalid(p, q, NONNEGATIVE)];
  return [];
}

function validateResources(r: Container['resources'], p: Path): FieldError[] {
  if (!r) return [];
  const errs: FieldError[] = [];
  const parsed: Record<'limits' | 'requests', Map<string, number>> = { limits: new Map(), requests: new Map() };
  for (const kind of ['limits', 'requests'] as const) {
    for (const [name, q] of Object.entries(r[kind] ?? {})) {
      const kp = p.child(kind).key(name);
      const nameErrs = isQualifiedName(name);
      if (nameErrs.length) {
        errs.push(...each(kp, name, nameErrs));
        continue;
      }
      const native = !name.includes('/') || name.includes('kubernetes.io/');
      if (native && !STANDARD_CONTAINER_RESOURCES.has(name) && !name.startsWith('hugepages-')) {
        errs.push(invalid(kp, name, 'must be a standard resource for containers'));
        continue;
      }
      const qErrs = validateQuantity(q, kp);
      errs.push(...qErrs);
      const v = parseQuantity(q);
      if (!qErrs.length && v.ok) parsed[kind].set(name, v.value);
    }
  }
  for (const [name, req] of parsed.requests) {
    const lim = parsed.limits.get(name);
    if (lim !== undefined && req > lim) {
      errs.push(
        invalid(
          p.child('requests').key(name),
          r.requests![name],
          `must be less than or equal to ${name} limit of ${String(r.limits![name])}`,
        ),
      );
    }
  }
  return errs;
}

function validatePortNumOrName(port: number | string, p: Path): FieldError[] {
  return typeof port === 'number' ? each(p, port, isValidPortNum(port)) : each(p, port, isValidPortName(port));
}

function validateHandler(
  h: Record<string, unknown> & Pick<Probe, 'exec' | 'httpGet' | 'tcpSocket' | 'grpc'>,
  p: Path,
  kinds: readonly string[],
): FieldError[] {
  const errs: FieldError[] = [];
  const present = kinds.filter((k) => h[k] !== undefined);
  if (present.length === 0) errs.push(required(p, 'must specify a handler type'));
  for (const extra of present.slice(1))
    errs.push(forbidden(p.child(extra), 'may not specify more than 1 handler type'));
  if (h.exec && !h.exec.command?.length) errs.push(required(p.child('exec', 'command')));
  if (h.httpGet) {
    const hp = p.child('httpGet');
    if (!h.httpGet.path) errs.push(required(hp.child('path')));
    errs.push(...validatePortNumOrName(h.httpGet.port, hp.child('port')));
    const scheme = h.httpGet.scheme ?? '';
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') errs.push(notSupported(hp.child('scheme'), scheme, ['HTTP', 'HTTPS']));
    h.httpGet.httpHeaders?.forEach((hdr, i) => {
      if (!/^[-A-Za-z0-9!#$%&'*+.^_`|~]+$/.test(hdr.name))
        errs.push(
          invalid(
            hp.child('httpHeaders').index(i).child('name'),
            hdr.name,
            "a valid HTTP header must consist of alphanumeric characters or '-'",
          ),
        );
    });
  }
  if (h.tcpSocket) errs.push(...validatePortNumOrName(h.tcpSocket.port, p.child('tcpSocket', 'port')));
  if (h.grpc) errs.push(...each(p.child('grpc', 'port'), h.grpc.port, isValidPortNum(h.grpc.port)));
  return errs;
}

function validateProbe(probe: Probe | undefined, p: Path, kind: 'liveness' | 'readiness' | 'startup'): FieldError[] {
  if (!probe) return [];
  const errs = validateHandler(probe, p, ['exec', 'httpGet', 'tcpSocket', 'grpc']);
  for (const f of [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ] as const) {
    const v = probe[f];
    if (v !== undefined && v < 0) errs.push(invalid(p.child(f), v, NONNEGATIVE));
  }
  if (kind !== 'readiness' && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    errs.push(invalid(p.child('successThreshold'), probe.successThreshold, 'must be 1'));
  }
  const tgps = probe.terminationGracePeriodSeconds;
  if (tgps !== undefined) {
    if (kind === 'readiness')
      errs.push(invalid(p.child('terminationGracePeriodSeconds'), tgps, 'must not be set for readinessProbes'));
    else if (tgps <= 0) errs.push(invalid(p.child('terminationGracePeriodSeconds'), tgps, 'must be greater than 0'));
  }
  return errs;
}

function validatePorts(ports: readonly ContainerPort[] | undefined, p: Path, hostNetwork: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  (ports ?? []).forEach((port, i) => {
    const ip = p.index(i);
    if (port.name) {
      errs.push(...each(ip.child('name'), port.name, isValidPortName(port.name)));
      if (names.has(port.name)) errs.push(duplicate(ip.child('name'), port.name));
      names.add(port.name);
    }
    if (port.containerPort === 0) errs.push(required(ip.child('containerPort')));
    else errs.push(...each(ip.child('containerPort'), port.containerPort, isValidPortNum(port.containerPort)));
    if (port.hostPort) errs.push(...each(ip.child('hostPort'), port.hostPort, isValidPortNum(port.hostPort)));
    if (!port.protocol) errs.push(required(ip.child('protocol')));
    else if (!PROTOCOLS.includes(port.protocol))
      errs.push(notSupported(ip.child('protocol'), port.protocol, PROTOCOLS));
    if (hostNetwork && port.hostPort !== undefined && port.hostPort !== port.containerPort) {
      errs.push(invalid(ip.child('hostPort'), port.hostPort, 'must match `containerPort` when `hostNetwork` is true'));
    }
  });
  return errs;
}

function validateEnv(env: Container['env'], p: Path): FieldError[] {
  const errs: FieldError[] = [];
  (env ?? []).forEach((e, i) => {
    const ip = p.index(i);
    if (!e.name) errs.push(required(ip.child('name')));
    else errs.push(...each(ip.child('name'), e.name, isEnvVarName(e.name)));
    if (e.valueFrom) {
      const refs = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'].filter(
        (k) => e.valueFrom![k] !== undefined,
      );
      if (e.value) errs.push(invalid(ip.child('valueFrom'), '', 'may not be specified when `value` is not empty'));
      if (refs.length === 0)
        errs.push(
          invalid(
            ip.child('valueFrom'),
            '',
            'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
          ),
        );
      else if (refs.length > 1)
        errs.push(invalid(ip.child('valueFrom'), '', 'may not have more than one field specified at a time'));
    }
  });
  return errs;
}

function validateVolumeMounts(
  mounts: Container['volumeMounts'],
  volumes: Set<string>,
  p: Path,
  privileged: boolean,
): FieldError[] {
  const errs: FieldError[] = [];
  const paths = new Set<string>();
  (mounts ?? []).forEach((m, i) => {
    const ip = p.index(i);
    if (!m.name) errs.push(required(ip.child('name')));
    else if (!volumes.has(m.name)) errs.push(notFound(ip.child('name'), m.name));
    if (!m.mountPath) errs.push(required(ip.child('mountPath')));
    else if (paths.has(m.mountPath)) errs.push(invalid(ip.child('mountPath'), m.mountPath, 'must be unique'));
    if (m.mountPath) paths.add(m.mountPath);
    for (const f of ['subPath', 'subPathExpr'] as const) {
      const sp = m[f];
      if (!sp) continue;
      if (sp.startsWith('/')) errs.push(invalid(ip.child(f), sp, 'must be a relative path'));
      if (sp.split('/').includes('..')) errs.push(invalid(ip.child(f), sp, "must not contain '..'"));
    }
    if (m.subPath && m.subPathExpr)
      errs.push(invalid(ip.child('subPathExpr'), m.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
    if (m.mountPropagation !== undefined) {
      if (!PROPAGATION.includes(m.mountPropagation))
        errs.push(notSupported(ip.child('mountPropagation'), m.mountPropagation, PROPAGATION));
      else if (m.mountPropagation === 'Bidirectional' && !privileged)
        errs.push(
          forbidden(
            ip.child('mountPropagation'),
            'Bidirectional mount propagation is available only to privileged containers',
          ),
        );
    }
  });
  return errs;
}

const IP_MESSAGE = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** An IPv4 or IPv6 address (pure: protocols/ imports no node:net; the URL parser checks IPv6). */
function isIPAddress(v: unknown): boolean {
  if (typeof v !== 'string' || v === '') return false;
  if (IPV4.test(v)) return true;
  if (!v.includes(':') || /[^0-9a-fA-F:.]/.test(v)) return false;
  try {
    return new URL(`http://[${v}]/`).hostname !== '';
  } catch {
    return false;
  }
}

interface PodDnsConfig {
  nameservers?: unknown[];
  searches?: unknown[];
  options?: { name?: unknown }[];
}
interface HostAlias {
  ip?: unknown;
  hostnames?: unknown[];
}

/** upstream validatePodDNSConfig (the resolver limits: 3 nameservers, 32 search paths, 2048 characters). */
function validatePodDnsConfig(cfg: PodDnsConfig | undefined, policy: string, p: Path): FieldError[] {
  if (!cfg) return [];
  if (policy === 'None' && (cfg.nameservers ?? []).length === 0) {
    return [required(p.child('nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  const errs: FieldError[] = [];
  const servers = cfg.nameservers ?? [];
  if (servers.length > 3) errs.push(invalid(p.child('nameservers'), servers, 'must not have more than 3 nameservers'));
  servers.forEach((ns, i) => {
    if (!isIPAddress(ns)) errs.push(invalid(p.child('nameservers').index(i), ns, IP_MESSAGE));
  });
  const searches = cfg.searches ?? [];
  if (searches.length > 32)
    errs.push(invalid(p.child('searches'), searches, 'must not have more than 32 search paths'));
  if (searches.map(String).join(' ').length > 2048)
    errs.push(
      invalid(
        p.child('searches'),
        searches,
        'must not have more than 2048 characters (including spaces) in the search list',
      ),
    );
  searches.forEach((s, i) => {
    const v = String(s);
    if (i === 0 && v === '.') return;
    errs.push(...each(p.child('searches').index(i), s, isDNS1123Subdomain(v.endsWith('.') ? v.slice(0, -1) : v)));
  });
  (cfg.options ?? []).forEach((o, i) => {
    if (!o?.name) errs.push(required(p.child('options').index(i), 'must not be empty'));
  });
  return errs;
}

/** upstream ValidateHostAliases: an IP and DNS subdomains. */
function validateHostAliases(aliases: HostAlias[] | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  (aliases ?? []).forEach((a, i) => {
    if (!isIPAddress(a?.ip)) errs.push(invalid(p.index(i).child('ip'), a?.ip, IP_MESSAGE));
    (a?.hostnames ?? []).forEach((h, j) =>
      errs.push(...each(p.index(i).child('hostnames').index(j), h, isDNS1123Subdomain(String(h)))),
    );
  });
  return errs;
}

function validateId(v: number | undefined, p: Path): FieldError[] {
  return v !== undefined && (v < 0 || v > 2147483647) ? [invalid(p, v, rangeError(0, 2147483647))] : [];
}

function validateContainer(
  c: Container,
  p: Path,
  volumes: Set<string>,
  hostNetwork: boolean,
  grace: number,
): FieldError[] {
  const errs: FieldError[] = [];
  if (!c.image) errs.push(required(p.child('image')));
  else if (c.image.trim() !== c.image)
    errs.push(invalid(p.child('image'), c.image, 'must not have leading or trailing whitespace'));
  if (c.lifecycle) {
    for (const k of ['postStart', 'preStop'] as const) {
      const h = c.lifecycle[k];
      if (h) errs.push(...validateHandler(h, p.child('lifecycle', k), ['exec', 'httpGet', 'tcpSocket', 'sleep']));
      // upstream validateSleepAction (PodLifecycleSleepActionAllowZero, on by default since 1.33)
      const secs = h?.sleep?.seconds;
      if (secs !== undefined && (secs < 0 || secs > grace)) {
        errs.push(
          invalid(
            p.child('lifecycle', k, 'sleep'),
            secs,
            `must be non-negative and less than terminationGracePeriodSeconds (${grace})`,
          ),
        );
      }
    }
  }
  errs.push(...validateProbe(c.livenessProbe, p.child('livenessProbe'), 'liveness'));
  errs.push(...validateProbe(c.readinessProbe, p.child('readinessProbe'), 'readiness'));
  errs.push(...validateProbe(c.startupProbe, p.child('startupProbe'), 'startup'));
  errs.push(...validatePorts(c.ports, p.child('ports'), hostNetwork));
  errs.push(...validateEnv(c.env, p.child('env')));
  errs.push(
    ...validateVolumeMounts(c.volumeMounts, volumes, p.child('volumeMounts'), c.securityContext?.privileged === true),
  );
  if (!c.imagePullPolicy) errs.push(required(p.child('imagePullPolicy')));
  else if (!PULL_POLICIES.includes(c.imagePullPolicy))
    errs.push(notSupported(p.child('imagePullPolicy'), c.imagePullPolicy, PULL_POLICIES));
  if (c.terminationMessagePolicy !== 'File' && c.terminationMessagePolicy !== 'FallbackToLogsOnError') {
    if (!c.terminationMessagePolicy)
      errs.push(required(p.child('terminationMessagePolicy'), "must be 'File' or 'FallbackToLogsOnError'"));
    else
      errs.push(
        invalid(
          p.child('terminationMessagePolicy'),
          c.terminationMessagePolicy,
          "must be 'File' or 'FallbackToLogsOnError'",
        ),
      );
  }
  if (c.terminationMessagePath !== undefined && c.terminationMessagePath.length > 4096)
    errs.push(tooLong(p.child('terminationMessagePath'), 4096));
  errs.push(...validateResources(c.resources, p.child('resources')));
  const sc = c.securityContext;
  if (sc) {
    errs.push(...validateId(sc.runAsUser, p.child('securityContext', 'runAsUser')));
    errs.push(...validateId(sc.runAsGroup, p.child('securityContext', 'runAsGroup')));
    if (sc.allowPrivilegeEscalation === false && sc.privileged === true) {
      errs.push(
        invalid(
          p.child('securityContext'),
          sc,
          'cannot set `allowPrivilegeEscalation` to false and `privileged` to true',
        ),
      );
    }
    if (sc.allowPrivilegeEscalation === false && (sc.capabilities?.add ?? []).includes('CAP_SYS_ADMIN')) {
      errs.push(
        invalid(
          p.child('securityContext'),
          sc,
          'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN',
        ),
      );
    }
  }
  return errs;
}

function validateContainers(spec: Pod['spec'], p: Path, volumes: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  const hostNetwork = spec.hostNetwork === true;
  const grace = spec.terminationGracePeriodSeconds ?? 30;
  const names = new Set<string>();
  const checkName = (c: Container, np: Path) => {
    if (!c.name) errs.push(required(np));
    else errs.push(...each(np, c.name, isDNS1123Label(c.name)));
    if (c.name && names.has(c.name)) errs.push(duplicate(np, c.name));
    else if (c.name) names.add(c.name);
  };

  (spec.initContainers ?? []).forEach((c, i) => {
    const ip = p.child('initContainers').index(i);
    checkName(c, ip.child('name'));
    errs.push(...validateContainer(c, ip, volumes, hostNetwork, grace));
    const sidecar = c.restartPolicy === 'Always';
    if (c.restartPolicy !== undefined && !sidecar)
      errs.push(notSupported(ip.child('restartPolicy'), c.restartPolicy, ['Always']));
    if (!sidecar) {
      for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (c[f]) errs.push(forbidden(ip.child(f), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });

  const cp = p.child('containers');
  if (spec.containers.length === 0) errs.push(required(cp));
  spec.containers.forEach((c, i) => {
    const ip = cp.index(i);
    checkName(c, ip.child('name'));
    errs.push(...validateContainer(c, ip, volumes, hostNetwork, grace));
    if (c.restartPolicy !== undefined)
      errs.push(forbidden(ip.child('restartPolicy'), 'may not be set for non init containers'));
  });
  return errs;
}

// ---------------------------------------------------------------------------------------------
// spec

function validateTolerations(tolerations: readonly Toleration[] | undefined, p: Path): FieldError[] {
  const errs: FieldError[] = [];
  (tolerations ?? []).forEach((t, i) => {
    const ip = p.index(i);
    const key = t.key ?? '';
    const op = t.operator ?? '';
    const value = t.value ?? '';
    const effect = t.effect ?? '';
    if (key) errs.push(...each(ip.child('key'), key, isQualifiedName(key)));
    if (!key && op !== 'Exists') {
      errs.push(
        invalid(
          ip.child('operator'),
          op,
          'operator must be Exists when `key` is empty, which means "match all values and all keys"',
        ),
      );
    }
    if (t.tolerationSeconds !== undefined && effect !== 'NoExecute') {
      errs.push(invalid(ip.child('effect'), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    if (op === 'Equal' || op === '') {
      const msgs = isValidLabelValue(value);
      if (msgs.length) errs.push(invalid(ip.child('operator'), value, msgs.join(';')));
    } else if (op === 'Exists') {
      if (value) errs.push(invalid(ip.child('operator'), t, "value must be empty when `operator` is 'Exists'"));
    } else {
      errs.push(notSupported(ip.child('operator'), op, ['Equal', 'Exists']));
    }
    if (effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(effect)) {
      errs.push(notSupported(ip.child('effect'), effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
    }
  });
  return errs;
}

export function validatePodSpec(spec: Pod['spec'], p = new Path(['spec'])): FieldError[] {
  const errs: FieldError[] = [];
  const vols = validateVolumes(spec.volumes ?? [], p.child('volumes'));
  errs.push(...vols.errs);
  errs.push(...validateContainers(spec, p, vols.names));

  const rp = spec.restartPolicy ?? '';
  if (!rp) errs.push(required(p.child('restartPolicy')));
  else if (!RESTART_POLICIES.includes(rp)) errs.push(notSupported(p.child('restartPolicy'), rp, RESTART_POLICIES));

  const dns = spec.dnsPolicy ?? '';
  if (!DNS_POLICIES.includes(dns)) errs.push(notSupported(p.child('dnsPolicy'), dns, DNS_POLICIES));
  if (dns === 'None' && !spec.dnsConfig)
    errs.push(required(p.child('dnsConfig'), 'must provide `dnsConfig` when `dnsPolicy` is None'));
  errs.push(...validatePodDnsConfig(spec.dnsConfig as PodDnsConfig | undefined, dns, p.child('dnsConfig')));
  errs.push(...validateHostAliases(spec.hostAliases as HostAlias[] | undefined, p.child('hostAliases')));

  errs.push(...validateLabels(spec.nodeSelector, p.child('nodeSelector')));

  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds < 0) {
    errs.push(invalid(p.child('terminationGracePeriodSeconds'), spec.terminationGracePeriodSeconds, NONNEGATIVE));
  }
  if (
    spec.activeDeadlineSeconds !== undefined &&
    (spec.activeDeadlineSeconds < 1 || spec.activeDeadlineSeconds > 2147483647)
  ) {
    errs.push(invalid(p.child('activeDeadlineSeconds'), spec.activeDeadlineSeconds, rangeError(1, 2147483647)));
  }
  for (const f of [
    'nodeName',
    'serviceAccountName',
    'schedulerName',
    'priorityClassName',
    'runtimeClassName',
  ] as const) {
    const v = spec[f];
    if (v) errs.push(...each(p.child(f), v, isDNS1123Subdomain(v)));
  }
  for (const f of ['hostname', 'subdomain'] as const) {
    const v = spec[f];
    if (v) errs.push(...each(p.child(f), v, isDNS1123Label(v)));
  }
  const sc = spec.securityContext;
  if (sc) {
    const sp = p.child('securityContext');
    errs.push(...validateId(sc.runAsUser, sp.child('runAsUser')));
    errs.push(...validateId(sc.runAsGroup, sp.child('runAsGroup')));
    errs.push(...validateId(sc.fsGroup, sp.child('fsGroup')));
    sc.supplementalGroups?.forEach((g, i) => errs.push(...validateId(g, sp.child('supplementalGroups').index(i))));
  }
  errs.push(...validateTolerations(spec.tolerations, p.child('tolerations')));
  return errs;
}

/** ValidatePodCreate for the modelled fields; [] when the pod is valid. Expects a defaulted pod. */
export function validatePod(pod: Pod): FieldError[] {
  return [...validateObjectMeta(pod.metadata), ...validatePodSpec(pod.spec)];
}

// ---------------------------------------------------------------------------------------------
// schema errors in the same shape

const EXPECTED_WORDS: Record<string, string> = {
  array: 'a list',
  object: 'an object',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  record: 'an object',
};

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** Turn zod issues into FieldErrors with upstream-style paths; `input` is what was parsed. */
export function zodIssuesToFieldErrors(issues: readonly z.core.$ZodIssue[], input: unknown): FieldError[] {
  return issues.map((issue): FieldError => {
    const field = formatFieldPath(issue.path);
    const value = valueAt(input, issue.path);
    const p = new Path(issue.path);
    switch (issue.code) {
      case 'invalid_type': {
        if (value === undefined) return required(p);
        const expected = EXPECTED_WORDS[issue.expected] ?? issue.expected;
        return invalid(p, value, `expected ${expected}, got ${describe(value)}`);
      }
      case 'invalid_union': {
        const alts = issue.errors
          .map((branch) => branch.find((i) => i.code === 'invalid_type'))
          .map((i) => (i && i.code === 'invalid_type' ? (EXPECTED_WORDS[i.expected] ?? i.expected) : undefined))
          .filter((s): s is string => s !== undefined);
        if (value === undefined) return required(p);
        return invalid(
          p,
          value,
          alts.length ? `expected ${[...new Set(alts)].join(' or ')}, got ${describe(value)}` : issue.message,
        );
      }
      case 'too_big':
      case 'too_small': {
        const lim = issue.code === 'too_big' ? `at most ${String(issue.maximum)}` : `at least ${String(issue.minimum)}`;
        return invalid(p, value, `must be ${lim}`);
      }
      default:
        return { field, type: 'Invalid', value, message: issue.message };
    }
  });
}

export type ParsePodResult = { ok: true; pod: Pod } | { ok: false; errors: FieldError[] };

/** PodSchema.safeParse with FieldError output. */
export function parsePod(raw: unknown): ParsePodResult {
  const r = PodSchema.safeParse(raw);
  if (r.success) return { ok: true, pod: r.data as Pod };
  return { ok: false, errors: zodIssuesToFieldErrors(r.error.issues, raw) };
}
