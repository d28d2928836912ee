/**
 * The shared time helpers: a sleep a shutdown can cut short, durations for people, and the
 * agent's log timestamps.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatSeconds, isoTimestamp, sleep } from '../shared/time.js';

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves once its time has passed, not before', async () => {
    vi.useFakeTimers();
    let woke = false;
    void sleep(1_000).then(() => {
      woke = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(woke).toBe(true);
  });

  it('resolves at once, leaving no timer behind, when its signal aborts', async () => {
    vi.useFakeTimers();
    const stop = new AbortController();
    const slept = sleep(60_000, stop.signal);
    stop.abort();
    await expect(slept).resolves.toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not wait at all when its signal has already aborted', async () => {
    vi.useFakeTimers();
    await sleep(60_000, AbortSignal.abort());
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('formatSeconds', () => {
  it('shows one decimal, and none when it is zero', () => {
    expect(formatSeconds(1_500)).toBe('1.5 s');
    expect(formatSeconds(6_000)).toBe('6 s');
    expect(formatSeconds(600)).toBe('0.6 s');
  });
});

describe('isoTimestamp', () => {
  it('writes any time from year 0000 to 9999 exactly as Date#toISOString does', () => {
    const first = Date.parse('0000-01-01T00:00:00.000Z');
    const last = Date.parse('9999-12-31T23:59:59.999Z');
    fc.assert(
      fc.property(fc.integer({ min: first, max: last }), (ms) => {
        expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it.each([
    ['the epoch', 0],
    ['the last millisecond before it', -1],
    ['a leap day', Date.UTC(2024, 1, 29, 12, 0, 0, 5)],
    ['the day after 28 February in a century year that is not a leap year', Date.UTC(2100, 2, 1)],
    ['the end of a leap year', Date.UTC(2000, 11, 31, 23, 59, 59, 999)],
  ])('agrees with Date#toISOString at %s', (_, ms) => {
    expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
  });
});
