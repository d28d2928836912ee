/**
 * Field schemas shared by the ELBv2 kinds: ARNs (a target group is a target field of some, a
 * node field of another) and the id a node is registered under.
 */
import * as z from 'zod/mini';
import { arn } from '../../config-fields.js';

const ELB_ARN = 'arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\\d{12}:';
export const targetGroupArn = arn('a target group', new RegExp(`^${ELB_ARN}targetgroup/[\\w-]+/[0-9a-f]+$`));
export const listenerArn = arn(
  'a listener',
  new RegExp(`^${ELB_ARN}listener/(app|net|gwy)/[\\w-]+/[0-9a-f]+/[0-9a-f]+$`),
);
export const ruleArn = arn(
  'a listener rule',
  new RegExp(`^${ELB_ARN}listener-rule/(app|net)/[\\w-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$`),
);

/** The instance id or IP a node is registered as in a target group (one schema for every kind that asks). */
export const targetId = z.string({ error: 'must be a string' }).check(z.minLength(1), z.maxLength(255));

export const DESCRIBE_REASON =
  'ELBv2 Describe* actions offer no resource-level permissions (AWS only accepts "*"); every ELBv2 action ' +
  'that changes a target is scoped to its ARN.';
