/**
 * certificates.k8s.io/v1 as the kubelet uses it: the CertificateSigningRequest it creates for its
 * client certificate (TLS bootstrap, rotation) and, with serverTLSBootstrap, its serving one; the
 * port it reaches the API through; and the rotation deadline of client-go's certificate manager.
 */
import type { WatchEvent, WatchHandle } from './api.ts';

/** The signer of kubelet client certificates (k8s.io/api/certificates/v1 KubeAPIServerClientKubeletSignerName). */
export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
/** The signer of kubelet serving certificates (KubeletServingSignerName). */
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';

export type KeyUsage = 'digital signature' | 'key encipherment' | 'client auth' | 'server auth';

/**
 * client-go's DefaultKubeletClientGetUsages for an ECDSA key: key encipherment is for RSA keys
 * only (an ECDSA key cannot encipher), so the kubelet asks for digital signature and client auth.
 */
export const KUBELET_CLIENT_USAGES: readonly KeyUsage[] = ['digital signature', 'client auth'];
/** DefaultKubeletServingGetUsages for an ECDSA key. */
export const KUBELET_SERVING_USAGES: readonly KeyUsage[] = ['digital signature', 'server auth'];

export interface CsrCondition {
  type: 'Approved' | 'Denied' | 'Failed' | string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

export interface CertificateSigningRequest {
  apiVersion?: 'certificates.k8s.io/v1';
  kind?: 'CertificateSigningRequest';
  metadata: {
    name?: string;
    generateName?: string;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
  };
  spec: {
    /** base64 of the PEM "CERTIFICATE REQUEST". */
    request: string;
    signerName: string;
    usages?: KeyUsage[];
    expirationSeconds?: number;
    username?: string;
    groups?: string[];
  };
  status?: {
    conditions?: CsrCondition[];
    /** base64 of the PEM certificate, once issued. */
    certificate?: string;
  };
}

/** The slice of the certificates API the kubelet calls (adapters/kube/client.ts implements it). */
export interface CsrApi {
  createCsr(csr: CertificateSigningRequest): Promise<CertificateSigningRequest>;
  getCsr(name: string): Promise<CertificateSigningRequest>;
  /** A watch of the one CSR `name` (fieldSelector metadata.name), from `resourceVersion`. */
  watchCsr(
    name: string,
    resourceVersion: string | undefined,
    onEvent: (e: WatchEvent<CertificateSigningRequest>) => void,
    done: (err?: unknown) => void,
  ): Promise<WatchHandle>;
}

/** Where a CSR stands, as csr.WaitForCertificate reads it. */
export type CsrOutcome =
  | { state: 'pending' }
  | { state: 'issued'; certificatePem: string }
  | { state: 'denied' | 'failed'; reason: string; message: string };

/**
 * Denied or Failed (a True condition of that type) ends it; Approved with status.certificate is
 * issued; anything else, Approved but unsigned included, is still pending.
 */
export function csrOutcome(csr: CertificateSigningRequest): CsrOutcome {
  const conds = csr.status?.conditions ?? [];
  for (const type of ['Denied', 'Failed'] as const) {
    const c = conds.find((x) => x.type === type && x.status === 'True');
    if (c) return { state: type === 'Denied' ? 'denied' : 'failed', reason: c.reason ?? '', message: c.message ?? '' };
  }
  const approved = conds.some((x) => x.type === 'Approved' && x.status === 'True');
  if (approved && csr.status?.certificate) {
    return { state: 'issued', certificatePem: Buffer.from(csr.status.certificate, 'base64').toString('utf8') };
  }
  return { state: 'pending' };
}

/**
 * client-go certificate manager's nextRotationDeadline: a jittered 70–90% of the certificate's
 * lifetime after its notBefore (jitteryDuration: wait.Jitter(d, 0.2) − 0.3·d), so that the nodes
 * of a cluster do not all renew at once. `random` is in [0, 1).
 */
export function nextRotationDeadline(notBeforeMs: number, notAfterMs: number, random: number): number {
  const total = notAfterMs - notBeforeMs;
  return notBeforeMs + Math.floor(total * (0.7 + 0.2 * random));
}
