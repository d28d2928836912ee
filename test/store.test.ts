/**
 * The control plane over the real DynamoDB adapter: the AWS SDK v3 client against dynalite
 * on loopback. Time is a fake clock passed to the control plane, never a sleep.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { decide } from '../shared/core/decide.js';
import { driftEvent, eventId } from '../shared/core/events.js';
import type { HandoverChange } from '../shared/core/handover.js';
import type { Promotion } from '../shared/core/promotion.js';
import { targetsDue } from '../shared/core/serving.js';
import type { Beat, ClusterEvent } from '../shared/core/state.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import type { TargetClaim } from '../shared/store/port.js';
import {
  countCommands,
  FakeClock,
  FakeTarget,
  makeCluster,
  makeControlPlane,
  nodeOf,
  passWhileBeating,
  type TestCluster,
} from './helpers/store-fixtures.js';

const LEASE_MS = 3_000; // 1 s interval × 3 missed beats

let dynamo: LocalDynamo;
let store: DynamoStateStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo({ table: 'store-test' });
  store = new DynamoStateStore(dynamo.client, dynamo.table);
});

afterAll(async () => {
  await dynamo?.close();
});

function setup(options: Parameters<typeof makeCluster>[0] = {}) {
  const tc: TestCluster = makeCluster({ targetIds: ['dns'], ...options });
  const clock = new FakeClock();
  const target = new FakeTarget('dns');
  const cp = makeControlPlane(tc, store, clock, [target]);
  const beat = (node: string, body: Beat = {}) => cp.heartbeat(tc.cluster, nodeOf(tc.cluster, node), body);
  const status = () => cp.status(tc.cluster.id);
  const events = (limit = 50) => cp.events(tc.cluster.id, limit);
  const t0 = clock.t;
  return { tc, id: tc.cluster.id, clock, target, cp, beat, status, events, t0 };
}

const node = (status: Awaited<ReturnType<ReturnType<typeof setup>['status']>>, id: string) => {
  const view = status.nodes.find((n) => n.id === id);
  if (view === undefined) throw new Error(`no node ${id} in status`);
  return view;
};

/** A claim for `epoch` made at `at`, held 10 s. */
const claim = (epoch: number, at: number, settlesAt?: number): TargetClaim => ({
  epoch,
  servingVersion: 0,
  at,
  until: at + 10_000,
  ...(settlesAt === undefined ? {} : { settlesAt }),
});

const promotions = (events: ClusterEvent[]) => events.filter((e) => e.kind === 'promoted');

describe('heartbeat → state', () => {
  it('makes the first node to beat active at epoch 1 and the next one standby, and status shows each node', async () => {
    const { beat, status, clock, t0, tc } = setup({ nodeIds: ['a', 'b', 'c'] });

    const first = await beat('a', { version: '1.2.3', position: 42 });
    expect(first).toEqual({
      cluster: tc.cluster.id,
      node: 'a',
      role: 'active',
      epoch: 1,
      active: 'a',
      leaseMs: LEASE_MS,
      intervalMs: 1_000,
      peers: [
        { node: 'b', url: `http://${tc.address.b}:7788` },
        { node: 'c', url: `http://${tc.address.c}:7788` },
      ],
    });

    clock.advance(500);
    const second = await beat('b', { version: '1.2.4', position: 'lsn/40', lagSeconds: 0.5 });
    expect(second).toMatchObject({ node: 'b', role: 'standby', epoch: 1, active: 'a' });

    clock.advance(200);
    await beat('a', { version: '1.2.3', position: 43 });

    const s = await status();
    expect(s).toMatchObject({
      epoch: 1,
      active: 'a',
      activeSince: new Date(t0).toISOString(),
      leaseMs: LEASE_MS,
      hold: null,
    });
    expect(node(s, 'a')).toMatchObject({
      role: 'active',
      priority: 1,
      alive: true,
      status: 'ok',
      heartbeats: 2,
      lastSeen: t0 + 700,
      lastSeenAgeMs: 0,
      version: '1.2.3',
      position: 43,
    });
    expect(node(s, 'b')).toMatchObject({
      role: 'standby',
      priority: 2,
      alive: true,
      heartbeats: 1,
      lastSeen: t0 + 500,
      lastSeenAgeMs: 200,
      version: '1.2.4',
      position: 'lsn/40',
      lagSeconds: 0.5,
    });
    expect(node(s, 'c')).toMatchObject({ role: 'standby', alive: false, heartbeats: 0, lastSeen: null });
  });

  it('sends exactly one UpdateItem and no read per heartbeat once the cluster and node exist', async () => {
    const { beat } = setup();
    await beat('a');
    await beat('b');

    const counter = countCommands(dynamo.client);
    try {
      const asStandby = await beat('b', {
        status: 'ok',
        version: '2.0.0',
        position: 7,
        role: 'standby',
        epoch: 1,
      });
      expect(asStandby.role).toBe('standby');
      expect(counter.commands).toEqual(['UpdateItemCommand']);

      counter.reset();
      const asActive = await beat('a', { role: 'active', epoch: 1 });
      expect(asActive.role).toBe('active');
      expect(counter.commands).toEqual(['UpdateItemCommand']);
    } finally {
      counter.stop();
    }
  });
});

describe('failover', () => {
  it('promotes b at epoch 2 on its beat 1 ms past the lease of a, and not exactly at the lease', async () => {
    const { beat, status, events, clock, t0 } = setup();
    await beat('a');
    await beat('b');

    // b beats every interval: the control plane plainly hears the cluster while a ages.
    await passWhileBeating(clock, LEASE_MS, 1_000, () => beat('b'));
    // now − lastSeen(a) == lease: a is still alive
    expect(await beat('b')).toMatchObject({ role: 'standby', epoch: 1, active: 'a' });
    expect((await status()).epoch).toBe(1);

    clock.advance(1);
    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2, active: 'b' });

    const s = await status();
    expect(s).toMatchObject({
      epoch: 2,
      active: 'b',
      activeSince: new Date(t0 + LEASE_MS + 1).toISOString(),
    });
    expect(s.lastTransition).toMatchObject({ kind: 'promoted', epoch: 2, active: 'b', previous: 'a' });
    expect(s.lastTransition?.reason).toContain('a missed 3 beats');
    expect(node(s, 'a')).toMatchObject({ role: 'standby', alive: false });
    expect(promotions(await events()).map((e) => e.epoch)).toEqual([2, 1]);
  });

  // Found by the chaos run (seed 3, history 48): a heartbeat handler took its clock, then
  // its write reached the store seconds later (a paused Lambda, SDK retries) and set
  // lastSeen back to that old time, so the live active looked expired and was deposed
  // while its agent still held a valid lease.
  it('keeps a live active when a heartbeat delayed on its way to the store lands after a newer one', async () => {
    const { tc, beat, status, clock, t0 } = setup();
    await beat('a');
    await beat('b');
    clock.advance(2_500);
    await beat('a'); // lastSeen(a) = t0 + 2500
    await beat('b');
    clock.advance(1_000);
    // A beat stamped t0 + 100 lands now, after the one stamped t0 + 2500.
    await store.recordHeartbeat(tc.cluster, 'a', {}, t0 + 100);

    expect(await beat('b')).toMatchObject({ role: 'standby', epoch: 1, active: 'a' });
    expect(node(await status(), 'a')).toMatchObject({ role: 'active', alive: true });
    expect((await store.load(tc.cluster.id)).nodes.a?.lastSeen).toBe(t0 + 2_500);
  });

  it('clears the hold in the same write that promotes', async () => {
    const { id, beat, clock } = setup();
    await beat('a');
    await beat('b');
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b', { status: 'failing' }));
    await beat('b', { status: 'failing' });
    expect((await store.load(id)).hold).toMatchObject({ code: 'no-candidate' });

    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2 });
    expect((await store.load(id)).hold).toBeNull();
  });

  it('lets the sweep promote only once the lease is over by 1 ms', async () => {
    const { beat, status, clock, cp } = setup();
    await beat('a');
    await beat('b');

    // b beats every interval (on time: a lost beat of b's too would look like the control
    // plane's ingress losing beats, see grace.ts); a's age is lease − 1 after the last one.
    for (const step of [1_000, 1_000, LEASE_MS - 2_001]) {
      clock.advance(step);
      await beat('b');
    }
    clock.advance(1);
    expect(await cp.sweep()).toMatchObject({ promoted: 0, held: 0, errors: 0 });
    expect(await status()).toMatchObject({ epoch: 1, active: 'a' });

    clock.advance(1);
    expect(await cp.sweep()).toMatchObject({ promoted: 1, errors: 0 });
    expect(await status()).toMatchObject({ epoch: 2, active: 'b' });
  });

  it('promotes b on the failing beat of the active itself, without waiting for the lease', async () => {
    const { beat, status, clock, target } = setup();
    await beat('a');
    await beat('b');
    clock.advance(100);

    const answer = await beat('a', { status: 'failing' });
    expect(answer).toMatchObject({ role: 'standby', epoch: 2, active: 'b' });

    const s = await status();
    expect(s).toMatchObject({ epoch: 2, active: 'b' });
    expect(node(s, 'a')).toMatchObject({ alive: true, status: 'failing' });
    expect(s.lastTransition?.reason).toContain('a reported status failing');
    expect(target.calls.at(-1)).toMatchObject({ epoch: 2, active: 'b', previous: 'a' });
  });

  it('promotes b on its next beat when the active reported failing while b was not yet eligible', async () => {
    const { beat, status, clock } = setup();
    await beat('a');
    // b has never beaten: the failing active keeps the role for now, and says so.
    expect(await beat('a', { status: 'failing' })).toMatchObject({ role: 'active', epoch: 1 });
    expect((await status()).hold?.reason).toContain('b was never seen');

    clock.advance(100);
    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2, active: 'b' });
    expect(await status()).toMatchObject({ epoch: 2, active: 'b', hold: null });
  });

  it('holds with one held event naming why when the active expires and no standby is alive', async () => {
    const { beat, status, events, clock, cp } = setup();
    await beat('a');
    await beat('b');

    clock.advance(LEASE_MS + 1);
    expect(await cp.sweep()).toMatchObject({ promoted: 0, held: 1, errors: 0 });
    for (let i = 0; i < 3; i++) {
      clock.advance(700);
      expect(await cp.sweep()).toMatchObject({ promoted: 0, held: 0, errors: 0 });
    }

    const s = await status();
    expect(s).toMatchObject({ epoch: 1, active: 'a' });
    expect(s.hold?.code).toBe('no-candidate');
    expect(s.hold?.reason).toContain('a missed 3 beats');
    expect(s.hold?.reason).toContain('no standby can take over');
    expect(s.hold?.reason).toContain('b was last seen 3 s ago');

    const log = await events();
    const held = log.filter((e) => e.kind === 'held');
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ kind: 'held', epoch: 1, active: 'a', reason: s.hold?.reason });
    expect(log.map((e) => e.kind)).toEqual(['held', 'promoted']);

    // b comes back after a gap in which nobody beat: from inside, that is the control plane's
    // own absence, so b waits one lease (grace) for a to renew; then it is promoted.
    expect(await beat('b')).toMatchObject({ role: 'standby', epoch: 1 });
    const grace = (await status()).hold;
    expect(grace).toMatchObject({ code: 'grace', until: new Date(clock.t + LEASE_MS).toISOString() });
    expect(grace?.reason).toMatch(
      /^the control plane was away: no beat from any node for more than 1\.5 s \(interval 1 s\) before /,
    );
    await passWhileBeating(clock, LEASE_MS - 1, 1_000, () => beat('b'));
    expect(await beat('b')).toMatchObject({ role: 'standby', epoch: 1 });
    clock.advance(1);
    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2 });
    expect(await status()).toMatchObject({ epoch: 2, active: 'b', hold: null });
  });
});

// Property 7's evidence (found by the chaos run, seed 3): the return must be recorded by the
// beat that ends the silence, in its own write, so that nothing later can erase it.
/** Nodes a and b; only b beats on past a's lease, and a sweep decides to promote b (not yet written). */
async function promotionOfBDecided() {
  const cluster = setup({ nodeIds: ['a', 'b'] });
  await cluster.beat('a');
  await passWhileBeating(cluster.clock, LEASE_MS + 1, 1_000, () => cluster.beat('b'));
  const decision = decide(await store.load(cluster.id), cluster.tc.cluster, cluster.clock.t);
  expect(decision).toMatchObject({ type: 'promote', to: 'b' });
  return { ...cluster, decision: decision as Promotion };
}

describe("the control plane's return, recorded by the beat that ends a silence", () => {
  it('records the return only after more than 1.5 intervals with no beat from any node', async () => {
    const { tc, id, clock, t0 } = setup({ nodeIds: ['a', 'b', 'c'] });
    const record = (node: string) => store.recordHeartbeat(tc.cluster, node, {}, clock.t);
    expect((await record('a')).returnedAt).toBe(t0); // the first beat ever ends a silence too
    clock.advance(1_500);
    expect((await record('b')).returnedAt).toBe(t0); // exactly 1.5 intervals: still heard
    clock.advance(1_501);
    const returned = clock.t;
    expect((await record('c')).returnedAt).toBe(returned); // c's first beat, after 1.501 s of silence
    clock.advance(100);
    expect((await record('a')).returnedAt).toBe(returned);
    expect((await store.load(id)).returnedAt).toBe(returned);
  });

  it('holds the grace when the return was recorded but no hold ever was (a worker lost after its beat)', async () => {
    const { tc, clock, beat, status } = setup({ nodeIds: ['a', 'b', 'c'] });
    await beat('a');
    await beat('b');
    // The control plane is away for 5 s. b's beat that ends it reaches the store, but the
    // worker is lost before it decides: no hold, no answer. c beats through another worker.
    clock.advance(5_000);
    await store.recordHeartbeat(tc.cluster, 'b', {}, clock.t);
    clock.advance(300);
    expect(await beat('c')).toMatchObject({ role: 'standby', epoch: 1, active: 'a' });
    expect((await status()).hold).toMatchObject({
      code: 'grace',
      until: new Date(clock.t - 300 + LEASE_MS).toISOString(),
    });
    // ... and so does every beat until the grace ends, however many beats have come since.
    await passWhileBeating(clock, LEASE_MS - 301, 100, async () => {
      await beat('b');
      await beat('c');
    });
    expect(await beat('c')).toMatchObject({ role: 'standby', epoch: 1 });
    clock.advance(1);
    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2 });
  });

  it('fails a promoting write decided before the return, when it lands after it', async () => {
    const { tc, id, clock, decision } = await promotionOfBDecided();
    // The sweep that decided stalls for 2 s; meanwhile the control plane is away, and b's
    // beat after it records the return. The write then finds the grace and changes nothing.
    clock.advance(2_000);
    await store.recordHeartbeat(tc.cluster, 'b', {}, clock.t);
    const before = await store.load(id);
    expect(await store.commitPromotion(decision, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });
});

type WriteInput = {
  UpdateExpression?: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
};
const pauseWrite = (input: WriteInput) => input.ConditionExpression?.includes('#paused') === true;
const promotionWrite = (input: WriteInput) =>
  Object.values(input.ExpressionAttributeNames ?? {}).includes('lastTransition');
const holdClearingWrite = (input: WriteInput) => input.UpdateExpression === 'REMOVE #hold';

/**
 * Hands the next write that `matches` to `handle` (which may send it, with `send`, or not)
 * at `step` of the SDK client's middleware stack; every other request goes through.
 */
function interceptNextWrite(
  matches: (input: WriteInput) => boolean,
  step: 'initialize' | 'finalizeRequest',
  handle: <T>(send: () => Promise<T>) => Promise<T>,
) {
  const name = `intercept-next-write-${step}`;
  let armed = true;
  const middleware =
    <A extends { input: object }, R>(next: (args: A) => Promise<R>) =>
    async (args: A): Promise<R> => {
      if (!armed || !matches(args.input as WriteInput)) return next(args);
      armed = false;
      return handle(() => next(args));
    };
  const stack = dynamo.client.middlewareStack;
  if (step === 'initialize') stack.add(middleware, { step, name });
  else stack.add(middleware, { step, name });
  return { stop: () => stack.remove(name) };
}

/**
 * Sends the next conditional write that `matches` twice, as the SDK does when the first
 * attempt took effect but its answer was lost; the caller sees the second answer.
 */
const resendNextWrite = (matches: (input: WriteInput) => boolean) =>
  interceptNextWrite(matches, 'finalizeRequest', async (send) => {
    await send();
    return send();
  });

/**
 * Runs `act` while the next write that `matches` fails without being sent, with an error
 * named `name`, as the SDK reports it once its own retries are spent (so above its retry
 * middleware).
 */
async function whileNextWriteFails<T>(
  matches: (input: WriteInput) => boolean,
  name: string,
  act: () => Promise<T>,
) {
  const failing = interceptNextWrite(matches, 'initialize', () =>
    Promise.reject(Object.assign(new Error(`${name}, injected by the test`), { name })),
  );
  try {
    return await act();
  } finally {
    failing.stop();
  }
}

// Found by the chaos run (seed 2, history 13): the retry of a write that took effect fails
// its condition on the write itself, and the operator was told 409 for a change that was made.
describe('a conditional write retried after a lost answer', () => {
  it('answers a pause whose first attempt took effect as paused, not 409 already paused', async () => {
    const { cp, id, beat } = setup();
    await beat('a');
    const resend = resendNextWrite(pauseWrite);
    try {
      expect(await cp.pause(id, 'maintenance window', 'ops')).toMatchObject({ paused: { by: 'ops' } });
    } finally {
      resend.stop();
    }
    await expect(cp.pause(id, 'again', 'ops')).rejects.toThrow('already paused');
  });

  it('answers a resume whose first attempt took effect as resumed, not 409 not paused', async () => {
    const { cp, id, beat } = setup();
    await beat('a');
    await cp.pause(id, 'maintenance window', 'ops');
    const resend = resendNextWrite(pauseWrite);
    try {
      expect(await cp.resume(id, 'done', 'ops')).toMatchObject({ paused: null });
    } finally {
      resend.stop();
    }
  });

  it('answers an immediate switchover whose promotion took effect with the new active, not 409', async () => {
    const { cp, id, beat, events } = setup();
    await beat('a');
    await beat('b');
    const resend = resendNextWrite(promotionWrite);
    try {
      expect(await cp.switchover(id, { to: 'b', immediate: true }, 'ops')).toMatchObject({
        epoch: 2,
        active: 'b',
      });
    } finally {
      resend.stop();
    }
    expect(promotions(await events()).map((e) => [e.epoch, e.active])).toEqual([
      [2, 'b'],
      [1, 'a'],
    ]);
  });
});

describe('a demote-first switchover in the store: the handover recorded, and abandoned', () => {
  /** Nodes a (active) and b; an operator asks for a switchover to b, which a has not confirmed yet. */
  async function switchoverToBPending() {
    const cluster = setup({ nodeIds: ['a', 'b'] });
    await cluster.beat('a');
    await cluster.beat('b');
    expect(await cluster.cp.switchover(cluster.id, { to: 'b' }, 'ops')).toMatchObject({
      epoch: 1,
      active: 'a',
    });
    return cluster;
  }

  it('records the handover from a to b and its event, a staying active until it steps down', async () => {
    const { id, clock, events } = await switchoverToBPending();
    expect((await store.load(id)).handover).toMatchObject({
      cause: 'switchover',
      from: 'a',
      to: 'b',
      epoch: 1,
      since: clock.t,
      by: 'ops',
    });
    expect((await events()).filter((e) => e.kind === 'handover')).toMatchObject([{ active: 'a', by: 'ops' }]);
  });

  it('abandons the handover, its event in the same write, when a has stepped down but b can no longer take over; never a later handover', async () => {
    const { tc, id, clock } = await switchoverToBPending();
    clock.advance(1_000);
    await store.recordHeartbeat(tc.cluster, 'b', { status: 'failing' }, clock.t);
    await store.recordHeartbeat(tc.cluster, 'a', { steppedDown: 1 }, clock.t);
    const pending = await store.load(id);
    const cancel = decide(pending, tc.cluster, clock.t) as HandoverChange;
    expect(cancel).toMatchObject({ type: 'cancel-handover', since: pending.handover?.since });
    // A cancel decided for an earlier handover's record leaves this one alone.
    const earlier = { ...cancel, since: (pending.handover?.since ?? 0) - 1 };
    expect(await store.commitHandover(earlier, id, clock.t)).toBeNull();
    expect(await store.load(id)).toEqual(pending);
    const committed = await store.commitHandover(cancel, id, clock.t);
    expect(committed).toMatchObject({ epoch: 1, active: 'a', handover: null });
    expect(committed?.outbox[eventId(cancel.event)]).toEqual(cancel.event);
  });
});

describe("a write that failed without writing: another Region's concurrent write is a lost race, anything else an error", () => {
  const CONFLICT = 'ReplicatedWriteConflictException';
  const THROTTLED = 'ThrottlingException';

  it("refuses a promotion that met another Region's concurrent write to the item (ReplicatedWriteConflictException): null, nothing written", async () => {
    const { id, clock, decision } = await promotionOfBDecided();
    const before = await store.load(id);
    const committed = await whileNextWriteFails(promotionWrite, CONFLICT, () =>
      store.commitPromotion(decision, id, clock.t),
    );
    expect(committed).toBeNull();
    expect(await store.load(id)).toEqual(before);
  });

  // Found by triaging expressions.ts's lostRace mutants: on a multi-Region table every beat
  // writes the same item, so an operator's pause could meet one and be answered "409 already
  // paused" while nothing was paused (and a resume "409 not paused" while it stayed paused).
  it("pauses and resumes through another Region's concurrent write to the item, sending the write again", async () => {
    const { cp, id, beat, status } = setup();
    await beat('a');
    const paused = await whileNextWriteFails(pauseWrite, CONFLICT, () =>
      cp.pause(id, 'maintenance window', 'ops'),
    );
    expect(paused).toMatchObject({ paused: { by: 'ops' } });
    const resumed = await whileNextWriteFails(pauseWrite, CONFLICT, () => cp.resume(id, 'done', 'ops'));
    expect(resumed).toMatchObject({ paused: null });
    expect((await status()).paused).toBeNull();
  });

  it('answers a pause whose write was throttled with that error, not 409 already paused, and leaves automation on', async () => {
    const { cp, id, beat, status } = setup();
    await beat('a');
    await whileNextWriteFails(pauseWrite, THROTTLED, () =>
      expect(cp.pause(id, 'maintenance window', 'ops')).rejects.toThrow(THROTTLED),
    );
    expect((await status()).paused).toBeNull();
  });

  it('fails the clearing of a hold whose write was throttled with that error, not as a lost race (false)', async () => {
    const { id, beat, clock } = setup();
    await beat('a');
    await beat('b');
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b', { status: 'failing' }));
    await beat('b', { status: 'failing' }); // a's lease is over: no standby can take over
    const held = await store.load(id);
    expect(held.hold).toMatchObject({ code: 'no-candidate' });
    await whileNextWriteFails(holdClearingWrite, THROTTLED, () =>
      expect(store.clearHold(id, held.epoch)).rejects.toThrow(THROTTLED),
    );
    expect(await store.load(id)).toEqual(held);
  });
});

describe('events', () => {
  it('lists events newest first with exactly one promoted event per epoch, even when an outbox flush is retried', async () => {
    const { beat, events, clock, cp, id, t0 } = setup();
    await beat('a'); // epoch 1: a
    await beat('b');
    await passWhileBeating(clock, 2_000, 1_000, () => beat('b'));
    await beat('b');
    clock.advance(1_001);
    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2 }); // epoch 2: b
    await cp.sweep();
    clock.advance(500);
    await beat('a'); // a is back; sticky: b stays
    await cp.sweep();
    await passWhileBeating(clock, 2_500, 1_000, () => beat('a')); // b last beat exactly LEASE_MS ago: still alive
    expect(await beat('a')).toMatchObject({ role: 'standby', epoch: 2 });
    clock.advance(1);
    expect(await beat('a')).toMatchObject({ role: 'active', epoch: 3 }); // epoch 3: a
    await cp.sweep();
    await cp.sweep();

    // A retried invocation flushes the epoch-2 event again: still one event for epoch 2.
    const state = await store.load(id);
    const epoch2 = (await events()).find((e) => e.epoch === 2);
    expect(epoch2).toBeDefined();
    await store.flushOutbox({ ...state, outbox: { 'EVENT#000000000002#0': epoch2 as ClusterEvent } });

    const log = await events();
    expect(log.map((e) => [e.kind, e.epoch, e.active, e.previous])).toEqual([
      ['promoted', 3, 'a', 'b'],
      ['promoted', 2, 'b', 'a'],
      ['promoted', 1, 'a', null],
    ]);
    expect(log[2]?.at).toBe(t0);
    expect(await events(2)).toEqual(log.slice(0, 2));
    expect(Object.keys((await store.load(id)).outbox)).toEqual([]);
  });
});

describe('targets', () => {
  it('applies the target after each promotion with cluster, active, address, epoch, previous, reason and time', async () => {
    const { beat, status, clock, target, tc, t0 } = setup();
    await beat('a');
    expect(target.calls).toEqual([
      {
        cluster: tc.cluster.id,
        active: 'a',
        address: tc.address.a,
        members: [{ id: 'a', address: tc.address.a }],
        epoch: 1,
        previous: null,
        reason: expect.stringContaining('no active node yet'),
        at: t0,
      },
    ]);

    await beat('b');
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b'));
    await beat('b');
    const s = await status();
    expect(target.calls[1]).toEqual({
      cluster: tc.cluster.id,
      active: 'b',
      address: tc.address.b,
      members: [{ id: 'b', address: tc.address.b }],
      epoch: 2,
      previous: 'a',
      reason: s.lastTransition?.reason,
      at: t0 + LEASE_MS + 1,
    });
    expect(s.targets).toHaveLength(1);
    expect(s.targets[0]).toMatchObject({
      id: 'dns',
      type: 'fake',
      epoch: 2,
      state: 'applied',
      at: new Date(t0 + LEASE_MS + 1).toISOString(),
      error: null,
    });
  });

  it('records a failing target as failed with the error text and re-applies it on each sweep until it succeeds', async () => {
    const { beat, status, clock, target, cp, id } = setup();
    target.failures = 2;
    await beat('a');

    let s = await status();
    expect(s.targets).toEqual([
      expect.objectContaining({
        id: 'dns',
        epoch: 1,
        state: 'failed',
        error: 'TargetApplyError: connection refused',
      }),
    ]);

    clock.advance(500);
    expect(await cp.sweep()).toMatchObject({ targetsApplied: 0, targetsFailed: 1 });
    expect((await status()).targets[0]).toMatchObject({ state: 'failed', epoch: 1 });

    clock.advance(500);
    expect(await cp.sweep()).toMatchObject({ targetsApplied: 1, targetsFailed: 0 });
    s = await status();
    expect(s.targets).toEqual([expect.objectContaining({ epoch: 1, state: 'applied', error: null })]);
    expect((await store.load(id)).targets.dns).toMatchObject({ epoch: 1, state: 'applied', attempts: 3 });

    clock.advance(500);
    expect(await cp.sweep()).toMatchObject({ targetsApplied: 0, targetsFailed: 0 });
    expect(target.epochs()).toEqual([1, 1, 1]);
  });

  it('does not apply a target twice for the same epoch when a heartbeat applied it and a sweep follows', async () => {
    const { beat, clock, target, cp } = setup();
    await beat('a');
    await cp.sweep();
    await beat('b');
    await cp.sweep();
    expect(target.epochs()).toEqual([1]);

    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b'));
    await beat('b');
    await cp.sweep();
    clock.advance(100);
    await cp.sweep();
    expect(target.epochs()).toEqual([1, 2]);
  });

  it('does not let a sweep apply a target that a heartbeat is still applying for the same epoch', async () => {
    const { beat, status, target, cp } = setup();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    target.during = () => gate;

    const first = beat('a');
    await vi.waitFor(() => expect(target.calls).toHaveLength(1));
    expect(await cp.sweep()).toMatchObject({ targetsApplied: 0, targetsFailed: 0 });
    expect((await status()).targets[0]).toMatchObject({ epoch: 1, state: 'applying' });

    release();
    await first;
    expect(target.epochs()).toEqual([1]);
    expect((await status()).targets[0]).toMatchObject({ epoch: 1, state: 'applied' });
  });

  /**
   * a is promoted (epoch 1) and a worker claims the target for it at t1 (until t1 + 10 s)
   * and is slow; a stops beating and b is promoted (epoch 2). The control plane here has no
   * target objects: the tests drive claims and finishes by hand.
   */
  async function epochTwoWhileEpochOneIsClaimed() {
    const tc = makeCluster({ targetIds: ['dns'] });
    const id = tc.cluster.id;
    const clock = new FakeClock();
    const driver = makeControlPlane(tc, store, clock, []);
    const beat = (n: string) => driver.heartbeat(tc.cluster, nodeOf(tc.cluster, n), {});
    await beat('a');
    await beat('b');
    const t1 = clock.t;
    expect(await store.claimTarget(id, 'dns', claim(1, t1))).toBe(true);
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('b'));
    expect(await beat('b')).toMatchObject({ role: 'active', epoch: 2 });
    return { tc, id, clock, beat, t1 };
  }

  it('marks the newer record stale when an apply for an older epoch finishes late, and the next sweep re-applies the newer epoch', async () => {
    const { tc, id, clock, t1 } = await epochTwoWhileEpochOneIsClaimed();
    const t2 = clock.t;
    // Nobody may start an apply for an epoch that is no longer current.
    expect(await store.claimTarget(id, 'dns', claim(1, t2))).toBe(false);
    // Another worker applies epoch 2 (carrying the live epoch-1 claim) and records it.
    expect(await store.claimTarget(id, 'dns', claim(2, t2, t1 + 10_000))).toBe(true);
    expect(
      await store.finishTarget(id, 'dns', {
        epoch: 2,
        state: 'applied',
        at: t2,
        attempts: 1,
        settlesAt: t1 + 10_000,
      }),
    ).toBe('recorded');

    // The slow epoch-1 apply lands now, possibly over epoch 2's traffic settings.
    clock.advance(200);
    expect(
      await store.finishTarget(id, 'dns', { epoch: 1, state: 'applied', at: clock.t, attempts: 1 }),
    ).toBe('superseded');
    const state = await store.load(id);
    expect(state.epoch).toBe(2);
    expect(state.targets.dns).toMatchObject({ epoch: 2, state: 'stale' });
    expect(targetsDue(state, tc.cluster, clock.t)).toEqual(['dns']);

    const target = new FakeTarget('dns');
    const sweeper = makeControlPlane(tc, store, clock, [target]);
    expect(await sweeper.sweep()).toMatchObject({ targetsApplied: 1, errors: 0 });
    expect(target.calls).toEqual([
      expect.objectContaining({ epoch: 2, active: 'b', address: tc.address.b, previous: 'a' }),
    ]);
    expect((await store.load(id)).targets.dns).toMatchObject({ epoch: 2, state: 'applied' });
    expect(await sweeper.sweep()).toMatchObject({ targetsApplied: 0 });
  });

  it('takes over from an older unexpired claim only by carrying its expiry, and applies once more after it', async () => {
    const { tc, id, clock, beat, t1 } = await epochTwoWhileEpochOneIsClaimed();
    const before = await store.load(id);

    // A claim made from a read that missed the epoch-1 claim, or carrying less: refused.
    expect(await store.claimTarget(id, 'dns', claim(2, clock.t))).toBe(false);
    expect(await store.claimTarget(id, 'dns', claim(2, clock.t, t1 + 9_999))).toBe(false);
    expect(await store.load(id)).toEqual(before);

    // The sweep reads the claim and carries it; epoch 2 is applied and stays due after it.
    const target = new FakeTarget('dns');
    const sweeper = makeControlPlane(tc, store, clock, [target]);
    expect(await sweeper.sweep()).toMatchObject({ targetsApplied: 1 });
    expect((await store.load(id)).targets.dns).toMatchObject({
      epoch: 2,
      state: 'applied',
      settlesAt: t1 + 10_000,
    });

    // The epoch-1 apply lands late, and its record of that is lost: nothing marks epoch 2
    // stale. Until the claim's expiry nothing more is applied; just after it, epoch 2 again.
    clock.advance(t1 + 10_000 - clock.t);
    await beat('b');
    expect(await sweeper.sweep()).toMatchObject({ targetsApplied: 0 });
    clock.advance(1);
    await beat('b');
    expect(await sweeper.sweep()).toMatchObject({ targetsApplied: 1, errors: 0 });
    expect(target.epochs()).toEqual([2, 2]);
    const settled = (await store.load(id)).targets.dns;
    expect(settled).toMatchObject({ epoch: 2, state: 'applied', attempts: 2 });
    expect(settled?.settlesAt).toBeUndefined();
    expect(await sweeper.sweep()).toMatchObject({ targetsApplied: 0 });
  });

  it('carries the time an earlier apply may still land on the claim itself, to the next claim', async () => {
    const { id, clock, beat, t1 } = await epochTwoWhileEpochOneIsClaimed();
    // Epoch 2's claim carries epoch 1's expiry (t1 + 10 s) and is short: it expires first.
    const t2 = clock.t;
    expect(await store.claimTarget(id, 'dns', { ...claim(2, t2, t1 + 10_000), until: t2 + 1_000 })).toBe(
      true,
    );
    expect((await store.load(id)).targets.dns).toMatchObject({ state: 'applying', settlesAt: t1 + 10_000 });
    // Epoch 3 once that claim has expired: the epoch-1 apply may still land, so it is carried on.
    await passWhileBeating(clock, LEASE_MS + 1, 1_000, () => beat('a'));
    expect(await beat('a')).toMatchObject({ role: 'active', epoch: 3 });
    const t3 = clock.t;
    expect(t3).toBeGreaterThan(t2 + 1_000);
    expect(t3).toBeLessThan(t1 + 10_000);
    expect(await store.claimTarget(id, 'dns', claim(3, t3))).toBe(false);
    expect(await store.claimTarget(id, 'dns', claim(3, t3, t1 + 10_000))).toBe(true);
  });

  it('claims a version already applied only once its settle time has passed', async () => {
    const { id, clock, t1 } = await epochTwoWhileEpochOneIsClaimed();
    const t2 = clock.t;
    const applied = { epoch: 2, state: 'applied' as const, at: t2, attempts: 1 };
    const settlesAt = t1 + 10_000;
    expect(await store.claimTarget(id, 'dns', claim(2, t2, settlesAt))).toBe(true);
    expect(await store.finishTarget(id, 'dns', { ...applied, settlesAt })).toBe('recorded');
    expect(await store.claimTarget(id, 'dns', claim(2, t2 + 1))).toBe(false);
    expect(await store.claimTarget(id, 'dns', claim(2, settlesAt))).toBe(false);
    expect(await store.claimTarget(id, 'dns', claim(2, settlesAt + 1))).toBe(true);
    expect(await store.finishTarget(id, 'dns', applied)).toBe('recorded');
    // Applied with nothing left to settle: never claimed again for the same version.
    expect(await store.claimTarget(id, 'dns', claim(2, t2 + 60_000))).toBe(false);
  });

  it('marks an applied target drifted (stale, with its event in the outbox) only for the version at hand', async () => {
    const { id, clock, t1 } = await epochTwoWhileEpochOneIsClaimed();
    const t2 = clock.t;
    expect(await store.claimTarget(id, 'dns', claim(2, t2, t1 + 10_000))).toBe(true);
    const state = await store.load(id);
    const event = driftEvent(state, 'dns', 'the record points to a', t2);
    // Still being applied, or an older epoch: refused, nothing written.
    expect(await store.markTargetDrift(id, 'dns', 2, event)).toBe(false);
    expect(await store.finishTarget(id, 'dns', { epoch: 2, state: 'applied', at: t2, attempts: 1 })).toBe(
      'recorded',
    );
    const before = await store.load(id);
    expect(await store.markTargetDrift(id, 'dns', 1, event)).toBe(false);
    expect(await store.load(id)).toEqual(before);
    expect(await store.markTargetDrift(id, 'dns', 2, event)).toBe(true);
    const after = await store.load(id);
    expect(after.targets.dns).toMatchObject({ epoch: 2, state: 'stale' });
    expect(Object.values(after.outbox)).toContainEqual(event);
  });

  it('records what a target reported about its change only on the record of that version', async () => {
    const { id, clock, t1 } = await epochTwoWhileEpochOneIsClaimed();
    const t2 = clock.t;
    expect(await store.claimTarget(id, 'dns', claim(2, t2, t1 + 10_000))).toBe(true);
    expect(await store.recordTargetDetail(id, 'dns', 1, { status: 'INSYNC' })).toBe(false);
    expect((await store.load(id)).targets.dns?.detail).toBeUndefined();
    expect(await store.recordTargetDetail(id, 'dns', 2, { status: 'INSYNC', changeId: 'C1' })).toBe(true);
    expect((await store.load(id)).targets.dns).toMatchObject({
      epoch: 2,
      state: 'applying',
      detail: { status: 'INSYNC', changeId: 'C1' },
    });
  });

  it('reports overtaken, and changes nothing, when an apply outlives its claim and another worker records the same epoch', async () => {
    const tc = makeCluster({ targetIds: ['dns'] });
    const id = tc.cluster.id;
    const clock = new FakeClock();
    const driver = makeControlPlane(tc, store, clock, []);
    await driver.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {});
    const t1 = clock.t;
    // Worker 1 claims epoch 1 for 10 s and is slow; its claim expires.
    expect(await store.claimTarget(id, 'dns', claim(1, t1))).toBe(true);
    const t2 = clock.advance(10_001);
    // Worker 2 takes the expired claim for the same epoch and records its apply.
    expect(await store.claimTarget(id, 'dns', claim(1, t2))).toBe(true);
    const second = { epoch: 1, servingVersion: 0, state: 'applied' as const, at: t2 + 50, attempts: 1 };
    expect(await store.finishTarget(id, 'dns', second)).toBe('recorded');
    const before = await store.load(id);

    // Worker 1 finishes last, for the same epoch: no newer record exists to mark stale.
    const late = { epoch: 1, servingVersion: 0, state: 'failed' as const, at: t2 + 100, attempts: 1 };
    expect(await store.finishTarget(id, 'dns', late)).toBe('overtaken');
    expect(await store.load(id)).toEqual(before);
    expect(before.targets.dns).toEqual(second);
    expect(targetsDue(before, tc.cluster, clock.t)).toEqual([]);
  });
});

describe('persistence', () => {
  it('keeps the active node and epoch across a restart of the embedded DynamoDB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'failover-store-'));
    try {
      const tc = makeCluster();
      const clock = new FakeClock();
      let local = await startLocalDynamo({ path: dir });
      try {
        const cp = makeControlPlane(tc, new DynamoStateStore(local.client, local.table), clock);
        await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'a'), {});
        await cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), {});
        const beatB = () => cp.heartbeat(tc.cluster, nodeOf(tc.cluster, 'b'), {});
        await passWhileBeating(clock, LEASE_MS + 1, 1_000, beatB);
        await beatB();
      } finally {
        await local.close();
      }

      local = await startLocalDynamo({ path: dir });
      try {
        const cp = makeControlPlane(tc, new DynamoStateStore(local.client, local.table), clock);
        const s = await cp.status(tc.cluster.id);
        expect(s).toMatchObject({ epoch: 2, active: 'b' });
        expect(s.nodes.map((n) => [n.id, n.heartbeats])).toEqual([
          ['a', 1],
          ['b', 5],
        ]);
        expect(promotions(await cp.events(tc.cluster.id, 10)).map((e) => e.epoch)).toEqual([2, 1]);
      } finally {
        await local.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // dynalite marks a new table ACTIVE on a later timer (and, with a data folder, a later
  // disk write); until then item operations fail, so a fresh `npm start` could answer its
  // first heartbeat with a 500. dynalite's timer is held back here (fake setTimeout) so the
  // window is deterministic; startLocalDynamo must wait for ACTIVE.
  it('resolves startLocalDynamo only once its new table is ACTIVE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'failover-ready-'));
    const spin = () => new Promise<void>((resolve) => setImmediate(resolve));
    let local: LocalDynamo | undefined;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const started = startLocalDynamo({ path: dir }).then((d) => {
        local = d;
      });
      // Real I/O runs; fake time stands still. The current code resolves within this loop.
      const t = performance.now();
      while (local === undefined && performance.now() - t < 500) await spin();
      // A version that waits for ACTIVE is still waiting: let time pass until it resolves.
      while (local === undefined) {
        await vi.advanceTimersByTimeAsync(10);
        await spin();
      }
      await started;
      const ready = local as LocalDynamo;
      const out = await ready.client.send(new DescribeTableCommand({ TableName: ready.table }));
      expect(out.Table?.TableStatus).toBe('ACTIVE');
    } finally {
      vi.useRealTimers();
      await (local as LocalDynamo | undefined)?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
