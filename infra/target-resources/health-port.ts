import { CfnOutput } from 'aws-cdk-lib';
import { CfnSecurityGroup } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { ClusterConfig } from '../../shared/config.js';
import { ACTIVE_PATH, sourceKind } from '../../shared/targets/kinds/health-routing.js';

/**
 * The security group of a health-routed target's `securityGroup`: it admits TCP to the
 * agents' health port from `allowFrom` alone, and allows no egress (attached beside the
 * nodes' own groups, it adds this one rule and nothing else). Its id is an output: attach it
 * to every node of the cluster.
 */
export function healthPortSecurityGroup(
  scope: Construct,
  cluster: ClusterConfig,
  target: {
    id: string;
    healthPort: number;
    securityGroup?: { vpcId: string; allowFrom: string } | undefined;
  },
  checkers: string,
): void {
  if (target.securityGroup === undefined) return;
  const { vpcId, allowFrom } = target.securityGroup;
  const port = { ipProtocol: 'tcp', fromPort: target.healthPort, toPort: target.healthPort };
  // Security group texts admit no apostrophe.
  const description = `${checkers} to the agent health port (GET ${ACTIVE_PATH})`;
  const source = {
    securityGroup: { sourceSecurityGroupId: allowFrom },
    prefixList: { sourcePrefixListId: allowFrom },
    cidr: allowFrom.includes(':') ? { cidrIpv6: allowFrom } : { cidrIp: allowFrom },
  }[sourceKind(allowFrom)];
  const group = new CfnSecurityGroup(scope, 'HealthPortSecurityGroup', {
    vpcId,
    groupDescription: `failover ${cluster.id}/${target.id}: ${description}`,
    securityGroupIngress: [{ ...port, ...source, description }],
    // What CDK writes for allowAllOutbound: false: a rule that matches nothing, so that
    // CloudFormation does not add its allow-all default.
    securityGroupEgress: [
      {
        ipProtocol: 'icmp',
        fromPort: 252,
        toPort: 86,
        cidrIp: '255.255.255.255/32',
        description: 'Disallow all traffic',
      },
    ],
  });
  new CfnOutput(scope, 'HealthPortSecurityGroupId', {
    value: group.attrGroupId,
    description: `Attach to every node of cluster ${cluster.id}: admits ${description} (${target.id})`,
  });
}
