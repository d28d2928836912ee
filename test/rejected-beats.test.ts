/**
 * Heartbeats refused with 401: counted per node in status, logged at most once a minute per
 * node without the token, and explained by the agent in terms of its own options.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRejection } from '../cli/agent/beat-client.js';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { parseConfig } from '../shared/config.js';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import { RejectedBeats } from '../shared/control-plane/rejected-beats.js';
import type { Logger } from '../shared/logger.js';
import { mintToken } from '../shared/tokens.js';

const a = mintToken();
const b = mintToken();
const config = parseConfig({
  clusters: [
    {
      id: 'rj',
      nodes: [
        { id: 'a', address: '10.0.0.1', tokenSha256: a.sha256 },
        { id: 'b', address: '10.0.0.2', tokenSha256: b.sha256 },
      ],
    },
  ],
});

function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (message: string, extra?: Record<string, unknown>) => {
    lines.push(`${message}${extra ? ` ${JSON.stringify(extra)}` : ''}`);
  };
  return { lines, info: add, warn: add, error: add };
}

describe('RejectedBeats', () => {
  it('logs the first rejection for a node at once, then at most once a minute with the count held back', () => {
    const logger = capturingLogger();
    const rejected = new RejectedBeats(config, logger);
    rejected.record('rj', 'a', 'wrong token', 0);
    rejected.record('rj', 'a', 'wrong token', 10_000);
    rejected.record('rj', 'a', 'wrong token', 59_999);
    expect(logger.lines).toEqual([
      'rejected a heartbeat for rj/a: wrong token; check the agent\'s token, --cluster and --node {"rejectedBeats":1}',
    ]);
    rejected.record('rj', 'a', 'wrong token', 60_000);
    expect(logger.lines[1]).toBe(
      'rejected a heartbeat for rj/a: wrong token (3 since the last report); ' +
        'check the agent\'s token, --cluster and --node {"rejectedBeats":4}',
    );
    expect(rejected.of('rj')).toEqual([{ node: 'a', count: 4, last: new Date(60_000).toISOString() }]);
  });

  it('keeps one tally per cluster for unknown nodes and one for unknown clusters, showing only id-like names', () => {
    const logger = capturingLogger();
    const rejected = new RejectedBeats(config, logger);
    for (let i = 0; i < 100; i++) rejected.record('rj', `n${i}`, 'unknown node', i);
    rejected.record('nope', 'a', 'unknown cluster', 0);
    rejected.record('<script>', 'a', 'unknown cluster', 60_000);
    expect(logger.lines).toEqual([
      "rejected a heartbeat for node 'n0' of cluster rj: unknown node; check the agent's token, --cluster and --node {\"rejectedBeats\":1}",
      "rejected a heartbeat for cluster 'nope': unknown cluster; check the agent's token, --cluster and --node {\"rejectedBeats\":1}",
      'rejected a heartbeat for cluster (not a valid id): unknown cluster; check the agent\'s token, --cluster and --node {"rejectedBeats":2}',
    ]);
    expect(rejected.of('rj')).toEqual([]);
  });
});

describe('rejected heartbeats on the local server', () => {
  const logger = capturingLogger();
  let server: LocalServer;

  beforeAll(async () => {
    server = await startLocalServer({ config, logger, port: 0, sweepIntervalMs: 60_000 });
  });

  afterAll(() => server?.close());

  it('counts them per node in status and logs them without the token', async () => {
    const beat = (node: string, authorization?: string) =>
      fetch(`${server.url}/v1/clusters/rj/nodes/${node}/heartbeat`, {
        method: 'POST',
        headers: authorization ? { authorization } : {},
      });
    expect((await beat('a', `Bearer ${b.token}`)).status).toBe(401); // b's token for a
    expect((await beat('a', `Bearer ${b.token}`)).status).toBe(401);
    expect((await beat('b')).status).toBe(401);
    const status = (await (await fetch(`${server.url}/v1/clusters/rj`)).json()) as ClusterStatus;
    expect(status.rejectedBeats).toEqual([
      { node: 'a', count: 2, last: expect.any(String) },
      { node: 'b', count: 1, last: expect.any(String) },
    ]);
    const warnings = logger.lines.filter((l) => l.startsWith('rejected a heartbeat'));
    expect(warnings.map((l) => l.split(':')[0])).toEqual([
      'rejected a heartbeat for rj/a',
      'rejected a heartbeat for rj/b',
    ]);
    expect(warnings[1]).toContain('missing token');
    expect(logger.lines.join('\n')).not.toContain(b.token);
  });

  it('has the agent say which of its options to check on a 401', () => {
    expect(describeRejection(401, '{"message":"missing or invalid node token"}')).toBe(
      'token rejected (401): check the token (--token or FAILOVER_TOKEN) against the tokenSha256 ' +
        'of this --cluster and --node in the config',
    );
  });
});
