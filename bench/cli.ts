/**
 * The `failover` command on a node host, as built (`bin/failover.js` → dist/, plain Node):
 *
 * 1. `failover --help`: wall time and CPU, alternated run by run with `node -e 0` (the
 *    floor: Node's own start) in fresh processes. CPU is the process's own user + system
 *    time (`process.cpuUsage()` at exit, written by a preloaded module), so it counts Node's
 *    start too; wall time is the parent's spawn-to-exit.
 * 2. An agent against a local server (`failover serve --memory`) at a 1 s interval for
 *    `agentSeconds` (60 s by default, 20 s with --quick; the figure is 5 minutes):
 *    its resident memory at the end (VmRSS from /proc, so Linux only), beside that of an
 *    idle `node` started with it (Node's own floor on this machine), and its CPU per beat
 *    (utime + stime from /proc between its first confirmed beat and the end, divided by the
 *    beats the server counted in that time).
 * 3. `failover run-if-active` on a standby node (exits 0 without running the job): wall
 *    time per run, next to one round trip of the same GET from this process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import { mintToken } from '../shared/tokens.js';
import {
  type BenchOptions,
  BIN,
  median,
  ms,
  type Proc,
  pass,
  type Row,
  startCli,
  startNode,
  stopProc,
  waitFor,
} from './lib.js';

const HELP_BUDGET_MS = 150;
const RSS_BUDGET_MB = 50;
const RUN_IF_ACTIVE_BUDGET_MS = 200;
/** Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface CliData {
  help: { runs: number; wallMs: number[]; cpuMs: number[]; nodeWallMs: number[]; nodeCpuMs: number[] };
  agent: { seconds: number; beats: number; rssMb: number; idleNodeRssMb: number; cpuMsPerBeat: number };
  runIfActive: { wallMs: number[]; roundTripMs: number[] };
}

/** Runs `node ARGS` once; resolves to its wall time and its own CPU time (ms). */
async function timed(args: string[], dir: string, env: Record<string, string> = {}) {
  const preload = join(dir, 'cpu.cjs');
  const out = join(dir, `cpu-${performance.now()}.json`);
  const started = performance.now();
  const child = spawn(process.execPath, ['--require', preload, ...args], {
    env: { ...process.env, ...env, BENCH_CPU_FILE: out },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code}: ${stderr.slice(0, 500)}`);
  const { user, system } = JSON.parse(readFileSync(out, 'utf8')) as { user: number; system: number };
  return { wallMs, cpuMs: (user + system) / 1000 };
}

/** utime + stime of a running process, in ms (Linux /proc). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1000;
}

function processRssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

export async function runCli(
  options: BenchOptions & { agentSeconds: number },
): Promise<{ rows: Row[]; data: CliData }> {
  const dir = mkdtempSync(join(tmpdir(), 'failover-bench-cli-'));
  const procs: Proc[] = [];
  try {
    writeFileSync(
      join(dir, 'cpu.cjs'),
      "process.once('exit', () => require('node:fs').writeFileSync(process.env.BENCH_CPU_FILE, JSON.stringify(process.cpuUsage())));\n",
    );

    // 1. --help beside node -e 0, alternated so both see the same machine load.
    const runs = options.quick ? 5 : 15;
    const help: CliData['help'] = { runs, wallMs: [], cpuMs: [], nodeWallMs: [], nodeCpuMs: [] };
    options.log(`cli: failover --help and node -e 0, ${runs} runs each`);
    for (let i = 0; i < runs; i++) {
      const cli = await timed([BIN, '--help'], dir);
      const floor = await timed(['-e', '0'], dir);
      help.wallMs.push(cli.wallMs);
      help.cpuMs.push(cli.cpuMs);
      help.nodeWallMs.push(floor.wallMs);
      help.nodeCpuMs.push(floor.cpuMs);
    }

    // 2. An agent at a 1 s interval; b's token is for run-if-active below.
    const tokens = { a: mintToken(), b: mintToken() };
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        clusters: [
          {
            id: 'bench',
            heartbeatIntervalSeconds: 1,
            nodes: [
              { id: 'a', address: '192.0.2.1', tokenSha256: tokens.a.sha256 },
              { id: 'b', address: '192.0.2.2', tokenSha256: tokens.b.sha256 },
            ],
          },
        ],
      }),
    );
    const server = startCli('server', ['serve', '--config', configFile, '--memory', '--port', '0']);
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
    const beats = async () => {
      const res = await fetch(`${url}/v1/clusters/bench`);
      return ((await res.json()) as ClusterStatus).nodes.find((n) => n.id === 'a')?.heartbeats ?? 0;
    };
    const agent = startCli('agent a', ['agent', '--url', url, '--cluster', 'bench', '--node', 'a'], {
      FAILOVER_TOKEN: tokens.a.token,
    });
    procs.push(agent);
    const idleNode = startNode('idle node', ['-e', 'setInterval(() => {}, 1_000)']);
    procs.push(idleNode);
    await waitFor('agent a to become active', () => /role: active/.test(agent.output()), 30_000, 50, agent);
    const pid = agent.child.pid as number;
    const cpuAtStart = processCpuMs(pid);
    const beatsAtStart = await beats();
    options.log(`cli: agent running for ${options.agentSeconds} s at a 1 s interval`);
    await new Promise((resolve) => setTimeout(resolve, options.agentSeconds * 1000));
    const cpuMs = processCpuMs(pid) - cpuAtStart;
    const rssMb = processRssMb(pid);
    const idleNodeRssMb = processRssMb(idleNode.child.pid as number);
    const beaten = (await beats()) - beatsAtStart;
    const agentData = {
      seconds: options.agentSeconds,
      beats: beaten,
      rssMb,
      idleNodeRssMb,
      cpuMsPerBeat: cpuMs / beaten,
    };

    // 3. run-if-active for the standby b (a is active), and the same GET from here.
    const runIfActive: CliData['runIfActive'] = { wallMs: [], roundTripMs: [] };
    const roleUrl = `${url}/v1/clusters/bench/nodes/b`;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await fetch(roleUrl, { headers: { authorization: `Bearer ${tokens.b.token}` } });
      await res.arrayBuffer();
      runIfActive.roundTripMs.push(performance.now() - t0);
      const run = await timed(
        [BIN, 'run-if-active', '--url', url, '--cluster', 'bench', '--node', 'b', '--quiet', '--', 'true'],
        dir,
        { FAILOVER_TOKEN: tokens.b.token },
      );
      runIfActive.wallMs.push(run.wallMs);
    }

    const helpWall = median(help.wallMs);
    const nodeWall = median(help.nodeWallMs);
    const roundTrip = median(runIfActive.roundTripMs);
    const rows: Row[] = [
      {
        figure: '`failover --help`: wall time, CPU (median of fresh processes)',
        measured:
          `${ms(helpWall, 1)} wall, ${ms(median(help.cpuMs), 1)} CPU; \`node -e 0\` beside it: ` +
          `${ms(nodeWall, 1)} wall, ${ms(median(help.nodeCpuMs), 1)} CPU (n=${runs} each, alternated)`,
        budget: `< ${HELP_BUDGET_MS} ms and ≤ 2× node -e 0`,
        status: pass(helpWall < HELP_BUDGET_MS && helpWall <= 2 * nodeWall),
      },
      {
        figure: `Agent resident memory after ${options.agentSeconds} s at a 1 s interval`,
        measured: `${rssMb.toFixed(1)} MB (VmRSS); an idle \`node\` beside it: ${idleNodeRssMb.toFixed(1)} MB`,
        budget: `< ${RSS_BUDGET_MB} MB`,
        status: pass(rssMb < RSS_BUDGET_MB),
      },
      {
        figure: 'Agent CPU per heartbeat',
        measured: `${ms(agentData.cpuMsPerBeat)} (${ms(cpuMs, 0)} over ${beaten} beats)`,
        budget: 'report',
        status: 'report',
      },
      {
        figure: '`failover run-if-active` on a standby: wall time (median)',
        measured: `${ms(median(runIfActive.wallMs), 1)}; one round trip of the same GET: ${ms(roundTrip, 1)} (n=${runs})`,
        budget: `< ${RUN_IF_ACTIVE_BUDGET_MS} ms + one round trip`,
        status: pass(median(runIfActive.wallMs) < RUN_IF_ACTIVE_BUDGET_MS + roundTrip),
      },
    ];
    return { rows, data: { help, agent: agentData, runIfActive } };
  } finally {
    for (const proc of procs.reverse()) await stopProc(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}
