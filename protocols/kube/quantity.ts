/**
 * resource.Quantity: `100m`, `1.5Gi`, `2e3`, `128974848`, or a bare JSON number.
 *
 * Upstream keeps an exact decimal (inf.Dec); kubelet-ts needs quantities for comparisons
 * (requests <= limits), cgroup values and eviction thresholds, where a double is exact for every
 * value a node can hold (integers below 2^53 bytes, millicores). `parseQuantity` returns the value
 * in base units (cores, bytes); `toMilli` rounds up like upstream's MilliValue().
 */
import type { Quantity } from './pod.ts';

/** Upstream's wording when a quantity does not parse. */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const SHAPE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;

export type ParsedQuantity = { ok: true; value: number } | { ok: false; message: string };

/** Parse a quantity into base units (1 = one core / one byte). */
export function parseQuantity(q: Quantity): ParsedQuantity {
  if (typeof q === 'number') {
    return Number.isFinite(q) ? { ok: true, value: q } : { ok: false, message: QUANTITY_FORMAT_MESSAGE };
  }
  const s = q.trim() === q ? q : '';
  const m = SHAPE.exec(s);
  if (!m || !NUMBER.test(m[1]!)) return { ok: false, message: QUANTITY_FORMAT_MESSAGE };
  const num = Number(m[1]);
  const suffix = m[2]!;
  if (suffix in BINARY) return { ok: true, value: num * BINARY[suffix]! };
  if (suffix in DECIMAL) return { ok: true, value: scale10(num, DECIMAL[suffix]!) };
  const exp = /^[eE]([-+]?[0-9]+)$/.exec(suffix);
  if (exp) return { ok: true, value: scale10(num, Number(exp[1])) };
  return { ok: false, message: "unable to parse quantity's suffix" };
}

/** Multiply by 10^e without the drift of `x * 10 ** -3` (0.1 vs 0.10000000000000002). */
function scale10(x: number, e: number): number {
  if (e === 0) return x;
  return Number(`${x}e${e}`);
}

/** Value in base units; throws on a malformed quantity (validate first). */
export function quantityValue(q: Quantity): number {
  const p = parseQuantity(q);
  if (!p.ok) throw new Error(`invalid quantity ${JSON.stringify(q)}: ${p.message}`);
  return p.value;
}

/** Thousandths of the value, rounded up (upstream MilliValue), e.g. CPU millicores. */
export function toMilli(q: Quantity): number {
  return Math.ceil(Number(`${quantityValue(q)}e3`));
}
