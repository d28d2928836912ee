/**
 * Safety properties 1–3 under concurrency: many control-plane instances (as separate
 * Lambda containers would be) sharing one DynamoDB table in dynalite, racing on the same
 * transition. Interleavings come from a seeded PRNG; a failure names its seed.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import type { HeartbeatResult, SweepReport } from '../shared/control-plane/control-plane.js';
import { decide } from '../shared/core/decide.js';
import { isHealthy } from '../shared/core/eligibility.js';
import type { HandoverStart } from '../shared/core/handover.js';
import type { Promotion as PromoteDecision } from '../shared/core/promotion.js';
import type { Beat, ClusterState, NodeStatus } from '../shared/core/state.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { sleep } from '../shared/time.js';
import {
  FakeClock,
  FakeTarget,
  jitteringStore,
  makeCluster,
  makeControlPlane,
  nodeOf,
  passWhileBeating,
  seededRandom,
  shuffle,
  type TestCluster,
} from './helpers/store-fixtures.js';

const LEASE_MS = 3_000; // 1 s interval × 3 missed beats
const CALLERS = 25;
const CONTAINERS = 4;
const ITERATIONS = 50;
/** Set RACE_SEED to replay a failing run. */
const BASE_SEED = Number(process.env.RACE_SEED ?? Math.floor(Math.random() * 2 ** 31));

let dynamo: LocalDynamo;
let store: DynamoStateStore;
/** One SDK client per simulated Lambda container, all on the same table. */
const clients: DynamoDBClient[] = [];

beforeAll(async () => {
  dynamo = await startLocalDynamo({ table: 'race-test' });
  store = new DynamoStateStore(dynamo.client, dynamo.table);
  clients.push(dynamo.client);
  for (let i = 1; i < CONTAINERS; i++) {
    clients.push(
      new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
  }
});

afterAll(async () => {
  for (const client of clients.slice(1)) client.destroy();
  await dynamo?.close();
});

type Call =
  | { kind: 'sweep'; container: number; delayMs: number }
  | {
      kind: 'beat';
      node: string;
      container: number;
      delayMs: number;
    };
type Outcome = { call: Call; heartbeat?: HeartbeatResult; sweep?: SweepReport };

/** Separate control planes (one per container), each with its own client and a jittering store. */
function containers(tc: TestCluster, clock: FakeClock, target: FakeTarget, random: () => number) {
  return clients.map((client) =>
    makeControlPlane(tc, jitteringStore(new DynamoStateStore(client, dynamo.table), random, 2), clock, [
      target,
    ]),
  );
}

function planCalls(random: () => number, beaters: readonly string[]): Call[] {
  const calls: Call[] = [];
  for (let i = 0; i < CALLERS; i++) {
    const container = Math.floor(random() * CONTAINERS);
    const delayMs = Math.floor(random() * 4);
    if (random() < 0.4) calls.push({ kind: 'sweep', container, delayMs });
    else
      calls.push({
        kind: 'beat',
        node: beaters[Math.floor(random() * beaters.length)] as string,
        container,
        delayMs,
      });
  }
  return shuffle(calls, random);
}

async function runCalls(
  calls: readonly Call[],
  planes: ReturnType<typeof containers>,
  tc: TestCluster,
): Promise<Outcome[]> {
  return Promise.all(
    calls.map(async (call): Promise<Outcome> => {
      await sleep(call.delayMs);
      const plane = planes[call.container];
      if (plane === undefined) throw new Error(`no container ${call.container}`);
      if (call.kind === 'sweep') return { call, sweep: await plane.sweep() };
      return { call, heartbeat: await plane.heartbeat(tc.cluster, nodeOf(tc.cluster, call.node), {}) };
    }),
  );
}

/** Runs `body` once per seed; a failure says which seed (and base seed) to replay. */
async function forEachSeed(
  iterations: number,
  salt: number,
  body: (seed: number, i: number) => Promise<void>,
) {
  for (let i = 0; i < iterations; i++) {
    const seed = (BASE_SEED + salt * 1_000_003 + i) >>> 0;
    try {
      await body(seed, i);
    } catch (err) {
      const message = `iteration ${i}, seed ${seed} (replay with RACE_SEED=${BASE_SEED})`;
      console.error(`race failure: ${message}`);
      throw new Error(`${message}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** A 4-node cluster a, b, c, d with a active at epoch 1 and every node freshly seen at `clock.t`. */
async function activeCluster(clock: FakeClock, target: FakeTarget) {
  const tc = makeCluster({ nodeIds: ['a', 'b', 'c', 'd'], targetIds: ['dns'] });
  const setup = makeControlPlane(tc, store, clock, [target]);
  for (const n of ['a', 'b', 'c', 'd']) await setup.heartbeat(tc.cluster, nodeOf(tc.cluster, n), {});
  expect(await store.load(tc.cluster.id)).toMatchObject({ epoch: 1, active: 'a' });
  return tc;
}

async function promotedEpochs(clusterId: string): Promise<number[]> {
  return (await store.listEvents(clusterId, 500)).filter((e) => e.kind === 'promoted').map((e) => e.epoch);
}

const beatsOf = (outcomes: Outcome[], node: string) =>
  outcomes.filter((o) => o.call.kind === 'beat' && o.call.node === node).length;

// Many real SDK round trips per test (50 interleavings × 25 callers): generous time on a
// loaded 2-core machine. A budget for the run, not a timed assertion.
const RACE_TIMEOUT_MS = 180_000;

describe('exactly one winner per transition (safety property 3)', { timeout: RACE_TIMEOUT_MS }, () => {
  it('promotes exactly one standby when 25 concurrent sweeps and standby heartbeats find the active expired', async () => {
    await forEachSeed(ITERATIONS, 1, async (seed) => {
      const random = seededRandom(seed);
      const clock = new FakeClock();
      const target = new FakeTarget('dns');
      const tc = await activeCluster(clock, target);
      const id = tc.cluster.id;
      const planes = containers(tc, clock, target, random);
      // b, c, d keep beating every interval (on time: no sign of the control plane losing
      // beats, see grace.ts); a falls silent and its lease runs out.
      for (const _ of [1, 2]) {
        clock.advance(1_000);
        for (const n of ['b', 'c', 'd']) await planes[0]?.heartbeat(tc.cluster, nodeOf(tc.cluster, n), {});
      }
      clock.advance(LEASE_MS + 1 - 2_000);
      target.calls.length = 0;

      const outcomes = await runCalls(planCalls(random, ['b', 'c', 'd']), planes, tc);

      const state = await store.load(id);
      expect(state).toMatchObject({ epoch: 2, active: 'b', hold: null });
      expect(await promotedEpochs(id)).toEqual([2, 1]);
      // Every beat was recorded while a promotion raced with it: none is lost.
      for (const n of ['b', 'c', 'd']) expect(state.nodes[n]?.beats).toBe(3 + beatsOf(outcomes, n));
      // The clock did not move during the batch and a stayed silent, so no caller can have
      // answered before the promotion: each either won it or saw it when its write lost.
      for (const o of outcomes.filter((x) => x.heartbeat !== undefined)) {
        const node = o.call.kind === 'beat' ? o.call.node : '';
        expect(o.heartbeat).toMatchObject({
          epoch: 2,
          active: 'b',
          role: node === 'b' ? 'active' : 'standby',
        });
      }
      const sweeps = outcomes.flatMap((o) => (o.sweep ? [o.sweep] : []));
      expect(sweeps.reduce((sum, r) => sum + r.promoted, 0)).toBeLessThanOrEqual(1);
      expect(sweeps.every((r) => r.errors === 0 && r.held === 0)).toBe(true);
      // The target was told once, for the new epoch.
      expect(target.calls.map((c) => [c.epoch, c.active, c.previous])).toEqual([[2, 'b', 'a']]);
      expect(state.targets.dns).toMatchObject({ epoch: 2, state: 'applied' });
    });
  });

  it('ends with every answer agreeing on one active when the expired active beats again during the race', async () => {
    await forEachSeed(30, 2, async (seed) => {
      const random = seededRandom(seed);
      const clock = new FakeClock();
      const target = new FakeTarget('dns');
      const tc = await activeCluster(clock, target);
      const id = tc.cluster.id;
      const planes = containers(tc, clock, target, random);
      // b, c and d beat every interval (a gap in every node's beats would be a flooded
      // ingress, which holds); a falls silent, and its lease runs out 1 ms before the race.
      for (let t = 1_000; t <= LEASE_MS; t += 1_000) {
        clock.advance(1_000);
        for (const n of ['b', 'c', 'd']) await planes[0]?.heartbeat(tc.cluster, nodeOf(tc.cluster, n), {});
      }
      clock.advance(1);
      target.calls.length = 0;

      const calls = planCalls(random, ['a', 'b', 'c', 'd']);
      const outcomes = await runCalls(calls, planes, tc);

      const state = await store.load(id);
      // Either a renewed before any promotion was written (then every promotion write fails
      // on a's fresh lastSeen), or b was promoted first (then a's beat sees epoch 2).
      // With the clock fixed, there is no third outcome and nobody answers differently.
      const final = [state.epoch, state.active];
      expect([
        [1, 'a'],
        [2, 'b'],
      ]).toContainEqual(final);
      if (!calls.some((c) => c.kind === 'beat' && c.node === 'a')) expect(final).toEqual([2, 'b']);
      expect(await promotedEpochs(id)).toEqual(state.epoch === 2 ? [2, 1] : [1]);
      for (const o of outcomes.filter((x) => x.heartbeat !== undefined)) {
        const node = o.call.kind === 'beat' ? o.call.node : '';
        expect(o.heartbeat).toMatchObject({
          epoch: state.epoch,
          active: state.active,
          role: node === state.active ? 'active' : 'standby',
        });
      }
      expect(target.calls.map((c) => c.epoch)).toEqual(state.epoch === 2 ? [2] : []);
    });
  });

  it('elects exactly one first active at epoch 1 when 25 first beats and sweeps race on a new cluster', async () => {
    await forEachSeed(20, 4, async (seed) => {
      const random = seededRandom(seed);
      const clock = new FakeClock();
      const target = new FakeTarget('dns');
      const tc = makeCluster({ nodeIds: ['a', 'b', 'c', 'd'], targetIds: ['dns'] });
      const id = tc.cluster.id;
      const planes = containers(tc, clock, target, random);

      // Nothing exists yet: the callers race on creating the item and the node maps too.
      const outcomes = await runCalls(planCalls(random, ['a', 'b', 'c', 'd']), planes, tc);

      const state = await store.load(id);
      const beaten = ['a', 'b', 'c', 'd'].filter((n) => beatsOf(outcomes, n) > 0);
      expect(state.epoch).toBe(1);
      expect(beaten).toContain(state.active);
      expect(await promotedEpochs(id)).toEqual([1]);
      for (const n of ['a', 'b', 'c', 'd']) expect(state.nodes[n]?.beats ?? 0).toBe(beatsOf(outcomes, n));
      for (const o of outcomes.filter((x) => x.heartbeat !== undefined)) {
        const node = o.call.kind === 'beat' ? o.call.node : '';
        expect(o.heartbeat).toMatchObject({
          epoch: 1,
          active: state.active,
          role: node === state.active ? 'active' : 'standby',
        });
      }
      expect(target.calls.map((c) => [c.epoch, c.active])).toEqual([[1, state.active]]);
    });
  });

  it('never promotes anyone while the active keeps beating, even at exactly the lease boundary', async () => {
    await forEachSeed(20, 3, async (seed) => {
      const random = seededRandom(seed);
      const clock = new FakeClock();
      const target = new FakeTarget('dns');
      const tc = await activeCluster(clock, target);
      const id = tc.cluster.id;
      const planes = containers(tc, clock, target, random);
      // a's last beat is exactly one lease old: it is still alive, so nothing may change.
      clock.advance(LEASE_MS);
      for (const n of ['b', 'c', 'd']) await planes[0]?.heartbeat(tc.cluster, nodeOf(tc.cluster, n), {});
      target.calls.length = 0;

      const outcomes = await runCalls(planCalls(random, ['a', 'b', 'c', 'd']), planes, tc);

      const state = await store.load(id);
      expect(state).toMatchObject({ epoch: 1, active: 'a', hold: null });
      expect(await promotedEpochs(id)).toEqual([1]);
      expect((await store.listEvents(id, 50)).some((e) => e.kind === 'held')).toBe(false);
      for (const o of outcomes) {
        if (o.heartbeat) expect(o.heartbeat).toMatchObject({ epoch: 1, active: 'a' });
        if (o.sweep) expect(o.sweep).toMatchObject({ promoted: 0, held: 0, errors: 0, targetsApplied: 0 });
      }
      expect(target.calls).toEqual([]);
    });
  });
});

describe('a promotion re-checks eligibility at write time (safety property 2)', () => {
  /** a active at epoch 1 and expired; b alive and ok: a decision to promote b, taken at `clock.t`. */
  async function staleDecision() {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b', 'c'] });
    const cp = makeControlPlane(tc, store, clock);
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {});
    // b beats every interval, so the control plane plainly hears the cluster while a expires.
    await passWhileBeating(clock, 2_000, 1_000, () => cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), {}));
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), {});
    clock.advance(LEASE_MS + 1 - 2_000);
    const before = await store.load(tc.cluster.id);
    const decision = decide(before, tc.cluster, clock.t);
    expect(decision).toMatchObject({ type: 'promote', from: 'a', to: 'b', expectedEpoch: 1 });
    return { clock, tc, cp, before, decision: decision as PromoteDecision, id: tc.cluster.id };
  }

  async function expectUnchanged(id: string, before: ClusterState) {
    const after = await store.load(id);
    expect(after).toEqual(before);
    expect(await promotedEpochs(id)).toEqual([1]);
  }

  // The store judges liveness on the write's own clock (now − leaseMs), not on the
  // threshold fixed when the decision was taken.
  it('refuses a promotion whose candidate has expired since the decision was taken', async () => {
    const { clock, tc, decision, before, id } = await staleDecision();
    // b last beat at t0 + 2000; one lease and 1 ms later it is dead, but the decision was
    // taken while it was alive.
    const bLastSeen = before.nodes.b?.lastSeen as number;
    clock.t = bLastSeen + LEASE_MS + 1;
    expect(isHealthy(before.nodes.b, tc.cluster, clock.t)).toBe(false);

    expect(await store.commitPromotion(decision, id, clock.t)).toBeNull();
    await expectUnchanged(id, before);
  });

  // Through the control plane: the sweep takes `now` before its read; if the read is slow
  // (10,000 clusters), the promotion must still judge liveness at the time of the write.
  it('does not let a slow sweep promote a standby that expired while the sweep was reading', async () => {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b'] });
    const id = tc.cluster.id;
    const cp = makeControlPlane(tc, store, clock);
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {});
    clock.advance(2_000);
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), {});
    clock.advance(LEASE_MS + 1 - 2_000); // a has expired; b (age 1001 ms) is alive
    const slowRead = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'loadMany') {
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (ids: readonly string[]) => {
          const states = await target.loadMany(ids);
          clock.advance(LEASE_MS); // the read took 3 s; b has now been silent for 4001 ms
          return states;
        };
      },
    });
    const sweeper = makeControlPlane(tc, slowRead, clock);
    const before = await store.load(id);

    await sweeper.sweep();

    const after = await store.load(id);
    expect(isHealthy(after.nodes.b, tc.cluster, clock.t)).toBe(false);
    expect(after).toMatchObject({ epoch: 1, active: 'a' });
    expect(after.nodes).toEqual(before.nodes);
    expect(await promotedEpochs(id)).toEqual([1]);
  });

  it('refuses a promotion whose candidate reported failing since the decision was taken', async () => {
    const { clock, tc, cp, decision, id } = await staleDecision();
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), { status: 'failing' }); // holds: no one eligible
    const before = await store.load(id);
    expect(before).toMatchObject({ epoch: 1, active: 'a' });

    expect(await store.commitPromotion(decision, id, clock.t)).toBeNull();
    await expectUnchanged(id, before);
  });

  it('refuses a promotion when the active renewed its lease since the decision was taken', async () => {
    const { clock, tc, cp, decision, id } = await staleDecision();
    expect(await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {})).toMatchObject({
      role: 'active',
      epoch: 1,
    });
    const before = await store.load(id);

    expect(await store.commitPromotion(decision, id, clock.t)).toBeNull();
    await expectUnchanged(id, before);
  });

  it('draws the same lease boundary in the conditional write as decide() does', async () => {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b'] });
    const id = tc.cluster.id;
    const cp = makeControlPlane(tc, store, clock);
    const t0 = clock.t;
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {}); // a active, lastSeen t0
    clock.advance(1);
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), {}); // b lastSeen t0 + 1
    const promoteAt = (now: number): PromoteDecision => ({
      type: 'promote',
      cause: 'lease-expired',
      from: 'a',
      to: 'b',
      expectedEpoch: 1,
      reason: 'test',
      guards: [
        { rule: 'epoch', epoch: 1 },
        { rule: 'failover', active: 'a', leaseMs: LEASE_MS },
        { rule: 'alive', node: 'b', leaseMs: LEASE_MS },
        { rule: 'ok', node: 'b' },
        { rule: 'no-promise', node: 'b' },
      ],
      recentAutomatic: [now],
    });

    // a's age is exactly the lease: a is alive, so it cannot be deposed.
    expect(await store.commitPromotion(promoteAt(t0 + LEASE_MS), id, t0 + LEASE_MS)).toBeNull();
    // b's age would be the lease + 1 ms: b is dead, so it cannot be promoted.
    expect(await store.commitPromotion(promoteAt(t0 + LEASE_MS + 2), id, t0 + LEASE_MS + 2)).toBeNull();
    expect(await promotedEpochs(id)).toEqual([1]);
    // a's age is the lease + 1 ms and b's exactly the lease: the promotion goes through.
    expect(await store.commitPromotion(promoteAt(t0 + LEASE_MS + 1), id, t0 + LEASE_MS + 1)).toMatchObject({
      epoch: 2,
      active: 'b',
    });
  });

  // PostgreSQL LSNs are strings: the write compares their sortable positionKey, so a
  // string position is re-checked at write time like a number (issue 9's review found it
  // was not: a stale sweep decision promoted a node 500 behind with a limit of 100).
  it('does not let a slow sweep promote a standby whose LSN fell 500 behind (limit 100) while the sweep was reading', async () => {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b'], rules: { maxPositionLag: 100 } });
    const id = tc.cluster.id;
    const cp = makeControlPlane(tc, store, clock);
    const beat = (node: string, position: string) =>
      cp.heartbeat(tc.cluster, nodeOf(tc.cluster, node), { position });
    await beat('a', '0/3E8'); // a active at epoch 1, position 1000
    clock.advance(1_000);
    await beat('b', '0/3E8');
    clock.advance(1_000);
    await beat('b', '0/3E8');
    clock.advance(LEASE_MS + 1 - 2_000); // a has expired; b is alive and level with a
    expect(decide(await store.load(id), tc.cluster, clock.t)).toMatchObject({ type: 'promote', to: 'b' });
    const slowRead = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'loadMany') {
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (ids: readonly string[]) => {
          const states = await target.loadMany(ids);
          // While the sweep decides on what it read, b (rebuilt from an older backup)
          // reports 0/1F4: 500 behind a's last position, 5 times the limit.
          await beat('b', '0/1F4');
          return states;
        };
      },
    });
    const sweeper = makeControlPlane(tc, slowRead, clock);

    expect(await sweeper.sweep()).toMatchObject({ promoted: 0, errors: 0 });

    const after = await store.load(id);
    expect(after).toMatchObject({ epoch: 1, active: 'a' });
    expect(after.nodes.b).toMatchObject({ position: '0/1F4' });
    expect(await promotedEpochs(id)).toEqual([1]);
  });

  it("refuses a promotion when another standby's LSN moved the reference 500 past the candidate (limit 100)", async () => {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b', 'c'], rules: { maxPositionLag: 100 } });
    const id = tc.cluster.id;
    const cp = makeControlPlane(tc, store, clock);
    const beat = (node: string, body: { position?: string } = {}) =>
      cp.heartbeat(tc.cluster, nodeOf(tc.cluster, node), body);
    await beat('a', { position: '0/3E8' }); // a active at epoch 1
    clock.advance(1_000);
    // a's last beat reports no position: the reference is then the most advanced node's.
    await beat('a');
    clock.advance(1_000);
    await beat('b', { position: '0/3E8' });
    await beat('c', { position: '0/3E8' });
    clock.advance(1_000);
    await beat('b', { position: '0/3E8' });
    await beat('c', { position: '0/3E8' });
    clock.advance(LEASE_MS + 1 - 2_000); // a has expired; b and c are alive, level
    const decision = decide(await store.load(id), tc.cluster, clock.t);
    expect(decision).toMatchObject({ type: 'promote', to: 'b', expectedEpoch: 1 });

    // c reports 0/5DC (1500) before the write: b is now 500 behind the most advanced node.
    await store.recordHeartbeat(tc.cluster, 'c', { position: '0/5DC' }, clock.t);
    const before = await store.load(id);

    expect(await store.commitPromotion(decision as PromoteDecision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
    expect(decide(before, tc.cluster, clock.t)).toMatchObject({ type: 'promote', to: 'c', expectedEpoch: 1 });
  });

  // The flap guard lets a planned handover through (the node asked for it) but holds an
  // automatic failover: a handover decided while the active was in maintenance must not
  // commit once the active reports failing instead, for then it is a failover past the cap.
  it('refuses a maintenance handover past the flap guard once the active reports failing instead', async () => {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b', 'c'], rules: { maxAutoFailoversPerHour: 1 } });
    const id = tc.cluster.id;
    const cp = makeControlPlane(tc, store, clock);
    const beat = (node: string, body: { status?: NodeStatus } = {}) =>
      cp.heartbeat(tc.cluster, nodeOf(tc.cluster, node), body);
    await beat('a');
    await beat('b');
    await beat('c');
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b'));
    await beat('b'); // a expired: b promoted at epoch 2, the one automatic change the hour allows
    await beat('c');
    expect(await store.load(id)).toMatchObject({ epoch: 2, active: 'b', recentAutomatic: [clock.t] });

    // b enters maintenance: a handover is planned, so the flap guard lets it through...
    await store.recordHeartbeat(tc.cluster, 'b', { status: 'maintenance' }, clock.advance(500));
    const decision = decide(await store.load(id), tc.cluster, clock.t);
    expect(decision).toMatchObject({ type: 'promote', cause: 'maintenance', from: 'b', to: 'c' });

    // ...but b reports failing before the write: now it would be a failover past the cap.
    await store.recordHeartbeat(tc.cluster, 'b', { status: 'failing' }, clock.advance(100));
    const before = await store.load(id);
    expect(decide(before, tc.cluster, clock.t)).toMatchObject({ type: 'hold', hold: { code: 'flap-guard' } });

    expect(await store.commitPromotion(decision as PromoteDecision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });

  // Each case: a active at epoch 1 and expired, b alive and eligible; the decision to
  // promote b is taken, then one beat changes what a rule judges, then the write.
  const gateCases: Array<{
    what: string;
    rules: NonNullable<Parameters<typeof makeCluster>[0]>['rules'];
    a: Beat;
    b: Beat;
    change: [string, Beat];
  }> = [
    {
      what: 'its lag rose to 30 s (limit 5 s)',
      rules: { maxLagSeconds: 5 },
      a: { lagSeconds: 0 },
      b: { lagSeconds: 1 },
      change: ['b', { lagSeconds: 30 }],
    },
    {
      what: 'it stopped reporting a lag (limit 5 s)',
      rules: { maxLagSeconds: 5 },
      a: { lagSeconds: 0 },
      b: { lagSeconds: 1 },
      change: ['b', {}],
    },
    {
      what: "it moved to another version than the active's (requireSameVersion)",
      rules: { requireSameVersion: true },
      a: { version: '1.0' },
      b: { version: '1.0' },
      change: ['b', { version: '1.1' }],
    },
    {
      what: 'the failing active moved to another version (requireSameVersion)',
      rules: { requireSameVersion: true },
      a: { version: '1.0' },
      b: { version: '1.0' },
      change: ['a', { status: 'failing', version: '1.1' }],
    },
    {
      what: 'the failing active now reports a version, where it reported none (requireSameVersion)',
      rules: { requireSameVersion: true },
      a: {},
      b: { version: '1.0' },
      change: ['a', { status: 'failing', version: '1.1' }],
    },
  ];
  it.each(gateCases.map((c) => [c.what, c] as const))(
    'refuses the promotion of b when %s since the decision',
    async (_what, { rules, a, b, change }) => {
      const clock = new FakeClock();
      const tc = makeCluster({ nodeIds: ['a', 'b'], rules });
      const id = tc.cluster.id;
      const cp = makeControlPlane(tc, store, clock);
      expect(await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), a)).toMatchObject({
        role: 'active',
        epoch: 1,
      });
      clock.advance(1_000);
      await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), b);
      clock.advance(1_000);
      await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), b);
      clock.advance(LEASE_MS + 1 - 2_000);
      const decision = decide(await store.load(id), tc.cluster, clock.t);
      expect(decision).toMatchObject({ type: 'promote', from: 'a', to: 'b', expectedEpoch: 1 });

      await store.recordHeartbeat(tc.cluster, change[0], change[1], clock.t);
      const before = await store.load(id);
      expect(decide(before, tc.cluster, clock.t)).toMatchObject({
        type: 'hold',
        hold: { code: 'no-candidate' },
      });

      expect(await store.commitPromotion(decision as PromoteDecision, id, clock.t)).toBeNull();
      expect(await store.load(id)).toEqual(before);
    },
  );

  /**
   * Preferred failback (hold-down 10 s) over the store alone: b, the most advanced, became
   * the first active; a (priority 1, behind c) has been up for the hold-down since. Returns
   * the decision to start failing back to a (demote-first: b is told to step down).
   */
  async function failbackDecision() {
    const clock = new FakeClock();
    const tc = makeCluster({
      nodeIds: ['a', 'b', 'c'],
      rules: { failback: 'preferred', failbackHoldDownSeconds: 10 },
    });
    const id = tc.cluster.id;
    const positions: Record<string, number> = { a: 100, b: 300, c: 200 };
    const beat = (node: string, body: Beat = {}) =>
      store.recordHeartbeat(tc.cluster, node, { position: positions[node], ...body }, clock.t);
    const beatAll = async () => {
      for (const node of ['a', 'b', 'c']) await beat(node);
    };
    await beatAll();
    const first = decide(await store.load(id), tc.cluster, clock.t) as PromoteDecision;
    expect(await store.commitPromotion(first, id, clock.t)).toMatchObject({ epoch: 1, active: 'b' });
    for (let i = 0; i < 5; i++) {
      clock.advance(2_000);
      await beatAll();
    }
    const decision = decide(await store.load(id), tc.cluster, clock.t);
    expect(decision).toMatchObject({
      type: 'handover',
      handover: { cause: 'failback', from: 'b', to: 'a', epoch: 1 },
    });
    return { tc, id, clock, beat, decision: decision as HandoverStart };
  }

  it('refuses a preferred failback when the preferred node had a blip since the decision (its hold-down starts again)', async () => {
    const { tc, id, clock, beat, decision } = await failbackDecision();
    clock.advance(100);
    await beat('a', { status: 'failing' });
    clock.advance(100);
    await beat('a');
    const before = await store.load(id);
    expect(decide(before, tc.cluster, clock.t)).toEqual({ type: 'steady' });

    expect(await store.commitHandover(decision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });

  it('refuses a preferred failback once the active turned failing: the failover now due promotes the most advanced standby', async () => {
    const { tc, id, clock, beat, decision } = await failbackDecision();
    clock.advance(100);
    await beat('b', { status: 'failing' });
    const before = await store.load(id);
    expect(decide(before, tc.cluster, clock.t)).toMatchObject({ type: 'promote', cause: 'failing', to: 'c' });

    expect(await store.commitHandover(decision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });

  // Every product path sets the active and bumps the epoch in one write, so the epoch
  // guard alone would catch this; the no-active clause is the second lock for an item that
  // was edited or restored by hand.
  it('does not elect a first active over a record that names one at epoch 0 (an item edited by hand)', async () => {
    const clock = new FakeClock();
    const tc = makeCluster({ nodeIds: ['a', 'b'] });
    const id = tc.cluster.id;
    await store.recordHeartbeat(tc.cluster, 'a', {}, clock.t);
    await store.recordHeartbeat(tc.cluster, 'b', {}, clock.t);
    const decision = decide(await store.load(id), tc.cluster, clock.t);
    expect(decision).toMatchObject({ type: 'promote', cause: 'first-active', to: 'a', expectedEpoch: 0 });

    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: dynamo.table,
        Key: { pk: { S: `CLUSTER#${id}` }, sk: { S: 'STATE' } },
        UpdateExpression: 'SET #active = :b',
        ExpressionAttributeNames: { '#active': 'active' },
        ExpressionAttributeValues: { ':b': { S: 'b' } },
      }),
    );
    const before = await store.load(id);
    expect(before).toMatchObject({ epoch: 0, active: 'b' });

    expect(await store.commitPromotion(decision as PromoteDecision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });

  it('applies a retried promotion once: the same decision committed again changes nothing', async () => {
    const { clock, decision, id } = await staleDecision();
    const first = await store.commitPromotion(decision, id, clock.t);
    expect(first).toMatchObject({ epoch: 2, active: 'b' });
    const before = await store.load(id);

    expect(await store.commitPromotion(decision as PromoteDecision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });
});

describe('invariants over random histories (property-based)', { timeout: RACE_TIMEOUT_MS }, () => {
  const NODES = ['a', 'b', 'c'] as const;
  type Step =
    | { kind: 'advance'; ms: number }
    | { kind: 'beat'; node: (typeof NODES)[number]; status: NodeStatus }
    | { kind: 'sweep' };

  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.oneof(fc.integer({ min: 0, max: 4_000 }), fc.constantFrom(LEASE_MS, LEASE_MS + 1, 1)),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('beat' as const),
        node: fc.constantFrom(...NODES),
        status: fc.constantFrom<NodeStatus>('ok', 'ok', 'ok', 'failing', 'maintenance'),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('sweep' as const) }) },
  );

  it('keeps epochs monotonic, one epoch per change of active, promotes only healthy nodes, one event per epoch', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), async (steps) => {
        const clock = new FakeClock();
        const tc = makeCluster({ nodeIds: [...NODES] });
        const id = tc.cluster.id;
        const cp = makeControlPlane(tc, store, clock);
        /** What the test itself told the control plane: the model liveness is checked against. */
        const model: Record<string, { lastSeen: number; status: NodeStatus }> = {};
        const healthy = (n: string | null) => {
          const m = n === null ? undefined : model[n];
          return m !== undefined && clock.t - m.lastSeen <= LEASE_MS && m.status === 'ok';
        };
        let before = await store.load(id);

        for (const step of steps) {
          let answer: HeartbeatResult | undefined;
          if (step.kind === 'advance') clock.advance(step.ms);
          else if (step.kind === 'sweep') expect((await cp.sweep()).errors).toBe(0);
          else {
            model[step.node] = { lastSeen: clock.t, status: step.status };
            answer = await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, step.node), { status: step.status });
          }
          const after = await store.load(id);

          // Epochs never decrease, and move by exactly one exactly when the active changes.
          expect(after.epoch).toBeGreaterThanOrEqual(before.epoch);
          expect(after.epoch - before.epoch).toBe(after.active === before.active ? 0 : 1);
          if (after.active !== before.active) {
            expect(step.kind).not.toBe('advance');
            // The new active was alive and ok when promoted; the old one was not.
            expect(healthy(after.active)).toBe(true);
            expect(healthy(before.active)).toBe(false);
            expect(after.activeSince).toBe(clock.t);
            expect(after.lastTransition).toMatchObject({ epoch: after.epoch, active: after.active });
          }
          if (answer !== undefined) {
            expect(answer).toMatchObject({ epoch: after.epoch, active: after.active });
          }
          // After any beat or sweep nothing is left to promote: a healthy candidate is never ignored.
          if (step.kind !== 'advance') expect(decide(after, tc.cluster, clock.t).type).not.toBe('promote');
          // Single writer here, so the whole model must agree with the stored state.
          for (const n of NODES) {
            expect(isHealthy(after.nodes[n], tc.cluster, clock.t)).toBe(healthy(n));
          }
          const promoted = await promotedEpochs(id);
          expect(promoted).toHaveLength(after.epoch);
          expect(new Set(promoted).size).toBe(after.epoch);
          before = after;
        }
      }),
      { numRuns: 30 },
    );
  });
});
