/**
 * The stand-in's service account token issuer: kube-apiserver's TokenRequest subresource
 * (POST serviceaccounts/<name>/token, pkg/registry/core/serviceaccount/storage/token.go) signing
 * JWTs with an ES256 key (node:crypto), the claims upstream's serviceaccount.Claims gives a
 * bound token (aud, exp, iat, nbf, iss, jti, sub, and `kubernetes.io` with namespace,
 * serviceaccount, pod, and the pod's node as since 1.32), the OIDC discovery documents
 * (/.well-known/openid-configuration, /openid/v1/jwks), and a verifier for specs.
 *
 * Validation as upstream: expirationSeconds defaults to 3600 and may not be under 600; the
 * service account must exist; a bound Pod must exist with the given uid and run as that
 * service account. NodeRestriction's rules for a node's request are in auth.ts
 * (admitNodeTokenRequest). Not modelled: the extended one-year expiry of the legacy 3607 s
 * request (`warnafter`), Secret-bound and Node-bound tokens, TokenReview.
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { errors } from './status.ts';
import type { Json, JsonObject } from './status.ts';
import { isObject } from './patch.ts';

/** The issuer (and default audience) of a kubeadm cluster. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const MIN_EXPIRATION_SECONDS = 600;
export const DEFAULT_EXPIRATION_SECONDS = 3600;

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export interface VerifiedToken {
  header: JsonObject;
  claims: JsonObject;
}

export interface TokenLookup {
  serviceAccount(namespace: string, name: string): JsonObject | undefined;
  pod(namespace: string, name: string): JsonObject | undefined;
  node(name: string): JsonObject | undefined;
}

export class TokenIssuer {
  readonly issuer = SERVICE_ACCOUNT_ISSUER;
  readonly publicKey: KeyObject;
  /** upstream keyIDFromPublicKey: base64url of the SHA-256 of the DER public key. */
  readonly kid: string;
  readonly #privateKey: KeyObject;

  constructor() {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.publicKey = publicKey;
    this.#privateKey = privateKey;
    this.kid = b64url(
      createHash('sha256')
        .update(publicKey.export({ type: 'spki', format: 'der' }))
        .digest(),
    );
  }

  /** /openid/v1/jwks */
  jwks(): JsonObject {
    const jwk = this.publicKey.export({ format: 'jwk' }) as Record<string, string>;
    return { keys: [{ use: 'sig', kty: jwk.kty!, kid: this.kid, crv: jwk.crv!, alg: 'ES256', x: jwk.x!, y: jwk.y! }] };
  }

  /** /.well-known/openid-configuration */
  discovery(serverUrl: string): JsonObject {
    return {
      issuer: this.issuer,
      jwks_uri: `${serverUrl}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    };
  }

  signJwt(claims: JsonObject): string {
    const head = b64url(JSON.stringify({ alg: 'ES256', kid: this.kid }));
    const body = b64url(JSON.stringify(claims));
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: this.#privateKey, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${b64url(sig)}`;
  }

  /**
   * TokenRequest for the service account `name`: the answer's body (201), or the ApiError
   * upstream gives. `nowMs` is the server's clock.
   */
  request(namespace: string, name: string, body: unknown, lookup: TokenLookup, nowMs: number): JsonObject {
    if (!isObject(body)) throw errors.badRequest('the body of the request was empty');
    const spec = isObject(body.spec) ? body.spec : {};
    const exp =
      spec.expirationSeconds === undefined || spec.expirationSeconds === null
        ? DEFAULT_EXPIRATION_SECONDS
        : spec.expirationSeconds;
    if (typeof exp !== 'number' || !Number.isInteger(exp))
      throw errors.badRequest('spec.expirationSeconds: must be an integer');
    if (exp < MIN_EXPIRATION_SECONDS) {
      throw errors.invalid({ group: 'authentication.k8s.io', kind: 'TokenRequest' }, '', [
        {
          field: 'spec.expirationSeconds',
          type: 'Invalid value',
          detail: `${exp}: may not specify a duration less than 10 minutes`,
        },
      ]);
    }
    if (exp > 2 ** 32) {
      throw errors.invalid({ group: 'authentication.k8s.io', kind: 'TokenRequest' }, '', [
        {
          field: 'spec.expirationSeconds',
          type: 'Invalid value',
          detail: `${exp}: may not specify a duration larger than 2^32 seconds`,
        },
      ]);
    }
    const sa = lookup.serviceAccount(namespace, name);
    if (!sa) throw errors.notFound({ group: '', resource: 'serviceaccounts' }, name);
    const saMeta = isObject(sa.metadata) ? sa.metadata : {};
    const audiences =
      Array.isArray(spec.audiences) && spec.audiences.length > 0
        ? (spec.audiences as Json[]).map(String)
        : [this.issuer];
    const k8s: JsonObject = { namespace, serviceaccount: { name, uid: String(saMeta.uid ?? '') } };
    const ref = isObject(spec.boundObjectRef) ? spec.boundObjectRef : undefined;
    if (ref) {
      if (ref.kind !== 'Pod')
        throw errors.badRequest(
          `cannot bind token to object of type ${String(ref.kind)} (only Pod is modelled by the stand-in)`,
        );
      const pod = lookup.pod(namespace, String(ref.name ?? ''));
      if (!pod) throw errors.notFound({ group: '', resource: 'pods' }, String(ref.name ?? ''));
      const pm = isObject(pod.metadata) ? pod.metadata : {};
      const ps = isObject(pod.spec) ? pod.spec : {};
      if (ref.uid && ref.uid !== pm.uid) {
        throw errors.conflict(
          { group: '', resource: 'pods' },
          String(ref.name),
          `the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      }
      if (String(ps.serviceAccountName ?? 'default') !== name) {
        throw errors.badRequest(
          `cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`,
        );
      }
      k8s.pod = { name: String(pm.name), uid: String(pm.uid) };
      const nodeName = String(ps.nodeName ?? '');
      if (nodeName) {
        const node = lookup.node(nodeName);
        k8s.node = { name: nodeName, uid: String((isObject(node?.metadata) ? node.metadata : {}).uid ?? '') };
      }
    }
    const iat = Math.floor(nowMs / 1000);
    const claims: JsonObject = {
      aud: audiences,
      exp: iat + exp,
      iat,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: iat,
      sub: `system:serviceaccount:${namespace}:${name}`,
    };
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: { audiences, expirationSeconds: exp, boundObjectRef: ref ?? null },
      status: {
        token: this.signJwt(claims),
        expirationTimestamp: new Date((iat + exp) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    };
  }
}

/**
 * Verifies an ES256 JWT against a JWKS document (as a relying party does with
 * /openid/v1/jwks): the signature by the key its `kid` names, and nothing else (the caller
 * checks the claims). Throws naming what does not hold.
 */
export function verifyJwt(token: string, jwks: JsonObject): VerifiedToken {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not a JWT: want three dot-separated parts');
  const [h, b, s] = parts as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as JsonObject;
  if (header.alg !== 'ES256') throw new Error(`unexpected alg ${String(header.alg)}`);
  const keys = Array.isArray(jwks.keys) ? jwks.keys : [];
  const jwk = keys.find((k) => isObject(k) && k.kid === header.kid);
  if (!jwk) throw new Error(`no key with kid ${String(header.kid)} in the JWKS`);
  const key = createPublicKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  if (!verify('sha256', Buffer.from(`${h}.${b}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))) {
    throw new Error('bad signature');
  }
  return { header, claims: JSON.parse(Buffer.from(b, 'base64url').toString('utf8')) as JsonObject };
}
