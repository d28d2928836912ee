/**
 * Cold start of each Lambda. Bundles `functions/{heartbeat,sweep,admin}.ts` with the
 * esbuild API exactly as `infra/control-plane.ts`'s NodejsFunction does (bundle, platform
 * node, format cjs, minify, target node24, `@aws-sdk/*` external, no source map) into
 * `.bench/bundles/<name>/index.js` and reports its size. Then measures module
 * initialisation 10 times per function, each in a fresh `node -e` process with the
 * environment the function gets in AWS (config JSON, table, event bus, region, dummy
 * credentials, Powertools silent): `performance.now()` around `require(bundle)`, which
 * includes loading the external AWS SDK packages (from node_modules here, from the
 * runtime in Lambda). Reports the median (and min/max), and beside it the median time to
 * require only the bundle's `@aws-sdk/*` packages in the same way (alternating with the
 * bundle runs), to show how much of the init is the SDK. Local Node is 20; Lambda runs 24.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { mintToken } from '../shared/tokens.js';
import { type BenchOptions, kb, median, ms, OUT_DIR, pass, ROOT, type Row } from './lib.js';

const FUNCTIONS = ['heartbeat', 'sweep', 'admin'] as const;
const RUNS = 10;
const SIZE_BUDGET_BYTES = 300 * 1024;
const INIT_BUDGET_MS = 150;

export interface ColdStartData {
  functions: Array<{
    name: string;
    bytes: number;
    /** The largest inputs in the bundle (bytes in the output), for what to trim. */
    largestInputs: Array<{ path: string; bytes: number }>;
    initMs: number[];
    medianInitMs: number;
    /** The bundle's external `@aws-sdk/*` packages, and the median time to require only them. */
    sdkPackages: string[];
    sdkOnlyMedianMs: number;
  }>;
}

function writeConfig(config: unknown): string {
  const file = join(OUT_DIR, 'bundles', 'failover.config.json');
  mkdirSync(join(OUT_DIR, 'bundles'), { recursive: true });
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** The function's environment in AWS, with a small valid config. */
function lambdaEnv(): Record<string, string> {
  const node = (id: string, i: number) => ({ id, address: `192.0.2.${i}`, tokenSha256: mintToken().sha256 });
  const config = {
    clusters: [
      {
        id: 'db',
        heartbeatIntervalSeconds: 5,
        nodes: [node('a', 1), node('b', 2)],
        targets: [{ type: 'log' }],
      },
    ],
  };
  return {
    PATH: process.env.PATH ?? '',
    // As in AWS, the config ships as a file beside the bundle.
    FAILOVER_CONFIG_FILE: writeConfig(config),
    FAILOVER_TABLE: 'failover',
    FAILOVER_EVENT_BUS: 'failover-bench-bus',
    POWERTOOLS_SERVICE_NAME: 'failover',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_LAMBDA_FUNCTION_NAME: 'bench',
  };
}

/** Requires every module named on its command line; prints the time taken. */
const PROBE = `
const { performance } = require('node:perf_hooks');
const t0 = performance.now();
for (const m of process.argv.slice(1)) require(m);
const t1 = performance.now();
process.stdout.write(JSON.stringify({ initMs: t1 - t0 }));
`;

function initOnce(modules: string[], env: Record<string, string>): Promise<number> {
  const bundle = modules.join(' ');
  return new Promise((resolve, reject) => {
    // --no-warnings: the SDK's Node-20 deprecation warning does not exist on Lambda's Node 24.
    const child = spawn(process.execPath, ['--no-warnings', '-e', PROBE, ...modules], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const match = /\{"initMs":[\d.e+-]+\}/.exec(out);
      if (code !== 0 || match === null)
        reject(new Error(`init of ${bundle} failed (exit ${code}): ${err.slice(-1000)}`));
      else resolve((JSON.parse(match[0]) as { initMs: number }).initMs);
    });
  });
}

export async function runColdStart(options: BenchOptions): Promise<{ rows: Row[]; data: ColdStartData }> {
  const env = lambdaEnv();
  const data: ColdStartData = { functions: [] };
  for (const name of FUNCTIONS) {
    options.log(`cold start: bundling and initialising ${name}`);
    const outdir = join(OUT_DIR, 'bundles', name);
    mkdirSync(outdir, { recursive: true });
    const outfile = join(outdir, 'index.js');
    const result = await build({
      entryPoints: [join(ROOT, 'functions', `${name}.ts`)],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      minify: true,
      target: 'node24',
      external: ['@aws-sdk/*'],
      outfile,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: ROOT,
    });
    const output = Object.values(result.metafile.outputs)[0];
    const largestInputs = Object.entries(output?.inputs ?? {})
      .map(([path, v]) => ({ path, bytes: v.bytesInOutput }))
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 5);
    // How much of the init is the AWS SDK (external: in Lambda it comes from the runtime).
    // The two are measured alternately, so that both see the same machine load.
    const requires = readFileSync(outfile, 'utf8').matchAll(/require\("(@aws-sdk\/[^"]+)"\)/g);
    const sdkPackages = [...new Set([...requires].map((m) => m[1] as string))].sort();
    const initMs: number[] = [];
    const sdkMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      initMs.push(await initOnce([outfile], env));
      sdkMs.push(await initOnce(sdkPackages, env));
    }
    data.functions.push({
      name,
      bytes: statSync(outfile).size,
      largestInputs,
      initMs,
      medianInitMs: median(initMs),
      sdkPackages,
      sdkOnlyMedianMs: median(sdkMs),
    });
  }
  const rows: Row[] = data.functions.flatMap((f): Row[] => [
    {
      figure: `Lambda bundle size: ${f.name}`,
      measured: `${kb(f.bytes)} (${f.bytes.toLocaleString('en-US')} B)`,
      budget: '< 300 KB (SDK external)',
      status: pass(f.bytes < SIZE_BUDGET_BYTES),
    },
    {
      figure: `Lambda module init: ${f.name} (median of ${RUNS} fresh processes)`,
      measured:
        `${ms(f.medianInitMs, 1)} (min ${ms(Math.min(...f.initMs), 1)}, max ${ms(Math.max(...f.initMs), 1)}); ` +
        `its ${f.sdkPackages.length} AWS SDK packages alone: ${ms(f.sdkOnlyMedianMs, 1)}`,
      budget: `< ${INIT_BUDGET_MS} ms`,
      status: pass(f.medianInitMs < INIT_BUDGET_MS),
    },
  ]);
  return { rows, data };
}
