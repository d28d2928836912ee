/**
 * The agent's health endpoints: GET /active follows the lease keeper (on a fake monotonic
 * clock, through the real HTTP server), GET /health follows the heartbeats (a real Agent
 * against a fake control plane in this process), and the server serves nothing else and
 * stays bounded.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../cli/agent/agent.js';
import { type HealthServer, startHealthServer } from '../cli/agent/health-server.js';
import { LeaseKeeper } from '../cli/agent/lease-keeper.js';
import { UsageError } from '../cli/usage.js';
import { waitFor } from './helpers/processes.js';

const LEASE_MS = 15_000; // default margin 20% = 3 s, so a confirmed beat sent at t holds until t + 12 s

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection, with whatever method, headers and body a test needs. */
function call(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.end(options.body);
  });
}

async function get(url: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await call(url, path);
  return { status: reply.status, body: JSON.parse(reply.body) as Record<string, unknown> };
}

describe('GET /active and /standby follow the lease keeper (fake clock)', () => {
  const clock = { now: 0 };
  let keeper: LeaseKeeper;
  let heartbeatOk: boolean;
  let server: HealthServer;

  beforeEach(async () => {
    clock.now = 0;
    keeper = new LeaseKeeper({ clock: () => clock.now });
    heartbeatOk = true;
    server = await startHealthServer(
      { host: '127.0.0.1', port: 0 },
      () => ({ view: keeper.view(), heartbeatOk }),
      () => {},
    );
  });

  afterEach(() => server.close());

  /** The control plane's answer to a beat sent at `sentAt`, arriving at `arrivedAt`. */
  function answer(role: 'active' | 'standby', epoch: number, sentAt: number, arrivedAt: number) {
    clock.now = arrivedAt;
    return keeper.answer(
      { role, epoch, active: role === 'active' ? 'me' : 'other', leaseMs: LEASE_MS },
      sentAt,
    );
  }

  async function statuses(): Promise<{ active: number; standby: number }> {
    const [active, standby] = await Promise.all([get(server.url, '/active'), get(server.url, '/standby')]);
    return { active: active.status, standby: standby.status };
  }

  it('answers 503 on /active (and 200 on /standby) before the control plane has answered', async () => {
    expect(await get(server.url, '/active')).toEqual({
      status: 503,
      body: { role: null, epoch: null, leaseRemainingMs: null, heartbeatOk: true },
    });
    expect((await get(server.url, '/standby')).status).toBe(200);
  });

  it('answers 200 on /active once an active answer is confirmed, with the lease left to the keeper’s deadline', async () => {
    answer('active', 1, 1_000, 1_400);
    expect(await get(server.url, '/active')).toEqual({
      status: 200,
      body: { role: 'active', epoch: 1, leaseRemainingMs: 1_000 + 12_000 - 1_400, heartbeatOk: true },
    });
    expect((await get(server.url, '/standby')).status).toBe(503);
  });

  it('flips /active to 503 at the self-demotion deadline, before the agent has processed the demotion', async () => {
    answer('active', 1, 0, 100);
    const deadline = keeper.nextDemotionAt() as number;
    clock.now = deadline - 1;
    expect(await get(server.url, '/active')).toMatchObject({ status: 200, body: { leaseRemainingMs: 1 } });
    clock.now = deadline;
    expect(await get(server.url, '/active')).toEqual({
      status: 503,
      body: { role: 'standby', epoch: 1, leaseRemainingMs: null, heartbeatOk: true },
    });
    expect((await get(server.url, '/standby')).status).toBe(200);
    // The demotion itself changes nothing more.
    expect(keeper.demoteIfExpired()).not.toBeNull();
    expect(await statuses()).toEqual({ active: 503, standby: 200 });
  });

  it('keeps /active at 200 past the old deadline when a renewal was confirmed in time', async () => {
    answer('active', 1, 0, 100);
    const first = keeper.nextDemotionAt() as number;
    answer('active', 1, 5_000, 5_100);
    clock.now = first + 1;
    expect((await get(server.url, '/active')).status).toBe(200);
    clock.now = keeper.nextDemotionAt() as number;
    expect((await get(server.url, '/active')).status).toBe(503);
  });

  it('never answers 200 for an active answer that arrived too late to be believed', async () => {
    answer('standby', 1, 0, 50);
    const outcome = answer('active', 2, 1_000, 1_000 + 12_000);
    expect(outcome.believed).toBe(false);
    expect(await statuses()).toEqual({ active: 503, standby: 200 });
  });

  it('answers 503 on /active once the control plane moved the role, and once it steps down to release', async () => {
    answer('active', 1, 0, 100);
    answer('standby', 2, 1_000, 1_050);
    expect(await statuses()).toEqual({ active: 503, standby: 200 });

    answer('active', 3, 2_000, 2_050);
    expect((await get(server.url, '/active')).status).toBe(200);
    // Stepping down comes before the release request: /active is 503 before anyone else is asked.
    keeper.stepDown();
    expect(await statuses()).toEqual({ active: 503, standby: 200 });
  });

  it('answers /health from the heartbeats alone, whatever the role', async () => {
    answer('active', 1, 0, 100);
    expect((await get(server.url, '/health')).status).toBe(200);
    heartbeatOk = false;
    expect(await get(server.url, '/health')).toEqual({
      status: 503,
      body: { role: 'active', epoch: 1, leaseRemainingMs: 11_900, heartbeatOk: false },
    });
    expect((await get(server.url, '/active')).status).toBe(200);
  });
});

describe('the health server serves only its three endpoints, bounded', () => {
  let server: HealthServer;
  const active = () => ({
    view: { role: 'active' as const, epoch: 4, active: 'me', leaseRemainingMs: 1_234.9, deadline: 9_999 },
    heartbeatOk: true,
  });

  beforeEach(async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0 }, active, () => {});
  });

  afterEach(() => server.close());

  it('marks every answer uncacheable JSON, and ignores a query string', async () => {
    const reply = await call(server.url, '/active?from=nlb');
    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body)).toEqual({
      role: 'active',
      epoch: 4,
      leaseRemainingMs: 1_234,
      heartbeatOk: true,
    });
    expect((await call(server.url, '/nowhere')).headers['cache-control']).toBe('no-store');
  });

  it.each(['/', '/active/', '/ACTIVE', '/activex', '/v1/clusters/db'])('answers 404 for %s', async (path) => {
    const reply = await call(server.url, path);
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'NotFound' });
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('answers 405 with Allow for %s', async (method) => {
    const reply = await call(server.url, '/active', { method });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET, HEAD');
  });

  it('answers HEAD like GET, without a body', async () => {
    const reply = await call(server.url, '/active', { method: 'HEAD' });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('');
  });

  it('refuses a request body with 413 and closes the connection without reading it', async () => {
    const sized = await call(server.url, '/active', {
      headers: { 'content-length': '100' },
      body: 'x'.repeat(100),
    });
    expect(sized.status).toBe(413);
    expect(sized.headers.connection).toBe('close');
    const chunked = await call(server.url, '/health', {
      headers: { 'transfer-encoding': 'chunked' },
      body: 'x',
    });
    expect(chunked.status).toBe(413);
    expect(chunked.headers.connection).toBe('close');
  });

  it('answers 431 to headers over 4 KiB', async () => {
    const reply = await call(server.url, '/active', { headers: { 'x-padding': 'x'.repeat(5_000) } });
    expect(reply.status).toBe(431);
  });

  it('cuts a connection that does not finish its headers within 2 s', async () => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /active HTTP/1.1\r\nHost: x\r\n');
    const started = Date.now();
    socket.resume();
    await once(socket, 'close');
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('drops connections beyond 64 and serves again once they close', async () => {
    const { port } = new URL(server.url);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 64; i++) {
        const socket = connect(Number(port), '127.0.0.1');
        await once(socket, 'connect');
        sockets.push(socket);
      }
      await expect(call(server.url, '/active')).rejects.toThrow(/socket hang up|ECONNRESET/);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await waitFor('a connection to be accepted again', () =>
      call(server.url, '/active').then(
        (reply) => reply.status === 200,
        () => false,
      ),
    );
  });

  it('closes: nothing listens on the port afterwards', async () => {
    await server.close();
    await expect(call(server.url, '/active')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses to start on a port in use, with a one-line reason', async () => {
    const { port } = new URL(server.url);
    const taken = startHealthServer({ host: '127.0.0.1', port: Number(port) }, active, () => {});
    await expect(taken).rejects.toThrow(UsageError);
    await expect(taken).rejects.toThrow(`--health-listen 127.0.0.1:${port}: address already in use`);
  });
});

describe('GET /health follows the heartbeats of a real agent (fake control plane in this process)', () => {
  type Mode = 'answer' | 'fail';
  let mode: Mode;
  let plane: Server;
  let planeUrl: string;

  beforeEach(async () => {
    mode = 'answer';
    plane = createServer((req, res) => {
      req.resume();
      if (mode === 'fail') {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"error":"Internal","message":"down"}');
        return;
      }
      const released = req.url?.endsWith('/release');
      const body = released
        ? { role: 'standby', epoch: 2, active: null }
        : { cluster: 'c', node: 'n', role: 'active', epoch: 1, active: 'n', leaseMs: 3_000, intervalMs: 100 };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    plane.listen(0, '127.0.0.1');
    await once(plane, 'listening');
    planeUrl = `http://127.0.0.1:${(plane.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    plane.closeAllConnections();
    await new Promise<void>((resolve) => plane.close(() => resolve()));
  });

  it('is 503 while beats fail, 200 again when they are answered, and the server closes when the agent stops', async () => {
    const lines: string[] = [];
    const agent = new Agent(
      {
        urls: [planeUrl],
        cluster: 'c',
        node: 'n',
        token: 't',
        intervalMs: 100,
        healthListen: { host: '127.0.0.1', port: 0 },
      },
      (line) => lines.push(line),
    );
    const running = agent.run();
    const url = await waitFor(
      'the health server',
      async () => lines.map((l) => /health endpoints on (http:\/\/\S+):/.exec(l)?.[1]).find(Boolean) ?? null,
    );

    await waitFor('/health 200 and /active 200', async () => {
      const [health, active] = await Promise.all([get(url, '/health'), get(url, '/active')]);
      return health.status === 200 && active.status === 200;
    });

    mode = 'fail';
    const failing = await waitFor('/health 503', async () => {
      const health = await get(url, '/health');
      return health.status === 503 && health;
    });
    expect(failing.body).toMatchObject({ heartbeatOk: false });

    mode = 'answer';
    await waitFor('/health 200 again', async () => (await get(url, '/health')).status === 200);

    agent.stop('test');
    await running;
    // Demote-first: it stops acting as active, then the control plane hands the role over.
    expect(lines.join('\n')).toMatch(
      /role: standby \(epoch 1, stepping down to release the role\)[\s\S]*released: active /,
    );
    await expect(call(url, '/health')).rejects.toThrow(/ECONNREFUSED/);
  });
});
