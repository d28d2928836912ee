/**
 * `failover run-if-active ... -- CMD ARGS`: a guard for scheduled jobs that must run on the
 * active node only (cron on every node, work on one). It asks the control plane, without
 * renewing anything, whether this node is active with enough lease left; runs CMD with
 * FAILOVER_EPOCH (the fencing token) if so; exits 0 without running when standby.
 */
import { spawn } from 'node:child_process';
import type { HeartbeatResult } from '../shared/control-plane/control-plane.js';
import { httpText } from './http.js';
import { parseOptions, requireOptions } from './options.js';
import { UsageError } from './usage.js';

export const RUN_IF_ACTIVE_HELP = `Usage: failover run-if-active --url URL --cluster C --node N [--margin SECS] [--quiet] -- CMD [ARGS...]

Runs CMD only if the control plane confirms this node is the active one with at least
--margin of its lease left (default: one heartbeat interval, at least 1 s). Exits 0
without running it when the node is standby, so it fits cron; otherwise exits with
CMD's exit code. CMD gets FAILOVER_EPOCH (the fencing token: pass it to systems that
can reject writes from a deposed active), FAILOVER_CLUSTER, FAILOVER_NODE.

Exit codes: CMD's own; 0 when standby or too little lease is left; 75 when the control
plane could not confirm the role (unreachable, error), so cron reports it.

Options:
  --url URL       control plane base URL (default: FAILOVER_URL)
  --cluster C     the cluster
  --node N        this node
  --token T       the node's token (better: FAILOVER_TOKEN in the environment)
  --margin SECS   lease that must be left to start CMD
  --quiet         say nothing when CMD is not run because the node is standby (for cron,
                  which mails any output); problems are still reported
`;

const CANNOT_CONFIRM = 75; // EX_TEMPFAIL

export async function runIfActive(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  const command = split === -1 ? [] : argv.slice(split + 1);
  const values = parseOptions(
    own,
    {
      url: { type: 'string' },
      cluster: { type: 'string' },
      node: { type: 'string' },
      token: { type: 'string' },
      margin: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    (argument) => `put the command to run after --, e.g. failover run-if-active … -- ${argument}`,
  );
  if (values.help) {
    process.stdout.write(RUN_IF_ACTIVE_HELP);
    return 0;
  }
  const { url, cluster, node, token } = requireOptions(
    {
      url: values.url ?? process.env.FAILOVER_URL,
      cluster: values.cluster,
      node: values.node,
      token: values.token ?? process.env.FAILOVER_TOKEN,
    },
    { url: 'FAILOVER_URL', token: 'FAILOVER_TOKEN' },
  );
  if (command.length === 0) throw new UsageError('missing the command to run: put it after --');
  const marginMs = values.margin === undefined ? undefined : Number(values.margin) * 1000;
  if (marginMs !== undefined && !(marginMs >= 0))
    throw new UsageError(`--margin must be a number of seconds, got '${values.margin}'`);

  const say = (message: string) =>
    process.stderr.write(`failover run-if-active [${cluster}/${node}]: ${message}\n`);
  /** Not running CMD as designed (standby, lease too short): silent with --quiet. */
  const skip = (message: string) => {
    if (!values.quiet) say(message);
    return 0;
  };
  const roleUrl = `${url.replace(/\/+$/, '')}/v1/clusters/${encodeURIComponent(cluster)}/nodes/${encodeURIComponent(node)}`;
  let role: HeartbeatResult & { leaseRemainingMs: number | null };
  try {
    const { status, text } = await httpText(roleUrl, {
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: 5_000,
    });
    if (status !== 200) {
      say(`cannot confirm the role (${status}): ${text.slice(0, 200)}; not running`);
      return CANNOT_CONFIRM;
    }
    role = JSON.parse(text);
  } catch (err) {
    say(`cannot reach the control plane: ${(err as Error).message}; not running`);
    return CANNOT_CONFIRM;
  }
  if (role.role !== 'active') {
    return skip(`standby (active: ${role.active ?? 'none'}, epoch ${role.epoch}); not running`);
  }
  const needed = marginMs ?? Math.max(1_000, role.intervalMs);
  if ((role.leaseRemainingMs ?? 0) < needed) {
    return skip(`active, but only ${role.leaseRemainingMs} ms of lease left (need ${needed}); not running`);
  }
  return run(command, {
    ...process.env,
    FAILOVER_EPOCH: String(role.epoch),
    FAILOVER_ROLE: 'active',
    FAILOVER_CLUSTER: cluster,
    FAILOVER_NODE: node,
  });
}

/** Runs CMD without a shell and resolves to its exit code (128 + signal number when killed). */
function run(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { FAILOVER_TOKEN: _secret, ...safeEnv } = env; // the job never sees the node's token
  return new Promise((resolve) => {
    const child = spawn(command[0] as string, command.slice(1), { stdio: 'inherit', env: safeEnv });
    child.once('error', (err) => {
      process.stderr.write(`failover run-if-active: cannot run ${command[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => {
      const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
      resolve(code ?? 128 + (signal ? (signals[signal] ?? 1) : 1));
    });
  });
}
