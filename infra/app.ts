/**
 * The repository's own CDK app: `npx cdk deploy` deploys the control plane described by
 * failover.config.json (or `-c config=FILE`). The ingress: `-c ingress=http-api` (default)
 * or `-c ingress=function-url`. Webhook secrets are named in the config (`secretId`) and
 * read by the functions at run time.
 */
import { App, Stack } from 'aws-cdk-lib';
import { loadConfigFile } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { FailoverControlPlane, type Ingress } from './control-plane.js';

const app = new App();
const configPath: string = app.node.tryGetContext('config') ?? 'failover.config.json';

const INGRESSES: readonly Ingress[] = ['http-api', 'function-url'];
const ingress = String(app.node.tryGetContext('ingress') ?? 'http-api') as Ingress;

try {
  if (!INGRESSES.includes(ingress)) {
    throw new ConfigError(`ingress: expected one of ${INGRESSES.join(', ')}, got '${ingress}'`);
  }
  const config = loadConfigFile(configPath);
  const name: string = app.node.tryGetContext('stackName') ?? 'Failover';
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  // Multi-Region: one stack per Region (`npx cdk deploy --all`); the first creates the table.
  const regions = config.regions ?? [process.env.CDK_DEFAULT_REGION];
  const stacks = regions.map(
    (region) =>
      new Stack(app, config.regions ? `${name}-${region}` : name, {
        description: `failover: serverless failover control plane${config.regions ? ` (${region})` : ''}`,
        env: { account, region },
      }),
  );
  for (const stack of stacks) {
    new FailoverControlPlane(stack, 'ControlPlane', {
      config,
      ingress,
      ...(config.regions ? { stateTableName: `${name.toLowerCase()}-state` } : {}),
    });
    if (stack !== stacks[0])
      stack.addStackDependency(stacks[0] as Stack, 'the first Region creates the table');
  }
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
