/**
 * `kubelet-ts replay FILE [--json]` (or `FILE.N … FILE.1 FILE`): runs a recorded node session
 * again, deterministically, and says whether the kubelet decides the same. Given one FILE, its
 * rotated parts are read first, oldest first (recordingFiles, loadRecording).
 *
 * The same kernel and actors as the daemon (createKubelet) run on a VirtualClock that starts at
 * the recording's start, with a fixed random source and the recording-driven runtime
 * (replay/replay-cri.ts). The pods come in as the recorded `config` inputs, injected at their
 * recorded clock times (the file and URL sources are given a directory that never lists and an
 * HTTP client that never answers, so they add nothing of their own, and the syncLoop still waits
 * for the sources the recorded kubelet waited for, the API's included: recordedSources); ticks,
 * PLEG relists and housekeeping come from the actors' own timers.
 * A recording with several sessions (the recorder appends; each daemon start writes a header)
 * is replayed as a kubelet stopped at the end of one session and a new one started at the next
 * header, on the same runtime state: a restart with adoption.
 *
 * Prints `identical (N decisions, recorded Xs, replayed in Yms, Z× faster)` and exits 0, or the
 * first divergence (index in the recording, expected and actual decision) and exits 1; 2, with
 * one line naming file, line and cause, for a recording it cannot use (RecordingError: empty, no
 * header, a line that is no record, only a header). `--json` prints the result object instead.
 */
import '../protocols/messages/channels.ts';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { NEVER } from 'rxjs';
import { VirtualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/log.ts';
import { parseRecording } from '../kernel/recorder.ts';
import {
  analyseRecording,
  canonical,
  isSessionHeader,
  toRecords,
  type Analysis,
  type Decision,
  type Divergence,
  type RecordLine,
} from '../replay/replay.ts';
import type { BusPort } from '../kernel/bus.ts';
import { ReplayCri } from '../replay/replay-cri.ts';
import type { StaticPodFs } from '../actors/pod-config/adapters.ts';
import { podHostsFilePath, type PodNetworkFiles } from '../actors/runtime/adapters.ts';
import type { ManifestFetcher } from '../actors/pod-source-http/adapters.ts';
import type { ContainerProbeResults, PodSource, ProbeResultChanged } from '../protocols/messages/channels.ts';
import type { ConfigEvent } from '../protocols/messages/config.ts';
import { DEFAULT_FLAGS, type KubeletFlags } from './flags.ts';
import { createKubelet, type KubeletOptions } from './kubelet.ts';
import { ObjectNotFound, type ConfigDataPort } from '../protocols/kube/config-data.ts';
import { restoreHashes } from './record-redaction.ts';
import { redactSecrets } from '../protocols/redact.ts';
import type { Node } from '../protocols/kube/api.ts';
import type { CriRuntime } from '../protocols/cri/types.ts';
import { execInContainer } from '../adapters/handlers/exec.ts';
import { handlerUrl, type HttpGetRequest, type HttpGetResult } from '../adapters/handlers/http.ts';
import type { LifecycleRunner } from '../adapters/handlers/lifecycle.ts';
import { VOLUME_FS_METHODS, type VolumeFs } from '../actors/volumes/adapters.ts';
import type { SubPathPort } from '../actors/runtime/index.ts';

export interface ReplayResult {
  identical: boolean;
  /** Recorded decisions (mutating CRI calls). */
  decisions: number;
  /** Replayed decisions that matched the recorded ones. */
  matched: number;
  /** Decisions the replay made after the end of a session's recording, for pods with none left there: not compared. */
  beyondEnd: number;
  sessions: number;
  /** Clock time of the recording's first record. */
  startedAt: number;
  /** Wall time the recorded session(s) took (first to last record). */
  recordedMs: number;
  /** Wall time the replay took. */
  replayMs: number;
  /** recordedMs / replayMs */
  speedup: number;
  /** sha256 of every replayed decision with its virtual time: equal across runs of one recording. */
  fingerprint: string;
  divergence?: Divergence;
  /** Pods whose decisions diverged. */
  divergedPods: number;
  /** Leading records not replayed: the tail of a session whose first part is missing. */
  skipped: number;
  /** The files read, when there were several (indices run through all of them, oldest first). */
  parts?: RecordingPart[];
}

/** After a session's recording ends, the replay waits this long (virtual) for decisions still due. */
const GRACE_MS = 5000;

/**
 * The recorded probe results, replayed at their times as the probes actor delivered them: the
 * probeResults view updated first, then the `probe` message (a liveness failure's kill follows).
 */
function feedProbeResults(port: BusPort, clock: VirtualClock, records: readonly RecordLine[]): void {
  const byContainer = new Map<string, ContainerProbeResults>();
  for (const r of records) {
    const msg = r.msg as ProbeResultChanged | undefined;
    if (r.k !== 'in' || r.ch !== 'probe' || msg?.type !== 'probe.resultChanged') continue;
    clock.setTimeout(
      () => {
        byContainer.set(msg.containerId, { ...byContainer.get(msg.containerId), [msg.probeType]: msg.result });
        port.publish('probeResults', { startedAt: 0, byContainer: new Map(byContainer) });
        port.send('probe', msg);
      },
      Math.max(0, r.t - clock.now()),
    );
  }
}

/** A static pod directory that never finishes a read: the recorded config inputs stand in for it. */
const silentFs: StaticPodFs = {
  readdir: () => new Promise(() => {}),
  lstat: () => new Promise(() => {}),
  stat: () => new Promise(() => {}),
  realpath: () => new Promise(() => {}),
  readFile: () => new Promise(() => {}),
  watch: () => NEVER,
};

/** The same for --manifest-url. */
const silentFetcher: ManifestFetcher = { get: () => new Promise(() => {}) };

/**
 * The runtime's node files, from the recording: a resolver file read answers what the recorded
 * kubelet's last read of that path at or before this (virtual) time returned (the first one's
 * before any); the pods' hosts files are at their recorded paths, never written. Undefined for a
 * recording whose kubelet had none (header podNetworkFiles absent: an older recording, or one on
 * injected sources): the replayed runtime then has none either.
 */
function recordedNetworkFiles(
  header: Record<string, unknown>,
  records: readonly Record<string, unknown>[],
  clock: VirtualClock,
  rootDir: string,
): PodNetworkFiles | undefined {
  if (header.podNetworkFiles !== true) return undefined;
  const paths = new Map<unknown, string>();
  const answers: { t: number; path: string; ok: boolean; text: string }[] = [];
  for (const r of records) {
    if (r.k === 'files' && r.m === 'readResolvConf') paths.set(r.id, String((r.args as unknown[] | undefined)?.[0]));
    const path = paths.get(r.id);
    if (path === undefined) continue;
    if (r.k === 'files.ok') answers.push({ t: Number(r.t), path, ok: true, text: String(r.res) });
    if (r.k === 'files.err')
      answers.push({
        t: Number(r.t),
        path,
        ok: false,
        text: String((r.err as { message?: string } | undefined)?.message),
      });
  }
  return {
    readResolvConf: (path) => {
      const mine = answers.filter((a) => a.path === path);
      const a = mine.findLast((x) => x.t <= clock.now()) ?? mine[0];
      if (!a) return Promise.reject(new Error(`open ${path}: not read by the recorded kubelet`));
      return a.ok ? Promise.resolve(a.text) : Promise.reject(new Error(a.text));
    },
    readNodeHosts: () => Promise.resolve(''),
    writePodHostsFile: (uid) => Promise.resolve(podHostsFilePath(rootDir, uid)),
    removePodHostsFile: () => Promise.resolve(),
  };
}

/**
 * The lifecycle hooks, replayed: an exec hook is a CRI call (answered by the replayed runtime);
 * an httpGet hook gets what the recorded one to the same URL got, in order (no request is sent:
 * the recorded pod IPs are not this machine's), or an error when the recording has none.
 */
function recordedHooks(cri: CriRuntime, records: readonly Record<string, unknown>[]): LifecycleRunner {
  const urls = new Map<unknown, string>();
  const answers = new Map<string, HttpGetResult[]>();
  for (const r of records) {
    if (r.k === 'hooks' && r.m === 'httpGet') urls.set(r.id, handlerUrl((r.args as [HttpGetRequest])[0]));
    const url = urls.get(r.id);
    if (url !== undefined && r.k === 'hooks.ok')
      answers.set(url, [...(answers.get(url) ?? []), r.res as HttpGetResult]);
  }
  return {
    exec: (id, cmd) => execInContainer(cri, id, cmd, 0),
    httpGet: (req) => {
      const url = handlerUrl(req);
      const a = answers.get(url)?.shift();
      return Promise.resolve(
        a ?? {
          kind: 'error',
          url,
          error: `Get ${JSON.stringify(url)}: not answered in the recording`,
          httpResponseToHttps: false,
        },
      );
    },
    close: () => Promise.resolve(),
  };
}

/**
 * A port whose calls the recorded kubelet made through the recorder's `wrap(port, prefix)`: each
 * call answers what the recorded call with the same method and arguments answered, in order (the
 * volume decisions: `volumes` and `subpaths` records). A call the recording does not hold
 * rejects naming it, so the replayed kubelet's decisions then differ where it matters.
 */
function recordedPort<T extends object>(
  records: readonly Record<string, unknown>[],
  prefix: string,
  methods: readonly string[],
): T {
  const calls = new Map<unknown, string>();
  const answers = new Map<string, { ok: boolean; res: unknown; err?: string }[]>();
  for (const r of records) {
    if (r.k === prefix) calls.set(r.id, `${String(r.m)} ${JSON.stringify(redactSecrets(r.args ?? []))}`);
    const call = calls.get(r.id);
    if (call === undefined) continue;
    if (r.k === `${prefix}.ok` || r.k === `${prefix}.err`) {
      const list = answers.get(call) ?? [];
      list.push({ ok: r.k === `${prefix}.ok`, res: r.res, err: (r.err as { message?: string } | undefined)?.message });
      answers.set(call, list);
    }
  }
  return Object.fromEntries(
    methods.map((m) => [
      m,
      (...args: unknown[]) => {
        // (keyed as recorded: redacted, so a data volume's files match whatever their content)
        const key = `${m} ${JSON.stringify(redactSecrets(args))}`;
        const a = answers.get(key)?.shift();
        if (!a)
          return Promise.reject(
            new Error(`${prefix}.${m}(${JSON.stringify(args).slice(1, -1)}): not made by the recorded kubelet`),
          );
        return a.ok ? Promise.resolve(a.res) : Promise.reject(new Error(a.err ?? 'failed'));
      },
    ]),
  ) as T;
}

/**
 * The ConfigMaps, Secrets and tokens the recorded kubelet read (redacted: the values are
 * `<redacted>`, as the recorded CRI calls' env values are), each read answering what the
 * recorded one with the same arguments answered last at or before this (virtual) time (the
 * first one's before any); a not-found answer is ObjectNotFound again, so an optional
 * reference is skipped as it was. Undefined for a recording whose kubelet read none from an API.
 */
function recordedConfigData(
  header: Record<string, unknown>,
  records: readonly Record<string, unknown>[],
  clock: VirtualClock,
): ConfigDataPort | undefined {
  if (header.configData !== true) return undefined;
  const calls = new Map<unknown, string>();
  const answers: { t: number; call: string; ok: boolean; res: unknown; message: string }[] = [];
  for (const r of records) {
    if (r.k === 'configData') calls.set(r.id, JSON.stringify([r.m, r.args]));
    const call = calls.get(r.id);
    if (call === undefined) continue;
    if (r.k === 'configData.ok') answers.push({ t: Number(r.t), call, ok: true, res: r.res, message: '' });
    if (r.k === 'configData.err')
      answers.push({
        t: Number(r.t),
        call,
        ok: false,
        res: undefined,
        message: String((r.err as { message?: string } | undefined)?.message),
      });
  }
  const answer = <T>(m: string, args: unknown[]): Promise<T> => {
    const call = JSON.stringify([m, args]);
    const mine = answers.filter((a) => a.call === call);
    const a = mine.findLast((x) => x.t <= clock.now()) ?? mine[0];
    if (!a)
      return Promise.reject(
        new Error(`${m}(${args.map((x) => JSON.stringify(x)).join(', ')}): not read by the recorded kubelet`),
      );
    if (a.ok) return Promise.resolve(a.res as T);
    const nf = /^(configmap|secret) "(.*)" not found$/.exec(a.message);
    return Promise.reject(nf ? new ObjectNotFound(nf[1] as 'configmap' | 'secret', nf[2]!) : new Error(a.message));
  };
  return {
    registerPod: () => {},
    unregisterPod: () => {},
    getConfigMap: (...args) => answer('getConfigMap', args),
    getSecret: (...args) => answer('getSecret', args),
    getServiceAccountToken: (...args) => answer('getServiceAccountToken', args),
    close: () => {},
  };
}

/** Lets every promise chain started by a timer finish before virtual time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** A pod source's input (all but config.relist). */
type SourceInput = Extract<ConfigEvent, { source: PodSource }>;

/** The actor of each pod source. */
const SOURCE_ACTORS: Readonly<Record<string, PodSource>> = {
  podConfig: 'file',
  podSourceHttp: 'http',
  podSourceApi: 'api',
};

const REPLAYED_CONFIG = new Set([
  'config.podsAdded',
  'config.podsUpdated',
  'config.podsRemoved',
  'config.podsReconciled',
  'config.sourceError',
  'config.sourcesReady',
]);

/** The node IP the recorded kubelet reported in its pods' status (runtime replies), if any. */
function recordedHostIP(records: readonly Record<string, unknown>[]): string | undefined {
  for (const r of records) {
    if (r.k !== 'in' || r.ch !== 'runtimeReply') continue;
    const m = r.msg as { result?: { apiStatus?: { hostIP?: string } }; apiStatus?: { hostIP?: string } | null };
    const ip = m.result?.apiStatus?.hostIP ?? m.apiStatus?.hostIP;
    if (ip) return ip;
  }
  return undefined;
}

/**
 * The pod sources the recorded syncLoop waited for before its first housekeeping, the configured
 * ones as createKubelet derives them: file with a manifest path (the header's), http with
 * --manifest-url, api in cluster mode (--kubeconfig in the header's flags, or a session that heard
 * from the API source or wrote to the API). The replay has no API client (the recorded inputs
 * stand in for it), so without this its syncLoop would not wait for the API. A file-source input
 * without a manifest path is not evidence: an older kubelet sent sourcesReady for the file source
 * that was off.
 */
export function recordedSources(
  flags: Partial<KubeletFlags>,
  records: readonly Record<string, unknown>[],
  manifests: string | undefined,
): PodSource[] {
  const out = new Set<PodSource>(manifests !== undefined ? ['file'] : []);
  if (flags.manifestUrl) out.add('http');
  if (flags.kubeconfig) out.add('api');
  for (const r of records) {
    if (r.k === 'api') out.add('api');
    const source = r.k === 'in' && r.ch === 'config' ? (r.msg as { source?: unknown } | undefined)?.source : undefined;
    if (source === 'http' || source === 'api') out.add(source);
  }
  return [...out];
}

/** A recording that cannot be replayed; the message names the file (and line) and the cause. */
export class RecordingError extends Error {}

/** One file of a recording, and where its records sit among all of them. */
export interface RecordingPart {
  path: string;
  /** Index of its first record. */
  first: number;
  count: number;
}

export interface LoadedRecording {
  records: Record<string, unknown>[];
  parts: RecordingPart[];
  /** Warnings for people (a part skipped, a line ignored). */
  notes: string[];
}

/**
 * The files of a recording, oldest first: the rotated parts that exist (the recorder renames FILE
 * to FILE.1, FILE.1 to FILE.2, ...), then FILE.
 */
export function recordingFiles(path: string): string[] {
  const out = [path];
  for (let i = 1; existsSync(`${path}.${i}`); i++) out.unshift(`${path}.${i}`);
  return out;
}

/**
 * One file's records. Every line must be a JSON object with a clock time `t` and a kind `k`,
 * except a last line cut short (no newline, not JSON: the normal state of a file whose kubelet
 * was SIGKILLed with writes buffered), which is left out with a note.
 */
function readOne(path: string, notes: string[]): Record<string, unknown>[] {
  const fail = (e: unknown): never => {
    const message = e instanceof Error ? e.message : String(e);
    const m = /^recording line (\d+): (.*)$/s.exec(message);
    throw new RecordingError(m ? `${path} line ${m[1]}: ${m[2]}` : `${path}: ${message}`);
  };
  let text = '';
  try {
    const raw = readFileSync(path);
    text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  } catch (e) {
    fail(e);
  }
  let lines: Record<string, unknown>[] = [];
  try {
    lines = parseRecording(text, {
      onTruncated: ({ line, text: cut }) =>
        notes.push(
          `${path} line ${line}: cut short (${cut.length} bytes without an end; the kubelet was killed while writing?): left out`,
        ),
    });
  } catch (e) {
    fail(e);
  }
  lines.forEach((r, i) => {
    if (typeof r.t !== 'number' || typeof r.k !== 'string')
      throw new RecordingError(`${path} line ${i + 1}: not a recording record (no clock time t or kind k)`);
  });
  return lines;
}

/** "FILE line N" of a record (the recorder writes one record per line). */
function lineOf(parts: readonly RecordingPart[], index: number): string {
  const p = parts.findLast((x) => x.first <= index);
  return p ? `${p.path} line ${index - p.first + 1}` : `line ${index + 1}`;
}

/**
 * Reads the files of one recording in the order given (oldest first) and checks that they fit
 * together: each rotated part opens with its session's header marked `continues: true` and
 * `part: N`, and part N follows part N-1 (or the session's header, part 0). A missing part in the
 * middle is an error; records before the first session header (the tail of a session whose first
 * part was rotated away) are not replayed, with a note; with no session header at all, nothing
 * can be replayed.
 */
export function loadRecording(paths: readonly string[]): LoadedRecording {
  const records: Record<string, unknown>[] = [];
  const parts: RecordingPart[] = [];
  const notes: string[] = [];
  for (const path of paths) {
    const lines = readOne(path, notes);
    if (lines.length === 0 && paths.length > 1) notes.push(`${path}: empty: no records`);
    parts.push({ path, first: records.length, count: lines.length });
    records.push(...lines);
  }
  const name = paths.length === 1 ? paths[0]! : `${paths[0]} … ${paths.at(-1)}`;
  if (records.length === 0)
    throw new RecordingError(
      `${name}: empty: no records (was the kubelet killed before its first write reached the disk?)`,
    );
  if (!records.some((r) => r.k === 'header')) {
    throw new RecordingError(
      `${lineOf(parts, 0)}: not a header, and no header follows: not a recording made with --record, or its beginning is missing`,
    );
  }
  if (records[0]!.k !== 'header' && records.some(isSessionHeader)) {
    notes.push(`${lineOf(parts, 0)}: not a header: the records before the first session header are not replayed`);
  }
  if (records.every((r) => r.k === 'header')) {
    throw new RecordingError(
      `${name}: only a header: the kubelet recorded nothing after it started, so there is nothing to replay`,
    );
  }
  let part: number | undefined; // the last header's part number (a session header is part 0)
  for (const [i, r] of records.entries()) {
    if (r.k !== 'header') continue;
    const n = isSessionHeader(r) ? 0 : Number(r.part);
    if (n !== 0 && part === undefined) {
      const next = records.findIndex((x, j) => j > i && isSessionHeader(x));
      const missing = `${lineOf(parts, i)}: part ${r.part} of a session whose first part (the one with the session header) is missing`;
      if (next < 0)
        throw new RecordingError(
          `${missing}; nothing to replay (older parts are FILE.N with a higher N; the recorder keeps 3)`,
        );
      notes.push(`${missing}: its records up to ${lineOf(parts, next - 1)} are not replayed`);
    } else if (n !== 0 && n !== part! + 1) {
      const later = records.some((x, j) => j > i && x.k === 'header' && Number(x.part) === part! + 1);
      const why =
        n > part! && !later
          ? `part ${part! + 1} of this session is missing`
          : 'the files are out of order (give them oldest first: FILE.N … FILE.1 FILE)';
      throw new RecordingError(`${lineOf(parts, i)}: part ${r.part} follows part ${part}: ${why}`);
    }
    part = n;
  }
  return { records, parts, notes };
}

/** Reads one recording file (`.gz` too); its rotated parts are not looked for. */
export function readRecording(path: string): Record<string, unknown>[] {
  return loadRecording([path]).records;
}

/**
 * Replays a recording and compares the decisions: a path (with its rotated parts, recordingFiles),
 * a loaded recording, or parsed lines.
 */
export async function replayRecording(
  source: string | LoadedRecording | Record<string, unknown>[],
): Promise<ReplayResult> {
  const loaded =
    typeof source === 'string'
      ? loadRecording(recordingFiles(source))
      : Array.isArray(source)
        ? { records: source, parts: [], notes: [] }
        : source;
  const wallStart = performance.now();
  let a: Analysis;
  try {
    a = analyseRecording(toRecords(restoreHashes(loaded.records)));
  } catch (e) {
    throw new RecordingError(e instanceof Error ? e.message : String(e));
  }
  const clock = new VirtualClock(a.sessions[0]!.start);
  const cri = new ReplayCri(a, clock);

  for (const s of a.sessions) {
    // the recorded kubelet's first act, not its header: the replayed timers tick in the same phase
    if (clock.now() < s.kubeletStart) await clock.advanceAsync(s.kubeletStart - clock.now(), settle);
    cri.beginSession(s.index);
    const h = s.header;
    const manifests = typeof h.manifests === 'string' ? h.manifests : undefined;
    const recordedFlags = (h.flags ?? {}) as Partial<KubeletFlags>;
    const flags: KubeletFlags = {
      ...DEFAULT_FLAGS,
      ...recordedFlags,
      podManifestPath: manifests,
      record: undefined,
      kubeconfig: undefined,
      help: false,
      // the recorded node's IP (pods see it as status.hostIP), not this machine's
      nodeIp: recordedFlags.nodeIp ?? recordedHostIP(s.records),
    };
    const sources = recordedSources(recordedFlags, s.records, manifests);
    const k = createKubelet({
      flags,
      clock,
      log: silentLogger,
      nodeName: String(h.node ?? 'node'),
      cri,
      fs: silentFs,
      manifestFetcher: silentFetcher,
      random: () => 0.5,
      // no prober: the recorded probe results stand in (below)
      prober: null,
      networkFiles: recordedNetworkFiles(h, s.records, clock, flags.rootDir),
      hooks: (recorded) => recordedHooks(recorded, s.records),
      // the volume decisions answer from the recording (an older recording: no effects at all)
      ...(h.volumes !== null && typeof h.volumes === 'object'
        ? {
            volumeFs: recordedPort<VolumeFs>(s.records, 'volumes', VOLUME_FS_METHODS),
            subPaths: recordedPort<SubPathPort>(s.records, 'subpaths', ['prepare']),
            nodeAllocatableMemoryBytes: (h.volumes as { nodeAllocatableMemoryBytes?: number })
              .nodeAllocatableMemoryBytes,
          }
        : {}),
      // the pod cgroups the recorded runtime named (cgroup_parent) and its node memory (oom_score_adj)
      recordedCgroups: (h.podCgroups ?? undefined) as KubeletOptions['recordedCgroups'],
      configData: recordedConfigData(h, s.records, clock),
      periods: (h.periods ?? {}) as KubeletOptions['periods'],
      sources,
      // as the recorded cluster-mode kubelet, new API pods wait for the Node (recorded views, format 2)
      waitForNode: sources.includes('api') && Number(h.format) >= 2,
    });
    const config = k.bus.port('podConfig');
    feedProbeResults(k.bus.port('probes'), clock, s.records);
    // The Node as node-status published it (node-status has no API to ask in the replay): what
    // admission checks pods against.
    const nodeView = k.bus.port('nodeStatus');
    /** An input or a view recorded before the kubelet's first act; `source` for a source's input. */
    const atStart: { source?: PodSource; run: () => void }[] = [];
    for (const r of s.records) {
      let run: (() => void) | undefined;
      let source: PodSource | undefined;
      if (r.k === 'view' && r.ch === 'node' && r.v) {
        const node = r.v as Node;
        run = () => nodeView.publish('node', node);
      } else if (r.k === 'in' && r.ch === 'config') {
        const msg = r.msg as SourceInput | undefined;
        if (!msg || !REPLAYED_CONFIG.has(msg.type)) continue;
        // Without a manifest path there is no file source (an older kubelet still said it was ready).
        if (msg.type === 'config.sourcesReady' && msg.source === 'file' && manifests === undefined) continue;
        run = () => config.send('config', msg);
        source = msg.source;
      }
      if (!run) continue;
      if (r.t <= clock.now()) atStart.push({ source, run });
      else clock.setTimeout(run, r.t - clock.now());
    }
    // An input recorded the moment the kubelet started (on virtual time, the same millisecond)
    // came from its source during the source's own start, before the actors after it ran (the
    // syncLoop did not hear it): it is sent as the replayed source actor starts, not after all.
    // (The API source and node-status have no actor in the replay, the recorded records stand
    // in: theirs follow the start, in recorded order, as they are the last actors to start.)
    const send = (source: PodSource) => {
      for (const x of atStart.filter((y) => y.source === source)) x.run();
      atStart.splice(0, atStart.length, ...atStart.filter((y) => y.source !== source));
    };
    const started = k.bus.observe('kernel').subscribe((m) => {
      const { type, id } = m as { type?: string; id?: string };
      if (type === 'kernel.actorStarted' && id && SOURCE_ACTORS[id]) send(SOURCE_ACTORS[id]);
    });
    await k.start();
    started.unsubscribe();
    for (const x of atStart.splice(0)) x.run();
    await clock.advanceAsync(s.end - clock.now(), settle);
    const next = a.sessions[s.index + 1]?.start ?? Number.POSITIVE_INFINITY;
    const limit = Math.min(s.end + GRACE_MS, next);
    while (cri.matcher.pending(s.index) > 0 && clock.now() < limit)
      await clock.advanceAsync(Math.min(100, limit - clock.now()), settle);
    await k.stop();
  }

  const { first, divergedPods } = cri.matcher.finish();
  const replayMs = performance.now() - wallStart;
  const startedAt = a.sessions[0]!.start;
  const recordedMs = a.records.at(-1)!.t - startedAt;
  return {
    identical: first === undefined,
    decisions: a.decisions.length,
    matched: cri.matcher.matched,
    beyondEnd: cri.matcher.beyondEnd,
    sessions: a.sessions.length,
    startedAt,
    recordedMs,
    replayMs,
    speedup: recordedMs / Math.max(replayMs, 0.001),
    fingerprint: createHash('sha256').update(canonical(cri.matcher.actual)).digest('hex'),
    divergence: first,
    divergedPods,
    skipped: a.skipped,
    ...(loaded.parts.length > 1 ? { parts: loaded.parts } : {}),
  };
}

/** One line per decision for people (the full arguments are in --json). */
function showDecision(d: Decision | null, start: number): string {
  if (!d) return '(none)';
  const at = `at +${((d.t - start) / 1000).toFixed(1)}s`;
  const short = (id: unknown) => String(id).slice(0, 12);
  const [a0, a1] = d.args as [unknown, unknown];
  switch (d.m) {
    case 'runPodSandbox': {
      const m = (a0 as { metadata?: { namespace?: string; name?: string; attempt?: number } }).metadata;
      return `runPodSandbox ${m?.namespace}/${m?.name} attempt ${m?.attempt} ${at}`;
    }
    case 'createContainer': {
      const c = a1 as {
        metadata?: { name?: string; attempt?: number };
        image?: { image?: string };
        command?: string[];
        args?: string[];
      };
      const cmd = [...(c.command ?? []), ...(c.args ?? [])];
      return `createContainer ${c.metadata?.name} attempt ${c.metadata?.attempt} in sandbox ${short(a0)}, image ${c.image?.image}${cmd.length ? `, command ${JSON.stringify(cmd)}` : ''} ${at}`;
    }
    case 'pullImage':
    case 'removeImage':
      return `${d.m} ${(a0 as { image?: string }).image} ${at}`;
    default:
      return `${d.m} ${short(a0)}${a1 !== undefined ? ` ${JSON.stringify(a1)}` : ''} ${at}`;
  }
}

/** The result for people. */
export function formatResult(r: ReplayResult): string {
  const speed = `recorded ${(r.recordedMs / 1000).toFixed(1)}s, replayed in ${Math.round(r.replayMs)}ms, ${Math.round(r.speedup)}× faster`;
  const skipped =
    r.skipped > 0 ? `; the first ${r.skipped} records, of a session whose first part is missing, not replayed` : '';
  const beyond = r.beyondEnd > 0 ? `; ${r.beyondEnd} decisions made after the recording ended, not compared` : '';
  if (r.identical) {
    const what =
      r.decisions > 0
        ? `${r.decisions} decisions`
        : r.beyondEnd > 0
          ? 'no decisions recorded'
          : 'no decisions recorded and none replayed';
    return `identical (${what}, ${speed}${beyond}${skipped})`;
  }
  const d = r.divergence!;
  const lines = [
    `${d.kind === 'decision' ? '' : `${d.kind} `}divergence at index ${d.index} (${lineOf(r.parts ?? [], d.index)}), pod ${d.podName ?? '?'} (${d.pod}); ${r.matched} of ${r.decisions} recorded decisions matched (${speed})`,
    `  expected: ${showDecision(d.expected, r.startedAt)}`,
    `  actual:   ${showDecision(d.actual, r.startedAt)}`,
    ...(d.differences.length ? ['  differences:', ...d.differences.map((x) => `    ${x}`)] : []),
  ];
  if (r.divergedPods > 1) lines.push(`  (${r.divergedPods} pods diverged; this is the first in the recording)`);
  if (skipped) lines.push(`  (${skipped.slice(2)})`);
  return lines.join('\n');
}

const USAGE = `usage: kubelet-ts replay FILE [--json]
       kubelet-ts replay FILE.N ... FILE.1 FILE [--json]
  Replays a recording made with --record and compares the decisions. Given one FILE, its rotated
  parts FILE.1, FILE.2, ... are read too when they exist (oldest first); given several files,
  exactly those, in that order.
`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((x) => !x.startsWith('--'));
  if (args.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stderr.write(USAGE);
    return 2;
  }
  const say = (line: string) => process.stderr.write(`kubelet-ts replay: ${line}\n`);
  try {
    const files = args.length === 1 ? recordingFiles(args[0]!) : args;
    if (files.length > 1) say(`reading ${files.length} files, oldest first: ${files.join(' ')}`);
    const loaded = loadRecording(files);
    for (const note of loaded.notes) say(`warning: ${note}`);
    const r = await replayRecording(loaded);
    process.stdout.write((json ? JSON.stringify(r) : formatResult(r)) + '\n');
    return r.identical ? 0 : 1;
  } catch (e) {
    if (!(e instanceof RecordingError)) throw e;
    say(e.message);
    return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`kubelet-ts replay: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(2);
    },
  );
}
