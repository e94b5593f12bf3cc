// Tier 4: the real kubectl (/usr/bin/kubectl) end to end. The real daemon on a private real
// containerd serves its HTTPS port (client certificates against the stand-in's CA,
// SubjectAccessReview through the stand-in); the stand-in proxies pods/log, exec, attach and
// portforward to it with its kubelet client certificate, as kube-apiserver does. Logs: the whole
// log, --tail, --timestamps, --limit-bytes, -f (lines arriving while it follows), --previous after
// a restart, and the errors. Exec: the exit code propagated, stdin with -i. Attach, and
// port-forward to a busybox httpd (the kubelet proxies each upgrade to the CRI's streaming URL,
// whichever protocol kubectl and containerd agree on).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient } from '../../adapters/cri/client.ts';
import type { CriRuntime } from '../../protocols/cri/types.ts';
import { removeAllPods, startContainerd, type ContainerdHandle } from '../support/containerd.ts';
import { eventually, freePort, startDaemon, type Daemon } from '../support/daemon.ts';
import { BUSYBOX_IMAGE } from '../support/images.ts';
import { startApiServer, type ApiServer, type JsonObject } from '../support/apiserver/index.ts';

const NODE = 'node-logs';
const NS = 'default';
let work: string;
let containerd: ContainerdHandle;
let cri: CriRuntime;
let api: ApiServer;
let daemon: Daemon;

/** kubectl as the admin, asynchronously (the stand-in answers it from this process), with `input` on its stdin. */
function kubectl(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return kubectlWith(undefined, ...args);
}
function kubectlWith(
  input: string | undefined,
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('kubectl', ['--kubeconfig', api.adminKubeconfig, '-n', NS, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    p.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    p.on('close', (code) => resolve({ status: code, stdout, stderr }));
    p.stdin.end(input);
  });
}

function createPod(name: string, command: string, restartPolicy = 'Always'): void {
  api.store.create('pods', {
    metadata: { name, namespace: NS },
    spec: {
      nodeName: NODE,
      restartPolicy,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: BUSYBOX_IMAGE, command: ['sh', '-c', command] }],
    },
  });
}
const podStatus = (name: string) =>
  (api.store.get('pods', NS, name)?.status ?? {}) as JsonObject & {
    phase?: string;
    containerStatuses?: { restartCount: number; state?: { running?: unknown } }[];
  };

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kts-kubectl-'));
  await mkdir(join(work, 'manifests'));
  containerd = await startContainerd();
  cri = createCriClient(containerd.endpoint, { timeoutMs: 30_000 });
  api = await startApiServer({ nodes: [NODE] });
  // the apiserver's kubelet client (system:masters) may use the kubelet API; nobody else
  api.reviews.policy = (r) => ({ allowed: r.groups.includes('system:masters') });
  const port = await freePort();
  daemon = startDaemon({
    endpoint: containerd.endpoint,
    rootDir: join(work, 'root'),
    manifestDir: join(work, 'manifests'),
    nodeName: NODE,
    args: [
      `--kubeconfig=${api.kubeconfigFor(NODE)}`,
      '--node-status-update-frequency=2s',
      '--node-ip=127.0.0.1',
      '--enable-server',
      `--port=${port}`,
      '--address=127.0.0.1',
      `--client-ca-file=${api.caFile}`,
    ],
  });
  await daemon.waitForLog(/"server":"secure"/, 40_000);
  await eventually(
    () => {
      const n = api.store.get('nodes', NODE)?.status as
        | { daemonEndpoints?: { kubeletEndpoint?: { Port: number } } }
        | undefined;
      return n?.daemonEndpoints?.kubeletEndpoint?.Port === port;
    },
    40_000,
    'the Node advertising the kubelet port',
  );
});

after(async () => {
  await daemon?.stop();
  if (cri) await removeAllPods(cri);
  cri?.close();
  await api?.stop();
  await containerd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** Polls `ok` until true or `ms` pass; answers whether it became true (no throw). */
async function waitFor(ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ok()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return ok();
}

describe('kubectl logs through the API server stand-in (real containerd)', () => {
  it('the whole log, --tail, --timestamps, --limit-bytes, and -f following new lines', async () => {
    createPod('ticker', 'echo one; echo two; echo three; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done');
    await eventually(
      () => podStatus('ticker').containerStatuses?.[0]?.state?.running !== undefined,
      60_000,
      'ticker running',
    );
    let last = '';
    const all = await eventually(
      async () => {
        const r = await kubectl('logs', 'ticker');
        last = `${r.status} ${r.stdout} ${r.stderr}`;
        return r.status === 0 && r.stdout.includes('tick 2') ? r.stdout : undefined;
      },
      30_000,
      'kubectl logs showing tick 2',
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: last kubectl: ${last}`);
    });
    assert.match(all, /^one\ntwo\nthree\ntick 1\ntick 2\n/);
    const tail = await kubectl('logs', 'ticker', '--tail=1');
    assert.equal(tail.status, 0, tail.stderr);
    assert.match(tail.stdout, /^tick \d+\n$/);
    const ts = await kubectl('logs', 'ticker', '--timestamps', '--tail=2');
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z tick \d+\n\d{4}-\S+ tick \d+\n$/);
    assert.equal((await kubectl('logs', 'ticker', '--limit-bytes=6')).stdout, 'one\ntw');

    // -f: the lines written after kubectl started arrive while it follows
    const f = spawn('kubectl', ['--kubeconfig', api.adminKubeconfig, '-n', NS, 'logs', '-f', 'ticker', '--tail=1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      f.stdout.setEncoding('utf8');
      f.stdout.on('data', (c: string) => {
        out += c;
      });
      const firstTick = await eventually(() => /tick (\d+)/.exec(out)?.[1], 20_000, 'the first followed line');
      const next = Number(firstTick) + 2;
      await eventually(() => out.includes(`tick ${next}\n`), 20_000, `tick ${next} while following`);
    } finally {
      f.kill();
    }
  });

  it("--previous shows the run before a restart; errors are kubectl's Error from server", async () => {
    createPod('crasher', 'echo run-marker; sleep 1; exit 3');
    const st = await eventually(
      () => {
        const s = podStatus('crasher').containerStatuses?.[0];
        return s && s.restartCount >= 1 ? s : undefined;
      },
      60_000,
      'crasher restarted',
    );
    assert.ok(st.restartCount >= 1);
    const prev = await eventually(
      async () => {
        const r = await kubectl('logs', 'crasher', '--previous');
        return r.status === 0 ? r.stdout : undefined;
      },
      20_000,
      'kubectl logs --previous',
    );
    assert.equal(prev, 'run-marker\n');
    const none = await kubectl('logs', 'ticker', '--previous');
    assert.notEqual(none.status, 0);
    assert.match(
      none.stderr,
      /Error from server \(BadRequest\): previous terminated container "app" in pod "ticker" not found/,
    );
    const missing = await kubectl('logs', 'ticker', '-c', 'nope');
    assert.notEqual(missing.status, 0);
    assert.match(
      missing.stderr,
      /container nope is not valid for pod ticker|container "nope" not found in pod "ticker"/,
    );
  });
});

describe('kubectl exec through the API server stand-in (real containerd)', () => {
  it('propagates the exit code; -i passes stdin; output arrives', async () => {
    await eventually(
      () => podStatus('ticker').containerStatuses?.[0]?.state?.running !== undefined,
      60_000,
      'ticker running',
    );
    const echo = await kubectl('exec', 'ticker', '--', 'sh', '-c', 'echo out; echo err >&2');
    assert.equal(echo.status, 0, echo.stderr);
    assert.equal(echo.stdout, 'out\n');
    assert.match(echo.stderr, /err/);
    const exit3 = await kubectl('exec', 'ticker', '--', 'sh', '-c', 'exit 3');
    assert.equal(exit3.status, 3, `${exit3.stdout}${exit3.stderr}`);
    const cat = await kubectlWith('hello from stdin\n', 'exec', '-i', 'ticker', '--', 'cat');
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, 'hello from stdin\n');
  });
});

describe('kubectl attach and port-forward through the API server stand-in (real containerd)', () => {
  const follow = async (args: string[], until: (out: string) => boolean, what: string): Promise<string> => {
    const p = spawn('kubectl', ['--kubeconfig', api.adminKubeconfig, '-n', NS, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    p.stderr.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    try {
      await eventually(() => until(out), 30_000, `${what}: ${out}`);
      return out;
    } finally {
      p.kill();
    }
  };

  it("attach streams the running container's output", async () => {
    await eventually(
      () => podStatus('ticker').containerStatuses?.[0]?.state?.running !== undefined,
      60_000,
      'ticker running',
    );
    await follow(['attach', 'ticker'], (out) => /tick \d+\n/.test(out), 'a tick while attached');
  });

  it('port-forward reaches a busybox httpd in the pod', async () => {
    createPod('httpd', 'mkdir -p /w && echo hi-from-httpd > /w/index.html && exec httpd -f -p 8080 -h /w');
    await eventually(
      () => podStatus('httpd').containerStatuses?.[0]?.state?.running !== undefined,
      60_000,
      'httpd running',
    );
    const local = await freePort();
    let out = '';
    const forward = () => {
      const child = spawn(
        'kubectl',
        ['--kubeconfig', api.adminKubeconfig, '-n', NS, 'port-forward', 'pod/httpd', `${local}:8080`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
      });
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        out += c;
      });
      return child;
    };
    // KNOWN FLAKE (issue 13 note): now and then kubectl's port-forward upgrade through the
    // stand-in's proxy never completes and kubectl prints nothing; until that is found, a
    // kubectl that has not said "Forwarding from" within 10 s is replaced, at most twice.
    let p = forward();
    for (let attempt = 1; attempt < 3 && !(await waitFor(() => out.includes('Forwarding from'), 10_000)); attempt++) {
      p.kill();
      out += `\n(attempt ${attempt} printed nothing in 10 s: kubectl started again)\n`;
      p = forward();
    }
    try {
      await eventually(() => out.includes('Forwarding from'), 10_000, `kubectl port-forward listening: ${out}`);
      const body = await eventually(
        async () => {
          try {
            const r = await fetch(`http://127.0.0.1:${local}/`);
            return r.ok ? await r.text() : undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
        `the page through port-forward: ${out}`,
      );
      assert.equal(body, 'hi-from-httpd\n');
    } finally {
      p.kill();
    }
  });
});
