/**
 * The agent's health endpoints end to end: real `failover serve` and `failover agent
 * --health-listen 127.0.0.1:0` processes on loopback, SIGKILL as the failure, and this
 * process polling GET /active the way a load balancer's health check would.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthBody } from '../cli/agent/health-server.js';
import { mintToken } from '../shared/tokens.js';
import { type Proc, Processes, removeDir, running, stop, waitFor } from './helpers/processes.js';

/** Lease 3 s (interval 1 s × 3 missed beats) − the default margin (20%): how long a confirmed beat lets a node act as active. */
const WINDOW_MS = 2_400;

const procs = new Processes();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-e2e-health-'));
});

afterAll(async () => {
  await procs.stopAll();
  removeDir(dir);
});

/** Writes a one-cluster config (interval 1 s, lease 3 s); returns its path and the nodes' tokens. */
function writeConfig(clusterId: string, nodeIds: string[]) {
  const tokens: Record<string, string> = {};
  const nodes = nodeIds.map((id, i) => {
    const { token, sha256 } = mintToken();
    tokens[id] = token;
    return { id, address: `192.0.2.${i + 1}`, tokenSha256: sha256 };
  });
  const config = {
    clusters: [
      { id: clusterId, heartbeatIntervalSeconds: 1, missedBeats: 3, nodes, targets: [{ type: 'log' }] },
    ],
  };
  const file = join(dir, `${clusterId}.config.json`);
  writeFileSync(file, JSON.stringify(config));
  return { file, tokens };
}

async function startServer(configFile: string): Promise<{ proc: Proc; url: string }> {
  const proc = procs.start('server', [
    'serve',
    '--config',
    configFile,
    '--memory',
    '--port',
    '0',
    '--sweep-interval',
    '0.5',
  ]);
  const match = await waitFor(
    'the server to listen',
    () => /listening on (http:\/\/\S+)/.exec(proc.output()),
    {
      timeoutMs: 20_000,
      proc,
    },
  );
  return { proc, url: match[1] as string };
}

interface HealthAgent {
  proc: Proc;
  /** Its health endpoints' base URL, e.g. http://127.0.0.1:40123. */
  health: string;
}

async function startAgent(url: string, cluster: string, node: string, token: string): Promise<HealthAgent> {
  const proc = procs.start(
    `agent ${node}`,
    ['agent', '--url', url, '--cluster', cluster, '--node', node, '--health-listen', '127.0.0.1:0'],
    { FAILOVER_TOKEN: token },
  );
  const match = await waitFor(
    `${node}'s health endpoints`,
    () => /health endpoints on (http:\/\/[\d.]+:\d+):/.exec(proc.output()),
    { timeoutMs: 20_000, proc },
  );
  return { proc, health: match[1] as string };
}

interface Sample {
  status: number;
  body: HealthBody;
  /** Date.now() when the request was sent and when its answer arrived. */
  sentAt: number;
  receivedAt: number;
}

async function probe(agent: HealthAgent, path: string): Promise<Sample> {
  const sentAt = Date.now();
  const res = await fetch(`${agent.health}${path}`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as HealthBody;
  return { status: res.status, body, sentAt, receivedAt: Date.now() };
}

/**
 * Starts agents a and b together and waits until one answers 200 on /active and the other
 * has been told it is standby; which one wins the first promotion is a race.
 */
async function startPair(url: string, cluster: string, tokens: Record<string, string>) {
  const [a, b] = await Promise.all([
    startAgent(url, cluster, 'a', tokens.a as string),
    startAgent(url, cluster, 'b', tokens.b as string),
  ]);
  return waitFor('one agent active and the other standby', async () => {
    const [aActive, bActive] = await Promise.all([probe(a, '/active'), probe(b, '/active')]);
    if (aActive.status === 200 && bActive.body.role === 'standby') return { active: a, standby: b };
    if (bActive.status === 200 && aActive.body.role === 'standby') return { active: b, standby: a };
    return null;
  });
}

describe('agent health endpoints end to end (real server and agent processes)', () => {
  it('answers 200 on /active on exactly one node, and on the survivor after the active is killed', async () => {
    const { file, tokens } = writeConfig('hfail', ['a', 'b']);
    const server = await startServer(file);
    const { active, standby } = await startPair(server.url, 'hfail', tokens);

    const [activeActive, standbyActive, activeStandby, standbyStandby, standbyHealth] = await Promise.all([
      probe(active, '/active'),
      probe(standby, '/active'),
      probe(active, '/standby'),
      probe(standby, '/standby'),
      probe(standby, '/health'),
    ]);
    expect([activeActive.status, standbyActive.status]).toEqual([200, 503]);
    expect([activeStandby.status, standbyStandby.status]).toEqual([503, 200]);
    expect(activeActive.body).toMatchObject({ role: 'active', epoch: 1, heartbeatOk: true });
    expect(activeActive.body.leaseRemainingMs).toBeGreaterThan(0);
    expect(activeActive.body.leaseRemainingMs).toBeLessThanOrEqual(WINDOW_MS);
    expect(standbyHealth).toMatchObject({
      status: 200,
      body: { role: 'standby', epoch: 1, leaseRemainingMs: null, heartbeatOk: true },
    });

    await stop(active.proc, 'SIGKILL');
    const flipped = await waitFor(
      'the survivor’s /active to answer 200',
      async () => {
        const sample = await probe(standby, '/active');
        return sample.status === 200 && sample;
      },
      { proc: standby.proc },
    );
    expect(flipped.body).toMatchObject({ role: 'active', epoch: 2, heartbeatOk: true });
    expect(standby.proc.output()).toMatch(/role: active \(epoch 2\D/);
    await expect(probe(active, '/active')).rejects.toThrow();

    // SIGTERM: the agent stops beating, tries to release, and closes its health server.
    const exited = once(standby.proc.child, 'exit');
    standby.proc.child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    await expect(probe(standby, '/active')).rejects.toThrow();
  }, 60_000);

  it('keeps /active at 200 after the control plane dies, until the keeper’s own deadline, then 503', async () => {
    const { file, tokens } = writeConfig('hcp', ['a', 'b']);
    const server = await startServer(file);
    const { active, standby } = await startPair(server.url, 'hcp', tokens);

    const killedAt = Date.now();
    await stop(server.proc, 'SIGKILL');
    // Poll as a health checker would, until the active has answered 503 a few times; the standby must never answer 200.
    const samples: Sample[] = [];
    await waitFor(
      'the active’s /active to answer 503',
      async () => {
        const [activeActive, standbyActive] = await Promise.all([
          probe(active, '/active'),
          probe(standby, '/active'),
        ]);
        expect(standbyActive.status).toBe(503);
        samples.push(activeActive);
        return samples.filter((s) => s.status === 503).length >= 3;
      },
      { everyMs: 10, proc: active.proc },
    );

    // 200 first, then 503 for good: one flip.
    const firstDown = samples.findIndex((s) => s.status === 503);
    const up = samples.slice(0, firstDown);
    const down = samples.slice(firstDown);
    expect(up.length).toBeGreaterThan(0);
    expect(up.every((s) => s.status === 200 && s.body.role === 'active' && s.body.epoch === 1)).toBe(true);
    expect(down.every((s) => s.status === 503)).toBe(true);
    expect(down[0]?.body).toMatchObject({ role: 'standby', epoch: 1, leaseRemainingMs: null });

    // Each 200 states the time left; the deadline it implies lies in [sentAt, receivedAt] + that
    // time (+1 ms: it is rounded down, and Date.now() has whole milliseconds). Every 200 points
    // to the same deadline (nothing renewed the lease), no later than lease − margin after the kill.
    const earliest = Math.max(...up.map((s) => s.sentAt + (s.body.leaseRemainingMs as number))) - 1;
    const latest = Math.min(...up.map((s) => s.receivedAt + (s.body.leaseRemainingMs as number))) + 1;
    expect(earliest).toBeLessThanOrEqual(latest);
    // The keeper's rule: lease − margin after the last confirmed beat was sent, so before the
    // kill (50 ms for the measurement: `latest` may sit a request’s transit after the deadline).
    expect(latest - killedAt).toBeLessThanOrEqual(WINDOW_MS + 50);
    // The flip is at that deadline: the last 200 was asked for before it, the first 503 answered after it.
    expect(up.at(-1)?.sentAt).toBeLessThanOrEqual(latest);
    expect(down[0]?.receivedAt).toBeGreaterThanOrEqual(earliest);
    expect(active.proc.output()).toMatch(
      /no confirmed renewal for [\d.]+ s \(lease 3 s, margin 0\.6 s\): demoting self/,
    );
    expect((await probe(active, '/health')).status).toBe(503);
  }, 60_000);

  it('refuses to start when the health port is in use, with one line and exit code 2', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as { port: number };
    try {
      const proc = procs.start(
        'agent on a taken port',
        [
          'agent',
          '--url',
          'http://127.0.0.1:9',
          '--cluster',
          'c',
          '--node',
          'n',
          '--health-listen',
          `127.0.0.1:${port}`,
        ],
        { FAILOVER_TOKEN: 't' },
      );
      const [code] = (await once(proc.child, 'exit')) as [number | null];
      expect(code).toBe(2);
      expect(proc.output()).toBe(
        `failover agent: --health-listen 127.0.0.1:${port}: address already in use\n`,
      );
      expect(running(proc.child)).toBe(false);
    } finally {
      taken.close();
    }
  }, 30_000);
});
