/**
 * End to end against emulated AWS: the real `failover serve` and `failover agent`
 * processes on loopback, with the server's Route 53 and ELBv2 targets pointed at
 * moto_server through the standard SDK environment (`AWS_ENDPOINT_URL_ROUTE_53`,
 * `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`), and SIGKILL as the failure. The server's
 * own DynamoDB is dynalite on an endpoint passed explicitly, so those variables reach the
 * targets only. Every assertion on traffic reads moto's state back with the SDK.
 *
 * Targets are applied right after a transition commits, not as part of it, so what moto
 * holds is polled until it matches (generous timeouts, no timed assertions).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Action,
  CreateListenerCommand,
  DescribeListenersCommand,
  DescribeTargetHealthCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClusterStatus } from '../shared/control-plane/control-plane.js';
import type { ClusterEvent } from '../shared/core/state.js';
import { mintToken } from '../shared/tokens.js';
import {
  createHostedZone,
  createLoadBalancer,
  createTargetGroup,
  findMoto,
  type MotoServer,
  startMoto,
} from './helpers/moto.js';
import { type Proc, Processes, removeDir, stop } from './helpers/processes.js';

const moto = findMoto();

const RECORD = 'db.example.test';
const TTL = 30;
const PORT = 5432;
/** How long any one expected state may take to show (a lease is 3 s here). */
const POLL = { timeout: 20_000, interval: 100 };
const NODES = {
  a: { address: '10.0.1.11' },
  b: { address: '10.0.2.12' },
  c: { address: '10.0.1.13' },
} as const;
type NodeId = keyof typeof NODES;

// ---- processes ---------------------------------------------------------------------

const procs = new Processes();

/** Polls until `pattern` shows in `proc`'s output; on timeout, fails showing every process's output. */
async function waitForLine(proc: Proc, pattern: RegExp): Promise<RegExpExecArray> {
  const deadline = Date.now() + POLL.timeout;
  for (;;) {
    const match = pattern.exec(proc.output());
    if (match) return match;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${POLL.timeout} ms waiting for ${pattern} from ${proc.name}\n${procs.outputs()}`,
      );
    }
    await sleep(50);
  }
}

/**
 * Retries `assertion` until it passes; on timeout rethrows its last failure with every
 * process's output attached.
 */
async function eventually(assertion: () => Promise<void>): Promise<void> {
  try {
    await vi.waitFor(assertion, POLL);
  } catch (error) {
    if (error instanceof Error) error.message += `\n${procs.outputs()}`;
    throw error;
  }
}

// ---- moto ----------------------------------------------------------------------------

let aws: MotoServer;
let dir: string;

/** What one test builds in moto. */
interface Infra {
  zoneId: string;
  sharedGroup: string;
  /** One target group per node, for elbv2-weights. */
  groups: Partial<Record<NodeId, string>>;
  listenerArn: string;
}

/** A hosted zone, a VPC with two subnets, an ALB, a shared group, a group per node and an HTTP listener. */
async function createInfra(nodeIds: readonly NodeId[]): Promise<Infra> {
  const zoneId = await createHostedZone(aws, 'example.test.');
  const { vpcId, lbArn } = await createLoadBalancer(aws, 'failover-e2e-alb');
  const group = (name: string) => createTargetGroup(aws, vpcId, name, PORT);
  const sharedGroup = await group('db-shared');
  const groups: Infra['groups'] = {};
  for (const id of nodeIds) groups[id] = await group(`db-${id}`);
  // A plain forward to the first node's group: the first apply turns it into weighted ForwardConfig.
  const listener = await aws.elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: lbArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: groups[nodeIds[0] as NodeId] }],
    }),
  );
  const listenerArn = listener.Listeners?.[0]?.ListenerArn as string;
  return { zoneId, sharedGroup, groups, listenerArn };
}

/** The record's values, sorted (undefined when there is no such record). */
async function recordValues(infra: Infra): Promise<string[] | undefined> {
  const out = await aws.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: infra.zoneId }));
  const record = out.ResourceRecordSets?.find((r) => r.Name === `${RECORD}.` && r.Type === 'A');
  return record && (record.ResourceRecords ?? []).map((r) => r.Value as string).sort();
}

/** Target ids that receive traffic from the shared group, sorted (draining ones do not count). */
async function registeredIds(infra: Infra): Promise<string[]> {
  const out = await aws.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: infra.sharedGroup }));
  return (out.TargetHealthDescriptions ?? [])
    .filter((d) => d.TargetHealth?.State !== 'draining')
    .map((d) => d.Target?.Id as string)
    .sort();
}

/** The listener's forward weights keyed by node (a plain TargetGroupArn counts as weight 1). */
async function listenerWeights(infra: Infra): Promise<Record<string, number>> {
  const out = await aws.elbv2.send(new DescribeListenersCommand({ ListenerArns: [infra.listenerArn] }));
  const forwards = (out.Listeners?.[0]?.DefaultActions ?? []).filter((a) => a.Type === 'forward');
  expect(forwards).toHaveLength(1);
  const forward = forwards[0] as Action;
  const label = (arn: string | undefined) =>
    Object.entries(infra.groups).find(([, v]) => v === arn)?.[0] ?? `unknown ${arn}`;
  const tuples = forward.ForwardConfig?.TargetGroups ?? [
    { TargetGroupArn: forward.TargetGroupArn, Weight: 1 },
  ];
  return Object.fromEntries(tuples.map((g) => [label(g.TargetGroupArn), g.Weight ?? 1]));
}

/** Every target holds exactly `members` of the cluster's `nodeIds`: the record, the shared group, the weights. */
async function expectTrafficOn(infra: Infra, nodeIds: readonly NodeId[], members: readonly NodeId[]) {
  const addresses = members.map((n) => NODES[n].address).sort();
  expect(await recordValues(infra)).toEqual(addresses);
  expect(await registeredIds(infra)).toEqual(addresses);
  expect(await listenerWeights(infra)).toEqual(
    Object.fromEntries(nodeIds.map((n) => [n, members.includes(n) ? 1 : 0])),
  );
}

// ---- the control plane -----------------------------------------------------------------

/** Writes a one-cluster config (interval 1 s, lease 3 s) with the three AWS targets; returns its path and tokens. */
function writeConfig(
  clusterId: string,
  nodeIds: readonly NodeId[],
  infra: Infra,
  extra: Record<string, unknown> = {},
) {
  const tokens: Partial<Record<NodeId, string>> = {};
  const nodes = nodeIds.map((id) => {
    const { token, sha256 } = mintToken();
    tokens[id] = token;
    return {
      id,
      address: NODES[id].address,
      tokenSha256: sha256,
      targetId: NODES[id].address,
      targetGroupArn: infra.groups[id],
    };
  });
  const targets = [
    { type: 'route53', hostedZoneId: infra.zoneId, recordName: RECORD, recordType: 'A', ttl: TTL },
    { type: 'elbv2-targets', targetGroupArn: infra.sharedGroup, port: PORT },
    { type: 'elbv2-weights', listenerArn: infra.listenerArn },
  ];
  const config = {
    clusters: [{ id: clusterId, heartbeatIntervalSeconds: 1, missedBeats: 3, ...extra, nodes, targets }],
  };
  const file = join(dir, `${clusterId}.config.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, tokens: tokens as Record<NodeId, string> };
}

/** `failover serve` with only its Route 53 and ELBv2 clients pointed at moto. */
async function startServer(configFile: string): Promise<string> {
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_ROUTE_53: aws.endpoint,
    AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: aws.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  };
  const proc = procs.start(
    'server',
    ['serve', '--config', configFile, '--memory', '--port', '0', '--sweep-interval', '0.5'],
    env,
  );
  const match = await waitForLine(proc, /listening on (http:\/\/\S+)/);
  return match[1] as string;
}

function startAgent(url: string, cluster: string, node: NodeId, token: string): Proc {
  return procs.start(`agent ${node}`, ['agent', '--url', url, '--cluster', cluster, '--node', node], {
    FAILOVER_TOKEN: token,
  });
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

const status = (url: string, cluster: string) => getJson<ClusterStatus>(`${url}/v1/clusters/${cluster}`);
const events = async (url: string, cluster: string) =>
  (await getJson<{ events: ClusterEvent[] }>(`${url}/v1/clusters/${cluster}/events?limit=100`)).events;

/** Status names every target applied, without error, for `epoch`. */
async function expectAllApplied(url: string, cluster: string, epoch: number) {
  const s = await status(url, cluster);
  expect(s.epoch).toBe(epoch);
  expect(s.targets.map((t) => [t.type, t.state, t.epoch, t.error])).toEqual([
    ['route53', 'applied', epoch, null],
    ['elbv2-targets', 'applied', epoch, null],
    ['elbv2-weights', 'applied', epoch, null],
  ]);
}

// ---------------------------------------------------------------------------------------

describe.skipIf(!moto.available)(
  'failover end to end against moto_server (real server and agent processes)',
  () => {
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'failover-e2e-aws-'));
      aws = await startMoto(moto);
    });

    beforeEach(async () => {
      await aws.reset();
    });

    afterEach(() => procs.stopAll());

    afterAll(async () => {
      await procs.stopAll();
      await aws?.stop();
      if (dir) removeDir(dir);
    });

    it('active-passive: the record, the shared target group and the listener weights follow a to b when a is killed, and status shows every target applied for epoch 2', async () => {
      const nodeIds = ['a', 'b'] as const;
      const infra = await createInfra(nodeIds);
      const { file, tokens } = writeConfig('ap', nodeIds, infra);
      const url = await startServer(file);

      const a = startAgent(url, 'ap', 'a', tokens.a);
      await waitForLine(a, /role: active \(epoch 1\D/);
      const b = startAgent(url, 'ap', 'b', tokens.b);
      await waitForLine(b, /role: standby \(epoch 1\D/);
      await eventually(() => expectTrafficOn(infra, nodeIds, ['a']));
      await eventually(() => expectAllApplied(url, 'ap', 1));

      await stop(a, 'SIGKILL');
      await waitForLine(b, /role: active \(epoch 2\D/);

      await eventually(() => expectTrafficOn(infra, nodeIds, ['b']));
      await eventually(() => expectAllApplied(url, 'ap', 2));
      const s = await status(url, 'ap');
      expect(s).toMatchObject({ active: 'b', epoch: 2, serving: ['b'] });
      expect(s.nodes.find((n) => n.id === 'a')?.alive).toBe(false);
      const promoted = (await events(url, 'ap')).find((e) => e.kind === 'promoted' && e.epoch === 2);
      expect(promoted).toMatchObject({ active: 'b', previous: 'a' });
    }, 120_000);

    it('active-active: every node serves; a killed member leaves every target within a lease without an epoch change, and a killed leader hands the role to b', async () => {
      const nodeIds = ['a', 'b', 'c'] as const;
      const infra = await createInfra(nodeIds);
      const { file, tokens } = writeConfig('aa', nodeIds, infra, { mode: 'active-active' });
      const url = await startServer(file);

      const a = startAgent(url, 'aa', 'a', tokens.a);
      await waitForLine(a, /role: active \(epoch 1\D/);
      const b = startAgent(url, 'aa', 'b', tokens.b);
      const c = startAgent(url, 'aa', 'c', tokens.c);
      await Promise.all([b, c].map((p) => waitForLine(p, /role: standby \(epoch 1\D/)));

      // All three serve: three addresses in the record, three registered, three weights of 1.
      await eventually(() => expectTrafficOn(infra, nodeIds, ['a', 'b', 'c']));
      await eventually(() => expectAllApplied(url, 'aa', 1));
      expect(await status(url, 'aa')).toMatchObject({ mode: 'active-active', active: 'a', epoch: 1 });

      // c dies: it leaves every target, and the leader and epoch stay where they were.
      await stop(c, 'SIGKILL');
      await eventually(() => expectTrafficOn(infra, nodeIds, ['a', 'b']));
      const afterC = await status(url, 'aa');
      expect(afterC).toMatchObject({ active: 'a', epoch: 1, serving: ['a', 'b'] });
      const serving = (await events(url, 'aa')).find(
        (e) => e.kind === 'serving' && e.reason.includes('left: c'),
      );
      expect(serving).toMatchObject({ kind: 'serving', epoch: 1 });
      expect(serving?.reason).toMatch(/^serving set is now a, b \(left: c was last seen/);
      expect((await events(url, 'aa')).filter((e) => e.kind === 'promoted').map((e) => e.epoch)).toEqual([1]);
      await eventually(() => expectAllApplied(url, 'aa', 1));

      // The leader dies: b is elected at epoch 2 and serves alone.
      await stop(a, 'SIGKILL');
      await waitForLine(b, /role: active \(epoch 2\D/);
      await eventually(() => expectTrafficOn(infra, nodeIds, ['b']));
      await eventually(() => expectAllApplied(url, 'aa', 2));
      expect(await status(url, 'aa')).toMatchObject({ active: 'b', epoch: 2, serving: ['b'] });
      const promoted = (await events(url, 'aa')).find((e) => e.kind === 'promoted' && e.epoch === 2);
      expect(promoted).toMatchObject({ active: 'b', previous: 'a' });
    }, 120_000);
  },
);
