/** Lambda run by the EventBridge schedule: the safety net behind the inline heartbeat path. */
import { createRuntime } from './runtime.js';

const { controlPlane, logger, metrics } = createRuntime();

export async function handler(): Promise<void> {
  const started = Date.now();
  const report = await controlPlane.sweep();
  const durationMs = Date.now() - started;
  logger.info('sweep finished', { ...report, durationMs });
  metrics.sweep(durationMs, report.errors);
  // A failed cluster is already logged; failing the invocation makes it visible to alarms.
  if (report.errors > 0) throw new Error(`sweep failed for ${report.errors} of ${report.clusters} clusters`);
}
