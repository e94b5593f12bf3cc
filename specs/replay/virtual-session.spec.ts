// Replay of a session recorded on virtual time against the in-memory runtime (FakeCri): a crash
// loop and a deletion, with the runtime's own exits, replays identically; the same recording
// without its header's flags and periods (an older recording) still replays with the defaults and
// the node IP found in the recorded pod statuses. A cluster-mode restart whose first API list is
// slow replays with the syncLoop waiting for the API source, as the recorded one did. A sandbox
// stopped and a container removed behind the kubelet's back (not its decisions) are replayed from
// what the recorded reads showed. A rotated recording replays from its parts, oldest first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet } from '../../bin/kubelet.ts';
import { createConfigData } from '../../adapters/kube/config-data.ts';
import { DEFAULT_FLAGS } from '../../bin/flags.ts';
import { formatResult, loadRecording, recordingFiles, replayRecording } from '../../bin/replay.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { silentLogger } from '../../kernel/log.ts';
import { parseRecording } from '../../kernel/recorder.ts';
import { MemoryStaticPodFs } from '../../actors/pod-config/adapters.ts';
import type { PodNetworkFiles } from '../../actors/runtime/adapters.ts';
import { ApiError, type KubeApi } from '../../protocols/kube/api.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import type { Clock } from '../../kernel/clock.ts';
import { FakeCri } from '../support/fake-cri.ts';
import { execInContainer } from '../../adapters/handlers/exec.ts';
import type { LifecycleRunner } from '../../adapters/handlers/lifecycle.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';

const IMAGE = 'kubelet-ts.local/busybox:1.0';
const DIR = '/etc/kubernetes/manifests';

async function settle(): Promise<void> {
  for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
}

function manifest(name: string, command: string[]): string {
  // the node's IP reaches the container config through the downward API
  const env = [{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }];
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: IMAGE, command, env }] },
  });
}

/**
 * An API server in memory, on the virtual clock: the pods bound to the node, listed after
 * `listDelayMs`; watches stay open without events; the node and its lease are kept once created;
 * other writes are accepted.
 */
function memoryApi(clock: Clock, pods: Pod[]): KubeApi & { listDelayMs: number } {
  const notFound = (what: string) => Promise.reject(new ApiError(404, 'NotFound', 'GET', what, `${what} not found`));
  const kept = new Map<string, unknown>();
  const get = (key: string) => (kept.has(key) ? Promise.resolve(structuredClone(kept.get(key))) : notFound(key));
  const put = (key: string, obj: unknown) => {
    kept.set(key, obj);
    return Promise.resolve(structuredClone(obj));
  };
  const api = {
    listDelayMs: 0,
    listPods: () =>
      new Promise<{ items: Pod[]; resourceVersion: string }>((resolve) => {
        clock.setTimeout(() => resolve({ items: structuredClone(pods), resourceVersion: '10' }), api.listDelayMs);
      }),
    watchPods: (_o: unknown, _e: unknown, done: (err?: unknown) => void) => Promise.resolve({ abort: () => done() }),
    getPod: (_ns: string, name: string) => {
      const p = pods.find((x) => x.metadata?.name === name);
      return p ? Promise.resolve(structuredClone(p)) : notFound(`pods/${name}`);
    },
    createPod: (_ns: string, pod: Pod) => Promise.resolve(pod),
    deletePod: () => Promise.resolve(),
    patchPodStatus: (_ns: string, name: string) =>
      Promise.resolve(structuredClone(pods.find((x) => x.metadata?.name === name) ?? pods[0]!)),
    getNode: (name: string) => get(`nodes/${name}`),
    createNode: (node: { metadata: { name: string } }) =>
      put(`nodes/${node.metadata.name}`, { ...node, metadata: { ...node.metadata, uid: 'node-uid' } }),
    patchNodeStatus: (name: string) => Promise.resolve({ metadata: { name } }),
    patchNode: (name: string) => Promise.resolve({ metadata: { name } }),
    getLease: (_ns: string, name: string) => get(`leases/${name}`),
    createLease: (_ns: string, lease: { metadata: { name: string } }) => put(`leases/${lease.metadata.name}`, lease),
    updateLease: (_ns: string, lease: { metadata: { name: string } }) => put(`leases/${lease.metadata.name}`, lease),
    createEvent: (_ns: string, event: unknown) => Promise.resolve(event),
    patchEvent: (_ns: string, name: string) => Promise.resolve({ metadata: { name } }),
  };
  return api as unknown as KubeApi & { listDelayMs: number };
}

interface VirtualNode {
  path: string;
  clock: VirtualClock;
  cri: FakeCri;
  fs: MemoryStaticPodFs;
}

/** A recording path in a fresh directory (removed afterwards), a virtual clock, the in-memory runtime holding the image, an empty manifest directory. */
async function onVirtualNode(fn: (n: VirtualNode) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-vrec-'));
  try {
    const clock = new VirtualClock(1_800_000_000_000);
    const cri = new FakeCri({ clock });
    cri.addImage(IMAGE);
    const fs = new MemoryStaticPodFs().mkdir('/etc').mkdir('/etc/kubernetes').mkdir(DIR);
    await fn({ path: join(dir, 'session.jsonl'), clock, cri, fs });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('replay of a session recorded on the in-memory runtime', () => {
  it('a crash loop and a deleted pod replay identically', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      fs.writeFile(`${DIR}/crash.json`, manifest('crash', ['false'])).writeFile(
        `${DIR}/web.json`,
        manifest('web', ['sleep', '1000']),
      );
      const k = createKubelet({
        flags: {
          ...DEFAULT_FLAGS,
          podManifestPath: DIR,
          record: path,
          nodeIp: '198.51.100.7',
          manifestUrlHeader: { Authorization: ['Bearer s3cr3t'] },
        },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
      });
      await k.start();
      await clock.advanceAsync(2000, settle);
      // the crashing container exits three times, the runtime's own doing
      for (let round = 0; round < 3; round++) {
        const running = await cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': 'crash-node-v' },
          state: { state: 'CONTAINER_RUNNING' },
        });
        for (const c of running) cri.exitContainer(c.id, 1);
        await clock.advanceAsync(round === 0 ? 3000 : 12_000 * round, settle);
      }
      fs.remove(`${DIR}/web.json`);
      await clock.advanceAsync(25_000, settle);
      await k.stop();

      const text = readFileSync(path, 'utf8');
      assert.ok(!text.includes('s3cr3t'), 'header values (credentials) never reach the recording');
      const recs = parseRecording(text);
      assert.deepEqual((recs[0]!.flags as { manifestUrlHeader: unknown }).manifestUrlHeader, {
        Authorization: ['<redacted>'],
      });
      const creates = recs.filter((r) => r.k === 'cri' && r.m === 'createContainer').length;
      assert.ok(creates >= 4, `the crash loop restarted (${creates} containers created)`);
      assert.ok(
        recs.some((r) => r.k === 'cri' && r.m === 'removePodSandbox'),
        'the deleted pod was removed',
      );
      // env values are redacted in CRI configs (protocols/redact.ts), those from the downward API too
      assert.ok(
        recs.some(
          (r) =>
            r.k === 'cri' &&
            r.m === 'createContainer' &&
            JSON.stringify(r.args).includes('{"key":"HOST_IP","value":"<redacted>"}'),
        ),
        'HOST_IP in the config, redacted',
      );
      assert.ok(
        recs.some(
          (r) => r.k === 'in' && r.ch === 'runtimeReply' && JSON.stringify(r.msg).includes('"hostIP":"198.51.100.7"'),
        ),
        "the node IP in the pods' status",
      );
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
    }));

  it('lifecycle hooks replay: a failed httpGet postStart (kill, restart) from the recorded answers, an exec preStop as a CRI call', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      fs.writeFile(
        `${DIR}/hooked.json`,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'hooked', namespace: 'default' },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'app',
                image: IMAGE,
                command: ['sleep', '1000'],
                lifecycle: {
                  postStart: { httpGet: { host: '192.0.2.1', port: 8080, path: '/start' } },
                  preStop: { exec: { command: ['drain'] } },
                },
              },
            ],
          },
        }),
      );
      let answers = 0;
      const hooks = (recorded: CriRuntime): LifecycleRunner => ({
        exec: (id, cmd) => execInContainer(recorded, id, cmd, 0),
        // no request is sent from a spec: the first call has no answer, the next ones do
        httpGet: (req) =>
          Promise.resolve(
            answers++ === 0
              ? {
                  kind: 'error',
                  url: `http://${req.host}:${req.port}${req.path}`,
                  error: 'Get "http://192.0.2.1:8080/start": dial tcp 192.0.2.1:8080: connect: connection refused',
                  httpResponseToHttps: false,
                }
              : { kind: 'response', url: `http://${req.host}:${req.port}${req.path}`, code: 200, body: '' },
          ),
        close: () => Promise.resolve(),
      });
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
        hooks,
      });
      await k.start();
      await clock.advanceAsync(30_000, settle);
      fs.remove(`${DIR}/hooked.json`);
      await clock.advanceAsync(30_000, settle);
      await k.stop();
      const recs = parseRecording(readFileSync(path, 'utf8'));
      assert.equal(
        recs.filter((r) => r.k === 'hooks' && r.m === 'httpGet').length,
        2,
        'both postStart answers are recorded',
      );
      assert.ok(
        recs.filter((r) => r.k === 'cri' && r.m === 'createContainer').length >= 2,
        'the failed postStart restarted the container',
      );
      assert.ok(
        recs.some((r) => r.k === 'cri' && r.m === 'execSync' && JSON.stringify(r.args).includes('drain')),
        'the preStop ran',
      );
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
    }));

  it("a liveness kill replays from the recorded probe results: the same kill (with the probe's grace) and restart", () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      fs.writeFile(
        `${DIR}/live.json`,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'live', namespace: 'default' },
          spec: {
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'app',
                image: IMAGE,
                command: ['sleep', '1000'],
                livenessProbe: {
                  exec: { command: ['check'] },
                  periodSeconds: 2,
                  failureThreshold: 2,
                  terminationGracePeriodSeconds: 1,
                },
              },
            ],
          },
        }),
      );
      let healthy = true;
      cri.onExec(() => ({ exitCode: healthy ? 0 : 1 }));
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
      });
      await k.start();
      await clock.advanceAsync(8000, settle);
      healthy = false;
      await clock.advanceAsync(10_000, settle);
      await k.stop();
      const recs = parseRecording(readFileSync(path, 'utf8'));
      assert.ok(
        recs.some((r) => r.k === 'in' && r.ch === 'probe' && (r.msg as { result?: string }).result === 'failure'),
        'the liveness failure is recorded',
      );
      const stop = recs.find((r) => r.k === 'cri' && r.m === 'stopContainer');
      assert.ok(stop, 'a kill');
      assert.equal((stop.args as unknown[])[1], 1, "killed with the probe's grace");
      assert.ok(recs.filter((r) => r.k === 'cri' && r.m === 'createContainer').length >= 2, 'restarted');
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.matched, r.decisions);
    }));

  it('pod DNS and /etc/hosts: the recorded resolver file reads form the same DNS config; a different file diverges at RunPodSandbox', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      let resolv = 'nameserver 192.0.2.53\nsearch corp.example\n';
      const written: string[] = [];
      const networkFiles: PodNetworkFiles = {
        readResolvConf: () => Promise.resolve(resolv),
        readNodeHosts: () => Promise.resolve(''),
        writePodHostsFile: (uid, content) => {
          written.push(content);
          return Promise.resolve(`/var/lib/kubelet/pods/${uid}/etc-hosts`);
        },
        removePodHostsFile: () => Promise.resolve(),
      };
      const pod = (name: string, policy: string) =>
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'default' },
          spec: {
            dnsPolicy: policy,
            terminationGracePeriodSeconds: 1,
            hostAliases: [{ ip: '10.1.2.3', hostnames: ['db'] }],
            containers: [{ name: 'app', image: IMAGE, command: ['sleep', '1000'] }],
          },
        });
      fs.writeFile(`${DIR}/cf.json`, pod('cf', 'ClusterFirst'));
      const k = createKubelet({
        flags: {
          ...DEFAULT_FLAGS,
          podManifestPath: DIR,
          record: path,
          clusterDns: ['10.96.0.10'],
          clusterDomain: 'cluster.local',
        },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
        networkFiles,
      });
      await k.start();
      await clock.advanceAsync(3000, settle);
      // the host's file changes during the session: the next pod's Default DNS has the new server
      resolv = 'nameserver 192.0.2.54\n';
      fs.writeFile(`${DIR}/dflt.json`, pod('dflt', 'Default'));
      await clock.advanceAsync(25_000, settle);
      await k.stop();

      const recs = parseRecording(readFileSync(path, 'utf8'));
      const sandboxes = recs
        .filter((r) => r.k === 'cri' && r.m === 'runPodSandbox')
        .map((r) => (r.args as [{ dnsConfig?: unknown }])[0].dnsConfig);
      assert.deepEqual(sandboxes, [
        {
          servers: ['10.96.0.10'],
          searches: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'],
          options: ['ndots:5'],
        },
        { servers: ['192.0.2.54'], searches: [], options: [] },
      ]);
      assert.ok(
        recs.some(
          (r) =>
            r.k === 'cri' && r.m === 'createContainer' && JSON.stringify(r.args).includes('/var/lib/kubelet/pods/'),
        ),
        'the hosts file mounted',
      );
      assert.ok(
        written.every((w) => w.includes('10.1.2.3\tdb\n')),
        'the hosts files carry the alias',
      );
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.matched, r.decisions);

      // the same session with the host's first file read differently (at start and for the first
      // pod): the first sandbox differs
      const other = structuredClone(recs);
      const first = other.filter((x) => x.k === 'files.ok' && String(x.res).includes('192.0.2.53'));
      assert.ok(first.length >= 1);
      for (const read of first) read.res = 'nameserver 192.0.2.99\nsearch other.example\n';
      const r2 = await replayRecording(other);
      assert.equal(r2.identical, false);
      assert.match(formatResult(r2), /runPodSandbox/);
    }));

  it('env from ConfigMaps and Secrets: no secret reaches the recording, and the session replays from the recorded (redacted) reads', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      const SECRET = 'pl4nted-db-passw0rd';
      const mk = (name: string, uid: string, env: unknown[], envFrom: unknown[] = []): Pod =>
        ({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name,
            namespace: 'default',
            uid,
            resourceVersion: '7',
            creationTimestamp: '2027-01-15T08:00:00Z',
          },
          spec: {
            nodeName: 'node-v',
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'app', image: IMAGE, command: ['sleep', '1000'], env, envFrom }],
          },
          status: { phase: 'Pending' },
        }) as Pod;
      const web = mk(
        'web',
        '6f1c2b8e-0000-4000-8000-0000000000a1',
        [
          { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
          { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
        ],
        [{ prefix: 'DB_', secretRef: { name: 'db' } }],
      );
      const broken = mk('broken', '6f1c2b8e-0000-4000-8000-0000000000a2', [
        { name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nope' } } },
      ]);
      const meta = (name: string) => ({ name, namespace: 'default', uid: `uid-${name}` });
      const configData = createConfigData({
        clock,
        strategy: 'Get',
        api: {
          getConfigMap: async (_ns, name) => ({ metadata: meta(name), data: { mode: 'fast-and-l0ud' } }),
          getSecret: async (_ns, name) => ({
            kind: 'Secret',
            metadata: meta(name),
            data: { password: Buffer.from(SECRET).toString('base64') },
          }),
          createServiceAccountToken: async () => {
            throw new Error('no token read here');
          },
          configMaps: undefined as never,
          secrets: undefined as never,
        },
      });
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path, nodeIp: '198.51.100.7' },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
        kubeApi: memoryApi(clock, [web, broken]),
        configData,
      });
      await k.start();
      await clock.advanceAsync(5000, settle);
      await k.stop();
      const running = await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } });
      assert.equal(running.length, 1, 'web runs; broken is held');
      const text = readFileSync(path, 'utf8');
      for (const s of [SECRET, Buffer.from(SECRET).toString('base64'), 'fast-and-l0ud'])
        assert.ok(!text.includes(s), `${s} never reaches the recording`);
      const recs = parseRecording(text);
      assert.equal(recs[0]!.configData, true);
      assert.ok(
        recs.some((r) => r.k === 'configData' && r.m === 'getSecret'),
        'the reads are recorded',
      );
      assert.ok(
        recs.some((r) => r.k === 'configData.ok' && JSON.stringify(r.res).includes('"password":"<redacted>"')),
        'their answers redacted',
      );
      assert.ok(
        text.includes("couldn't find key nope in ConfigMap default/settings"),
        "the held container's reason is recorded",
      );
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
    }));

  it('a cluster-mode restart whose first API list is slow: the replayed syncLoop waits for the API source too', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      const pod: Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: 'web',
          namespace: 'default',
          uid: '6f1c2b8e-0000-4000-8000-000000000001',
          resourceVersion: '7',
          creationTimestamp: '2027-01-15T08:00:00Z',
        },
        spec: {
          nodeName: 'node-v',
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'app', image: IMAGE, command: ['sleep', '1000'] }],
        },
        status: { phase: 'Pending' },
      } as Pod;
      const api = memoryApi(clock, [pod]);
      const kubelet = () =>
        createKubelet({
          flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path, nodeIp: '198.51.100.7' },
          clock,
          log: silentLogger,
          nodeName: 'node-v',
          cri,
          fs,
          random: () => 0.5,
          kubeApi: api,
        });
      // session 1: the API pod starts
      const k1 = kubelet();
      await k1.start();
      await clock.advanceAsync(5000, settle);
      await k1.stop();
      assert.equal((await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } })).length, 1, 'the API pod runs');
      // session 2: the restarted kubelet's first list takes 8s; it must not touch the pod meanwhile
      await clock.advanceAsync(1000, settle);
      api.listDelayMs = 8000;
      const k2 = kubelet();
      await k2.start();
      await clock.advanceAsync(15_000, settle);
      await k2.stop();
      assert.equal(
        (await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } })).length,
        1,
        'the pod still runs: adopted',
      );

      const recs = parseRecording(readFileSync(path, 'utf8'));
      const second = recs.findLastIndex((r) => r.k === 'header');
      assert.ok(second > 0, 'two sessions');
      const apiReady = recs
        .slice(second)
        .find(
          (r) =>
            r.k === 'in' &&
            (r.msg as { type?: string; source?: string }).type === 'config.sourcesReady' &&
            (r.msg as { source?: string }).source === 'api',
        )!;
      assert.ok(
        (apiReady.t as number) - (recs[second]!.t as number) >= 8000,
        'the second session heard from the API after 8s',
      );
      assert.ok(
        !recs
          .slice(second)
          .some((r) => r.k === 'cri' && ['stopContainer', 'stopPodSandbox', 'runPodSandbox'].includes(r.m as string)),
        'the recorded restart decided nothing',
      );
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.sessions, 2);
      assert.equal(r.matched, r.decisions);
    }));

  it('--record writes pod secrets in plain text (issue 8, defect 3): env values are redacted, and a restart with a pod carrying them still replays identical, adopted', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      const SECRET = 'virt-s3cret-4711';
      fs.writeFile(
        `${DIR}/env.json`,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: 'env',
            namespace: 'default',
            annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"env":"${SECRET}"}` },
          },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'app',
                image: IMAGE,
                command: ['sh', '-c', 'echo $(PASSWORD); sleep 1000'],
                env: [{ name: 'PASSWORD', value: SECRET }],
              },
            ],
          },
        }),
      );
      const kubelet = () =>
        createKubelet({
          flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path, nodeIp: '198.51.100.7' },
          clock,
          log: silentLogger,
          nodeName: 'node-v',
          cri,
          fs,
          random: () => 0.5,
        });
      const k1 = kubelet();
      await k1.start();
      await clock.advanceAsync(5000, settle);
      await k1.stop();
      const [c] = await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } });
      assert.ok(c, 'the pod runs');
      const created = cri.calls.find((x) => x.method === 'CreateContainer')!.args[1] as {
        envs?: unknown;
        command?: string[];
      };
      assert.deepEqual(
        [created.envs, created.command],
        [[{ key: 'PASSWORD', value: SECRET }], ['sh', '-c', `echo ${SECRET}; sleep 1000`]],
        'the runtime got the value',
      );
      await clock.advanceAsync(1000, settle);
      const k2 = kubelet();
      await k2.start();
      await clock.advanceAsync(8000, settle);
      await k2.stop();
      const after = await cri.listContainers({ state: { state: 'CONTAINER_RUNNING' } });
      assert.deepEqual(
        after.map((x) => x.id),
        [c.id],
        'adopted, not restarted',
      );

      const text = readFileSync(path, 'utf8');
      assert.ok(!text.includes(SECRET), 'the secret never reaches the recording');
      const recs = parseRecording(text);
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.sessions, 2);
      assert.equal(r.matched, r.decisions);
    }));

  it("a replayed cluster session diverges (issue 8, defect 7): a pod the recorded kubelet rejected OutOfmemory against the Node's allocatable is rejected in the replay too", () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      const apiPod = (name: string, uid: string, memory: string, created: string): Pod =>
        ({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'default', uid, resourceVersion: '7', creationTimestamp: created },
          spec: {
            nodeName: 'node-v',
            terminationGracePeriodSeconds: 1,
            containers: [
              { name: 'app', image: IMAGE, command: ['sleep', '1000'], resources: { requests: { memory } } },
            ],
          },
          status: { phase: 'Pending' },
        }) as Pod;
      const small = apiPod('small', '6f1c2b8e-0000-4000-8000-00000000000a', '16Mi', '2027-01-15T08:00:00Z');
      const huge = apiPod('huge', '6f1c2b8e-0000-4000-8000-00000000000b', '900Gi', '2027-01-15T08:00:01Z');
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path, nodeIp: '198.51.100.7' },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
        kubeApi: memoryApi(clock, [small, huge]),
      });
      await k.start();
      await clock.advanceAsync(8000, settle);
      await k.stop();
      const sandboxes = await cri.listPodSandbox();
      assert.deepEqual(
        sandboxes.map((x) => x.metadata.name),
        ['small'],
        'the recorded kubelet ran the small pod only',
      );

      const recs = parseRecording(readFileSync(path, 'utf8'));
      const rejected = recs.find(
        (r) => r.k === 'api' && r.m === 'patchPodStatus' && JSON.stringify(r.args).includes('OutOfmemory'),
      );
      assert.ok(rejected, 'the recorded kubelet wrote the huge pod Failed, OutOfmemory');
      assert.ok(
        recs.some((r) => r.k === 'view' && r.ch === 'node'),
        'the Node admission read is in the recording',
      );
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.matched, r.decisions);
      assert.ok(r.decisions >= 3, `the small pod's sandbox and container (${r.decisions} decisions)`);
    }));

  /** Records a static pod running, `outside` done to the runtime behind the kubelet's back at 3s, then 20s more; the recording. */
  async function recordOutsideChange(
    n: VirtualNode,
    outside: (cri: FakeCri) => Promise<void>,
  ): Promise<Record<string, unknown>[]> {
    n.fs.writeFile(`${DIR}/web.json`, manifest('web', ['sleep', '1000']));
    const k = createKubelet({
      flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: n.path, nodeIp: '198.51.100.7' },
      clock: n.clock,
      log: silentLogger,
      nodeName: 'node-v',
      cri: n.cri,
      fs: n.fs,
      random: () => 0.5,
    });
    await k.start();
    await n.clock.advanceAsync(3000, settle);
    await outside(n.cri); // the raw runtime: not through the kubelet's recorded client
    await n.clock.advanceAsync(20_000, settle);
    await k.stop();
    return parseRecording(readFileSync(n.path, 'utf8'));
  }
  const decided = (recs: Record<string, unknown>[], m: string) => recs.filter((r) => r.k === 'cri' && r.m === m).length;

  it("a sandbox stopped behind the kubelet's back: the replay stops it when the recorded reads saw it NOTREADY", () =>
    onVirtualNode(async (n) => {
      const recs = await recordOutsideChange(n, async (cri) => {
        const [sandbox] = await cri.listPodSandbox();
        await cri.stopPodSandbox(sandbox!.id);
      });
      assert.equal(decided(recs, 'runPodSandbox'), 2, 'the kubelet made a new sandbox');
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.matched, r.decisions);
    }));

  it("a running container removed behind the kubelet's back: the replay removes it when the recorded listings lost it", () =>
    onVirtualNode(async (n) => {
      const recs = await recordOutsideChange(n, async (cri) => {
        const [container] = await cri.listContainers();
        await cri.removeContainer(container!.id);
      });
      assert.equal(decided(recs, 'createContainer'), 2, 'the kubelet made a new container');
      assert.equal(decided(recs, 'removeContainer'), 0, 'the kubelet removed nothing itself');
      const r = await replayRecording(recs);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.matched, r.decisions);
    }));

  it("a rotated recording: FILE is read with FILE.2 and FILE.1 before it; a part without its session's first part is reported", () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      fs.writeFile(`${DIR}/web.json`, manifest('web', ['sleep', '1000']));
      const kubelet = () =>
        createKubelet({
          flags: {
            ...DEFAULT_FLAGS,
            podManifestPath: DIR,
            record: path,
            recordMaxBytes: 30_000,
            nodeIp: '198.51.100.7',
          },
          clock,
          log: silentLogger,
          nodeName: 'node-v',
          cri,
          fs,
          random: () => 0.5,
        });
      const k1 = kubelet();
      await k1.start();
      await clock.advanceAsync(20_000, settle);
      await k1.stop();
      assert.deepEqual(recordingFiles(path), [`${path}.2`, `${path}.1`, path], 'the session filled three parts');
      const heads = recordingFiles(path).map((f) => parseRecording(readFileSync(f, 'utf8'))[0]!);
      assert.deepEqual(
        heads.map((h) => [h.k, h.part, h.continues]),
        [
          ['header', undefined, undefined],
          ['header', 1, true],
          ['header', 2, true],
        ],
      );

      const r = await replayRecording(path);
      assert.ok(r.identical, formatResult(r));
      assert.ok(r.decisions >= 3);
      assert.equal(r.sessions, 1, 'a continued part opens no session');
      assert.deepEqual(
        r.parts?.map((p) => p.path),
        recordingFiles(path),
      );

      // without the first part: nothing to replay, said plainly
      assert.throws(
        () => loadRecording([`${path}.1`, path]),
        /session\.jsonl\.1 line 1: part 1 of a session whose first part \(the one with the session header\) is missing; nothing to replay/,
      );
      // a part missing in the middle, or the files out of order
      assert.throws(
        () => loadRecording([`${path}.2`, path]),
        /session\.jsonl line 1: part 2 follows part 0: part 1 of this session is missing/,
      );
      assert.throws(
        () => loadRecording([`${path}.2`, path, `${path}.1`]),
        /part 2 follows part 0: the files are out of order/,
      );

      // a restart appends a second session: read from its middle, the first session's tail is skipped
      const k2 = kubelet();
      await k2.start();
      await clock.advanceAsync(5000, settle);
      await k2.stop();
      const files = recordingFiles(path);
      const tail = loadRecording(files.slice(1));
      assert.match(
        tail.notes.join('\n'),
        /part \d+ of a session whose first part \(the one with the session header\) is missing: its records up to .* are not replayed/,
      );
      const r2 = await replayRecording(tail);
      assert.ok(r2.identical, formatResult(r2));
      assert.equal(r2.sessions, 1);
      assert.ok(r2.skipped > 0);

      // the command line: FILE alone reads every part
      const cli = spawnSync(join(import.meta.dirname, '..', '..', 'bin', 'kubelet-ts'), ['replay', path], {
        encoding: 'utf8',
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stderr, new RegExp(`reading ${files.length} files, oldest first: ${files.join(' ')}`));
      assert.match(cli.stdout, /^identical \(/);
    }));

  it('a node without pods: no decisions recorded, none replayed, and the verdict says so', () =>
    onVirtualNode(async ({ path, clock, cri, fs }) => {
      const k = createKubelet({
        flags: { ...DEFAULT_FLAGS, podManifestPath: DIR, record: path },
        clock,
        log: silentLogger,
        nodeName: 'node-v',
        cri,
        fs,
        random: () => 0.5,
      });
      await k.start();
      await clock.advanceAsync(10_000, settle);
      await k.stop();
      const r = await replayRecording(path);
      assert.ok(r.identical, formatResult(r));
      assert.equal(r.decisions, 0);
      assert.equal(r.beyondEnd, 0);
      assert.match(formatResult(r), /^identical \(no decisions recorded and none replayed, recorded 10\.0s, /);
    }));
});
