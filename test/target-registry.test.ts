/**
 * The target registry is the one list of target kinds: every type the config accepts has a
 * factory and IAM statements, and what a kind asks of each node is enforced at start with
 * a message naming the node and the field.
 */
import { describe, expect, it } from 'vitest';
import { type ConfigInput, parseConfig, type TargetConfig } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { buildTargets } from '../shared/targets/index.js';
import { environmentOf, kindOf, NODE_FIELDS, TARGET_KINDS } from '../shared/targets/registry.js';

type TargetInput = NonNullable<ConfigInput['clusters'][number]['targets']>[number];
type NodeInput = ConfigInput['clusters'][number]['nodes'][number];

const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012';
/** Where the IAM statements are for. */
const SCOPE = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
const LISTENER = `${ARN}:listener/app/lb/50dc6c495c0c9188/f2f7dc8efc522ab2`;

/** One valid target of every type: adding a kind to the registry fails to compile here until it has one. */
const SAMPLES = {
  route53: {
    type: 'route53',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    recordName: 'db.example.com',
    recordType: 'A',
  },
  'elbv2-targets': { type: 'elbv2-targets', targetGroupArn: `${ARN}:targetgroup/shared/50dc6c495c0c9188` },
  'elbv2-weights': { type: 'elbv2-weights', listenerArn: LISTENER },
  'elbv2-health': {
    type: 'elbv2-health',
    targetGroupArn: `${ARN}:targetgroup/active/50dc6c495c0c9188`,
    healthPort: 8008,
  },
  'route53-health': {
    type: 'route53-health',
    hostedZoneId: 'Z0123456789ABCDEFGHIJ',
    recordName: 'db.example.com',
    recordType: 'A',
    routing: 'failover',
    healthPort: 8008,
  },
  webhook: { type: 'webhook', url: 'https://hooks.example/failover', secretEnv: 'HOOK_SECRET' },
  log: { type: 'log' },
} satisfies { [T in TargetConfig['type']]: TargetInput & { type: T } };

/** A node that gives every field any kind asks for. */
const node = (id: string, i: number): NodeInput => ({
  id,
  address: `10.0.0.${i + 1}`,
  tokenSha256: 'a'.repeat(64),
  targetId: `i-${i}`,
  targetGroupArn: `${ARN}:targetgroup/db-${id}/50dc6c495c0c9188`,
});

const withTarget = (target: TargetInput, nodes = [node('a', 0), node('b', 1)]): ConfigInput => ({
  clusters: [{ id: 'db', nodes, targets: [target] }],
});

/** The lines of the ConfigError, without its "invalid config:" header. */
function errors(input: ConfigInput): string[] {
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

describe('the target registry', () => {
  it('lists exactly the target types the config accepts', () => {
    expect(TARGET_KINDS.map((k) => k.type).sort()).toEqual(Object.keys(SAMPLES).sort());
    expect(() => parseConfig(withTarget({ type: 'sns' } as unknown as TargetInput))).toThrow(
      /unknown target type \(expected one of route53, elbv2-targets, elbv2-weights, elbv2-health, route53-health, webhook, log\)/,
    );
  });

  it.each(Object.values(SAMPLES))('has a factory and IAM statements for $type', (sample) => {
    const config = parseConfig(withTarget(sample));
    const [target] = config.clusters[0]?.targets ?? [];
    if (target === undefined) throw new Error('no target parsed');
    const env = Object.fromEntries(environmentOf(target).map(({ name }) => [name, 'secret']));

    const built = buildTargets(config, silentLogger, env, {
      aws: {
        route53: () => expect.fail('no client before first use'),
        elbv2: () => expect.fail('no client before first use'),
      },
    }).get('db');

    expect(built?.map((t) => [t.id, t.type])).toEqual([[sample.type, sample.type]]);
    const statements = kindOf(sample.type).iam([target], SCOPE);
    for (const statement of statements) {
      expect(statement.actions.length).toBeGreaterThan(0);
      expect(statement.resources.length).toBeGreaterThan(0);
      // A wildcard resource always says why it cannot be narrower (the cdk-nag acknowledgement).
      if (statement.resources.some((r) => r.includes('*'))) expect(statement.wildcardReason).toBeTruthy();
    }
  });

  // route53-health calls no API at run time: the stack creates its health checks and records.
  it('gives the kinds that call AWS at run time IAM statements and the others none', () => {
    const withStatements = TARGET_KINDS.filter((k) => k.iam([parsed(k.type)], SCOPE).length > 0);
    expect(withStatements.map((k) => k.type).sort()).toEqual([
      'elbv2-health',
      'elbv2-targets',
      'elbv2-weights',
      'route53',
    ]);
  });

  it('gives a node field asked for by several kinds one schema (a node has one value for it)', () => {
    const declared = TARGET_KINDS.flatMap((k) => Object.entries(k.nodeFields ?? {}));
    expect(declared.length).toBeGreaterThan(0);
    for (const [field, schema] of declared) {
      expect(new Set(declared.filter(([f]) => f === field).map(([, s]) => s)).size, field).toBe(1);
      expect(NODE_FIELDS[field as keyof typeof NODE_FIELDS].def.innerType).toBe(schema);
    }
  });

  const required = TARGET_KINDS.flatMap((k) =>
    Object.keys(k.nodeFields ?? {}).map((field) => ({ type: k.type as keyof typeof SAMPLES, field })),
  );
  it.each(required)(
    'rejects a node without the $field a $type target needs, naming node and field',
    ({ type, field }) => {
      const { [field as keyof NodeInput]: _omit, ...lacking } = node('a', 0);

      expect(errors(withTarget(SAMPLES[type], [lacking as NodeInput, node('b', 1)]))).toEqual([
        `clusters[0].nodes[0].${field}: required by targets[0] (${type})`,
      ]);
    },
  );
});

function parsed(type: string): TargetConfig {
  const target = parseConfig(withTarget(SAMPLES[type as keyof typeof SAMPLES])).clusters[0]?.targets[0];
  if (target === undefined) throw new Error(`no ${type} target parsed`);
  return target;
}
