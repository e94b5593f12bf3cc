/**
 * certificates.k8s.io/v1 for the stand-in: the CertificateSigningRequest resource (cluster-scoped,
 * `status` and `approval` subresources), the approver kube-controller-manager's csrapproving
 * controller is for kubelet client certificates, and the signer its csrsigning controller is,
 * with the stand-in's own CA so the certificates it issues authenticate to it.
 *
 * Approver modes: 'auto' approves a kubelet client CSR (signer kube-apiserver-client-kubelet,
 * O=[system:nodes], CN system:node:<name>, usages within digital signature, key encipherment and
 * client auth, no SANs) created by a bootstrap token (group system:bootstrappers: the nodeclient
 * case) or by the node itself (username = CN: selfnodeclient), as kubeadm's RBAC lets it; a
 * serving CSR is left for an operator, as upstream, unless `approveServing` is on. 'deny' denies every new CSR, 'manual' leaves
 * them all pending (approve with `approve()`, or PUT /approval as admin).
 *
 * The signer issues approved CSRs of the two kubelet signers: validity from now (no backdate by
 * default, unlike upstream's 5 minutes, so a 20 s certificate in a spec is 20 s long) for
 * spec.expirationSeconds or the configured duration (upstream validation wants at least 600 s:
 * not enforced here), the CSR's subject and SANs, key usages and EKUs from spec.usages.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, X509Certificate } from 'node:crypto';
import {
  bits,
  bool,
  children,
  ctx,
  keyUsageBits,
  octets,
  oid,
  oidText,
  read,
  seq,
  time,
  uint,
} from '../../../adapters/kube/der.ts';
import { pem, pemDer } from '../../../adapters/kube/csr.ts';
import type { JsonObject } from './status.ts';
import { errors } from './status.ts';
import { isObject } from './patch.ts';

export type ApproverMode = 'auto' | 'deny' | 'manual';

const CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
const SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
const o = (v: unknown): JsonObject => (isObject(v as never) ? (v as JsonObject) : {});

/** What a CSR asks for, read from its PKCS#10 request (whose signature is checked). */
export interface ParsedCsr {
  subjectDer: Buffer;
  spkiDer: Buffer;
  commonName: string;
  organizations: string[];
  /** The SubjectAltName extension value, if any. */
  sanDer?: Buffer;
}

function strOf(d: { tag: number; content: Buffer }): string {
  return d.content.toString('utf8');
}

/** Parses and verifies a PEM certificate request (throws naming what is wrong). */
export function parseCsr(csrPem: string): ParsedCsr {
  const top = children(read(pemDer(csrPem, 'CERTIFICATE REQUEST')).content);
  const [info, , sig] = top;
  if (!info || !sig) throw new Error('not a PKCS#10 certificate request');
  const [, subject, spki, attrs] = children(info.content);
  if (!subject || !spki) throw new Error('certificate request without a subject or a public key');
  const pub = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
  if (!verify('sha256', info.raw, pub, sig.content.subarray(1)))
    throw new Error('certificate request signature does not verify');
  const organizations: string[] = [];
  let commonName = '';
  for (const rdn of children(subject.content)) {
    for (const atv of children(rdn.content)) {
      const [t, v] = children(atv.content);
      const type = oidText(t!.content);
      if (type === '2.5.4.3') commonName = strOf(v!);
      else if (type === '2.5.4.10') organizations.push(strOf(v!));
    }
  }
  let sanDer: Buffer | undefined;
  for (const attr of attrs ? children(attrs.content) : []) {
    const [t, values] = children(attr.content);
    if (oidText(t!.content) !== '1.2.840.113549.1.9.14') continue;
    for (const exts of children(values!.content)) {
      for (const ext of children(exts.content)) {
        const parts = children(ext.content);
        if (oidText(parts[0]!.content) === '2.5.29.17') sanDer = parts[parts.length - 1]!.content;
      }
    }
  }
  return { subjectDer: subject.raw, spkiDer: spki.raw, commonName, organizations, ...(sanDer ? { sanDer } : {}) };
}

const KEY_USAGE_BITS: Record<string, number> = {
  'digital signature': 0,
  'content commitment': 1,
  'key encipherment': 2,
  'key agreement': 4,
};
const EKU: Record<string, string> = { 'server auth': '1.3.6.1.5.5.7.3.1', 'client auth': '1.3.6.1.5.5.7.3.2' };

export interface Ca {
  certPem: string;
  keyPem: string;
}

/** An X.509 v3 certificate for `csr`, issued by `ca`, valid [notBefore, notAfter). */
export function issue(ca: Ca, csr: ParsedCsr, usages: string[], notBeforeMs: number, notAfterMs: number): string {
  const caCert = children(read(pemDer(ca.certPem, 'CERTIFICATE')).content);
  const caTbs = children(caCert[0]!.content);
  // [0] version, serial, signature, issuer, validity, subject: the issuer of ours is the CA's subject
  const caSubject = caTbs[caTbs[0]!.tag === 0xa0 ? 5 : 4]!.raw;
  const ext = (id: string, critical: boolean, value: Buffer) =>
    seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
  const ku = usages.map((u) => KEY_USAGE_BITS[u]).filter((b): b is number => b !== undefined);
  const eku = usages.map((u) => EKU[u]).filter((x): x is string => x !== undefined);
  const extensions = [
    ...(ku.length ? [ext('2.5.29.15', true, keyUsageBits(ku))] : []),
    ...(eku.length ? [ext('2.5.29.37', false, seq(...eku.map(oid)))] : []),
    ext('2.5.29.19', true, seq()),
    ...(csr.sanDer ? [ext('2.5.29.17', false, csr.sanDer)] : []),
  ];
  const alg = seq(oid('1.2.840.10045.4.3.2'));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = seq(
    ctx(0, uint(2)),
    uint(serial),
    alg,
    caSubject,
    seq(time(notBeforeMs), time(notAfterMs)),
    csr.subjectDer,
    csr.spkiDer,
    ctx(3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, createPrivateKey(ca.keyPem));
  return pem('CERTIFICATE', seq(tbs, alg, bits(signature)));
}

/** Why a CSR is not a kubelet client request csrapproving would approve, or undefined when it is. */
export function notNodeClient(csr: JsonObject, parsed: ParsedCsr): string | undefined {
  const spec = o(csr.spec);
  if (spec.signerName !== CLIENT_SIGNER) return `signer ${String(spec.signerName)}`;
  if (parsed.organizations.length !== 1 || parsed.organizations[0] !== 'system:nodes')
    return 'organization is not [system:nodes]';
  if (!parsed.commonName.startsWith('system:node:')) return 'common name does not start with system:node:';
  if (parsed.sanDer) return 'subject alternative names';
  const allowed = new Set(['digital signature', 'key encipherment', 'client auth']);
  const usages = Array.isArray(spec.usages) ? spec.usages.map(String) : [];
  if (!usages.includes('client auth') || usages.some((u) => !allowed.has(u))) return `usages ${usages.join(', ')}`;
  return undefined;
}

/**
 * A kubelet serving CSR an operator (or a serving approver such as kubelet-csr-approver) would
 * approve: signer kubelet-serving, O=[system:nodes], CN system:node:<name> = the requester, SANs,
 * usages within digital signature, key encipherment and server auth.
 */
function servingApproval(csr: JsonObject, parsed: ParsedCsr): { approve: boolean; reason: string } {
  const spec = o(csr.spec);
  const usages = Array.isArray(spec.usages) ? spec.usages.map(String) : [];
  const allowed = new Set(['digital signature', 'key encipherment', 'server auth']);
  const ok =
    parsed.organizations.length === 1 &&
    parsed.organizations[0] === 'system:nodes' &&
    parsed.commonName.startsWith('system:node:') &&
    spec.username === parsed.commonName &&
    parsed.sanDer !== undefined &&
    usages.includes('server auth') &&
    usages.every((u) => allowed.has(u));
  return ok
    ? { approve: true, reason: 'Auto approving kubelet serving certificate (stand-in approveServing).' }
    : { approve: false, reason: 'not a kubelet serving request of the node itself' };
}

/** csrapproving's decision for a new CSR: approve, or leave it (with the reason). */
export function approvalFor(csr: JsonObject, approveServing = false): { approve: boolean; reason: string } {
  const spec = o(csr.spec);
  let parsed: ParsedCsr;
  try {
    parsed = parseCsr(Buffer.from(String(spec.request ?? ''), 'base64').toString('utf8'));
  } catch (e) {
    return { approve: false, reason: String(e) };
  }
  if (approveServing && spec.signerName === SERVING_SIGNER) return servingApproval(csr, parsed);
  const why = notNodeClient(csr, parsed);
  if (why) return { approve: false, reason: why };
  const groups = Array.isArray(spec.groups) ? spec.groups.map(String) : [];
  if (groups.includes('system:bootstrappers'))
    return { approve: true, reason: 'Auto approving kubelet client certificate after SubjectAccessReview.' };
  if (spec.username === parsed.commonName)
    return { approve: true, reason: 'Auto approving self kubelet client certificate after SubjectAccessReview.' };
  return { approve: false, reason: `requester ${String(spec.username)} is neither a bootstrapper nor the node itself` };
}

/** The CSR strategy's create step: the requester's identity is the server's to set (spec.username, spec.groups). */
export function setCsrRequester(csr: JsonObject, user: { name: string; groups: string[] }): void {
  const spec = o(csr.spec);
  csr.spec = spec;
  spec.username = user.name;
  spec.groups = user.groups;
}

/** Validation of a new CSR (ValidateCertificateSigningRequestCreate, the parts a kubelet can hit). */
export function validateCsr(csr: JsonObject, name: string): void {
  const spec = o(csr.spec);
  const causes: { field: string; type: string; detail: string }[] = [];
  if (typeof spec.signerName !== 'string' || !spec.signerName)
    causes.push({ field: 'spec.signerName', type: 'Required value', detail: '' });
  try {
    parseCsr(Buffer.from(String(spec.request ?? ''), 'base64').toString('utf8'));
  } catch (e) {
    causes.push({ field: 'spec.request', type: 'Invalid value', detail: `<snip>: ${String((e as Error).message)}` });
  }
  if (!Array.isArray(spec.usages) || spec.usages.length === 0)
    causes.push({ field: 'spec.usages', type: 'Required value', detail: '' });
  if (causes.length)
    throw errors.invalid({ group: 'certificates.k8s.io', kind: 'CertificateSigningRequest' }, name, causes);
}

export interface SignerOptions {
  ca: Ca;
  /** Validity when the CSR has no expirationSeconds (kube-controller-manager --cluster-signing-duration, 1 year). */
  defaultDurationSeconds: number;
  /** How far notBefore is set back (upstream 5 min; default 0 here). */
  backdateSeconds?: number;
  now: () => number;
}

/** The status.certificate of an approved CSR of a kubelet signer, or undefined when it is not ours to sign. */
export function signCsr(csr: JsonObject, s: SignerOptions): string | undefined {
  const spec = o(csr.spec);
  if (spec.signerName !== CLIENT_SIGNER && spec.signerName !== SERVING_SIGNER) return undefined;
  const parsed = parseCsr(Buffer.from(String(spec.request ?? ''), 'base64').toString('utf8'));
  const seconds = typeof spec.expirationSeconds === 'number' ? spec.expirationSeconds : s.defaultDurationSeconds;
  const now = Math.floor(s.now() / 1000) * 1000;
  const notBefore = now - (s.backdateSeconds ?? 0) * 1000;
  const caNotAfter = Date.parse(new X509Certificate(s.ca.certPem).validTo);
  const notAfter = Math.min(now + seconds * 1000, caNotAfter);
  const usages = Array.isArray(spec.usages) ? spec.usages.map(String) : [];
  return issue(s.ca, parsed, usages, notBefore, notAfter);
}

const condition = (type: string, reason: string, message: string, at: string): JsonObject => ({
  type,
  status: 'True',
  reason,
  message,
  lastUpdateTime: at,
  lastTransitionTime: at,
});

/** The approval condition objects (for PUT /approval). */
export function approvalCondition(approve: boolean, reason: string, message: string, at: string): JsonObject {
  return condition(approve ? 'Approved' : 'Denied', reason, message, at);
}

/**
 * The registry strategy (pkg/registry/certificates/certificates/strategy.go): the main resource
 * keeps its status; /status keeps the spec and the approval conditions; /approval keeps the
 * spec and the certificate, and takes only the conditions.
 */
export const csrStrategy = {
  prepareForCreate: (c: JsonObject): void => {
    c.status = {};
  },
  prepareForUpdate: (n: JsonObject, old: JsonObject): void => {
    n.spec = old.spec ?? {};
    n.status = old.status ?? {};
  },
  prepareForStatusUpdate: (n: JsonObject, old: JsonObject): void => {
    n.spec = old.spec ?? {};
    const approvals = (
      Array.isArray(o(old.status).conditions) ? (o(old.status).conditions as JsonObject[]) : []
    ).filter((c) => c.type === 'Approved' || c.type === 'Denied');
    const st = o(n.status);
    const others = (Array.isArray(st.conditions) ? (st.conditions as JsonObject[]) : []).filter(
      (c) => c.type !== 'Approved' && c.type !== 'Denied',
    );
    n.status = { ...st, conditions: [...approvals, ...others] };
  },
  prepareForSubresourceUpdate: (sub: string, n: JsonObject, old: JsonObject): void => {
    if (sub !== 'approval') return;
    n.spec = old.spec ?? {};
    const oldSt = o(old.status);
    n.status = { ...oldSt, conditions: o(n.status).conditions ?? [] };
  },
};

/** What the CSR controllers need of the stand-in's store. */
export interface CsrControllerStore {
  /** Calls `fn` with each CSR added or modified. */
  onCsr(fn: (csr: JsonObject) => void): void;
  get(name: string): JsonObject | undefined;
  put(csr: JsonObject, subresource: 'approval' | 'status'): void;
}

export interface CsrControllers {
  mode: ApproverMode;
  /** In 'auto' mode, also approve kubelet serving CSRs of the node itself (upstream leaves them to an operator). */
  approveServing: boolean;
  /** Approves (or denies) CSR `name` as an operator's `kubectl certificate approve` would. */
  decide(name: string, approve: boolean, reason?: string): void;
}

/**
 * csrapproving and csrsigning as a store listener, run a microtask after each change (a
 * controller reacts to the watch event, never inside the write).
 */
export function startCsrControllers(
  store: CsrControllerStore,
  signer: SignerOptions,
  mode: ApproverMode,
): CsrControllers {
  const stamp = () => new Date(signer.now()).toISOString().replace(/\.\d+Z$/, 'Z');
  const conditions = (c: JsonObject): JsonObject[] =>
    Array.isArray(o(c.status).conditions) ? (o(c.status).conditions as JsonObject[]) : [];
  const decided = (c: JsonObject) => conditions(c).some((x) => x.type === 'Approved' || x.type === 'Denied');
  const approve = (c: JsonObject, yes: boolean, reason: string, message: string) => {
    store.put(
      {
        ...c,
        status: { ...o(c.status), conditions: [...conditions(c), approvalCondition(yes, reason, message, stamp())] },
      },
      'approval',
    );
  };
  const ctl: CsrControllers = {
    mode,
    approveServing: false,
    decide(name, yes, reason) {
      const c = store.get(name);
      if (!c) throw new Error(`apiserver stand-in: no CertificateSigningRequest ${name}`);
      approve(
        c,
        yes,
        yes ? 'KubectlApprove' : 'KubectlDeny',
        reason ??
          (yes
            ? 'This CSR was approved by kubectl certificate approve.'
            : 'This CSR was denied by kubectl certificate deny.'),
      );
    },
  };
  const react = (name: string) => {
    const c = store.get(name);
    if (!c) return;
    if (!decided(c)) {
      if (ctl.mode === 'deny') approve(c, false, 'AutoDenied', 'denied by the stand-in approver (mode deny)');
      else if (ctl.mode === 'auto') {
        const d = approvalFor(c, ctl.approveServing);
        if (d.approve) approve(c, true, 'AutoApproved', d.reason);
      }
      return;
    }
    const approved = conditions(c).some((x) => x.type === 'Approved' && x.status === 'True');
    const failed = conditions(c).some((x) => x.type === 'Failed');
    if (!approved || failed || o(c.status).certificate) return;
    let cert: string | undefined;
    try {
      cert = signCsr(c, signer);
    } catch (e) {
      const failedCond = {
        type: 'Failed',
        status: 'True',
        reason: 'SignerValidationFailure',
        message: String((e as Error).message),
        lastUpdateTime: stamp(),
        lastTransitionTime: stamp(),
      };
      store.put({ ...c, status: { ...o(c.status), conditions: [...conditions(c), failedCond] } }, 'status');
      return;
    }
    if (cert)
      store.put({ ...c, status: { ...o(c.status), certificate: Buffer.from(cert).toString('base64') } }, 'status');
  };
  store.onCsr((c) => {
    const name = String(o(c.metadata).name ?? '');
    queueMicrotask(() => react(name));
  });
  return ctl;
}
