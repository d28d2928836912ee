/**
 * A chaos history: what happened in one run, as plain data the checker reads. `at` is
 * true (simulated) time; `now` is the clock of the worker that acted, which may run up to
 * the skew bound ahead of true time. The control plane only ever compares its own clocks'
 * readings with each other, so the store's clock is the `now` each write was made with.
 */
import type { PromotionCause } from '../../shared/core/promotion.js';
import type { NodeStatus } from '../../shared/core/state.js';

export interface History {
  rules: {
    nodes: readonly string[];
    intervalMs: number;
    leaseMs: number;
    /** The sync gate, when the cluster has one. */
    maxLagSeconds?: number;
    /** Control-plane clocks differ from each other by at most this much. */
    skewBoundMs: number;
  };
  ops: OpRecord[];
  /** Every promoting write that was applied, in the order the store applied them. */
  promotions: PromotionRecord[];
  /** Every heartbeat answer the control plane gave (delivered or not). */
  answers: AnswerRecord[];
  /** When each simulated agent believed it was active. */
  beliefs: BeliefRecord[];
  /** Target applies, in the order they finished: the last one is where traffic goes. */
  applies: ApplyRecord[];
  /** Control-plane outages: no request reached any worker, no sweep ran. */
  outages: Array<{ from: number; to: number }>;
  /** Beats an agent sent during an outage: renewals the outage swallowed. */
  lostBeats: Array<{ agent: string; at: number }>;
  /** When an agent could not beat of its own accord (crashed, cut off, or stopped). */
  agentDown: Array<{ agent: string; from: number; to: number }>;
  final: FinalRecord;
}

export type OpKind = 'beat' | 'sweep' | 'switchover' | 'pause' | 'resume' | 'rejected';

export interface OpRecord {
  id: number;
  kind: OpKind;
  worker: number;
  node?: string;
  invokedAt: number;
  completedAt: number;
  /** The same two instants on the worker's own clock. */
  clock: { invoked: number; completed: number };
  /** HTTP status for API calls; absent for sweeps. */
  status?: number;
  /** What was thrown (a sweep) or the error body (an API call), if anything. */
  error?: string;
  /** The state-changing store calls this operation made, and whether each one took effect. */
  writes: WriteRecord[];
  /** A second delivery of the same invocation (Lambda at-least-once). */
  duplicateOf?: number;
}

export interface WriteRecord {
  method: string;
  at: number;
  applied: boolean;
}

/** Node fields as they were at the instant of a promoting write (its ALL_NEW image). */
export interface NodeAtWrite {
  lastSeen?: number;
  status: NodeStatus;
  promisedUntil?: number;
  lagSeconds?: number;
}

export interface PromotionRecord {
  op: number;
  at: number;
  /** The writer's clock: what the write's guards were judged on. */
  now: number;
  epoch: number;
  from: string | null;
  to: string;
  cause: PromotionCause;
  by?: string;
  nodes: Record<string, NodeAtWrite>;
}

export interface AnswerRecord {
  op: number;
  node: string;
  at: number;
  role: 'active' | 'standby';
  epoch: number;
  active: string | null;
}

export interface BeliefRecord {
  agent: string;
  epoch: number;
  from: number;
  to: number;
  /**
   * The agent was paused (stopped process) past its deadline: it could not run its own
   * demotion, so work it had started may still carry this epoch. Allowed only while a
   * higher epoch fences it.
   */
  fenced: boolean;
}

export interface ApplyRecord {
  epoch: number;
  active: string;
  startedAt: number;
  finishedAt: number;
}

export interface FinalRecord {
  /** After this, no operation had a fault and every delayed one had finished. */
  quietAt: number;
  /** The one sweep after the faults, with every target claim expired. */
  sweepAt: number;
  epoch: number;
  active: string | null;
  /** The event log's `promoted` events. */
  promotedEvents: Array<{ epoch: number; active: string | null }>;
  /** The cluster record's view of each target after that sweep. */
  targets: Record<string, { epoch: number; state: string }>;
}
