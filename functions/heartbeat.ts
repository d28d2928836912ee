/**
 * Lambda behind the node routes (heartbeat, release, the node's own role). Authenticated by
 * node token in the handler.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AuthError } from '../shared/errors.js';
import { createApiHandler } from '../shared/http/api.js';
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
export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const result = await handle(event);
  metrics.answered(event, result);
  return result;
}
