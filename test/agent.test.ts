/** The agent's pure rules: its beat cadence and its command line (the margin: lease-keeper.test.ts). */
import { describe, expect, it } from 'vitest';
import { nextSlot } from '../cli/agent/agent.js';
import { parseAgentArgs } from '../cli/agent/args.js';
import { UsageError } from '../cli/usage.js';

describe('beat cadence', () => {
  it('schedules the next beat one interval after the previous slot, not after the request', () => {
    expect(nextSlot(10_000, 1_000, 10_300)).toBe(11_000);
  });

  it('beats at once, without a catch-up burst, when a beat overran its slot', () => {
    expect(nextSlot(10_000, 1_000, 12_500)).toBe(12_500);
  });
});

describe('agent command line', () => {
  const base = ['--url', 'https://api.example.com/', '--cluster', 'db', '--node', 'db1'];

  it('reads the token from FAILOVER_TOKEN, trims the URL, and converts seconds to ms', () => {
    const options = parseAgentArgs([...base, '--interval', '2', '--margin', '0.5'], {
      FAILOVER_TOKEN: 'fo_x',
    });
    expect(options).toMatchObject({
      url: 'https://api.example.com',
      cluster: 'db',
      node: 'db1',
      token: 'fo_x',
      intervalMs: 2_000,
      marginMs: 500,
      releaseOnExit: true,
    });
  });

  it('prefers --token over the environment and honours --keep-role-on-exit', () => {
    const options = parseAgentArgs([...base, '--token', 'fo_flag', '--keep-role-on-exit'], {
      FAILOVER_TOKEN: 'fo_env',
    });
    expect(options).toMatchObject({ token: 'fo_flag', releaseOnExit: false });
  });

  it.each([
    [[...base], {}, /missing token/],
    [['--cluster', 'db', '--node', 'db1'], { FAILOVER_TOKEN: 't' }, /missing --url/],
    [[...base.slice(0, 2), '--node', 'db1'], { FAILOVER_TOKEN: 't' }, /missing --cluster/],
    [
      ['--url', 'ftp://x', '--cluster', 'db', '--node', 'n'],
      { FAILOVER_TOKEN: 't' },
      /--url must be an http\(s\) URL/,
    ],
    [
      [...base, '--interval', '0'],
      { FAILOVER_TOKEN: 't' },
      /--interval must be a positive number of seconds/,
    ],
    [
      [...base, '--interval', 'soon'],
      { FAILOVER_TOKEN: 't' },
      /--interval must be a positive number of seconds, got 'soon'/,
    ],
  ])('refuses a bad command line with a message naming the problem (%j)', (argv, env, message) => {
    expect(() => parseAgentArgs(argv as string[], env)).toThrow(UsageError);
    expect(() => parseAgentArgs(argv as string[], env)).toThrow(message);
  });

  it('refuses an unknown option', () => {
    expect(() => parseAgentArgs([...base, '--colour'], { FAILOVER_TOKEN: 't' })).toThrow(
      /Unknown option '--colour'/,
    );
  });
});
