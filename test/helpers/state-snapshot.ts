/**
 * The whole stored state of a cluster served by a local server, read from its storage
 * rather than through the API, so the checks under test cannot hide a change: the cluster
 * record (every node's beats, the epoch, pause, hold, targets, outbox) and its event log.
 */
import type { LocalServer } from '../../cli/local-server.js';
import type { ClusterEvent, ClusterState } from '../../shared/core/state.js';
import { DynamoStateStore } from '../../shared/store/dynamo-store.js';

export interface StateSnapshot {
  state: ClusterState;
  events: ClusterEvent[];
}

export async function stateSnapshot(server: LocalServer, clusterId: string): Promise<StateSnapshot> {
  const store = new DynamoStateStore(server.dynamo.client, server.dynamo.table);
  return { state: await store.load(clusterId), events: await store.listEvents(clusterId, 500) };
}
