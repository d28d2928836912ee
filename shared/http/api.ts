/**
 * HTTP API v1, in API Gateway HTTP API (payload v2) terms. The Lambda handlers and the
 * local server both call `createApiHandler`, so what the tests prove about one holds for
 * the other.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import type { ControlPlane } from '../control-plane.js';
import {
  AuthError,
  ConflictError,
  FailoverError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '../errors.js';
import type { Logger } from '../logger.js';

export const MAX_BODY_BYTES = 4096;

const nonNegative = z.number().check(z.minimum(0, 'must be a non-negative number'));
const BeatSchema = z.strictObject({
  status: z.optional(z.enum(['ok', 'failing', 'maintenance'], "must be 'ok', 'failing' or 'maintenance'")),
  version: z.optional(z.string().check(z.minLength(1), z.maxLength(64, 'must be at most 64 characters'))),
  position: z.optional(
    z.union([nonNegative, z.string().check(z.minLength(1), z.maxLength(128))], {
      error: 'must be a non-negative number or a string of 1-128 characters',
    }),
  ),
  lagSeconds: z.optional(nonNegative),
  role: z.optional(z.enum(['active', 'standby'], "must be 'active' or 'standby'")),
  epoch: z.optional(
    z.int('must be a non-negative integer').check(z.minimum(0, 'must be a non-negative integer')),
  ),
});

const reason = z.optional(
  z.string('must be a string').check(z.minLength(1), z.maxLength(256, 'must be at most 256 characters')),
);
const SwitchoverSchema = z.strictObject({
  to: z.optional(z.string('must be a node id').check(z.minLength(1), z.maxLength(63))),
  force: z.optional(z.boolean('must be true or false')),
  reason,
});
const PauseSchema = z.strictObject({ reason });
const EmptySchema = z.strictObject({});

export type RouteGroup = 'node' | 'admin';

export interface ApiOptions {
  controlPlane: ControlPlane;
  logger: Logger;
  /** Which routes this handler serves (each Lambda serves one group; the local server both). */
  groups: readonly RouteGroup[];
  /** Throws AuthError unless the caller may use admin routes; returns who the caller is (for the audit trail). */
  authorizeAdmin: (event: APIGatewayProxyEventV2) => string;
}

type Handler = (event: APIGatewayProxyEventV2, params: readonly string[]) => Promise<unknown>;
interface Route {
  group: RouteGroup;
  pattern: RegExp;
  methods: Record<string, Handler>;
}

const SEGMENT = '([^/]+)';

export function createApiHandler(options: ApiOptions) {
  const { controlPlane, logger } = options;
  /** Node routes: the bearer token is checked (in constant time) before the body is read. */
  const node = (event: APIGatewayProxyEventV2, [clusterId, nodeId]: readonly string[]) =>
    controlPlane.authenticateNode(clusterId as string, nodeId as string, bearerToken(event));
  const allRoutes: Route[] = [
    {
      group: 'node',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/nodes/${SEGMENT}/heartbeat$`),
      methods: {
        POST: async (event, params) => {
          const body = readBody(event);
          const { cluster, node: self } = node(event, params);
          return controlPlane.heartbeat(cluster, self, parseBody(body, BeatSchema));
        },
      },
    },
    {
      group: 'node',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/nodes/${SEGMENT}/release$`),
      methods: {
        POST: async (event, params) => {
          const body = readBody(event);
          const { cluster, node: self } = node(event, params);
          parseBody(body, EmptySchema);
          return controlPlane.release(cluster, self);
        },
      },
    },
    {
      group: 'node',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/nodes/${SEGMENT}$`),
      methods: {
        GET: async (event, params) => {
          const { cluster, node: self } = node(event, params);
          return controlPlane.nodeRole(cluster, self);
        },
      },
    },
    {
      group: 'admin',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}$`),
      methods: {
        GET: async (event, [clusterId]) => {
          options.authorizeAdmin(event);
          return controlPlane.status(clusterId as string);
        },
      },
    },
    {
      group: 'admin',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/events$`),
      methods: {
        GET: async (event, [clusterId]) => {
          options.authorizeAdmin(event);
          const limit = parseLimit(event.queryStringParameters?.limit);
          return { cluster: clusterId, events: await controlPlane.events(clusterId as string, limit) };
        },
      },
    },
    {
      group: 'admin',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/switchover$`),
      methods: {
        POST: async (event, [clusterId]) => {
          const body = readBody(event);
          const by = options.authorizeAdmin(event);
          const request = parseBody(body, SwitchoverSchema);
          return controlPlane.switchover(clusterId as string, request, by);
        },
      },
    },
    {
      group: 'admin',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/pause$`),
      methods: {
        POST: async (event, [clusterId]) => {
          const body = readBody(event);
          const by = options.authorizeAdmin(event);
          const { reason } = parseBody(body, PauseSchema);
          return controlPlane.pause(clusterId as string, reason ?? 'no reason given', by);
        },
      },
    },
    {
      group: 'admin',
      pattern: new RegExp(`^/v1/clusters/${SEGMENT}/resume$`),
      methods: {
        POST: async (event, [clusterId]) => {
          const body = readBody(event);
          const by = options.authorizeAdmin(event);
          parseBody(body, EmptySchema);
          return controlPlane.resume(clusterId as string, by);
        },
      },
    },
  ];

  const routes = allRoutes.filter((r) => options.groups.includes(r.group));

  return async function handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const method = event.requestContext.http.method.toUpperCase();
    const path = event.rawPath;
    try {
      for (const route of routes) {
        const match = route.pattern.exec(path);
        if (match === null) continue;
        const handler = route.methods[method];
        if (handler === undefined) {
          const allow = Object.keys(route.methods);
          throw new MethodNotAllowedError(
            `method ${method} not allowed on ${path} (allowed: ${allow.join(', ')})`,
            allow,
          );
        }
        const params = match.slice(1).map(decodeSegment);
        return json(200, await handler(event, params));
      }
      throw new NotFoundError(`no route for ${method} ${path}`);
    } catch (err) {
      return errorResponse(err, logger, { method, path });
    }
  };
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
  if (err instanceof NotFoundError) return 404;
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof ConflictError) return 409;
  if (err instanceof PayloadTooLargeError) return 413;
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

function readBody(event: APIGatewayProxyEventV2): string {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  return bytes.toString('utf8');
}

export function bearerToken(event: APIGatewayProxyEventV2): string | undefined {
  const header = event.headers?.authorization ?? event.headers?.Authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
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
    throw new ValidationError(`invalid field ${field}: ${message}`, { field });
  }
  return result.data;
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 50;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > 500) {
    throw new ValidationError(`invalid query parameter limit: must be an integer from 1 to 500`, {
      field: 'limit',
    });
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
