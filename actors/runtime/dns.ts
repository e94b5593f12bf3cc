/**
 * The pod's DNS resolver configuration (the sandbox's CRI DNSConfig), as upstream's DNS
 * configurer builds it (pkg/kubelet/network/dns/dns.go GetPodDNS):
 *
 * - dnsPolicy None: nothing but the pod's dnsConfig;
 * - ClusterFirst (ClusterFirstWithHostNet; ClusterFirst only without hostNetwork): the cluster DNS
 *   servers (--cluster-dns) as the only nameservers, searches `<ns>.svc.<domain> svc.<domain>
 *   <domain>` then the host's (without repeats; the host's alone without --cluster-domain), and
 *   options `ndots:5`. With no cluster DNS configured: a MissingClusterDNS Warning on the node and
 *   on the pod, and the Default policy instead;
 * - Default (and ClusterFirst with hostNetwork): the host's resolv.conf (--resolv-conf); with
 *   `--resolv-conf=""` a localhost nameserver (::1 on an IPv6 node) and search `.`;
 * - then the pod's dnsConfig appended (nameservers and searches without repeats, options by name,
 *   the pod's value winning), and the result trimmed to the resolver's limits (3 nameservers, 32
 *   search paths, 2048 characters of search line, no search path over 253 characters) with a
 *   DNSConfigForming Warning saying what was applied.
 *
 * Pure: the caller reads the resolv.conf and records the events returned.
 */
import type { DNSConfig } from '../../protocols/cri/types.ts';
import type { Pod } from '../../protocols/kube/pod.ts';

/** upstream validation.MaxDNSNameservers */
export const MAX_DNS_NAMESERVERS = 3;
/** upstream validation.MaxDNSSearchPaths (ExpandedDNSConfig, GA since 1.28) */
export const MAX_DNS_SEARCH_PATHS = 32;
/** upstream validation.MaxDNSSearchListChars (ExpandedDNSConfig) */
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
/** upstream utilvalidation.DNS1123SubdomainMaxLength: longer search paths abort some resolvers (glibc 2.28). */
export const MAX_DNS_SEARCH_PATH_CHARS = 253;
/** upstream defaultDNSOptions */
export const CLUSTER_DNS_OPTIONS: readonly string[] = ['ndots:5'];

/** The kubelet's DNS settings: --cluster-dns, --cluster-domain, --resolv-conf. */
export interface DnsSettings {
  /** IPs (already checked: upstream skips an entry that is not one, with a log line). */
  clusterDns: readonly string[];
  clusterDomain: string;
  /** The host's resolver file; "" for none. */
  resolvConf: string;
  /** The node's IPs, for the localhost nameserver's family when resolvConf is "". */
  nodeIPs?: readonly string[];
}

/** An event upstream records while forming the DNS config: on the pod, or on the node. */
export interface DnsEvent {
  on: 'pod' | 'node';
  reason: 'MissingClusterDNS' | 'DNSConfigForming';
  message: string;
}

/** The host's resolver config cannot be used: the sandbox is not created (upstream GetPodDNS's error). */
export class DnsConfigError extends Error {
  override name = 'DnsConfigError';
}

/** upstream parseResolvConf: nameservers accumulate; the last search and options lines win. */
export function parseResolvConf(text: string): {
  servers: string[];
  searches: string[];
  options: string[];
  errors: string[];
} {
  const servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    if (fields[0] === 'nameserver') {
      if (fields.length >= 2) servers.push(fields[1]!);
      else errors.push('nameserver list is empty');
    }
    // the same domain with and without its trailing dot counts once
    if (fields[0] === 'search') searches = fields.slice(1).map((s) => (s.endsWith('.') ? s.slice(0, -1) : s));
    if (fields[0] === 'options') options = fields.slice(1);
  }
  return { servers, searches, options, errors };
}

function omitDuplicates(values: readonly string[]): string[] {
  return [...new Set(values)];
}

type PodDnsType = 'cluster' | 'host' | 'none';

/** upstream getPodDNSType: ClusterFirst on the host's network is Default; an unknown policy is ClusterFirst. */
export function podDnsType(pod: Pod): PodDnsType {
  switch (pod.spec.dnsPolicy ?? 'ClusterFirst') {
    case 'None':
      return 'none';
    case 'ClusterFirstWithHostNet':
      return 'cluster';
    case 'Default':
      return 'host';
    case 'ClusterFirst':
      return pod.spec.hostNetwork ? 'host' : 'cluster';
    default:
      return 'cluster';
  }
}

interface PodDnsConfigSpec {
  nameservers?: string[];
  searches?: string[];
  options?: { name?: string; value?: string }[];
}

/**
 * upstream mergeDNSOptions: options by name (`name` or `name:value`), the pod's overriding the
 * base's. Upstream's order is Go map order (random); here the first appearance of each name.
 */
export function mergeDnsOptions(base: readonly string[], pod: PodDnsConfigSpec['options']): string[] {
  const byName = new Map<string, string>();
  for (const op of base) {
    const i = op.indexOf(':');
    if (i >= 0) byName.set(op.slice(0, i), op.slice(i + 1));
    else byName.set(op, '');
  }
  for (const op of pod ?? []) byName.set(op.name ?? '', op.value ?? '');
  return [...byName].map(([name, value]) => (value !== '' ? `${name}:${value}` : name));
}

/** upstream formDNSSearchFitsLimits: what was cut is said in a DNSConfigForming event. */
export function fitSearches(searches: readonly string[], events: DnsEvent[]): string[] {
  let exceeded = false;
  let out = [...searches];
  if (out.length > MAX_DNS_SEARCH_PATHS) {
    out = out.slice(0, MAX_DNS_SEARCH_PATHS);
    exceeded = true;
  }
  const fitting = out.filter((s) => s.length <= MAX_DNS_SEARCH_PATH_CHARS);
  if (fitting.length !== out.length) exceeded = true;
  out = fitting;
  const lineLength = out.join(' ').length;
  if (lineLength > MAX_DNS_SEARCH_LIST_CHARS) {
    // drop domains from the end until the line fits
    let cut = 0;
    let cutLength = 0;
    for (let i = out.length - 1; i >= 0; i--) {
      cutLength += out[i]!.length + 1;
      cut++;
      if (lineLength - cutLength <= MAX_DNS_SEARCH_LIST_CHARS) break;
    }
    out = out.slice(0, out.length - cut);
    exceeded = true;
  }
  if (exceeded) {
    events.push({
      on: 'pod',
      reason: 'DNSConfigForming',
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${out.join(' ')}`,
    });
  }
  return out;
}

/** upstream formDNSNameserversFitsLimits */
export function fitNameservers(servers: readonly string[], events: DnsEvent[]): string[] {
  if (servers.length <= MAX_DNS_NAMESERVERS) return [...servers];
  const out = servers.slice(0, MAX_DNS_NAMESERVERS);
  events.push({
    on: 'pod',
    reason: 'DNSConfigForming',
    message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${out.join(' ')}`,
  });
  return out;
}

/** upstream generateSearchesForDNSClusterFirst */
export function clusterFirstSearches(
  hostSearches: readonly string[],
  namespace: string,
  clusterDomain: string,
): string[] {
  if (clusterDomain === '') return [...hostSearches];
  return omitDuplicates([`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain, ...hostSearches]);
}

const isIPv6 = (ip: string) => ip.includes(':');

/**
 * upstream GetPodDNS. `hostResolvConf` is the text of settings.resolvConf (unused when that is
 * ""); a file with a `nameserver` line without an address is a DnsConfigError, as upstream.
 */
export function getPodDns(
  pod: Pod,
  settings: DnsSettings,
  hostResolvConf: string | undefined,
): { config: DNSConfig; events: DnsEvent[] } {
  const events: DnsEvent[] = [];
  let config: DNSConfig = { servers: [], searches: [], options: [] };
  if (settings.resolvConf !== '') {
    const host = parseResolvConf(hostResolvConf ?? '');
    if (host.errors.length > 0) throw new DnsConfigError(`${settings.resolvConf}: ${host.errors.join(', ')}`);
    config = { servers: host.servers, searches: host.searches, options: host.options };
  }
  let type = podDnsType(pod);
  if (type === 'none') config = { servers: [], searches: [], options: [] };
  if (type === 'cluster') {
    if (settings.clusterDns.length > 0) {
      // the cluster DNS server is the only nameserver: it forwards what it cannot answer
      config = {
        servers: [...settings.clusterDns],
        searches: clusterFirstSearches(config.searches, pod.metadata.namespace, settings.clusterDomain),
        options: [...CLUSTER_DNS_OPTIONS],
      };
    } else {
      const message =
        'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.';
      events.push({ on: 'node', reason: 'MissingClusterDNS', message });
      events.push({
        on: 'pod',
        reason: 'MissingClusterDNS',
        message: `pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})". ${message}`,
      });
      type = 'host';
    }
  }
  if (type === 'host' && settings.resolvConf === '') {
    // no resolver file: "the nameserver on the local machine", which disables lookups in effect
    const servers = (settings.nodeIPs ?? []).map((ip) => (isIPv6(ip) ? '::1' : '127.0.0.1'));
    config.servers = [...config.servers, ...(servers.length > 0 ? servers : ['127.0.0.1'])];
    config.searches = ['.'];
  }
  const podCfg = pod.spec.dnsConfig as PodDnsConfigSpec | undefined;
  if (podCfg) {
    config = {
      servers: omitDuplicates([...config.servers, ...(podCfg.nameservers ?? [])]),
      searches: omitDuplicates([...config.searches, ...(podCfg.searches ?? [])]),
      options: mergeDnsOptions(config.options, podCfg.options),
    };
  }
  return {
    config: {
      servers: fitNameservers(config.servers, events),
      searches: fitSearches(config.searches, events),
      options: config.options,
    },
    events,
  };
}

/**
 * upstream CheckLimitsForResolvConf (once, as the syncLoop starts): what is wrong with the host's
 * resolver file for pods, as the message of a CheckLimitsForResolvConf Warning on the node, or
 * undefined. `read` is the file's text or the error reading it.
 */
export function checkLimitsForResolvConf(
  path: string,
  read: { text: string } | { error: string },
  clusterDomain: string,
): string | undefined {
  if ('error' in read) return read.error;
  const { searches, errors } = parseResolvConf(read.text);
  if (errors.length > 0) return errors.join(', ');
  // the cluster search path takes three of the paths
  const limit = clusterDomain !== '' ? MAX_DNS_SEARCH_PATHS - 3 : MAX_DNS_SEARCH_PATHS;
  if (searches.length > limit)
    return `Resolv.conf file '${path}' contains search line consisting of more than ${limit} domains!`;
  if (searches.some((s) => s.length > MAX_DNS_SEARCH_PATH_CHARS)) {
    return `Resolv.conf file ${JSON.stringify(path)} contains a search path which length is more than allowed ${MAX_DNS_SEARCH_PATH_CHARS} chars!`;
  }
  if (searches.join(' ').length > MAX_DNS_SEARCH_LIST_CHARS) {
    return `Resolv.conf file '${path}' contains search line which length is more than allowed ${MAX_DNS_SEARCH_LIST_CHARS} chars!`;
  }
  return undefined;
}
