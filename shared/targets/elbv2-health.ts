/**
 * The run-time side of `elbv2-health`. Where traffic goes needs nothing from here: the load
 * balancer's health check asks each node's agent `GET /active` and sends traffic to the one
 * that answers 200. So a change of the active makes no ELBv2 call at all (`apply` returns at
 * once): not even a read, which would hold the new active's heartbeat answer, and with it
 * its `/active`, while the ELBv2 API is slow or down.
 *
 * What keeps the setup true is the sweep, off the path of any promotion: each observation
 * runs `ensureHealthRouting`, idempotent, which calls only what differs:
 *  1. reads the target group and its registrations (DescribeTargetGroups, DescribeTargetHealth);
 *  2. sets the health check to `elbv2HealthCheck(target)` if any setting differs (ModifyTargetGroup);
 *  3. registers the cluster nodes that are not registered, or are draining (RegisterTargets).
 * It never deregisters anything: a standby is unhealthy by design and must stay registered to
 * take traffic the moment its `/active` answers 200. What it had to set is reported as drift
 * (the first observation after the cluster's first election sets everything up).
 */
import {
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyTargetGroupCommand,
  RegisterTargetsCommand,
  type TargetGroup,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { TargetApplyError } from '../errors.js';
import { withAwsRetry } from './aws-retry.js';
import { elbv2HealthCheck } from './kinds/elbv2-health.js';
import type { Observation, Target, TargetChange, TargetDetail } from './target.js';

const ROUTING = 'load balancer health checks on /active';

export interface HealthRoutingOptions {
  targetGroupArn: string;
  port?: number;
  healthPort: number;
}
export type HealthRoutingNode = { id: string; targetId?: string };

/** What `ensureHealthRouting` found and set. */
export interface HealthRoutingSetup {
  /** The health-check settings that differed, now set. */
  healthCheck: string[];
  /** The nodes that were not registered (or were draining), now registered. */
  registered: string[];
  /** Node id → target health state as read before any change (`healthy`, `unhealthy`, `initial`, …; absent when not registered). */
  health: Map<string, string>;
}

export async function ensureHealthRouting(
  client: ElasticLoadBalancingV2Client,
  options: HealthRoutingOptions,
  nodes: readonly HealthRoutingNode[],
  deadline: number,
): Promise<HealthRoutingSetup> {
  const arn = options.targetGroupArn;
  const [groups, targets] = await Promise.all([
    withAwsRetry(`elbv2 describe target group ${arn}`, deadline, (abortSignal) =>
      client.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] }), { abortSignal }),
    ),
    withAwsRetry(`elbv2 describe target health ${arn}`, deadline, (abortSignal) =>
      client.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }), { abortSignal }),
    ),
  ]);
  const group = groups.TargetGroups?.[0];
  if (group === undefined) throw new TargetApplyError(`target group ${arn} not found`);
  const states = new Map(
    (targets.TargetHealthDescriptions ?? []).map((d) => [d.Target?.Id, d.TargetHealth?.State ?? 'unknown']),
  );
  const health = new Map(
    nodes.flatMap((n) => {
      const state = states.get(n.targetId);
      return state === undefined ? [] : [[n.id, state] as const];
    }),
  );

  const differs = differences(group, elbv2HealthCheck(options));
  if (differs.length > 0) {
    await withAwsRetry(`elbv2 modify health check of ${arn}`, deadline, (abortSignal) =>
      client.send(new ModifyTargetGroupCommand({ TargetGroupArn: arn, ...elbv2HealthCheck(options) }), {
        abortSignal,
      }),
    );
  }
  // A draining target is on its way out: registering it again keeps it.
  const missing = nodes.filter((n) => [undefined, 'draining'].includes(health.get(n.id)));
  if (missing.length > 0) {
    await withAwsRetry(`elbv2 register ${missing.map((n) => n.id).join(', ')}`, deadline, (abortSignal) =>
      client.send(
        new RegisterTargetsCommand({
          TargetGroupArn: arn,
          Targets: missing.map((n) => target(n, options.port)),
        }),
        { abortSignal },
      ),
    );
  }
  return { healthCheck: differs, registered: missing.map((n) => n.id), health };
}

export class Elbv2HealthTarget implements Target {
  readonly type = 'elbv2-health';

  constructor(
    readonly id: string,
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly options: HealthRoutingOptions,
    private readonly nodes: readonly HealthRoutingNode[],
  ) {}

  /** No call: the load balancer moves traffic by itself (see the module comment). */
  async apply(_change: TargetChange, _deadline: number): Promise<TargetDetail> {
    return { routing: ROUTING };
  }

  /**
   * Makes sure of the setup and reports what it had to set as drift. Which node the load
   * balancer finds healthy is recorded as detail, never drift: it follows `/active` a few
   * checks late by design, and no API call should move it. A setup that fails (a wrong ARN,
   * a missing permission) shows in the detail as `setup`, to be tried again next time.
   */
  async observe(_change: TargetChange, deadline: number): Promise<Observation> {
    let setup: HealthRoutingSetup;
    try {
      setup = await ensureHealthRouting(this.client, this.options, this.nodes, deadline);
    } catch (err) {
      const failed = `failed: ${(err as Error).name}: ${(err as Error).message}`;
      return { drift: null, detail: { routing: ROUTING, setup: failed } };
    }
    const set = [
      ...(setup.healthCheck.length > 0
        ? [`health check ${setup.healthCheck.join(', ')} differed (set)`]
        : []),
      ...(setup.registered.length > 0 ? [`${setup.registered.join(', ')} not registered (registered)`] : []),
    ];
    const health = this.nodes.map((n) => `${n.id}=${setup.health.get(n.id) ?? 'unregistered'}`).join(' ');
    return { drift: set.length > 0 ? set.join('; ') : null, detail: { routing: ROUTING, health } };
  }
}

function target(node: HealthRoutingNode, port: number | undefined): { Id: string; Port?: number } {
  if (node.targetId === undefined) throw new TargetApplyError(`node ${node.id} has no targetId`);
  return port === undefined ? { Id: node.targetId } : { Id: node.targetId, Port: port };
}

/** The names of the health-check settings whose value differs from the wanted one. */
function differences(group: TargetGroup, wanted: ReturnType<typeof elbv2HealthCheck>): string[] {
  return (Object.keys(wanted) as Array<keyof typeof wanted>).filter((key) =>
    key === 'Matcher' ? group.Matcher?.HttpCode !== wanted.Matcher.HttpCode : group[key] !== wanted[key],
  );
}
