/**
 * `/containerLogs/{namespace}/{pod}/{container}`: upstream's getContainerLogs and
 * GetKubeletContainerLogs over the CRI log files (pkg/kubelet/kuberuntime/logs):
 * - the query is a v1 PodLogOptions (follow, previous, sinceSeconds, sinceTime, timestamps,
 *   tailLines, limitBytes; `tail` as the old name of tailLines); one that does not decode is 400
 *   `{"message": "Unable to decode query."}`, one that fails validation 422 `{"message": "Invalid request."}`;
 * - the container is chosen from its status as upstream's validateContainerLogStatus does
 *   (the running one, the terminated one, the last terminated with `previous`), else 400 naming why;
 * - each CRI line `<RFC3339Nano> <stream> <P|F> <text>` is written as its text (a newline after F),
 *   prefixed by its timestamp with `timestamps`; lines before `since` skipped; `tailLines` last
 *   lines; output cut at `limitBytes`; `follow` reads on as the file grows until the container stops.
 * Pure but for the LogFile port the adapter gives.
 */
import type { ContainerStatus, Pod } from '../../protocols/kube/pod.ts';

export interface LogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  sinceTime?: string;
  tailLines?: number;
  limitBytes?: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; status: number; body: string };

const BOOL = new Set(['true', 'false', '1', '0', 't', 'f', 'T', 'F', 'TRUE', 'FALSE', 'True', 'False']);
const truthy = (v: string) => ['true', '1', 't', 'T', 'TRUE', 'True'].includes(v);

/** The PodLogOptions of a query (upstream's parameter codec, then ValidatePodLogOptions). */
export function parseLogOptions(query: URLSearchParams): Parsed<LogOptions> {
  const undecodable: Parsed<LogOptions> = { ok: false, status: 400, body: '{"message": "Unable to decode query."}' };
  const invalid: Parsed<LogOptions> = { ok: false, status: 422, body: '{"message": "Invalid request."}' };
  // `tail` is the old name of tailLines; "all" means no limit
  const q = new URLSearchParams(query);
  const tail = q.get('tail');
  if (tail !== null && tail !== '') {
    if (tail === 'all') q.delete('tailLines');
    else q.set('tailLines', tail);
  }
  const bool = (k: string): boolean | null => {
    const v = q.get(k);
    if (v === null || v === '') return false;
    return BOOL.has(v) ? truthy(v) : null;
  };
  const int = (k: string): number | undefined | null => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    return /^-?\d+$/.test(v) ? Number(v) : null;
  };
  const [follow, previous, timestamps] = [bool('follow'), bool('previous'), bool('timestamps')];
  const [tailLines, sinceSeconds, limitBytes] = [int('tailLines'), int('sinceSeconds'), int('limitBytes')];
  const sinceTime = q.get('sinceTime') || undefined;
  if (
    follow === null ||
    previous === null ||
    timestamps === null ||
    tailLines === null ||
    sinceSeconds === null ||
    limitBytes === null
  )
    return undecodable;
  if (sinceTime !== undefined && Number.isNaN(Date.parse(sinceTime))) return undecodable;
  if (
    (tailLines !== undefined && tailLines < 0) ||
    (limitBytes !== undefined && limitBytes < 1) ||
    (sinceSeconds !== undefined && sinceSeconds < 1)
  )
    return invalid;
  if (sinceSeconds !== undefined && sinceTime !== undefined) return invalid;
  return {
    ok: true,
    value: {
      follow,
      previous,
      timestamps,
      ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
      ...(sinceTime !== undefined ? { sinceTime } : {}),
      ...(tailLines !== undefined ? { tailLines } : {}),
      ...(limitBytes !== undefined ? { limitBytes } : {}),
    },
  };
}

/** Every container of the pod spec, by name (upstream GetContainerSpec). */
function hasContainer(pod: Pod, name: string): boolean {
  const s = pod.spec as
    | { containers?: { name: string }[]; initContainers?: { name: string }[]; ephemeralContainers?: { name: string }[] }
    | undefined;
  return [...(s?.containers ?? []), ...(s?.initContainers ?? []), ...(s?.ephemeralContainers ?? [])].some(
    (c) => c.name === name,
  );
}

/** upstream validateContainerLogStatus: the runtime ID of the container whose log is read, or why there is none. */
export function logContainerId(
  pod: Pod,
  status: ContainerStatus | undefined,
  container: string,
  previous: boolean,
): Parsed<string> {
  const podName = pod.metadata?.name ?? '';
  const err = (msg: string): Parsed<string> => ({ ok: false, status: 400, body: msg });
  if (!status) return err(`container "${container}" in pod "${podName}" is not available`);
  const last = status.lastState?.terminated;
  const st = status.state;
  const id = (v: string): Parsed<string> => ({ ok: true, value: v });
  if (previous) {
    if (!last?.containerID) return err(`previous terminated container "${container}" in pod "${podName}" not found`);
    return id(last.containerID);
  }
  if (st?.running)
    return status.containerID
      ? id(status.containerID)
      : err(`container "${container}" in pod "${podName}" is waiting to start - no logs yet`);
  if (st?.terminated) {
    if (st.terminated.containerID) return id(st.terminated.containerID);
    if (last?.containerID) return id(last.containerID);
    return err(`container "${container}" in pod "${podName}" is terminated`);
  }
  if (last)
    return last.containerID ? id(last.containerID) : err(`container "${container}" in pod "${podName}" is terminated`);
  if (st?.waiting) {
    const reason = st.waiting.reason ?? '';
    if (reason === 'ErrImagePull')
      return err(`container "${container}" in pod "${podName}" is waiting to start: image can't be pulled`);
    if (reason === 'ImagePullBackOff')
      return err(`container "${container}" in pod "${podName}" is waiting to start: trying and failing to pull image`);
    return err(`container "${container}" in pod "${podName}" is waiting to start: ${reason}`);
  }
  return err(`container "${container}" in pod "${podName}" is waiting to start - no logs yet`);
}

/** The pod and container a request names, with upstream's 404s. */
export function findLogTarget(pods: Iterable<Pod>, namespace: string, podName: string, container: string): Parsed<Pod> {
  const pod = [...pods].find((p) => p.metadata?.namespace === namespace && p.metadata?.name === podName);
  if (!pod) return { ok: false, status: 404, body: `pod "${podName}" does not exist\n` };
  if (!hasContainer(pod, container))
    return { ok: false, status: 404, body: `container "${container}" not found in pod "${podName}"\n` };
  return { ok: true, value: pod };
}

export interface CriLogLine {
  /** As written (RFC3339Nano). */
  time: string;
  ms: number;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  content: string;
}

/** One line of a CRI log file (without its newline); undefined for one that is not in the format. */
export function parseCriLine(line: string): CriLogLine | undefined {
  const a = line.indexOf(' ');
  const b = a < 0 ? -1 : line.indexOf(' ', a + 1);
  if (a < 0 || b < 0) return undefined;
  const time = line.slice(0, a);
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) return undefined;
  // the tag (P, F, or none in old files) and the text after one space
  const rest = line.slice(b + 1);
  const c = rest.indexOf(' ');
  const tag = c < 0 ? rest : rest.slice(0, c);
  if (tag === 'P' || tag === 'F')
    return { time, ms, stream, partial: tag === 'P', content: c < 0 ? '' : rest.slice(c + 1) };
  return { time, ms, stream, partial: false, content: rest };
}

/** What one CRI line writes. */
export function renderLine(l: CriLogLine, timestamps: boolean): string {
  return `${timestamps ? `${l.time} ` : ''}${l.content}${l.partial ? '' : '\n'}`;
}

/** The start of the last `n` lines of `text` (upstream FindTailLineStartIndex). */
export function tailStart(text: string, n: number): number {
  if (n <= 0) return text.length;
  let i = text.endsWith('\n') ? text.length - 1 : text.length;
  for (let k = 0; k < n; k++) {
    const j = text.lastIndexOf('\n', i - 1);
    if (j < 0) return 0;
    i = j;
  }
  return i + 1;
}

/** The file the log is read from, as the adapter opens it. */
export interface LogFile {
  /** Bytes from `offset` to the current end. */
  readFrom(offset: number): Promise<Buffer>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface StreamLogOptions extends LogOptions {
  /** `since` resolved to a time (ms), or undefined. */
  sinceMs?: number;
  /** For follow: resolves after a short wait (the clock's). */
  wait(): Promise<void>;
  /** For follow: true while the container still runs (the log can grow). */
  running(): boolean;
  signal: AbortSignal;
}

/** The rendered log, chunk by chunk. */
export async function* streamLog(file: LogFile, o: StreamLogOptions): AsyncGenerator<string> {
  let left = o.limitBytes ?? Number.POSITIVE_INFINITY;
  let offset = 0;
  let carry = '';
  const emit = function* (text: string): Generator<string> {
    let out = '';
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      const l = parseCriLine(raw);
      if (!l || (o.sinceMs !== undefined && l.ms < o.sinceMs)) continue;
      out += renderLine(l, o.timestamps);
    }
    if (out === '') return;
    if (Buffer.byteLength(out) > left) out = Buffer.from(out).subarray(0, left).toString('utf8');
    left -= Buffer.byteLength(out);
    yield out;
  };
  try {
    const first = (await file.readFrom(0)).toString('utf8');
    const complete = first.lastIndexOf('\n') + 1;
    let text = first.slice(0, complete);
    carry = first.slice(complete);
    offset = Buffer.byteLength(first);
    if (o.tailLines !== undefined) text = text.slice(tailStart(text, o.tailLines));
    yield* emit(text);
    while (o.follow && left > 0 && !o.signal.aborted) {
      const wasRunning = o.running();
      const more = (await file.readFrom(offset)).toString('utf8');
      if (more) {
        offset += Buffer.byteLength(more);
        const all = carry + more;
        const end = all.lastIndexOf('\n') + 1;
        carry = all.slice(end);
        yield* emit(all.slice(0, end));
        continue;
      }
      // the container stopped before this read found nothing: its log is complete
      if (!wasRunning) break;
      await o.wait();
    }
  } finally {
    await file.close();
  }
}
