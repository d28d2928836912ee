/**
 * The agent's shell commands: the role hooks (--on-active, --on-standby), run one at a
 * time in order, and the short commands behind --check and --report. None of them ever
 * sees FAILOVER_TOKEN or FAILOVER_PEER_SECRET.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Role } from '../../shared/core/state.js';
import { formatSeconds, sleep } from '../../shared/time.js';

export interface HookOptions {
  cluster: string;
  node: string;
  onActive?: string;
  onStandby?: string;
}

/** The role a hook announces: FAILOVER_ROLE, FAILOVER_EPOCH and FAILOVER_ACTIVE. */
export interface HookEvent {
  role: Role;
  epoch: number;
  active: string | null;
}

export class Hooks {
  /** Hooks run one after another: each waits for the previous one. */
  private queue: Promise<void> = Promise.resolve();
  private running: ChildProcess | null = null;

  /** `stopping`: once aborted, only --on-standby hooks still run (a stopping node is not taking over). */
  constructor(
    private readonly options: HookOptions,
    private readonly log: (message: string) => void,
    private readonly stopping: AbortSignal,
  ) {}

  /**
   * Queues the hook for `event`'s role, if there is one; returns at once, with a promise
   * that settles when every hook queued so far (this one included) has finished.
   */
  enqueue(event: HookEvent): Promise<void> {
    const command = event.role === 'active' ? this.options.onActive : this.options.onStandby;
    if (command === undefined) return this.queue;
    const env = {
      ...environmentWithoutToken(),
      FAILOVER_ROLE: event.role,
      FAILOVER_EPOCH: String(event.epoch),
      FAILOVER_ACTIVE: event.active ?? '',
      FAILOVER_CLUSTER: this.options.cluster,
      FAILOVER_NODE: this.options.node,
    };
    this.queue = this.queue.then(() => this.run(`--on-${event.role}`, command, env));
    return this.queue;
  }

  /** On shutdown: give the queued and running hooks `graceMs`, then leave a running one on its own. */
  async waitOnShutdown(graceMs: number): Promise<void> {
    // Waits for the queue, not only a running child: a release may have just queued --on-standby.
    const grace = new AbortController();
    const finished = await Promise.race([
      this.queue.then(() => true),
      sleep(graceMs, grace.signal).then(() => false),
    ]);
    grace.abort();
    const child = this.running;
    if (!finished && child !== null) {
      this.log(`hook (pid ${child.pid}) still running after ${formatSeconds(graceMs)}; exiting without it`);
      child.unref();
    }
  }

  /** Runs one hook to completion; resolves (never rejects) when it exits. */
  private run(name: string, command: string, env: NodeJS.ProcessEnv): Promise<void> {
    if (this.stopping.aborted && name !== '--on-standby') {
      this.log(`shutting down: skipping ${name} hook`);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const child = spawn(command, { shell: true, stdio: 'inherit', env });
      this.running = child;
      let finished = false;
      const finish = (problem?: string) => {
        if (finished) return;
        finished = true;
        this.running = null;
        if (problem) this.log(`${name} hook ${problem}`);
        resolve();
      };
      child.once('error', (err) => finish(`could not start: ${err.message}`));
      child.once('exit', (code, signal) => {
        if (code === 0) finish();
        else finish(code === null ? `killed by ${signal}` : `exited with code ${code}`);
      });
    });
  }
}

/** Runs a shell command with a timeout; resolves with its exit code (124 on timeout) and stdout. */
export function runCommand(command: string, timeoutMs: number): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, {
      shell: true,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: environmentWithoutToken(),
      timeout: timeoutMs,
    });
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 4096) stdout += chunk;
    });
    child.once('error', () => resolve({ code: 127, stdout }));
    child.once('close', (code, signal) => resolve({ code: signal ? 124 : (code ?? 1), stdout }));
  });
}

/** The agent's environment minus its secrets: hooks and checks never see them. */
function environmentWithoutToken(): NodeJS.ProcessEnv {
  const { FAILOVER_TOKEN: _secret, FAILOVER_PEER_SECRET: _peerSecret, ...env } = process.env;
  return env;
}
