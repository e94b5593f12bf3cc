// Tier 4: the Kubernetes documentation's "Configure a Security Context for a Pod or Container"
// examples on real containerd with busybox, checked in the runtime itself: the OCI spec
// containerd generated (`ctr containers info`) and what the container's process sees (`id`,
// /proc/self/status). Also the refusals the page describes (runAsNonRoot with an image that runs
// as root) and activeDeadlineSeconds (the pod Failed with DeadlineExceeded, its container stopped).
// The page's volumes and fsGroup are left out: volumes are not mounted yet (issue 11).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container } from '../../protocols/cri/types.ts';
import { eventually } from '../support/daemon.ts';
import { debugRequest } from '../support/debug-request.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { useNodeFixture, type NodeDirs } from '../support/node-fixture.ts';

const NODE = 'node-s';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

const node = useNodeFixture({ node: NODE, prefix: 'kts-secctx-', daemonArgs: ['--file-check-frequency=1s'] });

/** A static pod: `spec` lines (indented two spaces) before its containers, each given as its own lines. */
function podYaml(name: string, spec: string[], containers: string[][]): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    `metadata:\n  name: ${name}\n  namespace: default`,
    'spec:',
    '  terminationGracePeriodSeconds: 1',
    ...spec.map((l) => `  ${l}`),
    '  containers:',
    ...containers.flatMap((c) => c.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`))),
    '',
  ].join('\n');
}

const container = (name: string, more: string[] = []) => [
  `name: ${name}`,
  `image: ${BUSYBOX_IMAGE}`,
  `command: ${JSON.stringify(SLEEP)}`,
  ...more,
];

async function runningContainer(pod: string, name: string): Promise<Container> {
  return eventually(
    async () =>
      (
        await node.cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': `${pod}-${NODE}`, 'io.kubernetes.container.name': name },
          state: { state: 'CONTAINER_RUNNING' },
        })
      )[0],
    30_000,
    `${pod}/${name}: running`,
  );
}

async function inside(c: Container, cmd: string[]): Promise<string> {
  const r = await node.cri.execSync(c.id, cmd, 10);
  assert.equal(r.exitCode, 0, `${cmd.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

interface OciSpec {
  process: {
    user: { uid: number; gid: number; additionalGids?: number[] };
    noNewPrivileges?: boolean;
    capabilities?: { bounding?: string[]; effective?: string[]; permitted?: string[] };
  };
  linux: {
    seccomp?: { defaultAction: string; syscalls?: unknown[] };
    maskedPaths?: string[];
    readonlyPaths?: string[];
  };
}

/** The OCI runtime spec containerd generated for the container. */
async function ociSpec(c: Container): Promise<OciSpec> {
  const info = JSON.parse(await node.containerd.ctr(['containers', 'info', c.id])) as { Spec: OciSpec };
  return info.Spec;
}

/** A /proc/self/status field of the container's process, e.g. NoNewPrivs or CapBnd. */
async function procStatus(c: Container, field: string): Promise<string> {
  const line = (await inside(c, ['cat', '/proc/self/status'])).split('\n').find((l) => l.startsWith(`${field}:`));
  assert.ok(line, `${field} in /proc/self/status`);
  return line.slice(field.length + 1).trim();
}

interface PodLine {
  phase: string | null;
  containers: { name: string; state: string; reason: string | null; message: string | null }[];
}

async function start(args: string[] = []): Promise<{ dirs: NodeDirs; lines: string[] }> {
  const dirs = await node.dirs();
  const d = node.daemon(dirs, args);
  await d.waitForLog(/debug socket listening/);
  return { dirs, lines: d.lines };
}

describe("security contexts on real containerd (the documentation's examples)", () => {
  it('security-context-demo: runAsUser, runAsGroup and supplementalGroups seen by `id`; allowPrivilegeEscalation false sets no_new_privs; RuntimeDefault seccomp in the OCI spec', async () => {
    const { dirs } = await start();
    await writeFile(
      join(dirs.manifests, 'demo.yaml'),
      podYaml(
        'security-context-demo',
        [
          'securityContext:',
          '  runAsUser: 1000',
          '  runAsGroup: 3000',
          '  supplementalGroups: [4000, 5000]',
          '  seccompProfile:',
          '    type: RuntimeDefault',
        ],
        [container('sec-ctx-demo', ['securityContext:', '  allowPrivilegeEscalation: false'])],
      ),
    );
    const c = await runningContainer('security-context-demo', 'sec-ctx-demo');
    const id = await inside(c, ['id']);
    assert.match(id, /^uid=1000 gid=3000 groups=/, id);
    const groups = /groups=([\d,]+)/.exec(id)![1]!.split(',').map(Number);
    for (const g of [3000, 4000, 5000]) assert.ok(groups.includes(g), `group ${g} in ${id}`);
    assert.equal(await procStatus(c, 'NoNewPrivs'), '1');
    assert.equal(await procStatus(c, 'Seccomp'), '2', 'seccomp filter mode');
    const spec = await ociSpec(c);
    assert.deepEqual([spec.process.user.uid, spec.process.user.gid], [1000, 3000]);
    for (const g of [4000, 5000])
      assert.ok(spec.process.user.additionalGids?.includes(g), `additionalGids ${spec.process.user.additionalGids}`);
    assert.equal(spec.process.noNewPrivileges, true);
    assert.ok(spec.linux.seccomp, 'a seccomp profile in the OCI spec');
    assert.equal(spec.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    assert.ok((spec.linux.seccomp.syscalls ?? []).length > 0, 'the runtime default allow list');
    assert.ok(spec.linux.maskedPaths?.includes('/proc/kcore'), "upstream's masked /proc paths");
  });

  it("capabilities: drop ALL gives an empty bounding set; add NET_ADMIN and SYS_TIME (security-context-4); unset keeps containerd's default set, unconfined", async () => {
    const { dirs } = await start();
    await writeFile(
      join(dirs.manifests, 'caps.yaml'),
      podYaml(
        'caps',
        [],
        [
          container('dropped', ['securityContext:', '  capabilities:', '    drop: ["ALL"]']),
          container('sec-ctx-4', ['securityContext:', '  capabilities:', '    add: ["NET_ADMIN", "SYS_TIME"]']),
          container('plain'),
        ],
      ),
    );
    const dropped = await runningContainer('caps', 'dropped');
    const added = await runningContainer('caps', 'sec-ctx-4');
    const plain = await runningContainer('caps', 'plain');

    const d = await ociSpec(dropped);
    assert.deepEqual(d.process.capabilities?.bounding ?? [], []);
    assert.deepEqual(d.process.capabilities?.effective ?? [], []);
    assert.equal(await procStatus(dropped, 'CapBnd'), '0000000000000000');

    const a = await ociSpec(added);
    for (const cap of ['CAP_NET_ADMIN', 'CAP_SYS_TIME', 'CAP_CHOWN'])
      assert.ok(a.process.capabilities?.bounding?.includes(cap), `${cap} in ${a.process.capabilities?.bounding}`);

    const p = await ociSpec(plain);
    const bounding = p.process.capabilities?.bounding ?? [];
    assert.ok(
      bounding.includes('CAP_CHOWN') && bounding.includes('CAP_NET_BIND_SERVICE'),
      `containerd's default set: ${bounding}`,
    );
    assert.ok(
      !bounding.includes('CAP_NET_ADMIN') && !bounding.includes('CAP_SYS_ADMIN'),
      `containerd's default set: ${bounding}`,
    );
    assert.equal(p.linux.seccomp, undefined, 'Unconfined without a profile or --seccomp-default');
    assert.equal(
      p.process.noNewPrivileges ?? false,
      false,
      'no_new_privs stays off when allowPrivilegeEscalation is unset',
    );
    assert.equal(p.process.user.uid, 0, "the image's user (none: root)");
  });

  it('--seccomp-default: a container without a profile runs under RuntimeDefault; Unconfined opts out', async () => {
    const { dirs } = await start(['--seccomp-default']);
    await writeFile(
      join(dirs.manifests, 'sd.yaml'),
      podYaml(
        'sd',
        [],
        [
          container('defaulted'),
          container('opted-out', ['securityContext:', '  seccompProfile:', '    type: Unconfined']),
        ],
      ),
    );
    assert.equal(
      (await ociSpec(await runningContainer('sd', 'defaulted'))).linux.seccomp?.defaultAction,
      'SCMP_ACT_ERRNO',
    );
    assert.equal((await ociSpec(await runningContainer('sd', 'opted-out'))).linux.seccomp, undefined);
  });

  it("runAsNonRoot with an image that runs as root: CreateContainerConfigError with upstream's message and a Failed event; nothing created", async () => {
    const { dirs, lines } = await start();
    await writeFile(
      join(dirs.manifests, 'nonroot.yaml'),
      podYaml(
        'nonroot',
        ['securityContext:', '  runAsNonRoot: true'],
        [container('app'), container('ok', ['securityContext:', '  runAsUser: 1000'])],
      ),
    );
    const want = `container has runAsNonRoot and image will run as root (pod: "nonroot-${NODE}_default(`;
    const pod = await eventually(
      async () => {
        const p = await debugRequest<PodLine>(dirs.root, { cmd: 'pod', pod: `default/nonroot-${NODE}`, id: 1 });
        return p.containers.find((c) => c.name === 'app')?.reason === 'CreateContainerConfigError' ? p : undefined;
      },
      30_000,
      'app waiting with CreateContainerConfigError',
    );
    const app = pod.containers.find((c) => c.name === 'app')!;
    assert.ok(app.message?.startsWith(want) && app.message.endsWith(')", container: app)'), app.message ?? '');
    await runningContainer('nonroot', 'ok');
    const apps = await node.cri.listContainers({
      labelSelector: { 'io.kubernetes.pod.name': `nonroot-${NODE}`, 'io.kubernetes.container.name': 'app' },
    });
    assert.deepEqual(apps, [], 'the refused container is never created');
    await eventually(
      () =>
        lines.some(
          (l) =>
            l.includes('"Event occurred"') &&
            l.includes('"reason":"Failed"') &&
            l.includes('Error: container has runAsNonRoot and image will run as root (pod: '),
        ),
      10_000,
      'a Failed event naming the cause',
    );
  });

  it('activeDeadlineSeconds: the pod becomes Failed with a DeadlineExceeded event and its container is stopped', async () => {
    const { dirs, lines } = await start();
    await writeFile(
      join(dirs.manifests, 'deadline.yaml'),
      podYaml('deadline', ['activeDeadlineSeconds: 5', 'restartPolicy: Always'], [container('app')]),
    );
    const c = await runningContainer('deadline', 'app');
    const failed = await eventually(
      async () => {
        const p = await debugRequest<PodLine>(dirs.root, { cmd: 'pod', pod: `default/deadline-${NODE}`, id: 2 });
        return p.phase === 'Failed' ? p : undefined;
      },
      30_000,
      'the pod Failed',
    );
    assert.equal(failed.phase, 'Failed');
    await eventually(
      async () => (await node.cri.containerStatus(c.id)).state === 'CONTAINER_EXITED',
      20_000,
      'the container stopped',
    );
    const event = lines.find((l) => l.includes('"Event occurred"') && l.includes('"reason":"DeadlineExceeded"'));
    assert.ok(
      event?.includes('Pod was active on the node longer than the specified deadline'),
      event ?? lines.slice(-20).join('\n'),
    );
    // Failed is final: restartPolicy Always does not bring the container back
    await new Promise((r) => setTimeout(r, 3000));
    const all = await node.cri.listContainers({ labelSelector: { 'io.kubernetes.pod.name': `deadline-${NODE}` } });
    assert.deepEqual(
      all.map((x) => x.state),
      ['CONTAINER_EXITED'],
    );
  });

  it('sysctls: a safe one and an allowed unsafe one are set in the pod; another unsafe one is rejected at admission (SysctlForbidden)', async () => {
    const { dirs, lines } = await start(['--allowed-unsafe-sysctls=net.core.somaxconn']);
    const sysctls = (entries: [string, string][]) => [
      'securityContext:',
      '  sysctls:',
      ...entries.flatMap(([n, v]) => [`  - name: ${n}`, `    value: "${v}"`]),
    ];
    await writeFile(
      join(dirs.manifests, 'sysctl.yaml'),
      podYaml(
        'sysctl-example',
        sysctls([
          ['net.ipv4.ip_unprivileged_port_start', '1000'],
          ['net.core.somaxconn', '1024'],
        ]),
        [container('app')],
      ),
    );
    await writeFile(
      join(dirs.manifests, 'unsafe.yaml'),
      podYaml('unsafe', sysctls([['kernel.msgmax', '65536']]), [container('app')]),
    );
    const c = await runningContainer('sysctl-example', 'app');
    assert.equal((await inside(c, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).trim(), '1000');
    assert.equal((await inside(c, ['cat', '/proc/sys/net/core/somaxconn'])).trim(), '1024');
    await eventually(
      () =>
        lines.some(
          (l) =>
            l.includes('"Event occurred"') &&
            l.includes('"reason":"SysctlForbidden"') &&
            l.includes('forbidden sysctl: \\"kernel.msgmax\\" not allowlisted'),
        ),
      20_000,
      'the SysctlForbidden event',
    );
    assert.deepEqual(
      await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `unsafe-${NODE}` } }),
      [],
      'nothing of the rejected pod runs',
    );
  });

  it('a Localhost seccomp profile from <root-dir>/seccomp reaches the OCI spec', async () => {
    const dirs = await node.dirs();
    await mkdir(join(dirs.root, 'seccomp', 'profiles'), { recursive: true });
    const profile = { defaultAction: 'SCMP_ACT_LOG' };
    await writeFile(join(dirs.root, 'seccomp', 'profiles', 'audit.json'), JSON.stringify(profile));
    const d = node.daemon(dirs);
    await d.waitForLog(/debug socket listening/);
    await writeFile(
      join(dirs.manifests, 'audit.yaml'),
      podYaml(
        'audit-pod',
        ['securityContext:', '  seccompProfile:', '    type: Localhost', '    localhostProfile: profiles/audit.json'],
        [container('test-container')],
      ),
    );
    const spec = await ociSpec(await runningContainer('audit-pod', 'test-container'));
    assert.equal(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_LOG');
  });
});
