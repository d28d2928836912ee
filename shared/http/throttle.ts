/**
 * Request throttles per route group, sized from the config: what the CDK sets on the HTTP
 * API's routes, and what `failover serve --throttle` enforces locally to model it. Pure.
 *
 * Node routes (heartbeat, release, role): every node of every cluster beats once per
 * interval, so the steady rate is Σ nodes ÷ interval. HEADROOM multiplies it:
 *   × 2 for retries (an agent sends a dropped or throttled beat again inside its interval),
 *   × 2 for what else nodes send (releases, `run-if-active` role checks from cron) and for
 *       agents whose slots drift into step.
 * The burst lets every node beat at the same moment twice (a fleet restarted together).
 * Admin routes get their own, fixed throttle: operators and their tools, not the fleet.
 * Separate throttles mean a flood on one group cannot use up the other's; a flood on the
 * node routes still competes with the nodes' own beats (API Gateway throttles a route for
 * all its callers, not per source): the agent's retries and the control plane's ingress
 * hold (`core/grace.ts`) are what keep such a flood from deposing a healthy active.
 */
import type { Config } from '../config.js';
import type { RouteGroup } from './routes.js';

export const HEADROOM = 4;
/** Below this the rounding of a small fleet would throttle a single operator's test beats. */
const MIN_NODE_RATE = 10;
const ADMIN = { rateLimit: 10, burstLimit: 20 } as const;

export interface Throttle {
  /** Steady requests per second. */
  rateLimit: number;
  /** Requests that may arrive at once. */
  burstLimit: number;
}

export function throttles(config: Config): Record<RouteGroup, Throttle> {
  const beatsPerSecond = config.clusters.reduce(
    (sum, c) => sum + c.nodes.length / c.heartbeatIntervalSeconds,
    0,
  );
  const nodes = config.clusters.reduce((sum, c) => sum + c.nodes.length, 0);
  const rateLimit = Math.max(MIN_NODE_RATE, Math.ceil(beatsPerSecond * HEADROOM));
  return {
    node: { rateLimit, burstLimit: Math.max(2 * rateLimit, 2 * nodes) },
    admin: { ...ADMIN },
  };
}

/** The window an AWS WAF rate-based rule counts over (its `evaluationWindowSec`). */
export const WAF_WINDOW_SECONDS = 300;
/** One operator's console polling each second (status and events) for a whole window. */
const WAF_ADMIN_ALLOWANCE = 2 * WAF_WINDOW_SECONDS;

/**
 * The requests one source IP may send in WAF_WINDOW_SECONDS before the REST API's WAF rule
 * blocks it (ingress `rest-api`): every beat of the whole fleet × HEADROOM, plus a console.
 * Sized for the whole fleet, not one node, because nodes in private subnets reach the API
 * through a NAT gateway and so share one source address: a rule sized for one node (at a 1 s
 * interval 300 beats + 300 retries, × 2 for releases and role checks = 1,200) would block
 * such a fleet's own beats, and missed beats are failovers. A flood is thousands of
 * requests a second: it crosses this limit within seconds either way, and once blocked its
 * requests end at WAF, which API Gateway evaluates first, and no longer reach the functions.
 */
export function wafRateLimit(config: Config): number {
  const beatsPerWindow = config.clusters.reduce(
    (sum, c) => sum + (c.nodes.length * WAF_WINDOW_SECONDS) / c.heartbeatIntervalSeconds,
    0,
  );
  return Math.ceil(beatsPerWindow * HEADROOM) + WAF_ADMIN_ALLOWANCE;
}

/** What one heartbeat may take, at most, warm (the bench measures a few ms). */
const CALL_MS_BOUND = 100;

/**
 * The heartbeat function's reserved concurrency behind a Function URL, which has no rate
 * throttle: enough for the node routes' rate at CALL_MS_BOUND per call (at least 2), so the
 * fleet is served and a flood cannot take the account's whole concurrency.
 */
export function reservedConcurrency(node: Throttle): number {
  return Math.max(2, Math.ceil((node.rateLimit * CALL_MS_BOUND) / 1000));
}

/**
 * A token bucket, as API Gateway throttles: `burstLimit` tokens, refilled at `rateLimit`
 * per second; a request takes one or is refused. Time (ms) arrives as data.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly throttle: Throttle,
    now: number,
  ) {
    this.tokens = throttle.burstLimit;
    this.at = now;
  }

  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.at);
    this.tokens = Math.min(
      this.throttle.burstLimit,
      this.tokens + (elapsed * this.throttle.rateLimit) / 1000,
    );
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
