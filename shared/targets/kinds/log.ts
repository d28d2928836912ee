import { type TargetKind, targetSchema } from '../kind.js';
import { LogTarget } from '../log.js';

const schema = targetSchema('log', {});

export const log = {
  type: 'log',
  schema,
  build: (target, { logger }) => new LogTarget(target.id, logger),
  iam: () => [],
} satisfies TargetKind<typeof schema>;
