/**
 * A simulated node agent: the real LeaseKeeper (the agent's one source of "may I act as
 * active"), on simulated time, and a record of when it believed it was active. Like the
 * real agent it beats once per interval, gives up on an answer after the interval, and
 * reads its own lease terms from the answer. A node that reports `failing` has stopped
 * serving: it does not count as believing it is active until it is ok again.
 */

import { LeaseKeeper } from '../../cli/agent/lease-keeper.js';
import type { HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import type { BeliefRecord } from './history.js';
import type { Sim } from './sim.js';

export class SimAgent {
  readonly keeper: LeaseKeeper;
  status: 'ok' | 'failing' = 'ok';
  lagSeconds = 0;
  /** Not beating (crashed or cut off) until then. */
  silentUntil = Number.NEGATIVE_INFINITY;
  /** Stopped (SIGSTOP) until then: no beats, no demotion timer, answers lost. */
  pausedUntil = Number.NEGATIVE_INFINITY;
  readonly beliefs: BeliefRecord[] = [];
  private open: { epoch: number; from: number; deadline: number } | null = null;

  constructor(
    readonly id: string,
    private readonly sim: Sim,
  ) {
    this.keeper = new LeaseKeeper({ clock: () => sim.t });
  }

  canBeat(): boolean {
    return this.sim.t >= this.silentUntil && this.sim.t >= this.pausedUntil;
  }

  /** The beat body, as the real agent builds it: its report plus the role it believes it holds. */
  beat(): Record<string, unknown> {
    const { role, epoch } = this.keeper.view();
    return {
      status: this.status,
      lagSeconds: this.lagSeconds,
      ...(role === null ? {} : { role }),
      ...(epoch === null ? {} : { epoch }),
    };
  }

  /** An answer, unless it came too late (the agent gave up on it) or while stopped. */
  answer(result: HeartbeatResult, sentAt: number, timeoutMs: number): void {
    if (this.sim.t - sentAt >= timeoutMs || this.sim.t < this.pausedUntil) return;
    this.observe();
    this.keeper.answer(result, sentAt);
    this.observe();
  }

  setStatus(status: 'ok' | 'failing'): void {
    this.observe();
    this.status = status;
    this.observe();
  }

  /**
   * Stops the process for `ms`. While stopped it cannot run its demotion timer: past its
   * deadline it may still act on the old epoch until it resumes (fenced by a newer one).
   */
  pause(ms: number): void {
    this.observe();
    this.pausedUntil = this.sim.t + ms;
    const open = this.open;
    if (open !== null && open.deadline < this.pausedUntil) {
      this.close(open.deadline);
      this.beliefs.push({
        agent: this.id,
        epoch: open.epoch,
        from: open.deadline,
        to: this.pausedUntil,
        fenced: true,
      });
    }
  }

  /** Brings the record of beliefs up to now: a deadline that passed ends the belief there. */
  observe(): void {
    const now = this.sim.t;
    if (this.open !== null && now >= this.open.deadline) this.close(this.open.deadline);
    const view = this.keeper.view();
    const believes = view.role === 'active' && this.status === 'ok' && view.deadline !== null;
    if (!believes) {
      if (this.open !== null) this.close(now);
      return;
    }
    const epoch = view.epoch as number;
    const deadline = view.deadline as number;
    if (this.open?.epoch === epoch) {
      this.open.deadline = deadline;
      return;
    }
    if (this.open !== null) this.close(now);
    this.open = { epoch, from: now, deadline };
  }

  /** Ends the record at `end` (what the agent still believes then is cut off there). */
  finish(end: number): void {
    this.observe();
    if (this.open !== null) this.close(Math.min(end, this.open.deadline));
  }

  private close(at: number): void {
    const open = this.open;
    this.open = null;
    if (open !== null && at > open.from) {
      this.beliefs.push({ agent: this.id, epoch: open.epoch, from: open.from, to: at, fenced: false });
    }
  }
}
