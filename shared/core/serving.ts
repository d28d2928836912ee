/** Where traffic should go, and which targets still have to be told. */
import type { ClusterConfig, NodeConfig } from '../config.js';
import { eligibility } from './eligibility.js';
import { clusterEvent } from './events.js';
import type { ClusterEvent, ClusterState, TargetState } from './state.js';

/** Whether a target record is about the cluster's current epoch and serving set. */
export function isCurrentRecord(progress: TargetState | undefined, state: ClusterState): boolean {
  return (
    progress !== undefined &&
    progress.epoch >= state.epoch &&
    (progress.servingVersion ?? 0) >= state.servingVersion
  );
}

/**
 * Targets that have not been applied for the current epoch and are not being applied now,
 * or were applied while an older apply might still land and should be applied once more.
 */
export function targetsDue(state: ClusterState, cluster: ClusterConfig, now: number): string[] {
  if (state.active === null) return [];
  return cluster.targets
    .filter((t) => {
      const progress = state.targets[t.id];
      if (progress === undefined || !isCurrentRecord(progress, state)) return true;
      if (progress.state === 'applying') return (progress.until ?? 0) < now;
      if (progress.state === 'applied') return progress.settlesAt !== undefined && progress.settlesAt < now;
      return true;
    })
    .map((t) => t.id);
}

/**
 * Until when an apply already under way might still land on the target: a claim that has
 * not expired, or a time an earlier claim carried forward. A new claim carries it (so the
 * target is applied again after it); undefined when no earlier apply can land any more.
 * (An apply lands before its claim expires: adapters abort their calls at the deadline,
 * and a claim lasts 5 s beyond it.)
 */
export function unsettledUntil(progress: TargetState | undefined, now: number): number | undefined {
  const times = [progress?.state === 'applying' ? progress.until : undefined, progress?.settlesAt].filter(
    (t): t is number => t !== undefined && t >= now,
  );
  return times.length === 0 ? undefined : Math.max(...times);
}

/**
 * The nodes targets point to: the active in active-passive mode; in active-active mode
 * the recorded serving set (recorded, so every worker applying a target agrees on it).
 */
export function targetMembers(state: ClusterState, cluster: ClusterConfig): NodeConfig[] {
  const ids = cluster.mode === 'active-active' ? state.serving : state.active === null ? [] : [state.active];
  return cluster.nodes.filter((n) => ids.includes(n.id));
}

/**
 * Active-active: the serving set should be every eligible node, in priority order. Returns
 * the new set and an event when it differs from the recorded one. An empty set is never
 * recorded: with no eligible node, traffic stays where it was rather than going nowhere.
 */
export function servingChange(
  state: ClusterState,
  cluster: ClusterConfig,
  now: number,
): { serving: string[]; event: ClusterEvent } | null {
  if (cluster.mode !== 'active-active') return null;
  const serving = cluster.nodes
    .filter((n) => eligibility(state, cluster, n.id, now).eligible)
    .map((n) => n.id);
  if (serving.length === 0 || serving.join(',') === state.serving.join(',')) return null;
  const joined = serving.filter((id) => !state.serving.includes(id));
  const left = state.serving
    .filter((id) => !serving.includes(id))
    .map((id) => eligibility(state, cluster, id, now).reason ?? id);
  const parts = [
    ...(joined.length ? [`${joined.join(', ')} joined`] : []),
    ...(left.length ? [`left: ${left.join('; ')}`] : []),
  ];
  const reason = `serving set is now ${serving.join(', ')} (${parts.join('; ')})`;
  return {
    serving,
    event: { ...clusterEvent(state, 'serving', reason, now), subject: String(state.servingVersion + 1) },
  };
}
