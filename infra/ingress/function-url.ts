/** Ingress `function-url`: Lambda Function URLs, no API Gateway. */
import { CfnOutput } from 'aws-cdk-lib';
import { FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import type { Endpoint } from './endpoint.js';

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
    metrics: [],
    admin: {
      actions: ['lambda:InvokeFunctionUrl'],
      resources: [adminFn.functionArn],
      conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
    },
  };
}
