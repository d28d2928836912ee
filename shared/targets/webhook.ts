import { createHmac } from 'node:crypto';
import { TargetApplyError } from '../errors.js';
import type { Target, TargetChange } from './target.js';

export const SIGNATURE_HEADER = 'x-failover-signature';

/** `sha256=<hex HMAC-SHA256 of the raw body>`: receivers recompute it over the bytes they got. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export interface WebhookOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** For tests: the clock and the sleep between attempts. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
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
    const now = this.options.now ?? Date.now;
    const sleep = this.options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
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
    let lastError = 'no attempt made';
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - now();
      if (remaining <= 0) break;
      try {
        const res = await fetch(this.options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'failover-control-plane',
            'x-failover-epoch': String(change.epoch),
            [SIGNATURE_HEADER]: signBody(body, this.options.secret),
          },
          body,
          // AbortSignal.timeout only takes whole milliseconds.
          signal: AbortSignal.timeout(Math.max(1, Math.ceil(Math.min(this.options.timeoutMs, remaining)))),
        });
        await res.body?.cancel();
        if (res.ok) return undefined;
        lastError = `HTTP ${res.status} ${res.statusText}`.trim();
      } catch (err) {
        lastError = describe(err);
      }
      const backoff = Math.min(5_000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (now() + backoff >= deadline) break;
      await sleep(backoff);
    }
    throw new TargetApplyError(`webhook ${this.id} not delivered: ${lastError}`, true);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return `${err.name} ${err.message}${detail}`;
  }
  return String(err);
}
