import { createHmac } from 'node:crypto';
import { type RetryPolicy, withRetry } from './retry.js';
import type { Target, TargetChange } from './target.js';

export const SIGNATURE_HEADER = 'x-failover-signature';

/** `sha256=<hex HMAC-SHA256 of the raw body>`: receivers recompute it over the bytes they got. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

const WEBHOOK_POLICY: Omit<RetryPolicy, 'callTimeoutMs'> = {
  baseMs: 200,
  capMs: 5_000,
  jitter: 0.5,
  // Any failure may pass (a receiver restarting, a proxy's 502), so every one is retried.
  retryable: () => true,
};

export interface WebhookOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** For tests: the clock and the sleep between attempts. */
  now?: RetryPolicy['now'];
  sleep?: RetryPolicy['sleep'];
}

/**
 * POSTs the change as JSON with an HMAC signature, retrying with exponential backoff and
 * jitter until a 2xx or the deadline. Delivery is at least once: receivers should treat
 * `epoch` as the idempotency key and ignore an epoch lower than one they have seen.
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
      async (signal) => {
        const res = await fetch(this.options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'failover-control-plane',
            'x-failover-epoch': String(change.epoch),
            [SIGNATURE_HEADER]: signBody(body, this.options.secret),
          },
          body,
          signal,
        });
        await res.body?.cancel();
        if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
      },
      {
        ...WEBHOOK_POLICY,
        callTimeoutMs: this.options.timeoutMs,
        now: this.options.now,
        sleep: this.options.sleep,
      },
    );
  }
}
