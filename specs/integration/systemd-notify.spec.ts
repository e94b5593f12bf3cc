// The daemon under a Type=notify unit: what it sends to $NOTIFY_SOCKET, received by a datagram
// socket of our own (Node has none: a python3 listener prints each datagram as a JSON line).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { useNodeFixture } from '../support/node-fixture.ts';

const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

/** A datagram listener at `path`; `messages` grows as datagrams arrive. */
async function listen(path: string): Promise<{
  proc: ChildProcess;
  messages: string[];
  waitFor(pred: (m: string[]) => boolean, what: string): Promise<void>;
}> {
  const proc = spawn('python3', ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  let listening!: () => void;
  const ready = new Promise<void>((r) => {
    listening = r;
  });
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'listening') listening();
      else messages.push(JSON.parse(line) as string);
    }
    for (const w of [...waiters]) w();
  });
  await Promise.race([
    ready,
    once(proc, 'exit').then(() => {
      throw new Error('the notify listener exited');
    }),
  ]);
  return {
    proc,
    messages,
    waitFor: (pred, what) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no ${what} on NOTIFY_SOCKET within 30s; got ${JSON.stringify(messages)}`)),
          30_000,
        );
        const check = () => {
          if (!pred(messages)) return;
          clearTimeout(t);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        check();
      }),
  };
}

const node = useNodeFixture({ node: 'node-a', prefix: 'kts-notify-' });
const vars = (m: string[]) => m.flatMap((d) => d.split('\n'));

describe('systemd notify on real containerd', () => {
  it('sends READY=1 once the actors are up, STATUS= lines, WATCHDOG=1 every half WATCHDOG_USEC, STOPPING=1 on SIGTERM', async (t) => {
    const dirs = await node.dirs();
    const l = await listen(join(node.work, 'notify.sock'));
    t.after(() => {
      l.proc.kill('SIGKILL');
    });
    const d = node.daemon(dirs, [], { NOTIFY_SOCKET: join(node.work, 'notify.sock'), WATCHDOG_USEC: '1000000' });
    await l.waitFor((m) => vars(m).includes('READY=1'), 'READY=1');
    await d.waitForLog(/kubelet-ts running: every actor started/); // READY=1 follows this line
    await l.waitFor((m) => vars(m).filter((v) => v === 'WATCHDOG=1').length >= 3, 'three WATCHDOG=1 pings');
    const all = vars(l.messages);
    assert.ok(
      all.some((v) => /^STATUS=kubelet-ts v\S+ running on node node-a$/.test(v)),
      `a STATUS line: ${JSON.stringify(all)}`,
    );
    assert.ok(
      all.some((v) => /^STATUS=running \d+ pod\(s\)$/.test(v)),
      'the pod count in STATUS',
    );
    assert.equal(all.filter((v) => v === 'READY=1').length, 1, 'READY=1 once');
    assert.equal(await d.stop(), 0);
    await l.waitFor((m) => vars(m).includes('STOPPING=1'), 'STOPPING=1');
    assert.ok(vars(l.messages).some((v) => v === 'STATUS=stopping: SIGTERM received'));
  });

  it('without NOTIFY_SOCKET nothing is sent and no systemdNotify actor runs', async () => {
    const dirs = await node.dirs();
    const d = node.daemon(dirs);
    await d.waitForLog(/kubelet-ts running: every actor started/);
    const code = await d.stop();
    assert.equal(code, 0, d.lines.slice(-10).join('\n'));
    assert.ok(
      !d.lines.some((x) => /systemdNotify|systemd notification/.test(x)),
      'no systemd actor or notification in the log',
    );
  });
});
