// Tier 4: `--record writes pod secrets in plain text` (issue 8, defect 3). The real daemon with
// --record on a private real containerd, in a cluster (the API server stand-in, bearer-token
// kubeconfig): an API pod with a planted env value, a last-applied-configuration annotation
// repeating it with a second planted value, a static pod with a third (its mirror pod goes
// through the API). The containers really get the values (they print them into their logs,
// read from the pod log files); the whole recording, every rotated part (it rotates at 50 kB),
// holds none of them, nor the node's bearer token; and the session still replays identically.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { formatResult, recordingFiles, replayRecording } from '../../bin/replay.ts';
import { parseRecording } from '../../kernel/recorder.ts';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-s';
const NS = 'default';
// unique, so a hit can only be a leak
const tag = Math.random().toString(36).slice(2, 10);
const API_ENV = `api-env-${tag}-s3cret`;
const ANNOTATION = `annotation-${tag}-s3cret`;
const STATIC_ENV = `static-env-${tag}-s3cret`;

let containerd: ContainerdHandle;
let cri: CriRuntime;
let api: ApiServer;
let work: string;
let rootDir: string;
let manifests: string;
let recording: string;
let daemon: Daemon | undefined;

const SLEEP = 'trap "exit 0" TERM; while true; do sleep 1; done';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-recsecret-'));
  manifests = join(work, 'manifests');
  rootDir = join(work, 'root');
  recording = join(work, 'session.jsonl');
  await mkdir(manifests);
  containerd = await startContainerd();
  cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  api = await startApiServer({ nodes: [NODE] });
});

after(async () => {
  await daemon?.stop();
  if (cri) await removeAllPods(cri);
  cri?.close();
  await api?.stop();
  await containerd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Every file of the recording (rotated parts too), gunzipped where gzipped, as text. */
async function wholeRecording(): Promise<string> {
  const files = recordingFiles(recording).filter((f) => existsSync(f));
  for (const f of await readdir(work))
    if (f.startsWith('session.jsonl') && !files.includes(join(work, f))) files.push(join(work, f));
  const texts = await Promise.all(
    files.map(async (f) => {
      const raw = await readFile(f);
      return (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    }),
  );
  return texts.join('\n');
}

/** The container's log (upstream layout: <pod-logs-dir>/<ns>_<name>_<uid>/<container>/0.log). */
async function containerLog(podName: string, uid: string, container: string): Promise<string> {
  const path = join(rootDir, 'pod-logs', `${NS}_${podName}_${uid}`, container, '0.log');
  return existsSync(path) ? readFile(path, 'utf8') : '';
}

describe('--record writes pod secrets in plain text (issue 8, defect 3)', () => {
  it('a recording of pods carrying planted secrets (env, annotation, static pod through the API) holds none of them; the containers got them; it replays identically', async () => {
    // a static pod: its mirror pod is written to the API (createPod carries the spec)
    await writeFile(
      join(manifests, 'static-env.json'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'static-env', namespace: NS },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'app',
              image: BUSYBOX_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', `echo "static:$STATIC"; ${SLEEP}`],
              env: [{ name: 'STATIC', value: STATIC_ENV }],
            },
          ],
        },
      }),
    );
    daemon = startDaemon({
      endpoint: containerd.endpoint,
      rootDir,
      manifestDir: manifests,
      nodeName: NODE,
      args: [
        `--kubeconfig=${api.kubeconfigFor(NODE, 'token')}`,
        '--node-status-update-frequency=2s',
        '--file-check-frequency=2s',
        `--record=${recording}`,
        '--record-max-bytes=50000',
      ],
    });
    await eventually(
      () =>
        (api.store.get('nodes', NODE) as unknown as Pod | undefined)?.status?.conditions?.find(
          (c) => c.type === 'Ready',
        )?.status === 'True',
      40_000,
      'the Node Ready',
    );

    // an API pod: the value in env, used by the shell and through $(VAR) in the command; the
    // annotation kubectl apply writes repeats the pod, and carries a second planted value
    const spec = {
      nodeName: NODE,
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image: BUSYBOX_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', `echo "shell:$PASSWORD"; echo "expanded:$(PASSWORD)"; ${SLEEP}`],
          env: [{ name: 'PASSWORD', value: API_ENV }],
        },
      ],
    };
    const lastApplied = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'api-env', namespace: NS, annotations: { note: ANNOTATION } },
      spec,
    });
    const created = api.store.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'api-env',
        namespace: NS,
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied },
      },
      spec,
    } as unknown as JsonObject) as unknown as Pod;

    // the containers really got the values
    const apiLog = await eventually(
      async () => {
        const l = await containerLog('api-env', created.metadata.uid!, 'app');
        return l.includes(`expanded:${API_ENV}`) ? l : undefined;
      },
      30_000,
      'the API pod printed its value',
    );
    assert.match(apiLog, new RegExp(`shell:${API_ENV}`));
    const mirror = await eventually(
      () =>
        api.store
          .list('pods', { namespace: NS })
          .find((p) => (p as unknown as Pod).metadata.name === `static-env-${NODE}`) as unknown as Pod | undefined,
      30_000,
      'the mirror pod',
    );
    const staticUid = mirror.metadata.annotations?.['kubernetes.io/config.mirror'];
    assert.ok(staticUid, 'the mirror pod names the static pod');
    await eventually(
      async () => (await containerLog(`static-env-${NODE}`, staticUid, 'app')).includes(`static:${STATIC_ENV}`),
      30_000,
      'the static pod printed its value',
    );
    assert.ok(
      JSON.stringify(mirror).includes(STATIC_ENV),
      "the mirror pod in the API carries the value (it is the API's to keep)",
    );
    // status writes went through too
    await eventually(
      () => (api.store.get('pods', NS, 'api-env') as unknown as Pod | undefined)?.status?.phase === 'Running',
      15_000,
      'api-env Running in the API',
    );

    await daemon.stop(); // the recorder has flushed and closed
    daemon = undefined;

    const text = await wholeRecording();
    assert.ok(recordingFiles(recording).length >= 2, 'the recording rotated: its parts are searched too');
    const records = parseRecording(text);
    assert.equal(records[0]!.continues, undefined, 'no part was rotated away (the first holds the session header)');
    assert.ok(records.length > 100, `a real session (${records.length} records)`);
    for (const [what, v] of [
      ["the API pod's env value", API_ENV],
      ["the annotation's value", ANNOTATION],
      ["the static pod's env value", STATIC_ENV],
      ["the node's bearer token", api.tokenFor(NODE)],
    ] as const) {
      const at = text.indexOf(v);
      assert.equal(at, -1, `${what} is in the recording: …${text.slice(Math.max(0, at - 200), at + 50)}`);
    }
    // what it holds instead, in the places the values went through
    const creates = records
      .filter((r) => r.k === 'cri' && r.m === 'createContainer')
      .map((r) => JSON.stringify(r.args));
    assert.ok(
      creates.some((a) => a.includes('{"key":"PASSWORD","value":"<redacted>"}') && a.includes('expanded:<redacted>')),
      'CreateContainer: the env value and its $(VAR) copy',
    );
    assert.ok(
      records.some(
        (r) =>
          r.k === 'api' &&
          r.m === 'createPod' &&
          JSON.stringify(r.args).includes('{"name":"STATIC","value":"<redacted>"}'),
      ),
      'the mirror pod written to the API',
    );
    assert.ok(
      records.some(
        (r) =>
          r.k === 'in' &&
          r.ch === 'config' &&
          JSON.stringify(r.msg).includes('"kubectl.kubernetes.io/last-applied-configuration":"<redacted>"'),
      ),
      'the API pod as it came in',
    );

    const r = await replayRecording(recording);
    assert.ok(r.identical, formatResult(r));
    assert.ok(r.matched >= 4, `the pods' sandboxes and containers replayed (${r.matched})`);
  });
});
