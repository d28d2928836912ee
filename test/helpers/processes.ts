/**
 * Real `failover …` child processes for the end-to-end tests: started with captured
 * output, and all stopped when the file is done, so no test leaves a process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'failover.js');

/** Where a process runs: by default the repository's bin/failover.js, from the repository root. */
export interface StartOptions {
  bin?: string;
  cwd?: string;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

export class Processes {
  private procs: Proc[] = [];

  /** Runs `failover ARGS` with `env` added to this environment. */
  start(name: string, args: string[], env: Record<string, string> = {}, where: StartOptions = {}): Proc {
    const child = spawn(process.execPath, [where.bin ?? BIN, ...args], {
      cwd: where.cwd ?? ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const proc = { name, child, output: () => output };
    this.procs.push(proc);
    return proc;
  }

  /** Polls until `pattern` shows in `proc`'s output; on timeout, fails showing every process's output. */
  async waitForLine(proc: Proc, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(proc.output());
      if (match) return match;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${pattern} from ${proc.name}\n${this.outputs()}`,
        );
      }
      await sleep(50);
    }
  }

  /** Every process's output, for a failure message. */
  outputs(): string {
    return this.procs.map((p) => `--- ${p.name} ---\n${p.output()}`).join('\n');
  }

  async stopAll(): Promise<void> {
    const all = this.procs;
    this.procs = [];
    await Promise.all(all.map((p) => stop(p)));
  }
}

/**
 * Removes a test's folder once its processes are stopped. SIGKILL stops an agent but not the
 * hook it started (`--on-standby` may still be sleeping), and that orphan can append to a log
 * in the folder while it is being removed: ENOTEMPTY, which `maxRetries` retries.
 */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10 });
}

export function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!running(proc.child)) return;
  const exited = once(proc.child, 'exit');
  proc.child.kill(signal);
  await exited;
}

/**
 * Polls `check` until it returns something truthy, at most `timeoutMs`; on timeout, fails
 * naming `what` and showing `proc`'s output.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  options: { timeoutMs?: number; everyMs?: number; proc?: Proc } = {},
): Promise<T> {
  const { timeoutMs = 15_000, everyMs = 50, proc } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const output = proc ? `\n--- ${proc.name} output ---\n${proc.output()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${output}`);
    }
    await sleep(everyMs);
  }
}

export function waitForLine(proc: Proc, pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
  return waitFor(String(pattern), () => pattern.exec(proc.output()), {
    proc,
    ...(timeoutMs ? { timeoutMs } : {}),
  });
}

/** `failover agent` arguments for one node, then `extra` (hooks, listeners). */
export function agentArgs(url: string, cluster: string, node: string, extra: string[] = []): string[] {
  return ['agent', '--url', url, '--cluster', cluster, '--node', node, ...extra];
}

export function hookLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}
