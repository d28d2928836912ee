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
    // Under the base URL's own path (a REST API's stage, `…/prod`), not in place of it.
    const url = new URL(`${this.base.pathname.replace(/\/+$/, '')}${path}`, this.base);
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

/** Where signing credentials come from: the default AWS chain, or one provider a long-lived caller keeps. */
export type CredentialSource = () => Promise<{
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}>;

/**
 * SigV4 headers for an admin request to `url` (host, and content-type when there is a body).
 * An API Gateway host (public, or a private API's alias through a VPC endpoint) names
 * execute-api; a Lambda Function URL's (ingress function-url), lambda. The region is
 * `region`, else the one in the host name, else AWS_REGION; the credentials come from
 * `credentials`, else a fresh default chain. Send exactly these headers with the request.
 */
export async function signedHeaders(
  url: URL,
  method: string,
  body: string | undefined,
  region?: string,
  credentials?: CredentialSource,
): Promise<Record<string, string>> {
  const host = url.hostname;
  const functionUrl = /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(host);
  const signingRegion =
    region ??
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(host)?.[1] ??
    functionUrl?.[1] ??
    process.env.AWS_REGION;
  if (!signingRegion)
    throw new UsageError('cannot tell the AWS region from --url: pass --region or set AWS_REGION');
  // The SDK's signer and credential chain load only here: a local server never needs them.
  const [{ defaultProvider }, { Hash }, { SignatureV4 }] = await Promise.all([
    import('@aws-sdk/credential-provider-node'),
    import('@smithy/core/serde'),
    import('@smithy/signature-v4'),
  ]);
  const signer = new SignatureV4({
    service: functionUrl ? 'lambda' : 'execute-api',
    region: signingRegion,
    credentials: credentials ?? defaultProvider(),
    sha256: Hash.bind(null, 'sha256'),
  });
  const query: Record<string, string> = {};
  url.searchParams.forEach((v, k) => {
    query[k] = v;
  });
  const request = {
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname,
    query,
    headers: { host: url.host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body }),
  };
  try {
    return (await signer.sign(request)).headers as Record<string, string>;
  } catch (err) {
    // No credentials anywhere in the chain: one line saying where they come from, no stack.
    if ((err as Error).name !== 'CredentialsProviderError') throw err;
    throw new UsageError(
      `no AWS credentials to sign the request to ${url.host} with: set AWS_PROFILE (or run aws sso login), ` +
        'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance or task role applies',
    );
  }
}
