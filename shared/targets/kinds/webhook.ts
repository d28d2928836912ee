import * as z from 'zod/mini';
import { literalAddress, refusedAddress } from '../../addresses.js';
import { int } from '../../config-fields.js';
import { type TargetKind, targetSchema } from '../kind.js';
import { WebhookTarget } from '../webhook.js';

const schema = targetSchema('webhook', {
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** Name of the environment variable that holds the HMAC secret (the secret itself never sits in the config). */
  secretEnv: z
    .string({ error: 'must be the name of an environment variable' })
    .check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')),
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
  // A literal address is checked here, at start and at synth; a host name at send time.
  check: (target, index, _cluster, issue) => {
    if (!URL.canParse(target.url)) return; // the url field's own issue says so
    const literal = literalAddress(new URL(target.url));
    const refused = literal && refusedAddress(literal, { allowPrivate: target.allowPrivateAddress });
    if (refused) issue(['targets', index, 'url'], refused);
  },
  build: (target, { env }) =>
    new WebhookTarget(target.id, {
      url: target.url,
      secret: env[target.secretEnv] as string, // set: see envFields
      timeoutMs: target.timeoutMs,
      addresses: { allowPrivate: target.allowPrivateAddress },
    }),
  iam: () => [],
} satisfies TargetKind<typeof schema>;
