/**
 * The channel map: who writes and who reads each bus channel, computed from the actors'
 * channel declarations (ActorSpec.channels) and a table of the channels (kind, message types,
 * writers and readers outside the actors). Pure; the kernel knows no channel name: bin/ passes
 * the kubelet's actors and protocols/messages' table.
 */
import type { Channels } from './actor.ts';

/** What the table says about one channel. */
export interface ChannelInfo {
  readonly kind: 'event' | 'view';
  readonly types: readonly string[];
  readonly external?: { readonly writers?: readonly string[]; readonly readers?: readonly string[] };
}

/** An actor as the map sees it: its id and its declaration. */
export interface DeclaredActor {
  readonly id: string;
  readonly channels?: Channels;
}

export interface ChannelRow {
  name: string;
  kind: 'event' | 'view';
  types: string[];
  /** Event producers or the view's writer: actor ids (sorted), then the table's external ones. */
  writers: string[];
  /** Event consumers or the view's readers. */
  readers: string[];
}

/** One row per channel of the table, in the table's order. */
export function channelMap(
  actors: readonly DeclaredActor[],
  table: Readonly<Record<string, ChannelInfo>>,
): ChannelRow[] {
  return Object.entries(table).map(([name, info]) => {
    const by = (pick: (c: Channels) => readonly string[]) =>
      actors
        .filter((a) => a.channels && pick(a.channels).includes(name))
        .map((a) => a.id)
        .sort();
    const event = info.kind === 'event';
    return {
      name,
      kind: info.kind,
      types: [...info.types],
      writers: [...by((c) => (event ? c.produces : c.writes)), ...(info.external?.writers ?? [])],
      readers: [...by((c) => (event ? c.consumes : c.reads)), ...(info.external?.readers ?? [])],
    };
  });
}

/**
 * What is wrong with a set of declarations, one line each (empty when the wiring is sound): a
 * view with two writers or none, an event consumed that nobody produces, one produced that
 * nobody consumes, a view written that nobody reads, an actor declaring a channel the table
 * does not know (or an event channel as a view, or the reverse).
 */
export function channelProblems(
  actors: readonly DeclaredActor[],
  table: Readonly<Record<string, ChannelInfo>>,
): string[] {
  const out: string[] = [];
  for (const a of actors) {
    if (!a.channels) {
      out.push(`actor ${a.id} declares no channels`);
      continue;
    }
    const lists = [
      ['consumes', 'event'],
      ['produces', 'event'],
      ['reads', 'view'],
      ['writes', 'view'],
    ] as const;
    for (const [field, kind] of lists) {
      for (const name of a.channels[field]) {
        const info = Object.hasOwn(table, name) ? table[name] : undefined;
        if (!info) out.push(`actor ${a.id} ${field} ${name}, which is not in the channel table`);
        else if (info.kind !== kind)
          out.push(`actor ${a.id} ${field} ${name}, which is ${info.kind === 'event' ? 'an event channel' : 'a view'}`);
      }
    }
  }
  for (const r of channelMap(actors, table)) {
    if (r.kind === 'view') {
      if (r.writers.length > 1)
        out.push(`view ${r.name} has ${r.writers.length} writers: ${r.writers.join(', ')} (one writer per view)`);
      if (r.writers.length === 0) out.push(`view ${r.name} has no writer`);
      if (r.readers.length === 0 && r.writers.length > 0)
        out.push(`view ${r.name} (written by ${r.writers.join(', ')}) has no reader`);
    } else {
      if (r.writers.length === 0 && r.readers.length > 0)
        out.push(`event ${r.name} is consumed by ${r.readers.join(', ')} but nobody produces it`);
      if (r.readers.length === 0 && r.writers.length > 0)
        out.push(`event ${r.name} is produced by ${r.writers.join(', ')} but nobody consumes it`);
      if (r.readers.length === 0 && r.writers.length === 0)
        out.push(`event ${r.name} is neither produced nor consumed`);
    }
  }
  return out;
}

/** The map as a Markdown table (the README's channel map). */
export function channelMapMarkdown(rows: readonly ChannelRow[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const list = (xs: readonly string[], code = false) => xs.map((x) => esc(code ? `\`${x}\`` : x)).join(', ');
  const lines = ['| channel | kind | writers | readers | message types |', '|---|---|---|---|---|'];
  for (const r of rows)
    lines.push(`| \`${r.name}\` | ${r.kind} | ${list(r.writers)} | ${list(r.readers)} | ${list(r.types, true)} |`);
  return lines.join('\n') + '\n';
}
