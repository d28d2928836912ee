import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Route53Client } from '@aws-sdk/client-route-53';
import type { ClusterConfig, Config, TargetConfig } from '../config.js';
import { assertNever } from '../core.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { Elbv2TargetsTarget, Elbv2WeightsTarget } from './elbv2.js';
import { LogTarget } from './log.js';
import { Route53Target } from './route53.js';
import type { Target } from './target.js';
import { WebhookTarget } from './webhook.js';

export type { Observation, Target, TargetChange, TargetDetail } from './target.js';

/**
 * The AWS clients targets use: created once per process, from the standard AWS
 * environment (region, credentials, AWS_ENDPOINT_URL_*), so the same code talks to AWS or
 * to an emulator. Our own retry loop owns the time budget, so the SDK makes one attempt.
 */
export interface AwsClients {
  route53(): Route53Client;
  elbv2(): ElasticLoadBalancingV2Client;
}

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

/**
 * Builds every configured target once per process. Secrets are read from the environment
 * here, so a missing one fails at start rather than at the first failover.
 */
export function buildTargets(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  aws: AwsClients = defaultAwsClients(),
): Map<string, Target[]> {
  const byCluster = new Map<string, Target[]>();
  for (const cluster of config.clusters) {
    byCluster.set(
      cluster.id,
      cluster.targets.map((t, i) => buildTarget(cluster, t, i, logger, env, aws)),
    );
  }
  return byCluster;
}

function buildTarget(
  cluster: ClusterConfig,
  target: TargetConfig,
  index: number,
  logger: Logger,
  env: NodeJS.ProcessEnv,
  aws: AwsClients,
): Target {
  switch (target.type) {
    case 'log':
      return new LogTarget(target.id, logger);
    case 'webhook': {
      const secret = env[target.secretEnv];
      if (!secret) {
        throw new ConfigError(
          `clusters[${cluster.id}].targets[${index}].secretEnv: environment variable ${target.secretEnv} is not set`,
        );
      }
      return new WebhookTarget(target.id, { url: target.url, secret, timeoutMs: target.timeoutMs });
    }
    case 'route53':
      return new Route53Target(target.id, aws.route53(), target);
    case 'elbv2-targets':
      return new Elbv2TargetsTarget(target.id, aws.elbv2(), target, cluster.nodes);
    case 'elbv2-weights':
      return new Elbv2WeightsTarget(target.id, aws.elbv2(), target, cluster.nodes);
    default:
      return assertNever(target);
  }
}
