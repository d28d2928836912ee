/**
 * DynamoDB adapter for StateStore. One table, two kinds of item:
 *
 *   pk = CLUSTER#<id>, sk = STATE          the cluster: epoch, active, nodes.<id>, targets.<id>, hold, outbox
 *   pk = CLUSTER#<id>, sk = EVENT#<epoch>#… the immutable event log (see `eventKey`), TTL `expiresAt`
 *
 * Node records are nested in the cluster item so that a heartbeat is one UpdateItem whose
 * ALL_NEW result is the whole cluster: the heartbeat path reads nothing.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ResourceInUseException,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ClusterConfig } from './config.js';
import {
  type Beat,
  type ClusterEvent,
  type ClusterState,
  emptyState,
  eventKey,
  holdEvent,
  type Pause,
  promotionEvent,
  type TargetState,
} from './core.js';
import type { HoldDecision, PromoteDecision, StateStore } from './store.js';

const STATE_SK = 'STATE';
const EVENT_PREFIX = 'EVENT#';
/** Events expire after this long (the table's TTL attribute is `expiresAt`, in seconds). */
const EVENT_RETENTION_SECONDS = 90 * 24 * 3600;

const pk = (clusterId: string) => `CLUSTER#${clusterId}`;
const stateKey = (clusterId: string) => marshall({ pk: pk(clusterId), sk: STATE_SK });
const values = (v: Record<string, unknown>) => marshall(v, { removeUndefinedValues: true });

export class DynamoStateStore implements StateStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  /**
   * The normal path is one UpdateItem whose condition says "this node was already up and
   * ok"; it keeps `upSince`. Only when that fails (the node comes back, turns ok, or beats
   * for the first time) does a second write set `upSince` (and, for a brand-new cluster or
   * node, create the maps first). A beat that is not `ok` clears `upSince` in one write.
   */
  async recordHeartbeat(
    cluster: ClusterConfig,
    node: string,
    beat: Beat,
    now: number,
  ): Promise<ClusterState> {
    const status = beat.status ?? 'ok';
    const optional = (['version', 'position', 'lagSeconds'] as const).filter((f) => beat[f] !== undefined);
    // Position and lag describe the beat they came with: a beat without them clears them, so
    // the sync gate never judges a stale value. The version is kept until it changes.
    const perBeat = (['position', 'lagSeconds'] as const).filter((f) => beat[f] === undefined);
    const set = [
      '#nodes.#n.#lastSeen = :now',
      '#nodes.#n.#status = :status',
      '#nodes.#n.#beats = if_not_exists(#nodes.#n.#beats, :zero) + :one',
      ...optional.map((f) => `#nodes.#n.#${f} = :${f}`),
      ...(beat.role === undefined ? [] : ['#nodes.#n.#claimedRole = :role']),
      ...(beat.epoch === undefined ? [] : ['#nodes.#n.#claimedEpoch = :epoch']),
    ];
    const remove = [
      ...perBeat.map((f) => `#nodes.#n.#${f}`),
      ...(beat.role === undefined ? ['#nodes.#n.#claimedRole'] : []),
      ...(beat.epoch === undefined ? ['#nodes.#n.#claimedEpoch'] : []),
    ];
    const write = (extraSet: string[], extraRemove: string[], condition: string) =>
      this.update(cluster.id, {
        UpdateExpression: [
          `SET ${[...set, ...extraSet].join(', ')}`,
          ...([...remove, ...extraRemove].length ? [`REMOVE ${[...remove, ...extraRemove].join(', ')}`] : []),
        ].join(' '),
        ConditionExpression: condition,
        names: { '#n': node },
        values: {
          ':now': now,
          ':status': status,
          ':zero': 0,
          ':one': 1,
          ':version': beat.version,
          ':position': beat.position,
          ':lagSeconds': beat.lagSeconds,
          ':role': beat.role,
          ':epoch': beat.epoch,
          ...(condition.includes(':aliveSince') ? { ':aliveSince': now - cluster.leaseMs, ':ok': 'ok' } : {}),
        },
        ReturnValues: 'ALL_NEW',
      });
    const send = async (input: UpdateItemCommandInput) =>
      toState(cluster.id, (await this.client.send(new UpdateItemCommand(input))).Attributes);
    // The item and this node's map exist once the cluster has been initialised.
    const exists = 'attribute_exists(#nodes.#n)';
    const fallback =
      status === 'ok'
        ? write(['#nodes.#n.#upSince = :now'], [], exists)
        : write([], ['#nodes.#n.#upSince'], exists);
    const attempts =
      status === 'ok'
        ? [
            write(
              [],
              [],
              'attribute_exists(#nodes.#n.#upSince) AND #nodes.#n.#lastSeen >= :aliveSince AND #nodes.#n.#status = :ok',
            ),
            fallback,
          ]
        : [fallback];
    for (const input of attempts) {
      try {
        return await send(input);
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    }
    // First beat of this cluster or node: create the missing maps, then beat again.
    await this.initialise(cluster.id, node);
    return send(fallback);
  }

  /** Creates the cluster item (and the node's map) if missing; safe to race. */
  private async initialise(clusterId: string, node?: string): Promise<void> {
    await this.client.send(
      new UpdateItemCommand(
        this.update(clusterId, {
          UpdateExpression:
            'SET #cluster = if_not_exists(#cluster, :id), #epoch = if_not_exists(#epoch, :zero), ' +
            '#nodes = if_not_exists(#nodes, :empty), #targets = if_not_exists(#targets, :empty), ' +
            '#outbox = if_not_exists(#outbox, :empty)',
          values: { ':id': clusterId, ':zero': 0, ':empty': {} },
        }),
      ),
    );
    if (node === undefined) return;
    await this.client.send(
      new UpdateItemCommand(
        this.update(clusterId, {
          UpdateExpression: 'SET #nodes.#n = if_not_exists(#nodes.#n, :node)',
          names: { '#n': node },
          values: { ':node': { beats: 0, status: 'ok' } },
        }),
      ),
    );
  }

  async load(clusterId: string): Promise<ClusterState> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.table, Key: stateKey(clusterId), ConsistentRead: true }),
    );
    return toState(clusterId, out.Item);
  }

  async loadMany(clusterIds: readonly string[]): Promise<ClusterState[]> {
    const found = new Map<string, ClusterState>();
    for (let i = 0; i < clusterIds.length; i += 100) {
      let keys = clusterIds.slice(i, i + 100).map(stateKey);
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt) * Math.random());
        const out = await this.client.send(
          // Eventually consistent (half the read cost): every write the sweep makes re-checks
          // its condition against the item itself, so a slightly old read is never acted on blindly.
          new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: false } } }),
        );
        for (const item of out.Responses?.[this.table] ?? []) {
          const state = toState('', item);
          found.set(state.cluster, state);
        }
        keys = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return clusterIds.map((id) => found.get(id) ?? emptyState(id));
  }

  /**
   * Timeline of the race this guards against: sweep S and heartbeat H both read epoch 4
   * with `a` expired; both decide to promote `b`. S's write lands first (epoch 5); H's
   * write finds epoch 5 ≠ 4 and changes nothing. If instead `a` beat again between the
   * read and the write, `a`'s lastSeen is fresh and both writes fail.
   */
  async commitPromotion(
    decision: PromoteDecision,
    clusterId: string,
    now: number,
  ): Promise<ClusterState | null> {
    const event = promotionEvent(clusterId, decision, now);
    const g = decision.guards;
    const from = decision.from;
    // Each clause re-checks, at write time and on this write's clock, what the decision assumed.
    const clauses = [
      // Nobody else has changed the active since the state was read.
      '#epoch = :expected',
      // The candidate is alive now (safety property 2), and ok unless an operator forced it.
      '#nodes.#to.#lastSeen >= :aliveSince',
      g.candidateOk ? '#nodes.#to.#status = :ok' : null,
      // A failover: the active has not renewed since (or there is none yet).
      g.activeDown && from !== null
        ? '(#nodes.#from.#lastSeen < :aliveSince OR #nodes.#from.#status <> :ok)'
        : null,
      from === null ? 'attribute_not_exists(#active)' : null,
      // A preferred failback: the active is still healthy, and the candidate has been up for the hold-down.
      g.activeHealthy && from !== null
        ? '#nodes.#from.#lastSeen >= :aliveSince AND #nodes.#from.#status = :ok'
        : null,
      g.upBefore !== undefined ? '#nodes.#to.#upSince <= :upBefore' : null,
      // The sync gate and the version rule.
      g.maxLagSeconds !== undefined ? '#nodes.#to.#lagSeconds <= :maxLag' : null,
      g.minPosition !== undefined ? '#nodes.#to.#position >= :minPosition' : null,
      g.version !== undefined ? '#nodes.#to.#version = :version' : null,
      g.notPaused ? 'attribute_not_exists(#paused)' : null,
    ].filter((c): c is string => c !== null);
    const used = (token: string) => clauses.some((c) => c.includes(token));
    try {
      const out = await this.client.send(
        new UpdateItemCommand(
          this.update(clusterId, {
            UpdateExpression:
              'SET #epoch = :epoch, #active = :to, #activeSince = :now, #lastTransition = :event, ' +
              '#recentAutomatic = :recent, #outbox.#event = :event REMOVE #hold',
            ConditionExpression: clauses.join(' AND '),
            names: {
              '#to': decision.to,
              '#event': eventKey(event),
              ...(used('#from') && from !== null ? { '#from': from } : {}),
            },
            values: {
              ':expected': decision.expectedEpoch,
              ':epoch': event.epoch,
              ':to': decision.to,
              ':now': now,
              ':event': event,
              ':recent': decision.recentAutomatic,
              // Liveness is judged on the clock of this write, not of the decision.
              ':aliveSince': now - decision.leaseMs,
              ...(used(':ok') ? { ':ok': 'ok' } : {}),
              ...(used(':upBefore') ? { ':upBefore': g.upBefore } : {}),
              ...(used(':maxLag') ? { ':maxLag': g.maxLagSeconds } : {}),
              ...(used(':minPosition') ? { ':minPosition': g.minPosition } : {}),
              ...(used(':version') ? { ':version': g.version } : {}),
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return toState(clusterId, out.Attributes);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return null;
      throw err;
    }
  }

  async commitHold(decision: HoldDecision, clusterId: string): Promise<ClusterState | null> {
    const event = holdEvent(clusterId, decision);
    try {
      const out = await this.client.send(
        new UpdateItemCommand(
          this.update(clusterId, {
            UpdateExpression: 'SET #hold = :hold, #outbox.#event = :event',
            ConditionExpression:
              '#epoch = :expected AND (attribute_not_exists(#hold) OR #hold.#code <> :code)',
            names: { '#event': eventKey(event) },
            values: {
              ':hold': decision.hold,
              ':event': event,
              ':expected': decision.expectedEpoch,
              ':code': decision.hold.code,
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return toState(clusterId, out.Attributes);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return null;
      throw err;
    }
  }

  async clearHold(clusterId: string, expectedEpoch: number): Promise<boolean> {
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'REMOVE #hold',
        ConditionExpression: 'attribute_exists(#hold) AND #epoch = :expected',
        values: { ':expected': expectedEpoch },
      }),
    );
  }

  async flushOutbox(state: ClusterState): Promise<void> {
    for (const [key, event] of Object.entries(state.outbox)) {
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: values({
              pk: pk(state.cluster),
              sk: key,
              ...event,
              expiresAt: Math.floor(event.at / 1000) + EVENT_RETENTION_SECONDS,
            }),
            ConditionExpression: 'attribute_not_exists(sk)',
          }),
        );
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        // Already copied by another worker: the event log is append-once per key.
      }
      await this.client.send(
        new UpdateItemCommand(
          this.update(state.cluster, { UpdateExpression: 'REMOVE #outbox.#event', names: { '#event': key } }),
        ),
      );
    }
  }

  async claimTarget(
    clusterId: string,
    targetId: string,
    epoch: number,
    now: number,
    until: number,
    servingVersion = 0,
  ) {
    const claim: TargetState = { epoch, servingVersion, state: 'applying', at: now, until, attempts: 0 };
    const g = generation(servingVersion);
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #targets.#t = :claim',
        ConditionExpression:
          `${g.clusterIs} AND (attribute_not_exists(#targets.#t) OR ${g.recordOlder} OR (${g.recordSame} AND ` +
          '(#targets.#t.#state IN (:failed, :stale) OR (#targets.#t.#state = :applying AND #targets.#t.#until < :now))))',
        names: { '#t': targetId },
        values: {
          ':claim': claim,
          ':epoch': epoch,
          ':sv': servingVersion,
          ':now': now,
          ':failed': 'failed',
          ':stale': 'stale',
          ':applying': 'applying',
        },
      }),
    );
  }

  async finishTarget(clusterId: string, targetId: string, result: TargetState) {
    const names = { '#t': targetId };
    const g = generation(result.servingVersion ?? 0);
    const versions = { ':epoch': result.epoch, ':sv': result.servingVersion ?? 0 };
    const recorded = await this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #targets.#t = :result',
        ConditionExpression: `${g.recordSame} AND #targets.#t.#state = :applying`,
        names,
        values: { ':result': result, ':applying': 'applying', ...versions },
      }),
    );
    if (recorded) return 'recorded';
    await this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #targets.#t.#state = :stale',
        ConditionExpression: g.recordNewer,
        names,
        values: { ':stale': 'stale', ...versions },
      }),
    );
    return 'superseded';
  }

  /** Active-active: records a new serving set (and its event), unless another worker changed it first. */
  async commitServing(clusterId: string, state: ClusterState, serving: string[], event: ClusterEvent) {
    const g = generation(state.servingVersion);
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #serving = :serving, #servingVersion = :next, #outbox.#event = :event',
        ConditionExpression: `${g.clusterIs}`,
        names: { '#event': eventKey(event) },
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

  /** Pauses automation, unless it is paused already (then false). */
  async setPause(clusterId: string, pause: Pause, event: ClusterEvent): Promise<boolean> {
    await this.initialise(clusterId);
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #paused = :pause, #outbox.#event = :event',
        ConditionExpression: 'attribute_not_exists(#paused)',
        names: { '#event': eventKey(event) },
        values: { ':pause': pause, ':event': event },
      }),
    );
  }

  /** Resumes automation, unless it was not paused (then false). */
  async clearPause(clusterId: string, event: ClusterEvent): Promise<boolean> {
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #outbox.#event = :event REMOVE #paused',
        ConditionExpression: 'attribute_exists(#paused)',
        names: { '#event': eventKey(event) },
        values: { ':event': event },
      }),
    );
  }

  /** Starts a collision episode for a node (one event per episode), or ends it. */
  async setCollision(
    clusterId: string,
    nodeId: string,
    change: { start: { since: number; claimedEpoch: number | null }; event: ClusterEvent } | null,
  ): Promise<boolean> {
    if (change === null) {
      return this.conditional(
        this.update(clusterId, {
          UpdateExpression: 'REMOVE #nodes.#n.#collision',
          ConditionExpression: 'attribute_exists(#nodes.#n.#collision)',
          names: { '#n': nodeId },
        }),
      );
    }
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #nodes.#n.#collision = :collision, #outbox.#event = :event',
        ConditionExpression: 'attribute_exists(#nodes.#n) AND attribute_not_exists(#nodes.#n.#collision)',
        names: { '#n': nodeId, '#event': eventKey(change.event) },
        values: { ':collision': change.start, ':event': change.event },
      }),
    );
  }

  async markTargetDrift(
    clusterId: string,
    targetId: string,
    epoch: number,
    event: ClusterEvent,
    servingVersion = 0,
  ) {
    const g = generation(servingVersion);
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #targets.#t.#state = :stale, #outbox.#event = :event',
        ConditionExpression: `${g.clusterIs} AND ${g.recordSame} AND #targets.#t.#state = :applied`,
        names: { '#t': targetId, '#event': eventKey(event) },
        values: {
          ':stale': 'stale',
          ':applied': 'applied',
          ':epoch': epoch,
          ':sv': servingVersion,
          ':event': event,
        },
      }),
    );
  }

  async recordTargetDetail(
    clusterId: string,
    targetId: string,
    epoch: number,
    detail: Record<string, string>,
    servingVersion = 0,
  ) {
    return this.conditional(
      this.update(clusterId, {
        UpdateExpression: 'SET #targets.#t.#detail = :detail',
        ConditionExpression: generation(servingVersion).recordSame,
        names: { '#t': targetId },
        values: { ':detail': detail, ':epoch': epoch, ':sv': servingVersion },
      }),
    );
  }

  async listEvents(clusterId: string, limit: number): Promise<ClusterEvent[]> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: values({ ':pk': pk(clusterId), ':prefix': EVENT_PREFIX }),
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((item) => {
      const { pk: _pk, sk: _sk, expiresAt: _ttl, ...event } = unmarshall(item);
      return event as ClusterEvent;
    });
  }

  /**
   * An UpdateItem on a cluster's state item. Every attribute name in the expressions is
   * written as `#name` (so reserved words never bite); `#name` maps to `name` unless
   * `names` maps it to a dynamic key such as a node id.
   */
  private update(
    clusterId: string,
    input: {
      UpdateExpression: string;
      ConditionExpression?: string;
      names?: Record<string, string>;
      values?: Record<string, unknown>;
      ReturnValues?: 'ALL_NEW';
    },
  ): UpdateItemCommandInput {
    const { names = {}, values: vals, ...rest } = input;
    const tokens = `${input.UpdateExpression} ${input.ConditionExpression ?? ''}`.match(/#\w+/g) ?? [];
    const attributeNames = Object.fromEntries(tokens.map((t) => [t, names[t] ?? t.slice(1)]));
    return {
      TableName: this.table,
      Key: stateKey(clusterId),
      ...rest,
      ExpressionAttributeNames: attributeNames,
      ...(vals ? { ExpressionAttributeValues: values(vals) } : {}),
    };
  }

  private async conditional(input: UpdateItemCommandInput): Promise<boolean> {
    try {
      await this.client.send(new UpdateItemCommand(input));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}

/** Creates the table if it does not exist (local server and tests; CDK owns it in AWS). */
export async function createTable(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
}

/**
 * Condition clauses ordering target records by (epoch, servingVersion), with `:epoch` and
 * `:sv` as the version at hand. servingVersion stays 0 in active-passive mode, where it
 * may be absent from older items.
 */
function generation(servingVersion: number) {
  const zero = servingVersion === 0;
  const recordSv = '#targets.#t.#servingVersion';
  return {
    /** The cluster is at exactly this version. */
    clusterIs: zero
      ? '#epoch = :epoch AND (attribute_not_exists(#servingVersion) OR #servingVersion = :sv)'
      : '#epoch = :epoch AND #servingVersion = :sv',
    recordOlder: zero
      ? '#targets.#t.#epoch < :epoch'
      : `(#targets.#t.#epoch < :epoch OR (#targets.#t.#epoch = :epoch AND (attribute_not_exists(${recordSv}) OR ${recordSv} < :sv)))`,
    recordSame: zero
      ? `#targets.#t.#epoch = :epoch AND (attribute_not_exists(${recordSv}) OR ${recordSv} = :sv)`
      : `#targets.#t.#epoch = :epoch AND ${recordSv} = :sv`,
    recordNewer: `(#targets.#t.#epoch > :epoch OR (#targets.#t.#epoch = :epoch AND ${recordSv} > :sv))`,
  };
}

function toState(clusterId: string, item: Record<string, AttributeValue> | undefined): ClusterState {
  if (item === undefined) return emptyState(clusterId);
  const raw = unmarshall(item);
  return {
    cluster: raw.cluster ?? clusterId,
    epoch: raw.epoch ?? 0,
    active: raw.active ?? null,
    activeSince: raw.activeSince ?? null,
    nodes: raw.nodes ?? {},
    targets: raw.targets ?? {},
    hold: raw.hold ?? null,
    paused: raw.paused ?? null,
    recentAutomatic: raw.recentAutomatic ?? [],
    serving: raw.serving ?? [],
    servingVersion: raw.servingVersion ?? 0,
    lastTransition: raw.lastTransition ?? null,
    outbox: raw.outbox ?? {},
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
