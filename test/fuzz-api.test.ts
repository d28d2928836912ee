/**
 * Safety property 6 under fire (issue 15): generated hostile requests against the real
 * handler behind the real local server. Each is built to be wrong in one known way (bad
 * credentials, a path that does not name a route, a field of the wrong type, out of range
 * or holding control characters (log injection), the failsafe fields `promiseMs` and `failsafe`
 * included, a prototype-pollution key, bad JSON or bad UTF-8, an oversized or chunked body,
 * a wrong method, query, Content-Type, Origin or Host), and each must get a 4xx JSON
 * error with a message (never a 2xx, never a 5xx) and leave the stored state exactly as
 * it was. A failure prints the request and fast-check's seed to replay it. FUZZ_RUNS=5000
 * (with --testTimeout=600000) runs a longer campaign than CI's 300.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import type { Logger } from '../shared/logger.js';
import { type RawRequest, rawRequest } from './helpers/raw-http.js';
import { stateSnapshot } from './helpers/state-snapshot.js';
import { makeCluster, type TestCluster } from './helpers/store-fixtures.js';

const C = 'fz';
const NODES = ['a', 'b', 'c'] as const;
type NodeId = (typeof NODES)[number];
const JSON_TYPE = { 'content-type': 'application/json' };
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

let server: LocalServer;
let tc: TestCluster;
const logged: string[] = [];
const logger: Logger = {
  info() {},
  warn() {},
  error: (message, extra) => logged.push(`${message} ${JSON.stringify(extra ?? {})}`),
};

beforeAll(async () => {
  // A one-hour interval and sweep: only a request can change state while this file runs.
  tc = makeCluster({ id: C, nodeIds: [...NODES], intervalSeconds: 3_600 });
  server = await startLocalServer({ config: tc.config, logger, port: 0, sweepIntervalMs: 3_600_000 });
  for (const node of NODES) {
    const res = await rawRequest(server.url, beat(node, '{"status":"ok"}'));
    expect(res.status, res.text).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

const bearer = (node: NodeId) => ({ authorization: `Bearer ${tc.tokens[node]}` });
const beatPath = (node: string) => `/v1/clusters/${C}/nodes/${node}/heartbeat`;

function beat(node: NodeId, body: string | Buffer, headers: Record<string, string> = {}): RawRequest {
  return {
    method: 'POST',
    path: beatPath(node),
    headers: { ...bearer(node), ...JSON_TYPE, ...headers },
    body,
  };
}

/** A hostile request and what is wrong with it, for the failure message. */
interface Hostile {
  why: string;
  request: RawRequest;
}

const node = fc.constantFrom(...NODES);
const other = (n: NodeId): NodeId => NODES[(NODES.indexOf(n) + 1) % NODES.length] as NodeId;
/** Header values node's HTTP client accepts: tab, printable ASCII and latin-1. */
const headerText = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
    .map((c) => String.fromCharCode(c)),
  maxLength: 80,
});

// 1. Credentials: every route of the node group, a harmless body, and no valid token for that node.
const badAuth: fc.Arbitrary<Hostile> = fc
  .record({
    node,
    route: fc.constantFrom(
      { method: 'POST', suffix: '/heartbeat' },
      { method: 'POST', suffix: '/release' },
      { method: 'GET', suffix: '' },
    ),
    shape: fc.oneof(
      fc.constant((_t: string) => undefined),
      fc.constantFrom(
        () => '',
        () => 'Bearer',
        () => 'Bearer ',
        (t: string) => t,
        (t: string) => `Token ${t}`,
        (t: string) => `Basic ${Buffer.from(`a:${t}`).toString('base64')}`,
        (t: string) => `Bearer ${t.slice(0, -1)}`,
        (t: string) => `Bearer ${t}x`,
        (t: string) => `Bearer x${t}`,
        (t: string) => `Bearer ${t} ${t}`,
        (t: string) => `Bearer ${t},Bearer ${t}`,
        (t: string) => `Bearer ${t.replace(/.$/, 'é')}`,
        (t: string) => `Bearer${t}`,
      ),
      headerText.map((text) => () => `Bearer ${text.trim() || 'x'}`),
      headerText.map((text) => () => text),
    ),
    // Half the time the caller holds another node's valid token.
    borrowed: fc.boolean(),
  })
  .map(({ node, route, shape, borrowed }) => {
    const token = tc.tokens[borrowed ? other(node) : node] as string;
    const value = borrowed ? `Bearer ${token}` : shape(token);
    return {
      why: `node route with authorization ${JSON.stringify(value)}`,
      request: {
        method: route.method,
        path: `/v1/clusters/${C}/nodes/${node}${route.suffix}`,
        headers: { ...JSON_TYPE, ...(value === undefined ? {} : { authorization: value }) },
        ...(route.method === 'POST' ? { body: '{}' } : {}),
      },
    };
  });

// 2. Paths that do not name a route: each would, read loosely, reach a route that changes state.
const pathTrick = fc.constantFrom(
  (p: string) => p.replace(/\/([^/]+)$/, '/x/../$1'),
  (p: string) => p.replace(/\/([^/]+)$/, '/./$1'),
  (p: string) => p.replace(/\/([^/]+)$/, '/%2e/$1'),
  (p: string) => p.replace(/\/([^/]+)$/, '/x/%2e%2e/$1'),
  (p: string) => p.replace(/\/([^/]+)$/, '/x/.%2E/$1'),
  (p: string) => p.replace(/\/([^/]+)$/, '/x/%252e%252e/$1'),
  (p: string) => p.replace(/\/([^/]+)$/, '\\..\\$1'),
  (p: string) => `/${p}`,
  (p: string) => `//evil.example${p}`,
  (p: string) => p.replace('/v1/', '/v1//'),
  (p: string) => `${p}/`,
  (p: string) => `${p}#x`,
  (p: string) => `${p};x`,
  (p: string) => `${p}%00`,
  (p: string) => p.replace('/v1/', '/V1/'),
  (p: string) => p.replace(`/${C}/`, `/${C}%2f..%2f${C}/`),
  (p: string) => p.replace(`/${C}/`, `/${C}%2F/`),
  (p: string) => p.replace(`/${C}/`, `/${encodeURIComponent('ｆｚ')}/`),
  (p: string) => p.replace(`/${C}/`, `/${encodeURIComponent('fż')}/`),
  (p: string) => p.replace(`/${C}/`, '/%/'),
  (p: string) => p.replace(`/${C}/`, '/%zz/'),
  (p: string) => p.replace(`/${C}/`, '/%c0%ae%c0%ae/'),
  (p: string) => p.replace(`/${C}/`, `/${'f'.repeat(8_000)}/`),
  (p: string) => p.replace('/clusters/', `/clusters/${'x/'.repeat(1_000)}`),
);
const pathTricks: fc.Arbitrary<Hostile> = fc
  .record({
    trick: pathTrick,
    target: fc.oneof(
      node.map((n) => ({ path: beatPath(n), headers: bearer(n), body: '{"status":"failing"}' })),
      fc.constant({ path: `/v1/clusters/${C}/pause`, headers: {}, body: '{"reason":"fuzz"}' }),
      fc.constant({ path: `/v1/clusters/${C}/switchover`, headers: {}, body: '{"to":"b"}' }),
      node.map((n) => ({ path: `/v1/clusters/${C}/nodes/${n}/release`, headers: bearer(n), body: '' })),
    ),
  })
  .map(({ trick, target }) => {
    const path = trick(target.path);
    return {
      why: `path ${path.length > 120 ? `${path.slice(0, 120)}… (${path.length} chars)` : path}`,
      request: { method: 'POST', path, headers: { ...target.headers, ...JSON_TYPE }, body: target.body },
    };
  });

// 3. Fields of the wrong type or out of range, each with a valid token.
const notString = fc.oneof(
  fc.constantFrom(0, -0, 1, 1e308, -1e308, 2 ** 60, true, false, null, [], {}),
  fc.double(),
  fc.array(fc.string(), { maxLength: 3 }),
);
const notNumber = fc.oneof(
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1', '', '0x10', true, false, null, [], {}, [1]),
  fc.string().filter((s) => s !== ''),
);
/**
 * A string of `min`-`max` characters with at least one that forges or hides log lines: C0
 * and C1 controls (CR, LF, NUL, ESC, DEL, NEL), Unicode line separators, bidi overrides.
 */
const unsafeChar = fc.oneof(
  fc.integer({ min: 0, max: 0x1f }),
  fc.constantFrom(0x7f, 0x85, 0x9b, 0x2028, 0x2029, 0x202e, 0x2066),
);
function withControl(min: number, max: number): fc.Arbitrary<string> {
  return fc
    .record({
      text: fc.string({ minLength: min, maxLength: max - 1 }),
      char: unsafeChar.map((c) => String.fromCharCode(c)),
      at: fc.nat(),
    })
    .map(({ text, char, at }) => {
      const i = at % (text.length + 1);
      return `${text.slice(0, i)}${char}${text.slice(i)}`;
    });
}
/** A failsafe episode report that is wrong in one field (see BeatSchema). */
const VALID_FAILSAFE = { epoch: 1, startedMsAgo: 10, endedMsAgo: 5, confirmedBy: ['b'] };
const badFailsafe: fc.Arbitrary<unknown> = fc.oneof(
  notString.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
  fc
    .tuple(
      fc.constantFrom('epoch', 'startedMsAgo', 'endedMsAgo'),
      fc.oneof(notNumber, fc.constantFrom(-1, 0.5, 2 ** 53, 30 * 86_400_000 + 1, 1e308)),
    )
    .map(([key, value]) => ({ ...VALID_FAILSAFE, [key]: value })),
  fc
    .oneof(
      notString.filter((v) => !Array.isArray(v)),
      fc.constant(['b', 1]),
      fc.constant(['']),
      fc.constant(Array.from({ length: 33 }, (_, i) => `n${i}`)),
      withControl(1, 63).map((id) => [id]),
    )
    .map((confirmedBy) => ({ ...VALID_FAILSAFE, confirmedBy })),
  fc.constantFrom('epoch', 'startedMsAgo', 'endedMsAgo', 'confirmedBy').map((key) => {
    const { [key as keyof typeof VALID_FAILSAFE]: _, ...rest } = VALID_FAILSAFE;
    return rest;
  }),
  fc.constantFrom('extra', '__proto__', 'by').map((key) => ({ ...VALID_FAILSAFE, [key]: 1 })),
);
const badBeatField: fc.Arbitrary<[string, unknown]> = fc.oneof(
  fc.tuple(
    fc.constant('status'),
    fc.oneof(notString, fc.constantFrom('OK', 'Ok', '', 'dead', 'ok ', 'ok\u0000', 'NaN', 'active')),
  ),
  fc.tuple(fc.constant('version'), fc.oneof(notString, fc.constantFrom('', 'v'.repeat(65)))),
  fc.tuple(
    fc.constant('position'),
    fc.oneof(
      fc.constantFrom(-1, -1e-300, 2 ** 53, 2 ** 60, 1e308, -1e308, '', 'p'.repeat(129), true, null, [], {}),
      fc.double({ max: -Number.MIN_VALUE, noNaN: true }),
      fc.double({ min: 2 ** 53, noNaN: true }),
    ),
  ),
  fc.tuple(
    fc.constant('lagSeconds'),
    fc.oneof(
      notNumber,
      fc.constantFrom(-1, -1e-300, 1e9 + 1, 2 ** 60, 1e308, -1e308),
      fc.double({ min: 1e9 + 1, noNaN: true }),
      fc.double({ max: -Number.MIN_VALUE, noNaN: true }),
    ),
  ),
  fc.tuple(fc.constant('role'), fc.oneof(notString, fc.constantFrom('Active', '', 'leader', 'primary'))),
  fc.tuple(
    fc.constant('epoch'),
    fc.oneof(
      notNumber,
      fc.constantFrom(-1, 0.5, 1.5, 2 ** 53, 2 ** 60, 1e308, -1e308, Number.MIN_VALUE),
      fc.integer({ max: -1 }),
    ),
  ),
  fc.tuple(fc.constantFrom('version', 'position'), withControl(1, 63)),
  fc.tuple(
    fc.constant('promiseMs'),
    fc.oneof(
      notNumber,
      fc.constantFrom(-1, 0.5, 86_400_001, 2 ** 53, 1e308, -1e308),
      fc.integer({ min: 86_400_001 }),
      fc.integer({ max: -1 }),
    ),
  ),
  fc.tuple(fc.constant('failsafe'), badFailsafe),
  fc.tuple(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'Status', ''),
    fc.oneof(
      fc.constantFrom({ status: 'ok' }, { role: 'active', epoch: 99 }, { prototype: { polluted: true } }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
  ),
);
const validBeatFields = fc.record(
  {
    status: fc.constantFrom('ok', 'failing', 'maintenance'),
    version: fc.string({ minLength: 1, maxLength: 64 }),
    position: fc.nat(),
    lagSeconds: fc.double({ min: 0, max: 1e9, noNaN: true }),
  },
  { requiredKeys: [] },
);
/** JSON text with the bad field put in last, so it overrides a valid one of the same name. */
const withBadField = (valid: Record<string, unknown>, [key, value]: [string, unknown]) =>
  `${JSON.stringify(valid).slice(0, -1)}${Object.keys(valid).length ? ',' : ''}${JSON.stringify(key)}:${JSON.stringify(value)}}`;

const badFields: fc.Arbitrary<Hostile> = fc.oneof(
  fc.record({ node, valid: validBeatFields, bad: badBeatField }).map(({ node, valid, bad }) => {
    const body = withBadField(valid, bad);
    return { why: `heartbeat body ${body}`, request: beat(node, body) };
  }),
  fc
    .record({
      action: fc.constantFrom('switchover', 'pause'),
      bad: fc.oneof(
        fc.tuple(
          fc.constant('to'),
          fc.oneof(notString, fc.constantFrom('', 'z'.repeat(64), 'zz', 'B', 'b ')),
        ),
        fc.tuple(
          fc.constant('force'),
          fc.oneof(
            fc.constantFrom('true', 1, 0, -0, null, 'false', [], {}, [true]),
            fc.string(),
            fc.double(),
          ),
        ),
        fc.tuple(
          fc.constant('reason'),
          fc.oneof(notString, fc.constantFrom('', 'r'.repeat(257)), withControl(1, 256)),
        ),
        fc.tuple(fc.constant('to'), withControl(1, 63)),
        fc.tuple(
          fc.constantFrom('__proto__', 'constructor', 'by', 'paused', 'epoch'),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      ),
    })
    .filter(({ action, bad }) => action === 'switchover' || bad[0] !== 'to')
    .filter(({ action, bad }) => action === 'switchover' || bad[0] !== 'force')
    .map(({ action, bad }) => {
      const body = withBadField({}, bad);
      return {
        why: `${action} body ${body}`,
        request: { method: 'POST', path: `/v1/clusters/${C}/${action}`, headers: JSON_TYPE, body },
      };
    }),
  fc
    .record({ node, body: fc.dictionary(fc.string({ minLength: 1 }), fc.jsonValue(), { minKeys: 1 }) })
    .map(({ node, body }) => ({
      why: `release body ${JSON.stringify(body)}`,
      request: {
        method: 'POST',
        path: `/v1/clusters/${C}/nodes/${node}/release`,
        headers: { ...bearer(node), ...JSON_TYPE },
        body: JSON.stringify(body),
      },
    })),
  fc.dictionary(fc.string({ minLength: 1 }), fc.jsonValue(), { minKeys: 1 }).map((body) => ({
    why: `resume body ${JSON.stringify(body)}`,
    request: {
      method: 'POST',
      path: `/v1/clusters/${C}/resume`,
      headers: JSON_TYPE,
      body: JSON.stringify(body),
    },
  })),
);

// 4. Bodies that are not one JSON object in UTF-8.
const notAnObject = (text: string) => {
  if (text.trim() === '') return false; // an empty body is a valid "alive, ok"
  try {
    const value: unknown = JSON.parse(text);
    return typeof value !== 'object' || value === null || Array.isArray(value);
  } catch {
    return true;
  }
};
const badJson: fc.Arbitrary<Hostile> = fc
  .record({
    node,
    body: fc.oneof(
      fc.constantFrom(
        '{',
        '{"status":',
        '{"status":"ok",}',
        "{'status':'ok'}",
        '{"status":NaN}',
        '{"lagSeconds":Infinity}',
        '{"status":"ok"} {}',
        '{"status":"ok"}x',
        '\ufeff{}',
        '/* */{}',
        'null',
        '[]',
        '[{"status":"ok"}]',
        '"ok"',
        '0',
        'true',
        `${'['.repeat(2_000)}${']'.repeat(2_000)}`,
        `${'{"a":'.repeat(600)}1${'}'.repeat(600)}`,
      ),
      fc.string({ unit: 'binary', maxLength: 200 }).filter(notAnObject),
      fc
        .jsonValue()
        .map((v) => JSON.stringify(v))
        .filter(notAnObject),
    ),
  })
  .map(({ node, body }) => ({
    why: `heartbeat body ${JSON.stringify(body.slice(0, 120))}`,
    request: beat(node, body),
  }));
const badBytes: fc.Arbitrary<Hostile> = fc
  .record({
    node,
    bytes: fc.constantFrom(
      [0xff],
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xe2, 0x82],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
      [0x80],
    ),
    field: fc.constantFrom('version', 'position'),
  })
  .map(({ node, bytes, field }) => {
    const body = Buffer.concat([Buffer.from(`{"${field}":"v`), Buffer.from(bytes), Buffer.from('"}')]);
    return { why: `heartbeat ${field} with the invalid UTF-8 bytes ${bytes}`, request: beat(node, body) };
  });
const utf16: fc.Arbitrary<Hostile> = node.map((n) => ({
  why: 'heartbeat body in UTF-16 with a BOM',
  request: beat(
    n,
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"status":"failing"}', 'utf16le')]),
  ),
}));

// 5. Oversized bodies (declared or chunked) and chunked bodies that are bad once put together.
const oversized: fc.Arbitrary<Hostile> = fc
  .record({ node, size: fc.integer({ min: 4_097, max: 64_000 }), chunked: fc.boolean() })
  .map(({ node, size, chunked }) => {
    const body = Buffer.from(`{"version":"${'v'.repeat(size - 14)}"}`);
    const request = beat(node, body);
    return {
      why: `a ${size}-byte heartbeat body${chunked ? ', chunked' : ''}`,
      request: chunked ? { ...request, body: undefined, chunks: splitInto(body, 1_000) } : request,
    };
  });
const chunkedBad: fc.Arbitrary<Hostile> = fc
  .record({ node, valid: validBeatFields, bad: badBeatField, size: fc.integer({ min: 1, max: 16 }) })
  .map(({ node, valid, bad, size }) => {
    const body = Buffer.from(withBadField(valid, bad));
    return {
      why: `chunked heartbeat body ${body}`,
      request: { ...beat(node, body), body: undefined, chunks: splitInto(body, size) },
    };
  });

function splitInto(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

// 6. Methods, queries and headers.
const badMethod: fc.Arbitrary<Hostile> = fc
  .record({
    method: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND'),
    path: fc.constantFrom(
      beatPath('a'),
      `/v1/clusters/${C}`,
      `/v1/clusters/${C}/pause`,
      `/v1/clusters/${C}/switchover`,
      `/v1/clusters/${C}/nodes/a/release`,
    ),
  })
  .map(({ method, path }) => ({
    why: `${method} ${path}`,
    request: { method, path, headers: { ...bearer('a'), ...JSON_TYPE }, body: '{"reason":"x","to":"b"}' },
  }));
const badQuery: fc.Arbitrary<Hostile> = fc
  .oneof(
    fc.constantFrom(
      '0',
      '501',
      '-1',
      '1.5',
      '1e2',
      '0x10',
      '１０',
      '',
      ' 5',
      '5 ',
      'NaN',
      '10&limit=20',
      '9'.repeat(400),
    ),
    fc.string({ maxLength: 20 }).filter((s) => !/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 500),
  )
  .map((limit) => ({
    why: `events?limit=${limit}`,
    request: {
      method: 'GET',
      path: `/v1/clusters/${C}/events?limit=${limit === '10&limit=20' ? limit : encodeURIComponent(limit)}`,
    },
  }));
const badContentType: fc.Arbitrary<Hostile> = fc
  .record({
    node,
    type: fc.oneof(
      fc.constantFrom(
        'text/plain',
        'text/plain; charset=utf-8',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'application/jsonp',
        'json',
        '',
        'application/*',
      ),
      headerText.filter((t) => !/^\s*application\/json\s*(;|$)/i.test(t)),
    ),
  })
  .map(({ node, type }) => ({
    why: `heartbeat with Content-Type ${JSON.stringify(type)}`,
    request: beat(node, '{"status":"failing"}', { 'content-type': type }),
  }));
const badOrigin: fc.Arbitrary<Hostile> = fc
  .record({
    origin: fc.oneof(
      fc.constantFrom('null', 'http://evil.example', 'http://127.0.0.1', 'http://localhost:1', 'file://'),
      fc.webUrl().filter((u) => !u.includes('127.0.0.1') && !u.includes('localhost')),
    ),
    target: fc.constantFrom(
      { path: `/v1/clusters/${C}/pause`, body: '{}' },
      { path: `/v1/clusters/${C}/switchover`, body: '{"to":"b"}' },
    ),
  })
  .map(({ origin, target }) => ({
    why: `pause or switchover from Origin ${origin}`,
    request: { method: 'POST', ...target, headers: { ...JSON_TYPE, origin } },
  }));
const badHost: fc.Arbitrary<Hostile> = fc
  .record({
    host: fc.oneof(
      fc.constantFrom(
        'evil.example',
        'localhost.evil.example:8787',
        '127.0.0.1.nip.io',
        'LOCALHOST.',
        '[::2]',
      ),
      fc.domain().filter((d) => d !== 'localhost'),
    ),
    target: fc.constantFrom(
      { path: `/v1/clusters/${C}/pause`, body: '{}' },
      { path: `/v1/clusters/${C}/switchover`, body: '{"to":"b"}' },
    ),
  })
  .map(({ host, target }) => ({
    why: `pause or switchover with Host ${host}`,
    request: { method: 'POST', ...target, headers: { ...JSON_TYPE, host } },
  }));

const hostile: fc.Arbitrary<Hostile> = fc.oneof(
  badAuth,
  pathTricks,
  badFields,
  badJson,
  badBytes,
  utf16,
  oversized,
  chunkedBad,
  badMethod,
  badQuery,
  badContentType,
  badOrigin,
  badHost,
);

describe('hostile requests', () => {
  it(`answers ${RUNS} generated hostile requests each with a 4xx JSON error and changes nothing`, async () => {
    const initial = await stateSnapshot(server, C);
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostile, async ({ why, request }) => {
        const before = await stateSnapshot(server, C);
        const res = await rawRequest(server.url, request);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        expect(res.status, `${why}: ${res.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${why}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
        const error = JSON.parse(res.text) as { error?: unknown; message?: unknown };
        expect(typeof error.message === 'string' && error.message.length > 0, `${why}: ${res.text}`).toBe(
          true,
        );
        expect(await stateSnapshot(server, C), why).toEqual(before);
      }),
      { numRuns: RUNS },
    );
    expect(await stateSnapshot(server, C)).toEqual(initial);
    expect(logged).toEqual([]);
    // Prototype-pollution keys reached nothing shared.
    expect(Object.keys(Object.prototype)).toEqual([]);
    expect(({} as Record<string, unknown>).status).toBeUndefined();
    // Every kind of refusal was exercised, not only the first one a request meets.
    expect([...statuses.keys()].sort()).toEqual(
      expect.arrayContaining([400, 401, 403, 404, 405, 413, 415, 421]),
    );
  });
});

describe('control characters in string fields (log injection)', () => {
  const forged = 'ok\r\n2026-12-02T00:00:00Z [db/b] role: active (epoch 99)';
  it.each([
    ['version', () => beat('a', JSON.stringify({ version: forged }))],
    ['position', () => beat('a', JSON.stringify({ position: `7\u0000` }))],
    [
      'failsafe.confirmedBy.0',
      () => beat('a', JSON.stringify({ failsafe: { ...VALID_FAILSAFE, confirmedBy: ['b\u001b[2J'] } })),
    ],
    [
      'reason',
      () => ({
        method: 'POST',
        path: `/v1/clusters/${C}/pause`,
        headers: JSON_TYPE,
        body: JSON.stringify({ reason: forged }),
      }),
    ],
    [
      'to',
      () => ({
        method: 'POST',
        path: `/v1/clusters/${C}/switchover`,
        headers: JSON_TYPE,
        body: '{"to":"b\\u2028"}',
      }),
    ],
  ] satisfies [string, () => RawRequest][])(
    'refuses %s with a 400 naming the field, and changes nothing',
    async (field, request) => {
      const before = await stateSnapshot(server, C);

      const res = await rawRequest(server.url, request());

      expect(res.status, res.text).toBe(400);
      expect(JSON.parse(res.text)).toEqual({
        error: 'Validation',
        message: `invalid field ${field}: must not contain control characters (CR, LF, NUL, ESC, …) or bidirectional overrides`,
      });
      expect(await stateSnapshot(server, C)).toEqual(before);
    },
  );
});
