/**
 * gRPC failures from the runtime, mapped to typed errors the actors can match on.
 * `code` is the gRPC status code number (grpc.status), `method` the CRI method that failed.
 */
export type CriErrorKind =
  | 'NotFound' // 5: the sandbox/container/image does not exist
  | 'AlreadyExists' // 6
  | 'DeadlineExceeded' // 4: the runtime did not answer within the call's deadline
  | 'Unavailable' // 14: the socket is missing or refused the connection
  | 'Unimplemented' // 12: the runtime does not speak this method (wrong API version)
  | 'InvalidArgument' // 3
  | 'FailedPrecondition' // 9
  | 'Unknown'; // anything else: the runtime's own message is kept

export class CriError extends Error {
  readonly kind: CriErrorKind;
  readonly code: number;
  readonly method: string;
  constructor(kind: CriErrorKind, code: number, method: string, message: string) {
    super(`CRI ${method}: ${kind}: ${message}`);
    this.name = 'CriError';
    this.kind = kind;
    this.code = code;
    this.method = method;
  }
}

export function isCriError(e: unknown, kind?: CriErrorKind): e is CriError {
  return e instanceof CriError && (kind === undefined || e.kind === kind);
}

/** The gRPC status message alone, without our `CRI <method>: <kind>: ` prefix (upstream grpcstatus.FromError(err).Message()). */
export function criDesc(e: unknown): string {
  if (isCriError(e)) {
    const prefix = `CRI ${e.method}: ${e.kind}: `;
    return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** A runtime error as Go prints it (`rpc error: code = Unknown desc = ...`); other errors as they are. */
export function criErrorText(e: unknown): string {
  return isCriError(e) ? `rpc error: code = ${e.kind} desc = ${criDesc(e)}` : criDesc(e);
}
