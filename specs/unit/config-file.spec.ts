// --config FILE: a KubeletConfiguration (kubelet.config.k8s.io/v1beta1) under the command line.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyConfigFile,
  CONFIG_FIELDS,
  ConfigFileError,
  loadKubeletConfig,
  parseKubeletConfig,
  reportConfigFile,
} from '../../bin/config-file.ts';
import { DEFAULT_FLAGS, FLAGS, parseFlags } from '../../bin/flags.ts';
import { createLogger } from '../../kernel/log.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const HEAD = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';
const PATH = '/etc/kubernetes/kubelet-config.yaml';
const parse = (body: string) => parseKubeletConfig(HEAD + body, PATH);
/** The ConfigFileError message for `text`. */
function errorOf(text: string, path = PATH): string {
  try {
    parseKubeletConfig(text, path);
  } catch (e) {
    assert.ok(e instanceof ConfigFileError, `not a ConfigFileError: ${String(e)}`);
    return e.message;
  }
  assert.fail('expected a ConfigFileError');
}
/** The flags in effect for `argv` with a config file of `text` (read from memory). */
const withFile = (text: string, argv: string[] = []) =>
  applyConfigFile(['--config', PATH, ...argv], PATH, (p) => {
    assert.equal(p, PATH);
    return HEAD + text;
  }).flags;

const work = mkdtempSync(join(tmpdir(), 'kts-config-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('KubeletConfiguration file: fields', () => {
  it('maps every field that has a kubelet-ts flag, with upstream types', () => {
    const { values, warnings, ignored } = parse(`
staticPodPath: /etc/kubernetes/manifests
staticPodURL: https://cfg.example/pods
staticPodURLHeader:
  Authorization: ["Bearer abc"]
  X-Multi: [one, two]
fileCheckFrequency: 30s
httpCheckFrequency: 1m30s
syncFrequency: 2m0s
runtimeRequestTimeout: 500ms
containerRuntimeEndpoint: unix:///run/crio/crio.sock
podLogsDir: /srv/logs
nodeStatusUpdateFrequency: 20s
nodeStatusReportFrequency: 1h
registerNode: false
rotateCertificates: true
serverTLSBootstrap: true
maxPods: 42
kubeAPIQPS: 7
kubeAPIBurst: 9
eventRecordQPS: 3
eventBurst: 4
kubeReserved: {cpu: 100m, memory: 256Mi, ephemeral-storage: 1Gi}
systemReserved: {cpu: "1", memory: 1.5Gi}
evictionHard: {memory.available: 200Mi, nodefs.available: "5%"}
evictionPressureTransitionPeriod: 30s
clusterDNS: [10.96.0.10, "fd00::a"]
clusterDomain: cluster.local
resolvConf: /run/systemd/resolve/resolv.conf
healthzPort: 11248
healthzBindAddress: 0.0.0.0
readOnlyPort: 10255
address: 127.0.0.1
providerID: aws:///eu-west-1a/i-0abc
registerWithTaints: [{key: dedicated, value: gpu, effect: NoSchedule}, {key: edge, effect: NoExecute}]
runOnce: true
seccompDefault: true
allowedUnsafeSysctls: ["kernel.msg*", net.core.somaxconn]
cgroupDriver: systemd
cgroupRoot: /kubelet.slice
cgroupsPerQOS: false
enforceNodeAllocatable: []
imageGCHighThresholdPercent: 90
imageGCLowThresholdPercent: 0
imageMinimumGCAge: 5m
imageMaximumGCAge: 168h
shutdownGracePeriod: 30s
shutdownGracePeriodCriticalPods: 10s
enableServer: false
port: 11250
tlsCertFile: /etc/kubernetes/pki/kubelet.crt
tlsPrivateKeyFile: /etc/kubernetes/pki/kubelet.key
tlsMinVersion: VersionTLS13
tlsCipherSuites: [TLS_AES_128_GCM_SHA256]
logging: {verbosity: 4}
`);
    assert.deepEqual(warnings, []);
    assert.deepEqual(ignored, []);
    assert.deepEqual(values, {
      podManifestPath: '/etc/kubernetes/manifests',
      manifestUrl: 'https://cfg.example/pods',
      manifestUrlHeader: { Authorization: ['Bearer abc'], 'X-Multi': ['one', 'two'] },
      fileCheckFrequencyMs: 30_000,
      httpCheckFrequencyMs: 90_000,
      syncFrequencyMs: 120_000,
      runtimeRequestTimeoutMs: 500,
      containerRuntimeEndpoint: 'unix:///run/crio/crio.sock',
      podLogsDir: '/srv/logs',
      nodeStatusUpdateFrequencyMs: 20_000,
      nodeStatusReportFrequencyMs: 3_600_000,
      registerNode: false,
      rotateCertificates: true,
      serverTlsBootstrap: true,
      maxPods: 42,
      kubeApiQps: 7,
      kubeApiBurst: 9,
      eventQps: 3,
      eventBurst: 4,
      kubeReserved: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
      systemReserved: { cpu: '1', memory: '1.5Gi' },
      evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '5%' },
      evictionPressureTransitionPeriodMs: 30_000,
      clusterDns: ['10.96.0.10', 'fd00::a'],
      clusterDomain: 'cluster.local',
      resolvConf: '/run/systemd/resolve/resolv.conf',
      healthzPort: 11248,
      healthzBindAddress: '0.0.0.0',
      readOnlyPort: 10255,
      address: '127.0.0.1',
      providerId: 'aws:///eu-west-1a/i-0abc',
      registerWithTaints: [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'edge', effect: 'NoExecute' },
      ],
      runOnce: true,
      seccompDefault: true,
      allowedUnsafeSysctls: ['kernel.msg*', 'net.core.somaxconn'],
      cgroupDriver: 'systemd',
      cgroupRoot: '/kubelet.slice',
      cgroupsPerQos: false,
      enforceNodeAllocatable: [],
      imageGcHighThresholdPercent: 90,
      imageGcLowThresholdPercent: 0,
      imageMinimumGcAgeMs: 300_000,
      imageMaximumGcAgeMs: 604_800_000,
      shutdownGracePeriodMs: 30_000,
      shutdownGracePeriodCriticalPodsMs: 10_000,
      enableServer: false,
      port: 11250,
      tlsCertFile: '/etc/kubernetes/pki/kubelet.crt',
      tlsPrivateKeyFile: '/etc/kubernetes/pki/kubelet.key',
      tlsMinVersion: 'VersionTLS13',
      tlsCipherSuites: ['TLS_AES_128_GCM_SHA256'],
      verbosity: 4,
    });
    // the table covers exactly the fields set above, and each has a flag to override it
    for (const f of CONFIG_FIELDS) {
      assert.ok(
        FLAGS.some((d) => d.key === f.key),
        `${f.field} has a flag`,
      );
      assert.ok(f.key in values, `${f.field} was parsed`);
    }
  });

  it('reads JSON as well as YAML', () => {
    const { values } = parseKubeletConfig(
      JSON.stringify({
        kind: 'KubeletConfiguration',
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        maxPods: 7,
        syncFrequency: '45s',
        registerNode: true,
      }),
      '/etc/kubelet.json',
    );
    assert.deepEqual(values, { maxPods: 7, syncFrequencyMs: 45_000, registerNode: true });
  });

  it('reads durations as Go durations', () => {
    const ms = (d: string) => parse(`syncFrequency: "${d}"`).values.syncFrequencyMs;
    assert.equal(ms('20s'), 20_000);
    assert.equal(ms('1m0s'), 60_000);
    assert.equal(ms('1h30m'), 5_400_000);
    assert.equal(ms('1.5s'), 1500);
    assert.equal(ms('250ms'), 250);
    assert.match(
      errorOf(`${HEAD}syncFrequency: 20`),
      /syncFrequency: Invalid value: 20: expected a duration string such as "20s" or "1m0s", got an integer/,
    );
    assert.match(
      errorOf(`${HEAD}syncFrequency: 20x`),
      /line 3: syncFrequency: Invalid value: "20x": not a duration: use Go duration syntax/,
    );
    assert.match(errorOf(`${HEAD}syncFrequency: "-5s"`), /syncFrequency: Invalid value: "-5s": not a duration/);
  });

  it('reads quantities and thresholds as strings, checked as upstream parses them', () => {
    assert.deepEqual(parse('kubeReserved: {memory: "1e9", cpu: "0.5"}').values.kubeReserved, {
      memory: '1e9',
      cpu: '0.5',
    });
    assert.match(
      errorOf(`${HEAD}kubeReserved:\n  cpu: 1\n`),
      /line 4: kubeReserved\[cpu\]: Invalid value: 1: expected a quantity string such as "100m" or "256Mi" \(quote numbers\), got an integer/,
    );
    assert.match(
      errorOf(`${HEAD}systemReserved: {memory: lots}`),
      /systemReserved\[memory\]: Invalid value: "lots": quantities must match the regular expression/,
    );
    assert.match(
      errorOf(`${HEAD}systemReserved: {memory: -1Gi}`),
      /systemReserved\[memory\]: Invalid value: "-1Gi": must not be negative/,
    );
    assert.match(
      errorOf(`${HEAD}evictionHard: {nodefs.available: 150%}`),
      /evictionHard\[nodefs.available\]: Invalid value: "150%": a percentage must be between 0% and 100%/,
    );
    assert.match(
      errorOf(`${HEAD}evictionHard: [memory.available]`),
      /evictionHard: Invalid value: \["memory.available"\]: expected a map of eviction signal to threshold, got a list/,
    );
    assert.match(
      errorOf(`${HEAD}staticPodURLHeader: {Authorization: "Bearer x"}`),
      /staticPodURLHeader\[Authorization\]: Invalid value: "Bearer x": expected a list of strings, got a string/,
    );
  });

  it('applies v1beta1 defaulting: zero values take the default, except behind pointers', () => {
    const f = withFile(
      'maxPods: 0\nsyncFrequency: 0s\nkubeAPIBurst: 0\neventBurst: 0\nstaticPodPath: ""\ncontainerRuntimeEndpoint: ""\nkubeAPIQPS: 0\neventRecordQPS: 0\nregisterNode: false\n',
    );
    assert.equal(f.maxPods, 110);
    assert.equal(f.syncFrequencyMs, 60_000);
    assert.equal(f.kubeApiBurst, 100);
    assert.equal(f.eventBurst, 100);
    assert.equal(f.podManifestPath, undefined);
    assert.equal(f.containerRuntimeEndpoint, DEFAULT_FLAGS.containerRuntimeEndpoint);
    assert.equal(f.kubeApiQps, 0, 'kubeAPIQPS is a pointer: 0 is kept');
    assert.equal(f.eventQps, 0, 'eventRecordQPS 0 is "no limit"');
    assert.equal(f.registerNode, false);
    // null leaves a field unset, as Go's JSON decoder does
    assert.equal(withFile('maxPods: null\nlogging: {verbosity: null}\n').maxPods, 110);
  });

  it('defaults nodeStatusReportFrequency to an explicitly set nodeStatusUpdateFrequency (upstream back-compat)', () => {
    const f = withFile('nodeStatusUpdateFrequency: 20s\n');
    assert.equal(f.nodeStatusUpdateFrequencyMs, 20_000);
    assert.equal(f.nodeStatusReportFrequencyMs, 20_000);
    assert.equal(
      withFile('nodeStatusUpdateFrequency: 20s\nnodeStatusReportFrequency: 1m\n').nodeStatusReportFrequencyMs,
      60_000,
    );
    assert.equal(withFile('maxPods: 3\n').nodeStatusReportFrequencyMs, 300_000);
    // the flag alone does not move the report frequency: upstream defaults the file before the flags
    assert.equal(withFile('maxPods: 3\n', ['--node-status-update-frequency=20s']).nodeStatusReportFrequencyMs, 300_000);
  });

  it('evictionHard replaces the default thresholds, or merges with mergeDefaultEvictionSettings', () => {
    assert.deepEqual(withFile('maxPods: 3\n').evictionHard, DEFAULT_FLAGS.evictionHard);
    assert.deepEqual(withFile('evictionHard: {memory.available: 1Gi}\n').evictionHard, { 'memory.available': '1Gi' });
    assert.deepEqual(
      withFile('evictionHard: {memory.available: 1Gi}\nmergeDefaultEvictionSettings: true\n').evictionHard,
      { ...DEFAULT_FLAGS.evictionHard, 'memory.available': '1Gi' },
    );
  });

  it('configMapAndSecretChangeDetectionStrategy: Watch by default, Cache or Get from the file (there is no flag)', () => {
    assert.equal(withFile('maxPods: 3\n').configMapAndSecretChangeDetectionStrategy, 'Watch');
    assert.equal(
      withFile('configMapAndSecretChangeDetectionStrategy: Cache\n').configMapAndSecretChangeDetectionStrategy,
      'Cache',
    );
    assert.match(
      errorOf(`${HEAD}configMapAndSecretChangeDetectionStrategy: Poll`),
      /configMapAndSecretChangeDetectionStrategy: Invalid value: "Poll": expected one of Watch, Cache, Get/,
    );
  });

  it("resolves relative paths against the file's directory", () => {
    const { values } = parseKubeletConfig(
      `${HEAD}staticPodPath: manifests\npodLogsDir: ../logs\nrecord: {path: rec/session.jsonl}\n`,
      'conf/kubelet.yaml',
    );
    assert.equal(values.podManifestPath, join(process.cwd(), 'conf', 'manifests'));
    assert.equal(values.podLogsDir, join(process.cwd(), 'logs'));
    assert.equal(values.record, join(process.cwd(), 'conf', 'rec', 'session.jsonl'));
  });
});

describe('KubeletConfiguration file: precedence', () => {
  it('flags on the command line override the file; the file overrides the defaults', () => {
    const file = 'maxPods: 50\nsyncFrequency: 30s\nkubeReserved: {cpu: 200m}\nlogging: {verbosity: 3}\n';
    const f = withFile(file, ['--max-pods=20', '-v', '5']);
    assert.equal(f.maxPods, 20, 'flag over file');
    assert.equal(f.verbosity, 5, '-v over logging.verbosity');
    assert.equal(f.syncFrequencyMs, 30_000, 'file over default');
    assert.deepEqual(f.kubeReserved, { cpu: '200m' });
    assert.equal(f.fileCheckFrequencyMs, DEFAULT_FLAGS.fileCheckFrequencyMs, 'default where neither says');
    assert.equal(f.config, PATH);
    // the order of --config among the flags does not matter
    const g = applyConfigFile(['--max-pods=20', '--config', PATH], PATH, () => HEAD + file).flags;
    assert.equal(g.maxPods, 20);
  });

  it("a map flag replaces the file's map; a repeated multimap flag then adds to it", () => {
    const file = 'kubeReserved: {cpu: 200m, memory: 1Gi}\nstaticPodURLHeader: {A: [file], B: [file]}\n';
    assert.deepEqual(withFile(file, ['--kube-reserved=memory=2Gi']).kubeReserved, { memory: '2Gi' });
    assert.deepEqual(
      withFile(file, ['--manifest-url-header=A:flag', '--manifest-url-header=A:again']).manifestUrlHeader,
      { A: ['flag', 'again'] },
    );
    assert.deepEqual(withFile(file).manifestUrlHeader, { A: ['file'], B: ['file'] });
    // without a file, repeated flags accumulate as before
    assert.deepEqual(parseFlags(['--manifest-url-header=A:1', '--manifest-url-header=A:2,B:3']).manifestUrlHeader, {
      A: ['1', '2'],
      B: ['3'],
    });
    // so do repeated map flags, as upstream's (a later value of the same key wins); the first
    // use still replaces the file's map or the default
    assert.deepEqual(withFile(file, ['--kube-reserved=memory=2Gi', '--kube-reserved=cpu=1,memory=3Gi']).kubeReserved, {
      memory: '3Gi',
      cpu: '1',
    });
    assert.deepEqual(parseFlags(['--node-labels=a=1', '--node-labels=b=2']).nodeLabels, { a: '1', b: '2' });
    assert.deepEqual(
      parseFlags(['--eviction-hard=memory.available<1Gi', '--eviction-hard=nodefs.available<5%']).evictionHard,
      { 'memory.available': '1Gi', 'nodefs.available': '5%' },
    );
  });

  it('pod DNS: --cluster-dns is a list (comma-separated, repeatable, dual-stack), --resolv-conf="" is kept; resolvConf: "" in the file too', () => {
    assert.deepEqual(DEFAULT_FLAGS.clusterDns, []);
    assert.equal(DEFAULT_FLAGS.clusterDomain, '');
    assert.equal(DEFAULT_FLAGS.resolvConf, '/etc/resolv.conf');
    assert.deepEqual(parseFlags(['--cluster-dns=10.96.0.10,fd00::a']).clusterDns, ['10.96.0.10', 'fd00::a']);
    assert.deepEqual(parseFlags(['--cluster-dns', '10.96.0.10', '--cluster-dns=10.96.0.11']).clusterDns, [
      '10.96.0.10',
      '10.96.0.11',
    ]);
    assert.deepEqual(parseFlags(['--cluster-dns=']).clusterDns, []);
    assert.equal(parseFlags(['--resolv-conf=']).resolvConf, '');
    assert.equal(parseFlags(['--cluster-domain', 'cluster.local']).clusterDomain, 'cluster.local');
    const file = 'clusterDNS: [10.0.0.10, 10.0.0.11]\nclusterDomain: corp.local\nresolvConf: ""\n';
    assert.deepEqual(withFile(file).clusterDns, ['10.0.0.10', '10.0.0.11']);
    assert.equal(
      withFile(file).resolvConf,
      '',
      'an explicit "" is no resolver file (a pointer upstream), not the default',
    );
    assert.equal(withFile('clusterDomain: ""\n').resolvConf, '/etc/resolv.conf');
    // a relative resolvConf is relative to the file's directory; flags override the file (the first --cluster-dns replaces its list)
    assert.equal(withFile('resolvConf: resolv.conf\n').resolvConf, '/etc/kubernetes/resolv.conf');
    const f = withFile(file, [
      '--cluster-dns=10.96.0.10',
      '--cluster-domain=cluster.local',
      '--resolv-conf=/run/resolv.conf',
    ]);
    assert.deepEqual(
      [f.clusterDns, f.clusterDomain, f.resolvConf],
      [['10.96.0.10'], 'cluster.local', '/run/resolv.conf'],
    );
    assert.match(
      errorOf(`${HEAD}clusterDNS: 10.0.0.10\n`),
      /clusterDNS: Invalid value: "10\.0\.0\.10": expected a list of strings, got a string/,
    );
  });

  it('security: --seccomp-default, --allowed-unsafe-sysctls (a list; each namespaced, else the flag is refused)', () => {
    assert.equal(DEFAULT_FLAGS.seccompDefault, false);
    assert.equal(parseFlags(['--seccomp-default']).seccompDefault, true);
    assert.deepEqual(parseFlags(['--allowed-unsafe-sysctls=kernel.msg*,net.core.somaxconn']).allowedUnsafeSysctls, [
      'kernel.msg*',
      'net.core.somaxconn',
    ]);
    assert.throws(
      () => parseFlags(['--allowed-unsafe-sysctls=vm.swappiness']),
      /invalid argument for "--allowed-unsafe-sysctls" flag: the sysctl "vm.swappiness" are not known to be namespaced/,
    );
    assert.deepEqual(withFile('seccompDefault: true\nallowedUnsafeSysctls: ["net.*"]\n').allowedUnsafeSysctls, [
      'net.*',
    ]);
  });

  it('the example file parses to what it says', () => {
    const path = join(ROOT, 'examples', 'kubelet-config.yaml');
    const file = loadKubeletConfig(path);
    assert.deepEqual(file.warnings, []);
    assert.deepEqual(file.ignored, []);
    const f = applyConfigFile(['--config', path], path).flags;
    assert.equal(f.podManifestPath, join(ROOT, 'examples', 'manifests'));
    assert.equal(f.verbosity, 2);
    assert.equal(f.maxPods, 110);
    assert.deepEqual(f.kubeReserved, { cpu: '100m', memory: '256Mi' });
    assert.deepEqual(f.evictionHard, {
      ...DEFAULT_FLAGS.evictionHard,
      'memory.available': '100Mi',
      'nodefs.available': '10%',
    });
    assert.equal(f.record, '/var/log/kubelet-ts/session.jsonl');
    assert.equal(f.recordMaxBytes, 67_108_864);
  });
});

describe('KubeletConfiguration file: lenient decoding', () => {
  it('warns about an unknown field, naming it, and carries on', () => {
    const file = parse(
      'maxPods: 12\nnodeLabels: {a: b}\nlogging: {verbosity: 1, colour: red}\nrecord: {path: /r, compress: true}\n',
    );
    assert.deepEqual(file.warnings, [
      { field: 'nodeLabels', line: 4, message: 'unknown field "nodeLabels"' },
      { field: 'logging.colour', line: 5, message: 'unknown field "logging.colour"' },
      { field: 'record.compress', line: 6, message: 'unknown field "record.compress"' },
    ]);
    assert.equal(file.values.maxPods, 12);
    assert.equal(file.values.verbosity, 1);
    const lines: string[] = [];
    const severities: string[] = [];
    reportConfigFile(
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
      file,
    );
    assert.equal(lines.length, 3);
    assert.deepEqual(severities, ['W', 'W', 'W']);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(first.field, 'nodeLabels');
    assert.equal(first.path, PATH);
    assert.equal(first.err, 'strict decoding error: unknown field "nodeLabels"');
  });

  it('warns about a duplicated field; the last value wins', () => {
    const file = parse('maxPods: 12\nmaxPods: 13\n');
    assert.deepEqual(file.warnings, [{ field: 'maxPods', line: 4, message: 'duplicate field "maxPods"' }]);
    assert.equal(file.values.maxPods, 13);
  });

  it('accepts upstream fields kubelet-ts does not implement, listing them as ignored (no decoding warning); zero values are unset', () => {
    const file = parse(
      'tlsCurvePreferences: [29]\ncpuManagerPolicy: static\nhairpinMode: none\nlogging: {format: text, flushFrequency: 5s}\n' +
        'shutdownGracePeriod: 0s\nmemorySwap: {}\n',
    );
    assert.deepEqual(file.warnings, []);
    assert.deepEqual(file.ignored, [
      'tlsCurvePreferences',
      'cpuManagerPolicy',
      'hairpinMode',
      'logging.flushFrequency',
    ]);
    const lines: string[] = [];
    reportConfigFile(createLogger({ verbosity: 0, now: () => 0, sink: { write: (l) => lines.push(l) } }), file);
    assert.deepEqual(lines, []);
  });
});

describe('KubeletConfiguration file: the record extension', () => {
  it('record.path and record.maxBytes set --record and --record-max-bytes; flags override them', () => {
    assert.deepEqual(parse('record: {path: /var/log/s.jsonl, maxBytes: 1048576}').values, {
      record: '/var/log/s.jsonl',
      recordMaxBytes: 1_048_576,
    });
    const f = withFile('record: {path: /var/log/s.jsonl, maxBytes: 1048576}\n', ['--record=/tmp/other.jsonl']);
    assert.equal(f.record, '/tmp/other.jsonl');
    assert.equal(f.recordMaxBytes, 1_048_576);
    assert.equal(withFile('maxPods: 1\n').record, undefined, 'optional: no recording unless asked');
    assert.match(
      errorOf(`${HEAD}record: {maxBytes: "64Mi"}`),
      /record.maxBytes: Invalid value: "64Mi": expected an integer, got a string/,
    );
    assert.match(
      errorOf(`${HEAD}record: /var/log/s.jsonl`),
      /record: Invalid value: "\/var\/log\/s.jsonl": expected a map, got a string/,
    );
  });
});

describe('KubeletConfiguration file: errors name the file and the field', () => {
  it('a malformed file', () => {
    assert.match(
      errorOf(`${HEAD}maxPods: [1,\n`),
      /^failed to load kubelet config file \/etc\/kubernetes\/kubelet-config.yaml: line \d+, column \d+: /,
    );
    assert.match(
      errorOf(`${HEAD}---\n${HEAD}`),
      /holds 2 YAML documents: a kubelet config file holds exactly one KubeletConfiguration/,
    );
    assert.match(errorOf('# nothing\n'), /kubelet-config.yaml: the file is empty: expected a KubeletConfiguration/);
    assert.match(errorOf('- a\n- b\n'), /expected a KubeletConfiguration object, got a list/);
  });

  it('a wrong or missing kind / apiVersion', () => {
    assert.equal(
      errorOf('maxPods: 3\n'),
      `failed to load kubelet config file ${PATH}: kind: Required value: expected "KubeletConfiguration"; apiVersion: Required value: expected "kubelet.config.k8s.io/v1beta1"`,
    );
    assert.equal(
      errorOf('apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n'),
      `failed to load kubelet config file ${PATH}: line 2: kind: Unsupported value: "KubeProxyConfiguration": supported values: "KubeletConfiguration"`,
    );
    assert.equal(
      errorOf('apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\n'),
      `failed to load kubelet config file ${PATH}: line 1: apiVersion: Unsupported value: "kubelet.config.k8s.io/v1": supported values: "kubelet.config.k8s.io/v1beta1"`,
    );
  });

  it('a field of the wrong type, every one reported with its line', () => {
    assert.equal(
      errorOf(`${HEAD}maxPods: "110"\nregisterNode: "yes"\n`),
      `failed to load kubelet config file ${PATH}: line 3: maxPods: Invalid value: "110": expected an integer, got a string; ` +
        'line 4: registerNode: Invalid value: "yes": expected a boolean (true or false), got a string',
    );
    assert.match(errorOf(`${HEAD}maxPods: 1.5`), /maxPods: Invalid value: 1.5: expected an integer, got a number/);
    assert.match(errorOf(`${HEAD}maxPods: -1`), /maxPods: Invalid value: -1: must not be a negative number/);
    assert.match(
      errorOf(`${HEAD}kubeAPIQPS: 3000000000`),
      /kubeAPIQPS: Invalid value: 3000000000: expected an integer that fits in an int32/,
    );
    assert.match(
      errorOf(`${HEAD}logging: {verbosity: 11}`),
      /logging.verbosity: Invalid value: 11: must be at most 10/,
    );
    assert.match(
      errorOf(`${HEAD}staticPodURL: file:///etc/pods`),
      /staticPodURL: Invalid value: "file:\/\/\/etc\/pods": expected an http:\/\/ or https:\/\/ URL/,
    );
    assert.match(
      errorOf(`${HEAD}containerRuntimeEndpoint: 5`),
      /containerRuntimeEndpoint: Invalid value: 5: expected a string, got an integer/,
    );
  });

  it('an unreadable file', () => {
    assert.throws(
      () => loadKubeletConfig(join(work, 'missing.yaml')),
      (e: unknown) =>
        e instanceof ConfigFileError &&
        e.message === `failed to load kubelet config file ${join(work, 'missing.yaml')}: no such file or directory`,
    );
    assert.throws(() => loadKubeletConfig(work), /: is a directory$/);
  });

  it('the daemon exits 1 with the message, before any actor starts', () => {
    const bad = join(work, 'bad.yaml');
    writeFileSync(bad, `${HEAD}maxPods: many\n`);
    const r = spawnSync(
      join(ROOT, 'bin', 'kubelet-ts'),
      ['--config', bad, `--root-dir=${join(work, 'root')}`, '--container-runtime-endpoint=unix:///nonexistent.sock'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    // klog's text format, upstream's default: E, mmdd hh:mm:ss.uuuuuu, pid, where file:line would be
    const m = /^E\d{4} \d\d:\d\d:\d\d\.\d{6} +(\d+) kubelet\] (.*)$/.exec(lines[0]!);
    assert.ok(m, lines[0]);
    assert.equal(
      m[2],
      `"kubelet-ts cannot start" err="failed to load kubelet config file ${bad}: line 3: maxPods: Invalid value: \\"many\\": expected an integer, got a string"`,
    );
  });
});

describe('cgroup and image GC settings: validated as upstream', () => {
  const err = (argv: string[]) => {
    try {
      parseFlags(argv);
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  };
  it('defaults: cgroupfs, per-QoS cgroups, pods enforced, 85/80, 2m, no maximum age', () => {
    const f = parseFlags([]);
    assert.deepEqual(
      [
        f.cgroupDriver,
        f.cgroupRoot,
        f.cgroupsPerQos,
        f.enforceNodeAllocatable,
        f.imageGcHighThresholdPercent,
        f.imageGcLowThresholdPercent,
        f.imageMinimumGcAgeMs,
        f.imageMaximumGcAgeMs,
      ],
      ['cgroupfs', '/', true, ['pods'], 85, 80, 120_000, 0],
    );
  });
  it('refuses what upstream refuses, naming the field and the flag', () => {
    assert.match(
      err(['--image-gc-high-threshold=101']),
      /imageGCHighThresholdPercent \(--image-gc-high-threshold\) 101 must be between 0 and 100, inclusive/,
    );
    assert.match(
      err(['--image-gc-low-threshold=-1']),
      /imageGCLowThresholdPercent \(--image-gc-low-threshold\) -1 must be between 0 and 100/,
    );
    assert.match(
      err(['--image-gc-low-threshold=90']),
      /imageGCLowThresholdPercent \(--image-gc-low-threshold\) 90 must be less than imageGCHighThresholdPercent \(--image-gc-high-threshold\) 85/,
    );
    assert.match(
      err(['--image-maximum-gc-age=1m']),
      /imageMaximumGCAge 60s must be greater than imageMinimumGCAge 120s/,
    );
    assert.match(
      err(['--cgroup-driver=runit']),
      /cgroupDriver \(--cgroup-driver\) "runit": must be cgroupfs or systemd/,
    );
    assert.match(
      err(['--cgroups-per-qos=false']),
      /enforceNodeAllocatable \(--enforce-node-allocatable\) is not supported unless cgroupsPerQOS/,
    );
    assert.equal(err(['--cgroups-per-qos=false', '--enforce-node-allocatable=']), '');
    assert.match(
      err(['--enforce-node-allocatable=pods,memory']),
      /option "memory" specified for enforceNodeAllocatable/,
    );
    assert.match(
      err(['--enforce-node-allocatable=none,pods']),
      /may not contain additional enforcements when "none" is specified/,
    );
    assert.match(err(['--enforce-node-allocatable=kube-reserved']), /"kube-reserved" is not implemented by kubelet-ts/);
    assert.match(err(['--cgroup-driver=systemd', '--cgroup-root=/kts']), /with the systemd driver it must be a slice/);
  });
  it('the config file fields pass the same checks', () => {
    assert.throws(
      () =>
        applyConfigFile(
          [],
          '/etc/k.yaml',
          () => `${HEAD}imageGCHighThresholdPercent: 50\nimageGCLowThresholdPercent: 60\n`,
        ),
      /imageGCLowThresholdPercent \(--image-gc-low-threshold\) 60 must be less than/,
    );
    assert.throws(
      () => applyConfigFile([], '/etc/k.yaml', () => `${HEAD}imageGCHighThresholdPercent: 0\n`),
      /80 must be less than imageGCHighThresholdPercent \(--image-gc-high-threshold\) 0/,
      'an explicit 0 is kept (a pointer upstream)',
    );
    assert.equal(
      applyConfigFile([], '/etc/k.yaml', () => `${HEAD}imageGCHighThresholdPercent: 100\n`).flags
        .imageGcHighThresholdPercent,
      100,
    );
  });
});

describe('logging: format, vmodule, split streams (flags and fields)', () => {
  it('--logging-format is text by default, json on request, anything else a flag error; logging.format in a file, the flag over it', () => {
    assert.equal(parseFlags([]).loggingFormat, 'text');
    assert.equal(parseFlags(['--logging-format=json']).loggingFormat, 'json');
    assert.throws(
      () => parseFlags(['--logging-format=xml']),
      /invalid argument "xml" for "--logging-format" flag: supported values: "text", "json"/,
    );
    assert.equal(withFile('logging: {format: json}\n').loggingFormat, 'json');
    assert.equal(withFile('logging: {format: json}\n', ['--logging-format=text']).loggingFormat, 'text');
    assert.match(
      errorOf(`${HEAD}logging: {format: xml}\n`),
      /logging.format: Invalid value: "xml": supported values: "text", "json"/,
    );
  });

  it('--vmodule pattern=N,... and logging.vmodule [{filePattern, verbosity}], honoured (not in the ignored list)', () => {
    assert.equal(parseFlags(['--vmodule=podWorkers=4,pleg=3']).vmodule, 'podWorkers=4,pleg=3');
    assert.throws(() => parseFlags(['--vmodule=podWorkers']), /invalid --vmodule entry "podWorkers"/);
    const file =
      'logging: {vmodule: [{filePattern: podWorkers, verbosity: 4}, {filePattern: "pod-source-*", verbosity: 2}]}\n';
    assert.equal(withFile(file).vmodule, 'podWorkers=4,pod-source-*=2');
    assert.deepEqual(parse(file).ignored, []);
  });

  it('splitStream of both formats honoured; flushFrequency and infoBufferSize ignored, each named', () => {
    assert.equal(parseFlags(['--log-text-split-stream']).logTextSplitStream, true);
    const f = withFile('logging: {options: {text: {splitStream: true}, json: {splitStream: true}}}\n');
    assert.equal(f.logTextSplitStream, true);
    assert.equal(f.logJsonSplitStream, true);
    const file = parse(
      'logging: {flushFrequency: 5s, options: {text: {infoBufferSize: 1Mi}, json: {splitStream: true, infoBufferSize: 0}}}\n',
    );
    assert.deepEqual(file.ignored, ['logging.flushFrequency', 'logging.options.text.infoBufferSize']);
  });
});
