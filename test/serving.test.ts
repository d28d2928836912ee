/**
 * Where traffic goes, in the pure core (`serving.ts`), given / when / then: which target
 * records are current, whom targets point to, and how the active-active serving set
 * changes and says why. Time is data. (The same rules over a store and real targets are in
 * active-active.test.ts, which starts a local DynamoDB and is too slow for the mutation run.)
 */
import { describe, expect, it } from 'vitest';
import { type ClusterConfig, parseConfig } from '../shared/config.js';
import { isCurrentRecord, servingChange, targetMembers } from '../shared/core/serving.js';
import { type ClusterState, emptyState, type NodeState, type TargetState } from '../shared/core/state.js';

const HASH = '0'.repeat(64);
const nodes = ['a', 'b', 'c'].map((id, i) => ({ id, address: `10.0.0.${i + 1}`, tokenSha256: HASH }));
const config = parseConfig({
  clusters: [
    { id: 'aa', mode: 'active-active', heartbeatIntervalSeconds: 1, missedBeats: 3, maxLagSeconds: 5, nodes },
    { id: 'ap', heartbeatIntervalSeconds: 1, missedBeats: 3, nodes },
  ],
});
const activeActive = config.clusters[0] as ClusterConfig;
const activePassive = config.clusters[1] as ClusterConfig;

const LEASE = 3_000;
const NOW = Date.UTC(2026, 11, 2, 8, 0, 0);

/** A node whose last beat arrived `agoMs` before NOW. */
function seen(agoMs: number, extra: Partial<NodeState> = {}): NodeState {
  return { lastSeen: NOW - agoMs, beats: 9, status: 'ok', lagSeconds: 0, ...extra };
}

function state(extra: Partial<ClusterState>): ClusterState {
  return { ...emptyState('aa'), epoch: 3, active: 'a', activeSince: NOW - 60_000, ...extra };
}

describe('whether a target record is about the current epoch and serving set', () => {
  const record = (epoch: number, servingVersion?: number): TargetState => ({
    epoch,
    state: 'applied',
    at: NOW,
    attempts: 1,
    ...(servingVersion === undefined ? {} : { servingVersion }),
  });
  const current = state({ epoch: 3, servingVersion: 2 });

  it('is current for this epoch and serving set, or a newer one another worker already wrote', () => {
    expect(isCurrentRecord(record(3, 2), current)).toBe(true);
    expect(isCurrentRecord(record(4, 3), current)).toBe(true);
  });

  it('is not current for an older epoch, an older serving set, or when there is no record', () => {
    expect(isCurrentRecord(record(2, 2), current)).toBe(false);
    expect(isCurrentRecord(record(3, 1), current)).toBe(false);
    expect(isCurrentRecord(undefined, current)).toBe(false);
  });

  it('reads a record without a serving version as serving set 0 (written before active-active existed)', () => {
    expect(isCurrentRecord(record(3), state({ epoch: 3, servingVersion: 0 }))).toBe(true);
    expect(isCurrentRecord(record(3), current)).toBe(false);
  });
});

describe('whom targets point to', () => {
  it('points at the recorded serving set in active-active mode, in priority order, whoever is leader', () => {
    const s = state({ active: 'c', serving: ['c', 'a'] });
    expect(targetMembers(s, activeActive).map((n) => n.id)).toEqual(['a', 'c']);
  });

  it('points at the active alone in active-passive mode, and nowhere while there is none', () => {
    const s = state({ active: 'b', serving: ['a', 'c'] });
    expect(targetMembers(s, activePassive).map((n) => n.id)).toEqual(['b']);
    expect(targetMembers(state({ active: null }), activePassive)).toEqual([]);
  });
});

describe('the active-active serving set', () => {
  it('does not exist in active-passive mode', () => {
    const s = state({ nodes: { a: seen(0), b: seen(0), c: seen(0) } });
    expect(servingChange(s, activePassive, NOW)).toBeNull();
  });

  it('records the nodes that joined under the next serving version, at the current epoch', () => {
    // given: a serves alone (version 4); b and c came back
    const s = state({ serving: ['a'], servingVersion: 4, nodes: { a: seen(0), b: seen(0), c: seen(0) } });
    // when
    const change = servingChange(s, activeActive, NOW);
    // then
    expect(change?.serving).toEqual(['a', 'b', 'c']);
    expect(change?.event).toEqual({
      cluster: 'aa',
      kind: 'serving',
      epoch: 3,
      at: NOW,
      active: 'a',
      previous: 'a',
      reason: 'serving set is now a, b, c (b, c joined)',
      subject: '5',
    });
  });

  it('says why each node left, as its eligibility refusal', () => {
    const s = state({
      serving: ['a', 'b', 'c'],
      nodes: { a: seen(0), b: seen(LEASE + 1), c: seen(0, { lagSeconds: 9 }) },
    });
    const change = servingChange(s, activeActive, NOW);
    expect(change?.serving).toEqual(['a']);
    expect(change?.event.reason).toBe(
      'serving set is now a (left: b was last seen 3 s ago (lease 3 s); c is 9 s behind, limit 5 s)',
    );
  });

  it('names both the nodes that joined and those that left in one event', () => {
    const s = state({ serving: ['a', 'b'], nodes: { a: seen(0), b: seen(LEASE + 1), c: seen(0) } });
    expect(servingChange(s, activeActive, NOW)?.event.reason).toMatch(
      /^serving set is now a, c \(c joined; left: b .+\)$/,
    );
  });

  it('changes nothing when the eligible nodes are those recorded, or when no node is eligible', () => {
    const all = { a: seen(0), b: seen(0), c: seen(0) };
    expect(servingChange(state({ serving: ['a', 'b', 'c'], nodes: all }), activeActive, NOW)).toBeNull();
    // with every node silent, traffic stays where it was rather than going nowhere
    const silent = { a: seen(LEASE + 1), b: seen(LEASE + 1), c: seen(LEASE + 1) };
    expect(servingChange(state({ serving: ['a', 'b'], nodes: silent }), activeActive, NOW)).toBeNull();
  });
});
