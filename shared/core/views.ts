/** Per-node and flap-guard status, derived from timestamps (nothing here is stored). */
import type { ClusterConfig } from '../config.js';
import { eligibility, isAlive } from './eligibility.js';
import { recentAutomatic } from './promotion.js';
import type { ClusterState, NodeStatus, Position, Role } from './state.js';

export interface NodeView {
  id: string;
  address: string;
  priority: number;
  role: Role;
  alive: boolean;
  status: NodeStatus | null;
  lastSeen: number | null;
  lastSeenAgeMs: number | null;
  missedBeats: number | null;
  heartbeats: number;
  /** Multi-Region: the Region whose control plane took the last beat. */
  region: string | null;
  version: string | null;
  versionMismatch: boolean;
  position: Position | null;
  lagSeconds: number | null;
  /** For standbys: whether it could be promoted now, and if not, why. */
  eligible: boolean;
  ineligibleReason: string | null;
  upSince: number | null;
  collision: { since: number; claimedEpoch: number | null } | null;
  /** Its last beat used the previous token of a rotation (`previousTokenSha256`). */
  previousToken: boolean;
}

export function nodeViews(state: ClusterState, cluster: ClusterConfig, now: number): NodeView[] {
  const activeVersion = state.active === null ? undefined : state.nodes[state.active]?.version;
  return cluster.nodes.map((node, index) => {
    const s = state.nodes[node.id];
    const age = s?.lastSeen === undefined ? null : Math.max(0, now - s.lastSeen);
    const check = eligibility(state, cluster, node.id, now);
    return {
      id: node.id,
      address: node.address,
      priority: index + 1,
      role: state.active === node.id ? 'active' : 'standby',
      alive: isAlive(s, cluster, now),
      status: s?.lastSeen === undefined ? null : s.status,
      lastSeen: s?.lastSeen ?? null,
      lastSeenAgeMs: age,
      missedBeats: age === null ? null : Math.floor(age / cluster.intervalMs),
      heartbeats: s?.beats ?? 0,
      region: s?.region ?? null,
      version: s?.version ?? null,
      versionMismatch: activeVersion !== undefined && s?.version !== undefined && s.version !== activeVersion,
      position: s?.position ?? null,
      lagSeconds: s?.lagSeconds ?? null,
      eligible: check.eligible,
      ineligibleReason: check.reason,
      upSince: s?.upSince ?? null,
      collision: s?.collision ?? null,
      previousToken: s?.previousToken === true,
    };
  });
}

/** The flap guard's view: how many automatic changes the last hour saw, and whether it holds. */
export function flapGuard(state: ClusterState, cluster: ClusterConfig, now: number) {
  const lastHour = recentAutomatic(state, now).length;
  return {
    limitPerHour: cluster.maxAutoFailoversPerHour,
    lastHour,
    holding: lastHour >= cluster.maxAutoFailoversPerHour,
  };
}
