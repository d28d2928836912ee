/**
 * What moto cannot produce: throttling, PriorRequestNotComplete, permanent errors on
 * demand, a change that stays PENDING, an apply that is slow on purpose. The SDK clients
 * are real, with `send` stubbed by aws-sdk-client-mock; the control plane, where used, is
 * the real one over DynamoStateStore on dynalite with a fake clock.
 *
 * Retry loops run on the real clock with short budgets (the AWS targets take no injected
 * clock) or, for `withAwsRetry` itself, on an injected clock whose sleep only moves time
 * forward. Nothing asserts on elapsed wall time.
 */

import {
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  type Action,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ListenerNotFoundException,
  ModifyListenerCommand,
  ModifyRuleCommand,
  PriorRequestNotCompleteException,
  RegisterTargetsCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  ChangeResourceRecordSetsCommand,
  type ChangeResourceRecordSetsCommandInput,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  PriorRequestNotComplete,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type LocalDynamo, startLocalDynamo } from '../cli/local-dynamo.js';
import { type ClusterConfig, type ConfigInput, type NodeConfig, parseConfig } from '../shared/config.js';
import { ControlPlane } from '../shared/control-plane/control-plane.js';
import type { Beat, TargetState } from '../shared/core/state.js';
import { TargetApplyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { DynamoStateStore } from '../shared/store/dynamo-store.js';
import { isRetryable, withAwsRetry } from '../shared/targets/aws-retry.js';
import { Elbv2TargetsTarget, Elbv2WeightsTarget } from '../shared/targets/elbv2.js';
import { buildTargets } from '../shared/targets/index.js';
import { Route53Target } from '../shared/targets/route53.js';
import type { TargetChange } from '../shared/targets/target.js';
import { mintToken } from '../shared/tokens.js';
import { FakeClock, freshId, passWhileBeating } from './helpers/store-fixtures.js';

// ---- fixtures -------------------------------------------------------------------------

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const route53 = new Route53Client({ region: 'us-east-1', credentials, maxAttempts: 1 });
const elbv2 = new ElasticLoadBalancingV2Client({ region: 'us-east-1', credentials, maxAttempts: 1 });
const r53Mock = mockClient(route53);
const elbMock = mockClient(elbv2);

const ZONE = 'Z0123456789ABCDEFGHIJ';
const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012';
const GROUP = {
  shared: `${ARN}:targetgroup/db-shared/0000000000000001`,
  a: `${ARN}:targetgroup/db-a/00000000000000aa`,
  b: `${ARN}:targetgroup/db-b/00000000000000bb`,
  c: `${ARN}:targetgroup/db-c/00000000000000cc`,
  canary: `${ARN}:targetgroup/canary/00000000000000ff`,
} as const;
const LISTENER = `${ARN}:listener/app/alb/0123456789abcdef/00000000000000a1`;
const RULE = `${ARN}:listener-rule/app/alb/0123456789abcdef/00000000000000a1/00000000000000b2`;

const NODES: NodeConfig[] = (['a', 'b', 'c'] as const).map((id, i) => ({
  id,
  address: `10.0.0.${i + 1}`,
  tokenSha256: mintToken().sha256,
  targetId: `i-0000000000000000${i + 1}`,
  targetGroupArn: GROUP[id],
}));
const node = (id: string) => NODES.find((n) => n.id === id) as NodeConfig;

function changeTo(active: 'a' | 'b' | 'c', epoch = 2): TargetChange {
  return {
    cluster: 'db',
    active,
    address: node(active).address,
    members: [{ id: active, address: node(active).address }],
    epoch,
    previous: 'a',
    reason: 'test',
    at: Date.UTC(2030, 0, 1),
  };
}

/** A budget on the real clock: generous for a handful of backoffs (≤ 100 ms, 200 ms, …). */
const soon = (ms = 10_000) => Date.now() + ms;

/** An error shaped like the SDK's for a code it has no class for (e.g. Route 53 `Throttling`). */
function awsError(name: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode } });
}
const throttling = () => awsError('Throttling', 'Rate exceeded');
const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

const changed = (id: string, status = 'PENDING') => ({
  ChangeInfo: { Id: `/change/${id}`, Status: status as 'PENDING' | 'INSYNC', SubmittedAt: new Date() },
});

function route53Target(recordType: 'A' | 'AAAA' | 'CNAME' = 'A') {
  return new Route53Target('dns', route53, {
    hostedZoneId: ZONE,
    recordName: 'db.example.test',
    recordType,
    ttl: 10,
  });
}

interface LogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  extra?: Record<string, unknown>;
}
function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (message: string, extra?: Record<string, unknown>): void => {
      entries.push({ level, message, ...(extra ? { extra } : {}) });
    };
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

/** The names of the commands the ELBv2 mock received, in order. */
const elbCommands = () => elbMock.calls().map((call) => (call.args[0] as object).constructor.name);

beforeEach(() => {
  r53Mock.reset();
  elbMock.reset();
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(() => {
  r53Mock.restore();
  elbMock.restore();
  route53.destroy();
  elbv2.destroy();
});

// ---- isRetryable / withAwsRetry -------------------------------------------------------

describe('isRetryable: which AWS errors are worth another attempt', () => {
  it.each([
    ['Route 53 Throttling (HTTP 400)', throttling()],
    [
      'Route 53 PriorRequestNotComplete (HTTP 400)',
      new PriorRequestNotComplete({ message: 'busy', ...meta(400) }),
    ],
    ['any 5xx, whatever its name', awsError('InternalServerError', 'oops', 503)],
    ['HTTP 500 without a name the list knows', awsError('SomethingNew', 'oops', 500)],
    ['a reset connection (ECONNRESET)', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a refused connection (ECONNREFUSED)', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })],
    ['a TimeoutError (AbortSignal.timeout)', new DOMException('The operation timed out', 'TimeoutError')],
    ['an AbortError (the SDK aborting a request)', awsError('AbortError', 'Request aborted', 0)],
    ['an error the SDK marked $retryable', Object.assign(awsError('Whatever', 'x'), { $retryable: {} })],
  ])('retries %s', (_what, err) => {
    expect(isRetryable(err)).toBe(true);
  });

  it.each([
    ['ValidationError (HTTP 400)', awsError('ValidationError', 'bad input')],
    ['InvalidChangeBatch', new InvalidChangeBatch({ message: 'bad batch', ...meta(400) })],
    ['AccessDenied (HTTP 403)', awsError('AccessDenied', 'not authorised', 403)],
    ['TargetGroupNotFoundException', new TargetGroupNotFoundException({ message: 'gone', ...meta(400) })],
    ['a plain Error', new Error('bug')],
  ])('does not retry %s', (_what, err) => {
    expect(isRetryable(err)).toBe(false);
  });

  // ELBv2's PriorRequestNotCompleteException (HTTP 429) is transient, like Route 53's
  // PriorRequestNotComplete.
  it('retries ELBv2 PriorRequestNotCompleteException (HTTP 429)', () => {
    expect(isRetryable(new PriorRequestNotCompleteException({ message: 'busy', ...meta(429) }))).toBe(true);
  });
});

describe('withAwsRetry', () => {
  /** A clock whose sleep moves time forward by exactly the delay, recording each one. */
  function fakeTime(start = 1_000_000) {
    const clock = {
      t: start,
      sleeps: [] as number[],
      now: () => clock.t,
      sleep: async (ms: number) => {
        clock.sleeps.push(ms);
        clock.t += ms;
      },
    };
    return clock;
  }

  it('retries throttling and returns the first success', async () => {
    const clock = fakeTime();
    const call = vi
      .fn<(signal: AbortSignal) => Promise<string>>()
      .mockRejectedValueOnce(throttling())
      .mockRejectedValueOnce(awsError('ServiceUnavailable', 'try later', 503))
      .mockResolvedValueOnce('done');

    await expect(withAwsRetry('op', clock.t + 5_000, call, clock)).resolves.toBe('done');

    expect(call).toHaveBeenCalledTimes(3);
    expect(clock.sleeps).toHaveLength(2);
    expect(call.mock.calls[0]?.[0]).toBeInstanceOf(AbortSignal);
  });

  it('surfaces a permanent error at once, naming what failed and the AWS error', async () => {
    const clock = fakeTime();
    const call = vi.fn().mockRejectedValue(awsError('ValidationError', 'weight must be 0-999'));

    const err = await withAwsRetry('elbv2 modify x', clock.t + 5_000, call, clock).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect(err).toMatchObject({ message: 'elbv2 modify x: ValidationError: weight must be 0-999' });
    expect(call).toHaveBeenCalledTimes(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('backs off exponentially with full jitter, capped at 2 s, and gives up at the deadline', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const clock = fakeTime();
    const deadline = clock.t + 5_000;
    const callTimes: number[] = [];
    const call = vi.fn(async () => {
      callTimes.push(clock.t);
      throw throttling();
    });

    const err = await withAwsRetry('route53 db A', deadline, call, clock).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect(err).toMatchObject({
      message: 'route53 db A: gave up at the deadline: Throttling: Rate exceeded',
    });
    // half of min(2 s, 100 ms × 2^attempt): 50, 100, 200, 400, 800, then 1000 each
    expect(clock.sleeps).toEqual([50, 100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(callTimes.every((t) => t < deadline)).toBe(true);
    expect(clock.t).toBeLessThan(deadline); // it never sleeps past the deadline
  });

  it('cuts a hung call off at callTimeoutMs and tries again', async () => {
    let calls = 0;
    const call = (signal: AbortSignal) => {
      calls += 1;
      if (calls > 1) return Promise.resolve('second try');
      // Hangs until the per-call timeout aborts it, as a stuck connection would.
      return new Promise<string>((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason)),
      );
    };

    await expect(withAwsRetry('op', soon(), call, { callTimeoutMs: 20 })).resolves.toBe('second try');
    expect(calls).toBe(2);
  });

  it('makes no call when the deadline has already passed, and says so', async () => {
    const clock = fakeTime();
    const call = vi.fn();

    const err = await withAwsRetry('op', clock.t - 1, call, clock).catch((e: unknown) => e);

    expect(err).toMatchObject({
      message: 'op: gave up at the deadline: no time left in the apply budget',
    });
    expect(call).not.toHaveBeenCalled();
  });
});

// ---- Route 53 ---------------------------------------------------------------------------

describe('Route53Target under faults', () => {
  it.each([
    ['Throttling', throttling],
    [
      'PriorRequestNotComplete',
      () => new PriorRequestNotComplete({ message: 'The request was rejected', ...meta(400) }),
    ],
  ])('retries %s twice and then applies within the deadline', async (_name, fault) => {
    r53Mock
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(fault())
      .rejectsOnce(fault())
      .resolves(changed('C0FFEE'));

    const detail = await route53Target().apply(changeTo('b'), soon());

    expect(detail).toEqual({ changeId: 'C0FFEE', changeStatus: 'PENDING' });
    const calls = r53Mock.commandCalls(ChangeResourceRecordSetsCommand);
    expect(calls).toHaveLength(3);
    // Every attempt is the same idempotent UPSERT.
    for (const call of calls) {
      expect(call.args[0].input).toEqual(calls[0]?.args[0].input);
      expect(call.args[0].input.ChangeBatch?.Changes?.[0]).toMatchObject({
        Action: 'UPSERT',
        ResourceRecordSet: {
          Name: 'db.example.test.',
          Type: 'A',
          TTL: 10,
          ResourceRecords: [{ Value: '10.0.0.2' }],
        },
      });
    }
  });

  it.each([
    [
      'InvalidChangeBatch',
      () => new InvalidChangeBatch({ message: 'RRSet of type CNAME is not permitted', ...meta(400) }),
    ],
    [
      'AccessDenied',
      () =>
        awsError('AccessDenied', 'User is not authorized to perform route53:ChangeResourceRecordSets', 403),
    ],
  ])('does not retry %s: one call, then a TargetApplyError naming it', async (name, fault) => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(fault());

    const err = await route53Target()
      .apply(changeTo('b'), soon())
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect((err as Error).message).toContain(`${name}: `);
    expect((err as Error).message).toContain('db.example.test.');
    expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(1);
  });

  it('gives up at the deadline when throttling never stops', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(throttling());

    const err = await route53Target()
      .apply(changeTo('b'), soon(300))
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect((err as Error).message).toMatch(/gave up at the deadline: Throttling: Rate exceeded$/);
    // The first backoff is under 100 ms, so a 300 ms budget always allows a second attempt.
    expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand).length).toBeGreaterThanOrEqual(2);
  });

  it('polls GetChange while the last change is PENDING and reports INSYNC; once INSYNC it stops asking', async () => {
    r53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [
        { Name: 'db.example.test.', Type: 'A', TTL: 10, ResourceRecords: [{ Value: '10.0.0.2' }] },
      ],
      IsTruncated: false,
      MaxItems: 1,
    });
    r53Mock
      .on(GetChangeCommand)
      .resolves({ ChangeInfo: { Id: 'C1', Status: 'INSYNC', SubmittedAt: new Date() } });
    const target = route53Target();

    const pending = await target.observe(changeTo('b'), soon(), { changeId: 'C1', changeStatus: 'PENDING' });
    expect(pending).toEqual({ drift: null, detail: { changeId: 'C1', changeStatus: 'INSYNC' } });
    expect(r53Mock.commandCalls(GetChangeCommand)[0]?.args[0].input).toEqual({ Id: 'C1' });

    const insync = await target.observe(changeTo('b'), soon(), { changeId: 'C1', changeStatus: 'INSYNC' });
    expect(insync).toEqual({ drift: null });
    expect(r53Mock.commandCalls(GetChangeCommand)).toHaveLength(1);
  });

  it('sees a record that is missing (the listing starts at the next name) as drift', async () => {
    r53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [
        { Name: 'dc.example.test.', Type: 'A', TTL: 10, ResourceRecords: [{ Value: '10.0.0.9' }] },
      ],
      IsTruncated: false,
      MaxItems: 1,
    });

    const seen = await route53Target().observe(changeTo('b'), soon());

    expect(seen.drift).toBe('record db.example.test. A is missing');
  });
});

// ---- ELBv2 --------------------------------------------------------------------------------

describe('Elbv2TargetsTarget under faults', () => {
  const target = () =>
    new Elbv2TargetsTarget('lb', elbv2, { targetGroupArn: GROUP.shared, port: 5432 }, NODES);
  const health = (...entries: Array<[string, string]>) => ({
    TargetHealthDescriptions: entries.map(([Id, State]) => ({
      Target: { Id, Port: 5432 },
      TargetHealth: { State: State as 'healthy' },
    })),
  });

  it('registers the new active before it deregisters the old one, so the group is never empty', async () => {
    elbMock.on(RegisterTargetsCommand).resolves({});
    elbMock
      .on(DescribeTargetHealthCommand)
      .resolves(
        health(
          [node('a').targetId as string, 'healthy'],
          [node('b').targetId as string, 'initial'],
          [node('c').targetId as string, 'draining'],
          ['i-0ffffffffffffffff', 'healthy'],
        ),
      );
    elbMock.on(DeregisterTargetsCommand).resolves({});

    const detail = await target().apply(changeTo('b'), soon());

    expect(elbCommands()).toEqual([
      'RegisterTargetsCommand',
      'DescribeTargetHealthCommand',
      'DeregisterTargetsCommand',
    ]);
    expect(elbMock.commandCalls(RegisterTargetsCommand)[0]?.args[0].input).toEqual({
      TargetGroupArn: GROUP.shared,
      Targets: [{ Id: node('b').targetId, Port: 5432 }],
    });
    // Only cluster nodes still taking traffic are deregistered: not c (already draining),
    // not a target the cluster does not own.
    expect(elbMock.commandCalls(DeregisterTargetsCommand)[0]?.args[0].input).toEqual({
      TargetGroupArn: GROUP.shared,
      Targets: [{ Id: node('a').targetId, Port: 5432 }],
    });
    expect(detail).toEqual({ registered: node('b').targetId, deregistered: 'a' });
  });

  it('makes no deregister call when only the active is registered', async () => {
    elbMock.on(RegisterTargetsCommand).resolves({});
    elbMock.on(DescribeTargetHealthCommand).resolves(health([node('b').targetId as string, 'healthy']));

    await target().apply(changeTo('b'), soon());

    expect(elbCommands()).toEqual(['RegisterTargetsCommand', 'DescribeTargetHealthCommand']);
  });

  it('retries a throttled RegisterTargets and then carries on', async () => {
    elbMock.on(RegisterTargetsCommand).rejectsOnce(throttling()).resolves({});
    elbMock.on(DescribeTargetHealthCommand).resolves(health([node('b').targetId as string, 'healthy']));

    await target().apply(changeTo('b'), soon());

    expect(elbMock.commandCalls(RegisterTargetsCommand)).toHaveLength(2);
  });

  it('does not retry TargetGroupNotFound and deregisters nothing', async () => {
    elbMock
      .on(RegisterTargetsCommand)
      .rejects(
        new TargetGroupNotFoundException({ message: 'One or more target groups not found', ...meta(400) }),
      );

    const err = await target()
      .apply(changeTo('b'), soon())
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect((err as Error).message).toContain(
      'TargetGroupNotFoundException: One or more target groups not found',
    );
    expect(elbCommands()).toEqual(['RegisterTargetsCommand']);
  });

  it('counts a draining active as not registered (drift)', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves(health([node('b').targetId as string, 'draining']));

    expect(await target().observe(changeTo('b'), soon())).toEqual({ drift: 'b is not registered' });
  });
});

describe('Elbv2WeightsTarget under faults', () => {
  const onListener = () => new Elbv2WeightsTarget('weights', elbv2, { listenerArn: LISTENER }, NODES);
  const onRule = () => new Elbv2WeightsTarget('weights', elbv2, { ruleArn: RULE }, NODES);
  const listenerWith = (DefaultActions: Action[]) => ({
    Listeners: [{ ListenerArn: LISTENER, DefaultActions }],
  });
  const modifiedListener = () => elbMock.commandCalls(ModifyListenerCommand)[0]?.args[0].input;

  it('turns a plain TargetGroupArn forward into ForwardConfig with every cluster group: the active 1, the others 0', async () => {
    elbMock
      .on(DescribeListenersCommand)
      .resolves(listenerWith([{ Type: 'forward', TargetGroupArn: GROUP.a }]));
    elbMock.on(ModifyListenerCommand).resolves({});

    const detail = await onListener().apply(changeTo('b'), soon());

    expect(modifiedListener()).toEqual({
      ListenerArn: LISTENER,
      DefaultActions: [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: GROUP.a, Weight: 0 },
              { TargetGroupArn: GROUP.b, Weight: 1 },
              { TargetGroupArn: GROUP.c, Weight: 0 },
            ],
          },
        },
      ],
    });
    expect(detail).toEqual({ activeTargetGroups: GROUP.b });
  });

  it('keeps a plain TargetGroupArn forward to a group outside the cluster as a member of the new ForwardConfig', async () => {
    elbMock
      .on(DescribeListenersCommand)
      .resolves(listenerWith([{ Type: 'forward', TargetGroupArn: GROUP.canary }]));
    elbMock.on(ModifyListenerCommand).resolves({});

    await onListener().apply(changeTo('a'), soon());

    const forward = modifiedListener()?.DefaultActions?.[0];
    expect(forward?.TargetGroupArn).toBeUndefined();
    const groups = forward?.ForwardConfig?.TargetGroups ?? [];
    expect(groups.slice(0, 3)).toEqual([
      { TargetGroupArn: GROUP.a, Weight: 1 },
      { TargetGroupArn: GROUP.b, Weight: 0 },
      { TargetGroupArn: GROUP.c, Weight: 0 },
    ]);
    expect(groups.slice(3).map((g) => g.TargetGroupArn)).toEqual([GROUP.canary]);
  });

  it('drops the single TargetGroupArn AWS reports beside ForwardConfig, and keeps stickiness, order, non-cluster groups and other actions', async () => {
    const auth: Action = {
      Type: 'authenticate-cognito',
      Order: 1,
      AuthenticateCognitoConfig: {
        UserPoolArn: 'arn:aws:cognito-idp:us-east-1:123456789012:userpool/x',
        UserPoolClientId: 'c',
        UserPoolDomain: 'd',
      },
    };
    elbMock.on(DescribeListenersCommand).resolves(
      listenerWith([
        auth,
        {
          Type: 'forward',
          Order: 2,
          TargetGroupArn: GROUP.a,
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: GROUP.a, Weight: 1 },
              { TargetGroupArn: GROUP.canary, Weight: 5 },
            ],
            TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 60 },
          },
        },
      ]),
    );
    elbMock.on(ModifyListenerCommand).resolves({});

    await onListener().apply(changeTo('c', 3), soon());

    expect(modifiedListener()?.DefaultActions).toEqual([
      auth,
      {
        Type: 'forward',
        Order: 2,
        ForwardConfig: {
          TargetGroups: [
            { TargetGroupArn: GROUP.a, Weight: 0 },
            { TargetGroupArn: GROUP.b, Weight: 0 },
            { TargetGroupArn: GROUP.c, Weight: 1 },
            { TargetGroupArn: GROUP.canary, Weight: 5 },
          ],
          TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 60 },
        },
      },
    ]);
  });

  it('modifies a rule through ModifyRule with its actions only, so its conditions are never sent', async () => {
    elbMock.on(DescribeRulesCommand).resolves({
      Rules: [
        {
          RuleArn: RULE,
          Priority: '10',
          Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }],
          Actions: [{ Type: 'forward', TargetGroupArn: GROUP.a }],
        },
      ],
    });
    elbMock.on(ModifyRuleCommand).resolves({});

    await onRule().apply(changeTo('b'), soon());

    expect(elbCommands()).toEqual(['DescribeRulesCommand', 'ModifyRuleCommand']);
    const input = elbMock.commandCalls(ModifyRuleCommand)[0]?.args[0].input;
    expect(Object.keys(input ?? {}).sort()).toEqual(['Actions', 'RuleArn']);
    expect(input?.RuleArn).toBe(RULE);
  });

  it('fails permanently, changing nothing, when the listener has no forward action to weigh', async () => {
    elbMock
      .on(DescribeListenersCommand)
      .resolves(listenerWith([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }]));

    const err = await onListener()
      .apply(changeTo('b'), soon())
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect((err as Error).message).toContain('has no forward action');
    expect(elbMock.commandCalls(ModifyListenerCommand)).toHaveLength(0);
  });

  it('does not retry ListenerNotFound', async () => {
    elbMock
      .on(DescribeListenersCommand)
      .rejects(new ListenerNotFoundException({ message: 'One or more listeners not found', ...meta(400) }));

    const err = await onListener()
      .apply(changeTo('b'), soon())
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(TargetApplyError);
    expect((err as Error).message).toContain('ListenerNotFoundException');
    expect(elbMock.commandCalls(DescribeListenersCommand)).toHaveLength(1);
  });

  it('reads a plain TargetGroupArn forward to the active group as in sync, and any other weights as drift', async () => {
    elbMock
      .on(DescribeListenersCommand)
      .resolves(listenerWith([{ Type: 'forward', TargetGroupArn: GROUP.b }]));
    expect(await onListener().observe(changeTo('b'), soon())).toEqual({ drift: null });

    elbMock.on(DescribeListenersCommand).resolves(
      listenerWith([
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: GROUP.a, Weight: 1 },
              { TargetGroupArn: GROUP.b, Weight: 1 },
            ],
          },
        },
      ]),
    );
    expect(await onListener().observe(changeTo('b'), soon())).toEqual({
      // c is absent from the forward: absent gets no traffic, the same as weight 0.
      drift: 'weights differ for a (weight 1)',
    });
  });
});

// ---- through the control plane ----------------------------------------------------------

describe('AWS faults through the control plane (dynalite, fake clock)', () => {
  const LEASE_MS = 3_000;
  let dynamo: LocalDynamo;

  beforeAll(async () => {
    dynamo = await startLocalDynamo({ table: 'aws-faults-test' });
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  /** Records what finishTarget answered, per epoch. */
  class RecordingStore extends DynamoStateStore {
    readonly finished: Array<{ target: string; epoch: number; state: string; recorded: string }> = [];
    override async finishTarget(clusterId: string, targetId: string, result: TargetState) {
      const recorded = await super.finishTarget(clusterId, targetId, result);
      this.finished.push({ target: targetId, epoch: result.epoch, state: result.state, recorded });
      return recorded;
    }
  }

  function setup(targets: NonNullable<ConfigInput['clusters'][number]['targets']>, nodeIds = ['a', 'b']) {
    const config = parseConfig({
      clusters: [
        {
          id: freshId('faults'),
          heartbeatIntervalSeconds: 1,
          missedBeats: 3,
          nodes: NODES.filter((n) => nodeIds.includes(n.id)),
          targets,
        },
      ],
    });
    const cluster = config.clusters[0] as ClusterConfig;
    const logger = recordingLogger();
    const store = new RecordingStore(dynamo.client, dynamo.table);
    // Starts in 2030: the AWS targets measure the deadline against Date.now().
    const clock = new FakeClock();
    const cp = new ControlPlane({
      config,
      store,
      targets: buildTargets(config, logger, {}, { aws: { route53: () => route53, elbv2: () => elbv2 } }),
      logger,
      now: clock.now,
      observeIntervalMs: 0,
    });
    const beat = (id: string, body: Beat = {}) =>
      cp.heartbeat(cluster, cluster.nodes.find((n) => n.id === id) as ClusterConfig['nodes'][number], body);
    const target = async (id: string) => (await cp.status(cluster.id)).targets.find((t) => t.id === id);
    return { cluster, cp, clock, logger, store, beat, target };
  }

  const dns = {
    type: 'route53',
    hostedZoneId: ZONE,
    recordName: 'db.example.test',
    recordType: 'A',
  } as const;

  it('shows each permanent error as failed in status, naming the AWS error, with one alarm-able log line per target and no retry', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(
      new InvalidChangeBatch({
        message: 'Tried to create an alias that targets a nonexistent zone',
        ...meta(400),
      }),
    );
    elbMock
      .on(RegisterTargetsCommand)
      .rejects(
        new TargetGroupNotFoundException({ message: 'One or more target groups not found', ...meta(400) }),
      );
    elbMock
      .on(DescribeListenersCommand)
      .rejects(
        awsError('AccessDenied', 'not authorized to perform: elasticloadbalancing:DescribeListeners', 403),
      );
    const env = setup([
      dns,
      { type: 'elbv2-targets', targetGroupArn: GROUP.shared },
      { type: 'elbv2-weights', listenerArn: LISTENER },
    ]);

    await env.beat('a');

    const status = await env.cp.status(env.cluster.id);
    expect(status.targets.map((t) => [t.id, t.state, t.epoch])).toEqual([
      ['route53', 'failed', 1],
      ['elbv2-targets', 'failed', 1],
      ['elbv2-weights', 'failed', 1],
    ]);
    expect(status.targets.map((t) => t.error)).toEqual([
      expect.stringMatching(
        /^TargetApplyError: route53 db\.example\.test\. A: InvalidChangeBatch: Tried to create/,
      ),
      expect.stringContaining('TargetGroupNotFoundException: One or more target groups not found'),
      expect.stringContaining('AccessDenied: not authorized'),
    ]);
    expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(1);
    expect(elbMock.commandCalls(RegisterTargetsCommand)).toHaveLength(1);
    expect(elbMock.commandCalls(DescribeListenersCommand)).toHaveLength(1);

    const alarms = env.logger.entries.filter((e) => e.extra?.event === 'target-apply-failed');
    expect(alarms.map((e) => [e.level, e.extra?.target, e.extra?.epoch, e.extra?.cluster]).sort()).toEqual([
      ['error', 'elbv2-targets', 1, env.cluster.id],
      ['error', 'elbv2-weights', 1, env.cluster.id],
      ['error', 'route53', 1, env.cluster.id],
    ]);
    expect(alarms.find((e) => e.extra?.target === 'route53')?.message).toContain('InvalidChangeBatch');
  });

  it('applies through throttling within the apply budget and records the change as applied', async () => {
    r53Mock
      .on(ChangeResourceRecordSetsCommand)
      .rejectsOnce(throttling())
      .rejectsOnce(throttling())
      .resolves(changed('C1'));
    const env = setup([dns]);

    await env.beat('a');

    expect(await env.target('route53')).toMatchObject({
      state: 'applied',
      epoch: 1,
      error: null,
      detail: { changeId: 'C1', changeStatus: 'PENDING' },
    });
    expect(env.logger.entries.filter((e) => e.extra?.event === 'target-apply-failed')).toEqual([]);
  });

  it('records a PENDING change as INSYNC once a sweep has observed it', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves(changed('C7'));
    r53Mock.on(ListResourceRecordSetsCommand).resolves({
      ResourceRecordSets: [
        { Name: 'db.example.test.', Type: 'A', TTL: 10, ResourceRecords: [{ Value: node('a').address }] },
      ],
      IsTruncated: false,
      MaxItems: 1,
    });
    r53Mock
      .on(GetChangeCommand)
      .resolves({ ChangeInfo: { Id: 'C7', Status: 'INSYNC', SubmittedAt: new Date() } });
    const env = setup([dns]);
    await env.beat('a');
    expect((await env.target('route53'))?.detail).toEqual({ changeId: 'C7', changeStatus: 'PENDING' });

    const report = await env.cp.sweep();

    expect(report).toMatchObject({ targetsApplied: 0, targetsFailed: 0 });
    expect(await env.target('route53')).toMatchObject({
      state: 'applied',
      epoch: 1,
      detail: { changeId: 'C7', changeStatus: 'INSYNC' },
    });
  });

  it('safety property 4: an epoch-1 apply that lands after epoch 2 was applied marks epoch 2 stale, and the next sweep puts traffic back on b', async () => {
    // A small Route 53: the record holds whatever the last *finished* change wrote.
    let record: string | undefined;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached: () => void = () => {};
    const slowCallReached = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let calls = 0;
    r53Mock
      .on(ChangeResourceRecordSetsCommand)
      .callsFake(async (input: ChangeResourceRecordSetsCommandInput) => {
        calls += 1;
        const value = input.ChangeBatch?.Changes?.[0]?.ResourceRecordSet?.ResourceRecords?.[0]?.Value;
        if (calls === 1) {
          reached();
          await gate; // the epoch-1 request is slow: AWS answers only when the test says so
        }
        record = value;
        return changed(`C${calls}`, 'INSYNC');
      });
    r53Mock.on(ListResourceRecordSetsCommand).callsFake(async () => ({
      ResourceRecordSets:
        record === undefined
          ? []
          : [{ Name: 'db.example.test.', Type: 'A', TTL: 10, ResourceRecords: [{ Value: record }] }],
      IsTruncated: false,
      MaxItems: 1,
    }));
    const env = setup([dns]);
    const addressOf = (id: string) => env.cluster.nodes.find((n) => n.id === id)?.address;

    // Epoch 1: a's first beat promotes a; its apply hangs inside ChangeResourceRecordSets.
    const slowBeat = env.beat('a');
    await slowCallReached;

    // Epoch 2: a's lease runs out; b's beat promotes b and applies at once.
    await passWhileBeating(env.clock, LEASE_MS + 1_000, 1_000, () => env.beat('b'));
    expect(await env.beat('b')).toMatchObject({ role: 'active', epoch: 2 });
    expect(await env.target('route53')).toMatchObject({ epoch: 2, state: 'applied' });
    expect(record).toBe(addressOf('b'));

    // The epoch-1 request now completes: the record points at the deposed node again.
    release();
    expect(await slowBeat).toMatchObject({ epoch: 1 });
    expect(record).toBe(addressOf('a'));
    expect(env.store.finished).toEqual([
      { target: 'route53', epoch: 2, state: 'applied', recorded: 'recorded' },
      { target: 'route53', epoch: 1, state: 'applied', recorded: 'superseded' },
    ]);
    expect(await env.target('route53')).toMatchObject({ epoch: 2, state: 'stale' });
    expect(
      env.logger.entries.some(
        (e) => e.level === 'warn' && e.message.includes('finished after a newer epoch'),
      ),
    ).toBe(true);

    // The next sweep re-applies epoch 2: the last change AWS received carries b's address.
    const report = await env.cp.sweep();

    expect(report).toMatchObject({ promoted: 0, targetsApplied: 1, targetsFailed: 0 });
    const last = r53Mock.commandCalls(ChangeResourceRecordSetsCommand).at(-1)?.args[0].input;
    expect(last?.ChangeBatch?.Changes?.[0]?.ResourceRecordSet?.ResourceRecords).toEqual([
      { Value: addressOf('b') },
    ]);
    expect(last?.ChangeBatch?.Comment).toContain('epoch 2');
    expect(record).toBe(addressOf('b'));
    expect(await env.target('route53')).toMatchObject({ epoch: 2, state: 'applied' });

    // And it stays put: the following sweep observes no drift and applies nothing.
    const calm = await env.cp.sweep();
    expect(calm).toMatchObject({ targetsApplied: 0 });
    expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(3);
  });

  /**
   * A client on the same dynalite whose BatchGetItem answers always leave `pk` unprocessed
   * (what DynamoDB does under throttling; dynalite never does). Counts the rounds, and
   * stops a retry loop without a cap long before the test would time out.
   */
  function throttlingClient(pk: string) {
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const calls = { rounds: 0 };
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'BatchGetItemCommand') return next(args);
        calls.rounds += 1;
        if (calls.rounds > 20) throw new Error('BatchGetItem retried 20 times: no cap on unprocessed keys');
        const out = await next(args);
        const table = dynamo.table;
        const asked = (args.input as BatchGetItemCommandInput).RequestItems?.[table]?.Keys ?? [];
        const output = out.output as BatchGetItemCommandOutput;
        const responses = output.Responses?.[table] ?? [];
        output.Responses = { [table]: responses.filter((item) => item.pk?.S !== pk) };
        const left = asked.filter((key) => key.pk?.S === pk);
        output.UnprocessedKeys = left.length > 0 ? { [table]: { Keys: left } } : {};
        return out;
      },
      { step: 'initialize', name: 'unprocessed-keys' },
    );
    return { client, calls };
  }

  it('gives up on a key left unprocessed after 6 BatchGetItem rounds: the sweep counts that cluster as an error and reconciles the others', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0); // no backoff sleeps between rounds
    const clusters = [freshId('throttled'), freshId('readable')].map((id) => ({
      id,
      heartbeatIntervalSeconds: 1,
      missedBeats: 3,
      nodes: NODES.filter((n) => n.id !== 'c'),
    }));
    const config = parseConfig({ clusters });
    const [throttled, readable] = config.clusters as [ClusterConfig, ClusterConfig];
    const clock = new FakeClock();
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    const writer = new ControlPlane({
      config,
      store,
      targets: new Map(),
      logger: recordingLogger(),
      now: clock.now,
    });
    for (const cluster of [throttled, readable]) {
      await writer.heartbeat(cluster, node('a'), {});
      clock.advance(1_000);
      await writer.heartbeat(cluster, node('b'), {});
    }
    // a has expired in both clusters; b, beating every interval, is alive in both
    await passWhileBeating(clock, LEASE_MS, 1_000, async () => {
      for (const cluster of [throttled, readable]) await writer.heartbeat(cluster, node('b'), {});
    });
    const { client, calls } = throttlingClient(`CLUSTER#${throttled.id}`);
    const logger = recordingLogger();
    const sweeper = new ControlPlane({
      config,
      store: new DynamoStateStore(client, dynamo.table),
      targets: new Map(),
      logger,
      now: clock.now,
    });
    try {
      expect(await sweeper.sweep()).toMatchObject({ clusters: 2, promoted: 1, errors: 1 });
      expect(calls.rounds).toBe(6);
    } finally {
      client.destroy();
    }

    expect(await store.load(throttled.id)).toMatchObject({ epoch: 1, active: 'a' });
    expect(await store.load(readable.id)).toMatchObject({ epoch: 2, active: 'b' });
    expect(logger.entries.filter((e) => e.level === 'error')).toEqual([
      {
        level: 'error',
        message: `sweep of ${throttled.id} failed: its state could not be read (throttled); the next sweep retries`,
        extra: { cluster: throttled.id, error: 'Error' },
      },
    ]);
  });

  it('answers null, in order, for the clusters loadMany could not read', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const [first, second] = [freshId('read'), freshId('throttled')];
    const store = new DynamoStateStore(dynamo.client, dynamo.table);
    const cluster = parseConfig({ clusters: [{ id: first, nodes: [node('a')] }] })
      .clusters[0] as ClusterConfig;
    await store.recordHeartbeat(cluster, 'a', {}, 1_000);
    const { client, calls } = throttlingClient(`CLUSTER#${second}`);
    try {
      const states = await new DynamoStateStore(client, dynamo.table).loadMany([second, first]);
      expect(states[0]).toBeNull();
      expect(states[1]).toMatchObject({ cluster: first, nodes: { a: { lastSeen: 1_000 } } });
      expect(calls.rounds).toBe(6);
    } finally {
      client.destroy();
    }
  });
});
