/**
 * slowCri: a FakeCri whose calls take time on the (virtual) clock, for specs about what is in
 * flight when: every call waits `callMs` before the FakeCri answers it, and StopContainer of a
 * running container waits its whole timeout first, as for a process that ignores SIGTERM (busybox
 * `sleep` as PID 1). It keeps a timeline of the calls as they were issued, in order, into which a
 * spec can put marks of its own (a kill arriving), and the number of calls in flight per method:
 * now and at most.
 */
import type { Clock } from '../../kernel/clock.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import type { FakeCri } from './fake-cri.ts';

export interface TimelineEntry {
  at: number;
  /** A CRI method (camelCase), or a spec's own mark. */
  what: string;
  args?: unknown[];
}

export interface SlowCri {
  /** The CRI the kubelet gets. */
  readonly cri: CriRuntime;
  readonly timeline: TimelineEntry[];
  /** Calls in flight now, per method. */
  inFlight(method: string): number;
  /** From now on, the most calls of any of `methods` in flight at once. */
  watchPeak(...methods: string[]): { readonly max: number };
  mark(what: string): void;
}

const CRI_METHODS = new Set([
  'version',
  'status',
  'runPodSandbox',
  'stopPodSandbox',
  'removePodSandbox',
  'podSandboxStatus',
  'listPodSandbox',
  'createContainer',
  'startContainer',
  'stopContainer',
  'removeContainer',
  'listContainers',
  'containerStatus',
  'execSync',
  'listImages',
  'imageStatus',
  'pullImage',
  'removeImage',
  'imageFsInfo',
]);

export function slowCri(fake: FakeCri, clock: Clock, opts: { callMs: number }): SlowCri {
  const timeline: TimelineEntry[] = [];
  const now = new Map<string, number>();
  const peaks: { methods: readonly string[]; max: number }[] = [];
  const wait = (ms: number) => new Promise<void>((r) => clock.setTimeout(() => r(), ms));
  const count = (m: string, d: number) => {
    now.set(m, (now.get(m) ?? 0) + d);
    for (const p of peaks) p.max = Math.max(p.max, sum(p.methods));
  };
  const sum = (methods: readonly string[]) => methods.reduce((n, x) => n + (now.get(x) ?? 0), 0);
  const running = async (id: string) => {
    try {
      const s = await fake.containerStatus(id);
      return s.state === 'CONTAINER_RUNNING';
    } catch {
      return false;
    }
  };
  const cri = new Proxy(fake, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof prop !== 'string' || typeof v !== 'function') return v;
      const fn = v as (...a: unknown[]) => unknown;
      if (!CRI_METHODS.has(prop)) return fn.bind(target);
      return async (...args: unknown[]) => {
        timeline.push({ at: clock.now(), what: prop, args });
        count(prop, 1);
        try {
          let ms = opts.callMs;
          if (prop === 'stopContainer' && (await running(args[0] as string)))
            ms = Math.max(ms, (args[1] as number) * 1000);
          await wait(ms);
          return await fn.apply(target, args);
        } finally {
          count(prop, -1);
        }
      };
    },
  }) as unknown as CriRuntime;
  return {
    cri,
    timeline,
    inFlight: (m) => now.get(m) ?? 0,
    watchPeak(...methods) {
      const p = { methods, max: sum(methods) };
      peaks.push(p);
      return p;
    },
    mark: (what) => {
      timeline.push({ at: clock.now(), what });
    },
  };
}
