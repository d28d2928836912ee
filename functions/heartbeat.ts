/**
 * Lambda behind the node routes (heartbeat, release, the node's own role). Authenticated by
 * node token in the handler. Serves every ingress: payload 2.0 (HTTP API, Function URL) and
 * 1.0 (REST API) events alike (event-v1.ts).
 */
import { AuthError } from '../shared/errors.js';
import { createApiHandler } from '../shared/http/api.js';
import { servingEveryIngress } from './event-v1.js';
import { createRuntime } from './runtime.js';

const { controlPlane, logger, metrics } = createRuntime();

const handle = createApiHandler({
  controlPlane,
  logger,
  groups: ['node'],
  authorizeAdmin: () => {
    throw new AuthError('admin routes are not served by this function');
  },
});

/** Each heartbeat counted by its answer (accepted or rejected, per cluster). */
export const handler = servingEveryIngress(async (event) => {
  const result = await handle(event);
  metrics.answered(event, result);
  return result;
});
