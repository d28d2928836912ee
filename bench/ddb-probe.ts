/**
 * Counts what the product's DynamoDB client does: a middleware on the real SDK client
 * (step `initialize`) records each command's name, whether it failed (a conditional
 * check), the items a BatchGetItem returned, and the capacity dynalite reports when the
 * probe asks for it (`ReturnConsumedCapacity: TOTAL` added to item commands' input).
 */
import { createRequire } from 'node:module';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

const WRITES = new Set(['UpdateItemCommand', 'PutItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);
const READS = new Set(['GetItemCommand', 'BatchGetItemCommand', 'QueryCommand', 'ScanCommand']);
const CAPACITY_COMMANDS = new Set([...WRITES, ...READS, 'TransactWriteItemsCommand']);

interface Capacity {
  CapacityUnits?: number;
}

export interface ProbeSnapshot {
  /** Command name → calls (failed ones included). */
  commands: Record<string, number>;
  /** Command name → calls that threw (e.g. ConditionalCheckFailedException). */
  failed: Record<string, number>;
  writes: number;
  reads: number;
  /** Items returned by BatchGetItem, GetItem and Query. */
  itemsRead: number;
  /** Capacity units dynalite reported for writes and for reads (0 when not asked). */
  writeUnits: number;
  readUnits: number;
  /** Calls that reported no ConsumedCapacity although it was asked for. */
  missingCapacity: number;
}

export interface DdbProbe {
  snapshot(): ProbeSnapshot;
  reset(): void;
}

export function attachProbe(client: DynamoDBClient, options: { consumedCapacity: boolean }): DdbProbe {
  let s = empty();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? 'unknown';
      const input = args.input as Record<string, unknown>;
      if (options.consumedCapacity && CAPACITY_COMMANDS.has(name)) input.ReturnConsumedCapacity = 'TOTAL';
      s.commands[name] = (s.commands[name] ?? 0) + 1;
      if (WRITES.has(name)) s.writes += 1;
      if (READS.has(name)) s.reads += 1;
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(args);
      } catch (err) {
        s.failed[name] = (s.failed[name] ?? 0) + 1;
        // A failed conditional write still consumes write capacity in DynamoDB; dynalite
        // does not report it on errors, so count one unit per failed write.
        if (WRITES.has(name)) s.writeUnits += 1;
        throw err;
      }
      const out = result.output as {
        ConsumedCapacity?: Capacity | Capacity[];
        Responses?: Record<string, unknown[]>;
        Item?: unknown;
        Items?: unknown[];
      };
      if (out.Responses) for (const items of Object.values(out.Responses)) s.itemsRead += items.length;
      if (out.Item) s.itemsRead += 1;
      if (out.Items) s.itemsRead += out.Items.length;
      if (options.consumedCapacity && CAPACITY_COMMANDS.has(name)) {
        const units = [out.ConsumedCapacity ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
        if (out.ConsumedCapacity === undefined) s.missingCapacity += 1;
        if (WRITES.has(name)) s.writeUnits += units;
        else s.readUnits += units;
      }
      return result;
    },
    { step: 'initialize', name: 'benchDdbProbe' },
  );
  return {
    snapshot: () => structuredClone(s),
    reset: () => {
      s = empty();
    },
  };
}

function empty(): ProbeSnapshot {
  return {
    commands: {},
    failed: {},
    writes: 0,
    reads: 0,
    itemsRead: 0,
    writeUnits: 0,
    readUnits: 0,
    missingCapacity: 0,
  };
}

/**
 * dynalite's own item-size function (the DynamoDB rules: attribute names + values,
 * maps and lists with their overhead), used for its ConsumedCapacity. Takes an item in
 * the wire (AttributeValue) form.
 */
const dynaliteDb = createRequire(import.meta.url)('dynalite/db/index.js') as {
  itemSize(item: Record<string, unknown>): number;
};
export const itemSize = (item: Record<string, unknown>): number => dynaliteDb.itemSize(item);
