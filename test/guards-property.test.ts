/**
 * Issue 9's tie between the two readings of every promotion guard, over the real store:
 * `decide` judges a state in memory at t0; the state stored in DynamoDB (dynalite) then
 * changes through the store's own operations (beats, pauses, a racing worker, time); the
 * promotion is committed at t1 with the decision's guards. The commit must succeed exactly
 * when the same guards, evaluated in memory on the changed state at t1, still hold; what
 * it writes must be exactly what the pure `promote()` gives; and a promotion it lets
 * through must still be one `decide` allows on the changed state at t1.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { type ClusterConfig, type ConfigInput, parseConfig } from '../shared/config.js';
import { holds } from '../shared/core/condition.js';
import { decide } from '../shared/core/decide.js';
import { eligibility } from '../shared/core/eligibility.js';
import { clusterEvent } from '../shared/core/events.js';
import { firstFailing, guardsCondition, type Rule } from '../shared/core/guards.js';
import { positionKey } from '../shared/core/positions.js';
import type { Promotion } from '../shared/core/promotion.js';
import {
  type Beat,
  type ClusterState,
  emptyState,
  type NodeState,
  type NodeStatus,
  type Position,
} from '../shared/core/state.js';
import { promote } from '../shared/core/transitions.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { clusterPk, STATE_SK } from '../shared/store/expressions.js';
import { freshId } from './helpers/store-fixtures.js';

const SECOND = 1_000;
const HOUR = 3_600 * SECOND;
const LEASE = 3 * SECOND; // 1 s interval × 3 missed beats
const HOLD_DOWN = 10 * SECOND;
const T0 = Date.UTC(2030, 0, 1);
const NODES = ['a', 'b', 'c'] as const;
type NodeId = (typeof NODES)[number];

type ClusterInput = ConfigInput['clusters'][number];
const HASH = '0'.repeat(64);

/** Cluster configs that between them switch every guard on; nodes a, b, c in priority order. */
const CONFIGS: Array<Partial<ClusterInput>> = [
  {},
  { failback: 'preferred', failbackHoldDownSeconds: HOLD_DOWN / SECOND },
  { maxLagSeconds: 5, maxAutoFailoversPerHour: 2 },
  { maxPositionLag: 100 },
  {
    failback: 'preferred',
    failbackHoldDownSeconds: HOLD_DOWN / SECOND,
    maxPositionLag: 100,
    requireSameVersion: true,
  },
  { maxLagSeconds: 5, maxPositionLag: 100, requireSameVersion: true, maxAutoFailoversPerHour: 2 },
];

/** The configs as parsed, for cluster `db` (each run stores its state under a fresh id). */
const CLUSTERS = CONFIGS.map((overrides) => clusterConfig('db', overrides));

function clusterConfig(id: string, overrides: Partial<ClusterInput>): ClusterConfig {
  const config = parseConfig({
    clusters: [
      {
        id,
        heartbeatIntervalSeconds: 1,
        missedBeats: 3,
        nodes: NODES.map((n) => ({ id: n, address: `${n}.db.internal`, tokenSha256: HASH })),
        ...overrides,
      },
    ],
  });
  return config.clusters[0] as ClusterConfig;
}

// ---------------------------------------------------------------------------------------
// Generators. Values bunch around the boundaries the guards draw: the lease, the hold-down,
// a lag of 5 s and a position 100 behind a reference near 1000.

/** A position as an agent reports it: a number, a digit string, a PostgreSQL LSN, or not comparable. */
const positionArb: fc.Arbitrary<Position> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.oneof(fc.integer({ min: 850, max: 1_050 }), fc.constantFrom(899, 900, 901, 999, 1_000, 1_001)),
        fc.constantFrom('number', 'digits', 'lsn'),
      )
      .map(([value, form]) =>
        form === 'number'
          ? value
          : form === 'digits'
            ? String(value)
            : `0/${value.toString(16).toUpperCase()}`,
      ),
  },
  { weight: 1, arbitrary: fc.constant('x') },
);
const statusArb = fc.constantFrom<NodeStatus>('ok', 'ok', 'ok', 'failing', 'maintenance');
const versionArb = fc.option(fc.constantFrom('1.0', '1.1'), { nil: undefined });
const lagArb = fc.option(fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constantFrom(5, 6)), {
  nil: undefined,
});

const nodeArb = fc
  .record({
    age: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: LEASE }) },
      { weight: 1, arbitrary: fc.integer({ min: LEASE + 1, max: 3 * LEASE }) },
      { weight: 1, arbitrary: fc.constantFrom(0, LEASE - 1, LEASE, LEASE + 1) },
    ),
    status: statusArb,
    upFor: fc.option(
      fc.oneof(fc.integer({ min: 0, max: 2 * HOLD_DOWN }), fc.constantFrom(HOLD_DOWN - 1, HOLD_DOWN, HOUR)),
      { nil: undefined },
    ),
    lagSeconds: lagArb,
    position: fc.option(positionArb, { nil: undefined }),
    version: versionArb,
    beats: fc.integer({ min: 1, max: 1_000 }),
  })
  .map((n): NodeState => {
    const lastSeen = T0 - n.age;
    const key = n.position === undefined ? undefined : positionKey(n.position);
    return {
      lastSeen,
      beats: n.beats,
      status: n.status,
      // upSince is only kept while the node is ok, and is never after its last beat.
      ...(n.status === 'ok' && n.upFor !== undefined ? { upSince: Math.min(lastSeen, T0 - n.upFor) } : {}),
      ...(n.lagSeconds === undefined ? {} : { lagSeconds: n.lagSeconds }),
      ...(n.position === undefined ? {} : { position: n.position }),
      ...(key === undefined ? {} : { positionKey: key }),
      ...(n.version === undefined ? {} : { version: n.version }),
    };
  });

const stateArb = fc
  .record({
    config: fc.integer({ min: 0, max: CONFIGS.length - 1 }),
    a: fc.option(nodeArb, { nil: undefined, freq: 6 }),
    b: fc.option(nodeArb, { nil: undefined, freq: 6 }),
    c: fc.option(nodeArb, { nil: undefined, freq: 6 }),
    active: fc.constantFrom<NodeId | null>(null, 'a', 'a', 'b', 'c'),
    /** Mostly an active that needs replacing: expired, failing or in maintenance. */
    activeHealth: fc.constantFrom('expired', 'expired', 'failing', 'maintenance', 'as generated'),
    epoch: fc.integer({ min: 1, max: 50 }),
    paused: fc.boolean(),
    pausedWeight: fc.integer({ min: 0, max: 3 }),
    recent: fc.array(fc.oneof(fc.integer({ min: 0, max: 2 * HOUR }), fc.constantFrom(HOUR - 1, HOUR)), {
      maxLength: 3,
    }),
  })
  .map((g) => {
    const nodes: Record<string, NodeState> = {};
    for (const id of NODES) {
      const n = g[id];
      if (n !== undefined) nodes[id] = n;
    }
    // An active node has always beaten (only seen nodes are promoted).
    const active = g.active !== null && nodes[g.active] !== undefined ? g.active : null;
    const record = active === null ? undefined : nodes[active];
    if (active !== null && record !== undefined && g.activeHealth !== 'as generated') {
      const { upSince: _up, ...rest } = record;
      nodes[active] =
        g.activeHealth === 'expired'
          ? { ...record, lastSeen: Math.min(record.lastSeen ?? T0, T0 - LEASE - 1) }
          : { ...rest, status: g.activeHealth };
    }
    const state: ClusterState = {
      ...emptyState('db'),
      epoch: active === null ? 0 : g.epoch,
      active,
      activeSince: active === null ? null : T0 - HOUR,
      nodes,
      // Paused about one run in eight.
      paused: g.paused && g.pausedWeight === 0 ? { since: T0 - HOUR, by: 'local', reason: 'a window' } : null,
      recentAutomatic: g.recent.map((ago) => T0 - ago).sort((x, y) => x - y),
    };
    return { config: g.config, state };
  })
  // Only states where decide promotes at t0: the property is about what happens to a promotion.
  .filter((g) => decide(g.state, CLUSTERS[g.config] as ClusterConfig, T0).type === 'promote');

/** Whom a beat comes from: the decision's candidate, its active, another node, or a node by name. */
type Beater = 'candidate' | 'active' | 'other' | NodeId;
type Field = 'status' | 'lagSeconds' | 'position' | 'version';

/** Something that happens to the stored state between the decision and its commit. */
type Change =
  /**
   * A heartbeat that repeats what the node reported last (a renewal), or changes one field
   * of it: each guard is put to the test while the others still hold. An absent value
   * leaves the field out of the beat (which clears a lag or a position).
   */
  | { kind: 'beat'; from: Beater; field: Field | null; value: string | number | undefined }
  | { kind: 'pause' }
  | { kind: 'resume' }
  /** Another worker (sweep, heartbeat, retried Lambda) reads the state and acts first. */
  | { kind: 'rival' };

const fieldArb: fc.Arbitrary<{ field: Field | null; value: string | number | undefined }> = fc.oneof(
  fc.constant({ field: null, value: undefined }),
  fc.record({ field: fc.constant<Field>('status'), value: statusArb }),
  fc.record({ field: fc.constant<Field>('lagSeconds'), value: lagArb }),
  fc.record({ field: fc.constant<Field>('position'), value: fc.option(positionArb, { nil: undefined }) }),
  fc.record({ field: fc.constant<Field>('version'), value: versionArb }),
);

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.constantFrom<Beater>(
          'candidate',
          'candidate',
          'candidate',
          'candidate',
          'active',
          'other',
          ...NODES,
        ),
        fieldArb,
      )
      .map(([from, { field, value }]): Change => ({ kind: 'beat', from, field, value })),
  },
  { weight: 1, arbitrary: fc.constant<Change>({ kind: 'pause' }) },
  { weight: 1, arbitrary: fc.constant<Change>({ kind: 'resume' }) },
  { weight: 1, arbitrary: fc.constant<Change>({ kind: 'rival' }) },
);

const historyArb = fc.record({
  state: stateArb,
  /** t1 − t0: from an instant to two leases, with the lease's own boundaries. */
  elapsed: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: LEASE / 2 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 * LEASE }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, LEASE - 1, LEASE, LEASE + 1, HOLD_DOWN) },
  ),
  /** Each change at t0 + elapsed × permille / 1000, in time order. */
  changes: fc.array(fc.tuple(changeArb, fc.integer({ min: 0, max: 1_000 })), { minLength: 0, maxLength: 3 }),
});

// ---------------------------------------------------------------------------------------

let dynamo: LocalDynamo;
let store: DynamoStateStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo({ table: 'guards-property' });
  store = new DynamoStateStore(dynamo.client, dynamo.table);
});

afterAll(async () => {
  await dynamo?.close();
});

/**
 * Writes a generated cluster record as the state item. The store has no operation that
 * creates an arbitrary state (an active, an epoch, nodes beaten at past times) in one go;
 * everything after this goes through the store's own operations. Absent fields are left
 * out, as the store does (it removes attributes rather than writing nulls).
 */
async function seed(state: ClusterState): Promise<void> {
  const item: Record<string, unknown> = { pk: clusterPk(state.cluster), sk: STATE_SK };
  for (const [key, value] of Object.entries(state)) if (value !== null) item[key] = value;
  await dynamo.client.send(
    new PutItemCommand({ TableName: dynamo.table, Item: marshall(item, { removeUndefinedValues: true }) }),
  );
}

/**
 * Applies `change` at `at` through the store. `last` is the stored state when known (a
 * beat's ALL_NEW answer); returns the state after the change when the write returned it.
 */
async function applyChange(
  cluster: ClusterConfig,
  decision: Promotion,
  change: Change,
  at: number,
  last: ClusterState | null,
): Promise<ClusterState | null> {
  const id = cluster.id;
  switch (change.kind) {
    case 'beat': {
      const involved = [decision.to, decision.from];
      const node =
        change.from === 'candidate'
          ? decision.to
          : change.from === 'active'
            ? (decision.from ?? decision.to)
            : change.from === 'other'
              ? (NODES.find((n) => !involved.includes(n)) ?? decision.to)
              : change.from;
      const reported = (last ?? (await store.load(id))).nodes[node];
      const beat: Record<string, unknown> = {
        status: reported?.status,
        lagSeconds: reported?.lagSeconds,
        position: reported?.position,
        version: reported?.version,
      };
      if (change.field !== null) beat[change.field] = change.value;
      for (const key of Object.keys(beat)) if (beat[key] === undefined) delete beat[key];
      return store.recordHeartbeat(cluster, node, beat as Beat, at);
    }
    case 'pause': {
      const state = await store.load(id);
      const by = 'arn:aws:iam::123456789012:user/alice';
      const event = clusterEvent(state, 'paused', 'automation paused for a test', at, by);
      await store.setPause(id, { since: at, by, reason: 'a test' }, event);
      return null;
    }
    case 'resume': {
      const state = await store.load(id);
      await store.clearPause(id, clusterEvent(state, 'resumed', 'automation resumed', at, 'local'));
      return null;
    }
    case 'rival': {
      // What the control plane does with a decision of its own (see ControlPlane.reconcile).
      const rival = decide(await store.load(id), cluster, at);
      if (rival.type === 'promote') await store.commitPromotion(rival, id, at);
      if (rival.type === 'hold') await store.commitHold(rival, id);
      return null;
    }
    default: {
      const unknown: never = change;
      throw new Error(`unknown change ${JSON.stringify(unknown)}`);
    }
  }
}

/** Nodes that rank above `node` in the failback order (higher priority). */
const above = (cluster: ClusterConfig, node: string) =>
  cluster.nodes.slice(
    0,
    cluster.nodes.findIndex((n) => n.id === node),
  );

describe('a promotion decided at t0 and committed at t1 after the stored state changed', () => {
  // About 700 store round trips: seconds on an idle machine; the budget covers a loaded one.
  it('commits exactly when its guards still hold at t1, writes what promote() gives, and only what decide still allows', {
    timeout: 180_000,
  }, async () => {
    const seen = {
      runs: 0,
      committed: 0,
      refused: 0,
      /** Refused by a rule other than the epoch (not only a racing worker's win). */
      refusedByRule: new Map<Rule, number>(),
      /** decide at t1 would promote the same node at the same epoch with the same guards. */
      sameDecision: 0,
    };

    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        seen.runs += 1;
        const id = freshId('prop');
        const cluster: ClusterConfig = { ...(CLUSTERS[h.state.config] as ClusterConfig), id };
        const initial: ClusterState = { ...h.state.state, cluster: id };
        // 1. The decision at t0 (on the state as stored: it reads back unchanged).
        const decision = decide(initial, cluster, T0) as Promotion;
        expect(decision.type).toBe('promote');
        await seed(initial);

        // 2. The stored state changes between the decision and its commit.
        const t1 = T0 + h.elapsed;
        const changes = h.changes
          .map(([change, permille]) => ({ change, at: T0 + Math.floor((h.elapsed * permille) / 1_000) }))
          .sort((x, y) => x.at - y.at);
        let last: ClusterState | null = initial;
        for (const { change, at } of changes) last = await applyChange(cluster, decision, change, at, last);
        const changed = await store.load(id);
        // The seeded record reads back as generated.
        if (changes.length === 0) expect(changed).toEqual(initial);

        // 3. The commit at t1, against the pure reading of the same guards.
        const stillHolds = holds(guardsCondition(decision.guards, t1), changed);
        const committed = await store.commitPromotion(decision, id, t1);
        expect(committed !== null, describeRun(decision, changed, t1)).toBe(stillHolds);

        if (committed === null) {
          seen.refused += 1;
          const failed = firstFailing(decision.guards, changed, t1) as { rule: Rule };
          if (failed.rule !== 'epoch') {
            seen.refusedByRule.set(failed.rule, (seen.refusedByRule.get(failed.rule) ?? 0) + 1);
          }
          // The loser changes nothing.
          expect(await store.load(id)).toEqual(changed);
        } else {
          seen.committed += 1;
          // What the write set is what the pure transition gives, and what is stored.
          expect(committed).toEqual(promote(changed, decision, t1));
        }

        // 4. The same question asked of decide on the changed state at t1.
        const again = decide(changed, cluster, t1);
        const same =
          again.type === 'promote' &&
          again.to === decision.to &&
          again.expectedEpoch === decision.expectedEpoch &&
          again.from === decision.from;
        if (committed !== null) {
          // Safety: the promoted node is still eligible, and the cluster still needs the
          // change. decide may pick a better-ranked node (a more advanced position, a higher
          // priority) that came up meanwhile: the guards judge the candidate, not the ranking.
          expect(eligibility(changed, cluster, decision.to, t1)).toEqual({ eligible: true, reason: null });
          if (decision.cause === 'failback') {
            const betterUp = above(cluster, decision.to).some(
              (n) => eligibility(changed, cluster, n.id, t1).eligible,
            );
            expect(same || (betterUp && again.type !== 'hold'), JSON.stringify(again)).toBe(true);
          } else if (again.type === 'hold' && again.hold.code === 'grace') {
            // A beat after a gap longer than the lease looks, on its own, like the control
            // plane's return (grace.ts); the write re-checks only a recorded grace. A decision
            // made before that beat found the active already unhealthy (expired, failing or
            // in maintenance), so it is no healthy incumbent deposed for an absence: allowed.
            expect(decision.from).not.toBeNull();
            expect(decision.cause).not.toBe('failback');
          } else {
            expect(again, describeRun(decision, changed, t1)).toMatchObject({
              type: 'promote',
              expectedEpoch: decision.expectedEpoch,
              from: decision.from,
            });
          }
        }
        if (same) {
          // Liveness: when decide at t1 still makes this promotion on the same terms, the
          // commit goes through. On other terms (the position reference or the active's
          // version moved, or a failover became a failback), the write may refuse, but only
          // on a term decide no longer uses.
          const terms = new Set(again.guards.map((g) => JSON.stringify(g)));
          const dropped = decision.guards.filter((g) => !terms.has(JSON.stringify(g)));
          if (dropped.length === 0) {
            seen.sameDecision += 1;
            expect(committed, describeRun(decision, changed, t1)).not.toBeNull();
          } else if (committed === null) {
            expect(dropped).toContainEqual(firstFailing(decision.guards, changed, t1));
          }
        }
      }),
      { numRuns: 100 },
    );

    // Not vacuous: promotions are committed and refused, and decide often agrees on the terms.
    expect(seen.committed).toBeGreaterThan(20);
    expect(seen.sameDecision).toBeGreaterThan(10);
    expect(seen.refused).toBeGreaterThan(20);
    // Refusals come from several rules, not only from a racing worker's epoch.
    expect(seen.refusedByRule.size, JSON.stringify([...seen.refusedByRule])).toBeGreaterThanOrEqual(3);
  });
});

function describeRun(decision: Promotion, changed: ClusterState, t1: number): string {
  return JSON.stringify({ decision, changed, t1 });
}
