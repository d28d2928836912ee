/** Ingresses `rest-api` (public, behind AWS WAF) and `private` (VPC endpoints only): an API Gateway REST API. */
import { Stack, Validations } from 'aws-cdk-lib';
import {
  AuthorizationType,
  EndpointType,
  type IResource,
  LambdaIntegration,
  MethodLoggingLevel,
  type MethodOptions,
  RequestValidator,
  RestApi,
  LogGroupLogDestination as RestLogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigateway';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { InterfaceVpcEndpoint } from 'aws-cdk-lib/aws-ec2';
import { AccountPrincipal, AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { ConfigError } from '../../shared/errors.js';
import { ROUTES, type RouteGroup } from '../../shared/http/routes.js';
import { type Throttle, WAF_WINDOW_SECONDS } from '../../shared/http/throttle.js';
import {
  ACCESS_LOG_FORMAT,
  ADMIN_ROUTES,
  accessLogGroup,
  apiOutputs,
  arnPath,
  type Endpoint,
  NODE_ROUTES_NO_AUTHORIZER,
} from './endpoint.js';

/** Who may reach the REST API: anyone, through a WAF rate rule, or only given VPC endpoints. */
export type RestApiAccess =
  | { kind: 'public'; wafRateLimit: number }
  | { kind: 'private'; vpcEndpointIds: readonly string[] };

/** The REST API's one stage; its name is the first segment of every URL (`…/prod/v1/…`). */
const REST_STAGE = 'prod';
/** AWS WAF's bounds for a rate-based rule's limit. */
const WAF_LIMIT = { min: 10, max: 2_000_000_000 } as const;

/**
 * An API Gateway REST API with exactly the routes table, for the two things an HTTP API
 * cannot do: AWS WAF (`public`, ingress `rest-api`) and private endpoints (`private`). As
 * behind the HTTP API: node methods open (node tokens checked in the handler), admin
 * methods IAM, per-group throttles on the stage, JSON access logs.
 *
 * 1. Methods: one per route, node routes to the heartbeat function, admin to the admin
 *    function; their path parameters required (the request validator checks them).
 * 2. Stage: the admin throttle for the stage, the node throttle on each node method,
 *    execution logging at ERROR for every method, access logs.
 * 3. `public`: a regional endpoint and a WAF web ACL on the stage with one rate-based rule
 *    per source IP. `private`: a private endpoint and a resource policy that admits only the
 *    given VPC endpoints (and, for admin methods, only this account's IAM principals).
 */
export function restApiIngress(
  scope: Construct,
  heartbeatFn: NodejsFunction,
  adminFn: NodejsFunction,
  throttle: Record<RouteGroup, Throttle>,
  logRetention: RetentionDays,
  access: RestApiAccess,
): Endpoint {
  if (access.kind === 'private') checkVpcEndpoints(access.vpcEndpointIds);
  else checkWafRateLimit(access.wafRateLimit);
  const accessLogs = accessLogGroup(scope, logRetention);
  const stack = Stack.of(scope);
  const api = new RestApi(scope, 'Api', {
    // API Gateway's metrics are named by it (dimension ApiName): one name per stack.
    restApiName: `${stack.stackName}-api`,
    description: 'failover control plane API',
    endpointConfiguration:
      access.kind === 'private'
        ? {
            types: [EndpointType.PRIVATE],
            // Associated, so each endpoint also gets a public alias name for the API
            // (API_ID-VPCE_ID.execute-api.REGION.amazonaws.com): no private DNS needed.
            vpcEndpoints: access.vpcEndpointIds.map((id) =>
              InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(scope, `Endpoint-${id}`, {
                vpcEndpointId: id,
                port: 443,
              }),
            ),
          }
        : { types: [EndpointType.REGIONAL] },
    // Execution logs (cdk-nag APIG6) need the account's API Gateway CloudWatch role: made here.
    cloudWatchRole: true,
    ...(access.kind === 'private' ? { policy: privatePolicy(access.vpcEndpointIds, stack.account) } : {}),
    deployOptions: {
      stageName: REST_STAGE,
      // A method without settings of its own (the admin methods) gets the admin throttle.
      throttlingRateLimit: throttle.admin.rateLimit,
      throttlingBurstLimit: throttle.admin.burstLimit,
      loggingLevel: MethodLoggingLevel.ERROR,
      metricsEnabled: true,
      accessLogDestination: new RestLogGroupLogDestination(accessLogs),
      accessLogFormat: ACCESS_LOG_FORMAT,
      methodOptions: Object.fromEntries(
        ROUTES.filter((r) => r.group === 'node').map((r) => [
          `${r.path}/${r.method}`,
          { throttlingRateLimit: throttle.node.rateLimit, throttlingBurstLimit: throttle.node.burstLimit },
        ]),
      ),
    },
  });
  // Path parameters are required (they always are, in a path); bodies have no model: the
  // handler checks them against its strict schemas, one schema for every ingress.
  const validator = new RequestValidator(scope, 'ApiRequestValidator', {
    restApi: api,
    validateRequestParameters: true,
    validateRequestBody: true,
  });
  // One invoke permission per function for this API (not one per method).
  const integrations = {
    node: new LambdaIntegration(heartbeatFn, { scopePermissionToMethod: false }),
    admin: new LambdaIntegration(adminFn, { scopePermissionToMethod: false }),
  };
  for (const { group, method, path } of ROUTES) {
    const resource: IResource = path === '/' ? api.root : api.root.resourceForPath(path);
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => [`method.request.path.${m[1]}`, true]);
    const options: MethodOptions = {
      authorizationType: group === 'admin' ? AuthorizationType.IAM : AuthorizationType.NONE,
      requestValidator: validator,
      requestParameters: Object.fromEntries(params),
    };
    const added = resource.addMethod(method, integrations[group], options);
    Validations.of(added).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'No Cognito user pool: admin methods are authorised by IAM (SigV4), node methods by per-node tokens in the handler.',
    });
    if (group === 'node') Validations.of(added).acknowledge(NODE_ROUTES_NO_AUTHORIZER);
  }
  const role = api.node.tryFindChild('CloudWatchRole');
  if (role) {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "API Gateway's account-wide CloudWatch role, as CDK makes it: AWS's AmazonAPIGatewayPushToCloudWatchLogs " +
        'policy is the one that role is documented with; execution logging needs it.',
    });
  }
  const metrics = [api.metricCount(), api.metricClientError(), api.metricServerError()];
  if (access.kind === 'public') metrics.push(rateLimitedByWaf(scope, api, access.wafRateLimit));
  else {
    Validations.of(api.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'A private API: only the listed VPC endpoints reach it (resource policy), so no internet source can flood ' +
        'it, and the per-method throttles bound what the VPC can send; a WAF rate rule keyed on private ' +
        'addresses behind an endpoint would add cost and no protection the throttles lack.',
    });
  }
  const adminArns = ADMIN_ROUTES.map((r) => api.arnForExecuteApi(r.method, arnPath(r.path), REST_STAGE));
  apiOutputs(scope, api.url, adminArns);
  return { api, accessLogs, metrics, admin: { actions: ['execute-api:Invoke'], resources: adminArns } };
}

/**
 * The web ACL on the REST API's stage: a rate-based rule blocks a source IP that sends more
 * than `limit` requests in WAF_WINDOW_SECONDS (`wafRateLimit` in shared/http/throttle.ts
 * explains the default). No managed rule group: AWSManagedRulesCommonRuleSet blocks
 * requests without a User-Agent (the agent sends none) and inspects bodies, and a false
 * positive on a heartbeat would look like a dead node and fail it over. Returns the metric
 * of the requests it blocked.
 */
function rateLimitedByWaf(scope: Construct, api: RestApi, limit: number): Metric {
  // WAF's metrics are named by these (dimensions WebACL and Rule): one name per stack.
  const name = `${Stack.of(scope).stackName}-api`;
  const visibility = (metricName: string) => ({
    metricName,
    cloudWatchMetricsEnabled: true,
    sampledRequestsEnabled: true,
  });
  const acl = new CfnWebACL(scope, 'ApiWebAcl', {
    scope: 'REGIONAL',
    defaultAction: { allow: {} },
    visibilityConfig: visibility(name),
    rules: [
      {
        name: 'RateLimitPerSourceIp',
        priority: 0,
        action: { block: {} },
        statement: {
          rateBasedStatement: { limit, aggregateKeyType: 'IP', evaluationWindowSec: WAF_WINDOW_SECONDS },
        },
        visibilityConfig: visibility(`${name}-rate-limited`),
      },
    ],
  });
  new CfnWebACLAssociation(scope, 'ApiWebAclAssociation', {
    resourceArn: api.deploymentStage.stageArn,
    webAclArn: acl.attrArn,
  });
  return new Metric({
    namespace: 'AWS/WAFV2',
    metricName: 'BlockedRequests',
    dimensionsMap: { WebACL: name, Region: Stack.of(scope).region, Rule: 'ALL' },
    statistic: 'Sum',
    label: 'WAF blocked',
  });
}

/**
 * A private API's resource policy: invoking is allowed only through the given VPC endpoints
 * (and explicitly denied through any other). Node methods admit any caller (the handler
 * checks node tokens); admin methods admit this account's principals only, so IAM policies
 * (`grantAdmin`) decide who: a resource policy allowing `*` would let any AWS principal with
 * a valid signature call them.
 */
function privatePolicy(vpcEndpointIds: readonly string[], account: string): PolicyDocument {
  const fromEndpoints = { StringEquals: { 'aws:SourceVpce': [...vpcEndpointIds] } };
  const methods = (group: RouteGroup) =>
    ROUTES.filter((r) => r.group === group).map(
      (r) => `execute-api:/${REST_STAGE}/${r.method}${arnPath(r.path)}`,
    );
  return new PolicyDocument({
    statements: [
      new PolicyStatement({
        effect: Effect.ALLOW,
        principals: [new AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: methods('node'),
        conditions: fromEndpoints,
      }),
      new PolicyStatement({
        effect: Effect.ALLOW,
        principals: [new AccountPrincipal(account)],
        actions: ['execute-api:Invoke'],
        resources: methods('admin'),
        conditions: fromEndpoints,
      }),
      new PolicyStatement({
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        resources: ['execute-api:/*'],
        conditions: { StringNotEquals: { 'aws:SourceVpce': [...vpcEndpointIds] } },
      }),
    ],
  });
}

function checkVpcEndpoints(ids: readonly string[]): void {
  if (ids.length === 0) {
    throw new ConfigError(
      "vpcEndpointIds: ingress 'private' needs the IDs of the execute-api VPC endpoints that may reach it " +
        "(vpce-…; with this repository's app, -c vpcEndpointIds=vpce-1,vpce-2)",
    );
  }
  const bad = ids.find((id) => !/^vpce-[0-9a-f]{8,17}$/.test(id));
  if (bad !== undefined) throw new ConfigError(`vpcEndpointIds: '${bad}' is not a VPC endpoint ID (vpce-…)`);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) throw new ConfigError(`vpcEndpointIds: ${twice} is given twice`);
}

function checkWafRateLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < WAF_LIMIT.min || limit > WAF_LIMIT.max) {
    throw new ConfigError(
      `wafRateLimit: must be a whole number of requests per ${WAF_WINDOW_SECONDS / 60} minutes from ${WAF_LIMIT.min} to ${WAF_LIMIT.max}, not ${limit}`,
    );
  }
}
