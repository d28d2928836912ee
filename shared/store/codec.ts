/**
 * The state item as read from DynamoDB: checked against the shape the core expects
 * instead of cast, so a damaged or foreign item fails loudly with the field named rather
 * than steering a failover with wrong types. Unknown attributes are ignored (a newer
 * version may add some).
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod/mini';
import { type ClusterState, emptyState, withDefaults } from '../core/state.js';

const number = z.number();
const string = z.string();
const position = z.union([number, string]);

const NodeStateSchema = z.looseObject({
  lastSeen: z.optional(number),
  prevSeen: z.optional(number),
  promisedUntil: z.optional(number),
  steppedDown: z.optional(number),
  region: z.optional(string),
  upSince: z.optional(number),
  beats: number,
  status: z.enum(['ok', 'failing', 'maintenance']),
  version: z.optional(string),
  position: z.optional(position),
  positionKey: z.optional(string),
  lagSeconds: z.optional(number),
  claimedRole: z.optional(z.enum(['active', 'standby'])),
  claimedEpoch: z.optional(number),
  collision: z.optional(z.looseObject({ since: number, claimedEpoch: z.nullable(number) })),
  previousToken: z.optional(z.literal(true)),
});

const EventSchema = z.looseObject({
  cluster: string,
  kind: z.enum([
    'promoted',
    'held',
    'drift',
    'collision',
    'paused',
    'resumed',
    'serving',
    'failsafe',
    'handover',
  ]),
  epoch: number,
  at: number,
  active: z.nullable(string),
  previous: z.nullable(string),
  reason: string,
  by: z.optional(string),
  subject: z.optional(string),
});

const TargetStateSchema = z.looseObject({
  epoch: number,
  state: z.enum(['applying', 'applied', 'failed', 'stale']),
  at: number,
  until: z.optional(number),
  settlesAt: z.optional(number),
  error: z.optional(string),
  attempts: number,
  detail: z.optional(z.record(string, string)),
  servingVersion: z.optional(number),
});

const StateItemSchema = z.looseObject({
  cluster: z.optional(string),
  epoch: z.optional(number),
  active: z.optional(z.nullable(string)),
  activeSince: z.optional(z.nullable(number)),
  nodes: z.optional(z.record(string, NodeStateSchema)),
  targets: z.optional(z.record(string, TargetStateSchema)),
  hold: z.optional(
    z.looseObject({
      code: z.enum(['no-candidate', 'flap-guard', 'paused', 'grace']),
      reason: string,
      since: number,
      until: z.optional(number),
    }),
  ),
  returnedAt: z.optional(number),
  paused: z.optional(z.looseObject({ since: number, by: string, reason: string })),
  handover: z.optional(
    z.looseObject({
      cause: z.enum(['switchover', 'failback']),
      from: string,
      to: string,
      epoch: number,
      since: number,
      deadline: number,
      force: z.optional(z.boolean()),
      by: z.optional(string),
      reason: string,
    }),
  ),
  recentAutomatic: z.optional(z.array(number)),
  serving: z.optional(z.array(string)),
  servingVersion: z.optional(number),
  lastTransition: z.optional(EventSchema),
  outbox: z.optional(z.record(string, EventSchema)),
});

/** A state item that does not have the shape the core expects. */
export class StoredStateError extends Error {
  override name = 'StoredStateError';
}

/** The cluster state from a state item (absent item: the empty state). */
export function decodeState(
  clusterId: string,
  item: Record<string, AttributeValue> | undefined,
): ClusterState {
  if (item === undefined) return emptyState(clusterId);
  const raw = unmarshall(item);
  const parsed = StateItemSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.map(String).join('.') || '(item)';
    throw new StoredStateError(
      `state item of cluster ${raw.cluster ?? clusterId} is malformed at ${where}: ${issue?.message}`,
    );
  }
  const { pk: _pk, sk: _sk, ...state } = parsed.data as Record<string, unknown>;
  return withDefaults(clusterId, state as Partial<Record<keyof ClusterState, unknown>>);
}

/** An event item of the event log, checked the same way. */
export function decodeEvent(item: Record<string, AttributeValue>) {
  const { pk: _pk, sk: _sk, expiresAt: _ttl, ...raw } = unmarshall(item);
  const parsed = EventSchema.safeParse(raw);
  if (!parsed.success) throw new StoredStateError(`event item ${String(_sk)} is malformed`);
  return parsed.data;
}
