/** Time helpers shared by the control plane, the targets and the command line. */

/**
 * Resolves after `ms` milliseconds, or at once when `signal` aborts (it never rejects), so
 * a shutdown does not wait out a pending sleep nor keep the process alive for its timer.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });
}

/** A duration for people: `1.5 s`, `6 s` (one decimal, none when it is zero). */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
}
