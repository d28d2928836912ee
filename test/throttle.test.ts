/** The token bucket that models API Gateway's throttle in the local server (time as data). */
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../shared/http/throttle.js';

describe('TokenBucket', () => {
  it('lets a burst through at once, then refuses until tokens refill at the rate', () => {
    const bucket = new TokenBucket({ rateLimit: 10, burstLimit: 3 }, 0);

    expect([0, 0, 0, 0].map((t) => bucket.take(t))).toEqual([true, true, true, false]);
    expect(bucket.take(99)).toBe(false); // 0.99 of a token
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(100)).toBe(false);
  });

  it('never holds more than the burst, however long it was idle', () => {
    const bucket = new TokenBucket({ rateLimit: 10, burstLimit: 2 }, 0);

    const taken = [60_000, 60_000, 60_000].map((t) => bucket.take(t));

    expect(taken).toEqual([true, true, false]);
  });
});
