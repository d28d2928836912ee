/** Lambda behind the node routes (heartbeat). Authenticated by node token in the handler. */
import { createApiHandler } from '../shared/api.js';
import { AuthError } from '../shared/errors.js';
import { createRuntime } from './runtime.js';

const { controlPlane, logger } = createRuntime();

export const handler = createApiHandler({
  controlPlane,
  logger,
  groups: ['node'],
  authorizeAdmin: () => {
    throw new AuthError('admin routes are not served by this function');
  },
});
