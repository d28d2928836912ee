/** ARN schemas of the two ELBv2 kinds (a target group is a target field of one, a node field of the other). */
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

export const DESCRIBE_REASON =
  'ELBv2 Describe* actions offer no resource-level permissions (AWS only accepts "*"); every ELBv2 action ' +
  'that changes a target is scoped to its ARN.';
