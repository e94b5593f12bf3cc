/**
 * Architecture rules the compiler cannot see, checked on the syntax tree of every source file:
 *
 * - actors never import each other: nothing under actors/<a>/ imports from actors/<b>/ (b ≠ a),
 *   type-only imports included (shared types live in protocols/);
 * - the kernel knows no actor: nothing under kernel/ imports from actors/;
 * - layers point one way (README "Layout"):
 *   protocols/ (schemas and types) imports nothing from kernel/, adapters/, actors/, replay/ or
 *   bin/, and no effectful package: of the outside world only zod, yaml and node:crypto;
 *   kernel/ imports nothing from actors/, adapters/, replay/, bin/ or protocols/, except the
 *   syncLoop (the DESIGN's "kubelet-specific wiring"): kernel/sync-loop.ts may import message
 *   types from protocols/messages/ and protocols/kube/pod.ts;
 *   adapters/ (effects) import no actor, replay/ or bin/; actors import neither replay/ nor bin/;
 * - one Clock: only kernel/clock.ts's RealClock touches wall-clock time and Node's timers. Elsewhere
 *   a bare `setTimeout(` / `setInterval(` (or via globalThis), `Date.now()`, `new Date()` without
 *   arguments, `performance.now()` or an import of node:timers is a violation. Exempt: bin/ and
 *   scripts/ (process entry points), specs/support/ (harnesses around real processes) and
 *   specs/integration/ (real containerd runs in real time) and specs/bench/ (benchmarks measure
 *   wall-clock time).
 *
 * Method calls such as `clock.setTimeout(` or `ctx.setInterval(` and method definitions named
 * setTimeout are fine; comments and strings are not code, so they never match.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '../..');
const scanned = ['kernel', 'adapters', 'replay', 'actors', 'protocols', 'specs', 'bin', 'scripts'];
const timeExempt = ['bin/', 'scripts/', 'specs/support/', 'specs/integration/', 'specs/bench/'];

interface Violation {
  file: string;
  line: number;
  what: string;
}

const show = (v: Violation[]) => v.map((x) => `${x.file}:${x.line}: ${x.what}`).join('\n');

function sourceFiles(): string[] {
  const out: string[] = [];
  for (const dir of scanned) {
    let entries: string[];
    try {
      entries = readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' });
    } catch {
      continue;
    }
    for (const e of entries) {
      const rel = path.posix.join(dir, e.split(path.sep).join('/'));
      if (/\.(ts|mts|cts)$/.test(rel) && !rel.endsWith('.d.ts') && !rel.includes('node_modules/')) out.push(rel);
    }
  }
  return out.sort();
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function lineOf(sf: ts.SourceFile, node: ts.Node): number {
  return sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
}

function walk(node: ts.Node, fn: (n: ts.Node) => void): void {
  fn(node);
  node.forEachChild((c) => walk(c, fn));
}

/** Every module specifier the file names: imports, re-exports, import(), import types, augmentations. */
function specifiers(sf: ts.SourceFile): Array<{ spec: string; node: ts.Node }> {
  const out: Array<{ spec: string; node: ts.Node }> = [];
  walk(sf, (n) => {
    if (
      (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
      n.moduleSpecifier &&
      ts.isStringLiteral(n.moduleSpecifier)
    ) {
      out.push({ spec: n.moduleSpecifier.text, node: n });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = n.arguments[0];
      if (a && ts.isStringLiteralLike(a)) out.push({ spec: a.text, node: n });
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      out.push({ spec: n.argument.literal.text, node: n });
    } else if (ts.isModuleDeclaration(n) && ts.isStringLiteral(n.name)) {
      out.push({ spec: n.name.text, node: n });
    } else if (
      ts.isImportEqualsDeclaration(n) &&
      ts.isExternalModuleReference(n.moduleReference) &&
      ts.isStringLiteral(n.moduleReference.expression)
    ) {
      out.push({ spec: n.moduleReference.expression.text, node: n });
    }
  });
  return out;
}

/** actors/<name>/... → name; anything else → undefined. */
function actorOf(rel: string): string | undefined {
  const m = /^actors\/([^/]+)\//.exec(rel);
  return m?.[1];
}

/** Top-level folder of a repository path ('kernel', 'protocols', ...). */
const layerOf = (rel: string): string => rel.split('/')[0]!;

/** Layers each layer must not import (README "Layout"). */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  protocols: ['kernel', 'adapters', 'actors', 'replay', 'bin'],
  kernel: ['actors', 'adapters', 'replay', 'bin', 'protocols'],
  adapters: ['actors', 'replay', 'bin'],
  actors: ['replay', 'bin'],
};
/** The syncLoop allowance: what kernel/sync-loop.ts may take from protocols/. */
const SYNC_LOOP_ALLOWED = (target: string) =>
  target.startsWith('protocols/messages/') || target === 'protocols/kube/pod.ts';
/** Packages protocols/ may use: pure computation only. */
const PROTOCOLS_PACKAGES = ['zod', 'yaml', 'node:crypto'];

export function importViolations(file: string, text: string): Violation[] {
  const sf = parse(file, text);
  const out: Violation[] = [];
  const from = actorOf(file);
  const layer = layerOf(file);
  for (const { spec, node } of specifiers(sf)) {
    if (!spec.startsWith('.')) {
      if (layer === 'protocols' && !PROTOCOLS_PACKAGES.includes(spec)) {
        out.push({
          file,
          line: lineOf(sf, node),
          what: `protocols/ imports ${spec}: protocols hold schemas and types, effects live in adapters/`,
        });
      }
      continue;
    }
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    const to = actorOf(target);
    if (from !== undefined && to !== undefined && to !== from) {
      out.push({
        file,
        line: lineOf(sf, node),
        what: `actor ${from} imports actor ${to} (${spec}): talk over the bus, share types in protocols/`,
      });
    }
    if (file.startsWith('kernel/') && (target.startsWith('actors/') || target === 'actors')) {
      out.push({ file, line: lineOf(sf, node), what: `the kernel imports an actor (${spec})` });
    } else if (
      (FORBIDDEN[layer] ?? []).includes(layerOf(target)) &&
      !(file === 'kernel/sync-loop.ts' && SYNC_LOOP_ALLOWED(target))
    ) {
      out.push({
        file,
        line: lineOf(sf, node),
        what: `${layer}/ imports ${layerOf(target)}/ (${spec}): layers point one way`,
      });
    }
  }
  return out;
}

function inRealClock(node: ts.Node): boolean {
  for (let n: ts.Node | undefined = node; n; n = n.parent) {
    if (ts.isClassDeclaration(n) && n.name?.text === 'RealClock') return true;
  }
  return false;
}

export function timeViolations(file: string, text: string): Violation[] {
  if (timeExempt.some((p) => file.startsWith(p))) return [];
  const sf = parse(file, text);
  const out: Violation[] = [];
  const flag = (node: ts.Node, what: string) => {
    if (file === 'kernel/clock.ts' && inRealClock(node)) return;
    out.push({ file, line: lineOf(sf, node), what: `${what}: take time and timers from the injected Clock` });
  };
  const isId = (e: ts.Expression, name: string) => ts.isIdentifier(e) && e.text === name;
  const isMember = (e: ts.Expression, obj: string, prop: string) =>
    ts.isPropertyAccessExpression(e) && isId(e.expression, obj) && e.name.text === prop;
  walk(sf, (n) => {
    if (ts.isCallExpression(n)) {
      const e = n.expression;
      for (const t of ['setTimeout', 'setInterval']) {
        if (isId(e, t)) flag(n, `${t}(`);
        for (const g of ['globalThis', 'global', 'window']) if (isMember(e, g, t)) flag(n, `${g}.${t}(`);
      }
      if (isMember(e, 'Date', 'now')) flag(n, 'Date.now()');
      if (isMember(e, 'performance', 'now')) flag(n, 'performance.now()');
    } else if (ts.isNewExpression(n) && isId(n.expression, 'Date') && (n.arguments?.length ?? 0) === 0) {
      flag(n, 'new Date()');
    }
  });
  for (const { spec, node } of specifiers(sf)) {
    if (/^(node:)?timers(\/promises)?$/.test(spec)) flag(node, `import of ${spec}`);
  }
  return out;
}

describe('architecture rules', () => {
  const files = sourceFiles();
  const texts = new Map(files.map((f) => [f, readFileSync(path.join(root, f), 'utf8')]));

  it('finds the source tree', () => {
    assert.ok(files.includes('kernel/clock.ts'));
    assert.ok(files.includes('specs/unit/imports.spec.ts'));
    assert.ok(files.some((f) => f.startsWith('actors/')));
  });

  it('finds every layer', () => {
    for (const l of ['kernel', 'protocols', 'adapters', 'actors', 'replay', 'bin'])
      assert.ok(
        files.some((f) => f.startsWith(`${l}/`)),
        l,
      );
    assert.ok(!files.some((f) => /^protocols\/.*client\.ts$/.test(f)), 'no client in protocols/');
  });

  it('actors never import each other, the kernel imports no actor, and layers point one way', () => {
    const v = files.flatMap((f) => importViolations(f, texts.get(f)!));
    assert.equal(v.length, 0, `forbidden imports:\n${show(v)}`);
  });

  it("nothing but kernel/clock.ts's RealClock calls setTimeout, setInterval or Date.now()", () => {
    const v = files.flatMap((f) => timeViolations(f, texts.get(f)!));
    assert.equal(v.length, 0, `wall-clock time or timers outside the Clock:\n${show(v)}`);
  });
});

describe('architecture rules: the checks themselves', () => {
  it('flags cross-actor imports of every form, with file:line, and allows own folder, protocols and kernel', () => {
    const src = [
      "import { a } from './machine.ts';",
      "import type { P } from '../../protocols/messages/pleg.ts';",
      "import { defaultPolicy } from '../../kernel/actor.ts';",
      "import type { X } from '../runtime/index.ts';",
      "export { y } from '../../actors/images/manager.ts';",
      "const m = await import('../pleg/relist.ts');",
      "type T = import('../status/index.ts').S;",
      "import { ok } from '../pod-workers-helpers.ts';",
    ].join('\n');
    const v = importViolations('actors/pod-workers/index.ts', src);
    assert.deepEqual(
      v.map((x) => `${x.file}:${x.line}`),
      [
        'actors/pod-workers/index.ts:4',
        'actors/pod-workers/index.ts:5',
        'actors/pod-workers/index.ts:6',
        'actors/pod-workers/index.ts:7',
      ],
    );
    assert.match(v[0]!.what, /actor pod-workers imports actor runtime/);
  });

  it('flags a kernel import of an actor', () => {
    const v = importViolations(
      'kernel/sync-loop.ts',
      "import { pleg } from '../actors/pleg/index.ts';\nimport { Bus } from './bus.ts';",
    );
    assert.deepEqual(
      v.map((x) => x.line),
      [1],
    );
    assert.match(v[0]!.what, /kernel imports an actor/);
  });

  it('flags imports against the layers, allowing only the syncLoop into protocols/messages and protocols/kube/pod.ts', () => {
    const p = importViolations(
      'protocols/messages/pleg.ts',
      [
        "import type { Clock } from '../../kernel/clock.ts';", // 1 ✗
        "import type { Pod } from '../kube/pod.ts';", // 2
        "declare module '../../kernel/bus.ts' {}", // 3 ✗
        "import { createCriClient } from '../../adapters/cri/client.ts';", // 4 ✗
        "import * as grpc from '@grpc/grpc-js';", // 5 ✗
        "import { z } from 'zod';", // 6
        "import { readFileSync } from 'node:fs';", // 7 ✗
      ].join('\n'),
    );
    assert.deepEqual(
      p.map((x) => x.line),
      [1, 3, 4, 5, 7],
      show(p),
    );
    assert.match(p[0]!.what, /protocols\/ imports kernel\/ .*layers point one way/);
    assert.match(p[3]!.what, /effects live in adapters/);
    const k = [
      "import type { Pod } from '../protocols/kube/pod.ts';", // 1: syncLoop only
      "import type { PlegEvent } from '../protocols/messages/channels.ts';", // 2: syncLoop only
      "import { CriError } from '../protocols/cri/errors.ts';", // 3 ✗
      "import { ReplayCri } from '../replay/replay-cri.ts';", // 4 ✗
      "import { createKubeApi } from '../adapters/kube/client.ts';", // 5 ✗
      "import { podCommand } from '../bin/debug-pod.ts';", // 6 ✗
    ].join('\n');
    assert.deepEqual(
      importViolations('kernel/sync-loop.ts', k).map((x) => x.line),
      [3, 4, 5, 6],
    );
    assert.deepEqual(
      importViolations('kernel/debug-socket.ts', k).map((x) => x.line),
      [1, 2, 3, 4, 5, 6],
    );
    assert.deepEqual(
      importViolations(
        'adapters/cri/client.ts',
        "import { x } from '../../protocols/cri/types.ts';\nimport { c } from '../../kernel/clock.ts';\nimport { p } from '../../actors/pleg/index.ts';",
      ).map((x) => x.line),
      [3],
    );
    assert.deepEqual(
      importViolations(
        'actors/pleg/index.ts',
        "import { a } from '../../adapters/cri/client.ts';\nimport { b } from '../../bin/flags.ts';\nimport { r } from '../../replay/replay.ts';",
      ).map((x) => x.line),
      [2, 3],
    );
  });

  it('flags bare timers and wall-clock reads, not clock methods, method definitions, comments or strings', () => {
    const src = [
      'setTimeout(() => {}, 1);', // 1 ✗
      'ctx.setTimeout(() => {}, 1);', // 2
      'const n = Date.now();', // 3 ✗
      '// setInterval(() => {}, 1) in a comment', // 4
      "const s = 'Date.now()';", // 5
      'const o = { setTimeout(fn: () => void) { return fn; } };', // 6
      'globalThis.setInterval(() => {}, 5);', // 7 ✗
      'const d = new Date(); const e = new Date(0);', // 8 ✗ (once)
      'const p = performance.now();', // 9 ✗
      "import { setTimeout as sleep } from 'node:timers/promises';", // 10 ✗
      'clock.now();', // 11
    ].join('\n');
    const v = timeViolations('actors/pleg/index.ts', src);
    assert.deepEqual(
      v.map((x) => x.line),
      [1, 3, 7, 8, 9, 10],
      show(v),
    );
  });

  it('allows RealClock, and only RealClock, in kernel/clock.ts; exempts bin, scripts and harnesses', () => {
    const clock =
      'class RealClock { now() { return Date.now(); } }\nclass VirtualClock { now() { return Date.now(); } }';
    assert.deepEqual(
      timeViolations('kernel/clock.ts', clock).map((x) => x.line),
      [2],
    );
    for (const f of [
      'bin/kubelet.ts',
      'scripts/run-node.ts',
      'specs/support/daemon.ts',
      'specs/integration/cri.spec.ts',
    ]) {
      assert.deepEqual(timeViolations(f, 'setTimeout(() => {}, 1); Date.now();'), [], f);
    }
    assert.equal(timeViolations('specs/unit/x.spec.ts', 'setTimeout(() => {}, 1);').length, 1);
  });
});
