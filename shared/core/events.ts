/** The immutable records of what the control plane did or declined to do. */
import type { ClusterConfig } from '../config.js';
import type { HoldDecision } from './decide.js';
import type { Promotion } from './promotion.js';
import type { ClusterEvent, ClusterState, EventKind } from './state.js';

/**
 * An event's id in the outbox. A promotion's id depends only on its epoch, which makes
 * committing it idempotent: one event per epoch, however many retries.
 */
export function eventId(event: ClusterEvent): string {
  if (event.kind === 'promoted') return `promoted-${event.epoch}`;
  // Several events can share a millisecond (two targets drifting in one sweep): kind and subject keep them apart.
  return `${event.kind}-${event.epoch}-${event.at}-${event.subject ?? ''}`;
}

export function promotionEvent(cluster: string, decision: Promotion, now: number): ClusterEvent {
  return {
    cluster,
    kind: 'promoted',
    epoch: decision.expectedEpoch + 1,
    at: now,
    active: decision.to,
    previous: decision.from,
    reason: decision.reason,
    ...(decision.by ? { by: decision.by } : {}),
  };
}

export function holdEvent(cluster: string, decision: HoldDecision): ClusterEvent {
  return {
    cluster,
    kind: 'held',
    epoch: decision.expectedEpoch,
    at: decision.hold.since,
    active: decision.active,
    previous: decision.active,
    reason: decision.hold.reason,
  };
}

/** An event that is not a promotion, at the cluster's current epoch. */
export function clusterEvent(
  state: ClusterState,
  kind: Exclude<EventKind, 'promoted' | 'held'>,
  reason: string,
  now: number,
  by?: string,
  subject?: string,
): ClusterEvent {
  return {
    cluster: state.cluster,
    kind,
    epoch: state.epoch,
    at: now,
    active: state.active,
    previous: state.active,
    reason,
    ...(by ? { by } : {}),
    ...(subject ? { subject } : {}),
  };
}

/** A target found pointing somewhere else than the current epoch says (repaired by re-applying). */
export function driftEvent(state: ClusterState, targetId: string, drift: string, now: number): ClusterEvent {
  const reason = `target ${targetId} drifted: ${drift}; re-applying epoch ${state.epoch}`;
  return clusterEvent(state, 'drift', reason, now, undefined, targetId);
}

/**
 * A heartbeat's claim versus the record. A node that says it is active while the record
 * says otherwise is a "two actives" collision: it is told to stand down (its answer says
 * standby and the current epoch) and one event is raised per episode.
 */
export function collisionChange(
  state: ClusterState,
  cluster: ClusterConfig,
  nodeId: string,
  now: number,
): { type: 'start'; event: ClusterEvent } | { type: 'end' } | null {
  const node = state.nodes[nodeId];
  if (node === undefined) return null;
  // A deposed active that has not heard of the change yet claims the older epoch for up
  // to a lease after it (the agent learns on its next beat, or demotes itself): normal.
  const notYetTold =
    node.claimedEpoch !== undefined &&
    node.claimedEpoch < state.epoch &&
    state.activeSince !== null &&
    now - state.activeSince <= cluster.leaseMs;
  const colliding = node.claimedRole === 'active' && state.active !== nodeId && !notYetTold;
  if (colliding && node.collision === undefined) {
    const claimed = node.claimedEpoch === undefined ? 'an unknown epoch' : `epoch ${node.claimedEpoch}`;
    const reason = `${nodeId} claims to be active at ${claimed}, but the active is ${state.active ?? 'none'} at epoch ${state.epoch}; told to stand down`;
    return { type: 'start', event: clusterEvent(state, 'collision', reason, now, undefined, nodeId) };
  }
  if (!colliding && node.collision !== undefined) return { type: 'end' };
  return null;
}
