import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig, parseConfigText } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';

const HASH = 'ab'.repeat(32);
const node = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  address: `${id}.db.internal`,
  tokenSha256: HASH,
  ...extra,
});
/** A valid one-cluster config, with the cluster's fields overridden. */
const withCluster = (fields: Record<string, unknown>) => ({
  clusters: [{ id: 'db', nodes: [node('a'), node('b')], ...fields }],
});
const webhook = (fields: Record<string, unknown> = {}) => ({
  type: 'webhook',
  url: 'https://hooks.example/failover',
  secretEnv: 'HOOK_SECRET',
  ...fields,
});

/** Runs `fn`, which must throw a ConfigError, and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  return expect.fail('expected a ConfigError');
}

/** The `path: message` lines of a ConfigError, one per bad field. */
function problems(fn: () => unknown): { path: string; message: string }[] {
  return configError(fn)
    .message.split('\n')
    .slice(1)
    .map((line) => {
      const text = line.trim();
      const colon = text.indexOf(': ');
      return { path: text.slice(0, colon), message: text.slice(colon + 2) };
    });
}

describe('parseConfig: defaults and derived values', () => {
  it('defaults to a 5 s interval, 3 missed beats, sticky failback and no targets', () => {
    const [cluster] = parseConfig(withCluster({})).clusters;

    expect(cluster).toMatchObject({
      id: 'db',
      heartbeatIntervalSeconds: 5,
      missedBeats: 3,
      failback: 'sticky',
      targets: [],
      intervalMs: 5_000,
      leaseMs: 15_000,
    });
  });

  it('derives intervalMs and leaseMs (interval × missedBeats) from the configured values', () => {
    const [cluster] = parseConfig(withCluster({ heartbeatIntervalSeconds: 2, missedBeats: 4 })).clusters;

    expect(cluster).toMatchObject({ intervalMs: 2_000, leaseMs: 8_000 });
  });

  it('keeps nodes in the configured (priority) order', () => {
    const [cluster] = parseConfig(withCluster({ nodes: [node('c'), node('a'), node('b')] })).clusters;

    expect(cluster?.nodes.map((n) => n.id)).toEqual(['c', 'a', 'b']);
  });

  it('gives a target without an id its type as id, and a webhook a 2 s per-attempt timeout', () => {
    const [cluster] = parseConfig(
      withCluster({ targets: [{ type: 'log' }, webhook(), webhook({ id: 'pager' })] }),
    ).clusters;

    expect(cluster?.targets).toEqual([
      { type: 'log', id: 'log' },
      { ...webhook(), id: 'webhook', timeoutMs: 2_000, allowPrivateAddress: false },
      { ...webhook(), id: 'pager', timeoutMs: 2_000, allowPrivateAddress: false },
    ]);
  });
});

describe('parseConfig: errors name the exact field', () => {
  it('names the node whose token hash is malformed', () => {
    expect(
      problems(() => parseConfig(withCluster({ nodes: [node('a'), node('b', { tokenSha256: 'xyz' })] }))),
    ).toEqual([
      { path: 'clusters[0].nodes[1].tokenSha256', message: expect.stringContaining('64 lowercase hex') },
    ]);
  });

  it('rejects an upper-case token hash (hashes are compared as lowercase hex)', () => {
    expect(
      problems(() => parseConfig(withCluster({ nodes: [node('a', { tokenSha256: HASH.toUpperCase() })] }))),
    ).toEqual([{ path: 'clusters[0].nodes[0].tokenSha256', message: expect.any(String) }]);
  });

  it('rejects a heartbeat interval of 0 s', () => {
    expect(problems(() => parseConfig(withCluster({ heartbeatIntervalSeconds: 0 })))).toEqual([
      { path: 'clusters[0].heartbeatIntervalSeconds', message: expect.any(String) },
    ]);
  });

  it('rejects a fractional heartbeat interval', () => {
    expect(problems(() => parseConfig(withCluster({ heartbeatIntervalSeconds: 1.5 })))).toEqual([
      { path: 'clusters[0].heartbeatIntervalSeconds', message: expect.stringContaining('whole number') },
    ]);
  });

  it('rejects a failback policy other than sticky or preferred', () => {
    expect(problems(() => parseConfig(withCluster({ failback: 'eager' })))).toEqual([
      { path: 'clusters[0].failback', message: "must be 'sticky' or 'preferred'" },
    ]);
  });

  it('rejects an unknown field by name instead of ignoring it', () => {
    expect(configError(() => parseConfig(withCluster({ extra: true }))).message).toContain(
      'clusters[0].extra: unknown field',
    );
  });

  it('suggests the closest known field for an unknown one, at every level', () => {
    const message = configError(() =>
      parseConfig({
        clusters: [
          {
            id: 'db',
            heartbeatInterval: 5,
            nodes: [{ id: 'a', address: '10.0.0.1', tokenSha256: HASH, adress: 'x' }],
            targets: [{ type: 'webhook', url: 'https://example.com/', secretenv: 'S' }],
          },
        ],
        adminToken: 'x',
      }),
    ).message;
    expect(message).toContain(
      'clusters[0].heartbeatInterval: unknown field (did you mean heartbeatIntervalSeconds?)',
    );
    expect(message).toContain('clusters[0].nodes[0].adress: unknown field (did you mean address?)');
    expect(message).toContain('clusters[0].targets[0].secretenv: unknown field (did you mean secretEnv?)');
    expect(message).toContain('adminToken: unknown field (did you mean adminTokenSha256?)');
  });

  it('says "required" for each missing field, all at once', () => {
    expect(problems(() => parseConfig({ clusters: [{ nodes: [{ address: '10.0.0.1' }] }] }))).toEqual([
      { path: 'clusters[0].id', message: 'required' },
      { path: 'clusters[0].nodes[0].id', message: 'required' },
      { path: 'clusters[0].nodes[0].tokenSha256', message: 'required' },
    ]);
  });

  it('rejects a node id that is not lowercase letters, digits, dash or underscore', () => {
    expect(problems(() => parseConfig(withCluster({ nodes: [node('Node A')] })))).toEqual([
      { path: 'clusters[0].nodes[0].id', message: expect.stringContaining('node id') },
    ]);
  });

  it('rejects a cluster without nodes', () => {
    expect(problems(() => parseConfig(withCluster({ nodes: [] })))).toEqual([
      { path: 'clusters[0].nodes', message: 'a cluster needs at least one node' },
    ]);
  });

  it('rejects a duplicate node id, naming the second occurrence', () => {
    expect(problems(() => parseConfig(withCluster({ nodes: [node('a'), node('b'), node('a')] })))).toEqual([
      { path: 'clusters[0].nodes[2].id', message: 'duplicate node id' },
    ]);
  });

  it('rejects a duplicate cluster id', () => {
    const config = { clusters: [withCluster({}).clusters[0], withCluster({}).clusters[0]] };

    expect(problems(() => parseConfig(config))).toEqual([
      { path: 'clusters[1].id', message: 'duplicate cluster id' },
    ]);
  });

  it('rejects two targets of one type that both default their id to the type', () => {
    expect(problems(() => parseConfig(withCluster({ targets: [webhook(), webhook()] })))).toEqual([
      { path: 'clusters[0].targets[1].id', message: expect.stringContaining('duplicate target id') },
    ]);
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'instance metadata'],
    ['http://[fd00:ec2::254]/', 'instance metadata'],
    ['http://169.254.170.2/v2/credentials', 'instance metadata'],
    ['http://127.0.0.1:9001/2018-06-01/runtime/invocation/next', 'loopback address'],
    ['http://2130706433/', 'loopback address'], // 127.0.0.1 as one number
    ['http://[::ffff:127.0.0.1]/', 'loopback address'],
    ['http://[::1]/', 'loopback address'],
    ['http://169.254.1.1/', 'link-local address'],
    ['http://[fe80::1]/', 'link-local address'],
    ['http://10.1.2.3/', 'private address'],
    ['http://[fd12::1]/', 'private address'],
    ['http://0.0.0.0/', 'unspecified, multicast or reserved'],
    ['http://224.0.0.1/', 'unspecified, multicast or reserved'],
  ])('refuses a webhook url at %s (%s) and names the field', (url, why) => {
    expect(problems(() => parseConfig(withCluster({ targets: [webhook({ url })] })))).toEqual([
      { path: 'clusters[0].targets[0].url', message: expect.stringContaining(why) },
    ]);
  });

  it('accepts a loopback, link-local or private webhook url only with allowPrivateAddress', () => {
    const urls = ['http://127.0.0.1:8080/hook', 'http://10.1.2.3/hook', 'http://[fe80::1]/hook'];
    const targets = urls.map((url, i) => webhook({ id: `h${i}`, url, allowPrivateAddress: true }));

    expect(parseConfig(withCluster({ targets })).clusters[0]?.targets.map((t) => t.id)).toEqual([
      'h0',
      'h1',
      'h2',
    ]);
    expect(problems(() => parseConfig(withCluster({ targets: [webhook({ url: urls[0] })] })))).toEqual([
      { path: 'clusters[0].targets[0].url', message: expect.stringContaining('allowPrivateAddress: true') },
    ]);
  });

  it.each([
    [{ peerUrl: 'http://169.254.169.254/' }, 'clusters[0].nodes[1].peerUrl'],
    [{ peerUrl: 'http://[fd00:ec2::254]:7788' }, 'clusters[0].nodes[1].peerUrl'],
    [{ address: '169.254.169.254' }, 'clusters[0].nodes[1].address'],
  ])(
    'refuses a failsafe peer URL (given, or built from the address) at the metadata address: %j',
    (fields, path) => {
      expect(problems(() => parseConfig(withCluster({ nodes: [node('a'), node('b', fields)] })))).toEqual([
        { path, message: expect.stringMatching(/^peers would be sent to it: .* metadata/) },
      ]);
    },
  );

  it('accepts private and documentation peer addresses: peers talk inside their network', () => {
    const nodes = [
      node('a', { address: '10.0.0.1' }),
      node('b', { peerUrl: 'http://[fd12::2]:7788' }),
      node('c', { address: '192.0.2.3' }),
    ];
    expect(parseConfig(withCluster({ nodes })).clusters[0]?.nodes).toHaveLength(3);
  });

  it('refuses the metadata address even with allowPrivateAddress', () => {
    const target = webhook({ url: 'http://169.254.169.254/', allowPrivateAddress: true });

    expect(problems(() => parseConfig(withCluster({ targets: [target] })))).toEqual([
      { path: 'clusters[0].targets[0].url', message: expect.stringContaining('instance metadata') },
    ]);
  });

  it('accepts two targets of one type with distinct ids', () => {
    const [cluster] = parseConfig(
      withCluster({ targets: [webhook({ id: 'one' }), webhook({ id: 'two' })] }),
    ).clusters;

    expect(cluster?.targets.map((t) => t.id)).toEqual(['one', 'two']);
  });

  it('rejects an unknown target type', () => {
    expect(problems(() => parseConfig(withCluster({ targets: [{ type: 'sns' }] })))).toEqual([
      { path: 'clusters[0].targets[0].type', message: expect.stringContaining('unknown target type') },
    ]);
  });

  it.each(['ftp://hooks.example/failover', 'hooks.example/failover', 'not a url'])(
    'rejects a webhook url that is not http(s): %s',
    (url) => {
      expect(problems(() => parseConfig(withCluster({ targets: [webhook({ url })] })))).toEqual([
        { path: 'clusters[0].targets[0].url', message: 'must be an http(s) URL' },
      ]);
    },
  );

  it('accepts a plain http webhook url', () => {
    const [cluster] = parseConfig(
      withCluster({ targets: [webhook({ url: 'http://hooks.example:9000/hook' })] }),
    ).clusters;

    expect(cluster?.targets[0]).toMatchObject({ url: 'http://hooks.example:9000/hook' });
  });

  const EXACTLY_ONE_SECRET = {
    path: 'clusters[0].targets[0]',
    message: expect.stringMatching(/exactly one of secretId \(.+\) or secretEnv \(.+\)$/),
  };

  it('rejects a webhook with neither secretId nor secretEnv (a signed webhook needs a secret)', () => {
    const { secretEnv: _, ...unsigned } = webhook();

    expect(problems(() => parseConfig(withCluster({ targets: [unsigned] })))).toEqual([EXACTLY_ONE_SECRET]);
  });

  it('rejects a webhook with both secretId and secretEnv: one key, read from one place', () => {
    const both = webhook({ secretId: 'failover/webhook' });

    expect(problems(() => parseConfig(withCluster({ targets: [both] })))).toEqual([EXACTLY_ONE_SECRET]);
  });

  it.each([
    'failover/webhook',
    'prod_hook+key=1.2@ops-x',
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:failover/webhook-AbC123',
    'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:hook-a1B2c3',
  ])('accepts secretId %s (a secret name or its complete ARN)', (secretId) => {
    const { secretEnv: _, ...rest } = webhook();
    const [cluster] = parseConfig(withCluster({ targets: [{ ...rest, secretId }] })).clusters;

    expect(cluster?.targets[0]).toMatchObject({ secretId });
  });

  it.each([
    ['an empty name', ''],
    ['a name with a space', 'failover webhook'],
    ['a name with a colon', 'failover:webhook'],
    [
      'an ARN without the random suffix',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:failover/webhook',
    ],
    ['an ARN of another service', 'arn:aws:ssm:eu-west-1:123456789012:parameter/failover/webhook'],
    ['an ARN with a short account', 'arn:aws:secretsmanager:eu-west-1:1234:secret:hook-a1B2c3'],
  ])('rejects secretId as %s', (_what, secretId) => {
    const { secretEnv: _, ...rest } = webhook();

    expect(problems(() => parseConfig(withCluster({ targets: [{ ...rest, secretId }] })))).toEqual([
      {
        path: 'clusters[0].targets[0].secretId',
        message: 'must be a Secrets Manager secret name or its complete ARN',
      },
    ]);
  });

  it('lists every bad field, not only the first', () => {
    const config = {
      clusters: [
        withCluster({ heartbeatIntervalSeconds: 0, nodes: [node('a'), node('b', { tokenSha256: 'nope' })] })
          .clusters[0],
        withCluster({ nodes: [node('a'), node('a')], surprise: 1 }).clusters[0],
      ],
    };

    expect(problems(() => parseConfig(config)).map((p) => p.path)).toEqual(
      expect.arrayContaining([
        'clusters[0].heartbeatIntervalSeconds',
        'clusters[0].nodes[1].tokenSha256',
        'clusters[1].surprise',
        'clusters[1].nodes[1].id',
        'clusters[1].id',
      ]),
    );
    expect(problems(() => parseConfig(config))).toHaveLength(5);
  });

  it('names the source in the first line of the message', () => {
    expect(configError(() => parseConfig({}, 'clusters.json')).message).toMatch(/^invalid clusters\.json:\n/);
  });
});

describe('parseConfigText', () => {
  it('parses JSON text into the same config as parseConfig', () => {
    const value = withCluster({ targets: [{ type: 'log' }] });

    expect(parseConfigText(JSON.stringify(value))).toEqual(parseConfig(value));
  });

  it('rejects text that is not JSON with a ConfigError naming the source', () => {
    expect(configError(() => parseConfigText('{ "clusters": [', 'clusters.json')).message).toMatch(
      /^invalid clusters\.json: not valid JSON/,
    );
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'failover-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and validates a config file', () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify(withCluster({ heartbeatIntervalSeconds: 1 })));

    expect(loadConfigFile(path).clusters[0]).toMatchObject({ id: 'db', leaseMs: 3_000 });
  });

  it('names the file in a validation error', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify(withCluster({ missedBeats: 0 })));

    const message = configError(() => loadConfigFile(path)).message;
    expect(message).toContain(`invalid ${path}:`);
    expect(message).toContain('clusters[0].missedBeats');
  });

  it('names the file when it is not JSON', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, 'clusters: []');

    expect(configError(() => loadConfigFile(path)).message).toContain(`invalid ${path}: not valid JSON`);
  });

  it('fails with a ConfigError naming the path when the file does not exist', () => {
    const path = join(dir, 'missing.json');

    expect(configError(() => loadConfigFile(path)).message).toContain(`cannot read config file ${path}`);
  });
});

describe('parseConfig: multi-Region (regions, witnessRegion)', () => {
  const regions = (fields: Record<string, unknown>) => ({ ...withCluster({}), ...fields });

  it('accepts three Regions of one MRSC set, or two and a witness, and none at all', () => {
    expect(parseConfig(regions({ regions: ['us-east-1', 'us-east-2', 'us-west-2'] })).regions).toEqual([
      'us-east-1',
      'us-east-2',
      'us-west-2',
    ]);
    expect(
      parseConfig(regions({ regions: ['eu-west-1', 'eu-central-1'], witnessRegion: 'eu-west-3' })),
    ).toMatchObject({ regions: ['eu-west-1', 'eu-central-1'], witnessRegion: 'eu-west-3' });
    expect(parseConfig(withCluster({})).regions).toBeUndefined();
  });

  it.each([
    [
      { regions: ['us-east-1', 'eu-west-1', 'us-west-2'] },
      'regions',
      /^multi-Region strong consistency needs all three Regions from one set \(US: /,
    ],
    [{ regions: ['us-east-1', 'us-east-2'] }, 'witnessRegion', /^required with two regions/],
    [
      { regions: ['us-east-1', 'us-east-2', 'us-west-2'], witnessRegion: 'us-west-2' },
      'witnessRegion',
      /^not allowed with three regions/,
    ],
    [
      { regions: ['us-east-1', 'us-east-1', 'us-west-2'] },
      'regions',
      /^the Regions \(and the witness\) must differ$/,
    ],
    [{ regions: ['us-east-1'] }, 'regions', /^must list 2 or 3 Regions$/],
    [
      { regions: ['US East'], witnessRegion: 'us-east-2' },
      'regions[0]',
      /^must be a Region name such as us-east-1$/,
    ],
    [{ witnessRegion: 'us-east-2' }, 'witnessRegion', /^needs regions/],
  ])('rejects %j, naming %s', (fields, path, message) => {
    const [problem] = problems(() => parseConfig(regions(fields)));
    expect(problem?.path).toBe(path);
    expect(problem?.message).toMatch(message);
  });
});
