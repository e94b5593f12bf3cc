/**
 * Label and field selectors with the grammar and semantics of k8s.io/apimachinery/pkg/labels
 * and pkg/fields:
 * - labels: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k`, `k>n`, `k<n`;
 *   `!=` and `notin` also match objects without the label.
 * - fields: `k=v`, `k==v`, `k!=v`, comma-separated, with `\,` `\=` `\!` `\\` escapes; a field the
 *   resource does not index is a 400 "field label not supported: <key>".
 */
import { errors } from './status.ts';

export type LabelOp = 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

export type LabelSelector = LabelRequirement[];
export type FieldSelector = FieldRequirement[];

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

type Tok = { t: 'id' | 'op' | 'lp' | 'rp' | 'comma' | 'not' | 'end'; v: string };

function lexLabels(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '(') {
      out.push({ t: 'lp', v: c });
      i++;
      continue;
    }
    if (c === ')') {
      out.push({ t: 'rp', v: c });
      i++;
      continue;
    }
    if (c === ',') {
      out.push({ t: 'comma', v: c });
      i++;
      continue;
    }
    if (c === '!' && s[i + 1] === '=') {
      out.push({ t: 'op', v: '!=' });
      i += 2;
      continue;
    }
    if (c === '!') {
      out.push({ t: 'not', v: c });
      i++;
      continue;
    }
    if (c === '=' && s[i + 1] === '=') {
      out.push({ t: 'op', v: '==' });
      i += 2;
      continue;
    }
    if (c === '=' || c === '>' || c === '<') {
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && !' \t(),!=<>'.includes(s[j]!)) j++;
    out.push({ t: 'id', v: s.slice(i, j) });
    i = j;
  }
  out.push({ t: 'end', v: '' });
  return out;
}

function parseErr(msg: string): never {
  throw errors.badRequest(`unable to parse requirement: ${msg}`);
}

function checkKey(key: string): void {
  if (!LABEL_KEY.test(key) || key.length > 316) {
    parseErr(
      `key: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

function checkValue(v: string): void {
  if (v.length > 63 || !LABEL_VALUE.test(v)) {
    parseErr(
      `values[0][${v}]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

/** Parses a labelSelector query parameter; throws a 400 ApiError on a syntax error. */
export function parseLabelSelector(input: string | undefined | null): LabelSelector {
  if (!input || !input.trim()) return [];
  const toks = lexLabels(input);
  let p = 0;
  const peek = (): Tok => toks[p]!;
  const next = (): Tok => toks[p++]!;
  const reqs: LabelRequirement[] = [];
  for (;;) {
    let negate = false;
    if (peek().t === 'not') {
      next();
      negate = true;
    }
    const keyTok = next();
    if (keyTok.t !== 'id') parseErr(`found '${keyTok.v}', expected: identifier`);
    const key = keyTok.v;
    checkKey(key);
    if (negate) {
      reqs.push({ key, op: 'notexists', values: [] });
    } else {
      const t = peek();
      if (t.t === 'comma' || t.t === 'end') {
        reqs.push({ key, op: 'exists', values: [] });
      } else if (t.t === 'op') {
        next();
        const valTok = peek();
        let value = '';
        if (valTok.t === 'id') {
          value = valTok.v;
          next();
        } else if (!(valTok.t === 'comma' || valTok.t === 'end')) {
          parseErr(`found '${valTok.v}', expected: identifier`);
        }
        if (t.v === '>' || t.v === '<') {
          if (!/^-?\d+$/.test(value)) parseErr(`for 'Gt', 'Lt' operators, the value must be an integer`);
          reqs.push({ key, op: t.v === '>' ? 'gt' : 'lt', values: [value] });
        } else {
          checkValue(value);
          reqs.push({ key, op: t.v === '!=' ? 'neq' : 'eq', values: [value] });
        }
      } else if (t.t === 'id' && (t.v === 'in' || t.v === 'notin')) {
        next();
        if (next().t !== 'lp') parseErr(`found '${toks[p - 1]!.v}', expected: '('`);
        const values: string[] = [];
        for (;;) {
          const v = peek();
          if (v.t === 'id') {
            checkValue(v.v);
            values.push(v.v);
            next();
          } else if (v.t === 'comma' || v.t === 'rp') {
            values.push('');
          } else {
            parseErr(`found '${v.v}', expected: ',', ')' or identifier`);
          }
          const sep = next();
          if (sep.t === 'rp') break;
          if (sep.t !== 'comma') parseErr(`found '${sep.v}', expected: ',' or ')'`);
        }
        reqs.push({ key, op: t.v === 'in' ? 'in' : 'notin', values: [...new Set(values)] });
      } else {
        parseErr(`found '${t.v}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    }
    const sep = next();
    if (sep.t === 'end') break;
    if (sep.t !== 'comma') parseErr(`found '${sep.v}', expected: ',' or 'end of string'`);
  }
  return reqs;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined | null): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.hasOwn(l, r.key);
    const v = has ? l[r.key]! : undefined;
    switch (r.op) {
      case 'eq':
        if (!has || v !== r.values[0]) return false;
        break;
      case 'neq':
        if (has && v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const m = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > m) : !(n < m)) return false;
        break;
      }
    }
  }
  return true;
}

/** Splits on unescaped commas and unescapes `\,` `\=` `\!` `\\` as fields.ParseSelector does. */
export function parseFieldSelector(
  input: string | undefined | null,
  supported?: (field: string) => boolean,
): FieldSelector {
  if (!input || !input.trim()) return [];
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '\\' && i + 1 < input.length) {
      cur += c + input[i + 1];
      i++;
    } else if (c === ',') {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  const reqs: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    // find the first unescaped operator
    let idx = -1;
    let op: FieldRequirement['op'] = 'eq';
    let opLen = 0;
    for (let i = 0; i < part.length; i++) {
      const c = part[i]!;
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === '!' && part[i + 1] === '=') {
        idx = i;
        op = 'neq';
        opLen = 2;
        break;
      }
      if (c === '=' && part[i + 1] === '=') {
        idx = i;
        op = 'eq';
        opLen = 2;
        break;
      }
      if (c === '=') {
        idx = i;
        op = 'eq';
        opLen = 1;
        break;
      }
    }
    if (idx < 0) throw errors.badRequest(`invalid selector: '${input}'; can't understand '${part}'`);
    const field = unescapeField(part.slice(0, idx).trim());
    const value = unescapeField(part.slice(idx + opLen));
    if (supported && !supported(field)) throw errors.badRequest(`field label not supported: ${field}`);
    reqs.push({ field, op, value });
  }
  return reqs;
}

function unescapeField(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

export function matchFields(sel: FieldSelector, fields: Record<string, string>): boolean {
  for (const r of sel) {
    const v = fields[r.field] ?? '';
    if (r.op === 'eq' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
