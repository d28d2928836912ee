/**
 * Lambda behind the node routes (heartbeat, release, the node's own role). Authenticated by
 * node token in the handler.
 */

import { AuthError } from '../shared/errors.js';
import { createApiHandler } from '../shared/http/api.js';
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
