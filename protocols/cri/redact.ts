/**
 * Credentials in CRI call arguments, for whatever writes calls down (the recorder): pure.
 */

/** The AuthConfig fields that are secrets (CRI runtime.v1 AuthConfig). */
const AUTH_SECRETS = ['password', 'auth', 'identityToken', 'registryToken'] as const;

/**
 * A recorded call's arguments with credentials replaced by "<redacted>": PullImage's AuthConfig
 * (argument 1). Replay compares recorded decisions with replayed ones through this too.
 */
export function redactCriArgs(method: string, args: readonly unknown[]): unknown[] {
  if (method !== 'pullImage') return [...args];
  const auth = args[1];
  if (auth === null || typeof auth !== 'object') return [...args];
  const copy: Record<string, unknown> = { ...(auth as Record<string, unknown>) };
  for (const k of AUTH_SECRETS) if (copy[k] !== undefined && copy[k] !== '') copy[k] = '<redacted>';
  const out = [...args];
  out[1] = copy;
  return out;
}
