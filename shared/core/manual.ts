/**
 * Planned changes: a switchover asked for by an operator, or a release asked for by the
 * active node itself. They work while paused and past the flap guard: a human decided.
 */
import type { ClusterConfig, NodeConfig } from '../config.js';
import { bestCandidate, candidateGuards, eligibility, isAlive } from './eligibility.js';
import type { Guard } from './guards.js';
import { type HandoverStart, pendingHandover, startHandover } from './handover.js';
import { describeCandidate, type Promotion, promotion } from './promotion.js';
import type { ClusterState } from './state.js';

/**
 * What an operator or a node asks for. A release names only the node asking: it carries
 * no target and no options, so nothing an operator means for a switchover can leak into it.
 */
export type ManualRequest = SwitchoverRequest | ReleaseRequest;

export interface SwitchoverRequest {
  kind: 'switchover';
  /** The node to promote (default: the best eligible standby). */
  to?: string;
  /** Promote `to` even if it is not eligible (it must still be alive). */
  force?: boolean;
  /**
   * Promote at once instead of demote-first (the old active learns at its next beat, or
   * from its own lease: until then only the epoch fences it).
   */
  immediate?: boolean;
  by: string;
  reason?: string;
}

export interface ReleaseRequest {
  kind: 'release';
  /** The node asking to hand over. */
  node: string;
  by: string;
}

export type ManualOutcome =
  | Promotion
  /** A demote-first switchover: the active is told to step down first (`handover.ts`). */
  | HandoverStart
  /** Nothing to do, and that is fine (a standby's release). */
  | { type: 'noop'; message: string }
  /** Illegal now; the message says why (HTTP 409). */
  | { type: 'refused'; message: string };

export function planManual(
  state: ClusterState,
  cluster: ClusterConfig,
  request: ManualRequest,
  now: number,
): ManualOutcome {
  if (request.kind === 'release') {
    if (state.active !== request.node) {
      return {
        type: 'noop',
        message: `${request.node} is not active (active: ${state.active ?? 'none'}); nothing to release`,
      };
    }
  } else {
    const pending = pendingHandover(state);
    if (pending !== null) {
      return {
        type: 'refused',
        message: `a ${pending.cause} from ${pending.from} to ${pending.to} is in progress (it completes by ${new Date(pending.deadline).toISOString()})`,
      };
    }
  }
  if (request.kind === 'switchover' && request.to !== undefined) {
    if (!cluster.nodes.some((n) => n.id === request.to))
      return { type: 'refused', message: `unknown node '${request.to}'` };
    if (request.to === state.active)
      return { type: 'refused', message: `${request.to} is already active (epoch ${state.epoch})` };
  }

  let target: NodeConfig | undefined;
  let force = false;
  if (request.kind === 'switchover' && request.to !== undefined) {
    target = cluster.nodes.find((n) => n.id === request.to);
    const check = eligibility(state, cluster, request.to, now);
    if (!check.eligible) {
      if (!request.force) return { type: 'refused', message: `${check.reason}; use force to override` };
      if (!isAlive(state.nodes[request.to], cluster, now)) {
        return {
          type: 'refused',
          message: `${check.reason}; a node that is not alive cannot be promoted, even with force`,
        };
      }
      force = true;
    }
  } else {
    const { candidate, refusals } = bestCandidate(state, cluster, now, state.active);
    if (candidate === undefined) {
      const detail = refusals.length === 0 ? 'the cluster has no other node' : refusals.join('; ');
      return { type: 'refused', message: `no standby can take over (${detail})` };
    }
    target = candidate;
  }
  const to = target as NodeConfig;
  const what =
    request.kind === 'release'
      ? `${request.node} released the role`
      : `switchover requested by ${request.by}${request.reason ? ` (${request.reason})` : ''}`;
  // Forced: only liveness is re-checked (an operator overrode the other rules).
  const guards: Guard[] = force
    ? [{ rule: 'alive', node: to.id, leaseMs: cluster.leaseMs }]
    : candidateGuards(state, cluster, to.id);
  // An active whose lease has run out is standby on its own clock already: nothing to wait for.
  const activeAlive = state.active !== null && isAlive(state.nodes[state.active], cluster, now);
  const demoteFirst = request.kind === 'switchover' && !request.immediate && activeAlive;
  if (demoteFirst) {
    const planned = { cause: 'switchover', to: to.id, by: request.by } as const;
    return startHandover(state, cluster, planned, what, now, guards, force);
  }
  const unfenced =
    request.kind === 'switchover' && activeAlive
      ? `; immediate: ${state.active} was not asked to step down first, only the epoch fences it`
      : '';
  return promotion(state, now, {
    cause: request.kind,
    to: to.id,
    reason: `${what}; promoted ${describeCandidate(state, cluster, to)}${force ? ' (forced)' : ''}${unfenced}`,
    guards,
    by: request.by,
  });
}
