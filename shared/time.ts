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

const DAY_MS = 86_400_000;

/**
 * `new Date(ms).toISOString()` for the years 0000–9999, by arithmetic alone: the agent
 * stamps its log lines with it. The first Date method a process calls makes V8 set up its
 * date cache and ICU's time-zone data, about 1 MB of resident memory that an agent would
 * keep for good (docs/performance.md, "Agent memory"); `Date.now()` sets up neither.
 */
export function isoTimestamp(ms: number): string {
  const t = Math.trunc(ms);
  const days = Math.floor(t / DAY_MS);
  const msOfDay = t - days * DAY_MS;
  // Days since 1970-01-01 to a proleptic Gregorian date, in 400-year eras that start on
  // 1 March (H. Hinnant, "chrono-compatible low-level date algorithms", civil_from_days).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1_460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const time =
    `${pad(Math.floor(msOfDay / 3_600_000))}:${pad(Math.floor(msOfDay / 60_000) % 60)}:` +
    `${pad(Math.floor(msOfDay / 1_000) % 60)}.${pad(msOfDay % 1_000, 3)}`;
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${time}Z`;
}
