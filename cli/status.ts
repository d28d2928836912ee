/** `failover status` and `failover events`: the operator's view, like `patronictl list`. */
import { stripVTControlCharacters } from 'node:util';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import type { NodeView } from '../shared/core/views.js';
import { sleep } from '../shared/time.js';
import { AdminClient } from './admin-client.js';
import { parseOptions, requireOptions } from './options.js';
import { UsageError } from './usage.js';

export const COMMON_HELP = `  --url URL          control plane URL (default: FAILOVER_URL): a local server, or the deployed
                     ApiUrl (requests are then signed with SigV4 from the default AWS credential chain)
  --cluster C        cluster id
  --region R         AWS region for signing (default: from the URL, then AWS_REGION)
  --admin-token T    admin token for a local server beyond loopback (or FAILOVER_ADMIN_TOKEN)
  --json             print the raw JSON`;

export const STATUS_HELP = `Usage: failover status --url URL --cluster C [--json] [--watch [SECS]]

Shows the cluster: active node, epoch, and per node role, liveness, last beat, missed
beats, lag and version.

Options:
${COMMON_HELP}
  --watch            refresh every 2 s (or --interval SECS) until interrupted
  --interval SECS    refresh period for --watch
`;

export const EVENTS_HELP = `Usage: failover events --url URL --cluster C [--limit N] [--json]

Lists promotions and holds, newest first.

Options:
${COMMON_HELP}
  --limit N          how many (1-500, default 20)
`;

export const ADMIN_OPTIONS = {
  url: { type: 'string' },
  cluster: { type: 'string' },
  region: { type: 'string' },
  'admin-token': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The admin client and the cluster's path, from the options every admin command shares. */
export function adminRequest(values: {
  url?: string;
  cluster?: string;
  region?: string;
  'admin-token'?: string;
}): { api: AdminClient; path: string } {
  const { url, cluster } = requireOptions(
    { url: values.url ?? process.env.FAILOVER_URL, cluster: values.cluster },
    { url: 'FAILOVER_URL' },
  );
  const adminToken = values['admin-token'] ?? process.env.FAILOVER_ADMIN_TOKEN;
  const api = new AdminClient({
    url,
    ...(values.region ? { region: values.region } : {}),
    ...(adminToken ? { adminToken } : {}),
  });
  return { api, path: `/v1/clusters/${encodeURIComponent(cluster)}` };
}

export async function status(argv: string[]): Promise<number> {
  const values = parseOptions(argv, {
    ...ADMIN_OPTIONS,
    watch: { type: 'boolean', default: false },
    interval: { type: 'string', default: '2' },
  });
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const { api, path } = adminRequest(values);
  const period = Number(values.interval);
  if (!(period >= 0.5))
    throw new UsageError(`--interval must be at least 0.5 seconds, got '${values.interval}'`);
  const colour = process.stdout.isTTY === true && !values.json && process.env.NO_COLOR === undefined;
  for (;;) {
    const body = await api.get<ClusterStatus>(path);
    const text = values.json ? `${JSON.stringify(body, null, 2)}\n` : renderStatus(body, colour);
    process.stdout.write(values.watch && colour ? `\x1b[2J\x1b[H${text}` : text);
    if (!values.watch) return 0;
    await sleep(period * 1000);
  }
}

export async function events(argv: string[]): Promise<number> {
  const values = parseOptions(argv, { ...ADMIN_OPTIONS, limit: { type: 'string', default: '20' } });
  if (values.help) {
    process.stdout.write(EVENTS_HELP);
    return 0;
  }
  const { api, path } = adminRequest(values);
  const body = await api.get<{ events: ClusterEvent[] }>(`${path}/events`, { limit: values.limit });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  for (const e of body.events) {
    process.stdout.write(
      `${new Date(e.at).toISOString()}  epoch ${String(e.epoch).padEnd(4)} ${e.kind.padEnd(10)} ${e.reason}\n`,
    );
  }
  if (body.events.length === 0) process.stdout.write('no events yet\n');
  return 0;
}

/** The status table. Pure: tested directly. */
export function renderStatus(s: ClusterStatus, colour = false): string {
  const paint = (code: number, text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  // Multi-Region: which Region's control plane took each node's last beat.
  const multiRegion = s.nodes.some((n) => n.region !== null);
  const rows = s.nodes.map((n) => [
    n.id,
    n.address,
    roleCell(n, paint),
    nodeState(n, paint),
    n.role === 'active' ? String(s.epoch) : '',
    n.lastSeenAgeMs === null ? 'never' : `${(n.lastSeenAgeMs / 1000).toFixed(1)} s ago`,
    n.missedBeats === null ? '' : String(n.missedBeats),
    n.lagSeconds === null ? (n.position === null ? '' : `pos ${n.position}`) : `${n.lagSeconds} s`,
    n.versionMismatch ? paint(33, `${n.version} (mismatch)`) : (n.version ?? ''),
    ...(multiRegion ? [n.region ?? ''] : []),
  ]);
  const header = ['Node', 'Address', 'Role', 'State', 'Epoch', 'Last beat', 'Missed', 'Lag', 'Version'];
  if (multiRegion) header.push('Beat via');
  const visible = (t: string) => stripVTControlCharacters(t);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c + ' '.repeat((widths[i] ?? 0) - visible(c).length)).join(' | ')} |`;
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const title =
    `Cluster: ${s.cluster}  epoch ${s.epoch}  active ${s.active ?? '(none)'}  ` +
    `lease ${s.leaseMs / 1000} s (${s.missedBeats} × ${s.intervalMs / 1000} s)  failback ${s.failback}` +
    (s.mode === 'active-active' ? `  active-active, serving ${s.serving.join(', ') || '(none)'}` : '') +
    (s.paused ? '  PAUSED' : '');
  const notes = [
    ...(s.paused ? [paint(33, `PAUSED since ${s.paused.since} by ${s.paused.by}: ${s.paused.reason}`)] : []),
    ...(s.flapGuard.holding
      ? [
          paint(
            33,
            `FLAP GUARD: ${s.flapGuard.lastHour} automatic changes in the last hour (limit ${s.flapGuard.limitPerHour})`,
          ),
        ]
      : []),
    ...(s.hold ? [paint(33, `HOLD since ${s.hold.since}: ${s.hold.reason}`)] : []),
    ...(s.handover ? [paint(33, describeHandover(s.handover))] : []),
    ...s.nodes.flatMap((n) => [
      ...(n.role === 'standby' && n.alive && !n.eligible && n.ineligibleReason
        ? [`not eligible: ${n.ineligibleReason}`]
        : []),
      ...(n.collision
        ? [
            paint(
              31,
              `COLLISION: ${n.id} claims to be active (epoch ${n.collision.claimedEpoch ?? '?'}) since ${new Date(n.collision.since).toISOString()}`,
            ),
          ]
        : []),
      ...(n.previousToken
        ? [
            paint(
              33,
              `TOKEN ROTATION: ${n.id} still beats with its previous token; give its agent the new one, ` +
                'then remove previousTokenSha256 from the config',
            ),
          ]
        : []),
    ]),
    ...s.rejectedBeats.map((r) =>
      paint(
        31,
        `REJECTED: ${r.count} heartbeat${r.count === 1 ? '' : 's'} for ${r.node} with a missing or wrong token ` +
          `(last at ${r.last}): check that agent's token, --cluster and --node`,
      ),
    ),
    ...s.targets.map(
      (t) =>
        `target ${t.id} (${t.type}): ${t.state}${t.epoch === null ? '' : ` for epoch ${t.epoch}`}` +
        (t.error ? paint(31, ` (${t.error})`) : ''),
    ),
  ];
  return [title, rule, line(header), rule, ...rows.map(line), rule, ...notes, ''].join('\n');
}

/** A standby that is not alive could not take over: it shows as down, not standby. */
function roleCell(n: NodeView, paint: (code: number, text: string) => string): string {
  if (n.role === 'active') return paint(32, 'active');
  return n.alive ? 'standby' : paint(31, 'down');
}

function nodeState(n: NodeView, paint: (code: number, text: string) => string): string {
  if (n.lastSeen === null) return paint(90, 'never seen');
  if (!n.alive) return paint(31, 'down');
  if (n.status !== 'ok') return paint(33, n.status ?? 'unknown');
  return 'running';
}

/** One line for a pending demote-first switchover or failback. */
export function describeHandover(h: NonNullable<ClusterStatus['handover']>): string {
  const state = h.steppedDown
    ? `${h.from} has stepped down; ${h.to} is being promoted`
    : `waiting for ${h.from} to step down (at the latest until ${h.deadline}, when its lease has run out)`;
  return `${h.cause.toUpperCase()} PENDING since ${h.since}: ${h.from} → ${h.to}, ${state}`;
}
