/**
 * HTTP API v1, in API Gateway HTTP API (payload v2) terms. The Lambda handlers and the
 * local server both call `createApiHandler`, so what the tests prove about one holds for
 * the other. The routes themselves are listed once, in `routes.ts`.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import type { ClusterConfig, NodeConfig } from '../config.js';
import { Asset, CONSOLE_ASSETS } from '../console/assets.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import {
  AuthError,
  ConflictError,
  FailoverError,
  ForbiddenError,
  MethodNotAllowedError,
  MisdirectedRequestError,
  NotFoundError,
  PayloadTooLargeError,
  ThrottledError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import { type PathParams, ROUTES, type Route, type RouteGroup } from './routes.js';

export const MAX_BODY_BYTES = 4096;

/**
 * Every string a caller sends may end up in a log line, an event or a terminal: control
 * characters (CR and LF forge log lines, NUL truncates, ESC drives a terminal), Unicode line
 * separators and bidirectional overrides are refused, naming the field.
 */
const UNSAFE_TEXT = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const CONTROL_MESSAGE =
  'must not contain control characters (CR, LF, NUL, ESC, …) or bidirectional overrides';
const text = (min: number, max: number, what = `must be a string of ${min}-${max} characters`) =>
  z.string(what).check(
    z.minLength(min, what),
    z.maxLength(max, what),
    z.refine((value) => !UNSAFE_TEXT.test(value), CONTROL_MESSAGE),
  );

// Numbers go to DynamoDB, whose marshaller throws on numbers beyond 2^53 (and JSON.parse reads
// 1e400 as Infinity, which z.number() refuses): each numeric field is bounded so that a bad
// value is a 400 naming the field, not a 500 from the store. A numeric position may have a
// fraction (e.g. a timestamp in seconds).
const positionRange = `a number from 0 to ${Number.MAX_SAFE_INTEGER}`;
const positionNumber = `must be ${positionRange} (send larger positions as a string)`;
const position = z.union(
  [
    z
      .number(positionNumber)
      .check(z.minimum(0, positionNumber), z.maximum(Number.MAX_SAFE_INTEGER, positionNumber)),
    text(1, 128),
  ],
  { error: `must be ${positionRange} or a string of 1-128 characters` },
);
/** About 32 years: no replica is really that far behind, and the cap keeps lag far below 2^53. */
const MAX_LAG_SECONDS = 1e9;
const lagSecondsRange = `must be a number from 0 to ${MAX_LAG_SECONDS}`;
const lagSeconds = z
  .number(lagSecondsRange)
  .check(z.minimum(0, lagSecondsRange), z.maximum(MAX_LAG_SECONDS, lagSecondsRange));
// z.int() is a safe integer: at most 2^53 - 1.
const nonNegativeInt = z
  .int('must be a non-negative integer')
  .check(z.minimum(0, 'must be a non-negative integer'));
const DAY_MS = 86_400_000;
const msUpTo = (max: number) => {
  const range = `must be a whole number of milliseconds from 0 to ${max}`;
  return z.int(range).check(z.minimum(0, range), z.maximum(max, range));
};
const BeatSchema = z.strictObject({
  status: z.optional(z.enum(['ok', 'failing', 'maintenance'], "must be 'ok', 'failing' or 'maintenance'")),
  version: z.optional(text(1, 64)),
  position: z.optional(position),
  lagSeconds: z.optional(lagSeconds),
  role: z.optional(z.enum(['active', 'standby'], "must be 'active' or 'standby'")),
  epoch: z.optional(nonNegativeInt),
  promiseMs: z.optional(msUpTo(DAY_MS)),
  steppedDown: z.optional(nonNegativeInt),
  failsafe: z.optional(
    z.strictObject({
      epoch: nonNegativeInt,
      startedMsAgo: msUpTo(30 * DAY_MS),
      endedMsAgo: msUpTo(30 * DAY_MS),
      confirmedBy: z
        .array(text(1, 63, 'must be a node id'))
        .check(z.maxLength(32, 'must list at most 32 nodes')),
    }),
  ),
});

const reason = z.optional(text(1, 256));
const SwitchoverSchema = z.strictObject({
  to: z.optional(text(1, 63, 'must be a node id')),
  force: z.optional(z.boolean('must be true or false')),
  immediate: z.optional(z.boolean('must be true or false')),
  reason,
});
const PauseSchema = z.strictObject({ reason });
const EmptySchema = z.strictObject({});

export interface ApiOptions {
  controlPlane: ControlPlane;
  logger: Logger;
  /** Which routes this handler serves (each Lambda serves one group; the local server both). */
  groups: readonly RouteGroup[];
  /** Throws AuthError unless the caller may use admin routes; returns who the caller is (for the audit trail). */
  authorizeAdmin: (event: APIGatewayProxyEventV2) => string;
  /**
   * Runs first on every request that matched a route, before anything else; throws a
   * FailoverError to refuse it. The local server's Host and Origin checks (local-server.ts).
   */
  checkRequest?: (event: APIGatewayProxyEventV2, group: RouteGroup) => void;
}

/** Who called, as the check of the route's group established it. */
interface Callers {
  node: { cluster: ClusterConfig; node: NodeConfig; previousToken: boolean };
  admin: { by: string };
}

interface Request<R extends Route> {
  event: APIGatewayProxyEventV2;
  params: Record<PathParams<R['path']>, string>;
  /** The raw body, within MAX_BODY_BYTES and not yet parsed. */
  body: string;
  caller: Callers[R['group']];
}

/** One handler per route name: a route without a handler, or a handler without a route, does not compile. */
type Handlers = { [R in Route as R['name']]: (request: Request<R>) => Promise<unknown> };

export function createApiHandler(options: ApiOptions) {
  const { controlPlane, logger } = options;
  const handlers: Handlers = {
    heartbeat: async ({ caller, body }) => {
      const beat = parseBody(body, BeatSchema);
      const via = caller.previousToken ? { previousToken: true as const } : {};
      return controlPlane.heartbeat(caller.cluster, caller.node, { ...beat, ...via });
    },
    release: async ({ caller, body }) => {
      parseBody(body, EmptySchema);
      return controlPlane.release(caller.cluster, caller.node);
    },
    nodeRole: async ({ caller }) => controlPlane.nodeRole(caller.cluster, caller.node),
    console: async () => CONSOLE_ASSETS.page,
    consoleScript: async () => CONSOLE_ASSETS.script,
    consoleStyles: async () => CONSOLE_ASSETS.styles,
    clusters: async () => ({ clusters: controlPlane.clusterIds() }),
    status: async ({ params }) => controlPlane.status(params.cluster),
    events: async ({ event, params }) => {
      const limit = parseLimit(event.queryStringParameters?.limit);
      return { cluster: params.cluster, events: await controlPlane.events(params.cluster, limit) };
    },
    switchover: async ({ params, body, caller }) => {
      const status = await controlPlane.switchover(
        params.cluster,
        parseBody(body, SwitchoverSchema),
        caller.by,
      );
      // Demote-first: accepted, and completed by the old active's confirmation or its lease.
      return status.handover === null ? status : new Reply(202, status);
    },
    pause: async ({ params, body, caller }) => {
      const { reason } = parseBody(body, PauseSchema);
      return controlPlane.pause(params.cluster, reason ?? 'no reason given', caller.by);
    },
    resume: async ({ params, body, caller }) => {
      const { reason } = parseBody(body, PauseSchema);
      return controlPlane.resume(params.cluster, reason, caller.by);
    },
  };

  /** The check of the route's group; node tokens are compared in constant time. */
  const callerOf = (
    group: RouteGroup,
    event: APIGatewayProxyEventV2,
    params: Record<string, string>,
  ): Callers[RouteGroup] =>
    group === 'node'
      ? controlPlane.authenticateNode(params.cluster ?? '', params.node ?? '', bearerToken(event))
      : { by: options.authorizeAdmin(event) };

  const routes = ROUTES.filter((route) => options.groups.includes(route.group)).map((route) => ({
    route,
    match: compileTemplate(route.path),
  }));

  return async function handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath;
    try {
      const matches = routes.flatMap(({ route, match }) => {
        const params = match(path);
        return params === null ? [] : [{ route, params }];
      });
      const found = matches.find(({ route }) => route.method === method);
      if (found === undefined) {
        if (matches.length === 0) throw new NotFoundError(`no route for ${method} ${path}`);
        const allow = matches.map(({ route }) => route.method);
        throw new MethodNotAllowedError(
          `method ${method} not allowed on ${path} (allowed: ${allow.join(', ')})`,
          allow,
        );
      }
      const { route } = found;
      options.checkRequest?.(event, route.group);
      const params = Object.fromEntries(
        Object.entries(found.params).map(([name, segment]) => [name, decodeSegment(segment)]),
      );
      // The size limit first, then the caller, and only then is the body looked at: a caller
      // without valid credentials learns nothing from a bad body.
      const bytes = readBody(event);
      const caller = callerOf(route.group, event, params);
      if (route.method === 'POST' && bytes.length > 0) requireJson(event);
      const body = decodeUtf8(bytes);
      // The route's template gave exactly its params; TypeScript cannot follow a route chosen at run time.
      const handler = handlers[route.name] as (request: Request<Route>) => Promise<unknown>;
      const result = await handler({ event, params: params as Request<Route>['params'], body, caller });
      if (result instanceof Asset) return { statusCode: 200, headers: result.headers(), body: result.body };
      return result instanceof Reply ? json(result.status, result.body) : json(200, result);
    } catch (err) {
      return errorResponse(err, logger, { method, path });
    }
  };
}

/** A handler's answer with a status other than 200. */
class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** One table from domain errors to HTTP statuses. */
function errorResponse(
  err: unknown,
  logger: Logger,
  request: Record<string, string>,
): APIGatewayProxyStructuredResultV2 {
  if (err instanceof FailoverError) {
    const status = statusOf(err);
    const headers: Record<string, string> =
      err instanceof MethodNotAllowedError
        ? { allow: err.allow.join(', ') }
        : err instanceof AuthError
          ? { 'www-authenticate': 'Bearer' }
          : {};
    return json(status, { error: err.name.replace(/Error$/, ''), message: err.message }, headers);
  }
  logger.error('unhandled error', {
    ...request,
    error: (err as Error)?.name,
    message: (err as Error)?.message,
  });
  return json(500, { error: 'Internal', message: 'internal error; see the control plane log' });
}

function statusOf(err: FailoverError): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof AuthError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof ConflictError) return 409;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof UnsupportedMediaTypeError) return 415;
  if (err instanceof MisdirectedRequestError) return 421;
  if (err instanceof ThrottledError) return 429;
  return 500;
}

function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

function readBody(event: APIGatewayProxyEventV2): Buffer {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  return bytes;
}

/**
 * Invalid UTF-8 is refused, not replaced with U+FFFD: a node's version or position is
 * stored and compared as it sent it, or not at all. A byte-order mark is kept, so JSON.parse
 * refuses it as before.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ValidationError('body is not valid UTF-8');
  }
}

/** A request header, whatever the case of its name (API Gateway lowercases them; a direct invoke may not). */
export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  return headers[name] ?? Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
}

export function bearerToken(event: APIGatewayProxyEventV2): string | undefined {
  const value = header(event, 'authorization');
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/**
 * A request body must be declared as JSON (`application/json`, no charset or UTF-8). A
 * browser sends a cross-origin POST without asking first (no CORS preflight) only as
 * text/plain, a form or multipart; requiring JSON means no web page can make a visitor's
 * browser deliver a body to this API. The same in AWS as locally, so it lives here.
 */
function requireJson(event: APIGatewayProxyEventV2): void {
  const declared = header(event, 'content-type');
  const [type, ...params] = (declared ?? '').split(';').map((part) => part.trim().toLowerCase());
  const charset = params.find((param) => param.startsWith('charset='))?.slice('charset='.length);
  if (type === 'application/json' && (charset === undefined || charset.replace(/"/g, '') === 'utf-8')) return;
  const got = declared === undefined ? 'no Content-Type' : `Content-Type '${declared.slice(0, 100)}'`;
  throw new UnsupportedMediaTypeError(
    `a request body must be sent with Content-Type: application/json (UTF-8); got ${got}`,
  );
}

/** Parses an optional JSON object body against a strict schema; the error names the field. */
function parseBody<T>(body: string, schema: z.ZodMiniType<T>): T {
  let value: unknown = {};
  if (body.trim() !== '') {
    try {
      value = JSON.parse(body);
    } catch (err) {
      throw new ValidationError(`body is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('body must be a JSON object');
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const field =
      issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.map(String).join('.') || 'body';
    const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    throw new ValidationError(`invalid field ${field}: ${message}`);
  }
  return result.data;
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 50;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > 500) {
    throw new ValidationError(`invalid query parameter limit: must be an integer from 1 to 500`);
  }
  return limit;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ValidationError(`malformed path segment '${segment}'`);
  }
}

/**
 * Compiles an API Gateway path template (literal segments and whole-segment `{param}`s) into
 * a matcher that returns the still-encoded params, or null.
 */
export function compileTemplate(template: string): (path: string) => Record<string, string> | null {
  const segments = template.split('/').map((segment) => ({
    literal: segment,
    param: /^\{(\w+)\}$/.exec(segment)?.[1],
  }));
  return (path) => {
    const parts = path.split('/');
    if (parts.length !== segments.length) return null;
    const params: Record<string, string> = {};
    for (const [i, { literal, param }] of segments.entries()) {
      const part = parts[i] as string;
      if (param === undefined) {
        if (part !== literal) return null;
      } else {
        if (part === '') return null;
        params[param] = part;
      }
    }
    return params;
  };
}
