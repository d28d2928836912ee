/**
 * The names of the functions' metrics (functions/metrics.ts emits them; the dashboard and
 * alarms in infra/ read them). Pure data, so CDK imports it without the emitter.
 */
export const METRICS_NAMESPACE = 'Failover';
export const SERVICE = 'failover';

/** Every metric the functions emit, by what it counts. The dashboard reads its names from here. */
export const METRIC = {
  /** Per cluster: heartbeats answered 200. */
  heartbeatsAccepted: 'HeartbeatsAccepted',
  /** Per cluster: heartbeats refused with a 4xx (token, body, size, unknown node). */
  heartbeatsRejected: 'HeartbeatsRejected',
  /** Per cluster: changes of active node (every committed promotion: failover, switchover, failback). */
  failovers: 'Failovers',
  /** Per cluster: promotions held back (no candidate, flap guard, pause, grace). */
  holds: 'Holds',
  /** Per cluster: target applies that failed (the sweep retries them). */
  targetApplyFailures: 'TargetApplyFailures',
  /** Per cluster: how long a target apply took, failed or not (ms). */
  targetApplyLatency: 'TargetApplyLatency',
  /** How long one scheduled sweep took (ms). */
  sweepDuration: 'SweepDuration',
  /** Clusters one sweep failed to reconcile. */
  sweepErrors: 'SweepErrors',
} as const;
