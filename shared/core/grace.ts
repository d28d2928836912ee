/**
 * The return-from-absence grace (safety property 7, Patroni issue #909). When the control
 * plane itself was away, every lease looks expired on its clock although no node failed:
 * nothing was recorded. Promoting the first node to beat again would depose a healthy
 * incumbent that simply has not beaten yet, so automatic failover waits one lease.
 *
 * The return is recorded by the beat that ends the silence, in that beat's own write
 * (`returnedAt`): a failed hold write, a duplicate delivery or the next beat cannot erase
 * the evidence, and every promoting write re-checks it (`noGraceGuard`).
 */
import type { ClusterConfig } from '../config.js';
import { formatSeconds } from '../time.js';
import { type Condition, holds } from './condition.js';
import { type Guard, heardWithin } from './guards.js';
import type { ClusterState, Hold } from './state.js';

/** Beats further apart than this many intervals were late: one or more were lost. */
const LATE_AFTER_INTERVALS = 1.5;

/**
 * How long the control plane may hear from no node of the cluster before it counts itself
 * away: 1.5 intervals. Every node beats once per interval, so a silence that long means
 * every node lost a beat at once, and the one loss they share is the control plane (or
 * its ingress). Agents retry a failed beat until their next slot, so a shorter outage
 * costs no node more than one beat, which a lease of three or more beats absorbs.
 */
export function silenceMs(cluster: ClusterConfig): number {
  return cluster.intervalMs * LATE_AFTER_INTERVALS;
}

/**
 * The control plane heard some node within `silenceMs` before `now`. The heartbeat's write
 * evaluates the same condition: a beat that finds it false records its arrival as the
 * control plane's return (`returnedAt`), atomically with the beat itself.
 */
export function heardRecently(cluster: ClusterConfig, now: number): Condition {
  return heardWithin(
    cluster.nodes.map((n) => n.id),
    silenceMs(cluster),
    now,
  );
}

/** The promoting write's re-check of everything below: no grace holds at the write's own clock. */
export function noGraceGuard(cluster: ClusterConfig): Guard {
  return {
    rule: 'no-grace',
    leaseMs: cluster.leaseMs,
    silenceMs: silenceMs(cluster),
    nodes: cluster.nodes.map((n) => n.id),
  };
}

/**
 * The partial form of an absence: the control plane's ingress is dropping beats (a stage
 * throttled by a flood of bad requests, an overloaded endpoint), so beats get lost for every
 * node at once, not only for the active. When the active's lease has run out and every
 * other node heard from within the lease shows a loss of its own (its last beat came after
 * a gap of more than 1.5 intervals), the loss is more likely the control plane's than the
 * active's: returns how late each one was; else null. A node that died alone leaves the
 * others beating on time, so it still fails over; an active cut off alone (a partition)
 * too. Only recorded gaps count, not the silence since the last beat: the decision also
 * runs on a beat's arrival, when the node that beat has not been silent at all, and a
 * gap is evidence the store keeps (prevSeen) at no extra cost per beat.
 */
export function lateEverywhere(state: ClusterState, cluster: ClusterConfig, now: number): string | null {
  const others = cluster.nodes
    .filter((n) => n.id !== state.active)
    .map((n) => ({ id: n.id, node: state.nodes[n.id] }))
    .filter(({ node }) => node?.lastSeen !== undefined && now - node.lastSeen <= cluster.leaseMs);
  if (others.length === 0) return null;
  const late = cluster.intervalMs * LATE_AFTER_INTERVALS;
  const gaps = others.map(({ id, node }) => ({
    id,
    gap: node?.prevSeen === undefined ? 0 : (node.lastSeen as number) - node.prevSeen,
  }));
  if (gaps.some(({ gap }) => gap <= late)) return null;
  return gaps.map(({ id, gap }) => `${id} ${formatSeconds(gap)} between beats`).join(', ');
}

/**
 * The grace that holds automatic failover now (the active's lease ran out), or null:
 * - the recorded one while it lasts;
 * - one lease from the control plane's last return (`returnedAt`);
 * - while no node has been heard for `silenceMs` (no beat has recorded a return yet);
 * - one lease from now when beats arrive late for every node at once (`lateEverywhere`).
 */
export function graceHold(state: ClusterState, cluster: ClusterConfig, now: number): Hold | null {
  const current = state.hold;
  if (current?.code === 'grace' && current.until !== undefined && now < current.until) return current;
  const incumbent = `so that ${state.active} can renew its lease first`;
  const wait = (until: number) =>
    `no automatic failover until ${new Date(until).toISOString()}, ${incumbent}`;
  const silence = `no beat from any node for more than ${formatSeconds(silenceMs(cluster))} (interval ${formatSeconds(cluster.intervalMs)})`;
  if (state.returnedAt !== null && now < state.returnedAt + cluster.leaseMs) {
    const until = state.returnedAt + cluster.leaseMs;
    return {
      code: 'grace',
      since: state.returnedAt,
      until,
      reason: `the control plane was away: ${silence} before ${new Date(state.returnedAt).toISOString()}; ${wait(until)}`,
    };
  }
  if (!holds(heardRecently(cluster, now), state)) {
    return {
      code: 'grace',
      since: now,
      reason: `${silence}: the control plane may be away; no automatic failover until a node beats again, ${incumbent}`,
    };
  }
  const late = lateEverywhere(state, cluster, now);
  if (late === null) return null;
  const until = now + cluster.leaseMs;
  return {
    code: 'grace',
    since: now,
    until,
    reason:
      `beats arrive late from every node at once (${late}; interval ${formatSeconds(cluster.intervalMs)}): ` +
      `the control plane's ingress may be throttled or flooded, rather than ${state.active} down; ${wait(until)}`,
  };
}
