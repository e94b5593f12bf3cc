// Tier 4: issue 8's defects 4, 5 and 8 on real containerd, with in-process kubelets (createKubelet,
// what the daemon runs) so that a restart is a stop and a new kubelet on the same node, and the
// API server stand-in for the cluster case. Pods are checked in containerd over CRI, log
// directories on disk, statuses in the stand-in's store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import '../../protocols/messages/channels.ts';
import { createKubelet, type Kubelet } from '../../bin/kubelet.ts';
import { DEFAULT_FLAGS, type KubeletFlags } from '../../bin/flags.ts';
import { RealClock } from '../../kernel/clock.ts';
import { createLogger } from '../../kernel/log.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';
import { eventually } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { useNodeFixture } from '../support/node-fixture.ts';

const NODE = 'node-c';
const node = useNodeFixture({ node: NODE, prefix: 'kts-cleanup-' });

const staticPod = (name: string, command: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: ${BUSYBOX_IMAGE}
    command: ["sh", "-c", ${JSON.stringify(command)}]
`;

/** A kubelet on the fixture's containerd (cri: a wrapper of the real client, if given). */
function kubelet(flags: Partial<KubeletFlags>, cri?: (real: CriRuntime) => CriRuntime): Kubelet {
  const clock = new RealClock();
  const k = createKubelet({
    flags: {
      ...DEFAULT_FLAGS,
      containerRuntimeEndpoint: node.containerd.endpoint,
      fileCheckFrequencyMs: 1000,
      ...flags,
    },
    clock,
    log: createLogger({ verbosity: 0, now: () => clock.now(), sink: { write: () => {} } }),
    nodeName: NODE,
    periods: { containerGcMs: 1000 },
    ...(cri ? { cri: cri(node.cri) } : {}),
  });
  return node.track(k);
}

const containersOf = (name: string) =>
  node.cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': `${name}-${NODE}` } });

describe('defect 4: pod log directories of deleted pods', () => {
  it("a static pod's log directory goes with the pod; a symlink planted in the log root is not followed", async () => {
    const d = await node.dirs();
    const logs = join(d.root, 'pod-logs');
    const outside = join(d.root, 'outside');
    await mkdir(join(outside, 'victim'), { recursive: true });
    await writeFile(join(outside, 'victim', 'keep.log'), 'precious\n');
    await mkdir(logs, { recursive: true });
    await symlink(join(outside, 'victim'), join(logs, 'default_planted_uid-planted'));
    await writeFile(
      join(d.manifests, 'chatty.yaml'),
      staticPod('chatty', 'trap "exit 0" TERM; while true; do echo hello; sleep 1; done'),
    );
    const k = kubelet({ podManifestPath: d.manifests, rootDir: d.root, podLogsDir: logs });
    await k.start();
    const dir = await eventually(
      async () => {
        const name = (await readdir(logs)).find((n) => n.startsWith(`default_chatty-${NODE}_`));
        if (!name) return undefined;
        const log = await readFile(join(logs, name, 'app', '0.log'), 'utf8').catch(() => '');
        return log.includes('hello') ? name : undefined;
      },
      30_000,
      'the pod writes its log',
    );
    await unlink(join(d.manifests, 'chatty.yaml'));
    await eventually(
      async () => (await containersOf('chatty')).length === 0,
      30_000,
      'the pod removed from containerd',
    );
    await eventually(() => !existsSync(join(logs, dir)), 20_000, 'its log directory removed by the GC');
    assert.ok(
      (await lstat(join(logs, 'default_planted_uid-planted'))).isSymbolicLink(),
      'the planted symlink is left alone',
    );
    assert.equal(await readFile(join(outside, 'victim', 'keep.log'), 'utf8'), 'precious\n', 'its target survives');
  });
});

describe('defect 5: a container created but never started before the kubelet stopped', () => {
  it('the next kubelet starts that very container, restartCount 0', async () => {
    const d = await node.dirs();
    await writeFile(
      join(d.manifests, 'half.yaml'),
      staticPod('half', 'trap "exit 0" TERM; while true; do sleep 1; done'),
    );
    const flags = { podManifestPath: d.manifests, rootDir: d.root, podLogsDir: join(d.root, 'pod-logs') };
    // the first kubelet dies between CreateContainer and StartContainer: its StartContainer never returns
    const first = kubelet(
      flags,
      (real) =>
        new Proxy(real, {
          get(target, key) {
            if (key === 'startContainer') return () => new Promise<void>(() => {});
            const v = Reflect.get(target, key, target) as unknown;
            return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
          },
        }),
    );
    await first.start();
    const created = await eventually(
      async () => {
        const cs = await containersOf('half');
        return cs.length === 1 && cs[0]!.state === 'CONTAINER_CREATED' ? cs[0]! : undefined;
      },
      30_000,
      'a container created, not started',
    );
    await first.stop();
    const second = kubelet(flags);
    await second.start();
    const running = await eventually(
      async () => {
        const cs = await containersOf('half');
        return cs.some((c) => c.state === 'CONTAINER_RUNNING') ? cs : undefined;
      },
      30_000,
      'the container running',
    );
    assert.deepEqual(
      running.map((c) => [c.id, c.state, c.metadata.attempt]),
      [[created.id, 'CONTAINER_RUNNING', 0]],
      'that very container, no new attempt',
    );
    const status = await eventually(
      () => {
        const s = second.bus.port('spec').current('podStatuses');
        const cs = [...(s?.values() ?? [])].flatMap((p) => p.containerStatuses ?? []).find((c) => c.state?.running);
        return cs;
      },
      10_000,
      'the running status',
    );
    assert.equal(status.restartCount, 0);
  });
});

describe("defect 8: a rejected pod's status survives a restart", () => {
  let api: ApiServer;
  before(async () => {
    api = await startApiServer({ nodes: [NODE] });
  });
  after(async () => {
    await api?.stop();
  });

  it('a pod rejected OutOfmemory keeps its API status byte-identical after the kubelet restarts', async () => {
    const d = await node.dirs();
    const flags = {
      rootDir: d.root,
      podLogsDir: join(d.root, 'pod-logs'),
      kubeconfig: api.kubeconfigFor(NODE),
      nodeStatusUpdateFrequencyMs: 2000,
    };
    const first = kubelet(flags);
    await first.start();
    const created = api.store.create('pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'huge', namespace: 'default' },
      spec: {
        nodeName: NODE,
        containers: [
          {
            name: 'app',
            image: BUSYBOX_IMAGE,
            command: ['sleep', '3600'],
            resources: { requests: { memory: '900Gi' } },
          },
        ],
      },
    } as unknown as JsonObject) as unknown as Pod;
    const get = () => api.store.get('pods', 'default', 'huge') as unknown as Pod;
    await eventually(() => get().status?.reason === 'OutOfmemory', 30_000, 'huge rejected OutOfmemory');
    const before = JSON.stringify(get().status);
    const rv = get().metadata.resourceVersion;
    await first.stop();

    const second = kubelet(flags);
    await second.start();
    // the restarted kubelet has run the pod to its end: its worker terminated, the status manager is done with it
    await eventually(
      () => {
        const sm = second.supervisor.inspect().find((a) => a.id === 'statusManager')?.inspect as
          | { writes?: { uid: string; finished: boolean; state: string }[] }
          | undefined;
        const w = sm?.writes?.find((x) => x.uid === created.metadata.uid);
        return w?.finished && w.state === 'synced';
      },
      30_000,
      'huge finished by the restarted kubelet',
    );
    assert.equal(JSON.stringify(get().status), before);
    assert.equal(get().metadata.resourceVersion, rv, 'not written at all');
    assert.equal(get().status?.phase, 'Failed');
    assert.equal(get().status?.containerStatuses, undefined);
    assert.equal(
      (await containersOf('huge')).length +
        (await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'huge' } })).length,
      0,
      'never started',
    );
  });
});
