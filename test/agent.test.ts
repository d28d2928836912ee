/** The agent's pure rules: its beat cadence and its command line (the margin: lease-keeper.test.ts). */

import { describe, expect, it } from 'vitest';
import { nextSlot } from '../cli/agent/agent.js';
import { parseAgentArgs } from '../cli/agent/args.js';
import { Endpoints } from '../cli/agent/endpoints.js';
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
      urls: ['https://api.example.com'],
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
      urls: ['http://127.0.0.1:9'],
    });
    expect(parseAgentArgs(base, env)).toMatchObject({ urls: ['https://api.example.com'] });
  });

  it('takes one URL per Region, repeated or comma-separated (FAILOVER_URL too), in order', () => {
    const env = { FAILOVER_TOKEN: 't' };
    const regions = ['https://a.example/', 'https://b.example', 'https://c.example'];
    const repeated = ['--cluster', 'db', '--node', 'db1', ...regions.flatMap((u) => ['--url', u])];
    const want = { urls: ['https://a.example', 'https://b.example', 'https://c.example'] };
    expect(parseAgentArgs(repeated, env)).toMatchObject(want);
    expect(
      parseAgentArgs(['--cluster', 'db', '--node', 'db1', '--url', regions.join(',')], env),
    ).toMatchObject(want);
    expect(
      parseAgentArgs(['--cluster', 'db', '--node', 'db1'], { ...env, FAILOVER_URL: regions.join(', ') }),
    ).toMatchObject(want);
    expect(() => parseAgentArgs([...base, '--url', 'https://api.example.com'], env)).toThrow(
      '--url https://api.example.com is given twice',
    );
    expect(() => parseAgentArgs([...base, '--url', 'ftp://x'], env)).toThrow(
      "--url must be an http(s) URL, got 'ftp://x'",
    );
  });
});

describe('Endpoints (several Regions)', () => {
  const urls = ['https://r1', 'https://r2', 'https://r3'];
  const given = () => {
    let t = 0;
    const clock = { now: () => t, advance: (ms: number) => (t += ms) };
    return { clock, endpoints: new Endpoints(urls, clock.now, 5_000) };
  };

  it('moves to the next URL on a failure, round the list, and ignores a stale failure report', () => {
    const { endpoints } = given();
    expect(endpoints.url()).toBe('https://r1');
    expect(endpoints.failed('https://r1')).toBe('https://r2');
    expect(endpoints.failed('https://r1')).toBeNull(); // an attempt still in flight when it moved
    expect(endpoints.failed('https://r2')).toBe('https://r3');
    expect(endpoints.failed('https://r3')).toBe('https://r1');
  });

  it('probes the first URL at most every 5 s while away, and goes back when it answers', () => {
    const { clock, endpoints } = given();
    expect(endpoints.probeDue()).toBeNull(); // on the first URL: nothing to probe
    endpoints.failed('https://r1');
    expect(endpoints.probeDue()).toBe('https://r1');
    clock.advance(4_999);
    expect(endpoints.probeDue()).toBeNull();
    clock.advance(1);
    expect(endpoints.probeDue()).toBe('https://r1');
    expect(endpoints.firstAnswered()).toBe(true);
    expect(endpoints.url()).toBe('https://r1');
    expect(endpoints.firstAnswered()).toBe(false);
  });

  it('has nowhere to move with a single URL', () => {
    const endpoints = new Endpoints(['https://only'], () => 0, 5_000);
    expect(endpoints.failed('https://only')).toBeNull();
    expect(endpoints.url()).toBe('https://only');
  });
});
