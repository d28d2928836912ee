/**
 * How agents and operators reach the control plane's functions: an API Gateway HTTP API
 * (per-route throttles, IAM on admin routes) or Lambda Function URLs. Same handlers either way.
 */
import { CfnOutput, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ROUTES, type RouteGroup } from '../shared/http/routes.js';
import type { Throttle } from '../shared/http/throttle.js';

/** Where agents and operators reach the control plane; who may call the admin routes. */
export interface Endpoint {
  api: HttpApi | undefined;
  /** The HTTP API's access log (its throttled requests are counted from it). */
  accessLogs: LogGroup | undefined;
  admin: { actions: string[]; resources: string[]; conditions?: Record<string, Record<string, string>> };
}

/** The HTTP API: heartbeats carry node tokens checked in the handler; admin routes use IAM. */
export function httpApiIngress(
  scope: Construct,
  heartbeatFn: NodejsFunction,
  adminFn: NodejsFunction,
  throttle: Record<RouteGroup, Throttle>,
  logRetention: RetentionDays,
): Endpoint {
  const accessLogs = new LogGroup(scope, 'ApiAccessLogs', {
    retention: logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const api = new HttpApi(scope, 'Api', {
    createDefaultStage: false,
    description: 'failover control plane API',
  });
  const stage = new HttpStage(scope, 'DefaultStage', {
    httpApi: api,
    stageName: '$default',
    autoDeploy: true,
    // A route without settings of its own (none today) gets the admin routes' throttle.
    throttle: throttle.admin,
    accessLogSettings: {
      destination: new LogGroupLogDestination(accessLogs),
      format: AccessLogFormat.custom(
        JSON.stringify({
          requestId: '$context.requestId',
          ip: '$context.identity.sourceIp',
          caller: '$context.identity.userArn',
          method: '$context.httpMethod',
          path: '$context.path',
          status: '$context.status',
          latencyMs: '$context.responseLatency',
          integrationError: '$context.integrationErrorMessage',
        }),
      ),
    },
  });
  // Exactly the routes the handler serves: node routes go to the heartbeat function, which
  // checks the node's token; admin routes to the admin function, behind IAM.
  const integrations = {
    node: new HttpLambdaIntegration('HeartbeatIntegration', heartbeatFn),
    admin: new HttpLambdaIntegration('AdminIntegration', adminFn),
  };
  const iam = new HttpIamAuthorizer();
  const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
  for (const { group, method, path } of ROUTES) {
    const added = api.addRoutes({
      path,
      methods: [HttpMethod[method]],
      integration: integrations[group],
      ...(group === 'admin' ? { authorizer: iam } : {}),
    });
    routeSettings[`${method} ${path}`] = {
      ThrottlingRateLimit: throttle[group].rateLimit,
      ThrottlingBurstLimit: throttle[group].burstLimit,
    };
    // Route settings name routes by key: the routes must exist before the stage refers to them.
    for (const route of added) stage.node.addDependency(route);
    if (group !== 'node') continue;
    for (const route of added) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Node agents authenticate with a per-node bearer token, checked in the handler against a SHA-256 hash ' +
          'in constant time; IAM credentials on every host would defeat the curl-friendly design.',
      });
    }
  }

  (stage.node.defaultChild as CfnStage).addPropertyOverride('RouteSettings', routeSettings);

  new CfnOutput(scope, 'ApiUrl', { value: stage.url, description: 'Base URL for agents and the CLI' });
  // One ARN per admin route (each path parameter a wildcard): the console's too, no node route.
  const adminArns = ROUTES.filter((r) => r.group === 'admin').map((r) =>
    api.arnForExecuteApi(r.method, r.path.replace(/\{\w+\}/g, '*'), '$default'),
  );
  new CfnOutput(scope, 'AdminInvokeArns', {
    value: Fn.join(',', adminArns),
    description: `Grant execute-api:Invoke on these ARNs to operators (region ${Stack.of(scope).region})`,
  });
  return { api, accessLogs, admin: { actions: ['execute-api:Invoke'], resources: adminArns } };
}

/**
 * Lambda Function URLs, the cheapest ingress: no per-request API Gateway charge. The
 * heartbeat function's URL is open (node tokens are checked in the handler, as behind the
 * HTTP API) and throttled by its reserved concurrency, sized from the config; the admin
 * function's URL takes IAM (SigV4 for the \`lambda\` service). Same handlers, same routes.
 */
export function functionUrlIngress(
  scope: Construct,
  heartbeatFn: NodejsFunction,
  adminFn: NodejsFunction,
): Endpoint {
  const nodeUrl = heartbeatFn.addFunctionUrl({ authType: FunctionUrlAuthType.NONE });
  const adminUrl = adminFn.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });
  new CfnOutput(scope, 'ApiUrl', { value: nodeUrl.url, description: 'Base URL for agents (node routes)' });
  new CfnOutput(scope, 'AdminUrl', {
    value: adminUrl.url,
    description: 'Base URL for the CLI (admin routes, IAM)',
  });
  new CfnOutput(scope, 'AdminInvokeArn', {
    value: adminFn.functionArn,
    description: 'Grant lambda:InvokeFunctionUrl on this ARN to operators',
  });
  return {
    api: undefined,
    accessLogs: undefined,
    admin: {
      actions: ['lambda:InvokeFunctionUrl'],
      resources: [adminFn.functionArn],
      conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
    },
  };
}
