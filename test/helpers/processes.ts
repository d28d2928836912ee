/**
 * Real `failover …` child processes for the end-to-end tests: started with captured
 * output, and all stopped when the file is done, so no test leaves a process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'failover.js');

export interface Proc {
  name: string;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

export class Processes {
  private procs: Proc[] = [];

  /** Runs `failover ARGS` from the repository root with `env` added to this environment. */
  start(name: string, args: string[], env: Record<string, string> = {}): Proc {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
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

export function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!running(proc.child)) return;
  const exited = once(proc.child, 'exit');
  proc.child.kill(signal);
  await exited;
}
