/**
 * The routes table: each route is served by `createApiHandler` for its own group (and by the
 * local server's handler for both groups) and by no other. test/infra.test.ts checks that
 * API Gateway gets exactly the same routes.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { compileTemplate, createApiHandler } from '../shared/http/api.js';
import { ROUTES, type Route, type RouteGroup } from '../shared/http/routes.js';
import { silentLogger } from '../shared/logger.js';
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
