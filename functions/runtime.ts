/**
 * Composition root shared by the Lambda handlers: parse config once per container, build
 * the SDK client once, and fail the cold start (not the first failover) on a bad config.
 *
 * Environment:
 *   FAILOVER_CONFIG_FILE  the cluster config (same schema as failover.config.json), shipped in the bundle
 *   FAILOVER_TABLE    the DynamoDB table name
 *   FAILOVER_EVENT_BUS  optional: EventBridge bus that receives every cluster event (DETAIL_TYPES)
 *   FAILOVER_APPLY_BUDGET_MS  optional: how long one invocation may spend applying targets
 *                     (a whole number of ms from 100 to 60000; default 4000)
 *   plus the standard AWS variables (region, credentials, AWS_ENDPOINT_URL_DYNAMODB, …)
 */

import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { LogAttributes } from '@aws-lambda-powertools/logger/types';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadConfigFile } from '../shared/config.js';
import { ControlPlane } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { buildTargets } from '../shared/targets/index.js';
import { FunctionMetrics } from './metrics.js';

/** Expired events one sweep deletes per cluster on a table without TTL (one BatchWriteItem). */
const EVENTS_PRUNED_PER_SWEEP = 25;

export interface Runtime {
  controlPlane: ControlPlane;
  logger: Logger;
  metrics: FunctionMetrics;
}

export function createRuntime(env: NodeJS.ProcessEnv = process.env): Runtime {
  const config = loadConfigFile(required(env, 'FAILOVER_CONFIG_FILE'));
  const table = required(env, 'FAILOVER_TABLE');
  // Leave room inside the function timeout for the writes after the apply.
  const applyBudgetMs = wholeMilliseconds(env, 'FAILOVER_APPLY_BUDGET_MS', {
    min: 100,
    max: 60_000,
    fallback: 4_000,
  });
  const logger = structuredLogger(new PowertoolsLogger({ serviceName: 'failover' }));
  const metrics = new FunctionMetrics(config);
  const toBus = env.FAILOVER_EVENT_BUS ? eventBridgePublisher(env.FAILOVER_EVENT_BUS) : undefined;
  const controlPlane = new ControlPlane({
    config,
    store: new DynamoStateStore(new DynamoDBClient({}), table),
    targets: metrics.measured(buildTargets(config, logger, env)),
    logger,
    applyBudgetMs,
    // Multi-Region: status shows which Region took each node's last beat.
    ...(config.regions && env.AWS_REGION ? { region: env.AWS_REGION } : {}),
    // A multi-Region strongly consistent table has no TTL: the sweep deletes expired events.
    ...(config.regions ? { pruneEventsPerSweep: EVENTS_PRUNED_PER_SWEEP } : {}),
    publish: async (event) => {
      metrics.event(event);
      await toBus?.(event);
    },
  });
  return { controlPlane, logger, metrics };
}

/** Detail types of the events put on the bus (documented in the README). */
export const DETAIL_TYPES: Record<ClusterEvent['kind'], string> = {
  promoted: 'Failover Node Promoted',
  held: 'Failover Promotion Held',
  drift: 'Failover Target Drift Repaired',
  collision: 'Failover Collision Detected',
  paused: 'Failover Automation Paused',
  resumed: 'Failover Automation Resumed',
  serving: 'Failover Serving Set Changed',
  failsafe: 'Failover Failsafe Episode Reported',
  handover: 'Failover Handover Progressed',
};

/** Publishes to EventBridge; the SDK package loads on the first transition, not at cold start. */
function eventBridgePublisher(bus: string) {
  type Sdk = typeof import('@aws-sdk/client-eventbridge');
  let sdk:
    | Promise<{ client: InstanceType<Sdk['EventBridgeClient']>; PutEventsCommand: Sdk['PutEventsCommand'] }>
    | undefined;
  return async (event: ClusterEvent) => {
    sdk ??= import('@aws-sdk/client-eventbridge').then((m) => ({
      client: new m.EventBridgeClient({}),
      PutEventsCommand: m.PutEventsCommand,
    }));
    const { client, PutEventsCommand } = await sdk;
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: bus,
            Source: 'failover',
            DetailType: DETAIL_TYPES[event.kind],
            Resources: [],
            Detail: JSON.stringify({ ...event, at: new Date(event.at).toISOString() }),
          },
        ],
      }),
    );
    if (out.FailedEntryCount) throw new Error(out.Entries?.[0]?.ErrorMessage ?? 'PutEvents failed');
  };
}

/** Powertools' Logger (JSON lines for CloudWatch) behind the core's Logger port. */
function structuredLogger(powertools: PowertoolsLogger): Logger {
  const level =
    (log: (message: string, ...extra: [LogAttributes]) => void) =>
    (message: string, extra?: Record<string, unknown>) =>
      log(message, (extra ?? {}) as LogAttributes);
  return {
    info: level(powertools.info.bind(powertools)),
    warn: level(powertools.warn.bind(powertools)),
    error: level(powertools.error.bind(powertools)),
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`environment variable ${name} is not set`);
  return value;
}

/** An optional whole number of milliseconds; unset or empty means `fallback`. */
function wholeMilliseconds(
  env: NodeJS.ProcessEnv,
  name: string,
  { min, max, fallback }: { min: number; max: number; fallback: number },
): number {
  const value = env[name];
  if (!value) return fallback;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < min || ms > max) {
    throw new ConfigError(
      `environment variable ${name} must be a whole number of milliseconds from ${min} to ${max}, not '${value}'`,
    );
  }
  return ms;
}
