/**
 * Which control-plane URL the agent beats to, when it is given several (one per Region of
 * a multi-Region deployment). Pure: time comes from an injected monotonic clock.
 *
 * - A beat goes to the current URL; a failure that another Region could answer (no
 *   answer, 429, 5xx) moves to the next URL, so the retry inside the same interval already
 *   goes there. A beat accepted by any Region is a renewal: all share one table.
 * - While away from the first URL, it is probed every `probeEveryMs` with a request that
 *   renews nothing (the node's role, GET); when it answers, beats go back to it.
 */

export class Endpoints {
  private current = 0;
  private lastProbe = Number.NEGATIVE_INFINITY;

  constructor(
    readonly urls: readonly string[],
    private readonly clock: () => number,
    private readonly probeEveryMs: number,
  ) {
    if (urls.length === 0) throw new Error('at least one URL');
  }

  /** The URL beats go to now. */
  url(): string {
    return this.urls[this.current] as string;
  }

  /** `url` failed in a way another Region could answer: the next URL, if it moved there; else null. */
  failed(url: string): string | null {
    if (this.urls.length === 1 || url !== this.url()) return null;
    this.current = (this.current + 1) % this.urls.length;
    return this.url();
  }

  /** The first URL, when beats are elsewhere and a probe of it is due (the probe is then counted); else null. */
  probeDue(): string | null {
    if (this.current === 0) return null;
    const now = this.clock();
    if (now - this.lastProbe < this.probeEveryMs) return null;
    this.lastProbe = now;
    return this.urls[0] as string;
  }

  /** The first URL answered a probe: beats go back to it. Returns whether they moved. */
  firstAnswered(): boolean {
    if (this.current === 0) return false;
    this.current = 0;
    return true;
  }
}
