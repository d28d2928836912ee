/**
 * A failed heartbeat is retried with jitter inside its interval: the rules (pure), and a
 * real Agent against a fake control plane in this process that drops or refuses requests.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../cli/agent/agent.js';
import { isRetryable, retriesEndBy, retryWaitMs } from '../cli/agent/beat-retry.js';
import { waitFor } from './helpers/processes.js';

describe('which failed beats are retried', () => {
  it.each([
    [undefined, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [400, false],
    [401, false],
    [404, false],
    [413, false],
    [200, false], // a 200 that is not a heartbeat answer
  ])('status %s: retried %s', (status, retried) => {
    expect(isRetryable(status)).toBe(retried);
  });
});

describe('the wait before a retry', () => {
  it('doubles from 100 ms, with up to half of each step taken off at random', () => {
    expect([0, 1, 2].map((n) => retryWaitMs(n, 10_000, () => 0))).toEqual([100, 200, 400]);
    expect([0, 1, 2].map((n) => retryWaitMs(n, 10_000, () => 1))).toEqual([50, 100, 200]);
  });

  it('never waits more than a quarter of the interval', () => {
    expect(retryWaitMs(10, 1_000, () => 0)).toBe(250);
  });
});

describe('how long a beat may be retried', () => {
  it('until the next slot, for a standby or an active without failsafe', () => {
    expect(retriesEndBy({ nextSlot: 5_000, deadline: null, failsafeRoundMs: null })).toBe(5_000);
    expect(retriesEndBy({ nextSlot: 5_000, deadline: 4_000, failsafeRoundMs: null })).toBe(5_000);
  });

  it('for an active with failsafe, until its deadline less one failsafe round when that comes first', () => {
    expect(retriesEndBy({ nextSlot: 5_000, deadline: 4_000, failsafeRoundMs: 2_000 })).toBe(2_000);
    expect(retriesEndBy({ nextSlot: 5_000, deadline: 12_000, failsafeRoundMs: 2_000 })).toBe(5_000);
  });
});

describe('an agent whose beat is dropped or refused', () => {
  let plane: Server | undefined;
  afterEach(async () => {
    plane?.closeAllConnections();
    await new Promise<void>((resolve) => (plane ? plane.close(() => resolve()) : resolve()));
  });

  /** A fake control plane: `answer(n)` for request n (from 1) gives a status, or 'drop' to cut the connection. */
  async function fakePlane(
    answer: (n: number) => number | 'drop',
  ): Promise<{ url: string; requests: () => number }> {
    let n = 0;
    plane = createServer((req, res) => {
      req.resume();
      const reply = answer(++n);
      if (reply === 'drop') {
        req.socket.destroy();
        return;
      }
      const body =
        reply === 200
          ? {
              cluster: 'c',
              node: 'n',
              role: 'active',
              epoch: 1,
              active: 'n',
              leaseMs: 30_000,
              intervalMs: 10_000,
            }
          : { error: 'X', message: `status ${reply}` };
      res.writeHead(reply, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    plane.listen(0, '127.0.0.1');
    await once(plane, 'listening');
    return { url: `http://127.0.0.1:${(plane.address() as AddressInfo).port}`, requests: () => n };
  }

  /**
   * Runs an agent with a 10 s interval until `until` holds: a second request inside that
   * time can only be a retry of the first beat, not the next slot's beat.
   */
  async function runAgent(url: string, until: (lines: string[]) => boolean): Promise<string[]> {
    const lines: string[] = [];
    const agent = new Agent(
      { urls: [url], cluster: 'c', node: 'n', token: 't', intervalMs: 10_000, releaseOnExit: false },
      (line) => lines.push(line),
    );
    const running = agent.run();
    try {
      await waitFor('the agent log', () => until(lines), { timeoutMs: 5_000 });
    } finally {
      agent.stop('test');
      await running;
    }
    return lines;
  }

  it('retries a beat whose connection was dropped and takes the role within the same interval', async () => {
    const fake = await fakePlane((n) => (n === 1 ? 'drop' : 200));

    const lines = await runAgent(fake.url, (l) => l.some((line) => /role: active \(epoch 1/.test(line)));

    expect(fake.requests()).toBe(2);
    expect(lines.join('\n')).toMatch(/heartbeat failed: .*\(retrying within the interval\)/);
    expect(lines.join('\n')).toMatch(/heartbeats ok again after 1 failed/);
  });

  it('retries a throttled (429) beat', async () => {
    const fake = await fakePlane((n) => (n === 1 ? 429 : 200));

    const lines = await runAgent(fake.url, (l) => l.some((line) => /role: active/.test(line)));

    expect(fake.requests()).toBe(2);
    expect(lines.join('\n')).toMatch(
      /heartbeat throttled \(429\): status 429 \(retrying within the interval\)/,
    );
  });

  it('does not retry a beat refused with a 4xx other than 429', async () => {
    const fake = await fakePlane(() => 401);

    const lines = await runAgent(fake.url, (l) => l.some((line) => /token rejected \(401\)/.test(line)));

    expect(lines.join('\n')).not.toMatch(/retrying/);
    expect(fake.requests()).toBe(1);
  });
});
