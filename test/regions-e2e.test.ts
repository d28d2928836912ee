/**
 * Three local "Regions" over one table, with real processes as in AWS: one `failover store`,
 * three `failover serve --store … --region …`, and three agents given all three URLs.
 * Losing a Region changes no role; losing the active then fails over through the others.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import { freePort } from './helpers/link.js';
import {
  agentArgs,
  hookLines,
  type Proc,
  Processes,
  removeDir,
  stop,
  waitFor,
  waitForLine,
} from './helpers/processes.js';

const LEASE_MS = 3_000; // heartbeatIntervalSeconds 1 × missedBeats 3
const REGIONS = ['us-east-1', 'us-east-2', 'us-west-2'];
const procs = new Processes();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-regions-'));
});

afterAll(async () => {
  await procs.stopAll();
  removeDir(dir);
});

describe('three Regions over one store (real processes)', () => {
  it('keeps every role when a Region is lost, beats move to the next Region, and a failover then goes through the others', async () => {
    const storePort = await freePort();
    const store = procs.start('store', ['store', '--memory', '--port', String(storePort)]);
    await waitForLine(store, /failover store listening on/, 20_000);

    const ids = ['a', 'b', 'c'];
    const tokens: Record<string, string> = {};
    const nodes = ids.map((id, i) => {
      const { token, sha256 } = mintToken();
      tokens[id] = token;
      return { id, address: `192.0.2.${i + 1}`, tokenSha256: sha256 };
    });
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        regions: REGIONS,
        clusters: [{ id: 'geo', heartbeatIntervalSeconds: 1, missedBeats: 3, failsafe: false, nodes }],
      }),
    );
    const servers: Proc[] = [];
    const urls: string[] = [];
    for (const region of REGIONS) {
      const server = procs.start(`serve ${region}`, [
        'serve',
        ...['--config', config, '--store', `http://127.0.0.1:${storePort}`],
        ...['--region', region, '--port', '0', '--sweep-interval', '0.5'],
      ]);
      urls.push((await waitForLine(server, /listening on (http:\/\/\S+)/, 20_000))[1] as string);
      servers.push(server);
    }
    const status = async (via: string): Promise<ClusterStatus> =>
      (await (await fetch(`${via}/v1/clusters/geo`)).json()) as ClusterStatus;

    const agents: Record<string, Proc> = {};
    const hookFiles: Record<string, string> = {};
    for (const id of ids) {
      hookFiles[id] = join(dir, `${id}.hooks`);
      const append = `echo "$FAILOVER_ROLE $FAILOVER_EPOCH" >> '${hookFiles[id]}'`;
      agents[id] = procs.start(
        `agent ${id}`,
        agentArgs(urls.join(','), 'geo', id, ['--on-active', append, '--on-standby', append]),
        { FAILOVER_TOKEN: tokens[id] as string },
      );
      await waitForLine(agents[id], id === 'a' ? /role: active \(epoch 1\D/ : /role: standby \(epoch 1\D/);
    }
    expect((await status(urls[2] as string)).nodes.map((n) => n.region)).toEqual([
      'us-east-1',
      'us-east-1',
      'us-east-1',
    ]);

    // Region 1 is lost: every agent moves to region 2 within an interval, and nothing changes role.
    const lostAt = Date.now();
    await stop(servers[0] as Proc);
    await waitFor('every node beating through us-east-2', async () => {
      const s = await status(urls[1] as string);
      return s.nodes.every((n) => n.region === 'us-east-2' && (n.lastSeen ?? 0) > lostAt) && s;
    });
    for (const id of ids)
      expect((agents[id] as Proc).output()).toMatch(/moving to http:\/\/127\.0\.0\.1:\d+/);
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS));
    expect(await status(urls[2] as string)).toMatchObject({ epoch: 1, active: 'a' });
    for (const id of ids) expect(hookLines(hookFiles[id] as string), procs.outputs()).toHaveLength(1);

    // Then the active dies: the failover goes through the Regions that are left, once.
    await stop(agents.a as Proc);
    const killedAt = Date.now();
    const promoted = await waitFor(
      'a promotion at epoch 2',
      async () => {
        const res = await fetch(`${urls[1]}/v1/clusters/geo/events?limit=50`);
        const events = ((await res.json()) as { events: ClusterEvent[] }).events;
        const found = events.filter((e) => e.kind === 'promoted' && e.epoch === 2);
        return found.length > 0 && found;
      },
      { timeoutMs: 20_000 },
    );
    // A second promotion for the same epoch from another Region would show by now.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const events = (await (await fetch(`${urls[2]}/v1/clusters/geo/events?limit=50`)).json()) as {
      events: ClusterEvent[];
    };
    expect(events.events.filter((e) => e.kind === 'promoted' && e.epoch === 2)).toHaveLength(1);
    const event = promoted[0] as ClusterEvent;
    const lastSeenOfA = (await status(urls[2] as string)).nodes.find((n) => n.id === 'a')?.lastSeen as number;
    expect(event.at - lastSeenOfA).toBeLessThanOrEqual(LEASE_MS + 1_000 + 1_000);
    expect(event.at).toBeGreaterThan(killedAt - 1_000);
    expect(await status(urls[1] as string)).toMatchObject({ epoch: 2 });
  }, 90_000);
});
