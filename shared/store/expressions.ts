/**
 * DynamoDB expressions for the cluster's state item: the core's `Condition`s and
 * `Update`s rendered into an UpdateItem, and a helper for the store's own short writes.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Condition, Path, Update } from '../core/condition.js';
import { assertNever } from '../core/state.js';

export interface Table {
  readonly client: DynamoDBClient;
  readonly name: string;
}

export const STATE_SK = 'STATE';
export const clusterPk = (clusterId: string) => `CLUSTER#${clusterId}`;
export const stateKey = (clusterId: string) => marshall({ pk: clusterPk(clusterId), sk: STATE_SK });
export const marshallValues = (v: Record<string, unknown>) => marshall(v, { removeUndefinedValues: true });

/** Placeholders for one expression: `#n0` for attribute names, `:v0` for values (another prefix on request). */
class Placeholders {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private readonly byName = new Map<string, string>();

  constructor(private readonly prefix = { name: 'n', value: 'v' }) {}

  path(path: Path): string {
    return path.map((segment) => this.name(segment)).join('.');
  }

  value(value: unknown): string {
    const key = `:${this.prefix.value}${Object.keys(this.values).length}`;
    this.values[key] = value;
    return key;
  }

  private name(segment: string): string {
    let key = this.byName.get(segment);
    if (key === undefined) {
      key = `#${this.prefix.name}${this.byName.size}`;
      this.byName.set(segment, key);
      this.names[key] = segment;
    }
    return key;
  }
}

function renderCondition(condition: Condition, p: Placeholders): string {
  switch (condition.op) {
    case 'missing':
      return `attribute_not_exists(${p.path(condition.path)})`;
    case 'compare':
      return `${p.path(condition.path)} ${condition.cmp} ${p.value(condition.value)}`;
    case 'and':
    case 'or':
      return `(${condition.of.map((c) => renderCondition(c, p)).join(` ${condition.op.toUpperCase()} `)})`;
    case 'not':
      return `(NOT ${renderCondition(condition.of, p)})`;
    case 'false':
      // The key attribute is on every item: its absence never holds.
      return `attribute_not_exists(${p.path(['pk'])})`;
    default:
      return assertNever(condition);
  }
}

/**
 * A core Condition as part of a hand-written expression (`stateUpdate`): its placeholders
 * (`#c0`, `:c0`) cannot collide with the writer's own `#name`s and `:value`s.
 */
export function conditionFragment(condition: Condition): {
  expression: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
} {
  const p = new Placeholders({ name: 'c', value: 'c' });
  const expression = renderCondition(condition, p);
  return { expression, names: p.names, values: p.values };
}

/** A conditional UpdateItem on a cluster's state item, from the core's Update and Condition. */
export function transitionInput(
  table: Table,
  clusterId: string,
  update: Update,
  condition: Condition,
): UpdateItemCommandInput {
  const p = new Placeholders();
  const set = update.set.map(([path, value]) => `${p.path(path)} = ${p.value(value)}`);
  const remove = update.remove.map((path) => p.path(path));
  const expression = [
    ...(set.length ? [`SET ${set.join(', ')}`] : []),
    ...(remove.length ? [`REMOVE ${remove.join(', ')}`] : []),
  ].join(' ');
  const conditionExpression = renderCondition(condition, p);
  return {
    TableName: table.name,
    Key: stateKey(clusterId),
    UpdateExpression: expression,
    ConditionExpression: conditionExpression,
    ExpressionAttributeNames: p.names,
    ExpressionAttributeValues: marshallValues(p.values),
    ReturnValues: 'ALL_NEW',
  };
}

/**
 * An UpdateItem on a cluster's state item from a hand-written expression. Every attribute
 * name is written as `#name` (so reserved words never bite); `#name` maps to `name` unless
 * `names` maps it to a dynamic key such as a node id.
 */
export function stateUpdate(
  table: Table,
  clusterId: string,
  input: {
    UpdateExpression: string;
    ConditionExpression?: string;
    names?: Record<string, string>;
    values?: Record<string, unknown>;
    ReturnValues?: 'ALL_NEW';
  },
): UpdateItemCommandInput {
  const { names = {}, values, ...rest } = input;
  const tokens = `${input.UpdateExpression} ${input.ConditionExpression ?? ''}`.match(/#\w+/g) ?? [];
  const attributeNames = Object.fromEntries(tokens.map((t) => [t, names[t] ?? t.slice(1)]));
  return {
    TableName: table.name,
    Key: stateKey(clusterId),
    ...rest,
    ExpressionAttributeNames: attributeNames,
    ...(values ? { ExpressionAttributeValues: marshallValues(values) } : {}),
  };
}

/** Sends a conditional write; false when its condition did not hold (another worker got there first). */
export async function conditional(table: Table, input: UpdateItemCommandInput): Promise<boolean> {
  try {
    await table.client.send(new UpdateItemCommand(input));
    return true;
  } catch (err) {
    if (lostRace(err)) return false;
    throw err;
  }
}

/**
 * A conditional write that did not happen because another writer got there first: its
 * condition failed, or (on a multi-Region strongly consistent table) a write to the same
 * item in another Region was being replicated at the same moment. Neither changed anything,
 * so both are the compare-and-set's normal "lost", and the caller reads what won.
 */
export function lostRace(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err as Error)?.name === 'ReplicatedWriteConflictException'
  );
}
