/**
 * metav1.Status objects and the errors that carry them, shaped like
 * k8s.io/apimachinery/pkg/api/errors: same reasons, codes, messages and `details`
 * (note that `details.kind` is the *resource* plural for most constructors, as upstream does).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { resourceVersion?: string; continue?: string };
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A group/resource pair, printed like upstream's schema.GroupResource ("pods", "leases.coordination.k8s.io"). */
export interface GroupResource {
  group: string;
  resource: string;
}

export function grString(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

/** An API error: what the handler writes as the response body, with `code` as the HTTP status. */
export class ApiError extends Error {
  readonly status: Status;
  /** Extra response headers (Retry-After). */
  readonly headers: Record<string, string>;
  constructor(status: Status, headers: Record<string, string> = {}) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.name = 'ApiError';
    this.status = status;
    this.headers = headers;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
  // upstream's field order: kind, apiVersion, metadata, status, message, reason, details, code
  const s = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason } as Status;
  if (details) s.details = details;
  s.code = code;
  return s;
}

function grDetails(gr: GroupResource, name: string): StatusDetails {
  const d: StatusDetails = {};
  if (name) d.name = name;
  if (gr.group) d.group = gr.group;
  d.kind = gr.resource;
  return d;
}

export const errors = {
  notFound(gr: GroupResource, name: string): ApiError {
    return new ApiError(failure(404, 'NotFound', `${grString(gr)} "${name}" not found`, grDetails(gr, name)));
  },
  alreadyExists(gr: GroupResource, name: string): ApiError {
    return new ApiError(failure(409, 'AlreadyExists', `${grString(gr)} "${name}" already exists`, grDetails(gr, name)));
  },
  /** errors.NewConflict: "Operation cannot be fulfilled on <gr> "<name>": <err>". */
  conflict(gr: GroupResource, name: string, err: string): ApiError {
    return new ApiError(
      failure(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${grString(gr)} "${name}": ${err}`,
        grDetails(gr, name),
      ),
    );
  },
  /** errors.NewForbidden: `<gr> "<name>" is forbidden: <err>` (or `<gr> is forbidden: <err>` without a name). */
  forbidden(gr: GroupResource, name: string, err: string): ApiError {
    const what = name ? `${grString(gr)} "${name}"` : grString(gr);
    return new ApiError(failure(403, 'Forbidden', `${what} is forbidden: ${err}`, grDetails(gr, name)));
  },
  /** errors.NewInvalid: `<Kind> "<name>" is invalid: <errs>` (a list in brackets when several). */
  invalid(
    groupKind: { group: string; kind: string },
    name: string,
    causes: Array<{ field: string; type: string; detail: string }>,
  ): ApiError {
    const kindStr = groupKind.group ? `${groupKind.kind}.${groupKind.group}` : groupKind.kind;
    const msgs = causes.map((c) => `${c.field}: ${c.type}${c.detail ? `: ${c.detail}` : ''}`);
    const agg = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
    const details: StatusDetails = {};
    if (name) details.name = name;
    if (groupKind.group) details.group = groupKind.group;
    details.kind = groupKind.kind;
    details.causes = causes.map((c) => ({
      reason: fieldErrorReason(c.type),
      message: `${c.type}${c.detail ? `: ${c.detail}` : ''}`,
      field: c.field,
    }));
    return new ApiError(failure(422, 'Invalid', `${kindStr} "${name}" is invalid: ${agg}`, details));
  },
  badRequest(message: string): ApiError {
    return new ApiError(failure(400, 'BadRequest', message));
  },
  methodNotAllowed(): ApiError {
    return new ApiError(
      failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
    );
  },
  /** The 404 of a path no API serves. */
  noSuchPath(): ApiError {
    return new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource', {}));
  },
  unauthorized(): ApiError {
    return new ApiError(failure(401, 'Unauthorized', 'Unauthorized'));
  },
  /** errors.NewResourceExpired (410, reason Expired). */
  expired(message: string): ApiError {
    return new ApiError(failure(410, 'Expired', message));
  },
  /** errors.NewGone (410, reason Gone). */
  gone(message: string): ApiError {
    return new ApiError(failure(410, 'Gone', message));
  },
  internal(message: string): ApiError {
    return new ApiError(
      failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }),
    );
  },
  tooManyRequests(retryAfterSeconds: number): ApiError {
    return new ApiError(
      failure(429, 'TooManyRequests', 'Too many requests, please try again later.', { retryAfterSeconds }),
      { 'Retry-After': String(retryAfterSeconds) },
    );
  },
  /** Generic 422 (errors.NewGenericServerResponse), e.g. a failed JSON-patch operation. */
  unprocessable(serverMessage: string): ApiError {
    return new ApiError(
      failure(422, 'Invalid', 'the server rejected our request due to an error in our request', {
        causes: [{ reason: 'UnexpectedServerResponse', message: serverMessage }],
      }),
    );
  },
  unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
    return new ApiError(
      failure(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
        {},
      ),
      { 'X-Rejected-Content-Type': contentType },
    );
  },
  /** storage.NewTooLargeResourceVersionError as the apiserver reports it (504). */
  tooLargeResourceVersion(minimum: number, current: number): ApiError {
    return new ApiError(
      failure(504, 'Timeout', `Too large resource version: ${minimum}, current: ${current}`, {
        causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
        retryAfterSeconds: 1,
      }),
    );
  },
};

function fieldErrorReason(type: string): string {
  switch (type) {
    case 'Required value':
      return 'FieldValueRequired';
    case 'Duplicate value':
      return 'FieldValueDuplicate';
    case 'Forbidden':
      return 'FieldValueForbidden';
    case 'Unsupported value':
      return 'FieldValueNotSupported';
    case 'Too long':
      return 'FieldValueTooLong';
    default:
      return 'FieldValueInvalid';
  }
}

/** What finalizeDelete returns for resources that do not return the deleted object: no `code` field. */
export function successStatus(details: StatusDetails): Omit<Status, 'code'> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}
