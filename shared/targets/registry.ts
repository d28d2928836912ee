/**
 * Every target kind, one line each. Adding a kind: write `kinds/<kind>.ts` (its config
 * schema, what each node must provide, its factory, its IAM statements) and list it here.
 * The config schema (`config.ts`), the factory (`index.ts`) and the IAM (`infra/`) read
 * this list; none of them names a kind.
 */
import * as z from 'zod/mini';
import type { TargetKind } from './kind.js';
import { elbv2Health } from './kinds/elbv2-health.js';
import { elbv2Targets } from './kinds/elbv2-targets.js';
import { elbv2Weights } from './kinds/elbv2-weights.js';
import { log } from './kinds/log.js';
import { route53 } from './kinds/route53.js';
import { route53Health } from './kinds/route53-health.js';
import { webhook } from './kinds/webhook.js';

const KINDS = [route53, elbv2Targets, elbv2Weights, elbv2Health, route53Health, webhook, log] as const;

/** The kinds, typed alike: what code that dispatches on `type` iterates. */
export const TARGET_KINDS: readonly TargetKind[] = KINDS;

type Kinds = typeof KINDS;
type SchemasOf<T extends readonly unknown[]> = {
  -readonly [I in keyof T]: T[I] extends { schema: infer S } ? S : never;
};

/** The config schemas, as the tuple `z.discriminatedUnion` needs to infer the config types. */
export const TARGET_SCHEMAS = KINDS.map((k) => k.schema) as SchemasOf<Kinds>;

type NodeFieldsOf<K> = K extends { readonly nodeFields: infer F } ? F : never;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type NodeFields = Intersection<NodeFieldsOf<Kinds[number]>>;

/** The node fields the kinds ask for, each optional on a node (required only by a target that needs it). */
export const NODE_FIELDS = Object.fromEntries(
  TARGET_KINDS.flatMap((k) => Object.entries(k.nodeFields ?? {}).map(([field, s]) => [field, z.optional(s)])),
) as { [F in keyof NodeFields]: z.ZodMiniOptional<NodeFields[F]> };

const BY_TYPE = new Map(TARGET_KINDS.map((k) => [k.type, k]));

/** The kind of a parsed target (the config schema admits only registered types). */
export function kindOf(type: string): TargetKind {
  const kind = BY_TYPE.get(type);
  if (kind === undefined) throw new Error(`no target kind '${type}' in the registry`);
  return kind;
}

/** The environment variables a target reads, with the config field that names each (fields it sets). */
export function environmentOf(target: { type: string }): Array<{ field: string; name: string }> {
  return (kindOf(target.type).envFields ?? []).flatMap((field) => {
    const name = (target as Record<string, unknown>)[field];
    return name === undefined ? [] : [{ field, name: String(name) }];
  });
}
