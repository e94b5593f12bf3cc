/**
 * The review APIs a kubelet's webhook authentication and authorization call:
 * `POST /apis/authentication.k8s.io/v1/tokenreviews` (the token checked against the stand-in's
 * own bearer tokens, as kube-apiserver checks it against its authenticators) and
 * `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` (judged by a policy a spec sets;
 * by default only system:masters is allowed, as a cluster without RBAC bindings for the subject).
 * Every review is kept in `tokenReviews` / `accessReviews` so a spec can count the kubelet's calls.
 */
import type { Identity } from './auth.ts';
import type { Extension } from './extension.ts';
import { errors } from './status.ts';
import type { JsonObject } from './status.ts';

export interface AccessReview {
  user: string;
  groups: string[];
  resourceAttributes: {
    namespace?: string;
    verb?: string;
    group?: string;
    version?: string;
    resource?: string;
    subresource?: string;
    name?: string;
  };
}

export interface AccessDecision {
  allowed: boolean;
  reason?: string;
}

export type AccessPolicy = (r: AccessReview) => AccessDecision;

/** The default: system:masters may do anything, nobody else anything. */
export const mastersOnly: AccessPolicy = (r) =>
  r.groups.includes('system:masters') ? { allowed: true, reason: 'system:masters' } : { allowed: false };

export class Reviews {
  policy: AccessPolicy = mastersOnly;
  readonly tokenReviews: string[] = [];
  readonly accessReviews: AccessReview[] = [];

  /** The extension answering both review kinds, tokens from `tokens`. */
  extension(tokens: ReadonlyMap<string, Identity>): Extension {
    return ({ info, body, send }) => {
      if (info.verb !== 'create' || info.apiVersion !== 'v1' || info.namespace) return false;
      const spec = ((body as JsonObject | undefined)?.spec ?? {}) as JsonObject;
      const meta = { creationTimestamp: null };
      if (info.apiGroup === 'authentication.k8s.io' && info.resource === 'tokenreviews') {
        const token = typeof spec.token === 'string' ? spec.token : '';
        if (!token)
          throw errors.invalid({ group: 'authentication.k8s.io', kind: 'TokenReview' }, '', [
            { field: 'spec.token', type: 'FieldValueRequired', detail: 'Required value' },
          ]);
        this.tokenReviews.push(token);
        const id = tokens.get(token);
        const status = id
          ? {
              authenticated: true,
              user: { username: id.name, groups: [...new Set([...id.groups, 'system:authenticated'])] },
              audiences: ['https://kubernetes.default.svc.cluster.local'],
            }
          : { user: {}, error: 'invalid bearer token' };
        send(201, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: meta, spec, status });
        return true;
      }
      if (info.apiGroup === 'authorization.k8s.io' && info.resource === 'subjectaccessreviews') {
        const review: AccessReview = {
          user: typeof spec.user === 'string' ? spec.user : '',
          groups: Array.isArray(spec.groups) ? spec.groups.filter((g): g is string => typeof g === 'string') : [],
          resourceAttributes: (spec.resourceAttributes ?? {}) as AccessReview['resourceAttributes'],
        };
        this.accessReviews.push(review);
        const d = this.policy(review);
        const status = { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) };
        send(201, { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: meta, spec, status });
        return true;
      }
      return false;
    };
  }
}
