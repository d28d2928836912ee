/**
 * Issue 15, found from outside: a web page in an operator's browser must not be able to
 * drive the local control plane. Against a real local server on loopback: a foreign
 * Origin is refused on every route (403), admin routes answer only to loopback names and
 * the configured public hosts in Host (421, the DNS-rebinding guard), and each refusal
 * changes nothing in storage.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedHosts } from '../cli/http-edge.js';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { ConfigError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { type RawRequest, type RawResponse, rawRequest } from './helpers/raw-http.js';
import { stateSnapshot } from './helpers/state-snapshot.js';
import { makeCluster, type TestCluster } from './helpers/store-fixtures.js';

const CLUSTER = 'demo';
const JSON_TYPE = { 'content-type': 'application/json' };

let server: LocalServer;
let tc: TestCluster;
let port: string;

beforeAll(async () => {
  // A one-hour interval and sweep: only a request can change state while this file runs.
  tc = makeCluster({ id: CLUSTER, nodeIds: ['a', 'b'], intervalSeconds: 3_600 });
  server = await startLocalServer({
    config: tc.config,
    logger: silentLogger,
    port: 0,
    sweepIntervalMs: 3_600_000,
    publicHosts: ['failover.internal'],
  });
  port = new URL(server.url).port;
  // a becomes active and b is alive: a switchover to b would succeed if it got through.
  for (const node of ['a', 'b']) expect((await beat(node)).status).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

function beat(node: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return rawRequest(server.url, {
    method: 'POST',
    path: `/v1/clusters/${CLUSTER}/nodes/${node}/heartbeat`,
    headers: { authorization: `Bearer ${tc.tokens[node]}`, ...JSON_TYPE, ...headers },
    body: '{}',
  });
}

/** Sends the request; checks the status and message, and that storage did not change. */
async function expectRefused(
  request: RawRequest | (() => Promise<RawResponse>),
  status: number,
  message: RegExp,
) {
  const before = await stateSnapshot(server, CLUSTER);
  const res = typeof request === 'function' ? await request() : await rawRequest(server.url, request);
  expect(res.status, res.text).toBe(status);
  expect((JSON.parse(res.text) as { message: string }).message).toMatch(message);
  expect(await stateSnapshot(server, CLUSTER)).toEqual(before);
}

const hasCurl = (() => {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('Origin: requests from other web pages are refused on every route (403)', () => {
  it.skipIf(!hasCurl)(
    "refuses the issue's curl (a foreign page's text/plain switchover), changing nothing",
    async () => {
      const curl = () =>
        promisify(execFile)('curl', [
          '-s',
          '-w',
          '\n%{http_code}',
          '-X',
          'POST',
          '-H',
          'Origin: http://evil.example',
          '-H',
          'Content-Type: text/plain',
          '--data',
          '{"to":"b"}',
          `${server.url}/v1/clusters/${CLUSTER}/switchover`,
        ]).then(({ stdout }) => {
          const at = stdout.lastIndexOf('\n');
          return { status: Number(stdout.slice(at + 1)), headers: {}, text: stdout.slice(0, at) };
        });
      await expectRefused(curl, 403, /^Origin 'http:\/\/evil\.example' is not this server's own/);
      expect((await stateSnapshot(server, CLUSTER)).state).toMatchObject({ active: 'a', paused: null });
    },
  );

  it.each([
    ['a foreign site', 'http://evil.example'],
    ['null (a sandboxed frame or a file: page)', 'null'],
    ['another local web app on another port', 'http://127.0.0.1:1'],
    ['localhost on another port', 'http://localhost:3000'],
    ['this server under a name that merely starts like it', 'http://127.0.0.1.evil.example'],
    ['a scheme that is not http(s)', `ftp://127.0.0.1:PORT`],
    ['an origin with a path', `http://127.0.0.1:PORT/x`],
  ])('refuses a JSON pause from %s, changing nothing', async (_what, origin) => {
    await expectRefused(
      {
        method: 'POST',
        path: `/v1/clusters/${CLUSTER}/pause`,
        headers: { ...JSON_TYPE, origin: origin.replace('PORT', port) },
        body: '{}',
      },
      403,
      /is not this server's own: requests from other web pages are refused$/,
    );
  });

  it('refuses a foreign Origin on a node route too, even with a valid token', async () => {
    await expectRefused(() => beat('b', { origin: 'http://evil.example' }), 403, /^Origin /);
  });

  it('refuses a status read from a foreign Origin', async () => {
    await expectRefused(
      { method: 'GET', path: `/v1/clusters/${CLUSTER}`, headers: { origin: 'http://evil.example' } },
      403,
      /^Origin /,
    );
  });

  it.each(['127.0.0.1', 'localhost', 'failover.internal'])(
    "accepts the server's own origin under %s (the same host and port as the request)",
    async (name) => {
      const res = await rawRequest(server.url, {
        method: 'GET',
        path: `/v1/clusters/${CLUSTER}`,
        headers: { host: `${name}:${port}`, origin: `http://${name}:${port}` },
      });
      expect(res.status, res.text).toBe(200);
    },
  );
});

describe('Host: admin routes answer only to loopback names and public hosts (421, DNS rebinding)', () => {
  it.each([
    'evil.example',
    'evil.example:8787',
    '127.0.0.1.evil.example',
    'localhost.evil.example',
    'localhost.',
    '127.0.0.1@evil.example',
    'failover.internal.evil.example',
  ])("refuses a status read by a rebinding page sent with Host '%s'", async (host) => {
    await expectRefused(
      { method: 'GET', path: `/v1/clusters/${CLUSTER}`, headers: { host } },
      421,
      /^admin routes answer only to the loopback names and the configured public hosts in Host, not /,
    );
  });

  it('refuses a same-origin JSON switchover from a rebinding page, changing nothing', async () => {
    await expectRefused(
      {
        method: 'POST',
        path: `/v1/clusters/${CLUSTER}/switchover`,
        headers: { ...JSON_TYPE, host: `evil.example:${port}` },
        body: '{"to":"b"}',
      },
      421,
      /not 'evil\.example:\d+'$/,
    );
  });

  it.each(['127.0.0.1', 'localhost', '[::1]', 'LOCALHOST', 'failover.internal'])(
    'serves status under Host %s',
    async (name) => {
      const res = await rawRequest(server.url, {
        method: 'GET',
        path: `/v1/clusters/${CLUSTER}`,
        headers: { host: `${name}:${port}` },
      });
      expect(res.status, res.text).toBe(200);
    },
  );

  it('leaves node routes to their token: a beat under any name is recorded', async () => {
    const res = await beat('b', { host: `nodes.example:${port}` });
    expect(res.status, res.text).toBe(200);
  });
});

describe('allowedHosts', () => {
  it('adds the listen address unless it is a wildcard, and each public host', () => {
    expect([...allowedHosts('10.0.0.5', ['Failover.Example.com', 'fd00::5'])]).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      '10.0.0.5',
      'failover.example.com',
      '[fd00::5]',
    ]);
    expect([...allowedHosts('0.0.0.0')]).toEqual(['localhost', '127.0.0.1', '[::1]']);
    expect([...allowedHosts('::')]).toEqual(['localhost', '127.0.0.1', '[::1]']);
  });

  it.each(['http://failover.example.com', 'failover.example.com:8787', 'failover.example.com/x', '', 'a b'])(
    "refuses the public host '%s' with a ConfigError naming it",
    (name) => {
      expect(() => allowedHosts('127.0.0.1', [name])).toThrow(ConfigError);
      expect(() => allowedHosts('127.0.0.1', [name])).toThrow(
        `public host '${name}' must be a host name or IP address, without a scheme, port or path`,
      );
    },
  );
});
