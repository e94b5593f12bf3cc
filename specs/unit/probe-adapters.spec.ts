// The prober's effects (actors/probes/adapters.ts) against real local servers on 127.0.0.1:
// HTTP (status codes, redirects as upstream, the 10 KiB body cap, headers, timeout), TCP and the
// grpc.health.v1 protocol. Real sockets, the real clock (timeouts of a few hundred ms).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { RealClock } from '../../kernel/clock.ts';
import { probeRunner, runHandler, type Outcome, type ProbeRunner } from '../../actors/probes/adapters.ts';
import { handlerUrl as probeUrl, MAX_OUTPUT_BYTES } from '../../adapters/handlers/http.ts';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  HEALTH_CHECK_METHOD,
  type ServingStatus,
} from '../../protocols/grpc/health.ts';

const clock = new RealClock();
const runner = probeRunner({
  cri: { execSync: async () => ({ stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 0 }) },
  clock,
  userAgent: 'kube-probe/1.34',
});
let http: Server;
let port = 0;
const seen: IncomingMessage[] = [];

before(async () => {
  http = createServer((req, res) => {
    seen.push(req);
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/ok') res.end('fine');
    else if (u.pathname === '/big') res.end('x'.repeat(100 * 1024));
    else if (u.pathname === '/500') {
      res.statusCode = 500;
      res.end('secret body');
    } else if (u.pathname === '/same') {
      res.statusCode = 302;
      res.setHeader('location', '/ok');
      res.end();
    } else if (u.pathname === '/loop') {
      res.statusCode = 302;
      res.setHeader('location', '/loop');
      res.end();
    } else if (u.pathname === '/other') {
      res.statusCode = 301;
      res.setHeader('location', `http://localhost:${port}/ok`);
      res.end('moved');
    } else if (u.pathname === '/hang') {
      /* never answers */
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  port = (http.address() as AddressInfo).port;
});
after(async () => {
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
  await runner.close();
});

const get = (path: string, headers: { name: string; value: string }[] = [], timeoutMs = 1000) =>
  runner.httpGet({ scheme: 'http', host: '127.0.0.1', port, path, headers }, timeoutMs);

describe('httpGet probe', () => {
  it('200–399 is success with the body as output; ≥400 is a failure without the body', async () => {
    assert.deepEqual(await get('/ok'), { result: 'success', output: 'fine' });
    assert.deepEqual(await get('/500'), { result: 'failure', output: 'HTTP probe failed with statuscode: 500' });
  });

  it('sends User-Agent kube-probe/<version> and Accept */* unless set; custom headers, Host overrides the host', async () => {
    seen.length = 0;
    await get('/ok');
    assert.equal(seen[0]!.headers['user-agent'], 'kube-probe/1.34');
    assert.equal(seen[0]!.headers.accept, '*/*');
    seen.length = 0;
    await get('/ok', [
      { name: 'User-Agent', value: 'mine' },
      { name: 'X-Custom', value: 'a' },
      { name: 'Host', value: 'example.test' },
    ]);
    assert.equal(seen[0]!.headers['user-agent'], 'mine');
    assert.equal(seen[0]!.headers['x-custom'], 'a');
    assert.equal(seen[0]!.headers.host, 'example.test');
  });

  it('follows same-host redirects (10 at most); a redirect to another host ends as a warning', async () => {
    assert.deepEqual(await get('/same'), { result: 'success', output: 'fine' });
    const loop = await get('/loop');
    assert.equal(loop.result, 'failure');
    assert.match((loop as { output: string }).output, /stopped after 10 redirects$/);
    assert.deepEqual(await get('/other'), {
      result: 'warning',
      output: 'Probe terminated redirects, Response body: moved',
    });
  });

  it('reads at most 10 KiB of the body', async () => {
    const r = await get('/big');
    assert.equal(r.result, 'success');
    assert.equal((r as { output: string }).output.length, MAX_OUTPUT_BYTES);
  });

  it("a closed port and a timeout are failures, worded as Go's client", async () => {
    const closed = await runner.httpGet({ scheme: 'http', host: '127.0.0.1', port: 1, path: '/x', headers: [] }, 1000);
    assert.deepEqual(closed, {
      result: 'failure',
      output: 'Get "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused',
    });
    const hung = await get('/hang', [], 200);
    assert.equal(hung.result, 'failure');
    assert.match(
      (hung as { output: string }).output,
      /^Get "http:\/\/127\.0\.0\.1:\d+\/hang": context deadline exceeded/,
    );
  });

  it('probeUrl: IPv6 hosts in brackets, a path without a slash gets one', () => {
    assert.equal(
      probeUrl({ scheme: 'http', host: 'fd00::1', port: 80, path: 'healthz' }),
      'http://[fd00::1]:80/healthz',
    );
  });
});

describe('tcpSocket probe', () => {
  it('a listening port is success, a closed one a failure', async () => {
    const srv = createTcpServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const p = (srv.address() as AddressInfo).port;
    assert.deepEqual(await runner.tcp('127.0.0.1', p, 1000), { result: 'success', output: '' });
    await new Promise((r) => srv.close(r));
    assert.deepEqual(await runner.tcp('127.0.0.1', p, 1000), {
      result: 'failure',
      output: `dial tcp 127.0.0.1:${p}: connect: connection refused`,
    });
  });
});

describe('grpc probe (grpc.health.v1)', () => {
  it('the codec round-trips', () => {
    assert.deepEqual(decodeHealthCheckRequest(encodeHealthCheckRequest({ service: 'svc' })), { service: 'svc' });
    assert.deepEqual(decodeHealthCheckRequest(encodeHealthCheckRequest({ service: '' })), { service: '' });
    for (const status of ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const) {
      assert.deepEqual(decodeHealthCheckResponse(encodeHealthCheckResponse({ status })), { status });
    }
  });

  it('SERVING is success; another status a failure naming it; a server without the service Unimplemented', async () => {
    let status: ServingStatus = 'SERVING';
    const services: string[] = [];
    const server = new grpc.Server();
    server.register(
      HEALTH_CHECK_METHOD,
      (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<{ status: ServingStatus }>) => {
        services.push(call.request.service);
        cb(null, { status });
      },
      encodeHealthCheckResponse,
      decodeHealthCheckRequest,
      'unary',
    );
    const p = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, n) => (e ? rej(e) : res(n))),
    );
    const empty = new grpc.Server();
    const q = await new Promise<number>((res, rej) =>
      empty.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, n) => (e ? rej(e) : res(n))),
    );
    try {
      assert.deepEqual(await runner.grpc('127.0.0.1', p, 'db', 1000), {
        result: 'success',
        output: 'service is healthy',
      });
      assert.deepEqual(services, ['db']);
      status = 'NOT_SERVING';
      assert.deepEqual(await runner.grpc('127.0.0.1', p, '', 1000), {
        result: 'failure',
        output: 'service unhealthy (responded with "NOT_SERVING")',
      });
      const un = await runner.grpc('127.0.0.1', q, '', 1000);
      assert.equal(un.result, 'failure');
      assert.match(
        (un as { output: string }).output,
        /^this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\)/,
      );
    } finally {
      server.forceShutdown();
      empty.forceShutdown();
    }
  });
});

describe('runHandler (the request built from the probe)', () => {
  const container = { name: 'app', image: 'x', ports: [{ name: 'web', containerPort: 8080 }] };
  const at = { containerId: 'c1', podIP: '10.88.0.9', timeoutSeconds: 2 };
  const calls: unknown[] = [];
  const record = (call: unknown[]): Outcome => {
    calls.push(call);
    return { result: 'success', output: '' };
  };
  const fake: ProbeRunner = {
    exec: async (...a) => record(['exec', ...a]),
    httpGet: async (...a) => record(['http', ...a]),
    tcp: async (...a) => record(['tcp', ...a]),
    grpc: async (...a) => record(['grpc', ...a]),
    close: async () => {},
  };

  it('host defaults to the pod IP, a port by name resolves, the scheme is lower-cased, timeouts in ms (exec in seconds)', async () => {
    calls.length = 0;
    await runHandler(fake, { httpGet: { port: 'web', path: '/h', scheme: 'HTTPS' } }, container, at);
    await runHandler(fake, { tcpSocket: { port: 81, host: 'db.local' } }, container, at);
    await runHandler(fake, { grpc: { port: 9000 } }, container, at);
    await runHandler(fake, { exec: { command: ['true'] } }, container, at);
    assert.deepEqual(calls, [
      ['http', { scheme: 'https', host: '10.88.0.9', port: 8080, path: '/h', headers: [] }, 2000],
      ['tcp', 'db.local', 81, 2000],
      ['grpc', '10.88.0.9', 9000, '', 2000],
      ['exec', 'c1', ['true'], 2],
    ]);
  });

  it('a port name the container does not have is unknown, naming it; nothing is dialled', async () => {
    calls.length = 0;
    assert.deepEqual(await runHandler(fake, { tcpSocket: { port: 'metrics' } }, container, at), {
      result: 'unknown',
      error: 'port metrics not found',
    });
    assert.deepEqual(calls, []);
  });
});
