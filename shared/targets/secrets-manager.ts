/**
 * Reads secrets from AWS Secrets Manager, with clients from the standard AWS environment
 * (region, credentials, AWS_ENDPOINT_URL_SECRETS_MANAGER). This module is loaded only when
 * a target names a `secretId`, so other configs never load this SDK package.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretFetch } from './secrets.js';

/** Where a secret is read: a name in the function's own Region, an ARN in the Region it names. */
export type SecretsManagerClients = (region: string | undefined) => SecretsManagerClient;

export function secretsManagerFetch(clients?: SecretsManagerClients): SecretFetch {
  const byRegion = new Map<string | undefined, SecretsManagerClient>();
  const create: SecretsManagerClients =
    clients ?? ((region) => new SecretsManagerClient(region ? { region } : {}));
  return async (secretId, signal) => {
    const region = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(secretId)?.[1];
    let client = byRegion.get(region);
    if (client === undefined) {
      client = create(region);
      byRegion.set(region, client);
    }
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: signal });
    // A binary secret, or an empty one, cannot be an HMAC key.
    if (!out.SecretString) throw new Error('the secret has no string value');
    return out.SecretString;
  };
}
