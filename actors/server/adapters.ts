/**
 * The server's effect: plain HTTP listeners (node:http). A handler answers from what the actor
 * holds; the listener knows nothing of the kubelet.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface Answer {
  status: number;
  contentType: string;
  body: string;
}

export type Handler = (method: string, url: URL) => Promise<Answer> | Answer;

export interface Listener {
  /** The port it listens on (the one asked for, or the kernel's pick for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on host:port; fails naming the address and the cause (e.g. EADDRINUSE). */
export function listenHttp(name: string, host: string, port: number, handler: Handler): Promise<Listener> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    Promise.resolve()
      .then(() => handler(req.method ?? 'GET', url))
      .catch((e: unknown) => ({ status: 500, contentType: 'text/plain; charset=utf-8', body: `Internal Error: ${e instanceof Error ? e.message : String(e)}\n` }))
      .then((a) => {
        res.writeHead(a.status, { 'Content-Type': a.contentType, 'X-Content-Type-Options': 'nosniff' });
        res.end(req.method === 'HEAD' ? undefined : a.body);
      });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`${name} server on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr ? addr.port : port,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      });
    });
  });
}
