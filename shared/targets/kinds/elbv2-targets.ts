import * as z from 'zod/mini';
import { int } from '../../config-fields.js';
import { type TargetKind, targetSchema } from '../kind.js';
import { lazyTarget } from '../lazy.js';
import { DESCRIBE_REASON, targetGroupArn, targetId } from './elbv2-arns.js';

const schema = targetSchema('elbv2-targets', { targetGroupArn, port: z.optional(int(1, 65_535)) });
const nodeFields = {
  /** The instance id or IP this node is registered as in the target group. */
  targetId,
};

/** Registers the active (every serving node in active-active mode) in one target group, deregisters the others. */
export const elbv2Targets = {
  type: 'elbv2-targets',
  schema,
  nodeFields,
  build: (target, { aws, nodes }) =>
    lazyTarget(target.id, 'elbv2-targets', async () => {
      const [{ Elbv2TargetsTarget }, clients] = await Promise.all([import('../elbv2.js'), aws()]);
      return new Elbv2TargetsTarget(target.id, clients.elbv2(), target, nodes);
    }),
  iam: (targets) => [
    {
      actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
      resources: [...new Set(targets.map((t) => t.targetGroupArn))],
    },
    {
      actions: ['elasticloadbalancing:DescribeTargetHealth'],
      resources: ['*'],
      wildcardReason: DESCRIBE_REASON,
    },
  ],
} satisfies TargetKind<typeof schema, typeof nodeFields>;
