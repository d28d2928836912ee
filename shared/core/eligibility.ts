/**
 * Who may be promoted: liveness, the candidate rules (built as guards, so the promoting
 * write re-checks exactly these), and the ranking of eligible standbys.
 */
import type { ClusterConfig, NodeConfig } from '../config.js';
import { holds } from './condition.js';
import {
  alive,
  firstFailing,
  type Guard,
  healthy,
  inMaintenance,
  type PositionReference,
  refusal,
} from './guards.js';
import { comparePositions } from './positions.js';
import type { ClusterState, NodeState } from './state.js';

/** A node is alive while now − lastSeen ≤ lease (inclusive at exactly the lease). */
export function isAlive(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return node !== undefined && holds(alive('n', cluster.leaseMs, now), { nodes: { n: node } });
}

/** Alive and reporting `ok`: the only nodes that may be promoted automatically or stay active. */
export function isHealthy(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return node !== undefined && holds(healthy('n', cluster.leaseMs, now), { nodes: { n: node } });
}

export function isInMaintenance(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return node !== undefined && holds(inMaintenance('n', cluster.leaseMs, now), { nodes: { n: node } });
}

export interface Eligibility {
  eligible: boolean;
  /** Why not, in words an operator reads at 3 a.m. ("b is 42 s behind, limit 10 s"). */
  reason: string | null;
}

/**
 * What a node must satisfy to be promoted: alive, `ok`, within the sync gate, and on the
 * active's version when the cluster requires it. The promoting write re-checks these.
 */
export function candidateGuards(state: ClusterState, cluster: ClusterConfig, nodeId: string): Guard[] {
  const guards: Guard[] = [
    { rule: 'alive', node: nodeId, leaseMs: cluster.leaseMs },
    { rule: 'ok', node: nodeId },
    { rule: 'no-promise', node: nodeId },
  ];
  if (cluster.maxLagSeconds !== undefined)
    guards.push({ rule: 'lag', node: nodeId, max: cluster.maxLagSeconds });
  if (cluster.maxPositionLag !== undefined) {
    guards.push({
      rule: 'position',
      node: nodeId,
      limit: cluster.maxPositionLag,
      reference: positionReference(state, cluster),
    });
  }
  if (cluster.requireSameVersion && state.active !== null) {
    const version = state.nodes[state.active]?.version ?? null;
    guards.push({ rule: 'version', node: nodeId, active: state.active, version });
  }
  return guards;
}

/** Whether a node may be promoted now, and if not, why (the first rule it fails). */
export function eligibility(
  state: ClusterState,
  cluster: ClusterConfig,
  nodeId: string,
  now: number,
): Eligibility {
  const failed = firstFailing(candidateGuards(state, cluster, nodeId), state, now);
  if (failed === undefined) return { eligible: true, reason: null };
  return { eligible: false, reason: `${nodeId} ${refusal(failed, state, now)}` };
}

/**
 * The position the sync gate measures against: the active's last reported position, or,
 * without one, the most advanced position any node reported. Null when it is not comparable.
 */
function positionReference(state: ClusterState, cluster: ClusterConfig): PositionReference | null {
  const nodes = cluster.nodes.map((n) => n.id);
  const active = state.active === null ? undefined : state.nodes[state.active];
  if (active?.position !== undefined) {
    return active.positionKey === undefined ? null : { key: active.positionKey, active: state.active, nodes };
  }
  let best: string | undefined;
  for (const node of Object.values(state.nodes)) {
    if (node.positionKey !== undefined && (best === undefined || node.positionKey > best))
      best = node.positionKey;
  }
  return best === undefined ? null : { key: best, active: state.active, nodes };
}

/**
 * The eligible standby to promote: the most up to date first (highest position, else
 * lowest reported lag), then priority. Nodes that report neither rank after those that do.
 */
export function bestCandidate(
  state: ClusterState,
  cluster: ClusterConfig,
  now: number,
  exclude: string | null,
): { candidate: NodeConfig | undefined; refusals: string[] } {
  const refusals: string[] = [];
  const eligible: NodeConfig[] = [];
  for (const node of cluster.nodes) {
    if (node.id === exclude) continue;
    const check = eligibility(state, cluster, node.id, now);
    if (check.eligible) eligible.push(node);
    else refusals.push(check.reason as string);
  }
  const rank = (a: NodeConfig, b: NodeConfig): number => {
    const pa = state.nodes[a.id]?.position;
    const pb = state.nodes[b.id]?.position;
    if (pa !== undefined && pb !== undefined) {
      const c = comparePositions(pb, pa);
      if (c !== null && c !== 0) return c;
    } else if (pa !== undefined || pb !== undefined) {
      return pa !== undefined ? -1 : 1;
    }
    const la = state.nodes[a.id]?.lagSeconds;
    const lb = state.nodes[b.id]?.lagSeconds;
    if (la !== undefined && lb !== undefined && la !== lb) return la - lb;
    if ((la === undefined) !== (lb === undefined)) return la !== undefined ? -1 : 1;
    return cluster.nodes.indexOf(a) - cluster.nodes.indexOf(b);
  };
  return { candidate: [...eligible].sort(rank)[0], refusals };
}
