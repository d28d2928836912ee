/**
 * `npm run bench [-- --quick]`: runs every measurement, prints one markdown table
 * (figure, measured, budget, pass/fail) with the machine it ran on, and writes the same as
 * JSON to `.bench/results-<timestamp>.json` and `.bench/latest.json` (and the markdown to
 * `.bench/latest.md`). Everything runs on loopback.
 *
 * Options:
 *   --quick                 short run (< 3 minutes): 5 failover trials, 2 s per HTTP load
 *                           level, sweep of 1,000 clusters only, a 20 s agent run, 5
 *                           switchovers, a 10 s control-plane outage, 1 partition
 *   --only LIST             comma-separated subset: failover,heartbeat,cost,cold-start,sweep,cli,stability
 *   --agent-seconds SECS    how long the cli section's agent runs (default 60; 20 with --quick)
 *   --trials N              failover trials (default 20; 5 with --quick)
 *   --interval SECS         failover cluster's heartbeat interval (default 1)
 *   --missed-beats N        failover cluster's missed beats (default 3)
 *   --sweep-interval SECS   the failover server's sweep interval (default 1; the deployed
 *                           stack sweeps every 60)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from './cli.js';
import { runColdStart } from './cold-start.js';
import { runCost } from './cost.js';
import { runFailover } from './failover.js';
import { type HeartbeatData, runHeartbeat } from './heartbeat.js';
import { type BenchOptions, errorMessage, markdownTable, OUT_DIR, type Row } from './lib.js';
import { PRICE_NOTES } from './prices.js';
import { runStability } from './stability.js';
import { runSweep } from './sweep.js';

// The AWS SDK warns once per client that its 2027 releases need Node 22 (as bin/failover.js does,
// keep that one warning out of the output).
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (String(warning).includes('node >=22') || String(warning).includes('NodeVersionSupportWarning')) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

const SECTIONS = ['failover', 'heartbeat', 'cost', 'cold-start', 'sweep', 'cli', 'stability'] as const;
type Section = (typeof SECTIONS)[number];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    trials: { type: 'string' },
    interval: { type: 'string', default: '1' },
    'missed-beats': { type: 'string', default: '3' },
    'sweep-interval': { type: 'string', default: '1' },
    'agent-seconds': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(
    'Usage: npm run bench -- [--quick] [--only failover,heartbeat,cost,cold-start,sweep,cli,stability] ' +
      '[--trials N] [--interval SECS] [--missed-beats N] [--sweep-interval SECS] [--agent-seconds SECS]\n',
  );
  process.exit(0);
}

const positive = (raw: string, flag: string, integer: boolean) => {
  const value = Number(raw);
  if (!(value > 0) || (integer && !Number.isInteger(value)) || value > 3600) {
    throw new Error(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${raw}'`);
  }
  return value;
};
const quick = values.quick;
const selected = new Set<Section>(
  values.only === undefined
    ? SECTIONS
    : values.only.split(',').map((s) => {
        if (!(SECTIONS as readonly string[]).includes(s.trim()))
          throw new Error(`--only: unknown section '${s}'`);
        return s.trim() as Section;
      }),
);
const trials = values.trials === undefined ? (quick ? 5 : 20) : positive(values.trials, '--trials', true);
const intervalSeconds = positive(values.interval, '--interval', true);
const missedBeats = positive(values['missed-beats'], '--missed-beats', true);
const sweepIntervalSeconds = positive(values['sweep-interval'], '--sweep-interval', false);
const agentSeconds =
  values['agent-seconds'] === undefined
    ? quick
      ? 20
      : 60
    : positive(values['agent-seconds'], '--agent-seconds', false);

const started = new Date();
const log = (message: string) => {
  const t = ((Date.now() - started.getTime()) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t} s] ${message}\n`);
};
const options: BenchOptions = { quick, log };
const cpus = os.cpus();
const machine = {
  cpu: cpus[0]?.model.trim() ?? 'unknown',
  cores: cpus.length,
  memoryGb: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  /** 1-minute load average at the start: other work on the machine skews the timings. */
  loadAverageAtStart: Number(os.loadavg()[0]?.toFixed(2)),
};

const rows: Row[] = [];
const details: Record<string, unknown> = {};
const errors: Record<string, string> = {};

async function section<T extends { rows: Row[]; data: unknown }>(name: Section, run: () => Promise<T> | T) {
  if (!selected.has(name)) return undefined;
  const t0 = Date.now();
  try {
    const result = await run();
    rows.push(...result.rows);
    details[name] = result.data;
    log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return result;
  } catch (err) {
    errors[name] = errorMessage(err);
    log(`${name}: FAILED: ${errors[name]}`);
    rows.push({ figure: `${name}`, measured: `error: ${errors[name]}`, budget: '-', status: '❌' });
    return undefined;
  }
}

log(`${quick ? 'quick' : 'full'} run on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
// Heartbeat first: the cost model is computed from its measurements.
let heartbeat: HeartbeatData | undefined;
if (selected.has('heartbeat') || selected.has('cost')) {
  const wanted = selected.has('heartbeat');
  selected.add('heartbeat');
  heartbeat = (await section('heartbeat', () => runHeartbeat(options)))?.data;
  if (!wanted) {
    // Only asked for cost: keep the heartbeat rows out of the table.
    rows.splice(0, rows.length);
  }
}
if (heartbeat) {
  const hb = heartbeat;
  await section('cost', () => runCost(hb, options));
} else if (selected.has('cost')) {
  rows.push({
    figure: 'cost',
    measured: 'not computed: the heartbeat measurement failed',
    budget: '-',
    status: '❌',
  });
}
await section('cold-start', () => runColdStart(options));
await section('sweep', () => runSweep(options));
await section('cli', () => runCli({ ...options, agentSeconds }));
await section('failover', () =>
  runFailover({ ...options, trials, intervalSeconds, missedBeats, sweepIntervalSeconds }),
);
await section('stability', () =>
  runStability({
    ...options,
    switchovers: quick ? 5 : 20,
    outageSeconds: quick ? 10 : 30,
    partitions: quick ? 1 : 3,
  }),
);

const finished = new Date();
const command = `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const header = [
  `Benchmark (${quick ? 'quick' : 'full'} run): \`${command}\`, ${finished.toISOString()}, ` +
    `${((finished.getTime() - started.getTime()) / 1000).toFixed(0)} s`,
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB RAM, Node ${machine.node}, ${machine.os}; ` +
    `load average ${machine.loadAverageAtStart} at the start, ${os.loadavg()[0]?.toFixed(2)} at the end`,
  `Prices: ${PRICE_NOTES}`,
].join('  \n');
const markdown = `${header}\n\n${markdownTable(rows)}\n`;
process.stdout.write(`\n${markdown}`);

const result = {
  command,
  mode: quick ? 'quick' : 'full',
  startedAt: started.toISOString(),
  finishedAt: finished.toISOString(),
  durationSeconds: (finished.getTime() - started.getTime()) / 1000,
  machine,
  rows,
  errors,
  details,
};
mkdirSync(OUT_DIR, { recursive: true });
const json = `${JSON.stringify(result, null, 2)}\n`;
const stamp = finished
  .toISOString()
  .replaceAll(':', '-')
  .replace(/\.\d+Z$/, 'Z');
writeFileSync(join(OUT_DIR, `results-${stamp}.json`), json);
writeFileSync(join(OUT_DIR, 'latest.json'), json);
writeFileSync(join(OUT_DIR, 'latest.md'), markdown);
log(`wrote .bench/results-${stamp}.json, .bench/latest.json and .bench/latest.md`);
// Exit status: 1 when a section crashed (not for a figure over budget: that is a result).
process.exitCode = Object.keys(errors).length > 0 ? 1 : 0;
