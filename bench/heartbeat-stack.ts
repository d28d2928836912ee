/**
 * The heartbeat stack the benchmarks drive in process: a fleet of clusters with their node
 * tokens, API Gateway events as Lambda receives them, the heartbeat function's handler over
 * a given DynamoDB client, and a beater that reports what each node believes, as the agent does.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { type Config, parseConfig } from '../shared/config.js';
import { ControlPlane } from '../shared/control-plane/control-plane.js';
import { AuthError } from '../shared/errors.js';
import { createApiHandler } from '../shared/http/api.js';
import { silentLogger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { buildTargets } from '../shared/targets/index.js';
import { mintToken } from '../shared/tokens.js';

interface Fleet {
  config: Config;
  tokens: Map<string, string>;
}

/** Clusters with `nodes` nodes each and the given targets; every node's token is kept. */
export function makeFleet(clusters: Array<{ id: string; nodes: number }>, targets: unknown[] = []): Fleet {
  const tokens = new Map<string, string>();
  const config = parseConfig(
    {
      clusters: clusters.map((c) => ({
        id: c.id,
        heartbeatIntervalSeconds: 5,
        missedBeats: 3,
        nodes: Array.from({ length: c.nodes }, (_, i) => {
          const { token, sha256 } = mintToken();
          const id = `n${i + 1}`;
          tokens.set(`${c.id}/${id}`, token);
          return { id, address: `192.0.2.${i + 1}`, tokenSha256: sha256 };
        }),
        targets,
      })),
    },
    'bench config',
  );
  return { config, tokens };
}

/** An API Gateway HTTP API (payload v2) event for one heartbeat, as Lambda receives it. */
function heartbeatEvent(cluster: string, node: string, token: string, body: string): APIGatewayProxyEventV2 {
  const now = new Date();
  const path = `/v1/clusters/${cluster}/nodes/${node}/heartbeat`;
  return {
    version: '2.0',
    routeKey: 'POST /v1/clusters/{cluster}/nodes/{node}/heartbeat',
    rawPath: path,
    rawQueryString: '',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'bench',
      domainName: 'bench.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'bench',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '192.0.2.99', userAgent: 'bench' },
      requestId: `bench-${now.getTime()}-${Math.random().toString(36).slice(2, 8)}`,
      routeKey: 'POST /v1/clusters/{cluster}/nodes/{node}/heartbeat',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    body,
    isBase64Encoded: false,
  };
}

/** The Lambda heartbeat stack (`functions/heartbeat.ts` minus Powertools) over a given client. */
export function heartbeatStack(client: DynamoDBClient, table: string, config: Config) {
  const controlPlane = new ControlPlane({
    config,
    store: new DynamoStateStore(client, table),
    targets: buildTargets(config, silentLogger, {}),
    logger: silentLogger,
  });
  return createApiHandler({
    controlPlane,
    logger: silentLogger,
    groups: ['node'],
    authorizeAdmin: () => {
      throw new AuthError('not served here');
    },
  });
}

/** Beats like the agent does: the body carries what the node believes (role, epoch). */
export function agentBeater(handle: ReturnType<typeof heartbeatStack>, tokens: Map<string, string>) {
  const beliefs = new Map<string, { role: string; epoch: number }>();
  return async (cluster: string, node: string, extra: Record<string, unknown> = {}) => {
    const key = `${cluster}/${node}`;
    const belief = beliefs.get(key);
    const body = JSON.stringify({ status: 'ok', ...extra, ...(belief ?? {}) });
    const res = await handle(heartbeatEvent(cluster, node, tokens.get(key) as string, body));
    if (res.statusCode !== 200) throw new Error(`heartbeat ${key} answered ${res.statusCode}: ${res.body}`);
    const answer = JSON.parse(res.body as string) as { role: string; epoch: number };
    beliefs.set(key, { role: answer.role, epoch: answer.epoch });
  };
}
