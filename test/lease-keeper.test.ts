/**
 * The lease keeper, given / when / then on a fake monotonic clock: when this node may act
 * as active, and which answers change its role.
 */
import { describe, expect, it } from 'vitest';
import { LeaseKeeper, marginFor } from '../cli/agent/lease-keeper.js';
import type { Role } from '../shared/core/state.js';

const LEASE = 15_000; // default margin 20% = 3 s
const WINDOW = 12_000; // lease − margin

/** A keeper for node `me` and the clock it reads; `answer` delivers a beat's answer at `arrivedAt`. */
function given(options: { marginFlagMs?: number; leaseMs?: number } = {}) {
  const clock = { now: 0 };
  const keeper = new LeaseKeeper({ clock: () => clock.now, marginFlagMs: options.marginFlagMs });
  const leaseMs = options.leaseMs ?? LEASE;
  return {
    keeper,
    clock,
    at(now: number) {
      clock.now = now;
      return keeper;
    },
    answer(role: Role, epoch: number, beat: { sentAt: number; arrivedAt: number; active?: string | null }) {
      clock.now = beat.arrivedAt;
      const active = beat.active !== undefined ? beat.active : role === 'active' ? 'me' : 'other';
      return keeper.answer({ role, epoch, active, leaseMs }, beat.sentAt);
    },
  };
}

/** A keeper whose node was confirmed active in epoch 1 by a beat sent at 0: deadline at 12 s. */
function givenActive() {
  const g = given();
  g.answer('active', 1, { sentAt: 0, arrivedAt: 100 });
  return g;
}

describe('first answer', () => {
  it('knows nothing before the first answer', () => {
    expect(given().keeper.view()).toEqual({
      role: null,
      epoch: null,
      active: null,
      leaseRemainingMs: null,
      deadline: null,
    });
  });

  it('a standby answer is a change to standby, with no lease and nothing to demote', () => {
    const g = given();
    const outcome = g.answer('standby', 1, { sentAt: 0, arrivedAt: 50, active: 'a' });
    expect(outcome).toMatchObject({
      believed: true,
      change: { role: 'standby', epoch: 1, active: 'a', detail: 'active a' },
    });
    expect(g.keeper.view()).toMatchObject({ role: 'standby', epoch: 1, active: 'a', deadline: null });
    expect(g.keeper.nextDemotionAt()).toBeNull();
  });

  it('an active answer is a change to active', () => {
    const g = given();
    const outcome = g.answer('active', 1, { sentAt: 0, arrivedAt: 50 });
    expect(outcome).toMatchObject({
      change: { role: 'active', epoch: 1, active: 'me', detail: 'active me' },
    });
    expect(g.keeper.view().role).toBe('active');
  });
});

describe('the deadline of a confirmed active', () => {
  it('is send time + lease − margin, not arrival time + anything', () => {
    const g = given();
    g.answer('active', 1, { sentAt: 1_000, arrivedAt: 1_400 });
    expect(g.keeper.nextDemotionAt()).toBe(1_000 + WINDOW);
    expect(g.keeper.view()).toEqual({
      role: 'active',
      epoch: 1,
      active: 'me',
      leaseRemainingMs: 1_000 + WINDOW - 1_400,
      deadline: 1_000 + WINDOW,
    });
  });

  it('leaves 1 ms of lease one millisecond before it', () => {
    const g = givenActive();
    expect(g.at(WINDOW - 1).view()).toMatchObject({ role: 'active', leaseRemainingMs: 1, deadline: WINDOW });
  });

  it('ends acting as active at the deadline and after it, even before the demotion is processed', () => {
    const g = givenActive();
    const lapsed = { role: 'standby', epoch: 1, active: null, leaseRemainingMs: null, deadline: null };
    expect(g.at(WINDOW).view()).toEqual(lapsed);
    expect(g.at(WINDOW + 1).view()).toEqual(lapsed);
  });

  it('self-demotes exactly once, at the deadline, and not a millisecond before', () => {
    const g = givenActive();
    expect(g.at(WINDOW - 1).demoteIfExpired()).toBeNull();
    expect(g.at(WINDOW).demoteIfExpired()).toEqual({
      change: { role: 'standby', epoch: 1, active: null, detail: 'self-demoted' },
      unconfirmedMs: WINDOW,
      terms: { leaseMs: LEASE, marginMs: 3_000, windowMs: WINDOW },
    });
    expect(g.at(WINDOW + 500).demoteIfExpired()).toBeNull();
    expect(g.keeper.nextDemotionAt()).toBeNull();
    expect(g.keeper.view()).toMatchObject({ role: 'standby', epoch: 1 });
  });

  it('is renewed by a confirmation of the same role and epoch, which is not a change', () => {
    const g = givenActive();
    const outcome = g.answer('active', 1, { sentAt: 5_000, arrivedAt: 5_100 });
    expect(outcome).toMatchObject({ believed: true, change: null });
    expect(g.keeper.nextDemotionAt()).toBe(5_000 + WINDOW);
    expect(g.at(WINDOW).demoteIfExpired()).toBeNull();
    expect(g.at(5_000 + WINDOW - 1).view().role).toBe('active');
  });

  it('goes away when the control plane answers standby: no self-demotion follows', () => {
    const g = givenActive();
    const outcome = g.answer('standby', 2, { sentAt: 1_000, arrivedAt: 1_050, active: 'b' });
    expect(outcome).toMatchObject({ change: { role: 'standby', epoch: 2, active: 'b', detail: 'active b' } });
    expect(g.keeper.nextDemotionAt()).toBeNull();
    expect(g.at(WINDOW).demoteIfExpired()).toBeNull();
  });
});

describe('a late confirmation', () => {
  it('is ignored when it arrives lease − margin after its beat was sent: a standby is not promoted', () => {
    const g = given();
    g.answer('standby', 1, { sentAt: 0, arrivedAt: 50, active: 'a' });
    const outcome = g.answer('active', 2, { sentAt: 1_000, arrivedAt: 1_000 + WINDOW });
    expect(outcome).toMatchObject({ believed: false, tookMs: WINDOW });
    expect(g.keeper.view()).toMatchObject({ role: 'standby', epoch: 1, active: 'a', deadline: null });
  });

  it('is believed one millisecond earlier, with that millisecond of lease left', () => {
    const g = given();
    const outcome = g.answer('active', 1, { sentAt: 1_000, arrivedAt: 1_000 + WINDOW - 1 });
    expect(outcome).toMatchObject({ believed: true, change: { role: 'active' } });
    expect(g.keeper.view()).toMatchObject({ role: 'active', leaseRemainingMs: 1 });
  });

  it('does not renew an active: the old deadline still demotes', () => {
    const g = givenActive();
    const outcome = g.answer('active', 1, { sentAt: 2_000, arrivedAt: 2_000 + WINDOW + 300 });
    expect(outcome.believed).toBe(false);
    expect(g.keeper.nextDemotionAt()).toBe(WINDOW);
    expect(g.keeper.demoteIfExpired()?.change.detail).toBe('self-demoted');
  });
});

describe('role changes', () => {
  it('an epoch change with the same role is a change, so the hook runs again', () => {
    const g = given();
    g.answer('standby', 1, { sentAt: 0, arrivedAt: 50, active: 'a' });
    const outcome = g.answer('standby', 2, { sentAt: 1_000, arrivedAt: 1_050, active: 'b' });
    expect(outcome).toMatchObject({ change: { role: 'standby', epoch: 2, active: 'b', detail: 'active b' } });
  });

  it('a new epoch for an active is a change too, and its confirmation sets the deadline', () => {
    const g = givenActive();
    const outcome = g.answer('active', 3, { sentAt: 1_000, arrivedAt: 1_050 });
    expect(outcome).toMatchObject({ change: { role: 'active', epoch: 3 } });
    expect(g.keeper.nextDemotionAt()).toBe(1_000 + WINDOW);
  });

  it('stepping down to release ends acting as active at the same epoch, before the control plane is asked', () => {
    const g = givenActive();
    const change = g.at(1_000).stepDown();
    expect(change).toEqual({
      role: 'standby',
      epoch: 1,
      active: null,
      detail: 'stepping down to release the role',
    });
    expect(g.keeper.view()).toMatchObject({ role: 'standby', epoch: 1, deadline: null });
    expect(g.keeper.nextDemotionAt()).toBeNull();
  });

  it('a standby has nothing to step down from', () => {
    const g = givenActive();
    g.answer('standby', 2, { sentAt: 1_000, arrivedAt: 1_050 });
    expect(g.keeper.stepDown()).toBeNull();
  });
});

describe('extending the deadline (the seam for peer confirmations)', () => {
  it('moves the deadline of a confirmed active forward', () => {
    const g = givenActive();
    expect(g.at(5_000).extendDeadline(20_000)).toBe(true);
    expect(g.at(19_999).view()).toMatchObject({ role: 'active', leaseRemainingMs: 1, deadline: 20_000 });
    expect(g.keeper.demoteIfExpired()).toBeNull();
    expect(g.at(20_000).demoteIfExpired()?.change.detail).toBe('self-demoted');
  });

  it('never shortens it', () => {
    const g = givenActive();
    expect(g.at(5_000).extendDeadline(WINDOW - 1)).toBe(false);
    expect(g.keeper.nextDemotionAt()).toBe(WINDOW);
  });

  it('never revives a lease that has run out', () => {
    const g = givenActive();
    expect(g.at(WINDOW).extendDeadline(WINDOW + 10_000)).toBe(false);
    expect(g.keeper.view().role).toBe('standby');
  });

  it('does nothing for a standby', () => {
    const g = given();
    g.answer('standby', 1, { sentAt: 0, arrivedAt: 50 });
    expect(g.keeper.extendDeadline(60_000)).toBe(false);
    expect(g.keeper.view().role).toBe('standby');
  });
});

describe('self-demotion margin', () => {
  it('defaults to 20% of the lease, so a 15 s lease demotes 12 s after the last confirmed send', () => {
    expect(marginFor(15_000, undefined)).toEqual({ marginMs: 3_000 });
    const g = given();
    g.answer('active', 1, { sentAt: 1_000, arrivedAt: 1_100 });
    expect(g.keeper.nextDemotionAt()).toBe(13_000);
  });

  it('never goes below half a second for short leases', () => {
    expect(marginFor(2_000, undefined)).toEqual({ marginMs: 500 });
    const g = given({ leaseMs: 2_000 });
    g.answer('active', 1, { sentAt: 1_000, arrivedAt: 1_100 });
    expect(g.keeper.nextDemotionAt()).toBe(2_500);
  });

  it('takes the --margin flag when it is below the lease', () => {
    expect(marginFor(15_000, 5_000)).toEqual({ marginMs: 5_000 });
    const g = given({ marginFlagMs: 5_000 });
    g.answer('active', 1, { sentAt: 1_000, arrivedAt: 1_100 });
    expect(g.keeper.nextDemotionAt()).toBe(11_000);
  });

  it('halves the lease, with a warning, when --margin is not below it (it would demote on every beat)', () => {
    const { marginMs, warning } = marginFor(3_000, 3_000);
    expect(marginMs).toBe(1_500);
    expect(warning).toBe('--margin 3 s is not below the lease (3 s); using 1.5 s');
    const g = given({ marginFlagMs: 3_000, leaseMs: 3_000 });
    const outcome = g.answer('active', 1, { sentAt: 1_000, arrivedAt: 1_100 });
    expect(outcome.terms).toEqual({ leaseMs: 3_000, marginMs: 1_500, windowMs: 1_500, warning });
    expect(g.keeper.nextDemotionAt()).toBe(2_500);
  });
});
