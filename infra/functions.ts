/**
 * How each of the control plane's functions is packaged: bundled from `functions/<name>.ts`
 * with the config file beside the code, on arm64 and Node 24, with a log group and a role
 * of its own.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The config's file name in each bundle (`/var/task/<name>` at run time). */
export const CONFIG_FILE_NAME = 'failover.config.json';

export interface FunctionOptions {
  timeout: Duration;
  memorySize: number;
  reservedConcurrency?: number;
}

/** What every function shares: its environment, the staged config file, log retention. */
export interface FunctionCommon {
  environment: Record<string, string>;
  configFile: string;
  logRetention: RetentionDays;
}

export function controlPlaneFunction(
  scope: Construct,
  name: string,
  options: FunctionOptions,
  { environment, configFile, logRetention }: FunctionCommon,
): { f: NodejsFunction; logGroup: LogGroup } {
  const logGroup = new LogGroup(scope, `${name}Logs`, {
    retention: logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // A role of our own, instead of the managed basic-execution policy, so that logging is
  // allowed to this function's log group only.
  const role = new Role(scope, `${name}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  logGroup.grantWrite(role);
  const f = new NodejsFunction(scope, name, {
    entry: join(REPO_ROOT, 'functions', `${name.toLowerCase()}.ts`),
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    memorySize: options.memorySize,
    timeout: options.timeout,
    ...(options.reservedConcurrency === undefined
      ? {}
      : { reservedConcurrentExecutions: options.reservedConcurrency }),
    role,
    logGroup,
    environment,
    bundling: {
      // The SDK is in the Lambda runtime: keeping it out keeps bundles and cold starts small.
      externalModules: ['@aws-sdk/*'],
      minify: true,
      format: OutputFormat.CJS,
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (_input: string, output: string) => [
          `cp "${configFile}" "${output}/${CONFIG_FILE_NAME}"`,
        ],
      },
      target: 'node24',
    },
  });
  return { f, logGroup };
}

/** Writes the config where the bundling step can copy it from (one file per content hash). */
export function stagedConfigFile(json: string): string {
  const dir = join(tmpdir(), 'failover-cdk-config');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(json).digest('hex').slice(0, 16)}.json`);
  writeFileSync(file, json);
  return file;
}
