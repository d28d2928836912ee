/**
 * Failsafe (safety property 7): the rules by which an active keeps its role while the
 * control plane cannot be reached, in the spirit of Patroni's failsafe_mode. Pure: times
 * are monotonic milliseconds of the agent that judges, passed in as data.
 *
 * The argument, in one timeline. The active A sends a request at `sentAt` asking for an
 * acknowledgement of `ackMs`. Each peer P that confirms promises not to act as active, and
 * tells the control plane it must not be promoted, until `receivedAt + ackMs` on its own
 * clock, which is later than `sentAt + ackMs` because the request took time to arrive. A
 * keeps the role only until `sentAt + ackMs − margin`, and only if every peer confirmed:
 * so A stops acting as active before any confirming peer may start, as long as the two
 * clocks' rates differ by less than the margin. A peer that can reach the control plane
 * refuses (the control plane is up: the ordinary lease rules apply), and so does one that
 * knows a newer epoch; so a partition that cuts only the active off still fails over.
 */
import type { ClusterConfig } from '../config.js';
import { peerUrl } from '../peer-url.js';
import { formatSeconds } from '../time.js';
import { clusterEvent } from './events.js';
import type { ClusterEvent, ClusterState, FailsafeReport } from './state.js';

export interface Peer {
  node: string;
  url: string;
}

/** The peers an agent asks, or null when failsafe does not apply (off, or a one-node cluster). */
export function failsafePeers(cluster: ClusterConfig, nodeId: string): Peer[] | null {
  if (!cluster.failsafe || cluster.nodes.length < 2) return null;
  return cluster.nodes.filter((n) => n.id !== nodeId).map((n) => ({ node: n.id, url: peerUrl(cluster, n) }));
}

/** What an active asks each peer to confirm. */
export interface ConfirmRequest {
  cluster: string;
  /** The active asking. */
  from: string;
  /** The peer asked. */
  to: string;
  /** The epoch the active holds. */
  epoch: number;
  /** How long the acknowledgement lasts: the lease. */
  ackMs: number;
  /** Fresh per request; the answer must carry it back. */
  nonce: string;
}

/** What the asked peer knows, at the moment it judges. */
export interface PeerKnowledge {
  /** The newest epoch the control plane told it of; null before its first answer. */
  epoch: number | null;
  /** The lease the control plane told it of; null before its first answer. */
  leaseMs: number | null;
  /** It acts as active itself. */
  actsAsActive: boolean;
  /** Its last heartbeat got an answer from the control plane (null: none sent yet). */
  lastBeatAnswered: boolean | null;
}

export type Verdict = { confirm: true; promiseUntil: number } | { confirm: false; reason: string };

/** A peer's answer to an active that asks it to confirm, at `now` (its monotonic clock). */
export function judgeConfirmRequest(request: ConfirmRequest, self: PeerKnowledge, now: number): Verdict {
  if (self.epoch === null || self.leaseMs === null || self.lastBeatAnswered === null) {
    return { confirm: false, reason: 'has not heard from the control plane since it started' };
  }
  if (self.epoch > request.epoch) {
    return { confirm: false, reason: `knows epoch ${self.epoch}, newer than ${request.epoch}` };
  }
  if (self.actsAsActive) return { confirm: false, reason: 'acts as active itself' };
  if (self.lastBeatAnswered) {
    return { confirm: false, reason: 'can reach the control plane, so the lease rules apply' };
  }
  if (request.ackMs > self.leaseMs) {
    return {
      confirm: false,
      reason: `was asked for ${formatSeconds(request.ackMs)}, longer than the lease (${formatSeconds(self.leaseMs)})`,
    };
  }
  return { confirm: true, promiseUntil: now + request.ackMs };
}

/** A peer's outstanding promise after confirming: the later of the two. */
export function extendPromise(current: number | null, verdict: Verdict): number | null {
  if (!verdict.confirm) return current;
  return current === null ? verdict.promiseUntil : Math.max(current, verdict.promiseUntil);
}

/** One round of requests, as the active sent it. */
export interface Round {
  sentAt: number;
  ackMs: number;
  marginMs: number;
  peers: readonly string[];
}

/**
 * Until when the active may keep its role after a round: `sentAt + ackMs − margin` if every
 * peer confirmed; null if any did not (it then demotes at its current deadline).
 */
export function keepUntil(round: Round, confirmedBy: ReadonlySet<string>): number | null {
  if (round.peers.length === 0 || !round.peers.every((p) => confirmedBy.has(p))) return null;
  return round.sentAt + round.ackMs - round.marginMs;
}

/** The event that records a failsafe episode an active reported once it could beat again. */
export function failsafeEvent(
  state: ClusterState,
  node: string,
  report: FailsafeReport,
  now: number,
): ClusterEvent {
  const from = new Date(now - report.startedMsAgo).toISOString();
  const to = new Date(now - report.endedMsAgo).toISOString();
  const peers = report.confirmedBy.length ? report.confirmedBy.join(', ') : 'nobody';
  return clusterEvent(
    state,
    'failsafe',
    `${node} kept the role at epoch ${report.epoch} in failsafe from ${from} to ${to} ` +
      `(${formatSeconds(report.startedMsAgo - report.endedMsAgo)}), confirmed by ${peers}`,
    now,
    `node:${node}`,
    node,
  );
}
