/**
 * The local control plane: the real API handler and sweep behind node's HTTP server,
 * with dynalite as embedded storage. Requests are turned into the same API Gateway
 * (payload v2) events Lambda receives.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { Config } from '../shared/config.js';
import { ControlPlane, type SweepReport } from '../shared/control-plane/control-plane.js';
import { AuthError, ConfigError } from '../shared/errors.js';
import { bearerToken, createApiHandler, MAX_BODY_BYTES } from '../shared/http/api.js';
import type { Logger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { buildTargets } from '../shared/targets/index.js';
import { tokenMatches } from '../shared/tokens.js';
import { type LocalDynamo, startLocalDynamo } from './local-dynamo.js';
import { isLoopback } from './loopback.js';
import { UsageError } from './usage.js';

export interface LocalServerOptions {
  config: Config;
  logger: Logger;
  host?: string;
  port?: number;
  /** Folder for persistent state; omitted = memory only. */
  dataDir?: string;
  sweepIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
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

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const { config, logger } = options;
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && config.adminTokenSha256 === undefined) {
    throw new ConfigError(
      `refusing to listen on ${host} without adminTokenSha256 in the config: admin routes would be open to the network ` +
        '(mint one with `npx failover token`)',
    );
  }
  const targets = buildTargets(config, logger, options.env);
  const unlock = options.dataDir ? lockDataDir(options.dataDir) : () => undefined;
  let dynamo: LocalDynamo;
  try {
    dynamo = await startLocalDynamo(options.dataDir ? { path: join(options.dataDir, 'db') } : {});
  } catch (err) {
    unlock();
    throw err;
  }
  const controlPlane = new ControlPlane({
    config,
    store: new DynamoStateStore(dynamo.client, dynamo.table),
    targets,
    logger,
  });
  const handle = createApiHandler({
    controlPlane,
    logger,
    groups: ['node', 'admin'],
    authorizeAdmin: localAdminAuthorizer(host, config.adminTokenSha256),
  });

  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url === '')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(rootPointer(config, host, url)));
      return;
    }
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
 * `GET /`: where to look, for someone who opens the server's address. On loopback it lists
 * each cluster's status URL; beyond it, cluster ids are not given to unauthenticated callers.
 */
function rootPointer(config: Config, host: string, url: string): Record<string, unknown> {
  return {
    message: "failover control plane: a cluster's status is at GET /v1/clusters/{cluster}",
    ...(isLoopback(host) ? { clusters: config.clusters.map((c) => `${url}/v1/clusters/${c.id}`) } : {}),
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

/** Reads the body until it passes MAX_BODY_BYTES; past that, answers 413 itself and returns null. */
async function readLimited(req: IncomingMessage, res: ServerResponse): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const chunks: Buffer[] = [];
  let size = 0;
  const tooLarge = () => {
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end(
      JSON.stringify({
        error: 'PayloadTooLarge',
        message: `body is over the limit of ${MAX_BODY_BYTES} bytes`,
      }),
      () => req.destroy(),
    );
    return null;
  };
  if (declared > MAX_BODY_BYTES) return tooLarge();
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function toEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://local');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  url.searchParams.forEach((value, key) => {
    query[key] = key in query ? `${query[key]},${value}` : value;
  });
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: `${now.getTime()}-${Math.random().toString(36).slice(2, 10)}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    body: body.length ? body.toString('base64') : undefined,
    isBase64Encoded: body.length > 0,
  };
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
