/**
 * Small recordings written by hand for the replay's unit specs (matcher.spec.ts,
 * replay-cri.spec.ts): a header, then CRI calls with their answers, on a clock starting at T0.
 */
import { toRecords, type RecordLine } from '../../replay/replay.ts';

export const T0 = 1_800_000_000_000;

export interface HandCall {
  /** ms after T0 */
  at: number;
  m: string;
  args: unknown[];
  res?: unknown;
  /** answered with an error instead */
  err?: { kind: string; message: string };
  /** ms until the answer (0) */
  latency?: number;
  /** never answered */
  unanswered?: boolean;
}

/** A recording: each entry is a session (its header fields, its calls); the call ids run on. */
export function recording(
  ...sessions: { header?: Record<string, unknown>; at?: number; calls: HandCall[] }[]
): RecordLine[] {
  const lines: Record<string, unknown>[] = [];
  let id = 0;
  for (const s of sessions) {
    const session: Record<string, unknown>[] = [
      { t: T0 + (s.at ?? 0), k: 'header', format: 1, node: 'n', ...s.header },
    ];
    for (const c of s.calls) {
      session.push({ t: T0 + c.at, k: 'cri', id: ++id, m: c.m, args: c.args });
      if (c.unanswered) continue;
      const t = T0 + c.at + (c.latency ?? 0);
      session.push(c.err ? { t, k: 'cri.err', id, err: c.err } : { t, k: 'cri.ok', id, res: c.res });
    }
    // stable: a call stays before its answer at the same time
    lines.push(...session.sort((a, b) => (a.t as number) - (b.t as number)));
  }
  return toRecords(lines.map((l, n) => ({ ...l, n })));
}

/** The PodSandboxConfig of pod `uid` (named after it). */
export const sandboxConfig = (uid: string) => ({
  metadata: { name: uid, namespace: 'default', uid, attempt: 0 },
  labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.pod.name': uid, 'io.kubernetes.pod.namespace': 'default' },
  annotations: {},
});

/** The ContainerConfig of container `name` of pod `uid`. */
export const containerConfig = (uid: string, name = 'app') => ({
  metadata: { name, attempt: 0 },
  image: { image: 'sha256:img' },
  labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': name },
  annotations: {},
});

/** A run of one pod: its sandbox (sandbox-UID) at `at`, its container (ctr-UID) created and started after. */
export function podStart(uid: string, at: number): HandCall[] {
  return [
    { at, m: 'runPodSandbox', args: [sandboxConfig(uid)], res: `sandbox-${uid}`, latency: 5 },
    {
      at: at + 10,
      m: 'createContainer',
      args: [`sandbox-${uid}`, containerConfig(uid), sandboxConfig(uid)],
      res: `ctr-${uid}`,
      latency: 5,
    },
    { at: at + 20, m: 'startContainer', args: [`ctr-${uid}`], latency: 5 },
  ];
}
