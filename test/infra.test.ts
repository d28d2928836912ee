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
import { METRIC } from '../functions/metric-names.js';
import { FailoverControlPlane, type FailoverControlPlaneProps } from '../infra/control-plane.js';
import { type ConfigInput, loadConfigFile, parseConfig, parseConfigText } from '../shared/config.js';
import { ROUTES } from '../shared/http/routes.js';
import { HEADROOM, reservedConcurrency, throttles, wafRateLimit } from '../shared/http/throttle.js';
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

/** Each admin route as the end of its execute-api ARN: `METHOD/path`, path parameters as wildcards. */
const ADMIN_ARN_SUFFIXES = ROUTES.filter((r) => r.group === 'admin').map(
  (r) => `${r.method}${r.path.replace(/\{\w+\}/g, '*')}`,
);

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

/** cdk-nag AwsSolutions' unacknowledged findings, each as `rule: construct paths`. */
function nagFindings(app: App): string[] {
  const report = new AwsSolutionsChecks(app).validateScope(app);
  return report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath)}`);
}

/** cfn-lint finds nothing in the template; skipped (with a warning) where cfn-lint is not installed. */
function expectLintClean(ctx: { skip(): void }, template: Template, name: string): void {
  const found = spawnSync('cfn-lint', ['--version']).status === 0;
  if (!found) {
    console.warn('cfn-lint is not on PATH: skipping the CloudFormation lint');
    ctx.skip();
  }
  const file = join(work, name);
  writeFileSync(file, JSON.stringify(template.toJSON()));
  const lint = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', file], { encoding: 'utf8' });
  expect(lint.stdout + lint.stderr).toBe('');
  expect(lint.status).toBe(0);
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
      'GET /': 'AWS_IAM',
      'GET /console.js': 'AWS_IAM',
      'GET /console.css': 'AWS_IAM',
      'GET /v1/clusters': 'AWS_IAM',
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

  it("alarms on sweep errors, a stopped sweep, and target apply failures over all clusters (the functions' EMF metric)", () => {
    for (const name of ['SweepErrors', 'SweepNotRunning', 'TargetApplyFailures']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmDescription: `failover: ${name}` });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: 'failover: TargetApplyFailures',
      Namespace: 'Failover',
      MetricName: METRIC.targetApplyFailures,
      Dimensions: [{ Name: 'service', Value: 'failover' }],
      Statistic: 'Sum',
    });
  });

  describe('the dashboard', () => {
    /** The dashboard's widgets, its body's CloudFormation references read as 'REF'. */
    function widgets(): Array<{ properties: { title?: string; metrics?: unknown[][] } }> {
      const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
      const parts = dashboard?.Properties.DashboardBody['Fn::Join'][1] as unknown[];
      return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'REF')).join('')).widgets;
    }
    const metricsOf = (title: RegExp) =>
      widgets()
        .filter((w) => title.test(w.properties.title ?? ''))
        .flatMap((w) => w.properties.metrics ?? []);

    it('exists once', () => {
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    });

    it('draws every metric the functions emit, and no other name in their namespace', () => {
      const text = JSON.stringify(widgets());
      const searched = [...text.matchAll(/MetricName=\\"(\w+)\\"/g)].map((m) => m[1]);
      const direct = widgets()
        .flatMap((w) => w.properties.metrics ?? [])
        .filter((m) => m[0] === 'Failover' && m[1] !== 'ApiThrottled')
        .map((m) => m[1]);
      expect(new Set([...searched, ...direct])).toEqual(new Set(Object.values(METRIC)));
    });

    it('draws the per-cluster metrics one line per cluster, by a search over the Cluster dimension', () => {
      const text = JSON.stringify(widgets());
      for (const name of [
        METRIC.failovers,
        METRIC.holds,
        METRIC.heartbeatsAccepted,
        METRIC.heartbeatsRejected,
      ]) {
        expect(text).toContain(`SEARCH('{Failover,Cluster,service} MetricName=\\"${name}\\"', 'Sum', 60)`);
      }
    });

    it("draws the API's requests, 4xx, 5xx and throttled requests (429s, counted from the access log)", () => {
      const api = metricsOf(/^API/).map((m) => `${m[0]} ${m[1]}`);
      expect(api).toEqual([
        'AWS/ApiGateway Count',
        'AWS/ApiGateway 4xx',
        'AWS/ApiGateway 5xx',
        'Failover ApiThrottled',
      ]);
      template.hasResourceProperties('AWS::Logs::MetricFilter', {
        FilterPattern: '{ $.status = "429" }',
        LogGroupName: { Ref: Match.stringLikeRegexp('^ControlPlaneApiAccessLogs') },
        MetricTransformations: [
          Match.objectLike({ MetricName: 'ApiThrottled', MetricNamespace: 'Failover' }),
        ],
      });
    });

    it("draws each function's errors, throttles and duration", () => {
      const lambda = metricsOf(/^Lambda/).map((m) => m[1]);
      expect(lambda.filter((name) => name === 'Errors')).toHaveLength(3);
      expect(lambda.filter((name) => name === 'Throttles')).toHaveLength(3);
      expect(lambda.filter((name) => name === 'Duration')).toHaveLength(3);
    });
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
    expect(outputs.some((o) => o.includes('AdminInvokeArns'))).toBe(true);
  });

  it('grants operators exactly the admin routes, the console included, and no node route', () => {
    const own = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const stack = new Stack(own, 'Grant', { env: { account: '123456789012', region: 'eu-west-1' } });
    const plane = new FailoverControlPlane(stack, 'ControlPlane', { config: parseConfig(rawConfig) });
    const role = new Role(stack, 'Operators', { assumedBy: new AccountRootPrincipal() });
    plane.grantAdmin(role);
    const [policy] = Object.entries(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('Operators'))
      .map(([, resource]) => resource);
    // Each ARN is a join ending in '/$default/METHOD/path': the method and path it allows.
    const resources = (
      (policy?.Properties.PolicyDocument.Statement[0].Resource ?? []) as Array<{
        'Fn::Join': [string, unknown[]];
      }>
    ).map((arn) => String(arn['Fn::Join'][1].at(-1)).replace(/^\/\$default\//, ''));
    expect(resources).toEqual(ADMIN_ARN_SUFFIXES);
    expect(resources).toContain('GET/');
    expect(resources).not.toContain('POST/v1/clusters/*/nodes/*/heartbeat');
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

  it('refuses at synth a webhook whose key is read from the environment: nothing puts secrets there', () => {
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
      /targets\[0\]\.secretEnv: the deployed functions have no HOOK_SECRET in their environment .*secretId/,
    );
  });

  it('lints clean with cfn-lint when it is installed', (ctx) => {
    expectLintClean(ctx, template, 'template.json');
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

  it("draws the dashboard without an API row: the functions' own metrics stand for the URLs", () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).not.toContain('AWS/ApiGateway');
    expect(body).toContain('AWS/Lambda');
    expect(body).toContain("SEARCH('{Failover,Cluster,service} MetricName=");
    expect(body).toContain(METRIC.heartbeatsAccepted);
    template.resourceCountIs('AWS::Logs::MetricFilter', 0);
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
    expect(nagFindings(app)).toEqual([]);
  });
});

/** The REST API's methods as `METHOD /path`, each with its authorisation and the function it invokes. */
function restMethods(template: Template) {
  const resources = template.findResources('AWS::ApiGateway::Resource');
  const pathOf = (ref: { Ref?: string }): string => {
    const resource = ref.Ref === undefined ? undefined : resources[ref.Ref];
    if (resource === undefined) return ''; // the API's root resource
    return `${pathOf(resource.Properties.ParentId)}/${resource.Properties.PathPart}`;
  };
  return Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => ({
    key: `${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId) || '/'}`,
    authorization: m.Properties.AuthorizationType,
    function: JSON.stringify(m.Properties.Integration.Uri).match(
      /ControlPlane(Heartbeat|Admin)[0-9A-F]{8}/,
    )?.[1],
    integration: m.Properties.Integration.Type,
  }));
}

describe('FailoverControlPlane with ingress rest-api', () => {
  let template: Template;
  let app: App;
  beforeAll(() => {
    ({ template, app } = synth({ ingress: 'rest-api' }));
  });

  it('adds exactly the routes table as REST methods: admin methods IAM to the admin function, node methods open to the heartbeat function', () => {
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    const methods = restMethods(template);
    expect(methods).toHaveLength(ROUTES.length);
    expect(
      Object.fromEntries(methods.map((m) => [m.key, [m.authorization, m.function, m.integration]])),
    ).toEqual(
      Object.fromEntries(
        ROUTES.map((r) => [
          `${r.method} ${r.path}`,
          r.group === 'admin' ? ['AWS_IAM', 'Admin', 'AWS_PROXY'] : ['NONE', 'Heartbeat', 'AWS_PROXY'],
        ]),
      ),
    );
    expect(Object.keys(Object.fromEntries(methods.map((m) => [m.key, 1])))).toContain('GET /');
  });

  it('puts a WAF web ACL on the stage with one rate-based rule per source IP, sized for the whole fleet', () => {
    // 2 nodes at a 5 s interval: 120 beats in 5 minutes × headroom 4 = 480, plus 600 for a console.
    expect(wafRateLimit(parseConfig(rawConfig))).toBe(1_080);
    template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: {
        CloudWatchMetricsEnabled: true,
        SampledRequestsEnabled: true,
        MetricName: 'Test-api',
      },
      Rules: [
        {
          Name: 'RateLimitPerSourceIp',
          Priority: 0,
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: { Limit: 1_080, AggregateKeyType: 'IP', EvaluationWindowSec: 300 },
          },
          VisibilityConfig: {
            CloudWatchMetricsEnabled: true,
            SampledRequestsEnabled: true,
            MetricName: 'Test-api-rate-limited',
          },
        },
      ],
    });
    const [stage] = Object.keys(template.findResources('AWS::ApiGateway::Stage'));
    const [acl] = Object.keys(template.findResources('AWS::WAFv2::WebACL'));
    const [api] = Object.keys(template.findResources('AWS::ApiGateway::RestApi'));
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      WebACLArn: { 'Fn::GetAtt': [acl, 'Arn'] },
      ResourceArn: {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':apigateway:eu-west-1::/restapis/',
            { Ref: api },
            '/stages/',
            { Ref: stage },
          ],
        ],
      },
    });
  });

  it('sizes 300 nodes at a 1 s interval for 360,600 requests per source in 5 minutes', () => {
    const clusters = Array.from({ length: 5 }, (_, c) => ({
      id: `c${c}`,
      heartbeatIntervalSeconds: 1,
      nodes: Array.from({ length: 60 }, (_, i) => ({
        id: `n${i}`,
        address: `10.${c}.0.${i}`,
        tokenSha256: 'a'.repeat(64),
      })),
    }));
    expect(wafRateLimit(parseConfig({ clusters }))).toBe(300 * 300 * HEADROOM + 600);
  });

  it('takes wafRateLimit from the props, and refuses one AWS WAF cannot hold or an ingress without a WAF', () => {
    synth({ ingress: 'rest-api', wafRateLimit: 2_000 }).template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: [Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 2_000 }) } })],
    });
    expect(() => synth({ ingress: 'rest-api', wafRateLimit: 5 })).toThrow(
      /^wafRateLimit: must be a whole number of requests per 5 minutes from 10 to 2000000000, not 5$/,
    );
    expect(() => synth({ wafRateLimit: 2_000 })).toThrow(/wafRateLimit: only ingress 'rest-api' has a WAF/);
  });

  it('throttles node methods with the node throttle and every other method with the admin throttle, logs errors of every method, and writes access logs', () => {
    // 2 nodes at a 5 s interval: the floor of 10/s, burst 20 (as behind the HTTP API).
    const node = { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 };
    const escaped = (path: string) => `/${path.replaceAll('/', '~1')}`;
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      MethodSettings: [
        {
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          DataTraceEnabled: false,
          ThrottlingRateLimit: 10,
          ThrottlingBurstLimit: 20,
        },
        ...ROUTES.filter((r) => r.group === 'node').map((r) => ({
          HttpMethod: r.method,
          ResourcePath: escaped(r.path),
          DataTraceEnabled: false,
          ...node,
        })),
      ],
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
    });
    const big = synth({ ingress: 'rest-api', throttles: { node: { rateLimit: 1_200, burstLimit: 2_400 } } });
    const [stage] = Object.values(big.template.findResources('AWS::ApiGateway::Stage'));
    const settings = stage?.Properties.MethodSettings as Array<Record<string, unknown>>;
    expect(
      settings.find((s) => s.HttpMethod === 'POST' && String(s.ResourcePath).endsWith('heartbeat')),
    ).toMatchObject({
      ThrottlingRateLimit: 1_200,
      ThrottlingBurstLimit: 2_400,
    });
    expect(settings[0]).toMatchObject({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 });
  });

  it('lets API Gateway invoke each function from this API only, once per function', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'))
      .map((p) => p.Properties)
      .filter((p) => p.Principal !== 'events.amazonaws.com'); // the sweep's schedule
    expect(permissions).toHaveLength(2);
    for (const p of permissions) {
      expect(p.Principal).toBe('apigateway.amazonaws.com');
      expect(JSON.stringify(p.SourceArn)).toContain('ControlPlaneApi');
    }
  });

  it("draws the REST API's requests, 4xx, 5xx, throttled requests and WAF blocks on the dashboard", () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const parts = dashboard?.Properties.DashboardBody['Fn::Join'][1] as unknown[];
    const widgets: Array<{ properties: { title?: string; metrics?: unknown[][] } }> = JSON.parse(
      parts.map((p) => (typeof p === 'string' ? p : 'REF')).join(''),
    ).widgets;
    const api = widgets.filter((w) => /^API/.test(w.properties.title ?? ''));
    expect(api.map((w) => w.properties.title)).toEqual([
      'API requests, 4xx, 5xx, throttled (429), blocked by WAF',
    ]);
    expect(api[0]?.properties.metrics?.map((m) => `${m[0]} ${m[1]}`)).toEqual([
      'AWS/ApiGateway Count',
      'AWS/ApiGateway 4XXError',
      'AWS/ApiGateway 5XXError',
      'AWS/WAFV2 BlockedRequests',
      'Failover ApiThrottled',
    ]);
  });

  it("outputs the stage URL and the admin methods' execute-api ARNs, no node method's", () => {
    const outputs = template.findOutputs('*');
    const url = Object.entries(outputs).find(([id]) => id.includes('ApiUrl'))?.[1];
    const [stage] = Object.keys(template.findResources('AWS::ApiGateway::Stage'));
    const [api] = Object.keys(template.findResources('AWS::ApiGateway::RestApi'));
    expect(stage).toMatch(/Stageprod/);
    expect(url?.Value).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: api },
          '.execute-api.eu-west-1.',
          { Ref: 'AWS::URLSuffix' },
          '/',
          { Ref: stage },
          '/',
        ],
      ],
    });
    const arns = JSON.stringify(
      Object.entries(outputs).find(([id]) => id.includes('AdminInvokeArns'))?.[1]?.Value,
    );
    for (const r of ROUTES) {
      const suffix = `/prod/${r.method}${r.path.replace(/\{\w+\}/g, '*')}`;
      if (r.group === 'admin') expect(arns).toContain(`${suffix}"`);
      else expect(arns).not.toContain(suffix);
    }
  });

  it("grants operators execute-api:Invoke on the REST API's admin methods in its stage, and no node method", () => {
    const own = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const stack = new Stack(own, 'Grant', { env: { account: '123456789012', region: 'eu-west-1' } });
    const plane = new FailoverControlPlane(stack, 'ControlPlane', {
      config: parseConfig(rawConfig),
      ingress: 'rest-api',
    });
    plane.grantAdmin(new Role(stack, 'Operators', { assumedBy: new AccountRootPrincipal() }));
    const [policy] = Object.entries(Template.fromStack(stack).findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('Operators'))
      .map(([, resource]) => resource);
    const [statement] = policy?.Properties.PolicyDocument.Statement ?? [];
    expect(statement.Action).toBe('execute-api:Invoke');
    const resources = (statement.Resource as Array<{ 'Fn::Join': [string, unknown[]] }>).map((arn) =>
      String(arn['Fn::Join'][1].at(-1)),
    );
    expect(resources).toEqual(ADMIN_ARN_SUFFIXES.map((suffix) => `/prod/${suffix}`));
  });

  it('lints clean with cfn-lint when it is installed', (ctx) => {
    expectLintClean(ctx, template, 'rest-api-template.json');
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding', () => {
    expect(nagFindings(app)).toEqual([]);
  });
});

describe('FailoverControlPlane with ingress private', () => {
  const endpoints = ['vpce-0123456789abcdef0', 'vpce-0fedcba9876543210'];
  let template: Template;
  let app: App;
  beforeAll(() => {
    ({ template, app } = synth({ ingress: 'private', vpcEndpointIds: endpoints }));
  });

  it('is a private REST API associated with the given endpoints, with no WAF: only they reach it', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['PRIVATE'], VpcEndpointIds: endpoints },
    });
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    const methods = restMethods(template);
    expect(methods).toHaveLength(ROUTES.length);
    for (const m of methods) expect(m.authorization).toBe(m.function === 'Admin' ? 'AWS_IAM' : 'NONE');
  });

  it('allows invoking only from the given endpoints, node methods to anyone and admin methods to this account, and denies every other source', () => {
    const [api] = Object.values(template.findResources('AWS::ApiGateway::RestApi'));
    const statements = api?.Properties.Policy.Statement as Array<Record<string, unknown>>;
    const stagePaths = (group: 'node' | 'admin') =>
      ROUTES.filter((r) => r.group === group).map(
        (r) => `execute-api:/prod/${r.method}${r.path.replace(/\{\w+\}/g, '*')}`,
      );
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: 'execute-api:Invoke',
        Resource: stagePaths('node'),
        Condition: { StringEquals: { 'aws:SourceVpce': endpoints } },
      },
      {
        Effect: 'Allow',
        Principal: {
          AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:root']] },
        },
        Action: 'execute-api:Invoke',
        Resource: stagePaths('admin'),
        Condition: { StringEquals: { 'aws:SourceVpce': endpoints } },
      },
      {
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'execute-api:Invoke',
        Resource: 'execute-api:/*',
        Condition: { StringNotEquals: { 'aws:SourceVpce': endpoints } },
      },
    ]);
  });

  it('refuses ingress private without VPC endpoints, with a malformed or repeated ID, and VPC endpoints with another ingress', () => {
    expect(() => synth({ ingress: 'private' })).toThrow(
      /^vpcEndpointIds: ingress 'private' needs the IDs of the execute-api VPC endpoints that may reach it/,
    );
    expect(() => synth({ ingress: 'private', vpcEndpointIds: [] })).toThrow(
      /^vpcEndpointIds: ingress 'private' needs/,
    );
    expect(() => synth({ ingress: 'private', vpcEndpointIds: ['vpc-0123456789abcdef0'] })).toThrow(
      "vpcEndpointIds: 'vpc-0123456789abcdef0' is not a VPC endpoint ID (vpce-…)",
    );
    expect(() =>
      synth({ ingress: 'private', vpcEndpointIds: [endpoints[0] ?? '', endpoints[0] ?? ''] }),
    ).toThrow(`vpcEndpointIds: ${endpoints[0]} is given twice`);
    expect(() => synth({ ingress: 'rest-api', vpcEndpointIds: endpoints })).toThrow(
      /^vpcEndpointIds: only ingress 'private' is reached through VPC endpoints; this one is 'rest-api'$/,
    );
  });

  it('draws the API row without WAF blocks', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).toContain('API requests, 4xx, 5xx, throttled (429)');
    expect(body).not.toContain('AWS/WAFV2');
  });

  it('lints clean with cfn-lint when it is installed', (ctx) => {
    expectLintClean(ctx, template, 'private-template.json');
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged finding (no WAF on a private API, acknowledged)', () => {
    expect(nagFindings(app)).toEqual([]);
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

describe('FailoverControlPlane with webhook secrets read at run time', () => {
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/hook-AbC123';
  const webhooks = (...secretIds: string[]): ConfigInput => ({
    clusters: [
      {
        ...rawConfig.clusters[0],
        id: 'db',
        nodes: rawConfig.clusters[0]?.nodes ?? [],
        targets: secretIds.map((secretId, i) => ({
          type: 'webhook' as const,
          id: `hook-${i}`,
          url: 'https://ops.example.com/hook',
          secretId,
        })),
      },
    ],
  });
  const synthWith = (config: ConfigInput, env?: { account: string; region: string }) => {
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const stack = new Stack(app, 'Hooks', env ? { env } : {});
    new FailoverControlPlane(stack, 'ControlPlane', { config: parseConfig(config) });
    return { app, template: Template.fromStack(stack) };
  };
  /** Per function role: the resources of its statements that mention Secrets Manager. */
  const secretGrants = (template: Template) =>
    Object.entries(template.findResources('AWS::IAM::Policy')).map(([id, policy]) => {
      const statements: Array<{ Action: string | string[]; Resource: unknown }> =
        policy.Properties.PolicyDocument.Statement;
      const forSecrets = statements.filter((s) => JSON.stringify(s).includes('secretsmanager'));
      return { id, actions: forSecrets.map((s) => s.Action), resources: forSecrets.map((s) => s.Resource) };
    });

  let app: App;
  let template: Template;
  beforeAll(() => {
    ({ app, template } = synthWith(webhooks('failover/webhook', ARN, 'failover/webhook'), {
      account: '123456789012',
      region: 'eu-west-1',
    }));
  });

  it('lets every function that applies targets read exactly the named secrets: the ARN as given, a name as its ARN with the random suffix', () => {
    const grants = secretGrants(template);
    expect(grants.map((g) => g.id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'ControlPlaneAdminRoleDefaultPolicy',
      'ControlPlaneHeartbeatRoleDefaultPolicy',
      'ControlPlaneSweepRoleDefaultPolicy',
    ]);
    for (const grant of grants) {
      expect(grant.actions).toEqual(['secretsmanager:GetSecretValue']);
      expect(grant.resources).toEqual([
        [
          {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':secretsmanager:eu-west-1:123456789012:secret:failover/webhook-??????',
              ],
            ],
          },
          ARN,
        ],
      ]);
    }
  });

  it('grants a name in the Region and account the stack deploys to when the stack is environment-agnostic', () => {
    const [grant] = secretGrants(synthWith(webhooks('failover/webhook')).template);
    expect(grant?.resources).toEqual([
      {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':secretsmanager:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            ':secret:failover/webhook-??????',
          ],
        ],
      },
    ]);
  });

  it('puts no secret in the functions: their environment is the same four variables, and no dynamic reference anywhere', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual([
        'FAILOVER_CONFIG_FILE',
        'FAILOVER_EVENT_BUS',
        'FAILOVER_TABLE',
        'POWERTOOLS_SERVICE_NAME',
      ]);
    }
    expect(JSON.stringify(template.toJSON())).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure/);
  });

  it('grants no Secrets Manager access when no target names a secret', () => {
    expect(secretGrants(synth().template).flatMap((g) => g.resources)).toEqual([]);
  });

  it('passes cdk-nag AwsSolutions with the secret grants', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    expect(report.success).toBe(true);
  });
});

describe('FailoverControlPlane with health-routed targets', () => {
  const GROUP = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/db-active/0123456789abcdef';
  const VPC = 'vpc-0123456789abcdef0';
  const LB_GROUP = 'sg-0123456789abcdef0';
  const CHECKERS = 'pl-0123456789abcdef0';
  const node = (id: string, address: string) => ({
    id,
    address,
    tokenSha256: mintToken().sha256,
    targetId: `i-${id}`,
  });
  type Target = NonNullable<ConfigInput['clusters'][number]['targets']>[number];
  const route53Health = (extra: Partial<Extract<Target, { type: 'route53-health' }>> = {}): Target => ({
    type: 'route53-health',
    hostedZoneId: 'Z123ABC',
    recordName: 'db.example.com',
    recordType: 'A',
    routing: 'failover',
    healthPort: 8008,
    ...extra,
  });

  function synthHealth(targets: Target[], nodes = [node('a', '203.0.113.10'), node('b', '203.0.113.20')]) {
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const stack = new Stack(app, 'Health', { env: { account: '123456789012', region: 'eu-west-1' } });
    const config = parseConfig({ clusters: [{ id: 'db', nodes, targets }] });
    new FailoverControlPlane(stack, 'ControlPlane', { config });
    return { app, template: Template.fromStack(stack) };
  }

  let app: App;
  let template: Template;
  beforeAll(() => {
    ({ app, template } = synthHealth([
      {
        type: 'elbv2-health',
        targetGroupArn: GROUP,
        port: 5432,
        healthPort: 8008,
        securityGroup: { vpcId: VPC, allowFrom: LB_GROUP },
      },
      route53Health({ securityGroup: { vpcId: VPC, allowFrom: CHECKERS } }),
      {
        type: 'route53',
        id: 'api-record',
        hostedZoneId: 'Z123ABC',
        recordName: 'tools.example.com',
        recordType: 'A',
      },
    ]));
  });

  const healthChecks = (t: Template) =>
    Object.entries(t.findResources('AWS::Route53::HealthCheck')).map(([logicalId, r]) => ({
      logicalId,
      config: r.Properties.HealthCheckConfig,
    }));
  const records = (t: Template) =>
    Object.values(t.findResources('AWS::Route53::RecordSet')).map((r) => r.Properties);
  const checkOf = (t: Template, address: string) =>
    healthChecks(t).find((c) => c.config.IPAddress === address)?.logicalId;

  it("gives each node a Route 53 health check on GET /active at its address and the agent's port, at the fastest interval and threshold", () => {
    expect(healthChecks(template).map((c) => c.config)).toEqual(
      ['203.0.113.10', '203.0.113.20'].map((IPAddress) => ({
        Type: 'HTTP',
        IPAddress,
        Port: 8008,
        ResourcePath: '/active',
        RequestInterval: 10,
        FailureThreshold: 1,
      })),
    );
  });

  it('makes a failover pair in priority order, each record carrying its own node and health check', () => {
    expect(records(template)).toEqual([
      expect.objectContaining({
        HostedZoneId: 'Z123ABC',
        Name: 'db.example.com',
        Type: 'A',
        TTL: '10',
        ResourceRecords: ['203.0.113.10'],
        SetIdentifier: 'a',
        Failover: 'PRIMARY',
        HealthCheckId: { 'Fn::GetAtt': [checkOf(template, '203.0.113.10'), 'HealthCheckId'] },
      }),
      expect.objectContaining({
        ResourceRecords: ['203.0.113.20'],
        SetIdentifier: 'b',
        Failover: 'SECONDARY',
        HealthCheckId: { 'Fn::GetAtt': [checkOf(template, '203.0.113.20'), 'HealthCheckId'] },
      }),
    ]);
  });

  it('makes one multivalue answer per node, each with its health check, for more than two nodes', () => {
    const three = [node('a', '203.0.113.10'), node('b', '203.0.113.20'), node('c', '203.0.113.30')];
    const { template: multi } = synthHealth([route53Health({ routing: 'multivalue' })], three);
    const made = records(multi);
    expect(made.map((r) => [r.SetIdentifier, r.ResourceRecords, r.MultiValueAnswer, r.Failover])).toEqual([
      ['a', ['203.0.113.10'], true, undefined],
      ['b', ['203.0.113.20'], true, undefined],
      ['c', ['203.0.113.30'], true, undefined],
    ]);
    for (const record of made) {
      expect(record.HealthCheckId['Fn::GetAtt'][0]).toBe(checkOf(multi, record.ResourceRecords[0]));
    }
  });

  it("admits the health port only from the load balancer's security group, and from Route 53's checkers' prefix list, with no egress", () => {
    const groups = Object.values(template.findResources('AWS::EC2::SecurityGroup')).map((g) => g.Properties);
    expect(groups.map((g) => [g.VpcId, g.SecurityGroupIngress])).toEqual([
      [
        VPC,
        [
          expect.objectContaining({
            IpProtocol: 'tcp',
            FromPort: 8008,
            ToPort: 8008,
            SourceSecurityGroupId: LB_GROUP,
          }),
        ],
      ],
      [
        VPC,
        [
          expect.objectContaining({
            IpProtocol: 'tcp',
            FromPort: 8008,
            ToPort: 8008,
            SourcePrefixListId: CHECKERS,
          }),
        ],
      ],
    ]);
    for (const group of groups) {
      expect(group.SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '255.255.255.255/32' })]);
    }
    const outputs = Object.values(template.findOutputs('*')).filter((o) =>
      String(o.Description).startsWith('Attach to every node'),
    );
    expect(outputs).toHaveLength(2);
  });

  it("admits an NLB's subnets by CIDR, IPv4 or IPv6, and creates no security group when the target asks for none", () => {
    const sourcesOf = (allowFrom?: string) => {
      const { template: t } = synthHealth([
        {
          type: 'elbv2-health',
          targetGroupArn: GROUP,
          healthPort: 8008,
          ...(allowFrom ? { securityGroup: { vpcId: VPC, allowFrom } } : {}),
        },
      ]);
      return Object.values(t.findResources('AWS::EC2::SecurityGroup')).map(
        (g) => g.Properties.SecurityGroupIngress,
      );
    };
    expect(sourcesOf('10.0.0.0/16')).toEqual([[expect.objectContaining({ CidrIp: '10.0.0.0/16' })]]);
    expect(sourcesOf('2001:db8::/56')).toEqual([[expect.objectContaining({ CidrIpv6: '2001:db8::/56' })]]);
    expect(sourcesOf()).toEqual([]);
  });

  it('lets the functions set the health check and register nodes in that target group only, never deregister', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes('HeartbeatRole'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const scoped = statements.find((s) => [s.Action].flat().includes('elasticloadbalancing:RegisterTargets'));
    expect(scoped).toMatchObject({
      Action: ['elasticloadbalancing:ModifyTargetGroup', 'elasticloadbalancing:RegisterTargets'],
      Resource: GROUP,
    });
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions).not.toContain('elasticloadbalancing:DeregisterTargets');
    // route53-health calls nothing at run time: the only Route 53 change allowed is the API-driven record's.
    const changes = statements.filter((s) => [s.Action].flat().includes('route53:ChangeResourceRecordSets'));
    expect(
      changes.map(
        (s) =>
          s.Condition['ForAllValues:StringEquals']['route53:ChangeResourceRecordSetsNormalizedRecordNames'],
      ),
    ).toEqual([['tools.example.com']]);
  });

  it('lints clean with cfn-lint when it is installed', (ctx) => {
    expectLintClean(ctx, template, 'health-template.json');
  });

  it('passes cdk-nag with the health-routed resources', () => {
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('fails cdk-nag when the health port is opened to the whole internet (the check sees these groups)', () => {
    const { app: open } = synthHealth([
      route53Health({ securityGroup: { vpcId: VPC, allowFrom: '0.0.0.0/0' } }),
    ]);
    const report = new AwsSolutionsChecks(open).validateScope(open);
    expect(report.violations.map((v) => v.ruleName)).toContain('AwsSolutions-EC23');
  });
});

describe('FailoverControlPlane in three Regions (multi-Region strong consistency)', () => {
  /** One stack per Region of `regions`, as infra/app.ts builds them. */
  function synthRegions(extra: Pick<ConfigInput, 'regions' | 'witnessRegion'>) {
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const config = parseConfig({ ...rawConfig, ...extra });
    const built = (config.regions ?? []).map((region) => {
      const stack = new Stack(app, `Failover-${region}`, { env: { account: '123456789012', region } });
      new FailoverControlPlane(stack, 'ControlPlane', { config, stateTableName: 'failover-state' });
      return { region, stack };
    });
    // Every stack exists before the first template is synthesized.
    return { app, stacks: built.map((b) => ({ ...b, template: Template.fromStack(b.stack) })) };
  }
  const three = synthRegions({ regions: ['us-east-1', 'us-east-2', 'us-west-2'] });

  it('creates one MRSC global table in the first Region, with the other two as replicas and no TTL', () => {
    const [first, ...others] = three.stacks;
    const tables = first?.template.findResources('AWS::DynamoDB::GlobalTable') ?? {};
    expect(Object.keys(tables)).toHaveLength(1);
    const table = Object.values(tables)[0]?.Properties as Record<string, unknown>;
    expect(table).toMatchObject({ TableName: 'failover-state', MultiRegionConsistency: 'STRONG' });
    expect((table.Replicas as Array<{ Region: string }>).map((r) => r.Region).sort()).toEqual([
      'us-east-1',
      'us-east-2',
      'us-west-2',
    ]);
    expect(table.TimeToLiveSpecification).toBeUndefined();
    for (const other of others) {
      expect(Object.keys(other.template.findResources('AWS::DynamoDB::GlobalTable'))).toEqual([]);
    }
  });

  it('runs a whole control plane in each Region, pointed at its local replica, with IAM on that replica only', () => {
    for (const { region, template } of three.stacks) {
      template.resourceCountIs('AWS::Lambda::Function', 3);
      template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
      template.resourceCountIs('AWS::Events::Rule', 1);
      const functions = Object.values(template.findResources('AWS::Lambda::Function'));
      for (const f of functions) {
        const env = (f.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment
          .Variables;
        if (region !== 'us-east-1') expect(env.FAILOVER_TABLE).toBe('failover-state');
      }
      const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      // The first Region's table is its own resource (its Arn is that Region's replica); the
      // others name their local replica.
      if (region === 'us-east-1') expect(policies).toMatch(/"Fn::GetAtt":\["ControlPlaneState\w+","Arn"\]/);
      else expect(policies).toContain(`:dynamodb:${region}:123456789012:table/failover-state`);
      for (const elsewhere of ['us-east-1', 'us-east-2', 'us-west-2'].filter((r) => r !== region)) {
        expect(policies, `${region} grants ${elsewhere}`).not.toContain(`:dynamodb:${elsewhere}:`);
      }
      // No TTL: the sweep deletes expired events, so it may query and batch-delete.
      expect(policies).toContain('dynamodb:BatchWriteItem');
    }
  });

  it('takes two replicas and a witness', () => {
    const { stacks } = synthRegions({ regions: ['eu-west-1', 'eu-central-1'], witnessRegion: 'eu-west-3' });
    expect(stacks.map((s) => s.region)).toEqual(['eu-west-1', 'eu-central-1']);
    const table = Object.values(stacks[0]?.template.findResources('AWS::DynamoDB::GlobalTable') ?? {})[0]
      ?.Properties as Record<string, unknown>;
    expect((table.Replicas as Array<{ Region: string }>).map((r) => r.Region).sort()).toEqual([
      'eu-central-1',
      'eu-west-1',
    ]);
    expect(JSON.stringify(table.GlobalTableWitnesses)).toContain('eu-west-3');
  });

  it('refuses a stack in a Region that is not in the list', () => {
    const app = new App({
      context: { 'aws:cdk:bundling-stacks': [] },
      outdir: mkdtempSync(join(work, 'out-')),
    });
    const stack = new Stack(app, 'Elsewhere', { env: { account: '123456789012', region: 'eu-west-1' } });
    const config = parseConfig({ ...rawConfig, regions: ['us-east-1', 'us-east-2', 'us-west-2'] });
    expect(() => new FailoverControlPlane(stack, 'ControlPlane', { config })).toThrow(
      /this stack's Region \(eu-west-1\) is not one of us-east-1, us-east-2, us-west-2/,
    );
  });

  it('passes cdk-nag AwsSolutions in every Region', () => {
    expect(nagFindings(three.app)).toEqual([]);
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

  it.each([
    [
      ['-c', 'ingress=rest'],
      "ingress: expected one of http-api, function-url, rest-api, private, got 'rest'",
    ],
    [
      ['-c', 'ingress=private'],
      "vpcEndpointIds: ingress 'private' needs the IDs of the execute-api VPC endpoints",
    ],
    [
      ['-c', 'ingress=rest-api', '-c', 'wafRateLimit=lots'],
      "wafRateLimit: expected a whole number of requests per 5 minutes, got 'lots'",
    ],
  ])(
    'stops with a clear message for a bad ingress option (%j)',
    (context, message) => {
      const result = spawnSync(
        'npx',
        [
          'cdk',
          'synth',
          '--quiet',
          '-c',
          'config=failover.config.example.json',
          ...context,
          '-o',
          join(work, 'ingress.out'),
        ],
        { env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' }, encoding: 'utf8', timeout: 120_000 },
      );
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(message);
    },
    120_000,
  );

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
