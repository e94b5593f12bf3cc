/**
 * The HTTP port of the manifest URL source: one GET with the configured headers, a deadline on
 * the injected clock (upstream's client has a 10 s timeout, body included) and a cap on the body
 * (10 MiB, upstream maxConfigLength). Redirects are followed, as Go's http.Client does.
 *
 * A response of any status resolves (the source decides what a 404 means); only a failure to get
 * one (refused, DNS, TLS, timeout, body over the cap) rejects, with the cause in the message.
 */
import type { Clock } from '../../kernel/clock.ts';
import { MAX_MANIFEST_BYTES } from '../../protocols/kube/manifest.ts';

export interface FetchResponse {
  status: number;
  statusText: string;
  body: string;
}

/** Header name → values, in the order given (`--manifest-url-header`). */
export type HeaderMap = Readonly<Record<string, readonly string[]>>;

export interface ManifestFetcher {
  get(url: string, headers: HeaderMap): Promise<FetchResponse>;
}

/** Upstream's http.Client{Timeout: 10 * time.Second}. */
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;

export function httpManifestFetcher(opts: { clock: Clock; timeoutMs?: number; maxBytes?: number }): ManifestFetcher {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? MAX_MANIFEST_BYTES;
  return {
    async get(url, headers) {
      const h = new Headers();
      for (const [name, values] of Object.entries(headers)) for (const v of values) h.append(name, v);
      const ac = new AbortController();
      const timer = opts.clock.setTimeout(
        () => ac.abort(new Error(`no answer within ${timeoutMs / 1000}s`)),
        timeoutMs,
      );
      try {
        const res = await fetch(url, { headers: h, signal: ac.signal, redirect: 'follow' });
        const chunks: Uint8Array[] = [];
        let size = 0;
        if (res.body) {
          for await (const chunk of res.body) {
            size += chunk.byteLength;
            if (size > maxBytes) {
              const tooBig = new Error(`body over the ${maxBytes / 1024 / 1024} MiB limit for static pod manifests`);
              ac.abort(tooBig); // closes the connection
              throw tooBig;
            }
            chunks.push(chunk);
          }
        }
        return { status: res.status, statusText: res.statusText, body: Buffer.concat(chunks).toString('utf8') };
      } catch (err) {
        throw new Error(describe(err, ac.signal));
      } finally {
        opts.clock.clearTimeout(timer);
      }
    },
  };
}

/** fetch's errors say "fetch failed" and hide the cause one level down. */
function describe(err: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.message ?? e.cause?.code;
  return cause && cause !== e.message ? `${e.message}: ${cause}` : (e.message ?? String(err));
}
