/**
 * The failsafe's wire between agents: an active asks every peer to confirm it may keep its
 * role (`askPeers`); each agent answers on a small HTTP endpoint (`startPeerServer`).
 * Requests and answers are both signed with HMAC-SHA256 under the cluster's peer secret, so
 * a stranger can neither obtain a promise from a peer nor forge a confirmation; the answer
 * carries the request's nonce, so an old confirmation cannot be replayed as a new one.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfirmRequest, Peer, Verdict } from '../../shared/core/failsafe.js';

const SIGNATURE_HEADER = 'x-failover-signature';
export const CONFIRM_PATH = '/v1/failsafe/confirm';
const MAX_BODY_BYTES = 1024;
/** Nonces are remembered this long: longer than any acknowledgement a lease allows. */
const NONCE_MEMORY_MS = 24 * 3_600_000;
const MAX_NONCES = 10_000;

export function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function signatureMatches(secret: string, body: string, given: string | undefined): boolean {
  const want = Buffer.from(sign(secret, body), 'hex');
  const got = Buffer.from(typeof given === 'string' && /^[0-9a-f]{64}$/.test(given) ? given : '', 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A peer's signed answer. */
interface ConfirmAnswer {
  node: string;
  nonce: string;
  confirm: boolean;
  reason?: string;
}

export interface RoundResult {
  confirmedBy: Set<string>;
  /** Why each other peer did not confirm, in words for the log. */
  refusals: string[];
}

/** Asks every peer at once; a peer that does not answer, validly, within `timeoutMs` has not confirmed. */
export async function askPeers(
  peers: readonly Peer[],
  base: Omit<ConfirmRequest, 'to' | 'nonce'>,
  secret: string,
  timeoutMs: number,
): Promise<RoundResult> {
  const result: RoundResult = { confirmedBy: new Set(), refusals: [] };
  await Promise.all(
    peers.map(async (peer) => {
      const request: ConfirmRequest = { ...base, to: peer.node, nonce: randomUUID() };
      const outcome = await askPeer(peer, request, secret, timeoutMs);
      if (outcome === true) result.confirmedBy.add(peer.node);
      else result.refusals.push(`${peer.node} ${outcome}`);
    }),
  );
  return result;
}

/** True when the peer confirmed; otherwise why not. Never throws. */
async function askPeer(
  peer: Peer,
  request: ConfirmRequest,
  secret: string,
  timeoutMs: number,
): Promise<true | string> {
  const body = JSON.stringify(request);
  let text: string;
  let res: Response;
  try {
    res = await fetch(`${peer.url}${CONFIRM_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(secret, body) },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    text = await res.text();
  } catch (err) {
    const timedOut = (err as Error)?.name === 'TimeoutError';
    return timedOut
      ? `did not answer within ${timeoutMs} ms`
      : `could not be reached (${(err as Error).message})`;
  }
  if (res.status !== 200) return `answered ${res.status}: ${text.slice(0, 200)}`;
  if (!signatureMatches(secret, text, res.headers.get(SIGNATURE_HEADER) ?? undefined)) {
    return 'sent an answer without a valid signature (check FAILOVER_PEER_SECRET on both nodes)';
  }
  let answer: Partial<ConfirmAnswer>;
  try {
    answer = JSON.parse(text) as Partial<ConfirmAnswer>;
  } catch {
    return 'sent an answer that is not JSON';
  }
  if (answer.nonce !== request.nonce || answer.node !== peer.node) return 'sent an answer to another request';
  if (answer.confirm === true) return true;
  return `refused: ${typeof answer.reason === 'string' ? answer.reason : 'no reason given'}`;
}

export interface PeerServerOptions {
  host: string;
  port: number;
  cluster: string;
  node: string;
  secret: string;
  /** Judges a request that is authentic and addressed to this node (and records any promise). */
  judge(request: ConfirmRequest): Verdict;
}

/** Serves POST /v1/failsafe/confirm and nothing else. */
export async function startPeerServer(options: PeerServerOptions): Promise<{ server: Server; port: number }> {
  const seen = new Map<string, number>();
  const server = createServer((req, res) => {
    handle(req, res, options, seen).catch(() => reply(res, 500, { message: 'internal error' }));
  });
  server.maxHeadersCount = 32;
  server.headersTimeout = 2_000;
  server.requestTimeout = 3_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: PeerServerOptions,
  seen: Map<string, number>,
): Promise<void> {
  if (req.url !== CONFIRM_PATH)
    return reply(res, 404, { message: `no such route; only POST ${CONFIRM_PATH}` });
  if (req.method !== 'POST') return reply(res, 405, { message: 'only POST is allowed' });
  const body = await readBody(req);
  if (body === null) return reply(res, 413, { message: `body larger than ${MAX_BODY_BYTES} bytes` });
  const signature = req.headers[SIGNATURE_HEADER];
  if (!signatureMatches(options.secret, body, typeof signature === 'string' ? signature : undefined)) {
    return reply(res, 401, { message: 'missing or invalid signature' });
  }
  const request = parseRequest(body);
  if (typeof request === 'string') return reply(res, 400, { message: request });
  if (request.cluster !== options.cluster || request.to !== options.node) {
    return reply(res, 400, {
      message: `this is ${options.cluster}/${options.node}, not ${request.cluster}/${request.to}`,
    });
  }
  if (!remember(seen, request.nonce))
    return reply(res, 409, { message: 'this request was already answered' });
  const verdict = options.judge(request);
  const answer: ConfirmAnswer = {
    node: options.node,
    nonce: request.nonce,
    confirm: verdict.confirm,
    ...(verdict.confirm ? {} : { reason: verdict.reason }),
  };
  const text = JSON.stringify(answer);
  res.writeHead(200, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    [SIGNATURE_HEADER]: sign(options.secret, text),
  });
  res.end(text);
}

/** Records a nonce; false if it was seen already (a replay). Old nonces are forgotten. */
function remember(seen: Map<string, number>, nonce: string): boolean {
  const now = performance.now();
  if (seen.has(nonce)) return false;
  if (seen.size >= MAX_NONCES) {
    for (const [key, at] of seen) if (now - at > NONCE_MEMORY_MS || seen.size >= MAX_NONCES) seen.delete(key);
  }
  seen.set(nonce, now);
  return true;
}

function parseRequest(body: string): ConfirmRequest | string {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return 'body is not valid JSON';
  }
  if (typeof value !== 'object' || value === null) return 'body must be a JSON object';
  for (const field of ['cluster', 'from', 'to', 'nonce'] as const) {
    const v = value[field];
    if (typeof v !== 'string' || v.length === 0 || v.length > 128)
      return `${field} must be a string of 1-128 characters`;
  }
  for (const field of ['epoch', 'ackMs'] as const) {
    const v = value[field];
    if (!Number.isSafeInteger(v) || (v as number) < 0) return `${field} must be a non-negative integer`;
  }
  const { cluster, from, to, nonce, epoch, ackMs } = value as unknown as ConfirmRequest;
  return { cluster, from, to, nonce, epoch, ackMs };
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
