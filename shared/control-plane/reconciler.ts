/**
 * Acts on one decision of the core: the conditional write it calls for (promotion, hold,
 * or clearing a hold), what follows a committed one (announcer, targets), and the
 * active-active serving set. Used by the heartbeat path and the sweep alike.
 */
import type { ClusterConfig } from '../config.js';
import { decide } from '../core/decide.js';
import { servingChange } from '../core/serving.js';
import type { ClusterState } from '../core/state.js';
import type { StateStore } from '../store/port.js';
import type { Announcer } from './announcer.js';
import type { TargetDriver } from './target-driver.js';

export type Outcome = { promoted: boolean; held: boolean; applied: number; failed: number };

export class Reconciler {
  constructor(
    private readonly store: StateStore,
    private readonly announcer: Announcer,
    private readonly targets: TargetDriver,
    private readonly now: () => number,
  ) {}

  /**
   * Acts on one decision. Heartbeats apply targets only after their own promotion; the
   * sweep also observes applied targets for drift and applies everything that is due.
   */
  async reconcile(
    cluster: ClusterConfig,
    state: ClusterState,
    now: number,
    mode: 'heartbeat' | 'sweep',
  ): Promise<{ state: ClusterState; outcome: Outcome }> {
    const outcome: Outcome = { promoted: false, held: false, applied: 0, failed: 0 };
    const decision = decide(state, cluster, now);
    switch (decision.type) {
      case 'steady':
        if (state.hold !== null) await this.store.clearHold(cluster.id, state.epoch);
        break;
      case 'promote': {
        // The write judges liveness on its own clock: time may have passed since `now`.
        const committed = await this.store.commitPromotion(decision, cluster.id, this.now());
        if (committed === null) {
          // Another worker got there first (or the active renewed): read what won.
          return { state: await this.store.load(cluster.id), outcome };
        }
        outcome.promoted = true;
        state = committed;
        await this.announcer.promoted(cluster, state, decision);
        break;
      }
      case 'handover':
      case 'cancel-handover': {
        const committed = await this.store.commitHandover(decision, cluster.id, this.now());
        if (committed === null) return { state: await this.store.load(cluster.id), outcome };
        state = committed;
        await this.announcer.event(cluster.id, decision.event);
        break;
      }
      case 'hold': {
        if (state.hold?.code === decision.hold.code) break;
        const committed = await this.store.commitHold(decision, cluster.id);
        if (committed === null) break;
        outcome.held = true;
        state = committed;
        await this.announcer.held(cluster, state, decision);
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
    if (
      serving !== null &&
      (await this.store.commitServing(cluster.id, state, serving.serving, serving.event))
    ) {
      servingChanged = true;
      state = { ...state, serving: serving.serving, servingVersion: state.servingVersion + 1 };
      await this.announcer.event(cluster.id, serving.event);
    }
    if (mode === 'sweep' && decision.type === 'steady')
      state = await this.targets.observe(cluster, state, now);
    // Heartbeats apply targets only after a change they committed themselves; the sweep
    // applies whatever is due.
    if (mode === 'sweep' || outcome.promoted || servingChanged) {
      const results = await this.targets.apply(cluster, state, now);
      outcome.applied = results.filter((r) => r === 'applied').length;
      outcome.failed = results.filter((r) => r === 'failed').length;
    }
    return { state, outcome };
  }
}
