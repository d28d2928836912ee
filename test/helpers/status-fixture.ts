/** A cluster's status as the admin API answers it, for tests of what shows it (CLI table, console). */
import type { ClusterStatus } from '../../shared/control-plane/control-plane.js';

type NodeView = ClusterStatus['nodes'][number];

export const FIXTURE_NOW = Date.parse('2026-12-02T10:00:00.000Z');

/** A standby that beat half a second before FIXTURE_NOW; `over` changes any field. */
export function nodeFixture(id: string, over: Partial<NodeView> = {}): NodeView {
  return {
    id,
    address: `192.0.2.${id.charCodeAt(0)}`,
    priority: 1,
    role: 'standby',
    alive: true,
    status: 'ok',
    lastSeen: FIXTURE_NOW - 500,
    lastSeenAgeMs: 500,
    missedBeats: 0,
    heartbeats: 10,
    region: null,
    version: '1.0',
    versionMismatch: false,
    position: null,
    lagSeconds: null,
    eligible: true,
    ineligibleReason: null,
    upSince: FIXTURE_NOW - 600_000,
    collision: null,
    previousToken: false,
    ...over,
  };
}

/** Cluster db at epoch 2, b active and a standby, one applied target, read at FIXTURE_NOW. */
export function statusFixture(over: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    cluster: 'db',
    epoch: 2,
    active: 'b',
    activeSince: new Date(FIXTURE_NOW - 1_200_000).toISOString(),
    leaseMs: 3000,
    intervalMs: 1000,
    missedBeats: 3,
    mode: 'active-passive',
    serving: ['b'],
    failback: 'sticky',
    failbackHoldDownSeconds: 60,
    paused: null,
    handover: null,
    flapGuard: { limitPerHour: 3, lastHour: 1, holding: false },
    syncGate: { maxLagSeconds: null, maxPositionLag: null, requireSameVersion: false },
    hold: null,
    lastTransition: null,
    nodes: [nodeFixture('a'), nodeFixture('b', { role: 'active' })],
    rejectedBeats: [],
    targets: [
      { id: 'dns', type: 'route53', epoch: 2, state: 'applied', at: null, error: null, detail: null },
    ],
    now: new Date(FIXTURE_NOW).toISOString(),
    ...over,
  };
}
