// Tier 1: CRI sandbox/container configs, env expansion, resources, labels and the CRI status
// conversion: pure functions against upstream's rules.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ContainerConfigError,
  containerSecurityContext,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  expandCommandAndArgs,
  generateContainerConfig,
  generateLinuxContainerResources,
  generatePodSandboxConfig,
  makeEnvironmentVariables,
  podHostname,
  verifyRunAsNonRoot,
} from '../../actors/runtime/cri-config.ts';
import { containerOomScoreAdjust, milliCpuToQuota, milliCpuToShares } from '../../protocols/kube/qos.ts';
import {
  ANNOTATION_CONTAINER_HASH,
  LABEL_POD_UID,
  containerHash,
  parseContainerLabels,
  parseSandboxLabels,
  newContainerAnnotations,
  newContainerLabels,
  runtimePodStatusFromCri,
} from '../../actors/runtime/labels.ts';
import { expand, expandCommandOnlyStatic, mappingFuncFor } from '../../protocols/kube/expansion.ts';
import type { ContainerStatus as CriContainerStatus, PodSandboxStatus } from '../../protocols/cri/types.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';

function mkPod(containers: Container[], extra: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): Pod {
  return {
    metadata: {
      name: 'web-0',
      namespace: 'prod',
      uid: 'uid-1',
      labels: { app: 'web' },
      annotations: { team: 'a' },
      ...meta,
    },
    spec: { containers, ...extra },
  };
}

const env = (e: { key: string; value: string }[]) => Object.fromEntries(e.map((x) => [x.key, x.value]));

describe('expand ($(VAR), upstream expansion)', () => {
  const m = mappingFuncFor({ A: 'alpha', EMPTY: '' });
  const cases: Array<[string, string]> = [
    ['$(A)', 'alpha'],
    ['x-$(A)-y', 'x-alpha-y'],
    ['$(A)$(A)', 'alphaalpha'],
    ['$(EMPTY)', ''],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$alpha'],
    ['$$', '$'],
    ['$(A', '$(A'],
    ['$A', '$A'],
    ['a$', 'a$'],
    ['$', '$'],
    ['()', '()'],
    ['$()', '$()'], // an empty name maps like any unknown one
    ['no refs', 'no refs'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => assert.equal(expand(input, m), want));
  }
  it('earlier contexts win', () => {
    assert.equal(expand('$(X)', mappingFuncFor({ X: '1' }, { X: '2', Y: '3' })), '1');
    assert.equal(expand('$(Y)', mappingFuncFor({ X: '1' }, { X: '2', Y: '3' })), '3');
  });
});

describe("expand: upstream expansion's edge cases (expand_test.go), with one context and with two", () => {
  const cases: Array<[string, string]> = [
    ['$(VAR_A)', 'A'],
    ['$(VAR_A)-$(VAR_A)', 'A-A'],
    ['$(VAR_A)-1', 'A-1'],
    ['___$(VAR_B)___', '___B___'],
    ['___$(VAR_C)', '___C'],
    ['$(VAR_A)_$(VAR_B)_$(VAR_C)', 'A_B_C'],
    ['$$(VAR_B)_$(VAR_A)', '$(VAR_B)_A'],
    ['$$(VAR_A)_$$(VAR_B)', '$(VAR_A)_$(VAR_B)'],
    ['f000-$$VAR_A', 'f000-$VAR_A'],
    ['foo\\$(VAR_C)bar', 'foo\\Cbar'],
    ['foo\\\\$(VAR_C)bar', 'foo\\\\Cbar'],
    ['$(VAR_A$(VAR_B))', '$(VAR_A$(VAR_B))'],
    ['$(VAR_A$(VAR_B)', '$(VAR_A$(VAR_B)'],
    // a value that is itself a reference is not expanded again
    ['$(VAR_REF)', '$(VAR_A)'],
    ['%%$(VAR_REF)--$(VAR_REF)%%', '%%$(VAR_A)--$(VAR_A)%%'],
    ['foo$(VAR_EMPTY)bar', 'foobar'],
    ['foo$(VAR_Awhoops!', 'foo$(VAR_Awhoops!'],
    ['f00__(VAR_A)__', 'f00__(VAR_A)__'],
    ['$?_boo_$!', '$?_boo_$!'],
    ['$VAR_A', '$VAR_A'],
    ['$(VAR_DNE)', '$(VAR_DNE)'],
    ['$$$$$$(BIG_MONEY)', '$$$(BIG_MONEY)'],
    ['$$$$$$(VAR_A)', '$$$(VAR_A)'],
    ['$$$$$$$(GOOD_ODDS)', '$$$$(GOOD_ODDS)'],
    ['$$$$$$$(VAR_A)', '$$$A'],
    ['$VAR_A)', '$VAR_A)'],
    ['$' + '{VAR_A}', '$' + '{VAR_A}'] /* shell syntax, kept */,
    ['$(VAR_B)_______$(A', 'B_______$(A'],
    ['$(VAR_C)_______$(', 'C_______$('],
    ['$(VAR_A)foobarzab$', 'Afoobarzab$'],
    ['foo-\\$(VAR_A', 'foo-\\$(VAR_A'],
    ['--$($($($($--', '--$($($($($--'],
    ['$($($($($--foo$(', '$($($($($--foo$('],
    ['foo0--$($($($(', 'foo0--$($($($('],
    ['$(foo$$var)', '$(foo$$var)'],
    ['\n', '\n'],
  ];
  const one = mappingFuncFor({ VAR_A: 'A', VAR_B: 'B', VAR_C: 'C', VAR_REF: '$(VAR_A)', VAR_EMPTY: '' });
  const two = mappingFuncFor({ VAR_A: 'A', VAR_EMPTY: '' }, { VAR_B: 'B', VAR_C: 'C', VAR_REF: '$(VAR_A)' });
  it('every case, both mappings', () => {
    for (const [input, want] of cases) {
      assert.equal(expand(input, one), want, `one context: ${JSON.stringify(input)}`);
      assert.equal(expand(input, two), want, `two contexts: ${JSON.stringify(input)}`);
    }
  });

  it('env values chain through the variables defined before them (TestMapReference)', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      env: [
        { name: 'FOO', value: 'bar' },
        { name: 'ZOO', value: '$(FOO)-1' },
        { name: 'BLU', value: '$(ZOO)-2' },
      ],
    };
    assert.deepEqual(env(makeEnvironmentVariables(mkPod([c]), c)), { FOO: 'bar', ZOO: 'bar-1', BLU: 'bar-1-2' });
  });

  it('a valueFrom value is not expanded; command and args see every final variable, service links too', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      command: ['echo', '$(NAME)', '$(SVC_HOST)', '$$(NAME)', '$(LATER)'],
      args: ['$(MISSING)'],
      env: [
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'RAW', value: '$(NAME)/$(SVC_HOST)' },
        { name: 'LATER', value: 'l' },
      ],
    };
    const pod = mkPod([c], {}, { name: '$(X)' });
    const envs = makeEnvironmentVariables(pod, c, { serviceEnv: { SVC_HOST: '10.0.0.1' } });
    assert.deepEqual(env(envs), { NAME: '$(X)', RAW: '$(X)/10.0.0.1', LATER: 'l', SVC_HOST: '10.0.0.1' });
    assert.deepEqual(expandCommandAndArgs(c, envs), {
      command: ['echo', '$(X)', '10.0.0.1', '$(NAME)', 'l'],
      args: ['$(MISSING)'],
    });
  });
});

describe('exec probe commands (upstream ExpandContainerCommandOnlyStatic)', () => {
  it("only the spec's literal env values, unexpanded; valueFrom variables are empty", () => {
    const envs = [
      { name: 'A', value: 'a' },
      { name: 'B', value: '$(A)' },
      { name: 'F', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ];
    assert.deepEqual(expandCommandOnlyStatic(['sh', '-c', 'test $(A) $(B) x$(F)x $(SVC) $$(A)'], envs), [
      'sh',
      '-c',
      'test a $(A) xx $(SVC) $(A)',
    ]);
    assert.deepEqual(expandCommandOnlyStatic(['true'], undefined), ['true']);
  });
});

describe('makeEnvironmentVariables', () => {
  it('expands dependent variables in order; forward references stay literal', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      env: [
        { name: 'HOST', value: 'db' },
        { name: 'URL', value: 'postgres://$(HOST):$(PORT)/x' },
        { name: 'PORT', value: '5432' },
        { name: 'ESC', value: '$$(HOST)' },
      ],
    };
    assert.deepEqual(makeEnvironmentVariables(mkPod([c]), c), [
      { key: 'HOST', value: 'db' },
      { key: 'URL', value: 'postgres://db:$(PORT)/x' },
      { key: 'PORT', value: '5432' },
      { key: 'ESC', value: '$(HOST)' },
    ]);
  });

  it('envFrom first, env overrides in place, service links last unless defined', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      env: [
        { name: 'A', value: 'env' },
        { name: 'S', value: '$(SVC_HOST)' },
      ],
    };
    const out = makeEnvironmentVariables(mkPod([c]), c, {
      apiEnv: {
        envFrom: [
          { key: 'A', value: 'from' },
          { key: 'B', value: 'b' },
        ],
        values: {},
      },
      serviceEnv: { SVC_HOST: '10.0.0.1', A: 'svc' },
    });
    assert.deepEqual(out, [
      { key: 'A', value: 'env' },
      { key: 'B', value: 'b' },
      { key: 'S', value: '10.0.0.1' },
      { key: 'SVC_HOST', value: '10.0.0.1' },
    ]);
  });

  it('resolves fieldRef from the pod and the IPs given', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      env: [
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'LABELS', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } },
      ],
    };
    const pod = mkPod([c], { nodeName: 'node-1' });
    assert.deepEqual(
      env(makeEnvironmentVariables(pod, c, { podIPs: ['10.1.0.4', 'fd00::4'], hostIP: '192.168.1.2' })),
      {
        NAME: 'web-0',
        NS: 'prod',
        UID: 'uid-1',
        APP: 'web',
        NODE: 'node-1',
        IP: '10.1.0.4',
        IPS: '10.1.0.4,fd00::4',
        HOST_IP: '192.168.1.2',
        LABELS: 'app="web"',
      },
    );
  });

  it('resolves resourceFieldRef with divisors, rounding up; no limit means node allocatable', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
      env: [
        { name: 'CPU_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
        { name: 'CPU_REQ_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'MEM_LIM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'MEM_REQ', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } },
        { name: 'CPU_LIM', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      ],
    };
    assert.deepEqual(env(makeEnvironmentVariables(mkPod([c]), c, { nodeAllocatable: { cpu: 4 } })), {
      CPU_REQ: '1',
      CPU_REQ_M: '250',
      MEM_LIM_MI: '128',
      MEM_REQ: String(64 * 2 ** 20),
      CPU_LIM: '4',
    });
  });

  it('configMap/secret keys come from the caller (env-from-api.ts); one without a value was optional and is left out', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      env: [
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k', optional: true } } },
      ],
    };
    const pod = mkPod([c]);
    assert.deepEqual(makeEnvironmentVariables(pod, c, { apiEnv: { envFrom: [], values: { PW: 's3cret' } } }), [
      { key: 'PW', value: 's3cret' },
    ]);
  });

  it('an unknown fieldPath or resource is a config error', () => {
    const c: Container = {
      name: 'c',
      image: 'i',
      env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.nope' } } }],
    };
    assert.throws(
      () => makeEnvironmentVariables(mkPod([c]), c),
      (e: unknown) =>
        e instanceof ContainerConfigError &&
        e.reason === 'CreateContainerConfigError' &&
        e.message === 'unsupported fieldPath: spec.nope',
    );
    const r: Container = {
      name: 'c',
      image: 'i',
      env: [{ name: 'X', valueFrom: { resourceFieldRef: { resource: 'limits.gpu' } } }],
    };
    assert.throws(
      () => makeEnvironmentVariables(mkPod([r]), r),
      (e: unknown) => e instanceof ContainerConfigError && e.message === 'unsupported container resource : limits.gpu',
    );
  });
});

describe('command and args', () => {
  it('command replaces the entrypoint, args the cmd; both expanded from the final env', () => {
    const c: Container = { name: 'c', image: 'i', command: ['sh', '-c'], args: ['echo $(MSG) $$(MSG) $(NOPE)'] };
    assert.deepEqual(expandCommandAndArgs(c, [{ key: 'MSG', value: 'hi' }]), {
      command: ['sh', '-c'],
      args: ['echo hi $(MSG) $(NOPE)'],
    });
  });

  it('absent or empty lists leave the image defaults alone', () => {
    assert.deepEqual(expandCommandAndArgs({ name: 'c', image: 'i', command: [] }, []), {});
    const cfg = generateContainerConfig(
      mkPod([{ name: 'c', image: 'i' }]),
      { name: 'c', image: 'i' },
      { restartCount: 0, imageRef: 'sha256:1' },
    );
    assert.equal('command' in cfg, false);
    assert.equal('args' in cfg, false);
  });
});

describe('resources', () => {
  it('MilliCPUToShares and milliCPUToQuota as upstream', () => {
    assert.equal(milliCpuToShares(0), 2);
    assert.equal(milliCpuToShares(1), 2);
    assert.equal(milliCpuToShares(100), 102);
    assert.equal(milliCpuToShares(1000), 1024);
    assert.equal(milliCpuToShares(10_000_000), 262144);
    assert.equal(milliCpuToQuota(0, 100_000), 0);
    assert.equal(milliCpuToQuota(5, 100_000), 1000);
    assert.equal(milliCpuToQuota(500, 100_000), 50_000);
    assert.equal(milliCpuToQuota(2500, 100_000), 250_000);
  });

  const res = (r: Container['resources'], opts = {}) => {
    const c: Container = { name: 'c', image: 'i', resources: r };
    return generateLinuxContainerResources(mkPod([c]), c, opts);
  };

  it('shares from requests, quota from limits, memory limit in bytes', () => {
    assert.deepEqual(
      res(
        { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
        { memoryCapacity: 2 ** 30 },
      ),
      {
        cpuShares: 102,
        cpuPeriod: 100_000,
        cpuQuota: 50_000,
        memoryLimitInBytes: 128 * 2 ** 20,
        oomScoreAdj: 1000 - Math.trunc((1000 * 64 * 2 ** 20) / 2 ** 30),
      },
    );
  });

  it("a limit without a request gives the limit's shares", () => {
    const r = res({ limits: { cpu: '1', memory: '1G' } });
    assert.equal(r.cpuShares, 1024);
    assert.equal(r.cpuQuota, 100_000);
    assert.equal(r.memoryLimitInBytes, 1e9);
    assert.equal(r.oomScoreAdj, -997); // Guaranteed
  });

  it('nothing set: minimal shares, no quota, no memory limit, BestEffort OOM score', () => {
    assert.deepEqual(res(undefined), { cpuShares: 2, cpuPeriod: 100_000, cpuQuota: 0, oomScoreAdj: 1000 });
  });

  it('quantity spellings: 1e0, 0.5, 2Gi, 1500M, 1e3; a malformed one reads as unset', () => {
    assert.equal(res({ requests: { cpu: '1e0' } }).cpuShares, 1024);
    assert.equal(res({ limits: { memory: '1e3' } }).memoryLimitInBytes, 1000);
    assert.equal(res({ requests: { cpu: '1e3m' } }).cpuShares, 2);
    assert.equal(res({ requests: { cpu: 0.5 } }).cpuShares, 512);
    assert.equal(res({ limits: { memory: '2Gi' } }).memoryLimitInBytes, 2 * 2 ** 30);
    assert.equal(res({ limits: { memory: '1500M' } }).memoryLimitInBytes, 1.5e9);
  });

  it('CFS quota can be turned off', () => {
    const r = res({ limits: { cpu: '1' } }, { cpuCfsQuota: false });
    assert.equal(r.cpuQuota, undefined);
    assert.equal(r.cpuPeriod, undefined);
  });

  it('OOM score: node-critical -997; Burstable clamps to 3 and avoids 1000', () => {
    const c: Container = { name: 'c', image: 'i', resources: { requests: { memory: '1Gi' } } };
    assert.equal(containerOomScoreAdjust(mkPod([c], { priorityClassName: 'system-node-critical' }), c, 2 ** 30), -997);
    assert.equal(containerOomScoreAdjust(mkPod([c]), c, 2 ** 30), 3);
    const tiny: Container = { name: 'c', image: 'i', resources: { requests: { memory: '1' } } };
    assert.equal(containerOomScoreAdjust(mkPod([tiny]), tiny, 2 ** 30), 999);
    assert.equal(containerOomScoreAdjust(mkPod([tiny]), tiny), undefined);
  });
});

describe('generatePodSandboxConfig', () => {
  const web: Container = {
    name: 'web',
    image: 'nginx',
    ports: [
      { containerPort: 80, hostPort: 8080 },
      { containerPort: 53, protocol: 'UDP' },
      { name: 'dup', containerPort: 80 },
      { name: 'dup', containerPort: 81 },
    ],
  };

  it('metadata, labels, annotations, hostname, log dir, ports, namespaces', () => {
    const pod = mkPod([web], {
      securityContext: {
        fsGroup: 2000,
        supplementalGroups: [3000],
        runAsUser: 1000,
        sysctls: [{ name: 'net/ipv4/ip_forward', value: '1' }],
      },
    });
    const cfg = generatePodSandboxConfig(pod, 2, {
      logDir: '/var/log/pods/prod_web-0_uid-1',
      cgroupParent: '/kubepods/burstable/poduid-1',
    });
    assert.deepEqual(cfg, {
      metadata: { name: 'web-0', namespace: 'prod', uid: 'uid-1', attempt: 2 },
      labels: {
        app: 'web',
        'io.kubernetes.pod.name': 'web-0',
        'io.kubernetes.pod.namespace': 'prod',
        'io.kubernetes.pod.uid': 'uid-1',
      },
      annotations: { team: 'a' },
      logDirectory: '/var/log/pods/prod_web-0_uid-1',
      hostname: 'web-0',
      portMappings: [
        { protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '' },
        { protocol: 'UDP', containerPort: 53, hostPort: 0, hostIp: '' },
        { protocol: 'TCP', containerPort: 80, hostPort: 0, hostIp: '' },
      ],
      linux: {
        cgroupParent: '/kubepods/burstable/poduid-1',
        securityContext: {
          namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
          privileged: false,
          seccomp: { profileType: 'RuntimeDefault' },
          runAsUser: { value: 1000 },
          supplementalGroups: [2000, 3000],
          supplementalGroupsPolicy: 'Merge',
        },
        sysctls: { 'net.ipv4.ip_forward': '1' },
      },
    });
  });

  it('hostNetwork: NODE network, no hostname; hostPID/hostIPC; privileged if any container is', () => {
    const priv: Container = { name: 'p', image: 'x', securityContext: { privileged: true } };
    const cfg = generatePodSandboxConfig(mkPod([priv], { hostNetwork: true, hostPID: true, hostIPC: true }), 0, {
      logDir: '/l',
    });
    assert.equal(cfg.hostname, undefined);
    assert.deepEqual(cfg.linux?.securityContext?.namespaceOptions, { network: 'NODE', pid: 'NODE', ipc: 'NODE' });
    assert.equal(cfg.linux?.securityContext?.privileged, true);
    const shared = generatePodSandboxConfig(mkPod([web], { shareProcessNamespace: true }), 0, { logDir: '/l' });
    assert.equal(shared.linux?.securityContext?.namespaceOptions?.pid, 'POD');
  });

  it('hostname: spec.hostname wins, 63 characters at most without a trailing dash', () => {
    assert.equal(podHostname(mkPod([web], { hostname: 'h1' })), 'h1');
    const long = `${'a'.repeat(62)}-bbb`;
    assert.equal(podHostname(mkPod([web], {}, { name: long })), 'a'.repeat(62));
    assert.equal(
      podHostname(
        mkPod([web], { hostname: 'h', subdomain: 's', setHostnameAsFQDN: true } as Partial<Pod['spec']>),
        'cluster.local',
      ),
      'h.s.prod.svc.cluster.local',
    );
  });

  it('DNS: the config formed by the DNS configurer (dns.ts), as given; none without one', () => {
    assert.equal(generatePodSandboxConfig(mkPod([web]), 0, { logDir: '/l' }).dnsConfig, undefined);
    const given = { servers: ['10.96.0.10'], searches: ['prod.svc.cluster.local'], options: ['ndots:5'] };
    assert.deepEqual(generatePodSandboxConfig(mkPod([web]), 0, { logDir: '/l', dnsConfig: given }).dnsConfig, given);
  });
});

describe('generateContainerConfig', () => {
  const c: Container = {
    name: 'app',
    image: 'registry/app:1',
    workingDir: '/srv',
    tty: true,
    stdin: true,
    command: ['/bin/app'],
    args: ['--name=$(POD_NAME)'],
    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsGroup: 5 },
    lifecycle: { preStop: { exec: { command: ['sleep', '1'] } } },
  };
  const pod = mkPod([c], { terminationGracePeriodSeconds: 30, securityContext: { runAsUser: 1000 } });

  it('builds metadata, image, command/args, env, labels, annotations, log path and linux config', () => {
    const cfg = generateContainerConfig(pod, c, {
      restartCount: 3,
      imageRef: 'sha256:abc',
      mounts: [{ containerPath: '/data', hostPath: '/var/lib/x' }],
    });
    assert.deepEqual(cfg.metadata, { name: 'app', attempt: 3 });
    assert.deepEqual(cfg.image, { image: 'sha256:abc' });
    assert.deepEqual(cfg.command, ['/bin/app']);
    assert.deepEqual(cfg.args, ['--name=web-0']);
    assert.deepEqual(cfg.envs, [{ key: 'POD_NAME', value: 'web-0' }]);
    assert.equal(cfg.workingDir, '/srv');
    assert.equal(cfg.logPath, 'app/3.log');
    assert.equal(cfg.tty, true);
    assert.equal(cfg.stdin, true);
    assert.equal(cfg.stdinOnce, false);
    assert.deepEqual(cfg.mounts, [{ containerPath: '/data', hostPath: '/var/lib/x' }]);
    assert.deepEqual(cfg.labels, newContainerLabels(c, pod));
    assert.deepEqual(cfg.annotations, {
      'io.kubernetes.container.hash': containerHash(c),
      'io.kubernetes.container.restartCount': '3',
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': 'File',
      'io.kubernetes.pod.terminationGracePeriod': '30',
      'io.kubernetes.container.preStopHandler': '{"exec":{"command":["sleep","1"]}}',
      'io.kubernetes.container.ports': '[{"containerPort":8080,"protocol":"TCP"}]',
      'io.kubernetes.container.type': 'container',
    });
    assert.deepEqual(cfg.linux?.securityContext, {
      namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      runAsUser: { value: 1000 },
      runAsGroup: { value: 5 },
      readonlyRootfs: true,
      noNewPrivs: true,
      seccomp: { profileType: 'Unconfined' },
      supplementalGroupsPolicy: 'Merge',
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    });
    assert.equal(cfg.linux?.resources?.cpuShares, 2);
  });

  it('init containers are typed "init"', () => {
    const init: Container = { name: 'setup', image: 'busybox' };
    const p = mkPod([c], { initContainers: [init] });
    assert.equal(
      generateContainerConfig(p, init, { restartCount: 0, imageRef: 'sha256:b' }).annotations?.[
        'io.kubernetes.container.type'
      ],
      'init',
    );
  });
});

describe('security context (upstream determineEffectiveSecurityContext, getSeccompProfile, getAppArmorProfile)', () => {
  const c = (securityContext?: Container['securityContext'], name = 'app'): Container => ({
    name,
    image: 'busybox',
    securityContext,
  });
  const sc = (pod: Pod, ctr: Container, user = {}, opts = {}) => containerSecurityContext(pod, ctr, user, opts);

  it("the container's fields win over the pod's; groups are the pod's (fsGroup first)", () => {
    const ctr = c({ runAsUser: 2000, allowPrivilegeEscalation: false, seLinuxOptions: { level: 's0:c1' } });
    const pod = mkPod([ctr], {
      securityContext: {
        runAsUser: 1000,
        runAsGroup: 3000,
        fsGroup: 2000,
        supplementalGroups: [4000],
        seLinuxOptions: { type: 'spc_t' },
      },
    });
    const out = sc(pod, ctr);
    assert.deepEqual(out.runAsUser, { value: 2000 });
    assert.deepEqual(out.runAsGroup, { value: 3000 });
    assert.deepEqual(out.supplementalGroups, [2000, 4000]);
    assert.deepEqual(
      out.selinuxOptions,
      { user: '', role: '', type: '', level: 's0:c1' },
      "the container's seLinuxOptions replace the pod's whole",
    );
    assert.equal(out.noNewPrivs, true);
  });

  it('no_new_privs only for an explicit allowPrivilegeEscalation: false', () => {
    assert.equal(sc(mkPod([c()]), c()).noNewPrivs, undefined);
    assert.equal(sc(mkPod([c()]), c({ allowPrivilegeEscalation: true })).noNewPrivs, undefined);
    assert.equal(sc(mkPod([c()]), c({ privileged: true })).noNewPrivs, undefined);
  });

  it("capabilities pass through as written (ALL is the runtime's), none when unset", () => {
    assert.equal(sc(mkPod([c()]), c()).capabilities, undefined);
    assert.deepEqual(sc(mkPod([c()]), c({ capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } })).capabilities, {
      addCapabilities: ['NET_BIND_SERVICE'],
      dropCapabilities: ['ALL'],
    });
  });

  it("without runAsUser: the image's uid, its user name, or root", () => {
    assert.deepEqual(sc(mkPod([c()]), c(), { uid: 65534 }).runAsUser, { value: 65534 });
    const named = sc(mkPod([c()]), c(), { username: 'nobody' });
    assert.equal(named.runAsUser, undefined);
    assert.equal(named.runAsUsername, 'nobody');
    assert.deepEqual(sc(mkPod([c()]), c(), {}).runAsUser, { value: 0 });
    assert.deepEqual(sc(mkPod([c()]), c({ runAsUser: 7 }), { uid: 65534 }).runAsUser, { value: 7 });
  });

  it("seccomp: the container's, else the pod's, else RuntimeDefault with seccompDefault, else Unconfined", () => {
    const root = { seccompProfileRoot: '/var/lib/kubelet/seccomp' };
    assert.deepEqual(sc(mkPod([c()]), c(), {}, root).seccomp, { profileType: 'Unconfined' });
    assert.deepEqual(sc(mkPod([c()]), c(), {}, { ...root, seccompDefault: true }).seccomp, {
      profileType: 'RuntimeDefault',
    });
    const pod = mkPod([c()], { securityContext: { seccompProfile: { type: 'RuntimeDefault' } } });
    assert.deepEqual(sc(pod, c()).seccomp, { profileType: 'RuntimeDefault' });
    assert.deepEqual(sc(pod, c({ seccompProfile: { type: 'Unconfined' } }), {}, { seccompDefault: true }).seccomp, {
      profileType: 'Unconfined',
    });
    assert.deepEqual(
      sc(pod, c({ seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' } }), {}, root).seccomp,
      { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/profiles/audit.json' },
    );
  });

  it('a Localhost seccomp profile without a file fails closed', () => {
    for (const profile of [{ type: 'Localhost' }, { type: 'Localhost', localhostProfile: '' }]) {
      assert.throws(
        () => sc(mkPod([c()]), c({ seccompProfile: profile })),
        (e: unknown) =>
          e instanceof ContainerConfigError &&
          /localhostProfile must be set if seccompProfile type is Localhost/.test(e.message),
      );
    }
  });

  it("AppArmor: the container's field, else the deprecated annotation, else the pod's; both CRI forms", () => {
    assert.equal(sc(mkPod([c()]), c()).apparmor, undefined);
    const annotated = mkPod(
      [c()],
      { securityContext: { appArmorProfile: { type: 'RuntimeDefault' } } },
      { annotations: { 'container.apparmor.security.beta.kubernetes.io/app': 'localhost/k8s-deny-write' } },
    );
    const out = sc(annotated, c());
    assert.deepEqual(out.apparmor, { profileType: 'Localhost', localhostRef: 'k8s-deny-write' });
    assert.equal(out.apparmorProfile, 'localhost/k8s-deny-write');
    const other = sc(annotated, c(undefined, 'other'));
    assert.deepEqual([other.apparmor, other.apparmorProfile], [{ profileType: 'RuntimeDefault' }, 'runtime/default']);
    const own = sc(annotated, c({ appArmorProfile: { type: 'Unconfined' } }));
    assert.deepEqual([own.apparmor, own.apparmorProfile], [{ profileType: 'Unconfined' }, 'unconfined']);
  });

  it('supplementalGroupsPolicy: Merge unless Strict', () => {
    assert.equal(sc(mkPod([c()]), c()).supplementalGroupsPolicy, 'Merge');
    assert.equal(
      sc(mkPod([c()], { securityContext: { supplementalGroupsPolicy: 'Strict' } }), c()).supplementalGroupsPolicy,
      'Strict',
    );
  });

  it("runAsNonRoot: upstream's messages, checked against runAsUser first, then the image user", () => {
    const ctr = c({ runAsNonRoot: true });
    const pod = mkPod([ctr]);
    const where = '(pod: "web-0_prod(uid-1)", container: app)';
    const fails = (user: object, ct: Container, msg: string) =>
      assert.throws(
        () => verifyRunAsNonRoot(pod, ct, user),
        (e: unknown) => e instanceof ContainerConfigError && e.message === msg,
      );
    fails({}, ctr, `container has runAsNonRoot and image will run as root ${where}`);
    fails({ uid: 0 }, ctr, `container has runAsNonRoot and image will run as root ${where}`);
    fails(
      { username: 'app' },
      ctr,
      `container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root ${where}`,
    );
    fails(
      { uid: 1000 },
      c({ runAsNonRoot: true, runAsUser: 0 }),
      `container's runAsUser breaks non-root policy ${where}`,
    );
    verifyRunAsNonRoot(pod, ctr, { uid: 1000 });
    verifyRunAsNonRoot(pod, c({ runAsNonRoot: true, runAsUser: 1000 }), {});
    verifyRunAsNonRoot(mkPod([c()], { securityContext: { runAsNonRoot: true, runAsUser: 1 } }), c(), {});
    verifyRunAsNonRoot(pod, c({ runAsNonRoot: false }), {});
    // the pod's runAsNonRoot applies to a container without its own
    assert.throws(
      () => verifyRunAsNonRoot(mkPod([c()], { securityContext: { runAsNonRoot: true } }), c(), {}),
      ContainerConfigError,
    );
    assert.throws(
      () => generateContainerConfig(pod, ctr, { restartCount: 0, imageRef: 'sha256:r', imageUser: {} }),
      ContainerConfigError,
    );
  });
});

describe('labels and the container hash', () => {
  it('container labels and annotations parse back', () => {
    const c: Container = {
      name: 'app',
      image: 'x',
      ports: [{ containerPort: 1 }],
      terminationMessagePath: '/t',
      terminationMessagePolicy: 'FallbackToLogsOnError',
    };
    const pod = mkPod([c], { terminationGracePeriodSeconds: 10 }, { deletionGracePeriodSeconds: 5 });
    const info = parseContainerLabels(newContainerLabels(c, pod), newContainerAnnotations(c, pod, 7));
    assert.deepEqual(info, {
      podName: 'web-0',
      podNamespace: 'prod',
      podUid: 'uid-1',
      containerName: 'app',
      hash: containerHash(c),
      restartCount: 7,
      terminationMessagePath: '/t',
      terminationMessagePolicy: 'FallbackToLogsOnError',
      containerType: 'container',
      podDeletionGracePeriod: 5,
      podTerminationGracePeriod: 10,
      containerPorts: [{ containerPort: 1 }],
    });
  });

  it('missing or malformed annotations read as upstream does (empty, 0)', () => {
    const info = parseContainerLabels(
      {},
      { 'io.kubernetes.container.restartCount': 'x', 'io.kubernetes.container.ports': '{' },
    );
    assert.equal(info.restartCount, 0);
    assert.equal(info.hash, '');
    assert.equal(info.containerPorts, undefined);
  });

  it("sandbox labels keep the pod's own labels apart", () => {
    assert.deepEqual(parseSandboxLabels({ app: 'web', [LABEL_POD_UID]: 'u', 'io.kubernetes.pod.name': 'n' }), {
      podName: 'n',
      podNamespace: '',
      podUid: 'u',
      labels: { app: 'web' },
    });
  });

  it('the hash is lowercase hex, stable, and blind to defaults, resources and probes', () => {
    const base: Container = { name: 'a', image: 'nginx:1', ports: [{ containerPort: 80 }] };
    const h = containerHash(base);
    assert.match(h, /^[0-9a-f]{1,8}$/);
    assert.equal(containerHash({ ...base }), h);
    assert.equal(
      containerHash({
        ...base,
        ports: [{ containerPort: 80, protocol: 'TCP' }],
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        env: [],
      }),
      h,
    );
    assert.equal(
      containerHash({
        ...base,
        resources: { limits: { cpu: '1' } },
        livenessProbe: { exec: { command: ['true'] } },
        imagePullPolicy: 'Always',
      }),
      h,
    );
    assert.notEqual(containerHash({ ...base, image: 'nginx:2' }), h);
    assert.notEqual(containerHash({ ...base, args: ['-x'] }), h);
    assert.notEqual(containerHash({ ...base, env: [{ name: 'A', value: '1' }] }), h);
    assert.equal(newContainerAnnotations(base, mkPod([base]), 0)[ANNOTATION_CONTAINER_HASH], h);
  });
});

describe('runtimePodStatusFromCri', () => {
  const sb = (id: string, createdAt: number, state: PodSandboxStatus['state'], uid = 'uid-1'): PodSandboxStatus => ({
    id,
    metadata: { name: 'web-0', namespace: 'prod', uid, attempt: createdAt },
    state,
    createdAt: createdAt * 1e9,
    network: { ip: `10.0.0.${createdAt}`, additionalIps: [{ ip: 'fd00::1' }] },
    labels: {},
    annotations: {},
    runtimeHandler: '',
  });
  const ctr = (id: string, createdAt: number, extra: Partial<CriContainerStatus> = {}): CriContainerStatus => ({
    id,
    metadata: { name: 'app', attempt: 1 },
    state: 'CONTAINER_EXITED',
    createdAt: createdAt * 1e9,
    startedAt: 1_700_000_000_123_456_800,
    finishedAt: 1_700_000_005_000_000_000,
    exitCode: 2,
    image: { image: 'nginx:1' },
    imageRef: 'sha256:x',
    reason: 'Error',
    message: 'boom',
    labels: { [LABEL_POD_UID]: 'uid-1', 'io.kubernetes.container.name': 'app' },
    annotations: { 'io.kubernetes.container.hash': 'abc', 'io.kubernetes.container.restartCount': '4' },
    mounts: [],
    logPath: '',
    ...extra,
  });

  it('sorts newest first, converts ns to ms, reads labels, drops other pods', () => {
    const st = runtimePodStatusFromCri(
      'uid-1',
      [sb('old', 1, 'SANDBOX_NOTREADY'), sb('new', 2, 'SANDBOX_READY'), sb('foreign', 3, 'SANDBOX_READY', 'uid-2')],
      [ctr('c1', 1), ctr('c2', 2), ctr('x', 3, { labels: { [LABEL_POD_UID]: 'uid-2' } })],
      42,
      { c2: 'new' },
    );
    assert.equal(st.name, 'web-0');
    assert.equal(st.namespace, 'prod');
    assert.equal(st.timestamp, 42);
    assert.deepEqual(
      st.sandboxes.map((s) => s.id),
      ['new', 'old'],
    );
    assert.deepEqual(st.sandboxes[0], {
      id: 'new',
      state: 'SANDBOX_READY',
      attempt: 2,
      createdAt: 2000,
      ip: '10.0.0.2',
      additionalIps: ['fd00::1'],
    });
    assert.deepEqual(
      st.containers.map((c) => c.id),
      ['c2', 'c1'],
    );
    assert.deepEqual(st.containers[0], {
      id: 'c2',
      name: 'app',
      state: 'CONTAINER_EXITED',
      attempt: 1,
      createdAt: 2000,
      startedAt: 1_700_000_000_123,
      finishedAt: 1_700_000_005_000,
      exitCode: 2,
      reason: 'Error',
      message: 'boom',
      image: 'nginx:1',
      imageRef: 'sha256:x',
      hash: 'abc',
      restartCount: 4,
      sandboxId: 'new',
    });
  });

  it('reads the sandbox network mode when the runtime reports it', () => {
    const withLinux = { ...sb('s', 1, 'SANDBOX_READY'), linux: { namespaces: { options: { network: 'NODE' } } } };
    assert.equal(runtimePodStatusFromCri('uid-1', [withLinux], [], 0).sandboxes[0]?.networkMode, 'NODE');
  });
});

describe('container hash normalisation', () => {
  it('a defaulted fieldRef apiVersion does not change the hash', () => {
    const plain: Container = {
      name: 'a',
      image: 'x',
      env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
    };
    const defaulted: Container = {
      name: 'a',
      image: 'x',
      env: [{ name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name', apiVersion: 'v1' } } }],
    };
    assert.equal(containerHash(defaulted), containerHash(plain));
  });
});
