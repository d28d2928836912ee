/**
 * Target records in the state item (`targets.<id>`): each apply is claimed, then its
 * outcome recorded, with conditions that order records by (epoch, servingVersion) so an
 * apply for an old epoch can never overwrite a newer record (safety property 4).
 */

import { eventId } from '../core/events.js';
import type { ClusterEvent, TargetState } from '../core/state.js';
import { conditional, stateUpdate, type Table } from './expressions.js';
import type { TargetClaim } from './port.js';

/**
 * Condition clauses ordering target records by (epoch, servingVersion), with `:epoch` and
 * `:sv` as the version at hand. servingVersion stays 0 in active-passive mode, where it
 * may be absent from older items.
 */
function generation(servingVersion: number) {
  const zero = servingVersion === 0;
  const recordSv = '#targets.#t.#servingVersion';
  return {
    /** The cluster is at exactly this version. */
    clusterIs: zero
      ? '#epoch = :epoch AND (attribute_not_exists(#servingVersion) OR #servingVersion = :sv)'
      : '#epoch = :epoch AND #servingVersion = :sv',
    recordOlder: zero
      ? '#targets.#t.#epoch < :epoch'
      : `(#targets.#t.#epoch < :epoch OR (#targets.#t.#epoch = :epoch AND (attribute_not_exists(${recordSv}) OR ${recordSv} < :sv)))`,
    recordNotNewer: zero
      ? '#targets.#t.#epoch <= :epoch'
      : `#targets.#t.#epoch < :epoch OR (#targets.#t.#epoch = :epoch AND (attribute_not_exists(${recordSv}) OR ${recordSv} <= :sv))`,
    recordSame: zero
      ? `#targets.#t.#epoch = :epoch AND (attribute_not_exists(${recordSv}) OR ${recordSv} = :sv)`
      : `#targets.#t.#epoch = :epoch AND ${recordSv} = :sv`,
    recordNewer: `(#targets.#t.#epoch > :epoch OR (#targets.#t.#epoch = :epoch AND ${recordSv} > :sv))`,
  };
}

/**
 * Claims a target: over no record, an older version's, or this version's when it failed,
 * went stale, was left by an expired claim or is due again after `settlesAt`. The record it
 * replaces must hold no time until which an earlier apply may still land (an unexpired
 * claim, a `settlesAt` to come) later than the claim's own `settlesAt`: the claim carries it
 * forward, or the claim is refused (it was made from a stale read).
 *
 * The condition is written as a conjunction of flat clauses: DynamoDB Local's parser
 * (dynalite) takes time exponential in the nesting of parentheses (the nested form of the
 * same condition took 350 ms a claim).
 */
export async function claimTarget(
  table: Table,
  clusterId: string,
  targetId: string,
  { epoch, servingVersion, at: now, until, settlesAt }: TargetClaim,
): Promise<boolean> {
  // An undefined settlesAt is left out of the item (values are marshalled without undefined).
  const claim: TargetState = {
    epoch,
    servingVersion,
    state: 'applying',
    at: now,
    until,
    attempts: 0,
    settlesAt,
  };
  const g = generation(servingVersion);
  const record = '#targets.#t';
  const none = `attribute_not_exists(${record})`;
  const clauses = [
    g.clusterIs,
    `(${none} OR ${g.recordNotNewer})`,
    // This version's record: only once its claim expired, or when due again after settlesAt.
    `(${none} OR ${g.recordOlder} OR ${record}.#state <> :applying OR ${record}.#until < :now)`,
    `(${none} OR ${g.recordOlder} OR ${record}.#state <> :applied OR ${record}.#settlesAt < :now)`,
    // Whatever may still land is carried.
    `(${none} OR ${record}.#state <> :applying OR ${record}.#until < :now OR ${record}.#until <= :settle)`,
    `(attribute_not_exists(${record}.#settlesAt) OR ${record}.#settlesAt < :now OR ${record}.#settlesAt <= :settle)`,
  ];
  return conditional(
    table,
    stateUpdate(table, clusterId, {
      UpdateExpression: `SET ${record} = :claim`,
      ConditionExpression: clauses.join(' AND '),
      names: { '#t': targetId },
      values: {
        ':claim': claim,
        ':epoch': epoch,
        ':sv': servingVersion,
        ':now': now,
        ':settle': settlesAt ?? 0,
        ':applying': 'applying',
        ':applied': 'applied',
      },
    }),
  );
}

/**
 * Records an apply's outcome. `superseded`: a newer record was there, so this apply ran
 * late and may have overwritten newer traffic settings: the newer record is now `stale`
 * and the next sweep applies it again. `overtaken`: the claim had expired and another
 * worker finished the same version meanwhile; nothing was written.
 */
export async function finishTarget(
  table: Table,
  clusterId: string,
  targetId: string,
  result: TargetState,
): Promise<'recorded' | 'superseded' | 'overtaken'> {
  const names = { '#t': targetId };
  const g = generation(result.servingVersion ?? 0);
  const versions = { ':epoch': result.epoch, ':sv': result.servingVersion ?? 0 };
  const recorded = await conditional(
    table,
    stateUpdate(table, clusterId, {
      UpdateExpression: 'SET #targets.#t = :result',
      ConditionExpression: `${g.recordSame} AND #targets.#t.#state = :applying`,
      names,
      values: { ':result': result, ':applying': 'applying', ...versions },
    }),
  );
  if (recorded) return 'recorded';
  const markedStale = await conditional(
    table,
    stateUpdate(table, clusterId, {
      UpdateExpression: 'SET #targets.#t.#state = :stale',
      ConditionExpression: g.recordNewer,
      names,
      values: { ':stale': 'stale', ...versions },
    }),
  );
  return markedStale ? 'superseded' : 'overtaken';
}

export async function markTargetDrift(
  table: Table,
  clusterId: string,
  targetId: string,
  epoch: number,
  event: ClusterEvent,
  servingVersion = 0,
): Promise<boolean> {
  const g = generation(servingVersion);
  return conditional(
    table,
    stateUpdate(table, clusterId, {
      UpdateExpression: 'SET #targets.#t.#state = :stale, #outbox.#event = :event',
      ConditionExpression: `${g.clusterIs} AND ${g.recordSame} AND #targets.#t.#state = :applied`,
      names: { '#t': targetId, '#event': eventId(event) },
      values: {
        ':stale': 'stale',
        ':applied': 'applied',
        ':epoch': epoch,
        ':sv': servingVersion,
        ':event': event,
      },
    }),
  );
}

export async function recordTargetDetail(
  table: Table,
  clusterId: string,
  targetId: string,
  epoch: number,
  detail: Record<string, string>,
  servingVersion = 0,
): Promise<boolean> {
  return conditional(
    table,
    stateUpdate(table, clusterId, {
      UpdateExpression: 'SET #targets.#t.#detail = :detail',
      ConditionExpression: generation(servingVersion).recordSame,
      names: { '#t': targetId },
      values: { ':detail': detail, ':epoch': epoch, ':sv': servingVersion },
    }),
  );
}

/** Active-active: the serving set and its version, in the same generation terms. */
export function servingCondition(servingVersion: number): string {
  return generation(servingVersion).clusterIs;
}
