/**
 * The node agent: sends one node's heartbeats, runs hooks when its role changes, and
 * demotes itself when it cannot renew its lease (safety property 5).
 *
 * Why self-demotion is safe: the control plane promotes another node only once
 * now − lastSeen > lease on its own clock, and lastSeen is stamped when a beat arrives,
 * so never before the agent sent it. The agent demotes itself at send time + lease − margin
 * of its last confirmed beat, measured on its monotonic clock: that comes first as long as
 * the two clocks' rates differ by less than the margin. Wall-clock time is only used for
 * log timestamps.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HeartbeatResult } from '../shared/control-plane.js';
import type { Role } from '../shared/core.js';
import { AGENT_HELP, type AgentOptions, parseAgentArgs } from './agent/args.js';
import { BeatClient, ProblemLog } from './agent/beat-client.js';
import { Hooks, runCommand } from './agent/hooks.js';

/** Interval until the control plane has told us its own. */
const FIRST_INTERVAL_MS = 1_000;
const MAX_DEFAULT_TIMEOUT_MS = 2_000;
const MIN_MARGIN_MS = 500;
const MARGIN_SHARE_OF_LEASE = 0.2;
/** The same error is logged at most this often, so a long outage does not flood the log. */
const REPEAT_ERROR_EVERY_MS = 5_000;
/** How long shutdown waits for a running hook. */
const HOOK_GRACE_MS = 5_000;

/** Monotonic milliseconds: immune to wall-clock steps (NTP, manual changes). */
const clock = () => performance.now();

export async function agent(argv: string[]): Promise<number> {
  const options = parseAgentArgs(argv, process.env);
  if (options === 'help') {
    process.stdout.write(AGENT_HELP);
    return 0;
  }
  const prefix = `[${options.cluster}/${options.node}]`;
  const runner = new Agent(options, (message) => {
    process.stdout.write(`${new Date().toISOString()} ${prefix} ${message}\n`);
  });
  const onSignal = (signal: NodeJS.Signals) => runner.stop(signal);
  // `once`: a second Ctrl-C falls through to Node's default and ends the process at once.
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runner.run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}

/**
 * The next beat's time: one interval after the previous slot, so request time does not
 * stretch the cadence. If a beat overran its slot, the next one goes at once.
 */
export function nextSlot(previousSlot: number, intervalMs: number, now: number): number {
  return Math.max(previousSlot + intervalMs, now);
}

/** The self-demotion margin for a lease: the flag, or 20% of the lease but at least 0.5 s. */
export function marginFor(
  leaseMs: number,
  flagMs: number | undefined,
): { marginMs: number; warning?: string } {
  const marginMs = flagMs ?? Math.max(MIN_MARGIN_MS, MARGIN_SHARE_OF_LEASE * leaseMs);
  if (marginMs < leaseMs) return { marginMs };
  // A margin as long as the lease would demote on every beat: halve the lease instead.
  return {
    marginMs: leaseMs / 2,
    warning: `--margin ${secs(marginMs)} is not below the lease (${secs(leaseMs)}); using ${secs(leaseMs / 2)}`,
  };
}

export class Agent {
  /** What this node believes it holds; null until the first answer. */
  private role: Role | null = null;
  private epoch: number | null = null;
  private leaseMs: number | null = null;
  private serverIntervalMs: number | null = null;
  /** Monotonic send time of the last beat the control plane answered with `active`. */
  private confirmedSentAt: number | null = null;
  private demoteTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  private readonly client: BeatClient;
  private readonly problems: ProblemLog;
  private readonly warned = new Set<string>();
  private readonly hooks: Hooks;
  private lastStatus: string | null = null;

  constructor(
    private readonly options: AgentOptions,
    private readonly log: (message: string) => void,
  ) {
    this.client = new BeatClient(options);
    this.problems = new ProblemLog(log, REPEAT_ERROR_EVERY_MS, clock);
    this.hooks = new Hooks(options, log, this.stopping.signal);
  }

  async run(): Promise<void> {
    const interval = this.options.intervalMs
      ? `every ${secs(this.options.intervalMs)}`
      : "at the server's interval";
    this.log(`starting: heartbeats to ${this.options.url} ${interval}`);
    let slot = clock();
    while (!this.stopping.signal.aborted) {
      await sleep(Math.max(0, slot - clock()), undefined, { signal: this.stopping.signal }).catch(() => {});
      if (this.stopping.signal.aborted) break;
      await this.beat();
      slot = nextSlot(slot, this.intervalMs(), clock());
    }
    clearTimeout(this.demoteTimer);
    if (this.role === 'active' && this.options.releaseOnExit !== false) await this.release();
    await this.hooks.waitOnShutdown(HOOK_GRACE_MS);
  }

  /** Planned downtime: hand the role to the best standby now instead of after the lease. */
  private async release(): Promise<void> {
    const outcome = await this.client.release(this.timeoutMs());
    if (outcome.kind === 'problem') {
      this.log(`${outcome.message}; the role moves when the lease expires`);
      return;
    }
    const { role, epoch, active } = outcome.answer;
    this.changeRole(role, epoch, active, `released; active ${active ?? 'none'}`);
  }

  stop(reason: string): void {
    if (this.stopping.signal.aborted) return;
    this.log(`${reason}: stopping heartbeats`);
    this.stopping.abort();
  }

  private intervalMs(): number {
    return this.options.intervalMs ?? this.serverIntervalMs ?? FIRST_INTERVAL_MS;
  }

  private timeoutMs(): number {
    return this.options.timeoutMs ?? Math.min(this.intervalMs(), MAX_DEFAULT_TIMEOUT_MS);
  }

  /** One heartbeat; never throws. Failures only get logged: self-demotion handles their effect. */
  private async beat(): Promise<void> {
    const body = await this.beatBody();
    const sentAt = clock();
    const outcome = await this.client.beat(body, this.timeoutMs(), this.stopping.signal);
    if (outcome.kind === 'stopped') return;
    if (outcome.kind === 'problem') {
      this.problems.report(outcome.message);
      return;
    }
    this.problems.recovered();
    this.onAnswer(outcome.result, sentAt);
  }

  /** What the node believes it holds, so the control plane can show disagreements. */
  private async beatBody(): Promise<Record<string, unknown>> {
    const status = await this.localStatus();
    if (status !== this.lastStatus) {
      if (this.lastStatus !== null || status !== 'ok') this.log(`reporting status ${status}`);
      this.lastStatus = status;
    }
    return {
      status,
      ...(await this.reported()),
      ...(this.role === null ? {} : { role: this.role }),
      ...(this.epoch === null ? {} : { epoch: this.epoch }),
    };
  }

  /** maintenance while the file exists; else the check's verdict; else ok. */
  private async localStatus(): Promise<'ok' | 'failing' | 'maintenance'> {
    if (this.options.maintenanceFile && existsSync(this.options.maintenanceFile)) return 'maintenance';
    if (!this.options.check) return 'ok';
    const { code } = await runCommand(this.options.check, this.commandTimeoutMs());
    return code === 0 ? 'ok' : 'failing';
  }

  /** position / lagSeconds / version from --report; anything malformed is left out, with a warning. */
  private async reported(): Promise<Record<string, unknown>> {
    if (!this.options.report) return {};
    const { code, stdout } = await runCommand(this.options.report, this.commandTimeoutMs());
    let parsed: unknown;
    try {
      parsed = JSON.parse(stdout);
    } catch {
      parsed = null;
    }
    if (code !== 0 || typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.problems.report(`--report exited ${code} or printed no JSON object; reporting no position or lag`);
      return {};
    }
    const p = parsed as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    if (typeof p.position === 'number' || typeof p.position === 'string') out.position = p.position;
    if (typeof p.lagSeconds === 'number' && p.lagSeconds >= 0) out.lagSeconds = p.lagSeconds;
    if (typeof p.version === 'string' && p.version !== '') out.version = p.version;
    return out;
  }

  /** Local commands must not delay the beat past its slot. */
  private commandTimeoutMs(): number {
    return Math.max(200, Math.min(this.intervalMs() / 2, 5_000));
  }

  private onAnswer(result: HeartbeatResult, sentAt: number): void {
    this.leaseMs = result.leaseMs;
    this.serverIntervalMs = result.intervalMs;
    if (result.role === 'active' && clock() - sentAt > this.demoteAfterMs()) {
      // The lease this beat renewed may be about to expire: do not act on it.
      this.log(`ignoring a confirmation that took ${secs(clock() - sentAt)} to arrive`);
      return;
    }
    if (result.role !== this.role || result.epoch !== this.epoch) {
      this.changeRole(result.role, result.epoch, result.active, `active ${result.active ?? 'none'}`);
    }
    if (result.role === 'active') {
      this.confirmedSentAt = sentAt;
      this.armDemotion();
    }
  }

  private changeRole(role: Role, epoch: number, active: string | null, detail: string): void {
    this.role = role;
    this.epoch = epoch;
    this.confirmedSentAt = null;
    clearTimeout(this.demoteTimer);
    this.log(`role: ${role} (epoch ${epoch}, ${detail})`);
    this.hooks.enqueue({ role, epoch, active });
  }

  /** How long after a confirmed beat was sent this node may still act as active. */
  private demoteAfterMs(): number {
    const leaseMs = this.leaseMs as number;
    const { marginMs, warning } = marginFor(leaseMs, this.options.marginMs);
    if (warning) this.warnOnce(warning);
    if (leaseMs - marginMs <= this.intervalMs()) {
      this.warnOnce(
        `lease ${secs(leaseMs)} − margin ${secs(marginMs)} is not longer than the interval ` +
          `(${secs(this.intervalMs())}): expect self-demotion between beats`,
      );
    }
    return leaseMs - marginMs;
  }

  /** Arms the self-demotion timer for the exact deadline of the last confirmation. */
  private armDemotion(): void {
    clearTimeout(this.demoteTimer);
    const deadline = (this.confirmedSentAt as number) + this.demoteAfterMs();
    this.demoteTimer = setTimeout(() => this.demoteIfExpired(), Math.max(0, deadline - clock()));
  }

  private demoteIfExpired(): void {
    if (this.role !== 'active' || this.confirmedSentAt === null) return;
    const sinceConfirmed = clock() - this.confirmedSentAt;
    const allowed = this.demoteAfterMs();
    if (sinceConfirmed <= allowed) {
      this.armDemotion(); // the timer fired a fraction of a millisecond early
      return;
    }
    const leaseMs = this.leaseMs as number;
    this.log(
      `no confirmed renewal for ${secs(sinceConfirmed)} (lease ${secs(leaseMs)}, ` +
        `margin ${secs(leaseMs - allowed)}): demoting self`,
    );
    this.changeRole('standby', this.epoch as number, null, 'self-demoted');
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.log(`warning: ${message}`);
  }
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
}
