/**
 * Raw HTTPS access to the stand-in for specs that need to see exactly what goes over the wire:
 * `apiRequest` (status, headers, parsed body) and `RawWatch` (a watch stream as parsed events,
 * with an event-driven `next(n)`). Credentials: 'admin', a node name (client certificate, or its
 * token with auth 'token'), 'anonymous', or explicit `{ cert, key }` / `{ token }`.
 */
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { ApiServer } from './index.ts';

export type Who = 'admin' | 'anonymous' | string | { cert: string; key: string } | { token: string };

export interface Resp {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (the raw text when it is not JSON); `any` keeps assertions terse. */
  body: any;
  text: string;
}

function credentials(
  api: ApiServer,
  who: Who,
  auth: 'cert' | 'token',
): { cert?: string; key?: string; headers: Record<string, string> } {
  if (who === 'anonymous') return { headers: {} };
  if (typeof who === 'object') {
    if ('token' in who) return { headers: { Authorization: `Bearer ${who.token}` } };
    return { cert: who.cert, key: who.key, headers: {} };
  }
  if (auth === 'token') return { headers: { Authorization: `Bearer ${api.tokenFor(who)}` } };
  const c = api.certFor(who);
  return { cert: c.cert, key: c.key, headers: {} };
}

/** One request with fresh TLS (no keep-alive), as `who`. */
export function apiRequest(
  api: ApiServer,
  method: string,
  path: string,
  o: {
    who?: Who;
    auth?: 'cert' | 'token';
    body?: unknown;
    contentType?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Resp> {
  const cred = credentials(api, o.who ?? 'admin', o.auth ?? 'cert');
  const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${api.url}${path}`,
      {
        method,
        ca: api.ca,
        ...(cred.cert ? { cert: cred.cert, key: cred.key } : {}),
        agent: false,
        headers: {
          Accept: 'application/json',
          ...cred.headers,
          ...(payload !== undefined ? { 'Content-Type': o.contentType ?? 'application/json' } : {}),
          ...(o.headers ?? {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
        });
        res.on('error', reject);
      },
    );
    if (o.timeoutMs) req.setTimeout(o.timeoutMs, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface WatchEvent {
  type: string;
  /** The event's object (parsed JSON). */
  object: any;
}

/** A raw watch stream: events as they arrive, `next(n)` waits for n more (event-driven). */
export class RawWatch {
  readonly events: WatchEvent[] = [];
  status = 0;
  headers: IncomingHttpHeaders = {};
  readonly ended: Promise<void>;
  private consumed = 0;
  private wake: (() => void) | undefined;
  private isEnded = false;
  private destroy: () => void = () => {};

  constructor(api: ApiServer, path: string, who: Who = 'admin', auth: 'cert' | 'token' = 'cert') {
    const cred = credentials(api, who, auth);
    let endResolve!: () => void;
    this.ended = new Promise((r) => (endResolve = r));
    const req = httpsRequest(
      `${api.url}${path}`,
      {
        method: 'GET',
        ca: api.ca,
        agent: false,
        ...(cred.cert ? { cert: cred.cert, key: cred.key } : {}),
        headers: cred.headers,
      },
      (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) this.events.push(JSON.parse(line) as WatchEvent);
          }
          this.wake?.();
        });
        const end = (): void => {
          this.isEnded = true;
          this.wake?.();
          endResolve();
        };
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
      },
    );
    req.on('error', () => {
      this.isEnded = true;
      this.wake?.();
      endResolve();
    });
    req.end();
    this.destroy = () => req.destroy();
  }

  /** Waits until `n` events beyond those already taken have arrived and returns them. */
  async next(n = 1, timeoutMs = 3000): Promise<WatchEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < this.consumed + n) {
      if (this.isEnded)
        throw new Error(
          `watch ended after ${this.events.length} events, wanted ${this.consumed + n}: ${JSON.stringify(this.events.map((e) => e.type))}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${n} watch events; have ${JSON.stringify(this.events.slice(this.consumed).map((e) => e.type))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const out = this.events.slice(this.consumed, this.consumed + n);
    this.consumed += n;
    return out;
  }

  close(): void {
    this.destroy();
  }
}
