/** Ingress `http-api` (the default): an API Gateway HTTP API. */
import { Validations } from 'aws-cdk-lib';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ROUTES, type RouteGroup } from '../../shared/http/routes.js';
import type { Throttle } from '../../shared/http/throttle.js';
import {
  ACCESS_LOG_FORMAT,
  ADMIN_ROUTES,
  accessLogGroup,
  apiOutputs,
  arnPath,
  type Endpoint,
  NODE_ROUTES_NO_AUTHORIZER,
} from './endpoint.js';

/** The HTTP API: heartbeats carry node tokens checked in the handler; admin routes use IAM. */
export function httpApiIngress(
  scope: Construct,
  heartbeatFn: NodejsFunction,
  adminFn: NodejsFunction,
  throttle: Record<RouteGroup, Throttle>,
  logRetention: RetentionDays,
): Endpoint {
  const accessLogs = accessLogGroup(scope, logRetention);
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
      format: ACCESS_LOG_FORMAT,
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
    for (const route of added) Validations.of(route).acknowledge(NODE_ROUTES_NO_AUTHORIZER);
  }

  (stage.node.defaultChild as CfnStage).addPropertyOverride('RouteSettings', routeSettings);

  const adminArns = ADMIN_ROUTES.map((r) => api.arnForExecuteApi(r.method, arnPath(r.path), '$default'));
  apiOutputs(scope, stage.url, adminArns);
  return {
    api,
    accessLogs,
    metrics: [api.metricCount(), api.metricClientError(), api.metricServerError()],
    admin: { actions: ['execute-api:Invoke'], resources: adminArns },
  };
}
