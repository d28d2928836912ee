import type { ClusterConfig, Config, TargetConfig } from '../config.js';
import { assertNever } from '../core.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { LogTarget } from './log.js';
import type { Target } from './target.js';
import { WebhookTarget } from './webhook.js';

export type { Target, TargetChange } from './target.js';

/**
 * Builds every configured target once per process. Secrets are read from the environment
 * here, so a missing one fails at start rather than at the first failover.
 */
export function buildTargets(config: Config, logger: Logger, env: NodeJS.ProcessEnv = process.env) {
  const byCluster = new Map<string, Target[]>();
  for (const cluster of config.clusters) {
    byCluster.set(
      cluster.id,
      cluster.targets.map((t, i) => buildTarget(cluster, t, i, logger, env)),
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
    default:
      return assertNever(target);
  }
}
