/** The agent's command line: its help, its options, and their checks. */
import { parseOptions, requireOptions } from '../options.js';
import { UsageError } from '../usage.js';

export const AGENT_HELP = `Usage: failover agent --url URL --cluster ID --node ID [options]

Sends this node's heartbeats to the control plane and runs a hook whenever its role or
epoch changes. If it cannot renew its lease, it demotes itself (and runs --on-standby)
before the control plane could promote another node.

Options:
  --url URL          control plane base URL, e.g. http://127.0.0.1:8787 (default: FAILOVER_URL).
                     Multi-Region: one per Region (repeat --url, or separate with commas):
                     beats go to the first, move to the next when one fails, and come back
                     to the first when it answers again
  --cluster ID       the cluster
  --node ID          this node
  --token TOKEN      the node's token; better: set FAILOVER_TOKEN, which keeps it out of ps
  --interval SECS    time between heartbeats (default: the control plane's interval)
  --timeout SECS     per-request timeout (default: the interval, at most 2 s)
  --margin SECS      how long before the lease could expire on the control plane to demote
                     itself (default: 20% of the lease, at least 0.5 s)
  --on-active CMD    shell command to run on becoming active
  --on-standby CMD   shell command to run on becoming standby (including at start-up and
                     on self-demotion)
  --keep-role-on-exit  on SIGTERM/SIGINT, just stop beating; by default an active agent
                     first releases the role so the best standby takes over at once
  --check CMD        health check run before each beat (sh -c): exit 0 reports ok,
                     anything else reports failing (an active that fails is replaced at once)
  --report CMD       run before each beat; prints a JSON object with any of position,
                     lagSeconds, version (e.g. replication position and lag for the sync gate)
  --maintenance-file FILE  while FILE exists, report maintenance (an active hands over;
                     the node is never promoted)
  --health-listen HOST:PORT  serve GET /active, /standby and /health on this address for
                     load balancer and Route 53 health checks (e.g. 0.0.0.0:8008 or
                     [::]:8008; port 0 picks a free port, logged at start)
  --peer-listen HOST:PORT  failsafe: answer peers' confirm requests on this address (e.g.
                     0.0.0.0:7788, the cluster's peerPort); needs FAILOVER_PEER_SECRET
  -h, --help         show this help

Failsafe (on by default for clusters of two or more nodes): when this node is active and
cannot reach the control plane, it keeps its role only while every other node confirms,
over the peer link, that it cannot reach the control plane either and holds no newer
epoch. Every agent of the cluster needs the same FAILOVER_PEER_SECRET (any string of 16+
characters, e.g. from \`failover token\`) and --peer-listen; without them this node
demotes itself when it cannot renew, as with failsafe off.

Hooks run one at a time, in order, with sh -c, and get FAILOVER_ROLE, FAILOVER_EPOCH,
FAILOVER_ACTIVE (the active node's id; empty if none or unknown), FAILOVER_CLUSTER and
FAILOVER_NODE in their environment (but not FAILOVER_TOKEN). A hook also runs when the
epoch changes while the role stays the same (another node took over). SIGINT/SIGTERM
stop the heartbeats (an active agent releases the role first and runs --on-standby)
and wait up to 5 s for a running hook.
`;

export interface AgentOptions {
  /** Control-plane base URLs, the preferred first (one per Region). */
  urls: string[];
  cluster: string;
  node: string;
  token: string;
  /** Fixed interval; otherwise the control plane's. */
  intervalMs?: number;
  timeoutMs?: number;
  marginMs?: number;
  onActive?: string;
  onStandby?: string;
  /** On SIGTERM/SIGINT while active, hand the role over at once (planned downtime). Default true. */
  releaseOnExit?: boolean;
  /** Health check run before each beat: exit 0 → `ok`, otherwise `failing`. */
  check?: string;
  /** Run before each beat; its stdout is a JSON object with any of position, lagSeconds, version. */
  report?: string;
  /** While this file exists the node reports `maintenance`. */
  maintenanceFile?: string;
  /** Where to serve the health endpoints (cli/agent/health-server.ts); none if unset. */
  healthListen?: ListenAddress;
  /** Failsafe: where to answer peers, and the secret requests and answers are signed with. */
  peerListen?: ListenAddress;
  peerSecret?: string;
}

export interface ListenAddress {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export function parseAgentArgs(argv: string[], env: NodeJS.ProcessEnv): AgentOptions | 'help' {
  const values = parseOptions(argv, {
    url: { type: 'string', multiple: true },
    cluster: { type: 'string' },
    node: { type: 'string' },
    token: { type: 'string' },
    interval: { type: 'string' },
    timeout: { type: 'string' },
    margin: { type: 'string' },
    'on-active': { type: 'string' },
    'on-standby': { type: 'string' },
    'keep-role-on-exit': { type: 'boolean', default: false },
    check: { type: 'string' },
    report: { type: 'string' },
    'maintenance-file': { type: 'string' },
    'health-listen': { type: 'string' },
    'peer-listen': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  const { url, cluster, node, token } = requireOptions(
    {
      url: values.url?.join(',') ?? env.FAILOVER_URL,
      cluster: values.cluster,
      node: values.node,
      token: values.token ?? env.FAILOVER_TOKEN,
    },
    { url: 'FAILOVER_URL', token: 'FAILOVER_TOKEN' },
  );
  const peerSecret = env.FAILOVER_PEER_SECRET || undefined;
  if (peerSecret !== undefined && peerSecret.length < 16) {
    throw new UsageError('FAILOVER_PEER_SECRET must be at least 16 characters');
  }
  const peerListen =
    values['peer-listen'] === undefined ? undefined : listenAddress(values['peer-listen'], '--peer-listen');
  if (peerListen !== undefined && peerSecret === undefined) {
    throw new UsageError('--peer-listen needs FAILOVER_PEER_SECRET (the same on every node of the cluster)');
  }
  return {
    urls: baseUrls(url),
    cluster,
    node,
    token,
    intervalMs: seconds(values.interval, '--interval'),
    timeoutMs: seconds(values.timeout, '--timeout'),
    marginMs: seconds(values.margin, '--margin'),
    onActive: values['on-active'],
    onStandby: values['on-standby'],
    releaseOnExit: !values['keep-role-on-exit'],
    check: values.check,
    report: values.report,
    maintenanceFile: values['maintenance-file'],
    healthListen:
      values['health-listen'] === undefined
        ? undefined
        : listenAddress(values['health-listen'], '--health-listen'),
    ...(peerListen ? { peerListen } : {}),
    ...(peerSecret ? { peerSecret } : {}),
  };
}

/** Comma-separated (or repeated) URLs, each checked; the same one twice is a mistake. */
function baseUrls(raw: string): string[] {
  const urls = raw
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean)
    .map(baseUrl);
  if (urls.length === 0) throw new UsageError('--url must be an http(s) URL, got nothing');
  const twice = urls.find((u, i) => urls.indexOf(u) !== i);
  if (twice !== undefined) throw new UsageError(`--url ${twice} is given twice`);
  return urls;
}

function baseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, got '${raw}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must be an http(s) URL, got '${raw}'`);
  }
  // Keep any path prefix (an API Gateway stage, a reverse proxy's path).
  return raw.replace(/\/+$/, '');
}

function seconds(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0 || value > 86_400) {
    throw new UsageError(`${flag} must be a positive number of seconds, got '${raw}'`);
  }
  return value * 1000;
}

/** HOST:PORT, an IPv6 host in brackets. The host must be explicit: which interfaces to expose is the user's call. */
function listenAddress(raw: string, flag: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(raw);
  const port = Number(match?.[3]);
  if (match === null || port > 65_535) {
    throw new UsageError(
      `${flag} must be HOST:PORT with a port from 0 to 65535 (e.g. 0.0.0.0:8008 or [::]:8008), got '${raw}'`,
    );
  }
  return { host: (match[1] ?? match[2]) as string, port };
}
