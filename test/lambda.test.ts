/**
 * The Lambda entry points, loaded as Lambda loads them (config from the environment, the
 * SDK's default client pointed at dynalite through AWS_ENDPOINT_URL_DYNAMODB).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyResult, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { type EveryIngressHandler, servingEveryIngress, v1Result } from '../functions/event-v1.js';
import { METRIC } from '../functions/metric-names.js';
import { createRuntime } from '../functions/runtime.js';
import { parseConfig } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { createApiHandler } from '../shared/http/api.js';
import { silentLogger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { mintToken } from '../shared/tokens.js';
import { apiEvent, restApiEvent } from './helpers/api-event.js';

type ApiHandler = EveryIngressHandler;

const a = mintToken();
const b = mintToken();
const rawConfig = {
  clusters: [
    {
      id: 'lambda',
      heartbeatIntervalSeconds: 1,
      missedBeats: 3,
      nodes: [
        { id: 'a', address: '10.0.0.1', tokenSha256: a.sha256 },
        { id: 'b', address: '10.0.0.2', tokenSha256: b.sha256 },
      ],
      targets: [{ type: 'log' }],
    },
  ],
};

let dynamo: LocalDynamo;
let heartbeat: ApiHandler;
let admin: ApiHandler;
let sweep: () => Promise<void>;
const saved = { ...process.env };

beforeAll(async () => {
  dynamo = await startLocalDynamo({ table: 'lambda-test' });
  // As in AWS, the config is a file shipped beside the function's code.
  const configDir = mkdtempSync(join(tmpdir(), 'failover-lambda-'));
  const configFile = join(configDir, 'failover.config.json');
  writeFileSync(configFile, JSON.stringify(rawConfig));
  Object.assign(process.env, {
    FAILOVER_CONFIG_FILE: configFile,
    FAILOVER_TABLE: dynamo.table,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  heartbeat = (await import('../functions/heartbeat.js')).handler;
  admin = (await import('../functions/admin.js')).handler;
  sweep = (await import('../functions/sweep.js')).handler;
});

afterAll(async () => {
  process.env = saved;
  await dynamo.close();
});

const beatPath = (node: string) => `/v1/clusters/lambda/nodes/${node}/heartbeat`;
const body = (res: APIGatewayProxyStructuredResultV2 | APIGatewayProxyResult) =>
  JSON.parse(res.body ?? 'null');

describe('Lambda handlers', () => {
  it('heartbeat handler records beats and makes the first node active', async () => {
    const res = await heartbeat(
      apiEvent('POST', beatPath('a'), { token: a.token, body: '{"version":"1.0"}' }),
    );
    expect(res.statusCode).toBe(200);
    expect(body(res)).toMatchObject({
      cluster: 'lambda',
      node: 'a',
      role: 'active',
      epoch: 1,
      leaseMs: 3000,
    });
  });

  it('heartbeat handler rejects a wrong token with 401 and does not serve admin routes', async () => {
    const bad = await heartbeat(apiEvent('POST', beatPath('a'), { token: b.token }));
    expect(bad.statusCode).toBe(401);
    const status = await heartbeat(
      apiEvent('GET', '/v1/clusters/lambda', { iamUser: 'arn:aws:iam::1:user/x' }),
    );
    expect(status.statusCode).toBe(404);
  });

  it('heartbeat handler refuses a body sent as text/plain with 415, recording nothing', async () => {
    const before = await admin(apiEvent('GET', '/v1/clusters/lambda', { iamUser: 'arn:aws:iam::1:user/x' }));
    const res = await heartbeat(
      apiEvent('POST', beatPath('b'), { token: b.token, body: '{}', contentType: 'text/plain' }),
    );
    expect(res.statusCode).toBe(415);
    expect(body(res)).toEqual({
      error: 'UnsupportedMediaType',
      message:
        "a request body must be sent with Content-Type: application/json (UTF-8); got Content-Type 'text/plain'",
    });
    const after = await admin(apiEvent('GET', '/v1/clusters/lambda', { iamUser: 'arn:aws:iam::1:user/x' }));
    const beats = (res: APIGatewayProxyStructuredResultV2) =>
      body(res).nodes.map((n: { heartbeats: number }) => n.heartbeats);
    expect(beats(after)).toEqual(beats(before));
  });

  it('admin handler serves status only to IAM-authorised callers', async () => {
    const anonymous = await admin(apiEvent('GET', '/v1/clusters/lambda'));
    expect(anonymous.statusCode).toBe(401);
    expect(body(anonymous).message).toMatch(/IAM/);
    const res = await admin(
      apiEvent('GET', '/v1/clusters/lambda', { iamUser: 'arn:aws:iam::123456789012:user/ops' }),
    );
    expect(res.statusCode).toBe(200);
    expect(body(res)).toMatchObject({ cluster: 'lambda', active: 'a', epoch: 1 });
    const beat = await admin(apiEvent('POST', beatPath('a'), { token: a.token }));
    expect(beat.statusCode).toBe(404);
  });

  it.each(['/', '/console.js', '/console.css', '/v1/clusters'])(
    'admin handler serves the console (%s) only to IAM-authorised callers: it shows nothing to others',
    async (path) => {
      const anonymous = await admin(apiEvent('GET', path));
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers?.['content-type']).toBe('application/json');
      expect(anonymous.body).not.toContain('lambda');
      const res = await admin(apiEvent('GET', path, { iamUser: 'arn:aws:iam::123456789012:user/ops' }));
      expect(res.statusCode).toBe(200);
    },
  );
  it("refuses a node's token on every admin action (pause, resume, switchover) with 401, changing nothing", async () => {
    const ops = { iamUser: 'arn:aws:iam::123456789012:user/ops' };
    const before = body(await admin(apiEvent('GET', '/v1/clusters/lambda', ops)));
    for (const [action, payload] of [
      ['pause', '{"reason":"x"}'],
      ['resume', '{}'],
      ['switchover', '{"to":"b","force":true}'],
    ] as const) {
      // The admin function wants IAM; the heartbeat function does not serve admin routes at all.
      for (const [handler, status] of [
        [admin, 401],
        [heartbeat, 404],
      ] as const) {
        const res = await handler(
          apiEvent('POST', `/v1/clusters/lambda/${action}`, { token: a.token, body: payload }),
        );
        expect(res.statusCode, `${action}: ${res.body}`).toBe(status);
      }
    }
    const after = body(await admin(apiEvent('GET', '/v1/clusters/lambda', ops)));
    expect({ ...after, now: null, nodes: null }).toEqual({ ...before, now: null, nodes: null });
  });

  it('sweep handler promotes the standby once the active has expired', async () => {
    // Age node a's last beat past the lease through the store, as if it had died 10 s ago.
    const cluster = parseConfig(rawConfig).clusters[0];
    if (cluster === undefined) throw new Error('no cluster');
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    // (A late beat cannot set lastSeen back, so the record is aged directly: as it would be
    // had a died 10 s ago while b kept beating, with no return of the control plane since.)
    await store.recordHeartbeat(cluster, 'a', {}, Date.now());
    await store.recordHeartbeat(cluster, 'b', {}, Date.now());
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: dynamo.table,
        Key: { pk: { S: 'CLUSTER#lambda' }, sk: { S: 'STATE' } },
        UpdateExpression: 'SET #nodes.#a.#lastSeen = :old, #nodes.#b.#lastSeen = :recent REMOVE #returnedAt',
        ExpressionAttributeNames: {
          '#nodes': 'nodes',
          '#a': 'a',
          '#b': 'b',
          '#lastSeen': 'lastSeen',
          '#returnedAt': 'returnedAt',
        },
        ExpressionAttributeValues: {
          ':old': { N: String(Date.now() - 10_000) },
          ':recent': { N: String(Date.now() - 1_000) },
        },
      }),
    );
    await store.recordHeartbeat(cluster, 'b', {}, Date.now());
    await sweep();
    const res = await admin(
      apiEvent('GET', '/v1/clusters/lambda', { iamUser: 'arn:aws:iam::123456789012:user/ops' }),
    );
    expect(body(res)).toMatchObject({ active: 'b', epoch: 2 });
    expect(body(res).targets).toEqual([expect.objectContaining({ id: 'log', epoch: 2, state: 'applied' })]);
  });
});

describe('REST API (payload 1.0) events: ingress rest-api and private, the same functions', () => {
  const ops = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
  /** One request as both versions, asked in turn of the same function: v1's answer is v2's, in v1's shape. */
  async function bothVersions(
    handler: ApiHandler,
    method: string,
    path: string,
    options: Parameters<typeof apiEvent>[2] = {},
  ) {
    const v2 = await handler(apiEvent(method, path, options));
    const v1 = await handler(restApiEvent(method, path, options));
    return { v1, v2 };
  }

  type Case = [string, 'heartbeat' | 'admin', string, string, Parameters<typeof apiEvent>[2]?];
  it.each<Case>([
    ['a wrong token (401)', 'heartbeat', 'POST', beatPath('a'), { token: b.token, body: '{}' }],
    [
      'an admin route on the heartbeat function (404)',
      'heartbeat',
      'GET',
      '/v1/clusters/lambda',
      { iamUser: ops },
    ],
    [
      'a body sent as text/plain (415)',
      'heartbeat',
      'POST',
      beatPath('b'),
      { token: b.token, body: '{}', contentType: 'text/plain' },
    ],
    ['a method the route does not take (405)', 'heartbeat', 'GET', beatPath('b'), { token: b.token }],
    ['an admin route without IAM (401)', 'admin', 'GET', '/v1/clusters/lambda'],
    ['the console page (200)', 'admin', 'GET', '/', { iamUser: ops }],
    ['the cluster list (200)', 'admin', 'GET', '/v1/clusters', { iamUser: ops }],
    ['an unknown cluster (404)', 'admin', 'GET', '/v1/clusters/nope', { iamUser: ops }],
  ])('answers %s in v1 exactly as in v2', async (_what, fn, method, path, options = {}) => {
    const { v1, v2 } = await bothVersions(fn === 'admin' ? admin : heartbeat, method, path, options);
    expect(v2.statusCode).toBeGreaterThan(0);
    expect(v1).toEqual(v1Result(v2));
  });

  it("answers a cluster's status and a node's own role in v1 as in v2 (the clock aside)", async () => {
    type Result = APIGatewayProxyResult | APIGatewayProxyStructuredResultV2;
    const status = await bothVersions(admin, 'GET', '/v1/clusters/lambda', { iamUser: ops });
    expect(status.v1.statusCode).toBe(200);
    const steady = (res: Result) => ({
      ...body(res),
      now: null,
      nodes: body(res).nodes.map((n: { id: string; role: string }) => [n.id, n.role]),
    });
    expect(steady(status.v1)).toEqual(steady(status.v2));
    const role = await bothVersions(heartbeat, 'GET', '/v1/clusters/lambda/nodes/b', { token: b.token });
    expect(role.v1.statusCode).toBe(200);
    const withoutLease = (res: Result) => ({ ...body(res), leaseRemainingMs: null });
    expect(withoutLease(role.v1)).toEqual(withoutLease(role.v2));
    expect(role.v1.headers).toEqual(role.v2.headers);
  });

  it('records a heartbeat sent base64-encoded through a REST API', async () => {
    const before = body(await admin(restApiEvent('GET', '/v1/clusters/lambda', { iamUser: ops })));
    const res = await heartbeat(
      restApiEvent('POST', beatPath('b'), { token: b.token, body: '{"version":"rest-1"}', base64: true }),
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(body(res)).toMatchObject({ cluster: 'lambda', node: 'b' });
    const after = body(await admin(restApiEvent('GET', '/v1/clusters/lambda', { iamUser: ops })));
    const nodeB = (status: { nodes: Array<{ id: string; heartbeats: number; version?: string }> }) =>
      status.nodes.find((n) => n.id === 'b');
    expect(nodeB(after)?.heartbeats).toBe((nodeB(before)?.heartbeats ?? 0) + 1);
    expect(nodeB(after)?.version).toBe('rest-1');
  });
});

/** The EMF lines (CloudWatch embedded metric format) the functions write to stdout while `run` runs. */
async function emf(run: () => Promise<unknown>) {
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  type Line = Record<string, unknown> & {
    _aws: {
      CloudWatchMetrics: Array<{
        Namespace: string;
        Dimensions: string[][];
        Metrics: Array<{ Name: string; Unit: string }>;
      }>;
    };
  };
  const lines = written
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Line);
  /** Each metric written, with its namespace, dimension names and values, unit and value. */
  return lines.flatMap((line) =>
    line._aws.CloudWatchMetrics.flatMap((set) =>
      set.Metrics.map((m) => ({
        namespace: set.Namespace,
        name: m.Name,
        unit: m.Unit,
        value: line[m.Name],
        dimensions: Object.fromEntries((set.Dimensions[0] ?? []).map((d) => [d, line[d]])),
      })),
    ),
  );
}

describe('metrics: EMF lines in the Lambda logs, for the dashboard', () => {
  it('counts heartbeats accepted and rejected per cluster, and a cluster not in the config as (unknown)', async () => {
    const metrics = await emf(async () => {
      await heartbeat(apiEvent('POST', beatPath('b'), { token: b.token, body: '{}' }));
      await heartbeat(apiEvent('POST', beatPath('a'), { token: b.token, body: '{}' }));
      await heartbeat(
        apiEvent('POST', '/v1/clusters/made-up/nodes/a/heartbeat', { token: a.token, body: '{}' }),
      );
      await heartbeat(apiEvent('GET', '/v1/clusters/lambda/nodes/b', { token: b.token }));
    });
    expect(metrics).toEqual([
      {
        namespace: 'Failover',
        name: 'HeartbeatsAccepted',
        unit: 'Count',
        value: 1,
        dimensions: { service: 'failover', Cluster: 'lambda' },
      },
      expect.objectContaining({
        name: 'HeartbeatsRejected',
        dimensions: { service: 'failover', Cluster: 'lambda' },
      }),
      expect.objectContaining({
        name: 'HeartbeatsRejected',
        dimensions: { service: 'failover', Cluster: '(unknown)' },
      }),
    ]);
  });

  it('counts a failover and times the target apply per cluster, and times the sweep for all clusters', async () => {
    const cluster = parseConfig(rawConfig).clusters[0];
    if (cluster === undefined) throw new Error('no cluster');
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    // a beats on; b, the active, reports failing: the heartbeat that says so replaces it.
    for (const ago of [3_000, 1_000, 0]) await store.recordHeartbeat(cluster, 'a', {}, Date.now() - ago);
    const metrics = await emf(async () => {
      const res = await heartbeat(
        apiEvent('POST', beatPath('b'), { token: b.token, body: '{"status":"failing"}' }),
      );
      expect(res.statusCode, res.body).toBe(200);
      await sweep();
    });
    const byName = Object.fromEntries(metrics.map((m) => [m.name, m]));
    // Every name written is one the dashboard draws (its synth test reads the same list).
    expect(Object.values(METRIC)).toEqual(expect.arrayContaining(Object.keys(byName)));
    expect(byName.Failovers).toMatchObject({
      value: 1,
      dimensions: { service: 'failover', Cluster: 'lambda' },
    });
    expect(byName.TargetApplyLatency).toMatchObject({
      unit: 'Milliseconds',
      dimensions: { Cluster: 'lambda' },
    });
    expect(byName.TargetApplyFailures).toBeUndefined();
    expect(byName.SweepDuration).toMatchObject({ unit: 'Milliseconds', dimensions: { service: 'failover' } });
    expect(byName.SweepErrors).toMatchObject({ value: 0, dimensions: { service: 'failover' } });
  });
});

describe('audit: who did it', () => {
  const ops = 'arn:aws:iam::123456789012:assumed-role/oncall/alice';
  const eventBridge = mockClient(EventBridgeClient);
  afterEach(() => eventBridge.reset());

  // The caller's ARN is in `requestContext.authorizer.iam` of an HTTP API (v2) event and in
  // `requestContext.identity` of a REST API (v1) one.
  it.each([
    ['an HTTP API', apiEvent],
    ['a REST API', restApiEvent],
  ] as const)(
    'records the IAM principal ARN of the request context (%s) as `by` of a pause and a resume: in status, events and EventBridge',
    async (_ingress, apiEvent) => {
      eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e' }] });
      // The admin function as deployed, with a bus to publish to.
      const { controlPlane } = createRuntime({ ...process.env, FAILOVER_EVENT_BUS: 'ops-bus' });
      const handle: EveryIngressHandler = servingEveryIngress(
        createApiHandler({
          controlPlane,
          logger: silentLogger,
          groups: ['admin'],
          authorizeAdmin: (await import('../functions/admin.js')).requireIamCaller,
        }),
      );

      const paused = await handle(
        apiEvent('POST', '/v1/clusters/lambda/pause', { iamUser: ops, body: '{"reason":"patching"}' }),
      );
      expect(paused.statusCode, paused.body).toBe(200);
      expect(body(paused).paused).toMatchObject({ by: ops, reason: 'patching' });
      const resumed = await handle(
        apiEvent('POST', '/v1/clusters/lambda/resume', { iamUser: ops, body: '{}' }),
      );
      expect(resumed.statusCode, resumed.body).toBe(200);

      const events = body(
        await handle(apiEvent('GET', '/v1/clusters/lambda/events', { iamUser: ops })),
      ).events;
      expect(events.slice(0, 2)).toEqual([
        expect.objectContaining({ kind: 'resumed', by: ops }),
        expect.objectContaining({ kind: 'paused', by: ops, reason: `automation paused by ${ops}: patching` }),
      ]);
      const published = eventBridge
        .commandCalls(PutEventsCommand)
        .flatMap((call) => call.args[0].input.Entries ?? [])
        .map((entry) => ({
          type: entry.DetailType,
          bus: entry.EventBusName,
          detail: JSON.parse(entry.Detail ?? '{}'),
        }));
      expect(published).toEqual([
        { type: 'Failover Automation Paused', bus: 'ops-bus', detail: expect.objectContaining({ by: ops }) },
        { type: 'Failover Automation Resumed', bus: 'ops-bus', detail: expect.objectContaining({ by: ops }) },
      ]);
    },
  );
});

describe('cold start', () => {
  const withBudget = (value: string | undefined) => ({ ...process.env, FAILOVER_APPLY_BUDGET_MS: value });

  it.each(['abc', '4s', '1.5', '1e3', '-1', ' 4000', 'NaN', 'Infinity', '99', '60001'])(
    'fails with a ConfigError naming FAILOVER_APPLY_BUDGET_MS=%j',
    (value) => {
      expect(() => createRuntime(withBudget(value))).toThrow(ConfigError);
      expect(() => createRuntime(withBudget(value))).toThrow(
        /^environment variable FAILOVER_APPLY_BUDGET_MS must be a whole number of milliseconds from 100 to 60000/,
      );
    },
  );

  it.each([undefined, '', '100', '4000', '60000'])('starts with FAILOVER_APPLY_BUDGET_MS=%j', (value) => {
    expect(() => createRuntime(withBudget(value))).not.toThrow();
  });
});
