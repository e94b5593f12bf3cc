/**
 * Command-line flags, with upstream kubelet's names and pflag conventions: `--name=value`,
 * `--name value`, `-v=4` / `-v 4` / `--v=4`, booleans as `--name` or `--name=false`, Go
 * durations (`20s`, `1m30s`, `500ms`). Unknown flags and bad values are errors that name the
 * flag, so a typo in a systemd unit fails loudly instead of being ignored.
 */
import { isIP } from 'node:net';
import type { Taint } from '../protocols/kube/api.ts';
import { isQualifiedName, isValidLabelValue } from '../protocols/kube/validation.ts';
import { newSysctlAllowlist } from '../protocols/kube/security.ts';
import { CIPHER_SUITES, TLS_VERSIONS } from '../actors/server/tls.ts';
import { errText, parseVModule } from '../kernel/log.ts';

export interface KubeletFlags {
  /** --config: a KubeletConfiguration file (bin/config-file.ts); flags given override it. */
  config: string | undefined;
  podManifestPath: string | undefined;
  containerRuntimeEndpoint: string;
  rootDir: string;
  hostnameOverride: string | undefined;
  verbosity: number;
  /** --logging-format / logging.format: text (klog's) or json (logs/json's). */
  loggingFormat: string;
  /** --vmodule / logging.vmodule: pattern=N,... (kernel/log.ts parseVModule). */
  vmodule: string;
  /** --log-text-split-stream / logging.options.text.splitStream: info to stdout, errors to stderr. */
  logTextSplitStream: boolean;
  /** logging.options.json.splitStream (upstream's --log-json-split-stream is not a kubelet v1.35 flag). */
  logJsonSplitStream: boolean;
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
  /** --bootstrap-kubeconfig: the credentials TLS bootstrap uses when --kubeconfig's file is missing or its certificate expired. */
  bootstrapKubeconfig: string | undefined;
  /** --cert-dir: where the client (and serving) pairs live; default <root-dir>/pki (certDirOf). */
  certDir: string | undefined;
  /** --rotate-certificates / rotateCertificates: renew the client certificate before it expires. */
  rotateCertificates: boolean;
  /** --rotate-server-certificates / serverTLSBootstrap: the serving pair from the kubelet-serving signer. */
  serverTlsBootstrap: boolean;
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
  // node registration (actors/node-status)
  /** --provider-id / providerID: spec.providerID of the registered Node ("" for none). */
  providerId: string;
  /** --register-with-taints / registerWithTaints: taints of the Node when it registers. */
  registerWithTaints: Taint[];
  /** --cloud-provider: "" or "external" (upstream 1.35 has no in-tree providers): external registers with the uninitialized taint. */
  cloudProvider: string;
  /** --runonce / runOnce: run the static pods once, print their statuses and exit (bin/runonce.ts). */
  runOnce: boolean;
  /**
   * Upstream flags kubelet-ts accepts, type-checks and ignores, by flag name (`--cgroup-driver`)
   * → the value given; main.ts warns once about each (bin/parity.ts has the table).
   */
  unsupported: Record<string, unknown>;
  // security (actors/runtime/cri-config.ts, protocols/kube/security.ts)
  /** --seccomp-default: RuntimeDefault for every container without a seccomp profile. */
  seccompDefault: boolean;
  /** --allowed-unsafe-sysctls: names or `prefix*` patterns pods may set beyond the safe set. */
  allowedUnsafeSysctls: string[];
  // pod cgroups (actors/container-manager)
  /** --cgroup-driver: cgroupfs or systemd (the runtime must use the same). */
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** --cgroup-root: where kubepods goes ("/"; a slice with the systemd driver). */
  cgroupRoot: string;
  /** --cgroups-per-qos: the kubepods / burstable / besteffort / pod<uid> hierarchy. */
  cgroupsPerQos: boolean;
  /** --enforce-node-allocatable: `pods` limits kubepods to the node allocatable; [] for none. */
  enforceNodeAllocatable: string[];
  // image garbage collection (actors/image-gc)
  imageGcHighThresholdPercent: number;
  imageGcLowThresholdPercent: number;
  imageMinimumGcAgeMs: number;
  /** 0: images are never removed for their age alone. */
  imageMaximumGcAgeMs: number;
  /** --pod-infra-container-image (deprecated; undefined when not given): the sandbox image, never removed by image GC (upstream's only use of it now; default SANDBOX_IMAGE). */
  podInfraContainerImage: string | undefined;
  // graceful node shutdown (actors/node-shutdown): 0 disables it
  /** shutdownGracePeriod: how long the node shutdown is delayed (logind inhibitor) while pods are terminated. */
  shutdownGracePeriodMs: number;
  /** shutdownGracePeriodCriticalPods: the part of shutdownGracePeriod kept for critical pods. */
  shutdownGracePeriodCriticalPodsMs: number;
  // the HTTPS port (actors/server): 10250 with authentication and authorization
  /** --enable-server: serve the HTTPS port. */
  enableServer: boolean;
  /** --port: the HTTPS port (1..65535). */
  port: number;
  /** --tls-cert-file / --tls-private-key-file: the serving pair; neither: a self-signed one in certDir. */
  tlsCertFile: string | undefined;
  tlsPrivateKeyFile: string | undefined;
  /** --tls-min-version: Go's name (VersionTLS12, ...); undefined: TLS 1.2, Go's server default. */
  tlsMinVersion: string | undefined;
  /** --tls-cipher-suites: Go's names; empty: the defaults. */
  tlsCipherSuites: string[];
  /** --client-ca-file: verify client certificates against this bundle (x509 authentication). */
  clientCaFile: string | undefined;
  /** --anonymous-auth: requests without credentials are system:anonymous (else 401). */
  anonymousAuth: boolean;
  /** --authentication-token-webhook: bearer tokens through the API's TokenReview. */
  authenticationTokenWebhook: boolean;
  authenticationTokenWebhookCacheTtlMs: number;
  /** --authorization-mode: AlwaysAllow or Webhook (SubjectAccessReview). */
  authorizationMode: string;
  authorizationWebhookCacheAuthorizedTtlMs: number;
  authorizationWebhookCacheUnauthorizedTtlMs: number;
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
type Kind =
  | 'string'
  | 'int'
  | 'duration'
  | 'bool'
  | 'map'
  | 'thresholds'
  | 'multimap'
  | 'list'
  | 'taints'
  | 'mapbool'
  | 'quantity'
  | 'ip';

interface FlagDef {
  name: string;
  short?: string;
  kind: Kind;
  /** Where the value goes; an unsupported flag's goes to `unsupported[--name]`. */
  key: keyof KubeletFlags;
  help: string;
  /** The KubeletConfiguration v1beta1 field the flag sets (dotted for nested ones), as upstream's flag binds it. */
  field?: string;
  /** Deprecated upstream: printed once when given (pflag's "Flag --x has been deprecated, ..."). */
  deprecated?: string;
}

/** An upstream flag kubelet-ts accepts and type-checks but does not implement. */
interface UnsupportedFlag {
  name: string;
  kind: Kind;
  field?: string;
  /** Values upstream accepts (validated as upstream would), when it is an enumeration. */
  oneOf?: readonly string[];
  deprecated?: string;
}

export const FLAGS: readonly FlagDef[] = [
  {
    name: 'config',
    kind: 'string',
    key: 'config',
    help: 'KubeletConfiguration file (kubelet.config.k8s.io/v1beta1, YAML or JSON). Flags given on the command line override its values.',
  },
  {
    name: 'pod-manifest-path',
    kind: 'string',
    key: 'podManifestPath',
    field: 'staticPodPath',
    help: 'Directory of static pod manifests (one pod per YAML or JSON file).',
  },
  {
    name: 'container-runtime-endpoint',
    kind: 'string',
    key: 'containerRuntimeEndpoint',
    field: 'containerRuntimeEndpoint',
    help: 'CRI endpoint (unix socket). Default unix:///run/containerd/containerd.sock.',
  },
  {
    name: 'root-dir',
    kind: 'string',
    key: 'rootDir',
    help: 'Directory for kubelet files (debug socket, pod dirs). Default /var/lib/kubelet.',
  },
  {
    name: 'hostname-override',
    kind: 'string',
    key: 'hostnameOverride',
    help: 'Node name to use instead of the hostname.',
  },
  { name: 'v', short: 'v', kind: 'int', key: 'verbosity', field: 'logging.verbosity', help: 'Log verbosity (0-10).' },
  {
    name: 'logging-format',
    kind: 'string',
    key: 'loggingFormat',
    field: 'logging.format',
    help: 'Sets the log format: "text" (klog\'s, the default) or "json".',
  },
  {
    name: 'vmodule',
    kind: 'string',
    key: 'vmodule',
    field: 'logging.vmodule',
    help: 'pattern=N,...: verbosity N for the loggers whose name (actor id, actor.child) matches the glob pattern.',
  },
  {
    name: 'log-text-split-stream',
    kind: 'bool',
    key: 'logTextSplitStream',
    field: 'logging.options.text.splitStream',
    help: 'In text format, write error messages to stderr and info messages to stdout. The default is a single stream, stderr.',
  },
  {
    name: 'file-check-frequency',
    kind: 'duration',
    key: 'fileCheckFrequencyMs',
    field: 'fileCheckFrequency',
    help: 'How often the static pod directory is re-listed. Default 20s.',
  },
  {
    name: 'sync-frequency',
    kind: 'duration',
    key: 'syncFrequencyMs',
    field: 'syncFrequency',
    help: 'Max period between syncs of a running pod. Default 1m.',
  },
  {
    name: 'runtime-request-timeout',
    kind: 'duration',
    key: 'runtimeRequestTimeoutMs',
    field: 'runtimeRequestTimeout',
    help: 'Deadline of each CRI call. Default 2m.',
  },
  {
    name: 'pod-logs-dir',
    kind: 'string',
    key: 'podLogsDir',
    field: 'podLogsDir',
    help: 'Where container logs go. Default /var/log/pods.',
  },
  {
    name: 'record',
    kind: 'string',
    key: 'record',
    help: 'Record the session (syncLoop inputs, CRI calls and answers) as JSON lines to this file.',
  },
  {
    name: 'record-max-bytes',
    kind: 'int',
    key: 'recordMaxBytes',
    help: 'Rotate the recording at this size (FILE.1 .. FILE.3 kept). Default 67108864.',
  },
  { name: 'help', short: 'h', kind: 'bool', key: 'help', help: 'Show this help.' },
  {
    name: 'version',
    kind: 'bool',
    key: 'version',
    help: "Print the Kubernetes version (Kubernetes vX.Y.Z) and kubelet-ts's own version, then exit.",
  },
  {
    name: 'kubeconfig',
    kind: 'string',
    key: 'kubeconfig',
    help: 'Kubeconfig of the API server to join (register the Node, heartbeat, events). Without it the kubelet runs standalone.',
  },
  {
    name: 'bootstrap-kubeconfig',
    kind: 'string',
    key: 'bootstrapKubeconfig',
    help: 'Kubeconfig for TLS bootstrap: when the --kubeconfig file is missing (or its client certificate expired), a client certificate is requested with these credentials (a CertificateSigningRequest for system:node:<name>), written to --cert-dir, and --kubeconfig is written pointing at it.',
  },
  {
    name: 'cert-dir',
    kind: 'string',
    key: 'certDir',
    help: 'Directory of the TLS pairs: kubelet-client-current.pem and the dated files behind it, kubelet-server-current.pem, and the self-signed serving pair (kubelet.crt, kubelet.key) when no other is given. Default <root-dir>/pki.',
  },
  {
    name: 'rotate-certificates',
    kind: 'bool',
    key: 'rotateCertificates',
    field: 'rotateCertificates',
    help: 'Request a new client certificate at a jittered 70-90% of its lifetime and switch to it without a restart. Default false.',
  },
  {
    name: 'rotate-server-certificates',
    kind: 'bool',
    key: 'serverTlsBootstrap',
    field: 'serverTLSBootstrap',
    help: 'Request the serving certificate (kubelet-server-current.pem) from the kubelet-serving signer and renew it before it expires (serverTLSBootstrap). Default false.',
  },
  {
    name: 'node-ip',
    kind: 'string',
    key: 'nodeIp',
    help: "IP address, or an IPv4,IPv6 dual-stack pair, reported as the Node's InternalIP(s) (the first is the pods' hostIP). Default: the IPv4 of the default route's interface.",
  },
  {
    name: 'node-labels',
    kind: 'map',
    key: 'nodeLabels',
    help: 'Labels added when registering the Node (key=value,...); kubernetes.io/k8s.io keys only from the allowed set or under kubelet.kubernetes.io / node.kubernetes.io.',
  },
  {
    name: 'register-node',
    kind: 'bool',
    key: 'registerNode',
    field: 'registerNode',
    help: 'Register the Node with the API server. Default true.',
  },
  {
    name: 'node-status-update-frequency',
    kind: 'duration',
    key: 'nodeStatusUpdateFrequencyMs',
    field: 'nodeStatusUpdateFrequency',
    help: 'How often the Node status is computed, and written when it changed. Default 10s.',
  },
  {
    name: 'node-status-report-frequency',
    kind: 'duration',
    key: 'nodeStatusReportFrequencyMs',
    field: 'nodeStatusReportFrequency',
    help: 'How often the Node status is written when it did not change. Default 5m.',
  },
  {
    name: 'max-pods',
    kind: 'int',
    key: 'maxPods',
    field: 'maxPods',
    help: 'Pods this node can run (capacity "pods"). Default 110.',
  },
  {
    name: 'kube-api-qps',
    kind: 'int',
    key: 'kubeApiQps',
    field: 'kubeAPIQPS',
    help: 'Requests per second to the API server (client-side limit). Default 50.',
  },
  {
    name: 'kube-api-burst',
    kind: 'int',
    key: 'kubeApiBurst',
    field: 'kubeAPIBurst',
    help: 'Burst of requests to the API server. Default 100.',
  },
  {
    name: 'event-qps',
    kind: 'int',
    key: 'eventQps',
    field: 'eventRecordQPS',
    help: 'Event writes per second; 0 for no limit. Default 50.',
  },
  {
    name: 'event-burst',
    kind: 'int',
    key: 'eventBurst',
    field: 'eventBurst',
    help: 'Burst of event writes. Default 100.',
  },
  {
    name: 'kube-reserved',
    kind: 'map',
    key: 'kubeReserved',
    field: 'kubeReserved',
    help: 'Resources reserved for Kubernetes daemons, subtracted from allocatable (cpu=100m,memory=256Mi,ephemeral-storage=1Gi).',
  },
  {
    name: 'system-reserved',
    kind: 'map',
    key: 'systemReserved',
    field: 'systemReserved',
    help: 'Resources reserved for the OS, subtracted from allocatable (cpu=100m,memory=256Mi).',
  },
  {
    name: 'manifest-url',
    kind: 'string',
    key: 'manifestUrl',
    field: 'staticPodURL',
    help: 'URL of static pods: a Pod or a v1 PodList (YAML or JSON), fetched every --http-check-frequency.',
  },
  {
    name: 'manifest-url-header',
    kind: 'multimap',
    key: 'manifestUrlHeader',
    field: 'staticPodURLHeader',
    help: "HTTP headers for --manifest-url, as 'a:hello,b:again,c:world'; repeatable, values of the same name are all sent in order.",
  },
  {
    name: 'http-check-frequency',
    kind: 'duration',
    key: 'httpCheckFrequencyMs',
    field: 'httpCheckFrequency',
    help: 'How often --manifest-url is fetched. Default 20s.',
  },
  {
    name: 'eviction-pressure-transition-period',
    kind: 'duration',
    key: 'evictionPressureTransitionPeriodMs',
    field: 'evictionPressureTransitionPeriod',
    help: 'How long a pressure condition stays True after its eviction signal cleared. Default 5m.',
  },
  {
    name: 'cluster-dns',
    kind: 'list',
    key: 'clusterDns',
    field: 'clusterDNS',
    help: 'Comma-separated DNS server IPs (repeatable). ClusterFirst pods get these as their only nameservers, with the cluster search path and ndots:5; without any, they fall back to the Default policy (a MissingClusterDNS event). Entries that are not IPs are skipped with a warning.',
  },
  {
    name: 'cluster-domain',
    kind: 'string',
    key: 'clusterDomain',
    field: 'clusterDomain',
    help: "The cluster's DNS domain (e.g. cluster.local): the search path <ns>.svc.<domain> svc.<domain> <domain>, and pods' FQDNs.",
  },
  {
    name: 'resolv-conf',
    kind: 'string',
    key: 'resolvConf',
    field: 'resolvConf',
    help: 'Resolver file pod DNS starts from (the Default policy\'s, and the host searches of ClusterFirst). "" for none. Default /etc/resolv.conf.',
  },
  {
    name: 'healthz-port',
    kind: 'int',
    key: 'healthzPort',
    field: 'healthzPort',
    help: 'Port of the localhost healthz endpoint (/healthz, /healthz/ping); 0 disables it. Default 10248.',
  },
  {
    name: 'healthz-bind-address',
    kind: 'string',
    key: 'healthzBindAddress',
    field: 'healthzBindAddress',
    help: 'IP address the healthz server listens on. Default 127.0.0.1.',
  },
  {
    name: 'read-only-port',
    kind: 'int',
    key: 'readOnlyPort',
    field: 'readOnlyPort',
    help: 'Port of the read-only server, without authentication (/healthz, /pods, /metrics); 0 disables it. Default 0.',
  },
  {
    name: 'address',
    kind: 'string',
    key: 'address',
    field: 'address',
    help: 'IP address the read-only server listens on. Default 0.0.0.0.',
  },
  {
    name: 'provider-id',
    kind: 'string',
    key: 'providerId',
    field: 'providerID',
    help: "Unique identifier of the node in a machine database (a cloud provider's), set as the registered Node's spec.providerID.",
  },
  {
    name: 'register-with-taints',
    kind: 'taints',
    key: 'registerWithTaints',
    field: 'registerWithTaints',
    help: 'Taints of the Node when it registers (comma-separated key=value:effect or key:effect; effect NoSchedule, PreferNoSchedule or NoExecute).',
  },
  {
    name: 'cloud-provider',
    kind: 'string',
    key: 'cloudProvider',
    help: '"" or "external" (an external cloud provider: the Node registers with the node.cloudprovider.kubernetes.io/uninitialized taint and its --node-ip as the provided-node-ip annotation, as upstream).',
  },
  {
    name: 'pod-infra-container-image',
    kind: 'string',
    key: 'podInfraContainerImage',
    deprecated: 'will be removed in 1.35. Image garbage collector will get sandbox image information from CRI.',
    help: "The sandbox (pause) image: image garbage collection never removes it (upstream's only use of it since 1.27; the runtime runs its own setting, containerd: sandbox_image). Default registry.k8s.io/pause:3.10.",
  },
  {
    name: 'runonce',
    kind: 'bool',
    key: 'runOnce',
    field: 'runOnce',
    help: 'Run the static pods (--pod-manifest-path, --manifest-url) once, wait for them to be running, print their statuses and exit: 0 when all run, 1 when one did not. Exclusive with --kubeconfig and the servers.',
  },
  {
    name: 'seccomp-default',
    kind: 'bool',
    key: 'seccompDefault',
    field: 'seccompDefault',
    help: "Run every container without a seccomp profile under the runtime's default profile (RuntimeDefault) instead of Unconfined. Default false.",
  },
  {
    name: 'allowed-unsafe-sysctls',
    kind: 'list',
    key: 'allowedUnsafeSysctls',
    field: 'allowedUnsafeSysctls',
    help: 'Comma-separated unsafe sysctls or patterns ending in * (e.g. kernel.msg*,net.core.somaxconn) pods may set beyond the safe set; other sysctls reject the pod at admission (SysctlForbidden). Each must be namespaced (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*).',
  },
  {
    name: 'cgroup-driver',
    kind: 'string',
    key: 'cgroupDriver',
    field: 'cgroupDriver',
    help: 'cgroupfs or systemd: how pod cgroups are named and made (the runtime must use the same driver). Default cgroupfs.',
  },
  {
    name: 'cgroup-root',
    kind: 'string',
    key: 'cgroupRoot',
    field: 'cgroupRoot',
    help: 'The cgroup the kubepods hierarchy goes under. Default /.',
  },
  {
    name: 'cgroups-per-qos',
    kind: 'bool',
    key: 'cgroupsPerQos',
    field: 'cgroupsPerQOS',
    help: "Make the QoS cgroup hierarchy (kubepods, burstable, besteffort, pod<uid>) and put each pod's sandbox in its pod cgroup. Default true.",
  },
  {
    name: 'enforce-node-allocatable',
    kind: 'list',
    key: 'enforceNodeAllocatable',
    field: 'enforceNodeAllocatable',
    help: 'Node allocatable enforcement: "pods" limits the kubepods cgroup to capacity minus --kube-reserved and --system-reserved; "" for none. Default pods.',
  },
  {
    name: 'image-gc-high-threshold',
    kind: 'int',
    key: 'imageGcHighThresholdPercent',
    field: 'imageGCHighThresholdPercent',
    help: 'Image file system usage (percent) that starts image garbage collection; 100 disables it. Default 85.',
  },
  {
    name: 'image-gc-low-threshold',
    kind: 'int',
    key: 'imageGcLowThresholdPercent',
    field: 'imageGCLowThresholdPercent',
    help: 'Image file system usage (percent) image garbage collection frees down to. Default 80.',
  },
  {
    name: 'minimum-image-ttl-duration',
    kind: 'duration',
    key: 'imageMinimumGcAgeMs',
    field: 'imageMinimumGCAge',
    help: 'Minimum age of an unused image before it may be garbage collected. Default 2m.',
  },
  {
    name: 'image-maximum-gc-age',
    kind: 'duration',
    key: 'imageMaximumGcAgeMs',
    help: 'An image unused for longer is removed whatever the disk usage (kubelet-ts flag for imageMaximumGCAge); 0 (default) for never.',
  },
  {
    name: 'shutdown-grace-period',
    kind: 'duration',
    key: 'shutdownGracePeriodMs',
    help: "Delay the node's shutdown (a logind delay inhibitor) by this long to terminate its pods (kubelet-ts flag for shutdownGracePeriod); 0 (default) disables graceful node shutdown.",
  },
  {
    name: 'shutdown-grace-period-critical-pods',
    kind: 'duration',
    key: 'shutdownGracePeriodCriticalPodsMs',
    help: 'The part of --shutdown-grace-period kept for critical pods (priority >= 2000000000), terminated after the others (kubelet-ts flag for shutdownGracePeriodCriticalPods). Default 0.',
  },
  {
    name: 'enable-server',
    kind: 'bool',
    key: 'enableServer',
    field: 'enableServer',
    help: 'Serve the HTTPS port (--port). Default true.',
  },
  {
    name: 'port',
    kind: 'int',
    key: 'port',
    field: 'port',
    help: 'The HTTPS port (logs, exec, metrics, pods with authentication and authorization). Default 10250.',
  },
  {
    name: 'tls-cert-file',
    kind: 'string',
    key: 'tlsCertFile',
    field: 'tlsCertFile',
    help: 'Serving certificate of the HTTPS port (PEM). Without it and --tls-private-key-file, a self-signed pair is made in --cert-dir.',
  },
  {
    name: 'tls-private-key-file',
    kind: 'string',
    key: 'tlsPrivateKeyFile',
    field: 'tlsPrivateKeyFile',
    help: 'Private key of --tls-cert-file (PEM).',
  },
  {
    name: 'tls-min-version',
    kind: 'string',
    key: 'tlsMinVersion',
    field: 'tlsMinVersion',
    help: 'Minimum TLS version: VersionTLS10, VersionTLS11, VersionTLS12 (default), VersionTLS13.',
  },
  {
    name: 'tls-cipher-suites',
    kind: 'list',
    key: 'tlsCipherSuites',
    field: 'tlsCipherSuites',
    help: "Comma-separated cipher suites, Go's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...). Default: the TLS library's.",
  },
  {
    name: 'client-ca-file',
    kind: 'string',
    key: 'clientCaFile',
    field: 'authentication.x509.clientCAFile',
    help: 'CA bundle client certificates are verified against (user = CN, groups = O).',
  },
  {
    name: 'anonymous-auth',
    kind: 'bool',
    key: 'anonymousAuth',
    field: 'authentication.anonymous.enabled',
    help: 'Requests without credentials are system:anonymous (group system:unauthenticated) instead of 401. Default false.',
  },
  {
    name: 'authentication-token-webhook',
    kind: 'bool',
    key: 'authenticationTokenWebhook',
    field: 'authentication.webhook.enabled',
    help: "Bearer tokens are checked with the API's TokenReview. Default true.",
  },
  {
    name: 'authentication-token-webhook-cache-ttl',
    kind: 'duration',
    key: 'authenticationTokenWebhookCacheTtlMs',
    field: 'authentication.webhook.cacheTTL',
    help: 'How long TokenReview answers are cached. Default 2m.',
  },
  {
    name: 'authorization-mode',
    kind: 'string',
    key: 'authorizationMode',
    field: 'authorization.mode',
    help: 'AlwaysAllow or Webhook (SubjectAccessReview on the API). Default Webhook.',
  },
  {
    name: 'authorization-webhook-cache-authorized-ttl',
    kind: 'duration',
    key: 'authorizationWebhookCacheAuthorizedTtlMs',
    field: 'authorization.webhook.cacheAuthorizedTTL',
    help: 'How long an allowed SubjectAccessReview is cached. Default 5m.',
  },
  {
    name: 'authorization-webhook-cache-unauthorized-ttl',
    kind: 'duration',
    key: 'authorizationWebhookCacheUnauthorizedTtlMs',
    field: 'authorization.webhook.cacheUnauthorizedTTL',
    help: 'How long a denied SubjectAccessReview is cached. Default 30s.',
  },
  {
    name: 'eviction-hard',
    kind: 'thresholds',
    key: 'evictionHard',
    field: 'evictionHard',
    help: 'Hard eviction thresholds (memory.available<100Mi,nodefs.available<10%,...); replaces the defaults when given.',
  },
];

const REMOVAL = (what: string) => `${what} Will be removed in a future version.`;

/**
 * Every other upstream v1.35 flag: accepted, type-checked as upstream parses it (a bad value is
 * exit 2), then ignored with one warning naming it (main.ts). `field` is the v1beta1 field the
 * flag binds, given the same treatment in a --config file (bin/config-file.ts).
 */
export const UNSUPPORTED_FLAGS: readonly UnsupportedFlag[] = [
  { name: 'config-dir', kind: 'string' },
  { name: 'container-log-max-files', kind: 'int', field: 'containerLogMaxFiles' },
  { name: 'container-log-max-size', kind: 'quantity', field: 'containerLogMaxSize' },
  { name: 'contention-profiling', kind: 'bool', field: 'enableContentionProfiling' },
  { name: 'cpu-cfs-quota', kind: 'bool', field: 'cpuCFSQuota' },
  { name: 'cpu-cfs-quota-period', kind: 'duration', field: 'cpuCFSQuotaPeriod' },
  { name: 'cpu-manager-policy', kind: 'string', field: 'cpuManagerPolicy' },
  { name: 'cpu-manager-policy-options', kind: 'map', field: 'cpuManagerPolicyOptions' },
  { name: 'cpu-manager-reconcile-period', kind: 'duration', field: 'cpuManagerReconcilePeriod' },
  { name: 'enable-controller-attach-detach', kind: 'bool', field: 'enableControllerAttachDetach' },
  { name: 'enable-debugging-handlers', kind: 'bool', field: 'enableDebuggingHandlers' },
  { name: 'eviction-max-pod-grace-period', kind: 'int', field: 'evictionMaxPodGracePeriod' },
  { name: 'eviction-minimum-reclaim', kind: 'map', field: 'evictionMinimumReclaim' },
  { name: 'eviction-soft', kind: 'thresholds', field: 'evictionSoft' },
  { name: 'eviction-soft-grace-period', kind: 'map', field: 'evictionSoftGracePeriod' },
  { name: 'exit-on-lock-contention', kind: 'bool' },
  { name: 'experimental-allocatable-ignore-eviction', kind: 'bool', deprecated: 'will be removed in 1.25 or later.' },
  {
    name: 'experimental-mounter-path',
    kind: 'string',
    deprecated: 'will be removed in 1.25 or later. in favor of using CSI.',
  },
  { name: 'fail-cgroupv1', kind: 'bool', field: 'failCgroupV1' },
  { name: 'fail-swap-on', kind: 'bool', field: 'failSwapOn' },
  { name: 'feature-gates', kind: 'mapbool', field: 'featureGates' },
  { name: 'hairpin-mode', kind: 'string', field: 'hairpinMode', oneOf: ['promiscuous-bridge', 'hairpin-veth', 'none'] },
  { name: 'image-credential-provider-bin-dir', kind: 'string' },
  { name: 'image-credential-provider-config', kind: 'string' },
  { name: 'image-service-endpoint', kind: 'string', field: 'imageServiceEndpoint' },
  { name: 'kernel-memcg-notification', kind: 'bool', field: 'kernelMemcgNotification' },
  { name: 'kube-api-content-type', kind: 'string', field: 'contentType' },
  { name: 'kube-reserved-cgroup', kind: 'string', field: 'kubeReservedCgroup' },
  { name: 'kubelet-cgroups', kind: 'string', field: 'kubeletCgroups' },
  { name: 'local-storage-capacity-isolation', kind: 'bool', field: 'localStorageCapacityIsolation' },
  { name: 'lock-file', kind: 'string' },
  { name: 'log-flush-frequency', kind: 'duration', field: 'logging.flushFrequency' },
  { name: 'log-text-info-buffer-size', kind: 'quantity', field: 'logging.options.text.infoBufferSize' },
  { name: 'make-iptables-util-chains', kind: 'bool', field: 'makeIPTablesUtilChains' },
  { name: 'max-open-files', kind: 'int', field: 'maxOpenFiles' },
  {
    name: 'maximum-dead-containers',
    kind: 'int',
    deprecated: REMOVAL('Use --eviction-hard or --eviction-soft instead.'),
  },
  {
    name: 'maximum-dead-containers-per-container',
    kind: 'int',
    deprecated: REMOVAL('Use --eviction-hard or --eviction-soft instead.'),
  },
  { name: 'memory-manager-policy', kind: 'string', field: 'memoryManagerPolicy', oneOf: ['None', 'Static'] },
  {
    name: 'minimum-container-ttl-duration',
    kind: 'duration',
    deprecated: REMOVAL('Use --eviction-hard or --eviction-soft instead.'),
  },
  { name: 'node-status-max-images', kind: 'int', field: 'nodeStatusMaxImages' },
  { name: 'oom-score-adj', kind: 'int', field: 'oomScoreAdj' },
  { name: 'pod-cidr', kind: 'string', field: 'podCIDR' },
  { name: 'pod-max-pids', kind: 'int', field: 'podPidsLimit' },
  { name: 'pods-per-core', kind: 'int', field: 'podsPerCore' },
  { name: 'protect-kernel-defaults', kind: 'bool', field: 'protectKernelDefaults' },
  { name: 'qos-reserved', kind: 'map', field: 'qosReserved' },
  { name: 'registry-burst', kind: 'int', field: 'registryBurst' },
  { name: 'registry-qps', kind: 'int', field: 'registryPullQPS' },
  { name: 'reserved-cpus', kind: 'string', field: 'reservedSystemCPUs' },
  { name: 'reserved-memory', kind: 'string', field: 'reservedMemory' },
  { name: 'runtime-cgroups', kind: 'string' },
  { name: 'serialize-image-pulls', kind: 'bool', field: 'serializeImagePulls' },
  { name: 'streaming-connection-idle-timeout', kind: 'duration', field: 'streamingConnectionIdleTimeout' },
  { name: 'system-cgroups', kind: 'string', field: 'systemCgroups' },
  { name: 'system-reserved-cgroup', kind: 'string', field: 'systemReservedCgroup' },
  {
    name: 'topology-manager-policy',
    kind: 'string',
    field: 'topologyManagerPolicy',
    oneOf: ['none', 'best-effort', 'restricted', 'single-numa-node'],
  },
  { name: 'topology-manager-policy-options', kind: 'map', field: 'topologyManagerPolicyOptions' },
  { name: 'topology-manager-scope', kind: 'string', field: 'topologyManagerScope', oneOf: ['container', 'pod'] },
  { name: 'volume-plugin-dir', kind: 'string', field: 'volumePluginDir' },
  { name: 'volume-stats-agg-period', kind: 'duration', field: 'volumeStatsAggPeriod' },
];

export const DEFAULT_FLAGS: KubeletFlags = {
  config: undefined,
  podManifestPath: undefined,
  containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
  rootDir: '/var/lib/kubelet',
  hostnameOverride: undefined,
  verbosity: 0,
  loggingFormat: 'text',
  vmodule: '',
  logTextSplitStream: false,
  logJsonSplitStream: false,
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
  certDir: undefined,
  rotateCertificates: false,
  serverTlsBootstrap: false,
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
  evictionHard: {
    'memory.available': '100Mi',
    'nodefs.available': '10%',
    'nodefs.inodesFree': '5%',
    'imagefs.available': '15%',
  },
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
  providerId: '',
  registerWithTaints: [],
  cloudProvider: '',
  runOnce: false,
  unsupported: {},
  seccompDefault: false,
  allowedUnsafeSysctls: [],
  cgroupDriver: 'cgroupfs',
  cgroupRoot: '/',
  cgroupsPerQos: true,
  enforceNodeAllocatable: ['pods'],
  imageGcHighThresholdPercent: 85,
  imageGcLowThresholdPercent: 80,
  imageMinimumGcAgeMs: 120_000,
  imageMaximumGcAgeMs: 0,
  podInfraContainerImage: undefined,
  shutdownGracePeriodMs: 0,
  shutdownGracePeriodCriticalPodsMs: 0,
  enableServer: true,
  port: 10250,
  tlsCertFile: undefined,
  tlsPrivateKeyFile: undefined,
  tlsMinVersion: undefined,
  tlsCipherSuites: [],
  clientCaFile: undefined,
  anonymousAuth: false,
  authenticationTokenWebhook: true,
  authenticationTokenWebhookCacheTtlMs: 120_000,
  authorizationMode: 'Webhook',
  authorizationWebhookCacheAuthorizedTtlMs: 300_000,
  authorizationWebhookCacheUnauthorizedTtlMs: 30_000,
  configMapAndSecretChangeDetectionStrategy: 'Watch',
};

/** The sandbox image image GC keeps when --pod-infra-container-image is not given: upstream's flag default. */
export const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.10';

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
function parsePairs(def: Pick<FlagDef, 'name'>, raw: string, sep: '=' | '<'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = part.indexOf(sep);
    if (i <= 0)
      throw new FlagError(
        `invalid argument "${raw}" for "--${def.name}" flag: "${part}" is not ${sep === '=' ? 'key=value' : 'signal<quantity'}`,
      );
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

const QUANTITY_RE = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$/;

/** Upstream's --node-labels rule (validateKubeletLabels): kubernetes.io / k8s.io keys only from the kubelet's set. */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'node.kubernetes.io/instance-type',
  'beta.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
]);
/** Upstream KubeletLabelNamespaces: any label under these the kubelet may set on its Node. */
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
function forbiddenNodeLabels(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .filter((k) => {
      const ns = k.includes('/') ? k.slice(0, k.indexOf('/')) : '';
      const kube = ns === 'kubernetes.io' || ns.endsWith('.kubernetes.io') || ns === 'k8s.io' || ns.endsWith('.k8s.io');
      const allowed = KUBELET_LABELS.has(k) || KUBELET_LABEL_NAMESPACES.some((p) => ns === p || ns.endsWith(`.${p}`));
      return kube && !allowed;
    })
    .sort();
}

/** `a:hello,b:again` → {a: [hello], b: [again]}, appended to `into` (a repeated flag adds values). */
function parseMultimap(
  def: Pick<FlagDef, 'name'>,
  raw: string,
  into: Record<string, string[]>,
): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(Object.entries(into).map(([k, v]) => [k, [...v]]));
  for (const part of raw.split(',').filter((p) => p.trim() !== '')) {
    const i = part.indexOf(':');
    if (i < 0)
      throw new FlagError(
        `invalid argument "${raw}" for "--${def.name}" flag: malformed pair "${part}", expect string:string`,
      );
    const k = part.slice(0, i).trim();
    (out[k] ??= []).push(part.slice(i + 1).trim());
  }
  return out;
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

/**
 * A taint's problems as upstream validates a Node's (key a qualified name, value a label value,
 * a known effect); [] when it is fine.
 */
export function taintProblems(t: { key?: unknown; value?: unknown; effect?: unknown }): string[] {
  const out: string[] = [];
  if (typeof t.key !== 'string' || t.key === '') out.push('key: required');
  else out.push(...isQualifiedName(t.key).map((m) => `key "${t.key as string}": ${m}`));
  if (t.value !== undefined) {
    if (typeof t.value !== 'string') out.push('value: expected a string');
    else out.push(...isValidLabelValue(t.value).map((m) => `value "${t.value as string}": ${m}`));
  }
  if (!TAINT_EFFECTS.includes(t.effect as Taint['effect']))
    out.push(`effect "${String(t.effect ?? '')}": supported values: "${TAINT_EFFECTS.join('", "')}"`);
  return out;
}

/** `key=value:effect,key:effect` (upstream's taints flag value, parseTaints). */
function parseTaints(def: { name: string }, raw: string): Taint[] {
  const out: Taint[] = [];
  for (const spec of raw.split(',').filter((p) => p !== '')) {
    const colon = spec.lastIndexOf(':');
    const kv = colon < 0 ? spec : spec.slice(0, colon);
    const eq = kv.indexOf('=');
    const t: Taint = {
      key: eq < 0 ? kv : kv.slice(0, eq),
      effect: (colon < 0 ? '' : spec.slice(colon + 1)) as Taint['effect'],
    };
    if (eq >= 0) t.value = kv.slice(eq + 1);
    const problems = taintProblems(t);
    if (problems.length)
      throw new FlagError(
        `invalid argument "${raw}" for "--${def.name}" flag: invalid taint spec: ${spec}: ${problems.join('; ')}`,
      );
    if (out.some((o) => o.key === t.key && o.effect === t.effect))
      throw new FlagError(
        `invalid argument "${raw}" for "--${def.name}" flag: duplicated taints with the same key and effect: ${t.key}:${t.effect}`,
      );
    out.push(t);
  }
  return out;
}

type FlagValue =
  | string
  | number
  | boolean
  | string[]
  | Taint[]
  | Record<string, string>
  | Record<string, string[]>
  | Record<string, boolean>;

function convert(def: Pick<FlagDef, 'name' | 'kind'>, raw: string, prev: unknown): FlagValue {
  switch (def.kind) {
    case 'taints':
      return [...(Array.isArray(prev) ? (prev as Taint[]) : []), ...parseTaints(def, raw)];
    case 'mapbool': {
      // cliflag.MapStringBool: key=true|false pairs
      const out: Record<string, boolean> = { ...(prev as Record<string, boolean>) };
      for (const [k, v] of Object.entries(parsePairs(def, raw, '='))) {
        if (!/^(true|false|1|0|t|f|TRUE|FALSE|True|False)$/.test(v))
          throw new FlagError(
            `invalid argument "${raw}" for "--${def.name}" flag: invalid value of ${k}: ${v}, err: strconv.ParseBool: parsing "${v}": invalid syntax`,
          );
        out[k] = /^(true|1|t|TRUE|True)$/.test(v);
      }
      return out;
    }
    case 'quantity':
      if (!QUANTITY_RE.test(raw))
        throw new FlagError(
          `invalid argument "${raw}" for "--${def.name}" flag: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
        );
      return raw;
    case 'ip':
      if (isIP(raw) === 0) throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: not an IP address`);
      return raw;
    case 'list':
      // pflag StringSlice: comma-separated; a repeated flag appends; "" is the empty list
      return [...(Array.isArray(prev) ? (prev as string[]) : []), ...(raw === '' ? [] : raw.split(','))];
    case 'multimap':
      return parseMultimap(def, raw, prev as Record<string, string[]>);
    case 'map':
      // a repeated map flag adds to the pairs before it (pflag MapStringString)
      return { ...(prev as Record<string, string>), ...parsePairs(def, raw, '=') };
    case 'thresholds': {
      const t = { ...(prev as Record<string, string>), ...parsePairs(def, raw, '<') };
      for (const [signal, v] of Object.entries(t)) {
        if (!/^\d+(\.\d+)?%$/.test(v) && !QUANTITY_RE.test(v))
          throw new FlagError(
            `invalid argument "${raw}" for "--${def.name}" flag: ${signal}: "${v}" is neither a quantity nor a percentage`,
          );
      }
      return t;
    }
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw))
        throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: not an integer`);
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
  const out: Record<string, unknown> = { ...base, unsupported: {} };
  const seen = new Set<keyof KubeletFlags>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^(--?)([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(`unexpected argument "${arg}": kubelet-ts takes flags only`);
    const [, dashes, name, inline] = m;
    const def =
      dashes === '--'
        ? (FLAGS.find((f) => f.name === name) ?? UNSUPPORTED_FLAGS.find((f) => f.name === name))
        : FLAGS.find((f) => f.short === name);
    if (!def) throw new FlagError(`unknown flag: ${arg.split('=')[0]}`);
    if (!('key' in def)) {
      // accepted, type-checked, ignored (main.ts warns)
      let value = inline;
      if (value === undefined) value = def.kind === 'bool' ? 'true' : argv[++i];
      if (value === undefined) throw new FlagError(`flag needs an argument: --${def.name}`);
      const key = `--${def.name}`;
      const v = convert(
        def,
        value,
        out.unsupported && key in (out.unsupported as object) ? (out.unsupported as Record<string, unknown>)[key] : {},
      );
      if (def.oneOf && !def.oneOf.includes(v as string)) {
        throw new FlagError(
          `invalid argument "${value}" for "--${def.name}" flag: supported values: "${def.oneOf.join('", "')}"`,
        );
      }
      out.unsupported = { ...(out.unsupported as Record<string, unknown>), [key]: v };
      continue;
    }
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
  if (flags.verbosity < 0 || flags.verbosity > 10)
    throw new FlagError(`invalid argument "${flags.verbosity}" for "--v" flag: must be 0..10`);
  if (flags.loggingFormat !== 'text' && flags.loggingFormat !== 'json') {
    throw new FlagError(
      `invalid argument "${flags.loggingFormat}" for "--logging-format" flag: supported values: "text", "json"`,
    );
  }
  try {
    parseVModule(flags.vmodule);
  } catch (e) {
    throw new FlagError(errText(e));
  }
  if (flags.fileCheckFrequencyMs <= 0) throw new FlagError('--file-check-frequency must be positive');
  if (flags.httpCheckFrequencyMs <= 0) throw new FlagError('--http-check-frequency must be positive');
  if (flags.manifestUrl !== undefined && !/^https?:\/\/[^/]/i.test(flags.manifestUrl)) {
    throw new FlagError(
      `invalid argument "${flags.manifestUrl}" for "--manifest-url" flag: expected an http:// or https:// URL`,
    );
  }
  if (flags.syncFrequencyMs <= 0) throw new FlagError('--sync-frequency must be positive');
  if (flags.runtimeRequestTimeoutMs <= 0) throw new FlagError('--runtime-request-timeout must be positive');
  if (flags.nodeStatusUpdateFrequencyMs <= 0) throw new FlagError('--node-status-update-frequency must be positive');
  if (flags.nodeStatusReportFrequencyMs <= 0) throw new FlagError('--node-status-report-frequency must be positive');
  if (flags.maxPods <= 0) throw new FlagError('--max-pods must be positive');
  try {
    newSysctlAllowlist(flags.allowedUnsafeSysctls);
  } catch (e) {
    throw new FlagError(`invalid argument for "--allowed-unsafe-sysctls" flag: ${(e as Error).message}`);
  }
  // upstream ValidateKubeletConfiguration: ports in 0..65535 (0 disables), addresses are IPs
  for (const [name, port] of [
    ['healthz-port', flags.healthzPort],
    ['read-only-port', flags.readOnlyPort],
  ] as const) {
    if (port < 0 || port > 65535)
      throw new FlagError(`invalid argument "${port}" for "--${name}" flag: must be between 0 and 65535, inclusive`);
  }
  for (const [name, ip] of [
    ['healthz-bind-address', flags.healthzBindAddress],
    ['address', flags.address],
  ] as const) {
    if (isIP(ip) === 0) throw new FlagError(`invalid argument "${ip}" for "--${name}" flag: not an IP address`);
  }
  if (flags.enableServer && (flags.port < 1 || flags.port > 65535)) {
    throw new FlagError(`invalid argument "${flags.port}" for "--port" flag: must be between 1 and 65535, inclusive`);
  }
  if ((flags.tlsCertFile === undefined) !== (flags.tlsPrivateKeyFile === undefined)) {
    throw new FlagError(
      '--tls-cert-file and --tls-private-key-file go together: give both, or neither for a self-signed pair',
    );
  }
  if (flags.tlsMinVersion !== undefined && !(flags.tlsMinVersion in TLS_VERSIONS)) {
    throw new FlagError(
      `invalid argument "${flags.tlsMinVersion}" for "--tls-min-version" flag: supported values: ${Object.keys(TLS_VERSIONS).join(', ')}`,
    );
  }
  const badSuites = flags.tlsCipherSuites.filter((c) => !(c in CIPHER_SUITES));
  if (badSuites.length)
    throw new FlagError(
      `invalid argument for "--tls-cipher-suites" flag: unsupported cipher suite(s): ${badSuites.join(', ')}`,
    );
  if (flags.authorizationMode !== 'AlwaysAllow' && flags.authorizationMode !== 'Webhook') {
    throw new FlagError(
      `invalid argument "${flags.authorizationMode}" for "--authorization-mode" flag: supported values: AlwaysAllow, Webhook`,
    );
  }
  if (flags.kubeApiBurst <= 0 || flags.eventBurst < 0)
    throw new FlagError('--kube-api-burst must be positive and --event-burst not negative');
  for (const [name, m] of [
    ['kube-reserved', flags.kubeReserved],
    ['system-reserved', flags.systemReserved],
  ] as const) {
    for (const [r, q] of Object.entries(m)) {
      if (!QUANTITY_RE.test(q)) throw new FlagError(`invalid argument for "--${name}" flag: ${r}=${q}: not a quantity`);
    }
  }
  validateCgroupsAndImageGc(flags);
  if (flags.cloudProvider !== '' && flags.cloudProvider !== 'external') {
    throw new FlagError(
      `invalid argument "${flags.cloudProvider}" for "--cloud-provider" flag: unknown cloud provider: only "" and "external" are supported (there are no in-tree providers since 1.31)`,
    );
  }
  if (flags.nodeIp !== undefined) {
    const problem = nodeIpProblem(flags.nodeIp);
    if (problem) throw new FlagError(`invalid argument "${flags.nodeIp}" for "--node-ip" flag: ${problem}`);
  }
  for (const t of flags.registerWithTaints) {
    const problems = taintProblems(t);
    if (problems.length)
      throw new FlagError(`invalid registerWithTaints taint ${JSON.stringify(t)}: ${problems.join('; ')}`);
  }
  // upstream ValidateKubeletFlags: labels the NodeRestriction admission plugin would refuse the
  // kubelet to set are refused here, at start, rather than by the API server at registration
  const badLabels = forbiddenNodeLabels(flags.nodeLabels);
  if (badLabels.length) {
    throw new FlagError(
      `unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [${badLabels.join(' ')}]\n` +
        `--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (${KUBELET_LABEL_NAMESPACES.join(', ')}) ` +
        `or be in the specifically allowed set (${[...KUBELET_LABELS].sort().join(', ')})`,
    );
  }
  const invalid = Object.entries(flags.nodeLabels).flatMap(([k, v]) => [
    ...(isQualifiedName(k).length ? [`'${k}' - ${isQualifiedName(k).join(', ')}`] : []),
    ...(isValidLabelValue(v).length ? [`'${v}' - ${isValidLabelValue(v).join(', ')}`] : []),
  ]);
  if (invalid.length) throw new FlagError(`invalid node labels: ${invalid.join('; ')}`);
  return flags;
}

/** Upstream's --node-ip rule (ParseNodeIPArgument): one IP, or a dual-stack pair of one IPv4 and one IPv6; "" for none. */
function nodeIpProblem(text: string): string | undefined {
  if (text === '') return undefined;
  const ips = text.split(',').map((s) => s.trim());
  if (ips.length > 2) return 'must contain either a single IP or a dual-stack pair of IPs';
  for (const ip of ips) if (isIP(ip) === 0) return `could not parse "${ip}" as an IP address`;
  if (ips.length === 2 && isIP(ips[0]!) === isIP(ips[1]!))
    return 'must contain either a single IP or a dual-stack pair of IPs';
  return undefined;
}

/** The --node-ip addresses, in order (none when autodetected). */
export function nodeIps(flags: Pick<KubeletFlags, 'nodeIp'>): string[] {
  return (flags.nodeIp ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((ip) => ip !== '' && ip !== '0.0.0.0' && ip !== '::');
}

const ENFORCE_OPTIONS = ['pods', 'system-reserved', 'kube-reserved', 'none'];

/** upstream ValidateKubeletConfiguration for the cgroup and image GC fields, with its wording. */
function validateCgroupsAndImageGc(f: KubeletFlags): void {
  const bad = (msg: string) => {
    throw new FlagError(`invalid configuration: ${msg}`);
  };
  if ((f.cgroupDriver as string) !== 'cgroupfs' && f.cgroupDriver !== 'systemd')
    bad(`cgroupDriver (--cgroup-driver) "${f.cgroupDriver}": must be cgroupfs or systemd`);
  if (f.cgroupDriver === 'systemd' && f.cgroupRoot !== '/' && !f.cgroupRoot.endsWith('.slice')) {
    bad(
      `cgroupRoot (--cgroup-root) "${f.cgroupRoot}": with the systemd driver it must be a slice (e.g. /kubelet.slice)`,
    );
  }
  const enforce = f.enforceNodeAllocatable.filter((e) => e !== '');
  for (const e of enforce) {
    if (!ENFORCE_OPTIONS.includes(e))
      bad(
        `option "${e}" specified for enforceNodeAllocatable (--enforce-node-allocatable). Valid options are "pods", "system-reserved", "kube-reserved", or "none"`,
      );
    if (e === 'system-reserved' || e === 'kube-reserved')
      bad(
        `enforceNodeAllocatable (--enforce-node-allocatable) "${e}" is not implemented by kubelet-ts (it needs the ${e === 'kube-reserved' ? 'kubeReservedCgroup' : 'systemReservedCgroup'} cgroup)`,
      );
  }
  if (enforce.includes('none') && enforce.length > 1)
    bad(
      'enforceNodeAllocatable (--enforce-node-allocatable) may not contain additional enforcements when "none" is specified',
    );
  if (!f.cgroupsPerQos && enforce.length > 0)
    bad(
      'enforceNodeAllocatable (--enforce-node-allocatable) is not supported unless cgroupsPerQOS (--cgroups-per-qos) feature is turned on',
    );
  const hi = f.imageGcHighThresholdPercent;
  const lo = f.imageGcLowThresholdPercent;
  if (hi < 0 || hi > 100)
    bad(`imageGCHighThresholdPercent (--image-gc-high-threshold) ${hi} must be between 0 and 100, inclusive`);
  if (lo < 0 || lo > 100)
    bad(`imageGCLowThresholdPercent (--image-gc-low-threshold) ${lo} must be between 0 and 100, inclusive`);
  if (lo >= hi)
    bad(
      `imageGCLowThresholdPercent (--image-gc-low-threshold) ${lo} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) ${hi}`,
    );
  if (f.imageMaximumGcAgeMs !== 0 && f.imageMaximumGcAgeMs <= f.imageMinimumGcAgeMs) {
    bad(
      `imageMaximumGCAge ${f.imageMaximumGcAgeMs / 1000}s must be greater than imageMinimumGCAge ${f.imageMinimumGcAgeMs / 1000}s`,
    );
  }
  // upstream ValidateKubeletConfiguration
  if (f.shutdownGracePeriodCriticalPodsMs > f.shutdownGracePeriodMs) {
    bad(
      `shutdownGracePeriodCriticalPods ${f.shutdownGracePeriodCriticalPodsMs / 1000}s must be <= shutdownGracePeriod ${f.shutdownGracePeriodMs / 1000}s`,
    );
  }
}

export function usage(): string {
  const lines = [
    'Usage: kubelet-ts [flags]',
    "       kubelet-ts inspect ...   (a running daemon's debug socket)",
    '       kubelet-ts replay FILE   (replay a recorded session)',
    '',
    'Flags:',
  ];
  for (const f of [
    ...FLAGS,
    ...UNSUPPORTED_FLAGS.map((u) => ({
      ...u,
      short: undefined,
      help: `accepted and ignored: kubelet-ts does not implement it${u.field ? ` (${u.field})` : ''}`,
    })),
  ].sort((a, b) => a.name.localeCompare(b.name))) {
    const names = (f.short && f.short !== f.name ? `-${f.short}, ` : '    ') + `--${f.name}`;
    const kind = f.kind === 'bool' ? '' : ` ${f.kind}`;
    lines.push(`  ${(names + kind).padEnd(40)} ${f.help}`);
  }
  return lines.join('\n');
}

/** --cert-dir, or upstream's default <root-dir>/pki. */
export function certDirOf(f: Pick<KubeletFlags, 'certDir' | 'rootDir'>): string {
  return f.certDir ?? `${f.rootDir.replace(/\/+$/, '')}/pki`;
}
