/**
 * Decide whether a cluster needs a new active. Pure: time arrives as `now` (ms, the
 * control plane's clock); agents' clocks are never used. The control plane turns a
 * promotion into a conditional write whose condition is the decision's guards.
 */
import type { ClusterConfig } from '../config.js';
import { formatSeconds } from '../time.js';
import {
  bestCandidate,
  candidateGuards,
  eligibility,
  isAlive,
  isHealthy,
  isInMaintenance,
} from './eligibility.js';
import { graceHold, noGraceGuard } from './grace.js';
import type { Guard } from './guards.js';
import { decideHandover, type HandoverChange, type HandoverStart, startHandover } from './handover.js';
import {
  describeCandidate,
  HOUR_MS,
  isAutomatic,
  type Promotion,
  type PromotionCause,
  promotion,
  recentAutomatic,
} from './promotion.js';
import { assertNever, type ClusterState, type Hold, type HoldCode, type NodeState } from './state.js';

export type HoldDecision = { type: 'hold'; hold: Hold; expectedEpoch: number; active: string | null };

export type Decision =
  /** The active is healthy (or there is nothing better to do): no write. */
  { type: 'steady' } | Promotion | HoldDecision | HandoverChange;

/**
 * Decide whether the cluster needs a new active.
 *
 * 1. Paused: no automatic change; if the active is unhealthy, hold and say so.
 * 2. The active is alive and `ok`: nothing changes, unless failback is `preferred` and a
 *    higher-priority node has been up for the hold-down, in which case it takes over.
 * 3. Otherwise (no active yet, lease expired, `failing` or `maintenance`), the best
 *    eligible standby is promoted: most up to date first, then priority.
 * 4. With no eligible standby, or past the flap guard, the cluster holds and says why;
 *    the current active (if any) keeps the role. So it does for one lease after the
 *    control plane returns from an absence (`grace.ts`), when a lease ran out unrecorded,
 *    and while it hears no node at all.
 *
 * A demote-first handover in progress (`handover.ts`) comes first: it was planned, so it
 * completes while paused; a failback starts one instead of promoting at once.
 */
export function decide(state: ClusterState, cluster: ClusterConfig, now: number): Decision {
  const handover = decideHandover(state, cluster, now);
  if (handover !== null) return handover;
  const active = state.active === null ? undefined : state.nodes[state.active];
  const healthy = state.active !== null && isHealthy(active, cluster, now);
  const recent = recentAutomatic(state, now);

  // A maintenance handover is planned, like a release: it goes ahead while paused.
  if (state.paused !== null && !isInMaintenance(active, cluster, now)) {
    if (healthy) return { type: 'steady' };
    const why =
      state.active === null
        ? 'no active node yet'
        : describeCause(promotionCause(state, active, cluster, now), state, cluster, now);
    return hold(
      state,
      'paused',
      `${why}; automation is paused (by ${state.paused.by}: ${state.paused.reason})`,
      now,
    );
  }

  if (healthy) {
    const preferred = preferredFailback(state, cluster, now);
    if (preferred === null) return { type: 'steady' };
    if (recent.length >= cluster.maxAutoFailoversPerHour)
      return flapHold(state, cluster, recent, preferred.handover.reason, now);
    return preferred;
  }

  const cause = promotionCause(state, active, cluster, now);
  const { candidate, refusals } = bestCandidate(state, cluster, now, state.active);
  const why = describeCause(cause, state, cluster, now);
  if (candidate === undefined) {
    const detail = refusals.length === 0 ? 'the cluster has no other node' : refusals.join('; ');
    return hold(state, 'no-candidate', `${why}; no standby can take over (${detail})`, now);
  }
  // A lease that expired only because the control plane was away is no failure (see grace.ts).
  const grace = cause === 'lease-expired' ? graceHold(state, cluster, now) : null;
  if (grace !== null) return { type: 'hold', expectedEpoch: state.epoch, active: state.active, hold: grace };
  if (isAutomatic(cause) && recent.length >= cluster.maxAutoFailoversPerHour) {
    return flapHold(state, cluster, recent, why, now);
  }
  // Past the flap guard only a planned handover goes ahead: the write re-checks that it
  // still is one (an active that turned failing meanwhile would make it a failover).
  const plannedOnly = recent.length >= cluster.maxAutoFailoversPerHour;
  const ruleGuards: Guard[] =
    state.active === null
      ? [{ rule: 'no-active' }, { rule: 'not-paused' }]
      : [
          {
            rule: 'failover',
            active: state.active,
            leaseMs: cluster.leaseMs,
            ...(plannedOnly ? { plannedOnly: true as const } : {}),
          },
          ...(cause === 'lease-expired' ? [noGraceGuard(cluster)] : []),
        ];
  return promotion(state, now, {
    cause,
    to: candidate.id,
    reason: `${why}; promoted ${describeCandidate(state, cluster, candidate)}`,
    guards: [...ruleGuards, ...candidateGuards(state, cluster, candidate.id)],
  });
}

/**
 * Preferred failback: the highest-priority eligible node, up for the hold-down, takes the
 * role back, demote-first (the handover's guards and the candidate's are re-checked when
 * it commits).
 */
function preferredFailback(state: ClusterState, cluster: ClusterConfig, now: number): HandoverStart | null {
  if (cluster.failback !== 'preferred' || state.active === null) return null;
  const activeIndex = cluster.nodes.findIndex((n) => n.id === state.active);
  const holdDownMs = cluster.failbackHoldDownSeconds * 1000;
  for (const node of cluster.nodes.slice(0, Math.max(0, activeIndex))) {
    if (!eligibility(state, cluster, node.id, now).eligible) continue;
    const upSince = state.nodes[node.id]?.upSince;
    if (upSince === undefined || now - upSince < holdDownMs) return null;
    const what = `preferred failback: ${node.id} (priority ${cluster.nodes.indexOf(node) + 1}) has been up for ${formatSeconds(now - upSince)} (hold-down ${formatSeconds(holdDownMs)})`;
    return startHandover(state, cluster, { cause: 'failback', to: node.id }, what, now, [
      { rule: 'active-healthy', active: state.active, leaseMs: cluster.leaseMs },
      { rule: 'not-paused' },
      { rule: 'up-for', node: node.id, ms: holdDownMs },
      ...candidateGuards(state, cluster, node.id),
    ]);
  }
  return null;
}

function hold(state: ClusterState, code: HoldCode, reason: string, now: number): HoldDecision {
  return {
    type: 'hold',
    expectedEpoch: state.epoch,
    active: state.active,
    hold: { code, reason, since: now },
  };
}

function flapHold(
  state: ClusterState,
  cluster: ClusterConfig,
  recent: number[],
  why: string,
  now: number,
): HoldDecision {
  // Lifts when fewer than `limit` changes remain in the window.
  const sorted = [...recent].sort((a, b) => a - b);
  const next = (sorted[sorted.length - cluster.maxAutoFailoversPerHour] ?? now) + HOUR_MS;
  const changes = `${recent.length} automatic change${recent.length === 1 ? '' : 's'}`;
  return hold(
    state,
    'flap-guard',
    `${why}; automation holds: ${changes} in the last hour (limit ${cluster.maxAutoFailoversPerHour}) until ${new Date(next).toISOString()}; a switchover still works`,
    now,
  );
}

function promotionCause(
  state: ClusterState,
  active: NodeState | undefined,
  cluster: ClusterConfig,
  now: number,
): PromotionCause {
  if (state.active === null) return 'first-active';
  if (!isAlive(active, cluster, now)) return 'lease-expired';
  const status = active?.status ?? 'ok';
  switch (status) {
    case 'failing':
      return 'failing';
    case 'maintenance':
      return 'maintenance';
    case 'ok':
      // Unreachable: a healthy active never needs replacing.
      return 'lease-expired';
    default:
      return assertNever(status);
  }
}

function describeCause(
  cause: PromotionCause,
  state: ClusterState,
  cluster: ClusterConfig,
  now: number,
): string {
  const from = state.active ?? '';
  switch (cause) {
    case 'first-active':
      return 'no active node yet';
    case 'lease-expired': {
      const seen = state.nodes[from]?.lastSeen;
      const lease = `lease ${formatSeconds(cluster.leaseMs)}`;
      if (seen === undefined) return `${from} was never seen (${lease})`;
      // The beats actually missed: more than missedBeats when the sweep or the server was away.
      const missed = Math.floor((now - seen) / cluster.intervalMs);
      return `${from} missed ${missed} beats (last seen ${formatSeconds(now - seen)} ago, ${lease})`;
    }
    case 'failing':
      return `${from} reported status failing`;
    case 'maintenance':
      return `${from} entered maintenance`;
    case 'failback':
    case 'switchover':
    case 'release':
      return `${from} handed over`;
    default:
      return assertNever(cause);
  }
}
