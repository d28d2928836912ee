/**
 * Simulated time for chaos runs. Operations are real async code (the control plane over
 * dynalite); only time is simulated. An operation that must wait for time to pass (a slow
 * response, a paused worker, a hanging apply) parks on `sleep`; the runner moves time only
 * once every running operation has finished or parked (`quiesce`), so a run's timing is
 * data, not a race with the wall clock.
 */
export class Sim {
  t: number;
  private running = 0;
  private parked: Array<{ until: number; wake: () => void }> = [];
  private idle: (() => void) | null = null;

  constructor(start: number) {
    this.t = start;
  }

  /** Runs `fn` as an operation the runner waits for. */
  spawn<T>(fn: () => Promise<T>): Promise<T> {
    this.running += 1;
    return fn().finally(() => {
      this.running -= 1;
      this.notify();
    });
  }

  /** Parks the calling operation until `ms` of simulated time have passed. */
  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.parked.push({ until: this.t + ms, wake });
      this.notify();
    });
  }

  /** Resolves once every running operation has finished or parked. */
  quiesce(): Promise<void> {
    if (this.running <= this.parked.length) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle = resolve;
    });
  }

  /** The earliest time a parked operation wakes, if any is parked. */
  nextWake(): number | undefined {
    return this.parked.reduce<number | undefined>(
      (m, p) => (m === undefined || p.until < m ? p.until : m),
      undefined,
    );
  }

  get busy(): boolean {
    return this.running > 0;
  }

  /** Moves time to `t` (never back), wakes what is due, and waits for quiet again. */
  async advanceTo(t: number): Promise<void> {
    this.t = Math.max(this.t, t);
    const due = this.parked.filter((p) => p.until <= this.t);
    this.parked = this.parked.filter((p) => p.until > this.t);
    for (const p of due) p.wake();
    await this.quiesce();
  }

  private notify(): void {
    if (this.idle !== null && this.running <= this.parked.length) {
      const idle = this.idle;
      this.idle = null;
      idle();
    }
  }
}
