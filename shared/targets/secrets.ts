/**
 * Secrets that targets read at run time (a webhook's HMAC key), so that no secret value sits
 * in the config, the Lambda environment or the CloudFormation template.
 *
 * Each secret is fetched once per process (a Lambda container) and its value kept for the
 * life of the process: a rotated value reaches new containers, not running ones. A failed
 * fetch is forgotten, so the next read tries again. Messages name the secret, never its value.
 */
import { loadOnce } from './lazy.js';
import { describeError } from './retry.js';

/** Reads a secret's value; ends (rejecting) when `signal` aborts. */
export type SecretSource = (signal?: AbortSignal) => Promise<string>;

/** Fetches the current value of a secret, by Secrets Manager name or ARN. */
export type SecretFetch = (secretId: string, signal: AbortSignal) => Promise<string>;

/** A secret that could not be read: the message names the secret and the cause. */
export class SecretReadError extends Error {
  override name = 'SecretReadError';
}

/**
 * How long one fetch may take. It is shared by every read waiting on it, so it carries its
 * own timeout instead of any one caller's signal: a hung fetch ends and is forgotten.
 */
const FETCH_TIMEOUT_MS = 5_000;

/**
 * The secrets of one process: `source(id)` reads secret `id` through one shared cache.
 * Concurrent reads share one fetch; a caller's signal ends its own wait, not the fetch.
 */
export function secretCache(fetch: SecretFetch): (secretId: string) => SecretSource {
  const reads = new Map<string, () => Promise<string>>();
  return (secretId) => {
    let read = reads.get(secretId);
    if (read === undefined) {
      read = loadOnce(() =>
        fetch(secretId, AbortSignal.timeout(FETCH_TIMEOUT_MS)).catch((err: unknown) => {
          throw new SecretReadError(`secret ${secretId} not read: ${describeError(err)}`);
        }),
      );
      reads.set(secretId, read);
    }
    const value = read;
    return (signal) => (signal ? untilAborted(value(), signal) : value());
  };
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
