/**
 * A small condition language over the cluster record, so that each rule is written once
 * and read two ways: evaluated in memory by the core (`holds`), and rendered as a DynamoDB
 * condition expression by the store (`store/expressions.ts`). The in-memory semantics are
 * DynamoDB's: a comparison with a missing attribute, or between a number and a string, is
 * false; `null` in the record reads as missing (the store removes attributes instead of
 * writing nulls).
 *
 * Updates are data too (`Update`): `applyUpdate` is the in-memory twin of the store's
 * UpdateExpression, so what a transition sets is written once.
 */

export type Path = readonly string[];
export type Scalar = string | number;
// Only what the rules use (no `exists`, no `<`): an operator no rule writes is one no test
// can pin. Add one together with the rule that needs it.
export type Comparator = '=' | '<=' | '>' | '>=';

export type Condition =
  | { readonly op: 'missing'; readonly path: Path }
  | { readonly op: 'compare'; readonly path: Path; readonly cmp: Comparator; readonly value: Scalar }
  | { readonly op: 'and'; readonly of: readonly Condition[] }
  | { readonly op: 'or'; readonly of: readonly Condition[] }
  | { readonly op: 'not'; readonly of: Condition }
  /** Never holds (a rule that cannot be met in this state). */
  | { readonly op: 'false' };

export const missing = (path: Path): Condition => ({ op: 'missing', path });
export const compare = (path: Path, cmp: Comparator, value: Scalar): Condition => ({
  op: 'compare',
  path,
  cmp,
  value,
});
export const not = (of: Condition): Condition => ({ op: 'not', of });
export const never: Condition = { op: 'false' };

/** All of `conditions` (flattened; a single one is returned as is). */
export function and(...conditions: Condition[]): Condition {
  const of = conditions.flatMap((c) => (c.op === 'and' ? c.of : [c]));
  return of.length === 1 ? (of[0] as Condition) : { op: 'and', of };
}

/** Any of `conditions` (flattened; a single one is returned as is). */
export function or(...conditions: Condition[]): Condition {
  const of = conditions.flatMap((c) => (c.op === 'or' ? c.of : [c]));
  return of.length === 1 ? (of[0] as Condition) : { op: 'or', of };
}

/** The value at `path`, or undefined when any step is missing (or null). */
export function valueAt(record: unknown, path: Path): unknown {
  let value: unknown = record;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value ?? undefined;
}

/** Whether `condition` holds for `record`, with DynamoDB's semantics. */
export function holds(condition: Condition, record: unknown): boolean {
  switch (condition.op) {
    case 'missing':
      return valueAt(record, condition.path) === undefined;
    case 'compare': {
      const value = valueAt(record, condition.path);
      if (typeof value !== typeof condition.value) return false;
      return compareScalars(value as Scalar, condition.cmp, condition.value);
    }
    case 'and':
      return condition.of.every((c) => holds(c, record));
    case 'or':
      return condition.of.some((c) => holds(c, record));
    case 'not':
      return !holds(condition.of, record);
    case 'false':
      return false;
    default: {
      const unknown: never = condition;
      throw new Error(`unknown condition ${JSON.stringify(unknown)}`);
    }
  }
}

// Strings here are ASCII (statuses, versions, hex keys), where UTF-16 order (JS) and UTF-8
// byte order (DynamoDB) agree.
function compareScalars(a: Scalar, cmp: Comparator, b: Scalar): boolean {
  switch (cmp) {
    case '=':
      return a === b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    default: {
      const unknown: never = cmp;
      throw new Error(`unknown comparator ${String(unknown)}`);
    }
  }
}

/** What a write sets and removes, by path into the record. */
export interface Update {
  readonly set: ReadonlyArray<readonly [Path, unknown]>;
  readonly remove: readonly Path[];
}

/** The record after `update` (a copy; the input is not changed). Removed fields are deleted. */
export function applyUpdate(record: object, update: Update): Record<string, unknown> {
  let next: unknown = record;
  for (const [path, value] of update.set) next = setAt(next, path, value);
  for (const path of update.remove) next = setAt(next, path, undefined);
  return next as Record<string, unknown>;
}

function setAt(record: unknown, path: Path, value: unknown): unknown {
  const [key, ...rest] = path;
  if (key === undefined) return value;
  const copy = { ...(record !== null && typeof record === 'object' ? record : {}) } as Record<
    string,
    unknown
  >;
  const child = setAt(copy[key], rest, value);
  if (child === undefined) delete copy[key];
  else copy[key] = child;
  return copy;
}
