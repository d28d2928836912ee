/**
 * Drives targets from committed state: applies every due target for the current epoch
 * (claim → apply → record), and, in the sweep, observes applied ones for drift.
 */
import type { ClusterConfig } from '../config.js';
import { driftEvent } from '../core/events.js';
import { targetMembers, targetsDue, unsettledUntil } from '../core/serving.js';
import type { ClusterState, TargetState } from '../core/state.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../store/port.js';
import type { Target, TargetChange } from '../targets/index.js';
import type { Announcer } from './announcer.js';

/**
 * A claim outlasts its apply's deadline by this much: adapters abort their calls at the
 * deadline, so an apply lands before its claim expires even with clocks 5 s apart or a
 * request still in flight.
 */
const CLAIM_MARGIN_MS = 5_000;

export type ApplyResult = 'applied' | 'failed' | 'skipped';

export interface TargetDriverOptions {
  store: StateStore;
  targets: Map<string, Target[]>;
  logger: Logger;
  announcer: Announcer;
  now: () => number;
  /** How long one invocation may spend applying targets before leaving them to the sweep. */
  applyBudgetMs: number;
  /** Minimum time between two observations of one target's actual state by the sweep. */
  observeIntervalMs: number;
}

export class TargetDriver {
  /** When each target was last observed by this process (bounds observation API calls). */
  private readonly lastObserved = new Map<string, number>();

  constructor(private readonly options: TargetDriverOptions) {}

  targetsOf(clusterId: string): Target[] {
    return this.options.targets.get(clusterId) ?? [];
  }

  /** What targets are told for the state's epoch; null before the first promotion. */
  changeFor(cluster: ClusterConfig, state: ClusterState): TargetChange | null {
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

  /**
   * Applies every due target for the state's epoch, in parallel. Each target is first
   * claimed with a conditional write that also checks the epoch is still current; the
   * outcome is recorded with a write that never lowers the recorded epoch.
   */
  async apply(cluster: ClusterConfig, state: ClusterState, now: number): Promise<ApplyResult[]> {
    const { store, logger } = this.options;
    const due = new Set(targetsDue(state, cluster, now));
    const change = this.changeFor(cluster, state);
    if (due.size === 0 || change === null) return [];
    const deadline = now + this.options.applyBudgetMs;
    const targets = this.targetsOf(cluster.id).filter((t) => due.has(t.id));
    return Promise.all(
      targets.map(async (target): Promise<ApplyResult> => {
        const previous = state.targets[target.id];
        // An earlier apply that may still land: carried, so the target is applied after it.
        const settlesAt = unsettledUntil(previous, now);
        const claimed = await store.claimTarget(cluster.id, target.id, {
          epoch: state.epoch,
          servingVersion: state.servingVersion,
          at: now,
          until: deadline + CLAIM_MARGIN_MS,
          settlesAt,
        });
        if (!claimed) return 'skipped';
        if (settlesAt !== undefined) {
          logger.info(
            `${cluster.id}: target ${target.id}: an earlier apply may still land until ${new Date(settlesAt).toISOString()}; epoch ${state.epoch} will be applied again after it`,
          );
        }
        const sameVersion =
          previous?.epoch === state.epoch && (previous.servingVersion ?? 0) === state.servingVersion;
        const attempts = (sameVersion ? previous.attempts : 0) + 1;
        const result: TargetState = {
          epoch: state.epoch,
          servingVersion: state.servingVersion,
          state: 'applied',
          at: now,
          attempts,
          settlesAt,
        };
        try {
          const detail = await target.apply(change, deadline);
          if (detail) result.detail = detail;
        } catch (err) {
          result.state = 'failed';
          result.error = `${(err as Error).name}: ${(err as Error).message}`;
          logger.error(
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
        result.at = this.options.now();
        const recorded = await store.finishTarget(cluster.id, target.id, result);
        if (recorded === 'superseded') {
          logger.warn(
            `${cluster.id}: target ${target.id}: apply for epoch ${state.epoch} finished after a newer epoch; it will be re-applied`,
          );
        } else if (recorded === 'overtaken') {
          logger.warn(
            `${cluster.id}: target ${target.id}: apply for epoch ${state.epoch} outlived its claim; another worker recorded it`,
          );
        }
        return result.state === 'applied' ? 'applied' : 'failed';
      }),
    );
  }

  /**
   * Reads the actual state of targets applied for the current epoch (at most once per
   * `observeIntervalMs` per target, to bound API calls) and marks drifted ones stale so
   * `apply` repairs them in the same sweep. Observation failures are logged only: they
   * say nothing about where traffic goes.
   */
  async observe(cluster: ClusterConfig, state: ClusterState, now: number): Promise<ClusterState> {
    const { store, logger } = this.options;
    const change = this.changeFor(cluster, state);
    if (change === null) return state;
    const deadline = now + this.options.applyBudgetMs;
    let next = state;
    for (const target of this.targetsOf(cluster.id)) {
      const progress = state.targets[target.id];
      const key = `${cluster.id}/${target.id}`;
      if (target.observe === undefined || progress?.epoch !== state.epoch || progress.state !== 'applied')
        continue;
      if (now - (this.lastObserved.get(key) ?? Number.NEGATIVE_INFINITY) < this.options.observeIntervalMs)
        continue;
      this.lastObserved.set(key, now);
      try {
        const seen = await target.observe(change, deadline, progress.detail);
        if (seen.detail && JSON.stringify(seen.detail) !== JSON.stringify(progress.detail)) {
          await store.recordTargetDetail(
            cluster.id,
            target.id,
            state.epoch,
            seen.detail,
            state.servingVersion,
          );
        }
        if (seen.drift === null) continue;
        const event = driftEvent(state, target.id, seen.drift, now);
        if (!(await store.markTargetDrift(cluster.id, target.id, state.epoch, event, state.servingVersion))) {
          continue;
        }
        await this.options.announcer.event(cluster.id, event, { target: target.id });
        next = { ...next, targets: { ...next.targets, [target.id]: { ...progress, state: 'stale' } } };
      } catch (err) {
        logger.warn(`${cluster.id}: could not observe target ${target.id}: ${(err as Error).message}`, {
          cluster: cluster.id,
          target: target.id,
        });
      }
    }
    return next;
  }
}
