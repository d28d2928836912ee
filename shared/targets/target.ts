/** What every target is told when the active node changes. */
export interface TargetChange {
  cluster: string;
  /** The node that is now active (the leader), and its address. */
  active: string;
  address: string;
  /**
   * What traffic should reach: the active alone in active-passive mode; every alive,
   * eligible node in active-active mode. Targets point at exactly these.
   */
  members: Array<{ id: string; address: string }>;
  epoch: number;
  previous: string | null;
  reason: string;
  /** Control-plane time of the promotion (ms since the Unix epoch). */
  at: number;
}

/** Facts about an applied change worth showing in status, e.g. a Route 53 change id and its status. */
export type TargetDetail = Record<string, string>;

export interface Observation {
  /** What differs from the desired state (e.g. "record points to 10.0.0.9"), or null when in sync. */
  drift: string | null;
  /** Fresh detail to record (e.g. the change went from PENDING to INSYNC). */
  detail?: TargetDetail;
}

/**
 * A place traffic follows. `apply` must be idempotent (it may run more than once for the
 * same epoch) and must give up by `deadline` (ms, control-plane clock), throwing
 * TargetApplyError; the sweep retries later. `observe`, where a target can read its
 * actual state, lets the sweep find and repair drift.
 */
export interface Target {
  readonly id: string;
  readonly type: string;
  apply(change: TargetChange, deadline: number): Promise<TargetDetail | undefined>;
  observe?(change: TargetChange, deadline: number, detail?: TargetDetail): Promise<Observation>;
}
