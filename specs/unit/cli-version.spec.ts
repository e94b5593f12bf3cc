import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';

const cli = new URL('../../bin/kubelet-ts', import.meta.url).pathname;

test('kubelet-ts --version prints "Kubernetes vX.Y.Z" first, then its own version', () => {
  const out = execFileSync(cli, ['--version'], { encoding: 'utf8' }).split('\n');
  assert.match(out[0]!, /^Kubernetes v\d+\.\d+\.\d+$/);
  assert.match(out[1]!, /^kubelet-ts v\d+\.\d+\.\d+-kubelet-ts\./);
});

test('kubelet-ts --help lists the inspect and replay subcommands', () => {
  const out = execFileSync(cli, ['--help'], { encoding: 'utf8' });
  assert.match(out, /kubelet-ts inspect/);
  assert.match(out, /kubelet-ts replay/);
  assert.match(out, /--version/);
});

test('--bootstrap-kubeconfig with a missing --kubeconfig exits 1 naming TLS bootstrap as not implemented (not "unknown flag")', () => {
  const r = spawnSync(
    cli,
    ['--bootstrap-kubeconfig=/nonexistent/bootstrap.conf', '--kubeconfig=/nonexistent/kubelet.conf'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  const all = r.stdout + r.stderr;
  assert.match(all, /TLS bootstrap/);
  assert.doesNotMatch(all, /unknown flag/);
});

test('--runonce with --kubeconfig exits 1 before anything starts: runonce runs the static pods only', () => {
  const r = spawnSync(cli, ['--runonce', '--kubeconfig=/nonexistent/kubelet.conf'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /--runonce runs the static pods only/);
});
