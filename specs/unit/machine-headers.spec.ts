// Every actors/*/machine.ts opens with a header that names each state its machine has (as a dotted
// path, `parent.child`, for nested states), so the first read of a machine is the whole of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '../..');

interface StateNodeLike {
  key: string;
  states: Record<string, StateNodeLike>;
}

/** The leaf states of a machine as dotted paths: syncing.idle, terminating.killing, done, ... */
function leafPaths(node: StateNodeLike, prefix = ''): string[] {
  const children = Object.values(node.states ?? {});
  if (children.length === 0) return [prefix];
  return children.flatMap((c) => leafPaths(c, prefix ? `${prefix}.${c.key}` : c.key));
}

const isMachine = (v: unknown): v is { id: string; root: StateNodeLike } =>
  typeof v === 'object' &&
  v !== null &&
  'root' in v &&
  typeof (v as { transition?: unknown }).transition === 'function';

const machineFiles = readdirSync(path.join(root, 'actors'))
  .map((a) => `actors/${a}/machine.ts`)
  .filter((f) => existsSync(path.join(root, f)));

describe('machine.ts headers', () => {
  it('finds the machines', () => {
    assert.ok(machineFiles.includes('actors/pod-workers/machine.ts'), machineFiles.join(', '));
  });

  for (const file of machineFiles) {
    it(`${file}: the header names every state`, async () => {
      const text = readFileSync(path.join(root, file), 'utf8');
      const header = /^\/\*\*[\s\S]*?\*\//.exec(text)?.[0];
      assert.ok(header, `${file} starts with a /** header */`);
      const mod = (await import(pathToFileURL(path.join(root, file)).href)) as Record<string, unknown>;
      const machines = Object.values(mod).filter(isMachine);
      assert.ok(machines.length > 0, `${file} exports a machine`);
      for (const m of machines) {
        const missing: string[] = leafPaths(m.root).filter(
          (p) => !new RegExp(`(^|[^\\w.])${p.replace(/\./g, '\\.')}(?![\\w])`).test(header),
        );
        assert.deepEqual(missing, [], `${file}: the header of machine ${m.id} does not name ${missing.join(', ')}`);
      }
    });
  }
});
