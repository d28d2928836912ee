import * as z from 'zod/mini';
import { int } from '../../config-fields.js';
import { type TargetKind, targetSchema } from '../kind.js';
import { ACTIVE_PATH, healthPort, nodeSecurityGroup, refuseActiveActive } from './health-routing.js';
import { checkAddresses, hostedZoneId, recordName } from './route53-fields.js';

const schema = targetSchema('route53-health', {
  hostedZoneId,
  recordName,
  /** The nodes' addresses are what the records hold and what the health checks ask: public IPs. */
  recordType: z.enum(['A', 'AAAA'], "must be 'A' or 'AAAA'"),
  /** failover: a PRIMARY/SECONDARY pair (two nodes, in priority order); multivalue: one record per node. */
  routing: z.enum(['failover', 'multivalue'], "must be 'failover' or 'multivalue'"),
  ttl: z._default(int(0, 172_800), 10),
  healthPort,
  /** Route 53's health checkers: the AWS-managed prefix list `com.amazonaws.<region>.route53-healthchecks`. */
  securityGroup: nodeSecurityGroup(
    ['prefixList', 'cidr'],
    "must be the id (pl-…) of the AWS-managed prefix list of Route 53's health checkers, or a CIDR",
  ),
});

/**
 * Each node's Route 53 health check: `GET /active` on the node's address, at the fastest
 * settings Route 53 allows (request interval 10 s, the fast tier; failure threshold 1).
 * Properties of AWS::Route53::HealthCheck's HealthCheckConfig.
 */
export const ROUTE53_HEALTH_CHECK = {
  type: 'HTTP',
  resourcePath: ACTIVE_PATH,
  requestInterval: 10,
  failureThreshold: 1,
} as const;

/**
 * Route 53 records with a health check per node on `GET /active`, created once by the CDK
 * stack (infra/target-resources/): Route 53 answers with the node whose check passes, with
 * no API call at failover time. The run-time side has nothing to do.
 */
export const route53Health = {
  type: 'route53-health',
  schema,
  check(target, t, cluster, issue) {
    refuseActiveActive('route53-health', t, cluster.mode, issue);
    if (target.routing === 'failover' && cluster.nodes.length !== 2) {
      issue(
        ['targets', t, 'routing'],
        `a failover pair takes exactly two nodes (primary and secondary), the cluster has ${cluster.nodes.length}: use 'multivalue'`,
      );
    }
    checkAddresses(target.recordType, t, 'route53-health', cluster.nodes, issue);
  },
  build: (target) => ({
    id: target.id,
    type: 'route53-health',
    apply: async () => ({ routing: `Route 53 health checks on ${ACTIVE_PATH}: no API call` }),
  }),
  iam: () => [],
} satisfies TargetKind<typeof schema>;
