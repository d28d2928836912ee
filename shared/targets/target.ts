/** What every target is told when the active node changes. */
export interface TargetChange {
  cluster: string;
  /** The node that is now active, and its address (what DNS or a load balancer should point to). */
  active: string;
  address: string;
  epoch: number;
  previous: string | null;
  reason: string;
  /** Control-plane time of the promotion (ms since the Unix epoch). */
  at: number;
}

/**
 * A place traffic follows. `apply` must be idempotent (it may run more than once for the
 * same epoch) and must give up by `deadline` (ms, control-plane clock), throwing
 * TargetApplyError; the sweep retries later.
 */
export interface Target {
  readonly id: string;
  readonly type: string;
  apply(change: TargetChange, deadline: number): Promise<void>;
}
