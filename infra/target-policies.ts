/**
 * IAM for the configured targets: each kind's statements (plain data from the target
 * registry, scoped to the exact zones, records, target groups, listeners, rules and secrets
 * in the config) as iam.PolicyStatements, and a cdk-nag acknowledgement for each wildcard
 * resource, with the kind's reason.
 */
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Config } from '../shared/config.js';
import type { IamScope } from '../shared/targets/kind.js';
import { TARGET_KINDS } from '../shared/targets/registry.js';

export interface TargetPolicies {
  statements: PolicyStatement[];
  /** One per cdk-nag IAM5 finding the statements raise. */
  acknowledgements: Array<{ id: string; reason: string }>;
}

export function targetPolicies(config: Config, scope: IamScope): TargetPolicies {
  const targets = config.clusters.flatMap((c) => c.targets);
  const statements = TARGET_KINDS.flatMap((kind) => {
    const ofKind = targets.filter((t) => t.type === kind.type);
    return ofKind.length > 0 ? kind.iam(ofKind, scope) : [];
  });
  // cdk-nag names a finding after the resource, with the partition token written as below.
  const reasons = new Map<string, string[]>();
  for (const { resources, wildcardReason } of statements) {
    for (const resource of resources.filter((r) => r.includes('*') && wildcardReason !== undefined)) {
      const id = `AwsSolutions-IAM5[Resource::${resource.replace(scope.partition, '<AWS::Partition>')}]`;
      reasons.set(id, [...new Set([...(reasons.get(id) ?? []), wildcardReason as string])]);
    }
  }
  return {
    statements: statements.map(
      ({ actions, resources, conditions }) => new PolicyStatement({ actions, resources, conditions }),
    ),
    acknowledgements: [...reasons].map(([id, why]) => ({ id, reason: why.join(' ') })),
  };
}
