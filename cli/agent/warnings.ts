/**
 * Warnings about settings that defeat what the agent promises: a lease window no longer
 * than the interval (self-demotion between beats), or a failsafe cluster this node cannot
 * take part in (the active demotes in an outage). Each is logged once per process.
 */
import type { HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import { formatSeconds } from '../../shared/time.js';
import type { AgentOptions } from './args.js';
import type { LeaseTerms } from './lease-keeper.js';

export class SettingWarnings {
  private readonly warned = new Set<string>();

  constructor(private readonly log: (message: string) => void) {}

  /** The lease terms an active was given, against the interval it beats at. */
  leaseTerms(terms: LeaseTerms, intervalMs: number): void {
    if (terms.warning) this.once(terms.warning);
    if (terms.windowMs <= intervalMs) {
      this.once(
        `lease ${formatSeconds(terms.leaseMs)} − margin ${formatSeconds(terms.marginMs)} is not longer than ` +
          `the interval (${formatSeconds(intervalMs)}): expect self-demotion between beats`,
      );
    }
  }

  /** A cluster with failsafe on (its answers list the peers) that this node cannot take part in. */
  failsafe(result: HeartbeatResult, options: Pick<AgentOptions, 'peerSecret' | 'peerListen'>): void {
    if (!result.peers?.length) return;
    if (options.peerSecret === undefined) {
      this.once(
        'failsafe is on for this cluster, but FAILOVER_PEER_SECRET is not set: this node cannot take part, ' +
          'so a control-plane outage demotes the active (see failover agent --help)',
      );
    } else if (options.peerListen === undefined) {
      this.once(
        'failsafe: no --peer-listen, so this node cannot confirm an active: the active demotes in an outage',
      );
    }
  }

  private once(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.log(`warning: ${message}`);
  }
}
