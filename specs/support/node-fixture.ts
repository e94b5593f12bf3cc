/**
 * The fixture the integration specs share: one private real containerd per spec file, a CRI
 * client to check pods in the runtime directly, a work directory, and daemons (or in-process
 * kubelets) that are stopped after each test, followed by every sandbox left in containerd
 * (stopped and removed by id). A test that stopped containerd gets it back before the cleanup.
 *
 *   const node = useNodeFixture({ node: 'node-a', prefix: 'kts-static-' });
 *   it('...', async () => { const d = node.daemon(await node.dirs()); ... node.cri.listContainers(...) });
 */
import { after, afterEach, before } from 'node:test';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from './containerd.ts';
import { startDaemon, type Daemon } from './daemon.ts';

export interface NodeDirs {
  manifests: string;
  root: string;
}

export interface NodeFixture {
  readonly containerd: ContainerdHandle;
  readonly cri: CriRuntime;
  readonly work: string;
  /** A fresh static pod directory and kubelet root dir under the work directory. */
  dirs(): Promise<NodeDirs>;
  /** The real daemon on this containerd with these dirs (plus the fixture's default args), stopped after the test. */
  daemon(dirs: NodeDirs, args?: string[], env?: Record<string, string>): Daemon;
  /** Anything else to stop after the test (an in-process kubelet). */
  track<T extends { stop(): Promise<unknown> }>(t: T): T;
}

export function useNodeFixture(o: { node: string; prefix: string; daemonArgs?: string[] }): NodeFixture {
  let containerd: ContainerdHandle | undefined;
  let cri: CriRuntime | undefined;
  let work: string | undefined;
  let stoppables: { stop(): Promise<unknown> }[] = [];
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`node fixture: ${what} is not ready (used outside a test?)`);
    return v;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), o.prefix));
    containerd = await startContainerd();
    cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  });

  afterEach(async () => {
    // the newest first: a kubelet started after another may depend on it being there
    for (const s of stoppables.reverse()) await s.stop();
    stoppables = [];
    if (containerd && !containerd.running()) await containerd.restartDaemon();
    if (cri) await removeAllPods(cri);
  });

  after(async () => {
    cri?.close();
    await containerd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const fixture: NodeFixture = {
    get containerd() {
      return need(containerd, 'containerd');
    },
    get cri() {
      return need(cri, 'the CRI client');
    },
    get work() {
      return need(work, 'the work directory');
    },
    async dirs() {
      const base = await mkdtemp(join(fixture.work, 't-'));
      const manifests = join(base, 'manifests');
      await mkdir(manifests);
      return { manifests, root: join(base, 'root') };
    },
    daemon(dirs, args = [], env) {
      const d = startDaemon({
        endpoint: fixture.containerd.endpoint,
        manifestDir: dirs.manifests,
        rootDir: dirs.root,
        nodeName: o.node,
        args: [...(o.daemonArgs ?? []), ...args],
        ...(env ? { env } : {}),
      });
      stoppables.push(d);
      return d;
    },
    track(t) {
      stoppables.push(t);
      return t;
    },
  };
  return fixture;
}
