import * as z from 'zod/mini';
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
});

export const webhook = {
  type: 'webhook',
  schema,
  envFields: ['secretEnv'],
  build: (target, { env }) =>
    new WebhookTarget(target.id, {
      url: target.url,
      secret: env[target.secretEnv] as string, // set: see envFields
      timeoutMs: target.timeoutMs,
    }),
  iam: () => [],
} satisfies TargetKind<typeof schema>;
