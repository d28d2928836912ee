/**
 * Embedded DynamoDB for the local control plane and the tests: dynalite in this process,
 * on a loopback port, spoken to through the real AWS SDK client.
 */
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { createTable } from '../shared/dynamo-store.js';

export interface LocalDynamo {
  client: DynamoDBClient;
  table: string;
  endpoint: string;
  close(): Promise<void>;
}

/** `path` persists to a folder (LevelDB); without it, state lives in memory. */
export async function startLocalDynamo(
  options: { path?: string; table?: string } = {},
): Promise<LocalDynamo> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path ? { path: options.path } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const table = options.table ?? 'failover';
  await createTable(client, table);
  return {
    client,
    table,
    endpoint,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
