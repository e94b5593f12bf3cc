// The logger (kernel/log.ts): klog's text format and logs/json's JSON lines, golden lines on a fixed
// clock, and --vmodule per logger name.
process.env.TZ = 'UTC';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, goQuote, parseVModule, type LoggerOptions, type Severity } from '../../kernel/log.ts';

// 2026-12-08T01:23:45.678Z
const T = Date.UTC(2026, 11, 8, 1, 23, 45, 678);

function capture(o: Partial<LoggerOptions> = {}) {
  const lines: { line: string; severity: Severity }[] = [];
  const log = createLogger({
    verbosity: 0,
    now: () => T,
    pid: 12345,
    sink: { write: (line, severity) => lines.push({ line, severity }) },
    ...o,
  });
  return { log, lines, text: () => lines.map((l) => l.line) };
}

describe('text format (klog)', () => {
  it('header: severity, mmdd hh:mm:ss.uuuuuu, the pid padded to 7, the logger name for file:line; the message and values quoted', () => {
    const { log, text, lines } = capture({ format: 'text' });
    log.child('podWorkers').info('message', { key: 'value', key2: 3, ok: true, none: null, skipped: undefined });
    log.warn('careful', { path: '/etc/kubernetes/manifests' });
    log.child('pleg').error('relist failed', { error: new Error('rpc error: code = Unavailable'), pod: 'default/web' });
    assert.deepEqual(text(), [
      'I1208 01:23:45.678000   12345 podWorkers] "message" key="value" key2=3 ok=true none=<nil>',
      'W1208 01:23:45.678000   12345 kubelet] "careful" path="/etc/kubernetes/manifests"',
      'E1208 01:23:45.678000   12345 pleg] "relist failed" err="rpc error: code = Unavailable" pod="default/web"',
    ]);
    assert.deepEqual(
      lines.map((l) => l.severity),
      ['I', 'W', 'E'],
    );
  });

  it("strings quoted with Go's %q rules; objects as JSON; multi-line values as klog writes them", () => {
    const { log, text } = capture({ format: 'text' });
    log.info('say "hi"\tnow', { s: 'back\\slash \x07bell \x01 caf\u00e9 \u0085', obj: { a: [1, 'b'] } });
    log.info('multi', { out: 'line 1\nline 2', trailing: 'only\n', n: 1.5 });
    assert.deepEqual(text(), [
      'I1208 01:23:45.678000   12345 kubelet] "say \\"hi\\"\\tnow" s="back\\\\slash \\abell \\x01 caf\u00e9 \\u0085" obj={"a":[1,"b"]}',
      'I1208 01:23:45.678000   12345 kubelet] "multi" out=<\n\tline 1\n\tline 2\n > trailing=<\n\tonly\n > n=1.5',
    ]);
    assert.equal(goQuote('\x7f\r\n'), '"\\x7f\\r\\n"');
  });
});

describe('JSON format (logs/json)', () => {
  it('ts in seconds, logger, msg, v for info, err for errors, the key/value pairs at top level', () => {
    const { log, text } = capture({ format: 'json', verbosity: 4 });
    const pw = log.child('podWorkers');
    pw.info('SyncLoop ADD', { pod: 'default/web', n: 2 }, 4);
    pw.warn('slow');
    pw.error('sync failed', { pod: 'default/web', error: new Error('boom') });
    log.error('no cause');
    assert.deepEqual(text(), [
      '{"ts":1796693025.678,"logger":"podWorkers","msg":"SyncLoop ADD","v":4,"pod":"default/web","n":2}',
      '{"ts":1796693025.678,"logger":"podWorkers","msg":"slow","v":0}',
      '{"ts":1796693025.678,"logger":"podWorkers","msg":"sync failed","err":"boom","pod":"default/web"}',
      '{"ts":1796693025.678,"msg":"no cause"}',
    ]);
  });

  it('info above the verbosity is not written', () => {
    const { log, text } = capture({ format: 'json', verbosity: 2 });
    log.info('shown', {}, 2);
    log.info('hidden', {}, 3);
    assert.deepEqual(
      text().map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['shown'],
    );
  });
});

describe('--vmodule', () => {
  it('parses pattern=N lists and refuses other syntax', () => {
    assert.deepEqual(parseVModule('podWorkers=4,pod-source-*=3'), [
      { pattern: 'podWorkers', verbosity: 4 },
      { pattern: 'pod-source-*', verbosity: 3 },
    ]);
    assert.deepEqual(parseVModule(''), []);
    assert.throws(
      () => parseVModule('podWorkers'),
      /invalid --vmodule entry "podWorkers": syntax error: expect comma-separated list of pattern=N/,
    );
    assert.throws(() => parseVModule('a=x'), /invalid --vmodule entry "a=x"/);
  });

  it('a logger whose name (or a dotted prefix of it) matches logs up to its N; -v stays the floor; the first match wins', () => {
    const { log, text } = capture({
      format: 'json',
      verbosity: 1,
      vmodule: parseVModule('podWorkers=4,pod-source-?pi.watch=5,pod*=0,pleg=0'),
    });
    const msgs = () => text().map((l) => JSON.parse(l) as { logger?: string; msg: string });
    log.child('podWorkers').info('pw4', {}, 4);
    log.child('podWorkers').child('sync').info('pw child 4', {}, 4);
    log.child('podWorkers').info('pw5', {}, 5);
    log.child('pod-source-api').child('watch').info('watch5', {}, 5);
    log.child('pod-source-api').info('api2', {}, 2);
    log.child('pleg').info('pleg1', {}, 1);
    log.child('status').info('status2', {}, 2);
    log.info('root1', {}, 1);
    assert.deepEqual(
      msgs().map((m) => m.msg),
      ['pw4', 'pw child 4', 'watch5', 'pleg1', 'root1'],
    );
  });
});

describe('streams (streamSink)', () => {
  const LOG = join(import.meta.dirname, '..', '..', 'kernel', 'log.ts');
  const run = (body: string, pipe = '') => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-log-'));
    try {
      const script = join(dir, 'child.mjs');
      writeFileSync(
        script,
        `import { createLogger, streamSink } from ${JSON.stringify(LOG)};\n` +
          `import { setTimeout as sleep } from 'node:timers/promises';\n${body}\n`,
      );
      const cmd = `"${process.execPath}" --disable-warning=ExperimentalWarning "${script}"${pipe}; echo "status=\${PIPESTATUS[0]}" >&2`;
      return spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 60_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const logger = (split: boolean) =>
    `const log = createLogger({ verbosity: 0, now: () => 0, format: 'json', sink: streamSink(${split}) });`;

  it('one stream, stderr, by default; split: info and warnings to stdout, errors to stderr', () => {
    const body = (split: boolean) => `${logger(split)}\nlog.info('i'); log.warn('w'); log.error('e');`;
    const one = run(body(false));
    assert.equal(one.stdout, '');
    assert.deepEqual(
      one.stderr
        .trim()
        .split('\n')
        .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg: string }).msg : l)),
      ['i', 'w', 'e', 'status=0'],
    );
    const split = run(body(true));
    assert.deepEqual(
      split.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['i', 'w'],
    );
    assert.match(split.stderr, /^\{"ts":0,"msg":"e"\}\nstatus=0\n$/);
  });

  it('a reader that goes away (| head -1, EPIPE) stops that stream, the process carries on and logs to the other', () => {
    const r = run(
      `${logger(true)}\nfor (let i = 0; i < 300; i++) { log.info('line', { i }); await sleep(2); }\nlog.error('still running');`,
      ' | head -1',
    );
    assert.equal(r.stdout, '{"ts":0,"msg":"line","v":0,"i":0}\n');
    assert.match(r.stderr, /^\{"ts":0,"msg":"still running"\}\nstatus=0\n$/);
  });
});
