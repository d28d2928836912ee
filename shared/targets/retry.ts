/**
 * The one retry loop for what targets call (AWS APIs and webhook receivers): attempts until
 * one succeeds, one fails permanently, or `deadline` (ms, control-plane clock) is reached.
 * Each attempt is cut off at `callTimeoutMs` (or the deadline), so a hung connection cannot
 * eat the whole budget; the wait between attempts never crosses the deadline. A failure
 * surfaces as TargetApplyError naming what failed and why.
 */
import { TargetApplyError } from '../errors.js';
import { sleep as wait } from '../time.js';

export interface RetryPolicy {
  callTimeoutMs: number;
  /**
   * The wait before retry n is min(capMs, baseMs × 2^n), less a random share of up to
   * `jitter` (0–1) of it: 1 is "full jitter", 0.5 keeps each wait at least half its step.
   */
  baseMs: number;
  capMs: number;
  jitter: number;
  /** Whether an error is worth another attempt; any other surfaces at once. */
  retryable: (err: unknown) => boolean;
  /** For tests: the clock and the wait between attempts. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export async function withRetry<T>(
  what: string,
  deadline: number,
  call: (abortSignal: AbortSignal) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  const now = policy.now ?? Date.now;
  const sleep = policy.sleep ?? wait;
  let last: unknown;
  for (let attempt = 0; ; attempt++) {
    const remaining = deadline - now();
    if (remaining <= 0) break;
    try {
      // AbortSignal.timeout only takes whole milliseconds.
      const timeout = Math.max(1, Math.ceil(Math.min(policy.callTimeoutMs, remaining)));
      return await call(AbortSignal.timeout(timeout));
    } catch (err) {
      if (!policy.retryable(err)) throw new TargetApplyError(`${what}: ${describeError(err)}`);
      last = err;
    }
    const step = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
    const backoff = step * (1 - policy.jitter * Math.random());
    if (now() + backoff >= deadline) break;
    await sleep(backoff);
  }
  const reason = last === undefined ? 'no time left in the apply budget' : describeError(last);
  throw new TargetApplyError(`${what}: gave up at the deadline: ${reason}`);
}

/** `Name: message` (a plain Error shows its message alone), with the cause a fetch failure hides there. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}${cause}`;
}
