/**
 * Config validation for the Route 53 and ELBv2 targets: a bad target or a node that lacks
 * what its cluster's targets need fails at start (or at synth) with a message naming the
 * exact field, never at the first failover.
 */
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import { describe, expect, it } from 'vitest';
import { type ConfigInput, parseConfig } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { buildTargets, type TargetChange } from '../shared/targets/index.js';

const HASH = 'a'.repeat(64);
const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012';
const GROUP = (name: string) => `${ARN}:targetgroup/${name}/50dc6c495c0c9188`;
const LISTENER = `${ARN}:listener/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const RULE = `${ARN}:listener-rule/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee`;
const ZONE = 'Z0123456789ABCDEFGHIJ';
const CHANGE_FOR_TEST: TargetChange = {
  cluster: 'db',
  active: 'a',
  address: '10.0.0.1',
  members: [{ id: 'a', address: '10.0.0.1' }],
  epoch: 1,
  previous: null,
  reason: 'test',
  at: 0,
};

type TargetInput = NonNullable<ConfigInput['clusters'][number]['targets']>[number];
type NodeInput = ConfigInput['clusters'][number]['nodes'][number];

/** A node that satisfies every target type: tests remove or break one field. */
function node(id: string, i: number, overrides: Partial<NodeInput> = {}): NodeInput {
  return {
    id,
    address: `10.0.0.${i + 1}`,
    tokenSha256: HASH,
    targetId: `10.0.0.${i + 1}`,
    targetGroupArn: GROUP(`db-${id}`),
    ...overrides,
  };
}

function config(targets: TargetInput[], nodes: NodeInput[] = [node('a', 0), node('b', 1)]): ConfigInput {
  return { clusters: [{ id: 'db', nodes, targets }] };
}

/** The lines of the ConfigError message, without the "invalid config:" header. */
function errors(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((line) => line.trim());
  }
  throw new Error('expected parseConfig to reject the config');
}

const route53 = (extra: Partial<Extract<TargetInput, { type: 'route53' }>> = {}): TargetInput => ({
  type: 'route53',
  hostedZoneId: ZONE,
  recordName: 'db.example.com',
  recordType: 'A',
  ...extra,
});

describe('route53 target config', () => {
  it('defaults the TTL to 10 s and the id to the type, and keeps the other fields as given', () => {
    const parsed = parseConfig(config([route53()]));
    expect(parsed.clusters[0]?.targets).toEqual([
      {
        type: 'route53',
        id: 'route53',
        hostedZoneId: ZONE,
        recordName: 'db.example.com',
        recordType: 'A',
        ttl: 10,
      },
    ]);
  });

  it('accepts the zone id as Route 53 returns it (/hostedzone/Z…), a trailing dot, TTL 0 and an explicit id', () => {
    const parsed = parseConfig(
      config([
        route53({ id: 'dns', hostedZoneId: `/hostedzone/${ZONE}`, recordName: 'db.example.com.', ttl: 0 }),
      ]),
    );
    expect(parsed.clusters[0]?.targets[0]).toMatchObject({
      id: 'dns',
      hostedZoneId: `/hostedzone/${ZONE}`,
      ttl: 0,
    });
  });

  it('rejects a route53 target without hostedZoneId, naming the field', () => {
    const { hostedZoneId: _omit, ...target } = route53() as Extract<TargetInput, { type: 'route53' }>;
    expect(errors(config([target as TargetInput]))).toEqual([
      'clusters[0].targets[0].hostedZoneId: required',
    ]);
  });

  it.each([
    ['a zone name instead of its id', 'example.com'],
    ['lower case', 'z0123456789abcdefghij'],
    ['an id that does not start with Z', 'A0123456789ABCDEFGHIJ'],
  ])('rejects a hosted zone id that is %s', (_what, hostedZoneId) => {
    expect(errors(config([route53({ hostedZoneId })]))).toEqual([
      'clusters[0].targets[0].hostedZoneId: must be a hosted zone id such as Z0123456789ABCDEFGHIJ',
    ]);
  });

  it('rejects a record name that is not a DNS name, a record type it cannot manage and a TTL over 2 days', () => {
    expect(
      errors(config([route53({ recordName: 'db..example.com', recordType: 'MX' as 'A', ttl: 172_801 })])),
    ).toEqual([
      'clusters[0].targets[0].recordName: must be a DNS name',
      "clusters[0].targets[0].recordType: must be 'A', 'AAAA' or 'CNAME'",
      'clusters[0].targets[0].ttl: must be at most 172800',
    ]);
  });

  it('rejects an A record for a node whose address is not IPv4, naming nodes[i].address', () => {
    const nodes = [
      node('a', 0),
      node('b', 1, { address: 'db-b.internal' }),
      node('c', 2, { address: '2001:db8::3' }),
    ];
    expect(errors(config([route53()], nodes))).toEqual([
      'clusters[0].nodes[1].address: must be an IPv4 address for targets[0] (route53 A)',
      'clusters[0].nodes[2].address: must be an IPv4 address for targets[0] (route53 A)',
    ]);
  });

  it('rejects an AAAA record for a node with an IPv4 address, and accepts IPv6 addresses', () => {
    const v6 = [node('a', 0, { address: '2001:db8::1' }), node('b', 1, { address: '10.0.0.2' })];
    expect(errors(config([route53({ recordType: 'AAAA' })], v6))).toEqual([
      'clusters[0].nodes[1].address: must be an IPv6 address for targets[0] (route53 AAAA)',
    ]);
  });

  it('rejects a CNAME for a node whose address is an IP, and accepts host names', () => {
    const names = [
      node('a', 0, { address: 'db-a.internal.example.com' }),
      node('b', 1, { address: '10.0.0.2' }),
    ];
    expect(errors(config([route53({ recordType: 'CNAME' })], names))).toEqual([
      'clusters[0].nodes[1].address: must be a host name for targets[0] (route53 CNAME)',
    ]);
  });

  it('checks every route53 target against every node, naming the target index', () => {
    const nodes = [node('a', 0), node('b', 1)];
    expect(
      errors(
        config([route53(), route53({ id: 'v6', recordName: 'db6.example.com', recordType: 'AAAA' })], nodes),
      ),
    ).toEqual([
      'clusters[0].nodes[0].address: must be an IPv6 address for targets[1] (route53 AAAA)',
      'clusters[0].nodes[1].address: must be an IPv6 address for targets[1] (route53 AAAA)',
    ]);
  });

  it('rejects an unknown field in a route53 target instead of ignoring it', () => {
    expect(errors(config([{ ...route53(), weight: 10 } as unknown as TargetInput]))).toEqual([
      'clusters[0].targets[0].weight: unknown field',
    ]);
  });
});

describe('elbv2-targets config', () => {
  it('accepts a target group ARN and an optional port, and leaves the port out when not given', () => {
    const parsed = parseConfig(
      config([
        { type: 'elbv2-targets', targetGroupArn: GROUP('shared'), port: 5432 },
        { type: 'elbv2-targets', id: 'no-port', targetGroupArn: GROUP('other') },
      ]),
    );
    expect(parsed.clusters[0]?.targets).toEqual([
      { type: 'elbv2-targets', id: 'elbv2-targets', targetGroupArn: GROUP('shared'), port: 5432 },
      { type: 'elbv2-targets', id: 'no-port', targetGroupArn: GROUP('other') },
    ]);
  });

  it('rejects an elbv2-targets target without targetGroupArn, naming the field', () => {
    expect(errors(config([{ type: 'elbv2-targets' } as TargetInput]))).toEqual([
      'clusters[0].targets[0].targetGroupArn: required',
    ]);
  });

  it('rejects a node without the targetId the elbv2-targets target needs, naming node and target', () => {
    const nodes = [node('a', 0), node('b', 1, { targetId: undefined })];
    expect(errors(config([{ type: 'elbv2-targets', targetGroupArn: GROUP('shared') }], nodes))).toEqual([
      'clusters[0].nodes[1].targetId: required by targets[0] (elbv2-targets)',
    ]);
  });

  it.each([
    [
      'an account id that is not 12 digits',
      `arn:aws:elasticloadbalancing:us-east-1:1234:targetgroup/x/50dc6c495c0c9188`,
    ],
    ['a listener ARN', LISTENER],
    ['a name instead of an ARN', 'db-shared'],
    ['another service', 'arn:aws:ec2:us-east-1:123456789012:targetgroup/x/50dc6c495c0c9188'],
  ])('rejects a target group ARN that is %s', (_what, targetGroupArn) => {
    expect(errors(config([{ type: 'elbv2-targets', targetGroupArn }]))).toEqual([
      'clusters[0].targets[0].targetGroupArn: must be a target group ARN',
    ]);
  });

  it('rejects a port outside 1-65535', () => {
    expect(
      errors(config([{ type: 'elbv2-targets', targetGroupArn: GROUP('shared'), port: 70_000 }])),
    ).toEqual(['clusters[0].targets[0].port: must be at most 65535']);
  });
});

describe('elbv2-weights config', () => {
  it('accepts either a listener ARN or a rule ARN, including the GovCloud partition', () => {
    const gov = LISTENER.replace('arn:aws:', 'arn:aws-us-gov:').replace('us-east-1', 'us-gov-west-1');
    const parsed = parseConfig(
      config([
        { type: 'elbv2-weights', listenerArn: LISTENER },
        { type: 'elbv2-weights', id: 'rule', ruleArn: RULE },
        { type: 'elbv2-weights', id: 'gov', listenerArn: gov },
      ]),
    );
    expect(parsed.clusters[0]?.targets.map((t) => t.id)).toEqual(['elbv2-weights', 'rule', 'gov']);
  });

  it('rejects an elbv2-weights target with neither listenerArn nor ruleArn', () => {
    expect(errors(config([{ type: 'elbv2-weights' }]))).toEqual([
      'clusters[0].targets[0].listenerArn: give exactly one of listenerArn or ruleArn',
    ]);
  });

  it('rejects an elbv2-weights target with both listenerArn and ruleArn', () => {
    expect(errors(config([{ type: 'elbv2-weights', listenerArn: LISTENER, ruleArn: RULE }]))).toEqual([
      'clusters[0].targets[0].listenerArn: give exactly one of listenerArn or ruleArn',
    ]);
  });

  it('rejects a node without the targetGroupArn the elbv2-weights target needs, naming node and target', () => {
    const nodes = [node('a', 0, { targetGroupArn: undefined }), node('b', 1)];
    expect(errors(config([route53(), { type: 'elbv2-weights', listenerArn: LISTENER }], nodes))).toEqual([
      'clusters[0].nodes[0].targetGroupArn: required by targets[1] (elbv2-weights)',
    ]);
  });

  it('rejects malformed listener and rule ARNs, and a malformed node targetGroupArn', () => {
    const nodes = [node('a', 0, { targetGroupArn: `${ARN}:targetgroup/db-a` }), node('b', 1)];
    expect(
      errors(
        config(
          [
            { type: 'elbv2-weights', listenerArn: GROUP('db-a') },
            { type: 'elbv2-weights', id: 'rule', ruleArn: LISTENER },
          ],
          nodes,
        ),
      ),
    ).toEqual([
      'clusters[0].nodes[0].targetGroupArn: must be a target group ARN',
      'clusters[0].targets[0].listenerArn: must be a listener ARN',
      'clusters[0].targets[1].ruleArn: must be a listener rule ARN',
    ]);
  });
});

describe('health-routed targets config (elbv2-health, route53-health)', () => {
  const elbv2Health = (extra: Partial<Extract<TargetInput, { type: 'elbv2-health' }>> = {}): TargetInput => ({
    type: 'elbv2-health',
    targetGroupArn: GROUP('active'),
    healthPort: 8008,
    ...extra,
  });
  const route53Health = (
    extra: Partial<Extract<TargetInput, { type: 'route53-health' }>> = {},
  ): TargetInput => ({
    type: 'route53-health',
    hostedZoneId: ZONE,
    recordName: 'db.example.com',
    recordType: 'A',
    routing: 'failover',
    healthPort: 8008,
    ...extra,
  });

  it('accepts both beside API-driven targets in one cluster, defaulting the record TTL to 10 s', () => {
    const parsed = parseConfig(
      config([
        elbv2Health({
          port: 5432,
          securityGroup: { vpcId: 'vpc-0123456789abcdef0', allowFrom: 'sg-0123456789abcdef0' },
        }),
        route53Health({
          securityGroup: { vpcId: 'vpc-0123456789abcdef0', allowFrom: 'pl-0123456789abcdef0' },
        }),
        route53(),
        { type: 'log' },
      ]),
    );
    expect(parsed.clusters[0]?.targets.map((t) => t.id)).toEqual([
      'elbv2-health',
      'route53-health',
      'route53',
      'log',
    ]);
    expect(parsed.clusters[0]?.targets[1]).toMatchObject({ ttl: 10, routing: 'failover' });
  });

  it('rejects either without healthPort, naming the field', () => {
    const { healthPort: _a, ...noPortElb } = elbv2Health() as Extract<TargetInput, { type: 'elbv2-health' }>;
    const { healthPort: _b, ...noPortDns } = route53Health() as Extract<
      TargetInput,
      { type: 'route53-health' }
    >;
    expect(errors(config([noPortElb as TargetInput, noPortDns as TargetInput]))).toEqual([
      'clusters[0].targets[0].healthPort: required',
      'clusters[0].targets[1].healthPort: required',
    ]);
  });

  it('rejects a node without the targetId elbv2-health registers it under, naming node and target', () => {
    const nodes = [node('a', 0, { targetId: undefined }), node('b', 1)];
    expect(errors(config([elbv2Health()], nodes))).toEqual([
      'clusters[0].nodes[0].targetId: required by targets[0] (elbv2-health)',
    ]);
  });

  it('rejects a health port equal to the traffic port', () => {
    expect(errors(config([elbv2Health({ port: 8008 })]))).toEqual([
      'clusters[0].targets[0].healthPort: must differ from port (the agent serves its health port alone; the load balancer would check the application instead)',
    ]);
  });

  it('rejects both in active-active mode, naming the mode: /active answers 200 on the leader alone', () => {
    const input = config([elbv2Health(), route53Health()]);
    const cluster = input.clusters[0] as (typeof input.clusters)[number];
    expect(errors({ clusters: [{ ...cluster, mode: 'active-active' }] })).toEqual([
      'clusters[0].mode: targets[0] (elbv2-health) routes to the one node whose /active answers 200: use active-passive mode, or API-driven targets',
      'clusters[0].mode: targets[1] (route53-health) routes to the one node whose /active answers 200: use active-passive mode, or API-driven targets',
    ]);
  });

  it('rejects a failover pair for a cluster of three nodes, and accepts multivalue records for it', () => {
    const three = [node('a', 0), node('b', 1), node('c', 2)];
    expect(errors(config([route53Health()], three))).toEqual([
      "clusters[0].targets[0].routing: a failover pair takes exactly two nodes (primary and secondary), the cluster has 3: use 'multivalue'",
    ]);
    expect(() => parseConfig(config([route53Health({ routing: 'multivalue' })], three))).not.toThrow();
  });

  it('rejects a node address the health-checked record cannot hold, and a CNAME', () => {
    const nodes = [node('a', 0), node('b', 1, { address: 'db2.example.com' })];
    expect(errors(config([route53Health()], nodes))).toEqual([
      'clusters[0].nodes[1].address: must be an IPv4 address for targets[0] (route53-health A)',
    ]);
    expect(errors(config([route53Health({ recordType: 'CNAME' as 'A' })]))).toEqual([
      "clusters[0].targets[0].recordType: must be 'A' or 'AAAA'",
    ]);
  });

  it("applies route53-health with no AWS client at all: its health checks and records are the stack's", async () => {
    const [target] =
      buildTargets(
        parseConfig(config([route53Health()])),
        silentLogger,
        {},
        {
          aws: {
            route53: () => expect.fail('route53-health asked for a Route 53 client'),
            elbv2: () => expect.fail('route53-health asked for an ELBv2 client'),
          },
        },
      ).get('db') ?? [];

    await expect(target?.apply(CHANGE_FOR_TEST, 0)).resolves.toEqual({
      routing: 'Route 53 health checks on /active: no API call',
    });
    expect(target?.observe).toBeUndefined();
  });

  it('rejects a security group whose VPC or source is not what the kind admits', () => {
    expect(
      errors(
        config([
          elbv2Health({ securityGroup: { vpcId: 'vpc-1', allowFrom: 'pl-0123456789abcdef0' } }),
          route53Health({
            securityGroup: { vpcId: 'vpc-0123456789abcdef0', allowFrom: 'sg-0123456789abcdef0' },
          }),
        ]),
      ),
    ).toEqual([
      'clusters[0].targets[0].securityGroup.vpcId: must be a VPC id such as vpc-0123456789abcdef0',
      "clusters[0].targets[0].securityGroup.allowFrom: must be the load balancer's security group id (sg-…) or the CIDR of its subnets",
      "clusters[0].targets[1].securityGroup.allowFrom: must be the id (pl-…) of the AWS-managed prefix list of Route 53's health checkers, or a CIDR",
    ]);
  });
});

describe('node fields and targets together', () => {
  it('accepts nodes without targetId / targetGroupArn when no target of the cluster needs them', () => {
    const nodes = [node('a', 0, { targetId: undefined, targetGroupArn: undefined })];
    expect(() => parseConfig(config([route53()], nodes))).not.toThrow();
  });

  it('lists every missing node field at once, for every node and target', () => {
    const nodes = [
      node('a', 0, { targetId: undefined }),
      node('b', 1, { targetId: undefined, targetGroupArn: undefined }),
    ];
    expect(
      errors(
        config(
          [
            { type: 'elbv2-targets', targetGroupArn: GROUP('shared') },
            { type: 'elbv2-weights', listenerArn: LISTENER },
          ],
          nodes,
        ),
      ),
    ).toEqual([
      'clusters[0].nodes[0].targetId: required by targets[0] (elbv2-targets)',
      'clusters[0].nodes[1].targetId: required by targets[0] (elbv2-targets)',
      'clusters[0].nodes[1].targetGroupArn: required by targets[1] (elbv2-weights)',
    ]);
  });
});

describe('buildTargets for AWS targets', () => {
  it('builds one target per config entry, in order, with its id and type, loading SDK code only on first use', async () => {
    const parsed = parseConfig(
      config([
        route53(),
        { type: 'elbv2-targets', targetGroupArn: GROUP('shared') },
        { type: 'elbv2-weights', listenerArn: LISTENER },
        { type: 'elbv2-weights', id: 'rule', ruleArn: RULE },
      ]),
    );
    const r53 = new Route53Client({ region: 'us-east-1' });
    const elb = new ElasticLoadBalancingV2Client({ region: 'us-east-1' });
    const asked: string[] = [];
    const targets = buildTargets(
      parsed,
      silentLogger,
      {},
      {
        aws: {
          route53: () => {
            asked.push('route53');
            return r53;
          },
          elbv2: () => {
            asked.push('elbv2');
            return elb;
          },
        },
      },
    ).get('db');

    expect(targets?.map((t) => [t.id, t.type])).toEqual([
      ['route53', 'route53'],
      ['elbv2-targets', 'elbv2-targets'],
      ['elbv2-weights', 'elbv2-weights'],
      ['rule', 'elbv2-weights'],
    ]);
    expect(targets?.every((t) => typeof t.observe === 'function')).toBe(true);
    // Nothing asked for a client yet: the SDK packages load when a target is first used.
    expect(asked).toEqual([]);
    // A call that fails fast (no time left) still builds the target on the injected client.
    await expect(targets?.[0]?.apply(CHANGE_FOR_TEST, 0)).rejects.toThrow(/gave up at the deadline/);
    expect(asked).toEqual(['route53']);
    r53.destroy();
    elb.destroy();
  });
});
