/**
 * Regenerates the README's flag and config parity table from bin/parity.ts (the part between the
 * BEGIN/END markers). specs/unit/parity.spec.ts fails while the two differ.
 *
 *   bash scripts/node.sh scripts/readme-parity.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PARITY_BEGIN, PARITY_END, parityMarkdown } from '../bin/parity.ts';

const README = join(import.meta.dirname, '..', 'README.md');
const text = readFileSync(README, 'utf8');
const start = text.indexOf(PARITY_BEGIN);
const end = text.indexOf(PARITY_END);
if (start < 0 || end < start) {
  process.stderr.write(`readme-parity: ${README} has no ${PARITY_BEGIN} ... ${PARITY_END} section\n`);
  process.exit(1);
}
const next = `${text.slice(0, start + PARITY_BEGIN.length)}\n${parityMarkdown()}\n${text.slice(end)}`;
if (next !== text) writeFileSync(README, next);
process.stdout.write(next === text ? 'README.md is current\n' : 'README.md updated\n');
