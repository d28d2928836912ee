/**
 * The cluster record as plain data: what the store holds for each cluster, and what the
 * core reads and decides on. Nothing here does I/O; time is always data (ms).
 */

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
  /**
   * Failsafe: how much longer this node has promised a peer not to act as active (ms,
   * counted from when the beat was sent). Until then it must not be promoted.
   */
  promiseMs?: number;
  /** Failsafe: an episode this (active) node ran through while the control plane was away. */
  failsafe?: FailsafeReport;
  /**
   * Demote-first handover: the epoch whose active role this node has finished stepping
   * down from (its --on-standby hook has run). Sent on every beat while it holds.
   */
  steppedDown?: number;
  /**
   * Set by the control plane, never by the agent (the API schema has no such field): the
   * beat was authenticated with the node's `previousTokenSha256` (a rotation under way).
   */
  previousToken?: true;
}

/** What an active agent ran through while it kept its role without the control plane. */
export interface FailsafeReport {
  /** The epoch it kept. */
  epoch: number;
  /** How long ago, at the time of the beat, the episode began and ended (ms). */
  startedMsAgo: number;
  endedMsAgo: number;
  /** The peers whose confirmations kept the role. */
  confirmedBy: string[];
}

export interface NodeState {
  /** Control-plane time of the last heartbeat; absent until the node's first beat. */
  lastSeen?: number;
  /** `lastSeen` before the last heartbeat: a gap between the two is a return (see `grace.ts`). */
  prevSeen?: number;
  /** Failsafe: the node promised a peer not to act as active until then; not promotable before. */
  promisedUntil?: number;
  /** The agent has finished stepping down from this epoch's active role (as of its last beat). */
  steppedDown?: number;
  /** Multi-Region: the Region whose control plane took the last beat. */
  region?: string;
  /** Since when the node has been continuously alive and `ok` (absent while it is not). */
  upSince?: number;
  beats: number;
  status: NodeStatus;
  version?: string;
  position?: Position;
  /**
   * `position` as a fixed-width sortable string (see `positionKey`), present exactly when
   * the position is comparable: what the promoting write compares, since DynamoDB can
   * order neither LSNs nor digit strings by value.
   */
  positionKey?: string;
  lagSeconds?: number;
  /** The role and epoch the agent said it believed it held at its last beat. */
  claimedRole?: Role;
  claimedEpoch?: number;
  /** Set while the node claims to be active but is not (a "two actives" collision). */
  collision?: { since: number; claimedEpoch: number | null };
  /** The last beat used the node's previous token: its rotation is not finished. */
  previousToken?: true;
}

/** Progress of one target towards the cluster's epoch. */
export interface TargetState {
  epoch: number;
  state: 'applying' | 'applied' | 'failed' | 'stale';
  at: number;
  /** While `applying`: the claim expires at this time and another worker may retry. */
  until?: number;
  /**
   * This record took over while an apply of an older version might still land (its claim
   * had not expired): until then that apply may overwrite this one unseen (its own record
   * of it can be lost), so the target is applied once more after this time.
   */
  settlesAt?: number;
  error?: string;
  attempts: number;
  /** What the target reported about the applied change (e.g. a Route 53 change id and status). */
  detail?: Record<string, string>;
  /** Active-active: the serving-set version this record is about (0 in active-passive). */
  servingVersion?: number;
}

export type EventKind =
  | 'promoted'
  | 'held'
  | 'drift'
  | 'collision'
  | 'paused'
  | 'resumed'
  | 'serving'
  | 'failsafe'
  | 'handover';

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

export type HoldCode = 'no-candidate' | 'flap-guard' | 'paused' | 'grace';

export interface Hold {
  /** Stable code, so repeated sweeps of the same situation raise one event, not one per sweep. */
  code: HoldCode;
  reason: string;
  since: number;
  /** No automatic promotion before this time, whatever the state (the return-from-absence grace). */
  until?: number;
}

/**
 * A demote-first handover in progress (a switchover or a preferred failback): the active
 * `from` is told to step down, and `to` is promoted only once `from` confirms it has, or
 * once `deadline` has passed, when `from`'s lease has run out even if it never heard.
 */
export interface Handover {
  cause: 'switchover' | 'failback';
  from: string;
  to: string;
  /** The epoch `from` holds; a promotion (which clears the handover) ends it. */
  epoch: number;
  /** Control-plane time the handover was recorded: beats after it are answered `standby`. */
  since: number;
  /** since + lease: no beat of `from` renewed its lease after `since`, so it has run out. */
  deadline: number;
  /** Promote `to` even if it is not eligible (it must still be alive). */
  force?: boolean;
  by?: string;
  /** Who asked and why, in words the events and the final promotion repeat. */
  reason: string;
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
  /**
   * When a beat arrived after the control plane had heard no node for more than 1.5
   * intervals (its own absence, as far as it can tell): the return-from-absence grace runs
   * from here (`grace.ts`). Written by that beat's own write, so no later beat erases it.
   */
  returnedAt: number | null;
  /** Automation paused by an operator: no automatic failover or failback. */
  paused: Pause | null;
  /** A demote-first handover waiting for the active to step down. */
  handover: Handover | null;
  /** Times of the automatic changes of the last hour (the flap guard's memory). */
  recentAutomatic: number[];
  /** Active-active: the nodes targets point to, in priority order (empty in active-passive). */
  serving: string[];
  /** Active-active: +1 at every change of `serving`; orders target records within an epoch. */
  servingVersion: number;
  /** The promotion that opened the current epoch (what targets are told). */
  lastTransition: ClusterEvent | null;
  /**
   * Events committed with a transition but not yet copied to the event log (transactional
   * outbox), by `eventId`.
   */
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
    returnedAt: null,
    paused: null,
    handover: null,
    recentAutomatic: [],
    serving: [],
    servingVersion: 0,
    lastTransition: null,
    outbox: {},
  };
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}

/**
 * A cluster record read from storage (or after an in-memory update), with every absent
 * field at its empty value: absent attributes read as null, empty maps and lists.
 */
export function withDefaults(
  cluster: string,
  raw: Partial<Record<keyof ClusterState, unknown>>,
): ClusterState {
  const empty = emptyState(cluster);
  const out: Record<string, unknown> = { ...empty };
  for (const [key, value] of Object.entries(raw)) if (value !== undefined && value !== null) out[key] = value;
  return out as unknown as ClusterState;
}
