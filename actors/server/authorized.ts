/**
 * The handlers upstream installs only on the authenticated port (InstallAuthRequiredHandlers):
 * `/containerLogs/{ns}/{pod}/{container}`, `/runningpods/`, `/configz`. Each answers from what
 * the server actor reads (views) and the ports it is given.
 */
import type { Pod } from '../../protocols/kube/pod.ts';
import type { DesiredPods, PodStatuses, RuntimePods } from '../../protocols/messages/channels.ts';
import type { Answer } from './adapters.ts';
import { findLogTarget, logContainerId, parseLogOptions, streamLog, type LogFile } from './logs.ts';

export interface LogSource {
  /** The CRI's log path of a container (ContainerStatus.logPath). */
  containerLogPath(containerId: string): Promise<string>;
  /** Opens it, refusing a path outside the log root. */
  open(path: string): Promise<LogFile>;
}

export interface AuthorizedDeps {
  desired(): DesiredPods | undefined;
  statuses(): PodStatuses | undefined;
  runtimePods(): RuntimePods | undefined;
  logs?: LogSource;
  /** The KubeletConfiguration in effect, for /configz. */
  configz?: () => Record<string, unknown>;
  now(): number;
  /** Resolves after the follow poll interval (the clock's). */
  wait(): Promise<void>;
}

const text = (status: number, body: string): Answer => ({ status, contentType: 'text/plain; charset=utf-8', body });
const json = (body: unknown): Answer => ({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });

/** upstream getContainerLogs. */
export async function containerLogs(
  d: AuthorizedDeps,
  path: string,
  query: URLSearchParams,
  signal: AbortSignal,
): Promise<Answer> {
  const parts = path.slice('/containerLogs/'.length).split('/').map(decodeURIComponent);
  const [ns = '', podName = '', container = ''] = parts;
  if (parts.length > 3) return text(404, '404 page not found\n');
  if (!podName) return text(400, '{"message": "Missing podID."}');
  if (!container) return text(400, '{"message": "Missing container name."}');
  if (!ns) return text(400, '{"message": "Missing podNamespace."}');
  const opts = parseLogOptions(query);
  if (!opts.ok) return text(opts.status, opts.body);
  const pods = [...(d.desired()?.values() ?? [])].map((x) => x.pod);
  const target = findLogTarget(pods, ns, podName, container);
  if (!target.ok) return text(target.status, target.body);
  const pod = target.value;
  const uid = pod.metadata?.uid ?? '';
  const statusOf = () => {
    const st = d.statuses()?.get(uid);
    return [
      ...(st?.initContainerStatuses ?? []),
      ...(st?.containerStatuses ?? []),
      ...(st?.ephemeralContainerStatuses ?? []),
    ].find((c) => c.name === container);
  };
  const cid = logContainerId(pod, statusOf(), container, opts.value.previous);
  if (!cid.ok) return text(cid.status, cid.body);
  if (!d.logs) return text(400, `container logs are not available on this kubelet`);
  const id = cid.value.replace(/^[a-z]+:\/\//, '');
  let file: LogFile;
  try {
    file = await d.logs.open(await d.logs.containerLogPath(id));
  } catch (e) {
    return text(400, e instanceof Error ? e.message : String(e));
  }
  const o = opts.value;
  const sinceMs =
    o.sinceTime !== undefined
      ? Date.parse(o.sinceTime)
      : o.sinceSeconds !== undefined
        ? d.now() - o.sinceSeconds * 1000
        : undefined;
  // follow stops once the container read is no longer the running instance
  const running = () => {
    const s = statusOf();
    return s?.state?.running !== undefined && s.containerID === cid.value;
  };
  return {
    status: 200,
    contentType: 'text/plain',
    headers: { 'Transfer-Encoding': 'chunked' },
    body: streamLog(file, { ...o, ...(sinceMs !== undefined ? { sinceMs } : {}), wait: d.wait, running, signal }),
  };
}

/** upstream getRunningPods: the runtime's pods as a v1 PodList (name, namespace, uid; container names and images). */
export function runningPods(d: AuthorizedDeps): Answer {
  const items: Pod[] = [];
  for (const [uid, p] of [...(d.runtimePods() ?? [])].sort(([a], [b]) => a.localeCompare(b))) {
    const st = d.statuses()?.get(uid);
    const ids = new Set(p.containerIds);
    const containers = [...(st?.initContainerStatuses ?? []), ...(st?.containerStatuses ?? [])]
      .filter((c) => c.containerID && ids.has(c.containerID.replace(/^[a-z]+:\/\//, '')))
      .map((c) => ({ name: c.name, image: c.image }));
    items.push({ metadata: { name: p.name, namespace: p.namespace, uid }, spec: { containers } } as Pod);
  }
  return json({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
}

/** upstream configz: `{"kubeletconfig": ...}`. */
export function configz(d: AuthorizedDeps): Answer {
  return json({ kubeletconfig: d.configz?.() ?? {} });
}
