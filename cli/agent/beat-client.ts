/**
 * The agent's HTTP side: one heartbeat or release per call, a 200 answer checked before it
 * is believed, and every failure put into words for the log. With several control-plane
 * URLs (Regions), a failure another Region could answer moves the next request there
 * (`endpoints.ts`).
 */
import type { HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import { formatSeconds } from '../../shared/time.js';
import { httpText } from '../http.js';
import { isRetryable } from './beat-retry.js';
import type { Endpoints } from './endpoints.js';

/** A release may commit a promotion and repoint targets: it gets longer than a beat. */
const RELEASE_EXTRA_MS = 3_000;

export interface BeatTarget {
  cluster: string;
  node: string;
  token: string;
}

/** What the control plane says this node holds, as far as hooks and logs need it. */
export type RoleAnswer = Pick<HeartbeatResult, 'role' | 'epoch' | 'active'>;

export type BeatOutcome =
  | { kind: 'answer'; result: HeartbeatResult }
  /** `retryable`: no answer, a 429 or a 5xx (see beat-retry.ts). */
  | { kind: 'problem'; message: string; retryable: boolean }
  /** The agent stopped while the beat was in flight: nothing to report. */
  | { kind: 'stopped' };

export type ReleaseOutcome = { kind: 'answer'; answer: RoleAnswer } | { kind: 'problem'; message: string };

export class BeatClient {
  private readonly nodePath: string;

  constructor(
    private readonly target: BeatTarget,
    readonly endpoints: Endpoints,
  ) {
    const { cluster, node } = target;
    this.nodePath = `/v1/clusters/${encodeURIComponent(cluster)}/nodes/${encodeURIComponent(node)}`;
  }

  /**
   * Sends one heartbeat; never throws. A failure another Region could answer moves the next
   * attempt to the next URL, and the message says so.
   */
  async beat(body: Record<string, unknown>, timeoutMs: number, stopping: AbortSignal): Promise<BeatOutcome> {
    const url = this.endpoints.url();
    const outcome = await this.beatTo(url, body, timeoutMs, stopping);
    if (outcome.kind !== 'problem' || !outcome.retryable) return outcome;
    const next = this.endpoints.failed(url);
    return next === null
      ? outcome
      : { ...outcome, message: `${outcome.message} at ${url}; moving to ${next}` };
  }

  /**
   * While beats go elsewhere: asks the first URL for this node's role (renews nothing);
   * when it answers 200, beats go back to it. Returns the URL beats moved back to, if any.
   */
  async probeFirst(timeoutMs: number): Promise<string | null> {
    const first = this.endpoints.probeDue();
    if (first === null) return null;
    try {
      const { status } = await httpText(`${first}${this.nodePath}`, {
        method: 'GET',
        headers: { authorization: `Bearer ${this.target.token}` },
        timeoutMs,
      });
      return status === 200 && this.endpoints.firstAnswered() ? first : null;
    } catch {
      return null;
    }
  }

  private async beatTo(
    url: string,
    body: Record<string, unknown>,
    timeoutMs: number,
    stopping: AbortSignal,
  ): Promise<BeatOutcome> {
    let status: number;
    let text: string;
    try {
      ({ status, text } = await httpText(`${url}${this.nodePath}/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.target.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        timeoutMs,
        signal: stopping,
      }));
    } catch (err) {
      if (stopping.aborted) return { kind: 'stopped' };
      return { kind: 'problem', message: describeFailure(err, timeoutMs), retryable: isRetryable(undefined) };
    }
    const result = status === 200 ? parseResult(text) : null;
    if (result === null) {
      return { kind: 'problem', message: describeRejection(status, text), retryable: isRetryable(status) };
    }
    return { kind: 'answer', result };
  }

  /** Asks the control plane to hand this node's role to the best standby now; never throws. */
  async release(timeoutMs: number): Promise<ReleaseOutcome> {
    try {
      const { status, text } = await httpText(`${this.endpoints.url()}${this.nodePath}/release`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.target.token}` },
        timeoutMs: timeoutMs + RELEASE_EXTRA_MS,
      });
      if (status !== 200) {
        return { kind: 'problem', message: `release refused (${status}): ${serverMessage(text)}` };
      }
      return { kind: 'answer', answer: JSON.parse(text) as RoleAnswer };
    } catch (err) {
      return { kind: 'problem', message: `release failed: ${describeFailure(err, timeoutMs)}` };
    }
  }
}

/** A 200 answer, checked before it is believed; null if it is not one. */
export function parseResult(text: string): HeartbeatResult | null {
  let value: Partial<HeartbeatResult>;
  try {
    value = JSON.parse(text) as Partial<HeartbeatResult>;
  } catch {
    return null;
  }
  const ok =
    typeof value === 'object' &&
    value !== null &&
    (value.role === 'active' || value.role === 'standby') &&
    Number.isSafeInteger(value.epoch) &&
    (value.active === null || typeof value.active === 'string') &&
    typeof value.leaseMs === 'number' &&
    value.leaseMs > 0 &&
    typeof value.intervalMs === 'number' &&
    value.intervalMs > 0;
  return ok ? (value as HeartbeatResult) : null;
}

export function describeRejection(status: number, text: string): string {
  if (status === 401) {
    return (
      'token rejected (401): check the token (--token or FAILOVER_TOKEN) against the tokenSha256 ' +
      'of this --cluster and --node in the config'
    );
  }
  const message = serverMessage(text);
  if (status === 200) return `unexpected heartbeat answer: ${message}`;
  if (status === 400 || status === 404) return `heartbeat rejected (${status}): ${message}`;
  if (status === 429) return `heartbeat throttled (429): ${message}`;
  if (status >= 500) return `control plane error (${status}): ${message}`;
  return `unexpected response (${status}): ${message}`;
}

/** The `message` of the API's error body, or the start of whatever came back. */
export function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: show it as text
  }
  return text.trim().slice(0, 200) || '(empty body)';
}

/** A request that got no answer: a timeout, or the network error (e.g. connect ECONNREFUSED …). */
export function describeFailure(err: unknown, timeoutMs: number): string {
  if ((err as Error)?.name === 'TimeoutError') return `heartbeat timed out after ${formatSeconds(timeoutMs)}`;
  return `heartbeat failed: ${(err as Error)?.message ?? String(err)}`;
}

/**
 * Logs each distinct problem at most once per `everyMs`, saying how many repeats it held
 * back, and logs once when heartbeats succeed again.
 */
export class ProblemLog {
  private readonly lastLogged = new Map<string, { at: number; heldBack: number }>();
  private failures = 0;

  constructor(
    private readonly log: (message: string) => void,
    private readonly everyMs: number,
    private readonly clock: () => number,
  ) {}

  report(message: string): void {
    this.failures += 1;
    const now = this.clock();
    const previous = this.lastLogged.get(message);
    if (previous !== undefined && now - previous.at < this.everyMs) {
      previous.heldBack += 1;
      return;
    }
    const repeats = previous?.heldBack ? ` (${previous.heldBack} more since last logged)` : '';
    this.lastLogged.set(message, { at: now, heldBack: 0 });
    this.log(`${message}${repeats}`);
  }

  recovered(): void {
    if (this.failures === 0) return;
    this.log(`heartbeats ok again after ${this.failures} failed`);
    this.failures = 0;
    this.lastLogged.clear();
  }
}
