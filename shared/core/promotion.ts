/**
 * A promotion as data: who takes the role from whom and why, and the guards its write
 * re-checks. Every rule that promotes (`decide`, `manual`, `handover`) builds one here.
 */
import type { ClusterConfig, NodeConfig } from '../config.js';
import type { Guard } from './guards.js';
import type { ClusterState } from './state.js';

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
export const isAutomatic = (cause: PromotionCause): boolean => AUTOMATIC.has(cause);
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

/** The automatic changes of the last hour (the flap guard's window). */
export function recentAutomatic(state: ClusterState, now: number): number[] {
  return state.recentAutomatic.filter((t) => now - t < HOUR_MS);
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
