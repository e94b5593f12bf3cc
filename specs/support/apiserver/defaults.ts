/**
 * What the apiserver does to an object between decoding and storage, for the kinds the stand-in
 * serves: v1 defaulting (pkg/apis/core/v1/defaults.go), the mutating admission every cluster
 * runs (Priority, DefaultTolerationSeconds), the strategies' PrepareForCreate (pod status reset
 * to Pending with a QoS class, namespace finalizer/phase/name label) and a small, faithful subset
 * of validation (names, required pod fields, pod spec immutability on update, Lease durations,
 * Event namespaces).
 *
 * Written independently of protocols/kube: the stand-in must not share the kubelet's own idea of
 * the defaults, or specs would agree with the code under test by construction.
 */
import { errors } from './status.ts';
import type { Json, JsonObject } from './status.ts';
import { deepClone, deepEqual, isObject } from './patch.ts';

type Cause = { field: string; type: string; detail: string };

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateName(name: string, style: 'subdomain' | 'label' | 'path'): string | undefined {
  if (style === 'path') {
    if (name === '.' || name === '..') return `may not be '${name}'`;
    if (name.includes('/')) return `may not contain '/'`;
    if (name.includes('%')) return `may not contain '%'`;
    return undefined;
  }
  if (style === 'label') {
    if (name.length > 63) return 'must be no more than 63 characters';
    if (!DNS1123_LABEL.test(name)) {
      return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    }
    return undefined;
  }
  if (name.length > 253) return 'must be no more than 253 characters';
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// quantities (enough to compare requests and limits for the QoS class)

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export function parseQuantity(q: Json | undefined): number {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return NaN;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)$/.exec(q.trim());
  if (!m) return NaN;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX[m[3] ?? '']!;
}

function obj(v: Json | undefined): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}

function list(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}

/** GetPodQOS (pkg/apis/core/helper/qos) over cpu and memory. */
export function podQOS(pod: JsonObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const spec = obj(pod.spec) ?? {};
  const requests: Record<string, number> = {};
  const limits: Record<string, number> = {};
  let guaranteed = true;
  const containers = [...list(spec.containers), ...list(spec.initContainers)];
  for (const c of containers) {
    const res = obj(obj(c)?.resources) ?? {};
    for (const [name, q] of Object.entries(obj(res.requests) ?? {})) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const n = parseQuantity(q);
      if (n !== 0 && !Number.isNaN(n)) requests[name] = (requests[name] ?? 0) + n;
    }
    const found = new Set<string>();
    for (const [name, q] of Object.entries(obj(res.limits) ?? {})) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const n = parseQuantity(q);
      if (n !== 0 && !Number.isNaN(n)) {
        found.add(name);
        limits[name] = (limits[name] ?? 0) + n;
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (Object.keys(requests).length === 0 && Object.keys(limits).length === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, n] of Object.entries(requests)) {
      if (Math.abs((limits[name] ?? NaN) - n) > 1e-9) guaranteed = false;
    }
  }
  if (guaranteed && Object.keys(requests).length === Object.keys(limits).length) return 'Guaranteed';
  return 'Burstable';
}

// ---------------------------------------------------------------------------------------------
// defaulting

function imagePullPolicy(image: string): string {
  const noDigest = image.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const tag = colon > slash ? noDigest.slice(colon + 1) : '';
  if (tag === 'latest') return 'Always';
  if (tag === '' && !image.includes('@')) return 'Always';
  return 'IfNotPresent';
}

function defaultHandler(h: JsonObject | undefined): void {
  if (!h) return;
  const http = obj(h.httpGet);
  if (http) {
    if (http.path === undefined || http.path === '') http.path = '/';
    if (http.scheme === undefined || http.scheme === '') http.scheme = 'HTTP';
  }
}

function defaultProbe(p: JsonObject | undefined): void {
  if (!p) return;
  if (!p.timeoutSeconds) p.timeoutSeconds = 1;
  if (!p.periodSeconds) p.periodSeconds = 10;
  if (!p.successThreshold) p.successThreshold = 1;
  if (!p.failureThreshold) p.failureThreshold = 3;
  defaultHandler(p);
  const grpc = obj(p.grpc);
  if (grpc && grpc.service === undefined) grpc.service = '';
}

function defaultContainer(c: JsonObject, hostNetwork: boolean): void {
  if (typeof c.image === 'string' && !c.imagePullPolicy) c.imagePullPolicy = imagePullPolicy(c.image);
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  if (!isObject(c.resources)) c.resources = {};
  const res = c.resources as JsonObject;
  // SetDefaults_Pod: a limit without a request makes the request equal to the limit
  const limits = obj(res.limits);
  if (limits && Object.keys(limits).length > 0) {
    const requests = obj(res.requests) ?? {};
    for (const [k, v] of Object.entries(limits)) if (!(k in requests)) requests[k] = v;
    res.requests = requests;
  }
  for (const p of list(c.ports)) {
    const port = obj(p);
    if (!port) continue;
    if (!port.protocol) port.protocol = 'TCP';
    if (hostNetwork && port.hostPort === undefined && port.containerPort !== undefined)
      port.hostPort = port.containerPort;
  }
  for (const e of list(c.env)) {
    const fieldRef = obj(obj(obj(e)?.valueFrom)?.fieldRef);
    if (fieldRef && !fieldRef.apiVersion) fieldRef.apiVersion = 'v1';
  }
  defaultProbe(obj(c.livenessProbe));
  defaultProbe(obj(c.readinessProbe));
  defaultProbe(obj(c.startupProbe));
  const lc = obj(c.lifecycle);
  if (lc) {
    defaultHandler(obj(lc.postStart));
    defaultHandler(obj(lc.preStop));
  }
}

const VOLUME_SOURCES = [
  'hostPath',
  'emptyDir',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'persistentVolumeClaim',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'downwardAPI',
  'fc',
  'azureFile',
  'configMap',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'projected',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'csi',
  'ephemeral',
  'image',
];

function defaultVolume(v: JsonObject): void {
  if (!VOLUME_SOURCES.some((k) => k in v)) v.emptyDir = {};
  const hp = obj(v.hostPath);
  if (hp && hp.type === undefined) hp.type = '';
  for (const k of ['secret', 'configMap', 'downwardAPI', 'projected']) {
    const src = obj(v[k]);
    if (src && src.defaultMode === undefined) src.defaultMode = 420;
  }
  const da = obj(v.downwardAPI);
  for (const item of list(da?.items)) {
    const fr = obj(obj(item)?.fieldRef);
    if (fr && !fr.apiVersion) fr.apiVersion = 'v1';
  }
  for (const s of list(obj(v.projected)?.sources)) {
    const sa = obj(obj(s)?.serviceAccountToken);
    if (sa && sa.expirationSeconds === undefined) sa.expirationSeconds = 3600;
    for (const item of list(obj(obj(s)?.downwardAPI)?.items)) {
      const fr = obj(obj(item)?.fieldRef);
      if (fr && !fr.apiVersion) fr.apiVersion = 'v1';
    }
  }
}

/** Decode-time defaults of a v1 Pod (run on every write, like the apiserver's decoder). */
export function defaultPod(pod: JsonObject): void {
  if (!isObject(pod.spec)) pod.spec = {};
  const spec = pod.spec as JsonObject;
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  if (!isObject(spec.securityContext)) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) {
    spec.terminationGracePeriodSeconds = 30;
  }
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  if (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null) spec.enableServiceLinks = true;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of [...list(spec.containers), ...list(spec.initContainers)])
    if (isObject(c)) defaultContainer(c, hostNetwork);
  for (const c of list(spec.ephemeralContainers)) {
    if (!isObject(c)) continue;
    if (typeof c.image === 'string' && !c.imagePullPolicy) c.imagePullPolicy = imagePullPolicy(c.image);
    if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
    if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
    if (!isObject(c.resources)) c.resources = {};
  }
  for (const v of list(spec.volumes)) if (isObject(v)) defaultVolume(v);
  if (!isObject(pod.status)) pod.status = {};
  convertPodIPs(pod.status as JsonObject, 'podIP', 'podIPs');
  convertPodIPs(pod.status as JsonObject, 'hostIP', 'hostIPs');
}

/**
 * The v1 ⇄ internal round trip of podIP/podIPs (and hostIP/hostIPs): the singular field is
 * authoritative when both are set and differ; each fills the other when alone.
 */
function convertPodIPs(status: JsonObject, single: string, plural: string): void {
  const one = typeof status[single] === 'string' ? (status[single] as string) : '';
  const many = list(status[plural]);
  const first = obj(many[0]);
  if (one && (many.length === 0 || (first && first.ip !== one))) status[plural] = [{ ip: one }];
  else if (!one && first && typeof first.ip === 'string' && first.ip) status[single] = first.ip;
}

/** Admission plugins every cluster enables that mutate pods on create: Priority and DefaultTolerationSeconds. */
export function admitPodCreate(pod: JsonObject): void {
  const spec = pod.spec as JsonObject;
  if (spec.priority === undefined && !spec.priorityClassName) spec.priority = 0;
  if (spec.preemptionPolicy === undefined) spec.preemptionPolicy = 'PreemptLowerPriority';
  const tolerations = list(spec.tolerations).slice();
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    const has = tolerations.some((t) => {
      const o = obj(t);
      if (!o) return false;
      const effectOk = o.effect === undefined || o.effect === '' || o.effect === 'NoExecute';
      return effectOk && (o.key === key || ((o.key === undefined || o.key === '') && o.operator === 'Exists'));
    });
    if (!has) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  spec.tolerations = tolerations;
}

/** podStrategy.PrepareForCreate: generation 1, status reset to Pending with the QoS class. */
export function preparePodForCreate(pod: JsonObject): void {
  (pod.metadata as JsonObject).generation = 1;
  pod.status = { phase: 'Pending', qosClass: podQOS(pod) };
}

export function defaultNode(node: JsonObject): void {
  if (!isObject(node.spec)) node.spec = {};
  if (!isObject(node.status)) node.status = {};
  const status = node.status as JsonObject;
  if (status.allocatable === undefined && isObject(status.capacity)) status.allocatable = deepClone(status.capacity);
}

export function defaultNamespace(ns: JsonObject): void {
  const meta = ns.metadata as JsonObject;
  const name = typeof meta.name === 'string' ? meta.name : '';
  if (name) {
    const labels = obj(meta.labels) ?? {};
    labels['kubernetes.io/metadata.name'] = name;
    meta.labels = labels;
  }
  if (!isObject(ns.spec)) ns.spec = {};
  if (!isObject(ns.status)) ns.status = {};
  const status = ns.status as JsonObject;
  if (!status.phase) status.phase = 'Active';
}

export function prepareNamespaceForCreate(ns: JsonObject): void {
  const spec = ns.spec as JsonObject;
  const fin = list(spec.finalizers).map(String);
  if (!fin.includes('kubernetes')) fin.push('kubernetes');
  spec.finalizers = fin;
  ns.status = { phase: 'Active' };
}

export function defaultSecret(s: JsonObject): void {
  if (!s.type) s.type = 'Opaque';
}

export function defaultService(svc: JsonObject): void {
  if (!isObject(svc.spec)) svc.spec = {};
  const spec = svc.spec as JsonObject;
  if (!spec.type) spec.type = 'ClusterIP';
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  for (const p of list(spec.ports)) {
    const port = obj(p);
    if (!port) continue;
    if (!port.protocol) port.protocol = 'TCP';
    if (port.targetPort === undefined) port.targetPort = port.port ?? 0;
  }
  if (!isObject(svc.status)) svc.status = { loadBalancer: {} };
}

// ---------------------------------------------------------------------------------------------
// validation

export function validatePod(pod: JsonObject, name: string): void {
  const spec = obj(pod.spec) ?? {};
  const causes: Cause[] = [];
  const containers = list(spec.containers);
  if (containers.length === 0) causes.push({ field: 'spec.containers', type: 'Required value', detail: '' });
  const seen = new Set<string>();
  const check = (cs: Json[], path: string): void => {
    cs.forEach((c, i) => {
      const o = obj(c) ?? {};
      const n = o.name;
      if (typeof n !== 'string' || n === '')
        causes.push({ field: `${path}[${i}].name`, type: 'Required value', detail: '' });
      else if (seen.has(n))
        causes.push({ field: `${path}[${i}].name`, type: 'Duplicate value', detail: JSON.stringify(n) });
      else {
        seen.add(n);
        const bad = validateName(n, 'label');
        if (bad)
          causes.push({ field: `${path}[${i}].name`, type: 'Invalid value', detail: `${JSON.stringify(n)}: ${bad}` });
      }
      if (typeof o.image !== 'string' || o.image.trim() === '')
        causes.push({ field: `${path}[${i}].image`, type: 'Required value', detail: '' });
    });
  };
  check(list(spec.initContainers), 'spec.initContainers');
  check(containers, 'spec.containers');
  const rp = spec.restartPolicy;
  if (rp !== 'Always' && rp !== 'OnFailure' && rp !== 'Never') {
    causes.push({
      field: 'spec.restartPolicy',
      type: 'Unsupported value',
      detail: `${JSON.stringify(rp)}: supported values: "Always", "OnFailure", "Never"`,
    });
  }
  if (causes.length) throw errors.invalid({ group: '', kind: 'Pod' }, name, causes);
}

/** ValidateLeaseSpec (coordination validation): a duration, when given, above 0; transitions not negative. */
export function validateLease(lease: JsonObject, name: string): void {
  const spec = obj(lease.spec) ?? {};
  const causes: Cause[] = [];
  const d = spec.leaseDurationSeconds;
  if (typeof d === 'number' && d <= 0)
    causes.push({ field: 'spec.leaseDurationSeconds', type: 'Invalid value', detail: `${d}: must be greater than 0` });
  const t = spec.leaseTransitions;
  if (typeof t === 'number' && t < 0)
    causes.push({
      field: 'spec.leaseTransitions',
      type: 'Invalid value',
      detail: `${t}: must be greater than or equal to 0`,
    });
  if (causes.length) throw errors.invalid({ group: 'coordination.k8s.io', kind: 'Lease' }, name, causes);
}

/**
 * legacyValidateEvent's namespace rule for a core/v1 Event (storage form): without eventTime the
 * Event lives in its object's namespace, a cluster-scoped object's Event in "" or "default";
 * with eventTime (events.k8s.io writers) a cluster-scoped object's Event is in "default" or
 * "kube-system". The rest of event validation is not modelled.
 */
export function validateEvent(event: JsonObject, name: string): void {
  const ns = typeof obj(event.metadata)?.namespace === 'string' ? (obj(event.metadata)!.namespace as string) : '';
  const involved = obj(event.involvedObject) ?? {};
  const ins = typeof involved.namespace === 'string' ? involved.namespace : '';
  const eventTime = event.eventTime;
  const ok =
    eventTime === undefined || eventTime === null || eventTime === ''
      ? ins === ''
        ? ns === '' || ns === 'default'
        : ns === ins
      : ins !== '' || ns === 'default' || ns === 'kube-system';
  if (!ok) {
    throw errors.invalid({ group: '', kind: 'Event' }, name, [
      {
        field: 'involvedObject.namespace',
        type: 'Invalid value',
        detail: `${JSON.stringify(ins)}: does not match event.namespace`,
      },
    ]);
  }
}

/**
 * ValidatePodUpdate's spec rule: only container images, activeDeadlineSeconds, tolerations
 * additions, scheduling gate removal and a negative→1 grace period may change.
 */
export function validatePodUpdate(newPod: JsonObject, oldPod: JsonObject, name: string): void {
  const mask = (spec: JsonObject, other: JsonObject): JsonObject => {
    const s = deepClone(spec);
    const o = other;
    for (const field of ['containers', 'initContainers']) {
      const cs = list(s[field]);
      const os = list(o[field]);
      cs.forEach((c, i) => {
        const oc = obj(os[i]);
        if (isObject(c) && oc) c.image = oc.image ?? null;
      });
    }
    delete s.activeDeadlineSeconds;
    delete s.schedulingGates;
    if (
      s.terminationGracePeriodSeconds === 1 &&
      typeof o.terminationGracePeriodSeconds === 'number' &&
      o.terminationGracePeriodSeconds < 0
    ) {
      s.terminationGracePeriodSeconds = o.terminationGracePeriodSeconds;
    }
    // tolerations: additions only
    const nt = list(s.tolerations);
    const ot = list(o.tolerations);
    if (ot.every((t) => nt.some((x) => deepEqual(x, t)))) s.tolerations = ot;
    return s;
  };
  const ns = obj(newPod.spec) ?? {};
  const os = obj(oldPod.spec) ?? {};
  if (!deepEqual(mask(ns, os), os)) {
    throw errors.invalid({ group: '', kind: 'Pod' }, name, [
      {
        field: 'spec',
        type: 'Forbidden',
        detail:
          'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      },
    ]);
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function ipFamily(ip: string): 4 | 6 | 0 {
  if (IPV4.test(ip)) return 4;
  if (ip.includes(':') && /^[0-9a-fA-F:.]+$/.test(ip)) {
    try {
      new URL(`http://[${ip}]/`);
      return 6;
    } catch {
      return 0;
    }
  }
  return 0;
}

/**
 * ValidatePodStatusUpdate's checks on what a kubelet writes: nodeName untouched, terminated
 * containers not brought back to life unless the restart policy allows it (sidecar init containers
 * excepted), pod/host IPs valid and at most one per family.
 */
export function validatePodStatusUpdate(newPod: JsonObject, oldPod: JsonObject, name: string): void {
  const causes: Cause[] = [];
  const oldSpec = obj(oldPod.spec) ?? {};
  const newStatus = obj(newPod.status) ?? {};
  const oldStatus = obj(oldPod.status) ?? {};
  if ((obj(newPod.spec) ?? {}).nodeName !== oldSpec.nodeName) {
    causes.push({ field: 'status.nodeName', type: 'Forbidden', detail: 'may not be changed directly' });
  }
  const policy = typeof oldSpec.restartPolicy === 'string' ? oldSpec.restartPolicy : 'Always';
  const sidecars = new Set(
    list(oldSpec.initContainers)
      .filter((c) => obj(c)?.restartPolicy === 'Always')
      .map((c) => String(obj(c)?.name)),
  );
  const transition = (field: string, skip: (n: string) => boolean): void => {
    if (policy === 'Always') return;
    list(oldStatus[field]).forEach((o, i) => {
      const old = obj(o) ?? {};
      const term = obj(obj(old.state)?.terminated);
      if (!term || skip(String(old.name))) return;
      if (term.exitCode !== 0 && policy === 'OnFailure') return;
      for (const n of list(newStatus[field])) {
        const ns = obj(n) ?? {};
        if (ns.name === old.name && !obj(obj(ns.state)?.terminated)) {
          causes.push({
            field: `status.${field}[${i}].state`,
            type: 'Forbidden',
            detail: 'may not be transitioned to non-terminated state',
          });
        }
      }
    });
  };
  transition('containerStatuses', () => false);
  transition('initContainerStatuses', (n) => sidecars.has(n));
  for (const field of ['podIPs', 'hostIPs']) {
    const ips = list(newStatus[field]).map((x) => String(obj(x)?.ip ?? ''));
    ips.forEach((ip, i) => {
      if (ipFamily(ip) === 0) {
        causes.push({
          field: `status.${field}[${i}]`,
          type: 'Invalid value',
          detail: `${JSON.stringify(ip)}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
        });
      }
    });
    if (ips.length > 1) {
      const fams = new Set(ips.map(ipFamily));
      if (ips.length > 2 || fams.size !== 2) {
        causes.push({
          field: `status.${field}`,
          type: 'Invalid value',
          detail: 'may specify no more than one IP for each IP family',
        });
      }
    }
  }
  if (causes.length) throw errors.invalid({ group: '', kind: 'Pod' }, name, causes);
}
