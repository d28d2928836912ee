/**
 * Failover time, end to end with real processes on loopback.
 *
 * Starts `failover serve --memory --port 0 --sweep-interval 1` (`--sweep-interval` of the
 * bench changes it, e.g. 60 to mimic the deployed schedule) with one cluster of nodes
 * a, b (interval 1 s, missed beats 3 by default) and a webhook target pointing at a
 * receiver in this process, and two `failover agent` processes. Each trial waits until one
 * agent is active and the other standby (both beating, both agents have logged their
 * role), waits a random phase in [0, interval), `kill -9`s the active agent, and measures
 * from the dead node's last successful beat (its `lastSeen`, stamped by the control plane):
 *
 *  (a) → epoch committed: the promotion event's `at` from `/events` (both stamps are on
 *      the control plane's clock);
 *  (b) → webhook received: the receiver's `Date.now()` at arrival;
 *  (c) → the surviving agent knows it is active: the ISO timestamp of its
 *      `role: active (epoch N` log line;
 *  (d) → the surviving agent's health endpoint flips: the agents run with
 *      `--health-listen 127.0.0.1:0`, and from the kill on this process polls the
 *      survivor's `GET /active` every 10 ms; the figure is when the first 200 arrived, also
 *      given after (a), the commit: what a load balancer or Route 53 health check on
 *      `/active` sees, before its own interval × threshold.
 *
 * (b) and (c) compare the control plane's clock with this process's and the agent's: all
 * three are the same machine's wall clock, so they agree to well under a millisecond.
 * Then the killed agent is restarted (it comes back as standby: failback is sticky) for
 * the next trial. The flap guard is raised above the trial count (see `benchConfig`).
 * Every wait is bounded; a trial that times out is recorded as failed (with the cluster's
 * hold, if any), and three failed trials in a row end the run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../shared/config.js';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import {
  type BenchOptions,
  errorMessage,
  firstActiveAt,
  healthUrl,
  type Proc,
  pass,
  type Row,
  type Summary,
  secs,
  startCli,
  stopProc,
  summarize,
  waitFor,
} from './lib.js';

const CLUSTER = 'bench';
const SECRET_ENV = 'BENCH_WEBHOOK_SECRET';
/** Route 53 detection: 3 failed checks at the fast (10 s) and standard (30 s) interval. */
const ROUTE53_FAST_MS = 30_000;
const ROUTE53_STANDARD_MS = 90_000;

export interface FailoverOptions extends BenchOptions {
  intervalSeconds: number;
  missedBeats: number;
  trials: number;
  /** The local server's sweep interval (1 s by default; the deployed stack sweeps every 60 s). */
  sweepIntervalSeconds: number;
}

export interface Trial {
  ok: boolean;
  error?: string;
  epoch?: number;
  /** From the dead node's last beat to the kill: where in its beat cycle it died. */
  killAfterLastBeatMs?: number;
  commitMs?: number;
  webhookMs?: number;
  /** Commit → webhook: a few ms when the committing worker applies targets, up to a sweep interval when it leaves them to the sweep. */
  webhookAfterCommitMs?: number;
  agentMs?: number;
  /** The survivor's first 200 on GET /active, from the last beat and from the commit. */
  healthMs?: number;
  healthAfterCommitMs?: number;
  /** Who committed: the surviving node's inline heartbeat path, or the sweep (from the reason). */
  reason?: string;
}

export interface FailoverData {
  intervalMs: number;
  leaseMs: number;
  boundMs: number;
  trials: Trial[];
  commit: Summary;
  webhook: Summary;
  webhookAfterCommit: Summary;
  agent: Summary;
  health: Summary;
  healthAfterCommit: Summary;
}

interface Webhook {
  epoch: number;
  at: number;
}

export async function runFailover(options: FailoverOptions): Promise<{ rows: Row[]; data: FailoverData }> {
  const intervalMs = options.intervalSeconds * 1000;
  const leaseMs = intervalMs * options.missedBeats;
  const boundMs = leaseMs + intervalMs + 1_000;
  const dir = mkdtempSync(join(tmpdir(), 'failover-bench-'));
  const webhooks: Webhook[] = [];
  const receiver = await startReceiver(webhooks);
  const procs: Proc[] = [];
  const trials: Trial[] = [];
  try {
    const tokens = { a: mintToken(), b: mintToken() };
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify(benchConfig(options, receiver.url, tokens.a.sha256, tokens.b.sha256)),
    );
    const server = startCli(
      'server',
      [
        'serve',
        '--config',
        configFile,
        '--memory',
        '--port',
        '0',
        '--sweep-interval',
        String(options.sweepIntervalSeconds),
      ],
      { [SECRET_ENV]: 'bench-secret' },
    );
    procs.push(server);
    const url = (
      await waitFor(
        'the server to listen',
        () => /listening on (http:\/\/\S+)/.exec(server.output()),
        30_000,
        50,
        server,
      )
    )[1] as string;
    const agents = new Map<string, Proc>();
    const startAgent = (node: 'a' | 'b') => {
      const proc = startCli(
        `agent ${node}`,
        ['agent', '--url', url, '--cluster', CLUSTER, '--node', node, '--health-listen', '127.0.0.1:0'],
        { FAILOVER_TOKEN: tokens[node].token },
      );
      procs.push(proc);
      agents.set(node, proc);
    };
    startAgent('a');
    startAgent('b');

    const getJson = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
      return (await res.json()) as T;
    };
    const status = () => getJson<ClusterStatus>(`/v1/clusters/${CLUSTER}`);
    const roleLine = (role: string, epoch: number) =>
      new RegExp(`^(\\S+) \\[[^\\]]+\\] role: ${role} \\(epoch ${epoch}\\D`, 'm');

    const deadline = Date.now() + options.trials * (boundMs + 15_000) + 30_000;
    let consecutiveFailures = 0;
    for (let i = 0; i < options.trials && Date.now() < deadline && consecutiveFailures < 3; i++) {
      const trial: Trial = { ok: false };
      trials.push(trial);
      try {
        // Ready: one active, one standby, both beating, both agents told their role.
        const ready = await waitFor(
          'one active and one standby agent, both beating',
          async () => {
            const s = await status();
            if (s.active === null) return null;
            const fresh = s.nodes.every(
              (n) => n.alive && (n.lastSeenAgeMs ?? Number.POSITIVE_INFINITY) <= intervalMs + 500,
            );
            const standby = s.nodes.find((n) => n.id !== s.active)?.id as 'a' | 'b';
            const activeKnows = roleLine('active', s.epoch).test(agents.get(s.active)?.output() ?? '');
            const standbyKnows = roleLine('standby', s.epoch).test(agents.get(standby)?.output() ?? '');
            return fresh && activeKnows && standbyKnows
              ? { active: s.active as 'a' | 'b', standby, epoch: s.epoch }
              : null;
          },
          30_000,
          100,
        );
        await sleep(Math.random() * intervalMs);
        const victim = agents.get(ready.active) as Proc;
        const killedAt = Date.now();
        await stopProc(victim, 'SIGKILL');

        const epoch = ready.epoch + 1;
        trial.epoch = epoch;
        const survivor = agents.get(ready.standby) as Proc;
        const waitMs = boundMs + options.sweepIntervalSeconds * 1000 + 10_000;
        const healthFlip = firstActiveAt(healthUrl(survivor), waitMs);
        // Awaited below; a trial that fails before then must not leave it unhandled.
        healthFlip.catch(() => {});
        const promoted = await waitFor(
          `epoch ${epoch} in /events`,
          async () =>
            (
              await getJson<{ events: ClusterEvent[] }>(`/v1/clusters/${CLUSTER}/events?limit=20`)
            ).events.find((e) => e.kind === 'promoted' && e.epoch === epoch),
          waitMs,
          50,
        );
        const hook = await waitFor(
          `webhook for epoch ${epoch}`,
          () => webhooks.find((w) => w.epoch === epoch),
          waitMs,
        );
        const line = await waitFor(
          `${survivor.name} to log role: active (epoch ${epoch}`,
          () => roleLine('active', epoch).exec(survivor.output()),
          waitMs,
          25,
          survivor,
        );
        const healthAt = await healthFlip;
        const after = await status();
        const lastSeen = after.nodes.find((n) => n.id === ready.active)?.lastSeen;
        if (lastSeen == null) throw new Error(`no lastSeen for ${ready.active}`);
        Object.assign(trial, {
          ok: true,
          killAfterLastBeatMs: killedAt - lastSeen,
          commitMs: promoted.at - lastSeen,
          webhookMs: hook.at - lastSeen,
          webhookAfterCommitMs: hook.at - promoted.at,
          agentMs: Date.parse(line[1] as string) - lastSeen,
          healthMs: healthAt - lastSeen,
          healthAfterCommitMs: healthAt - promoted.at,
          reason: promoted.reason,
        });
        options.log(
          `failover: trial ${i + 1}/${options.trials}: epoch ${epoch} committed ${secs(trial.commitMs as number)}, ` +
            `webhook ${secs(trial.webhookMs as number)}, agent ${secs(trial.agentMs as number)}, ` +
            `GET /active 200 ${secs(trial.healthMs as number)} after the last beat`,
        );
        startAgent(ready.active);
        consecutiveFailures = 0;
      } catch (err) {
        consecutiveFailures += 1;
        trial.error = errorMessage(err);
        // Say what the control plane thought (a hold names its reason).
        const seen = await status().catch(() => null);
        if (seen)
          trial.error += `; status: epoch ${seen.epoch}, active ${seen.active}, hold ${JSON.stringify(seen.hold)}`;
        options.log(`failover: trial ${i + 1} failed: ${trial.error}`);
        // Make sure both agents run again for the next trial.
        for (const node of ['a', 'b'] as const) {
          const proc = agents.get(node);
          if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null)
            startAgent(node);
        }
      }
    }
  } finally {
    await Promise.all(procs.map((p) => stopProc(p, 'SIGTERM')));
    receiver.server.closeAllConnections();
    await new Promise<void>((resolve) => receiver.server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }

  const ok = trials.filter((t) => t.ok);
  const data: FailoverData = {
    intervalMs,
    leaseMs,
    boundMs,
    trials,
    commit: summarize(ok.map((t) => t.commitMs as number)),
    webhook: summarize(ok.map((t) => t.webhookMs as number)),
    webhookAfterCommit: summarize(ok.map((t) => t.webhookAfterCommitMs as number)),
    agent: summarize(ok.map((t) => t.agentMs as number)),
    health: summarize(ok.map((t) => t.healthMs as number)),
    healthAfterCommit: summarize(ok.map((t) => t.healthAfterCommitMs as number)),
  };
  const failed = trials.length - ok.length;
  const n = `n=${ok.length}${failed ? `, ${failed} failed trials` : ''}`;
  const budget = `p95 ≤ ${secs(boundMs, 1)} (lease ${secs(leaseMs, 0)} + interval ${secs(intervalMs, 0)} + 1 s)`;
  const row = (what: string, s: Summary, note = ''): Row => ({
    figure: `Failover: last beat of the dead active → ${what}`,
    measured: `p50 ${secs(s.p50)} / p95 ${secs(s.p95)} / max ${secs(s.max)} (${n})${note}`,
    budget,
    status: pass(ok.length > 0 && failed === 0 && s.p95 <= boundMs),
  });
  const worst = Math.max(data.commit.p95, data.webhook.p95);
  const rows: Row[] = [
    row('epoch committed', data.commit),
    row(
      'webhook received',
      data.webhook,
      `; after the commit: p50 ${secs(data.webhookAfterCommit.p50)}, max ${secs(data.webhookAfterCommit.max)}` +
        ` (sweep every ${secs(options.sweepIntervalSeconds * 1000, 0)})`,
    ),
    row('surviving agent logs active', data.agent),
    row(
      "surviving agent's GET /active answers 200",
      data.health,
      `; after the commit: p50 ${secs(data.healthAfterCommit.p50)}, p95 ${secs(data.healthAfterCommit.p95)}, ` +
        `max ${secs(data.healthAfterCommit.max)} (polled every 10 ms)`,
    ),
    {
      figure: 'Failover vs Route 53 health checks (detection ≈ 30 s fast, ≈ 90 s standard)',
      measured: ok.length
        ? `p95 to webhook ${secs(worst, 1)}: ${(ROUTE53_FAST_MS / worst).toFixed(1)}× faster than fast, ` +
          `${(ROUTE53_STANDARD_MS / worst).toFixed(1)}× than standard (at interval ${secs(intervalMs, 0)})`
        : 'no successful trial',
      budget: 'report',
      status: 'report',
    },
  ];
  return { rows, data };
}

/**
 * The bench cluster. The control plane's flap guard (`maxAutoFailoversPerHour`, 6 by
 * default) would hold automation after 6 trials; it is raised above the trial count when
 * the schema knows the field.
 */
function benchConfig(options: FailoverOptions, hookUrl: string, hashA: string, hashB: string) {
  const cluster = {
    id: CLUSTER,
    heartbeatIntervalSeconds: options.intervalSeconds,
    missedBeats: options.missedBeats,
    nodes: [
      { id: 'a', address: '192.0.2.1', tokenSha256: hashA },
      { id: 'b', address: '192.0.2.2', tokenSha256: hashB },
    ],
    // The receiver is on loopback, which a webhook reaches only when its config allows it.
    targets: [{ type: 'webhook', url: hookUrl, secretEnv: SECRET_ENV, allowPrivateAddress: true }],
  };
  const raised = { clusters: [{ ...cluster, maxAutoFailoversPerHour: options.trials + 10 }] };
  try {
    parseConfig(raised);
    return raised;
  } catch {
    return { clusters: [cluster] };
  }
}

async function startReceiver(webhooks: Webhook[]): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const at = Date.now();
      try {
        const epoch = (JSON.parse(body) as { epoch: number }).epoch;
        if (!webhooks.some((w) => w.epoch === epoch)) webhooks.push({ epoch, at });
      } catch {
        // not a webhook body: ignore
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}
