// Flag and config parity with upstream's kubelet v1.35 (bin/parity.ts): every upstream flag and
// v1beta1 field is in the table, ignored ones are type-checked as flag and as field, and the
// kubeadm drop-in command line with a kubeadm config.yaml parses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyConfigFile, ConfigFileError, parseKubeletConfig, UNSUPPORTED_FIELDS } from '../../bin/config-file.ts';
import { certDirOf, DEFAULT_FLAGS, FLAGS, FlagError, parseFlags, UNSUPPORTED_FLAGS } from '../../bin/flags.ts';
import { PARITY_BEGIN, PARITY_END, parityMarkdown, parityTable, reportUnsupported } from '../../bin/parity.ts';
import { createLogger } from '../../kernel/log.ts';

const ROOT = join(import.meta.dirname, '..', '..');
interface UpstreamFlag {
  name: string;
  type: string;
  default?: string;
  deprecated?: string;
}
const UPSTREAM = JSON.parse(readFileSync(join(ROOT, 'bin', 'upstream', 'kubelet-v1.35.json'), 'utf8')) as {
  flags: UpstreamFlag[];
  configFields: { name: string; type: string }[];
};
const HEAD = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';

/** The flag parser kinds that read each upstream pflag type. */
const KINDS: Record<string, string[]> = {
  bool: ['bool'],
  version: ['bool'],
  int: ['int'],
  int32: ['int'],
  duration: ['duration'],
  string: ['string', 'ip', 'quantity'],
  strings: ['list'],
  mapStringString: ['map', 'thresholds'],
  mapStringBool: ['mapbool'],
  quantity: ['quantity'],
  '[]v1.Taint': ['taints'],
  colonSeparatedMultimapStringString: ['multimap'],
  'pattern=N,...': ['string'],
  'reserved-memory': ['string'],
};
const defOf = (name: string) => FLAGS.find((f) => f.name === name) ?? UNSUPPORTED_FLAGS.find((f) => f.name === name);
const flagError = (argv: string[]): string => {
  try {
    parseFlags(argv);
  } catch (e) {
    assert.ok(e instanceof FlagError, String(e));
    return e.message;
  }
  return assert.fail(`${argv.join(' ')} parsed`);
};
const logLines = (fn: (log: ReturnType<typeof createLogger>) => void): Record<string, unknown>[] => {
  const lines: string[] = [];
  const severities: string[] = [];
  fn(
    createLogger({
      verbosity: 0,
      now: () => 0,
      sink: {
        write: (l, s) => {
          lines.push(l);
          severities.push(s);
        },
      },
    }),
  );
  return lines.map((l, i) => ({ ...(JSON.parse(l) as Record<string, unknown>), severity: severities[i] }));
};

describe('parity with upstream kubelet v1.35', () => {
  const rows = parityTable();

  it('every upstream flag is in the table, read as its upstream type', () => {
    for (const u of UPSTREAM.flags) {
      assert.ok(
        rows.some((r) => r.flag === u.name),
        `--${u.name} is in the parity table`,
      );
      const def = defOf(u.name);
      assert.ok(def, `--${u.name} is parsed`);
      assert.ok(KINDS[u.type]?.includes(def.kind), `--${u.name}: upstream ${u.type}, parsed as ${def.kind}`);
    }
  });

  it("every upstream flag default parses; implemented flags default to upstream's value", () => {
    const V1BETA1_DEFAULTS = new Set([
      'read-only-port',
      'anonymous-auth',
      'authentication-token-webhook',
      'authorization-mode',
    ]);
    const seconds = (ms: number) => ms / 1000;
    for (const u of UPSTREAM.flags) {
      if (u.default === undefined || u.name === 'help') continue;
      const parsed = parseFlags([`--${u.name}=${u.default}`]);
      const def = FLAGS.find((f) => f.name === u.name);
      // legacy flag defaults; kubelet-ts follows v1beta1's (README: the differences of default)
      if (!def || V1BETA1_DEFAULTS.has(u.name) || u.name === 'enforce-node-allocatable') continue;
      // kubelet-ts derives it from --root-dir, which upstream's literal default equals at its default
      if (u.name === 'cert-dir') {
        assert.equal(certDirOf(DEFAULT_FLAGS), u.default, '--cert-dir default');
        continue;
      }
      const got = parsed[def.key];
      const want = DEFAULT_FLAGS[def.key];
      if (def.kind === 'duration') assert.equal(seconds(got as number), seconds(want as number), `--${u.name} default`);
      else assert.deepEqual(got, want, `--${u.name} default`);
    }
  });

  it("every v1beta1 field is in the table; every ignored flag's field is an upstream field", () => {
    const fields = new Set(rows.map((r) => r.field?.split('.')[0]));
    const upstream = new Set(UPSTREAM.configFields.map((f) => f.name));
    for (const f of upstream) assert.ok(fields.has(f), `${f} is in the parity table`);
    for (const f of Object.keys(UNSUPPORTED_FIELDS)) assert.ok(upstream.has(f), `${f} is an upstream field`);
    for (const f of UNSUPPORTED_FLAGS)
      if (f.field) assert.ok(upstream.has(f.field.split('.')[0]!), `--${f.name}: ${f.field} is an upstream field`);
  });

  it('an ignored flag is still type-checked: a bad value is a FlagError naming it (exit 2 from the CLI)', () => {
    const bad: Record<string, string> = {
      int: 'lots',
      bool: 'maybe',
      duration: 'soon',
      quantity: '1XB',
      mapbool: 'A=yes',
      map: 'novalue',
      thresholds: 'memory.available',
    };
    for (const f of UNSUPPORTED_FLAGS) {
      const value = bad[f.kind] ?? (f.oneOf ? 'bogus' : undefined);
      if (value === undefined) continue;
      assert.match(
        flagError([`--${f.name}=${value}`]),
        new RegExp(`invalid argument .* for "--${f.name}" flag`),
        f.name,
      );
    }
    const r = spawnSync(join(ROOT, 'bin', 'kubelet-ts'), ['--image-gc-high-threshold=lots'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /invalid argument "lots" for "--image-gc-high-threshold" flag: not an integer/);
  });

  it('an ignored field is type-checked in the file (an error naming it); its zero value is unset, not reported', () => {
    const errorOf = (body: string) => {
      try {
        parseKubeletConfig(HEAD + body, '/k.yaml');
      } catch (e) {
        assert.ok(e instanceof ConfigFileError);
        return e.message;
      }
      return assert.fail(`${body} parsed`);
    };
    assert.match(
      errorOf('cpuManagerPolicy: 7\n'),
      /cpuManagerPolicy: Invalid value: 7: expected a string, got an integer/,
    );
    assert.match(
      errorOf('hairpinMode: bogus\n'),
      /hairpinMode: Invalid value: "bogus": supported values: "promiscuous-bridge", "hairpin-veth", "none"/,
    );
    assert.match(
      errorOf('authentication: {webhook: {enabled: "yes"}}\n'),
      /authentication\.webhook\.enabled: Invalid value: "yes": expected a boolean/,
    );
    assert.match(errorOf('featureGates: {Foo: 1}\n'), /featureGates\.Foo: Invalid value: 1: expected a boolean/);
    assert.match(
      errorOf('shutdownGracePeriodByPodPriority: 5\n'),
      /shutdownGracePeriodByPodPriority: Invalid value: 5: expected a list/,
    );
    assert.deepEqual(
      parseKubeletConfig(
        `${HEAD}shutdownGracePeriodByPodPriority: []\nmemorySwap: {}\ncrashLoopBackOff: {}\n`,
        '/k.yaml',
      ).ignored,
      [],
    );
  });

  it('one warning per ignored setting, naming flag and field; given both ways it warns once', () => {
    const argv = ['--config=/k.yaml', '--cpu-manager-policy=static', '--lock-file=/run/lock'];
    const { flags, file } = applyConfigFile(
      argv,
      '/k.yaml',
      () => `${HEAD}cpuManagerPolicy: none\nenableContentionProfiling: true\n`,
    );
    assert.deepEqual(flags.unsupported, { '--cpu-manager-policy': 'static', '--lock-file': '/run/lock' });
    const lines = logLines((log) => reportUnsupported(log, flags, file));
    assert.deepEqual(
      lines.map((l) => l.msg),
      [
        '--cpu-manager-policy (cpuManagerPolicy) is not supported by kubelet-ts: accepted and ignored',
        '--lock-file is not supported by kubelet-ts: accepted and ignored',
        'enableContentionProfiling (--contention-profiling) is not supported by kubelet-ts: accepted and ignored',
      ],
    );
    assert.ok(lines.every((l) => l.severity === 'W'));
  });

  it('the README table is the one bin/parity.ts generates (bash scripts/node.sh scripts/readme-parity.ts)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf(PARITY_BEGIN);
    const end = readme.indexOf(PARITY_END);
    assert.ok(start >= 0 && end > start, 'README.md has the parity markers');
    assert.equal(
      readme.slice(start + PARITY_BEGIN.length, end).trim(),
      parityMarkdown().trim(),
      'README.md parity table is stale',
    );
  });
});

describe('the deprecated flags kubeadm passes', () => {
  it('the kubeadm drop-in command line with a kubeadm config.yaml parses without an error', () => {
    const config = join(ROOT, 'examples', 'kubeadm', 'config.yaml');
    const argv = [
      '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
      '--kubeconfig=/etc/kubernetes/kubelet.conf',
      `--config=${config}`,
      '--container-runtime-endpoint=unix:///run/containerd/containerd.sock',
      '--pod-infra-container-image=registry.k8s.io/pause:3.10',
    ];
    const first = parseFlags(argv);
    const { flags, file } = applyConfigFile(argv, first.config!);
    assert.deepEqual(file.warnings, []);
    assert.deepEqual(file.ignored, []);
    assert.equal(flags.podManifestPath, '/etc/kubernetes/manifests');
    assert.deepEqual(flags.clusterDns, ['10.96.0.10']);
    assert.equal(flags.clusterDomain, 'cluster.local');
    assert.equal(flags.resolvConf, '/run/systemd/resolve/resolv.conf');
    assert.equal(flags.containerRuntimeEndpoint, 'unix:///run/containerd/containerd.sock');
    assert.equal(flags.kubeconfig, '/etc/kubernetes/kubelet.conf');
    assert.equal(flags.syncFrequencyMs, 60_000, 'syncFrequency: 0s is the default');
    assert.equal(flags.podInfraContainerImage, 'registry.k8s.io/pause:3.10');
    const lines = logLines((log) => reportUnsupported(log, flags, file));
    assert.ok(lines.some((l) => /^Flag --pod-infra-container-image has been deprecated/.test(l.msg as string)));
  });

  it('--cloud-provider: "" or external only; --provider-id sets providerID', () => {
    assert.equal(parseFlags(['--cloud-provider=external']).cloudProvider, 'external');
    assert.match(flagError(['--cloud-provider=aws']), /unknown cloud provider: only "" and "external"/);
    assert.equal(parseFlags(['--provider-id=aws:///eu-west-1a/i-0abc']).providerId, 'aws:///eu-west-1a/i-0abc');
  });

  it("--register-with-taints: key=value:effect and key:effect, validated as a Node's taints", () => {
    assert.deepEqual(
      parseFlags(['--register-with-taints=dedicated=gpu:NoSchedule,node-role.kubernetes.io/control-plane:NoSchedule'])
        .registerWithTaints,
      [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
      ],
    );
    assert.match(
      flagError(['--register-with-taints=dedicated=gpu:Sometimes']),
      /invalid taint spec: dedicated=gpu:Sometimes: effect "Sometimes": supported values/,
    );
    assert.match(
      flagError(['--register-with-taints=bad key:NoSchedule']),
      /invalid taint spec: bad key:NoSchedule: key "bad key"/,
    );
    assert.match(
      flagError(['--register-with-taints=a:NoSchedule,a=b:NoSchedule']),
      /duplicated taints with the same key and effect: a:NoSchedule/,
    );
    assert.throws(
      () => parseKubeletConfig(`${HEAD}registerWithTaints: [{key: a, effect: Never}]\n`, '/k.yaml'),
      /registerWithTaints\[0\]: Invalid value: .*effect "Never"/,
    );
  });

  it('--node-ip: one IP or a dual-stack pair, validated', () => {
    assert.equal(parseFlags(['--node-ip=10.0.0.5,fd00::5']).nodeIp, '10.0.0.5,fd00::5');
    assert.equal(parseFlags(['--node-ip=::']).nodeIp, '::');
    assert.match(
      flagError(['--node-ip=10.0.0.5,10.0.0.6']),
      /must contain either a single IP or a dual-stack pair of IPs/,
    );
    assert.match(
      flagError(['--node-ip=10.0.0.5,fd00::5,10.0.0.7']),
      /must contain either a single IP or a dual-stack pair/,
    );
    assert.match(flagError(['--node-ip=node-a']), /could not parse "node-a" as an IP address/);
  });
});

describe('node registration: --node-labels the NodeRestriction admission plugin would refuse', () => {
  it("a kubernetes.io / k8s.io label outside the kubelet's set is refused at start, with upstream's message", () => {
    assert.equal(
      flagError(['--node-labels=node-role.kubernetes.io/worker=,example.k8s.io/x=1']),
      "unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [example.k8s.io/x node-role.kubernetes.io/worker]\n" +
        "--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io) " +
        'or be in the specifically allowed set (beta.kubernetes.io/arch, beta.kubernetes.io/instance-type, beta.kubernetes.io/os, ' +
        'failure-domain.beta.kubernetes.io/region, failure-domain.beta.kubernetes.io/zone, kubernetes.io/arch, kubernetes.io/hostname, ' +
        'kubernetes.io/os, node.kubernetes.io/instance-type, topology.kubernetes.io/region, topology.kubernetes.io/zone)',
    );
  });

  it('the allowed prefixes, the allowed set and other domains pass; a malformed key or value is refused', () => {
    const labels = {
      'node.kubernetes.io/pool': 'blue',
      'kubelet.kubernetes.io/role': 'edge',
      'topology.kubernetes.io/zone': 'z1',
      'pool.node.kubernetes.io/x': 'y',
      'example.com/team': 'a',
      plain: '',
    };
    assert.deepEqual(
      parseFlags([
        `--node-labels=${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
      ]).nodeLabels,
      labels,
    );
    assert.match(flagError(['--node-labels=bad key=v']), /^invalid node labels: 'bad key' - /);
    assert.match(flagError(['--node-labels=ok=not a value']), /^invalid node labels: 'not a value' - /);
  });
});
