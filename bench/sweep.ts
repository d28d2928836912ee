/**
 * Sweep scale. For N clusters of 2 nodes (1,000 and 10,000; quick: 1,000), builds a
 * config with N clusters (no targets) and seeds their state in dynalite as heartbeats
 * leave it. Two template clusters go through the real store: both nodes beat
 * (`recordHeartbeat`), the first is promoted (`decide` + `commitPromotion` +
 * `flushOutbox`); in the *due* one the active's last beat is a minute old while the
 * standby beat just now. Every other cluster is a copy of one of the two templates (its
 * state item and its event item, with the cluster id changed), written with BatchWriteItem
 * (25 items per call, 8 calls in flight): through the store it would take about 12 SDK
 * calls per cluster, ~20 s per 1,000 clusters on this machine, too slow for the quick run.
 * 1% of clusters are due. A sample of the copies is read back and checked with `decide`.
 * Seeding is timed separately.
 *
 * Then one `ControlPlane.sweep()` is timed at a fixed control-plane clock, with a
 * middleware on the SDK client counting commands and the items BatchGetItem returned
 * (and the read units dynalite reports). A second sweep right after, with nothing due,
 * shows what the sweep reads when there is nothing to do.
 */
import { performance } from 'node:perf_hooks';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { startLocalDynamo } from '../cli/local-dynamo.js';
import {
  type ClusterConfig,
  type Config,
  parseConfig,
  parseConfigText,
  serializeConfig,
} from '../shared/config.js';
import { ControlPlane, type SweepReport } from '../shared/control-plane/control-plane.js';
import { decide } from '../shared/core/decide.js';
import type { ClusterState } from '../shared/core/state.js';
import { silentLogger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { sha256Hex } from '../shared/tokens.js';
import { attachProbe, type ProbeSnapshot } from './ddb-probe.js';
import { type BenchOptions, int, ms, pass, type Row, secs } from './lib.js';

const IN_FLIGHT = 8;
const DUE_EVERY = 100; // 1% of clusters are due
/** The sweep Lambda's timeout (`infra/control-plane.ts`): one scheduled run must fit in it. */
const SWEEP_TIMEOUT_MS = 60_000;

export interface SweepRun {
  clusters: number;
  due: number;
  seedSeconds: number;
  /** Items written per second while seeding (state and event items). */
  seedItemsPerSecond: number;
  first: { ms: number; report: SweepReport; ops: ProbeSnapshot };
  idle: { ms: number; report: SweepReport; ops: ProbeSnapshot };
}

export async function runSweep(options: BenchOptions): Promise<{ rows: Row[]; data: { runs: SweepRun[] } }> {
  const sizes = options.quick ? [1_000] : [1_000, 10_000];
  const runs: SweepRun[] = [];
  for (const n of sizes) runs.push(await sweepScale(n, options));

  const rows: Row[] = runs.map((r): Row => {
    const reads = r.first.ops.commands.BatchGetItemCommand ?? 0;
    return {
      figure: `Sweep of ${int(r.clusters)} clusters (${r.due} due)`,
      measured:
        `${secs(r.first.ms)}; ${int(r.first.ops.itemsRead)} items read in ${reads} BatchGetItem ` +
        `(${int(r.first.ops.readUnits)} RRU); ${r.first.report.promoted} promoted; ` +
        `${r.first.ops.writes} writes; seeding ${r.seedSeconds.toFixed(0)} s`,
      budget: `one run < ${SWEEP_TIMEOUT_MS / 1000} s (sweep Lambda timeout)`,
      status: pass(
        r.first.ms < SWEEP_TIMEOUT_MS && r.first.report.errors === 0 && r.first.report.promoted === r.due,
      ),
    };
  });
  if (!sizes.includes(10_000)) {
    rows.push({
      figure: 'Sweep of 10,000 clusters',
      measured: 'not run (--quick)',
      budget: `one run < ${SWEEP_TIMEOUT_MS / 1000} s`,
      status: 'not run',
    });
  }
  const largest = runs[runs.length - 1] as SweepRun;
  // The config ships in each function's bundle; a 10,000-cluster one is parsed and
  // validated at every cold start.
  const bigConfig = serializeConfig(clusterConfig(10_000));
  const parseMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    parseConfigText(bigConfig);
    parseMs.push(performance.now() - started);
  }
  const queries = runs.reduce((sum, r) => sum + (r.first.ops.commands.QueryCommand ?? 0), 0);
  rows.push(
    {
      figure: '10,000-cluster config: size in the bundle, parse and validation at cold start',
      measured: `${(Buffer.byteLength(bigConfig) / 1024 ** 2).toFixed(1)} MB; ${ms(Math.min(...parseMs))} (best of 3)`,
      budget: 'report',
      status: 'report',
    },
    {
      figure: 'Sweep reads history (event log)?',
      measured: `no: ${queries} Query calls; events are never read by the sweep`,
      budget: 'reads do not grow with history',
      status: pass(queries === 0),
    },
    {
      figure: 'Sweep reads grow with clusters due, not all clusters?',
      measured:
        `no: ${runs.map((r) => `${int(r.clusters)} clusters → ${int(r.first.ops.itemsRead)} items`).join(', ')}; ` +
        `with 0 due: ${int(largest.idle.ops.itemsRead)} items (every configured cluster's state item, every run)`,
      budget: 'reads growing with clusters due',
      status: pass(largest.idle.ops.itemsRead < largest.clusters / 10),
    },
  );
  return { rows, data: { runs } };
}

/** N clusters of 2 nodes, interval 5 s, lease 15 s, no targets. */
function clusterConfig(n: number): Config {
  const hash = sha256Hex('bench-token');
  const node = (id: string, i: number) => ({ id, address: `192.0.2.${i}`, tokenSha256: hash });
  return parseConfig(
    {
      clusters: Array.from({ length: n }, (_, i) => ({
        id: `c${String(i).padStart(5, '0')}`,
        heartbeatIntervalSeconds: 5,
        missedBeats: 3,
        nodes: [node('a', 1), node('b', 2)],
      })),
    },
    'sweep bench config',
  );
}

async function sweepScale(n: number, options: BenchOptions): Promise<SweepRun> {
  const config = clusterConfig(n);
  const dynamo = await startLocalDynamo();
  try {
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    const probe = attachProbe(dynamo.client, { consumedCapacity: true });
    const now = Date.now();
    const staleAt = now - 60_000;

    options.log(`sweep: seeding ${int(n)} clusters`);
    const seedStart = performance.now();
    const clusters = config.clusters;
    const isDue = (i: number) => i % DUE_EVERY === 0;
    // Templates through the real store: c00000 is due, c00001 healthy.
    await seed(store, clusters[0] as ClusterConfig, staleAt, now);
    await seed(store, clusters[1] as ClusterConfig, now - 1_000, now);
    const templates = {
      due: await rawItems(dynamo.client, dynamo.table, (clusters[0] as ClusterConfig).id),
      healthy: await rawItems(dynamo.client, dynamo.table, (clusters[1] as ClusterConfig).id),
    };
    const puts: Array<Record<string, AttributeValue>> = [];
    for (let i = 2; i < n; i++) {
      const template = isDue(i) ? templates.due : templates.healthy;
      const id = (clusters[i] as ClusterConfig).id;
      for (const item of template.items)
        puts.push(JSON.parse(JSON.stringify(item).replaceAll(template.id, id)));
    }
    await batchWrite(dynamo.client, dynamo.table, puts);
    await checkSample(store, clusters, isDue, now);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const due = Math.ceil(n / DUE_EVERY);

    const controlPlane = new ControlPlane({
      config,
      store,
      targets: new Map(),
      logger: silentLogger,
      now: () => now,
    });
    const timed = async () => {
      probe.reset();
      const t0 = performance.now();
      const report = await controlPlane.sweep();
      return { ms: performance.now() - t0, report, ops: probe.snapshot() };
    };
    options.log(`sweep: sweeping ${int(n)} clusters`);
    const first = await timed();
    const idle = await timed();
    return {
      clusters: n,
      due,
      seedSeconds,
      seedItemsPerSecond: (puts.length + 4) / seedSeconds,
      first,
      idle,
    };
  } finally {
    await dynamo.close();
  }
}

/**
 * One cluster as heartbeats leave it: both nodes beat at `activeSeen`, `a` is promoted,
 * its event copied to the log; `b` beats again at `now`. With `activeSeen` a minute ago,
 * `a`'s lease (15 s) has expired and `b` is healthy: the cluster is due.
 */
async function seed(store: DynamoStateStore, cluster: ClusterConfig, activeSeen: number, now: number) {
  await store.recordHeartbeat(cluster, 'a', { status: 'ok' }, activeSeen);
  let state = await store.recordHeartbeat(cluster, 'b', { status: 'ok' }, activeSeen);
  const decision = decide(state, cluster, activeSeen);
  if (decision.type !== 'promote')
    throw new Error(`seeding ${cluster.id}: expected a promotion, got ${decision.type}`);
  const committed = await store.commitPromotion(decision, cluster.id, activeSeen);
  if (committed === null) throw new Error(`seeding ${cluster.id}: promotion not committed`);
  await store.flushOutbox(committed);
  state = await store.recordHeartbeat(cluster, 'b', { status: 'ok' }, now);
  if (state.active !== 'a') throw new Error(`seeding ${cluster.id}: expected a active, got ${state.active}`);
}

/** The cluster's items as stored: its state item and its event log (one promotion each here). */
async function rawItems(client: DynamoDBClient, table: string, id: string) {
  const out = await client.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `CLUSTER#${id}` } },
      ConsistentRead: true,
    }),
  );
  const items = out.Items ?? [];
  if (items.length !== 2)
    throw new Error(`template ${id}: expected a state and an event item, got ${items.length}`);
  return { id, items };
}

/** BatchWriteItem, 25 puts per call, 8 calls in flight, unprocessed items retried. */
async function batchWrite(
  client: DynamoDBClient,
  table: string,
  items: Array<Record<string, AttributeValue>>,
) {
  const batches: Array<Array<Record<string, AttributeValue>>> = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let b = next++; b < batches.length; b = next++) {
        let requests = (batches[b] as Array<Record<string, AttributeValue>>).map((Item) => ({
          PutRequest: { Item },
        }));
        for (let attempt = 0; requests.length > 0; attempt++) {
          if (attempt > 20) throw new Error('BatchWriteItem: items still unprocessed after 20 attempts');
          const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
          requests = (out.UnprocessedItems?.[table] ?? []) as typeof requests;
        }
      }
    }),
  );
}

/** Reads back every 97th cluster and checks the core sees it as seeded: due or steady. */
async function checkSample(
  store: DynamoStateStore,
  clusters: readonly ClusterConfig[],
  isDue: (i: number) => boolean,
  now: number,
) {
  const sample = clusters.map((c, i) => ({ c, i })).filter(({ i }) => i % 97 === 0 || isDue(i));
  const states = await store.loadMany(sample.map(({ c }) => c.id));
  sample.forEach(({ c, i }, k) => {
    const type = decide(states[k] as ClusterState, c, now).type;
    const want = isDue(i) ? 'promote' : 'steady';
    if (type !== want) throw new Error(`seeded ${c.id}: decide says ${type}, expected ${want}`);
  });
}
