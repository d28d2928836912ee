/**
 * Issue 5's rules in the pure core, given / when / then: failback policy, flap guard,
 * pause, node status, sync gate, versions, collisions, switchover and release. Time is
 * data: every state says how long before NOW (the control plane's clock) each node last
 * beat, and every rule is pinned on both sides of its boundary.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClusterConfig, type ConfigInput, parseConfig } from '../shared/config.js';
import { holds } from '../shared/core/condition.js';
import { type Decision, decide } from '../shared/core/decide.js';
import { eligibility } from '../shared/core/eligibility.js';
import { collisionChange } from '../shared/core/events.js';
import { guardsCondition, refusal } from '../shared/core/guards.js';
import { isSteppingDown } from '../shared/core/handover.js';
import {
  type ManualOutcome,
  type ManualRequest,
  planManual,
  type SwitchoverRequest,
} from '../shared/core/manual.js';
import { comparePositions, positionKey } from '../shared/core/positions.js';
import type { PromotionCause } from '../shared/core/promotion.js';
import {
  type ClusterState,
  emptyState,
  type Handover,
  type Hold,
  type NodeState,
  type NodeStatus,
  type Pause,
  type Position,
} from '../shared/core/state.js';
import { flapGuard, nodeViews } from '../shared/core/views.js';

// ---------------------------------------------------------------------------------------
// Fixtures: cluster `db` with nodes a, b, c in priority order (5 s × 3 beats = 15 s lease),
// built through the real config parser so every default is the product's own.

type ClusterInput = ConfigInput['clusters'][number];
const HASH = '0'.repeat(64);
const nodeConfig = (id: string) => ({ id, address: `${id}.db.internal`, tokenSha256: HASH });

function clusterWith(overrides: Partial<ClusterInput> = {}): ClusterConfig {
  const config = parseConfig({
    clusters: [
      {
        id: 'db',
        heartbeatIntervalSeconds: 5,
        missedBeats: 3,
        nodes: [nodeConfig('a'), nodeConfig('b'), nodeConfig('c')],
        ...overrides,
      },
    ],
  });
  return config.clusters[0] as ClusterConfig;
}

const sticky = clusterWith();
const preferred = clusterWith({ failback: 'preferred' });

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const LEASE = 15 * SECOND;
const HOLD_DOWN = 60 * SECOND; // failbackHoldDownSeconds' default
/** The control plane's clock at the moment of each "when". */
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A node whose last heartbeat reached the control plane `agoMs` before NOW (with its position's key, as the store writes it). */
function beat(agoMs: number, extra: Partial<NodeState> = {}): NodeState {
  const key = extra.position === undefined ? undefined : positionKey(extra.position);
  return { lastSeen: NOW - agoMs, beats: 42, status: 'ok', ...extra, ...(key ? { positionKey: key } : {}) };
}
/** A healthy node that beat a second ago and has been up for an hour. */
const up = (extra: Partial<NodeState> = {}) => beat(SECOND, { upSince: NOW - HOUR, ...extra });
/** A node whose lease ran out 5 s ago. */
const expired = (extra: Partial<NodeState> = {}) => beat(LEASE + 5 * SECOND, extra);

interface Given {
  active?: string | null;
  epoch?: number;
  nodes?: Record<string, NodeState>;
  paused?: Pause | null;
  recentAutomatic?: number[];
  hold?: Hold | null;
  handover?: Handover | null;
}

function stateOf(g: Given): ClusterState {
  const active = g.active ?? null;
  return {
    ...emptyState('db'),
    epoch: g.epoch ?? (active === null ? 0 : 1),
    active,
    activeSince: active === null ? null : NOW - 2 * HOUR,
    nodes: g.nodes ?? {},
    paused: g.paused ?? null,
    recentAutomatic: g.recentAutomatic ?? [],
    hold: g.hold ?? null,
    handover: g.handover ?? null,
  };
}

/** given(state, cluster).at(now).<what the core says at that moment> */
function given(g: Given, cluster: ClusterConfig = sticky) {
  const state = stateOf(g);
  return {
    state,
    at: (now: number) => ({
      decide: () => decide(state, cluster, now),
      eligibility: (node: string) => eligibility(state, cluster, node, now),
      planManual: (request: ManualRequest) => planManual(state, cluster, request, now),
      nodeViews: () => nodeViews(state, cluster, now),
      flapGuard: () => flapGuard(state, cluster, now),
      collisionChange: (node: string) => collisionChange(state, cluster, node, now),
    }),
  };
}

type Promotion = Extract<Decision, { type: 'promote' }>;

/** Whether the promoting write re-checks the pause: it holds on `state` but not once automation is paused. */
function checksPause(promotion: Promotion, state: ClusterState, now = NOW): boolean {
  const write = (s: ClusterState) => holds(guardsCondition(promotion.guards, now), s);
  return write(state) && !write({ ...state, paused: PAUSE });
}
type HoldDecision = Extract<Decision, { type: 'hold' }>;

function asPromotion(outcome: Decision | ManualOutcome): Promotion {
  expect(outcome.type, JSON.stringify(outcome)).toBe('promote');
  return outcome as Promotion;
}

type HandoverStart = Extract<Decision, { type: 'handover' }>;

function asHandover(outcome: Decision | ManualOutcome): HandoverStart {
  expect(outcome.type, JSON.stringify(outcome)).toBe('handover');
  return outcome as HandoverStart;
}

function asHold(decision: Decision): HoldDecision {
  expect(decision.type, JSON.stringify(decision)).toBe('hold');
  return decision as HoldDecision;
}

function asRefusal(outcome: ManualOutcome): string {
  expect(outcome.type, JSON.stringify(outcome)).toBe('refused');
  return (outcome as { message: string }).message;
}

const PAUSE: Pause = {
  since: NOW - 10 * MINUTE,
  by: 'arn:aws:iam::123456789012:user/alice',
  reason: 'db upgrade',
};
const switchover = (extra: Partial<SwitchoverRequest> = {}): SwitchoverRequest => ({
  kind: 'switchover',
  by: 'local',
  ...extra,
});
const release = (node: string): ManualRequest => ({ kind: 'release', node, by: `node:${node}` });
/** A handover from a to b at epoch 1, recorded 5 s before NOW (a's confirming beat, 1 s ago, came after it). */
const handover = (extra: Partial<Handover> = {}): Handover => ({
  cause: 'switchover',
  from: 'a',
  to: 'b',
  epoch: 1,
  since: NOW - 5 * SECOND,
  deadline: NOW - 5 * SECOND + LEASE,
  by: 'local',
  reason: 'switchover requested by local',
  ...extra,
});

// ---------------------------------------------------------------------------------------

describe('failback policy', () => {
  /** After a failover from a to b: b is active at epoch 2, and a is back, healthy, priority 1. */
  const afterFailover = (aUpFor: number, aExtra: Partial<NodeState> = {}): Given => ({
    active: 'b',
    epoch: 2,
    nodes: { a: beat(SECOND, { upSince: NOW - aUpFor, ...aExtra }), b: up(), c: up() },
  });

  it('sticky (the default): a returning healthy a does not take the role back from b', () => {
    expect(sticky.failback).toBe('sticky');
    expect(
      given(afterFailover(24 * HOUR), sticky)
        .at(NOW)
        .decide(),
    ).toEqual({ type: 'steady' });
  });

  it('preferred: a takes the role back once it has been up for exactly the hold-down, demote-first', () => {
    const start = asHandover(given(afterFailover(HOLD_DOWN), preferred).at(NOW).decide());

    expect(start.handover).toEqual({
      cause: 'failback',
      from: 'b',
      to: 'a',
      epoch: 2,
      since: NOW,
      deadline: NOW + LEASE,
      reason: 'preferred failback: a (priority 1) has been up for 60 s (hold-down 60 s)',
    });
    expect(start.event).toMatchObject({ kind: 'handover', epoch: 2, active: 'b', subject: 'a' });
    expect(start.event.reason).toBe(
      `preferred failback: a (priority 1) has been up for 60 s (hold-down 60 s): b is told to step down; a is promoted once it confirms, or at ${new Date(NOW + LEASE).toISOString()} when its lease has run out`,
    );
  });

  it('preferred: a does not take the role back 1 ms before the hold-down ends', () => {
    expect(
      given(afterFailover(HOLD_DOWN - 1), preferred)
        .at(NOW)
        .decide(),
    ).toEqual({ type: 'steady' });
  });

  it('preferred: a node with no upSince on record (not continuously up) does not fail back', () => {
    const g = afterFailover(HOUR);
    g.nodes = { ...g.nodes, a: beat(SECOND) };
    expect(given(g, preferred).at(NOW).decide()).toEqual({ type: 'steady' });
  });

  it('honours a configured hold-down of 0: the preferred node takes over on its first healthy moment', () => {
    const instant = clusterWith({ failback: 'preferred', failbackHoldDownSeconds: 0 });
    expect(asHandover(given(afterFailover(0), instant).at(NOW).decide()).handover).toMatchObject({
      cause: 'failback',
      to: 'a',
    });
  });

  it('preferred: a lagging preferred node does not fail back', () => {
    const gated = clusterWith({ failback: 'preferred', maxLagSeconds: 10 });
    const g = afterFailover(HOUR, { lagSeconds: 42 });
    g.nodes = { ...g.nodes, b: up({ lagSeconds: 0 }) };
    expect(given(g, gated).at(NOW).decide()).toEqual({ type: 'steady' });
  });

  it.each<NodeStatus>(['maintenance', 'failing'])(
    'preferred: a preferred node in %s does not fail back, whatever its upSince says',
    (status) => {
      expect(given(afterFailover(HOUR, { status }), preferred).at(NOW).decide()).toEqual({
        type: 'steady',
      });
    },
  );

  it('preferred: a preferred node whose lease has run out does not fail back', () => {
    const g = afterFailover(HOUR);
    g.nodes = { ...g.nodes, a: expired({ upSince: NOW - HOUR }) };
    expect(given(g, preferred).at(NOW).decide()).toEqual({ type: 'steady' });
  });

  it('preferred: when the top node is not eligible, the next node above the active takes the role', () => {
    const decision = given(
      { active: 'c', epoch: 3, nodes: { a: up({ status: 'maintenance' }), b: up(), c: up() } },
      preferred,
    )
      .at(NOW)
      .decide();
    expect(asHandover(decision).handover).toMatchObject({ cause: 'failback', from: 'c', to: 'b' });
  });

  it('preferred: stays steady when the active already is the highest-priority node', () => {
    expect(
      given({ active: 'a', nodes: { a: up(), b: up(), c: up() } }, preferred)
        .at(NOW)
        .decide(),
    ).toEqual({
      type: 'steady',
    });
  });

  it('makes the write that starts a failback re-check that the active is healthy and that a has been up since the hold-down began', () => {
    const start = asHandover(given(afterFailover(HOUR), preferred).at(NOW).decide());
    expect(start.guards).toEqual([
      { rule: 'epoch', epoch: 2 },
      { rule: 'no-handover' },
      { rule: 'active-healthy', active: 'b', leaseMs: LEASE },
      { rule: 'not-paused' },
      { rule: 'up-for', node: 'a', ms: HOLD_DOWN },
      { rule: 'alive', node: 'a', leaseMs: LEASE },
      { rule: 'ok', node: 'a' },
      { rule: 'no-promise', node: 'a' },
    ]);
  });
});

describe('flap guard', () => {
  const guarded = clusterWith({ maxAutoFailoversPerHour: 2 });
  /** a's lease has run out; b is a healthy standby. */
  const expiredActive = (recentAutomatic: number[]): Given => ({
    active: 'a',
    epoch: 7,
    nodes: { a: expired(), b: up(), c: up() },
    recentAutomatic,
  });

  it('holds an automatic failover after 2 automatic changes in the last hour, and says the count, limit, when it lifts and that a switchover works', () => {
    const oldest = NOW - 50 * MINUTE;
    const hold = asHold(
      given(expiredActive([oldest, NOW - 10 * MINUTE]), guarded)
        .at(NOW)
        .decide(),
    );

    expect(hold).toMatchObject({ expectedEpoch: 7, active: 'a', hold: { code: 'flap-guard', since: NOW } });
    expect(hold.hold.reason).toBe(
      `a missed 4 beats (last seen 20 s ago, lease 15 s); automation holds: 2 automatic changes in the last hour ` +
        `(limit 2) until ${new Date(oldest + HOUR).toISOString()}; a switchover still works`,
    );
  });

  it('promotes when one of the two changes is 1 h + 1 ms old, and forgets it', () => {
    const decision = given(expiredActive([NOW - HOUR - 1, NOW - 10 * MINUTE]), guarded)
      .at(NOW)
      .decide();
    expect(asPromotion(decision)).toMatchObject({
      cause: 'lease-expired',
      to: 'b',
      recentAutomatic: [NOW - 10 * MINUTE, NOW],
    });
  });

  it('no longer counts a change exactly one hour old', () => {
    const decision = given(expiredActive([NOW - HOUR, NOW - 10 * MINUTE]), guarded)
      .at(NOW)
      .decide();
    expect(asPromotion(decision).recentAutomatic).toEqual([NOW - 10 * MINUTE, NOW]);
  });

  it('still counts a change 1 ms less than an hour old', () => {
    const hold = asHold(
      given(expiredActive([NOW - HOUR + 1, NOW - 10 * MINUTE]), guarded)
        .at(NOW)
        .decide(),
    );
    expect(hold.hold.code).toBe('flap-guard');
    expect(hold.hold.reason).toContain(`until ${new Date(NOW + 1).toISOString()}`);
  });

  // With more changes on record than the limit (the limit was lowered since), automation
  // lifts only when the count drops below the limit: when the second-oldest change turns one hour old.
  it('says it lifts when enough changes have aged out, not when the oldest one does', () => {
    const hold = asHold(
      given(expiredActive([NOW - 50 * MINUTE, NOW - 40 * MINUTE, NOW - 10 * MINUTE]), guarded)
        .at(NOW)
        .decide(),
    );
    expect(hold.hold.reason).toContain(
      `3 automatic changes in the last hour (limit 2) until ${new Date(NOW - 40 * MINUTE + HOUR).toISOString()}`,
    );
  });

  it('reports the last hour and whether it holds through flapGuard', () => {
    const at = (recent: number[]) => given(expiredActive(recent), guarded).at(NOW).flapGuard();
    expect(at([NOW - HOUR, NOW - MINUTE])).toEqual({ limitPerHour: 2, lastHour: 1, holding: false });
    expect(at([NOW - HOUR + 1, NOW - MINUTE])).toEqual({ limitPerHour: 2, lastHour: 2, holding: true });
  });

  it.each<[string, Given, PromotionCause]>([
    ['an expired active', { active: 'a', nodes: { a: expired(), b: up() } }, 'lease-expired'],
    ['a failing active', { active: 'a', nodes: { a: up({ status: 'failing' }), b: up() } }, 'failing'],
  ])('counts the failover from %s as automatic', (_what, g, cause) => {
    const promotion = asPromotion(
      given({ ...g, recentAutomatic: [NOW - MINUTE] })
        .at(NOW)
        .decide(),
    );
    expect(promotion.cause).toBe(cause);
    expect(promotion.recentAutomatic).toEqual([NOW - MINUTE, NOW]);
  });

  it('counts a preferred failback as automatic', () => {
    const g: Given = {
      active: 'b',
      nodes: { a: up(), b: up({ steppedDown: 1 }) },
      recentAutomatic: [NOW - MINUTE],
      handover: handover({ cause: 'failback', from: 'b', to: 'a' }),
    };
    const promotion = asPromotion(given(g, preferred).at(NOW).decide());
    expect(promotion.cause).toBe('failback');
    expect(promotion.recentAutomatic).toEqual([NOW - MINUTE, NOW]);
  });

  it.each<[string, Given]>([
    ['the first active', { nodes: { a: up(), b: up() } }],
    [
      'a handover from a maintenance active',
      { active: 'a', nodes: { a: up({ status: 'maintenance' }), b: up() } },
    ],
  ])('does not count %s, but drops changes older than an hour', (_what, g) => {
    const promotion = asPromotion(
      given({ ...g, recentAutomatic: [NOW - 2 * HOUR, NOW - MINUTE] })
        .at(NOW)
        .decide(),
    );
    expect(['first-active', 'maintenance']).toContain(promotion.cause);
    expect(promotion.recentAutomatic).toEqual([NOW - MINUTE]);
  });

  it('does not count a switchover or a release', () => {
    const g: Given = { active: 'a', nodes: { a: up(), b: up() }, recentAutomatic: [NOW - MINUTE] };
    for (const request of [switchover({ immediate: true }), release('a')]) {
      expect(asPromotion(given(g).at(NOW).planManual(request)).recentAutomatic).toEqual([NOW - MINUTE]);
    }
  });

  it('still hands over from a maintenance active past the flap guard (the node asked for it)', () => {
    const g: Given = {
      active: 'a',
      nodes: { a: up({ status: 'maintenance' }), b: up() },
      recentAutomatic: [NOW - 2 * MINUTE, NOW - MINUTE],
    };
    const promotion = asPromotion(given(g, guarded).at(NOW).decide());
    expect(promotion).toMatchObject({ cause: 'maintenance', to: 'b' });
    // At the limit, the write re-checks that the handover is still a planned one: an active
    // that turned failing meanwhile would make it an automatic failover, which the guard holds.
    expect(promotion.guards).toContainEqual({
      rule: 'failover',
      active: 'a',
      leaseMs: LEASE,
      plannedOnly: true,
    });
    const write = (s: ClusterState) => holds(guardsCondition(promotion.guards, NOW), s);
    const state = stateOf(g);
    expect(write(state)).toBe(true);
    expect(write({ ...state, nodes: { ...state.nodes, a: up({ status: 'failing' }) } })).toBe(false);
    // below the limit, a failover would be allowed anyway: no such re-check
    const below = asPromotion(
      given({ ...g, recentAutomatic: [NOW - MINUTE] }, guarded)
        .at(NOW)
        .decide(),
    );
    expect(below.guards).toContainEqual({ rule: 'failover', active: 'a', leaseMs: LEASE });
  });

  it('says it lifts when enough changes have aged out, whatever order they were recorded in', () => {
    // each promoting write appends its own worker's clock, and two workers' clocks may
    // disagree: the list need not be in order, and the oldest change decides, not the first listed
    const oldest = NOW - 50 * MINUTE;
    const hold = asHold(
      given(expiredActive([NOW - 10 * MINUTE, oldest]), guarded)
        .at(NOW)
        .decide(),
    );
    expect(hold.hold.reason).toContain(`(limit 2) until ${new Date(oldest + HOUR).toISOString()};`);
  });

  it('holds a preferred failback past the flap guard, keeping the healthy active', () => {
    const limited = clusterWith({ failback: 'preferred', maxAutoFailoversPerHour: 1 });
    const hold = asHold(
      given({ active: 'b', nodes: { a: up(), b: up() }, recentAutomatic: [NOW - MINUTE] }, limited)
        .at(NOW)
        .decide(),
    );
    expect(hold).toMatchObject({ active: 'b', hold: { code: 'flap-guard' } });
    expect(hold.hold.reason).toMatch(/^preferred failback: a .*; automation holds: 1 automatic change in/);
  });

  it('lets an operator switchover through past the flap guard', () => {
    const g = expiredActive([NOW - 2 * MINUTE, NOW - MINUTE]);
    expect(asHold(given(g, guarded).at(NOW).decide()).hold.code).toBe('flap-guard');

    // a's lease has run out: nothing to wait for, so the switchover promotes at once.
    const promotion = asPromotion(given(g, guarded).at(NOW).planManual(switchover()));
    expect(promotion).toMatchObject({
      cause: 'switchover',
      from: 'a',
      to: 'b',
      expectedEpoch: 7,
      by: 'local',
    });
  });
});

describe('pause', () => {
  it('holds with code paused when the active expires, naming who paused and why', () => {
    const hold = asHold(
      given({ active: 'a', nodes: { a: expired(), b: up() }, paused: PAUSE })
        .at(NOW)
        .decide(),
    );
    expect(hold).toEqual({
      type: 'hold',
      expectedEpoch: 1,
      active: 'a',
      hold: {
        code: 'paused',
        since: NOW,
        reason:
          'a missed 4 beats (last seen 20 s ago, lease 15 s); automation is paused ' +
          '(by arn:aws:iam::123456789012:user/alice: db upgrade)',
      },
    });
  });

  it('holds instead of handing over from a failing active while paused', () => {
    const hold = asHold(
      given({ active: 'a', nodes: { a: up({ status: 'failing' }), b: up() }, paused: PAUSE })
        .at(NOW)
        .decide(),
    );
    expect(hold.hold.code).toBe('paused');
    expect(hold.hold.reason).toMatch(/^a reported status failing; automation is paused/);
  });

  it('holds instead of electing a first active while paused', () => {
    const hold = asHold(
      given({ nodes: { a: up(), b: up() }, paused: PAUSE })
        .at(NOW)
        .decide(),
    );
    expect(hold.hold.reason).toMatch(/^no active node yet; automation is paused/);
  });

  it('stays steady with a healthy active while paused', () => {
    expect(
      given({ active: 'a', nodes: { a: up(), b: up() }, paused: PAUSE })
        .at(NOW)
        .decide(),
    ).toEqual({
      type: 'steady',
    });
  });

  it('does not fail back while paused', () => {
    const g: Given = { active: 'b', epoch: 2, nodes: { a: up(), b: up() } };
    expect(asHandover(given(g, preferred).at(NOW).decide()).handover.cause).toBe('failback');
    expect(
      given({ ...g, paused: PAUSE }, preferred)
        .at(NOW)
        .decide(),
    ).toEqual({ type: 'steady' });
  });

  it('lets an operator switchover through while paused, with a write that does not require notPaused', () => {
    const promotion = asPromotion(
      given({ active: 'a', nodes: { a: expired(), b: up() }, paused: PAUSE })
        .at(NOW)
        .planManual(switchover({ to: 'b', immediate: true })),
    );
    expect(promotion).toMatchObject({ cause: 'switchover', to: 'b' });
    expect(checksPause(promotion, stateOf({ active: 'a', nodes: { a: expired(), b: up() } }))).toBe(false);
  });

  it('makes every automatic failover re-check notPaused, and no manual one nor a maintenance handover', () => {
    const automatic: Array<[Given, ClusterConfig]> = [
      [{ nodes: { a: up() } }, sticky],
      [{ active: 'a', nodes: { a: expired(), b: up() } }, sticky],
      [{ active: 'a', nodes: { a: up({ status: 'failing' }), b: up() } }, sticky],
    ];
    const causes = automatic.map(([g, cluster]) => {
      const promotion = asPromotion(given(g, cluster).at(NOW).decide());
      expect(checksPause(promotion, stateOf(g)), promotion.cause).toBe(true);
      return promotion.cause;
    });
    expect(causes).toEqual(['first-active', 'lease-expired', 'failing']);
    // A failback re-checks the pause when it starts (its guards are pinned above); once the
    // old active has stepped down it completes, like every planned handover.
    // The agent reporting maintenance is a planned handover, like a release.
    const maintenance: Given = { active: 'a', nodes: { a: up({ status: 'maintenance' }), b: up() } };
    const planned = asPromotion(given(maintenance).at(NOW).decide());
    expect(planned).toMatchObject({ cause: 'maintenance' });
    expect(checksPause(planned, stateOf(maintenance))).toBe(false);
    const paused = asPromotion(
      given({ active: 'a', paused: PAUSE, nodes: { a: up({ status: 'maintenance' }), b: up() } })
        .at(NOW)
        .decide(),
    );
    expect(paused).toMatchObject({ cause: 'maintenance', to: 'b' });

    const g: Given = { active: 'a', nodes: { a: up(), b: up(), c: up({ status: 'failing' }) } };
    const manual = [switchover({ immediate: true }), switchover({ to: 'c', force: true, immediate: true })];
    for (const request of [...manual, release('a')]) {
      expect(checksPause(asPromotion(given(g).at(NOW).planManual(request)), stateOf(g))).toBe(false);
    }
  });
});

describe('node status from the agent', () => {
  it('fails over at once from a failing active that is still within its lease', () => {
    const promotion = asPromotion(
      given({ active: 'a', nodes: { a: up({ status: 'failing' }), b: up() } })
        .at(NOW)
        .decide(),
    );
    expect(promotion).toMatchObject({ cause: 'failing', from: 'a', to: 'b' });
    expect(promotion.reason).toBe('a reported status failing; promoted b (priority 2)');
    // The write re-checks that a is still not ok (it might have recovered meanwhile), and that b is.
    const state = stateOf({ active: 'a', nodes: { a: up({ status: 'failing' }), b: up() } });
    const write = (changed: ClusterState) => holds(guardsCondition(promotion.guards, NOW), changed);
    expect(write(state)).toBe(true);
    expect(write({ ...state, nodes: { ...state.nodes, a: up() } })).toBe(false);
    expect(write({ ...state, nodes: { ...state.nodes, b: up({ status: 'failing' }) } })).toBe(false);
  });

  it('hands over from an active that enters maintenance', () => {
    const promotion = asPromotion(
      given({ active: 'a', nodes: { a: up({ status: 'maintenance' }), b: up() } })
        .at(NOW)
        .decide(),
    );
    expect(promotion).toMatchObject({ cause: 'maintenance', from: 'a', to: 'b' });
    expect(promotion.reason).toBe('a entered maintenance; promoted b (priority 2)');
  });

  it('never promotes a node in maintenance or failing, and says so', () => {
    const hold = asHold(
      given({
        active: 'a',
        nodes: { a: expired(), b: up({ status: 'maintenance' }), c: up({ status: 'failing' }) },
      })
        .at(NOW)
        .decide(),
    );
    expect(hold.hold).toMatchObject({ code: 'no-candidate' });
    expect(hold.hold.reason).toBe(
      'a missed 4 beats (last seen 20 s ago, lease 15 s); no standby can take over ' +
        '(b is in maintenance; c is failing)',
    );
  });

  it('skips a higher-priority node in maintenance and promotes the next ok one', () => {
    const decision = given({
      active: 'a',
      nodes: { a: up({ status: 'failing' }), b: up({ status: 'maintenance' }), c: up() },
    })
      .at(NOW)
      .decide();
    expect(asPromotion(decision).to).toBe('c');
  });

  it('elects no first active among nodes that are all in maintenance', () => {
    const hold = asHold(
      given({ nodes: { a: up({ status: 'maintenance' }), b: up({ status: 'maintenance' }) } })
        .at(NOW)
        .decide(),
    );
    expect(hold).toMatchObject({ active: null, hold: { code: 'no-candidate' } });
  });
});

describe('sync gate: maxLagSeconds', () => {
  const gated = clusterWith({ maxLagSeconds: 10 });
  const withB = (b: Partial<NodeState>): Given => ({
    active: 'a',
    nodes: { a: expired({ lagSeconds: 0 }), b: up(b) },
  });

  it('makes b, 42 s behind with a limit of 10 s, not eligible, saying exactly that', () => {
    expect(
      given(withB({ lagSeconds: 42 }), gated)
        .at(NOW)
        .eligibility('b'),
    ).toEqual({
      eligible: false,
      reason: 'b is 42 s behind, limit 10 s',
    });
  });

  it('makes b eligible at exactly the limit, and the write re-checks the limit', () => {
    expect(
      given(withB({ lagSeconds: 10 }), gated)
        .at(NOW)
        .eligibility('b'),
    ).toEqual({
      eligible: true,
      reason: null,
    });
    const promotion = asPromotion(
      given(withB({ lagSeconds: 10 }), gated)
        .at(NOW)
        .decide(),
    );
    expect(promotion.to).toBe('b');
    expect(promotion.guards).toContainEqual({ rule: 'lag', node: 'b', max: 10 });
    expect(promotion.reason).toMatch(/promoted b \(priority 2, lag 10 s\)$/);
  });

  it('makes a node that reports no lagSeconds not eligible while the lag gate is set, even with a position', () => {
    expect(given(withB({}), gated).at(NOW).eligibility('b')).toEqual({
      eligible: false,
      reason: 'b reports no lagSeconds (limit 10 s)',
    });
    expect(
      given(withB({ position: 5 }), gated)
        .at(NOW)
        .eligibility('b'),
    ).toEqual({
      eligible: false,
      reason: 'b reports no lagSeconds (limit 10 s)',
    });
    // Without the gate the same node is eligible.
    expect(given(withB({}), sticky).at(NOW).eligibility('b').eligible).toBe(true);
  });

  it('prefers the standby with the lowest lag over priority', () => {
    const decision = given(
      { active: 'a', nodes: { a: expired(), b: up({ lagSeconds: 5 }), c: up({ lagSeconds: 1 }) } },
      gated,
    )
      .at(NOW)
      .decide();
    expect(asPromotion(decision).to).toBe('c');
  });

  it('breaks a tie on lag by priority', () => {
    const decision = given(
      { active: 'a', nodes: { a: expired(), b: up({ lagSeconds: 3 }), c: up({ lagSeconds: 3 }) } },
      gated,
    )
      .at(NOW)
      .decide();
    expect(asPromotion(decision).to).toBe('b');
  });

  it('holds when no standby is eligible, listing each refusal', () => {
    const hold = asHold(
      given({ active: 'a', nodes: { a: expired(), b: up({ lagSeconds: 42 }) } }, gated)
        .at(NOW)
        .decide(),
    );
    expect(hold.hold).toMatchObject({ code: 'no-candidate' });
    expect(hold.hold.reason).toBe(
      'a missed 4 beats (last seen 20 s ago, lease 15 s); no standby can take over ' +
        '(b is 42 s behind, limit 10 s; c was never seen)',
    );
  });
});

describe('sync gate: maxPositionLag', () => {
  const gated = clusterWith({ maxPositionLag: 100 });
  /** a (the expired active) last reported position 1000. */
  const withPositions = (b?: Position, c?: Position): Given => ({
    active: 'a',
    nodes: {
      a: expired({ position: 1000 }),
      b: up(b === undefined ? {} : { position: b }),
      c: up(c === undefined ? {} : { position: c }),
    },
  });

  it("makes a node further behind the active's last position than the limit not eligible", () => {
    expect(given(withPositions(899), gated).at(NOW).eligibility('b')).toEqual({
      eligible: false,
      reason: 'b is 101 behind at position 899, limit 100',
    });
  });

  it('makes a node exactly at the limit eligible, and the write re-checks the lowest acceptable position', () => {
    expect(given(withPositions(900), gated).at(NOW).eligibility('b').eligible).toBe(true);
    const promotion = asPromotion(given(withPositions(900), gated).at(NOW).decide());
    expect(promotion.to).toBe('b');
    // The write re-checks the position: b falling back to 899 (101 behind) fails it.
    const state = stateOf(withPositions(900));
    const write = (changed: ClusterState) => holds(guardsCondition(promotion.guards, NOW), changed);
    expect(write(state)).toBe(true);
    expect(write(stateOf(withPositions(899)))).toBe(false);
  });

  it('makes a node that reports no position not eligible', () => {
    expect(given(withPositions(undefined, 1000), gated).at(NOW).eligibility('b')).toEqual({
      eligible: false,
      reason: 'b reports no comparable position (limit 100 behind)',
    });
  });

  it('promotes the most up-to-date eligible standby over a higher-priority one', () => {
    expect(asPromotion(given(withPositions(950, 990), gated).at(NOW).decide()).to).toBe('c');
  });

  it('names the position of the standby it promotes in the reason', () => {
    const promotion = asPromotion(given(withPositions(950, 990), gated).at(NOW).decide());
    expect(promotion.reason).toMatch(/promoted c \(priority 3, position 990\)$/);
  });

  it('breaks a tie on position by priority', () => {
    expect(asPromotion(given(withPositions(990, 990), gated).at(NOW).decide()).to).toBe('b');
  });

  it('ranks nodes that report a position before nodes that do not', () => {
    // No gate: both are eligible; c reports a position, b does not.
    expect(asPromotion(given(withPositions(undefined, 5), sticky).at(NOW).decide()).to).toBe('c');
  });

  it('ranks nodes that report a lag before nodes that do not', () => {
    const decision = given({ active: 'a', nodes: { a: expired(), b: up(), c: up({ lagSeconds: 30 }) } })
      .at(NOW)
      .decide();
    expect(asPromotion(decision).to).toBe('c');
  });

  it('compares PostgreSQL LSNs by value when ranking', () => {
    const decision = given({
      active: 'a',
      nodes: { a: expired(), b: up({ position: '16/B374D849' }), c: up({ position: '17/0' }) },
    })
      .at(NOW)
      .decide();
    expect(asPromotion(decision).to).toBe('c');
  });
});

describe('comparePositions', () => {
  it.each<[string, Position, Position, number | null]>([
    ['numbers', 5, 7, -1],
    ['equal numbers', 7, 7, 0],
    ['a number and a digit string', 10, '9', 1],
    ['digit strings numerically, not lexicographically', '10', '9', 1],
    ['digit strings beyond 2^53 exactly', '9007199254740993', '9007199254740992', 1],
    ['LSNs one apart', '16/B374D848', '16/B374D849', -1],
    ['LSNs across the high word', '16/B374D849', '17/0', -1],
    ['LSNs with lowercase hex', '16/b374d849', '16/B374D849', 0],
    ['other strings lexicographically', 'v1.10', 'v1.9', -1],
    ['a number and a non-numeric string as incomparable', 5, 'abc', null],
    ['zero (a fresh replica) before any later position', 0, 1, -1],
    ['digit strings of more than 30 digits lexicographically (beyond exact)', `1${'0'.repeat(30)}`, '9', -1],
    ['strings with digits and more lexicographically', '10a', '9a', -1],
    ['strings ending in digits lexicographically', 'x10', 'x9', -1],
    ['LSN-like strings with a half over 32 bits lexicographically', '1/100000000', '1/FFFFFFFF', -1],
    ['an LSN after a prefix as text, not as the LSN', 'v10/0', 'v9/0', -1],
    ['an LSN before a suffix as text, not as the LSN', '10/0 (primary)', '9/0 (primary)', -1],
    ['equal other strings as equal (the tie goes to priority)', 'v1.9', 'v1.9', 0],
  ])('orders %s', (_what, a, b, expected) => {
    expect(comparePositions(a, b)).toBe(expected);
    expect(comparePositions(b, a)).toBe(expected === null ? null : -expected || 0);
  });

  // The API accepts any non-negative number as a position (e.g. a timestamp in seconds).
  it('orders fractional numbers', () => {
    expect(comparePositions(1.5, 2)).toBe(-1);
    expect(comparePositions(1712345678.25, 1712345678.5)).toBe(-1);
  });

  it('gives a negative or non-finite number no key: it is no position the write could compare', () => {
    for (const p of [-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(positionKey(p)).toBeUndefined();
    expect(positionKey(0)).toBe('0'.repeat(40));
  });
});

describe('versions', () => {
  const strict = clusterWith({ requireSameVersion: true });
  const g: Given = {
    active: 'a',
    nodes: { a: expired({ version: '1.2.3' }), b: up({ version: '1.3.0' }), c: up({ version: '1.2.3' }) },
  };

  it("makes a node on another version than the active's last reported one not eligible, naming both", () => {
    expect(given(g, strict).at(NOW).eligibility('b')).toEqual({
      eligible: false,
      reason: 'b runs version 1.3.0, the active runs 1.2.3',
    });
    const promotion = asPromotion(given(g, strict).at(NOW).decide());
    expect(promotion.to).toBe('c');
    expect(promotion.guards).toContainEqual({ rule: 'version', node: 'c', active: 'a', version: '1.2.3' });
  });

  it('makes a node that reports no version not eligible under requireSameVersion', () => {
    const noVersion: Given = { ...g, nodes: { ...g.nodes, b: up() } };
    expect(given(noVersion, strict).at(NOW).eligibility('b').reason).toBe(
      'b runs version (none), the active runs 1.2.3',
    );
  });

  it('leaves a node on another version eligible without requireSameVersion', () => {
    expect(given(g, sticky).at(NOW).eligibility('b')).toEqual({ eligible: true, reason: null });
    expect(asPromotion(given(g, sticky).at(NOW).decide()).to).toBe('b');
  });

  it('flags a version mismatch in nodeViews, but not for a node that reports none', () => {
    const views = given({ ...g, nodes: { ...g.nodes, c: up() } }, sticky)
      .at(NOW)
      .nodeViews();
    expect(views.map((v) => [v.id, v.version, v.versionMismatch])).toEqual([
      ['a', '1.2.3', false],
      ['b', '1.3.0', true],
      ['c', null, false],
    ]);
  });
});

describe('nodeViews: eligibility', () => {
  it("shows each standby's eligibility and the reason when it is not eligible", () => {
    const gated = clusterWith({ maxLagSeconds: 10 });
    const views = given(
      { active: 'a', nodes: { a: up({ lagSeconds: 0 }), b: up({ lagSeconds: 42 }) } },
      gated,
    )
      .at(NOW)
      .nodeViews();
    expect(views.map((v) => [v.id, v.eligible, v.ineligibleReason, v.upSince])).toEqual([
      ['a', true, null, NOW - HOUR],
      ['b', false, 'b is 42 s behind, limit 10 s', NOW - HOUR],
      ['c', false, 'c was never seen', null],
    ]);
  });
});

describe('collisions', () => {
  const record: Given = { active: 'a', epoch: 3, nodes: { a: up(), b: up() } };
  const withB = (b: Partial<NodeState>): Given => ({ ...record, nodes: { ...record.nodes, b: up(b) } });

  it('starts an episode when a node claims to be active while the record says another node is', () => {
    const change = given(withB({ claimedRole: 'active', claimedEpoch: 2 }))
      .at(NOW)
      .collisionChange('b');
    expect(change).toEqual({
      type: 'start',
      event: {
        cluster: 'db',
        kind: 'collision',
        epoch: 3,
        at: NOW,
        active: 'a',
        previous: 'a',
        subject: 'b',
        reason: 'b claims to be active at epoch 2, but the active is a at epoch 3; told to stand down',
      },
    });
  });

  it('says "an unknown epoch" when the claim carries no epoch', () => {
    const change = given(withB({ claimedRole: 'active' }))
      .at(NOW)
      .collisionChange('b');
    expect(change?.type === 'start' && change.event.reason).toBe(
      'b claims to be active at an unknown epoch, but the active is a at epoch 3; told to stand down',
    );
  });

  it('raises nothing more while the episode lasts (one event per episode)', () => {
    const ongoing = withB({
      claimedRole: 'active',
      claimedEpoch: 2,
      collision: { since: NOW - MINUTE, claimedEpoch: 2 },
    });
    expect(given(ongoing).at(NOW).collisionChange('b')).toBeNull();
  });

  it('ends the episode once the node claims standby', () => {
    const agreeing = withB({
      claimedRole: 'standby',
      claimedEpoch: 3,
      collision: { since: NOW - MINUTE, claimedEpoch: 2 },
    });
    expect(given(agreeing).at(NOW).collisionChange('b')).toEqual({ type: 'end' });
  });

  it('ends the episode once the node no longer claims a role', () => {
    const silent = withB({ collision: { since: NOW - MINUTE, claimedEpoch: 2 } });
    expect(given(silent).at(NOW).collisionChange('b')).toEqual({ type: 'end' });
  });

  it('ends the episode of a node that has since become the active', () => {
    const g: Given = {
      ...record,
      active: 'b',
      epoch: 4,
      nodes: {
        ...record.nodes,
        b: up({
          claimedRole: 'active',
          claimedEpoch: 2,
          collision: { since: NOW - MINUTE, claimedEpoch: 2 },
        }),
      },
    };
    expect(given(g).at(NOW).collisionChange('b')).toEqual({ type: 'end' });
  });

  it('sees no collision when the active claims to be active, or a standby claims standby', () => {
    const g: Given = {
      ...record,
      nodes: {
        a: up({ claimedRole: 'active', claimedEpoch: 3 }),
        b: up({ claimedRole: 'standby', claimedEpoch: 3 }),
      },
    };
    expect(given(g).at(NOW).collisionChange('a')).toBeNull();
    expect(given(g).at(NOW).collisionChange('b')).toBeNull();
    expect(given(g).at(NOW).collisionChange('zz')).toBeNull();
  });

  describe('a deposed active that has not heard of the change yet', () => {
    /** b was active at epoch 2 and still says so; a became active at epoch 3, `agoMs` before NOW. */
    const deposed = (agoMs: number, claimedEpoch = 2) =>
      collisionChange(
        { ...stateOf(withB({ claimedRole: 'active', claimedEpoch })), activeSince: NOW - agoMs },
        sticky,
        'b',
        NOW,
      );

    it('is no collision for one lease after the change, up to its last millisecond', () => {
      expect(deposed(SECOND)).toBeNull();
      expect(deposed(LEASE)).toBeNull();
    });

    it('is a collision once it still claims the old epoch a lease after the change', () => {
      expect(deposed(LEASE + 1)).toMatchObject({ type: 'start', event: { kind: 'collision', subject: 'b' } });
    });

    it('is a collision at once when it claims the current epoch: it is not merely behind', () => {
      expect(deposed(SECOND, 3)).toMatchObject({ type: 'start' });
    });
  });

  it('says the active is none when the record has no active', () => {
    const g: Given = { epoch: 3, nodes: { b: up({ claimedRole: 'active', claimedEpoch: 3 }) } };
    const change = given(g).at(NOW).collisionChange('b');
    expect(change?.type === 'start' && change.event.reason).toBe(
      'b claims to be active at epoch 3, but the active is none at epoch 3; told to stand down',
    );
  });
});

describe('switchover (planManual)', () => {
  /** a active; b and c healthy standbys; c's priority is lower than b's. */
  const healthy: Given = { active: 'a', epoch: 4, nodes: { a: up(), b: up(), c: up() } };

  it('refuses an unknown node', () => {
    expect(
      asRefusal(
        given(healthy)
          .at(NOW)
          .planManual(switchover({ to: 'zz' })),
      ),
    ).toBe("unknown node 'zz'");
  });

  it('refuses the node that is already active', () => {
    expect(
      asRefusal(
        given(healthy)
          .at(NOW)
          .planManual(switchover({ to: 'a' })),
      ),
    ).toBe('a is already active (epoch 4)');
  });

  it('refuses a node that is not eligible, giving its reason and pointing at force', () => {
    const g: Given = { ...healthy, nodes: { ...healthy.nodes, c: up({ status: 'maintenance' }) } };
    expect(
      asRefusal(
        given(g)
          .at(NOW)
          .planManual(switchover({ to: 'c' })),
      ),
    ).toBe('c is in maintenance; use force to override');
  });

  it('promotes a node that is not eligible when forced, with a write that does not require it to be ok', () => {
    const g: Given = { ...healthy, nodes: { ...healthy.nodes, c: up({ status: 'failing' }) } };
    const promotion = asPromotion(
      given(g)
        .at(NOW)
        .planManual(switchover({ to: 'c', force: true, reason: 'drill', immediate: true })),
    );
    expect(promotion).toMatchObject({
      cause: 'switchover',
      from: 'a',
      to: 'c',
      expectedEpoch: 4,
      by: 'local',
    });
    // Forced: the write re-checks only that the epoch is unchanged and c is alive.
    expect(promotion.guards).toEqual([
      { rule: 'epoch', epoch: 4 },
      { rule: 'alive', node: 'c', leaseMs: LEASE },
    ]);
    expect(promotion.reason).toBe(
      'switchover requested by local (drill); promoted c (priority 3) (forced); immediate: a was not asked to step down first, only the epoch fences it',
    );
  });

  it('refuses to force a node that is not alive', () => {
    const g: Given = { ...healthy, nodes: { ...healthy.nodes, c: expired() } };
    expect(
      asRefusal(
        given(g)
          .at(NOW)
          .planManual(switchover({ to: 'c', force: true })),
      ),
    ).toBe(
      'c was last seen 20 s ago (lease 15 s); a node that is not alive cannot be promoted, even with force',
    );
    const never: Given = { ...healthy, nodes: { a: up(), b: up() } };
    expect(
      asRefusal(
        given(never)
          .at(NOW)
          .planManual(switchover({ to: 'c', force: true })),
      ),
    ).toMatch(/^c was never seen; a node that is not alive cannot be promoted, even with force$/);
  });

  it('records a forced demote-first switchover to an alive but failing node as forced, so its completion re-checks only liveness', () => {
    const start = asHandover(
      given({ ...healthy, nodes: { ...healthy.nodes, c: up({ status: 'failing' }) } })
        .at(NOW)
        .planManual(switchover({ to: 'c', force: true })),
    );
    expect(start.handover).toMatchObject({ from: 'a', to: 'c', force: true });
    expect(start.guards).toContainEqual({ rule: 'alive', node: 'c', leaseMs: LEASE });
  });

  it('starts a demote-first handover to the named eligible node, whose write re-checks the sync guards', () => {
    const start = asHandover(
      given(healthy)
        .at(NOW)
        .planManual(switchover({ to: 'c' })),
    );
    expect(start.handover).toEqual({
      cause: 'switchover',
      from: 'a',
      to: 'c',
      epoch: 4,
      since: NOW,
      deadline: NOW + LEASE,
      by: 'local',
      reason: 'switchover requested by local',
    });
    expect(start.guards).toEqual([
      { rule: 'epoch', epoch: 4 },
      { rule: 'no-handover' },
      { rule: 'alive', node: 'c', leaseMs: LEASE },
      { rule: 'ok', node: 'c' },
      { rule: 'no-promise', node: 'c' },
    ]);
  });

  it('promotes at once when asked for immediate, saying that only the epoch fences the old active', () => {
    const promotion = asPromotion(
      given(healthy)
        .at(NOW)
        .planManual(switchover({ to: 'c', immediate: true })),
    );
    expect(promotion).toMatchObject({ cause: 'switchover', from: 'a', to: 'c', expectedEpoch: 4 });
    expect(promotion.guards).toEqual([
      { rule: 'epoch', epoch: 4 },
      { rule: 'alive', node: 'c', leaseMs: LEASE },
      { rule: 'ok', node: 'c' },
      { rule: 'no-promise', node: 'c' },
    ]);
    expect(promotion.reason).toBe(
      'switchover requested by local; promoted c (priority 3); immediate: a was not asked to step down first, only the epoch fences it',
    );
  });

  it('promotes at once when there is no active to step down', () => {
    const g: Given = { nodes: { a: up(), b: up() } };
    const promotion = asPromotion(
      given(g)
        .at(NOW)
        .planManual(switchover({ to: 'b' })),
    );
    expect(promotion.reason).toBe('switchover requested by local; promoted b (priority 2)');
  });

  it('hands over to the best eligible standby when no node is named', () => {
    const g: Given = { ...healthy, nodes: { ...healthy.nodes, b: up({ status: 'maintenance' }) } };
    expect(asHandover(given(g).at(NOW).planManual(switchover())).handover.to).toBe('c');
  });

  it('refuses a second switchover while a handover is in progress, saying until when', () => {
    const g: Given = { active: 'a', nodes: { a: up(), b: up(), c: up() }, handover: handover() };
    expect(
      asRefusal(
        given(g)
          .at(NOW)
          .planManual(switchover({ to: 'c' })),
      ),
    ).toBe(
      `a switchover from a to b is in progress (it completes by ${new Date(NOW - 5 * SECOND + LEASE).toISOString()})`,
    );
  });

  it('refuses when no node is named and no standby is eligible, with each reason', () => {
    const g: Given = { ...healthy, nodes: { a: up(), b: up({ status: 'failing' }) } };
    expect(asRefusal(given(g).at(NOW).planManual(switchover()))).toBe(
      'no standby can take over (b is failing; c was never seen)',
    );
  });
});

describe('release (planManual)', () => {
  const healthy: Given = { active: 'a', epoch: 4, nodes: { a: up(), b: up(), c: up() } };

  it.each([
    ["a standby's release", healthy, 'b is not active (active: a); nothing to release'],
    [
      'a release while no node is active',
      { nodes: healthy.nodes },
      'b is not active (active: none); nothing to release',
    ],
  ] as const)('is a no-op for %s, and says so', (_, g: Given, message) => {
    expect(given(g).at(NOW).planManual(release('b'))).toEqual({ type: 'noop', message });
  });

  it('hands the role from the active to the best eligible standby, by the node itself', () => {
    const promotion = asPromotion(given(healthy).at(NOW).planManual(release('a')));
    expect(promotion).toMatchObject({
      cause: 'release',
      from: 'a',
      to: 'b',
      expectedEpoch: 4,
      by: 'node:a',
      reason: 'a released the role; promoted b (priority 2)',
    });
  });

  it('refuses to move the role off the only node of a one-node cluster, saying there is no other node', () => {
    const alone = clusterWith({ nodes: [nodeConfig('a')] });
    const g: Given = { active: 'a', nodes: { a: up() } };
    for (const request of [release('a'), switchover()]) {
      expect(asRefusal(given(g, alone).at(NOW).planManual(request))).toBe(
        'no standby can take over (the cluster has no other node)',
      );
    }
  });

  it('refuses a release by the active when no standby is eligible', () => {
    const g: Given = { ...healthy, nodes: { a: up(), b: up({ status: 'maintenance' }) } };
    expect(asRefusal(given(g).at(NOW).planManual(release('a')))).toBe(
      'no standby can take over (b is in maintenance; c was never seen)',
    );
  });
});

describe('decide: properties over arbitrary HA states', () => {
  const AUTOMATIC = new Set<PromotionCause>(['lease-expired', 'failing', 'failback']);
  const clusters = [
    sticky,
    preferred,
    clusterWith({ failback: 'preferred', failbackHoldDownSeconds: 30, maxAutoFailoversPerHour: 1 }),
    clusterWith({ maxAutoFailoversPerHour: 2, maxLagSeconds: 10 }),
    clusterWith({ failback: 'preferred', maxPositionLag: 100, requireSameVersion: true }),
    clusterWith({
      maxLagSeconds: 5,
      maxPositionLag: 50,
      requireSameVersion: true,
      maxAutoFailoversPerHour: 3,
    }),
  ];
  const age = fc.oneof(fc.integer({ min: -SECOND, max: 3 * LEASE }), fc.constantFrom(0, LEASE, LEASE + 1));
  const nodeState = fc.option(
    fc
      .record({
        age,
        status: fc.constantFrom<NodeStatus>('ok', 'ok', 'failing', 'maintenance'),
        upFor: fc.option(fc.oneof(fc.integer({ min: 0, max: 3 * MINUTE }), fc.constant(HOUR)), {
          nil: undefined,
        }),
        lagSeconds: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
        position: fc.option(
          fc.oneof(fc.integer({ min: 800, max: 1_100 }), fc.constantFrom('16/B374D848', 'x')),
          {
            nil: undefined,
          },
        ),
        version: fc.option(fc.constantFrom('1.0', '1.1'), { nil: undefined }),
      })
      .map(
        (n): NodeState => ({
          lastSeen: -n.age,
          beats: 1,
          status: n.status,
          ...(n.upFor === undefined ? {} : { upSince: -n.upFor }),
          ...(n.lagSeconds === undefined ? {} : { lagSeconds: n.lagSeconds }),
          ...(n.position === undefined ? {} : { position: n.position }),
          ...(n.position === undefined || positionKey(n.position) === undefined
            ? {}
            : { positionKey: positionKey(n.position) }),
          ...(n.version === undefined ? {} : { version: n.version }),
        }),
      ),
    { nil: undefined },
  );
  const scenario = fc.record({
    cluster: fc.integer({ min: 0, max: clusters.length - 1 }),
    now: fc.integer({ min: 2 * HOUR, max: 4_000_000_000_000 }),
    active: fc.constantFrom<string | null>(null, 'a', 'b', 'c'),
    paused: fc.constantFrom(false, false, true),
    // Ages of past automatic changes, around the one-hour boundary.
    recent: fc.array(
      fc.oneof(fc.integer({ min: 0, max: 2 * HOUR }), fc.constantFrom(HOUR - 1, HOUR, HOUR + 1)),
      {
        maxLength: 4,
      },
    ),
    a: nodeState,
    b: nodeState,
    c: nodeState,
  });

  it('never promotes an ineligible node, never promotes while paused, and never exceeds the flap guard', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(scenario, (s) => {
        const cluster = clusters[s.cluster] as ClusterConfig;
        const nodes: Record<string, NodeState> = {};
        for (const id of ['a', 'b', 'c'] as const) {
          const n = s[id];
          if (n === undefined) continue;
          nodes[id] = {
            ...n,
            lastSeen: s.now + (n.lastSeen ?? 0),
            ...(n.upSince === undefined ? {} : { upSince: s.now + n.upSince }),
          };
        }
        const state: ClusterState = {
          ...emptyState('db'),
          epoch: s.active === null ? 0 : 5,
          active: s.active,
          nodes,
          paused: s.paused ? PAUSE : null,
          recentAutomatic: s.recent.map((ago) => s.now - ago),
        };
        const decision = decide(state, cluster, s.now);
        const key =
          decision.type === 'promote'
            ? decision.cause
            : decision.type === 'handover'
              ? decision.handover.cause
              : decision.type;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        if (decision.type === 'handover') {
          // A failback starts demote-first: only to an eligible node, never while paused or past the guard.
          expect(eligibility(state, cluster, decision.handover.to, s.now).eligible).toBe(true);
          expect(state.paused).toBeNull();
          const lastHour = state.recentAutomatic.filter((t) => s.now - t < HOUR).length;
          expect(lastHour).toBeLessThan(cluster.maxAutoFailoversPerHour);
          return;
        }
        if (decision.type !== 'promote') return;

        expect(eligibility(state, cluster, decision.to, s.now)).toEqual({ eligible: true, reason: null });
        expect(decision.to).not.toBe(state.active);
        // Only a maintenance handover (planned, like a release) goes ahead while paused.
        if (decision.cause !== 'maintenance') expect(state.paused).toBeNull();
        expect(checksPause(decision, state, s.now)).toBe(decision.cause !== 'maintenance');
        if (AUTOMATIC.has(decision.cause)) {
          const lastHour = state.recentAutomatic.filter((t) => s.now - t < HOUR).length;
          expect(lastHour).toBeLessThan(cluster.maxAutoFailoversPerHour);
          expect(decision.recentAutomatic.length).toBeLessThanOrEqual(cluster.maxAutoFailoversPerHour);
          expect(decision.recentAutomatic.at(-1)).toBe(s.now);
        }
        expect(decision.recentAutomatic.every((t) => s.now - t < HOUR || t === s.now)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
    // The generator reaches every kind of decision, so the property is not vacuous.
    for (const kind of [
      'steady',
      'hold',
      'first-active',
      'lease-expired',
      'failing',
      'maintenance',
      'failback',
    ]) {
      expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(5);
    }
  });
});

describe('demote-first handover (a switchover or a failback in progress)', () => {
  /** a active at epoch 1 and told to step down for b 5 s ago; b and c healthy. */
  const pending = (a: Partial<NodeState> = {}, extra: Partial<Given> = {}): Given => ({
    active: 'a',
    nodes: { a: up(a), b: up(), c: up() },
    handover: handover(),
    ...extra,
  });
  const confirmed = { steppedDown: 1 };
  /** What the write completing the confirmed handover re-checks, `to` being promoted unforced. */
  const confirmedHandoverGuards = (to: string) => [
    { rule: 'epoch', epoch: 1 },
    { rule: 'handover', since: NOW - 5 * SECOND },
    { rule: 'stepped-down', node: 'a', epoch: 1, since: NOW - 5 * SECOND },
    { rule: 'alive', node: to, leaseMs: LEASE },
    { rule: 'ok', node: to },
    { rule: 'no-promise', node: to },
  ];

  it('waits while the old active has not confirmed and its lease may still run', () => {
    expect(given(pending()).at(NOW).decide()).toEqual({ type: 'steady' });
    expect(
      given(pending())
        .at(NOW - 5 * SECOND + LEASE - 1)
        .decide(),
    ).toEqual({ type: 'steady' });
  });

  it('promotes the new active once the old one confirms it stepped down, with a write that re-checks the confirmation', () => {
    const promotion = asPromotion(given(pending(confirmed)).at(NOW).decide());
    expect(promotion).toMatchObject({
      cause: 'switchover',
      from: 'a',
      to: 'b',
      expectedEpoch: 1,
      by: 'local',
    });
    expect(promotion.reason).toBe('switchover requested by local; a stepped down; promoted b (priority 2)');
    expect(promotion.guards).toEqual(confirmedHandoverGuards('b'));
    const write = (g: Given) => holds(guardsCondition(promotion.guards, NOW), stateOf(g));
    expect(write(pending(confirmed))).toBe(true);
    // Not once the confirmation is gone, nor for another handover.
    expect(write(pending())).toBe(false);
    expect(write(pending(confirmed, { handover: handover({ since: NOW - 4 * SECOND }) }))).toBe(false);
  });

  it('does not take a confirmation from a beat that came before the handover (or at its very millisecond), or for another epoch', () => {
    for (const ago of [6 * SECOND, 5 * SECOND]) {
      const early = beat(ago, { upSince: NOW - HOUR, steppedDown: 1 });
      expect(
        given({ ...pending(), nodes: { a: early, b: up(), c: up() } })
          .at(NOW)
          .decide(),
      ).toEqual({ type: 'steady' });
    }
    expect(
      given(pending({ steppedDown: 0 }))
        .at(NOW)
        .decide(),
    ).toEqual({ type: 'steady' });
  });

  it('promotes at the deadline without a confirmation (the old lease has run out), never a millisecond before', () => {
    const deadline = NOW - 5 * SECOND + LEASE;
    const g = pending();
    // a keeps beating (an old agent, or one that cannot run its hook): its beats renewed nothing.
    g.nodes = { ...g.nodes, a: { ...up(), lastSeen: deadline - SECOND } };
    expect(
      given(g)
        .at(deadline - 1)
        .decide(),
    ).toEqual({ type: 'steady' });
    const promotion = asPromotion(given(g).at(deadline).decide());
    expect(promotion.to).toBe('b');
    expect(promotion.guards).toContainEqual({ rule: 'handover-expired' });
    expect(promotion.reason).toBe(
      'switchover requested by local; a did not confirm within the lease (15 s), so its lease has run out; promoted b (priority 2)',
    );
    expect(holds(guardsCondition(promotion.guards, deadline - 1), stateOf(g))).toBe(false);
  });

  it('completes while paused: the old active has already stepped down', () => {
    const promotion = asPromotion(
      given(pending(confirmed, { paused: PAUSE }))
        .at(NOW)
        .decide(),
    );
    expect(promotion.to).toBe('b');
  });

  it('promotes the best other standby when the chosen one can no longer take over', () => {
    const g = pending(confirmed);
    g.nodes = { ...g.nodes, b: up({ status: 'failing' }) };
    const promotion = asPromotion(given(g).at(NOW).decide());
    expect(promotion.to).toBe('c');
    expect(promotion.reason).toBe(
      'switchover requested by local; a stepped down; b is failing, so promoted c (priority 3) instead',
    );
    // The write re-checks the handover, the confirmation and c's own guards; who asked is kept.
    expect(promotion.by).toBe('local');
    expect(promotion.guards).toEqual(confirmedHandoverGuards('c'));
  });

  it('tells only the active named in the record to step down, and nobody once another node is active', () => {
    const state = stateOf(pending());
    expect(isSteppingDown(state, 'a')).toBe(true);
    expect(isSteppingDown(state, 'b')).toBe(false);
    // A record whose old active is no longer the active one (same epoch) asks nobody.
    expect(isSteppingDown({ ...state, active: 'c' }, 'a')).toBe(false);
  });

  it('completes a forced handover to a node that is alive but failing, re-checking only its liveness', () => {
    const g = pending(confirmed, { handover: handover({ force: true }) });
    g.nodes = { ...g.nodes, b: up({ status: 'failing' }) };
    const promotion = asPromotion(given(g).at(NOW).decide());
    expect(promotion.to).toBe('b');
    expect(promotion.reason).toBe(
      'switchover requested by local; a stepped down; promoted b (priority 2) (forced)',
    );
    expect(promotion.guards).toEqual([
      { rule: 'epoch', epoch: 1 },
      { rule: 'handover', since: NOW - 5 * SECOND },
      { rule: 'stepped-down', node: 'a', epoch: 1, since: NOW - 5 * SECOND },
      { rule: 'alive', node: 'b', leaseMs: LEASE },
    ]);
  });

  it('promotes the best other standby when the chosen one has left the config', () => {
    const promotion = asPromotion(
      given(pending(confirmed, { handover: handover({ to: 'z' }) }))
        .at(NOW)
        .decide(),
    );
    expect(promotion.to).toBe('b');
    expect(promotion.reason).toBe(
      'switchover requested by local; a stepped down; z is no longer in the config, so promoted b (priority 2) instead',
    );
  });

  it('does not force a handover onto a node whose lease ran out: it promotes the best other standby', () => {
    const g = pending(confirmed, { handover: handover({ force: true }) });
    g.nodes = { ...g.nodes, b: expired() };
    const promotion = asPromotion(given(g).at(NOW).decide());
    expect(promotion.to).toBe('c');
    expect(promotion.reason).toBe(
      'switchover requested by local; a stepped down; b is no longer alive, so promoted c (priority 3) instead',
    );
  });

  it('abandons a failback whose preferred node can no longer take over, telling the old active it is active again', () => {
    const g: Given = {
      active: 'b',
      nodes: { a: up({ status: 'maintenance' }), b: up(confirmed), c: up() },
      handover: handover({ cause: 'failback', from: 'b', to: 'a', reason: 'preferred failback' }),
    };
    const cancel = given(g, preferred).at(NOW).decide();
    expect(cancel).toMatchObject({ type: 'cancel-handover', since: NOW - 5 * SECOND });
    expect((cancel as { event: { reason: string } }).event.reason).toBe(
      'preferred failback; abandoned: a is in maintenance and no other standby can take over; b is told it is active again',
    );
  });

  it('leaves a dying old active to the failover rules, whose promotion clears the handover', () => {
    const promotion = asPromotion(
      given(pending({ status: 'failing' }))
        .at(NOW)
        .decide(),
    );
    expect(promotion).toMatchObject({ cause: 'failing', to: 'b' });
  });

  it('ignores a handover record from an older epoch', () => {
    const g = pending(confirmed, { epoch: 2 });
    expect(given(g).at(NOW).decide()).toEqual({ type: 'steady' });
  });
});

// Each of these kills mutants that survived `npm run mutate` (docs/mutation.md).
describe('ranking of eligible standbys', () => {
  const promoted = (nodes: Record<string, NodeState>, cluster = sticky) =>
    given({ active: 'a', nodes: { a: expired(), ...nodes } }, cluster)
      .at(NOW)
      .decide();

  it('promotes the higher-priority standby when neither reports a position or a lag', () => {
    expect(promoted({ b: up(), c: up() })).toMatchObject({ type: 'promote', to: 'b' });
    expect(promoted({ c: up(), b: up() })).toMatchObject({ type: 'promote', to: 'b' });
  });

  it('promotes the standby with the lower lag, and one that reports a lag over one that does not', () => {
    const gated = clusterWith({ maxLagSeconds: 10 });
    expect(promoted({ b: up({ lagSeconds: 4 }), c: up({ lagSeconds: 1 }) }, gated)).toMatchObject({
      to: 'c',
    });
    expect(promoted({ b: up(), c: up({ lagSeconds: 2 }) })).toMatchObject({ to: 'c' });
    expect(promoted({ b: up({ lagSeconds: 2 }), c: up() })).toMatchObject({ to: 'b' });
  });

  it('promotes the more advanced position first, and one that reports a position over one that does not', () => {
    expect(promoted({ b: up({ position: 10 }), c: up({ position: 20 }) })).toMatchObject({ to: 'c' });
    expect(promoted({ b: up(), c: up({ position: 5 }) })).toMatchObject({ to: 'c' });
    expect(promoted({ b: up({ position: 5 }), c: up() })).toMatchObject({ to: 'b' });
    // A position outranks a lag, however small.
    expect(promoted({ b: up({ position: 5 }), c: up({ lagSeconds: 0 }) })).toMatchObject({ to: 'b' });
    // Level positions: the lag, then priority, decide.
    expect(
      promoted({ b: up({ position: 7, lagSeconds: 3 }), c: up({ position: 7, lagSeconds: 1 }) }),
    ).toMatchObject({
      to: 'c',
    });
  });

  // Positions only: the nodes are built inside each test, so Stryker's mutants in positionKey are live.
  it.each([
    [
      'the most advanced node when the active reports no position',
      { b: 1_000, c: 1_500 },
      { b: 'b is 500 behind at position 1000, limit 100', c: null },
    ],
    [
      'the most advanced node, whichever node of the state reports it',
      { b: 1_500, c: 1_000 },
      { b: null, c: 'c is 500 behind at position 1000, limit 100' },
    ],
    [
      "the active's last position when it reports one, even when a standby reports a later one",
      { a: 1_000, b: 950, c: 1_200 },
      { b: null, c: null },
    ],
  ] as const)(
    'measures the position gate against %s',
    (_, positions: Partial<Record<string, number>>, refusals) => {
      const gated = clusterWith({ maxPositionLag: 100 });
      const at = given(
        {
          active: 'a',
          nodes: {
            a: expired(positions.a === undefined ? {} : { position: positions.a }),
            b: up({ position: positions.b }),
            c: up({ position: positions.c }),
          },
        },
        gated,
      ).at(NOW);
      for (const [node, reason] of Object.entries(refusals)) {
        expect(at.eligibility(node)).toEqual({ eligible: reason === null, reason });
      }
    },
  );
});

describe('write-time guards', () => {
  const holdsAt = (
    guard: Parameters<typeof guardsCondition>[0][number],
    nodes: Record<string, NodeState>,
    now = NOW,
  ) => holds(guardsCondition([guard], now), stateOf({ active: 'a', nodes }));

  it('lets a preferred failback through only once the node has been up for the whole hold-down', () => {
    const guard = { rule: 'up-for', node: 'b', ms: HOLD_DOWN } as const;
    expect(holdsAt(guard, { b: up({ upSince: NOW - HOLD_DOWN }) })).toBe(true);
    expect(holdsAt(guard, { b: up({ upSince: NOW - HOLD_DOWN + 1 }) })).toBe(false);
  });

  it('refuses a same-version promotion once an active that reported no version reports one', () => {
    const guard = { rule: 'version', node: 'b', active: 'a', version: null } as const;
    expect(holdsAt(guard, { a: expired(), b: up({ version: '1.0' }) })).toBe(true);
    expect(holdsAt(guard, { a: expired({ version: '1.1' }), b: up({ version: '1.0' }) })).toBe(false);
  });

  it("takes the old active's step-down only from a beat after the handover was recorded, not one at its very millisecond", () => {
    const since = NOW - 5 * SECOND;
    const guard = { rule: 'stepped-down', node: 'a', epoch: 1, since } as const;
    const a = (lastSeen: number) => ({ ...up({ steppedDown: 1 }), lastSeen });
    expect(holdsAt(guard, { a: a(since + 1) })).toBe(true);
    expect(holdsAt(guard, { a: a(since) })).toBe(false);
  });

  it('completes an unconfirmed handover at its deadline, not a millisecond before', () => {
    const handover: Handover = {
      cause: 'switchover',
      from: 'a',
      to: 'b',
      epoch: 1,
      since: NOW - LEASE,
      deadline: NOW,
      reason: 'switchover to b',
    };
    const expiredAt = (now: number) =>
      holds(guardsCondition([{ rule: 'handover-expired' }], now), stateOf({ active: 'a', handover }));
    expect(expiredAt(NOW)).toBe(true);
    expect(expiredAt(NOW - 1)).toBe(false);
  });

  it('names the rule when a guard has no words of its own for a refusal', () => {
    expect(refusal({ rule: 'epoch', epoch: 2 }, stateOf({ active: 'a' }), NOW)).toBe(
      'does not meet the epoch rule',
    );
  });
});
