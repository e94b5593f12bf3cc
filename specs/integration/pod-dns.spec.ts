// Pod networking identity on real containerd: what a container sees in /etc/resolv.conf,
// /etc/hosts and `hostname` for each dnsPolicy, dnsConfig, hostAliases, hostname/subdomain and
// setHostnameAsFQDN, read from inside the containers (exec, or the container's own log), with
// the Kubernetes documentation's example pods ("Customizing DNS Service" dns-example, "Adding
// entries to Pod /etc/hosts with HostAliases" hostaliases-pod, "DNS for Services and Pods").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container } from '../../protocols/cri/types.ts';
import { eventually } from '../support/daemon.ts';
import { useNodeFixture, type NodeDirs } from '../support/node-fixture.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';

const NODE = 'node-d';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
const HOST_RESOLV = 'nameserver 192.0.2.53\nsearch corp.example.\noptions timeout:2\n';

const node = useNodeFixture({ node: NODE, prefix: 'kts-dns-', daemonArgs: ['--file-check-frequency=2s'] });

/** A static pod: `spec` lines (indented two spaces) before its one container. */
function podYaml(
  name: string,
  spec: string[],
  container: { command: string[]; args?: string[]; name?: string } = { command: SLEEP },
): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    `metadata:\n  name: ${name}\n  namespace: default`,
    'spec:',
    '  terminationGracePeriodSeconds: 2',
    ...spec.map((l) => `  ${l}`),
    '  containers:',
    `  - name: ${container.name ?? 'app'}`,
    `    image: ${BUSYBOX_IMAGE}`,
    `    command: ${JSON.stringify(container.command)}`,
    ...(container.args ? [`    args: ${JSON.stringify(container.args)}`] : []),
    '',
  ].join('\n');
}

/** The node's daemon with its resolver file under the work directory (so the host's does not matter). */
async function start(args: string[]): Promise<NodeDirs> {
  const dirs = await node.dirs();
  const resolv = join(dirs.manifests, '..', 'resolv.conf');
  await writeFile(resolv, HOST_RESOLV);
  const d = node.daemon(dirs, [`--resolv-conf=${resolv}`, ...args]);
  await d.waitForLog(/kubelet-ts starting/);
  return dirs;
}

async function runningContainer(pod: string): Promise<Container> {
  return eventually(
    async () =>
      (
        await node.cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': `${pod}-${NODE}` },
          state: { state: 'CONTAINER_RUNNING' },
        })
      )[0],
    30_000,
    `${pod}: its container running`,
  );
}

/** Runs `cmd` in the pod's container and returns what it printed. */
async function inside(pod: string, cmd: string[]): Promise<string> {
  const c = await runningContainer(pod);
  const r = await node.cri.execSync(c.id, cmd, 10);
  assert.equal(r.exitCode, 0, `${cmd.join(' ')} in ${pod}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

async function podIP(pod: string): Promise<string> {
  const [s] = await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `${pod}-${NODE}` } });
  assert.ok(s, `${pod}: a sandbox`);
  const ip = (await node.cri.podSandboxStatus(s.id)).network?.ip ?? '';
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
  return ip;
}

/** The lines of a resolv.conf, in the runtime's order (containerd writes search, nameserver, options). */
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

describe('pod DNS and /etc/hosts on real containerd', () => {
  it("ClusterFirst: the cluster DNS server, the cluster search path then the host's, ndots:5; Default: the host's resolver file", async () => {
    const dirs = await start(['--cluster-dns=10.96.0.10', '--cluster-domain=cluster.local']);
    await writeFile(join(dirs.manifests, 'cf.yaml'), podYaml('cf', []));
    await writeFile(join(dirs.manifests, 'dflt.yaml'), podYaml('dflt', ['dnsPolicy: Default']));
    assert.deepEqual(lines(await inside('cf', ['cat', '/etc/resolv.conf'])), [
      'search default.svc.cluster.local svc.cluster.local cluster.local corp.example',
      'nameserver 10.96.0.10',
      'options ndots:5',
    ]);
    assert.deepEqual(lines(await inside('dflt', ['cat', '/etc/resolv.conf'])), [
      'search corp.example',
      'nameserver 192.0.2.53',
      'options timeout:2',
    ]);
  });

  it("hostNetwork: ClusterFirst is Default, ClusterFirstWithHostNet the cluster's; /etc/hosts is the node's under the kubelet's header", async () => {
    const dirs = await start(['--cluster-dns=10.96.0.10', '--cluster-domain=cluster.local']);
    await writeFile(
      join(dirs.manifests, 'hn.yaml'),
      podYaml('hn', ['hostNetwork: true', 'hostAliases:', '- ip: "10.1.2.3"', '  hostnames: ["foo.remote"]']),
    );
    await writeFile(
      join(dirs.manifests, 'hn-cluster.yaml'),
      podYaml('hn-cluster', ['hostNetwork: true', 'dnsPolicy: ClusterFirstWithHostNet']),
    );
    assert.deepEqual(lines(await inside('hn', ['cat', '/etc/resolv.conf'])), [
      'search corp.example',
      'nameserver 192.0.2.53',
      'options timeout:2',
    ]);
    assert.deepEqual(lines(await inside('hn-cluster', ['cat', '/etc/resolv.conf']))[1], 'nameserver 10.96.0.10');
    const nodeHosts = await readFile('/etc/hosts', 'utf8');
    assert.equal(
      await inside('hn', ['cat', '/etc/hosts']),
      `# Kubernetes-managed hosts file (host network).\n${nodeHosts}\n# Entries added by HostAliases.\n10.1.2.3\tfoo.remote\n`,
    );
  });

  it('dns-example (dnsPolicy None with dnsConfig): exactly the documented resolv.conf', async () => {
    const dirs = await start(['--cluster-dns=10.96.0.10', '--cluster-domain=cluster.local']);
    await writeFile(
      join(dirs.manifests, 'dns-example.yaml'),
      podYaml(
        'dns-example',
        [
          'dnsPolicy: "None"',
          'dnsConfig:',
          '  nameservers:',
          '    - 192.0.2.1 # this is an example',
          '  searches:',
          '    - ns1.svc.cluster-domain.example',
          '    - my.dns.search.suffix',
          '  options:',
          '    - name: ndots',
          '      value: "2"',
          '    - name: edns0',
        ],
        { name: 'test', command: SLEEP },
      ),
    );
    // the page's three lines (it lists nameserver first; containerd writes the search line first)
    const got = lines(await inside('dns-example', ['cat', '/etc/resolv.conf']));
    assert.deepEqual(got, [
      'search ns1.svc.cluster-domain.example my.dns.search.suffix',
      'nameserver 192.0.2.1',
      'options ndots:2 edns0',
    ]);
    assert.deepEqual(
      [...got].sort(),
      [
        'nameserver 192.0.2.1',
        'search ns1.svc.cluster-domain.example my.dns.search.suffix',
        'options ndots:2 edns0',
      ].sort(),
    );
  });

  it("hostaliases-pod: the documented /etc/hosts, written by the container to its log; the file is the pod's etc-hosts, removed with the pod", async () => {
    const dirs = await start([]);
    const file = join(dirs.manifests, 'hostaliases-pod.yaml');
    await writeFile(
      file,
      podYaml(
        'hostaliases-pod',
        [
          'restartPolicy: Never',
          'hostAliases:',
          '- ip: "127.0.0.1"',
          '  hostnames:',
          '  - "foo.local"',
          '  - "bar.local"',
          '- ip: "10.1.2.3"',
          '  hostnames:',
          '  - "foo.remote"',
          '  - "bar.remote"',
        ],
        { name: 'cat-hosts', command: ['cat'], args: ['/etc/hosts'] },
      ),
    );
    const exited = await eventually(
      async () => {
        const [c] = await node.cri.listContainers({
          labelSelector: { 'io.kubernetes.pod.name': `hostaliases-pod-${NODE}` },
        });
        if (!c) return undefined;
        const st = await node.cri.containerStatus(c.id);
        return st.state === 'CONTAINER_EXITED' ? st : undefined;
      },
      30_000,
      'cat-hosts exited',
    );
    assert.equal(exited.exitCode, 0);
    // CRI log lines: "<time> stdout F <text>"
    const log = (await readFile(exited.logPath, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').slice(3).join(' '));
    const ip = await podIP('hostaliases-pod');
    assert.deepEqual(log, [
      '# Kubernetes-managed hosts file.',
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet',
      'fe00::0\tip6-mcastprefix',
      'fe00::1\tip6-allnodes',
      'fe00::2\tip6-allrouters',
      `${ip}\thostaliases-pod-${NODE}`,
      '',
      '# Entries added by HostAliases.',
      '127.0.0.1\tfoo.local\tbar.local',
      '10.1.2.3\tfoo.remote\tbar.remote',
    ]);
    const [sandbox] = await node.cri.listPodSandbox({
      labelSelector: { 'io.kubernetes.pod.name': `hostaliases-pod-${NODE}` },
    });
    const uid = sandbox!.metadata.uid;
    const hostsFile = join(dirs.root, 'pods', uid, 'etc-hosts');
    assert.equal((await stat(hostsFile)).mode & 0o777, 0o644);
    await unlink(file);
    await eventually(
      async () =>
        (await node.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': `hostaliases-pod-${NODE}` } }))
          .length === 0 &&
        !(await stat(join(dirs.root, 'pods', uid)).then(
          () => true,
          () => false,
        )),
      30_000,
      'the pod and its pods/<uid> directory removed',
    );
  });

  it('hostname and subdomain: `hostname` is the short name, /etc/hosts has the FQDN; setHostnameAsFQDN makes `hostname` the FQDN', async () => {
    const dirs = await start(['--cluster-domain=cluster.local']);
    await writeFile(
      join(dirs.manifests, 'busybox1.yaml'),
      podYaml('busybox1', ['hostname: busybox-1', 'subdomain: busybox-subdomain']),
    );
    await writeFile(
      join(dirs.manifests, 'busybox2.yaml'),
      podYaml('busybox2', ['hostname: busybox-2', 'subdomain: busybox-subdomain', 'setHostnameAsFQDN: true']),
    );
    assert.equal(await inside('busybox1', ['hostname']), 'busybox-1\n');
    const ip = await podIP('busybox1');
    const hosts = await inside('busybox1', ['cat', '/etc/hosts']);
    assert.ok(hosts.includes(`\n${ip}\tbusybox-1.busybox-subdomain.default.svc.cluster.local\tbusybox-1\n`), hosts);
    assert.equal(await inside('busybox2', ['hostname']), 'busybox-2.busybox-subdomain.default.svc.cluster.local\n');
  });
});
