/**
 * The return-from-absence grace (safety property 7, Patroni issue #909). When the control
 * plane itself was away, every lease looks expired on its clock although no node failed:
 * nothing was recorded. Promoting the first node to beat again would depose a healthy
 * incumbent that simply has not beaten yet, so automatic failover waits one lease.
 */
import type { ClusterConfig } from '../config.js';
import { formatSeconds } from '../time.js';
import type { ClusterState, Hold, NodeState } from './state.js';

/**
 * The last contact with a node before any return: for a node whose latest beat followed a
 * gap longer than the lease, the beat before the gap; otherwise its latest beat.
 */
function contactBeforeReturn(node: NodeState | undefined, leaseMs: number): number | undefined {
  if (node?.lastSeen === undefined) return undefined;
  const { lastSeen, prevSeen } = node;
  return prevSeen !== undefined && lastSeen - prevSeen > leaseMs ? prevSeen : lastSeen;
}

/**
 * When the cluster last heard from any node before the control plane's return, if that was
 * more than a lease before `now`, some node is back, and the cluster has an incumbent;
 * otherwise null. Seen
 * from inside, a control-plane outage and every node being away look the same: both end
 * with beats arriving after a gap longer than the lease on every node.
 */
export function absenceSince(state: ClusterState, cluster: ClusterConfig, now: number): number | null {
  if (state.active === null) return null;
  let latest: number | undefined;
  let returned = false;
  for (const { id } of cluster.nodes) {
    const node = state.nodes[id];
    const contact = contactBeforeReturn(node, cluster.leaseMs);
    if (contact === undefined) continue;
    if (contact !== node?.lastSeen) returned = true;
    if (latest === undefined || contact > latest) latest = contact;
  }
  // Nobody back yet: nothing to promote, and nothing to protect the incumbent from.
  if (!returned || latest === undefined || now - latest <= cluster.leaseMs) return null;
  return latest;
}

/** A beat this much later than the interval after the one before it was late (one or more were lost). */
const LATE_AFTER_INTERVALS = 1.5;

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
 * The grace that holds automatic failover now: the recorded one while it lasts, or a new
 * one (one lease from now) when the control plane has just returned, or when beats arrive
 * late for every node at once (`lateEverywhere`); null otherwise.
 */
export function graceHold(state: ClusterState, cluster: ClusterConfig, now: number): Hold | null {
  const current = state.hold;
  if (current?.code === 'grace' && current.until !== undefined && now < current.until) return current;
  const until = now + cluster.leaseMs;
  const wait =
    `no automatic failover until ${new Date(until).toISOString()}, ` +
    `so that ${state.active} can renew its lease first`;
  const since = absenceSince(state, cluster, now);
  if (since !== null) {
    return {
      code: 'grace',
      since: now,
      until,
      reason:
        `the control plane was away: no beat recorded from any node for ${formatSeconds(now - since)} ` +
        `(lease ${formatSeconds(cluster.leaseMs)}); ${wait}`,
    };
  }
  const late = state.active === null ? null : lateEverywhere(state, cluster, now);
  if (late === null) return null;
  return {
    code: 'grace',
    since: now,
    until,
    reason:
      `beats arrive late from every node at once (${late}; interval ${formatSeconds(cluster.intervalMs)}): ` +
      `the control plane's ingress may be throttled or flooded, rather than ${state.active} down; ${wait}`,
  };
}
