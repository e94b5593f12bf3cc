/**
 * node-status: the pure setters and helpers (upstream nodestatus/setters.go and
 * kubelet_node_status.go), the host adapters on fake files, and the actor on the VirtualClock
 * with a fake NodeApi: registration (create, 409 + reconcile, backoff), the status cadence
 * (changed → within 10s, unchanged → every 5m), readiness written at once, re-registration
 * after the Node is deleted, events, and standalone mode.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, startActor } from '../../kernel/testing.ts';
import { Bus } from '../../kernel/bus.ts';
import { VirtualClock } from '../../kernel/clock.ts';
import { ApiError, type Node, type NodeApi, type PatchType } from '../../protocols/kube/api.ts';
import type { EventRecord, PlegHealth, RuntimeHealth } from '../../protocols/messages/channels.ts';
import '../../protocols/messages/channels.ts';
import { nodeStatus, type NodeStatusDeps } from '../../actors/node-status/index.ts';
import {
  chooseHostIP,
  defaultRouteInterface,
  hostInfo,
  meminfoBytes,
  osReleasePrettyName,
  type HostFiles,
  type HostPort,
} from '../../actors/node-status/adapters.ts';
import {
  aggregateMessage,
  computeAllocatable,
  computeCapacity,
  DEFAULT_EVICTION_HARD,
  evaluatePressure,
  formatBinarySI,
  formatCpuMilli,
  holdPressure,
  initialNode,
  nodeStatusHasChanged,
  normalizeRuntimeVersion,
  readyErrors,
  reconcileExistingNode,
  setNodeStatus,
  statusPatch,
  type MachineInfo,
  type Measurements,
  type NodeConfig,
  type StatusInputs,
} from '../../actors/node-status/logic.ts';
import { mergePatch, strategicMergePatch, nodeSchema } from '../support/apiserver/patch.ts';
import type { JsonObject } from '../support/apiserver/status.ts';

const settle = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

const GiB = 2 ** 30;

const machine: MachineInfo = {
  numCores: 4,
  memoryCapacityBytes: 24_684_092 * 1024,
  hugePages: [
    { pageSizeBytes: 2 * 2 ** 20, count: 0 },
    { pageSizeBytes: GiB, count: 0 },
  ],
  ephemeralStorageBytes: 100 * GiB,
  machineID: '3d1219c7c4c5404aaa1f6d2a48adfda4',
  systemUUID: '',
  bootID: '5a68f086-b205-4a87-84d8-5818d1adc041',
  kernelVersion: '6.1.0-18-amd64',
  osImage: 'Debian GNU/Linux 12 (bookworm)',
  operatingSystem: 'linux',
  architecture: 'amd64',
};

const cfg: NodeConfig = {
  nodeName: 'node-a',
  hostname: 'node-a',
  nodeLabels: { 'node-role.example.com/worker': '' },
  registerWithTaints: [],
  maxPods: 110,
  kubeReserved: {},
  systemReserved: {},
  evictionHard: { ...DEFAULT_EVICTION_HARD },
  kubeletVersion: 'v1.34.0-kubelet-ts.0.1.0',
  kubeletPort: 10250,
};

const healthyRuntime: RuntimeHealth = {
  ready: true,
  networkReady: true,
  runtimeName: 'containerd',
  runtimeVersion: 'v1.6.20',
  reason: '',
  lastOk: 1,
};
const healthyPleg: PlegHealth = { healthy: true, lastRelist: 1, lastError: '' };
const plenty: Measurements = {
  memoryAvailableBytes: 20 * GiB,
  nodefsAvailableBytes: 50 * GiB,
  nodefsCapacityBytes: 100 * GiB,
  nodefsInodesFree: 1_000_000,
  nodefsInodes: 2_000_000,
  pidAvailable: 30_000,
  pidMax: 32_768,
};

const inputs = (over: Partial<StatusInputs> = {}): StatusInputs => ({
  now: 1_700_000_000_000,
  machine,
  addresses: [
    { type: 'InternalIP', address: '10.0.0.5' },
    { type: 'Hostname', address: 'node-a' },
  ],
  measurements: plenty,
  runtime: healthyRuntime,
  pleg: healthyPleg,
  ...over,
});

const cond = (n: Node, type: string) => n.status?.conditions?.find((c) => c.type === type);

// ---------------------------------------------------------------------------------------------

describe('node-status logic', () => {
  it('quantities print in canonical form', () => {
    assert.equal(formatBinarySI(24_684_092 * 1024), '24684092Ki');
    assert.equal(formatBinarySI(100 * 2 ** 20), '100Mi');
    assert.equal(formatBinarySI(16 * GiB), '16Gi');
    assert.equal(formatBinarySI(1536), '1536');
    assert.equal(formatBinarySI(0), '0');
    assert.equal(formatBinarySI(-5), '0');
    assert.equal(formatCpuMilli(2000), '2');
    assert.equal(formatCpuMilli(1900), '1900m');
  });

  it('capacity from the machine; allocatable = capacity − kube/system reserved − hard eviction thresholds', () => {
    const cap = computeCapacity(machine, 110);
    assert.deepEqual(cap, {
      cpu: '4',
      'ephemeral-storage': '100Gi',
      memory: '24684092Ki',
      pods: '110',
      'hugepages-2Mi': '0',
      'hugepages-1Gi': '0',
    });
    const alloc = computeAllocatable(cap, {
      kubeReserved: { cpu: '100m', memory: '256Mi' },
      systemReserved: { cpu: '200m', memory: '0.5Gi', 'ephemeral-storage': '1Gi' },
      evictionHard: DEFAULT_EVICTION_HARD,
    });
    assert.equal(alloc.cpu, '3700m');
    assert.equal(alloc.memory, `${24_684_092 - 256 * 1024 - 512 * 1024 - 100 * 1024}Ki`);
    assert.equal(alloc['ephemeral-storage'], '89Gi');
    assert.equal(computeAllocatable({ 'ephemeral-storage': '1000' }, cfg)['ephemeral-storage'], '900');
    assert.equal(alloc.pods, '110');
    // with defaults only: memory − 100Mi, storage − 10%
    const plain = computeAllocatable(cap, cfg);
    assert.equal(plain.memory, `${24_684_092 - 102_400}Ki`);
    assert.equal(plain.cpu, '4');
    // preallocated huge pages come out of memory; never below zero
    const hp = computeAllocatable({ ...cap, 'hugepages-2Mi': '1Gi' }, cfg);
    assert.equal(hp.memory, `${24_684_092 - 102_400 - 1024 * 1024}Ki`);
    assert.equal(
      computeAllocatable({ cpu: '1' }, { kubeReserved: { cpu: '2' }, systemReserved: {}, evictionHard: {} }).cpu,
      '0',
    );
  });

  it('pressure: each hard threshold against its signal, percentages of capacity, unmeasured never presses', () => {
    const cap = machine.memoryCapacityBytes;
    assert.deepEqual(evaluatePressure(DEFAULT_EVICTION_HARD, plenty, cap), {
      memory: false,
      disk: false,
      pid: false,
      signals: [],
    });
    const low = evaluatePressure(
      DEFAULT_EVICTION_HARD,
      { ...plenty, memoryAvailableBytes: 99 * 2 ** 20, nodefsAvailableBytes: 9 * GiB },
      cap,
    );
    assert.deepEqual(low, {
      memory: true,
      disk: true,
      pid: false,
      signals: ['memory.available<100Mi', 'nodefs.available<10%'],
    });
    assert.equal(evaluatePressure(DEFAULT_EVICTION_HARD, { ...plenty, nodefsInodesFree: 99_999 }, cap).disk, true);
    assert.equal(evaluatePressure({ 'pid.available': '10%' }, { ...plenty, pidAvailable: 3000 }, cap).pid, true);
    assert.equal(evaluatePressure(DEFAULT_EVICTION_HARD, {}, cap).memory, false);
  });

  it('holdPressure: a pressure observed within the transition period is still reported (nodeConditionsObservedSince)', () => {
    const none = { memory: false, disk: false, pid: false, signals: [] };
    const mem = { ...none, memory: true, signals: ['memory.available<100Mi'] };
    let r = holdPressure(mem, {}, 1_000, 300_000);
    assert.deepEqual(r, { pressure: mem, observedAt: { memory: 1_000 } });
    r = holdPressure(none, r.observedAt, 300_999, 300_000);
    assert.deepEqual(r.pressure, { ...none, memory: true }, 'cleared 299.999s ago: still held');
    r = holdPressure(none, r.observedAt, 301_000, 300_000);
    assert.deepEqual(r.pressure, none, 'a full period without it: released');
    const pid = { ...none, pid: true, signals: ['pid.available<10%'] };
    assert.deepEqual(
      holdPressure(pid, { disk: 0 }, 10, 0).pressure,
      pid,
      'a zero period holds nothing but reports what is observed now',
    );
  });

  it('runtime versions as upstream prints them', () => {
    assert.equal(normalizeRuntimeVersion('v1.6.20'), '1.6.20');
    assert.equal(normalizeRuntimeVersion('1.6.20~ds1'), '1.6.20');
    assert.equal(normalizeRuntimeVersion('1.7.0-rc.1'), '1.7.0-rc.1');
  });

  it('Ready errors with upstream wording; several are aggregated as [a, b]', () => {
    assert.deepEqual(
      readyErrors(healthyRuntime, healthyPleg, { cpu: '1', memory: '1', pods: '1', 'ephemeral-storage': '1' }),
      [],
    );
    assert.deepEqual(
      readyErrors(undefined, healthyPleg, { cpu: '1', memory: '1', pods: '1', 'ephemeral-storage': '1' }),
      ['container runtime status check may not have completed yet'],
    );
    const down: RuntimeHealth = {
      ...healthyRuntime,
      ready: false,
      networkReady: false,
      reason: 'container runtime is down: 14 UNAVAILABLE',
    };
    const pleg: PlegHealth = {
      healthy: false,
      lastRelist: 1,
      lastError: 'pleg was last seen active 3m10s ago; threshold is 3m0s',
    };
    const errs = readyErrors(down, pleg, { cpu: '1', memory: '1', pods: '1' });
    assert.deepEqual(errs, [
      'container runtime is down',
      'PLEG is not healthy: pleg was last seen active 3m10s ago; threshold is 3m0s',
      'Missing node capacity for resources: ephemeral-storage',
    ]);
    assert.equal(
      aggregateMessage(errs.slice(0, 2)),
      '[container runtime is down, PLEG is not healthy: pleg was last seen active 3m10s ago; threshold is 3m0s]',
    );
    assert.equal(aggregateMessage(['x']), 'x');
    const notReady: RuntimeHealth = {
      ...healthyRuntime,
      ready: false,
      reason: 'runtime not ready: ContainerdNotReady x',
    };
    assert.deepEqual(
      readyErrors(notReady, healthyPleg, { cpu: '1', memory: '1', pods: '1', 'ephemeral-storage': '1' }),
      ['container runtime not ready: ContainerdNotReady x'],
    );
    const noNet: RuntimeHealth = {
      ...healthyRuntime,
      networkReady: false,
      reason: 'network not ready: NetworkPluginNotReady cni plugin not initialized',
    };
    assert.deepEqual(readyErrors(noNet, healthyPleg, { cpu: '1', memory: '1', pods: '1', 'ephemeral-storage': '1' }), [
      'container runtime network not ready: NetworkReady=false NetworkPluginNotReady cni plugin not initialized',
    ]);
  });

  it('initialNode: --provider-id is spec.providerID; --cloud-provider=external adds the uninitialized taint and the provided-node-ip annotation', () => {
    const { node } = initialNode(
      {
        ...cfg,
        registerWithTaints: [{ key: 'dedicated', effect: 'NoExecute' }],
        providerID: 'aws:///eu-west-1a/i-0abc',
        externalCloudProvider: true,
        nodeIPs: ['10.0.0.5', 'fd00::5'],
      },
      inputs(),
    );
    assert.equal(node.spec?.providerID, 'aws:///eu-west-1a/i-0abc');
    assert.deepEqual(node.spec?.taints, [
      { key: 'dedicated', effect: 'NoExecute' },
      { key: 'node.cloudprovider.kubernetes.io/uninitialized', value: 'true', effect: 'NoSchedule' },
    ]);
    assert.equal(node.metadata.annotations?.['alpha.kubernetes.io/provided-node-ip'], '10.0.0.5,fd00::5');
    const plain = initialNode(cfg, inputs()).node;
    assert.deepEqual(plain.spec, {}, 'no provider ID, no taints by default');
  });

  it('initialNode: default labels + --node-labels, attach/detach annotation, the full status, Ready last', () => {
    const { node, events } = initialNode(
      { ...cfg, registerWithTaints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] },
      inputs(),
    );
    assert.deepEqual(node.metadata.labels, {
      'kubernetes.io/hostname': 'node-a',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': 'amd64',
      'node-role.example.com/worker': '',
    });
    assert.deepEqual(node.metadata.annotations, { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' });
    assert.deepEqual(node.spec?.taints, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    const s = node.status!;
    assert.deepEqual(s.addresses, [
      { type: 'InternalIP', address: '10.0.0.5' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    assert.deepEqual(s.daemonEndpoints, { kubeletEndpoint: { Port: 10250 } });
    assert.deepEqual(s.nodeInfo, {
      machineID: machine.machineID,
      systemUUID: '',
      bootID: machine.bootID,
      kernelVersion: '6.1.0-18-amd64',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: 'containerd://1.6.20',
      kubeletVersion: 'v1.34.0-kubelet-ts.0.1.0',
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: 'amd64',
    });
    const t = '2023-11-14T22:13:20Z';
    assert.deepEqual(s.conditions, [
      {
        type: 'MemoryPressure',
        status: 'False',
        lastHeartbeatTime: t,
        reason: 'KubeletHasSufficientMemory',
        message: 'kubelet has sufficient memory available',
        lastTransitionTime: t,
      },
      {
        type: 'DiskPressure',
        status: 'False',
        lastHeartbeatTime: t,
        reason: 'KubeletHasNoDiskPressure',
        message: 'kubelet has no disk pressure',
        lastTransitionTime: t,
      },
      {
        type: 'PIDPressure',
        status: 'False',
        lastHeartbeatTime: t,
        reason: 'KubeletHasSufficientPID',
        message: 'kubelet has sufficient PID available',
        lastTransitionTime: t,
      },
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'kubelet is posting ready status',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
      },
    ]);
    assert.deepEqual(
      events.map((e) => e.reason),
      ['NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID'],
    );
  });

  it('setters: heartbeats always move, transition times only on a status change; changes beyond heartbeats are detected', () => {
    const first = initialNode(cfg, inputs()).node;
    const same = setNodeStatus(first, cfg, inputs({ now: 1_700_000_010_000 }));
    assert.equal(cond(same.node, 'Ready')!.lastHeartbeatTime, '2023-11-14T22:13:30Z');
    assert.equal(cond(same.node, 'Ready')!.lastTransitionTime, '2023-11-14T22:13:20Z');
    assert.deepEqual(same.events, []);
    assert.equal(nodeStatusHasChanged(first.status, same.node.status), false);
    const down = setNodeStatus(
      first,
      cfg,
      inputs({
        now: 1_700_000_010_000,
        runtime: { ...healthyRuntime, ready: false, reason: 'container runtime is down: x' },
      }),
    );
    assert.deepEqual(cond(down.node, 'Ready'), {
      type: 'Ready',
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'container runtime is down',
      lastHeartbeatTime: '2023-11-14T22:13:30Z',
      lastTransitionTime: '2023-11-14T22:13:30Z',
    });
    assert.deepEqual(down.events, [{ eventType: 'Normal', reason: 'NodeNotReady' }]);
    assert.equal(nodeStatusHasChanged(first.status, down.node.status), true);
    // a graceful node shutdown in progress (the nodeShutdown view): upstream's ShutdownStatus error
    const shutting = setNodeStatus(first, cfg, inputs({ now: 1_700_000_010_000, shuttingDown: true }));
    assert.deepEqual(cond(shutting.node, 'Ready'), {
      type: 'Ready',
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'node is shutting down',
      lastHeartbeatTime: '2023-11-14T22:13:30Z',
      lastTransitionTime: '2023-11-14T22:13:30Z',
    });
    const moreMem = setNodeStatus(first, cfg, inputs({ machine: { ...machine, memoryCapacityBytes: 32 * GiB } }));
    assert.equal(nodeStatusHasChanged(first.status, moreMem.node.status), true);
    // the server's own spelling of a quantity is not a change
    const respelled = structuredClone(first);
    respelled.status!.capacity!['ephemeral-storage'] = String(100 * GiB);
    assert.equal(nodeStatusHasChanged(respelled.status, first.status), false);
  });

  it('statusPatch: changed conditions merged by type with the element order, replaced addresses, nulls for removed resources', () => {
    const orig = initialNode(cfg, inputs()).node;
    orig.status!.conditions!.unshift({ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' });
    orig.status!.capacity!['example.com/dongle'] = '2';
    const upd = setNodeStatus(
      orig,
      cfg,
      inputs({ now: 1_700_000_010_000, addresses: [{ type: 'Hostname', address: 'node-a' }] }),
    ).node;
    delete upd.status!.capacity!['example.com/dongle'];
    const p = statusPatch(orig, upd);
    assert.deepEqual(Object.keys(p.status).sort(), [
      '$setElementOrder/conditions',
      'addresses',
      'capacity',
      'conditions',
    ]);
    assert.deepEqual(
      p.status['$setElementOrder/conditions'],
      ['NetworkUnavailable', 'MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({ type })),
    );
    assert.deepEqual(
      (p.status.conditions as { type: string }[]).map((c) => c.type),
      ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'],
    );
    assert.deepEqual(p.status.capacity, { 'example.com/dongle': null });
    // applied the way the apiserver does, it yields the updated status and keeps foreign conditions
    const applied = strategicMergePatch(orig as unknown as JsonObject, p, nodeSchema) as unknown as Node;
    assert.deepEqual(applied.status, upd.status);
    assert.equal(cond(applied, 'NetworkUnavailable')!.reason, 'RouteCreated');
  });

  it('reconcileExistingNode: only the default labels and the attach/detach annotation follow this kubelet', () => {
    const init = initialNode(cfg, inputs()).node;
    const existing = {
      metadata: {
        name: 'node-a',
        labels: { 'kubernetes.io/hostname': 'old-name', team: 'x', 'kubernetes.io/arch': 'amd64' },
      },
    } as unknown as Node;
    assert.deepEqual(reconcileExistingNode(init, existing), {
      metadata: {
        labels: {
          'kubernetes.io/hostname': 'node-a',
          'kubernetes.io/os': 'linux',
          'beta.kubernetes.io/os': 'linux',
          'beta.kubernetes.io/arch': 'amd64',
        },
        annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      },
    });
    assert.equal(reconcileExistingNode(init, init), undefined);
  });
});

describe('node-status adapters', () => {
  it("parse meminfo, os-release and the default route; pick the default route's IPv4", () => {
    assert.equal(
      meminfoBytes('MemTotal:       24684092 kB\nMemFree: 1 kB\nMemAvailable:   24115248 kB\n', 'MemTotal'),
      24_684_092 * 1024,
    );
    assert.equal(meminfoBytes('MemTotal: 1 kB', 'MemAvailable'), undefined);
    assert.equal(
      osReleasePrettyName('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
      'Debian GNU/Linux 12 (bookworm)',
    );
    assert.equal(osReleasePrettyName(undefined), 'Linux');
    const route =
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'cni0\t0058A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
    assert.equal(defaultRouteInterface(route), 'eth0');
    const ifaces = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      cni0: [{ address: '192.168.88.1', family: 'IPv4', internal: false }],
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '192.0.2.10', family: 'IPv4', internal: false },
      ],
    } as unknown as Parameters<typeof chooseHostIP>[0];
    assert.equal(chooseHostIP(ifaces, 'eth0'), '192.0.2.10');
    assert.equal(chooseHostIP(ifaces, undefined), '192.168.88.1');
  });

  it('hostInfo reads the machine, addresses and measurements from the files', () => {
    const text: Record<string, string> = {
      '/proc/meminfo': 'MemTotal:       2048 kB\nMemAvailable:   1024 kB\n',
      '/etc/machine-id': 'abc\n',
      '/proc/sys/kernel/random/boot_id': 'boot\n',
      '/etc/os-release': 'PRETTY_NAME="Test OS"\n',
      '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages': '3\n',
      '/proc/sys/kernel/pid_max': '32768\n',
      '/proc/loadavg': '0.10 0.20 0.30 4/161 28195\n',
      '/proc/net/route': 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n',
    };
    const files: HostFiles = {
      read: (p) => text[p],
      list: (p) => (p === '/sys/kernel/mm/hugepages' ? ['hugepages-2048kB'] : []),
      statfs: () => ({ bsize: 4096, blocks: 1000, bavail: 250, files: 100, ffree: 40 }),
    };
    const h = hostInfo({
      rootDir: '/var/lib/kubelet',
      files,
      numCores: () => 8,
      kernel: () => '6.1.0',
      ifaces: () => ({ eth0: [{ address: '10.1.2.3', family: 'IPv4', internal: false }] }) as never,
    });
    const m = h.machineInfo();
    assert.equal(m.numCores, 8);
    assert.equal(m.memoryCapacityBytes, 2048 * 1024);
    assert.deepEqual(m.hugePages, [{ pageSizeBytes: 2 * 2 ** 20, count: 3 }]);
    assert.equal(m.ephemeralStorageBytes, 4096 * 1000);
    assert.equal(m.machineID, 'abc');
    assert.equal(m.osImage, 'Test OS');
    assert.deepEqual(h.addresses('node-a'), [
      { type: 'InternalIP', address: '10.1.2.3' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    assert.deepEqual(h.addresses('node-a', '192.0.2.7'), [
      { type: 'InternalIP', address: '192.0.2.7' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    assert.deepEqual(h.measure(), {
      memoryAvailableBytes: 1024 * 1024,
      nodefsAvailableBytes: 250 * 4096,
      nodefsCapacityBytes: 1000 * 4096,
      nodefsInodesFree: 40,
      nodefsInodes: 100,
      pidMax: 32768,
      pidAvailable: 32768 - 161,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// the actor, with a fake NodeApi that applies patches the way the apiserver does

class FakeNodeApi implements NodeApi {
  node: Node | undefined;
  uid = 0;
  rv = 0;
  calls: { verb: string; at: number; body?: unknown }[] = [];
  failures: Partial<Record<'create' | 'get' | 'patchStatus' | 'patch', unknown[]>> = {};
  now: () => number = () => 0;

  #fail(verb: 'create' | 'get' | 'patchStatus' | 'patch'): void {
    const f = this.failures[verb]?.shift();
    if (f) throw f;
  }
  #notFound(verb: string): ApiError {
    return new ApiError(404, 'NotFound', verb, '/api/v1/nodes/node-a', 'nodes "node-a" not found');
  }
  async getNode(_name: string, opts?: { resourceVersion?: string }): Promise<Node> {
    this.calls.push({ verb: 'get', at: this.now(), body: opts?.resourceVersion });
    this.#fail('get');
    if (!this.node) throw this.#notFound('get');
    return structuredClone(this.node);
  }
  async createNode(node: Node): Promise<Node> {
    this.calls.push({ verb: 'create', at: this.now(), body: structuredClone(node) });
    this.#fail('create');
    if (this.node) throw new ApiError(409, 'AlreadyExists', 'create', '/api/v1/nodes', 'nodes "node-a" already exists');
    this.node = {
      ...structuredClone(node),
      metadata: { ...structuredClone(node.metadata), uid: `uid-${++this.uid}`, resourceVersion: String(++this.rv) },
    };
    return structuredClone(this.node);
  }
  async patchNodeStatus(_name: string, patch: unknown, type: PatchType): Promise<Node> {
    this.calls.push({ verb: 'patchStatus', at: this.now(), body: structuredClone(patch) });
    this.#fail('patchStatus');
    assert.equal(type, 'strategic');
    if (!this.node) throw this.#notFound('patch');
    const status = strategicMergePatch(this.node as unknown as JsonObject, patch, nodeSchema).status;
    this.node = {
      ...this.node,
      status: status as Node['status'],
      metadata: { ...this.node.metadata, resourceVersion: String(++this.rv) },
    };
    return structuredClone(this.node);
  }
  async patchNode(_name: string, patch: unknown, type: PatchType): Promise<Node> {
    this.calls.push({ verb: 'patch', at: this.now(), body: structuredClone(patch) });
    this.#fail('patch');
    assert.equal(type, 'merge');
    if (!this.node) throw this.#notFound('patch');
    this.node = {
      ...(mergePatch(this.node as unknown as JsonObject, patch as JsonObject) as unknown as Node),
      status: this.node.status,
    };
    this.node.metadata.resourceVersion = String(++this.rv);
    return structuredClone(this.node);
  }
}

class FakeHost implements HostPort {
  machine: MachineInfo = structuredClone(machine);
  m: Measurements = { ...plenty };
  machineInfo() {
    return structuredClone(this.machine);
  }
  addresses(hostname: string, nodeIP?: string) {
    return [
      { type: 'InternalIP', address: nodeIP ?? '10.0.0.5' },
      { type: 'Hostname', address: hostname },
    ];
  }
  measure() {
    return { ...this.m };
  }
}

async function start(
  api: FakeNodeApi | undefined,
  deps: Partial<NodeStatusDeps> = {},
  health: { runtime?: RuntimeHealth; pleg?: PlegHealth } = { runtime: healthyRuntime, pleg: healthyPleg },
) {
  const bus = new Bus();
  const clock = new VirtualClock(0);
  if (api) api.now = () => clock.now();
  if (health.runtime) bus.port('runtime').publish('runtimeHealth', health.runtime);
  if (health.pleg) bus.port('pleg').publish('plegHealth', health.pleg);
  const events = collect(bus, 'events') as EventRecord[];
  const host = new FakeHost();
  const a = await startActor(nodeStatus, { api, host, config: cfg, ...deps }, { bus, clock });
  await settle();
  return {
    ...a,
    host,
    events,
    runtime: (h: RuntimeHealth) => bus.port('runtime').publish('runtimeHealth', h),
    pleg: (h: PlegHealth) => bus.port('pleg').publish('plegHealth', h),
  };
}

const verbs = (api: FakeNodeApi, from = 0) => api.calls.slice(from).map((c) => c.verb);

describe('node-status actor', () => {
  it('registers the Node (create), publishes the view, records Starting and the condition events', async () => {
    const api = new FakeNodeApi();
    const a = await start(api);
    assert.deepEqual(verbs(api), ['create', 'get']);
    const sent = api.calls[0]!.body as Node;
    assert.equal(sent.metadata.name, 'node-a');
    assert.equal(cond(sent, 'Ready')!.status, 'True');
    assert.equal(sent.status!.capacity!.memory, '24684092Ki');
    assert.equal(sent.status!.nodeInfo!.containerRuntimeVersion, 'containerd://1.6.20');
    const view = a.ctx.bus.current('node')!;
    assert.equal(view.metadata.uid, 'uid-1');
    assert.equal(view.status!.allocatable!.memory, `${24_684_092 - 102_400}Ki`);
    assert.deepEqual(
      a.events.map((e) => [e.reason, e.message]),
      [
        ['Starting', 'Starting kubelet.'],
        ['NodeHasSufficientMemory', 'Node node-a status is now: NodeHasSufficientMemory'],
        ['NodeHasNoDiskPressure', 'Node node-a status is now: NodeHasNoDiskPressure'],
        ['NodeHasSufficientPID', 'Node node-a status is now: NodeHasSufficientPID'],
      ],
    );
    assert.deepEqual(a.events[0]!.involvedObject, { kind: 'Node', name: 'node-a', uid: 'node-a', namespace: '' });
    assert.equal((a.inspect() as { state: string }).state, 'registered');
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('cadence: unchanged → a GET every 10s and a status PATCH only every 5m; changed → written within 10s', async () => {
    const api = new FakeNodeApi();
    const a = await start(api);
    const mark = api.calls.length;
    await a.clock.advanceAsync(290_000);
    assert.deepEqual(new Set(verbs(api, mark)), new Set(['get']), 'nothing but GETs for 290s');
    assert.equal(verbs(api, mark).length, 29);
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api).slice(-2), ['get', 'patchStatus'], 'the 5-minute report');
    const report = api.calls.at(-1)!;
    assert.equal(report.at, 300_000);
    const conds = (report.body as { status: { conditions: { lastHeartbeatTime: string }[] } }).status.conditions;
    assert.ok(
      conds.every((c) => c.lastHeartbeatTime === '1970-01-01T00:05:00Z'),
      'only heartbeats moved',
    );
    // a change (memory pressure) is written at the next period
    a.host.m.memoryAvailableBytes = 50 * 2 ** 20;
    await a.clock.advanceAsync(10_000);
    const w = api.calls.at(-1)!;
    assert.equal(w.verb, 'patchStatus');
    assert.equal(w.at, 310_000);
    assert.deepEqual(cond(api.node!, 'MemoryPressure'), {
      type: 'MemoryPressure',
      status: 'True',
      reason: 'KubeletHasInsufficientMemory',
      message: 'kubelet has insufficient memory available',
      lastHeartbeatTime: '1970-01-01T00:05:10Z',
      lastTransitionTime: '1970-01-01T00:05:10Z',
    });
    assert.equal(a.events.at(-1)!.reason, 'NodeHasInsufficientMemory');
    await a.clock.advanceAsync(10_000);
    assert.equal(api.calls.at(-1)!.verb, 'get', 'and not again while it stays the same');
    await a.stop();
  });

  it('a pressure stays True until its signal has been clear for the transition period (5m), then goes False once', async () => {
    const api = new FakeNodeApi();
    const a = await start(api);
    const low = 50 * 2 ** 20;
    a.host.m.memoryAvailableBytes = low;
    await a.clock.advanceAsync(10_000);
    assert.equal(cond(api.node!, 'MemoryPressure')!.status, 'True');
    const events = () => a.events.filter((e) => /Memory/.test(e.reason)).map((e) => e.reason);
    // the signal hovers around its threshold: clear, pressed again at 60s, clear from 70s
    a.host.m.memoryAvailableBytes = plenty.memoryAvailableBytes;
    await a.clock.advanceAsync(40_000);
    a.host.m.memoryAvailableBytes = low;
    await a.clock.advanceAsync(10_000);
    a.host.m.memoryAvailableBytes = plenty.memoryAvailableBytes;
    await a.clock.advanceAsync(10_000 + 280_000);
    assert.equal(a.clock.now(), 350_000);
    assert.equal(
      cond(api.node!, 'MemoryPressure')!.status,
      'True',
      'last observed at 60s: held while less than 5m ago',
    );
    assert.deepEqual(events(), ['NodeHasSufficientMemory', 'NodeHasInsufficientMemory']);
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(cond(api.node!, 'MemoryPressure'), {
      type: 'MemoryPressure',
      status: 'False',
      reason: 'KubeletHasSufficientMemory',
      message: 'kubelet has sufficient memory available',
      lastHeartbeatTime: '1970-01-01T00:06:00Z',
      lastTransitionTime: '1970-01-01T00:06:00Z',
    });
    assert.deepEqual(events(), ['NodeHasSufficientMemory', 'NodeHasInsufficientMemory', 'NodeHasSufficientMemory']);
    await a.stop();
  });

  it('a readiness change is written at once: runtime down → NotReady, back → Ready', async () => {
    const api = new FakeNodeApi();
    const a = await start(api);
    await a.clock.advanceAsync(3_000);
    a.runtime({
      ...healthyRuntime,
      ready: false,
      networkReady: false,
      reason: 'container runtime is down: connect ENOENT',
    });
    await settle();
    assert.equal(api.calls.at(-1)!.verb, 'patchStatus');
    assert.equal(api.calls.at(-1)!.at, 3_000);
    assert.deepEqual(cond(api.node!, 'Ready'), {
      type: 'Ready',
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'container runtime is down',
      lastHeartbeatTime: '1970-01-01T00:00:03Z',
      lastTransitionTime: '1970-01-01T00:00:03Z',
    });
    assert.equal(a.events.at(-1)!.reason, 'NodeNotReady');
    assert.equal(cond(a.ctx.bus.current('node')!, 'Ready')!.status, 'False', 'the view follows');
    await a.clock.advanceAsync(2_000);
    a.runtime({ ...healthyRuntime, lastOk: 5_000 });
    await settle();
    assert.equal(cond(api.node!, 'Ready')!.status, 'True');
    assert.equal(cond(api.node!, 'Ready')!.lastTransitionTime, '1970-01-01T00:00:05Z');
    assert.equal(a.events.at(-1)!.reason, 'NodeReady');
    // a republished but equal health is no reason to write
    const n = api.calls.length;
    a.runtime({ ...healthyRuntime, lastOk: 6_000 });
    a.pleg({ ...healthyPleg, lastRelist: 6_000 });
    await settle();
    assert.equal(api.calls.length, n);
    await a.stop();
  });

  it("starts NotReady before the runtime has answered, with upstream's message", async () => {
    const api = new FakeNodeApi();
    const a = await start(api, {}, {});
    assert.deepEqual(cond(api.node!, 'Ready'), {
      type: 'Ready',
      status: 'False',
      reason: 'KubeletNotReady',
      message:
        '[container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]',
      lastHeartbeatTime: '1970-01-01T00:00:00Z',
      lastTransitionTime: '1970-01-01T00:00:00Z',
    });
    assert.equal(api.node!.status!.nodeInfo!.containerRuntimeVersion, '');
    a.runtime(healthyRuntime);
    a.pleg(healthyPleg);
    await settle();
    assert.equal(cond(api.node!, 'Ready')!.status, 'True');
    assert.equal(api.node!.status!.nodeInfo!.containerRuntimeVersion, 'containerd://1.6.20');
    await a.stop();
  });

  it('409 AlreadyExists: gets the Node, reconciles the default labels (merge patch), keeps the rest, then writes the status', async () => {
    const api = new FakeNodeApi();
    api.node = {
      metadata: {
        name: 'node-a',
        uid: 'old-uid',
        resourceVersion: '1',
        labels: { 'kubernetes.io/hostname': 'stale', team: 'blue' },
      },
      spec: { taints: [{ key: 'admin', effect: 'NoSchedule' }] },
      status: {
        conditions: [
          { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', lastTransitionTime: '1969-12-31T23:00:00Z' },
        ],
      },
    } as unknown as Node;
    const a = await start(api);
    assert.deepEqual(verbs(api), ['create', 'get', 'patch', 'get', 'patchStatus']);
    assert.deepEqual((api.calls[2]!.body as { metadata: { labels: Record<string, string> } }).metadata.labels, {
      'kubernetes.io/hostname': 'node-a',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': 'amd64',
    });
    assert.equal(api.node!.metadata.labels!.team, 'blue');
    assert.equal(
      api.node!.metadata.labels!['node-role.example.com/worker'],
      undefined,
      '--node-labels apply at creation only',
    );
    assert.deepEqual(api.node!.spec!.taints, [{ key: 'admin', effect: 'NoSchedule' }]);
    assert.equal(cond(api.node!, 'Ready')!.status, 'True');
    assert.equal(cond(api.node!, 'Ready')!.lastTransitionTime, '1970-01-01T00:00:00Z');
    assert.equal(a.ctx.bus.current('node')!.metadata.uid, 'old-uid');
    assert.ok(
      a.events.some((e) => e.reason === 'NodeReady'),
      'Unknown → True is a transition',
    );
    await a.stop();
  });

  it('the Node deleted: a 404 on the GET registers it again (new uid in the view)', async () => {
    const api = new FakeNodeApi();
    const a = await start(api);
    api.node = undefined;
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api).slice(-3), ['get', 'create', 'get']);
    assert.equal(a.ctx.bus.current('node')!.metadata.uid, 'uid-2');
    assert.equal(api.calls.at(-2)!.at, 10_000);
    await a.stop();
  });

  it('the Node deleted between GET and PATCH: a 404 on the status patch registers it again', async () => {
    const api = new FakeNodeApi();
    const a = await start(api);
    api.failures.patchStatus = [
      new ApiError(404, 'NotFound', 'patch', '/api/v1/nodes/node-a/status', 'nodes "node-a" not found'),
    ];
    a.host.m.nodefsAvailableBytes = 1; // a change, so the status is patched
    await a.clock.advanceAsync(10_000);
    // (the Node is still there: the create finds it, as after any re-registration)
    assert.deepEqual(verbs(api).slice(2), ['get', 'patchStatus', 'create', 'get', 'get', 'patchStatus']);
    await a.stop();
  });

  it('API failures are states: registration backs off 200ms doubling to 7s; status updates try 5 times per period', async () => {
    const api = new FakeNodeApi();
    api.failures.create = Array.from(
      { length: 7 },
      () => new ApiError(0, 'ConnectionError', 'create', '/api/v1/nodes', 'connect ECONNREFUSED 127.0.0.1:6443'),
    );
    const a = await start(api);
    assert.match((a.inspect() as { lastError: string }).lastError, /ECONNREFUSED/);
    await a.clock.advanceAsync(40_000);
    const creates = api.calls.filter((c) => c.verb === 'create').map((c) => c.at);
    const gaps = creates.slice(1).map((t, i) => t - creates[i]!);
    assert.deepEqual(gaps, [200, 400, 800, 1600, 3200, 6400, 7000]);
    assert.ok(api.node);
    const mark = api.calls.length;
    api.failures.get = Array.from(
      { length: 5 },
      () => new ApiError(500, 'InternalError', 'get', '/api/v1/nodes/node-a', 'etcdserver: request timed out'),
    );
    await a.clock.advanceAsync(10_000);
    assert.deepEqual(verbs(api, mark), ['get', 'get', 'get', 'get', 'get']);
    assert.deepEqual(
      api.calls.slice(mark).map((c) => c.body),
      ['0', undefined, undefined, undefined, undefined],
      'the first try reads from the apiserver cache (resourceVersion=0), the retries are quorum reads',
    );
    assert.match((a.inspect() as { lastError: string }).lastError, /etcdserver/);
    await a.clock.advanceAsync(10_000);
    assert.equal(api.calls.at(-1)!.verb, 'get');
    assert.deepEqual(a.crashes, []);
    await a.stop();
  });

  it('--register-node=false: never creates; waits for the Node, then writes its status', async () => {
    const api = new FakeNodeApi();
    const a = await start(api, { registerNode: false });
    await a.clock.advanceAsync(20_000);
    assert.ok(!verbs(api).includes('create'));
    api.node = { metadata: { name: 'node-a', uid: 'made-by-admin' } } as unknown as Node;
    await a.clock.advanceAsync(10_000);
    assert.equal(cond(api.node!, 'Ready')!.status, 'True');
    assert.equal(a.ctx.bus.current('node')!.metadata.uid, 'made-by-admin');
    await a.stop();
  });

  it('node.syncStatus writes a change now; --node-ip is the InternalIP', async () => {
    const api = new FakeNodeApi();
    const a = await start(api, { nodeIP: '192.0.2.50' });
    assert.deepEqual(api.node!.status!.addresses, [
      { type: 'InternalIP', address: '192.0.2.50' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    a.host.machine.memoryCapacityBytes = 32 * GiB;
    a.bus.port('spec').send('nodeControl', { type: 'node.syncStatus' });
    await settle();
    assert.equal(api.node!.status!.capacity!.memory, '32Gi');
    await a.stop();
  });

  it('standalone: no API, the Node is computed and published as the view', async () => {
    const a = await start(undefined);
    const v = a.ctx.bus.current('node')!;
    assert.equal(v.metadata.name, 'node-a');
    assert.equal(cond(v, 'Ready')!.status, 'True');
    assert.equal(a.events.length, 0, 'no Starting event without an API');
    assert.equal((a.inspect() as { state: string }).state, 'standalone');
    await a.stop();
  });
});
