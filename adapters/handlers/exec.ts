/**
 * A command run in a container through CRI ExecSync (upstream RunInContainer), shared by the
 * probes and the lifecycle hooks: stdout then stderr, at most 10 KiB. Never throws: a runtime
 * timeout is its own answer (a probe fails on it), any other CRI error says the runtime could
 * not run the command.
 */
import { errText } from '../../kernel/log.ts';
import { isCriError } from '../../protocols/cri/errors.ts';
import type { CallOptions, RuntimeService } from '../../protocols/cri/types.ts';
import { capOutput } from './http.ts';

export type ExecResult =
  | { kind: 'done'; exitCode: number; output: string; stderr: string }
  | { kind: 'timeout' }
  | { kind: 'error'; error: string };

/** `timeoutSeconds` 0: the runtime sets no limit (the call still has `opts`' deadline). */
export async function execInContainer(
  cri: Pick<RuntimeService, 'execSync'>,
  containerId: string,
  cmd: readonly string[],
  timeoutSeconds: number,
  opts?: CallOptions,
): Promise<ExecResult> {
  try {
    const r = await cri.execSync(containerId, [...cmd], timeoutSeconds, opts);
    return {
      kind: 'done',
      exitCode: r.exitCode,
      output: capOutput(Buffer.concat([r.stdout, r.stderr])),
      stderr: capOutput(r.stderr),
    };
  } catch (e) {
    if (isCriError(e, 'DeadlineExceeded')) return { kind: 'timeout' };
    return { kind: 'error', error: errText(e) };
  }
}
