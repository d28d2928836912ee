/**
 * How agents and operators reach the control plane's functions: an API Gateway HTTP API
 * (per-route throttles, IAM on admin routes), Lambda Function URLs, or an API Gateway REST
 * API, public behind AWS WAF or private to VPC endpoints. Same handlers every way (the REST
 * API's payload 1.0 events are adapted in functions/event-v1.ts).
 */
import { CfnOutput, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat, type RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ROUTES } from '../../shared/http/routes.js';

/** Where agents and operators reach the control plane; who may call the admin routes. */
export interface Endpoint {
  api: HttpApi | RestApi | undefined;
  /** The API's access log (its throttled requests are counted from it). */
  accessLogs: LogGroup | undefined;
  /** The API's own figures for the dashboard: requests, 4xx, 5xx (and WAF blocks); none for Function URLs. */
  metrics: Metric[];
  admin: { actions: string[]; resources: string[]; conditions?: Record<string, Record<string, string>> };
}

/** Why node routes have no API Gateway authoriser (cdk-nag AwsSolutions-APIG4), for every API ingress. */
export const NODE_ROUTES_NO_AUTHORIZER = {
  id: 'AwsSolutions-APIG4',
  reason:
    'Node agents authenticate with a per-node bearer token, checked in the handler against a SHA-256 hash ' +
    'in constant time; IAM credentials on every host would defeat the curl-friendly design.',
};

/** One JSON line per request, in both kinds of API Gateway (the same `$context` variables). */
export const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
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
);

export function accessLogGroup(scope: Construct, logRetention: RetentionDays): LogGroup {
  return new LogGroup(scope, 'ApiAccessLogs', {
    retention: logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/** ApiUrl and one execute-api ARN per admin route (each path parameter a wildcard): the console's too, no node route. */
export function apiOutputs(scope: Construct, url: string, adminArns: string[]): void {
  new CfnOutput(scope, 'ApiUrl', { value: url, description: 'Base URL for agents and the CLI' });
  new CfnOutput(scope, 'AdminInvokeArns', {
    value: Fn.join(',', adminArns),
    description: `Grant execute-api:Invoke on these ARNs to operators (region ${Stack.of(scope).region})`,
  });
}

export const ADMIN_ROUTES = ROUTES.filter((r) => r.group === 'admin');
/** An execute-api resource path for a route: each path parameter a wildcard. */
export const arnPath = (path: string) => path.replace(/\{\w+\}/g, '*');
