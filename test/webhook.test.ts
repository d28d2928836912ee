/**
 * The webhook and log targets. The webhook talks to a real node:http server on loopback;
 * the clock and the sleep between attempts are injected, so retries cost no wall time.
 */
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TargetApplyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { LogTarget } from '../shared/targets/log.js';
import type { TargetChange } from '../shared/targets/target.js';
import { SIGNATURE_HEADER, WebhookTarget } from '../shared/targets/webhook.js';
import { closeReceivers, Receiver, startReceiver, trackedReceiver } from './helpers/webhook-receiver.js';

const SECRET = 'webhook-test-secret';
const readSecret = async () => SECRET;
/** The receivers here listen on loopback, which a target reaches only when its config allows it. */
const LOOPBACK = { allowPrivate: true };
const CHANGE: TargetChange = {
  cluster: 'db',
  active: 'b',
  address: '10.0.0.2',
  members: [{ id: 'b', address: '10.0.0.2' }],
  epoch: 7,
  previous: 'a',
  reason: 'a missed 3 beats (last seen 16 s ago, lease 15 s); promoted b (priority 2)',
  at: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
};

afterEach(closeReceivers);

/** A port on loopback that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = new Receiver([]);
  const port = await probe.listen();
  await probe.close();
  return port;
}

/**
 * A fake clock whose sleep advances time instantly, recording each delay. By default it
 * moves in whole milliseconds, like Date.now(); `exact` advances by the fractional delay
 * as given (see the fractional-time tests below).
 */
function fakeClock({ start = 1_000_000, exact = false } = {}) {
  const clock = {
    t: start,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += exact ? ms : Math.ceil(ms);
    },
  };
  return clock;
}

/** A webhook target `hook` to `url` with a 5 s timeout, on `clock`; loopback receivers allowed unless `addresses` says not. */
function hookTo(url: string, clock: ReturnType<typeof fakeClock>, addresses = LOOPBACK) {
  return new WebhookTarget('hook', { url, secret: readSecret, timeoutMs: 5_000, addresses, ...clock });
}

describe('WebhookTarget', () => {
  it('POSTs the change as JSON with exactly the documented fields', async () => {
    const { receiver, url } = await startReceiver([204]);
    const clock = fakeClock();
    const target = hookTo(url, clock);

    await target.apply(CHANGE, clock.t + 10_000);

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/hooks/failover' });
    expect(request?.headers['content-type']).toBe('application/json');
    const body = JSON.parse(request?.body ?? '');
    expect(Object.keys(body).sort()).toEqual([
      'active',
      'address',
      'at',
      'cluster',
      'epoch',
      'members',
      'previous',
      'reason',
    ]);
    expect(body).toEqual({
      cluster: 'db',
      active: 'b',
      address: '10.0.0.2',
      members: [{ id: 'b', address: '10.0.0.2' }],
      epoch: 7,
      previous: 'a',
      reason: CHANGE.reason,
      at: '2026-01-02T03:04:05.678Z',
    });
  });

  it('sends previous as null for the first active', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();

    await hookTo(url, clock).apply({ ...CHANGE, epoch: 1, previous: null }, clock.t + 10_000);

    expect(JSON.parse(receiver.requests[0]?.body ?? '')).toMatchObject({ epoch: 1, previous: null });
  });

  it('signs the raw body with HMAC-SHA256 of the secret and sends the epoch as a header', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();

    await hookTo(url, clock).apply(CHANGE, clock.t + 10_000);

    const [request] = receiver.requests;
    const expected = `sha256=${createHmac('sha256', SECRET)
      .update(Buffer.from(request?.body ?? '', 'utf8'))
      .digest('hex')}`;
    expect(SIGNATURE_HEADER).toBe('x-failover-signature');
    expect(request?.headers['x-failover-signature']).toBe(expected);
    expect(request?.headers['x-failover-epoch']).toBe('7');
  });

  it('retries after 500s with growing backoff and succeeds once the receiver answers 2xx', async () => {
    const { receiver, url } = await startReceiver([500, 500, 202]);
    const clock = fakeClock();
    const target = hookTo(url, clock);

    await target.apply(CHANGE, clock.t + 60_000);

    expect(receiver.requests).toHaveLength(3);
    // Every attempt is the same delivery: same body, same signature.
    expect(new Set(receiver.requests.map((r) => r.body)).size).toBe(1);
    expect(new Set(receiver.requests.map((r) => r.headers[SIGNATURE_HEADER])).size).toBe(1);
    // Backoff 200 ms × 2^attempt with jitter in [50 %, 100 %].
    expect(clock.sleeps).toHaveLength(2);
    expect(clock.sleeps[0]).toBeGreaterThanOrEqual(100);
    expect(clock.sleeps[0]).toBeLessThanOrEqual(200);
    expect(clock.sleeps[1]).toBeGreaterThanOrEqual(200);
    expect(clock.sleeps[1]).toBeLessThanOrEqual(400);
  });

  it('gives up at the deadline with a TargetApplyError naming the last HTTP status', async () => {
    const { receiver, url } = await startReceiver([503]);
    const clock = fakeClock();
    const deadline = clock.t + 3_000;
    const target = hookTo(url, clock);

    const error = await target.apply(CHANGE, deadline).then(
      () => expect.fail('apply should have failed'),
      (err: unknown) => err,
    );

    expect(error).toBeInstanceOf(TargetApplyError);
    expect((error as TargetApplyError).message).toContain('HTTP 503');
    expect(receiver.requests.length).toBeGreaterThan(1);
    // It never sleeps past the deadline: it stops once the next backoff would cross it.
    expect(clock.t).toBeLessThan(deadline);
  });

  it('makes no request when the deadline has already passed', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();
    const target = hookTo(url, clock);

    await expect(target.apply(CHANGE, clock.t)).rejects.toBeInstanceOf(TargetApplyError);
    expect(receiver.requests).toHaveLength(0);
  });

  it('retries after a refused connection and delivers once the receiver is listening', async () => {
    const port = await closedPort();
    const receiver = trackedReceiver([200]);
    const clock = fakeClock();
    const startReceiverOnFirstRetry = clock.sleep;
    clock.sleep = async (ms: number) => {
      if (clock.sleeps.length === 0) await receiver.listen(port);
      await startReceiverOnFirstRetry(ms);
    };
    const target = hookTo(`http://127.0.0.1:${port}/hook`, clock);

    await target.apply(CHANGE, clock.t + 60_000);

    expect(clock.sleeps).toHaveLength(1);
    expect(receiver.requests).toHaveLength(1);
  });

  it('reports the refused connection when nothing ever listens', async () => {
    const port = await closedPort();
    const clock = fakeClock();
    const target = hookTo(`http://127.0.0.1:${port}/hook`, clock);

    await expect(target.apply(CHANGE, clock.t + 2_000)).rejects.toThrow(/ECONNREFUSED/);
    expect(clock.sleeps.length).toBeGreaterThan(0);
  });
});

describe('WebhookTarget address safety (SSRF)', () => {
  const PUBLIC_ONLY = { allowPrivate: false };
  it('refuses a loopback receiver without sending, and does not retry the refusal', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();

    await expect(hookTo(url, clock, PUBLIC_ONLY).apply(CHANGE, clock.t + 60_000)).rejects.toThrow(
      /127\.0\.0\.1 is a loopback address/,
    );
    expect(receiver.requests).toHaveLength(0);
    expect(clock.sleeps).toHaveLength(0);
  });

  it('checks the address a host name resolves to when connecting (localhost is loopback)', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();
    const target = hookTo(url.replace('127.0.0.1', 'localhost'), clock, PUBLIC_ONLY);

    await expect(target.apply(CHANGE, clock.t + 60_000)).rejects.toThrow(
      /localhost resolves to .* loopback address/,
    );
    expect(receiver.requests).toHaveLength(0);
  });

  it('delivers to a host name that resolves to loopback when the config allows private addresses', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();

    await hookTo(url.replace('127.0.0.1', 'localhost'), clock).apply(CHANGE, clock.t + 60_000);

    expect(receiver.requests).toHaveLength(1);
  });

  it('does not follow a redirect (it could point anywhere) and does not retry it', async () => {
    const { receiver, url } = await startReceiver([302]);
    const clock = fakeClock();

    await expect(hookTo(url, clock).apply(CHANGE, clock.t + 60_000)).rejects.toThrow(
      /HTTP 302: redirect to http:\/\/169\.254\.169\.254\/ not followed/,
    );
    expect(receiver.requests).toHaveLength(1);
    expect(clock.sleeps).toHaveLength(0);
  });
});

// AbortSignal.timeout() only takes whole milliseconds; fractional budgets once made every attempt fail unsent.
describe('WebhookTarget with time that is not a whole number of milliseconds', () => {
  it('delivers when the deadline is not a whole number of milliseconds', async () => {
    const { receiver, url } = await startReceiver([200]);
    const clock = fakeClock();
    const target = hookTo(url, clock);

    await target.apply(CHANGE, clock.t + 1_000.5);

    expect(receiver.requests).toHaveLength(1);
  });

  it('reports the last HTTP status when its clock advances by the exact fractional backoff', async () => {
    const { receiver, url } = await startReceiver([503]);
    const clock = fakeClock({ exact: true });
    const target = hookTo(url, clock);

    await expect(target.apply(CHANGE, clock.t + 3_000)).rejects.toThrow(/HTTP 503/);
    expect(receiver.requests.length).toBeGreaterThan(1);
  });
});

describe('LogTarget', () => {
  it('writes one info line naming the cluster, the new active, its address and the epoch', async () => {
    const lines: { level: string; message: string; extra?: Record<string, unknown> }[] = [];
    const logger: Logger = {
      info: (message, extra) => lines.push({ level: 'info', message, extra }),
      warn: (message, extra) => lines.push({ level: 'warn', message, extra }),
      error: (message, extra) => lines.push({ level: 'error', message, extra }),
    };

    await new LogTarget('log', logger).apply(CHANGE);

    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line?.level).toBe('info');
    expect(line?.message).toContain('db now points to b (10.0.0.2)');
    expect(line?.message).toContain('epoch 7');
    expect(line?.extra).toMatchObject({ target: 'log', active: 'b', epoch: 7 });
  });
});
