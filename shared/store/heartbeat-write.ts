/**
 * A heartbeat as DynamoDB writes: the UpdateItem variants for one beat, most likely first.
 * The store sends them in order until one's condition holds (`DynamoStateStore.recordHeartbeat`).
 *
 * The normal path is one UpdateItem whose condition says "this node was already up and
 * ok"; it keeps `upSince`. Only when that fails (the node comes back, turns ok, or beats
 * for the first time) does a further variant set `upSince`. A beat that is not `ok` clears
 * `upSince` in one write. Every variant requires `lastSeen <= now`: a beat that reaches the
 * store after a newer one (a paused worker, SDK retries) is dropped, for setting lastSeen
 * back would make a live node look expired. Every variant also tells whether the control
 * plane heard any node in the last 1.5 intervals: a beat that ends a longer silence records
 * its arrival as the return (`returnedAt`), in the same write.
 */
import type { UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import type { ClusterConfig } from '../config.js';
import { heardRecently } from '../core/grace.js';
import { positionKey } from '../core/positions.js';
import type { Beat } from '../core/state.js';
import { conditionFragment, stateUpdate, type Table } from './expressions.js';

export interface HeartbeatWrites {
  /** For a node the item already holds: the first whose condition holds is the beat. */
  readonly existing: UpdateItemCommandInput[];
  /** After the cluster's item and the node's map were created (its first beat). */
  readonly afterInitialise: UpdateItemCommandInput[];
}

export function heartbeatWrites(
  table: Table,
  cluster: ClusterConfig,
  node: string,
  beat: Beat,
  now: number,
  region?: string,
): HeartbeatWrites {
  const status = beat.status ?? 'ok';
  const fields: Record<string, unknown> = {
    version: beat.version,
    position: beat.position,
    positionKey: beat.position === undefined ? undefined : positionKey(beat.position),
    lagSeconds: beat.lagSeconds,
  };
  const given = Object.keys(fields).filter((f) => fields[f] !== undefined);
  // Position and lag describe the beat they came with: a beat without them clears them, so
  // the sync gate never judges a stale value. The version is kept until it changes.
  const perBeat = ['position', 'positionKey', 'lagSeconds'].filter((f) => fields[f] === undefined);
  const set = [
    // Right-hand sides read the item before this update: prevSeen gets the previous beat.
    '#nodes.#n.#prevSeen = if_not_exists(#nodes.#n.#lastSeen, :now)',
    '#nodes.#n.#lastSeen = :now',
    '#nodes.#n.#status = :status',
    '#nodes.#n.#beats = if_not_exists(#nodes.#n.#beats, :zero) + :one',
    ...given.map((f) => `#nodes.#n.#${f} = :${f}`),
    ...(beat.role === undefined ? [] : ['#nodes.#n.#claimedRole = :role']),
    ...(beat.epoch === undefined ? [] : ['#nodes.#n.#claimedEpoch = :epoch']),
    ...(beat.promiseMs === undefined ? [] : ['#nodes.#n.#promisedUntil = :promisedUntil']),
    ...(beat.steppedDown === undefined ? [] : ['#nodes.#n.#steppedDown = :steppedDown']),
    ...(region === undefined ? [] : ['#nodes.#n.#region = :region']),
    ...(beat.previousToken ? ['#nodes.#n.#previousToken = :true'] : []),
  ];
  const remove = [
    ...perBeat.map((f) => `#nodes.#n.#${f}`),
    ...(beat.role === undefined ? ['#nodes.#n.#claimedRole'] : []),
    ...(beat.epoch === undefined ? ['#nodes.#n.#claimedEpoch'] : []),
    ...(beat.promiseMs === undefined ? ['#nodes.#n.#promisedUntil'] : []),
    ...(beat.steppedDown === undefined ? ['#nodes.#n.#steppedDown'] : []),
    ...(beat.previousToken ? [] : ['#nodes.#n.#previousToken']),
  ];
  // Whether the control plane heard any node lately decides, inside the write, whether this
  // beat ends a silence: then it records the return (`returnedAt`, see grace.ts) itself.
  const heard = conditionFragment(heardRecently(cluster, now));
  const write = (extraSet: string[], extraRemove: string[], condition: string, returning: boolean) =>
    stateUpdate(table, cluster.id, {
      UpdateExpression: [
        `SET ${[...set, ...extraSet, ...(returning ? ['#returnedAt = :now'] : [])].join(', ')}`,
        ...([...remove, ...extraRemove].length ? [`REMOVE ${[...remove, ...extraRemove].join(', ')}`] : []),
      ].join(' '),
      ConditionExpression: `${condition} AND ${returning ? `(NOT ${heard.expression})` : heard.expression}`,
      names: { '#n': node, ...heard.names },
      values: {
        ':now': now,
        ':status': status,
        ':zero': 0,
        ':one': 1,
        ...Object.fromEntries(given.map((f) => [`:${f}`, fields[f]])),
        ':role': beat.role,
        ':epoch': beat.epoch,
        ':true': beat.previousToken,
        // Counted from arrival, not from sending: never earlier than the agent's own expiry.
        ':promisedUntil': beat.promiseMs === undefined ? undefined : now + beat.promiseMs,
        ':steppedDown': beat.steppedDown,
        ':region': region,
        ...(condition.includes(':aliveSince') ? { ':aliveSince': now - cluster.leaseMs, ':ok': 'ok' } : {}),
        ...heard.values,
      },
      ReturnValues: 'ALL_NEW',
    });
  // The item and this node's map exist once the cluster has been initialised.
  const notNewer = '(attribute_not_exists(#nodes.#n.#lastSeen) OR #nodes.#n.#lastSeen <= :now)';
  const exists = `attribute_exists(#nodes.#n) AND ${notNewer}`;
  const steady =
    'attribute_exists(#nodes.#n.#upSince) AND #nodes.#n.#lastSeen >= :aliveSince AND #nodes.#n.#status = :ok AND #nodes.#n.#lastSeen <= :now';
  const fallback = (returning: boolean) =>
    status === 'ok'
      ? write(['#nodes.#n.#upSince = :now'], [], exists, returning)
      : write([], ['#nodes.#n.#upSince'], exists, returning);
  const upAlready = (returning: boolean) => write([], [], steady, returning);
  // Most likely first: a node already up, in a cluster the control plane has been hearing.
  // "Heard lately" can only turn true meanwhile (another node's beat landing between two
  // tries), so the heard variants are tried once more after the returning ones.
  const inOrder = (variants: ((returning: boolean) => UpdateItemCommandInput)[]) => [
    ...variants.map((v) => v(false)),
    ...variants.map((v) => v(true)),
    ...variants.map((v) => v(false)),
  ];
  return {
    existing: inOrder(status === 'ok' ? [upAlready, fallback] : [fallback]),
    afterInitialise: inOrder([fallback]),
  };
}
