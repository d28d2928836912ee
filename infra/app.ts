/**
 * The repository's own CDK app: `npx cdk deploy` deploys the control plane described by
 * failover.config.json (or `-c config=FILE`). Webhook secrets are named in the config
 * (`secretId`) and read by the functions at run time. The ingress: `-c ingress=http-api`
 * (default), `-c ingress=function-url`, `-c ingress=rest-api` (behind AWS WAF;
 * `-c wafRateLimit=N` per source IP per 5 minutes) or `-c ingress=private` (with
 * `-c vpcEndpointIds=vpce-1,vpce-2`).
 */
import { App, Stack } from 'aws-cdk-lib';
import { loadConfigFile } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { FailoverControlPlane, INGRESSES, type Ingress } from './control-plane.js';

const app = new App();
const configPath: string = app.node.tryGetContext('config') ?? 'failover.config.json';

const ingress = String(app.node.tryGetContext('ingress') ?? 'http-api') as Ingress;
const vpcEndpointIds = listContext('vpcEndpointIds');
const wafLimit = app.node.tryGetContext('wafRateLimit');

/** A comma-separated context value as a list; undefined when not given. */
function listContext(name: string): string[] | undefined {
  const raw = app.node.tryGetContext(name);
  if (raw === undefined) return undefined;
  return String(raw)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

try {
  if (!INGRESSES.includes(ingress)) {
    throw new ConfigError(`ingress: expected one of ${INGRESSES.join(', ')}, got '${ingress}'`);
  }
  if (wafLimit !== undefined && !/^\d+$/.test(String(wafLimit))) {
    throw new ConfigError(
      `wafRateLimit: expected a whole number of requests per 5 minutes, got '${wafLimit}'`,
    );
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
      ...(vpcEndpointIds ? { vpcEndpointIds } : {}),
      ...(wafLimit === undefined ? {} : { wafRateLimit: Number(wafLimit) }),
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
