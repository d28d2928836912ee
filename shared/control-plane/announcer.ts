/**
 * What follows a committed transition: the log line, the event log (copied from the
 * outbox), and the publication (EventBridge in AWS). Publishing never undoes or fails a
 * transition: a failure is logged.
 */
import type { ClusterConfig } from '../config.js';
import type { HoldDecision } from '../core/decide.js';
import { eventId, holdEvent } from '../core/events.js';
import type { Promotion } from '../core/promotion.js';
import { type ClusterEvent, type ClusterState, emptyState } from '../core/state.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../store/port.js';

export class Announcer {
  constructor(
    private readonly store: StateStore,
    private readonly logger: Logger,
    private readonly publishEvent?: (event: ClusterEvent) => Promise<void>,
  ) {}

  async promoted(cluster: ClusterConfig, state: ClusterState, decision: Promotion): Promise<void> {
    this.logger.warn(`${cluster.id}: epoch ${state.epoch}: ${decision.reason}`, {
      event: 'promoted',
      cluster: cluster.id,
      epoch: state.epoch,
      active: state.active,
      previous: decision.from,
      cause: decision.cause,
      ...(decision.by ? { by: decision.by } : {}),
    });
    await this.store.flushOutbox(state);
    await this.publish(state.lastTransition);
  }

  async held(cluster: ClusterConfig, state: ClusterState, decision: HoldDecision): Promise<void> {
    this.logger.warn(`${cluster.id}: holding at epoch ${state.epoch}: ${decision.hold.reason}`, {
      event: 'held',
      cluster: cluster.id,
      epoch: state.epoch,
    });
    await this.store.flushOutbox(state);
    await this.publish(holdEvent(cluster.id, decision));
  }

  /** An event committed on its own (pause, resume, collision, serving, drift): log it, copy it, publish it. */
  async event(clusterId: string, event: ClusterEvent, log: Record<string, unknown> = {}): Promise<void> {
    this.logger.warn(`${clusterId}: ${event.reason}`, { event: event.kind, cluster: clusterId, ...log });
    await this.store.flushOutbox({ ...emptyState(clusterId), outbox: { [eventId(event)]: event } });
    await this.publish(event);
  }

  private async publish(event: ClusterEvent | null): Promise<void> {
    if (event === null || this.publishEvent === undefined) return;
    try {
      await this.publishEvent(event);
    } catch (err) {
      this.logger.error(
        `${event.cluster}: could not publish ${event.kind} event: ${(err as Error).message}`,
        {
          cluster: event.cluster,
          epoch: event.epoch,
          error: (err as Error).name,
        },
      );
    }
  }
}
