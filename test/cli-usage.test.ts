/**
 * The command line as a user meets it, through the built `failover` command: what a typo,
 * a forgotten option or a misplaced job says, --version, FAILOVER_URL standing in for
 * --url, `resume --reason`, and `run-if-active --quiet` on a standby.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../cli/local-server.js';
import { parseConfig } from '../shared/config.js';
import { silentLogger } from '../shared/logger.js';
import { closest } from '../shared/suggest.js';
import { mintToken } from '../shared/tokens.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'failover.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `failover ARGS` (the build in dist/) with only `env` beside PATH. */
function failover(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('closest', () => {
  it('finds the option or field a typo was meant to be, and nothing for an unrelated word', () => {
    expect(closest('clustr', ['url', 'cluster', 'node'])).toBe('cluster');
    expect(closest('heartbeatInterval', ['heartbeatIntervalSeconds', 'missedBeats'])).toBe(
      'heartbeatIntervalSeconds',
    );
    expect(closest('missedbeats', ['heartbeatIntervalSeconds', 'missedBeats'])).toBe('missedBeats');
    expect(closest('colour', ['url', 'cluster', 'node'])).toBe(undefined);
  });
});

describe('failover --help', () => {
  it('loads no HTTP client, TLS, crypto or child processes: it starts in about the time of node itself', async () => {
    const listModules =
      "process.on('exit', () => process.stderr.write(JSON.stringify(process.moduleLoadList)))";
    const run = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          '--eval',
          `${listModules}; process.argv.splice(1, 0, 'failover', '--help'); import(${JSON.stringify(BIN)})`,
        ],
        { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' },
        (err, stdout, stderr) => (err ? reject(err) : resolve(`${stdout}\n${stderr}`)),
      );
    });
    expect(run).toContain('Usage: failover <command>');
    const loaded = JSON.parse(run.slice(run.lastIndexOf('['))) as string[];
    const heavy = loaded.filter((m) => /^NativeModule (https?|tls|crypto|child_process)$/.test(m));
    expect(heavy).toEqual([]);
  });
});

describe('failover with a wrong command line', () => {
  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await failover(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('suggests the closest command for an unknown one', async () => {
    const run = await failover(['stauts']);
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe("failover: unknown command 'stauts' (did you mean status?)");
  });

  it('suggests the closest option for an unknown one, in one line', async () => {
    expect(await failover(['status', '--clustr', 'db'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'failover status: unknown option --clustr (did you mean --cluster?)\n',
    });
  });

  it('names every missing option at once, and the variable that can stand in for --url', async () => {
    expect((await failover(['status'])).stderr).toBe(
      'failover status: missing --url (or FAILOVER_URL) and --cluster\n',
    );
    expect((await failover(['run-if-active', '--', 'true'])).stderr).toBe(
      'failover run-if-active: missing --url (or FAILOVER_URL), --cluster, --node and --token (or FAILOVER_TOKEN)\n',
    );
  });

  it('says in one line, without a stack trace, that there are no AWS credentials to sign with', async () => {
    const url = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
    // HOME without ~/.aws, and no instance metadata: the whole credential chain comes up empty.
    const run = await failover(['status', '--url', url, '--cluster', 'db'], {
      HOME: ROOT,
      AWS_CONFIG_FILE: join(ROOT, 'no-such-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(ROOT, 'no-such-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'failover status: no AWS credentials to sign the request to abc123.execute-api.eu-west-1.amazonaws.com with: ' +
        'set AWS_PROFILE (or run aws sso login), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an ' +
        'instance or task role applies\n',
    );
  });

  it('says that the job of run-if-active goes after --', async () => {
    const run = await failover(['run-if-active', '--cluster', 'db', '--node', 'a', 'backup.sh', '--full']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      "failover run-if-active: unexpected argument 'backup.sh': put the command to run after --, " +
        'e.g. failover run-if-active … -- backup.sh\n',
    );
  });
});

describe('failover against a local server', () => {
  const tokens = { a: mintToken(), b: mintToken() };
  let server: LocalServer;

  beforeAll(async () => {
    const config = parseConfig({
      clusters: [
        {
          id: 'cli',
          nodes: [
            { id: 'a', address: '10.0.0.1', tokenSha256: tokens.a.sha256 },
            { id: 'b', address: '10.0.0.2', tokenSha256: tokens.b.sha256 },
          ],
        },
      ],
    });
    server = await startLocalServer({ config, logger: silentLogger, port: 0, sweepIntervalMs: 60_000 });
    await beat('a');
    await beat('b');
  });

  /** A heartbeat, so a stays active with most of its lease left however slow the runs before were. */
  async function beat(node: 'a' | 'b') {
    const res = await fetch(`${server.url}/v1/clusters/cli/nodes/${node}/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[node].token}` },
    });
    expect(res.status).toBe(200);
  }

  afterAll(() => server?.close());

  it('takes the URL from FAILOVER_URL in every command', async () => {
    const env = { FAILOVER_URL: server.url };
    const status = await failover(['status', '--cluster', 'cli', '--json'], env);
    expect(JSON.parse(status.stdout)).toMatchObject({ cluster: 'cli', active: 'a' });
    const events = await failover(['events', '--cluster', 'cli'], env);
    expect(events.stdout).toMatch(/promoted/);
    await beat('a');
    const job = await failover(['run-if-active', '--cluster', 'cli', '--node', 'a', '--', 'echo', 'ran'], {
      ...env,
      FAILOVER_TOKEN: tokens.a.token,
    });
    expect(job).toEqual({ code: 0, stdout: 'ran\n', stderr: '' });
  });

  it('records the reason given to resume', async () => {
    const env = { FAILOVER_URL: server.url };
    expect((await failover(['pause', '--cluster', 'cli', '--reason', 'patching'], env)).code).toBe(0);
    expect((await failover(['resume', '--cluster', 'cli', '--reason', 'patched'], env)).code).toBe(0);
    const events = await failover(['events', '--cluster', 'cli', '--limit', '1'], env);
    expect(events.stdout).toMatch(/resumed +automation resumed by local: patched\n$/);
  });

  it('says why it skipped the job on a standby, and nothing at all with --quiet', async () => {
    const env = { FAILOVER_URL: server.url, FAILOVER_TOKEN: tokens.b.token };
    await beat('a');
    const job = ['--cluster', 'cli', '--node', 'b', '--', 'echo', 'ran'];
    const loud = await failover(['run-if-active', ...job], env);
    expect(loud).toMatchObject({ code: 0, stdout: '' });
    expect(loud.stderr).toMatch(
      /^failover run-if-active \[cli\/b\]: standby \(active: a, epoch 1\); not running\n$/,
    );
    expect(await failover(['run-if-active', '--quiet', ...job], env)).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
  });
});
