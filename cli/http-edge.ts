/**
 * Node's HTTP server in front of the API handler, shared by the local server and the
 * console proxy: a request as the API Gateway (payload v2) event Lambda receives, the body
 * limit, and the guards against what a web page could make an operator's browser send.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ConfigError, ForbiddenError, MisdirectedRequestError } from '../shared/errors.js';
import { header, MAX_BODY_BYTES } from '../shared/http/api.js';
import type { RouteGroup } from '../shared/http/routes.js';

/** A host name or IP address as it appears in `Host` (IPv6 in brackets), with an optional port. */
const HOST_HEADER = /^(?<name>\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/;
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::']);

/**
 * The names admin routes answer to: the loopback names, the listen address unless it is a
 * wildcard, and the configured public hosts; each as it appears in `Host` (IPv6 in brackets).
 * Throws ConfigError for a public host that is not a bare name or address.
 */
export function allowedHosts(listenHost: string, publicHosts: readonly string[] = []): Set<string> {
  const inHostForm = (name: string) => (isIP(name) === 6 ? `[${name}]` : name.toLowerCase());
  const allowed = new Set(['localhost', '127.0.0.1', '[::1]']);
  if (!WILDCARD_ADDRESSES.has(listenHost)) allowed.add(inHostForm(listenHost));
  for (const name of publicHosts) {
    const form = inHostForm(name);
    if (HOST_HEADER.exec(form)?.groups?.name !== form) {
      throw new ConfigError(
        `public host '${name}' must be a host name or IP address, without a scheme, port or path`,
      );
    }
    allowed.add(form);
  }
  return allowed;
}

/**
 * What a web page in an operator's browser could otherwise make the browser do to this
 * server (issue 15). Two checks, local only: in AWS, API Gateway answers only for its own
 * host names, admin routes need a SigV4 signature and node routes a bearer token, and a
 * browser attaches neither by itself; here, admin routes on loopback need nothing at all.
 * (Content-Type, which holds in AWS too, is checked in the shared handler.)
 *
 * 1. Origin, every route: a browser names the page that sent a request. An Origin other
 *    than this server's own (the scheme-less host and port the request was sent to, under
 *    an allowed name) is refused with 403: no foreign page can pause or switch over.
 * 2. Host, admin routes: a DNS-rebinding page reaches this server under the attacker's own
 *    name, which the browser sends in `Host` (and the page reads answers as same-origin).
 *    Admin routes answer only to the allowed names (421). Node routes are left alone: they
 *    need a node token, which such a page does not have, and nodes may use any name.
 */
export function localRequestCheck(allowed: ReadonlySet<string>) {
  return (event: APIGatewayProxyEventV2, group: RouteGroup): void => {
    const host = (header(event, 'host') ?? '').toLowerCase();
    const origin = header(event, 'origin');
    if (origin !== undefined && !isOwnOrigin(origin, host, allowed)) {
      throw new ForbiddenError(
        `Origin '${origin.slice(0, 100)}' is not this server's own: requests from other web pages are refused`,
      );
    }
    const name = HOST_HEADER.exec(host)?.groups?.name;
    if (group === 'admin' && (name === undefined || !allowed.has(name))) {
      throw new MisdirectedRequestError(
        `admin routes answer only to the loopback names and the configured public hosts in Host, not '${host.slice(0, 100)}'`,
      );
    }
  };
}

/** Whether `origin` is exactly http(s):// plus the request's own Host, under an allowed name. */
function isOwnOrigin(origin: string, requestHost: string, allowed: ReadonlySet<string>): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // e.g. 'null', which sandboxed frames and file: pages send
  }
  const name = HOST_HEADER.exec(url.host)?.groups?.name;
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.origin === origin.toLowerCase() &&
    name !== undefined &&
    allowed.has(name) &&
    HOST_HEADER.test(requestHost) &&
    new URL(`${url.protocol}//${requestHost}`).host === url.host
  );
}

/** Reads the body until it passes MAX_BODY_BYTES; past that, answers 413 itself and returns null. */
export async function readLimited(req: IncomingMessage, res: ServerResponse): Promise<Buffer | null> {
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

/**
 * The request as API Gateway (payload v2) hands it to Lambda. The path is the request
 * target as sent, up to the first '?': not parsed as a URL, which would resolve dot
 * segments ('/nodes/a/x/../heartbeat'), read '\' as '/' and '//host/…' as a host, and so
 * route a path that names no route. The handler matches the path as sent.
 */
export function toEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  new URLSearchParams(rawQueryString).forEach((value, key) => {
    query[key] = key in query ? `${query[key]},${value}` : value;
  });
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString,
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method,
        path,
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
