/**
 * The one cluster-config schema, used by the local server, the Lambdas and the CDK app.
 * A bad config fails at start (or at synth) with a message naming the field.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
// zod/mini: tree-shakable, so Lambda bundles stay small.
import * as z from 'zod/mini';
import { addressClass, literalAddress, refusedAddress } from './addresses.js';
import { id, int, mode } from './config-fields.js';
import { ConfigError } from './errors.js';
import { closest } from './suggest.js';
import type { ConfigIssue } from './targets/kind.js';
import { kindOf, NODE_FIELDS, TARGET_KINDS, TARGET_SCHEMAS } from './targets/registry.js';

const sha256 = z
  .string({ error: 'must be a string' })
  .check(
    z.regex(
      /^[0-9a-f]{64}$/,
      'must be 64 lowercase hex characters (the SHA-256 of the token; see `failover token`)',
    ),
  );

const NodeSchema = z.strictObject({
  id: id('node id'),
  /** What DNS points to, or what a webhook receiver is told: an IP address or host name. */
  address: z
    .string({ error: 'must be a string' })
    .check(z.minLength(1, 'must not be empty'), z.maxLength(253)),
  tokenSha256: sha256,
  /**
   * Token rotation: the hash of the token being replaced, still accepted until it is removed
   * from the config (`failover token --rotate`). Status shows nodes that still beat with it.
   */
  previousTokenSha256: z.optional(sha256),
  /** Failsafe: where peers reach this node's agent (`--peer-listen`); default http://address:peerPort. */
  peerUrl: z.optional(
    z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).check(z.maxLength(512)),
  ),
  /** What the cluster's targets need of each node (e.g. `targetId`), declared by their kinds. */
  ...NODE_FIELDS,
});

const TargetSchema = z.discriminatedUnion('type', TARGET_SCHEMAS, {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? `unknown target type (expected one of ${TARGET_KINDS.map((k) => k.type).join(', ')})`
      : undefined,
});

/**
 * What each node must provide for the cluster's targets: the node fields each kind asks
 * for, then the kind's own rules. Issues name the node field.
 */
function checkNodesFitTargets(
  cluster: Pick<ParsedCluster, 'mode' | 'nodes' | 'targets'>,
  issue: ConfigIssue,
): void {
  cluster.targets.forEach((target, t) => {
    const kind = kindOf(target.type);
    for (const field of Object.keys(kind.nodeFields ?? {})) {
      cluster.nodes.forEach((node, n) => {
        if ((node as Record<string, unknown>)[field] === undefined) {
          issue(['nodes', n, field], `required by targets[${t}] (${target.type})`);
        }
      });
    }
    kind.check?.(target, t, cluster, issue);
  });
}

/**
 * Agents send failsafe requests to each other's peer URL (given, or built from the
 * address): never to the instance metadata or credentials address. Private ones are what
 * peers use (and documentation addresses what examples use), so only metadata is refused.
 */
function checkPeerAddresses(cluster: Pick<ParsedCluster, 'nodes'>, issue: ConfigIssue): void {
  cluster.nodes.forEach((node, n) => {
    const url = node.peerUrl ?? `http://${isIP(node.address) === 6 ? `[${node.address}]` : node.address}/`;
    if (!URL.canParse(url)) return; // a host name with characters a URL cannot hold: nothing to check
    const literal = literalAddress(new URL(url));
    const refused =
      literal && addressClass(literal) === 'metadata' && refusedAddress(literal, { allowPrivate: true });
    if (refused)
      issue(
        ['nodes', n, node.peerUrl === undefined ? 'address' : 'peerUrl'],
        `peers would be sent to it: ${refused}`,
      );
  });
}

const ClusterSchema = z
  .strictObject({
    id: id('cluster id'),
    heartbeatIntervalSeconds: z._default(int(1, 3600), 5),
    missedBeats: z._default(int(1, 100), 3),
    mode,
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
    /**
     * Static stability: while the control plane cannot be reached, an active keeps its role
     * as long as every other node confirms it cannot reach it either (see the README).
     * Takes effect with two or more nodes; one node has nobody to ask.
     */
    failsafe: z._default(z.boolean({ error: 'must be true or false' }), true),
    /** Failsafe: the port of each agent's peer endpoint, unless a node gives its own peerUrl. */
    peerPort: z._default(int(1, 65_535), 7788),
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
      checkPeerAddresses(cluster, (path, message) =>
        ctx.addIssue({ code: 'custom', path, message, input: cluster }),
      );
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

/**
 * The Region sets DynamoDB multi-Region strong consistency (MRSC) supports: a table's three
 * Regions (replicas, or two replicas and a witness) all come from one set.
 */
export const MRSC_REGION_SETS: Record<string, readonly string[]> = {
  US: ['us-east-1', 'us-east-2', 'us-west-2'],
  EU: ['eu-west-1', 'eu-west-2', 'eu-west-3', 'eu-central-1'],
  AP: ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3'],
};

const regionName = z
  .string('must be a Region name')
  .check(z.regex(/^[a-z]{2}-[a-z]+-\d$/, 'must be a Region name such as us-east-1'));

export const ConfigSchema = z
  .strictObject({
    clusters: z.array(ClusterSchema).check(z.minLength(1, 'at least one cluster is required')),
    /** Local server only: required for admin routes when it listens beyond loopback. */
    adminTokenSha256: z.optional(sha256),
    /**
     * Multi-Region: the control plane runs in each of these Regions over one MRSC table
     * (three Regions, or two plus `witnessRegion`). Absent: one Region, as the stack's.
     */
    regions: z.optional(
      z
        .array(regionName)
        .check(z.minLength(2, 'must list 2 or 3 Regions'), z.maxLength(3, 'must list 2 or 3 Regions')),
    ),
    /** Multi-Region with two replicas: the third Region, which holds a witness and runs nothing. */
    witnessRegion: z.optional(regionName),
  })
  .check(
    z.superRefine((config, ctx) => {
      const problem = regionsProblem(config.regions, config.witnessRegion);
      if (problem !== null)
        ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message, input: config });
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

/** What is wrong with a multi-Region setting, if anything (MRSC's rules: three Regions of one set). */
function regionsProblem(
  regions: string[] | undefined,
  witness: string | undefined,
): { field: 'regions' | 'witnessRegion'; message: string } | null {
  if (regions === undefined) {
    return witness === undefined
      ? null
      : { field: 'witnessRegion', message: 'needs regions (the two replica Regions)' };
  }
  if (regions.length === 2 && witness === undefined) {
    return {
      field: 'witnessRegion',
      message: 'required with two regions: MRSC needs a third Region as a witness',
    };
  }
  if (regions.length === 3 && witness !== undefined) {
    return {
      field: 'witnessRegion',
      message: 'not allowed with three regions (three replicas need no witness)',
    };
  }
  const all = [...regions, ...(witness === undefined ? [] : [witness])];
  if (new Set(all).size !== all.length)
    return { field: 'regions', message: 'the Regions (and the witness) must differ' };
  const set = Object.entries(MRSC_REGION_SETS).find(([, members]) => members.includes(all[0] as string));
  if (set === undefined || !all.every((r) => set[1].includes(r))) {
    const sets = Object.entries(MRSC_REGION_SETS).map(([name, members]) => `${name}: ${members.join(', ')}`);
    return {
      field: 'regions',
      message: `multi-Region strong consistency needs all three Regions from one set (${sets.join('; ')})`,
    };
  }
  return null;
}

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
  regions?: string[];
  witnessRegion?: string;
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
