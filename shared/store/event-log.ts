/**
 * The event log: immutable items beside the state item, copied there from the state's
 * outbox. Sort key: epoch first, then time, so a newest-first query lists an epoch's other
 * events before the promotion that opened it; a promotion's key depends only on its
 * epoch, so copying it is idempotent.
 */
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { ClusterEvent, ClusterState } from '../core/state.js';
import { decodeEvent } from './codec.js';
import { clusterPk, marshallValues, stateUpdate, type Table } from './expressions.js';

export const EVENT_PREFIX = 'EVENT#';
/** Events expire after this long (the table's TTL attribute is `expiresAt`, in seconds). */
const EVENT_RETENTION_SECONDS = 90 * 24 * 3600;

export function eventKey(event: ClusterEvent): string {
  const epoch = String(event.epoch).padStart(12, '0');
  if (event.kind === 'promoted') return `${EVENT_PREFIX}${epoch}#0`;
  return `${EVENT_PREFIX}${epoch}#${String(event.at).padStart(15, '0')}#${event.kind}#${event.subject ?? ''}`;
}

/** Copies outbox events to the log (append-once per key), then removes each from the outbox. */
export async function flushOutbox(table: Table, state: ClusterState): Promise<void> {
  for (const [id, event] of Object.entries(state.outbox)) {
    try {
      await table.client.send(
        new PutItemCommand({
          TableName: table.name,
          Item: marshallValues({
            pk: clusterPk(state.cluster),
            sk: eventKey(event),
            ...event,
            expiresAt: Math.floor(event.at / 1000) + EVENT_RETENTION_SECONDS,
          }),
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // Already copied by another worker.
    }
    await table.client.send(
      new UpdateItemCommand(
        stateUpdate(table, state.cluster, {
          UpdateExpression: 'REMOVE #outbox.#event',
          names: { '#event': id },
        }),
      ),
    );
  }
}

/**
 * Deletes up to `limit` of a cluster's oldest events whose retention has run out, for
 * tables without TTL (a multi-Region strongly consistent table has none; nor has the local
 * store). Oldest first, stopping at the first event still kept: the sort key orders events
 * by epoch, then time. Returns how many were deleted; what is left waits for the next call.
 */
export async function pruneEvents(
  table: Table,
  clusterId: string,
  nowMs: number,
  limit: number,
): Promise<number> {
  const out = await table.client.send(
    new QueryCommand({
      TableName: table.name,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: marshallValues({ ':pk': clusterPk(clusterId), ':prefix': EVENT_PREFIX }),
      ProjectionExpression: 'sk, expiresAt',
      ScanIndexForward: true,
      Limit: Math.min(limit, 25),
    }),
  );
  const expired: string[] = [];
  for (const item of out.Items ?? []) {
    if (Number(item.expiresAt?.N ?? Number.POSITIVE_INFINITY) * 1000 > nowMs) break;
    expired.push(item.sk?.S as string);
  }
  if (expired.length === 0) return 0;
  const deleted = await table.client.send(
    new BatchWriteItemCommand({
      RequestItems: {
        [table.name]: expired.map((sk) => ({
          DeleteRequest: { Key: marshallValues({ pk: clusterPk(clusterId), sk }) },
        })),
      },
    }),
  );
  return expired.length - (deleted.UnprocessedItems?.[table.name]?.length ?? 0);
}

/** Whether the log holds `event` itself (same key and same fields). */
export async function hasEvent(table: Table, event: ClusterEvent): Promise<boolean> {
  const out = await table.client.send(
    new GetItemCommand({
      TableName: table.name,
      Key: marshallValues({ pk: clusterPk(event.cluster), sk: eventKey(event) }),
      ConsistentRead: true,
    }),
  );
  return out.Item !== undefined && sameEvent(decodeEvent(out.Item), event);
}

export function sameEvent(a: ClusterEvent | undefined, b: ClusterEvent): boolean {
  const fields = ['cluster', 'kind', 'epoch', 'at', 'active', 'previous', 'reason', 'by', 'subject'] as const;
  return a !== undefined && fields.every((f) => a[f] === b[f]);
}

/** Newest first. */
export async function listEvents(table: Table, clusterId: string, limit: number): Promise<ClusterEvent[]> {
  const out = await table.client.send(
    new QueryCommand({
      TableName: table.name,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: marshallValues({ ':pk': clusterPk(clusterId), ':prefix': EVENT_PREFIX }),
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  return (out.Items ?? []).map(decodeEvent);
}
