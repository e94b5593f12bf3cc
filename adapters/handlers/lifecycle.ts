/**
 * The effects of the containers' lifecycle hooks (upstream's handlerRunner with the kubelet's
 * insecureContainerLifecycleHTTPClient): the runtime's port for postStart and preStop.
 *
 * - exec: CRI ExecSync with no timeout of the runtime's own (upstream passes 0); the call has a
 *   one-hour deadline as a last bound, and the caller stops waiting when its signal aborts (the
 *   runtime bounds a preStop by the grace period, a postStart by the sync).
 * - httpGet: the handlers' HTTP client (http.ts) as `kube-lifecycle/<major>.<minor>`, with no
 *   deadline of its own (upstream's lifecycle client has none), ended by the signal.
 */
import type { Clock } from '../../kernel/clock.ts';
import { KUBERNETES_VERSION } from '../kube/client.ts';
import type { RuntimeService } from '../../protocols/cri/types.ts';
import { execInContainer, type ExecResult } from './exec.ts';
import { httpGetter, type HttpGetRequest, type HttpGetResult } from './http.ts';

/** The last bound of a hook's ExecSync call (upstream has none). */
const HOOK_EXEC_DEADLINE_MS = 3_600_000;

export interface LifecycleRunner {
  exec(containerId: string, cmd: readonly string[]): Promise<ExecResult>;
  httpGet(req: HttpGetRequest, signal?: AbortSignal): Promise<HttpGetResult>;
  close(): Promise<void>;
}

/** upstream: lifecycle requests identify as kube-lifecycle/<major>.<minor>. */
export function lifecycleUserAgent(): string {
  const [major, minor] = KUBERNETES_VERSION.replace(/^v/, '').split('.');
  return `kube-lifecycle/${major}.${minor}`;
}

export function lifecycleRunner(deps: { cri: Pick<RuntimeService, 'execSync'>; clock: Clock }): LifecycleRunner {
  const http = httpGetter(deps.clock);
  const userAgent = lifecycleUserAgent();
  return {
    exec: (containerId, cmd) => execInContainer(deps.cri, containerId, cmd, 0, { timeoutMs: HOOK_EXEC_DEADLINE_MS }),
    httpGet: (req, signal) => http.get(req, { userAgent, signal }),
    close: () => http.close(),
  };
}
