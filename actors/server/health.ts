/**
 * The kubelet's health checks and their HTTP answers, as upstream's healthz package gives them
 * (k8s.io/apiserver/pkg/server/healthz): `/healthz` runs every check, `/healthz/<name>` one.
 * Pure: the server (index.ts) feeds in the clock and what it saw of the syncLoop.
 */

/** A named check: undefined when healthy, else the reason (never shown on /healthz itself). */
export interface HealthCheck {
  name: string;
  check(): string | undefined;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * `/healthz`: "ok" when every check passes (with `?verbose`, one `[+]name ok` line per check and
 * "healthz check passed"); else 500 with one line per check, the failed ones `[-]name failed:
 * reason withheld`, and "healthz check failed". `?exclude=name` skips a check (listed as
 * `[+]name excluded: ok`); an exclusion that names no check gets upstream's warning line.
 */
export function healthzAnswer(checks: readonly HealthCheck[], query: URLSearchParams): HttpAnswer {
  const excluded = new Set(
    query
      .getAll('exclude')
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  );
  let lines = '';
  let failed = false;
  for (const c of checks) {
    if (excluded.delete(c.name)) {
      lines += `[+]${c.name} excluded: ok\n`;
      continue;
    }
    if (c.check() !== undefined) {
      failed = true;
      lines += `[-]${c.name} failed: reason withheld\n`;
    } else {
      lines += `[+]${c.name} ok\n`;
    }
  }
  if (excluded.size > 0)
    lines += `warn: some health checks cannot be excluded: no matches for ${[...excluded].map((e) => JSON.stringify(e)).join(',')}\n`;
  // http.Error appends a newline
  if (failed) return { status: 500, body: `${lines}healthz check failed\n` };
  if (!query.has('verbose')) return { status: 200, body: 'ok' };
  return { status: 200, body: `${lines}healthz check passed\n` };
}

/** `/healthz/<name>`: "ok", or 500 "internal server error: <reason>" (upstream adaptCheckToHandler). */
export function healthzCheckAnswer(check: HealthCheck): HttpAnswer {
  const err = check.check();
  return err === undefined ? { status: 200, body: 'ok' } : { status: 500, body: `internal server error: ${err}\n` };
}

/** Routes `path` among the checks; undefined when it is not a healthz path. */
export function healthzRoute(
  checks: readonly HealthCheck[],
  path: string,
  query: URLSearchParams,
): HttpAnswer | undefined {
  if (path === '/healthz') return healthzAnswer(checks, query);
  if (!path.startsWith('/healthz/')) return undefined;
  const c = checks.find((x) => x.name === path.slice('/healthz/'.length));
  return c ? healthzCheckAnswer(c) : { status: 404, body: '404 page not found\n' };
}

/** upstream PingHealthz: always healthy. */
export const ping: HealthCheck = { name: 'ping', check: () => undefined };
/** upstream LogHealthz: fails when log flushing blocks; the logger here writes synchronously. */
export const logCheck: HealthCheck = { name: 'log', check: () => undefined };
