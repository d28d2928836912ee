/**
 * The control plane's use cases: heartbeat, sweep, status, events. It turns the core's
 * decisions into the store's compare-and-set writes and drives targets from committed
 * epochs. Handlers (Lambda and local) call this and nothing else.
 */
import type { ClusterConfig, Config, NodeConfig } from './config.js';
import { findCluster } from './config.js';
import {
  type Beat,
  type ClusterEvent,
  type ClusterState,
  clusterEvent,
  collisionChange,
  decide,
  driftEvent,
  emptyState,
  eventKey,
  flapGuard,
  holdEvent,
  type ManualOutcome,
  type NodeView,
  nodeViews,
  type Promotion,
  planManual,
  type Role,
  servingChange,
  type TargetState,
  targetMembers,
  targetsDue,
} from './core.js';
import { AuthError, ConflictError, NotFoundError } from './errors.js';
import type { Logger } from './logger.js';
import type { StateStore } from './store.js';
import type { Target, TargetChange } from './targets/index.js';
import { tokenMatches } from './tokens.js';

export interface ControlPlaneOptions {
  config: Config;
  store: StateStore;
  targets: Map<string, Target[]>;
  logger: Logger;
  /** Control-plane clock, ms. The only clock liveness is ever measured on. */
  now?: () => number;
  /** How long one invocation may spend applying targets before leaving them to the sweep. */
  applyBudgetMs?: number;
  /** Minimum time between two observations of one target's actual state by the sweep. */
  observeIntervalMs?: number;
  /**
   * Called once per committed promotion or hold, by the worker whose write won (EventBridge
   * in AWS). A failure is logged; it never undoes or fails the transition.
   */
  publish?: (event: ClusterEvent) => Promise<void>;
}

export interface HeartbeatResult {
  cluster: string;
  node: string;
  role: Role;
  epoch: number;
  active: string | null;
  leaseMs: number;
  intervalMs: number;
}

export interface ClusterStatus {
  cluster: string;
  epoch: number;
  active: string | null;
  activeSince: string | null;
  leaseMs: number;
  intervalMs: number;
  missedBeats: number;
  mode: string;
  /** Active-active: the nodes targets point to (the active alone in active-passive mode). */
  serving: string[];
  failback: string;
  failbackHoldDownSeconds: number;
  paused: { since: string; by: string; reason: string } | null;
  flapGuard: { limitPerHour: number; lastHour: number; holding: boolean };
  syncGate: { maxLagSeconds: number | null; maxPositionLag: number | null; requireSameVersion: boolean };
  hold: { code: string; reason: string; since: string } | null;
  lastTransition: ClusterEvent | null;
  nodes: NodeView[];
  targets: Array<{
    id: string;
    type: string;
    epoch: number | null;
    state: string;
    at: string | null;
    error: string | null;
    detail: Record<string, string> | null;
  }>;
  now: string;
}

export interface SweepReport {
  clusters: number;
  promoted: number;
  held: number;
  targetsApplied: number;
  targetsFailed: number;
  errors: number;
}

type Outcome = { promoted: boolean; held: boolean; applied: number; failed: number };

export class ControlPlane {
  private readonly now: () => number;
  private readonly applyBudgetMs: number;
  private readonly observeIntervalMs: number;
  /** When each target was last observed by this process (bounds observation API calls). */
  private readonly lastObserved = new Map<string, number>();

  constructor(private readonly options: ControlPlaneOptions) {
    this.now = options.now ?? Date.now;
    this.applyBudgetMs = options.applyBudgetMs ?? 5_000;
    this.observeIntervalMs = options.observeIntervalMs ?? 30_000;
  }

  /**
   * Checks a node's bearer token. Unknown cluster, unknown node and wrong token all give
   * the same error after the same work, so callers cannot probe which exist.
   */
  authenticateNode(
    clusterId: string,
    nodeId: string,
    token: string | undefined,
  ): { cluster: ClusterConfig; node: NodeConfig } {
    const cluster = findCluster(this.options.config, clusterId);
    const node = cluster?.nodes.find((n) => n.id === nodeId);
    const ok = tokenMatches(token ?? '', node?.tokenSha256);
    if (!ok || cluster === undefined || node === undefined || token === undefined) {
      throw new AuthError('missing or invalid node token');
    }
    return { cluster, node };
  }

  /**
   * 1. Record the beat (one conditional write, whose result is the whole cluster).
   * 2. Decide on that state; if the active's lease has expired, try the promotion inline:
   *    this is what makes failover take about a lease plus one interval.
   * 3. Answer with the role this node holds after that.
   */
  async heartbeat(cluster: ClusterConfig, node: NodeConfig, beat: Beat): Promise<HeartbeatResult> {
    const now = this.now();
    let state = await this.options.store.recordHeartbeat(cluster, node.id, beat, now);
    state = (await this.reconcile(cluster, state, now, 'heartbeat')).state;
    await this.trackCollision(cluster, state, node.id, now);
    return this.roleOf(cluster, state, node.id);
  }

  /**
   * What a node holds, without renewing anything (for `run-if-active`): its role, the
   * epoch, and for the active how much of its lease is left on the control plane's clock.
   */
  async nodeRole(
    cluster: ClusterConfig,
    node: NodeConfig,
  ): Promise<HeartbeatResult & { leaseRemainingMs: number | null }> {
    const state = await this.options.store.load(cluster.id);
    const lastSeen = state.nodes[node.id]?.lastSeen;
    const active = state.active === node.id;
    return {
      ...this.roleOf(cluster, state, node.id),
      leaseRemainingMs:
        active && lastSeen !== undefined ? Math.max(0, lastSeen + cluster.leaseMs - this.now()) : null,
    };
  }

  /** A node hands over the role (planned downtime). A standby's release changes nothing. */
  async release(
    cluster: ClusterConfig,
    node: NodeConfig,
  ): Promise<HeartbeatResult & { released: boolean; message: string }> {
    const now = this.now();
    const state = await this.options.store.load(cluster.id);
    const outcome = planManual(
      state,
      cluster,
      { kind: 'release', node: node.id, by: `node:${node.id}` },
      now,
    );
    if (outcome.type === 'noop')
      return { ...this.roleOf(cluster, state, node.id), released: false, message: outcome.message };
    const committed = await this.commitManual(cluster, outcome);
    return {
      ...this.roleOf(cluster, committed, node.id),
      released: true,
      message: committed.lastTransition?.reason ?? '',
    };
  }

  /** An operator moves the role: to `to`, or to the best eligible standby. */
  async switchover(
    clusterId: string,
    request: { to?: string; force?: boolean; reason?: string },
    by: string,
  ): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const state = await this.options.store.load(cluster.id);
    const outcome = planManual(state, cluster, { kind: 'switchover', ...request, by }, this.now());
    if (outcome.type === 'noop') throw new ConflictError(outcome.message);
    await this.commitManual(cluster, outcome);
    return this.status(cluster.id);
  }

  /** Pauses automatic failover and failback; heartbeats are still recorded. */
  async pause(clusterId: string, reason: string, by: string): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const now = this.now();
    const state = await this.options.store.load(cluster.id);
    if (state.paused !== null) {
      throw new ConflictError(
        `already paused since ${new Date(state.paused.since).toISOString()} by ${state.paused.by}`,
      );
    }
    const event = clusterEvent(state, 'paused', `automation paused by ${by}: ${reason}`, now, by);
    if (!(await this.options.store.setPause(cluster.id, { since: now, by, reason }, event))) {
      throw new ConflictError('already paused');
    }
    this.options.logger.warn(`${cluster.id}: ${event.reason}`, { event: 'paused', cluster: cluster.id, by });
    await this.afterEvent(cluster.id, event);
    return this.status(cluster.id);
  }

  async resume(clusterId: string, by: string): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const state = await this.options.store.load(cluster.id);
    const event = clusterEvent(state, 'resumed', `automation resumed by ${by}`, this.now(), by);
    if (state.paused === null || !(await this.options.store.clearPause(cluster.id, event))) {
      throw new ConflictError('automation is not paused');
    }
    this.options.logger.warn(`${cluster.id}: ${event.reason}`, { event: 'resumed', cluster: cluster.id, by });
    await this.afterEvent(cluster.id, event);
    return this.status(cluster.id);
  }

  private roleOf(cluster: ClusterConfig, state: ClusterState, nodeId: string): HeartbeatResult {
    return {
      cluster: cluster.id,
      node: nodeId,
      role: state.active === nodeId ? 'active' : 'standby',
      epoch: state.epoch,
      active: state.active,
      leaseMs: cluster.leaseMs,
      intervalMs: cluster.intervalMs,
    };
  }

  /** Commits a switchover or release; a lost race is a 409 the caller may retry. */
  private async commitManual(cluster: ClusterConfig, promotion: ManualOutcome): Promise<ClusterState> {
    if (promotion.type === 'refused') throw new ConflictError(promotion.message);
    if (promotion.type === 'noop') throw new ConflictError(promotion.message);
    const now = this.now();
    const committed = await this.options.store.commitPromotion(promotion, cluster.id, now);
    if (committed === null) {
      throw new ConflictError(
        'the cluster changed while the request was being applied (or the node stopped being eligible); retry',
      );
    }
    await this.announcePromotion(cluster, committed, promotion);
    await this.applyTargets(cluster, committed, now);
    return committed;
  }

  /** Log, event log, EventBridge: what follows every committed promotion (targets come next). */
  private async announcePromotion(cluster: ClusterConfig, state: ClusterState, decision: Promotion) {
    this.options.logger.warn(`${cluster.id}: epoch ${state.epoch}: ${decision.reason}`, {
      event: 'promoted',
      cluster: cluster.id,
      epoch: state.epoch,
      active: state.active,
      previous: decision.from,
      cause: decision.cause,
      ...(decision.by ? { by: decision.by } : {}),
    });
    await this.options.store.flushOutbox(state);
    await this.publish(state.lastTransition);
  }

  private async afterEvent(clusterId: string, event: ClusterEvent): Promise<void> {
    await this.options.store.flushOutbox({ ...emptyState(clusterId), outbox: { [eventKey(event)]: event } });
    await this.publish(event);
  }

  /** One collision event per episode; the episode ends when the node agrees with the record. */
  private async trackCollision(cluster: ClusterConfig, state: ClusterState, nodeId: string, now: number) {
    const change = collisionChange(state, cluster, nodeId, now);
    if (change === null) return;
    if (change.type === 'end') {
      await this.options.store.setCollision(cluster.id, nodeId, null);
      return;
    }
    const claimedEpoch = state.nodes[nodeId]?.claimedEpoch ?? null;
    if (
      await this.options.store.setCollision(cluster.id, nodeId, {
        start: { since: now, claimedEpoch },
        event: change.event,
      })
    ) {
      this.options.logger.warn(`${cluster.id}: ${change.event.reason}`, {
        event: 'collision',
        cluster: cluster.id,
        node: nodeId,
      });
      await this.afterEvent(cluster.id, change.event);
    }
  }

  /**
   * The safety net behind the inline path: for every cluster, promote if due, copy
   * pending events to the log, and (re-)apply targets that lag behind the epoch.
   * A failure in one cluster is logged and does not stop the others.
   */
  async sweep(): Promise<SweepReport> {
    const now = this.now();
    const clusters = this.options.config.clusters;
    const states = await this.options.store.loadMany(clusters.map((c) => c.id));
    const report: SweepReport = {
      clusters: clusters.length,
      promoted: 0,
      held: 0,
      targetsApplied: 0,
      targetsFailed: 0,
      errors: 0,
    };
    await Promise.all(
      clusters.map(async (cluster, i) => {
        try {
          const state = states[i] as ClusterState;
          if (Object.keys(state.outbox).length > 0) await this.options.store.flushOutbox(state);
          const { outcome } = await this.reconcile(cluster, state, now, 'sweep');
          report.promoted += Number(outcome.promoted);
          report.held += Number(outcome.held);
          report.targetsApplied += outcome.applied;
          report.targetsFailed += outcome.failed;
        } catch (err) {
          report.errors += 1;
          this.options.logger.error(`sweep of ${cluster.id} failed: ${(err as Error).message}`, {
            cluster: cluster.id,
            error: (err as Error).name,
          });
        }
      }),
    );
    return report;
  }

  async status(clusterId: string): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const state = await this.options.store.load(cluster.id);
    const now = this.now();
    const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
    return {
      cluster: cluster.id,
      epoch: state.epoch,
      active: state.active,
      activeSince: iso(state.activeSince),
      leaseMs: cluster.leaseMs,
      intervalMs: cluster.intervalMs,
      missedBeats: cluster.missedBeats,
      mode: cluster.mode,
      serving: targetMembers(state, cluster).map((n) => n.id),
      failback: cluster.failback,
      failbackHoldDownSeconds: cluster.failbackHoldDownSeconds,
      paused: state.paused && { ...state.paused, since: iso(state.paused.since) as string },
      flapGuard: flapGuard(state, cluster, now),
      syncGate: {
        maxLagSeconds: cluster.maxLagSeconds ?? null,
        maxPositionLag: cluster.maxPositionLag ?? null,
        requireSameVersion: cluster.requireSameVersion,
      },
      hold: state.hold && { ...state.hold, since: iso(state.hold.since) as string },
      lastTransition: state.lastTransition,
      nodes: nodeViews(state, cluster, now),
      targets: (this.options.targets.get(cluster.id) ?? []).map((t) => {
        const progress = state.targets[t.id];
        return {
          id: t.id,
          type: t.type,
          epoch: progress?.epoch ?? null,
          state:
            progress === undefined ? 'pending' : progress.epoch < state.epoch ? 'pending' : progress.state,
          at: iso(progress?.at),
          error: progress?.error ?? null,
          detail: progress?.detail ?? null,
        };
      }),
      now: new Date(now).toISOString(),
    };
  }

  async events(clusterId: string, limit: number): Promise<ClusterEvent[]> {
    const cluster = this.clusterOr404(clusterId);
    return this.options.store.listEvents(cluster.id, limit);
  }

  clusterOr404(clusterId: string): ClusterConfig {
    const cluster = findCluster(this.options.config, clusterId);
    if (cluster === undefined) throw new NotFoundError(`unknown cluster '${clusterId}'`);
    return cluster;
  }

  /**
   * Acts on one decision. Heartbeats apply targets only after their own promotion; the
   * sweep also observes applied targets for drift and applies everything that is due.
   */
  private async reconcile(
    cluster: ClusterConfig,
    state: ClusterState,
    now: number,
    mode: 'heartbeat' | 'sweep',
  ): Promise<{ state: ClusterState; outcome: Outcome }> {
    const { store, logger } = this.options;
    const outcome: Outcome = { promoted: false, held: false, applied: 0, failed: 0 };
    const decision = decide(state, cluster, now);
    switch (decision.type) {
      case 'steady':
        if (state.hold !== null) await store.clearHold(cluster.id, state.epoch);
        break;
      case 'promote': {
        // The write judges liveness on its own clock: time may have passed since `now`.
        const committed = await store.commitPromotion(decision, cluster.id, this.now());
        if (committed === null) {
          // Another worker got there first (or the active renewed): read what won.
          return { state: await store.load(cluster.id), outcome };
        }
        outcome.promoted = true;
        state = committed;
        await this.announcePromotion(cluster, state, decision);
        break;
      }
      case 'hold': {
        if (state.hold?.code === decision.hold.code) break;
        const committed = await store.commitHold(decision, cluster.id);
        if (committed === null) break;
        outcome.held = true;
        state = committed;
        logger.warn(`${cluster.id}: holding at epoch ${state.epoch}: ${decision.hold.reason}`, {
          event: 'held',
          cluster: cluster.id,
          epoch: state.epoch,
        });
        await store.flushOutbox(state);
        await this.publish(holdEvent(cluster.id, decision));
        break;
      }
      default: {
        const unreachable: never = decision;
        throw new Error(`unknown decision ${JSON.stringify(unreachable)}`);
      }
    }
    // Active-active: the serving set follows liveness without an epoch change.
    const serving = servingChange(state, cluster, now);
    let servingChanged = false;
    if (serving !== null && (await store.commitServing(cluster.id, state, serving.serving, serving.event))) {
      servingChanged = true;
      state = { ...state, serving: serving.serving, servingVersion: state.servingVersion + 1 };
      logger.warn(`${cluster.id}: ${serving.event.reason}`, { event: 'serving', cluster: cluster.id });
      await this.afterEvent(cluster.id, serving.event);
    }
    if (mode === 'sweep' && decision.type === 'steady')
      state = await this.observeTargets(cluster, state, now);
    // Heartbeats apply targets only after a change they committed themselves; the sweep
    // applies whatever is due.
    if (mode === 'sweep' || outcome.promoted || servingChanged) {
      const results = await this.applyTargets(cluster, state, now);
      outcome.applied = results.filter((r) => r === 'applied').length;
      outcome.failed = results.filter((r) => r === 'failed').length;
    }
    return { state, outcome };
  }

  /**
   * Reads the actual state of targets applied for the current epoch (at most once per
   * `observeIntervalMs` per target, to bound API calls) and marks drifted ones stale so
   * `applyTargets` repairs them in the same sweep. Observation failures are logged only:
   * they say nothing about where traffic goes.
   */
  private async observeTargets(
    cluster: ClusterConfig,
    state: ClusterState,
    now: number,
  ): Promise<ClusterState> {
    const change = this.changeFor(cluster, state);
    if (change === null) return state;
    const deadline = now + this.applyBudgetMs;
    let next = state;
    for (const target of this.options.targets.get(cluster.id) ?? []) {
      const progress = state.targets[target.id];
      const key = `${cluster.id}/${target.id}`;
      if (target.observe === undefined || progress?.epoch !== state.epoch || progress.state !== 'applied')
        continue;
      if (now - (this.lastObserved.get(key) ?? Number.NEGATIVE_INFINITY) < this.observeIntervalMs) continue;
      this.lastObserved.set(key, now);
      try {
        const seen = await target.observe(change, deadline, progress.detail);
        if (seen.detail && JSON.stringify(seen.detail) !== JSON.stringify(progress.detail)) {
          await this.options.store.recordTargetDetail(
            cluster.id,
            target.id,
            state.epoch,
            seen.detail,
            state.servingVersion,
          );
        }
        if (seen.drift === null) continue;
        const event = driftEvent(state, target.id, seen.drift, now);
        if (
          !(await this.options.store.markTargetDrift(
            cluster.id,
            target.id,
            state.epoch,
            event,
            state.servingVersion,
          ))
        ) {
          continue;
        }
        this.options.logger.warn(`${cluster.id}: ${event.reason}`, {
          event: 'drift',
          cluster: cluster.id,
          target: target.id,
        });
        await this.options.store.flushOutbox({ ...state, outbox: { [eventKey(event)]: event } });
        await this.publish(event);
        next = { ...next, targets: { ...next.targets, [target.id]: { ...progress, state: 'stale' } } };
      } catch (err) {
        this.options.logger.warn(
          `${cluster.id}: could not observe target ${target.id}: ${(err as Error).message}`,
          {
            cluster: cluster.id,
            target: target.id,
          },
        );
      }
    }
    return next;
  }

  /** What targets are told for the state's epoch; null before the first promotion. */
  private changeFor(cluster: ClusterConfig, state: ClusterState): TargetChange | null {
    const transition = state.lastTransition;
    const node = cluster.nodes.find((n) => n.id === state.active);
    const members = targetMembers(state, cluster);
    if (transition === null || node === undefined || members.length === 0) return null;
    return {
      cluster: cluster.id,
      active: node.id,
      address: node.address,
      members: members.map((m) => ({ id: m.id, address: m.address })),
      epoch: state.epoch,
      previous: transition.previous,
      reason: transition.reason,
      at: transition.at,
    };
  }

  private async publish(event: ClusterEvent | null): Promise<void> {
    if (event === null || this.options.publish === undefined) return;
    try {
      await this.options.publish(event);
    } catch (err) {
      this.options.logger.error(
        `${event.cluster}: could not publish ${event.kind} event: ${(err as Error).message}`,
        {
          cluster: event.cluster,
          epoch: event.epoch,
          error: (err as Error).name,
        },
      );
    }
  }

  /**
   * Applies every due target for the state's epoch, in parallel. Each target is first
   * claimed with a conditional write that also checks the epoch is still current; the
   * outcome is recorded with a write that never lowers the recorded epoch.
   */
  private async applyTargets(cluster: ClusterConfig, state: ClusterState, now: number) {
    const due = new Set(targetsDue(state, cluster, now));
    const change = this.changeFor(cluster, state);
    if (due.size === 0 || change === null) return [];
    const deadline = now + this.applyBudgetMs;
    const targets = (this.options.targets.get(cluster.id) ?? []).filter((t) => due.has(t.id));
    return Promise.all(
      targets.map(async (target): Promise<'applied' | 'failed' | 'skipped'> => {
        const previous = state.targets[target.id];
        const claimed = await this.options.store.claimTarget(
          cluster.id,
          target.id,
          state.epoch,
          now,
          deadline + 5_000,
          state.servingVersion,
        );
        if (!claimed) return 'skipped';
        const sameVersion =
          previous?.epoch === state.epoch && (previous.servingVersion ?? 0) === state.servingVersion;
        const attempts = (sameVersion ? previous.attempts : 0) + 1;
        const result: TargetState = {
          epoch: state.epoch,
          servingVersion: state.servingVersion,
          state: 'applied',
          at: now,
          attempts,
        };
        try {
          const detail = await target.apply(change, deadline);
          if (detail) result.detail = detail;
          result.at = this.now();
        } catch (err) {
          result.state = 'failed';
          result.at = this.now();
          result.error = `${(err as Error).name}: ${(err as Error).message}`;
          this.options.logger.error(
            `${cluster.id}: target ${target.id} failed for epoch ${state.epoch}: ${result.error}`,
            {
              event: 'target-apply-failed',
              cluster: cluster.id,
              target: target.id,
              epoch: state.epoch,
              attempts,
            },
          );
        }
        const recorded = await this.options.store.finishTarget(cluster.id, target.id, result);
        if (recorded === 'superseded') {
          this.options.logger.warn(
            `${cluster.id}: target ${target.id}: apply for epoch ${state.epoch} finished after a newer epoch; it will be re-applied`,
          );
        }
        return result.state === 'applied' ? 'applied' : 'failed';
      }),
    );
  }
}
