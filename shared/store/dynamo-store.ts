/**
 * DynamoDB adapter for StateStore. One table, two kinds of item:
 *
 *   pk = CLUSTER#<id>, sk = STATE          the cluster: epoch, active, nodes.<id>, targets.<id>, hold, outbox
 *   pk = CLUSTER#<id>, sk = EVENT#<epoch>#… the immutable event log (`event-log.ts`), TTL `expiresAt`
 *
 * Node records are nested in the cluster item so that a heartbeat is one UpdateItem whose
 * ALL_NEW result is the whole cluster: the heartbeat path reads nothing.
 */
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import type { ClusterConfig } from '../config.js';
import type { HoldDecision } from '../core/decide.js';
import { eventId } from '../core/events.js';
import type { HandoverChange } from '../core/handover.js';
import type { Promotion } from '../core/promotion.js';
import type { Beat, ClusterEvent, ClusterState, Pause, TargetState } from '../core/state.js';
import * as transitions from '../core/transitions.js';
import { sleep } from '../time.js';
import { decodeState } from './codec.js';
import { flushOutbox, hasEvent, listEvents, pruneEvents, sameEvent } from './event-log.js';
import { conditional, lostRace, stateKey, stateUpdate, type Table, transitionInput } from './expressions.js';
import { heartbeatWrites } from './heartbeat-write.js';
import type { StateStore, TargetClaim } from './port.js';
import * as records from './target-records.js';

/** Tries of a beat's (or a pause's, a resume's) write that conflicts with another Region's write to the cluster item. */
const CONFLICT_ATTEMPTS = 4;
const CONFLICT_BACKOFF_MS = 20;
/** BatchGetItem rounds for keys DynamoDB left unprocessed (throttling) before giving up on them. */
const UNPROCESSED_ATTEMPTS = 6;

export class DynamoStateStore implements StateStore {
  private readonly table: Table;

  constructor(client: DynamoDBClient, tableName: string) {
    this.table = { client, name: tableName };
  }

  /**
   * One beat: the first of its writes (`heartbeat-write.ts`, most likely first) whose
   * condition holds, usually the first. None holds for a node's first beat (its map is
   * created, then it beats again) or for a beat that arrived after a newer one, which
   * changes nothing.
   */
  async recordHeartbeat(
    cluster: ClusterConfig,
    node: string,
    beat: Beat,
    now: number,
    region?: string,
  ): Promise<ClusterState> {
    const writes = heartbeatWrites(this.table, cluster, node, beat, now, region);
    const recorded = await this.sendFirstThatHolds(cluster.id, writes.existing);
    if (recorded !== undefined) return recorded;
    await this.initialise(cluster.id, node);
    return (await this.sendFirstThatHolds(cluster.id, writes.afterInitialise)) ?? this.load(cluster.id);
  }

  private async sendFirstThatHolds(
    clusterId: string,
    inputs: readonly UpdateItemCommandInput[],
  ): Promise<ClusterState | undefined> {
    for (const input of inputs) {
      try {
        return decodeState(clusterId, (await this.sendAgainOnConflict(input)).Attributes);
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    }
    return undefined;
  }

  /**
   * A write safe to repeat (a beat; a pause or a resume, whose condition makes it
   * idempotent), sent again when a write to the same item in another Region of a
   * multi-Region strongly consistent table was being replicated at the same moment
   * (ReplicatedWriteConflictException: nothing was written).
   */
  private async sendAgainOnConflict(input: UpdateItemCommandInput) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.table.client.send(new UpdateItemCommand(input));
      } catch (err) {
        if ((err as Error).name !== 'ReplicatedWriteConflictException' || attempt >= CONFLICT_ATTEMPTS)
          throw err;
        await sleep(Math.random() * CONFLICT_BACKOFF_MS * attempt);
      }
    }
  }

  /** Creates the cluster item (and the node's map) if missing; safe to race. */
  private async initialise(clusterId: string, node?: string): Promise<void> {
    await this.table.client.send(
      new UpdateItemCommand(
        stateUpdate(this.table, clusterId, {
          UpdateExpression:
            'SET #cluster = if_not_exists(#cluster, :id), #epoch = if_not_exists(#epoch, :zero), ' +
            '#nodes = if_not_exists(#nodes, :empty), #targets = if_not_exists(#targets, :empty), ' +
            '#outbox = if_not_exists(#outbox, :empty)',
          values: { ':id': clusterId, ':zero': 0, ':empty': {} },
        }),
      ),
    );
    if (node === undefined) return;
    await this.table.client.send(
      new UpdateItemCommand(
        stateUpdate(this.table, clusterId, {
          UpdateExpression: 'SET #nodes.#n = if_not_exists(#nodes.#n, :node)',
          names: { '#n': node },
          values: { ':node': { beats: 0, status: 'ok' } },
        }),
      ),
    );
  }

  async load(clusterId: string): Promise<ClusterState> {
    const out = await this.table.client.send(
      new GetItemCommand({ TableName: this.table.name, Key: stateKey(clusterId), ConsistentRead: true }),
    );
    return decodeState(clusterId, out.Item);
  }

  async loadMany(clusterIds: readonly string[]): Promise<Array<ClusterState | null>> {
    const found = new Map<string, ClusterState>();
    const unread = new Set<string>();
    for (let i = 0; i < clusterIds.length; i += 100) {
      const batch = clusterIds.slice(i, i + 100);
      let keys = batch.map(stateKey);
      for (let attempt = 0; keys.length > 0 && attempt < UNPROCESSED_ATTEMPTS; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt) * Math.random());
        const out = await this.table.client.send(
          // Eventually consistent (half the read cost): every write the sweep makes re-checks
          // its condition against the item itself, so a slightly old read is never acted on blindly.
          new BatchGetItemCommand({
            RequestItems: { [this.table.name]: { Keys: keys, ConsistentRead: false } },
          }),
        );
        for (const item of out.Responses?.[this.table.name] ?? []) {
          const state = decodeState('', item);
          found.set(state.cluster, state);
        }
        keys = out.UnprocessedKeys?.[this.table.name]?.Keys ?? [];
      }
      // What is still unprocessed is reported as unread, so the sweep counts it as an error.
      for (const key of keys) unread.add(String(key.pk?.S ?? '').replace(/^CLUSTER#/, ''));
    }
    return clusterIds.map((id) => (unread.has(id) ? null : (found.get(id) ?? decodeState(id, undefined))));
  }

  /**
   * Timeline of the race this guards against: sweep S and heartbeat H both read epoch 4
   * with `a` expired; both decide to promote `b`. S's write lands first (epoch 5); H's
   * write finds epoch 5 ≠ 4 and changes nothing. If instead `a` beat again between the
   * read and the write, `a`'s lastSeen is fresh and both writes fail. What the write
   * checks is the decision's guards, on this write's clock (`now`).
   */
  async commitPromotion(decision: Promotion, clusterId: string, now: number): Promise<ClusterState | null> {
    return this.commit(clusterId, transitions.promotion(decision, clusterId, now));
  }

  async commitHandover(change: HandoverChange, clusterId: string, now: number): Promise<ClusterState | null> {
    return this.commit(clusterId, transitions.handover(change, now));
  }

  async commitHold(decision: HoldDecision, clusterId: string): Promise<ClusterState | null> {
    return this.commit(clusterId, transitions.hold(decision, clusterId));
  }

  private async commit(clusterId: string, transition: transitions.Transition): Promise<ClusterState | null> {
    try {
      const input = transitionInput(this.table, clusterId, transition.update, transition.condition);
      const out = await this.table.client.send(new UpdateItemCommand(input));
      return decodeState(clusterId, out.Attributes);
    } catch (err) {
      if (!lostRace(err)) throw err;
      // Someone asked for this change and waits for the answer: tell them it was made if it
      // was. Automatic transitions need not: the caller reads back what won either way.
      return transition.event.by === undefined ? null : this.ownEarlierAttempt(clusterId, transition.event);
    }
  }

  /**
   * After a conditional write failed: the state, if it failed on its own earlier attempt
   * (the SDK sent it again after the first answer was lost), else null. A write's event
   * carries its time, kind, subject and reason, so finding that event in the outbox or the
   * event log proves the write took effect (or an identical request made at the same
   * instant did, which made the same change).
   */
  private async ownEarlierAttempt(clusterId: string, event: ClusterEvent): Promise<ClusterState | null> {
    const state = await this.load(clusterId);
    const found = sameEvent(state.outbox[eventId(event)], event) || (await hasEvent(this.table, event));
    return found ? state : null;
  }

  async clearHold(clusterId: string, expectedEpoch: number): Promise<boolean> {
    return conditional(
      this.table,
      stateUpdate(this.table, clusterId, {
        UpdateExpression: 'REMOVE #hold',
        ConditionExpression: 'attribute_exists(#hold) AND #epoch = :expected',
        values: { ':expected': expectedEpoch },
      }),
    );
  }

  flushOutbox(state: ClusterState): Promise<void> {
    return flushOutbox(this.table, state);
  }

  pruneEvents(clusterId: string, now: number, limit: number): Promise<number> {
    return pruneEvents(this.table, clusterId, now, limit);
  }

  listEvents(clusterId: string, limit: number): Promise<ClusterEvent[]> {
    return listEvents(this.table, clusterId, limit);
  }

  claimTarget(clusterId: string, targetId: string, claim: TargetClaim) {
    return records.claimTarget(this.table, clusterId, targetId, claim);
  }

  finishTarget(clusterId: string, targetId: string, result: TargetState) {
    return records.finishTarget(this.table, clusterId, targetId, result);
  }

  markTargetDrift(
    clusterId: string,
    targetId: string,
    epoch: number,
    event: ClusterEvent,
    servingVersion = 0,
  ) {
    return records.markTargetDrift(this.table, clusterId, targetId, epoch, event, servingVersion);
  }

  recordTargetDetail(
    clusterId: string,
    targetId: string,
    epoch: number,
    detail: Record<string, string>,
    servingVersion = 0,
  ) {
    return records.recordTargetDetail(this.table, clusterId, targetId, epoch, detail, servingVersion);
  }

  /** Active-active: records a new serving set (and its event), unless another worker changed it first. */
  async commitServing(clusterId: string, state: ClusterState, serving: string[], event: ClusterEvent) {
    return conditional(
      this.table,
      stateUpdate(this.table, clusterId, {
        UpdateExpression: 'SET #serving = :serving, #servingVersion = :next, #outbox.#event = :event',
        ConditionExpression: records.servingCondition(state.servingVersion),
        names: { '#event': eventId(event) },
        values: {
          ':serving': serving,
          ':next': state.servingVersion + 1,
          ':epoch': state.epoch,
          ':sv': state.servingVersion,
          ':event': event,
        },
      }),
    );
  }

  /**
   * An operator's pause or resume: false only when its condition failed. Another Region's
   * concurrent write (a beat, most often) is no answer to give the operator: as a lost race
   * it read as "already paused" while nothing was. The write is sent again instead.
   */
  private async operatorWrite(input: UpdateItemCommandInput): Promise<boolean> {
    try {
      await this.sendAgainOnConflict(input);
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /** Pauses automation, unless it is paused already (then false). */
  async setPause(clusterId: string, pause: Pause, event: ClusterEvent): Promise<boolean> {
    await this.initialise(clusterId);
    return this.operatorWrite(
      stateUpdate(this.table, clusterId, {
        UpdateExpression: 'SET #paused = :pause, #outbox.#event = :event',
        ConditionExpression: 'attribute_not_exists(#paused)',
        names: { '#event': eventId(event) },
        values: { ':pause': pause, ':event': event },
      }),
    ).then(async (done) => done || (await this.ownEarlierAttempt(clusterId, event)) !== null);
  }

  /** Resumes automation, unless it was not paused (then false). */
  async clearPause(clusterId: string, event: ClusterEvent): Promise<boolean> {
    return this.operatorWrite(
      stateUpdate(this.table, clusterId, {
        UpdateExpression: 'SET #outbox.#event = :event REMOVE #paused',
        ConditionExpression: 'attribute_exists(#paused)',
        names: { '#event': eventId(event) },
        values: { ':event': event },
      }),
    ).then(async (done) => done || (await this.ownEarlierAttempt(clusterId, event)) !== null);
  }

  /** Starts a collision episode for a node (one event per episode), or ends it. */
  async setCollision(
    clusterId: string,
    nodeId: string,
    change: { start: { since: number; claimedEpoch: number | null }; event: ClusterEvent } | null,
  ): Promise<boolean> {
    if (change === null) {
      return conditional(
        this.table,
        stateUpdate(this.table, clusterId, {
          UpdateExpression: 'REMOVE #nodes.#n.#collision',
          ConditionExpression: 'attribute_exists(#nodes.#n.#collision)',
          names: { '#n': nodeId },
        }),
      );
    }
    return conditional(
      this.table,
      stateUpdate(this.table, clusterId, {
        UpdateExpression: 'SET #nodes.#n.#collision = :collision, #outbox.#event = :event',
        ConditionExpression: 'attribute_exists(#nodes.#n) AND attribute_not_exists(#nodes.#n.#collision)',
        names: { '#n': nodeId, '#event': eventId(change.event) },
        values: { ':collision': change.start, ':event': change.event },
      }),
    );
  }
}
