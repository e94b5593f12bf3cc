/**
 * A node fixture in a cluster: the API server stand-in for a spec file's tests (started before
 * them, stopped after them), and `kubelet()`, this node's real daemon against it, returning once
 * the Node is Ready.
 *
 *   const node = useNodeFixture({ node: 'node-a', prefix: 'kts-x-' });
 *   const cluster = useCluster(node, 'node-a');
 *   it('...', async () => { await cluster.kubelet(); cluster.api.store.create('pods', ...) });
 */
import { after, before } from 'node:test';
import type { Pod } from '../../protocols/kube/pod.ts';
import { startApiServer, type ApiServer } from './apiserver/index.ts';
import { eventually, type Daemon } from './daemon.ts';
import type { NodeFixture } from './node-fixture.ts';

export interface Cluster {
  readonly api: ApiServer;
  kubelet(): Promise<Daemon>;
}

export function useCluster(node: NodeFixture, nodeName: string): Cluster {
  let api: ApiServer | undefined;
  before(async () => {
    api = await startApiServer({ nodes: [nodeName] });
  });
  after(async () => {
    await api?.stop();
  });
  const cluster: Cluster = {
    get api() {
      if (!api) throw new Error('cluster: the API server is not started (used outside a test?)');
      return api;
    },
    async kubelet() {
      const d = node.daemon(await node.dirs(), [
        `--kubeconfig=${cluster.api.kubeconfigFor(nodeName)}`,
        '--node-status-update-frequency=2s',
      ]);
      const ready = () =>
        (cluster.api.store.get('nodes', nodeName) as unknown as Pod | undefined)?.status?.conditions?.find(
          (c) => c.type === 'Ready',
        );
      await eventually(() => ready()?.status === 'True', 40_000, 'the Node Ready');
      return d;
    },
  };
  return cluster;
}
