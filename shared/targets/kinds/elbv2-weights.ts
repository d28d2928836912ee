import * as z from 'zod/mini';
import type { IamStatement, TargetKind } from '../kind.js';
import { targetSchema } from '../kind.js';
import { lazyTarget } from '../lazy.js';
import { DESCRIBE_REASON, listenerArn, ruleArn, targetGroupArn } from './elbv2-arns.js';

const schema = targetSchema('elbv2-weights', {
  listenerArn: z.optional(listenerArn),
  ruleArn: z.optional(ruleArn),
}).check(
  z.refine((t) => (t.listenerArn === undefined) !== (t.ruleArn === undefined), {
    message: 'give exactly one of listenerArn or ruleArn',
    path: ['listenerArn'],
  }),
);

const nodeFields = {
  /** This node's own target group behind the listener or rule. */
  targetGroupArn,
};

/**
 * Weighs the forward action of a listener or rule: 1 for the active's own target group, 0
 * for the other nodes' (an instant switch, with no registration delay).
 */
export const elbv2Weights = {
  type: 'elbv2-weights',
  schema,
  nodeFields,
  check(_target, t, cluster, issue) {
    cluster.nodes.forEach((node, n) => {
      const first = cluster.nodes.findIndex((o) => o.targetGroupArn === node.targetGroupArn);
      if (node.targetGroupArn !== undefined && first < n) {
        issue(
          ['nodes', n, 'targetGroupArn'],
          `must differ from the other nodes' (each node needs its own group for targets[${t}] (elbv2-weights))`,
        );
      }
    });
  },
  build: (target, { aws, nodes }) =>
    lazyTarget(target.id, 'elbv2-weights', async () => {
      const [{ Elbv2WeightsTarget }, clients] = await Promise.all([import('../elbv2.js'), aws()]);
      return new Elbv2WeightsTarget(target.id, clients.elbv2(), target, nodes);
    }),
  iam(targets) {
    const listeners = [...new Set(targets.flatMap((t) => (t.listenerArn ? [t.listenerArn] : [])))];
    const rules = [...new Set(targets.flatMap((t) => (t.ruleArn ? [t.ruleArn] : [])))];
    const statements: IamStatement[] = [];
    if (listeners.length > 0) {
      statements.push({ actions: ['elasticloadbalancing:ModifyListener'], resources: listeners });
    }
    if (rules.length > 0) statements.push({ actions: ['elasticloadbalancing:ModifyRule'], resources: rules });
    statements.push({
      actions: [
        ...(listeners.length > 0 ? ['elasticloadbalancing:DescribeListeners'] : []),
        ...(rules.length > 0 ? ['elasticloadbalancing:DescribeRules'] : []),
      ],
      resources: ['*'],
      wildcardReason: DESCRIBE_REASON,
    });
    return statements;
  },
} satisfies TargetKind<typeof schema, typeof nodeFields>;
