/**
 * The promotion rules, one entry each. A decision carries the guards it relied on; each
 * guard says, as one `Condition`, what must still be true at the moment of the write that
 * promotes. The core evaluates the same conditions in memory (`eligibility`, `decide`),
 * and the store renders them as the promoting write's condition expression: a rule is
 * written once, and what the write re-checks is exactly what the core judged.
 *
 * Time-relative guards take `now` when they are evaluated, so the write judges liveness
 * on its own clock, not on the clock of the decision (safety property 2).
 */

import { formatSeconds } from '../time.js';
import { and, type Condition, compare, holds, missing, never, not, or, type Path } from './condition.js';
import { orderKey, positionSpan, positionUnits } from './positions.js';
import { assertNever, type ClusterState } from './state.js';

/** Where a position gate's reference came from: the active's last position, or the most advanced one. */
export interface PositionReference {
  /** The reference as a position key. */
  key: string;
  /** The active at decision time (its position is the reference when it reports one). */
  active: string | null;
  /** Every node of the cluster (any of them may hold the most advanced position). */
  nodes: readonly string[];
}

export type Guard =
  /** Nobody changed the active since the state was read. */
  | { rule: 'epoch'; epoch: number }
  /** There is no active yet. */
  | { rule: 'no-active' }
  /** The node beat within the lease. */
  | { rule: 'alive'; node: string; leaseMs: number }
  /** The node reports `ok`. */
  | { rule: 'ok'; node: string }
  /** Sync gate: the node reports a lag of at most `max` seconds. */
  | { rule: 'lag'; node: string; max: number }
  /** Sync gate: the node's position is at most `limit` behind the reference (null: none is comparable). */
  | { rule: 'position'; node: string; limit: number; reference: PositionReference | null }
  /** requireSameVersion: the node runs the active's version (null: the active reports none). */
  | { rule: 'version'; node: string; active: string; version: string | null }
  /**
   * The active may be replaced automatically: it is not healthy, and automation is not
   * paused (a maintenance handover is planned, so it goes ahead while paused). With
   * `plannedOnly` (the flap guard is at its limit) only a maintenance handover may go ahead.
   */
  | { rule: 'failover'; active: string; leaseMs: number; plannedOnly?: true }
  /** Preferred failback: the active is still healthy (a failback must not race a failover). */
  | { rule: 'active-healthy'; active: string; leaseMs: number }
  /** Preferred failback: the node has been up and ok for the hold-down. */
  | { rule: 'up-for'; node: string; ms: number }
  /** Automation is not paused. */
  | { rule: 'not-paused' }
  /**
   * The return-from-absence grace is over: no hold forbids automatic promotions until a
   * later time, the last return (`returnedAt`) is a lease ago, and some node beat within
   * `silenceMs` (a write right after a return that no beat has recorded yet must not promote).
   */
  | { rule: 'no-grace'; leaseMs: number; silenceMs: number; nodes: readonly string[] }
  /** Failsafe: the node has no outstanding promise to a peer not to act as active. */
  | { rule: 'no-promise'; node: string }
  /** Demote-first: no handover is in progress. */
  | { rule: 'no-handover' }
  /** Demote-first: the handover recorded at `since` is still the one pending. */
  | { rule: 'handover'; since: number }
  /** Demote-first: the old active confirmed, in a beat after `since`, that it stepped down from `epoch`. */
  | { rule: 'stepped-down'; node: string; epoch: number; since: number }
  /** Demote-first: the handover's deadline has passed (the old active's lease has run out). */
  | { rule: 'handover-expired' };

export type Rule = Guard['rule'];

const nodePath = (id: string, field: string): Path => ['nodes', id, field];

/** Alive: now − lastSeen ≤ lease, i.e. lastSeen ≥ now − lease (inclusive at exactly the lease). */
export function alive(node: string, leaseMs: number, now: number): Condition {
  return compare(nodePath(node, 'lastSeen'), '>=', now - leaseMs);
}

/** Some node of `nodes` beat within `ms` before `now`: the control plane was hearing the cluster. */
export function heardWithin(nodes: readonly string[], ms: number, now: number): Condition {
  return or(...nodes.map((id) => compare(nodePath(id, 'lastSeen'), '>=', now - ms)));
}

export function reportsStatus(node: string, status: string): Condition {
  return compare(nodePath(node, 'status'), '=', status);
}

/** Alive and `ok`: the only nodes that may be promoted automatically or stay active. */
export function healthy(node: string, leaseMs: number, now: number): Condition {
  return and(alive(node, leaseMs, now), reportsStatus(node, 'ok'));
}

/** Alive and reporting maintenance: a planned handover. */
export function inMaintenance(node: string, leaseMs: number, now: number): Condition {
  return and(alive(node, leaseMs, now), reportsStatus(node, 'maintenance'));
}

const notPaused = missing(['paused']);

interface Entry<G extends Guard> {
  /** What must hold at the moment `now` (the write's clock) for the promotion to go ahead. */
  condition(guard: G, now: number): Condition;
  /** Why a node fails this rule, in words an operator reads at 3 a.m. (candidate rules only). */
  refusal?(guard: G, state: ClusterState, now: number): string;
}

type Table = { [R in Rule]: Entry<Extract<Guard, { rule: R }>> };

const handoverPath = (field: string): Path => ['handover', field];

const GUARDS: Table = {
  epoch: { condition: (g) => compare(['epoch'], '=', g.epoch) },
  'no-active': { condition: () => missing(['active']) },
  alive: {
    condition: (g, now) => alive(g.node, g.leaseMs, now),
    refusal: (g, state, now) => {
      const seen = state.nodes[g.node]?.lastSeen;
      if (seen === undefined) return 'was never seen';
      return `was last seen ${formatSeconds(now - seen)} ago (lease ${formatSeconds(g.leaseMs)})`;
    },
  },
  ok: {
    condition: (g) => reportsStatus(g.node, 'ok'),
    refusal: (g, state) => (state.nodes[g.node]?.status === 'failing' ? 'is failing' : 'is in maintenance'),
  },
  lag: {
    condition: (g) => compare(nodePath(g.node, 'lagSeconds'), '<=', g.max),
    refusal: (g, state) => {
      const lag = state.nodes[g.node]?.lagSeconds;
      if (lag === undefined) return `reports no lagSeconds (limit ${g.max} s)`;
      return `is ${lag} s behind, limit ${g.max} s`;
    },
  },
  position: {
    condition: (g) => {
      if (g.reference === null) return never;
      const lowest = orderKey(keyOrder(g.reference.key) - positionSpan(g.limit));
      return and(compare(nodePath(g.node, 'positionKey'), '>=', lowest), referenceAtMost(g.reference));
    },
    refusal: (g, state) => {
      const node = state.nodes[g.node];
      if (g.reference === null || node?.positionKey === undefined) {
        return `reports no comparable position (limit ${g.limit} behind)`;
      }
      const behind = positionUnits(keyOrder(g.reference.key) - keyOrder(node.positionKey));
      return `is ${behind} behind at position ${String(node.position)}, limit ${g.limit}`;
    },
  },
  version: {
    condition: (g) =>
      g.version === null
        ? missing(nodePath(g.active, 'version'))
        : and(
            compare(nodePath(g.active, 'version'), '=', g.version),
            compare(nodePath(g.node, 'version'), '=', g.version),
          ),
    refusal: (g, state) =>
      `runs version ${state.nodes[g.node]?.version ?? '(none)'}, the active runs ${g.version}`,
  },
  failover: {
    condition: (g, now) =>
      g.plannedOnly
        ? inMaintenance(g.active, g.leaseMs, now)
        : and(not(healthy(g.active, g.leaseMs, now)), or(notPaused, inMaintenance(g.active, g.leaseMs, now))),
  },
  'active-healthy': { condition: (g, now) => healthy(g.active, g.leaseMs, now) },
  'up-for': { condition: (g, now) => compare(nodePath(g.node, 'upSince'), '<=', now - g.ms) },
  'not-paused': { condition: () => notPaused },
  'no-grace': {
    condition: (g, now) =>
      and(
        or(missing(['hold', 'until']), compare(['hold', 'until'], '<=', now)),
        or(missing(['returnedAt']), compare(['returnedAt'], '<=', now - g.leaseMs)),
        heardWithin(g.nodes, g.silenceMs, now),
      ),
  },
  'no-promise': {
    condition: (g, now) =>
      or(missing(nodePath(g.node, 'promisedUntil')), compare(nodePath(g.node, 'promisedUntil'), '<=', now)),
    refusal: (g, state, now) =>
      `promised a peer not to act as active for another ${formatSeconds((state.nodes[g.node]?.promisedUntil ?? now) - now)} (failsafe)`,
  },
  'no-handover': { condition: () => missing(['handover']) },
  handover: { condition: (g) => compare(handoverPath('since'), '=', g.since) },
  'stepped-down': {
    // A confirmation older than the handover could predate a role the node took since.
    condition: (g) =>
      and(
        compare(nodePath(g.node, 'steppedDown'), '=', g.epoch),
        compare(nodePath(g.node, 'lastSeen'), '>', g.since),
      ),
  },
  'handover-expired': { condition: (_g, now) => compare(handoverPath('deadline'), '<=', now) },
};

/**
 * The reference is still at most `key`: the active's position when it reports one, else
 * every node's (the reference is then the most advanced position any node reported).
 */
function referenceAtMost(reference: PositionReference): Condition {
  const everyNodeAtMost = reference.nodes.map((id) =>
    or(missing(nodePath(id, 'positionKey')), compare(nodePath(id, 'positionKey'), '<=', reference.key)),
  );
  if (reference.active === null) return and(...everyNodeAtMost);
  return or(
    compare(nodePath(reference.active, 'positionKey'), '<=', reference.key),
    and(missing(nodePath(reference.active, 'position')), ...everyNodeAtMost),
  );
}

function keyOrder(key: string): bigint {
  return BigInt(`0x${key}`);
}

export function guardCondition(guard: Guard, now: number): Condition {
  const entry = GUARDS[guard.rule] as Entry<Guard> | undefined;
  if (entry === undefined) return assertNever(guard as never);
  return entry.condition(guard, now);
}

/** Every guard's condition: what the promoting write requires. */
export function guardsCondition(guards: readonly Guard[], now: number): Condition {
  return and(...guards.map((g) => guardCondition(g, now)));
}

/** The first guard that does not hold for `state` at `now`, or undefined when all do. */
export function firstFailing(guards: readonly Guard[], state: ClusterState, now: number): Guard | undefined {
  return guards.find((g) => !holdsFor(g, state, now));
}

export function holdsFor(guard: Guard, state: ClusterState, now: number): boolean {
  return holds(guardCondition(guard, now), state);
}

/** Why a node fails a candidate rule. */
export function refusal(guard: Guard, state: ClusterState, now: number): string {
  const entry = GUARDS[guard.rule] as Entry<Guard>;
  return entry.refusal?.(guard, state, now) ?? `does not meet the ${guard.rule} rule`;
}
