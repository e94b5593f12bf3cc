/**
 * The runtime actor's ports: the CRI runtime, the image manager (EnsureImageExists) and the
 * node's files behind a pod's DNS and /etc/hosts, all handed in by the daemon. Structural types,
 * so actors/images' ImageManager fits without this actor importing it.
 */
import { chmod, mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../../protocols/cri/types.ts';
import type { Container, Pod } from '../../protocols/kube/pod.ts';
import type { EventSink } from '../../protocols/messages/events.ts';

export type EnsureImageResult =
  /** `user`: the image's uid or user name from ImageStatus; undefined when the runtime reported none. */
  | { ok: true; imageRef: string; pulled: boolean; message: string; user?: { uid?: number; username?: string } }
  | {
      ok: false;
      reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName';
      message: string;
      retryAt?: number;
    };

export interface ImagePort {
  /** `record` receives upstream's image events (Pulling, Pulled, Failed, BackOff, ...) for this container. */
  ensureImageExists(
    pod: Pod,
    container: Container,
    sandboxConfig?: PodSandboxConfig,
    record?: EventSink,
  ): Promise<EnsureImageResult>;
  /** The pull backoff entries (key `<pod uid>_<image>`), for the runtime's inspection. */
  inspect?(): { backoff: readonly { key: string; delayMs: number; lastUpdate: number }[] };
}

/**
 * The pod's cgroup (containerManager's PodCgroupManager fits): the sandbox's cgroup_parent, the
 * node memory the Burstable oom_score_adj is computed against, and upstream's pcm.EnsureExists
 * (the pod cgroup made with its limits before the sandbox; absent in a replay, which only needs
 * the names).
 */
export interface PodCgroupsPort {
  parent(pod: Pod): string | undefined;
  readonly memoryCapacity: number;
  ensure?(pod: Pod): Promise<void>;
}

/**
 * The node's files behind a pod's network identity: the resolver file the DNS config starts from
 * (--resolv-conf), the node's /etc/hosts (for host-network pods), and the pod's managed hosts
 * file under `<root-dir>/pods/<uid>/`. Replay injects one that answers from the recording and
 * writes nothing.
 */
export interface PodNetworkFiles {
  /** The text of the resolver file; rejects (the error names the path) when it cannot be read. */
  readResolvConf(path: string): Promise<string>;
  /** The node's /etc/hosts. */
  readNodeHosts(): Promise<string>;
  /** Writes `<root-dir>/pods/<uid>/etc-hosts` (mode 0644, directories made) and returns its path. */
  writePodHostsFile(uid: string, content: string): Promise<string>;
  /** Removes the pod's hosts file (and its pod directory, when that is then empty); no error when absent. */
  removePodHostsFile(uid: string): Promise<void>;
}

/** upstream getEtcHostsPath: `<root-dir>/pods/<uid>/etc-hosts`. */
export function podHostsFilePath(rootDir: string, uid: string): string {
  return join(rootDir, 'pods', uid, 'etc-hosts');
}

/** PodNetworkFiles on the node's file system. */
export function nodePodNetworkFiles(rootDir: string): PodNetworkFiles {
  const podDir = (uid: string) => join(rootDir, 'pods', uid);
  const hostsFile = (uid: string) => podHostsFilePath(rootDir, uid);
  return {
    async readResolvConf(path) {
      try {
        return await readFile(path, 'utf8');
      } catch (e) {
        // upstream's wording (Go's *PathError): "open /etc/resolv.conf: no such file or directory"
        const err = e as NodeJS.ErrnoException;
        throw new Error(
          `open ${path}: ${err.code ? err.message.replace(/^[A-Z]+: /, '').replace(/, open .*$/, '') : err.message}`,
        );
      }
    },
    readNodeHosts: () => readFile('/etc/hosts', 'utf8'),
    async writePodHostsFile(uid, content) {
      const path = hostsFile(uid);
      await mkdir(podDir(uid), { recursive: true, mode: 0o750 });
      await writeFile(path, content, { mode: 0o644 });
      await chmod(path, 0o644);
      return path;
    },
    async removePodHostsFile(uid) {
      await rm(hostsFile(uid), { force: true });
      try {
        await rmdir(podDir(uid));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      }
    },
  };
}
