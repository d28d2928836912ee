/**
 * moto_server on loopback for the AWS target integration tests: one process serves
 * Route 53, ELBv2, EC2 and Secrets Manager. It is installed in the machine's Python on the development and
 * CI machines but not on a user's: when it is missing the tests skip with a visible
 * message, and under CI (`CI` set) they fail instead.
 *
 *   const moto = findMoto();
 *   describe.skipIf(!moto.available)('…', () => {
 *     let server: MotoServer;
 *     beforeAll(async () => { server = await startMoto(moto); });
 *     afterAll(() => server?.stop());
 *   });
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { CreateSubnetCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateHostedZoneCommand, DeleteHostedZoneCommand, Route53Client } from '@aws-sdk/client-route-53';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sleep } from '../../shared/time.js';

export type MotoLookup = { available: true; path: string } | { available: false; reason: string };

/** Looks for `moto_server` on PATH; absent → skip with a warning, or throw when CI is set. */
export function findMoto(env: NodeJS.ProcessEnv = process.env): MotoLookup {
  const found = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  const path = found.status === 0 ? found.stdout.trim() : '';
  if (path !== '') return { available: true, path };
  const reason = 'moto_server is not on PATH (pip install "moto[server]")';
  if (env.CI) throw new Error(`${reason}: the AWS target integration tests cannot be skipped in CI`);
  console.warn(`\n  SKIPPED: AWS target integration tests: ${reason}\n`);
  return { available: false, reason };
}

export interface MotoServer {
  endpoint: string;
  port: number;
  /** What a client of moto is created with (endpoint, Region, dummy credentials, one attempt). */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    maxAttempts: number;
  };
  route53: Route53Client;
  elbv2: ElasticLoadBalancingV2Client;
  ec2: EC2Client;
  secretsManager: SecretsManagerClient;
  /** Forgets every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  /** Seeds moto's random generator (POST /moto-api/seed), which draws its resource ids. */
  seed(value: number): Promise<void>;
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function motoApi(endpoint: string, path: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/${path}`, { method: 'POST' });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`moto ${path} failed: HTTP ${res.status}`);
}

/** Starts moto_server on a free loopback port and waits (up to `readyTimeoutMs`) until it answers. */
export async function startMoto(
  lookup: MotoLookup,
  { readyTimeoutMs = 20_000 }: { readyTimeoutMs?: number } = {},
): Promise<MotoServer> {
  if (!lookup.available) throw new Error(lookup.reason);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(lookup.path, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  let exited: string | null = null;
  // Safety net: should the test process end without afterAll, do not leave moto behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
    process.off('exit', killOnExit);
  });

  const stop = async () => {
    if (exited !== null || child.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(timer);
  };

  const started = Date.now();
  for (;;) {
    if (exited !== null) throw new Error(`moto_server ${exited} before it was ready:\n${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() - started > readyTimeoutMs) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within ${readyTimeoutMs} ms:\n${stderr}`);
    }
    await sleep(100);
  }

  const common = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // The targets' own retry loop owns the time budget, as with defaultAwsClients().
    maxAttempts: 1,
  };
  const route53 = new Route53Client(common);
  const elbv2 = new ElasticLoadBalancingV2Client(common);
  const ec2 = new EC2Client(common);
  const secretsManager = new SecretsManagerClient(common);
  return {
    endpoint,
    port,
    clientConfig: common,
    route53,
    elbv2,
    ec2,
    secretsManager,
    reset: () => motoApi(endpoint, 'reset'),
    seed: (value: number) => motoApi(endpoint, `seed?a=${value}`),
    stop: async () => {
      route53.destroy();
      elbv2.destroy();
      ec2.destroy();
      secretsManager.destroy();
      await stop();
    },
  };
}

/** A seed after which moto's next hosted zone id starts with Z (found once per process). */
let zoneSeed: number | undefined;
/** Where the search starts: the first such seed on moto 5.2.1 (other versions search on from it). */
const FIRST_SEED = 88;

/**
 * Creates a hosted zone whose id looks like AWS's. moto draws the 22 characters of a zone
 * id from [A-Z0-9], while AWS ids (and so the config schema) start with `Z`. The first
 * call searches for a seed of moto's random generator after which the next zone id starts
 * with Z (about 36 tries, 12 ms each, unless FIRST_SEED works at once); later calls seed with it and get such an id at the first try.
 * Seeding right before the call keeps this independent of what was created earlier.
 */
export async function createHostedZone(aws: MotoServer, name: string): Promise<string> {
  for (let attempt = 0; attempt < 2_000; attempt++) {
    const seed = zoneSeed ?? FIRST_SEED + attempt;
    await aws.seed(seed);
    const out = await aws.route53.send(
      new CreateHostedZoneCommand({
        Name: name,
        CallerReference: `failover-test-${process.pid}-${Date.now()}-${attempt}`,
      }),
    );
    const id = out.HostedZone?.Id ?? '';
    if (/^(\/hostedzone\/)?Z/.test(id)) {
      zoneSeed = seed;
      return id;
    }
    zoneSeed = undefined;
    await aws.route53.send(new DeleteHostedZoneCommand({ Id: id }));
  }
  throw new Error('moto_server gave no hosted zone id starting with Z in 2000 tries');
}

/**
 * An application load balancer to hang listeners and target groups on: a VPC with two
 * subnets in two zones (what an ALB needs) and the ALB itself.
 */
export async function createLoadBalancer(
  aws: MotoServer,
  name: string,
): Promise<{ vpcId: string; lbArn: string }> {
  const vpc = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc?.VpcId as string;
  const subnets = await Promise.all(
    (['us-east-1a', 'us-east-1b'] as const).map(async (az, i) => {
      const out = await aws.ec2.send(
        new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.0.${i + 1}.0/24`, AvailabilityZone: az }),
      );
      return out.Subnet?.SubnetId as string;
    }),
  );
  const lb = await aws.elbv2.send(
    new CreateLoadBalancerCommand({ Name: name, Subnets: subnets, Type: 'application' }),
  );
  return { vpcId, lbArn: lb.LoadBalancers?.[0]?.LoadBalancerArn as string };
}

/** An HTTP target group of IP targets on `port`. */
export async function createTargetGroup(
  aws: MotoServer,
  vpcId: string,
  name: string,
  port: number,
): Promise<string> {
  const out = await aws.elbv2.send(
    new CreateTargetGroupCommand({
      Name: name,
      Protocol: 'HTTP',
      Port: port,
      VpcId: vpcId,
      TargetType: 'ip',
    }),
  );
  return out.TargetGroups?.[0]?.TargetGroupArn as string;
}
