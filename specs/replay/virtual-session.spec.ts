// Replay of a session recorded on virtual time against the in-memory runtime (FakeCri): a crash
// loop and a deletion, with the runtime's own exits, replays identically; the same recording
// without its header's flags and periods (an older recording) still replays with the defaults and
// the node IP found in the recorded pod statuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { formatResult, replayRecording } from '../../bin/replay.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { parseRecording } from '../../kernel/recorder.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import { FakeCri } from '../support/fake-cri.ts';

const IMAGE = 'kubelet-ts.local/busybox:1.0';
const DIR = '/etc/kubernetes/manifests';

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

function manifest(name: string, command: string[]): string {
  // the node's IP reaches the container config through the downward API
  const env = [{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }];
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE, command, env }] },
  });
}

describe('replay of a session recorded on the in-memory runtime', () => {
  it('a crash loop and a deleted pod replay identically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-vrec-'));
    try {
      const path = join(dir, 'session.jsonl');
      const clock = new VirtualClock(1_800_000_000_000);
      const cri = new FakeCri({ clock });
      cri.addImage(IMAGE);
      const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR)
        .writeFile(`${DIR}/crash.json`, manifest('crash', ['false']))
        .writeFile(`${DIR}/web.json`, manifest('web', ['sleep', '1000']));
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path, nodeIp: '198.51.100.7', manifestUrlHeader: { Authorization: ['Bearer s3cr3t'] } }, clock, log: silentLogger, nodeName: 'node-v', cri, fs, random: () => 0.5,
      });
      await k.start();
      await clock.advanceAsync(2000, settle);
      // the crashing container exits three times, the runtime's own doing
      for (let round = 0; round < 3; round++) {
        const running = await cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': 'crash-node-v' }, state: { state: 'CONTAINER_RUNNING' } });
        for (const c of running) cri.exitContainer(c.id, 1);
        await clock.advanceAsync(round === 0 ? 3000 : 12_000 * round, settle);
      }
      fs.remove(`${DIR}/web.json`);
      await clock.advanceAsync(25_000, settle);
      await k.stop();

      const text = readFileSync(path, 'utf8');
      assert.ok(!text.includes('s3cr3t'), 'header values (credentials) never reach the recording');
      const recs = parseRecording(text);
      assert.deepEqual((recs[0]!.flags as { manifestUrlHeader: unknown }).manifestUrlHeader, { Authorization: ['<redacted>'] });
      const creates = recs.filter((r) => r.k === 'cri' && r.m === 'createContainer').length;
      assert.ok(creates >= 4, `the crash loop restarted (${creates} containers created)`);
      assert.ok(recs.some((r) => r.k === 'cri' && r.m === 'removePodSandbox'), 'the deleted pod was removed');
      assert.ok(recs.some((r) => r.k === 'cri' && r.m === 'createContainer' && JSON.stringify(r.args).includes('198.51.100.7')), 'HOST_IP in the config');
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.matched, r.decisions);

      // an older header (no flags, no periods): the daemon's defaults, and the node IP the
      // recorded kubelet reported (not this machine's)
      const old = structuredClone(recs);
      delete old[0]!.flags;
      delete old[0]!.periods;
      const r2 = await replayRecording(old);
      assert.ok(r2.identical, formatResult(r2));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
