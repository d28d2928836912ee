/** An API Gateway HTTP API (payload v2) event, as AWS hands one to the Lambda handlers. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

export function apiEvent(
  method: string,
  path: string,
  options: { token?: string; body?: string; contentType?: string; iamUser?: string } = {},
): APIGatewayProxyEventV2 {
  const requestContext = {
    accountId: '123456789012',
    apiId: 'api',
    domainName: 'api.example.com',
    domainPrefix: 'api',
    http: { method, path, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'test' },
    requestId: 'req',
    routeKey: '$default',
    stage: '$default',
    time: new Date().toISOString(),
    timeEpoch: Date.now(),
    ...(options.iamUser ? { authorizer: { iam: { userArn: options.iamUser } } } : {}),
  };
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
    },
    requestContext,
    body: options.body,
    isBase64Encoded: false,
  } as APIGatewayProxyEventV2;
}
