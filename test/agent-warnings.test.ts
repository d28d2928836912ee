/**
 * The agent's warnings about its own settings: what each says, when it is said, and that it
 * is said once per process however many beats repeat the condition.
 */
import { describe, expect, it } from 'vitest';
import { SettingWarnings } from '../cli/agent/warnings.js';
import type { HeartbeatResult } from '../shared/control-plane/control-plane.js';

function given() {
  const lines: string[] = [];
  return { warnings: new SettingWarnings((line) => lines.push(line)), lines };
}

const terms = (leaseMs: number, marginMs: number, warning?: string) => ({
  leaseMs,
  marginMs,
  windowMs: leaseMs - marginMs,
  ...(warning === undefined ? {} : { warning }),
});

const answer = (peers?: HeartbeatResult['peers']): HeartbeatResult => ({
  cluster: 'demo',
  node: 'a',
  role: 'active',
  epoch: 1,
  active: 'a',
  leaseMs: 3_000,
  intervalMs: 1_000,
  ...(peers === undefined ? {} : { peers }),
});
const PEERS = [{ node: 'b', url: 'http://10.0.0.2:7001' }];
const LISTEN = { host: '0.0.0.0', port: 7001 };

describe('warnings about the lease terms', () => {
  it('says nothing while the window after a confirmed beat is longer than the interval', () => {
    const { warnings, lines } = given();
    warnings.leaseTerms(terms(3_000, 1_000), 1_000);
    expect(lines).toEqual([]);
  });

  it('warns once that self-demotion between beats is to be expected when the window is not longer than the interval', () => {
    const { warnings, lines } = given();
    warnings.leaseTerms(terms(2_000, 1_000), 1_000);
    warnings.leaseTerms(terms(2_000, 1_000), 1_000);
    expect(lines).toEqual([
      'warning: lease 2 s − margin 1 s is not longer than the interval (1 s): expect self-demotion between beats',
    ]);
  });

  it('passes on the lease keeper’s own warning about the --margin flag, once', () => {
    const { warnings, lines } = given();
    const flagged = terms(3_000, 600, '--margin 5 s is not below the lease (3 s): using 0.6 s');
    warnings.leaseTerms(flagged, 1_000);
    warnings.leaseTerms(flagged, 1_000);
    expect(lines).toEqual(['warning: --margin 5 s is not below the lease (3 s): using 0.6 s']);
  });
});

describe('warnings about failsafe', () => {
  it('says nothing when the cluster has no failsafe (no peers in the answer), whatever the flags', () => {
    const { warnings, lines } = given();
    warnings.failsafe(answer(), {});
    warnings.failsafe(answer([]), {});
    expect(lines).toEqual([]);
  });

  it('warns once that without FAILOVER_PEER_SECRET this node cannot take part', () => {
    const { warnings, lines } = given();
    warnings.failsafe(answer(PEERS), { peerListen: LISTEN });
    warnings.failsafe(answer(PEERS), { peerListen: LISTEN });
    expect(lines).toEqual([
      'warning: failsafe is on for this cluster, but FAILOVER_PEER_SECRET is not set: this node cannot take part, ' +
        'so a control-plane outage demotes the active (see failover agent --help)',
    ]);
  });

  it('warns once that without --peer-listen this node cannot confirm an active', () => {
    const { warnings, lines } = given();
    warnings.failsafe(answer(PEERS), { peerSecret: 's' });
    warnings.failsafe(answer(PEERS), { peerSecret: 's' });
    expect(lines).toEqual([
      'warning: failsafe: no --peer-listen, so this node cannot confirm an active: the active demotes in an outage',
    ]);
  });

  it('says nothing when the node has both the secret and a listening address', () => {
    const { warnings, lines } = given();
    warnings.failsafe(answer(PEERS), { peerSecret: 's', peerListen: LISTEN });
    expect(lines).toEqual([]);
  });
});
