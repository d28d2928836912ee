/** The command's HTTP client (cli/http.ts): answers, timeouts and aborts as the agent relies on them. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure } from '../cli/agent/beat-client.js';
import { httpText } from '../cli/http.js';

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () =>
      res.writeHead(201, { 'x-echo': 'yes' }).end(`${req.method} ${req.headers.authorization} ${body}`),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('httpText', () => {
  it('sends the method, headers and body, and gives back the status, headers and the whole body', async () => {
    const res = await httpText(`${url}/x`, {
      method: 'POST',
      headers: { authorization: 'Bearer t' },
      body: '{"a":1}',
      timeoutMs: 5_000,
    });
    expect(res).toMatchObject({ status: 201, text: 'POST Bearer t {"a":1}', headers: { 'x-echo': 'yes' } });
  });

  it('gives up after timeoutMs with a TimeoutError the agent words as a timeout', async () => {
    const err = await httpText(`${url}/hang`, { timeoutMs: 100 }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect(describeFailure(err, 100)).toBe('heartbeat timed out after 0.1 s');
  });

  it('stops at once when its signal aborts', async () => {
    const stop = new AbortController();
    const pending = httpText(`${url}/hang`, { timeoutMs: 5_000, signal: stop.signal });
    stop.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects with the network error when nothing listens', async () => {
    const err = await httpText('http://127.0.0.1:1/', { timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(describeFailure(err, 5_000)).toMatch(/^heartbeat failed: connect ECONNREFUSED 127\.0\.0\.1:1$/);
  });
});
