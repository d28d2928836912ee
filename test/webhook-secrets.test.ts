/**
 * Webhook keys read from Secrets Manager at run time (`secretId`), against moto_server on
 * loopback: the secret is created with the real SDK client, the target is built from a
 * config by `buildTargets`, and a receiver on loopback checks the signature it gets. Reads
 * are counted by a middleware on the client the targets use, so "once per process" and
 * "retried after a failure" are what Secrets Manager saw, not what the cache says of itself.
 */
import { createHmac } from 'node:crypto';
import {
  CreateSecretCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ConfigInput, parseConfig } from '../shared/config.js';
import { TargetApplyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { buildTargets, type Target, type TargetChange } from '../shared/targets/index.js';
import { SIGNATURE_HEADER } from '../shared/targets/webhook.js';
import { findMoto, type MotoServer, startMoto } from './helpers/moto.js';
import { closeReceivers, type Receiver, startReceiver } from './helpers/webhook-receiver.js';

const moto = findMoto();

const CHANGE: TargetChange = {
  cluster: 'db',
  active: 'b',
  address: '10.0.0.2',
  members: [{ id: 'b', address: '10.0.0.2' }],
  epoch: 3,
  previous: 'a',
  reason: 'test',
  at: Date.UTC(2026, 11, 2),
};

const signature = (body: string, key: string) =>
  `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`;

/** A logger that keeps every line, to check what was said (and that no key was). */
function recordingLogger() {
  const lines: string[] = [];
  const line = (message: string, extra?: Record<string, unknown>) => {
    lines.push(`${message} ${JSON.stringify(extra ?? {})}`);
  };
  const logger: Logger = { info: line, warn: line, error: line };
  return { logger, lines };
}

describe.skipIf(!moto.available)('webhook secrets from Secrets Manager (moto)', () => {
  let aws: MotoServer;
  let receiver: Receiver;
  let url: string;
  /** GetSecretValue requests sent by the targets' client, and the Regions clients were asked for. */
  let reads: number;
  let regions: (string | undefined)[];
  let client: SecretsManagerClient;

  beforeAll(async () => {
    if (!moto.available) return;
    aws = await startMoto(moto);
    // moto loads its Secrets Manager code on the first request: not inside a test's deadline.
    await aws.secretsManager.send(new ListSecretsCommand({}));
  });
  afterAll(() => aws?.stop());

  beforeEach(async () => {
    await aws.reset();
    ({ receiver, url } = await startReceiver([204]));
    reads = 0;
    regions = [];
    client = new SecretsManagerClient(aws.clientConfig);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetSecretValueCommand') reads += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countReads' },
    );
  });
  afterEach(async () => {
    client.destroy();
    vi.unstubAllEnvs();
    await closeReceivers();
  });

  const createSecret = async (name: string, value: string) =>
    (await aws.secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: value })))
      .ARN as string;

  const webhooks = (...secretIds: string[]): ConfigInput => ({
    clusters: [
      {
        id: 'db',
        nodes: [
          { id: 'a', address: '10.0.0.1', tokenSha256: 'a'.repeat(64) },
          { id: 'b', address: '10.0.0.2', tokenSha256: 'b'.repeat(64) },
        ],
        targets: secretIds.map((secretId, i) => ({
          type: 'webhook' as const,
          id: `hook-${i}`,
          url,
          secretId,
          allowPrivateAddress: true,
        })),
      },
    ],
  });

  const build = (config: ConfigInput, logger: Logger = recordingLogger().logger): Target[] =>
    buildTargets(
      parseConfig(config),
      logger,
      {},
      {
        secretsManager: (region) => {
          regions.push(region);
          return client;
        },
      },
    ).get('db') ?? [];

  const lastSignature = () => {
    const request = receiver.requests.at(-1);
    if (request === undefined) throw new Error('the receiver got nothing');
    return { got: request.headers[SIGNATURE_HEADER], body: request.body };
  };

  it.each([
    ['name', (_arn: string) => 'failover/webhook', [undefined]],
    ['complete ARN', (arn: string) => arn, ['us-east-1']],
  ])(
    'signs with the value of the secret given by its %s, read in the right Region',
    async (_, id, inRegion) => {
      const arn = await createSecret('failover/webhook', 'k3y-from-secrets-manager');
      const [target] = build(webhooks(id(arn)));

      await target?.apply(CHANGE, Date.now() + 5_000);

      const { got, body } = lastSignature();
      expect(got).toBe(signature(body, 'k3y-from-secrets-manager'));
      expect(regions).toEqual(inRegion);
    },
  );

  it('reads each secret once per process: at build (cold start), not again for later applies or other targets', async () => {
    await createSecret('failover/webhook', 'once');
    const targets = build(webhooks('failover/webhook', 'failover/webhook'));

    // The read starts when the targets are built, before any failover needs it.
    await vi.waitFor(() => expect(reads).toBe(1), { timeout: 5_000 });
    for (const target of [...targets, ...targets]) await target.apply(CHANGE, Date.now() + 5_000);

    expect(receiver.requests).toHaveLength(4);
    expect(reads).toBe(1);
  });

  it('fails the apply naming the secret when it cannot be read, and reads again at the next apply', async () => {
    const { logger, lines } = recordingLogger();
    const [target] = build(webhooks('failover/not-yet'), logger);
    await vi.waitFor(() => expect(lines.join('\n')).toMatch(/hook-0: secret not read at start/), {
      timeout: 5_000,
    });

    const failure = target?.apply(CHANGE, Date.now() + 1_500);
    await expect(failure).rejects.toBeInstanceOf(TargetApplyError);
    await expect(failure).rejects.toThrow(
      /webhook hook-0 not delivered: .*SecretReadError: secret failover\/not-yet not read: ResourceNotFoundException/,
    );
    expect(receiver.requests).toHaveLength(0);
    const readsWhileMissing = reads;
    expect(readsWhileMissing).toBeGreaterThanOrEqual(2); // the start-up read, then the apply's

    await createSecret('failover/not-yet', 'created-later');
    await target?.apply(CHANGE, Date.now() + 5_000);

    const { got, body } = lastSignature();
    expect(got).toBe(signature(body, 'created-later'));
    expect(reads).toBe(readsWhileMissing + 1);
    await target?.apply(CHANGE, Date.now() + 5_000);
    expect(reads).toBe(readsWhileMissing + 1);
    expect(lines.join('\n')).not.toContain('created-later');
  });

  it('keeps the value for the life of the process: a rotated value reaches newly built targets (new containers)', async () => {
    await createSecret('failover/webhook', 'before-rotation');
    const [running] = build(webhooks('failover/webhook'));
    await running?.apply(CHANGE, Date.now() + 5_000);

    await aws.secretsManager.send(
      new PutSecretValueCommand({ SecretId: 'failover/webhook', SecretString: 'after-rotation' }),
    );
    await running?.apply(CHANGE, Date.now() + 5_000);
    expect(lastSignature().got).toBe(signature(lastSignature().body, 'before-rotation'));

    const [fresh] = build(webhooks('failover/webhook'));
    await fresh?.apply(CHANGE, Date.now() + 5_000);
    expect(lastSignature().got).toBe(signature(lastSignature().body, 'after-rotation'));
  });

  it('uses a client from the standard AWS environment by default (AWS_ENDPOINT_URL_SECRETS_MANAGER)', async () => {
    await createSecret('failover/webhook', 'from-the-environment');
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', aws.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    const [target] =
      buildTargets(parseConfig(webhooks('failover/webhook')), recordingLogger().logger).get('db') ?? [];

    await target?.apply(CHANGE, Date.now() + 5_000);

    expect(lastSignature().got).toBe(signature(lastSignature().body, 'from-the-environment'));
  });
});
