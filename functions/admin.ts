/**
 * Lambda behind the admin routes (status, events, switchover, pause, resume). API Gateway
 * authorises callers with IAM. Serves every ingress: payload 2.0 (HTTP API, Function URL) and
 * 1.0 (REST API) events alike (event-v1.ts).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { AuthError } from '../shared/errors.js';
import { createApiHandler } from '../shared/http/api.js';
import { servingEveryIngress } from './event-v1.js';
import { createRuntime } from './runtime.js';

const { controlPlane, logger } = createRuntime();

/**
 * Defence in depth: the route's IAM authoriser has already verified the SigV4 signature;
 * refuse anything that did not come through it (a misconfigured route, a direct invoke).
 */
export function requireIamCaller(event: APIGatewayProxyEventV2): string {
  const authorizer = (event.requestContext as { authorizer?: { iam?: { userArn?: string } } }).authorizer;
  const caller = authorizer?.iam?.userArn;
  if (!caller) throw new AuthError('admin routes require IAM (SigV4) authorisation');
  return caller;
}

export const handler = servingEveryIngress(
  createApiHandler({
    controlPlane,
    logger,
    groups: ['admin'],
    authorizeAdmin: requireIamCaller,
  }),
);
