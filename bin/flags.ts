/**
 * Command-line flags, with upstream kubelet's names and pflag conventions: `--name=value`,
 * `--name value`, `-v=4` / `-v 4` / `--v=4`, booleans as `--name` or `--name=false`, Go
 * durations (`20s`, `1m30s`, `500ms`). Unknown flags and bad values are errors that name the
 * flag, so a typo in a systemd unit fails loudly instead of being ignored.
 */

export interface KubeletFlags {
  podManifestPath: string | undefined;
  containerRuntimeEndpoint: string;
  rootDir: string;
  hostnameOverride: string | undefined;
  verbosity: number;
  fileCheckFrequencyMs: number;
  syncFrequencyMs: number;
  runtimeRequestTimeoutMs: number;
  podLogsDir: string;
  help: boolean;
}

type Kind = 'string' | 'int' | 'duration' | 'bool';

interface FlagDef {
  name: string;
  short?: string;
  kind: Kind;
  key: keyof KubeletFlags;
  help: string;
}

export const FLAGS: readonly FlagDef[] = [
  { name: 'pod-manifest-path', kind: 'string', key: 'podManifestPath', help: 'Directory of static pod manifests (one pod per YAML or JSON file).' },
  { name: 'container-runtime-endpoint', kind: 'string', key: 'containerRuntimeEndpoint', help: 'CRI endpoint (unix socket). Default unix:///run/containerd/containerd.sock.' },
  { name: 'root-dir', kind: 'string', key: 'rootDir', help: 'Directory for kubelet files (debug socket, pod dirs). Default /var/lib/kubelet.' },
  { name: 'hostname-override', kind: 'string', key: 'hostnameOverride', help: 'Node name to use instead of the hostname.' },
  { name: 'v', short: 'v', kind: 'int', key: 'verbosity', help: 'Log verbosity (0-10).' },
  { name: 'file-check-frequency', kind: 'duration', key: 'fileCheckFrequencyMs', help: 'How often the static pod directory is re-listed. Default 20s.' },
  { name: 'sync-frequency', kind: 'duration', key: 'syncFrequencyMs', help: 'Max period between syncs of a running pod. Default 1m.' },
  { name: 'runtime-request-timeout', kind: 'duration', key: 'runtimeRequestTimeoutMs', help: 'Deadline of each CRI call. Default 2m.' },
  { name: 'pod-logs-dir', kind: 'string', key: 'podLogsDir', help: 'Where container logs go. Default /var/log/pods.' },
  { name: 'help', short: 'h', kind: 'bool', key: 'help', help: 'Show this help.' },
];

export const DEFAULT_FLAGS: KubeletFlags = {
  podManifestPath: undefined,
  containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
  rootDir: '/var/lib/kubelet',
  hostnameOverride: undefined,
  verbosity: 0,
  fileCheckFrequencyMs: 20_000,
  syncFrequencyMs: 60_000,
  runtimeRequestTimeoutMs: 120_000,
  podLogsDir: '/var/log/pods',
  help: false,
};

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

function convert(def: FlagDef, raw: string): string | number | boolean {
  switch (def.kind) {
    case 'string':
      return raw;
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new FlagError(`invalid argument "${raw}" for "--${def.name}" flag: not an integer`);
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

export function parseFlags(argv: readonly string[]): KubeletFlags {
  const out: Record<string, unknown> = { ...DEFAULT_FLAGS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^(--?)([A-Za-z][\w-]*)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(`unexpected argument "${arg}": kubelet-ts takes flags only`);
    const [, dashes, name, inline] = m;
    const def = dashes === '--' ? FLAGS.find((f) => f.name === name) : FLAGS.find((f) => f.short === name);
    if (!def) throw new FlagError(`unknown flag: ${arg.split('=')[0]}`);
    let raw = inline;
    if (raw === undefined) {
      if (def.kind === 'bool') raw = 'true';
      else {
        raw = argv[++i];
        if (raw === undefined) throw new FlagError(`flag needs an argument: --${def.name}`);
      }
    }
    out[def.key] = convert(def, raw);
  }
  const flags = out as unknown as KubeletFlags;
  if (flags.verbosity < 0 || flags.verbosity > 10) throw new FlagError(`invalid argument "${flags.verbosity}" for "--v" flag: must be 0..10`);
  if (flags.fileCheckFrequencyMs <= 0) throw new FlagError('--file-check-frequency must be positive');
  if (flags.syncFrequencyMs <= 0) throw new FlagError('--sync-frequency must be positive');
  if (flags.runtimeRequestTimeoutMs <= 0) throw new FlagError('--runtime-request-timeout must be positive');
  return flags;
}

export function usage(): string {
  const lines = ['Usage: kubelet-ts [flags]', '', 'Flags:'];
  for (const f of FLAGS) {
    const names = (f.short && f.short !== f.name ? `-${f.short}, ` : '    ') + `--${f.name}`;
    const kind = f.kind === 'bool' ? '' : ` ${f.kind}`;
    lines.push(`  ${(names + kind).padEnd(40)} ${f.help}`);
  }
  return lines.join('\n');
}
