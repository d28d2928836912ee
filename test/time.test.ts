/** The shared time helpers: a sleep a shutdown can cut short, and durations for people. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatSeconds, sleep } from '../shared/time.js';

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
