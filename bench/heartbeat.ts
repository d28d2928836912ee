/**
 * Heartbeat cost and speed.
 *
 * 1. DynamoDB work per heartbeat on the normal path: the real `createApiHandler` →
 *    `ControlPlane` → `DynamoStateStore` stack on dynalite (`startLocalDynamo`), with a
 *    middleware on the SDK client counting commands and reading dynalite's
 *    ConsumedCapacity. After a warm-up (first beats create the item and promote the first
 *    active), N agent-like beats (`{status, role, epoch}`) are counted. The cluster item's
 *    size is read back from dynalite for a 2-node and an 8-node cluster.
 * 2. The handler's own time: the same stack called directly with API Gateway v2 events,
 *    sequentially, warm; wall time per call (p50/p99) and `process.cpuUsage()` per call.
 *    dynalite runs in a child process here, so the CPU figure is the handler and the SDK
 *    only, not the emulator.
 * 3. Throughput and latency of `POST …/heartbeat` through the real local server
 *    (`startLocalServer`, dynalite in-process) over HTTP with a keep-alive agent, at
 *    concurrency 1, 16 and 64 for a fixed time each; 64 clusters, so concurrent beats hit
 *    different items. The load generator shares the process (and the 2 cores) with the
 *    server, and the server's background sweep is turned off to measure the route alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { startLocalDynamo } from '../cli/local-dynamo.js';
import { startLocalServer } from '../cli/local-server.js';
import { silentLogger } from '../shared/logger.js';
import { createTable } from '../shared/store/table.js';
import { attachProbe, itemSize, type ProbeSnapshot } from './ddb-probe.js';
import { agentBeater, heartbeatStack, makeFleet } from './heartbeat-stack.js';
import {
  type BenchOptions,
  int,
  ms,
  pass,
  ROOT,
  type Row,
  running,
  type Summary,
  summarize,
  waitFor,
} from './lib.js';

export interface HeartbeatData {
  ops: {
    beats: number;
    snapshot: ProbeSnapshot;
    writesPerBeat: number;
    readsPerBeat: number;
    capacityReported: boolean;
    /** Write units per beat as dynalite reports them (item size rounded up to 1 KB). */
    wruPerBeat: { nodes2: number; nodes8: number; nodes8Rich: number };
    /** Cluster item size; `nodes8Rich`: 8 nodes whose beats also carry version, position and lag. */
    itemBytes: { nodes2: number; nodes8: number; nodes8Rich: number };
  };
  handler: { beats: number; cpuMsPerBeat: number; wallMs: Summary };
  http: Array<{
    concurrency: number;
    seconds: number;
    requests: number;
    errors: number;
    rps: number;
    latencyMs: Summary;
  }>;
}

const HANDLER_BUDGET_P50_MS = 5;

export async function runHeartbeat(options: BenchOptions): Promise<{ rows: Row[]; data: HeartbeatData }> {
  const { quick, log } = options;
  log('heartbeat: counting DynamoDB operations per beat');
  const ops = await countOperations(quick ? 100 : 400);
  log('heartbeat: timing the handler (dynalite in a child process)');
  const handler = await timeHandler(quick ? 500 : 2_000);
  log('heartbeat: HTTP throughput through the local server');
  const httpRuns = await httpThroughput([1, 16, 64], quick ? 2 : 5);
  const data: HeartbeatData = { ops, handler, http: httpRuns };

  const commands = Object.entries(ops.snapshot.commands)
    .map(([name, count]) => `${name.replace(/Command$/, '')} ×${count}`)
    .join(', ');
  const rows: Row[] = [
    {
      figure: 'DynamoDB operations per heartbeat (normal path)',
      measured: `${fmt(ops.writesPerBeat)} write, ${fmt(ops.readsPerBeat)} reads (${ops.beats} beats: ${commands})`,
      budget: '1 write, 0 reads',
      status: pass(ops.writesPerBeat === 1 && ops.readsPerBeat === 0),
    },
    {
      figure: 'Consumed capacity per heartbeat (dynalite `ReturnConsumedCapacity`)',
      measured: ops.capacityReported
        ? `${fmt(ops.wruPerBeat.nodes2)} WRU (2-node item ${ops.itemBytes.nodes2} B); ` +
          `${fmt(ops.wruPerBeat.nodes8)} WRU (8-node item ${ops.itemBytes.nodes8} B); ` +
          `${fmt(ops.wruPerBeat.nodes8Rich)} WRU (8 nodes reporting version/position/lag: ${ops.itemBytes.nodes8Rich} B)`
        : `not reported by the emulator; item ${ops.itemBytes.nodes2} B (2 nodes), ${ops.itemBytes.nodes8} B (8 nodes), ` +
          `${ops.itemBytes.nodes8Rich} B (8 nodes reporting version/position/lag)`,
      budget: 'report',
      status: 'report',
    },
    {
      figure: 'Heartbeat handler, warm: wall time per call p50 (p99)',
      measured: `${ms(handler.wallMs.p50)} (${ms(handler.wallMs.p99)}), n=${handler.beats}`,
      budget: `p50 < ${HANDLER_BUDGET_P50_MS} ms`,
      status: pass(handler.wallMs.p50 < HANDLER_BUDGET_P50_MS),
    },
    {
      figure: 'Heartbeat handler CPU per call (handler + SDK, emulator excluded)',
      measured: ms(handler.cpuMsPerBeat),
      budget: 'report',
      status: 'report',
    },
    ...httpRuns.map(
      (r): Row => ({
        figure: `Heartbeat over HTTP, local server, concurrency ${r.concurrency}`,
        measured:
          `${int(r.rps)} req/s; p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}` +
          (r.errors ? `; ${r.errors} errors` : ''),
        budget: 'report',
        status: 'report',
      }),
    ),
  ];
  return { rows, data };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

async function countOperations(beats: number): Promise<HeartbeatData['ops']> {
  const dynamo = await startLocalDynamo();
  try {
    const probe = attachProbe(dynamo.client, { consumedCapacity: true });
    const { config, tokens } = makeFleet(
      [
        { id: 'two', nodes: 2 },
        { id: 'eight', nodes: 8 },
        { id: 'rich', nodes: 8 },
      ],
      [{ type: 'log' }],
    );
    // What a database replica's beat might carry besides its status.
    const rich = { version: '16.4', position: '3A/2B4C8D10', lagSeconds: 0.25 };
    const beat = agentBeater(heartbeatStack(dynamo.client, dynamo.table, config), tokens);
    const nodesOf = (id: string) => config.clusters.find((c) => c.id === id)?.nodes.map((n) => n.id) ?? [];
    // Warm-up: each node's first beat creates its map; the first beat of a cluster promotes.
    for (const cluster of ['two', 'eight', 'rich']) {
      for (let round = 0; round < 2; round++) {
        for (const node of nodesOf(cluster)) await beat(cluster, node, cluster === 'rich' ? rich : {});
      }
    }

    probe.reset();
    const two = nodesOf('two');
    for (let i = 0; i < beats; i++) await beat('two', two[i % two.length] as string);
    const snapshot = probe.snapshot();

    probe.reset();
    const eight = nodesOf('eight');
    const beats8 = Math.min(beats, 160);
    for (let i = 0; i < beats8; i++) await beat('eight', eight[i % eight.length] as string);
    const snapshot8 = probe.snapshot();

    probe.reset();
    for (let i = 0; i < beats8; i++) await beat('rich', eight[i % eight.length] as string, rich);
    const snapshot8Rich = probe.snapshot();

    const size = async (cluster: string) => {
      const out = await dynamo.client.send(
        new GetItemCommand({
          TableName: dynamo.table,
          Key: marshall({ pk: `CLUSTER#${cluster}`, sk: 'STATE' }),
          ConsistentRead: true,
        }),
      );
      return itemSize(out.Item ?? {});
    };
    const capacityReported = snapshot.missingCapacity === 0 && snapshot.writeUnits > 0;
    return {
      beats,
      snapshot,
      writesPerBeat: snapshot.writes / beats,
      readsPerBeat: snapshot.reads / beats,
      capacityReported,
      wruPerBeat: {
        nodes2: snapshot.writeUnits / beats,
        nodes8: snapshot8.writeUnits / beats8,
        nodes8Rich: snapshot8Rich.writeUnits / beats8,
      },
      itemBytes: { nodes2: await size('two'), nodes8: await size('eight'), nodes8Rich: await size('rich') },
    };
  } finally {
    await dynamo.close();
  }
}

/** dynalite in its own process, so that CPU measured here is not the emulator's. */
async function externalDynalite(): Promise<{ child: ChildProcess; endpoint: string }> {
  const script =
    "const d = require('dynalite')({ createTableMs: 0 });" +
    "d.listen(0, '127.0.0.1', () => console.log('port ' + d.address().port));";
  const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const port = await waitFor('dynalite child to listen', () => /port (\d+)/.exec(out)?.[1], 15_000);
  return { child, endpoint: `http://127.0.0.1:${port}` };
}

async function timeHandler(beats: number): Promise<HeartbeatData['handler']> {
  const { child, endpoint } = await externalDynalite();
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await createTable(client, 'failover');
    const { config, tokens } = makeFleet([{ id: 'two', nodes: 2 }], [{ type: 'log' }]);
    const beat = agentBeater(heartbeatStack(client, 'failover', config), tokens);
    for (let i = 0; i < 200; i++) await beat('two', i % 2 ? 'n2' : 'n1');
    const wall: number[] = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < beats; i++) {
      const t0 = performance.now();
      await beat('two', i % 2 ? 'n2' : 'n1');
      wall.push(performance.now() - t0);
    }
    const used = process.cpuUsage(cpu);
    return { beats, cpuMsPerBeat: (used.user + used.system) / 1000 / beats, wallMs: summarize(wall) };
  } finally {
    client.destroy();
    if (running(child)) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  }
}

function post(agent: http.Agent, url: URL, path: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path,
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.once('error', reject);
    req.end(body);
  });
}

async function httpThroughput(concurrencies: number[], seconds: number): Promise<HeartbeatData['http']> {
  const clusters = Array.from({ length: 64 }, (_, i) => ({ id: `c${String(i).padStart(2, '0')}`, nodes: 2 }));
  const { config, tokens } = makeFleet(clusters);
  const server = await startLocalServer({
    config,
    logger: silentLogger,
    port: 0,
    // The sweep would read all 64 items every second: off, to measure the route alone.
    sweepIntervalMs: 3_600_000,
    env: {},
  });
  const url = new URL(server.url);
  const results: HeartbeatData['http'] = [];
  try {
    // Warm-up: the first beat of each cluster's n1 creates the item and makes n1 active.
    const warm = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const pathOf = (c: string) => `/v1/clusters/${c}/nodes/n1/heartbeat`;
    for (let round = 0; round < 2; round++) {
      await Promise.all(
        clusters.map((c) =>
          post(warm, url, pathOf(c.id), tokens.get(`${c.id}/n1`) as string, '{"status":"ok"}'),
        ),
      );
    }
    warm.destroy();
    const body = JSON.stringify({ status: 'ok', role: 'active', epoch: 1 });
    for (const concurrency of concurrencies) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const latencies: number[] = [];
      let errors = 0;
      const start = performance.now();
      const end = start + seconds * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, worker) => {
          const cluster = clusters[worker % clusters.length]?.id as string;
          const token = tokens.get(`${cluster}/n1`) as string;
          while (performance.now() < end) {
            const t0 = performance.now();
            try {
              const status = await post(agent, url, pathOf(cluster), token, body);
              if (status !== 200) errors += 1;
            } catch {
              errors += 1;
            }
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const elapsed = (performance.now() - start) / 1000;
      agent.destroy();
      results.push({
        concurrency,
        seconds: elapsed,
        requests: latencies.length,
        errors,
        rps: latencies.length / elapsed,
        latencyMs: summarize(latencies),
      });
    }
  } finally {
    await server.close();
  }
  return results;
}
