/**
 * The node agent: sends one node's heartbeats, runs hooks when its role changes, and
 * demotes itself when it cannot renew its lease (safety property 5). The LeaseKeeper
 * decides the role and the deadline; this class only wires it to the network, the
 * timers, the hooks and the log. Wall-clock time is only used for log timestamps.
 */

import type { Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import type { HeartbeatResult } from '../../shared/control-plane/control-plane.js';
import { formatSeconds, isoTimestamp, sleep } from '../../shared/time.js';
import { AGENT_HELP, type AgentOptions, parseAgentArgs } from './args.js';
import { BeatClient, type BeatOutcome, ProblemLog } from './beat-client.js';
import { MIN_ATTEMPT_MS, retriesEndBy, retryWaitMs } from './beat-retry.js';
import { Endpoints } from './endpoints.js';
import { Failsafe } from './failsafe.js';
import { type HealthSnapshot, startHealthServer } from './health-server.js';
import { Hooks } from './hooks.js';
import { LeaseKeeper, type LeaseTerms, type RoleChange, type SelfDemotion } from './lease-keeper.js';
import { startPeerServer } from './peer-link.js';
import { SelfReport } from './self-report.js';
import { SettingWarnings } from './warnings.js';

/** Interval until the control plane has told us its own. */
const FIRST_INTERVAL_MS = 1_000;
const MAX_DEFAULT_TIMEOUT_MS = 2_000;
/** The same error is logged at most this often, so a long outage does not flood the log. */
const REPEAT_ERROR_EVERY_MS = 5_000;
/** Multi-Region: while beats go to another URL, how often the first one is tried again. */
const PROBE_FIRST_URL_EVERY_MS = 5_000;
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
  interpretOnly();
  const prefix = `[${options.cluster}/${options.node}]`;
  const runner = new Agent(options, (message) => {
    process.stdout.write(`${isoTimestamp(Date.now())} ${prefix} ${message}\n`);
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
 * Keeps V8 to its interpreter for the rest of this process. An agent runs for months and
 * spends a fraction of a millisecond of JavaScript per beat; after about 30 beats V8 would
 * compile its hottest functions to machine code, paging in some 4–5 MB of its compilers'
 * own code (part of the node binary) for no measurable gain at one beat a second. Without
 * them an agent stays under 50 MB of resident memory (docs/performance.md, "Agent memory").
 * Set before the first beat: V8 reads --max-opt each time it considers tiering a function
 * up, so setting it at run time is enough, and it changes nothing else.
 */
function interpretOnly(): void {
  setFlagsFromString('--max-opt=0');
}

/**
 * The next beat's time: one interval after the previous slot, so request time does not
 * stretch the cadence. If a beat overran its slot, the next one goes at once.
 */
export function nextSlot(previousSlot: number, intervalMs: number, now: number): number {
  return Math.max(previousSlot + intervalMs, now);
}

export class Agent {
  private readonly keeper: LeaseKeeper;
  private serverIntervalMs: number | null = null;
  /** Wakes at the keeper's deadline, so self-demotion does not wait for the next beat. */
  private demoteTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();
  private readonly client: BeatClient;
  private readonly problems: ProblemLog;
  private readonly warnings: SettingWarnings;
  private readonly hooks: Hooks;
  private readonly selfReport: SelfReport;
  private readonly failsafe: Failsafe;
  private peerServer: Server | undefined;
  /** The lease terms of the last believed answer (failsafe rounds use its margin). */
  private terms: LeaseTerms | null = null;
  /** Whether the last heartbeat got an answer from the control plane (for GET /health). */
  private heartbeatAnswered = false;
  /**
   * Demote-first: the epoch this node has finished stepping down from (its --on-standby
   * hook has run); beats carry it, and the control plane promotes the next active on it.
   */
  private steppedDown: number | null = null;
  /** Ends the wait for the next beat slot early (a step-down to confirm). */
  private wakeUp = new AbortController();

  constructor(
    private readonly options: AgentOptions,
    private readonly log: (message: string) => void,
  ) {
    this.keeper = new LeaseKeeper({ clock, marginFlagMs: options.marginMs });
    this.client = new BeatClient(options, new Endpoints(options.urls, clock, PROBE_FIRST_URL_EVERY_MS));
    this.problems = new ProblemLog(log, REPEAT_ERROR_EVERY_MS, clock);
    this.warnings = new SettingWarnings(log);
    this.hooks = new Hooks(options, log, this.stopping.signal);
    this.selfReport = new SelfReport(options, log, (message) => this.problems.report(message));
    this.failsafe = new Failsafe({
      cluster: options.cluster,
      node: options.node,
      secret: options.peerSecret,
      clock,
    });
  }

  async run(): Promise<void> {
    // Before the first beat, so a port in use stops the agent before it can take the role.
    const health = this.options.healthListen
      ? await startHealthServer(this.options.healthListen, () => this.healthSnapshot(), this.log)
      : null;
    if (health) this.log(`health endpoints on ${health.url}: GET /active, /standby, /health`);
    const interval = this.options.intervalMs
      ? `every ${formatSeconds(this.options.intervalMs)}`
      : "at the server's interval";
    const to = this.options.urls.join(', then ');
    this.log(`starting: heartbeats to ${to} ${interval}`);
    try {
      // Inside the try: a peer port in use must not leave the health server holding the process.
      await this.listenToPeers();
      await this.beatUntilStopped();
    } finally {
      await health?.close();
      this.peerServer?.close();
    }
    await this.hooks.waitOnShutdown(HOOK_GRACE_MS);
  }

  /** Beats until stop(); then demotes or releases, so /active is 503 by the time it returns. */
  private async beatUntilStopped(): Promise<void> {
    let slot = clock();
    while (!this.stopping.signal.aborted) {
      await sleep(Math.max(0, slot - clock()), AbortSignal.any([this.stopping.signal, this.wakeUp.signal]));
      if (this.stopping.signal.aborted) break;
      if (this.wakeUp.signal.aborted) {
        this.wakeUp = new AbortController();
        slot = clock(); // woken to confirm a step-down: beat now, and keep the cadence from here
      }
      await this.beat(slot + this.intervalMs());
      slot = nextSlot(slot, this.intervalMs(), clock());
    }
    clearTimeout(this.demoteTimer);
    // A deadline that passed as the loop ended still demotes (and queues --on-standby).
    this.demoteIfExpired();
    if (this.keeper.view().role === 'active' && this.options.releaseOnExit !== false) await this.release();
  }

  private healthSnapshot(): HealthSnapshot {
    return { view: this.keeper.view(), heartbeatOk: this.heartbeatAnswered && !this.stopping.signal.aborted };
  }

  /** Failsafe: answer the peers' confirm requests (--peer-listen). */
  private async listenToPeers(): Promise<void> {
    const listen = this.options.peerListen;
    const secret = this.options.peerSecret;
    if (listen === undefined || secret === undefined) return;
    const { server, port } = await startPeerServer({
      ...listen,
      cluster: this.options.cluster,
      node: this.options.node,
      secret,
      judge: (request) => {
        const verdict = this.failsafe.judge(request, this.keeper.view());
        const what = verdict.confirm ? 'confirmed' : `refused (${verdict.reason})`;
        this.log(`failsafe: ${request.from} asked to keep epoch ${request.epoch}: ${what}`);
        return verdict;
      },
    });
    this.peerServer = server;
    this.log(`failsafe: answering peers on ${listen.host}:${port}`);
  }

  /**
   * Planned downtime, demote-first: stop acting as active and run --on-standby, then ask the
   * control plane to hand the role to the best standby now instead of after the lease.
   */
  private async release(): Promise<void> {
    const change = this.keeper.stepDown();
    if (change === null) return;
    const grace = new AbortController();
    const steppedDown = await Promise.race([
      this.announce(change).then(() => true),
      sleep(HOOK_GRACE_MS, grace.signal).then(() => false),
    ]);
    grace.abort();
    if (!steppedDown) {
      const waited = formatSeconds(HOOK_GRACE_MS);
      this.log(
        `--on-standby still running after ${waited}; not releasing: the role moves when the lease expires`,
      );
      return;
    }
    const outcome = await this.client.release(this.timeoutMs());
    if (outcome.kind === 'problem') {
      this.log(`${outcome.message}; the role moves when the lease expires`);
      return;
    }
    const { active, epoch } = outcome.answer;
    this.log(`released: active ${active ?? 'none'} (epoch ${epoch})`);
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

  /**
   * One heartbeat, retried with jitter until `nextSlot` (see beat-retry.ts); never throws.
   * Failures only get logged: self-demotion handles their effect.
   */
  private async beat(nextSlotAt: number): Promise<void> {
    const report = await this.beatBody();
    let sentAt: number;
    let body: Record<string, unknown> & { failsafe?: unknown };
    let outcome: BeatOutcome;
    for (let attempt = 0; ; attempt++) {
      sentAt = clock();
      body = { ...report, ...this.failsafe.beatFields(sentAt) };
      const endBy = this.retriesEndBy(nextSlotAt);
      const timeoutMs = attempt === 0 ? this.timeoutMs() : Math.min(this.timeoutMs(), endBy - sentAt);
      outcome = await this.client.beat(body, timeoutMs, this.stopping.signal);
      if (outcome.kind !== 'problem' || !outcome.retryable) break;
      // Peers asking for failsafe confirmation learn at once that this node cannot reach the control plane.
      this.failsafe.unanswered();
      const waitMs = retryWaitMs(attempt, this.intervalMs(), Math.random);
      if (clock() + waitMs + MIN_ATTEMPT_MS > this.retriesEndBy(nextSlotAt)) break;
      this.problems.report(`${outcome.message} (retrying within the interval)`);
      await sleep(waitMs, this.stopping.signal);
      if (this.stopping.signal.aborted) return;
    }
    if (outcome.kind === 'stopped') return;
    this.heartbeatAnswered = outcome.kind === 'answer';
    if (outcome.kind === 'problem') {
      this.problems.report(outcome.message);
      this.failsafe.unanswered();
      await this.keepRoleIfConfirmed();
      return;
    }
    this.problems.recovered();
    void this.client.probeFirst(this.timeoutMs()).then((back) => {
      if (back !== null) this.log(`heartbeats back to ${back}: it answers again`);
    });
    if (body.failsafe !== undefined) this.failsafe.reported();
    this.failsafe.answered(outcome.result);
    this.onAnswer(outcome.result, sentAt);
  }

  /** Retries of a beat end by the next slot, and leave an active time for its failsafe round. */
  private retriesEndBy(nextSlotAt: number): number {
    const view = this.keeper.view();
    return retriesEndBy({
      nextSlot: nextSlotAt,
      deadline: view.deadline,
      // A round asks every peer at once within one timeout; a second one is slack (a loaded
      // host), so the round ends, and its log line is written, before the deadline.
      failsafeRoundMs: view.role === 'active' && this.failsafe.enabled ? 2 * this.timeoutMs() : null,
    });
  }

  /**
   * Failsafe: an active that could not renew asks every peer; if all confirm that they
   * cannot reach the control plane either, its deadline moves to the round's keep-until.
   */
  private async keepRoleIfConfirmed(): Promise<void> {
    const view = this.keeper.view();
    if (view.role !== 'active' || !this.failsafe.enabled || this.terms === null) return;
    const outcome = await this.failsafe.round(view, this.terms.marginMs, this.timeoutMs());
    if (!outcome.kept) {
      this.problems.report(
        `failsafe: not every peer confirms (${outcome.refusals.join('; ')}); the role ends with the lease`,
      );
      return;
    }
    if (!this.keeper.extendDeadline(outcome.until)) {
      this.failsafe.endEpisode(); // the lease ran out while the peers answered
      return;
    }
    this.armDemotion();
    if (outcome.first) {
      this.log(
        `failsafe: the control plane cannot be reached and ${outcome.peers.join(', ')} confirm they cannot reach it ` +
          `either: keeping the role at epoch ${view.epoch} while every peer keeps confirming`,
      );
    }
  }

  /** The node's own report, plus what it believes it holds, so the control plane can show disagreements. */
  private async beatBody(): Promise<Record<string, unknown>> {
    const report = await this.selfReport.collect(this.commandTimeoutMs());
    const { role, epoch } = this.keeper.view();
    return {
      ...report,
      ...(role === null ? {} : { role }),
      ...(epoch === null ? {} : { epoch }),
      ...(this.steppedDown === null ? {} : { steppedDown: this.steppedDown }),
    };
  }

  /** Local commands must not delay the beat past its slot. */
  private commandTimeoutMs(): number {
    return Math.max(200, Math.min(this.intervalMs() / 2, 5_000));
  }

  private onAnswer(result: HeartbeatResult, sentAt: number): void {
    this.serverIntervalMs = result.intervalMs;
    this.warnings.failsafe(result, this.options);
    const promised = this.failsafe.promiseRemainingMs();
    if (result.role === 'active' && this.keeper.view().role !== 'active' && promised > 0) {
      // The control plane does not promote a node with a promise; this is the second fence.
      this.log(`not taking the role for ${formatSeconds(promised)}: promised a peer (failsafe)`);
      return;
    }
    const outcome = this.keeper.answer(result, sentAt);
    if (outcome.believed) this.terms = outcome.terms;
    if (result.role === 'active') this.warnings.leaseTerms(outcome.terms, this.intervalMs());
    if (!outcome.believed) {
      // The lease this beat renewed may be about to expire: do not act on it.
      this.log(`ignoring a confirmation that took ${formatSeconds(outcome.tookMs)} to arrive`);
      return;
    }
    if (result.stepDown !== undefined && outcome.change !== null) {
      this.log(`asked to step down: the role moves to ${result.stepDown.to} once --on-standby has run`);
    }
    if (outcome.change !== null) void this.announce(outcome.change);
    this.armDemotion();
  }

  /**
   * Logs a role change and queues its hook. Settles when the hook has run; for a change to
   * standby this node has then stepped down, which its next beat confirms (sent at once).
   */
  private async announce(change: RoleChange): Promise<void> {
    this.log(`role: ${change.role} (epoch ${change.epoch}, ${change.detail})`);
    this.steppedDown = null;
    await this.hooks.enqueue(change);
    const now = this.keeper.view();
    if (change.role !== 'standby' || now.role !== 'standby' || now.epoch !== change.epoch) return;
    this.steppedDown = change.epoch; // unless the role moved on while the hook ran
    this.wakeUp.abort();
  }

  private armDemotion(): void {
    clearTimeout(this.demoteTimer);
    const at = this.keeper.nextDemotionAt();
    if (at === null) return;
    this.demoteTimer = setTimeout(
      () => {
        if (!this.demoteIfExpired()) this.armDemotion(); // the timer fired a fraction of a millisecond early
      },
      Math.max(0, at - clock()),
    );
  }

  /** Returns whether this node just demoted itself. */
  private demoteIfExpired(): boolean {
    const demotion = this.keeper.demoteIfExpired();
    if (demotion === null) return false;
    this.log(describeDemotion(demotion));
    this.failsafe.endEpisode();
    void this.announce(demotion.change);
    return true;
  }
}

function describeDemotion({ unconfirmedMs, terms }: SelfDemotion): string {
  return (
    `no confirmed renewal for ${formatSeconds(unconfirmedMs)} (lease ${formatSeconds(terms.leaseMs)}, ` +
    `margin ${formatSeconds(terms.marginMs)}): demoting self`
  );
}
