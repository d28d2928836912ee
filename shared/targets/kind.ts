/**
 * What a target kind declares, in one place (`kinds/<kind>.ts`, listed in `registry.ts`):
 * its config schema, what each node must provide, its factory and its IAM statements.
 */
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Route53Client } from '@aws-sdk/client-route-53';
import * as z from 'zod/mini';
import { id, type Mode } from '../config-fields.js';
import type { Logger } from '../logger.js';
import type { SecretSource } from './secrets.js';
import type { Target } from './target.js';

/** Where AWS targets get their SDK clients (tests inject emulator-backed ones). */
export interface AwsClients {
  route53(): Route53Client;
  elbv2(): ElasticLoadBalancingV2Client;
}

/** A kind's config schema: `type` and `id` (which every kind has) plus its own fields. */
export function targetSchema<const T extends string, S extends z.core.$ZodLooseShape>(type: T, shape: S) {
  return z.strictObject({ type: z.literal(type), id: z.optional(id('target id')), ...shape });
}
type KindSchema = ReturnType<typeof targetSchema<string, z.core.$ZodLooseShape>>;

/** A target's config after parsing: its `id` defaults to its type. */
export type KindConfig<S extends KindSchema> = z.output<S> & { id: string };

/** Fields a kind asks of each node, by name. */
export type NodeFieldSchemas = Readonly<Record<string, z.ZodMiniType>>;

/**
 * A node as a kind sees it: the fields it asked for (typed from its own `nodeFields`, not
 * from config.ts's NodeConfig, which is itself built from the kinds).
 */
export type KindNode<F extends NodeFieldSchemas> = { id: string; address: string } & {
  [K in keyof F]?: z.output<F[K]>;
};

export interface BuildContext<F extends NodeFieldSchemas> {
  /** The cluster's nodes; the fields in the kind's `nodeFields` are set on every one. */
  nodes: readonly KindNode<F>[];
  logger: Logger;
  /** The environment; every name in the kind's `envFields` is set (checked before building). */
  env: NodeJS.ProcessEnv;
  /** The SDK clients, loaded on first call: AWS kinds call it only inside `lazyTarget`. */
  aws: () => Promise<AwsClients>;
  /**
   * A Secrets Manager secret (name or ARN), read through the process's cache: nothing is
   * fetched (nor any SDK code loaded) until the source is first called.
   */
  secret: (secretId: string) => SecretSource;
}

/**
 * Where the stack deploys, for ARNs a kind builds (CloudFormation tokens when the stack is
 * environment-agnostic).
 */
export interface IamScope {
  partition: string;
  region: string;
  account: string;
}

/**
 * An IAM statement as plain data, which `infra/target-policies.ts` turns into an
 * iam.PolicyStatement: the kinds ship in the Lambda bundles (config validation and
 * factories run there), and aws-cdk-lib must not.
 */
export interface IamStatement {
  actions: string[];
  resources: string[];
  conditions?: Record<string, Record<string, string[]>>;
  /** For a resource with "*": why it cannot be narrower (acknowledges the cdk-nag finding). */
  wildcardReason?: string;
}

export type ConfigIssue = (path: (string | number)[], message: string) => void;

export interface TargetKind<
  S extends KindSchema = KindSchema,
  F extends NodeFieldSchemas = NodeFieldSchemas,
> {
  readonly type: z.output<S>['type'] & string;
  readonly schema: S;
  /**
   * Fields every node must give when its cluster has a target of this kind (optional on
   * nodes otherwise); a missing one is a config error naming the node and the field.
   */
  readonly nodeFields?: F;
  /** Fields of the target that name environment variables it reads (a secret, say), when set. */
  readonly envFields?: readonly (keyof z.output<S> & string)[];
  /** Rules between a target and its cluster beyond the required node fields. */
  check?(
    target: z.output<S>,
    index: number,
    cluster: { mode: Mode; nodes: readonly KindNode<F>[] },
    issue: ConfigIssue,
  ): void;
  build(target: KindConfig<S>, context: BuildContext<F>): Target;
  /** The statements every target of this kind in the config needs, scoped to exactly their resources. */
  iam(targets: readonly KindConfig<S>[], scope: IamScope): IamStatement[];
}
