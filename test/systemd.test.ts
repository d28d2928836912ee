/**
 * The agent's systemd unit (deploy/systemd/failover-agent@.service): shipped in the
 * package, accepted by systemd without a warning, and set up so `systemctl stop` reaches
 * the agent as SIGTERM (which releases the role). `systemd-analyze` is used when present;
 * without it the check skips with a message.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { UNIT_NAME, unitSettings, unitText } from './helpers/systemd.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const unit = unitText();
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
};

const hasAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0;
if (!hasAnalyze) console.warn('\n  SKIPPED: systemd unit check: systemd-analyze is not on PATH\n');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the systemd unit for the agent', () => {
  const set = unitSettings(unit);

  it('ships in the package and starts the installed command as the agent, in its own process', () => {
    expect(pkg.files).toContain('deploy');
    expect(Object.keys(pkg.bin)).toEqual(['failover']);
    expect(set.get('ExecStart')).toMatch(
      /^failover agent --cluster \$\{FAILOVER_CLUSTER\} --node \$\{FAILOVER_NODE\} \$FAILOVER_AGENT_OPTIONS$/,
    );
    expect(set.get('EnvironmentFile')).toBe('/etc/failover/%i.env');
  });

  it('stops the agent with SIGTERM so it releases the role, and restarts it only on failure', () => {
    expect(set.get('KillSignal')).toBe('SIGTERM');
    expect(set.get('KillMode')).toBe('mixed');
    expect(set.get('Restart')).toBe('on-failure');
    expect(set.get('RestartPreventExitStatus')).toBe('2');
  });

  it('runs without privileges on a read-only system', () => {
    for (const [key, value] of [
      ['DynamicUser', 'yes'],
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['CapabilityBoundingSet', ''],
    ]) {
      expect(set.get(key as string), key).toBe(value);
    }
  });

  it.skipIf(!hasAnalyze)('passes systemd-analyze verify without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'failover-systemd-'));
    dirs.push(dir);
    // verify checks that the command exists: point ExecStart at a stand-in.
    const stub = join(dir, 'failover');
    writeFileSync(stub, '#!/bin/sh\n');
    chmodSync(stub, 0o755);
    writeFileSync(join(dir, UNIT_NAME), unit.replace(/^ExecStart=failover /m, `ExecStart=${stub} `));
    const result = spawnSync('systemd-analyze', ['verify', join(dir, 'failover-agent@db.service')], {
      encoding: 'utf8',
    });
    expect(result.stderr + result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});
