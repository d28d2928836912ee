/**
 * The control plane's use cases: heartbeat, release, switchover, pause, resume, sweep,
 * status, events. Decisions of the core become the store's compare-and-set writes in
 * the reconciler (`reconciler.ts`); committed epochs drive targets (`target-driver.ts`).
 * Handlers (Lambda and local) call this and nothing else.
 */
import type { ClusterConfig, Config, NodeConfig } from '../config.js';
import { findCluster } from '../config.js';
import { clusterEvent, collisionChange } from '../core/events.js';
import { failsafeEvent, failsafePeers, type Peer } from '../core/failsafe.js';
import { pendingHandover } from '../core/handover.js';
import { type ManualOutcome, planManual } from '../core/manual.js';
import type { Beat, ClusterEvent, ClusterState, Role } from '../core/state.js';
import { AuthError, ConflictError, NotFoundError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../store/port.js';
import type { Target } from '../targets/index.js';
import { tokenMatches } from '../tokens.js';
import { Announcer } from './announcer.js';
import { Reconciler } from './reconciler.js';
import { RejectedBeats } from './rejected-beats.js';
import { type ClusterStatus, presentStatus } from './status.js';
import { TargetDriver } from './target-driver.js';

export type { ClusterStatus } from './status.js';

export interface ControlPlaneOptions {
  config: Config;
  store: StateStore;
  targets: Map<string, Target[]>;
  logger: Logger;
  /** Multi-Region: this control plane's Region, recorded with every beat it takes. */
  region?: string;
  /** Control-plane clock, ms. The only clock liveness is ever measured on. */
  now?: () => number;
  /** How long one invocation may spend applying targets before leaving them to the sweep. */
  applyBudgetMs?: number;
  /** Minimum time between two observations of one target's actual state by the sweep. */
  observeIntervalMs?: number;
  /** How many clusters one sweep reconciles at once. */
  sweepConcurrency?: number;
  /**
   * For tables without TTL (multi-Region strongly consistent; the local store): each sweep
   * deletes up to this many expired events per cluster. Absent: the table's TTL does it.
   */
  pruneEventsPerSweep?: number;
  /**
   * Called once per committed transition, by the worker whose write won (EventBridge in
   * AWS). A failure is logged; it never undoes or fails the transition.
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
  /** Failsafe: the other agents to ask while the control plane is away; absent when off. */
  peers?: Peer[];
  /**
   * Demote-first handover: this node (the active) is asked to step down for `to`; it is
   * answered `standby` and confirms with `steppedDown` once its --on-standby hook has run.
   */
  stepDown?: { to: string };
}

export interface SweepReport {
  clusters: number;
  promoted: number;
  held: number;
  targetsApplied: number;
  targetsFailed: number;
  errors: number;
  /** Expired events deleted (only where the table has no TTL). */
  eventsPruned: number;
}

export class ControlPlane {
  private readonly now: () => number;
  private readonly store: StateStore;
  private readonly logger: Logger;
  private readonly announcer: Announcer;
  private readonly targets: TargetDriver;
  private readonly reconciler: Reconciler;
  private readonly sweepConcurrency: number;
  private readonly rejected: RejectedBeats;

  constructor(private readonly options: ControlPlaneOptions) {
    this.now = options.now ?? Date.now;
    this.store = options.store;
    this.logger = options.logger;
    this.announcer = new Announcer(options.store, options.logger, options.publish);
    this.targets = new TargetDriver({
      store: options.store,
      targets: options.targets,
      logger: options.logger,
      announcer: this.announcer,
      now: this.now,
      applyBudgetMs: options.applyBudgetMs ?? 5_000,
      observeIntervalMs: options.observeIntervalMs ?? 30_000,
    });
    this.reconciler = new Reconciler(options.store, this.announcer, this.targets, this.now);
    this.sweepConcurrency = options.sweepConcurrency ?? 16;
    this.rejected = new RejectedBeats(options.config, options.logger);
  }

  /**
   * Checks a node's bearer token. Unknown cluster, unknown node and wrong token all give
   * the same error after the same work, so callers cannot probe which exist.
   */
  authenticateNode(
    clusterId: string,
    nodeId: string,
    token: string | undefined,
  ): { cluster: ClusterConfig; node: NodeConfig; previousToken: boolean } {
    const cluster = findCluster(this.options.config, clusterId);
    const node = cluster?.nodes.find((n) => n.id === nodeId);
    const current = tokenMatches(token ?? '', node?.tokenSha256);
    // Both compared every time, so the time taken does not tell a rotation is under way.
    const previous = tokenMatches(token ?? '', node?.previousTokenSha256);
    const ok = current || previous;
    if (!ok || cluster === undefined || node === undefined || token === undefined) {
      const cause =
        cluster === undefined
          ? 'unknown cluster'
          : node === undefined
            ? 'unknown node'
            : token === undefined
              ? 'missing token'
              : 'wrong token';
      this.rejected.record(clusterId, nodeId, cause, this.now());
      throw new AuthError('missing or invalid node token');
    }
    return { cluster, node, previousToken: !current };
  }

  /**
   * 1. Record the beat (one conditional write, whose result is the whole cluster).
   * 2. Decide on that state; if the active's lease has expired, try the promotion inline:
   *    this is what makes failover take about a lease plus one interval.
   * 3. Answer with the role this node holds after that.
   */
  async heartbeat(cluster: ClusterConfig, node: NodeConfig, beat: Beat): Promise<HeartbeatResult> {
    const now = this.now();
    let state = await this.store.recordHeartbeat(cluster, node.id, beat, now, this.options.region);
    state = (await this.reconciler.reconcile(cluster, state, now, 'heartbeat')).state;
    await this.trackCollision(cluster, state, node.id, now);
    if (beat.failsafe !== undefined) {
      await this.announcer.event(cluster.id, failsafeEvent(state, node.id, beat.failsafe, now), {
        node: node.id,
      });
    }
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
    const state = await this.store.load(cluster.id);
    const lastSeen = state.nodes[node.id]?.lastSeen;
    const role = this.roleOf(cluster, state, node.id);
    return {
      ...role,
      leaseRemainingMs:
        role.role === 'active' && lastSeen !== undefined
          ? Math.max(0, lastSeen + cluster.leaseMs - this.now())
          : null,
    };
  }

  /** A node hands over the role (planned downtime). A standby's release changes nothing. */
  async release(
    cluster: ClusterConfig,
    node: NodeConfig,
  ): Promise<HeartbeatResult & { released: boolean; message: string }> {
    const state = await this.store.load(cluster.id);
    const request = { kind: 'release', node: node.id, by: `node:${node.id}` } as const;
    const outcome = planManual(state, cluster, request, this.now());
    if (outcome.type === 'noop')
      return { ...this.roleOf(cluster, state, node.id), released: false, message: outcome.message };
    // The agent has stepped down before it asks (agent.ts), so a release commits at once.
    if (outcome.type === 'handover') throw new Error('a release is never demote-first');
    const committed = await this.commitManual(cluster, outcome);
    return {
      ...this.roleOf(cluster, committed, node.id),
      released: true,
      message: committed.lastTransition?.reason ?? '',
    };
  }

  /**
   * An operator moves the role: to `to`, or to the best eligible standby. Demote-first
   * unless `immediate`: the status returned shows the handover pending; the heartbeats and
   * the sweep complete it (`handover.ts`).
   */
  async switchover(
    clusterId: string,
    request: { to?: string; force?: boolean; reason?: string; immediate?: boolean },
    by: string,
  ): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const state = await this.store.load(cluster.id);
    const outcome = planManual(state, cluster, { kind: 'switchover', ...request, by }, this.now());
    if (outcome.type === 'handover') {
      if ((await this.store.commitHandover(outcome, cluster.id, this.now())) === null)
        throw changedMeanwhile();
      await this.announcer.event(cluster.id, outcome.event, { by });
    } else {
      if (outcome.type === 'noop') throw new ConflictError(outcome.message);
      await this.commitManual(cluster, outcome);
    }
    return this.status(cluster.id);
  }

  /** Pauses automatic failover and failback; heartbeats are still recorded. */
  async pause(clusterId: string, reason: string, by: string): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const now = this.now();
    const state = await this.store.load(cluster.id);
    if (state.paused !== null) {
      throw new ConflictError(
        `already paused since ${new Date(state.paused.since).toISOString()} by ${state.paused.by}`,
      );
    }
    const event = clusterEvent(state, 'paused', `automation paused by ${by}: ${reason}`, now, by);
    if (!(await this.store.setPause(cluster.id, { since: now, by, reason }, event))) {
      throw new ConflictError('already paused');
    }
    await this.announcer.event(cluster.id, event, { by });
    return this.status(cluster.id);
  }

  async resume(clusterId: string, reason: string | undefined, by: string): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const state = await this.store.load(cluster.id);
    const why = `automation resumed by ${by}${reason === undefined ? '' : `: ${reason}`}`;
    const event = clusterEvent(state, 'resumed', why, this.now(), by);
    if (state.paused === null || !(await this.store.clearPause(cluster.id, event))) {
      throw new ConflictError('automation is not paused');
    }
    await this.announcer.event(cluster.id, event, { by });
    return this.status(cluster.id);
  }

  /** The configured clusters' ids, in config order. */
  clusterIds(): string[] {
    return this.options.config.clusters.map((c) => c.id);
  }

  async status(clusterId: string): Promise<ClusterStatus> {
    const cluster = this.clusterOr404(clusterId);
    const state = await this.store.load(cluster.id);
    return presentStatus(
      cluster,
      state,
      this.targets.targetsOf(cluster.id),
      this.rejected.of(cluster.id),
      this.now(),
    );
  }

  async events(clusterId: string, limit: number): Promise<ClusterEvent[]> {
    const cluster = this.clusterOr404(clusterId);
    return this.store.listEvents(cluster.id, limit);
  }

  clusterOr404(clusterId: string): ClusterConfig {
    const cluster = findCluster(this.options.config, clusterId);
    if (cluster === undefined) throw new NotFoundError(`unknown cluster '${clusterId}'`);
    return cluster;
  }

  /**
   * The safety net behind the inline path: for every cluster, promote if due, copy
   * pending events to the log, and (re-)apply targets that lag behind the epoch. Clusters
   * are reconciled `sweepConcurrency` at a time; a failure in one is logged and does not
   * stop the others.
   */
  async sweep(): Promise<SweepReport> {
    const now = this.now();
    const clusters = this.options.config.clusters;
    const states = await this.store.loadMany(clusters.map((c) => c.id));
    const report: SweepReport = {
      clusters: clusters.length,
      promoted: 0,
      held: 0,
      targetsApplied: 0,
      targetsFailed: 0,
      errors: 0,
      eventsPruned: 0,
    };
    await forEachLimited(clusters, this.sweepConcurrency, async (cluster, i) => {
      try {
        const state = states[i];
        if (state == null) throw new Error('its state could not be read (throttled); the next sweep retries');
        if (Object.keys(state.outbox).length > 0) await this.store.flushOutbox(state);
        const { outcome } = await this.reconciler.reconcile(cluster, state, now, 'sweep');
        report.promoted += Number(outcome.promoted);
        report.held += Number(outcome.held);
        report.targetsApplied += outcome.applied;
        report.targetsFailed += outcome.failed;
        const prune = this.options.pruneEventsPerSweep;
        if (prune) report.eventsPruned += await this.store.pruneEvents(cluster.id, now, prune);
      } catch (err) {
        report.errors += 1;
        this.logger.error(`sweep of ${cluster.id} failed: ${(err as Error).message}`, {
          cluster: cluster.id,
          error: (err as Error).name,
        });
      }
    });
    return report;
  }

  private roleOf(cluster: ClusterConfig, state: ClusterState, nodeId: string): HeartbeatResult {
    const peers = failsafePeers(cluster, nodeId);
    // The active being handed over from is told to step down: its beats renew nothing.
    const handover = pendingHandover(state);
    const steppingDown = handover?.from === nodeId;
    return {
      cluster: cluster.id,
      node: nodeId,
      role: state.active === nodeId && !steppingDown ? 'active' : 'standby',
      epoch: state.epoch,
      active: steppingDown ? null : state.active,
      leaseMs: cluster.leaseMs,
      intervalMs: cluster.intervalMs,
      ...(peers === null ? {} : { peers }),
      ...(steppingDown ? { stepDown: { to: handover.to } } : {}),
    };
  }

  /** Commits a switchover or release; a lost race is a 409 the caller may retry. */
  private async commitManual(
    cluster: ClusterConfig,
    outcome: Exclude<ManualOutcome, { type: 'handover' | 'noop' }>,
  ): Promise<ClusterState> {
    if (outcome.type !== 'promote') throw new ConflictError(outcome.message);
    const now = this.now();
    const committed = await this.store.commitPromotion(outcome, cluster.id, now);
    if (committed === null) throw changedMeanwhile();
    await this.announcer.promoted(cluster, committed, outcome);
    await this.targets.apply(cluster, committed, now);
    return committed;
  }

  /** One collision event per episode; the episode ends when the node agrees with the record. */
  private async trackCollision(cluster: ClusterConfig, state: ClusterState, nodeId: string, now: number) {
    const change = collisionChange(state, cluster, nodeId, now);
    if (change === null) return;
    if (change.type === 'end') {
      await this.store.setCollision(cluster.id, nodeId, null);
      return;
    }
    const claimedEpoch = state.nodes[nodeId]?.claimedEpoch ?? null;
    const start = { since: now, claimedEpoch };
    if (await this.store.setCollision(cluster.id, nodeId, { start, event: change.event })) {
      await this.announcer.event(cluster.id, change.event, { node: nodeId });
    }
  }
}

function changedMeanwhile(): ConflictError {
  return new ConflictError(
    'the cluster changed while the request was being applied (or the node stopped being eligible); retry',
  );
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
