/**
 * What the two health-routed kinds (`elbv2-health`, `route53-health`) share: the agent's
 * health port and the path their checks ask, the optional security group the CDK stack
 * makes for the nodes' health port, and the rule that keeps them out of active-active mode.
 */
import * as z from 'zod/mini';
import { int, type Mode } from '../../config-fields.js';
import type { ConfigIssue } from '../kind.js';

/** Answers 200 only on the node that holds the role with an unexpired lease (cli/agent/health-server.ts). */
export const ACTIVE_PATH = '/active';

/** The port of the agents' `--health-listen`. */
export const healthPort = int(1, 65_535);

const vpcId = z
  .string({ error: 'must be a VPC id' })
  .check(z.regex(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC id such as vpc-0123456789abcdef0'));

export const securityGroupId = z
  .string({ error: 'must be a security group id' })
  .check(z.regex(/^sg-[0-9a-f]{8,17}$/, 'must be a security group id such as sg-0123456789abcdef0'));

export const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: 'must be an IPv4 or IPv6 CIDR block' });

/**
 * A security group the stack creates in `vpcId` for the nodes: it admits the health port
 * from `allowFrom` only (attach it to every node; the traffic port stays the operator's).
 */
export function nodeSecurityGroup<S extends z.ZodMiniType<string>>(allowFrom: S) {
  return z.optional(z.strictObject({ vpcId, allowFrom }));
}

/**
 * `/active` answers 200 on the leader alone, while active-active mode sends traffic to every
 * serving node: a health-routed target there would starve all but one.
 */
export function refuseActiveActive(type: string, t: number, mode: Mode, issue: ConfigIssue): void {
  if (mode === 'active-active') {
    issue(
      ['mode'],
      `targets[${t}] (${type}) routes to the one node whose ${ACTIVE_PATH} answers 200: use active-passive mode, or API-driven targets`,
    );
  }
}
