/**
 * The cgroup root a spec gives the kubelet (--cgroup-root), removed after the spec: every cgroup
 * under it in every hierarchy, children first, once runc has removed the containers' own.
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { allCgroupDirs, type CgroupLayout } from '../../actors/container-manager/logic.ts';
import { eventually } from './daemon.ts';

/** rmdir, children first, of every cgroup under `root`; answers what could not be removed. */
function removeCgroupRoot(layout: CgroupLayout, root: string): string[] {
  const left: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) walk(join(dir, d.name));
    try {
      rmdirSync(dir);
    } catch (e) {
      left.push(`${dir}: ${(e as Error).message}`);
    }
  };
  for (const dir of allCgroupDirs(layout, root)) walk(dir);
  return left;
}

/** Registers (after the node fixture's, which removes the pods) the removal of `root`, asserting none is left. */
export function removeCgroupRootAfter(layout: CgroupLayout, root: string): void {
  after(async () => {
    const left = await eventually(
      () => (removeCgroupRoot(layout, root).length === 0 ? [] : undefined),
      15_000,
      `cgroups under ${root} removed`,
    ).catch(() => removeCgroupRoot(layout, root));
    assert.deepEqual(left, [], 'the spec leaves no cgroup behind');
  });
}
