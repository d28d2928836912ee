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
    [[...base], {}, /^missing --token \(or FAILOVER_TOKEN\)$/],
    [['--cluster', 'db', '--node', 'db1'], { FAILOVER_TOKEN: 't' }, /^missing --url \(or FAILOVER_URL\)$/],
    [[...base.slice(0, 2), '--node', 'db1'], { FAILOVER_TOKEN: 't' }, /^missing --cluster$/],
    [[], {}, /^missing --url \(or FAILOVER_URL\), --cluster, --node and --token \(or FAILOVER_TOKEN\)$/],
    [[...base, '--url'], { FAILOVER_TOKEN: 't' }, /^--url needs a value$/],
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

  it.each([
    ['0.0.0.0:8008', { host: '0.0.0.0', port: 8008 }],
    ['[::]:8008', { host: '::', port: 8008 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
  ])('reads --health-listen %s as host and port', (raw, address) => {
    const options = parseAgentArgs([...base, '--health-listen', raw], { FAILOVER_TOKEN: 't' });
    expect(options).toMatchObject({ healthListen: address });
  });

  it.each(['8008', ':8008', '0.0.0.0:', '0.0.0.0:65536', '::1:8008', '[::1]', '0.0.0.0:80a', 'http://x:80'])(
    'refuses --health-listen %s, naming the expected form',
    (raw) => {
      expect(() => parseAgentArgs([...base, '--health-listen', raw], { FAILOVER_TOKEN: 't' })).toThrow(
        `--health-listen must be HOST:PORT with a port from 0 to 65535 (e.g. 0.0.0.0:8008 or [::]:8008), got '${raw}'`,
      );
    },
  );

  it('refuses an unknown option, suggesting the closest known one', () => {
    expect(() => parseAgentArgs([...base, '--colour'], { FAILOVER_TOKEN: 't' })).toThrow(
      /^unknown option --colour$/,
    );
    expect(() => parseAgentArgs([...base, '--on-actve', 'x'], { FAILOVER_TOKEN: 't' })).toThrow(
      /^unknown option --on-actve \(did you mean --on-active\?\)$/,
    );
  });

  it('takes the URL from FAILOVER_URL when --url is not given, and --url over it', () => {
    const env = { FAILOVER_URL: 'http://127.0.0.1:9/', FAILOVER_TOKEN: 't' };
    expect(parseAgentArgs(['--cluster', 'db', '--node', 'db1'], env)).toMatchObject({
      url: 'http://127.0.0.1:9',
    });
    expect(parseAgentArgs(base, env)).toMatchObject({ url: 'https://api.example.com' });
  });
});
