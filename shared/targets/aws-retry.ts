/**
 * Retries an AWS call with exponential backoff and full jitter until `deadline`.
 * Throttling, timeouts, network errors and 5xx are retried; anything else is permanent and
 * surfaces at once with the AWS error name and message (never swallowed).
 */
import { TargetApplyError } from '../errors.js';

const RETRYABLE_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'PriorRequestNotComplete',
  'PriorRequestNotCompleteException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'AbortError',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
]);
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);

export function isRetryable(err: unknown): boolean {
  const e = err as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  return (
    RETRYABLE_NAMES.has(e.name ?? '') ||
    RETRYABLE_CODES.has(e.code ?? '') ||
    (e.$metadata?.httpStatusCode ?? 0) >= 500 ||
    e.$metadata?.httpStatusCode === 429 ||
    e.$retryable !== undefined
  );
}

export function describeAwsError(err: unknown): string {
  const e = err as Error;
  return `${e.name ?? 'Error'}: ${e.message ?? String(err)}`;
}

export interface RetryOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Upper bound for one call, so a hung connection cannot eat the whole budget. */
  callTimeoutMs?: number;
}

export async function withAwsRetry<T>(
  what: string,
  deadline: number,
  call: (abortSignal: AbortSignal) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let last: unknown;
  for (let attempt = 0; ; attempt++) {
    const remaining = deadline - now();
    if (remaining <= 0) break;
    try {
      const timeout = Math.max(1, Math.ceil(Math.min(options.callTimeoutMs ?? 3_000, remaining)));
      return await call(AbortSignal.timeout(timeout));
    } catch (err) {
      if (!isRetryable(err)) throw new TargetApplyError(`${what}: ${describeAwsError(err)}`, false);
      last = err;
    }
    const backoff = Math.random() * Math.min(2_000, 100 * 2 ** attempt);
    if (now() + backoff >= deadline) break;
    await sleep(backoff);
  }
  const reason = last === undefined ? 'no time left in the apply budget' : describeAwsError(last);
  throw new TargetApplyError(`${what}: gave up at the deadline: ${reason}`, true);
}
