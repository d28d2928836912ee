/**
 * What the stack creates for target kinds that route by health checks, once, at deploy time
 * (the Lambdas' IAM comes from each kind's `iam`, in target-policies.ts): one function per kind
 * that has resources, keyed by its type, each in a scope of its own per cluster and target.
 */
import { Construct } from 'constructs';
import type { ClusterConfig, Config, TargetConfig } from '../shared/config.js';
import { healthPortSecurityGroup } from './target-resources/health-port.js';
import { route53HealthResources } from './target-resources/route53-health.js';

type Resources<T extends TargetConfig['type']> = (
  scope: Construct,
  target: Extract<TargetConfig, { type: T }>,
  cluster: ClusterConfig,
) => void;

const RESOURCES: { [T in TargetConfig['type']]?: Resources<T> } = {
  // The target group is the operator's: the control plane registers the nodes and sets its
  // health check (shared/targets/elbv2-health.ts); the stack adds the health port's group.
  'elbv2-health': (scope, target, cluster) =>
    healthPortSecurityGroup(scope, cluster, target, 'the load balancer'),
  'route53-health': route53HealthResources,
};

export function targetResources(scope: Construct, config: Config): void {
  for (const cluster of config.clusters) {
    for (const target of cluster.targets) {
      const resources = RESOURCES[target.type] as Resources<typeof target.type> | undefined;
      resources?.(new Construct(scope, `${cluster.id}-${target.id}`), target, cluster);
    }
  }
}
