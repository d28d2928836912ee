/**
 * `npm run build`: compiles the `failover` command into `dist/` with esbuild, so that
 * `bin/failover.js` runs plain JavaScript on Node with no TypeScript tooling at run time.
 *
 * 1. One ESM entry, `dist/failover.js` (cli/failover.ts), with code splitting: each
 *    command's code, and the AWS SDK, are separate chunks that `cli/main.ts` imports only
 *    when that command runs, so `--help`, `token`, `agent` and `run-if-active` load a few
 *    tens of KB and never the SDK.
 * 2. Every dependency is bundled except `dynalite` (the local server's embedded storage,
 *    native LevelDB bindings): the package's one runtime dependency, optional, loaded only
 *    by `failover serve`.
 * 3. `dist/` is emptied first, so no chunk of an older build is left behind.
 *
 * Run by `prepare` (after `npm ci`, and by `npm pack`), `prestart`, and the tests' global
 * setup (test/setup/build.ts), so what runs and what is tested is always this build.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = fileURLToPath(new URL('../dist', import.meta.url));

export async function buildCli(): Promise<void> {
  rmSync(DIST, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: { failover: 'cli/failover.ts' },
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The AWS SDK's ESM builds: tree-shaken better than its CommonJS ones.
    mainFields: ['module', 'main'],
    external: ['dynalite'],
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli();
