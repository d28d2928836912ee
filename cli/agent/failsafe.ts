/**
 * The agent's side of failsafe (the rules are in shared/core/failsafe.ts): what this agent
 * knows when a peer asks it to confirm, the promise it then keeps, the rounds it runs when
 * it is active and cannot renew, and the report of an episode it sends once it can beat
 * again. Only monotonic time is used, so wall-clock jumps change nothing.
 */
import type { HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import {
  type ConfirmRequest,
  extendPromise,
  judgeConfirmRequest,
  keepUntil,
  type Peer,
  type Verdict,
} from '../../shared/core/failsafe.js';
import type { FailsafeReport } from '../../shared/core/state.js';
import type { LeaseView } from './lease-keeper.js';
import { askPeers } from './peer-link.js';

export interface FailsafeOptions {
  cluster: string;
  node: string;
  /** The cluster's peer secret; without it this agent can neither ask nor answer. */
  secret: string | undefined;
  clock: () => number;
}

/** A round's outcome, for the caller's log and timers. */
export type RoundOutcome =
  | { kept: true; until: number; peers: string[]; first: boolean }
  | { kept: false; refusals: string[] };

interface Episode {
  epoch: number;
  startedAt: number;
  endedAt: number | null;
  confirmedBy: Set<string>;
}

export class Failsafe {
  private peers: Peer[] = [];
  private leaseMs: number | null = null;
  private lastBeatAnswered: boolean | null = null;
  private promiseUntil: number | null = null;
  private episode: Episode | null = null;

  constructor(private readonly options: FailsafeOptions) {}

  /** Whether the control plane asks for failsafe and this agent can take part. */
  get enabled(): boolean {
    return this.options.secret !== undefined && this.peers.length > 0;
  }

  /** The control plane answered a beat: it is reachable, and says who the peers are. */
  answered(result: HeartbeatResult): void {
    this.peers = result.peers ?? [];
    this.leaseMs = result.leaseMs;
    this.lastBeatAnswered = true;
    if (this.episode !== null && this.episode.endedAt === null) this.episode.endedAt = this.options.clock();
  }

  /** A beat got no answer (timeout, connection error, 5xx). */
  unanswered(): void {
    this.lastBeatAnswered = false;
  }

  /** A peer asks this agent to confirm its role: judge it, and keep the promise if confirmed. */
  judge(request: ConfirmRequest, view: LeaseView): Verdict {
    const verdict = judgeConfirmRequest(
      request,
      {
        epoch: view.epoch,
        leaseMs: this.leaseMs,
        actsAsActive: view.role === 'active',
        lastBeatAnswered: this.lastBeatAnswered,
      },
      this.options.clock(),
    );
    this.promiseUntil = extendPromise(this.promiseUntil, verdict);
    return verdict;
  }

  /** How long this agent has promised a peer not to act as active, from now (0 if not). */
  promiseRemainingMs(): number {
    return this.promiseUntil === null ? 0 : Math.max(0, Math.ceil(this.promiseUntil - this.options.clock()));
  }

  /**
   * The active cannot renew: ask every peer. Kept only if all of them confirm; the caller
   * then extends the keeper's deadline to `until` (never shortening it).
   */
  async round(view: LeaseView, marginMs: number, timeoutMs: number): Promise<RoundOutcome> {
    const secret = this.options.secret;
    if (secret === undefined || this.leaseMs === null || view.epoch === null) {
      return { kept: false, refusals: ['no peer secret or no lease known'] };
    }
    const round = {
      sentAt: this.options.clock(),
      ackMs: this.leaseMs,
      marginMs,
      peers: this.peers.map((p) => p.node),
    };
    const base = {
      cluster: this.options.cluster,
      from: this.options.node,
      epoch: view.epoch,
      ackMs: round.ackMs,
    };
    const { confirmedBy, refusals } = await askPeers(this.peers, base, secret, timeoutMs);
    const until = keepUntil(round, confirmedBy);
    if (until === null) {
      this.endEpisode();
      return { kept: false, refusals };
    }
    const first = this.episode === null || this.episode.endedAt !== null;
    if (first)
      this.episode = { epoch: view.epoch, startedAt: round.sentAt, endedAt: null, confirmedBy: new Set() };
    for (const peer of confirmedBy) this.episode?.confirmedBy.add(peer);
    return { kept: true, until, peers: round.peers, first };
  }

  /** The episode ended without the control plane (the role lapsed): report it all the same. */
  endEpisode(): void {
    if (this.episode !== null && this.episode.endedAt === null) this.episode.endedAt = this.options.clock();
  }

  /** What the next beat says about failsafe, relative to its send time `at`. */
  beatFields(at: number): { promiseMs?: number; failsafe?: FailsafeReport } {
    const promiseMs = this.promiseRemainingMs();
    const episode = this.episode;
    const report =
      episode?.endedAt != null
        ? {
            epoch: episode.epoch,
            startedMsAgo: Math.round(at - episode.startedAt),
            endedMsAgo: Math.round(at - episode.endedAt),
            confirmedBy: [...episode.confirmedBy].sort(),
          }
        : undefined;
    return { ...(promiseMs > 0 ? { promiseMs } : {}), ...(report ? { failsafe: report } : {}) };
  }

  /** The control plane accepted a beat that carried the episode's report: forget it. */
  reported(): void {
    if (this.episode?.endedAt != null) this.episode = null;
  }
}
