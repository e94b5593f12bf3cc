/**
 * The support table of every v1 PodSpec field (Kubernetes 1.34, the schema of
 * @kubernetes/client-node's V1PodSpec), and `unsupportedFields(pod)`: the fields of one pod that
 * kubelet-ts would otherwise ignore. A pod field is honoured or refused, never silently ignored.
 *
 * Each field is one of:
 * - `honoured`: kubelet-ts does what upstream's kubelet does with it, or it is not the kubelet's
 *   concern (the scheduler's, the API server's); `note` says which. An honoured field may refuse
 *   some values (`refuse`: e.g. `seccompProfile` other than Unconfined), and lists its sub-fields
 *   (`fields`) unless the whole subtree is another component's (`whole`).
 * - `unsupported`: any use of it (or of anything beneath it) is refused; `note` says why and
 *   which issue adds it.
 * - `gap`: not honoured yet, but tolerated because the API server (or kubelet-ts's own
 *   defaulting) sets it on every pod, so refusing it would refuse every pod. Few, named in the
 *   README and in `note`.
 *
 * A refused field keeps the containers it affects from being created (a pod-level field: every
 * container; a container's own field: that container): the runtime holds them waiting with
 * reason CreateContainerConfigError — upstream's reason for a container config the kubelet
 * cannot build — and a message naming the field paths, and records one Warning event for the
 * pod. A field the table does not know (a newer API's, or a typo in a static pod) is refused the
 * same way.
 *
 * "Set" means present and not null, and not an empty list (Go's zero values for a slice).
 * An empty object counts as set: `emptyDir: {}` is a volume.
 *
 * Pure data and pure functions: no effects, nothing from kernel/ or actors/.
 */
import type { Container, Pod } from './pod.ts';

export type Support = 'honoured' | 'unsupported' | 'gap';

/** What a refusal test may look at besides the value: the pod, and the container being walked. */
export interface FieldContext {
  pod: Pod;
  container?: Container;
}

export interface FieldRule {
  support: Support;
  /** honoured: how; unsupported: why, and the issue that adds it; gap: what is missing. */
  note: string;
  /** A list of objects: `fields` apply to each element (shown as `name[]`). */
  list?: true;
  /** Each element is a container: its fields affect that container only. */
  containers?: true;
  /** The sub-fields (of the object, or of each list element). */
  fields?: FieldTable;
  /** honoured with every sub-field, present and future: the subtree is another component's concern. */
  whole?: true;
  /** The values of an honoured field kubelet-ts refuses: `test` names the cause, or returns undefined. */
  refuse?: { note: string; test: (value: unknown, ctx: FieldContext) => string | undefined };
}

export type FieldTable = Readonly<Record<string, FieldRule>>;

const honoured = (note: string, more: Omit<FieldRule, 'support' | 'note'> = {}): FieldRule => ({
  support: 'honoured',
  note,
  ...more,
});
const unsupported = (note: string): FieldRule => ({ support: 'unsupported', note });
const gap = (note: string): FieldRule => ({ support: 'gap', note });

const SCHEDULER = "not the kubelet's concern: the scheduler's";
const API_SERVER = "not the kubelet's concern: the API server's";
const SIDECAR_PROBES =
  'a probe on an init container that is not a sidecar (restartPolicy Always): upstream validation forbids it';

/** A container's volumeMounts[] (upstream makeMounts). */
const volumeMountTable: FieldTable = {
  name: honoured('the pod volume it mounts'),
  mountPath: honoured('CRI container_path'),
  readOnly: honoured('CRI readonly (a read-only bind)'),
  subPath: honoured('a safe bind of the path inside the volume (symlinks out of it refused)'),
  subPathExpr: honoured("expanded from the container's environment, then as subPath"),
  mountPropagation: honoured(
    'CRI propagation: None, HostToContainer, Bidirectional (privileged containers only, as upstream)',
  ),
  recursiveReadOnly: unsupported(`recursive read-only mounts are not implemented (${'no issue yet'})`),
};
const FROM_API =
  "read through the kubelet's ConfigMap/Secret managers (watch-based, as upstream's default); a missing object or key is upstream's CreateContainerConfigError, standalone \"no kubeClient defined\"";
const keyRef = (kind: string): FieldRule =>
  honoured(`the ${kind}'s key: ${FROM_API}`, {
    fields: {
      key: honoured('the key read'),
      name: honoured(`the ${kind} in the pod's namespace`),
      optional: honoured(`true: a missing ${kind} or key leaves the variable out`),
    },
  });
const envSource = (kind: string): FieldRule =>
  honoured(`every key of the ${kind} (prefixed): ${FROM_API}`, {
    fields: {
      name: honoured(`the ${kind} in the pod's namespace`),
      optional: honoured(`true: a missing ${kind} adds nothing`),
    },
  });
const NO_ISSUE = 'no issue yet';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Present, not null, and not an empty list (Go's zero value for a slice). */
const isSet = (v: unknown): boolean => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

// ---------------------------------------------------------------------------------------------
// value tests

/** Resource names whose limits reach the container (cpu, memory) or only admission (requests). */
function unsupportedResources(list: unknown, kind: 'limits' | 'requests'): string | undefined {
  if (!isObject(list)) return undefined;
  const refused: string[] = [];
  for (const name of Object.keys(list)) {
    if (name === 'cpu' || name === 'memory') continue;
    if (name === 'ephemeral-storage') {
      // A request only counts at admission, which kubelet-ts does; a limit is the eviction manager's.
      if (kind === 'limits') refused.push(`${name} (limits are enforced by eviction: issue 12)`);
    } else if (name.startsWith('hugepages-')) {
      refused.push(`${name} (hugepages are not set up: issue 12)`);
    } else {
      refused.push(`${name} (extended resources need device plugins: ${NO_ISSUE})`);
    }
  }
  return refused.length > 0 ? refused.join(', ') : undefined;
}

/**
 * upstream resolves a `limits.*` resourceFieldRef of a container without that limit to the
 * node's allocatable; kubelet-ts does not know it there yet and would give 0.
 */
function resourceFieldRefWithoutLimit(value: unknown, ctx: FieldContext): string | undefined {
  if (!isObject(value)) return undefined;
  const m = /^limits\.(cpu|memory|ephemeral-storage)$/.exec(str(value['resource']));
  if (!m) return undefined;
  const name = str(value['containerName']);
  const all = [...ctx.pod.spec.containers, ...(ctx.pod.spec.initContainers ?? [])];
  const target = name ? all.find((c) => c.name === name) : ctx.container;
  if (!target || target.resources?.limits?.[m[1]!] !== undefined) return undefined;
  return `${m[0]} of a container without that limit is the node's allocatable, which kubelet-ts does not pass yet (${NO_ISSUE})`;
}

const PROFILE_TYPES = ['RuntimeDefault', 'Unconfined', 'Localhost'];

/** A seccomp or AppArmor profile of a type upstream's validation does not know. */
const unknownProfileType = (what: string) => ({
  note: `a type other than RuntimeDefault, Unconfined and Localhost (upstream validation refuses it)`,
  test: (v: unknown) =>
    isObject(v) && !PROFILE_TYPES.includes(str(v['type']))
      ? `${what} type ${JSON.stringify(v['type'] ?? '')}: not RuntimeDefault, Unconfined or Localhost`
      : undefined,
});

const seccompProfile = honoured(
  "CRI seccomp (the container's, else the pod's; without either, RuntimeDefault with --seccomp-default, else Unconfined), as upstream",
  {
    fields: {
      type: honoured('RuntimeDefault, Unconfined, or Localhost'),
      localhostProfile: honoured(
        'Localhost: the file relative to <root-dir>/seccomp; a Localhost profile without it keeps the container from being created (CreateContainerConfigError)',
      ),
    },
    refuse: unknownProfileType('seccomp profile'),
  },
);

const appArmorProfile = honoured(
  "CRI apparmor and the deprecated apparmor_profile (the container's, else the container.apparmor.security.beta.kubernetes.io/<name> annotation, else the pod's); a node without AppArmor rejects the pod at admission (reason AppArmor), as upstream",
  {
    fields: {
      type: honoured('RuntimeDefault, Unconfined, or Localhost'),
      localhostProfile: honoured('Localhost: the name of a profile loaded on the node'),
    },
    refuse: unknownProfileType('AppArmor profile'),
  },
);

const runAsNonRoot = honoured(
  "verified on every start against the runAsUser, else the image's user: root or a user name keeps the container from being created (CreateContainerConfigError), as upstream",
);

const seLinuxOptions = honoured(
  "CRI selinux_options (the container's, else the pod's); applied by the runtime where SELinux is enabled",
  { whole: true },
);

const windowsOptions = honoured('Windows only: a Linux kubelet does not read it, as upstream', { whole: true });

// ---------------------------------------------------------------------------------------------
// containers

const securityContextTable: FieldTable = {
  allowPrivilegeEscalation: honoured('false sets no_new_privs (CRI noNewPrivs); unset leaves it off, as upstream'),
  appArmorProfile,
  capabilities: honoured("CRI capabilities; unset: the runtime's default set", {
    fields: {
      add: honoured('added to the bounding, effective and permitted sets by the runtime; ALL adds every one'),
      drop: honoured(
        'dropped from every set by the runtime; ALL drops every one (an empty bounding set) before add applies',
      ),
    },
  }),
  privileged: honoured('CRI privileged, for the container and its sandbox'),
  procMount: honoured("Default: upstream's masked and read-only /proc paths, sent to the runtime", {
    refuse: {
      note: 'Unmasked: upstream allows it only in a user namespace (hostUsers: false), which kubelet-ts does not create',
      test: (v) =>
        v !== 'Default'
          ? `${JSON.stringify(v)}: only Default is applied (Unmasked needs hostUsers: false, which kubelet-ts does not support)`
          : undefined,
    },
  }),
  readOnlyRootFilesystem: honoured('CRI readonlyRootfs'),
  runAsGroup: honoured("CRI runAsGroup (the container's, else the pod's)"),
  runAsNonRoot,
  runAsUser: honoured("CRI runAsUser (the container's, else the pod's, else the image's user)"),
  seLinuxOptions,
  seccompProfile,
  windowsOptions,
};

const envVarTable: FieldTable = {
  name: honoured("the variable's name"),
  value: honoured("with upstream's $(VAR) expansion against the variables defined before it"),
  valueFrom: honoured('resolved when the container is created', {
    fields: {
      configMapKeyRef: keyRef('ConfigMap'),
      fieldRef: honoured("upstream's downward API field paths (an unknown one is a CreateContainerConfigError)", {
        fields: {
          apiVersion: honoured('v1'),
          fieldPath: honoured('metadata.*, spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s)'),
        },
      }),
      fileKeyRef: unsupported(
        `variables from a file in a volume need volumes (issue 11; ${NO_ISSUE} for the file source)`,
      ),
      resourceFieldRef: honoured("the container's requests and limits, rounded up by the divisor, as upstream", {
        fields: {
          containerName: honoured('the container whose resources are read'),
          divisor: honoured('the value is divided by it and rounded up, as upstream'),
          resource: honoured('limits/requests of cpu, memory, ephemeral-storage'),
        },
        refuse: {
          note: "limits.* of a container without that limit (upstream: the node's allocatable)",
          test: resourceFieldRefWithoutLimit,
        },
      }),
      secretKeyRef: keyRef('Secret'),
    },
  }),
};

const resourcesTable = (where: 'container' | 'pod'): FieldTable => ({
  claims: unsupported(`dynamic resource allocation (DRA) is not implemented (${NO_ISSUE})`),
  limits: honoured(
    where === 'container'
      ? "cpu (CFS quota) and memory (memory limit) go to the container's cgroup through the CRI; counted at admission"
      : 'pod-level resources',
    {
      refuse: {
        note: 'ephemeral-storage, hugepages-* and extended resources',
        test: (v) => unsupportedResources(v, 'limits'),
      },
    },
  ),
  requests: honoured(
    where === 'container'
      ? "checked against the Node's allocatable at admission (standalone: no Node, not checked); the cpu request gives the CPU shares"
      : 'pod-level resources',
    {
      refuse: { note: 'hugepages-* and extended resources', test: (v) => unsupportedResources(v, 'requests') },
    },
  ),
});

/** An httpGet handler's fields (probes and lifecycle hooks); `scheme` says what each does with HTTPS. */
const httpGetFields = (scheme: string): FieldTable => ({
  host: honoured('default the pod IP'),
  httpHeaders: honoured('sent in order; Host sets the request host; User-Agent and Accept override the defaults', {
    list: true,
    fields: { name: honoured('the header name'), value: honoured('the header value') },
  }),
  path: honoured('the request path'),
  port: honoured('a number or the name of a container port'),
  scheme: honoured(scheme),
});

/** A probe, as the prober (actors/probes) runs it: every handler and every timing field. */
const probeTable: FieldTable = {
  exec: honoured("CRI ExecSync in the container with the probe's timeout; exit 0 is success", {
    fields: { command: honoured('run as is: no shell, no $(VAR) expansion, as upstream') },
  }),
  failureThreshold: honoured('failures in a row before the result is failure (default 3)'),
  grpc: honoured('grpc.health.v1 Health/Check on the pod IP; SERVING is success', {
    fields: { port: honoured('the port dialled'), service: honoured('the service name checked') },
  }),
  httpGet: honoured(
    'GET (undici); 200–399 success, same-host redirects followed, another host a ProbeWarning; 10 KiB body cap',
    {
      fields: httpGetFields('HTTP, or HTTPS without certificate verification (as upstream)'),
    },
  ),
  initialDelaySeconds: honoured('no probe before this many seconds after the container started'),
  periodSeconds: honoured('the probe period (default 10 s); jittered once for workers created as the kubelet starts'),
  successThreshold: honoured('successes in a row before the result is success (default 1)'),
  tcpSocket: honoured('a TCP connection within the timeout', {
    fields: { host: honoured('default the pod IP'), port: honoured('a number or the name of a container port') },
  }),
  terminationGracePeriodSeconds: honoured('the grace period of the kill a liveness or startup failure causes'),
  timeoutSeconds: honoured('the deadline of each probe (default 1 s)'),
};

const probe = (kind: ContainerKind, what: string): FieldRule =>
  kind === 'initContainers'
    ? honoured(`on a sidecar (restartPolicy Always) only: ${what}`, {
        fields: probeTable,
        refuse: {
          note: SIDECAR_PROBES,
          test: (_v, ctx) => (ctx.container?.restartPolicy === 'Always' ? undefined : SIDECAR_PROBES),
        },
      })
    : honoured(what, { fields: probeTable });

/** A postStart or preStop handler, as the runtime runs it (actors/runtime/hooks.ts). */
const handlerTable = (failure: string): FieldTable => ({
  exec: honoured(`CRI ExecSync in the container, no timeout of its own; a non-zero exit fails the hook (${failure})`, {
    fields: { command: honoured('run as is: no shell, no $(VAR) expansion, as upstream') },
  }),
  httpGet: honoured(
    `GET through the probes' HTTP client as kube-lifecycle; any answer is success, no answer fails the hook (${failure})`,
    {
      fields: httpGetFields(
        'HTTP, or HTTPS without certificate verification; an HTTPS hook answered in plain HTTP is sent again over HTTP (Warning LifecycleHTTPFallback), as upstream',
      ),
    },
  ),
  sleep: honoured("waits this long on the kubelet's clock", { fields: { seconds: honoured('the seconds to wait') } }),
  tcpSocket: honoured(
    `deprecated; accepted as upstream accepts it, and, as upstream, never run: the hook fails (${failure})`,
    {
      fields: { host: honoured('not used: the hook is not run'), port: honoured('not used: the hook is not run') },
    },
  ),
});

const lifecycleTable: FieldTable = {
  postStart: honoured(
    'run right after StartContainer; the sync waits for it, so the container is not running (nor ready) in the status before it ends',
    {
      fields: handlerTable(
        'Warning FailedPostStartHook, the container killed and restarted as restartPolicy allows, waiting PostStartHookError',
      ),
    },
  ),
  preStop: honoured(
    'run before StopContainer on every kill (deletion, probe failure, sidecar stage), within the grace period, its time counted against it; at least 2 s are left for the stop',
    {
      fields: handlerTable('Warning FailedPreStopHook; the container is stopped all the same'),
    },
  ),
  stopSignal: unsupported(
    `the ContainerStopSignals feature (alpha in 1.33) is not implemented: the image's STOPSIGNAL or SIGTERM is what the runtime sends (${NO_ISSUE})`,
  ),
};

type ContainerKind = 'containers' | 'initContainers';

function containerTable(kind: ContainerKind): FieldTable {
  return {
    args: honoured("CRI args, with upstream's $(VAR) expansion"),
    command: honoured("CRI command, with upstream's $(VAR) expansion"),
    env: honoured("the container's environment, in upstream's order", { list: true, fields: envVarTable }),
    envFrom: honoured(
      'before env, in order, as upstream; keys that are not valid variable names skipped with an InvalidEnvironmentVariableNames Warning',
      {
        list: true,
        fields: {
          configMapRef: envSource('ConfigMap'),
          prefix: honoured('put before each key'),
          secretRef: envSource('Secret'),
        },
      },
    ),
    image: honoured('pulled by the image manager, the container is created from its ID'),
    imagePullPolicy: honoured('Always, IfNotPresent, Never, as upstream'),
    lifecycle: honoured('postStart and preStop hooks', { fields: lifecycleTable }),
    livenessProbe: probe(
      kind,
      'failureThreshold failures kill the container (event Killing), restarted as restartPolicy allows',
    ),
    name: honoured("the container's name (CRI metadata, labels, statuses)"),
    ports: honoured(
      "the sandbox's port mappings (hostPort through the CNI portmap plugin); admission checks host ports",
      {
        list: true,
        fields: {
          containerPort: honoured("the port mapping's container port"),
          hostIP: honoured("the port mapping's host IP"),
          hostPort: honoured("the port mapping's host port; admission refuses one already taken"),
          name: honoured('de-duplicates port mappings, as upstream'),
          protocol: honoured('TCP, UDP, SCTP'),
        },
      },
    ),
    readinessProbe: probe(kind, 'drives ready and the ContainersReady/Ready conditions'),
    resizePolicy: unsupported(
      `in-place resize is not implemented: a changed resources spec is not applied to a running container (${NO_ISSUE})`,
    ),
    resources: honoured('see limits and requests', { fields: resourcesTable('container') }),
    restartPolicy:
      kind === 'initContainers'
        ? honoured(
            "Always makes the init container a sidecar, as upstream: the next init container starts once it runs, it is restarted whenever it exits (crash-loop backoff) whatever the pod's restartPolicy, it does not keep the pod from completing, and it stops after the regular containers, in reverse order",
          )
        : unsupported(`per-container restart policies are not implemented (${NO_ISSUE})`),
    restartPolicyRules: unsupported(`container restart rules are not implemented (${NO_ISSUE})`),
    securityContext: honoured("merged with the pod's, as upstream", { fields: securityContextTable }),
    startupProbe: probe(kind, 'gates liveness and readiness; drives started; its failure kills the container'),
    stdin: honoured('CRI stdin'),
    stdinOnce: honoured('CRI stdinOnce'),
    terminationMessagePath: gap(
      'the termination message file is not mounted or read: terminated.message stays empty (issue 11 brings the mounts)',
    ),
    terminationMessagePolicy: gap(
      'neither the file nor FallbackToLogsOnError is read: terminated.message stays empty (issue 11 brings the mounts)',
    ),
    tty: honoured('CRI tty'),
    volumeDevices: unsupported(`raw block volumes are not implemented (${NO_ISSUE})`),
    volumeMounts: honoured('CRI mounts of the volumes the volumeManager set up (actors/runtime/mounts.ts)', {
      list: true,
      fields: volumeMountTable,
    }),
    workingDir: honoured('CRI workingDir'),
  };
}

// ---------------------------------------------------------------------------------------------
// the pod

const DATA_REFRESH =
  "refreshed every --sync-frequency (upstream's remount on the pod's sync, 1 min by default), the files swapped atomically (..data)";
const keyToPath = honoured(
  'each key as its path (every key without items); a missing key fails the mount unless optional',
  {
    list: true,
    fields: {
      key: honoured('the key'),
      path: honoured("the file's path in the volume (validated as upstream)"),
      mode: honoured("the file's mode"),
    },
  },
);
const downwardApiFiles = honoured('one file per item', {
  list: true,
  fields: {
    path: honoured("the file's path in the volume"),
    fieldRef: honoured(
      'metadata name, namespace, uid, labels, annotations (labels and annotations follow the pod at each refresh)',
      {
        fields: { apiVersion: honoured('v1'), fieldPath: honoured('the field') },
      },
    ),
    resourceFieldRef: honoured("a container's limits or requests, with a divisor", {
      fields: {
        containerName: honoured('the container (required in a volume)'),
        resource: honoured('the resource'),
        divisor: honoured('the unit'),
      },
    }),
    mode: honoured("the file's mode"),
  },
});
const configMapVolumeTable: FieldTable = {
  name: honoured("the ConfigMap in the pod's namespace, read through the kubelet's ConfigMap manager"),
  items: keyToPath,
  defaultMode: honoured("the files' mode (default 0644)"),
  optional: honoured('true: a missing ConfigMap gives an empty volume, a missing key no file'),
};
const secretVolumeTable: FieldTable = {
  secretName: honoured("the Secret in the pod's namespace, read through the kubelet's Secret manager"),
  items: keyToPath,
  defaultMode: honoured("the files' mode (default 0644)"),
  optional: honoured('true: a missing Secret gives an empty volume, a missing key no file'),
};
const projectionTable: FieldTable = {
  configMap: honoured("as a configMap volume's files", {
    fields: { name: configMapVolumeTable.name!, items: keyToPath, optional: configMapVolumeTable.optional! },
  }),
  secret: honoured("as a secret volume's files", {
    fields: {
      name: honoured("the Secret in the pod's namespace"),
      items: keyToPath,
      optional: secretVolumeTable.optional!,
    },
  }),
  downwardAPI: honoured("as a downwardAPI volume's files", { fields: { items: downwardApiFiles } }),
  serviceAccountToken: honoured(
    "a TokenRequest bound to the pod (kubelet's token manager: cached, refreshed at 80 % of its lifetime)",
    {
      fields: {
        audience: honoured("the token's audience (default the API server's)"),
        expirationSeconds: honoured('the requested lifetime (default 3600 s)'),
        path: honoured("the token file's path (mode 0600 with fsGroup)"),
      },
    },
  ),
  clusterTrustBundle: unsupported(`ClusterTrustBundle projections are not implemented (${NO_ISSUE})`),
  podCertificate: unsupported(`pod certificate projections are not implemented (${NO_ISSUE})`),
};

const emptyDirTable: FieldTable = {
  medium: honoured("'' (the node's disk) or Memory (a tmpfs)", {
    refuse: {
      note: 'HugePages: hugepages are not set up (issue 12)',
      test: (v) =>
        typeof v === 'string' && v !== '' && v !== 'Memory'
          ? `medium ${JSON.stringify(v)}: hugepages are not set up (issue 12)`
          : undefined,
    },
  }),
  sizeLimit: honoured(
    'the tmpfs size of a Memory emptyDir; shown in the podVolumes view for the eviction manager (issue 12)',
  ),
};
const VOLUME_SOURCES_WITHOUT_ISSUE = [
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cephfs',
  'cinder',
  'csi',
  'ephemeral',
  'fc',
  'flexVolume',
  'flocker',
  'gcePersistentDisk',
  'gitRepo',
  'glusterfs',
  'image',
  'iscsi',
  'nfs',
  'persistentVolumeClaim',
  'photonPersistentDisk',
  'portworxVolume',
  'quobyte',
  'rbd',
  'scaleIO',
  'storageos',
  'vsphereVolume',
];

const volumeTable: FieldTable = {
  name: honoured("the volume's name"),
  emptyDir: honoured('a directory under <root-dir>/pods/<uid>/volumes/kubernetes.io~empty-dir/, or a tmpfs', {
    fields: emptyDirTable,
  }),
  hostPath: honoured("the host's path, its type checked as upstream (DirectoryOrCreate and FileOrCreate create it)", {
    fields: {
      path: honoured('an absolute path on the node'),
      type: honoured("checked as upstream's checkTypeInternal"),
    },
  }),
  configMap: honoured(
    `files under <root-dir>/pods/<uid>/volumes/kubernetes.io~configmap/, mounted read-only; ${DATA_REFRESH}`,
    {
      fields: configMapVolumeTable,
    },
  ),
  secret: honoured(`files on a tmpfs (never on disk), mounted read-only; ${DATA_REFRESH}`, {
    fields: secretVolumeTable,
  }),
  downwardAPI: honoured(`files of the pod's metadata and resources, mounted read-only; ${DATA_REFRESH}`, {
    fields: { items: downwardApiFiles, defaultMode: honoured("the files' mode (default 0644)") },
  }),
  projected: honoured(
    `configMap, secret, downwardAPI and serviceAccountToken sources in one tmpfs (kube-api-access), mounted read-only; ${DATA_REFRESH}`,
    {
      fields: {
        sources: honoured('in order, a later file at the same path winning', { list: true, fields: projectionTable }),
        defaultMode: honoured("the files' mode (default 0644)"),
      },
    },
  ),
  ...Object.fromEntries(
    VOLUME_SOURCES_WITHOUT_ISSUE.map((k) => [
      k,
      unsupported(`this volume source is not mounted by kubelet-ts (${NO_ISSUE})`),
    ]),
  ),
};

const podSecurityContextTable: FieldTable = {
  appArmorProfile,
  fsGroup: honoured(
    'the group of emptyDir and data volumes (setgid, group rw) and a supplementary group of every container, as upstream',
  ),
  fsGroupChangePolicy: honoured(
    "OnRootMismatch: ownership left alone when the volume's root already has it; Always (default): walked every setUp",
  ),
  runAsGroup: honoured('CRI runAsGroup of every container without its own'),
  runAsNonRoot,
  runAsUser: honoured('CRI runAsUser of the sandbox and of every container without its own'),
  seLinuxChangePolicy: unsupported(`SELinux relabelling is not implemented (${NO_ISSUE})`),
  seLinuxOptions,
  seccompProfile,
  supplementalGroups: honoured(
    'CRI supplemental_groups of the sandbox and of every container (after fsGroup), as upstream',
  ),
  supplementalGroupsPolicy: honoured(
    "CRI supplemental_groups_policy: Merge (the image's groups too, the default) or Strict; Strict on a runtime that does not report the feature rejects the pod at admission (SupplementalGroupsPolicyNotSupported), as upstream",
    {
      refuse: {
        note: 'a value other than Merge and Strict (upstream validation refuses it)',
        test: (v) => (v !== 'Merge' && v !== 'Strict' ? `${JSON.stringify(v)}: not Merge or Strict` : undefined),
      },
    },
  ),
  sysctls: honoured(
    "the sandbox's sysctls (set by the runtime); upstream's safe set and --allowed-unsafe-sysctls are checked at admission (SysctlForbidden)",
    {
      list: true,
      fields: {
        name: honoured('checked at admission against the safe set and --allowed-unsafe-sysctls'),
        value: honoured('the value written'),
      },
    },
  ),
  windowsOptions,
};

const DNS_POLICIES_NOTE =
  "as upstream: ClusterFirst, the --cluster-dns servers alone with the search path <ns>.svc.<domain> svc.<domain> <domain> + the host's and ndots:5 (on the host network: Default; without --cluster-dns: Default, with a MissingClusterDNS event); ClusterFirstWithHostNet, the same on the host network; Default, the --resolv-conf file; None, dnsConfig alone";
const DNS_CONFIG_MERGE =
  "merged into the dnsPolicy's config as upstream, then trimmed to the resolver limits (a DNSConfigForming event)";

/** The v1 PodSpec, field by field. */
export const POD_SPEC_FIELDS: FieldTable = {
  activeDeadlineSeconds: honoured(
    'past it (from status.startTime) the pod is Failed with reason DeadlineExceeded and its containers are killed, as upstream',
  ),
  affinity: honoured(
    `${SCHEDULER}; required node affinity is checked again at admission against the Node (not standalone)`,
    { whole: true },
  ),
  automountServiceAccountToken: honoured(
    `${API_SERVER} (its ServiceAccount admission adds the token volume, which is refused)`,
  ),
  containers: honoured('run as CRI containers in the pod sandbox', {
    list: true,
    containers: true,
    fields: containerTable('containers'),
  }),
  dnsConfig: honoured(`the sandbox's DNS config: ${DNS_CONFIG_MERGE}`, {
    fields: {
      nameservers: honoured('appended without repeats; 3 at most'),
      options: honoured("merged by name, the pod's value winning", {
        list: true,
        fields: { name: honoured('the option'), value: honoured('name:value; none: the bare name') },
      }),
      searches: honoured('appended without repeats; 32 paths and 2048 characters at most'),
    },
  }),
  dnsPolicy: honoured(DNS_POLICIES_NOTE),
  enableServiceLinks: gap(
    'standalone: as upstream, there are no Services and no variables; with an API server the Service variables (and KUBERNETES_SERVICE_HOST/PORT, which upstream adds whatever the value) are not set yet (' +
      NO_ISSUE +
      ')',
  ),
  ephemeralContainers: {
    ...unsupported(
      `ephemeral containers (kubectl debug) are not run (${NO_ISSUE}); each is refused on its own, the pod's other containers are not held`,
    ),
    list: true,
    containers: true,
  },
  hostAliases: honoured(
    'entries of the kubelet-managed /etc/hosts (<root-dir>/pods/<uid>/etc-hosts), one line per IP, as upstream',
    {
      list: true,
      fields: { hostnames: honoured("the names on the IP's line"), ip: honoured("the line's address") },
    },
  ),
  hostIPC: honoured("the node's IPC namespace (CRI NODE)"),
  hostNetwork: honoured("the node's network namespace (CRI NODE)"),
  hostPID: honoured("the node's PID namespace (CRI NODE)"),
  hostUsers: honoured('true: no user namespace', {
    refuse: {
      note: `false: user namespaces are not implemented (${NO_ISSUE})`,
      test: (v) => (v === false ? `user namespaces are not implemented (${NO_ISSUE})` : undefined),
    },
  }),
  hostname: honoured(
    "the sandbox's hostname, cut to 63 characters as upstream, and the pod IP's name in the managed /etc/hosts",
  ),
  hostnameOverride: unsupported(`not implemented (${NO_ISSUE})`),
  imagePullSecrets: unsupported(
    `registry credentials are not read yet: pulls are anonymous (${NO_ISSUE}; Secrets come with issue 11)`,
  ),
  initContainers: honoured(
    'run one at a time, in order, each to completion (a sidecar: until it started), before the regular containers',
    {
      list: true,
      containers: true,
      fields: containerTable('initContainers'),
    },
  ),
  nodeName: honoured("the pod source selects the node's pods; admission checks it"),
  nodeSelector: honoured(
    `${SCHEDULER}; checked again at admission against the Node (standalone there is no Node to check: upstream checks its default labels)`,
  ),
  os: honoured('admission refuses anything but linux (PodOSNotSupported)', { fields: { name: honoured('linux') } }),
  overhead: honoured("added to the pod's requests at admission"),
  preemptionPolicy: honoured(SCHEDULER),
  priority: honoured('critical pods (>= 2000000000) are admitted over resources, as upstream'),
  priorityClassName: honoured(
    `${API_SERVER} (it sets priority); system-node-critical also sets the OOM score, as upstream`,
  ),
  readinessGates: honoured("the Ready condition waits for the gates' conditions", {
    list: true,
    fields: { conditionType: honoured('the condition read') },
  }),
  resourceClaims: unsupported(`dynamic resource allocation (DRA) is not implemented (${NO_ISSUE})`),
  resources: unsupported('pod-level resources are not applied yet (issue 12)'),
  restartPolicy: honoured("Always, OnFailure, Never, with upstream's crash-loop backoff"),
  runtimeClassName: unsupported(`RuntimeClass handlers are not passed to the runtime (${NO_ISSUE})`),
  schedulerName: honoured(SCHEDULER),
  schedulingGates: honoured(`${SCHEDULER} (a gated pod is never bound)`, { whole: true }),
  securityContext: honoured("the sandbox's and each container's CRI security context, as upstream merges them", {
    fields: podSecurityContextTable,
  }),
  serviceAccount: honoured(`${API_SERVER} (deprecated alias of serviceAccountName)`),
  serviceAccountName: honoured(`${API_SERVER}; the downward API's spec.serviceAccountName`),
  setHostnameAsFQDN: honoured(
    "true with a subdomain: the sandbox's hostname is the FQDN; over 64 characters the sandbox is not created (FailedCreatePodSandBox), as upstream",
  ),
  shareProcessNamespace: honoured('one PID namespace for the pod (CRI POD)'),
  subdomain: honoured(
    'the FQDN <hostname>.<subdomain>.<namespace>.svc.<--cluster-domain> in the managed /etc/hosts (and the hostname with setHostnameAsFQDN)',
  ),
  terminationGracePeriodSeconds: honoured('SIGTERM, then SIGKILL after it, on deletion and when a container is killed'),
  tolerations: honoured('admission checks NoExecute taints, as upstream', {
    list: true,
    fields: {
      effect: honoured("NoExecute checked at admission; the rest is the scheduler's"),
      key: honoured("matched against the Node's taints at admission"),
      operator: honoured('Exists or Equal, at admission'),
      tolerationSeconds: honoured(`not the kubelet's concern: the taint eviction controller's`),
      value: honoured("matched against the Node's taints at admission"),
    },
  }),
  topologySpreadConstraints: honoured(SCHEDULER, { whole: true }),
  volumes: honoured("each volume's source decides (a volume without one is an emptyDir, as upstream)", {
    list: true,
    fields: volumeTable,
  }),
};

// ---------------------------------------------------------------------------------------------
// one pod

export interface UnsupportedField {
  /** The field's path in the pod, as upstream prints it: `spec.containers[0].livenessProbe`. */
  path: string;
  /** Why this value is refused, when the field is honoured for other values. */
  detail?: string;
  /**
   * The container whose own field it is (an ephemeral container: itself); absent for a pod-level
   * field, which affects every container.
   */
  container?: string;
}

export const NOT_SUPPORTED = 'not supported by kubelet-ts';

function walk(
  obj: Record<string, unknown>,
  table: FieldTable,
  path: string,
  ctx: FieldContext,
  out: UnsupportedField[],
): void {
  const mine = ctx.container ? { container: ctx.container.name } : {};
  for (const [key, value] of Object.entries(obj)) {
    if (!isSet(value)) continue;
    const at = `${path}.${key}`;
    const rule = Object.hasOwn(table, key) ? table[key]! : undefined;
    if (!rule) {
      out.push({ path: at, detail: 'unknown field', ...mine });
      continue;
    }
    if (rule.support === 'unsupported') {
      // A list of containers refused as a whole refuses each of them, not the pod.
      if (rule.containers && Array.isArray(value))
        value.forEach((el, i) => out.push({ path: `${at}[${i}]`, container: isObject(el) ? str(el['name']) : '' }));
      else out.push({ path: at, ...mine });
      continue;
    }
    if (rule.support === 'gap') continue;
    const detail = rule.refuse?.test(value, ctx);
    if (detail !== undefined) {
      out.push({ path: at, detail, ...mine });
      continue;
    }
    if (!rule.fields || rule.whole) continue;
    if (rule.list) {
      if (!Array.isArray(value)) continue;
      value.forEach((el, i) => {
        if (!isObject(el)) return;
        const inner = rule.containers ? { pod: ctx.pod, container: el as Container } : ctx;
        walk(el, rule.fields!, `${at}[${i}]`, inner, out);
      });
    } else if (isObject(value)) {
      walk(value, rule.fields, at, ctx, out);
    }
  }
}

/** Every field of the pod's spec that kubelet-ts would not honour, in spec order. */
export function unsupportedFields(pod: Pod): UnsupportedField[] {
  const out: UnsupportedField[] = [];
  walk(pod.spec as Record<string, unknown>, POD_SPEC_FIELDS, 'spec', { pod }, out);
  return out;
}

/** `spec.containers[0].livenessProbe: not supported by kubelet-ts`, with the value's cause if any. */
export function formatUnsupportedField(f: UnsupportedField): string {
  return `${f.path}: ${NOT_SUPPORTED}${f.detail ? ` (${f.detail})` : ''}`;
}

const MAX_LISTED = 10;

/** One line for a waiting message or an event: at most ten fields, then how many more. */
export function formatUnsupportedFields(fields: readonly UnsupportedField[]): string {
  const shown = fields.slice(0, MAX_LISTED).map(formatUnsupportedField);
  if (fields.length > MAX_LISTED) shown.push(`and ${fields.length - MAX_LISTED} more`);
  return shown.join('; ');
}

/**
 * The containers (init and regular, by name) kubelet-ts must not create, each with the fields
 * that refuse it: the pod-level ones, then its own. Empty when the pod is fully supported.
 */
export function refusedContainers(
  pod: Pod,
  fields: readonly UnsupportedField[] = unsupportedFields(pod),
): Map<string, UnsupportedField[]> {
  const podLevel = fields.filter((f) => f.container === undefined);
  const out = new Map<string, UnsupportedField[]>();
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    const own = fields.filter((f) => f.container === c.name);
    if (podLevel.length + own.length > 0) out.set(c.name, [...podLevel, ...own]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// the table, flattened (the README section and the schema spec)

export interface FlatRule {
  /** `spec.containers[].livenessProbe`: `[]` after a list. */
  path: string;
  rule: FieldRule;
}

/** Every rule of the table with its path, parents before children. */
export function flattenFieldTable(table: FieldTable = POD_SPEC_FIELDS, prefix = 'spec'): FlatRule[] {
  const out: FlatRule[] = [];
  for (const key of Object.keys(table).sort()) {
    const rule = table[key]!;
    const path = `${prefix}.${key}${rule.list ? '[]' : ''}`;
    out.push({ path, rule });
    if (rule.fields) out.push(...flattenFieldTable(rule.fields, path));
  }
  return out;
}

function markdownRows(rows: readonly { path: string; note: string }[]): string[] {
  // One row per reason: the paths that share it, in table order.
  const byNote = new Map<string, string[]>();
  for (const r of rows) byNote.set(r.note, [...(byNote.get(r.note) ?? []), r.path]);
  return [...byNote].map(([note, paths]) => `| ${paths.map((p) => `\`${p}\``).join(', ')} | ${note} |`);
}

/** The README's list of what kubelet-ts does not support, generated from the table. */
export function unsupportedFieldsMarkdown(table: FieldTable = POD_SPEC_FIELDS): string {
  const flat = flattenFieldTable(table);
  // A field beneath an unsupported one is refused with it: list the top one only.
  const covered = (path: string) => flat.some((f) => f.rule.support === 'unsupported' && path.startsWith(`${f.path}.`));
  const unsupportedRows = flat
    .filter((f) => f.rule.support === 'unsupported' && !covered(f.path))
    .map((f) => ({ path: f.path, note: f.rule.note }));
  const refusedValues = flat
    .filter((f) => f.rule.refuse && !covered(f.path))
    .map((f) => ({ path: f.path, note: f.rule.refuse!.note }));
  const gaps = flat.filter((f) => f.rule.support === 'gap').map((f) => ({ path: f.path, note: f.rule.note }));
  return [
    'Refused whenever set:',
    '',
    '| field | why |',
    '| --- | --- |',
    ...markdownRows(unsupportedRows),
    '',
    'Honoured, except for these values (refused the same way):',
    '',
    '| field | refused values |',
    '| --- | --- |',
    ...markdownRows(refusedValues),
    '',
    'Known gaps, tolerated because every pod carries them (refusing them would refuse every pod):',
    '',
    '| field | what is missing |',
    '| --- | --- |',
    ...markdownRows(gaps),
  ].join('\n');
}
