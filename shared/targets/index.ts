import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AwsClients } from './kind.js';
import { loadOnce } from './lazy.js';
import { environmentOf, kindOf } from './registry.js';
import { secretCache } from './secrets.js';
import type { SecretsManagerClients } from './secrets-manager.js';
import type { Target } from './target.js';

export type { AwsClients } from './kind.js';
export type { Observation, Target, TargetChange, TargetDetail } from './target.js';

/** What targets reach AWS through; tests inject emulator-backed clients. */
export interface TargetAdapters {
  /** @default clients from the standard AWS environment */
  aws?: AwsClients;
  /** Clients that read `secretId` secrets. @default from the standard AWS environment */
  secretsManager?: SecretsManagerClients;
}

/**
 * Builds every configured target once per process, each by its kind's factory. Environment
 * variables the targets read (secrets) are checked here, so a missing one fails at start
 * rather than at the first failover.
 */
export function buildTargets(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  adapters: TargetAdapters = {},
): Map<string, Target[]> {
  // The AWS SDK packages for targets load on first use: most of a cold start is loading SDK code.
  const awsClients = loadOnce(
    async () => adapters.aws ?? (await import('./aws-clients.js')).defaultAwsClients(),
  );
  const secretsManager = loadOnce(async () =>
    (await import('./secrets-manager.js')).secretsManagerFetch(adapters.secretsManager),
  );
  const secret = secretCache(async (secretId, signal) => (await secretsManager())(secretId, signal));
  const byCluster = new Map<string, Target[]>();
  for (const cluster of config.clusters) {
    const targets = cluster.targets.map((target, i) => {
      for (const { field, name } of environmentOf(target)) {
        if (!env[name]) {
          throw new ConfigError(
            `clusters[${cluster.id}].targets[${i}].${field}: environment variable ${name} is not set`,
          );
        }
      }
      return kindOf(target.type).build(target, {
        nodes: cluster.nodes,
        logger,
        env,
        aws: awsClients,
        secret,
      });
    });
    byCluster.set(cluster.id, targets);
  }
  return byCluster;
}
