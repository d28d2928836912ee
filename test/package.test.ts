/**
 * The package as an operator installs it: `npm pack`, then the tarball installed into an
 * empty prefix offline with `--omit=optional` (what a node host needs), so none of the
 * repository's dependencies, dev or not, is reachable. The installed `failover` must run
 * with plain Node, and its agent must hold and release a role on a local control plane.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { parseConfig } from '../shared/config.js';
import { silentLogger } from '../shared/logger.js';
import { mintToken } from '../shared/tokens.js';
import { Processes, removeDir } from './helpers/processes.js';
import { execStartArgs, parseEnvironmentFile, unitSettings, unitText } from './helpers/systemd.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const procs = new Processes();
let dir: string;
let prefix: string;
let bin: string;

/** This environment without npm's own `npm_*` variables, so the child npm reads only its flags. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
}

/** Runs the installed `failover` through its bin link (shebang and all) from an unrelated folder. */
function failover(args: string[]): string {
  return execFileSync(bin, args, { cwd: dir, env: cleanEnv(), encoding: 'utf8' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-package-'));
  prefix = join(dir, 'prefix');
  // dist/ was built by the global setup; --ignore-scripts keeps npm from rebuilding it
  // under the other test files' running processes.
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      env: cleanEnv(),
      encoding: 'utf8',
    }),
  ) as Array<{ filename: string }>;
  const tarball = join(dir, packed[0]?.filename as string);
  execFileSync(
    'npm',
    [
      'install',
      '--global',
      '--prefix',
      prefix,
      '--offline',
      '--omit=optional',
      '--no-audit',
      '--no-fund',
      tarball,
    ],
    { cwd: dir, env: cleanEnv(), encoding: 'utf8' },
  );
  bin = join(prefix, 'bin', 'failover');
}, 120_000);

afterAll(async () => {
  await procs.stopAll();
  removeDir(dir);
});

describe('the packed and installed failover command', () => {
  it('is the one package installed, with no dependencies beside it', () => {
    const installed = join(prefix, 'lib', 'node_modules');
    expect(readdirSync(installed)).toEqual(['@failover-cp']);
    expect(readdirSync(join(installed, '@failover-cp'))).toEqual(['failover']);
    expect(existsSync(join(installed, '@failover-cp', 'failover', 'node_modules'))).toBe(false);
  });

  it('prints its help and mints a token with plain Node', () => {
    expect(failover(['--help'])).toContain('Usage: failover <command> [options]');
    expect(failover(['token'])).toMatch(/^token: {7}fo_[\w-]{43}\ntokenSha256: [0-9a-f]{64}\n$/);
  });

  it('says in one line that serve needs dynalite when it was left out', () => {
    let message = '';
    try {
      failover(['serve', '--memory', '--port', '0']);
    } catch (err) {
      const { status, stderr } = err as { status: number; stderr: string };
      expect(status).toBe(2);
      message = stderr;
    }
    expect(message).toMatch(/^failover serve: .*dynalite, is not installed .*npm install -g dynalite\n$/);
  });

  describe('its agent against a local control plane', () => {
    const tokens = { a: mintToken(), b: mintToken() };
    let server: LocalServer;

    beforeAll(async () => {
      const config = parseConfig({
        clusters: [
          {
            id: 'pkg',
            heartbeatIntervalSeconds: 1,
            nodes: [
              { id: 'a', address: '192.0.2.1', tokenSha256: tokens.a.sha256 },
              { id: 'b', address: '192.0.2.2', tokenSha256: tokens.b.sha256 },
            ],
          },
        ],
      });
      server = await startLocalServer({ config, logger: silentLogger, port: 0, sweepIntervalMs: 500 });
    });

    afterAll(() => server?.close());

    /** The agent the way the systemd unit starts it: ExecStart with an environment file. */
    function startAsSystemdWould(node: 'a' | 'b') {
      const env = parseEnvironmentFile(
        [
          `FAILOVER_URL=${server.url}`,
          `FAILOVER_TOKEN=${tokens[node].token}`,
          'FAILOVER_CLUSTER=pkg',
          `FAILOVER_NODE=${node}`,
          'FAILOVER_AGENT_OPTIONS=--interval 1 --margin 0.5',
        ].join('\n'),
      );
      const [command, ...args] = execStartArgs(unitSettings(unitText()).get('ExecStart') ?? '', env);
      expect(command).toBe('failover');
      return procs.start(`installed agent ${node} (systemd)`, args, env, { bin, cwd: dir });
    }

    it('holds the role, and hands it over at once when its PID gets SIGTERM', async () => {
      const start = (node: 'a' | 'b') =>
        procs.start(
          `installed agent ${node}`,
          ['agent', '--url', server.url, '--cluster', 'pkg', '--node', node],
          { FAILOVER_TOKEN: tokens[node].token },
          { bin, cwd: dir },
        );
      const a = start('a');
      await procs.waitForLine(a, /role: active \(epoch 1\D/);
      const b = startAsSystemdWould('b');
      await procs.waitForLine(b, /role: standby \(epoch 1\D/);
      const exited = once(a.child, 'exit');
      a.child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(a.output()).toMatch(/SIGTERM: stopping heartbeats/);
      expect(a.output()).toMatch(
        /role: standby \(epoch 1, stepping down to release the role\)[\s\S]*released: active b \(epoch 2\)/,
      );
      await procs.waitForLine(b, /role: active \(epoch 2\D/);
    });
  });
});
