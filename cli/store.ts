/**
 * `failover store`: the local control plane's embedded storage (dynalite) on a port of its
 * own, so that several `failover serve --store URL` processes share one table, as the
 * control planes of several Regions share one multi-Region strongly consistent table.
 */
import { resolve } from 'node:path';
import { startLocalDynamo } from './local-dynamo.js';
import { parseOptions, portOption } from './options.js';
import { UsageError } from './usage.js';

export const STORE_HELP = `Usage: failover store [--port PORT] [--host HOST] [--memory | --data-dir DIR]

Runs the local control plane's storage on its own port, for several \`failover serve
--store http://HOST:PORT\` processes at once (local Regions over one table).

Options:
  --host HOST      address to listen on (default 127.0.0.1)
  --port PORT      port (default 8000; 0 picks a free one)
  --memory         keep state in memory only (default: persist under --data-dir)
  --data-dir DIR   where state persists (default .failover-store)
`;

export async function store(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8000' },
    memory: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(STORE_HELP);
    return 0;
  }
  const port = portOption(values.port);
  if (values.memory && values['data-dir'] !== undefined)
    throw new UsageError('--memory and --data-dir exclude each other');
  const path = values.memory ? undefined : resolve(values['data-dir'] ?? '.failover-store');
  let dynamo: Awaited<ReturnType<typeof startLocalDynamo>>;
  try {
    dynamo = await startLocalDynamo({ host: values.host, port, ...(path ? { path } : {}) });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EADDRINUSE')
      throw new UsageError(`port ${port} is in use; pick another with --port (0 = any free port)`);
    throw err;
  }
  process.stdout.write(
    `failover store listening on ${dynamo.endpoint} (table ${dynamo.table}; state: ${path ?? 'in memory'})\n` +
      `  control planes: failover serve --store ${dynamo.endpoint} --region NAME --port PORT\n`,
  );
  await new Promise<void>((done) => {
    const stop = () => dynamo.close().then(done, done);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
