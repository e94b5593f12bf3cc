/**
 * `kubelet-ts replay FILE [--json]`: runs a recorded node session again, deterministically, and
 * says whether the kubelet decides the same.
 *
 * The same kernel and actors as the daemon (createKubelet) run on a VirtualClock that starts at
 * the recording's start, with a fixed random source and the recording-driven runtime
 * (kernel/replay-cri.ts). The pods come in as the recorded `config` inputs, injected at their
 * recorded clock times (the file and URL sources are given a directory that never lists and an
 * HTTP client that never answers, so they add nothing of their own, and the syncLoop still waits
 * for the sources the recorded kubelet waited for, the API's included: recordedSources); ticks,
 * PLEG relists and housekeeping come from the actors' own timers.
 * A recording with several sessions (the recorder appends; each daemon start writes a header)
 * is replayed as a kubelet stopped at the end of one session and a new one started at the next
 * header, on the same runtime state: a restart with adoption.
 *
 * Prints `identical (N decisions, recorded Xs, replayed in Yms, Z× faster)` and exits 0, or the
 * first divergence (index in the recording, expected and actual decision) and exits 1; 2 for a
 * file it cannot read. `--json` prints the result object instead.
 */
import '../protocols/messages/channels.ts';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { NEVER } from 'rxjs';
import { VirtualClock } from '../kernel/clock.ts';
import { silentLogger } from '../kernel/log.ts';
import { parseRecording } from '../kernel/recorder.ts';
import { analyseRecording, canonical, toRecords, type Decision, type Divergence } from '../kernel/replay.ts';
import { ReplayCri } from '../kernel/replay-cri.ts';
import type { StaticPodFs } from '../actors/pod-config/adapters.ts';
import type { ManifestFetcher } from '../actors/pod-source-http/adapters.ts';
import type { PodSource } from '../protocols/messages/channels.ts';
import type { ConfigEvent } from '../protocols/messages/config.ts';
import { DEFAULT_FLAGS, type KubeletFlags } from './flags.ts';
import { createKubelet, type KubeletOptions } from './kubelet.ts';

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
}

/** After a session's recording ends, the replay waits this long (virtual) for decisions still due. */
const GRACE_MS = 5000;

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

/** Lets every promise chain started by a timer finish before virtual time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

/** A pod source's input (all but config.relist). */
type SourceInput = Extract<ConfigEvent, { source: PodSource }>;

/** The actor of each pod source. */
const SOURCE_ACTORS: Readonly<Record<string, PodSource>> = { podConfig: 'file', podSourceHttp: 'http', podSourceApi: 'api' };

const REPLAYED_CONFIG = new Set(['config.podsAdded', 'config.podsUpdated', 'config.podsRemoved', 'config.podsReconciled', 'config.sourceError', 'config.sourcesReady']);

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
 * The pod sources the recorded syncLoop waited for before its first housekeeping: the file source
 * always, http with --manifest-url, api in cluster mode (--kubeconfig in the header's flags, or a
 * session that heard from the API source or wrote to the API). The replay has no API client (the
 * recorded inputs stand in for it), so without this its syncLoop would not wait for the API.
 */
export function recordedSources(flags: Partial<KubeletFlags>, records: readonly Record<string, unknown>[]): PodSource[] {
  const out = new Set<PodSource>(['file']);
  if (flags.manifestUrl) out.add('http');
  if (flags.kubeconfig) out.add('api');
  for (const r of records) {
    if (r.k === 'api') out.add('api');
    const source = r.k === 'in' && r.ch === 'config' ? (r.msg as { source?: unknown } | undefined)?.source : undefined;
    if (source === 'file' || source === 'http' || source === 'api') out.add(source);
  }
  return [...out];
}

/** Reads a recording file (`.gz` too). */
export function readRecording(path: string): Record<string, unknown>[] {
  const raw = readFileSync(path);
  return parseRecording((path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
}

/** Replays a recording (a file path or its parsed lines) and compares the decisions. */
export async function replayRecording(source: string | Record<string, unknown>[]): Promise<ReplayResult> {
  const lines = typeof source === 'string' ? readRecording(source) : source;
  const wallStart = performance.now();
  const a = analyseRecording(toRecords(lines));
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
      ...DEFAULT_FLAGS, ...recordedFlags,
      podManifestPath: manifests, record: undefined, kubeconfig: undefined, help: false,
      // the recorded node's IP (pods see it as status.hostIP), not this machine's
      nodeIp: recordedFlags.nodeIp ?? recordedHostIP(s.records),
    };
    const k = createKubelet({
      flags, clock, log: silentLogger, nodeName: String(h.node ?? 'node'), cri, fs: silentFs, manifestFetcher: silentFetcher, random: () => 0.5,
      periods: (h.periods ?? {}) as KubeletOptions['periods'],
      sources: recordedSources(recordedFlags, s.records),
    });
    const config = k.bus.port('podConfig');
    const atStart: SourceInput[] = [];
    for (const r of s.records) {
      const msg = r.msg as SourceInput | undefined;
      if (r.k !== 'in' || r.ch !== 'config' || !msg || !REPLAYED_CONFIG.has(msg.type)) continue;
      // Without a manifest path the file source reports itself ready; so it did when recorded.
      if (msg.type === 'config.sourcesReady' && msg.source === 'file' && manifests === undefined) continue;
      if (r.t <= clock.now()) atStart.push(msg);
      else clock.setTimeout(() => config.send('config', msg), r.t - clock.now());
    }
    // An input recorded the moment the kubelet started (on virtual time, the same millisecond)
    // came from its source during the source's own start, before the actors after it ran (the
    // syncLoop did not hear it): it is sent as the replayed source actor starts, not after all.
    // (The API source has no actor in the replay, the recorded inputs stand in: its inputs follow
    // the start, as it is the last actor to start.)
    const send = (source: PodSource) => {
      for (const msg of atStart.filter((x) => x.source === source)) config.send('config', msg);
      atStart.splice(0, atStart.length, ...atStart.filter((x) => x.source !== source));
    };
    const started = k.bus.observe('kernel').subscribe((m) => {
      const { type, id } = m as { type?: string; id?: string };
      if (type === 'kernel.actorStarted' && id && SOURCE_ACTORS[id]) send(SOURCE_ACTORS[id]);
    });
    await k.start();
    started.unsubscribe();
    for (const msg of atStart.splice(0)) config.send('config', msg);
    await clock.advanceAsync(s.end - clock.now(), settle);
    const next = a.sessions[s.index + 1]?.start ?? Number.POSITIVE_INFINITY;
    const limit = Math.min(s.end + GRACE_MS, next);
    while (cri.matcher.pending(s.index) > 0 && clock.now() < limit) await clock.advanceAsync(Math.min(100, limit - clock.now()), settle);
    await k.stop();
  }

  const { first, divergedPods } = cri.matcher.finish();
  const replayMs = performance.now() - wallStart;
  const recordedMs = a.records.at(-1)!.t - a.records[0]!.t;
  return {
    identical: first === undefined,
    decisions: a.decisions.length,
    matched: cri.matcher.matched,
    beyondEnd: cri.matcher.beyondEnd,
    sessions: a.sessions.length,
    startedAt: a.records[0]!.t,
    recordedMs,
    replayMs,
    speedup: recordedMs / Math.max(replayMs, 0.001),
    fingerprint: createHash('sha256').update(canonical(cri.matcher.actual)).digest('hex'),
    divergence: first,
    divergedPods,
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
      const c = a1 as { metadata?: { name?: string; attempt?: number }; image?: { image?: string }; command?: string[]; args?: string[] };
      const cmd = [...(c.command ?? []), ...(c.args ?? [])];
      return `createContainer ${c.metadata?.name} attempt ${c.metadata?.attempt} in sandbox ${short(a0)}, image ${c.image?.image}${cmd.length ? `, command ${JSON.stringify(cmd)}` : ''} ${at}`;
    }
    case 'pullImage': case 'removeImage':
      return `${d.m} ${(a0 as { image?: string }).image} ${at}`;
    default:
      return `${d.m} ${short(a0)}${a1 !== undefined ? ` ${JSON.stringify(a1)}` : ''} ${at}`;
  }
}

/** The result for people. */
export function formatResult(r: ReplayResult): string {
  const speed = `recorded ${(r.recordedMs / 1000).toFixed(1)}s, replayed in ${Math.round(r.replayMs)}ms, ${Math.round(r.speedup)}× faster`;
  if (r.identical) {
    return `identical (${r.decisions} decisions, ${speed})`;
  }
  const d = r.divergence!;
  const lines = [
    `${d.kind === 'decision' ? '' : `${d.kind} `}divergence at index ${d.index} (line ${d.index + 1}), pod ${d.podName ?? '?'} (${d.pod}); ${r.matched} of ${r.decisions} recorded decisions matched (${speed})`,
    `  expected: ${showDecision(d.expected, r.startedAt)}`,
    `  actual:   ${showDecision(d.actual, r.startedAt)}`,
    ...(d.differences.length ? ['  differences:', ...d.differences.map((x) => `    ${x}`)] : []),
  ];
  if (r.divergedPods > 1) lines.push(`  (${r.divergedPods} pods diverged; this is the first in the recording)`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const files = argv.filter((x) => !x.startsWith('--'));
  if (files.length !== 1 || argv.includes('--help') || argv.includes('-h')) {
    process.stderr.write('usage: kubelet-ts replay FILE [--json]\n  Replays a recording made with --record and compares the decisions.\n');
    return 2;
  }
  let records: Record<string, unknown>[];
  try {
    records = readRecording(files[0]!);
  } catch (e) {
    process.stderr.write(`kubelet-ts replay: ${files[0]}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const r = await replayRecording(records);
  process.stdout.write((json ? JSON.stringify(r) : formatResult(r)) + '\n');
  return r.identical ? 0 : 1;
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
