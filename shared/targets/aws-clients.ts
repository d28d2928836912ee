/**
 * The AWS clients targets use: created once per process, from the standard AWS
 * environment (region, credentials, AWS_ENDPOINT_URL_*), so the same code talks to AWS or
 * to an emulator. Our own retry loop owns the time budget, so the SDK makes one attempt.
 * This module is loaded only when a cluster has a Route 53 or ELBv2 target.
 */
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import type { AwsClients } from './kind.js';

export function defaultAwsClients(): AwsClients {
  let route53: Route53Client | undefined;
  let elbv2: ElasticLoadBalancingV2Client | undefined;
  return {
    // Route 53 is global; its API lives in us-east-1 whatever region we run in.
    route53: () => {
      route53 ??= new Route53Client({ region: 'us-east-1', maxAttempts: 1 });
      return route53;
    },
    elbv2: () => {
      elbv2 ??= new ElasticLoadBalancingV2Client({ maxAttempts: 1 });
      return elbv2;
    },
  };
}
