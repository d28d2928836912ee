/**
 * Helpers shared by the benchmark modules: statistics, formatting, the result row type,
 * child processes of the `failover` command, and bounded polling. Nothing here measures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'failover.js');
export const OUT_DIR = join(ROOT, '.bench');

/** One line of the results table. */
export interface Row {
  figure: string;
  measured: string;
  budget: string;
  /** ✅ within budget, ❌ over it, `report` where there is no budget, `not run` when skipped. */
  status: '✅' | '❌' | 'report' | 'not run';
}

export interface BenchOptions {
  quick: boolean;
  /** Progress messages (stderr), never part of the results. */
  log: (message: string) => void;
}

export const pass = (ok: boolean): Row['status'] => (ok ? '✅' : '❌');

/** Nearest-rank percentile of an unsorted sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    min: n ? Math.min(...values) : Number.NaN,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: n ? Math.max(...values) : Number.NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
  };
}

/** `1.23 s` from milliseconds. */
export const secs = (ms: number, digits = 2) => `${(ms / 1000).toFixed(digits)} s`;
/** `1.23 ms`. */
export const ms = (value: number, digits = 2) => `${value.toFixed(digits)} ms`;
export const usd = (value: number, digits = 2) => `$${value.toFixed(digits)}`;
export const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
export const int = (value: number) => Math.round(value).toLocaleString('en-US');

/** The results as a markdown table. */
export function markdownTable(rows: readonly Row[]): string {
  const cell = (s: string) => s.replaceAll('|', '\\|');
  const lines = [
    '| figure | measured | budget | pass |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${cell(r.figure)} | ${cell(r.measured)} | ${cell(r.budget)} | ${r.status} |`),
  ];
  return lines.join('\n');
}

/** A child process of `node bin/failover.js …` with its output kept in memory. */
export interface Proc {
  name: string;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
}

const children = new Set<ChildProcess>();

/** Starts `node bin/failover.js ARGS`; children still running when this process exits are killed. */
export function startCli(name: string, args: string[], env: Record<string, string> = {}): Proc {
  return startNode(name, [BIN, ...args], env);
}

/** Starts `node ARGS`; children still running when this process exits are killed. */
export function startNode(name: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const append = (chunk: string) => {
    output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  return { name, child, output: () => output };
}

export function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal` to this one child (by its own pid) and waits for it to exit, at most 5 s. */
export async function stopProc(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!running(proc.child)) return;
  const exited = once(proc.child, 'exit');
  proc.child.kill(signal);
  const timeout = sleep(5_000).then(() => 'timeout');
  if ((await Promise.race([exited, timeout])) === 'timeout' && running(proc.child)) {
    proc.child.kill('SIGKILL');
    await exited;
  }
}

process.once('exit', () => {
  for (const child of children) if (running(child)) child.kill('SIGKILL');
});

/** Polls `check` every `everyMs` until it returns something truthy; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs: number,
  everyMs = 25,
  proc?: Proc,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const output = proc ? `\n--- ${proc.name} output (tail) ---\n${proc.output().slice(-2000)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${output}`);
    }
    await sleep(everyMs);
  }
}

/** The health endpoints' base URL an agent logged at start. */
export function healthUrl(agent: Proc): string {
  const match = /health endpoints on (http:\/\/[\d.]+:\d+):/.exec(agent.output());
  if (match === null) throw new Error(`${agent.name} has not logged its health endpoints`);
  return match[1] as string;
}

/** Polls `GET /active` every 10 ms; resolves with the `Date.now()` at which the first 200 arrived. */
export function firstActiveAt(health: string, timeoutMs: number): Promise<number> {
  return waitFor(
    `a 200 from ${health}/active`,
    async () => {
      const res = await fetch(`${health}/active`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
      await res?.arrayBuffer();
      return res?.status === 200 ? Date.now() : null;
    },
    timeoutMs,
    10,
  );
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
// Ctrl-C or a TERM: exit through the handler above, so no child is left running.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
