/** "Did you mean …?" for a mistyped option or config field. */

/** The candidate closest to `name`, if it is close enough to be a typo of it (case aside). */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  const wanted = name.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  // A third of the name may be wrong: `clustr` → `cluster`, but not `url` → `node`.
  if (best !== undefined && best.distance <= Math.max(1, Math.floor(name.length / 3))) return best.candidate;
  // Or it is the start of a longer name: `heartbeatInterval` → `heartbeatIntervalSeconds`.
  if (wanted.length < 3) return undefined;
  const longer = candidates.filter((c) => c.toLowerCase().startsWith(wanted));
  return longer.sort((x, y) => x.length - y.length)[0];
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}
