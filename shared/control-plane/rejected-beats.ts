/**
 * Heartbeats refused with 401, counted per configured node by this process and logged at
 * most once a minute per node, never with the token. An agent with another node's token,
 * or pointed at the wrong --cluster or --node, shows up in status and in the log instead of
 * only in its own output.
 *
 * Counts live in memory: the local server answers heartbeats and status in one process, so
 * its status shows them. In AWS the heartbeat function logs them; the admin function's
 * status has none of its own to show.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

export type RejectionCause = 'missing token' | 'wrong token' | 'unknown node' | 'unknown cluster';

export interface RejectedBeatsView {
  node: string;
  count: number;
  /** Last rejection, ISO 8601. */
  last: string;
}

interface Tally {
  count: number;
  last: number;
  loggedAt: number | null;
  /** Rejections since the last log line. */
  unlogged: number;
}

/** Ids from a refused request's path are the caller's: shown only if they look like ids. */
const ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const shown = (id: string) => (ID.test(id) ? `'${id}'` : '(not a valid id)');

export class RejectedBeats {
  /** Keyed by cluster/node for configured nodes; one key per cluster, and one overall, for the rest. */
  private readonly tallies = new Map<string, Tally>();

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly logEveryMs = 60_000,
  ) {}

  record(clusterId: string, nodeId: string, cause: RejectionCause, now: number): void {
    const cluster = this.config.clusters.find((c) => c.id === clusterId);
    const known = cluster?.nodes.some((n) => n.id === nodeId) === true;
    const key = known ? `${clusterId}/${nodeId}` : cluster ? `${clusterId}/?` : '?';
    const tally = this.tallies.get(key) ?? { count: 0, last: now, loggedAt: null, unlogged: 0 };
    this.tallies.set(key, tally);
    tally.count += 1;
    tally.last = now;
    tally.unlogged += 1;
    if (tally.loggedAt !== null && now - tally.loggedAt < this.logEveryMs) return;
    const target = known
      ? `${clusterId}/${nodeId}`
      : cluster
        ? `node ${shown(nodeId)} of cluster ${clusterId}`
        : `cluster ${shown(clusterId)}`;
    const repeats = tally.unlogged > 1 ? ` (${tally.unlogged} since the last report)` : '';
    this.logger.warn(
      `rejected a heartbeat for ${target}: ${cause}${repeats}; check the agent's token, --cluster and --node`,
      { rejectedBeats: tally.count },
    );
    tally.loggedAt = now;
    tally.unlogged = 0;
  }

  /** The configured nodes of a cluster with rejected beats, in config order. */
  of(clusterId: string): RejectedBeatsView[] {
    const cluster = this.config.clusters.find((c) => c.id === clusterId);
    return (cluster?.nodes ?? []).flatMap((node) => {
      const tally = this.tallies.get(`${clusterId}/${node.id}`);
      return tally ? [{ node: node.id, count: tally.count, last: new Date(tally.last).toISOString() }] : [];
    });
  }
}
