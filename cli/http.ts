/**
 * The one HTTP client of the `failover` command: node:http / node:https, not fetch. Node's
 * fetch loads undici on first use, about 200 ms of CPU and 8 MB of memory, which every
 * `run-if-active` from cron and every agent would pay for one small request at a time.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Aborts the request (the error's name is AbortError). */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Thrown when the whole exchange takes longer than `timeoutMs`; its name is TimeoutError. */
export class HttpTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** One request, answered with its status and whole body as text; network errors reject. */
export function httpText(url: URL | string, options: HttpRequest): Promise<HttpResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method: options.method ?? 'GET',
      headers: { ...options.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      signal: options.signal,
    });
    const timer = setTimeout(() => {
      req.destroy(new HttpTimeoutError(`timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(body);
  });
}
