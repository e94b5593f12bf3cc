// Tier 4: the daemon's log streams on real containerd. A log reader that goes away (EPIPE on
// stdout and stderr, as `kubelet-ts ... | head -1`) does not kill the daemon: it stops writing to
// that stream and keeps serving (healthz, the debug socket); SIGTERM by pid still stops it cleanly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { eventually, freePort } from '../support/daemon.ts';
import { debugRequest } from '../support/debug-request.ts';
import { useNodeFixture } from '../support/node-fixture.ts';

const node = useNodeFixture({ node: 'node-log', prefix: 'kts-logging-' });

describe('log streams', () => {
  it('text format, split: the first line on stdout, both pipes closed, the daemon still answers healthz and its debug socket', async () => {
    const dirs = await node.dirs();
    const healthz = await freePort();
    const d = node.daemon(dirs, [
      '--logging-format=text',
      '--log-text-split-stream',
      `--healthz-port=${healthz}`,
      '--address=127.0.0.1',
    ]);
    // the first line (info or warning: split, only errors go to stderr), klog's header, then the reader goes away (head -1)
    const [chunk] = (await once(d.proc.stdout!, 'data')) as [Buffer];
    assert.match(chunk.toString().split('\n')[0]!, /^[IW]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ \S+\] "/);
    d.proc.stdout!.destroy();
    d.proc.stderr!.destroy();
    // startup logs on (every actor starting): each of those writes meets a closed pipe
    await eventually(
      async () => {
        const r = await fetch(`http://127.0.0.1:${healthz}/healthz`).catch(() => undefined);
        return r?.status === 200 && (await r.text()) === 'ok';
      },
      60_000,
      'healthz answers ok',
    );
    const answer = await eventually(
      async () => debugRequest<{ actors: unknown[] }>(dirs.root, { cmd: 'actors' }).catch(() => undefined),
      30_000,
      'the debug socket answers',
    );
    assert.ok(answer.actors.length > 0, JSON.stringify(answer));
    assert.equal(d.proc.exitCode, null, 'the daemon is running');
    assert.equal(d.proc.signalCode, null);
    assert.equal(await d.stop(), 0, 'SIGTERM by pid: a clean exit');
  });
});
