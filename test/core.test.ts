/**
 * The pure core, given / when / then. Time is data: every call gets `now` explicitly and
 * node states say how long ago (on the control plane's clock) their last beat arrived.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClusterConfig, parseConfig } from '../shared/config.js';
import { holds } from '../shared/core/condition.js';
import { type Decision, decide } from '../shared/core/decide.js';
import { isAlive, isHealthy } from '../shared/core/eligibility.js';
import { driftEvent, eventId, promotionEvent } from '../shared/core/events.js';
import { heardRecently, lateEverywhere } from '../shared/core/grace.js';
import { guardsCondition } from '../shared/core/guards.js';
import { targetsDue, unsettledUntil } from '../shared/core/serving.js';
import {
  type ClusterEvent,
  type ClusterState,
  emptyState,
  type Hold,
  type NodeState,
  type NodeStatus,
  type TargetState,
} from '../shared/core/state.js';
import { promote } from '../shared/core/transitions.js';
import { nodeViews } from '../shared/core/views.js';
import { eventKey } from '../shared/store/event-log.js';

// ---------------------------------------------------------------------------------------
// Fixtures: a three-node cluster (a, b, c in priority order; 5 s × 3 beats = 15 s lease)
// and a single-node one, built through the real config parser.

const HASH = '0'.repeat(64);
const node = (id: string) => ({ id, address: `${id}.db.internal`, tokenSha256: HASH });
const config = parseConfig({
  clusters: [
    {
      id: 'db',
      heartbeatIntervalSeconds: 5,
      missedBeats: 3,
      nodes: [node('a'), node('b'), node('c')],
      targets: [
        { type: 'log' },
        { type: 'webhook', id: 'hook', url: 'https://hooks.example/failover', secretEnv: 'HOOK_SECRET' },
      ],
    },
    { id: 'solo', nodes: [node('a')] },
  ],
});
const db = config.clusters[0] as ClusterConfig;
const solo = config.clusters[1] as ClusterConfig;

const SECOND = 1_000;
const INTERVAL = 5 * SECOND;
const LEASE = 15 * SECOND;
/** The control plane's clock at the moment of each "when". */
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A node whose last heartbeat reached the control plane `agoMs` before NOW. */
function beat(agoMs: number, status: NodeStatus = 'ok'): NodeState {
  return { lastSeen: NOW - agoMs, beats: 42, status };
}

interface Given {
  cluster?: string;
  active?: string | null;
  epoch?: number;
  nodes?: Record<string, NodeState>;
  targets?: Record<string, TargetState>;
  hold?: Hold | null;
}

function stateOf(g: Given): ClusterState {
  const active = g.active ?? null;
  return {
    ...emptyState(g.cluster ?? 'db'),
    epoch: g.epoch ?? (active === null ? 0 : 1),
    active,
    activeSince: active === null ? null : NOW - 3_600 * SECOND,
    nodes: g.nodes ?? {},
    targets: g.targets ?? {},
    hold: g.hold ?? null,
  };
}

/** given(state).at(now).decide() — and the other derived views of the same moment. */
function given(g: Given, cluster: ClusterConfig = db) {
  const state = stateOf(g);
  return {
    state,
    at: (now: number) => ({
      decide: () => decide(state, cluster, now),
      targetsDue: () => targetsDue(state, cluster, now),
      nodeViews: () => nodeViews(state, cluster, now),
    }),
  };
}

type Promotion = Extract<Decision, { type: 'promote' }>;
type HoldDecision = Extract<Decision, { type: 'hold' }>;

function asPromotion(decision: Decision): Promotion {
  expect(decision.type).toBe('promote');
  return decision as Promotion;
}

function asHold(decision: Decision): HoldDecision {
  expect(decision.type).toBe('hold');
  return decision as HoldDecision;
}

// ---------------------------------------------------------------------------------------

describe('isAlive', () => {
  it('counts a node as alive up to and including exactly one lease after its last beat', () => {
    expect(isAlive(beat(0), db, NOW)).toBe(true);
    expect(isAlive(beat(LEASE), db, NOW)).toBe(true);
    expect(isAlive(beat(LEASE + 1), db, NOW)).toBe(false);
  });

  it('never counts a node that has not sent a heartbeat as alive', () => {
    expect(isAlive(undefined, db, NOW)).toBe(false);
    expect(isAlive({ beats: 0, status: 'ok' }, db, NOW)).toBe(false);
  });

  it('treats a failing node as alive (liveness and health are separate)', () => {
    expect(isAlive(beat(SECOND, 'failing'), db, NOW)).toBe(true);
    expect(isHealthy(beat(SECOND, 'failing'), db, NOW)).toBe(false);
  });
});

describe('decide: the first active', () => {
  it('promotes the highest-priority alive node when the cluster has no active yet', () => {
    const decision = given({ nodes: { a: beat(2 * SECOND), b: beat(SECOND) } })
      .at(NOW)
      .decide();

    expect(decision).toEqual({
      type: 'promote',
      cause: 'first-active',
      from: null,
      to: 'a',
      expectedEpoch: 0,
      reason: 'no active node yet; promoted a (priority 1)',
      guards: [
        { rule: 'epoch', epoch: 0 },
        { rule: 'no-active' },
        { rule: 'not-paused' },
        { rule: 'alive', node: 'a', leaseMs: LEASE },
        { rule: 'ok', node: 'a' },
        { rule: 'no-promise', node: 'a' },
      ],
      recentAutomatic: [],
    });
  });

  it('promotes the only alive node when higher-priority nodes were never seen or expired', () => {
    const decision = given({ nodes: { b: beat(SECOND), c: beat(LEASE + 1) } })
      .at(NOW)
      .decide();

    expect(asPromotion(decision)).toMatchObject({ cause: 'first-active', from: null, to: 'b' });
  });
});

describe('decide: a healthy active', () => {
  it('stays steady while the active is alive and reports ok', () => {
    const decision = given({ active: 'a', nodes: { a: beat(SECOND), b: beat(0), c: beat(0) } })
      .at(NOW)
      .decide();

    expect(decision).toEqual({ type: 'steady' });
  });

  it('stays steady when the active last beat exactly one lease ago', () => {
    const decision = given({ active: 'a', nodes: { a: beat(LEASE), b: beat(0) } })
      .at(NOW)
      .decide();

    expect(decision).toEqual({ type: 'steady' });
  });

  it('promotes a standby one millisecond after the active lease ends', () => {
    const decision = given({ active: 'a', nodes: { a: beat(LEASE + 1), b: beat(0) } })
      .at(NOW)
      .decide();

    expect(asPromotion(decision)).toMatchObject({ cause: 'lease-expired', from: 'a', to: 'b' });
  });
});

describe('decide: promotion order', () => {
  it('promotes the next node in priority order when the active misses its lease', () => {
    // c beat more recently than b, but b comes first in the configured order.
    const decision = given({
      active: 'a',
      epoch: 4,
      nodes: { a: beat(LEASE + 5 * SECOND), b: beat(4 * SECOND), c: beat(0) },
    })
      .at(NOW)
      .decide();

    const promotion = asPromotion(decision);
    expect(promotion).toMatchObject({ cause: 'lease-expired', from: 'a', to: 'b', expectedEpoch: 4 });
    expect(promotion.reason).toBe(
      'a missed 4 beats (last seen 20 s ago, lease 15 s); promoted b (priority 2)',
    );
  });

  it('skips a standby whose own lease has expired', () => {
    const decision = given({ active: 'a', nodes: { a: beat(LEASE + 1), b: beat(LEASE + 1), c: beat(0) } })
      .at(NOW)
      .decide();

    expect(asPromotion(decision)).toMatchObject({ to: 'c' });
    expect(asPromotion(decision).reason).toContain('promoted c (priority 3)');
  });

  it.each<NodeStatus>(['maintenance', 'failing'])('skips an alive standby that reports %s', (status) => {
    const decision = given({
      active: 'a',
      nodes: { a: beat(LEASE + 1), b: beat(0, status), c: beat(SECOND) },
    })
      .at(NOW)
      .decide();

    expect(asPromotion(decision)).toMatchObject({ to: 'c' });
  });

  it('makes the write require the promoted node to have beaten within the lease of the write itself', () => {
    // (c beating keeps the control plane hearing the cluster: no grace.)
    const g = given({ active: 'a', nodes: { a: beat(LEASE + 1), b: beat(LEASE), c: beat(0) } });
    const promotion = asPromotion(g.at(NOW).decide());
    expect(promotion.to).toBe('b');

    // b beat exactly one lease before NOW: alive at NOW, not one millisecond later.
    expect(holds(guardsCondition(promotion.guards, NOW), g.state)).toBe(true);
    expect(holds(guardsCondition(promotion.guards, NOW + 1), g.state)).toBe(false);
  });

  it('says how many beats the active actually missed, not the configured missedBeats', () => {
    // The control plane was away for ten minutes: a's beats stopped 600 s (120 intervals) ago.
    const decision = given({ active: 'a', nodes: { a: beat(600 * SECOND), b: beat(0) } })
      .at(NOW)
      .decide();

    expect(asPromotion(decision).reason).toBe(
      'a missed 120 beats (last seen 600 s ago, lease 15 s); promoted b (priority 2)',
    );
  });

  it('says "never seen" when the active has no heartbeat on record', () => {
    const decision = given({ active: 'a', nodes: { b: beat(0) } })
      .at(NOW)
      .decide();

    expect(asPromotion(decision).reason).toBe('a was never seen (lease 15 s); promoted b (priority 2)');
  });
});

describe('decide: events on an alive active', () => {
  it('promotes immediately when the alive active reports failing', () => {
    const decision = given({ active: 'a', nodes: { a: beat(0, 'failing'), b: beat(SECOND) } })
      .at(NOW)
      .decide();

    const promotion = asPromotion(decision);
    expect(promotion).toMatchObject({ cause: 'failing', from: 'a', to: 'b' });
    expect(promotion.reason).toBe('a reported status failing; promoted b (priority 2)');
  });

  it('hands over when the alive active enters maintenance', () => {
    const decision = given({ active: 'a', nodes: { a: beat(0, 'maintenance'), b: beat(SECOND) } })
      .at(NOW)
      .decide();

    const promotion = asPromotion(decision);
    expect(promotion).toMatchObject({ cause: 'maintenance', from: 'a', to: 'b' });
    expect(promotion.reason).toContain('a entered maintenance');
  });

  it('never promotes the active itself, even when it is the highest-priority healthy-looking node', () => {
    const decision = given({ active: 'b', nodes: { a: beat(LEASE + 1), b: beat(0, 'failing'), c: beat(0) } })
      .at(NOW)
      .decide();

    expect(asPromotion(decision)).toMatchObject({ from: 'b', to: 'c' });
  });
});

describe('decide: no candidate', () => {
  it('holds, keeping the expired active, and says why each other node cannot take over', () => {
    const decision = given({
      active: 'a',
      epoch: 3,
      nodes: { a: beat(LEASE + SECOND), c: beat(20 * SECOND) },
    })
      .at(NOW)
      .decide();

    expect(decision).toEqual({
      type: 'hold',
      expectedEpoch: 3,
      active: 'a',
      hold: {
        code: 'no-candidate',
        since: NOW,
        reason:
          'a missed 3 beats (last seen 16 s ago, lease 15 s); no standby can take over (b was never seen; c was last seen 20 s ago (lease 15 s))',
      },
    });
  });

  it('holds, keeping a failing active, when every standby is failing or in maintenance', () => {
    const hold = asHold(
      given({
        active: 'a',
        nodes: { a: beat(0, 'failing'), b: beat(0, 'failing'), c: beat(0, 'maintenance') },
      })
        .at(NOW)
        .decide(),
    );

    expect(hold.active).toBe('a');
    expect(hold.hold.reason).toBe(
      'a reported status failing; no standby can take over (b is failing; c is in maintenance)',
    );
  });

  it('holds with no active when no node has ever been healthy', () => {
    const hold = asHold(
      given({ nodes: { c: beat(0, 'failing') } })
        .at(NOW)
        .decide(),
    );

    expect(hold).toMatchObject({ active: null, expectedEpoch: 0, hold: { code: 'no-candidate' } });
    expect(hold.hold.reason).toBe(
      'no active node yet; no standby can take over (a was never seen; b was never seen; c is failing)',
    );
  });

  it('holds when the only node of a single-node cluster misses its lease', () => {
    const hold = asHold(
      given({ cluster: 'solo', active: 'a', nodes: { a: beat(LEASE + 1) } }, solo)
        .at(NOW)
        .decide(),
    );

    expect(hold.active).toBe('a');
    expect(hold.hold.reason).toContain('no other node');
  });
});

describe('decide then promote: idempotence and the committed state', () => {
  const before = given({
    active: 'a',
    epoch: 4,
    nodes: { a: beat(LEASE + 1), b: beat(SECOND), c: beat(0) },
    hold: { code: 'no-candidate', reason: 'earlier hold', since: NOW - 60 * SECOND },
  });

  it('gives the same decision for the same state and time, without changing the state', () => {
    const snapshot = structuredClone(before.state);

    const first = before.at(NOW).decide();
    const second = before.at(NOW).decide();

    expect(second).toEqual(first);
    expect(before.state).toEqual(snapshot);
  });

  it('is steady at the same now once the promotion is applied, so it never promotes twice', () => {
    const promotion = asPromotion(before.at(NOW).decide());
    const after = promote(before.state, promotion, NOW);

    expect(decide(after, db, NOW)).toEqual({ type: 'steady' });
  });

  it('opens the next epoch with the new active, clears the hold and records the transition in the outbox', () => {
    const earlier: ClusterEvent = {
      cluster: 'db',
      kind: 'held',
      epoch: 4,
      at: NOW - 60 * SECOND,
      active: 'a',
      previous: 'a',
      reason: 'earlier hold',
    };
    const state: ClusterState = { ...before.state, outbox: { [eventId(earlier)]: earlier } };
    const promotion = asPromotion(decide(state, db, NOW));

    const after = promote(state, promotion, NOW);

    const transition: ClusterEvent = {
      cluster: 'db',
      kind: 'promoted',
      epoch: 5,
      at: NOW,
      active: 'b',
      previous: 'a',
      reason: promotion.reason,
    };
    expect(after).toMatchObject({ epoch: 5, active: 'b', activeSince: NOW, hold: null });
    expect(after.lastTransition).toEqual(transition);
    expect(after.outbox).toEqual({ [eventId(earlier)]: earlier, [eventId(transition)]: transition });
    expect(after.nodes).toEqual(state.nodes);
  });
});

describe('targetsDue', () => {
  const applied = (epoch: number, extra: Partial<TargetState> = {}): TargetState => ({
    epoch,
    state: 'applied',
    at: NOW - 10 * SECOND,
    attempts: 1,
    ...extra,
  });
  const withTargets = (targets: Record<string, TargetState>) =>
    given({ active: 'b', epoch: 3, nodes: { b: beat(0) }, targets })
      .at(NOW)
      .targetsDue();

  it('lists every target that has never been applied', () => {
    expect(withTargets({})).toEqual(['log', 'hook']);
  });

  it('skips a target already applied for the current epoch', () => {
    expect(withTargets({ log: applied(3), hook: applied(3) })).toEqual([]);
  });

  it('lists a target applied only for an older epoch', () => {
    expect(withTargets({ log: applied(3), hook: applied(2) })).toEqual(['hook']);
  });

  it.each<TargetState['state']>(['failed', 'stale'])(
    'lists a target whose apply for this epoch is %s',
    (state) => {
      expect(withTargets({ log: applied(3, { state }), hook: applied(3) })).toEqual(['log']);
    },
  );

  it('skips a target another worker is applying under an unexpired claim', () => {
    expect(withTargets({ log: applied(3, { state: 'applying', until: NOW + 1 }), hook: applied(3) })).toEqual(
      [],
    );
  });

  it('skips a target whose applying claim ends this millisecond: the claim write takes over only after until', () => {
    expect(withTargets({ log: applied(3, { state: 'applying', until: NOW }), hook: applied(3) })).toEqual([]);
  });

  it('lists a target whose applying claim has expired', () => {
    expect(withTargets({ log: applied(3, { state: 'applying', until: NOW - 1 }), hook: applied(3) })).toEqual(
      ['log'],
    );
  });

  it('lists a target still claimed for an older epoch, so traffic cannot stay on a deposed node', () => {
    expect(
      withTargets({ log: applied(2, { state: 'applying', until: NOW + LEASE }), hook: applied(3) }),
    ).toEqual(['log']);
  });

  it('lists a target applied while an older apply might still land, once that time has passed', () => {
    expect(
      withTargets({ log: applied(3, { settlesAt: NOW - 1 }), hook: applied(3, { settlesAt: NOW }) }),
    ).toEqual(['log']);
  });

  it('does not list a target claimed again after its settle time while that claim runs', () => {
    const again = applied(3, { state: 'applying', until: NOW + 1, settlesAt: NOW - 1 });
    expect(withTargets({ log: again, hook: applied(3) })).toEqual([]);
  });

  it('lists nothing while the cluster has no active', () => {
    expect(
      given({ nodes: { a: beat(0) } })
        .at(NOW)
        .targetsDue(),
    ).toEqual([]);
  });
});

describe('unsettledUntil: until when an earlier apply may still land on a target', () => {
  const record = (extra: Partial<TargetState>): TargetState => ({
    epoch: 2,
    state: 'applied',
    at: NOW,
    attempts: 1,
    ...extra,
  });

  it('is the expiry of a claim still running, to the millisecond it ends', () => {
    expect(unsettledUntil(record({ state: 'applying', until: NOW + 5 }), NOW)).toBe(NOW + 5);
    expect(unsettledUntil(record({ state: 'applying', until: NOW }), NOW)).toBe(NOW);
  });

  it('is a settle time carried by the record, whatever its state', () => {
    for (const state of ['applied', 'failed', 'stale'] as const) {
      expect(unsettledUntil(record({ state, settlesAt: NOW + 7 }), NOW)).toBe(NOW + 7);
    }
  });

  it('is the later of the two when a claim carries an earlier one', () => {
    expect(unsettledUntil(record({ state: 'applying', until: NOW + 5, settlesAt: NOW + 9 }), NOW)).toBe(
      NOW + 9,
    );
    expect(unsettledUntil(record({ state: 'applying', until: NOW + 9, settlesAt: NOW + 5 }), NOW)).toBe(
      NOW + 9,
    );
  });

  it('is nothing once both have passed, for a finished record, or without a record', () => {
    expect(
      unsettledUntil(record({ state: 'applying', until: NOW - 1, settlesAt: NOW - 1 }), NOW),
    ).toBeUndefined();
    expect(unsettledUntil(record({ until: NOW + 5 }), NOW)).toBeUndefined();
    expect(unsettledUntil(undefined, NOW)).toBeUndefined();
  });
});

describe('nodeViews', () => {
  // Built inside each test: code that runs while tests are collected runs before Stryker
  // switches a mutant on, so a view built at describe time would hide mutants in views.ts.
  const views = () =>
    given({
      active: 'b',
      nodes: {
        a: { ...beat(9_900, 'maintenance'), version: '1.2.3', position: 'lsn/42', lagSeconds: 0.5 },
        b: beat(LEASE + 1),
      },
    })
      .at(NOW)
      .nodeViews();

  it('derives missed beats as the whole number of intervals since the last beat', () => {
    // a: 9.9 s / 5 s → 1 (not rounded up to 2); b: 15.001 s / 5 s → 3; c: never seen.
    expect(views().map((v) => v.missedBeats)).toEqual([Math.floor(9_900 / INTERVAL), 3, null]);
    expect(views()[0]?.missedBeats).toBe(1);
  });

  it('reports what the node last said, in priority order, and marks the active role', () => {
    expect(views()[0]).toEqual({
      id: 'a',
      address: 'a.db.internal',
      priority: 1,
      role: 'standby',
      alive: true,
      status: 'maintenance',
      lastSeen: NOW - 9_900,
      lastSeenAgeMs: 9_900,
      missedBeats: 1,
      heartbeats: 42,
      region: null,
      version: '1.2.3',
      versionMismatch: false,
      position: 'lsn/42',
      lagSeconds: 0.5,
      eligible: false,
      ineligibleReason: 'a is in maintenance',
      upSince: null,
      collision: null,
      previousToken: false,
    });
    expect(views().map((v) => [v.id, v.priority, v.role])).toEqual([
      ['a', 1, 'standby'],
      ['b', 2, 'active'],
      ['c', 3, 'standby'],
    ]);
  });

  it('names a node whose last beat came with the token being rotated out', () => {
    const rotating = given({ active: 'a', nodes: { a: { ...beat(0), previousToken: true }, b: beat(0) } })
      .at(NOW)
      .nodeViews();
    expect(rotating.map((v) => [v.id, v.previousToken])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
  });

  it('shows an expired active as not alive', () => {
    expect(views()[1]).toMatchObject({ id: 'b', role: 'active', alive: false, lastSeenAgeMs: LEASE + 1 });
  });

  it('shows a never-seen node with nulls and not alive', () => {
    expect(views()[2]).toEqual({
      id: 'c',
      address: 'c.db.internal',
      priority: 3,
      role: 'standby',
      alive: false,
      status: null,
      lastSeen: null,
      lastSeenAgeMs: null,
      missedBeats: null,
      heartbeats: 0,
      region: null,
      version: null,
      versionMismatch: false,
      position: null,
      lagSeconds: null,
      eligible: false,
      ineligibleReason: 'c was never seen',
      upSince: null,
      collision: null,
      previousToken: false,
    });
  });
});

describe('eventKey', () => {
  const promoted = (epoch: number, at: number, active = 'b'): ClusterEvent => ({
    cluster: 'db',
    kind: 'promoted',
    epoch,
    at,
    active,
    previous: 'a',
    reason: `promotion ${epoch}`,
  });
  const held = (epoch: number, at: number): ClusterEvent => ({
    cluster: 'db',
    kind: 'held',
    epoch,
    at,
    active: 'b',
    previous: 'b',
    reason: `hold at ${at}`,
  });

  it('keys a promotion by its epoch only, so a retried write lands on the same record', () => {
    expect(eventKey(promoted(7, NOW, 'b'))).toBe(eventKey(promoted(7, NOW + 90 * SECOND, 'c')));
    expect(eventKey(promoted(7, NOW))).not.toBe(eventKey(promoted(8, NOW)));
  });

  it('keys holds of one epoch by time, so each distinct hold is its own record', () => {
    expect(eventKey(held(7, NOW))).not.toBe(eventKey(held(7, NOW + 1)));
  });

  it('sorts newest first as later epochs first, and within an epoch its holds before its promotion', () => {
    const events = [
      promoted(1, NOW),
      held(1, NOW + 1 * SECOND),
      held(1, NOW + 2 * SECOND),
      promoted(2, NOW + 3 * SECOND),
      held(2, NOW + 4 * SECOND),
      promoted(9, NOW + 5 * SECOND),
      promoted(10, NOW + 6 * SECOND),
      held(10, NOW + 7 * SECOND),
    ];
    const byKey = new Map(events.map((e) => [eventKey(e), e]));

    const newestFirst = [...byKey.keys()].sort().reverse();

    expect(newestFirst.map((k) => byKey.get(k))).toEqual([...events].reverse());
  });

  it('zero-pads epochs so epoch 10 sorts after epoch 9', () => {
    const keys = [eventKey(promoted(10, NOW)), eventKey(promoted(9, NOW)), eventKey(promoted(100, NOW))];

    expect(keys.sort()).toEqual([
      eventKey(promoted(9, NOW)),
      eventKey(promoted(10, NOW)),
      eventKey(promoted(100, NOW)),
    ]);
  });
});

describe('events: their outbox ids and what an operator reads', () => {
  const event = (extra: Partial<ClusterEvent>): ClusterEvent => ({
    cluster: 'db',
    kind: 'drift',
    epoch: 7,
    at: NOW,
    active: 'b',
    previous: 'b',
    reason: 'r',
    ...extra,
  });

  it('gives a promotion one id per epoch, however late a retry commits it', () => {
    const promoted = event({ kind: 'promoted', previous: 'a' });
    expect(eventId(promoted)).toBe('promoted-7');
    expect(eventId({ ...promoted, at: NOW + 90 * SECOND })).toBe(eventId(promoted));
  });

  it('keeps apart events of one millisecond by kind and subject (two targets drifting in one sweep)', () => {
    const ids = [
      event({ subject: 'dns' }),
      event({ subject: 'lb' }),
      event({ kind: 'collision', subject: 'dns' }),
      event({ kind: 'held', subject: undefined }),
      event({ kind: 'held', at: NOW + 1, subject: undefined }),
    ].map(eventId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[0]).toBe(`drift-7-${NOW}-dns`);
    expect(ids[3]).toBe(`held-7-${NOW}-`);
  });

  it('records who asked for a promotion when someone did, and nobody for an automatic one', () => {
    const automatic = asPromotion(decide(stateOf({ active: 'a', epoch: 7, nodes: { b: beat(0) } }), db, NOW));
    expect(promotionEvent('db', automatic, NOW)).not.toHaveProperty('by');
    const asked = { ...automatic, cause: 'switchover' as const, by: 'arn:aws:iam::123456789012:user/alice' };
    expect(promotionEvent('db', asked, NOW)).toMatchObject({
      kind: 'promoted',
      epoch: 8,
      active: 'b',
      previous: 'a',
      by: 'arn:aws:iam::123456789012:user/alice',
    });
  });

  it('names the drifted target, what it found and the epoch it re-applies; the target is the subject', () => {
    const s = stateOf({ active: 'b', epoch: 7, nodes: { b: beat(0) } });
    expect(driftEvent(s, 'dns', 'db.example.com points to 10.0.0.1, not 10.0.0.2', NOW)).toEqual(
      event({
        reason: 'target dns drifted: db.example.com points to 10.0.0.1, not 10.0.0.2; re-applying epoch 7',
        subject: 'dns',
      }),
    );
  });
});

describe('decide: properties over arbitrary node states and times', () => {
  const status = fc.constantFrom<NodeStatus>('ok', 'failing', 'maintenance');
  // Ages cluster around the lease boundary; negative ages are beats stamped "after" now.
  const age = fc.oneof(
    fc.integer({ min: -SECOND, max: 3 * LEASE }),
    fc.constantFrom(0, LEASE - 1, LEASE, LEASE + 1),
  );
  const nodeState = fc.option(
    fc
      .record({ age, status, beats: fc.nat(1_000) })
      .map((n): NodeState => ({ lastSeen: -n.age, beats: n.beats, status: n.status })),
    { nil: undefined },
  );
  const scenario = fc.record({
    now: fc.integer({ min: 0, max: 4_000_000_000_000 }),
    epoch: fc.nat(1_000),
    active: fc.constantFrom<string | null>(null, 'a', 'b', 'c'),
    a: nodeState,
    b: nodeState,
    c: nodeState,
  });

  /** Generated node states hold −age in `lastSeen`; this places them relative to `now`. */
  function toState(s: {
    now: number;
    epoch: number;
    active: string | null;
    a: NodeState | undefined;
    b: NodeState | undefined;
    c: NodeState | undefined;
  }): ClusterState {
    const nodes: Record<string, NodeState> = {};
    for (const id of ['a', 'b', 'c'] as const) {
      const n = s[id];
      if (n !== undefined) nodes[id] = { ...n, lastSeen: s.now + (n.lastSeen ?? 0) };
    }
    return { ...emptyState('db'), epoch: s.epoch, active: s.active, nodes };
  }

  it('promotes only a node other than the active that is alive and ok at now, and is steady iff the active is', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const state = toState(s);
        const decision = decide(state, db, s.now);
        const healthy = (id: string) => isHealthy(state.nodes[id], db, s.now);
        const activeHealthy = state.active !== null && healthy(state.active);

        expect(decision.type === 'steady').toBe(activeHealthy);
        if (decision.type === 'promote') {
          expect(decision.to).not.toBe(state.active);
          expect(healthy(decision.to)).toBe(true);
          // ...and the write re-checks, at the decision's own clock, what was decided.
          expect(holds(guardsCondition(decision.guards, s.now), state)).toBe(true);
          expect(decision).toMatchObject({ from: state.active, expectedEpoch: state.epoch });
          // ...and it is the first such node in priority order.
          const first = db.nodes.find((n) => n.id !== state.active && healthy(n.id));
          expect(decision.to).toBe(first?.id);
        }
        if (decision.type === 'hold') {
          expect(decision.active).toBe(state.active);
          // Never zero actives when a healthy candidate exists, but in the grace after the
          // control plane's own absence: it heard no node lately, or every node's beats came late.
          if (decision.hold.code === 'grace') {
            const away = !holds(heardRecently(db, s.now), state) || lateEverywhere(state, db, s.now) !== null;
            expect(away).toBe(true);
          } else {
            expect(db.nodes.filter((n) => n.id !== state.active && healthy(n.id))).toEqual([]);
          }
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
