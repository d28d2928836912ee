import * as z from 'zod/mini';
import { int } from '../../config-fields.js';
import { type TargetKind, targetSchema } from '../kind.js';
import { lazyTarget } from '../lazy.js';
import { DESCRIBE_REASON, targetGroupArn, targetId } from './elbv2-arns.js';
import { ACTIVE_PATH, healthPort, nodeSecurityGroup, refuseActiveActive } from './health-routing.js';

const schema = targetSchema('elbv2-health', {
  /** The operator's target group, behind their ALB or NLB listener. */
  targetGroupArn,
  /** The traffic port every node is registered on; the target group's own port when absent. */
  port: z.optional(int(1, 65_535)),
  healthPort,
  /** Health checks come from the load balancer: its security group (ALB; NLB with one) or its subnets' CIDR. */
  securityGroup: nodeSecurityGroup(
    ['securityGroup', 'cidr'],
    "must be the load balancer's security group id (sg-…) or the CIDR of its subnets",
  ),
});
const nodeFields = { targetId };

/**
 * The health check of an elbv2-health target group: `GET /active` on the agent's port, at
 * the fastest settings ELBv2 allows for ALB and NLB alike (interval 5–300 s, timeout 2–120 s
 * and below the interval, thresholds 2–10). A change of health shows after 2 × 5 s.
 */
export function elbv2HealthCheck(target: { healthPort: number }) {
  return {
    HealthCheckEnabled: true,
    HealthCheckProtocol: 'HTTP',
    HealthCheckPort: String(target.healthPort),
    HealthCheckPath: ACTIVE_PATH,
    HealthCheckIntervalSeconds: 5,
    HealthCheckTimeoutSeconds: 2,
    HealthyThresholdCount: 2,
    UnhealthyThresholdCount: 2,
    Matcher: { HttpCode: '200' },
  } as const;
}

/**
 * Every node registered in one target group whose health check asks each agent `GET
 * /active`: the load balancer sends traffic to the node that answers 200, with no API call
 * at failover time. The sweep keeps that setup true (see ../elbv2-health.ts).
 */
export const elbv2Health = {
  type: 'elbv2-health',
  schema,
  nodeFields,
  check(target, t, cluster, issue) {
    refuseActiveActive('elbv2-health', t, cluster.mode, issue);
    if (target.port === target.healthPort) {
      issue(
        ['targets', t, 'healthPort'],
        'must differ from port (the agent serves its health port alone; the load balancer would check the application instead)',
      );
    }
  },
  build: (target, { aws, nodes }) =>
    lazyTarget(target.id, 'elbv2-health', async () => {
      const [{ Elbv2HealthTarget }, clients] = await Promise.all([import('../elbv2-health.js'), aws()]);
      return new Elbv2HealthTarget(target.id, clients.elbv2(), target, nodes);
    }),
  iam: (targets) => [
    {
      // Never DeregisterTargets: a standby must stay registered to take traffic when its /active answers 200.
      actions: ['elasticloadbalancing:ModifyTargetGroup', 'elasticloadbalancing:RegisterTargets'],
      resources: [...new Set(targets.map((t) => t.targetGroupArn))],
    },
    {
      actions: ['elasticloadbalancing:DescribeTargetGroups', 'elasticloadbalancing:DescribeTargetHealth'],
      resources: ['*'],
      wildcardReason: DESCRIBE_REASON,
    },
  ],
} satisfies TargetKind<typeof schema, typeof nodeFields>;
