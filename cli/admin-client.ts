/**
 * Calls the admin routes. Against a local server on loopback nothing is needed (or an
 * admin token when it listens beyond loopback); against API Gateway the request is signed
 * with SigV4 using the default AWS credential chain, which the routes' IAM authoriser checks.
 */
import { httpText } from './http.js';
import { isLoopback } from './loopback.js';
import { AdminRequestError, UsageError } from './usage.js';

export interface AdminClientOptions {
  url: string;
  /** Bearer admin token for a local server that listens beyond loopback. */
  adminToken?: string;
  /** AWS region for signing; defaults to the one in an execute-api host name, then AWS_REGION. */
  region?: string;
}

export class AdminClient {
  private readonly base: URL;

  constructor(private readonly options: AdminClientOptions) {
    try {
      this.base = new URL(options.url);
    } catch {
      throw new UsageError(`--url must be a URL, got '${options.url}'`);
    }
  }

  get<T>(path: string, query: Record<string, string> = {}): Promise<T> {
    return this.request<T>('GET', path, query);
  }

  post<T>(path: string, body: Record<string, unknown>): Promise<T> {
    return this.request<T>('POST', path, {}, JSON.stringify(body));
  }

  private async request<T>(
    method: string,
    path: string,
    query: Record<string, string>,
    body?: string,
  ): Promise<T> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const headers = {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(await this.headers(url, method, body)),
    };
    let status: number;
    let text: string;
    try {
      ({ status, text } = await httpText(url, { method, headers, body, timeoutMs: 15_000 }));
    } catch (err) {
      throw new AdminRequestError(`cannot reach ${url.origin}: ${(err as Error).message}`, 0);
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = { message: text.slice(0, 200) };
    }
    if (status < 200 || status > 299) {
      // Our API says `message`; API Gateway's own errors (e.g. a refused signature) say `Message`.
      const { message, Message } = answer as { message?: string; Message?: string };
      throw new AdminRequestError(
        `${status} from ${url.pathname}: ${message ?? Message ?? `HTTP ${status}`}`,
        status,
      );
    }
    return answer as T;
  }

  /** Headers for a request to `url`: none, a bearer admin token, or a SigV4 signature. */
  async headers(url: URL, method = 'GET', body?: string): Promise<Record<string, string>> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isLoopback(host) || url.protocol === 'http:') {
      return this.options.adminToken ? { authorization: `Bearer ${this.options.adminToken}` } : {};
    }
    return signedHeaders(url, method, body, this.options.region);
  }
}

let credentials: ReturnType<typeof import('@aws-sdk/credential-provider-node').defaultProvider> | undefined;

/**
 * SigV4 headers for an admin request to `url` (host, and content-type when there is a body),
 * from the default AWS credential chain; the region is `region`, else the one in an
 * execute-api host name, else AWS_REGION. Send exactly these headers with the request.
 */
export async function signedHeaders(
  url: URL,
  method: string,
  body: string | undefined,
  region?: string,
): Promise<Record<string, string>> {
  const signingRegion =
    region ??
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1] ??
    process.env.AWS_REGION;
  if (!signingRegion)
    throw new UsageError('cannot tell the AWS region from --url: pass --region or set AWS_REGION');
  // The SDK's signer and credential chain load only here: a local server never needs them.
  const [{ defaultProvider }, { Hash }, { SignatureV4 }] = await Promise.all([
    import('@aws-sdk/credential-provider-node'),
    import('@smithy/core/serde'),
    import('@smithy/signature-v4'),
  ]);
  // One provider per process: it caches the credentials until they expire, so the console's
  // many requests do not each walk the chain again.
  credentials ??= defaultProvider();
  const signer = new SignatureV4({
    service: 'execute-api',
    region: signingRegion,
    credentials,
    sha256: Hash.bind(null, 'sha256'),
  });
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => {
    query[k] = v;
  });
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname,
    query,
    headers: { host: url.host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body }),
  });
  return signed.headers as Record<string, string>;
}
