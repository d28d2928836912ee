/**
 * Field schemas shared by the cluster config (`config.ts`) and the target kinds
 * (`targets/kinds/`). zod/mini: the same validation as zod, tree-shakable, so Lambda
 * bundles stay small.
 */
import * as z from 'zod/mini';

const ID = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/;
export const id = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .check(
      z.regex(ID, `${what} must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit`),
    );

export const int = (min: number, max: number) =>
  z
    .int({ error: 'must be a whole number' })
    .check(z.minimum(min, `must be at least ${min}`), z.maximum(max, `must be at most ${max}`));

export const arn = (kind: string, pattern: RegExp) =>
  z.string({ error: `must be ${kind} ARN` }).check(z.regex(pattern, `must be ${kind} ARN`));

/**
 * active-passive: targets follow the active node. active-active: targets follow every
 * alive, eligible node, while a leader is still elected for singleton work.
 */
export const mode = z._default(
  z.enum(['active-passive', 'active-active'], "must be 'active-passive' or 'active-active'"),
  'active-passive',
);
export type Mode = z.output<typeof mode>;
