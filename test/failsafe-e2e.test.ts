/**
 * Static stability end to end (safety property 7), with real processes on loopback: the
 * local server (state on disk, so it can be killed and restarted on the same port), three
 * agents with --peer-listen, and small TCP proxies in the test that cut one link at a time.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import { freePort, Link } from './helpers/link.js';
import {
  hookLines,
  type Proc,
  Processes,
  removeDir,
  stop,
  waitFor,
  waitForLine,
} from './helpers/processes.js';

const LEASE_MS = 3_000; // heartbeatIntervalSeconds 1 × missedBeats 3
const PEER_SECRET = 'e2e-peer-secret-0123456789';
const procs = new Processes();
let dir: string;

interface Harness {
  cluster: string;
  url: string;
  server: Proc;
  startServer(): Promise<void>;
  agents: Record<string, { proc: Proc; hookFile: string; peerPort: number }>;
  links: Link[];
}

const harnesses: Harness[] = [];

/**
 * Three nodes a, b, c; a starts first (so it is the active at epoch 1). `via` routes one
 * node's heartbeats, or one node's peer endpoint, through a Link the test can cut.
 */
async function start(
  cluster: string,
  options: { failsafe?: boolean; beatsVia?: Record<string, Link>; peerVia?: Record<string, Link> } = {},
): Promise<Harness> {
  const port = await freePort();
  const ids = ['a', 'b', 'c'];
  const tokens: Record<string, string> = {};
  const peerPorts: Record<string, number> = {};
  const nodes = [];
  for (const [i, id] of ids.entries()) {
    const { token, sha256 } = mintToken();
    tokens[id] = token;
    peerPorts[id] = await freePort();
    const via = options.peerVia?.[id];
    if (via) via.target = peerPorts[id] as number;
    const peerPort = via ? await via.open() : (peerPorts[id] as number);
    nodes.push({
      id,
      address: `192.0.2.${i + 1}`,
      tokenSha256: sha256,
      peerUrl: `http://127.0.0.1:${peerPort}`,
    });
  }
  const file = join(dir, `${cluster}.json`);
  const config = {
    clusters: [
      { id: cluster, heartbeatIntervalSeconds: 1, missedBeats: 3, failsafe: options.failsafe ?? true, nodes },
    ],
  };
  writeFileSync(file, JSON.stringify(config));
  const dataDir = join(dir, `${cluster}-data`);
  const url = `http://127.0.0.1:${port}`;
  const h: Harness = {
    cluster,
    url,
    server: undefined as unknown as Proc,
    agents: {},
    links: [...Object.values(options.beatsVia ?? {}), ...Object.values(options.peerVia ?? {})],
    async startServer() {
      h.server = procs.start(`server ${cluster}`, [
        'serve',
        '--config',
        file,
        '--data-dir',
        dataDir,
        '--port',
        String(port),
        '--sweep-interval',
        '0.5',
      ]);
      await waitForLine(h.server, /listening on/, 20_000);
    },
  };
  harnesses.push(h);
  await h.startServer();
  for (const id of ids) {
    const via = options.beatsVia?.[id];
    if (via) via.target = port;
    const beatUrl = via ? `http://127.0.0.1:${await via.open()}` : url;
    const hookFile = join(dir, `${cluster}-${id}.hooks`);
    const append = `echo "$FAILOVER_ROLE $FAILOVER_EPOCH" >> '${hookFile}'`;
    const proc = procs.start(
      `agent ${cluster}/${id}`,
      [
        'agent',
        '--url',
        beatUrl,
        '--cluster',
        cluster,
        '--node',
        id,
        '--on-active',
        append,
        '--on-standby',
        append,
        '--peer-listen',
        `127.0.0.1:${peerPorts[id]}`,
      ],
      { FAILOVER_TOKEN: tokens[id] as string, FAILOVER_PEER_SECRET: PEER_SECRET },
    );
    h.agents[id] = { proc, hookFile, peerPort: peerPorts[id] as number };
    await waitForLine(proc, id === 'a' ? /role: active \(epoch 1\D/ : /role: standby \(epoch 1\D/);
  }
  return h;
}

async function status(h: Harness): Promise<ClusterStatus> {
  const res = await fetch(`${h.url}/v1/clusters/${h.cluster}`);
  return (await res.json()) as ClusterStatus;
}

async function events(h: Harness): Promise<ClusterEvent[]> {
  const res = await fetch(`${h.url}/v1/clusters/${h.cluster}/events?limit=50`);
  return ((await res.json()) as { events: ClusterEvent[] }).events;
}

/** The hook line's order across nodes: each agent's lines, stamped by when they appeared. */
function hooks(h: Harness, id: string): string[] {
  return hookLines((h.agents[id] as { hookFile: string }).hookFile);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-failsafe-'));
});

afterEach(async () => {
  await procs.stopAll();
  for (const h of harnesses.splice(0)) for (const link of h.links) link.close();
});

afterAll(() => {
  removeDir(dir);
});

describe('failsafe end to end (real processes)', () => {
  it('keeps the active through a control-plane outage of 10 × lease: no --on-standby, same epoch after, and an event naming the peers', async () => {
    const h = await start('outage');
    const a = h.agents.a as Harness['agents'][string];

    await stop(h.server, 'SIGKILL');
    await waitForLine(a.proc, /failsafe: the control plane cannot be reached and b, c confirm/);
    await sleep(10 * LEASE_MS);
    expect(a.proc.output()).not.toMatch(/demoting self/);
    expect(hooks(h, 'a')).toEqual(['active 1']);

    await h.startServer();
    // a's first answered beat reports the episode; status then shows a active at epoch 1.
    const failsafe = await waitFor('the failsafe event', async () =>
      (await events(h)).find((e) => e.kind === 'failsafe'),
    );
    expect(failsafe.reason).toMatch(
      /^a kept the role at epoch 1 in failsafe from \S+ to \S+ \(\d+(\.\d+)? s\), confirmed by b, c$/,
    );
    await sleep(2 * LEASE_MS); // past any grace: still nobody promoted
    expect(await status(h)).toMatchObject({ epoch: 1, active: 'a' });
    expect(hooks(h, 'a')).toEqual(['active 1']);
    expect(hooks(h, 'b')).toEqual(['standby 1']);
    expect(hooks(h, 'c')).toEqual(['standby 1']);
    expect((await events(h)).filter((e) => e.kind === 'promoted')).toHaveLength(1);
  }, 90_000);

  it.each([true, false])(
    'fails over when only the active is cut off from the control plane (failsafe %s): a stands down before b starts',
    async (failsafe) => {
      const link = new Link();
      const h = await start(`cut-${failsafe}`, { failsafe, beatsVia: { a: link } });
      link.sever();
      const a = h.agents.a as Harness['agents'][string];
      await waitForLine(a.proc, /demoting self/);
      if (failsafe) expect(a.proc.output()).toMatch(/can reach the control plane, so the lease rules apply/);
      await waitFor('b or c promoted', async () => ((await status(h)).epoch === 2 ? true : null));
      const promoted = (await status(h)).active as string;
      await waitFor(`${promoted}'s --on-active`, () => hooks(h, promoted).includes('active 2'));
      await waitFor("a's --on-standby", () => hooks(h, 'a').includes('standby 1'), { proc: a.proc });
      expect(hooks(h, 'a')).toEqual(['active 1', 'standby 1']);
      // a ran --on-standby before the new active's --on-active: the lines' files tell order only
      // per node, so compare the agents' own log timestamps.
      const demotedAt = Date.parse(
        /^(\S+) \[\S+\/a\] role: standby \(epoch 1/m.exec(a.proc.output())?.[1] ?? '',
      );
      const newActive = h.agents[promoted] as Harness['agents'][string];
      const activeAt = Date.parse(
        /^(\S+) \[\S+\] role: active \(epoch 2/m.exec(newActive.proc.output())?.[1] ?? '',
      );
      expect(activeAt - demotedAt).toBeGreaterThan(0);
    },
    60_000,
  );

  it('demotes the active during an outage when one peer link is cut: every peer must confirm', async () => {
    const link = new Link();
    const h = await start('peer-cut', { peerVia: { c: link } });
    link.sever();
    const a = h.agents.a as Harness['agents'][string];
    await stop(h.server, 'SIGKILL');
    await waitForLine(a.proc, /demoting self/);
    expect(a.proc.output()).toMatch(/failsafe: not every peer confirms \(c could not be reached/);
    await waitFor("a's --on-standby", () => hooks(h, 'a').includes('standby 1'), { proc: a.proc });
    expect(hooks(h, 'a')).toEqual(['active 1', 'standby 1']);
  }, 60_000);

  it('gives the incumbent a lease to renew after the control plane returns from 3 × lease away (failsafe off)', async () => {
    const link = new Link();
    const h = await start('grace', { failsafe: false, beatsVia: { a: link } });
    await stop(h.server, 'SIGKILL');
    link.sever();
    await sleep(3 * LEASE_MS);
    await h.startServer();
    // b and c beat at once; a's first beat comes 1.5 s later, within the lease of grace.
    await waitFor('the grace hold', async () => ((await status(h)).hold?.code === 'grace' ? true : null));
    await sleep(1_500);
    link.heal();
    await waitForLine(
      h.agents.a?.proc as Proc,
      /role: active \(epoch 1, active a\)[\s\S]*role: standby[\s\S]*role: active \(epoch 1/,
    );
    await sleep(LEASE_MS);
    expect(await status(h)).toMatchObject({ epoch: 1, active: 'a' });
    const held = (await events(h)).filter((e) => e.kind === 'held');
    expect(held.map((e) => e.reason)).toContainEqual(
      expect.stringMatching(/^the control plane was away: no beat from any node for more than/),
    );
    expect(hooks(h, 'b')).toEqual(['standby 1']);
  }, 60_000);
});
