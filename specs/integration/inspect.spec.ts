// Tier 4: `kubelet-ts inspect` against the real daemon on real containerd. The daemon and the CLI
// both run as child processes (bin/kubelet-ts, as an operator would type it); what the pod does
// is checked on the runtime over CRI, what the daemon thinks through the debug socket.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, type Daemon } from '../support/daemon.ts';
import { useNodeFixture, type NodeDirs } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'kubelet-ts');
const NODE = 'node-a';
const POD = `default/web-${NODE}`;
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function podYaml(name: string, env = 'blue'): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    '  namespace: default',
    'spec:',
    '  terminationGracePeriodSeconds: 2',
    '  containers:',
    '  - name: app',
    `    image: ${BUSYBOX_IMAGE}`,
    `    command: ${JSON.stringify(SLEEP)}`,
    `    env: [{name: COLOR, value: "${env}"}]`,
    '',
  ].join('\n');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface ChannelRow {
  name: string;
  kind: string;
  writers: string[];
  readers: string[];
  types: string[];
  count?: number;
}

/** The README's channel map (between its markers), as rows. */
async function readmeChannelMap(): Promise<ChannelRow[]> {
  const text = await readFile(join(ROOT, 'README.md'), 'utf8');
  const section = text.slice(text.indexOf('<!-- channel-map:begin'), text.indexOf('<!-- channel-map:end -->'));
  const list = (cell: string) => (cell === '' ? [] : cell.split(', ').map((x) => x.replace(/^`|`$/g, '')));
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => {
      const [name, kind, writers, readers, types] = l.slice(2, -2).split(' | ');
      return {
        name: name!.replace(/`/g, ''),
        kind: kind!,
        writers: list(writers!),
        readers: list(readers!),
        types: list(types!),
      };
    });
}

/** `kubelet-ts inspect ...` as a child process, to completion. */
async function inspect(...args: string[]): Promise<Run> {
  const p = spawn(BIN, ['inspect', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  p.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

async function inspectJson<T>(...args: string[]): Promise<T> {
  const r = await inspect(...args, '--json');
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { result: T }).result;
}

async function runningApp(): Promise<string | undefined> {
  const cs = await node.cri.listContainers({
    labelSelector: { 'io.kubernetes.pod.name': `web-${NODE}` },
    state: { state: 'CONTAINER_RUNNING' },
  });
  return cs.length === 1 ? cs[0]!.id : undefined;
}

const node = useNodeFixture({ node: NODE, prefix: 'kts-insp-', daemonArgs: ['--file-check-frequency=1s'] });
const newDirs = () => node.dirs();
const daemon = (dirs: NodeDirs): Daemon => node.daemon(dirs);

describe('kubelet-ts inspect on a running daemon', () => {
  it('shows the actor tree, a pod worker and its history, a live tail and the machine graph', async () => {
    const dirs = await newDirs();
    await writeFile(join(dirs.manifests, 'web.yaml'), podYaml('web'));
    const d = daemon(dirs);
    await d.waitForLog(/debug socket listening/);
    const sock = join(dirs.root, 'kubelet-ts.sock');
    const st = await stat(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    const first = await eventually(runningApp, 20_000, 'the pod running');

    // actors: every actor running, rendered as a table.
    const actors = await inspect('actors', '--root-dir', dirs.root);
    assert.equal(actors.code, 0, actors.stderr);
    const rows = actors.stdout.trim().split('\n');
    assert.match(rows[0]!, /^ID\s+STATE\s+RESTARTS\s+LAST ERROR\s+MAILBOX\s+UPTIME$/);
    for (const id of [
      'statusManager',
      'podManager',
      'podConfig',
      'runtime',
      'images',
      'pleg',
      'podWorkers',
      'syncLoop',
    ]) {
      assert.ok(
        rows.some((r) => new RegExp(`^${id}\\s+running\\s+0\\s`).test(r)),
        `${id} running:\n${actors.stdout}`,
      );
    }

    // pod: the worker settles in syncing.idle with a resync deadline and its history.
    const pod = await eventually(
      async () => {
        const p = await inspectJson<{
          state: string;
          uid: string;
          nextSyncAt: number | null;
          history: { state: string; cause: string }[];
        }>('pod', POD, '--root-dir', dirs.root);
        return p.state === 'syncing.idle' && p.nextSyncAt !== null ? p : undefined;
      },
      15_000,
      'the worker idle with a resync deadline',
    );
    assert.ok(
      pod.history.some((h) => h.state === 'syncing.working' && h.cause.startsWith('create:')),
      JSON.stringify(pod.history),
    );
    // (by uid, once idle again: a PLEG event may start another sync between the two reads)
    const byUid = await eventually(
      async () => {
        const r = await inspect('pod', pod.uid, '--root-dir', dirs.root);
        return r.code !== 0 || /^STATE:\s+syncing\.idle$/m.test(r.stdout) ? r : undefined;
      },
      15_000,
      'the worker idle again, looked up by uid',
    );
    assert.equal(byUid.code, 0, byUid.stderr);
    assert.match(byUid.stdout, new RegExp(`^POD:\\s+${POD}$`, 'm'));
    assert.match(byUid.stdout, /^STATE:\s+syncing\.idle$/m);
    assert.match(byUid.stdout, /^HISTORY\nTIME\s+AGO\s+STATE\s+CAUSE$/m);

    // tail: a manifest edit shows up on the podWorker channel as it happens.
    const tail = spawn(BIN, ['inspect', 'tail', 'podWorker', '--root-dir', dirs.root, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tailed = '';
    tail.stdout!.on('data', (c: Buffer) => {
      tailed += c.toString();
    });
    // With --json the subscription's answer comes through first: from then on nothing is missed.
    await eventually(() => tailed.includes('"subscribed":true'), 10_000, 'the tail to subscribe');
    await writeFile(join(dirs.manifests, 'web.yaml'), podYaml('web', 'green'));
    await eventually(
      () => /"type":"podWorker\.update"/.test(tailed) && /"type":"podWorker\.stateChanged"/.test(tailed),
      20_000,
      'podWorker messages on the tail',
    );
    const [ack, ...msgs] = tailed
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; channel: string; at: number });
    assert.deepEqual(ack, { ok: true, id: 1, result: { channel: 'podWorker', subscribed: true } });
    for (const l of msgs) assert.deepEqual([l.ok, l.channel, typeof l.at], [true, 'podWorker', 'number']);
    tail.kill('SIGINT');
    const [tailCode] = (await once(tail, 'exit')) as [number | null];
    assert.equal(tailCode, 0);
    await eventually(
      async () => {
        const id = await runningApp();
        return id && id !== first ? id : undefined;
      },
      20_000,
      'the edited pod running',
    );

    // graph: the podWorker machine as Mermaid.
    const graph = await inspect('graph', 'podWorker', '--root-dir', dirs.root);
    assert.equal(graph.code, 0, graph.stderr);
    assert.match(graph.stdout, /^stateDiagram-v2\n/);
    assert.match(graph.stdout, /syncing_idle --> terminating : UPDATE \[isKill\]/);

    // channels: every channel with its writers and readers, live counts; the README's map is this one.
    const channels = await inspect('channels', '--root-dir', dirs.root);
    assert.equal(channels.code, 0, channels.stderr);
    const lines = channels.stdout.trim().split('\n');
    assert.match(lines[0]!, /^CHANNEL\s+KIND\s+MSGS\s+WRITERS\s+READERS\s+MESSAGE TYPES$/);
    assert.match(
      channels.stdout,
      /^podWorker\s+event\s+[1-9]\d*\s+podWorkers,syncLoop\s+podWorkers,statusManager\s+podWorker\.update,podWorker\.stateChanged$/m,
    );
    assert.match(channels.stdout, /^desiredPods\s+view\s+[1-9]\d*\s+podManager\s+\S*syncLoop\S*\s+DesiredPods$/m);
    // Standalone: the cluster actors and the HTTP source are declared but not started; nor is the
    // server, as a spec daemon listens on no port (specs/support/daemon.ts: --healthz-port=0).
    assert.match(
      channels.stdout,
      /^not started by this daemon: podSourceHttp, podSourceApi, nodeStatus, nodeLease, mirrorPods, server, certificateManager, systemdNotify, nodeShutdown$/m,
    );
    const live = await inspectJson<{ channels: ChannelRow[]; notWired: string[] }>('channels', '--root-dir', dirs.root);
    const readme = await readmeChannelMap();
    assert.ok(readme.length >= 20, `README channel map rows: ${readme.length}`);
    assert.deepEqual(
      live.channels.map(({ count: _count, ...r }) => r),
      readme,
    );
    for (const r of live.channels) {
      assert.ok(r.writers.length > 0 && r.readers.length > 0, `${r.name}: writers and readers`);
      assert.ok(
        lines.some((l) => l.startsWith(`${r.name} `)),
        `${r.name} in the table`,
      );
    }
    assert.ok(live.channels.find((r) => r.name === 'pleg')!.count! > 0, 'pleg events counted');

    // Errors: unknown pod, unknown channel → stderr and exit 1.
    const ghost = await inspect('pod', 'default/ghost', '--root-dir', dirs.root);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /no pod worker for "default\/ghost"/);
    const badTail = await inspect('tail', 'nope', '--root-dir', dirs.root);
    assert.equal(badTail.code, 1);
    assert.match(badTail.stderr, /unknown channel "nope"; known channels: .*podWorker/);

    // A clean stop removes the socket; the CLI then says what is wrong.
    assert.equal(await d.stop(), 0);
    assert.equal(existsSync(sock), false);
    const down = await inspect('--root-dir', dirs.root);
    assert.equal(down.code, 1);
    assert.equal(
      down.stderr,
      `kubelet-ts inspect: no kubelet-ts debug socket at ${sock}: is the daemon running with --root-dir ${dirs.root}?\n`,
    );
  });

  it('one daemon per root dir: a second one fails to start; a crashed one leaves a stale socket the next replaces', async () => {
    const dirs = await newDirs();
    await writeFile(join(dirs.manifests, 'web.yaml'), podYaml('web'));
    const d1 = daemon(dirs);
    await d1.waitForLog(/debug socket listening/);
    const app = await eventually(runningApp, 20_000, 'the pod running');

    const d2 = daemon(dirs);
    assert.equal(await d2.exited, 1);
    assert.ok(
      d2.lines.some((l) => /another process is listening on it/.test(l)),
      d2.lines.join('\n'),
    );
    // The first daemon and its pod are untouched.
    assert.equal((await inspect('--root-dir', dirs.root)).code, 0);
    assert.equal(await runningApp(), app);

    await d1.kill9();
    const sock = join(dirs.root, 'kubelet-ts.sock');
    assert.ok((await stat(sock)).isSocket(), 'SIGKILL leaves the socket file behind');
    const stale = await inspect('actors', '--root-dir', dirs.root);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /exists but nobody is listening/);

    const d3 = daemon(dirs);
    await d3.waitForLog(/debug socket listening/);
    const a = await inspectJson<{ actors: { id: string; state: string }[] }>('actors', '--root-dir', dirs.root);
    for (const id of ['podConfig', 'podManager', 'podWorkers', 'runtime', 'pleg', 'statusManager', 'syncLoop']) {
      assert.ok(
        a.actors.some((x) => x.id === id && x.state === 'running'),
        `${id} running`,
      );
    }
    // The restarted daemon adopts the pod instead of restarting it.
    await eventually(
      async () => {
        const p = await inspectJson<{ state: string }>('pod', POD, '--root-dir', dirs.root).catch(() => undefined);
        return p?.state === 'syncing.idle';
      },
      15_000,
      'the adopted pod idle',
    );
    assert.equal(await runningApp(), app);
  });
});
