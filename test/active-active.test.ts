/**
 * Active-active mode (Dr.Web's servers behind one DNS name): targets follow every alive,
 * eligible node while a leader is still elected, epoch-guarded, for singleton work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { parseConfig } from '../shared/config.js';
import { servingChange, targetMembers, targetsDue } from '../shared/core/serving.js';
import { emptyState } from '../shared/core/state.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import {
  FakeClock,
  FakeTarget,
  makeCluster,
  makeControlPlane,
  nodeOf,
  passWhileBeating,
} from './helpers/store-fixtures.js';

const LEASE_MS = 3_000;
let dynamo: LocalDynamo;
let store: DynamoStateStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  store = new DynamoStateStore(dynamo.client, dynamo.table);
});
afterAll(() => dynamo.close());

function setup() {
  const tc = makeCluster({ nodeIds: ['a', 'b', 'c'], mode: 'active-active', targetIds: ['lb'] });
  const clock = new FakeClock();
  const target = new FakeTarget('lb');
  const cp = makeControlPlane(tc, store, clock, [target]);
  const beat = (node: string, body = {}) => cp.heartbeat(tc.cluster, nodeOf(tc.cluster, node), body);
  const members = () => target.calls.map((c) => c.members.map((m) => m.id).join(','));
  return { tc, clock, target, cp, beat, members };
}

describe('active-active serving set', () => {
  it('points targets at every alive node, and the leader is still elected with an epoch', async () => {
    const { tc, beat, members, cp } = setup();
    const first = await beat('a');
    expect(first).toMatchObject({ role: 'active', epoch: 1 });
    await beat('b');
    await beat('c');
    expect(members().at(-1)).toBe('a,b,c');
    const status = await cp.status(tc.cluster.id);
    expect(status).toMatchObject({ active: 'a', epoch: 1 });
    expect(await store.load(tc.cluster.id)).toMatchObject({ serving: ['a', 'b', 'c'], servingVersion: 3 });
  });

  it('drops a silent node from the targets without changing the epoch, and takes it back when it returns', async () => {
    const { tc, clock, beat, members, cp } = setup();
    await beat('a');
    await beat('b');
    await beat('c');
    clock.advance(2_000);
    await beat('a');
    await beat('b');
    clock.advance(LEASE_MS - 1_000 + 1); // c silent for 4.001 s (past the lease); a and b for 2.001 s
    await beat('a');
    expect(members().at(-1)).toBe('a,b');
    expect(await cp.status(tc.cluster.id)).toMatchObject({ active: 'a', epoch: 1 });
    const events = await cp.events(tc.cluster.id, 20);
    expect(events[0]).toMatchObject({ kind: 'serving', epoch: 1 });
    expect(events[0]?.reason).toBe('serving set is now a, b (left: c was last seen 4 s ago (lease 3 s))');

    await beat('c');
    expect(members().at(-1)).toBe('a,b,c');
  });

  it('elects a new leader when the leader dies and keeps serving from the others', async () => {
    const { tc, clock, beat, members, cp } = setup();
    await beat('a');
    await beat('b');
    await beat('c');
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b'));
    await beat('b');
    await beat('c');
    const status = await cp.status(tc.cluster.id);
    expect(status).toMatchObject({ active: 'b', epoch: 2 });
    expect(members().at(-1)).toBe('b,c');
  });

  it('never records an empty serving set: with every node silent, traffic stays where it was', async () => {
    const { tc, clock, beat, cp } = setup();
    await beat('a');
    await beat('b');
    clock.advance(10 * LEASE_MS);
    await cp.sweep();
    expect((await store.load(tc.cluster.id)).serving).toEqual(['a', 'b']);
  });

  it('re-applies a target whose apply for an older serving set landed late', async () => {
    const { tc } = setup();
    await store.recordHeartbeat(tc.cluster, 'a', {}, 1);
    const id = tc.cluster.id;
    // Epoch 0 bookkeeping is enough to exercise the (epoch, servingVersion) ordering.
    const state = await store.load(id);
    expect(await store.commitServing(id, state, ['a'], { ...emptyEvent(id), subject: '1' })).toBe(true);
    expect(await store.claimTarget(id, 'lb', { epoch: 0, servingVersion: 1, at: 10, until: 10_000 })).toBe(
      true,
    );
    const next = await store.load(id);
    expect(await store.commitServing(id, next, ['a', 'b'], { ...emptyEvent(id), subject: '2', at: 20 })).toBe(
      true,
    );
    // It takes over from the live claim for version 1, so it must carry that claim's expiry.
    expect(await store.claimTarget(id, 'lb', { epoch: 0, servingVersion: 2, at: 30, until: 10_000 })).toBe(
      false,
    );
    expect(
      await store.claimTarget(id, 'lb', {
        epoch: 0,
        servingVersion: 2,
        at: 30,
        until: 10_000,
        settlesAt: 10_000,
      }),
    ).toBe(true);
    expect(
      await store.finishTarget(id, 'lb', {
        epoch: 0,
        servingVersion: 2,
        state: 'applied',
        at: 40,
        attempts: 1,
      }),
    ).toBe('recorded');
    // The apply for serving version 1 finishes last: the newer record is marked stale.
    expect(
      await store.finishTarget(id, 'lb', {
        epoch: 0,
        servingVersion: 1,
        state: 'applied',
        at: 50,
        attempts: 1,
      }),
    ).toBe('superseded');
    expect((await store.load(id)).targets.lb).toMatchObject({ servingVersion: 2, state: 'stale' });
    // A claim for the old version is refused.
    expect(await store.claimTarget(id, 'lb', { epoch: 0, servingVersion: 1, at: 60, until: 10_000 })).toBe(
      false,
    );
  });

  it('shows a target applied for an older serving set as pending in status, as the sweep sees it, until it is applied', async () => {
    const { tc, clock, beat, cp, members } = setup();
    const id = tc.cluster.id;
    await beat('a');
    await beat('b');
    await beat('c');
    const target = () => cp.status(id).then((s) => s.targets[0]);
    expect(await target()).toMatchObject({ epoch: 1, state: 'applied' });

    // c falls silent; a worker records the smaller serving set and dies before applying it.
    clock.advance(LEASE_MS + 1);
    await store.recordHeartbeat(tc.cluster, 'a', {}, clock.t);
    await store.recordHeartbeat(tc.cluster, 'b', {}, clock.t);
    const state = await store.load(id);
    const change = servingChange(state, tc.cluster, clock.t);
    expect(change?.serving).toEqual(['a', 'b']);
    expect(await store.commitServing(id, state, change?.serving ?? [], change?.event ?? emptyEvent(id))).toBe(
      true,
    );

    const recorded = await store.load(id);
    expect(recorded.targets.lb).toMatchObject({ epoch: 1, servingVersion: 3, state: 'applied' });
    expect(recorded).toMatchObject({ epoch: 1, servingVersion: 4 });
    expect(targetsDue(recorded, tc.cluster, clock.t)).toEqual(['lb']);
    expect(await target()).toMatchObject({ epoch: 1, state: 'pending' });

    expect(await cp.sweep()).toMatchObject({ targetsApplied: 1, errors: 0 });
    expect(members().at(-1)).toBe('a,b');
    expect(await target()).toMatchObject({ epoch: 1, state: 'applied' });
  });
});

describe('active-active in the core', () => {
  const config = parseConfig({
    clusters: [
      {
        id: 'aa',
        mode: 'active-active',
        heartbeatIntervalSeconds: 1,
        nodes: ['a', 'b', 'c'].map((id, i) => ({
          id,
          address: `10.0.0.${i + 1}`,
          tokenSha256: '0'.repeat(64),
        })),
        maxLagSeconds: 5,
      },
    ],
  });
  const cluster = config.clusters[0];
  if (cluster === undefined) throw new Error('no cluster');
  const NOW = 1_000_000;
  const node = (lagSeconds: number, status: 'ok' | 'maintenance' = 'ok') => ({
    lastSeen: NOW,
    beats: 1,
    status,
    lagSeconds,
  });

  it('leaves ineligible nodes (lagging, in maintenance) out of the serving set, in priority order', () => {
    const state = {
      ...emptyState('aa'),
      epoch: 1,
      active: 'a',
      nodes: { c: node(0), b: node(9), a: node(0, 'maintenance') },
    };
    expect(servingChange(state, cluster, NOW)?.serving).toEqual(['c']);
    const all = { ...state, nodes: { a: node(0), b: node(1), c: node(0) } };
    expect(servingChange(all, cluster, NOW)?.serving).toEqual(['a', 'b', 'c']);
    expect(servingChange({ ...all, serving: ['a', 'b', 'c'] }, cluster, NOW)).toBeNull();
  });

  it('targets the recorded serving set in active-active mode and the active alone in active-passive mode', () => {
    const state = { ...emptyState('aa'), epoch: 1, active: 'a', serving: ['a', 'c'] };
    expect(targetMembers(state, cluster).map((n) => n.id)).toEqual(['a', 'c']);
    const passive = { ...cluster, mode: 'active-passive' as const };
    expect(targetMembers(state, passive).map((n) => n.id)).toEqual(['a']);
  });

  it('refuses a CNAME record in active-active mode at load, naming the field', () => {
    expect(() =>
      parseConfig({
        clusters: [
          {
            id: 'aa',
            mode: 'active-active',
            nodes: [{ id: 'a', address: 'a.example.com', tokenSha256: '0'.repeat(64) }],
            targets: [
              { type: 'route53', hostedZoneId: 'Z123', recordName: 'db.example.com', recordType: 'CNAME' },
            ],
          },
        ],
      }),
    ).toThrow(/clusters\[0\]\.targets\[0\]\.recordType: a CNAME holds one name/);
  });
});

function emptyEvent(cluster: string) {
  return {
    cluster,
    kind: 'serving' as const,
    epoch: 0,
    at: 10,
    active: null,
    previous: null,
    reason: 'test',
  };
}
