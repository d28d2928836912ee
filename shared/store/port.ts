import type { ClusterConfig } from '../config.js';
import type { HoldDecision } from '../core/decide.js';
import type { HandoverChange } from '../core/handover.js';
import type { Promotion } from '../core/promotion.js';
import type { Beat, ClusterEvent, ClusterState, Pause, TargetState } from '../core/state.js';

/** A worker's claim to apply a target for one version (epoch and serving version). */
export interface TargetClaim {
  epoch: number;
  servingVersion: number;
  at: number;
  /** The claim expires then, and another worker may apply the same version. */
  until: number;
  settlesAt?: number;
}

/**
 * Where cluster state lives. Every method that changes state is a compare-and-set: it
 * returns `null`/`false` when another worker got there first, which is normal, not an error.
 */
export interface StateStore {
  /**
   * One write, no read: records the beat and returns the whole cluster state after it.
   * `region`: the Region whose control plane took the beat (multi-Region deployments).
   */
  recordHeartbeat(
    cluster: ClusterConfig,
    node: string,
    beat: Beat,
    now: number,
    region?: string,
  ): Promise<ClusterState>;
  /** Strongly consistent read of one cluster (absent clusters read as the empty state). */
  load(clusterId: string): Promise<ClusterState>;
  /**
   * Eventually consistent read of many clusters, in batches (for the sweep), in the order
   * asked; null for a cluster that could not be read (throttled past the retries).
   */
  loadMany(clusterIds: readonly string[]): Promise<Array<ClusterState | null>>;
  /** The promotion, if every one of its guards still holds at write time (on `now`); else null. */
  commitPromotion(decision: Promotion, clusterId: string, now: number): Promise<ClusterState | null>;
  /** Records or abandons a demote-first handover, if its condition still holds at `now`; else null. */
  commitHandover(change: HandoverChange, clusterId: string, now: number): Promise<ClusterState | null>;
  /** Records a new hold (and its event) unless the same hold is already recorded. */
  commitHold(decision: HoldDecision, clusterId: string): Promise<ClusterState | null>;
  /** Clears a hold once the cluster is steady again. */
  clearHold(clusterId: string, expectedEpoch: number): Promise<boolean>;
  /** Copies outbox events to the event log (idempotent), then removes them from the outbox. */
  flushOutbox(state: ClusterState): Promise<void>;
  /**
   * Claims a target for applying the claim's version, only while it is the cluster's
   * current one, and only if the claim carries every time until which an earlier apply
   * might still land (`settlesAt`, from `unsettledUntil` of the record it replaces).
   */
  claimTarget(clusterId: string, targetId: string, claim: TargetClaim): Promise<boolean>;
  /** Active-active: records a new serving set with its event, unless it changed meanwhile. */
  commitServing(
    clusterId: string,
    state: ClusterState,
    serving: string[],
    event: ClusterEvent,
  ): Promise<boolean>;
  /**
   * Records the outcome of an apply for `epoch` (and, in active-active mode, the serving
   * version in `result`). `superseded`: a newer record was there already, so this apply
   * ran late and may have overwritten newer traffic settings; the newer record is marked
   * `stale` so the next sweep applies it again (safety property 4). `overtaken`: another
   * worker finished this version after our claim expired; nothing was written.
   */
  finishTarget(
    clusterId: string,
    targetId: string,
    result: TargetState,
  ): Promise<'recorded' | 'superseded' | 'overtaken'>;
  /**
   * A target applied for `epoch` was observed elsewhere: mark it stale (so it is applied
   * again) and record the drift event, unless the epoch or the record moved on meanwhile.
   */
  markTargetDrift(
    clusterId: string,
    targetId: string,
    epoch: number,
    event: ClusterEvent,
    servingVersion?: number,
  ): Promise<boolean>;
  /** Updates what the target reported about its change (e.g. PENDING → INSYNC) for `epoch`. */
  recordTargetDetail(
    clusterId: string,
    targetId: string,
    epoch: number,
    detail: Record<string, string>,
    servingVersion?: number,
  ): Promise<boolean>;
  /** Pauses automation with its event; false when already paused. */
  setPause(clusterId: string, pause: Pause, event: ClusterEvent): Promise<boolean>;
  /** Resumes automation with its event; false when not paused. */
  clearPause(clusterId: string, event: ClusterEvent): Promise<boolean>;
  /** Starts (with its event, once per episode) or ends a node's collision episode. */
  setCollision(
    clusterId: string,
    nodeId: string,
    change: { start: { since: number; claimedEpoch: number | null }; event: ClusterEvent } | null,
  ): Promise<boolean>;
  /**
   * Deletes up to `limit` of the cluster's events past their retention, oldest first (for
   * tables without TTL: multi-Region strongly consistent ones, the local store); returns
   * how many.
   */
  pruneEvents(clusterId: string, now: number, limit: number): Promise<number>;
  /** Newest first. */
  listEvents(clusterId: string, limit: number): Promise<ClusterEvent[]>;
}
