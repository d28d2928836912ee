/**
 * IAM for the configured targets, scoped to the exact zones, records, target groups,
 * listeners and rules in the config.
 */
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Config } from '../shared/config.js';

export function targetPolicies(config: Config, partition: string): PolicyStatement[] {
  const targets = config.clusters.flatMap((c) => c.targets);
  const statements: PolicyStatement[] = [];

  const route53 = targets.filter((t) => t.type === 'route53');
  for (const zone of unique(route53.map((t) => t.hostedZoneId.replace(/^\/hostedzone\//, '')))) {
    const records = route53.filter((t) => t.hostedZoneId.endsWith(zone));
    const zoneArn = `arn:${partition}:route53:::hostedzone/${zone}`;
    statements.push(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [zoneArn],
        // Only UPSERTs of the configured names and types, not any record in the zone.
        conditions: {
          'ForAllValues:StringEquals': {
            'route53:ChangeResourceRecordSetsNormalizedRecordNames': unique(
              records.map((t) => t.recordName.toLowerCase().replace(/\.$/, '')),
            ),
            'route53:ChangeResourceRecordSetsRecordTypes': unique(records.map((t) => t.recordType)),
            'route53:ChangeResourceRecordSetsActions': ['UPSERT'],
          },
        },
      }),
      new PolicyStatement({ actions: ['route53:ListResourceRecordSets'], resources: [zoneArn] }),
    );
  }
  if (route53.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: ['route53:GetChange'],
        resources: [`arn:${partition}:route53:::change/*`],
      }),
    );
  }

  const groups = unique(targets.flatMap((t) => (t.type === 'elbv2-targets' ? [t.targetGroupArn] : [])));
  if (groups.length > 0) {
    statements.push(
      new PolicyStatement({
        actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        resources: groups,
      }),
    );
  }
  const listeners = unique(
    targets.flatMap((t) => (t.type === 'elbv2-weights' && t.listenerArn ? [t.listenerArn] : [])),
  );
  if (listeners.length > 0) {
    statements.push(
      new PolicyStatement({ actions: ['elasticloadbalancing:ModifyListener'], resources: listeners }),
    );
  }
  const rules = unique(targets.flatMap((t) => (t.type === 'elbv2-weights' && t.ruleArn ? [t.ruleArn] : [])));
  if (rules.length > 0) {
    statements.push(new PolicyStatement({ actions: ['elasticloadbalancing:ModifyRule'], resources: rules }));
  }
  // ELBv2 Describe* actions offer no resource-level permissions: AWS only accepts "*" here.
  const describe = [
    ...(groups.length > 0 ? ['elasticloadbalancing:DescribeTargetHealth'] : []),
    ...(listeners.length > 0 ? ['elasticloadbalancing:DescribeListeners'] : []),
    ...(rules.length > 0 ? ['elasticloadbalancing:DescribeRules'] : []),
  ];
  if (describe.length > 0) statements.push(new PolicyStatement({ actions: describe, resources: ['*'] }));
  return statements;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
