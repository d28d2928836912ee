/**
 * Which AWS errors are worth another attempt, and the retry policy for AWS calls:
 * throttling, timeouts, network errors and 5xx are retried with exponential backoff and
 * full jitter; anything else is permanent and surfaces at once with the AWS error name and
 * message (never swallowed).
 */
import { type RetryPolicy, withRetry } from './retry.js';

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

// Full jitter spreads the retries of concurrent callers throttled by the same API.
const AWS_POLICY: RetryPolicy = {
  callTimeoutMs: 3_000,
  baseMs: 100,
  capMs: 2_000,
  jitter: 1,
  retryable: isRetryable,
};

export function withAwsRetry<T>(
  what: string,
  deadline: number,
  call: (abortSignal: AbortSignal) => Promise<T>,
  options: Partial<Pick<RetryPolicy, 'now' | 'sleep' | 'callTimeoutMs'>> = {},
): Promise<T> {
  return withRetry(what, deadline, call, { ...AWS_POLICY, ...options });
}
