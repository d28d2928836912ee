import { CfnHealthCheck, CfnRecordSet } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import type { ClusterConfig, TargetConfig } from '../../shared/config.js';
import { ACTIVE_PATH } from '../../shared/targets/kinds/health-routing.js';
import { zoneId } from '../../shared/targets/kinds/route53-fields.js';
import { ROUTE53_HEALTH_CHECK } from '../../shared/targets/kinds/route53-health.js';
import { healthPortSecurityGroup } from './health-port.js';

/**
 * A `route53-health` target, set up once at deploy time: a health check per node on `GET
 * /active` at its address, and a record per node that carries it: a PRIMARY/SECONDARY
 * failover pair in priority order (the config admits exactly two nodes for it), or
 * multivalue answers. Route 53 then answers with the node whose check passes.
 */
export function route53HealthResources(
  scope: Construct,
  target: Extract<TargetConfig, { type: 'route53-health' }>,
  cluster: ClusterConfig,
): void {
  cluster.nodes.forEach((node, i) => {
    const check = new CfnHealthCheck(scope, `HealthCheck-${node.id}`, {
      healthCheckConfig: { ...ROUTE53_HEALTH_CHECK, ipAddress: node.address, port: target.healthPort },
      healthCheckTags: [{ key: 'Name', value: `failover ${cluster.id}/${node.id} ${ACTIVE_PATH}` }],
    });
    new CfnRecordSet(scope, `Record-${node.id}`, {
      hostedZoneId: zoneId(target.hostedZoneId),
      name: target.recordName,
      type: target.recordType,
      ttl: String(target.ttl),
      resourceRecords: [node.address],
      setIdentifier: node.id,
      healthCheckId: check.attrHealthCheckId,
      ...(target.routing === 'failover'
        ? { failover: i === 0 ? 'PRIMARY' : 'SECONDARY' }
        : { multiValueAnswer: true }),
    });
  });
  healthPortSecurityGroup(scope, cluster, target, 'Route 53 health checkers');
}
