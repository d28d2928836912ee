/**
 * The REST API adapter (functions/event-v1.ts): a payload 1.0 event becomes the v2 fields
 * the handler reads, and the v2 answer a v1 result. The real handlers answering both
 * versions alike is pinned in lambda.test.ts.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { isV2Event, servingEveryIngress, v1Result, v2Event } from '../functions/event-v1.js';
import { bearerToken, header } from '../shared/http/api.js';
import { apiEvent, restApiEvent } from './helpers/api-event.js';

const OPS = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';

describe('v2Event: a REST API (payload 1.0) event as the handler reads it', () => {
  it('takes the method, and the path without the stage (event.path, not requestContext.path)', () => {
    const v1 = restApiEvent('POST', '/v1/clusters/db/nodes/a/heartbeat', { body: '{}' });
    expect(v1.requestContext.path).toBe('/prod/v1/clusters/db/nodes/a/heartbeat');
    const v2 = v2Event(v1);
    expect(v2.version).toBe('2.0');
    expect(v2.requestContext.http.method).toBe('POST');
    expect(v2.rawPath).toBe('/v1/clusters/db/nodes/a/heartbeat');
    // As in a v2 event, the path the client asked for, stage included, is in the context.
    expect(v2.requestContext.http.path).toBe('/prod/v1/clusters/db/nodes/a/heartbeat');
    expect(v2.requestContext.stage).toBe('prod');
  });

  it('keeps a percent-encoded path encoded: the handler decodes each segment once', () => {
    const v2 = v2Event(restApiEvent('GET', '/v1/clusters/db%2Fx/nodes/n%20a'));
    expect(v2.rawPath).toBe('/v1/clusters/db%2Fx/nodes/n%20a');
  });

  it('lower-cases header names and joins every value of a repeated header with commas', () => {
    const v1 = restApiEvent('GET', '/v1/clusters', { token: 'tok' });
    v1.headers['X-Forwarded-For'] = '192.0.2.2';
    v1.multiValueHeaders['X-Forwarded-For'] = ['192.0.2.1', '192.0.2.2'];
    const v2 = v2Event(v1);
    expect(v2.headers).toEqual({
      host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      'user-agent': 'test',
      authorization: 'Bearer tok',
      'x-forwarded-for': '192.0.2.1,192.0.2.2',
    });
    expect(bearerToken(v2)).toBe('tok');
  });

  it('reads headers given only in `headers` (a test console or direct invoke sends no multi-value map)', () => {
    const v1 = { ...restApiEvent('POST', '/', { body: '{}' }), multiValueHeaders: {} };
    expect(header(v2Event(v1), 'content-type')).toBe('application/json');
  });

  it('re-encodes the decoded query parameters into rawQueryString, repeats joined by commas as v2 does', () => {
    const v2 = v2Event(
      restApiEvent('GET', '/v1/clusters/db/events', { query: { limit: ['5'], tag: ['a b', 'c&d'] } }),
    );
    expect(v2.queryStringParameters).toEqual({ limit: '5', tag: 'a b,c&d' });
    expect(new URLSearchParams(v2.rawQueryString).getAll('tag')).toEqual(['a b', 'c&d']);
    expect(v2.rawQueryString).toBe('limit=5&tag=a+b&tag=c%26d');
    expect(v2Event(restApiEvent('GET', '/')).queryStringParameters).toBeUndefined();
  });

  it('builds rawQueryString from the single-value parameters when the multi-value map is missing', () => {
    const v1 = { ...restApiEvent('GET', '/v1/clusters/db/events'), queryStringParameters: { limit: '7' } };
    const v2 = v2Event(v1);
    expect(v2.rawQueryString).toBe('limit=7');
    expect(v2.queryStringParameters).toEqual({ limit: '7' });
  });

  it('passes a base64 body on as base64, flagged so', () => {
    const v2 = v2Event(restApiEvent('POST', '/x', { body: '{"status":"ok"}', base64: true }));
    expect(v2.isBase64Encoded).toBe(true);
    expect(Buffer.from(v2.body ?? '', 'base64').toString()).toBe('{"status":"ok"}');
  });

  it('has no body when the request had none (v1 says null)', () => {
    const v2 = v2Event(restApiEvent('GET', '/v1/clusters'));
    expect(v2.body).toBeUndefined();
    expect(v2.isBase64Encoded).toBe(false);
  });

  it("puts the IAM caller's ARN where the admin function reads it (requestContext.authorizer.iam.userArn)", () => {
    const v2 = v2Event(restApiEvent('GET', '/v1/clusters', { iamUser: OPS }));
    const context = v2.requestContext as { authorizer?: { iam?: { userArn?: string; accountId?: string } } };
    expect(context.authorizer?.iam).toMatchObject({ userArn: OPS, accountId: '123456789012' });
  });

  it('gives no authorizer at all when API Gateway established no IAM caller', () => {
    const v2 = v2Event(restApiEvent('GET', '/v1/clusters'));
    expect('authorizer' in v2.requestContext).toBe(false);
  });

  it('takes the source IP and user agent from the identity', () => {
    expect(v2Event(restApiEvent('GET', '/')).requestContext.http).toMatchObject({
      sourceIp: '198.51.100.7',
      userAgent: 'test',
    });
  });
});

describe('v1Result: the answer in the shape a REST API accepts', () => {
  it('has statusCode, headers and body, and no cookies field', () => {
    const result = v1Result({ statusCode: 404, headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(result).toEqual({ statusCode: 404, headers: { 'content-type': 'application/json' }, body: '{}' });
    expect('cookies' in result).toBe(false);
  });

  it('fills in what v2 lets be implied: status 200 and an empty body', () => {
    expect(v1Result({})).toEqual({ statusCode: 200, headers: {}, body: '' });
  });

  it('sends v2 cookies as Set-Cookie headers and keeps a base64 body flagged', () => {
    expect(
      v1Result({ statusCode: 200, cookies: ['a=1', 'b=2'], body: 'eA==', isBase64Encoded: true }),
    ).toEqual({
      statusCode: 200,
      headers: {},
      multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
      body: 'eA==',
      isBase64Encoded: true,
    });
  });
});

describe('servingEveryIngress: one function for every ingress', () => {
  it('tells a v2 event (version 2.0) from a REST API event, and from an HTTP API payload 1.0 event', () => {
    expect(isV2Event(apiEvent('GET', '/'))).toBe(true);
    expect(isV2Event(restApiEvent('GET', '/'))).toBe(false);
    expect(isV2Event({ ...restApiEvent('GET', '/'), version: '1.0' } as never)).toBe(false);
  });

  it('hands a v2 event to the handler untouched and returns its answer as is', async () => {
    const answer = { statusCode: 200, body: 'x', cookies: ['a=1'] };
    const handle = vi.fn(async (_event: APIGatewayProxyEventV2) => answer);
    const event = apiEvent('GET', '/');
    expect(await servingEveryIngress(handle)(event)).toBe(answer);
    expect(handle).toHaveBeenCalledWith(event);
  });

  it('hands a v1 event over as v2 and answers in v1', async () => {
    const handle = vi.fn(async (event: APIGatewayProxyEventV2) => ({
      statusCode: 201,
      body: `${event.requestContext.http.method} ${event.rawPath}`,
    }));
    const result = await servingEveryIngress(handle)(restApiEvent('POST', '/v1/clusters/db/pause'));
    expect(result).toEqual({ statusCode: 201, headers: {}, body: 'POST /v1/clusters/db/pause' });
  });
});
