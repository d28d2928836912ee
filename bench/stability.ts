/**
 * The moments of a change, end to end with real processes on loopback (issues 10 and 11):
 *
 *  - Switchover (demote-first): `POST /switchover` → the new active's `--on-active`, and the
 *    gap between the old active's `--on-standby` finishing and the new one's `--on-active`
 *    starting (negative would be an overlap: two actives). Hooks stamp one shared log with
 *    `date +%s%N`; the old one's `--on-standby` takes 0.1 s, as stopping a service does.
 *    Also the new active's `GET /active` 200 relative to the commit.
 *  - Control-plane outage (static stability): three agents with failsafe, the server
 *    SIGKILLed for 30 s (10 s with --quick) and restarted on its data directory: role
 *    changes meanwhile (goal 0), and restart → the active's first recorded renewal.
 *  - Partitioned active: its heartbeats go through a TCP link the bench cuts; the peers
 *    still reach the control plane, so they refuse the failsafe and the active must go:
 *    cut → a standby's `--on-active` (budget lease + interval + 1 s, as a crash), and the
 *    gap between the old active's `--on-standby` and the new one's `--on-active` (≥ 0).
 *  - Three Regions (one `failover store`, three `serve --store --region`, agents given all
 *    three URLs): the first Region and the active are killed at the same moment; from the
 *    dead active's last beat to the new active's `--on-active` (budget lease + 2 × interval
 *    + 1 s: the survivor's beats move Region inside one interval).
 *
 * Every clock read is this machine's wall clock (hooks, the server, this process).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import { freePort, Link } from '../test/helpers/link.js';
import { hookLines } from '../test/helpers/processes.js';
import {
  type BenchOptions,
  firstActiveAt,
  healthUrl,
  type Proc,
  pass,
  type Row,
  secs,
  startCli,
  stopProc,
  summarize,
  waitFor,
} from './lib.js';

const INTERVAL_MS = 1_000;
const LEASE_MS = 3_000; // 3 missed beats
const PEER_SECRET = 'bench-peer-secret-0123456789';
/** What `--on-standby` does in the switchover runs: a service that takes a moment to stop. */
const STOP_SECONDS = 0.1;

export interface StabilityOptions extends BenchOptions {
  switchovers: number;
  outageSeconds: number;
  partitions: number;
}

/** One hook run: when (ms since the epoch, ns precision), which node, which role, which epoch. */
interface HookLine {
  ms: number;
  node: string;
  role: 'active' | 'standby';
  epoch: number;
}

interface Cluster {
  url: string;
  agents: Record<string, Proc>;
  links: Record<string, Link>;
  hooks(): HookLine[];
  status(): Promise<ClusterStatus>;
  events(): Promise<ClusterEvent[]>;
  killServer(): Promise<void>;
  /** Restarts the server on the same port and data; resolves with when it was listening. */
  startServer(): Promise<number>;
  /** Starts a node's agent again (after the run killed it). */
  startAgent(id: string): void;
  close(): Promise<void>;
}

export async function runStability(options: StabilityOptions) {
  const switchover = await measureSwitchovers(options);
  const outage = await measureOutage(options);
  const partition = await measurePartitions(options);
  const regionLoss = await measureRegionLoss(options);
  const crashBoundMs = LEASE_MS + INTERVAL_MS + 1_000;
  const rows: Row[] = [
    {
      figure: `Switchover (demote-first): request → new active's --on-active (old --on-standby takes ${STOP_SECONDS} s)`,
      measured: `p50 ${secs(switchover.total.p50)} / p95 ${secs(switchover.total.p95)} / max ${secs(switchover.total.max)} (n=${switchover.total.n})`,
      budget: 'report (≤ 2 intervals + the hook when the old active confirms)',
      status: 'report',
    },
    {
      figure: "Switchover: gap from the old active's --on-standby end to the new one's --on-active",
      measured: `min ${secs(switchover.gap.min, 3)} / p50 ${secs(switchover.gap.p50, 3)} (n=${switchover.gap.n})`,
      budget: '≥ 0 (no overlap)',
      status: pass(switchover.gap.n > 0 && switchover.gap.min >= 0),
    },
    {
      figure: "Switchover: the new active's GET /active 200 after the commit",
      measured: `p50 ${secs(switchover.healthAfterCommit.p50)} / p95 ${secs(switchover.healthAfterCommit.p95)} (polled every 10 ms)`,
      budget: 'report (≤ 1 interval: the new active learns at its next beat)',
      status: 'report',
    },
    {
      figure: `Control plane down ${options.outageSeconds} s (3 agents, failsafe): role changes`,
      measured: `${outage.roleChanges} (epoch ${outage.epochBefore} → ${outage.epochAfter})`,
      budget: '0',
      status: pass(outage.roleChanges === 0 && outage.epochAfter === outage.epochBefore),
    },
    {
      figure: "Control plane back: restart (listening) → the active's first renewal",
      measured: secs(outage.firstRenewalMs),
      budget: 'report (≤ 1 interval)',
      status: 'report',
    },
    {
      figure: "Partitioned active (peers reach the control plane): cut → a standby's --on-active",
      measured: `p50 ${secs(partition.total.p50)} / max ${secs(partition.total.max)} (n=${partition.total.n})`,
      budget: `≤ ${secs(crashBoundMs, 1)} (lease + interval + 1 s)`,
      status: pass(partition.total.n > 0 && partition.total.max <= crashBoundMs),
    },
    {
      figure: "Partitioned active: gap from the old active's --on-standby to the new one's --on-active",
      measured: `min ${secs(partition.gap.min, 3)} / p50 ${secs(partition.gap.p50, 3)} (n=${partition.gap.n})`,
      budget: '≥ 0 (no overlap)',
      status: pass(partition.gap.n > 0 && partition.gap.min >= 0),
    },
    {
      figure: "Three Regions: the first Region and the active lost at once → the new active's --on-active",
      measured: `p50 ${secs(regionLoss.total.p50)} / max ${secs(regionLoss.total.max)} (n=${regionLoss.total.n}), from the dead active's last beat`,
      budget: `≤ ${secs(LEASE_MS + 2 * INTERVAL_MS + 1_000, 1)} (lease + 2 × interval + 1 s)`,
      status: pass(regionLoss.total.n > 0 && regionLoss.total.max <= LEASE_MS + 2 * INTERVAL_MS + 1_000),
    },
  ];
  return { rows, data: { switchover, outage, partition, regionLoss } };
}

async function measureSwitchovers(options: StabilityOptions) {
  const cluster = await startCluster('switchover', ['a', 'b'], { failsafe: false, health: true });
  const total: number[] = [];
  const gap: number[] = [];
  const healthAfterCommit: number[] = [];
  try {
    for (let i = 0; i < options.switchovers; i++) {
      const ready = await settled(cluster);
      const to = ready.active === 'a' ? 'b' : 'a';
      const epoch = ready.epoch + 1;
      const asked = Date.now();
      const flip = firstActiveAt(healthUrl(cluster.agents[to] as Proc), 10 * LEASE_MS);
      flip.catch(() => {});
      const res = await fetch(`${cluster.url}/v1/clusters/bench/switchover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to }),
      });
      if (res.status !== 202) throw new Error(`switchover to ${to}: HTTP ${res.status} ${await res.text()}`);
      const promoted = await waitFor(
        `${to}'s --on-active at epoch ${epoch}`,
        () => cluster.hooks().find((l) => l.node === to && l.role === 'active' && l.epoch === epoch),
        10 * LEASE_MS,
      );
      const stepped = cluster
        .hooks()
        .find((l) => l.node === ready.active && l.role === 'standby' && l.epoch === ready.epoch);
      if (stepped === undefined)
        throw new Error(`${ready.active} never ran --on-standby at epoch ${ready.epoch}`);
      const commit = (await cluster.events()).find((e) => e.kind === 'promoted' && e.epoch === epoch);
      total.push(promoted.ms - asked);
      gap.push(promoted.ms - stepped.ms);
      if (commit) healthAfterCommit.push((await flip) - commit.at);
      options.log(
        `stability: switchover ${i + 1}/${options.switchovers} to ${to}: ${secs(promoted.ms - asked)}, gap ${secs(promoted.ms - stepped.ms, 3)}`,
      );
    }
  } finally {
    await cluster.close();
  }
  return { total: summarize(total), gap: summarize(gap), healthAfterCommit: summarize(healthAfterCommit) };
}

async function measureOutage(options: StabilityOptions) {
  const cluster = await startCluster('outage', ['a', 'b', 'c'], { failsafe: true });
  try {
    const ready = await settled(cluster);
    await sleep(INTERVAL_MS); // the standbys' first --on-standby hooks have run
    const killedAt = Date.now();
    await cluster.killServer();
    options.log(`stability: control plane down for ${options.outageSeconds} s`);
    await sleep(options.outageSeconds * 1000);
    const listening = await cluster.startServer();
    const renewed = await waitFor(
      "the active's first renewal",
      async () => {
        const s = await cluster.status().catch(() => null);
        const seen = s?.nodes.find((n) => n.id === ready.active)?.lastSeen;
        return seen != null && seen >= listening ? seen : null;
      },
      10 * LEASE_MS,
      10,
    );
    await sleep(2 * LEASE_MS); // a promotion after the return would show here
    const after = await cluster.status();
    const changes = cluster.hooks().filter((l) => l.ms >= killedAt);
    if (changes.length > 0)
      options.log(`stability: ${ready.active}'s log:\n${cluster.agents[ready.active]?.output()}`);
    return {
      roleChanges: changes.length,
      changes,
      epochBefore: ready.epoch,
      epochAfter: after.epoch,
      firstRenewalMs: Math.max(0, renewed - listening),
    };
  } finally {
    await cluster.close();
  }
}

async function measureRegionLoss(options: StabilityOptions) {
  const regions = ['us-east-1', 'us-east-2', 'us-west-2'];
  const cluster = await startCluster('regions', ['a', 'b'], { failsafe: false, regions });
  const total: number[] = [];
  try {
    for (let i = 0; i < options.partitions; i++) {
      const ready = await settled(cluster);
      await sleep(Math.random() * INTERVAL_MS);
      // The first Region and the active die at the same moment.
      await Promise.all([cluster.killServer(), stopProc(cluster.agents[ready.active] as Proc, 'SIGKILL')]);
      const epoch = ready.epoch + 1;
      const promoted = await waitFor(
        `a new active's --on-active at epoch ${epoch}`,
        () => cluster.hooks().find((l) => l.role === 'active' && l.epoch === epoch),
        10 * LEASE_MS,
      );
      const lastSeen = (await cluster.status()).nodes.find((n) => n.id === ready.active)?.lastSeen;
      if (lastSeen == null) throw new Error(`no lastSeen for ${ready.active}`);
      total.push(promoted.ms - lastSeen);
      options.log(
        `stability: region 1 and the active lost: ${promoted.node} active ${secs(promoted.ms - lastSeen)} after the last beat`,
      );
      await cluster.startServer();
      cluster.startAgent(ready.active);
    }
  } finally {
    await cluster.close();
  }
  return { total: summarize(total) };
}

async function measurePartitions(options: StabilityOptions) {
  const cluster = await startCluster('partition', ['a', 'b', 'c'], { failsafe: true, links: true });
  const total: number[] = [];
  const gap: number[] = [];
  try {
    for (let i = 0; i < options.partitions; i++) {
      const ready = await settled(cluster);
      const link = cluster.links[ready.active] as Link;
      const cutAt = Date.now();
      link.sever();
      const epoch = ready.epoch + 1;
      const promoted = await waitFor(
        `a new active's --on-active at epoch ${epoch}`,
        () => cluster.hooks().find((l) => l.role === 'active' && l.epoch === epoch),
        10 * LEASE_MS,
      );
      const stepped = await waitFor(
        `${ready.active}'s --on-standby`,
        () =>
          cluster
            .hooks()
            .find((l) => l.node === ready.active && l.role === 'standby' && l.epoch === ready.epoch),
        10 * LEASE_MS,
      );
      link.heal();
      total.push(promoted.ms - cutAt);
      gap.push(promoted.ms - stepped.ms);
      options.log(
        `stability: partition ${i + 1}/${options.partitions}: ${promoted.node} active after ${secs(promoted.ms - cutAt)}, gap ${secs(promoted.ms - stepped.ms, 3)}`,
      );
    }
  } finally {
    await cluster.close();
  }
  return { total: summarize(total), gap: summarize(gap) };
}

/** Waits until one agent is active, the others standby, all beating and all told their role. */
async function settled(cluster: Cluster): Promise<{ active: string; epoch: number }> {
  return waitFor(
    'one active and the others standby, all beating',
    async () => {
      const s = await cluster.status().catch(() => null);
      if (!s || s.active === null || s.handover !== null) return null;
      const fresh = s.nodes.every(
        (n) => n.alive && (n.lastSeenAgeMs ?? Number.POSITIVE_INFINITY) <= INTERVAL_MS + 500,
      );
      const told = Object.entries(cluster.agents).every(([id, proc]) =>
        new RegExp(`role: ${id === s.active ? 'active' : 'standby'} \\(epoch ${s.epoch}\\D`).test(
          proc.output(),
        ),
      );
      return fresh && told ? { active: s.active, epoch: s.epoch } : null;
    },
    30_000,
    50,
  );
}

async function startCluster(
  name: string,
  ids: string[],
  options: { failsafe: boolean; health?: boolean; links?: boolean; regions?: readonly string[] },
): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `failover-bench-${name}-`));
  const regions = options.regions ?? [];
  // One server, or (multi-Region) one per Region over one `failover store`.
  const ports = await Promise.all((regions.length ? regions : ['']).map(() => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const port = ports[0] as number;
  // Status is read through the last Region: the first is the one the region-loss run kills.
  const url = urls.at(-1) as string;
  const tokens: Record<string, string> = {};
  const peerPorts: Record<string, number> = {};
  const nodes = [];
  for (const [i, id] of ids.entries()) {
    const { token, sha256 } = mintToken();
    tokens[id] = token;
    peerPorts[id] = await freePort();
    nodes.push({
      id,
      address: `192.0.2.${i + 1}`,
      tokenSha256: sha256,
      peerUrl: `http://127.0.0.1:${peerPorts[id]}`,
    });
  }
  const configFile = join(dir, 'config.json');
  const config = {
    id: 'bench',
    heartbeatIntervalSeconds: 1,
    missedBeats: 3,
    failsafe: options.failsafe,
    nodes,
  };
  const clusters = [{ ...config, maxAutoFailoversPerHour: 1_000 }];
  writeFileSync(configFile, JSON.stringify(regions.length ? { regions, clusters } : { clusters }));
  const procs: Proc[] = [];
  const listening = async (proc: Proc) => {
    await waitFor(`${proc.name} to listen`, () => /listening on/.test(proc.output()), 30_000, 10, proc);
    return Date.now();
  };
  let storage = ['--data-dir', join(dir, 'data')];
  if (regions.length) {
    const storePort = await freePort();
    const store = startCli(`store ${name}`, ['store', '--memory', '--port', String(storePort)]);
    procs.push(store);
    await listening(store);
    storage = ['--store', `http://127.0.0.1:${storePort}`];
  }
  const servers: Proc[] = [];
  const startServer = async (i = 0) => {
    const server = startCli(`server ${name} ${regions[i] ?? ''}`, [
      ...['serve', '--config', configFile, ...storage, '--port', String(ports[i])],
      ...(regions.length ? ['--region', regions[i] as string] : []),
      ...['--sweep-interval', '0.5'],
    ]);
    servers[i] = server;
    procs.push(server);
    return listening(server);
  };
  for (let i = 0; i < ports.length; i++) await startServer(i);

  const log = join(dir, 'hooks.log');
  const stamp = `echo "$(date +%s%N) $FAILOVER_NODE $FAILOVER_ROLE $FAILOVER_EPOCH" >> '${log}'`;
  const links: Record<string, Link> = {};
  const agents: Record<string, Proc> = {};
  const beatUrls: Record<string, string> = {};
  for (const id of ids) {
    beatUrls[id] = urls.join(',');
    if (options.links) {
      const link = new Link();
      link.target = port;
      links[id] = link;
      beatUrls[id] = `http://127.0.0.1:${await link.open()}`;
    }
  }
  const startAgent = (id: string) => {
    const proc = startCli(
      `agent ${name}/${id}`,
      [
        'agent',
        ...['--url', beatUrls[id] as string, '--cluster', 'bench', '--node', id],
        ...['--on-active', stamp, '--on-standby', `sleep ${STOP_SECONDS}; ${stamp}`],
        ...(options.failsafe ? ['--peer-listen', `127.0.0.1:${peerPorts[id]}`] : []),
        ...(options.health ? ['--health-listen', '127.0.0.1:0'] : []),
      ],
      { FAILOVER_TOKEN: tokens[id] as string, FAILOVER_PEER_SECRET: PEER_SECRET },
    );
    procs.push(proc);
    agents[id] = proc;
  };
  for (const id of ids) startAgent(id);
  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  return {
    url,
    agents,
    links,
    hooks: () =>
      hookLines(log).map((line) => {
        const [ns, node, role, epoch] = line.split(' ');
        return {
          ms: Number(BigInt(ns as string) / 1000n) / 1000,
          node,
          role,
          epoch: Number(epoch),
        } as HookLine;
      }),
    status: () => getJson<ClusterStatus>('/v1/clusters/bench'),
    events: async () =>
      (await getJson<{ events: ClusterEvent[] }>('/v1/clusters/bench/events?limit=100')).events,
    killServer: () => stopProc(servers[0] as Proc, 'SIGKILL'),
    startAgent,
    startServer: () => startServer(0),
    async close() {
      await Promise.all(procs.map((p) => stopProc(p, 'SIGTERM')));
      for (const link of Object.values(links)) link.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
