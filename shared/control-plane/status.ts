/** The operator's view of one cluster: what `GET /v1/clusters/{id}` and `failover status` show. */
import type { ClusterConfig } from '../config.js';
import { hasSteppedDown, pendingHandover } from '../core/handover.js';
import { isCurrentRecord, targetMembers } from '../core/serving.js';
import type { ClusterEvent, ClusterState } from '../core/state.js';
import { flapGuard, type NodeView, nodeViews } from '../core/views.js';
import type { Target } from '../targets/index.js';
import type { RejectedBeatsView } from './rejected-beats.js';

export interface ClusterStatus {
  cluster: string;
  epoch: number;
  active: string | null;
  activeSince: string | null;
  leaseMs: number;
  intervalMs: number;
  missedBeats: number;
  mode: string;
  /** Active-active: the nodes targets point to (the active alone in active-passive mode). */
  serving: string[];
  failback: string;
  failbackHoldDownSeconds: number;
  paused: { since: string; by: string; reason: string } | null;
  /** A demote-first switchover or failback waiting for the active to step down. */
  handover: {
    cause: string;
    from: string;
    to: string;
    since: string;
    deadline: string;
    by: string | null;
    reason: string;
    steppedDown: boolean;
  } | null;
  flapGuard: { limitPerHour: number; lastHour: number; holding: boolean };
  syncGate: { maxLagSeconds: number | null; maxPositionLag: number | null; requireSameVersion: boolean };
  hold: { code: string; reason: string; since: string; until?: string } | null;
  lastTransition: ClusterEvent | null;
  nodes: NodeView[];
  /** Heartbeats refused with 401 per node, as counted by the process answering (rejected-beats.ts). */
  rejectedBeats: RejectedBeatsView[];
  targets: Array<{
    id: string;
    type: string;
    epoch: number | null;
    state: string;
    at: string | null;
    error: string | null;
    detail: Record<string, string> | null;
  }>;
  now: string;
}

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

export function presentStatus(
  cluster: ClusterConfig,
  state: ClusterState,
  targets: readonly Target[],
  rejectedBeats: RejectedBeatsView[],
  now: number,
): ClusterStatus {
  return {
    cluster: cluster.id,
    epoch: state.epoch,
    active: state.active,
    activeSince: iso(state.activeSince),
    leaseMs: cluster.leaseMs,
    intervalMs: cluster.intervalMs,
    missedBeats: cluster.missedBeats,
    mode: cluster.mode,
    serving: targetMembers(state, cluster).map((n) => n.id),
    failback: cluster.failback,
    failbackHoldDownSeconds: cluster.failbackHoldDownSeconds,
    paused: state.paused && { ...state.paused, since: iso(state.paused.since) as string },
    handover: presentHandover(state),
    flapGuard: flapGuard(state, cluster, now),
    syncGate: {
      maxLagSeconds: cluster.maxLagSeconds ?? null,
      maxPositionLag: cluster.maxPositionLag ?? null,
      requireSameVersion: cluster.requireSameVersion,
    },
    hold: state.hold && {
      code: state.hold.code,
      reason: state.hold.reason,
      since: iso(state.hold.since) as string,
      ...(state.hold.until === undefined ? {} : { until: iso(state.hold.until) as string }),
    },
    lastTransition: state.lastTransition,
    nodes: nodeViews(state, cluster, now),
    rejectedBeats,
    targets: targets.map((t) => {
      const progress = state.targets[t.id];
      return {
        id: t.id,
        type: t.type,
        epoch: progress?.epoch ?? null,
        // A record for an older epoch or serving set is what the sweep will apply next.
        state: isCurrentRecord(progress, state) ? (progress?.state ?? 'pending') : 'pending',
        at: iso(progress?.at),
        error: progress?.error ?? null,
        detail: progress?.detail ?? null,
      };
    }),
    now: new Date(now).toISOString(),
  };
}

function presentHandover(state: ClusterState): ClusterStatus['handover'] {
  const h = pendingHandover(state);
  if (h === null) return null;
  return {
    cause: h.cause,
    from: h.from,
    to: h.to,
    since: iso(h.since) as string,
    deadline: iso(h.deadline) as string,
    by: h.by ?? null,
    reason: h.reason,
    steppedDown: hasSteppedDown(state, h),
  };
}
