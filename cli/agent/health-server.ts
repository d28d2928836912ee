/**
 * The agent's health endpoints, for load balancer and Route 53 health checks: they read who
 * is active from the agent itself, so traffic can follow the active node with no
 * control-plane API call at failover time.
 *
 *   GET /active   200 while this node may act as active (the lease keeper's view: a
 *                 confirmed lease whose self-demotion deadline is still ahead), else 503
 *   GET /standby  the reverse
 *   GET /health   200 while the agent runs and its last heartbeat was answered, else 503
 *
 * Each answers a small JSON body {role, epoch, leaseRemainingMs, heartbeatOk}, never
 * cached. No auth: they reveal only the role. Nothing else is served, no request body is
 * read, and header size, header count, connections and time per request are bounded, so
 * the port cannot be used to tie up the agent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../usage.js';
import type { ListenAddress } from './args.js';
import type { LeaseView } from './lease-keeper.js';

/** A health check is one small GET answered at once: anything bigger or slower is refused or cut. */
const LIMITS = {
  /** Request line and headers, in bytes; beyond it Node answers 431. */
  maxHeaderSize: 4_096,
  /** Headers beyond this count are dropped unread. */
  maxHeadersCount: 32,
  headersTimeout: 2_000,
  requestTimeout: 5_000,
  keepAliveTimeout: 5_000,
  /** How often the two timeouts above are enforced (Node's default is every 30 s). */
  connectionsCheckingInterval: 500,
  /** Load balancer nodes and Route 53's checkers together stay far below this; beyond it sockets are dropped. */
  maxConnections: 64,
} as const;

const HEALTH_PATHS = ['/active', '/standby', '/health'] as const;
type HealthPath = (typeof HEALTH_PATHS)[number];

/** What the agent knows at the moment of a request. */
export interface HealthSnapshot {
  view: LeaseView;
  /** The agent runs and its last heartbeat was answered. */
  heartbeatOk: boolean;
}

export interface HealthBody {
  /** null until the control plane's first answer. */
  role: LeaseView['role'];
  epoch: number | null;
  /** While active: whole milliseconds left before the self-demotion deadline (rounded down). */
  leaseRemainingMs: number | null;
  heartbeatOk: boolean;
}

/** One endpoint's status for a snapshot. */
function healthStatus(path: HealthPath, snapshot: HealthSnapshot): 200 | 503 {
  const active = snapshot.view.role === 'active';
  switch (path) {
    case '/active':
      return active ? 200 : 503;
    case '/standby':
      return active ? 503 : 200;
    case '/health':
      return snapshot.heartbeatOk ? 200 : 503;
    default: {
      const unknown: never = path;
      return unknown;
    }
  }
}

function healthBody({ view, heartbeatOk }: HealthSnapshot): HealthBody {
  const remaining = view.leaseRemainingMs;
  return {
    role: view.role,
    epoch: view.epoch,
    leaseRemainingMs: remaining === null ? null : Math.floor(remaining),
    heartbeatOk,
  };
}

export interface HealthServer {
  /** The address it listens on, e.g. http://127.0.0.1:8008 (the real port when 0 was asked). */
  url: string;
  /** Stops listening and cuts open connections. */
  close(): Promise<void>;
}

/**
 * Listens on `listen`; `snapshot` is read once per request. A listen failure (port in use,
 * address not on this host) is a UsageError with a one-line message. `log` gets server
 * errors after start, which must not end the agent.
 */
export async function startHealthServer(
  listen: ListenAddress,
  snapshot: () => HealthSnapshot,
  log: (message: string) => void,
): Promise<HealthServer> {
  const { maxHeadersCount, maxConnections, ...options } = LIMITS;
  const server = createServer(options, (req, res) => respond(req, res, snapshot));
  server.maxHeadersCount = maxHeadersCount;
  server.maxConnections = maxConnections;
  await listenOn(server, listen);
  server.on('error', (err) => log(`health server: ${err.message}`));
  const { address, family, port } = server.address() as AddressInfo;
  return {
    url: `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listenOn(server: Server, { host, port }: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => {
      const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      reject(new UsageError(`--health-listen ${shown}: ${listenProblem(err)}`));
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

function listenProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EADDRNOTAVAIL':
      return 'not an address of this host';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    default:
      return err.message;
  }
}

interface Answer {
  status: number;
  body: object;
  headers?: Record<string, string>;
}

function answer(req: IncomingMessage, snapshot: () => HealthSnapshot): Answer {
  const path = (req.url ?? '').split('?', 1)[0] as string;
  if (!(HEALTH_PATHS as readonly string[]).includes(path)) {
    return {
      status: 404,
      body: { error: 'NotFound', message: 'only /active, /standby and /health are served' },
    };
  }
  // HEAD is GET without the body (RFC 9110 asks every general-purpose server for both).
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return {
      status: 405,
      body: { error: 'MethodNotAllowed', message: `method ${req.method} not allowed (allowed: GET, HEAD)` },
      headers: { allow: 'GET, HEAD' },
    };
  }
  if (hasBody(req)) {
    return { status: 413, body: { error: 'PayloadTooLarge', message: 'request bodies are not accepted' } };
  }
  const now = snapshot();
  return { status: healthStatus(path as HealthPath, now), body: healthBody(now) };
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
}

function respond(req: IncomingMessage, res: ServerResponse, snapshot: () => HealthSnapshot): void {
  const { status, body, headers } = answer(req, snapshot);
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    // A body is never read: closing the connection after the answer discards it.
    ...(hasBody(req) ? { connection: 'close' } : {}),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
