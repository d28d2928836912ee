/**
 * Demote-first handovers (a switchover, or a preferred failback): the old active steps down
 * before the new one is promoted, so a planned move leaves a gap, never an overlap.
 *
 * 1. The handover is recorded (one conditional write, with a `handover` event); from then
 *    on the old active's beats are answered `standby` and renew nothing.
 * 2. Its agent runs --on-standby and then confirms in its next beat (`steppedDown`).
 * 3. The confirmation commits the promotion; without one, the deadline does: a lease
 *    after the record, no beat of the old active has renewed its lease, so it has run out
 *    on its agent's own clock (the same argument as a lease-expired failover).
 * Pure: time is data, and the writes' conditions are the decisions' guards.
 */
import type { ClusterConfig } from '../config.js';
import { formatSeconds } from '../time.js';
import { bestCandidate, candidateGuards, eligibility, isAlive, isHealthy } from './eligibility.js';
import { clusterEvent } from './events.js';
import type { Guard } from './guards.js';
import { describeCandidate, type Promotion, promotion } from './promotion.js';
import type { ClusterEvent, ClusterState, Handover } from './state.js';

/** Record a handover: the active is told to step down from now on. */
export interface HandoverStart {
  type: 'handover';
  handover: Handover;
  event: ClusterEvent;
  /** What its write requires: the epoch, no other handover, and the rule's own guards. */
  guards: Guard[];
}

/** Abandon a handover whose new active can no longer take over; the old one stays. */
export interface HandoverCancel {
  type: 'cancel-handover';
  since: number;
  event: ClusterEvent;
}

export type HandoverChange = HandoverStart | HandoverCancel;

/** The handover in progress, while the record still matches it (a promotion ends it). */
export function pendingHandover(state: ClusterState): Handover | null {
  const h = state.handover;
  if (h === null || h.epoch !== state.epoch || h.from !== state.active) return null;
  return h;
}

/** Whether `nodeId` is the active being asked to step down (its beats are answered `standby`). */
export function isSteppingDown(state: ClusterState, nodeId: string): boolean {
  return pendingHandover(state)?.from === nodeId;
}

/** Whether the old active confirmed, in a beat after the handover began, that it stepped down. */
export function hasSteppedDown(state: ClusterState, h: Handover): boolean {
  const old = state.nodes[h.from];
  return old?.steppedDown === h.epoch && (old.lastSeen ?? Number.NEGATIVE_INFINITY) > h.since;
}

/**
 * Starts a handover for a planned promotion of `planned.to` away from the current active.
 * `what` says who asked and why, in words the events and the final promotion repeat.
 */
export function startHandover(
  state: ClusterState,
  cluster: ClusterConfig,
  planned: { cause: Handover['cause']; to: string; by?: string },
  what: string,
  now: number,
  guards: Guard[],
  force = false,
): HandoverStart {
  const from = state.active as string;
  const handover: Handover = {
    cause: planned.cause,
    from,
    to: planned.to,
    epoch: state.epoch,
    since: now,
    deadline: now + cluster.leaseMs,
    reason: what,
    ...(force ? { force } : {}),
    ...(planned.by ? { by: planned.by } : {}),
  };
  const reason = `${what}: ${from} is told to step down; ${planned.to} is promoted once it confirms, or at ${new Date(handover.deadline).toISOString()} when its lease has run out`;
  return {
    type: 'handover',
    handover,
    event: clusterEvent(state, 'handover', reason, now, planned.by, planned.to),
    guards: [{ rule: 'epoch', epoch: state.epoch }, { rule: 'no-handover' }, ...guards],
  };
}

/**
 * What a pending handover calls for now: null when there is none (or its old active is no
 * longer healthy, so the ordinary failover rules apply); `steady` while waiting; the
 * promotion once the old active confirmed or its lease ran out; a cancel when nobody can
 * take over then.
 */
export function decideHandover(
  state: ClusterState,
  cluster: ClusterConfig,
  now: number,
): Promotion | HandoverCancel | { type: 'steady' } | null {
  const h = pendingHandover(state);
  if (h === null) return null;
  const confirmed = hasSteppedDown(state, h);
  if (!confirmed && now < h.deadline) {
    return isHealthy(state.nodes[h.from], cluster, now) ? { type: 'steady' } : null;
  }

  const how = confirmed
    ? `${h.from} stepped down`
    : `${h.from} did not confirm within the lease (${formatSeconds(cluster.leaseMs)}), so its lease has run out`;
  const handoverGuards: Guard[] = [
    { rule: 'handover', since: h.since },
    confirmed
      ? { rule: 'stepped-down', node: h.from, epoch: h.epoch, since: h.since }
      : { rule: 'handover-expired' },
  ];
  const target = cluster.nodes.find((n) => n.id === h.to);
  const refusal =
    target === undefined ? `${h.to} is no longer in the config` : whyNot(state, cluster, h, now);
  if (target !== undefined && refusal === null) {
    return promotion(state, now, {
      cause: h.cause,
      to: h.to,
      reason: `${h.reason}; ${how}; promoted ${describeCandidate(state, cluster, target)}${h.force ? ' (forced)' : ''}`,
      // Forced: only liveness is re-checked (an operator overrode the other rules).
      guards: [
        ...handoverGuards,
        ...(h.force ? [{ rule: 'alive', node: h.to, leaseMs: cluster.leaseMs } as const] : []),
        ...(h.force ? [] : candidateGuards(state, cluster, h.to)),
      ],
      ...(h.by ? { by: h.by } : {}),
    });
  }
  // A switchover asked for "a standby"; a failback only makes sense to its preferred node.
  const { candidate } = h.cause === 'switchover' ? bestCandidate(state, cluster, now, h.from) : {};
  if (candidate !== undefined) {
    return promotion(state, now, {
      cause: h.cause,
      to: candidate.id,
      reason: `${h.reason}; ${how}; ${refusal}, so promoted ${describeCandidate(state, cluster, candidate)} instead`,
      guards: [...handoverGuards, ...candidateGuards(state, cluster, candidate.id)],
      ...(h.by ? { by: h.by } : {}),
    });
  }
  const reason = `${h.reason}; abandoned: ${refusal} and no other standby can take over; ${h.from} is told it is active again`;
  return {
    type: 'cancel-handover',
    since: h.since,
    event: clusterEvent(state, 'handover', reason, now, h.by, h.to),
  };
}

function whyNot(state: ClusterState, cluster: ClusterConfig, h: Handover, now: number): string | null {
  if (h.force) {
    return isAlive(state.nodes[h.to], cluster, now) ? null : `${h.to} is no longer alive`;
  }
  const check = eligibility(state, cluster, h.to, now);
  return check.eligible ? null : check.reason;
}
