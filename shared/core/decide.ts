/**
 * Decide whether a cluster needs a new active. Pure: time arrives as `now` (ms, the
 * control plane's clock); agents' clocks are never used. The control plane turns a
 * promotion into a conditional write whose condition is the decision's guards.
 */
import type { ClusterConfig, NodeConfig } from '../config.js';
import { formatSeconds } from '../time.js';
import {
  bestCandidate,
  candidateGuards,
  eligibility,
  isAlive,
  isHealthy,
  isInMaintenance,
} from './eligibility.js';
import { graceHold } from './grace.js';
import type { Guard } from './guards.js';
import { assertNever, type ClusterState, type Hold, type HoldCode, type NodeState } from './state.js';

export type PromotionCause =
  | 'first-active'
  | 'lease-expired'
  | 'failing'
  | 'maintenance'
  | 'failback'
  | 'switchover'
  | 'release';

/** Changes the flap guard counts: the ones nobody asked for. */
const AUTOMATIC: ReadonlySet<PromotionCause> = new Set(['lease-expired', 'failing', 'failback']);
export const HOUR_MS = 3_600_000;

export interface Promotion {
  type: 'promote';
  cause: PromotionCause;
  from: string | null;
  to: string;
  /** The epoch the conditional write expects to find; the new epoch is this + 1. */
  expectedEpoch: number;
  reason: string;
  /** What must still hold at the moment of the promoting write (see `guards.ts`). */
  guards: Guard[];
  /** The flap guard's list after this change (only automatic changes are added). */
  recentAutomatic: number[];
  by?: string;
}

export type HoldDecision = { type: 'hold'; hold: Hold; expectedEpoch: number; active: string | null };

export type Decision =
  /** The active is healthy (or there is nothing better to do): no write. */
  { type: 'steady' } | Promotion | HoldDecision;

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
 *    control plane returns from an absence (`grace.ts`), when a lease ran out unrecorded.
 */
export function decide(state: ClusterState, cluster: ClusterConfig, now: number): Decision {
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
      return flapHold(state, cluster, recent, preferred.reason, now);
    return preferred;
  }

  const cause = promotionCause(state, active, cluster, now);
  // A lease that expired only because the control plane was away is no failure (see grace.ts).
  const grace = cause === 'lease-expired' ? graceHold(state, cluster, now) : null;
  if (grace !== null) return { type: 'hold', expectedEpoch: state.epoch, active: state.active, hold: grace };
  const { candidate, refusals } = bestCandidate(state, cluster, now, state.active);
  const why = describeCause(cause, state, cluster, now);
  if (candidate === undefined) {
    const detail = refusals.length === 0 ? 'the cluster has no other node' : refusals.join('; ');
    return hold(state, 'no-candidate', `${why}; no standby can take over (${detail})`, now);
  }
  if (AUTOMATIC.has(cause) && recent.length >= cluster.maxAutoFailoversPerHour) {
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
          ...(cause === 'lease-expired' ? [{ rule: 'no-grace' } as const] : []),
        ];
  return promotion(state, now, {
    cause,
    to: candidate.id,
    reason: `${why}; promoted ${describeCandidate(state, cluster, candidate)}`,
    guards: [...ruleGuards, ...candidateGuards(state, cluster, candidate.id)],
  });
}

/** The automatic changes of the last hour (the flap guard's window). */
export function recentAutomatic(state: ClusterState, now: number): number[] {
  return state.recentAutomatic.filter((t) => now - t < HOUR_MS);
}

/** Preferred failback: the highest-priority eligible node, up for the hold-down, takes the role back. */
function preferredFailback(state: ClusterState, cluster: ClusterConfig, now: number): Promotion | null {
  if (cluster.failback !== 'preferred' || state.active === null) return null;
  const activeIndex = cluster.nodes.findIndex((n) => n.id === state.active);
  const holdDownMs = cluster.failbackHoldDownSeconds * 1000;
  for (const node of cluster.nodes.slice(0, Math.max(0, activeIndex))) {
    if (!eligibility(state, cluster, node.id, now).eligible) continue;
    const upSince = state.nodes[node.id]?.upSince;
    if (upSince === undefined || now - upSince < holdDownMs) return null;
    return promotion(state, now, {
      cause: 'failback',
      to: node.id,
      reason: `preferred failback: ${node.id} (priority ${cluster.nodes.indexOf(node) + 1}) has been up for ${formatSeconds(now - upSince)} (hold-down ${formatSeconds(holdDownMs)}); promoted ${node.id} over ${state.active}`,
      guards: [
        { rule: 'active-healthy', active: state.active, leaseMs: cluster.leaseMs },
        { rule: 'not-paused' },
        { rule: 'up-for', node: node.id, ms: holdDownMs },
        ...candidateGuards(state, cluster, node.id),
      ],
    });
  }
  return null;
}

/** A promotion from `state`: the epoch guard first, then the rule's own guards. */
export function promotion(
  state: ClusterState,
  now: number,
  p: { cause: PromotionCause; to: string; reason: string; guards: Guard[]; by?: string },
): Promotion {
  const recent = recentAutomatic(state, now);
  return {
    type: 'promote',
    cause: p.cause,
    from: state.active,
    to: p.to,
    expectedEpoch: state.epoch,
    reason: p.reason,
    guards: [{ rule: 'epoch', epoch: state.epoch }, ...p.guards],
    recentAutomatic: AUTOMATIC.has(p.cause) ? [...recent, now] : recent,
    ...(p.by ? { by: p.by } : {}),
  };
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

export function describeCandidate(state: ClusterState, cluster: ClusterConfig, node: NodeConfig): string {
  const s = state.nodes[node.id];
  const sync =
    s?.lagSeconds !== undefined
      ? `, lag ${s.lagSeconds} s`
      : s?.position !== undefined
        ? `, position ${String(s.position)}`
        : '';
  return `${node.id} (priority ${cluster.nodes.indexOf(node) + 1}${sync})`;
}
