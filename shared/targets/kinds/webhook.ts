import * as z from 'zod/mini';
import { literalAddress, refusedAddress } from '../../addresses.js';
import { int } from '../../config-fields.js';
import type { Logger } from '../../logger.js';
import { type TargetKind, targetSchema } from '../kind.js';
import type { SecretSource } from '../secrets.js';
import { WebhookTarget } from '../webhook.js';

/** A secret's name (what Secrets Manager allows in one), or its complete ARN (with the random suffix). */
const SECRET_NAME = '[A-Za-z0-9/_+=.@-]{1,512}';
const SECRET_ARN = `arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:${SECRET_NAME}-[A-Za-z0-9]{6}`;
const SECRET_ID = new RegExp(`^(${SECRET_ARN}|${SECRET_NAME})$`);

/** Where the HMAC key is read; the key itself never sits in the config. */
const SECRET_FIELDS =
  'secretId (a Secrets Manager secret, read at run time: for a deployed control plane) or secretEnv ' +
  '(an environment variable: for a local server)';

const schema = targetSchema('webhook', {
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** A Secrets Manager secret (name or complete ARN) whose string value is the HMAC key. */
  secretId: z.optional(
    z
      .string({ error: 'must be a Secrets Manager secret name or ARN' })
      .check(z.regex(SECRET_ID, 'must be a Secrets Manager secret name or its complete ARN')),
  ),
  /** Name of the environment variable that holds the HMAC key. */
  secretEnv: z.optional(
    z
      .string({ error: 'must be the name of an environment variable' })
      .check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')),
  ),
  /** Per-attempt timeout; attempts repeat with backoff until the apply budget runs out. */
  timeoutMs: z._default(int(100, 30_000), 2_000),
  /**
   * Lets the URL reach loopback, link-local and private addresses (a receiver inside a VPC,
   * or on this host while developing). Metadata and reserved addresses are refused anyway.
   * One rule for every place a config runs: what passes locally passes deployed, and
   * nothing more. @default false
   */
  allowPrivateAddress: z._default(z.boolean({ error: 'must be true or false' }), false),
});

export const webhook = {
  type: 'webhook',
  schema,
  envFields: ['secretEnv'],
  check: (target, index, _cluster, issue) => {
    if ((target.secretId === undefined) === (target.secretEnv === undefined)) {
      issue(['targets', index], `a webhook needs exactly one of ${SECRET_FIELDS}`);
    }
    // A literal address is checked here, at start and at synth; a host name at send time.
    if (!URL.canParse(target.url)) return; // the url field's own issue says so
    const literal = literalAddress(new URL(target.url));
    const refused = literal && refusedAddress(literal, { allowPrivate: target.allowPrivateAddress });
    if (refused) issue(['targets', index, 'url'], refused);
  },
  build: (target, { env, secret, logger }) =>
    new WebhookTarget(target.id, {
      url: target.url,
      secret: target.secretId
        ? warmedUp(secret(target.secretId), target.id, logger)
        : async () => env[target.secretEnv as string] as string, // set: see envFields
      timeoutMs: target.timeoutMs,
      addresses: { allowPrivate: target.allowPrivateAddress },
    }),
  // Exactly the named secrets. A name matches the ARN Secrets Manager gives it (the name,
  // a dash and six random characters), in the function's own Region and account.
  iam(targets, { partition, region, account }) {
    const ids = [...new Set(targets.flatMap((t) => (t.secretId ? [t.secretId] : [])))];
    if (ids.length === 0) return [];
    const arns = ids.map((id) =>
      id.startsWith('arn:') ? id : `arn:${partition}:secretsmanager:${region}:${account}:secret:${id}-??????`,
    );
    return [{ actions: ['secretsmanager:GetSecretValue'], resources: arns }];
  },
} satisfies TargetKind<typeof schema>;

/**
 * Starts reading the secret now (at cold start), so the first failover finds it in the
 * cache. A failure here is logged and forgotten: the first apply reads again.
 */
function warmedUp(source: SecretSource, id: string, logger: Logger): SecretSource {
  source().catch((err: unknown) => {
    logger.warn(`webhook ${id}: secret not read at start; the first apply tries again`, {
      error: err instanceof Error ? err.message : String(err),
    });
  });
  return source;
}
