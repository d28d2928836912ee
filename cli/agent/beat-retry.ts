/**
 * When a failed heartbeat is sent again. One dropped request (a 429 from a throttled
 * stage, a 5xx, a timeout, a reset connection) must not be one missed beat, so the agent
 * retries it with jitter inside the same interval. Pure: time and randomness come in.
 *
 * What bounds the retries:
 * 1. the next slot: retries never push the cadence back;
 * 2. for an active taking part in failsafe: its deadline less one failsafe round, so the
 *    round that runs once retries are over still ends before the deadline. Self-demotion
 *    itself runs on its own timer and is never delayed by a retry.
 * A 4xx other than 429 says the request itself is wrong: sending it again cannot help.
 */

/** The first retry waits about this long; each next one twice as long. */
const FIRST_RETRY_MS = 100;
/** No single wait is longer than this share of the interval, so several retries fit. */
const MAX_WAIT_SHARE_OF_INTERVAL = 0.25;
/** An attempt with less time than this left would only time out. */
export const MIN_ATTEMPT_MS = 50;

/** Whether a failed beat with this HTTP status (undefined: no answer at all) is worth sending again. */
export function isRetryable(status: number | undefined): boolean {
  return status === undefined || status === 429 || status >= 500;
}

/**
 * The wait before retry `attempt` (0 for the first): 100 ms × 2^attempt, capped at a quarter
 * of the interval, less a random share of up to half of it, so agents a flood throttled at
 * the same moment do not come back in step.
 */
export function retryWaitMs(attempt: number, intervalMs: number, random: () => number): number {
  const step = Math.min(FIRST_RETRY_MS * 2 ** attempt, intervalMs * MAX_WAIT_SHARE_OF_INTERVAL);
  return step * (1 - 0.5 * random());
}

/**
 * The time (monotonic ms) by which every retry of this beat must have ended: the next slot,
 * or, for an active with failsafe, its deadline less the time a failsafe round may take.
 */
export function retriesEndBy(options: {
  nextSlot: number;
  /** The keeper's self-demotion deadline while active; null otherwise. */
  deadline: number | null;
  /** How long a failsafe round may take, when this node would run one; null when it would not. */
  failsafeRoundMs: number | null;
}): number {
  const { nextSlot, deadline, failsafeRoundMs } = options;
  if (deadline === null || failsafeRoundMs === null) return nextSlot;
  return Math.min(nextSlot, deadline - failsafeRoundMs);
}
