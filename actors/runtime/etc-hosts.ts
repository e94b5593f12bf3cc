/**
 * The pod's name on the network: its hostname and domain (upstream GeneratePodHostNameAndDomain,
 * truncatePodHostnameIfNeeded, util.GetNodenameForKernel) and the kubelet-managed /etc/hosts
 * (kubelet_pods.go makeMounts, makeHostsMount, ensureHostsFile, managedHostsFileContent,
 * nodeHostsFileContent, hostsEntriesFromHostAliases).
 *
 * The hosts file is `<root-dir>/pods/<uid>/etc-hosts`, bind-mounted read-write at /etc/hosts in
 * every container once the pod has an IP (a host-network pod has the node's), unless the container
 * mounts a volume at /etc/hosts itself. Without hostNetwork it holds the localhost lines, the pod's
 * IPs with its hostname (and FQDN with a subdomain), then the hostAliases; with hostNetwork the
 * node's own /etc/hosts under a "(host network)" header, then the hostAliases.
 *
 * Pure: the caller reads the node's /etc/hosts and writes the file.
 */
import type { Container, Pod } from '../../protocols/kube/pod.ts';

export const ETC_HOSTS_PATH = '/etc/hosts';
export const MANAGED_HOSTS_HEADER = '# Kubernetes-managed hosts file.\n';
export const MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK = '# Kubernetes-managed hosts file (host network).\n';

const HOSTNAME_MAX_LEN = 63;
/** upstream's limit for the kernel's nodename (utsname) when it is the FQDN. */
const FQDN_MAX_LEN = 64;

/** The pod's hostname or domain cannot be used: the sandbox is not created (upstream's error). */
export class PodHostnameError extends Error {
  override name = 'PodHostnameError';
}

export interface HostAlias {
  ip?: string;
  hostnames?: string[];
}

/**
 * upstream GeneratePodHostNameAndDomain: spec.hostname or the pod name, cut to 63 characters
 * without a trailing '-' or '.'; the domain `<subdomain>.<namespace>.svc.<clusterDomain>` when
 * spec.subdomain is set (with an empty cluster domain upstream ends it in "svc.").
 */
export function podHostnameAndDomain(pod: Pod, clusterDomain: string): { hostname: string; domain: string } {
  let hostname = pod.spec.hostname || pod.metadata.name;
  if (hostname.length > HOSTNAME_MAX_LEN) {
    hostname = hostname.slice(0, HOSTNAME_MAX_LEN).replace(/[-.]+$/, '');
    if (hostname === '')
      throw new PodHostnameError(
        `hostname for pod "${pod.metadata.name}" was invalid: "${pod.spec.hostname || pod.metadata.name}"`,
      );
  }
  const sub = pod.spec.subdomain;
  return { hostname, domain: sub ? `${sub}.${pod.metadata.namespace}.svc.${clusterDomain}` : '' };
}

/**
 * upstream GetNodenameForKernel: the FQDN with setHostnameAsFQDN and a domain, else the short
 * hostname; an FQDN over 64 characters is an error.
 */
export function nodenameForKernel(hostname: string, domain: string, setHostnameAsFQDN: boolean | undefined): string {
  if (domain === '' || setHostnameAsFQDN !== true) return hostname;
  const fqdn = `${hostname}.${domain}`;
  if (fqdn.length > FQDN_MAX_LEN) {
    throw new PodHostnameError(
      `failed to construct FQDN from pod hostname and cluster domain, FQDN ${fqdn} is too long (${FQDN_MAX_LEN} characters is the max, ${fqdn.length} characters requested)`,
    );
  }
  return fqdn;
}

/** upstream hostsEntriesFromHostAliases: one line per IP, its hostnames tab-separated. */
export function hostsEntriesFromHostAliases(aliases: readonly HostAlias[] | undefined): string {
  if (!aliases || aliases.length === 0) return '';
  return `\n# Entries added by HostAliases.\n${aliases.map((a) => `${a.ip ?? ''}\t${(a.hostnames ?? []).join('\t')}\n`).join('')}`;
}

/** upstream managedHostsFileContent */
export function managedHostsFileContent(
  podIPs: readonly string[],
  hostname: string,
  domain: string,
  aliases?: readonly HostAlias[],
): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    ...podIPs.map((ip) => (domain !== '' ? `${ip}\t${hostname}.${domain}\t${hostname}` : `${ip}\t${hostname}`)),
  ];
  return MANAGED_HOSTS_HEADER + lines.map((l) => `${l}\n`).join('') + hostsEntriesFromHostAliases(aliases);
}

/** upstream nodeHostsFileContent: the node's file as it is, under its header, then the aliases. */
export function nodeHostsFileContent(nodeHosts: string, aliases?: readonly HostAlias[]): string {
  return MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK + nodeHosts + hostsEntriesFromHostAliases(aliases);
}

/**
 * upstream shouldMountHostsFile + makeMounts: a container gets the managed /etc/hosts when the
 * pod has an IP and the container mounts nothing at /etc/hosts itself.
 */
export function shouldMountHostsFile(container: Container, podIPs: readonly string[]): boolean {
  return podIPs.length > 0 && !(container.volumeMounts ?? []).some((m) => m.mountPath === ETC_HOSTS_PATH);
}

/**
 * The content of the pod's managed hosts file (`nodeHosts`: the node's /etc/hosts, read by the
 * caller for a host-network pod).
 */
export function podHostsFileContent(
  pod: Pod,
  podIPs: readonly string[],
  clusterDomain: string,
  nodeHosts: string,
): string {
  const aliases = pod.spec.hostAliases as HostAlias[] | undefined;
  if (pod.spec.hostNetwork) return nodeHostsFileContent(nodeHosts, aliases);
  const { hostname, domain } = podHostnameAndDomain(pod, clusterDomain);
  return managedHostsFileContent(podIPs, hostname, domain, aliases);
}
