/**
 * Data positions (replication offsets, PostgreSQL LSNs, log sequence numbers) and how they
 * are ordered. Every comparable position maps to one integer, its value × 2^52: exact for
 * numbers up to 2^53 (fractions included, e.g. timestamps), for digit strings up to 30
 * digits and for LSNs (`16/B374D848`). `positionKey` writes that integer as a fixed-width
 * hex string, so that the store can compare positions in a condition expression.
 */
import type { Position } from './state.js';

const FRACTION_BITS = 52n;
const SCALE = 2 ** 52;
const KEY_DIGITS = 40;

/** A position's value × 2^52, or null when it is not a number, a digit string or an LSN. */
export function positionOrder(p: Position): bigint | null {
  if (typeof p === 'number') return Number.isFinite(p) && p >= 0 ? BigInt(Math.floor(p * SCALE)) : null;
  if (/^\d{1,30}$/.test(p)) return BigInt(p) << FRACTION_BITS;
  const lsn = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(p);
  if (lsn) return ((BigInt(`0x${lsn[1]}`) << 32n) | BigInt(`0x${lsn[2]}`)) << FRACTION_BITS;
  return null;
}

/** The sortable key of an order: fixed-width lowercase hex, so string order is numeric order. */
export function orderKey(order: bigint): string {
  return (order < 0n ? 0n : order).toString(16).padStart(KEY_DIGITS, '0');
}

/** The stored key of a position, absent when the position is not comparable. */
export function positionKey(p: Position): string | undefined {
  const order = positionOrder(p);
  return order === null ? undefined : orderKey(order);
}

/** A limit in position units (e.g. `maxPositionLag`) on the same scale as `positionOrder`. */
export function positionSpan(units: number): bigint {
  return BigInt(Math.floor(units * SCALE));
}

/** A difference of orders back in position units, for messages. */
export function positionUnits(span: bigint): number {
  return Number(span) / SCALE;
}

/**
 * Orders two positions: numbers, digit strings and LSNs by value, other strings
 * lexicographically. Null when they can't be compared.
 */
export function comparePositions(a: Position, b: Position): number | null {
  const x = positionOrder(a);
  const y = positionOrder(b);
  if (x !== null && y !== null) return x < y ? -1 : x > y ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return null;
}
