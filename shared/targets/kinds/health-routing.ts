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

/** Where health checks may come from: a security group, a prefix list or a CIDR block. */
const SOURCES = {
  securityGroup: /^sg-[0-9a-f]{8,17}$/,
  prefixList: /^pl-[0-9a-f]{8,17}$/,
  cidr: null,
} as const;
type Source = keyof typeof SOURCES;
const cidr = z.union([z.cidrv4(), z.cidrv6()]);
const isSource = (kind: Source, value: string) =>
  kind === 'cidr' ? cidr.safeParse(value).success : SOURCES[kind].test(value);

/** What a validated `allowFrom` is: the CDK stack writes a different ingress rule for each. */
export const sourceKind = (allowFrom: string): Source =>
  (Object.keys(SOURCES) as Source[]).find((kind) => isSource(kind, allowFrom)) ?? 'cidr';

/**
 * A security group the stack creates in `vpcId` for the nodes: it admits the health port
 * from `allowFrom` only, one of the `sources` kinds (attach it to every node; the traffic
 * port stays the operator's).
 */
export function nodeSecurityGroup(sources: readonly Source[], message: string) {
  const allowFrom = z
    .string({ error: message })
    .check(z.refine((value) => sources.some((kind) => isSource(kind, value)), message));
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
