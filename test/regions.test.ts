/**
 * Several Regions over one table, as a multi-Region strongly consistent (MRSC) global table
 * runs them: three control planes ("us-east-1", "us-east-2", "us-west-2") over one store on
 * dynalite, racing sweeps and heartbeats. dynalite does not emulate MRSC; what MRSC adds
 * that an emulator cannot produce, ReplicatedWriteConflictException, is injected into the
 * real SDK client's middleware stack.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { ControlPlane } from '../shared/control-plane/control-plane.js';
import { decide } from '../shared/core/decide.js';
import type { Promotion } from '../shared/core/promotion.js';
import { silentLogger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { FakeClock, FakeTarget, makeCluster, nodeOf } from './helpers/store-fixtures.js';

const LEASE_MS = 3_000; // 1 s interval × 3 missed beats
const REGIONS = ['us-east-1', 'us-east-2', 'us-west-2'] as const;

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo({ table: 'regions-test' });
});

afterAll(async () => {
  await dynamo?.close();
});

/** A client of the same dynalite whose next `count` UpdateItem calls fail as MRSC replication conflicts. */
function conflictingClient() {
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const injected = { count: 0, thrown: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UpdateItemCommand' && injected.count > 0) {
        injected.count -= 1;
        injected.thrown += 1;
        throw Object.assign(new Error('a write to this item in another Region is being replicated'), {
          name: 'ReplicatedWriteConflictException',
          $fault: 'client',
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'injectReplicatedWriteConflict' },
  );
  return { client, injected };
}

/** One cluster (a, b) and a control plane per Region over one store, each with its own target client. */
function regions() {
  const tc = makeCluster({ nodeIds: ['a', 'b'], targetIds: ['dns'] });
  const clock = new FakeClock();
  const store = new DynamoStateStore(dynamo.client, dynamo.table);
  const planes = REGIONS.map((region) => {
    const target = new FakeTarget('dns');
    const cp = new ControlPlane({
      config: tc.config,
      store,
      targets: new Map([[tc.cluster.id, [target]]]),
      logger: silentLogger,
      now: clock.now,
      region,
    });
    return { region, cp, target };
  });
  const beat = (region: number, node: string) =>
    (planes[region] as (typeof planes)[number]).cp.heartbeat(tc.cluster, nodeOf(tc.cluster, node), {});
  return { tc, clock, store, planes, beat };
}

describe('three Regions over one table', () => {
  it('records which Region took each beat, and every Region shows the same cluster', async () => {
    const { tc, planes, beat } = regions();
    await beat(0, 'a');
    await beat(2, 'b');
    for (const { cp } of planes) {
      const status = await cp.status(tc.cluster.id);
      expect(status).toMatchObject({ epoch: 1, active: 'a' });
      expect(status.nodes.map((n) => [n.id, n.region])).toEqual([
        ['a', 'us-east-1'],
        ['b', 'us-west-2'],
      ]);
    }
  });

  it('promotes exactly once when every Region sweeps and takes beats at once on an expired lease, and applies the target once', async () => {
    for (let round = 0; round < 10; round++) {
      const { tc, clock, planes, beat } = regions();
      await beat(0, 'a');
      await beat(1, 'b');
      // b keeps beating (a silent cluster would look like a control plane away: the grace).
      for (let s = 0; s < LEASE_MS / 1_000; s++) {
        clock.advance(1_000);
        await beat(s % 3, 'b');
      }
      clock.advance(1);
      const racers = planes.flatMap(({ cp }, i) => [cp.sweep(), beat(i, 'b'), cp.sweep()]);
      await Promise.all(racers);
      await Promise.all(planes.map(({ cp }) => cp.sweep()));

      const events = await (planes[0] as (typeof planes)[number]).cp.events(tc.cluster.id, 50);
      expect(events.filter((e) => e.kind === 'promoted' && e.epoch === 2)).toHaveLength(1);
      expect(await (planes[2] as (typeof planes)[number]).cp.status(tc.cluster.id)).toMatchObject({
        epoch: 2,
        active: 'b',
      });
      // The target claim serialises the Regions: epoch 2 applied once, by one of them.
      const applies = planes.flatMap(({ target }) => target.epochs()).filter((e) => e === 2);
      expect(applies, `round ${round}`).toHaveLength(1);
    }
  });
});

describe('ReplicatedWriteConflictException (MRSC)', () => {
  it('sends a conflicting beat again: it is recorded once', async () => {
    const tc = makeCluster({ nodeIds: ['a', 'b'] });
    const { client, injected } = conflictingClient();
    const store = new DynamoStateStore(client, dynamo.table);
    await store.recordHeartbeat(tc.cluster, 'a', {}, 1_000);
    injected.count = 2;
    const state = await store.recordHeartbeat(tc.cluster, 'a', {}, 2_000);
    expect(injected.thrown).toBe(2);
    expect(state.nodes.a).toMatchObject({ lastSeen: 2_000, beats: 2 });
    client.destroy();
  });

  it('gives up on a beat after a few conflicts in a row, with the error', async () => {
    const tc = makeCluster({ nodeIds: ['a'] });
    const { client, injected } = conflictingClient();
    const store = new DynamoStateStore(client, dynamo.table);
    await store.recordHeartbeat(tc.cluster, 'a', {}, 1_000);
    injected.count = 100;
    await expect(store.recordHeartbeat(tc.cluster, 'a', {}, 2_000)).rejects.toThrow(
      /another Region is being replicated/,
    );
    expect(injected.thrown).toBe(4);
    client.destroy();
  });

  it('treats a conflicting promotion as a lost race: null, nothing written, and the next decision wins', async () => {
    const tc = makeCluster({ nodeIds: ['a', 'b'] });
    const { client, injected } = conflictingClient();
    const store = new DynamoStateStore(client, dynamo.table);
    await store.recordHeartbeat(tc.cluster, 'a', {}, 1_000);
    await store.recordHeartbeat(tc.cluster, 'b', {}, 1_000);
    const first = decide(await store.load(tc.cluster.id), tc.cluster, 1_000) as Promotion;
    const before = await store.load(tc.cluster.id);
    injected.count = 1;
    expect(await store.commitPromotion(first, tc.cluster.id, 1_000)).toBeNull();
    expect(await store.load(tc.cluster.id)).toEqual(before);
    expect(await store.commitPromotion(first, tc.cluster.id, 1_000)).toMatchObject({ epoch: 1, active: 'a' });
    client.destroy();
  });
});

describe('event retention without TTL (MRSC tables have none; nor has the local store)', () => {
  const DAY_MS = 24 * 3600 * 1000;

  it('deletes expired events oldest first, at most the bound per sweep, and keeps the rest', async () => {
    const tc = makeCluster({ nodeIds: ['a'] });
    const clock = new FakeClock();
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    const cp = new ControlPlane({
      config: tc.config,
      store,
      targets: new Map(),
      logger: silentLogger,
      now: clock.now,
      pruneEventsPerSweep: 25,
    });
    const id = tc.cluster.id;
    await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {}); // promoted, epoch 1
    for (let i = 0; i < 15; i++) {
      clock.advance(1_000);
      await cp.pause(id, `drill ${i}`, 'ops');
      await cp.resume(id, undefined, 'ops');
    }
    clock.advance(89 * DAY_MS);
    const recentFrom = clock.t;
    const kept = await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {});
    expect(kept.epoch).toBe(1);
    await cp.pause(id, 'recent', 'ops'); // 89 days younger than the rest: kept

    expect((await cp.sweep()).eventsPruned).toBe(0); // nothing is 90 days old yet
    clock.advance(2 * DAY_MS);
    expect((await cp.sweep()).eventsPruned).toBe(25);
    expect((await cp.sweep()).eventsPruned).toBe(6); // the promotion and 30 pauses and resumes
    expect((await cp.sweep()).eventsPruned).toBe(0);
    const left = await cp.events(id, 50);
    expect(left.every((e) => e.at >= recentFrom)).toBe(true);
    expect(left.map((e) => e.reason)).toContain('automation paused by ops: recent');
  });
});
