// The recorder: a whole kubelet session on virtual time, recorded with --record, read back.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet, RECORDED_CHANNELS } from '../../bin/kubelet.ts';
import { recordRedaction } from '../../bin/record-redaction.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger, type Logger } from '../../kernel/log.ts';
import { Bus } from '../../kernel/bus.ts';
import { createRecorder, parseRecording, RECORDING_FORMAT } from '../../kernel/recorder.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';
import { eventually, sleep } from '../support/wait.ts';

const IMAGE = 'kubelet-ts.local/busybox:1.0';

// Every temp dir is removed after the file's specs, passed or failed.
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kts-rec-'));
  dirs.push(d);
  return d;
}

/** A logger that keeps what it is told. */
function captureLog(): Logger & { lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const log = {
    lines,
    info: (msg: string, fields?: Record<string, unknown>) => {
      lines.push({ level: 'info', msg, fields });
    },
    warn: (msg: string, fields?: Record<string, unknown>) => {
      lines.push({ level: 'warn', msg, fields });
    },
    error: (msg: string, fields?: Record<string, unknown>) => {
      lines.push({ level: 'error', msg, fields });
    },
    child: () => log,
  };
  return log;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

describe('recorder', () => {
  it('records the syncLoop inputs and every CRI call with its answer, in order, with clock times', async () => {
    const dir = tempDir();
    const path = join(dir, 'session.jsonl');
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const fs = new MemoryStaticPodFs().mkdir('/m').writeFile(
      '/m/web.json',
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default' },
        spec: { containers: [{ name: 'app', image: IMAGE }] },
      }),
    );
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: '/m', record: path },
      clock,
      log: silentLogger,
      nodeName: 'node-r',
      cri,
      fs,
    });
    await k.start();
    await clock.advanceAsync(3000, settle);
    await k.stop();

    const recs = parseRecording(readFileSync(path, 'utf8'));
    assert.equal(recs[0]!.k, 'header');
    assert.equal(recs[0]!.node, 'node-r');
    // Sequence numbers are dense and times never go back.
    recs.forEach((r, i) => assert.equal(r.n, i));
    for (let i = 1; i < recs.length; i++) assert.ok((recs[i]!.t as number) >= (recs[i - 1]!.t as number));
    // The inputs: the static pod arrived through config and podManager, PLEG saw it start.
    const inputs = recs.filter((r) => r.k === 'in');
    assert.ok(inputs.some((r) => r.ch === 'config' && (r.msg as { type: string }).type === 'config.podsAdded'));
    assert.ok(inputs.some((r) => r.ch === 'podManager'));
    assert.ok(inputs.some((r) => r.ch === 'pleg' && (r.msg as { type: string }).type === 'pleg.containerStarted'));
    // The decisions: what the runtime was asked, matching FakeCri's own log call for call.
    const calls = recs.filter((r) => r.k === 'cri');
    const names = calls.map((r) => r.m as string);
    for (const m of ['runPodSandbox', 'createContainer', 'startContainer'])
      assert.ok(names.includes(m), `${m} recorded`);
    assert.equal(calls.length, cri.calls.length, 'every CRI call is recorded');
    // Every call has exactly one answer, and the sandbox id answered is the one FakeCri made.
    const answers = new Map(recs.filter((r) => r.k === 'cri.ok' || r.k === 'cri.err').map((r) => [r.id, r]));
    for (const c of calls) assert.ok(answers.has(c.id), `answer for call ${c.id} (${c.m})`);
    const run = calls.find((r) => r.m === 'runPodSandbox')!;
    assert.deepEqual([answers.get(run.id)!.res], cri.sandboxIds());
  });

  it('rotates at the size cap, keeping the newest parts', async () => {
    const dir = tempDir();
    const path = join(dir, 'r.jsonl');
    const rec = createRecorder({ path, clock: new VirtualClock(0), maxBytes: 2000, keep: 2 });
    for (let i = 0; i < 200; i++) rec.write({ k: 'in', ch: 'x', msg: { i, pad: 'x'.repeat(50) } });
    await rec.close();
    assert.ok(rec.stats().rotations >= 3);
    assert.deepEqual(readdirSync(dir).sort(), ['r.jsonl', 'r.jsonl.1', 'r.jsonl.2']);
    const last = parseRecording(readFileSync(path, 'utf8'));
    assert.equal((last.at(-1)!.msg as { i: number }).i, 199);
    const older = parseRecording(readFileSync(`${path}.1`, 'utf8'));
    assert.ok((older.at(-1)!.n as number) < (last[0]!.n as number), 'parts are in order');
  });

  it('every rotated part starts with the session header again, with its part number and continues: true', async () => {
    const dir = tempDir();
    const path = join(dir, 'p.jsonl');
    const rec = createRecorder({
      path,
      clock: new VirtualClock(5),
      maxBytes: 2000,
      keep: 20,
      header: { node: 'node-p' },
    });
    for (let i = 0; i < 100; i++) rec.write({ k: 'in', ch: 'x', msg: { i, pad: 'x'.repeat(50) } });
    await rec.close();
    const n = rec.stats().rotations;
    assert.ok(n >= 3);
    // oldest first: FILE.n … FILE.1, FILE
    const parts = [...Array.from({ length: n }, (_, i) => `${path}.${n - i}`), path].map((p) =>
      parseRecording(readFileSync(p, 'utf8')),
    );
    parts.forEach((recs, i) => {
      const h = recs[0]!;
      assert.equal(h.k, 'header', `part ${i} opens with a header`);
      assert.equal(h.node, 'node-p');
      assert.equal(h.format, RECORDING_FORMAT);
      if (i === 0) assert.deepEqual([h.part, h.continues], [undefined, undefined]);
      else assert.deepEqual([h.part, h.continues], [i, true]);
      assert.equal(recs.filter((r) => r.k === 'header').length, 1);
    });
    // read together, the parts are one session: n dense, the records all there in order
    const all = parts.flat();
    all.forEach((r, i) => assert.equal(r.n, i));
    assert.deepEqual(
      all.filter((r) => r.k === 'in').map((r) => (r.msg as { i: number }).i),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('appends to an existing recording, counting its size toward the cap', async () => {
    const dir = tempDir();
    const path = join(dir, 'a.jsonl');
    const first = createRecorder({ path, clock: new VirtualClock(0), maxBytes: 1000, keep: 5 });
    for (let i = 0; i < 10; i++) first.write({ k: 'in', ch: 'x', msg: { i } });
    await first.close();
    const before = readFileSync(path, 'utf8');
    assert.ok(before.length > 400 && before.length < 1000, `first session ${before.length} B`);
    // a restart: the second session goes on in the same file until the cap, then rotates
    const second = createRecorder({ path, clock: new VirtualClock(10_000), maxBytes: 1000, keep: 5 });
    assert.ok(second.stats().bytes >= before.length, 'the existing size counts');
    for (let i = 0; i < 40; i++) second.write({ k: 'in', ch: 'y', msg: { i } });
    await second.close();
    const files = readdirSync(dir)
      .filter((f) => f.startsWith('a.jsonl'))
      .map((f) => join(dir, f));
    assert.ok(files.length >= 3);
    for (const f of files) {
      const size = readFileSync(f).length;
      assert.ok(size <= 1000, `${f} is ${size} B, over the 1000 B cap`);
    }
    assert.equal(
      readFileSync(`${path}.${files.length - 1}`, 'utf8').slice(0, before.length),
      before,
      'the first session is intact',
    );
  });

  it('wrap with a method list records only those calls (API writes), others pass through untouched', async () => {
    const dir = tempDir();
    const path = join(dir, 'api.jsonl');
    const clock = new VirtualClock(0);
    const rec = createRecorder({ path, clock });
    const target = {
      base: 'pods',
      async getPod(name: string) {
        return { path: `${this.base}/${name}` };
      },
      async patchPodStatus(name: string, patch: unknown) {
        return { path: `${this.base}/${name}`, patch };
      },
      async deletePod(name: string) {
        throw new Error(`${this.base}/${name}: 404 NotFound`);
      },
    };
    const api = rec.wrap(target, 'api', ['patchPodStatus', 'deletePod']);
    assert.deepEqual(await api.getPod('a'), { path: 'pods/a' }, 'an unrecorded method keeps its this');
    assert.deepEqual(await api.patchPodStatus('a', { status: { phase: 'Running' } }), {
      path: 'pods/a',
      patch: { status: { phase: 'Running' } },
    });
    await assert.rejects(api.deletePod('b'), /404/);
    await rec.close();
    const recs = parseRecording(readFileSync(path, 'utf8')).slice(1);
    assert.deepEqual(
      recs.map((r) => [r.k, r.m ?? null]),
      [
        ['api', 'patchPodStatus'],
        ['api.ok', null],
        ['api', 'deletePod'],
        ['api.err', null],
      ],
    );
    assert.deepEqual(recs[0]!.args, ['a', { status: { phase: 'Running' } }]);
    assert.match((recs[3]!.err as { message: string }).message, /404 NotFound/);
  });

  it('a write error (a full disk) is logged once and ends the recording; nothing throws', async () => {
    const log = captureLog();
    const rec = createRecorder({ path: '/dev/full', clock: new VirtualClock(0), log });
    for (let i = 0; i < 10; i++) rec.write({ k: 'in', ch: 'x', msg: { i } });
    await eventually(() => rec.stats().error !== null, 2000, 'the write error', 5);
    assert.match(rec.stats().error!, /ENOSPC/);
    for (let i = 0; i < 10; i++) rec.write({ k: 'in', ch: 'x', msg: { i } });
    await sleep(20);
    await rec.close();
    const errors = log.lines.filter((l) => l.level !== 'info');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]!.msg, /^recording stopped: cannot write \/dev\/full: ENOSPC.*carries on without recording/);
  });

  it('a record that cannot be serialised never throws into the sender, which still delivers it', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.jsonl');
    const log = captureLog();
    const rec = createRecorder({ path, clock: new VirtualClock(0), log });
    const bus = new Bus();
    rec.tapBus(bus, RECORDED_CHANNELS);
    const seen: unknown[] = [];
    bus
      .port('t')
      .events('config')
      .subscribe((m) => seen.push(m));
    const cyclic: Record<string, unknown> = { type: 'config.podsAdded' };
    cyclic.self = cyclic;
    assert.doesNotThrow(() => bus.port('src').send('config', cyclic as never));
    assert.deepEqual(seen, [cyclic]);
    assert.match(rec.stats().error ?? '', /circular/i);
    assert.equal(log.lines.filter((l) => l.level === 'error').length, 1);
    await rec.close();
    assert.deepEqual(
      parseRecording(readFileSync(path, 'utf8')).map((r) => r.k),
      ['header'],
      'what was written before stays readable',
    );
  });

  it('a failed rotation stops the recording without throwing', async () => {
    const dir = tempDir();
    const path = join(dir, 'r.jsonl');
    // FILE.1 is a non-empty directory: the rotation cannot replace it
    mkdirSync(`${path}.1`);
    writeFileSync(join(`${path}.1`, 'keep'), 'x');
    const log = captureLog();
    const rec = createRecorder({ path, clock: new VirtualClock(0), maxBytes: 1000, keep: 1, log });
    assert.doesNotThrow(() => {
      for (let i = 0; i < 50; i++) rec.write({ k: 'in', ch: 'x', msg: { i, pad: 'x'.repeat(50) } });
    });
    assert.ok(rec.stats().error !== null, 'the recording stopped');
    assert.match(
      log.lines.find((l) => l.level === 'error')?.msg ?? '',
      new RegExp(`recording stopped: cannot write ${path}`),
    );
    await rec.close();
    assert.ok(parseRecording(readFileSync(path, 'utf8')).length > 1, 'the part written before stays readable');
  });

  it('a stalled disk costs bounded memory: past the cap records are dropped, counted and logged once', async () => {
    const dir = tempDir();
    const path = join(dir, 'fifo');
    execFileSync('mkfifo', [path]);
    // A reader that does not read yet: the pipe fills and the writes stall.
    const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const log = captureLog();
      const rec = createRecorder({ path, clock: new VirtualClock(0), maxQueuedBytes: 256 * 1024, maxBytes: 1000, log });
      const pad = 'x'.repeat(1000);
      for (let i = 0; i < 2000; i++) rec.write({ k: 'in', ch: 'x', msg: { i, pad } });
      const st = rec.stats();
      assert.ok(st.dropped > 1000, `dropped ${st.dropped}`);
      assert.ok(st.records < 400, `records ${st.records}`);
      assert.ok(st.queued <= 256 * 1024 + 2000, `queued ${st.queued}`);
      assert.equal(st.rotations, 0, 'a FIFO never rotates');
      assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1);
      assert.match(log.lines[0]!.msg, /does not keep up.*dropping records/);
      // The reader catches up: what was accepted arrives whole, and recording goes on.
      const chunks: Buffer[] = [];
      const buf = Buffer.alloc(65536);
      const lines = () => chunks.reduce((n, c) => n + c.filter((b) => b === 10).length, 0);
      const readUntil = async (enough: () => boolean) => {
        for (;;) {
          let n = 0;
          try {
            n = readSync(rfd, buf);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
          }
          if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
          else if (enough()) return;
          else await sleep(2);
        }
      };
      await readUntil(() => lines() === st.records);
      await eventually(() => rec.stats().queued === 0, 2000, 'the queue to drain', 2);
      rec.write({ k: 'in', ch: 'x', msg: { last: true } });
      let closed = false;
      void rec.close().then(() => {
        closed = true;
      });
      await readUntil(() => closed);
      assert.equal(rec.stats().dropped, st.dropped);
      const recs = parseRecording(Buffer.concat(chunks).toString('utf8'));
      assert.equal(recs[0]!.k, 'header');
      assert.equal(recs.length, st.records + 1);
      assert.deepEqual(recs.at(-1)!.msg, { last: true });
      assert.equal(recs.at(-1)!.n, 2001);
      assert.equal(recs.at(-2)!.n, st.records - 1, 'the dropped records leave a gap in n');
    } finally {
      closeSync(rfd);
    }
  });

  it('parseRecording drops a final line cut short (a killed daemon) and reports it; other bad lines throw with their line number', () => {
    const good = ['{"t":0,"n":0,"k":"header","format":1}', '{"t":1,"n":1,"k":"in","ch":"x","msg":{}}'];
    const cut = `${good.join('\n')}\n{"t":2,"n":2,"k":"in","ch":"x","ms`;
    const seen: { line: number; text: string }[] = [];
    assert.deepEqual(
      parseRecording(cut, { onTruncated: (info) => seen.push(info) }).map((r) => r.n),
      [0, 1],
    );
    assert.deepEqual(seen, [{ line: 3, text: '{"t":2,"n":2,"k":"in","ch":"x","ms' }]);
    assert.equal(parseRecording(cut).length, 2, 'tolerated without a callback too');
    // a complete file (every line ends with a newline) has no excuse; nor has a line in the middle
    assert.throws(() => parseRecording(`${cut}\n`), /^Error: recording line 3: /);
    assert.throws(() => parseRecording(`${good[0]}\n\nnot json\n${good[1]}\n`), /^Error: recording line 3: /);
    assert.throws(() => parseRecording(`${good[0]}\n[1,2]\n`), /^Error: recording line 2: not a JSON object/);
  });

  it('PullImage credentials never reach the recording; the runtime still gets them', async () => {
    const dir = tempDir();
    const path = join(dir, 'auth.jsonl');
    const rec = createRecorder({ path, clock: new VirtualClock(0), redact: recordRedaction() });
    const got: unknown[] = [];
    const images = {
      async pullImage(...args: unknown[]) {
        got.push(args);
        return 'sha256:abc';
      },
    };
    const cri = rec.wrap(images);
    const auth = {
      username: 'bob',
      password: 'pw-s3cr3t',
      auth: 'YXV0aC1zM2NyM3Q=',
      identityToken: 'id-s3cr3t',
      registryToken: 'reg-s3cr3t',
      serverAddress: 'registry.example',
    };
    await cri.pullImage({ image: 'registry.example/app:1' }, auth, { metadata: { name: 'p' } });
    await cri.pullImage({ image: 'busybox' });
    await rec.close();
    assert.deepEqual(
      got[0],
      [{ image: 'registry.example/app:1' }, auth, { metadata: { name: 'p' } }],
      'the runtime gets the real credentials',
    );
    assert.equal(auth.password, 'pw-s3cr3t', "the caller's object is not touched");
    const text = readFileSync(path, 'utf8');
    assert.doesNotMatch(text, /s3cr3t|YXV0aC1zM2NyM3Q/);
    const calls = parseRecording(text).filter((r) => r.k === 'cri');
    assert.deepEqual(calls[0]!.args, [
      { image: 'registry.example/app:1' },
      {
        username: 'bob',
        password: '<redacted>',
        auth: '<redacted>',
        identityToken: '<redacted>',
        registryToken: '<redacted>',
        serverAddress: 'registry.example',
      },
      { metadata: { name: 'p' } },
    ]);
    assert.deepEqual(calls[1]!.args, [{ image: 'busybox' }]);
  });

  it("the daemon's recorder (createKubelet --record) redacts PullImage credentials", async () => {
    const dir = tempDir();
    const path = join(dir, 'daemon-auth.jsonl');
    const clock = new VirtualClock(0);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: '/m', record: path },
      clock,
      log: silentLogger,
      nodeName: 'node-a',
      cri,
      fs: new MemoryStaticPodFs().mkdir('/m'),
    });
    await k.start();
    await k.cri.pullImage({ image: IMAGE }, { username: 'bob', password: 'pw-s3cr3t' }, undefined as never);
    await k.stop();
    const text = readFileSync(path, 'utf8');
    assert.doesNotMatch(text, /s3cr3t/);
    const pull = parseRecording(text).find(
      (r) => r.k === 'cri' && r.m === 'pullImage' && (r.args as unknown[])[1] !== undefined,
    )!;
    assert.deepEqual((pull.args as unknown[])[1], { username: 'bob', password: '<redacted>' });
  });

  it("a kubelet refused because another one serves the root dir never touches that one's recording", async () => {
    const dir = tempDir();
    const path = join(dir, 'session.jsonl');
    const debugSocketPath = join(dir, 'kubelet-ts.sock');
    const clock = new VirtualClock(1_800_000_000_000);
    const kubelet = () => {
      const cri = new FakeCri({ clock });
      cri.addImage(IMAGE);
      const fs = new MemoryStaticPodFs().mkdir('/m').writeFile(
        '/m/web.json',
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'web', namespace: 'default' },
          spec: { containers: [{ name: 'app', image: IMAGE }] },
        }),
      );
      return createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: '/m', record: path },
        clock,
        log: silentLogger,
        nodeName: 'node-r',
        cri,
        fs,
        debugSocketPath,
      });
    };
    const a = kubelet();
    await a.start();
    try {
      await clock.advanceAsync(1000, settle);
      const b = kubelet();
      await assert.rejects(b.start(), /another process is listening/);
      await b.stop();
      await clock.advanceAsync(1000, settle);
    } finally {
      await a.stop();
    }
    const recs = parseRecording(readFileSync(path, 'utf8'));
    assert.equal(recs.filter((r) => r.k === 'header').length, 1, 'one session in the file');
    recs.forEach((r, i) => assert.equal(r.n, i));
    // what the first kubelet did at its start is all there
    assert.ok(recs.some((r) => r.k === 'in' && (r.msg as { type: string }).type === 'config.podsAdded'));
    assert.ok(recs.some((r) => r.k === 'cri' && r.m === 'runPodSandbox'));
  });

  it('deferOpen: nothing touches the file before open(); what was written before comes right after the header', async () => {
    const dir = tempDir();
    const path = join(dir, 'd.jsonl');
    const clock = new VirtualClock(100);
    const rec = createRecorder({ path, clock, deferOpen: true, header: { node: 'd' } });
    clock.advance(5);
    rec.write({ k: 'in', ch: 'x', msg: { early: 1 } });
    assert.deepEqual(readdirSync(dir), []);
    clock.advance(5);
    rec.open();
    rec.open();
    rec.write({ k: 'in', ch: 'x', msg: { late: 1 } });
    await rec.close();
    const recs = parseRecording(readFileSync(path, 'utf8'));
    assert.deepEqual(
      recs.map((r) => [r.t, r.n, r.k]),
      [
        [100, 0, 'header'],
        [105, 1, 'in'],
        [110, 2, 'in'],
      ],
    );

    const never = createRecorder({ path: join(dir, 'never.jsonl'), clock, deferOpen: true });
    never.write({ k: 'in', ch: 'x', msg: {} });
    await never.close();
    assert.deepEqual(readdirSync(dir), ['d.jsonl'], 'closed before open: no file');
    assert.throws(
      () => createRecorder({ path: join(dir, 'no', 'such', 'dir.jsonl'), clock, deferOpen: true }).open(),
      /recording .*dir\.jsonl: cannot open: ENOENT/,
    );
  });
});
