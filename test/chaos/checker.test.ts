/**
 * The checker on hand-made histories: one that keeps every property, and for each property
 * one that breaks it (and only it), so a checker that stopped looking would fail here.
 */
import { describe, expect, it } from 'vitest';
import { check } from './checker.js';
import type { History } from './history.js';

/** a is first active at epoch 1, stops beating after 1100; b takes over at 5000 (epoch 2). */
function goodHistory(): History {
  return {
    rules: { nodes: ['a', 'b', 'c'], intervalMs: 1_000, leaseMs: 3_000, maxLagSeconds: 5, skewBoundMs: 200 },
    ops: [
      {
        id: 0,
        kind: 'beat',
        node: 'a',
        worker: 0,
        invokedAt: 0,
        completedAt: 0,
        clock: { invoked: 0, completed: 0 },
        status: 200,
        writes: [],
      },
      {
        id: 1,
        kind: 'rejected',
        node: 'bad-token',
        worker: 1,
        invokedAt: 700,
        completedAt: 700,
        clock: { invoked: 700, completed: 700 },
        status: 401,
        writes: [],
      },
      {
        id: 2,
        kind: 'pause',
        worker: 2,
        invokedAt: 800,
        completedAt: 800,
        clock: { invoked: 800, completed: 800 },
        status: 409,
        writes: [],
      },
      {
        id: 5,
        kind: 'beat',
        node: 'b',
        worker: 1,
        invokedAt: 5_000,
        completedAt: 5_000,
        clock: { invoked: 5_000, completed: 5_000 },
        status: 200,
        writes: [],
      },
    ],
    promotions: [
      {
        op: 0,
        at: 0,
        now: 100,
        epoch: 1,
        from: null,
        to: 'a',
        cause: 'first-active',
        nodes: { a: { lastSeen: 100, status: 'ok', lagSeconds: 0 } },
      },
      {
        op: 5,
        at: 5_000,
        now: 5_100,
        epoch: 2,
        from: 'a',
        to: 'b',
        cause: 'lease-expired',
        nodes: {
          a: { lastSeen: 1_100, status: 'ok', lagSeconds: 0 },
          b: { lastSeen: 5_000, status: 'ok', lagSeconds: 1 },
        },
      },
    ],
    answers: [
      { op: 0, node: 'a', at: 0, role: 'active', epoch: 1, active: 'a' },
      { op: 5, node: 'b', at: 5_000, role: 'active', epoch: 2, active: 'b' },
    ],
    beliefs: [
      { agent: 'a', epoch: 1, from: 0, to: 3_400, fenced: false },
      { agent: 'b', epoch: 2, from: 5_000, to: 8_000, fenced: false },
    ],
    applies: [
      { epoch: 1, active: 'a', startedAt: 0, finishedAt: 0 },
      { epoch: 2, active: 'b', startedAt: 5_000, finishedAt: 5_000 },
    ],
    outages: [],
    lostBeats: [],
    agentDown: [],
    final: {
      quietAt: 8_000,
      sweepAt: 8_000,
      epoch: 2,
      active: 'b',
      promotedEvents: [
        { epoch: 2, active: 'b' },
        { epoch: 1, active: 'a' },
      ],
      targets: { dns: { epoch: 2, state: 'applied' } },
    },
  };
}

const properties = (h: History) => [...new Set(check(h).map((v) => v.property))].sort();
const second = (h: History) => h.promotions[1] as History['promotions'][number];

describe('the chaos checker', () => {
  it('finds nothing in a history that keeps every property', () => {
    expect(check(goodHistory())).toEqual([]);
  });

  it('property 1: finds two nodes answered as active in one epoch', () => {
    const h = goodHistory();
    h.answers.push({ op: 6, node: 'c', at: 5_100, role: 'active', epoch: 2, active: 'c' });
    expect(properties(h)).toEqual([1]);
    expect(check(h)[0]?.message).toBe('epoch 2 has 2 actives: b, c');
  });

  it('property 1: finds an epoch that skipped a number', () => {
    const h = goodHistory();
    second(h).epoch = 3;
    h.final.epoch = 3;
    h.final.promotedEvents = [{ epoch: 1, active: 'a' }];
    h.final.targets.dns = { epoch: 3, state: 'applied' };
    h.answers.pop();
    expect(check(h).filter((v) => v.property === 1)).toEqual([
      { property: 1, message: 'epoch 3 was committed after epoch 1' },
    ]);
  });

  it('property 2: finds a promotion of a node whose lease had run out by the write’s clock', () => {
    const h = goodHistory();
    const b = second(h).nodes.b;
    if (b) b.lastSeen = 2_099; // 3001 ms before the write's now (5100)
    expect(properties(h)).toEqual([2]);
  });

  it('property 2: finds a promotion of a node past the sync gate', () => {
    const h = goodHistory();
    const b = second(h).nodes.b;
    if (b) b.lagSeconds = 30;
    expect(check(h)).toEqual([
      { property: 2, message: 'epoch 2 promoted b, which reported lag 30 s (limit 5 s)' },
    ]);
  });

  it('property 3: finds two promoted events for one epoch', () => {
    const h = goodHistory();
    h.final.promotedEvents.push({ epoch: 2, active: 'b' });
    expect(check(h)).toEqual([{ property: 3, message: 'epoch 2 has 2 promoted events' }]);
  });

  it('property 3: finds two promoting writes that took effect for one epoch', () => {
    const h = goodHistory();
    h.promotions.push({ ...second(h), op: 9, at: 5_010 });
    expect(properties(h)).toContain(3);
    expect(check(h)).toContainEqual({ property: 3, message: '2 promoting writes took effect for epoch 2' });
  });

  it('property 4: finds traffic left on the deposed node by an apply that finished late', () => {
    const h = goodHistory();
    h.applies.push({ epoch: 1, active: 'a', startedAt: 4_000, finishedAt: 7_000 });
    expect(properties(h)).toEqual([4]);
  });

  it('property 4: finds a target record that stopped short of the last epoch', () => {
    const h = goodHistory();
    h.final.targets.dns = { epoch: 2, state: 'failed' };
    expect(properties(h)).toEqual([4]);
  });

  it('property 5: finds an old active still believing when the failover was committed', () => {
    const h = goodHistory();
    (h.beliefs[0] as History['beliefs'][number]).to = 5_500;
    expect(properties(h)).toEqual([5]);
    expect(check(h).map((v) => v.message)).toEqual([
      'a (epoch 1) and b (epoch 2) both believed they were active from 5000 to 5500',
      'epoch 2 was committed at 5000 while a still believed it was active (epoch 1, until 5500)',
    ]);
  });

  it('property 5: allows a paused agent to overlap only while a newer epoch fences it', () => {
    const h = goodHistory();
    h.beliefs.push({ agent: 'a', epoch: 1, from: 3_400, to: 6_000, fenced: true });
    expect(check(h)).toEqual([]);
    h.beliefs.push({ agent: 'c', epoch: 2, from: 5_500, to: 6_500, fenced: true });
    expect(properties(h)).toEqual([5]);
  });

  it('property 6: finds a request answered 409 whose write took effect', () => {
    const h = goodHistory();
    h.ops[2]?.writes.push({ method: 'setPause', at: 800, applied: true });
    expect(properties(h)).toEqual([6]);
  });

  it('property 6: finds a malformed request that was not answered with a 4xx', () => {
    const h = goodHistory();
    const rejected = h.ops[1];
    if (rejected) rejected.status = 500;
    expect(properties(h)).toEqual([6]);
  });

  it('property 7: finds an incumbent replaced right after an outage swallowed its beats', () => {
    const h = goodHistory();
    h.outages.push({ from: 1_500, to: 4_000 });
    h.lostBeats.push({ agent: 'a', at: 2_100 }, { agent: 'a', at: 3_100 });
    expect(properties(h)).toEqual([7]);
    // Not when the incumbent was down anyway: then the outage changed nothing.
    h.agentDown.push({ agent: 'a', from: 1_200, to: 9_000 });
    expect(check(h)).toEqual([]);
  });

  it('property 7: counts any outage with a lease of three beats, only a visible one with two', () => {
    // A 1.4 s outage (no longer than 1.5 intervals) that swallowed one of a's beats.
    const short = () => {
      const h = goodHistory();
      h.outages.push({ from: 2_600, to: 4_000 });
      h.lostBeats.push({ agent: 'a', at: 3_100 });
      return h;
    };
    expect(properties(short())).toEqual([7]);
    // With a lease of two beats one lost beat is a failover by definition, outage or not.
    const twoBeats = short();
    twoBeats.rules = { ...twoBeats.rules, leaseMs: 2_000 };
    expect(properties(twoBeats).filter((p) => p === 7)).toEqual([]);
    // ... but an outage longer than 1.5 intervals the control plane sees, and must ride out.
    const visible = short();
    visible.rules = { ...visible.rules, leaseMs: 2_000 };
    visible.outages[0] = { from: 2_499, to: 4_000 };
    expect(properties(visible).filter((p) => p === 7)).toEqual([7]);
  });

  it('property 8: finds a switchover committed while the old active still believed it was active', () => {
    const h = goodHistory();
    second(h).cause = 'switchover';
    second(h).by = 'ops';
    (h.beliefs[0] as History['beliefs'][number]).to = 5_200;
    expect(properties(h)).toEqual([8]);
  });
});
