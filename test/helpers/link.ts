/**
 * Loopback plumbing for tests and the benchmark that cut links: a TCP proxy that can be
 * severed and healed, and a free port to listen on.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP proxy to `port` on loopback that the test can cut (every connection dropped) and heal. */
export class Link {
  private readonly sockets = new Set<Socket>();
  private cut = false;
  readonly server: Server;
  /** The port on loopback the link leads to (set by `start`). */
  target = 0;
  constructor() {
    this.server = createServer((client) => {
      if (this.cut) return client.destroy();
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
  }
  async open(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }
  sever(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }
  heal(): void {
    this.cut = false;
  }
  close(): void {
    this.sever();
    this.server.close();
  }
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
