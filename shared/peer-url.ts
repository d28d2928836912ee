/**
 * Where agents reach each other's failsafe endpoint. A module of its own, without the
 * config schema: the agent needs it (through shared/core/failsafe.ts) but must not load
 * zod and the target registry to run (see docs/performance.md, agent memory).
 */
import { isIP } from 'node:net';
import type { ClusterConfig, NodeConfig } from './config.js';

/** Where the other agents of a cluster reach `node`'s failsafe endpoint. */
export function peerUrl(cluster: Pick<ClusterConfig, 'peerPort'>, node: NodeConfig): string {
  if (node.peerUrl !== undefined) return node.peerUrl.replace(/\/+$/, '');
  const host = isIP(node.address) === 6 ? `[${node.address}]` : node.address;
  return `http://${host}:${cluster.peerPort}`;
}
