/**
 * The one cluster-config schema, used by the local server, the Lambdas and the CDK app.
 * A bad config fails at start (or at synth) with a message naming the field.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as z from 'zod/mini';
import { ConfigError } from './errors.js';
import { closest } from './suggest.js';

// zod/mini: the same validation as zod, tree-shakable, so Lambda bundles stay small.
const ID = /^[a-z0-9](?:[a-z0-9_-]{0,62})$/;
const id = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .check(
      z.regex(ID, `${what} must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit`),
    );

const sha256 = z
  .string({ error: 'must be a string' })
  .check(
    z.regex(
      /^[0-9a-f]{64}$/,
      'must be 64 lowercase hex characters (the SHA-256 of the token; see `failover token`)',
    ),
  );

const int = (min: number, max: number) =>
  z
    .int({ error: 'must be a whole number' })
    .check(z.minimum(min, `must be at least ${min}`), z.maximum(max, `must be at most ${max}`));

const arn = (kind: string, pattern: RegExp) =>
  z.string({ error: `must be ${kind} ARN` }).check(z.regex(pattern, `must be ${kind} ARN`));
const ELB_ARN = 'arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\\d{12}:';
const targetGroupArn = arn('a target group', new RegExp(`^${ELB_ARN}targetgroup/[\\w-]+/[0-9a-f]+$`));
const listenerArn = arn(
  'a listener',
  new RegExp(`^${ELB_ARN}listener/(app|net|gwy)/[\\w-]+/[0-9a-f]+/[0-9a-f]+$`),
);
const ruleArn = arn(
  'a listener rule',
  new RegExp(`^${ELB_ARN}listener-rule/(app|net)/[\\w-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$`),
);

const NodeSchema = z.strictObject({
  id: id('node id'),
  /** What DNS points to, or what a webhook receiver is told: an IP address or host name. */
  address: z
    .string({ error: 'must be a string' })
    .check(z.minLength(1, 'must not be empty'), z.maxLength(253)),
  tokenSha256: sha256,
  /** For `elbv2-targets`: the instance id or IP registered in the target group. */
  targetId: z.optional(z.string({ error: 'must be a string' }).check(z.minLength(1), z.maxLength(255))),
  /** For `elbv2-weights`: this node's own target group behind the listener or rule. */
  targetGroupArn: z.optional(targetGroupArn),
});

const WebhookTargetSchema = z.strictObject({
  type: z.literal('webhook'),
  id: z.optional(id('target id')),
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** Name of the environment variable that holds the HMAC secret (the secret itself never sits in the config). */
  secretEnv: z
    .string({ error: 'must be the name of an environment variable' })
    .check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')),
  /** Per-attempt timeout; attempts repeat with backoff until the apply budget runs out. */
  timeoutMs: z._default(int(100, 30_000), 2_000),
});

const LogTargetSchema = z.strictObject({
  type: z.literal('log'),
  id: z.optional(id('target id')),
});

const Route53TargetSchema = z.strictObject({
  type: z.literal('route53'),
  id: z.optional(id('target id')),
  hostedZoneId: z
    .string({ error: 'must be a hosted zone id' })
    .check(
      z.regex(/^(\/hostedzone\/)?Z[A-Z0-9]{1,32}$/, 'must be a hosted zone id such as Z0123456789ABCDEFGHIJ'),
    ),
  recordName: z
    .string({ error: 'must be a DNS name' })
    .check(
      z.regex(
        /^(?=.{1,254}$)([a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.?$/,
        'must be a DNS name',
      ),
    ),
  recordType: z.enum(['A', 'AAAA', 'CNAME'], "must be 'A', 'AAAA' or 'CNAME'"),
  ttl: z._default(int(0, 172_800), 10),
});

const Elbv2TargetsSchema = z.strictObject({
  type: z.literal('elbv2-targets'),
  id: z.optional(id('target id')),
  targetGroupArn,
  port: z.optional(int(1, 65_535)),
});

const Elbv2WeightsSchema = z
  .strictObject({
    type: z.literal('elbv2-weights'),
    id: z.optional(id('target id')),
    listenerArn: z.optional(listenerArn),
    ruleArn: z.optional(ruleArn),
  })
  .check(
    z.refine((t) => (t.listenerArn === undefined) !== (t.ruleArn === undefined), {
      message: 'give exactly one of listenerArn or ruleArn',
      path: ['listenerArn'],
    }),
  );

const TARGET_TYPES = ['route53', 'elbv2-targets', 'elbv2-weights', 'webhook', 'log'];
const TargetSchema = z.discriminatedUnion(
  'type',
  [Route53TargetSchema, Elbv2TargetsSchema, Elbv2WeightsSchema, WebhookTargetSchema, LogTargetSchema],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown target type (expected one of ${TARGET_TYPES.join(', ')})`
        : undefined,
  },
);

/** What each node must provide for the cluster's targets; issues name the node field. */
function checkNodesFitTargets(
  cluster: {
    mode: string;
    nodes: Array<z.output<typeof NodeSchema>>;
    targets: Array<z.output<typeof TargetSchema>>;
  },
  issue: (path: (string | number)[], message: string) => void,
): void {
  cluster.targets.forEach((target, t) => {
    const where = `targets[${t}] (${target.type})`;
    const by = `required by ${where}`;
    cluster.nodes.forEach((node, n) => {
      switch (target.type) {
        case 'elbv2-targets':
          if (node.targetId === undefined) issue(['nodes', n, 'targetId'], by);
          break;
        case 'elbv2-weights':
          if (node.targetGroupArn === undefined) issue(['nodes', n, 'targetGroupArn'], by);
          else if (cluster.nodes.findIndex((o) => o.targetGroupArn === node.targetGroupArn) < n) {
            issue(
              ['nodes', n, 'targetGroupArn'],
              `must differ from the other nodes' (each node needs its own group for ${where})`,
            );
          }
          break;
        case 'route53': {
          if (n === 0 && cluster.mode === 'active-active' && target.recordType === 'CNAME') {
            issue(
              ['targets', t, 'recordType'],
              'a CNAME holds one name: use A or AAAA records in active-active mode',
            );
          }
          const family = isIP(node.address);
          const ok =
            target.recordType === 'A'
              ? family === 4
              : target.recordType === 'AAAA'
                ? family === 6
                : family === 0;
          const want = { A: 'an IPv4 address', AAAA: 'an IPv6 address', CNAME: 'a host name' }[
            target.recordType
          ];
          if (!ok)
            issue(
              ['nodes', n, 'address'],
              `must be ${want} for targets[${t}] (route53 ${target.recordType})`,
            );
          break;
        }
        default:
          break;
      }
    });
  });
}

const ClusterSchema = z
  .strictObject({
    id: id('cluster id'),
    heartbeatIntervalSeconds: z._default(int(1, 3600), 5),
    missedBeats: z._default(int(1, 100), 3),
    /**
     * active-passive: targets follow the active node. active-active: targets follow every
     * alive, eligible node, while a leader is still elected for singleton work.
     */
    mode: z._default(
      z.enum(['active-passive', 'active-active'], "must be 'active-passive' or 'active-active'"),
      'active-passive',
    ),
    /** sticky: the role stays where a failover put it; preferred: the highest-priority node takes it back. */
    failback: z._default(z.enum(['sticky', 'preferred'], "must be 'sticky' or 'preferred'"), 'sticky'),
    /** preferred failback: how long the preferred node must be alive and ok before it takes the role back. */
    failbackHoldDownSeconds: z._default(int(0, 86_400), 60),
    /** Flap guard: past this many automatic changes in an hour, automation holds (switchover still works). */
    maxAutoFailoversPerHour: z._default(int(1, 1_000), 6),
    /** Sync gate: a standby reporting more lag than this (lagSeconds) is not eligible. */
    maxLagSeconds: z.optional(
      z.number({ error: 'must be a number' }).check(z.minimum(0, 'must be at least 0')),
    ),
    /** Sync gate: a standby whose numeric position is further behind the reference than this is not eligible. */
    maxPositionLag: z.optional(
      z.number({ error: 'must be a number' }).check(z.minimum(0, 'must be at least 0')),
    ),
    /** A node whose reported version differs from the active's is not eligible. */
    requireSameVersion: z._default(z.boolean({ error: 'must be true or false' }), false),
    nodes: z.array(NodeSchema).check(z.minLength(1, 'a cluster needs at least one node'), z.maxLength(64)),
    targets: z._default(z.array(TargetSchema).check(z.maxLength(16)), []),
  })
  .check(
    z.superRefine((cluster, ctx) => {
      duplicates(cluster.nodes.map((n) => n.id)).forEach((index) => {
        ctx.addIssue({
          code: 'custom',
          path: ['nodes', index, 'id'],
          message: 'duplicate node id',
          input: cluster,
        });
      });
      checkNodesFitTargets(cluster, (path, message) =>
        ctx.addIssue({ code: 'custom', path, message, input: cluster }),
      );
      duplicates(cluster.targets.map((t) => t.id ?? t.type)).forEach((index) => {
        ctx.addIssue({
          code: 'custom',
          path: ['targets', index, 'id'],
          message: 'duplicate target id (give each target of the same type its own `id`)',
          input: cluster,
        });
      });
    }),
  );

export const ConfigSchema = z
  .strictObject({
    clusters: z.array(ClusterSchema).check(z.minLength(1, 'at least one cluster is required')),
    /** Local server only: required for admin routes when it listens beyond loopback. */
    adminTokenSha256: z.optional(sha256),
  })
  .check(
    z.superRefine((config, ctx) => {
      duplicates(config.clusters.map((c) => c.id)).forEach((index) => {
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', index, 'id'],
          message: 'duplicate cluster id',
          input: config,
        });
      });
    }),
  );

type ParsedCluster = z.output<typeof ClusterSchema>;
export type NodeConfig = z.output<typeof NodeSchema>;
export type TargetConfig = z.output<typeof TargetSchema> & { id: string };
export type ClusterConfig = Omit<ParsedCluster, 'targets'> & {
  targets: TargetConfig[];
  /** interval × missedBeats, in ms: a node is alive while now − lastSeen ≤ leaseMs. */
  leaseMs: number;
  intervalMs: number;
};
export interface Config {
  clusters: ClusterConfig[];
  adminTokenSha256?: string;
}
export type ConfigInput = z.input<typeof ConfigSchema>;

/** Validates a parsed JSON value; throws ConfigError listing every bad field. */
export function parseConfig(value: unknown, source = 'config'): Config {
  const result = ConfigSchema.safeParse(value);
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const known = knownFields(issue.path, value);
        return issue.keys.map((key) => {
          const match = closest(key, known);
          return `  ${formatPath([...issue.path, key])}: unknown field${match ? ` (did you mean ${match}?)` : ''}`;
        });
      }
      const missing = issue.code === 'invalid_type' && issue.path.length > 0 && !hasField(value, issue.path);
      return [`  ${formatPath(issue.path)}: ${missing ? 'required' : issue.message}`];
    });
    throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
  }
  return {
    ...result.data,
    clusters: result.data.clusters.map((c) => ({
      ...c,
      targets: c.targets.map((t) => ({ ...t, id: t.id ?? t.type })),
      intervalMs: c.heartbeatIntervalSeconds * 1000,
      leaseMs: c.heartbeatIntervalSeconds * c.missedBeats * 1000,
    })),
  };
}

/** The config as JSON in its input form (derived fields dropped): what the Lambdas parse at start. */
export function serializeConfig(config: Config): string {
  return JSON.stringify({
    ...config,
    clusters: config.clusters.map(({ leaseMs: _lease, intervalMs: _interval, ...cluster }) => cluster),
  });
}

export function parseConfigText(text: string, source = 'config'): Config {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`invalid ${source}: not valid JSON (${(err as Error).message})`);
  }
  return parseConfig(value, source);
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  return parseConfigText(text, path);
}

export function findCluster(config: Config, clusterId: string): ClusterConfig | undefined {
  return config.clusters.find((c) => c.id === clusterId);
}

/** Whether the raw config has the field at `path` (its parent is an object that has the key). */
function hasField(value: unknown, path: readonly PropertyKey[]): boolean {
  let parent = value;
  for (const key of path.slice(0, -1)) {
    if (typeof parent !== 'object' || parent === null) return true; // a type issue further up says it
    parent = (parent as Record<PropertyKey, unknown>)[key];
  }
  return typeof parent !== 'object' || parent === null || Object.hasOwn(parent, path.at(-1) as PropertyKey);
}

/** The fields the object at `path` may have (config, cluster, node or target), for "did you mean". */
function knownFields(path: readonly PropertyKey[], value: unknown): string[] {
  if (path.length === 0) return Object.keys(ConfigSchema.shape);
  if (path.length === 2) return Object.keys(ClusterSchema.shape);
  if (path[2] === 'nodes') return Object.keys(NodeSchema.shape);
  if (path[2] !== 'targets') return [];
  const type = (value as { clusters?: Array<{ targets?: Array<{ type?: unknown }> }> })?.clusters?.[
    path[1] as number
  ]?.targets?.[path[3] as number]?.type;
  const schemas = TargetSchema.def.options.filter((t) => t.shape.type.def.values.includes(type as never));
  return [
    ...new Set((schemas.length ? schemas : TargetSchema.def.options).flatMap((t) => Object.keys(t.shape))),
  ];
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/** Indexes of values that appeared earlier in the list. */
function duplicates(values: readonly string[]): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  values.forEach((v, i) => {
    if (seen.has(v)) out.push(i);
    seen.add(v);
  });
  return out;
}
