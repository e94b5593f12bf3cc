// Rewrites the README's channel map (between its markers) from the actors' channel declarations
// and protocols/messages' channel table: bash scripts/node.sh scripts/gen-channel-map.ts
// (specs/unit/channels.spec.ts fails while the README is not current).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withChannelMap } from '../bin/channel-map.ts';

const path = join(import.meta.dirname, '..', 'README.md');
const before = readFileSync(path, 'utf8');
const after = withChannelMap(before);
if (after !== before) writeFileSync(path, after);
process.stdout.write(
  after === before ? 'README.md: channel map already current\n' : 'README.md: channel map rewritten\n',
);
