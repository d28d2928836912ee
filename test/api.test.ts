/**
 * Safety property 6 over HTTP: the real local server (memory storage, loopback) and fetch.
 * Every rejected request gets a clear 4xx and changes no state; state is read back through
 * the admin routes before and after each one.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, localAdminAuthorizer, startLocalServer } from '../cli/local-server.js';
import { AuthError, ConfigError } from '../shared/errors.js';
import { bearerToken, header } from '../shared/http/api.js';
import { silentLogger } from '../shared/logger.js';
import { mintToken } from '../shared/tokens.js';
import { rawRequest } from './helpers/raw-http.js';
import { makeCluster, type TestCluster } from './helpers/store-fixtures.js';

const CLUSTER = 'web';

let server: LocalServer;
let tc: TestCluster;

beforeAll(async () => {
  // A one-hour interval: no lease can run out on the real clock while this file runs, so
  // the only thing that could change state is a request.
  tc = makeCluster({ id: CLUSTER, nodeIds: ['a', 'b'], intervalSeconds: 3_600 });
  server = await startLocalServer({
    config: tc.config,
    logger: silentLogger,
    port: 0,
    sweepIntervalMs: 3_600_000,
  });
  for (const n of ['a', 'b']) {
    const res = await heartbeat(n, '{}');
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

function heartbeat(
  node: string,
  body: string | undefined,
  options: {
    token?: string | null;
    cluster?: string;
    authorization?: string;
    contentType?: string | null;
  } = {},
): Promise<Response> {
  const token = options.token === undefined ? tc.tokens[node] : options.token;
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (token !== null && token !== undefined) headers.authorization = `Bearer ${token}`;
  return fetch(`${server.url}/v1/clusters/${options.cluster ?? CLUSTER}/nodes/${node}/heartbeat`, {
    method: 'POST',
    headers,
    ...(body === undefined ? {} : { body }),
  });
}

interface Snapshot {
  epoch: number;
  active: string | null;
  paused: unknown;
  nodes: Array<{ id: string; lastSeen: number | null; heartbeats: number }>;
  events: number;
}

async function snapshot(): Promise<Snapshot> {
  const res = await fetch(`${server.url}/v1/clusters/${CLUSTER}`);
  expect(res.status).toBe(200);
  const status = (await res.json()) as {
    epoch: number;
    active: string | null;
    paused: unknown;
    nodes: Array<{ id: string; lastSeen: number | null; heartbeats: number }>;
  };
  const events = (await (await fetch(`${server.url}/v1/clusters/${CLUSTER}/events?limit=500`)).json()) as {
    events: unknown[];
  };
  return {
    epoch: status.epoch,
    active: status.active,
    paused: status.paused,
    nodes: status.nodes.map(({ id, lastSeen, heartbeats }) => ({ id, lastSeen, heartbeats })),
    events: events.events.length,
  };
}

/** Sends a bad request and checks its status, that `message` matches, and that nothing changed. */
async function expectRejected(
  send: () => Promise<{ status: number; headers: Headers | Record<string, unknown>; text: string }>,
  status: number,
  message: RegExp,
) {
  const before = await snapshot();
  const res = await send();
  expect(res.status).toBe(status);
  const body = JSON.parse(res.text) as { error: string; message: string };
  expect(body.message).toMatch(message);
  expect(await snapshot()).toEqual(before);
  return { ...res, body };
}

async function viaFetch(promise: Promise<Response>) {
  const res = await promise;
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('400: bad bodies are rejected with the problem named, changing nothing', () => {
  it('rejects malformed JSON, changing nothing', async () => {
    const { body } = await expectRejected(
      () => viaFetch(heartbeat('a', '{"status":')),
      400,
      /not valid JSON/,
    );
    expect(body.error).toBe('Validation');
  });

  it.each(['[]', '"x"', '42', 'null'])(
    'rejects the JSON value %s because it is not an object, changing nothing',
    async (text) => {
      await expectRejected(() => viaFetch(heartbeat('a', text)), 400, /must be a JSON object/);
    },
  );

  it.each([
    ['status "dead"', { status: 'dead' }, /^invalid field status: /],
    ['a negative epoch', { epoch: -1 }, /^invalid field epoch: /],
    ['a fractional epoch', { epoch: 1.5 }, /^invalid field epoch: /],
    ['a version longer than 64 characters', { version: 'v'.repeat(65) }, /^invalid field version: /],
    ['a negative lagSeconds', { lagSeconds: -1 }, /^invalid field lagSeconds: /],
  ])('rejects a heartbeat with %s and names the field, changing nothing', async (_what, value, message) => {
    await expectRejected(() => viaFetch(heartbeat('a', JSON.stringify(value))), 400, message);
  });

  // Numbers DynamoDB's marshaller refuses (beyond 2^53, or Infinity: JSON.parse reads 1e400
  // as Infinity) must be a 400 naming the field, never a 500 from the store.
  it.each([
    [
      '{"position":1e20}',
      /^invalid field position: must be a number from 0 to 9007199254740991 \(send larger positions as a string\)$/,
    ],
    [
      '{"position":9007199254740992}',
      /^invalid field position: must be a number from 0 to 9007199254740991 /,
    ],
    ['{"position":-1}', /^invalid field position: must be a number from 0 to 9007199254740991 /],
    ['{"position":1e400}', /^invalid field position: /],
    [
      '{"lagSeconds":1152921504606846976}',
      /^invalid field lagSeconds: must be a number from 0 to 1000000000$/,
    ],
    ['{"lagSeconds":1000000000.5}', /^invalid field lagSeconds: /],
    ['{"lagSeconds":1e400}', /^invalid field lagSeconds: /],
    ['{"epoch":1152921504606846976}', /^invalid field epoch: /],
    ['{"epoch":1e400}', /^invalid field epoch: /],
  ])('rejects the heartbeat %s and names the field, changing nothing', async (text, message) => {
    await expectRejected(() => viaFetch(heartbeat('a', text)), 400, message);
  });

  it.each([
    ['a lone 0xff byte', [0xff]],
    ['an overlong encoding of /', [0xc0, 0xaf]],
    ['a UTF-16 surrogate encoded as UTF-8', [0xed, 0xa0, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
  ])(
    'rejects a body with %s (not valid UTF-8) rather than storing U+FFFD, changing nothing',
    async (_what, bytes) => {
      const body = Buffer.concat([Buffer.from('{"version":"v'), Buffer.from(bytes), Buffer.from('"}')]);
      await expectRejected(
        () =>
          rawRequest(server.url, {
            method: 'POST',
            path: `/v1/clusters/${CLUSTER}/nodes/a/heartbeat`,
            headers: { authorization: `Bearer ${tc.tokens.a}`, 'content-type': 'application/json' },
            body,
          }),
        400,
        /^body is not valid UTF-8$/,
      );
    },
  );

  it('accepts a version in valid multi-byte UTF-8', async () => {
    expect((await heartbeat('b', '{"version":"v1-ß-😀"}')).status).toBe(200);
  });

  it.each([
    ['{"status":"ok","foo":1}', /^invalid field foo: unknown field$/],
    ['{"foo":1,"status":"ok","bar":2}', /^invalid field foo, bar: unknown field$/],
  ])(
    'rejects the heartbeat %s with unknown fields and names each, changing nothing',
    async (text, message) => {
      await expectRejected(() => viaFetch(heartbeat('a', text)), 400, message);
    },
  );

  it.each(['0', 'abc', '501', '-1', '1.5'])(
    'rejects the events query limit=%s and names limit',
    async (limit) => {
      await expectRejected(
        () => viaFetch(fetch(`${server.url}/v1/clusters/${CLUSTER}/events?limit=${limit}`)),
        400,
        /invalid query parameter limit/,
      );
    },
  );

  it('accepts the events limits 1 and 500', async () => {
    const one = await fetch(`${server.url}/v1/clusters/${CLUSTER}/events?limit=1`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as { events: unknown[] }).events).toHaveLength(1);
    expect((await fetch(`${server.url}/v1/clusters/${CLUSTER}/events?limit=500`)).status).toBe(200);
  });
});

describe('401: bad credentials are rejected alike, changing nothing', () => {
  const wrongToken = () => viaFetch(heartbeat('a', '{}', { token: mintToken().token }));

  it('rejects a heartbeat without an Authorization header, changing nothing', async () => {
    const res = await expectRejected(() => viaFetch(heartbeat('a', '{}', { token: null })), 401, /token/);
    expect(res.body.error).toBe('Auth');
    expect((res.headers as Headers).get('www-authenticate')).toBe('Bearer');
  });

  it('rejects a heartbeat with a wrong token, changing nothing', async () => {
    await expectRejected(wrongToken, 401, /invalid node token/);
  });

  it("rejects node a's valid token used for node b, changing nothing", async () => {
    await expectRejected(
      () => viaFetch(heartbeat('b', '{}', { token: tc.tokens.a })),
      401,
      /invalid node token/,
    );
  });

  it('rejects HTTP Basic credentials, changing nothing', async () => {
    const basic = `Basic ${Buffer.from(`a:${tc.tokens.a}`).toString('base64')}`;
    await expectRejected(() => viaFetch(heartbeat('a', '{}', { authorization: basic })), 401, /token/);
  });

  it('answers an unknown cluster and an unknown node byte for byte like a wrong token', async () => {
    const reference = await wrongToken();
    const unknownCluster = await expectRejected(
      () => viaFetch(heartbeat('a', '{}', { cluster: 'nope' })),
      401,
      /token/,
    );
    const unknownNode = await expectRejected(
      () => viaFetch(heartbeat('zz', '{}', { token: tc.tokens.a })),
      401,
      /token/,
    );
    for (const res of [unknownCluster, unknownNode]) {
      expect(res.status).toBe(reference.status);
      expect(res.text).toBe(reference.text);
      expect((res.headers as Headers).get('www-authenticate')).toBe(
        reference.headers.get('www-authenticate'),
      );
    }
  });

  it('checks the token before the body, so a bad body with a bad token says only 401', async () => {
    const reference = await wrongToken();
    const res = await expectRejected(
      () => viaFetch(heartbeat('a', '{"foo":', { token: mintToken().token })),
      401,
      /token/,
    );
    expect(res.text).toBe(reference.text);
  });
});

describe('the bearer token a request carries', () => {
  const carrying = (authorization: string) =>
    bearerToken({ headers: { authorization } } as unknown as APIGatewayProxyEventV2);

  it('takes the token after the scheme, whatever the spaces around it and the scheme’s case', () => {
    for (const value of ['Bearer tok', 'bearer tok', 'Bearer   tok', 'Bearer\ttok', 'Bearer tok  '])
      expect(carrying(value)).toBe('tok');
  });

  it('takes no token from a value with more than one word after the scheme, or another scheme', () => {
    for (const value of ['Bearer tok tok', 'Bearer tok,Bearer tok', 'Bearer tok x', 'Basic tok', 'Bearertok'])
      expect(carrying(value)).toBeUndefined();
  });
});

describe('a request header, whatever the case of its name', () => {
  const contentType = (headers?: Record<string, string>) =>
    header({ headers } as unknown as APIGatewayProxyEventV2, 'content-type');

  it('finds a header sent in another case (a direct invoke), the exact name first, and none where none is', () => {
    expect(contentType({ 'Content-Type': 'application/json' })).toBe('application/json');
    expect(contentType({ 'CONTENT-TYPE': 'text/plain', 'content-type': 'application/json' })).toBe(
      'application/json',
    );
    expect(contentType({ accept: 'application/json' })).toBeUndefined();
    expect(contentType(undefined)).toBeUndefined();
  });
});

describe('404 and 405: unknown routes and methods', () => {
  // GET / is the local server's pointer to the status route (serve.test.ts).
  it.each(['/v1/nope', '/v1', '/v1/clusters/web/nodes/a/unknown'])(
    'answers 404 for the unknown route %s',
    async (path) => {
      await expectRejected(() => viaFetch(fetch(`${server.url}${path}`)), 404, /^no route for GET /);
    },
  );

  it.each([
    ['a dot segment', '/v1/clusters/web/nodes/a/x/../heartbeat'],
    ['an encoded dot segment', '/v1/clusters/web/nodes/a/x/%2e%2e/heartbeat'],
    ['a single-dot segment', '/v1/clusters/web/nodes/a/./heartbeat'],
    ['backslashes', '/v1/clusters/web/nodes/a/x\\..\\heartbeat'],
    ['a leading //host', '//evil.example/v1/clusters/web/nodes/a/heartbeat'],
    ['a fragment', '/v1/clusters/web/nodes/a/heartbeat#x'],
  ])('answers 404 for a path with %s, taken as sent, changing nothing', async (_what, path) => {
    await expectRejected(
      () =>
        rawRequest(server.url, {
          method: 'POST',
          path,
          headers: { authorization: `Bearer ${tc.tokens.a}`, 'content-type': 'application/json' },
          body: '{"status":"failing"}',
        }),
      404,
      /^no route for POST /,
    );
  });

  it('answers 404 naming the cluster for the status of an unknown cluster', async () => {
    await expectRejected(
      () => viaFetch(fetch(`${server.url}/v1/clusters/nope`)),
      404,
      /unknown cluster 'nope'/,
    );
  });

  it('answers 405 with allow: POST for GET on the heartbeat route', async () => {
    const res = await expectRejected(
      () => viaFetch(fetch(`${server.url}/v1/clusters/${CLUSTER}/nodes/a/heartbeat`)),
      405,
      /method GET not allowed/,
    );
    expect((res.headers as Headers).get('allow')).toBe('POST');
  });

  it('answers 405 with allow: GET for DELETE on the status route, changing nothing', async () => {
    const res = await expectRejected(
      () => viaFetch(fetch(`${server.url}/v1/clusters/${CLUSTER}`, { method: 'DELETE' })),
      405,
      /method DELETE not allowed/,
    );
    expect((res.headers as Headers).get('allow')).toBe('GET');
  });
});

describe('413: oversize bodies', () => {
  it('rejects a 4097-byte body, changing nothing', async () => {
    const body = `{"version":"${'v'.repeat(4097 - 14)}"}`;
    expect(Buffer.byteLength(body)).toBe(4097);
    const res = await expectRejected(() => viaFetch(heartbeat('a', body)), 413, /4096 bytes/);
    expect(res.body.error).toBe('PayloadTooLarge');
  });

  it('rejects a chunked body without content-length once it passes 4 KiB, changing nothing', async () => {
    const chunks = Array.from({ length: 5 }, () => Buffer.from(' '.repeat(1024)));
    await expectRejected(
      () =>
        rawRequest(server.url, {
          method: 'POST',
          path: `/v1/clusters/${CLUSTER}/nodes/a/heartbeat`,
          headers: { authorization: `Bearer ${tc.tokens.a}`, 'content-type': 'application/json' },
          chunks,
        }),
      413,
      /4096 bytes/,
    );
  });

  it('accepts a body of exactly 4096 bytes', async () => {
    const body = `{}${' '.repeat(4094)}`;
    expect((await heartbeat('a', body)).status).toBe(200);
  });
});

describe('415: a body must be declared as JSON', () => {
  it.each([
    ['text/plain', /got Content-Type 'text\/plain'$/],
    ['application/x-www-form-urlencoded', /got Content-Type 'application\/x-www-form-urlencoded'$/],
    ['multipart/form-data; boundary=x', /got Content-Type 'multipart\/form-data; boundary=x'$/],
    ['application/json; charset=latin1', /got Content-Type 'application\/json; charset=latin1'$/],
    ['application/jsonx', /got Content-Type 'application\/jsonx'$/],
  ])('refuses a heartbeat body sent as %s, changing nothing', async (contentType, message) => {
    const res = await expectRejected(
      () => viaFetch(heartbeat('a', '{}', { contentType })),
      415,
      /^a request body must be sent with Content-Type: application\/json \(UTF-8\); /,
    );
    expect(res.body.message).toMatch(message);
    expect(res.body.error).toBe('UnsupportedMediaType');
  });

  it('quotes at most 100 characters of the Content-Type it refuses', async () => {
    const contentType = `text/plain; x=${'y'.repeat(300)}`;
    const res = await expectRejected(() => viaFetch(heartbeat('a', '{}', { contentType })), 415, /got/);
    expect(res.body.message).toMatch(/got Content-Type 'text\/plain; x=y{86}'$/);
  });

  it('refuses a heartbeat body sent without a Content-Type, changing nothing', async () => {
    await expectRejected(
      () =>
        rawRequest(server.url, {
          method: 'POST',
          path: `/v1/clusters/${CLUSTER}/nodes/a/heartbeat`,
          headers: { authorization: `Bearer ${tc.tokens.a}` },
          body: '{}',
        }),
      415,
      /got no Content-Type$/,
    );
  });

  it.each(['pause', 'switchover', 'resume'])(
    'refuses an admin %s with a text/plain body (what a web page can send unasked), changing nothing',
    async (action) => {
      await expectRejected(
        () =>
          viaFetch(
            fetch(`${server.url}/v1/clusters/${CLUSTER}/${action}`, {
              method: 'POST',
              headers: { 'content-type': 'text/plain' },
              body: action === 'switchover' ? '{"to":"b"}' : '{}',
            }),
          ),
        415,
        /application\/json/,
      );
    },
  );

  it('checks the token before the content type, so a bad token with a text/plain body says only 401', async () => {
    await expectRejected(
      () => viaFetch(heartbeat('a', '{}', { token: mintToken().token, contentType: 'text/plain' })),
      401,
      /token/,
    );
  });

  it.each([
    'application/json; charset=utf-8',
    'Application/JSON; Charset="UTF-8"',
    'application/json; profile=beat',
    'application/json; profile=beat; charset=utf-8',
  ])('accepts a body sent as %s', async (contentType) => {
    expect((await heartbeat('b', '{}', { contentType })).status).toBe(200);
  });

  it('accepts a POST without a body and without a Content-Type, as the plain curl loop sends it', async () => {
    const res = await rawRequest(server.url, {
      method: 'POST',
      path: `/v1/clusters/${CLUSTER}/nodes/b/heartbeat`,
      headers: { authorization: `Bearer ${tc.tokens.b}` },
    });
    expect(res.status).toBe(200);
  });
});

describe('valid heartbeats', () => {
  it('accepts an empty body and {} as "alive, ok"', async () => {
    const before = await snapshot();
    const heartbeats = () => before.nodes.find((n) => n.id === 'b')?.heartbeats ?? 0;

    const empty = await heartbeat('b', undefined);
    expect(empty.status).toBe(200);
    expect(await empty.json()).toMatchObject({ node: 'b', role: 'standby', epoch: before.epoch });
    const emptyString = await heartbeat('b', '');
    expect(emptyString.status).toBe(200);
    const object = await heartbeat('b', '{}');
    expect(object.status).toBe(200);

    const after = await snapshot();
    expect(after.nodes.find((n) => n.id === 'b')?.heartbeats).toBe(heartbeats() + 3);
    expect(after).toMatchObject({ epoch: before.epoch, active: before.active });
  });
});

describe('a body of white space only', () => {
  it('is taken as an empty body: alive, ok', async () => {
    const res = await heartbeat('b', ' \r\n\t');
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ node: 'b', role: 'standby' });
  });
});

describe('the largest numbers a heartbeat may carry', () => {
  it('accepts position 2^53 - 1, a fractional position, a longer one as a digit string, lagSeconds 1e9 and epoch 2^53 - 1', async () => {
    for (const text of [
      '{"position":9007199254740991}',
      '{"position":1712345678.25}',
      '{"position":"100000000000000000000"}',
      '{"lagSeconds":1000000000}',
      '{"epoch":9007199254740991}',
    ]) {
      const res = await heartbeat('b', text);
      expect(res.status, text).toBe(200);
    }
  });
});

describe('admin authorisation of the local server', () => {
  const admin = mintToken();

  function adminEvent(authorization?: string): APIGatewayProxyEventV2 {
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath: `/v1/clusters/${CLUSTER}`,
      rawQueryString: '',
      headers: authorization === undefined ? {} : { authorization },
      requestContext: {
        accountId: 'local',
        apiId: 'local',
        domainName: 'localhost',
        domainPrefix: 'local',
        http: {
          method: 'GET',
          path: `/v1/clusters/${CLUSTER}`,
          protocol: 'HTTP/1.1',
          sourceIp: '',
          userAgent: '',
        },
        requestId: 'test',
        routeKey: '$default',
        stage: '$default',
        time: new Date(0).toISOString(),
        timeEpoch: 0,
      },
      isBase64Encoded: false,
    };
  }

  it.each(['127.0.0.1', '::1', 'localhost'])('leaves admin routes open on the loopback host %s', (host) => {
    expect(() => localAdminAuthorizer(host, undefined)(adminEvent())).not.toThrow();
    expect(() => localAdminAuthorizer(host, admin.sha256)(adminEvent())).not.toThrow();
  });

  it('on 0.0.0.0 accepts only Authorization: Bearer with the admin token', () => {
    const authorize = localAdminAuthorizer('0.0.0.0', admin.sha256);
    expect(() => authorize(adminEvent(`Bearer ${admin.token}`))).not.toThrow();
    for (const header of [
      undefined,
      'Bearer fo_not-the-admin-token',
      `Bearer ${tc.tokens.a}`,
      `Basic ${Buffer.from(`admin:${admin.token}`).toString('base64')}`,
      admin.token,
    ]) {
      expect(() => authorize(adminEvent(header)), String(header)).toThrow(AuthError);
    }
  });

  it('on 0.0.0.0 without an admin token hash refuses every caller', () => {
    const authorize = localAdminAuthorizer('0.0.0.0', undefined);
    expect(() => authorize(adminEvent())).toThrow(AuthError);
    expect(() => authorize(adminEvent(`Bearer ${admin.token}`))).toThrow(AuthError);
  });

  it('refuses to start on 0.0.0.0 without adminTokenSha256 in the config, with a ConfigError', async () => {
    const open = makeCluster({ nodeIds: ['a'] });
    expect(open.config.adminTokenSha256).toBeUndefined();
    // Port 70000 cannot be bound: were the check ever removed, this would fail with a
    // RangeError rather than listen on the network.
    const started = startLocalServer({
      config: open.config,
      logger: silentLogger,
      host: '0.0.0.0',
      port: 70_000,
    });
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without adminTokenSha256/);
  });
});
