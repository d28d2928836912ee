/** API Gateway events as AWS hands them to the Lambda handlers: HTTP API (payload v2) and REST API (payload v1). */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';

/** An API Gateway HTTP API (payload v2) event. */
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

/**
 * The same request as a REST API (payload 1.0) event, as API Gateway hands one to the Lambda
 * handlers behind ingress `rest-api` or `private`: header names as the client sent them, every
 * value also in `multiValueHeaders`, the stage in `requestContext.path` but not in `path`, and
 * the caller's ARN in `requestContext.identity` when the method has IAM authorisation.
 */
export function restApiEvent(
  method: string,
  path: string,
  options: {
    token?: string;
    body?: string;
    contentType?: string;
    iamUser?: string;
    base64?: boolean;
    query?: Record<string, string[]>;
  } = {},
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {
    Host: 'abc123.execute-api.eu-west-1.amazonaws.com',
    'User-Agent': 'test',
    ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
    ...(options.body === undefined ? {} : { 'Content-Type': options.contentType ?? 'application/json' }),
  };
  const query = options.query ?? null;
  const body =
    options.body === undefined
      ? null
      : options.base64
        ? Buffer.from(options.body).toString('base64')
        : options.body;
  return {
    resource: path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, v.at(-1)])),
    multiValueQueryStringParameters: query,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: null,
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {
        accessKey: options.iamUser ? 'AKIAEXAMPLE' : null,
        accountId: options.iamUser ? '123456789012' : null,
        apiKey: null,
        apiKeyId: null,
        caller: options.iamUser ? 'AIDAEXAMPLE' : null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '198.51.100.7',
        user: options.iamUser ? 'AIDAEXAMPLE' : null,
        userAgent: 'test',
        userArn: options.iamUser ?? null,
      },
      path: `/prod${path}`,
      stage: 'prod',
      requestId: 'req',
      requestTimeEpoch: Date.now(),
      resourceId: 'res',
      resourcePath: path,
    },
    body,
    isBase64Encoded: Boolean(options.base64 && body !== null),
  };
}
