/**
 * The run-time side of `elbv2-health`. Where traffic goes needs nothing from here: the load
 * balancer's health check asks each node's agent `GET /active` and sends traffic to the one
 * that answers 200. What this code does is make sure of the setup that makes that true, and
 * read what the load balancer sees.
 *
 * `ensureHealthRouting`, idempotent, calls only what differs:
 *  1. reads the target group and its registrations (DescribeTargetGroups, DescribeTargetHealth);
 *  2. sets the health check to `elbv2HealthCheck(target)` if any setting differs (ModifyTargetGroup);
 *  3. registers the cluster nodes that are not registered, or are draining (RegisterTargets).
 * It never deregisters anything: a standby is unhealthy by design and must stay registered to
 * take traffic the moment its `/active` answers 200.
 *
 * The control plane runs it as the target's `apply`, after a new epoch is committed: at the
 * cluster's first epoch it does the one-time setup; at later ones it only reads. It is never
 * on the path of a promotion (targets are applied after the commit), and when the ELBv2 API
 * is impaired at failover time the target is marked failed while traffic moves anyway.
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

export interface HealthRoutingOptions {
  targetGroupArn: string;
  port?: number;
  healthPort: number;
}
export type HealthRoutingNode = { id: string; targetId?: string };

/** What the load balancer has: which health settings differ from ours, and each cluster node's target health. */
interface Seen {
  differs: string[];
  /** Node id → target health state (`healthy`, `unhealthy`, `initial`, `draining`, …), absent when not registered. */
  health: Map<string, string>;
}

export async function ensureHealthRouting(
  client: ElasticLoadBalancingV2Client,
  options: HealthRoutingOptions,
  nodes: readonly HealthRoutingNode[],
  deadline: number,
): Promise<TargetDetail> {
  const seen = await read(client, options, nodes, deadline);
  if (seen.differs.length > 0) {
    await withAwsRetry(`elbv2 modify health check of ${options.targetGroupArn}`, deadline, (abortSignal) =>
      client.send(
        new ModifyTargetGroupCommand({
          TargetGroupArn: options.targetGroupArn,
          ...elbv2HealthCheck(options),
        }),
        { abortSignal },
      ),
    );
  }
  const missing = nodes.filter((n) => !registered(seen.health.get(n.id)));
  if (missing.length > 0) {
    await withAwsRetry(`elbv2 register ${missing.map((n) => n.id).join(', ')}`, deadline, (abortSignal) =>
      client.send(
        new RegisterTargetsCommand({
          TargetGroupArn: options.targetGroupArn,
          Targets: missing.map((n) => target(n, options.port)),
        }),
        { abortSignal },
      ),
    );
  }
  return {
    healthCheck: seen.differs.length > 0 ? `set (${seen.differs.join(', ')} differed)` : 'as configured',
    registered: missing.map((n) => n.id).join(','),
  };
}

export class Elbv2HealthTarget implements Target {
  readonly type = 'elbv2-health';

  constructor(
    readonly id: string,
    private readonly client: ElasticLoadBalancingV2Client,
    private readonly options: HealthRoutingOptions,
    private readonly nodes: readonly HealthRoutingNode[],
  ) {}

  apply(_change: TargetChange, deadline: number): Promise<TargetDetail> {
    return ensureHealthRouting(this.client, this.options, this.nodes, deadline);
  }

  /**
   * Drift is a change to the setup (a health setting, a node no longer registered), which
   * `apply` repairs. Which node the load balancer finds healthy is recorded as detail, never
   * drift: it follows `/active` a few checks late by design, and no API call should move it.
   */
  async observe(_change: TargetChange, deadline: number, detail?: TargetDetail): Promise<Observation> {
    const seen = await read(this.client, this.options, this.nodes, deadline);
    const health = this.nodes.map((n) => `${n.id}=${seen.health.get(n.id) ?? 'unregistered'}`).join(' ');
    const missing = this.nodes.filter((n) => !registered(seen.health.get(n.id))).map((n) => n.id);
    const problems = [
      ...(seen.differs.length > 0 ? [`health check ${seen.differs.join(', ')} differ`] : []),
      ...(missing.length > 0 ? [`${missing.join(', ')} not registered`] : []),
    ];
    return { drift: problems.length > 0 ? problems.join('; ') : null, detail: { ...detail, health } };
  }
}

/** A draining target is on its way out: it counts as not registered (registering it again keeps it). */
const registered = (state: string | undefined) => state !== undefined && state !== 'draining';

function target(node: HealthRoutingNode, port: number | undefined): { Id: string; Port?: number } {
  if (node.targetId === undefined) throw new TargetApplyError(`node ${node.id} has no targetId`);
  return port === undefined ? { Id: node.targetId } : { Id: node.targetId, Port: port };
}

async function read(
  client: ElasticLoadBalancingV2Client,
  options: HealthRoutingOptions,
  nodes: readonly HealthRoutingNode[],
  deadline: number,
): Promise<Seen> {
  const arn = options.targetGroupArn;
  const [groups, health] = await Promise.all([
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
    (health.TargetHealthDescriptions ?? []).map((d) => [d.Target?.Id, d.TargetHealth?.State ?? 'unknown']),
  );
  const byNode = new Map(
    nodes.flatMap((n) => {
      const state = states.get(n.targetId);
      return state === undefined ? [] : [[n.id, state] as const];
    }),
  );
  return { differs: differences(group, elbv2HealthCheck(options)), health: byNode };
}

/** The names of the health-check settings whose value differs from the wanted one. */
function differences(group: TargetGroup, wanted: ReturnType<typeof elbv2HealthCheck>): string[] {
  return (Object.keys(wanted) as Array<keyof typeof wanted>).filter((key) =>
    key === 'Matcher' ? group.Matcher?.HttpCode !== wanted.Matcher.HttpCode : group[key] !== wanted[key],
  );
}
