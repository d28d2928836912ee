/**
 * `failover console` (issue 16): the SigV4 proxy on loopback. An echo server stands in for
 * API Gateway and checks each request's signature with the SDK's own signer and the same
 * (fake) credentials; the proxy forwards only admin routes, only JSON bodies, none of the
 * browser's headers, and refuses other hosts and origins before anything is sent.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ConsoleProxy, startConsoleProxy } from '../cli/console.js';
import { CONSOLE_CSP } from '../shared/console/assets.js';
import { rawRequest } from './helpers/raw-http.js';

const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token',
};

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  signatureValid: boolean;
}

let upstream: Server;
let proxy: ConsoleProxy;
let received: Received[] = [];
const saved = { ...process.env };

/** Whether the request's Authorization is the SigV4 signature of what arrived, by the SDK's signer. */
async function verify(
  method: string,
  url: URL,
  headers: IncomingHttpHeaders,
  body: string,
): Promise<boolean> {
  const date = String(headers['x-amz-date'] ?? '');
  const signingDate = new Date(
    `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
  );
  const signer = new SignatureV4({
    service: 'execute-api',
    region: 'eu-west-1',
    credentials: CREDENTIALS,
    sha256: Hash.bind(null, 'sha256'),
  });
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => {
    query[k] = v;
  });
  const contentType = headers['content-type'];
  const expected = await signer.sign(
    {
      method,
      protocol: 'http:',
      hostname: url.hostname,
      path: url.pathname,
      query,
      headers: { host: String(headers.host), ...(contentType ? { 'content-type': contentType } : {}) },
      ...(body ? { body } : {}),
    },
    { signingDate },
  );
  return Number.isFinite(signingDate.getTime()) && expected.headers.authorization === headers.authorization;
}

beforeAll(async () => {
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
  });
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const method = req.method ?? 'GET';
      received.push({
        method,
        path: req.url ?? '',
        headers: req.headers,
        body,
        signatureValid: await verify(method, url, req.headers, body),
      });
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': CONSOLE_CSP,
        'set-cookie': 'tracking=1',
      });
      res.end('<!doctype html>');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port } = upstream.address() as AddressInfo;
  proxy = await startConsoleProxy({ upstream: `http://127.0.0.1:${port}`, port: 0, region: 'eu-west-1' });
});

afterAll(async () => {
  process.env = saved;
  await proxy?.close();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
});

beforeEach(() => {
  received = [];
});

const ownOrigin = () => proxy.url;

describe('the console proxy signs what it forwards', () => {
  it('signs a status read with SigV4 for execute-api, verified upstream by the SDK signer', async () => {
    const res = await fetch(`${proxy.url}/v1/clusters/demo/events?limit=5`);
    expect(res.status).toBe(200);
    const [got] = received;
    expect(got?.path).toBe('/v1/clusters/demo/events?limit=5');
    expect(got?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, /,
    );
    expect(got?.headers['x-amz-security-token']).toBe('session-token');
    expect(got?.signatureValid).toBe(true);
  });

  it("forwards the page's own switchover with its JSON body signed, and none of the browser's headers", async () => {
    const body = JSON.stringify({ to: 'b', reason: 'planned' });
    const res = await rawRequest(proxy.url, {
      method: 'POST',
      path: '/v1/clusters/demo/switchover',
      headers: {
        'content-type': 'application/json',
        origin: ownOrigin(),
        cookie: 'session=secret',
        authorization: 'Bearer from-the-browser',
      },
      body,
    });
    expect(res.status).toBe(200);
    const [got] = received;
    expect(got).toMatchObject({
      method: 'POST',
      path: '/v1/clusters/demo/switchover',
      body,
      signatureValid: true,
    });
    expect(got?.headers.cookie).toBeUndefined();
    expect(got?.headers.origin).toBeUndefined();
    expect(got?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
  });

  it("forwards under the upstream URL's own path (a REST API's stage), signed for that full path", async () => {
    const { port } = upstream.address() as AddressInfo;
    const staged = await startConsoleProxy({
      upstream: `http://127.0.0.1:${port}/prod/`,
      port: 0,
      region: 'eu-west-1',
    });
    try {
      const res = await fetch(`${staged.url}/v1/clusters/demo/events?limit=5`);
      expect(res.status).toBe(200);
      expect(received.map((r) => [r.path, r.signatureValid])).toEqual([
        ['/prod/v1/clusters/demo/events?limit=5', true],
      ]);
    } finally {
      await staged.close();
    }
  });

  it("passes back the page's type and security policy, and not what the proxy has no use for (cookies)", async () => {
    const res = await fetch(`${proxy.url}/`);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('the console proxy refuses, sending nothing upstream', () => {
  it.each([
    ['another host in Host (DNS rebinding)', { host: 'evil.example' }, 'GET', '/v1/clusters/demo', 421],
    ["another origin's fetch", { origin: 'http://evil.example' }, 'POST', '/v1/clusters/demo/pause', 403],
    [
      'a page on another local port',
      { origin: 'http://127.0.0.1:1' },
      'POST',
      '/v1/clusters/demo/pause',
      403,
    ],
    ['a form post (text/plain)', { 'content-type': 'text/plain' }, 'POST', '/v1/clusters/demo/pause', 415],
    ['a route that is not an admin route', {}, 'POST', '/v1/clusters/demo/nodes/a/heartbeat', 404],
    ['a path that names another host', {}, 'GET', '//evil.example/v1/clusters', 404],
  ])('refuses %s', async (_what, headers, method, path, status) => {
    const res = await rawRequest(proxy.url, {
      method,
      path,
      headers: { 'content-type': 'application/json', ...headers },
      ...(method === 'POST' ? { body: '{}' } : {}),
    });
    expect(res.status, res.text).toBe(status);
    expect(received).toEqual([]);
  });

  it('listens on 127.0.0.1 only', () => {
    expect(new URL(proxy.url).hostname).toBe('127.0.0.1');
  });
});
