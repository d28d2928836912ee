import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Config, loadConfigFile, parseConfig } from '../shared/config.js';
import { consoleLogger } from '../shared/logger.js';
import { mintToken, sha256Hex } from '../shared/tokens.js';
import { startLocalServer } from './local-server.js';
import { parseOptions, portOption } from './options.js';
import { UsageError } from './usage.js';

export const SERVE_HELP = `Usage: failover serve [options]     (npm start -- [options])

Runs the local control plane: the HTTP API, the sweep, and embedded storage.

Options:
  --config FILE          cluster config (default: ./failover.config.json if present, else a demo cluster)
  --host HOST            address to listen on (default 127.0.0.1; beyond loopback, admin routes need adminTokenSha256)
  --port PORT            port (default 8787; 0 picks a free one)
  --public-host NAME     a name operators reach the server by, beyond localhost, 127.0.0.1, [::1]
                         and the --host address; admin routes refuse other names in Host
                         (a DNS-rebinding guard). Repeat for several names
  --memory               keep state in memory only (default: persist under --data-dir)
  --data-dir DIR         where state persists (default .failover)
  --store URL            use the storage of a \`failover store\` (or any DynamoDB endpoint) instead of
                         embedded storage: several serve processes over one store are several
                         Regions over one table (instead of --memory / --data-dir)
  --region NAME          the Region this control plane plays; status shows which one took each beat
  --sweep-interval SECS  how often the sweep runs (default 1)
  --throttle             throttle node and admin routes as the deployed API does (sized from
                         the config: nodes ÷ interval × 4 per second); over it, 429
`;

const DEMO_NODES = [
  { id: 'a', address: '192.0.2.10' },
  { id: 'b', address: '192.0.2.11' },
];

export async function serve(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    config: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8787' },
    'public-host': { type: 'string', multiple: true, default: [] },
    memory: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    store: { type: 'string' },
    region: { type: 'string' },
    'sweep-interval': { type: 'string', default: '1' },
    throttle: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const port = portOption(values.port);
  const sweepSeconds = Number(values['sweep-interval']);
  if (!(sweepSeconds >= 0.1 && sweepSeconds <= 3600)) {
    throw new UsageError(`--sweep-interval must be 0.1-3600 seconds, got '${values['sweep-interval']}'`);
  }
  const store = values.store === undefined ? undefined : storeUrl(values.store);
  if (store && (values.memory || values['data-dir'] !== undefined)) {
    throw new UsageError('--store keeps the state: it goes without --memory and --data-dir');
  }
  const dataDir = values.memory || store ? undefined : resolve(values['data-dir'] ?? '.failover');

  const configPath =
    values.config ?? (existsSync('failover.config.json') ? 'failover.config.json' : undefined);
  const demo = configPath === undefined ? demoConfig(dataDir) : undefined;
  const config = demo?.config ?? loadConfigFile(configPath as string);

  const logger = consoleLogger();
  const server = await startLocalServer({
    config,
    logger,
    host: values.host,
    port,
    publicHosts: values['public-host'],
    ...(dataDir ? { dataDir } : {}),
    ...(store ? { store } : {}),
    ...(values.region ? { region: values.region } : {}),
    sweepIntervalMs: sweepSeconds * 1000,
    throttle: values.throttle,
  });

  const out = process.stdout;
  out.write(`failover control plane listening on ${server.url}\n`);
  out.write(
    `  config: ${configPath ?? 'built-in demo cluster'}; state: ${store ?? dataDir ?? 'in memory'}; ` +
      `${values.region ? `region ${values.region}; ` : ''}sweep every ${sweepSeconds} s\n`,
  );
  for (const cluster of config.clusters) {
    out.write(
      `  cluster ${cluster.id}: nodes ${cluster.nodes.map((n) => n.id).join(', ')}; ` +
        `interval ${cluster.heartbeatIntervalSeconds} s, lease ${cluster.leaseMs / 1000} s; ` +
        `status: curl -s ${server.url}/v1/clusters/${cluster.id}\n`,
    );
  }
  if (demo) {
    // Started by npm (npm start, npx) in the repository, the command is `npx failover`;
    // installed, it is `failover` itself.
    const command = process.env.npm_command ? 'npx failover' : 'failover';
    out.write("\nDemo nodes (paste one line per terminal; the token is the node's secret):\n");
    for (const [node, token] of Object.entries(demo.tokens)) {
      const path = `${server.url}/v1/clusters/demo/nodes/${node}/heartbeat`;
      out.write(
        `  ${node}: FAILOVER_TOKEN=${token} ${command} agent --url ${server.url} --cluster demo --node ${node}\n`,
      );
      out.write(
        `     or: while curl -fsS -X POST -H 'Authorization: Bearer ${token}' ${path}; do echo; sleep 2; done\n`,
      );
    }
  }

  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      logger.info(`${signal}: shutting down`);
      server.close().then(resolveStop, resolveStop);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

/**
 * The built-in demo cluster. Its tokens are printed at start-up; with persistent state
 * they are kept beside it so agents keep working across restarts.
 */
function demoConfig(dataDir: string | undefined): { config: Config; tokens: Record<string, string> } {
  const file = dataDir ? join(dataDir, 'demo-tokens.json') : undefined;
  let tokens: Record<string, string> = {};
  if (file && existsSync(file)) tokens = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const hashes: Record<string, string> = {};
  for (const node of DEMO_NODES) {
    const known = tokens[node.id];
    const minted = known === undefined ? mintToken() : undefined;
    if (minted) tokens[node.id] = minted.token;
    hashes[node.id] = minted?.sha256 ?? sha256Hex(known as string);
  }
  if (file && dataDir) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  }
  const config = parseConfig(
    {
      clusters: [
        {
          id: 'demo',
          heartbeatIntervalSeconds: 2,
          missedBeats: 3,
          nodes: DEMO_NODES.map((n) => ({ ...n, tokenSha256: hashes[n.id] })),
          targets: [{ type: 'log' }],
        },
      ],
    },
    'demo config',
  );
  return { config, tokens };
}

function storeUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
  } catch {
    // reported below
  }
  throw new UsageError(`--store must be an http(s) URL such as http://127.0.0.1:8000, got '${raw}'`);
}
