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

/**
 * The grace that holds automatic failover now: the recorded one while it lasts, or a new
 * one (one lease from now) when the control plane has just returned; null otherwise.
 */
export function graceHold(state: ClusterState, cluster: ClusterConfig, now: number): Hold | null {
  const current = state.hold;
  if (current?.code === 'grace' && current.until !== undefined && now < current.until) return current;
  const since = absenceSince(state, cluster, now);
  if (since === null) return null;
  const until = now + cluster.leaseMs;
  return {
    code: 'grace',
    since: now,
    until,
    reason:
      `the control plane was away: no beat recorded from any node for ${formatSeconds(now - since)} ` +
      `(lease ${formatSeconds(cluster.leaseMs)}); no automatic failover until ${new Date(until).toISOString()}, ` +
      `so that ${state.active} can renew its lease first`,
  };
}
