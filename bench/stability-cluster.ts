/**
 * A failover cluster of real processes on loopback for the stability benchmark: one
 * server (or one per Region over one `failover store`), an agent per node whose hooks stamp
 * one shared log, optional TCP links the bench can cut, and the calls the measurements
 * make on it (status, events, kill and restart the server, restart an agent).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import { freePort, Link } from '../test/helpers/link.js';
import { hookLines } from '../test/helpers/processes.js';
import { type Proc, startCli, stopProc, waitFor } from './lib.js';

export const INTERVAL_MS = 1_000;
export const LEASE_MS = 3_000; // 3 missed beats
const PEER_SECRET = 'bench-peer-secret-0123456789';
/** What `--on-standby` does in the switchover runs: a service that takes a moment to stop. */
export const STOP_SECONDS = 0.1;

/** One hook run: when (ms since the epoch, ns precision), which node, which role, which epoch. */
export interface HookLine {
  ms: number;
  node: string;
  role: 'active' | 'standby';
  epoch: number;
}

export interface Cluster {
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

/** Waits until one agent is active, the others standby, all beating and all told their role. */
export async function settled(cluster: Cluster): Promise<{ active: string; epoch: number }> {
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

export async function startCluster(
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
