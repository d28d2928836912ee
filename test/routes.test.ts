/**
 * The routes table: each route is served by `createApiHandler` for its own group (and by the
 * local server's handler for both groups) and by no other. test/infra.test.ts checks that
 * API Gateway gets exactly the same routes.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import type { ControlPlane } from '../shared/control-plane/control-plane.js';
import {
  AuthError,
  ConflictError,
  FailoverError,
  ForbiddenError,
  MethodNotAllowedError,
  MisdirectedRequestError,
  NotFoundError,
  PayloadTooLargeError,
  TargetApplyError,
  ThrottledError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../shared/errors.js';
import { compileTemplate, createApiHandler } from '../shared/http/api.js';
import { ROUTES, type Route, type RouteGroup } from '../shared/http/routes.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import { mintToken } from '../shared/tokens.js';
import { apiEvent } from './helpers/api-event.js';
import { dynamoStore, FakeClock, makeCluster, makeControlPlane } from './helpers/store-fixtures.js';

const tc = makeCluster({ id: 'web', nodeIds: ['a', 'b'] });
let dynamo: LocalDynamo;
let handlerFor: (groups: RouteGroup[]) => ReturnType<typeof createApiHandler>;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  const controlPlane = makeControlPlane(tc, dynamoStore(dynamo.client, dynamo.table), new FakeClock());
  handlerFor = (groups) =>
    createApiHandler({ controlPlane, logger: silentLogger, groups, authorizeAdmin: () => 'test' });
});

afterAll(async () => {
  await dynamo?.close();
});

/** A valid request for the route: node a's token, the cluster's id, an empty JSON object body. */
function requestFor(route: Route): APIGatewayProxyEventV2 {
  const values: Record<string, string> = { cluster: tc.cluster.id, node: 'a' };
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? 'x');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { authorization: `Bearer ${tc.tokens.a}`, 'content-type': 'application/json' },
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'local',
      http: { method: route.method, path, protocol: 'HTTP/1.1', sourceIp: '', userAgent: '' },
      requestId: 'test',
      routeKey: '$default',
      stage: '$default',
      time: new Date(0).toISOString(),
      timeEpoch: 0,
    },
    body: route.method === 'POST' ? '{}' : undefined,
    isBase64Encoded: false,
  };
}

const describeRoute = (route: Route) => `${route.method} ${route.path}`;

describe('the routes table', () => {
  it('names each route once and has each method and path once', () => {
    expect(new Set(ROUTES.map((r) => r.name)).size).toBe(ROUTES.length);
    expect(new Set(ROUTES.map(describeRoute)).size).toBe(ROUTES.length);
  });

  it('uses only the root, literal segments and whole-segment {params}, which match alike here and in API Gateway', () => {
    for (const route of ROUTES) {
      for (const segment of route.path === '/' ? [] : route.path.split('/').slice(1)) {
        expect(segment, route.path).toMatch(/^(?:[a-z0-9-]+(?:\.[a-z]+)?|\{\w+\})$/);
      }
    }
  });

  it('fills a {param} only from a non-empty segment: an empty one matches no route', () => {
    const status = compileTemplate('/v1/clusters/{cluster}/status');
    expect(status('/v1/clusters/db/status')).toEqual({ cluster: 'db' });
    expect(status('/v1/clusters//status')).toBeNull();
    expect(status('/v1/clusters/db/status/')).toBeNull();
  });

  it.each(ROUTES.map((route) => [describeRoute(route), route] as const))(
    'serves %s for its own group and for both groups, and answers 404 "no route" for the other group',
    async (_, route) => {
      const other: RouteGroup = route.group === 'node' ? 'admin' : 'node';
      for (const groups of [[route.group], ['node', 'admin']] satisfies RouteGroup[][]) {
        const res = await handlerFor(groups)(requestFor(route));
        expect(res.statusCode, `${groups}: ${res.body}`).toBeLessThan(500);
        expect([404, 405], `${groups}: ${res.body}`).not.toContain(res.statusCode);
      }
      const res = await handlerFor([other])(requestFor(route));
      expect(res.statusCode).toBe(404);
      expect(JSON.parse(res.body ?? '{}').message).toMatch(/^no route for /);
    },
  );
});

/**
 * A handler serving both groups over a cluster of its own (nodes a and b), so each test
 * starts from an empty state; built inside each test, after Stryker switches a mutant on.
 */
function freshApi(options: Parameters<typeof makeCluster>[0] = {}) {
  const cluster = makeCluster({ nodeIds: ['a', 'b'], ...options });
  const controlPlane = makeControlPlane(cluster, dynamoStore(dynamo.client, dynamo.table), new FakeClock());
  const handle = createApiHandler({
    controlPlane,
    logger: silentLogger,
    groups: ['node', 'admin'],
    authorizeAdmin: () => 'ops',
  });
  const id = cluster.cluster.id;
  const call = async (
    method: string,
    path: string,
    options: { token?: string; body?: string; contentType?: string; base64?: boolean } = {},
  ) => {
    const event = apiEvent(method, path, options);
    if (options.base64)
      Object.assign(event, {
        body: Buffer.from(options.body ?? '').toString('base64'),
        isBase64Encoded: true,
      });
    const res = await handle(event);
    return { status: res.statusCode, body: JSON.parse(res.body ?? 'null') };
  };
  const beat = (node: string, body = '{}', token = cluster.tokens[node], base64 = false) =>
    call('POST', `/v1/clusters/${id}/nodes/${node}/heartbeat`, { token, body, base64 });
  const admin = (action: string, body: string) => call('POST', `/v1/clusters/${id}/${action}`, { body });
  const status = async () => (await call('GET', `/v1/clusters/${id}`)).body;
  return { id, call, beat, admin, status };
}

describe('what the handler does with a request, in process as a Lambda runs it', () => {
  it('passes every field of a heartbeat on, and marks a beat sent with the token being rotated out', async () => {
    const old = mintToken();
    const api = freshApi({ previousTokenSha256: { b: old.sha256 } });
    expect((await api.beat('a', '{"status":"failing","version":"v2","lagSeconds":3}')).status).toBe(200);
    expect((await api.beat('b', '{}', old.token)).status).toBe(200);
    const [a, b] = (await api.status()).nodes;
    expect(a).toMatchObject({
      id: 'a',
      status: 'failing',
      version: 'v2',
      lagSeconds: 3,
      previousToken: false,
    });
    expect(b).toMatchObject({ id: 'b', status: 'ok', previousToken: true });
  });

  it('decodes a body API Gateway hands over base64-encoded', async () => {
    const api = freshApi();
    expect((await api.beat('a', '{"version":"v-ß"}', undefined, true)).status).toBe(200);
    expect((await api.status()).nodes[0]).toMatchObject({ id: 'a', version: 'v-ß' });
  });

  // The local server stops reading at 4 KiB itself (api.test.ts); a Lambda gets the whole body.
  it('refuses a body over 4096 bytes with 413 naming its size, and takes one of exactly 4096', async () => {
    const api = freshApi();
    expect(await api.beat('a', `{}${' '.repeat(4095)}`)).toEqual({
      status: 413,
      body: { error: 'PayloadTooLarge', message: 'body is 4097 bytes; the limit is 4096' },
    });
    expect((await api.beat('a', `{}${' '.repeat(4094)}`)).status).toBe(200);
  });

  it('reads no body on a GET, whatever it is declared as (only a POST body must be JSON)', async () => {
    const api = freshApi();
    expect(await api.call('GET', '/v1/clusters', { body: 'x', contentType: 'text/plain' })).toEqual({
      status: 200,
      body: { clusters: [api.id] },
    });
  });

  it('lists the configured clusters', async () => {
    const api = freshApi();
    expect(await api.call('GET', '/v1/clusters')).toEqual({ status: 200, body: { clusters: [api.id] } });
  });

  it('answers a demote-first switchover with 202 and the pending handover, an immediate one with 200', async () => {
    for (const [body, code, handover] of [
      ['{}', 202, { from: 'a', to: 'b', by: 'ops' }],
      ['{"to":"b","immediate":true}', 200, null],
    ] as const) {
      const api = freshApi();
      for (const node of ['a', 'b']) expect((await api.beat(node)).status).toBe(200);
      const res = await api.admin('switchover', body);
      expect(res.status, body).toBe(code);
      expect(res.body.handover, body).toEqual(handover === null ? null : expect.objectContaining(handover));
    }
  });

  it('pauses with the reason "no reason given" when the request gives none, naming who paused', async () => {
    const api = freshApi();
    const res = await api.admin('pause', '{}');
    expect(res.status).toBe(200);
    expect(res.body.paused).toMatchObject({ by: 'ops', reason: 'no reason given' });
  });
});

/** A handler whose only route that reaches the control plane, GET /v1/clusters, throws `thrown`. */
function throwingApi(thrown: () => unknown) {
  const logged: Array<[string, Record<string, unknown> | undefined]> = [];
  const logger: Logger = { ...silentLogger, error: (message, extra) => logged.push([message, extra]) };
  const controlPlane = {
    clusterIds: () => {
      throw thrown();
    },
  } as unknown as ControlPlane;
  const handle = createApiHandler({ controlPlane, logger, groups: ['admin'], authorizeAdmin: () => 'ops' });
  return { logged, answer: () => handle(apiEvent('get', '/v1/clusters')) };
}

describe('the error table: a domain error is its status, its name and its message', () => {
  it.each([
    ['Validation', 400, () => new ValidationError('m')],
    ['Auth', 401, () => new AuthError('m')],
    ['Forbidden', 403, () => new ForbiddenError('m')],
    ['NotFound', 404, () => new NotFoundError('m')],
    ['Conflict', 409, () => new ConflictError('m')],
    ['PayloadTooLarge', 413, () => new PayloadTooLargeError('m')],
    ['UnsupportedMediaType', 415, () => new UnsupportedMediaTypeError('m')],
    ['MisdirectedRequest', 421, () => new MisdirectedRequestError('m')],
    ['Throttled', 429, () => new ThrottledError('m')],
    ['TargetApply', 500, () => new TargetApplyError('m')],
    ['Failover', 500, () => new FailoverError('m')],
  ])(
    'answers a %sError with %i, as JSON never cached, asking for a bearer token only on a 401',
    async (name, status, error) => {
      const { logged, answer } = throwingApi(error);
      const res = await answer();
      expect(res.statusCode).toBe(status);
      expect(JSON.parse(res.body ?? '')).toEqual({ error: name, message: 'm' });
      expect(res.headers).toEqual({
        'content-type': 'application/json',
        'cache-control': 'no-store',
        ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
      });
      expect(logged).toEqual([]);
    },
  );

  it('answers 405 with the allowed methods listed in an allow header', async () => {
    const { answer } = throwingApi(() => new MethodNotAllowedError('m', ['GET', 'POST']));
    expect((await answer()).headers).toMatchObject({ allow: 'GET, POST' });
  });
});

describe('an error that is not a FailoverError', () => {
  it.each([
    ['a TypeError', () => new TypeError('store exploded'), 'TypeError', 'store exploded'],
    ['null', () => null, undefined, undefined],
  ])(
    'answers %s with a bare 500 and logs it with the request’s method and path',
    async (_, thrown, error, message) => {
      const { logged, answer } = throwingApi(thrown);
      const res = await answer();
      expect(res.statusCode).toBe(500);
      expect(JSON.parse(res.body ?? '')).toEqual({
        error: 'Internal',
        message: 'internal error; see the control plane log',
      });
      expect(logged).toEqual([['unhandled error', { method: 'GET', path: '/v1/clusters', error, message }]]);
    },
  );
});
