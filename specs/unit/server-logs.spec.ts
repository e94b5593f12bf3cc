/**
 * actors/server's /containerLogs: the PodLogOptions query, upstream's choice of the container
 * (validateContainerLogStatus), the CRI log format, tail/since/limit/timestamps, follow on a
 * growing file until the container stops, and log files outside the log root refused (symlinks).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openLogFile } from '../../actors/server/adapters.ts';
import {
  logContainerId,
  parseCriLine,
  parseLogOptions,
  streamLog,
  tailStart,
  type LogFile,
} from '../../actors/server/logs.ts';
import type { Pod } from '../../protocols/kube/pod.ts';

const q = (s: string) => parseLogOptions(new URLSearchParams(s));

describe('server logs: the query, the container, the CRI format (pure)', () => {
  it('PodLogOptions: defaults, `tail` as tailLines, 400 when it does not decode, 422 when invalid', () => {
    assert.deepEqual(q(''), { ok: true, value: { follow: false, previous: false, timestamps: false } });
    assert.deepEqual(q('follow=true&tailLines=3&limitBytes=10&timestamps=1&sinceSeconds=5'), {
      ok: true,
      value: { follow: true, previous: false, timestamps: true, sinceSeconds: 5, tailLines: 3, limitBytes: 10 },
    });
    assert.deepEqual(q('tail=7'), {
      ok: true,
      value: { follow: false, previous: false, timestamps: false, tailLines: 7 },
    });
    assert.deepEqual(q('tailLines=7&tail=all'), {
      ok: true,
      value: { follow: false, previous: false, timestamps: false },
    });
    assert.deepEqual(q('tailLines=x'), { ok: false, status: 400, body: '{"message": "Unable to decode query."}' });
    assert.deepEqual(q('follow=maybe'), { ok: false, status: 400, body: '{"message": "Unable to decode query."}' });
    assert.deepEqual(q('tailLines=-1'), { ok: false, status: 422, body: '{"message": "Invalid request."}' });
    assert.deepEqual(q('limitBytes=0'), { ok: false, status: 422, body: '{"message": "Invalid request."}' });
    assert.deepEqual(q('sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z'), {
      ok: false,
      status: 422,
      body: '{"message": "Invalid request."}',
    });
  });

  it("the container read: running, terminated, previous, or upstream's reason why not", () => {
    const pod = { metadata: { name: 'web' } } as Pod;
    const base = { name: 'app', image: 'busybox', imageID: '', ready: false, restartCount: 1 };
    assert.deepEqual(
      logContainerId(
        pod,
        { ...base, containerID: 'containerd://b', state: { running: { startedAt: 'x' } } },
        'app',
        false,
      ),
      { ok: true, value: 'containerd://b' },
    );
    assert.deepEqual(
      logContainerId(
        pod,
        {
          ...base,
          containerID: 'containerd://b',
          state: { running: { startedAt: 'x' } },
          lastState: { terminated: { exitCode: 1, containerID: 'containerd://a' } },
        },
        'app',
        true,
      ),
      { ok: true, value: 'containerd://a' },
    );
    assert.deepEqual(
      logContainerId(
        pod,
        { ...base, state: { running: { startedAt: 'x' } }, containerID: 'containerd://b' },
        'app',
        true,
      ),
      {
        ok: false,
        status: 400,
        body: 'previous terminated container "app" in pod "web" not found',
      },
    );
    assert.deepEqual(
      logContainerId(pod, { ...base, state: { waiting: { reason: 'ContainerCreating' } } }, 'app', false),
      {
        ok: false,
        status: 400,
        body: 'container "app" in pod "web" is waiting to start: ContainerCreating',
      },
    );
    assert.deepEqual(
      logContainerId(pod, { ...base, state: { waiting: { reason: 'ImagePullBackOff' } } }, 'app', false).ok,
      false,
    );
  });

  it('CRI lines: full and partial, timestamps kept as written; tail counts lines from the end', () => {
    assert.deepEqual(parseCriLine('2026-01-01T00:00:00.5Z stdout F hello world'), {
      time: '2026-01-01T00:00:00.5Z',
      ms: Date.parse('2026-01-01T00:00:00.5Z'),
      stream: 'stdout',
      partial: false,
      content: 'hello world',
    });
    assert.equal(parseCriLine('2026-01-01T00:00:00Z stderr P part')?.partial, true);
    assert.equal(parseCriLine('garbage'), undefined);
    assert.equal(parseCriLine('2026-01-01T00:00:00Z weird F x'), undefined);
    const t = 'a\nb\nc\n';
    assert.equal(t.slice(tailStart(t, 2)), 'b\nc\n');
    assert.equal(t.slice(tailStart(t, 5)), t);
    assert.equal(t.slice(tailStart(t, 0)), '');
  });
});

const line = (sec: number, text: string, tag = 'F') =>
  `2026-01-01T00:00:${String(sec).padStart(2, '0')}Z stdout ${tag} ${text}\n`;
function memFile(init: string): LogFile & { append(s: string): void } {
  let data = Buffer.from(init);
  return {
    append: (s) => {
      data = Buffer.concat([data, Buffer.from(s)]);
    },
    readFrom: async (o) => data.subarray(o),
    size: async () => data.length,
    close: async () => {},
  };
}
async function collect(it: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const c of it) out += c;
  return out;
}
const base = {
  follow: false,
  previous: false,
  timestamps: false,
  wait: async () => {},
  running: () => false,
  signal: new AbortController().signal,
};

describe('server logs: rendering and follow', () => {
  it('partial lines join; since, tail, timestamps and limitBytes as upstream', async () => {
    const text = line(1, 'one') + line(2, 'tw', 'P') + line(2, 'o') + line(3, 'three');
    assert.equal(await collect(streamLog(memFile(text), base)), 'one\ntwo\nthree\n');
    assert.equal(await collect(streamLog(memFile(text), { ...base, tailLines: 1 })), 'three\n');
    assert.equal(
      await collect(streamLog(memFile(text), { ...base, sinceMs: Date.parse('2026-01-01T00:00:02Z') })),
      'two\nthree\n',
    );
    assert.equal(
      await collect(streamLog(memFile(text), { ...base, timestamps: true, tailLines: 1 })),
      '2026-01-01T00:00:03Z three\n',
    );
    assert.equal(await collect(streamLog(memFile(text), { ...base, limitBytes: 5 })), 'one\nt');
  });

  it('follow: lines appended while the container runs arrive; the stream ends once it stopped and the rest is read', async () => {
    const f = memFile(line(1, 'one'));
    let running = true;
    let waits = 0;
    const wait = async () => {
      waits++;
      if (waits === 1) f.append(line(2, 'two') + line(3, 'thr'));
      if (waits === 2) f.append(`${line(3, 'ee').slice(0, -1)}`);
      if (waits === 3) f.append('\n');
      if (waits === 4) {
        f.append(line(4, 'last'));
        running = false;
      }
    };
    assert.equal(
      await collect(streamLog(f, { ...base, follow: true, wait, running: () => running })),
      'one\ntwo\nthr\nee\nlast\n',
    );
  });
});

describe('server logs: files outside the log root', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-server-logs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'pods');
  mkdirSync(join(root, 'ns_p_uid', 'app'), { recursive: true });
  writeFileSync(join(root, 'ns_p_uid', 'app', '0.log'), line(1, 'ok'));
  writeFileSync(join(dir, 'secret'), 'root:x:0:0\n');
  appendFileSync(join(dir, 'secret'), '');
  symlinkSync(join(dir, 'secret'), join(root, 'ns_p_uid', 'app', '1.log'));
  symlinkSync(dir, join(root, 'ns_p_uid', 'out'));
  symlinkSync(join(root, 'ns_p_uid', 'app', '0.log'), join(root, 'ns_p_uid', 'app', '2.log'));

  it('reads a file under the root; refuses a symlink out of it, a path through a linked directory, and a linked file', async () => {
    const f = await openLogFile(root, join(root, 'ns_p_uid', 'app', '0.log'));
    assert.equal((await f.readFrom(0)).toString(), line(1, 'ok'));
    await f.close();
    await assert.rejects(openLogFile(root, join(root, 'ns_p_uid', 'app', '1.log')), /outside the pod log root/);
    await assert.rejects(openLogFile(root, join(root, 'ns_p_uid', 'out', 'secret')), /outside the pod log root/);
    await assert.rejects(openLogFile(root, join(root, 'ns_p_uid', 'app', '2.log')), /a symbolic link/);
    await assert.rejects(openLogFile(root, join(root, 'nope.log')), /no such file or directory/);
  });
});
