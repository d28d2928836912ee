/**
 * The local control plane: the real API handler and sweep behind node's HTTP server,
 * with dynalite as embedded storage. Requests are turned into the same API Gateway
 * (payload v2) events Lambda receives.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Config } from '../shared/config.js';
import { ControlPlane, type SweepReport } from '../shared/control-plane/control-plane.js';
import { AuthError, ConfigError, ThrottledError } from '../shared/errors.js';
import { bearerToken, createApiHandler } from '../shared/http/api.js';
import type { RouteGroup } from '../shared/http/routes.js';
import { TokenBucket, throttles } from '../shared/http/throttle.js';
import type { Logger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { buildTargets } from '../shared/targets/index.js';
import { tokenMatches } from '../shared/tokens.js';
import { allowedHosts, localRequestCheck, readLimited, toEvent } from './http-edge.js';
import { connectDynamo, type LocalDynamo, startLocalDynamo } from './local-dynamo.js';
import { isLoopback } from './loopback.js';
import { UsageError } from './usage.js';

export interface LocalServerOptions {
  config: Config;
  logger: Logger;
  host?: string;
  port?: number;
  /** Folder for persistent state; omitted = memory only. */
  dataDir?: string;
  /**
   * A DynamoDB endpoint to use instead of embedded storage (`failover store`): several
   * local control planes over one store are several Regions over one table.
   */
  store?: string;
  /** The Region this control plane plays (recorded with every beat it takes). */
  region?: string;
  sweepIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Names (or addresses) operators reach the server by, beyond the loopback names and the
   * listen address: the only other names admin routes answer to (see localRequestCheck).
   */
  publicHosts?: readonly string[];
  /**
   * Throttle node and admin routes as the deployed HTTP API's routes are (sized from the
   * config, `shared/http/throttle.ts`): a request over its group's bucket gets a 429.
   */
  throttle?: boolean;
}

export interface LocalServer {
  url: string;
  controlPlane: ControlPlane;
  dynamo: LocalDynamo;
  sweep(): Promise<SweepReport>;
  close(): Promise<void>;
}

/**
 * Admin routes locally: on loopback only local users can reach the server, so they are
 * open; beyond it, they need the admin token whose hash is in the config.
 */
export function localAdminAuthorizer(host: string, adminTokenSha256: string | undefined) {
  return (event: APIGatewayProxyEventV2): string => {
    if (isLoopback(host)) return 'local';
    const token = bearerToken(event);
    if (token === undefined || !tokenMatches(token, adminTokenSha256)) {
      throw new AuthError('admin routes need a valid admin token');
    }
    return 'admin-token';
  };
}

/** The stage's per-route-group throttles, as token buckets on this process's monotonic clock. */
function localThrottle(config: Config): (group: RouteGroup) => void {
  const sizes = throttles(config);
  const now = () => performance.now();
  const buckets = { node: new TokenBucket(sizes.node, now()), admin: new TokenBucket(sizes.admin, now()) };
  return (group) => {
    if (!buckets[group].take(now())) {
      throw new ThrottledError(
        `too many requests on ${group} routes (limit ${sizes[group].rateLimit}/s, burst ${sizes[group].burstLimit})`,
      );
    }
  };
}

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const { config, logger } = options;
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && config.adminTokenSha256 === undefined) {
    throw new ConfigError(
      `refusing to listen on ${host} without adminTokenSha256 in the config: admin routes would be open to the network ` +
        '(mint one with `npx failover token`)',
    );
  }
  const checkHost = localRequestCheck(allowedHosts(host, options.publicHosts));
  const throttle = options.throttle ? localThrottle(config) : undefined;
  const checkRequest = (event: APIGatewayProxyEventV2, group: RouteGroup) => {
    // API Gateway throttles before anything else runs.
    throttle?.(group);
    checkHost(event, group);
  };
  const targets = buildTargets(config, logger, options.env);
  const unlock = options.dataDir ? lockDataDir(options.dataDir) : () => undefined;
  let dynamo: LocalDynamo;
  try {
    dynamo = options.store
      ? await connectDynamo(options.store)
      : await startLocalDynamo(options.dataDir ? { path: join(options.dataDir, 'db') } : {});
  } catch (err) {
    unlock();
    throw err;
  }
  const controlPlane = new ControlPlane({
    config,
    store: new DynamoStateStore(dynamo.client, dynamo.table),
    targets,
    logger,
    ...(options.region ? { region: options.region } : {}),
    // dynalite has no TTL: the sweep deletes expired events, as on a multi-Region table.
    pruneEventsPerSweep: 25,
  });
  const handle = createApiHandler({
    controlPlane,
    logger,
    groups: ['node', 'admin'],
    authorizeAdmin: localAdminAuthorizer(host, config.adminTokenSha256),
    checkRequest,
  });

  const server = createServer((req, res) => {
    readLimited(req, res)
      .then(async (body) => {
        if (body === null) return;
        const result = await handle(toEvent(req, body));
        res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
        res.end(result.body);
      })
      .catch((err: Error) => {
        logger.error(`request failed: ${err.message}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'Internal', message: 'internal error' }));
      });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  const port = options.port ?? 8787;
  try {
    await listen(server, host, port);
  } catch (err) {
    await dynamo.close();
    unlock();
    if ((err as { code?: unknown }).code === 'EADDRINUSE') {
      throw new UsageError(`port ${port} is in use; pick another with --port (0 = any free port)`);
    }
    throw err;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  // The sweep: the safety net behind the inline path. Never overlaps itself.
  let sweeping: Promise<SweepReport> | null = null;
  const sweep = () => {
    sweeping ??= controlPlane.sweep().finally(() => {
      sweeping = null;
    });
    return sweeping;
  };
  const timer = setInterval(() => {
    sweep().catch((err: Error) => logger.error(`sweep failed: ${err.message}`));
  }, options.sweepIntervalMs ?? 1000);

  return {
    url,
    controlPlane,
    dynamo,
    sweep,
    close: async () => {
      clearInterval(timer);
      await sweeping?.catch(() => undefined);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await dynamo.close();
      unlock();
    },
  };
}

/**
 * One server per data directory: dynalite's LevelDB cannot be opened twice, and fails deep
 * inside a request when it is. The lock file holds the owner's pid; a lock whose process
 * is gone (a crash, kill -9) is taken over. Returns the release.
 */
function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'server.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && processExists(owner)) {
      throw new UsageError(
        `${dir} is in use by another failover server (pid ${owner}); stop it, or give this one ` +
          'its own state with --data-dir DIR, or none with --memory',
      );
    }
    rmSync(file, { force: true }); // stale: its server is gone
  }
  throw new UsageError(`cannot lock the data directory ${dir}: another server is starting there`);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM'; // exists, owned by another user
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
