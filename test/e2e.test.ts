/**
 * End to end, from outside: the real `failover serve` and `failover agent` processes on
 * loopback, a webhook receiver in this process, and SIGKILL as the failure.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { SIGNATURE_HEADER, signBody } from '../shared/targets/webhook.js';
import { mintToken } from '../shared/tokens.js';
import {
  agentArgs,
  hookLines,
  type Proc,
  Processes,
  removeDir,
  running,
  stop,
  waitFor,
  waitForLine,
} from './helpers/processes.js';

const SECRET = 'e2e-webhook-secret';
const LEASE_MS = 3_000; // heartbeatIntervalSeconds 1 × missedBeats 3
const INTERVAL_MS = 1_000;

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

const procs = new Processes();
let dir: string;
let receiver: Server;
let hookUrl: string;
const received: Received[] = [];

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** Writes a one-cluster config with interval 1 s, lease 3 s; returns its path and the nodes' tokens. */
function writeConfig(clusterId: string, nodeIds: string[], targets: unknown[]) {
  const tokens: Record<string, string> = {};
  const nodes = nodeIds.map((id, i) => {
    const { token, sha256 } = mintToken();
    tokens[id] = token;
    return { id, address: `192.0.2.${i + 1}`, tokenSha256: sha256 };
  });
  const config = {
    clusters: [{ id: clusterId, heartbeatIntervalSeconds: 1, missedBeats: 3, nodes, targets }],
  };
  const file = join(dir, `${clusterId}.config.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, tokens };
}

async function startServer(configFile: string): Promise<{ proc: Proc; url: string }> {
  const proc = procs.start(
    'server',
    ['serve', '--config', configFile, '--memory', '--port', '0', '--sweep-interval', '0.5'],
    { E2E_WEBHOOK_SECRET: SECRET },
  );
  const match = await waitForLine(proc, /listening on (http:\/\/\S+)/, 20_000);
  return { proc, url: match[1] as string };
}

/** An agent whose hooks append "$FAILOVER_ROLE $FAILOVER_EPOCH" to its own file. */
function startAgent(url: string, cluster: string, node: string, token: string, extra: string[] = []) {
  const hookFile = join(dir, `${cluster}-${node}.hooks`);
  const append = `echo "$FAILOVER_ROLE $FAILOVER_EPOCH" >> '${hookFile}'`;
  const proc = procs.start(
    `agent ${node}`,
    agentArgs(url, cluster, node, ['--on-active', append, '--on-standby', append, ...extra]),
    { FAILOVER_TOKEN: token },
  );
  return { proc, hookFile };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'failover-e2e-'));
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        at: Date.now(),
      });
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  await procs.stopAll();
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  removeDir(dir);
});

describe('failover end to end (real server and agent processes)', () => {
  it('promotes b and repoints the webhook within lease + interval + 1 s after a is killed', async () => {
    const { file, tokens } = writeConfig(
      'e2e',
      ['a', 'b'],
      [
        { type: 'webhook', url: hookUrl, secretEnv: 'E2E_WEBHOOK_SECRET', allowPrivateAddress: true },
        { type: 'log' },
      ],
    );
    const server = await startServer(file);
    const a = startAgent(server.url, 'e2e', 'a', tokens.a as string);
    await waitForLine(a.proc, /role: active \(epoch 1\D/);
    const b = startAgent(server.url, 'e2e', 'b', tokens.b as string);
    await waitForLine(b.proc, /role: standby \(epoch 1\D/);

    await stop(a.proc, 'SIGKILL');
    await waitForLine(b.proc, /role: active \(epoch 2\D/);

    // The webhook was told, with a signature over the exact bytes sent.
    const hook = await waitFor('the epoch-2 webhook', () =>
      received.find((r) => (JSON.parse(r.body) as { epoch: number }).epoch === 2),
    );
    expect(hook.method).toBe('POST');
    expect(hook.path).toBe('/hook');
    expect(JSON.parse(hook.body)).toEqual({
      cluster: 'e2e',
      active: 'b',
      address: '192.0.2.2',
      members: [{ id: 'b', address: '192.0.2.2' }],
      epoch: 2,
      previous: 'a',
      reason: expect.stringContaining('a missed 3 beats'),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(hook.headers[SIGNATURE_HEADER]).toBe(signBody(hook.body, SECRET));

    const status = await getJson<ClusterStatus>(`${server.url}/v1/clusters/e2e`);
    expect(status).toMatchObject({ active: 'b', epoch: 2 });
    const nodeA = status.nodes.find((n) => n.id === 'a');
    expect(nodeA?.alive).toBe(false);
    const { events } = await getJson<{ events: ClusterEvent[] }>(`${server.url}/v1/clusters/e2e/events`);
    const promoted = events.find((e) => e.kind === 'promoted' && e.epoch === 2);
    expect(promoted).toMatchObject({ active: 'b', previous: 'a' });

    // The bound, on the control plane's own clock: after a's lease, within lease + interval + 1 s.
    const gap = (promoted?.at as number) - (nodeA?.lastSeen as number);
    expect(gap).toBeGreaterThan(LEASE_MS);
    expect(gap).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + 1_000);

    await waitFor('b’s on-active hook', () => hookLines(b.hookFile).includes('active 2'), { proc: b.proc });
    expect(hookLines(b.hookFile)).toEqual(['standby 1', 'active 2']);
    expect(hookLines(a.hookFile)).toEqual(['active 1']);
    expect(a.proc.output()).not.toContain(tokens.a);
    expect(b.proc.output()).not.toContain(tokens.b);
  }, 60_000);

  it('demotes an active agent that cannot reach the control plane before its lease could expire', async () => {
    const { file, tokens } = writeConfig('solo', ['a'], [{ type: 'log' }]);
    const server = await startServer(file);
    const a = startAgent(server.url, 'solo', 'a', tokens.a as string);
    await waitForLine(a.proc, /role: active \(epoch 1\D/);

    const killedAt = Date.now();
    await stop(server.proc, 'SIGKILL');
    const demotion = await waitForLine(
      a.proc,
      /^(\S+) \[solo\/a\] no confirmed renewal for ([\d.]+) s \(lease 3 s, margin 0\.6 s\): demoting self$/m,
    );
    expect(a.proc.output()).toMatch(/role: standby \(epoch 1\D/);

    // Before the lease could expire on the control plane, but not on the first missed beat.
    const demotedAt = Date.parse(demotion[1] as string);
    expect(demotedAt - killedAt).toBeLessThanOrEqual(LEASE_MS);
    expect(demotedAt - killedAt).toBeGreaterThanOrEqual(1_000);
    expect(Number(demotion[2])).toBeGreaterThanOrEqual(2.4);
    expect(Number(demotion[2])).toBeLessThan(3);

    await waitFor('a’s on-standby hook', () => hookLines(a.hookFile).includes('standby 1'), { proc: a.proc });
    expect(hookLines(a.hookFile)).toEqual(['active 1', 'standby 1']);

    // It keeps running (still beating, to rejoin) and stops cleanly on SIGTERM.
    expect(running(a.proc.child)).toBe(true);
    const exited = once(a.proc.child, 'exit');
    a.proc.child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  }, 60_000);
});

describe('planned operations end to end', () => {
  /** One cron tick: both nodes run the guarded job at the same moment. */
  async function tick(url: string, tokens: Record<string, string>, log: string): Promise<number[]> {
    const job = `echo "$FAILOVER_NODE $FAILOVER_EPOCH" >> '${log}'`;
    const runs = ['a', 'b'].map((node) =>
      procs.start(
        `run-if-active ${node}`,
        ['run-if-active', '--url', url, '--cluster', 'cron', '--node', node, '--', 'sh', '-c', job],
        {
          FAILOVER_TOKEN: tokens[node] as string,
        },
      ),
    );
    return Promise.all(runs.map(async (r) => ((await once(r.child, 'exit')) as [number])[0]));
  }

  it('runs a cron job on the active node only, exactly once per tick, and follows a failover', async () => {
    const { file, tokens } = writeConfig('cron', ['a', 'b'], [{ type: 'log' }]);
    const server = await startServer(file);
    const a = startAgent(server.url, 'cron', 'a', tokens.a as string);
    await waitForLine(a.proc, /role: active \(epoch 1\D/);
    const b = startAgent(server.url, 'cron', 'b', tokens.b as string);
    await waitForLine(b.proc, /role: standby \(epoch 1\D/);
    const log = join(dir, 'cron-ticks.log');

    for (let i = 0; i < 3; i++) expect(await tick(server.url, tokens, log)).toEqual([0, 0]);
    expect(hookLines(log)).toEqual(['a 1', 'a 1', 'a 1']);

    await stop(a.proc, 'SIGKILL');
    await waitForLine(b.proc, /role: active \(epoch 2\D/);
    expect(await tick(server.url, tokens, log)).toEqual([0, 0]);
    expect(hookLines(log)).toEqual(['a 1', 'a 1', 'a 1', 'b 2']);
  }, 60_000);

  it('hands the role over at once when the active agent is stopped with SIGTERM', async () => {
    const { file, tokens } = writeConfig('release', ['a', 'b'], [{ type: 'log' }]);
    const server = await startServer(file);
    const a = startAgent(server.url, 'release', 'a', tokens.a as string);
    await waitForLine(a.proc, /role: active \(epoch 1\D/);
    const b = startAgent(server.url, 'release', 'b', tokens.b as string);
    await waitForLine(b.proc, /role: standby \(epoch 1\D/);

    const exited = once(a.proc.child, 'exit');
    a.proc.child.kill('SIGTERM');
    expect(((await exited) as [number | null])[0]).toBe(0);
    // The release itself promoted b: no lease had to expire.
    const { events } = await getJson<{ events: ClusterEvent[] }>(`${server.url}/v1/clusters/release/events`);
    const promotion = events.find((e) => e.kind === 'promoted' && e.epoch === 2);
    expect(promotion).toMatchObject({ active: 'b', previous: 'a', by: 'node:a' });
    expect(promotion?.reason).toContain('a released the role');
    // Demote-first: a ran --on-standby (still at epoch 1) before it asked for the release.
    expect(hookLines(a.hookFile)).toEqual(['active 1', 'standby 1']);
    await waitForLine(b.proc, /role: active \(epoch 2\D/);
  }, 60_000);

  it("fails over at once when the active agent's health check starts failing, and reports maintenance from a file", async () => {
    const { file, tokens } = writeConfig('check', ['a', 'b'], [{ type: 'log' }]);
    const server = await startServer(file);
    const broken = join(dir, 'a.broken');
    const maintenance = join(dir, 'b.maintenance');
    const a = startAgent(server.url, 'check', 'a', tokens.a as string, ['--check', `test ! -e '${broken}'`]);
    await waitForLine(a.proc, /role: active \(epoch 1\D/);
    const b = startAgent(server.url, 'check', 'b', tokens.b as string, ['--maintenance-file', maintenance]);
    await waitForLine(b.proc, /role: standby \(epoch 1\D/);

    writeFileSync(broken, '');
    await waitForLine(a.proc, /reporting status failing/);
    await waitForLine(b.proc, /role: active \(epoch 2\D/);
    const { events } = await getJson<{ events: ClusterEvent[] }>(`${server.url}/v1/clusters/check/events`);
    expect(events.find((e) => e.epoch === 2)?.reason).toContain('a reported status failing');
    // The failing node is not promoted back, whatever happens to b, until its check passes.
    writeFileSync(maintenance, '');
    await waitForLine(b.proc, /reporting status maintenance/);
    let status: ClusterStatus | undefined;
    await waitFor('a hold naming the failing standby', async () => {
      status = await getJson<ClusterStatus>(`${server.url}/v1/clusters/check`);
      return status.hold !== null;
    });
    expect(status?.active).toBe('b');
    expect(status?.hold?.reason).toBe('b entered maintenance; no standby can take over (a is failing)');
  }, 60_000);
});
