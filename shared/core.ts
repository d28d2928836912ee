/**
 * The pure core: cluster state as plain data, and `decide`, which says what (if anything)
 * must change. Time always arrives as `now` (ms, the control plane's clock); agents'
 * clocks are never used. Nothing here does I/O: the control plane turns a decision into
 * a conditional write whose condition re-checks, at write time, what `decide` assumed
 * (see `PromotionGuards` and `DynamoStateStore.commitPromotion`).
 */
import type { ClusterConfig, NodeConfig } from './config.js';

export type NodeStatus = 'ok' | 'failing' | 'maintenance';
export type Role = 'active' | 'standby';
export type Position = string | number;

/** What a heartbeat may carry; every field is optional (an empty body means "alive, ok"). */
export interface Beat {
  status?: NodeStatus;
  version?: string;
  position?: Position;
  lagSeconds?: number;
  role?: Role;
  epoch?: number;
}

export interface NodeState {
  /** Control-plane time of the last heartbeat; absent until the node's first beat. */
  lastSeen?: number;
  /** Since when the node has been continuously alive and `ok` (absent while it is not). */
  upSince?: number;
  beats: number;
  status: NodeStatus;
  version?: string;
  position?: Position;
  lagSeconds?: number;
  /** The role and epoch the agent said it believed it held at its last beat. */
  claimedRole?: Role;
  claimedEpoch?: number;
  /** Set while the node claims to be active but is not (a "two actives" collision). */
  collision?: { since: number; claimedEpoch: number | null };
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
  /** Active-active: the serving-set version this record is about (0 in active-passive). */
  servingVersion?: number;
}

export type EventKind = 'promoted' | 'held' | 'drift' | 'collision' | 'paused' | 'resumed' | 'serving';

/** An immutable record of something the control plane did or declined to do. */
export interface ClusterEvent {
  cluster: string;
  kind: EventKind;
  epoch: number;
  at: number;
  active: string | null;
  previous: string | null;
  reason: string;
  /** Who asked, for operator actions (an IAM ARN, `local`, or `node:<id>`). */
  by?: string;
  /** What the event is about, when not the whole cluster (a target id, a node id). */
  subject?: string;
}

export type HoldCode = 'no-candidate' | 'flap-guard' | 'paused';

export interface Hold {
  /** Stable code, so repeated sweeps of the same situation raise one event, not one per sweep. */
  code: HoldCode;
  reason: string;
  since: number;
}

export interface Pause {
  since: number;
  by: string;
  reason: string;
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
  /** Automation paused by an operator: no automatic failover or failback. */
  paused: Pause | null;
  /** Times of the automatic changes of the last hour (the flap guard's memory). */
  recentAutomatic: number[];
  /** Active-active: the nodes targets point to, in priority order (empty in active-passive). */
  serving: string[];
  /** Active-active: +1 at every change of `serving`; orders target records within an epoch. */
  servingVersion: number;
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
    paused: null,
    recentAutomatic: [],
    serving: [],
    servingVersion: 0,
    lastTransition: null,
    outbox: {},
  };
}

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
const HOUR_MS = 3_600_000;

/**
 * What the promoting conditional write re-checks at write time, on the control plane's
 * clock at that moment (safety property 2): the candidate is alive (always), and the rest
 * as listed.
 */
export interface PromotionGuards {
  /** The current active has not renewed and is not ok (automatic failover). */
  activeDown: boolean;
  /** The current active is still alive and ok (preferred failback must not race a failover). */
  activeHealthy: boolean;
  /** The candidate reports `ok` (false only for a forced switchover). */
  candidateOk: boolean;
  /** Automation is not paused (automatic changes only; operators act while paused). */
  notPaused: boolean;
  /** Preferred failback: the candidate has been up since at least this time. */
  upBefore?: number;
  /** Sync gate: the candidate's reported lag is at most this. */
  maxLagSeconds?: number;
  /** Sync gate: the candidate's numeric position is at least this. */
  minPosition?: number;
  /** requireSameVersion: the candidate reports this version. */
  version?: string;
}

export interface Promotion {
  type: 'promote';
  cause: PromotionCause;
  from: string | null;
  to: string;
  /** The epoch the conditional write expects to find; the new epoch is this + 1. */
  expectedEpoch: number;
  /** Liveness threshold at decision time (informational: the write recomputes it from leaseMs). */
  aliveSince: number;
  leaseMs: number;
  reason: string;
  guards: PromotionGuards;
  /** The flap guard's list after this change (only automatic changes are added). */
  recentAutomatic: number[];
  by?: string;
}

export type Decision =
  /** The active is healthy (or there is nothing better to do): no write. */
  { type: 'steady' } | Promotion | { type: 'hold'; hold: Hold; expectedEpoch: number; active: string | null };

/** A node is alive while now − lastSeen ≤ lease (inclusive at exactly the lease). */
export function isAlive(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return node?.lastSeen !== undefined && now - node.lastSeen <= cluster.leaseMs;
}

/** Alive and reporting `ok`: the only nodes that may be promoted automatically or stay active. */
export function isHealthy(node: NodeState | undefined, cluster: ClusterConfig, now: number): boolean {
  return isAlive(node, cluster, now) && node?.status === 'ok';
}

export interface Eligibility {
  eligible: boolean;
  /** Why not, in words an operator reads at 3 a.m. ("b is 42 s behind, limit 10 s"). */
  reason: string | null;
}

/**
 * Whether a node may be promoted now: healthy, within the sync gate, and on the active's
 * version when the cluster requires it.
 */
export function eligibility(
  state: ClusterState,
  cluster: ClusterConfig,
  nodeId: string,
  now: number,
): Eligibility {
  const no = (reason: string): Eligibility => ({ eligible: false, reason: `${nodeId} ${reason}` });
  const node = state.nodes[nodeId];
  if (node?.lastSeen === undefined) return no('was never seen');
  if (!isAlive(node, cluster, now)) {
    return no(`was last seen ${seconds(now - node.lastSeen)} ago (lease ${seconds(cluster.leaseMs)})`);
  }
  if (node.status === 'failing') return no('is failing');
  if (node.status === 'maintenance') return no('is in maintenance');
  if (cluster.maxLagSeconds !== undefined) {
    if (node.lagSeconds === undefined) return no(`reports no lagSeconds (limit ${cluster.maxLagSeconds} s)`);
    if (node.lagSeconds > cluster.maxLagSeconds) {
      return no(`is ${node.lagSeconds} s behind, limit ${cluster.maxLagSeconds} s`);
    }
  }
  if (cluster.maxPositionLag !== undefined) {
    const behind = positionBehind(state, nodeId);
    if (behind === null) return no(`reports no comparable position (limit ${cluster.maxPositionLag} behind)`);
    if (behind > cluster.maxPositionLag) {
      return no(`is ${behind} behind at position ${String(node.position)}, limit ${cluster.maxPositionLag}`);
    }
  }
  const wanted = requiredVersion(state, cluster);
  if (wanted !== undefined && node.version !== wanted) {
    return no(`runs version ${node.version ?? '(none)'}, the active runs ${wanted}`);
  }
  return { eligible: true, reason: null };
}

/**
 * Decide whether the cluster needs a new active.
 *
 * 1. Paused: no automatic change; if the active is unhealthy, hold and say so.
 * 2. The active is alive and `ok`: nothing changes, unless failback is `preferred` and a
 *    higher-priority node has been up for the hold-down, in which case it takes over.
 * 3. Otherwise (no active yet, lease expired, `failing` or `maintenance`), the best
 *    eligible standby is promoted: most up to date first, then priority.
 * 4. With no eligible standby, or past the flap guard, the cluster holds and says why;
 *    the current active (if any) keeps the role.
 */
export function decide(state: ClusterState, cluster: ClusterConfig, now: number): Decision {
  const active = state.active === null ? undefined : state.nodes[state.active];
  const healthy = state.active !== null && isHealthy(active, cluster, now);
  const recent = state.recentAutomatic.filter((t) => now - t < HOUR_MS);

  // A maintenance handover is planned, like a release: it goes ahead while paused.
  const inMaintenance =
    state.active !== null && isAlive(active, cluster, now) && active?.status === 'maintenance';
  if (state.paused !== null && !inMaintenance) {
    if (healthy) return { type: 'steady' };
    const why =
      state.active === null
        ? 'no active node yet'
        : describeCause(promotionCause(state, active, cluster, now), state, cluster, now);
    return hold(
      state,
      'paused',
      `${why}; automation is paused (by ${state.paused.by}: ${state.paused.reason})`,
      now,
    );
  }

  if (healthy) {
    const preferred = preferredFailback(state, cluster, now);
    if (preferred === null) return { type: 'steady' };
    if (recent.length >= cluster.maxAutoFailoversPerHour)
      return flapHold(state, cluster, recent, preferred.reason, now);
    return preferred;
  }

  const cause = promotionCause(state, active, cluster, now);
  const { candidate, refusals } = bestCandidate(state, cluster, now, state.active);
  const why = describeCause(cause, state, cluster, now);
  if (candidate === undefined) {
    const detail = refusals.length === 0 ? 'the cluster has no other node' : refusals.join('; ');
    return hold(state, 'no-candidate', `${why}; no standby can take over (${detail})`, now);
  }
  if (AUTOMATIC.has(cause) && recent.length >= cluster.maxAutoFailoversPerHour) {
    return flapHold(state, cluster, recent, why, now);
  }
  return promotion(state, cluster, now, {
    cause,
    to: candidate.id,
    reason: `${why}; promoted ${describeCandidate(state, cluster, candidate)}`,
    guards: {
      activeDown: state.active !== null,
      activeHealthy: false,
      candidateOk: true,
      notPaused: cause !== 'maintenance',
      ...syncGuards(state, cluster, candidate.id),
    },
    recent,
  });
}

export interface ManualRequest {
  kind: 'switchover' | 'release';
  /** switchover: the node to promote (default: the best eligible standby). */
  to?: string;
  /** switchover: promote `to` even if it is not eligible (it must still be alive). */
  force?: boolean;
  /** release: the node asking to hand over. */
  node?: string;
  by: string;
  reason?: string;
}

export type ManualOutcome =
  | Promotion
  /** Nothing to do, and that is fine (a standby's release). */
  | { type: 'noop'; message: string }
  /** Illegal now; the message says why (HTTP 409). */
  | { type: 'refused'; message: string };

/**
 * A planned change asked for by an operator (switchover) or by the active node itself
 * (release). Works while paused and past the flap guard: a human decided.
 */
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
  } else if (request.to !== undefined) {
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
      : `switchover requested by ${request.by}`;
  const note = request.reason ? ` (${request.reason})` : '';
  return promotion(state, cluster, now, {
    cause: request.kind,
    to: to.id,
    reason: `${what}${note}; promoted ${describeCandidate(state, cluster, to)}${force ? ' (forced)' : ''}`,
    guards: force
      ? { activeDown: false, activeHealthy: false, candidateOk: false, notPaused: false }
      : {
          activeDown: false,
          activeHealthy: false,
          candidateOk: true,
          notPaused: false,
          ...syncGuards(state, cluster, to.id),
        },
    recent: state.recentAutomatic.filter((t) => now - t < HOUR_MS),
    by: request.by,
  });
}

/** The state a committed promotion leads to: exactly what the conditional write sets. */
export function promote(state: ClusterState, decision: Promotion, now: number): ClusterState {
  const event = promotionEvent(state.cluster, decision, now);
  return {
    ...state,
    epoch: event.epoch,
    active: decision.to,
    activeSince: now,
    hold: null,
    recentAutomatic: decision.recentAutomatic,
    lastTransition: event,
    outbox: { ...state.outbox, [eventKey(event)]: event },
  };
}

export function promotionEvent(cluster: string, decision: Promotion, now: number): ClusterEvent {
  return {
    cluster,
    kind: 'promoted',
    epoch: decision.expectedEpoch + 1,
    at: now,
    active: decision.to,
    previous: decision.from,
    reason: decision.reason,
    ...(decision.by ? { by: decision.by } : {}),
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

/** An event that is not a promotion, at the cluster's current epoch. */
export function clusterEvent(
  state: ClusterState,
  kind: Exclude<EventKind, 'promoted' | 'held'>,
  reason: string,
  now: number,
  by?: string,
  subject?: string,
): ClusterEvent {
  return {
    cluster: state.cluster,
    kind,
    epoch: state.epoch,
    at: now,
    active: state.active,
    previous: state.active,
    reason,
    ...(by ? { by } : {}),
    ...(subject ? { subject } : {}),
  };
}

/** A target found pointing somewhere else than the current epoch says (repaired by re-applying). */
export function driftEvent(state: ClusterState, targetId: string, drift: string, now: number): ClusterEvent {
  const reason = `target ${targetId} drifted: ${drift}; re-applying epoch ${state.epoch}`;
  return clusterEvent(state, 'drift', reason, now, undefined, targetId);
}

/**
 * A heartbeat's claim versus the record. A node that says it is active while the record
 * says otherwise is a "two actives" collision: it is told to stand down (its answer says
 * standby and the current epoch) and one event is raised per episode.
 */
export function collisionChange(
  state: ClusterState,
  cluster: ClusterConfig,
  nodeId: string,
  now: number,
): { type: 'start'; event: ClusterEvent } | { type: 'end' } | null {
  const node = state.nodes[nodeId];
  if (node === undefined) return null;
  // A deposed active that has not heard of the change yet claims the older epoch for up
  // to a lease after it (the agent learns on its next beat, or demotes itself): normal.
  const notYetTold =
    node.claimedEpoch !== undefined &&
    node.claimedEpoch < state.epoch &&
    state.activeSince !== null &&
    now - state.activeSince <= cluster.leaseMs;
  const colliding = node.claimedRole === 'active' && state.active !== nodeId && !notYetTold;
  if (colliding && node.collision === undefined) {
    const claimed = node.claimedEpoch === undefined ? 'an unknown epoch' : `epoch ${node.claimedEpoch}`;
    const reason = `${nodeId} claims to be active at ${claimed}, but the active is ${state.active ?? 'none'} at epoch ${state.epoch}; told to stand down`;
    return { type: 'start', event: clusterEvent(state, 'collision', reason, now, undefined, nodeId) };
  }
  if (!colliding && node.collision !== undefined) return { type: 'end' };
  return null;
}

/**
 * Sort key of an event in the log: epoch first, then time, so a newest-first query lists
 * an epoch's other events before the promotion that opened it. A promotion's key depends
 * only on its epoch, which makes writing it idempotent: one event per epoch, however many
 * retries.
 */
export function eventKey(event: ClusterEvent): string {
  const epoch = String(event.epoch).padStart(12, '0');
  if (event.kind === 'promoted') return `EVENT#${epoch}#0`;
  // Several events can share a millisecond (two targets drifting in one sweep): kind and subject keep them apart.
  return `EVENT#${epoch}#${String(event.at).padStart(15, '0')}#${event.kind}#${event.subject ?? ''}`;
}

/** Targets that have not been applied for the current epoch and are not being applied now. */
export function targetsDue(state: ClusterState, cluster: ClusterConfig, now: number): string[] {
  if (state.active === null) return [];
  return cluster.targets
    .filter((t) => {
      const progress = state.targets[t.id];
      if (progress === undefined || progress.epoch < state.epoch) return true;
      if ((progress.servingVersion ?? 0) < state.servingVersion) return true;
      if (progress.state === 'applying') return (progress.until ?? 0) < now;
      return progress.state === 'failed' || progress.state === 'stale';
    })
    .map((t) => t.id);
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
  versionMismatch: boolean;
  position: Position | null;
  lagSeconds: number | null;
  /** For standbys: whether it could be promoted now, and if not, why. */
  eligible: boolean;
  ineligibleReason: string | null;
  upSince: number | null;
  collision: { since: number; claimedEpoch: number | null } | null;
}

/** Per-node status derived from timestamps (nothing here is stored). */
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
      version: s?.version ?? null,
      versionMismatch: activeVersion !== undefined && s?.version !== undefined && s.version !== activeVersion,
      position: s?.position ?? null,
      lagSeconds: s?.lagSeconds ?? null,
      eligible: check.eligible,
      ineligibleReason: check.reason,
      upSince: s?.upSince ?? null,
      collision: s?.collision ?? null,
    };
  });
}

/** The flap guard's view: how many automatic changes the last hour saw, and whether it holds. */
export function flapGuard(state: ClusterState, cluster: ClusterConfig, now: number) {
  const recent = state.recentAutomatic.filter((t) => now - t < HOUR_MS).length;
  return {
    limitPerHour: cluster.maxAutoFailoversPerHour,
    lastHour: recent,
    holding: recent >= cluster.maxAutoFailoversPerHour,
  };
}

/**
 * Orders two positions: numbers and digit strings numerically, PostgreSQL-style LSNs
 * (`16/B374D848`) by value, other strings lexicographically. Null when they can't be compared.
 */
export function comparePositions(a: Position, b: Position): number | null {
  const x = positionValue(a);
  const y = positionValue(b);
  if (x !== null && y !== null) return x < y ? -1 : x > y ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return null;
}

function positionValue(p: Position): number | bigint | null {
  if (typeof p === 'number') return p;
  if (/^\d{1,30}$/.test(p)) return BigInt(p);
  const lsn = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(p);
  if (lsn) return (BigInt(`0x${lsn[1]}`) << 32n) | BigInt(`0x${lsn[2]}`);
  return null;
}

/**
 * How far a node's position is behind the reference: the active's last reported position,
 * or, without one, the most advanced position any node reported. Null when not comparable.
 */
function positionBehind(state: ClusterState, nodeId: string): number | null {
  const own = state.nodes[nodeId]?.position;
  if (own === undefined) return null;
  const reference = referencePosition(state);
  if (reference === undefined) return null;
  const a = positionValue(reference);
  const b = positionValue(own);
  if (a === null || b === null) return null;
  if (a <= b) return 0;
  if (typeof a === 'number' || typeof b === 'number') return Number(a) - Number(b);
  return Number(a - b);
}

function referencePosition(state: ClusterState): Position | undefined {
  const fromActive = state.active === null ? undefined : state.nodes[state.active]?.position;
  if (fromActive !== undefined) return fromActive;
  let best: Position | undefined;
  for (const node of Object.values(state.nodes)) {
    if (node.position === undefined) continue;
    if (best === undefined || (comparePositions(node.position, best) ?? 0) > 0) best = node.position;
  }
  return best;
}

function requiredVersion(state: ClusterState, cluster: ClusterConfig): string | undefined {
  if (!cluster.requireSameVersion || state.active === null) return undefined;
  return state.nodes[state.active]?.version;
}

/** What the write must re-check for the sync gate and version rule, for this candidate. */
function syncGuards(state: ClusterState, cluster: ClusterConfig, nodeId: string): Partial<PromotionGuards> {
  const node = state.nodes[nodeId];
  const guards: Partial<PromotionGuards> = {};
  if (cluster.maxLagSeconds !== undefined && node?.lagSeconds !== undefined)
    guards.maxLagSeconds = cluster.maxLagSeconds;
  if (cluster.maxPositionLag !== undefined && typeof node?.position === 'number') {
    const behind = positionBehind(state, nodeId) ?? 0;
    guards.minPosition = node.position - Math.max(0, cluster.maxPositionLag - behind);
  }
  const version = requiredVersion(state, cluster);
  if (version !== undefined) guards.version = version;
  return guards;
}

/**
 * The eligible standby to promote: the most up to date first (highest position, else
 * lowest reported lag), then priority. Nodes that report neither rank after those that do.
 */
function bestCandidate(
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

/** Preferred failback: the highest-priority eligible node, up for the hold-down, takes the role back. */
function preferredFailback(state: ClusterState, cluster: ClusterConfig, now: number): Promotion | null {
  if (cluster.failback !== 'preferred' || state.active === null) return null;
  const activeIndex = cluster.nodes.findIndex((n) => n.id === state.active);
  const holdDownMs = cluster.failbackHoldDownSeconds * 1000;
  for (const node of cluster.nodes.slice(0, Math.max(0, activeIndex))) {
    if (!eligibility(state, cluster, node.id, now).eligible) continue;
    const upSince = state.nodes[node.id]?.upSince;
    if (upSince === undefined || now - upSince < holdDownMs) return null;
    return promotion(state, cluster, now, {
      cause: 'failback',
      to: node.id,
      reason: `preferred failback: ${node.id} (priority ${cluster.nodes.indexOf(node) + 1}) has been up for ${seconds(now - upSince)} (hold-down ${seconds(holdDownMs)}); promoted ${node.id} over ${state.active}`,
      guards: {
        activeDown: false,
        activeHealthy: true,
        candidateOk: true,
        notPaused: true,
        upBefore: now - holdDownMs,
        ...syncGuards(state, cluster, node.id),
      },
      recent: state.recentAutomatic.filter((t) => now - t < HOUR_MS),
    });
  }
  return null;
}

function promotion(
  state: ClusterState,
  cluster: ClusterConfig,
  now: number,
  p: {
    cause: PromotionCause;
    to: string;
    reason: string;
    guards: PromotionGuards;
    recent: number[];
    by?: string;
  },
): Promotion {
  return {
    type: 'promote',
    cause: p.cause,
    from: state.active,
    to: p.to,
    expectedEpoch: state.epoch,
    aliveSince: now - cluster.leaseMs,
    leaseMs: cluster.leaseMs,
    reason: p.reason,
    guards: p.guards,
    recentAutomatic: AUTOMATIC.has(p.cause) ? [...p.recent, now] : p.recent,
    ...(p.by ? { by: p.by } : {}),
  };
}

function hold(state: ClusterState, code: HoldCode, reason: string, now: number): Decision {
  return {
    type: 'hold',
    expectedEpoch: state.epoch,
    active: state.active,
    hold: { code, reason, since: now },
  };
}

function flapHold(
  state: ClusterState,
  cluster: ClusterConfig,
  recent: number[],
  why: string,
  now: number,
): Decision {
  // Lifts when fewer than `limit` changes remain in the window.
  const sorted = [...recent].sort((a, b) => a - b);
  const next = (sorted[sorted.length - cluster.maxAutoFailoversPerHour] ?? now) + HOUR_MS;
  const changes = `${recent.length} automatic change${recent.length === 1 ? '' : 's'}`;
  return hold(
    state,
    'flap-guard',
    `${why}; automation holds: ${changes} in the last hour (limit ${cluster.maxAutoFailoversPerHour}) until ${new Date(next).toISOString()}; a switchover still works`,
    now,
  );
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
      // Unreachable: a healthy active never needs replacing.
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
    case 'failback':
    case 'switchover':
    case 'release':
      return `${from} handed over`;
    default:
      return assertNever(cause);
  }
}

function describeCandidate(state: ClusterState, cluster: ClusterConfig, node: NodeConfig): string {
  const s = state.nodes[node.id];
  const sync =
    s?.lagSeconds !== undefined
      ? `, lag ${s.lagSeconds} s`
      : s?.position !== undefined
        ? `, position ${String(s.position)}`
        : '';
  return `${node.id} (priority ${cluster.nodes.indexOf(node) + 1}${sync})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
