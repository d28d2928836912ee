/**
 * FailoverControlPlane: the whole product as one construct. Drop it into an existing CDK
 * app with the cluster config (the same schema and file the local server uses), or deploy
 * it with this repository's own app (`infra/app.ts`).
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type Dashboard,
  type IMetric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import {
  AttributeType,
  Billing,
  type ITableV2,
  MultiRegionConsistency,
  TableEncryptionV2,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, type IEventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable, PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC } from '../functions/metric-names.js';
import { type Config, serializeConfig } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import type { RouteGroup } from '../shared/http/routes.js';
import { reservedConcurrency, type Throttle, throttles, wafRateLimit } from '../shared/http/throttle.js';
import { environmentOf } from '../shared/targets/registry.js';
import { FailoverDashboard, serviceMetric } from './dashboard.js';
import {
  CONFIG_FILE_NAME,
  controlPlaneFunction,
  type FunctionOptions,
  stagedConfigFile,
} from './functions.js';
import type { Endpoint } from './ingress/endpoint.js';
import { functionUrlIngress } from './ingress/function-url.js';
import { httpApiIngress } from './ingress/http-api.js';
import { restApiIngress } from './ingress/rest-api.js';
import { targetPolicies } from './target-policies.js';
import { targetResources } from './target-resources.js';

export interface FailoverControlPlaneProps {
  /** The validated cluster config (`loadConfigFile('failover.config.json')`). */
  readonly config: Config;
  /** Protect the state table from deletion. @default true */
  readonly deletionProtection?: boolean;
  /**
   * Throttles per route group, each on every route of the group, so a flood on one group
   * cannot use up the other's. @default sized from the config (`shared/http/throttle.ts`):
   * node routes Σ nodes ÷ interval × 4 per second (at least 10), burst twice that or twice
   * the nodes; admin routes 10 per second, burst 20
   */
  readonly throttles?: Partial<Readonly<Record<RouteGroup, Throttle>>>;
  /** How often the sweep runs (the safety net; inline detection in heartbeats is the fast path). @default 1 minute */
  readonly sweepSchedule?: Duration;
  /** Retention of function and access logs. @default one month */
  readonly logRetention?: RetentionDays;
  /**
   * Where cluster events (promotions, holds, drift repairs, collisions, pauses, serving-set
   * changes) are published. @default the account's default event bus
   */
  readonly eventBus?: IEventBus;
  /** Alarm notifications go here. @default alarms without actions */
  readonly alarmTopic?: ITopic;
  /**
   * Multi-Region (config `regions`): the state table's name, the same in every Region. The
   * stack in the first Region creates the multi-Region strongly consistent table with its
   * replicas (and witness); the others use their local replica. @default `failover-state`
   */
  readonly stateTableName?: string;
  /**
   * How agents and operators reach the functions (the same handlers either way):
   * - `http-api`: an API Gateway HTTP API, per-route throttles, IAM on admin routes;
   * - `function-url`: Lambda Function URLs, no API Gateway charge; the node URL is
   *   throttled by the heartbeat function's reserved concurrency, the admin URL takes IAM;
   * - `rest-api`: an API Gateway REST API behind an AWS WAF web ACL with a rate-based rule
   *   per source IP (`wafRateLimit`), per-method throttles, IAM on admin methods;
   * - `private`: a private REST API, reachable only through `vpcEndpointIds`.
   * @default 'http-api'
   */
  readonly ingress?: Ingress;
  /**
   * Ingress `rest-api`: requests one source IP may send per 5 minutes before the WAF blocks
   * it. @default the whole fleet's beats in 5 minutes × 4, plus 600 for a console
   * (`wafRateLimit` in shared/http/throttle.ts: nodes behind one NAT share an address)
   */
  readonly wafRateLimit?: number;
  /**
   * Ingress `private`, and required with it: the interface VPC endpoints for `execute-api`
   * (`vpce-…`) through which agents and operators reach the private API; no other path may.
   */
  readonly vpcEndpointIds?: readonly string[];
}

export const INGRESSES = ['http-api', 'function-url', 'rest-api', 'private'] as const;
export type Ingress = (typeof INGRESSES)[number];

export class FailoverControlPlane extends Construct {
  /** The state table: created here, or (multi-Region, not the first Region) the local replica. */
  readonly table: ITableV2;
  /** The HTTP API (ingress `http-api`) or REST API (`rest-api`, `private`); undefined with `function-url`. */
  readonly api: HttpApi | RestApi | undefined;
  private readonly adminAccess: Endpoint['admin'];
  readonly heartbeatFunction: NodejsFunction;
  readonly sweepFunction: NodejsFunction;
  readonly adminFunction: NodejsFunction;
  readonly alarms: Alarm[] = [];
  /** Failovers, holds, targets, sweep, heartbeats per cluster, API and Lambda health. */
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: FailoverControlPlaneProps) {
    super(scope, id);
    // The config ships inside each function's bundle, next to its code: no size limit (the
    // Lambda environment holds 4 KB, about 25 nodes) and no network call at cold start.
    // Any change to it changes the asset hash, so `cdk deploy` rolls it out.
    const configFile = stagedConfigFile(serializeConfig(props.config));
    // Secrets are read at run time (a webhook's `secretId`), never put in the environment,
    // where the function's configuration and the template would show them.
    props.config.clusters.forEach((cluster) => {
      cluster.targets.forEach((target, i) => {
        const [fromEnvironment] = environmentOf(target);
        if (fromEnvironment !== undefined) {
          throw new ConfigError(
            `clusters[${cluster.id}].targets[${i}].${fromEnvironment.field}: the deployed functions have no ` +
              `${fromEnvironment.name} in their environment (secrets are not put there): name a Secrets ` +
              "Manager secret instead, read at run time (a webhook's secretId)",
          );
        }
      });
    });
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const eventBus = props.eventBus ?? EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    this.table = stateTable(this, props);

    const environment = {
      FAILOVER_CONFIG_FILE: `/var/task/${CONFIG_FILE_NAME}`,
      FAILOVER_TABLE: this.table.tableName,
      FAILOVER_EVENT_BUS: eventBus.eventBusName,
      POWERTOOLS_SERVICE_NAME: 'failover',
    };
    const fn = (name: string, options: FunctionOptions) =>
      controlPlaneFunction(this, name, options, { environment, configFile, logRetention });

    const ingress = props.ingress ?? 'http-api';
    const throttle = { ...throttles(props.config), ...props.throttles };
    const heartbeat = fn('Heartbeat', {
      timeout: Duration.seconds(10),
      memorySize: 256,
      // A Function URL has no throttle of its own: the function's concurrency is its throttle.
      ...(ingress === 'function-url' ? { reservedConcurrency: reservedConcurrency(throttle.node) } : {}),
    });
    const sweep = fn('Sweep', { timeout: Duration.seconds(60), memorySize: 512 });
    // Admin runs switchovers, so it applies targets like the others.
    const admin = fn('Admin', { timeout: Duration.seconds(10), memorySize: 256 });
    this.heartbeatFunction = heartbeat.f;
    this.sweepFunction = sweep.f;
    this.adminFunction = admin.f;

    // DynamoDB: exactly the actions each function uses, on this table only.
    this.allowTable(heartbeat.f, ['dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:PutItem']);
    this.allowTable(sweep.f, [
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:UpdateItem',
      'dynamodb:PutItem',
      // Multi-Region: no TTL on the table, so the sweep finds and deletes expired events.
      ...(props.config.regions ? ['dynamodb:Query', 'dynamodb:BatchWriteItem'] : []),
    ]);
    this.allowTable(admin.f, [
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'dynamodb:PutItem',
    ]);
    // Every function applies targets (heartbeat and sweep on failover, admin on switchover):
    // exactly the configured zones, records, groups, listeners and rules.
    const { partition, region, account } = Stack.of(this);
    const targets = targetPolicies(props.config, { partition, region, account });
    for (const f of [heartbeat.f, sweep.f, admin.f]) {
      f.addToRolePolicy(
        new PolicyStatement({ actions: ['events:PutEvents'], resources: [eventBus.eventBusArn] }),
      );
      for (const statement of targets.statements) f.addToRolePolicy(statement);
      // Acknowledged per finding, and only when the config produces it.
      for (const acknowledgement of targets.acknowledgements) {
        Validations.of(f.role as Role).acknowledge(acknowledgement);
      }
    }

    // Health-routed targets: what traffic follows is set up here, once, not at failover time.
    targetResources(new Construct(this, 'Targets'), props.config);

    const endpoint = ingressFor(
      this,
      ingress,
      props,
      { heartbeat: heartbeat.f, admin: admin.f },
      throttle,
      logRetention,
    );
    this.api = endpoint.api;
    this.adminAccess = endpoint.admin;

    // The sweep: the safety net. The inline path in heartbeats is what makes failover fast.
    new Rule(this, 'SweepSchedule', {
      schedule: Schedule.rate(props.sweepSchedule ?? Duration.minutes(1)),
      targets: [new LambdaFunction(sweep.f, { retryAttempts: 0 })],
    });

    // The functions' EMF metrics (no extra calls on the hot path) and AWS's own, on one page.
    this.dashboard = new FailoverDashboard(this, 'Monitoring', {
      ...(endpoint.accessLogs ? { api: { metrics: endpoint.metrics, accessLogs: endpoint.accessLogs } } : {}),
      functions: { heartbeat: heartbeat.f, sweep: sweep.f, admin: admin.f },
    }).dashboard;
    this.alarm(
      'SweepErrors',
      sweep.f.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      1,
      props.alarmTopic,
    );
    this.alarm(
      'SweepNotRunning',
      sweep.f.metricInvocations({ period: Duration.minutes(15), statistic: 'Sum' }),
      1,
      props.alarmTopic,
      ComparisonOperator.LESS_THAN_THRESHOLD,
      TreatMissingData.BREACHING,
    );
    this.alarm(
      'TargetApplyFailures',
      serviceMetric(METRIC.targetApplyFailures).with({ period: Duration.minutes(5) }),
      1,
      props.alarmTopic,
    );

    new CfnOutput(this, 'TableName', { value: this.table.tableName });
  }

  /**
   * Allows `grantee` to call the admin routes with SigV4: the console (page, script, styles,
   * cluster list), status, events, switchover, pause, resume.
   */
  grantAdmin(grantee: IGrantable): Grant {
    const { actions, resources, conditions } = this.adminAccess;
    return Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: resources,
      ...(conditions ? { conditions } : {}),
    });
  }

  private allowTable(f: NodejsFunction, actions: string[]): void {
    f.addToRolePolicy(new PolicyStatement({ actions, resources: [this.table.tableArn] }));
  }

  private alarm(
    name: string,
    metric: IMetric,
    threshold: number,
    topic: ITopic | undefined,
    comparisonOperator = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData = TreatMissingData.NOT_BREACHING,
  ): void {
    const alarm = new Alarm(this, `${name}Alarm`, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator,
      treatMissingData,
      alarmDescription: `failover: ${name}`,
    });
    if (topic) alarm.addAlarmAction(new SnsAction(topic));
    this.alarms.push(alarm);
  }
}

/** The chosen ingress, its own props checked: each is refused with any other ingress. */
function ingressFor(
  scope: Construct,
  ingress: Ingress,
  props: FailoverControlPlaneProps,
  fns: { heartbeat: NodejsFunction; admin: NodejsFunction },
  throttle: Record<RouteGroup, Throttle>,
  logRetention: RetentionDays,
): Endpoint {
  if (!INGRESSES.includes(ingress)) {
    throw new ConfigError(`ingress: expected one of ${INGRESSES.join(', ')}, got '${ingress}'`);
  }
  if (props.wafRateLimit !== undefined && ingress !== 'rest-api') {
    throw new ConfigError(`wafRateLimit: only ingress 'rest-api' has a WAF; this one is '${ingress}'`);
  }
  if (props.vpcEndpointIds !== undefined && ingress !== 'private') {
    throw new ConfigError(
      `vpcEndpointIds: only ingress 'private' is reached through VPC endpoints; this one is '${ingress}'`,
    );
  }
  switch (ingress) {
    case 'http-api':
      return httpApiIngress(scope, fns.heartbeat, fns.admin, throttle, logRetention);
    case 'function-url':
      return functionUrlIngress(scope, fns.heartbeat, fns.admin);
    case 'rest-api':
      return restApiIngress(scope, fns.heartbeat, fns.admin, throttle, logRetention, {
        kind: 'public',
        wafRateLimit: props.wafRateLimit ?? wafRateLimit(props.config),
      });
    case 'private':
      return restApiIngress(scope, fns.heartbeat, fns.admin, throttle, logRetention, {
        kind: 'private',
        vpcEndpointIds: props.vpcEndpointIds ?? [],
      });
    default: {
      const never: never = ingress;
      throw new ConfigError(`ingress: unknown '${never}'`);
    }
  }
}

/**
 * The state table. One Region: created here, with TTL on `expiresAt`. Multi-Region: a
 * multi-Region strongly consistent (MRSC) global table, created by the first Region's stack
 * with the other two as replicas (or one replica and a witness); MRSC has no TTL, so the
 * sweep deletes expired events instead (functions/runtime.ts). The other Regions' stacks
 * use their local replica, by name.
 */
function stateTable(scope: Construct, props: FailoverControlPlaneProps): ITableV2 {
  const { regions, witnessRegion } = props.config;
  const common = {
    partitionKey: { name: 'pk', type: AttributeType.STRING },
    sortKey: { name: 'sk', type: AttributeType.STRING },
    billing: Billing.onDemand(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: props.deletionProtection ?? true,
    encryption: TableEncryptionV2.awsManagedKey(),
    removalPolicy: RemovalPolicy.RETAIN,
  };
  if (regions === undefined)
    return new TableV2(scope, 'State', { ...common, timeToLiveAttribute: 'expiresAt' });
  const here = Stack.of(scope).region;
  if (!regions.includes(here)) {
    throw new ConfigError(
      `regions: this stack's Region (${here}) is not one of ${regions.join(', ')}: deploy one stack per Region in the list, with an explicit env.region`,
    );
  }
  const tableName = props.stateTableName ?? 'failover-state';
  if (here !== regions[0]) return TableV2.fromTableName(scope, 'State', tableName);
  return new TableV2(scope, 'State', {
    ...common,
    tableName,
    multiRegionConsistency: MultiRegionConsistency.STRONG,
    replicas: regions.slice(1).map((region) => ({ region })),
    ...(witnessRegion === undefined ? {} : { witnessRegion }),
  });
}
