/**
 * Static stability in the pure core, given / when / then (safety property 7): the grace
 * after the control plane's own absence, the failsafe promise, and the failsafe rules that
 * decide whether an active may keep its role while the control plane is away.
 */
import { describe, expect, it } from 'vitest';
import { type ClusterConfig, parseConfig } from '../shared/config.js';
import { holds } from '../shared/core/condition.js';
import { decide } from '../shared/core/decide.js';
import { eligibility } from '../shared/core/eligibility.js';
import {
  type ConfirmRequest,
  extendPromise,
  failsafeEvent,
  failsafePeers,
  judgeConfirmRequest,
  keepUntil,
  type PeerKnowledge,
} from '../shared/core/failsafe.js';
import { heardRecently, lateEverywhere } from '../shared/core/grace.js';
import { firstFailing } from '../shared/core/guards.js';
import { type ClusterState, emptyState, type NodeState } from '../shared/core/state.js';

const HASH = '0'.repeat(64);
const config = parseConfig({
  clusters: [
    {
      id: 'db',
      heartbeatIntervalSeconds: 1,
      missedBeats: 3,
      nodes: [
        { id: 'a', address: '10.0.0.1', tokenSha256: HASH },
        { id: 'b', address: 'fd00::2', tokenSha256: HASH },
        { id: 'c', address: 'c.internal', tokenSha256: HASH, peerUrl: 'https://c.internal:9000/' },
      ],
    },
    { id: 'off', failsafe: false, nodes: [{ id: 'a', address: '10.0.0.1', tokenSha256: HASH }] },
    { id: 'solo', nodes: [{ id: 'a', address: '10.0.0.1', tokenSha256: HASH }] },
    { id: 'pair', nodes: ['a', 'b'].map((id, i) => ({ id, address: `10.0.0.${i + 1}`, tokenSha256: HASH })) },
    {
      id: 'pair-off',
      failsafe: false,
      nodes: ['a', 'b'].map((id, i) => ({ id, address: `10.0.0.${i + 1}`, tokenSha256: HASH })),
    },
  ],
});
const db = config.clusters[0] as ClusterConfig;
const LEASE = 3_000;
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A node that beat `agoMs` ago; `gapMs`: the time between that beat and the one before. */
function seen(agoMs: number, gapMs = 1_000): NodeState {
  return { lastSeen: NOW - agoMs, prevSeen: NOW - agoMs - gapMs, beats: 9, status: 'ok' };
}

function state(nodes: Record<string, NodeState>, extra: Partial<ClusterState> = {}): ClusterState {
  return { ...emptyState('db'), epoch: 4, active: 'a', activeSince: NOW - 60_000, nodes, ...extra };
}

describe('grace after the control plane was away', () => {
  it('holds for one lease from the return the ending beat recorded, naming the incumbent', () => {
    // given: nobody beat for 14 s; b's beat just arrived and recorded the return
    const s = state({ a: seen(14_000), b: seen(0, 14_000), c: seen(14_000) }, { returnedAt: NOW });
    // when
    const decision = decide(s, db, NOW);
    // then
    expect(decision).toMatchObject({
      type: 'hold',
      expectedEpoch: 4,
      hold: { code: 'grace', since: NOW, until: NOW + LEASE },
    });
    expect(decision.type === 'hold' && decision.hold.reason).toBe(
      'the control plane was away: no beat from any node for more than 1.5 s (interval 1 s) before ' +
        `${new Date(NOW).toISOString()}; no automatic failover until ${new Date(NOW + LEASE).toISOString()}, ` +
        'so that a can renew its lease first',
    );
  });

  it('keeps holding until a lease after the return, and promotes from that millisecond if the incumbent never renewed', () => {
    const returned = { returnedAt: NOW - 2_000 };
    const s = state({ a: seen(16_000), b: seen(0), c: seen(0) }, returned);
    expect(decide(s, db, NOW)).toMatchObject({ type: 'hold', hold: { code: 'grace', until: NOW + 1_000 } });
    expect(decide(s, db, NOW + 999)).toMatchObject({ type: 'hold', hold: { code: 'grace' } });
    const after = decide(state({ a: seen(17_000), b: seen(0), c: seen(0) }, returned), db, NOW + 1_000);
    expect(after).toMatchObject({ type: 'promote', to: 'b', cause: 'lease-expired' });
    // The promoting write re-checks the grace on the record it finds: a later return fails it.
    const guards = after.type === 'promote' ? after.guards : [];
    const noGrace = { rule: 'no-grace', leaseMs: LEASE, silenceMs: 1_500, nodes: ['a', 'b', 'c'] };
    expect(guards).toContainEqual(noGrace);
    const later = state({ a: seen(17_000), b: seen(0), c: seen(0) }, { returnedAt: NOW - 500 });
    expect(firstFailing(guards, later, NOW + 1_000)).toEqual(noGrace);
  });

  it('holds while no node has been heard for more than 1.5 intervals, before any beat records a return', () => {
    // given: a's lease ran out, and the last beat from anyone was 1.501 s ago (a sweep right after the return)
    const s = state({ a: seen(LEASE + 1), b: seen(1_501), c: seen(1_600) });
    const decision = decide(s, db, NOW);
    expect(decision).toMatchObject({ type: 'hold', hold: { code: 'grace', since: NOW } });
    expect(decision.type === 'hold' && decision.hold.until).toBeUndefined();
    expect(decision.type === 'hold' && decision.hold.reason).toBe(
      'no beat from any node for more than 1.5 s (interval 1 s): the control plane may be away; ' +
        'no automatic failover until a node beats again, so that a can renew its lease first',
    );
    // at exactly 1.5 intervals the control plane still counts as hearing the cluster
    expect(decide(state({ a: seen(LEASE + 1), b: seen(1_500) }), db, NOW)).toMatchObject({ type: 'promote' });
  });

  it('has the promoting write re-check that some node was heard: a write right after a return fails', () => {
    const decision = decide(state({ a: seen(LEASE + 1), b: seen(0), c: seen(0) }), db, NOW);
    expect(decision).toMatchObject({ type: 'promote', to: 'b' });
    const guards = decision.type === 'promote' ? decision.guards : [];
    // the same record, written 1.6 s later (a paused worker): nobody heard since
    expect(
      firstFailing(guards, state({ a: seen(LEASE + 1), b: seen(0), c: seen(0) }), NOW + 1_501),
    ).toMatchObject({
      rule: 'no-grace',
    });
  });

  it('lets the returning incumbent simply renew: steady, no grace', () => {
    const s = state({ a: seen(0, 14_000), b: seen(14_000), c: seen(14_000) }, { returnedAt: NOW });
    expect(decide(s, db, NOW)).toEqual({ type: 'steady' });
  });

  it('fails over at once when a standby returns while another node kept beating (the control plane was up)', () => {
    // c beat a second ago: the control plane heard the cluster, so a really missed its lease.
    const s = state({ a: seen(14_000), b: seen(0, 14_000), c: seen(1_000) });
    expect(holds(heardRecently(db, NOW), s)).toBe(true);
    expect(decide(s, db, NOW)).toMatchObject({ type: 'promote', cause: 'lease-expired' });
  });

  it('does not hold a failing incumbent that did renew: its failure is reported, not assumed', () => {
    const s = state(
      { a: { ...seen(0, 14_000), status: 'failing' }, b: seen(0, 14_000), c: seen(14_000) },
      { returnedAt: NOW },
    );
    expect(decide(s, db, NOW)).toMatchObject({ type: 'promote', cause: 'failing', to: 'b' });
  });
});

describe('hold when beats arrive late from every node at once (a flooded or throttled ingress)', () => {
  it('holds for one lease when the active missed its lease and every other node lost beats too, saying why', () => {
    // given: a's lease ran out; b's and c's last beats each came 2.5 s after the one before (interval 1 s)
    const s = state({ a: seen(LEASE + 1), b: seen(0, 2_500), c: seen(500, 2_500) });
    // when
    const decision = decide(s, db, NOW);
    // then
    expect(decision).toMatchObject({ type: 'hold', hold: { code: 'grace', since: NOW, until: NOW + LEASE } });
    expect(decision.type === 'hold' && decision.hold.reason).toBe(
      'beats arrive late from every node at once (b 2.5 s between beats, c 2.5 s between beats; interval 1 s): ' +
        "the control plane's ingress may be throttled or flooded, rather than a down; no automatic failover " +
        `until ${new Date(NOW + LEASE).toISOString()}, so that a can renew its lease first`,
    );
    expect(lateEverywhere(s, db, NOW)).toBe('b 2.5 s between beats, c 2.5 s between beats');
  });

  it('fails over when one other node beats on time: the loss is the active’s alone', () => {
    const s = state({ a: seen(LEASE + 1), b: seen(0, 2_500), c: seen(0, 1_000) });
    expect(lateEverywhere(s, db, NOW)).toBeNull();
    expect(decide(s, db, NOW)).toMatchObject({ type: 'promote', to: 'b', cause: 'lease-expired' });
  });

  it('counts a gap of up to 1.5 intervals as on time, and one a millisecond longer as late', () => {
    expect(lateEverywhere(state({ a: seen(LEASE + 1), b: seen(0, 1_500) }), db, NOW)).toBeNull();
    expect(lateEverywhere(state({ a: seen(LEASE + 1), b: seen(0, 1_501) }), db, NOW)).toMatch(
      /^b 1\.5 s between beats$/,
    );
  });

  it('ignores nodes not heard from within the lease, and holds nothing when no other node is', () => {
    expect(
      lateEverywhere(state({ a: seen(LEASE + 1), b: seen(0, 2_000), c: seen(LEASE + 1) }), db, NOW),
    ).toBe('b 2 s between beats');
    expect(lateEverywhere(state({ a: seen(LEASE + 1), b: seen(LEASE + 1) }), db, NOW)).toBeNull();
  });

  it('counts a node last heard exactly a lease ago as heard within the lease: its on-time beat shows the ingress up', () => {
    // given: b's on-time beat arrived exactly one lease ago (still alive, as isAlive counts it); c's was late
    const s = state({ a: seen(LEASE + 1), b: seen(LEASE, 1_000), c: seen(0, 2_500) });
    expect(lateEverywhere(s, db, NOW)).toBeNull();
    expect(decide(s, db, NOW)).toMatchObject({ type: 'promote', cause: 'lease-expired' });
  });

  it('keeps a recorded grace, as recorded, until its end: beats on time again neither lift nor extend it', () => {
    // given: a sweep 1 s ago held for one lease because every beat was late
    const recorded = {
      code: 'grace' as const,
      since: NOW - 1_000,
      until: NOW + 2_000,
      reason: 'beats arrive late from every node at once (…)',
    };
    // b and c beat on time now: that alone would promote b
    const onTime = state({ a: seen(LEASE + 1), b: seen(0), c: seen(0) }, { hold: recorded });
    expect(decide(onTime, db, NOW)).toEqual({ type: 'hold', expectedEpoch: 4, active: 'a', hold: recorded });
    expect(decide(onTime, db, NOW + 1_999)).toMatchObject({ type: 'hold', hold: recorded });
    // still late everywhere: the same hold, not one lease from each sweep
    const stillLate = state({ a: seen(LEASE + 1), b: seen(0, 2_500), c: seen(0, 2_500) }, { hold: recorded });
    expect(decide(stillLate, db, NOW)).toMatchObject({ type: 'hold', hold: recorded });
    // at its end (b and c still beating), the ordinary rules again
    const atEnd = state({ a: seen(LEASE + 1), b: seen(-2_000), c: seen(-2_000) }, { hold: recorded });
    expect(decide(atEnd, db, NOW + 2_000)).toMatchObject({ type: 'promote', to: 'b' });
  });

  it('does not hold a promotion away from an active that reports failing', () => {
    const s = state({ a: { ...seen(0), status: 'failing' }, b: seen(0, 2_500), c: seen(0, 2_500) });
    expect(decide(s, db, NOW)).toMatchObject({ type: 'promote', cause: 'failing', to: 'b' });
  });
});

describe('failsafe promise on the control plane', () => {
  it('makes a node that promised a peer ineligible until the promise ends, inclusive of the last millisecond', () => {
    const s = state({ a: seen(5_000), b: { ...seen(0), promisedUntil: NOW + 1_500 }, c: seen(5_000) });
    expect(eligibility(s, db, 'b', NOW)).toEqual({
      eligible: false,
      reason: 'b promised a peer not to act as active for another 1.5 s (failsafe)',
    });
    expect(eligibility(s, db, 'b', NOW + 1_500).eligible).toBe(true);
  });
});

describe('failsafe peers', () => {
  it('lists every other node with its peer URL (IPv6 bracketed, explicit peerUrl kept)', () => {
    expect(failsafePeers(db, 'a')).toEqual([
      { node: 'b', url: 'http://[fd00::2]:7788' },
      { node: 'c', url: 'https://c.internal:9000' },
    ]);
  });

  it('is off when the cluster turns it off (whatever its size), and for one node (nobody could vouch that it is not cut off alone)', () => {
    expect(failsafePeers(config.clusters[1] as ClusterConfig, 'a')).toBeNull();
    expect(failsafePeers(config.clusters[2] as ClusterConfig, 'a')).toBeNull();
    expect(failsafePeers(config.clusters[4] as ClusterConfig, 'a')).toBeNull();
  });

  it('applies from two nodes on: the one peer can vouch', () => {
    expect(failsafePeers(config.clusters[3] as ClusterConfig, 'b')).toEqual([
      { node: 'a', url: 'http://10.0.0.1:7788' },
    ]);
  });
});

describe("a peer's verdict on an active's confirm request", () => {
  const request: ConfirmRequest = { cluster: 'db', from: 'a', to: 'b', epoch: 4, ackMs: LEASE, nonce: 'n' };
  const cutOff: PeerKnowledge = { epoch: 4, leaseMs: LEASE, actsAsActive: false, lastBeatAnswered: false };

  it('confirms while it cannot reach the control plane either, promising until receipt + ack', () => {
    expect(judgeConfirmRequest(request, cutOff, 500)).toEqual({ confirm: true, promiseUntil: 500 + LEASE });
  });

  it.each([
    [{ lastBeatAnswered: true }, 'can reach the control plane, so the lease rules apply'],
    [{ epoch: 5 }, 'knows epoch 5, newer than 4'],
    [{ actsAsActive: true }, 'acts as active itself'],
    [{ lastBeatAnswered: null }, 'has not heard from the control plane since it started'],
    [{ epoch: null }, 'has not heard from the control plane since it started'],
    [{ leaseMs: 2_000 }, 'was asked for 3 s, longer than the lease (2 s)'],
  ] as const)('refuses when %o: %s', (change, reason) => {
    expect(judgeConfirmRequest(request, { ...cutOff, ...change }, 500)).toEqual({ confirm: false, reason });
  });

  it('confirms an older epoch than it knows never, the same or a newer one always', () => {
    expect(judgeConfirmRequest({ ...request, epoch: 3 }, cutOff, 0).confirm).toBe(false);
    expect(judgeConfirmRequest({ ...request, epoch: 9 }, cutOff, 0).confirm).toBe(true);
  });

  it('keeps the later of two promises and ignores a refusal', () => {
    expect(extendPromise(null, { confirm: true, promiseUntil: 10 })).toBe(10);
    expect(extendPromise(20, { confirm: true, promiseUntil: 10 })).toBe(20);
    expect(extendPromise(20, { confirm: false, reason: 'x' })).toBe(20);
  });
});

describe('whether the active keeps its role after a round', () => {
  const round = { sentAt: 1_000, ackMs: LEASE, marginMs: 600, peers: ['b', 'c'] };

  it('keeps it until send time + ack − margin when every peer confirmed', () => {
    expect(keepUntil(round, new Set(['b', 'c']))).toBe(1_000 + LEASE - 600);
  });

  it('does not when one peer is missing (refused, slow or dead): safety over availability', () => {
    expect(keepUntil(round, new Set(['b']))).toBeNull();
    expect(keepUntil({ ...round, peers: [] }, new Set())).toBeNull();
  });

  it('ends before any confirming peer may act: keep-until < the earliest promise, by the margin', () => {
    // The request cannot arrive before it was sent; the peer's promise runs from arrival.
    for (const transitMs of [0, 1, 250, 2_999]) {
      const verdict = judgeConfirmRequest(
        { cluster: 'db', from: 'a', to: 'b', epoch: 4, ackMs: LEASE, nonce: 'n' },
        { epoch: 4, leaseMs: LEASE, actsAsActive: false, lastBeatAnswered: false },
        round.sentAt + transitMs,
      );
      const until = keepUntil(round, new Set(['b', 'c'])) as number;
      expect(verdict.confirm && verdict.promiseUntil - until).toBeGreaterThanOrEqual(round.marginMs);
    }
  });
});

describe('the failsafe event', () => {
  it('says who kept which epoch, from when to when, and who confirmed it', () => {
    const event = failsafeEvent(
      state({}),
      'a',
      { epoch: 4, startedMsAgo: 30_000, endedMsAgo: 1_000, confirmedBy: ['b', 'c'] },
      NOW,
    );
    expect(event).toMatchObject({ kind: 'failsafe', epoch: 4, by: 'node:a', subject: 'a', at: NOW });
    expect(event.reason).toBe(
      `a kept the role at epoch 4 in failsafe from ${new Date(NOW - 30_000).toISOString()} to ` +
        `${new Date(NOW - 1_000).toISOString()} (29 s), confirmed by b, c`,
    );
  });

  it('says so when nobody confirmed', () => {
    const report = { epoch: 4, startedMsAgo: 3_000, endedMsAgo: 0, confirmedBy: [] };
    expect(failsafeEvent(state({}), 'a', report, NOW).reason).toMatch(/ \(3 s\), confirmed by nobody$/);
  });
});
