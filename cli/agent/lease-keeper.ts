/**
 * The one place that says whether this node may act as active (safety property 5). Pure:
 * no timers, no I/O; time is read from an injected monotonic clock in milliseconds. The
 * caller feeds it the control plane's answers, calls demoteIfExpired() at
 * nextDemotionAt(), and runs the hooks and logs for the role changes it gets back.
 *
 * Why self-demotion is safe: the control plane promotes another node only once
 * now − lastSeen > lease on its own clock, and lastSeen is stamped when a beat arrives,
 * so never before the agent sent it. The keeper's deadline is send time + lease − margin
 * of the last confirmed beat, on the agent's monotonic clock: that comes first as long as
 * the two clocks' rates differ by less than the margin.
 */
import type { HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import type { Role } from '../../shared/core/state.js';
import { formatSeconds } from '../../shared/time.js';

const MIN_MARGIN_MS = 500;
const MARGIN_SHARE_OF_LEASE = 0.2;

/** The self-demotion margin for a lease: the flag, or 20% of the lease but at least 0.5 s. */
export function marginFor(
  leaseMs: number,
  flagMs: number | undefined,
): { marginMs: number; warning?: string } {
  const marginMs = flagMs ?? Math.max(MIN_MARGIN_MS, MARGIN_SHARE_OF_LEASE * leaseMs);
  if (marginMs < leaseMs) return { marginMs };
  // A margin as long as the lease would demote on every beat: halve the lease instead.
  const half = formatSeconds(leaseMs / 2);
  return {
    marginMs: leaseMs / 2,
    warning: `--margin ${formatSeconds(marginMs)} is not below the lease (${formatSeconds(leaseMs)}); using ${half}`,
  };
}

/** A lease as the keeper applies it. */
export interface LeaseTerms {
  leaseMs: number;
  marginMs: number;
  /** lease − margin: how long after a confirmed beat was sent this node may act as active. */
  windowMs: number;
  /** Set when the --margin flag was not below the lease (see marginFor). */
  warning?: string;
}

/** A new role or epoch: the caller logs it and runs the role's hook. */
export interface RoleChange {
  role: Role;
  epoch: number;
  /** The active node as the control plane named it; null if none or unknown. */
  active: string | null;
  detail: string;
}

/** What this node may act as at one moment. */
export interface LeaseView {
  /** 'active' only while the deadline is ahead; null until the first answer. */
  role: Role | null;
  epoch: number | null;
  /** The active node as last told; null if none, unknown, or this node's lease ran out. */
  active: string | null;
  /** While active: the time left before the deadline. */
  leaseRemainingMs: number | null;
  /** While active: the monotonic time at which this node stops acting as active. */
  deadline: number | null;
}

export type AnswerOutcome =
  | { believed: true; change: RoleChange | null; terms: LeaseTerms }
  /** An `active` answer that left no lease by the time it arrived: nothing changed. */
  | { believed: false; tookMs: number; terms: LeaseTerms };

export interface SelfDemotion {
  change: RoleChange;
  /** Time since the last confirmed beat was sent. */
  unconfirmedMs: number;
  terms: LeaseTerms;
}

export type HeartbeatAnswer = Pick<HeartbeatResult, 'role' | 'epoch' | 'active' | 'leaseMs'>;

export class LeaseKeeper {
  private role: Role | null = null;
  private epoch: number | null = null;
  private active: string | null = null;
  /** The last `active` answer believed: when its beat was sent, its terms, and the deadline. */
  private confirmed: { sentAt: number; terms: LeaseTerms; deadline: number } | null = null;

  private readonly clock: () => number;
  private readonly marginFlagMs: number | undefined;

  /** `clock`: monotonic ms, the same clock the caller reads beats' send times from. */
  constructor(options: { clock: () => number; marginFlagMs?: number }) {
    this.clock = options.clock;
    this.marginFlagMs = options.marginFlagMs;
  }

  /**
   * The control plane's answer to a beat sent at `sentAt`. An `active` answer is believed
   * only if it still leaves some lease, and then sets the deadline to sentAt + lease − margin.
   * The same role and epoch is no change but still renews the deadline, even one that passed
   * a moment ago without demoteIfExpired() yet: the control plane has not moved the role.
   */
  answer(result: HeartbeatAnswer, sentAt: number): AnswerOutcome {
    const terms = this.termsFor(result.leaseMs);
    const tookMs = this.clock() - sentAt;
    if (result.role === 'active' && tookMs >= terms.windowMs) return { believed: false, tookMs, terms };
    const change =
      result.role !== this.role || result.epoch !== this.epoch
        ? this.changeTo(result.role, result.epoch, result.active, `active ${result.active ?? 'none'}`)
        : null;
    if (result.role === 'active') this.confirmed = { sentAt, terms, deadline: sentAt + terms.windowMs };
    return { believed: true, change, terms };
  }

  /**
   * Planned downtime: this node stops acting as active now, before it asks the control
   * plane to hand the role over (demote-first), so the new active never overlaps it.
   */
  stepDown(): RoleChange | null {
    if (this.role !== 'active' || this.epoch === null) return null;
    return this.changeTo('standby', this.epoch, null, 'stepping down to release the role');
  }

  /** When demoteIfExpired() will demote: the deadline while active; otherwise null. */
  nextDemotionAt(): number | null {
    return this.role === 'active' ? (this.confirmed?.deadline ?? null) : null;
  }

  /** At or after the deadline: the change to standby, once; otherwise null. */
  demoteIfExpired(): SelfDemotion | null {
    const confirmed = this.confirmed;
    const now = this.clock();
    if (this.role !== 'active' || confirmed === null || now < confirmed.deadline) return null;
    return {
      change: this.changeTo('standby', this.epoch as number, null, 'self-demoted'),
      unconfirmedMs: now - confirmed.sentAt,
      terms: confirmed.terms,
    };
  }

  /**
   * Moves the deadline of a confirmed active forward to `until` (monotonic ms). Never
   * shortens it and never revives a lease that has run out: that takes a new answer.
   * Returns whether the deadline moved (the caller then re-arms its timer).
   */
  extendDeadline(until: number): boolean {
    const confirmed = this.confirmed;
    if (this.role !== 'active' || confirmed === null) return false;
    if (this.clock() >= confirmed.deadline || until <= confirmed.deadline) return false;
    this.confirmed = { ...confirmed, deadline: until };
    return true;
  }

  /** As of now: may this node act as active, and for how long. */
  view(): LeaseView {
    const now = this.clock();
    const deadline = this.nextDemotionAt();
    if (deadline !== null && now < deadline) {
      return {
        role: 'active',
        epoch: this.epoch,
        active: this.active,
        leaseRemainingMs: deadline - now,
        deadline,
      };
    }
    // An active whose deadline passed is standby from that instant, before demoteIfExpired() runs.
    const lapsed = this.role === 'active';
    return {
      role: lapsed ? 'standby' : this.role,
      epoch: this.epoch,
      active: lapsed ? null : this.active,
      leaseRemainingMs: null,
      deadline: null,
    };
  }

  private termsFor(leaseMs: number): LeaseTerms {
    const { marginMs, warning } = marginFor(leaseMs, this.marginFlagMs);
    return { leaseMs, marginMs, windowMs: leaseMs - marginMs, ...(warning ? { warning } : {}) };
  }

  private changeTo(role: Role, epoch: number, active: string | null, detail: string): RoleChange {
    this.role = role;
    this.epoch = epoch;
    this.active = active;
    this.confirmed = null;
    return { role, epoch, active, detail };
  }
}
