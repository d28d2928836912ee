/**
 * `failover serve` as a user starts it: a port or a data directory already taken is one
 * line saying what to do instead (no stack trace), and `GET /` points to the status route.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Processes, removeDir } from './helpers/processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'failover.js');
const procs = new Processes();
let dir: string;

/** Runs `failover serve ARGS` to its end (it exits at once on these errors). */
function serveOnce(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'serve', ...args],
      { cwd: dir, encoding: 'utf8', timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-serve-'));
});

afterAll(async () => {
  await procs.stopAll();
  removeDir(dir);
});

describe('failover serve', () => {
  it('says in one line that the port is in use and how to pick another', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      expect(await serveOnce(['--memory', '--port', String(port)])).toEqual({
        code: 2,
        stdout: '',
        stderr: `failover serve: port ${port} is in use; pick another with --port (0 = any free port)\n`,
      });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('refuses a second server on the same data directory, naming it and the ways out', async () => {
    const data = join(dir, 'state');
    const first = procs.start('first server', ['serve', '--data-dir', data, '--port', '0'], {}, { cwd: dir });
    await procs.waitForLine(first, /listening on http:/, 20_000);
    const second = await serveOnce(['--data-dir', data, '--port', '0']);
    expect(second.code).toBe(2);
    expect(second.stderr).toBe(
      `failover serve: ${data} is in use by another failover server (pid ${first.child.pid}); stop it, ` +
        'or give this one its own state with --data-dir DIR, or none with --memory\n',
    );
  });

  it('takes over the data directory of a server that was killed', async () => {
    const data = join(dir, 'crashed');
    const first = procs.start(
      'killed server',
      ['serve', '--data-dir', data, '--port', '0'],
      {},
      { cwd: dir },
    );
    await procs.waitForLine(first, /listening on http:/, 20_000);
    const exited = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;
    const next = procs.start('next server', ['serve', '--data-dir', data, '--port', '0'], {}, { cwd: dir });
    await procs.waitForLine(next, /listening on http:/, 20_000);
  });

  it('prints demo agent lines for the command as the user runs it: npx under npm, else failover', async () => {
    const agentLine = (command: string) =>
      new RegExp(`b: FAILOVER_TOKEN=\\S+ ${command} agent --url http://\\S+ --cluster demo --node b\\n`);
    const args = ['serve', '--memory', '--port', '0'];
    const viaNpm = procs.start('server under npm', args, { npm_command: 'start' }, { cwd: dir });
    const installed = procs.start('installed server', args, { npm_command: '' }, { cwd: dir });
    await procs.waitForLine(viaNpm, agentLine('npx failover'), 20_000);
    await procs.waitForLine(installed, agentLine('failover'), 20_000);
    expect(installed.output()).not.toContain('npx');
  });

  it("answers GET / with the operator's console, and /v1/clusters with the clusters it shows", async () => {
    const server = procs.start('server', ['serve', '--memory', '--port', '0'], {}, { cwd: dir });
    const url = (await procs.waitForLine(server, /listening on (http:\/\/\S+)/, 20_000))[1] as string;
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toContain('<title>failover console</title>');
    expect(await (await fetch(`${url}/v1/clusters`)).json()).toEqual({ clusters: ['demo'] });
  });
});
