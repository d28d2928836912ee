import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Route53Client } from '@aws-sdk/client-route-53';
import type { ClusterConfig, Config, TargetConfig } from '../config.js';
import { assertNever } from '../core/state.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { lazyTarget, loadOnce } from './lazy.js';
import { LogTarget } from './log.js';
import type { Target } from './target.js';
import { WebhookTarget } from './webhook.js';

export type { Observation, Target, TargetChange, TargetDetail } from './target.js';

/** Where AWS targets get their SDK clients (tests inject emulator-backed ones). */
export interface AwsClients {
  route53(): Route53Client;
  elbv2(): ElasticLoadBalancingV2Client;
}

/**
 * Builds every configured target once per process. Secrets are read from the environment
 * here, so a missing one fails at start rather than at the first failover.
 */
export function buildTargets(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  aws?: AwsClients,
): Map<string, Target[]> {
  // The AWS SDK packages for targets load on first use: most of a cold start is loading SDK code.
  const awsClients = loadOnce(async () =>
    aws ? aws : import('./aws-clients.js').then((m) => m.defaultAwsClients()),
  );
  const byCluster = new Map<string, Target[]>();
  for (const cluster of config.clusters) {
    byCluster.set(
      cluster.id,
      cluster.targets.map((t, i) => buildTarget(cluster, t, i, logger, env, awsClients)),
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
  aws: () => Promise<AwsClients>,
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
      return lazyTarget(target.id, target.type, async () => {
        const { Route53Target } = await import('./route53.js');
        return new Route53Target(target.id, (await aws()).route53(), target);
      });
    case 'elbv2-targets':
      return lazyTarget(target.id, target.type, async () => {
        const { Elbv2TargetsTarget } = await import('./elbv2.js');
        return new Elbv2TargetsTarget(target.id, (await aws()).elbv2(), target, cluster.nodes);
      });
    case 'elbv2-weights':
      return lazyTarget(target.id, target.type, async () => {
        const { Elbv2WeightsTarget } = await import('./elbv2.js');
        return new Elbv2WeightsTarget(target.id, (await aws()).elbv2(), target, cluster.nodes);
      });
    default:
      return assertNever(target);
  }
}
