/**
 * The failsafe peer link over real HTTP on loopback: only signed requests get a verdict,
 * forged or replayed ones change nothing, and a slow or dead peer counts as not confirmed.
 */
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askPeers, CONFIRM_PATH, sign, startPeerServer } from '../cli/agent/peer-link.js';
import type { ConfirmRequest, Verdict } from '../shared/core/failsafe.js';

const SECRET = 'peer-secret-for-tests-0123';
const judged: ConfirmRequest[] = [];
let verdict: Verdict = { confirm: true, promiseUntil: 1 };
let peer: Server;
let url: string;
let silent: Server;
let silentUrl: string;

beforeAll(async () => {
  const started = await startPeerServer({
    host: '127.0.0.1',
    port: 0,
    cluster: 'db',
    node: 'b',
    secret: SECRET,
    judge: (request) => {
      judged.push(request);
      return verdict;
    },
  });
  peer = started.server;
  url = `http://127.0.0.1:${started.port}`;
  silent = createServer(() => {}); // accepts and never answers
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});

afterAll(() => {
  peer.close();
  silent.closeAllConnections();
  silent.close();
});

const base = { cluster: 'db', from: 'a', epoch: 4, ackMs: 3_000 };
const body = (extra: Partial<ConfirmRequest> = {}) =>
  JSON.stringify({ ...base, to: 'b', nonce: crypto.randomUUID(), ...extra });

async function post(text: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}${CONFIRM_PATH}`, { method: 'POST', body: text, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('peer server', () => {
  it('judges a signed request addressed to it and signs its answer', async () => {
    verdict = { confirm: true, promiseUntil: 1 };
    const round = await askPeers([{ node: 'b', url }], base, SECRET, 1_000);
    expect(round).toEqual({ confirmedBy: new Set(['b']), refusals: [] });
    expect(judged.at(-1)).toMatchObject({ ...base, to: 'b' });
  });

  it('passes a refusal on with its reason', async () => {
    verdict = { confirm: false, reason: 'can reach the control plane, so the lease rules apply' };
    const round = await askPeers([{ node: 'b', url }], base, SECRET, 1_000);
    expect(round.refusals).toEqual(['b refused: can reach the control plane, so the lease rules apply']);
    verdict = { confirm: true, promiseUntil: 1 };
  });

  it.each([
    ['no signature', {}],
    ['a wrong signature', { 'x-failover-signature': 'f'.repeat(64) }],
    ['a malformed signature', { 'x-failover-signature': 'not-hex' }],
  ])('answers 401 to %s and judges nothing (so promises nothing)', async (_what, headers) => {
    const before = judged.length;
    expect(await post(body(), headers)).toEqual({
      status: 401,
      body: { message: 'missing or invalid signature' },
    });
    expect(judged).toHaveLength(before);
  });

  it('answers a request signed with another secret 401: the asker sees no confirmation', async () => {
    const round = await askPeers([{ node: 'b', url }], base, 'another-secret-entirely', 1_000);
    expect(round.confirmedBy.size).toBe(0);
    expect(round.refusals[0]).toMatch(/^b answered 401/);
  });

  it('refuses a replay of an answered request with 409', async () => {
    const text = body();
    const headers = { 'x-failover-signature': sign(SECRET, text) };
    expect((await post(text, headers)).status).toBe(200);
    const before = judged.length;
    expect(await post(text, headers)).toEqual({
      status: 409,
      body: { message: 'this request was already answered' },
    });
    expect(judged).toHaveLength(before);
  });

  it.each([
    ['another node', { to: 'c' }, 'this is db/b, not db/c'],
    ['another cluster', { cluster: 'web' }, 'this is db/b, not web/b'],
    ['a negative epoch', { epoch: -1 }, 'epoch must be a non-negative integer'],
    ['a fractional ack', { ackMs: 1.5 }, 'ackMs must be a non-negative integer'],
    ['an empty nonce', { nonce: '' }, 'nonce must be a string of 1-128 characters'],
  ])('answers 400 to a signed request for %s', async (_what, extra, message) => {
    const text = body(extra as Partial<ConfirmRequest>);
    expect(await post(text, { 'x-failover-signature': sign(SECRET, text) })).toEqual({
      status: 400,
      body: { message },
    });
  });

  it('serves nothing else: 404 on other paths, 405 on other methods, 413 on big bodies', async () => {
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}${CONFIRM_PATH}`)).status).toBe(405);
    const big = 'x'.repeat(2_000);
    expect((await post(big, { 'x-failover-signature': sign(SECRET, big) })).status).toBe(413);
  });
});

describe('asking peers', () => {
  it('counts a peer that does not answer within the timeout, or cannot be reached, as not confirmed', async () => {
    const round = await askPeers(
      [
        { node: 'b', url },
        { node: 'slow', url: silentUrl },
        { node: 'gone', url: 'http://127.0.0.1:1' },
      ],
      base,
      SECRET,
      300,
    );
    expect(round.confirmedBy).toEqual(new Set(['b']));
    expect(round.refusals).toHaveLength(2);
    expect(round.refusals).toContainEqual('slow did not answer within 300 ms');
    expect(round.refusals.find((r) => r.startsWith('gone'))).toMatch(/^gone could not be reached/);
  });

  it('does not believe an answer from a different node than the one asked', async () => {
    // The server at `url` is b: a request addressed to c is refused, never confirmed.
    const round = await askPeers([{ node: 'c', url }], { ...base }, SECRET, 1_000);
    expect(round.confirmedBy.size).toBe(0);
  });
});
