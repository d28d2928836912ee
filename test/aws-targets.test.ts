/**
 * Route 53 and ELBv2 targets against moto_server on loopback, through the real control
 * plane: heartbeats and sweeps (fake clock) over DynamoStateStore on dynalite, targets
 * built by `buildTargets` with SDK clients pointed at moto. Every assertion reads the
 * emulated AWS state back with the SDK, never the targets' own view of it.
 *
 * One moto_server for the file; each test resets it and builds its own zone, VPC, load
 * balancer, target groups, listener and rule, so tests do not depend on each other.
 *
 * moto differs from AWS in ways these tests avoid relying on (see TOOLCHAIN.md): a change
 * is INSYNC at once, target health is `healthy` at once, a deregistered target disappears
 * at once instead of `draining`, and a target group keys registrations by id only. For
 * elbv2-health it never sends a health check (so it cannot show traffic following
 * `/active`), accepts health settings below AWS's minimums, and keeps no matcher on a TCP
 * (NLB) group.
 */
import {
  type Action,
  CreateListenerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyTargetGroupCommand,
  RegisterTargetsCommand,
  type RuleCondition,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  type RRType,
} from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { type ClusterConfig, type ConfigInput, parseConfig } from '../shared/config.js';
import { ControlPlane } from '../shared/control-plane/control-plane.js';
import type { Beat } from '../shared/core/state.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { ensureHealthRouting } from '../shared/targets/elbv2-health.js';
import { buildTargets } from '../shared/targets/index.js';
import { mintToken } from '../shared/tokens.js';
import {
  createHostedZone,
  createLoadBalancer,
  createTargetGroup,
  findMoto,
  type MotoServer,
  startMoto,
} from './helpers/moto.js';
import { FakeClock, freshId } from './helpers/store-fixtures.js';

const moto = findMoto();

const RECORD = 'db.example.test';
const TTL = 30;
const PORT = 5432;
const NODES = {
  a: { address: '10.0.1.11' },
  b: { address: '10.0.2.12' },
  c: { address: '10.0.1.13' },
} as const;
type NodeId = keyof typeof NODES;
const NODE_IDS = Object.keys(NODES) as NodeId[];
const LEASE_MS = 3_000; // 1 s interval × 3 missed beats

/** What one test builds in moto. */
interface Infra {
  zoneId: string;
  /** Target group ARNs by label: the shared group, one per node, and one outside the cluster. */
  groups: Record<'shared' | NodeId | 'other', string>;
  listenerArn: string;
  ruleArn: string;
  /** The rule as created: its conditions and its non-forward action must survive every apply. */
  ruleConditions: RuleCondition[];
  ruleAuthAction: Action;
}

let server: MotoServer;
let dynamo: LocalDynamo;
let store: DynamoStateStore;
let infra: Infra;

async function createInfra(aws: MotoServer): Promise<Infra> {
  const zoneId = await createHostedZone(aws, 'example.test.');
  const { vpcId, lbArn } = await createLoadBalancer(aws, 'failover-alb');
  const group = (name: string) => createTargetGroup(aws, vpcId, name, PORT);
  const groups = {
    shared: await group('db-shared'),
    a: await group('db-a'),
    b: await group('db-b'),
    c: await group('db-c'),
    other: await group('canary'),
  };

  // Plain forward to node a's group: the first apply must turn it into weighted ForwardConfig.
  const listener = await aws.elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: lbArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: groups.a }],
    }),
  );
  const listenerArn = listener.Listeners?.[0]?.ListenerArn as string;

  // A rule with two conditions, an authentication action before the forward, and a group
  // outside the cluster in the forward: all of that belongs to the operator, not to us.
  const ruleConditions: RuleCondition[] = [
    { Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } },
    { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Env', Values: ['prod'] } },
  ];
  const ruleAuthAction: Action = {
    Type: 'authenticate-oidc',
    Order: 1,
    AuthenticateOidcConfig: {
      Issuer: 'https://idp.example.test',
      AuthorizationEndpoint: 'https://idp.example.test/auth',
      TokenEndpoint: 'https://idp.example.test/token',
      UserInfoEndpoint: 'https://idp.example.test/userinfo',
      ClientId: 'failover-test',
      ClientSecret: 'not-a-secret',
    },
  };
  const rule = await aws.elbv2.send(
    new CreateRuleCommand({
      ListenerArn: listenerArn,
      Priority: 10,
      Conditions: ruleConditions,
      Actions: [
        ruleAuthAction,
        {
          Type: 'forward',
          Order: 2,
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: groups.a, Weight: 1 },
              { TargetGroupArn: groups.other, Weight: 0 },
            ],
          },
        },
      ],
    }),
  );
  const ruleArn = rule.Rules?.[0]?.RuleArn as string;
  return { zoneId, groups, listenerArn, ruleArn, ruleConditions, ruleAuthAction };
}

type TargetInput = NonNullable<ConfigInput['clusters'][number]['targets']>[number];

function clusterInput(id: string, targets: TargetInput[]) {
  return {
    id,
    heartbeatIntervalSeconds: 1,
    missedBeats: 3,
    nodes: NODE_IDS.map((n) => ({
      id: n,
      address: NODES[n].address,
      tokenSha256: mintToken().sha256,
      targetId: NODES[n].address,
      targetGroupArn: infra.groups[n],
    })),
    targets,
  };
}

/** A control plane over dynalite whose targets talk to moto, with a fresh cluster. */
function setup(
  targets: TargetInput[] = [
    { type: 'route53', hostedZoneId: infra.zoneId, recordName: RECORD, recordType: 'A', ttl: TTL },
    { type: 'elbv2-targets', targetGroupArn: infra.groups.shared, port: PORT },
    { type: 'elbv2-weights', id: 'listener-weights', listenerArn: infra.listenerArn },
    { type: 'elbv2-weights', id: 'rule-weights', ruleArn: infra.ruleArn },
  ],
  logger: Logger = silentLogger,
  elbv2: () => ElasticLoadBalancingV2Client = () => server.elbv2,
) {
  const config = parseConfig({ clusters: [clusterInput(freshId('aws'), targets)] });
  const cluster = config.clusters[0] as ClusterConfig;
  // The fake clock starts in 2030: the AWS targets measure their retry budget against
  // Date.now(), so the control plane's deadline must not lie in the real past.
  const clock = new FakeClock();
  const cp = new ControlPlane({
    config,
    store,
    targets: buildTargets(config, logger, {}, { aws: { route53: () => server.route53, elbv2 } }),
    logger,
    now: clock.now,
    observeIntervalMs: 0,
  });
  const node = (id: NodeId) => cluster.nodes.find((n) => n.id === id) as ClusterConfig['nodes'][number];
  const beat = (id: NodeId, body: Beat = {}) => cp.heartbeat(cluster, node(id), body);
  const status = () => cp.status(cluster.id);
  const events = () => cp.events(cluster.id, 100);
  return { config, cluster, clock, cp, beat, status, events };
}

/** a, b and c beat in priority order: a becomes active at epoch 1 and its beat applies every target. */
async function activeA(env: ReturnType<typeof setup>) {
  const first = await env.beat('a');
  expect(first).toMatchObject({ role: 'active', epoch: 1 });
  await env.beat('b');
  await env.beat('c');
}

// ---- reading moto's state back ------------------------------------------------------

async function readRecord(name = RECORD, type: RRType = 'A') {
  const out = await server.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: infra.zoneId }));
  const record = out.ResourceRecordSets?.find((r) => r.Name === `${name}.` && r.Type === type);
  return record && { values: (record.ResourceRecords ?? []).map((r) => r.Value), ttl: record.TTL };
}

async function upsertRecord(value: string, ttl = TTL) {
  await server.route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: infra.zoneId,
      ChangeBatch: {
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: {
              Name: `${RECORD}.`,
              Type: 'A',
              TTL: ttl,
              ResourceRecords: [{ Value: value }],
            },
          },
        ],
      },
    }),
  );
}

/**
 * Target ids that receive traffic from the shared group. A target in `draining` is on its
 * way out and gets no new connections, so it does not count (AWS shows a deregistered
 * target as draining for the deregistration delay; moto drops it at once). Anything else
 * (healthy, initial, unhealthy, unused) is registered and counts.
 */
async function registeredIds(groupArn = infra.groups.shared): Promise<string[]> {
  const out = await server.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: groupArn }));
  return (out.TargetHealthDescriptions ?? [])
    .filter((d) => d.TargetHealth?.State !== 'draining')
    .map((d) => d.Target?.Id as string)
    .sort();
}

async function listenerActions(): Promise<Action[]> {
  const out = await server.elbv2.send(new DescribeListenersCommand({ ListenerArns: [infra.listenerArn] }));
  return out.Listeners?.[0]?.DefaultActions ?? [];
}

async function rule() {
  const out = await server.elbv2.send(new DescribeRulesCommand({ RuleArns: [infra.ruleArn] }));
  return out.Rules?.[0];
}

/** The forward action's weights keyed by group label (a plain TargetGroupArn counts as weight 1). */
function weights(actions: Action[]): Record<string, number> {
  const forwards = actions.filter((a) => a.Type === 'forward');
  expect(forwards).toHaveLength(1);
  const forward = forwards[0] as Action;
  const label = (arn: string | undefined) =>
    Object.entries(infra.groups).find(([, v]) => v === arn)?.[0] ?? `unknown ${arn}`;
  const tuples = forward.ForwardConfig?.TargetGroups ?? [
    { TargetGroupArn: forward.TargetGroupArn, Weight: 1 },
  ];
  return Object.fromEntries(tuples.map((g) => [label(g.TargetGroupArn), g.Weight ?? 1]));
}

const clusterWeights = (active: NodeId) => Object.fromEntries(NODE_IDS.map((n) => [n, n === active ? 1 : 0]));

/** Every place traffic follows points at `active`, and nothing the operator owns has changed. */
async function expectTrafficOn(active: NodeId) {
  expect(await readRecord()).toEqual({ values: [NODES[active].address], ttl: TTL });

  expect(await registeredIds()).toEqual([NODES[active].address]);

  const defaults = await listenerActions();
  expect(defaults).toHaveLength(1);
  expect(weights(defaults)).toEqual(clusterWeights(active));

  const r = await rule();
  expect(r?.Conditions).toEqual(infra.ruleConditions);
  expect(r?.Actions).toHaveLength(2);
  expect(r?.Actions?.find((a) => a.Type === 'authenticate-oidc')).toEqual(infra.ruleAuthAction);
  const forward = r?.Actions?.find((a) => a.Type === 'forward');
  expect(forward?.Order).toBe(2);
  expect(weights(r?.Actions ?? [])).toEqual({ ...clusterWeights(active), other: 0 });
}

async function expectAllApplied(env: ReturnType<typeof setup>, epoch: number) {
  const status = await env.status();
  expect(status.epoch).toBe(epoch);
  expect(status.targets.map((t) => [t.id, t.state, t.epoch, t.error])).toEqual([
    ['route53', 'applied', epoch, null],
    ['elbv2-targets', 'applied', epoch, null],
    ['listener-weights', 'applied', epoch, null],
    ['rule-weights', 'applied', epoch, null],
  ]);
  const route53 = status.targets.find((t) => t.id === 'route53');
  expect(route53?.detail?.changeId).toMatch(/^[A-Z0-9]+$/);
  // moto reports every change INSYNC at once; AWS says PENDING first (observe then polls GetChange).
  expect(route53?.detail?.changeStatus).toMatch(/^(PENDING|INSYNC)$/);
  return status;
}

const driftEvents = async (env: ReturnType<typeof setup>) =>
  (await env.events()).filter((e) => e.kind === 'drift');

// ---------------------------------------------------------------------------------------

describe.skipIf(!moto.available)('Route 53 and ELBv2 targets against moto_server', () => {
  beforeAll(async () => {
    [server, dynamo] = await Promise.all([startMoto(moto), startLocalDynamo({ table: 'aws-targets-test' })]);
    store = new DynamoStateStore(dynamo.client, dynamo.table);
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), dynamo?.close()]);
  });

  beforeEach(async () => {
    await server.reset();
    infra = await createInfra(server);
  });

  describe('failover moves every target to the active of the newest epoch', () => {
    it('points the record, the shared group, the listener and the rule at a, then b when a expires, then c when b reports failing', async () => {
      const env = setup();

      // Epoch 1: the first beat makes a active, and its own heartbeat applies every target.
      await activeA(env);
      await expectTrafficOn('a');
      await expectAllApplied(env, 1);

      // Epoch 2: a falls silent past its lease; the sweep promotes b and applies.
      // b and c beat every interval (on time, so the loss is a's alone: see grace.ts).
      for (let t = 0; t < LEASE_MS; t += 1_000) {
        env.clock.advance(1_000);
        await env.beat('b');
        await env.beat('c');
      }
      env.clock.advance(1_000); // a last seen LEASE_MS + 1 s ago; b and c 1 s ago
      const sweep = await env.cp.sweep();
      expect(sweep).toMatchObject({ promoted: 1, targetsApplied: 4, targetsFailed: 0, errors: 0 });
      expect((await env.status()).active).toBe('b');
      await expectTrafficOn('b');
      await expectAllApplied(env, 2);

      // Epoch 3: b reports failing; its own heartbeat promotes c and applies inline.
      await env.beat('c');
      const failing = await env.beat('b', { status: 'failing' });
      expect(failing).toMatchObject({ role: 'standby', epoch: 3, active: 'c' });
      await expectTrafficOn('c');
      const status = await expectAllApplied(env, 3);
      expect(status.lastTransition).toMatchObject({ epoch: 3, active: 'c', previous: 'b' });
    });

    it('finds nothing to repair when nobody touched the targets: a steady sweep neither applies nor raises drift', async () => {
      const env = setup();
      await activeA(env);
      const before = await env.status();

      const report = await env.cp.sweep();

      expect(report).toMatchObject({ promoted: 0, targetsApplied: 0, targetsFailed: 0, errors: 0 });
      expect(await driftEvents(env)).toEqual([]);
      const after = await env.status();
      expect(after.targets.map((t) => [t.id, t.state, t.at])).toEqual(
        before.targets.map((t) => [t.id, t.state, t.at]),
      );
      await expectTrafficOn('a');
    });
  });

  describe('drift repair: one sweep puts hand-made changes back and records a drift event', () => {
    it('restores the record after someone UPSERTs another address', async () => {
      const env = setup();
      await activeA(env);
      await upsertRecord('10.9.9.9');
      expect((await readRecord())?.values).toEqual(['10.9.9.9']);

      const report = await env.cp.sweep();

      expect(report).toMatchObject({ promoted: 0, targetsApplied: 1, targetsFailed: 0 });
      await expectTrafficOn('a');
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(1);
      expect(drift[0]).toMatchObject({ kind: 'drift', epoch: 1, active: 'a' });
      expect(drift[0]?.reason).toContain('route53');
      expect(drift[0]?.reason).toContain('10.9.9.9');
      await expectAllApplied(env, 1);
    });

    it('re-creates the record after someone deletes it', async () => {
      const env = setup();
      await activeA(env);
      await server.route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: infra.zoneId,
          ChangeBatch: {
            Changes: [
              {
                Action: 'DELETE',
                ResourceRecordSet: {
                  Name: `${RECORD}.`,
                  Type: 'A',
                  TTL: TTL,
                  ResourceRecords: [{ Value: NODES.a.address }],
                },
              },
            ],
          },
        }),
      );
      expect(await readRecord()).toBeUndefined();

      await env.cp.sweep();

      await expectTrafficOn('a');
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(1);
      expect(drift[0]?.reason).toContain('missing');
    });

    // A TTL raised by hand would keep clients on a deposed address for that long.
    it('restores the configured TTL after someone raises it by hand', async () => {
      const env = setup();
      await activeA(env);
      await upsertRecord(NODES.a.address, 86_400);

      await env.cp.sweep();

      expect(await readRecord()).toEqual({ values: [NODES.a.address], ttl: TTL });
      expect(await driftEvents(env)).toHaveLength(1);
    });

    it('deregisters a cluster node registered in the shared group by hand, and leaves targets outside the cluster alone', async () => {
      const env = setup();
      await activeA(env);
      await server.elbv2.send(
        new RegisterTargetsCommand({
          TargetGroupArn: infra.groups.shared,
          Targets: [
            { Id: NODES.b.address, Port: PORT },
            { Id: '10.0.1.99', Port: PORT },
          ],
        }),
      );
      expect(await registeredIds()).toEqual([NODES.a.address, NODES.b.address, '10.0.1.99'].sort());

      const report = await env.cp.sweep();

      expect(report).toMatchObject({ targetsApplied: 1, targetsFailed: 0 });
      expect(await registeredIds()).toEqual([NODES.a.address, '10.0.1.99'].sort());
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(1);
      expect(drift[0]?.reason).toContain('elbv2-targets');
      expect(drift[0]?.reason).toContain('b still registered');
      await expectAllApplied(env, 1);
    });

    it('registers the active again after someone deregisters it by hand', async () => {
      const env = setup();
      await activeA(env);
      await server.elbv2.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: infra.groups.shared,
          Targets: [{ Id: NODES.a.address, Port: PORT }],
        }),
      );
      expect(await registeredIds()).toEqual([]);

      await env.cp.sweep();

      await expectTrafficOn('a');
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(1);
      expect(drift[0]?.reason).toContain('a is not registered');
    });

    it('resets listener weights set by hand, keeping the rule untouched', async () => {
      const env = setup();
      await activeA(env);
      await server.elbv2.send(
        new ModifyListenerCommand({
          ListenerArn: infra.listenerArn,
          DefaultActions: [
            {
              Type: 'forward',
              ForwardConfig: {
                TargetGroups: [
                  { TargetGroupArn: infra.groups.a, Weight: 0 },
                  { TargetGroupArn: infra.groups.b, Weight: 1 },
                  { TargetGroupArn: infra.groups.c, Weight: 1 },
                ],
              },
            },
          ],
        }),
      );
      expect(weights(await listenerActions())).toEqual({ a: 0, b: 1, c: 1 });

      const report = await env.cp.sweep();

      expect(report).toMatchObject({ targetsApplied: 1, targetsFailed: 0 });
      await expectTrafficOn('a');
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(1);
      expect(drift[0]?.reason).toContain('listener-weights');
      expect(drift[0]?.reason).toMatch(/weights differ for a \(weight 0\), b \(weight 1\), c \(weight 1\)/);
      await expectAllApplied(env, 1);
    });

    /** Hand-edits both the record and the shared group: two targets drift at once. */
    async function driftTwoTargets() {
      const env = setup();
      await activeA(env);
      await upsertRecord(NODES.c.address);
      await server.elbv2.send(
        new RegisterTargetsCommand({
          TargetGroupArn: infra.groups.shared,
          Targets: [{ Id: NODES.c.address, Port: PORT }],
        }),
      );
      return env;
    }

    it('repairs several drifted targets in one sweep', async () => {
      const env = await driftTwoTargets();

      const report = await env.cp.sweep();

      expect(report).toMatchObject({ targetsApplied: 2, targetsFailed: 0 });
      await expectTrafficOn('a');
      await expectAllApplied(env, 1);
    });

    // Drift events of one sweep share epoch and time; their keys must still differ.
    it('records one drift event per drifted target when several drift in one sweep', async () => {
      const env = await driftTwoTargets();

      await env.cp.sweep();

      const reasons = (await driftEvents(env)).map((e) => e.reason).sort();
      expect(reasons).toHaveLength(2);
      expect(reasons[0]).toContain('target elbv2-targets drifted');
      expect(reasons[1]).toContain('target route53 drifted');
    });
  });

  describe('a permanent AWS error surfaces in status and does not hold back the other targets', () => {
    it('marks a route53 target whose hosted zone does not exist failed with NoSuchHostedZone, and applies the rest', async () => {
      const logged: Array<{ level: string; message: string; extra?: Record<string, unknown> }> = [];
      const record = (level: string) => (message: string, extra?: Record<string, unknown>) => {
        logged.push({ level, message, ...(extra ? { extra } : {}) });
      };
      const logger: Logger = { info: record('info'), warn: record('warn'), error: record('error') };
      const env = setup(
        [
          { type: 'route53', hostedZoneId: infra.zoneId, recordName: RECORD, recordType: 'A', ttl: TTL },
          {
            type: 'route53',
            id: 'missing-zone',
            hostedZoneId: 'Z0NOSUCHZONE00000000',
            recordName: 'db.nowhere.test',
            recordType: 'A',
          },
          { type: 'elbv2-targets', targetGroupArn: infra.groups.shared, port: PORT },
        ],
        logger,
      );

      await activeA(env);

      const status = await env.status();
      expect(status.targets.map((t) => [t.id, t.state, t.epoch])).toEqual([
        ['route53', 'applied', 1],
        ['missing-zone', 'failed', 1],
        ['elbv2-targets', 'applied', 1],
      ]);
      const failed = status.targets.find((t) => t.id === 'missing-zone');
      expect(failed?.error).toContain('NoSuchHostedZone');
      expect(failed?.error).toContain('db.nowhere.test');
      expect((await readRecord())?.values).toEqual([NODES.a.address]);
      expect(await registeredIds()).toEqual([NODES.a.address]);
      expect(logged.filter((l) => l.extra?.event === 'target-apply-failed')).toEqual([
        expect.objectContaining({
          level: 'error',
          extra: expect.objectContaining({ cluster: env.cluster.id, target: 'missing-zone', epoch: 1 }),
        }),
      ]);

      // The sweep keeps retrying it (and keeps alarming) without touching the applied ones.
      const report = await env.cp.sweep();
      expect(report).toMatchObject({ targetsApplied: 0, targetsFailed: 1, errors: 0 });
      expect((await env.status()).targets.find((t) => t.id === 'missing-zone')?.state).toBe('failed');
      expect(logged.filter((l) => l.extra?.event === 'target-apply-failed')).toHaveLength(2);
    });
  });

  describe('elbv2-health: no ELBv2 call when the active changes; the sweep keeps every node registered under a GET /active check', () => {
    const HEALTH_PORT = 8008;
    /** AWS's fastest settings, for ALB and NLB alike (interval ≥ 5 s, timeout ≥ 2 s, thresholds ≥ 2). */
    const FASTEST_ACTIVE_CHECK = {
      HealthCheckEnabled: true,
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: String(HEALTH_PORT),
      HealthCheckPath: '/active',
      HealthCheckIntervalSeconds: 5,
      HealthCheckTimeoutSeconds: 2,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      Matcher: { HttpCode: '200' },
    };
    const healthTarget = (): TargetInput => ({
      type: 'elbv2-health',
      targetGroupArn: infra.groups.shared,
      port: PORT,
      healthPort: HEALTH_PORT,
    });
    const byId = (x: { Id: string }, y: { Id: string }) => x.Id.localeCompare(y.Id);
    const everyNode = NODE_IDS.map((n) => ({ Id: NODES[n].address, Port: PORT })).sort(byId);

    async function healthCheckOf(groupArn: string) {
      const out = await server.elbv2.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [groupArn] }));
      const group = out.TargetGroups?.[0] ?? {};
      return Object.fromEntries(
        Object.keys(FASTEST_ACTIVE_CHECK).map((key) => [key, group[key as keyof typeof group]]),
      );
    }

    async function registeredTargets(groupArn = infra.groups.shared) {
      const out = await server.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: groupArn }));
      return (out.TargetHealthDescriptions ?? [])
        .map((d) => ({ Id: d.Target?.Id as string, Port: d.Target?.Port }))
        .sort(byId);
    }

    /** moto's client, recording the name of every command the targets send through it. */
    function recordingClient(calls: string[]): () => ElasticLoadBalancingV2Client {
      const client = {
        send: (command: { constructor: { name: string } }, options?: unknown) => {
          calls.push(command.constructor.name);
          return server.elbv2.send(command as never, options as never);
        },
      };
      return () => client as unknown as ElasticLoadBalancingV2Client;
    }

    /** a active, then one sweep: the first observation sets the group up. */
    async function activeAndSetUp(env: ReturnType<typeof setup>) {
      await activeA(env);
      await env.cp.sweep();
    }

    it('makes no ELBv2 call at the first election or at failovers, while an API-driven record beside it moves', async () => {
      const calls: string[] = [];
      const env = setup(
        [
          healthTarget(),
          { type: 'route53', hostedZoneId: infra.zoneId, recordName: RECORD, recordType: 'A', ttl: TTL },
        ],
        silentLogger,
        recordingClient(calls),
      );

      await activeA(env);
      await env.beat('a', { status: 'failing' }); // b's turn, committed by a's own beat
      await env.beat('b', { status: 'failing' }); // c's turn

      expect(calls).toEqual([]);
      const status = await env.status();
      expect(status).toMatchObject({ active: 'c', epoch: 3 });
      expect(status.targets.map((t) => [t.id, t.state, t.epoch])).toEqual([
        ['elbv2-health', 'applied', 3],
        ['route53', 'applied', 3],
      ]);
      expect(status.targets[0]?.detail).toEqual({ routing: 'load balancer health checks on /active' });
      expect((await readRecord())?.values).toEqual([NODES.c.address]);

      // The sweep is where ELBv2 is called: it reads, and sets up what is missing.
      await env.cp.sweep();
      expect(calls.slice(0, 2).sort()).toEqual([
        'DescribeTargetGroupsCommand',
        'DescribeTargetHealthCommand',
      ]);
    });

    it('sets the fastest GET /active check and registers every node, standbys too, at the first sweep after the first election, as drift', async () => {
      const env = setup([healthTarget()]);
      await activeA(env);
      expect(await healthCheckOf(infra.groups.shared)).not.toEqual(FASTEST_ACTIVE_CHECK);
      expect(await registeredTargets()).toEqual([]);

      const report = await env.cp.sweep();

      expect(report).toMatchObject({ targetsApplied: 1, targetsFailed: 0 });
      expect(await healthCheckOf(infra.groups.shared)).toEqual(FASTEST_ACTIVE_CHECK);
      expect(await registeredTargets()).toEqual(everyNode);
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(1);
      expect(drift[0]?.reason).toMatch(
        /elbv2-health drifted: health check .*HealthCheckPath.* differed \(set\)/,
      );
      expect(drift[0]?.reason).toContain('a, b, c not registered (registered)');
      expect((await env.status()).targets[0]).toMatchObject({ state: 'applied', epoch: 1, error: null });
    });

    it('keeps every node registered through a failover, the deposed active included, and finds nothing to set after it', async () => {
      const env = setup([healthTarget()]);
      await activeAndSetUp(env);
      // b and c beat every interval (a gap in every node's beats would be a flooded ingress).
      for (let t = 0; t < LEASE_MS; t += 1_000) {
        env.clock.advance(1_000);
        await env.beat('b');
        await env.beat('c');
      }
      env.clock.advance(1); // a's lease runs out between beats: the sweep fails over

      expect(await env.cp.sweep()).toMatchObject({ promoted: 1, targetsApplied: 1, targetsFailed: 0 });
      await env.cp.sweep();

      expect((await env.status()).active).toBe('b');
      // a's /active answers 503 now, so the load balancer takes it out by itself.
      expect(await registeredTargets()).toEqual(everyNode);
      expect(await healthCheckOf(infra.groups.shared)).toEqual(FASTEST_ACTIVE_CHECK);
      expect(await driftEvents(env)).toHaveLength(1); // the first setup only
    });

    it('puts back a health setting changed by hand and re-registers a standby deregistered by hand, as drift, and leaves targets outside the cluster registered', async () => {
      const env = setup([healthTarget()]);
      await activeAndSetUp(env);
      await server.elbv2.send(
        new ModifyTargetGroupCommand({
          TargetGroupArn: infra.groups.shared,
          HealthCheckPath: '/',
          HealthCheckIntervalSeconds: 30,
        }),
      );
      await server.elbv2.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: infra.groups.shared,
          Targets: [{ Id: NODES.b.address, Port: PORT }],
        }),
      );
      await server.elbv2.send(
        new RegisterTargetsCommand({
          TargetGroupArn: infra.groups.shared,
          Targets: [{ Id: '10.0.1.99', Port: PORT }],
        }),
      );
      env.clock.advance(1_000); // a drift event is keyed by target, epoch and time

      await env.cp.sweep();

      expect(await healthCheckOf(infra.groups.shared)).toEqual(FASTEST_ACTIVE_CHECK);
      expect(await registeredTargets()).toEqual([...everyNode, { Id: '10.0.1.99', Port: PORT }].sort(byId));
      const drift = await driftEvents(env);
      expect(drift).toHaveLength(2);
      expect(drift[0]?.reason).toContain(
        'health check HealthCheckPath, HealthCheckIntervalSeconds differed (set); b not registered (registered)',
      );
    });

    // moto reports every registered target healthy at once; on AWS only the active would be.
    it("records the load balancer's view of each node as detail, never as drift", async () => {
      const env = setup([healthTarget()]);
      await activeAndSetUp(env);

      await env.cp.sweep();

      expect(await driftEvents(env)).toHaveLength(1); // the first setup only
      const [target] = (await env.status()).targets;
      expect(target?.detail).toEqual({
        routing: 'load balancer health checks on /active',
        health: 'a=healthy b=healthy c=healthy',
      });
    });

    it('shows a setup that fails (a target group that does not exist) in the status detail, leaving the target applied', async () => {
      const missing = infra.groups.shared.replace(/\/[0-9a-f]+$/, '/0000000000000000');
      const env = setup([{ ...healthTarget(), targetGroupArn: missing } as TargetInput]);
      await activeA(env);

      expect(await env.cp.sweep()).toMatchObject({ targetsFailed: 0, errors: 0 });

      const [target] = (await env.status()).targets;
      expect(target).toMatchObject({ state: 'applied', epoch: 1, error: null });
      expect(target?.detail?.setup).toMatch(/^failed: .*TargetGroupNotFound/);
      expect(await driftEvents(env)).toEqual([]);
    });

    it('sets an HTTP check on the agent port of an NLB (TCP) target group and registers every node on its port', async () => {
      const { vpcId } = await createLoadBalancer(server, 'failover-nlb-vpc');
      const created = await server.elbv2.send(
        new CreateTargetGroupCommand({
          Name: 'db-tcp',
          Protocol: 'TCP',
          Port: PORT,
          VpcId: vpcId,
          TargetType: 'ip',
        }),
      );
      const groupArn = created.TargetGroups?.[0]?.TargetGroupArn as string;
      const nodes = NODE_IDS.map((n) => ({ id: n, targetId: NODES[n].address }));

      const setUp = await ensureHealthRouting(
        server.elbv2,
        { targetGroupArn: groupArn, healthPort: HEALTH_PORT },
        nodes,
        Date.now() + 5_000,
      );

      expect(setUp.registered).toEqual(['a', 'b', 'c']);
      // moto keeps no matcher on a TCP group (AWS does: NLB accepts HTTP codes 200-599 for an HTTP check).
      const { Matcher: _matcher, ...check } = FASTEST_ACTIVE_CHECK;
      expect(await healthCheckOf(groupArn)).toMatchObject(check);
      expect(await registeredTargets(groupArn)).toEqual(everyNode);
    });
  });
});
