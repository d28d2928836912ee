/**
 * The CDK construct: each deployment invariant asserted on its own, cdk-nag AwsSolutions
 * with every acknowledgement justified in code, cfn-lint when available, and an offline
 * `cdk synth` through the pinned CLI (which also bundles the functions with local esbuild).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailoverControlPlane, type FailoverControlPlaneProps } from '../infra/control-plane.js';
import { type ConfigInput, loadConfigFile, parseConfig, parseConfigText } from '../shared/config.js';
import { ROUTES } from '../shared/http/routes.js';
import { HEADROOM, reservedConcurrency, throttles } from '../shared/http/throttle.js';
import { mintToken } from '../shared/tokens.js';

const work = mkdtempSync(join(tmpdir(), 'failover-infra-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const rawConfig: ConfigInput = {
  clusters: [
    {
      id: 'db',
      nodes: [
        { id: 'db1', address: '10.0.1.10', tokenSha256: mintToken().sha256 },
        { id: 'db2', address: '10.0.2.10', tokenSha256: mintToken().sha256 },
      ],
      targets: [{ type: 'log' }],
    },
  ],
};

function synth(props: Partial<FailoverControlPlaneProps> = {}) {
  // Skipping bundling keeps these assertions fast; the CLI synth test below bundles for real.
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    outdir: mkdtempSync(join(work, 'out-')),
  });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const plane = new FailoverControlPlane(stack, 'ControlPlane', { config: parseConfig(rawConfig), ...props });
  return { app, stack, plane, template: Template.fromStack(stack) };
}

describe('FailoverControlPlane', () => {
  let template: Template;
  let app: App;
  beforeAll(() => {
    ({ template, app } = synth());
  });

  it('keeps state in an on-demand, encrypted table with PITR, deletion protection and event TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
      ],
    });
    template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
  });

  it('lets deletion protection be turned off', () => {
    synth({ deletionProtection: false }).template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })],
    });
  });

  it('runs three arm64 Node 24 functions with short timeouts and the config in the environment', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions)).toHaveLength(3);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Timeout).toBeLessThanOrEqual(60);
      const env = fn.Properties.Environment.Variables;
      // The config ships in the bundle (see the CLI synth test), not in the 4 KB environment.
      expect(env.FAILOVER_CONFIG_FILE).toBe('/var/task/failover.config.json');
      expect(env.FAILOVER_TABLE).toBeDefined();
    }
  });

  it('scopes every DynamoDB permission to the state table and grants no wildcard resources', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements.length).toBeGreaterThan(0);
    for (const statement of statements) {
      expect(statement.Resource).not.toBe('*');
      const actions: string[] = [statement.Action].flat();
      expect(actions.some((a) => a.endsWith('*'))).toBe(false);
      if (actions.some((a) => a.startsWith('dynamodb:'))) {
        expect(statement.Resource).toEqual({
          'Fn::GetAtt': [expect.stringMatching(/^ControlPlaneState/), 'Arn'],
        });
      }
    }
    expect(
      template.findResources('AWS::IAM::Role', { Properties: { ManagedPolicyArns: Match.anyValue() } }),
    ).toEqual({});
  });

  it('gives each function only the DynamoDB actions it uses', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const actionsOf = (rolePrefix: string) =>
      policies
        .filter((p) => JSON.stringify(p.Properties.Roles).includes(rolePrefix))
        .flatMap((p) => p.Properties.PolicyDocument.Statement)
        .flatMap((s: { Action: string | string[] }) => [s.Action].flat())
        .filter((a: string) => a.startsWith('dynamodb:'))
        .sort();
    expect(actionsOf('ControlPlaneHeartbeatRole')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    // Admin writes for switchover, pause and resume (and copies their events to the log).
    expect(actionsOf('ControlPlaneAdminRole')).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOf('ControlPlaneSweepRole')).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
  });

  it('authorises every admin route with IAM and leaves node routes to the node-token check', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => [r.Properties.RouteKey, r.Properties.AuthorizationType] as const,
    );
    expect(Object.fromEntries(routes)).toEqual({
      'GET /v1/clusters/{cluster}': 'AWS_IAM',
      'GET /v1/clusters/{cluster}/events': 'AWS_IAM',
      'POST /v1/clusters/{cluster}/switchover': 'AWS_IAM',
      'POST /v1/clusters/{cluster}/pause': 'AWS_IAM',
      'POST /v1/clusters/{cluster}/resume': 'AWS_IAM',
      'POST /v1/clusters/{cluster}/nodes/{node}/heartbeat': 'NONE',
      'POST /v1/clusters/{cluster}/nodes/{node}/release': 'NONE',
      'GET /v1/clusters/{cluster}/nodes/{node}': 'NONE',
    });
  });

  it('adds exactly the routes table: one route per entry, node routes to the heartbeat function and admin routes to the admin function behind IAM', () => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => {
      const integration = integrations[r.Properties.Target['Fn::Join'][1][1].Ref];
      return {
        key: r.Properties.RouteKey,
        authorization: r.Properties.AuthorizationType,
        function: integration?.Properties.IntegrationUri['Fn::GetAtt'][0],
      };
    });
    expect(routes).toHaveLength(ROUTES.length);
    for (const route of ROUTES) {
      const key = `${route.method} ${route.path}`;
      const added = routes.filter((r) => r.key === key);
      expect(added, key).toHaveLength(1);
      expect(added[0]?.authorization, key).toBe(route.group === 'admin' ? 'AWS_IAM' : 'NONE');
      expect(added[0]?.function, key).toMatch(
        route.group === 'admin' ? /^ControlPlaneAdmin[0-9A-F]{8}$/ : /^ControlPlaneHeartbeat[0-9A-F]{8}$/,
      );
    }
  });

  it('throttles node and admin routes separately, node routes sized from the config, and writes access logs', () => {
    // 2 nodes at a 5 s interval: 0.4 beats/s × headroom 4 = 1.6/s, so the floor of 10/s; burst 20.
    const node = { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 };
    const admin = { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 };
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: admin,
      RouteSettings: Object.fromEntries(
        ROUTES.map((r) => [`${r.method} ${r.path}`, r.group === 'node' ? node : admin]),
      ),
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    // The stage refers to routes by key: it is created after every one of them.
    const [stage] = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
    const routes = Object.keys(template.findResources('AWS::ApiGatewayV2::Route'));
    expect(routes).toHaveLength(ROUTES.length);
    expect(stage?.DependsOn).toEqual(expect.arrayContaining(routes));
  });

  it('sizes the node routes as nodes ÷ interval × headroom: 300 nodes at a 1 s interval get 1,200/s', () => {
    const nodes = Array.from({ length: 300 }, (_, i) => ({
      id: `n${i}`,
      address: `10.1.${i >> 8}.${i & 255}`,
      tokenSha256: 'a'.repeat(64),
    }));
    const clusters = Array.from({ length: 5 }, (_, c) => ({
      id: `c${c}`,
      heartbeatIntervalSeconds: 1,
      nodes: nodes.slice(c * 60, (c + 1) * 60),
    }));
    expect(throttles(parseConfig({ clusters }))).toEqual({
      node: { rateLimit: 300 * HEADROOM, burstLimit: 2 * 300 * HEADROOM },
      admin: { rateLimit: 10, burstLimit: 20 },
    });
    expect(
      throttles(parseConfig({ clusters: [{ ...clusters[0], heartbeatIntervalSeconds: 60 }] })).node,
    ).toEqual({
      rateLimit: 10,
      burstLimit: 120, // twice the 60 nodes: all of them may beat at once
    });
  });

  it('takes an explicit throttle for one group and keeps the other sized from the config', () => {
    const settings = synth({ throttles: { admin: { rateLimit: 2, burstLimit: 3 } } }).template.findResources(
      'AWS::ApiGatewayV2::Stage',
    );
    const [stage] = Object.values(settings);
    expect(stage?.Properties.RouteSettings['POST /v1/clusters/{cluster}/pause']).toEqual({
      ThrottlingRateLimit: 2,
      ThrottlingBurstLimit: 3,
    });
    expect(stage?.Properties.RouteSettings['POST /v1/clusters/{cluster}/nodes/{node}/heartbeat']).toEqual({
      ThrottlingRateLimit: 10,
      ThrottlingBurstLimit: 20,
    });
  });

  it('runs the sweep on a one-minute schedule', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [
        Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneSweep'), 'Arn'] } }),
      ],
    });
  });

  it('alarms on sweep errors, a stopped sweep and target apply failures, and counts failovers from logs', () => {
    for (const name of ['SweepErrors', 'SweepNotRunning', 'TargetApplyFailures']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmDescription: `failover: ${name}` });
    }
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.event = "promoted" }',
      MetricTransformations: [Match.objectLike({ MetricName: 'Failovers', MetricNamespace: 'Failover' })],
    });
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.event = "target-apply-failed" }',
    });
  });

  it("counts failovers and target apply failures in all three functions' logs (admin switches over too)", () => {
    const filters = Object.values(template.findResources('AWS::Logs::MetricFilter'));
    for (const [metric, event] of [
      ['Failovers', 'promoted'],
      ['TargetApplyFailures', 'target-apply-failed'],
    ]) {
      const logGroups = filters
        .filter(
          (f) =>
            f.Properties.FilterPattern === `{ $.event = "${event}" }` &&
            f.Properties.MetricTransformations[0].MetricName === metric,
        )
        .map((f) => String(f.Properties.LogGroupName.Ref).replace(/[0-9A-F]{8}$/, ''))
        .sort();
      expect(logGroups, metric).toEqual([
        'ControlPlaneAdminLogs',
        'ControlPlaneHeartbeatLogs',
        'ControlPlaneSweepLogs',
      ]);
    }
  });

  it('publishes transitions to EventBridge with permission on that bus only', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(
      fns.filter((f) => f.Properties.Environment.Variables.FAILOVER_EVENT_BUS === 'default'),
    ).toHaveLength(3);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'events:PutEvents',
            Resource: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
          }),
        ]),
      },
    });
  });

  it('outputs the API URL, the table name and the ARN to grant operators', () => {
    const outputs = Object.keys(template.findOutputs('*'));
    expect(outputs.some((o) => o.includes('ApiUrl'))).toBe(true);
    expect(outputs.some((o) => o.includes('TableName'))).toBe(true);
    expect(outputs.some((o) => o.includes('AdminInvokeArn'))).toBe(true);
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(
      report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`),
    ).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('reports an unacknowledged cdk-nag finding (the check is live)', () => {
    const { app: bad, stack } = synth();
    new Queue(stack, 'Unencrypted', { enforceSSL: false });
    const report = new AwsSolutionsChecks(bad).validateScope(bad);
    expect(report.success).toBe(false);
  });

  it('refuses at synth a webhook target whose secret is not provided', () => {
    const config = parseConfig({
      clusters: [
        {
          ...rawConfig.clusters[0],
          id: 'db',
          nodes: rawConfig.clusters[0]?.nodes ?? [],
          targets: [{ type: 'webhook', url: 'https://ops.example.com/hook', secretEnv: 'HOOK_SECRET' }],
        },
      ],
    });
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    expect(() => new FailoverControlPlane(new Stack(app, 'S'), 'CP', { config })).toThrow(
      /targets\[0\]\.secretEnv: HOOK_SECRET must be given in targetEnvironment/,
    );
  });

  it('lints clean with cfn-lint when it is installed', (ctx) => {
    const found = spawnSync('cfn-lint', ['--version']).status === 0;
    if (!found) {
      console.warn('cfn-lint is not on PATH: skipping the CloudFormation lint');
      ctx.skip();
    }
    const file = join(work, 'template.json');
    writeFileSync(file, JSON.stringify(template.toJSON()));
    const lint = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', file], { encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });
});

describe('FailoverControlPlane with ingress function-url', () => {
  let template: Template;
  let app: App;
  let plane: FailoverControlPlane;
  beforeAll(() => {
    ({ template, app, plane } = synth({ ingress: 'function-url' }));
  });

  it('gives the heartbeat function an open URL (node tokens checked in the handler) and the admin function an IAM one', () => {
    template.resourceCountIs('AWS::Lambda::Url', 2);
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneHeartbeat'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneAdmin'), 'Arn'] },
    });
    // No API Gateway at all: nothing is charged per request but Lambda's own.
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    expect(plane.api).toBeUndefined();
  });

  it("throttles the node URL by the heartbeat function's reserved concurrency, sized from the config", () => {
    const expected = reservedConcurrency(throttles(parseConfig(rawConfig)).node);
    expect(expected).toBe(2);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: Match.anyValue(),
      ReservedConcurrentExecutions: expected,
      Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneHeartbeatRole'), 'Arn'] },
    });
    expect(reservedConcurrency({ rateLimit: 1_200, burstLimit: 2_400 })).toBe(120);
  });

  it('grants operators lambda:InvokeFunctionUrl on the admin function, for IAM-authorised URLs only', () => {
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const stack = new Stack(app, 'Grant');
    const p = new FailoverControlPlane(stack, 'ControlPlane', {
      config: parseConfig(rawConfig),
      ingress: 'function-url',
    });
    p.grantAdmin(new Role(stack, 'Operators', { assumedBy: new AccountRootPrincipal() }));
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^Operators') }],
      PolicyDocument: {
        Statement: [
          {
            Action: 'lambda:InvokeFunctionUrl',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ControlPlaneAdmin'), 'Arn'] },
            Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
          },
        ],
      },
    });
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(
      report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`),
    ).toEqual([]);
  });
});

describe('FailoverControlPlane with Route 53 and ELBv2 targets', () => {
  const tg = (name: string) =>
    `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${name}/0123456789abcdef`;
  const listener =
    'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/lb/0123456789abcdef/0123456789abcdef';
  const rule = `${listener.replace(':listener/', ':listener-rule/')}/0123456789abcdef`;
  const awsConfig: ConfigInput = {
    clusters: [
      {
        id: 'db',
        nodes: [
          {
            id: 'a',
            address: '10.0.0.1',
            tokenSha256: mintToken().sha256,
            targetId: 'i-1',
            targetGroupArn: tg('a'),
          },
          {
            id: 'b',
            address: '10.0.0.2',
            tokenSha256: mintToken().sha256,
            targetId: 'i-2',
            targetGroupArn: tg('b'),
          },
        ],
        targets: [
          { type: 'route53', hostedZoneId: 'Z123ABC', recordName: 'DB.example.com.', recordType: 'A' },
          { type: 'elbv2-targets', targetGroupArn: tg('shared'), port: 5432 },
          { type: 'elbv2-weights', listenerArn: listener },
          { type: 'elbv2-weights', id: 'rule', ruleArn: rule },
        ],
      },
    ],
  };
  let app: App;
  let statements: Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }>;
  beforeAll(() => {
    app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, outdir: mkdtempSync(join(work, 'out-')) });
    const stack = new Stack(app, 'Aws', { env: { account: '123456789012', region: 'eu-west-1' } });
    new FailoverControlPlane(stack, 'ControlPlane', { config: parseConfig(awsConfig) });
    const policies = Template.fromStack(stack).findResources('AWS::IAM::Policy');
    const heartbeat = Object.entries(policies).find(([id]) => id.includes('HeartbeatRole'))?.[1];
    statements = heartbeat?.Properties.PolicyDocument.Statement ?? [];
  });
  const statementFor = (action: string) => statements.find((s) => [s.Action].flat().includes(action));
  const partitionArn = (suffix: string) => ({
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, suffix]],
  });

  it('lets the functions UPSERT only the configured record names and types in the configured zone', () => {
    expect(statementFor('route53:ChangeResourceRecordSets')).toEqual(
      expect.objectContaining({
        Resource: partitionArn(':route53:::hostedzone/Z123ABC'),
        Condition: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['db.example.com'],
            'route53:ChangeResourceRecordSetsRecordTypes': ['A'],
            'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
          },
        },
      }),
    );
    expect(statementFor('route53:ListResourceRecordSets')?.Resource).toEqual(
      partitionArn(':route53:::hostedzone/Z123ABC'),
    );
    expect(statementFor('route53:GetChange')?.Resource).toEqual(partitionArn(':route53:::change/*'));
  });

  it('scopes ELBv2 changes to the configured target group, listener and rule, and only Describe* to "*"', () => {
    expect(statementFor('elasticloadbalancing:RegisterTargets')?.Resource).toBe(tg('shared'));
    expect(statementFor('elasticloadbalancing:DeregisterTargets')?.Resource).toBe(tg('shared'));
    expect(statementFor('elasticloadbalancing:ModifyListener')?.Resource).toBe(listener);
    expect(statementFor('elasticloadbalancing:ModifyRule')?.Resource).toBe(rule);
    const wildcard = statements.filter((s) => s.Resource === '*').flatMap((s) => [s.Action].flat());
    expect(wildcard.sort()).toEqual([
      'elasticloadbalancing:DescribeListeners',
      'elasticloadbalancing:DescribeRules',
      'elasticloadbalancing:DescribeTargetHealth',
    ]);
  });

  it('passes cdk-nag, with the IAM5 findings acknowledged one by one', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('the CDK app', () => {
  it('synthesizes offline with the pinned CLI, bundling each function with local esbuild', () => {
    const out = join(work, 'cdk.out');
    execFileSync('npx', ['cdk', 'synth', '--quiet', '-c', 'config=failover.config.example.json', '-o', out], {
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
      stdio: 'pipe',
      timeout: 120_000,
    });
    const assets = readdirSync(out).filter((f) => f.startsWith('asset.'));
    expect(assets).toHaveLength(3);
    const example = parseConfigText(readFileSync('failover.config.example.json', 'utf8'));
    for (const asset of assets) {
      expect(statSync(join(out, asset, 'index.js')).size).toBeGreaterThan(1000);
      // What the function loads at cold start is the same config, valid for the same schema.
      expect(loadConfigFile(join(out, asset, 'failover.config.json'))).toEqual(example);
    }
  }, 120_000);

  it('stops with the config error when the config file is invalid', () => {
    const bad = join(work, 'bad.json');
    writeFileSync(bad, JSON.stringify({ clusters: [{ id: 'X', nodes: [] }] }));
    const result = spawnSync(
      'npx',
      ['cdk', 'synth', '--quiet', '-c', `config=${bad}`, '-o', join(work, 'bad.out')],
      {
        env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('clusters[0].id');
    expect(result.stderr).toContain('clusters[0].nodes: a cluster needs at least one node');
  }, 120_000);
});
