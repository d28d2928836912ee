/**
 * Embedded DynamoDB for the local control plane and the tests: dynalite in this process,
 * on a loopback port, spoken to through the real AWS SDK client.
 */
import type { AddressInfo } from 'node:net';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createTable } from '../shared/store/table.js';
import { sleep } from '../shared/time.js';
import { UsageError } from './usage.js';

export interface LocalDynamo {
  client: DynamoDBClient;
  table: string;
  endpoint: string;
  close(): Promise<void>;
}

/**
 * `path` persists to a folder (LevelDB); without it, state lives in memory. `port` 0 (the
 * default) picks a free one.
 */
export async function startLocalDynamo(
  options: { path?: string; table?: string; host?: string; port?: number } = {},
): Promise<LocalDynamo> {
  const dynalite = await loadDynalite();
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path ? { path: options.path } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const remote = await connectDynamo(`http://${options.host ?? '127.0.0.1'}:${port}`, options.table);
  return {
    ...remote,
    close: async () => {
      await remote.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A DynamoDB-compatible endpoint another process serves (`failover store`): the table is
 * created if missing, so any number of local control planes ("Regions") can share it.
 */
export async function connectDynamo(endpoint: string, table = 'failover'): Promise<LocalDynamo> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await createTable(client, table);
    await waitUntilActive(client, table);
  } catch (err) {
    client.destroy();
    throw new UsageError(`cannot use the store at ${endpoint}: ${(err as Error).message}`);
  }
  return {
    client,
    table,
    endpoint,
    close: async () => client.destroy(),
  };
}

/**
 * dynalite is the package's one dependency, and an optional one: hosts that only run the
 * agent, `status` or `run-if-active` install without it (`--omit=optional`).
 */
async function loadDynalite(): Promise<typeof import('dynalite').default> {
  try {
    return (await import('dynalite')).default;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new UsageError(
      "the local control plane's embedded storage, the optional package dynalite, is not installed " +
        '(installed with --omit=optional?): reinstall without it, or npm install -g dynalite',
    );
  }
}

/**
 * dynalite answers CreateTable at once but marks the table ACTIVE on a later timer (and,
 * with a data folder, a disk write); until then every item operation fails.
 */
async function waitUntilActive(client: DynamoDBClient, table: string): Promise<void> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const out = await client.send(new DescribeTableCommand({ TableName: table }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await sleep(5);
  }
  throw new Error(`table ${table} did not become ACTIVE`);
}
