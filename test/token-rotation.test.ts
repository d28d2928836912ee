/**
 * Token rotation without downtime, end to end: the real `failover token --rotate` and
 * `failover serve` processes. During the rotation the node's old and new tokens are both
 * accepted and status names the node while it still beats with the old one; once the
 * config drops previousTokenSha256, only the new token is.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { token } from '../cli/token.js';
import { UsageError } from '../cli/usage.js';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import { mintToken, sha256Hex } from '../shared/tokens.js';
import { type Proc, Processes, removeDir, stop, waitForLine } from './helpers/processes.js';

const procs = new Processes();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'failover-rotation-'));
});
afterAll(async () => {
  await procs.stopAll();
  removeDir(dir);
});

async function startServer(configFile: string): Promise<{ proc: Proc; url: string }> {
  const proc = procs.start('server', ['serve', '--config', configFile, '--memory', '--port', '0']);
  const match = await waitForLine(proc, /listening on (http:\/\/\S+)/, 20_000);
  return { proc, url: match[1] as string };
}

/** Runs `failover ARGS` to its end. */
async function run(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = procs.start(`failover ${args[0]}`, args);
  // 'close': the process has exited and its output has been read to the end.
  const [code] = (await once(proc.child, 'close')) as [number | null];
  return { code, output: proc.output() };
}

async function beat(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/v1/clusters/rot/nodes/a/heartbeat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body?.cancel();
  return res.status;
}

async function previousTokenOf(url: string): Promise<boolean | undefined> {
  const status = (await (await fetch(`${url}/v1/clusters/rot`)).json()) as ClusterStatus;
  return status.nodes.find((n) => n.id === 'a')?.previousToken;
}

describe('failover token --rotate: bad command lines', () => {
  it.each([
    [['--config', 'x.json'], /^--config, --cluster and --node go with --rotate$/],
    [['--rotate', '--config', 'x.json'], /^missing --cluster and --node$/],
    [['--rotate'], /^missing --config, --cluster and --node$/],
  ])('refuses %j, naming the problem', (argv, message) => {
    expect(() => token(argv)).toThrow(UsageError);
    expect(() => token(argv)).toThrow(message);
  });

  it('names an unknown cluster or node of the config', () => {
    const file = join(dir, 'names.config.json');
    const node = { id: 'a', address: '192.0.2.1', tokenSha256: mintToken().sha256 };
    writeFileSync(file, JSON.stringify({ clusters: [{ id: 'rot', nodes: [node] }] }));
    expect(() => token(['--rotate', '--config', file, '--cluster', 'nope', '--node', 'a'])).toThrow(
      `no cluster 'nope' in ${file}`,
    );
    expect(() => token(['--rotate', '--config', file, '--cluster', 'rot', '--node', 'z'])).toThrow(
      "no node 'z' in cluster 'rot'",
    );
  });
});

describe('token rotation (real processes)', () => {
  it('accepts the old and the new token during the rotation, shows who still uses the old one, and only the new one after', async () => {
    const old = mintToken();
    const file = join(dir, 'rot.config.json');
    const node = { id: 'a', address: '192.0.2.1', tokenSha256: old.sha256 };
    writeFileSync(file, JSON.stringify({ clusters: [{ id: 'rot', nodes: [node] }] }, null, 2));

    // 1. The command prints the new token and the config change.
    const rotate = await run(['token', '--rotate', '--config', file, '--cluster', 'rot', '--node', 'a']);
    expect(rotate.code, rotate.output).toBe(0);
    const fresh = /^token: +(fo_\S+)$/m.exec(rotate.output)?.[1] as string;
    const change = JSON.parse(/^ +(\{[\s\S]*?^ +\})$/m.exec(rotate.output)?.[1] ?? 'null');
    expect(change).toEqual({ tokenSha256: sha256Hex(fresh), previousTokenSha256: old.sha256 });
    writeFileSync(file, JSON.stringify({ clusters: [{ id: 'rot', nodes: [{ ...node, ...change }] }] }));

    // 2. During the rotation both are accepted; status says when the old one was used last.
    let server = await startServer(file);
    expect(await beat(server.url, old.token)).toBe(200);
    expect(await previousTokenOf(server.url)).toBe(true);
    expect(await beat(server.url, fresh)).toBe(200);
    expect(await previousTokenOf(server.url)).toBe(false);
    expect(await beat(server.url, old.token)).toBe(200);
    await stop(server.proc, 'SIGTERM');

    // A second rotation before the first is finished is refused, naming why.
    const again = await run(['token', '--rotate', '--config', file, '--cluster', 'rot', '--node', 'a']);
    expect(again.code).not.toBe(0);
    expect(again.output).toMatch(/node 'a' is already rotating its token/);

    // 3. The rotation is finished: the old token is refused, the new one accepted.
    const config = JSON.parse(readFileSync(file, 'utf8'));
    delete config.clusters[0].nodes[0].previousTokenSha256;
    writeFileSync(file, JSON.stringify(config));
    server = await startServer(file);
    expect(await beat(server.url, old.token)).toBe(401);
    expect(await beat(server.url, fresh)).toBe(200);
    expect(await previousTokenOf(server.url)).toBe(false);
  });
});
