/**
 * Target records in the state item (`targets.<id>`): each apply is claimed, then its
 * outcome recorded, with conditions that order records by (epoch, servingVersion) so an
 * apply for an old epoch can never overwrite a newer record (safety property 4).
 */

import { eventId } from '../core/events.js';
import type { ClusterEvent, TargetState } from '../core/state.js';
import { conditional, stateUpdate, type Table } from './expressions.js';

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
    recordSame: zero
      ? `#targets.#t.#epoch = :epoch AND (attribute_not_exists(${recordSv}) OR ${recordSv} = :sv)`
      : `#targets.#t.#epoch = :epoch AND ${recordSv} = :sv`,
    recordNewer: `(#targets.#t.#epoch > :epoch OR (#targets.#t.#epoch = :epoch AND ${recordSv} > :sv))`,
  };
}

export async function claimTarget(
  table: Table,
  clusterId: string,
  targetId: string,
  epoch: number,
  now: number,
  until: number,
  servingVersion = 0,
): Promise<boolean> {
  const claim: TargetState = { epoch, servingVersion, state: 'applying', at: now, until, attempts: 0 };
  const g = generation(servingVersion);
  return conditional(
    table,
    stateUpdate(table, clusterId, {
      UpdateExpression: 'SET #targets.#t = :claim',
      ConditionExpression:
        `${g.clusterIs} AND (attribute_not_exists(#targets.#t) OR ${g.recordOlder} OR (${g.recordSame} AND ` +
        '(#targets.#t.#state IN (:failed, :stale) OR (#targets.#t.#state = :applying AND #targets.#t.#until < :now))))',
      names: { '#t': targetId },
      values: {
        ':claim': claim,
        ':epoch': epoch,
        ':sv': servingVersion,
        ':now': now,
        ':failed': 'failed',
        ':stale': 'stale',
        ':applying': 'applying',
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
