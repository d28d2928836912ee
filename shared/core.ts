/**
 * The pure core: cluster state as plain data, and `decide`, which says what (if anything)
 * must change. Time always arrives as `now` (ms, the control plane's clock); agents'
 * clocks are never used. Nothing here does I/O: the control plane turns a decision into
 * a conditional write whose condition re-checks, at write time, exactly what `decide`
 * assumed (see `DynamoStateStore.commitPromotion`).
 */
import type { ClusterConfig, NodeConfig } from './config.js';

export type NodeStatus = 'ok' | 'failing' | 'maintenance';
export type Role = 'active' | 'standby';

/** What a heartbeat may carry; every field is optional (an empty body means "alive, ok"). */
export interface Beat {
  status?: NodeStatus;
  version?: string;
  position?: string | number;
  lagSeconds?: number;
  role?: Role;
  epoch?: number;
}

export interface NodeState {
  /** Control-plane time of the last heartbeat; absent until the node's first beat. */
  lastSeen?: number;
  beats: number;
  status: NodeStatus;
  version?: string;
  position?: string | number;
  lagSeconds?: number;
  /** The role and epoch the agent said it believed it held at its last beat. */
  claimedRole?: Role;
  claimedEpoch?: number;
}

/** Progress of one target towards the cluster's epoch. */
export interface TargetState {
  epoch: number;
  state: 'applying' | 'applied' | 'failed' | 'stale';
  at: number;
  /** While `applying`: the claim expires at this time and another worker may retry. */
  until?: number;
  error?: string;
  attempts: number;
  /** What the target reported about the applied change (e.g. a Route 53 change id and status). */
  detail?: Record<string, string>;
}

export type EventKind = 'promoted' | 'held' | 'drift';

/** An immutable record of something the control plane did or declined to do. */
export interface ClusterEvent {
  cluster: string;
  kind: EventKind;
  epoch: number;
  at: number;
  active: string | null;
  previous: string | null;
  reason: string;
}

export interface Hold {
  /** Stable code, so repeated sweeps of the same situation raise one event, not one per sweep. */
  code: 'no-candidate';
  reason: string;
  since: number;
}

export interface ClusterState {
  cluster: string;
  /** Fencing token: +1 at every change of active node; 0 = never had an active. */
  epoch: number;
  active: string | null;
  activeSince: number | null;
  nodes: Record<string, NodeState>;
  targets: Record<string, TargetState>;
  hold: Hold | null;
  /** The promotion that opened the current epoch (what targets are told). */
  lastTransition: ClusterEvent | null;
  /** Events committed with a transition but not yet copied to the event log (transactional outbox). */
  outbox: Record<string, ClusterEvent>;
}

export function emptyState(cluster: string): ClusterState {
  return {
    cluster,
    epoch: 0,
    active: null,
    activeSince: null,
    nodes: {},
    targets: {},
    hold: null,
    lastTransition: null,
    outbox: {},
  };
}

export type PromotionCause = 'first-active' | 'lease-expired' | 'failing' | 'maintenance';

export type Decision =
  /** The active is healthy (or there is nothing better to do): no write. */
  | { type: 'steady' }
  | {
      type: 'promote';
      cause: PromotionCause;
      from: string | null;
      to: string;
      /** The epoch the conditional write expects to find; the new epoch is this + 1. */
      expectedEpoch: number;
      /** Liveness threshold used: a node is alive iff lastSeen ≥ aliveSince. */
      aliveSince: number;
      reason: string;
    }
  | { type: 'hold'; hold: Hold; expectedEpoch: number; active: string | null };

/** A node is alive while now − lastSeen ≤ lease (inclusive at exactly the lease). */
export function isAlive(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return node?.lastSeen !== undefined && now - node.lastSeen <= cluster.leaseMs;
}

/** Alive and reporting `ok`: the only nodes that may be promoted or stay active. */
export function isHealthy(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return isAlive(node, cluster, now) && node?.status === 'ok';
}

/**
 * Decide whether the cluster needs a new active.
 *
 * 1. If the active is alive and `ok`, nothing changes.
 * 2. Otherwise (no active yet, lease expired, or it reports `failing`/`maintenance`)
 *    the first healthy node in priority order, other than the current active, is promoted.
 * 3. With no such node, the cluster holds: the current active (if any) keeps the role,
 *    and the hold says why.
 */
export function decide(state: ClusterState, cluster: ClusterConfig, now: number): Decision {
  const active = state.active === null ? undefined : state.nodes[state.active];
  const aliveSince = now - cluster.leaseMs;
  if (state.active !== null && isHealthy(active, cluster, now)) return { type: 'steady' };

  const cause = promotionCause(state, active, cluster, now);
  const candidate = cluster.nodes.find(
    (n) => n.id !== state.active && isHealthy(state.nodes[n.id], cluster, now),
  );
  if (candidate === undefined) {
    return {
      type: 'hold',
      expectedEpoch: state.epoch,
      active: state.active,
      hold: {
        code: 'no-candidate',
        reason: `${describeCause(cause, state, cluster, now)}; no standby can take over (${whyNotEligible(state, cluster, now)})`,
        since: now,
      },
    };
  }
  return {
    type: 'promote',
    cause,
    from: state.active,
    to: candidate.id,
    expectedEpoch: state.epoch,
    aliveSince,
    reason: `${describeCause(cause, state, cluster, now)}; promoted ${candidate.id} (priority ${priority(cluster, candidate)})`,
  };
}

/** The state a committed promotion leads to: exactly what the conditional write sets. */
export function promote(
  state: ClusterState,
  decision: Extract<Decision, { type: 'promote' }>,
  now: number,
): ClusterState {
  const event = promotionEvent(state.cluster, decision, now);
  return {
    ...state,
    epoch: event.epoch,
    active: decision.to,
    activeSince: now,
    hold: null,
    lastTransition: event,
    outbox: { ...state.outbox, [eventKey(event)]: event },
  };
}

export function promotionEvent(
  cluster: string,
  decision: Extract<Decision, { type: 'promote' }>,
  now: number,
): ClusterEvent {
  return {
    cluster,
    kind: 'promoted',
    epoch: decision.expectedEpoch + 1,
    at: now,
    active: decision.to,
    previous: decision.from,
    reason: decision.reason,
  };
}

export function holdEvent(cluster: string, decision: Extract<Decision, { type: 'hold' }>): ClusterEvent {
  return {
    cluster,
    kind: 'held',
    epoch: decision.expectedEpoch,
    at: decision.hold.since,
    active: decision.active,
    previous: decision.active,
    reason: decision.hold.reason,
  };
}

/** A target found pointing somewhere else than the current epoch says (repaired by re-applying). */
export function driftEvent(state: ClusterState, targetId: string, drift: string, now: number): ClusterEvent {
  return {
    cluster: state.cluster,
    kind: 'drift',
    epoch: state.epoch,
    at: now,
    active: state.active,
    previous: state.active,
    reason: `target ${targetId} drifted: ${drift}; re-applying epoch ${state.epoch}`,
  };
}

/**
 * Sort key of an event in the log: epoch first, then time, so a newest-first query lists
 * an epoch's holds before the promotion that opened it. A promotion's key depends only on
 * its epoch, which makes writing it idempotent: one event per epoch, however many retries.
 */
export function eventKey(event: ClusterEvent): string {
  const epoch = String(event.epoch).padStart(12, '0');
  return event.kind === 'promoted'
    ? `EVENT#${epoch}#0`
    : `EVENT#${epoch}#${String(event.at).padStart(15, '0')}`;
}

/** Targets that have not been applied for the current epoch and are not being applied now. */
export function targetsDue(state: ClusterState, cluster: ClusterConfig, now: number): string[] {
  if (state.active === null) return [];
  return cluster.targets
    .filter((t) => {
      const progress = state.targets[t.id];
      if (progress === undefined || progress.epoch < state.epoch) return true;
      if (progress.state === 'applying') return (progress.until ?? 0) < now;
      return progress.state === 'failed' || progress.state === 'stale';
    })
    .map((t) => t.id);
}

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
  version: string | null;
  position: string | number | null;
  lagSeconds: number | null;
}

/** Per-node status derived from timestamps (nothing here is stored). */
export function nodeViews(state: ClusterState, cluster: ClusterConfig, now: number): NodeView[] {
  return cluster.nodes.map((node, index) => {
    const s = state.nodes[node.id];
    const age = s?.lastSeen === undefined ? null : Math.max(0, now - s.lastSeen);
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
      version: s?.version ?? null,
      position: s?.position ?? null,
      lagSeconds: s?.lagSeconds ?? null,
    };
  });
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
      // Unreachable: decide() returns early for a healthy active.
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
      const ago = seen === undefined ? 'never seen' : `last seen ${seconds(now - seen)} ago`;
      return `${from} missed ${cluster.missedBeats} beats (${ago}, lease ${seconds(cluster.leaseMs)})`;
    }
    case 'failing':
      return `${from} reported status failing`;
    case 'maintenance':
      return `${from} entered maintenance`;
    default:
      return assertNever(cause);
  }
}

function whyNotEligible(state: ClusterState, cluster: ClusterConfig, now: number): string {
  const others = cluster.nodes.filter((n) => n.id !== state.active);
  if (others.length === 0) return 'the cluster has no other node';
  return others
    .map((n) => {
      const s = state.nodes[n.id];
      if (s?.lastSeen === undefined) return `${n.id} never seen`;
      if (!isAlive(s, cluster, now)) return `${n.id} last seen ${seconds(now - s.lastSeen)} ago`;
      return `${n.id} is ${s.status}`;
    })
    .join(', ');
}

function priority(cluster: ClusterConfig, node: NodeConfig): number {
  return cluster.nodes.indexOf(node) + 1;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
