/** The operator's CLI view: the status table, and how admin requests are authorised. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../cli/admin-client.js';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { renderStatus } from '../cli/status.js';
import { AdminRequestError } from '../cli/usage.js';
import { parseConfig } from '../shared/config.js';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import { silentLogger } from '../shared/logger.js';
import { mintToken } from '../shared/tokens.js';
import { nodeFixture, statusFixture } from './helpers/status-fixture.js';

const a = mintToken();
const b = mintToken();
let server: LocalServer;

beforeAll(async () => {
  const config = parseConfig({
    clusters: [
      {
        id: 'ops',
        nodes: [
          { id: 'a', address: '10.0.0.1', tokenSha256: a.sha256 },
          { id: 'b', address: '10.0.0.2', tokenSha256: b.sha256 },
        ],
      },
    ],
  });
  server = await startLocalServer({ config, logger: silentLogger, port: 0, sweepIntervalMs: 60_000 });
  for (const [node, token, body] of [
    ['a', a.token, { version: '2.1.0' }],
    ['b', b.token, { version: '2.0.9', lagSeconds: 3 }],
  ] as const) {
    const res = await fetch(`${server.url}/v1/clusters/ops/nodes/${node}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
  }
});

afterAll(() => server.close());

describe('failover status', () => {
  it('renders one row per node in priority order with role, state, epoch, missed beats, lag and version', async () => {
    const status = await new AdminClient({ url: server.url }).get<ClusterStatus>('/v1/clusters/ops');
    const text = renderStatus(status);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^Cluster: ops {2}epoch 1 {2}active a {2}lease 15 s \(3 × 5 s\)/);
    const rowA = lines.find((l) => l.startsWith('| a '));
    const rowB = lines.find((l) => l.startsWith('| b '));
    expect(rowA?.split('|').map((c) => c.trim())).toEqual(
      expect.arrayContaining(['a', '10.0.0.1', 'active', 'running', '1', '0', '2.1.0']),
    );
    expect(rowB?.split('|').map((c) => c.trim())).toEqual(
      // b reports another version than the active: flagged, not hidden.
      expect.arrayContaining(['b', '10.0.0.2', 'standby', 'running', '', '3 s', '2.0.9 (mismatch)']),
    );
    expect(lines.indexOf(rowA as string)).toBeLessThan(lines.indexOf(rowB as string));
    expect(text).not.toContain('\x1b[');
  });

  it('shows a node that stopped beating as down, and colours only when asked', () => {
    const down = { lastSeenAgeMs: 40_000, missedBeats: 8, heartbeats: 9, version: null, eligible: false };
    const status = statusFixture({
      cluster: 'ops',
      epoch: 4,
      activeSince: null,
      leaseMs: 15_000,
      intervalMs: 5_000,
      flapGuard: { limitPerHour: 6, lastHour: 0, holding: false },
      hold: {
        code: 'no-candidate',
        reason: 'b missed 3 beats; no standby can take over',
        since: '2026-01-01T00:00:00Z',
      },
      nodes: [
        nodeFixture('a', { ...down, address: '10.0.0.1', alive: false, lastSeen: 1, upSince: null }),
        nodeFixture('b', {
          ...down,
          address: '10.0.0.2',
          priority: 2,
          role: 'active',
          status: 'failing',
          lastSeen: 2,
          lastSeenAgeMs: 1_000,
          missedBeats: 0,
          upSince: null,
          previousToken: true,
        }),
      ],
      rejectedBeats: [{ node: 'a', count: 7, last: '2026-01-01T00:00:00.000Z' }],
      targets: [
        { id: 'hook', type: 'webhook', epoch: 4, state: 'failed', at: null, error: 'HTTP 503', detail: null },
      ],
      now: '2026-01-01T00:00:01Z',
    });
    const plain = renderStatus(status);
    expect(plain).toContain('| a ');
    // Not "standby": a node that is down could not take over.
    expect(plain).toMatch(/\| a +\| 10\.0\.0\.1 +\| down +\| down +\| +\| 40\.0 s ago +\| 8 /);
    expect(plain).toMatch(/\| b +\| 10\.0\.0\.2 +\| active +\| failing +\| 4 /);
    expect(plain).toContain('HOLD since 2026-01-01T00:00:00Z: b missed 3 beats; no standby can take over');
    expect(plain).toContain('target hook (webhook): failed for epoch 4 (HTTP 503)');
    expect(plain).toContain(
      'REJECTED: 7 heartbeats for a with a missing or wrong token (last at 2026-01-01T00:00:00.000Z): ' +
        "check that agent's token, --cluster and --node",
    );
    expect(plain).toContain(
      'TOKEN ROTATION: b still beats with its previous token; give its agent the new one, then remove ' +
        'previousTokenSha256 from the config',
    );
    expect(plain).not.toMatch(/TOKEN ROTATION: a/);
    expect(renderStatus(status, true)).toContain('\x1b[31mdown\x1b[0m');
  });

  it('reports an unknown cluster as the 404 the server gave', async () => {
    const err = await new AdminClient({ url: server.url }).get('/v1/clusters/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdminRequestError);
    expect((err as AdminRequestError).status).toBe(404);
    expect((err as Error).message).toContain("unknown cluster 'nope'");
  });
});

describe('admin request authorisation', () => {
  it('sends nothing to a local server on loopback, and the admin token when one is given', async () => {
    expect(
      await new AdminClient({ url: 'http://127.0.0.1:8787' }).headers(new URL('http://127.0.0.1:8787/v1/x')),
    ).toEqual({});
    const withToken = new AdminClient({ url: 'http://10.0.0.5:8787', adminToken: 'fo_admin' });
    expect(await withToken.headers(new URL('http://10.0.0.5:8787/v1/x'))).toEqual({
      authorization: 'Bearer fo_admin',
    });
  });

  it.each([
    ['API Gateway', 'https://abc123.execute-api.eu-west-1.amazonaws.com', 'eu-west-1', 'execute-api'],
    ['a Lambda Function URL', 'https://abcdefghij.lambda-url.us-east-2.on.aws', 'us-east-2', 'lambda'],
    [
      'a private REST API by its alias through a VPC endpoint',
      'https://abc123-vpce-0123456789abcdef0.execute-api.ap-south-1.amazonaws.com',
      'ap-south-1',
      'execute-api',
    ],
  ])(
    'signs requests to %s with SigV4 for its service, in the region named by the host',
    async (_, origin, region, service) => {
      const saved = { ...process.env };
      Object.assign(process.env, {
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        AWS_SESSION_TOKEN: 'session-token',
      });
      try {
        const url = new URL(`${origin}/v1/clusters/db?limit=5`);
        const headers = await new AdminClient({ url: url.origin }).headers(url);
        expect(headers.authorization).toMatch(
          new RegExp(
            `^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\\d{8}/${region}/${service}/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`,
          ),
        );
        expect(headers['x-amz-security-token']).toBe('session-token');
        expect(headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      } finally {
        process.env = saved;
      }
    },
  );
});

describe('admin requests under a base URL with a path', () => {
  it("keeps the base URL's path (a REST API's stage) in front of every request's path", async () => {
    const seen: string[] = [];
    const stage = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => stage.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = stage.address() as AddressInfo;
      for (const base of [`http://127.0.0.1:${port}/prod`, `http://127.0.0.1:${port}/prod/`]) {
        await new AdminClient({ url: base }).get('/v1/clusters/db/events', { limit: '5' });
      }
      await new AdminClient({ url: `http://127.0.0.1:${port}` }).get('/v1/clusters');
      expect(seen).toEqual([
        '/prod/v1/clusters/db/events?limit=5',
        '/prod/v1/clusters/db/events?limit=5',
        '/v1/clusters',
      ]);
    } finally {
      await new Promise((resolve) => stage.close(resolve));
    }
  });
});
