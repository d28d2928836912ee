/**
 * A webhook receiver on loopback for the webhook tests: records every request and answers
 * with the statuses it was given.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that records every request and answers with the next status of `statuses` (the last one repeats). */
export class Receiver {
  readonly requests: Received[] = [];
  private readonly server: Server;

  constructor(private readonly statuses: number[]) {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        this.requests.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const status = this.statuses[Math.min(this.requests.length, this.statuses.length) - 1] ?? 500;
        // A redirect points where an attacker would want the request to go.
        const location = status >= 300 && status < 400 ? { location: 'http://169.254.169.254/' } : {};
        res.writeHead(status, { 'content-type': 'text/plain', ...location }).end(`status ${status}`);
      });
    });
  }

  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const receivers: Receiver[] = [];

/** A receiver (not listening yet) that `closeReceivers` closes: run that after each test. */
export function trackedReceiver(statuses: number[]): Receiver {
  const receiver = new Receiver(statuses);
  receivers.push(receiver);
  return receiver;
}

/** A tracked receiver listening on a loopback port, and its URL. */
export async function startReceiver(statuses: number[]): Promise<{ receiver: Receiver; url: string }> {
  const receiver = trackedReceiver(statuses);
  const port = await receiver.listen();
  return { receiver, url: `http://127.0.0.1:${port}/hooks/failover` };
}

export async function closeReceivers(): Promise<void> {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
}
