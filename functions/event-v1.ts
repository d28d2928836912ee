/**
 * One function for every ingress. The HTTP API and Function URLs send payload 2.0 events
 * (`APIGatewayProxyEventV2`), which is what `shared/http/api.ts` reads; a REST API (ingress
 * `rest-api` or `private`) sends payload 1.0 (`APIGatewayProxyEvent`). `servingEveryIngress`
 * turns a v1 event into the v2 fields the handler reads and its answer back into a v1
 * result, so the same handler code serves all four ingresses. Pure: no I/O, no clock.
 *
 * What differs, and how it is mapped:
 * - path: v1 `path` is the resource path without the stage (`requestContext.path` has it)
 *   and, like v2's `rawPath` from a Function URL, still percent-encoded: it becomes `rawPath`.
 *   Behind a custom domain, `path` starts with the base path mapping's path: map the API at
 *   the domain's root (an empty base path), or no route matches.
 * - headers: v1 gives `headers` (last value) and `multiValueHeaders` (all values), names as
 *   the client sent them; v2 has lower-case names and repeated headers joined by commas.
 * - query: v1's parameters are decoded; `rawQueryString` is re-encoded from the multi-value
 *   ones, and `queryStringParameters` joins repeats with commas, as v2 does.
 * - the IAM caller: v1 `requestContext.identity.userArn` becomes v2's
 *   `requestContext.authorizer.iam.userArn`, what `requireIamCaller` (admin.ts) reads. API
 *   Gateway fills it only on methods with IAM authorisation (it checked the signature).
 * - the result: v1 must have `statusCode` and `body`; v2's `cookies` become `Set-Cookie`s.
 */
import type {
  APIGatewayEventRequestContextIAMAuthorizer,
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2,
  APIGatewayProxyResult,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';

export type AnyApiEvent = APIGatewayProxyEvent | APIGatewayProxyEventV2;

/** A handler of v2 events, made to answer each version in its own format. */
export interface EveryIngressHandler {
  (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2>;
  (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult>;
  (event: AnyApiEvent): Promise<APIGatewayProxyStructuredResultV2 | APIGatewayProxyResult>;
}

export function isV2Event(event: AnyApiEvent): event is APIGatewayProxyEventV2 {
  return 'version' in event && event.version === '2.0';
}

export function servingEveryIngress(
  handle: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
): EveryIngressHandler {
  return (async (event: AnyApiEvent) =>
    isV2Event(event) ? handle(event) : v1Result(await handle(v2Event(event)))) as EveryIngressHandler;
}

/** The v2 event a REST API's v1 event stands for (the fields `shared/http/api.ts` and the metrics read). */
export function v2Event(event: APIGatewayProxyEvent): APIGatewayProxyEventV2 {
  const context = event.requestContext;
  const identity = context.identity;
  const headers = joinedLowerCase(event.headers, event.multiValueHeaders);
  const query = joined(event.queryStringParameters, event.multiValueQueryStringParameters);
  // Every value of each parameter (a direct invoke may give only the single-value map).
  const allValues = event.multiValueQueryStringParameters ?? wrapped(event.queryStringParameters);
  const rawQueryString = new URLSearchParams(
    Object.entries(allValues).flatMap(([name, values]) => (values ?? []).map((value) => [name, value])),
  ).toString();
  const iam: APIGatewayEventRequestContextIAMAuthorizer | undefined = identity?.userArn
    ? {
        iam: {
          accessKey: identity.accessKey ?? '',
          accountId: identity.accountId ?? '',
          callerId: identity.caller ?? '',
          cognitoIdentity: null,
          principalOrgId: identity.principalOrgId ?? '',
          userArn: identity.userArn,
          userId: identity.user ?? '',
        },
      }
    : undefined;
  return {
    version: '2.0',
    routeKey: `${event.httpMethod} ${event.resource}`,
    rawPath: event.path,
    rawQueryString,
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(event.pathParameters ? { pathParameters: defined(event.pathParameters) } : {}),
    ...(event.stageVariables ? { stageVariables: defined(event.stageVariables) } : {}),
    requestContext: {
      accountId: context.accountId,
      apiId: context.apiId,
      domainName: context.domainName ?? headers.host ?? '',
      domainPrefix: context.domainPrefix ?? '',
      http: {
        method: event.httpMethod,
        // As in v2, the path the client asked for, stage included.
        path: context.path ?? event.path,
        protocol: context.protocol,
        sourceIp: identity?.sourceIp ?? '',
        userAgent: identity?.userAgent ?? headers['user-agent'] ?? '',
      },
      requestId: context.requestId,
      routeKey: `${event.httpMethod} ${event.resource}`,
      stage: context.stage,
      time: context.requestTime ?? new Date(context.requestTimeEpoch).toISOString(),
      timeEpoch: context.requestTimeEpoch,
      ...(iam ? { authorizer: iam } : {}),
    },
    ...(event.body === null ? {} : { body: event.body }),
    isBase64Encoded: event.isBase64Encoded,
  };
}

/** The v1 result for a v2 answer: `statusCode` and `body` always, cookies as `Set-Cookie`s. */
export function v1Result(result: APIGatewayProxyStructuredResultV2): APIGatewayProxyResult {
  return {
    statusCode: result.statusCode ?? 200,
    headers: { ...(result.headers ?? {}) },
    ...(result.cookies?.length ? { multiValueHeaders: { 'set-cookie': [...result.cookies] } } : {}),
    body: result.body ?? '',
    ...(result.isBase64Encoded ? { isBase64Encoded: true } : {}),
  };
}

/** Header names lower-cased, each header's values joined by commas (all of them when v1 lists them). */
function joinedLowerCase(
  single: Record<string, string | undefined> | null,
  multi: Record<string, string[] | undefined> | null,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(joined(single, multi))) {
    const key = name.toLowerCase();
    out[key] = out[key] === undefined ? value : `${out[key]},${value}`;
  }
  return out;
}

/** Every value of each name, joined by commas; the single-value map fills in names the multi-value one lacks. */
function joined(
  single: Record<string, string | undefined> | null,
  multi: Record<string, string[] | undefined> | null,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(single ?? {})) if (value !== undefined) out[name] = value;
  for (const [name, values] of Object.entries(multi ?? {})) if (values?.length) out[name] = values.join(',');
  return out;
}

function wrapped(single: Record<string, string | undefined> | null): Record<string, string[]> {
  return Object.fromEntries(Object.entries(defined(single ?? {})).map(([name, value]) => [name, [value]]));
}

/** The entries that have a value. */
function defined(params: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
