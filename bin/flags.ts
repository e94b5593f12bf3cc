/**
 * Command-line flags, with upstream kubelet's names and pflag conventions: `--name=value`,
 * `--name value`, `-v=4` / `-v 4` / `--v=4`, booleans as `--name` or `--name=false`, Go
 * durations (`20s`, `1m30s`, `500ms`). Unknown flags and bad values are errors that name the
 * flag, so a typo in a systemd unit fails loudly instead of being ignored.
 */
import { isIP } from 'node:net';

export interface KubeletFlags {
  /** --config: a KubeletConfiguration file (bin/config-file.ts); flags given override it. */
  config: string | undefined;
  podManifestPath: string | undefined;
  containerRuntimeEndpoint: string;
  rootDir: string;
  hostnameOverride: string | undefined;
  verbosity: number;
  fileCheckFrequencyMs: number;
  syncFrequencyMs: number;
  runtimeRequestTimeoutMs: number;
  podLogsDir: string;
  record: string | undefined;
  recordMaxBytes: number;
  help: boolean;
  /** --version: print the Kubernetes version this kubelet follows and kubelet-ts's own, then exit. */
  version: boolean;
  // joining a cluster (node-status, node-lease, events): all unused without --kubeconfig
  kubeconfig: string | undefined;
  /** --bootstrap-kubeconfig: only needed when --kubeconfig's file is missing (TLS bootstrap is not implemented yet). */
  bootstrapKubeconfig: string | undefined;
  nodeIp: string | undefined;
  nodeLabels: Record<string, string>;
  registerNode: boolean;
  nodeStatusUpdateFrequencyMs: number;
  nodeStatusReportFrequencyMs: number;
  maxPods: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  eventQps: number;
  eventBurst: number;
  kubeReserved: Record<string, string>;
  systemReserved: Record<string, string>;
  /** Signal → threshold ("100Mi", "10%"); upstream's Linux defaults unless --eviction-hard is given. */
  evictionHard: Record<string, string>;
  /** How long a pressure condition stays True after its signal cleared (upstream evictionPressureTransitionPeriod). */
  evictionPressureTransitionPeriodMs: number;
  // manifest URL source (pod-source-http)
  manifestUrl: string | undefined;
  /** Header name → values, in the order given; repeated flags add to it. */
  manifestUrlHeader: Record<string, string[]>;
  httpCheckFrequencyMs: number;
  // pod DNS (actors/runtime/dns.ts)
  /** --cluster-dns: the cluster DNS servers (ClusterFirst pods' only nameservers), IPv4 and/or IPv6. */
  clusterDns: string[];
  /** --cluster-domain: the cluster's DNS domain ("" for none). */
  clusterDomain: string;
  /** --resolv-conf: the resolver file pod DNS starts from; "" for none. */
  resolvConf: string;
  // the kubelet's HTTP listeners (actors/server)
  /** --healthz-port: the healthz listener's port; 0 disables it. */
  healthzPort: number;
  /** --healthz-bind-address: where the healthz listener listens. */
  healthzBindAddress: string;
  /** --read-only-port: the unauthenticated read-only port; 0 (the default) disables it. */
  readOnlyPort: number;
  /** --address: where the read-only port listens. */
  address: string;
  /**
   * The config file's configMapAndSecretChangeDetectionStrategy (no flag upstream): how the
   * ConfigMap and Secret managers follow changes (adapters/kube/config-data.ts).
   */
  configMapAndSecretChangeDetectionStrategy: 'Watch' | 'Cache' | 'Get';
}

/**
 * `map`: key=value,key=value (pflag mapStringString); `thresholds`: signal<value,signal<value;
 * `multimap`: key:value,key:value, repeatable, values accumulate (ColonSeparatedMultimapStringString);
 * `list`: a,b,c, repeatable, values accumulate (pflag StringSlice).
 */
type Kind = 'string' | 'int' | 'duration' | 'bool' | 'map' | 'thresholds' | 'multimap' | 'list';

interface FlagDef {
  name: string;
  short?: string;
  kind: Kind;
  key: keyof KubeletFlags;
  help: string;
}

export const FLAGS: readonly FlagDef[] = [
  { name: 'config', kind: 'string', key: 'config', help: 'KubeletConfiguration file (kubelet.config.k8s.io/v1beta1, YAML or JSON). Flags given on the command line override its values.' },
  { name: 'pod-manifest-path', kind: 'string', key: 'podManifestPath', help: 'Directory of static pod manifests (one pod per YAML or JSON file).' },
  { name: 'container-runtime-endpoint', kind: 'string', key: 'containerRuntimeEndpoint', help: 'CRI endpoint (unix socket). Default unix:///run/containerd/containerd.sock.' },
  { name: 'root-dir', kind: 'string', key: 'rootDir', help: 'Directory for kubelet files (debug socket, pod dirs). Default /var/lib/kubelet.' },
  { name: 'hostname-override', kind: 'string', key: 'hostnameOverride', help: 'Node name to use instead of the hostname.' },
  { name: 'v', short: 'v', kind: 'int', key: 'verbosity', help: 'Log verbosity (0-10).' },
  { name: 'file-check-frequency', kind: 'duration', key: 'fileCheckFrequencyMs', help: 'How often the static pod directory is re-listed. Default 20s.' },
  { name: 'sync-frequency', kind: 'duration', key: 'syncFrequencyMs', help: 'Max period between syncs of a running pod. Default 1m.' },
  { name: 'runtime-request-timeout', kind: 'duration', key: 'runtimeRequestTimeoutMs', help: 'Deadline of each CRI call. Default 2m.' },
  { name: 'pod-logs-dir', kind: 'string', key: 'podLogsDir', help: 'Where container logs go. Default /var/log/pods.' },
  { name: 'record', kind: 'string', key: 'record', help: 'Record the session (syncLoop inputs, CRI calls and answers) as JSON lines to this file.' },
  { name: 'record-max-bytes', kind: 'int', key: 'recordMaxBytes', help: 'Rotate the recording at this size (FILE.1 .. FILE.3 kept). Default 67108864.' },
  { name: 'help', short: 'h', kind: 'bool', key: 'help', help: 'Show this help.' },
  { name: 'version', kind: 'bool', key: 'version', help: 'Print the Kubernetes version (Kubernetes vX.Y.Z) and kubelet-ts\'s own version, then exit.' },
  { name: 'kubeconfig', kind: 'string', key: 'kubeconfig', help: 'Kubeconfig of the API server to join (register the Node, heartbeat, events). Without it the kubelet runs standalone.' },
  { name: 'bootstrap-kubeconfig', kind: 'string', key: 'bootstrapKubeconfig', help: 'Kubeconfig for TLS bootstrap. Not needed (as upstream) when the --kubeconfig file exists; kubelet-ts does not implement TLS bootstrap yet, so it exits 1 when that file is missing.' },
  { name: 'node-ip', kind: 'string', key: 'nodeIp', help: 'IP address reported as the Node\'s InternalIP. Default: the IPv4 of the default route\'s interface.' },
  { name: 'node-labels', kind: 'map', key: 'nodeLabels', help: 'Labels added when registering the Node (key=value,...); kubernetes.io/k8s.io keys only from the allowed set or under kubelet.kubernetes.io / node.kubernetes.io.' },
  { name: 'register-node', kind: 'bool', key: 'registerNode', help: 'Register the Node with the API server. Default true.' },
  { name: 'node-status-update-frequency', kind: 'duration', key: 'nodeStatusUpdateFrequencyMs', help: 'How often the Node status is computed, and written when it changed. Default 10s.' },
  { name: 'node-status-report-frequency', kind: 'duration', key: 'nodeStatusReportFrequencyMs', help: 'How often the Node status is written when it did not change. Default 5m.' },
  { name: 'max-pods', kind: 'int', key: 'maxPods', help: 'Pods this node can run (capacity "pods"). Default 110.' },
  { name: 'kube-api-qps', kind: 'int', key: 'kubeApiQps', help: 'Requests per second to the API server (client-side limit). Default 50.' },
  { name: 'kube-api-burst', kind: 'int', key: 'kubeApiBurst', help: 'Burst of requests to the API server. Default 100.' },
  { name: 'event-qps', kind: 'int', key: 'eventQps', help: 'Event writes per second; 0 for no limit. Default 50.' },
  { name: 'event-burst', kind: 'int', key: 'eventBurst', help: 'Burst of event writes. Default 100.' },
  { name: 'kube-reserved', kind: 'map', key: 'kubeReserved', help: 'Resources reserved for Kubernetes daemons, subtracted from allocatable (cpu=100m,memory=256Mi,ephemeral-storage=1Gi).' },
  { name: 'system-reserved', kind: 'map', key: 'systemReserved', help: 'Resources reserved for the OS, subtracted from allocatable (cpu=100m,memory=256Mi).' },
  { name: 'manifest-url', kind: 'string', key: 'manifestUrl', help: 'URL of static pods: a Pod or a v1 PodList (YAML or JSON), fetched every --http-check-frequency.' },
  { name: 'manifest-url-header', kind: 'multimap', key: 'manifestUrlHeader', help: "HTTP headers for --manifest-url, as 'a:hello,b:again,c:world'; repeatable, values of the same name are all sent in order." },
  { name: 'http-check-frequency', kind: 'duration', key: 'httpCheckFrequencyMs', help: 'How often --manifest-url is fetched. Default 20s.' },
  { name: 'eviction-pressure-transition-period', kind: 'duration', key: 'evictionPressureTransitionPeriodMs', help: 'How long a pressure condition stays True after its eviction signal cleared. Default 5m.' },
  { name: 'cluster-dns', kind: 'list', key: 'clusterDns', help: 'Comma-separated DNS server IPs (repeatable). ClusterFirst pods get these as their only nameservers, with the cluster search path and ndots:5; without any, they fall back to the Default policy (a MissingClusterDNS event). Entries that are not IPs are skipped with a warning.' },
  { name: 'cluster-domain', kind: 'string', key: 'clusterDomain', help: 'The cluster\'s DNS domain (e.g. cluster.local): the search path <ns>.svc.<domain> svc.<domain> <domain>, and pods\' FQDNs.' },
  { name: 'resolv-conf', kind: 'string', key: 'resolvConf', help: 'Resolver file pod DNS starts from (the Default policy\'s, and the host searches of ClusterFirst). "" for none. Default /etc/resolv.conf.' },
  { name: 'healthz-port', kind: 'int', key: 'healthzPort', help: 'Port of the localhost healthz endpoint (/healthz, /healthz/ping); 0 disables it. Default 10248.' },
  { name: 'healthz-bind-address', kind: 'string', key: 'healthzBindAddress', help: 'IP address the healthz server listens on. Default 127.0.0.1.' },
  { name: 'read-only-port', kind: 'int', key: 'readOnlyPort', help: 'Port of the read-only server, without authentication (/healthz, /pods, /metrics); 0 disables it. Default 0.' },
  { name: 'address', kind: 'string', key: 'address', help: 'IP address the read-only server listens on. Default 0.0.0.0.' },
  { name: 'eviction-hard', kind: 'thresholds', key: 'evictionHard', help: 'Hard eviction thresholds (memory.available<100Mi,nodefs.available<10%,...); replaces the defaults when given.' },
];

export const DEFAULT_FLAGS: KubeletFlags = {
  config: undefined,
  podManifestPath: undefined,
  containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
  rootDir: '/var/lib/kubelet',
  hostnameOverride: undefined,
  verbosity: 0,
  fileCheckFrequencyMs: 20_000,
  syncFrequencyMs: 60_000,
  runtimeRequestTimeoutMs: 120_000,
  podLogsDir: '/var/log/pods',
  record: undefined,
  recordMaxBytes: 64 * 1024 * 1024,
  help: false,
  version: false,
  kubeconfig: undefined,
  bootstrapKubeconfig: undefined,
  nodeIp: undefined,
  nodeLabels: {},
  registerNode: true,
  nodeStatusUpdateFrequencyMs: 10_000,
  nodeStatusReportFrequencyMs: 300_000,
  maxPods: 110,
  kubeApiQps: 50,
  kubeApiBurst: 100,
  eventQps: 50,
  eventBurst: 100,
  kubeReserved: {},
  systemReserved: {},
  evictionPressureTransitionPeriodMs: 300_000,
  evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '10%', 'nodefs.inodesFree': '5%', 'imagefs.available': '15%' },
  manifestUrl: undefined,
  manifestUrlHeader: {},
  httpCheckFrequencyMs: 20_000,
  clusterDns: [],
  clusterDomain: '',
  resolvConf: '/etc/resolv.conf',
  healthzPort: 10248,
  healthzBindAddress: '127.0.0.1',
  readOnlyPort: 0,
  address: '0.0.0.0',
  configMapAndSecretChangeDetectionStrategy: 'Watch',
};

export class FlagError extends Error {
  override name = 'FlagError';
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== s.length) throw new FlagError(`invalid duration "${text}" (use e.g. 20s, 1m30s, 500ms)`);
  return total;
}

/** key=value pairs (pflag mapStringString), or signal<value pairs for eviction thresholds. */
function parsePairs(def: FlagDef, raw: string, sep: '=' | '<'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf(sep);
    if (i <= 0) throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: "${part}" is not ${sep === '=' ? 'key=value' : 'signal<quantity'}`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

const QUANTITY_RE = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$/;

/** Upstream's --node-labels rule (validateKubeletLabels): kubernetes.io / k8s.io keys only from the kubelet's set. */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname', 'topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region', 'node.kubernetes.io/instance-type', 'beta.kubernetes.io/instance-type', 'kubernetes.io/os',
  'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch',
]);
function forbiddenNodeLabels(labels: Record<string, string>): string[] {
  return Object.keys(labels).filter((k) => {
    const ns = k.includes('/') ? k.slice(0, k.indexOf('/')) : '';
    const kube = ns === 'kubernetes.io' || ns.endsWith('.kubernetes.io') || ns === 'k8s.io' || ns.endsWith('.k8s.io');
    const allowed = KUBELET_LABELS.has(k) || ['kubelet.kubernetes.io', 'node.kubernetes.io'].some((p) => ns === p || ns.endsWith(`.${p}`));
    return kube && !allowed;
  }).sort();
}

/** `a:hello,b:again` → {a: [hello], b: [again]}, appended to `into` (a repeated flag adds values). */
function parseMultimap(def: FlagDef, raw: string, into: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(Object.entries(into).map(([k, v]) => [k, [...v]]));
  for (const part of raw.split(',').filter((p) => p.trim() !== '')) {
    const i = part.indexOf(':');
    if (i < 0) throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: malformed pair "${part}", expect string:string`);
    const k = part.slice(0, i).trim();
    (out[k] ??= []).push(part.slice(i + 1).trim());
  }
  return out;
}

function convert(def: FlagDef, raw: string, prev: unknown): string | number | boolean | string[] | Record<string, string> | Record<string, string[]> {
  switch (def.kind) {
    case 'list':
      // pflag StringSlice: comma-separated; a repeated flag appends; "" is the empty list
      return [...(Array.isArray(prev) ? prev as string[] : []), ...(raw === '' ? [] : raw.split(','))];
    case 'multimap':
      return parseMultimap(def, raw, prev as Record<string, string[]>);
    case 'map':
      // a repeated map flag adds to the pairs before it (pflag MapStringString)
      return { ...(prev as Record<string, string>), ...parsePairs(def, raw, '=') };
    case 'thresholds': {
      const t = { ...(prev as Record<string, string>), ...parsePairs(def, raw, '<') };
      for (const [signal, v] of Object.entries(t)) {
        if (!/^\d+(\.\d+)?%$/.test(v) && !QUANTITY_RE.test(v)) throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: ${signal}: "${v}" is neither a quantity nor a percentage`);
      }
      return t;
    }
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: not an integer`);
      return Number(raw);
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (e) {
        throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: ${(e as Error).message}`);
      }
    case 'bool':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: not a boolean`);
  }
}

/**
 * The flags in `argv` over `base` (the defaults, or the defaults overlaid with a --config file,
 * as upstream re-parses the command line over the loaded KubeletConfiguration). A repeatable
 * flag's first occurrence replaces the base's value, later ones add to it (pflag's map values).
 */
export function parseFlags(argv: readonly string[], base: KubeletFlags = DEFAULT_FLAGS): KubeletFlags {
  const out: Record<string, unknown> = { ...base };
  const seen = new Set<keyof KubeletFlags>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^(--?)([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(`unexpected argument "${arg}": kubelet-ts takes flags only`);
    const [, dashes, name, inline] = m;
    const def = dashes === '--' ? FLAGS.find((f) => f.name === name) : FLAGS.find((f) => f.short === name);
    if (!def) throw new FlagError(`unknown flag: ${arg.split('=')[0]}`);
    let raw = inline;
    if (raw === undefined) {
      if (def.kind === 'bool') raw = 'true';
      else {
        raw = argv[++i];
        if (raw === undefined) throw new FlagError(`flag needs an argument: --${def.name}`);
      }
    }
    out[def.key] = convert(def, raw, seen.has(def.key) ? out[def.key] : {});
    seen.add(def.key);
  }
  const flags = out as unknown as KubeletFlags;
  if (flags.verbosity < 0 || flags.verbosity > 10) throw new FlagError(`invalid argument "${flags.verbosity}" for "--v" flag: must be 0..10`);
  if (flags.fileCheckFrequencyMs <= 0) throw new FlagError('--file-check-frequency must be positive');
  if (flags.httpCheckFrequencyMs <= 0) throw new FlagError('--http-check-frequency must be positive');
  if (flags.manifestUrl !== undefined && !/^https?:\/\/[^/]/i.test(flags.manifestUrl)) {
    throw new FlagError(`invalid argument "${flags.manifestUrl}" for "--manifest-url" flag: expected an http:// or https:// URL`);
  }
  if (flags.syncFrequencyMs <= 0) throw new FlagError('--sync-frequency must be positive');
  if (flags.runtimeRequestTimeoutMs <= 0) throw new FlagError('--runtime-request-timeout must be positive');
  if (flags.nodeStatusUpdateFrequencyMs <= 0) throw new FlagError('--node-status-update-frequency must be positive');
  if (flags.nodeStatusReportFrequencyMs <= 0) throw new FlagError('--node-status-report-frequency must be positive');
  if (flags.maxPods <= 0) throw new FlagError('--max-pods must be positive');
  // upstream ValidateKubeletConfiguration: ports in 0..65535 (0 disables), addresses are IPs
  for (const [name, port] of [['healthz-port', flags.healthzPort], ['read-only-port', flags.readOnlyPort]] as const) {
    if (port < 0 || port > 65535) throw new FlagError(`invalid argument "${port}" for "--${name}" flag: must be between 0 and 65535, inclusive`);
  }
  for (const [name, ip] of [['healthz-bind-address', flags.healthzBindAddress], ['address', flags.address]] as const) {
    if (isIP(ip) === 0) throw new FlagError(`invalid argument "${ip}" for "--${name}" flag: not an IP address`);
  }
  if (flags.kubeApiBurst <= 0 || flags.eventBurst < 0) throw new FlagError('--kube-api-burst must be positive and --event-burst not negative');
  for (const [name, m] of [['kube-reserved', flags.kubeReserved], ['system-reserved', flags.systemReserved]] as const) {
    for (const [r, q] of Object.entries(m)) {
      if (!QUANTITY_RE.test(q)) throw new FlagError(`invalid argument for "--${name}" flag: ${r}=${q}: not a quantity`);
    }
  }
  const badLabels = forbiddenNodeLabels(flags.nodeLabels);
  if (badLabels.length) {
    throw new FlagError(`unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [${badLabels.join(' ')}]\n`
      + "--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io) or be in the specifically allowed set");
  }
  return flags;
}

export function usage(): string {
  const lines = ['Usage: kubelet-ts [flags]', '       kubelet-ts inspect ...   (a running daemon\'s debug socket)', '       kubelet-ts replay FILE   (replay a recorded session)', '', 'Flags:'];
  for (const f of FLAGS) {
    const names = (f.short && f.short !== f.name ? `-${f.short}, ` : '    ') + `--${f.name}`;
    const kind = f.kind === 'bool' ? '' : ` ${f.kind}`;
    lines.push(`  ${(names + kind).padEnd(40)} ${f.help}`);
  }
  return lines.join('\n');
}
