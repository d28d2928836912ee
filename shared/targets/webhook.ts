import { createHmac } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { type AddressPolicy, literalAddress, refusedAddress } from '../addresses.js';
import { type RetryPolicy, withRetry } from './retry.js';
import type { SecretSource } from './secrets.js';
import type { Target, TargetChange } from './target.js';

export const SIGNATURE_HEADER = 'x-failover-signature';

/** `sha256=<hex HMAC-SHA256 of the raw body>`: receivers recompute it over the bytes they got. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** A request the target will not make, or a redirect it will not follow: retrying cannot help. */
export class WebhookRefusedError extends Error {
  override name = 'WebhookRefusedError';
}

const WEBHOOK_POLICY: Omit<RetryPolicy, 'callTimeoutMs'> = {
  baseMs: 200,
  capMs: 5_000,
  jitter: 0.5,
  // Any other failure may pass (a receiver restarting, a proxy's 502), so it is retried.
  retryable: (err) => !(err instanceof WebhookRefusedError),
};

export interface WebhookOptions {
  url: string;
  /** The HMAC key, read before each attempt (a cached value after the first read). */
  secret: SecretSource;
  timeoutMs: number;
  /** Which non-public addresses the URL may reach (checked on the literal and on every resolved address). */
  addresses: AddressPolicy;
  /** For tests: the clock and the sleep between attempts. */
  now?: RetryPolicy['now'];
  sleep?: RetryPolicy['sleep'];
}

/**
 * POSTs the change as JSON with an HMAC signature, retrying with exponential backoff and
 * jitter until a 2xx or the deadline. Delivery is at least once: receivers should treat
 * `epoch` as the idempotency key and ignore an epoch lower than one they have seen.
 *
 * SSRF: the address the connection is made to is checked against the policy after DNS
 * resolution, in the lookup the socket itself uses (so a name re-pointed between a check and
 * the connect, DNS rebinding, cannot slip through), and redirects are never followed.
 */
export class WebhookTarget implements Target {
  readonly type = 'webhook';
  constructor(
    readonly id: string,
    private readonly options: WebhookOptions,
  ) {}

  async apply(change: TargetChange, deadline: number): Promise<undefined> {
    const body = JSON.stringify({
      cluster: change.cluster,
      active: change.active,
      address: change.address,
      members: change.members,
      epoch: change.epoch,
      previous: change.previous,
      reason: change.reason,
      at: new Date(change.at).toISOString(),
    });
    await withRetry(
      `webhook ${this.id} not delivered`,
      deadline,
      async (signal) =>
        post(this.options.url, this.options.addresses, signal, body, {
          'content-type': 'application/json',
          'user-agent': 'failover-control-plane',
          'x-failover-epoch': String(change.epoch),
          [SIGNATURE_HEADER]: signBody(body, await this.options.secret(signal)),
        }),
      {
        ...WEBHOOK_POLICY,
        callTimeoutMs: this.options.timeoutMs,
        now: this.options.now,
        sleep: this.options.sleep,
      },
    );
  }
}

/** One POST; resolves on a 2xx, rejects on anything else (a 3xx is refused, not followed). */
function post(
  url: string,
  policy: AddressPolicy,
  signal: AbortSignal,
  body: string,
  headers: Record<string, string>,
): Promise<void> {
  const target = new URL(url);
  const literal = literalAddress(target);
  const refused = literal === undefined ? undefined : refusedAddress(literal, policy);
  if (refused) return Promise.reject(new WebhookRefusedError(`refused: ${refused}`));
  const payload = Buffer.from(body, 'utf8');
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(payload.length) },
      signal,
      lookup: checkedLookup(policy),
    });
    req.once('error', reject);
    req.once('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) resolve();
      else if (status >= 300 && status < 400) {
        reject(
          new WebhookRefusedError(`HTTP ${status}: redirect to ${res.headers.location ?? '?'} not followed`),
        );
      } else reject(new Error(`HTTP ${status} ${res.statusMessage ?? ''}`.trim()));
    });
    req.end(payload);
  });
}

/** dns.lookup, failing when any address the name resolves to is refused by the policy. */
function checkedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const refused = addresses.map((a) => refusedAddress(a.address, policy)).find((r) => r !== undefined);
      if (refused)
        return callback(new WebhookRefusedError(`refused: ${hostname} resolves to ${refused}`), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const [first] = addresses;
      callback(null, first?.address ?? '', first?.family ?? 4);
    });
  };
}
