/**
 * The server's effects: plain HTTP listeners (node:http) and the HTTPS one (node:https, client
 * certificates requested and verified against the client CA, never required at the TLS layer:
 * authentication decides). A handler answers from what the actor holds; a listener knows
 * nothing of the kubelet.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { PeerCert } from './auth.ts';

export interface Answer {
  status: number;
  contentType: string;
  /** Text, or chunks written as they come (a followed log); the stream ends when they do. */
  body: string | AsyncIterable<string | Uint8Array>;
  headers?: Record<string, string>;
}

export type Handler = (method: string, url: URL) => Promise<Answer> | Answer;

/** A request on the HTTPS port: what authentication and the endpoints look at. */
export interface SecureRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  /** The client's certificate as TLS verified it; undefined when it sent none. */
  peer?: PeerCert;
  /** Aborted when the client goes away (a followed log stops). */
  signal: AbortSignal;
}

export type SecureHandler = (req: SecureRequest) => Promise<Answer> | Answer;

/** An HTTP/1.1 upgrade on the HTTPS port (exec, attach, portForward over WebSocket). */
export type UpgradeHandler = (req: SecureRequest, raw: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface Listener {
  /** The port it listens on (the one asked for, or the kernel's pick for 0). */
  readonly port: number;
  close(): Promise<void>;
}

const internalError = (e: unknown): Answer => ({
  status: 500,
  contentType: 'text/plain; charset=utf-8',
  body: `Internal Error: ${e instanceof Error ? e.message : String(e)}\n`,
});

async function write(req: IncomingMessage, res: ServerResponse, a: Answer, signal: AbortController): Promise<void> {
  res.writeHead(a.status, { 'Content-Type': a.contentType, 'X-Content-Type-Options': 'nosniff', ...a.headers });
  if (typeof a.body === 'string') {
    res.end(req.method === 'HEAD' ? undefined : a.body);
    return;
  }
  res.flushHeaders();
  try {
    for await (const chunk of a.body) {
      if (signal.signal.aborted) break;
      if (!res.write(chunk))
        await new Promise((r) => {
          res.once('drain', r);
          res.once('close', r);
        });
    }
  } catch (e) {
    // headers are gone: the stream ends where the failure happened
    res.destroy(e instanceof Error ? e : new Error(String(e)));
    return;
  }
  res.end();
}

function serve(handle: (req: IncomingMessage, signal: AbortSignal) => Promise<Answer> | Answer) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    Promise.resolve()
      .then(() => handle(req, ac.signal))
      .catch(internalError)
      .then((a) => write(req, res, a, ac));
  };
}

function listening(
  name: string,
  host: string,
  port: number,
  server: ReturnType<typeof createServer>,
): Promise<Listener> {
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`${name} server on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Listens on host:port; fails naming the address and the cause (e.g. EADDRINUSE). */
export function listenHttp(name: string, host: string, port: number, handler: Handler): Promise<Listener> {
  const server = createServer(serve((req) => handler(req.method ?? 'GET', new URL(req.url ?? '/', 'http://kubelet'))));
  return listening(name, host, port, server);
}

export interface TlsSettings {
  cert: string;
  key: string;
  /** PEM bundle of the client CA; undefined: no client certificate is asked for. */
  clientCa?: string;
  minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher list; undefined for Node's defaults. */
  ciphers?: string;
}

function peerOf(req: IncomingMessage, askedForCerts: boolean): PeerCert | undefined {
  if (!askedForCerts) return undefined;
  const sock = req.socket as TLSSocket;
  const cert = sock.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  if (!sock.authorized)
    return { verified: false, reason: String(sock.authorizationError ?? 'certificate not verified') };
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return { verified: true, commonName: list(subject.CN)[0] ?? '', organizations: list(subject.O) };
}

/** The HTTPS listener: fails naming the address and the cause. */
export function listenHttps(
  name: string,
  host: string,
  port: number,
  tls: TlsSettings,
  handler: SecureHandler,
  upgrade?: UpgradeHandler,
): Promise<Listener> {
  const asked = tls.clientCa !== undefined;
  const request = (req: IncomingMessage, signal: AbortSignal): SecureRequest => ({
    method: req.method ?? 'GET',
    url: new URL(req.url ?? '/', 'https://kubelet'),
    headers: req.headers,
    peer: peerOf(req, asked),
    signal,
  });
  const server = createHttpsServer(
    {
      cert: tls.cert,
      key: tls.key,
      minVersion: tls.minVersion,
      ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
      ...(asked ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    },
    serve((req, signal) => handler(request(req, signal))),
  );
  if (upgrade) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const ac = new AbortController();
      socket.on('close', () => ac.abort());
      upgrade(request(req, ac.signal), req, socket, head);
    });
  }
  return listening(name, host, port, server as unknown as ReturnType<typeof createServer>);
}

export interface ServingPairOptions {
  certFile?: string;
  keyFile?: string;
  /** Where the self-signed pair is kept when no files are given. */
  certDir: string;
  host: string;
  nowMs: number;
  /** Makes a self-signed pair (tls.ts). */
  generate(host: string, nowMs: number): { certPem: string; keyPem: string };
}

/**
 * The serving pair: the files given, else <certDir>/kubelet.crt and kubelet.key, made self-signed
 * when they cannot be read (upstream: kept for later starts). Fails naming the file and cause.
 */
export async function servingPair(o: ServingPairOptions): Promise<{ cert: string; key: string; generated?: string }> {
  const { mkdir, readFile, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const read = async (f: string) => {
    try {
      return await readFile(f, 'utf8');
    } catch (e) {
      throw new Error(
        `serving certificate ${f}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      );
    }
  };
  if (o.certFile && o.keyFile) return { cert: await read(o.certFile), key: await read(o.keyFile) };
  const certFile = join(o.certDir, 'kubelet.crt');
  const keyFile = join(o.certDir, 'kubelet.key');
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch {
    const pair = o.generate(o.host, o.nowMs);
    await mkdir(o.certDir, { recursive: true, mode: 0o700 });
    await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
    await writeFile(certFile, pair.certPem, { mode: 0o644 });
    return { cert: pair.certPem, key: pair.keyPem, generated: certFile };
  }
}

/** A PEM bundle's text; fails naming the file. */
export async function readPem(what: string, file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(
      `${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
}

/**
 * Opens a container's log file for reading, refusing one outside `root` (the pod log root):
 * the path's real location is checked and its last component is opened without following a
 * symlink, so neither a linked directory nor a linked file leads out of it.
 */
export async function openLogFile(root: string, path: string): Promise<import('./logs.ts').LogFile> {
  const { constants } = await import('node:fs');
  const { open, realpath } = await import('node:fs/promises');
  const { sep } = await import('node:path');
  let real: string;
  let rootReal: string;
  try {
    [real, rootReal] = await Promise.all([realpath(path), realpath(root)]);
  } catch (e) {
    throw new Error(
      `failed to open log file "${path}": ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
    );
  }
  if (!real.startsWith(rootReal + sep))
    throw new Error(`failed to open log file "${path}": outside the pod log root ${root}`);
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`failed to open log file "${path}": ${e.code === 'ELOOP' ? 'a symbolic link' : e.message}`);
  });
  return {
    size: async () => (await fh.stat()).size,
    readFrom: async (offset) => {
      const size = (await fh.stat()).size;
      if (size <= offset) return Buffer.alloc(0);
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      return buf.subarray(0, bytesRead);
    },
    close: () => fh.close(),
  };
}

/**
 * Replays an upgrade on the runtime's streaming server and pipes both ways until either side
 * closes. `request` is the request head to send; `head` the bytes the client sent after it.
 */
export async function pipeUpgrade(target: URL, request: string, head: Buffer, client: Duplex): Promise<void> {
  const { connect } = await import('node:net');
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const upstream =
    target.protocol === 'https:'
      ? (await import('node:tls')).connect({ host: target.hostname, port, rejectUnauthorized: false })
      : connect({ host: target.hostname.replace(/^\[|\]$/g, ''), port });
  await new Promise<void>((resolve, reject) => {
    upstream.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => resolve());
    upstream.once('error', reject);
  });
  upstream.write(request);
  if (head.length) upstream.write(head);
  upstream.pipe(client);
  client.pipe(upstream);
  const end = () => {
    upstream.destroy();
    client.destroy();
  };
  upstream.on('error', end);
  client.on('error', end);
  upstream.on('close', end);
  client.on('close', end);
}
