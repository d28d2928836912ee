/**
 * HTTP requests exactly as written, for what fetch will not send: a chosen `Host`, no
 * `Content-Type` with a body, a raw path (`..`, `%2e`, `//` kept as they are), or a
 * chunked body written one chunk at a time.
 */
import { request } from 'node:http';

export interface RawRequest {
  method: string;
  /** Sent as is: not normalised or re-encoded. */
  path: string;
  headers?: Record<string, string>;
  /** One body with a content-length, or chunks sent with chunked transfer encoding. */
  body?: string | Buffer;
  chunks?: Buffer[];
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = request(
      {
        host: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port,
        path: req.path,
        method: req.method,
        headers: {
          ...(req.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(req.body)) }),
          ...req.headers,
        },
      },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(parts).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    // The server closes the connection after an early answer (e.g. 413); a write still in
    // flight may then fail.
    outgoing.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (req.body !== undefined) outgoing.write(req.body);
    for (const chunk of req.chunks ?? []) outgoing.write(chunk);
    outgoing.end();
  });
}
